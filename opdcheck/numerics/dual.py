"""The closed-form best response (eq. (3)), the dual function D and its projected-Newton minimiser.

For ``beta > 0`` the inner maximisation of the Lagrangian has the closed form (paper eq. (3),
Lemma B.7)::

    pi_lam[x, y] = pi_ref[x, y] exp(S_lam[x, y] / beta) / Z_x(lam),     S_lam = r + sum_j lam_j R_hard[j]

and the dual function (standard, not printed in the paper) is::

    D(lam) = max_pi L(pi, lam) = sum_x rho[x] beta logsumexp_y(log pi_ref[x, y] + S_lam[x, y] / beta)
    grad D(lam) = c(pi_lam)
    hess D(lam) = (1/beta) sum_x rho[x] Cov_{y ~ pi_lam[x]}(R_hard[:, x, y])

``lam* = argmin_{lam >= 0} D(lam)`` is found by a projected Newton method (Bertsekas 1982) and
``pi* = pi_{lam*}``. Everything is computed in log space so ``beta`` from 1e-3 to 10 is safe.

Example
-------
>>> from opdcheck.instances import paper_toy
>>> sp = solve_dual_newton(paper_toy())
>>> round(float(sp.lam[0]), 12), sp.pi.round(12).tolist()
(1.0, [[0.3, 0.7]])
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from opdcheck.numerics.logspace import kl_rows, logsumexp_rows
from opdcheck.numerics.types import SaddlePoint, SolverError
from opdcheck.tolerances import (
    DUAL_NEWTON_ACTIVE_EPS,
    DUAL_NEWTON_ARMIJO,
    DUAL_NEWTON_GTOL,
    DUAL_NEWTON_MAX_ITER,
    DUAL_NEWTON_STALL_GTOL,
)

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = [
    "log_best_response", "best_response", "dual_value", "dual_gradient", "dual_hessian",
    "dual_oracle", "solve_dual_newton", "kkt_residuals", "primal_objective",
]


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


def dual_value(problem: "Problem", lam) -> float:
    """``D(lam) = sum_x rho[x] beta logsumexp_y(log pi_ref + S_lam / beta)`` (= ``max_pi L(pi, lam)``).

    At ``beta = 0`` this is the limit ``sum_x rho[x] max_y S_lam[x, y]`` (the LP dual function).
    """
    lam = _check_lam(problem, lam)
    S = problem.scores(lam)
    if problem.beta == 0:
        return float(np.dot(problem.rho, S.max(axis=1)))
    beta = float(problem.beta)
    return float(beta * np.dot(problem.rho, logsumexp_rows(problem.log_pi_ref + S / beta)))


def dual_oracle(problem: "Problem", lam, hessian: bool = True):
    """One pass over the data: ``(D(lam), grad D(lam), hess D(lam) or None, pi_lam)``.

    The Hessian uses centred rewards ``R_j - E_{pi_lam[x]} R_j`` so that the covariance does not
    suffer cancellation when ``pi_lam`` is nearly deterministic (small beta).
    """
    beta = _require_beta(problem, "dual_oracle")
    lam = _check_lam(problem, lam)
    z = problem.log_pi_ref + problem.scores(lam) / beta
    lse = logsumexp_rows(z)
    pi = np.exp(z - lse[:, None])
    D = float(beta * np.dot(problem.rho, lse))
    Ex = np.einsum("xn,jxn->jx", pi, problem.R_hard)          # E_{pi_lam[x]} R_j
    g = Ex @ problem.rho                                         # c(pi_lam)
    H = None
    if hessian:
        Rc = problem.R_hard - Ex[:, :, None]
        wRc = Rc * (problem.rho[:, None] * pi)[None]
        H = np.einsum("jxn,kxn->jk", wRc, Rc) / beta
        H = 0.5 * (H + H.T)
    return D, g, H, pi


def dual_gradient(problem: "Problem", lam) -> np.ndarray:
    """``grad D(lam) = c(pi_lam)``, shape (h,)."""
    return dual_oracle(problem, lam, hessian=False)[1]


def dual_hessian(problem: "Problem", lam) -> np.ndarray:
    """``hess D(lam) = (1/beta) sum_x rho[x] Cov_{pi_lam[x]}(R_hard[:, x, :])``, shape (h, h)."""
    return dual_oracle(problem, lam, hessian=True)[2]


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


def _projected_gradient(lam: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``lam - [lam - g]_+``: zero iff lam satisfies the KKT conditions of min_{lam>=0} D."""
    return lam - np.maximum(lam - g, 0.0)


def solve_dual_newton(problem: "Problem", lam0=None, *, gtol: float = DUAL_NEWTON_GTOL,
                      max_iter: int = DUAL_NEWTON_MAX_ITER) -> SaddlePoint:
    """``lam* = argmin_{lam >= 0} D(lam)`` by projected Newton; ``pi* = pi_{lam*}`` (eq. (3)).

    Problem: the dual of the paper's constrained problem (1), ``min_{lam >= 0} D(lam)``.
    Update (Bertsekas' projected Newton with an eps-active set):

    - active set ``A = {j : lam_j <= eps, g_j > 0}`` with ``eps = min(DUAL_NEWTON_ACTIVE_EPS, ||pg||)``
      (``pg`` the projected gradient): these stay on the bound (``d_A = -g_A / H_jj``);
    - free set ``F``: Newton direction ``d_F = -(H_FF + mu I)^{-1} g_F``, ``mu = ||pg||_inf * 1e-3`` a
      vanishing Levenberg term in case the covariance is singular;
    - projected Armijo backtracking on ``lam(a) = [lam + a d]_+``.

    A multiplier whose constraint is slack ends at exactly 0.0 (projection), not at 1e-12.
    Stops when ``||pg||_inf <= gtol``. A failure (iteration budget, line search) raises SolverError,
    or ValueError naming the Slater margin when ``xi <= 0`` (the dual is then unbounded below).
    """
    beta = _require_beta(problem, "solve_dual_newton")
    h = problem.h
    lam = np.zeros(h) if lam0 is None else np.maximum(_check_lam(problem, lam0), 0.0)
    D, g, H, pi = dual_oracle(problem, lam)
    radius = 10.0 * max(1.0, float(np.max(lam)))
    status = "max_iter"
    it = 0
    n_backtracks = 0
    for it in range(1, max_iter + 1):
        pg = _projected_gradient(lam, g)
        pgn = float(np.max(np.abs(pg)))
        if pgn <= gtol:
            status = "converged"
            it -= 1
            break
        eps = min(DUAL_NEWTON_ACTIVE_EPS, pgn)
        act = (lam <= eps) & (g > 0)
        free = ~act
        d = np.zeros(h)
        diag = np.maximum(np.diag(H), np.finfo(float).tiny)
        d[act] = -g[act] / diag[act]
        if free.any():
            Hf = H[np.ix_(free, free)]
            mu = 1e-3 * pgn * max(1.0, float(np.max(np.abs(np.diag(Hf)))))
            try:
                d[free] = -np.linalg.solve(Hf + mu * np.eye(int(free.sum())), g[free])
            except np.linalg.LinAlgError:
                d[free] = -np.linalg.lstsq(Hf + mu * np.eye(int(free.sum())), g[free], rcond=None)[0]
            if float(g[free] @ d[free]) >= 0:  # numerically non-descent: fall back to scaled gradient
                d[free] = -g[free] / diag[free]
        # Far from lam*, pi_lam is nearly deterministic, the Hessian tiny and the Newton step huge:
        # cap its length by a radius that grows 4x per accepted step, so backtracking stays short.
        dn = float(np.max(np.abs(np.maximum(lam + d, 0.0) - lam)))  # the projected full step
        a = min(1.0, radius / dn) if dn > 0 else 1.0
        accepted = False
        full = np.maximum(lam + d, 0.0)
        pred_full = float(-(g[free] @ d[free])) + float(g[act] @ (lam[act] - full[act]))
        # Predicted decrease below the rounding of D: Armijo cannot see it, go to the gradient test.
        flat = pred_full <= 64 * np.finfo(float).eps * max(1.0, abs(D))
        for _ in range(0 if flat else 60):
            lam_new = np.maximum(lam + a * d, 0.0)
            D_new = dual_value(problem, lam_new)  # value only: the line search needs no derivatives
            pred = a * float(-(g[free] @ d[free])) + float(g[act] @ (lam[act] - lam_new[act]))
            if D - D_new >= DUAL_NEWTON_ARMIJO * pred:
                accepted = True
                break
            a *= 0.5
            n_backtracks += 1
        if accepted:
            radius = max(4.0 * a * dn, 1e-8)
            D_new, g_new, H_new, pi_new = dual_oracle(problem, lam_new)
        else:
            # D is flat to rounding here: accept the full step if it reduces the projected gradient
            # (the Newton step is then within rounding of the minimiser), else stop.
            lam_new = np.maximum(lam + d, 0.0)
            D_new, g_new, H_new, pi_new = dual_oracle(problem, lam_new)
            if np.max(np.abs(_projected_gradient(lam_new, g_new))) < pgn:
                lam, D, g, H, pi = lam_new, D_new, g_new, H_new, pi_new
                continue
            status = "line-search-stalled"
            break
        lam, D, g, H, pi = lam_new, D_new, g_new, H_new, pi_new
        if not np.all(np.isfinite(lam)) or float(np.max(lam)) > 1e15:  # D unbounded below: Slater fails
            status = "diverged"
            break
    pgn = float(np.max(np.abs(_projected_gradient(lam, g))))
    if status != "converged":
        if status == "line-search-stalled" and pgn <= DUAL_NEWTON_STALL_GTOL:
            status = "converged-at-rounding"
        else:
            from opdcheck.numerics.lp import require_slater

            require_slater(problem)  # raises ValueError naming xi when Slater fails
            raise SolverError(
                f"dual Newton on {problem.name!r}: status {status!r} after {it} iterations, projected "
                f"gradient {pgn:.3e} > gtol {gtol:.1e} (beta = {beta:g}, lam = {lam.tolist()})."
            )
    primal = primal_objective(problem, pi)
    return SaddlePoint(
        pi=pi, lam=lam, primal_value=primal, dual_value=D, duality_gap=D - primal,
        kkt=kkt_residuals(problem, pi, lam), method="dual-newton",
        info={"iterations": it, "status": status, "projected_gradient": pgn, "backtracks": n_backtracks,
              "gtol": gtol},
    )
