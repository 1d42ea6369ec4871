"""Printing a certified enclosure: rounded OUTWARD, so the printed interval still contains the truth.

A certificate proves ``lo <= x <= hi``; printing ``lo`` and ``hi`` rounded to nearest can cut the
true value out (``[0.924434, 0.924435]`` for a rate of 0.9244350851...). Every enclosure opdcheck prints
goes through :func:`format_enclosure`: the lower end is floored and the upper end ceiled at the
printed digits, in exact rational arithmetic (a float end is taken at its exact binary value).

Example:
    >>> from fractions import Fraction
    >>> format_enclosure(Fraction(9244350851, 10**10), Fraction(9244350852, 10**10), 6)
    '[0.924435, 0.924436]'
    >>> format_enclosure(0.1, 0.2, 3)
    '[0.100, 0.201]'
    >>> outward(-1.25, 1.25, 1)
    (Fraction(-13, 10), Fraction(13, 10))
"""
from __future__ import annotations

import math
from fractions import Fraction
from numbers import Rational
from typing import Any

__all__ = ["exact", "outward", "format_enclosure", "format_bound"]


def exact(v: Any) -> Fraction:
    """The exact rational value of ``v`` (Fraction, int, float at its binary value, a sympy Rational,
    or a decimal string); ValueError for NaN, infinities and anything else."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, Rational)) and not isinstance(v, bool):
        return Fraction(v)
    if hasattr(v, "p") and hasattr(v, "q"):  # sympy Rational / Integer
        return Fraction(int(v.p), int(v.q))
    if isinstance(v, str):
        return Fraction(v)
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"enclosure end {v!r} is not finite; an enclosure needs finite ends.")
    return Fraction(f)


def outward(lo: Any, hi: Any, places: int) -> tuple[Fraction, Fraction]:
    """``(floor(lo), ceil(hi))`` at ``places`` decimal places, exactly."""
    if places < 0:
        raise ValueError(f"places = {places}; pass a number of decimal places >= 0.")
    a, b = exact(lo), exact(hi)
    if a > b:
        raise ValueError(f"enclosure [{float(a)!r}, {float(b)!r}] has lo > hi; pass the ends in order.")
    scale = 10 ** places
    return Fraction(math.floor(a * scale), scale), Fraction(math.ceil(b * scale), scale)


def _decimal(q: Fraction, places: int) -> str:
    """A rational with denominator dividing 10**places, written with exactly ``places`` decimals."""
    scale = 10 ** places
    n = q.numerator * (scale // q.denominator)
    sign = "-" if n < 0 else ""
    n = abs(n)
    whole, frac = divmod(n, scale)
    return f"{sign}{whole}" + (f".{frac:0{places}d}" if places else "")


def format_enclosure(lo: Any, hi: Any, places: int = 6) -> str:
    """``"[lo, hi]"`` with the ends rounded outward at ``places`` decimals (see the module docstring)."""
    a, b = outward(lo, hi, places)
    return f"[{_decimal(a, places)}, {_decimal(b, places)}]"


def format_bound(v: Any, places: int = 6, *, direction: str) -> str:
    """One certified end: ``direction="lower"`` floors it, ``"upper"`` ceils it (e.g. ``r^2 >= 0.998504``)."""
    if direction not in ("lower", "upper"):
        raise ValueError(f"direction = {direction!r}; choose 'lower' or 'upper'.")
    a, b = outward(v, v, places)
    return _decimal(a if direction == "lower" else b, places)
