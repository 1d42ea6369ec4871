"""Whole checks in parallel worker processes: the runner behind ``opdcheck run`` with several checks and ``--jobs N``.

The checks of a run are independent (each builds its own instances from the run's seed), so a run of
several checks is spread over ``N`` local worker processes, one whole check per worker at a time, the
longest expected first (longest-processing-time scheduling: the run ends about when the slowest worker
does); the sweeps inside a check then run in that worker's process (no nested pools). A check's result
is the same object whichever process computed it, and the caller collects the results in the register's
order, so ``results.json`` is byte-identical to a serial run's, wall times and the executor's name aside.

Pieces:

* :func:`usable_cores`: what ``--jobs auto`` means (the cores this process may run on).
* :func:`expected_costs`: seconds each check is expected to take, from the wall times of the previous
  report in the output folder when it has them, else from :data:`COSTS_FILE` (one recorded run), else
  the median of those; only the order of dispatch depends on it, never a result.
* :func:`dispatch_order`: longest expected first, ties in register order (deterministic).
* :func:`dispatchable`: whether a worker can import every check (a check defined in ``__main__`` or as a
  closure cannot travel; the caller then runs the checks in its own process).
* :class:`ParallelChecks`: submits at most ``N`` checks at a time to :class:`opdcheck.sweeps.LocalProcesses`
  and yields a :class:`CheckOutcome` per check as it finishes; ``running`` names the checks in flight (what
  an interrupted run reports); a worker that dies (a segfault, the OOM killer) costs only the check it ran:
  the checks that were in flight with it are re-run one at a time, each in a fresh worker, so the one that
  kills its worker is reported CRASHED and the others complete.

Example
-------
>>> from opdcheck.paper_checks.registry import get_check
>>> checks = [get_check("dual-function"), get_check("lemma-B.5")]
>>> [c.id for c in dispatch_order(checks, {"dual-function": 0.2, "lemma-B.5": 0.6})]
['lemma-B.5', 'dual-function']
"""
from __future__ import annotations

import errno
import json
import os
import pickle
import statistics
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

if TYPE_CHECKING:
    from opdcheck.paper_checks.registry import Check
    from opdcheck.paper_checks.result import CheckResult
    from opdcheck.problem import Problem

__all__ = ["COSTS_FILE", "usable_cores", "expected_costs", "dispatch_order", "dispatchable", "CheckOutcome",
           "run_one", "ParallelChecks", "run_checks"]

#: wall times (s) per check and profile of one recorded run: the cost estimate when the output folder holds no
#: previous report (re-record with ``python -m opdcheck.paper_checks.dispatch --from results.json``)
COSTS_FILE = Path(__file__).with_name("check_costs.json")

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def usable_cores() -> int:
    """The number of cores this process may run on (its CPU affinity), at least 1: ``--jobs auto``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _recorded_costs(profile: str) -> dict[str, float]:
    try:
        table = json.loads(COSTS_FILE.read_text(encoding="utf-8"))
        costs = table.get(profile) or table.get("quick") or {}
        return {str(k): float(v) for k, v in costs.items()}
    except (OSError, ValueError, TypeError, AttributeError):  # a missing or damaged table only costs the ordering
        return {}


def _previous_costs(previous: Path | None, profile: str) -> dict[str, float]:
    """Wall times of the report in ``previous`` (an earlier run's results.json) if it ran ``profile``."""
    if previous is None:
        return {}
    try:
        payload = json.loads(Path(previous).read_text(encoding="utf-8"))
        if payload.get("profile") != profile:
            return {}
        return {str(r["id"]): float(r["wall_time"]) for r in payload.get("results", [])
                if isinstance(r, dict) and isinstance(r.get("wall_time"), (int, float))}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def expected_costs(check_ids: Sequence[str], profile: str, previous: Path | None = None) -> dict[str, float]:
    """Seconds each of ``check_ids`` is expected to take at ``profile``: the previous report's wall time
    (``previous``: its results.json), else the recorded table :data:`COSTS_FILE`, else the table's median."""
    recorded = _recorded_costs(profile)
    earlier = _previous_costs(previous, profile)
    fallback = statistics.median(recorded.values()) if recorded else 1.0
    return {cid: earlier.get(cid, recorded.get(cid, fallback)) for cid in check_ids}


def dispatch_order(checks: Sequence["Check"], costs: dict[str, float]) -> list["Check"]:
    """Longest expected first; equal costs (or none) keep the register's order."""
    index = {c.id: k for k, c in enumerate(checks)}
    return sorted(checks, key=lambda c: (-float(costs.get(c.id, 0.0)), index[c.id]))


def dispatchable(checks: Sequence["Check"]) -> bool:
    """True when a worker process can run every check: each is pickled by reference to a module the worker
    imports (not ``__main__``, not a closure)."""
    for c in checks:
        module = getattr(c.func, "__module__", None)
        if not module or module in ("__main__", "__mp_main__"):
            return False
        try:
            pickle.dumps(c)
        except Exception:  # closures, lambdas, local classes: they live only in this process
            return False
    return True


@dataclass
class CheckOutcome:
    """What running one check gave: its result, or the traceback of its crash (``no_space``: the disk filled)."""

    id: str
    result: "CheckResult | None" = None
    error: str | None = None
    exception: BaseException | None = None
    no_space: bool = False

    @property
    def crashed(self) -> bool:
        return self.result is None


def _sendable(exc: BaseException, text: str) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(text.strip().splitlines()[-1] if text.strip() else repr(exc))


def run_one(check: "Check", profile: str, seed: int, out_dir: str, instance: "Problem | None") -> CheckOutcome:
    """Run ``check`` in this process (a worker's task): its sweeps run here, progress is off. A crash comes back
    as an outcome with its traceback (formatted here, where it happened), not as an exception."""
    from opdcheck.paper_checks.context import CheckContext, Progress

    ctx = CheckContext(profile=profile, seed=seed, out_dir=Path(out_dir), instance=instance,
                       progress=Progress(enabled=False), executor=None)
    try:
        result = check.run(ctx)
    except Exception as exc:
        text = traceback.format_exc()
        return CheckOutcome(check.id, error=text, exception=_sendable(exc, text),
                            no_space=isinstance(exc, OSError) and exc.errno in _NO_SPACE)
    try:
        pickle.dumps(result)
    except Exception as exc:  # the machinery's fault, not the check's: said as such
        text = (f"the result of {check.id} cannot be sent back from its worker process ({type(exc).__name__}: {exc}); "
                "run it with --jobs 1.")
        return CheckOutcome(check.id, error=text, exception=RuntimeError(text))
    return CheckOutcome(check.id, result=result)


def _worker_died(check_id: str, exc: BaseException) -> CheckOutcome:
    text = (f"the worker process running {check_id} died ({type(exc).__name__}: {exc}); a native crash or the "
            "out-of-memory killer; run it alone with --jobs 1 to see its own error.")
    return CheckOutcome(check_id, error=text, exception=RuntimeError(text))


class ParallelChecks:
    """Whole checks on ``workers`` local processes (``opdcheck.sweeps.LocalProcesses``, spawned, dying with this
    process), at most ``workers`` in flight, submitted in the order given (see :func:`dispatch_order`).

    ``numba_threads``: the Numba thread pool of each worker (default: this process's cores shared among the
    workers, unless ``NUMBA_NUM_THREADS`` is set), so that N workers do not each start a thread per core;
    the kernels' results do not depend on it (fixed reduction order)."""

    def __init__(self, workers: int, numba_threads: int | None = None) -> None:
        from opdcheck.sweeps import LocalProcesses

        self.workers = int(workers)
        if numba_threads is None and "NUMBA_NUM_THREADS" not in os.environ:
            numba_threads = max(1, usable_cores() // max(1, self.workers))
        self.numba_threads = numba_threads
        self._pool = LocalProcesses(self.workers, worker_threads=numba_threads)
        self.running: list[str] = []  # checks in flight, in the order they were submitted

    def describe(self) -> str:
        return f"local-processes ({self.workers} workers, one check each)"

    def run(self, checks: Sequence["Check"], args_for: Callable[["Check"], tuple],
            on_start: Callable[[str], None] | None = None) -> Iterator[CheckOutcome]:
        """Yield one outcome per check as each finishes. ``args_for(check)`` gives ``(profile, seed, out_dir,
        instance)`` for :func:`run_one`. An interrupt (Ctrl-C, SIGTERM raised as KeyboardInterrupt) terminates the
        workers and propagates; ``running`` then names the checks that were cut off."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = list(checks)
        inflight: dict[Any, "Check"] = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < self.workers:
                    c = queue.pop(0)
                    inflight[self._pool.submit(run_one, c, *args_for(c))] = c
                    self.running.append(c.id)
                    if on_start:
                        on_start(c.id)
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                broken = []
                for fut in sorted(done, key=lambda f: self.running.index(inflight[f].id)):
                    c = inflight.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        broken.append(c)
                        continue
                    self.running.remove(c.id)
                    yield outcome
                if broken:  # the pool is gone: every check in flight with it has to be re-run
                    suspects = broken + [inflight.pop(f) for f in list(inflight)]
                    self._pool.terminate()
                    for c in suspects:  # one at a time, each in a fresh worker: only the culprit crashes
                        yield self._alone(c, args_for)
                        self.running.remove(c.id)
        except BaseException:
            self._pool.terminate()
            raise

    def _alone(self, check: "Check", args_for) -> CheckOutcome:
        from concurrent.futures.process import BrokenProcessPool

        from opdcheck.sweeps import LocalProcesses

        solo = LocalProcesses(1, worker_threads=self.numba_threads)
        try:
            return solo.submit(run_one, check, *args_for(check)).result()
        except BrokenProcessPool as exc:
            return _worker_died(check.id, exc)
        finally:
            solo.terminate()

    def close(self) -> None:
        self._pool.close()

    def terminate(self) -> None:
        self._pool.terminate()

    def __enter__(self) -> "ParallelChecks":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_checks(checks: Sequence["Check"], *, profile: str = "quick", seed: int = 0, out_dir: str | Path,
               instance: "Problem | None" = None, jobs: int | None = None,
               previous: Path | None = None) -> dict[str, CheckOutcome]:
    """Run ``checks`` (``jobs`` workers, default :func:`usable_cores`; in this process when ``jobs`` is 1, there
    is one check, or a check cannot travel) and return their outcomes in the order of ``checks``.

    ``instance`` goes to the checks that accept one. The library form of ``opdcheck run``'s runner, used by the
    tests' shared quick run."""
    checks = list(checks)
    jobs = usable_cores() if jobs is None else int(jobs)
    workers = min(jobs, len(checks))

    def args_for(c: "Check") -> tuple:
        return profile, seed, str(out_dir), instance if c.accepts_instance else None

    outcomes: dict[str, CheckOutcome] = {}
    if workers > 1 and dispatchable(checks):
        order = dispatch_order(checks, expected_costs([c.id for c in checks], profile, previous))
        with ParallelChecks(workers) as pool:
            for o in pool.run(order, args_for):
                outcomes[o.id] = o
    else:
        for c in checks:
            outcomes[c.id] = run_one(c, *args_for(c))
    return {c.id: outcomes[c.id] for c in checks}


def _record(results_json: str, out: Path = COSTS_FILE) -> dict:
    """Write the wall times of ``results_json`` into :data:`COSTS_FILE` under its profile (other profiles kept)."""
    payload = json.loads(Path(results_json).read_text(encoding="utf-8"))
    try:
        table = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        table = {}
    table[payload["profile"]] = {r["id"]: round(float(r["wall_time"]), 1) for r in payload["results"]}
    out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return table


if __name__ == "__main__":  # pragma: no cover - maintenance
    import argparse

    p = argparse.ArgumentParser(description="record the per-check wall times of a results.json as the cost table")
    p.add_argument("--from", dest="src", required=True, metavar="RESULTS_JSON")
    a = p.parse_args()
    print(json.dumps(_record(a.src), indent=1))
