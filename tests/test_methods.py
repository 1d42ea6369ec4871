"""The one registry of named methods (opdcheck/methods.py): every name resolves, every entry point reads it."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from opdcheck.cli import main
from opdcheck.instances import paper_toy
from opdcheck.kernels.baselines import run_method, run_sequential_pd, run_simultaneous_pd
from opdcheck.kernels.framework import run_config
from opdcheck.kernels.opd import run_opd
from opdcheck.methods import all_methods, canonical_name, certified_methods, get_method, method_names
from opdcheck.theory import linearization, rate_formulas
from package_ast import parsed

PKG = Path(__file__).resolve().parents[1] / "opdcheck"


@pytest.mark.parametrize("m", all_methods(), ids=lambda m: m.name)
def test_every_name_and_alias_resolves_to_its_method(m):
    for name in (m.name, *m.aliases, m.name.upper(), m.name.replace("-", "_")):
        assert get_method(name) is m and canonical_name(name) == m.name
    assert m.dual_step in ("prox", "gradient") and m.source and m.summary


def test_sequential_gda_has_one_name_and_many_aliases():
    names = {"alternating-gda", "sequential-gda", "finite-step-pd", "sequential-pd", "alternating", "sequential"}
    assert {canonical_name(n) for n in names} == {"alternating-gda"}
    assert {canonical_name(n) for n in ("simultaneous-pd", "pd", "simultaneous")} == {"simultaneous-gda"}


def test_unknown_name_is_a_one_line_error_listing_the_canonical_names():
    with pytest.raises(ValueError, match="not a known method; choose one of") as e:
        get_method("sequentiel")
    assert "\n" not in str(e.value) and "alternating-gda" in str(e.value)
    with pytest.raises(ValueError, match="pass a method name"):
        get_method(3)


def test_one_default_dual_step_per_method_whatever_the_entry_point():
    """run_opd and run_config("opd") used to default to different conventions (prox vs gradient)."""
    p = paper_toy()
    kw = dict(eta_th=3.0, eta_lam=3.0, T=50)
    a, b = run_opd(p, **kw), run_config("opd", p, **kw)
    np.testing.assert_array_equal(a.error, b.error)
    assert a.config["dual_step"] == b.config["dual_step"] == get_method("opd").dual_step == "prox"
    for name, runner in (("simultaneous-gda", run_simultaneous_pd), ("alternating-gda", run_sequential_pd)):
        x, y, z = runner(p, **kw), run_config(name, p, **kw), run_method(name, p, **kw)
        np.testing.assert_array_equal(x.error, y.error)
        np.testing.assert_array_equal(x.error, z.error)
        assert x.config["dual_step"] == get_method(name).dual_step == "gradient"


def test_theory_certifies_exactly_the_registry_s_certified_methods():
    assert linearization.METHODS == rate_formulas.METHODS == certified_methods()
    assert all(get_method(m).linearized_as == m for m in certified_methods())
    assert get_method("one-shot").linearized_as == "alternating-gda"


def test_list_methods_prints_the_registry(capsys):
    assert main(["list-methods"]) == 0
    out = capsys.readouterr().out
    for m in all_methods():
        assert m.name in out and m.source in out


def test_certify_accepts_aliases_and_refuses_uncertified_methods(tmp_path, capsys):
    from opdcheck.instances import save_problem

    f = tmp_path / "toy.json"
    save_problem(paper_toy(1.0), f)
    assert main(["certify", str(f), "--method", "finite-step-pd", "--T", "0"]) == 0
    assert "method: alternating-gda" in capsys.readouterr().out
    assert main(["certify", str(f), "--method", "safe-rlhf", "--T", "0"]) == 3  # invalid input
    assert "not certified" in capsys.readouterr().err


def _string_literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(parsed(path))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_no_module_keeps_its_own_map_of_method_names():
    """The eight string maps are gone: outside the registry, no module maps a method name to another
    method name (a dict literal whose keys and values are all registered names)."""
    known = set()
    for m in all_methods():
        known.update((m.name, *m.aliases))
    bad = []
    for path in PKG.rglob("*.py"):
        if path.name == "methods.py":
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Dict) and len(node.keys) >= 2:
                ks = [k.value for k in node.keys if isinstance(k, ast.Constant)]
                vs = [v.value for v in node.values if isinstance(v, ast.Constant)]
                if len(ks) == len(node.keys) and len(vs) == len(node.values) \
                        and all(k in known for k in ks) and all(isinstance(v, str) and v in known for v in vs):
                    bad.append(f"{path.relative_to(PKG)}:{node.lineno}")
    assert not bad, bad


def test_method_names_are_unique():
    names = method_names()
    assert len(names) == len(set(names))
