"""The Numba compilation cache: where the jitted kernels are cached on disk, set on first use.

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

Nothing happens on ``import opdcheck``: :func:`configure` runs the first time a kernel module asks for
the setting (``from opdcheck import NUMBA_CACHE``) or when the ``opdcheck`` command starts. It then
sets ``NUMBA_CACHE_DIR`` in this process's environment (worker processes of the sweeps inherit it),
which is the one process-wide effect, and only when the kernels are about to be compiled.
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache

__all__ = ["configure"]


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



@lru_cache(maxsize=1)
def configure() -> tuple[bool, str | None]:
    """``(enabled, folder)`` of the on-disk kernel cache, decided once; hands the folder to numba."""
    enabled, folder = _numba_cache_setting()
    if enabled and "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = folder  # also read by worker processes (opdcheck.sweeps)
        if "numba" in sys.modules:  # numba read its config at import: tell it now
            sys.modules["numba"].config.CACHE_DIR = folder
    return enabled, folder
