"""Command line: ``opdcheck list | list-methods | show ID | claims | run [IDS|all] | solve FILE | certify FILE``.

Exit codes of ``run``: 0 every check ran (whatever the verdicts), 1 a check crashed,
2 with ``--strict`` when a verdict differs from the recorded baseline, 3 invalid input (a bad
argument, an unknown check id, an instance file that does not validate, an output folder that
cannot be written, an instance too large for the memory limit, a scheduler that does not answer),
130 interrupted (Ctrl-C; the finished checks are written as a report marked INCOMPLETE), 143 the same
on SIGTERM (worker processes are terminated and the staging folder removed either way).

Everything ``run`` is given is checked before any work. The run writes into a fresh folder next to
``--out`` and moves it into place when done, so a report, its figures and its counterexamples
always come from one run (see :func:`publish`).

Adding a subcommand: write ``_cmd_NAME(args) -> int`` and register it in :func:`build_parser` with
``sub.add_parser(...)``; raise nothing for bad input, return ``_err("field value: fix")``.
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import importlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

EXIT_OK, EXIT_CRASH, EXIT_STRICT, EXIT_INPUT = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C: the finished checks are kept as a report marked INCOMPLETE (128 + SIGINT)


EXIT_TERMINATED = 143  # SIGTERM, handled like Ctrl-C (128 + SIGTERM)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, so that a terminated run unwinds like Ctrl-C: workers
    terminated, staging removed, the finished checks published as INCOMPLETE."""


@contextmanager
def _sigterm_as_interrupt():
    import signal

    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _err(msg: str) -> int:
    print(f"opdcheck: error: {msg}", file=sys.stderr)
    return EXIT_INPUT


def _cmd_list(args: argparse.Namespace) -> int:
    from opdcheck.paper_checks.registry import all_checks

    checks = all_checks()
    width = max(len(c.id) for c in checks)
    for c in checks:
        print(f"{c.id:<{width}}  {c.paper_ref}")
    return EXIT_OK


def _cmd_claims(args: argparse.Namespace) -> int:
    """The claims register with its coverage; with ``--results FILE`` the coverage of that run."""
    from opdcheck.paper_checks.claims import coverage, coverage_markdown

    results = None
    if args.results is not None:
        try:
            payload = json.loads(Path(args.results).read_text(encoding="utf-8"))
            results = payload["results"]
            if not isinstance(results, list):
                raise TypeError("results is not a list")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return _err(f"--results {args.results}: not a readable results.json ({type(exc).__name__}); pass the "
                        "results.json an `opdcheck run` wrote.")
    cov = coverage(results)
    if args.status is not None:
        cov = dict(cov, entries=[e for e in cov["entries"] if e["status"] == args.status])
    print(json.dumps(cov, indent=1) if args.json else coverage_markdown(cov))
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from opdcheck.paper_checks.registry import get_check

    try:
        c = get_check(args.id)
    except KeyError as exc:
        return _err(str(exc.args[0]))
    print(f"{c.id}  ({c.paper_ref})\n")
    print(f"Claim: {c.claim}\n")
    if c.expected:
        print(f"Known before running: {c.expected}\n")
    print(f"Accepts --instance FILE: {'yes' if c.accepts_instance else 'no'}\n")
    from opdcheck.paper_checks.claims import REGISTER

    judged = [(s, j) for s in REGISTER for j in s.judges if j.check == c.id]
    if judged:
        print("Statements of the paper it judges (`opdcheck claims`):")
        for s, j in judged:
            print(f"  {s.id} ({s.location}): {j.finding or 'the check as a whole'} [{j.reading}"
                  + (f", {j.severity}" if j.severity != "substantive" else "") + (", planned" if j.planned else "") + "]")
        print()
    if c.doc:
        print(c.doc)
    return EXIT_OK


def _load_baseline() -> dict:
    """The recorded per-finding baseline (``paper_checks/baseline.py``); a malformed file raises a one-line error."""
    from opdcheck.paper_checks.baseline import load

    return load()


# ---------------------------------------------------------------- the output folder
#: the file every report folder opdcheck writes holds; only a folder holding it (or an empty one) is replaced
MARKER = ".opdcheck-report"


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - platform without pathconf
        return 255


def check_out_dir(text: str) -> Path:
    """The report folder ``--out`` names, checked before any work: not empty, not a file, not the
    current folder or one holding it, either new, empty, or a folder opdcheck wrote (it holds the
    :data:`MARKER` file: recognised by that, not by the names of its contents), with names the file
    system allows, in a location where this user can write. A symbolic link is followed: the report
    replaces the folder it points to, and the link keeps pointing at it. Returns the absolute path;
    ValueError naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"--out {text!r}: empty; pass a folder for the report, e.g. --out opdcheck-report.")
    out = Path(text).expanduser().absolute()
    anchor = out.parent
    try:
        while not anchor.exists():
            anchor = anchor.parent
        limit = _name_max(anchor if anchor.is_dir() else anchor.parent)
        long = [part for part in out.parts if len(os.fsencode(part)) > limit]
        # the staging and aside folders are named ".<name>.staging-XXXXXXXX": 20 more bytes than the name
        if long or len(os.fsencode(out.name)) + 20 > limit:
            raise ValueError(f"--out {text[:60]}{'...' if len(text) > 60 else ''}: a folder name of "
                             f"{len(os.fsencode((long or [out.name])[0]))} bytes, over the {limit - 20} this file "
                             "system allows for a report folder; pass a shorter name.")
        if out.is_symlink():
            target = out.resolve()
            if not target.exists():
                raise ValueError(f"--out {text}: a symbolic link to {target}, which does not exist; pass a real "
                                 "folder or fix the link.")
            out = target
        cwd = Path.cwd().absolute()
        if out == cwd or out in cwd.parents or out == cwd.resolve() or out in cwd.resolve().parents:
            raise ValueError(f"--out {text}: is the current folder or holds it, and a run replaces its report folder "
                             "as a whole; pass a new folder, e.g. --out opdcheck-report.")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {text}: exists and is not a folder; pass a folder path or remove the file.")
        if out.is_dir():
            try:
                entries = sorted(e.name for e in out.iterdir())
            except OSError as exc:
                raise ValueError(f"--out {text}: cannot be read ({exc.strerror}); pass a folder you can write.") from None
            if entries and MARKER not in entries:
                shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
                raise ValueError(f"--out {text}: a folder opdcheck did not write (it holds {shown} and no {MARKER} "
                                 "marker), and a run replaces its report folder as a whole; pass a new or empty folder.")
            from opdcheck.paper_checks.report import foreign_entries

            added = foreign_entries(out) if MARKER in entries else []
            if added:
                shown = ", ".join(added[:3]) + (f" and {len(added) - 3} more" if len(added) > 3 else "")
                raise ValueError(f"--out {text}: a report folder opdcheck wrote, but it now also holds {shown}, which "
                                 "opdcheck did not write and a run would delete; move them out or pass another folder.")
            if not os.access(out, os.W_OK | os.X_OK):
                raise ValueError(f"--out {text}: the folder is read-only; pass a folder you can write.")
        anchor = out.parent
        while not anchor.exists():
            anchor = anchor.parent
    except OSError as exc:  # ENAMETOOLONG on a path, ELOOP on a link cycle, EACCES on a parent
        raise ValueError(f"--out {text[:60]}: cannot be used ({exc.strerror or exc}); pass another folder.") from None
    if not anchor.is_dir():
        raise ValueError(f"--out {text}: {anchor} is a file, so no folder can be made under it; pass another path.")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise ValueError(f"--out {text}: cannot create files in {anchor} (read-only); pass a folder you can write.")
    return out


def make_staging_dir(out: Path) -> Path:
    """A fresh, private folder next to ``out`` where this run writes everything (checks get it as their
    ``out_dir``); :func:`publish` moves it into place. Creating it is the final writability test; it gets
    the :data:`MARKER` file at once."""
    from opdcheck.paper_checks.report import write_marker

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create a folder in {out.parent} ({exc.strerror}); "
                         "pass a folder you can write.") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; the published report is not
    try:
        write_marker(staging)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ValueError(f"--out {out}: cannot write in {out.parent} ({exc.strerror}); free space or pass "
                         "another folder.") from None
    return staging


def publish(staging: Path, out: Path) -> None:
    """Move the finished run's folder into place. Under a lock on the parent folder (no lock file is
    left behind): the old folder is renamed aside, the new one renamed in (two renames on one file
    system), so ``out`` always holds exactly one run's report, figures and counterexamples; with
    concurrent runs the last to finish wins, whole. The folder set aside is re-checked for the marker
    under the lock: a folder that another process replaced by a foreign one meanwhile is never deleted."""
    from opdcheck.paper_checks.report import folder_lock, foreign_entries, write_marker

    write_marker(staging, entries=[e.name for e in staging.iterdir()])  # the manifest: what this run wrote
    old = None
    with folder_lock(out.parent):
        if out.is_symlink():
            raise ValueError(f"--out {out}: became a symbolic link during the run; the report was not published.")
        if out.exists():
            if out.is_dir() and any(True for _ in out.iterdir()) and (not (out / MARKER).exists() or foreign_entries(out)):
                raise ValueError(f"--out {out}: now holds files opdcheck did not write; the report was not published.")
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            os.rename(out, old)
        os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _appendices() -> tuple[list[tuple[str, str]], list[str]]:
    """Appendices other modules contribute: ``opdcheck.mutants.appendix_markdown()`` when it exists."""
    if importlib.util.find_spec("opdcheck.mutants") is None:
        return [], []
    try:
        mutants = importlib.import_module("opdcheck.mutants")
        fn = getattr(mutants, "appendix_markdown", None)
        text = fn() if callable(fn) else None
    except Exception as exc:  # an appendix never costs the run its report
        return [], [f"appendix of opdcheck.mutants failed: {type(exc).__name__}: {exc}"]
    if isinstance(text, str) and text.strip():
        return [(str(getattr(mutants, "APPENDIX_TITLE", "Mutation testing")), text)], []
    return [], []


def _sanitised_name(problem):
    """The instance with a one-line, printable name (a name with newlines could forge report lines)."""
    clean = inline_name(problem.name)
    return problem if clean == problem.name else dataclasses.replace(problem, name=clean)


def inline_name(name: str) -> str:
    return " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", str(name)).split())[:200] or "unnamed"


def _memory_refusals(selected, instance, limit: int | None, source: str, jobs: int = 1) -> list[str]:
    """One line per check that would not fit in ``limit`` bytes on ``instance`` (estimated up front).
    With ``--jobs N`` every local worker may hold a task's working set at once: N times the estimate."""
    if instance is None or limit is None:
        return []
    lines = []
    for c in selected:
        if not c.accepts_instance:
            continue
        try:
            need = c.memory_estimate(instance)
        except Exception:  # a broken estimator falls back on the generic one rather than stopping the run
            from opdcheck.resources import generic_bytes

            need = generic_bytes(instance)
        line = _memory_refusal(c.id + (f" with --jobs {jobs}" if jobs > 1 else ""), need * jobs, instance, limit, source)
        if line:
            lines.append(line)
    return lines


def _profile_refusals(selected, profile: str, limit: int | None, source: str, jobs: int = 1) -> list[str]:
    """One line per check whose built-in instances at ``profile`` would not fit in ``limit`` bytes."""
    if limit is None:
        return []
    from opdcheck.paper_checks.profile_memory import profile_bytes
    from opdcheck.resources import format_bytes

    lines = []
    for c in selected:
        need = profile_bytes(c.id, profile, c.memory) * jobs
        if need > limit:
            lines.append(f"{c.id} --profile {profile}{f' with --jobs {jobs}' if jobs > 1 else ''} needs about "
                         f"{format_bytes(need)} for its built-in instances, over the memory limit {format_bytes(limit)} "
                         f"({source}); raise it with --memory-limit SIZE or use --profile quick.")
    return lines


def _check_need(c, profile: str, instance) -> int:
    """Bytes check ``c`` is estimated to need: on ``instance`` if it takes one, else on its built-in instances."""
    if instance is not None and c.accepts_instance:
        try:
            return int(c.memory_estimate(instance))
        except Exception:  # a broken estimator falls back on the generic one rather than stopping the run
            from opdcheck.resources import generic_bytes

            return int(generic_bytes(instance))
    from opdcheck.paper_checks.profile_memory import profile_bytes

    return int(profile_bytes(c.id, profile, c.memory))


def _checks_that_fit(selected, profile: str, instance, limit: int | None, workers: int) -> tuple[int, int, list[str]]:
    """Whole checks at once: the most workers (<= ``workers``) such that the ``k`` largest estimates fit in
    ``limit`` together (any ``k`` checks may run at the same time). Returns (k, bytes of the k largest at the
    requested ``workers``, their ids)."""
    needs = sorted(((_check_need(c, profile, instance), c.id) for c in selected), key=lambda t: -t[0])
    top = needs[:workers]
    total = sum(n for n, _ in top)
    if limit is None:
        return workers, total, [i for _, i in top]
    k = workers
    while k > 1 and sum(n for n, _ in needs[:k]) > limit:
        k -= 1
    return k, total, [i for _, i in top]


def _sweep_jobs_that_fit(refusals: Callable[[int], list[str]], jobs: int, auto: bool) -> tuple[int, list[str]]:
    """``(jobs, refusals)`` for a check's sweeps on ``jobs`` workers: the refusals of one worker first (too big
    anyway), then, with ``--jobs auto``, as many workers as fit, else the requested ``jobs`` or its refusals."""
    too_big = refusals(1)
    if too_big or jobs <= 1:
        return jobs, too_big
    while auto and jobs > 1 and refusals(jobs):
        jobs -= 1
    return jobs, refusals(jobs)


def _memory_refusal(what: str, need: int, instance, limit: int | None, source: str) -> str | None:
    from opdcheck.resources import format_bytes

    if limit is None or need <= limit:
        return None
    return (f"{what} needs about {format_bytes(need)} on instance {instance.name} "
            f"(X={instance.X}, n={instance.n}, h={instance.h}), over the memory limit "
            f"{format_bytes(limit)} ({source}); raise it with --memory-limit SIZE or "
            "OPDCHECK_MEMORY_LIMIT, or pass a smaller instance.")


def _cmd_run(args: argparse.Namespace) -> int:
    from opdcheck.paper_checks.dispatch import dispatchable, usable_cores
    from opdcheck.paper_checks.registry import all_checks, get_check
    from opdcheck.resources import format_bytes, memory_limit
    from opdcheck.sweeps import DaskCluster, InProcess, make_executor

    # ---- every argument is checked before any work
    ids = list(args.ids) or ["all"]
    # named checks import their own modules only (not every check's sympy, scipy, Numba and cvxpy imports)
    by_id = {c.id: c for c in all_checks()} if "all" in ids else {}
    for i in dict.fromkeys(ids):
        if i != "all" and i not in by_id:
            try:
                by_id[i] = get_check(i)
            except KeyError:
                pass
    unknown = [i for i in ids if i != "all" and i not in by_id]
    if unknown:
        return _err(f"unknown check id(s) {unknown}; `opdcheck list` shows the {len(all_checks())} known ids.")
    selected = list(by_id.values()) if "all" in ids else [by_id[i] for i in dict.fromkeys(ids)]
    if args.seed < 0:
        return _err(f"--seed {args.seed}: pass a non-negative integer.")
    if args.strict:  # a malformed baseline is bad input, found before any work
        try:
            _load_baseline()
        except ValueError as exc:
            return _err(str(exc))
    try:
        out = check_out_dir(args.out)
        limit, limit_source = memory_limit(args.memory_limit)
        if args.strict:  # the baseline's schema, before any work (not after an hour of checks)
            from opdcheck.paper_checks.baseline import validate

            data = _load_baseline()
            validate(data, "baseline")
            if args.profile not in data:
                raise ValueError(f"baseline: no entry for profile {args.profile!r} (profiles recorded: {sorted(data)}); "
                                 "record one with python -m opdcheck.paper_checks.baseline --from results.json "
                                 f"--profile {args.profile}.")
            args.expected = data[args.profile]
        auto = args.jobs == "auto"
        jobs = usable_cores() if auto else int(args.jobs)
        executor = make_executor(None if (auto and args.scheduler is not None) else jobs, args.scheduler)
    except ValueError as exc:
        return _err(str(exc))
    # several checks and several workers: whole checks run in parallel, each check's sweeps in its own worker
    check_workers = min(jobs, len(selected)) if (args.scheduler is None and jobs > 1 and len(selected) > 1
                                                 and dispatchable(selected)) else 0
    sweep_jobs = getattr(executor, "jobs", 1) if not check_workers else 1
    instance = None
    notes: list[str] = []
    if not args.instance:  # the built-in profiles' instances are estimated and limited like a user's
        sweep_jobs, too_big = _sweep_jobs_that_fit(
            lambda j: _profile_refusals(selected, args.profile, limit, limit_source, jobs=j), sweep_jobs, auto)
        if too_big:
            for line in too_big[:-1]:
                print(f"opdcheck: error: {line}", file=sys.stderr)
            return _err(too_big[-1])
    if args.instance:
        from opdcheck.instances import load_problem

        try:
            instance = _sanitised_name(load_problem(args.instance, memory_limit=limit))
        except ValueError as exc:
            return _err(f"--instance {args.instance}: {exc}")
        sweep_jobs, too_big = _sweep_jobs_that_fit(  # before the Slater LP, too
            lambda j: _memory_refusals(selected, instance, limit, limit_source, jobs=j), sweep_jobs, auto)
        if too_big:
            for line in too_big[:-1]:
                print(f"opdcheck: error: {line}", file=sys.stderr)
            return _err(too_big[-1])
        from opdcheck.numerics.lp import require_slater

        from opdcheck.numerics.types import SolverError

        try:  # every saddle-point check needs bounded multipliers (Assumption 3.1) and a certified saddle point
            require_slater(instance)
            if instance.beta > 0:  # cached per instance: the checks reuse it; refused here, not crashed in each
                from opdcheck.numerics.saddle import solve_saddle

                solve_saddle(instance)
        except (ValueError, SolverError) as exc:
            return _err(f"--instance {args.instance}: {exc}")
        ignoring = [c.id for c in selected if not c.accepts_instance]
        if ignoring:
            notes.append(f"--instance {inline_name(args.instance)} is used by the checks that accept an instance; "
                         f"{', '.join(ignoring)} ran on their own instances.")
    if check_workers:  # any check_workers of the selected checks may run at once: their estimates add up
        fit, need, ids = _checks_that_fit(selected, args.profile, instance, limit, check_workers)
        if fit < check_workers and not auto:
            return _err(f"--jobs {jobs}: {', '.join(ids)} may run at once and need about {format_bytes(need)} "
                        f"together, over the memory limit {format_bytes(limit)} ({limit_source}); lower --jobs (to "
                        f"{fit} here) or raise the limit with --memory-limit SIZE.")
        if fit < check_workers and not args.quiet:
            print(f"opdcheck: {fit} check(s) at a time, not {check_workers}: the largest would not fit in the memory "
                  f"limit {format_bytes(limit)} together ({limit_source}).", file=sys.stderr)
        check_workers = fit if fit > 1 else 0
    if not isinstance(executor, DaskCluster) and getattr(executor, "jobs", 1) != sweep_jobs:
        executor = make_executor(sweep_jobs)
    if check_workers:
        executor = InProcess()  # inside a worker a check's sweeps run in that worker (no nested pools)
    with executor:
        if isinstance(executor, DaskCluster):
            try:
                executor.connect()
            except ValueError as exc:
                return _err(str(exc))
        try:
            staging = make_staging_dir(out)
        except ValueError as exc:
            return _err(str(exc))
        try:
            if check_workers:
                return _run_checks_parallel(args, selected, instance, notes, out, staging, check_workers)
            return _run_checks(args, selected, instance, notes, out, staging, executor)
        finally:
            if staging.exists():  # not published (a crash of the CLI itself): leave nothing half-made
                shutil.rmtree(staging, ignore_errors=True)


def _run_checks(args, selected, instance, notes, out: Path, staging: Path, executor) -> int:
    from opdcheck.paper_checks.context import CheckContext, Progress

    progress = Progress(enabled=not args.quiet and sys.stderr.isatty())
    results, crashed = [], {}
    interrupted = None
    terminated = False
    t_all = time.perf_counter()
    for k, c in enumerate(selected, 1):
        if not args.quiet:
            print(f"[{k}/{len(selected)}] {c.id} ...", file=sys.stderr, flush=True)
        ctx = CheckContext(profile=args.profile, seed=args.seed, out_dir=staging,
                           instance=instance if c.accepts_instance else None, progress=progress,
                           executor=executor)
        try:
            res = c.run(ctx)  # the registry labels the result (id, reference, claim, profile, seed, wall time)
            results.append(res)
            progress.done()
            if not args.quiet:
                print(f"      {res.verdict.value} ({res.wall_time:.1f}s)", file=sys.stderr, flush=True)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: keep what finished, as a report marked INCOMPLETE
            progress.done()
            interrupted = c.id
            signal_name = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            print(f"\ninterrupted ({signal_name}) during {c.id}: writing the {len(results)} finished check(s) as an "
                  "INCOMPLETE report", file=sys.stderr, flush=True)
            terminated = terminated or isinstance(exc, Terminated)
            break
        except OSError as exc:
            if exc.errno in _NO_SPACE:  # the disk, not the check: stop; the previous report stands
                progress.done()
                return _err(f"{c.id}: cannot write in {staging.parent} ({exc.strerror}); the run was abandoned and "
                            f"the previous report in {out} is unchanged; free space and run again.")
            progress.done()
            crashed[c.id] = traceback.format_exc()
            print(f"      CRASHED:\n{crashed[c.id]}", file=sys.stderr, flush=True)
        except Exception:  # a crash is reported, not raised: the other checks still run
            progress.done()
            crashed[c.id] = traceback.format_exc()
            print(f"      CRASHED:\n{crashed[c.id]}", file=sys.stderr, flush=True)
    return _finish_run(args, selected, instance, notes, out, staging, executor.describe(), results, crashed,
                       interrupted, terminated, t_all)


def _run_checks_parallel(args, selected, instance, notes, out: Path, staging: Path, workers: int) -> int:
    """Whole checks on ``workers`` local processes, longest expected first (``paper_checks/dispatch.py``); the
    results are put back in the register's order, so the report is the one a serial run writes."""
    from opdcheck.paper_checks.dispatch import ParallelChecks, dispatch_order, expected_costs

    order = dispatch_order(selected, expected_costs([c.id for c in selected], args.profile, out / "results.json"))
    outcomes: dict = {}
    interrupted = None
    terminated = False
    t_all = time.perf_counter()

    def args_for(c):
        return args.profile, args.seed, str(staging), instance if c.accepts_instance else None

    def started(cid: str) -> None:
        if not args.quiet:
            print(f"      {cid} started", file=sys.stderr, flush=True)

    pool = ParallelChecks(workers)
    if not args.quiet:
        print(f"{len(selected)} checks on {workers} worker processes, longest expected first", file=sys.stderr,
              flush=True)
    try:
        for o in pool.run(order, args_for, on_start=started):
            if o.no_space:  # the disk, not the check: stop; the previous report stands
                pool.terminate()
                last = (o.error or "").strip().splitlines()[-1:] or [""]
                return _err(f"{o.id}: cannot write in {staging.parent} ({last[0]}); the run was abandoned and "
                            f"the previous report in {out} is unchanged; free space and run again.")
            outcomes[o.id] = o
            if not args.quiet:
                what = f"{o.result.verdict.value} ({o.result.wall_time:.1f}s)" if o.result is not None else \
                    f"CRASHED:\n{o.error}"
                print(f"[{len(outcomes)}/{len(selected)}] {o.id} {what}", file=sys.stderr, flush=True)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: keep what finished, as a report marked INCOMPLETE
        pool.terminate()
        interrupted = ", ".join(pool.running) or None
        terminated = isinstance(exc, Terminated)
        print(f"\ninterrupted ({'SIGTERM' if terminated else 'Ctrl-C'}) during {interrupted}: writing the "
              f"{sum(o.result is not None for o in outcomes.values())} finished check(s) as an INCOMPLETE report",
              file=sys.stderr, flush=True)
    finally:
        pool.close()
    results = [outcomes[c.id].result for c in selected if c.id in outcomes and outcomes[c.id].result is not None]
    crashed = {c.id: outcomes[c.id].error for c in selected if c.id in outcomes and outcomes[c.id].result is None}
    if interrupted is not None:  # the checks cut off are the interrupted ones, not "not run"
        cut = set(pool.running)
        selected = [c for c in selected if c.id not in cut or c.id in outcomes]
    return _finish_run(args, selected, instance, notes, out, staging, pool.describe(), results, crashed,
                       interrupted, terminated, t_all)


def _finish_run(args, selected, instance, notes, out: Path, staging: Path, executor_name: str, results, crashed,
                interrupted, terminated: bool, t_all: float) -> int:
    """Write the report of the finished (or interrupted) checks, publish it, print the summary; the exit code."""
    from opdcheck.paper_checks.report import RunStatus, write_report

    finished = {r.id for r in results} | set(crashed)
    if interrupted is not None and not finished:  # nothing finished: publishing would replace a good report with an empty one
        print(f"no check finished; nothing written (the previous report in {out}, if any, is unchanged).",
              file=sys.stderr, flush=True)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    status = RunStatus(complete=interrupted is None, interrupted=interrupted,
                       not_run=tuple(c.id for c in selected if c.id not in finished and c.id != interrupted))
    appendices, appendix_notes = _appendices() if interrupted is None else ([], [])
    try:
        write_report(results, staging, profile=args.profile, seed=args.seed, crashed=crashed,
                     instance=inline_name(args.instance) if args.instance else None, notes=notes + appendix_notes,
                     appendices=appendices, status=status, executor=executor_name)
        publish(staging, out)
    except OSError as exc:
        return _err(f"--out {out}: writing the report failed ({exc.strerror or exc}); the previous report, if any, "
                    "is unchanged; free space or pass another folder.")
    except ValueError as exc:
        return _err(str(exc))
    print(summary_lines(results, crashed))
    print(f"\n{len(results)} check(s) ran in {time.perf_counter() - t_all:.1f} s. Report: {out / 'report.html'} "
          f"(short version: report.md; every number: results.json)")
    if interrupted is not None:
        print(f"INCOMPLETE: interrupted during {interrupted}; not run: {', '.join(status.not_run) or 'none'}",
              file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    if crashed:
        return EXIT_CRASH
    if args.strict:
        from opdcheck.paper_checks.baseline import compare

        diffs = compare(results, getattr(args, "expected", {}))
        for line in diffs:
            print(f"strict: {line}", file=sys.stderr)
        if diffs:
            return EXIT_STRICT
    return EXIT_OK


def summary_lines(results, crashed: dict[str, str] | None = None, width: int | None = None) -> str:
    """One line per check for the terminal: id, verdict, time, the one-line headline (cut to the width)."""
    crashed = crashed or {}
    width = width or shutil.get_terminal_size((120, 24)).columns
    ids = [r.id for r in results] + list(crashed)
    w_id = max((len(i) for i in ids), default=5)
    lines = []
    for r in results:
        head = f"{r.id:<{w_id}}  {r.verdict.value:<12}  {r.wall_time:6.1f}s  "
        room = max(30, width - len(head))
        text = r.headline if len(r.headline) <= room else r.headline[:room - 1].rsplit(" ", 1)[0] + " …"
        lines.append(head + text)
    for cid, err in crashed.items():
        last = err.strip().splitlines()[-1] if err.strip() else "crashed"
        lines.append(f"{cid:<{w_id}}  {'CRASHED':<12}  {'':>7}  {last[:max(30, width - w_id - 25)]}")
    return "\n".join(lines)


def _cmd_solve(args: argparse.Namespace) -> int:
    from opdcheck.instances import load_problem
    from opdcheck.numerics.lp import slater_margin
    from opdcheck.numerics.saddle import cross_check, solve_saddle
    from opdcheck.numerics.types import SolverError

    from opdcheck.resources import cvxpy_bytes, dense_bytes, memory_limit

    try:
        limit, source = memory_limit(args.memory_limit)
        problem = load_problem(args.file, memory_limit=limit)
    except ValueError as exc:
        return _err(str(exc))
    problem = _sanitised_name(problem)
    uses_cvxpy = args.cross_check or args.method == "cvxpy"
    refusal = _memory_refusal(f"solve --method {args.method}" + (" --cross-check" if args.cross_check else ""),
                              (cvxpy_bytes if uses_cvxpy else dense_bytes)(problem), problem, limit, source)
    if refusal:
        return _err(refusal)
    if args.cross_check and problem.beta <= 0:  # said before any work, not skipped silently
        return _err(f"--cross-check with {args.file}: the instance has beta = {problem.beta:g}, where the cvxpy "
                    "cross-check does not apply (the dual Newton and the exponential-cone routes need beta > 0; "
                    "beta = 0 is solved as a linear program); drop --cross-check or use an instance with beta > 0.")
    xi = slater_margin(problem)
    if xi <= 0:
        return _err(f"{args.file}: Slater's condition fails (xi = {xi:.3g} <= 0); no saddle point with "
                    "bounded multipliers. Loosen the thresholds folded into R_hard.")
    try:
        sp = solve_saddle(problem, method=args.method)
    except (SolverError, ValueError) as exc:
        return _err(str(exc))
    cc = None
    if args.cross_check:
        try:
            cc = cross_check(problem)
        except (SolverError, ValueError) as exc:
            return _err(f"cross-check with cvxpy/Clarabel failed: {exc}")
    if args.json:
        from opdcheck.paper_checks.result import to_jsonable

        payload = {"instance": problem.name, "X": problem.X, "n": problem.n, "h": problem.h,
                   "beta": problem.beta, "slater_margin": xi, "method": sp.method, "lam": sp.lam,
                   "pi": sp.pi, "constraints": problem.constraint_values(sp.pi), "primal_value": sp.primal_value,
                   "dual_value": sp.dual_value, "duality_gap": sp.duality_gap, "kkt": sp.kkt,
                   "info": {k: v for k, v in sp.info.items() if k in ("note", "ties", "status", "iterations")},
                   "cross_check": cc}
        print(json.dumps(to_jsonable(payload), indent=1))
        return EXIT_OK
    print(problem.describe())
    print(f"Slater margin xi = {xi:.6g}")
    np.set_printoptions(precision=6, suppress=False, linewidth=100, threshold=40)
    print(f"method: {sp.method}")
    print(f"lam* = {sp.lam}")
    print(f"constraints c(pi*) = {problem.constraint_values(sp.pi)}")
    print(f"primal value = {sp.primal_value:.10g}, dual value = {sp.dual_value:.10g}, "
          f"duality gap = {sp.duality_gap:.3e}")
    print("KKT residuals: " + ", ".join(f"{k}={v:.2e}" for k, v in sp.kkt.items()))
    if problem.X * problem.n <= 40:
        print(f"pi* =\n{sp.pi}")
    for k, v in sp.info.items():
        if k in ("note", "ties", "status"):
            print(f"{k}: {v}")
    if cc is not None:
        print(format_cross_check(cc))
    return EXIT_OK


def format_cross_check(cc: dict) -> str:
    """The dual-Newton vs cvxpy/Clarabel agreement as a table: each difference, its tolerance, verdict."""
    def row(name: str, value: float, tol: float | None, what: str) -> str:
        judged = "" if tol is None else ("ok" if value <= tol else "EXCEEDS")
        return f"  {name:<14} {value:>10.2e}  {'' if tol is None else f'{tol:.1e}':>9}  {judged:<7}  {what}"

    unit = float(cc.get("lam_unit", 1.0))
    lines = [f"cross-check (dual Newton vs cvxpy/Clarabel): {'AGREE' if cc.get('agree') else 'DISAGREE'}",
             f"  {'quantity':<14} {'value':>10}  {'tolerance':>9}  {'':<7}  meaning",
             row("pi_diff", cc["pi_diff"], cc["atol"], "max |pi* - pi*_cvxpy| (cvxpy point KKT-polished)"),
             row("lam_diff", cc["lam_diff"], cc["atol"] * unit, f"max |lam* - lam*_cvxpy| (tolerance x {unit:g})"),
             row("q_diff_raw", cc["q_diff_raw"], cc["raw_atol"], "Clarabel's raw q = rho pi, before the polish"),
             row("lam_diff_raw", cc["lam_diff_raw"], cc["raw_atol"] * unit, "Clarabel's raw multipliers"),
             row("pi_diff_raw", cc["pi_diff_raw"], None, "raw pi (reported, not judged)"),
             row("value_diff", cc["value_diff"], None, "|primal value (dual Newton) - primal value (cvxpy)|"),
             f"  duality gaps: dual Newton {cc['gap_dual']:.2e}, cvxpy {cc['gap_cvxpy']:.2e}; "
             f"active set {cc.get('active_set')}; polish iterations {cc.get('polish_iterations')}"]
    return "\n".join(lines)


def _cmd_list_methods(args: argparse.Namespace) -> int:
    """Every registered method (opdcheck.methods): canonical name, aliases, source and defaults."""
    from opdcheck.methods import describe_methods

    print(describe_methods())
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one error line and exit code 3 (EXIT_INPUT), like every other bad input."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_INPUT, f"opdcheck: error: {message}; see `{self.prog} --help`.\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; pass an integer >= 1") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is below 1; pass an integer >= 1")
    return v


def _jobs(text: str) -> "int | str":
    """``--jobs``: ``auto`` (the usable cores, decided when the run starts) or an integer >= 1."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} or 'auto'") from None


def _usable_cores() -> int:
    from opdcheck.paper_checks.dispatch import usable_cores

    return usable_cores()


EXIT_CODES = """exit codes:
  0    every check ran (whatever the verdicts; verdicts are results, not errors)
  1    a check crashed (the other checks still ran and are reported)
  2    with --strict: a verdict differs from the recorded baseline
  3    invalid input (bad argument, unknown check id, an instance file that does not validate,
       an output folder that cannot be written, an instance too large for the memory limit)
  130  interrupted (Ctrl-C); the finished checks are written as a report marked INCOMPLETE"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after every option's help (unless the help states its default, or there is none to
    show: a flag, or None); the description and epilog kept as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS)) or action.nargs == 0:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from opdcheck import __version__

    p = _Parser(prog="opdcheck", formatter_class=_HelpFormatter, epilog=EXIT_CODES, description=(
        "Check, claim by claim, the theory of arXiv 2602.22146 (Li, Ju, Shroff: optimistic primal-dual for "
        "multi-objective safe LLM alignment).\nStart with `opdcheck run` (all checks, quick profile), then open "
        "opdcheck-report/report.html."))
    p.add_argument("--version", action="version", version=f"opdcheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str):
        return sub.add_parser(name, help=help_, description=help_, formatter_class=_HelpFormatter, epilog=EXIT_CODES)

    add("list", "list the checks (id and paper reference)").set_defaults(func=_cmd_list)
    add("list-methods", "list the methods (canonical names, aliases, paper sources, default dual step)"
        ).set_defaults(func=_cmd_list_methods)
    s = add("show", "what a check does: the claim, how it is decided, whether it accepts --instance")
    s.add_argument("id", help="a check id (`opdcheck list` shows them)")
    cl = add("claims", "the register of the paper's checkable statements, with coverage")
    cl.add_argument("--json", action="store_true", help="print the register and its coverage as JSON")
    cl.add_argument("--results", default=None, metavar="FILE",
                    help="a results.json of a run: show which statements that run decided")
    cl.add_argument("--status", choices=("fully", "partly", "not"), default=None, help="only entries of this status")
    cl.set_defaults(func=_cmd_claims)
    s.set_defaults(func=_cmd_show)
    r = add("run", "run checks and write report.html, report.md, results.json, figures/ and counterexamples/")
    r.add_argument("ids", nargs="*", help="check ids, or 'all' (default: all)")
    r.add_argument("--profile", choices=("quick", "full"), default="quick",
                   help="quick: every check in minutes on 2 cores; full: larger instances, longer horizons, "
                        "adversarial search")
    r.add_argument("--seed", type=int, default=0,
                   help="seed of every random instance and sweep (same seed -> same report, whichever executor)")
    r.add_argument("--out", default="opdcheck-report",
                   help="report folder; replaced as a whole when the run ends")
    r.add_argument("--instance", default=None, metavar="FILE",
                   help="a .npz or .json instance for the checks that accept one (the others use their own)")
    r.add_argument("--strict", action="store_true", help="exit 2 if a verdict, a finding's verdict or a control differs from the recorded baseline")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r.add_argument("--jobs", type=_jobs, default="auto", metavar="N",
                   help="local worker processes: with several checks, whole checks run in parallel, the longest "
                        "expected first (each check's sweeps in its worker); with one check, its sweeps run in the N "
                        "workers; 1: everything in this process, one check after another; default: auto = the "
                        f"usable cores ({_usable_cores()} here); the report is the same whichever")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run sweeps on the Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786 "
                        "(pip install 'opdcheck[dask]')")
    r.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="refuse checks estimated to need more than SIZE (e.g. 16G, or 'none'); default: "
                        "$OPDCHECK_MEMORY_LIMIT, else 75%% of physical memory")
    r.set_defaults(func=_cmd_run)
    v = add("solve", "exact saddle point (pi*, lam*) of an instance file, with KKT residuals")
    v.add_argument("file", help="a .npz or .json instance")
    v.add_argument("--method", choices=("auto", "dual", "cvxpy", "lp"), default="auto",
                   help="auto: dual Newton when beta > 0, the linear program when beta = 0; dual: Newton on the "
                        "dual function; cvxpy: exponential-cone program (Clarabel); lp: beta = 0 by HiGHS")
    v.add_argument("--cross-check", action="store_true",
                   help="also solve by cvxpy/Clarabel and print the agreement table (needs beta > 0)")
    v.add_argument("--json", action="store_true", help="print one JSON object (numbers as numbers) instead of text")
    v.add_argument("--memory-limit", default=None, metavar="SIZE", help="as for `run`")
    v.set_defaults(func=_cmd_solve)
    _add_certify(add)
    return p


# ------------------------------------------------------------------ certify (logic in numerics/local_rate.py)
def _certified_method(name: str) -> str:
    """argparse type: a registered method name (or alias) whose local rate is certified, as its canonical name."""
    from opdcheck.methods import certified_methods, get_method

    m = get_method(name)  # ValueError -> argparse's one-line error
    if not m.certified:
        raise argparse.ArgumentTypeError(f"{name!r}: the local rate of {m.name} is not certified; choose one of "
                                         f"{', '.join(certified_methods())} or an alias")
    return m.name


def _add_certify(add) -> None:
    c = add("certify", "certified local last-iterate rate of a method on an instance (exact Schur-Cohn enclosure)")
    c.add_argument("file", nargs="?", default=None, help="a .npz or .json instance")
    c.add_argument("--method", default="opd", type=_certified_method,
                   help="the iteration whose rate is certified: opd, simultaneous-gda, alternating-gda, or any alias "
                        "(`opdcheck list-methods`)")
    c.add_argument("--eta-th", type=float, default=None, help="primal proximal weight (default: 3 sqrt(h) R_max)")
    c.add_argument("--eta-lam", type=float, default=None, help="dual proximal weight (default: 3 sqrt(h) R_max)")
    c.add_argument("--dual-step", choices=("prox", "gradient"), default=None,
                   help="prox: [lam - c/(2 eta_lam)]_+ (eqs. (5)/(7)); gradient: [lam - c/eta_lam]_+ (eqs. (9)/(11)); "
                        "default: the method's own (`opdcheck list-methods`)")
    c.add_argument("--T", type=int, default=3000, help="steps of the measured run (0: no measurement)")
    c.add_argument("--bilinear", default=None, metavar="A.npy",
                   help="a .npy matrix A: certify OGDA on min_x max_y x^T A y instead")
    c.add_argument("--step", type=float, default=0.125, help="OGDA step for --bilinear")
    c.add_argument("--max-dim", type=_positive_int, default=None, metavar="K",
                   help="largest square A that --bilinear certifies (default 32: seconds; the exact cost grows ~k^4)")
    c.add_argument("--memory-limit", default=None, metavar="SIZE", help="as for run")
    c.set_defaults(func=_cmd_certify)


def _cmd_certify(args: argparse.Namespace) -> int:
    from opdcheck import certify
    from opdcheck.numerics.types import SolverError
    from opdcheck.resources import bilinear_bytes, certify_bytes, format_bytes, memory_limit
    from opdcheck.tolerances import CERTIFY_BILINEAR_MAX_DIM

    try:
        limit, source = memory_limit(args.memory_limit)
        if args.bilinear is not None:
            if args.file is not None:
                return _err("pass either an instance FILE or --bilinear A.npy, not both.")
            A = certify.load_matrix(args.bilinear, memory_limit=limit)
            need = bilinear_bytes(A.shape)
            if limit is not None and need > limit:
                return _err(f"--bilinear {args.bilinear}: A {A.shape} needs about {format_bytes(need)}, over the memory "
                            f"limit {format_bytes(limit)} ({source}); raise it with --memory-limit SIZE.")
            r = certify.certify_bilinear(A, args.step, max_dim=args.max_dim or CERTIFY_BILINEAR_MAX_DIM)
            print(certify.format_bilinear_report(r))
            return EXIT_OK
        if args.file is None:
            return _err("certify needs an instance FILE (or --bilinear A.npy).")
        if args.T < 0:
            return _err(f"--T {args.T}: pass a number of steps >= 0.")
        from opdcheck.instances import load_problem

        problem = _sanitised_name(load_problem(args.file, memory_limit=limit))
        refusal = _memory_refusal("certify", certify_bytes(problem), problem, limit, source)
        if refusal:
            return _err(refusal)
        r = certify.certify_instance(problem, method=args.method, eta_th=args.eta_th, eta_lam=args.eta_lam,
                                     dual_step=args.dual_step, T=max(args.T, 1), measure=args.T > 0)
    except (ValueError, SolverError) as exc:
        return _err(str(exc))
    except (OverflowError, ZeroDivisionError, FloatingPointError) as exc:  # a numerical range the checks above missed
        return _err(f"certify: the computation left float64's range ({type(exc).__name__}: {exc}); rescale the "
                    "instance (rewards and beta together) or the matrix and step.")
    print(certify.format_instance_report(r))
    return EXIT_OK


def _process_setup() -> None:
    """What the command (not the library) sets for its own process: a non-interactive plotting backend
    unless the user chose one. (The Numba disk cache is decided by ``opdcheck.kernels.numba_cache`` when a
    kernel is first imported, without touching the process's environment.)"""
    os.environ.setdefault("MPLBACKEND", "Agg")


def main(argv: Sequence[str] | None = None) -> int:
    _process_setup()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad argument (3): a code, not an exception, for callers
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_INPUT
    try:
        with _sigterm_as_interrupt():
            return int(args.func(args))
    except MemoryError:  # an allocation no estimator foresaw: one line, not a traceback
        print("opdcheck: error: out of memory; lower --memory-limit so that the estimate refuses it up front, or "
              "pass a smaller instance.", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # the reader went away (`opdcheck claims | head`): nothing to report, as other CLI tools do
        try:
            sys.stdout = open(os.devnull, "w")  # so the interpreter's final flush does not raise again
        except OSError:
            pass
        return EXIT_OK
    except OSError as exc:  # the file system (a name too long, no permission, a full disk) outside the handled paths
        where = f" ({str(exc.filename)[:80]})" if getattr(exc, "filename", None) else ""
        print(f"opdcheck: error: {exc.strerror or exc}{where}; check the paths and free space.", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt as exc:  # outside a check (loading, writing): nothing was published, the old report stands
        print("opdcheck: interrupted; no report written (the previous one, if any, is unchanged).", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
