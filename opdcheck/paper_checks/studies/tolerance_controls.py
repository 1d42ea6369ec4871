"""Runtime negative controls of the verdict gates named in ``opdcheck.tolerances``, each at its own scale.

A gate compares a measured quantity with a stated one up to a named tolerance. Its control feeds the check's
own comparison function (passed in by the check, so the two cannot drift apart) a point GATE_CONTROL_FACTOR
times the tolerance beyond the boundary (it must be rejected) and one 1/GATE_CONTROL_FACTOR of it beyond
(it must be accepted). A comparison loosened or tightened by more than GATE_CONTROL_FACTOR, or one that
ignores its tolerance, fails one of the two.

One more control here is not a tolerance but a gate of the replay itself: the 50-digit Algorithm 2 must
project its dual step onto ``lam >= 0`` (:func:`replay_projection_control`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from opdcheck.paper_checks.result import Control
# bound at import: a gate that reads another value at call time (a patched or mistyped tolerance) is then caught
from opdcheck.tolerances import (BEST_RESPONSE_CVXPY_ATOL, EXISTENTIAL_RATE_SLACK, ALG3_FIXED_POINT_ATOL, ALG3_TAIL_SPREAD_ATOL, PINSKER_TIGHT_RATIO, NEURAL_FEASIBLE_ATOL, NEURAL_REWARD_MARGIN, PAIRED_TEST_ALPHA, SLATER_XI_ATOL, SEC4_FEASIBLE_ATOL, SEC4_OSCILLATION_MIN, NEURAL_OSCILLATION_DECADES, SADDLE_AGREEMENT_ATOL, NUMBA_AGREEMENT_RTOL, ALG3_ANCHOR_ATOL, ALG3_DIRECTION_RTOL, ALG3_CONVERGED_RTOL, IN_CLASS_KKT_ATOL, LAMBDA_UNIQUE_EIG_RTOL, TIGHT_CONSTRAINT_ATOL, REPLAY_RATE_ATOL, CONVEXITY_RTOL, FD_RTOL, LAMBDA_ZERO_ATOL, ALG1_REPLAY_FLOOR, ALG1_REPLAY_RTOL, BOUND_RTOL, CORRECTED_FORMULA_ATOL,
                                 CORRECTED_MEASURED_ATOL, GATE_CONTROL_FACTOR, LAST_ITERATE_CONVERGED_RTOL,
                                 LYAPUNOV_PHI_FLOOR_RTOL, PINSKER_ATOL, ALG1_CONVERGED_RATIO, THM34_CROSSCHECK_RTOL, SEC4_SETTLE_BAND_EXACT, ALG1_CERT_MARGIN, COUNTEREX_STAYS_RTOL, SLATER_REPLAY_RTOL, RATE_CERT_MATCH_RTOL, REPLAY_AGREE_ATOL,
                                 REPLAY_AGREE_RTOL, SADDLE_RESULT_RTOL, THM34_CERT_MATCH_ATOL, THM34_RATE_ATOL)

__all__ = ["band_controls", "rate_match_controls", "cert_match_controls", "bound_gate_controls",
           "lyapunov_gate_controls", "corrected_gate_controls", "replay_projection_control", "thm34_rate_gate_controls",
           "replay_agree_controls", "pinsker_replay_controls", "converged_gate_controls", "toy_replay_agree_controls",
           "saddle_certificate_controls", "stays_gate_controls", "slater_replay_controls", "settle_band_controls",
           "cert_margin_controls", "constants_crosscheck_controls", "run_converged_controls", "fd_gate_controls",
           "convexity_gate_controls", "multiplier_zero_controls", "close_gate_controls", "replay_rate_agree_controls",
           "degeneracy_gate_controls", "lyapunov_floor_controls",
           "alg3_gate_controls", "alg3_direction_anchor_controls",
           "backend_agree_controls",
           "at_most_controls", "pinsker_tight_controls",
           "fixed_point_gate_controls", "existential_slack_controls",
           "reference_distance_controls", "replay_converged_controls"]


def band_controls(label: str, accepts: Callable[[float], Sequence[bool]], tol: float, unit: str = "") -> list[Control]:
    """The two controls of one gate: ``accepts(d)`` returns, for each side the gate guards, whether the check's
    comparison accepts a point ``d`` beyond its boundary (``d`` in the gate's own units, ``tol`` its tolerance).
    Negative: at ``GATE_CONTROL_FACTOR x tol`` no side may accept; positive: at ``tol / GATE_CONTROL_FACTOR``
    every side must accept. A comparison that raises fails its control (with the exception in the detail)."""
    f = GATE_CONTROL_FACTOR
    try:
        beyond, inside = [bool(a) for a in accepts(f * tol)], [bool(a) for a in accepts(tol / f)]
    except Exception as exc:  # a broken comparison is a failed control, never a crash of the check
        return [Control(f"{label}: rejects a point {f:g}x its tolerance beyond", "negative", False, repr(exc)),
                Control(f"{label}: accepts a point 1/{f:g} of its tolerance beyond", "positive", False, repr(exc))]
    return [
        Control(f"{label}: rejects a point {f:g}x its tolerance beyond", "negative", passed=not any(beyond),
                detail=f"tolerance {tol:g}{unit}; at {f * tol:.3g}{unit} beyond, accepted on {sum(beyond)} of "
                       f"{len(beyond)} side(s)"),
        Control(f"{label}: accepts a point 1/{f:g} of its tolerance beyond", "positive", passed=all(inside),
                detail=f"tolerance {tol:g}{unit}; at {tol / f:.3g}{unit} beyond, accepted on {sum(inside)} of "
                       f"{len(inside)} side(s)"),
    ]


def rate_match_controls(lo: float, hi: float, judge: Callable | None = None) -> list[Control]:
    """rate-certificate's enclosure match (``judge(measured, lo, hi) -> (ok, rel)``, ``rate_cases.judge_rate``
    by default, at its default ``RATE_CERT_MATCH_RTOL``): a measured rate ``d`` relative beyond ``hi`` (above)
    or beyond ``lo`` (below) of the certified ``[lo, hi]``."""
    if judge is None:
        from opdcheck.paper_checks.studies import rate_cases
        judge = rate_cases.judge_rate
    lo, hi = float(lo), float(hi)
    return band_controls("rate-certificate enclosure match (RATE_CERT_MATCH_RTOL)",
                         lambda d: [judge(hi * (1.0 + d), lo, hi)[0], judge(lo * (1.0 - d), lo, hi)[0]],
                         RATE_CERT_MATCH_RTOL, " relative")


def cert_match_controls(rate_lo: Any, rate_hi: Any, agrees: Callable | None = None) -> list[Control]:
    """thm-3.4-rate's measured-vs-certified agreement (``agrees(measured, lo, hi, spread)``,
    ``thm34_rate.measured_agrees`` by default, at ``THM34_CERT_MATCH_ATOL`` with no fit spread): a measured
    rate ``d`` above the certified ``hi`` or below ``lo`` (absolute)."""
    if agrees is None:
        from opdcheck.paper_checks.studies import thm34_rate
        agrees = thm34_rate.measured_agrees
    lo, hi = Fraction(rate_lo), Fraction(rate_hi)
    return band_controls("thm-3.4-rate measured vs certified match (THM34_CERT_MATCH_ATOL)",
                         lambda d: [agrees(float(hi) + d, lo, hi, 0.0), agrees(float(lo) - d, lo, hi, 0.0)],
                         THM34_CERT_MATCH_ATOL, " absolute")


def bound_gate_controls(judge: Callable | None = None) -> list[Control]:
    """thm-3.4's bound gate (``judge(errors, None, BOUND_RTOL, log_bounds=...)``, the ``judge_bound`` that
    ``studies/thm34.py`` calls, by default): a run whose error at one step of three exceeds the bound by
    ``d`` relative (the bound in log space, as the check passes it)."""
    if judge is None:
        from opdcheck.paper_checks.studies import thm34
        judge = thm34.judge_bound
    log_b = np.log(np.array([0.9, 0.5, 0.25]))

    def accepts(d: float) -> list[bool]:
        err = np.exp(log_b) * np.array([0.5, 1.0 + d, 0.5])
        return [judge(err, None, BOUND_RTOL, log_bounds=log_b)[0]]

    return band_controls("Thm 3.4 bound gate (BOUND_RTOL)", accepts, BOUND_RTOL, " relative")


def lyapunov_gate_controls(judge: Callable | None = None) -> list[Control]:
    """thm-3.4-lyapunov's contraction gate (``judge(phi, rho, BOUND_RTOL, atol=floor, start=1)``,
    ``trajectory.judge_lyapunov`` by default): a potential with ``Phi_3 = rho Phi_2 (1 + d)``, the other steps
    contracting, the floor as the check sets it (LYAPUNOV_PHI_FLOOR_RTOL x Phi_1)."""
    if judge is None:
        from opdcheck.kernels import trajectory
        judge = trajectory.judge_lyapunov
    rho = 0.8

    def accepts(d: float) -> list[bool]:
        phi = np.array([2.0, 1.0, 0.7, 0.7 * rho * (1.0 + d), 0.1])
        return [judge(phi, rho, BOUND_RTOL, atol=LYAPUNOV_PHI_FLOOR_RTOL * phi[1], start=1)[0]]

    return band_controls("Thm 3.4 one-step contraction gate (BOUND_RTOL)", accepts, BOUND_RTOL, " relative")


def thm34_rate_gate_controls(judge: Callable | None = None) -> list[Control]:
    """thm-3.4-rate's measured-rate gate (``judge(measured, rho)``, ``thm34_rate.judge_rate`` by default, at
    THM34_RATE_ATOL with no fit spread): a measured tail rate ``d`` above rho of eq. (46)."""
    if judge is None:
        from opdcheck.paper_checks.studies import thm34_rate
        judge = thm34_rate.judge_rate
    rho = 0.9
    return band_controls("thm-3.4-rate measured rate vs rho(46) gate (THM34_RATE_ATOL)",
                         lambda d: [judge(rho + d, rho)], THM34_RATE_ATOL, " absolute")


def replay_agree_controls(agree: Callable | None = None) -> list[Control]:
    """The replay-vs-code agreement every 50-digit witness reports (``agree(code, replay, scale)``,
    ``numerics.replay.core._agree`` by default): a code value ``d`` relative off a replayed value of 1
    (REPLAY_AGREE_RTOL, either side) and ``d`` absolute off a replayed 0 at scale 1 (REPLAY_AGREE_ATOL)."""
    import mpmath

    from opdcheck.numerics.replay import core

    agree = core._agree if agree is None else agree
    one, zero = mpmath.mpf(1), mpmath.mpf(0)
    rel = band_controls("replay-vs-code agreement, relative (REPLAY_AGREE_RTOL)",
                        lambda d: [agree(1.0 + d, one, zero), agree(1.0 - d, one, zero)], REPLAY_AGREE_RTOL, " relative")
    ab = band_controls("replay-vs-code agreement, absolute (REPLAY_AGREE_ATOL)",
                       lambda d: [agree(d, zero, one), agree(-d, zero, one)], REPLAY_AGREE_ATOL, " x scale")
    return rel + ab


def pinsker_replay_controls(replay: Callable | None = None) -> list[Control]:
    """lemmas-B.2-B.4-B.8's Pinsker replay (``replay(p, q, const, reported_gap, atol)``,
    ``numerics.replay.exact.replay_pinsker_pair`` by default) at PINSKER_ATOL, both of its gates: ``agrees``
    with a reported gap ``d`` off the replayed one (p = q, replayed gap 0), and ``confirms`` a violation of size
    ``d`` (the pair p = (1/2, 1/2), q = (3/5, 2/5) with the constant set so that ``||p-q||_1^2 - const KL = d``;
    here a gap at 4x the tolerance must confirm, one at 1/4 must not)."""
    if replay is None:
        from opdcheck.numerics.replay import exact
        replay = exact.replay_pinsker_pair
    p, q = np.array([0.5, 0.5]), np.array([0.6, 0.4])
    l1_sq, kl = float(np.abs(p - q).sum() ** 2), float(np.sum(p * np.log(p / q)))
    agree = band_controls("Pinsker replay agreement with the float gap (PINSKER_ATOL)",
                          lambda d: [replay(p, p, 2.0, d, PINSKER_ATOL)["agrees"], replay(p, p, 2.0, -d, PINSKER_ATOL)["agrees"]],
                          PINSKER_ATOL, " absolute")
    confirm = band_controls("Pinsker replay: a gap beyond the tolerance is a violation (PINSKER_ATOL)",
                            lambda d: [not replay(p, q, (l1_sq - d) / kl, d, PINSKER_ATOL)["confirms"]],
                            PINSKER_ATOL, " absolute")
    return agree + confirm


def converged_gate_controls(judge: Callable | None = None) -> list[Control]:
    """The "last iterate converges" status (``judge(errors) -> (ok, info)``, ``trajectory.last_iterate_converges``
    by default, at LAST_ITERATE_CONVERGED_RTOL): a 50-step error sequence whose largest value over the last 20% is
    ``d`` times its maximum."""
    if judge is None:
        from opdcheck.kernels import trajectory
        judge = trajectory.last_iterate_converges

    def accepts(d: float) -> list[bool]:
        e = np.geomspace(1.0, 1e-12, 50)
        e[int(0.8 * 49) + 1] = d  # one value in the judged tail, the rest far below it
        return [judge(e)[0]]

    return band_controls("last-iterate convergence status (LAST_ITERATE_CONVERGED_RTOL)", accepts,
                         LAST_ITERATE_CONVERGED_RTOL, " x max error")


def toy_replay_agree_controls(agree: Callable | None = None) -> list[Control]:
    """fig-1-toy's driver-vs-replay agreement (``agree(replayed, measured) -> (ok, rel)``,
    ``numerics.replay.toy.replay_agreement`` by default): a measured error ``d`` relative off the replayed one
    (ALG1_REPLAY_RTOL, either side); and the floor (ALG1_REPLAY_FLOOR): a value twice the replay's, of size ``d``,
    is compared (rejected) at 4x the floor and skipped (accepted) at 1/4 of it."""
    if agree is None:
        from opdcheck.numerics.replay import toy
        agree = toy.replay_agreement
    rel = band_controls("toy driver vs 50-digit replay agreement (ALG1_REPLAY_RTOL)",
                        lambda d: [agree([1.0, 0.5], np.array([1.0, 0.5 * (1 + d)]))[0],
                                   agree([1.0, 0.5], np.array([1.0, 0.5 * (1 - d)]))[0]], ALG1_REPLAY_RTOL, " relative")
    floor = band_controls("toy replay comparison floor (ALG1_REPLAY_FLOOR)",
                          lambda d: [agree([1.0, d], np.array([1.0, 2.0 * d]))[0]],
                          ALG1_REPLAY_FLOOR, " absolute")
    return rel + floor


def saddle_certificate_controls(accept: Callable | None = None,
                                label: str = "saddle point 'solved' certificate") -> list[Control]:
    """The "solved" certificate of a saddle point at SADDLE_RESULT_RTOL (``accept(problem, pi, lam) -> bool``;
    default: ``numerics.kkt.require_own_certificate`` does not raise). On the paper's toy (beta = 1/2, exact
    saddle point pi* = (3/10, 7/10), lam* = 1) mass ``s`` moved to the response that lowers the constraint makes
    the scaled primal infeasibility ``max(0, -c)/max|R_hard|`` equal to ``d`` (the other residuals stay below it)."""
    from opdcheck.instances import paper_toy

    if accept is None:
        from opdcheck.numerics import kkt

        def accept(problem, pi, lam) -> bool:
            try:
                kkt.require_own_certificate(problem, pi, lam, "control")
            except Exception:
                return False
            return True

    toy = paper_toy(0.5)
    a = float(np.max(np.abs(toy.R_hard[0])))
    slope = float(toy.rho[0] * (toy.R_hard[0, 0, 0] - toy.R_hard[0, 0, 1]))  # dc/ds moving mass to response 0
    sign = 1.0 if slope < 0 else -1.0

    def accepts(d: float) -> list[bool]:
        s = sign * d * a / abs(slope)
        return [bool(accept(toy, np.array([[0.3 + s, 0.7 - s]]), np.array([1.0])))]

    return band_controls(f"{label} (SADDLE_RESULT_RTOL)", accepts, SADDLE_RESULT_RTOL,
                         " x max|R_hard| infeasibility")


def stays_gate_controls(stays: Callable) -> list[Control]:
    """cor-3.10-counterexample's "the error stays" (``stays(errors) -> bool``, the check's ``error_stays``) at
    COUNTEREX_STAYS_RTOL: one value of a constant error sequence (0.0208, the counterexample's size) moved by ``d``
    relative, up or down."""
    e0 = 0.0208

    def accepts(d: float) -> list[bool]:
        return [stays(np.array([e0, e0, e0 * (1.0 + d), e0])), stays(np.array([e0, e0 * (1.0 - d), e0, e0]))]

    return band_controls("the error stays constant (COUNTEREX_STAYS_RTOL)", accepts, COUNTEREX_STAYS_RTOL, " relative")


def slater_replay_controls(replay: Callable | None = None) -> list[Control]:
    """lemma-B.5's Slater-margin replay (``replay([(problem, xi, pi_bar)]).agrees``,
    ``numerics.replay.core.replay_slater_margins`` by default) at SLATER_REPLAY_RTOL: on the paper's toy at the
    policy pi* = (3/10, 7/10), where ``min_j c_j = 0`` exactly, a reported margin ``d`` above or below it."""
    from opdcheck.instances import paper_toy

    if replay is None:
        from opdcheck.numerics.replay import core
        replay = core.replay_slater_margins
    toy, pi_bar = paper_toy(0.5), np.array([[0.3, 0.7]])
    return band_controls("Slater margin replay agreement (SLATER_REPLAY_RTOL)",
                         lambda d: [replay([(toy, d, pi_bar)]).agrees, replay([(toy, -d, pi_bar)]).agrees],
                         SLATER_REPLAY_RTOL, " x max(1, |xi|)")


def settle_band_controls(settle: Callable) -> list[Control]:
    """sec-4-stability's "settled" judgement (``settle(lam, lam_star, SEC4_SETTLE_BAND_EXACT)``, the check's
    ``settle_time``): a path that ends ``d lam*`` away from ``lam* = 10`` (above or below) after a transient; settled
    means a finite settle time. (lam* away from 1 so that an absolute band would not pass for a relative one.)"""
    lam_star = 10.0

    def accepts(d: float) -> list[bool]:
        return [np.isfinite(settle(np.array([2 * lam_star, lam_star, lam_star * (1 + s * d)]), lam_star,
                                   SEC4_SETTLE_BAND_EXACT)) for s in (1.0, -1.0)]

    return band_controls("settled band of the multiplier (SEC4_SETTLE_BAND_EXACT)", accepts, SEC4_SETTLE_BAND_EXACT,
                         " x lam*")


def cert_margin_controls(expectation: Callable, T: int = 1000) -> list[Control]:
    """step-size-map's decision rule (``expectation(lo, hi, T)``, the check's own): a cell whose certified radius
    lies ``d`` above 1 is decided "unstable" only beyond ALG1_CERT_MARGIN; inside it the cell is left undecided."""
    def accepts(d: float) -> list[bool]:
        lo = Fraction(1) + Fraction(d)
        return [expectation(lo, lo + Fraction(1, 10**9), T) is None]

    return band_controls("certificate decides 'unstable' beyond its margin (ALG1_CERT_MARGIN)", accepts,
                         ALG1_CERT_MARGIN, " above radius 1")


def constants_crosscheck_controls(crosscheck: Callable | None = None) -> list[Control]:
    """The numeric-vs-sympy constants cross-check of the thm-3.4 family (``crosscheck(problem, rho_numeric=...,
    a_numeric=..., denoms_numeric={})``, ``numerics.replay.core.crosscheck_constants`` by default, at its default
    THM34_CROSSCHECK_RTOL): on the paper's toy the sympy rho of eq. (46) reported ``d`` relative above or below
    itself, the multipliers a1..a4 exact."""
    from opdcheck.instances import paper_toy
    from opdcheck.numerics.replay import core

    crosscheck = core.crosscheck_constants if crosscheck is None else crosscheck
    toy = paper_toy(0.5)
    k = core.sympy_thm34_constants(toy.h, float(toy.R_max), float(toy.beta))
    rho, a = float(k["rho_eq46"]), [float(v) for v in k["a"]]
    return band_controls("numeric vs sympy constants cross-check (THM34_CROSSCHECK_RTOL)",
                         lambda d: [crosscheck(toy, rho_numeric=rho * (1 + s * d), a_numeric=a, denoms_numeric={})[0]
                                    for s in (1.0, -1.0)], THM34_CROSSCHECK_RTOL, " relative")


def run_converged_controls(judge: Callable) -> list[Control]:
    """step-size-map's "the run converged" (``judge(expect, final_ratio, min_error, final_error)``, the check's
    ``judge_default_run``, at ALG1_CONVERGED_RATIO): a certified-stable cell whose run ends at ``e_T/e_0 = d``
    (never in the linear regime otherwise) counts as agreement only when converged."""
    return band_controls("run converged: e_T/e_0 at most ALG1_CONVERGED_RATIO", lambda d: [judge("stable", d, 1.0, 1.0) == "agree"],
                         ALG1_CONVERGED_RATIO, " x e_0")


def fd_gate_controls(formula_ok: Callable, estimate_ok: Callable) -> list[Control]:
    """dual-function's finite-difference gates at FD_RTOL (the check's ``fd_formula_ok(error, estimate)`` and
    ``fd_estimate_ok(estimate)``): a formula ``d`` relative off exact finite differences (estimate 0) must be
    rejected at 4x and accepted at 1/4; a point whose FD error estimate is ``d`` is judged only below FD_RTOL."""
    return band_controls("dual-function derivative vs finite differences (FD_RTOL)",
                         lambda d: [formula_ok(d, 0.0), estimate_ok(d)], FD_RTOL, " relative")


def threshold_controls(label: str, above: Callable[[float], bool], threshold: float, unit: str = "") -> list[Control]:
    """A gate ``above(x)`` that accepts a value strictly above ``threshold`` (a margin, an oscillation range):
    ``threshold / GATE_CONTROL_FACTOR`` must be rejected (negative) and ``GATE_CONTROL_FACTOR x threshold``
    accepted (positive). A comparison that raises fails its control."""
    f = GATE_CONTROL_FACTOR
    try:
        low, high = bool(above(threshold / f)), bool(above(threshold * f))
    except Exception as exc:  # a broken comparison is a failed control, never a crash of the check
        return [Control(f"{label}: rejects 1/{f:g} of its threshold", "negative", False, repr(exc)),
                Control(f"{label}: accepts {f:g}x its threshold", "positive", False, repr(exc))]
    return [Control(f"{label}: rejects 1/{f:g} of its threshold", "negative", passed=not low,
                    detail=f"threshold {threshold:g}{unit}; {threshold / f:.3g}{unit} accepted: {low}"),
            Control(f"{label}: accepts {f:g}x its threshold", "positive", passed=high,
                    detail=f"threshold {threshold:g}{unit}; {threshold * f:.3g}{unit} accepted: {high}")]


def slater_gate_controls(positive: Callable | None = None) -> list[Control]:
    """Slater's margin gate (``numerics.lp.slater_margin_positive(xi, scale)`` by default, at SLATER_XI_ATOL
    relative to max|R_hard|) on constraints of scale 1e3: a margin below the gate must be refused as
    not strictly feasible, one above it certified."""
    if positive is None:
        from opdcheck.numerics.lp import slater_margin_positive as positive
    return threshold_controls("Slater margin certified > 0 (SLATER_XI_ATOL)", lambda x: positive(1e3 * x, 1e3),
                              SLATER_XI_ATOL, " x max|R_hard|")


def sec4_gate_controls(feasible: Callable, oscillating: Callable, neural_oscillating: Callable) -> list[Control]:
    """sec-4-stability's three gates (the check's own comparisons): a final constraint violation ``d``
    (``feasible(-d)``, SEC4_FEASIBLE_ATOL), the multiplier's last-quarter range (``oscillating``,
    SEC4_OSCILLATION_MIN) and the neural premise's log10 spread (``neural_oscillating``, NEURAL_OSCILLATION_DECADES)."""
    return (band_controls("final feasibility (SEC4_FEASIBLE_ATOL)", lambda d: [feasible(-d)], SEC4_FEASIBLE_ATOL)
            + threshold_controls("multiplier keeps oscillating (SEC4_OSCILLATION_MIN)", oscillating, SEC4_OSCILLATION_MIN)
            + threshold_controls("neural premise: plain PD oscillates (NEURAL_OSCILLATION_DECADES)", neural_oscillating,
                                 NEURAL_OSCILLATION_DECADES, " decades"))


def neural_gate_controls(cost_feasible: Callable, significant: Callable, competitive: Callable) -> list[Control]:
    """sec-4-stability's neural gates (the check's own comparisons): a last-iterate cost ``d`` above the limit 1
    (``cost_feasible(1 + d, 1)``, NEURAL_FEASIBLE_ATOL), a reward deficit ``d`` (``competitive(-d)``,
    NEURAL_REWARD_MARGIN), and a p-value (``significant``, PAIRED_TEST_ALPHA: 1/4 of alpha significant, 4x not)."""
    f = GATE_CONTROL_FACTOR
    try:
        sig_low, sig_high = bool(significant(PAIRED_TEST_ALPHA / f)), bool(significant(PAIRED_TEST_ALPHA * f))
        detail = f"alpha {PAIRED_TEST_ALPHA:g}: p = alpha/{f:g} significant: {sig_low}; p = {f:g} alpha: {sig_high}"
    except Exception as exc:  # a broken comparison is a failed control, never a crash of the check
        sig_low, sig_high, detail = False, True, repr(exc)
    return (band_controls("neural last-iterate feasibility (NEURAL_FEASIBLE_ATOL)", lambda d: [cost_feasible(1.0 + d, 1.0)],
                          NEURAL_FEASIBLE_ATOL)
            + band_controls("neural reward competitive (NEURAL_REWARD_MARGIN)", lambda d: [competitive(-d)],
                            NEURAL_REWARD_MARGIN)
            + [Control("paired test significance (PAIRED_TEST_ALPHA): rejects 4x alpha", "negative", not sig_high, detail),
               Control("paired test significance (PAIRED_TEST_ALPHA): accepts 1/4 of alpha", "positive", sig_low, detail)])


def multiplier_gate_controls(agree: Callable, certified: Callable) -> list[Control]:
    """dual-function's cvxpy-multiplier gates at SADDLE_AGREEMENT_ATOL (the check's ``multipliers_agree(diff,
    |lam*|)`` and ``reference_certified(worst scaled KKT residual)``): a multiplier difference ``d`` relative to
    ``|lam*| = 10`` (the gate scales with max(1, |lam*|)) and a reference residual ``d``."""
    return band_controls("dual-function cvxpy multipliers vs lam*, reference certified (SADDLE_AGREEMENT_ATOL)",
                         lambda d: [agree(10.0 * d, 10.0), certified(d)], SADDLE_AGREEMENT_ATOL, " relative")


def convexity_gate_controls(convexity_ok: Callable) -> list[Control]:
    """dual-function's convexity gate (``convexity_ok(violation)``, the check's own) at CONVEXITY_RTOL: a
    violation of Jensen's inequality ``d`` (per 1 + |D|, rounding of D removed)."""
    return band_controls("dual-function convexity on segments (CONVEXITY_RTOL)", lambda d: [convexity_ok(d)],
                         CONVEXITY_RTOL, " x (1 + |D|)")


def multiplier_zero_controls(is_zero: Callable, is_negative: Callable) -> list[Control]:
    """lemma-B.5's two multiplier gates at LAMBDA_ZERO_ATOL (the check's ``counts_as_zero`` and
    ``counts_as_negative``): a multiplier ``d`` above 0 counts as zero only below the tolerance (at 4x it must
    not, at 1/4 it must), and one ``d`` below 0 counts as negative only beyond it."""
    return band_controls("lam*_j counts as 0 / as negative (LAMBDA_ZERO_ATOL)",
                         lambda d: [bool(is_zero(d)), not bool(is_negative(-d))], LAMBDA_ZERO_ATOL, " absolute")


def at_most_controls(label: str, ok: Callable, tol: float, unit: str = " absolute") -> list[Control]:
    """A one-sided gate ``ok(x) -> bool`` that accepts a nonnegative discrepancy ``x`` (a gap, an error, an
    excess) up to ``tol`` (the check's own comparison): ``x = d``."""
    return band_controls(label, lambda d: [bool(ok(d))], tol, unit)


def replay_rate_agree_controls(agree: Callable | None = None) -> list[Control]:
    """thm-3.4-rate's replayed-witness agreement on the tail rate (``agree(code_rate, replayed_rate)``,
    ``numerics.replay.core.rate_agrees`` by default, at REPLAY_RATE_ATOL): a code rate ``d`` above or below a
    replayed rate of 0.9."""
    import mpmath

    from opdcheck.numerics.replay import core

    agree = core.rate_agrees if agree is None else agree
    rep = mpmath.mpf("0.9")
    return band_controls("replayed tail rate agreement (REPLAY_RATE_ATOL)",
                         lambda d: [agree(0.9 + d, rep), agree(0.9 - d, rep)], REPLAY_RATE_ATOL, " absolute")


def degeneracy_gate_controls(not_unique: Callable | None = None, tight: Callable | None = None) -> list[Control]:
    """The thm-3.4 family's degeneracy test, both of its gates: ``not_unique(ev_min, ev_max)``
    (``numerics.local_rate.lam_star_not_unique`` by default, at LAMBDA_UNIQUE_EIG_RTOL) on a dual curvature
    whose eigenvalues are ``10 d`` and 10 (relative: an absolute test fails the positive side); and
    ``tight(c)`` (``studies.thm34.constraint_is_tight`` by default, at TIGHT_CONSTRAINT_ATOL) on a constraint
    value ``d`` above or below 0."""
    if not_unique is None:
        from opdcheck.numerics.local_rate import lam_star_not_unique as not_unique
    if tight is None:
        from opdcheck.paper_checks.studies.thm34 import constraint_is_tight as tight
    eig = band_controls("lam* not unique: singular dual curvature (LAMBDA_UNIQUE_EIG_RTOL)",
                        lambda d: [not_unique(10.0 * d, 10.0)], LAMBDA_UNIQUE_EIG_RTOL, " x max(1, largest eigenvalue)")
    tgt = band_controls("constraint counts as tight (TIGHT_CONSTRAINT_ATOL)",
                        lambda d: [bool(tight(np.array([d]))[0]), bool(tight(np.array([-d]))[0])],
                        TIGHT_CONSTRAINT_ATOL, " absolute")
    return eig + tgt


def lyapunov_floor_controls(floor: Callable | None = None, judge: Callable | None = None) -> list[Control]:
    """The floor of the contraction test (``floor(phi)``, ``trajectory.lyapunov_floor`` by default, at
    LYAPUNOV_PHI_FLOOR_RTOL x Phi_1, with ``trajectory.judge_lyapunov``): a potential 2, 1, d, 3d (rho = 0.8) whose
    last step grows by 3 from ``Phi_2 = d Phi_1``: a violation beyond the floor (4x), hidden below it (1/4)."""
    from opdcheck.kernels import trajectory

    floor = trajectory.lyapunov_floor if floor is None else floor
    judge = trajectory.judge_lyapunov if judge is None else judge

    def accepts(d: float) -> list[bool]:
        phi = np.array([2.0, 1.0, d, 3.0 * d])
        return [judge(phi, 0.8, BOUND_RTOL, atol=floor(phi), start=1)[0]]

    return band_controls("Lyapunov test floor (LYAPUNOV_PHI_FLOOR_RTOL)", accepts, LYAPUNOV_PHI_FLOOR_RTOL, " x Phi_1")


def alg3_gate_controls(converged: Callable, kkt_solved: Callable) -> list[Control]:
    """alg-3-npg's two gates (the check's ``alg3_converged(err_T, err_0)`` and ``numerics.in_class.kkt_solved``):
    a run ending at ``e_T = d e_0`` (e_0 = 3: a relative gate, not an absolute one) converged only below
    ALG3_CONVERGED_RTOL; a KKT residual ``d`` is solved only below IN_CLASS_KKT_ATOL."""
    conv = band_controls("Alg. 3 run converged (ALG3_CONVERGED_RTOL)", lambda d: [converged(3.0 * d, 3.0)],
                         ALG3_CONVERGED_RTOL, " x e_0")
    kkt = band_controls("in-class KKT point (IN_CLASS_KKT_ATOL)", lambda d: [kkt_solved(d)], IN_CLASS_KKT_ATOL,
                        " absolute")
    return conv + kkt


def alg3_direction_anchor_controls(directions_agree: Callable, anchored: Callable) -> list[Control]:
    """alg-3-npg's direction gate (``directions_agree(max relative difference)``, ALG3_DIRECTION_RTOL) and
    anchoring gate (``anchored(gap)``, ALG3_ANCHOR_ATOL), the check's own comparisons, at a discrepancy ``d``."""
    return (band_controls("pinv vs lstsq natural-gradient direction (ALG3_DIRECTION_RTOL)",
                          lambda d: [directions_agree(d)], ALG3_DIRECTION_RTOL, " relative")
            + band_controls("gradients at theta_hat_t only (ALG3_ANCHOR_ATOL)", lambda d: [anchored(d)],
                            ALG3_ANCHOR_ATOL, " absolute"))


def backend_agree_controls(agree: Callable | None = None) -> list[Control]:
    """The numba-vs-numpy trajectory control of the thm-3.4 family (``agree(max_diff, scale)``,
    ``studies.thm34.backends_agree`` by default, at NUMBA_AGREEMENT_RTOL): a difference ``d`` x a metric maximum
    of 5 (relative: an absolute test fails one side)."""
    if agree is None:
        from opdcheck.paper_checks.studies.thm34 import backends_agree as agree
    return band_controls("numba vs numpy trajectory agreement (NUMBA_AGREEMENT_RTOL)", lambda d: [agree(5.0 * d, 5.0)],
                         NUMBA_AGREEMENT_RTOL, " x metric max")


def close_gate_controls(label: str, close: Callable, tol: float, ref: float = 1.0, unit: str = " absolute") -> list[Control]:
    """A two-sided agreement gate ``close(a, b) -> bool`` (the check's own comparison of a computed value with a
    reference, at tolerance ``tol``): ``a = ref +- d`` against ``b = ref``."""
    return band_controls(label, lambda d: [bool(close(ref + d, ref)), bool(close(ref - d, ref))], tol, unit)


def corrected_gate_controls(judge_case: Callable, row: dict | None = None) -> list[Control]:
    """thm-3.4-corrected's two gates (``judge_case(row)``, the check's per-case judgement) on a case with the
    certified enclosure ``[lo, hi]`` of ``row`` (a converging case of the check; a fixed one if none): the
    stated rate ``d`` below ``lo`` (CORRECTED_FORMULA_ATOL: ``formula_ok``), and the measured rate ``d``
    above ``hi^2`` or below ``lo^2`` with no fit spread (CORRECTED_MEASURED_ATOL: ``measured_agrees``)."""
    lo, hi = (float(row["lo"]), float(row["hi"])) if row is not None and float(row["hi"]) < 1 else (0.8, 0.8 + 1e-9)

    def case(**kw: float) -> dict:
        return {"corrected": hi, "lo": lo, "hi": hi, "spread": 0.0, "measured": 0.5 * (lo * lo + hi * hi), **kw}

    formula = band_controls("thm-3.4-corrected stated-vs-certified gate (CORRECTED_FORMULA_ATOL)",
                            lambda d: [judge_case(case(corrected=lo - d))["formula_ok"]],
                            CORRECTED_FORMULA_ATOL, " absolute")
    measured = band_controls("thm-3.4-corrected measured-vs-certified gate (CORRECTED_MEASURED_ATOL)",
                             lambda d: [judge_case(case(measured=hi * hi + d))["measured_agrees"],
                                        judge_case(case(measured=lo * lo - d))["measured_agrees"]],
                             CORRECTED_MEASURED_ATOL, " absolute")
    return formula + measured


def replay_projection_control(run: Callable | None = None) -> Control:
    """The 50-digit Algorithm 2 (``numerics.replay.core.mp_run_opd`` by default) projects its dual steps (5)/(7)
    onto ``lam >= 0``. On the all-slack toy (``c(pi) >= xi > 0`` for every policy, ``xi = sum_x rho_x min_y
    R_hard[x, y]`` recomputed here) one step from ``lam_hat_0 = xi / (4 kappa)`` (``kappa = eta_lam``, eq. (5)'s
    weight) has the unprojected step ``lam_hat_0 - c / (2 kappa) <= -xi / (4 kappa) < 0`` in both (5) and (7),
    so the projected value computed apart is 0 for both. Read back through the run's recorded errors, against a
    reference multiplier of 1: ``||lam* - lam_1||^2`` must be exactly 1 and ``||lam_1 - lam_pred||^2`` 0; a
    replay that drops the projection gives ``(1 + |step|)^2 > 1``."""
    import mpmath

    from opdcheck.numerics.replay import core
    from opdcheck.paper_checks.studies.thm34 import all_slack_toy

    run = core.mp_run_opd if run is None else run
    prob = all_slack_toy(1.0)
    xi = float(min(np.sum(prob.rho * np.min(prob.R_hard[j], axis=1)) for j in range(prob.h)))
    eta_lam = 1.0
    lam0 = xi / (4.0 * eta_lam)
    try:
        P = core.mp_problem(prob)
        saddle = core.MPSaddle(log_pi=[list(r) for r in P.log_ref], lam=[mpmath.mpf(1)] * P.h, grad=[mpmath.mpf(0)] * P.h,
                               pg_norm=mpmath.mpf(0), newton_steps=0, certified=True)
        out = run(P, saddle, eta_th=1.0, eta_lam=eta_lam, T=1, dual_step="prox", lam_init=[lam0] * P.h)
        err_star, err_pred = float(out.lam_err2[1]), float(out.lam_hat_pred2[1])
    except Exception as exc:
        return Control("50-digit replay projects its dual step onto lam >= 0", "negative", False, repr(exc))
    ok = xi > 0 and abs(err_star - float(P.h)) <= 1e-30 and abs(err_pred) <= 1e-30
    return Control("50-digit replay projects its dual step onto lam >= 0", "negative", passed=ok,
                   detail=(f"all-slack toy, xi = {xi:.3g}, lam_hat_0 = {lam0:.3g}: unprojected step <= {-xi / 4:.3g}; "
                           f"replayed ||lam* - lam_1||^2 = {err_star:.6g} (projected: {P.h}), "
                           f"||lam_1 - lam_pred||^2 = {err_pred:.3g} (projected: 0)"))


def pinsker_tight_controls(reaches: Callable) -> list[Control]:
    """lemmas-B.2-B.4-B.8's "the draws reach the tight regime" (``reaches(ratio)``, the check's
    ``reaches_tight_regime``, at PINSKER_TIGHT_RATIO): a largest ratio ``||p-q||_1^2 / (2 KL)`` of ``1 - d``,
    ``d`` in units of the gate's distance ``1 - PINSKER_TIGHT_RATIO`` below the supremum 1."""
    return band_controls("Pinsker draws' tight-regime gate (PINSKER_TIGHT_RATIO)", lambda d: [reaches(1.0 - d)],
                         1.0 - PINSKER_TIGHT_RATIO, " below the supremum 1")


def fixed_point_gate_controls(confirmed: Callable, gates: dict) -> list[Control]:
    """alg-3-npg's fixed-point witness (``confirmed(improvement, map_residual, tail_spread, **gates)``,
    ``replay.alg3.fixed_point_confirmed`` with the gates the check passes to the witness): a 50-digit map residual
    ``d`` (ALG3_FIXED_POINT_ATOL) and a tail spread ``d`` (ALG3_TAIL_SPREAD_ATOL), the other at 0."""
    fp = band_controls("Alg. 3 limit is a fixed point of (8)/(10) (ALG3_FIXED_POINT_ATOL)",
                       lambda d: [confirmed(1.0, d, 0.0, **gates)], ALG3_FIXED_POINT_ATOL, " absolute")
    ts = band_controls("Alg. 3 run settled: tail spread (ALG3_TAIL_SPREAD_ATOL)",
                       lambda d: [confirmed(1.0, 0.0, d, **gates)], ALG3_TAIL_SPREAD_ATOL, " absolute")
    return fp + ts


def existential_slack_controls(exceeds: Callable | None = None, rho: float = 50 / 63) -> list[Control]:
    """thm-3.4's existential-reading witness (``exceeds(rate, rho, slack)``, ``replay.core.rate_exceeds`` by
    default, at EXISTENTIAL_RATE_SLACK): a replayed rate above rho(46) by ``x`` confirms the violation only when
    ``x`` exceeds the slack (``rho`` defaults to rho(46) = 50/63 of the witness family)."""
    if exceeds is None:
        from opdcheck.numerics.replay.core import rate_exceeds as exceeds
    return threshold_controls("existential reading: rate above rho(46) by more than the slack (EXISTENTIAL_RATE_SLACK)",
                              lambda x: exceeds(rho + x, rho, EXISTENTIAL_RATE_SLACK), EXISTENTIAL_RATE_SLACK, " absolute")


def reference_distance_controls(judge: Callable | None = None) -> list[Control]:
    """eq3-best-response's distance to the cvxpy reference (``judge(problem, pi, pi_solver, accuracy)``,
    ``numerics.certificates.distance_judgement`` by default, at BEST_RESPONSE_CVXPY_ATOL): on a row the solver
    certifies exactly (row bound 0), a policy ``d`` away from the reference in one entry must agree only within
    the tolerance; and a row is judged only when the solver certifies it to the tolerance (row bound ``d``)."""
    if judge is None:
        from opdcheck.numerics.certificates import distance_judgement as judge
    pi = np.array([[0.25, 0.75]])

    def agrees(d: float) -> list[bool]:
        moved = pi + np.array([[d, -d]])
        return [judge(None, moved, pi, {"row_bound": np.zeros(1)})["ok"] is True]

    def judged(d: float) -> list[bool]:
        return [bool(judge(None, pi, pi, {"row_bound": np.array([d])})["judged"])]

    return (band_controls("eq. (3) vs the cvxpy reference, distance (BEST_RESPONSE_CVXPY_ATOL)", agrees,
                          BEST_RESPONSE_CVXPY_ATOL, " absolute")
            + band_controls("eq. (3) vs the cvxpy reference, rows judged only when certified (BEST_RESPONSE_CVXPY_ATOL)",
                            judged, BEST_RESPONSE_CVXPY_ATOL, " row bound"))


def replay_converged_controls(converges: Callable | None = None) -> list[Control]:
    """fig-1-toy's replayed convergence (``converges(errors)``, ``replay.toy.replay_converges`` by default, at
    LAST_ITERATE_CONVERGED_RTOL): a replayed run whose final error is ``d`` times its largest error."""
    if converges is None:
        from opdcheck.numerics.replay.toy import replay_converges as converges
    return band_controls("replayed run converges (LAST_ITERATE_CONVERGED_RTOL, 50-digit replay)",
                         lambda d: [converges([1.0, 0.5, 0.1, d])], LAST_ITERATE_CONVERGED_RTOL, " x max error")
