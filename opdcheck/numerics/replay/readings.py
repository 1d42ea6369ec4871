"""High-precision replays (mpmath, 50 digits) of readings of the paper other than opdcheck's derivation.

Part of the replay layer: imports nothing from ``kernels/`` nor the closed-form modules, solves every step as the
optimisation problem it is (``solve.py``), and reuses the 50-digit problem, saddle point, KL and Thm 3.4
constants of :mod:`opdcheck.numerics.replay.core`:

* :func:`mp_run_opd_printed` -- Algorithm 2 as a reader implements it from the *printed* closed form of
  eqs. (4)/(6) (proof of Thm 3.4, App. C): ``pi ∝ pi_hat^(eta/(eta+beta)) pi_ref^(beta/(eta+beta)) exp(S_lam)``,
  i.e. the score enters without the factor ``1/(eta+beta)`` that the maximiser of (4)/(6) has. That policy is the
  maximiser of (4)/(6) with the score multiplied by ``eta + beta``, which is how it is computed here (Newton on
  the KKT conditions), not by evaluating the printed formula;
* :func:`replay_printed_bound_violation` -- the Witness that this algorithm's error exceeds Thm 3.4's bound;
* :func:`mp_in_class_duality` / :func:`replay_in_class_duality` -- App. E's in-class duality gap by geometry, and
  its Witness against the float64 brute force.
"""
from __future__ import annotations

from typing import Callable, Sequence

import mpmath

from opdcheck.numerics.replay.core import (MPRun, _constraints, _scores, mp_kl_rows,
                                           replay_bound_violation)
from opdcheck.numerics.replay.solve import kl_prox_argmax, quadratic_prox_argmin
from opdcheck.numerics.replay.witness import Witness, _issue
from opdcheck.tolerances import IN_CLASS_AGREE_ATOL, IN_CLASS_GAP_ATOL, REPLAY_DPS

__all__ = ["mp_run_opd_printed", "replay_printed_bound_violation", "mp_in_class_duality", "replay_in_class_duality"]



def mp_run_opd_printed(P, saddle, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox") -> MPRun:
    """Eqs. (4)-(7) with the printed primal closed form ``pi ∝ pi_hat^(eta/(eta+beta)) pi_ref^(beta/(eta+beta))
    exp(S_lam)``, obtained as ``argmax_pi <pi, (eta+beta) S_lam> - eta KL(pi||pi_hat) - beta KL(pi||pi_ref)`` (Newton on
    its KKT conditions); dual ``argmin_{lam >= 0} <lam, c> + kappa ||lam - lam_hat||^2`` (``kappa = eta_lam`` prox,
    ``eta_lam / 2`` gradient); t = 0: ``pi_hat_0 = pi_ref``, ``lam_hat_0 = 0``, ``pi_{-1} = pi_hat_0``,
    ``lam_{-1} = lam_hat_0``."""
    if dual_step not in ("prox", "gradient"):
        raise ValueError(f"dual_step = {dual_step!r}; choose 'prox' or 'gradient'.")
    with mpmath.workdps(REPLAY_DPS):
        eta, el = mpmath.mpf(float(eta_th)), mpmath.mpf(float(eta_lam))
        kappa = el if dual_step == "prox" else el / 2
        w = eta + P.beta

        def primal(log_hat, lam):
            S = _scores(P, lam)
            return [kl_prox_argmax([w * v for v in S[x]], [(eta, log_hat[x]), (P.beta, P.log_ref[x])])
                    for x in range(P.X)]

        def dual(lam_hat, c):
            return [quadratic_prox_argmin(c[j], lam_hat[j], kappa) for j in range(P.h)]

        def rho_kl(lp, lq):
            return mpmath.fsum(P.rho[x] * k for x, k in enumerate(mp_kl_rows(lp, lq)))

        lam_hat = [mpmath.mpf(0)] * P.h
        log_hat = [list(row) for row in P.log_ref]
        lam_prev, c_prev = lam_hat, _constraints(P, log_hat)
        out = MPRun([rho_kl(saddle.log_pi, log_hat)], [mpmath.fsum((a - b) ** 2 for a, b in zip(saddle.lam, lam_hat))],
                    [mpmath.mpf(0)], [mpmath.mpf(0)])
        for _ in range(int(T)):
            log_pred = primal(log_hat, lam_prev)
            lam_pred = dual(lam_hat, c_prev)
            c_pred = _constraints(P, log_pred)
            log_new = primal(log_hat, lam_pred)
            lam_new = dual(lam_hat, c_pred)
            out.kl_star.append(rho_kl(saddle.log_pi, log_new))
            out.lam_err2.append(mpmath.fsum((a - b) ** 2 for a, b in zip(saddle.lam, lam_new)))
            out.kl_hat_pred.append(rho_kl(log_new, log_pred))
            out.lam_hat_pred2.append(mpmath.fsum((a - b) ** 2 for a, b in zip(lam_new, lam_pred)))
            log_hat, lam_hat = log_new, lam_new
            lam_prev, c_prev = lam_pred, c_pred
        return out


def replay_printed_bound_violation(problem, lam_start: Sequence[float], *, dual_step: str, t: int, eta_th: float,
                                   eta_lam: float, code_error: float, code_bound: float,
                                   denominator: str = "denom_proof_min", rtol: float = 0.0) -> Witness:
    """Witness: the printed-closed-form OPD replayed at 50 digits violates ``rho^(t-1) Phi_1 / denominator`` at t
    (``confirms``), and the code's error and bound match the replay (``agrees``).

    Example::

        >>> from opdcheck.instances import paper_toy
        >>> w = replay_printed_bound_violation(paper_toy(beta=0.05), [1.0], dual_step="prox", t=1, eta_th=3.0,
        ...                                    eta_lam=3.0, code_error=float("nan"), code_bound=1.0)
        >>> w.ran, w.agrees
        (True, False)
    """
    return replay_bound_violation(
        problem, lam_start, dual_step=dual_step, t=t, eta_th=eta_th, eta_lam=eta_lam, code_error=code_error,
        code_bound=code_bound, denominator=denominator, rtol=rtol, runner=mp_run_opd_printed,
        method=(f"mpmath, {REPLAY_DPS} digits: projected Newton saddle point, Algorithm 2 with the printed closed "
                f"form exp(S) ({dual_step}) solved as the maximiser of (4)/(6) with the score times (eta+beta) "
                "(Newton on its KKT conditions), bound from the sympy constants of theory/thm34_constants.py"),
        title="Thm 3.4 bound violated by Algorithm 2 with the printed closed form exp(S) (replayed)")


# ------------------------------------------------------------------ in-class duality (App. E)
def mp_in_class_duality(logits, r: Sequence, R_h: Sequence, pi_ref: Sequence, beta, *, n_grid: int = 2001,
                        refine: int = 60) -> dict:
    """Primal and dual values of ``max_{theta in [0,1]} f(theta) s.t. c(theta) >= 0`` at 50 digits, by geometry.

    ``logits(theta) -> list`` (mpmath) defines the one-parameter class ``pi_theta = softmax(logits(theta))`` (one prompt);
    ``f = <pi, r> - beta KL(pi||pi_ref)``, ``c = <pi, R_h>``. The primal value is the largest ``f`` on the feasible
    set (grid, then each local maximum refined by golden section, and the boundary points ``c = 0`` found by
    bisection); the dual value ``min_{lam >= 0} max_theta f + lam c`` is the upper concave envelope of the image
    ``{(c(theta), f(theta))}`` at ``c = 0`` (one-dimensional LP duality), from the convex hull of the image points.
    Independent of any float64 code: only the class's closed form is shared.
    """
    with mpmath.workdps(REPLAY_DPS):
        mpf = mpmath.mpf
        rr = [mpf(v) for v in r]
        hh = [mpf(v) for v in R_h]
        lref = [mpmath.log(mpf(v)) for v in pi_ref]
        b = mpf(beta)

        def pol(th):
            z = logits(th)
            m = max(z)
            e = [mpmath.exp(v - m) for v in z]
            s = mpmath.fsum(e)
            return [v / s for v in e]

        def f_c(th):
            p = pol(th)
            kl = mpmath.fsum(pi * (mpmath.log(pi) - lr) for pi, lr in zip(p, lref))
            return mpmath.fsum(pi * v for pi, v in zip(p, rr)) - b * kl, mpmath.fsum(pi * v for pi, v in zip(p, hh))

        ths = [mpf(i) / (n_grid - 1) for i in range(n_grid)]
        vals = [f_c(t) for t in ths]
        # primal: feasible grid maxima refined, plus the boundary c = 0 crossings
        cands = []
        for i in range(n_grid):
            f, c = vals[i]
            if c < 0:
                continue
            left = vals[i - 1][0] if i > 0 else mpf("-inf")
            right = vals[i + 1][0] if i + 1 < n_grid else mpf("-inf")
            if f >= left and f >= right:
                lo, hi = ths[max(i - 1, 0)], ths[min(i + 1, n_grid - 1)]
                for _ in range(refine):  # golden section on the bracket
                    m1, m2 = lo + (hi - lo) * mpf("0.382"), lo + (hi - lo) * mpf("0.618")
                    if f_c(m1)[0] < f_c(m2)[0]:
                        lo = m1
                    else:
                        hi = m2
                t = (lo + hi) / 2
                if f_c(t)[1] >= 0:
                    cands.append((f_c(t)[0], t))
                cands.append((f, ths[i]))
        for i in range(n_grid - 1):
            if (vals[i][1] >= 0) != (vals[i + 1][1] >= 0):
                lo, hi = ths[i], ths[i + 1]
                for _ in range(refine):
                    mid = (lo + hi) / 2
                    if (f_c(mid)[1] >= 0) == (vals[i][1] >= 0):
                        lo = mid
                    else:
                        hi = mid
                t = lo if vals[i][1] >= 0 else hi
                cands.append((f_c(t)[0], t))
        primal, th_primal = max(cands, key=lambda z: z[0])
        # dual: upper concave envelope of the image at c = 0 (max over pairs straddling c = 0 of the chord value)
        pts = sorted((c, f) for f, c in vals)
        hull: list = []
        for pnt in pts:  # upper hull, monotone chain
            while len(hull) >= 2 and ((hull[-1][0] - hull[-2][0]) * (pnt[1] - hull[-2][1])
                                      - (hull[-1][1] - hull[-2][1]) * (pnt[0] - hull[-2][0])) >= 0:
                hull.pop()
            hull.append(pnt)
        dual = None
        for (c1, f1), (c2, f2) in zip(hull, hull[1:]):
            if c1 <= 0 <= c2:
                dual = f1 + (f2 - f1) * (0 - c1) / (c2 - c1) if c2 != c1 else max(f1, f2)
        # with lam >= 0, the dual is max over c >= 0 of the envelope: F(0), or a hull vertex with c > 0
        right = [f for c, f in hull if c >= 0]
        cands_d = ([dual] if dual is not None else []) + right
        dual = max(cands_d) if cands_d else mpf("-inf")
        p_min = min(min(pol(t)) for t in ths)
        return {"primal": primal, "theta_primal": th_primal, "dual": dual, "gap": dual - primal, "p_min": p_min,
                "xi (max over the class of c)": max(c for _, c in vals), "hull_points": len(hull)}


def replay_in_class_duality(logits: Callable, r: Sequence, R_h: Sequence, pi_ref: Sequence, beta, *, code_gap: float,
                            code_primal: float, code_dual: float, n_grid: int = 801) -> Witness:
    """Witness for App. E's in-class strong duality: :func:`mp_in_class_duality` at 50 digits against the float64
    brute force's gap, primal and dual values.

    ``confirms``: the replayed gap exceeds ``IN_CLASS_GAP_ATOL`` on a class with Slater (``xi > 0``) and
    ``p_min > 0`` (both replayed); ``agrees``: the code's gap and primal value match the replay to
    ``IN_CLASS_AGREE_ATOL``. The 50-digit values are in ``replay_values`` (``gap``, ``primal``, ``dual``, ...).
    """
    mp = mp_in_class_duality(logits, r, R_h, pi_ref, beta, n_grid=n_grid)
    rep = {k: (float(v) if isinstance(v, mpmath.mpf) else v) for k, v in mp.items()}
    agrees = (abs(float(code_gap) - rep["gap"]) <= IN_CLASS_AGREE_ATOL
              and abs(float(code_primal) - rep["primal"]) <= IN_CLASS_AGREE_ATOL)
    confirms = rep["gap"] > IN_CLASS_GAP_ATOL and rep["xi (max over the class of c)"] > 0 and rep["p_min"] > 0
    return _issue("in-class duality gap (App. E)",
                  f"mpmath {REPLAY_DPS} digits: primal by refined grid search and boundary bisection, dual as the upper "
                  "concave envelope of the image {(c, f)} at c = 0",
                  confirms=bool(confirms), agrees=bool(agrees), replay_values=rep,
                  code_values={"gap": float(code_gap), "primal": float(code_primal), "dual": float(code_dual)},
                  disagreement=f"gap float {float(code_gap):.8f} vs 50-digit {rep['gap']:.8f}, primal float "
                               f"{float(code_primal):.8f} vs 50-digit {rep['primal']:.8f}",
                  details={"gap tolerance": IN_CLASS_GAP_ATOL, "agreement tolerance": IN_CLASS_AGREE_ATOL})
