"""Strings from an instance file reach report.md inert: no raw HTML, autolink, entity or link."""
import json
import re

import pytest

from opdcheck.cli import EXIT_OK, main
from opdcheck.instances import paper_toy, save_problem
from opdcheck.paper_checks import registry
from opdcheck.paper_checks.report import inline
from opdcheck.paper_checks.result import CheckResult, Verdict

HOSTILE = [
    "<script>alert(1)</script>",
    "[click me](javascript:alert(1))",
    "<javascript:alert(1)>",
    "<img src=x onerror=alert(1)>",
    "![x](javascript:alert(1))",
    "&lt;script&gt;",
    "<!-- comment",
    "`code` | cell",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_inline_makes_markup_inert(name):
    out = inline(name)
    assert not re.search(r"<[A-Za-z/!?]", out)          # no tag, comment or autolink can open
    assert not re.search(r"(?<!\\)\]\(", out)            # no link or image target
    assert not re.search(r"(?<!\\)[|`]", out)            # no table cell or code span break
    assert not re.search(r"&(?!amp;|lt;)#?[A-Za-z0-9]+;", out)


def test_inline_keeps_ordinary_comparisons():
    assert inline("a <= b, x < 1, 2 > 1") == "a <= b, x < 1, 2 > 1"


def _echo_check(ctx):
    name = ctx.instance.name
    return CheckResult(id="esc", paper_ref="t", claim="t", verdict=Verdict.CONFIRMED, computed=1, stated=1,
                       comparison="identity", judged=1, summary=f"ran on {name}", instances=[{"name": name}])


@pytest.mark.parametrize("name", HOSTILE[:5])
def test_a_planted_instance_name_is_escaped_in_report_md(tmp_path, monkeypatch, name):
    monkeypatch.setitem(registry._REGISTRY, "esc", registry.Check("esc", "t", "t", "", _echo_check, order=0,
                                                                  accepts_instance=True))
    f = save_problem(paper_toy(), tmp_path / "toy.json")
    payload = json.loads(f.read_text())
    payload["name"] = name
    f.write_text(json.dumps(payload))
    out = tmp_path / "r"
    assert main(["run", "esc", "--instance", str(f), "--out", str(out), "--quiet"]) == EXIT_OK
    text = (out / "report.md").read_text()
    assert not re.search(r"<(script|img|javascript)", text)
    assert not re.search(r"(?<!\\)\]\(javascript", text)
    # results.json keeps the name as data (escaped only where it is rendered)
    assert json.loads((out / "results.json").read_text())["results"][0]["instances"][0]["name"]
