"""The issue-9 checks: verdicts, witnesses, and the negative controls the issue asks for."""
from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest

from opdcheck.kernels.framework import run_config
from opdcheck.instances import paper_toy
from opdcheck.paper_checks.checks import alg_1_unification, fig_1_toy, sec_4_stability, step_size_map
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import get_check
from opdcheck.methods import canonical_name
from opdcheck.paper_checks.result import Verdict
from opdcheck.theory.linearization import certify_rate
from quick_profile_run import quick_result

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


def _ctx(tmp_path):
    return CheckContext(out_dir=tmp_path)


def _finding(res, prefix):
    return [f for f in res.findings if f.name.startswith(prefix)]


# ------------------------------------------------------------------------------------------ fig-1-toy
def test_toy_replay_matches_the_driver():
    eta, el = fig_1_toy.steps_for(fig_1_toy.STEP)
    for m in ("opd", "simultaneous-pd", "finite-step-pd"):
        tr = run_config(m, paper_toy(), eta_th=float(eta), eta_lam=float(el), T=120, dual_step="gradient")
        ok, rel = fig_1_toy.replay_agreement(
            fig_1_toy.replay_toy(m, eta, el, "gradient", 120, mpmath.log(mpmath.mpf(3) / 7)), tr.error)
        assert ok, (m, rel)


def test_fig1_judges_the_papers_pd_and_reports_sequential_pd_as_a_caveat():
    res = quick_result("fig-1-toy")  # the session's quick run (T = 800; tests/quick_profile_run.py)
    # positive control: the paper's PD (simultaneous) oscillates, OPD converges -> the figure's claim holds
    assert res.verdict == Verdict.CONFIRMED and not res.downgrades
    assert all(f.verdict == Verdict.CONFIRMED for f in _finding(res, "OPD converges"))
    sim = _finding(res, "PD fails to converge: simultaneous")
    assert len(sim) == 2 and all(f.verdict == Verdict.CONFIRMED and f.reading == "charitable" for f in sim)
    # the sequential variant converges: reported as a caveat with its replay, never a refutation
    seq = _finding(res, "caveat: sequential PD converges")
    assert len(seq) == 2 and all(f.verdict == Verdict.CONFIRMED and f.witness["agrees"] and f.witness["confirms"]
                                 and f.reading.startswith("sequential PD") for f in seq)  # a caveat reading: counts for nothing
    assert not _finding(res, "PD fails to converge: finite-step")
    assert _finding(res, "OPD at step 2.0")[0].verdict == Verdict.CONFIRMED
    assert {f.statement for f in res.findings} == {"fig-1-opd", "fig-1-pd", "fig-1-consistent"}
    assert all(c.passed for c in res.controls) and len(res.figures) == 2


def test_fig1_negative_controls_change_the_verdict(tmp_path):
    # removing OPD's optimism, running a converging method in place of the paper's PD (the sequential order),
    # and running the sequential caveat simultaneously: each finding is judged on its own variant's runs, so the
    # three swaps are planted in one run and each must be caught by its own finding
    res = fig_1_toy.evaluate(_ctx(tmp_path), T=600, run_as={"simultaneous-pd": "finite-step-pd", "opd": "simultaneous-pd",
                                                             "finite-step-pd": "simultaneous-pd"})
    assert all(f.verdict != Verdict.CONFIRMED for f in _finding(res, "OPD converges"))
    assert all(f.verdict != Verdict.CONFIRMED for f in _finding(res, "PD fails to converge: simultaneous"))
    # the sequential caveat run simultaneously: the caveat is no longer observed
    assert all(f.verdict != Verdict.CONFIRMED for f in _finding(res, "caveat: sequential PD"))
    assert res.verdict != Verdict.CONFIRMED


# -------------------------------------------------------------------------------------- alg-1-unification
ALG1_METHODS = ("one-shot", "exact-multi-shot", "finite-step-pd")


def _alg1_saddle_point_finding(ok):
    b = _finding(ok, "one-shot and exact multi-shot")[0]
    assert b.verdict == Verdict.CONFIRMED and b.computed["max_abs_error"] <= 1e-7
    # statements about guarantees are not judged by runs
    g = _finding(ok, "guarantees lacking")[0]
    assert g.verdict == Verdict.INCONCLUSIVE and "not judged" in g.sentence
    # §3's "GDA converges linearly only under SC-SC" is refuted by exact certificates, and leads the summary
    sc = _finding(ok, "GDA converges linearly only under SC-SC")[0]
    assert sc.verdict == Verdict.REFUTED and sc.witness["agrees"] and sc.witness["confirms"]
    assert ok.summary.lstrip("[").startswith("GDA converges linearly only under SC-SC")  # leads the summary
    assert _finding(ok, "without strong convexity in the dual")[0].verdict == Verdict.CONFIRMED
    assert all(c.passed for c in ok.controls) and ok.verdict == Verdict.REFUTED


def test_alg1_saddle_point_finding_and_wrong_lam_star(tmp_path):
    # positive control: the session's quick run (tests/quick_profile_run.py; every method, more instances);
    # negative control: a lam* shifted by 1e-3 on the small configuration
    _alg1_saddle_point_finding(quick_result("alg-1-unification"))
    bad = alg_1_unification.evaluate(_ctx(tmp_path), lam_star_shift=1e-3, methods=ALG1_METHODS, n_inst=1, T=1000)
    assert _finding(bad, "one-shot and exact multi-shot")[0].verdict != Verdict.CONFIRMED


@pytest.mark.slow
def test_alg1_saddle_point_finding_on_the_small_configuration(tmp_path):
    """The positive control at the negative control's own size (three methods, one instance, T = 1000)."""
    _alg1_saddle_point_finding(alg_1_unification.evaluate(_ctx(tmp_path), methods=ALG1_METHODS, n_inst=1, T=1000))


def test_scsc_rule_two_sided():
    """Negative control of the SC-SC finding: on the rule's other side (h_max/(2 eta_lam) = 2 beta) simultaneous
    GDA is certified unstable and does not converge, so no refutation could come from there; on the converging
    side the measured rate equals the certified radius^2."""
    toy = alg_1_unification._scsc_designs([])[0]
    far = alg_1_unification.gda_scsc_case(toy, side="diverging", T=600)
    assert far["cert"].unstable and not far["converged"] and not far["rule h/(2 eta_lam) < beta"]
    near = alg_1_unification.gda_scsc_case(toy, side="converging")
    assert near["cert"].stable and near["converged"] and near["rate_ok"] and near["rule h/(2 eta_lam) < beta"]


# -------------------------------------------------------------------------------------- sec-4-stability
def _sec4_damping_confirmed(on):
    assert _finding(on, "multiplier settles faster, exact")[0].verdict == Verdict.CONFIRMED
    assert all(c.passed for c in on.controls)
    assert on.verdict != Verdict.REFUTED  # a synthetic analogue never refutes the LLM experiment


def test_sec4_optimism_off_loses_the_exact_damping(tmp_path):
    # positive control: the session's quick run (tests/quick_profile_run.py; 20 seeds, T = 300, neural included)
    _sec4_damping_confirmed(quick_result("sec-4-stability"))
    off = sec_4_stability.evaluate(_ctx(tmp_path), opd_optimistic=False, n_seeds=2, T=100, neural=False)
    assert _finding(off, "multiplier settles faster, exact")[0].verdict != Verdict.CONFIRMED


@pytest.mark.slow
def test_sec4_exact_damping_at_the_negative_controls_size(tmp_path):
    """The positive control at the negative control's own size (2 seeds, T = 100, bandit family only)."""
    _sec4_damping_confirmed(sec_4_stability.evaluate(_ctx(tmp_path), n_seeds=2, T=100, neural=False))


def test_settle_time_judge():
    assert sec_4_stability.settle_time(np.array([2.0, 1.5, 1.01, 1.0, 1.0]), 1.0, 0.05) == 2.0
    assert sec_4_stability.settle_time(np.array([1.0, 1.0, 1.5]), 1.0, 0.05) == float("inf")


# -------------------------------------------------------------------------------------- step-size-map
def test_per_mode_radius_equals_the_full_certificate():
    beta = Fraction(1, 10)
    d = step_size_map.rational_design(step_size_map.DESIGN_SEED, X=2, n=3, h=1, beta=beta)
    H = step_size_map.covariance_matrix(d)
    h = Fraction(int(H[0, 0].p), int(H[0, 0].q))
    for et, el in ((Fraction(1, 2), Fraction(3)), (Fraction(3), Fraction(1, 4)), (Fraction(1, 8), Fraction(8))):
        for m in step_size_map.CERTIFIED:
            lo, hi = step_size_map.certified_radius(m, beta, h, et, el)
            full = certify_rate(d, canonical_name(m), et, el, "prox", tol=Fraction(1, 10**5))
            assert abs(float(full.mid) - float((lo + hi) / 2)) < 2e-5, (m, et, el)
            fl = max(float(et / (et + beta)), float(step_size_map.float_mode_radius(
                m, np.array(float(beta / (et + beta))), np.array(float(h / (2 * el * (et + beta)))))))
            assert abs(fl - float((lo + hi) / 2)) < 1e-4


def test_simultaneous_gda_rule_on_a_few_cells():
    beta, h = Fraction(1, 10), Fraction(1, 2)
    for el in (Fraction(1), Fraction(4), Fraction(8)):
        lo, hi = step_size_map.certified_radius("simultaneous-pd", beta, h, Fraction(1), el)
        assert (hi < 1) == (h / (2 * el) < beta)


# one of the full grid's cells that the old rule called a disagreement: sequential GDA, beta = 1/10,
# eta_th = 0.389, eta_lam = 0.207 (exact dyadic grid values), T = 1000 as in the full profile
BISTABLE = (Fraction(1, 10), Fraction(199, 512), Fraction(53, 256), 1000)


def _bistable_cell():
    beta, et, el, T = BISTABLE
    d = step_size_map.rational_design(step_size_map.DESIGN_SEED, X=2, n=3, h=1, beta=beta)
    H = step_size_map.covariance_matrix(d)
    lo, hi = step_size_map.certified_radius("finite-step-pd", beta, Fraction(int(H[0, 0].p), int(H[0, 0].q)), et, el)
    spec = {"beta": str(beta), "method": "finite-step-pd", "eta_th": str(et), "eta_lam": str(el), "T": T,
            "lo": str(lo), "hi": str(hi)}
    return spec, lo, hi


@pytest.mark.slow  # a T = 1000 run, its probe and 50-digit replay; the decision rule's controls run by default below
def test_bistable_cell_is_judged_where_the_certificate_applies():
    """The saddle point is certified attracting, but the run from (pi_ref, 0) is captured by a period-4 orbit
    on which the projection lam = 0 is active: the default run never comes near the saddle point, so it does
    not decide the cell (not a disagreement), and the local probe converges at the certified rate (the certificate is right locally)."""
    spec, lo, hi = _bistable_cell()
    assert step_size_map.expectation(lo, hi, spec["T"]) == "stable"
    final_ratio, _, min_error, final_error = step_size_map.run_row({**spec, "eta_lams": [spec["eta_lam"]]}, 0)[0]
    assert final_ratio > 1e-2  # the default run does not converge (e_T/e_0 = 0.197 measured)
    assert step_size_map.judge_default_run("stable", final_ratio, min_error, final_error) == "undecided"
    r = step_size_map.probe_cell(spec, 0)
    assert r["period"] == 4 and r["projected_steps"] > 0 and r["lam_min"] == 0.0 and not r["reaches_saddle"]
    assert r["probe_converged"] and r["probe_rate_ok"] and r["agrees_locally"], r
    assert r["replay_agrees"] and r["replay_projected_steps"] > 0  # the orbit survives a 50-digit replay


def test_orbit_replay_matches_the_driver_and_tells_orderings_apart():
    from opdcheck.numerics.replay.orbit import replay_multipliers

    beta, et, el, _ = BISTABLE
    p, sad, _ = step_size_map.instance(beta)
    for m, K in (("finite-step-pd", None), ("simultaneous-pd", None), ("opd", None), ("multi-shot", 5)):
        tr = run_config(m, p, eta_th=float(et), eta_lam=float(el), T=40, dual_step="prox", saddle=sad, keep_every=1, K=K)
        lam = np.array([l[0] for _, _, l in tr.iterates])
        rep = np.array([float(v[0]) for v in replay_multipliers(p, m, float(et), float(el), 40, K=K or 1)])
        assert np.max(np.abs(rep - lam)) < 1e-12, m
    other = np.array([float(v[0]) for v in replay_multipliers(p, "simultaneous-pd", float(et), float(el), 40)])
    tr = run_config("finite-step-pd", p, eta_th=float(et), eta_lam=float(el), T=40, dual_step="prox", saddle=sad, keep_every=1)
    assert np.max(np.abs(other - np.array([l[0] for _, _, l in tr.iterates]))) > 1e-3  # a swapped ordering is caught


def test_local_probe_catches_wrong_certificates():
    """Negative controls of the decision rule: a stable certificate handed to the method that is unstable at
    that cell, or a wrong rate, is a disagreement; so is a run that entered the linear regime and stalled,
    or a certified-unstable cell that converged."""
    spec, lo, hi = _bistable_cell()
    # agrees_locally is decided by the probe from near the saddle point, whose length is set by the certificate
    # (probe_steps(hi)), not by T: a short described run (T = 100 instead of 1000, 10x less 50-digit replay)
    spec = {**spec, "T": 100}
    assert not step_size_map.probe_cell({**spec, "method": "simultaneous-pd"}, 0)["agrees_locally"]
    assert not step_size_map.probe_cell({**spec, "lo": "1/2", "hi": "1/2"}, 0)["agrees_locally"]
    assert step_size_map.probe_cell(spec, 0)["agrees_locally"]  # positive control at the same T: the right certificate
    assert step_size_map.judge_default_run("stable", 0.5, 1e-12, 1e-2) == "disagree"  # entered, then left
    assert step_size_map.judge_default_run("stable", 1e-5, 1e-9, 1e-9) == "undecided"  # came in late, still inside
    assert step_size_map.judge_default_run("unstable", 1e-9, 1e-15, 1e-15) == "disagree"
    assert step_size_map.judge_default_run("unstable", 3.0, 1.0, 3.0) == "agree"
    assert step_size_map.judge_default_run("stable", 1e-9, 1e-15, 1e-15) == "agree"


def test_step_size_map_quick_profile():
    res = quick_result("step-size-map")  # the session's quick run (tests/quick_profile_run.py)
    assert _finding(res, "maps agree")[0].verdict == Verdict.CONFIRMED
    assert _finding(res, "simultaneous GDA needs")[0].verdict == Verdict.CONFIRMED
    assert _finding(res, "optimism needed at beta = 0")[0].verdict == Verdict.CONFIRMED


def test_alg1_quick_profile():
    res = quick_result("alg-1-unification")
    assert res.verdict == Verdict.REFUTED and not res.downgrades


def test_checks_are_registered_with_docstrings():
    for cid in ("fig-1-toy", "alg-1-unification", "sec-4-stability", "step-size-map"):
        chk = get_check(cid)
        assert cid in chk.doc and "Claim" in chk.doc or "claim" in chk.doc


def test_alg1_configurations_are_distinct(tmp_path, monkeypatch):
    """Positive control: every named configuration of the quick run behaves differently. Negative: a multi-shot
    whose K fell to 1 is finite-step PD under another name, and the check's control says so."""
    import dataclasses

    from opdcheck import methods

    ctl = "the named configurations are distinct (no two give bit-identical runs)"
    assert [c.passed for c in quick_result("alg-1-unification").controls if c.name == ctl] == [True]
    ok = alg_1_unification.evaluate(_ctx(tmp_path / "ok"), methods=("finite-step-pd", "multi-shot"), n_inst=1, T=50)
    assert [c.passed for c in ok.controls if c.name == ctl] == [True]
    k1 = dataclasses.replace(methods.METHODS["multi-shot"], K=1)
    monkeypatch.setitem(methods._BY_NAME, "multi-shot", k1)
    monkeypatch.setitem(methods.METHODS, "multi-shot", k1)
    bad = alg_1_unification.evaluate(_ctx(tmp_path / "bad"), methods=("finite-step-pd", "multi-shot"), n_inst=1, T=50)
    failed = [c for c in bad.controls if c.name == ctl and not c.passed]
    assert failed and "finite-step-pd = multi-shot" in failed[0].detail
    assert bad.verdict == Verdict.INCONCLUSIVE
