"""The one sweep executor: seeds depend only on (run seed, stream,
index), results come back in task order, and a run is byte-identical (wall times aside) in-process,
with local worker processes and on a two-worker Dask cluster."""
import io
import json

import pytest

from opdcheck.cli import EXIT_INPUT, EXIT_OK, main
from opdcheck.paper_checks import registry
from opdcheck.paper_checks.context import CheckContext, Progress
from opdcheck.paper_checks.result import CheckResult, Finding, Verdict
from opdcheck.sweeps import (DaskCluster, InProcess, LocalProcesses, demo_task, make_executor, task_seed,
                             task_seeds)

SPECS = [(steps, scale) for steps in (50, 200, 7) for scale in (0.5, 2.0)]


def test_task_seeds_depend_on_run_seed_stream_and_index_only():
    assert task_seeds(3, "s", 4) == task_seeds(3, "s", 4)
    assert task_seed(3, "s", 2) == task_seeds(3, "s", 4)[2] == task_seeds(3, "s", 9)[2]
    assert len({task_seed(3, "s", 0), task_seed(4, "s", 0), task_seed(3, "t", 0), task_seed(3, "s", 1)}) == 4
    assert all(0 <= s < 2 ** 63 for s in task_seeds(0, "x", 50))
    with pytest.raises(ValueError, match="index"):
        task_seed(0, "s", -1)


def test_executor_choice_and_validation():
    assert isinstance(make_executor(), InProcess) and isinstance(make_executor(jobs=1), InProcess)
    assert isinstance(make_executor(jobs=2), LocalProcesses)
    assert isinstance(make_executor(scheduler="tcp://127.0.0.1:1"), DaskCluster)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="--jobs"):
            make_executor(jobs=bad)
    with pytest.raises(ValueError, match="choose one"):
        make_executor(jobs=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="seeds"):
        InProcess().map(demo_task, SPECS, seeds=[1])


def test_in_process_and_local_processes_agree():
    seeds = task_seeds(7, "demo", len(SPECS))
    ref = InProcess().map(demo_task, SPECS, seeds=seeds)
    seen = []
    with LocalProcesses(2) as ex:
        got = ex.map(demo_task, SPECS, seeds=seeds, progress=lambda d, t: seen.append((d, t)))
        again = ex.map(demo_task, SPECS[:2], seeds=seeds[:2])  # the pool is kept for the next sweep
    assert got == ref and again == ref[:2]
    assert [r["seed"] for r in got] == seeds  # task order, whatever order they finished in
    assert seen[-1] == (len(SPECS), len(SPECS))


def test_an_unreachable_scheduler_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import opdcheck.sweeps

    monkeypatch.setattr(opdcheck.sweeps, "SCHEDULER_CONNECT_TIMEOUT", 1.0)
    # nothing listens on port 9 (discard) of localhost; the connection is refused at once
    assert main(["run", "sweep-demo-missing", "--out", str(tmp_path / "r")]) == EXIT_INPUT  # unknown id first
    capsys.readouterr()
    assert main(["run", "lemma-B.5", "--out", str(tmp_path / "r"), "--scheduler", "tcp://127.0.0.1:9"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1:9" in err and not (tmp_path / "r").exists()


# ---------------------------------------------------------------- a registered sweeping check, end to end
def _sweep_check(ctx):
    """A check whose verdict comes from a ctx.map sweep (stands in for the thm-3.4 family)."""
    rows = ctx.map(demo_task, SPECS, stream="sweep-demo", label="sweep-demo")
    finding = Finding("walks", "every walk is finite", Verdict.CONFIRMED, computed=[r["end"] for r in rows],
                      stated="finite", sentence=f"{len(rows)} walks, largest max {max(r['max'] for r in rows):.6g}",
                      judged=len(rows))
    return CheckResult(id="sweep-demo", paper_ref="test", claim="test", verdict=None, computed=len(rows),
                       stated=len(SPECS), comparison="==", evidence=rows, findings=[finding], judged=len(rows))


@pytest.fixture
def sweep_check(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "sweep-demo",
                        registry.Check("sweep-demo", "test", "test claim", "", _sweep_check, order=0))


def _results_without_wall_times(path):
    d = json.loads((path / "results.json").read_text())
    d.pop("timing")
    for r in d["results"]:
        r.pop("wall_time")
    return json.dumps(d, indent=1, sort_keys=True)


def _report_without_wall_times(path):
    return "\n".join(line for line in (path / "report.md").read_text().splitlines()
                     if "wall time" not in line and not line.startswith("| `sweep-demo`"))


def test_run_is_byte_identical_in_process_and_with_jobs(tmp_path, sweep_check):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", "sweep-demo", "--out", str(a), "--seed", "4", "--quiet"]) == EXIT_OK
    assert main(["run", "sweep-demo", "--out", str(b), "--seed", "4", "--quiet", "--jobs", "2"]) == EXIT_OK
    assert _results_without_wall_times(a) == _results_without_wall_times(b)
    assert _report_without_wall_times(a) == _report_without_wall_times(b)
    assert json.loads((b / "results.json").read_text())["timing"]["executor"] == "local-processes (2 workers)"
    # negative control: another run seed changes the results (the comparison can fail)
    c = tmp_path / "c"
    assert main(["run", "sweep-demo", "--out", str(c), "--seed", "5", "--quiet"]) == EXIT_OK
    assert _results_without_wall_times(a) != _results_without_wall_times(c)


def test_run_is_byte_identical_on_a_two_worker_dask_cluster(tmp_path, sweep_check):
    distributed = pytest.importorskip("distributed")
    a = tmp_path / "a"
    assert main(["run", "sweep-demo", "--out", str(a), "--seed", "4", "--quiet"]) == EXIT_OK
    seeds = task_seeds(4, "sweep-demo", len(SPECS))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with DaskCluster(cluster.scheduler_address) as ex:
            assert ex.map(demo_task, SPECS, seeds=seeds) == InProcess().map(demo_task, SPECS, seeds=seeds)
        d = tmp_path / "d"
        assert main(["run", "sweep-demo", "--out", str(d), "--seed", "4", "--quiet",
                     "--scheduler", cluster.scheduler_address]) == EXIT_OK
    assert _results_without_wall_times(a) == _results_without_wall_times(d)
    assert _report_without_wall_times(a) == _report_without_wall_times(d)
    assert json.loads((d / "results.json").read_text())["timing"]["executor"].startswith("dask (tcp://")


def test_ctx_map_refuses_a_function_workers_cannot_receive():
    with pytest.raises(ValueError, match="module-level function"):
        CheckContext().map(lambda spec, seed: spec, [1, 2], stream="s")


# ---------------------------------------------------------------- progress (tqdm)
def test_progress_draws_on_a_stream_and_is_silent_when_disabled():
    buf = io.StringIO()
    p = Progress(enabled=True, stream=buf)
    ctx = CheckContext(progress=p)
    assert ctx.map(demo_task, SPECS, stream="s", label="demo sweep") == InProcess().map(
        demo_task, SPECS, seeds=task_seeds(0, "s", len(SPECS)))
    assert "demo sweep" in buf.getvalue() and f"{len(SPECS)}/{len(SPECS)}" in buf.getvalue()
    quiet = io.StringIO()
    update = CheckContext(progress=Progress(enabled=False, stream=quiet)).for_subtask("x")
    update(1, 2, "note")
    assert quiet.getvalue() == ""
