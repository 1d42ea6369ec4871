"""Every docstring example in the package runs (doctest), in the default test run.

A module's examples are part of its documentation: an example that no longer runs, or promises a
number the code does not give, fails here. Each module's examples run in a fresh namespace.
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil
from functools import lru_cache

import pytest

import opdcheck



def _modules() -> list[str]:
    names = ["opdcheck"]
    for info in pkgutil.walk_packages(opdcheck.__path__, prefix="opdcheck."):
        if not info.name.endswith("__main__"):  # runs the CLI on import
            names.append(info.name)
    return sorted(names)


# Optional parts: a module needing one of these is skipped when it is absent (its own tests skip too).
# Any other import failure is a broken module and fails below instead of silently dropping its examples.
OPTIONAL_TOP_LEVEL = {"jax", "jaxlib", "optax", "dask", "distributed", "cvxpy", "numba"}


@lru_cache(maxsize=1)
def _with_examples() -> list[str]:
    out = []
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in _modules():
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            if (exc.name or "").split(".")[0] in OPTIONAL_TOP_LEVEL:
                continue
            out.append(name)  # imported again in the test, where the error is reported
            continue
        if any(t.examples for t in finder.find(mod, name)):
            out.append(name)
    return out


@pytest.mark.parametrize("module", _with_examples())
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mod, module):
        if test.examples:
            runner.run(test)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, f"{module}: {res.failed} of {res.attempted} docstring examples failed (run python -m doctest -v)"


def test_the_package_has_examples():
    """Docstring examples exist (a collector that finds none would pass vacuously)."""
    assert len(_with_examples()) >= 10
