"""sec-4-stability: the lock-step bandit runs (run_groups) give every run's record exactly as the driver's
one-run path (run_seed) does; no wall-clock measurement reaches the check's results."""
from __future__ import annotations

import numpy as np

from opdcheck.paper_checks.checks import sec_4_stability as chk


def _specs():
    base = [{"rule": r, "params": {}, "sampler_seed": s, "lr": chk.PRIMAL_LR, "N": 8, "T": 30, "update": "ppo"}
            for r in chk.RULES for s in (12, 345)]
    off = [{**base[0], "params": {"optimistic": False}}]  # the negative control's OPD arm
    exact = [{"rule": r, "params": {}, "sampler_seed": 0, "lr": chk.PRIMAL_LR, "N": 1, "T": 40, "update": "exact-pg"}
             for r in ("sec4-pd", "sec4-opd")]
    extra = [{**sp, "lr": cfg["lr"], "scale": cfg["scale"], "setting": name}
             for name, cfg in chk.BANDIT_SETTINGS.items() for sp in base[:2]]
    return base + off + exact + extra


def test_run_groups_equals_run_seed_record_for_record():
    specs = _specs()
    got = chk.run_groups(specs)
    for sp, g in zip(specs, got):
        ref = chk.run_seed(sp, 0)
        assert set(g) == set(ref) - {"c"} or set(g) == set(ref)
        for k, v in ref.items():
            if k in g:
                assert (np.array_equal(g[k], v) if isinstance(v, np.ndarray) else g[k] == v), (sp, k)


def fake_neural_seed(spec: dict, seed: int) -> dict:
    """A stand-in for one neural run (the record's fields, including the wall time a real run measures)."""
    k = 1.0 + spec["pair_seed"] % 7 + (0.5 if spec["rule"] == "sec4-opd" else 0.0)
    lam = np.exp(np.sin(np.arange(spec["T"] + 1) * k))
    return {"rule": spec["rule"], "scale": spec["scale"], "pair_seed": spec["pair_seed"], "limit": 0.2, "lam": lam,
            "cost": np.full(spec["T"], 0.2), "reward": np.full(spec["T"], 0.5), "cost_T": 0.19 + 0.01 * k,
            "reward_T": 0.5 + 0.01 * k, "kl_T": 0.1 * k, "cost_se": 0.01, "log10_lam_spread": 0.3 * k,
            "diverged": False, "sec_per_iter": 0.0123 * k, "T": spec["T"]}


def test_results_hold_no_wall_time(tmp_path, monkeypatch):
    """A run's seconds per iteration (a wall time) stays out of results.json: the same seed must give the same
    results whichever executor ran it."""
    from opdcheck.kernels.neural import study
    from opdcheck.paper_checks.context import CheckContext

    monkeypatch.setattr(study, "run_neural_seed", fake_neural_seed)
    res = chk.evaluate(CheckContext(out_dir=tmp_path), n_seeds=2, T=20, neural_seeds=2, neural_T=12)
    assert any(f.name.startswith("neural") for f in res.findings)
    text = repr(res.computed) + repr(res.evidence) + repr([f.computed for f in res.findings])
    assert "sec_per" not in text and "0.0123" not in text


def test_neural_penalty_control_catches_a_flipped_penalty():
    """The neural update's direction control: a fixed penalty lowers the cost (positive); with the penalty's sign
    flipped (score r + lam s J_c, what a sign bug in the PPO score gives) it does not (negative)."""
    from opdcheck.kernels.neural.study import penalty_direction_runs
    from opdcheck.paper_checks.checks.sec_4_stability import PENALTY_CONTROL, penalty_lowers_cost
    from opdcheck.paper_checks.studies import sec4_neural

    spec = sec4_neural.neural_specs(0, "quick")[0]
    good = penalty_direction_runs(spec, PENALTY_CONTROL["lam_s"], PENALTY_CONTROL["T"])
    assert penalty_lowers_cost(good["cost_free"], good["cost_penalised"]), good
    flipped = penalty_direction_runs(spec, -PENALTY_CONTROL["lam_s"], PENALTY_CONTROL["T"])
    assert not penalty_lowers_cost(flipped["cost_free"], flipped["cost_penalised"]), flipped
