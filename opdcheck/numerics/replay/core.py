"""High-precision replay (mpmath, 50 digits) of OPD and of the Thm 3.4 bound, written apart from ``kernels/``.

Why: a REFUTED verdict of the Thm 3.4 family must not be fakeable by a bug in the float64 code that
produced it, nor by a formula the replay shares with it. This module recomputes, from the problem's data only (no import of ``opdcheck.kernels``
or ``opdcheck.numerics.dual``), everything a counterexample rests on:

* the best response (eq. (3), Lemma B.7) as the argmax of ``L(., lam)``, solved by Newton on its KKT
  conditions (``solve.py``), not by the closed form ``pi_ref exp(S/beta)`` the float code uses;
* the dual function by its definition ``D(lam) = max_pi L(pi, lam)``, its gradient ``c(pi_lam)``
  (Danskin) and its Hessian by forward differences of the gradient;
* the saddle point by projected Newton on ``D`` from a float start, with its certificate: the
  projected gradient (KKT residual of ``min_{lam >= 0} D``) at 50 digits;
* Algorithm 2 (eqs. (4)-(7)) with both dual conventions and the package's t = 0 convention
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

from opdcheck.numerics.replay.solve import kl_prox_argmax, quadratic_prox_argmin
from opdcheck.numerics.replay.witness import Witness, _from_flat
from opdcheck.tolerances import REPLAY_DPS, REPLAY_NEWTON_LOCAL, REPLAY_NEWTON_PG_TOL

__all__ = ["MPProblem", "mp_problem", "mp_log_best_response", "mp_dual_value", "mp_dual_gradient",
           "mp_dual_hessian", "mp_saddle", "MPSaddle", "mp_run_opd", "MPRun", "mp_kl_rows", "mp_error",
           "sympy_thm34_constants", "mp_phi1_eq47", "mp_bound", "mp_potential", "rel_diff", "mp_lagrangian",
           "replay_work", "replay_bound_violation", "replay_lyapunov_violation", "mp_tail_rate", "replay_rate_violation", "rate_agrees", "slater_margin_agrees",
           "replay_zero_multiplier", "crosscheck_constants", "replay_l1_bound", "replay_slater_margins"]


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


# ------------------------------------------------------------------------------ the problem's definitions
def _scores(P: MPProblem, lam: Sequence) -> list:
    """``S_lam = r + sum_j lam_j R_j``."""
    return [[P.r[x][y] + mpmath.fsum(lam[j] * P.R[j][x][y] for j in range(P.h)) for y in range(P.n)]
            for x in range(P.X)]


def mp_log_best_response(P: MPProblem, lam: Sequence) -> list:
    """Eq. (3): ``log pi_lam[x] = argmax_pi <pi, S_lam[x]> - beta KL(pi || pi_ref[x])``, solved per prompt by
    Newton on its KKT conditions (``solve.kl_prox_argmax``), not by the closed form."""
    with mpmath.workdps(REPLAY_DPS):
        S = _scores(P, lam)
        return [kl_prox_argmax(S[x], [(P.beta, P.log_ref[x])]) for x in range(P.X)]


def mp_lagrangian(P: MPProblem, log_pi: list, lam: Sequence) -> mpmath.mpf:
    """``L(pi, lam) = sum_x rho_x (<pi[x], S_lam[x]> - beta KL(pi[x] || pi_ref[x]))`` from its definition."""
    with mpmath.workdps(REPLAY_DPS):
        S = _scores(P, lam)
        kl = mp_kl_rows(log_pi, P.log_ref)
        return mpmath.fsum(P.rho[x] * (mpmath.fsum(mpmath.exp(log_pi[x][y]) * S[x][y] for y in range(P.n))
                                       - P.beta * kl[x]) for x in range(P.X))


def mp_dual_value(P: MPProblem, lam: Sequence) -> mpmath.mpf:
    """``D(lam) = max_pi L(pi, lam)``, by its definition: L at the best response solved generically."""
    with mpmath.workdps(REPLAY_DPS):
        return mp_lagrangian(P, mp_log_best_response(P, lam), lam)


def _constraints(P: MPProblem, log_pi: list) -> list:
    """``c_j(pi) = sum_x rho_x sum_y pi[x, y] R_j[x, y]``."""
    return [mpmath.fsum(P.rho[x] * mpmath.fsum(mpmath.exp(log_pi[x][y]) * P.R[j][x][y] for y in range(P.n))
                        for x in range(P.X)) for j in range(P.h)]


def mp_dual_gradient(P: MPProblem, lam: Sequence) -> list:
    """``grad D(lam) = c(pi_lam)``."""
    with mpmath.workdps(REPLAY_DPS):
        return _constraints(P, mp_log_best_response(P, lam))


def mp_dual_hessian(P: MPProblem, lam: Sequence, step: str = "1e-25") -> list:
    """``hess D(lam)`` by forward differences of ``grad D`` at 50 digits (step 1e-25: truncation ~1e-25,
    rounding ~1e-25), an h x h list. Newton with it converges at rate ~1e-25 per step."""
    with mpmath.workdps(REPLAY_DPS):
        lam = [mpmath.mpf(v) for v in lam]
        d = mpmath.mpf(step)
        g0 = mp_dual_gradient(P, lam)
        H = [[mpmath.mpf(0)] * P.h for _ in range(P.h)]
        for k in range(P.h):
            shifted = list(lam)
            shifted[k] += d
            gk = mp_dual_gradient(P, shifted)
            for j in range(P.h):
                H[j][k] = (gk[j] - g0[j]) / d
        for j in range(P.h):  # symmetrise (D is C^2)
            for k in range(j + 1, P.h):
                H[j][k] = H[k][j] = (H[j][k] + H[k][j]) / 2
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


def saddle_certified(projected_gradient) -> bool:
    """The 50-digit saddle point is certified: its projected gradient is at most REPLAY_NEWTON_PG_TOL."""
    return bool(projected_gradient <= REPLAY_NEWTON_PG_TOL)


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
            if saddle_certified(pg) or steps == max_steps:
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
                        certified=saddle_certified(pg))


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

    (4)/(6) and (5)/(7) are solved as the optimisation problems the paper writes (``solve.py``: Newton on
    the KKT conditions, a bracketing root-finder on the dual step's derivative), never by their closed forms;
    the dual problem's weight is ``eta_lam`` ("prox", eq. (5)) or ``eta_lam / 2`` ("gradient", Algorithm 3's step);
    t = 0: ``pi_hat_0 = pi_ref``, ``lam_hat_0 = lam_init`` (0), ``pi_{-1} = pi_hat_0``, ``lam_{-1} = lam_hat_0``.
    """
    if dual_step not in ("prox", "gradient"):
        raise ValueError(f"dual_step = {dual_step!r}; choose 'prox' or 'gradient'.")
    with mpmath.workdps(REPLAY_DPS):
        eta, el = mpmath.mpf(float(eta_th)), mpmath.mpf(float(eta_lam))
        # the quadratic weight of the dual problem: eq. (5)/(7) is eta_lam ||lam - lam_hat||^2 ("prox");
        # Algorithm 3's [lam_hat - c/eta_lam]_+ is the argmin with eta_lam/2 ("gradient")
        kappa = el if dual_step == "prox" else el / 2

        def primal(log_hat, lam):  # (4)/(6): argmax_pi L(pi, lam) - eta E_rho KL(pi || pi_hat), per prompt
            S = _scores(P, lam)
            return [kl_prox_argmax(S[x], [(eta, log_hat[x]), (P.beta, P.log_ref[x])]) for x in range(P.X)]

        def dual(lam_hat, c):  # (5)/(7): argmin_{lam >= 0} <lam, c> + kappa ||lam - lam_hat||^2
            return [quadratic_prox_argmin(c[j], lam_hat[j], kappa) for j in range(P.h)]

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
        "rho_general": _at_choice_termwise(tc.general_rho(), d),
        "phi1_coeffs": coeffs,
        "a": a,
        "denom_theorem": tc.at_choice(tc.theorem_denominator()),
        "denom_proof_min": tc.at_choice(tc.proof_denominator(d)),
    }
    return {k: sp.lambdify(args, v, modules="mpmath") for k, v in exprs.items()}


def _at_choice_termwise(expr, d):
    """``at_choice(expr, d, d)`` of a Max/Min taken term by term and kept unevaluated: the same function (the
    lambdified max of the same terms), without sympy comparing the substituted terms pairwise (~0.9 s for the
    general rho, most of this module's one-time cost); any other expression goes to ``at_choice`` whole."""
    import sympy as sp

    from opdcheck.theory import thm34_constants as tc

    if isinstance(expr, (sp.Max, sp.Min)):
        return expr.func(*[tc.at_choice(a, d, d) for a in expr.args], evaluate=False)
    return tc.at_choice(expr, d, d)


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


def _not_replayed(reason: str, **extra) -> Witness:
    return _from_flat({"replayed": False, "confirms": False, "agrees": False, "method": f"mpmath, {REPLAY_DPS} digits",
                       "reason": reason, **extra}, "counterexample too large to replay")


def replay_bound_violation(problem, lam_start: Sequence[float], *, dual_step: str, t: int, eta_th: float,
                           eta_lam: float, code_error: float, code_bound: float, denominator: str = "denom_theorem",
                           rtol: float = 0.0, certified_r2: Sequence[float] | None = None,
                           runner=None, method: str | None = None, title: str | None = None) -> Witness:
    """Witness for ``thm-3.4``: replay OPD for ``t`` steps at 50 digits, recompute Phi_1 (eq. (47)),
    rho (eq. (46)) and the denominator from the sympy constants, and judge ``error_t > bound_t``.

    ``confirms``: the replayed error exceeds the replayed bound (by the check's ``rtol``); ``agrees``:
    the code's error and bound at step t match the replay (``REPLAY_AGREE_RTOL``, ``REPLAY_AGREE_ATOL``);
    ``certified``: the 50-digit saddle point's projected gradient is below ``REPLAY_NEWTON_PG_TOL``.
    ``certified_r2``: an exact certificate's enclosure ``[lo^2, hi^2]`` of OPD's rate there (reported, not judged).
    ``runner``: the 50-digit Algorithm 2 replayed (default :func:`mp_run_opd`; a reading of the paper passes its own,
    e.g. ``readings.mp_run_opd_printed``), with its ``method`` description and the Witness ``title``.
    """
    from opdcheck.tolerances import REPLAY_MAX_WORK

    if replay_work(problem, t) > REPLAY_MAX_WORK:
        return _not_replayed(f"replay of {replay_work(problem, t)} mp-operations exceeds REPLAY_MAX_WORK = {REPLAY_MAX_WORK}")
    P = mp_problem(problem)
    S = mp_saddle(P, lam_start)
    run = (runner or mp_run_opd)(P, S, eta_th=eta_th, eta_lam=eta_lam, T=t, dual_step=dual_step)
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
         "method": method or (f"mpmath, {REPLAY_DPS} digits: saddle point by projected Newton on D = max_pi L, "
                              f"Algorithm 2 ({dual_step}) with (4)-(7) solved as optimisation problems (Newton on "
                              "their KKT conditions), bound from the sympy constants of theory/thm34_constants.py"),
         "instance": f"{problem.name} (beta = {problem.beta:g})", "t": int(t), "dual_step": dual_step, "denominator": denominator,
         "error (code)": float(code_error), "error (replay)": float(err),
         "bound (code)": float(code_bound), "bound (replay)": float(bound),
         "ratio (code)": float(code_error / code_bound) if code_bound else float("inf"), "ratio (replay)": float(ratio),
         "rho46 (sympy)": float(k["rho_eq46"]), "Phi_1 (replay)": float(phi1), "denominator (sympy)": float(k[denominator]),
         "lam* (replay)": [float(v) for v in S.lam], "saddle projected gradient": float(S.pg_norm),
         "saddle certified": S.certified,
         **({"certified r^2": [float(v) for v in certified_r2]} if certified_r2 is not None else {})}
    if not w["agrees"]:
        w["disagreement"] = (f"at t = {t}: error code {float(code_error):.12g} vs replay {float(err):.12g}, "
                             f"bound code {float(code_bound):.12g} vs replay {float(bound):.12g}")
    return _from_flat(w, title or "Thm 3.4 bound violated at step t (Algorithm 2 replayed)")


def replay_lyapunov_violation(problem, lam_start: Sequence[float], *, dual_step: str, t: int, eta_th: float,
                              eta_lam: float, code_ratio: float, code_rho: float, rtol: float = 0.0) -> Witness:
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
         "method": f"mpmath, {REPLAY_DPS} digits: saddle point by projected Newton on D = max_pi L, Algorithm 2 ({dual_step}) "
                   "with (4)-(7) solved as optimisation problems (Newton on their KKT conditions), "
                   "Phi_t and rho from the sympy constants of theory/thm34_constants.py",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "t": int(t), "dual_step": dual_step,
         "Phi_(t+1)/(rho Phi_t) (code)": float(code_ratio), "Phi_(t+1)/(rho Phi_t) (replay)": float(ratio),
         "rho (code)": float(code_rho), "rho (sympy)": float(rho), "Phi_t (replay)": float(phi[t]),
         "Phi_(t+1) (replay)": float(phi[t + 1]), "lam* (replay)": [float(v) for v in S.lam],
         "saddle projected gradient": float(S.pg_norm), "saddle certified": S.certified}
    if not agrees:
        w["disagreement"] = (f"at t = {t}: ratio code {float(code_ratio):.12g} vs replay {float(ratio):.12g}, "
                             f"rho code {float(code_rho):.12g} vs sympy {float(rho):.12g}")
    return _from_flat(w, "potential Phi_(t+1) > rho Phi_t (Algorithm 2 replayed)")


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


def rate_agrees(code_rate: float, replay_rate) -> bool:
    """The code's fitted tail rate matches the replayed one: finite and within REPLAY_RATE_ATOL (absolute; read at
    call time)."""
    from opdcheck.tolerances import REPLAY_RATE_ATOL

    with mpmath.workdps(REPLAY_DPS):
        return bool(np.isfinite(code_rate) and abs(mpmath.mpf(code_rate) - replay_rate) <= REPLAY_RATE_ATOL)


def rate_exceeds(rate, rho, slack: float) -> bool:
    """The replayed tail rate violates rho by more than ``slack``: ``rate > rho + slack`` (at REPLAY_DPS digits)."""
    with mpmath.workdps(REPLAY_DPS):
        return bool(mpmath.mpf(rate) > mpmath.mpf(rho) + mpmath.mpf(slack))


def replay_rate_violation(problem, lam_start: Sequence[float], *, dual_step: str, t0: int, t1: int, eta_th: float,
                          eta_lam: float, code_rate: float, code_rho: float, slack: float,
                          certified_r2: Sequence[float] | None = None) -> Witness:
    """Witness for ``thm-3.4-rate``: replay ``t1`` steps, fit the tail rate on the code's window
    ``[t0, t1]`` at 50 digits, and judge ``rate > rho(46) + slack`` with rho from sympy.
    ``agrees``: the code's rate (``REPLAY_RATE_ATOL``) and rho (``REPLAY_AGREE_RTOL``) match the replay.
    ``certified_r2``: an exact certificate's enclosure ``[lo^2, hi^2]`` of the rate (reported, not judged)."""
    from opdcheck.tolerances import REPLAY_AGREE_RTOL, REPLAY_MAX_WORK

    if t1 <= t0 or replay_work(problem, t1) > REPLAY_MAX_WORK:
        return _not_replayed(f"fit window [{t0}, {t1}] empty or replay of {replay_work(problem, t1)} mp-operations "
                             f"exceeds REPLAY_MAX_WORK = {REPLAY_MAX_WORK}")
    P = mp_problem(problem)
    S = mp_saddle(P, lam_start)
    run = mp_run_opd(P, S, eta_th=eta_th, eta_lam=eta_lam, T=t1, dual_step=dual_step)
    k = sympy_thm34_constants(problem.h, P.R_max, P.beta)
    rate = mp_tail_rate(run.error, t0, t1)
    with mpmath.workdps(REPLAY_DPS):
        confirms = rate_exceeds(rate, k["rho_eq46"], slack)
        agrees = rate_agrees(code_rate, rate) and bool(rel_diff(code_rho, k["rho_eq46"]) <= REPLAY_AGREE_RTOL)
    w = {"replayed": True, "confirms": confirms and S.certified, "agrees": agrees,
         "method": f"mpmath, {REPLAY_DPS} digits: saddle point by projected Newton on D = max_pi L, Algorithm 2 ({dual_step}) "
                   "with (4)-(7) solved as optimisation problems (Newton on their KKT conditions), "
                   "least-squares tail rate on the code's window, rho from sympy eq. (46)",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "dual_step": dual_step, "window": [int(t0), int(t1)],
         "rate (code)": float(code_rate), "rate (replay)": float(rate), "rho46 (code)": float(code_rho),
         "rho46 (sympy)": float(k["rho_eq46"]), "slack": float(slack), "lam* (replay)": [float(v) for v in S.lam],
         "saddle projected gradient": float(S.pg_norm), "saddle certified": S.certified,
         **({"certified r^2": [float(v) for v in certified_r2]} if certified_r2 is not None else {})}
    if not agrees:
        w["disagreement"] = (f"rate code {float(code_rate):.10g} vs replay {float(rate):.10g}; rho code "
                             f"{float(code_rho):.12g} vs sympy {float(k['rho_eq46']):.12g}")
    return _from_flat(w, "tail rate above rho of eq. (46) (Algorithm 2 replayed)")


def replay_zero_multiplier(problem, lam_start: Sequence[float], j: int, code_lam: Sequence[float]) -> Witness:
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
         "method": f"mpmath, {REPLAY_DPS} digits: projected Newton on D = max_pi L (best response by Newton on its KKT "
                   "conditions), certified by the projected gradient",
         "instance": f"{problem.name} (beta = {problem.beta:g})", "j": int(j), "lam* (code)": [float(v) for v in code_lam],
         "lam* (replay)": [float(v) for v in S.lam], "lam*_j (replay)": float(S.lam[j]),
         "c_j(pi*) (replay, slack)": float(slack), "saddle projected gradient": float(S.pg_norm),
         "saddle certified": S.certified, "max |lam* code - replay|": float(diff)}
    if not agrees:
        w["disagreement"] = f"lam* code {w['lam* (code)']} vs replay {w['lam* (replay)']} (max diff {float(diff):.3g})"
    return _from_flat(w, "lam*_j = 0 at the certified saddle point")


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


def slater_margin_agrees(code_xi, xi_rep, row_err=0) -> bool:
    """A code Slater margin matches the one replayed from its policy: the policy's rows sum to 1 and
    ``|xi - xi_rep| <= SLATER_REPLAY_RTOL max(1, |xi_rep|)`` (the tolerance read at call time). The one
    comparison of :func:`replay_l1_bound` and :func:`replay_slater_margins`."""
    from opdcheck.tolerances import SLATER_REPLAY_RTOL

    return bool(row_err <= SLATER_REPLAY_RTOL and code_xi is not None
                and abs(mpmath.mpf(float(code_xi)) - xi_rep) <= SLATER_REPLAY_RTOL * max(1, abs(xi_rep)))


def replay_l1_bound(problem, code_lam: Sequence[float], bound: float, *, xi: float | None = None,
                    pi_bar=None) -> Witness:
    """Witness on Remark B.6's bound ``||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min))``: the 50-digit certified
    saddle point's ``||lam*||_1`` against the bound.

    With the code's Slater point ``pi_bar`` (and its ``xi``), the margin is replayed too: ``xi = min_j c_j(pi_bar)``
    at 50 digits (the LP's value at its own maximiser) and the bound recomputed from it; ``agrees`` then also
    needs the code's xi and bound to match (``SLATER_REPLAY_RTOL``), so a margin in the wrong unit is caught.
    Without ``pi_bar``, xi is taken as given. ``confirms``: the replayed ``||lam*||_1`` exceeds the replayed bound."""
    from opdcheck.tolerances import REPLAY_AGREE_RTOL, SLATER_REPLAY_RTOL

    P = mp_problem(problem)
    S = mp_saddle(P, code_lam)
    with mpmath.workdps(REPLAY_DPS):
        l1 = mpmath.fsum(S.lam)
        scale = max([mpmath.mpf(1)] + [abs(v) for v in S.lam])
        diff = max(abs(mpmath.mpf(float(a)) - b) for a, b in zip(code_lam, S.lam))
        agrees = bool(diff <= REPLAY_AGREE_RTOL * scale)
        why = [] if agrees else [f"lam* code vs replay differ by {float(diff):.3g}"]
        bound_rep = mpmath.mpf(bound)
        extra = {}
        if pi_bar is not None:
            pb = np.asarray(pi_bar, dtype=np.float64)
            c = [mpmath.fsum(P.rho[x] * mpmath.fsum(mpmath.mpf(float(pb[x, y])) * P.R[j][x][y] for y in range(P.n))
                             for x in range(P.X)) for j in range(P.h)]
            xi_rep = min(c)
            row_err = max(abs(mpmath.fsum(mpmath.mpf(float(v)) for v in row) - 1) for row in pb)
            p_min = min(mpmath.exp(v) for row in P.log_ref for v in row)
            bound_rep = 2 / xi_rep * (P.R_max + P.beta * mpmath.log(1 / p_min))
            xi_ok = slater_margin_agrees(xi, xi_rep, row_err)
            b_ok = bool(abs(mpmath.mpf(float(bound)) - bound_rep) <= SLATER_REPLAY_RTOL * abs(bound_rep))
            if not xi_ok:
                why.append(f"Slater margin: code xi = {float(xi) if xi is not None else 'none'} vs min_j c_j(pi_bar) = "
                           f"{float(xi_rep):.12g} (row-sum error of pi_bar {float(row_err):.1e})")
            if not b_ok:
                why.append(f"bound: code {float(bound):.12g} vs replay {float(bound_rep):.12g}")
            agrees = agrees and xi_ok and b_ok
            extra = {"xi (code)": float(xi) if xi is not None else float("nan"), "xi (replay)": float(xi_rep),
                     "bound (code)": float(bound), "bound (replay)": float(bound_rep)}
        confirms = bool(S.certified and l1 > bound_rep)
    w = {"replayed": True, "confirms": confirms, "agrees": agrees,
         "method": f"mpmath, {REPLAY_DPS} digits: projected Newton on D = max_pi L (best response by Newton on its KKT "
                   "conditions); " + ("xi = min_j c_j(pi_bar) at the LP's point" if pi_bar is not None else
                                      "xi from the LP as given"),
         "instance": f"{problem.name} (beta = {problem.beta:g})", "||lam*||_1 (code)": float(sum(code_lam)),
         "||lam*||_1 (replay)": float(l1), **({"bound": float(bound)} if pi_bar is None else extra),
         "saddle projected gradient": float(S.pg_norm), "saddle certified": S.certified}
    if not agrees:
        w["disagreement"] = "; ".join(why)
    return _from_flat(w, "||lam*||_1 above the bound of Remark B.6")


def replay_slater_margins(cases: Sequence[tuple]) -> Witness:
    """The Slater margin of every instance replayed at the LP's own point: for each ``(problem, xi, pi_bar)``,
    ``min_j c_j(pi_bar)`` at 50 digits (``pi_bar`` a policy: rows sum to 1) must equal the code's ``xi``
    (``SLATER_REPLAY_RTOL``). ``confirms`` is always False (nothing is refuted by it); ``agrees`` is the control.
    A margin in the wrong unit (e.g. scaled by R_max) or from another point disagrees."""
    from opdcheck.tolerances import SLATER_REPLAY_RTOL

    rep, code, bad = {}, {}, []
    with mpmath.workdps(REPLAY_DPS):
        for problem, xi, pi_bar in cases:
            P = mp_problem(problem)
            pb = np.asarray(pi_bar, dtype=np.float64)
            c = [mpmath.fsum(P.rho[x] * mpmath.fsum(mpmath.mpf(float(pb[x, y])) * P.R[j][x][y] for y in range(P.n))
                             for x in range(P.X)) for j in range(P.h)]
            xi_rep = min(c)
            row_err = max(abs(mpmath.fsum(mpmath.mpf(float(v)) for v in row) - 1) for row in pb)
            rep[problem.name] = float(xi_rep)
            code[problem.name] = float(xi)
            if not slater_margin_agrees(xi, xi_rep, row_err):
                bad.append(f"{problem.name}: code xi {float(xi):.12g} vs min_j c_j(pi_bar) {float(xi_rep):.12g} "
                           f"(row-sum error {float(row_err):.1e})")
    return _from_flat({"replayed": True, "confirms": False, "agrees": not bad,
                       "method": f"mpmath, {REPLAY_DPS} digits: min_j c_j(pi_bar) at the LP's own point",
                       "xi (replay)": rep, "xi (code)": code, "tolerance": SLATER_REPLAY_RTOL,
                       "disagreement": "; ".join(bad)}, "Slater margins xi of the instances")
