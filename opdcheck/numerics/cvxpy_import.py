"""cvxpy, imported without paying for JAX when JAX would only feed cvxpy's MPAX probe.

When imported, cvxpy lists its installed solvers (``cvxpy.reductions.solvers.defines.INSTALLED_SOLVERS``),
asking each solver interface to import its package. The MPAX interface imports ``jax`` first and ``mpax``
second, so on a machine with JAX (the neural policies of Sec. 4 use it) and without MPAX, every process
that imports cvxpy also imports JAX (most of cvxpy's import time: about 2 s of CPU) only to learn that
MPAX is missing.

:func:`import_cvxpy` imports cvxpy with a finder on ``sys.meta_path`` that refuses ``jax`` to that probe
only (to a call stack inside cvxpy's ``mpax_qpif`` module, in the importing thread), and only when ``mpax``
cannot be found, so the probe fails as it would anyway: cvxpy's installed-solver list is the same, no other
caller or thread sees the finder, and a later ``import jax`` works as usual. With MPAX installed, or JAX
already imported, it is a plain ``import cvxpy``.

Example:
    >>> cp = import_cvxpy()
    >>> "CLARABEL" in cp.installed_solvers()
    True
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType

__all__ = ["import_cvxpy"]

#: the cvxpy module whose solver probe imports JAX only to import MPAX
_PROBE_FILE = "mpax_qpif.py"
_LOCK = threading.Lock()


class _NoJaxForMpaxProbe:
    """A meta-path finder: ``import jax`` from cvxpy's MPAX probe fails as if JAX were absent."""

    @staticmethod
    def find_spec(name: str, path=None, target=None):  # noqa: ANN001 - the importlib finder protocol
        if name != "jax":
            return None
        frame = sys._getframe(1)
        while frame is not None:  # the importing thread's own stack: other threads are not affected
            if frame.f_code.co_filename.endswith(_PROBE_FILE):
                raise ModuleNotFoundError("jax is not imported for cvxpy's MPAX probe (mpax is not installed)",
                                          name="jax")
            frame = frame.f_back
        return None


def import_cvxpy() -> ModuleType:
    """``import cvxpy``, without importing JAX for the MPAX probe when MPAX is not installed; returns cvxpy."""
    if "cvxpy" in sys.modules:
        return sys.modules["cvxpy"]
    with _LOCK:
        hide = "jax" not in sys.modules and importlib.util.find_spec("mpax") is None
        finder = _NoJaxForMpaxProbe()
        if hide:
            sys.meta_path.insert(0, finder)
        try:
            return importlib.import_module("cvxpy")
        finally:
            if hide:
                sys.meta_path.remove(finder)
