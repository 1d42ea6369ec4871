"""Text for tables: numbers shown to 4 significant digits, verdict counts, the paper's reference.
Shared by ``report.md`` and ``report.html`` (display only: ``results.json`` keeps the numbers)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["PAPER", "display", "tally"]

PAPER = ("Yining Li, Peizhong Ju, Ness Shroff. Provable Last-Iterate Convergence for Multi-Objective Safe "
         "LLM Alignment via Optimistic Primal-Dual. arXiv 2602.22146v1, 25 Feb 2026.")


def _fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f == 0:
            return "0"
        if np.isfinite(f) and (1e-3 <= abs(f) < 1e5):
            return f"{f:.{digits}g}"
        return f"{f:.{digits - 1}e}"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple, np.ndarray)):
        arr = list(np.asarray(v, dtype=object).ravel()) if not isinstance(v, (list, tuple)) else list(v)
        if len(arr) > 8:
            return "[" + ", ".join(_fmt(x, digits) for x in arr[:8]) + f", … ({len(arr)} values)]"
        return "[" + ", ".join(_fmt(x, digits) for x in arr) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x, digits)}" for k, x in v.items())
    return str(v)



def display(v: Any) -> str:
    """A value as text for a table cell (numbers to 4 significant digits; lists shortened); never
    used for ``results.json``, which keeps the numbers."""
    return _fmt(v)


def tally(verdicts: Sequence[str], crashed: int = 0) -> str:
    """``"3 REFUTED, 2 CONFIRMED, ..."``: counts by verdict, strongest first."""
    order = ("REFUTED", "INCONSISTENT", "INCONCLUSIVE", "CONFIRMED")
    counts = {v: 0 for v in order}
    for v in verdicts:
        counts[str(v)] = counts.get(str(v), 0) + 1
    text = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    if crashed:
        text += (", " if text else "") + f"{crashed} CRASHED"
    return text or "no check finished"
