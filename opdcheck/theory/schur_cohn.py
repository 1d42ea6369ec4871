"""Exact Schur–Cohn (Jury) stability test over the rationals, and certified spectral-radius enclosures.

Everything here is exact rational arithmetic (Python integers and :class:`fractions.Fraction`);
floats are refused, so a certificate never depends on rounding.

Conventions
-----------
A polynomial is a sequence of coefficients, **highest degree first** (as ``numpy.roots``):
``[a_n, ..., a_1, a_0]`` is ``p(z) = a_n z^n + ... + a_1 z + a_0``. Entries may be ``int``,
``Fraction``, sympy ``Rational``/``Integer`` or decimal strings (``"0.25"``, ``"1/3"``).
Leading zeros are stripped. The *spectral radius* of ``p`` is ``max |z|`` over its complex roots
(``0`` for a non-zero constant, which has no roots). The zero polynomial is an error.

The algorithm (Schur 1917, Cohn 1922; Jury's table lists the same rows)
----------------------------------------------------------------------
For ``p`` of degree ``n`` with real coefficients let ``p^*(z) = z^n p(1/z)`` (the coefficients
reversed) and define the Schur transform

    T p (z) = ( a_n p(z) - a_0 p^*(z) ) / z ,

a polynomial of degree ``<= n - 1`` whose leading coefficient is ``a_n^2 - a_0^2``.

*Theorem (Schur–Cohn).* If ``|a_0| < |a_n|`` then ``p`` has all its roots in the open unit disc
iff ``T p`` does. If ``|a_0| >= |a_n|`` then ``p`` has a root with ``|z| >= 1`` (the product of the
root moduli is ``|a_0 / a_n| >= 1``), so it is not Schur stable.

(Proof of the first part: on ``|z| = 1``, ``|p^*(z)| = |p(z)|``, so ``|a_0 p^*| < |a_n p|`` there
and by Rouché ``a_n p - a_0 p^* = z T p`` has as many roots inside the disc as ``a_n p``.)

The test applies ``T`` until a constant remains, failing as soon as ``|a_0| >= |a_n|``. Each
transformed polynomial is a row pair of Jury's table. We work fraction-free: the coefficients are
scaled to coprime integers once, and every transformed row is divided by the gcd of its entries
(a positive constant factor changes no root), which keeps the integers small.

Boundary and singular cases (documented, and tested):

* **Roots exactly on the unit circle.** Then at some stage ``|a_0| = |a_n|`` (Jury's "singular"
  table: the next row's leading entry ``a_n^2 - a_0^2`` would vanish). We do *not* continue the
  table with the usual epsilon perturbation, because we never need to count roots inside and
  outside: we only decide "all roots strictly inside", and equality already proves it false
  (the product of the moduli is ``>= 1``). So ``is_schur_stable(z - 1)`` and ``is_schur_stable(z^2 + 1)``
  are ``False``, as they must be.
* **Zero leading entries.** Leading zero coefficients of the input are stripped (they do not
  define roots). Inside the recursion the leading entry ``a_n^2 - a_0^2`` is ``> 0`` whenever we
  continue, so the degree drops by exactly one per stage and no leading entry is ever zero.
* **Roots at zero** (``a_0 = 0``): ``|a_0| < |a_n|`` holds and ``T p = a_n p / z`` just removes
  one root at zero, which is correct.

Radius tests and enclosures
---------------------------
``radius_below(p, r)`` decides "every root has ``|z| < r``" exactly by the substitution
``z = r w``: the roots of ``q(w) = p(r w)`` (coefficients ``a_k r^k``) are the roots of ``p``
divided by ``r``. Its negation certifies ``radius >= r``. ``radius_enclosure`` bisects on
rationals between ``0`` and the Cauchy bound ``1 + max_k |a_k / a_n|`` and returns ``(lo, hi)`` with
``lo <= radius < hi`` and ``hi - lo <= tol``, both sides certified by the exact test.

Examples
--------
>>> from fractions import Fraction as F
>>> is_schur_stable([1, F(-1, 2)]), is_schur_stable([1, 0, 1]), is_schur_stable([1, -1 - F(1, 10**6)])
(True, False, False)
>>> lo, hi = radius_enclosure([1, 0, -2], F(1, 10**6))   # roots +-sqrt(2)
>>> lo <= F(14142135, 10**7) <= hi
True
"""
from __future__ import annotations

from fractions import Fraction
from math import gcd
from numbers import Rational
from typing import Iterable, Sequence

__all__ = ["as_fractions", "is_schur_stable", "radius_below", "radius_at_least", "radius_enclosure",
           "cauchy_bound", "schur_cohn_rows", "radius_enclosure_near"]


def _to_fraction(value: object, index: int) -> Fraction:
    if isinstance(value, bool):
        raise ValueError(f"coefficient [{index}] = {value!r} is a bool; pass an int or Fraction.")
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    if isinstance(value, float):
        raise ValueError(
            f"coefficient [{index}] = {value!r} is a float; exact tests need rationals. "
            f"Pass Fraction({value!r}) (its exact binary value) or Fraction('{value!r}') (its decimal).")
    if isinstance(value, str):
        try:
            return Fraction(value)
        except ValueError:
            raise ValueError(f"coefficient [{index}] = {value!r} is not a rational literal; "
                             "pass e.g. '3/7' or '0.25'.") from None
    # sympy Integer/Rational (duck-typed so this module does not import sympy)
    p, q = getattr(value, "p", None), getattr(value, "q", None)
    if isinstance(p, int) and isinstance(q, int) and getattr(value, "is_Rational", False):
        return Fraction(p, q)
    if isinstance(value, Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    raise ValueError(f"coefficient [{index}] = {value!r} (type {type(value).__name__}) is not rational; "
                     "pass int, Fraction, sympy Rational or a rational string.")


def as_fractions(coeffs: Iterable[object]) -> list[Fraction]:
    """Coefficients (highest degree first) as Fractions with leading zeros stripped.

    Raises ValueError for floats, non-rationals and the zero polynomial.
    """
    out = [_to_fraction(c, i) for i, c in enumerate(coeffs)]
    while out and out[0] == 0:
        out.pop(0)
    if not out:
        raise ValueError("coeffs: the zero polynomial (or an empty list) has no spectral radius; "
                         "pass at least one non-zero coefficient, highest degree first.")
    return out


def _primitive_integers(coeffs: Sequence[Fraction]) -> list[int]:
    """Scale by a positive rational to coprime integers (roots unchanged)."""
    den = 1
    for c in coeffs:
        den = den * c.denominator // gcd(den, c.denominator)
    ints = [int(c * den) for c in coeffs]
    g = 0
    for v in ints:
        g = gcd(g, v)
    return [v // g for v in ints] if g > 1 else ints


def schur_cohn_rows(coeffs: Iterable[object]) -> tuple[bool, list[list[int]]]:
    """Run the Schur–Cohn recursion; return ``(stable, rows)``.

    ``rows[k]`` is the k-th transformed polynomial (primitive integer coefficients, highest degree
    first); the recursion stops at the first row with ``|a_0| >= |a_n|`` (``stable`` is False) or
    at a constant (``stable`` is True). Exposed for tests and for showing the certificate.
    """
    p = _primitive_integers(as_fractions(coeffs))
    rows = [p]
    while len(p) > 1:
        an, a0 = p[0], p[-1]
        if abs(a0) >= abs(an):
            return False, rows
        # (a_n p - a_0 p^*) / z : the constant term cancels; p^* is p reversed.
        rev = p[::-1]
        t = [an * u - a0 * v for u, v in zip(p, rev)][:-1]
        g = 0
        for v in t:
            g = gcd(g, v)
        p = [v // g for v in t]  # leading entry an^2 - a0^2 > 0, so g > 0
        rows.append(p)
    return True, rows


def is_schur_stable(coeffs: Iterable[object]) -> bool:
    """True iff every root of the polynomial lies strictly inside the unit circle (exact).

    Algorithm: the Schur–Cohn recursion of the module docstring. A root on the circle gives
    False. A non-zero constant (no roots) is stable.
    """
    return schur_cohn_rows(coeffs)[0]


def _scaled(coeffs: Sequence[Fraction], r: Fraction) -> list[Fraction]:
    """Coefficients of ``q(w) = p(r w)`` (highest degree first)."""
    n = len(coeffs) - 1
    out = []
    power = Fraction(1)
    for k in range(n, -1, -1):  # a_k r^k, built from the constant term up
        out.append(coeffs[k] * power)
        power *= r
    return out[::-1]


def _as_radius(r: object, name: str = "r") -> Fraction:
    try:
        rf = _to_fraction(r, 0)
    except ValueError as exc:
        raise ValueError(f"{name} = {r!r}: {exc}") from None
    if rf <= 0:
        raise ValueError(f"{name} = {r!r}; pass a positive rational bound.")
    return rf


def radius_below(coeffs: Iterable[object], r: object) -> bool:
    """True iff every root ``z`` has ``|z| < r`` (exact; ``r`` a positive rational).

    Algorithm: Schur–Cohn on ``p(r w)``. ``not radius_below(p, r)`` certifies ``radius >= r``.
    """
    rf = _as_radius(r)
    return is_schur_stable(_scaled(as_fractions(coeffs), rf))


def radius_at_least(coeffs: Iterable[object], r: object) -> bool:
    """True iff some root has ``|z| >= r`` (the exact negation of :func:`radius_below`)."""
    return not radius_below(coeffs, r)


def cauchy_bound(coeffs: Iterable[object]) -> Fraction:
    """Cauchy's bound ``1 + max_k |a_k / a_n|``: every root has modulus strictly below it."""
    c = as_fractions(coeffs)
    if len(c) == 1:
        return Fraction(1)
    return 1 + max(abs(a / c[0]) for a in c[1:])


def radius_enclosure(coeffs: Iterable[object], tol: object,
                     estimate: float | None = None) -> tuple[Fraction, Fraction]:
    """Certified ``(lo, hi)`` with ``lo <= spectral radius < hi`` and ``hi - lo <= tol`` (absolute).

    Algorithm: bisection on rational midpoints between ``lo = 0`` and ``hi`` = Cauchy's bound; at
    each midpoint ``m`` the exact test :func:`radius_below` decides ``radius < m`` (then ``hi = m``)
    or ``radius >= m`` (then ``lo = m``). A constant polynomial (no roots) returns ``(0, 0)``; if
    every root is 0 the result is ``(0, hi)`` with ``hi <= tol``.

    ``estimate`` (optional, a float guess of the radius) only makes it cheaper, never different: the
    bisection ends in the cell of its dyadic grid that holds the radius, so the cell the estimate points
    to is tried first with two exact tests (:func:`_bisection_cell`); if they fail, the bisection runs.
    """
    c = as_fractions(coeffs)
    t = _as_radius(tol, "tol")
    if len(c) == 1:
        return Fraction(0), Fraction(0)
    lo, hi = Fraction(0), cauchy_bound(c)
    if not radius_below(c, hi):
        # Cauchy's bound is strictly above every root: the exact test contradicts it, so it is wrong (doubling hi
        # until it agreed would never end); say so instead of hanging
        raise ArithmeticError(f"radius_enclosure: the exact radius test says the spectral radius is >= Cauchy's bound "
                              f"{float(hi):.6g}, which bounds every root strictly; the Schur-Cohn test is inconsistent")
    cell = None if estimate is None else _bisection_cell(c, lo, hi, t, estimate)
    return cell if cell is not None else _bisect(c, lo, hi, t)


def _bisection_cell(c: Sequence[Fraction], lo: Fraction, hi: Fraction, t: Fraction,
                    estimate: float) -> tuple[Fraction, Fraction] | None:
    """The bracket :func:`_bisect` ``(c, lo, hi, t)`` returns, from a float estimate and two exact tests.

    The bisection halves ``[lo, hi)`` exactly ``K`` times (the least ``K`` with ``(hi - lo) / 2^K <= t``),
    keeping at each step the half that holds the radius ``r`` (``lo <= r < hi`` throughout), so it ends
    in the unique grid cell ``[lo + j w, lo + (j+1) w)``, ``w = (hi - lo) / 2^K``, that holds ``r``. Take
    ``j`` from the estimate and certify ``r < lo + (j+1) w`` and ``r >= lo + j w`` exactly (the second is
    given when ``j = 0``: ``lo`` is 0 or certified by the caller). ``None`` when either test fails (the
    estimate was off by more than the cell): the caller bisects.
    """
    if not (isinstance(estimate, (int, float)) and estimate == estimate and abs(estimate) != float("inf")):
        return None
    w, K = hi - lo, 0
    while w > t:
        w, K = w / 2, K + 1
    j = min(max(int((Fraction(float(estimate)) - lo) // w), 0), 2**K - 1)
    cell_lo, cell_hi = lo + j * w, lo + (j + 1) * w
    if radius_below(c, cell_hi) and (j == 0 or not radius_below(c, cell_lo)):
        return cell_lo, cell_hi
    return None


def _bisect(c: Sequence[Fraction], lo: Fraction, hi: Fraction, t: Fraction) -> tuple[Fraction, Fraction]:
    """Shrink a certified bracket ``lo <= radius < hi`` to width ``<= t`` by exact bisection."""
    while hi - lo > t:
        mid = (lo + hi) / 2
        if radius_below(c, mid):
            hi = mid
        else:
            lo = mid
    return lo, hi


def radius_enclosure_near(coeffs: Iterable[object], estimate: float, tol: object) -> tuple[Fraction, Fraction]:
    """Certified ``(lo, hi)`` with ``lo <= spectral radius < hi``, ``hi - lo <= tol``, seeded by a float
    ``estimate`` of the radius (e.g. from ``numpy.roots``).

    Algorithm: two exact tests on rationals with a small common denominator around ``estimate``
    (``radius < hi`` by :func:`radius_below`, ``radius >= lo`` by its negation); while either fails
    the bracket is widened 16-fold (at most 12 times, then :func:`radius_enclosure`), and a certified
    bracket wider than ``tol`` is bisected exactly. The float only chooses where to test: the
    enclosure is exact whatever it is. Two exact tests instead of ~35 bisection steps matters when
    the coefficients have hundreds of digits.
    """
    c = as_fractions(coeffs)
    t = _as_radius(tol, "tol")
    if len(c) == 1:
        return Fraction(0), Fraction(0)
    if not (isinstance(estimate, (int, float)) and estimate == estimate and abs(estimate) != float("inf")):
        return radius_enclosure(c, t)
    q = 1
    while Fraction(1, q) > t / 4:  # grid step <= tol/4
        q *= 2
    delta = t / 4
    est = Fraction(max(float(estimate), 0.0))
    for _ in range(12):
        lo = Fraction(int((est - delta) * q) if est - delta > 0 else 0, q)
        hi = Fraction(-int(-(est + delta) * q), q)
        if radius_below(c, hi) and (lo == 0 or not radius_below(c, lo)):
            return _bisect(c, lo, hi, t)
        delta *= 16
    return radius_enclosure(c, t)
