"""opdcheck: check, claim by claim, the theory of arXiv 2602.22146.

Li, Ju, Shroff, *Provable Last-Iterate Convergence for Multi-Objective Safe LLM
Alignment via Optimistic Primal-Dual* (2026).

Layout (dependencies point one way)::

    paper_checks -> kernels, numerics, theory -> problem

"""
from opdcheck.problem import Problem

__all__ = ["Problem"]
__version__ = "0.1.0"
