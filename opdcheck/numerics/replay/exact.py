"""Independent replays of the symbolic checks' witnesses: exact ``fractions.Fraction`` arithmetic
(and mpmath at 50 digits where a logarithm is unavoidable), written apart from sympy and from the
code that found the witness.

A REFUTED finding carries a :class:`~opdcheck.numerics.replay.witness.Witness`: ``confirms`` (the
replay reproduces the violation), ``agrees`` (the replay's value equals the value the code under
suspicion reported). Each function here runs its replay and returns a Witness with both values, so
that the report shows both.

The statements are transcribed again here, from the paper, in plain Python (no sympy):

* Lemma B.4 (App. B): ``||a+b+c||^2 >= (1-d)||a||^2 + (1-1/d)(1-t)||b||^2 + (1-1/d)(1-1/t)||c||^2``.
* The multipliers ``a1 = eta_th + beta`` and ``a3 = eta_lam + K (1 - delta)``, ``K = eta_lam - h R^2/C``
  of the potential in the proof of Thm 3.4 (App. C, after eq. (45)).
* A 2x2 real update block: its eigenvalues' squared moduli from trace and determinant.
"""
from __future__ import annotations

from fractions import Fraction
from itertools import combinations
from typing import Any, Callable, Sequence

import mpmath

from opdcheck.numerics.replay.witness import Witness, _from_flat

__all__ = ["as_fraction", "b4_printed_coefficients", "b4_sides", "psd_by_minors", "replay_b4_witness",
           "b4_transcription_agrees", "potential_a1_a3", "replay_max_vs_min", "block2_max_modulus_sq",
           "replay_block_witness", "replay_pinsker_pair", "replay_denominators", "replay_b8_residual"]

_MP_DIGITS = 50


def as_fraction(x: Any) -> Fraction:
    """An exact Fraction from an int, a Fraction or a sympy Rational (via its string, not sympy's arithmetic)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    s = str(x)
    try:
        return Fraction(s)
    except ValueError as exc:
        raise ValueError(f"as_fraction: {x!r} is not an exact rational; pass an int, Fraction or sympy Rational.") from exc


# -------------------------------------------------------------------------------- Lemma B.4
def b4_printed_coefficients(delta: Fraction, theta: Fraction) -> tuple[Fraction, Fraction, Fraction]:
    """Lemma B.4 as printed, in Fractions: ``(1 - d, (1 - 1/d)(1 - t), (1 - 1/d)(1 - 1/t))``."""
    d, t = as_fraction(delta), as_fraction(theta)
    if d <= 0 or t <= 0:
        raise ValueError(f"b4_printed_coefficients: delta = {d}, theta = {t}; the lemma is stated for delta, theta > 0.")
    return (1 - d, (1 - 1 / d) * (1 - t), (1 - 1 / d) * (1 - 1 / t))


def b4_sides(coeffs: Sequence[Fraction], v: Sequence[Fraction]) -> tuple[Fraction, Fraction]:
    """``(lhs, rhs) = ((a+b+c)^2, sum_i d_i v_i^2)`` for scalars ``v = (a, b, c)`` (vectors coordinate-wise)."""
    a, b, c = (as_fraction(x) for x in v)
    d = [as_fraction(x) for x in coeffs]
    return (a + b + c) ** 2, d[0] * a * a + d[1] * b * b + d[2] * c * c


def _det(m: list[list[Fraction]]) -> Fraction:
    if len(m) == 1:
        return m[0][0]
    if len(m) == 2:
        return m[0][0] * m[1][1] - m[0][1] * m[1][0]
    return sum(((-1) ** j) * m[0][j] * _det([row[:j] + row[j + 1:] for row in m[1:]]) for j in range(len(m)))


def psd_by_minors(coeffs: Sequence[Fraction]) -> tuple[bool, dict[str, Fraction]]:
    """Is ``M = 1 1^T - diag(d)`` positive semidefinite? All principal minors >= 0 (exact, Fractions)."""
    d = [as_fraction(x) for x in coeffs]
    M = [[Fraction(1) - (d[i] if i == j else 0) for j in range(3)] for i in range(3)]
    minors = {}
    for k in (1, 2, 3):
        for idx in combinations(range(3), k):
            minors["M" + "".join(str(i + 1) for i in idx)] = _det([[M[i][j] for j in idx] for i in idx])
    return all(m >= 0 for m in minors.values()), minors


def replay_b4_witness(delta: Any, theta: Any, v: Sequence[Any], reported_gap: Any,
                      coeffs_fn: Callable[[Fraction, Fraction], Sequence[Any]] = b4_printed_coefficients) -> Witness:
    """Replay ``lhs - rhs`` of Lemma B.4 at ``(delta, theta)`` and ``v = (a, b, c)`` in Fractions.

    ``coeffs_fn`` is evaluated on Fractions (plain arithmetic: the paper's transcription above by default,
    or the claim under test when a check is given one). ``confirms``: ``lhs < rhs``; ``agrees``: the
    replayed ``lhs - rhs`` equals ``reported_gap`` (the sympy value) exactly.
    """
    d, t = as_fraction(delta), as_fraction(theta)
    coeffs = [as_fraction(x) for x in coeffs_fn(d, t)]
    lhs, rhs = b4_sides(coeffs, v)
    gap = lhs - rhs
    reported = as_fraction(reported_gap)
    return _from_flat({"replayed": True, "confirms": gap < 0, "agrees": gap == reported,
                       "method": "exact fractions.Fraction (no sympy)",
                       "point": {"delta": str(d), "theta": str(t), "a,b,c": [str(as_fraction(x)) for x in v]},
                       "lhs": str(lhs), "rhs": str(rhs), "replayed lhs - rhs": str(gap), "sympy lhs - rhs": str(reported),
                       **({} if gap == reported else {"disagreement": f"replayed lhs - rhs = {gap}, sympy reported {reported}"})},
                      "Lemma B.4's lhs - rhs at one point")


def b4_transcription_agrees(coeffs_fn: Callable[[Any, Any], Sequence[Any]],
                            points: Sequence[tuple[Any, Any]]) -> tuple[bool, list[dict]]:
    """Does the package's transcription of Lemma B.4 (``coeffs_fn``, evaluated on Fractions) equal the
    independent one above at every point? Returns ``(agree, mismatches)``."""
    bad = []
    for d, t in points:
        df, tf = as_fraction(d), as_fraction(t)
        mine = b4_printed_coefficients(df, tf)
        theirs = tuple(as_fraction(x) for x in coeffs_fn(df, tf))
        if mine != theirs:
            bad.append({"delta": str(df), "theta": str(tf), "independent": [str(x) for x in mine],
                        "package": [str(x) for x in theirs]})
    return not bad, bad


# ----------------------------------------------------------------- Thm 3.4: max vs min, potential multipliers
def potential_a1_a3(eta_th: Fraction, eta_lam: Fraction, beta: Fraction, hR2_over_C: Fraction,
                    delta: Fraction) -> tuple[Fraction, Fraction]:
    """``a1 = eta_th + beta``, ``a3 = eta_lam + (eta_lam - h R^2 / C)(1 - delta)`` (App. C, after eq. (45))."""
    return eta_th + beta, eta_lam + (eta_lam - hR2_over_C) * (1 - delta)


def replay_max_vs_min(beta_over_s: Fraction = Fraction(1, 4), reported: dict | None = None) -> Witness:
    """At the proof's choice with ``s = sqrt(h) R = 1`` (h = R = 1), ``delta = 3/4``, ``beta = beta_over_s``:
    the error ``E KL = 1``, ``||lam* - lam_hat||^2 = 0`` has potential part ``a1 * 1``; dividing by
    ``max(a1, a3)`` claims the error is ``<= a1 / max(a1, a3)`` < 1 = the error when ``a1 < a3``.

    ``confirms``: ``a1 < max(a1, a3)`` (the max-division under-bounds the error); ``agrees``: a1, a3
    equal the values ``reported`` (sympy's, at the same point) if given.
    """
    s = Fraction(1)
    a1, a3 = potential_a1_a3(3 * s, 3 * s, as_fraction(beta_over_s), s * s / s, Fraction(3, 4))
    out = {"replayed": True, "method": "exact fractions.Fraction (no sympy), h = R = 1",
           "point": {"beta": str(beta_over_s), "E KL": "1", "||lam*-lam_hat||^2": "0", "delta": "3/4"},
           "a1": str(a1), "a3": str(a3), "potential part a1*KL + a3*0": str(a1),
           "max(a1,a3)*(KL + 0)": str(max(a1, a3)), "min(a1,a3)*(KL + 0)": str(min(a1, a3)),
           "confirms": a1 < max(a1, a3), "agrees": True}
    if reported is not None:
        ra1, ra3 = as_fraction(reported["a1"]), as_fraction(reported["a3"])
        out["agrees"] = (ra1, ra3) == (a1, a3)
        if not out["agrees"]:
            out["disagreement"] = f"replayed (a1, a3) = ({a1}, {a3}), sympy reported ({ra1}, {ra3})"
    return _from_flat(out, "max vs min in the final division of Thm 3.4's proof")


def replay_denominators(beta_over_s: Any, reported: dict | None = None) -> Witness:
    """Thm 3.4's denominator ``min(eta_th + beta, 7/4 eta_lam - 3/4 sqrt(h) R)`` vs the proof's
    ``min(a1, a3)`` at delta = 3/4, at the choice with ``sqrt(h) R = 1`` and ``beta = beta_over_s``.

    ``confirms``: they differ; ``agrees``: both equal ``reported`` (sympy's ``{"theorem", "proof"}``) if given.
    """
    b = as_fraction(beta_over_s)
    eta = Fraction(3)
    a1, a3 = potential_a1_a3(eta, eta, b, Fraction(1), Fraction(3, 4))
    theorem = min(eta + b, Fraction(7, 4) * eta - Fraction(3, 4))
    proof = min(a1, a3)
    out = {"replayed": True, "method": "exact fractions.Fraction (no sympy), sqrt(h) R = 1",
           "point": {"beta / (sqrt(h) R)": str(b)}, "theorem": str(theorem), "proof": str(proof),
           "confirms": theorem != proof, "agrees": True}
    if reported is not None:
        rt, rp = as_fraction(reported["theorem"]), as_fraction(reported["proof"])
        out["agrees"] = (rt, rp) == (theorem, proof)
        if not out["agrees"]:
            out["disagreement"] = f"replayed (theorem, proof) = ({theorem}, {proof}), sympy ({rt}, {rp})"
    return _from_flat(out, "Thm 3.4's denominator vs the proof's")


# ------------------------------------------------------------------------- bilinear: 2x2 update block
def block2_max_modulus_sq(m: Sequence[Sequence[Any]]) -> tuple[str, Any]:
    """Largest squared eigenvalue modulus of a real 2x2 matrix with rational entries.

    Complex pair (``tr^2 < 4 det``): ``|mu|^2 = det`` exactly (a Fraction). Real pair: ``max |(tr ± sqrt(disc))/2|^2``
    in mpmath at 50 digits. Returns ``(kind, value)`` with kind "exact" or "mpmath".
    """
    a, b = as_fraction(m[0][0]), as_fraction(m[0][1])
    c, d = as_fraction(m[1][0]), as_fraction(m[1][1])
    tr, det = a + d, a * d - b * c
    disc = tr * tr - 4 * det
    if disc < 0:
        return "exact", det
    with mpmath.workdps(_MP_DIGITS):
        r = mpmath.sqrt(mpmath.mpf(disc.numerator) / disc.denominator)
        t = mpmath.mpf(tr.numerator) / tr.denominator
        return "mpmath", max(abs((t + r) / 2), abs((t - r) / 2)) ** 2


def replay_block_witness(m: Sequence[Sequence[Any]], reported_modulus_sq: Any, point: dict) -> Witness:
    """Witness that a 2x2 update block has spectral radius <= 1 (its last iterate does not spiral out).

    ``reported_modulus_sq`` is sympy's value as a string (``p/q`` or 50 significant digits).
    ``confirms``: the replayed largest ``|mu|^2 <= 1``; ``agrees``: equals the reported value,
    exactly for a complex pair, to 1e-40 relative for a real pair (mpmath, 50 digits).
    """
    kind, val = block2_max_modulus_sq(m)
    with mpmath.workdps(_MP_DIGITS):
        rep = _mpf(reported_modulus_sq)
        v = mpmath.mpf(val.numerator) / val.denominator if kind == "exact" else val
        agrees = abs(v - rep) <= mpmath.mpf("1e-40") * max(1, abs(v))
        out = {"replayed": True, "method": "exact fractions.Fraction" if kind == "exact" else "mpmath, 50 digits",
               "point": point, "replayed max |mu|^2": mpmath.nstr(v, 20), "sympy max |mu|^2": mpmath.nstr(rep, 20),
               "confirms": bool(v <= 1), "agrees": bool(agrees)}
    if not agrees:
        out["disagreement"] = f"replayed max |mu|^2 = {out['replayed max |mu|^2']}, sympy {out['sympy max |mu|^2']}"
    return _from_flat(out, "largest eigenvalue modulus of a 2x2 update block")


def _mpf(x: Any) -> "mpmath.mpf":
    """An mpmath number from a decimal or ``p/q`` string (or a Fraction / int / float), at the current precision."""
    s = str(x)
    if "/" in s:
        f = Fraction(s)
        return mpmath.mpf(f.numerator) / f.denominator
    return mpmath.mpf(s)


# ------------------------------------------------------------------------------------ Lemma B.2
def replay_pinsker_pair(p: Sequence[float], q: Sequence[float], const: float, reported_gap: float,
                        atol: float) -> Witness:
    """``||p - q||_1^2 - const KL(p||q)`` at one pair in mpmath (50 digits, from the float64 inputs).

    ``confirms``: the gap exceeds ``atol`` (a violation beyond float rounding); ``agrees``: the float64
    gap the check reported is within ``atol`` of the replay.
    """
    with mpmath.workdps(_MP_DIGITS):
        P = [mpmath.mpf(float(x)) for x in p]
        Q = [mpmath.mpf(float(x)) for x in q]
        kl = mpmath.fsum(pi * mpmath.log(pi / qi) for pi, qi in zip(P, Q) if pi > 0)
        l1 = mpmath.fsum(abs(pi - qi) for pi, qi in zip(P, Q))
        gap = l1 ** 2 - mpmath.mpf(const) * kl
        out = {"replayed": True, "method": "mpmath, 50 digits", "replayed gap": mpmath.nstr(gap, 15),
               "float64 gap": repr(float(reported_gap)), "confirms": bool(gap > atol),
               "agrees": bool(abs(gap - mpmath.mpf(float(reported_gap))) <= atol)}
    if not out["agrees"]:
        out["disagreement"] = f"replayed gap {out['replayed gap']} vs float64 {out['float64 gap']}"
    return _from_flat(out, "Pinsker gap at one pair")


# ------------------------------------------------------------------------------------ Lemma B.8
def replay_b8_residual(bregman: Callable, simplified: Any) -> Witness:
    """Evaluate the *unsimplified* residual of eq. (17) at a rational point in mpmath (50 digits) and
    compare with the simplified residual evaluated by sympy at 50 digits."""
    import sympy as sp

    x, y, z = sp.symbols("x y z", positive=True)
    raw = bregman(x, z) - bregman(x, y) - bregman(y, z) - sp.diff(bregman(y, z), y) * (x - y)
    point = (sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 5))
    f = sp.lambdify((x, y, z), raw, modules="mpmath")
    with mpmath.workdps(50):
        val = f(*(mpmath.mpf(p.p) / p.q for p in point))
        ref = mpmath.mpf(str(sp.N(simplified.subs(dict(zip((sp.Symbol("x", positive=True), sp.Symbol("y", positive=True),
                                                             sp.Symbol("z", positive=True)), point))), 50)))
        confirms, agrees = bool(abs(val) > mpmath.mpf("1e-30")), bool(abs(val - ref) <= mpmath.mpf("1e-40"))
        return _from_flat({"replayed": True, "confirms": confirms, "agrees": agrees,
                           "method": "mpmath, 50 digits (unsimplified residual)",
                           "point": [str(p) for p in point], "replayed residual": mpmath.nstr(val, 15),
                           "sympy residual": mpmath.nstr(ref, 15),
                           "disagreement": f"unsimplified {mpmath.nstr(val, 15)} vs sympy {mpmath.nstr(ref, 15)}"},
                          "Lemma B.8's three-point residual at a rational point")
