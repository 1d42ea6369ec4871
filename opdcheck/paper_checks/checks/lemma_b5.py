"""Check ``lemma-B.5``: Lemma B.5 / Remark B.6 — ``lam* > 0`` and ``||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min))``.

The paper (Lemma B.5, citing Ding et al. 2025, Lemma 3(b)) states: under Assumption 3.1,
``lam* > 0`` and ``||lam*||_1 <= (1/xi) E_x[(E_{pi*} r - beta KL(pi*||pi_ref)) - (E_{pi_bar} r -
beta KL(pi*||pi_ref))]`` (sic: KL(pi*) in both terms, so the KL terms cancel as printed; the
standard bound has KL(pi_bar) in the second). Remark B.6 turns it into
``||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min))``.

Findings (each with its own verdict; the summary is generated from them): the bound of Remark B.6;
"lam* > 0"; Lemma B.5's intermediate bound as printed. A REFUTED finding carries an independent witness:
the saddle point recomputed at 50 digits by projected Newton on the dual (``opdcheck.numerics.replay``),
certified by its KKT residual, with ``lam*_j = 0`` and the constraint slack (``c_j(pi*) > 0``), compared
with the float lam* (``REPLAY_AGREE_RTOL``). Positive control: the paper's toy (every constraint active),
where lam* > 0 and the bound hold.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from opdcheck.instances import paper_toy, random_instance, save_problem
from opdcheck.numerics.dual import primal_objective
from opdcheck.numerics.lp import slater_point
from opdcheck.logspace import kl_rows
from opdcheck.numerics.kkt import kkt_residuals, scaled_residuals
from opdcheck.numerics.saddle import solve_saddle
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import register_check
from opdcheck.numerics.replay import replay_l1_bound, replay_slater_margins, replay_zero_multiplier
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict, summary_from_findings
from opdcheck.paper_checks.studies.printed_controls import printed_b6_control
from opdcheck.problem import Problem
from opdcheck.paper_checks.studies import tolerance_controls as tolc
from opdcheck.tolerances import BOUND_RTOL, LAMBDA_ZERO_ATOL, SADDLE_RESULT_RTOL

CLAIM = ("Lemma B.5 / Remark B.6: under Slater (xi > 0), lam* > 0 and "
         "||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min)).")


def remark_b6_bound(problem: Problem, xi: float) -> float:
    """The stated side of Remark B.6: ``(2/xi)(R_max + beta log(1/p_min))``."""
    return 2.0 / xi * (problem.R_max + problem.beta * np.log(1.0 / problem.p_min))


def false_bound(problem: Problem, xi: float) -> float:
    """A deliberately false bound, 20x too small: ``(1/(10 xi))(R_max + beta log(1/p_min))``. Negative control."""
    return 1.0 / (10.0 * xi) * (problem.R_max + problem.beta * np.log(1.0 / problem.p_min))


def judge_lemma_b5(problem: Problem, bound: Callable[[Problem, float], float] = remark_b6_bound) -> dict:
    """Measure ``||lam*||_1`` against ``bound(problem, xi)`` and test ``lam* > 0`` on one instance.

    Also evaluates Lemma B.5's intermediate bound as printed (KL(pi*) in both terms) and as corrected
    (KL(pi_bar) in the second term), with pi_bar the LP Slater point.
    """
    xi, pi_bar = slater_point(problem)
    if xi <= 0:
        return {"xi": xi, "valid": False}
    sp = solve_saddle(problem)
    lam = np.asarray(sp.lam)
    own = saddle_is_own(problem, sp.pi, lam)
    l1 = float(np.sum(lam))
    b = float(bound(problem, xi))
    r_star = float(np.einsum("x,xn,xn->", problem.rho, sp.pi, problem.r))
    r_bar = float(np.einsum("x,xn,xn->", problem.rho, pi_bar, problem.r))
    b5_printed = (r_star - r_bar) / xi
    b5_corrected = (primal_objective(problem, sp.pi) - primal_objective(problem, pi_bar)) / xi
    slack = BOUND_RTOL * max(1.0, b)
    zero = np.flatnonzero(counts_as_zero(lam))
    return {
        "xi": xi, "valid": True, "lam_l1": l1, "bound": b, "ratio": l1 / b, "bound_holds": bool(l1 <= b + slack),
        "lam_min": float(lam.min()), "zero_components": zero.tolist(), "positive_holds": bool(zero.size == 0),
        "nonzero_holds": not bool(counts_as_zero(l1)),
        "b5_printed": b5_printed, "b5_printed_holds": bool(l1 <= b5_printed + BOUND_RTOL * max(1.0, abs(b5_printed))),
        "b5_corrected": b5_corrected,
        "b5_corrected_holds": bool(l1 <= b5_corrected + BOUND_RTOL * max(1.0, abs(b5_corrected))),
        "kl_pi_bar": float(np.dot(problem.rho, kl_rows(pi_bar, problem.pi_ref))), "lam": lam.tolist(),
        "pi_bar": pi_bar, "saddle_own_kkt": own,
    }


def counts_as_zero(lam: np.ndarray | float) -> np.ndarray:
    """Which multipliers count as 0 ('lam* > 0' fails there): at most LAMBDA_ZERO_ATOL (dual Newton returns an
    exact 0.0 for an inactive constraint)."""
    return np.asarray(lam) <= LAMBDA_ZERO_ATOL


def counts_as_negative(lam: np.ndarray | float) -> np.ndarray:
    """Which multipliers count as negative ('lam* >= 0' fails there): below -LAMBDA_ZERO_ATOL."""
    return np.asarray(lam) < -LAMBDA_ZERO_ATOL


def saddle_is_own(problem: Problem, pi: np.ndarray, lam: np.ndarray) -> dict:
    """Is ``(pi, lam)`` a saddle point of *this* instance? Its scaled KKT residuals (feasibility,
    complementarity, simplex) and the stationarity ``||pi - pi_lam||_inf`` recomputed from the instance's own
    arrays, each at most SADDLE_RESULT_RTOL: a saddle point taken from another instance (a memo keyed too
    coarsely) fails it."""
    res = dict(scaled_residuals(problem, pi, lam))
    res["stationarity"] = float(kkt_residuals(problem, pi, lam)["stationarity"])
    return {"residuals": res, "ok": bool(all(v <= SADDLE_RESULT_RTOL for v in res.values()))}


def _instances(ctx: CheckContext) -> list[tuple[str, Problem]]:
    if ctx.instance is not None:
        return [("user", ctx.instance)]
    out = [("toy", paper_toy())]
    specs = [(3, 4, 2, 0.1), (10, 6, 3, 0.05), (5, 8, 4, 1.0), (20, 5, 8, 0.02), (2, 3, 1, 5.0)]
    if ctx.full:
        specs += [(50, 20, 8, 0.01), (100, 30, 4, 0.1), (1, 2, 1, 0.001), (30, 10, 6, 2.0), (8, 8, 8, 0.005)]
    out += [("random", random_instance(X, n, h, b, seed=ctx.seed + i)) for i, (X, n, h, b) in enumerate(specs)]
    # an instance with a constraint slack for every policy: lam*_h = 0 exactly (tests "lam* > 0")
    out.append(("inactive", random_instance(4, 5, 3, 0.1, seed=ctx.seed, inactive=1)))
    # the toy with its threshold lowered by 1: every policy is strictly feasible, pi* = pi_0, lam* = 0 (the
    # weakest reading of "lam* > 0", lam* != 0, fails too)
    toy = paper_toy()
    out.append(("all-slack", Problem(rho=toy.rho, pi_ref=toy.pi_ref, R_soft=toy.R_soft, w=toy.w,
                                     R_hard=toy.R_hard + 1.0, beta=toy.beta, name="paper-toy-all-slack",
                                     meta={"source": "paper toy with the hard threshold lowered by 1"})))
    return out


@register_check(id="lemma-B.5", paper_ref="Lemma B.5, Remark B.6", claim=CLAIM,
                expected="the bound should hold; 'lam* > 0' fails with an inactive constraint", order=40,
                accepts_instance=True)
def run(ctx: CheckContext) -> CheckResult:
    """Lemma B.5 / Remark B.6: positivity of lam* and the bound ||lam*||_1 <= (2/xi)(R_max + beta log 1/p_min).

    xi is computed by LP (never assumed); lam* by the exact saddle-point route. The bound part and the
    positivity part are judged separately; an instance with a constraint that no policy can violate
    has lam*_j = 0 exactly, which contradicts "lam* > 0" as stated.
    """
    evidence, instances = [], []
    results = []
    for kind, p in _instances(ctx):
        r = judge_lemma_b5(p)
        if not r["valid"]:
            evidence.append({"instance": p.name, "kind": kind, "xi": r["xi"], "note": "Slater fails: lemma not applicable"})
            continue
        results.append((kind, p, r))
        instances.append({"name": p.name, "seed": p.meta.get("seed"), "kind": kind, "X": p.X, "n": p.n, "h": p.h,
                          "beta": p.beta})
        evidence.append({"instance": p.name, "kind": kind, "xi": r["xi"], "||lam*||_1": r["lam_l1"],
                         "bound (2/xi)(R_max+beta log 1/p_min)": r["bound"], "ratio": r["ratio"],
                         "bound_holds": r["bound_holds"], "min lam*_j": r["lam_min"],
                         "lam*>0 holds": r["positive_holds"], "lam*!=0 holds": r["nonzero_holds"],
                         "B.5 printed": r["b5_printed"],
                         "B.5 printed holds": r["b5_printed_holds"], "B.5 corrected": r["b5_corrected"],
                         "B.5 corrected holds": r["b5_corrected_holds"]})
    if not results:
        return CheckResult(verdict=Verdict.INCONCLUSIVE, computed="no instance satisfies Slater",
                           stated="(2/xi)(R_max + beta log(1/p_min))", comparison="<=", evidence=evidence,
                           summary="Slater's condition fails on every instance; the lemma does not apply.",
                           )
    bound_ok = all(r["bound_holds"] for _, _, r in results)
    bound_fail = [(k, p, r) for k, p, r in results if not r["bound_holds"]]
    pos_fail = [(k, p, r) for k, p, r in results if not r["positive_holds"]]
    printed_fail = [(k, p, r) for k, p, r in results if not r["b5_printed_holds"]]
    worst_k, worst_p, worst_r = max(results, key=lambda t: t[2]["ratio"])
    counterexample = None
    n = len(results)

    # finding 1: the bound of Remark B.6
    if bound_fail:
        k, p, r = bound_fail[0]
        path, counterexample = ctx.counterexample_path("lemma-B.5-bound.npz")
        save_problem(p, path)
        w = replay_l1_bound(p, r["lam"], r["bound"], xi=r["xi"], pi_bar=r["pi_bar"])
        f_bound = Finding(name="bound (Remark B.6)", claim="||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min))",
                          verdict=Verdict.REFUTED, computed=r["lam_l1"], stated=r["bound"], comparison="<=", judged=n,
                          witness=w,
                          sentence=(f"violated on {p.name}: ||lam*||_1 = {r['lam_l1']:.6g} > {r['bound']:.6g} "
                                    f"(xi = {r['xi']:.3g}); replay: ||lam*||_1 = {w['||lam*||_1 (replay)']:.6g}."),
                          statement="remark-B.6", reading="charitable", severity="substantive")
    else:
        f_bound = Finding(name="bound (Remark B.6)", claim="||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min))",
                          verdict=Verdict.CONFIRMED, computed=worst_r["ratio"], stated=1.0, comparison="<=", judged=n,
                          # every instance's Slater margin replayed at the LP's own point: a control of the code
                          witness=replay_slater_margins([(p, r["xi"], r["pi_bar"]) for _, p, r in results]),
                          sentence=f"holds on all {n} instances (largest ||lam*||_1 / bound = {worst_r['ratio']:.3g} on {worst_p.name}).",
                          statement="remark-B.6", reading="charitable", severity="substantive")
    # finding 2: lam* > 0
    witness = None
    if pos_fail:
        k, p, r = next((t for t in pos_fail if t[0] == "inactive"), pos_fail[0])
        path, rel = ctx.counterexample_path("lemma-B.5-positivity.npz")
        save_problem(p, path)
        counterexample = counterexample or rel
        j = r["zero_components"][0]
        witness = replay_zero_multiplier(p, r["lam"], j, r["lam"])
        allzero = [t for t in results if not t[2]["nonzero_holds"]]
        f_pos = Finding(name="lam* > 0 (Lemma B.5)", claim="every component of lam* is > 0", verdict=Verdict.REFUTED,
                        computed={"instance": p.name, "zero components": r["zero_components"], "lam*": r["lam"]},
                        stated="lam*_j > 0 for all j", comparison=">", judged=n, witness=witness,
                        sentence=(f"false on {len(pos_fail)} of {n} instances; on {p.name} (xi = {r['xi']:.3g}, Slater holds) "
                                  f"lam*_j = 0 for j in {r['zero_components']}; the 50-digit replay has lam*_{j} = "
                                  f"{witness['lam*_j (replay)']:g} with c_{j}(pi*) = {witness['c_j(pi*) (replay, slack)']:.6g} > 0 "
                                  f"(slack, so complementary slackness forces lam*_{j} = 0), projected gradient "
                                  f"{witness['saddle projected gradient']:.2g}. lam* >= 0 is what holds."
                                  + (f" Even 'lam* != 0' fails on {allzero[0][1].name} (lam* = 0)." if allzero else "")),
                        statement="lemma-B.5-positivity", reading="literal", severity="misstatement")
    else:
        f_pos = Finding(name="lam* > 0 (Lemma B.5)", claim="every component of lam* is > 0", verdict=Verdict.CONFIRMED,
                        computed=min(r["lam_min"] for _, _, r in results), stated="> 0", comparison=">", judged=n,
                        sentence=f"every lam*_j > 0 on all {n} instances (smallest {min(r['lam_min'] for _, _, r in results):.3g}).",
                        statement="lemma-B.5-positivity", reading="literal", severity="misstatement")
    # finding 3: the intermediate bound as printed (reported; the corrected one is what Remark B.6 uses)
    f_b5 = Finding(name="intermediate bound of Lemma B.5 as printed", claim="||lam*||_1 <= (E r(pi*) - E r(pi_bar))/xi",
                   verdict=Verdict.INCONSISTENT if printed_fail else Verdict.CONFIRMED,
                   computed=[p.name for _, p, _ in printed_fail], stated="holds with the LP Slater point", judged=n,
                   sentence=(f"as printed (KL(pi*) in both terms) it fails on {len(printed_fail)} of {n} instance(s); with "
                             f"KL(pi_bar) in the second term it holds on {sum(r['b5_corrected_holds'] for _, _, r in results)} of {n}."
                             if printed_fail else f"holds on all {n} instances."),
                   statement="lemma-B.5-bound", reading="literal", severity="misstatement")
    # the repaired form "lam* >= 0" is what every proof that cites Lemma B.5 uses (the bound of Remark B.6 and
    # Thm 3.4's potential need only a nonnegative multiplier)
    neg = [t for t in results if counts_as_negative(t[2]["lam_min"])]
    f_nonneg = Finding(name="lam* >= 0 (the form the proofs use)", claim="every component of lam* is >= 0",
                       verdict=Verdict.CONFIRMED if not neg else Verdict.INCONCLUSIVE,
                       computed=min(r["lam_min"] for _, _, r in results), stated=">= 0", comparison=">=", judged=n,
                       sentence=(f"lam* >= 0 on all {n} instances (smallest component {min(r['lam_min'] for _, _, r in results):.3g})."
                                 if not neg else f"a negative multiplier was returned on {neg[0][1].name}: solver problem."),
                       statement="lemma-B.5-positivity", reading="charitable (lam* >= 0)", severity="substantive")
    findings = [f_pos, f_nonneg, f_bound, f_b5]
    figures = [_positivity_figure(ctx, p, r, j, witness)] if pos_fail else []
    # positive control: an instance with every constraint active (the toy: lam* = 1)
    r_toy = judge_lemma_b5(paper_toy())
    controls = [Control(name="paper toy (every constraint active): lam* > 0 and the bound hold", kind="positive",
                        passed=bool(r_toy.get("valid") and r_toy["positive_holds"] and r_toy["bound_holds"]),
                        detail=(f"lam* = {r_toy.get('lam')}, ||lam*||_1 / bound = {r_toy.get('ratio', float('nan')):.3g}")),
                printed_b6_control(remark_b6_bound, paper_toy(), 0.25)]
    # per instance: every saddle point judged is a KKT point of that instance (not of another one)
    foreign = [p.name for _, p, r in results if not r["saddle_own_kkt"]["ok"]]
    worst_kkt = max((max(r["saddle_own_kkt"]["residuals"].values()) for _, _, r in results), default=0.0)
    controls.append(Control(name="every saddle point used is a KKT point of its own instance", kind="positive",
                            passed=not foreign,
                            detail=(f"largest scaled KKT residual {worst_kkt:.2g} (<= {SADDLE_RESULT_RTOL:g}) on all {n} instances"
                                    if not foreign else f"not a KKT point of its instance: {', '.join(foreign[:3])}")))
    controls += tolc.saddle_certificate_controls() + tolc.saddle_certificate_controls(
        lambda p, pi, lam: saddle_is_own(p, pi, lam)["ok"], "own-instance KKT test")
    controls += tolc.slater_replay_controls(replay_slater_margins)
    controls += tolc.multiplier_zero_controls(counts_as_zero, counts_as_negative)
    controls += tolc.slater_gate_controls()
    verdict = None
    # the weight of the verdict, said plainly and generated from what was found
    if pos_fail:
        weight = (f"Weight: a misstatement, not a failure of the argument. 'lam* > 0' is false as written ({len(pos_fail)} "
                  f"of {n} instances have a zero multiplier for a slack constraint), but the proofs that cite Lemma B.5 use "
                  f"only lam* >= 0, which holds on all {n}; the bound of Remark B.6 "
                  + ("holds on all of them. " if bound_ok else f"fails on {len(bound_fail)}. "))
    else:
        weight = ""
    summary = weight + summary_from_findings(findings, controls)
    return CheckResult(
        verdict=verdict, findings=findings,
        controls=controls, judged=n, witness=witness,
        computed={"max_ratio": worst_r["ratio"], "max_ratio_instance": worst_p.name,
                  "bound_holds_everywhere": bound_ok,
                  "instances_with_zero_multiplier": [p.name for _, p, _ in pos_fail],
                  "instances_with_lam_star_zero": [p.name for _, p, r in results if not r["nonzero_holds"]],
                  "printed_B5_failures": [p.name for _, p, _ in printed_fail]},
        stated={"bound": "||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min))", "positivity": "lam* > 0"},
        comparison="<=", tolerance=BOUND_RTOL,
        tolerance_reason=("the bound is compared with relative slack BOUND_RTOL (rounding); lam*_j counts as 0 "
                          f"below {LAMBDA_ZERO_ATOL:g} (dual Newton returns exact 0.0 for inactive constraints)."),
        summary=summary, evidence=evidence,
        details=(r"Weak duality at the Slater point $\bar\pi$ (with $c_j(\bar\pi) \ge \xi$) gives "
                 r"$P^\star = D(\lambda^\star) \ge L(\bar\pi,\lambda^\star) \ge P(\bar\pi) + \xi\|\lambda^\star\|_1$, i.e. "
                 r"$\|\lambda^\star\|_1 \le (P^\star - P(\bar\pi))/\xi$ with $P(\pi) = E\langle\pi,r\rangle - "
                 r"\beta E\,\mathrm{KL}(\pi\|\pi_{ref})$ ('B.5 corrected'). The paper prints $\mathrm{KL}(\pi^\star)$ in both "
                 r"terms ('B.5 printed'), so its KL terms cancel. Remark B.6 follows from the corrected form since "
                 r"$|r| \le R_{max}$ and $\mathrm{KL}(\bar\pi\|\pi_{ref}) \le \log(1/p_{min})$. Complementary slackness "
                 r"forces $\lambda^\star_j = 0$ for a constraint slack at $\pi^\star$, so '$\lambda^\star > 0$' can hold "
                 r"only when every constraint is active; the instance 'inactive' has a constraint slack for every "
                 r"policy. $\xi$ is computed by LP (HiGHS), $R_{max}$ over soft and hard rewards."),
        instances=instances,
        conventions=["xi = max_pi min_j c_j(pi) by LP; pi_bar = the LP maximiser",
                     "R_max = max |R| over soft and hard objectives"],
        figures=figures, counterexample=counterexample, )


def _positivity_figure(ctx: CheckContext, p, r: dict, j: int, witness: dict) -> str:
    """The counterexample to "lam* > 0": each lam*_j against the claim's strict lower bound 0, the zero
    component marked, with its slack constraint value (complementary slackness forces lam*_j = 0)."""
    from opdcheck.paper_checks.figures import plt, save_figure

    lam = np.asarray(r["lam"], dtype=float)
    idx = np.arange(lam.size)
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    ax.axhline(0.0, color="0.3", lw=1.0, ls="--", label=r"claim: $\lambda^\star_j > 0$ (strictly above this line)")
    ax.vlines(idx, 0.0, lam, color="C0", lw=3)
    ax.plot(idx, lam, "o", color="C0", label=r"$\lambda^\star_j$ (exact saddle point)")
    zero = [k for k in r["zero_components"]]
    ax.plot(zero, lam[zero], "X", color="C3", ms=12, label=r"$\lambda^\star_j = 0$: the claim fails")
    ax.annotate(rf"$\lambda^\star_{j} = 0$, $c_{j}(\pi^\star) = {witness['c_j(pi*) (replay, slack)']:.3g} > 0$ (slack)",
                (j, 0.0), xytext=(0.55, 0.45), textcoords="axes fraction", arrowprops={"arrowstyle": "->", "color": "C3"},
                fontsize=9, ha="center", bbox={"boxstyle": "round", "fc": "white", "ec": "C3"})
    ax.set_xticks(idx, [f"j = {k}" for k in idx])
    ax.set_ylabel(r"$\lambda^\star_j$")
    top = max(float(lam.max()), 1e-3)
    ax.set_ylim(-0.15 * top, 1.6 * top)
    ax.set_title(f"Lemma B.5 counterexample: {p.name} ($\\beta$ = {p.beta:g})", fontsize=10, wrap=True)
    ax.legend(fontsize=8, loc="upper right")
    path, rel = ctx.figure_path("lemma-B.5-positivity.png")
    save_figure(fig, path)
    return rel
