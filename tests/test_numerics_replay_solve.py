"""The replay's generic solvers (numerics/replay/solve.py): the raw-value Newton step is the operator form bit for bit,
and the dual step's root-finder stops at the replay's tolerance (it used to run mpmath's 30 Illinois steps)."""
from __future__ import annotations

import random

import mpmath
import pytest

from opdcheck.numerics.replay import solve


def _kl_prox_argmax_operators(s, terms, max_iter: int = 100) -> list:
    """The same Newton iteration written with mpf operators (the form the raw-value version must equal)."""
    n = len(s)
    ws = [mpmath.mpf(w) for w, _ in terms]
    W = mpmath.fsum(ws)
    shift = [mpmath.fsum(w * (lq[y] - 1) for w, (_, lq) in zip(ws, terms)) for y in range(n)]
    u = [mpmath.mpf(v) for v in terms[0][1]]
    nu = mpmath.mpf(0)
    tol = mpmath.mpf(10) ** (-(mpmath.mp.dps - 6))
    for _ in range(max_iter):
        g = [s[y] - (W * u[y] - shift[y]) for y in range(n)]
        m = max(u)
        lse = m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in u))
        F = [g[y] - nu for y in range(n)] + [lse]
        if max(abs(v) for v in F) <= tol:
            return u
        soft = [mpmath.exp(v - lse) for v in u]
        dg = [-W] * n
        a = mpmath.fsum(soft[y] / dg[y] for y in range(n))
        b = mpmath.fsum(soft[y] * F[y] / dg[y] for y in range(n))
        dnu = (b - F[n]) / a
        u = [u[y] + (-F[y] + dnu) / dg[y] for y in range(n)]
        nu += dnu
    raise AssertionError("reference did not converge")


def _case(rng: random.Random):
    n, k = rng.randint(2, 6), rng.randint(1, 3)
    s = [mpmath.mpf(rng.uniform(-5, 5)) for _ in range(n)] if rng.random() < 0.8 else [rng.choice([1, 0, -2]) for _ in range(n)]
    terms = []
    for _ in range(k):
        q = [mpmath.mpf(rng.uniform(1e-6, 1)) for _ in range(n)]
        z = mpmath.fsum(q)
        terms.append((rng.choice([mpmath.mpf(rng.uniform(0.01, 5)), 0.05, 3, "0.1"]), [mpmath.log(v / z) for v in q]))
    return s, terms


@pytest.mark.parametrize("dps", [30, 50])
def test_kl_prox_argmax_equals_the_operator_form_bit_for_bit(dps):
    rng = random.Random(20261204 + dps)
    with mpmath.workdps(dps):
        for _ in range(60):
            s, terms = _case(rng)
            got = solve.kl_prox_argmax(s, terms)
            ref = _kl_prox_argmax_operators(s, terms)
            assert [v._mpf_ for v in got] == [v._mpf_ for v in ref]
            assert all(isinstance(v, mpmath.mpf) for v in got)


def test_kl_prox_argmax_solves_its_problem_and_rejects_a_bad_weight():
    """Positive control: the KKT solution is the proximal closed form; negative: weights summing to 0 are refused."""
    with mpmath.workdps(50):
        s = [mpmath.mpf(1), mpmath.mpf(0)]
        lq = [mpmath.log(mpmath.mpf(3) / 10), mpmath.log(mpmath.mpf(7) / 10)]
        u = solve.kl_prox_argmax(s, [(2, lq)])
        z = [lq[y] + s[y] / 2 for y in range(2)]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
        assert max(abs(u[y] - (z[y] - lse)) for y in range(2)) < mpmath.mpf(10) ** -45
        with pytest.raises(ValueError, match="must sum to a positive number"):
            solve.kl_prox_argmax(s, [(0, lq)])


def test_dual_prox_root_is_exact_after_one_secant_step():
    """The derivative of the dual problem is affine: Illinois's first secant point is its root, so the solver stops
    there (a handful of evaluations) instead of running to mpmath's step limit; the root is [l - c/(2 kappa)]_+."""
    rng = random.Random(7)
    calls = []
    orig = solve._bracketed_root

    def counting(f, lo, hi):
        def g(x):
            calls[-1] += 1
            return f(x)
        calls.append(0)
        return orig(g, lo, hi)

    solve._bracketed_root = counting
    try:
        with mpmath.workdps(50):
            for _ in range(50):
                c, l_hat, kappa = (mpmath.mpf(rng.uniform(-3, 1)), mpmath.mpf(rng.uniform(0, 3)),
                                   mpmath.mpf(rng.uniform(0.05, 40)))
                got = solve.quadratic_prox_argmin(c, l_hat, kappa)
                want = max(l_hat - c / (2 * kappa), mpmath.mpf(0))
                assert abs(got - want) <= mpmath.mpf(10) ** -44 * max(1, abs(want))
    finally:
        solve._bracketed_root = orig
    assert calls and max(calls) <= 8, calls  # was 34 evaluations per step with an unreachable tolerance
