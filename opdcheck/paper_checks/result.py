"""CheckResult: what one check found, with the computed and the stated side together (PEPit style)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

__all__ = ["Verdict", "Comparison", "CheckResult", "to_jsonable"]


class Verdict(str, Enum):
    """The four outcomes of SPEC.md §3."""

    CONFIRMED = "CONFIRMED"        # numerics and algebra agree with the claim on every instance tried
    REFUTED = "REFUTED"            # a reproducible counterexample, saved with its seed and instance
    INCONSISTENT = "INCONSISTENT"  # the paper disagrees with itself or with a derivation; both versions named
    INCONCLUSIVE = "INCONCLUSIVE"  # could not decide: solver failure, budget exhausted


Comparison = str  # one of "<=", ">=", "==", "rate<=", "identity", "converges", "diverges"


@dataclass
class CheckResult:
    """The outcome of one check.

    ``computed`` and ``stated`` are the two sides of the comparison (numbers, arrays, expressions
    rendered as strings). ``stated`` is never None: when the paper states nothing numeric, it holds
    the claim's text. ``evidence`` holds table rows (list of dicts) the report renders;
    ``details`` free Markdown (derivations, LaTeX, explanations).
    """

    id: str
    paper_ref: str
    claim: str
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
    wall_time: float = 0.0
    profile: str = "quick"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.stated is None:
            raise ValueError(f"CheckResult({self.id}).stated is None; state the claim's side explicitly.")
        self.verdict = Verdict(self.verdict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return to_jsonable(d)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, enums and tuples to JSON-friendly values (NaN/inf as strings)."""
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
