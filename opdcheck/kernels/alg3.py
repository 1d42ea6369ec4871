"""Algorithm 3 (OPD with parameterized policies) as a primal step of the one driver (kernels/opd.py).

Update (eqs. (8)/(10)), with gradients and the Fisher matrix only at the state ``theta_hat_t``::

    (8)  theta_t       = Proj_Theta( theta_hat_t + F(theta_hat_t)^+ grad L(pi_theta_hat_t, lam_{t-1}) / (eta_th + beta) )
    (10) theta_hat_t+1 = Proj_Theta( theta_hat_t + F(theta_hat_t)^+ grad L(pi_theta_hat_t, lam_t)     / (eta_th + beta) )

The driver's optimistic rule computes ``P(theta_hat_t, lam_{t-1})`` then ``P(theta_hat_t, lam_t)`` with
``P`` = :meth:`NaturalGradientStep.step`, so the asymmetric optimism of Sec. 3.3 (only the multiplier is
extrapolated; the linearisation point is always ``theta_hat_t``) is the driver's rule, not a second loop.
The dual steps (9)/(11) are the driver's ``dual_step="gradient"`` (``c/eta_lam``, as printed) or
``"prox"`` (``c/(2 eta_lam)``, as Appendix E's proof uses). t = 0 convention: the driver's
(``theta_{-1} = theta_hat_0``, ``lam_{-1} = lam_hat_0``).

The natural-gradient direction ``w = F^+ grad L`` two ways (App. D, compatible function approximation):

* ``direction="pinv"``: eigen-decomposition pseudo-inverse of ``F`` (cut-off ``ALG3_PINV_RCOND``);
* ``direction="lstsq"``: the minimum-norm least-squares fit of the advantage
  ``A = S_lam - beta log(pi/pi_ref) - V`` on the score, weights ``rho pi`` (its normal equations are
  ``F w = grad L``, and the minimum-norm solution is ``F^+ grad L``).

Backends of the pinv direction for LogLinear classes: ``backend="numpy"`` (the BLAS reference above),
``"numba"`` (``kernels/numba_alg3.py``: one pass over the features, agreeing to ~1e-15), ``"auto"`` (default:
numba from ``X n d >= NUMBA_AUTO_MIN_WORK``, where its measured per-step saving repays the compilation
within a few hundred steps, and at once with the disk cache; numpy below).

Negative-control variants (named, never defaults): ``fisher="uncentred"`` (raw-feature second moment),
``fisher="unweighted"`` (drops the prompt weights rho from F), and :class:`StaleAnchorStep` (the actual
update linearised at the prediction ``theta_t`` instead of ``theta_hat_t``).
"""
from __future__ import annotations

import numpy as np

from opdcheck.kernels.policies import LogLinear, PolicyClass, TabularSoftmax
from opdcheck.kernels.rules import PrimalStep, validate_steps
from opdcheck.problem import Problem
from opdcheck.tolerances import ALG3_PINV_RCOND, ALG3_THETA0_ATOL

__all__ = ["advantage", "lagrangian_gradient", "natural_direction", "NaturalGradientStep", "StaleAnchorStep",
           "DIRECTIONS", "FISHER_VARIANTS", "BACKENDS", "NUMBA_AUTO_MIN_WORK", "resolve_backend", "run_alg3"]

DIRECTIONS = ("pinv", "lstsq")
#: "numpy": the BLAS reference; "numba": kernels/numba_alg3.py (LogLinear, pinv only); "auto" (default): numba
#: from NUMBA_AUTO_MIN_WORK on, numpy below.
BACKENDS = ("auto", "numpy", "numba")
#: X n d from which backend="auto" takes the Numba kernel. Measured (2-core shared box, 1 thread, after
#: compilation, 2026-12-01): the kernel takes 0.38-0.74x the numpy time from X n d = 1e4 to 6.4e6 and 0.39x at
#: 6.4e7 (benchmarks/bench_alg3.py), agreeing to <= 7e-15; but compiling it costs ~10 s in a process without
#: the disk cache. Its saving, ~5e-6 ms per unit of X n d and step, is ~50 ms a step from 1e7 (compilation
#: repaid in ~200 steps, at once with the cache). Every check's class today is far below (numpy, the reference).
NUMBA_AUTO_MIN_WORK = 10_000_000
FISHER_VARIANTS = ("centred", "uncentred", "unweighted")


def advantage(problem: Problem, log_pi: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``A_lam[x, y] = S_lam - beta log(pi/pi_ref) - V_lam(x)`` (App. D, eqs. (50)-(51))."""
    Q = problem.scores(lam) - problem.beta * (log_pi - problem.log_pi_ref)
    pi = np.exp(log_pi)
    return Q - np.sum(pi * Q, axis=1, keepdims=True)


def lagrangian_gradient(problem: Problem, policy: PolicyClass, theta: np.ndarray, lam: np.ndarray,
                        *, log_pi: np.ndarray | None = None) -> np.ndarray:
    """``grad_theta L(pi_theta, lam) = E_{rho, pi_theta}[A score]`` (eq. (52))."""
    if log_pi is None:
        log_pi = policy.log_probs(theta)
    wA = problem.rho[:, None] * np.exp(log_pi) * advantage(problem, log_pi, lam)
    if isinstance(policy, LogLinear):  # E[A phi_c] = E[A phi] because E_pi A = 0: one BLAS gemv
        return policy.grad_moment(wA)
    return np.einsum("xy,xyd->d", wA, policy.score(theta))


#: the last eigen pseudo-inverse factors, newest first: ``((key, (V, kept eigenvalues) | None), ...)`` with ``key`` the
#: bytes of F and the cut-off. Both calls of an Alg. 3 step (eqs. (8) and (10)) linearise at theta_hat_t, so they solve
#: with the same F: the second reuses the first's eigendecomposition (same bits). Two entries, so that a step which
#: also solves with another matrix in between (an inexact model's estimated F) still finds theta_hat_t's. One tuple
#: swapped atomically: thread-safe.
_PINV_FACTOR_MEMO: tuple = ()
_PINV_MEMO_SIZE = 2


def _pinv_factor(F: np.ndarray, rcond: float):
    """The eigen pseudo-inverse factor ``(V, evals)`` of ``F`` (``None`` when ``F^+ = 0``), memoised on the last Fs."""
    global _PINV_FACTOR_MEMO
    Fc = np.ascontiguousarray(F, dtype=np.float64)
    key = (Fc.shape, Fc.tobytes(), float(rcond))
    memo = _PINV_FACTOR_MEMO
    for k, factor in memo:
        if k == key:
            return factor
    evals, evecs = np.linalg.eigh(0.5 * (F + F.T))
    top = float(np.max(np.abs(evals), initial=0.0))
    keep = evals > rcond * top if top > 0 else np.zeros_like(evals, dtype=bool)
    # F = 0 (e.g. the counterexample at theta = 0): F^+ = 0
    factor = (evecs[:, keep], evals[keep]) if keep.any() else None
    _PINV_FACTOR_MEMO = ((key, factor),) + memo[: _PINV_MEMO_SIZE - 1]
    return factor


def _pinv_solve(F: np.ndarray, g: np.ndarray, rcond: float) -> np.ndarray:
    factor = _pinv_factor(F, rcond)
    if factor is None:
        return np.zeros_like(g)
    V, ev = factor
    return V @ ((V.T @ g) / ev)


def resolve_backend(backend: str, policy: PolicyClass, direction: str) -> str:
    """``"numpy"`` or ``"numba"`` for a requested backend (ValueError naming the field otherwise).

    ``"auto"``: the Numba kernel for LogLinear classes with ``direction="pinv"`` and ``X n d >=
    NUMBA_AUTO_MIN_WORK``, the numpy reference otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r}; choose one of {BACKENDS}.")
    covered = isinstance(policy, LogLinear) and direction == "pinv"
    if backend == "numba" and not covered:
        raise ValueError(f"backend='numba' covers LogLinear classes with direction='pinv'; got class "
                         f"{policy.name!r}, direction {direction!r}. Use backend='numpy'.")
    if backend == "auto":
        return "numba" if covered and policy.X * policy.n * policy.d >= NUMBA_AUTO_MIN_WORK else "numpy"
    return backend


def natural_direction(problem: Problem, policy: PolicyClass, theta: np.ndarray, lam: np.ndarray, *,
                      direction: str = "pinv", fisher: str = "centred", rcond: float = ALG3_PINV_RCOND,
                      backend: str = "auto") -> np.ndarray:
    """``w = F(theta)^+ grad_theta L(pi_theta, lam)`` (eqs. (8)/(10)); see the module docstring.

    ``backend="numba"`` (LogLinear classes, ``direction="pinv"``): grad L and F from the one-pass kernel
    :func:`opdcheck.kernels.numba_alg3.loglinear_grad_fisher`, then the same pseudo-inverse rule; ``"numpy"``
    is the reference; ``"auto"`` (default) picks numba only for large log-linear classes (:func:`resolve_backend`)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: {direction!r}; choose one of {DIRECTIONS}.")
    if fisher not in FISHER_VARIANTS:
        raise ValueError(f"fisher: {fisher!r}; choose one of {FISHER_VARIANTS}.")
    if resolve_backend(backend, policy, direction) == "numba":
        from opdcheck.kernels.numba_alg3 import loglinear_grad_fisher

        g, F = loglinear_grad_fisher(problem, policy, theta, lam, fisher=fisher)
        return _pinv_solve(F, g, rcond)
    log_pi = policy.log_probs(theta)
    rho = problem.rho
    if direction == "pinv":
        F = _fisher_matrix(problem, policy, theta, log_pi, fisher)
        return _pinv_solve(F, lagrangian_gradient(problem, policy, theta, lam, log_pi=log_pi), rcond)
    if fisher != "centred":  # direction == "lstsq"
        raise ValueError("direction='lstsq' is the compatible-function-approximation form of the centred Fisher; "
                         "use direction='pinv' for the fisher variants.")
    pi = np.exp(log_pi)
    sw = np.sqrt(rho[:, None] * pi).reshape(-1)
    G = policy.score(theta).reshape(-1, policy.d) * sw[:, None]
    A = advantage(problem, log_pi, lam).reshape(-1) * sw
    top = np.linalg.norm(G, 2) if G.size else 0.0
    # rcond on singular values of G is the square root of the eigenvalue cut-off used for F = G^T G
    w, *_ = np.linalg.lstsq(G, A, rcond=float(np.sqrt(rcond)) if top > 0 else None)
    return w


def _fisher_matrix(problem: Problem, policy: PolicyClass, theta: np.ndarray, log_pi: np.ndarray,
                   fisher: str) -> np.ndarray:
    """The Fisher matrix variant ``fisher`` at ``theta`` (``log_pi = log pi_theta`` already computed)."""
    rho = problem.rho
    w_rho = np.ones_like(rho) if fisher == "unweighted" else rho
    if isinstance(policy, LogLinear):  # reuse pi: one gemv less on large classes
        return policy.fisher(theta, w_rho, centred=(fisher != "uncentred"), pi=np.exp(log_pi))
    return policy.fisher(theta, w_rho, centred=(fisher != "uncentred"))


class NaturalGradientStep(PrimalStep):
    """``P(theta_hat, lam) = Proj_Theta(theta_hat + w(theta_hat, lam) / (eta_th + beta))``, eqs. (8)/(10).

    State: the parameter vector. ``theta0`` is Algorithm 3's input ``theta_hat_0`` (it must lie in Theta;
    default zeros, which must then lie in Theta). With ``record=True`` each
    call appends ``(theta_eval, lam)`` to ``self.trace`` (diagnostics only; the step stays a pure function
    of its arguments).
    """

    name = "npg"

    def __init__(self, problem: Problem, policy: PolicyClass, eta_th: float, theta0=None, *,
                 direction: str = "pinv", fisher: str = "centred", rcond: float = ALG3_PINV_RCOND,
                 record: bool = False, backend: str = "auto") -> None:
        validate_steps(eta_th, 1.0, problem.beta, who="NaturalGradientStep")
        if (policy.X, policy.n) != (problem.X, problem.n):
            raise ValueError(f"policy: class {policy.name!r} has (X, n) = ({policy.X}, {policy.n}); the problem "
                             f"{problem.name!r} has ({problem.X}, {problem.n}). Build the class for this problem.")
        if direction not in DIRECTIONS or fisher not in FISHER_VARIANTS:
            raise ValueError(f"direction = {direction!r}, fisher = {fisher!r}; choose from {DIRECTIONS} and {FISHER_VARIANTS}.")
        self.problem, self.policy, self.eta_th = problem, policy, float(eta_th)
        th0 = np.zeros(policy.d) if theta0 is None else policy.check_theta(theta0, "theta0")
        proj = policy.param_set.project(th0)
        if np.max(np.abs(proj - th0), initial=0.0) > ALG3_THETA0_ATOL:
            raise ValueError(f"theta0: {th0.tolist()[:6]} is outside Theta = {policy.param_set.describe()} "
                             f"(distance {float(np.max(np.abs(proj - th0))):.3g}); pass a point of Theta "
                             "(Algorithm 3 takes theta_hat_0 in Theta).")
        self.theta0 = proj
        self.direction, self.fisher, self.rcond = direction, fisher, float(rcond)
        self.backend = resolve_backend(backend, policy, direction)
        self.record = record
        self.trace: list[tuple[np.ndarray, np.ndarray]] = []
        self._memo: list[tuple[bytes, list]] = []

    def init_state(self, problem: Problem) -> np.ndarray:
        return self.theta0.copy()

    #: states whose ``log pi_theta`` (and Fisher matrix) are kept. A step of the optimistic driver asks, in order,
    #: for theta_hat_t (eq. (8)), the prediction theta_t (its policy), theta_hat_t again (eq. (10)) and the new
    #: theta_hat_{t+1} (its policy, the next step's anchor): two states cover every repeat
    MEMO_STATES = 2
    #: up to this many (x, y) pairs the Lagrangian gradient also keeps ``pi``, ``rho pi`` and ``beta log(pi/pi_ref)``
    #: per state (three more (X, n) arrays, for small classes whose steps are dominated by per-call overhead);
    #: above, it recomputes them (the same bits) and the memo holds only what the driver holds anyway
    MEMO_AUX_MAX_ENTRIES = 100_000

    def _at(self, theta: np.ndarray) -> list:
        """``[log pi_theta, F(theta) or None]``, memoised per state: ``log_policy`` of the new state is the next
        step's anchor, and the two calls of a step (eqs. (8), (10)) share theta_hat_t, so each state's policy and
        Fisher matrix are computed once (the same functions, the same bits as without the memo). ``log pi_theta``
        is read-only: the driver holds the same array (no copy)."""
        th = np.ascontiguousarray(theta, dtype=np.float64)
        key = th.tobytes()
        for k, entry in self._memo:
            if k == key:
                return entry
        log_pi = self.policy.log_probs(th)
        log_pi.flags.writeable = False
        entry = [log_pi, None]
        self._memo = [(key, entry)] + self._memo[: self.MEMO_STATES - 1]
        return entry

    def fisher_at(self, theta: np.ndarray) -> np.ndarray:
        """``F(theta)`` (this step's Fisher variant), memoised with the state's policy."""
        entry = self._at(theta)
        if entry[1] is None:
            entry[1] = _fisher_matrix(self.problem, self.policy, np.ascontiguousarray(theta, dtype=np.float64),
                                      entry[0], self.fisher)
        return entry[1]

    def direction_at(self, theta: np.ndarray, lam: np.ndarray) -> np.ndarray:
        if self.direction != "pinv" or self.backend != "numpy":
            return natural_direction(self.problem, self.policy, theta, lam, direction=self.direction,
                                     fisher=self.fisher, rcond=self.rcond, backend=self.backend)
        # natural_direction's numpy pinv path, with the state's policy and Fisher matrix from the memo
        th = np.ascontiguousarray(theta, dtype=np.float64)
        return _pinv_solve(self.fisher_at(th), self._gradient_at(th, lam), self.rcond)

    def _gradient_at(self, theta: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """:func:`lagrangian_gradient` at a memoised state: the factors that do not depend on ``lam`` (``pi``,
        ``rho pi``, ``beta log(pi/pi_ref)``) are kept with the state; the same operations in the same order, so the
        same bits."""
        entry = self._at(theta)
        if entry[0].size > self.MEMO_AUX_MAX_ENTRIES:
            return lagrangian_gradient(self.problem, self.policy, theta, lam, log_pi=entry[0])
        if len(entry) < 3:
            p, log_pi = self.problem, entry[0]
            pi = np.exp(log_pi)
            entry.append((pi, p.rho[:, None] * pi, p.beta * (log_pi - p.log_pi_ref)))
        pi, w_pi, kl_term = entry[2]
        Q = self.problem.scores(lam) - kl_term
        wA = w_pi * (Q - np.sum(pi * Q, axis=1, keepdims=True))  # rho pi A, A = advantage(problem, log_pi, lam)
        if isinstance(self.policy, LogLinear):
            return self.policy.grad_moment(wA)
        return np.einsum("xy,xyd->d", wA, self.policy.score(theta))

    def exact_step(self, theta: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """The exact-expectation step (the ``theta*`` of Assumption 3.9)."""
        w = self.direction_at(theta, lam)
        return self.policy.param_set.project(theta + w / (self.eta_th + self.problem.beta))

    def step(self, state: np.ndarray, lam: np.ndarray) -> np.ndarray:
        if self.record:
            self.trace.append((np.array(state, copy=True), np.array(lam, copy=True)))
        return self.exact_step(state, lam)

    def log_policy(self, state: np.ndarray) -> np.ndarray:
        return self._at(state)[0]

    def describe(self) -> dict:
        return {"primal": self.name, "direction": self.direction, "fisher": self.fisher, "rcond": self.rcond,
                "backend": self.backend,
                **self.policy.describe(), "theta0": self.theta0.tolist()[:8]}


class StaleAnchorStep(NaturalGradientStep):
    """NEGATIVE CONTROL: the actual update (10) linearised at the prediction ``theta_t`` instead of
    ``theta_hat_t``: ``theta_hat_{t+1} = Proj(theta_t + F(theta_t)^+ grad L(pi_theta_t, lam_t)/(eta+beta))``.

    The driver calls ``P(theta_hat_t, lam_{t-1})`` (prediction) then ``P(theta_hat_t, lam_t)`` (actual);
    this step remembers the prediction's output and uses it as the anchor of the next call (the bug of
    evaluating gradients at the latest iterate). Only for the optimistic driver.
    """

    name = "npg-stale-anchor"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._calls, self._last_pred = 0, None

    def init_state(self, problem: Problem) -> np.ndarray:
        self._calls, self._last_pred = 0, None
        self.trace = []
        return super().init_state(problem)

    def step(self, state: np.ndarray, lam: np.ndarray) -> np.ndarray:
        anchor = state if self._calls % 2 == 0 else self._last_pred
        self._calls += 1
        if self.record:
            self.trace.append((np.array(anchor, copy=True), np.array(lam, copy=True)))
        out = self.exact_step(anchor, lam)
        if self._calls % 2 == 1:
            self._last_pred = out
        return out


def run_alg3(problem: Problem, policy: PolicyClass, *, eta_th: float, eta_lam: float, T: int,
             dual_step: str = "gradient", theta0=None, lam_init=None, saddle=None, keep_every: int = 0,
             direction: str = "pinv", fisher: str = "centred", primal: PrimalStep | None = None,
             stop_below: float | None = None, backend: str = "auto"):
    """Algorithm 3 with exact expectations: ``run_primal_dual(prediction="optimistic", primal=NPG)``.

    ``dual_step="gradient"`` is eqs. (9)/(11) as printed (``c/eta_lam``); ``"prox"`` the proof's
    ``c/(2 eta_lam)``. For non-tabular classes pass the in-class saddle point as ``saddle`` (from
    ``opdcheck.numerics.in_class``): the error is then measured against ``pi*_Theta``.
    """
    from opdcheck.kernels.opd import run_primal_dual

    if primal is None:
        primal = NaturalGradientStep(problem, policy, eta_th, theta0, direction=direction, fisher=fisher,
                                     backend=backend)
    return run_primal_dual(problem, prediction="optimistic", eta_th=eta_th, eta_lam=eta_lam, T=T,
                           dual_step=dual_step, lam_init=lam_init, saddle=saddle, keep_every=keep_every,
                           method="alg3-opd", primal=primal, stop_below=stop_below)


def tabular_class_for(problem: Problem) -> TabularSoftmax:
    """The tabular softmax class of a problem (d = X n, Theta = R^d)."""
    return TabularSoftmax(problem.X, problem.n)


__all__.append("tabular_class_for")
