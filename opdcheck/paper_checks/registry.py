"""The registry of checks: one module per claim id of SPEC.md §3, each registering one check.

A check module defines a function ``run(ctx: CheckContext) -> CheckResult`` decorated with
:func:`register_check`. :func:`all_checks` imports every module of this package except the
infrastructure ones, so a new check is one new file.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from typing import Callable

from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import CheckResult

__all__ = ["Check", "register_check", "all_checks", "get_check", "INFRASTRUCTURE_MODULES"]

INFRASTRUCTURE_MODULES = {"result", "registry", "context", "report", "figures", "common", "baseline"}


@dataclass(frozen=True)
class Check:
    id: str
    paper_ref: str
    claim: str
    expected: str  # what SPEC.md says is known today (not used to decide the verdict)
    func: Callable[[CheckContext], CheckResult]
    order: int = 100
    accepts_instance: bool = False  # whether --instance FILE is meaningful for it

    @property
    def doc(self) -> str:
        """The check module's docstring (problem, update, claim, reference) and the run function's."""
        module = sys.modules.get(self.func.__module__)
        parts = [inspect.cleandoc(d) for d in (getattr(module, "__doc__", None), self.func.__doc__) if d]
        return "\n\n".join(parts)

    def run(self, ctx: CheckContext) -> CheckResult:
        return self.func(ctx)


_REGISTRY: dict[str, Check] = {}


def register_check(id: str, paper_ref: str, claim: str, expected: str = "", order: int = 100,
                   accepts_instance: bool = False) -> Callable:
    """Decorator registering ``func(ctx) -> CheckResult`` under ``id``."""

    def deco(func: Callable[[CheckContext], CheckResult]) -> Callable[[CheckContext], CheckResult]:
        if id in _REGISTRY and _REGISTRY[id].func.__module__ != func.__module__:
            raise RuntimeError(f"check id {id!r} registered twice ({_REGISTRY[id].func.__module__}, {func.__module__})")
        _REGISTRY[id] = Check(id, paper_ref, claim, expected, func, order, accepts_instance)
        return func

    return deco


def _discover() -> None:
    import opdcheck.paper_checks as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("_") or mod.name in INFRASTRUCTURE_MODULES:
            continue
        importlib.import_module(f"opdcheck.paper_checks.{mod.name}")


def all_checks() -> list[Check]:
    """Every registered check, in report order."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda c: (c.order, c.id))


def get_check(check_id: str) -> Check:
    checks = {c.id: c for c in all_checks()}
    if check_id not in checks:
        raise KeyError(f"unknown check id {check_id!r}; known ids: {', '.join(sorted(checks))}")
    return checks[check_id]
