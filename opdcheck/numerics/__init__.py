"""Exact references: saddle points (dual Newton; cvxpy primal), Slater margin, KKT residuals, log-space helpers.

Only this subpackage talks to solvers. Importing it does not import cvxpy; the cvxpy route is
loaded on first use so that ``opdcheck.kernels`` (which uses the log-space helpers) stays solver-free.
"""
from opdcheck.numerics.logspace import expected_kl, kl_rows, log_softmax_rows, logsumexp_rows, softmax_rows
from opdcheck.numerics.types import SaddlePoint, SolverError

__all__ = [
    "SaddlePoint", "SolverError", "expected_kl", "kl_rows", "log_softmax_rows", "logsumexp_rows", "softmax_rows",
]
