"""Check ``thm-3.4-constants``: the constants of Thm 3.4 against the potential and rate of its proof.

Transcribed from App. C (see :mod:`opdcheck.theory.thm34_constants`): the potential after eq. (45),
the positivity requirements, the general rho, Phi_1, the final division; choice
``eta_th = eta_lam = 3 sqrt(h) R``, ``C1 = C2 = C = sqrt(h) R``. Checked symbolically:
requirements on the whole range ``delta, theta in (1/2, 1)``; reduction to eqs. (46), (47) at
``delta = theta = 3/4``; the theorem's denominator; the max in the final division.
"""
from __future__ import annotations

import time
from typing import Callable

import sympy as sp

from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import CheckResult, Verdict
from opdcheck.theory import lemmas as lm
from opdcheck.theory import thm34_constants as tc
from opdcheck.theory.render import latex_block, side_by_side

ID = "thm-3.4-constants"
PAPER_REF = "Thm 3.4, eqs. (45)-(47), App. C (requirements, general rho, Phi_1, final division)"
CLAIM = ("With C1 = C2 = C = sqrt(h) R_max and eta_th = eta_lam = 3 sqrt(h) R_max the requirements hold for all "
         "delta, theta in (1/2, 1); delta = theta = 3/4 gives eqs. (46), (47); the bound divides Phi_1 by "
         "min(eta_th + beta, 7/4 eta_lam - 3/4 sqrt(h) R_max).")


def evaluate(ctx: CheckContext, rho46: sp.Expr | None = None, phi47: sp.Expr | None = None,
             stated_denominator: sp.Expr | None = None,
             final_division: Callable[[sp.Expr, sp.Expr], sp.Expr] = sp.Max) -> CheckResult:
    """Run :func:`thm34_constants.audit_thm34` on the given (default: the paper's) versions and report."""
    t0 = time.perf_counter()
    audit = tc.audit_thm34(rho46, phi47, stated_denominator, final_division)
    det = audit["details"]
    stated_den = tc.theorem_denominator() if stated_denominator is None else stated_denominator
    proof_den = tc.proof_denominator(sp.Rational(3, 4))
    proof_den_choice = sp.simplify(proof_den.subs(tc.paper_choice()))
    dd = tc.denominator_difference_condition(stated_den)
    wit = tc.max_vs_min_witness()
    b4 = lm.b4_witness(sp.Rational(3, 4), sp.Rational(3, 4))
    r3 = tc.rate_term3_when_lemma_b4_valid()
    r3c = tc.rate_term3_with_corrected_b4()
    verdict = Verdict(audit["verdict"])

    evidence = []
    for name, v in det["requirements"].items():
        evidence.append({"item": f"requirement {name} > 0 on delta, theta in (1/2,1)", "paper": "> 0",
                         "derived at the choice": sp.sstr(v["at_choice"]), "holds": v["proved_positive"]})
    evidence += [
        {"item": "general rho at delta=theta=3/4 equals eq. (46)", "paper": sp.sstr(det["eq46"]["candidate"]),
         "derived at the choice": sp.sstr(det["eq46"]["general"]), "holds": audit["rho_reduces_to_eq46"]},
        {"item": "general Phi_1 at delta=theta=3/4 equals eq. (47)", "paper": "eq. (47)",
         "derived at the choice": f"difference = {sp.sstr(det['eq47']['difference'])}", "holds": audit["phi1_reduces_to_eq47"]},
        {"item": "theorem's denominator corresponds to an allowed delta", "paper": sp.sstr(stated_den),
         "derived at the choice": f"delta = {sp.sstr(audit['stated_denominator_delta'])}; proof: {sp.sstr(proof_den)}",
         "holds": audit["stated_denominator_in_range"]},
        {"item": "final division uses min(a1, a3)", "paper": sp.sstr(audit["final_division_expr"]),
         "derived at the choice": "valid bound needs Min(a1, a3)", "holds": audit["final_division_uses_min"]},
        {"item": "theorem's and proof's denominators agree for all beta > 0 (b = beta / sqrt(h)R_max)", "paper": sp.sstr(dd["stated_over_s"]),
         "derived at the choice": f"{sp.sstr(dd['proof_over_s'])}; differ for b in {sp.sstr(dd['beta_over_sqrt_h_R_where_they_differ'])}",
         "holds": dd["beta_over_sqrt_h_R_where_they_differ"] == sp.S.EmptySet},
        {"item": "eq. (44) (Lemma B.4 at delta=theta=3/4) is a valid inequality", "paper": ">= (Lemma B.4)",
         "derived at the choice": (f"fails at lam_t = lam_hat_(t+1) = lam_hat_t != lam*: 0 >= {sp.sstr(b4['rhs'])} ||lam_hat_t - lam*||^2"
                                   if b4 else "holds"), "holds": b4 is None},
        {"item": "rho_3 < 1 possible where Lemma B.4 is valid (delta = 1 + u >= 1)", "paper": "rho < 1",
         "derived at the choice": f"b3 - a3 = {sp.sstr(r3['b3_minus_a3_delta_1_plus_u'])} >= 0",
         "holds": not r3["nonnegative"]},
        {"item": "rho_3 < 1 possible with the valid B.4 variant for delta <= 1 ((1+theta), (1+1/theta))",
         "paper": "rho < 1", "derived at the choice":
             f"b3' - a3 = {sp.sstr(r3c['b3c_minus_a3_delta_1_over_1_plus_p'])} >= 0 (delta = 1/(1+p))",
         "holds": not r3c["nonnegative"]},
    ]

    req_lines = []
    for name, v in det["requirements"].items():
        req_lines.append(f"${name.split(' ')[0]}$: ${sp.latex(v['at_choice'])}$; with "
                         r"$\delta=\frac{1+p}{2+p},\ \theta=\frac{1+q}{2+q}$ ($p,q>0$): "
                         f"$\\frac{{{sp.latex(v['numerator'])}}}{{{sp.latex(v['denominator'])}}}$ "
                         f"({'all coefficients positive: > 0' if v['proved_positive'] else 'NOT proved positive'})")
    a = tc.lhs_multipliers()
    b = tc.rhs_multipliers()
    details = "\n".join([
        "**Transcription** (App. C, potential after eq. (45); $K=\\eta_\\lambda-|\\mathcal H|R^2/C$):",
        latex_block("LHS multipliers (potential)", sp.Matrix(a).T, lhs="(a_1,a_2,a_3,a_4)"),
        latex_block("RHS multipliers", sp.Matrix(b).T, lhs="(b_1,\\dots,b_5)"),
        latex_block("general rate", tc.general_rho(), lhs="\\rho"),
        latex_block("general Phi_1", tc.general_phi1(), lhs="\\Phi_1"),
        latex_block("final display of the proof", tc.paper_final_division(),
                    lhs="\\mathbb{E}\\,\\mathrm{KL}(\\pi^\\star\\|\\hat\\pi_t)+\\|\\lambda^\\star-\\hat\\lambda_t\\|^2\\le"),
        "**Requirements at the choice, for all $\\delta,\\theta\\in(1/2,1)$** (substitution and sign of coefficients; "
        "every symbol positive):",
        "\n".join(f"- {ln}" for ln in req_lines), "",
        side_by_side("Eq. (46)", det["eq46"]["general"], det["eq46"]["candidate"], lhs="\\rho",
                     derived_label="general rho at delta = theta = 3/4",
                     note=f"The four terms are ${sp.latex(det['eq46']['terms'])}$; the fourth, $6/11<50/63$, drops out of the max. "
                          f"Difference: ${sp.latex(det['eq46']['difference'])}$."),
        side_by_side("Eq. (47)", det["eq47"]["general"], det["eq47"]["candidate"], lhs="\\Phi_1",
                     derived_label="general Phi_1 at delta = theta = 3/4",
                     note=f"Difference (expanded): ${sp.latex(det['eq47']['difference'])}$."),
        side_by_side("Denominator of the bound", proof_den, stated_den,
                     derived_label="what the potential supports (delta = 3/4)", printed_label="Thm 3.4 as stated",
                     note=(f"$a_3$ with $C=\\sqrt h R$ is ${sp.latex(det['denominator']['a3_general'])}$; equating it to the theorem's "
                           f"${sp.latex(det['denominator']['stated_term'])}$ gives $\\delta={sp.latex(audit['stated_denominator_delta'])}$, "
                           "outside $(1/2,1)$. At the choice the proof gives "
                           f"${sp.latex(proof_den_choice)}$ and the theorem "
                           f"${sp.latex(sp.simplify(stated_den.subs(tc.paper_choice())))}$; with $\\beta=b\\sqrt h R$ they differ exactly for "
                           f"$b\\in {sp.latex(dd['beta_over_sqrt_h_R_where_they_differ'])}$, i.e. $\\beta>\\sqrt h R_{{\\max}}/2$, where "
                           "the theorem's bound is smaller than what the proof supports.")),
        "**Max vs min in the final division.** $\\Phi_t\\ge a_1\\,\\mathbb{E}\\mathrm{KL}+a_3\\|\\lambda^\\star-\\hat\\lambda_t\\|^2"
        "\\ge\\min(a_1,a_3)(\\mathbb{E}\\mathrm{KL}+\\|\\cdot\\|^2)$ is valid; the max is not. Witness at the choice with "
        f"$\\beta={sp.latex(wit['beta'])}$, $\\mathbb{{E}}\\mathrm{{KL}}=1$, $\\|\\cdot\\|^2=0$: the potential's part is "
        f"${sp.latex(wit['potential_part'])}$ $<$ $\\max(a_1,a_3)\\cdot1={sp.latex(wit['max_times_distance'])}$. "
        "Also: the proof states $\\Phi_t\\le\\rho^t\\Phi_1$ although $\\Phi_{t+1}\\le\\rho\\Phi_t$ gives $\\rho^{t-1}\\Phi_1$; "
        "the final $\\rho^t/\\rho$ is consistent with the latter.",
        "",
        "**Lemma B.4 at eq. (44).** The proof lower-bounds $\\|\\lambda_t-\\hat\\lambda_t\\|^2$ by Lemma B.4 with "
        "$\\delta=\\theta=3/4$. Lemma B.4 holds iff $\\delta\\ge1$ (see `lemmas-B.2-B.4-B.8`): at $\\delta=\\theta=3/4$ and "
        "$\\lambda_t=\\hat\\lambda_{t+1}=\\hat\\lambda_t\\neq\\lambda^\\star$ the left side is 0 and the right side is "
        f"${sp.latex(b4['rhs']) if b4 else '0'}\\,\\|\\hat\\lambda_t-\\lambda^\\star\\|^2>0$. With $\\delta=1+u\\ge1$ "
        f"(where the lemma is valid), at the choice $b_3-a_3={sp.latex(r3['b3_minus_a3_delta_1_plus_u'])}\\ge0$ and "
        f"$a_3={sp.latex(r3['a3_at_delta_1_plus_u'])}$, so $b_3/a_3\\ge1$ (or $a_3\\le0$). The valid variant for $\\delta\\le1$ (bound $\\|b+c\\|^2$ from above, "
        "coefficients $(1+\\theta)$, $(1+1/\\theta)$) gives, with $\\delta=1/(1+p)$, "
        f"$b_3'-a_3={sp.latex(r3c['b3c_minus_a3_delta_1_over_1_plus_p'])}\\ge0$ as well. Either way the requirement $\\rho<1$ cannot be met "
        "within this argument: the constants reduce correctly, but the contraction $\\Phi_{t+1}\\le\\rho\\Phi_t$ is not "
        "established by the proof as written (the `thm-3.4-lyapunov` check measures it along trajectories).",
        "",
        "**Transcription slips in the proof (no effect on eqs. (46)/(47)):** the verification of $\\rho<1$ writes "
        "$C_2/(\\eta_\\theta+\\beta-C)=\\sqrt hR/(3\\sqrt hR-\\beta-\\sqrt{hR})<1/2$ 'because $\\beta>0$' - with $-\\beta$ the "
        "inequality would be reversed; the correct term is $\\sqrt hR/(2\\sqrt hR+\\beta)<1/2$, as in eq. (46). Several places "
        "write $\\sqrt{hR}$ for $\\sqrt h R$, and eqs. (46)/(47) write $\\sqrt{\\mathcal H}$ for $\\sqrt{|\\mathcal H|}$.",
        "",
        "**Corrected statement** (what the proof's own constants support, $\\delta=\\theta=3/4$):",
        f"$${tc.corrected_statement_latex()}$$",
        "with $\\rho$ of eq. (46) and $\\Phi_1$ of eq. (47) (conditional on the contraction step, see above).",
    ])
    summary = (f"Requirements proved positive on all of delta, theta in (1/2,1) and eqs. (46)/(47) reproduce "
               f"({audit['rho_reduces_to_eq46']}/{audit['phi1_reduces_to_eq47']}); but the theorem's 7/4 eta_lam - 3/4 sqrt(h)R "
               f"needs delta = {sp.sstr(audit['stated_denominator_delta'])} (proof: 5/4 eta_lam - 1/4 sqrt(h)R), which changes the "
               f"bound iff beta > sqrt(h)R_max/2, and the proof's last step divides by a max where the min is needed. "
               f"Separately, eq. (44) applies Lemma B.4 at delta = theta = 3/4, where it is false"
               f"{' (witness 0 >= ' + sp.sstr(b4['rhs']) + ' ||lam_hat_t - lam*||^2)' if b4 else ''}.")
    return CheckResult(
        id=ID, paper_ref=PAPER_REF, claim=CLAIM, verdict=verdict,
        computed=sp.sstr(proof_den), stated=sp.sstr(stated_den), comparison="==",
        tolerance=None, tolerance_reason="exact symbolic arithmetic (sympy); positivity by substitution and coefficient signs",
        summary=summary, evidence=evidence, details=details,
        instances=[{"name": "symbolic", "seed": None, "choice": "eta_th = eta_lam = 3 sqrt(h) R, C1 = C2 = C = sqrt(h) R"}],
        conventions=["sqrt(H) in eqs. (46), (47) read as sqrt(|H|).",
                     "Positivity on the open range proved by delta = (1+p)/(2+p), theta = (1+q)/(2+q) with p, q > 0 and "
                     "checking that numerator and denominator polynomials have coefficients of one sign (no sampling)."],
        wall_time=time.perf_counter() - t0, profile=ctx.profile, seed=ctx.seed)


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM,
                expected="eqs. (46),(47) reproduce; denominator needs delta = 1/4; final division by max: inconsistent",
                order=23)
def run(ctx: CheckContext) -> CheckResult:
    """Audit Thm 3.4's constants symbolically against its proof's potential and rate."""
    return evaluate(ctx)
