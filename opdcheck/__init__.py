"""opdcheck: check, claim by claim, the theory of arXiv 2602.22146.

Li, Ju, Shroff, *Provable Last-Iterate Convergence for Multi-Objective Safe LLM
Alignment via Optimistic Primal-Dual* (2026).

Layout (dependencies point one way)::

    paper_checks -> kernels, numerics, theory -> problem

The entry points are exported here and imported on first use (PEP 562), so ``import opdcheck`` is
cheap and has no side effect on the process (no environment variable, no plotting backend):

* :class:`Problem` -- a validated instance; ``instances`` -- generators (the paper's toy, random, files);
* :func:`solve_saddle` -- the exact saddle point ``(pi*, lam*)`` (a :class:`~opdcheck.numerics.types.SaddlePoint`);
* :func:`run_opd` -- Algorithm 2 (OPD), and :func:`run_config` -- the one driver of every named method;
* :func:`certify_local_rate` -- the certified local rate (a :class:`~opdcheck.api.RateCertificate`);
  :func:`certify_instance` -- the same as a plain dict (``opdcheck.certify`` is the command's formatting);
* :func:`run_check` -- one check of the paper, as a ``CheckResult``.

The Numba kernels are cached on disk in a per-user folder keyed on every kernel source
(``opdcheck.kernels.numba_cache``; ``OPDCHECK_NUMBA_CACHE=0`` turns it off, a path moves it), decided when a
kernel is first imported. The ``opdcheck`` command also selects matplotlib's Agg backend
for its own process; library users keep theirs (figures are drawn with the object-oriented API).
Library code logs to the ``opdcheck`` logger (Python ``logging``), it does not print.

Example:
    >>> import opdcheck
    >>> toy = opdcheck.instances.paper_toy(beta=0.05)
    >>> sp = opdcheck.solve_saddle(toy)
    >>> [round(float(v), 6) for v in sp.lam], [round(float(v), 6) for v in sp.pi[0]]
    ([1.0], [0.3, 0.7])
    >>> tr = opdcheck.run_opd(toy, eta_th=3.0, eta_lam=3.0, T=1000)
    >>> bool(tr.error[-1] < 1e-9 * tr.error[0])  # last-iterate convergence
    True
"""
from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

#: name -> (module, attribute); attribute None: the module itself
_EXPORTS = {
    "Problem": ("opdcheck.problem", "Problem"),
    "instances": ("opdcheck.instances", None),
    "solve_saddle": ("opdcheck.numerics.saddle", "solve_saddle"),
    "SaddlePoint": ("opdcheck.numerics.types", "SaddlePoint"),
    "run_opd": ("opdcheck.kernels.opd", "run_opd"),
    "run_config": ("opdcheck.kernels.framework", "run_config"),
    "certify_local_rate": ("opdcheck.api", "certify_local_rate"),
    "RateCertificate": ("opdcheck.api", "RateCertificate"),
    "certify_instance": ("opdcheck.numerics.local_rate", "certify_instance"),
    "run_check": ("opdcheck.api", "run_check"),
}

__all__ = ["Problem", "RateCertificate", "SaddlePoint", "__version__", "certify_instance", "certify_local_rate",
           "instances", "run_check", "run_config", "run_opd", "solve_saddle"]

logging.getLogger("opdcheck").addHandler(logging.NullHandler())  # library convention: the user configures logging


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
    else:
        raise AttributeError(f"module 'opdcheck' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
