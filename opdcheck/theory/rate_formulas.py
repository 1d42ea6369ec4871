r"""Exact local rates of OPD (Alg. 2) and of GDA as explicit functions of the problem (sympy).

Problem (paper §2): ``min_{lam >= 0} max_pi L(pi, lam)`` with ``beta > 0``, at a saddle
point ``(pi*, lam*)`` with strict complementarity and a positive definite dual curvature on the
active set ``A``:

    H = sum_x rho_x Cov_{pi*_x}(R_A)  (m x m),     hess D(lam*)|_A = H / beta.

Updates: the KL-prox primal step
``log pi_new = gamma log pi_hat + (1-gamma) log pi_ref + b S_lam - logZ`` with ``b = 1/(eta_th+beta)``,
``gamma = eta_th b``, and the projected dual step ``[lam_hat - kappa c(pi)]_+`` with
``kappa = 1/(2 eta_lam)`` (``prox``, eqs. (5)/(7)) or ``1/eta_lam`` (``gradient``, eqs. (9)/(11)).

Derivation (done by sympy below, not typed in)
----------------------------------------------
Near the saddle point, in reduced logits ``u`` and active multipliers, the primal step is affine,
``u <- gamma u_hat + b B lam`` and the constraint is ``c(u) = J u + o(u)`` with ``J B = H``. Every block
of each method's Jacobian is a polynomial in ``B J`` (N x N) or ``J B`` (m x m), so on an
eigenvector of ``H`` (eigenvalue ``h_j``) the map acts on a 1+1-dimensional (GDA) or 2+2-dimensional
(OPD, which also carries the previous predictions) *mode* in which ``B`` and ``J`` are scalars with
``J B = h_j``. :func:`mode_jacobian` builds that map from the update equations;
:func:`derive_mode_polynomial` takes its characteristic polynomial and finds that it depends only on

    a = b beta = beta / (eta_th + beta)          (how strongly the KL term contracts the primal)
    c = kappa b h_j = kappa h_j / (eta_th + beta) (dual step x primal step x curvature)

The remaining ``N - m`` primal directions (``B J`` has rank m) only see ``gamma = 1 - a`` (and OPD's
copy also 0), so the characteristic polynomial of the full map is, exactly,

    (mu - gamma)^(N-m) prod_j P(mu; a, c_j)            (both GDA)
    mu^(N-m) (mu - gamma)^(N-m) prod_j P(mu; a, c_j)   (OPD)

(verified against the full exact Jacobian in the tests). The per-mode polynomials, in the factored
form sympy confirms (:func:`factored_mode_polynomial`):

    simultaneous GDA:  (mu - 1)(mu - gamma) + c
    alternating GDA:   (mu - 1)(mu - gamma) + c mu
    OPD (Alg. 2):      mu^2 (mu - 1)(mu - gamma) + c (2 mu - 1)((1 + gamma) mu - gamma)

The factors ``2 mu - 1`` and ``(1+gamma) mu - gamma`` are the two optimistic extrapolations
``2 x_t - x_{t-1}`` (dual) and ``x_t + gamma (x_t - x_{t-1})`` (primal, damped by the KL weight).

Rates (``r`` = largest root modulus; the error ``E KL + ||lam - lam*||^2`` is squared, rate ``r^2``)
------------------------------------------------------------------------------------------------------
``r = max(gamma [if N > m], max_j r_P(a, c_j))``. Closed forms (:func:`radius_expression`):
simultaneous ``(2 - a + sqrt(a^2 - 4c))/2`` if ``4c <= a^2`` else ``sqrt(1 - a + c)`` (stable iff ``c < a``);
alternating ``(2 - a - c + sqrt((2-a-c)^2 - 4(1-a)))/2`` on real roots, else ``sqrt(1 - a)``;
OPD at ``a = 0`` (``beta -> 0``): ``P = (mu^2 - mu)^2 + c (2 mu - 1)^2``, roots
``(1 +- sqrt(1 - 4c))/2 +- i sqrt(c)``, so ``r = sqrt((1 + sqrt(1 - 4c))/2)`` for ``c <= 1/4``, stable iff
``c < 1/3``. For ``a > 0`` OPD's radius is the largest root modulus of the quartic (no simpler form;
sympy's discriminant does not factor), evaluated by :func:`mode_radius`.

Curvature -> 0 (``c -> 0`` at fixed ``a > 0``; :func:`curvature_expansion`): the dominant root of every
method is ``1 - c/a + O(c^2)``, i.e. ``1 - kappa h_j / beta``: the rate of *projected gradient descent
on the dual* ``D`` with step ``kappa`` and curvature ``h_j / beta``. It tends to 1 as the dual flattens;
eq. (46) has no such term.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Any, Sequence

import sympy as sp

from opdcheck.methods import certified_methods

from opdcheck.theory.schur_cohn import is_schur_stable

__all__ = ["METHODS", "A", "C", "MU", "GAMMA", "mode_jacobian", "derive_mode_polynomial", "mode_polynomial",
           "factored_mode_polynomial", "mode_coefficients", "radius_expression", "mode_radius",
           "spectral_rate", "curvature_expansion", "limits", "thm34_mode_parameters", "stability_boundary",
           "first_order_rate", "stability_boundary_polynomial", "stable_box_certificate"]

#: canonical names of the certified methods (the registry, :mod:`opdcheck.methods`; callers canonicalise aliases)
METHODS = certified_methods()
A, C, MU = sp.symbols("a c mu")
GAMMA = 1 - A
_g, _b, _kap, _B, _J = sp.symbols("gamma b kappa B J", positive=True)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method = {method!r}; choose one of {METHODS}.")


def mode_jacobian(method: str) -> sp.Matrix:
    """The Jacobian of ``method``'s linearized update in one mode (scalars ``B``, ``J``, ``J B = h``).

    Built by differentiating the update equations (deviations from the saddle point):
    primal ``P(u_hat, lam) = gamma u_hat + b B lam``, dual ``Dl(lam_hat, u) = lam_hat - kappa J u``.

    * simultaneous (Jacobi): ``(u, lam) -> (P(u, lam), Dl(lam, u))``
    * alternating (Gauss–Seidel, Alg. 1): ``u' = P(u, lam)``, ``lam' = Dl(lam, u')``
    * OPD (Alg. 2, eqs. (4)-(7)), state ``(u_hat, lam_hat, u_prev, lam_prev)``:
      ``u_t = P(u_hat, lam_prev)``, ``lam_t = Dl(lam_hat, u_prev)``, ``u_hat' = P(u_hat, lam_t)``,
      ``lam_hat' = Dl(lam_hat, u_t)``, new state ``(u_hat', lam_hat', u_t, lam_t)``.
    """
    _check_method(method)

    def P(u_hat, lam):
        return _g * u_hat + _b * _B * lam

    def Dl(lam_hat, u):
        return lam_hat - _kap * _J * u

    if method == "simultaneous-gda":
        u, l = sp.symbols("u l")
        new, state = [P(u, l), Dl(l, u)], [u, l]
    elif method == "alternating-gda":
        u, l = sp.symbols("u l")
        u1 = P(u, l)
        new, state = [u1, Dl(l, u1)], [u, l]
    else:
        uh, lh, up, lp = sp.symbols("u_hat l_hat u_prev l_prev")
        u_t, l_t = P(uh, lp), Dl(lh, up)
        new, state = [P(uh, l_t), Dl(lh, u_t), u_t, l_t], [uh, lh, up, lp]
    return sp.Matrix(new).jacobian(sp.Matrix(state))


@lru_cache(maxsize=None)
def derive_mode_polynomial(method: str) -> sp.Expr:
    """``det(mu I - M)`` of :func:`mode_jacobian` rewritten in ``(a, c)``; raises if it depends on more.

    Substitutes ``gamma = 1 - a`` and ``B = c / (kappa b J)`` (so ``kappa b J B = c``); the result must be
    free of ``b``, ``kappa``, ``J``: that is the statement that the rate depends only on ``(a, c)``.
    """
    M = mode_jacobian(method)
    cp = M.charpoly(MU).as_expr()
    sub = sp.expand(sp.simplify(cp.subs({_B: C / (_kap * _b * _J)}).subs(_g, 1 - A)))
    extra = sub.free_symbols - {MU, A, C}
    if extra:  # pragma: no cover - would mean the derivation is wrong
        raise AssertionError(f"{method}: the mode polynomial depends on {extra}, not only on (a, c).")
    return sp.expand(sub)


def mode_polynomial(method: str, a: Any = A, c: Any = C, mu: Any = MU) -> sp.Expr:
    """The derived per-mode polynomial ``P(mu; a, c)`` with ``a``, ``c``, ``mu`` substituted."""
    _check_method(method)
    return sp.expand(derive_mode_polynomial(method).subs({A: a, C: c, MU: mu}, simultaneous=True))


def factored_mode_polynomial(method: str) -> sp.Expr:
    """The factored forms of the module docstring (an identity with :func:`derive_mode_polynomial`,
    checked in the tests); ``gamma = 1 - a``."""
    _check_method(method)
    g = GAMMA
    if method == "simultaneous-gda":
        return (MU - 1) * (MU - g) + C
    if method == "alternating-gda":
        return (MU - 1) * (MU - g) + C * MU
    return MU**2 * (MU - 1) * (MU - g) + C * (2 * MU - 1) * ((1 + g) * MU - g)


def mode_coefficients(method: str, a: Any, c: Any) -> list:
    """Coefficients (highest degree first) of ``P(mu; a, c)``; exact if ``a``, ``c`` are rational."""
    return sp.Poly(mode_polynomial(method, a, c), MU).all_coeffs()


def radius_expression(method: str, regime: str = "real") -> sp.Expr:
    """Closed-form largest root modulus of the per-mode polynomial.

    GDA: ``regime="real"`` (real roots: ``4c <= a^2`` simultaneous, ``(2-a-c)^2 >= 4(1-a)`` alternating)
    or ``"complex"``. OPD: only at ``a = 0`` (``beta -> 0``), ``regime="real"`` for ``c <= 1/4`` and
    ``"complex"`` for ``c > 1/4`` (there ``|mu|^2 = 1/4 + (sqrt(c) + sqrt(4c - 1)/2)^2``).
    """
    _check_method(method)
    if regime not in ("real", "complex"):
        raise ValueError(f"regime = {regime!r}; choose 'real' or 'complex'.")
    if method == "simultaneous-gda":
        return (2 - A + sp.sqrt(A**2 - 4 * C)) / 2 if regime == "real" else sp.sqrt(1 - A + C)
    if method == "alternating-gda":
        disc = (2 - A - C) ** 2 - 4 * (1 - A)
        return (sp.Abs(2 - A - C) + sp.sqrt(disc)) / 2 if regime == "real" else sp.sqrt(1 - A)
    if regime == "real":
        return sp.sqrt((1 + sp.sqrt(1 - 4 * C)) / 2)
    return sp.sqrt(sp.Rational(1, 4) + (sp.sqrt(C) + sp.sqrt(4 * C - 1) / 2) ** 2)


def mode_radius(method: str, a: Any, c: Any, dps: int = 30) -> float:
    """Largest root modulus of ``P(mu; a, c)`` (mpmath roots at ``dps`` digits, returned as float)."""
    import mpmath

    _check_method(method)
    coeffs = [sp.Rational(str(v)) if isinstance(v, float) else sp.nsimplify(v) for v in (a, c)]
    poly = [complex(sp.N(v, dps)) if not v.is_Rational else v for v in mode_coefficients(method, *coeffs)]
    with mpmath.workdps(dps):
        roots = mpmath.polyroots([mpmath.mpf(str(sp.Rational(v))) if isinstance(v, sp.Basic) and v.is_Rational
                                  else mpmath.mpc(v) for v in poly], maxsteps=200, extraprec=2 * dps)
        return float(max(abs(r) for r in roots)) if roots else 0.0


def spectral_rate(method: str, a: Any, cs: Sequence[Any], extra_primal: bool) -> dict:
    """The local rate of ``method`` from its modes: ``r = max(gamma if extra_primal, max_j r_P(a, c_j))``.

    ``extra_primal``: ``N > m`` (more primal directions than active constraints), which adds the
    eigenvalue ``gamma = 1 - a``. Returns ``{"radius", "error_rate" (r^2), "dominant"}``.
    """
    _check_method(method)
    if not cs:
        raise ValueError("cs: empty; pass the values c_j = kappa h_j/(eta_th+beta) of the active modes.")
    a_f = float(a)
    mode = [mode_radius(method, a, c) for c in cs]
    r, dom = max(mode), f"mode c = {float(cs[mode.index(max(mode))]):.6g}"
    if extra_primal and 1 - a_f > r:
        r, dom = 1 - a_f, "primal gamma = 1 - a"
    return {"radius": r, "error_rate": r * r, "dominant": dom, "mode_radii": mode}


@lru_cache(maxsize=None)
def curvature_expansion(method: str, order: int = 2) -> sp.Expr:
    """The dominant root near 1 as ``c -> 0`` at fixed ``a > 0``: ``1 + sum_k m_k c^k`` (sympy, to ``order``).

    Solves ``P(1 + sum m_k c^k; a, c) = O(c^(order+1))`` order by order. First order: ``m_1 = -1/a`` for
    every method, i.e. ``1 - kappa h_j / beta``.
    """
    _check_method(method)
    ms = sp.symbols(f"m1:{order + 1}")
    root = 1 + sum(m * C**(k + 1) for k, m in enumerate(ms))
    ser = sp.expand(mode_polynomial(method, A, C, root))
    sol: dict = {}
    for k in range(1, order + 1):
        eq = ser.coeff(C, k).subs(sol)
        sol[ms[k - 1]] = sp.simplify(sp.solve(eq, ms[k - 1])[0])
    return sp.expand(root.subs(sol))


def first_order_rate(kappa: float, h_min: float, beta: float) -> float:
    """``1 - kappa h_min / beta``: the dual gradient-descent rate (first order of :func:`curvature_expansion`)."""
    return 1.0 - kappa * h_min / beta


@lru_cache(maxsize=None)
def limits() -> dict:
    """The three limits of the issue, derived by sympy (values as sympy expressions).

    * ``beta -> 0`` at fixed steps: ``a -> 0``, ``c`` fixed. OPD: ``P -> (mu^2 - mu)^2 + c(2mu - 1)^2``;
      simultaneous GDA: ``|mu| = sqrt(1 + c) > 1`` (diverges); alternating GDA: ``|mu| = 1`` for
      ``c < 4`` (cycles).
    * ``beta -> oo`` at fixed steps: ``a -> 1``, ``c ~ kappa h_j / beta -> 0``: every method's dominant
      root ``1 - kappa h_j/beta + O(beta^-2) -> 1``.
    * curvature -> 0 (``c -> 0``, fixed ``a > 0``): :func:`curvature_expansion`.
    """
    eps = sp.Symbol("epsilon", positive=True)  # 1/beta
    kh, eta = sp.symbols("kappa_h eta", positive=True)
    out: dict = {}
    opd0 = sp.factor(mode_polynomial("opd", 0, C))
    out["beta->0: OPD mode polynomial"] = opd0
    out["beta->0: OPD identity (mu^2-mu)^2 + c(2mu-1)^2"] = sp.expand(opd0 - ((MU**2 - MU)**2 + C * (2 * MU - 1)**2)) == 0
    out["beta->0: simultaneous |mu|^2"] = sp.simplify(mode_polynomial("simultaneous-gda", 0, C).subs(MU, 0))
    out["beta->0: alternating |mu|^2"] = sp.simplify(mode_polynomial("alternating-gda", 0, C).subs(MU, 0))
    a_eps = 1 / (1 + eta * eps)
    c_eps = kh * eps / (1 + eta * eps)
    for m in METHODS:
        root = curvature_expansion(m, 2).subs({A: a_eps, C: c_eps})
        out[f"beta->oo: {m} dominant root"] = sp.series(root, eps, 0, 2).removeO()
        out[f"curvature->0: {m} dominant root"] = curvature_expansion(m, 2)
    out["beta->0: OPD stable iff c <"] = sp.Rational(1, 3)
    return out


def thm34_mode_parameters(beta: Any, s: Any, h_eigs: Sequence[Any], dual_step: str = "prox") -> dict:
    """``(a, c_j)`` at Thm 3.4's steps ``eta_th = eta_lam = 3 s`` (``s = sqrt(h) R_max``).

    ``a = beta/(3s + beta)``, ``c_j = kappa h_j/(3s + beta)`` with ``kappa = 1/(6s)`` (prox) or
    ``1/(3s)`` (gradient); with ``nu_j = h_j/s^2 = h_j/(h R_max^2) in (0, 1]`` this is
    ``c_j = (1 - a) nu_j / 18`` (prox) or ``(1 - a) nu_j / 9`` (gradient). Exact if the inputs are rational.
    """
    if dual_step not in ("prox", "gradient"):
        raise ValueError(f"dual_step = {dual_step!r}; choose 'prox' or 'gradient'.")
    beta, s = sp.nsimplify(beta), sp.nsimplify(s)
    if not (beta > 0 and s > 0):
        raise ValueError(f"beta = {beta}, s = {s}: both must be > 0 (Thm 3.4 needs beta > 0).")
    eta = 3 * s
    kappa = 1 / (2 * eta) if dual_step == "prox" else 1 / eta
    a = beta / (eta + beta)
    return {"a": a, "c": [kappa * sp.nsimplify(hj) / (eta + beta) for hj in h_eigs], "kappa": kappa, "eta": eta}


def stability_boundary(method: str, a: Any, tol: Any = Fraction(1, 10**6), c_max: Any = 4) -> tuple[Fraction, Fraction]:
    """Certified bracket ``[lo, hi]`` (``hi - lo <= tol``) of the largest ``c`` with ``P(.; a, c')``
    Schur stable for all ``0 < c' <= lo`` sampled by bisection: ``lo`` is certified stable and ``hi``
    certified not stable (exact Schur–Cohn at rational ``a``, ``c``). Assumes the stable set in ``c`` is
    an interval starting at 0 (true for the three methods: the roots cross the circle once)."""
    a_q = Fraction(str(a))
    lo, hi = Fraction(0), Fraction(str(c_max))

    def stable(cq: Fraction) -> bool:
        coeffs = mode_coefficients(method, sp.Rational(a_q.numerator, a_q.denominator),
                                   sp.Rational(cq.numerator, cq.denominator))
        return is_schur_stable([Fraction(int(v.p), int(v.q)) for v in coeffs])

    if stable(hi):
        return hi, hi
    t = Fraction(str(tol))
    while hi - lo > t:
        mid = (lo + hi) / 2
        if stable(mid):
            lo = mid
        else:
            hi = mid
    return lo, hi


@lru_cache(maxsize=None)
def stability_boundary_polynomial(method: str) -> sp.Expr:
    """The curve in ``(a, c)`` where a root of ``P(mu; a, c)`` can lie on the unit circle (sympy).

    A root ``z`` with ``|z| = 1`` of a real polynomial is also a root of its reversal ``z^d P(1/z)``, so
    the boundary of the stable region lies on ``Res_mu(P, mu^d P(1/mu)) = 0``. The factor returned is
    the one that vanishes on the boundary the tests certify with :func:`stability_boundary`
    (the others vanish only at ``c = 0`` or at negative ``c``): for OPD the cubic in ``c``

        a^3 c^3 - 2a^3 c^2 + a^3 c - 5a^2 c^3 + 4a^2 c^2 + 7a c^3 - a c^2 - 3a c + a - 3c^3 - 2c^2 + c,

    whose smallest positive root is ``c*(a)``: ``1/3`` at ``a = 0``, ``sqrt(2) - 1`` at ``a = 1/2``,
    ``(sqrt(5) - 1)/2`` at ``a = 1``; simultaneous GDA ``c = a``; alternating GDA ``c = 4 - 2a``.
    """
    _check_method(method)
    P = mode_polynomial(method)
    deg = sp.degree(P, MU)
    Q = sp.expand(MU**deg * P.subs(MU, 1 / MU))
    res = sp.factor(sp.resultant(P, Q, MU))
    best = None
    for f, _ in sp.factor_list(res)[1]:
        if not f.has(C):
            continue
        roots = [r for r in sp.Poly(f.subs(A, sp.Rational(1, 2)), C).real_roots() if r > 0]
        if roots and (best is None or min(roots) < best[1]):
            best = (f, min(roots))
    if best is None:  # pragma: no cover
        raise AssertionError(f"{method}: no boundary factor with a positive root at a = 1/2")
    return sp.expand(best[0])


def _bernstein_2d(poly: sp.Expr, x: sp.Symbol, y: sp.Symbol) -> list[list[sp.Rational]]:
    """Bernstein coefficients of ``poly`` on ``[0, 1]^2`` (degrees of ``poly`` in ``x`` and ``y``)."""
    P = sp.Poly(sp.expand(poly), x, y)
    n1, n2 = P.degree(x), P.degree(y)
    coef = dict(zip(P.monoms(), P.coeffs()))
    return [[sum(sp.binomial(i, k) / sp.binomial(n1, k) * sp.binomial(j, l) / sp.binomial(n2, l) * coef.get((k, l), 0)
                 for k in range(i + 1) for l in range(j + 1)) for j in range(n2 + 1)] for i in range(n1 + 1)]


def stable_box_certificate(c_top: Any = sp.Rational(1, 9)) -> dict:
    """Proof that OPD's mode polynomial is Schur stable for every ``a in [0, 1]``, ``c in (0, c_top]``.

    A root on the unit circle makes ``Res_mu(P, mu^4 P(1/mu))`` vanish, i.e. ``c = 0``,
    ``6ac + 2a - 9c - 4 = 0`` (impossible on the box: it is ``<= -2``) or the boundary cubic ``B(a, c) = 0``.
    Substituting ``c = c_top t``, ``B`` has non-negative Bernstein coefficients on ``[0, 1]^2`` that vanish
    only at the corner ``(a, c) = (0, 0)``, so ``B > 0`` on the box without that corner: no root crosses the
    circle, and since ``P`` is stable at ``a = 0`` (roots ``(1 +- sqrt(1-4c))/2 +- i sqrt(c)``) the whole box
    is stable. With ``c_top = 1/9`` this covers Thm 3.4's steps (``c_j = (1-a) nu_j / 18`` prox,
    ``(1-a) nu_j / 9`` gradient, ``nu_j <= 1``) for every instance.
    """
    t = sp.Symbol("t")
    c_top = sp.nsimplify(c_top)
    B = stability_boundary_polynomial("opd")
    bern = _bernstein_2d(B.subs(C, c_top * t), A, t)
    flat = [(i, j, v) for i, row in enumerate(bern) for j, v in enumerate(row)]
    nonneg = all(v >= 0 for _, _, v in flat)
    zeros = [(i, j) for i, j, v in flat if v == 0]
    last = len(bern[0]) - 1
    # B vanishes only where every Bernstein coefficient that can contribute there vanishes; the corner (0, 0)
    # carries b_00 alone, any other point of the box has some b_ij > 0 contributing
    only_corner = zeros == [(0, 0)]
    other = sp.expand(6 * A * C + 2 * A - 9 * C - 4)
    other_neg = all(other.subs({A: a, C: c}) < 0 for a in (0, 1) for c in (0, c_top))  # affine in each: corners
    a0_stable = c_top <= sp.Rational(1, 4)
    return {"c_top": c_top, "bernstein": bern, "nonnegative": nonneg, "zero_only_at_corner": only_corner,
            "other_factor_negative": other_neg, "a0_stable": a0_stable, "degree_in_c": last,
            "proved": bool(nonneg and only_corner and other_neg and a0_stable)}
