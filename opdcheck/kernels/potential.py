"""Numeric Theorem-3.4 quantities, exactly as the proof of Thm 3.4 (Appendix C) defines them.

Notation: ``h = |H|``, ``R = R_max``, ``K = h R^2 / C`` (the paper writes ``|H| R_max^2 / C``).

Potential (proof of Thm 3.4, the display defining Phi_{t+1} as the LHS of eq. (45))::

    Phi_t = a1 E KL(pi* || pi_hat_t) + a2 E KL(pi_hat_t || pi_{t-1})
          + a3 ||lam* - lam_hat_t||^2 + a4 ||lam_hat_t - lam_{t-1}||^2
    a1 = eta_th + beta
    a2 = eta_th + beta - C
    a3 = eta_lam + (eta_lam - K)(1 - delta)
    a4 = eta_lam - h R^2 (1/(2 C1) + 1/(2 C2)) + (eta_lam - K)(1 - 1/delta)(1 - theta)

Right-hand side multipliers of eq. (45)::

    b1 = eta_th,  b2 = C2,  b3 = eta_lam - (eta_lam - K)(1 - 1/delta)(1 - 1/theta),  b4 = K
    (and the dropped term -(eta_th - C1) E KL(pi_t || pi_hat_t))

Contraction factor (the display defining rho after eq. (45)): ``rho = max(b1/a1, b2/a2, b3/a3, b4/a4)``.
Positivity requirements (the two lists "multipliers of all terms of LHS/RHS of eq. (45) are
positive"): ``a1..a4 > 0``, ``b1..b4 > 0``, ``eta_th - C1 > 0``.

At ``eta_th = eta_lam = 3 sqrt(h) R``, ``C1 = C2 = C = sqrt(h) R``, ``delta = theta = 3/4``:

* eq. (46): ``rho = max(3 sqrt(h)R/(3 sqrt(h)R + beta), sqrt(h)R/(2 sqrt(h)R + beta), 50/63)``
  (the fourth ratio b4/a4 = 6/11 is omitted by (46); it never attains the max since 6/11 < 50/63);
* eq. (47): ``Phi_1 = (3 sqrt(h)R + beta) E KL(pi*||pi_hat_1) + (2 sqrt(h)R + beta) E KL(pi_hat_1||pi_0)
  + 7/2 sqrt(h)R ||lam* - lam_hat_1||^2 + 11/6 sqrt(h)R ||lam_hat_1 - lam_0||^2``.

Final division. ``Phi_t >= min(a1, a3) (E KL(pi*||pi_hat_t) + ||lam* - lam_hat_t||^2)``, so the valid
consequence of ``Phi_t <= rho^(t-1) Phi_1`` is ``error_t <= rho^(t-1) Phi_1 / min(a1, a3)``
("denom_proof_min"; at delta = 3/4, ``a3 = 5/4 eta_lam - 1/4 sqrt(h)R``). The proof's last display
divides by ``max(a1, a3)`` ("denom_proof_max_printed"), and Thm 3.4 prints
``min(eta_th + beta, 7/4 eta_lam - 3/4 sqrt(h)R)`` ("denom_theorem"), which is ``min(a1, a3)`` at
``delta = 1/4``, outside the proof's ``1/2 < delta < 1``.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from opdcheck.problem import Problem

__all__ = ["thm34_constants", "potential", "phi1_general", "phi1_eq47", "rho_eq46", "thm34_bound",
           "thm34_log_bound"]


def rho_eq46(problem: Problem) -> float:
    """``rho`` of eq. (46): ``max(3C/(3C+beta), C/(2C+beta), 50/63)`` with ``C = sqrt(h) R_max``."""
    C = math.sqrt(problem.h) * problem.R_max
    b = problem.beta
    return max(3 * C / (3 * C + b), C / (2 * C + b), 50.0 / 63.0)


def thm34_constants(problem: Problem, eta_th: float, eta_lam: float, delta: float = 0.75,
                    theta: float = 0.75, *, C1: float | None = None, C2: float | None = None,
                    C: float | None = None, metrics: Mapping[str, np.ndarray] | None = None) -> dict:
    """Every constant of the proof of Thm 3.4 at the given steps (see the module docstring).

    ``C1 = C2 = C = sqrt(h) R_max`` unless given. Returns a dict with ``C, C1, C2, K`` (= h R^2/C),
    ``a`` (LHS multipliers a1..a4), ``b`` (RHS multipliers b1..b4), ``ratios`` (b_i/a_i),
    ``rho`` (general form), ``rho_eq46``, ``positivity`` (name -> (value, ok)), ``all_positive``,
    ``denom_theorem``, ``denom_proof_min``, ``denom_proof_max_printed``, and the inputs.
    A ratio with a non-positive denominator is reported as ``inf`` (rho then is not < 1).
    With ``metrics`` (a trajectory's, see ``kernels/trajectory.py``) also ``phi1_general`` and
    ``phi1_eq47`` (the latter meaningful at the theorem's steps only).
    """
    h, R, beta = problem.h, problem.R_max, problem.beta
    Cs = math.sqrt(h) * R
    C = Cs if C is None else float(C)
    C1 = Cs if C1 is None else float(C1)
    C2 = Cs if C2 is None else float(C2)
    if min(C, C1, C2) <= 0:
        raise ValueError(f"thm34_constants: C = {C}, C1 = {C1}, C2 = {C2}; the proof needs all > 0 "
                         "(R_max = 0 makes the problem trivial).")
    if not (0 < delta and 0 < theta):
        raise ValueError(f"thm34_constants: delta = {delta}, theta = {theta}; pass positive values "
                         "(the proof takes 1/2 < delta, theta < 1).")
    K = h * R * R / C
    a1 = eta_th + beta
    a2 = eta_th + beta - C
    a3 = eta_lam + (eta_lam - K) * (1 - delta)
    a4 = eta_lam - h * R * R * (1 / (2 * C1) + 1 / (2 * C2)) + (eta_lam - K) * (1 - 1 / delta) * (1 - theta)
    b1 = eta_th
    b2 = C2
    b3 = eta_lam - (eta_lam - K) * (1 - 1 / delta) * (1 - 1 / theta)
    b4 = K
    a = [a1, a2, a3, a4]
    b = [b1, b2, b3, b4]
    ratios = [bi / ai if ai > 0 else math.inf for ai, bi in zip(a, b)]
    positivity = {
        "eta_th+beta": (a1, a1 > 0), "eta_th+beta-C": (a2, a2 > 0), "a3 (lam* coefficient, LHS)": (a3, a3 > 0),
        "a4 (lam_hat-lam coefficient, LHS)": (a4, a4 > 0), "eta_th": (b1, b1 > 0), "C2": (b2, b2 > 0),
        "b3 (lam* coefficient, RHS)": (b3, b3 > 0), "h R^2 / C": (b4, b4 > 0), "eta_th-C1": (eta_th - C1, eta_th - C1 > 0),
    }
    out = {
        "eta_th": float(eta_th), "eta_lam": float(eta_lam), "beta": beta, "delta": delta, "theta": theta,
        "h": h, "R_max": R, "C": C, "C1": C1, "C2": C2, "K": K,
        "a": a, "b": b, "ratios": ratios, "rho": max(ratios), "rho_eq46": rho_eq46(problem),
        "positivity": positivity, "all_positive": all(ok for _, ok in positivity.values()),
        "denom_theorem": min(eta_th + beta, 1.75 * eta_lam - 0.75 * Cs),
        "denom_proof_min": min(a1, a3),
        "denom_proof_max_printed": max(a1, a3),
    }
    if metrics is not None:
        out["phi1_general"] = phi1_general(metrics, out)
        out["phi1_eq47"] = phi1_eq47(problem, metrics)
    return out


def potential(metrics: Mapping[str, np.ndarray], consts: Mapping) -> np.ndarray:
    """``Phi_t`` along a run from its metrics (``kl_star``, ``kl_hat_pred``, ``lam_err2``,
    ``lam_hat_pred2``; see ``kernels/trajectory.py``) and the multipliers ``consts["a"]``."""
    a1, a2, a3, a4 = consts["a"]
    return (a1 * np.asarray(metrics["kl_star"]) + a2 * np.asarray(metrics["kl_hat_pred"])
            + a3 * np.asarray(metrics["lam_err2"]) + a4 * np.asarray(metrics["lam_hat_pred2"]))


def phi1_general(metrics: Mapping[str, np.ndarray], consts: Mapping) -> float:
    """``Phi_1`` (the display after "Iteratively apply the recursion") = ``potential(...)[1]``."""
    return float(potential(metrics, consts)[1])


def phi1_eq47(problem: Problem, metrics: Mapping[str, np.ndarray]) -> float:
    """``Phi_1`` of eq. (47) (valid at ``eta_th = eta_lam = 3 sqrt(h) R_max``, delta = theta = 3/4)."""
    C = math.sqrt(problem.h) * problem.R_max
    b = problem.beta
    return float((3 * C + b) * metrics["kl_star"][1] + (2 * C + b) * metrics["kl_hat_pred"][1]
                 + 3.5 * C * metrics["lam_err2"][1] + (11.0 / 6.0) * C * metrics["lam_hat_pred2"][1])


def thm34_bound(n: int, rho: float, phi1: float, denom: float) -> np.ndarray:
    """The right-hand side of Thm 3.4, ``rho^(t-1) Phi_1 / denom``, for t = 0..n-1 (t = 0 included
    for plotting; the theorem's recursion starts at t = 1)."""
    t = np.arange(n, dtype=np.float64)
    return np.exp((t - 1.0) * math.log(rho)) * phi1 / denom


def thm34_log_bound(n: int, rho: float, phi1: float, denom: float) -> np.ndarray:
    """``log`` of :func:`thm34_bound` (no underflow for large t): ``(t-1) log rho + log Phi_1 - log denom``."""
    t = np.arange(n, dtype=np.float64)
    if phi1 <= 0 or denom <= 0:
        return np.full(n, -np.inf if phi1 == 0 and denom > 0 else np.nan)
    return (t - 1.0) * math.log(rho) + math.log(phi1) - math.log(denom)
