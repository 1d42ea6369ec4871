"""``report.html``: one self-contained page built from the same dict as ``results.json``.

The verdict table of one-line headlines comes first, each row linking to its check's section; a
section leads with the claim, the reading judged and the strongest evidence (the deciding finding,
its independent witness, the first figure), and folds the rest (all findings, controls, derivation,
per-instance tables, instances) into ``<details>`` blocks. Figures are inlined as base64 PNG and
formulas are plain Unicode/HTML (:mod:`opdcheck.paper_checks.richtext`), so the page needs no network.
The template (``templates/report.html.j2``) is rendered by jinja2 with autoescape on: every string
from a check or from outside is escaped; only the HTML that ``richtext`` builds (itself escaped first)
is inserted as markup.

Example:
    >>> html = render_html({"results": [], "crashed": {}, "profile": "quick", "seed": 0})
    >>> html.startswith("<!DOCTYPE html>") and 'id="verdicts"' in html
    True
"""
from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from opdcheck.paper_checks.display import PAPER, display, tally
from opdcheck.paper_checks.result import headline
from opdcheck.paper_checks.richtext import markdown_to_html

__all__ = ["render_html", "anchor"]

_ORDER = {"REFUTED": 0, "INCONSISTENT": 1, "INCONCLUSIVE": 2, "CONFIRMED": 3}

#: per-instance tables longer than this are cut in the page (the whole table stays in results.json)
EVIDENCE_ROWS = 200


def anchor(check_id: str) -> str:
    """The HTML id of a check's section (letters, digits, '-', '_', '.' only); report.md uses the same."""
    return "check-" + re.sub(r"[^A-Za-z0-9_.-]", "_", str(check_id))


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("opdcheck.paper_checks", "templates"),
                              autoescape=True, trim_blocks=False, lstrip_blocks=False,
                              undefined=jinja2.StrictUndefined)


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 0, 0


def _figure(rel: str, report_dir: Path | None, check_id: str) -> dict | None:
    """A figure inlined as a data: URI; None when the file is absent (the page then names it as missing)."""
    if report_dir is None:
        return None
    path = (report_dir / rel)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    w, _ = _png_size(data)
    return {"src": "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
            "alt": f"{check_id}: {Path(rel).name}", "name": Path(rel).name, "width": min(w, 900) or 640}


def _readings(findings: list[dict]) -> str:
    seen: list[str] = []
    for f in findings:
        label = f.get("reading") or ""
        if f.get("statement"):
            label = f"{f['statement']}: {label}" if label else f["statement"]
        if label and label not in seen:
            seen.append(label)
    return "; ".join(seen)


def _witness_rows(w: dict, title: str) -> dict:
    flags = ", ".join(f"{k} = {'yes' if w.get(k) else 'no'}" for k in ("replayed", "confirms", "agrees") if k in w)
    rows = [(k, display(v)) for k, v in w.items() if k not in ("replayed", "confirms", "agrees", "method")]
    return {"title": title, "method": w.get("method", "method not stated"), "flags": flags, "rows": rows}


def _table(rows: list[dict], limit: int) -> dict:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    body = [[display(r.get(c, "")) for c in cols] for r in rows[:limit]]
    return {"cols": cols, "rows": body, "n": len(rows), "more": max(0, len(rows) - limit)}


def _result_context(r: dict, report_dir: Path | None) -> dict:
    findings = list(r.get("findings") or [])
    verdict = r.get("verdict", "INCONCLUSIVE")
    lead = [f for f in findings if f.get("verdict") == verdict] or findings[:1]
    lead_ctx = [{"name": f.get("name", ""), "verdict": f.get("verdict", ""),
                 "sentence": f.get("sentence", ""), "stated": display(f.get("stated")),
                 "computed": display(f.get("computed")), "comparison": f.get("comparison", "")} for f in lead]
    if not lead_ctx:  # a check without findings: its generated summary is its evidence
        lead_ctx = [{"name": "summary", "verdict": verdict, "sentence": r.get("summary", ""),
                     "stated": display(r.get("stated")), "computed": display(r.get("computed")),
                     "comparison": r.get("comparison", "")}]
    witnesses = [_witness_rows(f["witness"], f"Independent replay of finding “{f.get('name', '')}”"
                               + (" (not decisive: the finding is held back)" if f.get("held_back") else ""))
                 for f in lead if f.get("witness")]
    if r.get("witness"):
        witnesses.append(_witness_rows(r["witness"], "Independent replay (witness)"))
    figs = [_figure(p, report_dir, r.get("id", "")) for p in r.get("figures") or []]
    missing = [p for p, f in zip(r.get("figures") or [], figs) if f is None]
    figs = [f for f in figs if f is not None]
    cx = r.get("counterexample")
    if cx and str(cx).endswith(".npz"):
        replay = Markup("reproduce with <code>opdcheck run {} --instance REPORT_DIR/{}</code>").format(r.get("id"), cx)
    elif cx:
        replay = Markup("a witness file; <code>opdcheck run {}</code> recomputes it exactly").format(r.get("id"))
    else:
        replay = ""
    instances = list(r.get("instances") or [])
    inst = _table(instances, 10_000) if instances else {"cols": [], "rows": []}
    controls = list(r.get("controls") or [])
    tol = r.get("tolerance")
    return {
        "id": r.get("id", ""), "anchor": anchor(r.get("id", "")), "paper_ref": r.get("paper_ref", ""),
        "claim": r.get("claim", ""), "verdict": verdict,
        "headline": r.get("headline") or headline(verdict, findings, r.get("summary", ""),
                                                  downgrades=r.get("downgrades") or ()),
        "time": f"{float(r.get('wall_time') or 0):.1f} s", "profile": r.get("profile", ""), "seed": r.get("seed", ""),
        "readings": _readings(findings), "downgrades": r.get("downgrades") or [], "lead": lead_ctx,
        "witnesses": witnesses, "figures": figs, "missing_figures": missing,
        "counterexample": cx, "replay": replay,
        "findings": [{"name": f.get("name", ""), "verdict": f.get("verdict", ""),
                      "register": " · ".join(str(x) for x in (f.get("statement"), f.get("reading"), f.get("severity")) if x),
                      "judged": f.get("judged", ""), "stated": display(f.get("stated")),
                      "computed": display(f.get("computed")), "sentence": f.get("sentence", "")}
                     for f in findings],
        "stated": display(r.get("stated")), "computed": display(r.get("computed")), "comparison": r.get("comparison", ""),
        "tolerance": (f"{display(tol)} — {r.get('tolerance_reason', '')}" if tol is not None else ""),
        "judged": r.get("judged"), "summary": r.get("summary", ""),
        "controls": controls, "controls_passed": sum(bool(c.get("passed")) for c in controls),
        "details": markdown_to_html(r.get("details", "")) if r.get("details") else "",
        "evidence": _table(r["evidence"], EVIDENCE_ROWS) if r.get("evidence") else None,
        "conventions": list(r.get("conventions") or []),
        "instances": instances, "instance_cols": inst["cols"], "instance_rows": inst["rows"],
    }


def _coverage_html(value: Any) -> Markup:
    """The claims register's coverage (a top-level ``coverage`` key), rendered whatever its shape:
    a list of records as a table, a mapping as a key/value table, anything else as text."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        t = _table(value, 10_000)
        head = "".join(Markup("<th>{}</th>").format(c) for c in t["cols"])
        rows = "".join(Markup("<tr>{}</tr>").format(Markup("").join(Markup("<td>{}</td>").format(v) for v in row))
                       for row in t["rows"])
        return Markup('<table class="data"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>').format(head, rows)
    if isinstance(value, dict):
        rows = Markup("").join(Markup("<tr><th>{}</th><td>{}</td></tr>").format(k, _coverage_html(v))
                               for k, v in value.items())
        return Markup('<table class="data"><tbody>{}</tbody></table>').format(rows)
    if isinstance(value, str):
        return markdown_to_html(value)
    return Markup("{}").format(display(value))


def render_html(payload: dict, report_dir: str | Path | None = None) -> str:
    """The page for ``payload`` (the dict written to ``results.json``); figures are read from
    ``report_dir`` (their paths in the payload are relative to it) and inlined."""
    rd = Path(report_dir) if report_dir is not None else None
    results = [_result_context(r, rd) for r in payload.get("results", [])]
    # the verdict table answers "which claims fail and why" first: strongest verdict first, run order within
    table = sorted(results, key=lambda r: _ORDER.get(r["verdict"], len(_ORDER)))
    crashed = [{"id": cid, "anchor": anchor(cid), "traceback": err,
                "last_line": (err.strip().splitlines() or [""])[-1]} for cid, err in (payload.get("crashed") or {}).items()]
    prov = dict(payload.get("provenance") or {})
    timing = dict(payload.get("timing") or {})
    prov.setdefault("opdcheck_version", payload.get("opdcheck_version", ""))
    prov["date"] = timing.get("date", "")
    rows = [(k, display(v)) for k, v in prov.items() if k not in ("dependencies",)]
    rows += [(f"version of {k}", v or "not installed") for k, v in (prov.get("dependencies") or {}).items()]
    rows += [("executor", timing.get("executor", "")), ("total check time", f"{float(timing.get('wall_time_total') or 0):.1f} s")]
    appendices = [{"title": a.get("title", ""), "html": markdown_to_html(a.get("markdown", ""))}
                  for a in payload.get("appendices") or []]
    coverage = payload.get("coverage")
    return _environment().get_template("report.html.j2").render(
        paper=payload.get("paper", PAPER), complete=payload.get("complete", True),
        interrupted=payload.get("interrupted"), not_run=payload.get("not_run") or [],
        tally=tally([r["verdict"] for r in results], len(crashed)), profile=payload.get("profile", ""),
        seed=payload.get("seed", ""), instance=payload.get("instance"), provenance=prov, provenance_rows=rows,
        conventions=list(payload.get("conventions") or []), notes=list(payload.get("notes") or []),
        coverage=_coverage_html(coverage) if coverage else None,
        table=table, results=results, crashed=crashed, appendices=appendices)
