"""Seeded runs of the neural §4 study, one task of ``ctx.map`` each (module-level, picklable specs).

``run_neural_seed(spec, seed)``: pretrain (cached per process) the reference LM, then ``spec["T"]``
PPO-Lagrangian iterations with the dual rule ``spec["rule"]`` (a §4 method of
:data:`opdcheck.kernels.framework.FRAMEWORK_METHODS`, built by :func:`opdcheck.kernels.dual_rules.make_dual_rule`)
on ``log lam`` from ``lam_0 = 1``. Pairing: the JAX key is ``PRNGKey(spec["pair_seed"])`` -- the same
for every rule and cost scale of a pair -- so paired runs see the same sampler stream until their
multipliers differ; ``pair_seed`` is itself a task seed of the run (:func:`opdcheck.sweeps.task_seeds`).
"""
from __future__ import annotations

import time

import numpy as np


def _finite(tree) -> bool:
    import jax
    return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree_util.tree_leaves(tree))


def _setup(spec: dict):
    """What every neural run of a spec starts from: the pretrained reference LM (cached per process), the
    constraint limit ``d``, the token sets, the jitted PPO iteration and evaluator, and the pair's JAX key
    ``PRNGKey(spec["pair_seed"])``."""
    import jax
    import jax.numpy as jnp

    from opdcheck.kernels.neural.language import N_EVAL, Language, pretrained
    from opdcheck.kernels.neural.model import ModelConfig
    from opdcheck.kernels.neural.ppo import PPOConfig, make_evaluator, make_iteration

    cfg, ppo = ModelConfig(**spec["model"]), PPOConfig(**spec["ppo"])
    ref_np, d = pretrained(cfg, spec["pretrain_steps"], spec["lang_seed"])
    ref = jax.tree_util.tree_map(jnp.asarray, ref_np)
    helpful, unsafe = (jnp.asarray(a) for a in Language(cfg.vocab, cfg.n_prompts, cfg.length,
                                                         spec["lang_seed"]).token_sets())
    init, step = make_iteration(cfg, ppo)
    key = jax.random.PRNGKey(int(spec["pair_seed"]) % (2**31 - 1))
    return ref, d, helpful, unsafe, init, step, make_evaluator(cfg, N_EVAL), key


def run_neural_seed(spec: dict, seed: int) -> dict:
    import jax
    import jax.numpy as jnp

    from opdcheck.kernels.dual_rules import make_dual_rule
    from opdcheck.kernels.framework import FRAMEWORK_METHODS

    ref, d, helpful, unsafe, init, step, evaluate, key = _setup(spec)
    m = FRAMEWORK_METHODS[spec["rule"]]
    rule = make_dual_rule(m.dual_rule, **{**m.dual_params, **spec.get("params", {})})
    s = float(spec["scale"])
    params, opt_state = ref, init(ref)
    lam = np.array([1.0])
    state = rule.init(lam)
    T = int(spec["T"])
    # every iteration's key fold_in(key, t), in one call (the same bits as T eager fold_in calls, ~2 ms each)
    keys = np.asarray(jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(T)))
    lam_hist, cost_hist, reward_hist = [1.0], [], []
    diverged, t0 = False, None
    for t in range(T):
        if t == 1:
            t0 = time.perf_counter()  # iteration 0 pays the compilation
        params, opt_state, st = step(params, opt_state, ref, keys[t], float(lam[0]) * s, helpful, unsafe)
        c, rw, head = jax.device_get((st["cost"], st["reward"], params["head"]))   # one transfer per iteration
        c = float(c)
        cost_hist.append(c)
        reward_hist.append(float(rw))
        lam, state = rule.update(state, lam, np.array([s * (d - c)]))
        lam_hist.append(float(lam[0]))
        if not (np.isfinite(lam[0]) and lam[0] > 0) or not _finite(head):
            diverged = True
            break
    sec_per_iter = (time.perf_counter() - t0) / max(len(cost_hist) - 1, 1) if t0 is not None else float("nan")
    r_T, c_T, kl_T, se_T = (float(v) for v in evaluate(params, ref, jax.random.fold_in(key, 10**6), helpful, unsafe))
    lam_arr = np.array(lam_hist)
    q = max(len(lam_arr) // 4, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.log10(lam_arr[-q:])
    spread = float(ll.max() - ll.min()) if np.all(np.isfinite(ll)) else float("inf")
    return {"rule": spec["rule"], "scale": s, "pair_seed": int(spec["pair_seed"]), "limit": d,
            "lam": lam_arr, "cost": np.array(cost_hist), "reward": np.array(reward_hist),
            "cost_T": c_T, "reward_T": r_T, "kl_T": kl_T, "cost_se": se_T, "log10_lam_spread": spread,
            "diverged": diverged, "sec_per_iter": sec_per_iter, "T": T}


def penalty_direction_runs(spec: dict, lam_s: float, T: int) -> dict:
    """The PPO-Lagrangian primal with the multiplier FIXED: ``T`` iterations at ``lam * s = 0`` and at ``lam * s =
    lam_s`` from the reference LM, with the same key stream, each then evaluated on the same fresh samples.
    The penalised score ``r - lam s J_c`` must make the cost fall further as the penalty grows (a control of the
    neural update's direction: with the penalty's sign flipped, the cost rises instead). Returns
    ``{"cost_free", "cost_penalised", "se"}`` (the Monte-Carlo standard errors combined)."""
    import jax

    ref, _, helpful, unsafe, init, step, evaluate, key = _setup(spec)
    out = {}
    for name, penalty in (("free", 0.0), ("penalised", float(lam_s))):
        params, opt_state = ref, init(ref)
        for t in range(int(T)):
            params, opt_state, _ = step(params, opt_state, ref, jax.random.fold_in(key, t), penalty, helpful, unsafe)
        _, c, _, se = (float(v) for v in evaluate(params, ref, jax.random.fold_in(key, 10**6), helpful, unsafe))
        out[f"cost_{name}"], out[f"se_{name}"] = c, se
    out["se"] = float(np.hypot(out.pop("se_free"), out.pop("se_penalised")))
    return out
