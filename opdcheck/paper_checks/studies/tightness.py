"""Searching Thm 3.4's class for its worst instances: random and mutated rational specs, their exact
certified rate against rho(46) and a measured run (:func:`evaluate_spec`, :func:`search`). Used by
``theorem-tightness`` and ``thm-3.4-corrected``.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from opdcheck.paper_checks.context import CheckContext
from opdcheck.numerics.local_rate import lam_star_not_unique
from opdcheck.tolerances import CERTIFY_ENCLOSURE_WIDTH

__all__ = ["random_spec", "mutate_spec", "design_from_spec", "evaluate_spec", "evaluate_spec_compiled", "search", "BUDGET"]

BUDGET = {"quick": 12, "full": 200}
T_RUN = {"quick": 300, "full": 1500}


# ----------------------------------------------------------------------------- search space
def random_spec(rng: np.random.Generator) -> dict:
    """One random design: sizes, beta (log-uniform on [1e-2, 20]), reward scale, pi* shape, active set."""
    X, n, h = int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(1, 5))
    skew = float(rng.choice([0.0, 1.0, 3.0]))  # 0: near uniform pi*, 3: some tiny probabilities
    pis = []
    for _ in range(X):
        w = rng.integers(1, 10, size=n) * np.exp(skew * rng.normal(size=n))
        ints = np.maximum(1, np.round(100 * w / w.sum())).astype(int)
        pis.append([f"{int(v)}/{int(ints.sum())}" for v in ints])
    scale = str(Fraction(int(rng.choice([1, 2, 5, 10, 20])), 10))
    G = [[[str(Fraction(int(rng.integers(-10, 11)), 10)) for _ in range(n)] for _ in range(X)] for _ in range(h)]
    active = [bool(rng.random() < 0.7) for _ in range(h)]
    if not any(active):
        active[int(rng.integers(0, h))] = True
    lam = [str(Fraction(int(rng.integers(1, 11)), 4)) if a else "0" for a in active]
    beta = float(np.exp(rng.uniform(math.log(0.01), math.log(20.0))))
    return {"pi_star": pis, "lam_star": lam, "G": G, "scale": scale,
            "beta": str(Fraction(beta).limit_denominator(1000))}


def mutate_spec(spec: dict, rng: np.random.Generator) -> dict:
    """A nearby design: beta scaled by exp(N(0, 0.5)), one reward row redrawn, or the reward scale changed."""
    out = {k: (v if not isinstance(v, list) else [list(r) if isinstance(r, list) else r for r in v])
           for k, v in spec.items()}
    out["G"] = [[list(row) for row in Gj] for Gj in spec["G"]]
    move = int(rng.integers(0, 3))
    if move == 0:
        b = float(Fraction(spec["beta"])) * float(np.exp(rng.normal(0, 0.5)))
        out["beta"] = str(Fraction(min(max(b, 1e-3), 1e3)).limit_denominator(1000))
    elif move == 1:
        j, x = int(rng.integers(0, len(out["G"]))), int(rng.integers(0, len(out["G"][0])))
        out["G"][j][x] = [str(Fraction(int(rng.integers(-10, 11)), 10)) for _ in out["G"][j][x]]
    else:
        out["scale"] = str(Fraction(int(rng.choice([1, 2, 5, 10, 20])), 10))
    return out


def design_from_spec(spec: dict):
    """The exact inverse design of a spec (``R_soft = 0``: ``pi_ref`` carries the score)."""
    from opdcheck.theory.linearization import inverse_design_rational

    sc = Fraction(spec["scale"])
    G = [[[Fraction(v) * sc for v in row] for row in Gj] for Gj in spec["G"]]
    return inverse_design_rational(spec["pi_star"], spec["lam_star"], G, spec["beta"],
                                   name=f"search(X={len(spec['pi_star'])},n={len(spec['pi_star'][0])},"
                                        f"h={len(spec['lam_star'])},beta={spec['beta']})")


def _exact_saddle(design):
    from opdcheck.numerics.types import SaddlePoint

    pi = np.array([[float(p) for p in row] for row in design.pi_star])
    lam = np.array([float(v) for v in design.lam_star])
    return SaddlePoint(pi=pi, lam=lam, primal_value=float("nan"), dual_value=float("nan"), duality_gap=float("nan"),
                       kkt={}, method="inverse-design (exact rational)", info={})


def evaluate_spec(spec: dict, seed: int, T: int = 300, compiled: bool = False) -> dict:
    """Task function (module level, picklable): certify and measure one design at Thm 3.4's steps.

    Returns the exact enclosure ``[lo, hi]`` of OPD's radius (prox), ``rho46``, the measured tail rate of
    the error, ``max_t e_t / bound_t`` with the theorem's denominator, and the corrected (mode-formula)
    radius; ``ok = False`` with a reason when the design is rejected (a degenerate dual curvature).
    ``compiled``: measure with thm-3.4's runner (the Numba kernel, equal to the numpy reference ``run_opd`` to
    NUMBA_AGREEMENT_RTOL) instead of ``run_opd`` (:func:`evaluate_spec_compiled`).
    """
    from opdcheck.kernels.opd import run_opd, thm34_step_sizes
    from opdcheck.kernels.potential import rho_eq46
    from opdcheck.kernels.trajectory import fit_tail_rate
    from opdcheck.paper_checks.studies.thm34 import default_runner, thm34_case
    from opdcheck.theory.linearization import certify_modes, step_constants
    from opdcheck.theory.rate_formulas import spectral_rate

    spec_t = dict(spec)
    T = int(spec_t.pop("_T", T))
    steps = spec_t.pop("_steps", None)  # (eta_th, eta_lam, dual_step) as strings; None: Thm 3.4's steps, prox
    try:
        d = design_from_spec(spec_t)
    except ValueError as exc:
        return {"ok": False, "reason": str(exc), "spec": spec}
    p = d.problem
    if steps is None:
        eta, _ = thm34_step_sizes(p)
        q_th = q_lam = Fraction(eta).limit_denominator(10**12)
        dual = "prox"
    else:
        q_th, q_lam, dual = Fraction(steps[0]), Fraction(steps[1]), steps[2]
    cert = certify_modes(d, "opd", q_th, q_lam, dual, Fraction(str(CERTIFY_ENCLOSURE_WIDTH)))
    H = np.array([[float(v) for v in row] for row in cert.H])
    ev = np.linalg.eigvalsh(H)
    if lam_star_not_unique(float(ev[0]), float(ev[-1])):
        return {"ok": False, "reason": f"singular dual curvature {ev.tolist()} (lam* not unique)", "spec": spec}
    k = step_constants(d, q_th, q_lam, dual)
    corr = spectral_rate("opd", float(k["a"]), [float(k["kappa"] * k["b"]) * float(v) for v in ev], cert.extra_primal)
    rho46 = rho_eq46(p)
    sp_ = _exact_saddle(d)
    runner = default_runner() if compiled else run_opd
    if steps is None:
        case = thm34_case(p, dual_step="prox", T=T, saddle=sp_, runner=runner)
        err, log_ratio = case["traj"].error, case["log10_worst"]["denom_theorem"]
    else:
        from opdcheck.tolerances import RUN_STOP_RTOL

        err = runner(p, eta_th=float(q_th), eta_lam=float(q_lam), T=T, dual_step=dual, saddle=sp_,
                     stop_below=RUN_STOP_RTOL).error
        log_ratio = float("nan")
    fit = fit_tail_rate(err)
    return {"ok": True, "spec": spec, "name": d.name, "beta": float(d.beta), "X": d.X, "n": d.n, "h": d.h,
            "m": len(d.active), "R_max": p.R_max, "lo": cert.lo, "hi": cert.hi, "rate_lo": float(cert.lo) ** 2,
            "rate_hi": float(cert.hi) ** 2, "rho46": rho46, "cert_ratio": float(cert.lo) ** 2 / rho46,
            "log10_bound_ratio": log_ratio, "measured": fit["rate"], "thm34_steps": steps is None,
            "eta_th": float(q_th), "eta_lam": float(q_lam), "dual_step": dual, "c": [float(k["kappa"] * k["b"]) * float(v) for v in ev],
            "spread": fit["spread"], "corrected": corr["radius"], "h_eigs": ev.tolist(),
            "kappa": float(k["kappa"]), "nu": (ev / (p.h * p.R_max**2)).tolist(), "a": float(k["a"]), "stable": cert.stable}


def evaluate_spec_compiled(spec: dict, seed: int, T: int = 300) -> dict:
    """:func:`evaluate_spec` measured with the Numba kernel (module level, for ``ctx.map``)."""
    return evaluate_spec(spec, seed, T, compiled=True)


def search(ctx: CheckContext, budget: int, stream: str = "theorem-tightness", T: int = 300,
           evaluate=evaluate_spec) -> list[dict]:
    """Random draws (half the budget) then mutations of the current worst (by ``cert_ratio``), in
    batches through ``ctx.map``; returns every evaluated row in order (rejected designs included).
    ``evaluate``: :func:`evaluate_spec` or :func:`evaluate_spec_compiled`."""
    if budget < 0:
        raise ValueError(f"budget = {budget}; pass a number of instances >= 0.")
    rng = ctx.rng(stream + "/specs")
    rows: list[dict] = []
    n_random = (budget + 1) // 2
    specs = [dict(random_spec(rng), _T=T) for _ in range(n_random)]
    rows += ctx.map(evaluate, specs, stream=stream + "/random", label=f"{stream}: random draws")
    left, batch = budget - n_random, 0
    while left > 0:
        good = [r for r in rows if r["ok"]]
        if not good:
            specs = [dict(random_spec(rng), _T=T) for _ in range(min(left, 4))]
        else:
            best = max(good, key=lambda r: r["cert_ratio"])["spec"]
            base = {k: v for k, v in best.items() if k != "_T"}
            specs = [dict(mutate_spec(base, rng), _T=T) for _ in range(min(left, 4))]
        rows += ctx.map(evaluate, specs, stream=f"{stream}/mutate{batch}", label=f"{stream}: mutations")
        left -= len(specs)
        batch += 1
    return rows


