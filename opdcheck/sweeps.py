"""One executor for every sweep (instances, step sizes, seeds, budgets).

A sweep is a list of picklable task specs and a module-level (picklable) function
``fn(spec, seed) -> result``. Each task's seed is derived from the run's seed, the sweep's stream
name and the task's index only (:func:`task_seed`), and results come back in task order, so a
report is byte-identical whichever executor ran it.

Executors:

* ``InProcess`` (default): a plain loop.
* ``LocalProcesses(jobs)``: ``concurrent.futures.ProcessPoolExecutor`` with ``jobs`` workers.
* ``DaskCluster(address)``: a ``dask.distributed`` cluster (the optional ``dask`` extra).

An executor is a context manager: ``LocalProcesses`` keeps its worker pool and ``DaskCluster`` its
client for every sweep of a run, and ``close()`` releases them. ``DaskCluster.connect()`` is called
by the CLI before any work, so a wrong address fails at once with one line, not after a long check.

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

__all__ = ["task_seed", "task_seeds", "Executor", "InProcess", "LocalProcesses", "DaskCluster", "make_executor",
           "demo_task"]

#: seconds to wait for a Dask scheduler to answer before ``--scheduler`` is reported as unreachable
SCHEDULER_CONNECT_TIMEOUT = 10.0
#: seconds a terminated local worker gets to exit before SIGKILL (and the pool's manager thread to reap it)
WORKER_EXIT_GRACE = 5.0

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

    def close(self) -> None:
        """Release workers or connections (idempotent)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_lengths(specs: Sequence[Any], seeds: Sequence[int]) -> None:
    if len(specs) != len(seeds):
        raise ValueError(f"map: {len(specs)} specs but {len(seeds)} seeds; pass one seed per task (task_seeds).")


class InProcess(Executor):
    """A plain loop in this process (the default)."""

    name = "in-process"

    def map(self, fn, specs, *, seeds, progress=None):
        specs, seeds = list(specs), list(seeds)
        _check_lengths(specs, seeds)
        out = []
        for i, (spec, seed) in enumerate(zip(specs, seeds)):
            out.append(fn(spec, seed))
            if progress:
                progress(i + 1, len(specs))
        return out


class LocalProcesses(Executor):
    """``jobs`` local worker processes (``concurrent.futures``, started with ``spawn``: no fork of a
    process holding threads or a Numba/BLAS state; the pool is kept for every sweep of the run)."""

    name = "local-processes"

    def __init__(self, jobs: int, worker_threads: int | None = None) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
            raise ValueError(f"--jobs: {jobs!r}; pass an integer >= 1 (the number of local worker processes).")
        self.jobs = int(jobs)
        #: Numba threads of each worker (None: numba's default, one per core)
        self.worker_threads = worker_threads
        self._pool = None

    def describe(self) -> str:
        return f"{self.name} ({self.jobs} workers)"

    def _get_pool(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_init, initargs=(self.worker_threads,))
        return self._pool

    def submit(self, fn: Callable[..., Any], *args: Any):
        """One task on the kept pool (a ``concurrent.futures.Future``): for callers that schedule tasks
        themselves, such as whole checks (``paper_checks/dispatch.py``)."""
        return self._get_pool().submit(fn, *args)

    def terminate(self) -> None:
        """Stop the workers now (SIGTERM to each, SIGKILL to any still running after a grace period) and return
        once every worker has exited and its exit status is stored: used when the run is interrupted, so that
        no worker keeps computing, orphaned, after the parent has gone.

        Whether a worker has exited is read from its sentinel (readable once the process has ended), not from
        ``is_alive()``: the pool's manager thread joins the workers of a broken pool itself, and a child it
        has reaped looks alive to ``is_alive()``/``join()`` in this thread (``waitpid`` fails with ECHILD,
        which ``Popen.poll`` reports as running) until that thread stores the status, so a test of
        ``is_alive()`` here could send SIGKILL to a pid already reaped, possibly reused by another process."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)
        for proc in procs:
            try:
                proc.terminate()
            except Exception:  # pragma: no cover - already gone
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in _running_after(procs, WORKER_EXIT_GRACE):  # pragma: no cover - ignores SIGTERM
            proc.kill()
        _running_after(procs, WORKER_EXIT_GRACE)
        if manager is not None:  # it reaps the dead workers (instantly now): wait until it has stored their status
            manager.join(timeout=WORKER_EXIT_GRACE)
        for proc in procs:
            if proc.exitcode is None:  # nobody reaped it yet (no manager thread): reap it here
                proc.join(timeout=0.1)

    def map(self, fn, specs, *, seeds, progress=None):
        from concurrent.futures import as_completed

        specs, seeds = list(specs), list(seeds)
        _check_lengths(specs, seeds)
        if self.jobs == 1 or len(specs) <= 1:
            return InProcess().map(fn, specs, seeds=seeds, progress=progress)
        pool = self._get_pool()
        results: list[Any] = [None] * len(specs)
        futs = {pool.submit(fn, spec, seed): i for i, (spec, seed) in enumerate(zip(specs, seeds))}
        try:
            for k, fut in enumerate(as_completed(futs)):
                results[futs[fut]] = fut.result()
                if progress:
                    progress(k + 1, len(specs))
        except BaseException as exc:  # a failed task or Ctrl-C/SIGTERM: do not leave the other tasks running
            for f in futs:
                f.cancel()
            if not isinstance(exc, Exception):  # interrupted: the running tasks are stopped, not awaited
                self.terminate()
            raise
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskCluster(Executor):
    """A ``dask.distributed`` cluster at ``address`` (``pip install 'opdcheck[dask]'``).

    The workers must be able to import opdcheck (the same version: the task functions are sent by
    reference); each task's seed travels with it, so where it runs changes nothing.
    """

    name = "dask"

    def __init__(self, address: str, timeout: float | None = None) -> None:
        if not isinstance(address, str) or not address.strip():
            raise ValueError(f"--scheduler: {address!r}; pass a Dask scheduler address such as tcp://127.0.0.1:8786.")
        self.address = address.strip()
        self.timeout = float(SCHEDULER_CONNECT_TIMEOUT if timeout is None else timeout)
        self._client = None

    def describe(self) -> str:
        return f"{self.name} ({self.address})"

    def connect(self):
        """The client, connecting on first use; a clear ValueError if dask is absent or nobody answers."""
        if self._client is None:
            try:
                from distributed import Client
            except ImportError:
                raise ValueError(f"--scheduler {self.address}: needs dask.distributed; install it with "
                                 "pip install 'opdcheck[dask]'.") from None
            try:
                client = Client(self.address, timeout=self.timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ValueError(f"--scheduler {self.address}: no Dask scheduler answered within {self.timeout:g} s "
                                 f"({type(exc).__name__}: {exc}); start one (dask scheduler) or fix the address.") from None
            try:
                self._check_workers(client)
            except BaseException:
                client.close()
                raise
            self._client = client
        return self._client

    def _check_workers(self, client) -> None:
        """At least one live worker within the timeout, every worker on this opdcheck version (a task
        sent to a worker that imports another version would compute something else), and the
        scheduler's/workers' packages consistent (``client.get_versions(check=True)``)."""
        from opdcheck import __version__

        try:
            client.wait_for_workers(1, timeout=self.timeout)
        except (TimeoutError, OSError) as exc:
            raise ValueError(f"--scheduler {self.address}: the scheduler answered but no worker joined within "
                             f"{self.timeout:g} s ({type(exc).__name__}); start workers (dask worker "
                             f"{self.address}) or run without --scheduler.") from None
        try:
            client.get_versions(check=True)
        except ValueError as exc:
            raise ValueError(f"--scheduler {self.address}: package versions differ between this client, the scheduler "
                             f"and the workers ({' '.join(str(exc).split())[:300]}); install the same versions "
                             "everywhere.") from None
        except (TimeoutError, OSError) as exc:
            raise ValueError(f"--scheduler {self.address}: the workers did not report their versions ({exc}); "
                             "check the cluster.") from None
        try:
            seen = client.run(worker_opdcheck_version)
        except (TimeoutError, OSError) as exc:
            raise ValueError(f"--scheduler {self.address}: the workers did not answer ({exc}); check the cluster.") from None
        except Exception as exc:  # ImportError on a worker without opdcheck, reported by dask as the worker's error
            raise ValueError(f"--scheduler {self.address}: a worker cannot import opdcheck ({type(exc).__name__}: "
                             f"{exc}); pip install opdcheck=={__version__} on every worker.") from None
        other = {w: v for w, v in seen.items() if v != __version__}
        if other:
            w, v = next(iter(other.items()))
            raise ValueError(f"--scheduler {self.address}: {len(other)} worker(s) run opdcheck {v} (e.g. {w}), this "
                             f"client runs {__version__}; install opdcheck=={__version__} on every worker.")

    def map(self, fn, specs, *, seeds, progress=None):
        from distributed import as_completed

        specs, seeds = list(specs), list(seeds)
        _check_lengths(specs, seeds)
        if not specs:
            return []
        client = self.connect()
        futs = client.map(fn, specs, seeds, pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        results: list[Any] = [None] * len(specs)
        try:
            for k, fut in enumerate(as_completed(futs, loop=client.loop)):
                results[index[fut.key]] = fut.result()
                if progress:
                    progress(k + 1, len(specs))
        except BaseException:
            client.cancel(futs)
            raise
        return results

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _running_after(procs: list, timeout: float) -> list:
    """The processes of ``procs`` that have not exited within ``timeout`` seconds, judged by their sentinels
    (readable once the process has ended, whichever thread reaps it)."""
    import time
    from multiprocessing.connection import wait

    pending = {proc.sentinel: proc for proc in procs}
    deadline = time.monotonic() + timeout
    while pending and (left := deadline - time.monotonic()) > 0:
        for sentinel in wait(list(pending), timeout=left):
            del pending[sentinel]
    return list(pending.values())


def _worker_init(numba_threads: int | None = None) -> None:
    """In each local worker: die with the parent (Linux PR_SET_PDEATHSIG), so a parent killed by any
    signal, even SIGKILL, leaves no orphan computing on; and leave SIGINT to the parent (which
    terminates the workers itself). ``numba_threads``: the size of Numba's thread pool in this worker
    (set before numba is imported; the kernels give the same bits for any thread count)."""
    import os
    import signal

    if numba_threads is not None and "NUMBA_NUM_THREADS" not in os.environ:
        os.environ["NUMBA_NUM_THREADS"] = str(int(numba_threads))

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def worker_opdcheck_version() -> str:
    """The opdcheck version a (Dask) worker imports: must equal the client's (tasks travel by reference)."""
    from opdcheck import __version__

    return __version__


def make_executor(jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor the CLI asked for: Dask if ``scheduler``, local processes if ``jobs > 1``, else in-process."""
    if scheduler is not None and jobs not in (None, 1):
        raise ValueError(f"--jobs {jobs} with --scheduler {scheduler}: choose one (the cluster's workers set the "
                         "parallelism).")
    if scheduler is not None:
        return DaskCluster(scheduler)
    if jobs is not None:
        ex = LocalProcesses(jobs)  # validates jobs
        if ex.jobs > 1:
            return ex
    return InProcess()


def demo_task(spec: tuple[int, float], seed: int) -> dict:
    """A small deterministic task for examples and executor tests: a seeded random walk.

    ``spec = (steps, scale)``; returns the walk's end point and its maximum, which depend only on
    ``spec`` and ``seed`` (not on the process that ran it).
    """
    steps, scale = spec
    walk = np.cumsum(np.random.default_rng(seed).normal(0.0, scale, size=int(steps)))
    return {"steps": int(steps), "scale": float(scale), "seed": int(seed),
            "end": float(walk[-1]), "max": float(walk.max())}
