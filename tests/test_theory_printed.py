"""theory/printed.py: the paper's printed formulas, parsed from its LaTeX, equal the hand transcriptions.

Each printed formula is parsed mechanically (sympy's LaTeX parser) and compared with the hand transcription in
theory/; a planted typo on either side must make the comparison fail (negative controls).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from opdcheck.theory import alg3, closed_forms as cf, printed as P, thm34_constants as k


@pytest.mark.parametrize("name", sorted(P.hand_transcriptions()))
def test_printed_latex_equals_hand_transcription(name):
    assert P.same(P.comparable(name), P.hand_transcriptions()[name]), (name, P.comparable(name))


def test_every_formula_parses_with_known_symbols_only():
    for name in P.FORMULAS:
        expr = P.parse(name)
        assert isinstance(expr, sp.Expr) and expr.free_symbols, name


def test_a_truncated_parse_is_an_error_not_a_silent_pass():
    with pytest.raises(P.PrintedFormulaError, match="no hand-transcription counterpart"):
        P.parse("thm34_denominator", r"\min\left(\eta_{\theta}+\beta,\frac{7}{4}\eta_{\lambda}-Q\right)")
    with pytest.raises(P.PrintedFormulaError, match="unknown"):
        P.parse("eq-99")


# ------------------------------------------------------------------------------ negative controls: typos
@pytest.mark.parametrize("name, typo", [
    # eq. (4) transcribed as the derived closed form (exp(S/(eta+beta)) instead of the printed exp(S))
    ("closed_form_eq4", r"\hat{\pi}_{t}(y|x)^{\frac{\eta_{\theta}}{\eta_{\theta}+\beta}}\pi_{\mathrm{ref}}(y|x)^{\frac{"
                        r"\beta}{\eta_{\theta}+\beta}}\exp\left(\frac{S_{\lambda_{t-1}}(x,y)}{\eta_{\theta}+\beta}\right)"),
    # eq. (28) without the square root
    ("gap_eq28", r"=\left(g_{\max}+(\eta+\beta)\log\frac{1}{p_{\min}}\right)\frac{2C\epsilon_{\text{approx}}}{p_{\min}}"
                 r"+(\eta+\beta)\left(1+\frac{1}{p_{\min}}\right)\frac{C\epsilon_{\text{approx}}}{p_{\min}}"),
    # eq. (46) with 50/64
    ("rho_eq46", r"\rho=\max\left(\frac{3\sqrt{\mathcal{H}}R_{\max}}{3\sqrt{\mathcal{H}}R_{\max}+\beta},\frac{\sqrt{"
                 r"\mathcal{H}}R_{\max}}{2\sqrt{\mathcal{H}}R_{\max}+\beta},\frac{50}{64}\right)"),
    # Thm 3.4's denominator with the proof's 5/4, 1/4 instead of the printed 7/4, 3/4
    ("thm34_denominator", r"\min\left(\eta_{\theta}+\beta,\frac{5}{4}\eta_{\lambda}-\frac{1}{4}\sqrt{|\mathcal{H}|}R_{\max}\right)"),
    # Lemma B.4 with (1 - theta) where (1 - 1/theta) is printed
    ("lemma_b4_rhs", r"(1-\delta)\|\mathbf{a}\|^{2}+(1-\frac{1}{\delta})(1-\theta)\|\mathbf{b}\|^{2}+(1-\frac{1}{\delta})"
                     r"(1-\theta)\|\mathbf{c}\|^{2}"),
    # eq. (9) with the prox step 1/(2 eta_lambda)
    ("dual_step_eq9", r"\hat{\lambda}_{t}-\frac{1}{2\eta_{\lambda}}\mathbb{E}_{x\sim\mathcal{D},\,y\sim\pi_{\theta_{t-1}}"
                      r"(\cdot|x)}\left[R(x,y)\right]"),
])
def test_a_planted_typo_in_the_latex_fails_the_comparison(name, typo):
    wrong = P.parse(name, typo)
    if name.startswith("dual_step"):
        wrong = sp.Max(0, wrong)
    assert not P.same(wrong, P.hand_transcriptions()[name])


@pytest.mark.parametrize("module, attr, wrong", [
    (cf, "printed_prox_weight", lambda: cf.derived_prox_weight()),
    (alg3, "gap_eq28", lambda: ((alg3.GMAX + (alg3.ETA + alg3.BETA) * sp.log(1 / alg3.PMIN)) * 2 * alg3.CLIP * alg3.EPS
                                / alg3.PMIN + (alg3.ETA + alg3.BETA) * (1 + 1 / alg3.PMIN) * alg3.CLIP * alg3.EPS / alg3.PMIN)),
    (k, "paper_rho_eq46", lambda: sp.Max(3 * sp.sqrt(k.H) * k.R / (3 * sp.sqrt(k.H) * k.R + k.BETA), sp.Rational(50, 63))),
    (k, "theorem_denominator", lambda: sp.Min(k.ETA_TH + k.BETA, sp.Rational(5, 4) * k.ETA_LAM - sp.sqrt(k.H) * k.R / 4)),
])
def test_a_mistyped_hand_transcription_fails_agreement(monkeypatch, module, attr, wrong):
    monkeypatch.setattr(module, attr, wrong)
    assert not all(P.agreement().values())


# ------------------------------------------------------------------------------ what the parses say
def test_printed_closed_form_is_not_the_derived_one():
    """The basis of opd-closed-form's INCONSISTENT: the parsed eq. (4) differs from the derivation."""
    assert not P.same(P.parse("closed_form_eq4"), cf.derived_prox_weight())
    assert P.same(P.parse("closed_form_eq4").subs(cf.S_y, cf.S_y / (cf.ETA + cf.BETA)), cf.derived_prox_weight())


def test_printed_dual_steps_differ_by_a_factor_two():
    """Eq. (5)'s minimiser moves by c/(2 eta_lambda), eq. (9) by c/eta_lambda (dual-step-scale)."""
    d5 = P.dual_minimiser("dual_objective_eq5")
    d9 = P.parse("dual_step_eq9")
    assert sp.simplify(sp.diff(d9, cf.C_VAL) / sp.diff(d5, cf.C_VAL)) == 2


def test_eq28_numbers_and_square_root_exponent():
    """Eq. (28) evaluated from the parse equals the numeric function the checks use, and gap ~ eps^(1/2)."""
    f = alg3.gap_numeric()
    g = P.parse("gap_eq28")
    args = (1e-3, 0.2, 1.5, 3.0, 0.05, 2.0)  # eps, p_min, g_max, eta, beta, C
    sub = dict(zip((alg3.EPS, alg3.PMIN, alg3.GMAX, alg3.ETA, alg3.BETA, alg3.CLIP), args))
    assert math.isclose(float(g.subs(sub)), f(*args), rel_tol=1e-12)
    lead = sp.limit(sp.log(g) / sp.log(alg3.EPS), alg3.EPS, 0, dir="+")
    assert lead == sp.Rational(1, 2)


def test_remark_b6_bound_matches_the_check():
    from opdcheck.instances import paper_toy
    from opdcheck.paper_checks.checks.lemma_b5 import remark_b6_bound

    prob = paper_toy()
    xi = 0.25
    expr = P.parse("remark_b6_bound")
    val = float(expr.subs({P.XI: xi, P.RMAX: prob.R_max, k.BETA: prob.beta, P.PMIN: prob.p_min}))
    assert math.isclose(val, remark_b6_bound(prob, xi), rel_tol=1e-12)
    assert not np.isclose(val, 0.5 * remark_b6_bound(prob, xi))


def test_app_e_final_display_matches_the_check():
    """App. E's final display, parsed from the paper's LaTeX, is the one cor-3.10-residual evaluates (its
    ``printed_display`` with m = min(a1, a3)); a typed (1 - rho^(t-1)) for (1 - rho^t) is caught."""
    from opdcheck.paper_checks.checks.cor_3_10_residual import printed_display

    names = P.symbol_map()
    rho, phi1 = names["rho"], names["Phi_{1}"]
    m = sp.Min(k.ETA_TH + k.BETA, k.ETA_LAM + (k.ETA_LAM - k.H * k.R**2 / k.C) * (1 - k.DELTA))
    parsed = P.parse("appE_final_display")
    assert P.same(parsed, printed_display(k.T, rho, phi1, m, P.GAP))
    typo = rho**k.T * phi1 / (rho * m) + 2 * (1 - rho ** (k.T - 1)) * P.GAP / (1 - rho)
    assert not P.same(parsed, typo)
