"""theory/rate_formulas.py: derived per-mode polynomials, closed forms, limits (exact where possible)."""
from fractions import Fraction

import pytest
import sympy as sp

from opdcheck.theory import linearization as L
from opdcheck.theory import rate_formulas as rf


@pytest.mark.parametrize("method", rf.METHODS)
def test_derived_polynomial_matches_factored_and_linearization(method):
    d = rf.derive_mode_polynomial(method)
    assert sp.expand(d - rf.factored_mode_polynomial(method)) == 0
    assert sp.expand(d - L.mode_polynomial(method, rf.A, rf.C, rf.MU)) == 0


@pytest.mark.parametrize("method", rf.METHODS)
def test_factorization_equals_full_jacobian_on_several_prompts_and_constraints(method):
    # X = 2 prompts, n = 3, two active constraints: the modes are not scalars here, the identity is exact
    d = L.inverse_design_rational([["1/4", "1/4", "1/2"], ["1/10", "3/5", "3/10"]], ["3/2", "1/2"],
                                  [[["1", "0", "-1"], ["-1", "1", "0"]], [["1", "1", "-1"], ["0", "1", "1"]]], "1/5",
                                  rho=["1/3", "2/3"])
    M = L.jacobian(d, method, 1, 2, "gradient")
    assert L.charpoly_coeffs(M) == L.predicted_charpoly(d, method, 1, 2, "gradient")
    full = L.certify_rate(d, method, 1, 2, "gradient", Fraction(1, 10**8))
    modes = L.certify_modes(d, method, 1, 2, "gradient", Fraction(1, 10**8))
    assert full.lo <= modes.hi and modes.lo <= full.hi


@pytest.mark.parametrize("a,c", [("1/2", "1/100"), ("1/10", "1/5"), ("9/10", "1/50")])
def test_gda_closed_forms(a, c):
    a_, c_ = sp.Rational(a), sp.Rational(c)
    for m in ("simultaneous-gda", "alternating-gda"):
        num = rf.mode_radius(m, a_, c_)
        forms = [complex(sp.N(rf.radius_expression(m, reg).subs({rf.A: a_, rf.C: c_}))) for reg in ("real", "complex")]
        # the regime whose expression is real and equals the numerical radius
        assert min(abs(num - f.real) for f in forms if abs(f.imag) < 1e-14) < 1e-12


@pytest.mark.parametrize("c", ["1/100", "1/5", "3/10"])
def test_opd_closed_form_at_beta_zero(c):
    c_ = sp.Rational(c)
    reg = "real" if c_ <= sp.Rational(1, 4) else "complex"
    assert abs(float(rf.radius_expression("opd", reg).subs(rf.C, c_)) - rf.mode_radius("opd", 0, c_)) < 1e-12


def test_curvature_expansion_first_order_is_dual_gradient_descent():
    for m in rf.METHODS:
        e = rf.curvature_expansion(m, 2)
        assert sp.simplify(e.coeff(rf.C, 1) + 1 / rf.A) == 0
    # OPD second order: -gamma^2 / a^3
    assert sp.simplify(rf.curvature_expansion("opd", 2).coeff(rf.C, 2) + (1 - rf.A) ** 2 / rf.A**3) == 0
    # and it predicts the exact root to O(c^3)
    a, c = 0.5, 1e-3
    pred = float(rf.curvature_expansion("opd", 2).subs({rf.A: a, rf.C: c}))
    assert abs(pred - rf.mode_radius("opd", a, c)) < 10 * c**3 / a**5


def test_limits():
    lim = rf.limits()
    assert lim["beta->0: OPD identity (mu^2-mu)^2 + c(2mu-1)^2"]
    assert sp.simplify(lim["beta->0: simultaneous |mu|^2"] - (1 + rf.C)) == 0
    assert lim["beta->0: alternating |mu|^2"] == 1
    eps, kh = sp.Symbol("epsilon", positive=True), sp.Symbol("kappa_h", positive=True)
    for m in rf.METHODS:
        assert sp.simplify(lim[f"beta->oo: {m} dominant root"] - (1 - kh * eps)) == 0


def test_stability_boundaries():
    lo, hi = rf.stability_boundary("opd", 0, Fraction(1, 10**5))
    assert lo < Fraction(1, 3) <= hi
    lo, hi = rf.stability_boundary("simultaneous-gda", "1/2", Fraction(1, 10**5))
    assert lo < Fraction(1, 2) <= hi  # stable iff c < a


def test_thm34_parameters_in_normalised_curvature():
    s, beta = sp.Rational(3, 2), sp.Rational(1, 2)
    hj = [sp.Rational(1, 5), s**2]  # nu = h/s^2 in (0, 1]
    for ds, k in (("prox", 18), ("gradient", 9)):
        p = rf.thm34_mode_parameters(beta, s, hj, ds)
        for h, c in zip(hj, p["c"]):
            assert sp.simplify(c - (1 - p["a"]) * (h / s**2) / k) == 0
    # every nu in (0, 1] at Thm 3.4's steps is inside OPD's stable region, on a rational grid of a
    for a in [Fraction(k, 10) for k in range(0, 10)]:
        lo, _ = rf.stability_boundary("opd", a, Fraction(1, 10**4))
        assert lo > (1 - a) / 9


def test_bad_input():
    with pytest.raises(ValueError, match="method"):
        rf.mode_polynomial("adam")
    with pytest.raises(ValueError, match="beta"):
        rf.thm34_mode_parameters(0, 1, [1])
    with pytest.raises(ValueError, match="cs"):
        rf.spectral_rate("opd", 0.5, [], True)


@pytest.mark.parametrize("method", rf.METHODS)
def test_boundary_polynomial_brackets_the_certified_boundary(method):
    B = rf.stability_boundary_polynomial(method)
    for a in (Fraction(1, 10), Fraction(1, 2), Fraction(9, 10)):
        lo, hi = rf.stability_boundary(method, a, Fraction(1, 10**6))
        roots = [r for r in sp.Poly(B.subs(rf.A, sp.Rational(a.numerator, a.denominator)), rf.C).real_roots() if r > 0]
        assert float(lo) <= float(min(roots)) <= float(hi)


def test_opd_boundary_special_values():
    B = rf.stability_boundary_polynomial("opd")
    assert sp.simplify(B.subs({rf.A: 0, rf.C: sp.Rational(1, 3)})) == 0
    assert sp.simplify(B.subs({rf.A: sp.Rational(1, 2), rf.C: sp.sqrt(2) - 1})) == 0
    assert sp.simplify(B.subs({rf.A: 1, rf.C: (sp.sqrt(5) - 1) / 2})) == 0


def test_thm34_steps_always_locally_stable_proof():
    cert = rf.stable_box_certificate(sp.Rational(1, 9))
    assert cert["proved"]
    # the same argument must fail on a box that reaches the boundary (c*(1) = (sqrt 5 - 1)/2 < 2/3)
    assert not rf.stable_box_certificate(sp.Rational(2, 3))["proved"]
