"""Session-wide test helpers.

* The session's shared quick run (``tests/quick_profile_run.py``) reports its own wall and CPU time at the end of
  a run, so a test run's total can be split into the shared run and everything else. Under pytest-xdist (the
  default ``pytest``: ``-n auto`` in pyproject.toml) the run is made once, by the worker gw0, and read by the other
  workers; each worker leaves its timing in the run's shared folder and the controller prints the line.
* When a collected test reads the shared quick run and the run goes to worker processes, it is started in the
  background once the session is collected, and the modules that read it are moved after the others (their own
  order kept): the other tests run in this process while the checks compute in the workers.
* ``unrendered_figures``: a test that judges a check's verdicts and findings (not its pictures) may skip the
  PNG rendering of the figures the check writes into the test's own temporary folder. The figure is still built
  and :func:`opdcheck.paper_checks.figures.save_figure` still refuses an empty one; only
  ``Figure.savefig``'s rasterisation is replaced by a placeholder file. Figures written anywhere else than the
  test's ``tmp_path`` (the shared quick run's report, which the report tests read) are rendered as usual.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import time
import uuid
import zlib
from pathlib import Path

import pytest

import quick_profile_run as _quick

_QUICK_TIME: dict[str, float] = {}
_quick_results = getattr(_quick, "quick_results", None)  # None: nothing to time (the module changed its entry point)
_start_in_background = getattr(_quick, "start_quick_results", None)


def _timed_quick_results(*args, **kwargs):
    """``quick_profile_run.quick_results``, timing its first (uncached) call: the whole run, or in the background
    case the wait of the first test that read it."""
    if _QUICK_TIME:
        return _quick_results(*args, **kwargs)
    wall, cpu, t0 = time.perf_counter(), time.process_time(), os.times()
    out = _quick_results(*args, **kwargs)
    t1 = os.times()
    _QUICK_TIME.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu,
                       children=(t1.children_user - t0.children_user) + (t1.children_system - t0.children_system))
    return out


# tests import ``quick_results`` / ``quick_result`` after this module is loaded, so they see the timed one
if callable(_quick_results):
    _quick.quick_results = _timed_quick_results


def _reads_quick_run(module) -> bool:
    try:
        return "quick_profile_run" in Path(module.__file__).read_text(encoding="utf-8")
    except (AttributeError, OSError, TypeError):
        return False


@pytest.hookimpl(trylast=True)  # after the deselection (-m, -k): only the tests that will run count
def pytest_collection_modifyitems(session, config, items):
    if not callable(_start_in_background):
        return
    reads = {}
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module not in reads:
            reads[module] = _reads_quick_run(module)
    late = [item for item in items if reads.get(getattr(item, "module", None), False)]
    if late and late != items[-len(late):]:
        items[:] = [item for item in items if not reads.get(getattr(item, "module", None), False)] + late
    config._opdcheck_quick_readers = bool(late)


def pytest_collection_finish(session):
    # a session stopped early (-x, Ctrl-C) leaves at most the checks in flight to finish when the interpreter exits
    if getattr(session.config, "_opdcheck_quick_readers", False) and not session.config.option.collectonly:
        _start_in_background()


def pytest_configure(config):
    # the xdist controller fixes the test-run id the workers get, so that it knows their shared folder too
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "testrunuid", "") is None:
        config.option.testrunuid = uuid.uuid4().hex


def _timing_dir(config) -> Path | None:
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID") or getattr(config.option, "testrunuid", None)
    return None if not uid else Path(_quick.tempfile.gettempdir()) / f"opdcheck-quick-{uid}"


def pytest_sessionfinish(session, exitstatus):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    finish = getattr(_quick, "finish_for_the_others", None)
    if worker and callable(finish) and exitstatus != pytest.ExitCode.INTERRUPTED:
        finish()  # gw0: the other workers may still be waiting for the shared run
    folder = _timing_dir(session.config)
    if worker and folder is not None:  # an xdist worker: leave this worker's part of the timing line
        background = getattr(_quick, "_BACKGROUND", {})
        part = {k: background[k] for k in ("wall", "children") if k in background}
        if "wall" in _QUICK_TIME:
            part["waited"] = _QUICK_TIME["wall"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"timing-{worker}.json").write_text(json.dumps(part))


def pytest_unconfigure(config):
    # the xdist controller, once every worker is done: the shared folder (results, timing parts) is not needed
    folder = None if os.environ.get("PYTEST_XDIST_WORKER") else _timing_dir(config)
    if folder is not None and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    folder = None if os.environ.get("PYTEST_XDIST_WORKER") else _timing_dir(config)
    if folder is not None and folder.is_dir():  # the xdist controller: the workers' parts
        parts = [json.loads(f.read_text()) for f in sorted(folder.glob("timing-*.json"))]
        made = [p for p in parts if "wall" in p]
        waits = [p["waited"] for p in parts if "waited" in p]
        if made and waits:
            terminalreporter.write_line(
                f"shared quick run (tests/quick_profile_run.py, made once by the xdist worker gw0): {made[0]['wall']:.1f} s "
                f"wall in the background from the end of collection, {made[0]['children']:.1f} s CPU in its child processes "
                f"(and those of the tests beside it in gw0); the longest a worker waited for it: {max(waits):.1f} s")
        return
    background = getattr(_quick, "_BACKGROUND", {})
    if "wall" in background and "wall" in _QUICK_TIME:
        terminalreporter.write_line(
            f"shared quick run (tests/quick_profile_run.py): {background['wall']:.1f} s wall in the background from "
            f"the end of collection, {_QUICK_TIME['wall']:.1f} s of which the first test that read it waited; "
            f"{background['children']:.1f} s CPU in child processes that finished meanwhile (its workers, and the "
            "subprocesses of the tests that ran beside it)")
    elif "wall" in _QUICK_TIME:
        terminalreporter.write_line(
            f"shared quick run (tests/quick_profile_run.py): {_QUICK_TIME['wall']:.1f} s wall, "
            f"{_QUICK_TIME['cpu']:.1f} s CPU in this process + {_QUICK_TIME['children']:.1f} s in finished worker processes")


def _png_1x1() -> bytes:
    """A valid 1x1 white PNG: what a figure rendered for a test that never looks at it is replaced by."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff")) + chunk(b"IEND", b""))


@pytest.fixture
def unrendered_figures(monkeypatch, tmp_path):
    """Figures saved under this test's ``tmp_path`` are written as a 1x1 placeholder PNG."""
    from matplotlib.figure import Figure

    base = tmp_path.resolve()
    render = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        if isinstance(fname, (str, Path)) and Path(fname).resolve().is_relative_to(base):
            Path(fname).write_bytes(_png_1x1())
            return None
        return render(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    yield
