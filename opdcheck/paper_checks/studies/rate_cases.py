"""Rate cases: rational inverse designs with a known saddle point, the iteration of each method on
them, the tail-rate fit (:func:`measure_tail_rate`) and its comparison with an exact enclosure
(:func:`judge_rate`). Used by ``rate-certificate`` and ``step-size-map``.
"""
from __future__ import annotations

import functools

import time
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction
from typing import Callable

import numpy as np
import sympy as sp

from opdcheck.numerics.types import SaddlePoint
from opdcheck.paper_checks.result import Verdict
from opdcheck.theory.linearization import (RateCertificate, RationalDesign, certify_rate, charpoly_coeffs,
                                           inverse_design_rational, jacobian, predicted_charpoly)
from opdcheck.kernels.baselines import run_method
from opdcheck.methods import certified_methods
from opdcheck.tolerances import (RATE_CERT_BURN_IN, RATE_CERT_ENCLOSURE_WIDTH, RATE_CERT_FIT_FLOOR,
                                 RATE_CERT_LINEAR_CEILING, RATE_CERT_MATCH_RTOL, RATE_FIT_MIN_POINTS)

__all__ = ["Case", "RUNNERS", "measure_tail_rate", "judge_rate", "run_case", "quick_cases", "random_cases",
           "flat_design", "make_case", "ill_posed_fit", "classify"]

#: certified method (canonical name) -> the kernels' iteration of that method (the registry's driver configuration)
RUNNERS: dict[str, Callable] = {m: functools.partial(run_method, m) for m in certified_methods()}

DELTA_DECAY = 1e-4
DELTA_GROWTH = 1e-12


DUAL_STEPS = ("prox", "gradient")

#: size of the near-saddle start (tilt of pi_ref away from pi*, and lam_hat_0 - lam*): a converging
#: run starts at error ~1e-8 (already in the linear regime); a growing run is restarted at ~1e-24 so
#: the fit sees 12 decades before the nonlinear regime (RATE_CERT_LINEAR_CEILING).
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
    """the per-mode polynomials derived by hand, assembled, equal the exact characteristic polynomial."""
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
    exact characteristic polynomials contradict the per-mode polynomials derived by hand. Returns
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
