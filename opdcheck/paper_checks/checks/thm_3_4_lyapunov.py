"""Check ``thm-3.4-lyapunov``: the proof's potential contracts, ``Phi_{t+1} <= rho Phi_t``, at every step.

Problem: ``min_{lam >= 0} max_pi L(pi, lam)``, ``beta > 0``.
Update: OPD (Alg. 2) at ``eta_th = eta_lam = 3 sqrt(h) R_max``, both dual conventions.
Claim (proof of Thm 3.4, the displays defining Phi_{t+1} and rho, and "eq. (45) can be written as
Phi_{t+1} <= rho Phi_t"): with ``C1 = C2 = C = sqrt(h) R_max``, ``delta = theta = 3/4``,

    Phi_t = (eta_th+beta) E KL(pi*||pi_hat_t) + (eta_th+beta-C) E KL(pi_hat_t||pi_{t-1})
          + a3 ||lam* - lam_hat_t||^2 + a4 ||lam_hat_t - lam_{t-1}||^2  satisfies  Phi_{t+1} <= rho Phi_t, t >= 1

(``a3, a4, rho`` in ``kernels/potential.py``). Judged by :func:`opdcheck.kernels.trajectory.judge_lyapunov`
along measured trajectories; REFUTED (with the worst instance saved) if any step violates it on a non-degenerate instance, and only
with an independent witness: the violating instance cheapest to replay is re-run at 50 digits
(``opdcheck.numerics.replay``) up to its first violating step, with Phi's multipliers and rho from the sympy
constants; the replay must confirm ``Phi_(t+1) > rho Phi_t`` and agree with the code's ratio.
Controls: Numba vs numpy on the first instance, numeric vs sympy constants, and the all-slack toy
(``thm_3_4.all_slack_toy``) where the contraction holds by convexity.

Example
-------
>>> from opdcheck.instances import paper_toy
>>> c = lyapunov_case(paper_toy(1.0), T=5)  # the toy at beta = 1: the first step already expands Phi
>>> c["ok"], round(c["worst_ratio"], 4), c["worst_t"]
(False, 1.239, 1)
"""
from __future__ import annotations


import numpy as np

from opdcheck.instances import save_problem
from opdcheck.kernels.opd import T0_CONVENTION, thm34_step_sizes
from opdcheck.kernels.potential import thm34_constants
from opdcheck.kernels.trajectory import Trajectory, judge_lyapunov, lyapunov_floor, lyapunov_violations
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import register_check
from opdcheck.numerics.replay import replay_lyapunov_violation, replay_work
from opdcheck.paper_checks.result import CheckResult, Control, Verdict
from opdcheck.paper_checks.studies.printed_controls import prox_step_derivation_control
from opdcheck.paper_checks.studies import tolerance_controls as tolc  # the gates' negative controls at their own scale
from opdcheck.paper_checks.studies.thm34 import (CONVENTIONS, all_slack_toy, beta_zero_instance_result, check_instance_specs,
                                          constants_control, default_runner, numba_numpy_control,
                                          scale_case, sweep_instances, witness_sentence, witness_summary)
from opdcheck.problem import Problem
from opdcheck.tolerances import BOUND_RTOL, CONTROL_STEPS, RUN_STOP_RTOL

#: the random stream of the full profile's scale instance (named as in the first layout, so its seed is unchanged)
SCALE_STREAM = "opdcheck.paper_checks.thm_3_4_lyapunov:lyapunov_case"

__all__ = ["lyapunov_case", "run"]


def lyapunov_case(problem: Problem, *, dual_step: str = "prox", T: int = 600, saddle=None, runner=None,
                  rho: float | None = None) -> dict:
    """One instance: ``Phi_t`` along OPD at Thm 3.4's steps, judged against ``rho`` (default: the
    proof's general rho, equal to eq. (46) here). ``rho`` is a parameter so a false (too small)
    contraction factor can be fed in as a negative control.

    Returns ``{"traj", "consts", "rho", "phi", "ok", "worst_ratio", "worst_t", "n_violations",
    "n_judged", "step0_ratio"}`` (``step0_ratio = Phi_1 / (rho Phi_0)``, the t = 0 step that depends on
    opdcheck's t = 0 convention; reported, not judged).
    """
    if saddle is None:
        from opdcheck.numerics.saddle import solve_saddle

        saddle = solve_saddle(problem)
    runner = runner or default_runner()
    eta_th, eta_lam = thm34_step_sizes(problem)
    traj: Trajectory = runner(problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, saddle=saddle,
                              stop_below=RUN_STOP_RTOL)
    consts = thm34_constants(problem, eta_th, eta_lam)
    rho = consts["rho"] if rho is None else float(rho)
    phi = traj.potential
    floor = lyapunov_floor(phi)
    if len(phi) < 3:
        return {"traj": traj, "consts": consts, "rho": rho, "phi": phi, "ok": True, "worst_ratio": 0.0,
                "worst_t": 0, "n_violations": 0, "n_judged": 0, "step0_ratio": float("nan"), "first_t": None,
                "first_ratio": None}
    ok, worst, k = judge_lyapunov(phi, rho, BOUND_RTOL, atol=floor, start=1)
    judged = phi[1:-1] > floor
    viol = np.flatnonzero(judged & lyapunov_violations(phi, rho, BOUND_RTOL, atol=floor, start=1))
    n_viol = int(viol.size)
    step0 = float(phi[1] / (rho * phi[0])) if phi[0] > 0 else float("nan")
    first_t = int(viol[0]) + 1 if viol.size else None  # index into phi: the step t -> t + 1 that fails
    return {"traj": traj, "consts": consts, "rho": rho, "phi": phi, "ok": ok and not traj.diverged,
            "worst_ratio": worst, "worst_t": k, "n_violations": n_viol, "n_judged": int(judged.sum()),
            "step0_ratio": step0, "first_t": first_t,
            "first_ratio": float(phi[first_t + 1] / (rho * phi[first_t])) if first_t is not None else None}


@register_check(
    id="thm-3.4-lyapunov",
    paper_ref="proof of Thm 3.4 (App. C): definition of Phi_{t+1}, rho, and Phi_{t+1} <= rho Phi_t",
    claim="Phi_{t+1} <= rho Phi_t at every step t >= 1 along OPD at eta_th = eta_lam = 3 sqrt(h) R_max",
    expected="to be audited along trajectories",
    order=21,
    accepts_instance=True,
)
def run(ctx: CheckContext) -> CheckResult:
    """Audit the one-step contraction of the proof's potential along measured OPD trajectories."""

    outside = beta_zero_instance_result(ctx, "thm-3.4-lyapunov", "proof of Thm 3.4 (App. C)",
                                        "Phi_{t+1} <= rho Phi_t along OPD")
    if outside is not None:
        return outside
    T = 2000 if ctx.full else 1000
    specs = check_instance_specs(ctx, "thm-3.4-lyapunov")
    results = sweep_instances(ctx, "thm-3.4-lyapunov", specs, lyapunov_case, T=T)
    rows = []
    for p, cases in results:
        degen = cases["prox"]["degenerate"]
        row = {"instance": p.name, "beta": p.beta,  # the whole name: a row must be regenerable from it
               "rho": round(cases["prox"]["rho"], 4)}
        for conv, c in cases.items():
            row[f"{conv}: max Phi_(t+1)/(rho Phi_t)"] = c["worst_ratio"]
            row[f"{conv}: at t"] = c["worst_t"]
            row[f"{conv}: violating steps"] = f"{c['n_violations']}/{c['n_judged']}"
        row["prox: t=0 step ratio"] = round(cases["prox"]["step0_ratio"], 4)
        if degen:
            row["instance"] += " (degenerate, not judged)"
        rows.append(row)

    # degenerate instances (lam* possibly not unique) are reported, never judged
    counted = [(p, c) for p, c in results if not c["prox"]["degenerate"]]
    n_bad = {conv: sum(not c[conv]["ok"] for _, c in counted) for conv in CONVENTIONS}
    pool = counted or results  # for the worst-case columns only
    worst = {conv: max(pool, key=lambda pc: pc[1][conv]["worst_ratio"]) for conv in CONVENTIONS}
    w_prox = worst["prox"][1]["prox"]
    verdict = Verdict.CONFIRMED if n_bad["prox"] == 0 else Verdict.REFUTED
    counterexample = None
    witness = None
    witness_note = ""
    if verdict == Verdict.REFUTED:
        path, counterexample = ctx.counterexample_path("thm-3.4-lyapunov-worst.npz")
        save_problem(worst["prox"][0], path)
        # the witness: the violating instance cheapest to replay up to its first violating step
        bad = [(p, c) for p, c in counted if not c["prox"]["ok"] and c["prox"]["first_t"] is not None]
        if bad:
            p_ce, c_ce = min(bad, key=lambda pc: (replay_work(pc[0], pc[1]["prox"]["first_t"] + 1), -pc[1]["prox"]["worst_ratio"]))
            e_th, e_lam = thm34_step_sizes(p_ce)
            cp = c_ce["prox"]
            witness = replay_lyapunov_violation(p_ce, cp["lam_star"], dual_step="prox", t=cp["first_t"], eta_th=e_th,
                                                eta_lam=e_lam, code_ratio=cp["first_ratio"], code_rho=cp["rho"],
                                                rtol=BOUND_RTOL)
            path_w, rel_w = ctx.counterexample_path("thm-3.4-lyapunov-replayed.npz")
            save_problem(p_ce, path_w)
            witness_note = f" Replayed counterexample saved as `{rel_w}`. " + witness_sentence(witness)
        else:  # a failure without a judged violating step (e.g. a diverged run): nothing to replay
            witness = None  # nothing to replay: the verdict cannot be REFUTED
            witness_note = " No violating step to replay (diverged run?), so no independent witness."
    scale, scale_note = scale_case(ctx, lyapunov_case, SCALE_STREAM)
    if scale is not None:  # full profile only; reported, not judged
        rows.append({"instance": "scale: (1e4, 1e3, 4), run_opd_fused (not judged)",
                     "prox: max Phi_(t+1)/(rho Phi_t)": scale["worst_ratio"],
                     "prox: violating steps": f"{scale['n_violations']}/{scale['n_judged']}"})
    controls = [numba_numpy_control(results[0][0], results[0][1]["prox"], T=T, stop_below=RUN_STOP_RTOL),
                constants_control(results[0][0], results[0][1]["prox"]), prox_step_derivation_control()]
    controls += tolc.lyapunov_gate_controls(judge_lyapunov) + [tolc.replay_projection_control()] + tolc.replay_agree_controls()
    controls += tolc.constants_crosscheck_controls()
    controls += tolc.lyapunov_floor_controls()
    c_pos = lyapunov_case(all_slack_toy(1.0), dual_step="prox", T=CONTROL_STEPS)
    controls.append(Control(name="all-slack toy, beta = 1 (lam* = 0: Phi_t = a1 KL_t contracts by convexity)",
                            kind="positive", passed=c_pos["ok"] and c_pos["n_judged"] > 0,
                            detail=(f"max Phi_(t+1)/(rho Phi_t) = {c_pos['worst_ratio']:.6g} over {c_pos['n_judged']} judged steps")))

    figures = []
    from opdcheck.paper_checks.figures import save_semilogy

    p_w, c_w = worst["prox"]
    ph = c_w["prox"]["phi"]
    t = np.arange(len(ph))
    abs_p, rel_p = ctx.figure_path("thm-3.4-lyapunov-worst.png")
    save_semilogy(abs_p, {r"$\Phi_t$ (prox)": (t, ph), r"$\rho^{t-1}\Phi_1$ (the proof's claim)": (t[1:], ph[1] * c_w["prox"]["rho"] ** (t[1:] - 1.0))},
                  title=f"Potential of the proof of Thm 3.4 on {p_w.name} (beta = {p_w.beta:g})", ylabel=r"$\Phi_t$",
                  styles={r"$\rho^{t-1}\Phi_1$ (the proof's claim)": "--"})
    figures.append(rel_p)

    summary = (f"Along OPD on {len(results)} instance(s) ({len(results) - len(counted)} degenerate, not judged) (T <= {T}), Phi_(t+1) <= rho Phi_t fails on "
               f"{n_bad['prox']} instance(s) with the prox dual step and {n_bad['gradient']} with the gradient step; "
               f"worst Phi_(t+1)/(rho Phi_t) = {w_prox['worst_ratio']:.4g} at t = {w_prox['worst_t']} on {p_w.name}.")
    details = (
        "The proof claims $\\Phi_{t+1}\\le\\rho\\Phi_t$ for every $t\\ge1$ (it drops the term "
        "$-(\\eta_\\theta-C_1)\\mathbb E\\,\\mathrm{KL}(\\pi_t\\|\\hat\\pi_t)$ and uses eq. (44), a lower bound of "
        "$\\|\\lambda_t-\\hat\\lambda_t\\|^2$ obtained from Lemma B.4). The table gives the largest measured "
        "$\\Phi_{t+1}/(\\rho\\Phi_t)$ per instance and how many judged steps violate the inequality. "
        "A value above 1 means the potential shrinks by less than the proof's factor at that step. "
        "Steps where $\\Phi_t < 10^{-12}\\Phi_1$ are not judged (float floor). The t = 0 step depends on "
        "opdcheck's t = 0 convention and is reported (last column), not judged."
    ) + witness_note + ("\n\n" + scale_note if scale_note else "")
    return CheckResult(
        verdict=verdict,
        computed={"worst Phi_(t+1)/(rho Phi_t), prox": w_prox["worst_ratio"],
                  "worst Phi_(t+1)/(rho Phi_t), gradient": worst["gradient"][1]["gradient"]["worst_ratio"],
                  "instances violating (prox)": n_bad["prox"], "instances violating (gradient)": n_bad["gradient"],
                  "instances": len(results), "judged (non-degenerate)": len(counted),
                  **({"independent replay (counterexample)": witness_summary(witness)} if witness else {})},
        stated="Phi_(t+1) / (rho Phi_t) <= 1 at every step t >= 1",
        comparison="<=", tolerance=BOUND_RTOL,
        tolerance_reason="relative rounding slack; plus steps below 1e-12 Phi_1 not judged (LYAPUNOV_PHI_FLOOR_RTOL)",
        summary=summary, evidence=rows[:60], details=details,
        instances=[{"name": p.name, "seed": p.meta.get("seed"), "X": p.X, "n": p.n, "h": p.h, "beta": p.beta}
                   for p, _ in results],
        conventions=[T0_CONVENTION, "lam_init = 0", "both dual conventions; verdict on prox (eqs. (5)/(7))",
                     "rho = the proof's general max of four ratios (equal to eq. (46) at these steps)"],
        figures=figures, counterexample=counterexample, judged=len(counted), witness=witness, controls=controls,
    )
