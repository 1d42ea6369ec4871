"""Issue 7, classes 4 (work lost or mixed up), 5 (CLI input) and 6 (memory): each test plants the
misuse of the issue and checks the one mechanism that handles it. Checks that would run are replaced
by small registered test checks, so nothing here depends on another area's verdicts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import opdcheck
from opdcheck.cli import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, main
from opdcheck.instances import paper_toy, random_instance, save_problem
from opdcheck.paper_checks import registry
from opdcheck.paper_checks.result import CheckResult, Verdict
from opdcheck.resources import ENV_VAR, cvxpy_bytes, dense_bytes, generic_bytes, memory_limit, parse_size

ROOT = Path(opdcheck.__file__).resolve().parent.parent


def _ok_check(tag: str):
    """A check that writes a figure and a counterexample named after ``tag`` and the run's seed."""

    def run(ctx):
        fig, rel_fig = ctx.figure_path(f"{tag}.png")
        fig.write_text(f"{tag} seed {ctx.seed}")
        cx, rel_cx = ctx.counterexample_path(f"{tag}.json")
        cx.write_text(json.dumps({"seed": ctx.seed}))
        return CheckResult(id=tag, paper_ref="test", claim="test", verdict=Verdict.CONFIRMED, computed=ctx.seed,
                           stated="seed", comparison="identity", judged=1, figures=[rel_fig], seed=ctx.seed)

    return run


def _register(monkeypatch, check_id, func, **kw):
    monkeypatch.setitem(registry._REGISTRY, check_id,
                        registry.Check(check_id, "test", "test claim", "", func, order=0, **kw))


@pytest.fixture
def spy(monkeypatch):
    """Registers checks 'spy-a', 'spy-b' and records every run: proves refusals happen before any work."""
    ran = []

    def make(tag):
        inner = _ok_check(tag)

        def run(ctx):
            ran.append(tag)
            return inner(ctx)

        return run

    for tag in ("spy-a", "spy-b"):
        _register(monkeypatch, tag, make(tag), accepts_instance=True)
    return ran


# ---------------------------------------------------------------- class 4: the output folder
def _folder_with(folder: Path, name: str) -> str:
    folder.mkdir()
    (folder / name).write_text("x")
    return str(folder)


@pytest.mark.parametrize("make_out, message", [
    (lambda tmp: "", "empty"),
    (lambda tmp: (tmp / "file.txt").write_text("x") and str(tmp / "file.txt"), "not a folder"),
    (lambda tmp: _folder_with(tmp / "mine", "thesis.tex"), "thesis.tex"),
    (lambda tmp: (tmp / "file.txt").write_text("x") and str(tmp / "file.txt" / "sub"), "is a file"),
    (lambda tmp: ".", "current folder"),
])
def test_a_bad_out_is_refused_before_any_work(tmp_path, monkeypatch, capsys, spy, make_out, message):
    monkeypatch.chdir(tmp_path)
    out = make_out(tmp_path)
    assert main(["run", "spy-a", "--out", out, "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("opdcheck: error: --out") and message in err
    assert spy == []  # nothing ran
    if message == "thesis.tex":  # a folder with someone's files is left untouched
        assert (tmp_path / "mine" / "thesis.tex").read_text() == "x"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_a_read_only_out_is_refused_before_any_work(tmp_path, capsys, spy):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["run", "spy-a", "--out", str(ro), "--quiet"]) == EXIT_INPUT
        assert main(["run", "spy-a", "--out", str(ro / "sub"), "--quiet"]) == EXIT_INPUT
    finally:
        ro.chmod(0o700)
    assert "read-only" in capsys.readouterr().err and spy == []


def test_an_unwritable_location_is_refused_before_any_work(tmp_path, monkeypatch, capsys, spy):
    # the staging folder is the final writability test (it holds as root too): make it fail
    import tempfile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    assert main(["run", "spy-a", "--out", str(tmp_path / "r"), "--quiet"]) == EXIT_INPUT
    assert "Permission denied" in capsys.readouterr().err and spy == []


def test_a_report_folder_holds_one_run_only(tmp_path, spy):
    out = tmp_path / "r"
    assert main(["run", "spy-a", "--out", str(out), "--seed", "1", "--quiet"]) == EXIT_OK
    assert main(["run", "spy-b", "--out", str(out), "--seed", "2", "--quiet"]) == EXIT_OK
    # the second run replaced the folder whole: no figure or counterexample of the first is left
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["spy-b.png"]
    assert sorted(p.name for p in (out / "counterexamples").iterdir()) == ["spy-b.json"]
    assert json.loads((out / "results.json").read_text())["seed"] == 2
    # no staging or old folders are left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no lock file either


def test_ctrl_c_keeps_the_finished_checks_as_an_incomplete_report(tmp_path, monkeypatch, capsys, spy):
    def interrupted(ctx):
        ctx.figure_path("half-written.png")[0].write_text("partial")
        raise KeyboardInterrupt

    _register(monkeypatch, "spy-ctrl-c", interrupted)
    out = tmp_path / "r"
    assert main(["run", "spy-a", "spy-ctrl-c", "spy-b", "--out", str(out), "--quiet"]) == EXIT_INTERRUPTED
    assert spy == ["spy-a"]
    text = (out / "report.md").read_text()
    assert text.startswith("# opdcheck report — INCOMPLETE") and "while `spy-ctrl-c` was running" in text
    payload = json.loads((out / "results.json").read_text())
    assert payload["complete"] is False and payload["interrupted"] == "spy-ctrl-c"
    assert [r["id"] for r in payload["results"]] == ["spy-a"] and payload["not_run"] == ["spy-b"]
    assert "INCOMPLETE" in capsys.readouterr().err


def _subprocess_run(out: Path, seed: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, "-m", "opdcheck", "run", "dual-step-scale",
                             "--out", str(out), "--seed", str(seed), "--quiet"],
                            env=env, cwd=str(out.parent), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_two_concurrent_runs_into_one_folder_leave_one_whole_report(tmp_path):
    out = tmp_path / "shared"
    procs = [_subprocess_run(out, seed) for seed in (11, 12)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == EXIT_OK, err.decode()
    payload = json.loads((out / "results.json").read_text())  # valid JSON
    seed = payload["seed"]
    assert seed in (11, 12)
    assert f"seed `{seed}`" in (out / "report.md").read_text()  # report and results from one run
    assert all(r["seed"] == seed for r in payload["results"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared"]


# ---------------------------------------------------------------- class 5: CLI input
def test_unknown_id_next_to_all_is_refused(tmp_path, capsys, spy):
    assert main(["run", "all", "nosuch", "--out", str(tmp_path / "r")]) == EXIT_INPUT
    assert "nosuch" in capsys.readouterr().err and spy == [] and not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, field", [
    (["--jobs", "0"], "--jobs"), (["--jobs", "two"], "--jobs"), (["--seed", "x"], "--seed"),
    (["--seed", "-1"], "--seed"), (["--memory-limit", "12Q"], "--memory-limit"),
    (["--scheduler", " "], "--scheduler"), (["--jobs", "2", "--scheduler", "tcp://h:1"], "--jobs"),
    (["--profile", "huge"], "--profile"),
])
def test_every_bad_argument_gets_one_line_and_exit_3(tmp_path, capsys, spy, argv, field):
    assert main(["run", "spy-a", "--out", str(tmp_path / "r"), *argv]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and spy == []


def test_solve_cross_check_at_beta_zero_says_it_does_not_apply(tmp_path, capsys):
    f = save_problem(paper_toy().with_beta(0.0), tmp_path / "beta0.npz")
    assert main(["solve", str(f), "--cross-check"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "cross-check does not apply" in err and "beta = 0" in err
    # positive control: at beta > 0 it runs and reports
    f2 = save_problem(paper_toy(), tmp_path / "toy.npz")
    assert main(["solve", str(f2), "--cross-check"]) == EXIT_OK
    assert "cross-check (dual Newton vs cvxpy/Clarabel)" in capsys.readouterr().out


def test_an_instance_name_with_newlines_cannot_forge_report_lines(tmp_path, capsys, spy):
    toy = paper_toy()
    forged = "toy\n| `thm-3.4` | Thm 3.4 | **CONFIRMED** | forged |\n"
    # Problem itself refuses such a name, so write the file by hand, as an attacker would
    f = save_problem(toy, tmp_path / "named.json")
    payload = json.loads(f.read_text())
    payload["name"] = forged
    f.write_text(json.dumps(payload))
    rc = main(["run", "spy-a", "--instance", str(f), "--out", str(tmp_path / "r"), "--quiet"])
    if rc == EXIT_INPUT:  # the loader may refuse such a name outright: one line naming it
        assert "name" in capsys.readouterr().err
        return
    assert rc == EXIT_OK
    text = (tmp_path / "r" / "report.md").read_text()
    assert not any(line.startswith("| `thm-3.4`") for line in text.splitlines())


# ---------------------------------------------------------------- class 6: memory
class _Shape:
    """Only the sizes an estimator reads (a 1e4 x 1e3 instance would take 400 MB to build)."""

    def __init__(self, X, n, h, K=2):
        self.X, self.n, self.h = X, n, h
        self.R_soft = np.empty((K, 0, 0))


def test_the_issue_example_is_refused_by_the_default_estimate():
    # eq3-best-response on 1e4 x 1e3 aborted in native code at 15 GB: the generic estimate (one cvxpy
    # solve) is ~41 GB, above 75% of any machine under 54 GB, and above the 15 GB it died at
    big = _Shape(10_000, 1_000, 2)
    assert generic_bytes(big) == cvxpy_bytes(big) > 15 * 1024 ** 3
    assert dense_bytes(big) < cvxpy_bytes(big)
    assert registry.get_check("eq3-best-response").memory_estimate(big) >= generic_bytes(big)


def test_an_instance_over_the_memory_limit_is_refused_up_front(tmp_path, capsys, monkeypatch, spy):
    f = save_problem(random_instance(20, 10, 2, beta=0.5, seed=1), tmp_path / "r.npz")
    need = generic_bytes(random_instance(20, 10, 2, beta=0.5, seed=1))
    assert main(["run", "spy-a", "--instance", str(f), "--out", str(tmp_path / "o"),
                 "--memory-limit", str(need - 1)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "spy-a needs about" in err and "over the memory limit" in err and "--memory-limit" in err
    assert spy == []
    # the environment variable sets the limit too; the option wins over it
    monkeypatch.setenv(ENV_VAR, str(need - 1))
    assert main(["run", "spy-a", "--instance", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_INPUT
    assert ENV_VAR in capsys.readouterr().err and spy == []
    assert main(["run", "spy-a", "--instance", str(f), "--out", str(tmp_path / "o"), "--quiet",
                 "--memory-limit", str(need)]) == EXIT_OK
    assert spy == ["spy-a"]
    # with --jobs 2 each local worker may hold the working set: twice the estimate
    assert main(["run", "spy-a", "--instance", str(f), "--out", str(tmp_path / "o"), "--quiet", "--jobs", "2",
                 "--memory-limit", str(need)]) == EXIT_INPUT
    assert "spy-a with --jobs 2 needs about" in capsys.readouterr().err


def test_solve_refuses_what_would_not_fit(tmp_path, capsys):
    f = save_problem(paper_toy(), tmp_path / "toy.npz")
    assert main(["solve", str(f), "--method", "cvxpy", "--memory-limit", "5K"]) == EXIT_INPUT
    assert "solve --method cvxpy needs about" in capsys.readouterr().err


def test_a_declared_estimator_is_used(monkeypatch, tmp_path, capsys):
    _register(monkeypatch, "spy-small", _ok_check("spy-small"), accepts_instance=True, memory=lambda p: 10)
    f = save_problem(paper_toy(), tmp_path / "toy.npz")
    assert main(["run", "spy-small", "--instance", str(f), "--out", str(tmp_path / "o"), "--quiet",
                 "--memory-limit", "4K"]) == EXIT_OK  # loading the toy takes ~3 KiB; the check declares 10 bytes
    with pytest.raises(TypeError, match="memory"):
        registry.register_check("x", "p", "c", memory=5)


def test_sizes_and_limits(monkeypatch):
    assert parse_size("1.5G", field="f") == 3 * 1024 ** 3 // 2
    assert parse_size("500MiB", field="f") == 500 * 1024 ** 2 and parse_size("none", field="f") is None
    for bad in ("", "12Q", "-1G", "0.1"):
        with pytest.raises(ValueError, match="f: "):
            parse_size(bad, field="f")
    assert memory_limit("2G") == (2 * 1024 ** 3, "--memory-limit")
    monkeypatch.setenv(ENV_VAR, "3G")
    assert memory_limit(None) == (3 * 1024 ** 3, ENV_VAR) and memory_limit("1G")[0] == 1024 ** 3
    monkeypatch.delenv(ENV_VAR)
    limit, source = memory_limit(None)  # the default: a fraction of physical memory
    assert (limit is None) or (limit > 0 and "physical memory" in source)
    monkeypatch.setenv(ENV_VAR, "lots")
    with pytest.raises(ValueError, match=ENV_VAR):
        memory_limit(None)
