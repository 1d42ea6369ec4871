"""Policy classes and parameter sets (kernels/policies.py): shapes, scores, Fisher matrices, projections."""
import numpy as np
import pytest

from opdcheck.kernels.policies import (Box, CustomPolicy, Interval, L2Ball, LogLinear, TabularSoftmax, WholeSpace,
                                       quadratic_two_arm_class)

RNG = np.random.default_rng(12345)


def _fd_score(cls, theta, h=1e-6):
    """Central differences of log_probs (tolerance 1e-7: truncation O(h^2) ~ 1e-12, rounding ~1e-10/h)."""
    G = np.zeros((cls.X, cls.n, cls.d))
    for k in range(cls.d):
        e = np.zeros(cls.d)
        e[k] = h
        G[:, :, k] = (cls.log_probs(theta + e) - cls.log_probs(theta - e)) / (2 * h)
    return G


@pytest.mark.parametrize("cls", [TabularSoftmax(2, 3), LogLinear(RNG.normal(size=(3, 4, 5))), quadratic_two_arm_class()])
def test_score_matches_finite_differences(cls):
    theta = np.full(cls.d, 0.3) if cls.d == 1 else RNG.normal(size=cls.d)
    assert np.allclose(cls.score(theta), _fd_score(cls, theta), atol=1e-7)
    lp = cls.log_probs(theta)
    assert np.allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-14)


def test_loglinear_blas_fisher_equals_score_moment():
    cls = LogLinear(RNG.normal(size=(4, 6, 3)))
    rho = RNG.dirichlet(np.ones(4))
    th = RNG.normal(size=3)
    pi = np.exp(cls.log_probs(th))
    G = cls.score(th)
    F_ref = np.einsum("x,xy,xyd,xye->de", rho, pi, G, G)
    assert np.allclose(cls.fisher(th, rho), F_ref, atol=1e-13)
    # uncentred second moment differs unless features are centred
    assert np.abs(cls.fisher(th, rho, centred=False) - F_ref).max() > 1e-3


def test_tabular_fisher_formula_and_rank():
    cls = TabularSoftmax(3, 4)
    rho = np.array([0.2, 0.5, 0.3])
    F = cls.fisher(RNG.normal(size=12), rho)
    assert np.linalg.matrix_rank(F) == 12 - 3  # one null direction (constant shift) per prompt


def test_projections_exact():
    b = Box(-1.0, 2.0)
    assert np.array_equal(b.project(np.array([-3.0, 0.5, 5.0])), [-1.0, 0.5, 2.0])
    ball = L2Ball(2.0)
    v = ball.project(np.array([3.0, 4.0]))
    assert np.isclose(np.linalg.norm(v), 2.0, atol=1e-15) and np.allclose(v / np.linalg.norm(v), [0.6, 0.8])
    assert np.array_equal(ball.project(np.array([0.1, 0.2])), [0.1, 0.2])
    assert Interval(-1, 1).project(np.array([1.5]))[0] == 1.0
    x = RNG.normal(size=4)
    assert np.array_equal(WholeSpace().project(x), x)
    for s in (b, ball):  # idempotent, contains its samples
        y = s.sample(RNG, 2)
        assert s.contains(y, atol=1e-15) and np.array_equal(s.project(s.project(x[:2])), s.project(x[:2]))


def test_bad_input_errors_name_the_field():
    with pytest.raises(ValueError, match="Box"):
        Box(1.0, -1.0)
    with pytest.raises(ValueError, match="radius"):
        L2Ball(-1.0)
    with pytest.raises(ValueError, match="phi"):
        LogLinear(np.ones((2, 3)))
    with pytest.raises(ValueError, match="theta"):
        TabularSoftmax(2, 3).project(np.ones(5))
    bad = CustomPolicy(lambda th: np.zeros((2, 2)), lambda th: np.zeros((1, 2, 1)), d=1, X=1, n=2)
    with pytest.raises(ValueError, match="log_prob_fn"):
        bad.log_probs(np.zeros(1))


def test_counterexample_class_score_and_fisher_vanish_at_zero():
    q = quadratic_two_arm_class()
    assert np.all(q.score(np.zeros(1)) == 0.0)
    assert q.fisher(np.zeros(1), np.ones(1))[0, 0] == 0.0
    assert np.isclose(np.exp(q.log_probs(np.ones(1)))[0, 0], 0.3)
