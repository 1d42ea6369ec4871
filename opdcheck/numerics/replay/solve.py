"""The paper's defining problems solved by generic high-precision means (no closed form evaluated).

The float code (``kernels/``, ``theory/closed_forms``, ``numerics/kkt``, ``numerics/dual``) evaluates
derived closed forms: ``pi ∝ pi_hat^(eta/(eta+beta)) pi_ref^(beta/(eta+beta)) exp(S/(eta+beta))``,
``lam = [lam_hat - c/(2 eta_lam)]_+``, ``pi_lam ∝ pi_ref exp(S/beta)``, ``D`` as a logsumexp. A replay that
evaluated the same closed forms would share their bugs. Here every step is the solution of the problem
the paper *defines*, found by a root-finder on its optimality conditions written from the objective:

* KL-proximal argmax over the simplex (eqs. (4)/(6), and eq. (3) with ``eta = 0``)::

      max_pi <pi, s> - sum_k w_k KL(pi || q_k)

  Newton on the KKT system in ``u = log pi`` and the multiplier ``nu`` of ``sum pi = 1`` (written as
  ``log sum exp(u) = 0``): ``d/dpi_y [objective] - nu = 0`` with ``d/dpi_y KL(pi||q) = log(pi_y/q_y) + 1``.
* Euclidean-proximal argmin over ``lam >= 0`` (eqs. (5)/(7), (9)/(11)), per coordinate::

      min_{l >= 0} l c + kappa (l - l_hat)^2

  ``l = 0`` if the derivative ``c + 2 kappa (l - l_hat)`` is >= 0 at 0, else a bracketing root-finder
  (``mpmath.findroot``, Anderson) on the derivative over ``[0, U]``.
* The dual function by its definition ``D(lam) = max_pi L(pi, lam)`` (the best response solved as
  above, ``L`` evaluated from its definition); ``grad D = c(pi_lam)`` (Danskin); its Hessian by forward
  differences of the gradient at 50 digits.

All functions work in the caller's mpmath precision (the replay wraps them in ``workdps(REPLAY_DPS)``).
"""
from __future__ import annotations

from typing import Sequence

import mpmath
from mpmath.libmp import from_int as _from_int
from mpmath.libmp import mpf_abs as _abs
from mpmath.libmp import mpf_add as _add
from mpmath.libmp import mpf_div as _div
from mpmath.libmp import mpf_exp as _exp
from mpmath.libmp import mpf_gt as _gt
from mpmath.libmp import mpf_le as _le
from mpmath.libmp import mpf_log as _log
from mpmath.libmp import mpf_mul as _mul
from mpmath.libmp import mpf_neg as _neg
from mpmath.libmp import mpf_sub as _sub
from mpmath.libmp import mpf_sum as _sum

__all__ = ["kl_prox_argmax", "quadratic_prox_argmin", "SolveError"]


class SolveError(RuntimeError):
    """A generic solve did not reach the replay's precision (the replay then reports it did not run)."""


def _tol() -> mpmath.mpf:
    return mpmath.mpf(10) ** (-(mpmath.mp.dps - 6))


def kl_prox_argmax(s: Sequence, terms: Sequence[tuple], max_iter: int = 100) -> list:
    """``log pi`` of ``argmax_{pi in simplex} <pi, s> - sum_k w_k KL(pi || q_k)``; ``terms = [(w_k, log q_k)]``,
    ``sum_k w_k > 0``. Newton on the KKT conditions (see the module docstring); raises SolveError when
    the KKT residual does not fall below ``10^-(dps-6)`` within ``max_iter`` iterations.

    Written on mpmath's raw ``(sign, man, exp, bc)`` values (``mpmath.libmp``): each line is the operation
    the ``mpf`` operators perform (``mpf_sub`` for ``-``, ``mpf_sum`` for ``fsum``, ``mpf_exp`` for ``exp``, at
    the working precision, rounding to nearest), so the result is the same to the last bit as the operator
    form, without the object overhead that made up most of a 50-digit replay's time (tested against it)."""
    n = len(s)
    ws = [mpmath.mpf(w) for w, _ in terms]
    if not mpmath.fsum(ws) > 0:
        raise ValueError(f"kl_prox_argmax: KL weights {ws} must sum to a positive number.")

    prec, rnd = mpmath.mp._prec_rounding
    W = mpmath.fsum(ws)._mpf_
    one = _from_int(1)
    lqs = [[_raw(v) for v in lq] for _, lq in terms]
    wr = [w._mpf_ for w in ws]
    # sum_k w_k (u_y - log q_k,y + 1) = W u_y - shift_y: the part that does not depend on u, summed once
    shift = [_sum([_mul(w, _sub(lq[y], one, prec, rnd), prec, rnd) for w, lq in zip(wr, lqs)], prec, rnd)
             for y in range(n)]
    sr = [_raw(v) for v in s]

    def grad_objective(u: list) -> list:
        # d/dpi_y of <pi, s> - sum_k w_k sum_y pi_y (log pi_y - log q_k,y)
        return [_sub(sr[y], _sub(_mul(W, u[y], prec, rnd), shift[y], prec, rnd), prec, rnd) for y in range(n)]

    def d_grad_du(u: list) -> list:
        # the objective's Hessian in pi is diagonal, -sum_k w_k / pi_y; times dpi_y/du_y = pi_y
        return [_neg(W, prec, rnd)] * n

    # start at the first proximal centre (a point of the simplex, near the solution for a proximal step)
    u = [mpmath.mpf(v)._mpf_ for v in terms[0][1]]
    nu = _from_int(0)
    tol = _tol()._mpf_
    for _ in range(max_iter):
        g = grad_objective(u)
        m = u[0]
        for v in u[1:]:  # max(u): the first largest
            if _gt(v, m):
                m = v
        lse = _add(m, _log(_sum([_exp(_sub(v, m, prec, rnd), prec, rnd) for v in u], prec, rnd), prec, rnd), prec, rnd)
        F = [_sub(g[y], nu, prec, rnd) for y in range(n)] + [lse]
        if _le(_max_abs(F, prec, rnd), tol):
            return [mpmath.mp.make_mpf(v) for v in u]
        soft = [_exp(_sub(v, lse, prec, rnd), prec, rnd) for v in u]
        dg = d_grad_du(u)
        # the Newton system J (du, dnu) = -F with J = [[diag(dg), -1], [soft^T, 0]] (the objective is separable,
        # so its Hessian block is diagonal), solved by eliminating du: du_y = (-F_y + dnu) / dg_y
        a = _sum([_div(soft[y], dg[y], prec, rnd) for y in range(n)], prec, rnd)
        b = _sum([_div(_mul(soft[y], F[y], prec, rnd), dg[y], prec, rnd) for y in range(n)], prec, rnd)
        dnu = _div(_sub(b, F[n], prec, rnd), a, prec, rnd)
        u = [_add(u[y], _div(_add(_neg(F[y], prec, rnd), dnu, prec, rnd), dg[y], prec, rnd), prec, rnd)
             for y in range(n)]
        nu = _add(nu, dnu, prec, rnd)
    raise SolveError(f"kl_prox_argmax: KKT residual {mpmath.nstr(mpmath.mp.make_mpf(_max_abs(F, prec, rnd)), 3)} "
                     f"after {max_iter} Newton steps.")


def _raw(x) -> tuple:
    """The raw mpf value an ``mpf`` operator would use for ``x`` (an mpf as it is; a number converted exactly)."""
    return x._mpf_ if hasattr(x, "_mpf_") else mpmath.mp.convert(x)._mpf_


def _max_abs(F: list, prec: int, rnd: str) -> tuple:
    """``max(abs(v) for v in F)`` on raw values (the first largest)."""
    best = None
    for v in F:
        a = _abs(v, prec, rnd)
        if best is None or _gt(a, best):
            best = a
    return best


def _bracketed_root(f, lo, hi):
    """A root of an increasing ``f`` with ``f(lo) < 0 < f(hi)``: regula falsi (Illinois), which is exact in one
    step on an affine ``f``; bisection to the working precision if mpmath's tolerance test refuses (it can
    on a bracket whose secant lands on the root at once, leaving no step to measure).

    Illinois stops at the first point whose residual is below ``10^-(dps-6)`` (the replay's KKT tolerance, the
    one the callers check): on the affine derivatives of the dual steps that is the first secant point, exact
    to the working precision. (A tolerance below the working precision can never be met: mpmath then runs its
    30 steps and returns a bracket midpoint a few ulps away, at ~7x the cost.)"""
    try:
        return mpmath.findroot(f, (lo, hi), solver="illinois", tol=_tol())
    except ValueError:
        pass
    for _ in range(4 * mpmath.mp.prec):  # each halving gains one bit: the bracket ends at the working precision
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def quadratic_prox_argmin(c, l_hat, kappa) -> mpmath.mpf:
    """``argmin_{l >= 0} l c + kappa (l - l_hat)^2`` (``kappa > 0``) by a bracketing root-finder on the
    derivative; 0 when the derivative is already >= 0 at ``l = 0``."""
    c, l_hat, kappa = mpmath.mpf(c), mpmath.mpf(l_hat), mpmath.mpf(kappa)
    if not kappa > 0:
        raise ValueError(f"quadratic_prox_argmin: kappa = {kappa}; it must be positive.")

    def deriv(l):
        return c + 2 * kappa * (l - l_hat)

    if deriv(mpmath.mpf(0)) >= 0:
        return mpmath.mpf(0)
    hi = mpmath.mpf(1)
    while deriv(hi) < 0:
        hi *= 2
    if deriv(hi) == 0:
        return hi
    root = _bracketed_root(deriv, mpmath.mpf(0), hi)
    if abs(deriv(root)) > _tol() * max(1, abs(c), kappa * abs(l_hat)):
        raise SolveError(f"quadratic_prox_argmin: derivative {mpmath.nstr(deriv(root), 3)} at the root.")
    return max(root, mpmath.mpf(0))
