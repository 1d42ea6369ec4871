"""The kernels' accuracy contracts against their references, one comparison each (the kernel tests and their
own-scale controls call these, so the two cannot drift apart).

- :func:`exp_within_ulp`: ``kernels.fastexp`` vs ``numpy.exp`` (libm), normal results, FASTEXP_MAX_ULP ulp;
- :func:`kl_series_agrees`: the Numba KL term (Taylor series of ``d + expm1(-d)``) vs ``kl_rows_log``,
  NUMBA_KL_SERIES_RTOL relative;
- :func:`softmax_log_agrees`, :func:`softmax_pi_agrees`: the Numba log-softmax row vs ``log_softmax_rows``,
  per unit of logit size ``L = max|z|`` (NUMBA_SOFTMAX_RTOL_PER_LOGIT; log pi at twice it, absolute).

Example::

    >>> import numpy as np
    >>> want = np.exp(np.array([-1.0, 0.5]))
    >>> exp_within_ulp(want + np.spacing(want), want), exp_within_ulp(want + 4 * np.spacing(want), want)
    (True, False)
"""
from __future__ import annotations

import numpy as np

from opdcheck.tolerances import FASTEXP_MAX_ULP, NUMBA_KL_SERIES_RTOL, NUMBA_SOFTMAX_RTOL_PER_LOGIT

__all__ = ["ulp_error", "exp_within_ulp", "kl_series_agrees", "softmax_log_agrees", "softmax_pi_agrees"]


def ulp_error(got, want) -> float:
    """``max |got - want| / spacing(want)`` over the normal results ``want >= tiny`` (0 if there are none)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    normal = np.isfinite(want) & (want >= np.finfo(np.float64).tiny)
    return float(np.max(np.abs(got[normal] - want[normal]) / np.spacing(want[normal]))) if normal.any() else 0.0


def exp_within_ulp(got, want) -> bool:
    """The fast exp meets its contract on the normal results: :func:`ulp_error` ``<= FASTEXP_MAX_ULP``."""
    return bool(ulp_error(got, want) <= FASTEXP_MAX_ULP)


def kl_series_agrees(got, ref) -> bool:
    """Every KL term agrees with the reference: ``|got - ref| <= NUMBA_KL_SERIES_RTOL |ref|``."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return bool(np.all(np.abs(got - ref) <= NUMBA_KL_SERIES_RTOL * np.abs(ref)))


def softmax_log_agrees(z, ref, L: float) -> bool:
    """log pi agrees with the reference to twice the per-logit rounding: ``|z - ref| <= 2 rtol L``."""
    z, ref = np.asarray(z, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return bool(np.all(np.abs(z - ref) <= 2 * NUMBA_SOFTMAX_RTOL_PER_LOGIT * L))


def softmax_pi_agrees(pi, ref_pi, L: float) -> bool:
    """pi agrees relatively with the reference: ``|pi - ref_pi| <= rtol L |ref_pi|`` (the logits' absolute
    rounding is a relative error of pi)."""
    pi, ref_pi = np.asarray(pi, dtype=np.float64), np.asarray(ref_pi, dtype=np.float64)
    return bool(np.all(np.abs(pi - ref_pi) <= NUMBA_SOFTMAX_RTOL_PER_LOGIT * L * np.abs(ref_pi)))
