"""Memory the built-in profiles need, estimated before a run like a user's instance is.

``opdcheck run ID --profile P --memory-limit SIZE`` refuses up front what would not fit, whether the
instances come from ``--instance`` or from the check's own profile. A check's built-in instances are
described here by shape only, (X, n, h, K), and judged by the same estimators as a user's instance
(the check's declared ``memory=`` estimator, else ``resources.generic_bytes``):

* every check: the largest instance of the seeded families (``studies/thm34.py`` SWEEPS: X <= 100,
  n <= 50, h <= 4; the other checks use smaller fixed instances), bounded by :data:`FAMILY_SHAPE`;
* ``thm-3.4``, ``thm-3.4-lyapunov``, ``thm-3.4-rate`` at ``--profile full``: the scale instance
  ``studies.thm34.SCALE_SHAPE`` (1e4 x 1e3 x 4), run by the numpy/Numba kernels with the dual Newton
  saddle point (no cvxpy): ``resources.dense_bytes``, 2.4 GB.

Example
-------
>>> from opdcheck.resources import format_bytes
>>> format_bytes(profile_bytes("thm-3.4", "full"))
'2.2 GiB'
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

from opdcheck.resources import dense_bytes, generic_bytes

__all__ = ["FAMILY_SHAPE", "shape_standin", "profile_shapes", "profile_bytes"]

#: a bound on the shape of every built-in random instance of the quick and full profiles
FAMILY_SHAPE = (100, 50, 8, 2)


def shape_standin(X: int, n: int, h: int, K: int, name: str = "built-in") -> SimpleNamespace:
    """An object with the attributes the memory estimators read (X, n, h, R_soft.shape, name)."""
    return SimpleNamespace(X=X, n=n, h=h, R_soft=SimpleNamespace(shape=(K, X, n)), name=name)


def profile_shapes(check_id: str, profile: str) -> list[tuple[tuple[int, int, int, int], bool]]:
    """((X, n, h, K), numpy_only) of the largest instances ``check_id`` builds at ``profile``."""
    shapes = [(FAMILY_SHAPE, False)]
    if profile == "full":  # imported only here: the Thm 3.4 study imports sympy and the kernels
        from opdcheck.paper_checks.studies.thm34 import SCALE_CHECKS, SCALE_SHAPE

        if check_id in SCALE_CHECKS:
            shapes.append((SCALE_SHAPE, True))
    return shapes


def profile_bytes(check_id: str, profile: str, estimator: "Callable | None" = None) -> int:
    """The largest estimate over :func:`profile_shapes`; ``estimator`` is the check's declared one."""
    need = 0
    for (X, n, h, K), numpy_only in profile_shapes(check_id, profile):
        p = shape_standin(X, n, h, K, name=f"{check_id} {profile}-profile instance")
        est = dense_bytes if numpy_only else (estimator or generic_bytes)
        need = max(need, int(est(p)))
    return need
