"""The dual function D and its projected-Newton minimiser (the best response of eq. (3) is in ``kkt.py``).

For ``beta > 0`` the inner maximisation of the Lagrangian has the closed form (paper eq. (3),
Lemma B.7)::

    pi_lam[x, y] = pi_ref[x, y] exp(S_lam[x, y] / beta) / Z_x(lam),     S_lam = r + sum_j lam_j R_hard[j]

and the dual function (standard, not printed in the paper) is::

    D(lam) = max_pi L(pi, lam) = sum_x rho[x] beta logsumexp_y(log pi_ref[x, y] + S_lam[x, y] / beta)
    grad D(lam) = c(pi_lam)
    hess D(lam) = (1/beta) sum_x rho[x] Cov_{y ~ pi_lam[x]}(R_hard[:, x, y])

``lam* = argmin_{lam >= 0} D(lam)`` is found by a projected Newton method (Bertsekas 1982) and
``pi* = pi_{lam*}``, in dimensionless units (rewards in R_max, constraint j in max|R_hard[j]|, beta in
R_max: ``problem_units``), so that the iteration and its stopping test do not depend on the units of
the data. It says "converged" only with an optimality certificate (projected gradient, remaining Newton
step, and the float64 resolution of lam*, see ``_newton_certificate``); otherwise it raises SolverError
naming the certificate, or ValueError naming the Slater margin. Everything is computed in log space.

Example
-------
>>> from opdcheck.instances import paper_toy
>>> sp = solve_dual_newton(paper_toy())
>>> round(float(sp.lam[0]), 12), sp.pi.round(12).tolist()
(1.0, [[0.3, 0.7]])
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from opdcheck.logspace import logsumexp_rows
from opdcheck.numerics.kkt import (_check_lam, _require_beta, best_response, check_point, kkt_residuals,  # noqa: F401 (re-exported)
                                   log_best_response, primal_objective)
from opdcheck.numerics.types import SaddlePoint, SolverError
from opdcheck.tolerances import (
    DUAL_NEWTON_ACTIVE_EPS,
    DUAL_NEWTON_ARMIJO,
    DUAL_NEWTON_GTOL,
    DUAL_NEWTON_LAM_MAX,
    DUAL_NEWTON_MAX_ITER,
    DUAL_NEWTON_PINV_RCOND,
    DUAL_NEWTON_RESOLUTION_RTOL,
    DUAL_NEWTON_ROUNDING_FACTOR,
    DUAL_NEWTON_XTOL,
)

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = [
    "log_best_response", "best_response", "dual_value", "dual_gradient", "dual_hessian",
    "dual_oracle", "solve_dual_newton", "kkt_residuals", "primal_objective", "problem_units",
    "nondimensional_problem", "require_problem", "gradient_rounding",
]







def dual_value(problem: "Problem", lam) -> float:
    """``D(lam) = sum_x rho[x] beta logsumexp_y(log pi_ref + S_lam / beta)`` (= ``max_pi L(pi, lam)``).

    At ``beta = 0`` this is the limit ``sum_x rho[x] max_y S_lam[x, y]`` (the LP dual function).
    """
    lam = _check_lam(problem, lam)
    S = problem.scores(lam)
    if problem.beta == 0:
        return float(np.dot(problem.rho, S.max(axis=1)))
    beta = float(problem.beta)
    return float(beta * np.dot(problem.rho, logsumexp_rows(problem.log_pi_ref + S / beta)))


def dual_oracle(problem: "Problem", lam, hessian: bool = True):
    """One pass over the data: ``(D(lam), grad D(lam), hess D(lam) or None, pi_lam)``.

    The Hessian uses centred rewards ``R_j - E_{pi_lam[x]} R_j`` so that the covariance does not
    suffer cancellation when ``pi_lam`` is nearly deterministic (small beta).
    """
    beta = _require_beta(problem, "dual_oracle")
    lam = _check_lam(problem, lam)
    z = problem.log_pi_ref + problem.scores(lam) / beta
    lse = logsumexp_rows(z)
    pi = np.exp(z - lse[:, None])
    D = float(beta * np.dot(problem.rho, lse))
    Ex = np.einsum("xn,jxn->jx", pi, problem.R_hard)          # E_{pi_lam[x]} R_j
    g = Ex @ problem.rho                                         # c(pi_lam)
    H = None
    if hessian:
        Rc = problem.R_hard - Ex[:, :, None]
        wRc = Rc * (problem.rho[:, None] * pi)[None]
        H = np.einsum("jxn,kxn->jk", wRc, Rc) / beta
        H = 0.5 * (H + H.T)
    return D, g, H, pi


def dual_gradient(problem: "Problem", lam) -> np.ndarray:
    """``grad D(lam) = c(pi_lam)``, shape (h,)."""
    return dual_oracle(problem, lam, hessian=False)[1]


def dual_hessian(problem: "Problem", lam) -> np.ndarray:
    """``hess D(lam) = (1/beta) sum_x rho[x] Cov_{pi_lam[x]}(R_hard[:, x, :])``, shape (h, h)."""
    return dual_oracle(problem, lam, hessian=True)[2]




def _projected_gradient(lam: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``lam - [lam - g]_+``: zero iff lam satisfies the KKT conditions of min_{lam>=0} D."""
    return lam - np.maximum(lam - g, 0.0)


def require_problem(problem, what: str) -> "Problem":
    """``problem`` itself if it is a Problem; else a ValueError naming the argument and the fix."""
    from opdcheck.problem import Problem

    if not isinstance(problem, Problem):
        raise ValueError(f"{what}: problem = {problem!r:.80} is a {type(problem).__name__}, not an "
                         "opdcheck.problem.Problem; build one with Problem(...), paper_toy(), "
                         "random_instance(...) or load_problem(path).")
    return problem


def problem_units(problem: "Problem") -> tuple[float, np.ndarray]:
    """``(s, a)``: the reward unit ``s = R_max`` and one unit per constraint ``a_j = max |R_hard[j]|``.

    In these units the problem is dimensionless (``solve_dual_newton`` works there)::

        r' = r / s,  R'_j = R_hard[j] / a_j,  beta' = beta / s,  lam'_j = lam_j a_j / s,
        D'(lam') = D(lam) / s,  c'_j = c_j / a_j

    (``S_lam / beta = S'_{lam'} / beta'``, so ``pi_lam`` is unchanged). A constraint with ``a_j = 0``
    is identically 0, so Slater's condition fails for it: ValueError naming j.
    """
    a = np.abs(problem.R_hard).reshape(problem.h, -1).max(axis=1)
    zero = np.flatnonzero(a == 0)
    if zero.size:
        raise ValueError(
            f"Problem.R_hard[{int(zero[0])}] is identically 0 on {problem.name!r}: c_j(pi) = 0 for every "
            "policy, so Slater's condition (xi > 0, Assumption 3.1) fails and lam*_j is not defined. "
            "Fix: drop this constraint or give it a threshold below its reward (R_hard[j] + margin)."
        )
    return float(problem.R_max), a


def nondimensional_problem(problem: "Problem") -> tuple["Problem", float, np.ndarray]:
    """The instance in the units of ``problem_units``: ``(problem', s, a)``."""
    from opdcheck.problem import Problem

    s, a = problem_units(problem)
    scaled = Problem(problem.rho, problem.pi_ref, problem.R_soft / s, problem.w,
                     problem.R_hard / a[:, None, None], problem.beta / s, name=problem.name,
                     meta={"nondimensional": True})
    return scaled, s, a


def gradient_rounding(problem: "Problem", lam: np.ndarray) -> float:
    """A bound on the float64 rounding error of ``c(pi_lam)`` (dimensionless problems, ``|R| <= 1``).

    ``pi_lam = exp(z - lse(z))`` with logits ``z = log pi_ref + S_lam / beta``: each ``pi`` carries a
    relative error ~ eps * max|z| (exp of a rounded argument), and the sum over ``X n`` terms
    adds ~ eps * log2(X n) (pairwise summation), each term bounded by ``rho pi |R| <= rho pi``.
    """
    zmax = float(np.max(np.abs(problem.scores(lam)))) / float(problem.beta) + float(np.max(-problem.log_pi_ref))
    return DUAL_NEWTON_ROUNDING_FACTOR * np.finfo(float).eps * (zmax + np.log2(problem.X * problem.n) + 1.0)


class _UnitOracle:
    """``D'``, its gradient and Hessian in the units of ``problem_units``, computed from the problem's own
    arrays (no rescaled copy of the rewards: for a 1e4 x 1e3 x 8 instance that copy alone is 0.6 GB)::

        D'(lam') = D(lam) / s,  grad' = c / a,  hess'_{jk} = hess_{jk} s / (a_j a_k),  lam = lam' s / a
    """

    def __init__(self, problem: "Problem") -> None:
        self.problem = problem
        self.s, self.a = problem_units(problem)
        self.h = problem.h

    def lam(self, lam_u: np.ndarray) -> np.ndarray:
        return lam_u * self.s / self.a

    def oracle(self, lam_u: np.ndarray):
        D, g, H, pi = dual_oracle(self.problem, self.lam(lam_u))
        return D / self.s, g / self.a, H * self.s / np.outer(self.a, self.a), pi

    def value(self, lam_u: np.ndarray) -> float:
        return dual_value(self.problem, self.lam(lam_u)) / self.s

    def rounding(self, lam_u: np.ndarray) -> float:
        # logits S/beta are unit-free, and |R'_j| <= 1: gradient_rounding applies to c' as it stands
        return gradient_rounding(self.problem, self.lam(lam_u))


def _newton_certificate(units: "_UnitOracle", lam: np.ndarray, g: np.ndarray, H: np.ndarray,
                        gtol: float) -> dict:
    """The optimality certificate of ``lam`` for ``min_{lam >= 0} D`` (dimensionless problem).

    - ``projected_gradient``: ``||lam - [lam - g]_+||_inf`` (first-order KKT residual), judged against
      ``max(gtol, gradient_rounding)``;
    - ``newton_step``: ``||H_FF^+ g_F||_inf`` on the free set ``F = {lam_j > 0 or g_j <= 0}`` (how far lam can still
      be from lam* given the curvature; the pseudo-inverse drops directions where D is flat to rounding,
      so a non-unique lam* (duplicated constraint) still certifies), judged against
      ``DUAL_NEWTON_XTOL * max(1, ||lam||_inf)``.
    A small gradient alone is not a certificate: at beta / R_max = 1e12, D is so flat that
    ``|grad D(0)| ~ 1e-13`` while lam* = 1 (the step test catches it).
    """
    pg = _projected_gradient(lam, g)
    pgn = float(np.max(np.abs(pg)))
    g_round = units.rounding(lam)
    # free: off the bound, or on it with the gradient pushing it off (lam_j = 0 with g_j <= 0 is only
    # optimal if the curvature says the minimiser is within the gate of 0)
    free = (lam > 0) | (g <= 0)
    step = 0.0
    lam_min = float("nan")
    if free.any():
        Hf = H[np.ix_(free, free)]
        ev = np.linalg.eigvalsh(Hf)
        lam_min = float(ev[0])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # far from lam*, pi_lam can be deterministic and H ~ 1e-300: its pseudo-inverse overflows,
            # which only means "not certified" here
            Hp = np.linalg.pinv(Hf, rcond=DUAL_NEWTON_PINV_RCOND, hermitian=True)
            step = float(np.max(np.abs(Hp @ g[free])))
            # how far lam* may be from lam because g itself is only known to g_round: ||H^+|| g_round
            resolution = float(np.abs(Hp).sum(axis=1).max()) * g_round
        if not (np.isfinite(step) and np.isfinite(resolution)):
            step = resolution = float("inf")
    else:
        resolution = 0.0
    gate_g = max(gtol, g_round)
    lam_scale = max(1.0, float(np.max(lam)))
    return {"projected_gradient": pgn, "gradient_rounding": g_round, "gradient_gate": gate_g,
            "newton_step": step, "step_gate": DUAL_NEWTON_XTOL * lam_scale, "hessian_min_eig_free": lam_min,
            "lam_resolution": resolution, "resolution_gate": DUAL_NEWTON_RESOLUTION_RTOL * lam_scale,
            "ok": newton_certificate_ok(pgn, gate_g, step, resolution, lam_scale)}


def newton_certificate_ok(projected_gradient: float, gradient_gate: float, newton_step: float,
                          lam_resolution: float, lam_scale: float) -> bool:
    """The dual Newton "converged": projected gradient within its gate, and both the remaining Newton step
    and the resolution of lam* within DUAL_NEWTON_XTOL and DUAL_NEWTON_RESOLUTION_RTOL of ``max(1, ||lam||_inf)``
    (a NaN anywhere is not converged)."""
    return bool(projected_gradient <= gradient_gate and newton_step <= DUAL_NEWTON_XTOL * lam_scale
                and lam_resolution <= DUAL_NEWTON_RESOLUTION_RTOL * lam_scale)


def solve_dual_newton(problem: "Problem", lam0=None, *, gtol: float = DUAL_NEWTON_GTOL,
                      max_iter: int = DUAL_NEWTON_MAX_ITER) -> SaddlePoint:
    """``lam* = argmin_{lam >= 0} D(lam)`` by projected Newton; ``pi* = pi_{lam*}`` (eq. (3)).

    Problem: the dual of the paper's constrained problem (1), ``min_{lam >= 0} D(lam)``, solved in the
    dimensionless units of :func:`problem_units` (rewards in R_max, each constraint in its own
    max |R_hard[j]|, beta in R_max), so that scaling the rewards, one constraint, or beta together
    with the rewards changes nothing but the units of the answer.
    Update (Bertsekas' projected Newton with an eps-active set):

    - active set ``A = {j : lam_j <= eps, g_j > 0}`` with ``eps = min(DUAL_NEWTON_ACTIVE_EPS, ||pg||)``
      (``pg`` the projected gradient): these stay on the bound (``d_A = -g_A / H_jj``);
    - free set ``F``: Newton direction ``d_F = -(H_FF + mu I)^{-1} g_F``, ``mu = ||pg||_inf * 1e-3`` a
      vanishing Levenberg term in case the covariance is singular;
    - projected Armijo backtracking on ``lam(a) = [lam + a d]_+``.

    "converged" only when the certificate of :func:`_newton_certificate` holds (projected gradient
    at ``gtol`` or at the gradient's rounding level, and a remaining Newton step below
    DUAL_NEWTON_XTOL relative); ``info["certificate"]`` has its numbers (dimensionless).
    A multiplier whose constraint is slack ends at exactly 0.0 (projection), not at 1e-12.
    Failures: ValueError naming the Slater margin when ``xi <= 0`` (the dual is then unbounded
    below), SolverError naming the certificate otherwise (iteration budget, a lam* that float64
    cannot resolve at this beta / R_max).
    """
    problem = require_problem(problem, "solve_dual_newton")
    beta = _require_beta(problem, "solve_dual_newton")
    units = _UnitOracle(problem)
    s, a = units.s, units.a
    lam0_u = None if lam0 is None else np.maximum(_check_lam(problem, lam0), 0.0) * a / s
    lam_u, D_u, pi, info = _projected_newton(units, lam0_u, gtol, max_iter)
    cert = info["certificate"]
    if not cert["ok"]:
        from opdcheck.numerics.lp import require_slater

        require_slater(problem)  # raises ValueError naming xi when Slater fails
        lam_show = (lam_u * s / a).tolist()
        why = ("D is too flat at beta / R_max = "
               f"{beta / s:.3g} for float64 to resolve lam*: its gradient rounds at {cert['gradient_rounding']:.1e} "
               f"and its curvature is {cert['hessian_min_eig_free']:.1e}, so lam* is known only to "
               f"{cert['lam_resolution']:.1e} (gate {cert['resolution_gate']:.1e})"
               if cert["projected_gradient"] <= cert["gradient_gate"] else "the projected gradient is above the gate")
        raise SolverError(
            f"dual Newton on {problem.name!r}: not certified optimal (status {info['status']!r} after "
            f"{info['iterations']} iterations): {why}; projected gradient {cert['projected_gradient']:.3e} "
            f"(gate {cert['gradient_gate']:.1e}), Newton step {cert['newton_step']:.3e} (gate "
            f"{cert['step_gate']:.1e}), in units of R_max = {s:.3g} and max|R_hard[j]| = {a.tolist()}; "
            f"lam = {lam_show}. Fix: lam* is resolved for beta / R_max up to ~1e7 (measured on the paper's toy); above, "
            "the KL term swamps the constraints and lam* is ill-determined in float64: lower beta or raise the rewards."
        )
    lam = lam_u * s / a
    # pi*, D in the problem's own units (pi_lam is unit-free only up to rounding): pi is exactly pi_{lam}
    D, _, _, pi = dual_oracle(problem, lam, hessian=False)
    primal = primal_objective(problem, pi)
    info.update(units={"R_max": s, "constraint_scale": a.tolist(), "beta_over_R_max": beta / s},
                projected_gradient=cert["projected_gradient"] * float(np.max(a)), gtol=gtol)
    return SaddlePoint(
        pi=pi, lam=lam, primal_value=primal, dual_value=D, duality_gap=D - primal,
        kkt=kkt_residuals(problem, pi, lam), method="dual-newton", info=info,
    )


def _projected_newton(units: "_UnitOracle", lam0, gtol: float, max_iter: int):
    """The iteration of :func:`solve_dual_newton` in dimensionless units: ``(lam', D', pi, info)``."""
    h = units.h
    lam = np.zeros(h) if lam0 is None else np.asarray(lam0, dtype=float)
    D, g, H, pi = units.oracle(lam)
    radius = 10.0 * max(1.0, float(np.max(lam)))
    status = "max_iter"
    it = 0
    n_backtracks = 0
    cert = _newton_certificate(units, lam, g, H, gtol)
    for it in range(1, max_iter + 1):
        if cert["ok"]:
            status = "converged"
            it -= 1
            break
        pg = _projected_gradient(lam, g)
        pgn = float(np.max(np.abs(pg)))
        eps = min(DUAL_NEWTON_ACTIVE_EPS, pgn)
        act = (lam <= eps) & (g > 0)
        free = ~act
        d = np.zeros(h)
        diag = np.maximum(np.diag(H), np.finfo(float).tiny)
        d[act] = -g[act] / diag[act]
        if free.any():
            Hf = H[np.ix_(free, free)]
            mu = 1e-3 * pgn * max(1.0, float(np.max(np.abs(np.diag(Hf)))))
            try:
                d[free] = -np.linalg.solve(Hf + mu * np.eye(int(free.sum())), g[free])
            except np.linalg.LinAlgError:
                d[free] = -np.linalg.lstsq(Hf + mu * np.eye(int(free.sum())), g[free], rcond=None)[0]
            if float(g[free] @ d[free]) >= 0:  # numerically non-descent: fall back to scaled gradient
                d[free] = -g[free] / diag[free]
        # Far from lam*, pi_lam is nearly deterministic, the Hessian tiny and the Newton step huge:
        # cap its length by a radius that grows 4x per accepted step, so backtracking stays short.
        dn = float(np.max(np.abs(np.maximum(lam + d, 0.0) - lam)))  # the projected full step
        a = min(1.0, radius / dn) if dn > 0 else 1.0
        accepted = False
        full = np.maximum(lam + d, 0.0)
        pred_full = float(-(g[free] @ d[free])) + float(g[act] @ (lam[act] - full[act]))
        # Predicted decrease below the rounding of D: Armijo cannot see it, go to the gradient test.
        flat = pred_full <= 64 * np.finfo(float).eps * max(1.0, abs(D))
        for _ in range(0 if flat else 60):
            lam_new = np.maximum(lam + a * d, 0.0)
            D_new = units.value(lam_new)  # value only: the line search needs no derivatives
            pred = a * float(-(g[free] @ d[free])) + float(g[act] @ (lam[act] - lam_new[act]))
            if D - D_new >= DUAL_NEWTON_ARMIJO * pred:
                accepted = True
                break
            a *= 0.5
            n_backtracks += 1
        if accepted:
            radius = max(4.0 * a * dn, 1e-8)
            D_new, g_new, H_new, pi_new = units.oracle(lam_new)
        else:
            # D is flat to rounding here: take the full (radius-capped) step if it reduces the
            # projected gradient (the Newton step is then within rounding of the minimiser), else stop.
            lam_new = np.maximum(lam + min(1.0, radius / dn if dn > 0 else 1.0) * d, 0.0)
            D_new, g_new, H_new, pi_new = units.oracle(lam_new)
            if np.max(np.abs(_projected_gradient(lam_new, g_new))) < pgn:
                radius = max(4.0 * radius, 1e-8)
                lam, D, g, H, pi = lam_new, D_new, g_new, H_new, pi_new
                cert = _newton_certificate(units, lam, g, H, gtol)
                continue
            status = "line-search-stalled"
            break
        lam, D, g, H, pi = lam_new, D_new, g_new, H_new, pi_new
        cert = _newton_certificate(units, lam, g, H, gtol)
        if not np.all(np.isfinite(lam)) or float(np.max(lam)) > DUAL_NEWTON_LAM_MAX:  # Slater fails
            status = "diverged"
            break
    else:
        if cert["ok"]:
            status = "converged"
    if status != "converged" and cert["ok"]:  # stalled or capped exactly at a certified point
        status = "converged"
    info = {"iterations": it, "status": status, "backtracks": n_backtracks, "certificate": cert}
    return lam, D, pi, info
