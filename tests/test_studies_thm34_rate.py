"""Exact part of thm-3.4-rate: Schur–Cohn certificate of OPD's asymptotic rate vs rho of eq. (46)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from opdcheck.instances import paper_toy
from opdcheck.kernels.opd import run_opd
from opdcheck.kernels.potential import rho_eq46
from opdcheck.paper_checks.result import Verdict
from opdcheck.paper_checks.studies.thm34_rate import (TOY_R_SOFT, _exact_saddle, certified_crossing, certified_family,
                                                certified_rate_vs_eq46, judge_certified, large_beta_limit,
                                                measured_agrees, overall_verdict, rate_case, rho_eq46_exact,
                                                toy_design)
from opdcheck.theory.linearization import inverse_design_rational


@pytest.mark.parametrize("beta", ["1/20", "1/5", "1", "2"])
def test_toy_design_is_the_paper_toy(beta):
    d = toy_design(beta)
    p, q = d.problem, paper_toy(float(Fraction(beta)))
    for f in ("rho", "R_soft", "w", "R_hard"):
        np.testing.assert_array_equal(getattr(p, f), getattr(q, f))
    np.testing.assert_allclose(p.pi_ref, q.pi_ref, rtol=0, atol=1e-15)
    assert p.beta == q.beta and d.active == (0,)
    r = certified_rate_vs_eq46(d, "prox", R_soft=TOY_R_SOFT)
    assert r["R_max"] == 1 and r["eta"] == 3
    assert float(r["rho46"]) == pytest.approx(rho_eq46(q), rel=1e-15)


def test_rho_eq46_exact_terms():
    assert rho_eq46_exact(1, Fraction(1, 20)) == (Fraction(60, 61), "3s/(3s+beta)")
    assert rho_eq46_exact(1, 1) == (Fraction(50, 63), "50/63")
    with pytest.raises(ValueError, match="beta"):
        rho_eq46_exact(1, 0)


def _measured(design, conv, T=4000):
    """The numeric tail rate of the same float instance (numpy reference kernel: no JIT compile)."""
    return rate_case(design.problem, dual_step=conv, T=T, saddle=_exact_saddle(design), runner=run_opd)


@pytest.mark.parametrize("conv", ["prox", "gradient"])
def test_toy_beta1_certified_above_and_measured_agrees(conv):
    d = toy_design("1")
    r = certified_rate_vs_eq46(d, conv, R_soft=TOY_R_SOFT)
    assert r["rho46"] == Fraction(50, 63) and r["verdict"] == "certified-above"
    assert r["rate_lo"] > Fraction(50, 63) and r["radius_hi"] - r["radius_lo"] <= Fraction(1, 10**6)
    assert r["rate_lo"] == r["radius_lo"] ** 2
    c = _measured(d, conv)
    assert measured_agrees(c["rate"], r["rate_lo"], r["rate_hi"], c["fit"]["spread"])
    assert abs(c["rate"] - float(r["rate_lo"])) < 1e-4
    assert not c["ok"]  # the numeric criterion of the check fails on the same instance


@pytest.mark.parametrize("conv", ["prox", "gradient"])
def test_negative_control_toy_small_beta_certified_below(conv):
    """At beta = 1/20 (the paper's toy) the theorem's rate holds asymptotically: the certificate must
    come out below rho(46) = 60/61, agreeing with the measurement, and the verdict must not refute."""
    d = toy_design("1/20")
    r = certified_rate_vs_eq46(d, conv, R_soft=TOY_R_SOFT)
    assert r["rho46"] == Fraction(60, 61) and r["verdict"] == "certified-below" and r["rate_hi"] < r["rho46"]
    c = _measured(d, conv)
    assert c["ok"] and measured_agrees(c["rate"], r["rate_lo"], r["rate_hi"], c["fit"]["spread"])
    r["agrees"] = True
    assert overall_verdict(0, [r]) == (Verdict.CONFIRMED, [])


def test_wrong_claimed_rho_flips_the_row_verdict():
    d = toy_design("1")
    r = certified_rate_vs_eq46(d, "prox", R_soft=TOY_R_SOFT)
    assert r["verdict"] == "certified-above"
    big = certified_rate_vs_eq46(d, "prox", R_soft=TOY_R_SOFT, rho_claim="99/100")
    assert big["verdict"] == "certified-below" and big["rho46"] == Fraction(50, 63)
    inside = (r["rate_lo"] + r["rate_hi"]) / 2
    assert certified_rate_vs_eq46(d, "prox", R_soft=TOY_R_SOFT, rho_claim=inside)["verdict"] == "undecided"
    # and the check's verdict follows: the true rho refutes, the (false) larger one does not
    r["agrees"] = big["agrees"] = True
    assert overall_verdict(0, [r])[0] is Verdict.REFUTED
    assert overall_verdict(0, [big])[0] is Verdict.CONFIRMED


def test_judges_are_two_sided():
    F = Fraction
    assert judge_certified(F(9, 10), F(91, 100), F(1, 2)) == "certified-above"
    assert judge_certified(F(1, 10), F(2, 10), F(1, 2)) == "certified-below"
    assert judge_certified(F(4, 10), F(6, 10), F(1, 2)) == "undecided"
    assert measured_agrees(0.5005, F(1, 2), F(1, 2)) and not measured_agrees(0.51, F(1, 2), F(1, 2))
    assert measured_agrees(0.51, F(1, 2), F(1, 2), spread=0.02) and not measured_agrees(float("nan"), F(0), F(1))
    row = {"dual_step": "prox", "verdict": "certified-above", "agrees": False}
    assert overall_verdict(0, [row])[0] is Verdict.CONFIRMED  # a certificate the measurement contradicts
    assert overall_verdict(0, [dict(row, dual_step="gradient", agrees=True)])[0] is Verdict.CONFIRMED
    assert overall_verdict(3, [])[0] is Verdict.REFUTED


def test_family_certificates_are_fast_and_cover_both_sides():
    verdicts = set()
    for d, R in certified_family():
        assert d.h in (1, 4)
        for conv in ("prox", "gradient"):
            r = certified_rate_vs_eq46(d, conv, R_soft=R)
            assert r["radius_lo"] < r["radius_hi"] < 1
            verdicts.add(r["verdict"])
    assert verdicts == {"certified-above", "certified-below"}


def test_bad_inputs_name_the_field():
    d2 = inverse_design_rational([["1/2", "1/2"]], ["1", "1"], [[["1", "0"]], [["0", "1"]]], "1")
    with pytest.raises(ValueError, match="h = 2"):
        certified_rate_vs_eq46(d2, "prox")
    with pytest.raises(ValueError, match="R_soft"):
        certified_rate_vs_eq46(toy_design("1"), "prox", R_soft=[[["1", "1/3"]]])
    with pytest.raises(ValueError, match="dual_step"):
        certified_rate_vs_eq46(toy_design("1"), "mirror")
    # without R_soft the toy's decimal data are recovered exactly
    assert certified_rate_vs_eq46(toy_design("1"), "prox")["R_max"] == 1


def test_large_beta_limit_symbolic_and_numeric():
    lim = large_beta_limit()
    mu, kap, hj = sp.Symbol("mu"), sp.Symbol("kappa", positive=True), sp.Symbol("h_j", positive=True)
    assert sp.simplify(sp.sympify(lim["limit_mode_polynomial"]) - mu**3 * (mu - 1)) == 0
    assert sp.simplify(lim["m1"] + kap * hj) == 0 and lim["rho46_limit"] == sp.Rational(50, 63)
    # the certified radius on the toy follows 1 - kappa h/beta (prox: kappa = 1/(2*3), h = 21/100)
    r = certified_rate_vs_eq46(toy_design("20"), "prox", R_soft=TOY_R_SOFT)
    assert abs(float(r["radius_lo"]) - (1 - 0.21 / 6 / 20)) < 1e-5 and r["verdict"] == "certified-above"


def test_crossing_bracket_is_certified_on_both_ends():
    br = certified_crossing("prox", steps=4)["bracket"]
    assert br is not None and br[0] < br[1]
    assert certified_rate_vs_eq46(toy_design(br[0]), "prox", R_soft=TOY_R_SOFT)["verdict"] == "certified-below"
    assert certified_rate_vs_eq46(toy_design(br[1]), "prox", R_soft=TOY_R_SOFT)["verdict"] == "certified-above"
