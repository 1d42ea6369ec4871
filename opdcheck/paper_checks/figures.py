"""Figure helpers for check modules (matplotlib, Agg backend, deterministic output)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["save_figure", "save_semilogy", "plt"]


def save_figure(fig, path: Path) -> None:
    """Lay out, save and close a figure; no software/date metadata, so the same run gives the same bytes."""
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def save_semilogy(path: Path, series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                  title: str, xlabel: str = "t", ylabel: str = "error",
                  styles: Mapping[str, str] | None = None) -> None:
    """Plot each ``label -> (x, y)`` on a log y-axis and save a PNG.

    Non-positive values are dropped from a log plot (not clipped), so a curve that hits zero
    exactly simply ends. Put the measured error and the stated bound on the same axes.
    """
    styles = dict(styles or {})
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, (x, y) in series.items():
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        keep = np.isfinite(y) & (y > 0)
        ax.semilogy(x[keep], y[keep], styles.get(label, "-"), label=label, lw=1.4)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
