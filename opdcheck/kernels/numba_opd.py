"""Numba-JIT kernel of the primal-dual driver (OPD, Alg. 2, and its two baselines) in distribution space.

It computes what :func:`opdcheck.kernels.opd.run_primal_dual` computes (same formulas, fused loops)
and returns the same :class:`~opdcheck.kernels.trajectory.Trajectory` metrics;
``tests/test_kernels.py`` checks agreement to ``NUMBA_AGREEMENT_RTOL`` on several instances and
prediction modes, bit-for-bit determinism (run to run and 1 vs 2 threads) and that a second call
with the same dtypes does not compile again.

Public API::

    run_opd_numba(problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
                  closed_form="derived", stop_below=None, prediction="optimistic") -> Trajectory
    opd_kernel   # the parallel (prange over prompts x) jitted driver, the default
    opd_kernel_serial()  # the same driver with range instead of prange (built on first call; benchmarks)

Layout of one step (why it is fast and deterministic)
------------------------------------------------------
Every quantity of a step is a per-prompt computation followed by a sum over prompts: the two
primal mirror steps (4)/(6) (both multipliers ``lam_{t-1}`` and ``lam_t = D(lam_hat_t, c(pi_{t-1}))``
are known at the start of the step), the constraint values ``c(pi_t)``, ``c(pi_hat_{t+1})`` and the
four metric sums. So a step is ONE ``prange`` pass over x that writes per-row results into per-row
arrays (no reduction, and no accumulation across rows, inside the ``prange``), then a SERIAL sum over
x = 0..X-1. The summation order is fixed, so the result has the same bits for any thread count
(``NUMBA_NUM_THREADS`` / ``numba.set_num_threads`` only decide who computes which row).

Transcendental calls per entry and step (optimistic mode): 2 ``exp`` (one per primal step; ``pi`` is
``exp(z - m) / sum``, reused for the constraints and the metrics) and 3 ``expm1`` (the three KLs,
kept in the reference's ``p (d + expm1(-d))`` form, which resolves KLs far below 1e-16 in the tail
of linear convergence; ``pi*`` is exponentiated once, not per step). The previous kernel made 9.

On-disk caching of the compiled kernel is opt-in: set ``OPDCHECK_NUMBA_CACHE=1``.
"""
from __future__ import annotations

import math
import os

import numpy as np
from numba import njit, prange

from opdcheck.kernels.opd import PREDICTIONS, T0_CONVENTION, _check_lam_init, _check_saddle
from opdcheck.kernels.potential import potential as _potential
from opdcheck.kernels.potential import thm34_constants
from opdcheck.kernels.rules import dual_step_size, validate_steps
from opdcheck.kernels.trajectory import Trajectory, kl_rows_log
from opdcheck.problem import Problem

__all__ = ["run_opd_numba", "opd_kernel", "opd_kernel_serial"]

_CACHE = os.environ.get("OPDCHECK_NUMBA_CACHE", "0") == "1"
_PRED_CODE = {"optimistic": 0, "none": 1, "alternating": 2}
_INIT = 3  # row-pass mode for the t = 0 metrics: no primal step, pi = exp(log_hat)


@njit(cache=_CACHE)
def _softmax_row(z, hat, ref, pi, eta, beta, derived):
    """In place: z (the score S_lam[x]) -> log_softmax((eta hat + beta ref)/(eta+beta) + S/(eta+beta))
    (or + S, "printed"); pi <- exp(z - m) / sum, the same exponentials. Returns 1 if non-finite."""
    n = z.shape[0]
    denom = eta + beta
    m = -np.inf
    for y in range(n):
        if derived:
            v = (eta * hat[y] + beta * ref[y]) / denom + z[y] / denom
        else:
            v = (eta * hat[y] + beta * ref[y]) / denom + z[y]
        z[y] = v
        m = max(m, v)
    acc = 0.0
    for y in range(n):
        e = math.exp(z[y] - m)
        pi[y] = e
        acc += e
    lse = m + math.log(acc)
    bad = 0
    for y in range(n):
        v = z[y] - lse
        z[y] = v
        pi[y] = pi[y] / acc
        if not math.isfinite(v):
            bad = 1
    return bad


@njit(cache=_CACHE)
def _kl_term(p, log_p, log_q):
    """One term of KL(p || q), as kernels.trajectory.kl_rows_log: p (d + expm1(-d)), d = log p - log q."""
    if p > 0.0:
        d = log_p - log_q
        if d > -30.0:
            return p * (d + math.expm1(-d))
        return p * d + math.exp(log_q) - p
    return math.exp(log_q)


@njit(cache=_CACHE)
def _row_dot(pi, R, x, out):
    """out[j] = sum_y pi[y] R[j, x, y] (unweighted by rho[x]; the serial reduction weights it)."""
    for j in range(R.shape[0]):
        acc = 0.0
        for y in range(pi.shape[0]):
            acc += pi[y] * R[j, x, y]
        out[j] = acc


@njit(cache=_CACHE)
def _row(x, mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
         log_pred, log_new, pi_pred, pi_new, ca_rows, cb_rows, met_rows, bad):
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
        if mode == 0:
            b |= _softmax_row(za, log_hat[x], log_ref[x], pi_pred[x], eta, beta, derived)
            _row_dot(pi_pred[x], R, x, ca_rows[x])
        b |= _softmax_row(zb, log_hat[x], log_ref[x], pb, eta, beta, derived)
    _row_dot(pb, R, x, cb_rows[x])
    bad[x] = b
    k_star = 0.0
    k_pred = 0.0
    k_ref = 0.0
    a_r = 0.0
    for y in range(n):
        ph = pb[y]
        lh = zb[y]
        # KL(pi* || pi_hat): pi* = 0 contributes pi_hat (already known, no exp)
        if pi_s[x, y] > 0.0:
            k_star += _kl_term(pi_s[x, y], log_pi_s[x, y], lh)
        else:
            k_star += ph
        if mode == 0:
            k_pred += _kl_term(ph, lh, log_pred[x, y])
        elif mode == 1:
            k_pred += _kl_term(ph, lh, log_hat[x, y])
        k_ref += _kl_term(ph, lh, log_ref[x, y])
        a_r += ph * r[x, y]
    # modes 2 and 3: the prediction is the iterate itself, KL = 0 exactly (as in the reference)
    met_rows[x, 0] = k_star
    met_rows[x, 1] = k_pred
    met_rows[x, 2] = k_ref
    met_rows[x, 3] = a_r


def _rows_py(mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
             log_pred, log_new, pi_pred, pi_new, ca_rows, cb_rows, met_rows, bad):
    """The row pass: ``_row`` for every x. The prange body is one call, which keeps the parallel
    lowering (and so the compile time) small; there is no reduction across rows."""
    for x in prange(log_hat.shape[0]):
        _row(x, mode, log_hat, lam_a, lam_b, r, R, log_ref, pi_s, log_pi_s, eta, beta, derived,
             log_pred, log_new, pi_pred, pi_new, ca_rows, cb_rows, met_rows, bad)


@njit(cache=_CACHE)
def _dual(lam_hat, c, s, out):
    for j in range(lam_hat.shape[0]):
        v = lam_hat[j] - s * c[j]
        out[j] = v if v > 0.0 else 0.0


@njit(cache=_CACHE)
def _reduce(rho, rows, out):
    """out[k] = sum_x rho[x] rows[x, k], x in increasing order (the fixed summation order)."""
    for k in range(rows.shape[1]):
        out[k] = 0.0
    for x in range(rows.shape[0]):
        w = rho[x]
        for k in range(rows.shape[1]):
            out[k] += w * rows[x, k]


def _build_kernel(rows, cache: bool):
    """The T-step driver around a row-pass function (parallel or serial variant of ``_rows_py``)."""

    def kernel(log_ref, r, R, rho, beta, eta_th, s_dual, derived, mode, lam0, pi_s, log_pi_s, lam_s,
               r_s, c_s, kl_s_ref, T, threshold, m_scalar, m_con, log_hat_io, lam_hat):
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

        # t = 0 convention: previous predictions equal the initial state
        rows(_INIT, log_hat, lam_hat, lam_hat, r, R, log_ref, pi_s, log_pi_s, eta_th, beta, derived,
             log_pred, log_new, pi_pred, pi_new, ca_rows, cb_rows, met_rows, bad)
        _reduce(rho, cb_rows, c_hat)
        c_prev[:] = c_hat
        _reduce(rho, met_rows, met)
        lam_new[:] = lam_hat
        lam_pred[:] = lam_hat
        err = _record(0, met, lam_new, lam_pred, c_hat, lam_s, c_s, r_s, kl_s_ref, beta, m_scalar, m_con)
        done = 0
        status = 0
        for t in range(1, T + 1):
            if mode == 0:
                _dual(lam_hat, c_prev, s_dual, lam_pred)
                rows(0, log_hat, lam_prev, lam_pred, r, R, log_ref, pi_s, log_pi_s, eta_th, beta, derived,
                     log_pred, log_new, pi_pred, pi_new, ca_rows, cb_rows, met_rows, bad)
                _reduce(rho, ca_rows, c_pred)
                _reduce(rho, cb_rows, c_new)
            else:
                lam_pred[:] = lam_hat
                rows(mode, log_hat, lam_hat, lam_hat, r, R, log_ref, pi_s, log_pi_s, eta_th, beta, derived,
                     log_pred, log_new, pi_pred, pi_new, ca_rows, cb_rows, met_rows, bad)
                _reduce(rho, cb_rows, c_new)
                if mode == 1:
                    c_pred[:] = c_hat
                else:
                    c_pred[:] = c_new
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
            if not math.isfinite(err):
                status = 2
                break
            # commit: swap buffers instead of copying (X, n) arrays
            log_hat, log_new = log_new, log_hat
            lam_hat[:] = lam_new
            lam_prev[:] = lam_pred
            c_prev[:] = c_pred
            c_hat[:] = c_new
            done = t
            if err <= threshold:
                status = 1
                break
        log_hat_io[:, :] = log_hat
        return done, status

    return njit(cache=cache)(kernel)


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


_rows_parallel = njit(parallel=True, cache=_CACHE)(_rows_py)
#: The default driver: prange over prompts, per-row outputs, serial reductions (deterministic by construction).
opd_kernel = _build_kernel(_rows_parallel, _CACHE)
_SERIAL: list = []


def opd_kernel_serial():
    """The same driver with a serial row pass (``range``); compiled on first use (benchmarks, tests).

    Never cached on disk: it shares its Python source with the parallel variant."""
    if not _SERIAL:
        _SERIAL.append(_build_kernel(njit(parallel=False)(_rows_py), False))
    return _SERIAL[0]


def run_opd_numba(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox",
                  lam_init=None, saddle=None, closed_form: str = "derived", stop_below: float | None = None,
                  prediction: str = "optimistic") -> Trajectory:
    """Numba version of :func:`opdcheck.kernels.opd.run_primal_dual` (keeps metrics and the last iterate).

    Runs the parallel kernel :data:`opd_kernel` (threads: ``NUMBA_NUM_THREADS`` or
    ``numba.set_num_threads``); the bits do not depend on the thread count."""
    return _run(opd_kernel, problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step,
                lam_init=lam_init, saddle=saddle, closed_form=closed_form, stop_below=stop_below,
                prediction=prediction)


def _run(kernel, problem: Problem, *, eta_th, eta_lam, T, dual_step, lam_init, saddle, closed_form,
         stop_below, prediction) -> Trajectory:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction: {prediction!r}; choose one of {PREDICTIONS}.")
    eta_th, eta_lam = validate_steps(eta_th, eta_lam, problem.beta, dual_convention=dual_step,
                                     closed_form=closed_form, who="run_opd_numba")
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T: {T!r}; pass an integer number of steps >= 1.")
    if stop_below is not None and not (stop_below >= 0):
        raise ValueError(f"stop_below: {stop_below!r}; pass None or a float >= 0.")
    pi_s, lam_s = _check_saddle(problem, saddle)
    lam0 = _check_lam_init(problem, lam_init)
    T = int(T)
    pi_s = np.ascontiguousarray(pi_s)
    with np.errstate(divide="ignore"):
        log_pi_s = np.log(pi_s)
    rho = np.ascontiguousarray(problem.rho)
    log_ref = np.ascontiguousarray(problem.log_pi_ref)
    r = np.ascontiguousarray(problem.r)
    R = np.ascontiguousarray(problem.R_hard)
    beta = float(problem.beta)
    kl_s_ref = float(rho @ kl_rows_log(pi_s, log_pi_s, log_ref))
    r_s = float(np.einsum("x,xn,xn->", rho, pi_s, r))
    c_s = problem.constraint_values(pi_s)
    err0 = kl_s_ref + float(np.sum((lam_s - lam0) ** 2))  # pi_hat_0 = pi_ref
    threshold = -1.0 if stop_below is None else float(stop_below) * err0
    m_scalar = np.zeros((T + 1, 5))
    m_con = np.zeros((T + 1, problem.h))
    log_hat = log_ref.copy()
    lam_hat = lam0.copy()
    s_dual = dual_step_size(eta_lam, dual_step)
    done, status = kernel(log_ref, r, R, rho, beta, eta_th, s_dual, closed_form == "derived",
                          _PRED_CODE[prediction], lam0, pi_s, np.ascontiguousarray(log_pi_s), lam_s, r_s,
                          c_s, kl_s_ref, T, threshold, m_scalar, m_con, log_hat, lam_hat)
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
              "beta": beta, "problem": problem.name, "backend": "numba"}
    diverged = status == 2
    return Trajectory(method=method, config=config, metrics=metrics,
                      iterates=[(done, np.exp(log_hat), lam_hat.copy())], n_steps=done, diverged=diverged,
                      first_nonfinite=done + 1 if diverged else None, stop_reason=reason,
                      final_log_pi_hat=log_hat, final_lam_hat=lam_hat, extra={"pi_star": pi_s, "lam_star": lam_s})
