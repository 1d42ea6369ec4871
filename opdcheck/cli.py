"""Command line: ``opdcheck list | show ID | claims | run [IDS|all] | solve FILE``.

Exit codes of ``run``: 0 every check ran (whatever the verdicts), 1 a check crashed,
2 with ``--strict`` when a verdict differs from the recorded baseline, 3 invalid input (a bad
argument, an unknown check id, an instance file that does not validate, an output folder that
cannot be written, an instance too large for the memory limit, a scheduler that does not answer),
130 interrupted (Ctrl-C; the finished checks are written as a report marked INCOMPLETE).

Everything ``run`` is given is checked before any work. The run writes into a fresh folder next to
``--out`` and moves it into place when done, so a report, its figures and its counterexamples
always come from one run (see :func:`publish`).

Adding a subcommand: write ``_cmd_NAME(args) -> int`` and register it in :func:`build_parser` with
``sub.add_parser(...)``; raise nothing for bad input, return ``_err("field value: fix")``.
"""
from __future__ import annotations

import argparse
import dataclasses
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
from typing import Sequence

import numpy as np

EXIT_OK, EXIT_CRASH, EXIT_STRICT, EXIT_INPUT = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C: the finished checks are kept as a report marked INCOMPLETE (128 + SIGINT)


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
        print(f"Known before running (SPEC.md): {c.expected}\n")
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
    path = Path(__file__).parent / "paper_checks" / "baseline.json"
    return json.loads(path.read_text()) if path.exists() else {}


# ---------------------------------------------------------------- the output folder (issue 7, class 4)
#: what a report folder holds; an existing --out with anything else is refused (the folder is replaced whole)
REPORT_ENTRIES = frozenset({"report.md", "results.json", "figures", "counterexamples"})


def check_out_dir(text: str) -> Path:
    """The report folder ``--out`` names, checked before any work: not empty, not a file, not the
    current folder or one holding it, not a folder with files other than an earlier report's, and in
    a location where this user can write. Returns the absolute path; ValueError naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"--out {text!r}: empty; pass a folder for the report, e.g. --out opdcheck-report.")
    out = Path(text).expanduser().absolute()
    cwd = Path.cwd().absolute()
    if out == cwd or out in cwd.parents:
        raise ValueError(f"--out {text}: is the current folder or holds it, and a run replaces its report folder "
                         "as a whole; pass a new folder, e.g. --out opdcheck-report.")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {text}: exists and is not a folder; pass a folder path or remove the file.")
    if out.is_dir():
        try:
            foreign = sorted(e.name for e in out.iterdir() if e.name not in REPORT_ENTRIES)
        except OSError as exc:
            raise ValueError(f"--out {text}: cannot be read ({exc.strerror}); pass a folder you can write.") from None
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise ValueError(f"--out {text}: holds {shown}, which no opdcheck report writes, and a run replaces the "
                             "folder as a whole; pass a new folder or an earlier report folder.")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ValueError(f"--out {text}: the folder is read-only; pass a folder you can write.")
    anchor = out.parent
    while not anchor.exists():
        anchor = anchor.parent
    if not anchor.is_dir():
        raise ValueError(f"--out {text}: {anchor} is a file, so no folder can be made under it; pass another path.")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise ValueError(f"--out {text}: cannot create files in {anchor} (read-only); pass a folder you can write.")
    return out


def make_staging_dir(out: Path) -> Path:
    """A fresh, private folder next to ``out`` where this run writes everything (checks get it as their
    ``out_dir``); :func:`publish` moves it into place. Creating it is the final writability test."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create a folder in {out.parent} ({exc.strerror}); "
                         "pass a folder you can write.") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; the published report is not
    return staging


@contextmanager
def _folder_lock(out: Path):
    """An exclusive lock on ``.<name>.lock`` beside ``out`` (POSIX flock; none where unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(out.parent / f".{out.name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(staging: Path, out: Path) -> None:
    """Move the finished run's folder into place. Under the lock: the old folder is renamed aside, the
    new one renamed in (two renames on one file system), so ``out`` always holds exactly one run's
    report, figures and counterexamples; with concurrent runs the last to finish wins, whole."""
    old = None
    with _folder_lock(out):
        if out.exists() or out.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            os.rename(out, old)
        os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


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


def _memory_refusal(what: str, need: int, instance, limit: int | None, source: str) -> str | None:
    from opdcheck.resources import format_bytes

    if limit is None or need <= limit:
        return None
    return (f"{what} needs about {format_bytes(need)} on instance {instance.name} "
            f"(X={instance.X}, n={instance.n}, h={instance.h}), over the memory limit "
            f"{format_bytes(limit)} ({source}); raise it with --memory-limit SIZE or "
            "OPDCHECK_MEMORY_LIMIT, or pass a smaller instance.")


def _cmd_run(args: argparse.Namespace) -> int:
    from opdcheck.paper_checks.registry import all_checks
    from opdcheck.resources import memory_limit
    from opdcheck.sweeps import DaskCluster, make_executor

    # ---- every argument is checked before any work
    checks = all_checks()
    by_id = {c.id: c for c in checks}
    ids = list(args.ids) or ["all"]
    unknown = [i for i in ids if i != "all" and i not in by_id]
    if unknown:
        return _err(f"unknown check id(s) {unknown}; `opdcheck list` shows the {len(by_id)} known ids.")
    selected = checks if "all" in ids else [by_id[i] for i in dict.fromkeys(ids)]
    if args.seed < 0:
        return _err(f"--seed {args.seed}: pass a non-negative integer.")
    try:
        out = check_out_dir(args.out)
        limit, limit_source = memory_limit(args.memory_limit)
        executor = make_executor(args.jobs, args.scheduler)
    except ValueError as exc:
        return _err(str(exc))
    instance = None
    notes: list[str] = []
    if args.instance:
        from opdcheck.instances import load_problem

        try:
            instance = _sanitised_name(load_problem(args.instance))
        except ValueError as exc:
            return _err(f"--instance {args.instance}: {exc}")
        too_big = _memory_refusals(selected, instance, limit, limit_source, jobs=getattr(executor, "jobs", 1))  # before the Slater LP, too
        if too_big:
            for line in too_big[:-1]:
                print(f"opdcheck: error: {line}", file=sys.stderr)
            return _err(too_big[-1])
        from opdcheck.numerics.lp import require_slater

        try:  # every saddle-point check needs bounded multipliers (Assumption 3.1)
            require_slater(instance)
        except ValueError as exc:
            return _err(f"--instance {args.instance}: {exc}")
        ignoring = [c.id for c in selected if not c.accepts_instance]
        if ignoring:
            notes.append(f"--instance {inline_name(args.instance)} is used by the checks that accept an instance; "
                         f"{', '.join(ignoring)} ran on their own instances.")
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
            return _run_checks(args, selected, instance, notes, out, staging, executor)
        finally:
            if staging.exists():  # not published (a crash of the CLI itself): leave nothing half-made
                shutil.rmtree(staging, ignore_errors=True)


def _run_checks(args, selected, instance, notes, out: Path, staging: Path, executor) -> int:
    from opdcheck.paper_checks.context import CheckContext, Progress
    from opdcheck.paper_checks.report import RunStatus, verdict_table, write_report

    progress = Progress(enabled=not args.quiet and sys.stderr.isatty())
    results, crashed = [], {}
    interrupted = None
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
        except KeyboardInterrupt:  # Ctrl-C: keep what finished, as a report marked INCOMPLETE
            progress.done()
            interrupted = c.id
            print(f"\ninterrupted during {c.id}: writing the {len(results)} finished check(s) as an INCOMPLETE "
                  "report", file=sys.stderr, flush=True)
            break
        except Exception:  # a crash is reported, not raised: the other checks still run
            progress.done()
            crashed[c.id] = traceback.format_exc()
            print(f"      CRASHED:\n{crashed[c.id]}", file=sys.stderr, flush=True)
    finished = {r.id for r in results} | set(crashed)
    status = RunStatus(complete=interrupted is None, interrupted=interrupted,
                       not_run=tuple(c.id for c in selected if c.id not in finished and c.id != interrupted))
    appendices, appendix_notes = _appendices() if interrupted is None else ([], [])
    write_report(results, staging, profile=args.profile, seed=args.seed, crashed=crashed,
                 instance=inline_name(args.instance) if args.instance else None, notes=notes + appendix_notes,
                 appendices=appendices, status=status, executor=executor.describe())
    publish(staging, out)
    md, js = out / "report.md", out / "results.json"
    print(verdict_table(results, crashed))
    print(f"\n{len(results)} checks ran in {time.perf_counter() - t_all:.1f}s; report: {md}  results: {js}")
    if interrupted is not None:
        print(f"INCOMPLETE: interrupted during {interrupted}; not run: {', '.join(status.not_run) or 'none'}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if crashed:
        return EXIT_CRASH
    if args.strict:
        baseline = _load_baseline().get(args.profile, {})
        diffs = [(r.id, baseline.get(r.id), r.verdict.value) for r in results
                 if baseline.get(r.id) not in (None, r.verdict.value)]
        missing = [r.id for r in results if r.id not in baseline]
        for cid, old, new in diffs:
            print(f"strict: {cid}: recorded {old}, got {new}", file=sys.stderr)
        for cid in missing:
            print(f"strict: {cid}: no recorded baseline verdict", file=sys.stderr)
        if diffs or missing:
            return EXIT_STRICT
    return EXIT_OK


def _cmd_solve(args: argparse.Namespace) -> int:
    from opdcheck.instances import load_problem
    from opdcheck.numerics.lp import slater_margin
    from opdcheck.numerics.saddle import cross_check, solve_saddle
    from opdcheck.numerics.types import SolverError

    try:
        problem = load_problem(args.file)
    except ValueError as exc:
        return _err(str(exc))
    problem = _sanitised_name(problem)
    from opdcheck.resources import cvxpy_bytes, dense_bytes, memory_limit

    try:
        limit, source = memory_limit(args.memory_limit)
    except ValueError as exc:
        return _err(str(exc))
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
    print(problem.describe())
    print(f"Slater margin xi = {xi:.6g}" + ("" if xi > 0 else "  (Slater's condition FAILS: xi <= 0)"))
    if xi <= 0:
        return _err(f"{args.file}: Slater's condition fails (xi = {xi:.3g} <= 0); no saddle point with "
                    "bounded multipliers. Loosen the thresholds folded into R_hard.")
    try:
        sp = solve_saddle(problem, method=args.method)
    except (SolverError, ValueError) as exc:
        return _err(str(exc))
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
    if args.cross_check:
        try:
            cc = cross_check(problem)
        except (SolverError, ValueError) as exc:
            return _err(f"cross-check with cvxpy/Clarabel failed: {exc}")
        print("cross-check (dual Newton vs cvxpy/Clarabel): " + ", ".join(f"{k}={v}" for k, v in cc.items()))
    return EXIT_OK


def _cmd_list_methods(args: argparse.Namespace) -> int:
    """The named configurations of Algorithm 1 / Algorithm 2 (issue 9), with their sources and defaults."""
    from opdcheck.kernels.baselines import describe_methods

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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="opdcheck", description=(
        "Check, claim by claim, the theory of arXiv 2602.22146 (optimistic primal-dual for safe RLHF)."))
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the checks").set_defaults(func=_cmd_list)
    sub.add_parser("list-methods", help="list the named primal-dual configurations (Algorithm 1) and their sources"
                   ).set_defaults(func=_cmd_list_methods)
    cl = sub.add_parser("claims", help="the register of the paper's checkable statements, with coverage")
    cl.add_argument("--json", action="store_true", help="print the register and its coverage as JSON")
    cl.add_argument("--results", default=None, metavar="FILE",
                    help="a results.json of a run: show which statements that run decided")
    cl.add_argument("--status", choices=("fully", "partly", "not"), default=None, help="only entries of this status")
    cl.set_defaults(func=_cmd_claims)
    s = sub.add_parser("show", help="what a check does")
    s.add_argument("id")
    s.set_defaults(func=_cmd_show)
    r = sub.add_parser("run", help="run checks and write report.md, results.json, figures/")
    r.add_argument("ids", nargs="*", help="check ids, or 'all' (default)")
    r.add_argument("--profile", choices=("quick", "full"), default="quick")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="opdcheck-report",
                   help="report folder (default: ./opdcheck-report); replaced as a whole when the run ends")
    r.add_argument("--instance", default=None, help="a .npz or .json instance for checks that accept one")
    r.add_argument("--strict", action="store_true", help="exit 2 if a verdict differs from the recorded baseline")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="run sweeps in N local worker processes (default: in this process)")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run sweeps on the Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786 "
                        "(pip install 'opdcheck[dask]')")
    r.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="refuse checks estimated to need more than SIZE (e.g. 16G, or 'none'); default: "
                        "$OPDCHECK_MEMORY_LIMIT, else 75%% of physical memory")
    r.set_defaults(func=_cmd_run)
    v = sub.add_parser("solve", help="exact saddle point of an instance file")
    v.add_argument("file")
    v.add_argument("--method", choices=("auto", "dual", "cvxpy", "lp"), default="auto")
    v.add_argument("--cross-check", action="store_true", help="also run cvxpy and report agreement (beta > 0)")
    v.add_argument("--memory-limit", default=None, metavar="SIZE", help="as for run")
    v.set_defaults(func=_cmd_solve)
    _add_certify(sub)
    return p


# ------------------------------------------------------------------ certify (issue 11; logic in certify.py)
def _add_certify(sub) -> None:
    c = sub.add_parser("certify", help="certified local last-iterate rate of a method on an instance (exact)")
    c.add_argument("file", nargs="?", default=None, help="a .npz or .json instance")
    c.add_argument("--method", choices=("opd", "simultaneous-gda", "alternating-gda"), default="opd")
    c.add_argument("--eta-th", type=float, default=None, help="primal proximal weight (default 3 sqrt(h) R_max)")
    c.add_argument("--eta-lam", type=float, default=None, help="dual proximal weight (default 3 sqrt(h) R_max)")
    c.add_argument("--dual-step", choices=("prox", "gradient"), default="prox")
    c.add_argument("--T", type=int, default=3000, help="steps of the measured run (0: no measurement)")
    c.add_argument("--bilinear", default=None, help="a .npy matrix A: certify OGDA on min_x max_y x^T A y")
    c.add_argument("--step", type=float, default=0.125, help="OGDA step for --bilinear")
    c.set_defaults(func=_cmd_certify)


def _cmd_certify(args: argparse.Namespace) -> int:
    from opdcheck import certify

    try:
        if args.bilinear is not None:
            if args.file is not None:
                return _err("pass either an instance FILE or --bilinear A.npy, not both.")
            print(certify.format_bilinear_report(certify.certify_bilinear(certify.load_matrix(args.bilinear), args.step)))
            return EXIT_OK
        if args.file is None:
            return _err("certify needs an instance FILE (or --bilinear A.npy).")
        if args.T < 0:
            return _err(f"--T {args.T}: pass a number of steps >= 0.")
        from opdcheck.instances import load_problem

        problem = load_problem(args.file)
        r = certify.certify_instance(problem, method=args.method, eta_th=args.eta_th, eta_lam=args.eta_lam,
                                     dual_step=args.dual_step, T=max(args.T, 1), measure=args.T > 0)
    except ValueError as exc:
        return _err(str(exc))
    print(certify.format_instance_report(r))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad argument (3): a code, not an exception, for callers
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_INPUT
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # outside a check (loading, writing): nothing was published, the old report stands
        print("opdcheck: interrupted; no report written (the previous one, if any, is unchanged).", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
