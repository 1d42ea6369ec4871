"""The claims register (paper_checks/claims.py): well formed, every judge names a check that exists and a
finding that check produces (statically from the check's source; one slow test against a real run), coverage
generated from a run, and ``opdcheck claims``."""
from __future__ import annotations

import ast
import inspect
import json
import re
import sys
from functools import lru_cache


from opdcheck.paper_checks.claims import REGISTER, Judge, Statement, coverage, coverage_markdown, validate_register


@lru_cache(maxsize=None)
def _checks() -> dict:
    from opdcheck.paper_checks.registry import all_checks

    return {c.id: c for c in all_checks()}


@lru_cache(maxsize=None)
def _module_names(module_name: str) -> tuple[frozenset, tuple]:
    """``(string literals, f-string regexes)`` of one module's source (formatted parts = ``.+``); parsed once
    per module, however many checks draw on it."""
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module_name]))
    except (OSError, TypeError):
        return frozenset(), ()
    literals, pats = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            literals.add(node.value)
        elif isinstance(node, ast.JoinedStr):
            fixed = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if len(fixed.strip()) >= 4:  # an f-string of bare fields would match any name
                pats.append("".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values))
    return frozenset(literals), tuple(re.compile(p, re.S) for p in pats)


@lru_cache(maxsize=None)
def _name_patterns(check_id: str) -> tuple[frozenset, tuple]:
    """Every string literal of the check's module (matched exactly) and every f-string as a regex: a finding
    name the check can produce is one of the literals or matches one of the regexes."""
    module = sys.modules[_checks()[check_id].func.__module__]
    # the check's own module and the opdcheck modules it draws on (a step list built in a replay module names
    # findings too); other checks are never among them (a check does not import a check)
    mods = [module] + sorted({m for v in vars(module).values()
                              for m in [v if inspect.ismodule(v) else sys.modules.get(getattr(v, "__module__", "") or "")]
                              if m is not None and m is not module and m.__name__.startswith("opdcheck.")},
                             key=lambda m: m.__name__)
    parts = [_module_names(m.__name__) for m in mods]
    return frozenset().union(*(lit for lit, _ in parts)), tuple(p for _, ps in parts for p in ps)


def _produces(check_id: str, name: str) -> bool:
    literals, pats = _name_patterns(check_id)
    return name in literals or any(p.fullmatch(name) for p in pats)


def _unknown_judges(register) -> list[str]:
    checks = _checks()
    bad = []
    for s in register:
        for j in s.judges:
            if j.check not in checks:
                bad.append(f"{s.id}: check {j.check!r} does not exist")
            elif j.finding and not j.planned and not _produces(j.check, j.finding):
                bad.append(f"{s.id}: check {j.check!r} produces no finding named {j.finding!r}")
    return bad


def test_register_is_well_formed_and_large():
    assert validate_register() == []
    assert len(REGISTER) >= 80
    kinds = {s.kind for s in REGISTER}
    assert {"theorem", "corollary", "lemma", "assumption", "equation", "remark", "prose", "experiment"} <= kinds


def test_locations_use_the_papers_numbering():
    for s in REGISTER:
        assert not re.search(r"\[\d+\]", s.location), f"{s.id}: location {s.location!r} cites a parse block number"


def test_every_judge_names_an_existing_check_and_finding():
    assert _unknown_judges(REGISTER) == []


def test_bad_judges_are_caught():
    """Negative control: a register naming a missing check or finding fails."""
    bogus = (Statement("x", "Thm 3.4", "theorem", "q", {"literal": "l"},
                       (Judge("no-such-check", "f"), Judge("thm-3.4-constants", "no such finding"))), )
    assert len(_unknown_judges(bogus)) == 2
    planned = (Statement("y", "Thm 3.4", "theorem", "q", {"literal": "l"},
                         (Judge("thm-3.4", "not yet there", planned=True),)),)
    assert _unknown_judges(planned) == []


def test_validate_register_catches_structural_errors():
    bad = (Statement("a", "Thm 3.4", "theorem", "q", {"literal": "l"}, (Judge("thm-3.4", "", "charitable"),), "fully"),
           Statement("a", "Thm 3.4", "novel", "q", {"charitable": "c"}, (), "fully"),
           Statement("b", "", "theorem", "q", {"literal": "l"}, (), "not"))
    problems = "\n".join(validate_register(bad))
    for needle in ("reads 'charitable'", "duplicate id", "kind 'novel'", "lack 'literal'", "no judges",
                   "without a reason", "empty location"):
        assert needle in problems


def test_the_verdicts_work_findings_are_registered_by_their_real_names():
    """No placeholder is left: the findings the rewritten checks produce judge their statements by name."""
    assert [(s.id, j.finding) for s in REGISTER for j in s.judges if j.planned] == []
    judged = {(s.id, j.check, j.finding) for s in REGISTER for j in s.judges}
    assert {("thm-3.4", "thm-3.4", "bound fails with the proof's own denominator"),
            ("sec3-gda-scsc-only", "alg-1-unification", "GDA converges linearly only under SC-SC"),
            ("lemma-B.5-positivity", "lemma-B.5", "lam* > 0 (Lemma B.5)"),
            ("appC-contraction", "app-C-proof-steps", "one-step contraction where the bound holds (beta = 0.05)"),
            ("appC-off-by-one", "app-C-proof-steps", "iterating the recursion: rho^t vs rho^(t-1)"),
            ("appC-requirements", "app-C-proof-steps", "requirement (2): the sign of beta"),
            ("cor-3.10-residual", "cor-3.10-residual", "residual term not divided by min(a1, a3)"),
            ("appE-in-class-duality", "app-E-strong-duality", "in-class strong duality under Assumption 3.7"),
            ("lemma-B.9", "lemmas-B.9-B.12", "Lemma B.9 with the KL Bregman divergence")} <= judged


def test_statement_ids_set_by_checks_are_registered():
    """Every ``statement="..."`` a check (or a study) sets names a register entry."""
    from pathlib import Path

    from opdcheck.paper_checks.claims import get_statement

    root = Path(__file__).resolve().parents[1] / "opdcheck" / "paper_checks"
    used = {m for f in [*root.glob("checks/*.py"), *root.glob("studies/*.py")]
            for m in re.findall(r'statement="([^"]+)"', f.read_text(encoding="utf-8"))}
    assert used
    for sid in sorted(used):
        get_statement(sid)  # KeyError names the id


def test_coverage_is_computed_from_the_run():
    reg = coverage(None)
    assert sum(reg["declared"].values()) == reg["statements"] == len(REGISTER)
    assert reg["decided_in_run"] is None
    fake = [{"id": "lemmas-B.2-B.4-B.8", "verdict": "REFUTED",
             "findings": [{"name": "B.4 at the proof's delta", "verdict": "REFUTED"},
                          {"name": "B.2 Pinsker", "verdict": "INCONCLUSIVE"}]}]
    cov = coverage(fake)
    assert cov["decided_in_run"] == 1  # Lemma B.4 decided; Pinsker ran but decided nothing
    e = {x["id"]: x for x in cov["entries"]}
    assert e["lemma-B.4"]["decided_in_run"] and not e["lemma-B.2"]["decided_in_run"]
    text = coverage_markdown(cov)
    assert f"lists {len(REGISTER)} checkable statements" in text and "In this run 1 of them" in text


def test_report_carries_the_coverage(tmp_path):
    from opdcheck.paper_checks.report import write_report
    from opdcheck.paper_checks.result import CheckResult, Finding, Verdict

    res = CheckResult(verdict=None, computed=0, stated="s", comparison="identity", id="lemmas-B.2-B.4-B.8",
                      findings=[Finding("B.2 Pinsker", "c", Verdict.CONFIRMED, 1, 1)])
    md, js = write_report([res], tmp_path, profile="quick", seed=0)
    payload = json.loads(js.read_text())
    assert payload["coverage"]["decided_in_run"] == 1
    assert "## What the paper says, statement by statement" in md.read_text()


def test_cli_claims(capsys, tmp_path):
    from opdcheck.cli import EXIT_INPUT, EXIT_OK, main

    assert main(["claims"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"lists {len(REGISTER)} checkable statements" in out and "`thm-3.4`" in out
    assert main(["claims", "--json", "--status", "not"]) == EXIT_OK
    d = json.loads(capsys.readouterr().out)
    assert d["entries"] and all(e["status"] == "not" for e in d["entries"])
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    assert main(["claims", "--results", str(bad)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "--results" in err and "results.json" in err and "\n" == err[-1] and err.count("\n") == 1


def test_every_finding_name_appears_in_a_real_quick_run():
    """Every finding the register names appears in the session's quick run of its check (tests/quick_profile_run.py)."""
    from quick_profile_run import quick_result

    wanted: dict[str, set] = {}
    for s in REGISTER:
        for j in s.judges:
            if j.finding and not j.planned:
                wanted.setdefault(j.check, set()).add(j.finding)
    missing = []
    for cid, names in sorted(wanted.items()):
        res = quick_result(cid)
        got = {f.name for f in res.findings}
        missing += [f"{cid}: {n!r}" for n in sorted(names - got)]
    assert missing == []


def test_readme_counts_are_the_registers():
    """The README's counts are generated from the register: a change to the register must update them."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    d = coverage(None)
    want = (f"The register lists **{d['statements']} statements: {d['declared']['fully']} judged fully, "
            f"{d['declared']['partly']} partly, {d['declared']['not']} not judged**")
    assert want in readme


def test_every_check_judges_some_statement():
    named = {j.check for s in REGISTER for j in s.judges}
    assert set(_checks()) - named == set()


def test_checks_and_register_label_their_findings_alike():
    """In the session's quick run, no finding labels itself (reading, severity) differently from the register."""
    from quick_profile_run import quick_result

    from opdcheck.paper_checks.claims import label_conflicts

    conflicts = [c for cid in _checks() for c in label_conflicts(cid, quick_result(cid).findings)]
    assert conflicts == []


def test_a_register_severity_typo_makes_the_check_inconclusive(monkeypatch):
    """A register entry whose severity contradicts the check's own label (a planted 'typo' -> 'substantive')
    is an internal inconsistency: the check that carries that finding becomes INCONCLUSIVE, naming both."""
    import dataclasses

    from opdcheck.paper_checks import claims
    from opdcheck.paper_checks.result import CheckResult, Finding, Verdict

    target = next(s for s in REGISTER for j in s.judges if j.severity == "typo" and j.finding)
    judge = next(j for j in target.judges if j.severity == "typo" and j.finding)
    finding = Finding(judge.finding, "claim", Verdict.CONFIRMED, 1.0, 1.0, statement=target.id,
                      reading=judge.reading, severity="typo")

    def result():
        r = CheckResult(claim="c", verdict=None, computed=None, stated="s", comparison="identity",
                        findings=[dataclasses.replace(finding)], id=judge.check)
        r.apply_register()
        return r
    assert result().verdict == Verdict.CONFIRMED and result().downgrades == []
    planted = dataclasses.replace(target, judges=tuple(dataclasses.replace(j, severity="substantive")
                                                       if j == judge else j for j in target.judges))
    monkeypatch.setattr(claims, "REGISTER", tuple(planted if s is target else s for s in REGISTER))
    r = result()
    assert r.verdict == Verdict.INCONCLUSIVE
    assert any("label a finding differently" in d and "substantive" in d for d in r.downgrades)
