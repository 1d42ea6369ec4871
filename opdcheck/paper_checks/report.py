"""The report writer: ``report.md`` (verdict table first), ``results.json`` (schema-versioned), figures.

Everything in the report except wall times and the timestamp is a function of (checks, profile,
seed, instance): the same seed gives the same report, whichever executor ran the sweeps. Timings
are kept apart (``timing`` fields) so that a determinism test can drop them.

``results.json`` schema (``schema_version``):

* 1: ``schema_version, opdcheck_version, paper, profile, seed, instance, conventions, results,
  crashed, timing``; each result is ``CheckResult.to_dict()``.
* 2 (now): adds ``complete`` (False when the run was interrupted), ``interrupted`` (the check that
  was running, or null), ``not_run`` (ids never started), ``notes``, ``appendices`` (list of
  ``{"title", "markdown"}``); each result also carries ``findings`` (name, claim, verdict, computed,
  stated, comparison, sentence, judged, witness), ``controls`` (name, kind, passed, detail),
  ``judged``, ``witness`` and ``downgrades``. The executor is recorded under ``timing`` (it does
  not change any result). ``coverage`` (an additive key; readers of version 2 may ignore it): the claims
  register's coverage by this run, ``opdcheck.paper_checks.claims.coverage(results)``: ``statements``,
  ``declared`` (fully / partly / not), ``decided_in_run``, ``reasons_not_fully`` and one entry per statement
  (id, location, quote, readings, status, reason, judges with this run's verdicts).

Every string that comes from outside (instance names, file names, check output) is made one
line and table-safe before it reaches ``report.md`` (:func:`inline`), so a name with newlines or
``|`` cannot forge rows of the verdict table.
"""
from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from opdcheck.paper_checks.result import CheckResult, to_jsonable

__all__ = ["SCHEMA_VERSION", "PAPER", "write_report", "verdict_table", "render_markdown", "results_payload",
           "inline", "RunStatus", "coverage_section"]

SCHEMA_VERSION = 2

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def inline(v: Any) -> str:
    """One line, table-safe text for Markdown: control characters (newlines included) become a
    space, ``|`` and backticks are escaped. Defence in depth: the CLI sanitises names too."""
    text = _CONTROL_CHARS.sub(" ", str(v))
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


@dataclass(frozen=True)
class RunStatus:
    """Whether the run finished: an interrupted run (Ctrl-C) writes a partial report marked INCOMPLETE."""

    complete: bool = True
    interrupted: str | None = None  # the check that was running when the run stopped
    not_run: tuple[str, ...] = ()   # ids never started
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
    return inline(_fmt(v))


def _code(v: Any) -> str:
    """Text for inside a Markdown code span (where backslash escapes do not work): one line, no backticks."""
    return _CONTROL_CHARS.sub(" ", str(v)).replace("`", "'")


def verdict_table(results: Sequence[CheckResult], crashed: dict[str, str] | None = None,
                  with_time: bool = True) -> str:
    """The Markdown verdict table (also printed by ``opdcheck run``)."""
    crashed = crashed or {}
    head = "| check | paper | verdict | summary |" + (" time |" if with_time else "")
    sep = "|---|---|---|---|" + ("---:|" if with_time else "")
    rows = [head, sep]
    for r in results:
        row = f"| `{_code(r.id)}` | {_cell(r.paper_ref)} | **{r.verdict.value}** | {_cell(r.summary)} |"
        if with_time:
            row += f" {r.wall_time:.1f}s |"
        rows.append(row)
    for cid, err in crashed.items():
        row = f"| `{_code(cid)}` | | **CRASHED** | {_cell(err.strip().splitlines()[-1] if err.strip() else err)} |"
        if with_time:
            row += " |"
        rows.append(row)
    return "\n".join(rows)


def _table(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(inline(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _evidence_table(rows: list[dict], limit: int = 80) -> str:
    if not rows:
        return ""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    out = _table(cols, [[r.get(c, "") for c in cols] for r in rows[:limit]])
    if len(rows) > limit:
        out.append(f"\n*{len(rows) - limit} more rows in results.json.*")
    return "\n".join(out)


def _witness_block(w: dict, title: str) -> list[str]:
    """The independent replay of a refutation: its method, its verdict flags and every number it
    carries (both sides: the replayed values and the ones the code under suspicion reported)."""
    flags = ", ".join(f"{k} = {_fmt(bool(w.get(k)))}" for k in ("replayed", "confirms", "agrees") if k in w)
    parts = [f"**{inline(title)}** — method: {_cell(w.get('method', 'not stated'))}" + (f"; {flags}" if flags else ""), ""]
    rest = [(k, v) for k, v in w.items() if k not in ("replayed", "confirms", "agrees", "method")]
    if rest:
        parts += _table(["quantity", "value"], rest) + [""]
    return parts


def _reading_note(f) -> str:
    """The reading, severity and weight of a finding, when not the defaults (see result.py)."""
    from opdcheck.paper_checks.result import reading_tag

    tag = reading_tag(f)
    rest = tag.split("; ", 1)[1] if "; " in tag else ""
    where = f"statement {f.statement}" if f.statement else ""
    note = ", ".join(x for x in (where, rest) if x)
    return f" ({note})" if note else ""


def _section(r: CheckResult) -> str:
    parts = [f"## `{_code(r.id)}` — {r.verdict.value}", "",
             f"**Paper:** {inline(r.paper_ref)}  ", f"**Claim (as formalized):** {inline(r.claim)}", ""]
    if r.summary:
        parts += [inline(r.summary), ""]
    if r.downgrades:
        parts += ["**Verdict downgraded to INCONCLUSIVE by the result machinery:**", ""]
        parts += [f"- {inline(d)}" for d in r.downgrades] + [""]
    parts += ["| side | value |", "|---|---|",
              f"| stated (paper) | {_cell(r.stated)} |",
              f"| computed (opdcheck) | {_cell(r.computed)} |",
              f"| comparison | `{_code(r.comparison)}` |"]
    if r.tolerance is not None:
        parts.append(f"| tolerance | {_fmt(r.tolerance)} — {_cell(r.tolerance_reason)} |")
    if r.judged is not None:
        parts.append(f"| cases judged | {r.judged} |")
    parts.append(f"| wall time | {r.wall_time:.2f} s ({r.profile} profile, seed {r.seed}) |")
    parts.append("")
    if r.findings:
        parts += ["**Findings**", ""]
        parts += _table(["finding", "verdict", "judged", "stated", "computed", "sentence"],
                        [[f.name, f"**{f.verdict.value}**" + _reading_note(f), f.judged, f.stated, f.computed,
                          f.sentence]
                         for f in r.findings]) + [""]
        for f in r.findings:
            if f.witness:
                parts += _witness_block(f.witness, f"Witness of finding {f.name}")
    if r.controls:
        parts += ["**Controls**", ""]
        parts += _table(["control", "kind", "passed", "detail"],
                        [[c.name, c.kind, c.passed, c.detail] for c in r.controls]) + [""]
    if r.witness:
        parts += _witness_block(r.witness, "Witness (independent replay)")
    if r.details:
        parts += [r.details.strip(), ""]  # Markdown written by the check itself (derivations), not input
    if r.evidence:
        parts += ["**Evidence**", "", _evidence_table(r.evidence), ""]
    for fig in r.figures:
        parts += [f"![{_code(r.id)}]({_code(fig)})", ""]
    if r.counterexample:
        cx = _code(r.counterexample)
        if r.counterexample.endswith(".npz"):
            parts += [f"**Counterexample:** `{cx}` (relative to this report) — reproduce with "
                      f"`opdcheck run {_code(r.id)} --instance REPORT_DIR/{cx}`", ""]
        else:  # a witness (e.g. exact vectors), not an instance: the check recomputes it deterministically
            parts += [f"**Counterexample (witness):** `{cx}` (relative to this report); "
                      f"`opdcheck run {_code(r.id)}` recomputes it exactly.", ""]
    if r.conventions:
        parts += ["**Conventions:**", ""] + [f"- {inline(c)}" for c in r.conventions] + [""]
    if r.instances:
        shown = r.instances[:12]
        names = ", ".join(inline(i.get("name", "?")) + (f" (seed {inline(i['seed'])})" if "seed" in i else "")
                          for i in shown)
        more = f" and {len(r.instances) - len(shown)} more" if len(r.instances) > len(shown) else ""
        parts += [f"**Instances ({len(r.instances)}):** {names}{more}", ""]
    return "\n".join(parts)


def _check_appendices(appendices: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for k, item in enumerate(appendices):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ValueError(f"appendices[{k}]: {item!r}; pass (title, markdown) pairs of strings.")
        out.append((item[0], item[1]))
    return out


def render_markdown(results: Sequence[CheckResult], *, profile: str, seed: int,
                    crashed: dict[str, str] | None = None, instance: str | None = None,
                    notes: Sequence[str] = (), appendices: Sequence[tuple[str, str]] = (),
                    status: RunStatus = RunStatus()) -> str:
    """``report.md``. ``appendices``: (title, markdown) pairs other modules add after the checks."""
    crashed = crashed or {}
    appendices = _check_appendices(appendices)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict.value] = counts.get(r.verdict.value, 0) + 1
    tally = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    if crashed:
        tally += f", {len(crashed)} CRASHED"
    title = "# opdcheck report" + ("" if status.complete else " — INCOMPLETE (interrupted)")
    lines = [title, ""]
    if not status.complete:
        lines += ["**INCOMPLETE:** the run was interrupted" +
                  (f" while `{_code(status.interrupted)}` was running" if status.interrupted else "") +
                  f". This report holds the {len(results)} check(s) that finished; "
                  f"not run: {', '.join(f'`{_code(i)}`' for i in status.not_run) or 'none'}.", ""]
    lines += [f"Paper: {PAPER}", "",
              f"Profile `{_code(profile)}`, seed `{seed}`" + (f", instance `{_code(instance)}`" if instance else "")
              + f". {tally or 'no check finished'}.",
              "",
              "## Verdicts", "", verdict_table(results, crashed), "",
              "Verdicts: CONFIRMED = numerics and algebra agree with the claim on every instance tried; "
              "REFUTED = a reproducible counterexample (saved); INCONSISTENT = the paper disagrees with itself "
              "or with a derivation (both versions shown); INCONCLUSIVE = could not decide.", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {inline(n)}" for n in notes] + [""]
    lines += ["## Conventions", ""] + [f"- {c}" for c in GLOBAL_CONVENTIONS] + [""]
    for r in results:
        lines += [_section(r), ""]
    for cid, err in crashed.items():
        lines += [f"## `{_code(cid)}` — CRASHED", "", "```", err.strip().replace("```", "'''"), "```", ""]
    lines += [coverage_section(results), ""]
    for title_a, body in appendices:
        lines += [f"## Appendix: {inline(title_a)}", "", body.strip(), ""]
    return "\n".join(lines)


def coverage_section(results: Sequence[CheckResult]) -> str:
    """The report's coverage section: the claims register against this run (counts, reasons, one row per
    statement), generated from ``claims.coverage``, never a fixed sentence."""
    from opdcheck.paper_checks.claims import coverage, coverage_markdown

    return "## What the paper says, statement by statement\n\n" + coverage_markdown(coverage(results))


def results_payload(results: Sequence[CheckResult], *, profile: str, seed: int,
                    crashed: dict[str, str] | None = None, instance: str | None = None,
                    notes: Sequence[str] = (), appendices: Sequence[tuple[str, str]] = (),
                    status: RunStatus = RunStatus(), executor: str = "in-process") -> dict:
    from opdcheck import __version__

    return to_jsonable({
        "schema_version": SCHEMA_VERSION,
        "opdcheck_version": __version__,
        "paper": PAPER,
        "complete": status.complete,
        "interrupted": status.interrupted,
        "not_run": list(status.not_run),
        "profile": profile,
        "seed": seed,
        "instance": instance,
        "conventions": list(GLOBAL_CONVENTIONS),
        "notes": list(notes),
        "results": [r.to_dict() for r in results],
        "crashed": crashed or {},
        "appendices": [{"title": t, "markdown": m} for t, m in _check_appendices(appendices)],
        "coverage": _coverage(results),
        "timing": {"machine": platform.platform(), "python": platform.python_version(), "executor": executor,
                   "wall_time_total": float(sum(r.wall_time for r in results))},
    })


def _coverage(results: Sequence[CheckResult]) -> dict:
    from opdcheck.paper_checks.claims import coverage

    return coverage(results)


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it over ``path``: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(results: Sequence[CheckResult], out_dir: str | Path, *, profile: str, seed: int,
                 crashed: dict[str, str] | None = None, instance: str | None = None,
                 notes: Sequence[str] = (), appendices: Sequence[tuple[str, str]] = (),
                 status: RunStatus = RunStatus(), executor: str = "in-process") -> tuple[Path, Path]:
    """Write ``report.md`` and ``results.json`` into ``out_dir``; return their paths.

    ``opdcheck run`` calls this on a fresh staging folder that it then moves into place
    (``opdcheck.cli``), so a report and its figures always come from one run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    js = out / "results.json"
    payload = results_payload(results, profile=profile, seed=seed, crashed=crashed, instance=instance,
                              notes=notes, appendices=appendices, status=status, executor=executor)
    text = render_markdown(results, profile=profile, seed=seed, crashed=crashed, instance=instance,
                           notes=notes, appendices=appendices, status=status)
    _write_atomic(js, json.dumps(payload, indent=1))
    _write_atomic(md, text)
    return md, js
