"""Small pure update rules (optax style) from which every iteration in ``kernels/`` is composed.

Each rule is a pure function of explicit state; equations are in the docstrings.

* :func:`primal_mirror_step` -- the KL-proximal primal step of Algorithm 2, eqs. (4)/(6).
* :func:`dual_step` -- the projected dual step, eqs. (5)/(7) (``"prox"``) or eqs. (9)/(11) (``"gradient"``).
* :func:`dual_step_size` -- the multiplier in front of ``c`` for a convention.
* :func:`project_nonneg` -- ``[.]_+``, the projection onto ``lam >= 0``.
* :func:`validate_steps` -- the ValueError-raising validation the drivers share.
* :data:`PREDICTION_RULES` -- how a method forms its prediction ``(pi_t, lam_t)`` from the state
  ``(pi_hat_t, lam_hat_t)`` and the previous prediction: optimism (Alg. 2, eqs. (4)-(5)), none
  (simultaneous PD), alternating (sequential PD). The driver (``kernels/opd.py``) then always takes
  ``pi_hat_{t+1} = P(pi_hat_t, lam_t)``, ``lam_hat_{t+1} = D(lam_hat_t, c(pi_t))``.

Paper: Li, Ju, Shroff, arXiv 2602.22146, Algorithm 2 and Algorithm 3.
"""
from __future__ import annotations

import math

import numpy as np

from typing import Callable

from opdcheck.logspace import log_softmax_rows
from opdcheck.problem import Problem

__all__ = ["CLOSED_FORMS", "DUAL_CONVENTIONS", "primal_mirror_step", "dual_step", "dual_step_size",
           "project_nonneg", "validate_steps", "validate_batch_steps", "optimistic_prediction", "no_prediction",
           "alternating_prediction", "PREDICTION_RULES", "PrimalStep", "MirrorStep"]

#: "derived": our derivation of the maximiser of (4)/(6); "printed": the paper's closed form (proof of Thm 3.4, App. C: the
#: two displays after "From the closed-form solution of the KL-regularized maximization in eqs. 4 and 6"),
#: which drops the 1/(eta+beta) scale of the score. "printed" is a negative control only.
CLOSED_FORMS = ("derived", "printed")

#: "prox": lam = [lam_hat - c/(2 eta_lam)]_+, the exact argmin of eqs. (5)/(7) and what Thm 3.4's proof uses.
#: "gradient": lam = [lam_hat - c/eta_lam]_+, as printed in Algorithm 3, eqs. (9)/(11).
DUAL_CONVENTIONS = ("prox", "gradient")


def validate_steps(eta_th: float, eta_lam: float, beta: float, *, dual_convention: str = "prox",
                   closed_form: str = "derived", who: str = "step") -> tuple[float, float]:
    """Check step parameters; return them as floats. Errors name the field, the value and the fix.

    ``eta_th >= 0`` with ``eta_th + beta > 0`` (``eta_th = 0`` is the exact best response, eq. (3),
    meaningful only when ``beta > 0``); ``eta_lam > 0`` and finite.
    """
    try:
        eta_th = float(eta_th)
        eta_lam = float(eta_lam)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: eta_th = {eta_th!r}, eta_lam = {eta_lam!r}; pass finite floats.") from None
    if not math.isfinite(eta_th) or eta_th < 0:
        raise ValueError(f"{who}: eta_th = {eta_th!r}; the primal KL-proximal weight must be a finite "
                         "float >= 0 (the primal step size is 1/(eta_th + beta)).")
    if eta_th + beta <= 0:
        raise ValueError(f"{who}: eta_th = {eta_th!r} with beta = {beta!r}; eta_th + beta must be > 0 "
                         "(with beta = 0 pass eta_th > 0, otherwise the primal step is undefined).")
    if not math.isfinite(eta_lam) or eta_lam <= 0:
        raise ValueError(f"{who}: eta_lam = {eta_lam!r}; the dual proximal weight must be a finite float > 0 "
                         "(the dual step size is 1/(2 eta_lam) or 1/eta_lam).")
    if dual_convention not in DUAL_CONVENTIONS:
        raise ValueError(f"{who}: dual_step = {dual_convention!r}; choose one of {DUAL_CONVENTIONS}.")
    if closed_form not in CLOSED_FORMS:
        raise ValueError(f"{who}: closed_form = {closed_form!r}; choose one of {CLOSED_FORMS}.")
    return eta_th, eta_lam


def validate_batch_steps(eta_th, eta_lam, beta: float, *, dual_convention: str = "prox",
                         closed_form: str = "derived", who: str = "step") -> tuple:
    """:func:`validate_steps` for a batch of cells: ``eta_th`` (and ``eta_lam`` unless None) 1-d float arrays
    of one length ``C >= 1``, every cell meeting :func:`validate_steps`'s conditions. Returns the arrays."""
    out = []
    for name, v in (("eta_th", eta_th), ("eta_lam", eta_lam)):
        if v is None:
            out.append(None)
            continue
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{who}: {name} = {v!r:.60}; pass a 1-d array of finite floats.") from None
        if a.ndim != 1 or a.size < 1:
            raise ValueError(f"{who}: {name} has shape {a.shape}; a batch of cells needs a 1-d array of length >= 1.")
        out.append(a)
    th, lm = out
    if lm is not None and lm.shape != th.shape:
        raise ValueError(f"{who}: eta_th has {th.size} cells, eta_lam {lm.size}; pass one of each per cell.")
    bad = ~(np.isfinite(th) & (th >= 0) & (th + beta > 0))
    if bad.any():
        i = int(np.argmax(bad))
        validate_steps(th[i], 1.0, beta, closed_form=closed_form, who=f"{who} (cell {i})")
    if lm is not None:
        bad = ~(np.isfinite(lm) & (lm > 0))
        if bad.any():
            i = int(np.argmax(bad))
            validate_steps(th[i], lm[i], beta, closed_form=closed_form, who=f"{who} (cell {i})")
    validate_steps(float(th[0]), 1.0 if lm is None else float(lm[0]), beta, dual_convention=dual_convention,
                   closed_form=closed_form, who=who)
    return th, lm


def primal_mirror_step(problem: Problem, log_pi_hat: np.ndarray, lam: np.ndarray, eta_th: float, *,
                       closed_form: str = "derived") -> np.ndarray:
    """The maximiser of eqs. (4)/(6): ``argmax_pi L(pi, lam) - eta_th E_rho KL(pi || pi_hat)``.

    Derived closed form (per prompt ``x``)::

        pi(y) ∝ pi_hat(y)^(eta/(eta+beta)) * pi_ref(y)^(beta/(eta+beta)) * exp(S_lam(y) / (eta+beta))

    i.e. ``log pi = log_softmax((eta log pi_hat + beta log pi_ref + S_lam) / (eta + beta))``. With
    ``eta_th = 0`` this is the best response (3). ``closed_form="printed"`` uses the paper's printed
    ``exp(S_lam)`` (no ``1/(eta+beta)``), which is *not* the maximiser (negative control).

    Returns the normalised log-policy, shape (X, n).

    **Batch axis**: ``eta_th`` may be an array of shape ``(C,)`` (one step per cell), with ``log_pi_hat``
    of shape ``(C, X, n)`` and ``lam`` of shape ``(C, h)``; the same formula then broadcasts over the
    cells (each cell computes what the unbatched call computes for it) and the result has shape ``(C, X, n)``.
    """
    lam = np.asarray(lam, dtype=np.float64)
    if np.ndim(eta_th) == 0:
        eta_th, _ = validate_steps(eta_th, 1.0, problem.beta, closed_form=closed_form, who="primal_mirror_step")
        if lam.shape != (problem.h,):
            raise ValueError(f"primal_mirror_step: lam has shape {lam.shape}; pass one multiplier per constraint "
                             f"({problem.h},).")
        S = problem.scores(lam)
    else:
        eta_th = validate_batch_steps(eta_th, None, problem.beta, closed_form=closed_form,
                                      who="primal_mirror_step")[0]
        C = eta_th.shape[0]
        if lam.shape != (C, problem.h):
            raise ValueError(f"primal_mirror_step: lam has shape {lam.shape} with {C} cells; pass one multiplier per "
                             f"constraint and cell ({C}, {problem.h}).")
        # per cell the dot Problem.scores computes, (1, h) x (h, X n), stacked as (C, h) x (h, X n)
        S = problem.r + np.dot(lam, problem.R_hard.reshape(problem.h, -1)).reshape(C, problem.X, problem.n)
        eta_th = eta_th[:, None, None]
    beta = problem.beta
    denom = eta_th + beta
    mix = (eta_th * log_pi_hat + beta * problem.log_pi_ref) / denom
    z = mix + (S / denom if closed_form == "derived" else S)
    return log_softmax_rows(z)


class PrimalStep:
    """The primal half of a primal-dual method, as the driver (``kernels/opd.py``) sees it.

    The primal *state* may be a log-policy (distributional methods, :class:`MirrorStep`) or a parameter
    vector (Algorithm 3); the driver only calls:

    * ``init_state(problem) -> state``: the state at t = 0 (``pi_hat_0``);
    * ``step(state, lam) -> state``: ``P(state, lam)``, the update of eqs. (4)/(6) or (8)/(10);
    * ``log_policy(state) -> (X, n)`` normalised log-policy of a state (metrics, constraint values).

    Subclasses keep no mutable state: ``step`` is a pure function of its arguments.
    """

    name = "primal"

    def init_state(self, problem: Problem):  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, state, lam: np.ndarray):  # pragma: no cover - interface
        raise NotImplementedError

    def log_policy(self, state) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def constraint_estimate(self, state) -> np.ndarray | None:
        """The constraint value the dual step should see at ``state``; None: the exact ``c(pi)``.

        A sampled primal (``kernels/stochastic.py``) returns its Monte-Carlo estimate here.
        """
        return None

    def describe(self) -> dict:
        return {"primal": self.name}


class MirrorStep(PrimalStep):
    """Distributional KL-proximal step (eqs. (4)/(6)); the state is the log-policy itself."""

    name = "mirror"

    def __init__(self, problem: Problem, eta_th: float, closed_form: str = "derived",
                 init_log_pi: np.ndarray | None = None) -> None:
        self.problem, self.eta_th, self.closed_form = problem, _steps(eta_th), closed_form
        self.init_log_pi = None if init_log_pi is None else _check_init_log_pi(problem, init_log_pi)

    def init_state(self, problem: Problem) -> np.ndarray:
        """``pi_hat_0``: ``pi_ref`` (Algorithm 2's start) unless ``init_log_pi`` was given; with a batch of
        steps (``eta_th`` of shape ``(C,)``) one copy per cell, shape ``(C, X, n)``."""
        z = problem.log_pi_ref if self.init_log_pi is None else self.init_log_pi
        if np.ndim(self.eta_th) == 0:
            return z.copy()
        return np.broadcast_to(z, (self.eta_th.shape[0],) + z.shape).copy()

    def step(self, state: np.ndarray, lam: np.ndarray) -> np.ndarray:
        return primal_mirror_step(self.problem, state, lam, self.eta_th, closed_form=self.closed_form)

    def log_policy(self, state: np.ndarray) -> np.ndarray:
        return state

    def describe(self) -> dict:
        return {"primal": self.name, "closed_form": self.closed_form}


def _steps(eta_th):
    """A primal weight as stored by a step: a float, or a float array of cells ``(C,)`` (batch axis)."""
    return float(eta_th) if np.ndim(eta_th) == 0 else np.asarray(eta_th, dtype=np.float64)


def _check_init_log_pi(problem: Problem, init_log_pi) -> np.ndarray:
    z = np.asarray(init_log_pi, dtype=np.float64)
    if z.shape != (problem.X, problem.n) or not np.all(np.isfinite(z)):
        raise ValueError(f"init_log_pi: shape {z.shape}, finite {bool(np.all(np.isfinite(z)))}; pass finite "
                         f"logits of shape ({problem.X}, {problem.n}) (they are normalised row-wise).")
    return log_softmax_rows(z)


def project_nonneg(lam: np.ndarray) -> np.ndarray:
    """``[lam]_+``: the Euclidean projection onto ``lam >= 0``."""
    return np.maximum(lam, 0.0)


def dual_step_size(eta_lam, convention: str = "prox"):
    """The factor ``s`` in ``lam = [lam_hat - s c]_+``: ``1/(2 eta_lam)`` (prox) or ``1/eta_lam`` (gradient).

    ``eta_lam`` may be a float or an array of cells ``(C,)`` (then ``s`` has shape ``(C,)``)."""
    if convention not in DUAL_CONVENTIONS:
        raise ValueError(f"dual_step_size: convention = {convention!r}; choose one of {DUAL_CONVENTIONS}.")
    return 1.0 / (2.0 * eta_lam) if convention == "prox" else 1.0 / eta_lam


def dual_step(lam_hat: np.ndarray, c: np.ndarray, eta_lam: float, *, convention: str = "prox") -> np.ndarray:
    """Projected dual step on ``min_{lam>=0} max_pi L`` (``dL/dlam = c``).

    * ``convention="prox"``: ``argmin_{lam>=0} <lam, c> + eta_lam ||lam - lam_hat||^2
      = [lam_hat - c / (2 eta_lam)]_+`` -- eqs. (5)/(7) exactly, the update Thm 3.4's proof uses.
    * ``convention="gradient"``: ``[lam_hat - c / eta_lam]_+`` -- eqs. (9)/(11) of Algorithm 3.

    **Batch axis**: ``eta_lam`` of shape ``(C,)`` with ``lam_hat`` and ``c`` of shape ``(C, h)``: the same
    step per cell.
    """
    if np.ndim(eta_lam) == 0:
        validate_steps(0.0, eta_lam, 1.0, dual_convention=convention, who="dual_step")
        s = dual_step_size(eta_lam, convention)
    else:
        eta_lam = validate_batch_steps(np.zeros(np.shape(eta_lam)), eta_lam, 1.0, dual_convention=convention,
                                       who="dual_step")[1]
        s = dual_step_size(eta_lam, convention)[:, None]
    return project_nonneg(np.asarray(lam_hat, dtype=np.float64) - s * np.asarray(c, dtype=np.float64))


# ------------------------------------------------------------------------------ prediction rules
# Signature: rule(P, D, log_hat, lam_hat, log_prev, lam_prev, c_prev) -> (log_pred, lam_pred), with
# P(log_pi_hat, lam) the primal step, D(lam_hat, c) the dual step, (log_prev, lam_prev) the previous
# prediction and c_prev = c(pi_prev). A rule returns its inputs unchanged (same objects) when it does
# not move, so the driver can skip recomputing c.
Step = Callable[[np.ndarray, np.ndarray], np.ndarray]


def optimistic_prediction(P: Step, D: Step, log_hat, lam_hat, log_prev, lam_prev, c_prev):
    """Optimism (Alg. 2): ``pi_t = P(pi_hat_t, lam_{t-1})`` (4), ``lam_t = D(lam_hat_t, c(pi_{t-1}))`` (5)."""
    return P(log_hat, lam_prev), D(lam_hat, c_prev)


def no_prediction(P: Step, D: Step, log_hat, lam_hat, log_prev, lam_prev, c_prev):
    """Simultaneous (Jacobi) PD: the prediction is the state, ``(pi_t, lam_t) = (pi_hat_t, lam_hat_t)``."""
    return log_hat, lam_hat


def alternating_prediction(P: Step, D: Step, log_hat, lam_hat, log_prev, lam_prev, c_prev):
    """Sequential PD (Alg. 1): ``pi_t = P(pi_hat_t, lam_hat_t)`` (= pi_hat_{t+1}), ``lam_t = lam_hat_t``,
    so the dual step ``D(lam_hat_t, c(pi_t))`` sees the new policy."""
    return P(log_hat, lam_hat), lam_hat


PREDICTION_RULES = {"optimistic": optimistic_prediction, "none": no_prediction,
                    "alternating": alternating_prediction}
