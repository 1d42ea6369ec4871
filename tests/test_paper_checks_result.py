"""A verdict with nothing judged: how a verdict is earned, enforced once in
``CheckResult.__post_init__`` for every check. Each test plants the defect and checks the downgrade."""
import pytest

from fractions import Fraction

from opdcheck.numerics.replay import exact as ew
from opdcheck.numerics.replay.certified import judge_rate_certificates
from opdcheck.paper_checks.result import (CheckResult, Control, Finding, Verdict, combine_verdicts,
                                          summary_from_findings)

#: real replays (a Witness can only come from the replay layer): Lemma B.4 fails at delta = theta = 3/4,
#: v = (1, 0, -1), with lhs - rhs = -13/36 exactly
GOOD_WITNESS = ew.replay_b4_witness(Fraction(3, 4), Fraction(3, 4), (1, 0, -1), "-13/36")
#: the code under suspicion reported -1/3: the replay disagrees
DISAGREEING = ew.replay_b4_witness(Fraction(3, 4), Fraction(3, 4), (1, 0, -1), "-1/3")
#: B.4 holds at delta = theta = 1/2 for v = (1, 1, 1): nothing to confirm
NOT_CONFIRMING = ew.replay_b4_witness(Fraction(1, 2), Fraction(1, 2), (1, 1, 1), 8)
#: no certificate: the replay did not run
NOT_RUN = judge_rate_certificates("demo", [None], claim="stable", method="exact Schur-Cohn")


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
    (NOT_RUN, "witness not replayed"),
    (NOT_CONFIRMING, "does not reproduce the violation"),
    (DISAGREEING, "replayed lhs - rhs = -13/36, sympy reported -1/3"),
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
    # the thm-3.4 pattern: every instance set apart as degenerate -> 0 judged -> INCONCLUSIVE
    r = _result(evidence=[{"instance": "toy-duplicated", "degenerate": True}], judged=0)
    assert r.verdict is Verdict.INCONCLUSIVE


def test_a_witness_can_only_come_from_the_replay_layer():
    from opdcheck.numerics.replay import Witness

    with pytest.raises(TypeError, match="replay layer"):
        Witness(subject="x", method="trust me", confirms=True, agrees=True)
    with pytest.raises(TypeError, match="replay layer"):
        Witness("x", "trust me", {}, {}, True, True, True, "", "", {}, object())
    with pytest.raises(TypeError, match="dict of flags is not evidence"):
        Finding("f", "c", "REFUTED", computed=2, stated=1, judged=1,
                witness={"replayed": True, "confirms": True, "agrees": True})
    with pytest.raises(TypeError, match="dict of flags is not evidence"):
        _result(verdict="REFUTED", judged=1, witness={"replayed": True, "confirms": True, "agrees": True})
    with pytest.raises(AttributeError):  # immutable
        GOOD_WITNESS.agrees = False
    import copy
    import pickle

    again = pickle.loads(pickle.dumps(GOOD_WITNESS))  # a sweep task in another process returns it pickled
    assert again.as_dict() == GOOD_WITNESS.as_dict() and again.supports_refutation
    assert copy.deepcopy(GOOD_WITNESS) is GOOD_WITNESS


def test_a_disagreeing_replay_is_a_failed_control_of_the_whole_check():
    # one correctly-REFUTED finding and one finding whose replay disagrees with the code: INCONCLUSIVE
    refuted = Finding("B.4", "c", "REFUTED", computed=-13 / 36, stated=0, judged=1, witness=GOOD_WITNESS)
    assert refuted.verdict is Verdict.REFUTED
    confirmed_but_disagreeing = Finding("other", "c", "CONFIRMED", computed=1, stated=1, judged=1, witness=DISAGREEING)
    assert confirmed_but_disagreeing.verdict is Verdict.INCONCLUSIVE
    assert "the replay disagrees with the code" in confirmed_but_disagreeing.sentence
    r = _result(verdict=None, findings=[refuted, confirmed_but_disagreeing], judged=2)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert any("replay control(s) failed" in d and "other" in d for d in r.downgrades)
    # positive control: the same check without the disagreeing replay stays REFUTED
    ok = _result(verdict=None, findings=[refuted, Finding("other", "c", "CONFIRMED", 1, 1, judged=1)], judged=2)
    assert ok.verdict is Verdict.REFUTED and ok.downgrades == []
    # a check-level witness that disagrees does the same
    assert _result(verdict="CONFIRMED", judged=1, witness=DISAGREEING).verdict is Verdict.INCONCLUSIVE


def test_witness_serialises_with_both_sides():
    from opdcheck.paper_checks.result import to_jsonable

    ref = _result(verdict="REFUTED", judged=1, witness=GOOD_WITNESS,
                  findings=[Finding("B.4", "c", "REFUTED", -13 / 36, 0, judged=1, witness=GOOD_WITNESS)])
    d = ref.to_dict()
    for w in (d["witness"], d["findings"][0]["witness"]):
        assert w["replayed"] and w["confirms"] and w["agrees"]
        assert w["method"].startswith("exact fractions") and w["replayed lhs - rhs"] == "-13/36"
    assert to_jsonable(NOT_RUN)["replayed"] is False


def test_findings_under_a_failed_control_are_not_shown_as_decided():
    # a bug shared by the code and what it is checked against can leave a REFUTED finding with a replay that
    # agrees; the check's failed control is then the only alarm, and its findings must not read as decided
    refuted = Finding("B.4", "c", "REFUTED", computed=-13 / 36, stated=0, judged=1, witness=GOOD_WITNESS)
    fit = Finding("fit", "c", "CONFIRMED", computed=1, stated=1, judged=1, sentence="residual 1e-12.")
    r = _result(verdict=None, findings=[refuted, fit], judged=2,
                controls=[Control("toy", "positive", False, detail="missed")])
    assert r.verdict is Verdict.INCONCLUSIVE
    assert [f.verdict for f in r.findings] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert [f.verdict_before_controls for f in r.findings] == [Verdict.REFUTED, Verdict.CONFIRMED]
    assert all("positive control 'toy' of this check failed" in f.held_back for f in r.findings)
    assert fit.sentence.startswith("not decided: ") and "the code alone said CONFIRMED: residual 1e-12." in fit.sentence
    d = r.to_dict()
    assert [f["verdict"] for f in d["findings"]] == ["INCONCLUSIVE", "INCONCLUSIVE"]
    assert [f["verdict_before_controls"] for f in d["findings"]] == ["REFUTED", "CONFIRMED"]
    assert "REFUTED" not in r.headline.split(":")[0]
    # settling again (the registry labels findings from the claims register) does not stack the note
    r.apply_register()
    r._settle()
    assert fit.sentence.count("not decided") == 1 and fit.verdict is Verdict.INCONCLUSIVE
    # positive control: the same findings with the control passing stand as the code decided them
    ok = _result(verdict=None, findings=[refuted, fit], judged=2, controls=[Control("toy", "positive", True)])
    assert ok.verdict is Verdict.REFUTED
    assert [f.verdict for f in ok.findings] == [Verdict.REFUTED, Verdict.CONFIRMED]
    assert all(f.held_back == "" and f.verdict_before_controls is None for f in ok.findings)
    assert fit.sentence == "residual 1e-12."


def test_a_disagreeing_replay_holds_back_the_other_findings():
    refuted = Finding("B.4", "c", "REFUTED", computed=-13 / 36, stated=0, judged=1, witness=GOOD_WITNESS)
    other = Finding("other", "c", "CONFIRMED", computed=1, stated=1, judged=1, witness=DISAGREEING)
    r = _result(verdict=None, findings=[refuted, other], judged=2)
    assert r.findings[0].verdict is Verdict.INCONCLUSIVE
    assert r.findings[0].verdict_before_controls is Verdict.REFUTED
    assert "the replay of finding 'other' disagrees with the code" in r.findings[0].held_back
    # the disagreeing finding is undecided by its own replay, not held back a second time
    assert r.findings[1].held_back == "" and r.findings[1].verdict is Verdict.INCONCLUSIVE
