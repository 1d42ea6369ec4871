"""One run of every check in the quick profile (seed 0), shared by the tests of a pytest session.

Not a test module: ``test_paper_checks_baseline.py`` compares every verdict with baseline.json from it, and the
Thm 3.4 tests read their checks' results from it instead of running the checks again.
"""
from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def quick_results() -> tuple[Path, dict]:
    """``(report directory, {check id: CheckResult or the exception it raised})``, computed once."""
    from opdcheck.paper_checks.context import CheckContext
    from opdcheck.paper_checks.registry import all_checks

    out = Path(tempfile.mkdtemp(prefix="opdcheck-quick-"))
    results: dict = {}
    for check in all_checks():
        try:
            results[check.id] = check.run(CheckContext(profile="quick", seed=0, out_dir=out))
        except Exception as exc:  # recorded; the baseline test reports it as a crash
            results[check.id] = exc
    return out, results


def quick_result(check_id: str):
    """The session's quick-profile result of one check (the same ``check.run`` a test would repeat); a crash of
    that check fails the calling test with its exception."""
    _, results = quick_results()
    res = results[check_id]
    if isinstance(res, Exception):
        raise AssertionError(f"{check_id} crashed in the session's quick run: {res!r}")
    return res
