"""The KL-prox subproblem of eqs. (4)/(6), solved by cvxpy + Clarabel (exponential cone).

Problem::

    max_pi  L(pi, lam) - eta_th E_{x~rho} KL(pi[x] || pi_hat[x])
          = sum_x rho[x] ( <pi[x], S_lam[x]> - beta KL(pi[x]||pi_ref[x]) - eta_th KL(pi[x]||pi_hat[x]) )

over row-stochastic ``pi``. With ``KL(p||q) = -entr(p) - <p, log q>`` the objective is
``sum_x rho[x] (<pi[x], S + beta log pi_ref + eta log pi_hat> + (beta + eta) entr(pi[x]))``: a linear
term plus a concave entropy, which Clarabel handles through the exponential cone. This is the
independent reference the ``opd-closed-form`` check compares the derived and the printed closed
forms against.
"""
from __future__ import annotations

import numpy as np

from opdcheck.numerics.cvxpy_import import import_cvxpy
from opdcheck.numerics.types import SolverError
from opdcheck.problem import Problem
from opdcheck.tolerances import PROX_CLARABEL_TOL

__all__ = ["solve_prox_cvxpy"]


def solve_prox_cvxpy(problem: Problem, log_pi_hat: np.ndarray, lam: np.ndarray, eta_th: float) -> np.ndarray:
    """Solve ``max_pi L(pi, lam) - eta_th E_rho KL(pi || pi_hat)`` with cvxpy/Clarabel; returns pi (X, n).

    Raises :class:`SolverError` unless the solver status is ``optimal`` (``optimal_inaccurate`` is
    refused). ``eta_th + beta`` must be > 0 (otherwise the problem is a linear program with a
    possibly non-unique maximiser).
    """
    cp = import_cvxpy()

    log_pi_hat = np.asarray(log_pi_hat, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    if log_pi_hat.shape != problem.pi_ref.shape:
        raise ValueError(f"solve_prox_cvxpy: log_pi_hat has shape {log_pi_hat.shape}, expected {problem.pi_ref.shape}; "
                         "pass the log of a full-support policy of the problem's shape (X, n).")
    if not np.all(np.isfinite(log_pi_hat)):
        raise ValueError("solve_prox_cvxpy: log_pi_hat has a non-finite entry; pi_hat must have full support "
                         "(the KL term is infinite off its support).")
    if lam.shape != (problem.h,):
        raise ValueError(f"solve_prox_cvxpy: lam has shape {lam.shape}; pass one multiplier per constraint ({problem.h},).")
    if not np.isfinite(eta_th) or eta_th < 0:
        raise ValueError(f"solve_prox_cvxpy: eta_th = {eta_th!r}; pass a finite float >= 0.")
    tau = float(eta_th) + problem.beta
    if tau <= 0:
        raise ValueError(f"solve_prox_cvxpy: eta_th + beta = {tau!r}; need > 0 for a strictly concave prox problem.")

    # normalise log_pi_hat rows so that the linear coefficients are those of a probability vector
    lse = np.log(np.exp(log_pi_hat - log_pi_hat.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
    log_hat = log_pi_hat - log_pi_hat.max(axis=1, keepdims=True) - lse
    lin = problem.scores(lam) + problem.beta * problem.log_pi_ref + eta_th * log_hat   # (X, n)

    X, n = problem.X, problem.n
    pi = cp.Variable((X, n), nonneg=True)
    # divide by tau * max(rho): same maximiser, objective coefficients of order one (better conditioned)
    w = problem.rho[:, None] / problem.rho.max()
    obj = cp.sum(cp.multiply(w * (lin / tau), pi)) + cp.sum(cp.multiply(w * np.ones((X, n)), cp.entr(pi)))
    prob = cp.Problem(cp.Maximize(obj), [cp.sum(pi, axis=1) == 1])
    try:
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=PROX_CLARABEL_TOL, tol_gap_rel=PROX_CLARABEL_TOL,
                       tol_feas=PROX_CLARABEL_TOL, max_iter=300)
    except cp.error.SolverError as exc:
        raise SolverError(f"solve_prox_cvxpy: Clarabel failed on {problem.name!r} ({exc}).") from None
    if prob.status != cp.OPTIMAL or pi.value is None:
        raise SolverError(f"solve_prox_cvxpy: status {prob.status!r} (need 'optimal') on {problem.name!r}, "
                          f"eta_th={eta_th}, beta={problem.beta}.")
    out = np.maximum(np.asarray(pi.value, dtype=np.float64), 0.0)
    return out / out.sum(axis=1, keepdims=True)
