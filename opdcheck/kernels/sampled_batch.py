"""Many seeded runs of the simultaneous (Jacobi) driver with the sampled primal, stepped in lock step.

Problem: the §4 analogue (``sec-4-stability``) runs ~120 short runs of
``run_primal_dual(problem, prediction="none", primal=SampledPrimal(...), dual=rule, lam_init=...)`` that share
one bandit and differ only in the dual rule and the sampler seed. One run is ~300 Python-level driver steps of
tiny arrays (``X x n = 8 x 6``), so the runs spent their time in interpreter overhead. Here the runs' states
are stacked on a leading axis and one loop over the iterations advances all of them.

Update (the driver's, module docstring of :mod:`opdcheck.kernels.opd`, with ``(pi_t, lam_t) = (pi_hat_t,
lam_hat_t)``), per run ``r`` with its rule ``D_r`` and sampler seed ``s_r``::

    theta_{t+1} = SampledPrimal.step(theta_t, batch_t, lam_t)          (PPO-clip, PG or exact PG; gauge max = 0)
    batch_{t+1} ~ pi_{theta_{t+1}}   uniforms from default_rng(SeedSequence([s_r, t + 1]))
    lam_{t+1}, state_{t+1} = D_r.update(state_t, lam_t, c_hat(batch_t))  (exact c(pi_t) for "exact-pg")

The same arithmetic as the driver, operation for operation: every stacked numpy operation is elementwise or
reduces the contiguous last axis (the same pairwise sums as one run's rows), the PPO epochs are the same
compiled kernel called per run, the constraint estimate and the exact ``c(pi)`` are the driver's own calls
per run, and a rule's update is elementwise (every rule of :mod:`opdcheck.kernels.dual_rules`), so the runs
sharing one :class:`DualRule` object step it as one flattened vector. The tests compare every run with
:func:`~opdcheck.kernels.opd.run_primal_dual` bit for bit. As in the driver, a run whose new policy or
multiplier is not finite (or whose ``||lam - lam*||^2`` overflows) stops there, the step not committed; the
others run on.

What is kept: the multiplier path ``lam_hat_0..lam_hat_done`` and the last policy (the per-step metrics of a
:class:`~opdcheck.kernels.trajectory.Trajectory` are not computed).

Example
-------
>>> import numpy as np
>>> from opdcheck.instances import random_instance
>>> from opdcheck.kernels.dual_rules import make_dual_rule
>>> p = random_instance(2, 3, 1, 0.05, 0)
>>> out = run_sampled_batch(p, rules=[make_dual_rule("safe-rlhf")] * 2, seeds=[1, 2], lr=1.0, N=4, T=5,
...                         lam_init=[1.0], lam_star=np.array([1.0]))
>>> [o["lam"].shape for o in out], [o["diverged"] for o in out]
([(6, 1), (6, 1)], [False, False])
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from opdcheck.kernels.stochastic import MAX_ROW, SampledPrimal, ppo_epochs
from opdcheck.logspace import log_softmax_rows
from opdcheck.problem import Problem

if TYPE_CHECKING:
    from opdcheck.kernels.dual_rules import DualRule

__all__ = ["run_sampled_batch"]


def _uniforms(cache: dict, seed: int, k: int, shape: tuple[int, int]) -> np.ndarray:
    """The uniforms ``SampledPrimal`` draws for batch ``k`` of sampler seed ``seed`` (shared by the runs of one seed)."""
    key = (seed, k, shape)
    u = cache.get(key)
    if u is None:
        u = cache[key] = np.random.default_rng(np.random.SeedSequence([seed, k])).random(shape)
    return u


def _sample(log_pi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """:func:`~opdcheck.kernels.stochastic.sample_responses` on stacked policies ``(R, X, n)``, uniforms ``(R, X, N)``."""
    cdf = np.cumsum(np.exp(log_pi), axis=-1)
    cdf[..., -1] = 1.0
    return np.minimum((u[..., None] > cdf[..., None, :]).sum(axis=-1), log_pi.shape[-1] - 1)


def _scores(problem: Problem, lam: np.ndarray) -> np.ndarray:
    """``S_lam`` per run, ``(R, X, n)``: ``Problem.scores`` (one product per entry when ``h = 1``, as its dot)."""
    if problem.h == 1:
        return problem.r + lam[:, :, None] * problem.R_hard
    return np.stack([problem.scores(l) for l in lam])


def run_sampled_batch(problem: Problem, *, rules: "list[DualRule]", seeds: list[int], lr: float, N: int, T: int,
                      lam_init, lam_star: np.ndarray, update: str = "ppo", clip: float = 0.2, epochs: int = 4,
                      uniforms: dict | None = None) -> list[dict]:
    """Run ``len(seeds)`` simultaneous-PD runs of the sampled primal in lock step (module docstring).

    Run ``r`` equals ``run_primal_dual(problem, prediction="none", eta_th=1.0, eta_lam=1.0, T=T,
    lam_init=lam_init, primal=SampledPrimal(problem, lr=lr, N=N, seed=seeds[r], update=update, clip=clip,
    epochs=epochs), dual=rules[r])``. Runs sharing a rule object step it together (its state is one flattened
    vector). ``lam_star`` (the saddle multiplier) only serves the driver's divergence test. ``uniforms``: a
    dict reused across calls that share sampler seeds (the uniforms of one ``(seed, step)`` are drawn once).

    Returns per run ``{"lam": (done + 1, h) multiplier path, "log_pi": last log-policy (X, n), "n_steps": done,
    "diverged": bool}``.
    """
    R = len(seeds)
    if len(rules) != R or R == 0:
        raise ValueError(f"rules: {len(rules)} rules for {R} seeds; pass one DualRule per sampler seed (at least one).")
    helper = SampledPrimal(problem, lr=lr, N=N, seed=int(seeds[0]), update=update, clip=clip, epochs=epochs)
    for s in seeds:  # the same validation as one run's SampledPrimal
        SampledPrimal(problem, lr=lr, N=N, seed=s, update=update, clip=clip, epochs=epochs)
    lam0 = np.asarray(lam_init, dtype=np.float64).reshape(-1)
    if lam0.shape != (problem.h,) or not np.all(np.isfinite(lam0)) or np.any(lam0 < 0):
        raise ValueError(f"lam_init: {lam0.tolist()}; pass {problem.h} finite non-negative multipliers.")
    if not isinstance(T, (int, np.integer)) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T: {T!r}; pass an integer number of steps >= 1.")
    bad = [i for i, rule in enumerate(rules) if not (hasattr(rule, "init") and hasattr(rule, "update"))]
    if bad:
        raise ValueError(f"rules[{bad[0]}]: {type(rules[bad[0]]).__name__}; pass a DualRule "
                         "(opdcheck.kernels.dual_rules.make_dual_rule) for every run.")
    lam_star = np.asarray(lam_star, dtype=np.float64).reshape(-1)
    if lam_star.shape != (problem.h,) or not np.all(np.isfinite(lam_star)):
        raise ValueError(f"lam_star: {lam_star.tolist()}; pass the saddle point's {problem.h} finite multipliers "
                         "(solve_saddle(problem).lam).")
    cache = {} if uniforms is None else uniforms
    X, n, h = problem.X, problem.n, problem.h
    sampled = update != "exact-pg"
    rows = np.arange(X)[:, None]
    groups: dict[int, list[int]] = {}
    for i, rule in enumerate(rules):
        groups.setdefault(id(rule), []).append(i)
    gidx = {g: np.array(ix) for g, ix in groups.items()}
    grule = {g: rules[ix[0]] for g, ix in groups.items()}

    def log_softmax(theta):
        out = log_softmax_rows(theta)
        out.flags.writeable = False  # as SampledPrimal's memo: the compiled PPO epochs see the same array type
        return out

    useeds = sorted({int(s) for s in seeds})
    seed_row = np.array([useeds.index(int(s)) for s in seeds])

    def draw(log_pi, k):
        return _sample(log_pi, np.stack([_uniforms(cache, s, k, (X, N)) for s in useeds])[seed_row])

    def c_seen(log_pi, batch, live):
        """The constraint value each run's dual step sees: its sampled estimate (``constraint_estimate``), or the
        exact c (exact-pg)."""
        c = np.zeros((R, h))
        if sampled and h == 1:  # one row of means per run: the layout einsum sees is the same as one run's
            return np.einsum("x,rhx->rh", problem.rho, problem.R_hard[:, rows, batch].mean(axis=-1).transpose(1, 0, 2))
        for r in np.flatnonzero(live):  # h > 1: einsum's order depends on the layout of one run's means
            c[r] = (helper.constraint_estimate((None, batch[r], 0)) if sampled
                    else problem.constraint_values(np.exp(log_pi[r])))
        return c

    theta = np.broadcast_to(problem.log_pi_ref, (R, X, n)).copy()
    log_ref = theta.copy()
    row_start = n * np.arange(R * X).reshape(R, X, 1)
    log = log_softmax(theta)
    live = np.ones(R, dtype=bool)
    batch = draw(log, 0) if sampled else None
    lam = np.broadcast_to(lam0, (R, h)).copy()
    c = c_seen(log, batch, live)
    state = {g: grule[g].init(lam[ix].reshape(-1).copy()) for g, ix in gidx.items()}
    path = np.zeros((T + 1, R, h))
    path[0] = lam
    done = np.zeros(R, dtype=np.int64)
    diverged = np.zeros(R, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(T):
            # the primal step of every live run (SampledPrimal.step)
            S = _scores(problem, lam)
            if sampled:
                flat = batch + row_start  # the sampled entries (x, y_i) of every run, as flat indices
                r_i = S.reshape(-1)[flat] - problem.beta * (log.reshape(-1)[flat] - log_ref.reshape(-1)[flat])
                A = r_i - r_i.mean(axis=-1, keepdims=True)
                new = theta.copy()
                for r in np.flatnonzero(live):
                    if update == "pg":
                        new[r] = theta[r] + helper.lr * helper._grad(log[r], batch[r], A[r])
                    elif max(n, N) > MAX_ROW or ppo_epochs is None:
                        new[r] = helper._ppo_epochs_numpy(theta[r], log[r], batch[r], A[r])
                    else:
                        new[r] = ppo_epochs(theta[r], log[r], batch[r], A[r], problem.rho, helper.lr, helper.clip,
                                            helper.epochs)
            else:
                pi = np.exp(log)
                a = S - problem.beta * (log - problem.log_pi_ref)
                g = problem.rho[:, None] * pi * (a - np.sum(pi * a, axis=-1, keepdims=True))
                new = theta + helper.lr * g
            new = new - new.max(axis=-1, keepdims=True)
            log_new = log_softmax(new)
            # the dual step of every rule's runs (the rule is elementwise: its runs are one flattened vector)
            lam_new = np.empty_like(lam)
            state_new = {}
            for gk, ix in gidx.items():
                v, state_new[gk] = grule[gk].update(state[gk], lam[ix].reshape(-1), c[ix].reshape(-1))
                lam_new[ix] = np.asarray(v, dtype=np.float64).reshape(len(ix), h)
            ok = (live & np.all(np.isfinite(log_new), axis=(1, 2)) & np.all(np.isfinite(lam_new), axis=1)
                  & np.isfinite(np.sum((lam_star - lam_new) ** 2, axis=-1)))
            diverged |= live & ~ok
            live = ok
            if not live.any():
                break
            keep = live[:, None, None]
            theta, lam = np.where(keep, new, theta), np.where(live[:, None], lam_new, lam)
            log = np.where(keep, log_new, log)
            log.flags.writeable = False
            if sampled:
                batch = np.where(keep, draw(log, t + 1), batch)
            c = np.where(live[:, None], c_seen(log, batch, live), c)
            state = state_new  # a stopped run's part of the state is never read for a committed step again
            path[t + 1] = lam
            done[live] = t + 1
    return [{"lam": path[: done[r] + 1, r].copy(), "log_pi": log[r].copy(), "n_steps": int(done[r]),
             "diverged": bool(diverged[r])} for r in range(R)]
