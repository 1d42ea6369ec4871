"""The neural §4 study: profiles, the paired-seed sweep through ``ctx.map``, and paired statistics.

Profiles (float32 LM, sizes documented here and in the report):

* quick: V = 8 tokens, responses of 6, 4 prompts, 1 layer, width 16, batch 64, 100 iterations, 150
  pretraining steps, 2 paired seeds, cost scales x1 and x20;
* full: V = 16, responses of 8, 4 prompts, 2 layers, width 32 (~26k parameters), batch 128, 200 iterations,
  600 pretraining steps, 10 paired seeds, cost scales x1, x5, x20.

Every rule sees the same primal (PPO-clip, KL penalty 0.2, Adam 1e-3, 2 epochs), dual step 0.5 for the §4
rules, Safe-RLHF at its defaults, ``lam_0 = 1``.
"""
from __future__ import annotations

import numpy as np

from opdcheck.sweeps import task_seeds

RULES = ("sec4-opd", "sec4-pd", "safe-rlhf")
PROFILES = {
    "quick": {"model": {"vocab": 8, "length": 6, "n_prompts": 4, "d_model": 16, "n_layers": 1, "n_heads": 2},
              "ppo": {"batch": 64}, "T": 100, "pretrain_steps": 150, "seeds": 2, "scales": (1.0, 20.0)},
    "full": {"model": {"vocab": 16, "length": 8, "n_prompts": 4, "d_model": 32, "n_layers": 2, "n_heads": 2},
             "ppo": {"batch": 128}, "T": 200, "pretrain_steps": 600, "seeds": 10, "scales": (1.0, 5.0, 20.0)},
}


def neural_specs(run_seed: int, profile: str, n_seeds: int | None = None, T: int | None = None,
                 opd_optimistic: bool = True) -> list[dict]:
    """One spec per (cost scale, rule, paired seed); the pair seeds are task seeds of the stream
    ``sec-4-neural-pairs`` (the same for every rule and scale)."""
    prof = PROFILES[profile]
    n = n_seeds or prof["seeds"]
    pairs = task_seeds(run_seed, "sec-4-neural-pairs", n)
    out = []
    for scale in prof["scales"]:
        for rule in RULES:
            params = {"optimistic": False} if (rule == "sec4-opd" and not opd_optimistic) else {}
            for ps in pairs:
                out.append({"rule": rule, "params": params, "scale": float(scale), "pair_seed": int(ps),
                            "model": prof["model"], "ppo": prof["ppo"], "T": T or prof["T"],
                            "pretrain_steps": prof["pretrain_steps"], "lang_seed": 0})
    return out


def paired(a, b) -> dict:
    """Paired comparison of ``a - b`` (same seeds): median difference, Wilcoxon signed-rank two-sided p,
    and the matched-pairs rank-biserial correlation (effect size in [-1, 1]; > 0: ``a`` larger)."""
    from scipy.stats import rankdata, wilcoxon

    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[np.isfinite(d)]
    nz = d[d != 0]
    if nz.size == 0:
        return {"n": int(d.size), "median_diff": 0.0 if d.size else float("nan"), "p": 1.0, "effect": 0.0}
    ranks = rankdata(np.abs(nz))
    effect = float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / ranks.sum())
    p = float(wilcoxon(nz).pvalue) if nz.size >= 2 else 1.0
    return {"n": int(d.size), "median_diff": float(np.median(d)), "p": p, "effect": effect}


def mcnemar(a: list[bool], b: list[bool]) -> dict:
    """Exact McNemar test on paired booleans: discordant pairs ``a & ~b`` vs ``~a & b``."""
    from scipy.stats import binomtest

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    k10, k01 = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = float(binomtest(k10, k10 + k01, 0.5).pvalue) if k10 + k01 else 1.0
    return {"a_only": k10, "b_only": k01, "p": p}
