"""Stateful multiplier rules (optax style: ``init`` / ``update`` with explicit state).

Sign convention: the constraint is ``c_j(pi) = E_{rho,pi}[R_j] >= 0`` and ``dL/dlam_j = c_j``;
``lam`` *descends* on ``L`` (``min_{lam>=0} max_pi L``). Practitioners write the same thing with a cost
``J_c`` and a limit ``d``: ``J_c - d = -c``. Every rule below is written in our convention, with the
practitioner's formula and its source in the docstring.

A rule is a :class:`DualRule` with two pure functions::

    state = rule.init(lam0)                         # lam0 = lam_hat_0, shape (h,)
    lam_new, state_new = rule.update(state, lam, g) # g = c(pi), the (estimated) constraint value

``update`` never mutates ``state``. The driver (:func:`opdcheck.kernels.opd.run_primal_dual`, ``dual=``)
calls ``update`` for the actual step ``lam_hat_{t+1}`` and *commits* ``state_new``; for OPD's prediction
(eq. (5)) it calls ``update`` on the same state and *discards* ``state_new``, so Adam's moments and bias
counter, PID's integrator and the §4 rule's stored gradient advance once per iteration, on the actual
sequence only. (Advancing them on the prediction too would count every constraint reading twice and feed
the extrapolated multiplier back into the integrator.)

Rules:

* :func:`projected_gradient` -- ``[lam - s g]_+`` (Algorithm 1, line 6; eqs. (5)/(7) with ``s = 1/(2 eta_lam)``).
* :func:`safe_rlhf_log_lambda` -- Safe-RLHF (Dai et al. 2024, ``safe_rlhf/algorithms/ppo_lag/trainer.py``):
  SGD on ``log lam`` of the loss ``-lam (J_c - d)``: ``log lam += lr lam (J_c - d)``, then
  ``log lam <= log lam_max``. Defaults ``lambda_lr = 0.1``, ``lambda_init = 1``, ``lambda_max = 5``.
* :func:`adam_clamp` -- OmniSafe ``Lagrange`` (``omnisafe/common/lagrange.py``, PPOLag.yaml): Adam on ``lam``
  with the loss ``-lam (J_c - d)`` (gradient ``-(J_c - d) = c``), then ``lam.clamp_(0, upper)``. Defaults
  ``lambda_lr = 0.035``, ``lagrangian_multiplier_init = 0.001``, Adam ``betas = (0.9, 0.999)``,
  ``eps = 1e-8`` (torch), ``lagrangian_upper_bound = None``.
* :func:`pid_lagrangian` -- OmniSafe ``PIDLagrangian.pid_update`` (``omnisafe/common/pid_lagrange.py``,
  CPPOPID.yaml; Stooke et al. 2020). Defaults ``kp = 0.1, ki = 0.01, kd = 0.01, d_delay = 10,
  delta_p_ema_alpha = 0.95, delta_d_ema_alpha = 0.95, sum_norm = True, diff_norm = False,
  penalty_max = 100, lagrangian_multiplier_init = 0.001``. (OmniSafe's ``sum_norm`` also divides the
  policy loss by ``1 + lam``; that is a primal-side scaling we do not apply: the primal here maximises
  the unnormalised Lagrangian.)
* :func:`optimistic_log_lambda` -- the paper's §4 heuristic: a step on ``log lam`` with the extrapolated
  gradient ``g_OPD = 2 g_t - g_{t-1}`` (§4, "OPD implementation"), dual step 0.5. The paper calls ``g_t``
  "the gradient of the dual objective" and says it "is applied directly to the log-dual variable": we read
  that as ``g_t = c_t`` (the gradient in ``lam``) applied to ``log lam`` (``chain=False``, default);
  ``chain=True`` takes the gradient in ``log lam`` instead (``lam_t c_t``, what autograd gives Safe-RLHF's
  parameterisation), whose step grows with ``lam`` and which blows up at step 0.5 on our bandit. **t = 0:** ``g_{-1}`` is undefined; we set ``g_{-1} = g_0`` (the first
  step is plain). ``optimistic=False`` is the same rule without the correction (plain PD on ``log lam``).

Example
-------
>>> import numpy as np
>>> rule = safe_rlhf_log_lambda()
>>> s = rule.init(np.array([1.0]))
>>> lam, s = rule.update(s, np.array([1.0]), np.array([-0.5]))  # violated (c < 0): lam grows
>>> bool(lam[0] > 1.0)
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["DualRule", "projected_gradient", "safe_rlhf_log_lambda", "adam_clamp", "pid_lagrangian",
           "optimistic_log_lambda", "DUAL_RULES", "make_dual_rule"]


@dataclass(frozen=True)
class DualRule:
    """A named multiplier rule: ``init(lam0) -> state``, ``update(state, lam, g) -> (lam_new, state_new)``."""

    name: str
    init: Callable[[np.ndarray], Any]
    update: Callable[[Any, np.ndarray, np.ndarray], tuple[np.ndarray, Any]]
    source: str = ""
    params: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {"dual_rule": self.name, "dual_source": self.source, "dual_params": dict(self.params)}


def _pos(name: str, value: float, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r}; pass a finite float.") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} = {value!r}; pass a finite float {'>=' if allow_zero else '>'} 0.")
    return v


def _vec(g) -> np.ndarray:
    return np.asarray(g, dtype=np.float64).reshape(-1)


# ------------------------------------------------------------------------------------- projected gradient
def projected_gradient(step: float) -> DualRule:
    """``lam_new = [lam - step * g]_+`` (Algorithm 1's dual step; stateless)."""
    s = _pos("projected_gradient: step", step)

    def update(state, lam, g):
        return np.maximum(_vec(lam) - s * _vec(g), 0.0), state

    return DualRule("projected-gradient", lambda lam0: None, update,
                    source="Algorithm 1 (line 6); eqs. (5)/(7) with step 1/(2 eta_lam)", params={"step": s})


# ------------------------------------------------------------------------------------------ Safe-RLHF
def safe_rlhf_log_lambda(lr: float = 0.1, lam_max: float | None = 5.0) -> DualRule:
    """Safe-RLHF's rule: ``log lam_new = min(log lam - lr * lam * g, log lam_max)`` (``g = c = -(J_c - d)``).

    The multiplier must stay > 0 (it lives in ``log lam``): ``lam_init = 1`` is Safe-RLHF's default.
    """
    lr = _pos("safe_rlhf_log_lambda: lr", lr)
    cap = None if lam_max is None else math.log(_pos("safe_rlhf_log_lambda: lam_max", lam_max))

    def init(lam0):
        lam0 = _vec(lam0)
        if np.any(lam0 <= 0):
            raise ValueError(f"lam_init = {lam0.tolist()}; Safe-RLHF's rule works on log lam and needs "
                             "lam_init > 0 (its default is 1.0).")
        return None

    def update(state, lam, g):
        lam = _vec(lam)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # the driver stops on non-finite
            log_new = np.log(lam) - lr * lam * _vec(g)
            if cap is not None:
                log_new = np.minimum(log_new, cap)
            return np.exp(log_new), state

    return DualRule("safe-rlhf", init, update,
                    source="Safe-RLHF (Dai et al. 2024), ppo_lag trainer: SGD on log_lambda, clamp at log(lambda_max)",
                    params={"lambda_lr": lr, "lambda_max": lam_max, "lambda_init (default)": 1.0})


# ----------------------------------------------------------------------------------- OmniSafe Lagrange
def adam_clamp(lr: float = 0.035, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
               upper: float | None = None) -> DualRule:
    """OmniSafe's ``Lagrange``: torch Adam on ``lam`` with gradient ``c``, then ``clamp(0, upper)``.

    State ``(k, m, v)``: step count and the first/second moments. Adam's step
    ``lam -= lr * mhat / (sqrt(vhat) + eps)``, ``mhat = m / (1 - b1^k)``, ``vhat = v / (1 - b2^k)``.
    """
    lr = _pos("adam_clamp: lr", lr)
    b1, b2 = float(betas[0]), float(betas[1])
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"adam_clamp: betas = {betas!r}; pass two floats in [0, 1).")
    eps = _pos("adam_clamp: eps", eps)
    ub = None if upper is None else _pos("adam_clamp: upper", upper)

    def init(lam0):
        z = np.zeros_like(_vec(lam0))
        return (0, z, z.copy())

    def update(state, lam, g):
        k, m, v = state
        g = _vec(g)
        k = k + 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1 ** k)
        vhat = v / (1 - b2 ** k)
        lam_new = np.clip(_vec(lam) - lr * mhat / (np.sqrt(vhat) + eps), 0.0, ub)
        return lam_new, (k, m, v)

    return DualRule("adam-clamp", init, update,
                    source="OmniSafe Lagrange (omnisafe/common/lagrange.py, PPOLag.yaml): Adam, clamp_(0, upper)",
                    params={"lambda_lr": lr, "betas": (b1, b2), "eps": eps, "lagrangian_upper_bound": ub,
                            "lagrangian_multiplier_init (default)": 0.001})


# ---------------------------------------------------------------------------------- OmniSafe PID-Lagrange
def pid_lagrangian(kp: float = 0.1, ki: float = 0.01, kd: float = 0.01, d_delay: int = 10,
                   delta_p_ema_alpha: float = 0.95, delta_d_ema_alpha: float = 0.95, sum_norm: bool = True,
                   diff_norm: bool = False, penalty_max: float = 100.0) -> DualRule:
    """OmniSafe's ``PIDLagrangian.pid_update`` per constraint, with the cost error ``delta = J_c - d = -g``.

    State ``(pid_i, delta_p, cost_d, cost_ds)``; ``pid_i`` starts at ``lam_init`` (OmniSafe's
    ``lagrangian_multiplier_init``), ``cost_ds`` is a window of ``d_delay`` past smoothed costs starting
    at ``(0,)``. The multiplier is an output of the controller; the ``lam`` passed in is not used.
    OmniSafe's ``ep_cost_avg`` is the cost itself; in our threshold-subtracted convention the cost is
    ``-g`` and the limit 0, so the derivative term uses ``-g`` too.
    """
    kp, ki, kd = (_pos(f"pid_lagrangian: {n}", v, allow_zero=True) for n, v in (("kp", kp), ("ki", ki), ("kd", kd)))
    if not isinstance(d_delay, (int, np.integer)) or d_delay < 1:
        raise ValueError(f"pid_lagrangian: d_delay = {d_delay!r}; pass an integer >= 1.")
    ap, ad = float(delta_p_ema_alpha), float(delta_d_ema_alpha)

    def init(lam0):
        lam0 = _vec(lam0)
        z = np.zeros_like(lam0)
        return (lam0.copy(), z, z.copy(), (z.copy(),))

    def update(state, lam, g):
        pid_i, delta_p, cost_d, cost_ds = state
        cost = -_vec(g)
        delta = cost  # ep_cost_avg - cost_limit, with the limit folded into R (threshold subtracted)
        pid_i = np.maximum(0.0, pid_i + delta * ki)
        if diff_norm:
            pid_i = np.clip(pid_i, 0.0, 1.0)
        delta_p = ap * delta_p + (1 - ap) * delta
        cost_d = ad * cost_d + (1 - ad) * cost
        pid_d = np.maximum(0.0, cost_d - cost_ds[0])
        out = np.maximum(0.0, kp * delta_p + pid_i + kd * pid_d)
        if diff_norm:
            out = np.minimum(out, 1.0)
        if not (diff_norm or sum_norm):
            out = np.minimum(out, penalty_max)
        cost_ds = (cost_ds + (cost_d,))[-int(d_delay):]
        return out, (pid_i, delta_p, cost_d, cost_ds)

    return DualRule("pid-lagrangian", init, update,
                    source="OmniSafe PIDLagrangian (omnisafe/common/pid_lagrange.py, CPPOPID.yaml; Stooke et al. 2020)",
                    params={"pid_kp": kp, "pid_ki": ki, "pid_kd": kd, "pid_d_delay": int(d_delay),
                            "pid_delta_p_ema_alpha": ap, "pid_delta_d_ema_alpha": ad, "sum_norm": sum_norm,
                            "diff_norm": diff_norm, "penalty_max": penalty_max,
                            "lagrangian_multiplier_init (default)": 0.001})


# ---------------------------------------------------------------------------------- the paper's §4 rule
def optimistic_log_lambda(step: float = 0.5, *, optimistic: bool = True, chain: bool = False,
                          lam_max: float | None = None) -> DualRule:
    """§4: ``log lam_new = log lam - step * (2 g_t - g_{t-1})`` with ``g_t = c_t`` (default) or ``lam_t c_t`` (``chain``).

    State: ``g_{t-1}`` (None before the first update: ``g_{-1} = g_0``). ``optimistic=False`` drops the
    correction (plain PD on ``log lam`` at the same step), the §4 baseline.
    """
    step = _pos("optimistic_log_lambda: step", step)
    cap = None if lam_max is None else math.log(_pos("optimistic_log_lambda: lam_max", lam_max))

    def init(lam0):
        if np.any(_vec(lam0) <= 0):
            raise ValueError(f"lam_init = {_vec(lam0).tolist()}; a rule on log lam needs lam_init > 0.")
        return None

    def update(g_prev, lam, g):
        lam = _vec(lam)
        g_t = lam * _vec(g) if chain else _vec(g)
        if optimistic:
            prev = g_t if g_prev is None else g_prev
            direction = 2.0 * g_t - prev
        else:
            direction = g_t
        # an exploding or collapsing multiplier gives inf/0 here; the driver stops on the non-finite state
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            log_new = np.log(lam) - step * direction
            if cap is not None:
                log_new = np.minimum(log_new, cap)
            return np.exp(log_new), g_t

    name = "sec4-optimistic-log-lambda" if optimistic else "sec4-plain-log-lambda"
    return DualRule(name, init, update,
                    source="paper §4 (OPD implementation): g_OPD = 2 g_t - g_{t-1} on log lambda, dual step 0.5"
                    + ("" if optimistic else "; correction off (plain PD)"),
                    params={"step": step, "optimistic": optimistic, "chain": chain, "lam_max": lam_max,
                            "t0": "g_{-1} = g_0"})


DUAL_RULES: dict[str, Callable[..., DualRule]] = {
    "projected-gradient": projected_gradient,
    "safe-rlhf": safe_rlhf_log_lambda,
    "adam-clamp": adam_clamp,
    "pid-lagrangian": pid_lagrangian,
    "sec4-optimistic-log-lambda": optimistic_log_lambda,
    "sec4-plain-log-lambda": lambda step=0.5, **kw: optimistic_log_lambda(step, optimistic=False, **kw),
}


def make_dual_rule(name: str, **params) -> DualRule:
    """The named rule (a key of :data:`DUAL_RULES`) with its source's defaults, overridden by ``params``."""
    if name not in DUAL_RULES:
        raise ValueError(f"dual rule: {name!r}; choose one of {sorted(DUAL_RULES)}.")
    return DUAL_RULES[name](**params)
