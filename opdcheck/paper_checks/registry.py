"""The registry of checks: one module per claim id in ``paper_checks/checks/``, each registering one check.

A check module defines a function ``run(ctx: CheckContext) -> CheckResult`` decorated with
:func:`register_check`. :func:`all_checks` imports every module of ``checks/``, so a new check is one new file.
:func:`get_check` imports only the module named after the id (``thm-3.4`` -> ``thm_3_4``, ``lemma-B.5`` ->
``lemma_b5``) and falls back to importing every module when that one does not register the id, so running
one check does not pay for the imports of all the others (sympy, scipy.optimize, Numba, cvxpy).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from threadpoolctl import threadpool_limits

from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import CheckResult

if TYPE_CHECKING:
    from opdcheck.problem import Problem

__all__ = ["Check", "register_check", "all_checks", "get_check"]



@dataclass(frozen=True)
class Check:
    id: str
    paper_ref: str
    claim: str
    expected: str  # what is known before running (not used to decide the verdict)
    func: Callable[[CheckContext], CheckResult]
    order: int = 100
    accepts_instance: bool = False  # whether --instance FILE is meaningful for it
    #: ``memory(problem) -> bytes`` the check needs on an instance (opdcheck.resources); None -> generic
    memory: "Callable[[Problem], int] | None" = None

    def memory_estimate(self, problem: "Problem") -> int:
        """Bytes this check needs on ``problem`` (its declared estimator, else ``resources.generic_bytes``)."""
        from opdcheck.resources import generic_bytes

        return int((self.memory or generic_bytes)(problem))

    @property
    def doc(self) -> str:
        """The check module's docstring (problem, update, claim, reference) and the run function's."""
        module = sys.modules.get(self.func.__module__)
        parts = [inspect.cleandoc(d) for d in (getattr(module, "__doc__", None), self.func.__doc__) if d]
        return "\n\n".join(parts)

    def run(self, ctx: CheckContext) -> CheckResult:
        return self.func(ctx)


_REGISTRY: dict[str, Check] = {}
#: BLAS threads inside a check (see ``register_check``): results must not depend on the thread count
CHECK_BLAS_THREADS = 1


def register_check(id: str, paper_ref: str, claim: str, expected: str = "", order: int = 100,
                   accepts_instance: bool = False, memory: "Callable[[Problem], int] | None" = None) -> Callable:
    """Decorator registering ``func(ctx) -> CheckResult`` under ``id``.

    The declaration is the one place a check's id, paper reference and claim are written: the returned
    ``run`` fills them, with the context's profile and seed and the wall time, into every result.

    ``memory``: an estimator ``memory(problem) -> bytes`` of what the check needs on a user instance,
    asked before the run starts (``opdcheck.resources``: ``dense_bytes`` for numpy-only checks,
    ``cvxpy_bytes`` for checks that solve the instance with cvxpy); default ``generic_bytes``.
    """
    if memory is not None and not callable(memory):
        raise TypeError(f"register_check({id!r}): memory = {memory!r}; pass a callable problem -> bytes or None.")

    def deco(func: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        if id in _REGISTRY and _REGISTRY[id].func.__module__ != func.__module__:
            raise RuntimeError(f"check id {id!r} registered twice ({_REGISTRY[id].func.__module__}, {func.__module__})")

        @functools.wraps(func)
        def run(ctx: CheckContext, *args, **kwargs) -> CheckResult:
            # the metadata is declared once (here); the check computes, the registry labels its result
            t0 = time.perf_counter()
            # BLAS reductions sum in a thread-count-dependent order: one BLAS thread inside a check makes its
            # numbers the same bits whatever the machine or executor (the Numba kernels fix their own order)
            with threadpool_limits(limits=CHECK_BLAS_THREADS, user_api="blas"):
                res = func(ctx, *args, **kwargs)
            res.id, res.paper_ref, res.claim = id, paper_ref, claim
            res.profile, res.seed = ctx.profile, ctx.seed
            res.apply_register()  # findings the check left unlabelled take their reading from the claims register
            res.wall_time = time.perf_counter() - t0
            return res

        _REGISTRY[id] = Check(id, paper_ref, claim, expected, run, order, accepts_instance, memory)
        return run

    return deco


def _discover() -> None:
    import opdcheck.paper_checks.checks as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"opdcheck.paper_checks.checks.{mod.name}")


def all_checks() -> list[Check]:
    """Every registered check, in report order."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda c: (c.order, c.id))


def _module_names(check_id: str) -> list[str]:
    """The module names a check id is written as (the first two spellings the files use), valid names only."""
    base = check_id.lower().replace("-", "_")
    return [m for m in dict.fromkeys((base.replace(".", "_"), base.replace(".", ""))) if m.isidentifier()]


def _import_own_module(check_id: str) -> None:
    """Import the module a check id names, if there is one (a guess that misses only costs the full discovery)."""
    for name in _module_names(check_id):
        full = f"opdcheck.paper_checks.checks.{name}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:  # the module exists and one of its own imports is missing: a real error
                raise
            continue
        if check_id in _REGISTRY:
            return


def get_check(check_id: str) -> Check:
    """The check registered under ``check_id``; imports its own module only (every module if the id is unknown)."""
    if check_id not in _REGISTRY:
        _import_own_module(check_id)
    if check_id not in _REGISTRY:
        _discover()
    if check_id not in _REGISTRY:
        raise KeyError(f"unknown check id {check_id!r}; known ids: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[check_id]
