"""Each practitioners' multiplier rule (kernels/dual_rules.py), built as the named methods build it, against the
update its source defines, re-implemented here step by step in plain Python over several steps with changing
constraint values (a wrong rate, clamp, moment or correction changes some step).

Sources: Safe-RLHF's ppo_lag trainer (SGD on log_lambda with lr 0.1, clamp at log 5); OmniSafe's Lagrange (torch
Adam on lambda, lr 0.035, then clamp_(0, upper)); OmniSafe's PIDLagrangian.pid_update (kp 0.1, ki 0.01, kd 0.01,
d_delay 10, EMA alphas 0.95, sum_norm); the paper's §4 rule (log lambda -= 0.5 (2 g_t - g_(t-1))).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from opdcheck.kernels.dual_rules import make_dual_rule
from opdcheck.kernels.framework import FRAMEWORK_METHODS

G = [-0.4, 0.3, -0.2, 0.5, 0.1, -0.05, 0.25, -0.3]  # constraint values c_t (g_t); c < 0 is a violation


def _path(method: str, lam0: float) -> list[float]:
    cfg = FRAMEWORK_METHODS[method]
    rule = make_dual_rule(cfg.dual_rule, **cfg.dual_params)
    lam = np.array([lam0])
    state = rule.init(lam)
    out = []
    for g in G:
        lam, state = rule.update(state, lam, np.array([g]))
        out.append(float(lam[0]))
    return out


def safe_rlhf_source(lam0=1.0, lr=0.1, lam_max=5.0):
    """Safe-RLHF: ``lambda_loss = -(J_c - d) * exp(log_lambda)``; one SGD step on log_lambda; clamp."""
    log_lam, out = math.log(lam0), []
    for g in G:
        cost_excess = -g  # J_c - d
        grad = -cost_excess * math.exp(log_lam)  # d lambda_loss / d log_lambda
        log_lam = min(log_lam - lr * grad, math.log(lam_max))
        out.append(math.exp(log_lam))
    return out


def omnisafe_adam_source(lam0=0.001, lr=0.035, b1=0.9, b2=0.999, eps=1e-8):
    """OmniSafe Lagrange: ``loss = -lambda * (J_c - d)``, torch.optim.Adam step, ``clamp_(0, upper)``."""
    lam, m, v, out = lam0, 0.0, 0.0, []
    for k, g in enumerate(G, 1):
        grad = g  # d(-lambda (J_c - d))/d lambda = -(J_c - d) = g
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        lam = lam - lr * (m / (1 - b1 ** k)) / (math.sqrt(v / (1 - b2 ** k)) + eps)
        lam = max(lam, 0.0)
        out.append(lam)
    return out


def omnisafe_pid_source(lam0=0.001, kp=0.1, ki=0.01, kd=0.01, d_delay=10, ap=0.95, ad=0.95):
    """OmniSafe PIDLagrangian.pid_update with cost limit 0 (thresholds folded into R): ``delta = J_c``."""
    pid_i, delta_p, cost_d, cost_ds, out = lam0, 0.0, 0.0, [0.0], []
    for g in G:
        ep_cost = -g
        delta = ep_cost
        pid_i = max(0.0, pid_i + delta * ki)
        delta_p = ap * delta_p + (1 - ap) * delta
        cost_d = ad * cost_d + (1 - ad) * ep_cost
        pid_d = max(0.0, cost_d - cost_ds[0])
        pid_o = kp * delta_p + pid_i + kd * pid_d
        out.append(max(0.0, pid_o))
        cost_ds = (cost_ds + [cost_d])[-d_delay:]
    return out


def sec4_source(lam0=1.0, step=0.5, optimistic=True):
    log_lam, prev, out = math.log(lam0), None, []
    for g in G:
        d = (2 * g - (g if prev is None else prev)) if optimistic else g
        prev = g
        log_lam -= step * d
        out.append(math.exp(log_lam))
    return out


@pytest.mark.parametrize("method, lam0, source", [
    ("safe-rlhf", 1.0, safe_rlhf_source),
    ("adam-clamp", 0.001, omnisafe_adam_source),
    ("pid-lagrangian", 0.001, omnisafe_pid_source),
    ("sec4-opd", 1.0, sec4_source),
    ("sec4-pd", 1.0, lambda lam0: sec4_source(lam0, optimistic=False)),
])
def test_named_rule_follows_its_source_over_several_steps(method, lam0, source):
    got, want = _path(method, lam0), source(lam0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method, lam0, wrong", [
    ("safe-rlhf", 1.0, lambda lam0: safe_rlhf_source(lam0, lr=0.2)),           # the rate doubled
    ("adam-clamp", 0.001, lambda lam0: omnisafe_adam_source(lam0, b1=0.0)),     # no first moment
    ("pid-lagrangian", 0.001, lambda lam0: omnisafe_pid_source(lam0, kd=0.0)),  # no derivative term
    ("sec4-opd", 1.0, lambda lam0: sec4_source(lam0, optimistic=False)),        # g_t for 2 g_t - g_(t-1)
])
def test_a_wrong_source_update_is_told_apart(method, lam0, wrong):
    """Negative controls: each comparison above resolves the bug class it is meant to catch."""
    assert not np.allclose(_path(method, lam0), wrong(lam0), rtol=1e-12, atol=1e-15)
