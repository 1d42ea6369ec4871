"""The recorded baseline (paper_checks/baseline.json, paper_checks/baseline.py): every check's verdict, every
finding's verdict and every control's outcome of the quick profile equal the recorded ones.

One run of every check (tests/quick_profile_run.py), shared with the other tests of the session. A difference in
any finding or control fails, with the one-line differences of ``baseline.compare``.
"""
from __future__ import annotations

import json

import pytest

from opdcheck.paper_checks import baseline as B
from opdcheck.paper_checks.registry import all_checks

BASELINE = B.load()


def test_baseline_is_valid_and_lists_every_check():
    ids = {c.id for c in all_checks()}
    assert ids <= set(BASELINE["quick"]), sorted(ids - set(BASELINE["quick"]))
    assert set(BASELINE["quick"]) == set(BASELINE["full"])
    for cid, e in BASELINE["quick"].items():
        assert e is not None and e["findings"] is not None and e["controls"] is not None, cid


@pytest.mark.parametrize("check_id", sorted(BASELINE["quick"]))
def test_quick_findings_match_baseline(check_id):
    from quick_profile_run import quick_results

    _, results = quick_results()
    if check_id not in results:
        pytest.skip(f"{check_id} is recorded in baseline.json but not registered on this branch")
    res = results[check_id]
    assert not isinstance(res, Exception), f"{check_id} crashed: {res!r}"
    diffs = B.compare([res], BASELINE["quick"])
    assert not diffs, "\n".join(diffs) + f"\nsummary: {res.summary[:300]}"


# ------------------------------------------------------------------------------ the comparison itself
def _result(verdict="REFUTED", findings=(("a", "REFUTED"), ("b", "CONFIRMED")), controls=(("c", True),), computed=0.5):
    return {"id": "x", "verdict": verdict, "computed": computed,
            "findings": [{"name": n, "verdict": v, "computed": None} for n, v in findings],
            "controls": [{"name": n, "passed": p} for n, p in controls]}


def test_compare_is_empty_on_the_recorded_result_and_catches_each_kind_of_difference():
    rec = B.record([_result()])
    assert B.compare([_result()], rec) == []
    # one finding's verdict changes while the check's verdict stays (the case a per-check baseline misses)
    d = B.compare([_result(findings=(("a", "REFUTED"), ("b", "INCONCLUSIVE")))], rec)
    assert d == ["x: finding 'b' recorded CONFIRMED, got INCONCLUSIVE"]
    assert B.compare([_result(controls=(("c", False),))], rec) == ["x: control 'c' recorded True, got False"]
    assert "missing from the run" in B.compare([_result(findings=(("a", "REFUTED"),))], rec)[0]
    assert "not in the baseline" in B.compare([_result(controls=(("c", True), ("new", True)))], rec)[0]
    assert "number computed" in B.compare([_result(computed=0.5 * (1 + 1e-3))], rec)[0]
    assert B.compare([_result(computed=0.5 * (1 + 1e-9))], rec) == []
    assert "recorded REFUTED, got CONFIRMED" in B.compare([_result(verdict="CONFIRMED")], rec)[0]
    # a missing or null entry is a difference
    assert "no recorded baseline entry" in B.compare([_result()], {})[0]
    assert "findings not recorded" in B.compare([_result()], {"x": {**rec["x"], "findings": None}})[0]


def test_a_relabelled_finding_is_a_difference():
    """A finding whose weight changes ("misstatement" -> "substantive") says something else about the paper with the
    same verdict: --strict and the default tests see it. An entry recorded before labels were is compared without."""
    def res(severity):
        r = _result()
        r["findings"][0].update(statement="eq-9", reading="literal", severity=severity)
        return r

    rec = B.record([res("misstatement")])
    assert rec["x"]["labels"]["a"] == "eq-9 · literal · misstatement"
    assert B.compare([res("misstatement")], rec) == []
    assert B.compare([res("substantive")], rec) == [
        "x: label 'a' recorded eq-9 · literal · misstatement, got eq-9 · literal · substantive"]
    old = {"x": {k: v for k, v in rec["x"].items() if k != "labels"}}
    assert B.compare([res("substantive")], old) == []
    with pytest.raises(B.BaselineError, match="labels"):
        B.validate({"quick": {"x": {**rec["x"], "labels": {"a": 3}}}})


def test_repeated_finding_names_are_kept_apart():
    r = _result(findings=(("a", "REFUTED"), ("a", "CONFIRMED")))
    assert B.record([r])["x"]["findings"] == {"a": "REFUTED", "a #2": "CONFIRMED"}


def test_malformed_baseline_is_a_one_line_error(tmp_path):
    p = tmp_path / "b.json"
    for text, field in [("{", "not valid JSON"), ('{"nightly": {}}', "profile 'nightly'"),
                        ('{"quick": {"x": {"verdict": "MAYBE", "findings": {}}}}', "quick.x.verdict"),
                        ('{"quick": {"x": {"verdict": "REFUTED", "findings": {"a": 3}}}}', "quick.x.findings"),
                        ('{"quick": {"x": {"verdict": "REFUTED", "findings": {}, "numbers": {"n": {"value": 1}}}}}',
                         "quick.x.numbers.n")]:
        p.write_text(text)
        with pytest.raises(B.BaselineError) as exc:
            B.load(p)
        msg = str(exc.value)
        assert field in msg and "\n" not in msg and "regenerate" in msg, msg


def test_write_profile_from_results_json(tmp_path):
    res = tmp_path / "results.json"
    res.write_text(json.dumps({"profile": "quick", "results": [_result()], "crashed": {}}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"profile": "quick", "results": [{**_result(), "id": "y"}], "crashed": {}}))
    out = tmp_path / "baseline.json"
    out.write_text(json.dumps({"full": {"x": {"verdict": "REFUTED", "findings": None}}}))
    assert B.main(["--from", str(res), "--from", str(other), "--profile", "quick", "--out", str(out)]) == 0
    data = B.load(out)
    assert set(data["quick"]) == {"x", "y"} and data["full"]["x"]["findings"] is None
    assert B.main(["--from", str(res), "--profile", "full", "--out", str(out)]) == 3  # its profile is quick


def test_update_keeps_the_profiles_other_checks(tmp_path):
    """Recording a few checks re-run alone (--update) keeps every other recorded check of the profile;
    without --update the profile is replaced by what the runs hold."""
    res = tmp_path / "results.json"
    res.write_text(json.dumps({"profile": "full", "results": [{**_result(), "id": "y"}], "crashed": {}}))
    out = tmp_path / "baseline.json"
    out.write_text(json.dumps({"full": {"x": {"verdict": "REFUTED", "findings": None}, "y": None}}))
    assert B.main(["--from", str(res), "--profile", "full", "--update", "--out", str(out)]) == 0
    data = B.load(out)
    assert set(data["full"]) == {"x", "y"} and data["full"]["y"]["verdict"] == _result()["verdict"]
    assert B.main(["--from", str(res), "--profile", "full", "--out", str(out)]) == 0
    assert set(B.load(out)["full"]) == {"y"}
