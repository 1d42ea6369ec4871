"""Validation of a recorded baseline before ``opdcheck run --strict`` does any work, and the comparison.

One place that knows the shape of ``baseline.json``, so that a change of format (a verdict per check,
or a verdict and one per finding) is absorbed here. Accepted shapes, per profile::

    {"quick": {"CHECK-ID": "VERDICT", ...}, "full": {...}}
    {"quick": {"CHECK-ID": {"verdict": "VERDICT", "findings": {"NAME": "VERDICT", ...}}, ...}}

where VERDICT is one of CONFIRMED, REFUTED, INCONSISTENT, INCONCLUSIVE. Anything else (a truncated
file, a null verdict, an unknown verdict string, a non-object) is a ValueError naming the entry and
the fix. A check with no recorded entry, or a finding missing from a recorded per-finding entry,
counts as a difference: ``--strict`` never passes by default.

Example
-------
>>> expected = validate_baseline({"quick": {"a": "CONFIRMED"}}, "quick", ["a"])
>>> expected["a"].verdict
'CONFIRMED'
>>> validate_baseline({"quick": {"a": None}}, "quick", ["a"])
Traceback (most recent call last):
...
ValueError: baseline quick.a: verdict None; record one of CONFIRMED, REFUTED, INCONSISTENT, INCONCLUSIVE (regenerate the baseline from a run).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["VERDICTS", "Expected", "load_baseline_file", "validate_baseline", "strict_differences"]

VERDICTS = ("CONFIRMED", "REFUTED", "INCONSISTENT", "INCONCLUSIVE")


@dataclass(frozen=True)
class Expected:
    """What the baseline records for one check: its verdict and, when recorded, its findings' verdicts."""

    verdict: str
    findings: dict = field(default_factory=dict)


def _verdict(value, where: str) -> str:
    if not isinstance(value, str) or value not in VERDICTS:
        raise ValueError(f"baseline {where}: verdict {value!r:.60}; record one of {', '.join(VERDICTS)} "
                         "(regenerate the baseline from a run).")
    return value


def load_baseline_file(path: str | Path) -> dict:
    """The parsed JSON of a baseline file; a one-line ValueError for a missing, unreadable or malformed file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"baseline {path}: does not exist; --strict needs a recorded baseline.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"baseline {path}: cannot be read ({exc}); restore it from the package.") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"baseline {path}: not valid JSON ({str(exc)[:80]}); the file is truncated or edited by hand: "
                         "restore it from the package.") from None
    return data


def validate_baseline(data, profile: str, ids: Sequence[str]) -> dict[str, Expected]:
    """The recorded expectations of ``profile`` for every id in ``ids`` that has an entry, after checking the
    whole profile's schema (module docstring). Ids without an entry are simply absent from the result."""
    if not isinstance(data, dict):
        raise ValueError(f"baseline: top level is a {type(data).__name__}, expected an object keyed by profile "
                         "('quick', 'full'); restore the file from the package.")
    section = data.get(profile)
    if section is None:
        raise ValueError(f"baseline: no entry for profile {profile!r} (profiles recorded: {sorted(data)}); "
                         "record one from a run of that profile.")
    if not isinstance(section, dict):
        raise ValueError(f"baseline {profile}: a {type(section).__name__}, expected an object mapping check id to "
                         "verdict; restore the file from the package.")
    out: dict[str, Expected] = {}
    for cid, entry in section.items():
        where = f"{profile}.{cid}"
        if isinstance(entry, dict):
            verdict = _verdict(entry.get("verdict"), where)
            findings = entry.get("findings", {})
            if isinstance(findings, list):  # [{"name": ..., "verdict": ...}, ...]
                try:
                    findings = {f["name"]: f.get("verdict") for f in findings}
                except (TypeError, KeyError):
                    raise ValueError(f"baseline {where}.findings: entries must be objects with name and verdict.") from None
            if not isinstance(findings, dict):
                raise ValueError(f"baseline {where}.findings: a {type(findings).__name__}; record an object mapping "
                                 "finding name to verdict.")
            out[cid] = Expected(verdict, {str(k): _verdict(v, f"{where}.findings.{k}") for k, v in findings.items()})
        else:
            out[cid] = Expected(_verdict(entry, where))
    return {cid: out[cid] for cid in ids if cid in out}


def strict_differences(results: Iterable, expected: dict[str, Expected]) -> list[str]:
    """One line per difference between ``results`` (CheckResult) and the validated baseline: another
    verdict, no recorded entry, a recorded finding missing or with another verdict."""
    lines = []
    for r in results:
        exp = expected.get(r.id)
        got = r.verdict.value
        if exp is None:
            lines.append(f"{r.id}: no recorded baseline verdict (got {got})")
            continue
        if exp.verdict != got:
            lines.append(f"{r.id}: recorded {exp.verdict}, got {got}")
        have = {f.name: f.verdict.value for f in getattr(r, "findings", [])}
        for name, v in exp.findings.items():
            if name not in have:
                lines.append(f"{r.id}: finding {name!r} recorded {v}, not produced by this run")
            elif have[name] != v:
                lines.append(f"{r.id}: finding {name!r}: recorded {v}, got {have[name]}")
    return lines
