"""One entry point for the exact saddle point, cached per Problem, and the two-route cross-check.

>>> from opdcheck.instances import paper_toy
>>> sp = solve_saddle(paper_toy())
>>> sp.method, round(float(sp.lam[0]), 10)
('dual-newton', 1.0)
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np

from opdcheck.numerics.types import SaddlePoint, SolverError
from opdcheck.tolerances import CLARABEL_RAW_ATOL, SADDLE_AGREEMENT_ATOL

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = ["solve_saddle", "cross_check", "slater_certificate", "METHODS", "clear_cache"]

METHODS = ("auto", "dual", "cvxpy", "lp")

# The route each resolved method must have produced (SaddlePoint.method starts with it). Checked on
# every return from the memo: a memo keyed too coarsely (by instance only) would otherwise hand the
# dual-Newton point to a caller asking for the cvxpy route, and a cross-check would compare a solver
# with itself and always agree.
_ROUTE_PREFIX = {"dual": "dual-newton", "cvxpy": "cvxpy-clarabel", "lp": "lp-highs"}

# Problem is a frozen dataclass with eq=False: hashed by identity, so a weak-key cache never mixes
# two instances and frees the entry when the Problem is garbage-collected.
_CACHE: "weakref.WeakKeyDictionary[Problem, dict]" = weakref.WeakKeyDictionary()


def clear_cache() -> None:
    _CACHE.clear()


def _resolve(problem: "Problem", method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method: {method!r}; choose one of {METHODS}.")
    if method == "auto":
        return "dual" if problem.beta > 0 else "lp"
    if method in ("dual", "cvxpy") and problem.beta == 0:
        raise ValueError(f"method={method!r} needs beta > 0 (instance {problem.name!r} has beta = 0); "
                         "use method='lp' or 'auto' for the beta = 0 linear program.")
    return method


def slater_certificate(problem: "Problem") -> float:
    """A certified lower bound on Slater's margin xi > 0, or ValueError naming the computed xi.

    Cheap first: a policy with ``min_j c_j(pi) > SLATER_XI_ATOL max|R_hard|`` proves xi > 0 (two
    candidates: pi_ref, and the deterministic policy maximising ``sum_j R_hard[j] / max|R_hard[j]|``).
    Only when neither proves it is the LP solved (``require_slater``): its cost on 1e7 variables is
    then paid only by instances that need it.
    """
    from opdcheck.numerics.dual import problem_units
    from opdcheck.numerics.lp import slater_margin_positive

    _, a = problem_units(problem)  # ValueError for an identically-zero constraint
    scale = float(np.max(a))
    # the deterministic candidate as an (X, n) one-hot table (not rows of an n x n identity: O(n^2) memory)
    greedy = np.zeros((problem.X, problem.n))
    greedy[np.arange(problem.X), np.argmax(np.tensordot(1.0 / a, problem.R_hard, axes=(0, 0)), axis=1)] = 1.0
    for candidate in (problem.pi_ref, greedy):
        margin = float(np.min(problem.constraint_values(candidate)))
        if slater_margin_positive(margin, scale):
            return margin
    from opdcheck.numerics.lp import require_slater

    return require_slater(problem)


def solve_saddle(problem: "Problem", method: str = "auto") -> SaddlePoint:
    """The saddle point ``(pi*, lam*)`` of ``min_{lam>=0} max_pi L``; cached per Problem object.

    ``auto``: dual Newton (``solve_dual_newton``) for beta > 0, the LP (``solve_lp``) for beta = 0.
    ``cvxpy``: the exponential-cone primal with Clarabel, KKT-polished (the cross-check route; the raw
    Clarabel point is in ``info["raw_pi"]``, ``info["raw_lam"]``).
    Returned arrays are shared by every caller: treat them as read-only (they are flagged so).

    Refuses (ValueError) anything that is not a Problem, and an instance whose Slater margin
    ``xi = max_pi min_j c_j(pi)`` is <= 0 (relative to max|R_hard|), naming the computed xi: lam* does not
    exist there (Assumption 3.1), and a solver would return a meaningless large multiplier.
    Every solver failure is a SolverError naming the route and its certificate.
    """
    from opdcheck.numerics.dual import require_problem

    problem = require_problem(problem, "solve_saddle")
    m = _resolve(problem, method)
    per = _CACHE.setdefault(problem, {})
    if "slater_xi" not in per:
        per["slater_xi"] = slater_certificate(problem)  # ValueError naming xi when Slater fails
    if m not in per:
        if m == "dual":
            from opdcheck.numerics.dual import solve_dual_newton

            sp = solve_dual_newton(problem)
        elif m == "cvxpy":
            from opdcheck.numerics.primal_cvxpy import solve_primal_cvxpy

            sp = solve_primal_cvxpy(problem)
        else:
            from opdcheck.numerics.lp import solve_lp

            sp = solve_lp(problem)
        from opdcheck.numerics.kkt import require_own_certificate

        sp.info["own_certificate"] = require_own_certificate(problem, sp.pi, sp.lam, sp.method)
        sp.pi.setflags(write=False)
        sp.lam.setflags(write=False)
        per[m] = sp
    sp = per[m]
    if not str(sp.method).startswith(_ROUTE_PREFIX[m]):
        raise SolverError(f"saddle memo: method={m!r} was asked but the cached point of instance {problem.name!r} "
                          f"was produced by {sp.method!r}; the memo must be keyed by instance and route "
                          "(an internal error of opdcheck, not of the instance).")
    return sp


def raw_agrees(q_diff: float, lam_diff: float, lam_unit: float, raw_atol: float = CLARABEL_RAW_ATOL) -> bool:
    """Clarabel's raw point agrees with dual Newton's in the solver's own variables: ``|q - q_dual| <= raw_atol``
    (q = rho pi) and ``|lam - lam_dual| <= raw_atol * max(1, |lam*|)`` (CLARABEL_RAW_ATOL: its precision floor)."""
    return bool(q_diff <= raw_atol and lam_diff <= raw_atol * lam_unit)


def cross_check(problem: "Problem", atol: float = SADDLE_AGREEMENT_ATOL, raw_atol: float = CLARABEL_RAW_ATOL) -> dict:
    """Solve by dual Newton and by cvxpy/Clarabel (+ KKT polish); max abs differences on pi* and lam*.

    Needs beta > 0 (both routes). ``pi_diff``/``lam_diff``: dual Newton vs the *polished* cvxpy point,
    judged at ``atol`` (SADDLE_AGREEMENT_ATOL; lam relative to ``max(1, |lam*|)``); ``q_diff_raw``/``lam_diff_raw``: vs Clarabel's
    raw solution in its own variables (q = rho pi, lam), judged at ``raw_atol`` (CLARABEL_RAW_ATOL, its
    measured precision floor with margin); ``pi_diff_raw`` (unweighted) is reported, not judged.
    ``agree`` is True when the polished differences are <= atol and the raw ones <= raw_atol
    (``raw_ok`` alone reports the latter). A polish failure propagates as PolishError (a SolverError).
    """
    from opdcheck.numerics.dual import require_problem

    problem = require_problem(problem, "cross_check")
    if problem.beta <= 0:
        raise ValueError(f"cross_check: beta = {problem.beta!r}; both routes need beta > 0.")
    a = solve_saddle(problem, "dual")
    b = solve_saddle(problem, "cvxpy")
    dpi = float(np.max(np.abs(a.pi - b.pi)))
    dlam = float(np.max(np.abs(a.lam - b.lam)))
    dpi_raw = float(np.max(np.abs(a.pi - b.info["raw_pi"])))
    # Clarabel solves for q = rho pi (numerics/primal_cvxpy.py): its raw precision is judged on q, where
    # a prompt of negligible weight cannot hide a large raw error in pi (reported as pi_diff_raw)
    dq_raw = float(np.max(problem.rho[:, None] * np.abs(a.pi - b.info["raw_pi"])))
    dlam_raw = float(np.max(np.abs(a.lam - np.asarray(b.info["raw_lam"]))))
    # multipliers are compared relative to their size (lam* = 1e8 when R_hard is scaled by 1e-8: both
    # routes work in units where it is O(1), and an absolute 1e-7 on 1e8 would ask for 31 digits)
    lam_unit = max(1.0, float(np.max(np.abs(a.lam))))
    raw_ok = raw_agrees(dq_raw, dlam_raw, lam_unit, raw_atol)
    return {
        "pi_diff": dpi, "lam_diff": dlam, "atol": atol,
        "pi_diff_raw": dpi_raw, "q_diff_raw": dq_raw, "lam_diff_raw": dlam_raw, "raw_atol": raw_atol,
        "raw_ok": raw_ok,
        "lam_unit": lam_unit,
        "agree": bool(dpi <= atol and dlam <= atol * lam_unit and raw_ok),
        "lam_dual": a.lam.tolist(), "lam_cvxpy": b.lam.tolist(), "lam_cvxpy_raw": list(b.info["raw_lam"]),
        "active_set": b.info["active_set"], "polish_iterations": b.info["polish_iterations"],
        "polish_residuals": b.info["polish_residuals"],
        "gap_dual": a.duality_gap, "gap_cvxpy": b.duality_gap,
        "value_diff": abs(a.primal_value - b.primal_value),
    }
