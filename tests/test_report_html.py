"""report.html, report.md, results.json: built from one dict, validated against the shipped schema,
headlines generated from findings, escaping, outward-rounded enclosures, the terminal summary."""
import json
import re
from fractions import Fraction
from importlib import resources

import jsonschema
import numpy as np
import pytest

from opdcheck.cli import EXIT_OK, main, summary_lines
from opdcheck.intervals import format_bound, format_enclosure, outward
from opdcheck.paper_checks.html_report import anchor, render_html
from opdcheck.paper_checks.report import numbers_as_numbers, render_markdown, results_payload, write_report
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict, headline
from opdcheck.paper_checks.richtext import latex_to_html, markdown_to_html

# a real Witness from the replay layer (a dict of flags is not evidence): the exact replay of Lemma B.4's counterexample

from opdcheck.numerics.replay import exact as _ew  # noqa: E402

WITNESS = _ew.replay_b4_witness(Fraction(3, 4), Fraction(3, 4), (1, 0, -1), "-13/36")


def _schema():
    return json.loads(resources.files("opdcheck.paper_checks").joinpath("results.schema.json").read_text())


def _result(**kw):
    base = dict(verdict=None, computed=1.2, stated=1.0, comparison="<=", summary="",
                findings=[Finding("rate", "r <= 1", "REFUTED", 1.2, 1.0, "<=", sentence="measured 1.2 > 1. More text.",
                                  judged=3, witness=WITNESS),
                          Finding("constant", "C = 2", "CONFIRMED", 2, 2, sentence="derived 2")],
                controls=[Control("toy", "positive", True, "ok"), Control("broken", "negative", True, "caught")],
                evidence=[{"instance": "random(X=4,n=5,h=3,beta=0.1,seed=1234567890)", "ratio": "0.21"}], judged=3)
    base.update(kw)
    r = CheckResult(**base)
    r.id, r.paper_ref, r.claim = kw.get("id", "demo"), "Thm 0.0", "x <= 1"
    return r


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """One real run of two quick checks (a REFUTED with its witness, an INCONSISTENT) through the CLI, in this process
    (``--jobs 1``: the report does not depend on where the checks ran, tests/test_paper_checks_dispatch.py
    test_whole_checks_in_parallel_write_the_serial_report; starting worker processes cost more than the two checks)."""
    out = tmp_path_factory.mktemp("run") / "report"
    assert main(["run", "dual-step-scale", "lemma-B.5", "--out", str(out), "--quiet", "--jobs", "1"]) == EXIT_OK
    return out


def test_schema_is_valid_and_a_real_run_validates(real_run):
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    payload = json.loads((real_run / "results.json").read_text())
    jsonschema.validate(payload, schema)
    prov = payload["provenance"]
    assert prov["opdcheck_version"] and prov["python"] and prov["profile"] == "quick" and prov["seed"] == 0
    for dep in ("numpy", "scipy", "sympy", "cvxpy", "clarabel", "highspy", "numba"):
        assert prov["dependencies"][dep], dep
    assert payload["timing"]["date"].endswith("+00:00") and payload["timing"]["executor"]


def test_schema_catches_a_broken_payload(real_run):
    # negative control: the schema is not vacuous
    payload = json.loads((real_run / "results.json").read_text())
    payload["results"][0]["verdict"] = "MAYBE"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, _schema())
    payload = json.loads((real_run / "results.json").read_text())
    del payload["provenance"]["dependencies"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, _schema())


def test_real_run_html_links_and_figures(real_run):
    html = (real_run / "report.html").read_text()
    payload = json.loads((real_run / "results.json").read_text())
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    links = re.findall(r'href="#([^"]+)"', html)
    assert links and all(link in ids for link in links)
    for r in payload["results"]:
        assert anchor(r["id"]) in ids and f'href="#{anchor(r["id"])}"' in html
        assert r["headline"] in html.replace("&#39;", "'").replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # no network
    assert "<script" not in html


def test_markdown_is_short_and_links(real_run):
    md = (real_run / "report.md").read_text()
    for r in json.loads((real_run / "results.json").read_text())["results"]:
        assert f"](#{anchor(r['id'])})" in md and f'<a id="{anchor(r["id"])}"></a>' in md
    assert md.index("## Verdicts") < md.index("## `")


def test_figures_are_inlined(tmp_path):
    (tmp_path / "figures").mkdir()
    from opdcheck.paper_checks.figures import plt, save_figure

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "figures" / "demo.png")
    r = _result(figures=["figures/demo.png", "figures/missing.png"])
    payload = results_payload([r], profile="quick", seed=0)
    html = render_html(payload, tmp_path)
    assert html.count('src="data:image/png;base64,') == 1
    assert "missing from the report folder: figures/missing.png" in html


def test_headline_is_generated_from_findings():
    r = _result()
    assert r.verdict is Verdict.REFUTED and r.headline == "rate: measured 1.2 > 1."
    assert headline("CONFIRMED", [], "On 3 instances it holds. Then more.") == "On 3 instances it holds."
    long = headline("CONFIRMED", [], "word " * 100)
    assert len(long) <= 170 and long.endswith("…")
    # a downgraded verdict says so first
    d = _result(id="d", findings=[], verdict="REFUTED", witness=None)
    assert d.verdict is Verdict.INCONCLUSIVE and d.headline.startswith("downgraded:")


def test_html_escapes_everything_from_outside(tmp_path):
    evil = '<script>alert(1)</script> & "q"'
    r = _result(summary=evil, instances=[{"name": evil, "seed": 1}], evidence=[{"instance": evil}],
                conventions=[evil], details=f"**x** $\\lambda$ {evil}")
    html = render_html(results_payload([r], profile="quick", seed=0, instance=evil, notes=[evil]), tmp_path)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_richtext_formulas_are_unicode():
    assert str(latex_to_html(r"\pi^\star \propto \pi_{ref} e^{S_\lambda/\beta}")) == \
        "π<sup>⋆</sup> ∝ π<sub>ref</sub> e<sup>S<sub>λ</sub>/β</sup>"
    assert str(latex_to_html(r"\tfrac74\eta_\lambda - \sqrt{h}R_{\max}")) == "7⁄4η<sub>λ</sub> - √hR<sub>max</sub>"
    out = str(markdown_to_html("- a $x_1$\n- b\n\n| c | d |\n|---|---|\n| 1 | 2 |"))
    assert "<ul><li>a" in out and "<table" in out and "<td>2</td>" in out


def test_numbers_as_numbers():
    rows = numbers_as_numbers([{"a": "0.21", "b": "1e+25", "c": "-", "d": "1.00000000000000000000000012", "e": "7"}])
    assert rows == [{"a": 0.21, "b": 1e25, "c": "-", "d": "1.00000000000000000000000012", "e": 7}]
    payload = results_payload([_result()], profile="quick", seed=0)
    assert payload["results"][0]["evidence"][0]["ratio"] == 0.21
    assert payload["results"][0]["evidence"][0]["instance"].endswith("seed=1234567890)")  # names are never cut


def test_coverage_is_rendered_when_present(tmp_path):
    # the claims register's coverage is part of every report (results.json's "coverage", the report's section)
    md, js = write_report([_result()], tmp_path, profile="quick", seed=0)
    payload = json.loads(js.read_text())
    jsonschema.validate(payload, _schema())
    assert payload["coverage"]["statements"] >= 80
    html = (tmp_path / "report.html").read_text()
    assert 'id="coverage"' in html and "thm-3.4" in html
    with pytest.raises(ValueError, match="extra\\['results'\\]"):
        write_report([_result()], tmp_path, profile="quick", seed=0, extra={"results": []})


# ------------------------------------------------------------------ outward rounding
def test_printed_enclosure_contains_the_exact_value():
    # the toy at beta = 1: r^2 = 0.9244350851...; rounding to nearest printed [0.924434, 0.924435], which misses it
    from opdcheck.api import certify_local_rate as certify
    from opdcheck.instances import paper_toy

    c = certify(paper_toy(1.0), measure=False)
    lo, hi = c.error_rate
    assert lo <= Fraction("0.9244350851") <= hi
    for places in range(3, 12):
        text = format_enclosure(lo, hi, places)
        a, b = (Fraction(x) for x in text.strip("[]").split(", "))
        assert a <= lo and hi <= b, (places, text)
        assert b - a <= Fraction(2, 10 ** places) + (hi - lo)
    assert format_enclosure(lo, hi, 6) == "[0.924435, 0.924436]"
    # the certify command prints it outward too
    text = str(c)
    printed = re.search(r"error rate r\^2 in \[([0-9.]+), ([0-9.]+)\]", text)
    assert Fraction(printed.group(1)) <= lo and hi <= Fraction(printed.group(2))


def test_outward_rounding_negative_control():
    # nearest rounding would give [0.924435, 0.924435]; outward must widen
    lo, hi = Fraction(9244350849, 10**10), Fraction(9244350859, 10**10)
    assert format_enclosure(lo, hi, 6) == "[0.924435, 0.924436]"
    assert f"[{float(lo):.6f}, {float(hi):.6f}]" == "[0.924435, 0.924435]"  # the bug outward rounding fixes
    assert outward(-0.15, 0.15, 1) == (Fraction(-2, 10), Fraction(2, 10))
    assert format_bound(Fraction(1, 3), 3, direction="lower") == "0.333"
    assert format_bound(Fraction(1, 3), 3, direction="upper") == "0.334"
    with pytest.raises(ValueError, match="lo > hi"):
        outward(1, 0, 3)
    with pytest.raises(ValueError, match="not finite"):
        outward(float("nan"), 1, 3)


# ------------------------------------------------------------------ terminal
def test_terminal_summary_is_one_line_per_check():
    rs = [_result(id="a"), _result(id="bb", findings=[], verdict="CONFIRMED", summary="fine. " * 50)]
    text = summary_lines(rs, {"boom": "Traceback\nValueError: bad"}, width=100)
    lines = text.splitlines()
    assert len(lines) == 3 and all(len(x) <= 100 for x in lines)
    assert lines[0].startswith("a ") and "REFUTED" in lines[0] and "rate: measured 1.2 > 1." in lines[0]
    assert "CRASHED" in lines[2] and "ValueError: bad" in lines[2]


def test_run_prints_summary_not_the_markdown_table(real_run, capsys, tmp_path):
    assert main(["run", "dual-step-scale", "--out", str(tmp_path / "r"), "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "|---" not in out and "dual-step-scale" in out and "INCONSISTENT" in out
    assert "report.html" in out and len(out.splitlines()) <= 4


def test_version_and_help(capsys):
    from opdcheck import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"opdcheck {__version__}"
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text and "130" in text
    for opt in ("--profile", "--seed", "--out", "--jobs"):
        assert opt in text
    assert "(default: quick)" in text and "(default: 0)" in text
    assert main(["solve", "--help"]) == 0
    assert "(default: auto)" in capsys.readouterr().out


def test_solve_json_and_cross_check_table(tmp_path, capsys):
    from opdcheck.instances import paper_toy, save_problem

    f = save_problem(paper_toy(0.05), tmp_path / "toy.npz")
    assert main(["solve", str(f), "--json"]) == EXIT_OK
    d = json.loads(capsys.readouterr().out)
    assert d["lam"] == pytest.approx([1.0], abs=1e-8) and isinstance(d["duality_gap"], float)
    assert np.allclose(d["pi"], [[0.3, 0.7]], atol=1e-8) and d["cross_check"] is None
    assert main(["solve", str(f), "--cross-check"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "cross-check (dual Newton vs cvxpy/Clarabel): AGREE" in out
    assert re.search(r"^\s+pi_diff\s+\S+\s+1\.0e-07\s+ok", out, re.M)
    assert "{" not in out.split("cross-check")[1]  # a table, not a raw dict


def test_markdown_sections_are_compact():
    text = render_markdown([_result()], profile="quick", seed=0)
    assert "**rate** (REFUTED; stated 1, computed 1.2): measured 1.2 > 1. More text." in text
    assert "witness: method: exact fractions.Fraction (no sympy)" in text and "**Controls:** 2 of 2 passed." in text
