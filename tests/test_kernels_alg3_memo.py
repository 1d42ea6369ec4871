"""The memos that make Algorithm 3 cheaper change no bit: a memoised step, pseudo-inverse, metric factor, in-class
search and symbolic residual give exactly what the plain computation gives, and a memo never answers for another input."""
import numpy as np
import pytest
import sympy as sp

from opdcheck.instances import random_instance
from opdcheck.kernels import alg3
from opdcheck.kernels.alg3 import NaturalGradientStep, natural_direction, run_alg3
from opdcheck.kernels.inexact import FeatureMisspecification, InexactStep, L1Perturbation, SampledEstimates
from opdcheck.kernels.policies import Box, L2Ball, LogLinear, TabularSoftmax
from opdcheck.numerics import in_class
from opdcheck.paper_checks.studies import fisher_projection as fp
from opdcheck.theory.alg3 import _simplify_exp_rational, eq72_hessian_residual, softmax_symbols

P = random_instance(2, 3, 1, 0.2, 3)


def _loglinear(ps=None, seed=1):
    phi = np.random.default_rng(seed).normal(size=(2, 3, 3))
    return LogLinear(np.concatenate([phi, phi[..., 2:3]], axis=2), ps)  # rank F = 3 < d = 4


class PlainStep(NaturalGradientStep):
    """The step without any memo: natural_direction and log_probs recomputed at every call (the reference)."""

    def direction_at(self, theta, lam):
        return natural_direction(self.problem, self.policy, theta, lam, direction=self.direction, fisher=self.fisher,
                                 rcond=self.rcond, backend=self.backend)

    def log_policy(self, state):
        return self.policy.log_probs(state)


class PlainFisherStep(fp.FisherProjectedStep):
    def direction_at(self, theta, lam):
        return PlainStep.direction_at(self, theta, lam)

    def log_policy(self, state):
        return self.policy.log_probs(state)

    def fisher_at(self, theta):
        return self.policy.fisher(theta, self.problem.rho)


def _clear_memos():
    alg3._PINV_FACTOR_MEMO = ()
    fp._FACTOR_MEMO = None


@pytest.mark.parametrize("cls, fisher", [(_loglinear(L2Ball(2.0)), "centred"), (_loglinear(Box(-1.0, 1.0)), "centred"),
                                         (_loglinear(L2Ball(2.0)), "uncentred"), (TabularSoftmax(2, 3), "centred"),
                                         (TabularSoftmax(2, 3), "unweighted")])
def test_memoised_step_gives_the_same_bits_as_the_plain_step(cls, fisher):
    runs = {}
    for name, step_cls in (("memo", NaturalGradientStep), ("plain", PlainStep)):
        _clear_memos()
        st = step_cls(P, cls, 3.0, np.zeros(cls.d), fisher=fisher)
        tr = run_alg3(P, cls, eta_th=3.0, eta_lam=3.0, T=150, dual_step="prox", primal=st, keep_every=1)
        runs[name] = tr
    a, b = runs["memo"], runs["plain"]
    for k in ("kl_star", "lam_err2", "kl_hat_pred", "constraint", "gap"):
        assert np.array_equal(a.metrics[k], b.metrics[k]), k
    assert np.array_equal(a.extra["final_primal_state"], b.extra["final_primal_state"])
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a.iterates, b.iterates))


@pytest.mark.parametrize("ps", [Box(-1.0, 1.0), L2Ball(2.0)])
def test_fisher_metric_step_with_memos_gives_the_same_bits(ps):
    cls = _loglinear(ps)
    out = []
    for step_cls in (fp.FisherProjectedStep, PlainFisherStep):
        _clear_memos()
        tr = run_alg3(P, cls, eta_th=3.0, eta_lam=3.0, T=80, dual_step="prox", primal=step_cls(P, cls, 3.0))
        out.append(tr)
    assert np.array_equal(out[0].error, out[1].error)
    assert np.array_equal(out[0].extra["final_primal_state"], out[1].extra["final_primal_state"])


def test_pinv_memo_never_answers_for_another_matrix_or_cutoff():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    F1, F2 = A @ A.T, A.T @ A
    g = rng.normal(size=4)
    _clear_memos()
    fresh = {}
    for key, F, rc in (("F1", F1, 1e-12), ("F2", F2, 1e-12), ("F1-cut", F1, 0.5)):
        _clear_memos()
        fresh[key] = alg3._pinv_solve(F, g, rc)
    _clear_memos()
    seq = [("F1", F1, 1e-12), ("F2", F2, 1e-12), ("F1", F1, 1e-12), ("F1-cut", F1, 0.5), ("F2", F2, 1e-12),
           ("F1", F1, 1e-12)]
    for key, F, rc in seq:
        assert np.array_equal(alg3._pinv_solve(F, g, rc), fresh[key]), key
    # negative control: the answers differ, so a stale memo would have been seen
    assert not np.allclose(fresh["F1"], fresh["F2"]) and not np.allclose(fresh["F1"], fresh["F1-cut"])
    # the zero matrix: F^+ = 0, memoised as such, and a non-zero F afterwards is not answered by it
    assert np.array_equal(alg3._pinv_solve(np.zeros((4, 4)), g, 1e-12), np.zeros(4))
    assert np.array_equal(alg3._pinv_solve(F1, g, 1e-12), fresh["F1"])


def test_metric_factor_memo_never_answers_for_another_matrix():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    M1, M2 = A @ A.T + np.eye(4), A.T @ A + np.eye(4)
    z = 3.0 * rng.normal(size=4)
    for ps in (Box(-1.0, 1.0), L2Ball(1.5)):
        fresh = []
        for M in (M1, M2):
            _clear_memos()
            fresh.append(fp.fisher_projection(z, M, ps))
        assert not np.allclose(fresh[0], fresh[1])
        _clear_memos()
        for i in (0, 1, 0, 0, 1):
            assert np.array_equal(fp.fisher_projection(z, (M1, M2)[i], ps), fresh[i])


@pytest.mark.parametrize("model", [lambda: L1Perturbation(1e-3, 4), lambda: SampledEstimates(1000, 4),
                                   lambda: FeatureMisspecification(1e-2, 4)])
def test_inexact_models_on_a_memoised_step_give_the_same_bits(model):
    cls = _loglinear()
    th0 = np.zeros(cls.d)
    outs = []
    for step_cls in (NaturalGradientStep, PlainStep):
        _clear_memos()
        st = InexactStep(step_cls(P, cls, 3.0, th0), model())
        tr = run_alg3(P, cls, eta_th=3.0, eta_lam=3.0, T=60, dual_step="prox", primal=st)
        outs.append((tr.error, st.deviations))
    assert np.array_equal(outs[0][0], outs[1][0]) and outs[0][1] == outs[1][1]


def test_misspecified_features_are_rebuilt_for_another_class():
    a, b = _loglinear(seed=1), _loglinear(seed=2)
    lam, th = np.array([0.7]), np.full(4, 0.1)
    m = FeatureMisspecification(1e-2, 5)
    for cls in (a, b):  # the same model object on a second class: its misspecified copy follows the class
        st = NaturalGradientStep(P, cls, 3.0)
        got = m.implemented(st, th, lam, st.exact_step(th, lam))
        fresh = FeatureMisspecification(1e-2, 5).implemented(st, th, lam, st.exact_step(th, lam))
        assert np.array_equal(got, fresh)


def test_in_class_log_probs_memo_follows_the_point_even_when_mutated_in_place():
    cls = _loglinear(L2Ball(2.0))
    lp = in_class._log_probs_memo(cls)
    th = np.zeros(cls.d)
    first = lp(th).copy()
    th[0] = 0.5  # the optimiser may reuse its array: the memo is keyed on the values, not the object
    assert np.array_equal(lp(th), cls.log_probs(th)) and not np.array_equal(lp(th), first)
    lam = np.array([0.4])
    assert in_class.restricted_lagrangian(P, cls, th, lam, log_pi=lp(th)) == in_class.restricted_lagrangian(P, cls, th, lam)
    assert np.array_equal(in_class.restricted_gradient(P, cls, th, lam, log_pi=lp(th)),
                          in_class.restricted_gradient(P, cls, th, lam))


def test_eq72_residual_by_cancel_is_zero_and_a_wrong_fisher_is_not():
    assert eq72_hessian_residual(3) == sp.zeros(3, 3)
    th, pi = softmax_symbols(3)
    assert _simplify_exp_rational(pi[0] * (1 - pi[0]) - (pi[0] - pi[0] ** 2), th) == 0
    # negative control: the uncentred second moment diag(pi) in place of diag(pi) - pi pi^T leaves pi_0^2
    wrong = _simplify_exp_rational(pi[0] - (pi[0] - pi[0] ** 2), th)
    assert wrong != 0 and sp.simplify(wrong - pi[0] ** 2) == 0
