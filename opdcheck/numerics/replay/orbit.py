"""The multiplier trajectory of a step-size-map run, replayed at 50 digits apart from ``kernels/``.

Why: where a run from ``(pi_ref, lam = 0)`` does not converge although the saddle point is certified
attracting, the report says where the run went (a periodic orbit, the projection active). That statement
must not rest on float64 rounding or on a bug in the driver, so the same steps are recomputed here from the
problem's data only (``replay.core.mp_problem``; no import of ``opdcheck.kernels`` or of a closed form):

* primal: the KL-proximal argmax of eqs. (4)/(6), ``max_pi <pi, S_lam> - eta_th KL(pi||pi_old) - beta KL(pi||pi_ref)``,
  solved by Newton on its KKT conditions (``solve.kl_prox_argmax``), not by its closed form;
* dual (eqs. (5)/(7), ``"prox"``): ``argmin_{lam >= 0} <lam, c(pi)> + eta_lam ||lam - lam_old||^2`` by a
  bracketing root-finder on its derivative (``solve.quadratic_prox_argmin``);
* orderings (``kernels/framework.py`` names): ``finite-step-pd`` / ``multi-shot`` (sequential: K primal steps
  at the old ``lam``, then the dual step on the new policy), ``simultaneous-pd`` (both from the same state),
  ``opd`` (Algorithm 2, eqs. (4)-(7), t = 0 convention ``pi_{-1} = pi_hat_0``, ``lam_{-1} = lam_hat_0``).
"""
from __future__ import annotations

import mpmath

from opdcheck.numerics.replay.core import mp_problem
from opdcheck.numerics.replay.solve import kl_prox_argmax, quadratic_prox_argmin
from opdcheck.tolerances import REPLAY_DPS

__all__ = ["replay_multipliers"]


def replay_multipliers(problem, method: str, eta_th: float, eta_lam: float, T: int, K: int = 1) -> list[list]:
    """``lam_hat_t`` for ``t = 0..T`` (lists of ``mpmath.mpf``) of ``method`` from ``pi_ref``, ``lam = 0``."""
    if method not in ("finite-step-pd", "multi-shot", "simultaneous-pd", "opd"):
        raise ValueError(f"method: {method!r}; choose 'finite-step-pd', 'multi-shot', 'simultaneous-pd' or 'opd'.")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"K: {K!r}; pass an integer >= 1 (inner primal steps of a sequential method).")
    with mpmath.workdps(REPLAY_DPS):
        P = mp_problem(problem)
        eta, el = mpmath.mpf(float(eta_th)), mpmath.mpf(float(eta_lam))

        def primal(log_pi, lam):
            out = []
            for x in range(P.X):
                S = [P.r[x][y] + mpmath.fsum(lam[j] * P.R[j][x][y] for j in range(P.h)) for y in range(P.n)]
                out.append(kl_prox_argmax(S, [(eta, log_pi[x]), (P.beta, P.log_ref[x])]))
            return out

        def cons(log_pi):
            return [mpmath.fsum(P.rho[x] * mpmath.fsum(mpmath.exp(log_pi[x][y]) * P.R[j][x][y] for y in range(P.n))
                                for x in range(P.X)) for j in range(P.h)]

        def dual(lam, c):
            return [quadratic_prox_argmin(c[j], lam[j], el) for j in range(P.h)]

        log_pi = [list(row) for row in P.log_ref]
        lam = [mpmath.mpf(0)] * P.h
        lam_prev, c_prev = lam, cons(log_pi)  # t = 0: pi_{-1} = pi_hat_0, lam_{-1} = lam_hat_0
        lams = [lam]
        for _ in range(int(T)):
            if method == "opd":
                log_pred, lam_pred = primal(log_pi, lam_prev), dual(lam, c_prev)      # (4), (5)
                c_pred = cons(log_pred)
                log_pi, lam = primal(log_pi, lam_pred), dual(lam, c_pred)            # (6), (7)
                lam_prev, c_prev = lam_pred, c_pred
            elif method == "simultaneous-pd":
                log_pi, lam = primal(log_pi, lam), dual(lam, cons(log_pi))
            else:
                for _k in range(K if method == "multi-shot" else 1):
                    log_pi = primal(log_pi, lam)
                lam = dual(lam, cons(log_pi))
            lams.append(lam)
        return lams
