"""The in-class saddle point ``(pi*_Theta, lam*_Theta)`` of ``min_{lam>=0} max_{theta in Theta} L(pi_theta, lam)``
(App. E, the problem above eq. (53)) and the in-class Slater margin (Assumption 3.7).

Method: the restricted dual function ``D_Theta(lam) = max_theta L(pi_theta, lam)`` is convex in ``lam``
(a maximum of affine functions) with gradient ``c(pi_theta(lam))`` (Danskin) where the maximiser is
unique. The outer problem is L-BFGS-B on ``lam >= 0``; the inner maximisation is a multi-start
L-BFGS-B (whole space, box, interval) or SLSQP (l2 ball) from the warm start, ``theta = 0`` projected
and seeded random points of Theta. The answer is certified, not trusted: KKT residuals (projected
gradient of the inner problem, feasibility, complementarity, the projected gradient of ``D_Theta``)
and a final multi-start search for a better inner maximiser at ``lam*`` (``global_gap``).

Policy classes are duck-typed (``log_probs``, ``score``, ``param_set``, ``d``; see
``opdcheck.kernels.policies``); this module imports nothing from ``kernels/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from opdcheck.problem import Problem
from opdcheck.tolerances import IN_CLASS_KKT_ATOL, IN_CLASS_TABULAR_ATOL

__all__ = ["kkt_solved", "tabular_agrees", "InClassSaddle", "restricted_lagrangian", "restricted_gradient", "inner_maximise",
           "solve_in_class", "in_class_slater_margin", "cross_check_tabular"]


@dataclass
class InClassSaddle:
    """``theta*``, ``pi = pi_theta*`` (X, n), ``lam`` (h,), value ``L(pi*, lam*)``, KKT residuals."""

    theta: np.ndarray
    pi: np.ndarray
    lam: np.ndarray
    value: float
    kkt: dict
    method: str = "in-class multi-start L-BFGS-B"
    info: dict = field(default_factory=dict)

    @property
    def certified(self) -> bool:
        return kkt_solved(self.kkt.get("max", np.inf))


def kkt_solved(kkt_max: float) -> bool:
    """An in-class point is a saddle point: its largest KKT residual is at most IN_CLASS_KKT_ATOL."""
    return bool(kkt_max <= IN_CLASS_KKT_ATOL)


def tabular_agrees(diff: float) -> bool:
    """The in-class and the distributional saddle point agree (tabular class): max |difference| at most
    IN_CLASS_TABULAR_ATOL."""
    return bool(diff <= IN_CLASS_TABULAR_ATOL)


def _kl_rows(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    return np.sum(np.exp(log_p) * (log_p - log_q), axis=1)


def restricted_lagrangian(problem: Problem, policy, theta: np.ndarray, lam: np.ndarray, *,
                          log_pi: np.ndarray | None = None) -> float:
    """``L(pi_theta, lam) = E_rho[<pi_theta, S_lam> - beta KL(pi_theta || pi_ref)]`` (``log_pi``: ``log pi_theta`` if
    already computed)."""
    lp = policy.log_probs(theta) if log_pi is None else log_pi
    lin = np.sum(np.exp(lp) * problem.scores(lam), axis=1)
    return float(problem.rho @ (lin - problem.beta * _kl_rows(lp, problem.log_pi_ref)))


def restricted_gradient(problem: Problem, policy, theta: np.ndarray, lam: np.ndarray, *,
                        log_pi: np.ndarray | None = None) -> np.ndarray:
    """``E_{rho, pi_theta}[(S_lam - beta log(pi/pi_ref) - V) score]`` (eq. (52)), from the class's score
    (``log_pi``: ``log pi_theta`` if already computed)."""
    lp = policy.log_probs(theta) if log_pi is None else log_pi
    pi = np.exp(lp)
    Q = problem.scores(lam) - problem.beta * (lp - problem.log_pi_ref)
    A = Q - np.sum(pi * Q, axis=1, keepdims=True)
    return np.einsum("xy,xyd->d", problem.rho[:, None] * pi * A, policy.score(theta))


def _bounds(param_set, d):
    if hasattr(param_set, "lo") and hasattr(param_set, "hi"):
        lo = np.broadcast_to(param_set.lo, (d,))
        hi = np.broadcast_to(param_set.hi, (d,))
        return list(zip(lo.tolist(), hi.tolist()))
    return None


def _log_probs_memo(policy):
    """``theta -> log pi_theta`` remembering the last point: the local searches ask for the value and the gradient at
    the same theta, so the policy is computed once for both (the same function, the same bits)."""
    last: list = [None, None]

    def log_probs(th):
        key = np.ascontiguousarray(th, dtype=np.float64).tobytes()
        if last[0] != key:
            last[0], last[1] = key, policy.log_probs(th)
        return last[1]
    return log_probs


def _local_max(problem, policy, lam, start):
    ps, d = policy.param_set, policy.d
    lp = _log_probs_memo(policy)
    fun = lambda th: -restricted_lagrangian(problem, policy, th, lam, log_pi=lp(th))  # noqa: E731
    jac = lambda th: -restricted_gradient(problem, policy, th, lam, log_pi=lp(th))  # noqa: E731
    if hasattr(ps, "radius"):
        c0, r = np.broadcast_to(ps.center, (d,)), ps.radius
        cons = [{"type": "ineq", "fun": lambda th: r * r - float(np.sum((th - c0) ** 2)),
                 "jac": lambda th: -2.0 * (th - c0)}]
        res = minimize(fun, ps.project(start), jac=jac, method="SLSQP", constraints=cons,
                       options={"ftol": 1e-15, "maxiter": 500})
    else:
        res = minimize(fun, ps.project(start), jac=jac, method="L-BFGS-B", bounds=_bounds(ps, d),
                       options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 300})
    th = ps.project(np.asarray(res.x, dtype=np.float64))
    return th, restricted_lagrangian(problem, policy, th, lam)


def inner_maximise(problem: Problem, policy, lam: np.ndarray, starts) -> tuple[np.ndarray, float]:
    """``argmax_{theta in Theta} L(pi_theta, lam)`` over local searches from ``starts`` (best value wins)."""
    best, best_val = None, -np.inf
    for s in starts:
        th, v = _local_max(problem, policy, lam, np.asarray(s, dtype=np.float64))
        if v > best_val:
            best, best_val = th, v
    return best, best_val


def _starts(policy, rng, k, warm=None):
    ps, d = policy.param_set, policy.d
    out = [] if warm is None else [warm]
    out.append(ps.project(np.zeros(d)))
    out += [ps.sample(rng, d) for _ in range(k)]
    return out


def _proj_grad_residual(policy, theta, g):
    return float(np.max(np.abs(theta - policy.param_set.project(theta + g)), initial=0.0))


def solve_in_class(problem: Problem, policy, *, seed: int = 0, n_starts: int = 3, n_certify: int = 12,
                   lam0=None) -> InClassSaddle:
    """The in-class saddle point with its certificate (see the module docstring)."""
    if (policy.X, policy.n) != (problem.X, problem.n):
        raise ValueError(f"policy: (X, n) = ({policy.X}, {policy.n}) does not match the problem's "
                         f"({problem.X}, {problem.n}).")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 31, policy.d]))
    base_starts = _starts(policy, rng, n_starts)
    warm = {"theta": None}

    def D(lam):
        # every evaluation is a multi-start global search (warm start + fixed seeded starts), so that
        # D_Theta stays the convex max-function even when L(pi_theta, lam) has several local maxima
        starts = ([warm["theta"]] if warm["theta"] is not None else []) + base_starts
        th, v = inner_maximise(problem, policy, lam, starts)
        warm["theta"] = th
        return v, problem.constraint_values(np.exp(policy.log_probs(th)))

    lam_start = np.zeros(problem.h) if lam0 is None else np.asarray(lam0, dtype=np.float64)
    res = minimize(D, lam_start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * problem.h,
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500})
    lam = np.maximum(np.asarray(res.x, dtype=np.float64), 0.0)
    rounds = 1
    # certification: a fresh, wider multi-start at lam*
    cert_starts = _starts(policy, np.random.default_rng(np.random.SeedSequence([int(seed), 97])), n_certify,
                          warm=warm["theta"])
    theta, value = inner_maximise(problem, policy, lam, cert_starts)
    pi = np.exp(policy.log_probs(theta))
    c = problem.constraint_values(pi)
    g = restricted_gradient(problem, policy, theta, lam)
    kkt = {
        "inner_projected_gradient": _proj_grad_residual(policy, theta, g),
        "primal_infeasibility": float(np.max(np.maximum(-c, 0.0), initial=0.0)),
        "complementarity": float(np.max(np.abs(lam * c), initial=0.0)),
        "dual_projected_gradient": float(np.max(np.abs(lam - np.maximum(lam - c, 0.0)), initial=0.0)),
    }
    kkt["max"] = max(kkt.values())
    info = {"outer_status": str(res.message), "outer_iterations": int(res.nit), "rounds": rounds, "n_starts": n_starts,
            "n_certify": n_certify, "constraint_values": c.tolist(), "seed": int(seed)}
    return InClassSaddle(theta=theta, pi=pi, lam=lam, value=value, kkt=kkt, info=info)


def in_class_slater_margin(problem: Problem, policy, *, seed: int = 0, n_starts: int = 8) -> tuple[float, np.ndarray]:
    """``xi_Theta = max_{theta in Theta} min_j c_j(pi_theta)`` (Assumption 3.7), multi-start SLSQP on
    the epigraph ``max s s.t. c_j(pi_theta) >= s``. Returns ``(xi_Theta, theta_bar)``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 53, policy.d]))
    ps, d = policy.param_set, policy.d
    bnds = _bounds(ps, d)

    log_probs = _log_probs_memo(policy)  # the constraint values and their Jacobian at the same theta share it

    def cvals(th):
        return problem.constraint_values(np.exp(log_probs(th)))

    def cjac(th):
        lp = log_probs(th)
        return np.einsum("x,xy,jxy,xyd->jd", problem.rho, np.exp(lp), problem.R_hard, policy.score(th))

    cons = [{"type": "ineq", "fun": lambda z: cvals(z[:d]) - z[d],
             "jac": lambda z: np.hstack([cjac(z[:d]), -np.ones((problem.h, 1))])}]
    if hasattr(ps, "radius"):
        c0, r = np.broadcast_to(ps.center, (d,)), ps.radius
        cons.append({"type": "ineq", "fun": lambda z: r * r - float(np.sum((z[:d] - c0) ** 2)),
                     "jac": lambda z: np.hstack([-2.0 * (z[:d] - c0), [0.0]])})
    best, best_th = -np.inf, None
    for s in _starts(policy, rng, n_starts):
        z0 = np.hstack([s, [float(np.min(cvals(s)))]])
        res = minimize(lambda z: -z[d], z0, jac=lambda z: np.hstack([np.zeros(d), [-1.0]]), method="SLSQP",
                       constraints=cons, bounds=None if bnds is None else bnds + [(None, None)],
                       options={"ftol": 1e-14, "maxiter": 500})
        th = ps.project(np.asarray(res.x[:d]))
        val = float(np.min(cvals(th)))
        if val > best:
            best, best_th = val, th
    return best, best_th


def cross_check_tabular(problem: Problem, policy, *, seed: int = 0) -> dict:
    """For a tabular class on the whole space: the in-class saddle point equals the distributional one
    (dual Newton); max |pi difference| and |lam difference| with the tolerance."""
    from opdcheck.numerics.dual import solve_dual_newton

    # tabular softmax on R^{Xn} reparameterises a concave problem surjectively: no spurious local maxima,
    # so the single start theta = 0 (plus a small certification search) suffices
    ic = solve_in_class(problem, policy, seed=seed, n_starts=0, n_certify=2)
    ds = solve_dual_newton(problem)
    dpi = float(np.max(np.abs(ic.pi - ds.pi)))
    dlam = float(np.max(np.abs(ic.lam - ds.lam), initial=0.0))
    return {"max_pi_diff": dpi, "max_lam_diff": dlam, "atol": IN_CLASS_TABULAR_ATOL,
            "agree": tabular_agrees(max(dpi, dlam)), "in_class_kkt": ic.kkt, "in_class": ic,
            "distributional": ds}
