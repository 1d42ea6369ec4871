"""A vectorisable ``exp`` for Numba loops (the numba wheels have no SVML: ``math.exp`` is a scalar libm call).

Public API::

    exp1(x) -> float                          # exp of one float64, branch-free; inlined into a caller's
                                              # loop, the loop is vectorised (njit)
    exp_shift(u, m, out)                      # out[y] = exp(u[y] - m)                   (njit)
    exp_shift_sum(u, m, out) -> float         # the same and sum_y out[y], one loop      (njit)
    sum_vec(a) -> float                       # vectorised sum, fixed order              (njit)
    vexp(x) -> ndarray                        # exp of a float64 array with the same kernel (tests)
    EXP_X_MIN, EXP_X_MAX                      # the clamp: exp(x) = 0 below, inf above (as libm)

Method (Cody-Waite range reduction + polynomial, branch-free, so a loop calling :func:`exp1` vectorises:
AVX2 on the 2-core box, 4 doubles per instruction; the fused OPD pass calls it inside its one loop per row):
``x = k ln2 + r`` with ``k = rint(x / ln2)`` (the ``1.5 * 2^52`` rounding trick, so ``k`` also sits in
the low mantissa bits of ``x / ln2 + 1.5 * 2^52``), ``|r| <= ln2 / 2`` with ln2 split into
``LN2_HI + LN2_LO`` (fdlibm's constants, ``k LN2_HI`` exact for ``|k| < 2^21``), ``exp(r)`` by a degree-11
polynomial (``EXP_POLY``, the Chebyshev fit on ``|r| <= 1.0001 ln2/2``, error 1.6e-17 relative with its
float64 coefficients; the Taylor polynomial needs degree 13 for the same), and ``2^k`` as TWO powers of two
``2^(k - k//2) 2^(k//2)`` built in the exponent bits (``_bits`` / ``_from_bits``: LLVM bitcasts between
float64 and int64, free and vectorisable; an earlier version went through int64 views of scratch arrays
in three separate loops, with the same bits): both
factors are normal for every ``k`` in ``[-1076, 1024]``, so subnormal results (``-745.13 < x < -708.4``)
are rounded once, like libm's, instead of being flushed to 0, and ``x > 709.78`` overflows to inf.

Accuracy (``tests/test_kernels_numba_fused.py``, measured against ``numpy.exp`` on a dense grid of ``[-746, 709.78]``
plus random points): ``<= FASTEXP_MAX_ULP`` ulp for normal results, and for subnormal results within one
subnormal spacing (``2^-1074``); ``exp(x) = 0`` for ``x < EXP_X_MIN`` as in libm.
Finite inputs only (NaN is not propagated: the kernels never pass it, they check their coefficients).

Speed (``benchmarks/bench_opd_step.py`` prints it): 3-6x the throughput of scalar ``math.exp`` per
thread on the 2-core AMD EPYC box (2026-12-05, quiet: 1.52 ns an element against 4.9-5.2 ns for libm;
the Horner form before it: 1.65 ns). Mul + add are contracted to FMAs (fast-math flag "contract" only).
Its cost is the degree-11 polynomial (10 FMAs, 2 multiplications and an addition per 4 elements, as
``1 + (r + r^2 q(r))`` with q by Estrin's scheme: the loops that call exp1 are latency-bound, so the
depth of the chain matters more than the count; the loop is vectorised, checked on the assembly by a
test). Measured alternatives that were not faster here: the scaling by one integer add on the exponent
bits plus one multiplication (more instructions in the window), a parallel ``k LN2_LO``, a deeper Estrin
tree. A shorter reduction interval (a table of 2^(j/N)) would need a gather and a tail correction to
stay within 1 ulp.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from opdcheck.kernels.numba_cache import CACHE, njit

__all__ = ["fit_poly", "EXP_POLY", "exp1", "exp_shift", "exp_shift_sum", "sum_vec", "vexp", "EXP_X_MIN", "EXP_X_MAX"]

_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: x + _ROUND rounds x to an integer kept in the low mantissa bits
_ROUND_BITS = 0x4338000000000000  # the bit pattern of _ROUND
#: below: exp(x) < 2^-1075 rounds to 0 (libm gives 0 too); above: inf (libm overflows at 709.7827)
EXP_X_MIN = -746.0
EXP_X_MAX = 710.0
#: the Taylor coefficients 1/k! (kernels/numba_opd.py's materialising exp still uses them)
(_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12,
 _E13) = tuple(1.0 / math.factorial(k) for k in range(14))
#: exp1's polynomial: degree 11, the Chebyshev fit of exp on [-1.0001 ln2/2, 1.0001 ln2/2]
#: (``mpmath.chebyfit(mpmath.exp, [-a, a], 12)`` at 50 digits, rounded to float64; :func:`fit_poly`
#: re-derives it and ``tests/test_kernels_numba_fused.py`` checks the stored values against it).
#: Fit error 3.2e-18, 1.6e-17 relative with the float64-rounded coefficients (<= 0.15 ulp), against
#: 4.1e-18 for the Taylor polynomial of degree 13: two FMAs fewer per vector of 4 entries.
EXP_POLY = (1.0, 1.0, 0.5000000000000019, 0.1666666666666668, 0.04166666666648795, 0.008333333333319589,
            0.0013888888952352863, 0.00019841269890076403, 2.4801485441561313e-05, 2.755724088722987e-06,
            2.763265472252779e-07, 2.5110049204818658e-08)
(_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8, _P9, _P10, _P11) = EXP_POLY


@intrinsic
def _bits(typingctx, x):
    """The int64 bit pattern of a float64 (an LLVM bitcast: free, and vectorisable, unlike an array view)."""
    if isinstance(x, types.Float) and x.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))
        return types.int64(x), codegen
    return None


@intrinsic
def _from_bits(typingctx, k):
    """The float64 whose bit pattern is the int64 ``k`` (an LLVM bitcast)."""
    if isinstance(k, types.Integer) and k.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())
        return types.float64(k), codegen
    return None


@intrinsic
def _lshr1(typingctx, k):
    """``k >> 1`` as a logical shift of the int64 ``k`` (numba's ``>>`` on int64 is arithmetic)."""
    if isinstance(k, types.Integer) and k.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.lshr(args[0], ir.Constant(ir.IntType(64), 1))
        return types.int64(k), codegen
    return None


@njit(cache=CACHE, fastmath={"contract"})
def exp1(x):
    """``exp(x)`` of one float64, branch-free (the clamp is min/max), so that a loop calling it is
    vectorised by LLVM after inlining. Only the "contract" fast-math flag (mul + add -> FMA, one rounding
    instead of two): no reassociation, so the rounding trick and the Cody-Waite split are evaluated as
    written, whatever flags the calling loop has (LLVM flags are per instruction)."""
    xv = min(max(x, EXP_X_MIN), EXP_X_MAX)
    t = xv * _INV_LN2 + _ROUND
    k = t - _ROUND
    r = (xv - k * _LN2_HI) - k * _LN2_LO
    # the polynomial as 1 + (r + r^2 q(r)), q = P2 + P3 r + ... + P11 r^9 by Estrin's scheme (pairs
    # P_i + P_{i+1} r, then powers r^2, r^4): a dependency chain of 6 operations after r instead of Horner's
    # 11. The loop calling exp1 is latency-bound (the whole chain of an element must fit the core's
    # out-of-order window, which it shares with the logits and the sums), so the shorter chain is what buys
    # speed. Rounding: r + r^2 q is within 1/2 ulp of its value plus q's error times r^2 <= 0.121 (q's terms
    # decrease: |P_{i+1} r| <= |P_i| / 8.6), and 1 + (...) rounds once more: <= 1 ulp in total, the same
    # contract as the Horner form, measured by the same tests.
    r2 = r * r
    r4 = r2 * r2
    a0 = _P3 * r + _P2
    a1 = _P5 * r + _P4
    a2 = _P7 * r + _P6
    a3 = _P9 * r + _P8
    a4 = _P11 * r + _P10
    q = (a0 + a1 * r2) + ((a2 + a3 * r2) + a4 * r4) * r4
    p = 1.0 + (r + r2 * q)
    # 2^k = 2^k1 2^(k - k1) with k1 = floor(k / 2), both normal for k in [-1076, 1024]. Their biased
    # exponents from s = k + 2046 >= 0 (k is read from the low mantissa bits of t): k1 + 1023 = s >> 1
    # and k - k1 + 1023 = s - (s >> 1), a LOGICAL shift (AVX2 has no 64-bit arithmetic shift: an
    # arithmetic one costs several instructions per vector), exact since s >= 0.
    s = _bits(t) - (_ROUND_BITS - 2046)
    e1 = _lshr1(s)
    return (p * _from_bits(e1 << 52)) * _from_bits((s - e1) << 52)


@njit(cache=CACHE, fastmath={"contract"})
def exp_shift(u, m, out):
    """``out[y] = exp(u[y] - m)`` for 1-d float64 arrays: one vectorised loop over :func:`exp1`."""
    for y in range(u.shape[0]):
        out[y] = exp1(u[y] - m)


@njit(cache=CACHE, fastmath={"reassoc"})
def sum_vec(a):
    """``sum_y a[y]`` in the vectorised order (fixed in the compiled code: the same bits run to run
    and for any thread count); reassoc only here, no nnan/ninf."""
    acc = 0.0
    for y in range(a.shape[0]):
        acc += a[y]
    return acc


@njit(cache=CACHE, fastmath={"reassoc"})
def exp_shift_sum(u, m, out):
    """:func:`exp_shift` and ``sum_y out[y]`` in the same loop (the sum in the vectorised order, fixed
    at compile time; reassoc applies to the sum only: exp1's own instructions keep their flags)."""
    acc = 0.0
    for y in range(u.shape[0]):
        e = exp1(u[y] - m)
        out[y] = e
        acc += e
    return acc


@njit(cache=CACHE)
def _vexp_into(x, out):
    exp_shift(x, 0.0, out)


def fit_poly(degree: int = 11, digits: int = 50) -> tuple[tuple[float, ...], float]:
    """The Chebyshev fit of ``exp`` on ``[-1.0001 ln2/2, 1.0001 ln2/2]`` (``mpmath.chebyfit``), its
    coefficients rounded to float64 in increasing degree, and its fit error (how ``EXP_POLY`` was made)."""
    import mpmath as mp
    with mp.workdps(digits):
        a = mp.log(2) / 2 * mp.mpf("1.0001")
        poly, err = mp.chebyfit(mp.exp, [-a, a], degree + 1, error=True)
        return tuple(float(c) for c in poly[::-1]), float(err)


def vexp(x) -> np.ndarray:
    """``exp(x)`` of a float64 array with :func:`exp1` (for tests and the benchmark)."""
    try:
        kind = np.asarray(x).dtype.kind
    except (TypeError, ValueError):  # ragged nested sequences
        kind = "O"
    if kind not in "biuf":  # complex would lose its imaginary part, strings fail deep inside numpy
        raise ValueError(f"vexp: x = {x!r:.60} has dtype kind {kind!r}; pass real numbers (a float or integer "
                         "array-like): exp of a complex number is numpy.exp.")
    a = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise ValueError("vexp: x has non-finite entries; pass finite float64 values.")
    out = np.empty_like(a)
    _vexp_into(a, out)
    return out.reshape(np.shape(x))
