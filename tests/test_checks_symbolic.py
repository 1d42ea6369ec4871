"""Sub-verdicts of the symbolic checks: summaries are generated from the computation (they change when
it changes), every REFUTED carries an independent replay, and planted bugs change the verdict.

Each planted bug is applied by monkeypatching (undone after the test); the test asserts the check's
verdict changes (and, where the brief asks, its sentence). Planted bugs whose effect is visible only
at the finding level (the check's verdict is already decided by another finding) are asserted there.
The costlier ones are marked slow.
"""
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from opdcheck.kernels import bilinear as kbl
from opdcheck.paper_checks.checks import bilinear_gda, dual_step_scale, lemmas_b2_b4_b8, opd_closed_form, thm_3_4_constants
from opdcheck.numerics.replay import exact as ew
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict, summary_from_findings
from opdcheck.theory import bilinear as bl
from opdcheck.theory import closed_forms as cf
from opdcheck.theory import lemmas as lm
from quick_profile_run import quick_result

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")

R34 = sp.Rational(3, 4)


@pytest.fixture
def ctx(tmp_path):
    return CheckContext(out_dir=tmp_path)


def _finding(result: CheckResult, name: str) -> Finding:
    return next(f for f in result.findings if f.name == name)


# ------------------------------------------------------------------------------ the machinery
def test_summary_is_generated_from_findings_and_controls():
    f = [Finding("a", "claim a", Verdict.CONFIRMED, 1, 1, sentence="x = 1."),
         Finding("b", "claim b", Verdict.INCONSISTENT, 2, 3, sentence="y = 2, paper 3.")]
    text = summary_from_findings(f, [Control("c", "positive", True), Control("d", "negative", False, "missed")])
    assert "[a: CONFIRMED] x = 1." in text and "[b: INCONSISTENT] y = 2, paper 3." in text
    assert "1 of 2 passed" in text and "negative d: missed" in text
    r = CheckResult(id="t", paper_ref="-", claim="-", verdict=None, computed=0, stated=0, comparison="==", findings=f)
    assert r.verdict is Verdict.INCONSISTENT and r.summary == summary_from_findings(f)


def test_inconsistent_needs_passing_controls_and_judged_cases():
    f = [Finding("b", "claim b", Verdict.INCONSISTENT, 2, 3, sentence="differs.")]
    r = CheckResult(id="t", paper_ref="-", claim="-", verdict=None, computed=0, stated=0, comparison="==", findings=f,
                    controls=[Control("derivation", "positive", False, "broken")])
    assert r.verdict is Verdict.INCONCLUSIVE and "positive control derivation: broken" in r.summary
    g = Finding("c", "claim c", Verdict.INCONSISTENT, 2, 3, judged=0)
    assert g.verdict is Verdict.INCONCLUSIVE


def test_fraction_replays_are_exact_and_independent():
    w = ew.replay_b4_witness(Fraction(3, 4), Fraction(3, 4), (1, 0, -1), "-13/36")
    assert w["confirms"] and w["agrees"] and w["replayed lhs - rhs"] == "-13/36"
    bad = ew.replay_b4_witness(Fraction(3, 4), Fraction(3, 4), (1, 0, -1), "-1/3")   # the code under suspicion lied
    assert bad["confirms"] and not bad["agrees"] and "disagreement" in bad
    assert ew.psd_by_minors(ew.b4_printed_coefficients(Fraction(1), Fraction(7, 3)))[0]
    assert not ew.psd_by_minors(ew.b4_printed_coefficients(Fraction(99, 100), Fraction(1, 2)))[0]
    mm = ew.replay_max_vs_min(Fraction(1, 4), {"a1": "13/4", "a3": "7/2"})
    assert mm["confirms"] and mm["agrees"]
    assert not ew.replay_max_vs_min(Fraction(1), None)["confirms"]       # beta > sqrt(h)R/2: a1 > a3, max is a1
    den = ew.replay_denominators(1, {"theorem": "4", "proof": "7/2"})
    assert den["confirms"] and den["agrees"]
    assert not ew.replay_denominators(Fraction(1, 4))["confirms"]      # beta <= sqrt(h)R/2: both are eta_th + beta
    kind, val = ew.block2_max_modulus_sq([[1, Fraction(-1, 10)], [Fraction(1, 10), 1]])
    assert kind == "exact" and val == Fraction(101, 100)
    with pytest.raises(ValueError, match="delta"):
        ew.b4_printed_coefficients(Fraction(0), Fraction(1))


def test_b4_region_is_derived_not_stated():
    assert lm.b4_validity_region()["region"] == sp.Interval(1, sp.oo)
    assert lm.b4_validity_region(lm.b4_corrected_coefficients)["region"] == sp.Interval.Lopen(0, 1)
    assert lm.b4_validity_region(lambda d, t: (sp.Integer(1), sp.Integer(1), sp.Integer(1)))["necessary"] == sp.S.EmptySet
    assert lm.region_text(sp.Interval(1, sp.oo)) == "delta >= 1"


# ------------------------------------------------------------------------------ lemmas-B.2-B.4-B.8
def test_lemmas_findings_today():
    r = quick_result(lemmas_b2_b4_b8.ID)  # the session's quick run: this test's context is the quick profile, seed 0
    assert r.verdict is Verdict.REFUTED and all(c.passed for c in r.controls)
    assert {f.name: f.verdict for f in r.findings} == {"B.2 Pinsker": Verdict.CONFIRMED,
                                                       "B.4 at the proof's delta": Verdict.REFUTED,
                                                       "B.8 identity": Verdict.CONFIRMED}
    b4 = _finding(r, "B.4 at the proof's delta")
    assert b4.witness["method"].startswith("exact fractions") and b4.witness["agrees"]
    assert b4.witness["replayed lhs - rhs"] == "-13/36" and "delta >= 1" in b4.sentence
    assert "false at the proof's delta = theta = 3/4" in r.summary


def test_lemmas_b4_made_true_at_three_quarters_changes_verdict_and_sentence(ctx, monkeypatch):
    before = quick_result(lemmas_b2_b4_b8.ID)  # the session's quick run: this test's context is the quick profile, seed 0
    orig = lm.b4_coefficients
    monkeypatch.setattr(lm, "b4_coefficients", lambda d=lm.DELTA, t=lm.THETA: orig(d + 1, t))  # true for all delta > 0
    after = lemmas_b2_b4_b8.run(ctx)
    assert before.verdict is Verdict.REFUTED and after.verdict is not Verdict.REFUTED
    assert after.verdict is Verdict.INCONCLUSIVE                           # the transcription control caught it
    assert "false at the proof's delta" not in after.summary and "B.4 transcription" in after.summary
    assert _finding(after, "B.4 at the proof's delta").sentence != _finding(before, "B.4 at the proof's delta").sentence
    # the same statement passed explicitly is a different claim under test, which then holds: CONFIRMED
    monkeypatch.setattr(lm, "b4_coefficients", orig)
    assert lemmas_b2_b4_b8.evaluate(ctx, b4_coeffs=lambda d, t: orig(d + 1, t)).verdict is Verdict.CONFIRMED


def test_lemmas_broken_psd_test_is_caught(ctx, monkeypatch):
    monkeypatch.setattr(lm, "b4_holds_at", lambda d, t, coeffs_fn=None: True)
    r = lemmas_b2_b4_b8.run(ctx)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert "PSD decision replayed in Fractions" in r.summary


def test_lemmas_tampered_witness_is_not_a_refutation(ctx, monkeypatch):
    orig = lm.b4_witness

    def lying(d, t, coeffs_fn=lm.b4_coefficients):
        w = orig(d, t, coeffs_fn)
        return None if w is None else {**w, "lhs_minus_rhs": w["lhs_minus_rhs"] - 1}

    monkeypatch.setattr(lm, "b4_witness", lying)
    r = lemmas_b2_b4_b8.run(ctx)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert "DISAGREES" in _finding(r, "B.4 at the proof's delta").sentence


@pytest.mark.slow
def test_lemmas_b4_replaced_by_its_valid_variant(ctx, monkeypatch):
    # a transcription that is true at 3/4 but false for delta > 1: the Fraction replay of the printed lemma disagrees
    monkeypatch.setattr(lm, "b4_coefficients", lm.b4_corrected_coefficients)
    r = lemmas_b2_b4_b8.run(ctx)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert not _finding(r, "B.4 at the proof's delta").witness["agrees"]


@pytest.mark.slow
def test_lemmas_finding_level_mutants(ctx, monkeypatch):
    # a KL off by a factor: the draws "refute" Pinsker, the mpmath replay does not confirm it
    monkeypatch.setattr(lemmas_b2_b4_b8, "kl_rows", lambda p, q: 0.4 * np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / q), 0), axis=1))
    r = lemmas_b2_b4_b8.run(ctx)
    assert _finding(r, "B.2 Pinsker").verdict is Verdict.INCONCLUSIVE
    monkeypatch.undo()
    # a broken simplification of eq. (17): the unsimplified replay finds no violation
    monkeypatch.setattr(lm, "three_point_identity_residual", lambda div=None: sp.Symbol("x", positive=True) - sp.Symbol("y", positive=True))
    r = lemmas_b2_b4_b8.run(ctx)
    assert _finding(r, "B.8 identity").verdict is Verdict.INCONCLUSIVE


# ------------------------------------------------------------------------------ thm-3.4-constants
def test_thm34_constants_b4_transcription_mutant(ctx, monkeypatch):
    before = quick_result(thm_3_4_constants.ID)  # the session's quick run: this test's context is the quick profile, seed 0
    assert before.verdict is Verdict.INCONSISTENT
    assert "delta = [1/4]" in before.summary and "Fraction replay" in before.summary
    orig = lm.b4_coefficients
    monkeypatch.setattr(lm, "b4_coefficients", lambda d=lm.DELTA, t=lm.THETA: orig(d + 1, t))
    after = thm_3_4_constants.run(ctx)
    assert after.verdict is Verdict.INCONCLUSIVE and "Lemma B.4 transcription" in after.summary
    # the finding the code alone still decides is held back while a control of its check fails
    use = _finding(after, "Lemma B.4's use at delta = theta = 3/4")
    assert use.verdict is Verdict.INCONCLUSIVE and use.verdict_before_controls is Verdict.CONFIRMED and use.held_back


def test_thm34_constants_numeric_rho_made_smaller(ctx, monkeypatch):
    from opdcheck.kernels import potential
    orig = potential.rho_eq46
    monkeypatch.setattr(potential, "rho_eq46", lambda p: 0.9 * orig(p))   # rho of eq. (46) 10 % smaller
    r = thm_3_4_constants.run(ctx)
    assert r.verdict is Verdict.INCONCLUSIVE and "rho eq. (46) on paper-toy" in r.summary


@pytest.mark.slow
def test_thm34_constants_broken_judges_are_caught(ctx, monkeypatch):
    from opdcheck.theory import thm34_constants as tc
    monkeypatch.setattr(tc, "positive_by_substitution", lambda e: (True, e, sp.Integer(1)))
    assert thm_3_4_constants.run(ctx).verdict is Verdict.INCONCLUSIVE
    monkeypatch.undo()
    from opdcheck.kernels import potential
    orig47 = potential.phi1_eq47
    monkeypatch.setattr(potential, "phi1_eq47", lambda p, m: orig47(p, m) + (2 - 11 / 6) * np.sqrt(p.h) * p.R_max * float(m["lam_hat_pred2"][1]))
    assert thm_3_4_constants.run(ctx).verdict is Verdict.INCONCLUSIVE   # a coefficient of Phi_1 changed (11/6 -> 2)
    monkeypatch.undo()
    s = sp.sqrt(tc.H) * tc.R
    monkeypatch.setattr(tc, "paper_rho_eq46", lambda: sp.Max(3 * s / (3 * s + tc.BETA), s / (2 * s + tc.BETA), sp.Rational(49, 63)))
    r = thm_3_4_constants.run(ctx)
    assert r.verdict is Verdict.INCONCLUSIVE       # the sympy and kernel versions of eq. (46) now differ: a control
    f46 = _finding(r, "eq. (46) reproduces")
    # held back while the control fails, with what the code alone said and both versions named (49/63 = 7/9)
    assert f46.verdict is Verdict.INCONCLUSIVE and f46.verdict_before_controls is Verdict.INCONSISTENT
    assert "7/9" in f46.sentence and "50/63" in f46.sentence


# ------------------------------------------------------------------------------ opd-closed-form
def test_opd_closed_form_printed_replaced_by_derived_confirms(ctx, monkeypatch):
    before = quick_result(opd_closed_form.ID)  # the session's quick run: this test's context is the quick profile, seed 0
    assert before.verdict is Verdict.INCONSISTENT and all(c.passed for c in before.controls)
    assert "beta + eta_theta - 1 = 0" in before.summary
    monkeypatch.setattr(cf, "printed_prox_weight", cf.derived_prox_weight)
    after = opd_closed_form.run(ctx)
    # a transcription of the printed formula that hides the paper's error no longer reads as CONFIRMED: the
    # mechanical transcription from the paper's LaTeX disagrees with it, a failed control
    assert after.verdict is Verdict.INCONCLUSIVE
    assert any(not c.passed and "LaTeX" in c.detail for c in after.controls)


@pytest.mark.slow
def test_opd_closed_form_broken_kernel_or_derivation(ctx, monkeypatch):
    real = opd_closed_form.primal_mirror_step
    monkeypatch.setattr(opd_closed_form, "primal_mirror_step",
                        lambda *a, **k: real(*a, **{**k, "closed_form": "printed"}))
    assert opd_closed_form.run(ctx).verdict is Verdict.INCONCLUSIVE
    monkeypatch.undo()
    bad = cf.PIHAT_y ** (cf.ETA / (cf.ETA + cf.BETA)) * cf.PIREF_y ** (cf.BETA / (cf.ETA + cf.BETA)) * sp.exp(cf.S_y / cf.ETA)
    monkeypatch.setattr(cf, "derived_prox_weight", lambda: bad)
    assert opd_closed_form.run(ctx).verdict is Verdict.INCONCLUSIVE


# ------------------------------------------------------------------------------ dual-step-scale
def test_dual_step_equal_steps_confirm(ctx, monkeypatch):
    before = quick_result(dual_step_scale.ID)  # the session's quick run: this test's context is the quick profile, seed 0
    assert before.verdict is Verdict.INCONSISTENT and "ratio 2" in before.summary
    monkeypatch.setattr(cf, "printed_dual_step", lambda eta_lam=cf.ETA_LAM: cf.derive_dual_prox(eta_lam)[0])
    after = dual_step_scale.run(ctx)
    assert after.verdict is Verdict.INCONCLUSIVE  # the printed formula no longer matches the paper's LaTeX: a failed control
    assert any(not c.passed and "LaTeX" in c.detail for c in after.controls)


def test_dual_step_broken_kernel_prox_step(ctx, monkeypatch):
    real = dual_step_scale.dual_step
    monkeypatch.setattr(dual_step_scale, "dual_step", lambda lh, c, eta, convention="prox": real(lh, c, eta, convention="gradient"))
    r = dual_step_scale.run(ctx)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert "kernel prox step is the minimiser" in r.summary


# ------------------------------------------------------------------------------ bilinear-gda
def test_bilinear_findings_and_optimism_removed(ctx, monkeypatch):
    before = quick_result(bilinear_gda.ID)  # the session's quick run: this test's context is the quick profile, seed 0
    assert before.verdict is Verdict.CONFIRMED and len(before.findings) == 4 and all(c.passed for c in before.controls)
    monkeypatch.setattr(bilinear_gda, "run_optimistic", kbl.run_gda)     # optimism removed
    after = bilinear_gda.run(ctx)
    assert after.verdict is Verdict.INCONCLUSIVE
    assert _finding(after, "optimistic stability condition").verdict is Verdict.INCONCLUSIVE
    assert after.summary != before.summary


@pytest.mark.slow
def test_bilinear_more_mutants(ctx, monkeypatch):
    def alternating(A, x0, y0, alpha, T):           # a GDA with the dual step after the primal one: |mu| = 1
        x, y = x0.copy(), y0.copy()
        out = [np.hypot(np.linalg.norm(x), np.linalg.norm(y))]
        for _ in range(T):
            x = x + alpha * (A @ y)
            y = y - alpha * (A.T @ x)
            out.append(np.hypot(np.linalg.norm(x), np.linalg.norm(y)))
        return np.array(out)

    monkeypatch.setattr(bilinear_gda, "run_gda", alternating)
    assert bilinear_gda.run(ctx).verdict is Verdict.INCONCLUSIVE
    monkeypatch.undo()
    monkeypatch.setattr(bl, "paper_gda_eigenvalues", lambda a=bl.ALPHA, s=bl.SIGMA: [1 + sp.I * a * s / 2, 1 - sp.I * a * s / 2])
    r = bilinear_gda.run(ctx)
    assert r.verdict is Verdict.INCONSISTENT and "alpha*sigma/2" in r.summary
    monkeypatch.undo()
    damped = sp.Matrix([[1 - bl.ALPHA / 3, bl.ALPHA * bl.SIGMA], [-bl.ALPHA * bl.SIGMA, 1 - bl.ALPHA / 3]])
    r = bilinear_gda.evaluate(ctx, block=damped)
    w = _finding(r, "GDA last iterate spirals out").witness
    assert r.verdict is Verdict.REFUTED and w["agrees"] and w["confirms"]
