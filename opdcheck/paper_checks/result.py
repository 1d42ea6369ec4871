"""CheckResult: what one check found, with the computed and the stated side together (PEPit style).

Verdicts across readings (one rule for every check, enforced here, not per check)
-------------------------------------------------------------------------------
Every :class:`Finding` names the register statement it judges (``statement``, see
:mod:`opdcheck.paper_checks.claims`), the ``reading`` of that statement it judges and the ``severity`` of a
failure. A finding the check left unlabelled (``statement == ""``) takes all three from the register entry that
names its check and finding (:meth:`CheckResult.apply_register`, called by the registry once the result carries
its check id); a finding the register does not know keeps the defaults (literal, substantive) and is judged as
its check formalises the claim.

What a finding contributes to its check's verdict (:func:`finding_contribution`):

* not REFUTED: its own verdict (CONFIRMED, INCONSISTENT, INCONCLUSIVE), whatever the reading;
* REFUTED under a reading that is neither ``"literal"`` nor ``"charitable"`` (a reading the text does not make
  the paper's claim: "PD = Algorithm 1's sequential update", "runs" for a claim about guarantees, a synthetic
  analogue of the LLM experiment): nothing. It is a *caveat*, reported with its evidence;
* REFUTED with severity ``"misstatement"`` (the repaired form is what the paper uses) or ``"typo"``:
  INCONSISTENT (the printed text disagrees with the derivation or with what the paper uses);
* REFUTED, substantive, under the ``"charitable"`` reading: REFUTED;
* REFUTED, substantive, under the ``"literal"`` reading: REFUTED only if the register declares no weaker reading
  of its statement (or the statement is unregistered); otherwise INCONSISTENT: the text as written is false while
  a reading the text supports is what the paper claims, and that reading's own finding decides the rest.

So a check is REFUTED only if some finding judging the most charitable reading is a substantive, independently
replayed refutation. Its verdict combines the contributions with the precedence REFUTED > INCONSISTENT >
INCONCLUSIVE > CONFIRMED; a check whose findings are all caveats is INCONCLUSIVE. A check that gives its own
verdict beside findings keeps it, except a REFUTED none of whose REFUTED findings counts: it gets the combined
verdict, and the change is recorded in ``downgrades``. The generated summary leads with the strongest evidence
under the most charitable reading (:func:`summary_from_findings` orders by contribution, charitable reading
first), and tags each finding with its reading and severity when they are not the defaults.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

import numpy as np

from opdcheck.numerics.replay.witness import Witness

__all__ = ["Verdict", "Comparison", "Finding", "Control", "CheckResult", "combine_verdicts",
           "summary_from_findings", "headline", "to_jsonable", "finding_contribution", "combine_findings",
           "SEVERITIES", "MAIN_READINGS", "reading_tag"]

#: the weight of a failure (``Finding.severity``)
SEVERITIES = ("substantive", "misstatement", "typo")
#: the readings that are the paper's claim; any other name is a caveat reading
MAIN_READINGS = ("literal", "charitable")


class Verdict(str, Enum):
    """The four outcomes of a check."""

    CONFIRMED = "CONFIRMED"        # numerics and algebra agree with the claim on every instance tried
    REFUTED = "REFUTED"            # a reproducible counterexample, saved with its seed and instance
    INCONSISTENT = "INCONSISTENT"  # the paper disagrees with itself or with a derivation; both versions named
    INCONCLUSIVE = "INCONCLUSIVE"  # could not decide: solver failure, budget exhausted


Comparison = str  # one of "<=", ">=", "==", "rate<=", "identity", "converges", "diverges"


@dataclass
class Finding:
    """One finding of a check that judges several (a sub-verdict with its own evidence).

    ``sentence`` is built by the check from the computed values (never a fixed conclusion);
    ``judged`` counts the cases that decided it (0 -> the finding is INCONCLUSIVE, enforced below);
    ``witness`` (for REFUTED) is the independent replay (a :class:`Witness`, built only by
    ``opdcheck.numerics.replay``); a witness whose replay disagrees with the code is a failed control.
    """

    name: str
    claim: str
    verdict: Verdict
    computed: Any
    stated: Any
    comparison: Comparison = "identity"
    sentence: str = ""
    judged: int = 1
    witness: Witness | None = None
    #: the register's id of the paper statement this finding judges (``opdcheck claims``)
    statement: str = ""
    #: which reading of that statement is judged: "literal", "charitable" (the most charitable the text supports)
    #: or a named reading
    reading: str = "literal"
    #: the weight of a failure: "substantive", "misstatement" (the repaired form is what the paper uses) or "typo"
    severity: str = "substantive"
    #: why this finding is not decided although its own evaluation was: a control of its check failed, or the
    #: replay of another of its findings disagrees with the code, so the code that computed it is in doubt
    #: (set by the check's result, see :meth:`hold_back`); "" when the finding stands
    held_back: str = ""
    #: what the code alone said before the finding was held back (None when it stands)
    verdict_before_controls: Verdict | None = None

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.verdict)
        _require_witness(self.witness, f"Finding({self.name!r}).witness")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Finding({self.name!r}).severity = {self.severity!r}; choose one of "
                             f"{', '.join(SEVERITIES)}.")
        if not isinstance(self.reading, str) or not self.reading.strip():
            raise ValueError(f"Finding({self.name!r}).reading = {self.reading!r}; name the reading judged "
                             "('literal', 'charitable' or another named reading).")
        if not isinstance(self.statement, str):
            raise ValueError(f"Finding({self.name!r}).statement = {self.statement!r}; pass a register id "
                             "(`opdcheck claims`) or ''.")
        # an INCONSISTENT finding is a judgement too: with nothing judged it is undecided as well
        if self.verdict != Verdict.INCONCLUSIVE and self.judged <= 0:
            self.sentence = f"nothing was judged (0 cases decided), so INCONCLUSIVE instead of {self.verdict.value}. " + self.sentence
            self.verdict = Verdict.INCONCLUSIVE
        if self.verdict == Verdict.REFUTED and not _witness_confirms(self.witness):
            self.sentence = ("the refutation was not confirmed by an independent replay "
                             f"({_witness_reason(self.witness)}), so INCONCLUSIVE. " + self.sentence)
            self.verdict = Verdict.INCONCLUSIVE
        elif self.verdict != Verdict.INCONCLUSIVE and self.witness is not None and self.witness.disagrees:
            self.sentence = (f"{_witness_reason(self.witness)}, so INCONCLUSIVE instead of {self.verdict.value}. "
                             + self.sentence)
            self.verdict = Verdict.INCONCLUSIVE

    def _held_back_prefix(self) -> str:
        return (f"not decided: {self.held_back}, so INCONCLUSIVE; the code alone said "
                f"{Verdict(self.verdict_before_controls).value}: ")

    def hold_back(self, reason: str) -> None:
        """Withdraw a decided verdict because the code that computed it is in doubt (``reason``: a control of
        the check failed, or a replay of another finding disagrees with the code). The verdict becomes
        INCONCLUSIVE, ``verdict_before_controls`` keeps what the code alone said, and the sentence says both,
        so that numbers a bug may have produced are never shown as a decided REFUTED or CONFIRMED.

        >>> f = Finding("gap", "c", "REFUTED", 0.9, 0.8, sentence="error 0.9 > bound 0.8.",
        ...             witness=None, judged=1)
        >>> f.verdict.value  # a REFUTED without a replayed witness is already undecided
        'INCONCLUSIVE'
        >>> g = Finding("fit", "c", "CONFIRMED", 1.0, 1.0, sentence="fit residual 1e-12.")
        >>> g.hold_back("control 'x' of this check failed"); g.verdict.value, g.verdict_before_controls.value
        ('INCONCLUSIVE', 'CONFIRMED')
        >>> g.sentence
        "not decided: control 'x' of this check failed, so INCONCLUSIVE; the code alone said CONFIRMED: fit residual 1e-12."
        >>> g.release(); g.verdict.value, g.sentence
        ('CONFIRMED', 'fit residual 1e-12.')
        """
        if self.held_back or self.verdict == Verdict.INCONCLUSIVE:
            return
        self.held_back, self.verdict_before_controls = str(reason), self.verdict
        self.sentence = self._held_back_prefix() + self.sentence
        self.verdict = Verdict.INCONCLUSIVE

    def release(self) -> None:
        """Undo :meth:`hold_back` (the check's result settles its verdict again from scratch)."""
        if not self.held_back or self.verdict_before_controls is None:
            return
        prefix = self._held_back_prefix()
        if self.sentence.startswith(prefix):
            self.sentence = self.sentence[len(prefix):]
        self.verdict = Verdict(self.verdict_before_controls)
        self.held_back, self.verdict_before_controls = "", None


@dataclass
class Control:
    """A positive control (an instance where the claim holds: the check must pass it) or a negative
    control (a broken method / false claim: the check must catch it), run inside the check."""

    name: str
    kind: str  # "positive" or "negative"
    passed: bool
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("positive", "negative"):
            raise ValueError(f"Control.kind: {self.kind!r}; choose 'positive' or 'negative'.")
        self.passed = bool(self.passed)


def _require_witness(w: Any, where: str) -> None:
    """Only a :class:`Witness` (built by the replay layer from a replay it ran) or None is accepted."""
    if w is not None and not isinstance(w, Witness):
        raise TypeError(f"{where}: got a {type(w).__name__}; a witness must be a Witness returned by a replay "
                        "function of opdcheck.numerics.replay (a dict of flags is not evidence).")


def _witness_confirms(w: Witness | None) -> bool:
    return w is not None and w.supports_refutation


def _witness_reason(w: Witness | None) -> str:
    return "no witness attached" if w is None else w.why_not()


#: how findings combine: a confirmed counterexample refutes; a textual disagreement is next; an
#: undecided finding leaves the whole claim undecided; only all-confirmed is CONFIRMED.
_PRECEDENCE = (Verdict.REFUTED, Verdict.INCONSISTENT, Verdict.INCONCLUSIVE, Verdict.CONFIRMED)


def combine_verdicts(verdicts) -> Verdict:
    """The verdict of a check from its findings' verdicts (see ``_PRECEDENCE``); none -> INCONCLUSIVE."""
    vs = [Verdict(v) for v in verdicts]
    if not vs:
        return Verdict.INCONCLUSIVE
    for v in _PRECEDENCE:
        if v in vs:
            return v
    return Verdict.INCONCLUSIVE  # pragma: no cover


def _has_weaker_reading(statement: str) -> bool | None:
    if not statement:
        return None
    from opdcheck.paper_checks.claims import has_weaker_reading  # data only; imports nothing of ours

    return has_weaker_reading(statement)


def reading_kind(reading: str) -> str:
    """``"literal"`` or ``"charitable"`` for the paper's own readings (also when annotated, e.g.
    ``"charitable (the proof's denominator)"``); ``"caveat"`` for any other named reading."""
    for kind in MAIN_READINGS:
        if reading == kind or reading.startswith(kind + " "):
            return kind
    return "caveat"


def finding_contribution(f: Finding) -> Verdict | None:
    """What ``f`` contributes to its check's verdict under the reading rule of this module's docstring
    (None: a caveat, reported but not counted)."""
    if f.verdict != Verdict.REFUTED:
        return f.verdict
    kind = reading_kind(f.reading)
    if kind == "caveat":
        return None
    if f.severity != "substantive":
        return Verdict.INCONSISTENT
    if kind == "charitable":
        return Verdict.REFUTED
    return Verdict.INCONSISTENT if _has_weaker_reading(f.statement) else Verdict.REFUTED


def combine_findings(findings) -> Verdict:
    """The verdict of a check from its findings under the reading rule (all caveats -> INCONCLUSIVE)."""
    contributions = [c for c in (finding_contribution(f) for f in findings) if c is not None]
    return combine_verdicts(contributions)


def reading_tag(f: Finding) -> str:
    """``VERDICT; reading, severity, what it counts as`` for reports (defaults omitted)."""
    c = finding_contribution(f)
    bits = []
    if f.reading != "literal":
        bits.append(f"{f.reading} reading")
    if f.severity != "substantive":
        bits.append(f.severity)
    if f.verdict == Verdict.REFUTED and c is None:
        bits.append("caveat: not the paper's claim")
    elif f.verdict == Verdict.REFUTED and c != Verdict.REFUTED:
        bits.append(f"counts as {c.value}")
    return f"{f.verdict.value}" + (f"; {', '.join(bits)}" if bits else "")


def _lead_key(f: Finding) -> tuple:
    c = finding_contribution(f)
    rank = _PRECEDENCE.index(c) if c is not None else len(_PRECEDENCE)
    kind = reading_kind(f.reading)
    return (rank, 0 if kind == "charitable" else 1 if kind == "literal" else 2)


def summary_from_findings(findings: "list[Finding]", controls: "list[Control] | None" = None) -> str:
    """One sentence per finding, generated from what each computed: ``[name: VERDICT; reading, severity]
    sentence``, strongest evidence under the most charitable reading first (then the order given); then,
    if controls are given, how many passed (and the detail of any that failed)."""
    ordered = sorted(findings, key=_lead_key)  # stable: ties keep the check's order
    text = " ".join(f"[{f.name}: {reading_tag(f)}] {f.sentence}".strip() for f in ordered)
    if controls:
        failed = [c for c in controls if not c.passed]
        text += f" Controls: {len(controls) - len(failed)} of {len(controls)} passed"
        text += ("." if not failed else
                 " (failed: " + "; ".join(f"{c.kind} {c.name}: {c.detail}" for c in failed) + ").")
    return text.strip()


@dataclass
class CheckResult:
    """The outcome of one check.

    ``computed`` and ``stated`` are the two sides of the comparison (numbers, arrays, expressions
    rendered as strings). ``stated`` is never None: when the paper states nothing numeric, it holds
    the claim's text. ``evidence`` holds table rows (list of dicts) the report renders;
    ``details`` free Markdown (derivations, LaTeX, explanations).
    """

    #: filled by the registry from the check's one declaration (``register_check``); never written by a check
    id: str = field(default="", kw_only=True)
    paper_ref: str = field(default="", kw_only=True)
    claim: str = field(default="", kw_only=True)
    verdict: Verdict
    computed: Any
    stated: Any
    comparison: Comparison
    tolerance: float | None = None
    tolerance_reason: str = ""
    summary: str = ""
    evidence: list[dict] = field(default_factory=list)
    details: str = ""
    instances: list[dict] = field(default_factory=list)  # {"name":..., "seed":..., ...}
    conventions: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # paths relative to the report directory
    counterexample: str | None = None  # path of a saved instance reproducing a REFUTED verdict
    #: filled by the registry: wall time of ``run``, the context's profile and seed
    wall_time: float = field(default=0.0, kw_only=True)
    profile: str = field(default="quick", kw_only=True)
    seed: int = field(default=0, kw_only=True)
    #: sub-verdicts; when given and ``verdict`` is None, the verdict is combined from them
    findings: list[Finding] = field(default_factory=list)
    #: positive/negative controls run inside the check; a failed one makes the verdict INCONCLUSIVE
    controls: list[Control] = field(default_factory=list)
    #: number of cases (instances x conventions, test points) that decided the verdict; 0 -> INCONCLUSIVE
    judged: int | None = None
    #: for REFUTED: the independent replay of the counterexample, a :class:`Witness` (only the replay
    #: layer builds one): what was replayed, by which method, both sides, ``confirms`` (the replay
    #: reproduces the violation), ``agrees`` (it matches the values the code under suspicion reported)
    witness: Witness | None = None
    #: reasons the machinery changed the check's own verdict (filled by ``__post_init__``)
    downgrades: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.stated is None:
            raise ValueError(f"CheckResult({self.id}).stated is None; state the claim's side explicitly.")
        # what the check itself gave (kept so that the register's readings can be applied later, once)
        self._own_verdict = None if self.verdict is None else Verdict(self.verdict)
        self._own_summary = self.summary
        if self.summary and self.findings and self.summary in (summary_from_findings(self.findings),
                                                               summary_from_findings(self.findings, self.controls)):
            self._own_summary = ""  # the check used the generator: regenerate it once the readings are known
        self._settle()

    def apply_register(self) -> None:
        """Label the findings the check left unlabelled from the claims register (statement, reading,
        severity of the judge naming this check id and finding) and settle the verdict again. Called by
        the registry once ``id`` is filled; a no-op when no finding changes."""
        from opdcheck.paper_checks.claims import judge_for, label_conflicts

        self._label_conflicts = label_conflicts(self.id, self.findings)
        changed = bool(self._label_conflicts)
        for f in self.findings:
            if f.statement:
                continue
            hit = judge_for(self.id, f.name)
            if hit is None:
                continue
            st, j = hit
            f.statement, f.reading, f.severity = st.id, j.reading, j.severity
            changed = True
        if changed:
            self._settle()

    def _settle(self) -> None:
        """The verdict from the check's own verdict or its findings (reading rule), then ``_enforce``."""
        self.downgrades = []
        self.summary = self._own_summary
        for f in self.findings:  # settle from what the code said, then hold back again in _enforce
            f.release()
        if self._own_verdict is None:
            self.verdict = combine_findings(self.findings)
            if not self.summary:
                self.summary = summary_from_findings(self.findings, self.controls)
        else:
            self.verdict = self._own_verdict
            refuting = [f for f in self.findings if f.verdict == Verdict.REFUTED]
            if (self.verdict == Verdict.REFUTED and refuting
                    and not any(finding_contribution(f) == Verdict.REFUTED for f in refuting)):
                combined = combine_findings(self.findings)
                self.downgrades.append(
                    f"the check said REFUTED, but none of its refuting findings judges the most charitable reading "
                    f"as a substantive failure ({'; '.join(f'{f.name}: {reading_tag(f)}' for f in refuting)}), so "
                    f"{combined.value}")
                self.summary = f"{combined.value} under the most charitable reading (the check alone said REFUTED). " \
                    + (self.summary or summary_from_findings(self.findings, self.controls))
                self.verdict = combined
        self.verdict = Verdict(self.verdict)
        _require_witness(self.witness, f"CheckResult({self.id}).witness")
        self._enforce()

    def _enforce(self) -> None:
        """How a verdict is earned, once for every check: nothing judged, a failed control, a replay
        that disagrees with the code it judges (in any finding, whatever its verdict), or a REFUTED whose
        witness was not independently replayed -> INCONCLUSIVE."""
        v = self.verdict
        reasons = []
        # INCONSISTENT is also a judgement (paper vs derivation): it needs something judged and
        # passing controls as much as CONFIRMED/REFUTED do (a broken derivation must not read as a
        # finding about the paper)
        judging = v != Verdict.INCONCLUSIVE
        if judging and self.judged is not None and self.judged <= 0:
            reasons.append("nothing was judged (0 cases decided)")
        failed = [c for c in self.controls if not c.passed]
        if judging and failed:
            reasons.append("control(s) failed: " + "; ".join(f"{c.kind} control {c.name}: {c.detail}" for c in failed))
        # a replay that ran and disagrees with the code is a failed control of the whole check: the code
        # that produced the other findings is then in doubt too, so even a confirmed REFUTED elsewhere yields
        disagreeing = [("check", self.witness)] if self.witness is not None and self.witness.disagrees else []
        disagreeing += [(f.name, f.witness) for f in self.findings if f.witness is not None and f.witness.disagrees]
        if judging and disagreeing:
            reasons.append("replay control(s) failed: " + "; ".join(
                f"{name}: {w.why_not()}" for name, w in disagreeing))
        # a finding's own label (reading, severity) that the claims register contradicts: which one is right
        # decides between a typo and a substantive failure, so neither may carry the verdict
        conflicts = getattr(self, "_label_conflicts", [])
        if judging and conflicts:
            reasons.append("the check and the claims register label a finding differently: " + "; ".join(conflicts))
        if v == Verdict.REFUTED:
            own = self.witness
            if own is None and self.findings:  # a REFUTED finding carries its own replayed witness
                refuting = [f for f in self.findings if finding_contribution(f) == Verdict.REFUTED]
                own = refuting[0].witness if refuting else None
            if not _witness_confirms(own):
                reasons.append("the refutation was not confirmed by an independent replay (" + _witness_reason(own) + ")")
        # the findings a failed control or a disagreeing replay puts in doubt are not shown as decided either
        # (whatever the check's verdict): their numbers may be the bug's
        doubt = [f"{c.kind} control {c.name!r} of this check failed" for c in failed]
        doubt += [f"the replay of {'the check' if name == 'check' else 'finding ' + repr(name)} disagrees with "
                  "the code" for name, _ in disagreeing]
        if doubt:
            for f in self.findings:
                if f.witness is not None and f.witness.disagrees:
                    continue  # already undecided by its own replay
                f.hold_back("; ".join(doubt))
        if reasons:
            self.downgrades.extend(reasons)
            self.summary = (f"INCONCLUSIVE (the check alone said {v.value}; " + "; ".join(reasons) + "). "
                            + self.summary)
            self.verdict = Verdict.INCONCLUSIVE

    @property
    def headline(self) -> str:
        """One line for the verdict tables (terminal, report.md, report.html): see :func:`headline`."""
        return headline(self.verdict, self.findings, self.summary, downgrades=self.downgrades)

    def to_dict(self) -> dict:
        d = _fields_of(self)
        d["verdict"] = self.verdict.value
        d["headline"] = self.headline  # a display field, derived from the findings
        return to_jsonable(d)


def _fields_of(obj: Any) -> Any:
    """``dataclasses.asdict`` that keeps a Witness whole (to_jsonable renders it as its flat view)."""
    if isinstance(obj, Witness):
        return obj
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _fields_of(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_fields_of(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _fields_of(v) for k, v in obj.items()}
    return obj


#: the length of a headline before it is cut at a word boundary
HEADLINE_CHARS = 160


_ABBREVIATIONS = {"eq", "eqs", "alg", "algs", "thm", "fig", "figs", "sec", "cor", "e.g", "i.e", "cf", "vs", "no", "approx"}


def _first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    for m in re.finditer(r"\.\s+(?=[A-Z])", text):
        word = re.split(r"[\s(]", text[:m.start()])[-1].lower()
        if word not in _ABBREVIATIONS and not re.fullmatch(r"[a-z]", word):
            return text[:m.start() + 1]
    return text


def _shorten(text: str, limit: int = HEADLINE_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + " …"


def headline(verdict, findings, summary: str = "", *, downgrades=()) -> str:
    """The one-line headline of a check, generated from what it computed: the first finding whose
    verdict is the check's verdict (its name and first sentence), else the summary's first sentence.
    ``findings`` may be :class:`Finding` objects or their ``to_dict`` form (the report renders either).

    >>> headline("INCONSISTENT", [Finding("a", "c", "CONFIRMED", 1, 1, sentence="fine."),
    ...                      Finding("b", "c", "INCONSISTENT", 1, 1, sentence="x is 2. More.")])
    'b: x is 2.'
    """
    v = Verdict(verdict).value

    def get(f, key):
        return f.get(key) if isinstance(f, dict) else getattr(f, key)

    if downgrades:
        return _shorten("downgraded: " + _first_sentence(str(downgrades[0])))
    lead = [f for f in findings if Verdict(get(f, "verdict")).value == v]
    if not lead and findings:  # the check's own verdict is not any finding's: the strongest finding
        strongest = combine_verdicts(get(f, "verdict") for f in findings).value
        lead = [f for f in findings if Verdict(get(f, "verdict")).value == strongest]
    if lead:
        f = lead[0]
        return _shorten(f"{get(f, 'name')}: {_first_sentence(get(f, 'sentence') or '')}".rstrip(": "))
    return _shorten(_first_sentence(summary or "")) or v


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, enums and tuples to JSON-friendly values (NaN/inf as strings)."""
    if isinstance(obj, Witness):
        return to_jsonable(obj.as_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if np.isfinite(f):
            return f
        return str(f)
    if obj is None or isinstance(obj, (int, str)):
        return obj
    return str(obj)
