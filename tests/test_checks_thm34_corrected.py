"""thm-3.4-corrected and theorem-tightness: the corrected statement holds, and the controls bite."""
import pytest

from opdcheck.instances import load_problem
from opdcheck.paper_checks.checks import theorem_tightness, thm_3_4_corrected
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import Verdict
from quick_profile_run import quick_result

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


def ctx(tmp_path, seed=0, **kw):
    return CheckContext(profile="quick", seed=seed, out_dir=tmp_path, **kw)


def _holds(res):
    assert res.verdict == Verdict.CONFIRMED, res.summary
    assert res.judged and res.judged >= 5
    assert all(c.passed for c in res.controls)
    lo, med, hi = res.computed["stated - certified (min, median, max)"]
    assert abs(lo) < 1e-8 and abs(hi) < 1e-8  # the formula equals the certificate up to its enclosure width


def test_corrected_statement_holds_in_the_quick_run():
    _holds(quick_result("thm-3.4-corrected"))  # the session's quick run (tests/quick_profile_run.py): budget 18


@pytest.mark.slow
def test_corrected_statement_holds_on_small_budget(tmp_path):
    _holds(thm_3_4_corrected.run(ctx(tmp_path), budget=6))  # the negative control's own budget


def test_too_small_rate_is_broken(tmp_path):
    # negative control of the issue: the derived rate x 0.99 must be broken (with an exact witness)
    res = thm_3_4_corrected.run(ctx(tmp_path), budget=6, scale=0.99)
    f = next(f for f in res.findings if f.name == "certified <= stated")
    assert f.verdict == Verdict.REFUTED
    assert f.witness["replayed"] and f.witness["confirms"] and f.witness["agrees"]
    assert res.verdict == Verdict.REFUTED


def test_zero_budget_is_inconclusive(tmp_path):
    assert thm_3_4_corrected.run(ctx(tmp_path), budget=0).verdict == Verdict.INCONCLUSIVE
    assert theorem_tightness.run(ctx(tmp_path), budget=0).verdict == Verdict.INCONCLUSIVE
    with pytest.raises(ValueError, match="budget"):
        thm_3_4_corrected.run(ctx(tmp_path), budget=-1)


def test_tightness_search_is_deterministic_and_reproducible(tmp_path):
    a = theorem_tightness.run(ctx(tmp_path / "a", seed=3), budget=4)
    b = theorem_tightness.run(ctx(tmp_path / "b", seed=3), budget=4)
    assert a.computed == b.computed and a.evidence == b.evidence
    assert a.verdict in (Verdict.REFUTED, Verdict.CONFIRMED)
    assert a.figures and a.counterexample
    # the saved worst instance reproduces its certified ratio through --instance
    p = load_problem(tmp_path / "a" / a.counterexample)
    c = theorem_tightness.run(ctx(tmp_path / "c", instance=p), budget=4)
    assert c.computed["max certified r^2/rho(46)"] == pytest.approx(a.computed["max certified r^2/rho(46)"], rel=1e-7)


def test_tightness_refutes_with_an_exact_witness(tmp_path):
    res = theorem_tightness.run(ctx(tmp_path), budget=6)
    if res.verdict == Verdict.REFUTED:
        assert res.witness["replayed"] and res.witness["confirms"] and res.witness["agrees"]
        assert res.computed["max certified r^2/rho(46)"] > 1
    else:  # no instance above rho(46) in this draw: then the ratio says so
        assert res.computed["max certified r^2/rho(46)"] <= 1


def test_judge_case_scale():
    row = {"corrected": 0.9, "lo": 0.9, "hi": 0.9 + 1e-10, "measured": 0.81, "spread": 1e-5}
    assert thm_3_4_corrected.judge_case(row)["formula_ok"]
    assert not thm_3_4_corrected.judge_case(row, 0.99)["formula_ok"]
