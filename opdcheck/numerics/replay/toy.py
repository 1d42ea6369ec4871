"""The paper's toy (Fig. 1, §3.2.2) replayed at 50 digits from its definition, apart from ``kernels/``.

One prompt, two responses, ``R_s = (1, 0)``, ``R_h = (-0.7, 0.3)``, ``pi_ref(y0) = 0.3``, ``beta = 0.05``;
the state is the logit ``u = log pi(y0) - log pi(y1)`` and ``lam``. The KL-proximal step of (4)/(6) is
solved as its optimisation problem (``solve.kl_prox_argmax``: Newton on the KKT conditions), the dual
step of (5)/(7) as ``argmin_{lam >= 0}`` of its objective (``solve.quadratic_prox_argmin``).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import mpmath
import numpy as np

from opdcheck.numerics.replay.solve import kl_prox_argmax, quadratic_prox_argmin
from opdcheck.numerics.replay.witness import Witness, _issue
from opdcheck.tolerances import ALG1_REPLAY_FLOOR, ALG1_REPLAY_RTOL, LAST_ITERATE_CONVERGED_RTOL

__all__ = ["replay_toy", "replay_agreement", "replay_toy_convergence"]


def replay_toy(method: str, eta_th, eta_lam, dual_step: str, T: int, u0=None, dps: int = 50) -> list:
    """Independent replay of the toy in mpmath from its definition (no kernels code).

    ``u0``: the start logit; None for ``theta = log(3/7)`` (``pi = pi_ref``'s complement logit), computed here at
    ``dps`` digits like everything else, whatever the caller's precision.
    Returns the error ``KL(pi* || pi_t) + (lam_t - 1)^2`` for ``t = 0..T`` (mpf), ``pi* = pi_ref``, ``lam* = 1``.
    """
    if method not in ("opd", "simultaneous-pd", "finite-step-pd"):
        raise ValueError(f"replay_toy: method {method!r}; choose opd, simultaneous-pd, finite-step-pd.")
    with mpmath.workdps(dps):
        mp = mpmath.mpf
        beta = mp(1) / 20
        eta = mp(Fraction(eta_th).numerator) / Fraction(eta_th).denominator
        el = mp(Fraction(eta_lam).numerator) / Fraction(eta_lam).denominator
        kappa = el if dual_step == "prox" else el / 2  # eq. (5)'s weight, or Algorithm 3's step
        p_star = mp(3) / 10
        log_ref = [mpmath.log(p_star), mpmath.log(1 - p_star)]

        def logits_to_log(u):
            return [-mpmath.log(1 + mpmath.exp(-u)), -mpmath.log(1 + mpmath.exp(u))]

        def P(u, lam):  # argmax_pi <pi, R_s + lam R_h> - eta KL(pi || pi_u) - beta KL(pi || pi_ref)
            S = [1 - lam * mp("0.7"), lam * mp("0.3")]
            lp = kl_prox_argmax(S, [(eta, logits_to_log(u)), (beta, log_ref)])
            return lp[0] - lp[1]

        def pi0(u):
            return 1 / (1 + mpmath.exp(-u))

        def c(u):
            return -mp("0.7") * pi0(u) + mp("0.3") * (1 - pi0(u))

        def Dual(lam, cv):
            return quadratic_prox_argmin(cv, lam, kappa)

        def err(u, lam):
            p = pi0(u)
            kl = p_star * mpmath.log(p_star / p) + (1 - p_star) * mpmath.log((1 - p_star) / (1 - p))
            return kl + (lam - 1) ** 2

        u = mpmath.log(mp(3) / 7) if u0 is None else mp(u0)
        lam = mp(0)
        u_prev, lam_prev = u, lam
        out = [err(u, lam)]
        for _ in range(T):
            if method == "opd":
                u_pred = P(u, lam_prev)
                lam_pred = Dual(lam, c(u_prev))
                u, lam = P(u, lam_pred), Dual(lam, c(u_pred))
                u_prev, lam_prev = u_pred, lam_pred
            elif method == "simultaneous-pd":
                u, lam = P(u, lam), Dual(lam, c(u))
            else:
                u = P(u, lam)
                lam = Dual(lam, c(u))
            out.append(err(u, lam))
        return out


def replay_agreement(replayed: list, measured: np.ndarray) -> tuple[bool, float]:
    """Max relative difference on errors above the float floor; agreement within ALG1_REPLAY_RTOL."""
    r = np.array([float(v) for v in replayed])
    m = np.asarray(measured, dtype=float)
    n = min(r.size, m.size)
    keep = (r[:n] > ALG1_REPLAY_FLOOR)
    if not np.any(keep):
        return False, float("nan")
    rel = float(np.max(np.abs(r[:n][keep] - m[:n][keep]) / r[:n][keep]))
    return rel <= ALG1_REPLAY_RTOL, rel


def replay_converges(errors: Sequence) -> bool:
    """A replayed run converges: its final error is at most LAST_ITERATE_CONVERGED_RTOL of its largest error
    (the replay's own criterion, kept apart from the float code's)."""
    return bool(float(errors[-1]) <= LAST_ITERATE_CONVERGED_RTOL * float(max(errors)))


def replay_toy_convergence(method: str, dual_step: str, runs: Sequence[tuple], certificate: Any) -> Witness:
    """Witness that ``method`` converges on the toy: each run ``(eta_th, eta_lam, measured_errors, u0)`` (``u0``
    None: the start ``theta = log(3/7)``, i.e. ``pi = pi_ref``'s complement logit) is replayed at 50 digits;
    ``confirms``: every replay converges and the exact certificate (Schur-Cohn over QQ) is stable;
    ``agrees``: the replayed errors match the measured ones (``ALG1_REPLAY_RTOL`` above ``ALG1_REPLAY_FLOOR``)."""
    reps, agreements = [], []
    for eta_th, eta_lam, measured, u0 in runs:
        rp = replay_toy(method, eta_th, eta_lam, dual_step, np.asarray(measured).size - 1, u0)
        reps.append(rp)
        agreements.append(replay_agreement(rp, measured))
    converges = all(replay_converges(rp) for rp in reps)
    return _issue(f"{method} ({dual_step}) converges on the toy", "mpmath 50-digit replay of the toy from its definition "
                  "((4)-(7) solved as optimisation problems) + exact Schur-Cohn certificate of the linearised map",
                  confirms=bool(converges and certificate.stable), agrees=all(a for a, _ in agreements),
                  replay_values={"final error": [float(rp[-1]) for rp in reps]},
                  code_values={"final error": [float(np.asarray(m)[-1]) for _, _, m, _ in runs]},
                  disagreement=f"max relative difference {max(d for _, d in agreements):.2e}",
                  details={"certified_radius": [str(certificate.lo), str(certificate.hi)],
                           "replay_max_rel_diff": [d for _, d in agreements], "tolerance": ALG1_REPLAY_RTOL})
