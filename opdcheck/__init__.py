"""opdcheck: check, claim by claim, the theory of arXiv 2602.22146.

Li, Ju, Shroff, *Provable Last-Iterate Convergence for Multi-Objective Safe LLM
Alignment via Optimistic Primal-Dual* (2026).

Layout (dependencies point one way)::

    paper_checks -> kernels, numerics, theory -> problem

Numba compilation cache (read once, here, before any kernel is compiled)
------------------------------------------------------------------------
The jitted kernels (``opdcheck.kernels.numba_opd``, ``numba_fused``, ``fastexp``) are cached on disk by
default, so a second process loads them instead of compiling them (~20 s of ``opdcheck run all``).
``OPDCHECK_NUMBA_CACHE`` decides where:

* unset or ``1``: the per-user folder ``$XDG_CACHE_HOME/opdcheck/numba`` (``~/.cache/opdcheck/numba``);
* ``0``: no disk cache (every process compiles);
* any other value: that folder.

The folder is handed to numba as ``NUMBA_CACHE_DIR`` unless the user set ``NUMBA_CACHE_DIR`` already
(then numba's own setting wins). A folder that cannot be created or written turns the cache off with
a warning (numba would refuse to load the kernels otherwise). Numba keys each entry by the source file's path, its modification
time, the argument types and the CPU, so an edited kernel or another machine compiles afresh.
"""
from __future__ import annotations

import os
import sys


def _numba_cache_setting() -> tuple[bool, str | None]:
    v = os.environ.get("OPDCHECK_NUMBA_CACHE", "1").strip()
    if v == "0":
        return False, None
    if "NUMBA_CACHE_DIR" in os.environ:
        folder = os.environ["NUMBA_CACHE_DIR"]
    elif v in ("", "1"):
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "opdcheck", "numba")
    else:
        folder = os.path.abspath(os.path.expanduser(v))
    try:  # numba refuses to decorate a cached function whose folder it cannot write: fall back to no cache
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise OSError(f"{folder} is not writable")
    except OSError as exc:
        import warnings

        warnings.warn(f"opdcheck: Numba disk cache off ({exc}); set OPDCHECK_NUMBA_CACHE to a writable folder.",
                      RuntimeWarning, stacklevel=2)
        return False, None
    return True, folder


#: on-disk caching of the jitted kernels, and the folder (see the module docstring)
NUMBA_CACHE, NUMBA_CACHE_DIR = _numba_cache_setting()
if NUMBA_CACHE and "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = NUMBA_CACHE_DIR  # also read by worker processes (opdcheck.sweeps)
    if "numba" in sys.modules:  # numba read its config at import: tell it now
        sys.modules["numba"].config.CACHE_DIR = NUMBA_CACHE_DIR

from opdcheck.problem import Problem  # noqa: E402

__all__ = ["Problem", "NUMBA_CACHE", "NUMBA_CACHE_DIR"]
__version__ = "0.1.0"
