"""Algorithm 3 kernels: natural-gradient directions, the PrimalStep in the one driver, inexactness, in-class saddle."""
import numpy as np
import pytest

from opdcheck.instances import random_instance
from opdcheck.kernels.alg3 import NaturalGradientStep, StaleAnchorStep, natural_direction, run_alg3
from opdcheck.kernels.inexact import FeatureMisspecification, InexactStep, L1Perturbation, SampledEstimates
from opdcheck.kernels.opd import run_opd
from opdcheck.kernels.policies import L2Ball, LogLinear, TabularSoftmax
from opdcheck.numerics.in_class import solve_in_class

P = random_instance(3, 4, 2, 0.3, 11)


def _rankdef_loglinear():
    phi = np.random.default_rng(3).normal(size=(3, 4, 3))
    return LogLinear(np.concatenate([phi, phi[..., :1]], axis=2))  # duplicated column: rank F = 3 < d = 4


@pytest.mark.parametrize("cls", [TabularSoftmax(3, 4), _rankdef_loglinear()])
def test_pinv_equals_least_squares_including_rank_deficient(cls):
    rng = np.random.default_rng(0)
    th, lam = rng.normal(size=cls.d), np.array([0.4, 1.3])
    w1 = natural_direction(P, cls, th, lam, direction="pinv")
    w2 = natural_direction(P, cls, th, lam, direction="lstsq")
    assert np.linalg.matrix_rank(cls.fisher(th, P.rho)) < cls.d
    assert np.abs(w1 - w2).max() <= 1e-8 * max(1.0, np.abs(w1).max())  # ALG3_DIRECTION_RTOL


def test_tabular_alg3_reproduces_alg2_aligned_and_not_as_printed():
    eta = 3.0 * np.sqrt(2) * P.R_max
    tr2 = run_opd(P, eta_th=eta, eta_lam=eta, T=200, keep_every=1)
    cls = TabularSoftmax(3, 4)
    th0 = TabularSoftmax.theta_of(P.log_pi_ref)
    tr3 = run_alg3(P, cls, eta_th=eta, eta_lam=eta, T=200, dual_step="prox", theta0=th0, keep_every=1)
    gap = max(np.abs(a[1] - b[1]).max() for a, b in zip(tr2.iterates, tr3.iterates))
    assert len(tr3.iterates) == 201 and gap <= 1e-10  # REMARK35_POLICY_ATOL
    tr3g = run_alg3(P, cls, eta_th=eta, eta_lam=eta, T=200, dual_step="gradient", theta0=th0, keep_every=1)
    assert max(np.abs(a[1] - b[1]).max() for a, b in zip(tr2.iterates, tr3g.iterates)) > 1e-3


def test_negative_control_fisher_variants_on_tabular():
    """The issue expected an uncentred Fisher to break Remark 3.5; on tabular classes it does not (w = A).
    Dropping the prompt weights does break it."""
    eta = 3.0 * np.sqrt(2) * P.R_max
    tr2 = run_opd(P, eta_th=eta, eta_lam=eta, T=100, keep_every=1)
    cls = TabularSoftmax(3, 4)
    th0 = TabularSoftmax.theta_of(P.log_pi_ref)
    gaps = {}
    for f in ("uncentred", "unweighted"):
        st = NaturalGradientStep(P, cls, eta, th0, fisher=f)
        tr = run_alg3(P, cls, eta_th=eta, eta_lam=eta, T=100, dual_step="prox", primal=st, keep_every=1)
        gaps[f] = max(np.abs(a[1] - b[1]).max() for a, b in zip(tr2.iterates, tr.iterates))
    assert gaps["uncentred"] <= 1e-10 and gaps["unweighted"] > 1e-3


def test_theta0_outside_theta_is_a_clear_error():
    cls = LogLinear(np.ones((3, 4, 2)), L2Ball(1.0))
    with pytest.raises(ValueError, match="theta0"):
        NaturalGradientStep(P, cls, 3.0, [2.0, 0.0])
    with pytest.raises(ValueError, match="policy"):
        NaturalGradientStep(P, TabularSoftmax(2, 4), 3.0)


def test_stale_anchor_differs_from_correct_step():
    cls = _rankdef_loglinear()
    sad = type("S", (), {"pi": np.exp(cls.log_probs(np.zeros(4))), "lam": np.zeros(2)})()
    good = NaturalGradientStep(P, cls, 3.0, np.zeros(4), record=True)
    bad = StaleAnchorStep(P, cls, 3.0, np.zeros(4), record=True)
    t1 = run_alg3(P, cls, eta_th=3.0, eta_lam=3.0, T=20, primal=good, saddle=sad)
    t2 = run_alg3(P, cls, eta_th=3.0, eta_lam=3.0, T=20, primal=bad, saddle=sad)
    assert all(np.array_equal(good.trace[2 * t][0], good.trace[2 * t + 1][0]) for t in range(20))
    assert not all(np.array_equal(bad.trace[2 * t][0], bad.trace[2 * t + 1][0]) for t in range(20))
    assert np.abs(t1.final_log_pi_hat - t2.final_log_pi_hat).max() > 1e-6


@pytest.mark.parametrize("model", [L1Perturbation(1e-3, 1), SampledEstimates(1000, 1), FeatureMisspecification(1e-2, 1)])
def test_inexact_models_record_achieved_eps_and_are_deterministic(model):
    cls = LogLinear(np.random.default_rng(5).normal(size=(3, 4, 3)))
    sad = type("S", (), {"pi": np.exp(cls.log_probs(np.zeros(3))), "lam": np.zeros(2)})()
    outs = []
    for _ in range(2):
        st = InexactStep(NaturalGradientStep(P, cls, 3.0, np.zeros(3)), model)
        tr = run_alg3(P, cls, eta_th=3.0, eta_lam=3.0, T=15, primal=st, saddle=sad)
        outs.append((tr.final_log_pi_hat, st.eps_achieved))
        assert len(st.deviations) == 30 and st.eps_achieved > 0
    assert np.array_equal(outs[0][0], outs[1][0]) and outs[0][1] == outs[1][1]
    if isinstance(model, L1Perturbation):
        assert outs[0][1] <= 1e-3 + 1e-15  # the projection (whole space: none) can only shorten it


def test_in_class_saddle_counterexample_and_loglinear_convergence():
    from opdcheck.instances import cor310_counterexample
    from opdcheck.kernels.policies import quadratic_two_arm_class

    ic = solve_in_class(cor310_counterexample(), quadratic_two_arm_class())
    assert abs(abs(ic.theta[0]) - 1.0) <= 1e-12 and ic.lam[0] == 0.0 and ic.certified
    p = random_instance(2, 3, 1, 0.2, 3)
    phi = np.random.default_rng(1).normal(size=(2, 3, 3))
    cls = LogLinear(np.concatenate([phi, phi[..., 2:3]], axis=2), L2Ball(40.0))
    ic = solve_in_class(p, cls)
    assert ic.certified
    tr = run_alg3(p, cls, eta_th=3.0, eta_lam=3.0, T=2000, dual_step="prox", saddle=ic)
    assert tr.error[-1] <= 1e-8 * tr.error[0]  # ALG3_CONVERGED_RTOL
