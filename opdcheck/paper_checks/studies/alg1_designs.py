"""Shared pieces of the Algorithm 1 checks (not a check: the registry skips ``_`` modules).

* :func:`rational_design` -- a seeded instance with an exactly known rational saddle point (inverse
  design, :func:`opdcheck.theory.linearization.inverse_design_rational`), so every rate can be certified.
* :func:`exact_fraction` -- the exact rational value of a float step (``Fraction(float)`` is exact), so
  a certificate describes the very step the float run used.
* :data:`CERT_METHOD` -- method name (any alias) -> linearised method of ``theory.linearization`` (from the registry).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from opdcheck.methods import all_methods
from opdcheck.theory.linearization import RationalDesign, inverse_design_rational
from opdcheck.tolerances import ALG1_RATE_ATOL

#: the configurations whose linearisation ``theory.linearization`` knows (one-shot: alternating, eta_th = 0),
#: read from the methods registry
CERT_METHOD = {name: m.linearized_as for m in all_methods() if m.linearized_as for name in (m.name, *m.aliases)}


def rate_matches_radius(rate: float, radius_sq: float) -> bool:
    """A measured tail rate of e_t equals the certified spectral radius squared to ALG1_RATE_ATOL (fig-1-toy and
    alg-1-unification both judge with this one function)."""
    return bool(np.isfinite(rate) and abs(rate - radius_sq) <= ALG1_RATE_ATOL)


def exact_fraction(x: float) -> Fraction:
    """The exact binary value of a float as a Fraction."""
    return Fraction(float(x))


def rational_design(seed: int, X: int = 2, n: int = 3, h: int = 2, beta: Fraction = Fraction(1, 10),
                    lam_scale: int = 4) -> RationalDesign:
    """Seeded inverse design: ``pi*`` rows from integer weights 1..7, ``lam*_j = k/lam_scale`` with
    ``k in 1..6`` (all active), hard rewards ``G`` and one soft reward with entries ``k/10``, ``|k| <= 10``."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"rational_design: seed = {seed!r}; pass a non-negative integer.")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), X, n, h, 9]))
    pis = []
    for _ in range(X):
        w = rng.integers(1, 8, size=n)
        pis.append([Fraction(int(v), int(w.sum())) for v in w])
    lam = [Fraction(int(rng.integers(1, 7)), lam_scale) for _ in range(h)]
    G = [[[Fraction(int(rng.integers(-10, 11)), 10) for _ in range(n)] for _ in range(X)] for _ in range(h)]
    Rs = [[[Fraction(int(rng.integers(-10, 11)), 10) for _ in range(n)] for _ in range(X)]]
    return inverse_design_rational(pis, lam, G, beta, R_soft=Rs, name=f"rational-design(seed={seed}, beta={beta})")


def first_below(error: np.ndarray, ratio: float) -> int | None:
    """First ``t`` with ``error_t <= ratio * error_0`` (None if never)."""
    e = np.asarray(error, dtype=float)
    hit = np.flatnonzero(e <= ratio * e[0])
    return int(hit[0]) if hit.size else None
