"""kernels/sampled_batch.py: the lock-step runs equal the driver's runs (run_primal_dual, prediction "none",
SampledPrimal, a dual rule) run by run, bit for bit -- multiplier path, last policy, divergence and its step."""
from __future__ import annotations

import numpy as np
import pytest

from opdcheck.instances import random_instance
from opdcheck.kernels.dual_rules import make_dual_rule
from opdcheck.kernels.opd import run_primal_dual
from opdcheck.kernels.sampled_batch import run_sampled_batch
from opdcheck.kernels.stochastic import SampledPrimal
from opdcheck.numerics.saddle import solve_saddle


def _driver(p, sad, rule, seed, lr, N, T, update, lam0):
    prim = SampledPrimal(p, lr=lr, N=N, seed=seed, update=update)
    tr = run_primal_dual(p, prediction="none", eta_th=1.0, eta_lam=1.0, T=T, lam_init=lam0, saddle=sad,
                         primal=prim, dual=rule, keep_every=1)
    return np.array([it[2] for it in tr.iterates]), tr.final_log_pi_hat, tr.diverged, tr.n_steps


def _rules(names_params):
    return {k: make_dual_rule(name, **params) for k, (name, params) in names_params.items()}


@pytest.mark.parametrize("update,h", [("ppo", 1), ("ppo", 2), ("pg", 1), ("exact-pg", 1)])
def test_lock_step_runs_equal_the_driver_bit_for_bit(update, h):
    p = random_instance(3, 4, h, 0.05, 11)
    sad = solve_saddle(p)
    spec = {"opd": ("sec4-optimistic-log-lambda", {}), "pd": ("sec4-plain-log-lambda", {}),
            "srl": ("safe-rlhf", {}), "adam": ("adam-clamp", {})}
    rules = _rules(spec)
    lam0 = np.ones(h)
    seeds = [5, 9]
    plan = [(k, s) for k in rules for s in seeds]
    N = 1 if update == "exact-pg" else 6
    out = run_sampled_batch(p, rules=[rules[k] for k, _ in plan], seeds=[s for _, s in plan], lr=3.0, N=N, T=25,
                            update=update, lam_init=lam0, lam_star=sad.lam)
    for (k, s), o in zip(plan, out):
        # a fresh rule per driver run (the lock-step call shares one rule object per rule)
        lam, log_pi, div, steps = _driver(p, sad, _rules(spec)[k], s, 3.0, N, 25, update, lam0)
        assert np.array_equal(o["lam"], lam), (k, s)
        assert np.array_equal(o["log_pi"], log_pi), (k, s)
        assert (o["diverged"], o["n_steps"]) == (div, steps)


def test_a_diverging_run_stops_where_the_driver_stops_and_the_others_run_on():
    p = random_instance(3, 4, 1, 0.05, 4)
    sad = solve_saddle(p)
    wild = make_dual_rule("sec4-optimistic-log-lambda", step=400.0)  # exp(log lam - 400 g) overflows
    calm = make_dual_rule("safe-rlhf")
    out = run_sampled_batch(p, rules=[wild, calm], seeds=[3, 3], lr=3.0, N=6, T=40, lam_init=[1.0], lam_star=sad.lam)
    lam, log_pi, div, steps = _driver(p, sad, make_dual_rule("sec4-optimistic-log-lambda", step=400.0), 3, 3.0, 6, 40,
                                      "ppo", [1.0])
    assert div and out[0]["diverged"] and out[0]["n_steps"] == steps < 40
    assert np.array_equal(out[0]["lam"], lam) and np.array_equal(out[0]["log_pi"], log_pi)
    lam, log_pi, div, steps = _driver(p, sad, make_dual_rule("safe-rlhf"), 3, 3.0, 6, 40, "ppo", [1.0])
    assert not out[1]["diverged"] and out[1]["n_steps"] == 40 and np.array_equal(out[1]["lam"], lam)


def test_shared_uniforms_do_not_change_a_run():
    p = random_instance(2, 3, 1, 0.05, 2)
    sad = solve_saddle(p)
    cache: dict = {}
    kw = dict(seeds=[1, 2], lr=2.0, N=4, T=10, lam_init=[1.0], lam_star=sad.lam)
    a = run_sampled_batch(p, rules=[make_dual_rule("safe-rlhf")] * 2, uniforms=cache, **kw)
    b = run_sampled_batch(p, rules=[make_dual_rule("safe-rlhf")] * 2, uniforms=cache, **kw)
    c = run_sampled_batch(p, rules=[make_dual_rule("safe-rlhf")] * 2, **kw)
    assert all(np.array_equal(x["lam"], y["lam"]) and np.array_equal(x["lam"], z["lam"]) for x, y, z in zip(a, b, c))


@pytest.mark.parametrize("kw,field", [({"rules": []}, "rules"), ({"lam_init": [-1.0]}, "lam_init"), ({"T": 0}, "T"),
                                      ({"N": 0}, "N"), ({"update": "adam"}, "update"), ({"rules": [None]}, "rules"),
                                      ({"lam_star": np.ones(3)}, "lam_star")])
def test_bad_input_names_the_field(kw, field):
    p = random_instance(2, 3, 1, 0.05, 2)
    args = dict(rules=[make_dual_rule("safe-rlhf")], seeds=[1], lr=2.0, N=4, T=3, lam_init=[1.0], lam_star=np.ones(1))
    args.update(kw)
    with pytest.raises(ValueError, match=field):
        run_sampled_batch(p, **args)
