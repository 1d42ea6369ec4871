"""The command line end to end: list, show, run (report, exit codes, --strict, --instance), solve."""
import json
import re

import pytest


from opdcheck.cli import EXIT_CRASH, EXIT_INPUT, EXIT_OK, EXIT_STRICT, main
from opdcheck.instances import paper_toy, save_problem
from opdcheck.paper_checks.registry import all_checks

FAST = ["dual-step-scale", "lemma-B.5"]  # two quick checks, one theory and one numerics


def test_list_and_show(capsys):
    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    ids = [c.id for c in all_checks()]
    assert all(i in out for i in ids)
    assert main(["show", "thm-3.4"]) == EXIT_OK
    assert "Thm 3.4" in capsys.readouterr().out
    assert main(["show", "no-such-check"]) == EXIT_INPUT
    assert "unknown check id" in capsys.readouterr().err


def test_every_registered_check_states_its_claim():
    for c in all_checks():
        assert c.paper_ref and c.claim and c.doc, c.id


def test_run_writes_report_and_is_deterministic(tmp_path, capsys):
    """The same seed gives the same report, run twice in this process (``--jobs 1``; that worker processes write
    the same report as one process is tests/test_paper_checks_dispatch.py
    test_whole_checks_in_parallel_write_the_serial_report, through this command too)."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", *FAST, "--out", str(a), "--seed", "5", "--quiet", "--jobs", "1"]) == EXIT_OK
    table = capsys.readouterr().out
    assert re.search(r"^dual-step-scale\s+INCONSISTENT\s", table, re.M) and "|---" not in table
    assert main(["run", *FAST, "--out", str(b), "--seed", "5", "--quiet", "--jobs", "1"]) == EXIT_OK

    def strip(p):
        d = json.loads((p / "results.json").read_text())
        d.pop("timing")
        for r in d["results"]:
            r.pop("wall_time")
        return d

    assert strip(a) == strip(b)
    assert (a / "report.md").read_text().startswith("# opdcheck report")


def test_run_rejects_bad_input(tmp_path, capsys):
    assert main(["run", "no-such-check", "--out", str(tmp_path)]) == EXIT_INPUT
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rho": [1.0], "pi_ref": [[0.5, 0.6]], "R_soft": [[[1, 0]]], "w": [1],
                               "R_hard": [[[-1, 1]]], "beta": 0.1}))
    assert main(["run", "lemma-B.5", "--instance", str(bad), "--out", str(tmp_path / "r")]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "pi_ref" in err and "row 0" in err


def test_run_with_instance_file(tmp_path, capsys):
    f = save_problem(paper_toy(), tmp_path / "toy.npz")
    assert main(["run", "lemma-B.5", "--instance", str(f), "--out", str(tmp_path / "r"), "--quiet"]) == EXIT_OK
    payload = json.loads((tmp_path / "r" / "results.json").read_text())
    assert payload["instance"] == str(f)


def test_strict_flags_a_verdict_that_differs_from_the_baseline(tmp_path, monkeypatch, capsys):
    """``--strict`` against a baseline; the runs are in this process (``--jobs 1``): what is compared does not
    depend on where the checks ran (tests/test_paper_checks_dispatch.py
    test_whole_checks_in_parallel_write_the_serial_report)."""
    import opdcheck.cli as cli
    from opdcheck.paper_checks.baseline import compare, record

    # a baseline holding the run just measured: --strict passes (the recorded baseline.json is compared
    # finding by finding by tests/test_paper_checks_baseline.py)
    assert main(["run", *FAST, "--out", str(tmp_path), "--quiet", "--jobs", "1"]) == EXIT_OK
    measured = record(json.loads((tmp_path / "results.json").read_text())["results"])
    monkeypatch.setattr(cli, "_load_baseline", lambda: {"quick": measured})
    assert main(["run", *FAST, "--out", str(tmp_path), "--strict", "--quiet", "--jobs", "1"]) == EXIT_OK
    # negative controls: another check verdict, another verdict of one finding only, a control recorded as
    # failed: each alone is a difference (the same comparison --strict makes, on this run's results), and
    # --strict fails and names every one (one run against a baseline holding all three)
    v = measured["dual-step-scale"]["verdict"]
    other = "CONFIRMED" if v != "CONFIRMED" else "REFUTED"
    f0 = next(iter(measured["dual-step-scale"]["findings"]))
    c0 = next(iter(measured["dual-step-scale"]["controls"]))
    changes = [({"verdict": other}, f"dual-step-scale: recorded {other}, got {v}"),
               ({"findings": {**measured["dual-step-scale"]["findings"], f0: "INCONCLUSIVE"}},
                f"finding {f0!r} recorded INCONCLUSIVE"),
               ({"controls": {**measured["dual-step-scale"]["controls"], c0: False}},
                f"control {c0!r} recorded False, got True")]
    run_results = json.loads((tmp_path / "results.json").read_text())["results"]
    for changed, line in changes:
        diffs = compare(run_results, {**measured, "dual-step-scale": {**measured["dual-step-scale"], **changed}})
        assert len(diffs) == 1 and line in diffs[0], diffs
    all_changed = {k: v for changed, _ in changes for k, v in changed.items()}
    monkeypatch.setattr(cli, "_load_baseline",
                        lambda: {"quick": {**measured, "dual-step-scale": {**measured["dual-step-scale"], **all_changed}}})
    capsys.readouterr()
    assert main(["run", *FAST, "--out", str(tmp_path), "--strict", "--quiet", "--jobs", "1"]) == EXIT_STRICT
    err = capsys.readouterr().err
    assert all(line in err for _, line in changes), err


def test_strict_with_a_malformed_baseline_is_bad_input(tmp_path, monkeypatch, capsys):
    import opdcheck.cli as cli
    from opdcheck.paper_checks.baseline import BaselineError

    def broken():
        raise BaselineError("baseline.json: quick.x.verdict is 'MAYBE'; use one of ('CONFIRMED', ...)")

    monkeypatch.setattr(cli, "_load_baseline", broken)
    assert main(["run", "dual-step-scale", "--out", str(tmp_path), "--strict", "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "quick.x.verdict" in err and len(err.strip().splitlines()) == 1


def test_a_crashing_check_is_reported_not_raised(tmp_path, monkeypatch, capsys):
    from opdcheck.paper_checks import registry

    check = registry.get_check("dual-step-scale")

    def boom(ctx):
        raise RuntimeError("planted crash")

    monkeypatch.setitem(registry._REGISTRY, check.id, registry.Check(
        check.id, check.paper_ref, check.claim, check.expected, boom, check.order))
    assert main(["run", "dual-step-scale", "lemma-B.5", "--out", str(tmp_path), "--quiet"]) == EXIT_CRASH
    out = capsys.readouterr().out
    assert "CRASHED" in out and "lemma-B.5" in out  # the other check still ran
    assert "planted crash" in (tmp_path / "report.md").read_text()


def test_solve(tmp_path, capsys):
    f = save_problem(paper_toy(), tmp_path / "toy.json")
    assert main(["solve", str(f)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "lam* = [1." in out and "Slater margin" in out
    assert main(["solve", str(tmp_path / "missing.npz")]) == EXIT_INPUT


def test_instance_outside_the_hypotheses_is_reported_not_crashed(tmp_path, capsys):
    toy = paper_toy()
    beta0 = save_problem(toy.with_beta(0.0), tmp_path / "beta0.npz")
    assert main(["run", "thm-3.4", "thm-3.4-lyapunov", "thm-3.4-rate", "--instance", str(beta0),
                 "--out", str(tmp_path / "r"), "--quiet", "--jobs", "1"]) == EXIT_OK  # verdicts: not where they ran
    verdicts = {r["id"]: r["verdict"] for r in json.loads((tmp_path / "r" / "results.json").read_text())["results"]}
    assert verdicts == {"thm-3.4": "INCONCLUSIVE", "thm-3.4-lyapunov": "INCONCLUSIVE", "thm-3.4-rate": "INCONCLUSIVE"}
    # Slater fails (every threshold raised by 1): a clear input error naming xi, before any check runs
    from opdcheck.problem import Problem

    infeasible = Problem(toy.rho, toy.pi_ref, toy.R_soft, toy.w, toy.R_hard - 1.0, toy.beta, name="infeasible")
    f = save_problem(infeasible, tmp_path / "infeasible.npz")
    assert main(["run", "thm-3.4", "--instance", str(f), "--out", str(tmp_path / "r2")]) == EXIT_INPUT
    assert "Slater" in capsys.readouterr().err


@pytest.mark.slow
def test_run_all_is_deterministic_and_matches_the_baseline(tmp_path):
    # the same seed gives the same report (wall times aside), for every check; --strict holds today's verdicts
    def run_and_strip(out):
        assert main(["run", "all", "--out", str(out), "--seed", "3", "--quiet"]) == EXIT_OK
        d = json.loads((out / "results.json").read_text())
        d.pop("timing")
        for r in d["results"]:
            r.pop("wall_time")
        return d

    assert run_and_strip(tmp_path / "a") == run_and_strip(tmp_path / "b")
    assert main(["run", "all", "--out", str(tmp_path / "c"), "--strict", "--quiet"]) == EXIT_OK


def test_appendix_from_opdcheck_mutants(tmp_path, monkeypatch):
    import importlib.machinery
    import sys
    import types

    fake = types.ModuleType("opdcheck.mutants")
    fake.__spec__ = importlib.machinery.ModuleSpec("opdcheck.mutants", None)
    fake.appendix_markdown = lambda: "| mutant | caught |\n|---|---|\n| flip-sign | yes |"
    monkeypatch.setitem(sys.modules, "opdcheck.mutants", fake)
    assert main(["run", "dual-step-scale", "--out", str(tmp_path / "r"), "--quiet"]) == EXIT_OK
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## Appendix: Mutation testing" in text and "| flip-sign | yes |" in text
    # a failing appendix costs a note, not the report
    fake.appendix_markdown = lambda: 1 / 0
    assert main(["run", "dual-step-scale", "--out", str(tmp_path / "r"), "--quiet"]) == EXIT_OK
    assert "appendix of opdcheck.mutants failed: ZeroDivisionError" in (tmp_path / "r" / "report.md").read_text()


def test_help_and_parser_errors_are_exit_codes(capsys):
    assert main(["--help"]) == EXIT_OK
    assert main(["run", "--no-such-option"]) == EXIT_INPUT
    assert "opdcheck: error:" in capsys.readouterr().err
