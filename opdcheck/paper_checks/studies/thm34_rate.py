"""Rates against eq. (46): the fitted tail rate of one run (:func:`rate_case`), the exact rate certificate
on rational designs (:func:`certified_rate_vs_eq46`, the paper's toy :func:`toy_design`), and the
positive controls of the Thm 3.4 family (:func:`thm34_positive_controls`).
"""
from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import sympy as sp

from opdcheck.intervals import format_enclosure
from opdcheck.kernels.opd import thm34_step_sizes
from opdcheck.kernels.potential import rho_eq46, thm34_constants
from opdcheck.kernels.trajectory import fit_tail_rate
from opdcheck.instances import paper_toy
from opdcheck.paper_checks.result import Control, Verdict
from opdcheck.numerics.types import SaddlePoint
from opdcheck.paper_checks.studies.thm34 import CONVENTIONS, all_slack_toy, default_runner, thm34_case
from opdcheck.problem import Problem
from opdcheck.theory.linearization import (MU, RationalDesign, certify_rate, inverse_design_rational,
                                           mode_polynomial)
from opdcheck.tolerances import (CONTROL_STEPS, RATE_CERT_ENCLOSURE_WIDTH, RUN_STOP_RTOL, THM34_CERT_MATCH_ATOL,
                                 THM34_RATE_ATOL)

__all__ = ["rate_case", "judge_rate", "rho_eq46_exact", "judge_certified", "certified_rate_vs_eq46",
           "measured_agrees", "toy_design", "TOY_R_SOFT", "certified_family", "large_beta_limit",
           "certified_crossing", "overall_verdict", "thm34_positive_controls"]


def judge_rate(measured: float, rho: float, atol: float = THM34_RATE_ATOL, spread: float = 0.0) -> bool:
    """``measured <= rho + max(atol, spread)``: a violation must exceed both the named tolerance and
    the fit's own uncertainty (``spread`` of :func:`fit_tail_rate`). A NaN measurement (no usable
    tail) is not a violation."""
    slack = max(atol, spread) if np.isfinite(spread) else atol
    return bool(not np.isfinite(measured) or measured <= rho + slack)


def rate_case(problem: Problem, *, dual_step: str = "prox", T: int = 3000, saddle=None, runner=None) -> dict:
    """One instance: fitted tail rate of OPD's error at Thm 3.4's steps, and rho of eq. (46)."""
    if saddle is None:
        from opdcheck.numerics.saddle import solve_saddle

        saddle = solve_saddle(problem)
    runner = runner or default_runner()
    eta_th, eta_lam = thm34_step_sizes(problem)
    traj = runner(problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, saddle=saddle,
                  stop_below=RUN_STOP_RTOL)
    fit = fit_tail_rate(traj.error)
    rho = rho_eq46(problem)
    return {"traj": traj, "fit": fit, "rate": fit["rate"], "rho": rho, "ratio": fit["rate"] / rho,
            "consts": thm34_constants(problem, eta_th, eta_lam),
            "ok": judge_rate(fit["rate"], rho, spread=fit["spread"]) and not traj.diverged}


# ------------------------------------------------------------------------------ exact certificate
def rho_eq46_exact(s: Any, beta: Any) -> tuple[Fraction, str]:
    """rho of eq. (46) in exact rationals, ``max(3s/(3s+beta), s/(2s+beta), 50/63)`` with
    ``s = sqrt(h) R_max``, and which of the three terms attains it."""
    s, beta = Fraction(s), Fraction(beta)
    if s <= 0 or beta <= 0:
        raise ValueError(f"rho_eq46_exact: s = {s}, beta = {beta}; both must be > 0.")
    terms = {"3s/(3s+beta)": 3 * s / (3 * s + beta), "s/(2s+beta)": s / (2 * s + beta), "50/63": Fraction(50, 63)}
    name = max(terms, key=terms.get)
    return terms[name], name


def judge_certified(rate_lo: Fraction, rate_hi: Fraction, rho: Fraction) -> str:
    """Per-row verdict of the certificate: ``"certified-above"`` iff ``rate_lo > rho`` (the exact
    asymptotic error rate exceeds the claimed rate), ``"certified-below"`` iff ``rate_hi < rho``,
    ``"undecided"`` otherwise (rho inside the enclosure)."""
    if rate_lo > rho:
        return "certified-above"
    if rate_hi < rho:
        return "certified-below"
    return "undecided"


def _exact_R_soft(design: RationalDesign, R_soft: Sequence | None) -> list:
    """The rational soft rewards of ``design`` (not stored in :class:`RationalDesign`).

    Given: each entry must convert to exactly the float stored in ``design.problem.R_soft``.
    Omitted: recovered from the floats' shortest decimal ``repr`` (exact for decimal data like the toy's)."""
    stored = np.asarray(design.problem.R_soft, dtype=np.float64)
    if R_soft is None:
        return [[[Fraction(repr(float(v))) for v in row] for row in Rk] for Rk in stored]
    out = [[[Fraction(str(v)) if not isinstance(v, Fraction) else v for v in row] for row in Rk] for Rk in R_soft]
    given = np.array([[[float(v) for v in row] for row in Rk] for Rk in out])
    if given.shape != stored.shape or not np.array_equal(given, stored):
        raise ValueError(f"R_soft: the rationals given (shape {given.shape}) do not round to design.problem.R_soft "
                         f"(shape {stored.shape}); pass the same R_soft the design was built with.")
    return out


def certified_rate_vs_eq46(design: RationalDesign, dual_step: str = "prox", *, R_soft: Sequence | None = None,
                           rho_claim: Any = None, tol: Any = None) -> dict:
    """Exact check of Thm 3.4's rate on one rational instance (Thm 3.4, eq. (46)).

    Problem: ``design`` (rational saddle point ``(pi*, lam*)``, ``beta > 0``, strict complementarity).
    Update: OPD (Alg. 2) at Thm 3.4's steps ``eta_th = eta_lam = 3 s``, ``s = sqrt(h) R_max``, with the
    ``prox`` (eqs. (5)/(7)) or ``gradient`` (eqs. (9)/(11)) dual step.
    Claim (Thm 3.4): ``E KL(pi*||pi_hat_t) + ||lam*-lam_hat_t||^2 <= rho^(t-1) Phi_1 / denom`` with
    ``rho`` of eq. (46).
    Computed: an exact enclosure ``lo <= r < hi`` of the spectral radius ``r`` of the update linearized
    at the saddle point (:func:`opdcheck.theory.linearization.certify_rate`). Under strict
    complementarity and full support (``beta > 0``) ``r`` is the exact asymptotic rate of the iterates
    near the saddle point; the error is a squared distance, so its asymptotic rate is ``r^2`` in
    ``[lo^2, hi^2)``. If ``lo^2 > rho`` and the dominant mode is excited (generic; the measured rate shows
    it), ``error_t / rho^t -> oo`` and the bound fails for large ``t`` whatever ``Phi_1`` and ``denom``.

    ``rho_claim`` replaces rho of eq. (46) in the judgement (negative controls); ``rho46`` is always
    reported. Raises ValueError if ``sqrt(h) R_max`` is irrational (then the steps are irrational).
    """
    if dual_step not in CONVENTIONS:
        raise ValueError(f"dual_step = {dual_step!r}; choose one of {CONVENTIONS}.")
    rs = _exact_R_soft(design, R_soft)
    R_max = max([abs(Fraction(int(v.p), int(v.q))) for Rj in design.R_hard for row in Rj for v in row]
                + [abs(v) for Rk in rs for row in Rk for v in row])
    root_h = math.isqrt(design.h)
    if root_h * root_h != design.h:
        raise ValueError(f"design.h = {design.h}: sqrt(h) is irrational, so Thm 3.4's step 3 sqrt(h) R_max is "
                         "not rational; use h in {1, 4, 9, ...} (inactive constraints count in h).")
    s = root_h * R_max
    eta = 3 * s
    beta = Fraction(int(design.beta.p), int(design.beta.q))
    rho46, term = rho_eq46_exact(s, beta)
    if rho_claim is None:
        rho = rho46
    else:  # a float claim is read as its decimal repr (0.99 -> 99/100), not its binary value
        rho = Fraction(repr(rho_claim)) if isinstance(rho_claim, float) else Fraction(str(rho_claim))
    tol = Fraction(str(RATE_CERT_ENCLOSURE_WIDTH)) if tol is None else Fraction(tol)
    t0 = time.perf_counter()
    cert = certify_rate(design, "opd", eta, eta, dual_step, tol)
    rate_lo, rate_hi = cert.lo ** 2, cert.hi ** 2
    return {"instance": design.name, "beta": beta, "h": design.h, "R_max": R_max, "s": s, "eta": eta,
            "dual_step": dual_step, "radius_lo": cert.lo, "radius_hi": cert.hi, "rate_lo": rate_lo,
            "rate_hi": rate_hi, "rho46": rho46, "rho46_term": term, "rho_judged": rho,
            "verdict": judge_certified(rate_lo, rate_hi, rho), "stable": cert.stable, "cert": cert,
            "seconds": time.perf_counter() - t0}


def measured_agrees(measured: float, rate_lo: Fraction, rate_hi: Fraction, spread: float = 0.0,
                    atol: float = THM34_CERT_MATCH_ATOL) -> bool:
    """Is the measured error rate within ``max(atol, spread)`` of the certified ``[lo^2, hi^2]``?"""
    if not np.isfinite(measured):
        return False
    slack = max(atol, spread) if np.isfinite(spread) else atol
    return bool(float(rate_lo) - slack <= measured <= float(rate_hi) + slack)


TOY_R_SOFT = [[["1", "0"]]]


def toy_design(beta: Any) -> RationalDesign:
    """The paper's toy (§3.2.2, Fig. 1) as an exact design: ``pi* = (3/10, 7/10)``, ``lam* = 1``,
    ``R_soft = (1, 0)``, ``R_hard = (-7/10, 3/10)`` (already active at pi*, so the inverse design adds no
    threshold) and ``pi_ref = pi*`` (the score at lam* is flat); ``.problem`` equals ``paper_toy(beta)``
    up to float rounding of ``pi_ref``."""
    return inverse_design_rational([["3/10", "7/10"]], ["1"], [[["-7/10", "3/10"]]], beta, R_soft=TOY_R_SOFT,
                                   name=f"paper-toy(beta={beta})")


#: small rational inverse designs (sqrt(h) R_max rational): name -> (kwargs, beta)
_DESIGNS = {
    "X1-n3-h1": (dict(pi_star=[["1/5", "3/10", "1/2"]], lam_star=["1/2"], G=[[["1", "-1", "0"]]],
                      R_soft=[[["1/2", "0", "1"]]]), "2"),
    "X2-n2-h4-two-inactive": (dict(pi_star=[["2/5", "3/5"], ["1/4", "3/4"]], lam_star=["1", "1/2", "0", "0"],
                                   G=[[["-1/2", "1/2"], ["1", "-1/2"]], [["1/2", "0"], ["-1/2", "1"]],
                                      [["1", "0"], ["0", "1"]], [["0", "1"], ["1", "0"]]],
                                   R_soft=[[["1/4", "0"], ["0", "1/5"]]]), "1/2"),
    "X2-n3-h1": (dict(pi_star=[["1/4", "1/4", "1/2"], ["1/10", "3/5", "3/10"]], lam_star=["3/2"],
                      G=[[["1", "0", "-1"], ["-1", "1", "0"]]], R_soft=[[["1", "0", "0"], ["0", "0", "1"]]],
                      rho=["1/3", "2/3"]), "1/4"),
}
TOY_BETAS = ("1/20", "1/5", "1", "2")


def certified_family() -> list[tuple[RationalDesign, list]]:
    """The certified family: the toy at beta in TOY_BETAS and the small inverse designs, as
    ``(design, rational R_soft)`` pairs."""
    out = [(toy_design(b), TOY_R_SOFT) for b in TOY_BETAS]
    for name, (kw, beta) in _DESIGNS.items():
        kw = dict(kw)
        R_soft = kw.pop("R_soft")
        out.append((inverse_design_rational(beta=beta, R_soft=R_soft, name=f"{name}(beta={beta})", **kw), R_soft))
    return out


def _exact_saddle(design: RationalDesign) -> SaddlePoint:
    pi = np.array([[float(p) for p in row] for row in design.pi_star])
    lam = np.array([float(v) for v in design.lam_star])
    for arr in (pi, lam):  # read-only like solve_saddle's: the Numba kernel then reuses its compiled specialization
        arr.setflags(write=False)
    return SaddlePoint(pi=pi, lam=lam, primal_value=float("nan"), dual_value=float("nan"), duality_gap=float("nan"),
                       kkt={}, method="inverse-design (exact rational)", info={})


def large_beta_limit() -> dict:
    """Symbolic: as ``beta -> oo`` at Thm 3.4's steps ``eta = 3 s``, rho of eq. (46) -> 50/63 while OPD's
    asymptotic rate -> 1.

    With ``a = beta/(eta+beta)`` and ``c = kappa h_j/(eta+beta)`` (:func:`mode_polynomial`; ``h_j`` an
    eigenvalue of ``H = sum_x rho_x Cov_{pi*_x}(R_A)``, ``kappa = 1/(2 eta)`` prox or ``1/eta``
    gradient), the per-mode OPD polynomial tends to ``mu^3 (mu - 1)`` and the other factors of the
    characteristic polynomial, ``mu`` and ``mu - eta/(eta+beta)``, to ``mu``; the root near 1 is
    ``1 - kappa h_j / beta + m2 / beta^2 + O(beta^-3)`` (coefficients found by sympy), so the error's
    rate (squared) is ``1 - 2 kappa h_j / beta + O(beta^-2) -> 1``. ``pi*`` and ``H`` are held fixed
    (true on the toy, whose saddle point does not depend on beta).
    """
    s, kap, hj, eps = sp.symbols("s kappa h_j epsilon", positive=True)  # eps = 1/beta
    m1, m2 = sp.symbols("m1 m2")
    eta = 3 * s
    # a = beta/(eta+beta) = 1/(1 + eta eps), c = kappa h_j/(eta+beta) = kappa h_j eps/(1 + eta eps): both are
    # rational and continuous at eps = 0, so the limit beta -> oo is the substitution eps = 0
    P = sp.expand(mode_polynomial("opd", 1 / (1 + eta * eps), kap * hj * eps / (1 + eta * eps)))
    limit_poly = sp.factor(sp.expand(P.subs(eps, 0)))
    num = sp.numer(sp.together(P))
    ser = sp.expand(num.subs(MU, 1 + m1 * eps + m2 * eps ** 2))  # a polynomial in eps: read off orders 1, 2
    sol1 = sp.solve(ser.coeff(eps, 1), m1)[0]
    sol2 = sp.solve(ser.coeff(eps, 2).subs(m1, sol1), m2)[0]
    rho_terms = [3 * s / (3 * s + 1 / eps), s / (2 * s + 1 / eps), sp.Rational(50, 63)]
    rho_lim = sp.Max(*[sp.simplify(t).subs(eps, 0) for t in rho_terms])
    return {"limit_mode_polynomial": str(limit_poly), "root_near_1": f"1 + ({sol1})/beta + ({sol2})/beta^2 + O(beta^-3)",
            "m1": sol1, "m2": sol2, "rho46_limit": rho_lim, "opd_radius_limit": sp.Integer(1)}


def certified_crossing(dual_step: str = "prox", lo: Any = "1/5", hi: Any = "1", steps: int = 10) -> dict:
    """Bisect beta on the toy between a certified-below ``lo`` and a certified-above ``hi``: returns a
    bracket ``[b0, b1]`` (both ends certified) containing a beta where OPD's certified error rate
    crosses rho of eq. (46). Monotonicity in beta is not claimed; the bracket holds one crossing."""
    def verdict(b):
        return certified_rate_vs_eq46(toy_design(b), dual_step, R_soft=TOY_R_SOFT)["verdict"]

    b0, b1 = Fraction(lo), Fraction(hi)
    if verdict(b0) != "certified-below" or verdict(b1) != "certified-above":
        return {"bracket": None, "dual_step": dual_step}
    for _ in range(steps):
        mid = (b0 + b1) / 2
        v = verdict(mid)
        if v == "certified-below":
            b0 = mid
        elif v == "certified-above":
            b1 = mid
        else:
            return {"bracket": (mid, mid), "dual_step": dual_step}
    return {"bracket": (b0, b1), "dual_step": dual_step}


def _certify_family(results, runner, T: int, update=None) -> list[dict]:
    """Certificates on :func:`certified_family`, each with the measured rate of the same float
    instance (reused from ``results`` for the toy betas already run, else :func:`rate_case`)."""
    rows = []
    fam = certified_family()
    for i, (design, R_soft) in enumerate(fam):
        prior = None
        if design.name.startswith("paper-toy"):  # the same float instance, up to rounding of pi_ref
            prior = next((c for p, c in results if p.name == "paper-toy" and p.beta == float(design.beta)), None)
        for conv in CONVENTIONS:
            row = certified_rate_vs_eq46(design, conv, R_soft=R_soft)
            case = prior[conv] if prior is not None else rate_case(design.problem, dual_step=conv, T=T,
                                                                    saddle=_exact_saddle(design), runner=runner)
            row["measured"] = case["rate"]
            row["spread"] = case["fit"]["spread"]
            row["measured_from"] = "numeric run above (paper_toy)" if prior is not None else "rate_case on design.problem"
            row["agrees"] = measured_agrees(case["rate"], row["rate_lo"], row["rate_hi"], case["fit"]["spread"])
            row["problem"] = design.problem
            rows.append(row)
        if update is not None:
            update(i + 1, len(fam), design.name)
    return rows


def overall_verdict(n_bad_prox: int, cert_rows: Sequence[dict]) -> tuple[Verdict, list[dict]]:
    """REFUTED iff the numeric criterion fails on some instance (prox) or some prox certificate is
    ``certified-above`` with the measured rate agreeing; returns the verdict and those certificate rows.
    A certified-above row whose measurement disagrees does not refute (it is reported)."""
    refuting = [r for r in cert_rows if r["dual_step"] == "prox" and r["verdict"] == "certified-above" and r["agrees"]]
    return (Verdict.REFUTED if n_bad_prox > 0 or refuting else Verdict.CONFIRMED), refuting


def _cert_evidence(r: dict) -> dict:
    return {"kind": "certified (exact)", "instance": r["instance"], "beta": str(r["beta"]), "dual step": r["dual_step"],
            "rho (46)": f"{r['rho46']} = {float(r['rho46']):.6f}",
            "certified radius r in": f"{format_enclosure(r['radius_lo'], r['radius_hi'], 7)}",
            "certified error rate r^2 in": f"{format_enclosure(r['rate_lo'], r['rate_hi'], 7)}",
            "measured rate": round(r["measured"], 7) if np.isfinite(r["measured"]) else "n/a",
            "measured agrees": r["agrees"], "verdict": r["verdict"]}

def thm34_positive_controls() -> list[Control]:
    """Positive controls of ``thm-3.4`` (instances where the claim holds; the check must pass them):

    * the paper's toy at beta = 0.05: the exact (Schur–Cohn) asymptotic error rate is certified below
      rho of eq. (46), and the bound holds numerically for ``CONTROL_STEPS`` steps (prox);
    * the all-slack toy (:func:`all_slack_toy`, beta = 1), where the bound holds by a convexity argument.
    """
    out = []
    cert = certified_rate_vs_eq46(toy_design("1/20"), "prox", R_soft=TOY_R_SOFT)
    c = thm34_case(paper_toy(0.05), dual_step="prox", T=CONTROL_STEPS)
    ok, worst, k = c["judge"]["denom_theorem"]
    out.append(Control(name="paper toy, beta = 0.05 (rate certified below rho(46); bound holds)", kind="positive",
                       passed=cert["verdict"] == "certified-below" and ok,
                       detail=(f"certified error rate r^2 in {format_enclosure(cert['rate_lo'], cert['rate_hi'], 6)} vs "
                               f"rho(46) = {float(cert['rho46']):.6f} ({cert['verdict']}); max error/bound {worst:.4g} at t = {k}")))
    c = thm34_case(all_slack_toy(1.0), dual_step="prox", T=CONTROL_STEPS)
    ok, worst, k = c["judge"]["denom_theorem"]
    out.append(Control(name="all-slack toy, beta = 1 (lam* = 0; the bound holds by convexity)", kind="positive",
                       passed=ok, detail=f"max error/bound {worst:.6g} at t = {k} over {len(c['traj'].error) - 1} steps"))
    return out
