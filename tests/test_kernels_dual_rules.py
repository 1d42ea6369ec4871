"""Stateful multiplier rules (kernels/dual_rules.py): formulas against hand-computed values, purity, and
the driver's state threading (the state advances only on the actual update)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from opdcheck.instances import paper_toy
from opdcheck.kernels.dual_rules import (DualRule, adam_clamp, make_dual_rule, optimistic_log_lambda,
                                         pid_lagrangian, projected_gradient, safe_rlhf_log_lambda)
from opdcheck.kernels.opd import run_opd, run_primal_dual
from opdcheck.kernels.rules import dual_step


def test_projected_gradient_equals_the_driver_step():
    rule = projected_gradient(0.3)
    lam, st = rule.update(rule.init(np.array([0.5, 0.0])), np.array([0.5, 0.0]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(lam, dual_step(np.array([0.5, 0.0]), np.array([1.0, 2.0]), 1 / 0.3,
                                                 convention="gradient"))


def test_safe_rlhf_step_and_clamp():
    rule = safe_rlhf_log_lambda()  # lr 0.1, lam_max 5
    assert rule.params["lambda_lr"] == 0.1 and rule.params["lambda_max"] == 5.0
    s = rule.init(np.array([1.0]))
    # violated constraint c = -0.5 (J_c - d = 0.5): log lam += 0.1 * 1 * 0.5
    lam, _ = rule.update(s, np.array([1.0]), np.array([-0.5]))
    assert lam[0] == pytest.approx(math.exp(0.05), rel=1e-15)
    lam, _ = rule.update(s, np.array([4.9]), np.array([-10.0]))
    assert lam[0] == pytest.approx(5.0, rel=1e-15)  # clamped at lambda_max
    with pytest.raises(ValueError, match="lam_init"):
        rule.init(np.array([0.0]))


def test_adam_clamp_matches_hand_computed_steps_and_is_pure():
    rule = adam_clamp(lr=0.1)
    s0 = rule.init(np.array([1.0]))
    g = [np.array([0.4]), np.array([-0.2])]
    lam1, s1 = rule.update(s0, np.array([1.0]), g[0])
    # first Adam step: mhat = g, vhat = g^2 -> step lr * g / (|g| + eps)
    assert lam1[0] == pytest.approx(1.0 - 0.1 * 0.4 / (0.4 + 1e-8), rel=1e-12)
    lam2, s2 = rule.update(s1, lam1, g[1])
    m = 0.9 * (0.1 * 0.4) + 0.1 * (-0.2)
    v = 0.999 * (0.001 * 0.16) + 0.001 * 0.04
    step = 0.1 * (m / (1 - 0.81)) / (math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    assert lam2[0] == pytest.approx(lam1[0] - step, rel=1e-12)
    assert s0[0] == 0 and np.all(s0[1] == 0)  # the old state was not mutated
    lam3, _ = rule.update(s2, np.array([0.01]), np.array([5.0]))
    assert lam3[0] == 0.0  # clamped at 0


def test_pid_lagrangian_first_updates_by_hand():
    rule = pid_lagrangian()  # kp 0.1, ki 0.01, kd 0.01, EMA 0.95
    s = rule.init(np.array([0.001]))
    lam, s = rule.update(s, np.array([123.0]), np.array([-2.0]))  # cost J_c - d = +2
    pid_i = 0.001 + 2 * 0.01
    delta_p = 0.05 * 2
    cost_d = 0.05 * 2
    assert lam[0] == pytest.approx(0.1 * delta_p + pid_i + 0.01 * max(0.0, cost_d - 0.0), rel=1e-12)
    lam2, s2 = rule.update(s, lam, np.array([-2.0]))
    pid_i2 = pid_i + 0.02
    delta_p2 = 0.95 * delta_p + 0.1
    cost_d2 = 0.95 * cost_d + 0.1
    assert lam2[0] == pytest.approx(0.1 * delta_p2 + pid_i2 + 0.01 * max(0.0, cost_d2 - 0.0), rel=1e-12)


def test_sec4_rule_first_step_is_plain_then_extrapolated():
    rule = optimistic_log_lambda(0.5)
    assert rule.params["chain"] is False
    s = rule.init(np.array([1.0]))
    lam1, s1 = rule.update(s, np.array([1.0]), np.array([0.2]))
    assert lam1[0] == pytest.approx(math.exp(-0.5 * 0.2))  # g_{-1} = g_0
    lam2, _ = rule.update(s1, lam1, np.array([-0.4]))
    assert lam2[0] == pytest.approx(lam1[0] * math.exp(-0.5 * (2 * -0.4 - 0.2)))
    plain = optimistic_log_lambda(0.5, optimistic=False)
    lam2p, _ = plain.update(plain.init(np.array([1.0])), lam1, np.array([-0.4]))
    assert lam2p[0] == pytest.approx(lam1[0] * math.exp(0.5 * 0.4))


def test_make_dual_rule_rejects_unknown_and_bad_params():
    with pytest.raises(ValueError, match="dual rule"):
        make_dual_rule("nope")
    with pytest.raises(ValueError, match="lr"):
        safe_rlhf_log_lambda(lr=-1)
    with pytest.raises(ValueError, match="d_delay"):
        pid_lagrangian(d_delay=0)


def _counting_rule() -> DualRule:
    """State = number of committed updates; the step itself is the projected gradient at 0.1."""
    def update(k, lam, g):
        return np.maximum(np.asarray(lam) - 0.1 * np.asarray(g), 0.0), k + 1
    return DualRule("counting", lambda lam0: 0, update)


@pytest.mark.parametrize("prediction", ["optimistic", "none", "alternating"])
def test_driver_advances_dual_state_once_per_iteration(prediction):
    tr = run_primal_dual(paper_toy(), prediction=prediction, eta_th=3.0, eta_lam=3.0, T=7, dual=_counting_rule())
    assert tr.extra["final_dual_state"] == 7


def test_stateless_rule_reproduces_the_default_driver_bit_for_bit():
    p = paper_toy()
    a = run_opd(p, eta_th=3.0, eta_lam=3.0, T=200)
    b = run_primal_dual(p, prediction="optimistic", eta_th=3.0, eta_lam=3.0, T=200, dual=projected_gradient(1 / 6.0))
    np.testing.assert_array_equal(a.error, b.error)
    np.testing.assert_array_equal(a.final_lam_hat, b.final_lam_hat)


def test_driver_rejects_a_non_rule():
    with pytest.raises(ValueError, match="dual"):
        run_primal_dual(paper_toy(), prediction="none", eta_th=3.0, eta_lam=3.0, T=3, dual=object())
