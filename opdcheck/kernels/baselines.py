"""Baselines as named methods of the registry (:mod:`opdcheck.methods`), run by the one driver.

* **simultaneous GDA** (``"simultaneous-gda"``, alias ``"simultaneous-pd"``; the "standard primal-dual
  gradient method" of the paper's §3 and Fig. 1): both players step from the same state,
  ``pi_hat_{t+1} = P(pi_hat_t, lam_hat_t)``, ``lam_hat_{t+1} = D(lam_hat_t, c(pi_hat_t))``.
* **sequential GDA** (``"alternating-gda"``, aliases ``"finite-step-pd"``, ``"sequential-pd"``; Algorithm 1
  with a one-step oracle): primal first, then the dual step uses the *new* policy,
  ``lam_hat_{t+1} = D(lam_hat_t, c(pi_hat_{t+1}))``. Any ``eta_th >= 0`` and any dual step.
* **one-shot** (Algorithm 1 with the closed-form oracle (3)): sequential GDA with ``eta_th = 0``, i.e.
  projected gradient descent on the dual function ``D``.

``P`` is the KL-proximal step of eqs. (4)/(6) (step ``1/(eta_th + beta)``), ``D`` the projected dual step
(``"prox"``: ``[lam - c/(2 eta_lam)]_+``; ``"gradient"``: ``[lam - c/eta_lam]_+``). Called without
``dual_step``, each uses its method's registered convention (``"gradient"`` for these three, as Algorithm 1
prints it and Fig. 1 steps it: ``1/eta_lam = 0.6``).

Example
-------
>>> from opdcheck.instances import paper_toy
>>> tr = run_method("sequential-pd", paper_toy(), eta_th=1.0, eta_lam=3.0, T=3)
>>> tr.config["method"], tr.config["dual_step"]
('alternating-gda', 'gradient')
"""
from __future__ import annotations

from opdcheck.kernels.opd import run_primal_dual
from opdcheck.kernels.trajectory import Trajectory
from opdcheck.methods import describe_methods, get_method
from opdcheck.problem import Problem

__all__ = ["run_simultaneous_pd", "run_sequential_pd", "run_one_shot", "run_method", "describe_methods"]


def _run(name: str, problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str | None,
         lam_init, saddle, keep_every: int, stop_below: float | None) -> Trajectory:
    from opdcheck.methods import ORDERINGS

    m = get_method(name)
    return run_primal_dual(problem, prediction=ORDERINGS[m.ordering], eta_th=eta_th, eta_lam=eta_lam, T=T,
                           dual_step=dual_step or m.dual_step, lam_init=lam_init, saddle=saddle,
                           keep_every=keep_every, stop_below=stop_below, method=m.name)


def run_simultaneous_pd(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str | None = None,
                        lam_init=None, saddle=None, keep_every: int = 0,
                        stop_below: float | None = None) -> Trajectory:
    """Simultaneous (Jacobi) GDA: OPD's steps without optimism (prediction = current state)."""
    return _run("simultaneous-gda", problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step,
                lam_init=lam_init, saddle=saddle, keep_every=keep_every, stop_below=stop_below)


def run_sequential_pd(problem: Problem, *, eta_th: float, eta_lam: float, T: int, dual_step: str | None = None,
                      lam_init=None, saddle=None, keep_every: int = 0,
                      stop_below: float | None = None) -> Trajectory:
    """Sequential (alternating, Gauss-Seidel) GDA, Algorithm 1: primal step, then dual step on the new policy."""
    return _run("alternating-gda", problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step,
                lam_init=lam_init, saddle=saddle, keep_every=keep_every, stop_below=stop_below)


def run_one_shot(problem: Problem, *, eta_lam: float, T: int, dual_step: str | None = None, lam_init=None,
                 saddle=None, keep_every: int = 0, stop_below: float | None = None) -> Trajectory:
    """One-shot (Algorithm 1 with the exact best response (3)): projected gradient descent on ``D``."""
    return _run("one-shot", problem, eta_th=0.0, eta_lam=eta_lam, T=T, dual_step=dual_step, lam_init=lam_init,
                saddle=saddle, keep_every=keep_every, stop_below=stop_below)


def run_method(name: str, problem: Problem, **kwargs) -> Trajectory:
    """Run a registered method (any of its names) through the one driver, with its keyword arguments."""
    from opdcheck.kernels.framework import run_config
    from opdcheck.kernels.opd import run_opd

    if get_method(name).name == "opd":
        return run_opd(problem, **kwargs)
    return run_config(name, problem, **kwargs)
