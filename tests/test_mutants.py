"""The mutation table: each planted bug (opdcheck.mutants.MUTANTS) must be caught: a check's verdict, a finding's
verdict or a control differs from the unmutated run, or a control fails.

Each test plants one bug and re-runs the checks it can affect on the mutation profile (quick, smaller sweeps),
stopping at the first check that catches it; the unmutated run of each check is computed once, on demand.
Mutants whose checks take long are marked slow. ``python -m opdcheck.mutants --write`` records the whole table.
"""
from __future__ import annotations

import pytest

from opdcheck import mutants as M
from opdcheck.paper_checks.registry import all_checks
from quick_profile_run import quick_result

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")

_UNMUTATED: dict[str, dict] = {}

# a planted bug is patched into every module bound to the original at that moment: every check module is imported
# first (get_check imports only its own), so that none is first imported with a bug planted and keeps it
all_checks()


def _unmutated(check_ids) -> dict[str, dict]:
    """The unmutated run of each check on the mutation profile. That profile is the quick profile apart from the
    sweeps of ``M.MUTATION_SWEEPS`` (``test_the_mutation_profile_changes_only_its_sweeps``), so for any other
    check it is the session's quick run (tests/quick_profile_run.py, same seed), read instead of run again."""
    from opdcheck.paper_checks.baseline import result_entry

    for cid in check_ids:
        if cid not in _UNMUTATED and cid not in M.MUTATION_SWEEPS:
            res = quick_result(cid)
            _UNMUTATED[cid] = {"verdict": res.verdict.value, "why": M._why(res), "entry": result_entry(res)}
    missing = [c for c in check_ids if c not in _UNMUTATED]
    if missing:
        _UNMUTATED.update(M.run_checks_detailed(missing))
    return {c: _UNMUTATED[c] for c in check_ids}


def test_the_mutation_profile_changes_only_its_sweeps():
    """What lets a check outside MUTATION_SWEEPS take its unmutated run from the session's quick run."""
    import copy

    from opdcheck.paper_checks.studies import thm34

    before = copy.deepcopy(thm34.SWEEPS)
    with M.mutation_profile():
        during = copy.deepcopy(thm34.SWEEPS)
    assert thm34.SWEEPS == before
    assert {cid for cid in before if during[cid] != before[cid]} == set(M.MUTATION_SWEEPS)


@pytest.mark.slow
def test_unmutated_mutation_profile_keeps_the_recorded_findings():
    """The smaller sweeps still reproduce the quick profile's findings of the checks under mutation."""
    from opdcheck.paper_checks import baseline as B

    rec = B.load()["quick"]
    got = _unmutated(("thm-3.4", "lemma-B.5"))
    for cid, d in got.items():
        assert d["entry"]["verdict"] == rec[cid]["verdict"]
        assert d["entry"]["findings"] == rec[cid]["findings"], cid


def _params():
    out = []
    for m in M.MUTANTS:
        marks = [pytest.mark.xfail(reason=m.xfail, strict=False)] if m.xfail else []
        if m.slow:
            marks.append(pytest.mark.slow)
        out.append(pytest.param(m, id=m.name, marks=marks))
    return out


@pytest.mark.parametrize("mutant", _params())
def test_mutant_is_caught(mutant, tmp_path):
    lines = []
    for cid in mutant.checks:  # the unmutated run of a check is computed only if the mutant reaches it
        base = _unmutated((cid,))
        with mutant.patch():
            got = M.run_checks_detailed((cid,), out_dir=tmp_path)
        lines = M.differences(cid, base[cid], got[cid])
        if lines:
            break
    assert lines, f"{mutant.name}: nothing changed in {mutant.checks}"


def test_differences_counts_findings_and_failed_controls():
    base = {"verdict": "REFUTED", "why": "", "entry": {"verdict": "REFUTED", "findings": {"a": "REFUTED", "b": "CONFIRMED"},
                                                       "controls": {"c": True}}}
    same = {**base}
    assert M.differences("x", base, same) == []
    finding_only = {**base, "entry": {**base["entry"], "findings": {"a": "REFUTED", "b": "INCONCLUSIVE"}}}
    assert M.differences("x", base, finding_only) == ["x: finding 'b' recorded CONFIRMED, got INCONCLUSIVE"]
    control = {**base, "entry": {**base["entry"], "controls": {"c": False}}}
    assert M.differences("x", base, control) == ["x: control 'c' recorded True, got False"]
    # a control failing in both runs still counts
    both = {**base, "entry": {**base["entry"], "controls": {"c": False}}}
    assert M.differences("x", both, both) == ["x: control 'c' failed"]


def test_mutant_names_are_unique_and_classes_covered():
    names = [m.name for m in M.MUTANTS]
    assert len(names) == len(set(names))
    new_classes = {"kernel", "replay", "printed formula", "gate", "rule", "cache"}
    assert new_classes <= {m.kind for m in M.MUTANTS}
    assert sum(m.kind in new_classes for m in M.MUTANTS) >= 25


def test_every_patch_is_undone():
    from opdcheck.kernels import dual_rules
    from opdcheck.theory import closed_forms as cf, printed

    before = (cf.printed_prox_weight, dict(dual_rules.DUAL_RULES), printed.parse)
    for m in M.MUTANTS:
        with m.patch():
            pass
    assert (cf.printed_prox_weight, dict(dual_rules.DUAL_RULES), printed.parse) == before


def test_patch_everywhere_restores_every_binding():
    from opdcheck.kernels import potential
    from opdcheck.paper_checks.studies import thm34_rate as thm_3_4_rate

    orig = potential.rho_eq46
    with M.patch_everywhere("opdcheck.kernels.potential", "rho_eq46", lambda p: 0.0):
        assert thm_3_4_rate.rho_eq46 is not orig and potential.rho_eq46 is not orig
    assert thm_3_4_rate.rho_eq46 is orig and potential.rho_eq46 is orig


def test_recorded_table_and_appendix():
    t = M.load_table()
    assert t is not None, "run python -m opdcheck.mutants --write"
    assert [r["name"] for r in t["mutants"]] == [m.name for m in M.MUTANTS]
    known = {m.name: m.xfail for m in M.MUTANTS}  # a bug measured as not caught is declared, with its reason
    assert all(r["caught"] or known[r["name"]] for r in t["mutants"]), [r["name"] for r in t["mutants"] if not r["caught"]]
    for key in ("measured", "commit", "command", "machine", "criterion"):
        assert t.get(key), key
    md = M.appendix_markdown()
    assert f"Verification power: {t['caught']} of {t['total']} planted bugs are caught" in md
    assert t["commit"] in md and t["command"] in md and t["measured"] in md
    assert md.count("\n| ") == len(M.MUTANTS) + 1


def test_a_failed_control_leaves_no_finding_decided(tmp_path):
    """End to end, on a real check: with lam* off by 0.1 % (a solver bug shared by everything that reads the saddle
    point), lemma-B.5's controls fail; none of its findings may still read as decided (their numbers are the bug's),
    and each keeps what the code alone said beside the reason it is held back. Positive control: unmutated, they
    stand."""
    from opdcheck.paper_checks.context import CheckContext
    from opdcheck.paper_checks.registry import get_check

    mutant = next(m for m in M.MUTANTS if m.name == "lambda-star-off-0.1%")
    with M.mutation_profile():
        clean = get_check("lemma-B.5").run(CheckContext(profile="quick", seed=0, out_dir=tmp_path / "clean"))
        with mutant.patch():
            bad = get_check("lemma-B.5").run(CheckContext(profile="quick", seed=0, out_dir=tmp_path / "bad"))
    assert all(c.passed for c in clean.controls) and all(not f.held_back for f in clean.findings)
    assert any(f.verdict.value != "INCONCLUSIVE" for f in clean.findings)
    assert any(not c.passed for c in bad.controls)
    assert bad.findings and all(f.verdict.value == "INCONCLUSIVE" for f in bad.findings)
    decided = [f for f in bad.findings if f.verdict_before_controls is not None]
    assert decided and all("control" in f.held_back and f.sentence.startswith("not decided: ") for f in decided)
