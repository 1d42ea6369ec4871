"""Check ``step-size-map`` (opdcheck's own): where each method's last iterate converges, over (eta_th, eta_lam).

For OPD, simultaneous GDA, sequential (Gauss-Seidel) GDA and multi-shot (K = 5 inner mirror steps), the
final relative error ``e_T / e_0`` after T steps over a log grid of ``(eta_th, eta_lam)`` (the proximal
weights: primal step ``1/(eta_th+beta)``, dual step ``1/(2 eta_lam)``, the ``"prox"`` convention of
Thm 3.4) at ``beta in {0, 0.01, 0.1, 1}``. Instance: one seeded inverse design with an exact rational
saddle point (one active constraint, so ``H = Cov_{pi*}(R_H)`` is a rational scalar ``h``); ``beta = 0``
uses the same rewards and ``pi_ref`` with the LP saddle point (``numerics.saddle.solve_saddle``).

Exact stability boundary (``beta > 0``): with ``a = beta/(eta_th+beta)``, ``c = h/(2 eta_lam (eta_th+beta))``
the linearised map's spectral radius is ``max(gamma, radius P(mu; a, c))`` with the per-mode polynomials
of :func:`opdcheck.theory.linearization.mode_polynomial` (cross-checked against the full
``certify_rate`` at Thm 3.4's step, a positive control). Each grid cell's radius is certified exactly
(Schur-Cohn on rationals); the drawn boundary is the float contour of the same polynomials on a finer
grid (drawing only). Multi-shot has no certificate (no per-mode polynomial); ``beta = 0`` neither.

The certificate is *local*: the spectral radius of the update map at the saddle point is the rate of
iterates that converge to it or start close to it (hypothesis 3 of ``theory.linearization``); it says
nothing about a run that never comes near. The map runs from ``(pi_ref, lam = 0)``, far away (``e_0`` is
13.5 at ``beta = 0.1``, 122 at ``beta = 0.01``). Decision rule per decisive cell (:func:`expectation`,
:func:`judge_default_run`): certified unstable -> must not converge; certified stable -> the default run
agrees if it converges, disagrees if it entered the linear regime (error <= RATE_CERT_LINEAR_CEILING) and
left it again, and is *undecided* by that run otherwise (it never came near the saddle point, or came in
too late to reach e_T/e_0 <= ALG1_CONVERGED_RATIO). An undecided cell is not counted as agreement; it is
judged by a local probe (:func:`probe_cell`: the same steps from 1e-6 off the saddle point must converge
at a tail rate inside the certified enclosure), and where the default run goes is reported. On the full
grid, sequential GDA at ``beta = 0.01`` and ``0.1`` has cells where the saddle point is attracting
(certified, and the probe converges at the certified rate) while the run from ``pi_ref`` is captured by an
attracting periodic orbit (at ``beta = 0.1`` period 4 with the projection ``lam = 0`` active once per
period; at ``beta = 0.01`` periods 6, 4 and 6 with ``lam > 0``; each replayed at 50 digits apart from the
kernels, :mod:`opdcheck.numerics.replay.orbit`): there the map shows global behaviour that the local
certificate does not describe. Controls: the probe confirms sequential GDA's certificate at such a cell
and rejects it when handed to simultaneous GDA (certified unstable there).

Claims judged (beyond the paper): the certificates agree with the runs on every decisive cell
where they apply (above); simultaneous GDA is stable iff ``c < a`` (``h / (2 eta_lam) < beta``); tuned
sequential GDA can converge faster than OPD at ``beta = 0.1``; as ``beta -> 0`` plain GDA stops
converging anywhere on the grid while OPD still converges somewhere.

Example
-------
>>> from fractions import Fraction
>>> from opdcheck.theory.rate_formulas import stability_boundary
>>> stability_boundary("simultaneous-gda", Fraction(1, 2))[1]  # simultaneous GDA: stable iff c < a
Fraction(1, 2)
>>> stability_boundary("alternating-gda", Fraction(1, 2))[1]  # sequential GDA: stable iff c < 4 - 2a
Fraction(3, 1)
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import sympy as sp

from opdcheck.intervals import format_enclosure
from opdcheck.kernels.framework import run_config
from opdcheck.numerics.types import SaddlePoint
from opdcheck.paper_checks.studies.alg1_designs import rational_design
from opdcheck.numerics.replay.orbit import replay_multipliers
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.figures import plt
from opdcheck.paper_checks.studies.rate_cases import judge_rate, measure_tail_rate
from opdcheck.paper_checks.registry import register_check
from opdcheck.paper_checks.result import CheckResult, Control, Finding, Verdict
from opdcheck.methods import canonical_name, get_method
from opdcheck.problem import Problem
from opdcheck.theory.linearization import MU, certify_rate, covariance_matrix, mode_polynomial
from opdcheck.theory.schur_cohn import radius_enclosure
from opdcheck.paper_checks.studies import tolerance_controls as tolc
from opdcheck.tolerances import (ALG1_CERT_MARGIN, ALG1_CONVERGED_RATIO, ALG1_REPLAY_RTOL, RATE_CERT_FIT_FLOOR,
                                 RATE_CERT_LINEAR_CEILING, RATE_CERT_MATCH_RTOL, SSM_CERT_CROSSCHECK_ATOL,
                                 SSM_CYCLE_CLOSURE_ATOL, SSM_LOCAL_PROBE_DEVIATION)

ID = "step-size-map"
PAPER_REF = "opdcheck's own (beyond the paper); Thm 3.4's step marked"
CLAIM = ("Over a log grid of (eta_th, eta_lam) and beta in {0, 0.01, 0.1, 1}: the measured last-iterate maps of OPD, "
         "simultaneous GDA, sequential GDA and multi-shot agree with the exact (local) stability certificates wherever "
         "those apply (runs that enter the linear regime; otherwise a run started near the saddle point), and the "
         "report says where a run from pi_ref goes instead; simultaneous GDA "
         "needs h/(2 eta_lam) < beta; tuned sequential GDA can beat OPD at beta = 0.1; as beta -> 0 optimism is needed.")

DESIGN_SEED = 5
BETAS = (Fraction(0), Fraction(1, 100), Fraction(1, 10), Fraction(1))
METHODS = ("opd", "simultaneous-pd", "finite-step-pd", "multi-shot")
#: the methods whose local rate the exact linearization certifies (the registry says which)
CERTIFIED = tuple(m for m in METHODS if get_method(m).certified)
LABEL = {m: get_method(m).label for m in METHODS} | {"multi-shot": "multi-shot (K=5)"}  # this map runs K = 5
#: converged runs stop here (relative): far below ALG1_CONVERGED_RATIO, saves the budget
STOP_BELOW = 1e-16


def grid(n: int) -> list[Fraction]:
    """``n`` log-spaced weights in [1/32, 32], rounded to multiples of 1/1024 (dyadic: exact as floats)."""
    return [Fraction(round(v * 1024), 1024) for v in np.geomspace(1 / 32, 32.0, n)]


def instance(beta: Fraction):
    """(problem, saddle, design) at ``beta``; ``beta = 0``: the beta = 1/10 design's data with the LP saddle."""
    if beta > 0:
        d = rational_design(DESIGN_SEED, X=2, n=3, h=1, beta=beta)
        pi = np.array([[float(p) for p in row] for row in d.pi_star])
        lam = np.array([float(v) for v in d.lam_star])
        sad = SaddlePoint(pi=pi, lam=lam, primal_value=float("nan"), dual_value=float("nan"), duality_gap=0.0,
                          kkt={}, method="inverse design (exact rationals)")
        return d.problem, sad, d
    d = rational_design(DESIGN_SEED, X=2, n=3, h=1, beta=Fraction(1, 10))
    p = d.problem
    q = Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft, w=p.w, R_hard=p.R_hard, beta=0.0,
                name=p.name + " at beta = 0 (LP)")
    from opdcheck.numerics.saddle import solve_saddle

    return q, solve_saddle(q), None


#: multi-shot's inner steps in the map (the budget: K mirror steps per outer step on every cell)
MULTI_SHOT_K = 5


def _cell_summary(tr, T: int) -> tuple[float, float, float, float]:
    """``(e_T/e_0, e_T/e_{T/2}, min_t e_t, e_T)`` of one run; a run stopped early (converged below STOP_BELOW)
    reports its last error, a diverged one ``inf`` (with the smallest error it reached)."""
    e = tr.error
    e_min = float(np.min(e)) if e.size else float("inf")
    if tr.diverged:
        return (float("inf"), float("inf"), e_min, float("inf"))
    half = e[min(T // 2, e.size - 1)]
    return (float(e[-1] / e[0]), float(e[-1] / half) if half > 0 else 0.0, e_min, float(e[-1]))


def _run_cells(spec: dict, eta_th, eta_lam) -> list:
    p, sad, _ = instance(Fraction(spec["beta"]))
    return run_config(spec["method"], p, eta_th=eta_th, eta_lam=eta_lam, T=spec["T"], dual_step="prox",
                      saddle=sad, stop_below=STOP_BELOW, K=MULTI_SHOT_K if spec["method"] == "multi-shot" else None)


def run_block(spec: dict, seed: int) -> list[list[tuple[float, float, float, float]]]:
    """:func:`_cell_summary` on every cell ``[i_eta_th][j_eta_lam]`` of one (beta, method) map; module-level for
    ``ctx.map``. The cells run as one batch of the driver (``run_config`` with arrays of step sizes: the
    one-cell runs' steps, stacked). ``min_t e_t`` and ``e_T`` (absolute) tell whether the run entered, and
    stayed in, the linear regime."""
    eth = [float(Fraction(e)) for e in spec["eta_ths"]]
    elm = [float(Fraction(e)) for e in spec["eta_lams"]]
    E, EL = np.meshgrid(eth, elm, indexing="ij")
    out = [_cell_summary(tr, spec["T"]) for tr in _run_cells(spec, E.ravel(), EL.ravel())]
    return [out[i * len(elm):(i + 1) * len(elm)] for i in range(len(eth))]


def run_row(spec: dict, seed: int) -> list[tuple[float, float, float, float]]:
    """:func:`_cell_summary` along one row (fixed ``eta_th``) of the grid, the row's cells as one batch."""
    elm = np.array([float(Fraction(el)) for el in spec["eta_lams"]])
    return [_cell_summary(tr, spec["T"]) for tr in _run_cells(spec, float(Fraction(spec["eta_th"])), elm)]


# ------------------------------------------------------------------------------ the decision rule
def expectation(lo: Fraction, hi: Fraction, T: int) -> str | None:
    """What the exact certificate predicts within T steps: ``"stable"`` (radius^(2T) < ALG1_CONVERGED_RATIO/1e3),
    ``"unstable"`` (radius > 1 + ALG1_CERT_MARGIN), or None (too close to 1 to be decided by T steps)."""
    if hi < 1 and 2 * T * math.log(float(hi)) < math.log(ALG1_CONVERGED_RATIO / 1e3):
        return "stable"
    if lo > 1 + ALG1_CERT_MARGIN:
        return "unstable"
    return None


def judge_default_run(expect: str, final_ratio: float, min_error: float, final_error: float) -> str:
    """Compare the run from ``(pi_ref, lam = 0)`` with the certificate's prediction.

    Returns ``"agree"``, ``"disagree"`` or ``"undecided"``. The certificate is the rate of iterates that
    converge to, or start close to, the saddle point (hypothesis 3 of ``theory.linearization``): it predicts
    nothing about a run that never comes within the linear regime (error <= RATE_CERT_LINEAR_CEILING), and for
    one that comes in late it predicts the rate, not that e_T/e_0 is already below ALG1_CONVERGED_RATIO. So a
    certified-stable cell whose run did not converge is a disagreement only if the run entered the linear
    regime and left it again (impossible near an attracting fixed point); otherwise it is undecided by this
    run -- not counted as agreement -- and judged by :func:`probe_cell` from a start near the saddle point.
    A certified-unstable (repelling) saddle point that a run converged to is a disagreement.
    """
    converged = final_ratio <= ALG1_CONVERGED_RATIO
    if expect == "unstable":
        return "disagree" if converged else "agree"
    if converged:
        return "agree"
    left = min_error <= RATE_CERT_LINEAR_CEILING < final_error
    return "disagree" if left else "undecided"


#: how far past the grid's horizon the run of an undecided cell is continued to say where it goes (orbits
#: can take longer than T to settle; the judgement does not use this run)
DESCRIBE_HORIZON = 4


def probe_steps(hi: Fraction) -> int:
    """Steps for the local probe to fall from ~deviation^2 to the float floor at the certified rate, doubled."""
    n = math.log(RATE_CERT_FIT_FLOOR / SSM_LOCAL_PROBE_DEVIATION**2) / (2 * math.log(float(hi)))
    return int(math.ceil(2 * n)) + 100


def probe_cell(spec: dict, seed: int) -> dict:
    """The evidence for one ``"undecided"`` cell (module-level for ``ctx.map``).

    1. the run from ``(pi_ref, lam = 0)`` again, continued to DESCRIBE_HORIZON x T steps (a description only: the
       verdict used the grid's T-step run), all iterates kept: where it goes -- the smallest period of its
       multiplier over the last quarter (closure SSM_CYCLE_CLOSURE_ATOL; None if it has not closed), the range of
       lam there, and the number of steps of the second half on which the projection ``[.]_+`` was active
       (some ``lam_j = 0``, outside hypothesis 1 of the linearization);
    2. the local probe (:func:`local_probe`): the same method and steps started at relative distance
       SSM_LOCAL_PROBE_DEVIATION from the saddle point (seeded direction), where the certificate's hypotheses hold. It agrees with the
       certificate when it converges (e_T/e_0 <= ALG1_CONVERGED_RATIO) at a tail rate inside the certified
       enclosure ``[lo, hi]`` to RATE_CERT_MATCH_RTOL (``rate_certificate.measure_tail_rate``/``judge_rate``).
    """
    p, sad, _ = instance(Fraction(spec["beta"]))
    method, T = spec["method"], int(spec["T"])
    et, el = float(Fraction(spec["eta_th"])), float(Fraction(spec["eta_lam"]))
    K = MULTI_SHOT_K if method == "multi-shot" else None
    T = DESCRIBE_HORIZON * T
    tr = run_config(method, p, eta_th=et, eta_lam=el, T=T, dual_step="prox", saddle=sad, keep_every=1, K=K)
    lam = np.array([l for _, _, l in tr.iterates])
    q = lam[(3 * lam.shape[0]) // 4:]
    closure = {P: float(np.max(np.abs(q[P:] - q[:-P]))) for P in range(1, 61) if q.shape[0] > 2 * P}
    period = next((P for P, r in closure.items() if r <= SSM_CYCLE_CLOSURE_ATOL), None)
    best_p = min(closure, key=closure.get)  # the closest to periodic, reported when none has closed
    projected = int(np.sum(np.any(lam[lam.shape[0] // 2:] == 0.0, axis=1)))
    # the same run at 50 digits apart from the kernels: the orbit is the map's, not float rounding's
    lam_mp = replay_multipliers(p, method, et, el, T, K=K or 1)
    replay_diff = float(max(abs(float(a) - b) for row_mp, row in zip(lam_mp, lam) for a, b in zip(row_mp, row)))
    replay_ok = replay_diff <= ALG1_REPLAY_RTOL * max(1.0, float(np.max(lam)))
    mp_q = lam_mp[(3 * len(lam_mp)) // 4:]
    P_rep = period or best_p
    mp_closure = float(max(abs(a - b) for r1, r2 in zip(mp_q[P_rep:], mp_q[:-P_rep]) for a, b in zip(r1, r2)))
    mp_zeros = int(sum(1 for row in lam_mp[len(lam_mp) // 2:] if any(v == 0 for v in row)))
    probe = local_probe(spec, seed)
    return {"period": period, "best_period": best_p, "closure": closure[best_p], "lam_min": float(q.min()),
            "lam_max": float(q.max()), "projected_steps": projected,
            "half_steps": int(lam.shape[0] - lam.shape[0] // 2), "e_T": float(tr.error[-1]),
            "T_described": T, "reaches_saddle": bool(tr.error[-1] <= ALG1_CONVERGED_RATIO * tr.error[0]),
            "final_ratio": float(tr.error[-1] / tr.error[0]), "e_min": float(np.min(tr.error)),
            "progress": float(tr.error[-1] / tr.error[T // 2]),
            **probe,
            "replay_max_lam_diff": replay_diff, "replay_agrees": bool(replay_ok), "replay_closure": mp_closure,
            "replay_projected_steps": mp_zeros}


def local_probe(spec: dict, seed: int) -> dict:
    """Step 2 of :func:`probe_cell` alone: ``spec``'s method and steps started at relative distance
    SSM_LOCAL_PROBE_DEVIATION from the saddle point (direction drawn from ``seed``); ``agrees_locally`` when it
    converges at a tail rate inside the certified enclosure ``[spec["lo"], spec["hi"]]``. It does not depend on
    ``spec["T"]`` (its length is :func:`probe_steps` of the certificate)."""
    p, sad, _ = instance(Fraction(spec["beta"]))
    method = spec["method"]
    et, el = float(Fraction(spec["eta_th"])), float(Fraction(spec["eta_lam"]))
    lo, hi = Fraction(spec["lo"]), Fraction(spec["hi"])
    K = MULTI_SHOT_K if method == "multi-shot" else None
    rng = np.random.default_rng(seed)
    d = SSM_LOCAL_PROBE_DEVIATION
    with np.errstate(divide="ignore"):
        log0 = np.log(sad.pi) + d * rng.standard_normal(sad.pi.shape)
    lam0 = np.maximum(sad.lam * (1 + d * rng.standard_normal(sad.lam.shape)), 0.0)
    tp = run_config(method, p, eta_th=et, eta_lam=el, T=probe_steps(hi), dual_step="prox", saddle=sad,
                    init_log_pi=log0, lam_init=lam0, K=K)
    ep = tp.error
    local_conv = bool(not tp.diverged and ep[-1] <= ALG1_CONVERGED_RATIO * ep[0])
    fit = measure_tail_rate(ep, growing=False)
    rate_ok, rate_dist = (judge_rate(fit["rate"], float(lo), float(hi), RATE_CERT_MATCH_RTOL) if fit["ok"]
                          else (False, float("inf")))
    return {"probe_e0": float(ep[0]), "probe_ratio": float(ep[-1] / ep[0]), "probe_steps": int(tp.n_steps),
            "probe_converged": local_conv, "probe_rate": float(fit["rate"]), "probe_rate_ok": bool(rate_ok),
            "probe_rate_dist": float(rate_dist), "probe_fit_reason": fit.get("reason", ""),
            "agrees_locally": bool(local_conv and rate_ok), "lo": float(lo), "hi": float(hi)}


def describe_undecided(cell: str, r: dict) -> str:
    """One sentence on an ``"undecided"`` cell, from :func:`probe_cell`'s numbers."""
    where = (f"converges to the saddle point after all (a transient longer than the grid's T: e_t/e_0 = "
             f"{r['final_ratio']:.1e})" if r["reaches_saddle"] else
             f"settles on a period-{r['period']} orbit with lam in [{r['lam_min']:.3g}, {r['lam_max']:.3g}]"
             if r["period"] else
             f"is still falling (e_t/e_(t/2) = {r['progress']:.3g}, e_t = {r['e_T']:.3g})" if r["progress"] < 1 else
             f"approaches a period-{r['best_period']} orbit (max |lam_(t+{r['best_period']}) - lam_t| = {r['closure']:.2g} over "
             f"the last quarter, lam in [{r['lam_min']:.3g}, {r['lam_max']:.3g}], e_t/e_(t/2) = {r['progress']:.3g})")
    proj = (f", the projection active on {r['projected_steps']}/{r['half_steps']} steps of the second half"
            if r["projected_steps"] else ", lam > 0 throughout the second half")
    local = (f"from {SSM_LOCAL_PROBE_DEVIATION:g} off the saddle point it converges (e/e_0 = {r['probe_ratio']:.1e}) at "
             f"rate {r['probe_rate']:.5f}, certified {format_enclosure(r['lo'], r['hi'], 5)}" if r["agrees_locally"] else
             f"from {SSM_LOCAL_PROBE_DEVIATION:g} off the saddle point it does NOT match the certificate (converged: "
             f"{r['probe_converged']}, rate {r['probe_rate']:.5f} vs {format_enclosure(r['lo'], r['hi'], 5)})")
    orbit = (r["period"] or r["progress"] >= 1) and not r["reaches_saddle"]
    closes = f", closure {r['replay_closure']:.1e}" if orbit else ""
    rep = (f"replayed at 50 digits apart from the kernels: lam agrees to {r['replay_max_lam_diff']:.1e}{closes}"
           if r["replay_agrees"] else
           f"NOT reproduced by the 50-digit replay (max lam difference {r['replay_max_lam_diff']:.1e})")
    return (f"{cell}: from (pi_ref, 0), continued to t = {r['T_described']}, the run {where} (its error never below "
            f"{r['e_min']:.3g}){proj} ({rep}); {local}")


def _mode_coeffs(method: str, a: Fraction, c: Fraction) -> list:
    expr = sp.expand(mode_polynomial(canonical_name(method), sp.Rational(a.numerator, a.denominator),
                                     sp.Rational(c.numerator, c.denominator)))
    return sp.Poly(expr, MU).all_coeffs()


def certified_radius(method: str, beta: Fraction, h: Fraction, eta_th: Fraction, eta_lam: Fraction,
                     tol: Fraction = Fraction(1, 10**5)) -> tuple[Fraction, Fraction]:
    """Exact enclosure of ``max(gamma, radius P)`` (h = 1 active constraint; module docstring)."""
    denom = eta_th + beta
    a = beta / denom
    c = h / (2 * eta_lam * denom)
    gamma = eta_th / denom
    lo, hi = radius_enclosure(_mode_coeffs(method, a, c), tol)
    return max(lo, gamma), max(hi, gamma)


def float_mode_radius(method: str, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Float spectral radius of the per-mode polynomial on arrays ``a``, ``c`` (drawing only), from the same
    sympy polynomial as the exact certificate: batched eigenvalues of the companion matrices."""
    A, C = sp.symbols("a c")
    coeffs = sp.Poly(sp.expand(mode_polynomial(canonical_name(method), A, C)), MU).all_coeffs()
    vals = [np.broadcast_to(np.asarray(sp.lambdify((A, C), co, "numpy")(a, c), dtype=float), a.shape) for co in coeffs]
    deg = len(vals) - 1
    comp = np.zeros(a.shape + (deg, deg))
    for k in range(deg):
        comp[..., 0, k] = -vals[k + 1] / vals[0]
    for k in range(1, deg):
        comp[..., k, k - 1] = 1.0
    return np.max(np.abs(np.linalg.eigvals(comp)), axis=-1)


def evaluate(ctx: CheckContext) -> CheckResult:
    n = 12 if ctx.full else 5
    T = 1000 if ctx.full else 200
    g = grid(n)
    specs = [{"beta": str(b), "method": m, "eta_ths": [str(x) for x in g], "eta_lams": [str(x) for x in g], "T": T}
             for b in BETAS for m in METHODS]
    blocks = ctx.map(run_block, specs, stream="step-size-map", label="step-size-map grid")
    maps = {(s["beta"], s["method"]): rows for s, rows in zip(specs, blocks)}
    min_err = {k: np.array(v)[:, :, 2] for k, v in maps.items()}  # min_t e_t (absolute)
    last_err = {k: np.array(v)[:, :, 3] for k, v in maps.items()}  # e_T (absolute)
    maps = {k: np.array(v)[:, :, 0] for k, v in maps.items()}  # e_T / e_0, [i_eta_th, j_eta_lam]

    # exact radii per cell (beta > 0, certified methods)
    hval = {}
    radii = {}
    for b in BETAS[1:]:
        d = rational_design(DESIGN_SEED, X=2, n=3, h=1, beta=b)
        H = covariance_matrix(d)
        hval[b] = Fraction(int(H[0, 0].p), int(H[0, 0].q))
        for m in CERTIFIED:
            radii[(str(b), m)] = [[certified_radius(m, b, hval[b], e, el) for el in g] for e in g]

    # (1) agreement on decisive cells. The certificate is local (the spectral radius at the saddle point): it
    # predicts the runs that enter the linear regime. A certified-stable cell whose run from (pi_ref, 0) never
    # did ("undecided") is not counted as agreement; it is judged by a local probe (probe_cell), and where the
    # default run went (an attracting orbit, the projection) is reported: there the map and the certificate
    # describe different things (global vs local), and the sentence says so with the numbers.
    decisive, agree, outside, disagreements = 0, 0, [], []
    for (bs, m), R in radii.items():
        M, Em, El = maps[(bs, m)], min_err[(bs, m)], last_err[(bs, m)]
        for i in range(n):
            for j in range(n):
                lo, hi = R[i][j]
                expect = expectation(lo, hi, T)
                if expect is None:
                    continue
                decisive += 1
                v = judge_default_run(expect, float(M[i, j]), float(Em[i, j]), float(El[i, j]))
                cell = f"{m} beta={bs} eta_th={float(g[i]):.3g} eta_lam={float(g[j]):.3g}"
                if v == "agree":
                    agree += 1
                elif v == "undecided":
                    outside.append((cell, {"beta": bs, "method": m, "eta_th": str(g[i]), "eta_lam": str(g[j]), "T": T,
                                           "lo": str(lo), "hi": str(hi)}, (bs, m, i, j)))
                else:
                    disagreements.append(cell)
    probes = ctx.map(probe_cell, [o[1] for o in outside], stream="step-size-map local probe",
                     label="step-size-map local probes") if outside else []
    local_ok = [o[0] for o, r in zip(outside, probes) if r["agrees_locally"]]
    disagreements += [f"{o[0]} (local probe)" for o, r in zip(outside, probes) if not r["agrees_locally"]]
    cycles = [r for r in probes if r["period"] and not r["reaches_saddle"]]
    slow = [r for r in probes if r["reaches_saddle"]]
    findings = [Finding(
        name="maps agree with the exact certificates",
        claim="the certified spectral radius (a local statement) decides convergence: a certified-stable cell "
              "converges from near the saddle point at the certified rate, a certified-unstable one does not converge",
        verdict=Verdict.CONFIRMED if decisive and not disagreements else Verdict.INCONCLUSIVE,
        computed={"decisive": decisive, "agree_from_default_start": agree,
                  "undecided_by_default_run": len(outside), "confirmed_by_local_probe": len(local_ok),
                  "bistable_periodic_orbit": len(cycles), "slow_transient": len(slow),
                  "undecided_cells": {o[0]: r for o, r in zip(outside, probes)},
                  "disagreements": disagreements[:10]},
        stated="measured and certified agree", comparison="identity", judged=decisive,
        sentence=(f"{agree}/{decisive - len(outside)} decisive cells (radius^(2T) < 1e-9 or radius > 1 + "
                  f"{ALG1_CERT_MARGIN:g}) decided by the run from (pi_ref, lam = 0) agree with the certificate at T = {T}"
                  + (f"; {len(outside)} certified-stable cells are not decided by that run (it did not converge and did not "
                     f"stay within the linear regime, error <= {RATE_CERT_LINEAR_CEILING:g}, for long enough), and "
                     f"{len(local_ok)} of them are confirmed by a local probe"
                     + (f" -- the certificate is local and the map differs from it there: {len(cycles)} of these runs "
                        f"are captured by an attracting periodic orbit while the saddle point is also attracting "
                        f"(bistable)" if cycles else "")
                     + (f"; {len(slow)} of them reach the saddle point later (a transient longer than T)" if slow else "")
                     + ". " + "; ".join(describe_undecided(o[0], r) for o, r in zip(outside, probes)) if outside else "")
                  + (f"; disagreements: {'; '.join(disagreements[:3])}" if disagreements else "") + "."))]
    # (2) simultaneous GDA stable iff h/(2 eta_lam) < beta
    mism, cells = [], 0
    for b in BETAS[1:]:
        R = radii[(str(b), "simultaneous-pd")]
        for i in range(n):
            for j in range(n):
                lo, hi = R[i][j]
                if hi < 1 or lo >= 1:  # decided by the enclosure
                    cells += 1
                    stable = hi < 1
                    if stable != (hval[b] / (2 * g[j]) < b):
                        mism.append(f"beta={b} eta_th={g[i]} eta_lam={g[j]}")
    findings.append(Finding(
        name="simultaneous GDA needs h/(2 eta_lam) < beta", claim="simultaneous GDA is stable iff c < a",
        verdict=Verdict.CONFIRMED if cells and not mism else Verdict.INCONCLUSIVE,
        computed={"cells": cells, "mismatches": mism[:10]}, stated="stable iff h/(2 eta_lam) < beta", comparison="identity",
        judged=cells, sentence=f"the exact radius of simultaneous GDA is < 1 exactly where h/(2 eta_lam) < beta on "
                               f"{cells - len(mism)}/{cells} cells (h = {', '.join(f'{float(v):.4g}' for v in hval.values())})."))
    # (3) a baseline as good as or better than OPD; the best certified radius per method and beta
    best = {}
    for (bs, m), R in radii.items():
        i, j = min(((i, j) for i in range(n) for j in range(n)), key=lambda ij: R[ij[0]][ij[1]][1])
        best[(bs, m)] = (R[i][j], g[i], g[j])
    b01 = str(Fraction(1, 10))
    seq, opd = best[(b01, "finite-step-pd")], best[(b01, "opd")]
    beats_01 = seq[0][1] < opd[0][0]
    better = [(str(b), m) for b in BETAS[1:] for m in ("simultaneous-pd", "finite-step-pd")
              if best[(str(b), m)][0][1] <= best[(str(b), "opd")][0][0]]
    lines = []
    for b in BETAS[1:]:
        parts = [f"{LABEL[m]} {float(best[(str(b), m)][0][1]):.4f} at (eta_th, eta_lam) = "
                 f"({float(best[(str(b), m)][1]):.3g}, {float(best[(str(b), m)][2]):.3g})" for m in CERTIFIED]
        lines.append(f"beta = {b}: " + "; ".join(parts))
    findings.append(Finding(
        name="a tuned baseline as good as OPD",
        claim="tuned plain GDA can converge as fast as or faster than OPD",
        verdict=Verdict.CONFIRMED if better else Verdict.INCONCLUSIVE,
        computed={"best_radius": {f"{k[0]}/{k[1]}": float(v[0][1]) for k, v in best.items()},
                  "baseline_at_least_as_fast": better},
        stated="a baseline's best certified rate <= OPD's best on the grid", comparison="<=", judged=len(BETAS) - 1,
        sentence=("best certified radius on the grid -- " + " | ".join(lines) + ". Baselines at least as fast as OPD's best: "
                  + (", ".join(f"{LABEL[m]} at beta = {b}" for b, m in better) or "none")
                  + f"; at beta = 0.1 sequential GDA's best {'beats' if beats_01 else 'does not beat'} OPD's on this grid.")))
    # (4) optimism needed as beta -> 0
    conv_counts = {(bs, m): int(np.sum(M <= ALG1_CONVERGED_RATIO)) for (bs, m), M in maps.items()}
    z = "0"
    gda0 = conv_counts[(z, "simultaneous-pd")] + conv_counts[(z, "finite-step-pd")] + conv_counts[(z, "multi-shot")]
    opd0 = conv_counts[(z, "opd")]
    findings.append(Finding(
        name="optimism needed at beta = 0", claim="at beta = 0 plain GDA (and multi-shot) cycles on the whole grid while OPD converges",
        verdict=Verdict.CONFIRMED if (opd0 > 0 and gda0 == 0) else Verdict.INCONCLUSIVE,
        computed={"converged_cells": {f"{k[0]}/{k[1]}": v for k, v in conv_counts.items()}},
        stated="GDA: no converged cell; OPD: some", comparison="identity", judged=n * n * len(METHODS),
        sentence=(f"converged cells (e_T/e_0 <= {ALG1_CONVERGED_RATIO:g}) of {n * n}: " + "; ".join(
            f"beta={b}: " + ", ".join(f"{LABEL[m]} {conv_counts[(str(b), m)]}" for m in METHODS) for b in BETAS) + ".")))

    # positive control: the per-mode radius equals the full certificate at Thm 3.4's step
    b = Fraction(1, 10)
    d = rational_design(DESIGN_SEED, X=2, n=3, h=1, beta=b)
    e_thm = Fraction(math.ceil(3 * d.problem.R_max * 64), 64)
    ctl = []
    for m in CERTIFIED:
        full = certify_rate(d, canonical_name(m), e_thm, e_thm, "prox", tol=Fraction(1, 10**5))
        lo, hi = certified_radius(m, b, hval[b], e_thm, e_thm)
        ctl.append(radii_agree(float(full.mid), float((lo + hi) / 2)))
    controls = [Control("per-mode radius = full Jacobian certificate (beta = 0.1, Thm 3.4 step)", "positive", all(ctl),
                        f"agreement per method: {dict(zip(CERTIFIED, ctl))}")]
    # the local probe, at a fixed cell where sequential GDA is certified stable and simultaneous GDA unstable:
    # it confirms the right certificate (positive) and rejects the stable certificate handed to the unstable
    # method (negative: a wrong polynomial / ordering would be caught this way)
    pos, neg = probe_controls(ctx.rng("step-size-map controls").integers(2**31), T)
    controls += [
        Control("local probe confirms a certified-stable cell (sequential GDA, beta = 0.1)", "positive",
                pos["agrees_locally"], f"rate {pos['probe_rate']:.5f} vs certified {format_enclosure(pos['lo'], pos['hi'], 5)}"),
        Control("local probe rejects the wrong certificate (simultaneous GDA run, sequential GDA's radius)", "negative",
                not neg["agrees_locally"], f"converged {neg['probe_converged']}, e/e_0 = {neg['probe_ratio']:.3g}")]
    controls += tolc.cert_margin_controls(expectation, T) + tolc.rate_match_controls(pos["lo"], pos["hi"], judge_rate)
    controls += tolc.run_converged_controls(judge_default_run)
    controls += tolc.close_gate_controls("per-mode radius vs full Jacobian certificate (SSM_CERT_CROSSCHECK_ATOL)",
                                         radii_agree, SSM_CERT_CROSSCHECK_ATOL, ref=0.97)
    figures = _figure(ctx, maps, g, hval, T, [o[2] for o in outside])
    evidence = [{"beta": bs, "method": LABEL[m], "converged cells": conv_counts[(bs, m)], "of": n * n,
                 "best e_T/e_0": float(np.min(M)),
                 "best certified radius": (float(best[(bs, m)][0][1]) if (bs, m) in best else None)}
                for (bs, m), M in maps.items()]
    return CheckResult(
        verdict=None,
        computed={"findings": {f.name: f.verdict.value for f in findings}},
        stated={"claims": "opdcheck's own claim: step-size-map"}, comparison="identity",
        tolerance=ALG1_CONVERGED_RATIO, tolerance_reason="a cell converged when e_T/e_0 <= this; decisive cells need "
        f"radius^(2T) < it/1e3 or radius > 1 + {ALG1_CERT_MARGIN:g}",
        evidence=evidence, findings=findings, controls=controls, judged=decisive, figures=figures,
        instances=[{"name": f"rational_design(seed={DESIGN_SEED}, X=2, n=3, h=1)", "betas": [str(b) for b in BETAS],
                    "grid": [str(x) for x in g], "T": T}],
        conventions=["dual convention 'prox' (lam - c/(2 eta_lam)); lam_0 = 0; pi_hat_0 = pi_ref",
                     "beta = 0 uses the beta = 0.1 design's rewards and pi_ref with the LP saddle point",
                     "multi-shot: K = 5 inner mirror steps at eta_th per outer step, then the dual step"],
        )


#: the controls' cell (exact dyadic steps; one of the full grid's cells): sequential GDA certified stable
#: (radius 0.8918), simultaneous GDA certified unstable (h/(2 eta_lam) = 1.33 > beta = 0.1)
CONTROL_CELL = (Fraction(1, 10), Fraction(199, 512), Fraction(53, 256))


def probe_controls(seed: int, T: int) -> tuple[dict, dict]:
    """:func:`local_probe` (the part of :func:`probe_cell` that decides ``agrees_locally``) at :data:`CONTROL_CELL`
    with sequential GDA and its own certificate (positive), and with simultaneous GDA given sequential GDA's
    certificate (negative). The controls judge the probe's decision only, so they do not pay for the described
    run and its 50-digit replay (``DESCRIBE_HORIZON x T`` steps each), which no control reads."""
    b, et, el = CONTROL_CELL
    d = rational_design(DESIGN_SEED, X=2, n=3, h=1, beta=b)
    H = covariance_matrix(d)
    h = Fraction(int(H[0, 0].p), int(H[0, 0].q))
    lo, hi = certified_radius("finite-step-pd", b, h, et, el)
    spec = {"beta": str(b), "eta_th": str(et), "eta_lam": str(el), "T": T, "lo": str(lo), "hi": str(hi)}
    return (local_probe({**spec, "method": "finite-step-pd"}, int(seed)),
            local_probe({**spec, "method": "simultaneous-pd"}, int(seed)))


def _figure(ctx: CheckContext, maps: dict, g: list, hval: dict, T: int, outside: list | None = None) -> list[str]:
    x = np.array([float(v) for v in g])
    # cell edges in log space
    lx = np.log10(x)
    step = (lx[1] - lx[0]) if len(lx) > 1 else 1.0
    edges = 10 ** np.concatenate([lx - step / 2, [lx[-1] + step / 2]])
    fig, axes = plt.subplots(len(BETAS), len(METHODS), figsize=(3.0 * len(METHODS), 2.6 * len(BETAS)), dpi=100,
                             sharex=True, sharey=True, layout=None)  # a fixed layout: the constrained one
    fig.subplots_adjust(left=0.07, right=0.86, bottom=0.07, top=0.91, wspace=0.08, hspace=0.1)  # cost 2/3 of the draw
    fine = np.geomspace(edges[0], edges[-1], 60)
    for bi, b in enumerate(BETAS):
        for mi, m in enumerate(METHODS):
            ax = axes[bi, mi]
            M = maps[(str(b), m)]
            with np.errstate(divide="ignore"):
                Z = np.log10(np.clip(M, 1e-30, 1e30))
            im = ax.pcolormesh(edges, edges, Z.T, vmin=-16, vmax=2, cmap="viridis_r", shading="flat",
                               rasterized=True)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.minorticks_off()  # log axes' minor ticks and their labels dominated the draw
            if b > 0 and m in CERTIFIED:
                bb, hh = float(b), float(hval[b])
                E, EL = np.meshgrid(fine, fine)  # rows: eta_lam, columns: eta_th
                R = np.maximum(E / (E + bb), float_mode_radius(m, bb / (E + bb), hh / (2 * EL * (E + bb))))
                ax.contour(fine, fine, R, levels=[1.0], colors="r", linewidths=1.0)
            ax.plot([_thm_step()], [_thm_step()], "w*", ms=9, mec="k")
            out = [(i, j) for (bs, mm, i, j) in (outside or []) if bs == str(b) and mm == m]
            if out:  # certified stable, but the run from (pi_ref, 0) never entered the linear regime
                ax.plot([x[i] for i, _ in out], [x[j] for _, j in out], "wx", ms=7, mew=2)
            if bi == 0:
                ax.set_title(LABEL[m], fontsize=9)
            if mi == 0:
                ax.set_ylabel(f"$\\beta$ = {b}\n$\\eta_\\lambda$", fontsize=8)
            if bi == len(BETAS) - 1:
                ax.set_xlabel(r"$\eta_\theta$", fontsize=8)
    fig.colorbar(im, cax=fig.add_axes((0.89, 0.25, 0.015, 0.5)), label=f"log10 e_T/e_0 (T = {T})")
    fig.suptitle("final error over (eta_th, eta_lam); red: exact (local) stability boundary (radius = 1); star: Thm 3.4's "
                 "step; x: certified stable but not reached from (pi_ref, 0)",
                 fontsize=9)
    p, rel = ctx.figure_path("step-size-map.png")
    fig.savefig(p, metadata={"Software": None})
    plt.close(fig)
    return [rel]


def _thm_step() -> float:
    p, _, _ = instance(Fraction(1, 10))
    return 3.0 * math.sqrt(p.h) * p.R_max


def radii_agree(full_jacobian_radius: float, per_mode_radius: float) -> bool:
    """The per-mode spectral radius (the map's fast path) equals the full Jacobian certificate's midpoint to
    SSM_CERT_CROSSCHECK_ATOL (both certified enclosures are narrower than this)."""
    return abs(full_jacobian_radius - per_mode_radius) <= SSM_CERT_CROSSCHECK_ATOL


@register_check(id=ID, paper_ref=PAPER_REF, claim=CLAIM,
                expected="maps agree with the (local) certificates where they apply; simultaneous GDA needs h/(2 eta_lam) < beta; sequential GDA can "
                         "beat OPD at beta = 0.1; at beta = 0 only OPD converges", order=330)
def run(ctx: CheckContext) -> CheckResult:
    """Heat maps of the final error over step sizes, with the exact stability boundary and Thm 3.4's step."""
    return evaluate(ctx)
