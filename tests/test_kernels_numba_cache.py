"""The Numba kernels' disk cache (kernels/numba_cache.py): a second process loads, never compiles, and an
edit of ANY kernel source (fastexp.py, whose constants and functions numba_fused.py compiles into its own
code) makes every kernel compile afresh.

Judged by numba's dispatcher statistics (cache hits / misses) and the cache's index files, never by
wall time. Each process runs with its own cache folder (OPDCHECK_NUMBA_CACHE=<tmp>)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import opdcheck
from opdcheck.kernels import numba_cache

_RUN = r"""
import json, sys
import numpy as np
from opdcheck.kernels.numba_cache import configure_cache
from opdcheck.instances import paper_toy
import opdcheck.kernels.numba_fused as nf
p = paper_toy()
if "small" in sys.argv:  # two small kernels of numba_fused.py: one inlines fastexp.exp1, one does not
    u = np.linspace(-3.0, 3.0, 9)
    nf._exp_dots(u, u, u, u, u, u, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    nf._max(u)
    kernels = [("fused_exp", nf._exp_dots), ("fused_max", nf._max)]
else:
    nf.run_opd_fused(p, eta_th=3.0, eta_lam=3.0, T=5, parallel=False)
    kernels = [("fused_pass", nf._pass_serial), ("fused_reduce", nf._reduce)]
if "materialising" in sys.argv:
    from opdcheck.kernels.numba_opd import run_opd_numba, opd_kernel
    run_opd_numba(p, eta_th=3.0, eta_lam=3.0, T=5)
    kernels.append(("materialising", opd_kernel))
out = {"dir": configure_cache(), "package": nf.__file__}
for name, d in kernels:
    st = d.stats
    out[name] = {"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                 "signatures": len(d.signatures)}
print(json.dumps(out))
"""


def _env(cache_setting: str, pythonpath: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["OPDCHECK_NUMBA_CACHE"] = cache_setting
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return env


def _run(cache_setting: str, *extra: str, pythonpath: str | None = None) -> dict:
    # cwd: the package copy (when given) must win over the checkout `python -c` would put first on sys.path
    res = subprocess.run([sys.executable, "-c", _RUN, *extra], capture_output=True, text=True,
                         env=_env(cache_setting, pythonpath), timeout=900, cwd=pythonpath)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _compiled(rec: dict, names) -> bool:
    return all(rec[k]["misses"] >= 1 and rec[k]["hits"] == 0 for k in names)


def _loaded(rec: dict, names) -> bool:
    return all(rec[k]["signatures"] >= 1 and rec[k]["misses"] == 0 and rec[k]["hits"] >= 1 for k in names)


def _package_copy(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    shutil.copytree(Path(opdcheck.__file__).parent, root / "opdcheck",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


# three compiling processes; by default the same mechanism is held by the key covering every kernel source
# (test_the_key_changes_with_every_kernel_source_and_nothing_else) and by tests/test_kernels_numba_cache_portable.py
# (a second checkout loads, an edited fastexp.py compiles afresh)
@pytest.mark.slow
def test_second_process_loads_and_an_edit_of_fastexp_recompiles_the_fused_kernel(tmp_path):
    """On a copy of the package: process 1 compiles two kernels of numba_fused.py (one inlining fastexp's
    exp1), process 2 loads them; then only fastexp.py is edited (a constant exp1 inlines, value unchanged
    in double precision) and process 3 compiles them again, in another folder. Numba's own keying (the
    decorated function's file) would have loaded the stale numba_fused code. (Small kernels: the same
    mechanism as the full pass, whose load is tested below, at a fraction of the compile time.)"""
    names = ("fused_exp", "fused_max")
    src = _package_copy(tmp_path)
    cache = tmp_path / "cache"
    first = _run(str(cache), "small", pythonpath=str(src))
    assert first["package"].startswith(str(src))  # the copy ran, not the installed tree
    assert Path(first["dir"]).parent == cache and list(cache.rglob("*.nbi")), "no numba cache index written"
    second = _run(str(cache), "small", pythonpath=str(src))
    assert _compiled(first, names), first  # the first process compiled: the load check below can fail
    assert _loaded(second, names), second
    assert second["dir"] == first["dir"]

    fx = src / "opdcheck" / "kernels" / "fastexp.py"
    text = fx.read_text()
    assert "_INV_LN2 = 1.4426950408889634\n" in text
    fx.write_text(text.replace("_INV_LN2 = 1.4426950408889634\n", "_INV_LN2 = 1.44269504088896340736\n"))
    third = _run(str(cache), "small", pythonpath=str(src))
    assert third["dir"] != first["dir"]
    assert _compiled(third, names), third


def test_the_key_changes_with_every_kernel_source_and_nothing_else(tmp_path):
    """sources_hash changes when any kernel file changes, not when another file of the package does
    (negative control: an edit outside kernels/ keeps the folder, so the cache is not thrown away for nothing)."""
    src = _package_copy(tmp_path) / "opdcheck" / "kernels"
    key = numba_cache.sources_hash(numba_cache.kernel_sources(src))
    assert key == numba_cache.sources_hash()  # the copy hashes as the tree it came from
    for name in numba_cache.KERNEL_FILES:
        f = src / name
        text = f.read_text()
        f.write_text(text + "\n# edited\n")
        assert numba_cache.sources_hash(numba_cache.kernel_sources(src)) != key, name
        f.write_text(text)
    other = src.parent / "instances.py"
    other.write_text(other.read_text() + "\n# edited\n")
    assert numba_cache.sources_hash(numba_cache.kernel_sources(src)) == key


@pytest.mark.slow
def test_second_process_loads_the_fused_pass(tmp_path):
    """The whole fused pass (the default suite checks the same mechanism on two small kernels above)."""
    names = ("fused_pass", "fused_reduce")
    first = _run(str(tmp_path))
    second = _run(str(tmp_path))
    assert _compiled(first, names) and _loaded(second, names), (first, second)


@pytest.mark.slow
def test_second_process_loads_the_materialising_kernel_too(tmp_path):
    names = ("fused_pass", "fused_reduce", "materialising")
    first = _run(str(tmp_path), "materialising")
    second = _run(str(tmp_path), "materialising")
    assert _compiled(first, names) and _loaded(second, names), (first, second)


def test_cache_setting_off_moved_and_default(tmp_path):
    code = ("import os; from opdcheck.kernels.numba_cache import configure_cache, CACHE; import numba; "
            "print(CACHE, configure_cache(), os.environ.get('NUMBA_CACHE_DIR'), numba.config.CACHE_DIR or None)")
    key = numba_cache.sources_hash()[:16]
    for setting, want in (("0", "False None None None"),
                          (str(tmp_path), f"True {tmp_path / key} None None")):  # nothing process-wide is set
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(setting),
                             timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.strip() == want
    # the default is a per-user folder, not the source tree
    env = {k: v for k, v in _env("1").items() if k != "OPDCHECK_NUMBA_CACHE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[:2] == ["True", str(tmp_path / "xdg" / "opdcheck" / "numba" / key)]
    # importing the package itself changes nothing of numba's or the environment's
    res = subprocess.run([sys.executable, "-c", "import os, opdcheck; print(os.environ.get('NUMBA_CACHE_DIR'))"],
                         capture_output=True, text=True, env=_env("1"), timeout=300)
    assert res.stdout.strip() == "None"
