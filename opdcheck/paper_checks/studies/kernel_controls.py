"""Controls of the kernels the checks use at scale, run in every profile on a small instance: the fused Numba
OPD kernel (``kernels/numba_fused.py``, serial and parallel paths) and the Numba Algorithm 3 step
(``kernels/numba_alg3.py``) against their numpy references. At scale these kernels are reached only in the full
profile or above a size threshold; the controls make a bug in them visible to every quick verdict."""
from __future__ import annotations

import numpy as np

from opdcheck.paper_checks.result import Control
from opdcheck.problem import Problem
from opdcheck.tolerances import FUSED_AGREEMENT_RTOL, NUMBA_ALG3_AGREEMENT_RTOL

__all__ = ["small_problem", "fused_kernel_control", "numba_alg3_control", "numba_alg3_agrees"]


def small_problem(X: int = 6, n: int = 7, h: int = 2, seed: int = 5, beta: float = 0.3) -> Problem:
    """A seeded small instance (full-support pi_ref, rewards in [-1, 1])."""
    rng = np.random.default_rng(seed)
    pi_ref = 0.9 * rng.dirichlet(np.ones(n), size=X) + 0.1 / n
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    return Problem(rho=rng.dirichlet(np.ones(X)), pi_ref=pi_ref, R_soft=rng.uniform(-1, 1, (1, X, n)), w=[1.0],
                   R_hard=rng.uniform(-1, 1, (h, X, n)), beta=beta, name=f"small-control(seed={seed})")


def _worst(a, b) -> float:
    worst = 0.0
    for k in ("kl_star", "lam_err2", "kl_hat_pred", "lam_hat_pred2"):
        x, y = np.asarray(a.metrics[k]), np.asarray(b.metrics[k])
        if x.shape != y.shape:
            return float("inf")
        if x.size:
            worst = max(worst, float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(x))), 1e-300))
    return worst


def fused_kernel_control(T: int = 40) -> Control:
    """The fused kernel, forced through its serial and its parallel (prange) path, equals the numpy
    ``run_primal_dual`` (Algorithm 2, both dual conventions) on a small instance, metric by metric to
    FUSED_AGREEMENT_RTOL of the metric's maximum."""
    try:
        from opdcheck.kernels.numba_fused import run_opd_fused
        from opdcheck.kernels.opd import run_primal_dual, thm34_step_sizes
        from opdcheck.numerics.saddle import solve_saddle

        p = small_problem()
        sp_ = solve_saddle(p)
        e = thm34_step_sizes(p)
        worst, parts = 0.0, []
        for dual_step in ("prox", "gradient"):
            kw = dict(eta_th=e[0], eta_lam=e[1], T=T, saddle=sp_, dual_step=dual_step, prediction="optimistic")
            ref = run_primal_dual(p, **kw)
            for parallel in (False, True):
                w = _worst(ref, run_opd_fused(p, parallel=parallel, **kw))
                worst = max(worst, w)
                parts.append(f"{dual_step}/{'parallel' if parallel else 'serial'} {w:.1e}")
    except Exception as exc:
        return Control("fused Numba kernel vs numpy reference (small instance)", "positive", False, f"{exc!r}")
    return Control("fused Numba kernel vs numpy reference (small instance)", "positive", worst <= FUSED_AGREEMENT_RTOL,
                   f"{p.name}, T = {T}: max relative metric difference " + ", ".join(parts)
                   + f" (<= {FUSED_AGREEMENT_RTOL:g})")


def numba_alg3_agrees(rel_diff: float) -> bool:
    """The Numba Alg. 3 direction agrees with the numpy/BLAS one: ``max |w_numba - w_numpy| / max |w|`` at most
    NUMBA_ALG3_AGREEMENT_RTOL (a NaN disagrees)."""
    return bool(rel_diff <= NUMBA_ALG3_AGREEMENT_RTOL)


def numba_alg3_control() -> Control:
    """The Numba Algorithm 3 direction ``F^+ grad L`` (log-linear class) equals the numpy/BLAS reference on
    a small instance, to NUMBA_ALG3_AGREEMENT_RTOL of its size (the kernel is chosen automatically only above
    NUMBA_AUTO_MIN_WORK, so this forces it)."""
    try:
        from opdcheck.kernels.alg3 import natural_direction
        from opdcheck.kernels.policies import LogLinear

        p = small_problem(X=7, n=9, h=2, seed=1)
        rng = np.random.default_rng(11)
        cls = LogLinear(rng.normal(size=(7, 9, 5)))
        theta, lam = rng.normal(size=cls.d) * 0.5, rng.uniform(0.1, 1.5, size=p.h)
        a = natural_direction(p, cls, theta, lam, backend="numpy")
        b = natural_direction(p, cls, theta, lam, backend="numba")
        d = float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(a))), 1e-300)
    except Exception as exc:
        return Control("Numba Alg. 3 step vs numpy reference (small log-linear class)", "positive", False, f"{exc!r}")
    return Control("Numba Alg. 3 step vs numpy reference (small log-linear class)", "positive",
                   numba_alg3_agrees(d),
                   f"{p.name}, d = {cls.d}: max |w_numba - w_numpy| / max|w| = {d:.1e} (<= {NUMBA_ALG3_AGREEMENT_RTOL:g})")
