"""The report writer: verdict table first, schema-versioned JSON, NaN-safe, stated side never None."""
import json

import numpy as np
import pytest

from opdcheck.paper_checks.report import SCHEMA_VERSION, render_markdown, write_report
from opdcheck.paper_checks.result import CheckResult, Verdict


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
    assert _result(verdict="REFUTED").verdict is Verdict.REFUTED
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
