"""Every check's verdict as a reader sees it -- report.md's verdict table and section headings, report.html's
verdict table, section headings and tally -- is the verdict in results.json, on the session's real quick run
(where some checks' first finding carries another verdict than the check's, so a writer that shows a finding's
verdict instead of the check's is caught)."""
from __future__ import annotations

import json
import re
from collections import Counter

from quick_profile_run import quick_results

from opdcheck.paper_checks.display import tally
from opdcheck.paper_checks.html_report import render_html
from opdcheck.paper_checks.report import write_report

V = r"(REFUTED|INCONSISTENT|INCONCLUSIVE|CONFIRMED|CRASHED)"


def test_every_verdict_a_reader_sees_is_the_checks_verdict(tmp_path, unrendered_figures):
    _, outcomes = quick_results()
    results = [r for r in outcomes.values() if not isinstance(r, Exception)]
    # the test has power only if some check's first finding disagrees with the check
    assert any(r.findings and r.findings[0].verdict != r.verdict for r in results)
    md_path, js_path = write_report(results, tmp_path, profile="quick", seed=0)
    payload = json.loads(js_path.read_text())
    want = {r["id"]: r["verdict"] for r in payload["results"]}
    assert want == {r.id: r.verdict.value for r in results}

    md = md_path.read_text()
    table = dict(re.findall(r"^\| \[`([^`]+)`\]\(#[^)]*\) \| .*? \| \*\*" + V + r"\*\* \|", md, re.M))
    headings = dict(re.findall(r"^## `([^`]+)` — " + V + r"\s*$", md, re.M))
    assert table == want and headings == want
    assert tally(list(want.values()), 0) in md

    html = render_html(payload, tmp_path)
    rows = dict(re.findall(r'<tr><td class="id"><a href="#[^"]*">([^<]+)</a></td><td class="ref"[^>]*>.*?</td>'
                           r'<td><span class="v v-' + V + r'">', html))
    heads = dict(re.findall(r'<h2 id="[^"]*"><code>([^<]+)</code> <span class="v v-' + V + r'">', html))
    assert rows == want and heads == want
    assert tally(list(want.values()), 0) in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert Counter(want.values()) == Counter(r.verdict.value for r in results)


def _sections(text: str, pattern: str) -> dict[str, str]:
    """check id -> the text of its section (from its heading to the next heading)."""
    heads = list(re.finditer(pattern, text, re.M))
    return {m.group(1): text[m.end(): heads[i + 1].start() if i + 1 < len(heads) else len(text)]
            for i, m in enumerate(heads)}


def test_every_finding_verdict_and_control_count_a_reader_sees_is_in_results_json(tmp_path, unrendered_figures):
    """Each finding's verdict in report.md's and report.html's findings tables, and each check's count of passed
    controls, is what results.json holds -- on the session's quick run plus one check with a control planted to
    fail (so a writer that shows the check's verdict for every finding, or counts every control as passed, is
    caught)."""
    import copy

    _, outcomes = quick_results()
    results = [copy.deepcopy(r) for r in outcomes.values() if not isinstance(r, Exception)]
    broken = next(r for r in results if r.id == "lemma-B.5")
    broken.controls[0].passed = False
    broken._settle()
    assert broken.verdict.value == "INCONCLUSIVE" and all(f.held_back for f in broken.findings)
    # the test has power only if some finding's verdict is not its check's
    assert any(f.verdict != r.verdict for r in results for f in r.findings)
    md_path, js_path = write_report(results, tmp_path, profile="quick", seed=0)
    payload = json.loads(js_path.read_text())
    want_f = {r["id"]: [f["verdict"] for f in r["findings"]] for r in payload["results"]}
    want_c = {r["id"]: (sum(bool(c["passed"]) for c in r["controls"]), len(r["controls"])) for r in payload["results"]}
    assert want_c["lemma-B.5"][0] < want_c["lemma-B.5"][1]

    md = _sections(md_path.read_text(), r"^## `([^`]+)` — " + V + r"\s*$")
    html = _sections(render_html(payload, tmp_path), r'<h2 id="[^"]*"><code>([^<]+)</code>')
    assert set(md) == set(want_f) and set(html) == set(want_f)
    for cid, verdicts in want_f.items():
        table = md[cid].split("| finding | verdict |", 1)
        if len(table) == 2:  # report.md lists every finding when some are not the lead
            rows = [ln for ln in table[1].splitlines()[2:] if ln.startswith("| ")]
            assert [re.search(r"\*\*" + V + r"\*\*", ln.split(" | ")[1]).group(1) for ln in rows] == verdicts, cid
        if verdicts:
            folded = html[cid].split("All findings", 1)[1]
            got = re.findall(r'<tr><td>[^<]*</td><td><span class="v v-' + V + r'">', folded)
            assert got == verdicts, cid
        if want_c[cid][1]:
            k, n = want_c[cid]
            assert f"**Controls:** {k} of {n} passed" in md[cid], cid
            assert f"Controls ({k} of {n} passed)" in html[cid], cid
