"""opdcheck: check, claim by claim, the theory of arXiv 2602.22146.

Li, Ju, Shroff, *Provable Last-Iterate Convergence for Multi-Objective Safe LLM
Alignment via Optimistic Primal-Dual* (2026).

Layout (dependencies point one way)::

    paper_checks -> kernels, numerics, theory -> problem

The Numba kernels' disk cache (a per-user folder keyed on every kernel source; ``OPDCHECK_NUMBA_CACHE=0``
turns it off, a path moves it) is decided in ``opdcheck.kernels.numba_cache`` when a kernel is first imported.
"""
from __future__ import annotations

from opdcheck.problem import Problem

__all__ = ["Problem"]
__version__ = "0.1.0"
