"""What the OPD/PD drivers and the exp kernel refuse, and two contracts of the fused kernel that only its bits show.

* A saddle point (pi*, lam*) with a NaN, a negative mass, an unnormalised row or a negative multiplier is refused
  with the same one-line error by the numpy reference and both Numba kernels (before, the fused kernel recorded a
  NaN gap and stopped, the reference ran on with NaN metrics, and a negative pi* gave finite, meaningless metrics).
* The single-run kernels refuse a batch of step sizes in one line (before: an error from deep inside numpy/Numba).
* ``vexp`` refuses complex and non-numeric input (before: the imaginary part was dropped with a warning).
* ``exp_shift_sum`` / ``sum_vec``: the public helpers of kernels/fastexp.py.
* The sum over prompts is the fixed-order one (x = 0..X-1), not a BLAS dot whose order depends on the library.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from opdcheck.instances import paper_toy, random_instance
from opdcheck.kernels.fastexp import exp_shift_sum, sum_vec, vexp
from opdcheck.kernels.numba_fused import run_opd_fused
from opdcheck.kernels.numba_opd import run_opd_numba
from opdcheck.kernels.opd import run_primal_dual, thm34_step_sizes
from opdcheck.problem import Problem

DRIVERS = {
    "reference": lambda p, **kw: run_primal_dual(p, prediction="optimistic", **kw),
    "fused": run_opd_fused,
    "materialising": run_opd_numba,
}


def _saddle(pi, lam):
    return SimpleNamespace(pi=np.asarray(pi, dtype=float), lam=np.asarray(lam, dtype=float))


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("pi, lam, says", [
    ([[np.nan, 0.5]], [0.0], r"saddle.pi: entry \(0, 0\) is nan"),
    ([[1.5, -0.5]], [0.0], r"saddle.pi: entry \(0, 1\) is -0.5"),
    ([[2.5, 2.5]], [0.0], "saddle.pi: row 0 sums to 5.0, not 1"),
    ([[0.5, 0.5]], [np.nan], r"saddle.lam: \[nan\]"),
    ([[0.5, 0.5]], [-0.1], r"saddle.lam: \[-0.1\]"),
])
def test_a_saddle_point_that_is_not_one_is_refused_by_every_driver(driver, pi, lam, says):
    p = paper_toy()
    assert (p.X, p.n, p.h) == (1, 2, 1)
    with pytest.raises(ValueError, match=says):
        DRIVERS[driver](p, eta_th=3.0, eta_lam=3.0, T=3, saddle=_saddle(pi, lam))


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_valid_saddle_point_is_accepted(driver):
    """Positive control: a normalised pi* (rows within the named tolerance) and lam* >= 0 run."""
    p = paper_toy()
    tr = DRIVERS[driver](p, eta_th=3.0, eta_lam=3.0, T=3, saddle=_saddle([[0.3, 0.7 + 1e-9]], [0.0]))
    assert tr.n_steps == 3 and np.all(np.isfinite(tr.metrics["gap"]))


@pytest.mark.parametrize("driver", ["fused", "materialising"])
def test_the_single_run_kernels_refuse_a_batch_of_step_sizes(driver):
    with pytest.raises(ValueError, match=r"eta_th = \[1.0, 2.0\] is an array of shape \(2,\)"):
        DRIVERS[driver](paper_toy(), eta_th=np.array([1.0, 2.0]), eta_lam=1.0, T=3)
    with pytest.raises(ValueError, match=r"eta_lam = \[1.0\] is an array"):
        DRIVERS[driver](paper_toy(), eta_th=1.0, eta_lam=[1.0], T=3)


@pytest.mark.parametrize("x", [np.array([1 + 2j]), "abc", [[1.0], [1.0, 2.0]]])
def test_vexp_refuses_what_is_not_real_numbers(x):
    with pytest.raises(ValueError, match="vexp: x = .* pass real numbers"):
        vexp(x)


def test_vexp_takes_integers_and_float32():
    np.testing.assert_array_equal(vexp(np.arange(-3, 4)), vexp(np.arange(-3, 4).astype(np.float64)))
    np.testing.assert_array_equal(vexp(np.float32(0.5)), vexp(0.5))


def test_exp_shift_sum_is_the_shifted_exp_and_its_fixed_order_sum():
    rng = np.random.default_rng(3)
    u = rng.uniform(-30.0, 30.0, 1001)
    m = 7.25
    out = np.empty_like(u)
    s = exp_shift_sum(u, m, out)
    np.testing.assert_array_equal(out, vexp(u - m))  # the same kernel, element by element
    assert s == exp_shift_sum(u, m, np.empty_like(u))  # its order is fixed in the compiled loop: same bits
    # sum_vec sums in its own vectorised order (LLVM may interleave the two loops differently): rounding apart
    assert abs(sum_vec(out) - s) <= 4e-16 * s
    assert abs(s - math.fsum(out)) <= 1e-14 * s
    assert abs(s - math.fsum(np.exp(u - m))) <= 1e-14 * s
    # negative control: without the shift the sum is another number
    assert abs(exp_shift_sum(u, 0.0, np.empty_like(u)) - s) > 1.0


def test_the_sum_over_prompts_is_in_the_fixed_order():
    """Four prompts whose weighted constraint values are 2^51, 1/4, -2^51, 1/4 (rows of R constant over y, so the
    kernel's per-prompt values are exact): summed for x = 0..3 in order, (2^51 + 1/4) rounds to 2^51 (a tie, to
    even) and the total is 1/4; pairwise or by vector lanes it is 1/2, and 0 in other orders. The dual step (5)
    of the first OPD step then gives lam_1 = lam_0 - s c exactly, with c = 1/4 only for the fixed order."""
    X, n = 4, 2
    R = np.empty((1, X, n))
    for x, v in enumerate((2.0 ** 53, 1.0, -(2.0 ** 53), 1.0)):
        R[0, x, :] = v
    p = Problem(rho=np.full(X, 0.25), pi_ref=np.full((X, n), 0.5), R_soft=np.zeros((1, X, n)), w=np.ones(1),
                R_hard=R, beta=1.0, name="summation-order")
    lam0, eta = 8.0, 1.0
    sad = _saddle(np.full((X, n), 0.5), [0.0])
    runs = {"fused": run_opd_fused(p, eta_th=eta, eta_lam=eta, T=1, lam_init=[lam0], saddle=sad, parallel=False),
            "materialising": run_opd_numba(p, eta_th=eta, eta_lam=eta, T=1, lam_init=[lam0], saddle=sad),
            "reference": run_primal_dual(p, prediction="optimistic", eta_th=eta, eta_lam=eta, T=1, lam_init=[lam0],
                                         saddle=sad)}
    from opdcheck.kernels.rules import dual_step_size
    s = dual_step_size(eta, "prox")
    for name in ("fused", "materialising"):
        assert runs[name].final_lam_hat[0] == lam0 - s * 0.25, name
    # and the sequential order is what distinguishes it: 1/2 (pairwise) would give another multiplier
    assert lam0 - s * 0.5 != lam0 - s * 0.25


def test_random_instance_step_sizes_run_on_every_driver():
    """Positive control of the validation: the drivers still run a default instance with its own saddle point."""
    p = random_instance(5, 4, 2, 0.2, seed=2)
    e = thm34_step_sizes(p)
    for name, run in DRIVERS.items():
        assert run(p, eta_th=e[0], eta_lam=e[1], T=4).n_steps == 4, name
