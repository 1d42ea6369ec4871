"""The Thm 3.4 study: instance families, the per-instance runner :func:`thm34_case` (OPD at Thm 3.4's
steps, bound and potential judged), sweeps over instances, and the controls shared by the checks
``thm-3.4``, ``thm-3.4-lyapunov``, ``thm-3.4-rate`` and ``theorem-tightness``.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Mapping

import numpy as np

from opdcheck.instances import paper_toy, random_instance
from opdcheck.kernels.opd import run_opd, thm34_step_sizes
from opdcheck.kernels.potential import phi1_eq47, phi1_general, thm34_bound, thm34_constants, thm34_log_bound
from opdcheck.kernels.trajectory import Trajectory, bound_violations, fit_tail_rate, judge_bound
from opdcheck.paper_checks.context import CheckContext
from opdcheck.numerics.replay import crosscheck_constants
from opdcheck.paper_checks.result import CheckResult, Control, Verdict
from opdcheck.problem import Problem
from opdcheck.numerics.local_rate import lam_star_not_unique
from opdcheck.tolerances import (BOUND_RTOL, NUMBA_AGREEMENT_RTOL,
                                 RATE_FIT_FLOOR_ABS, RUN_STOP_RTOL, TIGHT_CONSTRAINT_ATOL)

__all__ = ["thm34_case", "instance_family", "instance_family_specs", "build_instance", "all_slack_toy",
           "check_instance_specs", "sweep_task", "sweep_instances", "default_runner", "multiplier_curvature",
           "numba_numpy_control", "constants_control", "witness_sentence",
           "witness_summary", "DENOMINATORS", "CONVENTIONS", "SWEEPS"]

DENOMINATORS = {
    "denom_theorem": "Thm 3.4 as printed: min(eta_th+beta, 7/4 eta_lam - 3/4 sqrt(h) R_max)",
    "denom_proof_min": "proof, delta = 3/4, valid min: min(eta_th+beta, 5/4 eta_lam - 1/4 sqrt(h) R_max)",
}
CONVENTIONS = ("prox", "gradient")


def default_runner() -> Callable[..., Trajectory]:
    """The Numba kernel (agrees with ``run_opd`` to 1e-12, tested) if it compiles, else ``run_opd``."""
    try:
        from opdcheck.kernels.numba_opd import run_opd_numba

        return run_opd_numba
    except Exception:  # pragma: no cover - numba missing or broken: the numpy reference is exact too
        return run_opd


def beta_zero_instance_result(ctx: CheckContext, check_id: str, paper_ref: str, claim: str) -> CheckResult | None:
    """INCONCLUSIVE for a user instance with beta = 0, which is outside Thm 3.4's hypotheses.

    At beta = 0 the saddle point solves a linear program (possibly non-unique, no closed form (3)),
    and the constants of eqs. (46)/(47) are not defined for it; the check says so instead of crashing.
    """
    if ctx.instance is None or ctx.instance.beta > 0:
        return None
    return CheckResult(
        verdict=Verdict.INCONCLUSIVE,
        computed="not run: beta = 0", stated="Thm 3.4 assumes beta > 0 (KL-regularized problem)",
        comparison="<=",
        summary=(f"Instance '{ctx.instance.name}' has beta = 0: Thm 3.4 (and this check) needs beta > 0. "
                 "At beta = 0 the problem is a linear program (`opdcheck solve FILE` gives its saddle point)."),
        instances=[{"name": ctx.instance.name, "beta": 0.0}], )


def constraint_is_tight(c: np.ndarray) -> np.ndarray:
    """Which constraints enter the degeneracy test: ``|c_j(pi*)| <= TIGHT_CONSTRAINT_ATOL``."""
    return np.abs(np.asarray(c, dtype=float)) <= TIGHT_CONSTRAINT_ATOL


def multiplier_curvature(problem: Problem, saddle) -> tuple[float, bool]:
    """``(kappa, degenerate)``: ``kappa`` = smallest eigenvalue of ``hess D(lam*)`` restricted to the tight
    constraints (``|c_j(pi*)| <= TIGHT_CONSTRAINT_ATOL``), relative to ``max(1, largest)``; inf if none
    is tight. ``degenerate`` (kappa <= LAMBDA_UNIQUE_EIG_RTOL): the optimal multiplier need not be
    unique, so Thm 3.4's ``||lam* - lam_hat_t||`` is ill-posed there; such instances are reported
    apart and do not decide a verdict."""
    from opdcheck.numerics.dual import dual_hessian

    tight = constraint_is_tight(problem.constraint_values(saddle.pi))
    if not tight.any():
        return math.inf, False
    H = dual_hessian(problem, saddle.lam)[np.ix_(tight, tight)]
    ev = np.linalg.eigvalsh(H)
    kappa = float(ev[0] / max(1.0, float(ev[-1])))
    return kappa, lam_star_not_unique(float(ev[0]), float(ev[-1]))


def build_instance(spec: tuple) -> Problem:
    """The instance a sweep spec names (specs are small picklable tuples; the task builds the instance):

    * ``("toy", beta)``: the paper's toy (§3.2.2) at ``beta``;
    * ``("all-slack", beta)``: the toy with its hard threshold lowered by 1 (every policy strictly
      feasible, ``lam* = 0`` and ``lam_hat_t = 0`` for all t: a positive control, see :func:`all_slack_toy`);
    * ``("random", X, n, h, beta, seed, inactive)``: :func:`opdcheck.instances.random_instance`;
    * ``("given", problem)``: a user's instance.
    """
    kind = spec[0]
    if kind == "toy":
        return paper_toy(beta=spec[1])
    if kind == "all-slack":
        return all_slack_toy(spec[1])
    if kind == "random":
        X, n, h, beta, seed, inactive = spec[1:]
        return random_instance(X, n, h, beta, seed, inactive=inactive)
    if kind == "given":
        return spec[1]
    raise ValueError(f"instance spec kind {kind!r}; choose 'toy', 'all-slack', 'random' or 'given'.")


def all_slack_toy(beta: float = 1.0) -> Problem:
    """The paper's toy with the hard threshold lowered by 1: ``c(pi) >= 0.3 > 0`` for every policy, so
    ``lam* = 0`` and OPD keeps ``lam_hat_t = lam_t = 0``; the iteration is then the KL-proximal primal
    step alone, ``log pi_hat_{t+1} - log pi* = q (log pi_hat_t - log pi*) + const`` with
    ``q = eta/(eta+beta) <= rho``. ``f(s) = KL(pi* || pi_s)`` along that line is convex with ``f(0) = 0``,
    so ``KL_{t+1} <= q KL_t``: Thm 3.4's bound, the one-step contraction of Phi (Phi_t = a1 KL_t here,
    the prediction equals the next iterate) and the rate all hold. Used as a positive control."""
    toy = paper_toy(beta=beta)
    return Problem(rho=toy.rho, pi_ref=toy.pi_ref, R_soft=toy.R_soft, w=toy.w, R_hard=toy.R_hard + 1.0,
                   beta=toy.beta, name=f"paper-toy-all-slack(beta={beta:g})",
                   meta={"source": "paper toy with the hard threshold lowered by 1 (positive control)"})


def instance_family_specs(rng: np.random.Generator, count: int, *, max_X: int = 100, max_n: int = 50,
                          max_h: int = 4, beta_range: tuple[float, float] = (0.01, 2.0)) -> list[tuple]:
    """Specs of ``count`` seeded random instances, sizes log-uniform up to ``(max_X, max_n, max_h)``,
    beta log-uniform in ``beta_range``. The largest size and both ends of the beta range are included."""
    out = []
    for i in range(count):
        if i == 0:
            X, n, h, beta = max_X, max_n, max_h, beta_range[1]
        elif i == 1:
            X, n, h, beta = max_X, max_n, max_h, beta_range[0]
        else:
            X = int(round(math.exp(rng.uniform(0, math.log(max_X)))))
            n = int(round(math.exp(rng.uniform(math.log(2), math.log(max_n)))))
            h = int(rng.integers(1, max_h + 1))
            beta = float(math.exp(rng.uniform(math.log(beta_range[0]), math.log(beta_range[1]))))
        # at least h - 1 < X (n - 1) outcome directions, so that h tight constraints can have a
        # nonsingular dual Hessian (a unique lam*); degenerate draws are still detected and set apart
        n = max(n, int(math.ceil(h / max(X, 1))) + 1)
        seed = int(rng.integers(0, 2**31 - 1))
        inactive = int(rng.integers(0, h)) if h > 1 and rng.random() < 0.3 else 0
        out.append(("random", max(X, 1), max(n, 2), h, round(beta, 4), seed, inactive))
    return out


def instance_family(rng: np.random.Generator, count: int, **size) -> list[Problem]:
    """The instances of :func:`instance_family_specs` (same arguments)."""
    return [build_instance(s) for s in instance_family_specs(rng, count, **size)]


def thm34_case(problem: Problem, *, dual_step: str = "prox", T: int = 1500, saddle=None,
               runner: Callable[..., Trajectory] | None = None, closed_form: str = "derived",
               stop_below: float | None = RUN_STOP_RTOL) -> dict:
    """One instance: OPD at Thm 3.4's steps; the computed side (errors) and the stated side (bounds).

    Returns a dict with the trajectory, the constants, ``phi1`` (eq. (47)) and ``phi1_general``,
    ``rho`` (eq. (46)), per denominator ``bounds[d]`` (array over t) and ``judge[d] = (ok, worst_ratio,
    worst_t)`` over ``t >= 1`` (values at the float floor ``RATE_FIT_FLOOR_ABS`` are not judged),
    and ``first_violation[d]`` (first t whose error exceeds the bound, or None).
    """
    if saddle is None:
        from opdcheck.numerics.saddle import solve_saddle

        saddle = solve_saddle(problem)
    runner = runner or default_runner()
    eta_th, eta_lam = thm34_step_sizes(problem)
    traj = runner(problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, saddle=saddle,
                  closed_form=closed_form, stop_below=stop_below)
    consts = thm34_constants(problem, eta_th, eta_lam)
    err = traj.error
    phi1 = phi1_eq47(problem, traj.metrics)
    rho = consts["rho_eq46"]
    out = {"traj": traj, "consts": consts, "phi1": phi1, "phi1_general": phi1_general(traj.metrics, consts),
           "rho": rho, "bounds": {}, "judge": {}, "first_violation": {}, "diverged": traj.diverged}
    use = np.flatnonzero(err[1:] > RATE_FIT_FLOOR_ABS) + 1
    if use.size == 0:
        use = np.arange(1, len(err))
    out["log10_worst"] = {}
    for d in DENOMINATORS:
        b = thm34_bound(len(err), rho, phi1, consts[d])
        logb = thm34_log_bound(len(err), rho, phi1, consts[d])
        out["bounds"][d] = b
        ok, worst, k = judge_bound(err[use], None, BOUND_RTOL, log_bounds=logb[use])
        out["judge"][d] = (ok and not traj.diverged, worst, int(use[k]))
        with np.errstate(divide="ignore"):
            out["log10_worst"][d] = float((np.log(err[use[k]]) - logb[use[k]]) / math.log(10))
        viol = use[bound_violations(err[use], None, BOUND_RTOL, log_bounds=logb[use])]
        out["first_violation"][d] = int(viol[0]) if viol.size else None
    out["tail_rate"] = fit_tail_rate(err)["rate"]
    return out


#: (X, n, h, K) of the full profile's scale instance (:func:`scale_case`); the memory estimate of the
#: built-in profiles reads it (``paper_checks/profile_memory.py``)
SCALE_SHAPE = (10_000, 1_000, 4, 2)
#: the checks whose full profile runs :func:`scale_case`
SCALE_CHECKS = ("thm-3.4", "thm-3.4-lyapunov", "thm-3.4-rate")

#: the instance sweep of each check, per profile: (toy betas, number of random instances, size bounds).
#: A module-level table so that a smaller profile (the mutation table, opdcheck.mutants) can shrink it.
SWEEPS: dict[str, dict[str, tuple]] = {
    "thm-3.4": {"quick": ((0.05, 0.2, 1.0), 50), "full": ((0.05, 0.2, 1.0), 120),
                "size": (dict(max_X=100, max_n=50, max_h=4),)},
    "thm-3.4-lyapunov": {"quick": ((0.05, 1.0), 30), "full": ((0.05, 1.0), 80),
                         "size": (dict(max_X=30, max_n=20, max_h=3),)},
    "thm-3.4-rate": {"quick": ((0.05, 1.0), 40), "full": ((0.05, 1.0), 80),
                     "size": (dict(max_X=50, max_n=30, max_h=4),)},
}


def check_instance_specs(ctx: CheckContext, check_id: str) -> list[tuple]:
    """The user's instance if one was given; else the paper's toy at the table's betas and its number
    of seeded random instances (:func:`instance_family_specs`, stream ``check_id + "-instances"``)."""
    if ctx.instance is not None:
        return [("given", ctx.instance)]
    toy_betas, n_random = SWEEPS[check_id][ctx.profile]
    size = SWEEPS[check_id]["size"][0]
    return [("toy", b) for b in toy_betas] + instance_family_specs(ctx.rng(check_id + "-instances"), n_random, **size)


def check_instances(ctx: CheckContext, stream: str, toy_betas: tuple[float, ...], n_random: int,
                    **size: int) -> list[Problem]:
    """The user's instance if one was given; else the paper's toy at ``toy_betas`` and ``n_random``
    seeded instances of :func:`instance_family` (sizes bounded by ``size``) from the stream ``stream``."""
    if ctx.instance is not None:
        return [ctx.instance]
    return [paper_toy(beta=b) for b in toy_betas] + instance_family(ctx.rng(stream), n_random, **size)


def sweep_task(spec: tuple, seed: int) -> tuple[Problem, dict[str, dict]]:
    """One sweep task (module-level, picklable): build the instance, solve its saddle point, run the
    case function for both dual conventions, and record the dual curvature (``kappa``, ``degenerate``).

    ``spec = (instance_spec, case_function, case_kwargs)`` (a module-level function: it pickles by reference
    for process and Dask executors); the case function is called as
    ``case(problem, dual_step=conv, saddle=saddle, **case_kwargs)``. Deterministic: ``seed`` is unused
    (instances carry their own seeds), so every executor gives the same result.
    """
    from opdcheck.numerics.saddle import solve_saddle

    inst, case, kwargs = spec
    p = build_instance(inst)
    saddle = solve_saddle(p)
    cases = {conv: case(p, dual_step=conv, saddle=saddle, **kwargs) for conv in CONVENTIONS}
    kappa, degenerate = multiplier_curvature(p, saddle)
    for c in cases.values():
        c["kappa"], c["degenerate"] = kappa, degenerate
        c["lam_star"] = np.asarray(saddle.lam, dtype=np.float64).copy()
    return p, cases


def sweep_instances(ctx: CheckContext, label: str, specs: list[tuple], case: Callable,
                    **case_kwargs) -> list[tuple[Problem, dict[str, dict]]]:
    """Run ``case`` (a module-level function) for both dual conventions on every instance spec through
    ``ctx.map`` (stream ``label``): one exact saddle point per instance, ``kappa`` and ``degenerate``
    recorded in every case (instances whose lam* may not be unique are reported, not judged)."""
    return ctx.map(sweep_task, [(s, case, dict(case_kwargs)) for s in specs], stream=label, label=label)


def scale_case(ctx: CheckContext, case: Callable, stream: str, **case_kwargs) -> tuple[dict | None, str]:
    """Full profile only: one instance at (X, n, h) = (1e4, 1e3, 4), 2000 iterations,
    with ``opdcheck.kernels.numba_fused.run_opd_fused`` if importable. Returns ``(prox case or None, note)``;
    the case is reported as evidence (not judged: no saddle point cross-check at this size). ``stream`` names
    the random stream of the instance's seed."""
    if not ctx.full or ctx.instance is not None:
        return None, ""
    try:
        from opdcheck.kernels.numba_fused import run_opd_fused
    except Exception as exc:  # the fused kernel is another area's; skip cleanly until it lands
        return None, f"Scale instance (1e4, 1e3, 4) skipped: opdcheck.kernels.numba_fused.run_opd_fused not importable ({type(exc).__name__})."
    from opdcheck.numerics.saddle import solve_saddle

    X, n, h, _ = SCALE_SHAPE
    p = random_instance(X, n, h, 0.1, int(ctx.rng(stream + "-scale").integers(0, 2**31 - 1)))
    t0 = time.perf_counter()
    c = case(p, dual_step="prox", saddle=solve_saddle(p), runner=run_opd_fused, **(case_kwargs | {"T": 2000}))
    return c, f"Scale instance {p.name} (X = 1e4, n = 1e3, h = 4, T = 2000, run_opd_fused): {time.perf_counter() - t0:.1f} s."


# ------------------------------------------------------------------ controls and witnesses (shared)
def backends_agree(diff: float, scale: float) -> bool:
    """The judged trajectory equals the numpy reference on a metric: max |diff| at most NUMBA_AGREEMENT_RTOL x the
    metric's maximum (a nan difference disagrees)."""
    return bool(diff <= NUMBA_AGREEMENT_RTOL * scale)


def numba_numpy_control(problem: Problem, case: dict, *, T: int, stop_below: float | None, dual_step: str = "prox",
                        closed_form: str = "derived") -> Control:
    """Positive control: the trajectory the check judged (``case["traj"]``, from :func:`default_runner`)
    equals the numpy reference ``run_opd`` on the same instance, per metric to
    ``NUMBA_AGREEMENT_RTOL`` of the metric's maximum (the tolerance of the kernel tests)."""
    from opdcheck.numerics.saddle import solve_saddle

    ref = run_opd(problem, eta_th=thm34_step_sizes(problem)[0], eta_lam=thm34_step_sizes(problem)[1], T=T,
                  dual_step=dual_step, saddle=solve_saddle(problem), closed_form=closed_form, stop_below=stop_below)
    traj = case["traj"]
    bad = []
    if len(ref.error) != len(traj.error):
        bad.append(f"{len(traj.error) - 1} steps vs {len(ref.error) - 1} (numpy)")
    else:
        for k in ("kl_star", "lam_err2", "kl_hat_pred", "lam_hat_pred2"):
            a, b = np.asarray(traj.metrics[k]), np.asarray(ref.metrics[k])
            d = float(np.max(np.abs(a - b))) if a.size else 0.0
            scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
            if not backends_agree(d, scale):
                bad.append(f"{k}: max |diff| {d:.3g} > {NUMBA_AGREEMENT_RTOL:g} x {scale:.3g}")
    backend = traj.config.get("backend", "numpy")
    return Control(name=f"{backend} kernel vs numpy run_opd on {problem.name} (beta = {problem.beta:g}, {dual_step})", kind="positive",
                   passed=not bad, detail=("agree on every metric" if not bad else "; ".join(bad)))


def constants_control(problem: Problem, case: dict) -> Control:
    """Positive control (one source per constant): the numeric rho (eq. (46)), potential multipliers,
    denominators and Phi_1 (eq. (47)) used by the check equal the sympy ones of
    ``theory/thm34_constants.py`` on this instance (``THM34_CROSSCHECK_RTOL``)."""
    consts = case["consts"]
    ok, detail = crosscheck_constants(
        problem, rho_numeric=case.get("rho", consts["rho_eq46"]), a_numeric=consts["a"],
        denoms_numeric={d: consts[d] for d in DENOMINATORS},
        phi1_numeric=case.get("phi1"), metrics=case["traj"].metrics if "phi1" in case else None)
    return Control(name=f"numeric constants vs sympy on {problem.name} (beta = {problem.beta:g})", kind="positive", passed=ok, detail=detail)



def witness_summary(w: Mapping) -> dict:
    """The witness's flat view (a ``Witness`` reads like a mapping) without bulky entries (for ``computed``)."""
    return {k: v for k, v in w.items() if k not in ("method",)}


def witness_sentence(w: Mapping) -> str:
    """The independent replay, both sides, as a sentence generated from the witness's flat view."""
    if not w.get("replayed"):
        return f"**Independent replay:** not replayed ({w.get('reason', 'no reason given')}), so the verdict cannot be REFUTED."
    pairs = [(k[:-7], w[k], w[k[:-7] + " (replay)"]) for k in w if k.endswith(" (code)") and k[:-7] + " (replay)" in w]
    sides = "; ".join(f"{name}: code {a if isinstance(a, str) else _g(a)} vs replay {b if isinstance(b, str) else _g(b)}"
                      for name, a, b in pairs)
    return (f"**Independent replay** ({w['method']}) on {w.get('instance')}"
            + (f" at t = {w['t']}" if "t" in w else "") + f": {sides}. The replay "
            + ("confirms" if w["confirms"] else "does NOT confirm") + " the violation and "
            + ("agrees" if w["agrees"] else "DISAGREES") + " with the code"
            + (f" ({w['disagreement']})" if not w["agrees"] and "disagreement" in w else "")
            + f"; saddle point certified: projected gradient {w.get('saddle projected gradient', float('nan')):.2g}.")


def _g(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_g(u) for u in v) + "]"
    return f"{float(v):.16g}"


