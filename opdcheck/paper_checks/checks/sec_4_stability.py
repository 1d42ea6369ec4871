"""Check ``sec-4-stability``: §4, Figs. 2-3 -- a *synthetic analogue* of the LLM experiment.

Paper (§4, "OPD implementation"): PPO-clip primal, a gradient step on ``log lam`` with the extrapolated
gradient ``g_OPD = 2 g_t - g_{t-1}``, dual step 0.5 ("relatively aggressive stepsizes intentionally place
PD-based methods in an unstable regime"); claim: OPD converges to policies that satisfy the safety
constraint while PD-based methods show degraded safety at convergence.

This check is NOT the LLM experiment. It runs the same *update rules* on two synthetic families.

**Neural family** (first; :mod:`opdcheck.paper_checks.studies.sec4_neural`, :mod:`opdcheck.kernels.neural`): a small
causal transformer LM (float32 JAX) pretrained on a seeded synthetic language, aligned by PPO-Lagrangian
(PPO-clip, KL penalty to the reference) with the three rules below at cost scales x1 (and x5) and x20, over
paired seeds. Premise: plain PD's log10 lambda must span > ``NEURAL_OSCILLATION_DECADES`` over the last
quarter at the largest scale, else every neural finding is INCONCLUSIVE. Then, at that scale, paired tests
(exact McNemar on feasibility, Wilcoxon signed-rank with the rank-biserial effect size on violation, log-lambda
spread, reward and KL to the reference) decide one finding per §4 statement (``sec-4-feasible``,
``sec-4-stability``, ``sec-4-reward``).

**Bandit family** (the cheaper analogue, with a cost-scale x20 and a slow-primal setting reported beside it):
the same rules on a seeded multi-prompt bandit
(``random_instance(X=8, n=6, h=1, beta=0.05, seed=3)``, rewards as fixed reward models) with the sampled
primal of :mod:`opdcheck.kernels.stochastic` (tabular softmax, PPO-clip 0.2, 4 epochs, N responses per
prompt per step, the rollout batch feeding both the policy step and the constraint estimate the dual rule
sees; simultaneous ordering as in PPO-Lagrangian loops), ``lam_0 = 1``, over >= 20 seeds (paired: the same
sampler seeds for every rule; the runs of one setting step in lock step, :mod:`opdcheck.kernels.sampled_batch`,
each with the bits of its own driver run), comparing

* ``sec4-opd``: ``log lam -= 0.5 (2 g_t - g_{t-1})``, ``g_t = c_hat_t`` (see ``kernels/dual_rules.py``);
* ``sec4-pd``: the same without the correction (plain PD on ``log lam``, step 0.5);
* ``safe-rlhf``: Safe-RLHF's rule at its defaults (lr 0.1, lam_max 5).

Measured: the exact last-iterate constraint value ``c(pi_T)`` and reward ``E r(pi_T)``, the fraction of
seeds ending feasible (``c >= -SEC4_FEASIBLE_ATOL``), and the multiplier's oscillation over the last
quarter of the run. A synthetic analogue cannot refute an LLM experiment: a result against the paper
reads INCONCLUSIVE ("not reproduced in the analogue"), never REFUTED. Controls: the sampled constraint
estimate is unbiased (positive); with exact expectations, plain PD at dual step 0.5 is in the oscillating
regime the paper describes (the premise; if it fails the comparison says nothing).
"""
from __future__ import annotations


import numpy as np

from opdcheck.instances import random_instance
from opdcheck.kernels.dual_rules import make_dual_rule
from opdcheck.kernels.framework import FRAMEWORK_METHODS
from opdcheck.kernels.opd import run_primal_dual
from opdcheck.kernels.sampled_batch import run_sampled_batch
from opdcheck.kernels.stochastic import SampledPrimal
from opdcheck.numerics.saddle import solve_saddle
from opdcheck.problem import Problem
from opdcheck.paper_checks.studies import sec4_neural
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.figures import plt, save_figure
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict
from opdcheck.paper_checks.studies.gate_controls import sec4_rule_controls
from opdcheck.paper_checks.studies import tolerance_controls as tolc
from opdcheck.tolerances import (NEURAL_FEASIBLE_ATOL, NEURAL_OSCILLATION_DECADES, NEURAL_REWARD_MARGIN,
                                 PAIRED_TEST_ALPHA, SEC4_FEASIBLE_ATOL, SEC4_OSCILLATION_MIN, SEC4_SETTLE_BAND_EXACT)

ID = "sec-4-stability"
PAPER_REF = "§4 (OPD implementation), Figs. 2-3"
CLAIM = ("With an aggressive dual step (0.5 on log lambda) the 2 g_t - g_{t-1} rule keeps the last iterate feasible and the "
         "multiplier stable where plain PD does not (synthetic analogue: sampled PPO-clip primal on a bandit).")

INSTANCE = {"X": 8, "n": 6, "h": 1, "beta": 0.05, "seed": 3}
PRIMAL_LR = 10.0   # tabular PPO learning rate: the regime where exact PD at dual step 0.5 still oscillates
N_RESPONSES = 16
RULES = {"sec4-opd": {}, "sec4-pd": {}, "safe-rlhf": {}}
LABEL = {"sec4-opd": "OPD rule (2 g_t - g_{t-1})", "sec4-pd": "plain PD (log lambda, 0.5)",
         "safe-rlhf": "Safe-RLHF defaults"}



def ends_feasible(c_T: float) -> bool:
    """A run ends feasible when its final constraint value is >= -SEC4_FEASIBLE_ATOL (the feasibility gate)."""
    return bool(c_T >= -SEC4_FEASIBLE_ATOL)


def keeps_oscillating(lam_range: float) -> bool:
    """The multiplier still oscillates when its last-quarter range (relative to lam*) exceeds SEC4_OSCILLATION_MIN."""
    return bool(lam_range > SEC4_OSCILLATION_MIN)


def neural_cost_feasible(cost_T: float, limit: float) -> bool:
    """A neural run ends feasible when its last-iterate cost is <= the limit d + NEURAL_FEASIBLE_ATOL."""
    return bool(cost_T <= limit + NEURAL_FEASIBLE_ATOL)


def penalty_lowers_cost(cost_free: float, cost_penalised: float) -> bool:
    """The neural PPO-Lagrangian primal with a fixed penalty ends with a cost lower than without it by more than
    NEURAL_FEASIBLE_ATOL (about three Monte-Carlo standard errors of one estimate): the direction of the update."""
    return bool(cost_penalised < cost_free - NEURAL_FEASIBLE_ATOL)


#: the fixed penalty lam * s and the iterations of the neural update's direction control (measured on the quick
#: LM: 10 iterations at lam s = 5 take the cost from 0.50 to 0.05, twenty times the gate)
PENALTY_CONTROL = {"lam_s": 5.0, "T": 10}


def neural_penalty_control(spec: dict) -> Control:
    """Control of the neural update itself (a flipped penalty sign makes the multiplier push the cost up, and
    every neural finding would then compare rules that do not solve the §4 problem)."""
    from opdcheck.kernels.neural.study import penalty_direction_runs

    d = penalty_direction_runs(spec, PENALTY_CONTROL["lam_s"], PENALTY_CONTROL["T"])
    return Control("neural PPO-Lagrangian: a fixed penalty lam s lowers the cost (the update's direction)", "positive",
                   penalty_lowers_cost(d["cost_free"], d["cost_penalised"]),
                   f"{PENALTY_CONTROL['T']} iterations: cost {d['cost_free']:.4f} at lam s = 0, {d['cost_penalised']:.4f} "
                   f"at lam s = {PENALTY_CONTROL['lam_s']:g} (combined standard error {d['se']:.4f})")


def significant(p: float) -> bool:
    """A paired test's p-value below PAIRED_TEST_ALPHA."""
    return bool(p < PAIRED_TEST_ALPHA)


def reward_competitive(median_diff: float) -> bool:
    """OPD's paired reward is competitive when OPD - PD's median is >= -NEURAL_REWARD_MARGIN."""
    return bool(median_diff >= -NEURAL_REWARD_MARGIN)


def neural_oscillates(log10_spread: float) -> bool:
    """The neural premise: plain PD's log10 lambda spans more than NEURAL_OSCILLATION_DECADES."""
    return bool(log10_spread > NEURAL_OSCILLATION_DECADES)

def bandit(scale: float = 1.0):
    """The analogue's bandit; ``scale`` multiplies the hard rewards (a cost model's outputs times ``scale``)."""
    p = random_instance(INSTANCE["X"], INSTANCE["n"], INSTANCE["h"], INSTANCE["beta"], INSTANCE["seed"])
    if scale == 1.0:
        return p
    return Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft, w=p.w, R_hard=p.R_hard * scale, beta=p.beta,
                   name=f"{p.name} (cost x{scale:g})")


#: the bandit's extra settings (where the regime changes): cost scale x20, and a slow primal (lr 1)
BANDIT_SETTINGS = {"cost x20": {"scale": 20.0, "lr": PRIMAL_LR}, "slow primal (lr 1)": {"scale": 1.0, "lr": 1.0}}


#: the exact-expectation runs (premise and damping) use this horizon in every profile: a damped oscillation
#: of plain PD takes ~700 steps to settle here, so a shorter horizon would mistake its transient for a cycle
EXACT_T = 1600


def settle_time(lam: np.ndarray, lam_star: float, band: float) -> float:
    """First ``t`` after which ``|lam_t - lam*| <= band lam*`` for the rest of the run; ``inf`` if the last
    iterate is outside the band (never settled)."""
    outside = np.flatnonzero(np.abs(np.asarray(lam) - lam_star) > band * lam_star)
    if outside.size == 0:
        return 0.0
    return float("inf") if outside[-1] == len(lam) - 1 else float(outside[-1] + 1)


def _run_record(spec: dict, p: Problem, lam_star: float, lam: np.ndarray, pi_T: np.ndarray, diverged: bool) -> dict:
    """What the check keeps of one run: its multiplier path and the measures of its last iterate."""
    q = max(len(lam) // 4, 2)
    return {**spec, "lam": lam, "c_T": float(p.constraint_values(pi_T)[0]), "diverged": diverged,
            "reward_T": float(np.einsum("x,xn,xn->", p.rho, pi_T, p.r)),
            "lam_amp": float((lam[-q:].max() - lam[-q:].min()) / max(lam_star, 1e-12)),
            "lam_star": lam_star,
            # sampled runs: a 20% band (noise spreads lam by ~13%); exact runs: 5% (SEC4_SETTLE_BAND_EXACT)
            "settle": settle_time(lam, lam_star, 0.2),
            "settle_exact_band": settle_time(lam, lam_star, SEC4_SETTLE_BAND_EXACT)}


def run_seed(spec: dict, seed: int) -> dict:
    """One seeded run of one rule through the driver (the reference :func:`run_groups` equals run by run, bit for
    bit; tests); ``spec["sampler_seed"]`` pairs the rules."""
    p = bandit(spec.get("scale", 1.0))
    sad = solve_saddle(p)
    prim = SampledPrimal(p, lr=spec["lr"], N=spec["N"], seed=spec["sampler_seed"], update=spec["update"])
    cfg = FRAMEWORK_METHODS[spec["rule"]]
    rule = make_dual_rule(cfg.dual_rule, **{**cfg.dual_params, **spec.get("params", {})})
    tr = run_primal_dual(p, prediction="none", eta_th=1.0, eta_lam=1.0, T=spec["T"], lam_init=[1.0], saddle=sad,
                         primal=prim, dual=rule, keep_every=1, method=spec["rule"])
    lam = np.array([it[2][0] for it in tr.iterates])
    return _run_record(spec, p, float(sad.lam[0]), lam, tr.final_pi_hat, tr.diverged)


def run_groups(specs: list[dict]) -> list[dict]:
    """Every run of ``specs`` (the records of :func:`run_seed`, in the same order): the runs that share a bandit,
    a primal learning rate, an update and a horizon step in lock step (:func:`~opdcheck.kernels.sampled_batch.
    run_sampled_batch`), the runs of one rule sharing one rule object, and the sampler seeds' uniforms drawn once
    for all groups."""
    groups: dict[tuple, list[int]] = {}
    for i, sp in enumerate(specs):
        groups.setdefault((sp.get("scale", 1.0), sp["lr"], sp["N"], sp["update"], sp["T"]), []).append(i)
    out: list = [None] * len(specs)
    uniforms: dict = {}
    problems: dict[float, Problem] = {}
    for (scale, lr, N, update, T), ix in groups.items():
        p = problems.setdefault(scale, bandit(scale))
        sad = solve_saddle(p)
        rules: dict[tuple, object] = {}
        for i in ix:
            key = (specs[i]["rule"], tuple(sorted(specs[i].get("params", {}).items())))
            if key not in rules:
                cfg = FRAMEWORK_METHODS[specs[i]["rule"]]
                rules[key] = make_dual_rule(cfg.dual_rule, **{**cfg.dual_params, **specs[i].get("params", {})})
        runs = run_sampled_batch(
            p, rules=[rules[(specs[i]["rule"], tuple(sorted(specs[i].get("params", {}).items())))] for i in ix],
            seeds=[specs[i]["sampler_seed"] for i in ix], lr=lr, N=N, T=T, update=update, lam_init=[1.0],
            lam_star=sad.lam, uniforms=uniforms)
        for i, r in zip(ix, runs):
            out[i] = _run_record(specs[i], p, float(sad.lam[0]), r["lam"][:, 0], np.exp(r["log_pi"]), r["diverged"])
    return out


def evaluate(ctx: CheckContext, opd_optimistic: bool = True, n_seeds: int | None = None,
             T: int | None = None, neural: bool = True, neural_seeds: int | None = None,
             neural_T: int | None = None) -> CheckResult:
    """``opd_optimistic=False`` switches the correction off in the OPD arm, sampled and exact (negative control);
    ``n_seeds``, ``T`` override the bandit profile, ``neural_seeds``, ``neural_T`` the neural one (tests);
    ``neural=False`` runs the bandit family only."""
    n_seeds = n_seeds or (40 if ctx.full else 20)
    T = T or (800 if ctx.full else 300)
    sampler_seeds = [int(s) for s in ctx.rng("sec-4-stability").integers(0, 2**31 - 1, size=n_seeds)]
    specs = []
    for rule in RULES:
        params = {"optimistic": False} if (rule == "sec4-opd" and not opd_optimistic) else {}
        for s in sampler_seeds:
            specs.append({"rule": rule, "params": params, "sampler_seed": s, "lr": PRIMAL_LR, "N": N_RESPONSES,
                          "T": T, "update": "ppo"})
    # the premise, with exact expectations: plain PD at step 0.5 oscillates; the OPD rule is shown for contrast
    specs_exact = [{"rule": r, "params": {"optimistic": False} if (r == "sec4-opd" and not opd_optimistic) else {},
                    "sampler_seed": 0, "lr": PRIMAL_LR, "N": 1, "T": EXACT_T, "update": "exact-pg"}
                   for r in ("sec4-pd", "sec4-opd")]
    n_extra = max(n_seeds // 2, 2)
    specs_extra = [{**sp, "lr": cfg["lr"], "scale": cfg["scale"], "setting": name}
                   for name, cfg in BANDIT_SETTINGS.items() for sp in specs
                   if sp["sampler_seed"] in sampler_seeds[:n_extra]]
    runs = run_groups(specs + specs_exact + specs_extra)
    exact = {r["rule"]: r for r in runs[len(specs):len(specs) + len(specs_exact)]}
    extra = runs[len(specs) + len(specs_exact):]
    runs = runs[:len(specs)]
    by = {rule: [r for r in runs if r["rule"] == rule] for rule in RULES}

    stats = {}
    for rule, rs in by.items():
        viol = np.array([max(0.0, -r["c_T"]) if not r["diverged"] else np.inf for r in rs])
        stats[rule] = {"feasible": float(np.mean([(not r["diverged"]) and ends_feasible(r["c_T"]) for r in rs])),
                       "viol_median": float(np.median(viol)), "viol_q90": float(np.quantile(viol, 0.9)),
                       "reward_median": float(np.median([r["reward_T"] for r in rs])),
                       "amp_median": float(np.median([r["lam_amp"] for r in rs])),
                       # a seed that never settles counts as +inf (the median stays finite while most settle)
                       "settle_median": float(np.median([r["settle"] for r in rs])),
                       "diverged": int(sum(r["diverged"] for r in rs))}

    def compare(other: str) -> Finding:
        a, b = stats["sec4-opd"], stats[other]
        more_feasible = a["feasible"] >= b["feasible"] + 0.2
        less_viol = a["viol_median"] <= b["viol_median"]
        ok = more_feasible and less_viol
        return Finding(
            name=f"OPD rule vs {other}", claim=f"the 2 g_t - g_{{t-1}} rule ends feasible where {LABEL[other]} does not",
            verdict=Verdict.CONFIRMED if ok else Verdict.INCONCLUSIVE,
            computed={"opd": a, other: b}, stated="OPD feasible at convergence, PD degraded", comparison=">=",
            judged=n_seeds, statement="fig-2", reading="synthetic",
            sentence=(f"over {n_seeds} paired seeds, feasible at T = {T}: OPD rule {a['feasible']:.0%} vs {LABEL[other]} "
                      f"{b['feasible']:.0%}; median violation {a['viol_median']:.3g} vs {b['viol_median']:.3g}; median reward "
                      f"{a['reward_median']:.4f} vs {b['reward_median']:.4f}"
                      + ("" if ok else " -- the paper's advantage is not reproduced in this synthetic analogue")
                      + "."))

    findings = [compare("sec4-pd"), compare("safe-rlhf")]
    a, b = stats["sec4-opd"], stats["sec4-pd"]
    calmer = a["amp_median"] < b["amp_median"]
    findings.append(Finding(
        name="multiplier stability", claim="the OPD rule damps the multiplier's oscillation",
        verdict=Verdict.CONFIRMED if calmer and keeps_oscillating(b["amp_median"]) else Verdict.INCONCLUSIVE,
        computed={k: v["amp_median"] for k, v in stats.items()}, stated="smaller oscillation than PD", comparison="<",
        judged=n_seeds, statement="sec4-dual-rule", reading="synthetic",
        sentence=(f"median range of lam over the last quarter, relative to lam* = {runs[0]['lam_star']:.4f}: "
                  + ", ".join(f"{LABEL[k]} {v['amp_median']:.3f}" for k, v in stats.items())
                  + f" (exact expectations, {EXACT_T} steps: plain PD {exact['sec4-pd']['lam_amp']:.3f}, OPD rule {exact['sec4-opd']['lam_amp']:.3f})"
                  + "; descriptive, median step after which lam stays within 20% of lam*: "
                  + ", ".join(f"{LABEL[k]} {v['settle_median']:g}" for k, v in stats.items())
                  + f" (of {T}; inf: not settled).")))

    # the same rules with exact expectations (no sampling noise), EXACT_T steps
    ea, eb = exact["sec4-opd"]["lam_amp"], exact["sec4-pd"]["lam_amp"]
    sa, sb = exact["sec4-opd"]["settle_exact_band"], exact["sec4-pd"]["settle_exact_band"]
    findings.append(Finding(
        name="premise: plain PD unstable at dual step 0.5",
        claim="§4: the aggressive dual step 0.5 places plain PD in an unstable regime (here with exact expectations)",
        verdict=Verdict.CONFIRMED if keeps_oscillating(eb) else Verdict.INCONCLUSIVE,
        computed={"plain_pd_last_quarter_range": eb}, stated="persistent oscillation", comparison=">", judged=1,
        sentence=(f"exact-gradient primal, {EXACT_T} steps: plain PD's multiplier range over the last quarter is "
                  f"{eb:.4f} of lam* ({'>' if keeps_oscillating(eb) else '<='} {SEC4_OSCILLATION_MIN:g}); "
                  + ("it keeps oscillating." if keeps_oscillating(eb) else
                     f"it is a damped oscillation that settles (within {SEC4_SETTLE_BAND_EXACT:.0%} of lam*) at t = {sb:g}: "
                     "the analogue is not in the paper's unstable regime."))))
    findings.append(Finding(
        name="multiplier settles faster, exact expectations",
        claim="(opdcheck) without sampling noise the 2 g_t - g_{t-1} rule settles the multiplier faster than plain PD",
        verdict=Verdict.CONFIRMED if sa < sb else Verdict.INCONCLUSIVE,
        computed={"settle_opd_rule": sa, "settle_plain_pd": sb, "range_opd_rule": ea, "range_plain_pd": eb},
        stated="shorter transient than PD", comparison="<", judged=1,
        sentence=(f"exact-gradient primal: lam stays within {SEC4_SETTLE_BAND_EXACT:.0%} of lam* from t = {sa:g} (OPD rule) "
                  f"vs t = {sb:g} (plain PD) of {EXACT_T}. In the sampled runs the extrapolated gradient 2 g_t - g_(t-1) "
                  "of independent batches has 5x the variance of g_t, which offsets the damping.")))

    # controls
    p = bandit()
    est = np.array([SampledPrimal(p, lr=PRIMAL_LR, N=N_RESPONSES, seed=s).constraint_estimate(
        SampledPrimal(p, lr=PRIMAL_LR, N=N_RESPONSES, seed=s).init_state(p))[0] for s in sampler_seeds])
    exact_c0 = float(p.constraint_values(p.pi_ref)[0])
    se = float(est.std(ddof=1) / np.sqrt(len(est)))
    unbiased = abs(float(est.mean()) - exact_c0) <= 4 * se
    # negative control of the settling judge: an undamped oscillation around lam* never settles
    cyc = 0.75 * (1 + 0.3 * np.sin(0.3 * np.arange(EXACT_T + 1)))
    controls = [
        Control("sampled constraint estimate is unbiased at pi_ref", "positive", unbiased,
                f"mean {est.mean():.4f} vs exact {exact_c0:.4f} (4 SE = {4 * se:.4f}, {len(est)} seeds)"),
        Control("the settling judge flags an undamped cycle", "negative",
                settle_time(cyc, 0.75, SEC4_SETTLE_BAND_EXACT) == float("inf"), "30% sinusoid around lam* = 0.75"),
        *sec4_rule_controls(FRAMEWORK_METHODS),
    ] + tolc.settle_band_controls(settle_time) + tolc.sec4_gate_controls(ends_feasible, keeps_oscillating, neural_oscillates)
    controls += tolc.neural_gate_controls(neural_cost_feasible, significant, reward_competitive)
    figures = _figures(ctx, by, exact, T)
    evidence = [{"family": "bandit", "setting": "base", "rule": LABEL[k], **v} for k, v in stats.items()]
    for name in BANDIT_SETTINGS:
        for rule in RULES:
            rs = [r for r in extra if r["setting"] == name and r["rule"] == rule]
            evidence.append({"family": "bandit", "setting": name, "rule": LABEL[rule],
                             "feasible": float(np.mean([(not r["diverged"]) and ends_feasible(r["c_T"]) for r in rs])),
                             "amp_median": float(np.median([r["lam_amp"] for r in rs])),
                             "reward_median": float(np.median([r["reward_T"] for r in rs])), "seeds": len(rs)})
    neural_out = {}
    if neural:
        nf, nev, nfig, neural_out = _neural(ctx, opd_optimistic, neural_seeds, neural_T)
        controls.append(neural_penalty_control(sec4_neural.neural_specs(ctx.seed, "full" if ctx.full else "quick")[0]))
        controls += tolc.threshold_controls("neural penalty lowers the cost (NEURAL_FEASIBLE_ATOL)",
                                            lambda d: penalty_lowers_cost(0.5, 0.5 - d), NEURAL_FEASIBLE_ATOL)
        findings = nf + findings
        evidence = nev + evidence
        figures = figures + nfig
    return CheckResult(
        verdict=None,
        computed={"findings": {f.name: f.verdict.value for f in findings}, "stats": stats, "neural": neural_out},
        stated={"paper": "OPD converges to feasible policies; PD-based methods degrade (Figs. 2-3, LLM experiment)"},
        comparison=">=", tolerance=SEC4_FEASIBLE_ATOL,
        tolerance_reason="feasible = exact c(pi_T) >= -tol (one standard error of the sampled estimate)",
        evidence=evidence, findings=findings, controls=controls, judged=len(runs), figures=figures,
        instances=[{"name": "random_instance", **INSTANCE, "sampler_seeds": sampler_seeds[:5] + ["..."]}],
        conventions=["two SYNTHETIC instance families, neither the §4 7B experiment: a small transformer LM (float32 JAX) "
                     "aligned by PPO-Lagrangian, and tabular PPO-clip on a bandit; a result against the paper reads "
                     "INCONCLUSIVE, a result for it means 'reproduced on this synthetic family' only",
                     f"primal: PPO-clip 0.2, 4 epochs, lr {PRIMAL_LR:g}, N = {N_RESPONSES} responses per prompt per step; "
                     "simultaneous ordering; lam_0 = 1", "§4 rule: g_t = c_hat_t applied to log lam; g_{-1} = g_0"],
        )


def _neural(ctx: CheckContext, opd_optimistic: bool, n_seeds: int | None, T: int | None):
    """The neural family: paired seeds per (cost scale, rule); premise, then one finding per §4 statement."""
    profile = "full" if ctx.full else "quick"
    prof = sec4_neural.PROFILES[profile]
    specs = sec4_neural.neural_specs(ctx.seed, profile, n_seeds, T, opd_optimistic)
    from opdcheck.kernels.neural.study import run_neural_seed
    runs = ctx.map(run_neural_seed, specs, stream="sec-4-neural", label="sec-4-stability neural seeds")
    scales = list(prof["scales"])
    hot = max(scales)
    cell = {(s, r): sorted([x for x in runs if x["scale"] == s and x["rule"] == r], key=lambda x: x["pair_seed"])
            for s in scales for r in sec4_neural.RULES}
    limit = runs[0]["limit"]
    n = len(cell[(hot, "sec4-pd")])

    def feas(x):
        return (not x["diverged"]) and neural_cost_feasible(x["cost_T"], x["limit"])

    def col(s, r, k):
        return [x[k] for x in cell[(s, r)]]

    table = []
    for s in scales:
        for r in sec4_neural.RULES:
            xs = cell[(s, r)]
            table.append({"family": "neural LM", "setting": f"cost x{s:g}", "rule": LABEL[r], "seeds": len(xs),
                          "feasible_seeds": int(sum(feas(x) for x in xs)),
                          "log10_lam_spread_median": float(np.median(col(s, r, "log10_lam_spread"))),
                          "cost_median": float(np.median(col(s, r, "cost_T"))), "limit": limit,
                          "reward_median": float(np.median(col(s, r, "reward_T"))),
                          "kl_to_ref_median": float(np.median(col(s, r, "kl_T")))})
    pd_spread = float(np.median(col(hot, "sec4-pd", "log10_lam_spread")))
    premise = neural_oscillates(pd_spread)
    size = sec4_neural.PROFILES[profile]["model"]
    what = (f"{n} paired seeds, a {size['n_layers']}-layer width-{size['d_model']} transformer LM (vocabulary "
            f"{size['vocab']}, length {size['length']}), cost x{hot:g}")
    findings = [Finding(
        name="neural premise: plain PD oscillates at the aggressive setting",
        claim="§4: dual step 0.5 on log lambda places plain PD in an unstable regime (neural LM, largest cost scale)",
        verdict=Verdict.CONFIRMED if premise else Verdict.INCONCLUSIVE,
        computed={"plain_pd_log10_lam_spread_median": pd_spread}, stated=f"> {NEURAL_OSCILLATION_DECADES:g} decades",
        comparison=">", judged=n, statement="sec4-aggressive", reading="synthetic",
        sentence=(f"{what}: plain PD's log10 lambda spans a median {pd_spread:.2f} decades over the last quarter "
                  + ("(it oscillates: the comparison below is in the paper's regime)." if premise else
                     f"(<= {NEURAL_OSCILLATION_DECADES:g}: not the paper's unstable regime, so the neural comparison "
                     "below decides nothing)."))),
    ]
    o = cell[(hot, "sec4-opd")]

    def decide(name, claim, statement, stats_by, good, sentence):
        ok = premise and good
        findings.append(Finding(name=name, claim=claim, statement=statement, reading="synthetic",
                                verdict=Verdict.CONFIRMED if ok else Verdict.INCONCLUSIVE,
                                computed=stats_by, stated=claim, comparison=">=", judged=n if premise else 0,
                                sentence=sentence + ("" if ok else (" -- not reproduced on this synthetic LM" if premise
                                                                    else " -- premise failed")) + "."))

    feas_st, spread_st, rew_st = {}, {}, {}
    for other in ("sec4-pd", "safe-rlhf"):
        b = cell[(hot, other)]
        viol = sec4_neural.paired([max(0.0, x["cost_T"] - x["limit"]) for x in o],
                                  [max(0.0, x["cost_T"] - x["limit"]) for x in b])
        feas_st[other] = {"mcnemar": sec4_neural.mcnemar([feas(x) for x in o], [feas(x) for x in b]),
                          "violation_paired": viol, "opd_feasible": int(sum(map(feas, o))),
                          "other_feasible": int(sum(map(feas, b)))}
        spread_st[other] = sec4_neural.paired([x["log10_lam_spread"] for x in o], [x["log10_lam_spread"] for x in b])
        rew_st[other] = {"reward": sec4_neural.paired([x["reward_T"] for x in o], [x["reward_T"] for x in b]),
                         "kl": sec4_neural.paired([x["kl_T"] for x in o], [x["kl_T"] for x in b])}
    f_pd = feas_st["sec4-pd"]
    decide("neural: OPD rule ends feasible where plain PD does not",
           "OPD converges to policies that satisfy the safety constraint while PD-based methods degrade", "fig-2",
           feas_st, f_pd["opd_feasible"] > f_pd["other_feasible"] and f_pd["violation_paired"]["median_diff"] <= 0
           and significant(min(f_pd["mcnemar"]["p"], f_pd["violation_paired"]["p"])),
           f"{what}: feasible at the last iterate (cost <= d + {NEURAL_FEASIBLE_ATOL:g}, d = {limit:.3f}): OPD rule "
           f"{f_pd['opd_feasible']}/{n}, plain PD {f_pd['other_feasible']}/{n} (McNemar p = {f_pd['mcnemar']['p']:.3g}), "
           f"Safe-RLHF {feas_st['safe-rlhf']['other_feasible']}/{n}; paired violation OPD - PD median "
           f"{f_pd['violation_paired']['median_diff']:+.3g} (Wilcoxon p = {f_pd['violation_paired']['p']:.3g}, "
           f"rank-biserial {f_pd['violation_paired']['effect']:+.2f})")
    sp = spread_st["sec4-pd"]
    decide("neural: OPD rule stabilises the multiplier",
           "the 2 g_t - g_{t-1} rule keeps lambda stable where plain PD oscillates", "sec4-dual-rule", spread_st,
           sp["median_diff"] < 0 and significant(sp["p"]),
           f"{what}: log10 lambda spread over the last quarter, paired OPD - PD median {sp['median_diff']:+.2f} decades "
           f"(Wilcoxon p = {sp['p']:.3g}, rank-biserial {sp['effect']:+.2f}); medians OPD "
           f"{np.median(col(hot, 'sec4-opd', 'log10_lam_spread')):.2f}, PD {pd_spread:.2f}, Safe-RLHF "
           f"{np.median(col(hot, 'safe-rlhf', 'log10_lam_spread')):.2f}")
    rw = rew_st["sec4-pd"]
    decide("neural: OPD rule competitive in reward",
           "OPD stays competitive in reward (within the margin of plain PD)", "fig-2", rew_st,
           reward_competitive(rw["reward"]["median_diff"]),
           f"{what}: paired reward OPD - PD median {rw['reward']['median_diff']:+.3f} (margin -{NEURAL_REWARD_MARGIN:g}; "
           f"Wilcoxon p = {rw['reward']['p']:.3g}, rank-biserial {rw['reward']['effect']:+.2f}), OPD - Safe-RLHF "
           f"{rew_st['safe-rlhf']['reward']['median_diff']:+.3f}; KL to the reference OPD - PD median "
           f"{rw['kl']['median_diff']:+.3f} (p = {rw['kl']['p']:.3g})")
    figs = _neural_figures(ctx, cell, scales, limit)
    computed = {"table": table, "premise_spread": pd_spread, "feasible": feas_st, "spread": spread_st, "reward": rew_st,
                "profile": {k: (list(v) if isinstance(v, tuple) else v) for k, v in prof.items()}}
    return findings, table, figs, computed


def _neural_figures(ctx: CheckContext, cell: dict, scales: list, limit: float) -> list[str]:
    colors = {"sec4-opd": "tab:red", "sec4-pd": "tab:blue", "safe-rlhf": "tab:green"}
    fig, axes = plt.subplots(2, len(scales), figsize=(4.0 * len(scales), 6.0), dpi=100, squeeze=False)
    for j, s in enumerate(scales):
        for r in sec4_neural.RULES:
            for k, x in enumerate(cell[(s, r)]):
                lab = LABEL[r] if k == 0 else None
                axes[0, j].plot(np.log10(np.maximum(x["lam"], 1e-300)), color=colors[r], lw=0.8, alpha=0.7, label=lab)
                axes[1, j].plot(x["cost"], color=colors[r], lw=0.8, alpha=0.7, label=lab)
        axes[1, j].axhline(limit, color="k", ls=":", lw=0.8)
        axes[0, j].set_title(f"cost x{s:g}", fontsize=9)
        axes[1, j].set_xlabel("PPO iteration")
    axes[0, 0].set_ylabel("log10 lambda")
    axes[1, 0].set_ylabel("batch cost (limit dotted)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("sec-4 neural study: PPO-Lagrangian on a small transformer LM, dual step 0.5", fontsize=9)
    p1, rel1 = ctx.figure_path("sec-4-neural-training.png")
    save_figure(fig, p1)
    fig, axes = plt.subplots(1, len(scales), figsize=(4.0 * len(scales), 3.4), dpi=100, squeeze=False)
    for j, s in enumerate(scales):
        for r in sec4_neural.RULES:
            xs = cell[(s, r)]
            axes[0, j].scatter([x["cost_T"] for x in xs], [x["reward_T"] for x in xs], color=colors[r], s=14, label=LABEL[r])
        axes[0, j].axvline(limit + NEURAL_FEASIBLE_ATOL, color="k", ls=":", lw=0.8)
        axes[0, j].set_title(f"cost x{s:g}", fontsize=9)
        axes[0, j].set_xlabel("final cost")
    axes[0, 0].set_ylabel("final reward")
    axes[0, 0].legend(fontsize=7)
    p2, rel2 = ctx.figure_path("sec-4-neural-cost-reward.png")
    save_figure(fig, p2)
    return [rel1, rel2]


def _figures(ctx: CheckContext, by: dict, exact: dict, T: int) -> list[str]:
    colors = {"sec4-opd": "tab:red", "sec4-pd": "tab:blue", "safe-rlhf": "tab:green"}
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), dpi=100)
    for rule, rs in by.items():
        L = np.array([r["lam"] for r in rs if r["lam"].size == T + 1])
        if L.size:
            t = np.arange(L.shape[1])
            axes[0].plot(t, np.median(L, axis=0), color=colors[rule], lw=1.3, label=LABEL[rule] + " (median)")
            axes[0].fill_between(t, np.quantile(L, 0.1, axis=0), np.quantile(L, 0.9, axis=0), color=colors[rule], alpha=0.15)
        cT = [r["c_T"] for r in rs if not r["diverged"]]
        axes[1].hist(cT, bins=15, alpha=0.5, color=colors[rule], label=LABEL[rule])
    axes[0].axhline(list(by.values())[0][0]["lam_star"], color="k", ls=":", lw=0.8)
    axes[0].set_xlabel(r"$t$")
    axes[0].set_ylabel(r"$\lambda$ (10-90% band over seeds)")
    axes[0].legend(fontsize=7)
    axes[1].axvline(-SEC4_FEASIBLE_ATOL, color="k", ls=":", lw=0.8)
    axes[1].set_xlabel(r"exact $c(\pi_T)$ ($\geq 0$: feasible)")
    axes[1].legend(fontsize=7)
    fig.suptitle("sec-4 synthetic analogue: sampled PPO-clip on a bandit, dual step 0.5 on log lambda", fontsize=9)
    p, rel = ctx.figure_path("sec-4-stability.png")
    save_figure(fig, p)
    return [rel]


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM,
                expected="synthetic analogue only: report the measured distributions", order=320)
def run(ctx: CheckContext) -> CheckResult:
    """Synthetic analogue of §4: the §4 dual rules on a sampled PPO-clip bandit over >= 20 paired seeds."""
    return evaluate(ctx)
