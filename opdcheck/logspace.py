"""Stable log-space helpers: row-wise logsumexp/softmax and KL with 0 log 0 = 0."""
from __future__ import annotations

import numpy as np

__all__ = ["logsumexp_rows", "log_softmax_rows", "softmax_rows", "kl_rows", "expected_kl"]


def logsumexp_rows(z: np.ndarray) -> np.ndarray:
    """``log sum_y exp(z[..., y])`` along the last axis, shifted by the max for stability."""
    m = np.max(z, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))[..., 0]


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    """``z - logsumexp(z)`` along the last axis."""
    return z - logsumexp_rows(z)[..., None]


def softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits ``z`` (last axis)."""
    return np.exp(log_softmax_rows(z))


def kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``KL(p[x] || q[x])`` for each row x, with ``0 log 0 = 0``.

    Raises ValueError when p puts mass where q has none (the KL is infinite there): a silent
    inf would turn into NaN downstream.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"kl_rows: p has shape {p.shape} but q has shape {q.shape}; pass arrays of one shape.")
    pos = p > 0
    bad = pos & (q <= 0)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"kl_rows: p{idx} = {p[idx]!r} > 0 but q{idx} = {q[idx]!r}; KL(p||q) is infinite because the "
            "support of q misses the support of p."
        )
    ratio = np.where(pos, p, 1.0) / np.where(pos, q, 1.0)
    return np.sum(np.where(pos, p * np.log(ratio), 0.0), axis=-1)


def expected_kl(rho: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """``E_{x ~ rho} KL(p[x] || q[x])``."""
    return float(np.dot(rho, kl_rows(p, q)))
