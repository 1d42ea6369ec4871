"""Check ``rate-certificate`` (opdcheck's own, SPEC.md "Beyond the paper").

Claim: the asymptotic last-iterate rate of a primal-dual method equals the spectral radius of its
update map linearized at the saddle point (reduced logits on the support of ``pi*``, active
multipliers), and an exact Schur–Cohn test on the characteristic polynomial over the rationals
certifies that radius inside a rational enclosure ``[lo, hi]``.

Methods: Algorithm 2 (OPD, eqs. (4)-(7)) in both dual conventions (``prox``: ``1/(2 eta_lam)``,
``gradient``: ``1/eta_lam``), simultaneous GDA (Figure 1's PD) and alternating GDA (Algorithm 1 with
the one-step mirror oracle). The numpy iterations are the kernels' (``kernels/opd.py``,
``kernels/baselines.py``); the certificates come from ``theory/linearization.py`` and
``theory/schur_cohn.py``.

Judging (pure, injectable for the negative controls): :func:`measure_tail_rate` fits the tail,
:func:`judge_rate` compares it with ``[lo, hi]`` at ``RATE_CERT_MATCH_RTOL``, :func:`run_case` runs one
(instance, method, convention) with an injectable certifier and iteration.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction
from typing import Callable

import numpy as np
import sympy as sp

from opdcheck.instances import save_problem
from opdcheck.kernels.baselines import run_sequential_pd, run_simultaneous_pd
from opdcheck.kernels.opd import T0_CONVENTION, run_opd
from opdcheck.numerics.types import SaddlePoint
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import CheckResult, Control, Verdict
from opdcheck.theory.linearization import (RateCertificate, RationalDesign, certify_rate, charpoly_coeffs,
                                           inverse_design_rational, jacobian, predicted_charpoly)
from opdcheck.tolerances import (RATE_CERT_BURN_IN, RATE_CERT_ENCLOSURE_WIDTH, RATE_CERT_FIT_FLOOR,
                                 RATE_CERT_LINEAR_CEILING, RATE_CERT_MATCH_RTOL, RATE_FIT_MIN_POINTS)

__all__ = ["Case", "RUNNERS", "measure_tail_rate", "judge_rate", "run_case", "quick_cases", "random_cases",
           "flat_design", "make_case", "ill_posed_fit", "classify", "run"]

PAPER_REF = "opdcheck's own (Alg. 2 eqs. (4)-(7), Alg. 1, §3 example)"
CLAIM = ("The asymptotic last-iterate rate of OPD (Alg. 2, both dual conventions), simultaneous GDA and "
         "alternating GDA equals the spectral radius of the update linearized at the saddle point; an exact "
         "Schur-Cohn test over the rationals certifies that radius in [lo, hi].")

#: method id (theory) -> the kernels' iteration with the matching update
RUNNERS: dict[str, Callable] = {
    "opd": run_opd,
    "simultaneous-gda": run_simultaneous_pd,
    "alternating-gda": run_sequential_pd,
}
DUAL_STEPS = ("prox", "gradient")

#: size of the near-saddle start (tilt of pi_ref away from pi*, and lam_hat_0 - lam*): a converging
#: run starts at error ~1e-8 (already in the linear regime); a growing run is restarted at ~1e-24 so
#: the fit sees 12 decades before the nonlinear regime (RATE_CERT_LINEAR_CEILING).
DELTA_DECAY = 1e-4
DELTA_GROWTH = 1e-12


@dataclass(frozen=True)
class Case:
    """One instance (exact rational data), its step sizes and its start.

    ``start="near-saddle"``: a *nearly flat* design (:func:`flat_design`) whose ``pi_ref`` is ``pi*``
    tilted by ``scale`` in a fixed generic direction, started at ``pi_hat_0 = pi_ref``,
    ``lam_hat_0 = lam* + scale v``: every mode of the linearization is excited at size ``scale``.
    ``start="reference"``: the design with the given ``R_soft``, started at the paper's ``(pi_ref, 0)``.
    All designs of one case share ``pi*``, ``lam*``, ``R_H`` and ``beta``, hence one linearization.
    """

    name: str
    pi_star: tuple
    lam_star: tuple
    G: tuple
    beta: str
    eta_th: Fraction
    eta_lam: Fraction
    rho: tuple | None = None
    R_soft: tuple | None = None
    start: str = "near-saddle"

    def design(self, scale: float | None = None) -> RationalDesign:
        """The inverse design at perturbation ``scale`` (None: the linearization's reference design)."""
        return _design(self, scale)


def _tup(a):
    return tuple(_tup(v) for v in a) if isinstance(a, (list, tuple)) else str(a)


@lru_cache(maxsize=64)
def _design(case: Case, scale: float | None) -> RationalDesign:
    if case.start == "reference":
        return inverse_design_rational(case.pi_star, case.lam_star, case.G, case.beta, R_soft=case.R_soft,
                                       rho=case.rho, name=case.name)
    tilt = None if scale is None else Fraction(str(scale))
    return flat_design(case.pi_star, case.lam_star, case.G, case.beta, rho=case.rho, name=case.name, tilt=tilt)


# --------------------------------------------------------------------------------- instances
def _tilt_direction(X: int, n: int) -> list[list[Fraction]]:
    """A fixed, generic direction for the primal perturbation (not aligned with any reward)."""
    return [[Fraction((3 * x + 5 * y) % 7 - 3, 4) + Fraction(y * y, 9) for y in range(n)] for x in range(X)]


def flat_design(pi_star, lam_star, G, beta, *, rho=None, name: str, tilt: Fraction | None = None) -> RationalDesign:
    """Inverse design with ``R_soft = -sum_j lam*_j G_j - beta tilt w``: ``S_{lam*}/beta`` equals
    ``-tilt w`` up to a constant per prompt, so ``pi_ref ∝ pi* exp(tilt w)`` is ``pi*`` tilted by ``tilt``
    and the kernels' start ``pi_hat_0 = pi_ref`` is ``tilt``-close to the saddle policy (the toy of
    Fig. 1 is the case ``tilt = 0``). ``pi_ref`` does not enter the linearization."""
    X, n, h = len(pi_star), len(pi_star[0]), len(lam_star)
    lq = [sp.Rational(str(v)) for v in lam_star]
    w = _tilt_direction(X, n)
    t = sp.Rational(0) if tilt is None else sp.Rational(tilt.numerator, tilt.denominator)
    bq = sp.Rational(str(beta))
    R_soft = [[[-sum(lq[j] * sp.Rational(str(G[j][x][y])) for j in range(h))
                - bq * t * sp.Rational(w[x][y].numerator, w[x][y].denominator) for y in range(n)]
               for x in range(X)]]
    return inverse_design_rational(pi_star, lam_star, G, beta, R_soft=R_soft, rho=rho, name=name)


def make_case(name, pi_star, lam_star, G, beta, eta_th, eta_lam, *, rho=None, R_soft=None,
              start="near-saddle") -> Case:
    """A :class:`Case` from nested lists of rationals (ints, Fractions or strings like ``"3/10"``)."""
    return Case(name=name, pi_star=_tup(pi_star), lam_star=_tup(lam_star), G=_tup(G), beta=str(beta),
                eta_th=Fraction(eta_th), eta_lam=Fraction(eta_lam), rho=None if rho is None else _tup(rho),
                R_soft=None if R_soft is None else _tup(R_soft), start=start)


def quick_cases() -> list[Case]:
    """The fixed instances of the quick profile (all rationals exact)."""
    return [
        make_case("toy(beta=1/20)", [["3/10", "7/10"]], ["1"], [[["-7/10", "3/10"]]], "1/20", 1, 1),
        make_case("X1-n3-h2(beta=1/10)", [["1/5", "3/10", "1/2"]], ["1", "1/2"],
                  [[["1", "-1", "0"]], [["0", "1", "-1"]]], "1/10", 2, 2),
        make_case("X2-n3-h2-one-inactive(beta=1/5)", [["1/4", "1/4", "1/2"], ["1/10", "3/5", "3/10"]], ["3/2", "0"],
                  [[["1", "0", "-1"], ["-1", "1", "0"]], [["1", "1", "-1"], ["0", "1", "1"]]], "1/5", 1, 1,
                  rho=["1/3", "2/3"]),
        # not flat: pi_ref != pi*, started at the paper's (pi_ref, lam = 0), far from the saddle point
        make_case("X2-n2-h1-far-start(beta=1/2)", [["2/5", "3/5"], ["1/4", "3/4"]], ["1/2"],
                  [[["-1/2", "1/2"], ["1", "-1/2"]]], "1/2", 4, 2,
                  R_soft=[[["1/4", "0"], ["0", "1/5"]]], start="reference"),
    ]


def random_cases(rng: np.random.Generator, count: int) -> list[Case]:
    """Seeded random flat designs (X <= 2, n <= 4, h <= 2, rational data) for the full profile.

    Draws where some method (either convention) has a certified radius within 0.5% of 1 (tail too
    slow for the budget), below 0.85 (the float range 1e-8..1e-27 then holds fewer than ~130 steps,
    too short a window to average the oscillation of a complex dominant pair) or above 1.2 (likewise
    for the growth window 1e-20..1e-8), or a sub-dominant
    modulus above 0.9 times the dominant one (a near-tie the finite window cannot separate) are
    redrawn. The selection only affects which instances are tried, and it is made on the
    certificate, never on the measurement."""
    cases: list[Case] = []
    tries = 0
    while len(cases) < count and tries < 50 * count:
        tries += 1
        X, n, h = int(rng.integers(1, 3)), int(rng.integers(2, 5)), int(rng.integers(1, 3))
        pis = []
        for _ in range(X):
            wts = rng.integers(1, 10, size=n)
            pis.append([Fraction(int(v), int(wts.sum())) for v in wts])
        lam = [Fraction(int(rng.integers(1, 5)), 2) for _ in range(h)]
        if h == 2 and rng.random() < 0.4:
            lam[1] = Fraction(0)
        G = [[[Fraction(int(rng.integers(-5, 6)), 5) for _ in range(n)] for _ in range(X)] for _ in range(h)]
        if any(all(v == row[0] for v in row) for Gj in G for row in Gj[:1]):
            continue
        beta = Fraction(int(rng.choice([1, 2, 5])), 10)
        eta_th = Fraction(int(rng.choice([1, 2, 4])), 2)
        eta_lam = Fraction(int(rng.choice([1, 2, 4])), 2)
        case = make_case(f"random-{len(cases)}(X={X},n={n},h={h},beta={beta})", pis, lam, G, beta, eta_th, eta_lam)
        ok = True
        for m in RUNNERS:
            for ds in DUAL_STEPS:
                c = certify_rate(case.design(), m, eta_th, eta_lam, ds, Fraction(1, 1000))
                if (abs(float(c.lo) - 1) < 5e-3 or not 0.85 <= float(c.hi) <= 1.2
                        or _second_modulus(c) > 0.9 * float(c.hi)):
                    ok = False
                    break
            if not ok:
                break
        if not ok:
            continue
        cases.append(case)
    return cases


# ------------------------------------------------------------------------------- measurement
def measure_tail_rate(errors: np.ndarray, *, growing: bool, burn_in: float = RATE_CERT_BURN_IN,
                      floor: float = RATE_CERT_FIT_FLOOR, ceiling: float = RATE_CERT_LINEAR_CEILING,
                      min_points: int = RATE_FIT_MIN_POINTS) -> dict:
    """Least-squares geometric rate of the iterate error on its linear-regime tail.

    ``errors`` is ``E KL(pi*||pi_hat_t) + ||lam* - lam_hat_t||^2``, a *squared* distance, so the rate
    of the iterates is ``exp(slope / 2)`` of the fit ``log e_t = a + slope t``.

    Window: converging: from the first ``t`` with ``e_t <= min(e_0 burn_in, ceiling)`` to the first
    ``t`` with ``e_t <= floor`` (float floor). Growing: from the first ``t`` with ``e_t >= e_0 / burn_in``
    to the first ``t`` with ``e_t >= ceiling`` (before the nonlinear regime). Returns ``{"rate", "t0",
    "t1", "points", "ok", "reason"}``; ``ok`` is False (rate NaN) when the window has fewer than
    ``min_points`` points or was not reached.
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"measure_tail_rate: errors has shape {e.shape}; pass a 1-d array of >= 2 values.")
    finite = np.isfinite(e)
    if not finite.all():
        e = e[: int(np.argmin(finite))]
    e0 = float(e[0])
    if not e0 > 0:
        return {"rate": float("nan"), "t0": 0, "t1": 0, "points": 0, "ok": False, "reason": "e_0 = 0"}
    if growing:
        start = np.flatnonzero(e >= e0 / burn_in)
        stop = np.flatnonzero(e >= ceiling)
    else:
        start = np.flatnonzero(e <= min(e0 * burn_in, ceiling))
        stop = np.flatnonzero(e <= floor)
    if start.size == 0:
        return {"rate": float("nan"), "t0": int(e.size), "t1": int(e.size), "points": 0, "ok": False,
                "reason": "window start not reached within T"}
    t0 = int(start[0])
    later = stop[stop > t0]
    if later.size == 0:
        return {"rate": float("nan"), "t0": t0, "t1": int(e.size), "points": 0, "ok": False,
                "reason": "window end (float floor or linear ceiling) not reached within T"}
    t1 = int(later[0])  # exclusive
    ts = np.arange(t0, t1)
    if ts.size < min_points:
        return {"rate": float("nan"), "t0": t0, "t1": t1, "points": int(ts.size), "ok": False,
                "reason": f"only {ts.size} points in the window (< {min_points})"}
    y = np.log(e[ts])
    tc = ts - ts.mean()
    slope = float(tc @ (y - y.mean()) / (tc @ tc))
    resid = y - y.mean() - slope * tc
    # standard error of the slope, treating the residual (oscillation of a complex dominant pair,
    # sub-dominant modes) as noise: a conservative resolution of the rate (relative, since d rate/rate
    # = d slope / 2)
    se = float(np.sqrt(resid @ resid / max(ts.size - 2, 1) / (tc @ tc))) / 2
    # drift of the local rate: the two halves of the window fitted separately. A sequence that has
    # not settled into one geometric rate (a weakly excited dominant mode still emerging from a
    # stronger sub-dominant one) shows a drift; a settled one does not (up to the oscillation).
    half = ts.size // 2
    rates = []
    for part in (slice(0, half), slice(half, ts.size)):
        tp = ts[part] - ts[part].mean()
        rates.append(np.exp(float(tp @ (y[part] - y[part].mean()) / (tp @ tp)) / 2))
    drift = float(abs(rates[1] - rates[0]) / rates[1])
    return {"rate": float(np.exp(slope / 2)), "t0": t0, "t1": t1, "points": int(ts.size), "ok": True,
            "rate_se_rel": se, "drift_rel": drift, "reason": ""}


def judge_rate(measured: float, lo: float, hi: float, rtol: float = RATE_CERT_MATCH_RTOL) -> tuple[bool, float]:
    """Is ``measured`` in ``[lo (1 - rtol), hi (1 + rtol)]``? Returns ``(ok, relative distance)``.

    The distance is 0 inside ``[lo, hi]``, else ``(lo - m)/lo`` or ``(m - hi)/hi``; NaN fails.
    """
    if not np.isfinite(measured):
        return False, float("inf")
    if measured < lo:
        rel = (lo - measured) / lo
    elif measured > hi:
        rel = (measured - hi) / hi
    else:
        rel = 0.0
    return bool(rel <= rtol), float(rel)


def _saddle(design: RationalDesign) -> SaddlePoint:
    pi = np.array([[float(p) for p in row] for row in design.pi_star])
    lam = np.array([float(v) for v in design.lam_star])
    return SaddlePoint(pi=pi, lam=lam, primal_value=float("nan"), dual_value=float("nan"),
                       duality_gap=float("nan"), kkt={}, method="inverse-design (exact rational)",
                       info={"pi_star": design.describe()["pi_star"]})


def _perturbation(design: RationalDesign) -> np.ndarray:
    """A fixed direction on the active multipliers (inactive ones stay at lam* = 0)."""
    v = np.zeros(design.h)
    for k, j in enumerate(design.active):
        v[j] = 1.0 if k % 2 == 0 else -0.5
    return v


def _trajectory(runner: Callable, case: Case, dual_step: str, scale: float | None, T: int, stop_below):
    """Run from the case's start at perturbation ``scale`` (None: the paper's start ``(pi_ref, 0)``)."""
    design = case.design(scale)
    if case.start == "near-saddle":
        lam0 = np.array([float(v) for v in design.lam_star]) + scale * _perturbation(design)
    else:
        lam0 = np.zeros(design.h)
    return runner(design.problem, eta_th=float(case.eta_th), eta_lam=float(case.eta_lam), T=T,
                  dual_step=dual_step, lam_init=lam0, saddle=_saddle(design), stop_below=stop_below)


def _second_modulus(cert: RateCertificate) -> float:
    """Largest root modulus strictly below the dominant one (numerical, for the tie diagnosis)."""
    mods = []
    for coeffs, _ in cert.factors:
        if len(coeffs) > 1:
            mods.extend(np.abs(np.roots([float(c) for c in coeffs])).tolist())
    mods = sorted(set(round(m, 9) for m in mods), reverse=True)
    return float(mods[1]) if len(mods) > 1 else 0.0


def run_case(case: Case, method: str, dual_step: str, *, T_max: int,
             certifier: Callable[..., RateCertificate] = certify_rate,
             runners: dict[str, Callable] | None = None) -> dict:
    """Certify and measure one (instance, method, dual convention); return an evidence row with keys
    ``agree`` (bool), ``measured``, ``lo``, ``hi``, ``rel_err`` and diagnostics.

    ``certifier`` and ``runners`` are injectable so the tests can feed a broken certificate or a
    broken iteration (negative controls).
    """
    runners = RUNNERS if runners is None else runners
    tol = Fraction(str(RATE_CERT_ENCLOSURE_WIDTH))
    cert = certifier(case.design(), method, case.eta_th, case.eta_lam, dual_step, tol)
    lo, hi = float(cert.lo), float(cert.hi)
    runner = runners[method]
    t_start = time.perf_counter()
    scale = DELTA_DECAY if case.start == "near-saddle" else None
    # converging runs stop at the float floor; a run that grows is redone from a tinier start
    e0 = float(_trajectory(runner, case, dual_step, scale, 1, None).error[0])
    tr = _trajectory(runner, case, dual_step, scale, T_max, stop_below=0.1 * RATE_CERT_FIT_FLOOR / e0)
    e = tr.error
    growing = bool(tr.diverged or (np.isfinite(e).all() and e[-1] > 1e2 * e[0]))
    if growing and case.start == "near-saddle":
        T = 500
        while True:
            tr = _trajectory(runner, case, dual_step, DELTA_GROWTH, T, None)
            if tr.diverged or np.nanmax(tr.error) >= RATE_CERT_LINEAR_CEILING or T >= T_max:
                break
            T = min(4 * T, T_max)
    fit = measure_tail_rate(tr.error, growing=growing)
    ok, rel = judge_rate(fit["rate"], lo, hi) if fit["ok"] else (False, float("inf"))
    rho2 = _second_modulus(cert)
    return {
        "instance": case.name, "method": method, "dual_step": dual_step,
        "eta_th": str(case.eta_th), "eta_lam": str(case.eta_lam), "start": case.start,
        "lo": lo, "hi": hi, "certified": "stable" if cert.stable else ("unstable" if cert.unstable else "radius ~ 1"),
        "measured": fit["rate"], "rel_err": rel, "agree": ok,
        "behaviour": "grows" if growing else ("converges" if fit["ok"] else "undetermined"),
        "window": f"[{fit['t0']}, {fit['t1']})", "points": fit["points"],
        "rho2/rho": rho2 / hi if hi > 0 else float("nan"), "fit_note": fit["reason"],
        "fit_se_rel": fit.get("rate_se_rel", float("nan")), "fit_drift_rel": fit.get("drift_rel", float("nan")),
        "dim": cert.dim, "cert_s": round(cert.seconds, 3), "run_s": round(time.perf_counter() - t_start, 3),
        "final_error": float(tr.error[-1]), "_errors": tr.error, "_cert": cert,
    }


def _spec_modes_match(case: Case, method: str, dual_step: str) -> bool:
    """SPEC's per-mode polynomials, assembled, equal the exact characteristic polynomial."""
    d = case.design()
    M = jacobian(d, method, case.eta_th, case.eta_lam, dual_step)
    return charpoly_coeffs(M) == predicted_charpoly(d, method, case.eta_th, case.eta_lam, dual_step)


def ill_posed_fit(row: dict) -> bool:
    """Is a disagreement explained by a measurement that cannot resolve the rate?

    Yes when the window has too few points, when the sub-dominant modulus is so close to the dominant
    one that it decays by less than 10x relative over the window (``(rho_2/rho)^L > 0.1``: the fit sees
    a mixture of two rates), when the disagreement is within 3 standard errors of the fitted slope
    (the residual oscillation of a complex dominant pair is too large for the window length), or
    when it is within the drift between the rates fitted on the two halves of the window (the local
    rate has not settled: a weakly excited dominant mode is still emerging).
    """
    if not np.isfinite(row["measured"]) or row["points"] < RATE_FIT_MIN_POINTS:
        return True
    q = row["rho2/rho"]
    if np.isfinite(q) and q ** max(row["points"], 1) > 0.1:
        return True
    se = row.get("fit_se_rel", float("nan"))
    if np.isfinite(se) and row["rel_err"] <= 3 * se:
        return True
    drift = row.get("fit_drift_rel", float("nan"))
    return bool(np.isfinite(drift) and row["rel_err"] <= drift)


def classify(rows: list[dict], spec_ok: bool = True) -> tuple[Verdict, list[dict], list[dict]]:
    """Verdict from the evidence rows: CONFIRMED if every row agrees; INCONCLUSIVE if every
    disagreement is an ill-posed fit (:func:`ill_posed_fit`); REFUTED otherwise. INCONSISTENT if the
    exact characteristic polynomials contradict SPEC's per-mode polynomials. Returns
    ``(verdict, disagreeing rows, ill-posed rows among them)``."""
    bad = [r for r in rows if not r["agree"]]
    ill = [r for r in bad if ill_posed_fit(r)]
    if not spec_ok:
        return Verdict.INCONSISTENT, bad, ill
    if not bad:
        return Verdict.CONFIRMED, bad, ill
    if len(ill) == len(bad):
        return Verdict.INCONCLUSIVE, bad, ill
    return Verdict.REFUTED, bad, ill


# --------------------------------------------------------------------------------------- run
DETAILS = r"""
**What is certified.** Every method's primal step is the KL-prox step
$\log\pi_{new} = \gamma\log\hat\pi + (1-\gamma)\log\pi_{ref} + b\,S_\lambda - \log Z$ with
$\gamma = \eta_\theta/(\eta_\theta+\beta)$, $b = 1/(\eta_\theta+\beta)$; the dual step is
$[\hat\lambda - \kappa c(\pi)]_+$ with $\kappa = 1/(2\eta_\lambda)$ (prox, eqs. (5)/(7)) or $1/\eta_\lambda$
(gradient, eqs. (9)/(11)). In reduced logits $u[x,y] = \log\pi[x,y] - \log\pi[x,n-1]$ the primal step is affine;
only $c(\pi)$ is nonlinear, with derivative $J = B^\top W$ at $\pi^\star$, where $B[(x,y),j] = R_j[x,y]-R_j[x,n-1]$
and $W = \mathrm{blockdiag}_x(\rho_x(\mathrm{diag}\,\pi^\star_x - \pi^\star_x\pi^{\star\top}_x))$ (exact: only the rational
$\pi^\star$ enters). The Jacobians on the stacked state (OPD: $(\hat u, \hat\lambda, u_{t-1}, \lambda_{t-1})$) are formed
with sympy rationals **after** substituting the fixed point; their characteristic polynomials are computed over
$\mathbb{Q}$, factored over $\mathbb{Q}$, and each factor's root radius is bracketed by bisection with an exact
Schur–Cohn test ($T p = (a_n p - a_0 p^*)/z$, stable iff $|a_0| < |a_n|$ at every stage; a root on the circle gives
$|a_0| = |a_n|$ and is reported as not strictly stable; $|z| < r$ via $p(rw)$).

**Cross-check with SPEC's per-mode polynomials.** With $a = \beta/(\eta_\theta+\beta)$ and $c_j = \kappa h_j/(\eta_\theta+\beta)$
($h_j$ the eigenvalues of $H = \sum_x\rho_x \mathrm{Cov}_{\pi^\star_x}(R_A)$), the exact characteristic polynomial
equals $(\mu-\gamma)^{N-m}\det P(\mu, \kappa b H)$ for both GDAs and $\mu^{N-m}(\mu-\gamma)^{N-m}\det P(\mu,\kappa b H)$ for
OPD, with $P$ = $\mu^2-(2-a)\mu+(1-a+c)$ (simultaneous), $\mu^2-(2-a-c)\mu+(1-a)$ (alternating),
$\mu^4+(a-2)\mu^3+(1-a+4c-2ac)\mu^2+(3ac-4c)\mu+c(1-a)$ (OPD). Checked as an exact polynomial identity on every case.

**Approximations of the linearization.** (1) Strict complementarity: active $\lambda^\star_j > 0$, inactive
constraints strictly slack, so near the saddle the projection $[\cdot]_+$ is the identity on the active set and
pins inactive multipliers at 0 (eigenvalue 0, dropped); degenerate constraints are not covered. (2) Support of
$\pi^\star$: full because $\beta > 0$; $\beta = 0$ (LP, vertex solutions, non-smooth map) is not covered.
(3) Linear regime: the certificate is the asymptotic rate $\lim\|e_t\|^{1/t}$, not the transient; the measured
fit uses only errors between $10^{-27}$ (float floor) and $\min(10^{-4}e_0, 10^{-8})$, or for growing runs started
$10^{-12}$ from the saddle point, between $10^{4}e_0$ and $10^{-8}$. (4) The float instance has the rational saddle point up
to rounding of $\pi_{ref}$ ($\sim 10^{-16}$).

**Measurement.** The error is $E\,\mathrm{KL}(\pi^\star\|\hat\pi_t)+\|\lambda^\star-\hat\lambda_t\|^2$, a squared distance,
so the measured rate is $\exp(\mathrm{slope}/2)$ of a least-squares fit of $\log e_t$ on the window.
Near-saddle starts use nearly flat designs ($R_{soft} = -\sum_j\lambda^\star_j G_j - \beta\delta w$, so
$\pi_{ref} \propto \pi^\star e^{\delta w}$ is $\pi^\star$ tilted by $\delta$ in a fixed generic direction $w$, and the
kernels' start $\hat\pi_0 = \pi_{ref}$ is $\delta$-close to the saddle policy) with
$\hat\lambda_0 = \lambda^\star + \delta v$, so that every mode is excited ($\delta = 10^{-4}$; a run that grows is
repeated with $\delta = 10^{-12}$); one instance starts at the paper's $(\pi_{ref}, 0)$ far from the saddle point.
A disagreement is *ill-posed* (verdict INCONCLUSIVE, not REFUTED) when the window has too few points, when the
sub-dominant modulus nearly ties the dominant one ($(\rho_2/\rho)^L > 0.1$ over the $L$ points of the window, so the
fit sees a mixture of two rates), when it is within 3 standard errors of the fitted slope (the oscillation of a
complex dominant pair around the geometric trend is too large for the window), or when it is within the drift between
the rates fitted on the two halves of the window (the local rate has not settled, e.g. a weakly excited dominant mode
still emerging); any other disagreement is REFUTED.
"""


@register_check(
    id="rate-certificate",
    paper_ref=PAPER_REF,
    claim=CLAIM,
    expected="measured and certified rates agree to ~1e-3; GDA can be certified unstable where OPD is stable",
    order=60,
)
def run(ctx: CheckContext) -> CheckResult:
    """Certify spectral-radius enclosures exactly and compare them with measured tail rates.

    Problem: inverse-design instances with a rational saddle point ``(pi*, lam*)`` (``beta > 0``,
    strict complementarity), quick profile: 4 fixed instances (1-2 prompts, 2-3 responses, 1-2
    constraints, one inactive; three started 1e-4 from the saddle point, one at the paper's start);
    full profile: plus 6 seeded random rational designs.
    Update: OPD (Alg. 2, eqs. (4)-(7)), simultaneous GDA, alternating GDA (Alg. 1), each with the
    ``prox`` (eqs. (5)/(7)) and ``gradient`` (eqs. (9)/(11)) dual step; the kernels' numpy iterations.
    Claim (opdcheck's own): the tail rate of the error equals the spectral radius of the update
    linearized at the saddle point, which the exact Schur–Cohn test encloses in ``[lo, hi]``.
    Verdict: CONFIRMED if every measured rate is in ``[lo, hi]`` within ``RATE_CERT_MATCH_RTOL``;
    INCONCLUSIVE if every miss is an ill-posed fit; REFUTED otherwise (instance saved).
    """
    t_wall = time.perf_counter()
    cases = quick_cases()
    T_max = 6000
    if ctx.full:
        cases += random_cases(ctx.rng("rate-certificate/random-designs"), 6)
        T_max = 40000
    jobs = [(c, m, d) for c in cases for m in RUNNERS for d in DUAL_STEPS]
    upd = ctx.for_subtask("rate-certificate")
    rows, spec_ok = [], True
    for i, (case, method, ds) in enumerate(jobs):
        row = run_case(case, method, ds, T_max=T_max)
        row["spec_modes"] = _spec_modes_match(case, method, ds)
        spec_ok = spec_ok and row["spec_modes"]
        rows.append(row)
        upd(i + 1, len(jobs), f"{case.name} {method} {ds}")
    ctx.progress.done()

    verdict, bad, ill_posed = classify(rows, spec_ok)
    showcase = _showcase(rows)
    figures = _figure(ctx, rows, cases[0].name)
    counterexample = None
    if verdict is Verdict.REFUTED:
        first = next(r for r in bad if r not in ill_posed)
        case = next(c for c in cases if c.name == first["instance"])
        path, counterexample = ctx.counterexample_path(f"rate-certificate-{_slug(case.name)}.npz")
        save_problem(case.design(DELTA_DECAY if case.start == "near-saddle" else None).problem, path)

    worst = max((r["rel_err"] for r in rows), default=0.0)
    keys = ("instance", "method", "dual_step", "start", "certified", "lo", "hi", "measured", "rel_err", "agree",
            "behaviour", "window", "rho2/rho", "spec_modes")
    # lo, hi and the measured rate as 7-decimal strings: the report's default 4 digits would hide
    # the comparison
    evidence = [{k: (f"{r[k]:.7f}" if k in ("lo", "hi", "measured") and np.isfinite(r[k])
                     else _fmt(r[k]) if isinstance(r[k], float) else r[k]) for k in keys} for r in rows]
    n_unstable = sum(r["certified"] == "unstable" for r in rows)
    summary = (f"{len(rows)} (instance, method, dual step) cases on {len(cases)} inverse-design instances: "
               f"{len(rows) - len(bad)} measured tail rates fall inside the exactly certified spectral-radius "
               f"enclosure (width {RATE_CERT_ENCLOSURE_WIDTH:g}) within {RATE_CERT_MATCH_RTOL:g} relative "
               f"(worst {worst:.2e}); {n_unstable} cases are certified unstable (radius > 1) and grow. "
               + (f"On {showcase['instance']}, simultaneous GDA is certified unstable (radius in "
                  f"[{showcase['gda_lo']:.6f}, {showcase['gda_hi']:.6f}]) and moves away from the saddle point "
                  f"(measured growth {showcase['gda_measured']:.6f}; error {showcase['gda_final_error']:.2g} at "
                  f"the end of the run) while OPD is certified stable (radius {showcase['opd_hi']:.6f}) and "
                  f"converges (measured {showcase['opd_measured']:.6f})." if showcase else
                  "No instance showed GDA unstable with OPD stable.")
               + ("" if not bad else " Disagreements: " + "; ".join(
                   f"{r['instance']} {r['method']} [{r['dual_step']}]: measured {r['measured']:.6f} vs "
                   f"[{r['lo']:.6f}, {r['hi']:.6f}]" + (" (fit ill-posed)" if r in ill_posed else "")
                   for r in bad) + "."))
    computed = {
        "cases": len(rows), "agree": len(rows) - len(bad), "worst_rel_err": worst,
        "spec_per_mode_polynomials_match": spec_ok,
        "gda_unstable_opd_stable": showcase or None,
        "fastest_certified": _fastest(rows),
        "exact_charpolys_first_instance": {
            f"{r['method']} [{r['dual_step']}]": str(sp.factor(sp.Poly(
                [sp.Rational(c.numerator, c.denominator) for c in r["_cert"].charpoly], sp.Symbol("mu")).as_expr()))
            for r in rows if r["instance"] == cases[0].name},
        "disagreements": [{k: r[k] for k in ("instance", "method", "dual_step", "lo", "hi", "measured",
                                             "rel_err", "fit_se_rel", "fit_drift_rel", "rho2/rho", "fit_note")}
                          | {"ill_posed": r in ill_posed} for r in bad],
    }
    return CheckResult(
        id="rate-certificate", paper_ref=PAPER_REF, claim=CLAIM,
        verdict=verdict, computed=computed, controls=_controls(rows), judged=len(rows) - len(ill_posed),
        stated="measured tail rate in the certified enclosure [lo, hi] of the linearized spectral radius, "
               f"within {RATE_CERT_MATCH_RTOL:g} relative, on every case", comparison="==",
        tolerance=RATE_CERT_MATCH_RTOL,
        tolerance_reason=("finite-T least-squares fit of a geometric rate: sub-dominant modes, oscillation of a "
                          "complex dominant pair around the trend, non-normal transients (RATE_CERT_MATCH_RTOL)"),
        summary=summary, evidence=evidence, details=DETAILS.strip(),
        instances=[{"name": c.name, "seed": ctx.seed, **c.design().describe(), "eta_th": str(c.eta_th),
                    "eta_lam": str(c.eta_lam), "start": c.start} for c in cases],
        conventions=[T0_CONVENTION,
                     "dual step 'prox': lam = [lam_hat - c/(2 eta_lam)]_+ (eqs. (5)/(7)); 'gradient': "
                     "lam = [lam_hat - c/eta_lam]_+ (eqs. (9)/(11), Alg. 1)",
                     "primal step pi ∝ pi_hat^(eta/(eta+beta)) pi_ref^(beta/(eta+beta)) exp(S_lam/(eta+beta))",
                     "simultaneous GDA: both players step from (pi_t, lam_t); alternating GDA: the dual step "
                     "uses pi_{t+1} (Algorithm 1)",
                     "measured rate = exp(slope/2) of log(E KL(pi*||pi_hat_t) + ||lam*-lam_hat_t||^2)"],
        figures=figures, counterexample=counterexample, wall_time=time.perf_counter() - t_wall,
        profile=ctx.profile, seed=ctx.seed)


def _controls(rows: list[dict]) -> list[Control]:
    """Positive: the toy's OPD (prox) measurement lies in its certificate. Negative: the same measurement
    judged against a certificate moved by 1% (a broken certifier) is rejected by :func:`judge_rate`."""
    toy = next((r for r in rows if r["method"] == "opd" and r["dual_step"] == "prox"), None)
    if toy is None:
        return []
    ok, rel = judge_rate(toy["measured"], toy["lo"], toy["hi"])
    bad, rel_bad = judge_rate(toy["measured"], 1.01 * toy["lo"], 1.01 * toy["hi"])
    return [Control(name=f"{toy['instance']} OPD prox in its certificate", kind="positive", passed=ok,
                    detail=f"measured {toy['measured']:.7f} vs [{toy['lo']:.7f}, {toy['hi']:.7f}] (rel {rel:.1e})"),
            Control(name="certificate moved by 1% is rejected", kind="negative", passed=not bad,
                    detail=f"relative distance {rel_bad:.2e} > {RATE_CERT_MATCH_RTOL:g}")]


def _fmt(v: float) -> float:
    return float(f"{v:.7g}") if np.isfinite(v) else v


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)


def _showcase(rows: list[dict]) -> dict:
    """The first instance where simultaneous GDA is certified unstable and grows while OPD (both
    conventions) is certified stable and converges, all four measurements agreeing."""
    by = {}
    for r in rows:
        by.setdefault(r["instance"], []).append(r)
    for name, rs in by.items():
        gda = [r for r in rs if r["method"] == "simultaneous-gda"]
        opd = [r for r in rs if r["method"] == "opd"]
        if (gda and opd and all(r["certified"] == "unstable" and r["behaviour"] == "grows" and r["agree"] for r in gda)
                and all(r["certified"] == "stable" and r["behaviour"] == "converges" and r["agree"] for r in opd)):
            g = next(r for r in gda if r["dual_step"] == "prox")
            o = next(r for r in opd if r["dual_step"] == "prox")
            return {"instance": name, "gda_lo": g["lo"], "gda_hi": g["hi"], "gda_measured": g["measured"],
                    "gda_final_error": g["final_error"], "opd_final_error": o["final_error"],
                    "opd_lo": o["lo"], "opd_hi": o["hi"], "opd_measured": o["measured"]}
    return {}


def _fastest(rows: list[dict]) -> dict:
    """Per instance and dual step: the method with the smallest certified radius at the instance's steps."""
    out: dict = {}
    for r in rows:
        key = f"{r['instance']} [{r['dual_step']}]"
        if key not in out or r["hi"] < out[key][1]:
            out[key] = (r["method"], r["hi"])
    return {k: f"{m} (radius < {hi:.6f})" for k, (m, hi) in out.items()}


def _figure(ctx: CheckContext, rows: list[dict], instance: str) -> list[str]:
    from opdcheck.paper_checks.figures import save_semilogy

    series, styles = {}, {}
    for r in rows:
        if r["instance"] != instance or r["dual_step"] != "prox":
            continue
        e = np.asarray(r["_errors"])
        t = np.arange(e.size)
        series[f"{r['method']} (measured {r['measured']:.5f})"] = (t, e)
        rho = 0.5 * (r["lo"] + r["hi"])
        t0, t1 = (int(v) for v in r["window"].strip("[)").split(","))
        if t0 < e.size and np.isfinite(e[t0]) and e[t0] > 0:
            label = f"{r['method']} certified rho^2t, rho={rho:.5f}"
            tw = np.arange(t0, min(t1, e.size))  # the fit window only
            series[label] = (tw, e[t0] * rho ** (2.0 * (tw - t0)))
            styles[label] = "--"
    if not series:
        return []
    path, rel = ctx.figure_path("rate-certificate.png")
    save_semilogy(path, series, ylabel="E KL(pi*||pi_hat_t) + ||lam*-lam_hat_t||^2", styles=styles,
                  title=f"rate-certificate: {instance}, prox dual step (dashed: certified rate on the fit window)")
    return [rel]
