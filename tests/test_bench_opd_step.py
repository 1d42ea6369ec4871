"""benchmarks/bench_opd_step.py: what its ratios are made of, without timing anything (no timed assertions).

The floor of each row is its bytes per step over a measured bandwidth: the byte counts are checked against the
arrays the step actually touches; every JSON row says when, on what and under which load it was measured; the
JAX row computes the same step as the package (else its ratio would compare two different computations); and the
command line refuses what it cannot run before any timing."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from opdcheck.instances import random_instance
from opdcheck.kernels.opd import run_opd, thm34_step_sizes

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_opd_step.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_opd_step", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bytes_per_step_counts_the_tables_each_version_touches(bench):
    p = random_instance(7, 5, 3, 0.1, seed=0)
    table = p.r.nbytes  # one (X, n) float64 table
    reads_fused = p.log_pi_ref.nbytes + p.r.nbytes + p.R_hard.nbytes
    saddle_tables = 2 * table  # pi*, log pi* (metrics only)
    X, n, h = p.X, p.n, p.h
    assert bench.bytes_per_step("numba-fused", X, n, h) == reads_fused
    assert bench.bytes_per_step("fused-arithmetic-in-L1", X, n, h) == reads_fused
    assert bench.bytes_per_step("numba-fused-metrics", X, n, h) == reads_fused + saddle_tables
    # log pi_hat read, log pi_t and log pi_hat_{t+1} written, and the metrics' pi*, log pi*
    for v in ("numba-materialising", "numpy"):
        assert bench.bytes_per_step(v, X, n, h) == reads_fused + table + 2 * table + saddle_tables
    assert bench.bytes_per_step("jax-jit", X, n, h) == reads_fused + table + table
    with pytest.raises(ValueError, match="version: 'numba'"):
        bench.bytes_per_step("numba", X, n, h)


def test_every_json_row_says_when_on_what_and_under_which_load(bench):
    meta = bench.run_metadata((0.5, 0.4, 0.3), (1.0, 0.9, 0.8), jax="0.0")
    assert {"date", "machine", "numba", "load_start", "load_end", "jax"} <= set(meta)
    assert meta["load_start"] == [0.5, 0.4, 0.3] and meta["load_end"] == [1.0, 0.9, 0.8]
    assert meta["date"].endswith("UTC") and meta["machine"]


def test_the_jax_row_computes_algorithm_2(bench):
    """The JAX step (written as a user would) gives the package's OPD iterates (numpy reference) to rounding."""
    pytest.importorskip("jax", reason="the JAX row needs jax (pip install -e '.[bench]')")
    p = random_instance(6, 5, 2, 0.1, seed=1)
    eta_th, eta_lam = thm34_step_sizes(p)
    step, state = bench.make_jax_opd(p, eta_th, eta_lam)
    T = 6
    for _ in range(T):
        state = step(state)
    ref = run_opd(p, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step="prox")
    assert np.max(ref.final_lam_hat) > 0.05  # the multipliers moved: the dual steps are exercised
    np.testing.assert_allclose(np.asarray(state[1]), ref.final_lam_hat, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(state[0]), ref.final_log_pi_hat, rtol=0, atol=1e-12)
    # negative control: the same comparison tells a different step size apart
    other, state2 = bench.make_jax_opd(p, eta_th * 1.01, eta_lam)
    for _ in range(T):
        state2 = other(state2)
    assert np.max(np.abs(np.asarray(state2[1]) - ref.final_lam_hat)) > 1e-6


@pytest.mark.parametrize("args, says", [
    (["--T", "0"], "--T: 0; pass an integer >= 1"),
    (["--T", "-2"], "--T: -2; pass an integer >= 1"),
    (["--repeats", "0"], "--repeats: 0; pass an integer >= 1"),
    (["--T", "two"], "--T: 'two' is not an integer"),
    (["--json", "/nonexistent-folder/x.json"], "--json: '/nonexistent-folder/x.json'; its folder"),
])
def test_the_command_line_refuses_what_it_cannot_run(args, says):
    res = subprocess.run([sys.executable, str(SCRIPT), *args, "--sizes", "10x10x1"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode != 0
    assert says in res.stderr
    assert "Traceback" not in res.stderr
