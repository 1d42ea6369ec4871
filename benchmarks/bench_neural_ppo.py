"""Seconds per PPO-Lagrangian iteration of the §4 neural study (compilation excluded), per LM size and batch.

Run: ``python benchmarks/bench_neural_ppo.py`` (not a test: timings depend on the machine and its load).
"""
from __future__ import annotations

import sys

from opdcheck.kernels.neural.study import run_neural_seed
from opdcheck.paper_checks.studies.sec4_neural import PROFILES


def main(T: int = 30) -> None:
    for name, prof in PROFILES.items():
        for batch in sorted({prof["ppo"]["batch"], 256}):
            r = run_neural_seed({"rule": "sec4-opd", "params": {}, "scale": 20.0, "pair_seed": 1, "model": prof["model"],
                                 "ppo": {**prof["ppo"], "batch": batch}, "T": T, "pretrain_steps": 20, "lang_seed": 0}, 0)
            print(f"{name:5s} model {prof['model']} batch {batch}: {r['sec_per_iter']:.4f} s/iteration", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
