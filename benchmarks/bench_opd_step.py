"""Per-iteration time of the OPD step (Alg. 2): numpy reference, materialising Numba kernel, fused kernel.

    python benchmarks/bench_opd_step.py [--json FILE] [--sizes 1000x1000x4,10000x1000x4,10000x1000x8]
                                        [--T 4] [--repeats 2] [--cvxpy-sizes 20x20x4,50x50x4,100x100x4]

A script, not a test: numbers depend on the machine and its load (ratios within one run are what
to read). All rows of a size are measured in the same run on the same seeded instance.

* ``ms_per_step``: (time of a run of ``2 + T`` steps - time of a run of 2 steps) / T, best of
  ``--repeats``: the fixed costs of a run (validation, the saddle point's KL, materialising the last
  iterate) cancel. For the Numba kernels the times are their own step-loop times
  (``extra["loop_seconds"]``): their steps are so short that the noise of the fixed costs swamps them. numpy and the materialising kernel compute the metrics at every step (they cannot
  skip them); the fused kernel is timed without metrics (``numba-fused``: the iteration itself,
  metrics only at the last step) and with metrics at every step (``numba-fused-metrics``).
* streaming read bandwidth: a Numba ``prange`` sum over a 512 MiB array, 1 and 2 threads, best of 5,
  measured in the same run (``bandwidth_GBps`` in every row).
* ``floor_ms``: the bytes a version must move per step / that bandwidth (at the row's thread count;
  numpy: 1 thread). Fused: it reads ``log pi_ref, r, R_1..R_h`` = ``8 (h+2) X n`` bytes and writes
  nothing of size ``X n``; with metrics it also reads ``pi*, log pi*, pi_ref`` (``8 (h+5) X n``).
  Materialising / numpy: read ``log pi_hat, log pi_ref, r, R_1..R_h, pi*, log pi*`` and write
  ``log pi_t, log pi_hat_{t+1}``: ``8 (h+7) X n`` (a write counted as one transfer, which understates
  write-allocate traffic, so their floors are optimistic).
* exp throughput: ns per element of scalar libm ``math.exp`` and of ``kernels.fastexp`` in a loop.
* exact saddle point: dual Newton (``numerics.dual.solve_dual_newton``) against cvxpy/Clarabel
  (``numerics.primal_cvxpy.solve_primal_cvxpy(polish=False)``) at each ``--cvxpy-sizes`` size (the
  largest is the largest one cvxpy solves here in reasonable time): wall time, max KKT residual of
  each, and their agreement ``max |lam_newton - lam_cvxpy|``.

With ``--json FILE``: a list of rows with keys ``size`` ([X, n, h]), ``version`` (``numpy``,
``numba-materialising``, ``numba-fused``, ``numba-fused-metrics``), ``threads``, ``ms_per_step``,
``floor_ms``, ``numpy_ms``, ``bandwidth_GBps``, ``bytes_per_step`` (and the exp throughputs, date);
then one row per cvxpy size with ``version = "saddle"`` (``newton_ms``, ``cvxpy_ms``, ``kkt_newton``,
``kkt_cvxpy``, ``lam_agreement``; the step keys are None there).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from types import SimpleNamespace

import numba
import numpy as np
from numba import njit, prange

from opdcheck.instances import random_instance
from opdcheck.kernels.fastexp import exp_shift
from opdcheck.kernels.numba_fused import run_opd_fused
from opdcheck.kernels.numba_opd import _run as run_materialising
from opdcheck.kernels.opd import run_opd, thm34_step_sizes
from opdcheck.logspace import softmax_rows


@njit(parallel=True)
def _stream_sum(a):
    nb = 64
    m = a.shape[0] // nb
    part = np.zeros(nb)
    for b in prange(nb):
        acc = 0.0
        for i in range(b * m, (b + 1) * m):
            acc += a[i]
        part[b] = acc
    return part.sum()


@njit(fastmath={"reassoc"})
def _sum_fast(a):
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i]
    return acc


@njit(parallel=True)
def _stream_sum_vec(a):
    nb = 64
    m = a.shape[0] // nb
    part = np.zeros(nb)
    for b in prange(nb):
        part[b] = _sum_fast(a[b * m:(b + 1) * m])
    return part.sum()


def read_bandwidth(threads: int, mib: int = 512) -> float:
    """Streaming read bandwidth (bytes/s) with ``threads`` numba threads, best of 5."""
    a = np.ones(mib * 2 ** 20 // 8)
    numba.set_num_threads(threads)
    _stream_sum_vec(a[:1024])
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        _stream_sum_vec(a)
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best


@njit
def _libm_exp(x, out, k):
    for _ in range(k):
        for i in range(x.shape[0]):
            out[i] = math.exp(x[i])


@njit
def _fast_exp(x, out, k):
    for _ in range(k):
        exp_shift(x, 0.0, out)


def exp_throughput() -> tuple[float, float]:
    """ns per element (1 thread) of libm exp and of fastexp on 1000 values in [-30, 0] (in L1)."""
    x = np.random.default_rng(0).uniform(-30.0, 0.0, 1000)
    out = np.empty_like(x)
    _libm_exp(x, out, 1)
    _fast_exp(x, out, 1)
    res = []
    for fn, args in ((_libm_exp, (x, out, 20_000)), (_fast_exp, (x, out, 20_000))):
        t0 = time.perf_counter()
        fn(*args)
        res.append((time.perf_counter() - t0) / (20_000 * x.size) * 1e9)
    return res[0], res[1]


def per_step(fn, T: int, repeats: int, loop_time: bool = False) -> float:
    """Seconds per step: (t(2 + T) - t(2)) / T, each the best of ``repeats``; ``loop_time``: t is the
    run's own step-loop time (``Trajectory.extra["loop_seconds"]``, the fused kernel), which leaves
    out the run's fixed costs and their noise."""
    def best(steps):
        return min(_timed(fn, steps, loop_time) for _ in range(repeats))
    return max(best(2 + T) - best(2), 1e-9) / T  # noise can make the difference <= 0 at tiny sizes


def _timed(fn, steps, loop_time):
    t0 = time.perf_counter()
    tr = fn(steps)
    return tr.extra["loop_seconds"] if loop_time else time.perf_counter() - t0


def parse_sizes(s: str) -> list[tuple[int, int, int]]:
    out = []
    for part in s.split(","):
        try:
            X, n, h = (int(float(v)) for v in part.lower().split("x"))
        except ValueError:
            raise SystemExit(f"--sizes: {part!r}; write XxNxH, e.g. 10000x1000x4") from None
        out.append((X, n, h))
    return out


def bench_size(X: int, n: int, h: int, T: int, repeats: int, bw: dict, rows: list) -> None:
    t0 = time.perf_counter()
    p = random_instance(X, n, h, 0.1, seed=0)
    t_gen = time.perf_counter() - t0
    # the saddle point only enters the metrics: a cheap stand-in (best response to lam = 0.5) keeps the
    # benchmark about the iteration; pi* must be a policy that is not pi_ref (else KL(pi*||.) is trivial)
    lam = np.full(h, 0.5)
    saddle = SimpleNamespace(pi=softmax_rows(p.log_pi_ref + p.scores(lam) / p.beta), lam=lam)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], saddle=saddle)
    entries = X * n
    bytes_fused = 8 * (h + 2) * entries
    bytes_fused_m = 8 * (h + 5) * entries
    bytes_mat = 8 * (h + 7) * entries
    numba.set_num_threads(2)
    run_materialising(p, T=1, parallel=True, **kw)  # compile or load from the cache
    run_opd_fused(p, T=1, parallel=True, **kw)
    t_np = per_step(lambda s: run_opd(p, T=s, **kw), T, 1)
    print(f"\n(X, n, h) = ({X}, {n}, {h}), beta = 0.1 (generated in {t_gen:.1f} s), T = {T}")
    print(f"{'version':<22} {'threads':>7} {'ms/step':>9} {'floor ms':>9} {'x floor':>8} {'numpy/this':>10}")

    def row(version, threads, t, nbytes):
        fl = nbytes / bw[threads] * 1e3
        rows.append({"size": [X, n, h], "version": version, "threads": threads, "ms_per_step": 1e3 * t,
                     "floor_ms": fl, "numpy_ms": 1e3 * t_np, "bandwidth_GBps": bw[threads] / 1e9,
                     "bytes_per_step": nbytes})
        print(f"{version:<22} {threads:>7} {1e3 * t:>9.1f} {fl:>9.1f} {1e3 * t / fl:>8.2f} {t_np / t:>10.1f}")

    row("numpy", 1, t_np, bytes_mat)
    for threads in (1, 2):
        numba.set_num_threads(threads)
        t_mat = per_step(lambda s: run_materialising(p, T=s, parallel=True, **kw), T, repeats, loop_time=True)
        row("numba-materialising", threads, t_mat, bytes_mat)
        t_f = per_step(lambda s: run_opd_fused(p, T=s, parallel=True, metrics_every=10 ** 9, **kw), 5 * T, repeats,
                       loop_time=True)
        row("numba-fused", threads, t_f, bytes_fused)
        t_fm = per_step(lambda s: run_opd_fused(p, T=s, parallel=True, metrics_every=1, **kw), 2 * T, repeats,
                        loop_time=True)
        row("numba-fused-metrics", threads, t_fm, bytes_fused_m)
    numba.set_num_threads(2)


def bench_saddle(sizes, rows: list) -> None:
    from opdcheck.numerics.dual import solve_dual_newton
    from opdcheck.numerics.primal_cvxpy import solve_primal_cvxpy

    print("\nexact saddle point: dual Newton vs cvxpy/Clarabel (raw, no polish)")
    print(f"{'(X, n, h)':<18} {'newton ms':>10} {'cvxpy ms':>10} {'ratio':>8} {'kkt newton':>11} {'kkt cvxpy':>10} "
          f"{'|dlam|':>9}")
    solve_primal_cvxpy(random_instance(3, 3, 1, 0.1, seed=0), polish=False)  # imports and first-call setup
    for X, n, h in sizes:
        p = random_instance(X, n, h, 0.1, seed=0)
        t0 = time.perf_counter()
        sn = solve_dual_newton(p)
        t_n = time.perf_counter() - t0
        t0 = time.perf_counter()
        sc = solve_primal_cvxpy(p, polish=False)
        t_c = time.perf_counter() - t0
        kn, kc = max(sn.kkt.values()), max(sc.kkt.values())
        dl = float(np.max(np.abs(np.asarray(sn.lam) - np.asarray(sc.lam))))
        rows.append({"size": [X, n, h], "version": "saddle", "threads": 1, "ms_per_step": None,
                     "floor_ms": None, "numpy_ms": None, "newton_ms": 1e3 * t_n, "cvxpy_ms": 1e3 * t_c,
                     "kkt_newton": kn, "kkt_cvxpy": kc, "lam_agreement": dl})
        print(f"{str((X, n, h)):<18} {1e3 * t_n:>10.1f} {1e3 * t_c:>10.1f} {t_c / t_n:>8.0f} {kn:>11.1e} {kc:>10.1e} "
              f"{dl:>9.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=None, help="write the rows as JSON to this file")
    ap.add_argument("--sizes", default="1000x1000x4,10000x1000x4,10000x1000x8")
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cvxpy-sizes", default="20x20x4,50x50x4,100x100x4")
    args = ap.parse_args()
    sizes = parse_sizes(args.sizes)
    print(f"machine: {platform.processor() or platform.machine()}, numba {numba.__version__}, "
          f"threads available {numba.config.NUMBA_NUM_THREADS}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    bw = {t: read_bandwidth(t) for t in (1, 2)}
    ns_libm, ns_fast = exp_throughput()
    print(f"streaming read bandwidth: {bw[1] / 1e9:.1f} GB/s (1 thread), {bw[2] / 1e9:.1f} GB/s (2 threads); "
          f"exp: libm {ns_libm:.2f} ns, fastexp {ns_fast:.2f} ns per element (1 thread)")
    rows: list = []
    for X, n, h in sizes:
        bench_size(X, n, h, args.T, args.repeats, bw, rows)
    if args.cvxpy_sizes:
        bench_saddle(parse_sizes(args.cvxpy_sizes), rows)
    common = {"exp_ns_libm": ns_libm, "exp_ns_fastexp": ns_fast, "numba": numba.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for r in rows:
        r.update(common)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
        print(f"\nwrote {len(rows)} rows to {args.json}")


if __name__ == "__main__":
    main()
