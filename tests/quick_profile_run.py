"""One run of every check in the quick profile (seed 0), shared by the tests of a pytest session.

Not a test module: ``test_paper_checks_baseline.py`` compares every verdict with baseline.json from it, and the
Thm 3.4 tests read their checks' results from it instead of running the checks again. The checks run whole in
parallel worker processes (``opdcheck.paper_checks.dispatch.run_checks``, one per usable core, longest expected
first), as ``opdcheck run all`` runs them; ``OPDCHECK_TEST_JOBS=1`` runs them one after another in this process.

When the run goes to worker processes, ``tests/conftest.py`` starts it in the background as soon as the session is
collected (:func:`start_quick_results`): the tests that do not read it run meanwhile (in this process, while the
checks compute in the workers), and the first test that reads it waits for what is left. The results are the same
objects either way (each check is a function of the profile and the seed; the workers import their own modules, so
nothing a test patches in this process reaches them).

Under pytest-xdist (the default ``pytest`` runs the tests in two worker processes) the run is made once per session:
the worker ``gw0`` starts it in the background and, when it ends, writes the results (pickled, as the dispatch
workers already send them) to a folder named after the session's test-run id; the other workers read them from
there (:func:`quick_results` waits for the file).
"""
from __future__ import annotations

import os
import pickle
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

#: the background run, when one was started: {"thread", "value" or "error", "wall", "children" (CPU seconds)}
_BACKGROUND: dict = {}


def _jobs() -> int | None:
    return int(os.environ["OPDCHECK_TEST_JOBS"]) if os.environ.get("OPDCHECK_TEST_JOBS") else None


def _run(checks) -> tuple[Path, dict]:
    from opdcheck.paper_checks.dispatch import run_checks

    out = Path(tempfile.mkdtemp(prefix="opdcheck-quick-"))
    outcomes = run_checks(checks, profile="quick", seed=0, out_dir=out, jobs=_jobs())
    # a crash is recorded as its exception; the baseline test reports it as a crash
    return out, {cid: (o.result if o.result is not None else o.exception) for cid, o in outcomes.items()}


#: how long a pytest-xdist worker waits for the run another worker makes (the quick run takes 1-5 minutes)
SHARED_WAIT_S = 3600.0


def _xdist() -> tuple[str, str] | None:
    """(worker id, test-run id) in a pytest-xdist worker, else None."""
    worker, uid = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return (worker, uid) if worker and uid else None


def _shared_file() -> Path | None:
    x = _xdist()
    return None if x is None else Path(tempfile.gettempdir()) / f"opdcheck-quick-{x[1]}" / "results.pkl"


def _makes_the_run() -> bool:
    """Whether this process computes the run: outside xdist always; under xdist the worker gw0 only, when the run
    goes to worker processes (``OPDCHECK_TEST_JOBS=1``: each xdist worker runs it in-process when first asked)."""
    x = _xdist()
    return x is None or x[0] == "gw0" or not in_workers()


def _publish(value=None, error: BaseException | None = None) -> None:
    """gw0: write the run's outcome where the other xdist workers look for it (atomically: a temporary file,
    then a rename)."""
    target = _shared_file()
    if target is None:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        blob = pickle.dumps(("value", value) if error is None else ("error", error))
    except Exception:  # an unpicklable exception: its text
        blob = pickle.dumps(("error", RuntimeError(f"the shared quick run failed: {error!r}")))
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, target)


def _maker_alive(folder: Path) -> bool:
    """False only when gw0 recorded its process id and that process is gone."""
    try:
        pid = int((folder / "maker.pid").read_text())
    except (OSError, ValueError):
        return True  # not started yet (gw0 may still be collecting)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _read_published() -> tuple[Path, dict]:
    """Another xdist worker: wait for gw0's published outcome and return it (a one-line error if gw0 is gone
    without publishing, or after SHARED_WAIT_S)."""
    target = _shared_file()
    t0 = time.monotonic()
    while not target.exists():
        if not _maker_alive(target.parent) and not target.exists():
            raise RuntimeError(f"the xdist worker gw0 that made the shared quick run exited without its results "
                               f"({target}); rerun, or run with -n 0")
        if time.monotonic() - t0 > SHARED_WAIT_S:
            raise TimeoutError(f"the shared quick run ({target}) did not appear within {SHARED_WAIT_S:.0f} s; "
                               "rerun, or run with -n 0")
        time.sleep(0.2)
    kind, payload = pickle.loads(target.read_bytes())
    if kind == "error":
        raise payload
    return payload


def in_workers() -> bool:
    """Whether the quick run goes to worker processes (more than one job and checks a worker can import)."""
    from opdcheck.paper_checks.dispatch import dispatchable, usable_cores
    from opdcheck.paper_checks.registry import all_checks

    jobs = usable_cores() if _jobs() is None else _jobs()
    return jobs > 1 and dispatchable(all_checks())


#: nice increment of the background run's thread, inherited by the worker processes it starts
BACKGROUND_NICE = 10


def _lower_priority() -> None:
    """Let the tests in this process go first: the background run's workers then take the core(s) the tests leave
    idle (it is finished before the tests that read it in a default run). Linux only: there the nice value is a
    per-thread attribute, inherited by the processes the thread starts (elsewhere ``setpriority`` of a thread id
    is not defined, and nothing is changed). Scheduling only: no result depends on it."""
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE)
        except (AttributeError, OSError):
            pass


def start_quick_results() -> bool:
    """Start the quick run in a background thread if it goes to worker processes (never in this process: a check
    running here beside the tests would see their patches); returns whether it started (False: already started,
    or in-process, then :func:`quick_results` computes it when first asked)."""
    from opdcheck.paper_checks.registry import all_checks

    if _BACKGROUND or not in_workers() or not _makes_the_run():
        return False
    checks = all_checks()  # imported here, in the main thread, before the thread starts

    def work() -> None:
        _lower_priority()
        wall, t0 = time.perf_counter(), os.times()
        try:
            _BACKGROUND["value"] = _run(checks)
            _publish(_BACKGROUND["value"])
        except BaseException as exc:  # handed to the test that reads the results
            _BACKGROUND["error"] = exc
            _publish(error=exc)
        t1 = os.times()
        _BACKGROUND.update(wall=time.perf_counter() - wall,  # what tests/conftest.py reports
                           children=(t1.children_user - t0.children_user) + (t1.children_system - t0.children_system))

    thread = threading.Thread(target=work, name="opdcheck-quick-run", daemon=True)
    _BACKGROUND["thread"] = thread
    shared = _shared_file()
    if shared is not None:  # under xdist: the other workers watch this process while they wait
        shared.parent.mkdir(parents=True, exist_ok=True)
        shared.unlink(missing_ok=True)  # a test-run id given twice (--testrunuid) must not serve old results
        (shared.parent / "maker.pid").write_text(str(os.getpid()))
    thread.start()
    return True


def finish_for_the_others() -> None:
    """Under xdist, at the end of gw0's session: wait for the background run so that it is published for the
    other workers (gw0 may run out of tests, or get none, before the run ends)."""
    if _xdist() is not None and "thread" in _BACKGROUND:
        _BACKGROUND["thread"].join()


@lru_cache(maxsize=1)
def quick_results() -> tuple[Path, dict]:
    """``(report directory, {check id: CheckResult or the exception it raised})``, computed once (or awaited, when
    :func:`start_quick_results` started it)."""
    from opdcheck.paper_checks.registry import all_checks

    if not _makes_the_run():
        return _read_published()
    if not _BACKGROUND:
        value = _run(all_checks())
        _publish(value)
        return value
    _BACKGROUND["thread"].join()
    if "error" in _BACKGROUND:
        raise _BACKGROUND["error"]
    return _BACKGROUND["value"]


def quick_result(check_id: str):
    """The session's quick-profile result of one check (the same ``check.run`` a test would repeat); a crash of
    that check fails the calling test with its exception."""
    _, results = quick_results()
    res = results[check_id]
    if isinstance(res, Exception):
        raise AssertionError(f"{check_id} crashed in the session's quick run: {res!r}")
    return res
