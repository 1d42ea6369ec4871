"""The report writer: ``report.md`` (verdict table first), ``results.json`` (schema-versioned), figures.

Everything in the report except wall times and the timestamp is a function of (checks, profile,
seed, instance): the same seed gives the same report. Timings are kept apart (``timing`` fields)
so that a determinism test can drop them.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from opdcheck.paper_checks.result import CheckResult, to_jsonable

__all__ = ["SCHEMA_VERSION", "PAPER", "write_report", "verdict_table", "render_markdown", "results_payload"]

SCHEMA_VERSION = 1
PAPER = ("Yining Li, Peizhong Ju, Ness Shroff. Provable Last-Iterate Convergence for Multi-Objective Safe "
         "LLM Alignment via Optimistic Primal-Dual. arXiv 2602.22146v1, 25 Feb 2026.")

#: Conventions every report states (SPEC.md §2), whatever checks ran.
GLOBAL_CONVENTIONS = (
    "t = 0 of Algorithm 2: the paper leaves the 'previous predictions' pi_{-1}, lam_{-1} undefined; "
    "opdcheck sets pi_{-1} = pi_hat_0 = pi_ref and lam_{-1} = lam_hat_0 = lam_init.",
    "Closed forms: opdcheck iterates the derived maximiser of eqs. (4)/(6), "
    "pi ∝ pi_hat^(eta/(eta+beta)) pi_ref^(beta/(eta+beta)) exp(S_lam/(eta+beta)), not the printed exp(S_lam).",
    "Dual step: 'prox' = [lam_hat - c/(2 eta_lam)]_+ (eqs. (5)/(7), used by Thm 3.4's proof); "
    "'gradient' = [lam_hat - c/eta_lam]_+ (eqs. (9)/(11) of Algorithm 3). Each result names the one it used.",
    "beta = 0 is a linear program, an extension beyond the paper (which needs beta > 0); "
    "results at beta = 0 are labelled as such.",
)


def _fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f == 0:
            return "0"
        if np.isfinite(f) and (1e-3 <= abs(f) < 1e5):
            return f"{f:.{digits}g}"
        return f"{f:.{digits - 1}e}"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple, np.ndarray)):
        arr = list(np.asarray(v, dtype=object).ravel()) if not isinstance(v, (list, tuple)) else list(v)
        if len(arr) > 8:
            return "[" + ", ".join(_fmt(x, digits) for x in arr[:8]) + f", … ({len(arr)} values)]"
        return "[" + ", ".join(_fmt(x, digits) for x in arr) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x, digits)}" for k, x in v.items())
    return str(v)


def _cell(v: Any) -> str:
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def verdict_table(results: Sequence[CheckResult], crashed: dict[str, str] | None = None,
                  with_time: bool = True) -> str:
    """The Markdown verdict table (also printed by ``opdcheck run``)."""
    crashed = crashed or {}
    head = "| check | paper | verdict | summary |" + (" time |" if with_time else "")
    sep = "|---|---|---|---|" + ("---:|" if with_time else "")
    rows = [head, sep]
    for r in results:
        row = f"| `{r.id}` | {r.paper_ref} | **{r.verdict.value}** | {_cell(r.summary)} |"
        if with_time:
            row += f" {r.wall_time:.1f}s |"
        rows.append(row)
    for cid, err in crashed.items():
        row = f"| `{cid}` | | **CRASHED** | {_cell(err.strip().splitlines()[-1] if err.strip() else err)} |"
        if with_time:
            row += " |"
        rows.append(row)
    return "\n".join(rows)


def _evidence_table(rows: list[dict], limit: int = 80) -> str:
    if not rows:
        return ""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows[:limit]:
        out.append("| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |")
    if len(rows) > limit:
        out.append(f"\n*{len(rows) - limit} more rows in results.json.*")
    return "\n".join(out)


def _section(r: CheckResult) -> str:
    parts = [f"## `{r.id}` — {r.verdict.value}", "",
             f"**Paper:** {r.paper_ref}  ", f"**Claim (as formalized):** {r.claim}", ""]
    if r.summary:
        parts += [r.summary, ""]
    parts += ["| side | value |", "|---|---|",
              f"| stated (paper) | {_cell(r.stated)} |",
              f"| computed (opdcheck) | {_cell(r.computed)} |",
              f"| comparison | `{r.comparison}` |"]
    if r.tolerance is not None:
        parts.append(f"| tolerance | {_fmt(r.tolerance)} — {_cell(r.tolerance_reason)} |")
    parts.append(f"| wall time | {r.wall_time:.2f} s ({r.profile} profile, seed {r.seed}) |")
    parts.append("")
    if r.details:
        parts += [r.details.strip(), ""]
    if r.evidence:
        parts += ["**Evidence**", "", _evidence_table(r.evidence), ""]
    for fig in r.figures:
        parts += [f"![{r.id}]({fig})", ""]
    if r.counterexample:
        if r.counterexample.endswith(".npz"):
            parts += [f"**Counterexample:** `{r.counterexample}` (relative to this report) — reproduce with "
                      f"`opdcheck run {r.id} --instance REPORT_DIR/{r.counterexample}`", ""]
        else:  # a witness (e.g. exact vectors), not an instance: the check recomputes it deterministically
            parts += [f"**Counterexample (witness):** `{r.counterexample}` (relative to this report); "
                      f"`opdcheck run {r.id}` recomputes it exactly.", ""]
    if r.conventions:
        parts += ["**Conventions:**", ""] + [f"- {c}" for c in r.conventions] + [""]
    if r.instances:
        shown = r.instances[:12]
        names = ", ".join(f"{i.get('name', '?')}" + (f" (seed {i['seed']})" if "seed" in i else "") for i in shown)
        more = f" and {len(r.instances) - len(shown)} more" if len(r.instances) > len(shown) else ""
        parts += [f"**Instances ({len(r.instances)}):** {names}{more}", ""]
    return "\n".join(parts)


def render_markdown(results: Sequence[CheckResult], *, profile: str, seed: int,
                    crashed: dict[str, str] | None = None, instance: str | None = None,
                    notes: Sequence[str] = ()) -> str:
    crashed = crashed or {}
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict.value] = counts.get(r.verdict.value, 0) + 1
    tally = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    if crashed:
        tally += f", {len(crashed)} CRASHED"
    lines = ["# opdcheck report", "",
             f"Paper: {PAPER}", "",
             f"Profile `{profile}`, seed `{seed}`" + (f", instance `{instance}`" if instance else "") + f". {tally}.",
             "",
             "## Verdicts", "", verdict_table(results, crashed), "",
             "Verdicts: CONFIRMED = numerics and algebra agree with the claim on every instance tried; "
             "REFUTED = a reproducible counterexample (saved); INCONSISTENT = the paper disagrees with itself "
             "or with a derivation (both versions shown); INCONCLUSIVE = could not decide.", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Conventions", ""] + [f"- {c}" for c in GLOBAL_CONVENTIONS] + [""]
    for r in results:
        lines += [_section(r), ""]
    for cid, err in crashed.items():
        lines += [f"## `{cid}` — CRASHED", "", "```", err.strip(), "```", ""]
    return "\n".join(lines)


def results_payload(results: Sequence[CheckResult], *, profile: str, seed: int,
                    crashed: dict[str, str] | None = None, instance: str | None = None) -> dict:
    from opdcheck import __version__

    return to_jsonable({
        "schema_version": SCHEMA_VERSION,
        "opdcheck_version": __version__,
        "paper": PAPER,
        "profile": profile,
        "seed": seed,
        "instance": instance,
        "conventions": list(GLOBAL_CONVENTIONS),
        "results": [r.to_dict() for r in results],
        "crashed": crashed or {},
        "timing": {"machine": platform.platform(), "python": platform.python_version(),
                   "wall_time_total": float(sum(r.wall_time for r in results))},
    })


def write_report(results: Sequence[CheckResult], out_dir: str | Path, *, profile: str, seed: int,
                 crashed: dict[str, str] | None = None, instance: str | None = None,
                 notes: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write ``report.md`` and ``results.json`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    js = out / "results.json"
    md.write_text(render_markdown(results, profile=profile, seed=seed, crashed=crashed,
                                  instance=instance, notes=notes))
    js.write_text(json.dumps(results_payload(results, profile=profile, seed=seed, crashed=crashed,
                                             instance=instance), indent=1))
    return md, js
