"""The fused step's row loop in Numba against the same loop hand-vectorised in C (AVX2 intrinsics, gcc), 1 thread.

    python benchmarks/bench_c_reference.py [--size 10000x1000x4] [--repeats 5] [--json FILE]

A script, not a test, and the C file is not part of the package: it measures how close to the memory floor
the fused step's ALGORITHM gets on this machine when the compiler is not Numba/LLVM, so that the gap between
the Numba kernel and its floor can be split into "the algorithm" and "the code generation".

Rows, all 1 thread, on the same seeded instance as ``bench_opd_step.py`` (``random_instance(X, n, h, 0.1,
seed=0)``), at the coefficients of the fused kernel after two OPD steps, shift 0:

* ``numba-row-loop``: ``kernels.numba_fused._exp_dots`` over every row (the plain step's loop, nothing else);
* ``c-row-loop``: ``benchmarks/c_reference/fused_row_loop.c`` (same arithmetic per entry: the logit as two
  chains of three FMAs, ``kernels.fastexp.exp1``'s range reduction, polynomial and scaling, the five sums),
  built with ``gcc -O3 -march=native -ffp-contract=off``;
* the same two over ONE row kept in cache (``*-in-cache``: the arithmetic without memory traffic);
* ``numba-fused-step``: ``run_opd_fused`` without metrics, ms per step (its own step-loop time), for context;
* the exp alone, ns per element in cache: ``numba-exp1`` (``kernels.fastexp.exp1``), ``c-exp-polynomial`` (the same
  algorithm in C) and ``c-exp-table-gather`` (a table-driven exp, 2^(j/128) with a degree-5 polynomial and two
  AVX2 gathers per 4 entries, glibc's scheme; its max error in ulp against numpy.exp is printed): does a gather
  pay on this CPU?

``floor_ms`` = the step's bytes ``8 (h + 2) X n`` / the larger of the two read bandwidths of
``bench_opd_step.py`` (one array; the instance's own tables), measured before and after the timings (the
larger: the smaller floor, errs against the loops). ``agreement``: the C sums against Numba's (max relative
difference of the row sums; of the constraint sums over their largest magnitude): rounding only, the lanes
are combined in another order.

Needs gcc (or ``$CC``) and an x86-64 CPU with AVX2 and FMA; otherwise it says so and exits 0. With
``--json FILE``: one row per version with ``ms``, ``floor_ms``, ``x_floor`` and the machine, date, load.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numba
import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_opd_step import (bytes_per_step, machine, per_step, positive_int, read_bandwidth, read_bandwidth_tables,  # noqa: E402
                            run_metadata, writable_json)

from opdcheck.instances import random_instance  # noqa: E402
from opdcheck.kernels.fastexp import exp1  # noqa: E402
from opdcheck.kernels.numba_fused import _exp_dots, run_opd_fused  # noqa: E402
from opdcheck.kernels.opd import thm34_step_sizes  # noqa: E402
from opdcheck.logspace import softmax_rows  # noqa: E402

C_SOURCE = Path(__file__).resolve().parent / "c_reference" / "fused_row_loop.c"
_DP = ctypes.POINTER(ctypes.c_double)


def build(tmp: str):
    """The C loop as a ctypes function, or (None, reason) when it cannot be built here."""
    cc = os.environ.get("CC") or shutil.which("gcc")
    if cc is None:
        return None, "no C compiler (gcc, or set CC)"
    so = os.path.join(tmp, "fused_row_loop.so")
    cmd = [cc, "-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC", "-o", so, str(C_SOURCE), "-lm"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        return None, f"the C compiler {cc!r} could not be run ({exc}); install gcc or set CC"
    if res.returncode != 0:
        return None, f"{' '.join(cmd)} failed (AVX2 and FMA are needed): {res.stderr.strip()[:300]}"
    lib = ctypes.CDLL(so)
    f = lib.fused_rows
    f.restype = None
    f.argtypes = [_DP] * 6 + [ctypes.c_long] * 3 + [_DP, ctypes.c_double, _DP]
    lib.table_init.restype = None
    lib.table_init()
    lib.exp_array.restype = None
    lib.exp_array.argtypes = [_DP, _DP, ctypes.c_long, ctypes.c_int]
    lib.exp_sum.restype = ctypes.c_double
    lib.exp_sum.argtypes = [_DP, ctypes.c_long, ctypes.c_long, ctypes.c_int]
    f.lib = lib  # the exp functions ride along (exp_rows)
    return f, " ".join([os.path.basename(cc), *cmd[1:6], os.path.relpath(C_SOURCE, Path(__file__).resolve().parent)])


@njit
def numba_rows(L, r, R, w, m, out, same_row):
    """``_exp_dots`` over rows 0..X-1 (``same_row``: row 0, X times), results in out (X, 5)."""
    for x in range(out.shape[0]):
        i = 0 if same_row else x
        out[x] = _exp_dots(L[i], r[i], R[0, i], R[1, i], R[2, i], R[3, i], w[0], w[1], w[2], w[3], w[4], w[5], m)


@njit(fastmath={"reassoc"})
def numba_exp_sum(x, reps):
    """sum of ``kernels.fastexp.exp1`` over x, reps times (the C ``exp_sum``'s loop, in Numba)."""
    acc = 0.0
    for _ in range(reps):
        for i in range(x.shape[0]):
            acc += exp1(x[i])
    return acc


def exp_rows(f, repeats: int) -> tuple[dict, float]:
    """ns per element (1 thread, in cache) of the exp alone: Numba's exp1, the same polynomial in C, and the
    table-driven exp with gathers in C, summed over 1000 values in [-30, 30]; and the table exp's max error in
    ulp against numpy.exp over normal results (2e5 points of [-708, 709.7]) and in subnormal spacings below."""
    x = np.random.default_rng(0).uniform(-30.0, 30.0, 1000)
    reps = 10_000
    xp = x.ctypes.data_as(_DP)
    fns = {"numba-exp1": lambda: numba_exp_sum(x, reps), "c-exp-polynomial": lambda: f.lib.exp_sum(xp, 1000, reps, 0),
           "c-exp-table-gather": lambda: f.lib.exp_sum(xp, 1000, reps, 1)}
    ns = {k: best_of(fn, repeats) / (reps * x.size) * 1e9 for k, fn in fns.items()}
    rng = np.random.default_rng(1)
    pts = np.concatenate([rng.uniform(-708.0, 709.7, 150_000), rng.uniform(-1.0, 1.0, 50_000)])
    sub = rng.uniform(-745.0, -708.5, 4000)
    out, out_sub = np.empty_like(pts), np.empty_like(sub)
    f.lib.exp_array(pts.ctypes.data_as(_DP), out.ctypes.data_as(_DP), pts.size, 1)
    f.lib.exp_array(sub.ctypes.data_as(_DP), out_sub.ctypes.data_as(_DP), sub.size, 1)
    ref = np.exp(pts)
    ulp = float(np.max(np.abs(out - ref) / np.spacing(ref)))
    sub_err = float(np.max(np.abs(out_sub - np.exp(sub))) / 2.0 ** -1074)
    return ns, max(ulp, 0.0) if sub_err <= 1.0 else math.inf


def c_rows(f, L, r, R, w, m, out, same_row):
    X, n = out.shape[0], L.shape[1]
    f(*(a.ctypes.data_as(_DP) for a in (L, r, R[0], R[1], R[2], R[3])), X, n, 0 if same_row else n,
      w.ctypes.data_as(_DP), m, out.ctypes.data_as(_DP))


def best_of(fn, repeats: int) -> float:
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="10000x1000x4", help="XxNxH; h must be 4 and n a multiple of 4")
    ap.add_argument("--repeats", type=positive_int, default=5, help="timings per version, the best kept (>= 1)")
    ap.add_argument("--json", default=None, help="write the rows as JSON to this file")
    args = ap.parse_args()
    writable_json(args.json)
    try:
        X, n, h = (int(float(v)) for v in args.size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size: {args.size!r}; write XxNxH, e.g. 10000x1000x4") from None
    if X < 1:
        raise SystemExit(f"--size: {args.size!r}; X (the number of prompts) must be >= 1.")
    if h != 4 or n % 4 or n < 4:
        raise SystemExit(f"--size: {args.size!r}; the loop has exactly four constraint rows (h = 4) and "
                         "vectors of 4 entries (n a positive multiple of 4).")
    with tempfile.TemporaryDirectory() as tmp:
        f, how = build(tmp)
        if f is None:
            print(f"bench_c_reference: skipped: {how}")
            return
        run(f, how, X, n, h, args)


def run(f, how: str, X: int, n: int, h: int, args) -> None:
    load0 = os.getloadavg()
    print(f"machine: {machine()}, numba {numba.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}\nC build: {how}")
    p = random_instance(X, n, h, 0.1, seed=0)
    lam = np.full(h, 0.5)
    saddle = SimpleNamespace(pi=softmax_rows(p.log_pi_ref + p.scores(lam) / p.beta), lam=lam)
    e = thm34_step_sizes(p)
    kw = dict(eta_th=e[0], eta_lam=e[1], saddle=saddle)
    numba.set_num_threads(1)
    w = np.ascontiguousarray(run_opd_fused(p, T=2, parallel=True, metrics_every=10 ** 9, **kw).extra["coefficients"])
    L, r, R = p.log_pi_ref, p.r, p.R_hard
    # one row in its own contiguous block (the tables' rows are X n apart: the same cache sets)
    block = np.ascontiguousarray(np.stack([L[0], r[0], *R[:, 0]]))
    Lc, rc, Rc = block[0:1], block[1:2], block[2:][:, None, :]
    nbytes = bytes_per_step("numba-fused", X, n, h)

    def bandwidth() -> float:
        return max(read_bandwidth(1), read_bandwidth_tables(p, 1))

    bw0 = bandwidth()
    out_n, out_c = np.empty((X, 5)), np.empty((X, 5))
    times = {
        "numba-row-loop": best_of(lambda: numba_rows(L, r, R, w, 0.0, out_n, False), args.repeats),
        "c-row-loop": best_of(lambda: c_rows(f, L, r, R, w, 0.0, out_c, False), args.repeats),
    }
    rel_S = float(np.max(np.abs(out_c[:, 0] / out_n[:, 0] - 1.0)))
    cn, cc = out_n[:, 1:] / out_n[:, :1], out_c[:, 1:] / out_c[:, :1]
    rel_c = float(np.max(np.abs(cc - cn)) / np.max(np.abs(cn)))
    tmp_n, tmp_c = np.empty((X, 5)), np.empty((X, 5))
    times["numba-row-loop-in-cache"] = best_of(lambda: numba_rows(Lc, rc, Rc, w, 0.0, tmp_n, True), args.repeats)
    times["c-row-loop-in-cache"] = best_of(lambda: c_rows(f, Lc, rc, Rc, w, 0.0, tmp_c, True), args.repeats)
    times["numba-fused-step"] = per_step(lambda s: run_opd_fused(p, T=s, parallel=True, metrics_every=10 ** 9, **kw),
                                         20, max(2, args.repeats // 2), loop_time=True)
    bw1 = bandwidth()
    bw = max(bw0, bw1)
    floor = nbytes / bw
    print(f"(X, n, h) = ({X}, {n}, {h}); floor {floor * 1e3:.1f} ms ({nbytes / 1e6:.0f} MB at {bw / 1e9:.1f} GB/s, "
          f"1 thread, the larger of the reads before and after: {bw0 / 1e9:.1f}, {bw1 / 1e9:.1f})")
    print(f"agreement C vs Numba: row sums {rel_S:.1e} relative, constraint values {rel_c:.1e} of their largest")
    print(f"{'version':<26} {'ms':>8} {'x floor':>8} {'/ c-row-loop':>13}")
    rows = []
    for k, t in times.items():
        ref = times["c-row-loop-in-cache"] if k.endswith("in-cache") else times["c-row-loop"]
        print(f"{k:<26} {t * 1e3:>8.2f} {t / floor:>8.2f} {t / ref:>13.2f}")
        rows.append({"size": [X, n, h], "version": k, "threads": 1, "ms": 1e3 * t, "floor_ms": 1e3 * floor,
                     "x_floor": t / floor, "over_c": t / ref})
    ns, table_ulp = exp_rows(f, args.repeats)
    print("exp alone (1 thread, in cache, sum over 1000 values of [-30, 30]): " + ", ".join(
        f"{k} {v:.2f} ns" for k, v in ns.items()) + f"; the table exp's max error: {table_ulp:.2f} ulp "
        "(normal results; subnormal ones within one spacing, else inf)")
    for k, v in ns.items():
        rows.append({"size": None, "version": k, "threads": 1, "ns_per_element": v,
                     "max_ulp": table_ulp if k == "c-exp-table-gather" else None})
    load1 = os.getloadavg()
    print(f"load average at the end: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if args.json:
        common = run_metadata(load0, load1, c_build=how, bandwidth_GBps=bw / 1e9, agreement_row_sums=rel_S,
                              agreement_constraints=rel_c)
        for row in rows:
            row.update(common)
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
        print(f"wrote {len(rows)} rows to {args.json}")


if __name__ == "__main__":
    main()
