"""One PPO-Lagrangian iteration: sampled rollouts, PPO-clip primal with a KL penalty to the reference.

Problem: ``max_pi E[r(y)] - lam * s * E[J_c(y)] - beta KL(pi || pi_ref)`` for the current multiplier
``lam`` and cost scale ``s`` (a cost model's outputs multiplied by ``s``; the constraint reads
``g = s (d - E J_c) >= 0``). Update (§4's primal, as in RLHF PPO): sample ``B`` prompts and responses from
``pi_old``; sequence score ``S = r - lam s J_c - beta sum_i (log pi_old - log pi_ref)(y_i)``; advantage
``A = S - mean(S)`` (batch baseline, no critic); ``epochs`` full-batch Adam steps on the clipped
surrogate ``-mean_{b,i} min(rho A, clip(rho, 1 - eps, 1 + eps) A)``, ``rho = pi / pi_old`` per token.

The same batch gives the constraint estimate ``g_t = s (d - mean J_c)`` the dual rule sees (simultaneous
ordering, as in PPO-Lagrangian loops).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import optax

from opdcheck.kernels.neural.model import ModelConfig, sample, token_logprobs


@dataclass(frozen=True)
class PPOConfig:
    batch: int = 256
    epochs: int = 2
    clip: float = 0.2
    lr: float = 1e-3
    beta: float = 0.2


def clipped_surrogate(params, cfg: ModelConfig, x, ys, logp_old, adv, clip: float):
    """PPO-clip loss (to minimise); its gradient is checked against finite differences in the tests."""
    ratio = jnp.exp(token_logprobs(params, cfg, x, ys) - logp_old)
    a = adv[:, None]
    return -jnp.mean(jnp.minimum(ratio * a, jnp.clip(ratio, 1 - clip, 1 + clip) * a))


@lru_cache(maxsize=16)
def make_iteration(cfg: ModelConfig, ppo: PPOConfig):
    """``(init(params) -> opt_state, step(params, opt_state, ref, key, lam_s, helpful, unsafe))`` jitted."""
    opt = optax.adam(ppo.lr)

    @jax.jit
    def step(params, opt_state, ref, key, lam_s, helpful, unsafe):
        kx, ky = jax.random.split(key)
        x = jax.random.randint(kx, (ppo.batch,), 0, cfg.n_prompts)
        ys = sample(params, cfg, ky, x)
        logp_old = token_logprobs(params, cfg, x, ys)
        logp_ref = token_logprobs(ref, cfg, x, ys)
        r, c = helpful[ys].mean(-1), unsafe[ys].mean(-1)
        kl = (logp_old - logp_ref).sum(-1)
        score = r - lam_s * c - ppo.beta * kl
        adv = score - score.mean()

        def epoch(carry, _):
            p, s = carry
            g = jax.grad(clipped_surrogate)(p, cfg, x, ys, logp_old, adv, ppo.clip)
            upd, s = opt.update(g, s)
            return (optax.apply_updates(p, upd), s), None

        (params, opt_state), _ = jax.lax.scan(epoch, (params, opt_state), None, length=ppo.epochs)
        return params, opt_state, {"cost": c.mean(), "reward": r.mean(), "kl": kl.mean()}

    return opt.init, step


@lru_cache(maxsize=16)
def make_evaluator(cfg: ModelConfig, n: int):
    """Monte-Carlo ``(E r, E J_c, KL(pi || pi_ref), se(J_c))`` from ``n`` fresh samples."""

    @jax.jit
    def evaluate(params, ref, key, helpful, unsafe):
        kx, ky = jax.random.split(key)
        x = jax.random.randint(kx, (n,), 0, cfg.n_prompts)
        ys = sample(params, cfg, ky, x)
        kl = (token_logprobs(params, cfg, x, ys) - token_logprobs(ref, cfg, x, ys)).sum(-1)
        r, c = helpful[ys].mean(-1), unsafe[ys].mean(-1)
        return r.mean(), c.mean(), kl.mean(), c.std() / jnp.sqrt(n)

    return evaluate
