"""A fresh checkout (another path, new modification times) of the same kernel sources loads the kernels
an earlier checkout compiled: the Numba disk cache is keyed on content only (no timing: numba's counters)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import opdcheck

PROBE = """
import json, math
from opdcheck.kernels import numba_opd as k
k._kl_term(0.5, math.log(0.5), math.log(0.25))
s = k._kl_term.stats
print(json.dumps({"hits": sum(s.cache_hits.values()), "misses": sum(s.cache_misses.values()),
                  "file": k.__file__}))
"""


def _copy_package(dest: Path) -> Path:
    # shutil.copy (not copy2): new modification times, as a fresh clone has
    shutil.copytree(Path(opdcheck.__file__).parent, dest / "opdcheck", copy_function=shutil.copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _run(tree: Path, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OPDCHECK_NUMBA_CACHE": str(cache)}
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def first_checkout(tmp_path_factory) -> tuple[Path, Path, dict]:
    """``(cache, checkout, probe record)``: one checkout that compiled the probe kernel into an empty cache
    (shared by this module's tests: both start from the cache it built)."""
    root = tmp_path_factory.mktemp("portable")
    cache = root / "cache"
    a = _copy_package(root / "a")
    return cache, a, _run(a, cache)


def test_the_first_checkout_compiled(first_checkout):
    _, a, first = first_checkout
    assert first["file"].startswith(str(a)) and first["misses"] == 1 and first["hits"] == 0, first


def test_a_copy_at_another_path_hits_the_cache_built_by_the_first(tmp_path, first_checkout):
    cache, _, first = first_checkout
    assert first["misses"] == 1 and first["hits"] == 0, first  # compiled, so the hit below can fail
    b = _copy_package(tmp_path / "elsewhere" / "b")
    second = _run(b, cache)
    assert second["file"].startswith(str(b)), second
    assert second["hits"] == 1 and second["misses"] == 0, second  # loaded, not compiled again


def test_an_edited_kernel_source_compiles_afresh(tmp_path, first_checkout):
    """The negative control: a changed byte in a kernel file is a new cache folder (no stale machine code)."""
    cache, _, _ = first_checkout  # a cache holding the unedited kernel (and, in any order, its unedited copies)
    b = _copy_package(tmp_path / "b")
    f = b / "opdcheck" / "kernels" / "fastexp.py"
    f.write_text(f.read_text() + "\n# edited\n")
    second = _run(b, cache)
    assert second["hits"] == 0 and second["misses"] == 1, second
