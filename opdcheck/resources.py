"""Memory a check needs, estimated from the instance size before it starts.

A check on a user instance that does not fit in memory used to abort in native code (cvxpy/Clarabel
at 15 GB for ``eq3-best-response`` on a 1e4 x 1e3 instance), losing the run. ``opdcheck run``
now asks every selected check for an estimate (``Check.memory_estimate(problem)``, the estimator a
check declared with ``register_check(..., memory=...)``, else :func:`generic_bytes`) and refuses, up
front, with the estimate and the limit, what would not fit.

The limit: ``--memory-limit SIZE``, else the environment variable ``OPDCHECK_MEMORY_LIMIT``, else
:data:`DEFAULT_FRACTION` of physical memory. ``SIZE`` is bytes or a number with a unit (``500M``,
``16G``, ``1.5T``; powers of 1024) or ``none`` for no limit.

Example
-------
>>> parse_size("1.5G", field="--memory-limit")
1610612736
>>> format_bytes(3 * 1024 ** 3)
'3.0 GiB'
"""
from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = ["DEFAULT_FRACTION", "ENV_VAR", "CVXPY_BYTES_PER_ENTRY", "FLOAT64_ARRAYS_PER_ENTRY",
           "dense_bytes", "cvxpy_bytes", "generic_bytes", "certify_bytes", "bilinear_bytes", "physical_memory", "parse_size",
           "format_bytes", "memory_limit", "MemoryEstimator"]

MemoryEstimator = Callable[["Problem"], int]

ENV_VAR = "OPDCHECK_MEMORY_LIMIT"

#: Default limit as a fraction of physical memory: the rest is left to the OS, the interpreter and
#: whatever else runs (the default box is shared by several processes).
DEFAULT_FRACTION = 0.75

#: Peak resident memory of one cvxpy/Clarabel exponential-cone solve per policy entry (X*n), as
#: measured for ``solve_best_response_cvxpy`` on random_instance(X, n, h) at X*n = 1e4..3e4, h = 2..8:
#: 3.2e3..3.5e3 bytes per entry, independent of h (the cone constraints are per entry); rounded up.
CVXPY_BYTES_PER_ENTRY = 4096

#: float64 arrays of the instance's (X, n) shape a check keeps alive at once beyond the reward
#: tensors: pi, pi_hat, pi_prev, log-policies, scores, gradients, the driver's workspace; 24 covers
#: the OPD driver and the certificates with room.
FLOAT64_ARRAYS_PER_ENTRY = 24

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def _entries(problem: "Problem") -> tuple[int, int, int]:
    X, n, h = int(problem.X), int(problem.n), int(problem.h)
    K = int(problem.R_soft.shape[0])
    return X * n, h, K


def dense_bytes(problem: "Problem") -> int:
    """numpy-only checks: the reward tensors (K + h arrays of X*n) plus the working arrays."""
    xn, h, K = _entries(problem)
    return 8 * xn * (K + h + FLOAT64_ARRAYS_PER_ENTRY)


def cvxpy_bytes(problem: "Problem") -> int:
    """Checks that solve the instance with cvxpy/Clarabel (a reference best response, saddle point or prox)."""
    xn, _, _ = _entries(problem)
    return dense_bytes(problem) + CVXPY_BYTES_PER_ENTRY * xn


#: ``opdcheck certify``: bytes per entry of the exact rational design (pi* and the hard rewards as
#: Fractions/sympy Rationals with a common denominator <= 1e12): measured 113 MB peak resident for
#: X*n = 5e4, h = 1 (1e5 entries, of which ~80 MB is the interpreter and its imports); 512 covers it with room.
RATIONAL_BYTES_PER_ENTRY = 512


def certify_bytes(problem: "Problem") -> int:
    """``opdcheck certify FILE``: the dense working set plus the exact rational design of (pi*, R_hard)."""
    xn, h, _ = _entries(problem)
    return dense_bytes(problem) + RATIONAL_BYTES_PER_ENTRY * xn * (h + 1)


def bilinear_bytes(shape: tuple[int, ...]) -> int:
    """``opdcheck certify --bilinear``: A^T A as Python integers of ~(4 + k/8) words each, a few copies."""
    k = int(max(shape)) if len(shape) else 0
    return 4 * k * k * (64 + 8 * k) + 8 * k * k * 8


def generic_bytes(problem: "Problem") -> int:
    """The default for a check that declares no estimator: conservative, it assumes one cvxpy solve of
    the instance (the reference every certificate may fall back on). A numpy-only check declares
    ``memory=dense_bytes`` to be judged by its own need."""
    return cvxpy_bytes(problem)


#: The most steps one run of an iteration may take unless the user raises it (``OPDCHECK_MAX_STEPS``):
#: 1e7 steps of the numpy reference on the paper's toy take ~5 minutes on one core; the checks use <= 2e5.
MAX_RUN_STEPS = 10**7
STEPS_ENV_VAR = "OPDCHECK_MAX_STEPS"


def max_run_steps() -> tuple[int, str]:
    """(the step limit, where it came from): ``OPDCHECK_MAX_STEPS`` if set, else :data:`MAX_RUN_STEPS`."""
    raw = os.environ.get(STEPS_ENV_VAR)
    if raw is None or not raw.strip():
        return MAX_RUN_STEPS, "the default"
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):
        raise ValueError(f"{STEPS_ENV_VAR} = {raw!r} is not a number of steps; set an integer such as 100000000.") from None
    if value < 1:
        raise ValueError(f"{STEPS_ENV_VAR} = {raw!r}; set an integer >= 1.")
    return value, STEPS_ENV_VAR


def physical_memory() -> int | None:
    """Physical memory in bytes, or None when the platform does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages) * int(size)
    except (AttributeError, ValueError, OSError):
        pass
    try:  # pragma: no cover - platforms without sysconf
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # pragma: no cover
        return None


def parse_size(text: str, *, field: str) -> int | None:
    """Bytes from ``"123"``, ``"500M"``, ``"16G"``, ``"1.5T"`` (powers of 1024); None for ``"none"``."""
    s = str(text).strip()
    if s.lower() in ("none", "unlimited", "inf"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:i?B)?", s, flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"{field}: {text!r} is not a size; pass bytes or a number with a unit, "
                         "e.g. 500M, 16G, 1.5T, or 'none' for no limit.")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{field}: {text!r} is below one byte; pass a positive size such as 16G.")
    return int(value)


def format_bytes(n: float) -> str:
    for unit, scale in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def memory_limit(option: str | None = None) -> tuple[int | None, str]:
    """(limit in bytes or None for none, where it came from): the option, else the environment, else
    :data:`DEFAULT_FRACTION` of physical memory."""
    if option is not None:
        return parse_size(option, field="--memory-limit"), "--memory-limit"
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip():
        return parse_size(env, field=ENV_VAR), ENV_VAR
    phys = physical_memory()
    if phys is None:  # pragma: no cover - platform without the information
        return None, "no limit (physical memory unknown)"
    return int(DEFAULT_FRACTION * phys), f"{DEFAULT_FRACTION:.0%} of physical memory ({format_bytes(phys)})"
