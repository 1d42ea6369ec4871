"""Thm 3.4 quantities and checks (thm-3.4, thm-3.4-lyapunov, thm-3.4-rate), with negative controls."""
from __future__ import annotations

import math

import numpy as np
import pytest

from opdcheck.instances import load_problem, paper_toy, random_instance
from opdcheck.kernels.opd import run_opd, thm34_step_sizes
from opdcheck.kernels.potential import (phi1_eq47, phi1_general, potential, rho_eq46, thm34_bound,
                                        thm34_constants)
from opdcheck.kernels.trajectory import judge_bound
from opdcheck.numerics.saddle import solve_saddle
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import Verdict
from opdcheck.paper_checks.studies.thm34 import thm34_case
from opdcheck.paper_checks.checks.thm_3_4_lyapunov import lyapunov_case
from opdcheck.paper_checks.studies.thm34_rate import judge_rate, rate_case
from opdcheck.problem import Problem

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


@pytest.mark.parametrize("h,beta", [(1, 0.05), (4, 0.3), (2, 2.0)])
def test_constants_reduce_to_eqs_46_47(h, beta):
    p = random_instance(3, 4, h, beta, seed=11)
    e = thm34_step_sizes(p)
    C = math.sqrt(p.h) * p.R_max
    np.testing.assert_allclose(e, (3 * C, 3 * C), rtol=1e-15)
    k = thm34_constants(p, *e)
    np.testing.assert_allclose(k["a"], [3 * C + beta, 2 * C + beta, 3.5 * C, 11 / 6 * C], rtol=1e-14)
    np.testing.assert_allclose(k["ratios"], [3 * C / (3 * C + beta), C / (2 * C + beta), 50 / 63, 6 / 11], rtol=1e-14)
    assert k["rho"] == pytest.approx(rho_eq46(p), rel=1e-14) and k["all_positive"]
    assert k["denom_theorem"] == pytest.approx(min(3 * C + beta, 4.5 * C))
    assert k["denom_proof_min"] == pytest.approx(min(3 * C + beta, 3.5 * C))
    assert k["denom_proof_max_printed"] == pytest.approx(max(3 * C + beta, 3.5 * C))
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=5)
    assert phi1_eq47(p, tr.metrics) == pytest.approx(phi1_general(tr.metrics, k), rel=1e-13)
    np.testing.assert_allclose(potential(tr.metrics, k), tr.potential, rtol=1e-14)
    b = thm34_bound(4, 0.5, 2.0, 4.0)
    np.testing.assert_allclose(b, [1.0, 0.5, 0.25, 0.125])


def test_potential_dominates_error_with_min_denominator():
    """Phi_t >= min(a1, a3) * error_t (the valid final division) on a real trajectory."""
    p = random_instance(5, 4, 2, 1.5, seed=3)
    e = thm34_step_sizes(p)
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=100)
    k = thm34_constants(p, *e)
    assert np.all(tr.potential >= k["denom_proof_min"] * tr.error * (1 - 1e-12))


def test_thm34_holds_on_toy_and_judge_is_two_sided():
    c = thm34_case(paper_toy(), dual_step="prox", T=1500)
    ok, worst, _ = c["judge"]["denom_theorem"]
    assert ok and worst < 1
    # the same judge, fed a bound 10x too small, reports it broken
    err = c["traj"].error[1:]
    assert not judge_bound(err, c["bounds"]["denom_theorem"][1:] / 10, 1e-9)[0]


def test_negative_control_printed_closed_form():
    """closed_form="printed" (exp(S_lam) without 1/(eta+beta)) converges to the wrong point; the
    thm-3.4 judging function reports the bound broken (also on the toy, where the limit happens to coincide)."""
    p = random_instance(4, 3, 1, 0.2, seed=2)
    sp = solve_saddle(p)
    bad = thm34_case(p, T=1500, saddle=sp, closed_form="printed")
    assert not bad["judge"]["denom_theorem"][0]
    tr = bad["traj"]
    assert tr.error[-1] > 1e-3 and abs(tr.error[-1] - tr.error[-2]) < 1e-12  # a wrong fixed point
    assert not thm34_case(paper_toy(), T=1500, closed_form="printed")["judge"]["denom_theorem"][0]


def test_lyapunov_negative_control_false_rho():
    """On the toy, with rho = the largest measured one-step ratio Phi_{t+1}/Phi_t the judge passes;
    with a smaller (false) rho it must fail."""
    c = lyapunov_case(paper_toy(), T=600)
    phi = c["phi"]
    keep = phi[1:-1] > 1e-12 * phi[1]
    q = float(np.max((phi[2:] / phi[1:-1])[keep]))
    assert lyapunov_case(paper_toy(), T=600, rho=q)["ok"]
    bad = lyapunov_case(paper_toy(), T=600, rho=0.99 * q)
    assert not bad["ok"] and bad["worst_ratio"] > 1
    # measured finding on the toy: the proof's rho is not a one-step contraction factor of Phi_t
    assert c["worst_ratio"] > 1.0


def test_rate_judge_and_toy_rate():
    assert judge_rate(0.5, 0.8) and not judge_rate(0.99, 0.8)
    assert judge_rate(0.8015, 0.8, spread=0.002) and not judge_rate(0.8015, 0.8, spread=0.0)
    assert judge_rate(float("nan"), 0.8)
    c = rate_case(paper_toy(), T=3000)
    assert c["ok"] and c["rate"] < c["rho"]
    big = rate_case(random_instance(3, 4, 1, 2.0, seed=1), T=1500)   # beta large: the dual is flat
    assert not big["ok"] and big["rate"] > big["rho"] + 0.05


def _quick(check_id):
    from quick_profile_run import quick_results

    out, results = quick_results()
    res = results[check_id]
    if isinstance(res, Exception):
        raise res
    return out, res


def _assert_witnessed_refutation(res):
    """REFUTED, earned: an independent replay that confirms and agrees, every control passed, cases judged."""
    assert res.verdict == Verdict.REFUTED, res.summary
    w = res.witness
    assert w["replayed"] and w["confirms"] and w["agrees"], w
    assert res.controls and all(c.passed for c in res.controls), [c for c in res.controls if not c.passed]
    assert any(c.kind == "positive" for c in res.controls)
    assert res.judged and res.judged > 0 and not res.downgrades


def test_check_thm34_quick_and_counterexample_reproduces():
    from opdcheck.paper_checks.checks import thm_3_4

    out, res = _quick("thm-3.4")
    assert res.stated is not None and res.evidence and res.figures
    _assert_witnessed_refutation(res)
    for f in res.figures:
        assert (out / f).exists()
    # the summary leads with the substantive failure: the toy at beta = 1 violates the bound with the proof's own
    # denominator from t = 2 on (certified r^2 = 0.92443 > 50/63), replayed; the t = 1 typo case comes second
    assert res.summary.startswith("[bound fails with the proof's own denominator: REFUTED")  # then its reading tag
    w = res.witness
    assert w["instance"] == "paper-toy (beta = 1)" and w["t"] == 2 and w["denominator"] == "denom_proof_min"
    assert w["certified r^2"][0] > 50 / 63 and abs(w["certified r^2"][0] - 0.92443) < 1e-4
    typo = [f for f in res.findings if f.severity == "typo"]
    assert res.findings[1] is typo[0] and typo[0].witness["t"] == 1 and typo[0].witness["agrees"]
    assert {f.reading for f in res.findings} >= {"existential (steps chosen from h, R_max, beta)", "printed-closed-form"}
    assert "thm-3.4-counterexample.png" in res.figures[0] and "by hand" in res.details
    assert w["error (code)"] == pytest.approx(w["error (replay)"], rel=1e-12)
    assert w["bound (code)"] == pytest.approx(w["bound (replay)"], rel=1e-12)
    assert "Independent replay" in res.details
    ce = load_problem(out / res.counterexample)
    again = thm_3_4.run(CheckContext(profile="quick", seed=0, out_dir=out / "again", instance=ce))
    assert again.verdict == Verdict.REFUTED and again.witness["agrees"]


@pytest.mark.parametrize("check_id", ["thm-3.4-lyapunov", "thm-3.4-rate"])
def test_other_checks_quick(check_id):
    out, res = _quick(check_id)
    assert res.evidence and res.summary
    _assert_witnessed_refutation(res)
    assert (out / res.counterexample).exists()
    if check_id == "thm-3.4-rate":  # the exact part: certificates on the rational family, with measurements
        cert = [r for r in res.evidence if r.get("kind") == "certified (exact)"]
        assert len(cert) == 14 and all(r["measured agrees"] for r in cert)
        toy1 = next(r for r in cert if r["instance"] == "paper-toy(beta=1)" and r["dual step"] == "prox")
        assert toy1["verdict"] == "certified-above" and toy1["rho (46)"].startswith("50/63")
        assert res.computed["certified above rho(46) (prox, measured agrees)"] >= 1
        assert abs(res.witness["rate (code)"] - res.witness["rate (replay)"]) < 1e-6


def test_duplicated_constraint_is_never_judged(tmp_path):
    """The toy with its constraint duplicated: lam* is not unique (any split of 1 between the copies),
    the instance is degenerate, nothing is judged, so thm-3.4 must say INCONCLUSIVE (not CONFIRMED)."""
    from opdcheck.paper_checks.checks import thm_3_4
    from opdcheck.problem import Problem

    toy = paper_toy()
    dup = Problem(rho=toy.rho, pi_ref=toy.pi_ref, R_soft=toy.R_soft, w=toy.w,
                  R_hard=np.concatenate([toy.R_hard, toy.R_hard]), beta=toy.beta, name="paper-toy-duplicated")
    res = thm_3_4.run(CheckContext(profile="quick", seed=0, out_dir=tmp_path, instance=dup))
    assert res.judged == 0
    assert res.verdict == Verdict.INCONCLUSIVE
    assert "degenerate" in res.summary


def test_degenerate_multiplier_is_detected():
    """Two tight constraints on one prompt with two responses (the toy's constraint duplicated; xi = 0.3):
    the dual Hessian has rank 1, lam* is not unique, and the instance must be set apart (negative
    control of the degeneracy filter)."""
    from opdcheck.paper_checks.studies.thm34 import multiplier_curvature

    toy = paper_toy()
    p = Problem(rho=toy.rho, pi_ref=toy.pi_ref, R_soft=toy.R_soft, w=toy.w,
                R_hard=np.concatenate([toy.R_hard, toy.R_hard]), beta=toy.beta, name="paper-toy-duplicated")
    sp = solve_saddle(p)
    kappa, degen = multiplier_curvature(p, sp)
    assert degen and kappa < 1e-10
    assert not multiplier_curvature(paper_toy(), solve_saddle(paper_toy()))[1]


def test_adversarial_search_is_deterministic_and_finds_a_violation(monkeypatch):
    """The full profile's search runs through ctx.map in rounds: the same seed gives the same worst instance."""
    from opdcheck.paper_checks.checks import thm_3_4

    monkeypatch.setattr(thm_3_4, "SEARCH_ROUND", 5)
    monkeypatch.setattr(thm_3_4, "SEARCH_T", 200)
    a = thm_3_4._search_worst(CheckContext(profile="full", seed=1), 10)
    b = thm_3_4._search_worst(CheckContext(profile="full", seed=1), 10)
    assert a[0].name == b[0].name and a[1] == b[1] and a[2] == b[2]
    assert a[1] > 0  # log10 max error/bound > 0: a violation of the printed bound
