"""``Witness``: the record of an independent replay, which only the replay layer can build.

A REFUTED finding is trusted only on a witness: what was replayed, by which independent method, the
replayed numbers and the numbers the code under suspicion reported, whether the replay reproduces the
violation (``confirms``) and whether it matches the code (``agrees``). A plain dict of flags could be
written by any check (and was: a check wrote ``confirms = agrees = True`` for its own refutations), so a
``Witness`` can only be constructed inside ``opdcheck.numerics.replay``: the constructor checks a
module-private token, and ``Witness(...)`` from anywhere else raises ``TypeError``. Checks call a
``replay_*`` function, which runs the replay and returns the Witness.

Read access is also dict-like (``w["agrees"]``, ``w.get("method")``) over the flat view
:meth:`Witness.as_dict` that reports and ``results.json`` show.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["Witness"]

#: the module-private capability: only code that imports it (the replay layer) can build a Witness
_TOKEN = object()


def _frozen(m: Mapping | None) -> Mapping:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True, eq=False)
class Witness:
    """An independent replay's verdict on one counterexample (or on one value the code computed).

    ``subject``: what was replayed; ``method``: the independent method (e.g. "mpmath, 50 digits, Newton
    on the KKT conditions of (4)"); ``replay_values`` / ``code_values``: the two sides; ``ran``: the
    replay ran (False: ``reason`` says why not); ``confirms``: the replay reproduces the violation;
    ``agrees``: the replay matches the code's numbers to the stated tolerance (``disagreement`` says
    where not); ``details``: anything else the report should show.
    """

    subject: str
    method: str
    replay_values: Mapping = field(default_factory=dict)
    code_values: Mapping = field(default_factory=dict)
    ran: bool = True
    confirms: bool = False
    agrees: bool = False
    disagreement: str = ""
    reason: str = ""
    details: Mapping = field(default_factory=dict)
    _token: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise TypeError("Witness: only the replay layer (opdcheck.numerics.replay) builds a Witness, from a "
                            "replay it ran; call one of its replay_* functions instead of constructing one.")
        object.__setattr__(self, "replay_values", _frozen(self.replay_values))
        object.__setattr__(self, "code_values", _frozen(self.code_values))
        object.__setattr__(self, "details", _frozen(self.details))
        object.__setattr__(self, "ran", bool(self.ran))
        object.__setattr__(self, "confirms", bool(self.ran and self.confirms))
        object.__setattr__(self, "agrees", bool(self.ran and self.agrees))

    @property
    def disagrees(self) -> bool:
        """The replay ran and does not match the code under suspicion (a failed control of its check)."""
        return self.ran and not self.agrees

    @property
    def supports_refutation(self) -> bool:
        """Replayed, reproduces the violation, and matches the code."""
        return self.ran and self.confirms and self.agrees

    def why_not(self) -> str:
        """Why this witness does not support a refutation ("ok" when it does)."""
        if not self.ran:
            return "witness not replayed" + (f": {self.reason}" if self.reason else "")
        if not self.agrees:
            return ("the replay disagrees with the code under suspicion: "
                    + (self.disagreement or "values differ"))
        if not self.confirms:
            return "the replay does not reproduce the violation"
        return "ok"

    def as_dict(self) -> dict:
        """The flat view reports show: flags, method, subject, both sides (suffixed), details."""
        out: dict[str, Any] = {"replayed": self.ran, "confirms": self.confirms, "agrees": self.agrees,
                               "method": self.method, "subject": self.subject}
        out.update({f"{k} (replay)": v for k, v in self.replay_values.items()})
        out.update({f"{k} (code)": v for k, v in self.code_values.items()})
        out.update(self.details)
        if self.reason:
            out["reason"] = self.reason
        if self.disagreement:
            out["disagreement"] = self.disagreement
        return out

    # dict-like read access over the flat view
    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_dict().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()

    def __iter__(self):
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def keys(self):
        return self.as_dict().keys()

    def items(self):
        return self.as_dict().items()

    def __deepcopy__(self, memo) -> "Witness":  # immutable: dataclasses.asdict may deep-copy it
        return self

    def __reduce__(self):
        # a sweep task run in another process returns its witness by pickling: rebuilt here, inside the
        # replay layer, from plain values (a mappingproxy does not pickle)
        return (_unpickle, (self.subject, self.method, dict(self.replay_values), dict(self.code_values), self.ran,
                           self.confirms, self.agrees, self.disagreement, self.reason, dict(self.details)))


def _unpickle(subject, method, replay_values, code_values, ran, confirms, agrees, disagreement, reason,
             details) -> Witness:
    """Unpickle a Witness (see ``Witness.__reduce__``)."""
    return Witness(subject=subject, method=method, replay_values=replay_values, code_values=code_values, ran=ran,
                   confirms=confirms, agrees=agrees, disagreement=disagreement, reason=reason, details=details,
                   _token=_TOKEN)


def _issue(subject: str, method: str, *, confirms: bool, agrees: bool, replay_values: Mapping | None = None,
           code_values: Mapping | None = None, disagreement: str = "", details: Mapping | None = None) -> Witness:
    """Build a Witness for a replay that ran (replay layer only)."""
    return Witness(subject=subject, method=method, replay_values=replay_values or {}, code_values=code_values or {},
                   ran=True, confirms=confirms, agrees=agrees, disagreement=disagreement if not agrees else "",
                   details=details or {}, _token=_TOKEN)


def _not_run(subject: str, method: str, reason: str, details: Mapping | None = None) -> Witness:
    """A Witness for a replay that could not run (it supports nothing)."""
    return Witness(subject=subject, method=method, ran=False, reason=reason, details=details or {}, _token=_TOKEN)


_FLAGS = ("replayed", "confirms", "agrees", "method", "disagreement", "reason", "subject")


def _from_flat(flat: Mapping, subject: str) -> Witness:
    """Wrap the flat record a replay function assembled (keys ``replayed``, ``confirms``, ``agrees``,
    ``method``, ``disagreement``; ``... (replay)`` / ``... (code)`` numbers; the rest as details)."""
    if not flat.get("replayed", True):
        return _not_run(subject, str(flat.get("method", "")), str(flat.get("reason", "not replayed")),
                        {k: v for k, v in flat.items() if k not in _FLAGS})
    rep = {k[: -len(" (replay)")]: v for k, v in flat.items() if k.endswith(" (replay)")}
    code = {k[: -len(" (code)")]: v for k, v in flat.items() if k.endswith(" (code)")}
    rest = {k: v for k, v in flat.items() if k not in _FLAGS and not k.endswith((" (replay)", " (code)"))}
    return _issue(subject, str(flat.get("method", "")), confirms=bool(flat.get("confirms")),
                  agrees=bool(flat.get("agrees")), replay_values=rep, code_values=code,
                  disagreement=str(flat.get("disagreement", "")), details=rest)
