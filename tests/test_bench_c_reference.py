"""benchmarks/bench_c_reference.py: the fused step's row loop written again in C (AVX2 intrinsics) agrees with the
Numba loop, so that the benchmark compares the same arithmetic (and the Numba loop is checked against code that
shares nothing with it but the published constants). Needs a C compiler and an x86-64 CPU with AVX2 and FMA;
skipped otherwise."""
from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from opdcheck.kernels.fastexp import EXP_POLY

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_c_reference", ROOT / "benchmarks" / "bench_c_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cpu_has_avx2_fma() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


needs_c = pytest.mark.skipif(not (platform.machine() in ("x86_64", "AMD64") and shutil.which("gcc")
                                  and _cpu_has_avx2_fma()),
                             reason="needs gcc and an x86-64 CPU with AVX2 and FMA (the C reference loop)")


@pytest.fixture(scope="module")
def built():
    bench = _bench()
    with tempfile.TemporaryDirectory() as tmp:
        f, how = bench.build(tmp)
        if f is None:
            pytest.skip(f"the C reference loop could not be built: {how}")
        yield bench, f


@needs_c
@pytest.mark.parametrize("n, shift", [(4, 0.25), (8, 0.25), (64, 0.25), (1000, 0.25), (64, 706.0)])
def test_c_loop_agrees_with_the_numba_row_loop(built, n, shift):
    """shift 706: the exps span about [e^-712, e^-700], subnormal results and the underflow clamp included."""
    bench, f = built
    rng = np.random.default_rng(n)
    X = 7
    L = np.log(rng.dirichlet(np.ones(n), X))
    r = rng.standard_normal((X, n))
    R = rng.standard_normal((4, X, n))
    w = np.array([0.9, 0.7, 0.1, -0.2, 0.3, 0.05])
    out_n, out_c = np.empty((X, 5)), np.empty((X, 5))
    bench.numba_rows(L, r, R, w, shift, out_n, False)
    bench.c_rows(f, L, r, R, w, shift, out_c, False)
    assert np.all(out_n[:, 0] > 0)
    # the same arithmetic per entry; the four lanes may be combined in another order than LLVM's
    # (measured here: identical bits), so rounding-level agreement is what is required
    np.testing.assert_allclose(out_c[:, 0], out_n[:, 0], rtol=1e-14, atol=0)
    scale = np.max(np.abs(out_n[:, 1:]))
    assert np.max(np.abs(out_c[:, 1:] - out_n[:, 1:])) <= 1e-13 * scale


@needs_c
def test_a_c_loop_with_a_wrong_constant_is_caught(built, tmp_path):
    """Negative control: the agreement test can fail. A C loop whose polynomial has one coefficient off by
    1e-9 relative (the degree-4 term) disagrees with the Numba loop beyond the test's tolerance."""
    bench, _ = built
    src = (ROOT / "benchmarks" / "c_reference" / "fused_row_loop.c").read_text()
    c4 = repr(EXP_POLY[4])
    assert c4 in src
    bad = tmp_path / "bad.c"
    bad.write_text(src.replace(c4, repr(EXP_POLY[4] * (1 + 1e-9))))
    so = tmp_path / "bad.so"
    subprocess.run(["gcc", "-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(so), str(bad)],
                   check=True, capture_output=True)
    import ctypes
    g = ctypes.CDLL(str(so)).fused_rows
    g.restype = None
    g.argtypes = [bench._DP] * 6 + [ctypes.c_long] * 3 + [bench._DP, ctypes.c_double, bench._DP]
    rng = np.random.default_rng(0)
    X, n = 5, 64
    L = np.log(rng.dirichlet(np.ones(n), X))
    r, R = rng.standard_normal((X, n)), rng.standard_normal((4, X, n))
    w = np.array([0.9, 0.7, 0.1, -0.2, 0.3, 0.05])
    out_n, out_c = np.empty((X, 5)), np.empty((X, 5))
    bench.numba_rows(L, r, R, w, 0.25, out_n, False)
    bench.c_rows(g, L, r, R, w, 0.25, out_c, False)
    assert np.max(np.abs(out_c[:, 0] / out_n[:, 0] - 1)) > 1e-14


def test_the_script_refuses_sizes_it_cannot_run():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_c_reference.py"), "--size", "10x7x4"],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "n a positive multiple of 4" in res.stderr


@pytest.mark.parametrize("args, says", [
    (["--size", "0x8x4"], "X (the number of prompts) must be >= 1"),
    (["--repeats", "0"], "--repeats: 0; pass an integer >= 1"),
    (["--repeats", "-1"], "--repeats: -1; pass an integer >= 1"),
    (["--json", "/nonexistent-folder/c.json"], "--json: '/nonexistent-folder/c.json'; its folder"),
])
def test_the_script_refuses_arguments_it_cannot_use_before_any_work(args, says):
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_c_reference.py"), *args],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and says in res.stderr and "Traceback" not in res.stderr
