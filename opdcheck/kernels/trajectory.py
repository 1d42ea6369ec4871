"""The record of one run of an iteration, and the pure judging functions that read it.

A :class:`Trajectory` keeps per-step metrics (never silently NaN: a non-finite value stops the run
and sets ``diverged``), optionally some iterates, the method name and the full configuration.

Metrics (arrays indexed by ``t = 0..n_steps``; state ``(pi_hat_t, lam_hat_t)``, predictions
``(pi_{t-1}, lam_{t-1})`` with the t = 0 convention ``pi_{-1} = pi_hat_0``, ``lam_{-1} = lam_hat_0``):

==================  =====================================================================
``kl_star``         ``E_rho KL(pi* || pi_hat_t)``
``lam_err2``        ``||lam* - lam_hat_t||^2``
``error``           ``kl_star + lam_err2`` (the left-hand side of Thm 3.4)
``kl_hat_pred``     ``E_rho KL(pi_hat_t || pi_{t-1})`` (a term of the potential Phi_t)
``lam_hat_pred2``   ``||lam_hat_t - lam_{t-1}||^2`` (a term of the potential Phi_t)
``constraint``      ``c(pi_hat_t)``, shape (n_steps+1, h)
``gap``             ``L(pi*, lam_hat_t) - L(pi_hat_t, lam*) >= 0`` (Lagrangian gap)
``potential``       ``Phi_t`` of the proof of Thm 3.4 (see ``kernels/potential.py``)
==================  =====================================================================

Judges (pure functions, so tests can feed them broken inputs): :func:`judge_bound`,
:func:`judge_lyapunov`, :func:`last_iterate_converges`, :func:`fit_tail_rate`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opdcheck.tolerances import (
    LAST_ITERATE_CONVERGED_RTOL,
    LYAPUNOV_PHI_FLOOR_RTOL,
    RATE_FIT_FLOOR_ABS,
    RATE_FIT_MIN_POINTS,
)

__all__ = ["Trajectory", "kl_rows_log", "expected_kl_log", "judge_bound", "bound_violations", "judge_lyapunov",
           "lyapunov_violations", "lyapunov_floor",
           "last_iterate_converges", "fit_tail_rate", "METRIC_NAMES"]

METRIC_NAMES = ("kl_star", "lam_err2", "error", "kl_hat_pred", "lam_hat_pred2", "constraint", "gap",
                "potential")


def kl_rows_log(p: np.ndarray, log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """Row-wise ``KL(p || q)`` from ``p``, ``log p`` and ``log q``, accurate near 0.

    Uses ``KL = sum_{p>0} p (d + expm1(-d)) + sum_{p=0} q`` with ``d = log p - log q`` (valid for
    normalised rows): every term is >= 0 and of order ``d^2``, so a KL of 1e-20 is not lost in the
    ~1e-16 cancellation of ``sum p d``. Needed to see the tail of linear convergence.
    """
    d = log_p - log_q
    if (p > 0).all() and (d > -30.0).all():  # the common case: the same terms as below, fewer numpy calls
        return (p * (d + np.expm1(-d))).sum(axis=-1)
    pos = p > 0
    d = np.where(pos, d, 0.0)
    q = np.exp(log_q)
    # for d << 0 (p << q) the expm1 form overflows; there p d + q - p has no cancellation problem
    small = d > -30.0
    near = p * (d + np.expm1(-np.where(small, d, 0.0)))
    far = p * d + q - p
    terms = np.where(pos, np.where(small, near, far), q)
    return terms.sum(axis=-1)


def expected_kl_log(rho: np.ndarray, p: np.ndarray, log_p: np.ndarray, log_q: np.ndarray) -> float:
    """``E_rho KL(p || q)`` via :func:`kl_rows_log`."""
    return float(rho @ kl_rows_log(p, log_p, log_q))


@dataclass
class Trajectory:
    """Per-step metrics of one run, the iterates asked for, and the configuration.

    Attributes
    ----------
    method : name of the configuration ("opd", "simultaneous-pd", "sequential-pd", ...).
    config : step sizes, dual convention, closed form, the t = 0 convention text, T, lam_init, ...
    metrics : name -> array over t = 0..n_steps (see module docstring).
    iterates : list of ``(t, pi_hat_t, lam_hat_t)`` kept every ``keep_every`` steps (and the last).
    n_steps : number of completed steps (``T``, fewer if stopped early or diverged).
    diverged : a non-finite value appeared; the run stopped at ``first_nonfinite``.
    first_nonfinite : first t whose state was non-finite (None if none).
    stop_reason : "T reached", "error below stop threshold", or "non-finite".
    final_log_pi_hat, final_lam_hat : the last finite state.
    """

    method: str
    config: dict
    metrics: dict[str, np.ndarray]
    iterates: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)
    n_steps: int = 0
    diverged: bool = False
    first_nonfinite: int | None = None
    stop_reason: str = "T reached"
    final_log_pi_hat: np.ndarray | None = None
    final_lam_hat: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def t(self) -> np.ndarray:
        return np.arange(len(self.metrics["error"]))

    @property
    def error(self) -> np.ndarray:
        """``E KL(pi*||pi_hat_t) + ||lam* - lam_hat_t||^2`` for t = 0..n_steps."""
        return self.metrics["error"]

    @property
    def potential(self) -> np.ndarray:
        return self.metrics["potential"]

    @property
    def final_pi_hat(self) -> np.ndarray | None:
        return None if self.final_log_pi_hat is None else np.exp(self.final_log_pi_hat)

    def summary(self) -> dict:
        e = self.error
        return {"method": self.method, "n_steps": self.n_steps, "diverged": self.diverged,
                "stop_reason": self.stop_reason, "error_0": float(e[0]), "error_last": float(e[-1])}


# ------------------------------------------------------------------------------------------ judges
def _bound_log_ratio(errors: np.ndarray, bounds: np.ndarray | None, log_bounds: np.ndarray | None) -> np.ndarray:
    """``log(errors[t] / bounds[t])`` per t, a non-finite error or bound (or a nan) as +inf."""
    errors = np.asarray(errors, dtype=np.float64)
    if log_bounds is None:
        if bounds is None:
            raise ValueError("judge_bound: pass bounds or log_bounds.")
        bounds = np.asarray(bounds, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_bounds = np.where(bounds > 0, np.log(np.where(bounds > 0, bounds, 1.0)), -np.inf)
        finite_b = np.isfinite(bounds)
    else:
        log_bounds = np.asarray(log_bounds, dtype=np.float64)
        finite_b = ~np.isnan(log_bounds) & (log_bounds < np.inf)
    if errors.shape != log_bounds.shape or errors.ndim != 1 or errors.size == 0:
        raise ValueError(f"judge_bound: errors {errors.shape} and bounds {log_bounds.shape}; pass two non-empty "
                         "1-d arrays of one shape.")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_e = np.where(errors > 0, np.log(np.where(errors > 0, errors, 1.0)), -np.inf)
        log_ratio = np.where(errors > 0, log_e - log_bounds, -np.inf)
    log_ratio = np.where(np.isfinite(errors) & finite_b, log_ratio, np.inf)
    log_ratio = np.where(np.isnan(log_ratio), np.inf, log_ratio)
    return log_ratio


def bound_violations(errors: np.ndarray, bounds: np.ndarray | None, rtol: float, *,
                     log_bounds: np.ndarray | None = None) -> np.ndarray:
    """Per t: does ``errors[t] <= bounds[t] (1 + rtol)`` fail? The one comparison :func:`judge_bound` and the
    studies that locate the first violation use (same inputs, same non-finite handling)."""
    return _over_bound(_bound_log_ratio(errors, bounds, log_bounds), rtol)


def _over_bound(log_ratio: np.ndarray, rtol: float) -> np.ndarray:
    return log_ratio > math.log1p(rtol)


def judge_bound(errors: np.ndarray, bounds: np.ndarray | None, rtol: float, *,
                log_bounds: np.ndarray | None = None) -> tuple[bool, float, int]:
    """Is ``errors[t] <= bounds[t] (1 + rtol)`` for every t? Returns ``(ok, worst_ratio, worst_t)``.

    ``worst_ratio = max_t errors[t] / bounds[t]``. Pass ``log_bounds`` (natural log) instead of
    ``bounds`` when the bound underflows float64 (``rho^t`` for large t): the comparison is then made
    in log space and ``worst_ratio`` may be ``inf`` only if the true ratio exceeds ~1e308. A
    non-finite error or bound is a failure (ratio inf), never skipped. Inputs must have one shape.
    """
    log_ratio = _bound_log_ratio(errors, bounds, log_bounds)
    k = int(np.argmax(log_ratio))
    with np.errstate(over="ignore"):
        worst = float(np.exp(log_ratio[k]))
    return bool(not _over_bound(log_ratio, rtol).any()), worst, k


def lyapunov_floor(potential: np.ndarray) -> float:
    """The floating-point floor of a potential: LYAPUNOV_PHI_FLOOR_RTOL x Phi_1 (0 for fewer than two values).
    Steps with Phi_t at or below it are not judged, and it is the absolute slack of the contraction test."""
    phi = np.asarray(potential, dtype=np.float64)
    return float(LYAPUNOV_PHI_FLOOR_RTOL * phi[1]) if phi.size > 1 else 0.0


def lyapunov_violations(potential: np.ndarray, rho: float, rtol: float, atol: float = 0.0,
                        start: int = 1) -> np.ndarray:
    """Per step ``t >= start``: does ``Phi_{t+1} <= rho Phi_t (1 + rtol) + atol`` fail (a non-finite Phi fails)?
    The one comparison :func:`judge_lyapunov` and the checks that count violations use."""
    phi = np.asarray(potential, dtype=np.float64)
    cur, nxt = phi[start:-1], phi[start + 1:]
    finite = np.isfinite(cur) & np.isfinite(nxt)
    with np.errstate(invalid="ignore"):
        return ~finite | (nxt > rho * cur * (1 + rtol) + atol)


def judge_lyapunov(potential: np.ndarray, rho: float, rtol: float, atol: float = 0.0,
                   start: int = 1) -> tuple[bool, float, int]:
    """Is ``Phi_{t+1} <= rho Phi_t (1 + rtol) + atol`` for every ``t >= start``?

    Returns ``(ok, worst_ratio, worst_t)`` with ``worst_ratio = max_t Phi_{t+1} / (rho Phi_t)``
    (only over steps where ``Phi_t > atol``, i.e. above the floating-point floor; a step with a
    non-finite Phi counts as a failure).
    """
    phi = np.asarray(potential, dtype=np.float64)
    if phi.ndim != 1 or phi.size < start + 2:
        raise ValueError(f"judge_lyapunov: potential has shape {phi.shape}; need >= {start + 2} values.")
    if not (0 < rho):
        raise ValueError(f"judge_lyapunov: rho = {rho!r}; pass rho > 0.")
    cur, nxt = phi[start:-1], phi[start + 1:]
    finite = np.isfinite(cur) & np.isfinite(nxt)
    use = finite & (cur > atol)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(use, nxt / (rho * np.where(use, cur, 1.0)), 0.0)
    ratio = np.where(finite, ratio, np.inf)
    viol = lyapunov_violations(phi, rho, rtol, atol, start)
    k = int(np.argmax(ratio))
    return bool(not viol.any()), float(ratio[k]), start + k


def last_iterate_converges(traj: "Trajectory | np.ndarray", *, rtol: float = LAST_ITERATE_CONVERGED_RTOL,
                           window: float = 0.2) -> tuple[bool, dict]:
    """Does the last iterate converge? Judged on the error sequence ``e_t``.

    Converges iff the run did not diverge and the largest error over the last ``window`` fraction
    of the run is below ``rtol * max_t e_t``. A sequence that oscillates (a limit cycle) or grows
    fails. Returns ``(ok, info)``.
    """
    if isinstance(traj, Trajectory):
        if traj.diverged:
            return False, {"reason": f"non-finite at t = {traj.first_nonfinite}"}
        e = traj.error
    else:
        e = np.asarray(traj, dtype=np.float64)
    if e.size < 5:
        raise ValueError(f"last_iterate_converges: only {e.size} error values; run at least 5 steps.")
    if not np.all(np.isfinite(e)):
        return False, {"reason": "non-finite error"}
    tail = e[int((1 - window) * (e.size - 1)):]
    scale = float(np.max(e))
    tail_max = float(np.max(tail))
    ok = tail_max <= rtol * scale
    return bool(ok), {"tail_max": tail_max, "scale": scale, "rtol": rtol,
                      "tail_min": float(np.min(tail)), "final": float(e[-1])}


def fit_tail_rate(errors: np.ndarray, *, floor: float = RATE_FIT_FLOOR_ABS, tail: float = 0.5,
                  min_points: int = RATE_FIT_MIN_POINTS) -> dict:
    """Least-squares geometric rate of ``errors`` on its tail, before it reaches ``floor``.

    Keeps ``t`` with ``errors[t] > floor`` (the first hit of the floor truncates), takes the last
    ``tail`` fraction of those and fits ``log e_t = a + t log r``. Returns ``{"rate": r, "t0", "t1",
    "points", "r2", "halves", "spread"}`` (``halves``: rates fitted on each half of the window,
    ``spread`` their difference); ``rate`` is NaN when fewer than ``min_points`` points remain.
    """
    e = np.asarray(errors, dtype=np.float64)
    below = np.flatnonzero(~(e > floor))
    stop = int(below[0]) if below.size else e.size
    t1 = stop
    t0 = int(t1 - max(min_points, int(tail * t1)))
    t0 = max(t0, 0)
    ts = np.arange(t0, t1)
    if ts.size < min_points:
        return {"rate": float("nan"), "t0": t0, "t1": t1, "points": int(ts.size), "r2": float("nan"),
                "halves": [], "spread": float("nan")}
    y = np.log(e[ts])
    A = np.vstack([np.ones_like(ts, dtype=float), ts.astype(float)]).T
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss if ss > 0 else 1.0
    # spread: the rates fitted on the two halves of the window (transients or oscillating modes show here)
    half = ts.size // 2
    halves = []
    for part in (slice(0, half), slice(half, ts.size)):
        if ts[part].size >= 2:
            halves.append(float(np.exp(np.polyfit(ts[part].astype(float), y[part], 1)[0])))
    spread = float(abs(halves[0] - halves[1])) if len(halves) == 2 else float("nan")
    return {"rate": float(np.exp(coef[1])), "t0": t0, "t1": t1, "points": int(ts.size), "r2": r2,
            "halves": halves, "spread": spread}
