"""Where a result came from: opdcheck's version, the git commit (when run from a checkout), Python,
the versions of the numerical dependencies that solver-based verdicts depend on, and the platform.

Everything here is the same for two runs of one installation, so it can sit in ``results.json`` beside
results that must be identical run to run; what differs per run (the date, the executor) is recorded
by :func:`run_stamp` and kept under ``timing``.

Example:
    >>> p = provenance()
    >>> sorted(p["dependencies"])[:3]
    ['clarabel', 'cvxpy', 'highspy']
    >>> p["python"].count(".") == 2
    True
"""
from __future__ import annotations

import datetime
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["DEPENDENCIES", "provenance", "run_stamp", "git_commit"]

#: the packages whose versions a verdict can depend on (solvers, exact arithmetic, kernels, plots)
DEPENDENCIES = ("numpy", "scipy", "sympy", "mpmath", "cvxpy", "clarabel", "highspy", "numba", "matplotlib", "jinja2")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_commit() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout opdcheck is imported from, or ``(None, None)`` when it is
    not a git checkout (an installed wheel) or git is unavailable."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return (commit or None), bool(status.strip())


def provenance() -> dict:
    """The installation that produced a result (deterministic for one installation)."""
    from opdcheck import __version__

    commit, dirty = git_commit()
    return {"opdcheck_version": __version__, "git_commit": commit, "git_dirty": dirty,
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "machine": platform.machine(),
            "dependencies": {d: _version(d) for d in DEPENDENCIES}}


def run_stamp(executor: str) -> dict:
    """What differs from run to run: the date (UTC, ISO 8601) and the executor that ran the sweeps."""
    return {"date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
            "executor": executor}
