"""Numba kernel of Algorithm 3's natural-gradient step for log-linear policies (eqs. (8)/(10)).

What it computes (the numpy reference is :func:`opdcheck.kernels.alg3.natural_direction` with a
:class:`~opdcheck.kernels.policies.LogLinear` class; ``backend="numba"`` there selects this kernel)::

    z[x, y]      = theta . phi[x, y]                                   (logits)
    log pi[x, .] = z[x, .] - logsumexp(z[x, .])                        (log-softmax)
    A[x, y]      = Q[x, y] - sum_y' pi[x, y'] Q[x, y'],   Q = S_lam - beta (log pi - log pi_ref)   (App. D, (50)-(51))
    g            = sum_{x,y} rho_x pi[x, y] A[x, y] phi[x, y]         (grad L, eq. (52); E_pi A = 0 so the raw
                                                                        features give the centred-score gradient)
    F            = sum_{x,y} rho_x pi (phi - mbar_x)(phi - mbar_x)^T,   mbar_x = sum_y pi[x, y] phi[x, y]
    w            = F^+ g   (the reference's eigen pseudo-inverse, ``alg3._pinv_solve``, same cut-off)

The Fisher matrix is accumulated as ``sum_y rho_x pi (phi - mbar_x)(phi - mbar_x)^T`` (the score itself),
which equals the reference's raw second moment minus the mean outer product but does not cancel when the
policy is nearly deterministic (there the reference loses digits, see ``tests/test_kernels_numba_alg3.py``'s
mpmath replay). Variants as in the reference:
``fisher="uncentred"`` drops the mean term, ``"unweighted"`` uses rho = 1 in F only (negative controls).

One pass over the features: the prompts are cut into ``n_blocks`` contiguous blocks (``prange`` over
blocks); for each prompt the (n, d) feature block is read once from memory, into its transpose (d, n)
in cache (n d 8 bytes = 512 KB at n = 1000, d = 64, inside the 1 MB L2 of this machine); the logits, the
gradient, the mean features and the Fisher upper triangle then run along y on contiguous rows (the Fisher
entries as dot products over y in 2 x 4 register tiles, :func:`_fisher_upper`: measured 15 G multiply-adds/s
a thread on one 64 x 1000 block, against 8 for one dot product at a time and 1.3 for rank-4 updates of F
in the (n, d) layout, which load and store F). Nothing of size X n is written.

Determinism: each block accumulates its prompts in increasing x into its own (d, d) and (d,) partial
sums, and the partial sums are added SERIALLY in block order after the ``prange``. The partition depends
only on (X, n_blocks), never on the thread count, so the result has the same bits for ANY number of
threads (``NUMBA_NUM_THREADS`` / ``numba.set_num_threads`` only decide who computes which block);
changing ``n_blocks`` changes the summation order (and the last bits). Row sums inside a prompt use
``fastmath={"reassoc", "contract"}``: vector order fixed at compile time (no nnan/ninf), so the bits may
differ between machines whose compiled vector width differs (the cache is per machine). No RNG here.

Compilation is cached on disk as the rest of ``kernels/`` does it (``kernels/numba_cache.py``: a folder keyed
on every kernel source; ``OPDCHECK_NUMBA_CACHE=0`` turns it off).

Paper: Li, Ju, Shroff, arXiv 2602.22146, Sec. 3.3 (Algorithm 3), App. D.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from opdcheck.kernels.numba_cache import CACHE as _CACHE  # on-disk cache keyed on every kernel source
from opdcheck.kernels.numba_cache import njit

__all__ = ["DEFAULT_N_BLOCKS", "loglinear_grad_fisher_kernel", "loglinear_grad_fisher"]

#: Fixed number of prompt blocks (the parallel grain): 64 keeps 2..64 threads busy with (d, d) partial
#: sums of 64 x 32 KB = 2 MB at d = 64; fixed, so the bits do not depend on the thread count.
DEFAULT_N_BLOCKS = 64

_FISHER_CODE = {"centred": 0, "uncentred": 1, "unweighted": 2}


@njit(cache=_CACHE, fastmath={"reassoc", "contract"})
def _fisher_upper(U, phiT, F):
    """F[i, j] += sum_y U[i, y] phiT[j, y] for j >= i (and, harmlessly, F[i+1, i], never read).

    2 x 4 register tiles: 8 dot products over y share 6 loads per step of y (vectorised along y), measured
    15 GFLOP-pairs/s a thread on a 64 x 1000 block against 8 for one dot product at a time."""
    d, n = phiT.shape
    i = 0
    while i + 2 <= d:
        j = i
        while j + 4 <= d:
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
            for y in range(n):
                u = U[i, y]
                v = U[i + 1, y]
                p0, p1, p2, p3 = phiT[j, y], phiT[j + 1, y], phiT[j + 2, y], phiT[j + 3, y]
                a0 += u * p0
                a1 += u * p1
                a2 += u * p2
                a3 += u * p3
                b0 += v * p0
                b1 += v * p1
                b2 += v * p2
                b3 += v * p3
            F[i, j] += a0
            F[i, j + 1] += a1
            F[i, j + 2] += a2
            F[i, j + 3] += a3
            F[i + 1, j] += b0
            F[i + 1, j + 1] += b1
            F[i + 1, j + 2] += b2
            F[i + 1, j + 3] += b3
            j += 4
        while j < d:
            a0 = b0 = 0.0
            for y in range(n):
                a0 += U[i, y] * phiT[j, y]
                b0 += U[i + 1, y] * phiT[j, y]
            F[i, j] += a0
            F[i + 1, j] += b0
            j += 1
        i += 2
    while i < d:
        for j in range(i, d):
            a0 = 0.0
            for y in range(n):
                a0 += U[i, y] * phiT[j, y]
            F[i, j] += a0
        i += 1


@njit(cache=_CACHE, fastmath={"reassoc", "contract"})
def _prompt_pass(phi_x, theta, r_x, Rh_x, lam, logref_x, beta, rho_x, rhoF_x, centred,
                 phiT, U, z, pi, wg, mbar, g_acc, F_acc):
    """One prompt: logits, log-softmax, advantage; adds rho pi A phi to g_acc and the Fisher terms to the
    upper triangle of F_acc. Scratch: phiT, U (d, n), z, pi, wg (n), mbar (d). Returns 1 if non-finite.

    The (n, d) feature block is read from memory once, into its transpose phiT (in cache); every later
    loop runs along y on contiguous rows, so the Fisher entries are dot products over y (vectorised with
    reassociation, two loads per multiply-add) instead of rank-1 updates that load and store F."""
    n, d = phi_x.shape
    h = lam.shape[0]
    for y in range(n):
        for k in range(d):
            phiT[k, y] = phi_x[y, k]
    for y in range(n):
        z[y] = 0.0
    for k in range(d):
        t = theta[k]
        for y in range(n):
            z[y] += t * phiT[k, y]
    m = -np.inf
    for y in range(n):
        m = max(m, z[y])
    s = 0.0
    for y in range(n):
        e = math.exp(z[y] - m)
        pi[y] = e
        s += e
    lse = m + math.log(s)
    inv = 1.0 / s
    V = 0.0
    bad = 0
    for y in range(n):
        lp = z[y] - lse
        p = pi[y] * inv
        pi[y] = p
        S = r_x[y]
        for j in range(h):
            S += lam[j] * Rh_x[j, y]
        q = S - beta * (lp - logref_x[y])
        z[y] = q  # z now holds Q
        V += p * q
        if not math.isfinite(lp):
            bad = 1
    for y in range(n):
        wg[y] = rho_x * pi[y] * (z[y] - V)
    for k in range(d):
        a = 0.0
        b = 0.0
        for y in range(n):
            a += wg[y] * phiT[k, y]
            b += pi[y] * phiT[k, y]
        g_acc[k] += a
        mbar[k] = b
    if centred:  # the score phi - mbar itself: F without the cancellation of E[phi phi^T] - mbar mbar^T
        for k in range(d):
            mk = mbar[k]
            for y in range(n):
                phiT[k, y] -= mk
    for i in range(d):
        for y in range(n):
            U[i, y] = (rhoF_x * pi[y]) * phiT[i, y]
    _fisher_upper(U, phiT, F_acc)
    return bad


@njit(parallel=True, cache=_CACHE)
def loglinear_grad_fisher_kernel(phi, theta, r, R_hard, lam, log_ref, rho, rho_F, beta, centred, n_blocks):
    """grad L and the Fisher matrix of a log-linear class in one pass (see the module docstring).

    Arrays: phi (X, n, d), theta (d,), r (X, n), R_hard (h, X, n), lam (h,), log_ref (X, n), rho (X,) for the
    gradient, rho_F (X,) for the Fisher matrix. Returns (g (d,), F (d, d) symmetric, n_bad_prompts)."""
    X, n, d = phi.shape
    h = lam.shape[0]
    nb = min(n_blocks, X)
    Fp = np.zeros((nb, d, d))
    gp = np.zeros((nb, d))
    badp = np.zeros(nb, dtype=np.int64)
    for b in prange(nb):
        lo = (b * X) // nb
        hi = ((b + 1) * X) // nb
        phiT = np.empty((d, n))
        U = np.empty((d, n))
        z = np.empty(n)
        pi = np.empty(n)
        wg = np.empty(n)
        mbar = np.empty(d)
        Rh_x = np.empty((h, n))
        bad_b = 0
        for x in range(lo, hi):
            for j in range(h):
                for y in range(n):
                    Rh_x[j, y] = R_hard[j, x, y]
            bad_b += _prompt_pass(phi[x], theta, r[x], Rh_x, lam, log_ref[x], beta, rho[x], rho_F[x], centred,
                                 phiT, U, z, pi, wg, mbar, gp[b], Fp[b])
        badp[b] = bad_b
    # fixed-order serial combination (block 0, 1, ...): same bits for any thread count
    F = np.zeros((d, d))
    g = np.zeros(d)
    nbad = 0
    for b in range(nb):
        nbad += badp[b]
        for i in range(d):
            g[i] += gp[b, i]
            for j in range(i, d):
                F[i, j] += Fp[b, i, j]
    for i in range(d):
        for j in range(i + 1, d):
            F[j, i] = F[i, j]
    return g, F, nbad


def _readonly(a) -> np.ndarray:
    """A C-contiguous float64 read-only view: numba types read-only and writable arrays differently, and the
    Problem's arrays are read-only, so passing every input read-only keeps ONE compiled signature."""
    v = np.ascontiguousarray(a, dtype=np.float64).view()
    v.setflags(write=False)
    return v


def loglinear_grad_fisher(problem, policy, theta, lam, *, fisher: str = "centred",
                          n_blocks: int = DEFAULT_N_BLOCKS) -> tuple[np.ndarray, np.ndarray]:
    """``(grad_theta L(pi_theta, lam), F(theta))`` of a LogLinear class by the one-pass kernel.

    Drop-in for ``(lagrangian_gradient(...), policy.fisher(theta, rho|1, centred=...))`` of
    ``kernels/alg3.py``; ValueErrors name the field, the value and the fix."""
    from opdcheck.kernels.policies import LogLinear, as_theta

    if not isinstance(policy, LogLinear):
        raise ValueError(f"backend='numba': policy class {getattr(policy, 'name', policy)!r} is not LogLinear; "
                         "the Numba kernel covers log-linear classes only, use backend='numpy'.")
    if fisher not in _FISHER_CODE:
        raise ValueError(f"fisher: {fisher!r}; choose one of {tuple(_FISHER_CODE)}.")
    if (policy.X, policy.n) != (problem.X, problem.n):
        raise ValueError(f"policy: (X, n) = ({policy.X}, {policy.n}) but the problem has ({problem.X}, {problem.n}).")
    try:
        nb = int(n_blocks)
    except (TypeError, ValueError):
        raise ValueError(f"n_blocks: {n_blocks!r}; pass an integer >= 1.") from None
    if nb < 1:
        raise ValueError(f"n_blocks: {n_blocks!r}; pass an integer >= 1.")
    th = as_theta(theta, policy.d)
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    if lam.shape != (problem.h,) or not np.all(np.isfinite(lam)):
        raise ValueError(f"lam: {lam.tolist()[:6]} (shape {lam.shape}); pass {problem.h} finite multipliers.")
    rho = _readonly(problem.rho)
    rho_F = _readonly(np.ones_like(rho)) if fisher == "unweighted" else rho
    g, F, nbad = loglinear_grad_fisher_kernel(
        _readonly(policy.phi), _readonly(th), _readonly(problem.r), _readonly(problem.R_hard), _readonly(lam),
        _readonly(problem.log_pi_ref), rho, rho_F, float(problem.beta), fisher != "uncentred", nb)
    if nbad:
        raise ValueError(f"theta: logits theta . phi overflow on {int(nbad)} prompt(s) (max|theta| = "
                         f"{float(np.abs(th).max()):.3g}); pass a smaller theta or rescale phi.")
    return g, F
