"""Fused coefficient-space kernel (kernels/numba_fused.py), the vectorised exp (kernels/fastexp.py) and
the coefficient recursion (theory/coefficients.py): agreement with the numpy reference, determinism,
bad input, and negative controls that show each comparison can fail."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import sympy as sp

from opdcheck.instances import paper_toy, random_instance
from opdcheck.kernels.fastexp import vexp
from opdcheck.kernels.numba_fused import (initial_coefficients, policy_from_coefficients, primal_coefficients,
                                          run_opd_fused)
from opdcheck.kernels.opd import run_primal_dual, thm34_step_sizes
from opdcheck.kernels.rules import primal_mirror_step
from opdcheck.logspace import softmax_rows
from opdcheck.numerics.saddle import solve_saddle
from opdcheck.problem import Problem
from opdcheck.theory.coefficients import coefficient_map, prove_coefficient_recursion
from opdcheck.kernels.accuracy import exp_within_ulp
from opdcheck.tolerances import FASTEXP_MAX_ULP, FUSED_AGREEMENT_RTOL

METRICS = ("kl_star", "lam_err2", "kl_hat_pred", "lam_hat_pred2", "gap", "constraint", "error", "potential")


def worst_disagreement(a, b, steps=None) -> float:
    """max over metrics of max_t |a_t - b_t| / max_t |a_t| (the NUMBA_AGREEMENT_RTOL criterion), plus
    the final iterates (relative to 1)."""
    worst = 0.0
    for k in METRICS:
        x = a.metrics[k] if steps is None else a.metrics[k][steps]
        y = b.metrics[k]
        assert x.shape == y.shape, k
        scale = float(np.max(np.abs(x))) or 1.0
        worst = max(worst, float(np.max(np.abs(x - y))) / scale)
    worst = max(worst, float(np.max(np.abs(a.final_pi_hat - b.final_pi_hat))),
                float(np.max(np.abs(a.final_lam_hat - b.final_lam_hat))) / max(1.0, float(np.max(a.final_lam_hat))))
    return worst


def extreme_instance() -> Problem:
    """beta = 1e-3, R_max = 100, p_min = 1e-12, n = 1e4 with X = 1."""
    base = random_instance(1, 10_000, 2, 1e-3, seed=11, reward_scale=100.0)
    pi_ref = np.array(base.pi_ref)
    pi_ref[0, :3] = 1e-12
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    return Problem(base.rho, pi_ref, base.R_soft, base.w, base.R_hard, 1e-3, name="extreme(X=1,n=1e4)")


def some_saddle(p: Problem) -> SimpleNamespace:
    """A point to measure distances to (the metrics need one; agreement does not need it to be the saddle)."""
    lam = np.full(p.h, 0.5)
    return SimpleNamespace(pi=softmax_rows(p.log_pi_ref + p.scores(lam) / p.beta), lam=lam)


# ------------------------------------------------------------------------------------------ exp
def test_fastexp_ulp_over_the_full_range_including_underflow():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-746.0, 709.78, 400_001), rng.uniform(-746.0, 709.78, 200_000),
                        np.linspace(-745.2, -708.0, 20_001), rng.uniform(-1.0, 1.0, 50_000), [0.0, -0.0]])
    got, want = vexp(x), np.exp(x)
    normal = want >= np.finfo(np.float64).tiny
    ulp = np.abs(got[normal] - want[normal]) / np.spacing(want[normal])
    assert ulp.max() <= FASTEXP_MAX_ULP and exp_within_ulp(got, want)
    # subnormal results: within one subnormal spacing, and 0 exactly where libm gives 0
    assert np.max(np.abs(got[~normal] - want[~normal])) <= 2.0 ** -1074
    assert np.array_equal(got[want == 0.0] == 0.0, np.ones(int(np.sum(want == 0.0)), bool))
    with np.errstate(over="ignore"):
        assert np.isinf(vexp(np.array([709.8, 710.0]))).all()


def test_fastexp_polynomial_is_the_stated_fit():
    """EXP_POLY (exp1's degree-11 polynomial) is the Chebyshev fit it says it is, re-derived at 50
    digits, and that fit's error is far below half an ulp (the Taylor polynomial of degree 11 is not:
    negative control, its truncation r^12/12! at ln2/2 is 6e-15 relative, ~30 ulp)."""
    import math
    from opdcheck.kernels.fastexp import EXP_POLY, fit_poly
    coef, err = fit_poly()
    # within a few ulp, not bit for bit: another mpmath release may round the fit's last digit differently;
    # the accuracy contract itself is the ulp tests' business
    assert np.allclose(coef, EXP_POLY, rtol=4 * np.finfo(float).eps, atol=0.0)
    assert err < 1e-17
    r = np.linspace(-0.3466, 0.3466, 10_001)
    taylor11 = sum(r ** k / math.factorial(k) for k in range(12))
    assert np.max(np.abs(taylor11 - np.exp(r)) / np.spacing(np.exp(r))) > FASTEXP_MAX_ULP


def test_fastexp_negative_control_a_wrong_coefficient_is_caught():
    """The ulp test can fail: the r^5 Taylor coefficient off by 1e-9 (relative) exceeds the bound."""
    import opdcheck.kernels.fastexp as fx
    r = np.linspace(-0.3466, 0.3466, 10_001)
    bad = np.exp(r) + 1e-9 * r ** 5 / 120.0
    ulp_bad = np.max(np.abs(bad - np.exp(r)) / np.spacing(np.exp(r)))
    assert ulp_bad > FASTEXP_MAX_ULP
    with pytest.raises(ValueError, match="non-finite"):
        fx.vexp(np.array([np.nan]))


def test_the_exp_inside_the_fused_row_loop_keeps_the_accuracy_contract():
    """The exp as the fused pass evaluates it (inlined in ``_logits_exp_dots``, under that loop's reassoc
    flags, vectorised) meets the same ulp contract as ``vexp`` over the full range, subnormal results
    and overflow included: the logits are x itself (weight 1 on A0, 0 elsewhere) and the shift is 0."""
    import opdcheck.kernels.numba_fused as nf
    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(-746.0, 709.78, 200_001), np.linspace(-745.2, -708.0, 10_001),
                        rng.uniform(-1.0, 1.0, 20_000), [0.0, -0.0, 709.8, 710.0, -1000.0]])
    z = np.zeros_like(x)
    u, got = np.empty_like(x), np.empty_like(x)
    with np.errstate(over="ignore"):
        nf._logits_exp_dots(x, z, z, z, z, z, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, u, got)
        want = np.exp(x)
    assert np.array_equal(u, x)
    normal = np.isfinite(want) & (want >= np.finfo(np.float64).tiny)
    assert np.max(np.abs(got[normal] - want[normal]) / np.spacing(want[normal])) <= FASTEXP_MAX_ULP
    sub = want < np.finfo(np.float64).tiny
    assert np.max(np.abs(got[sub] - want[sub])) <= 2.0 ** -1074
    assert np.all(got[want == 0.0] == 0.0) and np.all(np.isinf(got[np.isinf(want)]))
    # negative control: the same comparison flags an exp that is off by 2 ulp
    assert np.max(np.abs(want[normal] * (1 + 4e-16) - want[normal]) / np.spacing(want[normal])) > FASTEXP_MAX_ULP


def test_the_loop_without_stores_gives_the_same_bits_and_the_stored_logits_are_shifted():
    """``_exp_dots`` (steps without metrics) is ``_logits_exp_dots`` without its two stores: the same five
    sums bit for bit; the stored u is the logits minus the shift and e = exp(u) (the metrics read
    log pi = u - log S from them)."""
    import opdcheck.kernels.numba_fused as nf
    rng = np.random.default_rng(5)
    A = rng.normal(size=(6, 257))
    k = (0.9, 3.0, 1.0, -0.5, 0.2, 0.3)
    m = 1.7
    u, e = np.empty(257), np.empty(257)
    stored = nf._logits_exp_dots(*A, *k, m, u, e)
    assert nf._exp_dots(*A, *k, m) == stored
    # every row length the kernel sends to the loop without stores gives the bits of the storing loop
    for n in list(range(nf.NO_STORE_MIN_N, 400)) + [999, 1000, 1001, 4099]:
        B = rng.normal(size=(6, n))
        un, en = np.empty(n), np.empty(n)
        assert nf._exp_dots(*B, *k, m) == nf._logits_exp_dots(*B, *k, m, un, en), n
    logits = sum(ki * Ai for ki, Ai in zip(k, A))
    np.testing.assert_allclose(u, logits - m, rtol=0, atol=1e-14 * np.max(np.abs(logits)))
    assert exp_within_ulp(e, np.exp(u))
    np.testing.assert_allclose(stored[0], np.sum(np.exp(logits - m)), rtol=1e-14)
    # negative control: the comparison sees a one-term change of a sum
    assert nf._exp_dots(A[0], A[1], A[2], A[3], A[4], A[5] + 1e-3, *k, m) != stored


@pytest.mark.parametrize("n", [5, 70])
def test_metrics_every_does_not_change_the_bits_of_the_run(n):
    """Steps without metrics take the row loop without stores; the run's state and its metrics at the
    steps both runs measure are the same bits with metrics at every step or every third (rows shorter
    than NO_STORE_MIN_N take the storing loop, where the two loops' sum orders differ)."""
    p = random_instance(5, n, 3, 0.1, seed=9)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=30, saddle=some_saddle(p))
    a = run_opd_fused(p, metrics_every=1, **kw)
    b = run_opd_fused(p, metrics_every=3, **kw)
    np.testing.assert_array_equal(a.extra["coefficients"], b.extra["coefficients"])
    np.testing.assert_array_equal(a.final_lam_hat, b.final_lam_hat)
    for k in ("kl_star", "lam_err2", "kl_hat_pred", "constraint", "gap"):
        np.testing.assert_array_equal(a.metrics[k][b.extra["metric_t"]], b.metrics[k])


@pytest.mark.parametrize("h", [1, 4, 6])
def test_a_row_at_a_bad_shift_is_redone_at_its_max_logit(h):
    """The shift of a row's exp is its normaliser from the previous pass; a shift that puts the row sum
    outside [e^-LOG_S_MAX, e^LOG_S_MAX] (here 1e3 too high, or not finite) is replaced by the row's max
    logit: the same normaliser and constraint sums as at a good shift, to rounding."""
    import opdcheck.kernels.numba_fused as nf
    p = random_instance(3, 50, h, 0.1, seed=8)
    w = np.concatenate([[0.8, 2.0], np.linspace(0.3, 1.1, h)])
    L, r, R = p.log_pi_ref, p.r, p.R_hard
    logits = w[0] * L[1] + w[1] * r[1] + np.tensordot(w[2:], R[:, 1], axes=(0, 0))
    lz = np.log(np.sum(np.exp(logits - logits.max()))) + logits.max()
    res = {}
    # a good shift, shifts whose row sum is finite but outside [e^-575, e^575], and shifts where it is 0 or inf
    for shift in (0.0, lz - 650.0, lz + 650.0, 1e3, -1e3, np.inf):
        u, e, c, V = np.empty(50), np.empty(50), np.empty(h), np.empty(50)
        m, S = nf._policy_row(w, L[1], r[1], R, 1, shift, u, e, c, V, False)
        res[shift] = (m + np.log(S), c / S)
        if abs(shift - lz) > nf.LOG_S_MAX:  # redone at the row's max logit
            np.testing.assert_allclose(m, logits.max(), rtol=1e-14, err_msg=f"shift {shift}")
    for shift, (z, cs) in res.items():
        np.testing.assert_allclose(z, lz, rtol=1e-14, err_msg=f"shift {shift}")
        np.testing.assert_allclose(cs, np.exp(logits - lz) @ R[:, 1].T, rtol=1e-13, err_msg=f"shift {shift}")


def test_metric_sums_are_the_reference_kls_on_the_steps_own_exp_values():
    """``_metric_sums`` (the metric step's one loop) takes N and the target as the step holds them, exp
    values and logits with the row's scale and normaliser, and gives the reference's accurate KLs
    (``kernels.trajectory.kl_rows_log``), <N, log pi_ref> and <N, r>; KL(N || N) is 0. Negative control:
    the scale of N off by 1e-6 (relative) moves <N, log pi_ref> and <N, r> far beyond the agreement tolerance."""
    from opdcheck.kernels.fastexp import exp_shift
    from opdcheck.kernels.numba_fused import _metric_sums
    from opdcheck.kernels.trajectory import kl_rows_log
    rng = np.random.default_rng(3)
    n = 257  # not a multiple of the vector width: the loop's scalar tail is exercised too
    uN, uT, Lx, ls = (rng.normal(size=n) for _ in range(4))
    uT = uN + 1e-3 * uT  # a target close to N: the accurate (series) form matters here
    Lx, ls = Lx - np.log(np.sum(np.exp(Lx))), ls - np.log(np.sum(np.exp(ls)))
    rx = rng.uniform(size=n)
    eN, eT = np.empty(n), np.empty(n)
    mN, mT = 0.3, -0.2
    exp_shift(uN, mN, eN)
    exp_shift(uT, mT, eT)
    zN, zT = mN + np.log(eN.sum()), mT + np.log(eT.sum())
    sN, sT = 1.0 / eN.sum(), 1.0 / eT.sum()
    ks, kt, al, ar = _metric_sums(eN, uN, sN, zN, np.exp(ls), ls, eT, uT, sT, zT, Lx, rx)
    pN, lN = eN * sN, uN - zN
    want = (kl_rows_log(np.exp(ls), ls, lN), kl_rows_log(pN, lN, uT - zT), pN @ Lx, pN @ rx)
    assert np.allclose((ks, kt, al, ar), want, rtol=1e-13, atol=0.0)
    assert _metric_sums(eN, uN, sN, zN, np.exp(ls), ls, eN, uN, sN, zN, Lx, rx)[1] == 0.0
    bad = _metric_sums(eN, uN, sN * (1 + 1e-6), zN, np.exp(ls), ls, eT, uT, sT, zT, Lx, rx)
    assert abs(bad[2] - want[2]) > 1e3 * FUSED_AGREEMENT_RTOL * abs(want[2])
    assert abs(bad[3] - want[3]) > 1e3 * FUSED_AGREEMENT_RTOL * abs(want[3])


def test_kl_to_pi_ref_from_the_logits_is_the_reference_kl():
    """KL(N || pi_ref) as the fused pass forms it from the row's logits (:func:`_kl_ref_from_logits`:
    (a - 1) <N, log pi_ref> + b <N, r> + sum_j c_j <N, R_j> - logZ) equals the reference's accurate
    ``kl_rows_log`` to ~1e-15 of the row's scale, and is exactly 0 at pi_hat_0 = pi_ref. Negative
    control: a wrong coefficient (a instead of a - 1) is far off."""
    from opdcheck.kernels.numba_fused import _kl_ref_from_logits
    from opdcheck.kernels.trajectory import kl_rows_log
    rng = np.random.default_rng(5)
    n, h = 301, 3
    Lx = rng.normal(size=n)
    Lx = Lx - np.log(np.sum(np.exp(Lx)))
    rx, R = rng.uniform(size=n), rng.uniform(size=(h, n))
    for w in (np.array([0.7, 3.0, 0.5, -1.0, 2.0]), np.array([0.99, 0.01, 0.0, 1e-3, 0.0])):
        u = w[0] * Lx + w[1] * rx + w[2:] @ R
        z = np.log(np.sum(np.exp(u)))
        pN = np.exp(u - z)
        got = _kl_ref_from_logits(w, pN @ Lx, pN @ rx, R @ pN, z)
        want = float(kl_rows_log(pN[None], (u - z)[None], Lx[None])[0])
        scale = abs(w[0] - 1) * abs(pN @ Lx) + abs(w[1] * (pN @ rx)) + np.abs(w[2:]) @ (R @ pN) + abs(z)
        assert abs(got - want) <= 1e-14 * scale, (got, want)
        wrong = _kl_ref_from_logits(np.r_[w[0] + 1.0, w[1:]], pN @ Lx, pN @ rx, R @ pN, z)
        assert abs(wrong - want) > 1e-3
    w0 = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    assert _kl_ref_from_logits(w0, np.exp(Lx) @ Lx, np.exp(Lx) @ rx, R @ np.exp(Lx), 0.0) == 0.0


# ------------------------------------------------------------------------------------------ theory
@pytest.mark.parametrize("closed_form", ["derived", "printed"])
def test_coefficient_recursion_is_proved_and_the_kernel_uses_it(closed_form):
    res = prove_coefficient_recursion(3, closed_form)
    assert res["holds"] and res["row_constant_is_eta_Z_over_eta_plus_beta"]
    syms, a1, b1, c1 = coefficient_map(3, closed_form)
    rng = np.random.default_rng(1)
    w, lam = rng.normal(size=5), rng.uniform(0, 2, size=3)
    eta, beta = 1.7, 0.3
    subs = {syms["a"]: w[0], syms["b"]: w[1], syms["eta"]: eta, syms["beta"]: beta,
            **dict(zip(syms["c"], w[2:])), **dict(zip(syms["lam"], lam))}
    sym = np.array([float(e.subs(subs)) for e in (a1, b1, *c1)])
    np.testing.assert_allclose(primal_coefficients(w, lam, eta, beta, closed_form), sym, rtol=1e-15)


def test_coefficient_step_equals_the_reference_primal_step():
    p = random_instance(4, 6, 2, 0.2, seed=3)
    w = initial_coefficients(p.h)
    log_hat = p.log_pi_ref
    for lam in ([0.1, 0.3], [1.0, 0.0], [0.4, 2.0]):
        lam = np.array(lam)
        w = primal_coefficients(w, lam, 1.3, p.beta, "derived")
        log_hat = primal_mirror_step(p, log_hat, lam, 1.3)
        np.testing.assert_allclose(policy_from_coefficients(p, w), log_hat, atol=1e-14)


def test_coefficient_recursion_negative_control():
    """A wrong map (b' without the 1/(eta+beta) scale in the derived form) leaves a y-dependent residual."""
    syms, a1, b1, c1 = coefficient_map(1, "derived")
    L, r, Z, R1 = sp.symbols("L r Z R1", real=True)
    eta, beta = syms["eta"], syms["beta"]
    log_hat = syms["a"] * L + syms["b"] * r + syms["c"][0] * R1 - Z
    z = (eta * log_hat + beta * L + r + syms["lam"][0] * R1) / (eta + beta)
    wrong_b = syms["b"] * eta / (eta + beta) + 1
    residual = sp.simplify(z - (a1 * L + wrong_b * r + c1[0] * R1))
    assert r in residual.free_symbols


# ------------------------------------------------------------------------------------------ equality
CASES = [
    ("toy", lambda: paper_toy(), 300),
    ("random", lambda: random_instance(6, 9, 3, 0.3, seed=1), 300),
    ("random-inactive", lambda: random_instance(5, 12, 3, 0.05, seed=2, inactive=1), 200),
    # one constraint (three zero rows in the one-loop row pass) and six (two folded in before the loop)
    ("random-h1", lambda: random_instance(5, 11, 1, 0.2, seed=4), 150),
    ("random-h6", lambda: random_instance(4, 10, 6, 0.2, seed=6), 150),
    # rows of at least NO_STORE_MIN_N entries: steps without metrics take the row loop without stores
    ("random-n80", lambda: random_instance(4, 80, 3, 0.2, seed=8), 100),
]


@pytest.mark.parametrize("prediction", ["optimistic", "none", "alternating"])
@pytest.mark.parametrize("dual_step,closed_form", [("prox", "derived"), ("gradient", "derived"),
                                                   ("prox", "printed")])
@pytest.mark.parametrize("name,make,T", CASES, ids=[c[0] for c in CASES])
def test_fused_agrees_with_numpy_reference(name, make, T, prediction, dual_step, closed_form):
    p = make()
    sp_ = solve_saddle(p)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=T, saddle=sp_, prediction=prediction, dual_step=dual_step,
              closed_form=closed_form, keep_every=50)
    a = run_primal_dual(p, **kw)
    b = run_opd_fused(p, **kw)
    assert a.n_steps == b.n_steps and a.stop_reason == b.stop_reason and a.method == b.method
    assert worst_disagreement(a, b) <= FUSED_AGREEMENT_RTOL
    assert [it[0] for it in a.iterates] == [it[0] for it in b.iterates]
    for (_, pa, la), (_, pb, lb) in zip(a.iterates, b.iterates):
        np.testing.assert_allclose(pb, pa, rtol=0, atol=FUSED_AGREEMENT_RTOL)
        np.testing.assert_allclose(lb, la, rtol=0, atol=FUSED_AGREEMENT_RTOL)


@pytest.mark.parametrize("prediction", ["optimistic", "none", "alternating"])
def test_fused_agrees_at_large_logits(prediction):
    """Rewards of 1e6 and step sizes of 1 make the logits ~1e12 while the policies stay normalised: the constraint
    values must not lose the scale of the logits (a normaliser's reciprocal formed as exp(m - logZ) did: 3e-5
    relative, against 1e-15 for 1/S)."""
    p = random_instance(4, 300, 2, 0.1, seed=4, reward_scale=1e6)
    kw = dict(eta_th=1.0, eta_lam=1.0, T=30, saddle=some_saddle(p), prediction=prediction)
    a = run_primal_dual(p, **kw)
    b = run_opd_fused(p, **kw)
    assert float(np.max(np.abs(b.extra["coefficients"][1:]))) * 1e6 > 1e9  # the logits are large indeed
    assert worst_disagreement(a, b) <= FUSED_AGREEMENT_RTOL


@pytest.mark.parametrize("prediction", ["optimistic", "none"])
def test_fused_agrees_on_the_extreme_instance(prediction):
    """beta = 1e-3, R_max = 100, p_min = 1e-12, n = 1e4, X = 1: logits of size ~1e5 (1/beta x R)."""
    p = extreme_instance()
    assert p.p_min < 1e-11 and p.R_max > 90 and p.beta == 1e-3
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=60, saddle=some_saddle(p), prediction=prediction)
    a = run_primal_dual(p, **kw)
    b = run_opd_fused(p, **kw)
    assert not a.diverged and a.n_steps == b.n_steps
    assert worst_disagreement(a, b) <= FUSED_AGREEMENT_RTOL


def test_fused_stop_below_and_metrics_every():
    p = random_instance(4, 7, 2, 0.2, seed=5)
    sp_ = solve_saddle(p)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=5000, saddle=sp_, stop_below=1e-10)
    a = run_primal_dual(p, prediction="optimistic", **kw)
    b = run_opd_fused(p, **kw)
    assert a.stop_reason == b.stop_reason == "error below stop threshold" and a.n_steps == b.n_steps
    assert worst_disagreement(a, b) <= FUSED_AGREEMENT_RTOL
    # metrics every 7 steps: exactly the reference's values at those steps (and the last)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=100, saddle=sp_)
    a = run_primal_dual(p, prediction="optimistic", **kw)
    c = run_opd_fused(p, metrics_every=7, **kw)
    steps = c.extra["metric_t"]
    assert steps[0] == 0 and steps[-1] == 100 and np.all(np.diff(steps)[:-1] == 7)
    assert worst_disagreement(a, c, steps=steps) <= FUSED_AGREEMENT_RTOL


def test_fused_equality_negative_control_wrong_closed_form_is_caught():
    """The equality test can fail: the printed closed form against the derived reference differs by O(1)."""
    p = random_instance(6, 9, 3, 0.3, seed=1)
    sp_ = solve_saddle(p)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=100, saddle=sp_)
    a = run_primal_dual(p, prediction="optimistic", **kw)
    b = run_opd_fused(p, closed_form="printed", **kw)
    assert worst_disagreement(a, b) > 1e3 * FUSED_AGREEMENT_RTOL


def test_fused_serial_and_parallel_give_the_same_bits():
    p = random_instance(200, 300, 3, 0.1, seed=7)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=15, saddle=some_saddle(p))
    s = run_opd_fused(p, parallel=False, **kw)
    q = run_opd_fused(p, parallel=True, **kw)
    for k in METRICS:
        assert np.array_equal(s.metrics[k], q.metrics[k]), k
    assert np.array_equal(s.final_log_pi_hat, q.final_log_pi_hat)


def test_fused_same_bits_with_one_and_two_threads(tmp_path):
    code = ("import numpy as np, numba, sys\n"
            "from opdcheck.instances import random_instance\n"
            "from opdcheck.kernels.numba_fused import run_opd_fused\n"
            "from opdcheck.kernels.opd import thm34_step_sizes\n"
            "from types import SimpleNamespace\n"
            "from opdcheck.logspace import softmax_rows\n"
            "numba.set_num_threads(int(sys.argv[1]))\n"
            "p = random_instance(200, 300, 3, 0.1, seed=7)\n"
            "lam = np.full(3, 0.5)\n"
            "s = SimpleNamespace(pi=softmax_rows(p.log_pi_ref + p.scores(lam) / p.beta), lam=lam)\n"
            "e = thm34_step_sizes(p)\n"
            "tr = run_opd_fused(p, eta_th=e[0], eta_lam=e[1], T=10, saddle=s, parallel=True)\n"
            "print(np.concatenate([tr.metrics['error'], tr.metrics['constraint'].ravel()]).tobytes().hex())\n")
    outs = []
    for threads in (1, 2):
        env = {**__import__("os").environ, "NUMBA_NUM_THREADS": "2"}
        res = subprocess.run([sys.executable, "-c", code, str(threads)], capture_output=True, text=True, env=env,
                             timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(res.stdout.strip())
    assert outs[0] == outs[1] and len(outs[0]) > 0


@pytest.mark.parametrize("kwargs,field", [
    (dict(metrics_every=0), "metrics_every"),
    (dict(keep_every=-1), "keep_every"),
    (dict(closed_form="paper"), "closed_form"),
    (dict(dual_step="half"), "dual_step"),
    (dict(prediction="sometimes"), "prediction"),
    (dict(T=0), "T"),
])
def test_fused_bad_input_names_the_field(kwargs, field):
    kw = dict(eta_th=3.0, eta_lam=3.0, T=5)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=field):
        run_opd_fused(paper_toy(), **kw)


@pytest.mark.slow
@pytest.mark.parametrize("X,n,h,T", [(1000, 1000, 4, 30), (10_000, 1000, 4, 10)])
def test_fused_agrees_with_the_materialising_kernel_at_scale(X, n, h, T):
    """The materialising Numba kernel is the reference at sizes where numpy is too slow to run in a test."""
    from opdcheck.kernels.numba_opd import run_opd_numba

    p = random_instance(X, n, h, 0.1, seed=0)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=T, saddle=some_saddle(p))
    a = run_opd_numba(p, **kw)
    b = run_opd_fused(p, **kw)
    assert worst_disagreement(a, b) <= FUSED_AGREEMENT_RTOL


@pytest.mark.parametrize("prediction", ["optimistic", "none", "alternating"])
def test_fused_divergence_is_flagged_like_the_reference(prediction):
    """beta = 0 with eta_th = 1e-307: the step 1/(eta + beta) overflows the coefficients within ~17 steps.
    With metrics at every step the fused run stops where the reference does; with metrics every 7 steps
    it is flagged too, and no non-finite metric is recorded."""
    p = random_instance(3, 4, 2, 0.0, seed=1)
    s = SimpleNamespace(pi=p.pi_ref, lam=np.ones(2))
    kw = dict(eta_th=1e-307, eta_lam=1.0, T=400, saddle=s, prediction=prediction)
    with np.errstate(all="ignore"):
        ref = run_primal_dual(p, **kw)
    a = run_opd_fused(p, **kw)
    b = run_opd_fused(p, metrics_every=7, **kw)
    assert ref.diverged and a.diverged and b.diverged
    assert (a.n_steps, a.first_nonfinite) == (ref.n_steps, ref.first_nonfinite)
    assert b.n_steps >= a.n_steps
    for tr in (a, b):
        assert all(np.all(np.isfinite(v)) for v in tr.metrics.values())
    steps = b.extra["metric_t"]
    for k in ("kl_star", "kl_hat_pred", "constraint"):
        np.testing.assert_array_equal(a.metrics[k][steps], b.metrics[k])


def test_a_non_finite_metric_of_a_finite_state_is_never_recorded(monkeypatch):
    """Any recorded value that is not finite (here kl_hat_pred made inf at the third pass, through the reduction
    the driver calls) drops that metric row and flags the run diverged, not only a non-finite error."""
    import opdcheck.kernels.numba_fused as nf
    p = random_instance(3, 9, 2, 0.2, seed=4)
    kw = dict(eta_th=1.0, eta_lam=1.0, T=10, saddle=some_saddle(p))
    clean = run_opd_fused(p, **kw)
    calls = {"n": 0}
    reduce = nf._reduce

    def reduce_then_spoil(rho, out, red):
        reduce(rho, out, red)
        calls["n"] += 1
        if calls["n"] == 3:
            red[3 + 2 * p.h] = np.inf  # kl_hat_pred of this pass; the error (kl_star + lam_err2) stays finite

    monkeypatch.setattr(nf, "_reduce", reduce_then_spoil)
    tr = run_opd_fused(p, **kw)
    assert not clean.diverged and tr.diverged and tr.stop_reason == "non-finite"
    assert all(np.all(np.isfinite(v)) for k, v in tr.metrics.items() if k != "potential")
    np.testing.assert_array_equal(tr.metrics["kl_star"], clean.metrics["kl_star"][:len(tr.metrics["kl_star"])])


def _has_avx2() -> bool:
    import platform
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not _has_avx2(), reason="checks x86 AVX2 code (ymm registers, FMA)")
def test_the_row_loop_and_exp1_are_vectorised():
    """The one loop per row (logits, exp1, row sum, four constraint sums) compiles to AVX2 code: packed
    FMAs on ymm registers (a regression to scalar code, e.g. a branch in exp1, would show xmm only).
    Inspected in a subprocess without the disk cache (numba does not inspect cached code)."""
    code = (
        "import numpy as np\n"
        "import opdcheck.kernels.numba_fused as nf\n"
        "a = np.linspace(-1.0, 1.0, 64)\n"
        "u, e = np.empty_like(a), np.empty_like(a)\n"
        "nf._logits_exp_dots(a, a, a, a, a, a, 1.0, 0.5, 0.1, 0.2, 0.3, 0.4, 0.0, u, e)\n"
        "nf._exp_dots(a, a, a, a, a, a, 1.0, 0.5, 0.1, 0.2, 0.3, 0.4, 0.0)\n"
        "for f in (nf._logits_exp_dots, nf._exp_dots):\n"
        "    asm = ''.join(f.inspect_asm().values())\n"
        "    print(asm.count('vfmadd'), len([l for l in asm.splitlines() if 'vfmadd' in l and 'ymm' in l]))\n")
    import os
    env = {**os.environ, "OPDCHECK_NUMBA_CACHE": "0"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    for line in res.stdout.strip().splitlines():  # the loop with stores, then the one without
        n_fma, n_packed = (int(v) for v in line.split())
        # the degree-11 polynomial alone is 10 packed FMAs; with the logits and the sums, 20 or more
        assert n_fma > 0 and n_packed >= 11, (n_fma, n_packed)
