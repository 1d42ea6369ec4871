"""Property-based tests (hypothesis, derandomized so a run is reproducible) of the small building blocks.

Each property is a mathematical fact the rest of opdcheck relies on: weak duality, the prox/gradient
relation between the dual conventions, the mirror step's limits, KL's sign, file round trips.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from opdcheck.instances import load_problem, random_instance, save_problem
from opdcheck.kernels.rules import dual_step, primal_mirror_step
from opdcheck.numerics.dual import best_response, dual_value, primal_objective
from opdcheck.logspace import kl_rows, softmax_rows

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)

sizes = st.tuples(st.integers(1, 6), st.integers(2, 6), st.integers(1, 3))
betas = st.floats(0.01, 3.0)
seeds = st.integers(0, 10_000)


def _problem(size, beta, seed):
    X, n, h = size
    return random_instance(X, n, h, beta, seed=seed)


@SETTINGS
@given(size=sizes, beta=betas, seed=seeds, lam_scale=st.floats(0.0, 5.0))
def test_weak_duality_and_best_response(size, beta, seed, lam_scale):
    # D(lam) >= L(pi, lam) for every pi, with equality at pi_lam (eq. (3)); with L = P + <lam, c> and
    # lam >= 0 this gives D(lam) >= P(pi) for feasible pi: the duality gaps the routes report are >= 0.
    p = _problem(size, beta, seed)
    rng = np.random.default_rng(seed)
    lam = lam_scale * rng.random(p.h)
    pi_lam = best_response(p, lam)
    assert np.isclose(dual_value(p, lam), p.lagrangian(pi_lam, lam), rtol=1e-10, atol=1e-10)
    other = softmax_rows(rng.normal(size=(p.X, p.n)))
    assert dual_value(p, lam) >= p.lagrangian(other, lam) - 1e-10
    # L(pi, lam) = P(pi) + <lam, c(pi)>: the Lagrangian's definition, used by every duality-gap report
    assert np.isclose(p.lagrangian(other, lam) - primal_objective(p, other), lam @ p.constraint_values(other),
                      rtol=1e-10, atol=1e-10)


@SETTINGS
@given(lam_hat=st.lists(st.floats(0, 10), min_size=1, max_size=5), eta=st.floats(0.05, 20.0), seed=seeds)
def test_prox_dual_step_is_the_gradient_step_at_twice_eta(lam_hat, eta, seed):
    lam_hat = np.array(lam_hat)
    c = np.random.default_rng(seed).normal(size=lam_hat.shape)
    prox = dual_step(lam_hat, c, eta, convention="prox")
    assert np.all(prox >= 0)
    np.testing.assert_allclose(prox, dual_step(lam_hat, c, 2 * eta, convention="gradient"), rtol=0, atol=1e-15)
    # the prox step is the exact minimiser of <lam, c> + eta ||lam - lam_hat||^2 over lam >= 0 (eqs. (5)/(7))
    obj = lambda lam: lam @ c + eta * np.sum((lam - lam_hat) ** 2)  # noqa: E731
    for d in np.eye(len(lam_hat)):
        for s in (1e-3, -1e-3):
            trial = np.maximum(prox + s * d, 0.0)
            assert obj(trial) >= obj(prox) - 1e-12


@SETTINGS
@given(size=sizes, beta=betas, seed=seeds, eta=st.floats(0.0, 10.0))
def test_mirror_step_limits(size, beta, seed, eta):
    # rows sum to 1; eta_th = 0 is the best response (3); a step from pi_lam at lam stays at pi_lam
    p = _problem(size, beta, seed)
    lam = np.random.default_rng(seed).random(p.h)
    pi_lam = best_response(p, lam)
    log_pi = primal_mirror_step(p, p.log_pi_ref, lam, eta)
    np.testing.assert_allclose(np.exp(log_pi).sum(axis=1), 1.0, atol=1e-12)
    if eta == 0:
        np.testing.assert_allclose(np.exp(log_pi), pi_lam, atol=1e-12)
    np.testing.assert_allclose(np.exp(primal_mirror_step(p, np.log(pi_lam), lam, eta)), pi_lam, atol=1e-10)


@SETTINGS
@given(X=st.integers(1, 5), n=st.integers(2, 6), seed=seeds)
def test_kl_is_nonnegative_and_zero_on_the_diagonal(X, n, seed):
    rng = np.random.default_rng(seed)
    p, q = softmax_rows(rng.normal(size=(X, n)) * 3), softmax_rows(rng.normal(size=(X, n)) * 3)
    assert np.all(kl_rows(p, q) >= -1e-15)
    np.testing.assert_allclose(kl_rows(p, p), 0.0, atol=1e-15)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(size=sizes, beta=st.floats(0.0, 3.0), seed=seeds, suffix=st.sampled_from([".npz", ".json"]))
def test_file_round_trip_is_exact(tmp_path_factory, size, beta, seed, suffix):
    p = _problem(size, beta, seed)
    q = load_problem(save_problem(p, tmp_path_factory.mktemp("rt") / f"p{suffix}"))
    for field in ("rho", "pi_ref", "R_soft", "w", "R_hard"):
        np.testing.assert_array_equal(getattr(p, field), getattr(q, field))
    assert q.beta == p.beta
