"""Check ``lemmas-B.9-B.12``: the lemmas behind Cor 3.10 (App. B), each on seeded draws, and the steps of
Lemma B.11's proof on non-tabular classes, with exact/mpmath witnesses for every step that fails.

* B.9 (prox three-point, Euclidean, Omega = R^h_+): ``x_new = argmax <g,x> - eta ||x - x_old||^2``
  satisfies ``<g, x_new - x'> + eta (D(x',x_old) - D(x',x_new) - D(x_new,x_old)) >= 0`` for all x' in Omega.
* B.10 (KL three-point on the simplex, eq. (22)).
* B.11 and its proof (eqs. (25)-(28)), on the class ``p_theta(y0) = 0.2 + 0.1 theta^2`` of the Cor 3.10
  counterexample: (a) the optimality condition over Pi_Theta used for every pi' in Pi_eff (the proof's first step);
  (b) ``|<log(pi_new/pi_theta), pi_theta - pi'>| <= (1 + 1/p_min) KL(pi_theta || pi_new)`` (eq. (27));
  (c) "pi_new corresponds to the theta* of Assumption 3.9" (step (c)); (d) Assumption 3.8 (a mean over y)
  used as a bound on the sum over y (step (d)); (e) the lemma's conclusion at the exact step with eps = 0.
* Cor B.12 at the same point.
* B.9 with the KL Bregman divergence (negative entropy) on the simplex and on ``{x >= p_min}``.
* The lemma's update ``theta_new = theta_old + w/(eta+beta)`` omits the ``Proj_Theta`` of eqs. (8)/(10); the proof
  calls ``Pi_Theta`` convex although only ``Theta`` is assumed convex (a class over a convex Theta that is not a convex
  set of policies, exact).

Readings and weights: step (a) fails for pi' outside Pi_Theta, but App. E applies the lemma only with pi' in Pi_Theta
(severity "misstatement"); step (c) is a conflict between two readings of theta* (Assumption 3.9: the exact NPG step;
the proof: the class maximiser), so INCONSISTENT; steps (e) and Cor. B.12 are judged with theta* as Assumption 3.9
defines it.
"""
from __future__ import annotations

import math
from fractions import Fraction

import mpmath as mp
import numpy as np
import sympy as sp

from opdcheck.logspace import kl_rows
from opdcheck.paper_checks.claims import A39, A39_VS_PROOF
from opdcheck.numerics.replay.lemma_b11 import b11_steps, exceeds
from opdcheck.paper_checks.studies import tolerance_controls as tolc
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


def _kl_vec(a, b):
    return float(np.sum(a * (np.log(a) - np.log(b))))


def _kl_prox_floor(g, x_old, eta, floor):
    """``argmax_{x in simplex, x >= floor} <g, x> - eta KL(x || x_old)``: ``x = max(floor, x_old exp(g/eta - nu))``
    with the normaliser ``nu`` found by bisection (the KKT conditions of the truncated simplex)."""
    base = np.log(x_old) + g / eta
    lo, hi = float(np.max(base)) - 60.0, float(np.max(base)) + 60.0
    for _ in range(200):
        nu = 0.5 * (lo + hi)
        s = float(np.sum(np.maximum(floor, np.exp(base - nu))))
        if s > 1.0:
            lo = nu
        else:
            hi = nu
    x = np.maximum(floor, np.exp(base - 0.5 * (lo + hi)))
    return x / x.sum()


def b9_kl_draws(rng, n, floor=0.0, outside=False):
    """Lemma B.9 with ``h`` = negative entropy (``D_h`` = KL) on ``Omega`` = the simplex (``floor = 0``) or on the
    closed convex ``{x >= floor}`` (the constraint active). Returns the min over draws of
    ``<g, x_new - x'> - eta (-D(x', x_old) + D(x', x_new) + D(x_new, x_old))`` with ``x'`` in ``Omega`` (or, with
    ``outside=True``, a full-support ``x'`` that violates ``x' >= floor``: the lemma does not claim those)."""
    worst = np.inf
    for _ in range(n):
        k = int(rng.integers(3, 8))
        g = rng.normal(size=k) * 3
        x_old = rng.dirichlet(np.ones(k)) * (1 - k * floor) + floor
        eta = float(rng.uniform(0.2, 3))
        x_new = _kl_prox_floor(g, x_old, eta, floor) if floor > 0 else x_old * np.exp(g / eta) / np.sum(x_old * np.exp(g / eta))
        if outside:
            j = int(np.argmax(g))  # x' concentrated where the gain is largest, below the floor elsewhere
            xp = np.full(k, floor / 10)
            xp[j] = 1 - floor / 10 * (k - 1)
        else:
            xp = rng.dirichlet(np.ones(k) * 0.3) * (1 - k * floor) + floor
        val = float(g @ (x_new - xp)) - eta * (-_kl_vec(xp, x_old) + _kl_vec(xp, x_new) + _kl_vec(x_new, x_old))
        worst = min(worst, val)
    return worst


def pi_theta_convexity() -> dict:
    """Exact (sympy): the class softmax(2(1-t), 2t, 12 t(1-t)) over the convex Theta = [0, 1] is not a convex set of
    policies: the midpoint of pi_0 and pi_1 has pi(y0) = pi(y1), which in the class forces t = 1/2 (pi(y0)/pi(y1) =
    exp(2 - 4t)), and pi_{1/2}(y2) differs from the midpoint's."""
    t = sp.Symbol("t")
    z = [2 * (1 - t), 2 * t, 12 * t * (1 - t)]

    def pol(v):
        e = [sp.exp(zz.subs(t, v)) for zz in z]
        return [ee / sum(e) for ee in e]

    p0, p1, ph = pol(0), pol(1), pol(sp.Rational(1, 2))
    mid = [(a + b) / 2 for a, b in zip(p0, p1)]
    diff = sp.nsimplify(sp.simplify(ph[2] - mid[2]))
    return {"midpoint pi(y2)": float(mid[2]), "pi_(1/2)(y2)": float(ph[2]), "difference": float(diff),
            "ratio pi(y0)/pi(y1) in the class": "exp(2 - 4t)", "not convex": bool(abs(float(diff)) > 1e-6)}


def missing_projection() -> dict:
    """The lemma's update theta_new = theta_old + w/(eta+beta) (no Proj_Theta) on the Cor 3.10 class p_theta(y0) =
    1/5 + theta^2/10, Theta = [-1, 1], at theta_old = 9/10 with g = (1, 0), pi_ref = p_0, beta = 1/20, eta = 1/2:
    exact. The unprojected step leaves Theta (eqs. (8)/(10) would project it back). The class, its score and its
    Fisher information are :func:`opdcheck.theory.alg3.counterexample_closed_forms`'s (sympy differentiates the
    class; no derivative is written by hand here)."""
    from opdcheck.theory.alg3 import counterexample_closed_forms

    cf = counterexample_closed_forms()
    theta = next(iter(cf["p"].free_symbols))
    th = Fraction(9, 10)
    beta, eta = Fraction(1, 20), Fraction(1, 2)
    at = {theta: sp.Rational(th.numerator, th.denominator)}
    p = Fraction(str(sp.nsimplify(cf["p"].subs(at))))
    score = [Fraction(str(sp.nsimplify(sp.simplify(cf[k].subs(at))))) for k in ("score_y0", "score_y1")]  # d log pi / d theta
    F = Fraction(str(sp.nsimplify(sp.simplify(cf["fisher"].subs(at)))))
    # advantage-weighted score with g = (1, 0) and the KL-to-reference term (log-ratio evaluated in floats, exact enough)
    pref = Fraction(1, 5)
    lr = [math.log(float(p / pref)), math.log(float((1 - p) / (1 - pref)))]
    gvec = [1.0, 0.0]
    grad = float(p) * (gvec[0] - float(beta) * lr[0]) * float(score[0]) + float(1 - p) * (gvec[1] - float(beta) * lr[1]) * float(score[1])
    w = grad / float(F)
    th_new = float(th) + w / float(eta + beta)
    return {"theta_old": float(th), "w": w, "theta_new (lemma, unprojected)": th_new, "Theta": [-1.0, 1.0],
            "leaves Theta": abs(th_new) > 1.0}



def _b11a_figure(ctx: CheckContext, d: dict, eta_small: float) -> str:
    """Lemma B.11 step (a) made visible: <grad f(pi_new), pi_new - pi'> over pi'(y0) in (0, 1). It is >= 0 on
    the class image (where the class maximiser's optimality condition speaks) and < 0 beyond it, where the proof uses it."""
    from opdcheck.paper_checks.figures import plt, save_figure

    q = np.linspace(0.001, 0.999, 400)
    val = d["grad_diff"] * (d["q_new"] - q)
    fig, ax = plt.subplots(figsize=(6.4, 3.9), dpi=110)
    ax.axvspan(0.2, 0.3, color="C2", alpha=0.15, label=r"class image $\{\pi_\theta(y_0)\} = [0.2, 0.3]$")
    ax.plot(q, val, lw=1.6, label=r"$\langle \nabla f(\pi_{new}), \pi_{new} - \pi' \rangle$")
    ax.axhline(0.0, color="0.3", lw=1.0, ls="--", label=r"the proof needs $\geq 0$ for every $\pi' \in \Pi_{eff}$")
    ax.plot([d["q_prime"]], [d["grad_diff"] * (d["q_new"] - d["q_prime"])], "X", color="C3", ms=11,
            label=rf"witness $\pi'(y_0)$ = {d['q_prime']:.3f}: {d['grad_diff'] * (d['q_new'] - d['q_prime']):.3g} < 0")
    ax.set_xlabel(r"$\pi'(y_0)$")
    ax.set_ylabel("value of the optimality condition")
    ax.set_title(rf"Lemma B.11 (a) on the Cor 3.10 class ($\beta$ = 0.05, $\eta$ = {eta_small:g}, "
                 rf"$\pi_{{new}}(y_0)$ = {d['q_new']:.3g})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    path, rel = ctx.figure_path("lemma-B.11a.png")
    save_figure(fig, path)
    return rel


def evaluate(ctx: CheckContext, b9_slack: float = 0.0) -> CheckResult:
    rng = ctx.rng("lemmas-B.9-B.12")
    n = 4000 if ctx.full else 1000
    w9 = b9_draws(rng, n, b9_slack)
    w10 = b10_draws(rng, n)
    w9kl = b9_kl_draws(ctx.rng("lemmas-B.9-kl"), n // 4)
    w9kl_floor = b9_kl_draws(ctx.rng("lemmas-B.9-kl-floor"), n // 4, floor=0.05)
    findings = [
        Finding(name="Lemma B.9 (Euclidean prox three-point)", claim="eq. (20) and its consequence", comparison=">=",
                verdict=Verdict.CONFIRMED if not exceeds(0.0, w9) else Verdict.INCONCLUSIVE, computed=w9, stated=0.0, judged=n,
                sentence=f"min over {n} seeded draws (h = 1..5, x' on faces of R^h_+) of LHS = {w9:.3g} >= 0.",
                statement="lemma-B.9", reading="charitable (Euclidean, as App. E uses it)", severity="substantive"),
        Finding(name="Lemma B.9 with the KL Bregman divergence", claim="eq. (19) with h = negative entropy (D_h = KL) on the "
                "simplex, and on the closed convex {x >= p_min} where the constraint is active", comparison=">=",
                verdict=Verdict.CONFIRMED if not exceeds(0.0, min(w9kl, w9kl_floor)) else Verdict.INCONCLUSIVE,
                computed={"simplex": w9kl, "x >= 0.05": w9kl_floor}, stated=0.0, judged=2 * (n // 4),
                sentence=(f"min over {n // 4} draws of LHS - RHS: {w9kl:.3g} on the simplex (an identity: x_new is interior) and "
                          f"{w9kl_floor:.3g} on {{x >= 0.05}} with the floor active, x' in Omega. The negative entropy is not "
                          "continuously differentiable on the closed simplex as the lemma's hypothesis b) asks; read on the "
                          "relative interior (or on {x >= p_min}) the lemma holds."),
                statement="lemma-B.9", reading="literal (KL Bregman on the simplex (relative interior) and on {x >= p_min})",
                severity="substantive"),
        Finding(name="Lemma B.10 (KL three-point)", claim="eq. (22)", comparison=">=",
                verdict=Verdict.CONFIRMED if not exceeds(0.0, w10) else Verdict.INCONCLUSIVE, computed=w10, stated=0.0, judged=n,
                sentence=f"min over {n} seeded draws (n = 2..7) of LHS - RHS = {w10:.3g} (an identity up to rounding).",
                statement="lemma-B.10", reading="literal", severity="substantive"),
    ]
    steps = b11_steps()
    for s in steps:
        key = s["step"][:3]
        v = Verdict.REFUTED if s["fails"] else Verdict.CONFIRMED
        statement, reading, severity, note = "lemma-B.11", "literal", "substantive", ""
        if s["fails"] and key == "(d)":
            v = Verdict.INCONSISTENT  # two of the paper's own definitions disagree by a constant factor
            statement, severity = "lemma-B.11-d", "misstatement"
        elif key == "(a)":
            statement, severity = "lemma-B.11-a", "misstatement"
            note = (" Weight: App. E applies the lemma (through Cor. B.12) only with pi' = pi* (the in-class optimum) and "
                    "pi' = pi_hat_(t+1), both in Pi_Theta, so the part of 'for any pi' in Pi_eff' that fails is not used there.")
        elif s["fails"] and key == "(c)":
            # two readings of theta*: Assumption 3.9 defines it as the exact NPG step (8)/(10); the proof's step (c) needs
            # the KL-proximal maximiser over the class. They differ, so the text is inconsistent with itself.
            v = Verdict.INCONSISTENT
            statement, reading = "lemma-B.11-c", A39_VS_PROOF
            note = (" Assumption 3.9 defines theta* as the exact update of eqs. (8)/(10); the proof's step (c) needs the "
                    "maximiser of f over Pi_Theta. Read as the NPG step, the lemma's conclusion fails (step (e)); read as the "
                    "class maximiser, Assumption 3.9 does not bound what Algorithm 3 computes.")
        elif key == "(b)":
            statement = "lemma-B.11-b"
        elif key == "(e)":
            statement, reading = "lemma-B.11", A39
        elif s["step"].startswith("Cor"):
            statement, reading = "cor-B.12", A39
        wit = s["replay"] if s["fails"] else None  # the 50-digit / exact evaluation of the step (replay layer)
        findings.append(Finding(
            name=f"Lemma B.11 {s['step']}" if not s["step"].startswith("Cor") else s["step"], claim=s["claim"], verdict=v,
            computed=mp.nstr(s["lhs"], 12), stated=mp.nstr(s["rhs"], 12), comparison="<=" if "(b)" in s["step"] else ">=",
            sentence=("fails: " if s["fails"] else "holds: ") + s["witness"] + "." + note,
            witness=wit, statement=statement, reading=reading, severity=severity))
    mp_ = missing_projection()
    findings.append(Finding(
        name="Lemma B.11's update omits Proj_Theta",
        claim="Lemma B.11 / Cor. B.12 take theta_new = theta_old + w/(eta+beta), while eqs. (8)/(10), to which App. E applies "
              "them, project onto Theta",
        verdict=Verdict.INCONSISTENT if mp_["leaves Theta"] else Verdict.CONFIRMED, computed=mp_,
        stated="theta_new = Proj_Theta(theta_old + w/(eta+beta)) in Algorithm 3", comparison="identity", judged=1,
        sentence=(f"on the Cor 3.10 class (Theta = [-1, 1]) at theta_old = {mp_['theta_old']:g}, the lemma's unprojected step "
                  f"gives theta_new = {mp_['theta_new (lemma, unprojected)']:.4f}, outside Theta; Algorithm 3 projects it back, "
                  "so whenever the projection is active the iterate App. E bounds is not the one the lemma describes."
                  if mp_["leaves Theta"] else "the unprojected step stays in Theta on the case tried."),
        statement="lemma-B.11-projection", reading="literal", severity="substantive"))
    cv = pi_theta_convexity()
    findings.append(Finding(
        name="Pi_Theta called convex",
        claim="proof of Lemma B.11, first step: \"pi_new = argmax over Pi_Theta and Pi_Theta is the convex set\" (only Theta is "
              "assumed convex)",
        verdict=Verdict.INCONSISTENT if cv["not convex"] else Verdict.CONFIRMED, computed=cv,
        stated="Pi_Theta convex", comparison="identity", judged=1,
        sentence=(f"a smooth class over the convex Theta = [0, 1], softmax(2(1-t), 2t, 12t(1-t)), is not a convex set of "
                  f"policies: the midpoint of pi_0 and pi_1 has pi(y0) = pi(y1), which in the class forces t = 1/2, but "
                  f"pi_(1/2)(y2) = {cv['pi_(1/2)(y2)']:.4f} vs the midpoint's {cv['midpoint pi(y2)']:.4f} (exact, sympy). The "
                  "first-order optimality condition of the proof's first step needs a convex feasible set of policies, which the hypotheses "
                  "do not give." if cv["not convex"] else "the class tried is convex."),
        statement="lemma-B.11-projection", reading="literal", severity="substantive"))
    controls = [Control(name="B.9 with a false slack of -1 (must be caught)", kind="negative",
                        passed=b9_draws(ctx.rng("lemmas-B.9-neg"), 200, slack=-1.0) < 0, detail="min LHS < 0 with slack -1"),
                Control(name="B.9 (KL, floor active) with x' outside Omega is not covered (the judge sees the failure)",
                        kind="negative", passed=b9_kl_draws(ctx.rng("lemmas-B.9-kl-out"), 50, floor=0.05, outside=True) < 0,
                        detail="x' below the floor: LHS - RHS < 0")]
    controls += tolc.at_most_controls("an inequality fails beyond its rounding slack (LEMMA_B11_ATOL)",
                                      lambda d: not exceeds(d, 0.0), LEMMA_B11_ATOL)
    failing = [s["step"] for s in steps if s["fails"]]
    figures = [_b11a_figure(ctx, steps[0]["plot"], eta_small=0.1)] if steps and steps[0]["fails"] else []
    return CheckResult(
        figures=figures,
        verdict=None,
        computed={"B.9 min": w9, "B.9 KL min": min(w9kl, w9kl_floor), "B.10 min": w10, "failing steps": failing}, stated={"all": ">= 0 / holds"},
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
