"""The small-curvature family: instances of Thm 3.4's class on which OPD's exact local rate tends to 1.

Family (one prompt, two responses, ``h = 1``, ``R_max = 1``, ``beta = 1``), for a rational ``0 < p < 1/2``::

    pi_ref(y0) = p,   R_soft = (1, 0),   R_hard = (-(1-p), p)

Then ``S_{lam}`` at ``lam = 1`` is ``(p, p)`` (constant), so ``pi* = pi_ref`` and ``lam* = 1`` (the constraint
``c(pi) = p - pi(y0) >= 0`` is active at ``pi_ref``); the Slater margin is ``xi = p`` (at ``pi(y0) = 0``), and
``p_min = p``. Every hypothesis of Thm 3.4 holds (Assumptions 3.1-3.3 with ``xi = p_min = p > 0``;
``R_max = 1``), and the class constants ``(h, R_max, beta) = (1, 1, 1)`` do not depend on ``p``, so neither do
eq. (46)'s ``rho = 50/63`` nor any step rule written in those constants.

The dual curvature is ``H = Var_{pi*}(R_hard) = p (1 - p) -> 0``. OPD's per-mode polynomial at ``c = 0``
is ``mu^2 (mu - 1)(mu - (1 - a))``: it has the root 1, so by continuity of the roots the spectral radius
tends to 1 as ``p -> 0`` for *every* fixed ``(eta_th, eta_lam)`` (:func:`mode_polynomial_root_one`). The
exact Schur-Cohn certificates of :func:`certify_family` make that concrete on a grid.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import sympy as sp

from opdcheck.theory.linearization import MU, certify_rate, inverse_design_rational, mode_polynomial
from opdcheck.theory.thm34_constants import BETA, H, R, paper_rho_eq46

__all__ = ["family_design", "rho46", "mode_polynomial_root_one", "certify_family", "DEFAULT_PS", "DEFAULT_STEPS"]

#: the family's parameter p (pi_ref(y0) = xi = p_min = p, dual curvature p (1 - p))
DEFAULT_PS = (Fraction(1, 10), Fraction(1, 100), Fraction(1, 1000))
#: fixed step choices (eta_th, eta_lam): Thm 3.4's example 3 sqrt(h) R_max = 3, the toy's rescuing choice
#: (1, 3/10), and a spread of small and large steps
DEFAULT_STEPS = ((Fraction(3), Fraction(3)), (Fraction(1), Fraction(3, 10)), (Fraction(1, 2), Fraction(1, 10)),
                 (Fraction(3), Fraction(1, 10)), (Fraction(10), Fraction(10)), (Fraction(1, 10), Fraction(1, 100)))


def family_design(p: Any):
    """The family's member at ``p`` as an exact rational design (``pi* = pi_ref = (p, 1-p)``, ``lam* = 1``)."""
    p = Fraction(p)
    if not 0 < p < Fraction(1, 2):
        raise ValueError(f"p = {p}: pass a rational 0 < p < 1/2 (pi_ref(y0) = p; R_max = 1 needs p <= 1).")
    return inverse_design_rational([[p, 1 - p]], [1], [[[-(1 - p), p]]], 1, R_soft=[[[1, 0]]],
                                   name=f"small-curvature family p = {p}")


def rho46(h: int = 1, R_max: Any = 1, beta: Any = 1) -> Fraction:
    """Eq. (46)'s ``rho`` at the class constants (exact)."""
    v = sp.nsimplify(paper_rho_eq46().subs({H: h, R: sp.Rational(str(R_max)), BETA: sp.Rational(str(beta))}))
    return Fraction(int(sp.fraction(v)[0]), int(sp.fraction(v)[1]))


def mode_polynomial_root_one() -> dict:
    """OPD's mode polynomial at zero curvature (``c = 0``), factored for symbolic ``a``: has it the root 1?"""
    a = sp.Symbol("a", positive=True)
    poly = sp.factor(mode_polynomial("opd", a, 0, MU))
    has_one = sp.simplify(poly.subs(MU, 1)) == 0
    return {"polynomial_at_c0": str(poly), "root_one": bool(has_one)}


def certify_family(ps: Sequence = DEFAULT_PS, steps: Sequence = DEFAULT_STEPS, dual_step: str = "prox") -> list[dict]:
    """Exact certificates of OPD's local rate on each ``(p, (eta_th, eta_lam))``: rows with ``r^2`` bounds."""
    if dual_step not in ("prox", "gradient"):
        raise ValueError(f"certify_family: dual_step = {dual_step!r}; choose 'prox' or 'gradient'.")
    rho = rho46()
    rows = []
    for p in ps:
        d = family_design(p)
        for et, el in steps:
            cert = certify_rate(d, "opd", et, el, dual_step, tol=Fraction(1, 10**9))
            lo2, hi2 = cert.lo ** 2, cert.hi ** 2
            rows.append({"p": str(Fraction(p)), "curvature p(1-p)": float(Fraction(p) * (1 - Fraction(p))),
                         "eta_th": str(et), "eta_lam": str(el), "dual convention": dual_step,
                         "r^2 lower": float(lo2), "r^2 upper": float(hi2), "rho(46)": float(rho),
                         "certified r^2 > rho(46)": bool(lo2 > rho), "stable": cert.stable,
                         "lo": cert.lo, "hi": cert.hi})
    return rows
