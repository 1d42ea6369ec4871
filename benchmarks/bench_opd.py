"""Timing (not a test): numpy reference vs serial and parallel Numba OPD kernels vs a memory floor.

    python3 benchmarks/bench_opd.py [--X 10000] [--n 100] [--h 8] [--T 20] [--repeats 2]

All rows are measured in the same run on the same instance (threads: ``NUMBA_NUM_THREADS``).

Memory-bandwidth floor: whatever the arithmetic, one OPD step must at least read the hard rewards
R (h, X, n) once (both primal steps and both constraint evaluations can share that pass, as the
Numba kernel does), read log pi_hat_t, log pi_ref, r and log pi* (4 arrays of X n doubles) and write
pi_t and pi_hat_{t+1} (2 arrays). The floor is the time numpy takes for exactly those passes:
``R.sum()`` + 2 copies of an (X, n) array (2 reads + 2 writes) + 2 ``sum()`` of an (X, n) array
(2 reads), single-threaded, best of ``--repeats`` x 5. A kernel whose ratio to the floor is large is
compute-bound (here: exp/expm1 per entry), not memory-bound.
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numba
import numpy as np

from opdcheck.instances import random_instance
from opdcheck.kernels.numba_opd import _run
from opdcheck.kernels.opd import run_opd, thm34_step_sizes


def floor_ms(p, repeats: int) -> float:
    """Time (s) of the minimal memory passes of one OPD step (see the module docstring)."""
    R = np.ascontiguousarray(p.R_hard)
    a = np.ascontiguousarray(p.log_pi_ref)
    b = np.ascontiguousarray(p.r)
    dst = np.empty_like(a)
    best = np.inf
    for _ in range(5 * repeats):
        t0 = time.perf_counter()
        R.sum()
        np.copyto(dst, a)
        np.copyto(dst, b)
        a.sum()
        b.sum()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--X", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--h", type=int, default=8)
    ap.add_argument("--T", type=int, default=20)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    p = random_instance(args.X, args.n, args.h, args.beta, seed=0)
    t_gen = time.perf_counter() - t0
    # The saddle point only enters the metrics; timing does not depend on its accuracy, so a cheap
    # stand-in (pi_ref, lam = 1) keeps the benchmark about the iteration itself.
    saddle = SimpleNamespace(pi=p.pi_ref, lam=np.ones(p.h))
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], saddle=saddle)

    def run_serial(problem, **k):
        return _run(problem, parallel=False, **k)

    def run_parallel(problem, **k):
        return _run(problem, parallel=True, **k)

    t0 = time.perf_counter()
    run_parallel(p, T=1, **kw)  # compile (or load from cache with OPDCHECK_NUMBA_CACHE=1)
    t_compile = time.perf_counter() - t0

    def best(fn):
        times, tr = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            tr = fn(p, T=args.T, **kw)
            times.append(time.perf_counter() - t0)
        return min(times) / args.T, tr

    t_np, tr_np = best(run_opd)
    t_ser, tr_ser = best(run_serial)
    t_par, tr_par = best(run_parallel)
    t_floor = floor_ms(p, args.repeats)
    diff = float(np.max(np.abs(tr_np.error - tr_par.error)) / np.max(np.abs(tr_np.error)))
    same_bits = all(np.array_equal(tr_ser.metrics[k], tr_par.metrics[k]) for k in tr_par.metrics) and \
        np.array_equal(tr_ser.final_log_pi_hat, tr_par.final_log_pi_hat)
    print(f"instance X={p.X} n={p.n} h={p.h} beta={p.beta} (generated in {t_gen:.2f} s); T={args.T}, "
          f"best of {args.repeats}; numba threads {numba.get_num_threads()}; numba compile {t_compile:.2f} s "
          f"(one kernel, both row passes)")
    print(f"{'backend':<16} {'ms/step':>9} {'numpy/this':>11} {'this/floor':>11}")
    for name, t in (("numpy reference", t_np), ("numba serial", t_ser), ("numba parallel", t_par),
                    ("memory floor", t_floor)):
        print(f"{name:<16} {1e3 * t:>9.2f} {t_np / t:>11.2f} {t / t_floor:>11.1f}")
    print(f"max |error_numpy - error_numba| / max error = {diff:.2e}; serial and parallel bits identical: "
          f"{same_bits}")


if __name__ == "__main__":
    main()
