"""The package's layering, read from the import statements of every module (ast; lazy imports included).

Dependencies point one way: ``cli -> paper_checks (checks -> studies) -> kernels, numerics, theory -> problem``.
A check never imports another check or the CLI; studies never import a check; theory/ uses no solver, Numba
or kernels; kernels/ never imports cvxpy; only numerics/ talks to solvers; problem.py sits below everything
but the tolerances and the log-space helpers; the import graph of the package has no cycles.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from package_ast import parsed

PKG = Path(__file__).resolve().parents[1] / "opdcheck"
SOLVERS = ("cvxpy", "clarabel", "highspy", "scipy.optimize.linprog")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = parsed(path)
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            out.add(base)
            # "from opdcheck.paper_checks import registry" names a module too
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


GRAPH = {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}
MODULES = set(GRAPH)


def _internal(mod: str) -> set[str]:
    return {m for m in GRAPH[mod] if m in MODULES and m != mod}


def _under(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def _violations(src_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} imports {i}" for m in GRAPH if _under(m, src_prefix)
                  for i in GRAPH[m] if any(_under(i, f) for f in forbidden))


def test_a_check_never_imports_another_check_or_the_cli():
    bad = []
    for m in GRAPH:
        if _under(m, "opdcheck.paper_checks.checks") and m != "opdcheck.paper_checks.checks":
            for i in _internal(m):
                if (_under(i, "opdcheck.paper_checks.checks") and i != "opdcheck.paper_checks.checks") \
                        or _under(i, "opdcheck.cli") or _under(i, "opdcheck.certify"):
                    bad.append(f"{m} imports {i}")
    assert not bad, bad


def test_studies_never_import_a_check_or_the_cli():
    assert not _violations("opdcheck.paper_checks.studies",
                           ("opdcheck.paper_checks.checks", "opdcheck.cli", "opdcheck.certify"))


@pytest.mark.parametrize("layer", ["opdcheck.kernels", "opdcheck.numerics", "opdcheck.theory", "opdcheck.problem",
                                   "opdcheck.instances", "opdcheck.logspace", "opdcheck.tolerances"])
def test_lower_layers_never_import_upper_ones(layer):
    assert not _violations(layer, ("opdcheck.paper_checks", "opdcheck.cli", "opdcheck.certify", "opdcheck.mutants"))


def test_theory_uses_no_solver_numba_or_kernels():
    assert not _violations("opdcheck.theory", SOLVERS + ("numba", "opdcheck.kernels", "opdcheck.numerics"))


def test_kernels_never_import_cvxpy_and_only_numerics_talks_to_solvers():
    bad = sorted(f"{m} imports {i}" for m in GRAPH if not _under(m, "opdcheck.numerics")
                 for i in GRAPH[m] if any(_under(i, s) for s in SOLVERS))
    assert not bad, bad


def test_problem_sits_below_everything():
    allowed = {"opdcheck.tolerances", "opdcheck.logspace"}
    assert _internal("opdcheck.problem") <= allowed, _internal("opdcheck.problem")
    assert _internal("opdcheck.logspace") == set()


def test_no_import_cycles():
    """Cycles through package ``__init__`` re-exports are ignored (an ``__init__`` importing its own
    submodules is not a layering arrow); every other cycle is a violation."""
    def deps(m):
        return {i for i in _internal(m) if not (i == m.rsplit(".", 1)[0] or m.startswith(i + "."))}

    color, stack, cycles = {}, [], []

    def visit(m):
        color[m] = 1
        stack.append(m)
        for i in sorted(deps(m)):
            if GRAPH.get(i) is None:
                continue
            if color.get(i) == 1:
                cycles.append(stack[stack.index(i):] + [i])
            elif i not in color:
                visit(i)
        stack.pop()
        color[m] = 2

    for m in sorted(GRAPH):
        if m not in color and not m.endswith("__init__"):
            visit(m)
    cycles = [c for c in cycles if not any(x.count(".") == 0 or GRAPH and x.endswith(("opdcheck",)) for x in c)]
    assert not cycles, cycles
