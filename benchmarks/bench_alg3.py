"""Benchmark (not a test): one Algorithm 3 natural-gradient step of a log-linear class, numpy/BLAS vs Numba.

The step is eqs. (8)/(10): logits, advantage, grad L, the Fisher matrix, then eigh on the d x d matrix.

* ``numpy`` (the reference, ``backend="numpy"``): logits by one gemv, the advantage elementwise on (X, n),
  grad L = Phi^T (rho pi A) (gemv), F = Phi^T diag(rho pi) Phi - Phibar^T diag(rho) Phibar (one
  (d x Xn)(Xn x d) gemm on a weighted copy of Phi: 2 Xn d^2 = 8.2 GFLOP at Xn = 1e6, d = 64).
* ``numba`` (``backend="numba"``, ``kernels/numba_alg3.py``): one pass over the features, prange over
  prompt blocks, the Fisher upper triangle by rank-4 updates (Xn d (d+1)/2 = 2.1e9 multiply-adds).

Each thread count runs in its own worker process (OpenBLAS reads its thread count at start-up), which
times both versions on the same instance, so every ratio is within one process. Also printed: the
agreement max|w_numba - w_numpy| / max|w_numpy| at this size, and the streaming read bandwidth.

Run: ``PYTHONPATH=. python benchmarks/bench_alg3.py [--X 1000 --n 1000 --d 64 --reps 3] [--json FILE]``.
JSON rows: ``size`` ([X, n, d]), ``version`` (``numpy``, ``numba``), ``threads``, ``ms_per_step`` (median),
``best_ms``, ``numpy_ms`` (numpy median in the same process), ``agreement_rel``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def _instance(X: int, n: int, d: int):
    from opdcheck.kernels.policies import LogLinear
    from opdcheck.problem import Problem

    rng = np.random.default_rng(0)
    pi_ref = rng.dirichlet(np.ones(n), size=X)
    pi_ref = 0.9 * pi_ref + 0.1 / n
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    p = Problem(rho=np.full(X, 1.0 / X), pi_ref=pi_ref, R_soft=rng.uniform(-1, 1, size=(1, X, n)), w=[1.0],
                R_hard=rng.uniform(-1, 1, size=(1, X, n)), beta=0.1, name="bench")
    cls = LogLinear(rng.normal(size=(X, n, d)) / np.sqrt(d))
    return p, cls, rng.normal(size=d) * 0.1, np.array([0.5])


def _time(fn, reps: int) -> list[float]:
    fn()  # warm-up: compilation (numba) and page faults of the temporaries
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def _bandwidth_gbs(nbytes: int = 1 << 29) -> float:
    a = np.ones(nbytes // 8)
    a.sum()
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        a.sum()
        ts.append(time.perf_counter() - t0)
    return nbytes / min(ts) / 1e9


def worker(X: int, n: int, d: int, reps: int, threads: int) -> list[dict]:
    import numba

    from opdcheck.kernels.alg3 import NaturalGradientStep

    numba.set_num_threads(threads)
    p, cls, theta, lam = _instance(X, n, d)
    steps = {b: NaturalGradientStep(p, cls, 3.0, np.zeros(d), backend=b) for b in ("numpy", "numba")}
    out = {b: steps[b].step(theta, lam) for b in steps}
    agree = float(np.abs(out["numba"] - out["numpy"]).max() / np.abs(out["numpy"]).max())
    res = {b: _time(lambda b=b: steps[b].step(theta, lam), reps) for b in steps}
    numpy_ms = 1e3 * float(np.median(res["numpy"]))
    return [{"size": [X, n, d], "version": b, "threads": threads, "ms_per_step": 1e3 * float(np.median(ts)),
             "best_ms": 1e3 * min(ts), "numpy_ms": numpy_ms, "agreement_rel": agree,
             "read_bandwidth_gbs": _bandwidth_gbs()} for b, ts in res.items()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--X", type=int, default=1000)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.X, a.n, a.d, a.reps, a.worker)))
        return
    rows = []
    for t in a.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        cmd = [sys.executable, os.path.abspath(__file__), "--X", str(a.X), "--n", str(a.n), "--d", str(a.d),
               "--reps", str(a.reps), "--worker", str(t)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        rows += json.loads(proc.stdout.strip().splitlines()[-1])
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"] + " " + str(cfg["Build Dependencies"]["blas"].get("version", ""))
    except Exception:  # pragma: no cover - older numpy
        pass
    print(f"log-linear NPG step (eqs. (8)/(10)), X n = {a.X * a.n:.0e} (X = {a.X}, n = {a.n}), d = {a.d}; "
          f"median of {a.reps}; BLAS: {blas}")
    print(f"{'version':8s} {'threads':>7s} {'ms/step':>9s} {'best ms':>9s} {'x numpy':>8s} {'agree (rel)':>12s} {'read GB/s':>9s}")
    for r in rows:
        print(f"{r['version']:8s} {r['threads']:7d} {r['ms_per_step']:9.1f} {r['best_ms']:9.1f} "
              f"{r['ms_per_step'] / r['numpy_ms']:8.2f} {r['agreement_rel']:12.2e} {r['read_bandwidth_gbs']:9.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
