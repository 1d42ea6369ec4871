"""Replays of Algorithm 3 on parameterized classes, at 50 digits, apart from ``kernels/``.

* :func:`mp_replay` / :func:`replay_cor310_counterexample`: Algorithm 3 on Cor 3.10's counterexample class
  ``p_theta(y0) = 1/5 + theta^2/10`` (scores by ``mpmath.diff`` of ``log p_theta``, dual steps as argmins).
* :func:`mp_loglinear`, :func:`replay_fisher_quadratic`, :func:`replay_natural_direction`,
  :func:`replay_fixed_point`: log-linear classes ``pi_theta[x] ∝ exp(phi[x] theta)``: ``L``, its gradient and
  the Fisher matrix from their definitions (``F = E[score score^T]`` with the score by differentiation of
  the log-probabilities), the natural direction as the minimum-norm least-squares solution at 50 digits.
"""
from __future__ import annotations

import mpmath as mp
import numpy as np

from opdcheck.numerics.replay.solve import quadratic_prox_argmin
from opdcheck.numerics.replay.witness import Witness, _issue
from opdcheck.tolerances import COUNTEREX_AGREE_RTOL

__all__ = ["code_agrees", "mp_replay", "replay_cor310_counterexample", "mp_loglinear", "replay_fixed_point", "replay_fisher",
           "replay_natural_direction"]


def code_agrees(diff: float) -> bool:
    """The code's value matches the replay: a (relative, or for theta_T absolute) difference at most
    COUNTEREX_AGREE_RTOL."""
    return bool(diff <= COUNTEREX_AGREE_RTOL)


def mp_replay(theta0: float, T: int, digits: int = 50) -> dict:
    """Algorithm 3 on the counterexample in mpmath from the class definition (independent of kernels/): scores
    by numerical differentiation of log p_theta, the dual steps as argmins of their objectives.

    Returns theta_T, lam_T, the error at T against the in-class optimum, rho, Phi_1, the RHS at T."""
    with mp.workdps(digits):
        beta, eta = mp.mpf(1) / 20, mp.mpf(3)
        p_of = lambda th: mp.mpf(1) / 5 + th ** 2 / 10  # noqa: E731

        def kl(a, b):
            return a * mp.log(a / b) + (1 - a) * mp.log((1 - a) / (1 - b))

        def step(th, lam):
            p = p_of(th)
            s0 = mp.diff(lambda u: mp.log(p_of(u)), th)
            s1 = mp.diff(lambda u: mp.log(1 - p_of(u)), th)
            S0, S1 = 1 - mp.mpf(3) / 5 * lam, mp.mpf(2) / 5 * lam
            Q0 = S0 - beta * mp.log(p / (mp.mpf(1) / 5))
            Q1 = S1 - beta * mp.log((1 - p) / (mp.mpf(4) / 5))
            V = p * Q0 + (1 - p) * Q1
            g = p * (Q0 - V) * s0 + (1 - p) * (Q1 - V) * s1
            F = p * s0 ** 2 + (1 - p) * s1 ** 2
            w = g / F if F > mp.mpf(10) ** (-digits + 5) else mp.mpf(0)  # F^+ of a scalar
            return min(max(th + w / (eta + beta), mp.mpf(-1)), mp.mpf(1)), (g, F)

        def cons(th):
            p = p_of(th)
            return -mp.mpf(3) / 5 * p + mp.mpf(2) / 5 * (1 - p)

        th_hat, lam_hat = mp.mpf(theta0), mp.mpf(0)
        th_prev, lam_prev = th_hat, lam_hat  # t = 0 convention
        grads, kls, lams = [], [], []
        q_star = mp.mpf(3) / 10  # the in-class optimum, lam*_Theta = 0 (certified below)
        kls.append(kl(q_star, p_of(th_hat)))
        lams.append(lam_hat)
        kl_pred1 = lam_pred1 = mp.mpf(0)
        for t in range(T):
            th_pred, gF = step(th_hat, lam_prev)                              # (8)
            lam_pred = quadratic_prox_argmin(cons(th_prev), lam_hat, eta)     # (9), prox convention (eq. (5)'s argmin)
            th_new, gF2 = step(th_hat, lam_pred)                              # (10)
            lam_new = quadratic_prox_argmin(cons(th_pred), lam_hat, eta)      # (11)
            grads.append((gF, gF2))
            if t == 0:
                kl_pred1 = kl(p_of(th_new), p_of(th_pred))
                lam_pred1 = (lam_new - lam_pred) ** 2
            th_hat, lam_hat, th_prev, lam_prev = th_new, lam_new, th_pred, lam_pred
            kls.append(kl(q_star, p_of(th_hat)))
            lams.append(lam_hat)
        kl_hist = [a + b ** 2 for a, b in zip(kls, lams)]
        C = mp.mpf(1)  # sqrt(h) R_max
        rho = max(3 * C / (3 * C + beta), C / (2 * C + beta), mp.mpf(50) / 63)
        # eq. (47): (3C+b) KL(pi*||pi_hat_1) + (2C+b) KL(pi_hat_1||pi_0) + 7/2 C ||lam*-lam_hat_1||^2 + 11/6 C ||lam_hat_1-lam_0||^2
        phi1 = ((3 * C + beta) * kls[1] + (2 * C + beta) * kl_pred1 + mp.mpf(7) / 2 * C * lams[1] ** 2
                + mp.mpf(11) / 6 * C * lam_pred1)
        denom = min(eta + beta, mp.mpf(7) / 4 * eta - mp.mpf(3) / 4 * C)
        rhs_T = rho ** (T - 1) * phi1 / denom
        # certificate of the in-class optimum: dL/dq > 0 on the image [1/5, 3/10] (lam*_Theta = 0)
        dL = lambda q: 1 - beta * (mp.log(q / (mp.mpf(1) / 5)) - mp.log((1 - q) / (mp.mpf(4) / 5)))  # noqa: E731
        return {"theta_T": th_hat, "lam_T": lam_hat, "error_T": kl_hist[-1], "error_0": kl_hist[0],
                "rho": rho, "phi1": phi1, "denom": denom, "rhs_T": rhs_T,
                "max_abs_grad": max(abs(g[0][0]) for g in grads) if grads else mp.mpf(0),
                "max_fisher": max(abs(g[0][1]) for g in grads) if grads else mp.mpf(0),
                "dL_dq_at_0.3": dL(q_star), "constraint_at_theta_T": cons(th_hat),
                "kl_star_vs_p0": kl(q_star, mp.mpf(1) / 5)}


def replay_cor310_counterexample(theta0: float, T: int, *, code_error_T: float, code_rhs_T: float, code_theta_T: float,
                                 code_rho: float) -> tuple[dict, Witness]:
    """Replay Algorithm 3 on the counterexample for ``T`` steps; ``confirms``: the replayed error exceeds the
    replayed right-hand side at T; ``agrees``: error, RHS, theta_T and rho match the code (``COUNTEREX_AGREE_RTOL``)."""
    replay = mp_replay(theta0, T)
    rel = lambda a, b: abs(float(a) - float(b)) / max(abs(float(b)), 1e-300)  # noqa: E731
    diffs = {"error_T": rel(code_error_T, replay["error_T"]), "rhs_T": rel(code_rhs_T, replay["rhs_T"]),
             "theta_T": abs(code_theta_T - float(replay["theta_T"])), "rho": rel(code_rho, replay["rho"])}
    agrees = code_agrees(max(diffs.values()))
    w = _issue("Cor 3.10's bound at step T on the counterexample", "mpmath, 50 digits, from the class definition (no kernels/)",
               confirms=bool(replay["error_T"] > replay["rhs_T"]), agrees=agrees,
               replay_values={"error_T": mp.nstr(replay["error_T"], 20), "rhs_T": mp.nstr(replay["rhs_T"], 20),
                              "theta_T": mp.nstr(replay["theta_T"], 20)},
               code_values={"error_T": code_error_T, "rhs_T": code_rhs_T, "theta_T": code_theta_T},
               disagreement=f"kernel vs replay differ: {diffs}",
               details={"max|grad L| along the run": mp.nstr(replay["max_abs_grad"], 5),
                        "max F along the run": mp.nstr(replay["max_fisher"], 5), "relative differences vs kernel": diffs,
                        "tolerance": COUNTEREX_AGREE_RTOL, "T": T})
    return replay, w


def mp_loglinear(p, phi, theta, lam, digits=50):
    """L, grad L, F of a log-linear class in mpmath from the definitions (score ``phi - E_pi phi``, written apart
    from kernels/; :func:`replay_fisher` checks F against differentiation of the log-probabilities)."""
    with mp.workdps(digits):
        X, n, d = phi.shape
        th = [mp.mpf(float(t)) for t in theta]
        L, g, F = mp.mpf(0), [mp.mpf(0)] * d, mp.zeros(d, d)
        for x in range(X):
            z = [mp.fsum(mp.mpf(float(phi[x, y, k])) * th[k] for k in range(d)) for y in range(n)]
            lse = mp.log(mp.fsum(mp.exp(zz) for zz in z))
            lp = [zz - lse for zz in z]
            pi = [mp.exp(v) for v in lp]
            S = [mp.mpf(float(p.r[x, y])) + mp.fsum(mp.mpf(float(lam[j])) * mp.mpf(float(p.R_hard[j, x, y]))
                                                     for j in range(p.h)) for y in range(n)]
            Q = [S[y] - mp.mpf(p.beta) * (lp[y] - mp.log(mp.mpf(float(p.pi_ref[x, y])))) for y in range(n)]
            V = mp.fsum(pi[y] * Q[y] for y in range(n))
            kl = mp.fsum(pi[y] * (lp[y] - mp.log(mp.mpf(float(p.pi_ref[x, y])))) for y in range(n))
            rx = mp.mpf(float(p.rho[x]))
            L += rx * (mp.fsum(pi[y] * S[y] for y in range(n)) - mp.mpf(p.beta) * kl)
            mbar = [mp.fsum(pi[y] * mp.mpf(float(phi[x, y, k])) for y in range(n)) for k in range(d)]
            for y in range(n):
                sc = [mp.mpf(float(phi[x, y, k])) - mbar[k] for k in range(d)]
                for k in range(d):
                    g[k] += rx * pi[y] * (Q[y] - V) * sc[k]
                    for l in range(d):
                        F[k, l] += rx * pi[y] * sc[k] * sc[l]
        return L, g, F


def mp_fixed_point(p, cls, theta_T, lam_T, theta_better, eta):
    """Replay (mpmath): the map (8)/(10) at (theta_T, lam_T) returns theta_T, the dual step keeps lam_T, and
    theta_better in Theta has a larger L(., lam_T): (theta_T, lam_T) is a fixed point but not a saddle point."""
    with mp.workdps(50):
        L_T, g, F = mp_loglinear(p, cls.phi, theta_T, lam_T)
        L_b, _, _ = mp_loglinear(p, cls.phi, theta_better, lam_T)
        E, Q = mp.eigsy(F)
        top = max(abs(E[i]) for i in range(len(E)))
        w = [mp.mpf(0)] * cls.d
        for i in range(len(E)):
            if E[i] > top * mp.mpf(10) ** -20:  # exact null direction of the duplicated column: ~1e-50
                coef = mp.fsum(Q[k, i] * g[k] for k in range(cls.d)) / E[i]
                w = [w[k] + coef * Q[k, i] for k in range(cls.d)]
        step = np.array([float(theta_T[k] + w[k] / (mp.mpf(eta) + mp.mpf(p.beta))) for k in range(cls.d)])
        moved = float(np.max(np.abs(cls.param_set.project(step) - theta_T)))
        return {"L(theta_T, lam_T)": L_T, "L(theta_better, lam_T)": L_b, "improvement": L_b - L_T,
                "map_residual": moved}


def _close(code, rep, rtol: float) -> tuple[bool, float]:
    code = np.asarray(code, dtype=float)
    rep = np.asarray(rep, dtype=float)
    d = float(np.max(np.abs(code - rep) / np.maximum(1.0, np.abs(rep)))) if rep.size else 0.0
    return bool(np.isfinite(d) and d <= rtol), d


def fixed_point_confirmed(improvement, map_residual: float, tail_spread: float, *, fixed_point_atol: float,
                          tail_spread_atol: float) -> bool:
    """The witness's gate: the run settled (``tail_spread <= tail_spread_atol``), the 50-digit map (8)/(10) moves
    theta_T by at most ``fixed_point_atol`` and another theta in Theta improves ``L(., lam_T)``."""
    return bool(improvement > 0) and map_residual <= fixed_point_atol and tail_spread <= tail_spread_atol


def replay_fixed_point(p, cls, theta_T, lam_T, theta_better, eta, *, code_L_T: float, code_L_better: float,
                       tail_spread: float, fixed_point_atol: float, tail_spread_atol: float) -> tuple[dict, Witness]:
    """Witness that ``(theta_T, lam_T)`` is a fixed point of (8)/(10) that is not a saddle point: the map moves
    theta_T by at most ``fixed_point_atol`` (F and grad L at 50 digits) while ``theta_better`` improves
    ``L(., lam_T)``. ``agrees``: both Lagrangians match the code's (``COUNTEREX_AGREE_RTOL``)."""
    w = mp_fixed_point(p, cls, theta_T, lam_T, theta_better, eta)
    agrees = (code_agrees(abs(float(w["L(theta_T, lam_T)"]) - code_L_T) / max(1.0, abs(code_L_T)))
              and code_agrees(abs(float(w["L(theta_better, lam_T)"]) - code_L_better) / max(1.0, abs(code_L_better))))
    confirms = fixed_point_confirmed(w["improvement"], w["map_residual"], tail_spread,
                                     fixed_point_atol=fixed_point_atol, tail_spread_atol=tail_spread_atol)
    return w, _issue("Algorithm 3's limit is a fixed point of (8)/(10) but not an in-class saddle point",
                     "mpmath, 50 digits, log-linear class from its definition", confirms=confirms, agrees=agrees,
                     replay_values={"L(theta_T)": mp.nstr(w["L(theta_T, lam_T)"], 17),
                                    "L(theta_better)": mp.nstr(w["L(theta_better, lam_T)"], 17)},
                     code_values={"L(theta_T)": code_L_T, "L(theta_better)": code_L_better},
                     disagreement="kernel and mpmath Lagrangians differ",
                     details={"improvement": mp.nstr(w["improvement"], 15), "map_residual": w["map_residual"]})


def replay_fisher(p, phi, theta, *, code_F, rtol: float, direction=None, s: float | None = None,
                  fd_rtol: float | None = None) -> Witness:
    """The Fisher matrix ``E_{rho, pi_theta}[score score^T]`` of a log-linear class at 50 digits, the score
    from the definition (``d/dtheta log pi_theta`` by ``mpmath.diff``), against the code's ``code_F``
    (``agrees``: relative ``rtol``). With ``direction`` and ``s`` given, also the display of Sec. 3.2.1:
    ``confirms`` when ``|KL(pi_theta||pi_theta+s v) - s^2/2 v^T F v| / (s^2/2 v^T F v) > fd_rtol`` at 50 digits."""
    X, n, d = phi.shape
    with mp.workdps(50):
        th = [mp.mpf(float(t)) for t in theta]

        def logp(x, y, t):
            z = [mp.fsum(mp.mpf(float(phi[x, yy, k])) * t[k] for k in range(d)) for yy in range(n)]
            return z[y] - mp.log(mp.fsum(mp.exp(v) for v in z))

        F = [[mp.mpf(0)] * d for _ in range(d)]
        for x in range(X):
            rx = mp.mpf(float(p.rho[x]) if hasattr(p, "rho") else float(p[x]))
            for y in range(n):
                piy = mp.exp(logp(x, y, th))
                sc = []
                for k in range(d):
                    sc.append(mp.diff(lambda u, k=k: logp(x, y, th[:k] + [u] + th[k + 1:]), th[k]))
                for k in range(d):
                    for m_ in range(d):
                        F[k][m_] += rx * piy * sc[k] * sc[m_]
        Fm = np.array([[float(v) for v in row] for row in F])
        agrees, diff = _close(code_F, Fm, rtol)
        confirms, extra = False, {}
        if direction is not None and s is not None:
            v = [mp.mpf(float(a)) for a in direction]
            sm = mp.mpf(s)
            quad = sm * sm / 2 * mp.fsum(v[k] * F[k][m_] * v[m_] for k in range(d) for m_ in range(d))
            th2 = [th[k] + sm * v[k] for k in range(d)]
            kl = mp.mpf(0)
            for x in range(X):
                rx = mp.mpf(float(p.rho[x]) if hasattr(p, "rho") else float(p[x]))
                kl += rx * mp.fsum(mp.exp(logp(x, y, th)) * (logp(x, y, th) - logp(x, y, th2)) for y in range(n))
            rel = abs(kl - quad) / quad
            confirms = bool(fd_rtol is not None and rel > fd_rtol)
            extra = {"KL vs 1/2 dtheta^T F dtheta, relative error (replay)": float(rel)}
    return _issue("Fisher matrix of a log-linear class (and the display of Sec. 3.2.1)",
                  "mpmath, 50 digits: F = E[score score^T], score by mpmath.diff of the log-probabilities",
                  confirms=confirms, agrees=agrees, replay_values={"F": Fm.tolist()},
                  code_values={"F": np.asarray(code_F, dtype=float).tolist()},
                  disagreement=f"code's Fisher matrix differs from the replay by {diff:.2e} (relative)",
                  details={"max relative difference": diff, "tolerance": rtol, **extra})


def replay_natural_direction(p, phi, theta, lam, *, code_direction, rtol: float) -> Witness:
    """``F^+ grad L`` of a log-linear class at 50 digits as the minimum-norm least-squares fit of the advantage
    ``A = S_lam - beta log(pi/pi_ref) - V`` on the centred features (weights rho pi), solved by mpmath's
    eigen-decomposition of the normal matrix; ``agrees``: the code's direction matches (relative ``rtol``);
    ``confirms``: the eigen pseudo-inverse of F applied to grad L differs from that fit (the claim fails)."""
    with mp.workdps(50):
        L, g, F = mp_loglinear(p, phi, theta, lam)
        d = phi.shape[2]
        E, Q = mp.eigsy(F)
        top = max(abs(E[i]) for i in range(d))
        w = [mp.mpf(0)] * d
        for i in range(d):
            if E[i] > top * mp.mpf(10) ** -20:
                coef = mp.fsum(Q[k, i] * g[k] for k in range(d)) / E[i]
                w = [w[k] + coef * Q[k, i] for k in range(d)]
        # the least-squares residual of the fit must be orthogonal to the centred features: F w = g
        resid = max(abs(mp.fsum(F[k, m_] * w[m_] for m_ in range(d)) - g[k]) for k in range(d))
        wm = np.array([float(v) for v in w])
    agrees, diff = _close(np.asarray(code_direction, dtype=float) / max(1.0, float(np.abs(wm).max())),
                          wm / max(1.0, float(np.abs(wm).max())), rtol)
    return _issue("natural direction F^+ grad L of a log-linear class", "mpmath, 50 digits: eigen pseudo-inverse of F "
                  "from the definition; normal equations of the advantage fit", confirms=bool(resid > rtol), agrees=agrees,
                  replay_values={"direction": wm.tolist()},
                  code_values={"direction": np.asarray(code_direction, dtype=float).tolist()},
                  disagreement=f"code's direction differs from the replay by {diff:.2e}",
                  details={"normal-equation residual": float(resid), "tolerance": rtol})
