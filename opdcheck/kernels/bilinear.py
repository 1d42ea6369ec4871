"""The bilinear game ``min_y max_x x^T A y`` of §3: simultaneous GDA and the optimistic (Popov) method.

Pure numpy, small: used by the ``bilinear-gda`` check to show divergence vs contraction.

* GDA (paper §3): ``x+ = x + alpha A y``, ``y+ = y - alpha A^T x``.
* Optimistic / past-extragradient (the bilinear analogue of Algorithm 2)::

      x_t = x_hat_t + alpha A y_{t-1},      y_t = y_hat_t - alpha A^T x_{t-1}
      x_hat_{t+1} = x_hat_t + alpha A y_t,  y_hat_{t+1} = y_hat_t - alpha A^T x_t

  The first step uses ``(x_{-1}, y_{-1}) = (x_hat_0, y_hat_0)`` (the convention opdcheck uses for
  Algorithm 2 as well).
"""
from __future__ import annotations

import numpy as np

__all__ = ["random_full_rank", "run_gda", "run_optimistic"]


def random_full_rank(m: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded random square matrix with singular values in [0.5, 1.5] (full rank by construction)."""
    if not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"random_full_rank: m = {m!r}; pass an integer >= 1.")
    U, _ = np.linalg.qr(rng.normal(size=(m, m)))
    V, _ = np.linalg.qr(rng.normal(size=(m, m)))
    s = rng.uniform(0.5, 1.5, size=m)
    return (U * s) @ V.T


def _check(A: np.ndarray, x0: np.ndarray, y0: np.ndarray, alpha: float, T: int) -> None:
    if A.ndim != 2 or x0.shape != (A.shape[0],) or y0.shape != (A.shape[1],):
        raise ValueError(f"bilinear: shapes A {A.shape}, x0 {x0.shape}, y0 {y0.shape} do not match; "
                         "pass A (m, k), x0 (m,), y0 (k,).")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"bilinear: alpha = {alpha!r}; pass a finite step > 0.")
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"bilinear: T = {T!r}; pass an integer >= 1.")


def run_gda(A: np.ndarray, x0: np.ndarray, y0: np.ndarray, alpha: float, T: int) -> np.ndarray:
    """``||z_t||_2`` for t = 0..T under simultaneous GDA (the saddle point is 0)."""
    _check(A, x0, y0, alpha, T)
    x, y = x0.astype(np.float64).copy(), y0.astype(np.float64).copy()
    out = np.empty(T + 1)
    out[0] = np.hypot(np.linalg.norm(x), np.linalg.norm(y))
    for t in range(1, T + 1):
        x, y = x + alpha * (A @ y), y - alpha * (A.T @ x)
        out[t] = np.hypot(np.linalg.norm(x), np.linalg.norm(y))
    return out


def run_optimistic(A: np.ndarray, x0: np.ndarray, y0: np.ndarray, alpha: float, T: int) -> np.ndarray:
    """``||z_hat_t||_2`` for t = 0..T under the optimistic (Popov) method."""
    _check(A, x0, y0, alpha, T)
    xh, yh = x0.astype(np.float64).copy(), y0.astype(np.float64).copy()
    xp, yp = xh.copy(), yh.copy()          # previous predictions (x_{-1}, y_{-1}) := (x_hat_0, y_hat_0)
    out = np.empty(T + 1)
    out[0] = np.hypot(np.linalg.norm(xh), np.linalg.norm(yh))
    for t in range(1, T + 1):
        x, y = xh + alpha * (A @ yp), yh - alpha * (A.T @ xp)      # prediction with the previous prediction's gradient
        xh, yh = xh + alpha * (A @ y), yh - alpha * (A.T @ x)      # actual update with the prediction's gradient
        xp, yp = x, y
        out[t] = np.hypot(np.linalg.norm(xh), np.linalg.norm(yh))
    return out
