"""What one check costs to import: ``get_check(ID)`` and ``opdcheck run ID`` import that check's module only, and
cvxpy is imported without JAX when JAX would only serve cvxpy's MPAX probe (``opdcheck.numerics.cvxpy_import``).

Each import is measured in a fresh interpreter (``sys.modules`` of a subprocess); ``import opdcheck`` itself is
held by ``tests/test_api.py::test_import_has_no_side_effects``.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from opdcheck.numerics import cvxpy_import

HEAVY = ("sympy", "numba", "cvxpy", "jax", "matplotlib", "dask")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return which heavy packages and which check modules it imported."""
    probe = (code + "\nimport json, sys\nprint(json.dumps({'heavy': sorted(h for h in %r if h in sys.modules), "
             "'checks': sorted(m.rsplit('.', 1)[1] for m in sys.modules "
             "if m.startswith('opdcheck.paper_checks.checks.'))}))" % (HEAVY,))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_get_check_imports_its_own_module_only():
    """Both spellings of an id (``dual-function`` -> dual_function, ``lemma-B.5`` -> lemma_b5)."""
    got = _modules_after("from opdcheck.paper_checks.registry import get_check\n"
                         "assert get_check('dual-function').id == 'dual-function'\n"
                         "assert get_check('lemma-B.5').id == 'lemma-B.5'")
    assert got == {"heavy": [], "checks": ["dual_function", "lemma_b5"]}


def test_an_unknown_id_falls_back_to_every_check():
    """An id no module is named after still gets the full discovery: the error lists every known id."""
    from opdcheck.paper_checks.registry import all_checks, get_check

    with pytest.raises(KeyError) as exc:
        get_check("no-such-check")
    assert all(c.id in str(exc.value) for c in all_checks())
    assert get_check("lemmas-B.2-B.4-B.8").func.__module__.endswith(".lemmas_b2_b4_b8")


def test_run_of_named_checks_imports_their_modules_only(tmp_path):
    """``opdcheck run ID`` selects its checks before any work; a bad ``--seed`` stops it right after the selection."""
    got = _modules_after("from opdcheck.cli import main\n"
                         f"assert main(['run', 'dual-function', '--seed', '-1', '--out', {str(tmp_path / 'o')!r}]) == 3")
    assert got == {"heavy": [], "checks": ["dual_function"]}


@pytest.mark.skipif(importlib.util.find_spec("mpax") is not None, reason="with MPAX installed cvxpy needs JAX")
def test_cvxpy_is_imported_without_jax_and_lists_the_same_solvers():
    """cvxpy's solver list is what it would be anyway: MPAX is absent because mpax is not installed."""
    out = subprocess.run(
        [sys.executable, "-c", "import json, sys; from opdcheck.numerics.cvxpy_import import import_cvxpy; "
         "cp = import_cvxpy(); print(json.dumps({'jax': 'jax' in sys.modules, 'solvers': cp.installed_solvers(), "
         "'finders': [type(f).__name__ for f in sys.meta_path]}))"],
        capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["jax"] is False and "CLARABEL" in got["solvers"] and "MPAX" not in got["solvers"]
    assert "_NoJaxForMpaxProbe" not in got["finders"]  # the finder is gone once cvxpy is imported


def test_the_finder_refuses_jax_to_the_mpax_probe_only():
    """Negative control: from a frame of a file named like cvxpy's MPAX interface, ``jax`` is refused; from any
    other frame, and any other module name, the finder steps aside (``None``: the next finder decides)."""
    finder = cvxpy_import._NoJaxForMpaxProbe()
    probe = compile("def import_solver(find):\n    return find('jax')\n", "/x/cvxpy/qp_solvers/mpax_qpif.py", "exec")
    scope: dict = {}
    exec(probe, scope)
    with pytest.raises(ModuleNotFoundError, match="MPAX probe") as exc:
        scope["import_solver"](finder.find_spec)
    assert exc.value.name == "jax"
    assert finder.find_spec("jax") is None
    assert finder.find_spec("mpax") is None
    other = compile("def import_solver(find):\n    return find('jax')\n", "/x/cvxpy/qp_solvers/osqp_qpif.py", "exec")
    exec(other, scope)
    assert scope["import_solver"](finder.find_spec) is None
