"""The mutation table: planted bugs that must each be caught by the verification.

Each :class:`Mutant` plants one plausible bug by monkeypatching (a context manager, undone on exit), names the
checks it can affect and its class (kernel, replay, printed formula, gate, rule, cache, numerics, theory).
:func:`run_table` runs those checks on the *mutation profile* (the quick profile with smaller instance sweeps,
:func:`mutation_profile`) with and without the bug. A bug is caught when a check's verdict, any finding's
verdict or any control differs from the unmutated run, or a control fails (the per-finding comparison of
``paper_checks/baseline.py``). A bug caught by nothing means the verdicts do not depend on the code it broke.

``python -m opdcheck.mutants --write`` regenerates the recorded table (``paper_checks/mutation_table.json``, with
the time, the commit and the command of the measurement); :func:`appendix_markdown` renders it for the report.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import numpy as np

__all__ = ["Mutant", "MUTANTS", "patch_everywhere", "mutation_profile", "run_checks", "run_mutant", "run_table",
           "run_checks_detailed", "write_table", "load_table", "appendix_markdown", "TABLE_PATH", "MUTATION_SWEEPS",
           "differences", "patch_attr"]

TABLE_PATH = Path(__file__).parent / "paper_checks" / "mutation_table.json"

#: the instance sweeps of the mutation profile: the quick profile's toys with fewer, smaller random instances
MUTATION_SWEEPS = {
    "thm-3.4": (((0.05, 0.2, 1.0), 4), dict(max_X=8, max_n=6, max_h=3)),
    "thm-3.4-lyapunov": (((0.05, 1.0), 3), dict(max_X=8, max_n=6, max_h=3)),
    "thm-3.4-rate": (((0.05, 1.0), 3), dict(max_X=8, max_n=6, max_h=3)),
}


@contextlib.contextmanager
def patch_everywhere(module: str, name: str, new) -> Iterator[None]:
    """Replace ``module.name`` by ``new``, and every ``opdcheck.*`` module attribute bound to the same
    object (``from module import name`` copies the binding), for the duration of the block."""
    import importlib

    mod = importlib.import_module(module)
    old = getattr(mod, name)
    patched = []
    for m in list(sys.modules.values()):
        if m is None or not getattr(m, "__name__", "").startswith("opdcheck"):
            continue
        if getattr(m, name, None) is old:
            patched.append(m)
            setattr(m, name, new)
    try:
        yield
    finally:
        for m in patched:
            setattr(m, name, old)


@contextlib.contextmanager
def mutation_profile() -> Iterator[None]:
    """The quick profile with the sweeps of :data:`MUTATION_SWEEPS` (every other setting unchanged)."""
    from opdcheck.paper_checks.studies import thm34 as thm_3_4

    saved = {k: dict(v) for k, v in thm_3_4.SWEEPS.items()}
    for cid, (quick, size) in MUTATION_SWEEPS.items():
        thm_3_4.SWEEPS[cid]["quick"] = quick
        thm_3_4.SWEEPS[cid]["size"] = (size,)
    try:
        yield
    finally:
        for k, v in saved.items():
            thm_3_4.SWEEPS[k] = v


# ------------------------------------------------------------------------------ the planted bugs
def _wrap_numba(**forced) -> ContextManager:
    """The Numba kernel the Thm 3.4 checks run (``default_runner``) called with ``forced`` arguments."""
    from opdcheck.kernels import numba_opd

    orig = numba_opd.run_opd_numba

    def broken(problem, **kw):
        return orig(problem, **(kw | forced))

    return patch_everywhere("opdcheck.kernels.numba_opd", "run_opd_numba", broken)


def _printed_closed_form():
    return _wrap_numba(closed_form="printed")


def _optimism_removed():
    return _wrap_numba(prediction="none")


def _prox_dual_step_doubled():
    from opdcheck.kernels import rules

    orig = rules.dual_step_size

    def doubled(eta_lam, convention="prox"):
        s = orig(eta_lam, convention)
        return 2.0 * s if convention == "prox" else s

    return patch_everywhere("opdcheck.kernels.rules", "dual_step_size", doubled)


def _lambda_star_off():
    from opdcheck.numerics import saddle

    orig = saddle.solve_saddle

    def off(problem, method="auto"):
        sp = orig(problem, method)
        lam = np.asarray(sp.lam) * 1.001
        lam.setflags(write=False)
        return dataclasses.replace(sp, lam=lam)

    return patch_everywhere("opdcheck.numerics.saddle", "solve_saddle", off)


def _rho_smaller():
    from opdcheck.kernels import potential

    orig = potential.rho_eq46
    return patch_everywhere("opdcheck.kernels.potential", "rho_eq46", lambda problem: 0.9 * orig(problem))


def _phi1_coefficient():
    import math

    def phi1_wrong(problem, metrics):  # eq. (47) with 3 sqrt(h)R instead of 7/2 sqrt(h)R on ||lam*-lam_hat_1||^2
        C = math.sqrt(problem.h) * problem.R_max
        b = problem.beta
        return float((3 * C + b) * metrics["kl_star"][1] + (2 * C + b) * metrics["kl_hat_pred"][1]
                     + 3.0 * C * metrics["lam_err2"][1] + (11.0 / 6.0) * C * metrics["lam_hat_pred2"][1])

    return patch_everywhere("opdcheck.kernels.potential", "phi1_eq47", phi1_wrong)


def _kl_swapped():
    """The error metric with KL(pi_hat_t || pi*) instead of Thm 3.4's KL(pi* || pi_hat_t), in the
    runner the checks use (recomputed from every iterate of the numpy reference)."""
    from opdcheck.kernels.opd import run_opd
    from opdcheck.kernels.trajectory import kl_rows_log

    def swapped(problem, **kw):
        kw = {k: v for k, v in kw.items() if k != "prediction"}
        tr = run_opd(problem, keep_every=1, **kw)
        pi_s = np.asarray(tr.extra["pi_star"])
        log_s = np.log(pi_s)
        rev = np.array([float(problem.rho @ kl_rows_log(pi, np.log(pi), log_s)) for _, pi, _ in tr.iterates])
        n = len(tr.metrics["kl_star"])
        tr.metrics["kl_star"] = rev[:n]
        tr.metrics["error"] = tr.metrics["kl_star"] + tr.metrics["lam_err2"]
        return tr

    return patch_everywhere("opdcheck.kernels.numba_opd", "run_opd_numba", swapped)


def _bound_exponent_t():
    import math

    def bound_t(n, rho, phi1, denom):
        return np.exp(np.arange(n, dtype=np.float64) * math.log(rho)) * phi1 / denom

    def log_bound_t(n, rho, phi1, denom):
        t = np.arange(n, dtype=np.float64)
        if phi1 <= 0 or denom <= 0:
            return np.full(n, -np.inf if phi1 == 0 and denom > 0 else np.nan)
        return t * math.log(rho) + math.log(phi1) - math.log(denom)

    stack = contextlib.ExitStack()
    stack.enter_context(patch_everywhere("opdcheck.kernels.potential", "thm34_bound", bound_t))
    stack.enter_context(patch_everywhere("opdcheck.kernels.potential", "thm34_log_bound", log_bound_t))
    return stack


def _denominator_proofs():
    """Thm 3.4's printed denominator silently replaced by the proof's min(a1, a3)."""
    from opdcheck.kernels import potential

    orig = potential.thm34_constants

    def consts(*a, **k):
        out = orig(*a, **k)
        out["denom_theorem"] = out["denom_proof_min"]
        return out

    return patch_everywhere("opdcheck.kernels.potential", "thm34_constants", consts)


def _b4_true_at_34():
    from opdcheck.theory import lemmas

    import sympy as sp

    orig = lemmas.b4_holds_at

    def holds(delta, theta, coeffs_fn=lemmas.b4_coefficients):
        if sp.Rational(delta) == sp.Rational(3, 4) and sp.Rational(theta) == sp.Rational(3, 4):
            return True
        return orig(delta, theta, coeffs_fn)

    return patch_everywhere("opdcheck.theory.lemmas", "b4_holds_at", holds)


def _lemma_b5_zero_threshold():
    """lemma-B.5 counts lam*_j as zero only below 1e-300 and the saddle's zeros become 1e-200 (a
    'positivity' that is rounding): lam* > 0 then passes, while the replay still finds lam*_j = 0."""
    from opdcheck.numerics import saddle

    orig = saddle.solve_saddle

    def nudged(problem, method="auto"):
        sp = orig(problem, method)
        lam = np.where(np.asarray(sp.lam) == 0.0, 1e-200, sp.lam)
        lam.setflags(write=False)
        return dataclasses.replace(sp, lam=lam)

    stack = contextlib.ExitStack()
    stack.enter_context(patch_everywhere("opdcheck.numerics.saddle", "solve_saddle", nudged))
    stack.enter_context(patch_everywhere("opdcheck.tolerances", "LAMBDA_ZERO_ATOL", 1e-300))
    return stack


# ------------------------------------------------------------------------------ trust mutants (new classes)
@contextlib.contextmanager
def patch_attr(obj, name: str, new) -> Iterator[None]:
    """``obj.name = new`` for the block (an attribute looked up at call time: a module function, a dict entry)."""
    if isinstance(obj, dict):
        old = obj[name]
        obj[name] = new
        try:
            yield
        finally:
            obj[name] = old
        return
    old = getattr(obj, name)
    setattr(obj, name, new)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _stack(*cms) -> ContextManager:
    st = contextlib.ExitStack()
    for cm in cms:
        st.enter_context(cm)
    return st


# printed formula: a hand transcription of the paper mistyped
def _pf_closed_form_as_derived():
    from opdcheck.theory import closed_forms as cf
    return patch_attr(cf, "printed_prox_weight", cf.derived_prox_weight)


def _pf_dual_step_as_prox():
    import sympy as sp
    from opdcheck.theory import closed_forms as cf
    return patch_attr(cf, "printed_dual_step", lambda eta_lam=cf.ETA_LAM: sp.Max(0, cf.LAM_HAT - cf.C_VAL / (2 * eta_lam)))


def _pf_gap_no_sqrt():
    import sympy as sp
    from opdcheck.theory import alg3 as a

    def gap():
        return ((a.GMAX + (a.ETA + a.BETA) * sp.log(1 / a.PMIN)) * 2 * a.CLIP * a.EPS / a.PMIN
                + (a.ETA + a.BETA) * (1 + 1 / a.PMIN) * a.CLIP * a.EPS / a.PMIN)
    return patch_attr(a, "gap_eq28", gap)


def _pf_rho46_50_64():
    import sympy as sp
    from opdcheck.theory import thm34_constants as k

    def rho():
        s = sp.sqrt(k.H) * k.R
        return sp.Max(3 * s / (3 * s + k.BETA), s / (2 * s + k.BETA), sp.Rational(50, 64))
    return patch_attr(k, "paper_rho_eq46", rho)


def _pf_phi1_11_6():
    import sympy as sp
    from opdcheck.theory import thm34_constants as k

    def phi1():
        s = sp.sqrt(k.H) * k.R
        return ((3 * s + k.BETA) * k.KL1 + (2 * s + k.BETA) * k.KL2 + sp.Rational(7, 2) * s * k.LAM1
                + sp.Rational(5, 3) * s * k.LAMDIFF1)
    return patch_attr(k, "paper_phi1_eq47", phi1)


def _pf_denominator_proof():
    import sympy as sp
    from opdcheck.theory import thm34_constants as k
    return patch_attr(k, "theorem_denominator",
                      lambda: sp.Min(k.ETA_TH + k.BETA, sp.Rational(5, 4) * k.ETA_LAM - sp.sqrt(k.H) * k.R / 4))


def _pf_b4_third_coefficient():
    from opdcheck.theory import lemmas

    def coeffs(delta=lemmas.DELTA, theta=lemmas.THETA):
        return (1 - delta, (1 - 1 / delta) * (1 - theta), (1 - 1 / delta) * (1 - theta))
    return patch_attr(lemmas, "b4_coefficients", coeffs)


def _pf_remark_b6_one_over_xi():
    from opdcheck.paper_checks.checks import lemma_b5

    def bound(problem, xi):
        return 1.0 / xi * (problem.R_max + problem.beta * np.log(1.0 / problem.p_min))
    return patch_attr(lemma_b5, "remark_b6_bound", bound)


def _pf_general_rho_term():
    from opdcheck.theory import thm34_constants as k
    orig = k.rho_terms

    def terms():
        t = list(orig())
        t[1] = k.C2 / (k.ETA_TH + k.BETA)  # "- C" dropped from the second denominator
        return t
    return patch_attr(k, "rho_terms", terms)


# gate: a certificate's tolerance loosened or tightened
def _gate_foc_looser():
    return patch_everywhere("opdcheck.tolerances", "CERT_FOC_ROUNDING_FACTOR", 64.0e6)


def _gate_foc_wrapped(factor: float):
    from opdcheck.numerics import certificates

    orig = certificates.first_order_certificate

    def wrapped(problem, lam, pi):
        out = dict(orig(problem, lam, pi))
        out["gate"] *= factor
        out["ok"] = bool(out["residual"] <= out["gate"] and out["row_sum_error"] <= out["row_sum_gate"]
                         and np.all(np.asarray(pi) >= 0))
        return out
    return patch_everywhere("opdcheck.numerics.certificates", "first_order_certificate", wrapped)


# rule: a multiplier rule that does not follow its source
def _rule_sec4_no_correction():
    from opdcheck.kernels import dual_rules
    return patch_attr(dual_rules.DUAL_RULES, "sec4-optimistic-log-lambda",
                      lambda step=0.5, **kw: dual_rules.optimistic_log_lambda(step, **(kw | {"optimistic": False})))


def _rule_sec4_step_doubled():
    from opdcheck.kernels import dual_rules
    return patch_attr(dual_rules.DUAL_RULES, "sec4-optimistic-log-lambda",
                      lambda step=0.5, **kw: dual_rules.optimistic_log_lambda(2 * step, **kw))


def _rule_safe_rlhf_rate_doubled():
    from opdcheck.kernels import dual_rules
    return patch_attr(dual_rules.DUAL_RULES, "safe-rlhf",
                      lambda lr=0.1, **kw: dual_rules.safe_rlhf_log_lambda(2 * lr, **kw))


def _rule_safe_rlhf_no_clamp():
    from opdcheck.kernels import dual_rules
    return patch_attr(dual_rules.DUAL_RULES, "safe-rlhf",
                      lambda lr=0.1, lam_max=5.0: dual_rules.safe_rlhf_log_lambda(lr, lam_max=None))


# kernel: the Numba kernels the checks use at scale (reached in quick runs only through the controls)
def _wrap_fused(**forced) -> ContextManager:
    from opdcheck.kernels import numba_fused

    orig = numba_fused.run_opd_fused
    return patch_everywhere("opdcheck.kernels.numba_fused", "run_opd_fused",
                            lambda problem, **kw: orig(problem, **(kw | forced)))


def _fused_parallel_only(**forced) -> ContextManager:
    """The bug only on the parallel (prange) path: reached at scale, never by the serial unit instances."""
    from opdcheck.kernels import numba_fused

    orig = numba_fused.run_opd_fused

    def fused(problem, **kw):
        par = kw.get("parallel")
        if par is None:
            par = problem.X >= 2 and problem.X * problem.n >= numba_fused.PARALLEL_MIN_ENTRIES
        return orig(problem, **(kw | forced)) if par else orig(problem, **kw)
    return patch_everywhere("opdcheck.kernels.numba_fused", "run_opd_fused", fused)


def _wrap_numba_alg3(transform) -> ContextManager:
    from opdcheck.kernels import numba_alg3

    orig = numba_alg3.loglinear_grad_fisher

    def broken(problem, policy, theta, lam, **kw):
        g, F = orig(problem, policy, theta, lam, **kw)
        return transform(g, F, problem, policy, theta, lam, kw, orig)
    return patch_everywhere("opdcheck.kernels.numba_alg3", "loglinear_grad_fisher", broken)


def _alg3_uncentred():
    return _wrap_numba_alg3(lambda g, F, p, pol, th, lam, kw, orig: orig(p, pol, th, lam, **(kw | {"fisher": "uncentred"})))


def _alg3_grad_scaled():
    return _wrap_numba_alg3(lambda g, F, *a: (1.001 * g, F))


def _alg3_fisher_transposed_block():
    def t(g, F, *a):
        F = np.array(F, copy=True)
        F[0, -1] *= 1.01  # an off-diagonal entry of the upper triangle not mirrored
        return g, F
    return _wrap_numba_alg3(t)


# replay: the independent high-precision replay broken
def _replay_foc_zero():
    return patch_everywhere("opdcheck.numerics.certificates", "mp_replay_first_order", lambda *a, **k: 0.0)


def _replay_zero_multiplier_unconfirmed():
    from opdcheck.numerics import replay

    orig = replay.replay_zero_multiplier

    def broken(*a, **k):
        w = dict(orig(*a, **k))
        w["confirms"] = False
        return w
    return patch_everywhere("opdcheck.numerics.replay", "replay_zero_multiplier", broken)


def _replay_mp_saddle_shifted():
    """The 50-digit saddle point off by 1e-6 (a replay that does not solve the defining problem)."""
    from opdcheck.numerics import replay

    orig = replay.mp_saddle

    def shifted(P, lam_start, **k):
        S = orig(P, lam_start, **k)
        return dataclasses.replace(S, lam=[v + replay.mpmath.mpf("1e-6") for v in S.lam])
    return patch_everywhere("opdcheck.numerics.replay", "mp_saddle", shifted)


# cache: a memo keyed too coarsely, or shared across what must differ
def _cache_saddle_by_shape():
    """solve_saddle memoised by the instance's shape (X, n, h) only: instances of one shape share lam*."""
    from opdcheck.numerics import saddle

    orig = saddle.solve_saddle
    memo: dict = {}

    def by_shape(problem, method="auto"):
        key = (problem.X, problem.n, problem.h, method)
        if key not in memo:
            memo[key] = orig(problem, method)
        return memo[key]
    return patch_everywhere("opdcheck.numerics.saddle", "solve_saddle", by_shape)


def _register_severity_substantive():
    """The claims register calls Lemma B.5's "lam* > 0" a substantive error where it says misstatement."""
    import dataclasses

    from opdcheck.paper_checks import claims

    def retyped(s):
        if s.id != "lemma-B.5-positivity":
            return s
        return dataclasses.replace(s, judges=tuple(dataclasses.replace(j, severity="substantive") for j in s.judges))
    return patch_attr(claims, "REGISTER", tuple(retyped(s) for s in claims.REGISTER))


def _cache_printed_parse_by_name():
    """The printed-formula parse cache keyed by name only, pre-filled with a typo'd eq. (46) (50/64)."""
    from opdcheck.theory import printed

    orig = printed.parse
    typo = orig("rho_eq46", printed.FORMULAS["rho_eq46"].latex.replace(r"\frac{50}{63}", r"\frac{50}{64}"))

    def by_name(name, latex=None):
        return typo if name == "rho_eq46" else orig(name, latex)
    return patch_attr(printed, "parse", by_name)


def _cache_step_sizes_stale():
    """Thm 3.4's step sizes cached from the first instance seen (R_max, h of another instance)."""
    from opdcheck.kernels import opd

    orig = opd.thm34_step_sizes
    first: list = []

    def stale(problem):
        if not first:
            first.append(orig(problem))
        return first[0]
    return patch_everywhere("opdcheck.kernels.opd", "thm34_step_sizes", stale)


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``patch()`` returns the context manager that plants it; ``checks`` are the
    check ids it can affect; ``xfail`` (a reason) when it is known not to flip on this branch."""

    name: str
    description: str
    checks: tuple[str, ...]
    patch: Callable[[], ContextManager]
    xfail: str | None = None
    #: the bug class: "kernel", "replay", "printed formula", "gate", "rule", "cache", "numerics", "theory"
    kind: str = "numerics"
    #: re-running its checks takes longer than the default test budget (its test is marked slow)
    slow: bool = True


_THM34 = ("thm-3.4", "thm-3.4-lyapunov", "thm-3.4-rate")

MUTANTS: tuple[Mutant, ...] = (
    Mutant("numba-printed-closed-form", "OPD inside the Numba kernel uses the printed closed form exp(S_lam) (no 1/(eta+beta))",
           _THM34, _printed_closed_form),
    Mutant("numba-optimism-removed", "OPD inside the Numba kernel without optimism (prediction = the current iterate)",
           _THM34, _optimism_removed),
    Mutant("prox-dual-step-doubled", "the prox dual step [lam_hat - c/(2 eta_lam)]_+ doubled to c/eta_lam (rules.dual_step_size)",
           _THM34, _prox_dual_step_doubled),
    Mutant("lambda-star-off-0.1%", "the exact saddle point's lam* multiplied by 1.001 (numerics.saddle.solve_saddle)",
           _THM34 + ("lemma-B.5",), _lambda_star_off),
    Mutant("rho46-10%-smaller", "rho of eq. (46) made 10 % smaller (kernels.potential.rho_eq46)", _THM34, _rho_smaller),
    Mutant("phi1-coefficient", "Phi_1 of eq. (47) with 3 sqrt(h)R instead of 7/2 sqrt(h)R on ||lam*-lam_hat_1||^2",
           ("thm-3.4",), _phi1_coefficient),
    Mutant("kl-direction-swapped", "the error metric with KL(pi_hat_t || pi*) instead of KL(pi* || pi_hat_t)",
           _THM34, _kl_swapped),
    Mutant("bound-exponent-t", "the bound rho^t Phi_1/denom instead of rho^(t-1) Phi_1/denom", ("thm-3.4",),
           _bound_exponent_t),
    Mutant("denominator-proofs", "Thm 3.4's denominator 7/4 eta_lam - 3/4 sqrt(h)R replaced by the proof's 5/4 eta_lam - 1/4 sqrt(h)R",
           ("thm-3.4",), _denominator_proofs),
    Mutant("lemma-B5-rounding-positive", "lam*_j = 0 nudged to 1e-200 and counted as positive (lemma-B.5)",
           ("lemma-B.5",), _lemma_b5_zero_threshold),
    Mutant("lemma-B4-true-at-3/4", "Lemma B.4 made true at delta = theta = 3/4 (theory.lemmas.b4_holds_at)",
           ("lemmas-B.2-B.4-B.8",), _b4_true_at_34),
    # ---- printed formula: a hand transcription of the paper mistyped
    Mutant("pf-closed-form-as-derived", "eqs. (4)/(6)'s printed closed form transcribed as the derived one (exp(S/(eta+beta)))",
           ("opd-closed-form",), _pf_closed_form_as_derived, kind="printed formula"),
    Mutant("pf-dual-step-eq9-as-prox", "eqs. (9)/(11) transcribed with the prox step c/(2 eta_lam)",
           ("dual-step-scale",), _pf_dual_step_as_prox, kind="printed formula", slow=False),
    Mutant("pf-eq28-no-sqrt", "eq. (28) transcribed without the square root", ("cor-3.10",), _pf_gap_no_sqrt,
           kind="printed formula"),
    Mutant("pf-rho46-50/64", "eq. (46) transcribed with 50/64 for 50/63", ("thm-3.4-constants",), _pf_rho46_50_64,
           kind="printed formula", slow=False),
    Mutant("pf-phi1-5/3", "eq. (47) transcribed with 5/3 for 11/6 on ||lam_hat_1 - lam_0||^2", ("thm-3.4-constants",),
           _pf_phi1_11_6, kind="printed formula", slow=False),
    Mutant("pf-denominator-as-proof", "Thm 3.4's denominator transcribed as the proof's 5/4 eta_lam - 1/4 sqrt(h)R",
           ("thm-3.4-constants",), _pf_denominator_proof, kind="printed formula", slow=False),
    Mutant("pf-b4-third-coefficient", "Lemma B.4's third coefficient transcribed (1-1/d)(1-t) for (1-1/d)(1-1/t)",
           ("lemmas-B.2-B.4-B.8", "thm-3.4-constants"), _pf_b4_third_coefficient, kind="printed formula", slow=False),
    Mutant("pf-remark-b6-1/xi", "Remark B.6's bound transcribed with 1/xi for 2/xi", ("lemma-B.5",),
           _pf_remark_b6_one_over_xi, kind="printed formula", slow=False),
    Mutant("pf-general-rho-C-dropped", "the general rho's second term transcribed C_2/(eta_th+beta) (the - C dropped)",
           ("thm-3.4-constants",), _pf_general_rho_term, kind="printed formula", slow=False),
    # ---- gate: a certificate's tolerance changed
    Mutant("gate-foc-factor-1e6", "the first-order gate's rounding factor made 1e6 x larger (tolerances)",
           ("eq3-best-response",), _gate_foc_looser, kind="gate", slow=False),
    Mutant("gate-foc-1e6-looser", "the first-order certificate's gate multiplied by 1e6 (numerics.certificates)",
           ("eq3-best-response",), lambda: _gate_foc_wrapped(1e6), kind="gate", slow=False),
    Mutant("gate-foc-10x-looser", "the first-order certificate's gate multiplied by 10", ("eq3-best-response",),
           lambda: _gate_foc_wrapped(10.0), kind="gate", slow=False),
    Mutant("gate-foc-1000x-tighter", "the first-order certificate's gate divided by 1000", ("eq3-best-response",),
           lambda: _gate_foc_wrapped(1e-3), kind="gate", slow=False),
    # ---- rule: a multiplier rule that does not follow its source
    Mutant("rule-sec4-no-correction", "§4's OPD rule with g_t for 2 g_t - g_{t-1}", ("sec-4-stability",),
           _rule_sec4_no_correction, kind="rule"),
    Mutant("rule-sec4-step-doubled", "§4's OPD rule with dual step 1.0 for 0.5", ("sec-4-stability",),
           _rule_sec4_step_doubled, kind="rule"),
    Mutant("rule-safe-rlhf-rate-doubled", "the Safe-RLHF baseline's rate doubled (0.2 for 0.1)", ("sec-4-stability",),
           _rule_safe_rlhf_rate_doubled, kind="rule"),
    Mutant("rule-safe-rlhf-no-clamp", "the Safe-RLHF baseline without its clamp at lambda_max = 5", ("sec-4-stability",),
           _rule_safe_rlhf_no_clamp, kind="rule"),
    # ---- kernel: the Numba kernels used at scale
    Mutant("kernel-fused-printed-closed-form", "the fused kernel uses the printed closed form exp(S)", ("thm-3.4",),
           lambda: _wrap_fused(closed_form="printed"), kind="kernel"),
    Mutant("kernel-fused-no-optimism", "the fused kernel without optimism (prediction none)", ("thm-3.4",),
           lambda: _wrap_fused(prediction="none"), kind="kernel"),
    Mutant("kernel-fused-parallel-gradient-step", "the fused kernel's parallel path takes the gradient dual step for prox",
           ("thm-3.4",), lambda: _fused_parallel_only(dual_step="gradient"), kind="kernel"),
    Mutant("kernel-numba-opd-gradient-step", "the Numba OPD kernel takes the gradient dual step when asked for prox",
           ("thm-3.4",), lambda: _wrap_numba(dual_step="gradient"), kind="kernel"),
    Mutant("kernel-numba-alg3-uncentred", "the Numba Alg. 3 step uses the uncentred Fisher matrix", ("alg-3-npg",),
           _alg3_uncentred, kind="kernel"),
    Mutant("kernel-numba-alg3-grad-0.1%", "the Numba Alg. 3 step's gradient 0.1 % too large", ("alg-3-npg",),
           _alg3_grad_scaled, kind="kernel"),
    Mutant("kernel-numba-alg3-asymmetric-F", "the Numba Alg. 3 Fisher matrix with one unmirrored off-diagonal entry",
           ("alg-3-npg",), _alg3_fisher_transposed_block, kind="kernel"),
    # ---- replay: the independent replay broken
    Mutant("replay-foc-returns-0", "the 50-digit first-order replay returns 0", ("eq3-best-response",), _replay_foc_zero,
           kind="replay", slow=False),
    Mutant("replay-zero-multiplier-unconfirmed", "the 50-digit zero-multiplier replay never confirms", ("lemma-B.5",),
           _replay_zero_multiplier_unconfirmed, kind="replay", slow=False),
    Mutant("replay-mp-saddle-off-1e-6", "the 50-digit saddle point off by 1e-6", ("lemma-B.5",), _replay_mp_saddle_shifted,
           kind="replay", slow=False),
    # ---- cache: a memo keyed too coarsely
    Mutant("cache-saddle-by-shape", "solve_saddle memoised by (X, n, h) only", ("lemma-B.5",), _cache_saddle_by_shape,
           kind="cache", slow=False),
    Mutant("cache-printed-parse-by-name", "the printed-formula parse cache keyed by name, holding a typo'd eq. (46)",
           ("thm-3.4-constants",), _cache_printed_parse_by_name, kind="cache", slow=False),
    Mutant("register-severity-substantive", "the claims register calls Lemma B.5's lam* > 0 substantive, not a misstatement",
           ("lemma-B.5",), _register_severity_substantive, kind="printed formula", slow=False),
    Mutant("cache-step-sizes-stale", "Thm 3.4's step sizes cached from the first instance", ("thm-3.4-constants", "thm-3.4"),
           _cache_step_sizes_stale, kind="cache"),
)


# ------------------------------------------------------------------------------ running the table
def run_checks(check_ids, *, seed: int = 0, out_dir: Path | None = None, stop_when: Callable[[str, str], bool] | None = None) -> dict[str, str]:
    """Verdicts of ``check_ids`` on the mutation profile (quick profile, :data:`MUTATION_SWEEPS`).

    A crash is recorded as the verdict ``CRASHED: <exception>``. ``stop_when(check_id, verdict)``
    ends the loop early."""
    return {c: d["verdict"] for c, d in run_checks_detailed(check_ids, seed=seed, out_dir=out_dir,
                                                            stop_when=stop_when).items()}


def _why(res) -> str:
    """What decided an INCONCLUSIVE: the machinery's downgrade reasons, else the failed controls."""
    if res.downgrades:
        return "; ".join(res.downgrades)[:400]
    failed = [f"{c.name}: {c.detail}" for c in res.controls if not c.passed]
    return "; ".join(failed)[:400]


def run_checks_detailed(check_ids, *, seed: int = 0, out_dir: Path | None = None,
                        stop_when: Callable[[str, str], bool] | None = None) -> dict[str, dict]:
    """Like :func:`run_checks`, per check ``{"verdict", "why", "entry"}``: ``why`` the downgrade reasons,
    ``entry`` the per-finding, per-control record of ``paper_checks/baseline.py``. ``stop_when(check_id,
    detail)`` (the dict) ends the loop early."""
    import tempfile

    from opdcheck.paper_checks.baseline import result_entry
    from opdcheck.paper_checks.context import CheckContext
    from opdcheck.paper_checks.registry import get_check

    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp, mutation_profile():
        for cid in check_ids:
            ctx = CheckContext(profile="quick", seed=seed, out_dir=Path(out_dir or tmp) / cid)
            try:
                res = get_check(cid).run(ctx)
                out[cid] = {"verdict": res.verdict.value, "why": _why(res), "entry": result_entry(res)}
            except Exception as exc:  # a planted bug may crash a check: that changes its verdict too
                v = f"CRASHED: {type(exc).__name__}"
                out[cid] = {"verdict": v, "why": str(exc)[:400],
                            "entry": {"verdict": v, "findings": {}, "controls": {}}}
            if stop_when is not None and stop_when(cid, out[cid]):
                break
    return out


def differences(cid: str, unmutated: dict, mutated: dict) -> list[str]:
    """What the bug changed in check ``cid``: every finding, control or verdict that differs from the unmutated
    run (``baseline.entry_differences``; key numbers are not compared), and every control that failed."""
    from opdcheck.paper_checks.baseline import entry_differences

    want = {k: v for k, v in unmutated["entry"].items() if k != "numbers"}
    got = {k: v for k, v in mutated["entry"].items() if k != "numbers"}
    lines = entry_differences(cid, want, got)
    lines += [f"{cid}: control {n!r} failed" for n, ok in got.get("controls", {}).items()
              if not ok and f"{cid}: control {n!r} recorded True, got False" not in lines]
    return lines


def run_mutant(mutant: Mutant, unmutated: dict[str, dict], *, seed: int = 0, stop_at_first: bool = False) -> dict:
    """Run ``mutant.checks`` with the bug planted: caught when any verdict, finding or control differs from
    ``unmutated`` (``run_checks_detailed`` of the same checks) or any control fails."""
    from opdcheck.paper_checks.registry import get_check

    t0 = time.perf_counter()
    stop = (lambda cid, d: bool(differences(cid, unmutated[cid], d))) if stop_at_first else None
    for cid in mutant.checks:  # imported before the bug is planted: a module first imported under it would keep it
        get_check(cid)
    with mutant.patch():
        detailed = run_checks_detailed(mutant.checks, seed=seed, stop_when=stop)
    changed = []
    for c, d in detailed.items():
        lines = differences(c, unmutated[c], d)
        if lines:
            changed.append({"check": c, "from": unmutated[c]["verdict"], "to": d["verdict"], "differences": lines,
                            "why": d["why"]})
    return {"name": mutant.name, "kind": mutant.kind, "description": mutant.description, "checks": list(mutant.checks),
            "verdicts": {c: d["verdict"] for c, d in detailed.items()}, "changed": changed, "caught": bool(changed),
            "verdict_changed": any(ch["from"] != ch["to"] for ch in changed), "xfail": mutant.xfail,
            "seconds": round(time.perf_counter() - t0, 1)}


def _git_commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else "unknown"
    except Exception:  # pragma: no cover - no git
        return "unknown"


def run_table(mutants=MUTANTS, *, seed: int = 0, command: str = "python -m opdcheck.mutants --write") -> dict:
    """The whole table: the unmutated run of every affected check, then each mutant's (stopping at the first
    check it is caught by). Records when, on which commit and by which command it was measured."""
    import datetime
    import platform

    ids = sorted({c for m in mutants for c in m.checks})
    t0 = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = _git_commit()
    unmutated = run_checks_detailed(ids, seed=seed)
    rows = [run_mutant(m, unmutated, seed=seed, stop_at_first=True) for m in mutants]
    return {"profile": "quick, mutation sweeps " + json.dumps({k: v[0][1] for k, v in MUTATION_SWEEPS.items()}),
            "seed": seed, "measured": started, "commit": commit, "command": command,
            "machine": f"{platform.node() or 'unknown host'}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
            "criterion": "caught = a verdict, a finding's verdict or a control differs from the unmutated run, or a control fails",
            "baseline": {c: d["verdict"] for c, d in unmutated.items()}, "mutants": rows,
            "caught": sum(r["caught"] for r in rows), "verdict_changed": sum(r["verdict_changed"] for r in rows),
            "total": len(rows), "seconds": round(time.perf_counter() - t0, 1)}


def write_table(path: Path = TABLE_PATH, *, seed: int = 0) -> dict:
    table = run_table(seed=seed, command=f"python -m opdcheck.mutants --write --seed {seed}")
    Path(path).write_text(json.dumps(table, indent=1) + "\n")
    return table


def load_table(path: Path = TABLE_PATH) -> dict | None:
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else None


#: the heading the report writer gives the appendix (the body states the count it measured)
APPENDIX_TITLE = "Verification power (mutation testing)"


def appendix_markdown(path: Path = TABLE_PATH) -> str:
    """The report appendix, generated from the recorded table (``python -m opdcheck.mutants --write``)."""
    t = load_table(path)
    if t is None:
        return "No mutation table recorded; run `python -m opdcheck.mutants --write`.\n"
    def cell(text: str) -> str:  # a Markdown table cell: pipes escaped
        return text.replace("|", "\\|")

    declared = {m.name: m.xfail for m in MUTANTS}  # a reason given after the measurement
    kinds = sorted({r.get("kind", "numerics") for r in t["mutants"]})
    by_kind = "; ".join(f"{k}: {sum(r['caught'] for r in t['mutants'] if r.get('kind', 'numerics') == k)} of "
                        f"{sum(1 for r in t['mutants'] if r.get('kind', 'numerics') == k)}" for k in kinds)
    lines = [f"**Verification power: {t['caught']} of {t['total']} planted bugs are caught** "
             f"({t.get('verdict_changed', t['caught'])} change a check's verdict; the others change a finding or fail a control).",
             "",
             f"Measured {t.get('measured', 'at an unrecorded time')} on commit `{t.get('commit', 'unrecorded')}` by "
             f"`{t.get('command', 'python -m opdcheck.mutants --write')}` ({t.get('machine', 'machine unrecorded')}; "
             f"{t.get('seconds', 0):.0f} s). " + t.get("criterion", "caught = a verdict changes") + ". By class: "
             + by_kind + ".", "",
             f"Each bug is planted by monkeypatching and the checks it can affect are run ({t['profile']}, "
             f"seed {t['seed']}) until one of them catches it. Unmutated verdicts: "
             + ", ".join(f"`{c}` {v}" for c, v in t["baseline"].items()) + ".", "",
             "| planted bug | class | checks run | caught | what caught it (first differences) |",
             "|---|---|---|---|---|"]
    for r in t["mutants"]:
        xf = r.get("xfail") or declared.get(r["name"])
        caught = "yes" if r["caught"] else ("**no** (" + xf + ")" if xf else "**no**")
        what = "; ".join(d for ch in r["changed"] for d in ch.get("differences", [f"`{ch['check']}` {ch['from']} -> {ch['to']}"]))
        lines.append(f"| {cell(r['description'])} | {r.get('kind', 'numerics')} | {', '.join(r['checks'])} | {caught} | "
                     f"{cell(what[:260]) or 'nothing'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m opdcheck.mutants", description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"run the table and record it in {TABLE_PATH.name}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None, metavar="NAME", help="run only these mutants (not with --write)")
    a = ap.parse_args(argv)
    if a.only:
        ms = [m for m in MUTANTS if m.name in set(a.only)]
        t = run_table(ms, seed=a.seed)
        for r in t["mutants"]:
            print(r["name"], "caught" if r["caught"] else "NOT caught", r["changed"][:1], f"{r['seconds']} s")
        return 0
    if a.write:
        t = write_table(seed=a.seed)
        print(appendix_markdown())
        print(f"{t['caught']} of {t['total']} caught ({t['verdict_changed']} change a verdict) in {t['seconds']} s; "
              f"written to {TABLE_PATH}")
    else:
        print(appendix_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
