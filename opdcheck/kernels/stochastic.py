"""A stochastic primal for §4: sampled policy-gradient and PPO-clip steps on a multi-prompt bandit.

Setting: the :class:`~opdcheck.problem.Problem` is the bandit (prompts ``x`` with weights ``rho``,
responses ``y``; rewards are deterministic functions of ``(x, y)``, like RLHF reward models). The policy is
tabular softmax, ``pi_theta[x] = softmax(theta[x])``, ``theta_0 = log pi_ref``. Each step samples ``N``
responses per prompt from the current policy (one "rollout batch") and uses it for

* the primal step on ``L(theta, lam) = E_rho[ E_pi S_lam - beta KL(pi || pi_ref) ]`` with the RLHF
  per-sample reward ``A_i = S_lam(x, y_i) - beta (log pi_theta - log pi_ref)(x, y_i)`` minus the batch
  mean per prompt (a baseline), and
* the constraint estimate ``c_hat = sum_x rho_x mean_i R_H(x, y_i)`` the dual rule sees
  (:meth:`SampledPrimal.constraint_estimate`; the driver records the exact ``c(pi)`` as metrics).

Updates (``lr`` the primal learning rate):

* ``"pg"`` (REINFORCE with baseline): ``theta[x] += lr rho_x mean_i A_i (e_{y_i} - pi_theta[x])``.
* ``"ppo"`` (PPO-clip, Schulman et al. 2017, clip ``eps = 0.2``): ``epochs`` ascent steps on
  ``sum_x rho_x mean_i min(r_i A_i, clip(r_i, 1-eps, 1+eps) A_i)``, ``r_i = pi_theta(y_i)/pi_old(y_i)``,
  whose gradient per sample is ``r_i A_i (e_{y_i} - pi_theta[x])`` where the unclipped branch is active
  and 0 where the clip binds (``A_i > 0, r_i > 1+eps`` or ``A_i < 0, r_i < 1-eps``).

* ``"exact-pg"`` (the control: exact expectations, no sampling): ``theta[x] += lr rho_x pi[x] * (a[x] - <pi[x], a[x]>)``
  with ``a = S_lam - beta (log pi - log pi_ref)``; the dual then sees the exact ``c(pi)``.

Randomness: the state is ``(theta, batch, k)``; the batch of step ``k`` is drawn from
``np.random.default_rng(SeedSequence([seed, k]))``, so a run is a pure function of ``seed`` (no global RNG).
"""
from __future__ import annotations

import numpy as np

from opdcheck.kernels.rules import PrimalStep
try:
    from opdcheck.kernels.numba_stochastic import MAX_ROW, ppo_epochs
except ImportError:  # without numba every PPO step takes the numpy reference path
    MAX_ROW, ppo_epochs = -1, None
from opdcheck.logspace import log_softmax_rows
from opdcheck.problem import Problem

__all__ = ["SampledPrimal", "sample_responses"]

UPDATES = ("pg", "ppo", "exact-pg")


def sample_responses(log_pi: np.ndarray, N: int, rng: np.random.Generator) -> np.ndarray:
    """``N`` responses per prompt from ``exp(log_pi)``: integer array (X, N), by inverse-CDF on uniforms."""
    cdf = np.cumsum(np.exp(log_pi), axis=1)
    cdf[:, -1] = 1.0  # guard the last bin against rounding
    u = rng.random((log_pi.shape[0], N))
    return np.minimum((u[:, :, None] > cdf[:, None, :]).sum(axis=2), log_pi.shape[1] - 1)


class SampledPrimal(PrimalStep):
    """Sampled PG / PPO-clip step of a tabular softmax policy (module docstring); state ``(theta, batch, k)``."""

    name = "sampled"

    def __init__(self, problem: Problem, *, lr: float, N: int, seed: int, update: str = "ppo", clip: float = 0.2,
                 epochs: int = 4) -> None:
        if update not in UPDATES:
            raise ValueError(f"update: {update!r}; choose one of {UPDATES}.")
        if not (isinstance(N, (int, np.integer)) and N >= 1):
            raise ValueError(f"N: {N!r}; pass an integer number of sampled responses per prompt >= 1.")
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr: {lr!r}; pass a finite primal learning rate > 0.")
        if not (0 < clip < 1):
            raise ValueError(f"clip: {clip!r}; pass the PPO clip range in (0, 1) (PPO's default 0.2).")
        if not (isinstance(epochs, (int, np.integer)) and epochs >= 1):
            raise ValueError(f"epochs: {epochs!r}; pass an integer >= 1.")
        if not (isinstance(seed, (int, np.integer)) and seed >= 0):
            raise ValueError(f"seed: {seed!r}; pass a non-negative integer.")
        self.problem, self.lr, self.N, self.seed = problem, float(lr), int(N), int(seed)
        self.update, self.clip, self.epochs = update, float(clip), int(epochs)
        self._memo: tuple[np.ndarray, np.ndarray] | None = None

    def _batch(self, log_pi: np.ndarray, k: int) -> np.ndarray | None:
        if self.update == "exact-pg":
            return None
        return sample_responses(log_pi, self.N, np.random.default_rng(np.random.SeedSequence([self.seed, k])))

    def init_state(self, problem: Problem):
        theta = problem.log_pi_ref.copy()
        return (theta, self._batch(self._log_softmax(theta), 0), 0)

    def _log_softmax(self, theta: np.ndarray) -> np.ndarray:
        """``log_softmax_rows(theta)``, remembered for the last ``theta`` object: a step samples its next batch,
        the driver asks for the policy and the next step starts from it -- three calls on one array (the
        states' arrays are never modified in place; the result is read-only so that no caller can)."""
        memo = self._memo
        if memo is not None and memo[0] is theta:
            return memo[1]
        out = log_softmax_rows(theta)
        out.flags.writeable = False
        self._memo = (theta, out)
        return out

    def log_policy(self, state) -> np.ndarray:
        return self._log_softmax(state[0])

    def constraint_estimate(self, state) -> np.ndarray | None:
        """``c_hat_j = sum_x rho_x mean_i R_j(x, y_i)`` over the state's batch (None for ``exact-pg``: exact c)."""
        if self.update == "exact-pg":
            return None
        _, batch, _ = state
        X = batch.shape[0]
        vals = self.problem.R_hard[:, np.arange(X)[:, None], batch]  # (h, X, N)
        return np.einsum("x,hx->h", self.problem.rho, vals.mean(axis=2))

    def _advantages(self, log_pi_old: np.ndarray, batch: np.ndarray, lam: np.ndarray) -> np.ndarray:
        p = self.problem
        X = batch.shape[0]
        rows = np.arange(X)[:, None]
        S = p.scores(np.asarray(lam, dtype=np.float64))
        r = S[rows, batch] - p.beta * (log_pi_old[rows, batch] - p.log_pi_ref[rows, batch])
        return r - r.mean(axis=1, keepdims=True)

    def _grad(self, log_pi: np.ndarray, batch: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``sum over samples of rho_x w_i (e_{y_i} - pi[x]) / N`` (tabular softmax score)."""
        X, n = log_pi.shape
        pi = np.exp(log_pi)
        onehot_sum = np.zeros((X, n))
        np.add.at(onehot_sum, (np.repeat(np.arange(X), batch.shape[1]), batch.ravel()), weights.ravel())
        g = (onehot_sum - weights.sum(axis=1, keepdims=True) * pi) / batch.shape[1]
        return self.problem.rho[:, None] * g

    def _ppo_epochs_numpy(self, theta: np.ndarray, log_old: np.ndarray, batch: np.ndarray,
                          A: np.ndarray) -> np.ndarray:
        """The PPO-clip epochs in numpy: the reference the compiled ``ppo_epochs`` reproduces bit for bit."""
        rows = np.arange(batch.shape[0])[:, None]
        for _ in range(self.epochs):
            log_cur = log_softmax_rows(theta)
            ratio = np.exp(log_cur[rows, batch] - log_old[rows, batch])
            clipped = ((A > 0) & (ratio > 1 + self.clip)) | ((A < 0) & (ratio < 1 - self.clip))
            w = np.where(clipped, 0.0, ratio * A)
            theta = theta + self.lr * self._grad(log_cur, batch, w)
        return theta

    def step(self, state, lam):
        theta, batch, k = state
        log_old = self._log_softmax(theta)
        if self.update == "exact-pg":
            p = self.problem
            pi = np.exp(log_old)
            a = p.scores(np.asarray(lam, dtype=np.float64)) - p.beta * (log_old - p.log_pi_ref)
            g = p.rho[:, None] * pi * (a - np.sum(pi * a, axis=1, keepdims=True))
            theta = theta + self.lr * g
            return (theta - theta.max(axis=1, keepdims=True), None, k + 1)
        A = self._advantages(log_old, batch, lam)
        if self.update == "pg":
            theta = theta + self.lr * self._grad(log_old, batch, A)
        elif max(theta.shape[1], batch.shape[1]) > MAX_ROW:
            theta = self._ppo_epochs_numpy(theta, log_old, batch, A)
        else:  # compiled, the same bits as _ppo_epochs_numpy (kernels/numba_stochastic.py)
            theta = ppo_epochs(np.ascontiguousarray(theta, dtype=np.float64), log_old, np.ascontiguousarray(batch),
                               np.ascontiguousarray(A), self.problem.rho, self.lr, self.clip, self.epochs)
        theta = theta - theta.max(axis=1, keepdims=True)  # softmax gauge: keep logits bounded
        return (theta, self._batch(self._log_softmax(theta), k + 1), k + 1)

    def describe(self) -> dict:
        return {"primal": f"sampled-{self.update}", "lr": self.lr, "N": self.N, "seed": self.seed,
                "clip": self.clip if self.update == "ppo" else None,
                "epochs": self.epochs if self.update == "ppo" else None}
