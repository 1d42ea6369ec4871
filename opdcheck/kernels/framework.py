"""Algorithm 1 (the universal primal-dual framework, §2.3) as parts of the one driver.

Algorithm 1 (§2.3): each round ``pi_{t+1} = PrimalOracle(pi_t, lam_t)``, ``g_t = c(pi_{t+1})``,
``lam_{t+1} = [lam_t - g_t / eta_lam]_+``. A *method* here is a named configuration of three parts of
:func:`opdcheck.kernels.opd.run_primal_dual`:

* a **primal oracle** (a :class:`~opdcheck.kernels.rules.PrimalStep`):
  :class:`KStepMirror` (K steps of KL-mirror ascent on ``L(., lam)`` at weight ``eta_th``; K = 1 is the
  finite-step PD of Safe-RLHF / constrained DPO, K > 1 the inexact multi-shot inner loop),
  :class:`InnerLoopToTolerance` (multi-shot run until the inner iterate stops moving: exact multi-shot),
  and the exact best response (3) (``MirrorStep`` at ``eta_th = 0``: one-shot);
* an **ordering**, named explicitly (:data:`ORDERINGS`): ``"sequential"`` (Gauss-Seidel, Algorithm 1 as
  printed: the dual step sees the new policy), ``"simultaneous"`` (Jacobi: both players read the same
  state; Fig. 1's "PD"), ``"optimistic"`` (Algorithm 2: predictions (4)-(5), then (6)-(7));
* a **dual rule**: the projected step at ``eta_lam`` (driver default) or a stateful rule of
  :mod:`opdcheck.kernels.dual_rules`.

OPD (Algorithm 2) is ``ordering="optimistic"`` with the one-step mirror oracle and the projected step.

Lagrangian evaluations: one evaluation is one computation of the scores ``S_lam`` (the gradient of
``L(., lam)`` in distribution space). A mirror step costs 1, the closed form (3) costs 1, OPD calls its
oracle twice per iteration ((4) and (6)), multi-shot K per call; :func:`run_config` records the total in
``config["lagrangian_evaluations"]``.

Example
-------
The toy's dual curvature is ``Cov_{pi*}(R_h)/beta = 0.21/0.05 = 4.2``, so the one-shot dual gradient
step ``1/eta_lam`` must stay below ``2/4.2``; at ``eta_lam = 3`` the error contracts by ``|1 - 4.2/3| = 0.4``
per step:

>>> from opdcheck.instances import paper_toy
>>> tr = run_config("one-shot", paper_toy(), eta_th=0.0, eta_lam=3.0, T=400)
>>> bool(tr.error[-1] < 1e-12)
True
>>> run_config("finite-step-pd", paper_toy(), eta_th=1.0, eta_lam=3.0, T=5).config["method"]
'alternating-gda'
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from opdcheck.kernels.dual_rules import DualRule, make_dual_rule
from opdcheck.kernels.opd import run_primal_dual
from opdcheck.kernels.rules import MirrorStep, PrimalStep, _steps, primal_mirror_step
from opdcheck.kernels.trajectory import Trajectory
from opdcheck.methods import METHODS, ORDERINGS, Method, get_method
from opdcheck.problem import Problem

__all__ = ["ORDERINGS", "KStepMirror", "InnerLoopToTolerance", "Method", "MethodConfig", "FRAMEWORK_METHODS",
           "build_primal", "run_config", "lagrangian_evaluations"]



class KStepMirror(PrimalStep):
    """K steps of KL-mirror ascent on ``L(., lam)`` from the current policy, ``lam`` held fixed.

    ``pi^{k+1} = argmax_pi L(pi, lam) - eta_th E KL(pi || pi^k)`` (the closed form of eqs. (4)/(6)),
    ``k = 0..K-1``; converges to the best response (3) at rate ``eta_th/(eta_th+beta)`` as K grows.
    """

    name = "k-step-mirror"

    def __init__(self, problem: Problem, eta_th: float, K: int, init_log_pi: np.ndarray | None = None) -> None:
        if not isinstance(K, (int, np.integer)) or K < 1:
            raise ValueError(f"K: {K!r}; pass an integer number of inner mirror steps >= 1.")
        self.problem, self.eta_th, self.K = problem, _steps(eta_th), int(K)
        self._base = MirrorStep(problem, eta_th, init_log_pi=init_log_pi)

    def init_state(self, problem: Problem) -> np.ndarray:
        return self._base.init_state(problem)

    def step(self, state: np.ndarray, lam: np.ndarray) -> np.ndarray:
        for _ in range(self.K):
            state = primal_mirror_step(self.problem, state, lam, self.eta_th)
        return state

    def log_policy(self, state: np.ndarray) -> np.ndarray:
        return state

    def describe(self) -> dict:
        return {"primal": self.name, "K": self.K, "evaluations_per_call": self.K}


class InnerLoopToTolerance(PrimalStep):
    """Multi-shot with an inner loop run until ``max |log pi^{k+1} - log pi^k| <= tol`` (or ``max_inner``).

    State ``(log_pi, evaluations so far)`` so the cost of the adaptive loop is counted exactly.
    """

    name = "inner-loop-to-tolerance"

    def __init__(self, problem: Problem, eta_th: float, tol: float = 1e-12, max_inner: int = 100000) -> None:
        if not (tol > 0):
            raise ValueError(f"tol: {tol!r}; pass a float > 0 (the inner loop's stopping threshold).")
        if problem.beta <= 0:
            raise ValueError("InnerLoopToTolerance: beta = 0; the inner problem max_pi L(., lam) is then a "
                             "linear program whose maximiser may be a vertex, and mirror ascent does not reach "
                             "it in finitely many steps. Use beta > 0 or KStepMirror.")
        self.problem, self.eta_th, self.tol, self.max_inner = problem, float(eta_th), float(tol), int(max_inner)

    def init_state(self, problem: Problem):
        return (problem.log_pi_ref.copy(), 0)

    def step(self, state, lam):
        z, n = state
        for _ in range(self.max_inner):
            z_new = primal_mirror_step(self.problem, z, lam, self.eta_th)
            n += 1
            done = float(np.max(np.abs(z_new - z))) <= self.tol
            z = z_new
            if done:
                break
        return (z, n)

    def log_policy(self, state):
        return state[0]

    def describe(self) -> dict:
        return {"primal": self.name, "inner_tol": self.tol, "max_inner": self.max_inner}


#: a named configuration of the driver is a registered method (:mod:`opdcheck.methods`)
MethodConfig = Method
#: canonical name -> Method: every configuration of the registry
FRAMEWORK_METHODS: dict[str, Method] = METHODS


def build_primal(config: MethodConfig, problem: Problem, eta_th: float,
                 init_log_pi: np.ndarray | None = None) -> PrimalStep:
    """The primal oracle of ``config`` at weight ``eta_th`` (``best-response`` ignores ``eta_th``)."""
    if config.oracle == "mirror":
        return (MirrorStep(problem, eta_th, init_log_pi=init_log_pi) if config.K == 1
                else KStepMirror(problem, eta_th, config.K, init_log_pi=init_log_pi))
    if config.oracle == "best-response":
        if problem.beta <= 0:
            raise ValueError("one-shot: beta = 0; the best response (3) needs beta > 0 (with beta = 0 it is a "
                             "vertex of the simplex, not a softmax). Use a mirror oracle.")
        return MirrorStep(problem, 0.0, init_log_pi=init_log_pi)
    if config.oracle == "inner-loop":
        return InnerLoopToTolerance(problem, eta_th)
    raise ValueError(f"oracle: {config.oracle!r}; choose 'mirror', 'best-response' or 'inner-loop'.")


def lagrangian_evaluations(config: MethodConfig, tr: Trajectory) -> int:
    """Score evaluations spent by a run (module docstring)."""
    if config.oracle == "inner-loop":
        return int(tr.extra["final_primal_state"][1])
    calls = 2 if config.ordering == "optimistic" else 1
    return int(tr.n_steps * calls * (config.K if config.oracle == "mirror" else 1))


def run_config(method: "str | Method", problem: Problem, *, eta_th: float, eta_lam: float, T: int,
               dual_step: str | None = None, lam_init=None, saddle=None, keep_every: int = 0,
               stop_below: float | None = None, dual_params: dict | None = None,
               init_log_pi: np.ndarray | None = None, K: int | None = None) -> Trajectory:
    """Run a registered method (any of its names, :mod:`opdcheck.methods`) through the one driver.

    ``eta_th``: the oracle's KL weight (step ``1/(eta_th+beta)``); ``eta_lam``: the projected dual step's
    weight (ignored by stateful rules, which carry their own step sizes, overridable by ``dual_params``).
    ``dual_step`` defaults to the method's registered convention; ``lam_init`` to its source's default
    (Safe-RLHF 1, OmniSafe 0.001, else 0).

    ``eta_th`` and ``eta_lam`` may be 1-d arrays of ``C`` cells (a scalar is shared by every cell): the driver
    then runs every cell in one batched pass and returns one :class:`Trajectory` per cell (a list), each the
    one-cell run's (mirror oracles with the projected dual step, ``keep_every = 0``).
    """
    config = get_method(method)
    if K is not None:
        config = replace(config, K=K)
    if dual_step is None:
        dual_step = config.dual_step
    if config.ordering not in ORDERINGS:
        raise ValueError(f"ordering: {config.ordering!r}; choose one of {sorted(ORDERINGS)}.")
    if np.ndim(eta_th) == 0 and np.ndim(eta_lam) == 1:  # a batch of cells sharing eta_th
        eta_th = np.full(np.shape(eta_lam), float(eta_th))
    primal = build_primal(config, problem, eta_th, init_log_pi=init_log_pi)
    dual: DualRule | None = None
    if config.dual_rule != "projected-gradient":
        dual = make_dual_rule(config.dual_rule, **{**config.dual_params, **(dual_params or {})})
    if lam_init is None and config.lam_init is not None:
        lam_init = np.full(problem.h, config.lam_init)
    eta_eff = 0.0 if config.oracle == "best-response" else eta_th
    tr = run_primal_dual(problem, prediction=ORDERINGS[config.ordering], eta_th=eta_eff, eta_lam=eta_lam, T=T,
                         dual_step=dual_step, lam_init=lam_init, saddle=saddle, keep_every=keep_every,
                         stop_below=stop_below, method=config.name, primal=primal, dual=dual)
    for one in (tr if isinstance(tr, list) else [tr]):
        one.config["ordering"] = config.ordering
        one.config["source"] = config.source
        one.config["lagrangian_evaluations"] = lagrangian_evaluations(config, one)
    return tr
