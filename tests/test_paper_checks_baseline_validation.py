"""--strict: the baseline (paper_checks/baseline.py, one module) is validated before any work, and a missing
or null entry, a missing finding or another verdict is a difference."""

import pytest

from opdcheck.cli import EXIT_INPUT, EXIT_OK, EXIT_STRICT, main
from opdcheck.paper_checks import registry
from opdcheck.paper_checks.baseline import BaselineError, compare, load, validate
from opdcheck.paper_checks.result import CheckResult, Finding, Verdict

ran = []


def _check(ctx):
    ran.append(ctx.seed)
    return CheckResult(id="b-a", paper_ref="t", claim="t", verdict=None, computed=1, stated=1, comparison="identity",
                       findings=[Finding("f1", "claim", Verdict.CONFIRMED, computed=1, stated=1, judged=1)])


@pytest.fixture
def check(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "b-a", registry.Check("b-a", "t", "t", "", _check, order=0))
    ran.clear()


@pytest.mark.parametrize("baseline,match", [
    ({"quick": {"b-a": "MAYBE"}}, "MAYBE"),
    ({"quick": {"b-a": {"verdict": None}}}, "verdict is None"),
    ({"quick": {"b-a": {"verdict": "CONFIRMED", "findings": {"f1": None}}}}, "findings"),
    ({"quick": {"b-a": {"verdict": "CONFIRMED", "findings": 3}}}, "findings"),
    ({"quick": ["b-a"]}, "expected"),
    ({"full": {}}, "no entry for profile"),
    ([], "top level"),
])
def test_a_malformed_baseline_is_refused_before_any_work(tmp_path, monkeypatch, capsys, check, baseline, match):
    from opdcheck import cli

    monkeypatch.setattr(cli, "_load_baseline", lambda: baseline)
    assert main(["run", "b-a", "--strict", "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err
    assert ran == []


@pytest.mark.parametrize("text", ['{"quick": {"b-a": "CONF', "", "not json"])
def test_a_truncated_file_is_one_line(tmp_path, text):
    f = tmp_path / "baseline.json"
    f.write_text(text)
    with pytest.raises(BaselineError, match="not valid JSON") as e:
        load(f)
    assert "\n" not in str(e.value)


def test_missing_or_null_entries_and_findings_are_differences(tmp_path, monkeypatch, capsys, check):
    from opdcheck import cli

    for rec in ({"quick": {}}, {"quick": {"b-a": None}}):
        monkeypatch.setattr(cli, "_load_baseline", lambda rec=rec: rec)
        assert main(["run", "b-a", "--strict", "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_STRICT
        capsys.readouterr()
    monkeypatch.setattr(cli, "_load_baseline", lambda: {"quick": {"b-a": {"verdict": "CONFIRMED",
                                                                          "findings": {"f1": "CONFIRMED", "f2": "REFUTED"}, "controls": {}}}})
    assert main(["run", "b-a", "--strict", "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_STRICT
    assert "f2" in capsys.readouterr().err
    # positive control: matching
    monkeypatch.setattr(cli, "_load_baseline", lambda: {"quick": {"b-a": {"verdict": "CONFIRMED",
                                                                          "findings": {"f1": "CONFIRMED"}, "controls": {}}}})
    assert main(["run", "b-a", "--strict", "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_OK
    # negative control: another verdict
    monkeypatch.setattr(cli, "_load_baseline", lambda: {"quick": {"b-a": {"verdict": "REFUTED", "findings": {"f1": "CONFIRMED"}, "controls": {}}}})
    assert main(["run", "b-a", "--strict", "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_STRICT


def test_the_shipped_baseline_validates():
    data = load()
    validate(data)
    assert compare([], {}) == []
