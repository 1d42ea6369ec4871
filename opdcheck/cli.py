"""Command line: ``opdcheck list | show ID | run [IDS|all] | solve FILE``.

Exit codes of ``run``: 0 every check ran (whatever the verdicts), 1 a check crashed,
2 with ``--strict`` when a verdict differs from the recorded baseline, 3 invalid input
(an instance file that does not validate, an unknown check id).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

import numpy as np

EXIT_OK, EXIT_CRASH, EXIT_STRICT, EXIT_INPUT = 0, 1, 2, 3


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
    if c.doc:
        print(c.doc)
    return EXIT_OK


def _load_baseline() -> dict:
    path = Path(__file__).parent / "paper_checks" / "baseline.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _cmd_run(args: argparse.Namespace) -> int:
    from opdcheck.paper_checks.context import CheckContext, Progress
    from opdcheck.paper_checks.registry import all_checks
    from opdcheck.paper_checks.report import verdict_table, write_report

    checks = all_checks()
    by_id = {c.id: c for c in checks}
    ids = list(args.ids) or ["all"]
    if "all" in ids:
        selected = checks
    else:
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            return _err(f"unknown check id(s) {unknown}; `opdcheck list` shows the {len(by_id)} known ids.")
        selected = [by_id[i] for i in dict.fromkeys(ids)]
    instance = None
    notes: list[str] = []
    if args.instance:
        from opdcheck.instances import load_problem

        try:
            instance = load_problem(args.instance)
        except ValueError as exc:
            return _err(f"--instance {args.instance}: {exc}")
        from opdcheck.numerics.lp import require_slater

        try:  # every saddle-point check needs bounded multipliers (Assumption 3.1)
            require_slater(instance)
        except ValueError as exc:
            return _err(f"--instance {args.instance}: {exc}")
        ignoring = [c.id for c in selected if not c.accepts_instance]
        if ignoring:
            notes.append(f"--instance {args.instance} is used by the checks that accept an instance; "
                         f"{', '.join(ignoring)} ran on their own instances.")
    if args.seed < 0:
        return _err(f"--seed {args.seed}: pass a non-negative integer.")
    out = Path(args.out)
    progress = Progress(enabled=not args.quiet and sys.stderr.isatty())
    results, crashed = [], {}
    t_all = time.perf_counter()
    for k, c in enumerate(selected, 1):
        if not args.quiet:
            print(f"[{k}/{len(selected)}] {c.id} ...", file=sys.stderr, flush=True)
        ctx = CheckContext(profile=args.profile, seed=args.seed, out_dir=out,
                           instance=instance if c.accepts_instance else None, progress=progress)
        t0 = time.perf_counter()
        try:
            res = c.run(ctx)
            res.wall_time = time.perf_counter() - t0
            res.profile, res.seed = args.profile, args.seed
            results.append(res)
            progress.done()
            if not args.quiet:
                print(f"      {res.verdict.value} ({res.wall_time:.1f}s)", file=sys.stderr, flush=True)
        except Exception:  # a crash is reported, not raised: the other checks still run
            progress.done()
            crashed[c.id] = traceback.format_exc()
            print(f"      CRASHED:\n{crashed[c.id]}", file=sys.stderr, flush=True)
    md, js = write_report(results, out, profile=args.profile, seed=args.seed, crashed=crashed,
                          instance=args.instance, notes=notes)
    print(verdict_table(results, crashed))
    print(f"\n{len(results)} checks ran in {time.perf_counter() - t_all:.1f}s; report: {md}  results: {js}")
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
    if args.cross_check and problem.beta > 0:
        try:
            cc = cross_check(problem)
        except (SolverError, ValueError) as exc:
            return _err(f"cross-check with cvxpy/Clarabel failed: {exc}")
        print("cross-check (dual Newton vs cvxpy/Clarabel): " + ", ".join(f"{k}={v}" for k, v in cc.items()))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opdcheck", description=(
        "Check, claim by claim, the theory of arXiv 2602.22146 (optimistic primal-dual for safe RLHF)."))
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the checks").set_defaults(func=_cmd_list)
    s = sub.add_parser("show", help="what a check does")
    s.add_argument("id")
    s.set_defaults(func=_cmd_show)
    r = sub.add_parser("run", help="run checks and write report.md, results.json, figures/")
    r.add_argument("ids", nargs="*", help="check ids, or 'all' (default)")
    r.add_argument("--profile", choices=("quick", "full"), default="quick")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="opdcheck-report", help="report directory (default: ./opdcheck-report)")
    r.add_argument("--instance", default=None, help="a .npz or .json instance for checks that accept one")
    r.add_argument("--strict", action="store_true", help="exit 2 if a verdict differs from the recorded baseline")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r.set_defaults(func=_cmd_run)
    v = sub.add_parser("solve", help="exact saddle point of an instance file")
    v.add_argument("file")
    v.add_argument("--method", choices=("auto", "dual", "cvxpy", "lp"), default="auto")
    v.add_argument("--cross-check", action="store_true", help="also run cvxpy and report agreement")
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
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
