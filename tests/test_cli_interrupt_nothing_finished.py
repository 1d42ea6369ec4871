"""An interrupt before any check finished writes nothing: the previous report stays as it was."""
from opdcheck.cli import EXIT_INTERRUPTED, EXIT_OK, main
from opdcheck.paper_checks import registry
from opdcheck.paper_checks.result import CheckResult, Verdict


def _ok(ctx):
    return CheckResult(verdict=Verdict.CONFIRMED, computed=1, stated=1, comparison="identity", judged=1)


def _interrupted(ctx):
    raise KeyboardInterrupt


def test_an_interrupt_before_any_check_finished_keeps_the_previous_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(registry._REGISTRY, "i-ok", registry.Check("i-ok", "t", "t", "", _ok, order=0))
    monkeypatch.setitem(registry._REGISTRY, "i-int", registry.Check("i-int", "t", "t", "", _interrupted, order=0))
    out = tmp_path / "report"
    assert main(["run", "i-ok", "--out", str(out), "--quiet"]) == EXIT_OK  # a good previous report
    before = (out / "results.json").read_bytes()
    assert main(["run", "i-int", "--out", str(out), "--quiet"]) == EXIT_INTERRUPTED
    assert (out / "results.json").read_bytes() == before  # unchanged, not an empty INCOMPLETE report
    assert "nothing written" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]  # no leftovers
