"""The gates that had no control at their own scale: each comparison, factored into one named function that the
code and its control call, rejects a point GATE_CONTROL_FACTOR x its tolerance beyond and accepts one at
1/GATE_CONTROL_FACTOR; the runtime controls fail when the gate is made 1000x looser."""
from __future__ import annotations

import mpmath
import pytest

from opdcheck.paper_checks.studies import tolerance_controls as tc
from opdcheck.tolerances import GATE_CONTROL_FACTOR as F

LOOSER = 1000.0


def _neg(controls):
    return [c for c in controls if c.kind == "negative"]


def _all_pass(controls):
    return controls and all(c.passed for c in controls)


# ------------------------------------------------------------------ runtime controls of checks
def test_pinsker_tight_regime_gate(monkeypatch):
    from opdcheck.paper_checks.checks import lemmas_b2_b4_b8 as chk
    from opdcheck.tolerances import PINSKER_TIGHT_RATIO

    assert _all_pass(tc.pinsker_tight_controls(chk.reaches_tight_regime))
    loose = 1.0 - LOOSER * (1.0 - PINSKER_TIGHT_RATIO)
    assert not all(c.passed for c in _neg(tc.pinsker_tight_controls(lambda r: chk.reaches_tight_regime(r, loose))))


def test_alg3_fixed_point_witness_gates():
    from opdcheck.numerics.replay.alg3 import fixed_point_confirmed
    from opdcheck.paper_checks.checks.alg_3_npg import FIXED_POINT_GATES

    assert _all_pass(tc.fixed_point_gate_controls(fixed_point_confirmed, FIXED_POINT_GATES))
    for key in FIXED_POINT_GATES:
        loose = dict(FIXED_POINT_GATES, **{key: LOOSER * FIXED_POINT_GATES[key]})
        assert not all(c.passed for c in _neg(tc.fixed_point_gate_controls(fixed_point_confirmed, loose))), key
    # no improvement: never a witness
    assert not fixed_point_confirmed(0.0, 0.0, 0.0, **FIXED_POINT_GATES)


def test_step_size_map_radius_crosscheck_gate(monkeypatch):
    from opdcheck.paper_checks.checks import step_size_map as chk
    from opdcheck.tolerances import SSM_CERT_CROSSCHECK_ATOL

    label = "per-mode radius vs full Jacobian certificate"
    assert _all_pass(tc.close_gate_controls(label, chk.radii_agree, SSM_CERT_CROSSCHECK_ATOL, ref=0.97))
    monkeypatch.setattr(chk, "SSM_CERT_CROSSCHECK_ATOL", LOOSER * SSM_CERT_CROSSCHECK_ATOL)
    assert not all(c.passed for c in _neg(tc.close_gate_controls(label, chk.radii_agree, SSM_CERT_CROSSCHECK_ATOL,
                                                                   ref=0.97)))


def test_existential_reading_slack_gate():
    from opdcheck.numerics.replay.core import rate_exceeds
    from opdcheck.tolerances import EXISTENTIAL_RATE_SLACK

    assert _all_pass(tc.existential_slack_controls())
    assert not all(c.passed for c in _neg(tc.existential_slack_controls(
        lambda r, rho, s: rate_exceeds(r, rho, s / LOOSER))))
    assert rate_exceeds(mpmath.mpf("0.9"), mpmath.mpf("0.8"), EXISTENTIAL_RATE_SLACK)


def test_numba_alg3_agreement_gate(monkeypatch):
    from opdcheck.paper_checks.studies import kernel_controls as kc
    from opdcheck.tolerances import NUMBA_ALG3_AGREEMENT_RTOL

    label = "Numba vs numpy Alg. 3 direction"
    assert _all_pass(tc.at_most_controls(label, kc.numba_alg3_agrees, NUMBA_ALG3_AGREEMENT_RTOL))
    assert not kc.numba_alg3_agrees(float("nan"))
    monkeypatch.setattr(kc, "NUMBA_ALG3_AGREEMENT_RTOL", LOOSER * NUMBA_ALG3_AGREEMENT_RTOL)
    assert not all(c.passed for c in _neg(tc.at_most_controls(label, kc.numba_alg3_agrees, NUMBA_ALG3_AGREEMENT_RTOL)))


def test_best_response_reference_distance_gates(monkeypatch):
    from opdcheck.numerics import certificates
    from opdcheck.tolerances import BEST_RESPONSE_CVXPY_ATOL

    assert _all_pass(tc.reference_distance_controls())
    monkeypatch.setattr(certificates, "BEST_RESPONSE_CVXPY_ATOL", LOOSER * BEST_RESPONSE_CVXPY_ATOL)
    assert not all(c.passed for c in _neg(tc.reference_distance_controls()))


# ------------------------------------------------------------------ solver statuses and certify (tests at own scale)
def test_certify_strict_complementarity_gate():
    from opdcheck.numerics.local_rate import degenerate_constraints
    from opdcheck.tolerances import CERTIFY_STRICT_COMPLEMENTARITY_ATOL as tol

    assert degenerate_constraints([tol / F, 1.0], [tol / F, 0.0]) == [0]
    assert degenerate_constraints([F * tol, 1.0], [tol / F, 0.0]) == []  # clearly active
    assert degenerate_constraints([tol / F, 1.0], [-F * tol, 0.0]) == []  # clearly slack


def test_kkt_polish_status_gates():
    from opdcheck.numerics.kkt_polish import polish_converged, stall_accepted
    from opdcheck.tolerances import POLISH_KKT_ATOL, POLISH_STALL_ATOL

    assert polish_converged(POLISH_KKT_ATOL / F) and not polish_converged(F * POLISH_KKT_ATOL)
    assert stall_accepted(POLISH_STALL_ATOL / F) and not stall_accepted(F * POLISH_STALL_ATOL)
    assert not polish_converged(float("nan")) and not stall_accepted(float("nan"))


@pytest.mark.parametrize("scale", [1.0, 37.0])
def test_dual_newton_certificate_gates(scale):
    from opdcheck.numerics.dual import newton_certificate_ok
    from opdcheck.tolerances import DUAL_NEWTON_RESOLUTION_RTOL as res_tol
    from opdcheck.tolerances import DUAL_NEWTON_XTOL as xtol

    g = 1e-12
    assert newton_certificate_ok(g / F, g, xtol * scale / F, res_tol * scale / F, scale)
    assert not newton_certificate_ok(g / F, g, F * xtol * scale, 0.0, scale)      # Newton step too large
    assert not newton_certificate_ok(g / F, g, 0.0, F * res_tol * scale, scale)   # lam* not resolved
    assert not newton_certificate_ok(F * g, g, 0.0, 0.0, scale)                   # gradient above its gate
    assert not newton_certificate_ok(g / F, g, float("nan"), 0.0, scale)


def test_clarabel_raw_agreement_gate():
    from opdcheck.numerics.saddle import raw_agrees
    from opdcheck.tolerances import CLARABEL_RAW_ATOL as tol

    unit = 5.0
    assert raw_agrees(tol / F, tol * unit / F, unit)
    assert not raw_agrees(F * tol, 0.0, unit)
    assert not raw_agrees(0.0, F * tol * unit, unit)  # lam judged relative to max(1, |lam*|)


def test_replay_saddle_certificate_gate():
    from opdcheck.numerics.replay.core import saddle_certified
    from opdcheck.tolerances import REPLAY_DPS, REPLAY_NEWTON_PG_TOL as tol

    with mpmath.workdps(REPLAY_DPS):
        assert saddle_certified(mpmath.mpf(tol) / F)
        assert not saddle_certified(mpmath.mpf(tol) * F)


def test_replayed_convergence_gate(monkeypatch):
    from opdcheck.numerics.replay import toy
    from opdcheck.tolerances import LAST_ITERATE_CONVERGED_RTOL

    assert _all_pass(tc.replay_converged_controls())
    monkeypatch.setattr(toy, "LAST_ITERATE_CONVERGED_RTOL", LOOSER * LAST_ITERATE_CONVERGED_RTOL)
    assert not all(c.passed for c in _neg(tc.replay_converged_controls()))
