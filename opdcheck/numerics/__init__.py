"""Exact references: saddle points (dual Newton; cvxpy primal), Slater margin, KKT residuals, log-space helpers.

Only this subpackage talks to solvers. Importing it does not import cvxpy; the cvxpy route is
loaded on first use so that ``opdcheck.kernels`` (which uses the log-space helpers and
``best_response``) stays solver-free.
"""
from opdcheck.numerics.dual import (
    best_response,
    dual_gradient,
    dual_hessian,
    dual_oracle,
    dual_value,
    kkt_residuals,
    log_best_response,
    primal_objective,
    solve_dual_newton,
)
from opdcheck.logspace import expected_kl, kl_rows, log_softmax_rows, logsumexp_rows, softmax_rows
from opdcheck.numerics.saddle import cross_check, solve_saddle
from opdcheck.numerics.types import PolishError, SaddlePoint, SolverError

# names served lazily (their modules import scipy.optimize or cvxpy)
_LAZY = {
    "solve_primal_cvxpy": "opdcheck.numerics.primal_cvxpy",
    "solve_best_response_cvxpy": "opdcheck.numerics.primal_cvxpy",
    "polish_kkt": "opdcheck.numerics.kkt_polish",
    "solve_lp": "opdcheck.numerics.lp",
    "slater_margin": "opdcheck.numerics.lp",
    "slater_point": "opdcheck.numerics.lp",
    "require_slater": "opdcheck.numerics.lp",
}

__all__ = [
    "SaddlePoint", "SolverError", "PolishError", "expected_kl", "kl_rows", "log_softmax_rows", "logsumexp_rows", "softmax_rows",
    "best_response", "log_best_response", "dual_value", "dual_gradient", "dual_hessian", "dual_oracle",
    "kkt_residuals", "primal_objective", "solve_dual_newton", "solve_saddle", "cross_check", *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'opdcheck.numerics' has no attribute {name!r}")
