"""Whole checks in parallel worker processes (``paper_checks/dispatch.py``, ``opdcheck run --jobs N``): the report
is the serial run's, a crash or a dying worker costs only its own check, SIGTERM keeps the finished checks, and
the memory limit counts the checks that run at once. Test checks live in ``dispatch_test_checks.py``, a module the
spawned workers import."""
import json
import multiprocessing
import signal

import pytest

import dispatch_test_checks as tc
from opdcheck.cli import EXIT_CRASH, EXIT_INPUT, EXIT_OK, EXIT_TERMINATED, main
from opdcheck.instances import paper_toy, save_problem
from opdcheck.paper_checks import dispatch, registry

#: four real checks of about a second each, theory and numerics, one of them REFUTED with a replayed witness
CHEAP = ["dual-function", "dual-step-scale", "app-C-proof-steps", "cor-3.10-residual"]


def _register(monkeypatch, cid, func, **kw):
    monkeypatch.setitem(registry._REGISTRY, cid, registry.Check(cid, "test", "test claim", "", func, order=0, **kw))


def _without_times(path):
    """results.json as text, with what may differ between executors removed: wall times and the timing block."""
    payload = json.loads((path / "results.json").read_text())
    timing = payload.pop("timing")
    for r in payload["results"]:
        r.pop("wall_time")
    return json.dumps(payload, indent=1), timing["executor"]


def test_whole_checks_in_parallel_write_the_serial_report(tmp_path, monkeypatch):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main(["run", *CHEAP, "--out", str(serial), "--seed", "3", "--quiet", "--jobs", "1"]) == EXIT_OK
    assert main(["run", *CHEAP, "--out", str(parallel), "--seed", "3", "--quiet", "--jobs", "2"]) == EXIT_OK
    (a, ex_a), (b, ex_b) = _without_times(serial), _without_times(parallel)
    assert a == b  # byte for byte, in the register's order, whichever process ran which check
    assert [r["id"] for r in json.loads(b)["results"]] == CHEAP
    assert ex_a == "in-process" and ex_b == "local-processes (2 workers, one check each)"
    assert "REFUTED" in a  # the witness of app-C-proof-steps came back from its worker
    # negative control: the comparison can fail (test checks whose computed value is the seed, seeds 3 and 4)
    for cid, fn in (("p-a", tc.ok_a), ("p-b", tc.ok_b)):
        _register(monkeypatch, cid, fn)
    for seed in ("3", "4"):
        assert main(["run", "p-a", "p-b", "--out", str(tmp_path / seed), "--seed", seed, "--quiet", "--jobs", "2"]) == 0
    assert _without_times(tmp_path / "3")[0] != _without_times(tmp_path / "4")[0]


def test_dispatch_order_is_longest_expected_first_and_deterministic(tmp_path):
    checks = [registry.get_check(i) for i in CHEAP]
    costs = {"dual-function": 1.0, "dual-step-scale": 1.0, "app-C-proof-steps": 9.0, "cor-3.10-residual": 0.1}
    order = [c.id for c in dispatch.dispatch_order(checks, costs)]
    assert order == ["app-C-proof-steps", "dual-function", "dual-step-scale", "cor-3.10-residual"]
    reverse = [c.id for c in dispatch.dispatch_order(list(reversed(checks)), costs)]
    assert reverse == ["app-C-proof-steps", "dual-step-scale", "dual-function", "cor-3.10-residual"]
    assert order == [c.id for c in dispatch.dispatch_order(checks, costs)]  # ties keep the order given
    # the recorded table knows every registered check; the previous report's wall times come first
    recorded = dispatch.expected_costs([c.id for c in registry.all_checks()], "quick")
    assert set(recorded) == {c.id for c in registry.all_checks()} and all(v >= 0 for v in recorded.values())
    prev = tmp_path / "results.json"
    prev.write_text(json.dumps({"profile": "quick", "results": [{"id": "dual-function", "wall_time": 99.0}]}))
    seen = dispatch.expected_costs(["dual-function", "no-such"], "quick", prev)
    assert seen["dual-function"] == 99.0 and seen["no-such"] > 0  # unknown: the table's median
    assert dispatch.expected_costs(["dual-function"], "full", prev)["dual-function"] != 99.0  # other profile
    prev.write_text("{broken")
    assert dispatch.expected_costs(["dual-function"], "quick", prev) == dispatch.expected_costs(["dual-function"],
                                                                                                  "quick")


def test_only_checks_a_worker_can_import_are_dispatched(monkeypatch):
    assert dispatch.dispatchable([registry.get_check(i) for i in CHEAP])
    _register(monkeypatch, "p-closure", lambda ctx: None)
    assert not dispatch.dispatchable([registry.get_check("dual-function"), registry._REGISTRY["p-closure"]])
    assert dispatch.usable_cores() >= 1


def test_a_crash_in_a_worker_costs_only_its_check(tmp_path, monkeypatch, capsys):
    for cid, fn in (("p-a", tc.ok_a), ("p-boom", tc.boom), ("p-b", tc.ok_b)):
        _register(monkeypatch, cid, fn)
    out = tmp_path / "r"
    assert main(["run", "p-a", "p-boom", "p-b", "--out", str(out), "--jobs", "2"]) == EXIT_CRASH
    captured = capsys.readouterr()
    assert "CRASHED" in captured.out and "planted crash in a worker" in captured.err
    payload = json.loads((out / "results.json").read_text())
    assert [r["id"] for r in payload["results"]] == ["p-a", "p-b"] and payload["complete"] is True
    assert "planted crash in a worker" in (out / "report.md").read_text()
    # the library form gives the same outcomes, in the order asked, with the exception itself
    got = dispatch.run_checks([registry._REGISTRY[i] for i in ("p-boom", "p-a")], out_dir=tmp_path / "lib", jobs=2)
    assert list(got) == ["p-boom", "p-a"] and got["p-a"].result.verdict.value == "CONFIRMED"
    assert isinstance(got["p-boom"].exception, RuntimeError) and "Traceback" in got["p-boom"].error


def test_a_worker_that_dies_costs_only_its_check(tmp_path, monkeypatch, capsys):
    for cid, fn in (("p-a", tc.ok_a), ("p-dies", tc.dies), ("p-b", tc.ok_b), ("p-c", tc.ok_c)):
        _register(monkeypatch, cid, fn)
    out = tmp_path / "r"
    before = set(multiprocessing.active_children())  # another test's pool may still be winding down
    assert main(["run", "p-dies", "p-a", "p-b", "p-c", "--out", str(out), "--quiet", "--jobs", "2"]) == EXIT_CRASH
    assert "worker process running p-dies died" in (out / "report.md").read_text()
    payload = json.loads((out / "results.json").read_text())
    assert [r["id"] for r in payload["results"]] == ["p-a", "p-b", "p-c"]
    assert set(multiprocessing.active_children()) <= before  # this run's workers are gone


def test_sigterm_keeps_the_finished_checks_and_stops_the_workers(tmp_path, monkeypatch):
    for cid, fn in (("p-a", tc.ok_a), ("p-term", tc.sends_sigterm), ("p-b", tc.slow_b), ("p-c", tc.ok_c)):
        _register(monkeypatch, cid, fn)
    out = tmp_path / "r"
    # two workers: p-a and p-term start; p-a finishes and its worker takes p-b; p-term then signals the run
    before = set(multiprocessing.active_children())  # another test's pool may still be winding down
    assert main(["run", "p-a", "p-term", "p-b", "p-c", "--out", str(out), "--quiet", "--jobs", "2"]) == EXIT_TERMINATED
    payload = json.loads((out / "results.json").read_text())
    assert payload["complete"] is False and payload["interrupted"] == "p-term, p-b"
    assert [r["id"] for r in payload["results"]] == ["p-a"] and payload["not_run"] == ["p-c"]
    assert set(multiprocessing.active_children()) <= before  # this run's workers were terminated, not left computing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # staging removed
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_memory_limit_counts_the_checks_that_run_at_once(tmp_path, monkeypatch, capsys):
    for cid, fn in (("p-a", tc.ok_a), ("p-b", tc.ok_b)):
        _register(monkeypatch, cid, fn, accepts_instance=True, memory=tc.needs_3k)
    f = save_problem(paper_toy(), tmp_path / "toy.npz")
    run = ["run", "p-a", "p-b", "--instance", str(f), "--memory-limit", "5000"]
    # one check fits (3000 bytes), two at once do not: an explicit --jobs 2 is refused up front ...
    assert main([*run, "--out", str(tmp_path / "o1"), "--jobs", "2"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "may run at once" in err and "lower --jobs (to 1 here)" in err
    # ... --jobs auto runs them one at a time, and with room for both they run in parallel
    assert main([*run, "--out", str(tmp_path / "o2"), "--jobs", "auto", "--quiet"]) == EXIT_OK
    assert json.loads((tmp_path / "o2" / "results.json").read_text())["timing"]["executor"] == "in-process"
    assert main([*run[:-1], "6000", "--out", str(tmp_path / "o3"), "--jobs", "2", "--quiet"]) == EXIT_OK
    assert json.loads((tmp_path / "o3" / "results.json").read_text())["timing"]["executor"].startswith(
        "local-processes (2 workers")


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("AUTO", "auto"), ("3", 3)])
def test_jobs_accepts_auto_or_a_count(value, expected):
    from opdcheck.cli import build_parser

    args = build_parser().parse_args(["run", "--jobs", value])
    assert args.jobs == expected
    assert build_parser().parse_args(["run"]).jobs == "auto"
