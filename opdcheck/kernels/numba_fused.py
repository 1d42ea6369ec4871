"""The fused coefficient-space primal-dual pass (OPD, Alg. 2, and simultaneous / sequential PD), Numba.

Public API::

    run_opd_fused(problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
                  closed_form="derived", keep_every=0, stop_below=None, prediction="optimistic",
                  metrics_every=1) -> Trajectory
    primal_coefficients(w, lam, eta_th, beta, closed_form) -> w'   # eq. (4)/(6) on (a, b, c_1..c_h)
    policy_from_coefficients(problem, w, normalise=True) -> log pi  # (X, n), numpy (iterates only)
    PARALLEL_MIN_ENTRIES, ROW_BLOCK

Why it is exact and small
-------------------------
Started at ``pi_hat_0 = pi_ref``, every iterate of the distributional KL-proximal step (eqs. (4)/(6),
derived or printed closed form) is ``log pi[x, y] = a log pi_ref[x, y] + b r[x, y] + sum_j c_j R_j[x, y]
- logZ[x]``; the step acts on the coefficients only (``opdcheck.theory.coefficients`` proves it with
sympy, and ``tests/test_kernels_numba_fused.py`` checks :func:`primal_coefficients` against that sympy map)::

    derived: (a, b, c) <- (eta (a, b, c) + (beta, 1, lam)) / (eta + beta)
    printed: (a, b, c) <- (eta (a, b, c) + (beta, 0, 0)) / (eta + beta) + (0, 1, lam)

So the state is ``h + 2`` numbers per policy, and a step is ONE read-only pass over
``(log pi_ref, r, R_1..R_h)`` (``(h + 2) X n`` doubles) that computes, per prompt, the normaliser and
the constraint row sums of the policy whose constraint values the dual step needs (the prediction
``pi_t`` for OPD, the new iterate for the baselines); nothing of size ``X n`` is written. At a metric
step the same pass also evaluates ``pi_hat_{t+1}`` and the four metric sums (it then also reads
``pi*`` and ``log pi*``). Per row everything stays in L1/L2 (a row of ``h + 2`` tables is
``8 (h + 2) n`` bytes), so the several short loops over a row cost no memory traffic.

exp and the KL metrics without a scalar libm call per entry: ``exp`` is ``kernels.fastexp.exp1``
(branch-free, <= 1 ulp, subnormals included), evaluated once per entry per policy the step needs (one
policy at a step without metrics: OPD's prediction, whose constraint values the dual step (7) needs),
inside ONE vectorised loop per row (:func:`_logits_exp_dots`) that reads ``log pi_ref, r, R_1..R_4``
once and forms the logits, their exp, the row sum and four constraint sums together (h < 4: the last
constraint row again at weight 0; h > 4: the other rows folded into the first input before the loop);
at a step without metrics the same loop keeps nothing in scratch (:func:`_exp_dots`: no stores). The
logits are two independent chains with the shift folded in (:func:`_logit6`), and exp1's
polynomial is an Estrin tree: the loop is latency-bound (each element's dependency chain must fit the
core's out-of-order window), so shorter chains are what made it faster (7-9% per step, 2026-12-05). The
shift of the exp is the row's normaliser from the previous pass, so the common step needs no max pass
(a row whose sum leaves [e^-LOG_S_MAX, e^LOG_S_MAX] is redone at its max logit). Each KL term
``p (d + expm1(-d))`` of the two KLs that go to 0 with the run (``KL(pi* || pi_hat_{t+1})`` and
``KL(pi_hat_{t+1} || pi_t)``) is, as in the reference's accurate form (``kernels.trajectory.kl_rows_log``),
its Taylor series for ``|d| <= 1`` (evaluated by Estrin's scheme, :func:`_series`: a Horner chain of 17
dependent FMAs was latency-bound) and ``p d + q - p`` beyond (equal, since ``expm1(-d) = q/p - 1``, and
free of cancellation there), with ``p`` and ``q`` both already known (computed rows, ``pi*``): no exp
at all for the KL metrics (simultaneous PD evaluates ``pi_hat_t`` once more). ``KL(pi_hat_{t+1} ||
pi_ref)``, which only enters the duality gap, has no per-entry term: ``log pi_hat_{t+1} - log pi_ref``
is linear in the tables, so it is ``(a - 1) <pi, log pi_ref> + b <pi, r> + sum_j c_j <pi, R_j> - logZ``
from two dot products and the constraint sums (:func:`_kl_ref_from_logits`). The two KLs,
``<pi_hat_{t+1}, log pi_ref>`` and ``<pi_hat_{t+1}, r>`` of a row are ONE loop (:func:`_metric_sums`)
over the exp values and logits the step already holds in L1, scaled by the row's normalisers on the
fly (nothing is normalised in place or recomputed).

Determinism and threads: rows are processed in blocks of ``ROW_BLOCK`` by ``prange`` (when
``X n >= PARALLEL_MIN_ENTRIES``); each row writes its own results (no accumulation across rows in
the parallel region), and the sums over prompts are serial in x = 0..X-1. So the bits are the same
run to run AND for any thread count (``NUMBA_NUM_THREADS`` / ``numba.set_num_threads`` change only
who computes which block); ``tests/test_kernels_numba_fused.py`` checks 1 vs 2 threads and serial vs parallel.

Measured (``benchmarks/bench_opd_step.py``, 2-core shared AMD EPYC box, 2026-12-05 12:28 UTC, quiet): at
(X, n, h) = (1e4, 1e3, 4) a step without metrics takes 26.3 ms with 1 thread, 1.69x the read floor measured in the
same run (the read of the instance's own tables), 87x faster than the numpy reference and 21x faster than a
``jax.jit`` of the same step; a step with all metrics 86 ms. The step is compute-bound with 1 thread: its row loop
alone, over one row kept in cache, takes 1.41x the floor. ``benchmarks/bench_c_reference.py`` runs the same row
loop written with AVX2 intrinsics and built by gcc: the same bits, 14-16 % faster (LLVM's code for this loop is the
difference; clang builds the C file no faster than Numba), and still 1.30-1.42x the floor by itself.

Metrics: only at ``t = 0, metrics_every, 2 metrics_every, ...`` and at the last step; the trajectory's
metric arrays then hold those steps only and ``extra["metric_t"]`` says which (with
``metrics_every=1`` they are indexed by t like the numpy reference's). ``stop_below`` is tested at
metric steps. Non-finite state (a coefficient, a multiplier or a normaliser) stops the run before the
step is committed, like the reference; non-finite metrics of a finite state are seen at metric steps
only (with ``metrics_every > 1`` the run may therefore go on a few steps longer than the reference's
before it is flagged ``diverged``; the non-finite metric row is never recorded).
"""
from __future__ import annotations

import math
import time

import numpy as np
from numba import prange

from opdcheck.kernels.numba_cache import CACHE as _CACHE
from opdcheck.kernels.numba_cache import njit
from opdcheck.kernels.fastexp import exp1
from opdcheck.kernels.numba_opd import _reduce  # the one fixed-order reduction over prompts
from opdcheck.kernels.opd import require_scalar_steps, T0_CONVENTION, validate_run
from opdcheck.kernels.potential import potential as _potential
from opdcheck.kernels.potential import thm34_constants
from opdcheck.kernels.rules import dual_step_size
from opdcheck.kernels.trajectory import Trajectory, kl_rows_log
from opdcheck.logspace import log_softmax_rows
from opdcheck.problem import Problem

__all__ = ["run_opd_fused", "primal_coefficients", "policy_from_coefficients", "PARALLEL_MIN_ENTRIES",
           "ROW_BLOCK", "NO_STORE_MIN_N"]

#: rows per prange task (scratch is allocated once per block); any value gives the same bits
ROW_BLOCK = 32
#: X n from which the pass runs on all threads (below, waking the pool each step costs more than it saves)
PARALLEL_MIN_ENTRIES = 50_000
#: rows shorter than this always go through the storing row loop: LLVM vectorises the loop without stores
#: from 4 entries but the storing one (with its runtime alias checks) only from 8, and a vectorised sum is
#: rounded in another order than a scalar one; so for n < 8 a step without metrics would not give the bits
#: of the same step with metrics (measured here: n = 4..7 differ, every n from 8 to 5000 agrees; tested).
#: 64 leaves room for a machine with wider vectors.
NO_STORE_MIN_N = 64

_METHOD = {"optimistic": "opd", "none": "simultaneous-pd", "alternating": "sequential-pd"}
# what the metric kl_hat_pred compares pi_hat_{t+1} with: the prediction pi_t evaluated in the same pass
# (OPD), the previous iterate (simultaneous PD: pi_t = pi_hat_t), nothing (sequential: pi_t = pi_hat_{t+1})
_TARGET_NONE, _TARGET_P, _TARGET_Q = 0, 1, 2


# ------------------------------------------------------------------------------ coefficient map
def primal_coefficients(w: np.ndarray, lam: np.ndarray, eta_th: float, beta: float,
                        closed_form: str = "derived") -> np.ndarray:
    """Eqs. (4)/(6) on the coefficients ``w = (a, b, c_1..c_h)`` of ``log pi = a log pi_ref + b r +
    sum_j c_j R_j - logZ`` (proof: ``opdcheck.theory.coefficients.prove_coefficient_recursion``)."""
    h = lam.shape[0]
    d = eta_th + beta
    out = np.empty(h + 2)
    if closed_form == "derived":
        out[0] = (eta_th * w[0] + beta) / d
        out[1] = (eta_th * w[1] + 1.0) / d
        out[2:] = (eta_th * w[2:] + lam) / d
    elif closed_form == "printed":
        out[0] = (eta_th * w[0] + beta) / d
        out[1] = eta_th * w[1] / d + 1.0
        out[2:] = eta_th * w[2:] / d + lam
    else:
        raise ValueError(f"closed_form: {closed_form!r}; choose 'derived' or 'printed'.")
    return out


def initial_coefficients(h: int) -> np.ndarray:
    """``pi_hat_0 = pi_ref``: ``(a, b, c) = (1, 0, 0)``, ``logZ = 0`` (Algorithm 2's input, unrenormalised)."""
    w = np.zeros(h + 2)
    w[0] = 1.0
    return w


def policy_from_coefficients(problem: Problem, w: np.ndarray, normalise: bool = True) -> np.ndarray:
    """``log pi`` (X, n) of coefficients ``w`` (numpy; for iterates and the final state only)."""
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run's coefficients may overflow here
        u = w[0] * problem.log_pi_ref + w[1] * problem.r + np.tensordot(w[2:], problem.R_hard, axes=(0, 0))
        return log_softmax_rows(u) if normalise else u


# ------------------------------------------------------------------------------ jitted row pass
# the Taylor coefficients of d + expm1(-d) (one source: numba_opd.py, where they are explained)
from opdcheck.kernels.numba_opd import (_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11,  # noqa: E402
                                        _C12, _C13, _C14, _C15, _C16, _C17, _SERIES_MAX)


@njit(cache=_CACHE, fastmath={"reassoc", "contract"})
def _dot(a, b):
    acc = 0.0
    for y in range(a.shape[0]):
        acc += a[y] * b[y]
    return acc


@njit(cache=_CACHE)
def _max(a):
    m = -np.inf
    for y in range(a.shape[0]):
        m = max(m, a[y])
    return m


@njit(cache=_CACHE, fastmath={"contract"})
def _series(dy, d2):
    """sum_k C_k dy^k (k = 0..17; ``d2 = dy * dy``) by Estrin's scheme: the same terms as Horner's, in a
    tree of depth 5 instead of a chain of 17 dependent FMAs. The chain was the metric step's bottleneck
    (latency-bound at ~1 FMA per cycle); the tree keeps the FMA units busy. For |dy| <= 1 the terms
    decrease (|C_k| = 1/(k+2)!) and sum_k |C_k| <= e - 2 < 2 f(dy)/dy^2, so every partial sum is as well
    conditioned as Horner's and the result is within a few ulp of it."""
    p0 = _C0 + _C1 * dy
    p1 = _C2 + _C3 * dy
    p2 = _C4 + _C5 * dy
    p3 = _C6 + _C7 * dy
    p4 = _C8 + _C9 * dy
    p5 = _C10 + _C11 * dy
    p6 = _C12 + _C13 * dy
    p7 = _C14 + _C15 * dy
    p8 = _C16 + _C17 * dy
    d4 = d2 * d2
    q0 = p0 + p1 * d2
    q1 = p2 + p3 * d2
    q2 = p4 + p5 * d2
    q3 = p6 + p7 * d2
    d8 = d4 * d4
    s0 = q0 + q1 * d4
    s1 = q2 + q3 * d4
    return (s0 + s1 * d8) + p8 * (d8 * d8)


@njit(cache=_CACHE, fastmath={"contract"})
def _kl1(p, log_p, q, log_q):
    """One term of KL(p || q), as ``kernels.trajectory.kl_rows_log``, without exp: ``p d^2 sum_k C_k d^k``
    (the Taylor series of ``p (d + expm1(-d))``, ``d = log p - log q``, by :func:`_series`) for ``|d| <= 1``;
    ``p d + q - p`` (= ``p (d + expm1(-d))`` since ``expm1(-d) = q/p - 1``) beyond, where it has no
    cancellation (``|expm1(-d)| >= 0.63``); ``q`` where ``p = 0``. Branch-free (selects), so a loop over
    it vectorises."""
    dy = log_p - log_q
    d2 = dy * dy
    f = _series(dy, d2)
    pos = p > 0.0
    near = p * (d2 * f)
    far = p * dy + q - p
    return (near if abs(dy) <= _SERIES_MAX else far) if pos else q


@njit(cache=_CACHE, fastmath={"reassoc", "contract"})
def _metric_sums(eN, uN, sN, zN, ps, lps, eT, uT, sT, zT, Lx, rx):
    """The metric sums of one row in ONE loop over what the step already holds in L1: with
    N = eN sN, log N = uN - zN (the step's exp values and normaliser, not recomputed) and the target
    T = eT sT, log T = uT - zT: (KL(pi* || N), KL(N || T), <N, log pi_ref>, <N, r>). The two KLs that
    go to 0 with the run are :func:`_kl1` (the accurate form, no exp); KL(N || pi_ref) needs no term of
    its own (:func:`_kl_ref_from_logits` forms it from <N, log pi_ref>, <N, r> and the constraint sums).
    Sums in the vectorised order (fixed at compile time: the same bits for any thread count). Pass
    T = N for no target (its KL is then 0)."""
    k_star = 0.0
    k_t = 0.0
    a_l = 0.0
    a_r = 0.0
    for y in range(eN.shape[0]):
        pN = eN[y] * sN
        lN = uN[y] - zN
        k_star += _kl1(ps[y], lps[y], pN, lN)
        k_t += _kl1(pN, lN, eT[y] * sT, uT[y] - zT)
        a_l += pN * Lx[y]
        a_r += pN * rx[y]
    return k_star, k_t, a_l, a_r


@njit(cache=_CACHE)
def _kl_ref_from_logits(w, a_l, a_r, c_rows, zN):
    """KL(N || pi_ref) of one row from its logits: log N - log pi_ref = (a - 1) log pi_ref + b r +
    sum_j c_j R_j - logZ, so KL = (a - 1) <N, log pi_ref> + b <N, r> + sum_j c_j <N, R_j> - logZ (the
    <N, R_j> are the row's constraint sums, already computed). It only enters the duality gap, which
    is a difference of O(1) terms: the absolute rounding here (~1e-16 times those row sums) is of the
    gap's own size, and the agreement with the reference is tested (``tests/test_kernels_numba_fused.py``).
    At pi_hat_0 = pi_ref, (a, b, c, logZ) = (1, 0, 0, 0) gives exactly 0."""
    k = (w[0] - 1.0) * a_l + w[1] * a_r
    for j in range(c_rows.shape[0]):
        k += w[2 + j] * c_rows[j]
    return k - zN


#: the shift m of exp(u - m) may be any value with the row sum S = sum exp(u - m) in [e^-LOG_S_MAX,
#: e^LOG_S_MAX]: then no term overflows (exp(u - m) <= S) and the largest, >= S/n, is far above the
#: subnormal range. The kernel first tries the row's normaliser from the previous pass (the policies
#: move little per step), which saves the max pass over the row, and falls back to the row max.
LOG_S_MAX = 575.0


@njit(cache=_CACHE, fastmath={"contract"})
def _logit6(k0, a0, k1, a1, k2, a2, k3, a3, k4, a4, k5, a5, m):
    """The shifted logit ``k0 a0 + ... + k5 a5 - m`` as two independent chains of three (the shift folded into
    the first) and one addition: a chain of 6 dependent FMAs plus a subtraction was half of the row loop's
    latency (7 operations either way; a tree of three pairs has 8 and measured 1-2 % slower). Contract only:
    the same bits wherever it is inlined."""
    return (k0 * a0 + (k1 * a1 + (k2 * a2 - m))) + (k3 * a3 + (k4 * a4 + k5 * a5))


@njit(cache=_CACHE, fastmath={"reassoc", "contract"})
def _logits_exp_dots(A0, A1, A2, A3, A4, A5, k0, k1, k2, k3, k4, k5, m, u, e):
    """ONE loop over a row: u <- k0 A0 + ... + k5 A5 - m (the logits, shifted by m), e <- exp(u), and the
    sums (sum e, sum e A2, ..., sum e A5) (the constraint rows ride in A2..A5). Each input is read once from
    memory; u and e go to L1 scratch for the metrics (:func:`_exp_dots` is the same loop without them).
    Sums in the vectorised order (fixed at compile time, so the same bits for any thread count); exp1 and
    _logit6 keep their own flags."""
    S = 0.0
    d2 = 0.0
    d3 = 0.0
    d4 = 0.0
    d5 = 0.0
    for y in range(u.shape[0]):
        v = _logit6(k0, A0[y], k1, A1[y], k2, A2[y], k3, A3[y], k4, A4[y], k5, A5[y], m)
        u[y] = v
        ev = exp1(v)
        e[y] = ev
        S += ev
        d2 += ev * A2[y]
        d3 += ev * A3[y]
        d4 += ev * A4[y]
        d5 += ev * A5[y]
    return S, d2, d3, d4, d5


@njit(cache=_CACHE, fastmath={"reassoc", "contract"})
def _exp_dots(A0, A1, A2, A3, A4, A5, k0, k1, k2, k3, k4, k5, m):
    """:func:`_logits_exp_dots` without its two stores, for the steps without metrics (the dual step needs
    only the sums): the same arithmetic, so the same bits once both loops are vectorised (rows of at least
    NO_STORE_MIN_N entries; shorter rows always take the storing loop)."""
    S = 0.0
    d2 = 0.0
    d3 = 0.0
    d4 = 0.0
    d5 = 0.0
    for y in range(A0.shape[0]):
        ev = exp1(_logit6(k0, A0[y], k1, A1[y], k2, A2[y], k3, A3[y], k4, A4[y], k5, A5[y], m))
        S += ev
        d2 += ev * A2[y]
        d3 += ev * A3[y]
        d4 += ev * A4[y]
        d5 += ev * A5[y]
    return S, d2, d3, d4, d5


@njit(cache=_CACHE)
def _row_sums(A0, k0, w, rx, R, x, m, u, e, store):
    """(S, sum e R_0, ..., sum e R_3) of one row at shift m, the first input ``k0 A0`` (``w[0] log pi_ref``,
    or the fold of :func:`_fold_rows`); u, e written iff ``store``. With h < 4 the missing constraint rows
    are the last one again at weight 0 (exact: ``0 R = 0``; no memory traffic, the row is in L1; no branch
    per row on h: a version with a zero row and selects per row was 4% slower)."""
    h = R.shape[0]
    R1 = R[min(1, h - 1), x]
    R2 = R[min(2, h - 1), x]
    R3 = R[min(3, h - 1), x]
    c1 = w[3] if h > 1 else 0.0
    c2 = w[4] if h > 2 else 0.0
    c3 = w[5] if h > 3 else 0.0
    if store:
        return _logits_exp_dots(A0, rx, R[0, x], R1, R2, R3, k0, w[1], w[2], c1, c2, c3, m, u, e)
    return _exp_dots(A0, rx, R[0, x], R1, R2, R3, k0, w[1], w[2], c1, c2, c3, m)


@njit(cache=_CACHE)
def _fold_rows(w, Lx, R, x, V):
    """h > 4: V <- a log pi_ref + sum_{j >= 4} c_j R_j (the inputs beyond the loop's six, folded into its first)."""
    for y in range(V.shape[0]):
        V[y] = w[0] * Lx[y]
    for j in range(4, R.shape[0]):
        cj = w[2 + j]
        Rj = R[j, x]
        for y in range(V.shape[0]):
            V[y] += cj * Rj[y]


@njit(cache=_CACHE)
def _any_row_sums(w, Lx, rx, R, x, m, u, e, V, store):
    """:func:`_row_sums` for any h (the rows j >= 4 folded first)."""
    if R.shape[0] > 4:
        _fold_rows(w, Lx, R, x, V)
        return _row_sums(V, 1.0, w, rx, R, x, m, u, e, store)
    return _row_sums(Lx, w[0], w, rx, R, x, m, u, e, store)


@njit(cache=_CACHE, fastmath={"reassoc", "contract"})
def _shift_exp_sum(u, m, e):
    """u <- u - m, e <- exp(u) and sum_y e (the fallback's exp at the row max, in place)."""
    S = 0.0
    for y in range(u.shape[0]):
        v = u[y] - m
        u[y] = v
        ev = exp1(v)
        e[y] = ev
        S += ev
    return S


@njit(cache=_CACHE)
def _policy_row(w, Lx, rx, R, x, shift, u, e, c, V, store):
    """One row of the policy with coefficients w: c[j] <- sum_y e R_j[x] with e = exp(logits - m)
    (unnormalised); returns (m, S), S = sum e; with ``store``, u <- logits - m and e are kept for the
    metrics. m = ``shift`` when that keeps S in [e^-LOG_S_MAX, e^LOG_S_MAX] (the common case: one pass),
    else the row max of the logits, subtracted from the stored logits (so the largest term is exactly
    exp(0) = 1 however large the logits are)."""
    h = R.shape[0]
    # the storing loop also when the sums j >= 4 are taken from the stored e, and for short rows (see
    # NO_STORE_MIN_N: there the two loops' sums may be rounded in different orders)
    store = store or h > 4 or Lx.shape[0] < NO_STORE_MIN_N
    m = shift if math.isfinite(shift) else 0.0
    S, c[0], d1, d2, d3 = _any_row_sums(w, Lx, rx, R, x, m, u, e, V, store)
    if not (math.isfinite(shift) and S > 0.0 and abs(math.log(S)) <= LOG_S_MAX):
        _any_row_sums(w, Lx, rx, R, x, 0.0, u, e, V, True)  # u <- the logits themselves
        m = _max(u)
        S = _shift_exp_sum(u, m, e)
        for j in range(h):
            c[j] = _dot(e, R[j, x])
        if not (S > 0.0 and math.isfinite(S)):
            S = math.nan  # non-finite logits (a diverging run): a NaN normaliser, which the driver flags
        return m, S
    if h > 1:
        c[1] = d1
    if h > 2:
        c[2] = d2
    if h > 3:
        c[3] = d3
    for j in range(4, h):
        c[j] = _dot(e, R[j, x])
    return m, S


@njit(cache=_CACHE)
def _rows(x0, x1, L, r, R, wP, needP, wN, needN, zN_zero, metrics, target, wQ, zQ, pi_s, log_pi_s, out):
    """Rows x0..x1-1 of one pass. ``out[x]`` (read: the previous normalisers, as exp shifts) = (logZ_P, logZ_N, c_P row (h), c_N row (h), KL(pi*||N),
    KL(N||target), KL(N||pi_ref), <N, r>); c rows unweighted by rho (the serial reduction weights them).
    zN_zero: N is pi_hat_0 = pi_ref, kept unrenormalised (logZ = 0) as Algorithm 2's input."""
    n = L.shape[1]
    h = R.shape[0]
    uP = np.empty(n)
    eP = np.empty(n)
    uN = np.empty(n)
    eN = np.empty(n)
    uQ = np.empty(n)
    cr = np.empty(h)
    V = np.empty(n)
    eQ = np.empty(n)
    lSP_row = 0.0
    invP_row = 1.0
    for x in range(x0, x1):
        Lx = L[x]
        rx = r[x]
        o = out[x]
        if needP:
            m, S = _policy_row(wP, Lx, rx, R, x, o[0], uP, eP, cr, V, metrics)
            lS = math.log(S)
            o[0] = m + lS
            inv = 1.0 / S
            lSP_row = lS  # kept for the metrics: log pi_P = uP - log S_P (uP is shifted by m), pi_P = eP / S_P
            invP_row = inv
            for j in range(h):
                o[2 + j] = cr[j] * inv
        if needN:
            # exp shift: the prediction's normaliser of this pass when there is one (OPD: N is evaluated at
            # metric steps only, so its own last normaliser would depend on metrics_every, and with it the
            # last bits of the metrics), else N's normaliser of the previous pass (every pass has N)
            m, S = _policy_row(wN, Lx, rx, R, x, o[0] if needP else o[1], uN, eN, cr, V, metrics)
            zN = 0.0 if zN_zero else m + math.log(S)
            o[1] = zN
            # 1/S directly (exp(m - zN) loses ulp(m) when the logits are large: zN = m + log S is rounded at
            # the scale of m, 1e-4 relative at logits of 1e12), or exp(m) for the unrenormalised pi_ref
            scale = math.exp(m) if zN_zero else 1.0 / S
            for j in range(h):
                o[2 + h + j] = cr[j] * scale
            if metrics:
                # log N = uN - (zN - m): uN holds the logits shifted by m
                lzN = math.log(S) if not zN_zero else -m
                # the target of kl_hat_pred: P (this pass), Q (pi_hat_t, evaluated again: its logits, then
                # minus its normaliser from the previous pass, so log Q = uQ and Q = eQ), or N itself (0)
                eT, uT, sT, zT = eN, uN, scale, lzN
                if target == _TARGET_P:
                    eT, uT, sT, zT = eP, uP, invP_row, lSP_row
                elif target == _TARGET_Q:
                    _any_row_sums(wQ, Lx, rx, R, x, 0.0, uQ, eQ, V, True)
                    _shift_exp_sum(uQ, zQ[x], eQ)
                    eT, uT, sT, zT = eQ, uQ, 1.0, 0.0
                ks, kt, al, ar = _metric_sums(eN, uN, scale, lzN, pi_s[x], log_pi_s[x], eT, uT, sT, zT, Lx, rx)
                o[2 + 2 * h] = ks
                o[3 + 2 * h] = kt if target != _TARGET_NONE else 0.0
                o[4 + 2 * h] = _kl_ref_from_logits(wN, al, ar, o[2 + h: 2 + 2 * h], zN)
                o[5 + 2 * h] = ar


@njit(parallel=True, cache=_CACHE)
def _pass_parallel(L, r, R, wP, needP, wN, needN, zN_zero, metrics, target, wQ, zQ, pi_s, log_pi_s, out):
    X = L.shape[0]
    nb = (X + ROW_BLOCK - 1) // ROW_BLOCK
    for b in prange(nb):
        x0 = np.int64(b) * ROW_BLOCK
        _rows(x0, min(x0 + ROW_BLOCK, X), L, r, R, wP, needP, wN, needN, zN_zero, metrics, target, wQ, zQ,
              pi_s, log_pi_s, out)


@njit(cache=_CACHE)
def _pass_serial(L, r, R, wP, needP, wN, needN, zN_zero, metrics, target, wQ, zQ, pi_s, log_pi_s, out):
    _rows(np.int64(0), np.int64(L.shape[0]), L, r, R, wP, needP, wN, needN, zN_zero, metrics, target, wQ, zQ,
          pi_s, log_pi_s, out)


# ------------------------------------------------------------------------------ driver
def _readonly(a) -> np.ndarray:
    v = np.ascontiguousarray(a, dtype=np.float64).view()
    v.flags.writeable = False
    return v


def _dual(lam_hat: np.ndarray, c: np.ndarray, s: float) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.maximum(lam_hat - s * c, 0.0)


def run_opd_fused(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox",
                  lam_init=None, saddle=None, closed_form: str = "derived", keep_every: int = 0,
                  stop_below: float | None = None, prediction: str = "optimistic",
                  metrics_every: int = 1, parallel: bool | None = None) -> Trajectory:
    """Algorithm 2 (``prediction="optimistic"``) or simultaneous / sequential PD (``"none"`` /
    ``"alternating"``), eqs. (4)-(7), as one fused read-only pass per step in coefficient space.

    Same inputs, validation (``kernels.opd.validate_run``) and Trajectory metrics as
    :func:`opdcheck.kernels.opd.run_primal_dual`; metrics only every ``metrics_every`` steps (and at
    the last). ``parallel``: None chooses by size (``PARALLEL_MIN_ENTRIES``); the bits do not depend on it.
    """
    require_scalar_steps(eta_th, eta_lam, "run_opd_fused")
    eta_th, eta_lam, T, pi_s, lam_s, lam0 = validate_run(
        problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, lam_init=lam_init, saddle=saddle,
        closed_form=closed_form, stop_below=stop_below, prediction=prediction, who="run_opd_fused")
    if not isinstance(keep_every, (int, np.integer)) or keep_every < 0:
        raise ValueError(f"keep_every: {keep_every!r}; pass an integer >= 0 (0 keeps only the last iterate).")
    if not isinstance(metrics_every, (int, np.integer)) or metrics_every < 1:
        raise ValueError(f"metrics_every: {metrics_every!r}; pass an integer >= 1 (1: metrics at every step).")
    X, n, h = problem.X, problem.n, problem.h
    beta = float(problem.beta)
    with np.errstate(divide="ignore"):
        log_pi_s = np.log(pi_s)
    pi_s, log_pi_s, rho, L, r, R, pi_ref = (_readonly(a) for a in (pi_s, log_pi_s, problem.rho, problem.log_pi_ref,
                                                                     problem.r, problem.R_hard, problem.pi_ref))
    kl_s_ref = float(rho @ kl_rows_log(pi_s, log_pi_s, L))
    r_s = float(np.einsum("x,xn,xn->", rho, pi_s, r))
    c_s = problem.constraint_values(pi_s)
    s_dual = dual_step_size(eta_lam, dual_step)
    if parallel is None:
        parallel = X >= 2 and X * n >= PARALLEL_MIN_ENTRIES
    run_pass = _pass_parallel if parallel else _pass_serial
    out = np.zeros((X, 2 * h + 6))
    red = np.zeros(2 * h + 6)
    zQ = np.zeros(X)  # per-row normaliser of pi_hat_t (simultaneous PD's kl_hat_pred target)

    def P(w, lam):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught by the finiteness checks
            return primal_coefficients(w, lam, eta_th, beta, closed_form)

    def do_pass(wP, needP, wN, needN, zN_zero, metrics, target, wQ):
        run_pass(L, r, R, wP, needP, wN, needN, zN_zero, metrics, target, wQ, zQ, pi_s, log_pi_s, out)
        _reduce(rho, out, red)
        bad = (needP and not np.all(np.isfinite(out[:, 0]))) or (needN and not np.all(np.isfinite(out[:, 1])))
        return red, bad

    mt: list[int] = []
    rows: list[list[float]] = []
    cons: list[np.ndarray] = []

    def record(t, lam_hat, lam_pred, c_hat, res):
        """Append the metrics of step t; returns the error, or NaN when any recorded value is not finite
        (the caller then drops the row: a non-finite metric is never recorded)."""
        kl_star, kl_pred, kl_ref, a_r = (float(v) for v in res[2 + 2 * h: 6 + 2 * h])
        e2 = float(np.sum((lam_s - lam_hat) ** 2))
        d2 = float(np.sum((lam_hat - lam_pred) ** 2))
        gap = (r_s + float(lam_hat @ c_s) - beta * kl_s_ref) - (a_r + float(lam_s @ c_hat) - beta * kl_ref)
        mt.append(t)
        rows.append([kl_star, e2, kl_pred, d2, gap])
        cons.append(c_hat.copy())
        finite = all(math.isfinite(v) for v in rows[-1]) and bool(np.all(np.isfinite(c_hat)))
        return kl_star + e2 if finite else math.nan

    iterates: list = []

    def keep(t, w, lam, normalise=True):
        if keep_every and t % keep_every == 0:
            iterates.append((t, np.exp(policy_from_coefficients(problem, w, normalise)), lam.copy()))

    # t = 0: pi_hat_0 = pi_ref (logZ = 0), lam_hat_0 = lam_init; previous predictions = the state
    w_hat = initial_coefficients(h)
    lam_hat = lam0.copy()
    res, _ = do_pass(w_hat, False, w_hat, True, True, True, _TARGET_NONE, w_hat)
    c_hat = res[2 + h: 2 + 2 * h].copy()
    err0 = record(0, lam_hat, lam_hat, c_hat, res)
    keep(0, w_hat, lam_hat, normalise=False)
    threshold = None if stop_below is None else float(stop_below) * err0
    zQ[:] = out[:, 1]
    w_prev, lam_prev, c_prev = w_hat, lam_hat, c_hat
    unit = True  # w_hat is still pi_hat_0 (logZ = 0 unrenormalised)
    w_hat_old, unit_old = w_hat, unit

    done = 0
    diverged, first_bad, reason = False, None, "T reached"
    t_loop = time.perf_counter()
    for t in range(T):
        metric = (t + 1) % metrics_every == 0 or t + 1 == T
        if prediction == "optimistic":
            wP = P(w_hat, lam_prev)                # eq. (4): pi_t = P(pi_hat_t, lam_{t-1})
            lam_t = _dual(lam_hat, c_prev, s_dual)  # eq. (5): lam_t = D(lam_hat_t, c(pi_{t-1}))
            w_new = P(w_hat, lam_t)                # eq. (6)
            res, bad = do_pass(wP, True, w_new, metric, False, metric, _TARGET_P, w_hat)
            c_pred = res[2: 2 + h].copy()
            c_new = res[2 + h: 2 + 2 * h].copy() if metric else None
        elif prediction == "none":
            wP, lam_t, c_pred = w_hat, lam_hat, c_hat
            w_new = P(w_hat, lam_hat)
            res, bad = do_pass(w_new, False, w_new, True, False, metric, _TARGET_Q, w_hat)
            c_new = res[2 + h: 2 + 2 * h].copy()
        else:  # alternating: pi_t = P(pi_hat_t, lam_hat_t) = pi_hat_{t+1}, lam_t = lam_hat_t
            w_new = P(w_hat, lam_hat)
            wP, lam_t = w_new, lam_hat
            res, bad = do_pass(w_new, False, w_new, True, False, metric, _TARGET_NONE, w_hat)
            c_new = res[2 + h: 2 + 2 * h].copy()
            c_pred = c_new
        lam_new = _dual(lam_hat, c_pred, s_dual)  # eq. (7)
        if bad or not (np.all(np.isfinite(w_new)) and np.all(np.isfinite(lam_new)) and np.all(np.isfinite(wP))):
            diverged, first_bad, reason = True, t + 1, "non-finite"
            break
        if metric:
            n_before = len(mt)
            e = record(t + 1, lam_new, lam_t, c_new, res)
            if not math.isfinite(e):
                del mt[n_before:], rows[n_before:], cons[n_before:]
                diverged, first_bad, reason = True, t + 1, "non-finite"
                break
        if prediction == "none":
            zQ[:] = out[:, 1]
        w_hat_old, unit_old = w_hat, unit
        unit = False
        w_prev, lam_prev, c_prev = wP, lam_t, c_pred
        w_hat, lam_hat = w_new, lam_new
        if c_new is not None:
            c_hat = c_new
        done = t + 1
        keep(done, w_hat, lam_hat)
        if metric and threshold is not None and e <= threshold:
            reason = "error below stop threshold"
            break

    t_loop = time.perf_counter() - t_loop
    if not mt or mt[-1] != done:  # stopped (non-finite next step) between metric steps: metrics of `done`
        if prediction == "optimistic":
            res, _ = do_pass(w_prev, True, w_hat, True, unit, True, _TARGET_P, w_hat)
        elif prediction == "none":
            # KL(pi_hat_t || pi_hat_{t-1}): first the normaliser of pi_hat_{t-1}, then the metrics
            do_pass(w_hat_old, False, w_hat_old, True, unit_old, False, _TARGET_NONE, w_hat)
            zQ[:] = out[:, 1]
            res, _ = do_pass(w_hat, False, w_hat, True, unit, True, _TARGET_Q, w_hat_old)
        else:
            res, _ = do_pass(w_hat, False, w_hat, True, unit, True, _TARGET_NONE, w_hat)
        e = record(done, lam_hat, lam_prev, res[2 + h: 2 + 2 * h].copy(), res)
        if not math.isfinite(e):
            # the state was finite but its metrics are not: with metrics_every > 1 this is seen only now.
            # The row is dropped (metrics stay finite) and the run is flagged, never silently kept.
            del mt[-1], rows[-1], cons[-1]
            diverged, reason = True, "non-finite"
            first_bad = done if first_bad is None else min(first_bad, done)

    m_arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    metrics = {"kl_star": m_arr[:, 0].copy(), "lam_err2": m_arr[:, 1].copy(), "kl_hat_pred": m_arr[:, 2].copy(),
               "lam_hat_pred2": m_arr[:, 3].copy(), "gap": m_arr[:, 4].copy(),
               "constraint": np.array(cons, dtype=np.float64).reshape(-1, h)}
    metrics["error"] = metrics["kl_star"] + metrics["lam_err2"]
    consts = thm34_constants(problem, eta_th, eta_lam) if problem.R_max > 0 else None
    metrics["potential"] = _potential(metrics, consts) if consts else np.full(len(mt), np.nan)
    log_hat = policy_from_coefficients(problem, w_hat, normalise=not unit)
    iterates = [it for it in iterates if it[0] <= done]
    if not iterates or iterates[-1][0] != done:
        iterates.append((done, np.exp(log_hat), lam_hat.copy()))
    config = {"method": _METHOD[prediction], "prediction": prediction, "eta_th": eta_th, "eta_lam": eta_lam,
              "primal_step": 1.0 / (eta_th + beta), "dual_step": dual_step, "dual_step_size": s_dual,
              "closed_form": closed_form, "T": T, "lam_init": lam0.tolist(), "t0_convention": T0_CONVENTION,
              "stop_below": stop_below, "beta": beta, "problem": problem.name, "backend": "numba-fused",
              "numba_row_pass": "parallel" if parallel else "serial", "metrics_every": int(metrics_every),
              "potential_constants": "Thm 3.4 proof, C1 = C2 = C = sqrt(h) R_max, delta = theta = 3/4",
              "primal": "mirror"}
    return Trajectory(method=_METHOD[prediction], config=config, metrics=metrics, iterates=iterates,
                      n_steps=done, diverged=diverged, first_nonfinite=first_bad, stop_reason=reason,
                      final_log_pi_hat=log_hat, final_lam_hat=lam_hat.copy(),
                      extra={"pi_star": pi_s, "lam_star": lam_s, "metric_t": np.array(mt, dtype=np.int64),
                             "coefficients": w_hat.copy(),
                             # wall time of the T-step loop (benchmarks only; never evidence)
                             "loop_seconds": t_loop})
