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
