"""High-precision replay (mpmath, 50 digits) of OPD and of the Thm 3.4 bound, written apart from ``kernels/``.

Why: a REFUTED verdict of the Thm 3.4 family must not be fakeable by a bug in the float64 code that
produced it. This module recomputes, from the problem's data only (no import of ``opdcheck.kernels``
or ``opdcheck.numerics.dual``), everything a counterexample rests on:

* the best response (eq. (3), Lemma B.7): ``log pi_lam = log pi_ref + S_lam / beta - logsumexp``;
* the dual function ``D(lam) = sum_x rho_x beta logsumexp_y(log pi_ref + S_lam / beta)``, its gradient
  ``c(pi_lam)`` and Hessian ``(1/beta) sum_x rho_x Cov_{pi_lam[x]}(R_H)``;
* the saddle point by projected Newton on ``D`` from a float start, with its certificate: the
  projected gradient (KKT residual of ``min_{lam >= 0} D``) at 50 digits;
* Algorithm 2 (eqs. (4)-(7)) with both dual conventions and the reports' t = 0 convention
  ``pi_{-1} = pi_hat_0 = pi_ref``, ``lam_{-1} = lam_hat_0``;
* the error metric ``E_x KL(pi*[x] || pi_hat_t[x]) + ||lam* - lam_hat_t||^2`` (the KL direction of Thm 3.4)
  and the potential ``Phi_t``;
* the constants rho (eq. (46)), Phi_1 (eq. (47)), the potential's multipliers and both denominators,
  lambdified (mpmath) from the SYMPY expressions of ``opdcheck.theory.thm34_constants`` (one source).

Everything runs inside ``mpmath.workdps(REPLAY_DPS)``; results are returned as ``mpmath.mpf`` (use
``float()`` for reports). The cost is ~X n mp-operations per step: the replay is meant for the
smallest counterexample (the paper's toy is X = 1, n = 2), see ``REPLAY_MAX_WORK``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import mpmath
import numpy as np

from opdcheck.tolerances import REPLAY_DPS, REPLAY_NEWTON_LOCAL, REPLAY_NEWTON_PG_TOL

__all__ = ["MPProblem", "mp_problem", "mp_log_best_response", "mp_dual_value", "mp_dual_gradient",
           "mp_dual_hessian", "mp_saddle", "MPSaddle", "mp_run_opd", "MPRun", "mp_kl_rows", "mp_error",
           "sympy_thm34_constants", "mp_phi1_eq47", "mp_bound", "mp_potential", "rel_diff"]


@dataclass(frozen=True)
class MPProblem:
    """The instance's data as 50-digit numbers (the float64 inputs read exactly)."""

    rho: list            # (X,)
    log_ref: list        # (X, n), rows renormalised at 50 digits
    r: list              # (X, n) soft reward sum_k w_k R_k
    R: list              # (h, X, n) hard rewards (threshold subtracted)
    beta: mpmath.mpf
    X: int
    n: int
    h: int
    R_max: mpmath.mpf


def mp_problem(problem) -> MPProblem:
    """Read a :class:`opdcheck.problem.Problem`'s float data into 50-digit numbers."""
    with mpmath.workdps(REPLAY_DPS):
        mpf = mpmath.mpf
        pi_ref = np.asarray(problem.pi_ref, dtype=np.float64)
        X, n = pi_ref.shape
        log_ref = []
        for x in range(X):
            row = [mpf(float(v)) for v in pi_ref[x]]
            s = mpmath.fsum(row)
            log_ref.append([mpmath.log(v / s) for v in row])
        Rs = np.asarray(problem.R_soft, dtype=np.float64)
        w = np.asarray(problem.w, dtype=np.float64)
        r = [[mpmath.fsum(mpf(float(w[k])) * mpf(float(Rs[k, x, y])) for k in range(len(w))) for y in range(n)]
             for x in range(X)]
        Rh = np.asarray(problem.R_hard, dtype=np.float64)
        R = [[[mpf(float(Rh[j, x, y])) for y in range(n)] for x in range(X)] for j in range(Rh.shape[0])]
        R_max = max(mpf(float(abs(v))) for v in np.concatenate([Rs.ravel(), Rh.ravel()]))
        rho = [mpf(float(v)) for v in np.asarray(problem.rho, dtype=np.float64)]
        return MPProblem(rho=rho, log_ref=log_ref, r=r, R=R, beta=mpf(float(problem.beta)), X=X, n=n,
                         h=Rh.shape[0], R_max=R_max)


# ------------------------------------------------------------------------------ closed forms
def _scores(P: MPProblem, lam: Sequence) -> list:
    """``S_lam = r + sum_j lam_j R_j``."""
    return [[P.r[x][y] + mpmath.fsum(lam[j] * P.R[j][x][y] for j in range(P.h)) for y in range(P.n)]
            for x in range(P.X)]


def _log_softmax(z: list) -> list:
    m = max(z)
    lse = m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in z))
    return [v - lse for v in z]


def _logsumexp(z: list) -> mpmath.mpf:
    m = max(z)
    return m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in z))


def mp_log_best_response(P: MPProblem, lam: Sequence) -> list:
    """Eq. (3): ``log pi_lam[x] = log_softmax(log pi_ref[x] + S_lam[x] / beta)``."""
    with mpmath.workdps(REPLAY_DPS):
        S = _scores(P, lam)
        return [_log_softmax([P.log_ref[x][y] + S[x][y] / P.beta for y in range(P.n)]) for x in range(P.X)]


def mp_dual_value(P: MPProblem, lam: Sequence) -> mpmath.mpf:
    """``D(lam) = sum_x rho_x beta logsumexp_y(log pi_ref + S_lam / beta)``."""
    with mpmath.workdps(REPLAY_DPS):
        S = _scores(P, lam)
        return mpmath.fsum(P.rho[x] * P.beta * _logsumexp([P.log_ref[x][y] + S[x][y] / P.beta for y in range(P.n)])
                           for x in range(P.X))


def _constraints(P: MPProblem, log_pi: list) -> list:
    """``c_j(pi) = sum_x rho_x sum_y pi[x, y] R_j[x, y]``."""
    return [mpmath.fsum(P.rho[x] * mpmath.fsum(mpmath.exp(log_pi[x][y]) * P.R[j][x][y] for y in range(P.n))
                        for x in range(P.X)) for j in range(P.h)]


def mp_dual_gradient(P: MPProblem, lam: Sequence) -> list:
    """``grad D(lam) = c(pi_lam)``."""
    with mpmath.workdps(REPLAY_DPS):
        return _constraints(P, mp_log_best_response(P, lam))


def mp_dual_hessian(P: MPProblem, lam: Sequence) -> list:
    """``hess D(lam) = (1/beta) sum_x rho_x Cov_{pi_lam[x]}(R_H[:, x, :])`` as an h x h list."""
    with mpmath.workdps(REPLAY_DPS):
        lp = mp_log_best_response(P, lam)
        H = [[mpmath.mpf(0)] * P.h for _ in range(P.h)]
        for x in range(P.X):
            pi = [mpmath.exp(v) for v in lp[x]]
            mean = [mpmath.fsum(pi[y] * P.R[j][x][y] for y in range(P.n)) for j in range(P.h)]
            for i in range(P.h):
                for j in range(P.h):
                    cov = mpmath.fsum(pi[y] * (P.R[i][x][y] - mean[i]) * (P.R[j][x][y] - mean[j]) for y in range(P.n))
                    H[i][j] += P.rho[x] * cov / P.beta
        return H


@dataclass
class MPSaddle:
    """``(pi*, lam*)`` at 50 digits and the certificate ``pg_norm`` (see :func:`_projected_gradient_norm`)."""

    log_pi: list
    lam: list
    grad: list
    pg_norm: mpmath.mpf
    newton_steps: int
    certified: bool


def _projected_gradient_norm(lam: list, g: list) -> mpmath.mpf:
    """``max_j |pg_j|`` with ``pg_j = g_j`` where ``lam_j > 0`` and ``min(g_j, 0)`` at ``lam_j = 0`` (the KKT
    residual of ``min_{lam >= 0} D``; written this way, not as ``lam - [lam - g]_+``, so that a gradient
    far below ``ulp(lam)`` is not rounded to 0)."""
    return max((abs(g[j]) if lam[j] > 0 else abs(min(g[j], 0)) for j in range(len(lam))), default=mpmath.mpf(0))


def mp_saddle(P: MPProblem, lam_start: Sequence[float], *, max_steps: int = 60) -> MPSaddle:
    """Projected Newton on the convex dual ``D`` from a float start (``lam_start``, e.g. the float
    solver's lam*), at 50 digits; certified when the projected gradient is below
    ``REPLAY_NEWTON_PG_TOL`` (far below float64's 1e-16, so the float start cannot be what passes it).

    Free set: ``{j : lam_j > 0 or grad_j < 0}``; Newton on it with a backtracking search on ``D``
    along the projected path ``[lam - s d]_+``.
    """
    with mpmath.workdps(REPLAY_DPS):
        lam = [mpmath.mpf(max(float(v), 0.0)) for v in lam_start]
        steps = 0
        for steps in range(max_steps + 1):
            g = mp_dual_gradient(P, lam)
            pg = _projected_gradient_norm(lam, g)
            if pg <= REPLAY_NEWTON_PG_TOL or steps == max_steps:
                break
            free = [j for j in range(P.h) if lam[j] > 0 or g[j] < 0]
            d = [mpmath.mpf(0)] * P.h
            if free:
                H = mp_dual_hessian(P, lam)
                Hf = mpmath.matrix([[H[i][j] for j in free] for i in free])
                gf = mpmath.matrix([g[j] for j in free])
                try:
                    sol = mpmath.lu_solve(Hf, gf)
                    for k, j in enumerate(free):
                        d[j] = sol[k]
                except ZeroDivisionError:  # singular block (degenerate lam*): gradient step
                    for j in free:
                        d[j] = g[j]
            for j in range(P.h):
                if j not in free:
                    d[j] = g[j]
            s = mpmath.mpf(1)
            trial = [max(lam[j] - d[j], mpmath.mpf(0)) for j in range(P.h)]
            if pg > REPLAY_NEWTON_LOCAL:
                # far from the optimum: backtrack on D. Near it (pg <= REPLAY_NEWTON_LOCAL) the decrease of D,
                # ~pg^2, is below D's own 50-digit resolution, so the full (quadratically convergent) step is taken
                D0 = mp_dual_value(P, lam)
                for _ in range(80):
                    if mp_dual_value(P, trial) <= D0:
                        break
                    s /= 2
                    trial = [max(lam[j] - s * d[j], mpmath.mpf(0)) for j in range(P.h)]
            lam = trial
        log_pi = mp_log_best_response(P, lam)
        return MPSaddle(log_pi=log_pi, lam=lam, grad=g, pg_norm=pg, newton_steps=steps,
                        certified=bool(pg <= REPLAY_NEWTON_PG_TOL))


# ------------------------------------------------------------------------------ Algorithm 2
def mp_kl_rows(log_p: list, log_q: list) -> list:
    """``KL(p[x] || q[x])`` per row (first argument is the one integrated against)."""
    return [mpmath.fsum(mpmath.exp(a) * (a - b) for a, b in zip(lp, lq)) for lp, lq in zip(log_p, log_q)]


def mp_error(P: MPProblem, saddle: MPSaddle, log_hat: list, lam_hat: Sequence) -> mpmath.mpf:
    """Thm 3.4's error ``E_x KL(pi*[x] || pi_hat[x]) + ||lam* - lam_hat||^2`` (pi* first, as stated)."""
    with mpmath.workdps(REPLAY_DPS):
        kl = mp_kl_rows(saddle.log_pi, log_hat)
        return (mpmath.fsum(P.rho[x] * kl[x] for x in range(P.X))
                + mpmath.fsum((saddle.lam[j] - lam_hat[j]) ** 2 for j in range(P.h)))


@dataclass
class MPRun:
    """Metrics of the replayed run for t = 0..T (lists of mpf), the same names as ``Trajectory.metrics``."""

    kl_star: list
    lam_err2: list
    kl_hat_pred: list
    lam_hat_pred2: list

    @property
    def error(self) -> list:
        return [a + b for a, b in zip(self.kl_star, self.lam_err2)]


def mp_run_opd(P: MPProblem, saddle: MPSaddle, *, eta_th: float, eta_lam: float, T: int,
               dual_step: str = "prox", lam_init: Sequence[float] | None = None) -> MPRun:
    """Algorithm 2, eqs. (4)-(7), at 50 digits, ``T`` steps.

    (4)/(6): ``log pi = log_softmax((eta log pi_hat + beta log pi_ref + S_lam) / (eta + beta))``;
    (5)/(7): ``lam = [lam_hat - s c]_+``, ``s = 1/(2 eta_lam)`` ("prox") or ``1/eta_lam`` ("gradient");
    t = 0: ``pi_hat_0 = pi_ref``, ``lam_hat_0 = lam_init`` (0), ``pi_{-1} = pi_hat_0``, ``lam_{-1} = lam_hat_0``.
    """
    if dual_step not in ("prox", "gradient"):
        raise ValueError(f"dual_step = {dual_step!r}; choose 'prox' or 'gradient'.")
    with mpmath.workdps(REPLAY_DPS):
        eta, el = mpmath.mpf(float(eta_th)), mpmath.mpf(float(eta_lam))
        s = 1 / (2 * el) if dual_step == "prox" else 1 / el
        den = eta + P.beta

        def primal(log_hat, lam):
            S = _scores(P, lam)
            return [_log_softmax([(eta * log_hat[x][y] + P.beta * P.log_ref[x][y] + S[x][y]) / den
                                  for y in range(P.n)]) for x in range(P.X)]

        def dual(lam_hat, c):
            return [max(lam_hat[j] - s * c[j], mpmath.mpf(0)) for j in range(P.h)]

        def rho_kl(lp, lq):
            return mpmath.fsum(P.rho[x] * k for x, k in enumerate(mp_kl_rows(lp, lq)))

        lam_hat = [mpmath.mpf(0)] * P.h if lam_init is None else [mpmath.mpf(float(v)) for v in lam_init]
        log_hat = [list(row) for row in P.log_ref]
        lam_prev, c_prev = lam_hat, _constraints(P, log_hat)  # t = 0: pi_{-1} = pi_hat_0, lam_{-1} = lam_hat_0
        out = MPRun([rho_kl(saddle.log_pi, log_hat)], [mpmath.fsum((a - b) ** 2 for a, b in zip(saddle.lam, lam_hat))],
                    [mpmath.mpf(0)], [mpmath.mpf(0)])
        for _ in range(int(T)):
            log_pred = primal(log_hat, lam_prev)              # (4)
            lam_pred = dual(lam_hat, c_prev)                  # (5)
            c_pred = _constraints(P, log_pred)
            log_new = primal(log_hat, lam_pred)               # (6)
            lam_new = dual(lam_hat, c_pred)                   # (7)
            out.kl_star.append(rho_kl(saddle.log_pi, log_new))
            out.lam_err2.append(mpmath.fsum((a - b) ** 2 for a, b in zip(saddle.lam, lam_new)))
            out.kl_hat_pred.append(rho_kl(log_new, log_pred))
            out.lam_hat_pred2.append(mpmath.fsum((a - b) ** 2 for a, b in zip(lam_new, lam_pred)))
            log_hat, lam_hat = log_new, lam_new
            lam_prev, c_prev = lam_pred, c_pred  # pi_{t-1} enters only through c(pi_{t-1})
        return out


# ------------------------------------------------------------------------------ constants (sympy, one source)
@lru_cache(maxsize=1)
def _lambdified():
    """The sympy expressions of theory/thm34_constants.py at the paper's choice (eta = 3 sqrt(h) R,
    C1 = C2 = C = sqrt(h) R) and delta = theta = 3/4, lambdified for mpmath once."""
    import sympy as sp

    from opdcheck.theory import thm34_constants as tc

    d = sp.Rational(3, 4)
    args = (tc.H, tc.R, tc.BETA)
    phi = tc.paper_phi1_eq47()
    coeffs = [sp.simplify(phi.coeff(v)) for v in (tc.KL1, tc.KL2, tc.LAM1, tc.LAMDIFF1)]
    a = [tc.at_choice(e, d, d) for e in tc.lhs_multipliers()]
    exprs = {
        "rho_eq46": tc.paper_rho_eq46(),
        "rho_general": tc.at_choice(tc.general_rho(), d, d),
        "phi1_coeffs": coeffs,
        "a": a,
        "denom_theorem": tc.at_choice(tc.theorem_denominator()),
        "denom_proof_min": tc.at_choice(tc.proof_denominator(d)),
    }
    return {k: sp.lambdify(args, v, modules="mpmath") for k, v in exprs.items()}


def sympy_thm34_constants(h: int, R_max, beta) -> dict:
    """rho (eq. (46)), the general rho, the Phi_1 coefficients of eq. (47), the potential multipliers
    a1..a4 and both denominators, from the sympy expressions, evaluated at 50 digits."""
    f = _lambdified()
    with mpmath.workdps(REPLAY_DPS):
        args = (mpmath.mpf(int(h)), mpmath.mpf(R_max), mpmath.mpf(beta))
        return {k: (list(map(mpmath.mpf, fn(*args))) if k in ("phi1_coeffs", "a") else mpmath.mpf(fn(*args)))
                for k, fn in f.items()}


def mp_phi1_eq47(consts: dict, run: MPRun) -> mpmath.mpf:
    """``Phi_1`` of eq. (47) from the replayed run's t = 1 distances."""
    c = consts["phi1_coeffs"]
    with mpmath.workdps(REPLAY_DPS):
        return c[0] * run.kl_star[1] + c[1] * run.kl_hat_pred[1] + c[2] * run.lam_err2[1] + c[3] * run.lam_hat_pred2[1]


def mp_potential(consts: dict, run: MPRun) -> list:
    """``Phi_t = a1 KL(pi*||pi_hat_t) + a2 KL(pi_hat_t||pi_{t-1}) + a3 ||lam*-lam_hat_t||^2 + a4 ||lam_hat_t-lam_{t-1}||^2``."""
    a = consts["a"]
    with mpmath.workdps(REPLAY_DPS):
        return [a[0] * k + a[1] * kp + a[2] * l + a[3] * lp
                for k, kp, l, lp in zip(run.kl_star, run.kl_hat_pred, run.lam_err2, run.lam_hat_pred2)]


def mp_bound(t: int, rho, phi1, denom) -> mpmath.mpf:
    """Thm 3.4's right-hand side ``rho^(t-1) Phi_1 / denom`` at 50 digits."""
    with mpmath.workdps(REPLAY_DPS):
        return mpmath.power(rho, int(t) - 1) * phi1 / denom


def rel_diff(a, b) -> float:
    """``|a - b| / max(|a|, |b|)`` as a float (0 when both are 0)."""
    with mpmath.workdps(REPLAY_DPS):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        m = max(abs(a), abs(b))
        return 0.0 if m == 0 else float(abs(a - b) / m)


# ------------------------------------------------------------------------------ witnesses
def _agree(code: float, replay, scale) -> bool:
    from opdcheck.tolerances import REPLAY_AGREE_ATOL, REPLAY_AGREE_RTOL

    with mpmath.workdps(REPLAY_DPS):
        if not np.isfinite(code):
            return False
        return bool(abs(mpmath.mpf(code) - replay) <= REPLAY_AGREE_RTOL * abs(replay) + REPLAY_AGREE_ATOL * abs(scale))


def replay_work(problem, steps: int) -> int:
    """The replay's cost in mp-operations (compared with ``REPLAY_MAX_WORK``)."""
    return int(problem.X * problem.n * max(problem.h, 1) * max(int(steps), 1))


def _not_replayed(reason: str, **extra) -> dict:
    return {"replayed": False, "confirms": False, "agrees": False, "method": f"mpmath, {REPLAY_DPS} digits",
            "reason": reason, **extra}


def replay_bound_violation(problem, lam_start: Sequence[float], *, dual_step: str, t: int, eta_th: float,
                           eta_lam: float, code_error: float, code_bound: float, denominator: str = "denom_theorem",
                           rtol: float = 0.0) -> dict:
    """Witness for ``thm-3.4``: replay OPD for ``t`` steps at 50 digits, recompute Phi_1 (eq. (47)),
    rho (eq. (46)) and the denominator from the sympy constants, and judge ``error_t > bound_t``.

    ``confirms``: the replayed error exceeds the replayed bound (by the check's ``rtol``); ``agrees``:
    the code's error and bound at step t match the replay (``REPLAY_AGREE_RTOL``, ``REPLAY_AGREE_ATOL``);
    ``certified``: the 50-digit saddle point's projected gradient is below ``REPLAY_NEWTON_PG_TOL``.
    """
    from opdcheck.tolerances import REPLAY_MAX_WORK

    if replay_work(problem, t) > REPLAY_MAX_WORK:
        return _not_replayed(f"replay of {replay_work(problem, t)} mp-operations exceeds REPLAY_MAX_WORK = {REPLAY_MAX_WORK}")
    P = mp_problem(problem)
    S = mp_saddle(P, lam_start)
    run = mp_run_opd(P, S, eta_th=eta_th, eta_lam=eta_lam, T=t, dual_step=dual_step)
    k = sympy_thm34_constants(problem.h, P.R_max, P.beta)
    phi1 = mp_phi1_eq47(k, run)
    bound = mp_bound(t, k["rho_eq46"], phi1, k[denominator])
    err = run.error[t]
    with mpmath.workdps(REPLAY_DPS):
        confirms = bool(err > bound * (1 + mpmath.mpf(rtol)))
        ratio = err / bound
    agree_e = _agree(code_error, err, run.error[0])
    agree_b = _agree(code_bound, bound, run.error[0])
    w = {"replayed": True, "confirms": confirms and S.certified, "agrees": agree_e and agree_b,
         "method": f"mpmath, {REPLAY_DPS} digits: projected Newton saddle point, Algorithm 2 ({dual_step}), "
                   "bound from the sympy constants of theory/thm34_constants.py",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "t": int(t), "dual_step": dual_step, "denominator": denominator,
         "error (code)": float(code_error), "error (replay)": float(err),
         "bound (code)": float(code_bound), "bound (replay)": float(bound),
         "ratio (code)": float(code_error / code_bound) if code_bound else float("inf"), "ratio (replay)": float(ratio),
         "rho46 (sympy)": float(k["rho_eq46"]), "Phi_1 (replay)": float(phi1), "denominator (sympy)": float(k[denominator]),
         "lam* (replay)": [float(v) for v in S.lam], "saddle projected gradient": float(S.pg_norm),
         "saddle certified": S.certified}
    if not w["agrees"]:
        w["disagreement"] = (f"at t = {t}: error code {float(code_error):.12g} vs replay {float(err):.12g}, "
                             f"bound code {float(code_bound):.12g} vs replay {float(bound):.12g}")
    return w


def replay_lyapunov_violation(problem, lam_start: Sequence[float], *, dual_step: str, t: int, eta_th: float,
                              eta_lam: float, code_ratio: float, code_rho: float, rtol: float = 0.0) -> dict:
    """Witness for ``thm-3.4-lyapunov``: replay ``t + 1`` steps and judge ``Phi_{t+1} > rho Phi_t`` with
    Phi's multipliers and rho (the proof's general max, equal to eq. (46) here) from the sympy constants.
    ``agrees``: the code's ``Phi_{t+1}/(rho Phi_t)`` and rho match the replay."""
    from opdcheck.tolerances import REPLAY_AGREE_RTOL, REPLAY_MAX_WORK

    if replay_work(problem, t + 1) > REPLAY_MAX_WORK:
        return _not_replayed(f"replay of {replay_work(problem, t + 1)} mp-operations exceeds REPLAY_MAX_WORK = {REPLAY_MAX_WORK}")
    P = mp_problem(problem)
    S = mp_saddle(P, lam_start)
    run = mp_run_opd(P, S, eta_th=eta_th, eta_lam=eta_lam, T=t + 1, dual_step=dual_step)
    k = sympy_thm34_constants(problem.h, P.R_max, P.beta)
    phi = mp_potential(k, run)
    rho = k["rho_general"]
    with mpmath.workdps(REPLAY_DPS):
        ratio = phi[t + 1] / (rho * phi[t])
        confirms = bool(ratio > 1 + mpmath.mpf(rtol))
    # the ratio is a quotient of two potentials each known to REPLAY_AGREE_ATOL * Phi_1: scale by Phi_1/Phi_t
    with mpmath.workdps(REPLAY_DPS):
        scale = phi[1] / phi[t]
    agrees = _agree(code_ratio, ratio, scale) and rel_diff(code_rho, rho) <= REPLAY_AGREE_RTOL
    w = {"replayed": True, "confirms": confirms and S.certified, "agrees": agrees,
         "method": f"mpmath, {REPLAY_DPS} digits: projected Newton saddle point, Algorithm 2 ({dual_step}), "
                   "Phi_t and rho from the sympy constants of theory/thm34_constants.py",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "t": int(t), "dual_step": dual_step,
         "Phi_(t+1)/(rho Phi_t) (code)": float(code_ratio), "Phi_(t+1)/(rho Phi_t) (replay)": float(ratio),
         "rho (code)": float(code_rho), "rho (sympy)": float(rho), "Phi_t (replay)": float(phi[t]),
         "Phi_(t+1) (replay)": float(phi[t + 1]), "lam* (replay)": [float(v) for v in S.lam],
         "saddle projected gradient": float(S.pg_norm), "saddle certified": S.certified}
    if not agrees:
        w["disagreement"] = (f"at t = {t}: ratio code {float(code_ratio):.12g} vs replay {float(ratio):.12g}, "
                             f"rho code {float(code_rho):.12g} vs sympy {float(rho):.12g}")
    return w


def mp_tail_rate(errors: Sequence, t0: int, t1: int) -> mpmath.mpf:
    """``exp`` of the least-squares slope of ``log e_t`` over ``t0 <= t <= t1`` (50 digits)."""
    with mpmath.workdps(REPLAY_DPS):
        # points at the replay's own floor (10 digits above its precision; a KL can round to <= 0 there)
        # are dropped; fewer than two points left -> nan (no rate, nothing confirmed)
        floor = mpmath.mpf(10) ** (-(REPLAY_DPS - 10))
        ts = [t for t in range(int(t0), int(t1) + 1) if errors[t] > floor]
        if len(ts) < 2:
            return mpmath.mpf("nan")
        ys = [mpmath.log(errors[t]) for t in ts]
        tm = mpmath.fsum(ts) / len(ts)
        ym = mpmath.fsum(ys) / len(ys)
        num = mpmath.fsum((t - tm) * (y - ym) for t, y in zip(ts, ys))
        den = mpmath.fsum((t - tm) ** 2 for t in ts)
        return mpmath.exp(num / den)


def replay_rate_violation(problem, lam_start: Sequence[float], *, dual_step: str, t0: int, t1: int, eta_th: float,
                          eta_lam: float, code_rate: float, code_rho: float, slack: float) -> dict:
    """Witness for ``thm-3.4-rate``: replay ``t1`` steps, fit the tail rate on the code's window
    ``[t0, t1]`` at 50 digits, and judge ``rate > rho(46) + slack`` with rho from sympy.
    ``agrees``: the code's rate (``REPLAY_RATE_ATOL``) and rho (``REPLAY_AGREE_RTOL``) match the replay."""
    from opdcheck.tolerances import REPLAY_AGREE_RTOL, REPLAY_MAX_WORK, REPLAY_RATE_ATOL

    if t1 <= t0 or replay_work(problem, t1) > REPLAY_MAX_WORK:
        return _not_replayed(f"fit window [{t0}, {t1}] empty or replay of {replay_work(problem, t1)} mp-operations "
                             f"exceeds REPLAY_MAX_WORK = {REPLAY_MAX_WORK}")
    P = mp_problem(problem)
    S = mp_saddle(P, lam_start)
    run = mp_run_opd(P, S, eta_th=eta_th, eta_lam=eta_lam, T=t1, dual_step=dual_step)
    k = sympy_thm34_constants(problem.h, P.R_max, P.beta)
    rate = mp_tail_rate(run.error, t0, t1)
    with mpmath.workdps(REPLAY_DPS):
        confirms = bool(rate > k["rho_eq46"] + mpmath.mpf(slack))
        agrees = bool(np.isfinite(code_rate) and abs(mpmath.mpf(code_rate) - rate) <= REPLAY_RATE_ATOL
                      and rel_diff(code_rho, k["rho_eq46"]) <= REPLAY_AGREE_RTOL)
    w = {"replayed": True, "confirms": confirms and S.certified, "agrees": agrees,
         "method": f"mpmath, {REPLAY_DPS} digits: projected Newton saddle point, Algorithm 2 ({dual_step}), "
                   "least-squares tail rate on the code's window, rho from sympy eq. (46)",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "dual_step": dual_step, "window": [int(t0), int(t1)],
         "rate (code)": float(code_rate), "rate (replay)": float(rate), "rho46 (code)": float(code_rho),
         "rho46 (sympy)": float(k["rho_eq46"]), "slack": float(slack), "lam* (replay)": [float(v) for v in S.lam],
         "saddle projected gradient": float(S.pg_norm), "saddle certified": S.certified}
    if not agrees:
        w["disagreement"] = (f"rate code {float(code_rate):.10g} vs replay {float(rate):.10g}; rho code "
                             f"{float(code_rho):.12g} vs sympy {float(k['rho_eq46']):.12g}")
    return w


def replay_zero_multiplier(problem, lam_start: Sequence[float], j: int, code_lam: Sequence[float]) -> dict:
    """Witness for ``lemma-B.5`` ("lam* > 0" false): the 50-digit saddle point, certified by its projected
    gradient, has ``lam*_j = 0`` with the constraint slack, ``c_j(pi*) > 0`` (complementary slackness).
    ``agrees``: the code's lam* matches the replay (``REPLAY_AGREE_RTOL`` relative to max(1, ||lam*||))."""
    from opdcheck.tolerances import REPLAY_AGREE_RTOL

    P = mp_problem(problem)
    S = mp_saddle(P, lam_start)
    with mpmath.workdps(REPLAY_DPS):
        scale = max([mpmath.mpf(1)] + [abs(v) for v in S.lam])
        diff = max(abs(mpmath.mpf(float(a)) - b) for a, b in zip(code_lam, S.lam))
        agrees = bool(diff <= REPLAY_AGREE_RTOL * scale)
        slack = S.grad[j]
        confirms = bool(S.certified and S.lam[j] == 0 and slack > REPLAY_NEWTON_PG_TOL)
    w = {"replayed": True, "confirms": confirms, "agrees": agrees,
         "method": f"mpmath, {REPLAY_DPS} digits: projected Newton on the dual D, certified by the projected gradient",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "j": int(j), "lam* (code)": [float(v) for v in code_lam],
         "lam* (replay)": [float(v) for v in S.lam], "lam*_j (replay)": float(S.lam[j]),
         "c_j(pi*) (replay, slack)": float(slack), "saddle projected gradient": float(S.pg_norm),
         "saddle certified": S.certified, "max |lam* code - replay|": float(diff)}
    if not agrees:
        w["disagreement"] = f"lam* code {w['lam* (code)']} vs replay {w['lam* (replay)']} (max diff {float(diff):.3g})"
    return w


def crosscheck_constants(problem, *, rho_numeric: float, a_numeric: Sequence[float], denoms_numeric: dict,
                         phi1_numeric: float | None = None, metrics=None, rtol: float | None = None) -> tuple[bool, str]:
    """Compare the numeric Thm 3.4 constants the checks use (kernels/potential.py) with the sympy ones
    (theory/thm34_constants.py) on ``problem``: rho (eq. (46)), the potential multipliers a1..a4, the
    denominators, and (given the run's ``metrics``) Phi_1 of eq. (47). Returns ``(agree, detail)``."""
    from opdcheck.tolerances import THM34_CROSSCHECK_RTOL

    rtol = THM34_CROSSCHECK_RTOL if rtol is None else rtol
    k = sympy_thm34_constants(problem.h, float(problem.R_max), float(problem.beta))
    pairs = [("rho (46)", rho_numeric, k["rho_eq46"])]
    pairs += [(f"a{i + 1}", a, b) for i, (a, b) in enumerate(zip(a_numeric, k["a"]))]
    pairs += [(d, v, k[d]) for d, v in denoms_numeric.items() if d in k]
    if phi1_numeric is not None and metrics is not None:
        c = k["phi1_coeffs"]
        with mpmath.workdps(REPLAY_DPS):
            ref = (c[0] * float(metrics["kl_star"][1]) + c[1] * float(metrics["kl_hat_pred"][1])
                   + c[2] * float(metrics["lam_err2"][1]) + c[3] * float(metrics["lam_hat_pred2"][1]))
        pairs.append(("Phi_1 (47)", phi1_numeric, ref))
    bad = [(n, float(a), float(b)) for n, a, b in pairs if not rel_diff(a, b) <= rtol]
    detail = (f"{len(pairs)} constants on {problem.name} agree with sympy to {rtol:g}" if not bad else
              "numeric vs sympy differ: " + "; ".join(f"{n}: {a:.12g} vs {b:.12g}" for n, a, b in bad))
    return not bad, detail


def replay_l1_bound(problem, code_lam: Sequence[float], bound: float) -> dict:
    """Witness for a violation of Remark B.6's bound: the 50-digit certified saddle point's
    ``||lam*||_1`` exceeds ``bound`` (xi from the LP, reported as given) and the code's lam* agrees."""
    from opdcheck.tolerances import REPLAY_AGREE_RTOL

    P = mp_problem(problem)
    S = mp_saddle(P, code_lam)
    with mpmath.workdps(REPLAY_DPS):
        l1 = mpmath.fsum(S.lam)
        scale = max([mpmath.mpf(1)] + [abs(v) for v in S.lam])
        diff = max(abs(mpmath.mpf(float(a)) - b) for a, b in zip(code_lam, S.lam))
        agrees = bool(diff <= REPLAY_AGREE_RTOL * scale)
        confirms = bool(S.certified and l1 > mpmath.mpf(bound))
    w = {"replayed": True, "confirms": confirms, "agrees": agrees,
         "method": f"mpmath, {REPLAY_DPS} digits: projected Newton on the dual D (xi from the LP as given)",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "||lam*||_1 (code)": float(sum(code_lam)),
         "||lam*||_1 (replay)": float(l1), "bound": float(bound), "saddle projected gradient": float(S.pg_norm),
         "saddle certified": S.certified}
    if not agrees:
        w["disagreement"] = f"lam* code vs replay differ by {float(diff):.3g}"
    return w
