"""The recorded baseline: every check's verdict, every finding's verdict, every control's outcome.

``baseline.json`` holds, per profile and per check::

    {"verdict": "REFUTED",
     "findings": {"<finding name>": "REFUTED", ...},
     "controls": {"<control name>": true, ...},
     "labels": {"<finding name>": "<statement> · <reading> · <severity>", ...},
     "numbers": {"computed": {"value": 0.924, "rtol": 1e-6, "reason": "..."}}}

``findings`` and ``controls`` are ``{}`` for a check that has none; ``null`` means *not recorded* (a profile
that was never measured finding by finding) and counts as a difference, like a missing check. ``labels``
records what each finding says about the paper beside its verdict (the register statement it judges, the
reading, and the weight of a failure: a "substantive" error of the paper vs a "misstatement" or "typo"), so
that a relabelled finding is a difference too; an entry recorded before labels were recorded has none and is
compared without them. ``numbers`` is optional: key numbers with their stated relative tolerance.

:func:`compare` lists every difference between results and the recorded entries (used by
``opdcheck run --strict`` and the default tests); :func:`record` builds entries from results.
Regenerate from a report's ``results.json``::

    python -m opdcheck.paper_checks.baseline --from opdcheck-report/results.json --profile quick

(``--from`` repeated merges runs: a later file's checks replace an earlier one's.)
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from opdcheck.tolerances import BASELINE_NUMBER_RTOL

__all__ = ["BASELINE_PATH", "VERDICTS", "BaselineError", "load", "validate", "record", "compare",
           "result_entry", "entry_differences", "write_profile", "main"]

BASELINE_PATH = Path(__file__).parent / "baseline.json"
VERDICTS = ("CONFIRMED", "REFUTED", "INCONSISTENT", "INCONCLUSIVE")
PROFILES = ("quick", "full")


class BaselineError(ValueError):
    """A malformed baseline file; the message is one line naming the field, the value and the fix."""


# ------------------------------------------------------------------------------------------ reading
def load(path: str | Path | None = None) -> dict:
    """The validated baseline ``{profile: {check id: entry}}`` (an absent file is ``{}``)."""
    p = Path(path) if path is not None else BASELINE_PATH
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}); regenerate it with "
                            "python -m opdcheck.paper_checks.baseline --from results.json --profile quick") from None
    validate(data, str(p))
    return data


def validate(data: Any, where: str = "baseline") -> None:
    """Raise :class:`BaselineError` (one line) unless ``data`` has the format of the module docstring."""
    fix = "; regenerate it with python -m opdcheck.paper_checks.baseline --from results.json --profile PROFILE"
    if not isinstance(data, dict):
        raise BaselineError(f"{where}: top level is {type(data).__name__}, expected an object {{profile: ...}}{fix}")
    for prof, checks in data.items():
        if prof not in PROFILES:
            raise BaselineError(f"{where}: profile {prof!r} unknown; use one of {PROFILES}{fix}")
        if not isinstance(checks, dict):
            raise BaselineError(f"{where}: {prof} is {type(checks).__name__}, expected {{check id: entry}}{fix}")
        for cid, e in checks.items():
            at = f"{where}: {prof}.{cid}"
            if e is None:
                continue  # recorded as missing: compare() reports it
            if not isinstance(e, dict):
                raise BaselineError(f"{at} is {e!r}, expected {{\"verdict\": ..., \"findings\": ...}}{fix}")
            if e.get("verdict") not in VERDICTS:
                raise BaselineError(f"{at}.verdict is {e.get('verdict')!r}; use one of {VERDICTS}{fix}")
            fs = e.get("findings", None)
            if fs is not None and (not isinstance(fs, dict) or any(v not in VERDICTS for v in fs.values())):
                raise BaselineError(f"{at}.findings is {fs!r}, expected {{finding name: verdict}}{fix}")
            cs = e.get("controls", {})
            if cs is not None and (not isinstance(cs, dict) or any(not isinstance(v, bool) for v in cs.values())):
                raise BaselineError(f"{at}.controls is {cs!r}, expected {{control name: true/false}}{fix}")
            ls = e.get("labels", {})
            if ls is not None and (not isinstance(ls, dict) or any(not isinstance(v, str) for v in ls.values())):
                raise BaselineError(f"{at}.labels is {ls!r}, expected {{finding name: label}}{fix}")
            for k, n in (e.get("numbers") or {}).items():
                if not (isinstance(n, dict) and isinstance(n.get("value"), (int, float))
                        and isinstance(n.get("rtol"), (int, float)) and n["rtol"] >= 0):
                    raise BaselineError(f"{at}.numbers.{k} is {n!r}, expected {{\"value\": x, \"rtol\": r >= 0}}{fix}")


# ------------------------------------------------------------------------------ results -> entries
def _as_dict(result: Any) -> dict:
    return result if isinstance(result, dict) else result.to_dict()


def _unique(names: Iterable[str]) -> list[str]:
    """Names made unique in order (a repeated name gets `` #2``, `` #3``...)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} #{seen[n]}")
    return out


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def result_entry(result: Any) -> dict:
    """The baseline entry of one result (a CheckResult or its ``to_dict()``)."""
    d = _as_dict(result)
    fs = d.get("findings") or []
    cs = d.get("controls") or []
    entry: dict = {
        "verdict": d["verdict"],
        "findings": dict(zip(_unique(f["name"] for f in fs), (f["verdict"] for f in fs))),
        "controls": dict(zip(_unique(c["name"] for c in cs), (bool(c["passed"]) for c in cs))),
        "labels": dict(zip(_unique(f["name"] for f in fs), (finding_label(f) for f in fs))),
    }
    numbers = {}
    if (v := _number(d.get("computed"))) is not None:
        numbers["computed"] = {"value": v, "rtol": BASELINE_NUMBER_RTOL}
    for name, f in zip(_unique(f["name"] for f in fs), fs):
        if (v := _number(f.get("computed"))) is not None:
            numbers[f"finding:{name}"] = {"value": v, "rtol": BASELINE_NUMBER_RTOL}
    if numbers:
        entry["numbers"] = numbers
    return entry


def finding_label(f: Mapping[str, Any]) -> str:
    """What a finding (its ``to_dict()``) says about the paper beside its verdict: ``statement · reading ·
    severity`` (the register statement it judges, the reading judged, the weight of a failure)."""
    return " · ".join(str(f.get(k) or "") for k in ("statement", "reading", "severity"))


def record(results: Iterable[Any]) -> dict:
    """``{check id: entry}`` for a profile, from results."""
    return {_as_dict(r)["id"]: result_entry(r) for r in results}


# ------------------------------------------------------------------------------------------ comparing
def _close(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b)) or a == b


def compare(results: Iterable[Any], recorded: Mapping[str, Any] | None) -> list[str]:
    """Every difference between ``results`` and the recorded entries of their profile, one line each
    (empty when they agree). A check, finding or control missing on either side, or recorded as null,
    is a difference; so is a key number outside its recorded tolerance."""
    recorded = recorded or {}
    diffs: list[str] = []
    for r in results:
        diffs += entry_differences(_as_dict(r)["id"], recorded.get(_as_dict(r)["id"]), result_entry(r))
    return diffs


def entry_differences(cid: str, want: Mapping[str, Any] | None, got: Mapping[str, Any]) -> list[str]:
    """The differences between a recorded entry ``want`` and an entry ``got`` of check ``cid`` (see :func:`compare`)."""
    if want is None:
        return [f"{cid}: no recorded baseline entry (got {got['verdict']})"]
    diffs = []
    if want["verdict"] != got["verdict"]:
        diffs.append(f"{cid}: recorded {want['verdict']}, got {got['verdict']}")
    for kind in ("findings", "controls", "labels"):
        w, g = want.get(kind), got.get(kind) or {}
        if kind == "labels" and kind not in want:
            continue  # recorded before labels were: compared without them
        if w is None:
            diffs.append(f"{cid}: {kind} not recorded (got {len(g)})")
            continue
        for name in sorted(set(w) | set(g)):
            if name not in w:
                diffs.append(f"{cid}: {kind[:-1]} {name!r} not in the baseline (got {g[name]})")
            elif name not in g:
                diffs.append(f"{cid}: {kind[:-1]} {name!r} recorded {w[name]}, missing from the run")
            elif w[name] != g[name]:
                diffs.append(f"{cid}: {kind[:-1]} {name!r} recorded {w[name]}, got {g[name]}")
    gn = got.get("numbers", {})
    for key, n in (want.get("numbers") or {}).items():
        if key not in gn:
            diffs.append(f"{cid}: number {key} recorded {n['value']:.6g}, missing from the run")
        elif not _close(gn[key]["value"], n["value"], n["rtol"]):
            diffs.append(f"{cid}: number {key} recorded {n['value']:.10g}, got {gn[key]['value']:.10g} "
                         f"(rtol {n['rtol']:g})")
    return diffs


# ------------------------------------------------------------------------------------------ writing
def write_profile(results_json, profile: str, path: str | Path | None = None, *, update: bool = False) -> dict:
    """Replace ``profile``'s entries of the baseline file with those of one or more reports' ``results.json``
    (a later file's check replaces an earlier one's: how a run of a few re-run checks is merged into a full
    run); the other profile is kept. With ``update=True`` the profile's recorded checks that the given runs
    did not run are kept (recording a few checks re-run alone never erases the others). Returns the new
    profile's entries."""
    sources = [results_json] if isinstance(results_json, (str, Path)) else list(results_json)
    dest = Path(path) if path is not None else BASELINE_PATH
    data = load(dest) if dest.exists() else {}
    entries: dict = dict(data.get(profile) or {}) if update else {}
    for src in map(Path, sources):
        try:
            payload = json.loads(src.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BaselineError(f"--from {src}: cannot read a results.json ({exc}); pass the results.json of a "
                                "finished opdcheck run") from None
        if payload.get("profile") not in (None, profile):
            raise BaselineError(f"--from {src}: its profile is {payload.get('profile')!r}, not {profile!r}; "
                                f"pass --profile {payload.get('profile')} or a {profile} run's results.json")
        if payload.get("crashed"):
            raise BaselineError(f"--from {src}: checks crashed ({', '.join(payload['crashed'])}); fix them and run again")
        entries.update(record(payload["results"]))
    data[profile] = entries
    validate(data, str(dest))
    dest.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return entries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m opdcheck.paper_checks.baseline",
                                 description="Record a profile's per-finding baseline from a results.json.")
    ap.add_argument("--from", dest="src", required=True, action="append",
                    help="results.json of an opdcheck run (repeat to merge: a later file's checks replace earlier ones)")
    ap.add_argument("--profile", choices=PROFILES, required=True)
    ap.add_argument("--update", action="store_true",
                    help="keep the profile's recorded checks that these runs did not run (default: replace the profile)")
    ap.add_argument("--out", default=None, help="baseline file (default: the package's baseline.json)")
    args = ap.parse_args(argv)
    try:
        entries = write_profile(args.src, args.profile, args.out, update=args.update)
    except BaselineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    n_f = sum(len((e or {}).get("findings") or {}) for e in entries.values())  # None: listed, not recorded
    print(f"recorded {len(entries)} checks and {n_f} findings for profile {args.profile}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
