"""The driver's batch axis: a batch of step-size cells is the one-cell runs, stacked (kernels/opd.py)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from opdcheck.instances import paper_toy
from opdcheck.kernels.framework import run_config
from opdcheck.kernels.opd import run_primal_dual
from opdcheck.kernels.rules import dual_step, primal_mirror_step
from opdcheck.paper_checks.studies.alg1_designs import rational_design

ETH = np.array([1 / 32, 0.25, 1.0, 4.0, 32.0, 0.5])
ELM = np.array([1 / 32, 32.0, 1.0, 0.125, 0.25, 3.0])


def _design(beta):
    from opdcheck.numerics.saddle import solve_saddle

    d = rational_design(5, X=2, n=3, h=1, beta=Fraction(1, 10))
    p = d.problem if beta > 0 else d.problem.with_beta(0.0)
    return p, solve_saddle(p)


def _same(one, cell):
    """One run and its cell of a batch: the same steps, states and stop; metrics equal to 1 ulp."""
    assert (one.n_steps, one.diverged, one.first_nonfinite, one.stop_reason) == \
        (cell.n_steps, cell.diverged, cell.first_nonfinite, cell.stop_reason)
    assert np.array_equal(one.final_log_pi_hat, cell.final_log_pi_hat)
    assert np.array_equal(one.final_lam_hat, cell.final_lam_hat)
    assert np.array_equal(one.error, cell.error)
    assert set(one.metrics) == set(cell.metrics)
    for k, v in one.metrics.items():
        w = cell.metrics[k]
        assert v.shape == w.shape, k
        fin = np.isfinite(v)
        assert np.array_equal(fin, np.isfinite(w)), k
        assert np.all(np.abs(v[fin] - w[fin]) <= np.spacing(np.abs(v[fin]))), k
    for key in ("method", "eta_th", "eta_lam", "primal_step", "dual_step_size", "stop_below", "T"):
        assert one.config[key] == cell.config[key], key


@pytest.mark.parametrize("beta", [0.0, 0.1])
@pytest.mark.parametrize("method", ["opd", "simultaneous-pd", "finite-step-pd", "multi-shot"])
def test_batched_cells_equal_one_cell_runs(method, beta):
    p, sad = _design(beta)
    kw = dict(T=120, dual_step="prox", saddle=sad, stop_below=1e-16, K=3 if method == "multi-shot" else None)
    cells = run_config(method, p, eta_th=ETH, eta_lam=ELM, **kw)
    assert isinstance(cells, list) and len(cells) == ETH.size
    for i in range(ETH.size):
        _same(run_config(method, p, eta_th=float(ETH[i]), eta_lam=float(ELM[i]), **kw), cells[i])


def test_batch_keeps_divergence_and_stop_rules_per_cell():
    """A diverging cell stops at its first non-finite step (not committed) while its neighbours run on; a
    converged cell stops at the stop_below threshold; each as in its one-cell run."""
    from opdcheck.numerics.types import SaddlePoint
    from opdcheck.problem import Problem

    p = paper_toy()
    huge = Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft, w=p.w, R_hard=p.R_hard * 1e150, beta=p.beta,
                   name="toy with constraint rewards x 1e150")
    stand_in = SaddlePoint(pi=p.pi_ref, lam=np.zeros(p.h), primal_value=0.0, dual_value=0.0, duality_gap=0.0,
                           kkt={}, method="stand-in (metrics only)")
    elm = np.array([1e160, 1e-200, 1e148])  # the middle cell's multiplier overflows at step 1
    kw = dict(prediction="optimistic", eta_th=1.0, T=40, saddle=stand_in)
    with np.errstate(over="ignore"):
        cells = run_primal_dual(huge, eta_lam=elm, **kw)
        ones = [run_primal_dual(huge, eta_lam=float(e), **kw) for e in elm]
    assert [c.stop_reason for c in cells] == ["T reached", "non-finite", "T reached"]
    for one, cell in zip(ones, cells):
        _same(one, cell)
    q, sad = _design(0.1)
    kw = dict(T=120, dual_step="prox", saddle=sad, stop_below=1e-16)
    cells = run_config("opd", q, eta_th=ETH, eta_lam=ELM, **kw)
    assert cells[-1].stop_reason == "error below stop threshold" and cells[-1].n_steps < 120
    assert cells[0].stop_reason == "T reached"  # its neighbour's stop did not stop it


def test_scalar_weight_is_shared_by_every_cell():
    p = paper_toy()
    cells = run_primal_dual(p, prediction="optimistic", eta_th=3.0, eta_lam=np.array([3.0, 6.0]), T=50)
    for el, c in zip((3.0, 6.0), cells):
        _same(run_primal_dual(p, prediction="optimistic", eta_th=3.0, eta_lam=el, T=50), c)
    cells = run_config("multi-shot", p, eta_th=3.0, eta_lam=np.array([3.0, 6.0]), T=50, K=2)
    for el, c in zip((3.0, 6.0), cells):
        _same(run_config("multi-shot", p, eta_th=3.0, eta_lam=el, T=50, K=2), c)


def test_rules_broadcast_over_cells():
    p = paper_toy()
    rng = np.random.default_rng(0)
    eta = np.array([0.5, 2.0, 7.0])
    z = np.stack([p.log_pi_ref + 0.1 * rng.standard_normal(p.log_pi_ref.shape) for _ in eta])
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    lam = np.abs(rng.standard_normal((eta.size, p.h)))
    c = rng.standard_normal((eta.size, p.h))
    out = primal_mirror_step(p, z, lam, eta)
    lam_out = dual_step(lam, c, eta, convention="gradient")
    for i in range(eta.size):
        assert np.array_equal(out[i], primal_mirror_step(p, z[i], lam[i], float(eta[i])))
        assert np.array_equal(lam_out[i], dual_step(lam[i], c[i], float(eta[i]), convention="gradient"))


@pytest.mark.parametrize("kw, field", [
    (dict(eta_th=np.array([1.0, -1.0]), eta_lam=np.array([1.0, 1.0])), "eta_th"),
    (dict(eta_th=np.array([1.0, 2.0]), eta_lam=np.array([1.0, 0.0])), "eta_lam"),
    (dict(eta_th=np.array([1.0, 2.0]), eta_lam=np.array([1.0, 1.0, 1.0])), "cells"),
    (dict(eta_th=np.array([[1.0]]), eta_lam=1.0), "shape"),
    (dict(eta_th=np.array([1.0, 2.0]), eta_lam=1.0, keep_every=5), "keep_every"),
])
def test_bad_batch_input_is_one_line_naming_the_field(kw, field):
    with pytest.raises(ValueError) as exc:
        run_primal_dual(paper_toy(), prediction="optimistic", T=5, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and field in msg


def test_batch_refuses_a_primal_without_batch_axis():
    from opdcheck.kernels.rules import MirrorStep

    p = paper_toy()
    with pytest.raises(ValueError, match="no batch axis"):
        run_primal_dual(p, prediction="optimistic", eta_th=np.array([1.0, 2.0]), eta_lam=1.0, T=5,
                        primal=MirrorStep(p, 1.0))
