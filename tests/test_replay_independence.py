"""The replay layer (``opdcheck.numerics.replay``) is independent of the code it judges, and it alone builds
witnesses. Read from the source with ``ast`` (lazy imports included, transitively):

* it imports nothing from ``opdcheck.kernels`` nor from the closed-form modules (``theory.closed_forms``,
  ``numerics.kkt``, ``numerics.dual``), directly or through another opdcheck module;
* no module outside it constructs a ``Witness``, reaches for its private constructors, or writes a
  witness as a dict of flags (``{"replayed": ..., "confirms": ..., "agrees": ...}``).
"""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "opdcheck"
REPLAY = "opdcheck.numerics.replay"
FORBIDDEN = ("opdcheck.kernels", "opdcheck.theory.closed_forms", "opdcheck.numerics.kkt", "opdcheck.numerics.dual")
PRIVATE = ("_issue", "_not_run", "_from_flat", "_unpickle", "_TOKEN")
FLAG_KEYS = {"replayed", "confirms", "agrees"}


# the package's import graph, read the same way as the layering test reads it (one parser, parsed once)
from test_layering import GRAPH, _module_name  # noqa: E402
from package_ast import parsed  # noqa: E402


FILES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _under(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def _reachable(start: str) -> dict[str, str]:
    """Every opdcheck module reachable from ``start`` by imports, with the module that imported it."""
    seen, stack = {start: ""}, [start]
    while stack:
        m = stack.pop()
        for i in GRAPH.get(m, ()):
            # "from opdcheck.x import name" lists opdcheck.x.name too: keep only real modules. The package
            # __init__ that Python runs on the way (opdcheck.numerics re-exports the dual's helpers) is not
            # followed: what counts is what the replay's code and the modules it names use
            if i in GRAPH and i not in seen and i != "opdcheck" and FILES[i].name != "__init__.py" or (
                    i in GRAPH and i not in seen and _under(i, REPLAY)):
                seen[i] = m
                stack.append(i)
    return seen


def test_the_replay_layer_exists_and_is_a_package():
    assert REPLAY in GRAPH and FILES[REPLAY].name == "__init__.py"
    assert {f"{REPLAY}.witness", f"{REPLAY}.solve", f"{REPLAY}.core"} <= set(GRAPH)


def test_the_replay_layer_imports_no_kernel_and_no_closed_form_directly():
    bad = sorted(f"{m} imports {i}" for m in GRAPH if _under(m, REPLAY)
                 for i in GRAPH[m] if any(_under(i, f) for f in FORBIDDEN))
    assert not bad, bad


def test_the_replay_layer_imports_no_kernel_and_no_closed_form_transitively():
    bad = []
    for m in [m for m in GRAPH if _under(m, REPLAY)]:
        reach = _reachable(m)
        for r, via in reach.items():
            if any(_under(r, f) for f in FORBIDDEN):
                bad.append(f"{m} reaches {r} (via {via})")
    assert not bad, bad


def test_the_import_rule_catches_a_planted_import(tmp_path):
    # negative control of the test itself: a replay module importing the kernels' dual step is caught
    src = "from opdcheck.kernels.rules import dual_prox_step\n"
    p = tmp_path / "planted.py"
    p.write_text(src)
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert any(_under(i, f) for i in imported for f in FORBIDDEN)


def _witness_violations(path: Path) -> list[str]:
    tree = parsed(path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name == "Witness" or name in PRIVATE:
                out.append(f"line {node.lineno}: calls {name}")
        elif isinstance(node, ast.ImportFrom):
            out += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in PRIVATE]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE:
            out.append(f"line {node.lineno}: uses .{node.attr}")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if {"confirms", "agrees"} <= keys or ("replayed" in keys and keys & {"confirms", "agrees"}):
                out.append(f"line {node.lineno}: a witness written as a dict of flags {sorted(keys & FLAG_KEYS)}")
    return out


def test_only_the_replay_layer_builds_witnesses():
    bad = {m: v for m, p in FILES.items() if not _under(m, REPLAY) for v in [_witness_violations(p)] if v}
    assert not bad, bad


def test_the_witness_rule_catches_a_planted_dict_and_constructor(tmp_path):
    p = tmp_path / "check.py"
    p.write_text("w = {'replayed': True, 'confirms': True, 'agrees': True}\n"
                 "from opdcheck.numerics.replay.witness import _issue\n"
                 "v = Witness('s', 'm')\n")
    found = _witness_violations(p)
    assert len(found) == 3, found
