"""Symbolic facts behind Algorithm 3 (sympy only): the tabular Fisher matrix, the natural-gradient
direction ``w = A + c(x)``, eq. (72) (``KL ≈ 1/2 dtheta^T F dtheta``), eq. (28)'s gap and the Cor 3.10
counterexample's closed forms.

* :func:`tabular_fisher_residual` -- ``E_y[score score^T] - (diag(pi) - pi pi^T)`` for a softmax over
  ``n`` logits (App. D, the display after "we rewrite F(theta) as"); zero matrix.
* :func:`natural_direction_residual` -- ``F (A + c 1) - grad`` with ``grad_y = pi_y A_y`` and
  ``E_pi A = 0`` (App. D, "w_{x,y} = A(x, y) + c(x)"); zero for every ``c``.
* :func:`eq72_hessian_residual` -- ``Hess_delta KL(pi_theta || pi_{theta+delta})|_0 - F``; zero.
* :func:`gap_eq28` -- eq. (28), and :func:`gap_leading_exponent` (``gap ~ eps^(1/2)`` as ``eps -> 0``).
* :func:`counterexample_closed_forms` -- ``p(theta) = 1/5 + theta^2/10``: score and Fisher at 0, the
  in-class optimum, ``KL(pi*_Theta || pi_0)`` exactly.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

__all__ = ["softmax_symbols", "tabular_fisher_residual", "natural_direction_residual", "eq72_hessian_residual",
           "gap_eq28", "gap_leading_exponent", "gap_numeric", "counterexample_closed_forms", "EPS", "PMIN",
           "GMAX", "ETA", "BETA", "CLIP"]

EPS, PMIN, GMAX, ETA, BETA, CLIP = sp.symbols("epsilon p_min g_max eta beta C", positive=True)


def softmax_symbols(n: int):
    th = sp.symbols(f"theta0:{n}", real=True)
    den = sum(sp.exp(t) for t in th)
    pi = [sp.exp(t) / den for t in th]
    return th, pi


@lru_cache(maxsize=None)
def tabular_fisher_residual(n: int = 3) -> sp.Matrix:
    """``sum_y pi_y s_y s_y^T - (diag(pi) - pi pi^T)`` with ``s_y = grad_theta log pi_y`` (differentiated)."""
    th, pi = softmax_symbols(n)
    S = [sp.Matrix([sp.diff(sp.log(pi[y]), t) for t in th]) for y in range(n)]
    F = sp.zeros(n, n)
    for y in range(n):
        F += pi[y] * S[y] * S[y].T
    P = sp.Matrix(pi)
    R = F - (sp.diag(*pi) - P * P.T)
    return R.applyfunc(lambda e: sp.simplify(e))


@lru_cache(maxsize=None)
def natural_direction_residual(n: int = 3) -> sp.Matrix:
    """``F (A + c 1) - grad`` for symbolic ``pi`` on the simplex, ``A`` with ``E_pi A = 0``, any ``c``."""
    p = sp.symbols(f"p0:{n}", positive=True)
    A = list(sp.symbols(f"A0:{n}", real=True))
    c = sp.Symbol("c", real=True)
    pis = list(p[:-1]) + [1 - sum(p[:-1])]
    A[-1] = -sum(pis[y] * A[y] for y in range(n - 1)) / pis[-1]  # E_pi A = 0
    P = sp.Matrix(pis)
    F = sp.diag(*pis) - P * P.T
    grad = sp.Matrix([pis[y] * A[y] for y in range(n)])
    w = sp.Matrix([A[y] + c for y in range(n)])
    return (F * w - grad).applyfunc(lambda e: sp.simplify(e))


@lru_cache(maxsize=None)
def eq72_hessian_residual(n: int = 3) -> sp.Matrix:
    """Eq. (72): ``KL(pi_theta || pi_{theta+delta}) = 1/2 delta^T F delta + O(|delta|^3)``: the Hessian in
    ``delta`` at 0 minus ``F`` (zero matrix), with ``F = diag(pi) - pi pi^T``."""
    th, pi = softmax_symbols(n)
    dl = sp.symbols(f"d0:{n}", real=True)
    den2 = sum(sp.exp(t + d) for t, d in zip(th, dl))
    q = [sp.exp(t + d) / den2 for t, d in zip(th, dl)]
    kl = sum(pi[y] * (sp.log(pi[y]) - sp.log(q[y])) for y in range(n))
    H = sp.hessian(kl, dl).subs({d: 0 for d in dl})
    P = sp.Matrix(pi)
    return (H - (sp.diag(*pi) - P * P.T)).applyfunc(lambda e: _simplify_exp_rational(e, th))


def _simplify_exp_rational(e: sp.Expr, th) -> sp.Expr:
    """``e`` simplified, for an ``e`` rational in ``exp(theta_i)``: with ``z_i = exp(theta_i) > 0`` it is a rational
    function of ``z``, and ``cancel`` decides exactly whether it is 0 (about 6x cheaper than ``simplify``). A
    residual that does not cancel to 0 (or is not rational in ``z``) goes to ``simplify``, as before."""
    z = sp.symbols(f"z0:{len(th)}", positive=True)
    if sp.cancel(e.subs({sp.exp(t): zz for t, zz in zip(th, z)})) == 0:
        return sp.Integer(0)
    return sp.simplify(e)


def gap_eq28() -> sp.Expr:
    """Eq. (28): ``(g_max + (eta+beta) log(1/p_min)) sqrt(2 C eps/p_min) + (eta+beta)(1+1/p_min) C eps/p_min``."""
    return ((GMAX + (ETA + BETA) * sp.log(1 / PMIN)) * sp.sqrt(2 * CLIP * EPS / PMIN)
            + (ETA + BETA) * (1 + 1 / PMIN) * CLIP * EPS / PMIN)


@lru_cache(maxsize=None)
def gap_leading_exponent() -> sp.Rational:
    """The exponent ``k`` of ``gap ~ eps^k`` as ``eps -> 0`` (1/2, from the Pinsker term)."""
    g = gap_eq28()
    lead = sp.limit(sp.log(g) / sp.log(EPS), EPS, 0, dir="+")
    return sp.nsimplify(lead)


def gap_numeric():
    """``gap(eps, p_min, g_max, eta, beta, C)`` as a plain float function, lambdified from :func:`gap_eq28`
    (one source for the formula)."""
    return sp.lambdify((EPS, PMIN, GMAX, ETA, BETA, CLIP), gap_eq28(), modules="math")


@lru_cache(maxsize=None)
def counterexample_closed_forms() -> dict:
    """``p(theta) = 1/5 + theta^2/10`` on ``[-1, 1]`` with ``pi_ref = p_0``, ``r = (1, 0)``,
    ``R_h = (-3/5, 2/5)``, ``beta = 1/20``: score/Fisher at 0, constraint, in-class optimum and its KL."""
    th = sp.Symbol("theta", real=True)
    p = sp.Rational(1, 5) + th ** 2 / 10
    s0 = sp.diff(sp.log(p), th)
    s1 = sp.diff(sp.log(1 - p), th)
    fisher = sp.simplify(p * s0 ** 2 + (1 - p) * s1 ** 2)
    beta = sp.Rational(1, 20)
    q = sp.Symbol("q", positive=True)  # p(y0) over the class image [1/5, 3/10]
    kl_q = q * sp.log(q / sp.Rational(1, 5)) + (1 - q) * sp.log((1 - q) / sp.Rational(4, 5))
    L_q = q - beta * kl_q  # lam*_Theta = 0: the constraint 2/5 - q >= 1/10 > 0 on the class image
    dL = sp.diff(L_q, q)
    q_star = sp.Rational(3, 10)
    return {
        "p": p, "score_y0": s0, "score_y1": s1, "fisher": fisher,
        "score_at_0": (s0.subs(th, 0), s1.subs(th, 0)), "fisher_at_0": fisher.subs(th, 0),
        "constraint": sp.Rational(2, 5) - p, "constraint_at_0": (sp.Rational(2, 5) - p).subs(th, 0),
        "in_class_image": (sp.Rational(1, 5), sp.Rational(3, 10)),
        "dL_dq": dL, "dL_dq_min_on_image": sp.simplify(dL.subs(q, q_star)),  # dL/dq decreases in q
        "q_star": q_star, "kl_star_vs_p0": sp.simplify(kl_q.subs(q, q_star)),
    }
