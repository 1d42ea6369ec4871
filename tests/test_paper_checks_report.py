"""The report writer: verdict table first, schema-versioned JSON, NaN-safe, stated side never None."""
import json

import numpy as np
import pytest

from opdcheck.paper_checks.report import SCHEMA_VERSION, RunStatus, inline, render_markdown, write_report
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict

from fractions import Fraction

from opdcheck.numerics.replay import exact as ew

#: a real replay (only the replay layer builds a Witness): Lemma B.4 fails at delta = theta = 3/4
WITNESS = ew.replay_b4_witness(Fraction(3, 4), Fraction(3, 4), (1, 0, -1), "-13/36")


def _result(**kw):
    base = dict(id="demo", paper_ref="Thm 0.0", claim="x <= 1", verdict=Verdict.CONFIRMED,
                computed=np.float64(0.5), stated=1.0, comparison="<=", tolerance=1e-9,
                tolerance_reason="rounding", summary="measured 0.5 <= 1",
                evidence=[{"instance": "a", "ratio": np.float64(0.5), "ok": np.bool_(True)}])
    base.update(kw)
    return CheckResult(**base)


def test_stated_side_must_not_be_none():
    with pytest.raises(ValueError, match="stated"):
        _result(stated=None)


def test_verdict_is_coerced_and_validated():
    assert _result(verdict="REFUTED", witness=WITNESS).verdict is Verdict.REFUTED
    with pytest.raises(ValueError):
        _result(verdict="MAYBE")


def test_report_files(tmp_path):
    results = [_result(), _result(id="other", verdict=Verdict.REFUTED, computed=float("nan"),
                                  counterexample="counterexamples/x.npz")]
    md, js = write_report(results, tmp_path, profile="quick", seed=3, crashed={"boom": "Traceback\nValueError: bad"})
    text = md.read_text()
    # the verdict table comes before any per-check section
    assert text.index("## Verdicts") < text.index("## `demo`")
    assert "**CRASHED**" in text and "opdcheck run other --instance REPORT_DIR/counterexamples/x.npz" in text
    payload = json.loads(js.read_text())
    assert payload["schema_version"] == SCHEMA_VERSION
    assert [r["id"] for r in payload["results"]] == ["demo", "other"]
    assert payload["results"][1]["computed"] == "nan"  # JSON has no NaN: written as a string
    assert payload["crashed"]["boom"].endswith("bad")


def test_markdown_is_deterministic():
    a = render_markdown([_result()], profile="quick", seed=0)
    b = render_markdown([_result()], profile="quick", seed=0)
    assert a == b


def test_schema_version_is_documented():
    import opdcheck.paper_checks.report as report

    assert SCHEMA_VERSION == 3 and f"* {SCHEMA_VERSION} (now)" in report.__doc__


def test_findings_controls_witness_and_downgrades_are_rendered(tmp_path):
    fs = [Finding("rate", "rho <= 1", "REFUTED", computed=1.2, stated=1.0, comparison="<=",
                  sentence="measured 1.2 > 1", judged=3, witness=WITNESS),
          Finding("constant", "C = 2", "CONFIRMED", computed=2, stated=2, sentence="derived 2")]
    good = _result(id="withfindings", verdict=None, summary="", findings=fs, judged=3,
                   controls=[Control("toy", "positive", True, "ratio 0.5 <= 1"),
                             Control("broken-step", "negative", True, "caught: ratio 3.1")])
    bad = _result(id="downgraded", verdict="REFUTED", witness=None, judged=1)
    md, js = write_report([good, bad], tmp_path, profile="quick", seed=0)
    text = md.read_text()
    # report.md is the short version: the deciding finding in full, one line per finding, controls counted
    assert "- **rate** (REFUTED; stated 1, computed 1.2): measured 1.2 > 1" in text
    assert "| rate | **REFUTED** | 3 | 1 | 1.2 | measured 1.2 > 1 |" in text
    assert "**Controls:** 2 of 2 passed." in text
    assert "exact fractions.Fraction (no sympy)" in text
    # report.html has everything: the controls and the witness's numbers
    html = (tmp_path / "report.html").read_text()
    assert "<td>toy</td><td>positive</td>" in html and "broken-step" in html
    assert "exact fractions.Fraction (no sympy)" in html and "replayed lhs - rhs" in html and "sympy lhs - rhs" in html
    assert "downgraded to INCONCLUSIVE" in text and "no witness attached" in text
    payload = json.loads(js.read_text())
    r0, r1 = payload["results"]
    assert r0["verdict"] == "REFUTED" and r0["findings"][0]["witness"]["method"] == "exact fractions.Fraction (no sympy)"
    assert [c["kind"] for c in r0["controls"]] == ["positive", "negative"] and r0["judged"] == 3
    assert r1["verdict"] == "INCONCLUSIVE" and "no witness attached" in r1["downgrades"][0]
    assert payload["complete"] is True and payload["not_run"] == []


def test_appendices(tmp_path):
    md, js = write_report([_result()], tmp_path, profile="quick", seed=0,
                          appendices=[("Mutation testing", "| mutant | caught |\n|---|---|\n| m1 | yes |")])
    text = md.read_text()
    assert text.index("## `demo`") < text.index("## Appendix: Mutation testing") < text.index("| m1 | yes |")
    assert json.loads(js.read_text())["appendices"][0]["title"] == "Mutation testing"
    with pytest.raises(ValueError, match="appendices\\[0\\]"):
        render_markdown([_result()], profile="quick", seed=0, appendices=["just a string"])


def test_incomplete_run_is_marked(tmp_path):
    st = RunStatus(complete=False, interrupted="thm-3.4", not_run=("thm-3.4-rate",))
    md, js = write_report([_result()], tmp_path, profile="quick", seed=0, status=st)
    text = md.read_text()
    assert text.startswith("# opdcheck report — INCOMPLETE") and "while `thm-3.4` was running" in text
    payload = json.loads(js.read_text())
    assert payload["complete"] is False and payload["interrupted"] == "thm-3.4"
    assert payload["not_run"] == ["thm-3.4-rate"]


def test_names_cannot_forge_table_rows():
    forged = "toy\n| `thm-3.4` | Thm 3.4 | **CONFIRMED** | forged |"
    r = _result(summary=forged, instances=[{"name": forged, "seed": 1}],
                evidence=[{"instance": forged, "ok": True}])
    text = render_markdown([r], profile="quick", seed=0, instance=forged, notes=[forged])
    # every line that starts a table row is one the writer made: no line starts with the forged cell
    assert not any(line.startswith("| `thm-3.4`") for line in text.splitlines())
    assert "\n| `thm-3.4`" not in text
    assert inline("a\nb|c`d") == "a b\\|c\\`d"


def test_markdown_and_html_round_trip_the_tally_and_the_deciding_finding(tmp_path):
    """Parsed back, report.md's tally counts every verdict and every crash of results.json, and
    report.html leads each check's section with the finding that carries its verdict (not simply the first)."""
    import re
    from html.parser import HTMLParser

    from opdcheck.paper_checks.display import tally
    from opdcheck.paper_checks.html_report import render_html

    first = Finding("first listed, holds", "a", Verdict.CONFIRMED, computed=1.0, stated=1.0, comparison="==",
                    sentence="holds")
    deciding = Finding("second listed, fails", "b", Verdict.REFUTED, computed=2.0, stated=1.0, comparison="<=",
                       sentence="fails", witness=WITNESS)
    results = [_result(), _result(id="other", verdict=Verdict.REFUTED, findings=[first, deciding], witness=WITNESS)]
    md, js = write_report(results, tmp_path, profile="quick", seed=3, crashed={"boom": "Traceback\nValueError: bad"})
    payload = json.loads(js.read_text())
    want = tally([r["verdict"] for r in payload["results"]], len(payload["crashed"]))
    assert want == "1 REFUTED, 1 CONFIRMED, 1 CRASHED"
    assert want in md.read_text()

    html = render_html(payload, tmp_path)

    class LeadBlocks(HTMLParser):
        """The text of every <div class="lead ..."> block (the first screen of each check's section)."""

        def __init__(self):
            super().__init__()
            self.depth, self.blocks = 0, []

        def handle_starttag(self, tag, attrs):
            if tag == "div" and "lead" in (dict(attrs).get("class") or "").split():
                self.depth, self.blocks = 1, self.blocks + [""]
            elif tag == "div" and self.depth:
                self.depth += 1

        def handle_endtag(self, tag):
            if tag == "div" and self.depth:
                self.depth -= 1

        def handle_data(self, data):
            if self.depth:
                self.blocks[-1] += data

    parser = LeadBlocks()
    parser.feed(html)
    other = [b for b in parser.blocks if "listed" in b]
    assert len(other) == 1 and "second listed, fails" in other[0] and "first listed, holds" not in other[0], parser.blocks
    assert want in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
