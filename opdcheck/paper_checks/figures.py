"""Figure helpers for check modules: matplotlib's object-oriented API, deterministic PNGs.

No process-wide effect: importing this module neither imports pyplot nor selects a backend. ``plt``
here is a small stand-in offering the two pyplot calls the checks use (``subplots``, ``close``); its
figures are plain :class:`matplotlib.figure.Figure` objects that render with the Agg canvas whatever
backend the user's process has chosen. Figures use the constrained layout (titles and labels are
not clipped), and :func:`save_figure` refuses a plot with nothing drawn on it.

Example:
    >>> import tempfile, pathlib
    >>> fig, ax = plt.subplots(figsize=(3, 2))
    >>> _ = ax.plot([0, 1], [1, 2])
    >>> save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "x.png")
    >>> fig, ax = plt.subplots()
    >>> try:
    ...     save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "empty.png")
    ... except EmptyFigureError as exc:
    ...     print(str(exc)[:39])
    refusing to save empty.png: no axes has
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["save_figure", "save_semilogy", "plt", "EmptyFigureError", "has_data"]


class EmptyFigureError(ValueError):
    """A figure with no data on any of its axes (e.g. every value of a log plot was <= 0)."""


class _Plots:
    """``subplots`` and ``close`` without pyplot: a Figure with the constrained layout and its own canvas."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, dpi=None, layout: str = "constrained", **kw):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
        return fig, fig.subplots(nrows, ncols, **kw)

    @staticmethod
    def close(fig) -> None:  # nothing global to release: the figure is garbage-collected
        fig.clear()


plt = _Plots()


def has_data(ax) -> bool:
    """Whether an axes shows anything: a line with a finite point, a collection, an image, a patch or a table."""
    for line in ax.get_lines():
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        if x.size and y.size and np.any(np.isfinite(x) & np.isfinite(y)):
            return True
    return bool(ax.collections or ax.images or ax.patches or ax.tables)


def save_figure(fig, path: Path) -> None:
    """Save a figure (no software/date metadata, so the same run gives the same bytes) and release it.
    Raises :class:`EmptyFigureError` when no axes has data: an empty plot is never written."""
    path = Path(path)
    axes = [ax for ax in fig.get_axes() if ax.get_label() != "<colorbar>"]
    if not any(has_data(ax) for ax in axes):
        fig.clear()
        raise EmptyFigureError(f"refusing to save {path.name}: no axes has data (empty plot); "
                               "plot something visible or do not save this figure.")
    if fig.get_layout_engine() is None:  # a figure made elsewhere: lay it out so nothing is clipped
        try:
            fig.set_layout_engine("constrained")
        except RuntimeError:
            pass
    fig.savefig(path, metadata={"Software": None})
    fig.clear()


def save_semilogy(path: Path, series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                  title: str, xlabel: str = "$t$", ylabel: str = "error",
                  styles: Mapping[str, str] | None = None) -> None:
    """Plot each ``label -> (x, y)`` on a log y-axis and save a PNG.

    Non-positive values are dropped from a log plot (not clipped), so a curve that hits zero
    exactly simply ends; when nothing is left, :class:`EmptyFigureError`. Put the measured error and
    the stated bound on the same axes; label the y-axis with what both curves are (e.g. a quantity
    and its bound share the quantity's units).
    """
    styles = dict(styles or {})
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, (x, y) in series.items():
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        keep = np.isfinite(y) & (y > 0)
        if keep.any():
            ax.semilogy(x[keep], y[keep], styles.get(label, "-"), label=label, lw=1.4)
    ax.set_title(title, fontsize=10, wrap="$" not in title)  # wrapping would split a formula
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize=8, loc="best")
    save_figure(fig, path)
