"""A tiny causal transformer language model in pure JAX (no framework), float32.

The policy ``pi_th(y | x)`` generates a response ``y = (y_1, ..., y_L)`` over a vocabulary of ``V`` tokens
given a prompt ``x`` in ``{0, ..., P-1}``. Input at position 0 is the prompt's embedding, at position
``i >= 1`` the embedding of ``y_i``; the output at position ``i`` is the distribution of ``y_{i+1}``.
Blocks are pre-LayerNorm: ``h += Attn(LN h)`` (causal, ``n_heads`` heads), ``h += MLP(LN h)`` (GELU, 4x).

Example
-------
>>> import jax
>>> cfg = ModelConfig(vocab=4, length=3, n_prompts=2, d_model=8, n_layers=1, n_heads=2)
>>> p = init_params(0, cfg)
>>> token_logprobs(p, cfg, jax.numpy.array([0, 1]), jax.numpy.array([[0, 1, 2], [3, 3, 3]])).shape
(2, 3)
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from opdcheck.kernels.neural.cache import enable_compilation_cache

enable_compilation_cache()  # every neural module imports this one: warm runs skip XLA compilation


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the LM (hashable: a static argument of the jitted functions)."""

    vocab: int = 16
    length: int = 8
    n_prompts: int = 4
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2

    def __post_init__(self) -> None:
        for name in ("vocab", "length", "n_prompts", "d_model", "n_layers", "n_heads"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"ModelConfig.{name} = {v!r}; pass a positive integer.")
        if self.d_model % self.n_heads:
            raise ValueError(f"ModelConfig.d_model = {self.d_model} is not divisible by n_heads = {self.n_heads}; "
                             "pick d_model a multiple of n_heads.")


def init_params(seed: int, cfg: ModelConfig, dtype=np.float32) -> dict:
    """Gaussian init from ``numpy.random.default_rng(seed)`` (std 0.02, residual projections scaled by
    ``1/sqrt(2 n_layers)``), LayerNorm gain 1. Numpy, not JAX: eager JAX would compile every small op."""
    d, s = cfg.d_model, 0.02
    rng = np.random.default_rng([int(seed), 7])

    def normal(shape, scale=s):
        return jnp.asarray((scale * rng.standard_normal(shape)).astype(dtype))

    res = s / (2 * cfg.n_layers) ** 0.5
    blocks = [{"ln1": jnp.ones(d, dtype), "qkv": normal((d, 3 * d)), "proj": normal((d, d), res),
               "ln2": jnp.ones(d, dtype), "fc": normal((d, 4 * d)), "out": normal((4 * d, d), res)}
              for _ in range(cfg.n_layers)]
    return {"tok": normal((cfg.vocab, d)), "prompt": normal((cfg.n_prompts, d)), "pos": normal((cfg.length, d)),
            "blocks": blocks, "ln_f": jnp.ones(d, dtype), "head": normal((d, cfg.vocab))}


def n_params(params: dict) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def _ln(h, g):
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    return g * (h - mu) / jnp.sqrt(var + 1e-5)


def logits(params: dict, cfg: ModelConfig, prompts: jax.Array, ys: jax.Array) -> jax.Array:
    """Next-token logits ``(B, L, V)``: position ``i`` predicts ``y_{i+1}`` from ``(x, y_1..y_i)``."""
    B, L = ys.shape
    h = jnp.concatenate([params["prompt"][prompts][:, None, :], params["tok"][ys[:, :-1]]], axis=1)
    h = h + params["pos"][None, :L]
    nh, d = cfg.n_heads, cfg.d_model
    mask = jnp.tril(jnp.ones((L, L), bool))
    for blk in params["blocks"]:
        q, k, v = jnp.split(_ln(h, blk["ln1"]) @ blk["qkv"], 3, axis=-1)
        q, k, v = (t.reshape(B, L, nh, d // nh) for t in (q, k, v))
        att = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // nh)
        att = jax.nn.softmax(jnp.where(mask, att, -1e9), axis=-1)
        h = h + jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(B, L, d) @ blk["proj"]
        h = h + jax.nn.gelu(_ln(h, blk["ln2"]) @ blk["fc"]) @ blk["out"]
    return _ln(h, params["ln_f"]) @ params["head"]


def token_logprobs(params: dict, cfg: ModelConfig, prompts: jax.Array, ys: jax.Array) -> jax.Array:
    """``log pi(y_i | x, y_<i)``, shape ``(B, L)``; a sequence's log-probability is the row sum."""
    lp = jax.nn.log_softmax(logits(params, cfg, prompts, ys), axis=-1)
    return jnp.take_along_axis(lp, ys[..., None], axis=-1)[..., 0]


def sample(params: dict, cfg: ModelConfig, key: jax.Array, prompts: jax.Array) -> jax.Array:
    """Ancestral sampling of ``(B, L)`` responses (full recomputation per position: ``L`` is small)."""
    B, L = prompts.shape[0], cfg.length
    keys = jax.random.split(key, L)

    def body(i, ys):
        lg = logits(params, cfg, prompts, ys)[:, i]
        return ys.at[:, i].set(jax.random.categorical(keys[i], lg, axis=-1))

    return jax.lax.fori_loop(0, L, body, jnp.zeros((B, L), jnp.int32))
