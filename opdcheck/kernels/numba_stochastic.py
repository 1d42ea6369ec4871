"""Compiled PPO-clip epochs of :class:`~opdcheck.kernels.stochastic.SampledPrimal` (tabular softmax bandit).

Problem: the §4 analogue's sampled primal spends its time in ~40 tiny numpy calls per step (arrays of
``X x n = 8 x 6``), ~0.8 ms a step, ~39 000 steps in a quick ``sec-4-stability`` run. This kernel runs the
``epochs`` PPO-clip ascent steps of one primal step in one compiled call.

Update (the numpy reference, :meth:`SampledPrimal._ppo_epochs_numpy`, operation for operation)::

    for each epoch:
        log_cur = log_softmax_rows(theta)
        ratio_i = exp(log_cur[x, y_i] - log_old[x, y_i])
        w_i     = 0 where the clip binds (A_i > 0, ratio_i > 1 + eps or A_i < 0, ratio_i < 1 - eps), else ratio_i A_i
        theta   = theta + lr * (rho_x * (sum_{i: y_i = y} w_i - (sum_i w_i) pi_cur[x, y]) / N)

Same bits as numpy: every elementwise operation is the same IEEE operation in the same order (no
``fastmath``: no contraction into FMAs, no reassociation); the row sums reproduce numpy's pairwise
summation (:func:`_np_sum`: sequential below 8 terms, eight accumulators up to ``MAX_ROW = 128``; longer
rows -- more responses or samples than that -- take the numpy path);
``exp``/``log`` are the C library's, which numpy also calls on CPUs without AVX-512 (where numpy's
own SIMD versions may differ in the last bit: there the compiled and the numpy step can differ by an
ulp, and the tests compare them with a 1e-12 tolerance as well as bit for bit where they agree).

Example
-------
>>> import numpy as np
>>> th = np.zeros((1, 3)); lo = th - np.log(3.0)
>>> ppo_epochs(th, lo, np.array([[0, 0]]), np.array([[1.0, 1.0]]), np.ones(1), 1.0, 0.2, 1).round(4)
array([[ 0.6667, -0.3333, -0.3333]])
"""
from __future__ import annotations

import math

import numpy as np

from opdcheck.kernels.numba_cache import CACHE as _CACHE
from opdcheck.kernels.numba_cache import njit

__all__ = ["MAX_ROW", "ppo_epochs"]


#: numpy's pairwise-summation block: up to this many terms a row sum is one unrolled block (no recursion)
MAX_ROW = 128


@njit(cache=_CACHE)
def _np_sum(a, lo, n):
    """``numpy.sum`` of ``a[lo:lo + n]`` (contiguous, ``n <= MAX_ROW``), in numpy's pairwise order."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    raise ValueError("row longer than numpy's pairwise block")


@njit(cache=_CACHE)
def _log_softmax_rows(z, out, tmp):
    """``opdcheck.logspace.log_softmax_rows(z)`` into ``out`` (``tmp``: scratch of one row)."""
    X, n = z.shape
    for x in range(X):
        m = z[x, 0]
        for y in range(1, n):
            if z[x, y] > m or math.isnan(z[x, y]):
                m = z[x, y]
        for y in range(n):
            tmp[y] = math.exp(z[x, y] - m)
        lse = m + math.log(_np_sum(tmp, 0, n))
        for y in range(n):
            out[x, y] = z[x, y] - lse


@njit(cache=_CACHE)
def ppo_epochs(theta, log_old, batch, A, rho, lr, clip, epochs):
    """``epochs`` PPO-clip ascent steps from ``theta`` (X, n) on the batch ``batch`` (X, N) with advantages
    ``A`` (X, N); returns the new logits (before the softmax gauge). See the module docstring."""
    X, n = theta.shape
    N = batch.shape[1]
    th = theta.copy()
    new = np.empty_like(th)
    log_cur = np.empty_like(th)
    tmp = np.empty(n)
    w = np.empty(N)
    onehot = np.empty(n)
    hi, lo_ = 1 + clip, 1 - clip
    for _ in range(epochs):
        _log_softmax_rows(th, log_cur, tmp)
        for x in range(X):
            onehot[:] = 0.0
            for i in range(N):
                y = batch[x, i]
                ratio = math.exp(log_cur[x, y] - log_old[x, y])
                a = A[x, i]
                wi = ratio * a
                if (a > 0 and ratio > hi) or (a < 0 and ratio < lo_):
                    wi = 0.0
                w[i] = wi
                onehot[y] += wi
            wsum = _np_sum(w, 0, N)
            for y in range(n):
                g = (onehot[y] - wsum * math.exp(log_cur[x, y])) / N
                new[x, y] = th[x, y] + lr * (rho[x] * g)
        th, new = new, th
    return th
