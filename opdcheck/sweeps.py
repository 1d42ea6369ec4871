"""One executor for every sweep (instances, step sizes, seeds, budgets).

A sweep is a list of picklable task specs and a module-level (picklable) function
``fn(spec, seed) -> result``. Each task's seed is derived from the run's seed, the sweep's stream
name and the task's index only (:func:`task_seed`), and results come back in task order, so a
report is byte-identical whichever executor ran it.

Executors:

* ``InProcess`` (default): a plain loop.
* ``LocalProcesses(jobs)``: ``concurrent.futures.ProcessPoolExecutor`` with ``jobs`` workers.
* ``DaskCluster(address)``: a ``dask.distributed`` cluster (the optional ``dask`` extra).

Checks do not build executors: they call ``ctx.map(fn, specs, stream=..., label=...)``
(``paper_checks/context.py``), which uses the executor the CLI chose (``--jobs``, ``--scheduler``).

Example
-------
>>> def square(spec, seed):
...     return spec * spec
>>> InProcess().map(square, [1, 2, 3], seeds=[0, 0, 0])
[1, 4, 9]
"""
from __future__ import annotations

import zlib
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["task_seed", "task_seeds", "Executor", "InProcess", "LocalProcesses", "DaskCluster", "make_executor"]

TaskFn = Callable[[Any, int], Any]
ProgressFn = Callable[[int, int], None]


def task_seed(run_seed: int, stream: str, index: int) -> int:
    """A 63-bit seed for task ``index`` of sweep ``stream`` in a run with seed ``run_seed``.

    Depends on nothing else (not on the executor, the worker or the order tasks finish in).
    """
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"task_seed: index = {index!r}; pass a task index >= 0.")
    key = [int(run_seed), zlib.crc32(stream.encode("utf-8")), int(index)]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def task_seeds(run_seed: int, stream: str, count: int) -> list[int]:
    return [task_seed(run_seed, stream, i) for i in range(count)]


class Executor:
    """Maps ``fn(spec, seed)`` over task specs; results in task order."""

    name = "executor"

    def map(self, fn: TaskFn, specs: Sequence[Any], *, seeds: Sequence[int],
            progress: ProgressFn | None = None) -> list[Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class InProcess(Executor):
    """A plain loop in this process (the default)."""

    name = "in-process"

    def map(self, fn, specs, *, seeds, progress=None):
        out = []
        for i, (spec, seed) in enumerate(zip(specs, seeds)):
            out.append(fn(spec, seed))
            if progress:
                progress(i + 1, len(specs))
        return out


class LocalProcesses(Executor):
    """``jobs`` local worker processes (``concurrent.futures``)."""

    name = "local-processes"

    def __init__(self, jobs: int) -> None:
        if not isinstance(jobs, (int, np.integer)) or jobs < 1:
            raise ValueError(f"--jobs: {jobs!r}; pass an integer >= 1.")
        self.jobs = int(jobs)

    def describe(self) -> str:
        return f"{self.name} ({self.jobs} workers)"

    def map(self, fn, specs, *, seeds, progress=None):
        from concurrent.futures import ProcessPoolExecutor, as_completed

        if self.jobs == 1 or len(specs) <= 1:
            return InProcess().map(fn, specs, seeds=seeds, progress=progress)
        results: list[Any] = [None] * len(specs)
        with ProcessPoolExecutor(max_workers=self.jobs) as pool:
            futs = {pool.submit(fn, spec, seed): i for i, (spec, seed) in enumerate(zip(specs, seeds))}
            for k, fut in enumerate(as_completed(futs)):
                results[futs[fut]] = fut.result()
                if progress:
                    progress(k + 1, len(specs))
        return results


class DaskCluster(Executor):
    """A ``dask.distributed`` cluster at ``address`` (``pip install 'opdcheck[dask]'``)."""

    name = "dask"

    def __init__(self, address: str) -> None:
        if not isinstance(address, str) or not address.strip():
            raise ValueError(f"--scheduler: {address!r}; pass a Dask scheduler address such as tcp://127.0.0.1:8786.")
        self.address = address

    def describe(self) -> str:
        return f"{self.name} ({self.address})"

    def map(self, fn, specs, *, seeds, progress=None):
        try:
            from distributed import Client, as_completed
        except ImportError:  # pragma: no cover - depends on the environment
            raise ValueError("--scheduler needs dask.distributed; install it with pip install 'opdcheck[dask]'.") from None
        client = Client(self.address, set_as_default=False)
        try:
            futs = client.map(fn, list(specs), list(seeds), pure=False)
            index = {f.key: i for i, f in enumerate(futs)}
            results: list[Any] = [None] * len(specs)
            for k, fut in enumerate(as_completed(futs)):
                results[index[fut.key]] = fut.result()
                if progress:
                    progress(k + 1, len(specs))
            return results
        finally:
            client.close()


def make_executor(jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor the CLI asked for: Dask if ``scheduler``, local processes if ``jobs > 1``, else in-process."""
    if scheduler:
        return DaskCluster(scheduler)
    if jobs is not None and jobs != 1:
        return LocalProcesses(jobs)
    return InProcess()
