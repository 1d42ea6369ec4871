"""The gates' runtime negative controls (paper_checks/studies/tolerance_controls.py): each passes on the check's
own comparison and fails when exactly the bug it guards is planted (a gate 1000x looser, a tolerance ignored,
a dropped projection)."""
from __future__ import annotations

import numpy as np
import pytest

from opdcheck.paper_checks.studies import tolerance_controls as tc


def _neg(controls):
    return [c for c in controls if c.kind == "negative"]


def _pos(controls):
    return [c for c in controls if c.kind == "positive"]


def test_band_controls_fail_on_a_comparison_that_raises():
    def boom(d):
        raise ValueError("broken comparison")

    out = tc.band_controls("demo", boom, 1e-3)
    assert len(out) == 2 and not any(c.passed for c in out) and "broken comparison" in out[0].detail


def test_rate_match_controls_catch_a_looser_or_tighter_judge_rate():
    from opdcheck.paper_checks.studies.rate_cases import judge_rate
    from opdcheck.tolerances import RATE_CERT_MATCH_RTOL

    lo, hi = 0.9244340, 0.9244355
    assert all(c.passed for c in tc.rate_match_controls(lo, hi, judge_rate))
    # the default looks the comparison up where the check's run_case finds it
    assert all(c.passed for c in tc.rate_match_controls(lo, hi))

    def loose(m, lo, hi):
        return judge_rate(m, lo, hi, 1000 * RATE_CERT_MATCH_RTOL)

    def tight(m, lo, hi):
        return judge_rate(m, lo, hi, RATE_CERT_MATCH_RTOL / 1000)

    def one_sided(m, lo, hi):  # forgets the lower end of the enclosure
        return judge_rate(m, -np.inf, hi)

    assert not _neg(tc.rate_match_controls(lo, hi, loose))[0].passed
    assert not _pos(tc.rate_match_controls(lo, hi, tight))[0].passed
    assert not _neg(tc.rate_match_controls(lo, hi, one_sided))[0].passed


def test_rate_match_control_sees_a_judge_rate_patched_in_rate_cases(monkeypatch):
    from opdcheck.paper_checks.studies import rate_cases

    orig = rate_cases.judge_rate
    monkeypatch.setattr(rate_cases, "judge_rate", lambda m, lo, hi, rtol=1e-3: orig(m, lo, hi, 1000 * rtol))
    assert not _neg(tc.rate_match_controls(0.5, 0.5000001))[0].passed


def test_cert_match_controls_catch_a_loosened_thm34_agreement(monkeypatch):
    from opdcheck.paper_checks.studies import thm34_rate
    from opdcheck.tolerances import THM34_CERT_MATCH_ATOL

    assert all(c.passed for c in tc.cert_match_controls("4/5", "800001/1000000"))
    orig = thm34_rate.measured_agrees
    monkeypatch.setattr(thm34_rate, "measured_agrees",
                        lambda m, lo, hi, spread=0.0, atol=THM34_CERT_MATCH_ATOL: orig(m, lo, hi, spread, 1000 * atol))
    assert not _neg(tc.cert_match_controls("4/5", "800001/1000000"))[0].passed


def test_bound_gate_controls_catch_a_loosened_or_ignored_rtol():
    from opdcheck.kernels.trajectory import judge_bound

    assert all(c.passed for c in tc.bound_gate_controls(judge_bound))
    assert all(c.passed for c in tc.bound_gate_controls())

    def loose(err, b, rtol, log_bounds=None):
        return judge_bound(err, b, 1000 * rtol, log_bounds=log_bounds)

    def no_slack(err, b, rtol, log_bounds=None):  # strict <= without the rounding slack
        return judge_bound(err, b, 0.0, log_bounds=log_bounds)

    assert not _neg(tc.bound_gate_controls(loose))[0].passed
    assert not _pos(tc.bound_gate_controls(no_slack))[0].passed


def test_lyapunov_gate_controls_catch_a_loosened_rtol():
    from opdcheck.kernels.trajectory import judge_lyapunov

    assert all(c.passed for c in tc.lyapunov_gate_controls(judge_lyapunov))

    def loose(phi, rho, rtol, atol=0.0, start=1):
        return judge_lyapunov(phi, rho, 1000 * rtol, atol=atol, start=start)

    def floor_too_high(phi, rho, rtol, atol=0.0, start=1):  # a floor at Phi_1 judges nothing
        return judge_lyapunov(phi, rho, rtol, atol=1e12 * atol, start=start)

    assert not _neg(tc.lyapunov_gate_controls(loose))[0].passed
    assert not _neg(tc.lyapunov_gate_controls(floor_too_high))[0].passed


def test_corrected_gate_controls_catch_loosened_gates(monkeypatch):
    from opdcheck.paper_checks.checks import thm_3_4_corrected as chk
    from opdcheck.tolerances import CORRECTED_FORMULA_ATOL, CORRECTED_MEASURED_ATOL

    row = {"lo": 0.7, "hi": 0.7 + 1e-9}
    assert all(c.passed for c in tc.corrected_gate_controls(chk.judge_case, row))
    assert all(c.passed for c in tc.corrected_gate_controls(chk.judge_case, None))
    with monkeypatch.context() as m:
        m.setattr(chk, "CORRECTED_FORMULA_ATOL", 1000 * CORRECTED_FORMULA_ATOL)
        out = tc.corrected_gate_controls(chk.judge_case, row)
        assert not out[0].passed and out[2].passed  # the formula gate's negative control, the other gate untouched
    with monkeypatch.context() as m:
        m.setattr(chk, "CORRECTED_MEASURED_ATOL", 1000 * CORRECTED_MEASURED_ATOL)
        out = tc.corrected_gate_controls(chk.judge_case, row)
        assert out[0].passed and not out[2].passed


def test_replay_projection_control_catches_a_dropped_projection(monkeypatch):
    """The 50-digit replay without the projection of (5)/(7) onto lam >= 0 (the argmin taken over all of R):
    the control fails; with the projection it passes."""
    import mpmath

    from opdcheck.numerics.replay import core

    assert tc.replay_projection_control().passed

    def unprojected(c, l_hat, kappa):
        return mpmath.mpf(l_hat) - mpmath.mpf(c) / (2 * mpmath.mpf(kappa))

    monkeypatch.setattr(core, "quadratic_prox_argmin", unprojected)
    ctl = tc.replay_projection_control()
    assert not ctl.passed and "projected: 1" in ctl.detail


def test_replay_projection_control_catches_a_clamp_at_the_wrong_bound(monkeypatch):
    import mpmath

    from opdcheck.numerics.replay import core

    def clamp_at_half(c, l_hat, kappa):  # projects onto lam >= 1/2
        return max(mpmath.mpf(l_hat) - mpmath.mpf(c) / (2 * mpmath.mpf(kappa)), mpmath.mpf("0.5"))

    monkeypatch.setattr(core, "quadratic_prox_argmin", clamp_at_half)
    assert not tc.replay_projection_control().passed


@pytest.mark.parametrize("make", [
    lambda: tc.rate_match_controls(0.9, 0.9 + 1e-6), lambda: tc.cert_match_controls("9/10", "9/10"),
    tc.bound_gate_controls, tc.lyapunov_gate_controls, lambda: [tc.replay_projection_control()]])
def test_controls_are_named_and_kinds_are_valid(make):
    out = make()
    assert out and all(c.name and c.detail and c.kind in ("positive", "negative") for c in out)


def test_thm34_rate_gate_controls_catch_a_loosened_atol(monkeypatch):
    from opdcheck.paper_checks.studies import thm34_rate
    from opdcheck.tolerances import THM34_RATE_ATOL

    assert all(c.passed for c in tc.thm34_rate_gate_controls())
    orig = thm34_rate.judge_rate
    monkeypatch.setattr(thm34_rate, "judge_rate",
                        lambda m, rho, atol=THM34_RATE_ATOL, spread=0.0: orig(m, rho, 1000 * atol, spread))
    assert not _neg(tc.thm34_rate_gate_controls())[0].passed


def test_replay_agree_controls_catch_a_loosened_tolerance(monkeypatch):
    """The replay's agreement with REPLAY_AGREE_RTOL or REPLAY_AGREE_ATOL made 1000x looser fails its control;
    the default (core._agree, looked up at call time) passes."""
    import mpmath

    from opdcheck.numerics.replay import core
    from opdcheck.tolerances import REPLAY_AGREE_ATOL, REPLAY_AGREE_RTOL

    out = tc.replay_agree_controls()
    assert all(c.passed for c in out) and len(out) == 4

    def agree_with(rtol, atol):
        def agree(code, replay, scale):
            return bool(abs(mpmath.mpf(code) - replay) <= rtol * abs(replay) + atol * abs(scale))
        return agree

    assert all(c.passed for c in tc.replay_agree_controls(agree_with(REPLAY_AGREE_RTOL, REPLAY_AGREE_ATOL)))
    out = tc.replay_agree_controls(agree_with(1000 * REPLAY_AGREE_RTOL, REPLAY_AGREE_ATOL))
    assert not out[0].passed and out[2].passed
    out = tc.replay_agree_controls(agree_with(REPLAY_AGREE_RTOL, 1000 * REPLAY_AGREE_ATOL))
    assert out[0].passed and not out[2].passed
    monkeypatch.setattr(core, "_agree", agree_with(1000 * REPLAY_AGREE_RTOL, REPLAY_AGREE_ATOL))
    assert not tc.replay_agree_controls()[0].passed


def test_pinsker_replay_controls_catch_a_loosened_or_ignored_atol(monkeypatch):
    from opdcheck.numerics.replay import exact

    assert all(c.passed for c in tc.pinsker_replay_controls())
    orig = exact.replay_pinsker_pair

    def loose(p, q, const, reported_gap, atol):
        return orig(p, q, const, reported_gap, 1000 * atol)

    def no_atol(p, q, const, reported_gap, atol):  # confirms any positive gap, rounding included
        return orig(p, q, const, reported_gap, 0.0)

    out = tc.pinsker_replay_controls(loose)
    assert not out[0].passed and not out[2].passed
    out = tc.pinsker_replay_controls(no_atol)
    assert not out[1].passed and not out[3].passed
    monkeypatch.setattr(exact, "replay_pinsker_pair", loose)
    assert not tc.pinsker_replay_controls()[0].passed


def _in_class_gates(replayed_gap: float, code_gap: float, code_primal: float):
    """replay_in_class_duality's two gates with the 50-digit computation replaced by fixed replayed values
    (primal 0.5, the given gap, Slater and full support): (agrees, confirms)."""
    from opdcheck.numerics.replay import readings

    stub = {"gap": replayed_gap, "primal": 0.5, "dual": 0.5 + replayed_gap, "xi (max over the class of c)": 0.1,
            "p_min": 0.1}
    orig = readings.mp_in_class_duality
    readings.mp_in_class_duality = lambda *a, **k: stub
    try:
        w = readings.replay_in_class_duality(None, [], [], [], 1.0, code_gap=code_gap, code_primal=code_primal,
                                             code_dual=0.5 + code_gap)
    finally:
        readings.mp_in_class_duality = orig
    return bool(w.agrees), bool(w.confirms)


def in_class_agree_controls():
    """IN_CLASS_AGREE_ATOL at its own scale: the float gap or primal value d off the replayed one."""
    from opdcheck.tolerances import IN_CLASS_AGREE_ATOL

    return tc.band_controls("in-class float vs 50-digit agreement (IN_CLASS_AGREE_ATOL)",
                            lambda d: [_in_class_gates(0.3, 0.3 + d, 0.5)[0], _in_class_gates(0.3, 0.3, 0.5 - d)[0]],
                            IN_CLASS_AGREE_ATOL, " absolute")


def in_class_gap_controls():
    """IN_CLASS_GAP_ATOL at its own scale: a replayed gap of 4x the tolerance confirms a gap, 1/4 of it does not."""
    from opdcheck.tolerances import IN_CLASS_GAP_ATOL

    return tc.band_controls("in-class duality gap threshold (IN_CLASS_GAP_ATOL)",
                            lambda d: [not _in_class_gates(d, d, 0.5)[1]], IN_CLASS_GAP_ATOL, " absolute")


def test_in_class_replay_gates_at_their_own_scale(monkeypatch):
    """app-E-strong-duality's replay: both gates pass their own-scale controls, and each fails when its
    tolerance is made 1000x looser in the replay module."""
    from opdcheck.numerics.replay import readings

    assert all(c.passed for c in in_class_agree_controls() + in_class_gap_controls())
    with monkeypatch.context() as m:
        m.setattr(readings, "IN_CLASS_AGREE_ATOL", 1000 * readings.IN_CLASS_AGREE_ATOL)
        assert not _neg(in_class_agree_controls())[0].passed
    with monkeypatch.context() as m:
        m.setattr(readings, "IN_CLASS_GAP_ATOL", readings.IN_CLASS_GAP_ATOL / 1000)  # a looser "there is a gap"
        assert not _pos(in_class_gap_controls())[0].passed


def test_converged_gate_controls_catch_a_loosened_status(monkeypatch):
    from opdcheck.kernels import trajectory
    from opdcheck.tolerances import LAST_ITERATE_CONVERGED_RTOL

    assert all(c.passed for c in tc.converged_gate_controls())
    orig = trajectory.last_iterate_converges

    def loose(e, rtol=LAST_ITERATE_CONVERGED_RTOL, window=0.2):
        return orig(e, rtol=1000 * rtol, window=window)

    def short_window(e, rtol=LAST_ITERATE_CONVERGED_RTOL, window=0.2):  # judges only the final value
        return orig(e, rtol=rtol, window=0.0)

    assert not _neg(tc.converged_gate_controls(loose))[0].passed
    assert not _neg(tc.converged_gate_controls(short_window))[0].passed
    monkeypatch.setattr(trajectory, "last_iterate_converges", loose)
    assert not _neg(tc.converged_gate_controls())[0].passed


def test_toy_replay_agree_controls_catch_a_loosened_rtol_or_floor(monkeypatch):
    from opdcheck.numerics.replay import toy

    assert all(c.passed for c in tc.toy_replay_agree_controls())
    with monkeypatch.context() as m:
        m.setattr(toy, "ALG1_REPLAY_RTOL", 1000 * toy.ALG1_REPLAY_RTOL)
        out = tc.toy_replay_agree_controls()
        assert not out[0].passed and out[2].passed
    with monkeypatch.context() as m:
        m.setattr(toy, "ALG1_REPLAY_FLOOR", 1000 * toy.ALG1_REPLAY_FLOOR)  # hides real differences below it
        out = tc.toy_replay_agree_controls()
        assert out[0].passed and not out[2].passed


def baseline_number_controls(close=None):
    """--strict's number comparison (baseline.entry_differences at the recorded rtol, BASELINE_NUMBER_RTOL): a new
    value d relative off the recorded one, either side, must be reported beyond 4x the tolerance and not at 1/4."""
    from opdcheck.paper_checks import baseline
    from opdcheck.tolerances import BASELINE_NUMBER_RTOL

    def accepted(value):
        want = {"verdict": "CONFIRMED", "findings": {}, "controls": {},
                "numbers": {"computed": {"value": 0.75, "rtol": BASELINE_NUMBER_RTOL}}}
        got = {"verdict": "CONFIRMED", "findings": {}, "controls": {}, "numbers": {"computed": {"value": value}}}
        return baseline.entry_differences("demo", want, got) == []

    return tc.band_controls("--strict number comparison (BASELINE_NUMBER_RTOL)",
                            lambda d: [accepted(0.75 * (1 + d)), accepted(0.75 * (1 - d))], BASELINE_NUMBER_RTOL,
                            " relative")


def test_baseline_number_gate_at_its_own_scale(monkeypatch):
    from opdcheck.paper_checks import baseline

    assert all(c.passed for c in baseline_number_controls())
    orig = baseline._close
    monkeypatch.setattr(baseline, "_close", lambda a, b, rtol: orig(a, b, 1000 * rtol))
    assert not _neg(baseline_number_controls())[0].passed


def test_saddle_certificate_controls_catch_a_loosened_certificate(monkeypatch):
    from opdcheck import tolerances
    from opdcheck.numerics import kkt
    from opdcheck.paper_checks.checks import lemma_b5

    assert all(c.passed for c in tc.saddle_certificate_controls())
    own = tc.saddle_certificate_controls(lambda p, pi, lam: lemma_b5.saddle_is_own(p, pi, lam)["ok"], "own")
    assert all(c.passed for c in own) and own[0].name != tc.saddle_certificate_controls()[0].name
    with monkeypatch.context() as m:  # require_own_certificate reads the tolerance at call time
        m.setattr(tolerances, "SADDLE_RESULT_RTOL", 1000 * tolerances.SADDLE_RESULT_RTOL)
        assert not _neg(tc.saddle_certificate_controls())[0].passed
    orig = kkt.scaled_residuals
    monkeypatch.setattr(kkt, "scaled_residuals",  # residuals in the wrong unit (1000x smaller)
                        lambda problem, pi, lam: {k: v / 1000 for k, v in orig(problem, pi, lam).items()})
    assert not _neg(tc.saddle_certificate_controls())[0].passed
    monkeypatch.setattr(kkt, "scaled_residuals", orig)
    monkeypatch.setattr(lemma_b5, "SADDLE_RESULT_RTOL", 1000 * tolerances.SADDLE_RESULT_RTOL)
    assert not _neg(tc.saddle_certificate_controls(lambda p, pi, lam: lemma_b5.saddle_is_own(p, pi, lam)["ok"]))[0].passed


def test_stays_gate_controls_catch_a_loosened_stays(monkeypatch):
    from opdcheck.paper_checks.checks import cor_3_10_counterexample as chk

    assert all(c.passed for c in tc.stays_gate_controls(chk.error_stays))
    monkeypatch.setattr(chk, "COUNTEREX_STAYS_RTOL", 1000 * chk.COUNTEREX_STAYS_RTOL)
    assert not _neg(tc.stays_gate_controls(chk.error_stays))[0].passed


def test_slater_replay_controls_catch_a_loosened_or_unscaled_replay(monkeypatch):
    from opdcheck import tolerances

    assert all(c.passed for c in tc.slater_replay_controls())
    with monkeypatch.context() as m:  # replay_slater_margins reads the tolerance at call time
        m.setattr(tolerances, "SLATER_REPLAY_RTOL", 1000 * tolerances.SLATER_REPLAY_RTOL)
        assert not _neg(tc.slater_replay_controls())[0].passed
    with monkeypatch.context() as m:  # a gate with no slack at all refuses the rounding-level points
        m.setattr(tolerances, "SLATER_REPLAY_RTOL", 0.0)
        assert not _pos(tc.slater_replay_controls())[0].passed


def test_settle_band_controls_catch_a_loosened_or_absolute_band():
    from opdcheck.paper_checks.checks.sec_4_stability import settle_time

    assert all(c.passed for c in tc.settle_band_controls(settle_time))

    def loose(lam, lam_star, band):
        return settle_time(lam, lam_star, 1000 * band)

    def absolute(lam, lam_star, band):  # |lam - lam*| <= band, not band lam*
        return settle_time(lam, lam_star, band / lam_star)

    assert not _neg(tc.settle_band_controls(loose))[0].passed
    assert not _pos(tc.settle_band_controls(absolute))[0].passed


def test_cert_margin_controls_catch_a_dropped_margin(monkeypatch):
    from opdcheck.paper_checks.checks import step_size_map as chk

    assert all(c.passed for c in tc.cert_margin_controls(chk.expectation))
    with monkeypatch.context() as m:
        m.setattr(chk, "ALG1_CERT_MARGIN", 0.0)  # any radius above 1 decided
        assert not _pos(tc.cert_margin_controls(chk.expectation))[0].passed
    with monkeypatch.context() as m:
        m.setattr(chk, "ALG1_CERT_MARGIN", 1000 * chk.ALG1_CERT_MARGIN)
        assert not _neg(tc.cert_margin_controls(chk.expectation))[0].passed


def test_constants_crosscheck_controls_catch_a_loosened_crosscheck(monkeypatch):
    from opdcheck import tolerances

    assert all(c.passed for c in tc.constants_crosscheck_controls())
    monkeypatch.setattr(tolerances, "THM34_CROSSCHECK_RTOL", 1000 * tolerances.THM34_CROSSCHECK_RTOL)
    assert not _neg(tc.constants_crosscheck_controls())[0].passed


def test_run_converged_controls_catch_a_loosened_ratio(monkeypatch):
    from opdcheck.paper_checks.checks import step_size_map as chk

    assert all(c.passed for c in tc.run_converged_controls(chk.judge_default_run))
    monkeypatch.setattr(chk, "ALG1_CONVERGED_RATIO", 1000 * chk.ALG1_CONVERGED_RATIO)
    assert not _neg(tc.run_converged_controls(chk.judge_default_run))[0].passed


def test_fd_and_convexity_gate_controls_catch_loosened_gates(monkeypatch):
    from opdcheck.paper_checks.checks import dual_function as chk

    assert all(c.passed for c in tc.fd_gate_controls(chk.fd_formula_ok, chk.fd_estimate_ok))
    assert all(c.passed for c in tc.convexity_gate_controls(chk.convexity_ok))
    with monkeypatch.context() as m:
        m.setattr(chk, "FD_RTOL", 1000 * chk.FD_RTOL)
        assert not _neg(tc.fd_gate_controls(chk.fd_formula_ok, chk.fd_estimate_ok))[0].passed
    with monkeypatch.context() as m:
        m.setattr(chk, "CONVEXITY_RTOL", 1000 * chk.CONVEXITY_RTOL)
        assert not _neg(tc.convexity_gate_controls(chk.convexity_ok))[0].passed
    # an FD gate that forgets the estimate's allowance is still at its own scale; one that ignores FD_RTOL is not
    assert not _pos(tc.fd_gate_controls(lambda e, est: e <= 2 * est, chk.fd_estimate_ok))[0].passed


def test_cvxpy_multiplier_gate_controls_catch_loosened_gates(monkeypatch):
    from opdcheck.paper_checks.checks import dual_function as chk

    assert all(c.passed for c in tc.multiplier_gate_controls(chk.multipliers_agree, chk.reference_certified))
    with monkeypatch.context() as m:
        m.setattr(chk, "SADDLE_AGREEMENT_ATOL", 1000 * chk.SADDLE_AGREEMENT_ATOL)
        assert not _neg(tc.multiplier_gate_controls(chk.multipliers_agree, chk.reference_certified))[0].passed
    # a multiplier gate that forgets the max(1, |lam*|) scale rejects what it should accept
    absolute = lambda diff, scale: diff <= chk.SADDLE_AGREEMENT_ATOL  # noqa: E731
    assert not _pos(tc.multiplier_gate_controls(absolute, chk.reference_certified))[0].passed


def test_multiplier_zero_controls_catch_a_loosened_lambda_zero(monkeypatch):
    from opdcheck.paper_checks.checks import lemma_b5 as chk

    assert all(c.passed for c in tc.multiplier_zero_controls(chk.counts_as_zero, chk.counts_as_negative))
    monkeypatch.setattr(chk, "LAMBDA_ZERO_ATOL", 1000 * chk.LAMBDA_ZERO_ATOL)
    out = tc.multiplier_zero_controls(chk.counts_as_zero, chk.counts_as_negative)
    assert not _neg(out)[0].passed and "accepted on 2 of 2" in _neg(out)[0].detail


def test_lemma_b11_exceeds_at_its_own_scale(monkeypatch):
    """replay/lemma_b11.exceeds (the replayed steps' 'fails' and lemmas-B.9-B.12's float draws)."""
    from opdcheck.numerics.replay import lemma_b11

    tol = lemma_b11.LEMMA_B11_ATOL

    def controls():
        return tc.at_most_controls("B.11", lambda d: not lemma_b11.exceeds(d, 0.0), tol)

    assert all(c.passed for c in controls())
    monkeypatch.setattr(lemma_b11, "LEMMA_B11_ATOL", 1000 * lemma_b11.LEMMA_B11_ATOL)
    assert not _neg(controls())[0].passed


@pytest.mark.parametrize("module, fn, tol", [
    ("remark_3_5", "policies_agree", "REMARK35_POLICY_ATOL"), ("remark_3_5", "fisher_agrees", "REMARK35_FISHER_ATOL"),
    ("dual_step_scale", "policies_match", "DUAL_STEP_POLICY_ATOL"),
    ("opd_closed_form", "kernel_matches", "CLOSED_FORM_KERNEL_ATOL"),
    ("opd_closed_form", "matches_cvxpy", "PROX_CVXPY_PI_ATOL"), ("alg_3_npg", "eq72_agrees", "EQ72_FD_RTOL")])
def test_one_sided_check_gates_at_their_own_scale(monkeypatch, module, fn, tol):
    """A check's one-sided comparison passes its own-scale controls and fails them with its tolerance 1000x looser."""
    import importlib

    chk = importlib.import_module(f"opdcheck.paper_checks.checks.{module}")
    value = getattr(chk, tol)
    assert all(c.passed for c in tc.at_most_controls(tol, getattr(chk, fn), value))
    monkeypatch.setattr(chk, tol, 1000 * value)
    assert not _neg(tc.at_most_controls(tol, getattr(chk, fn), value))[0].passed


def test_alg1_rate_and_saddle_gates_at_their_own_scale(monkeypatch):
    """fig-1-toy / alg-1-unification's rate_matches_radius (ALG1_RATE_ATOL, either side) and alg-1-unification's
    reaches_saddle (ALG1_SADDLE_ATOL): pass as they are, fail with the tolerance 1000x looser."""
    from opdcheck.paper_checks.checks import alg_1_unification as chk
    from opdcheck.paper_checks.studies import alg1_designs

    rate_tol, saddle_tol = alg1_designs.ALG1_RATE_ATOL, chk.ALG1_SADDLE_ATOL

    def rate():
        return tc.close_gate_controls("rate", alg1_designs.rate_matches_radius, rate_tol, ref=0.5)

    def saddle():
        return tc.at_most_controls("saddle", chk.reaches_saddle, saddle_tol)

    assert all(c.passed for c in rate() + saddle())
    assert not _neg(tc.close_gate_controls("one-sided", lambda a, b: a <= b + rate_tol, rate_tol, ref=0.5))[0].passed
    with monkeypatch.context() as m:
        m.setattr(alg1_designs, "ALG1_RATE_ATOL", 1000 * rate_tol)
        assert not _neg(rate())[0].passed
    monkeypatch.setattr(chk, "ALG1_SADDLE_ATOL", 1000 * saddle_tol)
    assert not _neg(saddle())[0].passed


def test_counterexample_replay_agreement_at_its_own_scale(monkeypatch):
    """replay/alg3.code_agrees (cor-3.10-counterexample and the Alg. 3 fixed-point replay): 1000x looser fails."""
    from opdcheck.numerics.replay import alg3

    tol = alg3.COUNTEREX_AGREE_RTOL
    assert all(c.passed for c in tc.at_most_controls("agree", alg3.code_agrees, tol))
    monkeypatch.setattr(alg3, "COUNTEREX_AGREE_RTOL", 1000 * tol)
    assert not _neg(tc.at_most_controls("agree", alg3.code_agrees, tol))[0].passed


def test_replay_rate_agree_controls_catch_a_loosened_atol(monkeypatch):
    from opdcheck import tolerances

    assert all(c.passed for c in tc.replay_rate_agree_controls())
    monkeypatch.setattr(tolerances, "REPLAY_RATE_ATOL", 1000 * tolerances.REPLAY_RATE_ATOL)  # read at call time
    assert not _neg(tc.replay_rate_agree_controls())[0].passed


def test_degeneracy_gate_controls_catch_loosened_gates(monkeypatch):
    """local_rate.lam_star_not_unique (LAMBDA_UNIQUE_EIG_RTOL; thm-3.4 family, tightness, certify) and
    thm34.constraint_is_tight (TIGHT_CONSTRAINT_ATOL): each 1000x looser fails its negative control."""
    from opdcheck.numerics import local_rate
    from opdcheck.paper_checks.studies import thm34

    assert all(c.passed for c in tc.degeneracy_gate_controls())
    with monkeypatch.context() as m:
        m.setattr(local_rate, "LAMBDA_UNIQUE_EIG_RTOL", 1000 * local_rate.LAMBDA_UNIQUE_EIG_RTOL)
        out = tc.degeneracy_gate_controls()
        assert not out[0].passed and out[2].passed
    with monkeypatch.context() as m:
        m.setattr(thm34, "TIGHT_CONSTRAINT_ATOL", 1000 * thm34.TIGHT_CONSTRAINT_ATOL)
        out = tc.degeneracy_gate_controls()
        assert out[0].passed and not out[2].passed
    # an absolute eigenvalue test (no max(1, largest) scale) fails the positive side
    assert not _pos(tc.degeneracy_gate_controls(lambda lo, hi: lo <= local_rate.LAMBDA_UNIQUE_EIG_RTOL))[0].passed


def test_lyapunov_floor_controls_catch_a_loosened_floor(monkeypatch):
    """trajectory.lyapunov_floor (thm-3.4-lyapunov and app-C count their violations with lyapunov_violations, the
    comparison judge_lyapunov uses): a floor 1000x higher hides a real violation and fails the control."""
    from opdcheck.kernels import trajectory

    assert all(c.passed for c in tc.lyapunov_floor_controls())
    phi = np.array([2.0, 1.0, 0.5, 0.45, np.nan])
    assert list(trajectory.lyapunov_violations(phi, 0.8, 0.0, 0.0, 1)) == [False, True, True]
    monkeypatch.setattr(trajectory, "LYAPUNOV_PHI_FLOOR_RTOL", 1000 * trajectory.LYAPUNOV_PHI_FLOOR_RTOL)
    assert not _neg(tc.lyapunov_floor_controls())[0].passed


def test_bound_violations_is_judge_bounds_comparison(monkeypatch):
    """studies/thm34.py locates the first violation with trajectory.bound_violations, judge_bound's own test:
    the two agree on every step (non-finite values included), and a bound_violations 1000x looser is caught by
    the bound gate's own-scale control when judge_bound is built on it."""
    from opdcheck.kernels import trajectory
    from opdcheck.tolerances import BOUND_RTOL

    err = np.array([0.5, 1.0 + 4 * BOUND_RTOL, 1.0 + BOUND_RTOL / 4, np.nan, 0.0])
    b = np.ones_like(err)
    mask = trajectory.bound_violations(err, b, BOUND_RTOL)
    assert list(mask) == [False, True, False, True, False]
    assert all(trajectory.judge_bound(err[i:i + 1], b[i:i + 1], BOUND_RTOL)[0] == (not mask[i]) for i in range(len(err)))
    orig = trajectory._over_bound
    monkeypatch.setattr(trajectory, "_over_bound", lambda lr, rtol: orig(lr, 1000 * rtol))
    assert not _neg(tc.bound_gate_controls(trajectory.judge_bound))[0].passed
    assert not trajectory.bound_violations(err, b, BOUND_RTOL)[1]  # the same loosening reaches bound_violations


def test_alg3_and_in_class_gates_at_their_own_scale(monkeypatch):
    """alg_3_npg.alg3_converged (ALG3_CONVERGED_RTOL), in_class.kkt_solved (IN_CLASS_KKT_ATOL) and
    in_class.tabular_agrees (IN_CLASS_TABULAR_ATOL): pass as they are, fail 1000x looser."""
    from opdcheck.numerics import in_class
    from opdcheck.paper_checks.checks import alg_3_npg as chk

    tab_tol = in_class.IN_CLASS_TABULAR_ATOL

    def tab():
        return tc.at_most_controls("tabular", in_class.tabular_agrees, tab_tol)

    assert all(c.passed for c in tc.alg3_gate_controls(chk.alg3_converged, in_class.kkt_solved) + tab())
    with monkeypatch.context() as m:
        m.setattr(chk, "ALG3_CONVERGED_RTOL", 1000 * chk.ALG3_CONVERGED_RTOL)
        out = tc.alg3_gate_controls(chk.alg3_converged, in_class.kkt_solved)
        assert not out[0].passed and out[2].passed
    with monkeypatch.context() as m:
        m.setattr(in_class, "IN_CLASS_KKT_ATOL", 1000 * in_class.IN_CLASS_KKT_ATOL)
        out = tc.alg3_gate_controls(chk.alg3_converged, in_class.kkt_solved)
        assert out[0].passed and not out[2].passed
    monkeypatch.setattr(in_class, "IN_CLASS_TABULAR_ATOL", 1000 * tab_tol)
    assert not _neg(tab())[0].passed


def test_alg3_direction_and_anchor_gates_at_their_own_scale(monkeypatch):
    from opdcheck.paper_checks.checks import alg_3_npg as chk

    assert all(c.passed for c in tc.alg3_direction_anchor_controls(chk.directions_agree, chk.anchored))
    with monkeypatch.context() as m:
        m.setattr(chk, "ALG3_DIRECTION_RTOL", 1000 * chk.ALG3_DIRECTION_RTOL)
        out = tc.alg3_direction_anchor_controls(chk.directions_agree, chk.anchored)
        assert not out[0].passed and out[2].passed
    monkeypatch.setattr(chk, "ALG3_ANCHOR_ATOL", 1000 * chk.ALG3_ANCHOR_ATOL)
    out = tc.alg3_direction_anchor_controls(chk.directions_agree, chk.anchored)
    assert out[0].passed and not out[2].passed


def test_backend_agree_controls_catch_a_loosened_rtol(monkeypatch):
    from opdcheck.paper_checks.studies import thm34

    assert all(c.passed for c in tc.backend_agree_controls())
    monkeypatch.setattr(thm34, "NUMBA_AGREEMENT_RTOL", 1000 * thm34.NUMBA_AGREEMENT_RTOL)
    assert not _neg(tc.backend_agree_controls())[0].passed


def test_slater_and_sec4_threshold_controls_catch_loosened_gates(monkeypatch):
    from opdcheck.numerics import lp
    from opdcheck.paper_checks.checks import sec_4_stability as chk

    assert all(c.passed for c in tc.slater_gate_controls())
    assert all(c.passed for c in tc.sec4_gate_controls(chk.ends_feasible, chk.keeps_oscillating, chk.neural_oscillates))
    with monkeypatch.context() as m:  # a Slater gate 1000x looser certifies a margin below the stated one
        m.setattr(lp, "SLATER_XI_ATOL", lp.SLATER_XI_ATOL / 1000)
        assert not _neg(tc.slater_gate_controls())[0].passed
    # a Slater gate that forgets the constraints' scale refuses a margin it should certify
    assert not _pos(tc.slater_gate_controls(lambda xi, scale: xi > lp.SLATER_XI_ATOL * scale * 1e4))[0].passed
    for name, factor in (("SEC4_FEASIBLE_ATOL", 1000), ("SEC4_OSCILLATION_MIN", 1e-3), ("NEURAL_OSCILLATION_DECADES", 1e-3)):
        with monkeypatch.context() as m:
            m.setattr(chk, name, factor * getattr(chk, name))
            out = tc.sec4_gate_controls(chk.ends_feasible, chk.keeps_oscillating, chk.neural_oscillates)
            assert not all(c.passed for c in out), name


def test_neural_gate_controls_catch_loosened_gates(monkeypatch):
    from opdcheck.paper_checks.checks import sec_4_stability as chk

    def controls():
        return tc.neural_gate_controls(chk.neural_cost_feasible, chk.significant, chk.reward_competitive)
    assert all(c.passed for c in controls())
    for name, factor in (("NEURAL_FEASIBLE_ATOL", 1000), ("NEURAL_REWARD_MARGIN", 1000), ("PAIRED_TEST_ALPHA", 10)):
        with monkeypatch.context() as m:
            m.setattr(chk, name, factor * getattr(chk, name))
            assert not all(c.passed for c in controls()), name
    # a significance test written the wrong way round fails both of its controls
    flipped = tc.neural_gate_controls(chk.neural_cost_feasible, lambda p: p > chk.PAIRED_TEST_ALPHA, chk.reward_competitive)
    assert [c.passed for c in flipped if "PAIRED_TEST_ALPHA" in c.name] == [False, False]


# ---------------------------------------------------------------- kernel accuracy contracts (kernels/accuracy.py)
def _kernel_gate_cases() -> dict:
    from opdcheck.kernels import accuracy as acc

    want = np.exp(np.array([-700.0, -3.0, -1.0, 0.0, 0.5, 700.0]))
    ref_kl = np.array([1e-3, 0.02, 0.7, 3.0])
    ref_z = np.array([-0.2, -1.5, -2.9])
    L = 3.0
    return {
        # an exp d ulp above libm's (a quarter ulp rounds back to libm's value: accepted)
        "FASTEXP_MAX_ULP": lambda d: [acc.exp_within_ulp(want + d * np.spacing(want), want)],
        "NUMBA_KL_SERIES_RTOL": lambda d: [acc.kl_series_agrees(ref_kl * (1 + d), ref_kl),
                                           acc.kl_series_agrees(ref_kl * (1 - d), ref_kl)],
        # in units of the per-logit tolerance x L: log pi off by 2 d L (its gate is 2 rtol L), pi by d L relative
        "NUMBA_SOFTMAX_RTOL_PER_LOGIT": lambda d: [acc.softmax_log_agrees(ref_z + 2 * d * L, ref_z, L),
                                                   acc.softmax_log_agrees(ref_z - 2 * d * L, ref_z, L),
                                                   acc.softmax_pi_agrees(np.exp(ref_z) * (1 + d * L), np.exp(ref_z), L),
                                                   acc.softmax_pi_agrees(np.exp(ref_z) * (1 - d * L), np.exp(ref_z), L)],
    }


@pytest.mark.parametrize("name", ("FASTEXP_MAX_ULP", "NUMBA_KL_SERIES_RTOL", "NUMBA_SOFTMAX_RTOL_PER_LOGIT"))
def test_kernel_accuracy_gate_own_scale(name, monkeypatch):
    from opdcheck import tolerances
    from opdcheck.kernels import accuracy

    accepts, tol = _kernel_gate_cases()[name], getattr(tolerances, name)
    out = tc.band_controls(name, accepts, tol)
    assert all(c.passed for c in out), [c.detail for c in out if not c.passed]
    monkeypatch.setattr(accuracy, name, 1000 * tol)  # the kernel's accuracy contract planted 1000x looser
    out = tc.band_controls(name, accepts, tol)
    assert not _neg(out)[0].passed and _pos(out)[0].passed
