"""Every verdict of the quick profile equals the recorded baseline (paper_checks/baseline.json).

One run of every check (tests/quick_profile_run.py), shared with the other tests of the session.
Every REFUTED of the baseline carries its independent witness; a verdict that differs fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import opdcheck.paper_checks as pc
from opdcheck.paper_checks.registry import all_checks

BASELINE = json.loads((Path(pc.__file__).parent / "baseline.json").read_text())


def test_baseline_lists_every_check():
    ids = {c.id for c in all_checks()}
    assert ids <= set(BASELINE["quick"]), sorted(ids - set(BASELINE["quick"]))
    assert set(BASELINE["quick"]) == set(BASELINE["full"])


@pytest.mark.parametrize("check_id", sorted(BASELINE["quick"]))
def test_quick_verdict_matches_baseline(check_id):
    from quick_profile_run import quick_results

    _, results = quick_results()
    if check_id not in results:
        pytest.skip(f"{check_id} is recorded in baseline.json but not registered on this branch")
    res = results[check_id]
    assert not isinstance(res, Exception), f"{check_id} crashed: {res!r}"
    want = BASELINE["quick"][check_id]
    assert res.verdict.value == want, f"{check_id}: recorded {want}, got {res.verdict.value}: {res.summary[:300]}"
