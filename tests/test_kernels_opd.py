"""Kernels: update rules, the t = 0 convention, OPD and baselines, numba == numpy, judges."""
from __future__ import annotations

import math

import numpy as np
import pytest

from opdcheck.instances import paper_toy, random_instance
from opdcheck.kernels.baselines import run_method, run_one_shot, run_sequential_pd, run_simultaneous_pd
from opdcheck.kernels.opd import T0_CONVENTION, run_opd, run_primal_dual, thm34_step_sizes
from opdcheck.kernels.rules import dual_step, dual_step_size, primal_mirror_step
from opdcheck.kernels.trajectory import (fit_tail_rate, judge_bound, judge_lyapunov, kl_rows_log,
                                         last_iterate_converges)
from opdcheck.logspace import kl_rows, softmax_rows
from opdcheck.numerics.saddle import solve_saddle
from opdcheck.kernels.accuracy import kl_series_agrees, softmax_log_agrees, softmax_pi_agrees
from opdcheck.tolerances import NUMBA_AGREEMENT_RTOL, NUMBA_KL_SERIES_RTOL, NUMBA_SOFTMAX_RTOL_PER_LOGIT

# Fig. 1: 1/(eta_th + beta) = 0.6 and dual step 0.6 (eta_lam^{-1} = 0.6 in Algorithm 3's convention)
FIG1 = dict(eta_th=1 / 0.6 - 0.05, eta_lam=1 / 0.6, dual_step="gradient")


# ------------------------------------------------------------------------------------------ rules
def test_dual_step_by_hand():
    assert dual_step(np.array([1.0]), np.array([0.6]), 3.0, convention="prox")[0] == pytest.approx(0.9)
    assert dual_step(np.array([1.0]), np.array([0.6]), 3.0, convention="gradient")[0] == pytest.approx(0.8)
    # projection onto lam >= 0
    assert dual_step(np.array([0.05]), np.array([0.6]), 3.0, convention="gradient")[0] == 0.0
    assert dual_step_size(2.0, "prox") == 0.25 and dual_step_size(2.0, "gradient") == 0.5


def test_primal_step_derived_is_the_maximiser_printed_is_not():
    p = random_instance(3, 5, 2, 0.3, seed=4)
    rng = np.random.default_rng(0)
    log_hat = np.log(softmax_rows(rng.normal(size=(3, 5))))
    lam = np.array([0.7, 0.2])
    eta = 1.3

    def objective(pi):
        return p.lagrangian(pi, lam) - eta * float(p.rho @ kl_rows(pi, np.exp(log_hat)))

    pi_d = np.exp(primal_mirror_step(p, log_hat, lam, eta))
    pi_p = np.exp(primal_mirror_step(p, log_hat, lam, eta, closed_form="printed"))
    f_d = objective(pi_d)
    for _ in range(20):  # no feasible perturbation improves the derived maximiser
        pert = softmax_rows(np.log(pi_d) + 1e-3 * rng.normal(size=pi_d.shape))
        assert objective(pert) <= f_d + 1e-12
    assert objective(pi_p) < f_d - 1e-6
    # eta = 0 is the best response (3)
    pi_br = np.exp(primal_mirror_step(p, log_hat, lam, 0.0))
    np.testing.assert_allclose(pi_br, softmax_rows(p.log_pi_ref + p.scores(lam) / p.beta), atol=1e-14)


@pytest.mark.parametrize("kwargs,field", [
    (dict(eta_th=-1.0, eta_lam=1.0, T=5), "eta_th"),
    (dict(eta_th=1.0, eta_lam=0.0, T=5), "eta_lam"),
    (dict(eta_th=1.0, eta_lam=1.0, T=0), "T"),
    (dict(eta_th=1.0, eta_lam=1.0, T=5, dual_step="half"), "dual_step"),
    (dict(eta_th=1.0, eta_lam=1.0, T=5, closed_form="paper"), "closed_form"),
    (dict(eta_th=1.0, eta_lam=1.0, T=5, lam_init=[-1.0]), "lam_init"),
    (dict(eta_th=1.0, eta_lam=1.0, T=5, keep_every=-2), "keep_every"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        run_opd(paper_toy(), **kwargs)


def test_eta_zero_needs_beta():
    p0 = paper_toy().with_beta(0.0)
    with pytest.raises(ValueError, match="eta_th"):
        primal_mirror_step(p0, p0.log_pi_ref, np.zeros(1), 0.0)


# --------------------------------------------------------------------------- t = 0 and first steps
@pytest.mark.parametrize("conv,s", [("prox", 1 / 6), ("gradient", 1 / 3)])
def test_first_two_steps_by_hand_on_toy(conv, s):
    """pi_{-1} = pi_hat_0 = pi_ref, lam_{-1} = lam_hat_0 = 0; eta = 3, beta = 0.05 (toy)."""
    p = paper_toy()
    tr = run_opd(p, eta_th=3.0, eta_lam=3.0, T=2, dual_step=conv, keep_every=1)
    assert tr.config["t0_convention"] == T0_CONVENTION and tr.config["lam_init"] == [0.0]
    # t = 0: pi_0 = P(pi_ref, lam_{-1} = 0); lam_0 = [0 - s c(pi_{-1} = pi_ref)]_+ = 0 since c(pi_ref) = 0
    a = 0.3 * math.exp(1 / 3.05)
    p0 = a / (a + 0.7)                       # pi_0(y0): S_0 = r = (1, 0), scale 1/(eta+beta)
    lam_hat1 = max(0.0, 0.0 - s * (0.3 - p0))  # c(pi_0) = -0.7 p0 + 0.3 (1 - p0) = 0.3 - p0
    t1, pi1, lam1 = tr.iterates[1]
    assert t1 == 1
    assert pi1[0, 0] == pytest.approx(p0, abs=1e-15)    # pi_hat_1 = P(pi_hat_0, lam_0 = 0) = pi_0
    assert lam1[0] == pytest.approx(lam_hat1, abs=1e-15)
    # metrics at t = 0 use the convention: the previous predictions equal the state
    assert tr.metrics["kl_hat_pred"][0] == 0.0 and tr.metrics["lam_hat_pred2"][0] == 0.0
    # t = 1: pi_1 = P(pi_hat_1, lam_0 = 0); lam_1 = [lam_hat_1 - s c(pi_0)]_+
    pi_pred1 = np.exp(primal_mirror_step(p, np.log(pi1), np.zeros(1), 3.0))
    lam_pred1 = max(0.0, lam_hat1 - s * (0.3 - p0))
    pi2_hand = np.exp(primal_mirror_step(p, np.log(pi1), np.array([lam_pred1]), 3.0))
    c_pred1 = 0.3 - pi_pred1[0, 0]
    lam2_hand = max(0.0, lam_hat1 - s * c_pred1)
    _, pi2, lam2 = tr.iterates[2]
    np.testing.assert_allclose(pi2, pi2_hand, atol=1e-15)
    assert lam2[0] == pytest.approx(lam2_hand, abs=1e-15)
    # KL(pi_hat_1 || pi_0) = 0 because both equal P(pi_ref, 0)
    assert tr.metrics["kl_hat_pred"][1] == pytest.approx(0.0, abs=1e-18)


# ------------------------------------------------------------------------------- convergence
@pytest.mark.parametrize("conv", ["prox", "gradient"])
def test_opd_converges_to_saddle_on_toy(conv):
    p = paper_toy()
    tr = run_opd(p, eta_th=3.0, eta_lam=3.0, T=4000, dual_step=conv, stop_below=1e-13)
    assert tr.stop_reason == "error below stop threshold"
    assert tr.final_lam_hat[0] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(tr.final_pi_hat, [[0.3, 0.7]], atol=1e-6)
    assert last_iterate_converges(tr)[0]
    assert np.all(tr.metrics["gap"] >= -1e-12)  # L(pi*, lam_hat) - L(pi_hat, lam*) >= 0


@pytest.mark.parametrize("X,n,h,beta,seed", [(4, 3, 2, 0.2, 1), (10, 6, 3, 0.5, 2), (2, 5, 1, 0.05, 3)])
def test_opd_converges_on_random_instances(X, n, h, beta, seed):
    p = random_instance(X, n, h, beta, seed)
    sp = solve_saddle(p)
    e = thm34_step_sizes(p)
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=6000, saddle=sp, stop_below=1e-12)
    assert not tr.diverged and tr.error[-1] <= 1e-12 * tr.error[0]
    np.testing.assert_allclose(tr.final_lam_hat, sp.lam, atol=1e-5)


def test_negative_control_simultaneous_pd_oscillates_at_fig1_steps():
    """Fig. 1: plain (Jacobi) PD at 1/(eta_th+beta) = 0.6, dual step 0.6 does not converge in the
    last iterate; OPD (and, at this step, sequential PD) does."""
    p = paper_toy()
    sim = run_simultaneous_pd(p, T=1500, **FIG1)
    ok, info = last_iterate_converges(sim)
    assert not ok and info["tail_min"] > 1e-2
    assert last_iterate_converges(run_opd(p, T=1500, **FIG1))[0]
    assert last_iterate_converges(run_sequential_pd(p, T=1500, **FIG1))[0]


def test_baselines_are_configurations_of_one_driver():
    p = random_instance(3, 4, 2, 0.3, seed=5)
    sp = solve_saddle(p)
    kw = dict(eta_th=2.0, eta_lam=2.0, T=30, saddle=sp)
    a = run_simultaneous_pd(p, **kw)
    b = run_primal_dual(p, prediction="none", dual_step="gradient", **kw)  # the method's registered default
    np.testing.assert_array_equal(a.error, b.error)
    assert a.config["method"] == "simultaneous-gda" and a.config["dual_step"] == "gradient"
    one = run_one_shot(p, eta_lam=4.0, T=2000, saddle=sp, stop_below=1e-12)  # projected GD on D
    assert one.error[-1] <= 1e-12 * one.error[0]
    tiny = run_method("sequential-pd", p.with_beta(1e-4), eta_th=5.0, eta_lam=50.0, T=50)
    assert not tiny.diverged and np.all(np.isfinite(tiny.error))
    with pytest.raises(ValueError, match="method"):
        run_method("no-such-method", p, **kw)


def test_nonfinite_run_is_flagged_not_propagated():
    p = paper_toy()
    # A huge dual step makes the multiplier explode; the run must stop and flag, never return NaN metrics.
    tr = run_simultaneous_pd(p, eta_th=1e-300, eta_lam=1e-300, T=50, dual_step="gradient")
    assert np.all(np.isfinite(tr.error))
    if tr.diverged:
        assert tr.first_nonfinite is not None and tr.stop_reason == "non-finite"


# ------------------------------------------------------------------------------------- numba
def _assert_same(a, b):
    for k in a.metrics:
        x, y = np.asarray(a.metrics[k]), np.asarray(b.metrics[k])
        assert x.shape == y.shape, k
        scale = max(float(np.max(np.abs(x))), 1e-300)
        assert float(np.max(np.abs(x - y))) <= NUMBA_AGREEMENT_RTOL * scale, k
    np.testing.assert_allclose(a.final_log_pi_hat, b.final_log_pi_hat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.final_lam_hat, b.final_lam_hat, rtol=NUMBA_AGREEMENT_RTOL, atol=1e-14)


@pytest.mark.parametrize("prediction", ["optimistic", "none", "alternating"])
def test_numba_equals_numpy(prediction):
    from opdcheck.kernels.numba_opd import run_opd_numba

    for p in (paper_toy(), random_instance(6, 5, 3, 0.3, seed=2), random_instance(20, 12, 2, 1.0, seed=3)):
        sp = solve_saddle(p)
        for conv in ("prox", "gradient"):
            e = thm34_step_sizes(p)
            kw = dict(eta_th=e[0], eta_lam=e[1], T=200, dual_step=conv, saddle=sp)
            _assert_same(run_primal_dual(p, prediction=prediction, **kw),
                         run_opd_numba(p, prediction=prediction, **kw))
    # closed_form="printed" and early stopping follow the same path
    p = paper_toy()
    kw = dict(eta_th=3.0, eta_lam=3.0, T=3000, stop_below=1e-10)
    a, b = run_opd(p, **kw), run_opd_numba(p, **kw)
    assert a.n_steps == b.n_steps
    _assert_same(a, b)
    _assert_same(run_opd(p, eta_th=3.0, eta_lam=3.0, T=50, closed_form="printed"),
                 run_opd_numba(p, eta_th=3.0, eta_lam=3.0, T=50, closed_form="printed"))


def test_numba_no_recompile():
    from opdcheck.kernels.numba_opd import _row, _rows_parallel, _rows_serial, _run, opd_kernel, run_opd_numba

    p = random_instance(5, 4, 2, 0.2, seed=7)
    sp = solve_saddle(p)
    run_opd_numba(p, eta_th=3.0, eta_lam=3.0, T=10, saddle=sp)
    n_sig = len(opd_kernel.signatures)
    run_opd_numba(p, eta_th=2.0, eta_lam=5.0, T=20, saddle=sp, dual_step="gradient")
    run_opd_numba(paper_toy(), eta_th=3.0, eta_lam=3.0, T=20, prediction="alternating")
    # a saddle given as plain writable lists/arrays must not create a new signature either
    run_opd_numba(p, eta_th=3.0, eta_lam=3.0, T=5, prediction="none",
                  saddle=type("S", (), {"pi": sp.pi.tolist(), "lam": list(sp.lam)})())
    _run(p, eta_th=3.0, eta_lam=3.0, T=5, saddle=sp, parallel=True)
    assert len(opd_kernel.signatures) == n_sig == 1
    # at most one signature per row pass: the mode is a run-time value, the prange index is cast to int64
    # (none at all when the calling kernel was loaded from the disk cache: its callees are not compiled)
    assert max(len(_rows_parallel.signatures), len(_rows_serial.signatures), len(_row.signatures)) <= 1


def _bits(tr):
    return [tr.final_log_pi_hat.tobytes(), tr.final_lam_hat.tobytes()] + \
        [np.asarray(tr.metrics[k]).tobytes() for k in sorted(tr.metrics)]


@pytest.mark.parametrize("prediction", ["optimistic", "none", "alternating"])
def test_numba_deterministic_bits_any_thread_count(prediction):
    """Same input, same bits: run to run, serial vs parallel row pass, and parallel with 1 vs 2 threads
    (per-row outputs, serial sums over x)."""
    import numba

    from opdcheck.kernels.numba_opd import _run, run_opd_numba

    p = random_instance(37, 23, 3, 0.2, seed=11)  # X odd: the threads get unequal row blocks
    sp = solve_saddle(p)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], T=60, saddle=sp, prediction=prediction)
    before = numba.get_num_threads()
    try:
        ref = _bits(run_opd_numba(p, **kw))  # small: the serial row pass
        assert _bits(run_opd_numba(p, **kw)) == ref
        assert _bits(_run(p, parallel=True, **kw)) == ref
        numba.set_num_threads(1)
        assert _bits(_run(p, parallel=True, **kw)) == ref
        if numba.config.NUMBA_NUM_THREADS >= 2:
            numba.set_num_threads(2)
            assert _bits(_run(p, parallel=True, **kw)) == ref
            assert _bits(_run(p, parallel=True, **kw)) == ref
    finally:
        numba.set_num_threads(before)


def test_numba_kl_row_matches_reference_kl():
    """The kernel's KL (Taylor series of d + expm1(-d) for |d| <= 1, expm1 form otherwise) equals
    kl_rows_log, including KLs of ~1e-20, p = 0 entries and d < -30."""
    from opdcheck.kernels.numba_opd import _kl_row

    rng = np.random.default_rng(5)
    p = softmax_rows(rng.normal(size=(6, 40)))
    # the reference's d + expm1(-d) carries an absolute error ~ulp(d), i.e. ~1e-16/d relative: 1e-12 at d ~ 1e-4
    for scale in (1e-4, 0.3, 0.99, 1.5, 4.0):
        q = softmax_rows(np.log(p) + scale * rng.normal(size=p.shape))
        ref = kl_rows_log(p, np.log(p), np.log(q))
        got = np.array([_kl_row(p[i], np.log(p[i]), np.log(q[i])) for i in range(p.shape[0])])
        np.testing.assert_allclose(got, ref, rtol=NUMBA_KL_SERIES_RTOL)
        assert kl_series_agrees(got, ref)  # the named comparison its own-scale test controls
    # tiny KL: the series resolves it (both are ~1e-19, not ~1e-16 rounding noise)
    q2 = softmax_rows(np.log(p) + 1e-9 * rng.normal(size=p.shape))
    got = _kl_row(p[0], np.log(p[0]), np.log(q2[0]))
    # (at d ~ 1e-9 the reference keeps ~7 digits: ulp(d) / d^2 ~ 2e-7)
    want = kl_rows_log(p[:1], np.log(p[:1]), np.log(q2[:1]))[0]
    assert 0 < got < 1e-17 and got == pytest.approx(want, rel=1e-6)
    # p = 0 contributes q; d < -30 takes the p d + q - p branch
    p0 = np.array([0.0, 1e-20, 1.0 - 1e-20])
    lq = np.log(np.array([0.25, 0.25, 0.5]))
    with np.errstate(divide="ignore"):
        lp0 = np.log(p0)
    ref = kl_rows_log(p0[None], lp0[None], lq[None])[0]
    assert _kl_row(p0, lp0, lq) == pytest.approx(ref, rel=1e-14)


def test_numba_softmax_row_matches_reference():
    """The kernel's log-softmax row (vectorised exp of z - max) vs log_softmax_rows: log pi and pi to a
    few ulp of the logits' size; exp(z - m) < exp(-708) (subnormal) is flushed to 0 while log pi is kept."""
    from opdcheck.kernels.numba_opd import _softmax_row
    from opdcheck.logspace import log_softmax_rows

    rng = np.random.default_rng(3)
    for spread in (1.0, 30.0, 400.0):
        s = spread * rng.normal(size=64)
        mix = rng.normal(size=64)
        z, pi = s.copy(), np.empty(64)
        assert _softmax_row(z, mix, 1 / 3, True, pi, np.empty(64)) == 0
        ref = log_softmax_rows(mix + s / 3)
        # both sides round the logits (size L = max |z|) to ~1e-16 L absolute, which is relative in pi
        L = max(1.0, float(np.max(np.abs(mix + s / 3))))
        np.testing.assert_allclose(z, ref, rtol=0, atol=2 * NUMBA_SOFTMAX_RTOL_PER_LOGIT * L)
        normal = ref > -708.0 + 1.0
        np.testing.assert_allclose(pi[normal], np.exp(ref[normal]), rtol=NUMBA_SOFTMAX_RTOL_PER_LOGIT * L, atol=0)
        assert softmax_log_agrees(z, ref, L) and softmax_pi_agrees(pi[normal], np.exp(ref[normal]), L)
        assert np.all(pi[ref < -709.0] == 0.0) and abs(pi.sum() - 1.0) < 1e-15
    z = np.array([0.0, np.nan, 1.0])
    assert _softmax_row(z, np.zeros(3), 1.0, True, np.empty(3), np.empty(3)) == 1  # non-finite is flagged


def test_numba_nonfinite_run_matches_reference():
    from opdcheck.kernels.numba_opd import run_opd_numba

    p = paper_toy()
    kw = dict(eta_th=1e-300, eta_lam=1e-300, T=50, dual_step="gradient", prediction="none")
    a, b = run_primal_dual(p, **kw), run_opd_numba(p, **kw)
    assert (a.diverged, a.n_steps, a.first_nonfinite) == (b.diverged, b.n_steps, b.first_nonfinite)
    assert np.all(np.isfinite(b.error))


# ------------------------------------------------------------------------------------- judges
def test_kl_rows_log_accurate_and_safe():
    rng = np.random.default_rng(1)
    p = softmax_rows(rng.normal(size=(4, 6)))
    q = softmax_rows(rng.normal(size=(4, 6)))
    np.testing.assert_allclose(kl_rows_log(p, np.log(p), np.log(q)), kl_rows(p, q), rtol=1e-12)
    # tiny KL is resolved (the naive sum p log(p/q) would give ~1e-16 noise)
    q2 = softmax_rows(np.log(p) + 1e-9 * rng.normal(size=p.shape))
    k = kl_rows_log(p, np.log(p), np.log(q2))
    assert np.all(k >= 0) and np.all(k < 1e-17)
    # zeros in p and extreme ratios
    p0 = np.array([[0.0, 1.0]])
    assert kl_rows_log(p0, np.log(np.maximum(p0, 1e-320)), np.log(np.array([[0.5, 0.5]])))[0] == pytest.approx(math.log(2))
    assert np.isfinite(kl_rows_log(np.array([[1e-300, 1 - 1e-300]]), np.array([[-690.8, 0.0]]),
                                   np.log(np.array([[0.5, 0.5]])))).all()


def test_judges_on_synthetic_inputs():
    t = np.arange(200)
    e = 0.9 ** t
    assert judge_bound(e, 0.95 ** t, 1e-9)[0]
    ok, worst, k = judge_bound(e, 0.85 ** t, 1e-9)
    assert not ok and k == 199 and worst > 1
    assert not judge_bound(np.array([1.0, np.nan]), np.array([1.0, 1.0]), 1e-9)[0]
    # a bound that underflows float64 (rho^t, t large) is judged in log space
    tt = np.arange(3000.0)
    assert 0.78 ** 2999 == 0.0  # the plain bound underflows ...
    ok, worst, k = judge_bound(0.8 ** tt, None, 1e-9, log_bounds=tt * math.log(0.78))
    assert not ok and k == 2999 and worst == pytest.approx((0.8 / 0.78) ** 2999, rel=1e-9)  # ... the ratio does not
    assert judge_bound(0.5 ** tt, None, 1e-9, log_bounds=tt * math.log(0.6))[0]
    assert judge_lyapunov(e, 0.9, 1e-9)[0] and not judge_lyapunov(e, 0.89, 1e-9)[0]
    fit = fit_tail_rate(3.0 * 0.97 ** t)
    assert fit["rate"] == pytest.approx(0.97, abs=1e-12) and fit["spread"] < 1e-12
    assert math.isnan(fit_tail_rate(np.array([1.0, 0.0, 0.0]))["rate"])
    assert last_iterate_converges(e ** 10)[0]
    assert not last_iterate_converges(1 + 0.5 * np.sin(t))[0]
