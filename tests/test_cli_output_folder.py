"""The output folder of ``opdcheck run`` and the report writer: never delete a user's files, follow
links, no lock file left, concurrent API writers, a full disk, SIGTERM. Small registered test checks
stand in for the real ones."""
import errno
import json
import multiprocessing
import os
import signal
import time

import pytest

from opdcheck.cli import EXIT_INPUT, EXIT_OK, EXIT_TERMINATED, MARKER, main
from opdcheck.paper_checks import registry
from opdcheck.paper_checks import report as report_mod
from opdcheck.paper_checks.result import CheckResult, Verdict


def _ok(tag):
    def run(ctx):
        fig, rel = ctx.figure_path(f"{tag}.png")
        fig.write_text(tag)
        return CheckResult(id=tag, paper_ref="test", claim="test", verdict=Verdict.CONFIRMED, computed=ctx.seed,
                           stated="seed", comparison="identity", judged=1, figures=[rel], seed=ctx.seed)
    return run


def _register(monkeypatch, cid, func):
    monkeypatch.setitem(registry._REGISTRY, cid, registry.Check(cid, "test", "test claim", "", func, order=0))


@pytest.fixture
def checks(monkeypatch):
    for tag in ("t-a", "t-b"):
        _register(monkeypatch, tag, _ok(tag))


def _run(out, *ids, seed=0):
    return main(["run", *(ids or ("t-a",)), "--out", str(out), "--seed", str(seed), "--quiet"])


def test_a_folder_of_the_users_with_only_figures_is_refused_and_kept(tmp_path, capsys, checks):
    user = tmp_path / "mine"
    (user / "figures").mkdir(parents=True)
    (user / "figures" / "plot.png").write_text("precious")
    assert _run(user) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did not write" in err
    assert (user / "figures" / "plot.png").read_text() == "precious"
    # a folder named like a report's contents is still the user's: recognised by the marker only
    (user / "report.md").write_text("mine")
    (user / "results.json").write_text("{}")
    assert _run(user) == EXIT_INPUT and (user / "report.md").read_text() == "mine"


def test_an_opdcheck_folder_and_an_empty_folder_are_replaced(tmp_path, checks):
    out = tmp_path / "r"
    assert _run(out, seed=1) == EXIT_OK
    assert (out / MARKER).exists()
    assert _run(out, "t-b", seed=2) == EXIT_OK
    assert json.loads((out / "results.json").read_text())["seed"] == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(empty) == EXIT_OK and (empty / MARKER).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "r"]  # no staging, old or lock file


def test_out_as_a_symlink_is_followed_and_kept(tmp_path, checks):
    real = tmp_path / "real"
    assert _run(real, seed=1) == EXIT_OK
    link = tmp_path / "link"
    link.symlink_to(real)
    assert _run(link, seed=2) == EXIT_OK
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert json.loads((link / "results.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # no dangling .link.old-*


def test_a_dangling_or_foreign_symlink_is_refused(tmp_path, capsys, checks):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert _run(tmp_path / "dangling") == EXIT_INPUT
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("x")
    (tmp_path / "to-user").symlink_to(user)
    assert _run(tmp_path / "to-user") == EXIT_INPUT
    assert (user / "notes.txt").read_text() == "x"
    assert capsys.readouterr().err.count("\n") == 2


@pytest.mark.parametrize("length", [236, 255, 300, 5000])
def test_an_over_long_out_name_is_one_line(tmp_path, capsys, checks, length):
    assert _run(tmp_path / ("a" * length)) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shorter name" in err


def test_no_lock_file_is_left_in_the_working_folder(tmp_path, monkeypatch, checks):
    monkeypatch.chdir(tmp_path)
    assert _run("opdcheck-report") == EXIT_OK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opdcheck-report"]


def _api_writer(folder: str, seed: int, rounds: int) -> None:
    from opdcheck.paper_checks.report import write_report

    for _ in range(rounds):
        write_report([], folder, profile="quick", seed=seed)


def test_two_processes_writing_one_folder_through_the_api_stay_consistent(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_api_writer, args=(str(tmp_path), seed, 40)) for seed in (101, 202)]
    for p in procs:
        p.start()
    seen = 0
    while any(p.is_alive() for p in procs):
        try:
            with report_mod.folder_lock(tmp_path):  # a reader taking the writers' lock sees whole pairs
                payload = json.loads((tmp_path / "results.json").read_text())
                md = (tmp_path / "report.md").read_text()
            assert f"seed `{payload['seed']}`" in md
            seen += 1
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert f"seed `{payload['seed']}`" in (tmp_path / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md", "results.json"]  # no temp file left


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("old")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_mod.os, "fsync", full)
    with pytest.raises(OSError):
        report_mod._write_atomic(target, "new")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_disk_full_in_a_check_keeps_the_previous_report(tmp_path, monkeypatch, capsys, checks):
    out = tmp_path / "r"
    assert _run(out, seed=1) == EXIT_OK
    before = (out / "results.json").read_text()

    def full(ctx):
        raise OSError(errno.ENOSPC, "No space left on device")

    _register(monkeypatch, "t-full", full)
    capsys.readouterr()
    assert _run(out, "t-a", "t-full", seed=2) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left" in err and "unchanged" in err
    assert (out / "results.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_disk_full_while_writing_the_report_keeps_the_previous_one(tmp_path, monkeypatch, capsys, checks):
    out = tmp_path / "r"
    assert _run(out, seed=1) == EXIT_OK
    before = (out / "report.md").read_text()

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_mod, "_write_atomic", full)
    capsys.readouterr()
    assert _run(out, seed=2) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (out / "report.md").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_sigterm_is_handled_like_ctrl_c(tmp_path, monkeypatch, capsys, checks):
    def terminated(ctx):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM was not handled")

    _register(monkeypatch, "t-term", terminated)
    out = tmp_path / "r"
    assert _run(out, "t-a", "t-term", "t-b") == EXIT_TERMINATED
    payload = json.loads((out / "results.json").read_text())
    assert payload["complete"] is False and payload["interrupted"] == "t-term" and payload["not_run"] == ["t-b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # staging removed
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is restored


def _sleep(spec, seed):
    time.sleep(spec)
    return seed


def test_interrupted_local_workers_are_terminated_not_orphaned():
    """terminate() returns once every worker has exited and its exit status is stored. Exit is read from the
    sentinels, not from is_alive(): the pool's manager thread reaps the workers of a broken pool itself, and a
    child it reaped looks alive to is_alive()/join() in another thread until it has stored the status (this
    test used to fail that way under load)."""
    from multiprocessing.connection import wait

    from opdcheck.sweeps import LocalProcesses

    ex = LocalProcesses(2)
    pool = ex._get_pool()
    futs = [pool.submit(_sleep, 60, i) for i in range(2)]
    time.sleep(0.5)
    procs = list(pool._processes.values())
    assert len(procs) == 2 and all(p.is_alive() for p in procs)
    ex.terminate()
    assert len(wait([p.sentinel for p in procs], timeout=0)) == len(procs)  # every worker has ended
    assert all(p.exitcode is not None and p.exitcode < 0 for p in procs)  # by a signal, status collected
    assert not any(p.is_alive() for p in procs)
    assert all(f.cancelled() or f.done() for f in futs)


def test_terminate_never_signals_a_worker_another_thread_has_reaped(monkeypatch):
    """The race behind the old flake, forced: every worker is reaped behind the executor's back (as the pool's
    manager thread may do) before terminate() looks at it. is_alive() then still says True; terminate() must
    read the exit from the sentinel and send no SIGKILL to the reaped (possibly reused) pid."""
    from opdcheck.sweeps import LocalProcesses

    ex = LocalProcesses(2)
    pool = ex._get_pool()
    futs = [pool.submit(_sleep, 60, i) for i in range(2)]
    time.sleep(0.5)
    procs = list(pool._processes.values())
    manager = pool._executor_manager_thread
    real_terminate = type(procs[0]).terminate
    killed, reaped = [], {}

    def terminate_then_reap_elsewhere(self):
        real_terminate(self)
        try:
            _, status = os.waitpid(self.pid, 0)  # reaped by "another thread": this Popen never learns the status
            reaped[self.pid] = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # already reaped (the manager thread terminates the workers too)
            pass

    monkeypatch.setattr(type(procs[0]), "terminate", terminate_then_reap_elsewhere)
    monkeypatch.setattr(type(procs[0]), "kill", lambda self: killed.append(self.pid))
    try:
        ex.terminate()
        assert killed == []
        assert all(f.cancelled() or f.done() for f in futs)
    finally:
        # the forced race is this test's own: hand the statuses it took to the workers' Popen objects, or the pool's
        # manager thread spins on is_alive() (True for a child reaped elsewhere) holding the GIL for the rest of the
        # session, and the interpreter, which joins that thread at exit, never exits
        for proc in procs:
            if proc.pid in reaped and proc._popen is not None and proc._popen.returncode is None:
                proc._popen.returncode = reaped[proc.pid]
        manager.join(timeout=60)
    assert not manager.is_alive()


@pytest.mark.parametrize("manifest", [True, False])
def test_a_user_file_in_a_report_folder_is_never_deleted(tmp_path, manifest):
    """A file the user put into a folder opdcheck wrote (after the run, or beside a bare marker of an older
    version) is not in the marker's manifest: the run refuses up front, and the file survives."""
    from opdcheck.cli import check_out_dir
    from opdcheck.paper_checks.report import MARKER, foreign_entries, write_marker

    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("old report")
    if manifest:
        write_marker(out, entries=["report.md"])
    else:
        (out / MARKER).write_text("")
    assert foreign_entries(out) == []
    assert check_out_dir(str(out)) == out.absolute()
    (out / "thesis.tex").write_text("mine")
    assert foreign_entries(out) == ["thesis.tex"]
    with pytest.raises(ValueError, match="thesis.tex, which opdcheck did not write"):
        check_out_dir(str(out))
    assert (out / "thesis.tex").read_text() == "mine"
