"""Exact Schur–Cohn test (opdcheck/theory/schur_cohn.py): agreement with numpy roots, boundary
cases, negative controls (a root just outside the circle must never be certified stable)."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from opdcheck.theory.schur_cohn import (as_fractions, cauchy_bound, is_schur_stable, radius_at_least,
                                        radius_below, radius_enclosure, schur_cohn_rows)

# numpy's roots are accurate to ~1e-12 for these small integer polynomials away from multiple roots;
# a case whose numpy radius is within this of 1 is undecidable by numpy and skipped (the exact test
# is not: see test_roots_on_the_circle).
NUMPY_UNDECIDABLE = 1e-9


def _random_poly(rng: np.random.Generator) -> list[F]:
    d = int(rng.integers(1, 7))
    num = [int(v) for v in rng.integers(-20, 21, size=d + 1)]
    if num[0] == 0:
        num[0] = int(rng.choice([-1, 1]))
    den = [int(v) for v in rng.integers(1, 13, size=d + 1)]
    return [F(a, b) for a, b in zip(num, den)]


def _numpy_radius(coeffs: list[F]) -> float:
    return float(np.max(np.abs(np.roots([float(c) for c in coeffs]))))


def test_agrees_with_numpy_roots_on_random_rational_polynomials():
    rng = np.random.default_rng(20261127)
    checked = skipped = 0
    for _ in range(3000):
        p = _random_poly(rng)
        r = _numpy_radius(p)
        if abs(r - 1) < NUMPY_UNDECIDABLE:
            skipped += 1  # numerically undecidable by numpy (e.g. an exact root at +-1)
            continue
        assert is_schur_stable(p) == (r < 1), (p, r)
        checked += 1
    assert checked >= 2900, (checked, skipped)


def test_radius_below_agrees_with_numpy_at_other_radii():
    rng = np.random.default_rng(7)
    for _ in range(500):
        p = _random_poly(rng)
        r_np = _numpy_radius(p)
        r = F(int(rng.integers(1, 40)), 10)
        if abs(r_np - float(r)) < NUMPY_UNDECIDABLE * max(1.0, r_np):
            continue
        assert radius_below(p, r) == (r_np < float(r))
        assert radius_at_least(p, r) == (not radius_below(p, r))


def test_enclosure_contains_numpy_radius():
    rng = np.random.default_rng(11)
    tol = F(1, 10**6)
    for _ in range(150):
        p = _random_poly(rng)
        lo, hi = radius_enclosure(p, tol)
        r = _numpy_radius(p)
        assert hi - lo <= tol
        assert float(lo) - 1e-9 <= r <= float(hi) + 1e-9, (p, lo, hi, r)


def test_root_just_outside_the_circle_is_not_certified_stable():
    # negative control: z - (1 + 1e-6), alone and hidden among stable factors
    eps = F(1, 10**6)
    assert not is_schur_stable([1, -(1 + eps)])
    p = _mul(_mul([F(1), F(-1, 2)], [F(1), F(2, 3)]), [F(1), -(1 + eps)])
    assert not is_schur_stable(p)
    lo, hi = radius_enclosure(p, F(1, 10**9))
    assert lo <= 1 + eps < hi and lo > 1
    # and a complex pair just outside: z^2 - 2 Re(w) z + |w|^2, |w|^2 = 1 + 1e-6
    assert not is_schur_stable([1, F(-1, 1), 1 + eps])
    # the mirror images just inside are stable
    assert is_schur_stable([1, -(1 - eps)])
    assert is_schur_stable([1, F(-1, 1), 1 - eps])


def test_roots_on_the_circle_are_not_strictly_stable():
    for p in ([1, -1], [1, 1], [1, 0, 1], [1, -1, 1], [1, 0, 0, -1], _mul([1, 0, 1], [1, F(-1, 3)])):
        assert not is_schur_stable(p), p
        assert not radius_below(p, 1)
        assert radius_below(p, 1 + F(1, 10**9))
        lo, hi = radius_enclosure(p, F(1, 10**6))
        assert lo <= 1 < hi


def test_zero_leading_entries_roots_at_zero_and_constants():
    assert as_fractions([0, 0, 1, F(-1, 2)]) == [F(1), F(-1, 2)]
    assert is_schur_stable([0, 0, 2, -1])
    assert is_schur_stable([1, 0, 0])  # z^2: both roots at 0
    lo, hi = radius_enclosure([1, 0, 0], F(1, 1000))
    assert lo == 0 and hi <= F(1, 1000)
    assert is_schur_stable([5])  # a non-zero constant has no roots
    assert radius_enclosure([5], F(1, 10)) == (0, 0)
    # a middle coefficient that vanishes in the recursion: z^3 - 1/8 (roots of modulus 1/2)
    lo, hi = radius_enclosure([1, 0, 0, F(-1, 8)], F(1, 10**6))
    assert lo <= F(1, 2) < hi


def test_scaling_radius_tests():
    assert not radius_below([1, -2], 2) and radius_below([1, -2], 2 + F(1, 10**12))
    lo, hi = radius_enclosure([1, 0, -2], F(1, 10**8))  # +-sqrt(2)
    assert float(lo) <= 2**0.5 <= float(hi)
    assert cauchy_bound([1, -2]) == 3


def test_rows_are_the_schur_transforms():
    stable, rows = schur_cohn_rows([F(1), F(-1, 2)])
    assert stable and len(rows[-1]) == 1
    stable, rows = schur_cohn_rows([1, 0, 1])
    assert not stable and len(rows) == 1  # stops at |a_0| = |a_n|


def test_bad_input_errors():
    with pytest.raises(ValueError, match="float"):
        is_schur_stable([1.0, -0.5])
    with pytest.raises(ValueError, match="zero polynomial"):
        is_schur_stable([0, 0])
    with pytest.raises(ValueError, match="positive"):
        radius_below([1, -1], 0)
    with pytest.raises(ValueError, match="not rational"):
        is_schur_stable([1, object()])


def _mul(p: list, q: list) -> list[F]:
    out = [F(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += F(a) * F(b)
    return out


def test_radius_enclosure_near_is_exact_whatever_the_estimate():
    from fractions import Fraction as F

    from opdcheck.theory.schur_cohn import radius_enclosure, radius_enclosure_near

    p = [1, 0, -2]  # radius sqrt(2)
    tol = F(1, 10**9)
    for est in (1.41421356, 1.5, 0.2, 10.0, float("nan")):
        lo, hi = radius_enclosure_near(p, est, tol)
        assert hi - lo <= tol and lo * lo <= 2 < hi * hi
    lo, hi = radius_enclosure_near([1, F(-1, 2)], 0.5, tol)
    assert lo <= F(1, 2) < hi
    assert radius_enclosure_near([3], 1.0, tol) == radius_enclosure([3], tol)


def test_radius_enclosure_with_an_estimate_is_the_bisections_own_bracket():
    """The estimate only picks which cell of the bisection grid to certify first: the bracket is the one the
    plain bisection returns, for good, slightly off, far off and missing estimates (then it bisects)."""
    rng = np.random.default_rng(17)
    tol = F(1, 10**6)
    for _ in range(60):
        p = _random_poly(rng)
        plain = radius_enclosure(p, tol)
        r = _numpy_radius(p)
        for est in (r, r + 1e-9, r - 1e-9, r + 1e-3, 0.5 * r, 3.0 * r + 1.0, -1.0, float("nan"), float("inf")):
            assert radius_enclosure(p, tol, estimate=est) == plain
    # a radius exactly on a grid point (the cell's lower end): radius 1/2 with Cauchy bound 3/2
    p = [F(1), F(-1, 2)]
    assert radius_enclosure(p, tol, estimate=0.5) == radius_enclosure(p, tol)
    assert radius_enclosure([F(3)], tol, estimate=1.0) == (F(0), F(0))


def test_an_inconsistent_radius_test_is_an_error_not_a_hang(monkeypatch):
    """Cauchy's bound is strict, so an exact test that puts the radius above it is broken: radius_enclosure says so
    at once (it used to double the bound for as long as the test disagreed, i.e. forever)."""
    from fractions import Fraction

    from opdcheck.theory import schur_cohn

    monkeypatch.setattr(schur_cohn, "radius_below", lambda c, r: False)
    with pytest.raises(ArithmeticError, match="Cauchy's bound"):
        schur_cohn.radius_enclosure([1, Fraction(-1, 2)], Fraction(1, 1000))
