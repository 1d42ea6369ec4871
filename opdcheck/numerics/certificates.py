"""Certificates for "pi maximises L(., lam)" (eq. (3), Lemma B.7), judged at the problem's own scale.

A reference solver less accurate than the formula it judges can never refute it.
So the claim is judged by three certificates, each with a tolerance built from the problem's scale
(``max|S_lam|``, ``beta``, ``log(1/p_min)``, ``X n``) and never by a bare solver distance:

1. ``first_order_certificate`` (exact, no solver): on each simplex the objective
   ``<pi, S> - beta KL(pi || pi_ref)`` is strictly concave, so ``pi`` with full support is *the*
   maximiser iff ``g = S - beta log(pi / pi_ref)`` is constant in ``y``. An entry that underflows to 0
   must have ``S_y - beta log(tiny / pi_ref_y) <= max g``. The residual ``max g - min g`` is judged
   against the float64 rounding level of ``g``, and the rows' sums against that of ``exp(z - lse z)``.
2. ``value_certificate``: ``L(pi, lam) - L(pi_ref_solve, lam)``. The solver's point (cleaned onto the
   simplex) is a *feasible* policy, so ``L(pi_solve) <= max L`` however inaccurate the solve: a value
   below it by more than the rounding of L refutes, whatever the solver's accuracy.
3. ``reference_accuracy`` + ``distance_judgement``: the distance to the solver's point is judged only
   where the solver certifies its own accuracy. Clarabel at status "optimal" certifies a duality
   gap ``eps_gap``; with ``eps = (value_solver - L(pi_solve))_+ + eps_gap + feasibility slack`` and the
   beta-strong concavity of L in ``||.||_1`` per row weighted by rho (Pinsker), the solver's row x is
   within ``sqrt(2 eps / (beta rho_x))`` of the maximiser. A row is judged when that bound is below
   BEST_RESPONSE_CVXPY_ATOL; otherwise "the reference is not accurate enough to decide".

``mp_replay_first_order`` and ``mp_replay_value_gap`` replay a failure at 50 digits (mpmath) from the
raw arrays, apart from the float64 code under suspicion: the witness of a REFUTED.
"""
from __future__ import annotations

import functools

import numpy as np

from opdcheck.problem import Problem
from opdcheck.tolerances import (
    BEST_RESPONSE_CVXPY_ATOL,
    CERT_FOC_ROUNDING_FACTOR,
    CERT_REPLAY_DIGITS,
    CERT_VALUE_ROUNDING_FACTOR,
)

__all__ = ["first_order_certificate", "value_certificate", "reference_accuracy", "distance_judgement",
           "mp_replay_first_order", "mp_replay_value_gap", "lagrangian_rounding", "weak_duality_bound",
           "simplex_slack"]

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


def first_order_certificate(problem: Problem, lam, pi) -> dict:
    """First-order optimality of ``pi`` for ``max L(., lam)`` on each simplex (exact; no solver).

    Returns ``residual`` (max over rows of ``max_y g - min_y g`` on the support ``pi >= tiny``, plus the
    excess of underflowed entries above ``max g``), ``gate`` (its float64 rounding level:
    CERT_FOC_ROUNDING_FACTOR * eps * (max|S| + beta max|log pi| + beta max|log pi_ref|)), ``worst_row``,
    ``log_ratio_bound`` (``2 residual / beta``: a bound on ``|log(pi / pi_lam)|``), ``ok``.
    """
    lam = np.asarray(lam, dtype=np.float64)
    pi = np.asarray(pi, dtype=np.float64)
    beta = float(problem.beta)
    S = problem.scores(lam)
    pos = pi >= _TINY
    logpi = np.log(np.where(pos, pi, 1.0))
    g = S - beta * (logpi - problem.log_pi_ref)
    g_hi = np.where(pos, g, -np.inf).max(axis=1)
    g_lo = np.where(pos, g, np.inf).min(axis=1)
    spread = g_hi - g_lo
    spread = np.where(np.isfinite(spread), spread, np.inf)  # a row with no support is not a policy
    # an underflowed entry is consistent iff its stationary value would be below tiny
    g_under = S - beta * (np.log(_TINY) - problem.log_pi_ref)
    excess = np.where(~pos, g_under - g_hi[:, None], -np.inf).max(axis=1)
    row_res = np.maximum(spread, np.maximum(excess, 0.0))
    size = (float(np.max(np.abs(S))) + beta * float(np.max(np.abs(np.where(pos, logpi, 0.0))))
            + beta * float(np.max(-problem.log_pi_ref)))
    gate = CERT_FOC_ROUNDING_FACTOR * _EPS * max(size, np.finfo(float).tiny)
    worst = int(np.argmax(row_res))
    res = float(row_res[worst])
    # pi must be a policy: rows on the simplex to the rounding of exp(z - lse(z)), ~eps (max|z| + log n)
    z_size = float(np.max(np.abs(S))) / beta + float(np.max(-problem.log_pi_ref)) + np.log(problem.n)
    sum_err = float(np.max(np.abs(pi.sum(axis=1) - 1.0)))
    sum_gate = CERT_FOC_ROUNDING_FACTOR * _EPS * z_size
    return {"residual": res, "gate": float(gate), "worst_row": worst, "log_ratio_bound": 2.0 * res / beta,
            "row_sum_error": sum_err, "row_sum_gate": float(sum_gate),
            "full_support": bool(pos.all()), "ok": bool(res <= gate and sum_err <= sum_gate and np.all(pi >= 0))}


def lagrangian_rounding(problem: Problem, lam) -> float:
    """Rounding level of a float64 ``L(pi, lam)``: a sum of X n terms of size <= max|S| + beta log-ratio."""
    S = problem.scores(np.asarray(lam, dtype=np.float64))
    size = float(np.max(np.abs(S))) + float(problem.beta) * (float(np.max(-problem.log_pi_ref)) + np.log(problem.n))
    return CERT_VALUE_ROUNDING_FACTOR * _EPS * size * (1.0 + np.log2(problem.X * problem.n))


def simplex_slack(problem: Problem, lam, pi) -> float:
    """How much L can change by putting ``pi``'s rows back on the simplex: ``sum_x rho_x |sum_y pi - 1| m_x``
    with ``m_x = max_y |S_lam[x]| + beta (log(1/p_min) + 1)`` (a bound on a row's value and on its
    normaliser). eq. (3) in float64 is a policy only to ~eps max|logit| (row sums off by 2.7e-11 at
    |S_lam| / beta = 6e5, measured), so values are compared up to this slack."""
    S = problem.scores(np.asarray(lam, dtype=np.float64))
    m = np.max(np.abs(S), axis=1) + float(problem.beta) * (float(np.max(-problem.log_pi_ref)) + 1.0)
    return float(np.dot(problem.rho, np.abs(np.asarray(pi).sum(axis=1) - 1.0) * m))


def value_certificate(problem: Problem, lam, pi, pi_solver) -> dict:
    """``gap = L(pi) - L(pi_solver)``; ``ok`` unless ``gap < -gate`` (then ``pi`` is not the maximiser:
    ``pi_solver`` is a feasible policy with a larger value, whatever the solver's accuracy).

    ``gate`` = rounding of L + the simplex slack of both points (``simplex_slack``): neither point is
    exactly on the simplex in float64.
    """
    gate = lagrangian_rounding(problem, lam) + simplex_slack(problem, lam, pi) + simplex_slack(problem, lam, pi_solver)
    gap = problem.lagrangian(pi, lam) - problem.lagrangian(pi_solver, lam)
    return {"value_gap": float(gap), "gate": float(gate), "ok": bool(gap >= -gate)}


def weak_duality_bound(problem: Problem, lam, nu) -> float:
    """An upper bound on ``max_pi L(pi, lam)`` from any row multipliers ``nu`` (weak duality).

    Dualising only ``sum_y q[x, y] = rho[x]`` in the joint variables ``q = rho pi`` (``m = rho pi_ref``)::

        max_q  <S, q> - beta sum q log(q / m)  <=  sum_x nu_x rho_x + beta sum_xy m_xy exp((S_xy - nu_x)/beta - 1)

    (each scalar ``max_{q >= 0} a q - beta q log(q/m) = beta m exp(a/beta - 1)``). Valid for every nu, so
    the solver's multipliers give a certified bound without trusting them; inf if it overflows.
    """
    beta = float(problem.beta)
    S = problem.scores(np.asarray(lam, dtype=np.float64))
    nu = np.asarray(nu, dtype=np.float64).reshape(-1)
    with np.errstate(over="ignore"):
        expo = (S - nu[:, None]) / beta - 1.0 + np.log(problem.rho)[:, None] + problem.log_pi_ref
        bound = float(np.dot(nu, problem.rho) + beta * np.sum(np.exp(expo)))
    return bound if np.isfinite(bound) else float("inf")


def reference_accuracy(problem: Problem, lam, pi_solver, solver_info: dict) -> dict:
    """How close the solver's point is to the maximiser, from a duality-gap certificate.

    ``eps = U(nu) - L(pi_solver) + rounding`` bounds ``max L - L(pi_solver)``, where ``U`` is
    :func:`weak_duality_bound` at the solver's row multipliers (both signs tried: cvxpy's sign convention
    for equality duals does not matter, each is a valid bound) and ``pi_solver`` is the cleaned, exactly
    feasible point. By Pinsker, ``sum_x rho_x (beta/2) ||pi_solver[x] - pi*[x]||_1^2 <= eps``, so row x is
    within ``row_bound[x] = sqrt(2 eps / (beta rho_x))`` of the maximiser (1-norm, hence max-norm).
    """
    nu = solver_info.get("row_multipliers")
    L_c = problem.lagrangian(pi_solver, lam)
    if nu is None:
        eps = float("inf")
    else:
        U = min(weak_duality_bound(problem, lam, nu), weak_duality_bound(problem, lam, -np.asarray(nu)))
        eps = max(0.0, U - L_c) + lagrangian_rounding(problem, lam)
    row_bound = np.sqrt(2.0 * eps / (float(problem.beta) * problem.rho))
    return {"eps": float(eps), "row_bound": row_bound, "best_row_bound": float(row_bound.min()),
            "judged_rows": int(np.sum(row_bound <= BEST_RESPONSE_CVXPY_ATOL))}


def distance_judgement(problem: Problem, pi, pi_solver, accuracy: dict) -> dict:
    """``|pi - pi_solver|`` per row, judged only on rows the solver certifies to BEST_RESPONSE_CVXPY_ATOL.

    On a judged row, agreement means ``max_y |pi - pi_solver| <= BEST_RESPONSE_CVXPY_ATOL + row_bound``.
    ``judged`` is False when no row is judged (the reference is not accurate enough to decide).
    """
    row_err = np.max(np.abs(np.asarray(pi) - np.asarray(pi_solver)), axis=1)
    rows = accuracy["row_bound"] <= BEST_RESPONSE_CVXPY_ATOL
    excess = row_err - (BEST_RESPONSE_CVXPY_ATOL + accuracy["row_bound"])
    judged = bool(rows.any())
    return {"pi_diff": float(row_err.max()), "pi_diff_judged_rows": float(row_err[rows].max()) if judged else float("nan"),
            "judged": judged, "judged_rows": int(rows.sum()),
            "ok": bool(np.all(excess[rows] <= 0)) if judged else None}


# ------------------------------------------------------------------ independent replay (witness)
def _at_replay_digits(fn):
    """Run ``fn`` at CERT_REPLAY_DIGITS digits and restore the caller's mpmath precision afterwards.

    Setting ``mpmath.mp.dps`` globally would leak into every later computation of the process, so a check's numbers
    would depend on which checks ran before it in the same process (and so on the executor).
    """
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import mpmath

        with mpmath.workdps(CERT_REPLAY_DIGITS):
            return fn(*args, **kwargs)
    return wrapped


@_at_replay_digits
def mp_replay_first_order(problem: Problem, lam, pi, row: int) -> float:
    """The first-order residual of row ``row`` recomputed at CERT_REPLAY_DIGITS digits from the raw data.

    ``S_y = sum_k w_k R_soft[k, x, y] + sum_j lam_j R_hard[j, x, y]``, ``g_y = S_y - beta log(pi_y / pi_ref_y)``
    on entries ``pi_y >= tiny``; returns ``max g - min g`` (as a float). Uses no opdcheck numerics.
    """
    import mpmath as mp

    lam = [mp.mpf(float(v)) for v in np.asarray(lam, dtype=np.float64)]
    beta = mp.mpf(float(problem.beta))
    gs = []
    for y in range(problem.n):
        p = float(pi[row, y])
        if p < _TINY:
            continue
        S = mp.fsum(mp.mpf(float(problem.w[k])) * mp.mpf(float(problem.R_soft[k, row, y]))
                    for k in range(problem.R_soft.shape[0]))
        S += mp.fsum(lam[j] * mp.mpf(float(problem.R_hard[j, row, y])) for j in range(problem.h))
        gs.append(S - beta * (mp.log(mp.mpf(p)) - mp.log(mp.mpf(float(problem.pi_ref[row, y])))))
    return float(max(gs) - min(gs)) if gs else float("inf")


@_at_replay_digits
def mp_replay_value_gap(problem: Problem, lam, pi, pi_solver) -> float:
    """``L(pi, lam) - L(pi_solver, lam)`` at CERT_REPLAY_DIGITS digits from the raw data (0 log 0 = 0)."""
    import mpmath as mp

    lam = [mp.mpf(float(v)) for v in np.asarray(lam, dtype=np.float64)]
    beta = mp.mpf(float(problem.beta))
    total = mp.mpf(0)
    for x in range(problem.X):
        rho = mp.mpf(float(problem.rho[x]))
        for y in range(problem.n):
            S = mp.fsum(mp.mpf(float(problem.w[k])) * mp.mpf(float(problem.R_soft[k, x, y]))
                        for k in range(problem.R_soft.shape[0]))
            S += mp.fsum(lam[j] * mp.mpf(float(problem.R_hard[j, x, y])) for j in range(problem.h))
            ref = mp.mpf(float(problem.pi_ref[x, y]))
            for sign, table in ((1, pi), (-1, pi_solver)):
                p = mp.mpf(float(table[x, y]))
                term = p * S - (beta * p * mp.log(p / ref) if p > 0 else 0)
                total += sign * rho * term
    return float(total)
