"""The closed-form best response of eq. (3) and the KKT residuals of a candidate saddle point.

For ``beta > 0`` the inner maximisation of the Lagrangian has the closed form (paper eq. (3),
Lemma B.7)::

    pi_lam[x, y] = pi_ref[x, y] exp(S_lam[x, y] / beta) / Z_x(lam),     S_lam = r + sum_j lam_j R_hard[j]

Shared by the dual Newton solver (``numerics/dual.py``) and the linear program at beta = 0
(``numerics/lp.py``), which is why it stands apart from both.

Example
-------
>>> from opdcheck.instances import paper_toy
>>> best_response(paper_toy(), [1.0]).round(12).tolist()
[[0.3, 0.7]]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from opdcheck.logspace import kl_rows, logsumexp_rows

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = ["check_point", "log_best_response", "best_response", "primal_objective", "kkt_residuals",
           "scaled_residuals", "require_own_certificate"]


def _check_lam(problem: "Problem", lam, name: str = "lam") -> np.ndarray:
    lam = np.asarray(lam, dtype=np.float64).reshape(-1) if np.ndim(lam) <= 1 else np.asarray(lam, float)
    if lam.shape != (problem.h,):
        raise ValueError(f"{name}: shape {lam.shape}, expected ({problem.h},) (one multiplier per hard objective).")
    if not np.all(np.isfinite(lam)):
        raise ValueError(f"{name}: non-finite entries {lam.tolist()}; pass finite multipliers.")
    return lam


def check_point(problem: "Problem", pi, lam, names: tuple[str, str] = ("pi", "lam")) -> tuple[np.ndarray, np.ndarray]:
    """``(pi, lam)`` as float64 arrays of shapes (X, n) and (h,), finite; errors name the argument."""
    pi = np.asarray(pi, dtype=np.float64)
    if pi.shape != (problem.X, problem.n):
        raise ValueError(f"{names[0]}: shape {pi.shape}, expected ({problem.X}, {problem.n}).")
    if not np.all(np.isfinite(pi)):
        raise ValueError(f"{names[0]}: non-finite entries; pass a finite policy table.")
    return pi, _check_lam(problem, lam, names[1])


def _require_beta(problem: "Problem", what: str) -> float:
    if problem.beta <= 0:
        raise ValueError(
            f"{what}: beta = {problem.beta!r}; the closed form (3) pi_lam ∝ pi_ref exp(S_lam / beta) needs "
            "beta > 0. At beta = 0 the problem is a linear program: use opdcheck.numerics.lp.solve_lp "
            "(or solve_saddle(problem, method='lp'))."
        )
    return float(problem.beta)


def log_best_response(problem: "Problem", lam) -> np.ndarray:
    """``log pi_lam`` of eq. (3), shape (X, n): ``log_softmax(log pi_ref + S_lam / beta)`` row-wise.

    Raises ValueError at ``beta = 0`` (the argmax is then a vertex, possibly not unique: use the LP route).
    """
    beta = _require_beta(problem, "log_best_response")
    lam = _check_lam(problem, lam)
    z = problem.log_pi_ref + problem.scores(lam) / beta
    return z - logsumexp_rows(z)[:, None]


def best_response(problem: "Problem", lam) -> np.ndarray:
    """``pi_lam[x, y] ∝ pi_ref[x, y] exp(S_lam[x, y] / beta)`` (paper eq. (3), Lemma B.7), shape (X, n)."""
    return np.exp(log_best_response(problem, lam))


def primal_objective(problem: "Problem", pi: np.ndarray) -> float:
    """``E_rho[<pi, r>] - beta E_rho KL(pi || pi_ref)`` (the paper's objective (1))."""
    lin = float(np.einsum("x,xn,xn->", problem.rho, pi, problem.r))
    if problem.beta == 0:
        return lin
    return lin - float(problem.beta) * float(np.dot(problem.rho, kl_rows(pi, problem.pi_ref)))


def kkt_residuals(problem: "Problem", pi: np.ndarray, lam) -> dict:
    """KKT residuals of a candidate saddle point ``(pi, lam)``; all are 0 at the exact saddle point.

    - ``stationarity``: ``||pi - pi_lam||_inf`` for ``beta > 0``; at ``beta = 0`` (no closed form) the
      largest reduced-cost gap ``max_x (max_y S_lam[x, y] - <pi[x], S_lam[x]>)`` (pi must put its
      mass on the argmax of ``S_lam``).
    - ``primal_feasibility``: ``max_j max(0, -c_j(pi))``.
    - ``dual_feasibility``: ``max_j max(0, -lam_j)``.
    - ``complementarity``: ``max_j |lam_j c_j(pi)|``.
    - ``simplex``: ``max(|sum_y pi[x, y] - 1|, max(0, -pi[x, y]))`` (is pi a policy at all).
    """
    pi, lam = check_point(problem, pi, lam)
    c = problem.constraint_values(pi)
    if problem.beta > 0:
        stat = float(np.max(np.abs(pi - best_response(problem, np.maximum(lam, 0.0)))))
    else:
        S = problem.scores(lam)
        stat = float(np.max(S.max(axis=1) - np.einsum("xn,xn->x", pi, S)))
    return {
        "stationarity": stat,
        "primal_feasibility": float(np.max(np.maximum(0.0, -c))),
        "dual_feasibility": float(np.max(np.maximum(0.0, -lam))),
        "complementarity": float(np.max(np.abs(lam * c))),
        "simplex": float(max(np.max(np.abs(pi.sum(axis=1) - 1.0)), np.max(np.maximum(0.0, -pi)))),
    }


def scaled_residuals(problem: "Problem", pi, lam) -> dict:
    """The KKT residuals a saddle point must pass to be called solved, at the problem's own scale:
    ``primal_feasibility`` (``max_j max(0, -c_j) / max|R_hard[j]|``), ``complementarity``
    (``max_j lam_j |c_j| / R_max``) and ``simplex``; non-finite values count as infinite."""
    pi, lam = check_point(problem, pi, lam)
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.abs(problem.R_hard).reshape(problem.h, -1).max(axis=1)
        c = problem.constraint_values(pi)
        scale = float(problem.R_max) if problem.R_max > 0 else 1.0
        vals = {
            "primal_feasibility": float(np.max(np.maximum(0.0, -c) / np.where(a > 0, a, 1.0))),
            "complementarity": float(np.max(np.abs(lam) * np.abs(c)) / scale),
            "simplex": float(max(np.max(np.abs(pi.sum(axis=1) - 1.0)), np.max(np.maximum(0.0, -pi)))),
        }
    return {k: (v if np.isfinite(v) else float("inf")) for k, v in vals.items()}


def require_own_certificate(problem: "Problem", pi, lam, route: str) -> dict:
    """``scaled_residuals`` when each is within SADDLE_RESULT_RTOL; else a SolverError
    naming the route, the precision reached and the fix. A solver's "converged" is never taken on trust."""
    from opdcheck.numerics.types import SolverError
    from opdcheck.tolerances import SADDLE_RESULT_RTOL

    res = scaled_residuals(problem, pi, lam)
    bad = {k: v for k, v in res.items() if not v <= SADDLE_RESULT_RTOL}
    if bad:
        shown = ", ".join(f"{k} {v:.3g}" for k, v in bad.items())
        ratio = problem.beta / problem.R_max if problem.R_max > 0 else float("nan")
        hint = (f"R_max = {problem.R_max:.3g} is beyond the range where products of rewards stay finite in float64; "
                "rescale the rewards (the saddle point scales with them)" if problem.R_max > 1e150 else
                f"beta / R_max = {ratio:.3g} is below what float64 resolves (the dual function is flat to rounding); "
                "solve the beta = 0 linear program instead (--method lp)" if 0 < ratio < 1e-9 else
                "try another --method or --cross-check")
        raise SolverError(f"{route} on {problem.name!r}: the result fails its own certificate ({shown}; each must be "
                          f"<= {SADDLE_RESULT_RTOL:g} at the problem's scale), so it is not a saddle point; {hint}.")
    return res
