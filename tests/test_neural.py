"""The neural policies (JAX): determinism, the dual rules' wiring, CG vs a dense pseudo-inverse, PPO's gradient."""
from __future__ import annotations

import math

import numpy as np
import pytest

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")

jax = pytest.importorskip("jax")
import jax.flatten_util  # noqa: E402,F401,F811 (the submodule is not loaded by `import jax`)

from opdcheck.kernels.neural.model import ModelConfig  # noqa: E402
from opdcheck.kernels.neural.study import run_neural_seed  # noqa: E402
from opdcheck.paper_checks.studies.sec4_neural import mcnemar, paired  # noqa: E402

TINY = {"vocab": 4, "length": 3, "n_prompts": 2, "d_model": 8, "n_layers": 1, "n_heads": 2}


def _spec(rule: str, scale: float = 20.0) -> dict:
    return {"rule": rule, "params": {}, "scale": scale, "pair_seed": 123, "model": TINY, "ppo": {"batch": 16},
            "T": 6, "pretrain_steps": 3, "lang_seed": 0}


@pytest.fixture(scope="module")
def tiny_runs():
    return {r: run_neural_seed(_spec(r), 0) for r in ("sec4-opd", "sec4-pd", "safe-rlhf")}


@pytest.mark.slow  # JAX compilation: 80-115 s measured on the shared, loaded 2-core box
def test_same_seed_same_numbers(tiny_runs):
    again = run_neural_seed(_spec("sec4-opd"), 0)
    first = tiny_runs["sec4-opd"]
    for k in ("lam", "cost", "reward"):
        np.testing.assert_array_equal(first[k], again[k])
    assert (first["cost_T"], first["reward_T"], first["kl_T"]) == (again["cost_T"], again["reward_T"], again["kl_T"])


@pytest.mark.slow  # JAX compilation: 80-115 s measured on the shared, loaded 2-core box
def test_each_dual_rule_updates_as_its_source_defines(tiny_runs):
    """Replayed from the recorded batch costs: §4 OPD (2 g_t - g_{t-1}, g_{-1} = g_0), plain PD, Safe-RLHF."""
    for rule, run in tiny_runs.items():
        lam, c, s, d = run["lam"], run["cost"], run["scale"], run["limit"]
        g = s * (d - c)
        log_lam = [0.0]
        for t in range(len(c)):
            if rule == "sec4-opd":
                nxt = log_lam[-1] - 0.5 * (2 * g[t] - g[t - 1 if t else 0])
            elif rule == "sec4-pd":
                nxt = log_lam[-1] - 0.5 * g[t]
            else:
                nxt = min(log_lam[-1] - 0.1 * math.exp(log_lam[-1]) * g[t], math.log(5.0))
            log_lam.append(nxt)
        np.testing.assert_allclose(np.log(lam), log_lam, rtol=1e-9, atol=1e-9, err_msg=rule)


@pytest.mark.slow  # JAX compilation: 80-115 s measured on the shared, loaded 2-core box
def test_cg_solve_matches_the_dense_pseudo_inverse():
    import jax.numpy as jnp

    from opdcheck.kernels.neural.model import init_params
    from opdcheck.kernels.neural.natural_gradient import make_exact, npg_direction, reward_constraint

    cfg = ModelConfig(vocab=3, length=2, n_prompts=1, d_model=4, n_layers=1, n_heads=1)
    with jax.enable_x64(True):
        logpi, lagrangian, fvp, _ = make_exact(cfg, 0.1)
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64) * 50.0 if a.ndim == 2
                                        else jnp.asarray(a, jnp.float64), init_params(1, cfg))
        th, _ = jax.flatten_util.ravel_pytree(params)
        r, jc = reward_constraint(cfg)
        rho = jnp.ones(1)
        ref = logpi(th) * 0.0 - math.log(9.0)   # uniform reference
        grad = jax.grad(lagrangian)(th, 0.7, ref, rho, jnp.asarray(r), jnp.asarray(0.3 - jc))
        J = jax.jacfwd(lambda t: logpi(t).ravel())(th)
        w = jnp.exp(logpi(th)).ravel()
        F = np.asarray(J.T @ (w[:, None] * J))
        dense = np.linalg.pinv(F, rcond=1e-10, hermitian=True) @ np.asarray(grad)
        x, res = npg_direction(fvp, th, grad, rho, damping=1e-12, tol=1e-14, maxiter=500)
        # the policy-space direction J x is what the step moves; compare it and x itself
        np.testing.assert_allclose(np.asarray(J @ x), np.asarray(J) @ dense, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(np.asarray(x), dense, rtol=1e-5, atol=1e-6 * np.abs(dense).max())
        assert float(res) < 1e-8
        # negative control: a wrong Fisher-vector product (no pi weights) gives a different solution
        xw, _ = npg_direction(lambda t, v, rh: J.T @ (J @ v), th, grad, rho, 1e-12, 1e-14, 500)
        assert not np.allclose(np.asarray(xw), dense, rtol=1e-3)


@pytest.mark.slow  # JAX compilation of two CG solves
def test_dense_jacobian_step_matches_the_matrix_free_fisher_product():
    """Alg. 3's step materialises J; its CG direction equals the one from jvp/vjp Fisher-vector products."""
    import jax.numpy as jnp

    from opdcheck.kernels.neural.model import init_params
    from opdcheck.kernels.neural.natural_gradient import NPGConfig, make_exact, make_npg_step, npg_direction, \
        reward_constraint

    cfg = ModelConfig(vocab=3, length=2, n_prompts=2, d_model=4, n_layers=1, n_heads=1)
    npg = NPGConfig()
    with jax.enable_x64(True):
        logpi, lagrangian, fvp, _ = make_exact(cfg, npg.beta)
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64) * 50.0 if a.ndim == 2
                                        else jnp.asarray(a, jnp.float64), init_params(3, cfg))
        th, _ = jax.flatten_util.ravel_pytree(params)
        r, jc = reward_constraint(cfg)
        rho, g = jnp.full(2, 0.5), jnp.asarray(0.3 - jc)
        ref = logpi(th) * 0.0 - math.log(9.0)
        x, res = make_npg_step(cfg, npg)(th, 0.7, ref, rho, jnp.asarray(r), g)
        grad = jax.grad(lagrangian)(th, 0.7, ref, rho, jnp.asarray(r), g)
        x_free, res_free = npg_direction(fvp, th, grad, rho, npg.damping, npg.cg_tol, npg.cg_maxiter)
        J = np.asarray(jax.jacfwd(lambda t: logpi(t).ravel())(th))
        # the policy-space move J x is what the step does; both solves reach the stated tolerance
        np.testing.assert_allclose(J @ np.asarray(x), J @ np.asarray(x_free), rtol=1e-6, atol=1e-9)
        assert float(res) < 1e-6 and float(res_free) < 1e-6
        # negative control: a different multiplier moves the direction (the comparison can fail)
        x_other, _ = make_npg_step(cfg, npg)(th, 2.0, ref, rho, jnp.asarray(r), g)
        assert not np.allclose(J @ np.asarray(x_other), J @ np.asarray(x_free), rtol=1e-3)


@pytest.mark.slow  # JAX compilation: 80-115 s measured on the shared, loaded 2-core box
def test_ppo_objective_gradient_matches_finite_differences():
    import jax.numpy as jnp

    from opdcheck.kernels.neural.model import init_params, token_logprobs
    from opdcheck.kernels.neural.ppo import clipped_surrogate

    cfg = ModelConfig(vocab=4, length=3, n_prompts=2, d_model=8, n_layers=1, n_heads=2)
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64) * 10.0, init_params(2, cfg))
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.integers(0, 2, 12))
        ys = jnp.asarray(rng.integers(0, 4, (12, 3)))
        # old log-probs offset so that ratios sit inside the clip band and beyond it, away from the kinks
        offs = jnp.asarray(rng.choice([-0.05, 0.05, 0.5, -0.5], size=(12, 3)))
        logp_old = token_logprobs(params, cfg, x, ys) + offs
        adv = jnp.asarray(rng.standard_normal(12))
        f = lambda p: clipped_surrogate(p, cfg, x, ys, logp_old, adv, 0.2)
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        v = jnp.asarray(rng.standard_normal(flat.size))
        g = jax.flatten_util.ravel_pytree(jax.grad(f)(params))[0]
        eps = 1e-6
        fd = (f(unravel(flat + eps * v)) - f(unravel(flat - eps * v))) / (2 * eps)
        assert abs(float(g @ v) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd)))
        assert abs(float(g @ v)) > 1e-6   # a non-trivial directional derivative


def test_paired_statistics_controls():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    shifted = paired(a + 1.0 + 0.01 * np.arange(8), a)     # positive: a clear paired shift
    assert shifted["p"] < 0.05 and shifted["effect"] == 1.0 and shifted["median_diff"] > 0.9
    same = paired(a, a)                                      # negative: no difference
    assert same["p"] == 1.0 and same["effect"] == 0.0
    assert mcnemar([True] * 8, [False] * 8)["p"] < 0.05
    assert mcnemar([True, False] * 4, [True, False] * 4)["p"] == 1.0


@pytest.mark.slow
def test_neural_check_optimism_off_is_not_confirmed(tmp_path):
    """Negative control of the neural findings: with the correction off the 'OPD' arm is plain PD, so the
    paired spread difference is zero and the stability finding cannot be CONFIRMED."""
    from opdcheck.paper_checks.checks import sec_4_stability
    from opdcheck.paper_checks.context import CheckContext
    from opdcheck.paper_checks.result import Verdict

    res = sec_4_stability.evaluate(CheckContext(out_dir=tmp_path), opd_optimistic=False, n_seeds=2, T=20,
                                   neural_seeds=2, neural_T=20)
    f = [x for x in res.findings if x.name == "neural: OPD rule stabilises the multiplier"][0]
    assert f.verdict != Verdict.CONFIRMED
    assert res.verdict != Verdict.REFUTED


def test_compilation_cache_directory_from_the_environment(monkeypatch, tmp_path):
    from opdcheck.kernels.neural.cache import cache_dir

    monkeypatch.setenv("OPDCHECK_JAX_CACHE", "off")
    assert cache_dir() is None
    monkeypatch.setenv("OPDCHECK_JAX_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("OPDCHECK_JAX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "opdcheck" / "jax"


@pytest.mark.slow  # pretrains a tiny LM three times (JAX compilation)
def test_stored_pretrained_reference_is_the_computed_one(monkeypatch, tmp_path):
    """The disk copy of the pretrained reference returns the computed arrays bit for bit; another seed is
    another entry with other weights (the store does not hand one result to every key)."""
    from opdcheck.kernels.neural.language import _pretrain, _stored_path, pretrained

    monkeypatch.setenv("OPDCHECK_JAX_CACHE", str(tmp_path / "jax"))
    cfg = ModelConfig(**TINY)
    pretrained.cache_clear()
    try:
        fresh_p, fresh_d = _pretrain(cfg, 3, 0)
        first_p, first_d = pretrained(cfg, 3, 0)          # computes and stores
        assert _stored_path(cfg, 3, 0).is_file()
        pretrained.cache_clear()
        loaded_p, loaded_d = pretrained(cfg, 3, 0)        # loads
        for a, b, c in zip(jax.tree_util.tree_leaves(fresh_p), jax.tree_util.tree_leaves(first_p),
                           jax.tree_util.tree_leaves(loaded_p)):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
            assert a.dtype == c.dtype
        assert fresh_d == first_d == loaded_d
        assert _stored_path(cfg, 3, 1) != _stored_path(cfg, 3, 0)
        other_p, _ = pretrained(cfg, 3, 1)
        assert not np.array_equal(jax.tree_util.tree_leaves(other_p)[-1], jax.tree_util.tree_leaves(loaded_p)[-1])
        monkeypatch.setenv("OPDCHECK_JAX_CACHE", "off")
        assert _stored_path(cfg, 3, 0) is None
    finally:
        pretrained.cache_clear()


@pytest.mark.slow  # two fresh interpreters compile (cold) and load (warm) the tiny step
def test_warm_compilation_cache_gives_the_same_numbers(tmp_path):
    """Cold run fills the cache; a second process loads from it and reproduces the run bit for bit."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, sys; from opdcheck.kernels.neural.study import run_neural_seed; "
            f"r = run_neural_seed({_spec('sec4-opd')!r}, 0); "
            "print(json.dumps({k: [float(v) for v in r[k]] for k in ('lam', 'cost', 'reward')}))")
    env = {**os.environ, "OPDCHECK_JAX_CACHE": str(tmp_path / "jax")}
    cold, warm = (json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                            capture_output=True, text=True).stdout.strip().splitlines()[-1])
                  for _ in range(2))
    assert any((tmp_path / "jax").iterdir())
    assert cold == warm
