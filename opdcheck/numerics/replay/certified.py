"""Witnesses that rest on exact or 50-digit certificates computed apart from the float code.

* :func:`replay_best_response_certificate` (``eq3-best-response``): a failed first-order, row-sum or value
  certificate of a claimed best response, recomputed at 50 digits from the raw arrays.
* :func:`replay_dual_hessian` (``dual-function``): the Hessian of ``D`` by second differences of
  ``D(lam) = max_pi L(pi, lam)`` at 50 digits (best responses by Newton on their KKT conditions),
  against the closed-form Hessian the code uses and its float64 finite differences.
* :func:`judge_rate_certificates` (the rate checks): exact Schur-Cohn enclosures over QQ of a linearised
  update map (``theory.linearization``, exact arithmetic) judged against the claim and against the
  rates the float code measured.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import mpmath
import numpy as np

from opdcheck.numerics.replay.core import mp_dual_value, mp_problem
from opdcheck.numerics.replay.witness import Witness, _issue, _not_run
from opdcheck.tolerances import CERT_REPLAY_DIGITS, REPLAY_DPS

__all__ = ["replay_best_response_certificate", "replay_dual_hessian", "judge_rate_certificates"]


def replay_best_response_certificate(problem, lam, r: dict) -> Witness:
    """Replay a failed certificate of a claimed best response at 50 digits from the raw arrays.

    ``r`` is the float64 judgement (``foc_*``, ``row_sum_*``, ``value_*`` and the two policies).
    ``confirms``: the replayed residual (or value gap) is beyond its gate; ``agrees``: it matches what the
    float64 certificate reported (to the gate plus 1e-6 relative).
    """
    from opdcheck.numerics.certificates import mp_replay_first_order, mp_replay_value_gap

    method = f"mpmath, {CERT_REPLAY_DIGITS} digits, from R_soft, w, R_hard, lam, pi_ref, pi"
    if not r["foc_ok"] and r["row_sum_error"] > r["row_sum_gate"]:  # not a policy at all
        with mpmath.workdps(CERT_REPLAY_DIGITS):
            mp_err = float(max(abs(mpmath.fsum(mpmath.mpf(float(v)) for v in row) - 1) for row in r["_pi_formula"]))
        cert, rep, code, gate = "row sums of the formula's policy", mp_err, r["row_sum_error"], r["row_sum_gate"]
        confirms = mp_err > gate
    elif not r["foc_ok"]:
        rep = mp_replay_first_order(problem, lam, r["_pi_formula"], r["foc_worst_row"])
        cert, code, gate = "first-order residual", r["foc_residual"], r["foc_gate"]
        confirms = rep > gate
    elif not r["value_ok"]:
        rep = mp_replay_value_gap(problem, lam, r["_pi_formula"], r["_pi_solver"])
        cert, code, gate = "value gap", r["value_gap"], r["value_gate"]
        confirms = rep < -gate
    else:  # only the distance failed: the formula is then certified stationary, so nothing to confirm
        rep = mp_replay_first_order(problem, lam, r["_pi_formula"], r["foc_worst_row"])
        cert, code, gate = "distance (the formula's own first-order residual replayed)", r["foc_residual"], r["foc_gate"]
        confirms = rep > gate
    agrees = bool(abs(float(rep) - float(code)) <= gate + 1e-6 * abs(float(rep)))
    return _issue(f"best-response certificate: {cert}", method, confirms=bool(confirms), agrees=agrees,
                  replay_values={"value": float(rep)}, code_values={"value": float(code)},
                  disagreement=f"{cert}: replay {float(rep):.6g} vs float64 {float(code):.6g}",
                  details={"certificate": cert, "gate": float(gate), "row": r.get("foc_worst_row")})


def replay_dual_hessian(problem, lam, hess_formula: np.ndarray, hess_fd: np.ndarray, *, rtol: float,
                        fd_error_estimate: float, step: str = "1e-12") -> Witness:
    """Second differences of ``D = max_pi L`` at 50 digits vs the code's Hessian formula and its float FD.

    ``confirms``: the formula misses the replayed Hessian by more than ``rtol`` (relative to max(1, |H|));
    ``agrees``: the code's float64 finite differences match the replay to ``rtol + 2 fd_error_estimate``.
    """
    P = mp_problem(problem)
    h = P.h
    with mpmath.workdps(REPLAY_DPS):
        lam_mp = [mpmath.mpf(float(v)) for v in lam]
        s = mpmath.mpf(step)
        H = np.empty((h, h))
        for j in range(h):
            for k in range(h):
                def at(dj, dk):
                    v = list(lam_mp)
                    v[j] += dj * s
                    v[k] += dk * s
                    return mp_dual_value(P, v)
                H[j, k] = float((at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * s * s))
    err = float(np.max(np.abs(np.asarray(hess_formula) - H) / np.maximum(1.0, np.abs(H))))
    fd_vs = float(np.max(np.abs(np.asarray(hess_fd) - H) / np.maximum(1.0, np.abs(H))))
    agrees = bool(fd_vs <= rtol + 2 * fd_error_estimate)
    return _issue("Hessian of the dual function D", f"mpmath, {REPLAY_DPS} digits: second differences of D = max_pi L "
                  "(best responses by Newton on their KKT conditions) from the raw arrays",
                  confirms=bool(err > rtol), agrees=agrees,
                  replay_values={"hess": H.tolist()}, code_values={"hess formula": np.asarray(hess_formula).tolist(),
                                                                    "hess float64 FD": np.asarray(hess_fd).tolist()},
                  disagreement=f"float64 FD Hessian vs mpmath: {fd_vs:.1e}",
                  details={"lam_unit": [float(v) for v in lam], "formula_rel_err_vs_mpmath": err, "tolerance": rtol})


_CLAIMS = ("stable", "not-stable", "unstable", "rate-above")


def judge_rate_certificates(subject: str, certificates: Sequence[Any], *, claim: str,
                            code_rates: Sequence[float] | None = None, rate_slack: float | Sequence[float] = 0.0,
                            claimed_rate: Any = None, claim_atol: float = 0.0, method: str,
                            instance: str = "") -> Witness:
    """Judge exact Schur-Cohn certificates (``theory.linearization``: ``RateCertificate`` / ``ModeCertificate``,
    exact arithmetic over QQ, independent of ``kernels/``) against a claim and against the measured rates.

    ``claim``: "stable" / "not-stable" / "unstable" (every certificate), or "rate-above" (every certified
    ``r^2`` lower end exceeds ``claimed_rate + claim_atol``). ``agrees``: each code-measured rate lies in its
    certificate's ``[lo^2, hi^2]`` widened by ``rate_slack`` (a nan rate disagrees); no rates -> nothing to
    compare, agrees.
    """
    if claim not in _CLAIMS:
        raise ValueError(f"judge_rate_certificates: claim = {claim!r}; choose one of {_CLAIMS}.")
    certs = list(certificates)
    if not certs or any(c is None for c in certs):
        return _not_run(subject, method, "no exact certificate to judge (instance could not be rebuilt)")
    for c in certs:
        if not all(hasattr(c, a) for a in ("lo", "hi", "stable")):
            raise TypeError(f"judge_rate_certificates: {type(c).__name__} is not an exact rate certificate.")
    lo2 = [Fraction(c.lo) ** 2 for c in certs]
    hi2 = [Fraction(c.hi) ** 2 for c in certs]
    if claim == "stable":
        confirms = all(c.stable for c in certs)
    elif claim == "not-stable":
        confirms = all(not c.stable for c in certs)
    elif claim == "unstable":
        confirms = all(c.unstable for c in certs)
    else:
        q = Fraction(claimed_rate).limit_denominator(10**15) if not isinstance(claimed_rate, Fraction) else claimed_rate
        confirms = all(float(l2) > float(q) + claim_atol for l2 in lo2)
    bad = []
    if code_rates is not None:
        slacks = list(rate_slack) if isinstance(rate_slack, (list, tuple)) else [rate_slack] * len(certs)
        for i, (m, l2, u2, sl) in enumerate(zip(code_rates, lo2, hi2, slacks)):
            if not (np.isfinite(m) and float(l2) - sl <= m <= float(u2) + sl):
                bad.append(f"#{i}: measured {m:.6g} vs certified r^2 in [{float(l2):.6g}, {float(u2):.6g}] (+- {sl:.1e})")
    return _issue(subject, method, confirms=bool(confirms), agrees=not bad,
                  replay_values={"certified r^2 lo": [float(v) for v in lo2], "certified r^2 hi": [float(v) for v in hi2]},
                  code_values={"measured rate": [float(m) for m in code_rates]} if code_rates is not None else {},
                  disagreement="; ".join(bad),
                  details={"claim": claim, **({"claimed rate": float(claimed_rate)} if claimed_rate is not None else {}),
                           **({"instance": instance} if instance else {})})


def judge_rate_enclosure(subject: str, rate_lo: Fraction, rate_hi: Fraction, *, claimed_rate: Any, code_rate: float,
                         rate_slack: float, method: str, instance: str = "") -> Witness:
    """An exact enclosure ``[rate_lo, rate_hi]`` of a certified error rate r^2 (Fractions from a Schur-Cohn
    certificate over QQ) judged against ``claimed_rate`` (confirms: ``rate_lo > claimed_rate``) and the
    float code's measured rate (agrees: inside the enclosure widened by ``rate_slack``)."""
    if not (isinstance(rate_lo, Fraction) and isinstance(rate_hi, Fraction)):
        raise TypeError("judge_rate_enclosure: rate_lo and rate_hi must be exact Fractions from a certificate.")
    q = claimed_rate if isinstance(claimed_rate, Fraction) else Fraction(claimed_rate).limit_denominator(10**15)
    agrees = bool(np.isfinite(code_rate) and float(rate_lo) - rate_slack <= code_rate <= float(rate_hi) + rate_slack)
    return _issue(subject, method, confirms=bool(rate_lo > q), agrees=agrees,
                  replay_values={"rate": f"[{float(rate_lo):.7f}, {float(rate_hi):.7f}]"},
                  code_values={"rate": float(code_rate)},
                  disagreement=f"measured {code_rate:.7g} outside the certified [{float(rate_lo):.7g}, {float(rate_hi):.7g}]",
                  details={"claimed rate": float(q), **({"instance": instance} if instance else {})})
