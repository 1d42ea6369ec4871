"""Algorithm 3's projection read in the metric of the Fisher matrix: ``Proj^F_Theta(z) = argmin_{theta in Theta}
(theta - z)^T (F(theta_hat_t) + eps I) (theta - z)``, beside the Euclidean ``Proj_Theta`` the kernels use.

The paper writes ``Proj_Theta`` (eqs. (8), (10)) without naming a metric. At a fixed point of the Fisher-metric
step, ``F (theta - z) in -N_Theta(theta)`` with ``theta - z = -F^+ grad L/(eta+beta)``, i.e. ``F F^+ grad L in
N_Theta(theta)``, and ``F F^+ grad L = grad L`` because ``grad L = E[A score]`` lies in the range of F: the KKT
condition of the in-class problem. The Euclidean fixed point only has ``F^+ grad L`` in the normal cone.
The ridge ``eps`` (``FISHER_PROJECTION_RIDGE`` relative to the largest eigenvalue) makes the metric definite when F is
rank-deficient; it moves nothing along the range of F by more than that relative amount.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq, lsq_linear

from opdcheck.kernels.alg3 import NaturalGradientStep
from opdcheck.kernels.policies import Box, L2Ball
from opdcheck.tolerances import FISHER_PROJECTION_RIDGE

__all__ = ["FisherProjectedStep", "fisher_projection", "FISHER_PROJECTION_RIDGE"]



def fisher_projection(z: np.ndarray, M: np.ndarray, param_set, start: np.ndarray | None = None) -> np.ndarray:
    """``argmin_{theta in Theta} (theta - z)^T M (theta - z)`` (``M`` symmetric positive definite) for a box or an
    l2 ball, solved exactly (no iterative tolerance beyond rounding):

    * box: a bounded least-squares problem ``min ||L^T (theta - z)||^2``, ``M = L L^T``, by the active-set BVLS
      method (``scipy.optimize.lsq_linear``; each iterate solves its free set's least squares exactly);
    * ball ``||theta - c|| <= r``: ``theta(mu) = c + (M + mu I)^{-1} M (z - c)`` with the multiplier ``mu >= 0`` the
      root of the secular equation ``||theta(mu) - c|| = r`` (decreasing in ``mu``; bracketed, Brent's method to
      rounding) in the eigenbasis of ``M``.

    ``start`` is accepted for the callers that had an iterative solver and is not needed."""
    z = np.asarray(z, dtype=np.float64)
    if param_set.contains(z):
        return z.copy()
    if isinstance(param_set, Box):
        lo = np.broadcast_to(param_set.lo, z.shape)
        hi = np.broadcast_to(param_set.hi, z.shape)
        A = _metric_factor(M, "cholesky").T
        res = lsq_linear(A, A @ z, bounds=(lo, hi), method="bvls", tol=1e-15)
        return param_set.project(res.x)
    if isinstance(param_set, L2Ball):
        c, r = np.broadcast_to(param_set.center, z.shape), float(param_set.radius)
        w, V = _metric_factor(M, "eigh")
        y = V.T @ (z - c)

        def excess(mu: float) -> float:
            v = w * y / (w + mu)
            return math.sqrt(float(v.dot(v))) - r  # np.linalg.norm's own arithmetic for a real vector, without its overhead

        hi_mu = float(np.max(w)) * float(np.linalg.norm(y)) / r  # excess(hi_mu) <= 0
        mu = brentq(excess, 0.0, hi_mu, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
        return param_set.project(c + V @ (w * y / (w + mu)))
    raise ValueError(f"fisher_projection: Theta = {param_set.describe()}; supported: Box, L2Ball.")


#: the last metric factorisation ``(key, factor)``: both calls of an Alg. 3 step project in the metric of the same
#: F(theta_hat_t), so the second reuses the first's Cholesky or eigen factor (the same bits). One tuple, swapped atomically.
_FACTOR_MEMO: tuple | None = None


def _metric_factor(M: np.ndarray, kind: str):
    """``np.linalg.cholesky(M)`` (``kind="cholesky"``) or ``np.linalg.eigh(M)`` (``"eigh"``), memoised on the last M."""
    global _FACTOR_MEMO
    Mc = np.ascontiguousarray(M, dtype=np.float64)
    key = (kind, Mc.shape, Mc.tobytes())
    memo = _FACTOR_MEMO
    if memo is not None and memo[0] == key:
        return memo[1]
    factor = np.linalg.cholesky(M) if kind == "cholesky" else np.linalg.eigh(M)
    _FACTOR_MEMO = (key, factor)
    return factor


class FisherProjectedStep(NaturalGradientStep):
    """Eqs. (8)/(10) with ``Proj_Theta`` in the metric of ``F(theta_hat_t)`` (the natural-gradient geometry)."""

    name = "npg-fisher-projection"

    def exact_step(self, theta: np.ndarray, lam: np.ndarray) -> np.ndarray:
        w = self.direction_at(theta, lam)
        z = theta + w / (self.eta_th + self.problem.beta)
        # the metric is the centred, rho-weighted F of eq. (8): the step's memoised one when that is its variant
        F = self.fisher_at(theta) if self.fisher == "centred" else self.policy.fisher(theta, self.problem.rho)
        M = F + FISHER_PROJECTION_RIDGE * max(1.0, float(np.max(np.abs(F)))) * np.eye(F.shape[0])
        return fisher_projection(z, M, self.policy.param_set, self.policy.param_set.project(z))
