"""One run of every check in the quick profile (seed 0), shared by the tests of a pytest session.

Not a test module: ``test_paper_checks_baseline.py`` compares every verdict with baseline.json from it, and the
Thm 3.4 tests read their checks' results from it instead of running the checks again. The checks run whole in
parallel worker processes (``opdcheck.paper_checks.dispatch.run_checks``, one per usable core, longest expected
first), as ``opdcheck run all`` runs them; ``OPDCHECK_TEST_JOBS=1`` runs them one after another in this process.
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def quick_results() -> tuple[Path, dict]:
    """``(report directory, {check id: CheckResult or the exception it raised})``, computed once."""
    from opdcheck.paper_checks.dispatch import run_checks
    from opdcheck.paper_checks.registry import all_checks

    out = Path(tempfile.mkdtemp(prefix="opdcheck-quick-"))
    jobs = int(os.environ["OPDCHECK_TEST_JOBS"]) if os.environ.get("OPDCHECK_TEST_JOBS") else None
    outcomes = run_checks(all_checks(), profile="quick", seed=0, out_dir=out, jobs=jobs)
    # a crash is recorded as its exception; the baseline test reports it as a crash
    return out, {cid: (o.result if o.result is not None else o.exception) for cid, o in outcomes.items()}


def quick_result(check_id: str):
    """The session's quick-profile result of one check (the same ``check.run`` a test would repeat); a crash of
    that check fails the calling test with its exception."""
    _, results = quick_results()
    res = results[check_id]
    if isinstance(res, Exception):
        raise AssertionError(f"{check_id} crashed in the session's quick run: {res!r}")
    return res
