"""Linear programs: the beta = 0 saddle point and Slater's margin (Assumption 3.1), with HiGHS.

At ``beta = 0`` (opdcheck's extension; the paper needs beta > 0) the problem is the LP::

    max_pi  sum_x rho[x] <pi[x], r[x]>    s.t.  c_j(pi) >= 0,  pi[x] in the simplex

whose multipliers are read from HiGHS' marginals. The closed form (3) does not apply: the optimal
pi puts its mass on the argmax of ``S_{lam*}[x]``, which may be a tie (then pi* is not unique).

Slater's margin ``xi = max_pi min_j c_j(pi)`` (ignores beta) is the LP
``max_{pi, t} t  s.t.  c_j(pi) >= t``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from opdcheck.numerics.kkt import kkt_residuals
from opdcheck.numerics.types import SaddlePoint, SolverError
from opdcheck.tolerances import HIGHS_FEAS_TOL, LP_TIE_ATOL, SLATER_XI_ATOL

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = ["solve_lp", "slater_margin", "slater_point", "require_slater", "HIGHS_OPTIONS"]

#: HiGHS options (HIGHS_FEAS_TOL in tolerances.py).
HIGHS_OPTIONS = {"primal_feasibility_tolerance": HIGHS_FEAS_TOL, "dual_feasibility_tolerance": HIGHS_FEAS_TOL}


def _simplex_rows(X: int, n: int) -> sp.csr_matrix:
    """The (X, X*n) matrix of row sums of a C-ordered flattened (X, n) policy."""
    return sp.kron(sp.eye(X, format="csr"), np.ones((1, n)), format="csr")


def _constraint_matrix(problem: "Problem") -> np.ndarray:
    """``W[j] = rho[x] R_hard[j, x, y]`` flattened: ``c(pi) = W @ pi.ravel()``."""
    return (problem.R_hard * problem.rho[None, :, None]).reshape(problem.h, -1)


def _linprog(c, A_ub, b_ub, A_eq, b_eq, bounds, what: str, problem: "Problem"):
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs",
                  options=HIGHS_OPTIONS)
    if res.status != 0:
        raise SolverError(f"{what} on {problem.name!r}: HiGHS status {res.status} ({res.message}); "
                          "not optimal.")
    return res


def _hard_scale(problem: "Problem") -> float:
    """``max |R_hard|``: the LP is solved in this unit (HiGHS reads |a| >= 1e15 as infinite and its
    tolerances are absolute, so both R_hard = 1e16 and R_hard = 1e-8 would be mis-solved raw)."""
    scale = float(np.max(np.abs(problem.R_hard)))
    if scale == 0.0:
        raise ValueError(f"Problem.R_hard is identically 0 on {problem.name!r}: every c_j(pi) = 0, so Slater's "
                         "condition (xi > 0) fails. Fix: subtract a threshold below the rewards from R_hard.")
    return scale


def slater_point(problem: "Problem") -> tuple[float, np.ndarray]:
    """``(xi, pi_bar)``: Slater's margin ``max_pi min_j c_j(pi)`` and a maximiser (a policy), by LP.

    Solved in units of ``max |R_hard|`` (``_hard_scale``) and returned in the problem's units.
    """
    X, n, h = problem.X, problem.n, problem.h
    if not np.any(problem.R_hard):  # every c_j(pi) = 0: xi = 0 exactly, no LP needed
        return 0.0, np.array(problem.pi_ref)
    scale = _hard_scale(problem)
    W = _constraint_matrix(problem) / scale
    N = X * n
    # variables (pi, t); minimise -t subject to t - W pi <= 0
    c = np.zeros(N + 1)
    c[-1] = -1.0
    A_ub = sp.hstack([sp.csr_matrix(-W), sp.csr_matrix(np.ones((h, 1)))], format="csr")
    A_eq = sp.hstack([_simplex_rows(X, n), sp.csr_matrix((X, 1))], format="csr")
    bounds = [(0, None)] * N + [(None, None)]
    res = _linprog(c, A_ub, np.zeros(h), A_eq, np.ones(X), bounds, "slater_margin", problem)
    pi_bar = np.clip(res.x[:-1].reshape(X, n), 0.0, None)
    return float(res.x[-1]) * scale, pi_bar / pi_bar.sum(axis=1, keepdims=True)


def slater_margin(problem: "Problem") -> float:
    """``xi = max_pi min_j c_j(pi)`` by LP (Assumption 3.1 needs xi > 0). Ignores beta.

    >>> from opdcheck.instances import paper_toy
    >>> round(slater_margin(paper_toy()), 12)   # pi = (0, 1): c = 0.3
    0.3
    """
    return slater_point(problem)[0]


def slater_margin_positive(xi: float, scale: float) -> bool:
    """Slater's margin ``xi`` counts as > 0 when it exceeds SLATER_XI_ATOL x ``scale`` (max|R_hard|): the gate
    of :func:`require_slater` and of the cheap candidates in ``numerics.saddle.slater_certificate``."""
    return bool(xi > SLATER_XI_ATOL * scale)


def require_slater(problem: "Problem") -> float:
    """Return ``xi`` if ``xi > SLATER_XI_ATOL * max|R_hard|``; else raise ValueError naming xi and the fix.

    The test is relative to the constraints' scale (the LP is solved in that unit): an instance and
    the same instance with R_hard x 1e-8 are both strictly feasible or both not.
    """
    xi = slater_margin(problem)
    scale = float(np.max(np.abs(problem.R_hard)))
    if not slater_margin_positive(xi, scale):
        raise ValueError(
            f"Slater's condition fails: xi = max_pi min_j c_j(pi) = {xi:.6g} <= 0 (tolerance "
            f"{SLATER_XI_ATOL:g} x max|R_hard| = {SLATER_XI_ATOL * scale:.3g}) "
            f"for instance {problem.name!r}: no policy satisfies every hard constraint strictly, so lam* "
            "does not exist or is unbounded (Assumption 3.1). Fix: loosen the thresholds in R_hard (add a "
            "constant to R_hard[j] for the constraints that cannot be met)."
        )
    return xi


def solve_lp(problem: "Problem") -> SaddlePoint:
    """The ``beta = 0`` saddle point by LP (HiGHS); duals ``lam* = -marginals`` of ``-c(pi) <= 0``.

    Sign convention: HiGHS reports ``d(min objective)/d b_ub``; we minimise ``-E<pi, r>`` with the
    constraint ``-W pi <= 0``, so relaxing it (raising b_ub) can only lower the minimum: marginals are
    <= 0 and ``lam* = -marginals >= 0`` (tested on the toy: lam* = 1).

    ``info["ties"]`` lists the prompts where several responses attain ``max_y S_{lam*}[x, y]`` (within
    LP_TIE_ATOL): there pi* need not be unique and any mixture over the tie that keeps the
    constraints is optimal. The closed form (3) does not apply at beta = 0.
    """
    X, n, h = problem.X, problem.n, problem.h
    if problem.beta != 0:
        note = f"beta = {problem.beta:g} ignored: solve_lp solves the beta = 0 linear program."
    else:
        note = ""
    # solved in units: rewards in R_max, constraint j in max|R_hard[j]| (lam_j = lam'_j R_max / a_j)
    s_unit = float(problem.R_max)
    a_unit = np.abs(problem.R_hard).reshape(h, -1).max(axis=1)
    if s_unit == 0.0 or np.any(a_unit == 0.0):
        raise ValueError(f"Problem.R_hard: constraint {int(np.flatnonzero(a_unit == 0)[0]) if np.any(a_unit == 0) else 0} "
                         f"is identically 0 on {problem.name!r}, so Slater's condition fails; drop it or "
                         "subtract a threshold below its rewards.")
    W = _constraint_matrix(problem) / a_unit[:, None]
    c = -(problem.r * problem.rho[:, None]).ravel() / s_unit
    res = _linprog(c, -W, np.zeros(h), _simplex_rows(X, n), np.ones(X), [(0, None)] * (X * n),
                   "solve_lp", problem)
    pi = np.clip(res.x.reshape(X, n), 0.0, None)  # HiGHS may return -1e-17 on a bound
    pi /= pi.sum(axis=1, keepdims=True)
    lam = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=float), 0.0) * s_unit / a_unit
    S = problem.scores(lam)
    top = S.max(axis=1, keepdims=True)
    tie_counts = (S >= top - LP_TIE_ATOL * s_unit).sum(axis=1)  # relative to the rewards' unit
    ties = np.flatnonzero(tie_counts > 1)
    primal = float(np.einsum("x,xn,xn->", problem.rho, pi, problem.r))
    dual = float(np.dot(problem.rho, top[:, 0]))
    lp_problem = problem if problem.beta == 0 else problem.with_beta(0.0)
    info = {
        "status": "optimal", "highs_message": res.message, "iterations": int(getattr(res, "nit", -1)),
        "ties": ties.tolist(), "n_ties": int(ties.size), "tie_sizes": tie_counts[ties].tolist(),
        "note": ("beta = 0: the closed form (3) pi_lam ∝ pi_ref exp(S_lam/beta) does not apply; pi* is a "
                 "solution of the linear program, supported on argmax_y S_lam*[x, y], and is not unique at "
                 "prompts listed in 'ties' (several responses tie in S_lam*)." + (" " + note if note else "")),
    }
    return SaddlePoint(pi=pi, lam=lam, primal_value=primal, dual_value=dual, duality_gap=dual - primal,
                       kkt=kkt_residuals(lp_problem, pi, lam), method="lp-highs", info=info)
