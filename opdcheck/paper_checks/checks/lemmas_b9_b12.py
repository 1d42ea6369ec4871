"""Check ``lemmas-B.9-B.12``: the lemmas behind Cor 3.10 (App. B), each on seeded draws, and the steps of
Lemma B.11's proof on non-tabular classes, with exact/mpmath witnesses for every step that fails.

* B.9 (prox three-point, Euclidean, Omega = R^h_+): ``x_new = argmax <g,x> - eta ||x - x_old||^2``
  satisfies ``<g, x_new - x'> + eta (D(x',x_old) - D(x',x_new) - D(x_new,x_old)) >= 0`` for all x' in Omega.
* B.10 (KL three-point on the simplex, eq. (22)).
* B.11 and its proof (eqs. (25)-(28)), on the class ``p_theta(y0) = 0.2 + 0.1 theta^2`` of the Cor 3.10
  counterexample: (a) the optimality condition over Pi_Theta used for every pi' in Pi_eff ([240]);
  (b) ``|<log(pi_new/pi_theta), pi_theta - pi'>| <= (1 + 1/p_min) KL(pi_theta || pi_new)`` (eq. (27));
  (c) "pi_new corresponds to the theta* of Assumption 3.9" ([248]); (d) Assumption 3.8 (a mean over y)
  used as a bound on the sum over y ([249]); (e) the lemma's conclusion at the exact step with eps = 0.
* Cor B.12 at the same point.
"""
from __future__ import annotations


import mpmath as mp
import numpy as np

from opdcheck.logspace import kl_rows
from opdcheck.numerics.replay.lemma_b11 import b11_steps
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict
from opdcheck.tolerances import LEMMA_B11_ATOL

ID = "lemmas-B.9-B.12"
PAPER_REF = "Lemmas B.9, B.10, B.11, Cor. B.12 (App. B), eqs. (20)-(28)"
CLAIM = "The three-point lemmas B.9, B.10, the inexact-NPG lemma B.11 (with eq. (28)) and Cor. B.12."


def b9_draws(rng, n, slack=0.0):
    worst = np.inf
    for _ in range(n):
        h = int(rng.integers(1, 6))
        g, x_old, eta = rng.normal(size=h), np.abs(rng.normal(size=h)), float(rng.uniform(0.1, 5))
        x_new = np.maximum(x_old + g / (2 * eta), 0.0)
        xp = np.abs(rng.normal(size=h)) * rng.integers(0, 2, size=h)
        D = lambda a, b: float(np.sum((a - b) ** 2))  # noqa: E731
        val = float(g @ (x_new - xp)) + eta * (D(xp, x_old) - D(xp, x_new) - D(x_new, x_old)) + slack
        worst = min(worst, val)
    return worst


def b10_draws(rng, n):
    worst = np.inf
    for _ in range(n):
        k = int(rng.integers(2, 8))
        g = rng.normal(size=k) * 2
        old, ref, xp = (rng.dirichlet(np.ones(k)) for _ in range(3))
        eta, beta = float(rng.uniform(0.1, 5)), float(rng.uniform(0.01, 2))
        z = (g + eta * np.log(old) + beta * np.log(ref)) / (eta + beta)
        new = np.exp(z - z.max())
        new /= new.sum()
        kl = lambda a, b: float(kl_rows(a[None], b[None])[0])  # noqa: E731
        lhs = float(g @ (new - xp)) - beta * (kl(new, ref) - kl(xp, ref))
        rhs = eta * (-kl(xp, old) + kl(xp, new) + kl(new, old)) + beta * kl(xp, new)
        worst = min(worst, lhs - rhs)
    return worst


def evaluate(ctx: CheckContext, b9_slack: float = 0.0) -> CheckResult:
    rng = ctx.rng("lemmas-B.9-B.12")
    n = 4000 if ctx.full else 1000
    w9 = b9_draws(rng, n, b9_slack)
    w10 = b10_draws(rng, n)
    findings = [
        Finding(name="Lemma B.9 (Euclidean prox three-point)", claim="eq. (20) and its consequence", comparison=">=",
                verdict=Verdict.CONFIRMED if w9 >= -LEMMA_B11_ATOL else Verdict.INCONCLUSIVE, computed=w9, stated=0.0, judged=n,
                sentence=f"min over {n} seeded draws (h = 1..5, x' on faces of R^h_+) of LHS = {w9:.3g} >= 0."),
        Finding(name="Lemma B.10 (KL three-point)", claim="eq. (22)", comparison=">=",
                verdict=Verdict.CONFIRMED if w10 >= -LEMMA_B11_ATOL else Verdict.INCONCLUSIVE, computed=w10, stated=0.0, judged=n,
                sentence=f"min over {n} seeded draws (n = 2..7) of LHS - RHS = {w10:.3g} (an identity up to rounding)."),
    ]
    steps = b11_steps()
    for s in steps:
        v = Verdict.REFUTED if s["fails"] else Verdict.CONFIRMED
        if s["fails"] and s["step"].startswith("(d)"):
            v = Verdict.INCONSISTENT  # two of the paper's own definitions disagree by a constant factor
        findings.append(Finding(
            name=f"Lemma B.11 {s['step']}" if not s["step"].startswith("Cor") else s["step"], claim=s["claim"], verdict=v,
            computed=mp.nstr(s["lhs"], 12), stated=mp.nstr(s["rhs"], 12), comparison="<=" if "(b)" in s["step"] else ">=",
            sentence=("fails: " if s["fails"] else "holds: ") + s["witness"] + ".",
            witness=s["replay"] if s["fails"] else None))
    controls = [Control(name="B.9 with a false slack of -1 (must be caught)", kind="negative",
                        passed=b9_draws(ctx.rng("lemmas-B.9-neg"), 200, slack=-1.0) < 0, detail="min LHS < 0 with slack -1")]
    failing = [s["step"] for s in steps if s["fails"]]
    return CheckResult(
        verdict=None,
        computed={"B.9 min": w9, "B.10 min": w10, "failing steps": failing}, stated={"all": ">= 0 / holds"},
        comparison=">=", tolerance=LEMMA_B11_ATOL, tolerance_reason="float64 sums of <= 50 terms on the random draws",
        evidence=[{"step": s["step"], "lhs": mp.nstr(s["lhs"], 12), "rhs": mp.nstr(s["rhs"], 12), "fails": s["fails"],
                   "witness": s["witness"]} for s in steps],
        findings=findings, controls=controls, judged=2 * n + len(steps),
        details=("Diagnosis: Lemma B.11 needs (i) pi' restricted to Pi_Theta (the optimality condition of the class maximiser says "
                 "nothing about the rest of Pi_eff, and Pi_Theta need not be convex as a set of policies even when Theta is), "
                 "(ii) theta* of Assumption 3.9 to be the class maximiser, not the NPG step, and (iii) a valid bound for the log-ratio "
                 "inner product (it is first order in the perturbation while KL is second order: Pinsker-type sqrt(KL) bounds with a "
                 "(log 1/p_min) factor are the available repair). With (ii) false, B.11's conclusion fails at eps_approx = 0 (step (e)), "
                 "and so does Cor. B.12 - which is exactly the Cor 3.10 counterexample."),
        instances=[{"name": "seeded draws + the Cor 3.10 counterexample class", "seed": ctx.seed}],
        )


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM,
                expected="B.11's proof steps to be tested", order=74)
def run(ctx: CheckContext) -> CheckResult:
    """Lemmas B.9, B.10 on draws; each step of B.11's proof and Cor B.12 with mpmath/exact witnesses."""
    return evaluate(ctx)
