"""Benchmark (not a test): one Algorithm 3 natural-gradient step of a log-linear class at X n = 1e6, d = 64.

The step is eqs. (8)/(10): logits (one gemv), advantage (elementwise on (X, n)), grad L = Phi^T (rho pi A)
(one gemv), the Fisher matrix Phi^T diag(rho pi) Phi - Phibar^T diag(rho) Phibar (one (d x Xn)(Xn x d)
BLAS gemm on a weighted copy of Phi: 2 * Xn * d^2 = 8.2 GFLOP), then eigh on the 64 x 64 matrix.
Run: ``PYTHONPATH=. python benchmarks/bench_alg3.py [X n d]``. Prints the BLAS numpy uses.
"""
from __future__ import annotations

import sys
import time

import numpy as np


def main(X: int = 1000, n: int = 1000, d: int = 64, reps: int = 3) -> None:
    from opdcheck.kernels.alg3 import NaturalGradientStep, natural_direction
    from opdcheck.kernels.policies import LogLinear
    from opdcheck.problem import Problem

    rng = np.random.default_rng(0)
    pi_ref = rng.dirichlet(np.ones(n), size=X)
    pi_ref = 0.9 * pi_ref + 0.1 / n
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    p = Problem(rho=np.full(X, 1.0 / X), pi_ref=pi_ref, R_soft=rng.uniform(-1, 1, size=(1, X, n)), w=[1.0],
                R_hard=rng.uniform(-1, 1, size=(1, X, n)), beta=0.1, name="bench")
    cls = LogLinear(rng.normal(size=(X, n, d)) / np.sqrt(d))
    step = NaturalGradientStep(p, cls, 3.0, np.zeros(d))
    theta, lam = rng.normal(size=d) * 0.1, np.array([0.5])
    step.step(theta, lam)  # warm-up (page faults of the temporaries)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step.step(theta, lam)
        ts.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    F = cls.fisher(theta, p.rho)
    t_f = time.perf_counter() - t0
    t0 = time.perf_counter()
    natural_direction(p, cls, theta, lam, direction="pinv")
    t_w = time.perf_counter() - t0
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"] + " " + str(cfg["Build Dependencies"]["blas"].get("version", ""))
    except Exception:  # pragma: no cover - older numpy
        pass
    print(f"log-linear NPG step, X n = {X * n:.0e}, d = {d}: best {min(ts):.3f} s, median {np.median(ts):.3f} s over {reps}; "
          f"Fisher alone {t_f:.3f} s; direction (grad + Fisher + eigh) {t_w:.3f} s; BLAS: {blas}; F rank {np.linalg.matrix_rank(F)}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    main(*args)
