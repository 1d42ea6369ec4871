"""Lemmas B.2 (Pinsker), B.4 (three-vector inequality) and B.8 (Bregman three-point identity), in sympy.

* Lemma B.8 for the negative entropy ``f(p) = sum p log p``: ``D_f(u, v) = sum u log(u/v) - u + v``
  (= KL on the simplex) and ``D_f(x,z) - D_f(x,y) - D_f(y,z) = <grad_y D_f(y,z), x - y>``: an
  identity, checked per coordinate (so for every n) and on the simplex with KL for n = 3.
* Lemma B.4: ``||a+b+c||^2 >= (1-d)||a||^2 + (1-1/d)(1-t)||b||^2 + (1-1/d)(1-1/t)||c||^2``, stated
  "for any d, t > 0". The inequality is a quadratic form ``M (x) I`` with
  ``M = 1 1^T - diag(d1, d2, d3)``; it holds iff ``M`` is positive semidefinite. We compute the
  principal minors in closed form and the Young (sum-of-squares) decomposition of the proof.
* Lemma B.2: ``||p - q||_1 <= sqrt(2 KL(p||q))``; for n = 2 the derivative of
  ``2 KL - ||p-q||_1^2`` in q factors as ``2 (q-p)(2q-1)^2 / (q(1-q))``, so the gap is minimised at
  q = p where it is 0. (Random draws near the boundary are in the check module, with numpy.)

Judging functions take the expression / coefficients under test as a parameter (negative controls).
"""
from __future__ import annotations

from itertools import combinations
from typing import Any, Callable, Sequence

import sympy as sp

__all__ = [
    "DELTA", "THETA", "bregman_negentropy", "three_point_identity_residual", "kl_three_point_residual_simplex",
    "b4_coefficients", "b4_corrected_coefficients", "b4_matrix", "b4_principal_minors", "b4_young_identity_residual",
    "b4_validity_condition", "b4_validity_region", "region_text", "b4_witness", "b4_holds_at", "judge_three_vector_inequality",
    "pinsker_gap_n2", "pinsker_derivative_n2", "pinsker_n2_factorisation_residual", "judge_identity",
]

DELTA, THETA = sp.symbols("delta theta", positive=True)


# ------------------------------------------------------------------------------------- Lemma B.8
def bregman_negentropy(u: sp.Expr, v: sp.Expr) -> sp.Expr:
    """One coordinate of the Bregman divergence of ``f(p) = p log p``: ``u log(u/v) - u + v``."""
    f = lambda s: s * sp.log(s)  # noqa: E731
    return f(u) - f(v) - sp.diff(f(v), v) * (u - v)


def three_point_identity_residual(divergence: Callable[[sp.Expr, sp.Expr], sp.Expr] = bregman_negentropy) -> sp.Expr:
    """``D(x,z) - D(x,y) - D(y,z) - <d/dy D(y,z), x - y>`` for one coordinate (eq. (17)), simplified.

    Zero for the negative-entropy Bregman divergence on the positive orthant; the divergence is a sum
    over coordinates, so the identity for every n follows coordinate by coordinate.
    """
    x, y, z = sp.symbols("x y z", positive=True)
    lhs = divergence(x, z) - divergence(x, y) - divergence(y, z)
    rhs = sp.diff(divergence(y, z), y) * (x - y)
    return sp.simplify(sp.expand_log(lhs - rhs, force=True))


def kl_three_point_residual_simplex(n: int = 3) -> sp.Expr:
    """The same identity with ``D = KL`` (no linear terms) and ``grad_y KL(y||z) = log(y/z) + 1`` on the simplex.

    Off the simplex the residual is ``sum(y) - sum(x)``; with both on the simplex it is 0.
    """
    if not isinstance(n, int) or n < 2 or n > 6:
        raise ValueError(f"kl_three_point_residual_simplex: n = {n!r}; pass an integer 2 <= n <= 6.")
    x = sp.symbols(f"x_0:{n}", positive=True)
    y = sp.symbols(f"y_0:{n}", positive=True)
    z = sp.symbols(f"z_0:{n}", positive=True)
    kl = lambda p, q: sum(p[i] * sp.log(p[i] / q[i]) for i in range(n))  # noqa: E731
    grad = [sp.log(y[i] / z[i]) + 1 for i in range(n)]
    res = kl(x, z) - kl(x, y) - kl(y, z) - sum(grad[i] * (x[i] - y[i]) for i in range(n))
    res = sp.simplify(sp.expand_log(res, force=True))
    # impose the simplex on x and y by eliminating their last coordinates
    on_simplex = res.subs({x[-1]: 1 - sum(x[:-1]), y[-1]: 1 - sum(y[:-1])})
    return sp.simplify(on_simplex)


def judge_identity(residual: sp.Expr) -> bool:
    """An identity holds iff its residual simplifies to 0."""
    return sp.simplify(residual) == 0


# ------------------------------------------------------------------------------------- Lemma B.4
def b4_coefficients(delta: sp.Expr = DELTA, theta: sp.Expr = THETA) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Lemma B.4 as printed: ``(1 - d, (1 - 1/d)(1 - t), (1 - 1/d)(1 - 1/t))``."""
    return (1 - delta, (1 - 1 / delta) * (1 - theta), (1 - 1 / delta) * (1 - 1 / theta))


def b4_corrected_coefficients(delta: sp.Expr = DELTA, theta: sp.Expr = THETA) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """A valid variant for ``0 < d <= 1``: bound ``||b+c||^2`` from *above* before multiplying by ``1 - 1/d <= 0``.

    ``||a+b+c||^2 >= (1-d)||a||^2 + (1-1/d)(1+t)||b||^2 + (1-1/d)(1+1/t)||c||^2``.
    """
    return (1 - delta, (1 - 1 / delta) * (1 + theta), (1 - 1 / delta) * (1 + 1 / theta))


def b4_matrix(coeffs: Sequence[sp.Expr]) -> sp.Matrix:
    """``M = 1 1^T - diag(d)``: the inequality ``||a+b+c||^2 >= sum d_i ||v_i||^2`` holds for all
    vectors iff ``M`` is positive semidefinite (the vector form is ``M (x) I``)."""
    d = list(coeffs)
    return sp.ones(3, 3) - sp.diag(*d)


def b4_principal_minors(coeffs: Sequence[sp.Expr] | None = None) -> dict[str, sp.Expr]:
    """All principal minors of ``M``, factored. PSD iff all are >= 0."""
    M = b4_matrix(b4_coefficients() if coeffs is None else coeffs)
    out = {}
    for k in (1, 2, 3):
        for idx in combinations(range(3), k):
            out["M" + "".join(str(i + 1) for i in idx)] = sp.factor(sp.simplify(M.extract(list(idx), list(idx)).det()))
    return out


def b4_young_identity_residual(delta: sp.Expr = DELTA, theta: sp.Expr = THETA) -> sp.Expr:
    """The proof of Lemma B.4 as a sum-of-squares identity (scalars; vectors coordinate-wise)::

        (a+b+c)^2 - [(1-d) a^2 + (1-1/d)(1-t) b^2 + (1-1/d)(1-1/t) c^2]
            = (sqrt(d) a + (b+c)/sqrt(d))^2 + (1 - 1/d) (sqrt(t) b + c/sqrt(t))^2

    Returns LHS - RHS of that identity (0 when it holds). It needs ``d > 0`` and ``t > 0`` for the
    square roots; the first square is >= 0 always; the second term is >= 0 **only if** ``1 - 1/d >= 0``,
    i.e. ``d >= 1`` -- the proof multiplies a lower bound by ``1 - 1/d`` without checking its sign.
    """
    a, b, c = sp.symbols("a b c", real=True)
    d1, d2, d3 = b4_coefficients(delta, theta)
    lhs = (a + b + c) ** 2 - (d1 * a ** 2 + d2 * b ** 2 + d3 * c ** 2)
    rhs = (sp.sqrt(delta) * a + (b + c) / sp.sqrt(delta)) ** 2 + (1 - 1 / delta) * (sp.sqrt(theta) * b + c / sp.sqrt(theta)) ** 2
    return sp.simplify(sp.expand(lhs - rhs))


def b4_validity_condition() -> dict[str, Any]:
    """Exact region where Lemma B.4 holds, from the principal minors (for d, t > 0).

    The minors are ``M1 = d``, ``M2 = (1 - t + d t)/d``, ``M3 = (d + t - 1)/(d t)``,
    ``M12 = (d - 1) t``, ``M13 = (d - 1)/t``, ``M23 = (d - 1)(t - 1)^2/(d^2 t)``, ``M123 = 0``.
    ``M12 >= 0`` forces ``d >= 1``, and for ``d >= 1`` every minor is >= 0. Hence: Lemma B.4 holds
    iff ``delta >= 1`` (any theta > 0); it is false for every ``0 < delta < 1``.
    """
    minors = b4_principal_minors()
    # d >= 1 is necessary: M12 = (d-1) t
    m12 = minors["M12"]
    necessary = sp.solveset(m12 >= 0, DELTA, sp.Interval.open(0, sp.oo))
    # sufficiency: substitute d = 1 + u (u >= 0) and check each minor is a ratio of polynomials with nonnegative coefficients
    u = sp.Symbol("u", nonnegative=True)
    suff = {}
    for name, m in minors.items():
        e = sp.cancel(sp.together(m.subs(DELTA, 1 + u)))
        num, den = sp.fraction(e)
        ok = True
        for part in (num, den):
            part = sp.expand(part)
            if part.is_number:
                ok &= bool(part >= 0)
            else:
                # t - 1 may appear squared; expand (t-1)^2 is not coefficient-positive, so accept squares explicitly
                f = sp.factor_list(part)
                ok &= bool(f[0] >= 0) and all(
                    (mult % 2 == 0) or all(c >= 0 for c in sp.Poly(base, *sorted(base.free_symbols, key=str)).coeffs())
                    for base, mult in f[1])
        suff[name] = ok
    return {"minors": minors, "necessary_region_delta": necessary, "sufficient_for_delta_ge_1": suff,
            "holds_iff": sp.Ge(DELTA, 1)}


def _nonneg_poly_or_square(part: sp.Expr) -> bool:
    """Sufficient test that a polynomial in positive symbols is >= 0: every odd-multiplicity factor
    has nonnegative coefficients (even powers are squares)."""
    part = sp.expand(part)
    if part.is_number:
        return bool(part >= 0)
    const, factors = sp.factor_list(part)
    return bool(const >= 0) and all(
        (mult % 2 == 0) or all(c >= 0 for c in sp.Poly(base, *sorted(base.free_symbols, key=str)).coeffs())
        for base, mult in factors)


def b4_validity_region(coeffs_fn: Callable[[sp.Expr, sp.Expr], Sequence[sp.Expr]] | None = None) -> dict[str, Any]:
    """Derive the set of delta > 0 where the inequality with coefficients ``coeffs_fn(delta, theta)``
    holds for every theta > 0 (and every a, b, c), from the principal minors of ``M``.

    Necessity: a minor whose sign, after dropping factors positive for positive symbols and squares,
    depends on delta alone must be >= 0; each such minor gives a set of delta (``solveset``), and the
    region is contained in their intersection ``N``. Sufficiency: map ``N`` onto ``u >= 0``
    (``delta = inf N + u`` if ``N`` is unbounded above, ``delta = sup N / (1 + u)`` if ``inf N = 0``) and show
    every minor's numerator and denominator is nonnegative there (coefficient signs, squares allowed).
    Returns ``{"minors", "necessary", "deciding_minors", "sufficient", "region", "condition"}``;
    ``region`` is ``N`` when sufficiency is proved, else None (the condition is then only necessary).
    """
    coeffs_fn = b4_coefficients if coeffs_fn is None else coeffs_fn
    minors = b4_principal_minors(coeffs_fn(DELTA, THETA))
    positive = sp.Interval.open(0, sp.oo)
    necessary: sp.Set = positive
    deciding = []
    for name, m in minors.items():
        m = sp.factor(sp.together(m))
        if m == 0:
            continue
        num, den = sp.fraction(m)
        sign_factors, const = [], sp.Integer(1)
        for part in (num, den):
            c, fl = sp.factor_list(part)
            const *= c
            for base, mult in fl:
                if mult % 2 == 0 or base.is_positive:
                    continue
                sign_factors.append(base)
        if not sign_factors:
            if const < 0:           # negative for every delta: the inequality fails everywhere
                necessary = sp.S.EmptySet
                deciding.append(name)
            continue
        if any(f.free_symbols - {DELTA} for f in sign_factors):
            continue
        cond = sp.Mul(const, *sign_factors)
        region = sp.solveset(cond >= 0, DELTA, positive)
        necessary = sp.Intersection(necessary, region)
        deciding.append(name)
    u = sp.Symbol("u", nonnegative=True)
    sub = None
    if necessary == positive:
        sub = sp.Symbol("u", positive=True)
    elif isinstance(necessary, sp.Interval) and necessary.sup == sp.oo and necessary.inf > 0:
        sub = necessary.inf + u
    elif isinstance(necessary, sp.Interval) and necessary.inf == 0 and necessary.sup.is_finite:
        sub = necessary.sup / (1 + u)
    sufficient = {}
    if sub is not None:
        for name, m in minors.items():
            num, den = sp.fraction(sp.cancel(sp.together(m.subs(DELTA, sub))))
            sufficient[name] = _nonneg_poly_or_square(num) and _nonneg_poly_or_square(den)
    proved = bool(sufficient) and all(sufficient.values())
    return {"minors": minors, "necessary": necessary, "deciding_minors": deciding, "sufficient": sufficient,
            "region": necessary if proved else None, "condition": necessary.as_relational(DELTA)}


def region_text(region: sp.Set) -> str:
    """``delta >= 1``-style text for a set of delta > 0 (generated from the computed set, for reports)."""
    if region == sp.Interval.open(0, sp.oo):
        return "delta > 0 (every delta)"
    if region == sp.S.EmptySet:
        return "no delta > 0"
    if isinstance(region, sp.Interval) and region.sup == sp.oo:
        return f"delta {'>' if region.left_open else '>='} {sp.sstr(region.inf)}"
    if isinstance(region, sp.Interval) and region.inf == 0:
        return f"0 < delta {'<' if region.right_open else '<='} {sp.sstr(region.sup)}"
    return sp.sstr(region.as_relational(DELTA))


def b4_witness(delta: sp.Expr, theta: sp.Expr,
               coeffs_fn: Callable[[sp.Expr, sp.Expr], Sequence[sp.Expr]] = b4_coefficients) -> dict[str, Any] | None:
    """A violating triple ``(a, b, c)`` (scalars) at the given (delta, theta), or None if the form is PSD there.

    Uses the two explicit witnesses ``(1, 0, -1)`` (a + c = 0) and ``(1, -1, 0)`` (a + b = 0), which
    together cover all ``0 < delta < 1``, and otherwise an eigenvector of the most negative eigenvalue.
    """
    d = coeffs_fn(delta, theta)
    M = b4_matrix(d)
    for v in ((1, 0, -1), (1, -1, 0), (0, 1, -1)):
        vec = sp.Matrix(v)
        val = sp.nsimplify((vec.T * M * vec)[0])
        if val < 0:
            return {"a": v[0], "b": v[1], "c": v[2], "lhs": (sum(v)) ** 2,
                    "rhs": sp.nsimplify(sum(d[i] * v[i] ** 2 for i in range(3))), "lhs_minus_rhs": val}
    ev = M.eigenvects()
    neg = [(val, vecs) for val, _, vecs in ev if sp.N(val) < 0]
    if not neg:
        return None
    val, vecs = min(neg, key=lambda p: sp.N(p[0]))
    v = [sp.nsimplify(x) for x in vecs[0]]
    return {"a": v[0], "b": v[1], "c": v[2], "lhs": sp.simplify(sum(v) ** 2),
            "rhs": sp.simplify(sum(d[i] * v[i] ** 2 for i in range(3))), "lhs_minus_rhs": sp.simplify((sp.Matrix(v).T * M * sp.Matrix(v))[0])}


def b4_holds_at(delta: sp.Expr, theta: sp.Expr,
                coeffs_fn: Callable[[sp.Expr, sp.Expr], Sequence[sp.Expr]] = b4_coefficients) -> bool:
    """Exact PSD test of ``M`` at rational (delta, theta)."""
    return bool(b4_matrix(coeffs_fn(delta, theta)).is_positive_semidefinite)


def judge_three_vector_inequality(coeffs_fn: Callable[[sp.Expr, sp.Expr], Sequence[sp.Expr]] = b4_coefficients,
                                  points: Sequence[tuple[sp.Expr, sp.Expr]] | None = None) -> dict[str, Any]:
    """Does ``||a+b+c||^2 >= sum_i d_i(delta, theta) ||v_i||^2`` hold at each (delta, theta) point?

    Exact rational arithmetic (PSD test of ``M``). Default points: the proof's delta = theta = 3/4
    and a grid over (0, 2]^2. Returns the failures with witnesses.
    """
    if points is None:
        grid = [sp.Rational(k, 4) for k in range(1, 9)]
        points = [(sp.Rational(3, 4), sp.Rational(3, 4))] + [(d, t) for d in grid for t in grid]
    fails = []
    for d, t in points:
        if not b4_holds_at(d, t, coeffs_fn):
            fails.append({"delta": d, "theta": t, "witness": b4_witness(d, t, coeffs_fn)})
    return {"n_points": len(points), "n_fail": len(fails), "failures": fails, "holds": not fails}


# ------------------------------------------------------------------------------------- Lemma B.2
_P2, _Q2 = sp.symbols("p q", positive=True)


def pinsker_gap_n2(const: sp.Expr = 2) -> sp.Expr:
    """``const * KL((p,1-p) || (q,1-q)) - ||p - q||_1^2`` for n = 2 (``||.||_1 = 2|p - q|``)."""
    p, q = _P2, _Q2
    kl = p * sp.log(p / q) + (1 - p) * sp.log((1 - p) / (1 - q))
    return const * kl - 4 * (p - q) ** 2


def pinsker_derivative_n2(const: sp.Expr = 2) -> sp.Expr:
    """``d/dq`` of :func:`pinsker_gap_n2`, factored: ``2 (q - p)(2q - 1)^2 / (q (1 - q))`` for const = 2."""
    return sp.factor(sp.simplify(sp.diff(pinsker_gap_n2(const), _Q2)))


def pinsker_n2_factorisation_residual(const: sp.Expr = 2) -> sp.Expr:
    """Residual of ``d/dq gap = (q - p) * [const/(q(1-q)) - 8]``; with const = 2 the bracket is
    ``2(2q-1)^2/(q(1-q)) >= 0``, so the gap decreases then increases in q, with minimum 0 at q = p."""
    p, q = _P2, _Q2
    target = (q - p) * (const / (q * (1 - q)) - 8)
    return sp.simplify(sp.diff(pinsker_gap_n2(const), q) - target)
