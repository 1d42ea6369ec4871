"""Baselines as named configurations of the one driver :func:`opdcheck.kernels.opd.run_primal_dual`.

Public API (stable; other subsystems call these)::

    run_simultaneous_pd(problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
                        keep_every=0, stop_below=None) -> Trajectory
    run_sequential_pd(problem, *, eta_th, eta_lam, T, dual_step="prox", lam_init=None, saddle=None,
                      keep_every=0, stop_below=None) -> Trajectory
    run_one_shot(problem, *, eta_lam, T, dual_step="gradient", ...) -> Trajectory
    run_method(name, problem, **kwargs) -> Trajectory      # name in METHODS
    METHODS = {"opd": ..., "simultaneous-pd": ..., "sequential-pd": ..., "one-shot": ...}

* **simultaneous PD** (Jacobi gradient descent-ascent; the "PD" of Fig. 1): both players step from
  the same state, ``pi_hat_{t+1} = P(pi_hat_t, lam_hat_t)``, ``lam_hat_{t+1} = D(lam_hat_t, c(pi_hat_t))``.
  The first baseline and the negative control of last-iterate convergence.
* **sequential PD** (Algorithm 1, alternating / Gauss-Seidel): primal first, then the dual step uses
  the *new* policy, ``pi_hat_{t+1} = P(pi_hat_t, lam_hat_t)``, ``lam_hat_{t+1} = D(lam_hat_t, c(pi_hat_{t+1}))``.
  Any ``eta_th >= 0`` (``eta_th + beta > 0``) and any dual step; ``beta`` may be tiny.
* **one-shot** (Algorithm 1 with the closed-form oracle (3)): sequential PD with ``eta_th = 0``,
  i.e. projected gradient descent on the dual function ``D``.

``P`` is the KL-proximal step of eqs. (4)/(6) (step ``1/(eta_th + beta)``), ``D`` the projected dual
step (``"prox"``: ``[lam - c/(2 eta_lam)]_+``; ``"gradient"``: ``[lam - c/eta_lam]_+``).
Fig. 1's steps are ``1/(eta_th + beta) = 0.6`` and dual step 0.6 (``eta_lam^{-1} = 0.6`` in the
``"gradient"`` convention of Algorithm 3).
"""
from __future__ import annotations

from typing import Callable

from opdcheck.kernels.opd import run_opd, run_primal_dual
from opdcheck.kernels.trajectory import Trajectory
from opdcheck.problem import Problem

__all__ = ["run_simultaneous_pd", "run_sequential_pd", "run_one_shot", "run_method", "METHODS", "describe_methods"]


def run_simultaneous_pd(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox",
                        lam_init=None, saddle=None, keep_every: int = 0,
                        stop_below: float | None = None) -> Trajectory:
    """Simultaneous (Jacobi) primal-dual: OPD's steps without optimism (prediction = current state)."""
    return run_primal_dual(problem, prediction="none", eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step,
                           lam_init=lam_init, saddle=saddle, keep_every=keep_every, stop_below=stop_below,
                           method="simultaneous-pd")


def run_sequential_pd(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str = "prox",
                      lam_init=None, saddle=None, keep_every: int = 0,
                      stop_below: float | None = None) -> Trajectory:
    """Sequential (alternating) primal-dual, Algorithm 1: primal step, then dual step on the new policy."""
    return run_primal_dual(problem, prediction="alternating", eta_th=eta_th, eta_lam=eta_lam, T=T,
                           dual_step=dual_step, lam_init=lam_init, saddle=saddle, keep_every=keep_every,
                           stop_below=stop_below, method="sequential-pd")


def run_one_shot(problem: Problem, *, eta_lam: float, T: int, dual_step: str = "gradient", lam_init=None,
                 saddle=None, keep_every: int = 0, stop_below: float | None = None) -> Trajectory:
    """One-shot (Algorithm 1 with the exact best response (3)): projected gradient descent on ``D``."""
    return run_primal_dual(problem, prediction="alternating", eta_th=0.0, eta_lam=eta_lam, T=T,
                           dual_step=dual_step, lam_init=lam_init, saddle=saddle, keep_every=keep_every,
                           stop_below=stop_below, method="one-shot")


METHODS: dict[str, Callable[..., Trajectory]] = {
    "opd": run_opd,
    "simultaneous-pd": run_simultaneous_pd,
    "sequential-pd": run_sequential_pd,
    "one-shot": run_one_shot,
}


def run_method(name: str, problem: Problem, **kwargs) -> Trajectory:
    """Run the named configuration with its keyword arguments: a key of :data:`METHODS`, or of
    :data:`opdcheck.kernels.framework.FRAMEWORK_METHODS` (then through ``framework.run_config``)."""
    from opdcheck.kernels.framework import FRAMEWORK_METHODS, run_config

    if name in METHODS:
        return METHODS[name](problem, **kwargs)
    if name in FRAMEWORK_METHODS:
        return run_config(name, problem, **kwargs)
    raise ValueError(f"method: {name!r}; choose one of {sorted(set(METHODS) | set(FRAMEWORK_METHODS))}.")


def describe_methods() -> str:
    """A plain-text table of the framework's named configurations (``opdcheck list-methods``).

    One row per :data:`opdcheck.kernels.framework.FRAMEWORK_METHODS` entry: ordering, primal oracle,
    dual rule with its source's defaults, initial multiplier, and the source.
    """
    from opdcheck.kernels.dual_rules import make_dual_rule
    from opdcheck.kernels.framework import FRAMEWORK_METHODS

    lines = ["Named configurations of Algorithm 1 (run with opdcheck.kernels.framework.run_config(name, problem, ...)):", ""]
    for name, cfg in FRAMEWORK_METHODS.items():
        oracle = {"mirror": f"{cfg.K} KL-mirror step(s) at eta_th", "best-response": "exact best response (3)",
                  "inner-loop": "inner mirror loop to tolerance"}[cfg.oracle]
        if cfg.dual_rule == "projected-gradient":
            dual = "projected step [lam - c/eta_lam]_+ (or 1/(2 eta_lam), 'prox')"
        else:
            params = make_dual_rule(cfg.dual_rule).params
            dual = f"{cfg.dual_rule} " + ", ".join(f"{k}={v}" for k, v in params.items())
        lines.append(f"{name}")
        lines.append(f"    ordering : {cfg.ordering}")
        lines.append(f"    primal   : {oracle}")
        lines.append(f"    dual     : {dual}")
        lines.append(f"    lam_init : {cfg.lam_init if cfg.lam_init is not None else 0}")
        lines.append(f"    source   : {cfg.source}")
        lines.append(f"    what     : {cfg.summary}")
    return "\n".join(lines)
