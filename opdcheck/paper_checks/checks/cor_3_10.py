"""Check ``cor-3.10``: Algorithm 3 with eps_approx-inexact primal steps stays within the Cor 3.10 bound.

Problem: ``random_instance(3, 4, 2, 0.5, 2)`` with the tabular class written as a log-linear class
(one-hot features, d = 12, rank F = 9, Theta = R^12): exact steps converge to the saddle point
(``remark-3.5``), runs start there, and every floor measured below is due to the inexactness.
Update: Algorithm 3, eqs. (8)-(11) (dual step prox, t = 0 convention of the driver), with each primal
step replaced by one of three Assumption 3.9 models (``kernels/inexact.py``): a seeded l1 perturbation of
size eps, sampled gradient/Fisher estimates with N samples per step, misspecified features of size sigma.
Claim (Cor 3.10, eq. (28)): ``E KL(pi*||pi_hat_t) + ||lam* - lam_hat_t||^2 <= rho^(t-1) Phi_1/min(...) +
2 (1 - rho^t)/(1 - rho) gap(eps_approx, p_min)``; and (after Assumption 3.9) eps_approx -> 0 with large batches.
Measured: the last-iterate error floor (mean over the last quarter of T steps) against the *achieved*
eps_approx = max_t ||theta_t - theta_t*||_1, over >= 5 decades per model, with the right-hand side at T
on the same axes, under two readings of p_min (the class's lower bound, and the most favourable one: the
smallest probability of pi_ref and of every iterate); fitted exponents of the floor in eps and of eps in N.

Example
-------
>>> from opdcheck.theory.alg3 import gap_eq28, gap_leading_exponent
>>> gap_leading_exponent()  # eq. (28)'s neighbourhood radius grows like eps_approx^(1/2)
1/2
"""
from __future__ import annotations

import math

import numpy as np

from opdcheck.kernels.alg3 import NaturalGradientStep, run_alg3
from opdcheck.kernels.inexact import FeatureMisspecification, InexactStep, L1Perturbation, SampledEstimates
from opdcheck.instances import random_instance
from opdcheck.kernels.policies import LogLinear
from opdcheck.kernels.potential import phi1_eq47, rho_eq46
from opdcheck.numerics.dual import solve_dual_newton
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.figures import plt, save_figure
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict
from opdcheck.paper_checks.studies.printed_controls import printed_formula_control
from opdcheck.theory.alg3 import gap_leading_exponent, gap_numeric

ID = "cor-3.10"
PAPER_REF = "Cor 3.10, eq. (28), Assumption 3.9"
CLAIM = ("With eps_approx-inexact primal steps, E KL(pi*||pi_hat_t) + ||lam*-lam_hat_t||^2 <= rho^(t-1) Phi_1/min(eta+beta, "
         "7/4 eta - 3/4 sqrt(h) R_max) + 2(1-rho^t)/(1-rho) gap(eps_approx, p_min); eps_approx -> 0 with large batches.")



def setup_sweep():
    """The sweep's instance: random_instance(3, 4, 2, beta = 0.5, seed = 2) with the tabular class written as a
    log-linear class (one-hot features, d = X n = 12, rank F = 9, Theta = R^12), so that the in-class saddle
    point is the distributional one (dual Newton, exact) and feature misspecification is meaningful."""
    p = random_instance(3, 4, 2, 0.5, 2)
    return p, LogLinear(np.eye(p.X * p.n).reshape(p.X, p.n, p.X * p.n))

MODELS = {"l1-perturbation": [10.0 ** -k for k in range(6, 0, -1)],
          "sampled": [int(10 ** k) for k in range(2, 13, 2)],
          "misspecified-features": [10.0 ** -k for k in range(6, 0, -1)]}


def _model(name, level, seed):
    if name == "l1-perturbation":
        return L1Perturbation(level, seed)
    if name == "sampled":
        return SampledEstimates(int(level), seed)
    return FeatureMisspecification(level, seed)


def sweep_task(spec, seed):
    """One (model, level) run; module-level for ``ctx.map``. ``spec = (model, level, T, pi*, lam*)``."""
    name, level, T, pi_s, lam_s, theta_s = spec
    p, cls = setup_sweep()
    eta = 3.0 * math.sqrt(p.h) * p.R_max
    # the l1 model starts at the saddle point (the floor is then the stationary radius alone); sampled and
    # misspecified steps err in proportion to the advantage, which vanishes at the saddle point of a
    # well-specified class, so those start at pi_ref (theta = log pi_ref) and their eps is the transient's
    at_saddle = name == "l1-perturbation"
    th0 = np.asarray(theta_s) if at_saddle else p.log_pi_ref.reshape(-1).copy()
    step = InexactStep(NaturalGradientStep(p, cls, eta, th0), _model(name, level, seed))
    sad = type("Saddle", (), {"pi": np.asarray(pi_s), "lam": np.asarray(lam_s)})()
    tr = run_alg3(p, cls, eta_th=eta, eta_lam=eta, T=T, dual_step="prox", saddle=sad, primal=step, keep_every=1,
                  lam_init=np.asarray(lam_s) if at_saddle else None)
    err = tr.error
    lams = np.array([it[2] for it in tr.iterates])
    pis = np.array([it[1] for it in tr.iterates])
    g_max = float(max(np.abs(p.scores(l)).max() for l in lams))
    return {"model": name, "level": float(level), "eps": step.eps_achieved, "eps_mean": step.eps_mean,
            "floor": float(np.mean(err[-(T // 4):])), "error_T": float(err[-1]), "error_0": float(err[0]),
            "g_max": g_max, "p_min_run": float(min(pis.min(), p.p_min)), "phi1": float(phi1_eq47(p, tr.metrics)),
            "diverged": bool(tr.diverged)}


def rhs_at(T, rho, phi1, denom, gap):
    return rho ** (T - 1) * phi1 / denom + 2.0 * (1.0 - rho ** T) / (1.0 - rho) * gap


def fit_exponent(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def evaluate(ctx: CheckContext, gap_fn=None) -> CheckResult:
    """The sweep; ``gap_fn`` replaces eq. (28) (negative control: a gap that is too small)."""
    T = 1200 if ctx.full else 600
    p, cls = setup_sweep()
    ds = solve_dual_newton(p)  # tabular class on R^d: the in-class saddle point is the distributional one
    theta_s = np.log(ds.pi).reshape(-1)
    ic = type("IC", (), {"pi": ds.pi, "lam": ds.lam, "theta": theta_s, "kkt": ds.kkt})()
    eta = 3.0 * math.sqrt(p.h) * p.R_max
    rho = rho_eq46(p)
    denom = min(eta + p.beta, 1.75 * eta - 0.75 * math.sqrt(p.h) * p.R_max)
    gap = gap_fn or gap_numeric()
    C = cls.lipschitz_constant()
    p_min_class = 0.0  # Theta = R^d: the class contains policies with probabilities -> 0
    specs = [(m, lv, T, ic.pi, ic.lam, ic.theta) for m, lvls in MODELS.items() for lv in lvls]
    res = ctx.map(sweep_task, specs, stream="cor-3.10", label="cor-3.10 sweep")
    rows, violations, judged = [], [], 0
    for r in res:
        rhs_fav = rhs_at(T, rho, r["phi1"], denom, gap(r["eps"], r["p_min_run"], r["g_max"], eta, p.beta, C))
        rhs_cls = rhs_at(T, rho, r["phi1"], denom, gap(r["eps"], p_min_class, r["g_max"], eta, p.beta, C)) if p_min_class > 0 else math.inf
        r.update(rhs_favourable=rhs_fav, rhs_class=rhs_cls, ratio=r["error_T"] / rhs_fav if rhs_fav > 0 else math.inf)
        judged += 1
        if r["error_T"] > rhs_fav:
            violations.append(r)
        rows.append({k: r[k] for k in ("model", "level", "eps", "floor", "error_T", "rhs_favourable", "rhs_class", "g_max", "p_min_run")})
    expo = {m: fit_exponent([r["eps"] for r in res if r["model"] == m], [r["floor"] for r in res if r["model"] == m]) for m in MODELS}
    eps_N = fit_exponent([r["level"] for r in res if r["model"] == "sampled"], [r["eps"] for r in res if r["model"] == "sampled"])
    k_gap = float(gap_leading_exponent())
    decades = {m: math.log10(max(r["eps"] for r in res if r["model"] == m) / max(min(r["eps"] for r in res if r["model"] == m), 1e-300))
               for m in MODELS}
    worst_ratio = max(r["ratio"] for r in res)
    findings = [Finding(
        name="bound holds along the sweep (favourable p_min)", claim=CLAIM,
        verdict=Verdict.CONFIRMED if not violations else Verdict.INCONCLUSIVE, computed=worst_ratio, stated="<= 1",
        comparison="<=", judged=judged,
        sentence=(f"{judged} runs ({', '.join(f'{m}: {decades[m]:.1f} decades of eps' for m in MODELS)}); the largest ratio of the "
                  f"error at T = {T} to the right-hand side is {worst_ratio:.3g}; {len(violations)} violations. Even with the most "
                  f"favourable p_min the bound is loose: floors scale like eps^{{{', '.join(f'{expo[m]:.2f}' for m in MODELS)}}} "
                  f"while gap(eps) ~ eps^{k_gap:g}."))]
    findings.append(Finding(name="fitted exponent of the floor in eps (measured)", claim="the neighbourhood radius as a function of eps",
                            verdict=Verdict.CONFIRMED, computed=expo, stated=f"eq. (28): gap ~ eps^{k_gap:g}", comparison="identity",
                            judged=sum(1 for v in expo.values() if np.isfinite(v)),
                            sentence=("fitted exponents (log floor vs log eps_achieved): " + ", ".join(f"{m} {v:.3f}" for m, v in expo.items())
                                      + ". A floor exponent near 0 means the floor is not driven by eps: sampled and misspecified steps "
                                        "err in proportion to the advantage, so they keep the exact step's fixed point and the measured "
                                        "floor is the transient of the run.")))
    findings.append(Finding(name="eps_approx -> 0 with large batches", claim="after Assumption 3.9: eps_approx can be made arbitrarily small",
                            verdict=Verdict.CONFIRMED if eps_N < 0 else Verdict.INCONCLUSIVE, computed=eps_N, stated="< 0 (N^-1/2 expected)",
                            comparison="<=", judged=len(MODELS["sampled"]),
                            sentence=f"achieved eps against N: fitted exponent {eps_N:.3f} over N = 1e2..1e12."))
    controls = [printed_formula_control(("gap_eq28",), "eq. (28)")]
    if gap_fn is None:
        tiny = lambda e, pm, g, et, b, c: 1e-6 * e ** 2  # noqa: E731  # a false, far too small gap
        rr = [r for r in res if r["model"] == "l1-perturbation"]
        caught = any(r["error_T"] > rhs_at(T, rho, r["phi1"], denom, tiny(r["eps"], 0, 0, 0, 0, 0)) for r in rr)
        controls.append(Control(name="a gap of 1e-6 eps^2 (false bound)", kind="negative", passed=caught,
                                detail=f"violated on the l1 sweep: {caught}"))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for m, mk in zip(MODELS, "osd"):
        rr = sorted([r for r in res if r["model"] == m], key=lambda r: r["eps"])
        e = [r["eps"] for r in rr]
        ax.loglog(e, [r["floor"] for r in rr], mk + "-", label=f"floor, {m} (slope {expo[m]:.2f})")
        ax.loglog(e, [r["rhs_favourable"] for r in rr], mk + "--", alpha=0.6, label=f"Cor 3.10 RHS, {m}")
    ax.set_xlabel(r"achieved $\epsilon_{approx} = \max_t \|\theta_t - \theta_t^\star\|_1$")
    ax.set_ylabel("last-iterate error floor and its bound")
    ax.set_title("Cor 3.10: error floor vs eps_approx (one-hot log-linear class, d = 12)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    path, rel = ctx.figure_path("cor310_floor_vs_eps.png")
    save_figure(fig, path)
    return CheckResult(
        verdict=None, computed={"exponents": expo, "eps_vs_N": eps_N, "max error/RHS": worst_ratio},
        stated={"bound": "error <= RHS", "gap exponent": k_gap}, comparison="<=", evidence=rows, findings=findings, controls=controls,
        judged=judged, figures=[rel],
        details=(f"rho (eq. (46)) = {rho:.5f}, denominator {denom:g}, C (Assumption 3.8) = 2 max|phi| = {C:.4g}; Theta = R^d so the "
                 "class has p_min = 0 and the class-level RHS is infinite; "
                 "the favourable reading takes p_min = min(pi_ref, every iterate). g_max = max |S_lam_hat_t| over the run. "
                 f"Saddle point (dual Newton): lam* = {np.round(ic.lam, 6).tolist()}. Sampled constraint values are not modelled "
                 "(the driver computes c exactly)."),
        instances=[{"name": p.name + ", one-hot log-linear class (d = 12, rank F = 9)", "seed": ctx.seed}],
        conventions=["t = 0 convention of the driver", "dual step prox", "eta_th = eta_lam = 3 sqrt(h) R_max",
                     "l1 runs start at the saddle point (theta_hat_0 = theta*, lam_hat_0 = lam*); sampled and misspecified runs at "
                 "theta_hat_0 = log pi_ref, lam_hat_0 = 0 (their step error is proportional to the advantage, 0 at the saddle point)",
                 "floor = mean error over the last quarter of T steps; eps = achieved max_t ||theta_t - theta_t*||_1"],
        )


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM, expected="to be measured", order=73)
def run(ctx: CheckContext) -> CheckResult:
    """eps_approx sweep over three inexactness models, floors vs the corollary's RHS, fitted exponents."""
    return evaluate(ctx)
