"""The cross-check route: the primal problem (1) as an exponential-cone program, cvxpy + Clarabel.

::

    max_pi  sum_x rho[x] ( <pi[x], r[x]> - beta sum_y rel_entr(pi[x, y], pi_ref[x, y]) )
    s.t.    c_j(pi) = sum_x rho[x] <pi[x], R_hard[j, x]> >= 0   (j = 1..h),   sum_y pi[x, y] = 1

One cvxpy Variable of shape (X, n) (vectorised: no Python loop over prompts). Only an "optimal"
status is accepted ("optimal_inaccurate" raises SolverError). ``lam*`` is read from the duals of the
``c_j >= 0`` constraints: for a maximisation with ``g(pi) >= 0`` constraints cvxpy returns the
non-negative multipliers of ``L = f + lam . g``, the paper's sign (tested on the toy: lam* = 1).

Clarabel's exponential-cone point is accurate to ~1e-7..2e-5 only (CLARABEL_RAW_ATOL); by default it
is then polished (numerics/kkt_polish.py: Newton on the primal KKT system of the active set Clarabel
identified), and the raw point is kept in ``info`` so its accuracy stays visible.

cvxpy is imported here only (by ``numerics/cvxpy_import.py``, which spares it a JAX import), so ``import opdcheck.numerics``
stays solver-free.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from opdcheck.numerics.cvxpy_import import import_cvxpy
from opdcheck.numerics.types import PolishError, SaddlePoint, SolverError
from opdcheck.tolerances import CLARABEL_TOL_FEAS, CLARABEL_TOL_GAP, CLARABEL_TOL_POLISH_START

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = ["solve_primal_cvxpy", "solve_best_response_cvxpy", "CLARABEL_SETTINGS"]

#: Tight Clarabel settings (see CLARABEL_TOL_GAP / CLARABEL_TOL_FEAS in tolerances.py).
CLARABEL_SETTINGS = {
    "tol_gap_abs": CLARABEL_TOL_GAP, "tol_gap_rel": CLARABEL_TOL_GAP, "tol_feas": CLARABEL_TOL_FEAS,
    "tol_ktratio": CLARABEL_TOL_FEAS, "max_iter": 500,
}


def _solve(prob, problem: "Problem", what: str, polish_start: bool = False) -> dict:
    """Solve with the tight settings; only status "optimal" is accepted.

    If Clarabel stops "almost solved" (or fails numerically) at the tight gap (double-precision noise in
    its KKT solves), it is re-run with the gap and feasibility tolerances 10x, then 100x looser (large
    instances: the residuals of 1e4 variables floor above 1e-10). With ``polish_start`` (the point only
    seeds the KKT polish, whose own residuals and move guard certify the result) a last run uses
    CLARABEL_TOL_POLISH_START. A non-optimal status on the last run raises SolverError.
    Returns the settings that produced the accepted solution.
    """
    import warnings

    cp = import_cvxpy()

    status = None
    ladder = [(CLARABEL_TOL_GAP * relax, CLARABEL_TOL_FEAS * relax) for relax in (1.0, 10.0, 100.0)]
    if polish_start:
        ladder.append((CLARABEL_TOL_POLISH_START, CLARABEL_TOL_POLISH_START))
    for gap, feas in ladder:
        settings = dict(CLARABEL_SETTINGS, tol_gap_abs=gap, tol_gap_rel=gap, tol_feas=feas, tol_ktratio=feas)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "solution may be inaccurate": we check status
                prob.solve(solver=cp.CLARABEL, **settings)
        except cp.error.SolverError:
            # Clarabel gave up numerically (cvxpy reports no status): retry looser, like "almost solved"
            status = "solver_error"
            continue
        status = prob.status
        if status == cp.OPTIMAL:
            return settings
        if status != cp.OPTIMAL_INACCURATE:
            break  # infeasible / unbounded: no retry helps
    raise SolverError(
        f"{what} on {problem.name!r} ({problem.describe()}): cvxpy/Clarabel status {status!r}, "
        "not 'optimal'; the solution is not accepted (an inaccurate or infeasible solve is not a reference)."
    )


def _joint_objective(problem: "Problem", q, S: np.ndarray):
    """``sum_xy S q - beta sum_xy q log(q / (rho pi_ref))`` in the joint variables ``q = rho pi``.

    Equal to ``sum_x rho[x] (<pi[x], S[x]> - beta KL(pi[x] || pi_ref[x]))``; the joint form keeps the
    exponential-cone data uniformly scaled (no ``rho[x]`` factor in front of each row's entropy), which
    Clarabel handles much better on large X (measured: 5 of 6 instances with 1e4 variables "optimal" at
    the tight settings, against 0 of 6 with per-row weights).

    Written as ``beta * entr(q) + <S + beta log(rho pi_ref), q>``: the reference measure goes into the
    linear term, so the exponential cones carry no data at all. ``rel_entr(q, m)`` puts ``m`` inside
    each cone, and with ``pi_ref`` entries ~1e-9 Clarabel ends "solver_error" at every tolerance
    (e.g. random_instance(10, 100, 2, 0.5, seed=6, ref_temperature=3), 4 of 80 such instances);
    with ``entr`` all of them end "optimal" at the tight settings.
    """
    cp = import_cvxpy()

    if problem.beta == 0:
        return cp.sum(cp.multiply(S, q))
    log_m = np.log(problem.rho)[:, None] + problem.log_pi_ref
    return cp.sum(cp.multiply(S + problem.beta * log_m, q)) + problem.beta * cp.sum(cp.entr(q))


def _clean_policy(pi: np.ndarray) -> np.ndarray:
    """Interior-point iterates are feasible to ~1e-10: clip the tiny negatives, renormalise rows."""
    pi = np.clip(np.asarray(pi, dtype=np.float64), 0.0, None)
    return pi / pi.sum(axis=1, keepdims=True)


def solve_primal_cvxpy(problem: "Problem", *, dual_sign: float = 1.0, polish: bool = True) -> SaddlePoint:
    """The saddle point of problem (1) from its primal, solved in the units of ``problem_units``.

    Clarabel and the KKT polish see the dimensionless instance (rewards / R_max, constraint j /
    max|R_hard[j]|, beta / R_max), so their absolute tolerances and the polish's move guard mean the same
    thing at every scale (R_hard x 1e-8 makes lam* = 1e8: unscaled, Clarabel's 6e-8 relative error in lam
    is an absolute 6 and the polish refused). The answer is mapped back (``lam_j = lam'_j R_max / a_j``);
    see :func:`_solve_primal_units` for the route itself.
    """
    from opdcheck.numerics.dual import kkt_residuals, nondimensional_problem, require_problem

    problem = require_problem(problem, "solve_primal_cvxpy")
    if problem.meta.get("nondimensional"):
        return _solve_primal_units(problem, dual_sign=dual_sign, polish=polish)
    unit, s, a = nondimensional_problem(problem)

    def back(sp: SaddlePoint) -> SaddlePoint:
        info = dict(sp.info, units={"R_max": s, "constraint_scale": a.tolist()})
        if "raw_lam" in info:
            info["raw_lam"] = (np.asarray(info["raw_lam"]) * s / a).tolist()
            info["raw_kkt"] = kkt_residuals(problem, info["raw_pi"], np.asarray(info["raw_lam"]))
            if "raw_lam_change" in info:
                info["raw_lam_change"] = float(np.max(np.abs(np.asarray(info["raw_lam"]) - sp.lam * s / a)))
        if "cvxpy_objective" in info:
            info["cvxpy_objective"] = info["cvxpy_objective"] * s
        return _saddle(problem, sp.pi, sp.lam * s / a, sp.method, info)

    try:
        return back(_solve_primal_units(unit, dual_sign=dual_sign, polish=polish))
    except PolishError as exc:
        raise PolishError(str(exc), raw=None if exc.raw is None else back(exc.raw)) from None


def _solve_primal_units(problem: "Problem", *, dual_sign: float = 1.0, polish: bool = True) -> SaddlePoint:
    """The saddle point of problem (1) from its primal, with ``lam* = dual_sign * (constraint duals)``.

    ``polish=True`` (default): Clarabel's primal-dual point is refined by :func:`polish_kkt` (Newton on
    the primal KKT system of the active set Clarabel identified, see numerics/kkt_polish.py); the
    returned point is the polished one (``method = "cvxpy-clarabel+kkt-polish"``) and ``info`` keeps
    the raw solver output: ``raw_pi``, ``raw_lam``, ``raw_kkt``, ``raw_pi_change``/``raw_lam_change``
    (max abs change raw -> polished), plus ``active_set``, ``polish_iterations``, ``polish_status``,
    ``polish_residuals``. ``polish=False``: the raw Clarabel solution (``method = "cvxpy-clarabel"``).

    ``dual_sign = -1.0`` exists only to plant a sign error (negative control of ``dual-function``);
    the correct convention is ``+1``. The sign is applied when the duals are read, before the polish;
    the polish refuses a start whose multipliers are negative beyond Clarabel's precision (it never
    "repairs" them): PolishError (a SolverError) is raised with the raw point attached as ``exc.raw``.
    """
    cp = import_cvxpy()

    X, n, h = problem.X, problem.n, problem.h
    t0 = time.perf_counter()
    # joint-distribution variables q[x, y] = rho[x] pi[x, y] (see _joint_objective); the constraint
    # duals are unchanged because c_j(pi) = sum_xy R_j[x, y] q[x, y]
    q = cp.Variable((X, n), name="q")
    cons_c = [cp.sum(cp.multiply(problem.R_hard[j], q)) >= 0 for j in range(h)]
    cons = cons_c + [cp.sum(q, axis=1) == problem.rho]
    if problem.beta == 0:
        cons.append(q >= 0)  # rel_entr's domain supplies q >= 0 when beta > 0
    prob = cp.Problem(cp.Maximize(_joint_objective(problem, q, problem.r)), cons)
    settings = _solve(prob, problem, "solve_primal_cvxpy", polish_start=polish and problem.beta > 0)
    pi_v = _clean_policy(q.value / problem.rho[:, None])
    lam = dual_sign * np.array([float(np.asarray(c.dual_value).reshape(())) for c in cons_c])
    # lam >= 0 holds to solver accuracy; round-off negatives are clipped only for the correct sign,
    # so a planted sign error stays visible.
    if dual_sign > 0:
        lam = np.maximum(lam, 0.0)
    info = {"status": prob.status, "solver": "CLARABEL", "iterations": prob.solver_stats.num_iters,
            "solve_time": prob.solver_stats.solve_time, "cvxpy_objective": float(prob.value),
            "dual_sign": dual_sign, "settings": settings, "polished": False}
    raw = _saddle(problem, pi_v, lam, "cvxpy-clarabel", dict(info, wall_time=time.perf_counter() - t0))
    if not polish or problem.beta == 0:  # beta = 0: no log-space KKT system; the LP route is exact there
        return raw
    from opdcheck.numerics.kkt_polish import polish_kkt

    try:
        pi_p, lam_p, pinfo = polish_kkt(problem, pi_v, lam)
    except PolishError as exc:
        raise PolishError(f"solve_primal_cvxpy: {exc}", raw=raw) from None
    info.update(polished=True, raw_pi=pi_v, raw_lam=lam.tolist(), raw_kkt=raw.kkt,
                raw_pi_change=pinfo["pi_move"], raw_lam_change=pinfo["lam_move"],
                active_set=pinfo["active_set"], initial_active_set=pinfo["initial_active_set"],
                active_set_changes=pinfo["active_set_changes"], polish_iterations=pinfo["iterations"],
                polish_status=pinfo["status"], polish_residuals=pinfo["residuals"],
                polish_residual_history=pinfo["residual_history"], wall_time=time.perf_counter() - t0)
    return _saddle(problem, pi_p, lam_p, "cvxpy-clarabel+kkt-polish", info)


def _saddle(problem: "Problem", pi: np.ndarray, lam: np.ndarray, method: str, info: dict) -> SaddlePoint:
    from opdcheck.numerics.dual import dual_value, kkt_residuals, primal_objective

    primal = primal_objective(problem, pi)
    dual = dual_value(problem, np.maximum(lam, 0.0))
    return SaddlePoint(pi=pi, lam=lam, primal_value=primal, dual_value=dual, duality_gap=dual - primal,
                       kkt=kkt_residuals(problem, pi, lam), method=method, info=info)


def solve_best_response_cvxpy(problem: "Problem", lam, *, return_info: bool = False):
    """``argmax_pi L(pi, lam)`` at a fixed ``lam`` (no constraints but the simplex), by cvxpy/Clarabel.

    The independent reference for eq. (3): it knows nothing of the closed form. With
    ``return_info=True`` returns ``(pi, info)``, ``info`` holding what the solver certifies about its
    own accuracy: ``value`` (its objective), ``settings`` (the gap/feasibility tolerances it met at
    status "optimal"), ``status``, ``iterations``, ``row_multipliers`` (the duals nu_x of
    ``sum_y q[x, y] = rho[x]``, from which numerics/certificates.py builds a weak-duality bound).
    """
    cp = import_cvxpy()

    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    if lam.shape != (problem.h,):
        raise ValueError(f"lam: shape {lam.shape}, expected ({problem.h},).")
    if problem.beta <= 0:
        raise ValueError(f"solve_best_response_cvxpy: beta = {problem.beta!r}; needs beta > 0 (at beta = 0 "
                         "the maximiser is any policy on argmax S_lam, use the LP route).")
    q = cp.Variable((problem.X, problem.n), name="q")
    rows = cp.sum(q, axis=1) == problem.rho
    prob = cp.Problem(cp.Maximize(_joint_objective(problem, q, problem.scores(lam))), [rows])
    settings = _solve(prob, problem, "solve_best_response_cvxpy")
    pi = _clean_policy(q.value / problem.rho[:, None])
    if not return_info:
        return pi
    return pi, {"value": float(prob.value), "settings": settings, "status": prob.status,
                "iterations": prob.solver_stats.num_iters,
                "row_multipliers": np.asarray(rows.dual_value, dtype=np.float64).reshape(-1)}
