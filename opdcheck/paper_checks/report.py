"""The report writer: ``report.html`` (the full, self-contained page), a short ``report.md``
(verdict table of one-liners first, a compact section per check) and ``results.json``.

Everything in the report except wall times, the date and the executor is a function of (checks,
profile, seed, instance): the same seed gives the same report, whichever executor ran the sweeps.
Those are kept apart (``timing``) so that a determinism test can drop them.

``results.json`` (``schema_version``; the JSON Schema is shipped as ``results.schema.json``):

* 1: ``schema_version, opdcheck_version, paper, profile, seed, instance, conventions, results,
  crashed, timing``; each result is ``CheckResult.to_dict()``.
* 2: adds ``complete`` (False when the run was interrupted), ``interrupted`` (the check that
  was running, or null), ``not_run`` (ids never started), ``notes``, ``appendices`` (list of
  ``{"title", "markdown"}``); each result also carries ``findings`` (name, claim, verdict, computed,
  stated, comparison, sentence, judged, witness, statement, reading, severity; since 0.1.0 also held_back and
  verdict_before_controls: a finding of a check whose control failed is INCONCLUSIVE, with what the code alone
  said kept beside it), ``controls`` (name,
  kind, passed, detail), ``judged``, ``witness`` and ``downgrades``.
* 3 (now): adds ``provenance`` (opdcheck version, git commit and whether the checkout was modified,
  Python, platform, the versions of numpy, scipy, sympy, mpmath, cvxpy, clarabel, highspy, numba,
  matplotlib, jinja2; profile and seed); ``timing`` gains ``date`` (UTC) beside ``executor``; each
  result carries ``headline`` (a display field: the one line of the verdict tables). Other modules
  may add top-level keys (``coverage``: the claims register's coverage of the paper's statements).
  Numbers are JSON numbers; a non-finite float is the string ``"nan"``, ``"inf"`` or ``"-inf"``.
  ``coverage``: the claims register's coverage by this run, ``opdcheck.paper_checks.claims.coverage(results)``:
  ``statements``, ``declared`` (fully / partly / not), ``decided_in_run``, ``reasons_not_fully`` and one entry per
  statement (id, location, quote, readings, status, reason, judges with this run's verdicts).

Every string that comes from outside (instance names, file names, check output) is made one
line and table-safe before it reaches ``report.md`` (:func:`inline`), so a name with newlines or
``|`` cannot forge rows of the verdict table; ``report.html`` escapes it (jinja2 autoescape).
"""
from __future__ import annotations

import json
import os
import platform
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from opdcheck.paper_checks.display import PAPER, _fmt, display, tally  # noqa: F401  (re-exported)
from opdcheck.paper_checks.result import CheckResult, to_jsonable

__all__ = ["SCHEMA_VERSION", "PAPER", "write_report", "verdict_table", "render_markdown", "results_payload",
           "inline", "display", "tally", "RunStatus", "coverage_section"]

SCHEMA_VERSION = 3

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


#: what could open raw HTML or an autolink in Markdown (``<script``, ``</a``, ``<!--``, ``<javascript:...>``)
#: and an HTML entity; ``<=`` or ``< 1`` in a sentence are left as they are
_MARKUP_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def inline(v: Any) -> str:
    """One line, table-safe, inert text for Markdown: control characters (newlines included) become a
    space; ``|`` and backticks are escaped; ``[`` and ``]`` are escaped (no link, so no ``javascript:``
    URL, can be formed); a ``<`` that could open an HTML tag or autolink and a ``&`` that could open an
    entity are written as ``&lt;`` and ``&amp;``. Every string from an instance file (its name, its path)
    reaches report.md through this or inside a code span (:func:`_code`)."""
    text = _CONTROL_CHARS.sub(" ", str(v))
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    text = text.replace("[", "\\[").replace("]", "\\]")
    return _MARKUP_OPEN.sub("&lt;", _ENTITY.sub("&amp;", text))


@dataclass(frozen=True)
class RunStatus:
    """Whether the run finished: an interrupted run (Ctrl-C) writes a partial report marked INCOMPLETE."""

    complete: bool = True
    interrupted: str | None = None  # the check that was running when the run stopped
    not_run: tuple[str, ...] = ()   # ids never started
#: Conventions every report states, whatever checks ran.
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


def _cell(v: Any) -> str:
    return inline(_fmt(v))


def _code(v: Any) -> str:
    """Text for inside a Markdown code span (where backslash escapes do not work): one line, no backticks."""
    return _CONTROL_CHARS.sub(" ", str(v)).replace("`", "'")


def _anchor(check_id: str) -> str:
    return "check-" + re.sub(r"[^A-Za-z0-9_.-]", "_", str(check_id))


def verdict_table(results: Sequence[CheckResult], crashed: dict[str, str] | None = None,
                  with_time: bool = True) -> str:
    """The Markdown verdict table of one-line headlines, each id linking to its section; failing claims
    first (REFUTED, INCONSISTENT, INCONCLUSIVE, CONFIRMED), run order within a verdict."""
    crashed = crashed or {}
    head = "| check | paper | verdict | headline |" + (" time |" if with_time else "")
    sep = "|---|---|---|---|" + ("---:|" if with_time else "")
    rows = [head, sep]
    strength = {"REFUTED": 0, "INCONSISTENT": 1, "INCONCLUSIVE": 2, "CONFIRMED": 3}
    for r in sorted(results, key=lambda r: strength.get(r.verdict.value, 4)):  # failing claims first
        row = (f"| [`{_code(r.id)}`](#{_anchor(r.id)}) | {_cell(r.paper_ref)} | **{r.verdict.value}** | "
               f"{_cell(r.headline)} |")
        if with_time:
            row += f" {r.wall_time:.1f}s |"
        rows.append(row)
    for cid, err in crashed.items():
        row = (f"| [`{_code(cid)}`](#{_anchor(cid)}) | | **CRASHED** | "
               f"{_cell(err.strip().splitlines()[-1] if err.strip() else err)} |")
        if with_time:
            row += " |"
        rows.append(row)
    return "\n".join(rows)


def _table(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(inline(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _reading_note(f) -> str:
    """The reading, severity and weight of a finding, when not the defaults (see result.py)."""
    from opdcheck.paper_checks.result import reading_tag

    tag = reading_tag(f)
    rest = tag.split("; ", 1)[1] if "; " in tag else ""
    where = f"statement {f.statement}" if f.statement else ""
    note = ", ".join(x for x in (where, rest) if x)
    return f" ({note})" if note else ""


def _section(r: CheckResult) -> str:
    """A compact section: claim, the deciding finding(s) in full, the witness's method, the figures
    and the counterexample; one line per other finding; controls counted. Everything else (derivations,
    per-instance tables, instances) is in report.html and results.json."""
    parts = [f'<a id="{_anchor(r.id)}"></a>', "", f"## `{_code(r.id)}` — {r.verdict.value}", "",
             f"**Paper:** {inline(r.paper_ref)}  ", f"**Claim:** {inline(r.claim)}", ""]
    if r.downgrades:
        parts += ["**Verdict downgraded to INCONCLUSIVE by the result machinery:**", ""]
        parts += [f"- {inline(d)}" for d in r.downgrades] + [""]
    lead = [f for f in r.findings if f.verdict == r.verdict] or r.findings[:1]
    if lead:
        for f in lead:
            parts += [f"- **{inline(f.name)}** ({f.verdict.value}; stated {inline(_short(_fmt(f.stated), 100))}, computed "
                      f"{inline(_short(_fmt(f.computed), 100))}): {inline(f.sentence)}"]
            if f.witness:
                w = f.witness
                flags = ", ".join(f"{k} = {_fmt(bool(w.get(k)))}" for k in ("replayed", "confirms", "agrees") if k in w)
                parts += [f"  - witness{' (not decisive: the finding is held back)' if f.held_back else ''}: "
                          f"method: {_cell(w.get('method', 'not stated'))}; {flags}"]
        parts.append("")
    elif r.summary:
        parts += [inline(r.summary), ""]
    if r.witness:
        w = r.witness
        flags = ", ".join(f"{k} = {_fmt(bool(w.get(k)))}" for k in ("replayed", "confirms", "agrees") if k in w)
        parts += [f"**Witness (independent replay):** method: {_cell(w.get('method', 'not stated'))}; {flags}", ""]
    others = [f for f in r.findings if f not in lead]
    if others:
        parts += ["**Findings**", ""]
        parts += _table(["finding", "verdict", "judged", "stated", "computed", "sentence"],
                        [[f.name, f"**{f.verdict.value}**" + _reading_note(f), f.judged, _short(_fmt(f.stated), 60),
                          _short(_fmt(f.computed), 60), _short(f.sentence, 120)] for f in r.findings]) + [""]
    if r.controls:
        failed = [c for c in r.controls if not c.passed]
        parts += [f"**Controls:** {len(r.controls) - len(failed)} of {len(r.controls)} passed"
                  + ("." if not failed else ": failed " + "; ".join(f"{inline(c.name)} ({inline(c.detail)})"
                                                                     for c in failed) + "."), ""]
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
    return "\n".join(parts)


def _short(text: Any, limit: int = 160) -> str:
    t = " ".join(str(text).split())
    return t if len(t) <= limit else t[:limit].rsplit(" ", 1)[0] + " …"


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
                    status: RunStatus = RunStatus(), stamp: dict | None = None) -> str:
    """``report.md``, the short version: the verdict table of one-liners (each linking to its
    section), then a compact section per check. ``appendices``: (title, markdown) pairs other modules
    add after the checks. ``stamp``: the date and executor (:func:`opdcheck.provenance.run_stamp`)."""
    crashed = crashed or {}
    appendices = _check_appendices(appendices)
    counts = tally([r.verdict.value for r in results], len(crashed))
    title = "# opdcheck report" + ("" if status.complete else " — INCOMPLETE (interrupted)")
    lines = [title, ""]
    if not status.complete:
        lines += ["**INCOMPLETE:** the run was interrupted" +
                  (f" while `{_code(status.interrupted)}` was running" if status.interrupted else "") +
                  f". This report holds the {len(results)} check(s) that finished; "
                  f"not run: {', '.join(f'`{_code(i)}`' for i in status.not_run) or 'none'}.", ""]
    lines += [f"Paper: {PAPER}", "",
              f"Profile `{_code(profile)}`, seed `{seed}`" + (f", instance `{_code(instance)}`" if instance else "")
              + f". {counts}.", ""]
    if stamp:
        lines += [f"Run {inline(stamp.get('date', ''))} with the {inline(stamp.get('executor', ''))} executor; "
                  f"wall time {sum(r.wall_time for r in results):.1f} s.", ""]
    lines += ["## Verdicts", "", verdict_table(results, crashed), "",
              "CONFIRMED: numerics and algebra agree with the claim on every instance tried. REFUTED: a "
              "counterexample, replayed independently of the code under test and saved. INCONSISTENT: the paper "
              "disagrees with itself or with a derivation (both versions shown). INCONCLUSIVE: could not decide.",
              "",
              "The full evidence (derivations, per-instance tables, controls, witnesses, figures) is in "
              "`report.html` beside this file, and every number in `results.json`.", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {inline(n)}" for n in notes] + [""]
    lines += ["## Conventions", ""] + [f"- {c}" for c in GLOBAL_CONVENTIONS] + [""]
    for r in results:
        lines += [_section(r), ""]
    for cid, err in crashed.items():
        lines += [f'<a id="{_anchor(cid)}"></a>', "", f"## `{_code(cid)}` — CRASHED", "", "```",
                  err.strip().replace("```", "\'\'\'"), "```", ""]
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
                    status: RunStatus = RunStatus(), executor: str = "in-process",
                    stamp: dict | None = None) -> dict:
    """The dict written to ``results.json`` (and rendered as ``report.html``); see the module docstring
    and ``results.schema.json``."""
    from opdcheck import __version__
    from opdcheck.provenance import provenance, run_stamp

    stamp = stamp or run_stamp(executor)
    dicts = []
    for r in results:
        d = r.to_dict()
        d["evidence"] = numbers_as_numbers(d["evidence"])     # table cells: numbers as numbers
        d["instances"] = numbers_as_numbers(d["instances"])
        dicts.append(d)
    prov = provenance()
    prov.update(profile=profile, seed=seed)
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
        "provenance": prov,
        "conventions": list(GLOBAL_CONVENTIONS),
        "notes": list(notes),
        "results": dicts,
        "crashed": crashed or {},
        "appendices": [{"title": t, "markdown": m} for t, m in _check_appendices(appendices)],
        "coverage": _coverage(results),
        "timing": {"date": stamp["date"], "executor": stamp["executor"], "machine": platform.platform(),
                   "python": platform.python_version(),
                   "wall_time_total": float(sum(r.wall_time for r in results))},
    })


MARKER = ".opdcheck-report"


_MANIFEST_HEAD = "entries written by opdcheck:"
#: what a report folder held before markers carried a manifest
_PRE_MANIFEST_ENTRIES = frozenset({"report.md", "report.html", "results.json", "figures", "counterexamples"})


def write_marker(folder: Path, entries: list[str] | None = None) -> None:
    """The file that says "opdcheck wrote this folder": only such a folder (or an empty one) is ever replaced.
    ``entries``: the folder's top-level names once the report is complete (the manifest); a later run
    replaces the folder only if it holds nothing else (:func:`foreign_entries`)."""
    from opdcheck import __version__

    text = f"written by opdcheck {__version__}; this folder is replaced whole by the next run that writes here\n"
    if entries is not None:
        text += _MANIFEST_HEAD + "\n" + "".join(f"{e}\n" for e in sorted(entries) if e != MARKER)
    (Path(folder) / MARKER).write_text(text, encoding="utf-8")


def foreign_entries(folder: Path) -> list[str]:
    """Top-level names in ``folder`` that its marker's manifest does not list: files a user put into a report
    folder after opdcheck wrote it (a run must not delete them). A marker without a manifest (an older
    version's, or a bare marker file) is taken to list what those versions wrote, :data:`_PRE_MANIFEST_ENTRIES`."""
    try:
        text = (Path(folder) / MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    listed = set(text.split(_MANIFEST_HEAD, 1)[1].split()) if _MANIFEST_HEAD in text else _PRE_MANIFEST_ENTRIES
    return sorted(e.name for e in Path(folder).iterdir() if e.name != MARKER and e.name not in listed)


@contextmanager
def folder_lock(folder: Path):
    """An exclusive POSIX lock on ``folder`` itself (flock on a directory descriptor): nothing is
    created, so nothing is left behind. A no-op where flock is unavailable."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    import errno

    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a folder this user may write but not list: the renames stay atomic, unlocked
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # a file system without locks (some NFS): atomic renames only
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.EBADF):
                raise
        yield
    finally:
        os.close(fd)  # releases the lock


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _as_number(v: Any) -> Any:
    """A table cell that a check wrote as a decimal string (``"0.21"``, ``"1e-09"``) as the number it
    spells; a string with more than 17 significant digits (an exact or high-precision value that a
    float would round) stays a string, and so does anything else."""
    if isinstance(v, str) and _NUMBER.match(v.strip()):
        digits = re.sub(r"[eE].*$", "", v.strip()).lstrip("+-").replace(".", "").lstrip("0")
        f = float(v)
        if len(digits) <= 17 and np.isfinite(f):
            return int(v) if re.fullmatch(r"[-+]?\d+", v.strip()) and abs(f) < 2**53 else f
    return v


def numbers_as_numbers(rows: Any) -> Any:
    """``_as_number`` on every cell of a list of table rows (evidence, instances), recursively."""
    if isinstance(rows, list):
        return [numbers_as_numbers(x) for x in rows]
    if isinstance(rows, dict):
        return {k: numbers_as_numbers(v) for k, v in rows.items()}
    return _as_number(rows)


def _coverage(results: Sequence[CheckResult]) -> dict:
    from opdcheck.paper_checks.claims import coverage

    return coverage(results)


def _write_atomic(path: Path, text: str) -> None:
    """Write to a fresh temporary file beside ``path`` (a unique name: concurrent writers never share it)
    and rename it over ``path``: a reader never sees half a file. On any error (a full disk) the
    temporary file is removed and ``path`` is left as it was."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_report(results: Sequence[CheckResult], out_dir: str | Path, *, profile: str, seed: int,
                 crashed: dict[str, str] | None = None, instance: str | None = None,
                 notes: Sequence[str] = (), appendices: Sequence[tuple[str, str]] = (),
                 status: RunStatus = RunStatus(), executor: str = "in-process",
                 extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and ``results.json`` into ``out_dir``; return the paths of
    ``report.md`` and ``results.json`` (``report.html`` is beside them). ``extra``: top-level keys other
    modules add to ``results.json`` (e.g. ``coverage``); the page renders ``coverage`` when present.

    ``opdcheck run`` calls this on a fresh staging folder that it then moves into place
    (``opdcheck.cli``), so a report and its figures always come from one run.
    """
    from opdcheck.paper_checks.html_report import render_html
    from opdcheck.provenance import run_stamp

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    js = out / "results.json"
    stamp = run_stamp(executor)
    payload = results_payload(results, profile=profile, seed=seed, crashed=crashed, instance=instance,
                              notes=notes, appendices=appendices, status=status, executor=executor, stamp=stamp)
    for k, v in (extra or {}).items():
        if k in payload:
            raise ValueError(f"extra[{k!r}]: results.json already has this key; pass a new top-level key.")
        payload[k] = to_jsonable(v)
    text = render_markdown(results, profile=profile, seed=seed, crashed=crashed, instance=instance,
                           notes=notes, appendices=appendices, status=status, stamp=stamp)
    with folder_lock(out):  # two writers on one folder: each set (results.json, report.md, report.html) lands whole
        _write_atomic(js, json.dumps(payload, indent=1))
        _write_atomic(md, text)
        _write_atomic(out / "report.html", render_html(payload, out))
    return md, js
