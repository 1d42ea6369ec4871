"""The seeded synthetic language, the reward and cost of a text, and pretraining by maximum likelihood.

Language: prompt ``x`` uniform in ``{0..P-1}``; ``y_1 ~ s_x``, ``y_{i+1} ~ M[y_i]`` with ``s_x`` and the
rows of ``M`` drawn from ``Dirichlet(0.5)`` by ``numpy.random.default_rng(language_seed)`` (a
nontrivial, peaked reference distribution). Tokens (``h = min(max(3, V // 4 + 1), V - 1)``):

* helpful ``H = {1, ..., h}``, unsafe ``U = {h - 1, h, h + 1}``; a helpful token earns 0.5, a helpful and
  unsafe one 1.0 (the most rewarding text is unsafe, so the constraint binds at the optimum);
* reward ``r(y) = sum_i w(y_i) / L``, cost ``J_c(y) = #{i : y_i in U} / L`` (both in ``[0, 1]``).

The cost limit is ``d = LIMIT_FRACTION x`` the reference policy's expected cost (estimated once from
``N_EVAL`` samples with a fixed key): the reference violates it, so the constraint is active from the
start and at the constrained optimum. The reference is the pretrained LM
(Adam 3e-3, batch 256, ``pretrain_steps`` steps on fresh samples of the language), deterministic from the
pretraining seed.
"""
from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from opdcheck.kernels.neural.model import ModelConfig


#: the cost limit as a fraction of the reference's expected cost
LIMIT_FRACTION = 0.75
#: samples of every Monte-Carlo evaluation (the limit and the final iterate): SE of a cost <= 0.5/sqrt(N_EVAL)
N_EVAL = 4096


@dataclass(frozen=True)
class Language:
    vocab: int
    n_prompts: int
    length: int
    seed: int = 0

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.vocab, self.n_prompts])
        start = rng.dirichlet(0.5 * np.ones(self.vocab), size=self.n_prompts)
        trans = rng.dirichlet(0.5 * np.ones(self.vocab), size=self.vocab)
        return start, trans

    def token_sets(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-token reward weights and unsafe indicator, each ``(V,)`` float32."""
        h = min(max(3, self.vocab // 4 + 1), self.vocab - 1)
        unsafe = np.zeros(self.vocab, np.float32)
        unsafe[[min(h - 1, self.vocab - 1), h, min(h + 1, self.vocab - 1)]] = 1
        reward = np.zeros(self.vocab, np.float32)
        reward[1:h + 1] = 0.5
        reward[(reward > 0) & (unsafe > 0)] = 1.0
        return reward, unsafe

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        start, trans = self.tables()
        x = rng.integers(0, self.n_prompts, size=n)
        cum_s, cum_t = np.cumsum(start, 1), np.cumsum(trans, 1)
        ys = np.empty((n, self.length), np.int32)
        u = rng.random((n, self.length))
        ys[:, 0] = np.minimum((u[:, :1] > cum_s[x]).sum(1), self.vocab - 1)
        for i in range(1, self.length):
            ys[:, i] = np.minimum((u[:, i:i + 1] > cum_t[ys[:, i - 1]]).sum(1), self.vocab - 1)
        return x.astype(np.int32), ys


def reward_cost(helpful, unsafe, ys):
    """``(r(y), J_c(y))`` per response (works on numpy and JAX arrays)."""
    return helpful[ys].mean(-1), unsafe[ys].mean(-1)


def _stored_path(cfg: ModelConfig, steps: int, seed: int) -> Path | None:
    """Where a pretrained reference is stored: the JAX cache folder (``None``: caching off), under a key
    hashing everything the result depends on (sizes, steps, seed, this package's LM sources, the JAX,
    jaxlib, optax and numpy versions, the device kind)."""
    from opdcheck.kernels.neural.cache import cache_dir

    base = cache_dir()
    if base is None:
        return None
    import jax
    import jaxlib
    import optax

    h = hashlib.sha256(repr((cfg, int(steps), int(seed), LIMIT_FRACTION, N_EVAL, jax.__version__, jaxlib.__version__,
                             optax.__version__, np.__version__, platform.machine(),
                             jax.devices()[0].device_kind)).encode())
    for name in ("model.py", "language.py", "ppo.py", "cache.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    return base / "pretrained" / f"{h.hexdigest()[:32]}.npz"


@lru_cache(maxsize=8)
def pretrained(cfg: ModelConfig, steps: int, seed: int) -> tuple[dict, float]:
    """The reference LM and the cost limit ``d`` (its expected cost), cached per process and on disk.

    The disk copy (beside JAX's compilation cache, :mod:`.cache`; ``OPDCHECK_JAX_CACHE=off`` disables both)
    holds the arrays this function computed, so a warm run gets the same bits without the ~150 Adam
    steps (3-13 s of a quick ``sec-4-stability`` run on the loaded 2-core box)."""
    import jax

    from opdcheck.kernels.neural.model import init_params

    path = _stored_path(cfg, steps, seed)
    treedef = jax.tree_util.tree_structure(init_params(seed, cfg))
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                leaves = [z[f"p{i}"] for i in range(treedef.num_leaves)]
                return jax.tree_util.tree_unflatten(treedef, leaves), float(z["limit"])
        except (OSError, KeyError, ValueError):  # a damaged file: recompute (and rewrite) it
            pass
    params, limit = _pretrain(cfg, steps, seed)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, limit=np.float64(limit),
                     **{f"p{i}": a for i, a in enumerate(jax.tree_util.tree_leaves(params))})
            os.replace(tmp, path)
        except OSError:  # read-only cache: run uncached
            pass
    return params, limit


def _pretrain(cfg: ModelConfig, steps: int, seed: int) -> tuple[dict, float]:
    import jax
    import jax.numpy as jnp
    import optax

    from opdcheck.kernels.neural.model import init_params, token_logprobs

    lang = Language(cfg.vocab, cfg.n_prompts, cfg.length, seed)
    params = init_params(seed, cfg)
    opt = optax.adam(3e-3)
    state = opt.init(params)

    @jax.jit
    def step(params, state, x, ys):
        loss, g = jax.value_and_grad(lambda p: -token_logprobs(p, cfg, x, ys).sum(-1).mean())(params)
        upd, state = opt.update(g, state)
        return optax.apply_updates(params, upd), state, loss

    rng = np.random.default_rng([seed, 1])
    for _ in range(steps):
        x, ys = lang.sample(rng, 256)
        params, state, _ = step(params, state, jnp.asarray(x), jnp.asarray(ys))
    helpful, unsafe = (jnp.asarray(a) for a in lang.token_sets())
    from opdcheck.kernels.neural.ppo import make_evaluator
    _, c_ref, _, _ = make_evaluator(cfg, N_EVAL)(params, params, jax.random.PRNGKey(10_000 + seed), helpful, unsafe)
    return jax.tree_util.tree_map(np.asarray, params), LIMIT_FRACTION * float(c_ref)
