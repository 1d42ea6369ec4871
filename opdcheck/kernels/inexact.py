"""Inexact primal steps for Assumption 3.9: ``E||theta_t - theta_t*||_1 <= eps_approx``.

``theta_t*`` is the exact-expectation step (8)/(10) (:meth:`NaturalGradientStep.exact_step`); each
model below returns an implemented ``theta_t`` and records the achieved ``||theta_t - theta_t*||_1``
(``InexactStep.deviations``), so a report gives the *achieved* ``eps_approx = max_t ||.||_1`` next to
the requested level. Models:

* :class:`L1Perturbation` ``(eps)``: ``theta = Proj(theta* + eps u)``, ``u`` a seeded random direction
  with ``||u||_1 = 1`` (the projection can only shorten the deviation; the achieved value is recorded);
* :class:`SampledEstimates` ``(N)``: gradient and Fisher matrix from ``N`` samples
  ``x ~ rho, y ~ pi_theta(.|x)`` per step (REINFORCE with the per-prompt sample-mean baseline), drawn as
  multinomial counts (exactly the law of N i.i.d. samples, at a cost independent of N);
* :class:`FeatureMisspecification` ``(sigma)``: the direction is fitted on features perturbed by a fixed
  seeded ``sigma``-sized noise (a misspecified compatible-function approximation), the policy keeps
  its true features.

Sampled *constraint values* (the ``c(pi)`` of eqs. (9)/(11)) are not modelled: the driver computes
``c`` from the policy exactly (a change to kernels/opd.py would be needed).

Each step is a pure function of ``(theta_hat, lam)``: its random numbers are seeded by the model's seed
and a hash of the arguments, so the same call gives the same bits whatever ran before.
"""
from __future__ import annotations

import zlib

import numpy as np

from opdcheck.kernels.alg3 import NaturalGradientStep, _pinv_solve, advantage  # noqa: F401
from opdcheck.kernels.policies import LogLinear
from opdcheck.kernels.rules import PrimalStep
from opdcheck.problem import Problem

__all__ = ["InexactModel", "L1Perturbation", "SampledEstimates", "FeatureMisspecification", "InexactStep"]


def _call_rng(seed: int, theta: np.ndarray, lam: np.ndarray) -> np.random.Generator:
    key = zlib.crc32(np.ascontiguousarray(theta, dtype=np.float64).tobytes()
                     + np.ascontiguousarray(lam, dtype=np.float64).tobytes())
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(key)]))


class InexactModel:
    """``implemented(exact_step, theta_hat, lam) -> theta``; ``level`` is the requested size."""

    name = "model"
    level: float

    def implemented(self, npg: NaturalGradientStep, theta: np.ndarray, lam: np.ndarray, theta_star: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class L1Perturbation(InexactModel):
    name = "l1-perturbation"

    def __init__(self, eps: float, seed: int) -> None:
        eps = float(eps)
        if not (np.isfinite(eps) and eps >= 0):
            raise ValueError(f"L1Perturbation: eps = {eps!r}; pass a finite size >= 0.")
        self.level, self.seed = eps, int(seed)

    def implemented(self, npg, theta, lam, theta_star):
        rng = _call_rng(self.seed, theta, lam)
        u = rng.laplace(size=theta_star.shape)
        u /= np.abs(u).sum()
        return npg.policy.param_set.project(theta_star + self.level * u)


class SampledEstimates(InexactModel):
    name = "sampled"

    def __init__(self, N: int, seed: int) -> None:
        if not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"SampledEstimates: N = {N!r}; pass an integer number of samples >= 1.")
        self.level, self.N, self.seed = float(N), int(N), int(seed)

    def implemented(self, npg, theta, lam, theta_star):
        p, pol = npg.problem, npg.policy
        rng = _call_rng(self.seed, theta, lam)
        log_pi = npg.log_policy(theta)  # the exact step's memo: pol.log_probs(theta), computed once per state
        joint = (p.rho[:, None] * np.exp(log_pi)).reshape(-1)
        counts = rng.multinomial(self.N, joint / joint.sum()).reshape(p.X, p.n) / self.N
        G = pol.score(theta)
        # baseline = the sample mean of Q at each prompt (what an implementation can compute); with the
        # exact baseline V the tabular estimate would be exact for any counts covering every (x, y)
        Q = p.scores(lam) - p.beta * (log_pi - p.log_pi_ref)
        nx = counts.sum(axis=1, keepdims=True)
        V_hat = np.divide((counts * Q).sum(axis=1, keepdims=True), nx, out=np.zeros_like(nx), where=nx > 0)
        A = Q - V_hat
        g_hat = np.einsum("xy,xy,xyd->d", counts, A, G)
        F_hat = np.einsum("xy,xyd,xye->de", counts, G, G)
        w = _pinv_solve(F_hat, g_hat, npg.rcond)
        return pol.param_set.project(theta + w / (npg.eta_th + p.beta))


class FeatureMisspecification(InexactModel):
    name = "misspecified-features"

    def __init__(self, sigma: float, seed: int) -> None:
        sigma = float(sigma)
        if not (np.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"FeatureMisspecification: sigma = {sigma!r}; pass a finite size >= 0.")
        self.level, self.seed = sigma, int(seed)
        self._noise: np.ndarray | None = None
        self._wrong: tuple | None = None  # (the true class, its misspecified copy): built once per class

    def implemented(self, npg, theta, lam, theta_star):
        p, pol = npg.problem, npg.policy
        if not isinstance(pol, LogLinear):
            raise ValueError(f"FeatureMisspecification: class {pol.name!r}; needs a LogLinear class (features).")
        if self._wrong is None or self._wrong[0] is not pol:
            if self._noise is None or self._noise.shape != pol.phi.shape:
                self._noise = np.random.default_rng(np.random.SeedSequence([self.seed, 7])).normal(size=pol.phi.shape)
            self._wrong = (pol, LogLinear(pol.phi + self.level * self._noise, pol.param_set))
        wrong = self._wrong[1]
        # the policy (and its advantage) are the true class's; only the fitted features are wrong
        log_pi = npg.log_policy(theta)
        pi = np.exp(log_pi)
        Gw = wrong.phi - wrong.mean_features(pi)[:, None, :]
        wts = p.rho[:, None] * pi
        A = advantage(p, log_pi, lam)
        g = np.einsum("xy,xy,xyd->d", wts, A, Gw)
        F = np.einsum("xy,xyd,xye->de", wts, Gw, Gw)
        w = _pinv_solve(F, g, npg.rcond)
        return pol.param_set.project(theta + w / (npg.eta_th + p.beta))


class InexactStep(PrimalStep):
    """A :class:`NaturalGradientStep` whose every call is replaced by an inexact model's output;
    ``deviations`` records ``||theta - theta*||_1`` per call (diagnostics only)."""

    def __init__(self, exact: NaturalGradientStep, model: InexactModel) -> None:
        self.exact, self.model = exact, model
        self.name = f"npg+{model.name}"
        self.deviations: list[float] = []

    def init_state(self, problem: Problem) -> np.ndarray:
        self.deviations = []
        return self.exact.init_state(problem)

    def step(self, state: np.ndarray, lam: np.ndarray) -> np.ndarray:
        star = self.exact.exact_step(state, lam)
        out = self.model.implemented(self.exact, state, lam, star)
        self.deviations.append(float(np.abs(out - star).sum()))
        return out

    def log_policy(self, state: np.ndarray) -> np.ndarray:
        return self.exact.log_policy(state)

    @property
    def eps_achieved(self) -> float:
        """``max_t ||theta_t - theta_t*||_1`` over every primal call of the run."""
        return float(max(self.deviations, default=0.0))

    @property
    def eps_mean(self) -> float:
        return float(np.mean(self.deviations)) if self.deviations else 0.0

    def describe(self) -> dict:
        return {**self.exact.describe(), "primal": self.name, "inexact_model": self.model.name,
                "inexact_level": self.model.level}
