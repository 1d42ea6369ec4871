"""The mutation table: planted bugs that must each change at least one verdict.

Each :class:`Mutant` plants one plausible bug by monkeypatching (a context manager, undone on exit) and
names the checks it can affect. :func:`run_table` runs those checks on the *mutation profile* (the quick
profile with smaller instance sweeps, :func:`mutation_profile`) with and without the bug and records which
verdicts changed. A mutant that changes no verdict means the verdicts do not depend on the code it
broke: a hole in the verification.

``python -m opdcheck.mutants --write`` regenerates the recorded table (``paper_checks/mutation_table.json``);
:func:`appendix_markdown` renders it for the report's appendix
("verification power: N of N planted bugs change a verdict").
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import numpy as np

__all__ = ["Mutant", "MUTANTS", "patch_everywhere", "mutation_profile", "run_checks", "run_mutant", "run_table",
           "run_checks_detailed", "write_table", "load_table", "appendix_markdown", "TABLE_PATH", "MUTATION_SWEEPS"]

TABLE_PATH = Path(__file__).parent / "paper_checks" / "mutation_table.json"

#: the instance sweeps of the mutation profile: the quick profile's toys with fewer, smaller random instances
MUTATION_SWEEPS = {
    "thm-3.4": (((0.05, 0.2, 1.0), 4), dict(max_X=8, max_n=6, max_h=3)),
    "thm-3.4-lyapunov": (((0.05, 1.0), 3), dict(max_X=8, max_n=6, max_h=3)),
    "thm-3.4-rate": (((0.05, 1.0), 3), dict(max_X=8, max_n=6, max_h=3)),
}


@contextlib.contextmanager
def patch_everywhere(module: str, name: str, new) -> Iterator[None]:
    """Replace ``module.name`` by ``new``, and every ``opdcheck.*`` module attribute bound to the same
    object (``from module import name`` copies the binding), for the duration of the block."""
    import importlib

    mod = importlib.import_module(module)
    old = getattr(mod, name)
    patched = []
    for m in list(sys.modules.values()):
        if m is None or not getattr(m, "__name__", "").startswith("opdcheck"):
            continue
        if getattr(m, name, None) is old:
            patched.append(m)
            setattr(m, name, new)
    try:
        yield
    finally:
        for m in patched:
            setattr(m, name, old)


@contextlib.contextmanager
def mutation_profile() -> Iterator[None]:
    """The quick profile with the sweeps of :data:`MUTATION_SWEEPS` (every other setting unchanged)."""
    from opdcheck.paper_checks.studies import thm34 as thm_3_4

    saved = {k: dict(v) for k, v in thm_3_4.SWEEPS.items()}
    for cid, (quick, size) in MUTATION_SWEEPS.items():
        thm_3_4.SWEEPS[cid]["quick"] = quick
        thm_3_4.SWEEPS[cid]["size"] = (size,)
    try:
        yield
    finally:
        for k, v in saved.items():
            thm_3_4.SWEEPS[k] = v


# ------------------------------------------------------------------------------ the planted bugs
def _wrap_numba(**forced) -> ContextManager:
    """The Numba kernel the Thm 3.4 checks run (``default_runner``) called with ``forced`` arguments."""
    from opdcheck.kernels import numba_opd

    orig = numba_opd.run_opd_numba

    def broken(problem, **kw):
        return orig(problem, **(kw | forced))

    return patch_everywhere("opdcheck.kernels.numba_opd", "run_opd_numba", broken)


def _printed_closed_form():
    return _wrap_numba(closed_form="printed")


def _optimism_removed():
    return _wrap_numba(prediction="none")


def _prox_dual_step_doubled():
    from opdcheck.kernels import rules

    orig = rules.dual_step_size

    def doubled(eta_lam, convention="prox"):
        s = orig(eta_lam, convention)
        return 2.0 * s if convention == "prox" else s

    return patch_everywhere("opdcheck.kernels.rules", "dual_step_size", doubled)


def _lambda_star_off():
    from opdcheck.numerics import saddle

    orig = saddle.solve_saddle

    def off(problem, method="auto"):
        sp = orig(problem, method)
        lam = np.asarray(sp.lam) * 1.001
        lam.setflags(write=False)
        return dataclasses.replace(sp, lam=lam)

    return patch_everywhere("opdcheck.numerics.saddle", "solve_saddle", off)


def _rho_smaller():
    from opdcheck.kernels import potential

    orig = potential.rho_eq46
    return patch_everywhere("opdcheck.kernels.potential", "rho_eq46", lambda problem: 0.9 * orig(problem))


def _phi1_coefficient():
    import math

    def phi1_wrong(problem, metrics):  # eq. (47) with 3 sqrt(h)R instead of 7/2 sqrt(h)R on ||lam*-lam_hat_1||^2
        C = math.sqrt(problem.h) * problem.R_max
        b = problem.beta
        return float((3 * C + b) * metrics["kl_star"][1] + (2 * C + b) * metrics["kl_hat_pred"][1]
                     + 3.0 * C * metrics["lam_err2"][1] + (11.0 / 6.0) * C * metrics["lam_hat_pred2"][1])

    return patch_everywhere("opdcheck.kernels.potential", "phi1_eq47", phi1_wrong)


def _kl_swapped():
    """The error metric with KL(pi_hat_t || pi*) instead of Thm 3.4's KL(pi* || pi_hat_t), in the
    runner the checks use (recomputed from every iterate of the numpy reference)."""
    from opdcheck.kernels.opd import run_opd
    from opdcheck.kernels.trajectory import kl_rows_log

    def swapped(problem, **kw):
        kw = {k: v for k, v in kw.items() if k != "prediction"}
        tr = run_opd(problem, keep_every=1, **kw)
        pi_s = np.asarray(tr.extra["pi_star"])
        log_s = np.log(pi_s)
        rev = np.array([float(problem.rho @ kl_rows_log(pi, np.log(pi), log_s)) for _, pi, _ in tr.iterates])
        n = len(tr.metrics["kl_star"])
        tr.metrics["kl_star"] = rev[:n]
        tr.metrics["error"] = tr.metrics["kl_star"] + tr.metrics["lam_err2"]
        return tr

    return patch_everywhere("opdcheck.kernels.numba_opd", "run_opd_numba", swapped)


def _bound_exponent_t():
    import math

    def bound_t(n, rho, phi1, denom):
        return np.exp(np.arange(n, dtype=np.float64) * math.log(rho)) * phi1 / denom

    def log_bound_t(n, rho, phi1, denom):
        t = np.arange(n, dtype=np.float64)
        if phi1 <= 0 or denom <= 0:
            return np.full(n, -np.inf if phi1 == 0 and denom > 0 else np.nan)
        return t * math.log(rho) + math.log(phi1) - math.log(denom)

    stack = contextlib.ExitStack()
    stack.enter_context(patch_everywhere("opdcheck.kernels.potential", "thm34_bound", bound_t))
    stack.enter_context(patch_everywhere("opdcheck.kernels.potential", "thm34_log_bound", log_bound_t))
    return stack


def _denominator_proofs():
    """Thm 3.4's printed denominator silently replaced by the proof's min(a1, a3)."""
    from opdcheck.kernels import potential

    orig = potential.thm34_constants

    def consts(*a, **k):
        out = orig(*a, **k)
        out["denom_theorem"] = out["denom_proof_min"]
        return out

    return patch_everywhere("opdcheck.kernels.potential", "thm34_constants", consts)


def _b4_true_at_34():
    from opdcheck.theory import lemmas

    import sympy as sp

    orig = lemmas.b4_holds_at

    def holds(delta, theta, coeffs_fn=lemmas.b4_coefficients):
        if sp.Rational(delta) == sp.Rational(3, 4) and sp.Rational(theta) == sp.Rational(3, 4):
            return True
        return orig(delta, theta, coeffs_fn)

    return patch_everywhere("opdcheck.theory.lemmas", "b4_holds_at", holds)


def _lemma_b5_zero_threshold():
    """lemma-B.5 counts lam*_j as zero only below 1e-300 and the saddle's zeros become 1e-200 (a
    'positivity' that is rounding): lam* > 0 then passes, while the replay still finds lam*_j = 0."""
    from opdcheck.numerics import saddle

    orig = saddle.solve_saddle

    def nudged(problem, method="auto"):
        sp = orig(problem, method)
        lam = np.where(np.asarray(sp.lam) == 0.0, 1e-200, sp.lam)
        lam.setflags(write=False)
        return dataclasses.replace(sp, lam=lam)

    stack = contextlib.ExitStack()
    stack.enter_context(patch_everywhere("opdcheck.numerics.saddle", "solve_saddle", nudged))
    stack.enter_context(patch_everywhere("opdcheck.tolerances", "LAMBDA_ZERO_ATOL", 1e-300))
    return stack


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``patch()`` returns the context manager that plants it; ``checks`` are the
    check ids it can affect; ``xfail`` (a reason) when it is known not to flip on this branch."""

    name: str
    description: str
    checks: tuple[str, ...]
    patch: Callable[[], ContextManager]
    xfail: str | None = None


_THM34 = ("thm-3.4", "thm-3.4-lyapunov", "thm-3.4-rate")

MUTANTS: tuple[Mutant, ...] = (
    Mutant("numba-printed-closed-form", "OPD inside the Numba kernel uses the printed closed form exp(S_lam) (no 1/(eta+beta))",
           _THM34, _printed_closed_form),
    Mutant("numba-optimism-removed", "OPD inside the Numba kernel without optimism (prediction = the current iterate)",
           _THM34, _optimism_removed),
    Mutant("prox-dual-step-doubled", "the prox dual step [lam_hat - c/(2 eta_lam)]_+ doubled to c/eta_lam (rules.dual_step_size)",
           _THM34, _prox_dual_step_doubled),
    Mutant("lambda-star-off-0.1%", "the exact saddle point's lam* multiplied by 1.001 (numerics.saddle.solve_saddle)",
           _THM34 + ("lemma-B.5",), _lambda_star_off),
    Mutant("rho46-10%-smaller", "rho of eq. (46) made 10 % smaller (kernels.potential.rho_eq46)", _THM34, _rho_smaller),
    Mutant("phi1-coefficient", "Phi_1 of eq. (47) with 3 sqrt(h)R instead of 7/2 sqrt(h)R on ||lam*-lam_hat_1||^2",
           ("thm-3.4",), _phi1_coefficient),
    Mutant("kl-direction-swapped", "the error metric with KL(pi_hat_t || pi*) instead of KL(pi* || pi_hat_t)",
           _THM34, _kl_swapped),
    Mutant("bound-exponent-t", "the bound rho^t Phi_1/denom instead of rho^(t-1) Phi_1/denom", ("thm-3.4",),
           _bound_exponent_t),
    Mutant("denominator-proofs", "Thm 3.4's denominator 7/4 eta_lam - 3/4 sqrt(h)R replaced by the proof's 5/4 eta_lam - 1/4 sqrt(h)R",
           ("thm-3.4",), _denominator_proofs),
    Mutant("lemma-B5-rounding-positive", "lam*_j = 0 nudged to 1e-200 and counted as positive (lemma-B.5)",
           ("lemma-B.5",), _lemma_b5_zero_threshold),
    Mutant("lemma-B4-true-at-3/4", "Lemma B.4 made true at delta = theta = 3/4 (theory.lemmas.b4_holds_at)",
           ("lemmas-B.2-B.4-B.8",), _b4_true_at_34),
)


# ------------------------------------------------------------------------------ running the table
def run_checks(check_ids, *, seed: int = 0, out_dir: Path | None = None, stop_when: Callable[[str, str], bool] | None = None) -> dict[str, str]:
    """Verdicts of ``check_ids`` on the mutation profile (quick profile, :data:`MUTATION_SWEEPS`).

    A crash is recorded as the verdict ``CRASHED: <exception>``. ``stop_when(check_id, verdict)``
    ends the loop early (the tests stop at the first changed verdict)."""
    return {c: d["verdict"] for c, d in run_checks_detailed(check_ids, seed=seed, out_dir=out_dir,
                                                            stop_when=stop_when).items()}


def _why(res) -> str:
    """What decided an INCONCLUSIVE: the machinery's downgrade reasons, else the failed controls."""
    if res.downgrades:
        return "; ".join(res.downgrades)[:400]
    failed = [f"{c.name}: {c.detail}" for c in res.controls if not c.passed]
    return "; ".join(failed)[:400]


def run_checks_detailed(check_ids, *, seed: int = 0, out_dir: Path | None = None,
                        stop_when: Callable[[str, str], bool] | None = None) -> dict[str, dict]:
    """Like :func:`run_checks`, with ``{"verdict", "why"}`` per check (``why``: the downgrade reasons)."""
    import tempfile

    from opdcheck.paper_checks.context import CheckContext
    from opdcheck.paper_checks.registry import get_check

    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp, mutation_profile():
        for cid in check_ids:
            ctx = CheckContext(profile="quick", seed=seed, out_dir=Path(out_dir or tmp) / cid)
            try:
                res = get_check(cid).run(ctx)
                out[cid] = {"verdict": res.verdict.value, "why": _why(res)}
            except Exception as exc:  # a planted bug may crash a check: that changes its verdict too
                out[cid] = {"verdict": f"CRASHED: {type(exc).__name__}", "why": str(exc)[:400]}
            if stop_when is not None and stop_when(cid, out[cid]["verdict"]):
                break
    return out


def run_mutant(mutant: Mutant, baseline: dict[str, str], *, seed: int = 0, stop_at_first: bool = False) -> dict:
    """Run ``mutant.checks`` with the bug planted; the changed verdicts relative to ``baseline``."""
    t0 = time.perf_counter()
    stop = (lambda cid, v: v != baseline.get(cid)) if stop_at_first else None
    with mutant.patch():
        detailed = run_checks_detailed(mutant.checks, seed=seed, stop_when=stop)
    verdicts = {c: d["verdict"] for c, d in detailed.items()}
    changed = [{"check": c, "from": baseline.get(c), "to": v, "why": detailed[c]["why"]}
               for c, v in verdicts.items() if v != baseline.get(c)]
    return {"name": mutant.name, "description": mutant.description, "checks": list(mutant.checks),
            "verdicts": verdicts, "changed": changed, "caught": bool(changed), "xfail": mutant.xfail,
            "seconds": round(time.perf_counter() - t0, 1)}


def run_table(mutants=MUTANTS, *, seed: int = 0) -> dict:
    """The whole table: the unmutated verdicts of every affected check, then each mutant's."""
    ids = sorted({c for m in mutants for c in m.checks})
    t0 = time.perf_counter()
    baseline = run_checks(ids, seed=seed)
    rows = [run_mutant(m, baseline, seed=seed) for m in mutants]
    return {"profile": "quick, mutation sweeps " + json.dumps({k: v[0][1] for k, v in MUTATION_SWEEPS.items()}),
            "seed": seed, "baseline": baseline, "mutants": rows, "caught": sum(r["caught"] for r in rows),
            "total": len(rows), "seconds": round(time.perf_counter() - t0, 1)}


def write_table(path: Path = TABLE_PATH, *, seed: int = 0) -> dict:
    table = run_table(seed=seed)
    Path(path).write_text(json.dumps(table, indent=1) + "\n")
    return table


def load_table(path: Path = TABLE_PATH) -> dict | None:
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else None


#: the heading the report writer gives the appendix (the body states the count it measured)
APPENDIX_TITLE = "Verification power (mutation testing)"


def appendix_markdown(path: Path = TABLE_PATH) -> str:
    """The report appendix, generated from the recorded table (``python -m opdcheck.mutants --write``)."""
    t = load_table(path)
    if t is None:
        return "No mutation table recorded; run `python -m opdcheck.mutants --write`.\n"
    def cell(text: str) -> str:  # a Markdown table cell: pipes escaped
        return text.replace("|", "\\|")

    lines = [f"**Verification power: {t['caught']} of {t['total']} planted bugs change a verdict.**", "",
             f"Each bug is planted by monkeypatching and the checks it can affect are re-run ({t['profile']}, "
             f"seed {t['seed']}). Unmutated verdicts: "
             + ", ".join(f"`{c}` {v}" for c, v in t["baseline"].items()) + ".", "",
             "| planted bug | checks run | verdicts changed | caught | what caught it (first changed check) |",
             "|---|---|---|---|---|"]
    for r in t["mutants"]:
        ch = "; ".join(f"`{c['check']}` {c['from']} -> {c['to']}" for c in r["changed"]) or "none"
        caught = "yes" if r["caught"] else ("no (" + r["xfail"] + ")" if r["xfail"] else "**no**")
        why = r["changed"][0].get("why", "") if r["changed"] else ""
        lines.append(f"| {cell(r['description'])} | {', '.join(r['checks'])} | {ch} | {caught} | {cell(why[:220])} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m opdcheck.mutants", description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"run the table and record it in {TABLE_PATH.name}")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.write:
        t = write_table(seed=a.seed)
        print(appendix_markdown())
        print(f"{t['caught']} of {t['total']} caught in {t['seconds']} s; written to {TABLE_PATH}")
    else:
        print(appendix_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
