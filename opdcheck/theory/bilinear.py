"""The bilinear example of §3 (``min_y max_x x^T A y``), in sympy.

Simultaneous gradient descent-ascent (the paper's "standard primal-dual gradient method")::

    x_{t+1} = x_t + alpha A y_t,   y_{t+1} = y_t - alpha A^T x_t,   z_{t+1} = (I - alpha J) z_t,
    J = [[0, -A], [A^T, 0]]

With the SVD of A, J is orthogonally similar to a direct sum of 2x2 blocks ``[[0, -s_i], [s_i, 0]]``,
so it suffices to treat one block with a general singular value ``sigma``: the eigenvalues of
``I - alpha J`` are ``1 ± i alpha sigma`` with modulus ``sqrt(1 + alpha^2 sigma^2) > 1`` (paper, §3).

Optimistic (past-extragradient / Popov) map, the bilinear analogue of Algorithm 2::

    z_t       = z_hat_t - alpha J z_{t-1}       (prediction, uses the previous prediction)
    z_hat_{t+1} = z_hat_t - alpha J z_t         (actual update)

State ``(z_hat_t, z_{t-1})``; per 2x2 block a 4x4 real matrix whose characteristic polynomial
factors into ``mu^2 - (1 - 2 i s) mu - i s`` and its conjugate, ``s = alpha sigma``. Its roots are
``(1 - 2 i s ± sqrt(1 - 4 s^2)) / 2``; the spectral radius is < 1 exactly when ``0 < s < 1/sqrt(3)``.
"""
from __future__ import annotations

from typing import Any

import sympy as sp

__all__ = ["ALPHA", "SIGMA", "S", "J_block", "gda_block", "gda_eigenvalues", "gda_modulus",
           "popov_block", "popov_charpoly", "popov_roots", "popov_radius_squared", "popov_stability_condition",
           "judge_gda_claim", "paper_gda_eigenvalues"]

ALPHA = sp.Symbol("alpha", positive=True)
SIGMA = sp.Symbol("sigma", positive=True)
S = sp.Symbol("s", positive=True)       # s = alpha * sigma
_MU = sp.Symbol("mu")


def J_block(sigma: sp.Expr = SIGMA) -> sp.Matrix:
    """One 2x2 block of ``J = [[0, -A], [A^T, 0]]`` for a singular value sigma."""
    return sp.Matrix([[0, -sigma], [sigma, 0]])


def gda_block(alpha: sp.Expr = ALPHA, sigma: sp.Expr = SIGMA) -> sp.Matrix:
    """``I - alpha J`` on one block: the simultaneous GDA update matrix."""
    return sp.eye(2) - alpha * J_block(sigma)


def paper_gda_eigenvalues(alpha: sp.Expr = ALPHA, sigma: sp.Expr = SIGMA) -> list[sp.Expr]:
    """The paper's claim (§3): ``1 ± i alpha sigma``."""
    return [1 + sp.I * alpha * sigma, 1 - sp.I * alpha * sigma]


def gda_eigenvalues(M: sp.Matrix | None = None) -> list[sp.Expr]:
    """Eigenvalues of a 2x2 block update matrix (default: simultaneous GDA), simplified."""
    M = gda_block() if M is None else M
    return [sp.simplify(ev) for ev in M.eigenvals(multiple=True)]


def gda_modulus(M: sp.Matrix | None = None) -> list[sp.Expr]:
    """Moduli of those eigenvalues."""
    return [sp.simplify(sp.Abs(ev)) for ev in gda_eigenvalues(M)]


def popov_block(alpha: sp.Expr = ALPHA, sigma: sp.Expr = SIGMA) -> sp.Matrix:
    """The 4x4 map ``(z_hat_t, z_{t-1}) -> (z_hat_{t+1}, z_t)`` of the optimistic method on one block."""
    J = J_block(sigma)
    I2 = sp.eye(2)
    top = (I2 - alpha * J).row_join(alpha ** 2 * J * J)
    bottom = I2.row_join(-alpha * J)
    return top.col_join(bottom)


def popov_charpoly(alpha: sp.Expr = ALPHA, sigma: sp.Expr = SIGMA) -> dict[str, sp.Expr]:
    """Characteristic polynomial of :func:`popov_block` and its factorisation over Q(i)."""
    p = popov_block(alpha, sigma).charpoly(_MU).as_expr()
    p_s = sp.expand(p.subs(alpha, S / sigma))
    factors = sp.factor(p_s, extension=sp.I)
    quad = _MU ** 2 - (1 - 2 * sp.I * S) * _MU - sp.I * S
    residual = sp.expand(p_s - quad * quad.subs(sp.I, -sp.I))
    return {"charpoly": sp.expand(p), "charpoly_in_s": p_s, "factored": factors, "quadratic": quad,
            "factorisation_residual": residual}


def popov_roots() -> list[sp.Expr]:
    """Roots of ``mu^2 - (1 - 2 i s) mu - i s``: ``(1 - 2 i s ± sqrt(1 - 4 s^2))/2`` (and conjugates)."""
    quad = _MU ** 2 - (1 - 2 * sp.I * S) * _MU - sp.I * S
    roots = sp.solve(quad, _MU)
    return [sp.simplify(r) for r in roots]


def popov_radius_squared() -> sp.Piecewise:
    """Squared spectral radius as a function of ``s = alpha sigma`` (exact, piecewise).

    For ``s <= 1/2`` the discriminant ``1 - 4 s^2 >= 0``: ``|mu|^2 = (1 ± r)/2`` with ``r = sqrt(1-4s^2)``,
    largest ``(1 + r)/2``. For ``s > 1/2``: ``mu = (1 - i(2s ∓ q))/2`` with ``q = sqrt(4s^2-1)``,
    largest ``(1 + (2s + q)^2)/4``. Both branches are checked against the roots symbolically.
    """
    r = sp.sqrt(1 - 4 * S ** 2)
    q = sp.sqrt(4 * S ** 2 - 1)
    low = (1 + r) / 2
    high = (1 + (2 * S + q) ** 2) / 4
    # verification: |root|^2 of the '+' root in each regime
    root_plus_low = (1 - 2 * sp.I * S + r) / 2
    root_high = (1 - sp.I * (2 * S + q)) / 2
    chk_low = sp.simplify(sp.expand(root_plus_low * sp.conjugate(root_plus_low)).subs(sp.conjugate(r), r) - low)
    chk_high = sp.simplify(sp.expand(root_high * sp.conjugate(root_high)).subs(sp.conjugate(q), q) - high)
    quad = _MU ** 2 - (1 - 2 * sp.I * S) * _MU - sp.I * S
    on_quad_low = sp.simplify(sp.expand(quad.subs(_MU, root_plus_low)))
    on_quad_high = sp.simplify(sp.expand(quad.subs(_MU, root_high)))
    if any(x != 0 for x in (chk_low, chk_high, on_quad_low, on_quad_high)):
        raise RuntimeError(f"popov_radius_squared: verification failed {chk_low, chk_high, on_quad_low, on_quad_high}")
    return sp.Piecewise((low, S <= sp.Rational(1, 2)), (high, True))


def popov_stability_condition() -> dict[str, Any]:
    """Exact set of ``s = alpha sigma > 0`` with spectral radius < 1: ``(0, 1/sqrt(3))``."""
    r = sp.sqrt(1 - 4 * S ** 2)
    q = sp.sqrt(4 * S ** 2 - 1)
    low_set = sp.solveset(sp.Lt((1 + r) / 2, 1), S, sp.Interval.Lopen(0, sp.Rational(1, 2)))
    # (1 + (2s+q)^2)/4 < 1  <=>  2s + q < sqrt(3)  (both sides positive)
    high_set = sp.solveset(sp.Lt(2 * S + q, sp.sqrt(3)), S, sp.Interval.open(sp.Rational(1, 2), sp.oo))
    stable = sp.Union(low_set, high_set)
    return {"stable_s": stable, "low_branch": low_set, "high_branch": high_set,
            "boundary": sp.nsimplify(1 / sp.sqrt(3)), "radius_at_boundary_sq": sp.simplify(
                ((1 + (2 * S + q) ** 2) / 4).subs(S, 1 / sp.sqrt(3)))}


def judge_gda_claim(M: sp.Matrix | None = None, claimed: list[sp.Expr] | None = None) -> dict[str, Any]:
    """Does the block map have the claimed eigenvalues, and is every modulus > 1 for all s > 0?

    Returns ``{"eigenvalues", "match", "moduli", "all_outside_unit_circle", "verdict"}`` with
    verdict ``CONFIRMED`` iff both hold. Pass a different ``M`` (e.g. a damped map) as a negative control.
    """
    M = gda_block() if M is None else M
    claimed = paper_gda_eigenvalues() if claimed is None else claimed
    ev = gda_eigenvalues(M)
    match = sorted(map(sp.srepr, map(sp.expand, ev))) == sorted(map(sp.srepr, map(sp.expand, claimed)))
    if not match:
        match = all(any(sp.simplify(e - c) == 0 for c in claimed) for e in ev) and len(ev) == len(claimed)
    mods = [sp.simplify(sp.Abs(e) ** 2) for e in ev]
    outside = []
    for m in mods:
        m_s = sp.simplify(m.subs(ALPHA, S / SIGMA))
        sol = sp.solveset(sp.Le(m_s, 1), S, sp.Interval.open(0, sp.oo)) if m_s.has(S) else (
            sp.S.EmptySet if m_s > 1 else sp.Interval.open(0, sp.oo))
        outside.append(sol == sp.S.EmptySet)
    ok = bool(match) and all(outside)
    return {"eigenvalues": ev, "match": bool(match), "moduli_squared": mods,
            "all_outside_unit_circle": all(outside), "verdict": "CONFIRMED" if ok else "REFUTED"}
