"""Algorithm 3 (eqs. (8)-(11)) for a neural policy, with exact expectations over an enumerable response space.

Problem: ``min_{lam >= 0} max_th L(pi_th, lam)``, ``L = sum_x rho_x sum_y pi_th(y|x) [r(y) + lam g(y)]
- beta sum_x rho_x KL(pi_th(.|x) || pi_ref(.|x))`` with ``g = d - J_c`` (constraint ``E g >= 0``), over the
whole response space ``{0..V-1}^L`` (``V^L`` small), so no sampling error enters.

Update (the paper's [78], gradients only at ``th_hat_t``; ``Theta = R^D``, so ``Proj_Theta`` is the identity)::

    (8)  th_t         = th_hat_t + F(th_hat_t)^+ grad L(th_hat_t, lam_{t-1}) / (eta_th + beta)
    (9)  lam_t        = [lam_hat_t - c(pi_{th_{t-1}}) / eta_lam]_+
    (10) th_hat_{t+1} = th_hat_t + F(th_hat_t)^+ grad L(th_hat_t, lam_t) / (eta_th + beta)
    (11) lam_hat_{t+1} = [lam_hat_t - c(pi_{th_t}) / eta_lam]_+

``F(th) = sum_x rho_x E_{pi_th}[grad log pi grad log pi^T]`` is never formed: ``F v = J^T diag(rho pi) J v`` with
``J`` the Jacobian of the map ``th -> log pi_th(y|x)`` (all ``x, y``). The step materialises ``J`` once per solve
(``jax.jacrev``: ``P V^L`` rows by ``D`` columns, 54 x 880 at width 8), so each CG iteration is two small
mat-vecs instead of a ``jax.jvp`` and a ``jax.vjp`` through the transformer (measured 4x faster per solve; the
matrix-free ``fvp`` of :func:`make_exact` is kept as the reference the tests compare it with).
``F^+ grad L`` is solved by conjugate gradient on ``F + damping I`` (``jax.scipy.sparse.linalg.cg``): ``grad L``
lies in the range of ``F`` (it is ``J^T (rho pi A)``), so CG from 0 approaches the minimum-norm solution
``F^+ grad L``; the damping and the iteration cap are stated and the achieved relative residual
``||F x - grad L|| / ||grad L||`` is returned with every step. Float64 throughout (``jax.enable_x64``).

Example
-------
>>> from opdcheck.kernels.neural.model import ModelConfig
>>> out = run_alg3(ModelConfig(vocab=3, length=2, n_prompts=1, d_model=4, n_layers=1, n_heads=1), T=3)
>>> out["lam"].shape
(4,)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from opdcheck.kernels.neural.language import Language
from opdcheck.kernels.neural.model import ModelConfig


#: the CG step materialises the Jacobian of ``th -> log pi_th`` when it has at most this many entries
#: (2^24 float64 = 128 MiB); above, it falls back to the matrix-free jvp/vjp Fisher-vector product
DENSE_JACOBIAN_MAX_ENTRIES = 2 ** 24


@dataclass(frozen=True)
class NPGConfig:
    eta_th: float = 2.0
    eta_lam: float = 2.0
    beta: float = 0.1
    damping: float = 1e-9
    cg_tol: float = 1e-10
    cg_maxiter: int = 500
    init_scale: float = 1.0   # std of the reference model's weights: a peaked, nontrivial pi_ref
    limit_fraction: float = 0.75


def response_space(cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """All ``(x, y)`` pairs: prompts ``(P N,)`` and responses ``(P N, L)``, ``N = V^L`` (y in lexicographic order)."""
    N = cfg.vocab ** cfg.length
    if N > 20_000:
        raise ValueError(f"response space: vocab^length = {N} is too large to enumerate; pass vocab^length <= 20000.")
    ys = np.array(np.unravel_index(np.arange(N), (cfg.vocab,) * cfg.length)).T.astype(np.int32)
    return np.repeat(np.arange(cfg.n_prompts, dtype=np.int32), N), np.tile(ys, (cfg.n_prompts, 1))


def reward_constraint(cfg: ModelConfig, lang_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``r(y)`` and ``J_c(y)`` on the response space, shape ``(P, N)`` each (see :mod:`.language`)."""
    helpful, unsafe = Language(cfg.vocab, cfg.n_prompts, cfg.length, lang_seed).token_sets()
    _, ys = response_space(cfg)
    shape = (cfg.n_prompts, cfg.vocab ** cfg.length)
    return helpful[ys].mean(-1).reshape(shape).astype(np.float64), unsafe[ys].mean(-1).reshape(shape).astype(np.float64)


@lru_cache(maxsize=8)
def make_exact(cfg: ModelConfig, beta: float):
    """Jitted exact-expectation functions of the flat parameter vector ``th`` (call inside ``jax.enable_x64``).

    Returns ``(logpi, lagrangian, fvp)``: ``logpi(th) -> (P, N)``, ``lagrangian(th, lam, ref_logpi, rho, r, g)``,
    ``fvp(th, v, rho)``.
    """
    import jax
    import jax.flatten_util  # noqa: F401  (a submodule: not imported by `import jax`)
    import jax.numpy as jnp

    from opdcheck.kernels.neural.model import init_params, token_logprobs

    X, Y = response_space(cfg)
    _, unravel = jax.flatten_util.ravel_pytree(jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64),
                                                                      init_params(0, cfg)))
    shape = (cfg.n_prompts, cfg.vocab ** cfg.length)

    def logpi(th):
        return token_logprobs(unravel(th), cfg, jnp.asarray(X), jnp.asarray(Y)).sum(-1).reshape(shape)

    def lagrangian(th, lam, ref_logpi, rho, r, g):
        lp = logpi(th)
        pi = jnp.exp(lp)
        return jnp.sum(rho[:, None] * pi * (r + lam * g - beta * (lp - ref_logpi)))

    def fvp(th, v, rho):
        f = lambda t: logpi(t).ravel()
        lp, jv = jax.jvp(f, (th,), (v,))
        _, pull = jax.vjp(f, th)
        w = (rho[:, None] * jnp.exp(lp.reshape(shape))).ravel()
        return pull(w * jv)[0]

    return jax.jit(logpi), jax.jit(lagrangian), jax.jit(fvp), unravel


def npg_direction(fvp, th, grad, rho, damping: float, tol: float, maxiter: int):
    """``x ~ F(th)^+ grad`` by CG on ``(F + damping I) x = grad``; returns ``(x, relative residual of F x = grad)``."""
    import jax.numpy as jnp
    from jax.scipy.sparse.linalg import cg

    x, _ = cg(lambda v: fvp(th, v, rho) + damping * v, grad, tol=tol, maxiter=maxiter)
    res = jnp.linalg.norm(fvp(th, x, rho) - grad) / jnp.maximum(jnp.linalg.norm(grad), 1e-300)
    return x, res


@lru_cache(maxsize=8)
def make_npg_step(cfg: ModelConfig, npg: "NPGConfig"):
    """Jitted ``(th_hat, lam, ref_logpi, rho, r, g) -> (F^+ grad L(th_hat, lam), CG relative residual)``."""
    import jax
    import jax.numpy as jnp

    logpi, lagrangian, fvp, _ = make_exact(cfg, npg.beta)
    rows = cfg.n_prompts * cfg.vocab ** cfg.length

    @jax.jit
    def direction(th_hat, lam, ref_lp, rho, r, g):
        grad = jax.grad(lagrangian)(th_hat, lam, ref_lp, rho, r, g)
        if rows * th_hat.size > DENSE_JACOBIAN_MAX_ENTRIES:       # too large to hold: matrix-free
            return npg_direction(fvp, th_hat, grad, rho, npg.damping, npg.cg_tol, npg.cg_maxiter)
        J = jax.jacrev(lambda t: logpi(t).ravel())(th_hat)       # (P N, D), once per solve
        w = (rho[:, None] * jnp.exp(logpi(th_hat))).ravel()

        def fvp_dense(th, v, rho):                                # F v = J^T diag(rho pi) J v
            return J.T @ (w * (J @ v))

        return npg_direction(fvp_dense, th_hat, grad, rho, npg.damping, npg.cg_tol, npg.cg_maxiter)

    return direction


def reference_theta(cfg: ModelConfig, npg: "NPGConfig", seed: int):
    """The reference model's parameters as one float64 vector (the initialisation of ``seed``, its matrices scaled
    to ``npg.init_scale``): Algorithm 3's ``th_ref``. Call inside ``jax.enable_x64``."""
    import jax
    import jax.flatten_util  # noqa: F401
    import jax.numpy as jnp

    from opdcheck.kernels.neural.model import init_params

    ref = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), init_params(seed, cfg))
    ref = jax.tree_util.tree_map(lambda a: a * (npg.init_scale / 0.02) if a.ndim == 2 else a, ref)
    return jax.flatten_util.ravel_pytree(ref)[0]


def run_alg3(cfg: ModelConfig, T: int = 200, npg: NPGConfig = NPGConfig(), seed: int = 0, keep_every: int = 1) -> dict:
    """Algorithm 3 from ``th_hat_0 = th_0 = th_ref`` (the reference model), ``lam_hat_0 = lam_0 = 0``.

    Returns the problem's arrays (``rho``, ``pi_ref``, ``r``, ``g``), the multipliers ``lam_t``, the policies
    ``pi_{th_t}`` every ``keep_every`` steps, and the largest CG relative residual over the run.
    """
    import jax
    import jax.flatten_util  # noqa: F401
    import jax.numpy as jnp

    with jax.enable_x64(True):
        logpi, _, _, _ = make_exact(cfg, npg.beta)
        th_ref = reference_theta(cfg, npg, seed)
        ref_lp = logpi(th_ref)
        r, jc = reward_constraint(cfg, seed)
        rho = jnp.full(cfg.n_prompts, 1.0 / cfg.n_prompts)
        pi_ref = np.exp(np.asarray(ref_lp))
        d = npg.limit_fraction * float(np.sum(np.asarray(rho)[:, None] * pi_ref * jc))
        g = jnp.asarray(d - jc)
        direction = make_npg_step(cfg, npg)

        def c_of(th):
            return float(jnp.sum(rho[:, None] * jnp.exp(logpi(th)) * g))

        step = 1.0 / (npg.eta_th + npg.beta)
        th_hat, th_prev = th_ref, th_ref
        lam_hat, lam_prev = 0.0, 0.0
        lams, pis, worst = [lam_prev], [np.exp(np.asarray(logpi(th_ref)))], 0.0
        for t in range(1, T + 1):
            lam_t = max(lam_hat - c_of(th_prev) / npg.eta_lam, 0.0)                                    # (9)
            x8, r8 = direction(th_hat, lam_prev, ref_lp, rho, r, g)
            th_t = th_hat + step * x8                                                                 # (8)
            x10, r10 = direction(th_hat, lam_t, ref_lp, rho, r, g)
            th_hat = th_hat + step * x10                                                              # (10)
            lam_hat = max(lam_hat - c_of(th_t) / npg.eta_lam, 0.0)                                    # (11)
            worst = max(worst, float(r8), float(r10))
            th_prev, lam_prev = th_t, lam_t
            lams.append(lam_t)
            if t % keep_every == 0 or t == T:
                pis.append(np.exp(np.asarray(logpi(th_t))))
        return {"rho": np.asarray(rho), "pi_ref": pi_ref, "r": r, "g": np.asarray(g), "limit": d,
                "lam": np.array(lams), "pi": np.array(pis), "cg_max_rel_residual": worst,
                "n_params": int(th_ref.size), "finite": bool(np.all(np.isfinite(np.asarray(th_t))))}


def direction_curvature_error(cfg: ModelConfig, npg: "NPGConfig" = None, seed: int = 0, lam: float = 1.0,
                              kl_target: float = 1e-8) -> float:
    """A control of the natural-gradient direction that shares no Fisher code with it: at a seeded point near the
    reference model,
    ``x = F^+ grad L`` (the step's own solve) must satisfy Sec. 3.2.1's display along its own direction,
    ``KL(pi_th || pi_th+s v) ~= s^2/2 v^T F v`` with ``v = x/||x||`` and ``v^T F v = x^T grad L / ||x||^2`` (as
    ``F x = grad L``). The KL is computed from the policies alone (``rho``-weighted, exact expectations), so a
    Fisher-vector product off by a factor (e.g. ``rho`` dropped) shows as a relative error of that factor.
    The step ``s`` is the one at which the quadratic form equals ``kl_target`` (small enough for the Taylor
    remainder, large enough that the KL is far above the rounding of the log-probabilities it is summed from).
    Returns ``|KL - s^2/2 x^T grad/||x||^2| / (s^2/2 x^T grad/||x||^2)`` (O(s) when the direction is right)."""
    import jax
    import jax.flatten_util  # noqa: F401
    import jax.numpy as jnp

    npg = npg or NPGConfig()
    with jax.enable_x64(True):
        logpi, lagrangian, _, _ = make_exact(cfg, npg.beta)
        th_ref = reference_theta(cfg, npg, seed)
        ref_lp = logpi(th_ref)
        # a seeded point away from the reference (where the model's output is flat and grad L ~ 0)
        th = th_ref + 0.05 * jnp.asarray(np.random.default_rng(seed).normal(size=th_ref.size))
        r, jc = reward_constraint(cfg, seed)
        rho = jnp.full(cfg.n_prompts, 1.0 / cfg.n_prompts)
        g = jnp.asarray(np.mean(jc) - jc)
        x, _ = make_npg_step(cfg, npg)(th, lam, ref_lp, rho, r, g)
        grad = jax.grad(lagrangian)(th, lam, ref_lp, rho, r, g)
        norm = float(jnp.linalg.norm(x))
        curvature = float(x @ grad) / norm**2  # v^T F v, v = x/||x||
        s = float(np.sqrt(2.0 * kl_target / curvature))
        quad = 0.5 * s * s * curvature
        lp0, lp1 = logpi(th), logpi(th + s * x / norm)
        kl = float(jnp.sum(rho[:, None] * jnp.exp(lp0) * (lp0 - lp1)))
        return abs(kl - quad) / abs(quad)
