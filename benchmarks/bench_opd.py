"""Timing (not a test): the Numba OPD kernel vs the numpy reference, measured in the same run.

    python3 benchmarks/bench_opd.py [--X 10000] [--n 100] [--h 8] [--T 20]

Per step OPD does two primal mirror steps (each reads the (h, X, n) hard rewards once) and the
metrics (three KLs, constraint values): roughly 3 passes over h X n doubles. The table reports the
time per step of each backend, their ratio, the effective bandwidth over those 3 passes, and the
maximum difference of the error sequences (they must agree to ~1e-12 relative).
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np

from opdcheck.instances import random_instance
from opdcheck.kernels.numba_opd import run_opd_numba
from opdcheck.kernels.opd import run_opd, thm34_step_sizes


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

    t0 = time.perf_counter()
    run_opd_numba(p, T=1, **kw)  # compile (or load from cache with OPDCHECK_NUMBA_CACHE=1)
    t_compile = time.perf_counter() - t0

    def best(fn):
        times, tr = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            tr = fn(p, T=args.T, **kw)
            times.append(time.perf_counter() - t0)
        return min(times) / args.T, tr

    t_np, tr_np = best(run_opd)
    t_nb, tr_nb = best(run_opd_numba)
    diff = float(np.max(np.abs(tr_np.error - tr_nb.error)) / np.max(np.abs(tr_np.error)))
    bytes_per_step = 3 * 8 * p.h * p.X * p.n
    print(f"instance X={p.X} n={p.n} h={p.h} beta={p.beta} (generated in {t_gen:.2f} s); T={args.T}, "
          f"best of {args.repeats}; numba compile {t_compile:.2f} s")
    print(f"{'backend':<10} {'ms/step':>10} {'GB/s (3 passes)':>16} {'speed-up':>9}")
    for name, t in (("numpy", t_np), ("numba", t_nb)):
        print(f"{name:<10} {1e3 * t:>10.2f} {bytes_per_step / t / 1e9:>16.2f} {t_np / t:>9.2f}")
    print(f"max |error_numpy - error_numba| / max error = {diff:.2e}")


if __name__ == "__main__":
    main()
