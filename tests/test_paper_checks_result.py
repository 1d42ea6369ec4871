"""Class 2 of issue 7 (a verdict with nothing judged): how a verdict is earned, enforced once in
``CheckResult.__post_init__`` for every check. Each test plants the defect and checks the downgrade."""
import pytest

from opdcheck.paper_checks.result import (CheckResult, Control, Finding, Verdict, combine_verdicts,
                                          summary_from_findings)

GOOD_WITNESS = {"replayed": True, "confirms": True, "agrees": True, "method": "Fractions (exact)",
                "replayed_value": "3/2", "reported_value": 1.5}


def _result(**kw):
    base = dict(id="demo", paper_ref="Thm 0.0", claim="x <= 1", verdict=Verdict.CONFIRMED,
                computed=0.5, stated=1.0, comparison="<=")
    base.update(kw)
    return CheckResult(**base)


def test_decisive_verdicts_stand_when_earned():
    # positive controls of the machinery: nothing is downgraded when everything is in order
    ok = _result(judged=3, controls=[Control("toy", "positive", True), Control("broken", "negative", True)])
    assert ok.verdict is Verdict.CONFIRMED and ok.downgrades == []
    ref = _result(verdict="REFUTED", judged=1, witness=GOOD_WITNESS)
    assert ref.verdict is Verdict.REFUTED and ref.downgrades == []


@pytest.mark.parametrize("verdict", ["CONFIRMED", "REFUTED"])
def test_nothing_judged_is_inconclusive(verdict):
    r = _result(verdict=verdict, judged=0, witness=GOOD_WITNESS)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert any("nothing was judged" in d for d in r.downgrades)
    assert r.summary.startswith(f"INCONCLUSIVE (the check alone said {verdict}")


def test_inconclusive_is_left_alone_and_inconsistent_needs_cases():
    # INCONCLUSIVE decides nothing, so nothing is enforced; INCONSISTENT (paper vs derivation) is a
    # judgement too: with nothing judged it is undecided
    r = _result(verdict="INCONCLUSIVE", judged=0)
    assert r.verdict is Verdict.INCONCLUSIVE and r.downgrades == []
    r = _result(verdict="INCONSISTENT", judged=0)
    assert r.verdict is Verdict.INCONCLUSIVE and any("nothing was judged" in d for d in r.downgrades)
    r = _result(verdict="INCONSISTENT", judged=3)
    assert r.verdict is Verdict.INCONSISTENT and r.downgrades == []


@pytest.mark.parametrize("kind", ["positive", "negative"])
def test_a_failed_control_is_inconclusive(kind):
    r = _result(judged=5, controls=[Control("planted", kind, False, detail="missed the planted defect")])
    assert r.verdict is Verdict.INCONCLUSIVE
    assert f"{kind} control planted: missed the planted defect" in r.downgrades[0]


def test_control_kind_is_validated():
    with pytest.raises(ValueError, match="Control.kind"):
        Control("x", "neutral", True)


@pytest.mark.parametrize("witness, reason", [
    (None, "no witness attached"),
    ({"replayed": False, "confirms": True, "agrees": True}, "witness not replayed"),
    ({"replayed": True, "confirms": False, "agrees": True}, "does not reproduce the violation"),
    ({"replayed": True, "confirms": True, "agrees": False, "disagreement": "replay 1.5 vs code 1.7"},
     "replay 1.5 vs code 1.7"),
])
def test_refuted_needs_an_independent_agreeing_witness(witness, reason):
    r = _result(verdict="REFUTED", judged=1, witness=witness)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert reason in r.downgrades[0] and reason in r.summary


def test_findings_combine_by_precedence():
    assert combine_verdicts([]) is Verdict.INCONCLUSIVE
    assert combine_verdicts(["CONFIRMED", "CONFIRMED"]) is Verdict.CONFIRMED
    assert combine_verdicts(["CONFIRMED", "INCONCLUSIVE"]) is Verdict.INCONCLUSIVE
    assert combine_verdicts(["INCONCLUSIVE", "INCONSISTENT", "CONFIRMED"]) is Verdict.INCONSISTENT
    assert combine_verdicts(["INCONSISTENT", "REFUTED"]) is Verdict.REFUTED


def test_verdict_none_combines_findings_and_generates_the_summary():
    fs = [Finding("rate", "rho <= 1", "CONFIRMED", computed=0.9, stated=1.0, comparison="<=",
                  sentence="measured 0.9 <= 1", judged=4),
          Finding("constant", "C = 2", "INCONSISTENT", computed=3, stated=2, sentence="derived 3, printed 2")]
    r = _result(verdict=None, summary="", findings=fs, judged=5)
    assert r.verdict is Verdict.INCONSISTENT
    assert r.summary == summary_from_findings(fs)
    assert "[rate: CONFIRMED] measured 0.9 <= 1" in r.summary and "[constant: INCONSISTENT]" in r.summary


def test_a_finding_with_nothing_judged_or_no_witness_is_inconclusive():
    f0 = Finding("empty", "c", "CONFIRMED", computed=0, stated=0, judged=0)
    assert f0.verdict is Verdict.INCONCLUSIVE and "nothing was judged" in f0.sentence
    f1 = Finding("bad", "c", "REFUTED", computed=2, stated=1, judged=1)
    assert f1.verdict is Verdict.INCONCLUSIVE and "no witness attached" in f1.sentence
    f2 = Finding("good", "c", "REFUTED", computed=2, stated=1, judged=1, witness=GOOD_WITNESS)
    assert f2.verdict is Verdict.REFUTED
    # the check takes the refuting finding's witness when it has none of its own
    r = _result(verdict=None, findings=[f2], judged=1)
    assert r.verdict is Verdict.REFUTED and r.downgrades == []


def test_degenerate_instances_only_cannot_confirm():
    # the thm-3.4 pattern of issue 7: every instance set apart as degenerate -> 0 judged -> INCONCLUSIVE
    r = _result(evidence=[{"instance": "toy-duplicated", "degenerate": True}], judged=0)
    assert r.verdict is Verdict.INCONCLUSIVE
