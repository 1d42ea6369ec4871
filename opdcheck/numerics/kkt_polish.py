"""KKT polish of a solver's primal-dual point: Newton on the primal KKT system for a fixed active set.

Problem: the paper's constrained problem (1) for ``beta > 0``. With ``z = log pi`` (X, n), the
multipliers ``lam_A`` of the active constraints ``A`` and one normalisation multiplier ``nu_x`` per
prompt, the KKT conditions of (1) restricted to ``A`` are the square nonlinear system::

    F1[x, y] = beta (z[x, y] - log pi_ref[x, y]) - S_lam[x, y] + nu[x] = 0    (stationarity in pi)
    F2[x]    = sum_y exp(z[x, y]) - 1                                 = 0    (pi[x] is a distribution)
    F3[j]    = c_j(exp z) = sum_x rho[x] <exp z[x], R_hard[j, x]>     = 0    (j in A: active constraints)

with ``S_lam = r + sum_{j in A} lam_j R_hard[j]`` (the inactive multipliers are 0).

Update: Newton's method on all unknowns ``(z, nu, lam_A)`` jointly, with backtracking on
``||F||_2^2`` (the Newton direction is always a descent direction for it). The Jacobian has the block
structure ``[[beta I, E, -R_A^T], [P, 0, 0], [rho P R_A, 0, 0]]`` (``E`` spreads ``nu_x`` over row x,
``P = diag(exp z)`` summed per row), so the ``beta I`` block is eliminated first and then the
per-row ``nu`` block (diagonal): what is left is an ``|A| x |A|`` system for ``dlam_A`` (a centred
covariance, the Schur complement). Cost per step: O(|A|^2 X n). This is *not* Newton on the dual
function D: ``z`` is an unknown of its own (it is never replaced by the closed form ``pi_lam`` of
eq. (3)), and ``F2``/``F3`` are enforced at the current ``z``, not at ``pi_lam``.

Active set (from the solver's point ``(pi0, lam0)``): ``A = {j : lam0_j > tau} U {j : c_j(pi0) <= tau}``
with ``tau = POLISH_ACTIVE_TOL``: a constraint is polished as active if the solver gave it a clearly
positive multiplier, or if the solver's policy meets it with (almost) no slack. After Newton
converges, the classical active-set correction: a ``j in A`` with ``lam_j < -POLISH_SIGN_ATOL`` is
dropped, a ``j not in A`` with ``c_j(pi) < -POLISH_SIGN_ATOL`` is added, and Newton is re-run
(at most ``POLISH_MAX_ACTIVE_CHANGES`` times).

This is the "solution polish" of interior-point/ADMM solvers (cf. OSQP's polish: solve the
equality-constrained KKT system of the guessed active set, accept only if it is consistent). It is a
*local refinement* and refuses to be anything else: it raises :class:`PolishError` when the start
is not dual-feasible to the solver's precision (``lam0_j < -CLARABEL_RAW_ATOL``, e.g. a sign error in
reading the duals), when Newton fails, when the active set cycles, or when the polished point is
farther than ``CLARABEL_RAW_ATOL`` from the start in the solver's own variables (``q = rho pi`` and ``lam``) (then the start was not the solver's approximation
of this KKT point, and a polish must not silently replace it by another one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from opdcheck.numerics.dual import check_point
from opdcheck.numerics.types import PolishError
from opdcheck.tolerances import (
    CLARABEL_RAW_ATOL,
    POLISH_ACTIVE_TOL,
    POLISH_KKT_ATOL,
    POLISH_MAX_ACTIVE_CHANGES,
    POLISH_MAX_ITER,
    POLISH_SIGN_ATOL,
    POLISH_STALL_ATOL,
)

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = ["polish_kkt", "kkt_system_residuals", "initial_active_set"]

# log of the smallest positive normal double: where the solver's pi0 is 0 (clipped round-off) the
# start uses this; row 1 of the system is linear in z, so one Newton step moves such an entry to its
# stationary value whatever the start.
_LOG_TINY = float(np.log(np.finfo(float).tiny))


def initial_active_set(problem: "Problem", pi0: np.ndarray, lam0: np.ndarray,
                       active_tol: float = POLISH_ACTIVE_TOL) -> np.ndarray:
    """``A = {j : lam0_j > tau} U {j : c_j(pi0) <= tau}`` as a boolean mask of shape (h,)."""
    c0 = problem.constraint_values(pi0)
    return (lam0 > active_tol) | (c0 <= active_tol)


def _residuals(problem: "Problem", z: np.ndarray, nu: np.ndarray, lam: np.ndarray, A: np.ndarray):
    """``(F1, F2, F3, p, S)`` of the KKT system at ``(z, nu, lam)`` (``lam`` full length, 0 off ``A``)."""
    S = problem.scores(lam)
    F1 = problem.beta * (z - problem.log_pi_ref) - S + nu[:, None]
    p = np.exp(z)
    F2 = p.sum(axis=1) - 1.0
    F3 = np.einsum("x,jxn,xn->j", problem.rho, problem.R_hard[A], p)
    return F1, F2, F3, p, S


def _scaled_norm(F1: np.ndarray, F2: np.ndarray, F3: np.ndarray, S: np.ndarray) -> float:
    """max of the three blocks; F1 relative to the size of the scores (its rounding scales with them)."""
    r1 = float(np.max(np.abs(F1))) / (1.0 + float(np.max(np.abs(S))))
    r3 = float(np.max(np.abs(F3))) if F3.size else 0.0
    return max(r1, float(np.max(np.abs(F2))), r3)


def kkt_system_residuals(problem: "Problem", pi: np.ndarray, lam) -> dict:
    """The KKT-system residuals at a policy ``pi > 0`` and multipliers ``lam`` (active set = ``lam > 0``).

    ``nu`` is eliminated by its least-squares value per row (the pi-weighted mean of
    ``S_lam - beta log(pi/pi_ref)``). Returns ``stationarity`` (max |F1|), ``normalisation`` (max |F2|),
    ``active_constraints`` (max |c_j| over j with lam_j > 0), ``primal_feasibility`` (max(0, -c)),
    ``dual_feasibility`` (max(0, -lam)).
    """
    pi = np.asarray(pi, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    with np.errstate(divide="ignore"):
        z = np.log(pi)
    z = np.maximum(z, _LOG_TINY)
    S = problem.scores(np.maximum(lam, 0.0))
    G = S - problem.beta * (z - problem.log_pi_ref)
    nu = np.einsum("xn,xn->x", pi, G) / pi.sum(axis=1)
    F1 = (-G + nu[:, None]) * (pi > 0)  # entries with pi = 0 exactly carry no stationarity information
    c = problem.constraint_values(pi)
    act = lam > 0
    return {"stationarity": float(np.max(np.abs(F1))), "normalisation": float(np.max(np.abs(pi.sum(axis=1) - 1))),
            "active_constraints": float(np.max(np.abs(c[act]))) if act.any() else 0.0,
            "primal_feasibility": float(np.max(np.maximum(0.0, -c))),
            "dual_feasibility": float(np.max(np.maximum(0.0, -lam)))}


def polish_converged(scaled_residual: float) -> bool:
    """The polish's "converged": the scaled KKT residual is at most POLISH_KKT_ATOL."""
    return bool(scaled_residual <= POLISH_KKT_ATOL)


def stall_accepted(scaled_residual: float) -> bool:
    """A stalled line search is accepted as "converged-at-rounding" only at residual <= POLISH_STALL_ATOL."""
    return bool(scaled_residual <= POLISH_STALL_ATOL)


def _newton(problem: "Problem", z: np.ndarray, nu: np.ndarray, lam: np.ndarray, A: np.ndarray,
            max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Damped Newton on (F1, F2, F3) = 0 for the active set A; returns (z, nu, lam, stats)."""
    beta = float(problem.beta)
    RA = problem.R_hard[A]                     # (a, X, n)
    rho = problem.rho
    F1, F2, F3, p, S = _residuals(problem, z, nu, lam, A)
    merit = 0.5 * (float(np.sum(F1 ** 2)) + float(np.sum(F2 ** 2)) + float(np.sum(F3 ** 2)))
    res = _scaled_norm(F1, F2, F3, S)
    history = [res]
    status = "max_iter"
    it = 0
    for it in range(1, max_iter + 1):
        if polish_converged(res):
            status = "converged"
            it -= 1
            break
        s = p.sum(axis=1)
        a_x = np.einsum("xn,xn->x", p, F1)
        m = np.einsum("jxn,xn->jx", RA, p)                      # sum_y p R_j, per row
        Rc = RA - (m / s)[:, :, None]                           # centred: no cancellation in the Schur block
        if RA.shape[0]:
            wRc = Rc * (rho[:, None] * p)[None]
            M = np.einsum("jxn,kxn->jk", wRc, Rc)
            rhs = -beta * F3 + np.einsum("jxn,xn->j", wRc, F1) + (m * (beta * F2 / s)) @ rho
            try:
                dlam_A = np.linalg.solve(0.5 * (M + M.T), rhs)
            except np.linalg.LinAlgError:
                raise PolishError(f"KKT polish on {problem.name!r}: the Schur complement of the active set "
                                  f"{np.flatnonzero(A).tolist()} is singular (dependent active constraints).") from None
        else:
            dlam_A = np.zeros(0)
        dnu = (beta * F2 - a_x + dlam_A @ m) / s
        dz = (-F1 - dnu[:, None] + np.tensordot(dlam_A, RA, axes=1)) / beta
        dlam = np.zeros_like(lam)
        dlam[A] = dlam_A
        # backtracking on ||F||^2; the Newton direction d satisfies grad(merit) . d = -2 merit < 0
        t = 1.0
        accepted = False
        for _ in range(40):
            z_new = z + t * dz
            if float(np.max(z_new)) <= 1.0:  # log pi <= 0 at a solution; exp must not overflow on a trial
                F1n, F2n, F3n, pn, Sn = _residuals(problem, z_new, nu + t * dnu, lam + t * dlam, A)
                merit_new = 0.5 * (float(np.sum(F1n ** 2)) + float(np.sum(F2n ** 2)) + float(np.sum(F3n ** 2)))
                if merit_new <= (1.0 - 1e-4 * t) * merit:
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            status = "line-search-stalled"  # at the rounding floor of F, or not converging
            break
        z, nu, lam = z_new, nu + t * dnu, lam + t * dlam
        F1, F2, F3, p, S, merit = F1n, F2n, F3n, pn, Sn, merit_new
        res = _scaled_norm(F1, F2, F3, S)
        history.append(res)
    if status != "converged":
        if status == "line-search-stalled" and stall_accepted(res):
            status = "converged-at-rounding"
        else:
            raise PolishError(
                f"KKT polish on {problem.name!r} (active set {np.flatnonzero(A).tolist()}): Newton status "
                f"{status!r} after {it} steps, scaled KKT residual {res:.3e} > {POLISH_KKT_ATOL:.0e}; the start "
                "is not in the basin of a KKT point of this active set.")
    return z, nu, lam, {"status": status, "iterations": it, "residual": res, "history": history}


def polish_kkt(problem: "Problem", pi0, lam0, *, active_tol: float = POLISH_ACTIVE_TOL,
               max_move: float = CLARABEL_RAW_ATOL, max_iter: int = POLISH_MAX_ITER,
               max_changes: int = POLISH_MAX_ACTIVE_CHANGES) -> tuple[np.ndarray, np.ndarray, dict]:
    """Polish a solver's approximate saddle point ``(pi0, lam0)`` of problem (1) to KKT accuracy.

    Returns ``(pi, lam, info)``; ``info`` has ``active_set`` (list of j), ``initial_active_set``,
    ``active_set_changes``, ``iterations`` (Newton steps, all rounds), ``status``, ``residual`` (scaled
    KKT residual of the last round), ``residuals`` (:func:`kkt_system_residuals` at the result),
    ``pi_move``/``lam_move`` (max abs change from the start). See the module docstring for the system,
    the active-set rule and the refusals (all :class:`PolishError`, a :class:`SolverError`).
    """
    if problem.beta <= 0:
        raise ValueError(f"polish_kkt: beta = {problem.beta!r}; the KKT system in z = log pi needs beta > 0 "
                         "(at beta = 0 the problem is an LP: use solve_lp).")
    pi0, lam0 = check_point(problem, pi0, lam0, names=("pi0", "lam0"))
    if np.any(pi0 < 0) or np.any(np.abs(pi0.sum(axis=1) - 1.0) > max_move):
        raise ValueError(f"pi0: not a policy (min entry {pi0.min():.3g}, worst row sum "
                         f"{pi0.sum(axis=1)[np.argmax(np.abs(pi0.sum(axis=1) - 1))]:.6g}); pass rows on the simplex.")
    if float(lam0.min()) < -max_move:
        raise PolishError(
            f"KKT polish on {problem.name!r}: the start is not dual-feasible, lam0 = {lam0.tolist()} has an entry "
            f"below -{max_move:g} (the solver's precision floor); a sign error in reading the duals? Refusing to "
            "polish (it would replace the start by a different point).")
    A = initial_active_set(problem, pi0, lam0, active_tol)
    A0 = A.copy()
    with np.errstate(divide="ignore"):
        z = np.maximum(np.log(pi0), _LOG_TINY)
    lam = np.where(A, np.maximum(lam0, 0.0), 0.0)
    # nu from stationarity at the start: the pi0-weighted row mean of S_lam - beta (z - log pi_ref)
    nu = np.einsum("xn,xn->x", pi0, problem.scores(lam) - problem.beta * (z - problem.log_pi_ref))
    iters = 0
    changes = 0
    seen = {tuple(A)}
    while True:
        z, nu, lam, st = _newton(problem, z, nu, lam, A, max_iter)
        iters += st["iterations"]
        pi = np.exp(z)
        c = problem.constraint_values(pi)
        drop = A & (lam < -POLISH_SIGN_ATOL)
        add = ~A & (c < -POLISH_SIGN_ATOL)
        if not (drop.any() or add.any()):
            break
        changes += 1
        A = (A & ~drop) | add
        lam = np.where(A, lam, 0.0)
        if changes > max_changes or tuple(A) in seen:
            raise PolishError(f"KKT polish on {problem.name!r}: the active set did not settle after {changes} "
                              f"changes (last {np.flatnonzero(A).tolist()}, started {np.flatnonzero(A0).tolist()}).")
        seen.add(tuple(A))
    # a multiplier in [-POLISH_SIGN_ATOL, 0) is a degenerate constraint (lam and c both 0 to rounding)
    lam = np.where(A, np.maximum(lam, 0.0), 0.0)
    pi = pi / pi.sum(axis=1, keepdims=True)
    pi_move = float(np.max(np.abs(pi - pi0)))
    # The cvxpy route solves for the joint q = rho[x] pi[x, y], so its precision is a precision on q:
    # a prompt with weight rho[x] ~ 1e-9 has a row of pi the solver does not determine. The guard
    # therefore measures the move in q (pi_move, unweighted, is still reported).
    q_move = float(np.max(problem.rho[:, None] * np.abs(pi - pi0)))
    lam_move = float(np.max(np.abs(lam - lam0)))
    info = {"active_set": np.flatnonzero(A).tolist(), "initial_active_set": np.flatnonzero(A0).tolist(),
            "active_set_changes": changes, "iterations": iters, "status": st["status"], "residual": st["residual"],
            "residual_history": st["history"], "residuals": kkt_system_residuals(problem, pi, lam),
            "pi_move": pi_move, "q_move": q_move, "lam_move": lam_move}
    if max(q_move, lam_move) > max_move:
        raise PolishError(
            f"KKT polish on {problem.name!r}: the polished point is {q_move:.2e} (q = rho pi) / {lam_move:.2e} (lam) from "
            f"the start, more than the solver's precision floor {max_move:g}: the start was not an approximation "
            f"of this KKT point (lam0 = {lam0.tolist()}, polished lam = {lam.tolist()}); refusing to replace it.")
    return pi, lam, info
