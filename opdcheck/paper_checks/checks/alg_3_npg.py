"""Check ``alg-3-npg``: the natural-gradient step of Algorithm 3 (eqs. (8)-(11), Sec. 3.2.1).

* The display of Sec. 3.2.1 (the issue's "eq. (72)", a block number of the HTML parse, not an
  equation number): ``E KL(pi_theta_t || pi_theta_hat_t) ≈ 1/2 dtheta^T F(theta_hat_t) dtheta`` -- by
  finite differences (relative error O(s), shrinking with s) on tabular, log-linear (rank-deficient F)
  and custom classes, and symbolically (sympy Hessian, tabular n = 3).
* ``F^+ grad L`` by the eigen pseudo-inverse equals the least-squares advantage fit on the score
  (compatible function approximation), including a rank-deficient F.
* Gradients only at ``theta_hat_t`` (asymmetric optimism, Sec. 3.2.1): the recorded linearisation points
  of both calls of step t are the driver's state ``theta_hat_t``; the negative control
  (:class:`StaleAnchorStep`, actual update linearised at ``theta_t``) is caught.
* Proj_Theta is taken as the Euclidean projection (the literal reading; the paper names no metric) and, beside it,
  in the metric of F(theta_hat_t) (the charitable reading); the check's verdict is the charitable reading's.
* Convergence on log-linear classes with a rank-deficient F: to the in-class saddle point
  (``numerics/in_class``, KKT-certified) when the projection is inactive; with an *active* projection
  (box, l2 ball) the last iterate converges to a fixed point of eqs. (8)-(11) that is not a saddle
  point: the Euclidean projection of a natural-gradient step does not preserve stationarity. A
  refutation is replayed in mpmath (50 digits) from the closed forms of the log-linear class.
"""
from __future__ import annotations


import mpmath as mp
import numpy as np
import sympy as sp

from opdcheck.instances import random_instance
from opdcheck.kernels.alg3 import NaturalGradientStep, StaleAnchorStep, natural_direction, run_alg3
from opdcheck.kernels.policies import Box, L2Ball, LogLinear, TabularSoftmax, quadratic_two_arm_class
from opdcheck.numerics.in_class import (in_class_slater_margin, kkt_solved, inner_maximise, restricted_lagrangian,
                                       solve_in_class)
from opdcheck.numerics.replay.alg3 import fixed_point_confirmed, replay_fisher, replay_fixed_point, replay_natural_direction
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.figures import save_semilogy
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import (CheckResult, Control, Finding, Verdict, combine_findings,
                                          summary_from_findings)
from opdcheck.paper_checks.studies.fisher_projection import FisherProjectedStep
from opdcheck.paper_checks.studies.kernel_controls import numba_alg3_agrees, numba_alg3_control
from opdcheck.paper_checks.studies import tolerance_controls as tolc
from opdcheck.theory.alg3 import eq72_hessian_residual
from opdcheck.tolerances import (REPLAY_AGREE_RTOL, ALG3_ANCHOR_ATOL, ALG3_FIXED_POINT_ATOL, ALG3_TAIL_SPREAD_ATOL, ALG3_CONVERGED_RTOL, ALG3_DIRECTION_RTOL, IN_CLASS_KKT_ATOL,
                                 EQ72_FD_RTOL, EQ72_FD_STEP, FISHER_PROJECTION_RIDGE, NUMBA_ALG3_AGREEMENT_RTOL)

ID = "alg-3-npg"
PAPER_REF = "Algorithm 3, eqs. (8)-(11), Sec. 3.2.1 (KL ≈ 1/2 dtheta^T F dtheta), App. D"
#: the gates of the fixed-point witness, one dict shared by the witness and its runtime control
FIXED_POINT_GATES = {"fixed_point_atol": ALG3_FIXED_POINT_ATOL, "tail_spread_atol": ALG3_TAIL_SPREAD_ATOL}
CLAIM = ("The NPG step: KL(pi_theta||pi_theta_hat) ≈ 1/2 dtheta^T F dtheta; gradients only at theta_hat_t; "
         "Algorithm 3 converges to the in-class saddle point on non-tabular classes (active projection, rank-deficient F).")


def _kl(lp, lq, rho):
    return float(rho @ np.sum(np.exp(lp) * (lp - lq), axis=1))


def eq72_fd(cls, theta, rho, rng, s: float) -> float:
    """|KL(pi_theta||pi_theta+s v) - s^2/2 v^T F v| / (s^2/2 v^T F v) for a direction v in the range of F."""
    F = cls.fisher(theta, rho)
    v = F @ rng.normal(size=cls.d)
    v /= np.linalg.norm(v)
    quad = 0.5 * s * s * float(v @ F @ v)
    kl = _kl(cls.log_probs(theta), cls.log_probs(theta + s * v), rho)
    return abs(kl - quad) / quad


def setup_loglinear(ps):
    """The seeded log-linear instance of this check: X = 2, n = 3, h = 1, d = 4 with a duplicated
    feature column (rank(F) = 3 < d)."""
    p = random_instance(2, 3, 1, 0.2, 3)
    phi = np.random.default_rng(1).normal(size=(2, 3, 3))
    phi = np.concatenate([phi, phi[..., 2:3]], axis=2)
    return p, LogLinear(phi, ps)


def alg3_converged(err_T: float, err_0: float) -> bool:
    """Alg. 3's run converged: final error at most ALG3_CONVERGED_RTOL x the initial one."""
    return bool(err_T <= ALG3_CONVERGED_RTOL * err_0)


def eq72_agrees(rel_err: float) -> bool:
    """KL ~ 1/2 dtheta^T F dtheta at the finite-difference step: worst relative error at most EQ72_FD_RTOL."""
    return bool(rel_err <= EQ72_FD_RTOL)


def directions_agree(diff: float) -> bool:
    """pinv and lstsq natural-gradient directions agree: max relative difference at most ALG3_DIRECTION_RTOL."""
    return bool(diff <= ALG3_DIRECTION_RTOL)


def anchored(gap: float) -> bool:
    """Gradients taken at theta_hat_t only: the anchor and chain gaps are at most ALG3_ANCHOR_ATOL."""
    return bool(gap <= ALG3_ANCHOR_ATOL)


def in_class_reference(ctx, ps, memo: dict | None = None):
    """The seeded log-linear instance over ``ps``, its in-class saddle point and in-class Slater margin. ``memo``
    (a dict the caller keeps for one check run) holds them per Theta: the Euclidean and the Fisher-metric runs on
    the same Theta share one reference (the same deterministic solve, computed once)."""
    key = (ps.describe(), ctx.seed)
    if memo is not None and key in memo:
        return memo[key]
    p, cls = setup_loglinear(ps)
    ref = (p, cls, solve_in_class(p, cls, seed=ctx.seed), in_class_slater_margin(p, cls, seed=ctx.seed)[0])
    if memo is not None:
        memo[key] = ref
    return ref


def convergence_case(ctx, label, ps, T, projection: str = "euclidean", memo: dict | None = None):
    """Algorithm 3 on the seeded log-linear class over ``ps``; ``projection="fisher"`` reads Proj_Theta in the
    metric of F(theta_hat_t) (:mod:`opdcheck.paper_checks.studies.fisher_projection`) instead of the Euclidean one.
    ``memo``: see :func:`in_class_reference`."""
    p, cls, ic, xi = in_class_reference(ctx, ps, memo)
    eta = 3.0 * np.sqrt(p.h) * p.R_max
    primal = FisherProjectedStep(p, cls, eta) if projection == "fisher" else None
    tr = run_alg3(p, cls, eta_th=eta, eta_lam=eta, T=T, dual_step="prox", saddle=ic, primal=primal)
    th_T, lam_T = tr.extra["final_primal_state"], tr.final_lam_hat
    rank = int(np.linalg.matrix_rank(cls.fisher(th_T, p.rho)))
    active = bool(np.max(np.abs(cls.param_set.project(ic.theta * 1.001) - ic.theta * 1.001)) > 0) or bool(
        np.max(np.abs(cls.param_set.project(th_T * 1.001) - th_T * 1.001)) > 0)
    err0, errT = float(tr.error[0]), float(tr.error[-1])
    tail = tr.error[-(T // 10):]
    out = {"label": label, "projection": projection, "Theta": ps.describe(), "xi_Theta": xi, "in_class_lam": ic.lam.tolist(),
           "in_class_kkt": ic.kkt["max"], "alg3_lam_T": lam_T.tolist(), "error_0": err0, "error_T": errT,
           "tail_spread": float(tail.max() - tail.min()), "rank_F": rank, "d": cls.d, "projection_active": active,
           "traj": tr, "p": p, "cls": cls, "ic": ic, "eta": eta, "theta_T": th_T, "lam_T": lam_T}
    out["converged"] = alg3_converged(errT, err0) and ic.certified
    # the in-class multiplier may be non-unique (D_Theta flat on an interval when the best response sits
    # at a vertex of Theta): also judge whether the limit itself is a saddle point (KKT at (theta_T, lam_T))
    starts = [th_T, ic.theta] + [ps.sample(np.random.default_rng(ctx.seed + k), cls.d) for k in range(4)]
    th_best, v_best = inner_maximise(p, cls, lam_T, starts)
    c_T = p.constraint_values(np.exp(cls.log_probs(th_T)))
    kkt_limit = max(v_best - restricted_lagrangian(p, cls, th_T, lam_T), float(np.max(np.maximum(-c_T, 0))),
                    float(np.max(np.abs(lam_T * c_T))))
    out["limit_kkt"] = kkt_limit
    out["theta_best_at_lam_T"] = th_best
    out["limit_is_saddle"] = kkt_solved(kkt_limit) and alg3_converged(float(tr.metrics["kl_star"][-1]), err0)
    return out


def evaluate(ctx: CheckContext, step_cls=NaturalGradientStep) -> CheckResult:
    rng = ctx.rng("alg-3-npg")
    T = 4000 if ctx.full else 2000
    findings, evidence = [], []
    # ---- display of Sec. 3.2.1 by finite differences, three classes
    p_tab = random_instance(2, 3, 1, 0.2, 7)
    _, ll = setup_loglinear(L2Ball(40.0))
    q = quadratic_two_arm_class()
    cases = [("tabular softmax", TabularSoftmax(2, 3), rng.normal(size=6), p_tab.rho),
             ("log-linear, rank-deficient F", ll, rng.normal(size=4), np.array([0.6, 0.4])),
             ("custom p = 0.2 + 0.1 theta^2", q, np.array([0.5]), np.array([1.0]))]
    worst, shrink_ok = 0.0, True
    for name, cls, th, rho in cases:
        e1 = eq72_fd(cls, th, rho, np.random.default_rng(5), EQ72_FD_STEP)
        e2 = eq72_fd(cls, th, rho, np.random.default_rng(5), EQ72_FD_STEP / 10)
        worst = max(worst, e1)
        shrink_ok &= e2 <= e1 / 5
        evidence.append({"test": f"KL vs 1/2 dth^T F dth, {name}", "rel err s=1e-3": e1, "rel err s=1e-4": e2})
    H = eq72_hessian_residual(3)
    ok72 = eq72_agrees(worst) and shrink_ok and H == sp.zeros(3, 3)
    # independent replay on the log-linear case: F from its definition at 50 digits vs the code's F, and the
    # display at the same direction (the code under suspicion supplies only theta and the direction)
    th_ll, rho_ll = cases[1][2], cases[1][3]
    F_ll = ll.fisher(th_ll, rho_ll)
    v_ll = F_ll @ np.random.default_rng(5).normal(size=ll.d)
    v_ll /= np.linalg.norm(v_ll)
    w72 = replay_fisher(rho_ll, ll.phi, th_ll, code_F=F_ll, rtol=REPLAY_AGREE_RTOL, direction=v_ll, s=EQ72_FD_STEP,
                        fd_rtol=EQ72_FD_RTOL)
    findings.append(Finding(name="KL ≈ 1/2 dtheta^T F dtheta (Sec. 3.2.1)", claim="second-order Taylor expansion of the KL",
                            verdict=Verdict.CONFIRMED if ok72 else Verdict.REFUTED, computed=worst, stated=f"O(s), <= {EQ72_FD_RTOL}",
                            comparison="<=", judged=len(cases),
                            sentence=(f"max relative error {worst:.2e} at s = {EQ72_FD_STEP:g}, shrinking >= 5x at s/10: {shrink_ok}; "
                                      f"sympy Hessian of KL minus F (tabular, n = 3) = {list(H)}."),
                            witness=w72, statement="eq-72-taylor", reading="literal", severity="substantive"))
    # ---- pinv vs least squares, incl. rank-deficient F
    dmax, w_dir = 0.0, None
    for name, cls, th, prob in [("tabular", TabularSoftmax(2, 3), rng.normal(size=6), p_tab),
                                ("log-linear rank-deficient", ll, rng.normal(size=4), setup_loglinear(L2Ball(40.0))[0])]:
        lam = np.abs(rng.normal(size=prob.h))
        w1 = natural_direction(prob, cls, th, lam, direction="pinv")
        w2 = natural_direction(prob, cls, th, lam, direction="lstsq")
        dmax = max(dmax, float(np.abs(w1 - w2).max() / max(1.0, np.abs(w1).max())))
        if hasattr(cls, "phi"):  # the log-linear, rank-deficient case: replayed at 50 digits
            w_dir = replay_natural_direction(prob, cls.phi, th, lam, code_direction=w1, rtol=ALG3_DIRECTION_RTOL)
    findings.append(Finding(name="F^+ grad L = least-squares advantage fit", claim="compatible function approximation (App. D)",
                            verdict=Verdict.CONFIRMED if directions_agree(dmax) else Verdict.REFUTED, computed=dmax,
                            stated=0.0, comparison="==", judged=2,
                            sentence=f"max relative difference {dmax:.2e} (tolerance {ALG3_DIRECTION_RTOL:g}), rank(F) = 3 of d = 4 in the log-linear case.",
                            witness=w_dir, statement="sec321-npg-reduction", reading="literal", severity="substantive"))
    # ---- gradients only at theta_hat_t
    anchor = anchoring_test(step_cls, T=60)
    findings.append(Finding(name="gradients only at theta_hat_t", claim="asymmetric optimism (Sec. 3.2.1)",
                            verdict=Verdict.CONFIRMED if anchor["ok"] else Verdict.REFUTED, computed=anchor["max_anchor_gap"],
                            stated=0.0, comparison="==", judged=anchor["steps"],
                            sentence=(f"over {anchor['steps']} steps both calls of step t linearise at the same point (max gap "
                                      f"{anchor['max_anchor_gap']:.2g}) and the next anchor is eq. (10)'s output (max gap {anchor['chain_gap']:.2g})."),
                            # a failure here is a defect of the implementation, not of the paper: no witness, so
                            # it can only be INCONCLUSIVE
                            witness=None, statement="sec321-asymmetric", reading="literal", severity="substantive"))
    controls = [numba_alg3_control()]  # the kernel backend="auto" takes on large classes
    controls += tolc.alg3_gate_controls(alg3_converged, kkt_solved) + tolc.alg3_direction_anchor_controls(
        directions_agree, anchored) + tolc.at_most_controls("KL vs its quadratic expansion (EQ72_FD_RTOL)", eq72_agrees,
                                                            EQ72_FD_RTOL, " relative")
    controls += tolc.fixed_point_gate_controls(fixed_point_confirmed, FIXED_POINT_GATES)
    controls += tolc.at_most_controls("Numba vs numpy Alg. 3 direction (NUMBA_ALG3_AGREEMENT_RTOL)", numba_alg3_agrees,
                                      NUMBA_ALG3_AGREEMENT_RTOL, " relative")
    if step_cls is NaturalGradientStep:
        neg = anchoring_test(StaleAnchorStep, T=60)
        controls.append(Control(name="actual update linearised at theta_t (StaleAnchorStep)", kind="negative", passed=not neg["ok"],
                                detail=f"anchor gap {neg['max_anchor_gap']:.3g}: {'caught' if not neg['ok'] else 'NOT caught'}"))
    # ---- convergence on log-linear classes. Proj_Theta is not given a metric by the paper: the literal reading is the
    # Euclidean projection (what the kernels implement); the charitable one projects in the metric of F(theta_hat_t),
    # the natural-gradient geometry. The log-linear class is a softmax over linear features: the "linear parameterized
    # space" and "softmax parameterization" that App. E names as its scope, which the Cor 3.10 counterexample (a
    # quadratic class) leaves open.
    refs: dict = {}  # the in-class reference per Theta, shared by the Euclidean and the Fisher-metric runs
    conv = [convergence_case(ctx, "inactive projection (l2 ball r = 40)", L2Ball(40.0), T, memo=refs),
            convergence_case(ctx, "active box [-1, 1]", Box(-1.0, 1.0), T, memo=refs),
            convergence_case(ctx, "active l2 ball r = 2", L2Ball(2.0), T, memo=refs)]
    T_fisher = T if ctx.full else T // 2
    scope = (" The class is log-linear (softmax of linear features), inside the scope App. E names (\"linear parameterized "
             "space\", \"softmax parameterization\"), which the Cor 3.10 counterexample (a quadratic class) leaves open.")
    series = {}
    for c in conv:
        evidence.append({k: v for k, v in c.items() if k not in ("traj", "p", "cls", "ic", "theta_T", "lam_T", "eta", "theta_best_at_lam_T")})
        series[c["label"] + " (Euclidean)"] = (np.arange(len(c["traj"].error)), c["traj"].error)
        lit = dict(statement="sec321-projection", reading="literal (Euclidean Proj_Theta)", severity="substantive")
        if c["converged"]:
            findings.append(Finding(name=f"converges: {c['label']}", claim="Alg. 3 -> (pi*_Theta, lam*_Theta)", verdict=Verdict.CONFIRMED,
                                    computed=c["error_T"], stated=f"<= {ALG3_CONVERGED_RTOL:g} x error_0", comparison="converges",
                                    sentence=(f"error {c['error_0']:.3g} -> {c['error_T']:.3g} in {T} steps; rank(F) = {c['rank_F']} of d = {c['d']}; "
                                              f"in-class KKT {c['in_class_kkt']:.1e}."),
                                    statement="sec321-projection", reading="charitable", severity="substantive"))
            continue
        if c["limit_is_saddle"]:
            findings.append(Finding(name=f"converges: {c['label']}", claim="Alg. 3 -> the in-class saddle set", verdict=Verdict.CONFIRMED,
                                    computed=c["limit_kkt"], stated=f"KKT <= {IN_CLASS_KKT_ATOL:g}", comparison="converges",
                                    sentence=(f"the policy converges (KL to pi*_Theta {float(c['traj'].metrics['kl_star'][-1]):.2g}) and the limit "
                                              f"(theta_T, lam_T = {np.round(c['lam_T'], 5).tolist()}) passes the in-class KKT test ({c['limit_kkt']:.1e}); "
                                              f"lam*_Theta is not unique here (the solver's {np.round(c['in_class_lam'], 5).tolist()} differs: "
                                              f"||lam-lam*||^2 = {c['error_T']:.2g}), since the best response sits at a vertex of Theta."),
                                    **lit))
            continue
        if not c["ic"].certified or c["xi_Theta"] <= 0:
            findings.append(Finding(name=f"converges: {c['label']}", claim="Alg. 3 -> (pi*_Theta, lam*_Theta)", verdict=Verdict.INCONCLUSIVE,
                                    computed=c["error_T"], stated="-> 0", comparison="converges",
                                    sentence=f"in-class reference not certified (KKT {c['in_class_kkt']:.2g}) or xi_Theta = {c['xi_Theta']:.3g} <= 0.",
                                    **lit))
            continue
        L_T_kernel = restricted_lagrangian(c["p"], c["cls"], c["theta_T"], c["lam_T"])
        L_b_kernel = restricted_lagrangian(c["p"], c["cls"], c["theta_best_at_lam_T"], c["lam_T"])
        w, witness = replay_fixed_point(c["p"], c["cls"], c["theta_T"], c["lam_T"], c["theta_best_at_lam_T"], c["eta"],
                                        code_L_T=L_T_kernel, code_L_better=L_b_kernel, tail_spread=c["tail_spread"],
                                        **FIXED_POINT_GATES)
        findings.append(Finding(
            name=f"converges: {c['label']}",
            claim="Cor 3.10 read literally (eps_approx = 0: the last iterate tends to the in-class saddle point), Alg. 3 with "
                  "Proj_Theta taken as the Euclidean projection",
            verdict=Verdict.REFUTED, computed=c["error_T"], stated="-> 0", comparison="converges", judged=1,
            sentence=(f"with the Euclidean Proj_Theta the last iterate settles (tail spread {c['tail_spread']:.1e}) at error {c['error_T']:.3g} (from {c['error_0']:.3g}), "
                      f"lam_T = {np.round(c['lam_T'], 5).tolist()} vs lam*_Theta = {np.round(c['in_class_lam'], 5).tolist()} "
                      f"(xi_Theta = {c['xi_Theta']:.3g} > 0, KKT {c['in_class_kkt']:.1e}); mpmath: the map (8)/(10) moves theta_T by "
                      f"{w['map_residual']:.1e} (a fixed point) yet theta = {np.round(c['theta_best_at_lam_T'], 4).tolist()} in Theta improves L(., lam_T) by {mp.nstr(w['improvement'], 6)}: "
                      "a fixed point that is not a saddle point, so Cor 3.10 read literally (eps_approx = 0, error -> 0) fails for this "
                      "implementation. Euclidean projection of a natural-gradient step keeps F^+ grad L, not grad L, in the normal cone of Theta."
                      + scope),
            witness=witness,
            **lit))
        # the same class with Proj_Theta in the metric of F(theta_hat_t): do the runs end at KKT points?
        ps = Box(-1.0, 1.0) if "box" in c["label"] else L2Ball(2.0)
        cf = convergence_case(ctx, c["label"], ps, T_fisher, projection="fisher", memo=refs)
        series[c["label"] + " (Fisher metric)"] = (np.arange(len(cf["traj"].error)), cf["traj"].error)
        evidence.append({k: v for k, v in cf.items() if k not in ("traj", "p", "cls", "ic", "theta_T", "lam_T", "eta", "theta_best_at_lam_T")})
        kkt_ok = kkt_solved(cf["limit_kkt"])
        findings.append(Finding(
            name=f"converges: {c['label']}, Proj_Theta in the metric of F",
            claim="Cor 3.10 with eps_approx = 0, Alg. 3 with Proj_Theta read in the metric of F(theta_hat_t) (the NPG geometry)",
            verdict=Verdict.CONFIRMED if (kkt_ok and (cf["converged"] or cf["limit_is_saddle"])) else Verdict.INCONCLUSIVE,
            computed={"error_T": cf["error_T"], "limit KKT": cf["limit_kkt"]}, stated=f"KKT <= {IN_CLASS_KKT_ATOL:g}",
            comparison="converges", judged=1,
            sentence=(f"the same runs with Proj_Theta in the metric of F(theta_hat_t) (+ {FISHER_PROJECTION_RIDGE:g} relative ridge) end at KKT "
                      f"points: error {cf['error_0']:.3g} -> {cf['error_T']:.2g} in {T_fisher} steps, limit KKT residual "
                      f"{cf['limit_kkt']:.1e}, lam_T = {np.round(cf['lam_T'], 6).tolist()} (lam*_Theta = "
                      f"{np.round(cf['in_class_lam'], 6).tolist()}). At a fixed point F F^+ grad L = grad L lies in the normal cone."
                      if kkt_ok else f"the Fisher-metric runs do not end at a KKT point (residual {cf['limit_kkt']:.2g})."),
            statement="sec321-projection", reading="charitable (Proj_Theta in the metric of F(theta_hat_t))", severity="substantive"))
    path, rel = ctx.figure_path("alg3_npg_convergence.png")
    save_semilogy(path, series, title="Algorithm 3 on log-linear classes (d = 4, rank F = 3), both projections",
                  ylabel=r"$\mathrm{KL} + \|\lambda - \lambda^\star_\Theta\|^2$ to the in-class saddle point")
    # a statement that fails only under the literal (Euclidean) reading and holds under the charitable one gets the
    # charitable verdict; the literal failure stays as a finding of its severity
    rescued = {f.name.split(", Proj_Theta")[0] for f in findings
               if f.reading.startswith("charitable (Proj_Theta") and f.verdict == Verdict.CONFIRMED}
    deciding = [f for f in findings if not (f.reading.startswith("literal (Euclidean") and f.name in rescued)]
    verdict = combine_findings(deciding)  # the reading rule every check uses
    literal_fail = [f for f in findings if f.reading.startswith("literal (Euclidean") and f.verdict == Verdict.REFUTED]
    lead = ((f"Proj_Theta is taken as Euclidean (the literal reading; the paper names no metric): with it Algorithm 3 stops "
             f"at fixed points that are not saddle points on {len(literal_fail)} active-projection case(s), so Cor 3.10 read "
             f"literally fails there; with Proj_Theta in the metric of F(theta_hat_t) the same runs end at KKT points "
             f"({len(rescued)} of {len(literal_fail)}), so the verdict is that reading's. ") if literal_fail else "")
    return CheckResult(
        verdict=verdict, summary=lead + summary_from_findings(findings, controls),
        computed={c["label"]: c["error_T"] for c in conv}, stated={"error": "-> 0"}, comparison="converges",
        tolerance=ALG3_CONVERGED_RTOL, tolerance_reason="final error relative to the start; the in-class reference is KKT-certified",
        evidence=evidence, findings=findings, controls=controls, figures=[rel],
        judged=sum(f.judged for f in findings),
        details=("Proj_Theta is not given a metric in the paper; opdcheck runs the Euclidean projection (literal reading) and the "
                 "projection in the metric of F(theta_hat_t) (charitable reading, opdcheck.paper_checks.studies.fisher_projection). "
                 "The fixed point of eqs. (8)/(10) with an active Euclidean projection satisfies F^+ grad L in the normal cone N_Theta(theta); "
                 "KKT of the in-class problem needs grad L in N_Theta(theta). These coincide when the projection is inactive "
                 "or F is a multiple of the identity on the active face, not in general."),
        instances=[{"name": "random_instance(2,3,1,0.2,3) + seeded features", "seed": ctx.seed}],
        conventions=["t = 0 convention of the driver", "dual step: prox (Appendix E's argmin)", "eta_th = eta_lam = 3 sqrt(h) R_max",
                     f"Proj_Theta: Euclidean (literal) and in the metric of F(theta_hat_t) + {FISHER_PROJECTION_RIDGE:g} relative ridge (charitable)"],
        )


def anchoring_test(step_cls, T: int = 60) -> dict:
    """Run Alg. 3 with a recording step; both calls of step t must linearise at theta_hat_t, and the
    anchor of step t+1 must be eq. (10)'s output at step t."""
    p, cls = setup_loglinear(L2Ball(40.0))
    eta = 3.0
    st = step_cls(p, cls, eta, np.zeros(cls.d), record=True)
    run_alg3(p, cls, eta_th=eta, eta_lam=eta, T=T, dual_step="prox", primal=st,
             saddle=type("S", (), {"pi": np.exp(cls.log_probs(np.zeros(cls.d))), "lam": np.zeros(p.h)})())
    tr = st.trace
    steps = len(tr) // 2
    gap = max(float(np.abs(tr[2 * t][0] - tr[2 * t + 1][0]).max()) for t in range(steps))
    chain = max(float(np.abs(tr[2 * (t + 1)][0] - NaturalGradientStep.exact_step(st, tr[2 * t + 1][0], tr[2 * t + 1][1])).max())
                for t in range(steps - 1))
    return {"steps": steps, "max_anchor_gap": gap, "chain_gap": chain,
            "ok": anchored(gap) and anchored(chain)}


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM, expected="to be measured", order=71)
def run(ctx: CheckContext) -> CheckResult:
    """The NPG step: Taylor display, pinv vs least squares, anchoring, convergence with active projections."""
    return evaluate(ctx)
