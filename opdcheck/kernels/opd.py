"""Algorithm 2 (OPD in distribution space) and the one generic primal-dual driver it shares with the baselines.

Public API (stable; other subsystems call these)::

    run_opd(problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
            closed_form="derived", keep_every=0, stop_below=None) -> Trajectory
    run_primal_dual(problem, *, prediction, eta_th, eta_lam, T, dual_step="prox", lam_init=None,
                    saddle=None, closed_form="derived", keep_every=0, stop_below=None,
                    method=None) -> Trajectory
    thm34_step_sizes(problem) -> (eta_th, eta_lam) = (3 sqrt(h) R_max, 3 sqrt(h) R_max)
    PREDICTIONS = tuple(PREDICTION_RULES)  # ("optimistic", "none", "alternating")

One step of the generic driver, from state ``(pi_hat_t, lam_hat_t)`` and the previous predictions
``(pi_{t-1}, lam_{t-1})``::

    prediction (pi_t, lam_t):
      "optimistic"  (Alg. 2, OPD):     pi_t = P(pi_hat_t, lam_{t-1})   eq. (4)
                                        lam_t = D(lam_hat_t, c(pi_{t-1})) eq. (5)
      "none"        (Jacobi / simultaneous PD, Fig. 1's PD):  pi_t = pi_hat_t, lam_t = lam_hat_t
      "alternating" (sequential PD, Alg. 1):  pi_t = P(pi_hat_t, lam_hat_t), lam_t = lam_hat_t
    actual update:
      pi_hat_{t+1} = P(pi_hat_t, lam_t)       eq. (6)
      lam_hat_{t+1} = D(lam_hat_t, c(pi_t))   eq. (7)

with ``P`` = :func:`~opdcheck.kernels.rules.primal_mirror_step` (the maximiser of
``L(., lam) - eta_th E KL(. || pi_hat_t)``, step ``1/(eta_th + beta)``) and ``D`` =
:func:`~opdcheck.kernels.rules.dual_step` (``[lam_hat - s c]_+`` with ``s = 1/(2 eta_lam)`` for
``"prox"``, ``1/eta_lam`` for ``"gradient"``). Alternating: ``pi_hat_{t+1} = pi_t`` and the dual
step uses the new policy (Algorithm 1). ``eta_th = 0`` with ``beta > 0`` makes ``P`` the exact best
response (one-shot).

**t = 0 convention** (the paper leaves ``pi_{-1}, lam_{-1}`` undefined): ``pi_hat_0 = pi_ref``,
``lam_hat_0 = lam_init`` (default 0), ``pi_{-1} = pi_hat_0``, ``lam_{-1} = lam_hat_0``. Stated in
``Trajectory.config["t0_convention"]``.

Example
-------
>>> from opdcheck.instances import paper_toy
>>> tr = run_opd(paper_toy(), eta_th=3.0, eta_lam=3.0, T=2000)
>>> bool(tr.error[-1] < 1e-12 * tr.error[0])
True
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from opdcheck.kernels.potential import potential as _potential
from opdcheck.kernels.potential import thm34_constants
from opdcheck.kernels.rules import dual_step as _dual_step
from opdcheck.kernels.rules import PREDICTION_RULES, MirrorStep, PrimalStep, validate_batch_steps, validate_steps
from opdcheck.kernels.trajectory import Trajectory, kl_rows_log
from opdcheck.problem import Problem
from opdcheck.tolerances import SADDLE_ROW_SUM_ATOL

if TYPE_CHECKING:
    from opdcheck.kernels.dual_rules import DualRule

__all__ = ["run_opd", "run_primal_dual", "thm34_step_sizes", "PREDICTIONS", "T0_CONVENTION",
           "default_saddle"]

PREDICTIONS = tuple(PREDICTION_RULES)  # ("optimistic", "none", "alternating")

T0_CONVENTION = ("t = 0: pi_hat_0 = pi_ref, lam_hat_0 = lam_init; the undefined previous predictions "
                 "are set to pi_{-1} = pi_hat_0 and lam_{-1} = lam_hat_0")


def thm34_step_sizes(problem: Problem) -> tuple[float, float]:
    """Thm 3.4's example step sizes ``eta_th = eta_lam = 3 sqrt(|H|) R_max``."""
    e = 3.0 * math.sqrt(problem.h) * problem.R_max
    return e, e


def default_saddle(problem: Problem):
    """The saddle point from the dual Newton method (numpy only; kernels never import cvxpy).

    For ``beta = 0`` pass ``saddle=`` explicitly (e.g. from ``opdcheck.numerics.saddle.solve_saddle``).
    """
    if problem.beta <= 0:
        raise ValueError(f"saddle: problem {problem.name!r} has beta = 0; the closed-form dual route needs "
                         "beta > 0. Pass saddle=solve_saddle(problem) (opdcheck.numerics.saddle).")
    from opdcheck.numerics.dual import solve_dual_newton

    return solve_dual_newton(problem)


def _check_run_budget(problem: Problem, T: int, who: str) -> None:
    """Refuse, before any step, a run that cannot finish: more steps than ``max_run_steps()`` (a bound on
    waiting the user can raise), or per-step metrics that would not fit in the memory limit."""
    from opdcheck.resources import format_bytes, max_run_steps, memory_limit

    cap, source = max_run_steps()
    if T > cap:
        raise ValueError(f"{who}: T = {T} steps, above the limit {cap} ({source}; each step costs O(X n (h + K)) "
                         "work, ~10-100 us on a small instance, so this run would take hours); pass a smaller T, or "
                         f"raise the limit with the environment variable OPDCHECK_MAX_STEPS.")
    need = 8 * (T + 1) * (8 + 2 * problem.h)  # the per-step metrics the trajectory keeps, and derived arrays
    limit, lsource = memory_limit(None)
    if limit is not None and need > limit:
        raise ValueError(f"{who}: T = {T} steps keep per-step metrics of about {format_bytes(need)}, over the memory "
                         f"limit {format_bytes(limit)} ({lsource}); pass a smaller T or raise OPDCHECK_MEMORY_LIMIT.")


def validate_run(problem: Problem, *, eta_th, eta_lam, T, dual_step, lam_init, saddle, closed_form,
                 stop_below, prediction, who: str):
    """The inputs every OPD/PD driver (numpy reference and Numba kernel) shares, validated once.

    Returns ``(eta_th, eta_lam, T, pi*, lam*, lam_hat_0)``; errors name the field, the value and the fix.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"{who}: problem = {problem!r:.60} is a {type(problem).__name__}, not an "
                         "opdcheck.problem.Problem; build one with Problem(...), paper_toy(), random_instance(...) "
                         "or load_problem(path).")
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction: {prediction!r}; choose one of {PREDICTIONS}.")
    if np.ndim(eta_th) == 0 and np.ndim(eta_lam) == 0:
        eta_th, eta_lam = validate_steps(eta_th, eta_lam, problem.beta, dual_convention=dual_step,
                                         closed_form=closed_form, who=who)
    else:  # a batch of cells: a scalar weight is shared by every cell
        C = max(np.size(eta_th), np.size(eta_lam))
        eta_th, eta_lam = validate_batch_steps(np.broadcast_to(np.asarray(eta_th, dtype=np.float64), (C,)).copy()
                                               if np.ndim(eta_th) == 0 else eta_th,
                                               np.broadcast_to(np.asarray(eta_lam, dtype=np.float64), (C,)).copy()
                                               if np.ndim(eta_lam) == 0 else eta_lam,
                                               problem.beta, dual_convention=dual_step, closed_form=closed_form,
                                               who=who)
    if isinstance(T, (bool, np.bool_)) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T: {T!r}; pass an integer number of steps >= 1.")
    _check_run_budget(problem, int(T), who)
    if stop_below is not None and not (stop_below >= 0):
        raise ValueError(f"stop_below: {stop_below!r}; pass None or a float >= 0.")
    pi_s, lam_s = _check_saddle(problem, saddle)
    return eta_th, eta_lam, int(T), pi_s, lam_s, _check_lam_init(problem, lam_init)


def _check_saddle(problem: Problem, saddle) -> tuple[np.ndarray, np.ndarray]:
    if saddle is None:
        saddle = default_saddle(problem)
    try:
        pi_s = np.asarray(saddle.pi, dtype=np.float64)
        lam_s = np.asarray(saddle.lam, dtype=np.float64).reshape(-1)
    except AttributeError:
        raise ValueError("saddle: pass an object with .pi (X, n) and .lam (h,), e.g. a SaddlePoint.") from None
    if pi_s.shape != (problem.X, problem.n) or lam_s.shape != (problem.h,):
        raise ValueError(f"saddle: pi {pi_s.shape}, lam {lam_s.shape}; expected ({problem.X}, {problem.n}) "
                         f"and ({problem.h},) for problem {problem.name!r}.")
    # the metrics compare every iterate with (pi*, lam*): a NaN, a negative mass or an unnormalised row would
    # give NaN or meaningless finite metrics, never an error, so the saddle point is checked like an instance
    bad = np.argwhere(~np.isfinite(pi_s) | (pi_s < 0))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise ValueError(f"saddle.pi: entry {idx} is {float(pi_s[idx])!r}; pass a policy with finite entries >= 0 "
                         "in every row, e.g. solve_saddle(problem) (opdcheck.numerics.saddle).")
    row_err = np.abs(pi_s.sum(axis=1) - 1.0)
    if row_err.max() > SADDLE_ROW_SUM_ATOL:
        x = int(row_err.argmax())
        raise ValueError(f"saddle.pi: row {x} sums to {float(pi_s[x].sum())!r}, not 1 (tolerance "
                         f"{SADDLE_ROW_SUM_ATOL}); pass a policy (each row on the simplex), e.g. solve_saddle(problem).")
    if not np.all(np.isfinite(lam_s)) or np.any(lam_s < 0):
        raise ValueError(f"saddle.lam: {lam_s.tolist()}; pass {problem.h} finite multipliers >= 0 (lam* of the "
                         "constrained problem), e.g. solve_saddle(problem).lam.")
    return pi_s, lam_s


def require_scalar_steps(eta_th, eta_lam, who: str) -> None:
    """The single-run drivers take one (eta_th, eta_lam); a batch of cells goes to the batch kernels."""
    for name, v in (("eta_th", eta_th), ("eta_lam", eta_lam)):
        if np.ndim(v) != 0:
            raise ValueError(f"{who}: {name} = {np.asarray(v).tolist()!r:.80} is an array of shape {np.shape(v)}; "
                             "this driver runs one step-size pair: pass a float (for a batch of cells use "
                             "opdcheck.kernels.opd.run_primal_dual, which accepts arrays).")


def _check_lam_init(problem: Problem, lam_init) -> np.ndarray:
    if lam_init is None:
        return np.zeros(problem.h)
    lam0 = np.asarray(lam_init, dtype=np.float64).reshape(-1)
    if lam0.shape != (problem.h,) or not np.all(np.isfinite(lam0)) or np.any(lam0 < 0):
        raise ValueError(f"lam_init: {lam0.tolist()}; pass {problem.h} finite non-negative multipliers "
                         "(lam_hat_0 >= 0, Algorithm 2's input).")
    return lam0


def run_primal_dual(problem: Problem, *, prediction: str, eta_th: float, eta_lam: float, T: int,
                    dual_step: str = "prox", lam_init=None, saddle=None, closed_form: str = "derived",
                    keep_every: int = 0, stop_below: float | None = None,
                    method: str | None = None, primal: PrimalStep | None = None,
                    dual: "DualRule | None" = None) -> Trajectory:
    """The one primal-dual driver; the prediction rule names the method (see the module docstring).

    Parameters
    ----------
    prediction : "optimistic" (OPD, Alg. 2), "none" (simultaneous/Jacobi PD), "alternating" (sequential PD).
    eta_th : primal KL-proximal weight, >= 0 (step ``1/(eta_th + beta)``).
    eta_lam : dual proximal weight, > 0 (step ``1/(2 eta_lam)`` "prox" or ``1/eta_lam`` "gradient").
    T : number of steps (>= 1).
    saddle : object with ``.pi`` and ``.lam`` (default: dual Newton, beta > 0 only).
    keep_every : keep ``(t, pi_hat_t, lam_hat_t)`` every k steps (0: keep only the last).
    eta_th, eta_lam as 1-d arrays of ``C`` cells (a scalar is shared by the cells): a **batch**. The states are
        stacked on a leading axis and every step is this function's step (``_advance``/``_evaluate``, the rules
        broadcasting over the cells); each cell stops on its own (non-finite step not committed, ``stop_below``)
        while the others run on. Returns a list of ``C`` trajectories, cell ``i`` equal to the run at
        ``(eta_th[i], eta_lam[i])``. Needs the projected dual step (``dual=None``), ``keep_every = 0`` and a
        primal step with a batch axis (``MirrorStep``/``KStepMirror`` built with the array, as ``run_config`` does).
    stop_below : stop once ``error_t <= stop_below * error_0`` (None: run all T steps).
    primal : the primal step (:class:`~opdcheck.kernels.rules.PrimalStep`); default the distributional
        KL-proximal step :class:`~opdcheck.kernels.rules.MirrorStep` at ``eta_th`` (Alg. 2). Algorithm 3
        passes a parameterized step whose state is theta; the driver is the same. A step whose
        ``constraint_estimate(state)`` returns an array (e.g. a sampled estimate, ``kernels/stochastic.py``)
        feeds that estimate to the dual step; the recorded metrics always use the exact ``c(pi)``.
    dual : a stateful multiplier rule (:class:`~opdcheck.kernels.dual_rules.DualRule`); default (None) the
        projected step ``D`` above at ``eta_lam``. The rule's state advances only on the actual update
        ``lam_hat_{t+1}``; OPD's prediction (5) evaluates the rule on the current state and discards the
        new state (see ``kernels/dual_rules.py`` for why). ``eta_lam`` is then only recorded.
    """
    eta_th, eta_lam, T, pi_s, lam_s, lam0 = validate_run(
        problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, lam_init=lam_init, saddle=saddle,
        closed_form=closed_form, stop_below=stop_below, prediction=prediction, who=method or prediction)
    if not isinstance(keep_every, (int, np.integer)) or keep_every < 0:
        raise ValueError(f"keep_every: {keep_every!r}; pass an integer >= 0 (0 keeps only the last iterate).")
    method = method or {"optimistic": "opd", "none": "simultaneous-pd", "alternating": "sequential-pd"}[prediction]
    batch = np.ndim(eta_th) == 1
    if batch and (dual is not None or keep_every):
        raise ValueError(f"{method}: a batch of step sizes (eta_th, eta_lam arrays) runs the projected dual step "
                         "and keeps only the last iterate; pass dual=None and keep_every=0, or run the cells one by one.")
    if batch and primal is not None and np.ndim(getattr(primal, "eta_th", 0.0)) != 1:
        raise ValueError(f"{method}: primal = {type(primal).__name__} has no batch axis; pass a MirrorStep or "
                         "KStepMirror built with the array of eta_th, or run the cells one by one.")

    rule = PREDICTION_RULES[prediction]
    rho = problem.rho
    beta = problem.beta
    with np.errstate(divide="ignore"):
        log_pi_s = np.log(pi_s)
    kl_s_ref = float(rho @ kl_rows_log(pi_s, log_pi_s, problem.log_pi_ref))
    r_s = float(np.einsum("x,xn,xn->", rho, pi_s, problem.r))
    c_s = problem.constraint_values(pi_s)

    if primal is None:
        primal = MirrorStep(problem, eta_th, closed_form)
    elif not isinstance(primal, PrimalStep):
        raise ValueError(f"primal: {type(primal).__name__}; pass a PrimalStep (opdcheck.kernels.rules) or None.")
    P = primal.step
    logpi = primal.log_policy

    if dual is None:
        def D(lam_hat, c):
            return _dual_step(lam_hat, c, eta_lam, convention=dual_step)

        def D_commit(dstate, lam_hat, c):
            return D(lam_hat, c), dstate
        dstate = None
    else:
        if not (hasattr(dual, "init") and hasattr(dual, "update")):
            raise ValueError(f"dual: {type(dual).__name__}; pass a DualRule (opdcheck.kernels.dual_rules) or None.")
        dstate = dual.init(lam0.copy())
        dual_box = [dstate]

        def D(lam_hat, c):  # prediction: evaluate on the committed state, discard the new state
            return dual.update(dual_box[0], lam_hat, c)[0]

        def D_commit(dstate, lam_hat, c):
            return dual.update(dstate, lam_hat, c)

    estimate = getattr(primal, "constraint_estimate", None)

    def c_dual(s, c_exact):
        """The constraint value the dual step sees: the primal's estimate if it has one, else exact."""
        est = None if estimate is None else estimate(s)
        return c_exact if est is None else np.asarray(est, dtype=np.float64)

    n = T + 1
    cells = (eta_th.shape[0],) if batch else ()  # the batch axis: metrics are (T + 1, C), states (C, ...)
    m = {k: np.zeros((n,) + cells) for k in ("kl_star", "lam_err2", "kl_hat_pred", "lam_hat_pred2", "gap")}
    m["constraint"] = np.zeros((n,) + cells + (problem.h,))
    iterates: list = []
    if batch:
        def constraint_values(pi):  # c_j per cell: Problem.constraint_values with the cells on axis 0
            return np.einsum("x,cxn,jxn->cj", rho, pi, problem.R_hard)

        def e_rho(rows):  # E_rho of per-row values, per cell
            return rows @ rho

        def rho_r(pi):
            return np.einsum("x,cxn,xn->c", rho, pi, problem.r)
    else:
        constraint_values = problem.constraint_values

        def e_rho(rows):
            return rho @ rows

        def rho_r(pi):
            return float(np.einsum("x,xn,xn->", rho, pi, problem.r))

    def record(t, log_hat, pi_hat, lam_hat, c_hat, log_prev, lam_prev):
        m["kl_star"][t] = e_rho(kl_rows_log(pi_s, log_pi_s, log_hat))
        m["lam_err2"][t] = np.sum((lam_s - lam_hat) ** 2, axis=-1)
        m["kl_hat_pred"][t] = e_rho(kl_rows_log(pi_hat, log_hat, log_prev))
        m["lam_hat_pred2"][t] = np.sum((lam_hat - lam_prev) ** 2, axis=-1)
        m["constraint"][t] = c_hat
        # L(pi*, lam_hat) - L(pi_hat, lam*) >= 0 at a saddle point
        kl_hat_ref = e_rho(kl_rows_log(pi_hat, log_hat, problem.log_pi_ref))
        r_hat = rho_r(pi_hat)
        m["gap"][t] = (r_s + lam_hat @ c_s - beta * kl_s_ref) - (r_hat + c_hat @ lam_s - beta * kl_hat_ref)
        if keep_every and t % keep_every == 0:
            iterates.append((t, pi_hat.copy(), lam_hat.copy()))

    s_hat = primal.init_state(problem)
    log_hat = logpi(s_hat)
    lam_hat = np.broadcast_to(lam0, cells + lam0.shape).copy()
    pi_hat = np.exp(log_hat)
    cx_hat = constraint_values(pi_hat)
    c_hat = c_dual(s_hat, cx_hat)
    # t = 0 convention: previous predictions equal the initial state
    s_prev, log_prev, lam_prev, c_prev = s_hat, log_hat, lam_hat, c_hat
    record(0, log_hat, pi_hat, lam_hat, cx_hat, log_prev, lam_prev)
    err0 = m["kl_star"][0] + m["lam_err2"][0]
    threshold = None if stop_below is None else stop_below * err0

    if batch:
        return _run_cells(T, rule, P, D, logpi, constraint_values, record, m, threshold, prediction,
                          s_hat, log_hat, lam_hat, pi_hat, c_hat, cx_hat, dict(
                              problem=problem, eta_th=eta_th, eta_lam=eta_lam, dual_step=dual_step,
                              closed_form=closed_form, lam0=lam0, stop_below=stop_below, method=method,
                              primal=primal, pi_s=pi_s, lam_s=lam_s))

    done = 0
    diverged, first_bad, reason = False, None, "T reached"
    for t in range(T):
        (s_pred, log_pred, pi_pred, lam_pred, c_pred, cx_pred), (s_new, log_new, lam_new, dstate_new) = _advance(
            rule, P, D, D_commit, logpi, constraint_values, c_dual, prediction, dstate,
            s_hat, log_hat, pi_hat, lam_hat, c_hat, cx_hat, s_prev, lam_prev, c_prev)
        if not (np.all(np.isfinite(log_new)) and np.all(np.isfinite(lam_new))):
            diverged, first_bad, reason = True, t + 1, "non-finite"
            break
        pi_new, cx_new, c_new = _evaluate(s_new, log_new, s_pred, pi_pred, cx_pred, c_pred, constraint_values, c_dual)
        with np.errstate(over="ignore", invalid="ignore"):
            record(t + 1, log_new, pi_new, lam_new, cx_new, log_pred, lam_pred)
        e = m["kl_star"][t + 1] + m["lam_err2"][t + 1]
        if not math.isfinite(e):  # e.g. lam overflows when squared: stop before committing the step
            diverged, first_bad, reason = True, t + 1, "non-finite"
            break
        s_hat, log_hat, lam_hat, pi_hat, c_hat, cx_hat = s_new, log_new, lam_new, pi_new, c_new, cx_new
        s_prev, log_prev, lam_prev, c_prev = s_pred, log_pred, lam_pred, c_pred
        dstate = dstate_new
        if dual is not None:
            dual_box[0] = dstate
        done = t + 1
        if threshold is not None and e <= threshold:
            reason = "error below stop threshold"
            break

    return _trajectory(problem, m, done, iterates, pi_hat, lam_hat, log_hat, s_hat, dstate, diverged, first_bad,
                       reason, eta_th=eta_th, eta_lam=eta_lam, dual_step=dual_step, closed_form=closed_form, T=T,
                       lam0=lam0, stop_below=stop_below, method=method, prediction=prediction, primal=primal,
                       dual=dual, pi_s=pi_s, lam_s=lam_s)


def _advance(rule, P, D, D_commit, logpi, constraint_values, c_dual, prediction, dstate,
             s_hat, log_hat, pi_hat, lam_hat, c_hat, cx_hat, s_prev, lam_prev, c_prev):
    """One step of the driver up to the new state: the prediction ``(pi_t, lam_t)`` with its policy and
    constraint values, and ``(pi_hat_{t+1}, lam_hat_{t+1})`` (module docstring). Shapes as given: one run,
    or the cells of a batch on axis 0 (then every rule broadcasts over the cells)."""
    s_pred, lam_pred = rule(P, D, s_hat, lam_hat, s_prev, lam_prev, c_prev)
    if s_pred is s_hat:
        log_pred, pi_pred, c_pred, cx_pred = log_hat, pi_hat, c_hat, cx_hat
    else:
        log_pred = logpi(s_pred)
        pi_pred = np.exp(log_pred)
        cx_pred = constraint_values(pi_pred)
        c_pred = c_dual(s_pred, cx_pred)
    # alternating: the prediction already is P(pi_hat_t, lam_t) (lam_t = lam_hat_t); do not recompute
    s_new = s_pred if prediction == "alternating" else P(s_hat, lam_pred)
    lam_new, dstate_new = D_commit(dstate, lam_hat, c_pred)
    log_new = log_pred if s_new is s_pred else logpi(s_new)
    return (s_pred, log_pred, pi_pred, lam_pred, c_pred, cx_pred), (s_new, log_new, lam_new, dstate_new)


def _evaluate(s_new, log_new, s_pred, pi_pred, cx_pred, c_pred, constraint_values, c_dual):
    """The new state's policy and constraint values (the prediction's, when they are the same state)."""
    if s_new is s_pred:
        return pi_pred, cx_pred, c_pred
    pi_new = np.exp(log_new)
    cx_new = constraint_values(pi_new)
    return pi_new, cx_new, c_dual(s_new, cx_new)


def _run_cells(T, rule, P, D, logpi, constraint_values, record, m, threshold, prediction,
               s_hat, log_hat, lam_hat, pi_hat, c_hat, cx_hat, cfg) -> list[Trajectory]:
    """The driver's loop over a batch of cells (states stacked on axis 0): the same :func:`_advance` and
    :func:`_evaluate` as one run, and per cell the one run's rules for divergence (a non-finite state or error
    stops the cell, the step not committed) and for ``stop_below``. A stopped cell's state is frozen (the
    batch keeps stepping the others); its metrics end at its last committed step. Returns one
    :class:`Trajectory` per cell."""
    C = lam_hat.shape[0]
    s_prev, log_prev, lam_prev, c_prev = s_hat, log_hat, lam_hat, c_hat
    active = np.ones(C, dtype=bool)
    done = np.zeros(C, dtype=np.int64)
    first_bad = np.zeros(C, dtype=np.int64)
    stopped = np.zeros(C, dtype=bool)

    def D_commit(dstate, lam_hat, c):
        return D(lam_hat, c), dstate

    def c_dual(s, c_exact):
        return c_exact

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(T):
            (s_pred, log_pred, pi_pred, lam_pred, c_pred, cx_pred), (s_new, log_new, lam_new, _) = _advance(
                rule, P, D, D_commit, logpi, constraint_values, c_dual, prediction, None,
                s_hat, log_hat, pi_hat, lam_hat, c_hat, cx_hat, s_prev, lam_prev, c_prev)
            finite = np.all(np.isfinite(log_new), axis=(1, 2)) & np.all(np.isfinite(lam_new), axis=1)
            pi_new, cx_new, c_new = _evaluate(s_new, log_new, s_pred, pi_pred, cx_pred, c_pred, constraint_values,
                                              c_dual)
            record(t + 1, log_new, pi_new, lam_new, cx_new, log_pred, lam_pred)
            e = m["kl_star"][t + 1] + m["lam_err2"][t + 1]
            bad = active & ~(finite & np.isfinite(e))
            first_bad[bad] = t + 1
            commit = active & ~bad
            active = commit.copy()
            done[commit] = t + 1

            def keep(new, old, k=commit):
                return np.where(k.reshape((C,) + (1,) * (np.ndim(new) - 1)), new, old)
            s_hat, log_hat, lam_hat, pi_hat, c_hat, cx_hat = (keep(s_new, s_hat), keep(log_new, log_hat),
                                                               keep(lam_new, lam_hat), keep(pi_new, pi_hat),
                                                               keep(c_new, c_hat), keep(cx_new, cx_hat))
            s_prev, log_prev, lam_prev, c_prev = (keep(s_pred, s_prev), keep(log_pred, log_prev),
                                                  keep(lam_pred, lam_prev), keep(c_pred, c_prev))
            if threshold is not None:
                below = commit & (e <= threshold)
                stopped |= below
                active &= ~below
            if not active.any():
                break
    out = []
    for i in range(C):
        mi = {k: v[:, i] for k, v in m.items()}
        bad = bool(first_bad[i])
        reason = "non-finite" if bad else ("error below stop threshold" if stopped[i] else "T reached")
        out.append(_trajectory(cfg["problem"], mi, int(done[i]), [], pi_hat[i], lam_hat[i], log_hat[i], s_hat[i],
                               None, bad, int(first_bad[i]) if bad else None, reason,
                               eta_th=float(cfg["eta_th"][i]), eta_lam=float(cfg["eta_lam"][i]),
                               dual_step=cfg["dual_step"], closed_form=cfg["closed_form"], T=T, lam0=cfg["lam0"],
                               stop_below=cfg["stop_below"], method=cfg["method"], prediction=prediction,
                               primal=cfg["primal"], dual=None, pi_s=cfg["pi_s"], lam_s=cfg["lam_s"]))
    return out


def _trajectory(problem, m, done, iterates, pi_hat, lam_hat, log_hat, s_hat, dstate, diverged, first_bad, reason, *,
                eta_th, eta_lam, dual_step, closed_form, T, lam0, stop_below, method, prediction, primal, dual,
                pi_s, lam_s) -> Trajectory:
    """The :class:`Trajectory` of one run (or one cell of a batch) from its metrics up to step ``done``."""
    beta = problem.beta
    metrics = {k: v[: done + 1].copy() for k, v in m.items()}
    metrics["error"] = metrics["kl_star"] + metrics["lam_err2"]
    consts = thm34_constants(problem, eta_th, eta_lam) if problem.R_max > 0 else None
    metrics["potential"] = _potential(metrics, consts) if consts else np.full(done + 1, np.nan)
    iterates = [it for it in iterates if it[0] <= done]  # a non-committed (non-finite) step is dropped
    if not iterates or iterates[-1][0] != done:
        iterates.append((done, pi_hat.copy(), lam_hat.copy()))
    s_conv = 1.0 / (2 * eta_lam) if dual_step == "prox" else 1.0 / eta_lam
    config = {
        "method": method, "prediction": prediction, "eta_th": eta_th, "eta_lam": eta_lam,
        "primal_step": 1.0 / (eta_th + beta), "dual_step": dual_step, "dual_step_size": s_conv,
        "closed_form": closed_form, "T": T, "lam_init": lam0.tolist(), "t0_convention": T0_CONVENTION,
        "stop_below": stop_below, "beta": beta, "problem": problem.name,
        "potential_constants": "Thm 3.4 proof, C1 = C2 = C = sqrt(h) R_max, delta = theta = 3/4",
        **primal.describe(),
        **(dual.describe() if dual is not None else {"dual_rule": "projected-gradient (eta_lam, " + dual_step + ")"}),
    }
    return Trajectory(method=method, config=config, metrics=metrics, iterates=iterates, n_steps=done,
                      diverged=diverged, first_nonfinite=first_bad, stop_reason=reason,
                      final_log_pi_hat=log_hat.copy(), final_lam_hat=lam_hat.copy(),
                      extra={"pi_star": pi_s, "lam_star": lam_s, "final_primal_state": s_hat,
                             "final_dual_state": dstate})


def run_opd(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox",
            lam_init=None, saddle=None, closed_form: str = "derived", keep_every: int = 0,
            stop_below: float | None = None) -> Trajectory:
    """Algorithm 2 (OPD in distribution space), eqs. (4)-(7), numpy reference implementation.

    Problem: ``min_{lam >= 0} max_pi L(pi, lam)`` (paper §2). Update: eqs. (4)-(7) with the closed
    forms of ``kernels/rules.py``; the t = 0 convention ``pi_{-1} = pi_hat_0 = pi_ref``,
    ``lam_{-1} = lam_hat_0 = lam_init`` (default 0). Claim checked elsewhere: Thm 3.4 (linear
    last-iterate convergence at ``eta_th = eta_lam = 3 sqrt(h) R_max``, see :func:`thm34_step_sizes`).
    """
    return run_primal_dual(problem, prediction="optimistic", eta_th=eta_th, eta_lam=eta_lam, T=T,
                           dual_step=dual_step, lam_init=lam_init, saddle=saddle, closed_form=closed_form,
                           keep_every=keep_every, stop_below=stop_below, method="opd")
