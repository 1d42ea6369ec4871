"""Algorithm 1 as configurations of the one driver (kernels/framework.py), and the stochastic primal."""
from __future__ import annotations

import numpy as np
import pytest

from opdcheck.cli import main
from opdcheck.instances import paper_toy, random_instance
from opdcheck.kernels.baselines import describe_methods, run_sequential_pd, run_simultaneous_pd
from opdcheck.kernels.framework import (FRAMEWORK_METHODS, InnerLoopToTolerance, KStepMirror, run_config)
from opdcheck.kernels.opd import run_opd
from opdcheck.kernels.rules import MirrorStep
from opdcheck.kernels.stochastic import SampledPrimal, sample_responses
from opdcheck.problem import Problem


@pytest.mark.parametrize("name", sorted(FRAMEWORK_METHODS))
def test_every_configuration_runs_through_the_driver(name):
    p = paper_toy()
    tr = run_config(name, p, eta_th=3.0 if name != "exact-multi-shot" else 0.05, eta_lam=3.0, T=40)
    assert tr.method == name and tr.n_steps >= 1 and tr.config["dual_step"] == FRAMEWORK_METHODS[name].dual_step
    assert np.all(np.isfinite(tr.error))
    cfg = FRAMEWORK_METHODS[name]
    if cfg.oracle != "inner-loop":
        calls = 2 if cfg.ordering == "optimistic" else 1
        assert tr.config["lagrangian_evaluations"] == tr.n_steps * calls * (cfg.K if cfg.oracle == "mirror" else 1)


def test_named_orderings_are_the_existing_baselines_bit_for_bit():
    p = random_instance(3, 4, 2, 0.1, seed=1)
    kw = dict(eta_th=2.0, eta_lam=2.5, T=150, dual_step="prox")
    pairs = [(run_config("opd", p, **kw), run_opd(p, **kw)),
             (run_config("simultaneous-pd", p, **kw), run_simultaneous_pd(p, **kw)),
             (run_config("finite-step-pd", p, **kw), run_sequential_pd(p, **kw))]
    for a, b in pairs:
        np.testing.assert_array_equal(a.error, b.error)


def test_one_shot_and_exact_multi_shot_reach_the_saddle_point():
    p = random_instance(3, 4, 2, 0.1, seed=2)
    one = run_config("one-shot", p, eta_th=0.0, eta_lam=4.0, T=600)
    ems = run_config("exact-multi-shot", p, eta_th=0.005, eta_lam=4.0, T=600)
    for tr in (one, ems):
        assert float(np.max(np.abs(tr.final_pi_hat - tr.extra["pi_star"]))) < 1e-9
        assert float(np.max(np.abs(tr.final_lam_hat - tr.extra["lam_star"]))) < 1e-9
    assert ems.config["lagrangian_evaluations"] > one.config["lagrangian_evaluations"]


def test_k_step_mirror_tends_to_the_best_response():
    p = random_instance(2, 3, 1, 0.5, seed=3)
    lam = np.array([0.7])
    z0 = p.log_pi_ref
    one = KStepMirror(p, 1.0, 1).step(z0, lam)
    np.testing.assert_allclose(one, MirrorStep(p, 1.0).step(z0, lam), rtol=0, atol=1e-15)
    br = MirrorStep(p, 0.0).step(z0, lam)
    far = KStepMirror(p, 1.0, 80).step(z0, lam)
    np.testing.assert_allclose(far, br, atol=1e-12)  # contraction 1/(1+beta) = 2/3 per inner step


def test_bad_framework_inputs_raise_named_errors():
    p = paper_toy()
    with pytest.raises(ValueError, match="method"):
        run_config("nope", p, eta_th=1.0, eta_lam=1.0, T=3)
    with pytest.raises(ValueError, match="K"):
        KStepMirror(p, 1.0, 0)
    lp = Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft, w=p.w, R_hard=p.R_hard, beta=0.0)
    with pytest.raises(ValueError, match="beta = 0"):
        InnerLoopToTolerance(lp, 1.0)
    with pytest.raises(ValueError, match="init_log_pi"):
        MirrorStep(p, 1.0, init_log_pi=np.zeros((2, 2)))


def test_describe_methods_and_cli(capsys):
    text = describe_methods()
    for name in FRAMEWORK_METHODS:
        assert name in text
    assert main(["list-methods"]) == 0
    assert "safe-rlhf" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ stochastic
def test_sampler_is_seeded_and_matches_its_distribution():
    log_pi = np.log(np.array([[0.2, 0.5, 0.3]]))
    a = sample_responses(log_pi, 20000, np.random.default_rng(7))
    b = sample_responses(log_pi, 20000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    freq = np.bincount(a[0], minlength=3) / a.shape[1]
    # binomial standard error <= 0.0036 at N = 20000: 5 SE
    np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.018)


@pytest.mark.parametrize("update", ["pg", "ppo"])
def test_sampled_primal_runs_deterministically_in_the_driver(update):
    from opdcheck.kernels.dual_rules import optimistic_log_lambda
    from opdcheck.kernels.opd import run_primal_dual

    p = random_instance(4, 3, 1, 0.05, seed=4)
    runs = [run_primal_dual(p, prediction="none", eta_th=1.0, eta_lam=1.0, T=30, lam_init=[1.0],
                            primal=SampledPrimal(p, lr=5.0, N=8, seed=11, update=update),
                            dual=optimistic_log_lambda(0.5)) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].error, runs[1].error)
    other = run_primal_dual(p, prediction="none", eta_th=1.0, eta_lam=1.0, T=30, lam_init=[1.0],
                            primal=SampledPrimal(p, lr=5.0, N=8, seed=12, update=update),
                            dual=optimistic_log_lambda(0.5))
    assert not np.array_equal(runs[0].error, other.error)


def test_ppo_clip_stops_the_ratio_from_running_away():
    p = random_instance(1, 3, 1, 0.05, seed=5)
    rows = np.arange(1)[:, None]

    def max_log_ratio(epochs, clip):
        prim = SampledPrimal(p, lr=2.0, N=64, seed=0, update="ppo", clip=clip, epochs=epochs)
        s = prim.init_state(p)
        new = prim.step(s, np.array([0.0]))
        return float(np.max(np.abs(prim.log_policy(new)[rows, s[1]] - prim.log_policy(s)[rows, s[1]])))

    # the first epoch moves every ratio from 1; after it, samples outside [0.8, 1.2] are no longer pushed (only
    # indirectly, through the shared softmax normaliser), so 49 more epochs add little -- unlike a nearly open clip
    first, clipped = max_log_ratio(1, 0.2), max_log_ratio(50, 0.2)
    assert clipped - first < 0.1
    assert max_log_ratio(50, 0.99) > 4 * clipped


def test_exact_pg_ascends_the_lagrangian():
    p = random_instance(3, 4, 1, 0.1, seed=6)
    prim = SampledPrimal(p, lr=0.5, N=1, seed=0, update="exact-pg")
    lam = np.array([0.3])

    def L(log_pi):
        pi = np.exp(log_pi)
        kl = np.sum(pi * (log_pi - p.log_pi_ref), axis=1)
        return float(p.rho @ (np.sum(pi * p.scores(lam), axis=1) - p.beta * kl))

    s = prim.init_state(p)
    s1 = prim.step(s, lam)
    assert L(prim.log_policy(s1)) > L(prim.log_policy(s))
    assert prim.constraint_estimate(s1) is None


def test_sampled_primal_rejects_bad_arguments():
    p = paper_toy()
    for kw, field in (({"update": "sgd"}, "update"), ({"N": 0}, "N"), ({"lr": -1.0}, "lr"), ({"clip": 1.5}, "clip"),
                      ({"seed": -1}, "seed")):
        args = {"lr": 1.0, "N": 4, "seed": 0, **kw}
        with pytest.raises(ValueError, match=field):
            SampledPrimal(p, **args)
