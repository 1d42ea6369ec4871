"""Check ``bilinear-gda``: the §3 example - simultaneous GDA on x^T A y spirals out; optimism contracts.

Symbolic (sympy, :mod:`opdcheck.theory.bilinear`): eigenvalues of ``I - alpha J`` on a 2x2 block
with a general singular value, their modulus, and the exact stability condition of the optimistic
(past-extragradient) map. Numerical: both methods on a seeded random full-rank A.

Findings: GDA eigenvalues (symbolic); GDA last iterate spirals out (a failure carries a rational
witness replayed in Fractions); measured GDA growth vs the exact radius (lambdified from sympy);
the optimistic stability condition, measured inside (0.3) and outside (0.7) of 1/sqrt(3). Controls:
optimism contracts at 0.3, grows at 0.7 (negative); the divergence test rejects a damped block; the
optimistic characteristic polynomial factorises.

Example
-------
>>> from opdcheck.theory import bilinear as bl
>>> bl.gda_eigenvalues()  # modulus sqrt(1 + alpha^2 sigma^2) > 1: the last iterate spirals out
[I*alpha*sigma + 1, -I*alpha*sigma + 1]
>>> bl.popov_stability_condition()["boundary"]  # optimism contracts iff alpha sigma_max < 1/sqrt(3)
sqrt(3)/3
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from opdcheck.kernels.bilinear import random_full_rank, run_gda, run_optimistic
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.figures import save_semilogy
from opdcheck.paper_checks.registry import register_check
from opdcheck.numerics.replay import exact as ew
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict
from opdcheck.paper_checks.studies.tolerance_controls import close_gate_controls
from opdcheck.theory import bilinear as bl
from opdcheck.theory.render import latex_block, side_by_side
from opdcheck.tolerances import BILINEAR_RATE_ATOL, BILINEAR_UNSTABLE_S

ID = "bilinear-gda"
PAPER_REF = "§3 example (bilinear saddle point), eq. before (4)"
CLAIM = ("Simultaneous GDA on min_y max_x x^T A y is z+ = (I - alpha J) z with eigenvalues 1 ± i alpha sigma_i "
         "of modulus > 1, so its last iterate does not converge; (opdcheck) the optimistic method contracts.")


def rate_matches(measured: float, exact: float) -> bool:
    """The measured tail rate agrees with the exact spectral radius within BILINEAR_RATE_ATOL (the gate of
    the two rate findings; its own-scale control uses this same function)."""
    return bool(abs(measured - exact) <= BILINEAR_RATE_ATOL)


def _tail_rate(norms: np.ndarray, window: int) -> float:
    return float((norms[-1] / norms[-1 - window]) ** (1.0 / window))


def exact_radius_functions(mods: list[sp.Expr], radius_sq: sp.Expr | None = None):
    """Numeric spectral radii from their sympy sources: GDA ``max_i sqrt(|mu(alpha, sigma_i)|^2)`` from the
    block's squared moduli ``mods`` (None if they have symbols other than alpha, sigma) and the optimistic
    ``sqrt(rho^2(s))``."""
    gda = None
    if all(m.free_symbols <= {bl.ALPHA, bl.SIGMA} for m in mods):
        fs = [sp.lambdify((bl.ALPHA, bl.SIGMA), sp.sqrt(m), "numpy") for m in mods]
        gda = lambda alpha, sig: float(max(np.max(np.asarray(f(alpha, sig) * np.ones_like(sig))) for f in fs))  # noqa: E731
    # "math": the Piecewise becomes an if/else, so only the valid branch's square root is evaluated
    fo = sp.lambdify(bl.S, sp.sqrt(bl.popov_radius_squared() if radius_sq is None else radius_sq), "math")
    opt = lambda s_vals: float(np.max([float(fo(float(x))) for x in s_vals]))  # noqa: E731
    return gda, opt


def simulate(ctx: CheckContext, m: int = 6, T: int = 600, s_max: float = 0.3, mods: list[sp.Expr] | None = None,
             radius_sq: sp.Expr | None = None, stream: str = "bilinear") -> dict:
    """Both methods on a seeded random full-rank A with step alpha = s_max / sigma_max; exact radii from sympy."""
    rng = ctx.rng(stream)
    A = random_full_rank(m, rng)
    sig = np.linalg.svd(A, compute_uv=False)
    alpha = s_max / sig.max()
    x0, y0 = rng.normal(size=m), rng.normal(size=m)
    g = run_gda(A, x0, y0, alpha, T)
    o = run_optimistic(A, x0, y0, alpha, T)
    gda_exact, opt_exact = exact_radius_functions(bl.judge_gda_claim()["moduli_squared"] if mods is None else mods, radius_sq)
    window = T // 3
    return {"A_singular_values": sig, "alpha": alpha, "s_max": s_max, "T": T, "gda": g, "opt": o,
            "rate_gda": _tail_rate(g, window), "rate_opt": _tail_rate(o, window),
            "pred_gda": gda_exact(alpha, sig) if gda_exact else float("nan"), "pred_opt": opt_exact(alpha * sig),
            "window": window}


def _block_witness(block: sp.Matrix, judged: dict) -> dict | None:
    """A rational point where the block's largest |mu|^2 <= 1 (it does not spiral out), replayed in Fractions."""
    others = sorted((block.free_symbols - {bl.ALPHA, bl.SIGMA}), key=str)
    vals = (sp.Rational(1, 10), sp.Rational(1, 2), sp.Integer(1), sp.Integer(2))
    for s_val in (sp.Rational(1, 10), sp.Rational(1, 4), sp.Rational(1, 2), sp.Integer(1), sp.Integer(2)):
        for combo in itertools.product(vals, repeat=len(others)):
            sub = {bl.ALPHA: s_val, bl.SIGMA: sp.Integer(1), **dict(zip(others, combo))}
            mods = [sp.nsimplify(sp.simplify(m.subs(sub))) for m in judged["moduli_squared"]]
            if not all(x.is_number and x.is_real for x in mods):
                continue
            top = max(mods)
            if top <= 1:
                point = {str(k): str(v) for k, v in sub.items()}
                try:
                    entries = [[ew.as_fraction(sp.nsimplify(block[i, j].subs(sub))) for j in range(2)] for i in range(2)]
                except ValueError:
                    return None  # no exact rational point: nothing replayed (undecided)
                rep = str(top) if top.is_Rational else str(sp.N(top, 50))
                return ew.replay_block_witness(entries, rep, point)
    return None


def evaluate(ctx: CheckContext, block: sp.Matrix | None = None, claimed: list | None = None) -> CheckResult:
    """Findings: GDA eigenvalues, GDA divergence (symbolic, witness if false), measured vs exact rates, the
    optimistic stability condition; ``block``/``claimed`` injectable (a damped block or a wrong claim)."""
    judged = bl.judge_gda_claim(block)
    match = judged["match"] if claimed is None else bl.judge_gda_claim(block, claimed)["match"]
    claimed = bl.paper_gda_eigenvalues() if claimed is None else claimed
    cp = bl.popov_charpoly()
    rad2 = bl.popov_radius_squared()
    stab = bl.popov_stability_condition()
    m_dim, T = (12, 1200) if ctx.full else (6, 600)
    sim = simulate(ctx, m=m_dim, T=T, mods=judged["moduli_squared"], radius_sq=rad2)
    sim_out = simulate(ctx, m=m_dim, T=T, s_max=BILINEAR_UNSTABLE_S, mods=judged["moduli_squared"], radius_sq=rad2)  # beyond 1/sqrt(3): must grow

    f_ev = Finding(name="GDA eigenvalues (symbolic)", claim="I - alpha J has eigenvalues 1 ± i alpha sigma_i",
                   verdict=Verdict.CONFIRMED if match else Verdict.INCONSISTENT,
                   computed=sp.sstr(judged["eigenvalues"]), stated=sp.sstr(claimed), comparison="==", judged=1,
                   sentence=(f"the eigenvalues of one 2x2 block are {sp.sstr(judged['eigenvalues'])}, as the paper states"
                             if match else f"the eigenvalues of one 2x2 block are {sp.sstr(judged['eigenvalues'])} (derived), "
                             f"the paper states {sp.sstr(claimed)}") + ".")
    witness = None
    if judged["all_outside_unit_circle"]:
        v_div = Verdict.CONFIRMED
        s_div = (f"|mu|^2 = {sp.sstr(judged['moduli_squared'][0])} > 1 for every alpha sigma > 0 (solveset of |mu|^2 <= 1 "
                 "is empty), so the last iterate spirals out.")
    else:
        witness = _block_witness(block if block is not None else bl.gda_block(), judged)
        v_div = Verdict.REFUTED if witness else Verdict.INCONCLUSIVE
        s_div = (f"|mu|^2 = {sp.sstr(judged['moduli_squared'])} is not > 1 for all alpha sigma > 0"
                 + (f"; at {witness['point']} the largest |mu|^2 is {witness['replayed max |mu|^2']} "
                    f"({witness['method']} replay; sympy {witness.get('sympy max |mu|^2')})" if witness else
                    "; no rational witness found, so undecided") + ".")
    f_div = Finding(name="GDA last iterate spirals out", claim="every |mu| > 1 for alpha sigma > 0", verdict=v_div,
                    computed=sp.sstr(judged["moduli_squared"]), stated="> 1", comparison="diverges", sentence=s_div,
                    judged=1, witness=witness)
    err_g = abs(sim["rate_gda"] - sim["pred_gda"])
    if not np.isfinite(sim["pred_gda"]):
        v_m, s_m = Verdict.INCONCLUSIVE, "the exact radius of this block has free parameters: the measurement cannot be compared."
    elif rate_matches(sim["rate_gda"], sim["pred_gda"]) and (sim["rate_gda"] > 1) == (sim["pred_gda"] > 1):
        v_m = Verdict.CONFIRMED
        s_m = (f"on a seeded random full-rank A (m = {m_dim}, alpha sigma_max = {sim['s_max']}) GDA grows at "
               f"{sim['rate_gda']:.4f}/step, exact sqrt(1 + alpha^2 sigma_max^2) = {sim['pred_gda']:.4f} (|difference| {err_g:.1e}).")
    else:
        v_m = Verdict.INCONCLUSIVE
        s_m = (f"measured GDA rate {sim['rate_gda']:.4f}/step vs exact {sim['pred_gda']:.4f} (|difference| {err_g:.1e} > "
               f"{BILINEAR_RATE_ATOL:g}): the kernel and the symbolic spectrum disagree, so undecided.")
    f_meas = Finding(name="measured GDA growth vs exact", claim="GDA's measured tail rate equals its exact spectral radius (> 1)",
                     verdict=v_m, computed=sim["rate_gda"], stated=sim["pred_gda"], comparison="==", sentence=s_m, judged=1)
    err_o = abs(sim["rate_opt"] - sim["pred_opt"])
    err_o_out = abs(sim_out["rate_opt"] - sim_out["pred_opt"])
    stable_set = stab["stable_s"]
    inside = bool(stable_set.contains(sp.nsimplify(sim["s_max"])))
    outside = not bool(stable_set.contains(sp.nsimplify(BILINEAR_UNSTABLE_S)))
    ok_in = rate_matches(sim["rate_opt"], sim["pred_opt"]) and (sim["rate_opt"] < 1) == inside
    ok_out = rate_matches(sim_out["rate_opt"], sim_out["pred_opt"]) and (sim_out["rate_opt"] > 1) == outside
    s_opt = (f"the optimistic (past-extragradient) map has spectral radius < 1 iff alpha sigma_i in {sp.sstr(stable_set)} "
             f"(derived from its characteristic polynomial); measured rate {sim['rate_opt']:.4f}/step at alpha sigma_max = "
             f"{sim['s_max']} (exact {sim['pred_opt']:.4f}) and {sim_out['rate_opt']:.4f}/step at {BILINEAR_UNSTABLE_S} "
             f"(exact {sim_out['pred_opt']:.4f})")
    f_opt = Finding(name="optimistic stability condition", claim="(opdcheck) optimism contracts iff alpha sigma_max < 1/sqrt(3)",
                    verdict=Verdict.CONFIRMED if ok_in and ok_out else Verdict.INCONCLUSIVE,
                    computed={"stable alpha sigma": sp.sstr(stable_set), "rate at 0.3": sim["rate_opt"],
                              f"rate at {BILINEAR_UNSTABLE_S}": sim_out["rate_opt"]},
                    stated={"exact at 0.3": sim["pred_opt"], f"exact at {BILINEAR_UNSTABLE_S}": sim_out["pred_opt"]},
                    comparison="==", judged=2,
                    sentence=s_opt + (", matching to " + f"{max(err_o, err_o_out):.1e}." if ok_in and ok_out else
                                      f": measurement and exact radius disagree (|difference| {err_o:.1e}, {err_o_out:.1e}), so undecided."))
    findings = [f_ev, f_div, f_meas, f_opt]
    damped = sp.Matrix([[1 - bl.ALPHA * sp.Rational(1, 2), bl.ALPHA * bl.SIGMA], [-bl.ALPHA * bl.SIGMA, 1 - bl.ALPHA * sp.Rational(1, 2)]])
    caught = bl.judge_gda_claim(damped)["verdict"] == "REFUTED"
    controls = [
        Control("optimism contracts at alpha sigma_max = 0.3 < 1/sqrt(3)", "positive",
                sim["rate_opt"] < 1 and sim["opt"][-1] < sim["opt"][0],
                f"rate {sim['rate_opt']:.4f}, ||z_T||/||z_0|| = {sim['opt'][-1] / sim['opt'][0]:.2e}"),
        Control(f"optimism grows at alpha sigma_max = {BILINEAR_UNSTABLE_S} > 1/sqrt(3)", "negative",
                sim_out["rate_opt"] > 1 and sim_out["opt"][-1] > sim_out["opt"][0],
                f"rate {sim_out['rate_opt']:.4f}, ||z_T||/||z_0|| = {sim_out['opt'][-1] / sim_out['opt'][0]:.2e}"),
        Control("divergence test rejects a damped block (1 - alpha/2 on the diagonal)", "negative", caught, f"rejected: {caught}"),
        *close_gate_controls("measured vs exact bilinear rate (BILINEAR_RATE_ATOL)", rate_matches, BILINEAR_RATE_ATOL),
        Control("optimistic characteristic polynomial factorises", "positive", cp["factorisation_residual"] == 0,
                f"residual {sp.sstr(cp['factorisation_residual'])}"),
    ]

    fig_abs, fig_rel = ctx.figure_path("bilinear-gda.png")
    t = np.arange(sim["T"] + 1)
    save_semilogy(fig_abs, {"simultaneous GDA ||z_t||": (t, sim["gda"]), "optimistic (Popov) ||z_hat_t||": (t, sim["opt"]),
                            "GDA exact radius^t": (t, sim["gda"][0] * sim["pred_gda"] ** t),
                            "exact optimistic radius^t": (t, sim["opt"][0] * sim["pred_opt"] ** t)},
                  title=f"$x^\\top A y$, random full-rank A (m={len(sim['A_singular_values'])}), alpha sigma_max = {sim['s_max']}",
                  ylabel="distance to the saddle point",
                  styles={"GDA exact radius^t": "k:", "exact optimistic radius^t": "k--"})

    evidence = [
        {"method": "simultaneous GDA", "alpha sigma_max": sim["s_max"], "predicted radius": sim["pred_gda"],
         "measured tail rate": sim["rate_gda"], "|measured - predicted|": err_g, "||z_0||": sim["gda"][0], "||z_T||": sim["gda"][-1]},
        {"method": "optimistic (past-extragradient)", "alpha sigma_max": sim["s_max"], "predicted radius": sim["pred_opt"],
         "measured tail rate": sim["rate_opt"], "|measured - predicted|": err_o, "||z_0||": sim["opt"][0], "||z_T||": sim["opt"][-1]},
        {"method": "optimistic (past-extragradient)", "alpha sigma_max": BILINEAR_UNSTABLE_S, "predicted radius": sim_out["pred_opt"],
         "measured tail rate": sim_out["rate_opt"], "|measured - predicted|": err_o_out, "||z_0||": sim_out["opt"][0],
         "||z_T||": sim_out["opt"][-1]},
    ]
    details = "\n".join([
        side_by_side("Eigenvalues of one 2x2 block of I - alpha J", sp.Matrix(judged["eigenvalues"]).T,
                     sp.Matrix(claimed).T, derived_label="computed (sympy)", printed_label="paper (§3)",
                     note=f"Squared moduli ${sp.latex(judged['moduli_squared'])}$; all $>1$ for every $\\alpha\\sigma>0$: "
                          f"{judged['all_outside_unit_circle']}. $J$ is orthogonally similar (SVD of $A$) to a direct sum of "
                          "such blocks, so this covers every full-rank $A$. (The paper writes $z_t=[x_t,y_i]^\\top$, a typo "
                          "for $[x_t,y_t]^\\top$.)"),
        "**Optimistic (past-extragradient) map** $z_t=\\hat z_t-\\alpha Jz_{t-1}$, $\\hat z_{t+1}=\\hat z_t-\\alpha Jz_t$, "
        "state $(\\hat z_t,z_{t-1})$; on one block:",
        latex_block("4x4 update matrix", bl.popov_block()),
        latex_block("characteristic polynomial factor (and its conjugate), s = alpha sigma", cp["quadratic"]),
        f"(factorisation residual ${sp.latex(cp['factorisation_residual'])}$); roots ${sp.latex(bl.popov_roots())}$.",
        latex_block("squared spectral radius", rad2, lhs="\\rho^2(s)"),
        f"**Exact condition:** spectral radius $<1$ iff $s=\\alpha\\sigma_i\\in {sp.latex(stable_set)}$ for all $i$; at the "
        f"boundary the squared radius is ${sp.latex(stab['radius_at_boundary_sq'])}$.",
        "",
        f"Simulation: seeded random full-rank $A$ (singular values {np.array2string(sim['A_singular_values'], precision=3)}), "
        f"$T={sim['T']}$; tail rate over the last {sim['window']} steps compared with the exact radius (lambdified from the "
        f"sympy expressions above) to {BILINEAR_RATE_ATOL:g}.",
    ])
    return CheckResult(
        verdict=None,
        computed={"eigenvalues": sp.sstr(judged["eigenvalues"]), "gda_rate": sim["rate_gda"], "optimistic_rate": sim["rate_opt"],
                  "optimistic_stable_for_alpha_sigma_in": sp.sstr(stable_set)},
        stated={"eigenvalues": sp.sstr(claimed), "modulus": "> 1 (last iterate does not converge)"},
        comparison="diverges", tolerance=BILINEAR_RATE_ATOL,
        tolerance_reason="finite-window rate estimate vs exact radius (bias from the next-slowest mode)",
        evidence=evidence, details=details, figures=[fig_rel], findings=findings, controls=controls,
        judged=sum(f.judged for f in findings),
        instances=[{"name": "random full-rank A", "seed": ctx.seed, "stream": "bilinear", "alpha": sim["alpha"]}],
        conventions=["Optimistic first step uses z_{-1} = z_hat_0 (as for Algorithm 2).",
                     f"The run at alpha sigma_max = {BILINEAR_UNSTABLE_S} reuses the same seeded A and start."],
        )


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM,
                expected="should confirm; OPD on the same game contracts", order=50)
def run(ctx: CheckContext) -> CheckResult:
    """Symbolic spectra of GDA and the optimistic map on the bilinear game, plus a seeded simulation."""
    return evaluate(ctx)
