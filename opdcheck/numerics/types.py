"""Result types shared by the saddle-point routes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SaddlePoint", "SolverError", "PolishError"]


class SolverError(RuntimeError):
    """A solver did not return an optimal solution; the message names the status and the instance."""


class PolishError(SolverError):
    """The KKT polish of a solver's point refused or failed (see numerics/kkt_polish.py).

    ``raw`` is the unpolished SaddlePoint when the caller had one (set by solve_primal_cvxpy), so that a
    check can still report how far the raw solver output is from a reference; None otherwise.
    """

    def __init__(self, message: str, raw: "SaddlePoint | None" = None):
        super().__init__(message)
        self.raw = raw


@dataclass(frozen=True)
class SaddlePoint:
    """An exact saddle point ``(pi*, lam*)`` of ``min_{lam >= 0} max_pi L(pi, lam)``.

    Attributes
    ----------
    pi : (X, n) optimal policy pi* (= pi_{lam*} when beta > 0).
    lam : (h,) optimal multipliers lam* >= 0.
    primal_value : objective ``E[<pi*, r>] - beta E KL(pi*||pi_ref)`` at pi*.
    dual_value : ``D(lam*)``.
    duality_gap : ``dual_value - primal_value`` (>= 0 up to rounding).
    kkt : named KKT residuals (stationarity, primal feasibility, dual feasibility, complementarity).
    method : which route produced it ("dual-newton", "cvxpy-clarabel", "lp-highs", ...).
    info : solver status, iterations, timings, ties (beta = 0), ...
    """

    pi: np.ndarray
    lam: np.ndarray
    primal_value: float
    dual_value: float
    duality_gap: float
    kkt: dict
    method: str
    info: dict = field(default_factory=dict)

    @property
    def active(self) -> np.ndarray:
        """Indices j with lam*_j > 0."""
        return np.flatnonzero(self.lam > 0)
