"""Item 3 of the symbolic audit: the constants of Thm 3.4, with negative controls and a numeric cross-check."""
import math

import numpy as np
import pytest
import sympy as sp

from opdcheck.instances import paper_toy, random_instance
from opdcheck.paper_checks.checks import thm_3_4_constants as chk
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import Verdict
from opdcheck.theory import lemmas as lm
from opdcheck.theory import thm34_constants as tc
from opdcheck.tolerances import THM34_CROSSCHECK_RTOL
from quick_profile_run import quick_result

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")

s = sp.sqrt(tc.H) * tc.R


def test_requirements_hold_on_whole_range():
    req = tc.requirements_hold_on_range()
    assert len(req) == 13 and all(v["proved_positive"] for v in req.values())


def test_positivity_prover_negative_controls():
    # delta - 3/4 changes sign on (1/2, 1): must not be "proved"
    assert not tc.positive_by_substitution(tc.DELTA - sp.Rational(3, 4))[0]
    # eta_th - C1 at a wrong choice eta_th = C1 is zero, not positive
    e = tc.rhs_multipliers()[4].subs({tc.ETA_TH: s, tc.C1: s})
    assert not tc.positive_by_substitution(sp.simplify(e))[0]
    assert tc.positive_by_substitution(1 - tc.DELTA)[0]


def test_reduces_to_eq46_and_eq47():
    r46 = tc.reduce_to_eq46()
    assert r46["equal"] and r46["difference"] == 0
    assert r46["terms"][2] == sp.Rational(50, 63) and r46["terms"][3] == sp.Rational(6, 11)
    r47 = tc.reduce_to_eq47()
    assert r47["equal"] and r47["difference"] == 0


def test_mutated_constants_flip_the_reduction():
    b = tc.BETA
    mutated_4963 = sp.Max(3 * s / (3 * s + b), s / (2 * s + b), sp.Rational(49, 63))
    assert not tc.reduce_to_eq46(mutated_4963)["equal"]
    dropped_beta = sp.Max(3 * s / (3 * s), s / (2 * s + b), sp.Rational(50, 63))
    assert not tc.reduce_to_eq46(dropped_beta)["equal"]
    phi_dropped_beta = tc.paper_phi1_eq47() - b * tc.KL1
    assert not tc.reduce_to_eq47(phi_dropped_beta)["equal"]
    phi_wrong = tc.paper_phi1_eq47() + sp.Rational(1, 6) * s * tc.LAMDIFF1      # 11/6 -> 2
    assert not tc.reduce_to_eq47(phi_wrong)["equal"]
    a = tc.audit_thm34(rho46=mutated_4963)
    assert a["requirements_hold_on_range"] and not a["rho_reduces_to_eq46"]


def test_denominator_delta_and_difference_condition():
    dd = tc.delta_of_denominator()
    assert dd["delta_solutions"] == [sp.Rational(1, 4)] and dd["in_allowed_range"] == [False]
    assert sp.simplify(dd["a3_at_delta_3_4"] - (sp.Rational(5, 4) * tc.ETA_LAM - s / 4)) == 0
    cond = tc.denominator_difference_condition()
    assert cond["beta_over_sqrt_h_R_where_they_differ"] == sp.Interval.open(sp.Rational(1, 2), sp.oo)
    # with the proof's own denominator there is no difference
    fixed = sp.Min(tc.ETA_TH + tc.BETA, sp.Rational(5, 4) * tc.ETA_LAM - s / 4)
    assert tc.denominator_difference_condition(fixed)["beta_over_sqrt_h_R_where_they_differ"] == sp.S.EmptySet


def test_max_division_invalid_min_valid():
    w = tc.max_vs_min_witness()
    assert not w["max_division_valid"]
    assert sp.simplify(w["potential_part"] - w["min_times_distance"]) == 0


def test_lemma_b4_route_cannot_give_rho3_below_one():
    r3 = tc.rate_term3_when_lemma_b4_valid()
    assert r3["nonnegative"]


def test_audit_verdicts_flip():
    a = tc.audit_thm34()
    assert a["verdict"] == "INCONSISTENT"
    assert not a["stated_denominator_in_range"] and not a["final_division_uses_min"]
    fixed = sp.Min(tc.ETA_TH + tc.BETA, sp.Rational(5, 4) * tc.ETA_LAM - s / 4)
    assert tc.audit_thm34(stated_denominator=fixed, final_division=sp.Min)["verdict"] == "CONFIRMED"
    # fixing only one of the two is not enough
    assert tc.audit_thm34(stated_denominator=fixed)["verdict"] == "INCONSISTENT"


def test_check_runs_and_flips(tmp_path):
    ctx = CheckContext(out_dir=tmp_path)
    r = quick_result(chk.ID)  # the session's quick run (tests/quick_profile_run.py): the same run with the same context
    assert r.verdict is Verdict.INCONSISTENT
    assert "Corrected statement" in r.details and "$$" in r.details
    by_name = {f.name: f.verdict for f in r.findings}
    assert by_name == {"positivity requirements on (1/2,1)^2": Verdict.CONFIRMED, "eq. (46) reproduces": Verdict.CONFIRMED,
                       "eq. (47) reproduces": Verdict.CONFIRMED, "theorem's denominator": Verdict.INCONSISTENT,
                       "max vs min in the final division": Verdict.INCONSISTENT,
                       "Lemma B.4's use at delta = theta = 3/4": Verdict.INCONSISTENT}
    assert all(c.passed for c in r.controls)
    fixed = sp.Min(tc.ETA_TH + tc.BETA, sp.Rational(5, 4) * tc.ETA_LAM - s / 4)
    valid_b4 = lambda d, t: lm.b4_coefficients(d + 1, t)  # noqa: E731  (a Lemma B.4 true at 3/4)
    # fixing the denominator and the division leaves the Lemma B.4 finding: still INCONSISTENT
    part = chk.evaluate(ctx, stated_denominator=fixed, final_division=sp.Min)
    assert part.verdict is Verdict.INCONSISTENT
    assert [f.name for f in part.findings if f.verdict is not Verdict.CONFIRMED] == ["Lemma B.4's use at delta = theta = 3/4"]
    assert chk.evaluate(ctx, stated_denominator=fixed, final_division=sp.Min, b4_coeffs=valid_b4).verdict is Verdict.CONFIRMED
    assert chk.evaluate(ctx, rho46=sp.Max(3 * s / (3 * s + tc.BETA), s / (2 * s + tc.BETA), sp.Rational(49, 63)),
                        stated_denominator=fixed, final_division=sp.Min, b4_coeffs=valid_b4).verdict is Verdict.INCONSISTENT


# ---------------------------------------------------------------------- cross-check with kernels
potential = pytest.importorskip("opdcheck.kernels.potential",
                                reason="opdcheck.kernels.potential (numeric thm34_constants) not available yet")


@pytest.mark.parametrize("problem,steps", [
    (paper_toy(), None), (random_instance(3, 4, 2, 0.1, seed=2), None), (random_instance(2, 3, 3, 2.0, seed=3), None),
    (random_instance(2, 3, 2, 0.05, seed=4), (5.0, 4.0)),
])
def test_sympy_constants_match_numeric_kernel(problem, steps):
    h, R, beta = problem.h, problem.R_max, problem.beta
    eta_th, eta_lam = steps if steps else (3 * math.sqrt(h) * R, 3 * math.sqrt(h) * R)
    num = potential.thm34_constants(problem, eta_th, eta_lam)
    Cs = math.sqrt(h) * R
    sub = {tc.ETA_TH: eta_th, tc.ETA_LAM: eta_lam, tc.BETA: beta, tc.H: h, tc.R: R, tc.C: Cs, tc.C1: Cs, tc.C2: Cs,
           tc.DELTA: 0.75, tc.THETA: 0.75}
    a = [float(e.subs(sub)) for e in tc.lhs_multipliers()]
    b = [float(e.subs(sub)) for e in tc.rhs_multipliers()[:4]]
    np.testing.assert_allclose(a, num["a"], rtol=THM34_CROSSCHECK_RTOL)
    np.testing.assert_allclose(b, num["b"], rtol=THM34_CROSSCHECK_RTOL)
    np.testing.assert_allclose(float(tc.theorem_denominator().subs(sub)), num["denom_theorem"], rtol=THM34_CROSSCHECK_RTOL)
    np.testing.assert_allclose(float(tc.proof_denominator(0.75).subs(sub)), num["denom_proof_min"], rtol=THM34_CROSSCHECK_RTOL)
    if steps is None:   # eq. (46) is only valid at the theorem's choice
        f46 = sp.lambdify((tc.H, tc.R, tc.BETA), tc.paper_rho_eq46())
        np.testing.assert_allclose(f46(h, R, beta), num["rho_eq46"], rtol=THM34_CROSSCHECK_RTOL)
        np.testing.assert_allclose(float(tc.general_rho().subs(sub)), num["rho"], rtol=THM34_CROSSCHECK_RTOL)
        metrics = {k: np.array([0.0, v]) for k, v in
                   (("kl_star", 0.3), ("kl_hat_pred", 0.02), ("lam_err2", 0.7), ("lam_hat_pred2", 0.05))}
        f47 = sp.lambdify((tc.H, tc.R, tc.BETA, tc.KL1, tc.KL2, tc.LAM1, tc.LAMDIFF1), tc.paper_phi1_eq47())
        np.testing.assert_allclose(f47(h, R, beta, 0.3, 0.02, 0.7, 0.05), potential.phi1_eq47(problem, metrics),
                                   rtol=THM34_CROSSCHECK_RTOL)
        np.testing.assert_allclose(f47(h, R, beta, 0.3, 0.02, 0.7, 0.05),
                                   potential.phi1_general(metrics, num), rtol=THM34_CROSSCHECK_RTOL)
