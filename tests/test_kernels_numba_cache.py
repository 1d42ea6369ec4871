"""The Numba kernels are cached on disk (opdcheck/__init__.py): a second process loads, never compiles.

Judged by numba's dispatcher statistics (cache hits / misses) and the cache's index files, never by
wall time. Each process runs with its own cache folder (OPDCHECK_NUMBA_CACHE=<tmp>)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_RUN = r"""
import json, sys
import numpy as np
from opdcheck import NUMBA_CACHE, NUMBA_CACHE_DIR
from opdcheck.instances import paper_toy
import opdcheck.kernels.numba_fused as nf
p = paper_toy()
nf.run_opd_fused(p, eta_th=3.0, eta_lam=3.0, T=5, parallel=False)
kernels = [("fused_pass", nf._pass_serial), ("fused_reduce", nf._reduce)]
if "materialising" in sys.argv:
    from opdcheck.kernels.numba_opd import run_opd_numba, opd_kernel
    run_opd_numba(p, eta_th=3.0, eta_lam=3.0, T=5)
    kernels.append(("materialising", opd_kernel))
out = {"cache": NUMBA_CACHE, "dir": NUMBA_CACHE_DIR}
for name, d in kernels:
    st = d.stats
    out[name] = {"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                 "signatures": len(d.signatures)}
print(json.dumps(out))
"""


def _run(cache_setting: str, *extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["OPDCHECK_NUMBA_CACHE"] = cache_setting
    res = subprocess.run([sys.executable, "-c", _RUN, *extra], capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _check_second_process_does_not_compile(folder: Path, names: tuple[str, ...], *extra: str) -> None:
    first = _run(str(folder), *extra)
    assert first["cache"] and first["dir"] == str(folder)
    assert list(folder.rglob("*.nbi")), "no numba cache index written"
    second = _run(str(folder), *extra)
    for name in names:
        assert second[name]["signatures"] >= 1
        assert second[name]["misses"] == 0 and second[name]["hits"] >= 1, (name, second[name])
    # the first process compiled (missed) them: the check can fail
    assert all(first[k]["misses"] >= 1 and first[k]["hits"] == 0 for k in names), first


def test_second_process_loads_the_fused_kernel_from_the_disk_cache(tmp_path):
    _check_second_process_does_not_compile(tmp_path, ("fused_pass", "fused_reduce"))


@pytest.mark.slow
def test_second_process_loads_the_materialising_kernel_too(tmp_path):
    _check_second_process_does_not_compile(tmp_path, ("fused_pass", "fused_reduce", "materialising"),
                                           "materialising")


def test_cache_setting_off_and_moved(tmp_path):
    code = "import opdcheck, os; print(opdcheck.NUMBA_CACHE, opdcheck.NUMBA_CACHE_DIR, os.environ.get('NUMBA_CACHE_DIR'))"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    for setting, want in (("0", "False None None"), (str(tmp_path), f"True {tmp_path} {tmp_path}")):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**env, "OPDCHECK_NUMBA_CACHE": setting}, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.strip() == want
    # the default is a per-user folder, not the source tree
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={k: v for k, v in env.items() if k != "OPDCHECK_NUMBA_CACHE"}, timeout=300)
    flag, folder, _ = res.stdout.split()
    assert flag == "True" and folder.endswith(os.path.join("opdcheck", "numba"))
