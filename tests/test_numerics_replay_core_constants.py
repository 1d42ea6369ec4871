"""The replay's sympy constants: the general rho substituted term by term is the same function as at_choice's."""
from __future__ import annotations

import mpmath
import sympy as sp

from opdcheck.numerics.replay import core
from opdcheck.theory import thm34_constants as tc


def test_general_rho_termwise_equals_at_choice():
    d = sp.Rational(3, 4)
    whole = tc.at_choice(tc.general_rho(), d, d)
    termwise = core._at_choice_termwise(tc.general_rho(), d)
    assert isinstance(termwise, sp.Max)
    f_whole = sp.lambdify((tc.H, tc.R, tc.BETA), whole, modules="mpmath")
    f_term = sp.lambdify((tc.H, tc.R, tc.BETA), termwise, modules="mpmath")
    with mpmath.workdps(50):
        for h, R, beta in [(1, 1, 1), (4, 0.7, 0.05), (2, 3.3, 0.2), (3, 1.0, 10.0), (1, 1, 0.05), (8, 0.1, 2.0)]:
            args = (mpmath.mpf(h), mpmath.mpf(R), mpmath.mpf(beta))
            assert f_term(*args) == f_whole(*args)
    consts = core.sympy_thm34_constants(1, 1.0, 1.0)
    assert consts["rho_general"] == consts["rho_eq46"]  # at delta = theta = 3/4 the general rho is eq. (46)


def test_termwise_keeps_other_expressions_whole():
    d = sp.Rational(3, 4)
    e = tc.BETA + tc.R * sp.sqrt(tc.H)
    assert core._at_choice_termwise(e, d) == tc.at_choice(e, d, d)
