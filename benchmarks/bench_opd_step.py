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
* streaming read bandwidth: the larger of two reads, each best of 5, 1 and 2 threads, measured in the
  same run: a Numba ``prange`` sum over a 512 MiB array, and one pass over the instance's own tables
  (``log pi_ref, r, R_1..R_h``: the fused step's bytes in its access pattern, several streams at once,
  which on the 2-core box reads faster than one array: 29.5 against 22-23 GB/s with 1 thread on
  2026-12-05). ``bandwidth_GBps`` in every row is the one its floor used; ``bandwidth_one_array_GBps``
  and ``bandwidth_tables_GBps`` are the two reads (the best of those taken for that size).
* ``floor_ms``: the bytes a version must move per step / that bandwidth (at the row's thread count;
  numpy: 1 thread). Fused: it reads ``log pi_ref, r, R_1..R_h`` = ``8 (h+2) X n`` bytes and writes
  nothing of size ``X n``; with metrics it also reads ``pi*, log pi*`` (``8 (h+4) X n``).
  Materialising / numpy: read ``log pi_hat, log pi_ref, r, R_1..R_h, pi*, log pi*`` and write
  ``log pi_t, log pi_hat_{t+1}``: ``8 (h+7) X n`` (a write counted as one transfer, which understates
  write-allocate traffic, so their floors are optimistic).
* ``jax-jit``: the same step in JAX (``make_jax_opd``: ``jax.jit``, float64, XLA on CPU with its own
  thread pool over every core), written as a user would (log-softmax of the mixed logits, einsum for
  the constraints), compiled by a first call outside the timing, no metrics; its floor counts
  ``log pi_hat, log pi_ref, r, R_1..R_h`` read and ``log pi_hat_{t+1}`` written (``8 (h+4) X n``), at
  the 2-thread bandwidth. Needs ``pip install jax jaxlib`` (the ``bench`` extra); skipped otherwise.
* the fused rows' floors use the bandwidth measured right before and after their own timing (the larger
  of the two, so contention errs against the kernel); the other rows use the per-size measurement.
* ``fused-arithmetic-in-L1`` (h = 4 only): the fused step's row loop run X times over ONE row that stays
  in cache, 1 thread: its arithmetic without memory traffic, against the same floor as ``numba-fused``.
  Its ``x_floor`` above 1 means the step is compute-bound at that bandwidth (no prefetch or layout
  change can bring it to the floor; only less arithmetic per entry can).
* ``over_plain`` (``numba-fused-metrics`` rows): its ms/step over the plain ``numba-fused`` step's, same threads.
* ``load``: ``os.getloadavg()`` before and after the run (the box is shared: read ratios within a run).
* exp throughput: ns per element of scalar libm ``math.exp`` and of ``kernels.fastexp`` in a loop.
* exact saddle point: dual Newton (``numerics.dual.solve_dual_newton``) against cvxpy/Clarabel
  (``numerics.primal_cvxpy.solve_primal_cvxpy(polish=False)``) at each ``--cvxpy-sizes`` size (the
  largest is the largest one cvxpy solves here in reasonable time): wall time, max KKT residual of
  each, and their agreement ``max |lam_newton - lam_cvxpy|``.

With ``--json FILE``: a list of rows with keys ``size`` ([X, n, h]), ``version`` (``numpy``,
``numba-materialising``, ``numba-fused``, ``numba-fused-metrics``, ``fused-arithmetic-in-L1``, ``jax-jit``), ``threads``, ``ms_per_step``,
``floor_ms``, ``numpy_ms``, ``bandwidth_GBps``, ``bytes_per_step`` (and the exp throughputs, date);
then one row per cvxpy size with ``version = "saddle"`` (``newton_ms``, ``cvxpy_ms``, ``kkt_newton``,
``kkt_cvxpy``, ``lam_agreement``; the step keys are None there).
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import sys
import time
from types import SimpleNamespace

import numba
import numpy as np
from numba import njit, prange

from opdcheck.instances import random_instance
from opdcheck.kernels.fastexp import exp_shift
from opdcheck.kernels.numba_fused import _exp_dots, run_opd_fused
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


@njit(fastmath={"reassoc"})
def _row6_sum(a0, a1, a2, a3, a4, a5):
    acc = 0.0
    for y in range(a0.shape[0]):
        acc += ((a0[y] + a1[y]) + (a2[y] + a3[y])) + (a4[y] + a5[y])
    return acc


@njit(parallel=True)
def _tables_sum(L, r, R):
    """One pass over ``log pi_ref, r, R_1..R_h`` in the fused kernel's order: row by row, the first six
    tables in one loop (h < 4: the last row again, as the kernel does; it is in L1), the others after."""
    X = L.shape[0]
    h = R.shape[0]
    nb = 64
    part = np.zeros(nb)
    for b in prange(nb):
        acc = 0.0
        for x in range(b * X // nb, (b + 1) * X // nb):
            acc += _row6_sum(L[x], r[x], R[0, x], R[min(1, h - 1), x], R[min(2, h - 1), x], R[min(3, h - 1), x])
            for j in range(4, h):
                acc += _sum_fast(R[j, x])
        part[b] = acc
    return part.sum()


def read_bandwidth_tables(p, threads: int) -> float:
    """Read bandwidth (bytes/s) of a pass over the instance's own tables (``log pi_ref, r, R_1..R_h``, the
    bytes the fused step reads, in its access pattern: several streams at once), ``threads`` numba
    threads, best of 5. On the 2-core box it is higher than the one-array read (2026-12-05: 29.5 against
    22-23 GB/s with 1 thread): several streams keep more reads in flight."""
    numba.set_num_threads(threads)
    _tables_sum(p.log_pi_ref[:2], p.r[:2], p.R_hard[:, :2])
    nbytes = 8 * (p.h + 2) * p.X * p.n
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        _tables_sum(p.log_pi_ref, p.r, p.R_hard)
        best = min(best, time.perf_counter() - t0)
    return nbytes / best


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


def make_jax_opd(p, eta_th: float, eta_lam: float, dual_step: str = "prox"):
    """Algorithm 2's step as a user would write it in JAX (float64, one ``jax.jit``, XLA on CPU): the two
    KL-proximal policy evaluations (4) and (6) by log-softmax, the constraint values of the prediction,
    the two dual steps (5) and (7). Returns ``(step, state0)``; ``step(state) -> state`` is compiled by
    the first call (outside any timed loop). None when jax is not installed (``pip install .[bench]``)."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from opdcheck.kernels.rules import dual_step_size
    beta = float(p.beta)
    s = dual_step_size(eta_lam, dual_step)
    data = tuple(jnp.asarray(a, dtype=jnp.float64) for a in (p.log_pi_ref, p.r, p.R_hard, p.rho))
    mix = eta_th / (eta_th + beta)

    def policy(log_hat, lam, log_ref, r, R):
        scores = r + jnp.einsum("j,jxy->xy", lam, R)
        return jax.nn.log_softmax(mix * log_hat + (1.0 - mix) * log_ref + scores / (eta_th + beta), axis=1)

    def constraints(log_pi, R, rho):
        return jnp.einsum("x,xy,jxy->j", rho, jnp.exp(log_pi), R)

    @jax.jit  # the instance is an argument (closed-over arrays would be baked in as XLA constants)
    def step(state, data):
        log_ref, r, R, rho = data
        log_hat, lam_hat, lam_prev, c_prev = state
        log_pred = policy(log_hat, lam_prev, log_ref, r, R)      # (4)
        lam_t = jnp.maximum(lam_hat - s * c_prev, 0.0)           # (5)
        log_new = policy(log_hat, lam_t, log_ref, r, R)          # (6)
        c_t = constraints(log_pred, R, rho)
        lam_new = jnp.maximum(lam_hat - s * c_t, 0.0)            # (7)
        return log_new, lam_new, lam_t, c_t

    lam0 = jnp.zeros(p.h)
    state0 = (data[0], lam0, lam0, constraints(data[0], data[2], data[3]))
    return functools.partial(step, data=data), state0


def jax_per_step(step, state0, T: int, repeats: int) -> float:
    """Seconds per step of the jitted JAX step (compiled by a first call here, outside the timing)."""
    st = step(state0)
    st[0].block_until_ready()
    best = math.inf
    for _ in range(repeats):
        st = state0
        t0 = time.perf_counter()
        for _ in range(T):
            st = step(st)
        st[0].block_until_ready()
        best = min(best, (time.perf_counter() - t0) / T)
    return best


@njit
def _row_loop_in_cache(L, r, R, w, u, e, X):
    """The fused step's per-row loop (logits, exp, row sum, four constraint sums) X times over ONE row,
    which stays in L1/L2: the arithmetic of a step (h <= 4) without its memory traffic."""
    s = 0.0
    for _ in range(X):
        s += _exp_dots(L, r, R[0], R[1], R[2], R[3], w[0], w[1], w[2], w[3], w[4], w[5], 0.0)[0]
    return s


def compute_in_cache(p, w: np.ndarray, repeats: int) -> float | None:
    """Seconds of the fused step's arithmetic alone (:func:`_row_loop_in_cache` over X copies of row 0,
    1 thread, best of ``repeats``); None for h != 4 (the loop has exactly four constraint rows)."""
    if p.h != 4:
        return None
    L, r = np.ascontiguousarray(p.log_pi_ref[0]), np.ascontiguousarray(p.r[0])
    R = np.ascontiguousarray(p.R_hard[:, 0])
    u, e = np.empty_like(L), np.empty_like(L)
    _row_loop_in_cache(L, r, R, w, u, e, 1)
    best = math.inf
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        _row_loop_in_cache(L, r, R, w, u, e, p.X)
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> str:
    """CPU model, core count and host kind (for the JSON; ratios within one run are what to compare)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def _jax_version():
    try:
        import jax
        return jax.__version__
    except ImportError:
        return None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a step count or a number of repeats: 0 would time nothing)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; pass an integer >= 1") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v}; pass an integer >= 1")
    return v


def writable_json(path: str | None) -> None:
    """Refuse a ``--json`` file that cannot be written before any timing (not after a run of minutes)."""
    if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise SystemExit(f"--json: {path!r}; its folder {os.path.dirname(os.path.abspath(path))!r} does not exist: "
                         "create it or pass another path")


def bytes_per_step(version: str, X: int, n: int, h: int) -> int:
    """The bytes a version must move per step (its floor is this over the read bandwidth), 8 per float64 of
    each (X, n) table: the fused step reads ``log pi_ref, r, R_1..R_h``, with metrics also ``pi*, log pi*``;
    the materialising kernel and numpy also read ``log pi_hat`` and write ``log pi_t, log pi_hat_{t+1}``
    (a write counted once); JAX reads ``log pi_hat, log pi_ref, r, R_1..R_h`` and writes ``log pi_hat_{t+1}``."""
    tables = {"numba-fused": h + 2, "fused-arithmetic-in-L1": h + 2, "numba-fused-metrics": h + 4,
              "numba-materialising": h + 7, "numpy": h + 7, "jax-jit": h + 4}
    if version not in tables:
        raise ValueError(f"version: {version!r}; one of {sorted(tables)}")
    return 8 * tables[version] * X * n


def run_metadata(load_start, load_end, **extra) -> dict:
    """What every JSON row of a run carries: when, on what, under which load (the box is shared)."""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "numba": numba.__version__, "load_start": list(load_start), "load_end": list(load_end), **extra}


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
    bytes_fused = bytes_per_step("numba-fused", X, n, h)
    bytes_fused_m = bytes_per_step("numba-fused-metrics", X, n, h)
    bytes_mat = bytes_per_step("numba-materialising", X, n, h)
    numba.set_num_threads(2)
    if "--no-materialising" not in sys.argv:
        run_materialising(p, T=1, parallel=True, **kw)  # compile or load from the cache
    run_opd_fused(p, T=1, parallel=True, **kw)
    t_np = per_step(lambda s: run_opd(p, T=s, **kw), T, 1)
    jx = make_jax_opd(p, e[0], e[1])
    t_jax = None if jx is None else jax_per_step(*jx, T=T, repeats=repeats)
    def bandwidth(threads: int) -> float:
        # the larger of the one-array read and the read of this instance's own tables (the fused step's
        # bytes and access pattern): the smaller floor, so this errs against the kernels, never for them
        one, tables = read_bandwidth(threads), read_bandwidth_tables(p, threads)
        seen.setdefault(threads, []).append((one, tables))
        return max(one, tables)

    seen: dict = {}
    # the bandwidth of this size's floors: measured now, next to the timings (the box is shared)
    bw.update({t: bandwidth(t) for t in (1, 2)})
    print(f"\n(X, n, h) = ({X}, {n}, {h}), beta = 0.1 (generated in {t_gen:.1f} s), T = {T}; read bandwidth "
          f"{bw[1] / 1e9:.1f} GB/s (1 thread), {bw[2] / 1e9:.1f} (2) (larger of one array "
          f"{seen[1][-1][0] / 1e9:.1f} / {seen[2][-1][0] / 1e9:.1f} and the instance's tables "
          f"{seen[1][-1][1] / 1e9:.1f} / {seen[2][-1][1] / 1e9:.1f}); load {os.getloadavg()[0]:.2f}")
    print(f"{'version':<22} {'threads':>7} {'ms/step':>9} {'floor ms':>9} {'x floor':>8} {'numpy/this':>10} "
          f"{'jax/this':>9} {'load':>5}")

    def row(version, threads, t, nbytes, bw_row=None, **extra):
        bw_row = bw[threads] if bw_row is None else bw_row
        fl = nbytes / bw_row * 1e3
        load = os.getloadavg()[0]
        rows.append({"size": [X, n, h], "version": version, "threads": threads, "ms_per_step": 1e3 * t,
                     "floor_ms": fl, "x_floor": 1e3 * t / fl, "numpy_ms": 1e3 * t_np,
                     "jax_ms": None if t_jax is None else 1e3 * t_jax, "numpy_over_this": t_np / t,
                     "jax_over_this": None if t_jax is None else t_jax / t, "bandwidth_GBps": bw_row / 1e9,
                     "bandwidth_one_array_GBps": max(o for o, _ in seen[threads]) / 1e9,
                     "bandwidth_tables_GBps": max(tb for _, tb in seen[threads]) / 1e9,
                     "bytes_per_step": nbytes, "load1": load, **extra})
        jr = f"{t_jax / t:>9.2f}" if t_jax is not None else f"{'-':>9}"
        print(f"{version:<22} {threads:>7} {1e3 * t:>9.1f} {fl:>9.1f} {1e3 * t / fl:>8.2f} {t_np / t:>10.1f} {jr} "
              f"{load:>5.2f}")

    row("numpy", 1, t_np, bytes_per_step("numpy", X, n, h))
    if jx is None:
        print("jax: not installed (pip install jax jaxlib), row skipped")
    else:
        # XLA's CPU thread pool uses every core: compared with the 2-thread floor
        row("jax-jit", 2, t_jax, bytes_per_step("jax-jit", X, n, h))
        del jx
    materialising = "--no-materialising" not in sys.argv
    for threads in (1, 2):
        numba.set_num_threads(threads)
        if materialising:
            t_mat = per_step(lambda s: run_materialising(p, T=s, parallel=True, **kw), T, repeats, loop_time=True)
            row("numba-materialising", threads, t_mat, bytes_mat)
        # the fused rows' floors: bandwidth measured right before and right after their timing, the larger
        # of the two (the smaller floor: on a shared box this errs against the kernel, never for it)
        bw_a = bandwidth(threads)
        t_f = per_step(lambda s: run_opd_fused(p, T=s, parallel=True, metrics_every=10 ** 9, **kw), 5 * T, repeats,
                       loop_time=True)
        bw_b = bandwidth(threads)
        row("numba-fused", threads, t_f, bytes_fused, max(bw_a, bw_b))
        t_fm = per_step(lambda s: run_opd_fused(p, T=s, parallel=True, metrics_every=1, **kw), 2 * T, repeats,
                        loop_time=True)
        bw_c = bandwidth(threads)
        row("numba-fused-metrics", threads, t_fm, bytes_fused_m, max(bw_b, bw_c), over_plain=t_fm / t_f)
        print(f"{'':<22} {'':>7} metrics step / plain step = {t_fm / t_f:.2f}")
        if threads == 1:
            # the arithmetic of the plain step alone (its row loop over a row kept in cache, 1 thread), with
            # the same floor: ms/step below the floor would mean the step is memory-bound, above compute-bound
            w = run_opd_fused(p, T=2, parallel=True, metrics_every=10 ** 9, **kw).extra["coefficients"]
            t_c = compute_in_cache(p, w, repeats)
            if t_c is not None:
                row("fused-arithmetic-in-L1", 1, t_c, bytes_fused, max(bw_a, bw_b))
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
    ap.add_argument("--T", type=positive_int, default=4, help="steps per timing (>= 1)")
    ap.add_argument("--repeats", type=positive_int, default=2, help="timings per version, the best kept (>= 1)")
    ap.add_argument("--cvxpy-sizes", default="20x20x4,50x50x4,100x100x4")
    ap.add_argument("--no-materialising", action="store_true", help="skip the materialising kernel's rows")
    args = ap.parse_args()
    writable_json(args.json)
    sizes = parse_sizes(args.sizes)
    load0 = os.getloadavg()
    print(f"machine: {machine()}, numba {numba.__version__}, threads available {numba.config.NUMBA_NUM_THREADS}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {load0[0]:.2f} {load0[1]:.2f} "
          f"{load0[2]:.2f}")
    bw = {t: read_bandwidth(t) for t in (1, 2)}
    ns_libm, ns_fast = exp_throughput()
    print(f"one-array read bandwidth: {bw[1] / 1e9:.1f} GB/s (1 thread), {bw[2] / 1e9:.1f} GB/s (2 threads); "
          f"exp: libm {ns_libm:.2f} ns, fastexp {ns_fast:.2f} ns per element (1 thread)")
    rows: list = []
    for X, n, h in sizes:
        bench_size(X, n, h, args.T, args.repeats, bw, rows)
    if args.cvxpy_sizes:
        bench_saddle(parse_sizes(args.cvxpy_sizes), rows)
    load1 = os.getloadavg()
    print(f"load average at the end: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    common = run_metadata(load0, load1, exp_ns_libm=ns_libm, exp_ns_fastexp=ns_fast, jax=_jax_version())
    for r in rows:
        r.update(common)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
        print(f"\nwrote {len(rows)} rows to {args.json}")


if __name__ == "__main__":
    main()
