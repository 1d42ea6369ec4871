"""Numba-JIT kernel of the primal-dual driver (OPD, Alg. 2, and its two baselines) in distribution space.

It computes what :func:`opdcheck.kernels.opd.run_primal_dual` computes (same formulas, fused loops)
and returns the same :class:`~opdcheck.kernels.trajectory.Trajectory` metrics;
``tests/test_kernels_opd.py`` checks agreement to ``NUMBA_AGREEMENT_RTOL`` on several instances and
prediction modes, bit-for-bit determinism (run to run, serial vs parallel row pass, 1 vs 2 threads)
and that a second call with the same dtypes does not compile again.

Public API::

    run_opd_numba(problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
                  closed_form="derived", stop_below=None, prediction="optimistic") -> Trajectory
    opd_kernel(...)          # the jitted T-step driver (arrays in, metrics written in place)
    PARALLEL_MIN_ENTRIES     # X n from which the row pass runs on all threads (default 50_000)

Parallelism is the default for large problems (``X n >= PARALLEL_MIN_ENTRIES``): it is deterministic
by construction (below), so it costs nothing in reproducibility; the thread count is numba's
(``NUMBA_NUM_THREADS``, ``numba.set_num_threads``). Small problems run the same row pass on one
thread (waking the thread pool every step would dominate). ``config["numba_row_pass"]`` says which.

Layout of one step (why it is fast and deterministic)
------------------------------------------------------
Every quantity of a step is a per-prompt computation followed by a sum over prompts: the two
primal mirror steps (4)/(6) (both multipliers ``lam_{t-1}`` and ``lam_t = D(lam_hat_t, c(pi_{t-1}))``
are known at the start of the step), the constraint values ``c(pi_t)``, ``c(pi_hat_{t+1})`` and the
four metric sums. So a step is ONE ``prange`` pass over x that writes per-row results into per-row
arrays (no reduction, and no accumulation across rows, inside the ``prange``), then a SERIAL sum over
x = 0..X-1. The summation order is fixed, so the result has the same bits for any thread count
(``NUMBA_NUM_THREADS`` / ``numba.set_num_threads`` only decide who computes which row).

Cost per entry and step (optimistic mode): no libm call in the common case. The previous kernel made
9 (exp/expm1) per entry; now ``pi`` is ``exp(z - m) / sum`` from the log-sum-exp pass itself (reused
for the constraints and the metrics, ``pi*`` is exponentiated once per run), that exp is a vectorised
Cody-Waite + polynomial one (<= 1 ulp from libm; ``exp < 3.3e-308`` is flushed to 0, its
``log pi`` is kept exactly), and each KL term ``p (d + expm1(-d))`` (the
reference's form, which resolves KLs far below 1e-16 in the tail of linear convergence) uses the
Taylor series of ``d + expm1(-d)`` for ``|d| <= 1`` (as accurate, vectorised) and ``expm1`` only
beyond. Row sums use ``fastmath={"reassoc"}`` (vector order, fixed at compile time; no nnan/ninf).

On-disk caching of the compiled kernels is on by default in a per-user folder; ``OPDCHECK_NUMBA_CACHE=0``
turns it off, a path moves it; the folder is keyed on every kernel source (``kernels/numba_cache.py``).
"""
from __future__ import annotations

import math
import time

import numpy as np
from numba import prange

from opdcheck.kernels.opd import require_scalar_steps, T0_CONVENTION, validate_run
from opdcheck.kernels.potential import potential as _potential
from opdcheck.kernels.potential import thm34_constants
from opdcheck.kernels.rules import dual_step_size
from opdcheck.kernels.trajectory import Trajectory, kl_rows_log
from opdcheck.problem import Problem

__all__ = ["PARALLEL_MIN_ENTRIES", "opd_kernel", "run_opd_numba"]

from opdcheck.kernels.numba_cache import CACHE as _CACHE  # on-disk cache keyed on every kernel source
from opdcheck.kernels.numba_cache import njit  # noqa: E402

_PRED_CODE = {"optimistic": 0, "none": 1, "alternating": 2}
_INIT = 3  # row-pass mode for the t = 0 metrics: no primal step, pi = exp(log_hat)


#: exp(x) for x <= 0 in a form LLVM vectorises (libm's exp is a scalar call, ~4.4 ns; this ~1.8 ns):
#: x = k ln2 + r, |r| <= ln2/2 (Cody-Waite split of ln2, fdlibm's constants), exp(r) by its Taylor
#: polynomial to r^13 (first omitted term < 5e-18), times 2^k built in the exponent bits. Measured
#: <= 1 ulp from libm over [-708, 0]; x < -708 (exp < 3.3e-308, subnormal) gives 0.
#: (constants: one source, kernels/fastexp.py; this kernel flushes exp(x < -708) to 0 instead of
#: building subnormals, which is immaterial for probabilities summed against a term of size 1)
from opdcheck.kernels.fastexp import (_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11,  # noqa: E402
                                      _E12, _E13, _INV_LN2, _LN2_HI, _LN2_LO, _ROUND, _ROUND_BITS)
_EXP_MIN = -708.0


@njit(cache=_CACHE)
def _softmax_row(z, mix, inv_denom, derived, pi, tb):
    """In place: z (the score S_lam[x]) -> log_softmax(mix + S/(eta+beta)) (or + S, "printed"), with
    mix = (eta log_hat + beta log_ref)/(eta+beta); pi <- exp(z - m) / sum, the same exponentials
    (tb: scratch of length n). Returns 1 if a value is non-finite. Multiplications by precomputed
    reciprocals instead of divisions: <= 2 ulp from the reference, far inside NUMBA_AGREEMENT_RTOL."""
    n = z.shape[0]
    m = -np.inf
    for y in range(n):
        v = mix[y] + (z[y] * inv_denom if derived else z[y])
        z[y] = v
        m = max(m, v)
    # exp(z - m) <= 1, vectorised (see _INV_LN2): polynomial into pi, 2^k into tb
    for y in range(n):
        xv = max(z[y] - m, _EXP_MIN)
        t = xv * _INV_LN2 + _ROUND
        k = t - _ROUND
        r = (xv - k * _LN2_HI) - k * _LN2_LO
        pi[y] = (((((((((((((_E13 * r + _E12) * r + _E11) * r + _E10) * r + _E9) * r + _E8) * r + _E7) * r
                        + _E6) * r + _E5) * r + _E4) * r + _E3) * r + _E2) * r + _E1) * r + _E0)
        tb[y] = t
    tbits = tb.view(np.int64)
    for y in range(n):
        tbits[y] = (tbits[y] - _ROUND_BITS + 1023) << 52
    acc = 0.0
    for y in range(n):
        e = pi[y] * tb[y]
        e = e if z[y] - m >= _EXP_MIN else 0.0
        pi[y] = e
        acc += e
    lse = m + math.log(acc)
    inv = 1.0 / acc
    bad = 0
    for y in range(n):
        v = z[y] - lse
        z[y] = v
        pi[y] = pi[y] * inv
        if not math.isfinite(v):
            bad = 1
    return bad


#: Taylor coefficients of f(d) = d + expm1(-d) = d^2 sum_k c_k d^k, c_k = (-1)^k / (k+2)!, k = 0..17.
#: For |d| <= 1 the first omitted term is <= 1/20! = 4e-19 while f(d) >= 0.36 d^2, so the series is
#: as accurate as the expm1 form (more: d + expm1(-d) cancels to ulp(d) absolute) and needs no libm call.
_TAYLOR = tuple((-1.0) ** k / math.factorial(k + 2) for k in range(18))
(_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13, _C14, _C15, _C16,
 _C17) = _TAYLOR  # named scalars: numba folds them into the unrolled, vectorised Horner scheme
_SERIES_MAX = 1.0


@njit(cache=_CACHE)
def _kl_term(p, log_p, log_q):
    """One term of KL(p || q) exactly as kernels.trajectory.kl_rows_log: p (d + expm1(-d)),
    d = log p - log q (p d + q - p for d <= -30, q for p = 0)."""
    if p > 0.0:
        d = log_p - log_q
        if d > -30.0:
            return p * (d + math.expm1(-d))
        return p * d + math.exp(log_q) - p
    return math.exp(log_q)


@njit(cache=_CACHE, fastmath={"reassoc"})
def _kl_row(p, log_p, log_q):
    """KL(p || q) of one row from p, log p, log q, accurate near 0 like kl_rows_log.

    Entries with p > 0 and |d| <= 1 use the Taylor series of d + expm1(-d) in a branch-free loop
    that LLVM vectorises (the common case near convergence: ~1.2 ms instead of ~4 ms per 1e6
    entries); the others take the expm1 form of ``_kl_term`` in a second, scalar loop. All terms are
    >= 0, so summing in the vectorised order (``reassoc``, fixed in the compiled code) is well
    conditioned and deterministic."""
    acc = 0.0
    n_slow = 0
    for y in range(p.shape[0]):
        d = log_p[y] - log_q[y]
        f = ((((((((_C17 * d + _C16) * d + _C15) * d + _C14) * d + _C13) * d + _C12) * d + _C11) * d
               + _C10) * d + _C9)
        f = (((((((((f * d + _C8) * d + _C7) * d + _C6) * d + _C5) * d + _C4) * d + _C3) * d + _C2) * d
              + _C1) * d + _C0)
        fast = (p[y] > 0.0) & (abs(d) <= _SERIES_MAX)
        acc += (p[y] * (d * d * f)) if fast else 0.0
        n_slow += 0 if fast else 1
    if n_slow > 0:
        slow = 0.0
        for y in range(p.shape[0]):
            d = log_p[y] - log_q[y]
            if not ((p[y] > 0.0) and (abs(d) <= _SERIES_MAX)):
                slow += _kl_term(p[y], log_p[y], log_q[y])
        acc += slow
    return acc


@njit(cache=_CACHE, fastmath={"reassoc"})
def _dot(a, b):
    """sum_y a[y] b[y] (vectorised order, fixed in the compiled code)."""
    acc = 0.0
    for y in range(a.shape[0]):
        acc += a[y] * b[y]
    return acc


@njit(cache=_CACHE, fastmath={"reassoc"})
def _row_dot(pi, R, x, out):
    """out[j] = sum_y pi[y] R[j, x, y] (unweighted by rho[x]; the serial reduction weights it).

    ``fastmath={"reassoc"}`` (only here, no nnan/ninf: non-finite values still propagate) lets LLVM
    vectorise the sum: a strict left-to-right sum is latency-bound (~6.6 ms vs ~2 ms per call at
    X n h = 8e6). The vector order is fixed in the compiled code (it depends on n only), so the bits
    are the same run to run and for any thread count."""
    for j in range(R.shape[0]):
        acc = 0.0
        for y in range(pi.shape[0]):
            acc += pi[y] * R[j, x, y]
        out[j] = acc


@njit(cache=_CACHE)
def _row(x, mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
         log_pred, log_new, pi_pred, pi_new, mix_rows, scr_rows, ca_rows, cb_rows, met_rows, bad):
    """One step's work on row x (rows are independent; nothing is summed across rows here).

    mode 0 (optimistic): log_pred = P(log_hat, lam_a), log_new = P(log_hat, lam_b);
    mode 1 (none) / 2 (alternating): log_new = P(log_hat, lam_b) (the prediction is log_hat resp. log_new);
    mode 3 (t = 0): log_new = log_hat.
    Writes c rows of pi_pred (ca, mode 0) and pi_new (cb), and per-row metric sums
    met_rows[x] = (KL(pi*||pi_new), KL(pi_new||pi_pred), KL(pi_new||pi_ref), <pi_new, r>)."""
    n = log_hat.shape[1]
    h = R.shape[0]
    zb = log_new[x]
    pb = pi_new[x]
    b = 0
    if mode == 3:
        for y in range(n):
            zb[y] = log_hat[x, y]
            pb[y] = math.exp(log_hat[x, y])
    else:
        za = log_pred[x]
        for y in range(n):
            zb[y] = r[x, y]
            if mode == 0:
                za[y] = r[x, y]
        # S_lam row: R[j, x, :] is read contiguously, once for both multipliers
        for j in range(h):
            la = lam_a[j]
            lb = lam_b[j]
            for y in range(n):
                v = R[j, x, y]
                zb[y] += lb * v
                if mode == 0:
                    za[y] += la * v
        # the KL-proximal mix (eta log_hat + beta log_ref)/(eta + beta), shared by both primal steps
        mix = mix_rows[x]
        inv_denom = 1.0 / (eta + beta)
        for y in range(n):
            mix[y] = (eta * log_hat[x, y] + beta * log_ref[x, y]) * inv_denom
        if mode == 0:
            b |= _softmax_row(za, mix, inv_denom, derived, pi_pred[x], scr_rows[x])
            _row_dot(pi_pred[x], R, x, ca_rows[x])
        b |= _softmax_row(zb, mix, inv_denom, derived, pb, scr_rows[x])
    _row_dot(pb, R, x, cb_rows[x])
    bad[x] = b
    k_star = _kl_row(pi_s[x], log_pi_s[x], zb)
    k_pred = 0.0
    if mode == 0:
        k_pred = _kl_row(pb, zb, log_pred[x])
    elif mode == 1:
        k_pred = _kl_row(pb, zb, log_hat[x])
    k_ref = _kl_row(pb, zb, log_ref[x])
    a_r = _dot(pb, r[x])
    # modes 2 and 3: the prediction is the iterate itself, KL = 0 exactly (as in the reference)
    met_rows[x, 0] = k_star
    met_rows[x, 1] = k_pred
    met_rows[x, 2] = k_ref
    met_rows[x, 3] = a_r


@njit(parallel=True, cache=_CACHE)
def _rows_parallel(mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
                   log_pred, log_new, pi_pred, pi_new, mix_rows, scr_rows, ca_rows, cb_rows, met_rows, bad):
    """The row pass: ``_row`` for every x, rows spread over the threads. The prange body is one call
    (small parallel lowering, so small compile time) and there is no reduction across rows."""
    for x in prange(log_hat.shape[0]):
        # int64(x): the parfor index is unsigned, the typing pass's is signed; one signature, one compile
        _row(np.int64(x), mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
             log_pred, log_new, pi_pred, pi_new, mix_rows, scr_rows, ca_rows, cb_rows, met_rows, bad)


@njit(cache=_CACHE)
def _rows_serial(mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
                 log_pred, log_new, pi_pred, pi_new, mix_rows, scr_rows, ca_rows, cb_rows, met_rows, bad):
    """The same row pass on one thread (small problems: no thread wake-up per step). Same bits."""
    for x in range(log_hat.shape[0]):
        _row(x, mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
             log_pred, log_new, pi_pred, pi_new, mix_rows, scr_rows, ca_rows, cb_rows, met_rows, bad)


@njit(cache=_CACHE)
def _dual(lam_hat, c, s, out):
    for j in range(lam_hat.shape[0]):
        v = lam_hat[j] - s * c[j]
        out[j] = v if v > 0.0 else 0.0


@njit(cache=_CACHE)
def _copy(src, dst):
    """dst <- src for 1-d arrays (an explicit loop: slice assignment costs ~2 s of compile time)."""
    for k in range(src.shape[0]):
        dst[k] = src[k]


@njit(cache=_CACHE)
def _reduce(rho, rows, out):
    """out[k] = sum_x rho[x] rows[x, k], x in increasing order (the fixed summation order)."""
    for k in range(rows.shape[1]):
        out[k] = 0.0
    for x in range(rows.shape[0]):
        w = rho[x]
        for k in range(rows.shape[1]):
            out[k] += w * rows[x, k]


@njit(cache=_CACHE)
def opd_kernel(log_ref, r, R, rho, beta, eta_th, s_dual, derived, mode, lam0, pi_s, log_pi_s, lam_s,
               r_s, c_s, kl_s_ref, T, threshold, m_scalar, m_con, log_hat_io, lam_hat, parallel):
    """Run up to T steps. ``m_scalar`` (T+1, 5) = kl_star, lam_err2, kl_hat_pred, lam_hat_pred2, gap;
    ``m_con`` (T+1, h). ``log_hat_io``/``lam_hat`` hold the initial and then the last committed
    state (a step whose iterate or metrics are non-finite is not committed).
    Returns (steps done, status) with status 0 = T reached, 1 = below threshold, 2 = non-finite."""
    X, n = log_ref.shape
    h = R.shape[0]
    log_hat = log_hat_io.copy()
    log_pred = np.empty((X, n))
    log_new = np.empty((X, n))
    pi_pred = np.empty((X, n))
    pi_new = np.empty((X, n))
    mix_rows = np.empty((X, n))
    scr_rows = np.empty((X, n))
    ca_rows = np.zeros((X, h))
    cb_rows = np.zeros((X, h))
    met_rows = np.zeros((X, 4))
    bad = np.zeros(X, dtype=np.int64)
    lam_prev = lam_hat.copy()
    lam_pred = np.empty(h)
    lam_new = np.empty(h)
    c_hat = np.empty(h)
    c_prev = np.empty(h)
    c_pred = np.empty(h)
    c_new = np.empty(h)
    met = np.empty(4)

    done = 0
    status = 0
    # t = 0 is the row pass in mode _INIT (the t = 0 convention: previous predictions equal the
    # initial state). One call site with a run-time mode: a literal mode per call site would
    # compile the parallel row pass once per literal.
    for t in range(T + 1):
        if t == 0:
            mode_t = _INIT
            _copy(lam_hat, lam_pred)
        elif mode == 0:
            mode_t = mode
            _dual(lam_hat, c_prev, s_dual, lam_pred)
        else:
            mode_t = mode
            _copy(lam_hat, lam_pred)
        # mode 0 uses (lam_{t-1}, lam_t) = (lam_prev, lam_pred); modes 1, 2 use lam_hat twice
        if parallel:
            _rows_parallel(mode_t, log_hat, lam_prev, lam_pred, r, R, log_ref, pi_s, log_pi_s, eta_th, beta,
                           derived, log_pred, log_new, pi_pred, pi_new, mix_rows, scr_rows, ca_rows, cb_rows,
                           met_rows, bad)
        else:
            _rows_serial(mode_t, log_hat, lam_prev, lam_pred, r, R, log_ref, pi_s, log_pi_s, eta_th, beta,
                         derived, log_pred, log_new, pi_pred, pi_new, mix_rows, scr_rows, ca_rows, cb_rows,
                         met_rows, bad)
        _reduce(rho, cb_rows, c_new)
        if mode_t == 0:
            _reduce(rho, ca_rows, c_pred)
        elif mode_t == 1:
            _copy(c_hat, c_pred)
        else:
            _copy(c_new, c_pred)
        if t == 0:
            _copy(lam_hat, lam_new)
        else:
            _dual(lam_hat, c_pred, s_dual, lam_new)
        finite = True
        for j in range(h):
            if not math.isfinite(lam_new[j]):
                finite = False
        for x in range(X):
            if bad[x] != 0:
                finite = False
        if not finite:
            status = 2
            break
        _reduce(rho, met_rows, met)
        err = _record(t, met, lam_new, lam_pred, c_new, lam_s, c_s, r_s, kl_s_ref, beta, m_scalar, m_con)
        if t == 0:
            _copy(c_new, c_hat)
            _copy(c_new, c_prev)
            continue
        if not math.isfinite(err):
            status = 2
            break
        # commit: swap buffers instead of copying (X, n) arrays
        log_hat, log_new = log_new, log_hat
        _copy(lam_new, lam_hat)
        _copy(lam_pred, lam_prev)
        _copy(c_pred, c_prev)
        _copy(c_new, c_hat)
        done = t
        if err <= threshold:
            status = 1
            break
    for x in range(X):
        for y in range(n):
            log_hat_io[x, y] = log_hat[x, y]
    return done, status


@njit(cache=_CACHE)
def _record(t, met, lam_hat, lam_prev, c_hat, lam_s, c_s, r_s, kl_s_ref, beta, m_scalar, m_con):
    """Write the metrics of state t (see kernels.trajectory); return the error (may be non-finite)."""
    h = lam_hat.shape[0]
    e2 = 0.0
    d2 = 0.0
    lc = 0.0
    lc2 = 0.0
    for j in range(h):
        e2 += (lam_s[j] - lam_hat[j]) ** 2
        d2 += (lam_hat[j] - lam_prev[j]) ** 2
        lc += lam_hat[j] * c_s[j]
        lc2 += lam_s[j] * c_hat[j]
        m_con[t, j] = c_hat[j]
    m_scalar[t, 0] = met[0]
    m_scalar[t, 1] = e2
    m_scalar[t, 2] = met[1]
    m_scalar[t, 3] = d2
    # L(pi*, lam_hat) - L(pi_hat, lam*)
    m_scalar[t, 4] = (r_s + lc - beta * kl_s_ref) - (met[3] + lc2 - beta * met[2])
    return met[0] + e2


#: Row passes run in parallel (prange over prompts x) when X n >= this and X >= 2; below it one
#: thread is faster (waking the pool each step costs ~10 us idle, milliseconds on a loaded machine,
#: against ~1.5 ms of serial work at X n = 5e4). Both passes give the same bits.
PARALLEL_MIN_ENTRIES = 50_000


def run_opd_numba(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox",
                  lam_init=None, saddle=None, closed_form: str = "derived", stop_below: float | None = None,
                  prediction: str = "optimistic") -> Trajectory:
    """Numba version of :func:`opdcheck.kernels.opd.run_primal_dual` (keeps metrics and the last iterate).

    The row pass runs on numba's threads (``NUMBA_NUM_THREADS`` / ``numba.set_num_threads``) when
    ``X n >= PARALLEL_MIN_ENTRIES``, else on one; the bits depend on neither."""
    return _run(problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, lam_init=lam_init,
                saddle=saddle, closed_form=closed_form, stop_below=stop_below, prediction=prediction)


def _readonly(a) -> np.ndarray:
    v = np.ascontiguousarray(a, dtype=np.float64).view()
    v.flags.writeable = False
    return v


def _run(problem: Problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
         closed_form="derived", stop_below=None, prediction="optimistic", parallel=None) -> Trajectory:
    """run_opd_numba with the row pass chosen: parallel=None by size (PARALLEL_MIN_ENTRIES), True, False."""
    require_scalar_steps(eta_th, eta_lam, "run_opd_numba")
    eta_th, eta_lam, T, pi_s, lam_s, lam0 = validate_run(
        problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, lam_init=lam_init, saddle=saddle,
        closed_form=closed_form, stop_below=stop_below, prediction=prediction, who="run_opd_numba")
    with np.errstate(divide="ignore"):
        log_pi_s = np.log(pi_s)
    # read-only C-contiguous float64 inputs whatever the caller passes: one kernel signature, no recompile
    pi_s, log_pi_s, rho, log_ref, r, R = (_readonly(a) for a in (pi_s, log_pi_s, problem.rho, problem.log_pi_ref,
                                                                   problem.r, problem.R_hard))
    beta = float(problem.beta)
    kl_s_ref = float(rho @ kl_rows_log(pi_s, log_pi_s, log_ref))
    r_s = float(np.einsum("x,xn,xn->", rho, pi_s, r))
    c_s = _readonly(problem.constraint_values(pi_s))
    lam_s, lam0_in = _readonly(lam_s), _readonly(lam0)
    err0 = kl_s_ref + float(np.sum((lam_s - lam0) ** 2))  # pi_hat_0 = pi_ref
    threshold = -1.0 if stop_below is None else float(stop_below) * err0
    m_scalar = np.zeros((T + 1, 5))
    m_con = np.zeros((T + 1, problem.h))
    log_hat = log_ref.copy()
    lam_hat = lam0.copy()
    s_dual = dual_step_size(eta_lam, dual_step)
    if parallel is None:
        parallel = problem.X >= 2 and problem.X * problem.n >= PARALLEL_MIN_ENTRIES
    t_loop = time.perf_counter()
    done, status = opd_kernel(log_ref, r, R, rho, beta, eta_th, s_dual, closed_form == "derived",
                          _PRED_CODE[prediction], lam0_in, pi_s, log_pi_s, lam_s, r_s,
                          c_s, kl_s_ref, T, threshold, m_scalar, m_con, log_hat, lam_hat, bool(parallel))
    t_loop = time.perf_counter() - t_loop
    done = int(done)
    metrics = {"kl_star": m_scalar[: done + 1, 0].copy(), "lam_err2": m_scalar[: done + 1, 1].copy(),
               "kl_hat_pred": m_scalar[: done + 1, 2].copy(), "lam_hat_pred2": m_scalar[: done + 1, 3].copy(),
               "gap": m_scalar[: done + 1, 4].copy(), "constraint": m_con[: done + 1].copy()}
    metrics["error"] = metrics["kl_star"] + metrics["lam_err2"]
    consts = thm34_constants(problem, eta_th, eta_lam) if problem.R_max > 0 else None
    metrics["potential"] = _potential(metrics, consts) if consts else np.full(done + 1, np.nan)
    method = {"optimistic": "opd", "none": "simultaneous-pd", "alternating": "sequential-pd"}[prediction]
    reason = {0: "T reached", 1: "error below stop threshold", 2: "non-finite"}[int(status)]
    config = {"method": method, "prediction": prediction, "eta_th": eta_th, "eta_lam": eta_lam,
              "primal_step": 1.0 / (eta_th + beta), "dual_step": dual_step,
              "dual_step_size": s_dual, "closed_form": closed_form, "T": T,
              "lam_init": lam0.tolist(), "t0_convention": T0_CONVENTION, "stop_below": stop_below,
              "beta": beta, "problem": problem.name, "backend": "numba",
              "numba_row_pass": "parallel" if parallel else "serial"}
    diverged = status == 2
    return Trajectory(method=method, config=config, metrics=metrics,
                      iterates=[(done, np.exp(log_hat), lam_hat.copy())], n_steps=done, diverged=diverged,
                      first_nonfinite=done + 1 if diverged else None, stop_reason=reason,
                      final_log_pi_hat=log_hat, final_lam_hat=lam_hat, extra={"pi_star": pi_s, "lam_star": lam_s,
                             "loop_seconds": t_loop})  # wall time of the kernel (benchmarks only)
