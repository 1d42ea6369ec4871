"""Numba-JIT kernel of the primal-dual driver (OPD, Alg. 2, and its two baselines) in distribution space.

It computes exactly what :func:`opdcheck.kernels.opd.run_primal_dual` computes (same formulas, fused
loops, no per-step allocation of (X, n) temporaries beyond three work arrays) and returns the same
:class:`~opdcheck.kernels.trajectory.Trajectory` metrics; ``tests/test_kernels.py`` checks equality to
``NUMBA_AGREEMENT_RTOL`` on several instances and that a second call with the same dtypes does not
compile again.

Public API::

    run_opd_numba(problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
                  closed_form="derived", stop_below=None, prediction="optimistic") -> Trajectory

On-disk caching of the compiled kernel is opt-in: set ``OPDCHECK_NUMBA_CACHE=1``. The kernel is
serial (no ``prange``): per step the work is O(h X n) and memory-bound, and a serial loop keeps
the compile time small and the bits deterministic.
"""
from __future__ import annotations

import math
import os

import numpy as np
from numba import njit

from opdcheck.kernels.opd import PREDICTIONS, T0_CONVENTION, _check_lam_init, _check_saddle
from opdcheck.kernels.potential import potential as _potential
from opdcheck.kernels.potential import thm34_constants
from opdcheck.kernels.rules import dual_step_size, validate_steps
from opdcheck.kernels.trajectory import Trajectory
from opdcheck.problem import Problem

__all__ = ["run_opd_numba", "opd_kernel"]

_CACHE = os.environ.get("OPDCHECK_NUMBA_CACHE", "0") == "1"
_PRED_CODE = {"optimistic": 0, "none": 1, "alternating": 2}


@njit(cache=_CACHE)
def _primal(log_hat, lam, r, R, log_ref, eta, beta, derived, out):
    """out = log_softmax((eta log_hat + beta log_ref)/(eta+beta) + S_lam/(eta+beta)) (or + S_lam, printed).

    S_lam is accumulated row by row with j outside y so that R[j, x, :] is read contiguously."""
    X, n = log_hat.shape
    h = R.shape[0]
    denom = eta + beta
    scale = 1.0 / denom if derived else 1.0
    for x in range(X):
        for y in range(n):
            out[x, y] = r[x, y]
        for j in range(h):
            lj = lam[j]
            if lj != 0.0:
                for y in range(n):
                    out[x, y] += lj * R[j, x, y]
        m = -np.inf
        for y in range(n):
            if derived:
                z = (eta * log_hat[x, y] + beta * log_ref[x, y]) / denom + out[x, y] / denom
            else:
                z = (eta * log_hat[x, y] + beta * log_ref[x, y]) / denom + out[x, y] * scale
            out[x, y] = z
            if z > m:
                m = z
        acc = 0.0
        for y in range(n):
            acc += math.exp(out[x, y] - m)
        lse = m + math.log(acc)
        for y in range(n):
            out[x, y] -= lse


@njit(cache=_CACHE)
def _constraints(log_pi, R, rho, out):
    X, n = log_pi.shape
    h = R.shape[0]
    w = np.empty(n)
    for j in range(h):
        out[j] = 0.0
    for x in range(X):
        for y in range(n):
            w[y] = rho[x] * math.exp(log_pi[x, y])
        for j in range(h):
            acc = 0.0
            for y in range(n):
                acc += w[y] * R[j, x, y]
            out[j] += acc


@njit(cache=_CACHE)
def _dual(lam_hat, c, s, out):
    for j in range(lam_hat.shape[0]):
        v = lam_hat[j] - s * c[j]
        out[j] = v if v > 0.0 else 0.0


@njit(cache=_CACHE)
def _metrics(t, log_hat, lam_hat, c_hat, log_prev, lam_prev, rho, r, log_ref, log_pi_s, lam_s, c_s,
             r_s, kl_s_ref, beta, m_scalar, m_con):
    """Write the metrics of state t (see kernels.trajectory); return the error (may be non-finite)."""
    X, n = log_hat.shape
    h = lam_hat.shape[0]
    # one fused pass: exp(log_hat) is computed once per entry for three of the four sums
    kl_star = 0.0
    kl_pred = 0.0
    kl_hat_ref = 0.0
    r_hat = 0.0
    for x in range(X):
        a_star = 0.0
        a_pred = 0.0
        a_ref = 0.0
        a_r = 0.0
        for y in range(n):
            ps = math.exp(log_pi_s[x, y])
            if ps > 0.0:
                d = log_pi_s[x, y] - log_hat[x, y]
                if d > -30.0:
                    a_star += ps * (d + math.expm1(-d))
                else:
                    a_star += ps * d + math.exp(log_hat[x, y]) - ps
            else:
                a_star += math.exp(log_hat[x, y])
            ph = math.exp(log_hat[x, y])
            if ph > 0.0:
                d = log_hat[x, y] - log_prev[x, y]
                if d > -30.0:
                    a_pred += ph * (d + math.expm1(-d))
                else:
                    a_pred += ph * d + math.exp(log_prev[x, y]) - ph
                d = log_hat[x, y] - log_ref[x, y]
                if d > -30.0:
                    a_ref += ph * (d + math.expm1(-d))
                else:
                    a_ref += ph * d + math.exp(log_ref[x, y]) - ph
            else:
                a_pred += math.exp(log_prev[x, y])
                a_ref += math.exp(log_ref[x, y])
            a_r += ph * r[x, y]
        kl_star += rho[x] * a_star
        kl_pred += rho[x] * a_pred
        kl_hat_ref += rho[x] * a_ref
        r_hat += rho[x] * a_r
    m_scalar[t, 0] = kl_star
    e2 = 0.0
    d2 = 0.0
    for j in range(h):
        e2 += (lam_s[j] - lam_hat[j]) ** 2
        d2 += (lam_hat[j] - lam_prev[j]) ** 2
    m_scalar[t, 1] = e2
    m_scalar[t, 2] = kl_pred
    m_scalar[t, 3] = d2
    lc = 0.0
    lc2 = 0.0
    for j in range(h):
        lc += lam_hat[j] * c_s[j]
        lc2 += lam_s[j] * c_hat[j]
    m_scalar[t, 4] = (r_s + lc - beta * kl_s_ref) - (r_hat + lc2 - beta * kl_hat_ref)
    for j in range(h):
        m_con[t, j] = c_hat[j]
    return m_scalar[t, 0] + m_scalar[t, 1]


@njit(cache=_CACHE)
def opd_kernel(log_ref, r, R, rho, beta, eta_th, s_dual, derived, mode, lam0, log_pi_s, lam_s,
               r_s, c_s, kl_s_ref, T, threshold, m_scalar, m_con, log_hat, lam_hat):
    """Run up to T steps. ``m_scalar`` (T+1, 5) = kl_star, lam_err2, kl_hat_pred, lam_hat_pred2, gap;
    ``m_con`` (T+1, h). ``log_hat``/``lam_hat`` hold the initial and then the last committed state
    (a step whose iterate or metrics are non-finite is not committed).
    Returns (steps done, status) with status 0 = T reached, 1 = below threshold, 2 = non-finite."""
    X, n = log_ref.shape
    h = R.shape[0]
    log_prev = log_hat.copy()
    lam_prev = lam_hat.copy()
    log_pred = np.empty((X, n))
    log_new = np.empty((X, n))
    lam_pred = np.empty(h)
    lam_new = np.empty(h)
    c_hat = np.empty(h)
    c_prev = np.empty(h)
    c_pred = np.empty(h)
    c_new = np.empty(h)
    _constraints(log_hat, R, rho, c_hat)
    c_prev[:] = c_hat
    # t = 0 convention: previous predictions equal the initial state
    _metrics(0, log_hat, lam_hat, c_hat, log_prev, lam_prev, rho, r, log_ref, log_pi_s, lam_s, c_s,
             r_s, kl_s_ref, beta, m_scalar, m_con)
    done = 0
    status = 0
    for t in range(1, T + 1):
        if mode == 0:
            _primal(log_hat, lam_prev, r, R, log_ref, eta_th, beta, derived, log_pred)
            _dual(lam_hat, c_prev, s_dual, lam_pred)
            _constraints(log_pred, R, rho, c_pred)
            _primal(log_hat, lam_pred, r, R, log_ref, eta_th, beta, derived, log_new)
        elif mode == 1:
            log_pred[:, :] = log_hat
            lam_pred[:] = lam_hat
            c_pred[:] = c_hat
            _primal(log_hat, lam_pred, r, R, log_ref, eta_th, beta, derived, log_new)
        else:
            _primal(log_hat, lam_hat, r, R, log_ref, eta_th, beta, derived, log_pred)
            lam_pred[:] = lam_hat
            _constraints(log_pred, R, rho, c_pred)
            log_new[:, :] = log_pred
        _dual(lam_hat, c_pred, s_dual, lam_new)
        finite = True
        for j in range(h):
            if not math.isfinite(lam_new[j]):
                finite = False
        for x in range(X):
            for y in range(n):
                if not math.isfinite(log_new[x, y]):
                    finite = False
        if not finite:
            status = 2
            break
        if mode == 2:
            c_new[:] = c_pred
        else:
            _constraints(log_new, R, rho, c_new)
        err = _metrics(t, log_new, lam_new, c_new, log_pred, lam_pred, rho, r, log_ref, log_pi_s, lam_s,
                       c_s, r_s, kl_s_ref, beta, m_scalar, m_con)
        if not math.isfinite(err):
            status = 2
            break
        log_hat[:, :] = log_new
        lam_hat[:] = lam_new
        log_prev[:, :] = log_pred
        lam_prev[:] = lam_pred
        c_prev[:] = c_pred
        c_hat[:] = c_new
        done = t
        if err <= threshold:
            status = 1
            break
    return done, status


def run_opd_numba(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox",
                  lam_init=None, saddle=None, closed_form: str = "derived", stop_below: float | None = None,
                  prediction: str = "optimistic") -> Trajectory:
    """Numba version of :func:`opdcheck.kernels.opd.run_primal_dual` (keeps metrics and the last iterate)."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction: {prediction!r}; choose one of {PREDICTIONS}.")
    eta_th, eta_lam = validate_steps(eta_th, eta_lam, problem.beta, dual_convention=dual_step,
                                     closed_form=closed_form, who="run_opd_numba")
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T: {T!r}; pass an integer number of steps >= 1.")
    pi_s, lam_s = _check_saddle(problem, saddle)
    lam0 = _check_lam_init(problem, lam_init)
    T = int(T)
    with np.errstate(divide="ignore"):
        log_pi_s = np.log(pi_s)
    rho = np.ascontiguousarray(problem.rho)
    log_ref = np.ascontiguousarray(problem.log_pi_ref)
    r = np.ascontiguousarray(problem.r)
    R = np.ascontiguousarray(problem.R_hard)
    beta = float(problem.beta)
    from opdcheck.kernels.trajectory import kl_rows_log

    kl_s_ref = float(rho @ kl_rows_log(pi_s, log_pi_s, log_ref))
    r_s = float(np.einsum("x,xn,xn->", rho, pi_s, r))
    c_s = problem.constraint_values(pi_s)
    err0 = float(rho @ kl_rows_log(pi_s, log_pi_s, log_ref)) + float(np.sum((lam_s - lam0) ** 2))
    threshold = -1.0 if stop_below is None else float(stop_below) * err0
    m_scalar = np.zeros((T + 1, 5))
    m_con = np.zeros((T + 1, problem.h))
    log_hat = log_ref.copy()
    lam_hat = lam0.copy()
    done, status = opd_kernel(log_ref, r, R, rho, beta, eta_th, dual_step_size(eta_lam, dual_step),
                              closed_form == "derived", _PRED_CODE[prediction], lam0,
                              np.ascontiguousarray(log_pi_s), lam_s, r_s, c_s, kl_s_ref, T, threshold,
                              m_scalar, m_con, log_hat, lam_hat)
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
              "dual_step_size": dual_step_size(eta_lam, dual_step), "closed_form": closed_form, "T": T,
              "lam_init": lam0.tolist(), "t0_convention": T0_CONVENTION, "stop_below": stop_below,
              "beta": beta, "problem": problem.name, "backend": "numba"}
    diverged = status == 2
    return Trajectory(method=method, config=config, metrics=metrics,
                      iterates=[(done, np.exp(log_hat), lam_hat.copy())], n_steps=done, diverged=diverged,
                      first_nonfinite=done + 1 if diverged else None, stop_reason=reason,
                      final_log_pi_hat=log_hat, final_lam_hat=lam_hat, extra={"pi_star": pi_s, "lam_star": lam_s})
