"""Check ``alg-1-unification``: §2.3 (Algorithm 1) and §3 -- one framework, and what converges.

Claims (paper): (a) finite-step primal-dual (Safe-RLHF, constrained DPO), multi-shot and one-shot are
instances of Algorithm 1 (§2.3); (b) one-shot "reduces to a pure dual update step" on the closed form (3);
(c) finite-step PD methods "lack last-iterate convergence guarantees" (§2.3, finite-step primal-dual updates) and standard primal-dual
methods "admit only average convergence guarantees and may fail to converge in the last iterate" (§3, after the bilinear example),
in contrast to OPD (§3.1, the remark after Thm 3.4).

What is computed: every named configuration of :mod:`opdcheck.kernels.framework` (finite-step PD,
multi-shot with K = 10, exact multi-shot, one-shot, simultaneous PD, Safe-RLHF's log-lambda rule,
OmniSafe's Adam-clamp and PID-Lagrangian, the §4 rules, OPD) is run through the one driver on the same
seeded instances with exactly known rational saddle points (inverse design), at a gentle step (Thm 3.4's
``eta_th = eta_lam = 3 sqrt(h) R_max``) and an aggressive one (ten times the step: ``eta/10``); the
practitioners' rules keep their sources' own dual step sizes in both columns. Dual convention:
``"gradient"`` (Algorithm 1's ``lam - g/eta_lam``). Table: last-iterate error, constraint violation,
Lagrangian evaluations spent, evaluations to reach ``1e-6 e_0``.

Findings: (a) each configuration ran through ``run_primal_dual`` (CONFIRMED when all did); (b) one-shot and
exact multi-shot reach the exact rational saddle point to 1e-7 at the gentle step; (c1) "standard PD may
fail to converge in the last iterate" -- judged on simultaneous PD / one-shot / multi-shot; (c2) "these methods
lack last-iterate convergence guarantees" / "admit only average convergence guarantees" are statements about
proofs: runs do not refute them, so that finding is not judged (INCONCLUSIVE, with the runs reported); (d) §3's
"GDA converges linearly only under strongly-convex-strongly-concave conditions": the Lagrangian is linear in
lam, yet simultaneous GDA is certified (exact Schur-Cohn, the witness) to converge linearly when
``h_max/(2 eta_lam) < beta``, and sequential GDA converges at Thm 3.4's step -> REFUTED; (e) the remark after
Thm 3.4 ("without strong convexity in the dual variable") holds as written, and the finding reports that the
rate depends on the dual function's curvature (the small-curvature family, exact certificates).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from opdcheck.kernels.framework import run_config
from opdcheck.methods import get_method
from opdcheck.kernels.trajectory import fit_tail_rate
from opdcheck.numerics.replay.certified import judge_rate_certificates
from opdcheck.numerics.types import SaddlePoint
from opdcheck.paper_checks.studies import tolerance_controls as tolc
from opdcheck.paper_checks.studies.alg1_designs import (CERT_METHOD, exact_fraction, first_below, rate_matches_radius,
                                                        rational_design)
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict
from opdcheck.theory.linearization import certify_rate, covariance_exact, inverse_design_rational
from opdcheck.tolerances import ALG1_CONVERGED_RATIO, ALG1_RATE_ATOL, ALG1_SADDLE_ATOL

ID = "alg-1-unification"
PAPER_REF = "§2.3 (Algorithm 1); §3 (bilinear example and after); remark after Thm 3.4"
CLAIM = ("Finite-step PD, multi-shot and one-shot are instances of Algorithm 1; one-shot is a pure dual step on the "
         "closed form (3); standard primal-dual methods may fail in the last iterate and lack last-iterate guarantees; "
         "GDA converges linearly only under strongly-convex-strongly-concave conditions; OPD's result holds without "
         "strong convexity in the dual.")

METHOD_ORDER = ("opd", "simultaneous-pd", "finite-step-pd", "multi-shot", "exact-multi-shot", "one-shot",
                "safe-rlhf", "adam-clamp", "pid-lagrangian", "sec4-opd", "sec4-pd")
STEPS = {"gentle": 1.0, "aggressive": 10.0}  # step multiplier on Thm 3.4's 1/eta


#: converged runs stop here (relative to e_0). The error is quadratic in the deviation, so 1e-20 e_0 leaves
#: the iterate ~1e-10 sqrt(e_0) from the saddle point: below the 1e-7 that (b) judges, and far below the
#: 1e-6 that judges convergence.
STOP_BELOW = 1e-20


def reaches_saddle(err: float) -> bool:
    """A run reached the exact rational saddle point: max |pi_T - pi*|, |lam_T - lam*| at most ALG1_SADDLE_ATOL."""
    return bool(err <= ALG1_SADDLE_ATOL)


def thm_step(problem) -> float:
    """Thm 3.4's ``3 sqrt(h) R_max`` rounded up to a multiple of 1/64: a dyadic rational, so the float step
    and the exact certificate's step are the same number (``Fraction(float)`` has a small denominator)."""
    return math.ceil(3.0 * math.sqrt(problem.h) * problem.R_max * 64) / 64


def _saddle_of(design) -> SaddlePoint:
    pi = np.array([[float(p) for p in row] for row in design.pi_star])
    lam = np.array([float(v) for v in design.lam_star])
    return SaddlePoint(pi=pi, lam=lam, primal_value=float("nan"), dual_value=float("nan"), duality_gap=0.0,
                       kkt={}, method="inverse design (exact rationals)")


def run_cell(spec: dict, seed: int) -> dict:
    """One (instance, step, method) run; module-level for ``ctx.map``."""
    design = rational_design(spec["design_seed"])
    p = design.problem
    eta = thm_step(p) / spec["mult"]
    m = spec["method"]
    eta_th = p.beta / 20 if m == "exact-multi-shot" else eta  # inner weight of the loop solved to tolerance (contraction 1/21)
    saddle = _saddle_of(design)
    # converged runs stop at STOP_BELOW e_0: saves most of the budget
    tr = run_config(m, p, eta_th=eta_th, eta_lam=eta, T=spec["T"], dual_step="gradient", saddle=saddle,
                    stop_below=STOP_BELOW)
    pi_T, lam_T = tr.final_pi_hat, tr.final_lam_hat
    c_T = tr.metrics["constraint"][-1]
    t_hit = first_below(tr.error, ALG1_CONVERGED_RATIO)
    evals = tr.config["lagrangian_evaluations"]
    per_step = evals / max(tr.n_steps, 1)
    return {**spec, "eta": eta, "error_0": float(tr.error[0]), "error_T": float(tr.error[-1]),
            "ratio": float(tr.error[-1] / tr.error[0]), "diverged": tr.diverged, "n_steps": tr.n_steps,
            "violation": float(max(0.0, -float(np.min(c_T)))) if not tr.diverged else float("inf"),
            "pi_err": float(np.max(np.abs(pi_T - saddle.pi))), "lam_err": float(np.max(np.abs(lam_T - saddle.lam))),
            "pi_T": pi_T, "lam_T": lam_T,
            "rate": fit_tail_rate(tr.error)["rate"], "evals": int(evals),
            "evals_to_1e-6": None if t_hit is None else int(round(t_hit * per_step)),
            "driver": tr.config.get("method"), "ordering": tr.config.get("ordering")}


def identical_configurations(cells: list[dict]) -> list[str]:
    """The pairs of named configurations whose runs on some (instance, step) are bit-identical (the same final
    policy, multiplier and step count): two names for one configuration, e.g. a multi-shot whose K fell to 1 is
    finite-step PD. Finding (a) counts distinct configurations, so an identical pair would be counted twice.

    >>> a = {"design_seed": 1, "step": "gentle", "method": "m1", "pi_T": np.ones(2), "lam_T": np.zeros(1), "n_steps": 5}
    >>> identical_configurations([a, {**a, "method": "m2"}]), identical_configurations([a, {**a, "method": "m2", "n_steps": 6}])
    (['m1 = m2 (seed 1, gentle)'], [])
    """
    seen: dict = {}
    pairs = []
    for c in cells:
        key = (c["design_seed"], c["step"], int(c["n_steps"]), np.asarray(c["pi_T"], float).tobytes(),
               np.asarray(c["lam_T"], float).tobytes())
        if key in seen and seen[key] != c["method"]:
            pairs.append(f"{seen[key]} = {c['method']} (seed {c['design_seed']}, {c['step']})")
        seen.setdefault(key, c["method"])
    return pairs


def evaluate(ctx: CheckContext, lam_star_shift: float = 0.0, methods: tuple | None = None,
             n_inst: int | None = None, T: int | None = None) -> CheckResult:
    """``lam_star_shift`` perturbs the reference ``lam*`` that (b) judges against (negative control);
    ``methods``, ``n_inst``, ``T`` restrict the sweep (tests)."""
    n_inst = n_inst or (3 if ctx.full else 2)
    T = T or (3000 if ctx.full else 1000)
    method_order = tuple(methods or METHOD_ORDER)
    seeds = [int(s) for s in ctx.rng("alg-1-unification").integers(0, 2**31 - 1, size=n_inst)]
    specs = [{"design_seed": s, "step": lab, "mult": mult, "method": m, "T": T}
             for s in seeds for lab, mult in STEPS.items() for m in method_order]
    cells = ctx.map(run_cell, specs, stream="alg-1-unification", label="alg-1-unification runs")
    designs = {s: rational_design(s) for s in seeds}

    # certificates for the configurations theory.linearization knows
    for c in cells:
        lm = CERT_METHOD.get(c["method"])
        c["cert"] = None
        if lm is not None:
            eta_f = exact_fraction(c["eta"])
            cert = certify_rate(designs[c["design_seed"]], lm, 0 if c["method"] == "one-shot" else eta_f, eta_f, "gradient")
            c["cert"] = cert
    for c in cells:
        c["converged"] = (not c["diverged"]) and c["ratio"] <= ALG1_CONVERGED_RATIO

    findings: list[Finding] = []
    # (a) one framework
    ran = [c for c in cells if c["driver"] == c["method"]]
    findings.append(Finding(
        name="configurations of one driver", claim="finite-step PD, multi-shot, one-shot (and the practitioners' rules, "
        "OPD) are instances of one framework", verdict=Verdict.CONFIRMED if len(ran) == len(cells) else Verdict.INCONCLUSIVE,
        computed={m: get_method(m).describe() for m in method_order}, stated="§2.3: instances of Algorithm 1",
        comparison="identity", judged=len(ran),
        sentence=f"{len(set(c['method'] for c in ran))} named configurations (oracle x ordering x dual rule) ran "
                 f"through kernels.opd.run_primal_dual on {n_inst} instances x {len(STEPS)} steps ({len(ran)}/{len(cells)} runs).",
        statement="alg-1", reading="charitable", severity="substantive"))
    # (b) one-shot and exact multi-shot reach the exact saddle point
    rows_b = [c for c in cells if c["method"] in ("one-shot", "exact-multi-shot") and c["step"] == "gentle"]
    errs = []
    for c in rows_b:
        lam_ref = np.array([float(v) for v in designs[c["design_seed"]].lam_star]) + lam_star_shift
        errs.append(max(c["pi_err"], float(np.max(np.abs(c["lam_T"] - lam_ref)))))
    ok_b = bool(errs) and all(reaches_saddle(e) for e in errs)
    findings.append(Finding(
        name="one-shot and exact multi-shot reach the saddle point",
        claim="the closed-form oracle (3) and an inner loop solved to tolerance reach the exact saddle point",
        verdict=Verdict.CONFIRMED if ok_b else Verdict.REFUTED,  # a REFUTED without a witness reads INCONCLUSIVE
        computed={"max_abs_error": max(errs, default=float("nan"))}, stated=f"<= {ALG1_SADDLE_ATOL:g}", comparison="<=",
        judged=len(rows_b),
        sentence=f"after {T} steps at Thm 3.4's step, max |pi_T - pi*|, |lam_T - lam*| over {len(rows_b)} runs is "
                 f"{max(errs, default=float('nan')):.2e} ({'<=' if ok_b else '>'} {ALG1_SADDLE_ATOL:g}) against the exact rational saddle point"
                 + (f" shifted by {lam_star_shift:g} in lam*" if lam_star_shift else "") + ".",
        statement="sec23-oneshot", reading="charitable", severity="substantive"))
    # (c1) standard PD may fail to converge in the last iterate
    std = [c for c in cells if c["method"] in ("simultaneous-pd", "one-shot", "multi-shot", "finite-step-pd")]
    failing = [c for c in std if not c["converged"]]
    fail_cert = [c for c in failing if c["cert"] is not None and c["cert"].unstable]
    fail_names = sorted({f"{c['method']} ({c['step']})" for c in failing})
    findings.append(Finding(
        name="standard PD may fail in the last iterate",
        claim="§3: standard primal-dual methods may fail to converge in the last iterate",
        verdict=Verdict.CONFIRMED if fail_cert else Verdict.INCONCLUSIVE,  # only certified failures decide
        computed={"failing": fail_names, "certified_unstable": len(fail_cert)}, stated="may fail", comparison="diverges",
        judged=len(fail_cert),
        sentence=(f"{len(failing)}/{len(std)} standard-PD runs do not converge ({', '.join(fail_names) or 'none'}); "
                  f"{len(fail_cert)} of them are certified unstable (Schur-Cohn radius > 1)."),
        statement="sec3-fail-unique-saddle", reading="charitable", severity="substantive"))
    # (c2) "lack last-iterate convergence guarantees" / "admit only average convergence guarantees": statements
    # about proofs. A run that converges does not refute them, so they are not judged; the runs are reported.
    fs = [c for c in cells if c["method"] == "finite-step-pd"]
    fs_ok = [c for c in fs if c["converged"] and c["cert"] is not None and c["cert"].stable]
    opd_fail = sorted({c["step"] for c in cells if c["method"] == "opd" and not c["converged"]})
    rates = ", ".join(f"{c['step']}: {c['rate']:.4f} (radius^2 {c['cert'].mid ** 2:.4f})" for c in fs_ok)
    findings.append(Finding(
        name="guarantees lacking (not judged by runs)",
        claim="§2.3: finite-step PD methods \"lack last-iterate convergence guarantees\"; §3: standard PD methods "
              "\"generally admit only average convergence guarantees\"",
        verdict=Verdict.INCONCLUSIVE, computed={"finite_step_pd_converged": f"{len(fs_ok)}/{len(fs)}",
                                                "opd_fails_at": opd_fail},
        stated="a statement about what has been proved", comparison="identity", judged=0,
        sentence=(f"not judged: a statement about guarantees (proofs) is not refuted by runs that converge. For the "
                  f"record, finite-step (Gauss-Seidel) PD's last iterate converges linearly on {len(fs_ok)}/{len(fs)} "
                  f"runs (error rates {rates or 'none'}), and OPD "
                  f"{'fails at the ' + ' and '.join(opd_fail) + ' step' if opd_fail else 'converges at both steps'}."),
        statement="sec23-lack-guarantees", reading="charitable", severity="substantive"))
    # (d) §3: "GDA methods converge linearly to the unique saddle point only under smooth strongly-convex-
    # strongly-concave conditions". The Lagrangian is linear in lam (never strongly convex in it); simultaneous
    # GDA is certified to converge linearly when h_max/(2 eta_lam) < beta, and sequential GDA converges too.
    findings.append(_scsc_finding(list(designs.values()), fs_ok))
    findings.append(_dual_curvature_finding())
    # the summary leads with the strongest evidence: the refuted §3 sentence first
    findings.sort(key=lambda f: f.statement != "sec-2.3-scsc")

    # controls: the reference is right (positive), and a wrong lam* is caught (negative)
    one = [c for c in rows_b if c["method"] == "one-shot"]
    wrong = [float(np.max(np.abs(c["lam_T"] - (np.array([float(v) for v in designs[c["design_seed"]].lam_star]) + 1e-3))))
             for c in one]
    controls = [
        Control("one-shot matches the exact rational saddle point", "positive",
                all(reaches_saddle(max(c["pi_err"], c["lam_err"])) for c in one),
                f"max error {max((max(c['pi_err'], c['lam_err']) for c in one), default=float('nan')):.2e}"),
        Control("a lam* shifted by 1e-3 is rejected", "negative", not any(reaches_saddle(w) for w in wrong),
                f"errors against the shifted lam*: {', '.join(f'{w:.1e}' for w in wrong)}"),
    ]
    same = identical_configurations(cells)
    controls.append(Control("the named configurations are distinct (no two give bit-identical runs)", "positive",
                            not same, "identical: " + "; ".join(same) if same else
                            f"{len(method_order)} configurations, pairwise different on every instance and step"))
    controls += (tolc.at_most_controls("run reaches the exact saddle point (ALG1_SADDLE_ATOL)", reaches_saddle, ALG1_SADDLE_ATOL)
                 + tolc.close_gate_controls("measured rate vs certified radius^2 (ALG1_RATE_ATOL)", rate_matches_radius,
                                            ALG1_RATE_ATOL, ref=0.5))
    # the rule's other side (where the SC-SC sentence's prediction holds): h_max/(2 eta_lam) = 2 beta > beta
    far = gda_scsc_case(_scsc_designs([])[0], side="diverging", T=600)
    controls.append(Control("simultaneous GDA with h_max/(2 eta_lam) > beta is certified unstable and does not converge",
                            "positive", far["cert"].unstable and not far["converged"],
                            f"eta_lam {far['eta_lam']}: radius in [{float(far['cert'].lo):.5f}, {float(far['cert'].hi):.5f}], "
                            f"converged: {far['converged']}"))
    evidence = [{"instance": f"seed {c['design_seed']}", "step": c["step"], "method": c["method"],
                 "ordering": c["ordering"], "e_T/e_0": c["ratio"], "last-iterate converged": c["converged"],
                 "violation max(0,-c)": c["violation"], "Lagrangian evaluations": c["evals"],
                 "evaluations to 1e-6 e_0": c["evals_to_1e-6"], "tail rate": c["rate"],
                 "certified radius^2": (c["cert"].mid ** 2 if c["cert"] is not None else None)} for c in cells]
    details = _ranking(cells, method_order)
    figures = [_convergence_figure(ctx, cells, method_order)]
    return CheckResult(
        figures=figures,
        verdict=None,
        computed={"findings": {f.name: f.verdict.value for f in findings}}, details=details,
        stated={"a": "instances of Algorithm 1", "b": "exact saddle point", "c": "standard PD: only average convergence"},
        comparison="identity", tolerance=ALG1_SADDLE_ATOL, tolerance_reason="1e-7 on the saddle point; "
        f"converged = e_T/e_0 <= {ALG1_CONVERGED_RATIO:g}; rate agreement {ALG1_RATE_ATOL:g}",
        evidence=evidence, findings=findings, controls=controls, judged=len(cells),
        instances=[{"name": designs[s].name, "seed": s, **{k: v for k, v in designs[s].describe().items() if k in ("X", "n", "h", "beta")}}
                   for s in seeds],
        conventions=["dual convention 'gradient' (Algorithm 1: lam - g/eta_lam); gentle = Thm 3.4's eta = 3 sqrt(h) R_max, "
                     "aggressive = eta/10 (eta rounded up to a multiple of 1/64); converged runs stop at 1e-20 e_0; practitioners' rules keep their own dual steps; exact multi-shot's inner weight beta/20",
                     "lam_init: 0 (projected rules), 1 (Safe-RLHF, §4 rules), 0.001 (OmniSafe rules)"],
        )


def _scsc_designs(designs: list) -> list:
    """The check's rational designs and the toy (beta = 1/20) as exact designs."""
    toy = inverse_design_rational([[Fraction(3, 10), Fraction(7, 10)]], [1], [[[Fraction(-7, 10), Fraction(3, 10)]]],
                                  Fraction(1, 20), R_soft=[[[1, 0]]], name="paper-toy (rational, beta = 1/20)")
    return [toy] + list(designs)


def gda_scsc_case(design, side: str = "converging", T: int = 3000) -> dict:
    """Simultaneous GDA (prox dual convention) on ``design`` at ``eta_th = 1`` and a dual step on one side of
    the rule ``h_max/(2 eta_lam) < beta``: ``side="converging"`` takes ``eta_lam >= h_max/beta`` (the rule holds
    with margin 2), ``"diverging"`` takes ``eta_lam <= h_max/(4 beta)`` (violated by a factor 2). Returns the exact
    certificate, the measured tail rate and whether the run converged."""
    if side not in ("converging", "diverging"):
        raise ValueError(f"gda_scsc_case: side = {side!r}; choose 'converging' or 'diverging'.")
    H = covariance_exact(design)
    h_max = float(max(np.linalg.eigvalsh(np.array(H.tolist(), dtype=float))))
    beta = float(design.beta)
    if side == "converging":
        el = Fraction(math.ceil(h_max / beta * 64), 64)
    else:
        el = Fraction(max(1, math.floor(h_max / (4 * beta) * 64)), 64)
    cert = certify_rate(design, "simultaneous-gda", 1, el, "prox")
    tr = run_config("simultaneous-pd", design.problem, eta_th=1.0, eta_lam=float(el), T=T, dual_step="prox",
                    saddle=_saddle_of(design), stop_below=STOP_BELOW)
    ratio = float(tr.error[-1] / tr.error[0])
    converged = (not tr.diverged) and ratio <= ALG1_CONVERGED_RATIO
    rate = fit_tail_rate(tr.error)["rate"]
    return {"design": design.name, "h_max": h_max, "beta": beta, "eta_lam": el, "rule h/(2 eta_lam) < beta":
            h_max / (2 * float(el)) < beta, "cert": cert, "rate": rate, "converged": converged,
            "rate_ok": rate_matches_radius(rate, cert.mid ** 2)}


def _scsc_finding(designs: list, fs_ok: list) -> Finding:
    cases = [gda_scsc_case(d) for d in _scsc_designs(designs)]
    ok = [c for c in cases if c["cert"].stable and c["converged"] and c["rate_ok"]]
    witness = None
    if cases and len(ok) == len(cases):
        witness = judge_rate_certificates(
            "simultaneous GDA certified stable without strong convexity in lam", [c["cert"] for c in cases],
            claim="stable", code_rates=[c["rate"] for c in cases], rate_slack=ALG1_RATE_ATOL,
            method="exact Schur-Cohn certificate of simultaneous GDA's map linearised at the exact rational saddle "
                   "point (sympy, theory.linearization.certify_rate)",
            instance="; ".join(str(c["design"]) for c in cases))
        v = Verdict.REFUTED
    else:
        v = Verdict.INCONCLUSIVE
    desc = "; ".join(f"{c['design']}: h_max {c['h_max']:.4g}, beta {c['beta']:g}, eta_lam {c['eta_lam']} -> "
                     f"h_max/(2 eta_lam) = {c['h_max'] / (2 * float(c['eta_lam'])):.4g}, certified radius^2 "
                     f"{c['cert'].mid ** 2:.5f} ({'stable' if c['cert'].stable else 'not stable'}), measured "
                     f"{c['rate']:.5f}" for c in cases)
    return Finding(
        name="GDA converges linearly only under SC-SC",
        claim="§3 (opening paragraph): \"The gradient descent-ascent methods converge linearly to the unique saddle "
              "point only under smooth strongly-convex-strongly-concave conditions with appropriate step sizes\"",
        verdict=v, computed={"simultaneous_gda_certified_stable": f"{len(ok)}/{len(cases)}",
                             "sequential_gda_converged_runs": len(fs_ok)},
        stated="no linear convergence of GDA without strong convexity in lam", comparison="diverges",
        judged=len(cases), witness=witness,
        sentence=(f"the Lagrangian is linear in lam (not strongly convex in it), yet simultaneous GDA is certified to "
                  f"converge linearly on {len(ok)}/{len(cases)} instances when h_max/(2 eta_lam) < beta ({desc}); "
                  f"sequential GDA also converges linearly on {len(fs_ok)} run(s) at Thm 3.4's step. Strong concavity "
                  "in pi with a coupling of full rank suffices."),
        statement="sec3-gda-scsc-only", reading="charitable", severity="substantive")


def _dual_curvature_finding() -> Finding:
    from opdcheck.paper_checks.studies.curvature_family import certify_family, mode_polynomial_root_one

    rows = certify_family(steps=((Fraction(3), Fraction(3)),))
    root = mode_polynomial_root_one()
    r2 = [r["r^2 lower"] for r in rows]
    increasing = all(a < b for a, b in zip(r2, r2[1:]))
    ok = root["root_one"] and increasing and all(r["stable"] for r in rows)
    return Finding(
        name="without strong convexity in the dual",
        claim="remark after Thm 3.4: \"the result holds under a linear dual objective and without strong convexity "
              "in the dual variable, highlighting the stabilizing effect of the optimistic primal-dual updates\"",
        verdict=Verdict.CONFIRMED if ok else Verdict.INCONCLUSIVE,
        computed={"family r^2 (eta = 3)": {r["p"]: r["r^2 lower"] for r in rows}, **root},
        stated="linear last-iterate rate with the Lagrangian linear in lam", comparison="identity", judged=len(rows),
        sentence=("holds as the text says it (no strong convexity of L in lam is assumed, and OPD's certified rate is "
                  "below 1 on every member of the small-curvature family), but the rate is set by the curvature of "
                  "the dual function (Cov_{pi*}(R_H)/beta, which the primal's KL supplies): at eta = 3 the certified "
                  "r^2 is " + ", ".join(f"{r['r^2 lower']:.6f} (curvature {r['curvature p(1-p)']:.4g})" for r in rows)
                  + f", and OPD's mode polynomial at zero curvature is {root['polynomial_at_c0']} (root 1: "
                  f"{root['root_one']}), so r^2 -> 1 as that curvature vanishes. Plain GDA converges linearly under the "
                  "same conditions (finding above), so the stabilisation is not specific to optimism."),
        statement="sec31-no-dual-sc", reading="charitable", severity="substantive")


def _convergence_figure(ctx: CheckContext, cells: list, method_order: tuple) -> str:
    """Where "no last-iterate convergence without optimism" fails: e_T/e_0 of every run, by method and step,
    against the convergence threshold; finite-step (Gauss-Seidel) PD's runs are marked."""
    from opdcheck.paper_checks.figures import plt, save_figure

    order = [m for m in method_order if any(c["method"] == m for c in cells)]
    fig, ax = plt.subplots(figsize=(7.2, 4.2), dpi=110)
    steps = sorted({c["step"] for c in cells})
    for k, step in enumerate(steps):
        xs, ys, hi = [], [], []
        for c in cells:
            if c["step"] != step or c["method"] not in order:
                continue
            xs.append(order.index(c["method"]) + (k - (len(steps) - 1) / 2) * 0.18)
            ys.append(c["ratio"] if np.isfinite(c["ratio"]) and not c["diverged"] else 1e6)
            hi.append(c["method"] == "finite-step-pd")
        xs, ys, hi = np.array(xs), np.clip(np.array(ys, dtype=float), 1e-22, 1e6), np.array(hi, dtype=bool)
        ax.semilogy(xs[~hi], ys[~hi], "o", ms=5, color=f"C{k}", alpha=0.7, label=f"step: {step}")
        ax.semilogy(xs[hi], ys[hi], "D", ms=8, color=f"C{k}", mec="C3", mew=1.5)
    ax.axhline(ALG1_CONVERGED_RATIO, color="0.3", ls="--", lw=1.0, label=rf"converged: $e_T/e_0 \leq$ {ALG1_CONVERGED_RATIO:g}")
    ax.plot([], [], "D", color="white", mec="C3", mew=1.5, label="finite-step PD (no optimism): converges")
    ax.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(r"$e_T / e_0$ (diverged runs drawn at $10^6$)")
    ax.set_title("Algorithm 1's instances on inverse-design instances (exact rational saddle points): last-iterate error",
                 fontsize=9, wrap=True)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path, rel = ctx.figure_path("alg-1-unification.png")
    save_figure(fig, path)
    return rel


def _ranking(cells: list, method_order: tuple) -> str:
    """Generated text: per step, the methods ranked by median e_T/e_0 and by evaluations to 1e-6."""
    out = []
    for step in STEPS:
        rows = [c for c in cells if c["step"] == step]
        meds = {}
        costs = {}
        for m in method_order:
            rs = [c for c in rows if c["method"] == m]
            meds[m] = float(np.median([c["ratio"] if not c["diverged"] else np.inf for c in rs]))
            hits = [c["evals_to_1e-6"] for c in rs]
            costs[m] = max(hits) if all(h is not None for h in hits) else None
        order = sorted(method_order, key=lambda m: meds[m])
        conv = [m for m in order if costs[m] is not None]
        cheapest = sorted(conv, key=lambda m: costs[m])
        out.append(f"**{step} step** -- median e_T/e_0: " + ", ".join(f"{m} {meds[m]:.1e}" for m in order)
                   + ". Reaching 1e-6 e_0 on every instance: "
                   + (", ".join(f"{m} ({costs[m]} evaluations)" for m in cheapest) or "none")
                   + ". Not reaching it: " + (", ".join(m for m in method_order if costs[m] is None) or "none") + ".")
    return "\n\n".join(out)


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM,
                expected="each method is a configuration; one-shot / exact multi-shot reach the saddle; the guarantee "
                         "statements are not judged by runs; 'GDA converges linearly only under SC-SC' is refuted by "
                         "certificates", order=310)
def run(ctx: CheckContext) -> CheckResult:
    """Every named configuration of Algorithm 1 on seeded exact instances at a gentle and an aggressive step."""
    return evaluate(ctx)
