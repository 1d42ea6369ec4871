"""Verdict semantics across readings (paper_checks/result.py): a check is REFUTED only by a substantive
failure of the most charitable reading; typos and misstatements are INCONSISTENT; caveat readings count for
nothing; the summary leads with the strongest evidence under the most charitable reading."""
from __future__ import annotations

from fractions import Fraction

import pytest

from opdcheck.numerics.replay import exact as ew
from opdcheck.numerics.replay.certified import judge_rate_certificates
from opdcheck.paper_checks.result import (CheckResult, Finding, Verdict, combine_findings, finding_contribution,
                                          summary_from_findings)

#: a real replay (a Witness only comes from the replay layer): Lemma B.4 fails at delta = theta = 3/4
REPLAYED = ew.replay_b4_witness(Fraction(3, 4), Fraction(3, 4), (1, 0, -1), "-13/36")
#: no certificate: the replay did not run
NOT_REPLAYED = judge_rate_certificates("demo", [None], claim="stable", method="exact Schur-Cohn")


def _f(name, verdict, reading="literal", severity="substantive", statement="", witness=None):
    if verdict == Verdict.REFUTED and witness is None:
        witness = REPLAYED
    return Finding(name=name, claim=name, verdict=verdict, computed=1, stated=0, sentence=f"{name} computed",
                   statement=statement, reading=reading, severity=severity, witness=witness)


def _check(*findings, verdict=None, check_id="test-check"):
    return CheckResult(verdict=verdict, computed=0, stated="claim", comparison="identity", findings=list(findings),
                       id=check_id)


def test_typo_only_refutation_is_not_refuted():
    r = _check(_f("printed constant", Verdict.REFUTED, severity="typo"), _f("derived constant", Verdict.CONFIRMED))
    assert r.verdict == Verdict.INCONSISTENT
    assert "typo" in r.summary and "counts as INCONSISTENT" in r.summary


def test_misstatement_is_inconsistent():
    r = _check(_f("lam* > 0", Verdict.REFUTED, severity="misstatement", statement="lemma-B.5-positivity"))
    assert r.verdict == Verdict.INCONSISTENT


def test_charitable_substantive_refutation_refutes():
    r = _check(_f("existential", Verdict.REFUTED, reading="charitable", statement="thm-3.4"),
               _f("typo", Verdict.REFUTED, severity="typo"))
    assert r.verdict == Verdict.REFUTED
    assert r.summary.startswith("[existential: REFUTED; charitable reading]")  # strongest charitable evidence first


def test_literal_refutation_counts_only_without_a_weaker_reading():
    weaker = _check(_f("as printed", Verdict.REFUTED, statement="lemma-B.5-positivity"))  # lam* >= 0 is weaker
    none_weaker = _check(_f("as printed", Verdict.REFUTED, statement="lemma-B.4"))      # the proof needs it as is
    unregistered = _check(_f("as printed", Verdict.REFUTED))                            # judged as formalised
    assert weaker.verdict == Verdict.INCONSISTENT
    assert none_weaker.verdict == Verdict.REFUTED
    assert unregistered.verdict == Verdict.REFUTED


def test_caveat_reading_counts_for_nothing():
    r = _check(_f("paper's PD oscillates", Verdict.CONFIRMED), _f("sequential PD", Verdict.REFUTED, reading="sequential PD"))
    assert r.verdict == Verdict.CONFIRMED
    assert "caveat" in r.summary
    only = _check(_f("sequential PD", Verdict.REFUTED, reading="sequential PD"))
    assert only.verdict == Verdict.INCONCLUSIVE


def test_explicit_refuted_without_a_decisive_finding_is_replaced_and_recorded():
    r = _check(_f("lam* > 0", Verdict.REFUTED, severity="misstatement"), _f("bound", Verdict.CONFIRMED),
               verdict=Verdict.REFUTED)
    assert r.verdict == Verdict.INCONSISTENT
    assert r.downgrades and "most charitable" in r.downgrades[0]
    kept = _check(_f("bound", Verdict.REFUTED, reading="charitable"), verdict=Verdict.REFUTED)
    assert kept.verdict == Verdict.REFUTED and not kept.downgrades


def test_unreplayed_charitable_refutation_stays_inconclusive():
    f = _f("no witness", Verdict.REFUTED, reading="charitable", witness=NOT_REPLAYED)
    assert f.verdict == Verdict.INCONCLUSIVE
    assert _check(f).verdict == Verdict.INCONCLUSIVE


def test_register_labels_unlabelled_findings():
    """fig-1-toy's sequential-PD findings judge a reading the paper does not make: a caveat once labelled."""
    r = _check(_f("OPD converges [prox]", Verdict.CONFIRMED),
               _f("PD fails to converge: simultaneous-pd [prox]", Verdict.CONFIRMED),
               _f("caveat: sequential PD converges [prox]", Verdict.REFUTED), check_id="fig-1-toy")
    assert r.verdict == Verdict.REFUTED  # before the registry labels the findings
    r.apply_register()
    assert r.verdict == Verdict.CONFIRMED
    seq = r.findings[2]
    assert (seq.statement, seq.reading) == ("fig-1-pd", "sequential PD")
    assert finding_contribution(seq) is None


def test_a_finding_the_check_labelled_is_not_relabelled():
    f = _f("a finding the register does not name", Verdict.REFUTED, reading="charitable", statement="fig-1-pd")
    r = _check(f, check_id="fig-1-toy")
    r.apply_register()
    assert f.reading == "charitable" and r.verdict == Verdict.REFUTED
    # a label the register contradicts (it lists this finding under fig-1-pd with reading "sequential PD") is
    # kept as the check set it, but neither label may carry a verdict
    g = _f("caveat: sequential PD converges [prox]", Verdict.REFUTED, reading="charitable", statement="fig-1-pd")
    r = _check(g, check_id="fig-1-toy")
    r.apply_register()
    assert g.reading == "charitable" and r.verdict == Verdict.INCONCLUSIVE
    assert any("label a finding differently" in d for d in r.downgrades)


def test_summary_is_generated_and_ordered():
    fs = [_f("a", Verdict.CONFIRMED), _f("b", Verdict.REFUTED, severity="typo"),
          _f("c", Verdict.REFUTED, reading="charitable")]
    text = summary_from_findings(fs)
    assert text.index("[c:") < text.index("[b:") < text.index("[a:")
    assert combine_findings(fs) == Verdict.REFUTED


@pytest.mark.parametrize("field,value", [("severity", "fatal"), ("reading", ""), ("statement", 3)])
def test_bad_reading_fields_name_the_field(field, value):
    kw = {"statement": "", "reading": "literal", "severity": "substantive", field: value}
    with pytest.raises(ValueError, match=field):
        Finding(name="x", claim="x", verdict=Verdict.CONFIRMED, computed=1, stated=1, **kw)


@pytest.mark.parametrize("severity", ["misstatement", "typo"])
@pytest.mark.parametrize("reading", ["literal", "charitable"])
def test_a_slip_is_inconsistent_whatever_its_reading(severity, reading):
    """Every severity other than substantive counts as INCONSISTENT, never REFUTED (both non-substantive
    severities, under both main readings): a typo in the paper is not a refutation."""
    f = _f("a slip", Verdict.REFUTED, reading=reading, severity=severity)
    assert finding_contribution(f) == Verdict.INCONSISTENT
    assert _check(f, _f("the rest", Verdict.CONFIRMED)).verdict == Verdict.INCONSISTENT
    sub = _f("a failure", Verdict.REFUTED, reading="charitable")
    assert finding_contribution(sub) == Verdict.REFUTED
