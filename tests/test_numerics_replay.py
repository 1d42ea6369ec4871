"""The independent 50-digit replay (opdcheck.numerics.replay) against the float code, with negative controls."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from opdcheck.instances import paper_toy, random_instance
from opdcheck.kernels.opd import run_opd, thm34_step_sizes
from opdcheck.kernels.potential import phi1_eq47, rho_eq46, thm34_constants
from opdcheck.kernels.trajectory import kl_rows_log
from opdcheck.numerics.dual import dual_gradient, dual_hessian, dual_value
from opdcheck.numerics.replay import (crosscheck_constants, mp_dual_gradient, mp_dual_hessian, mp_dual_value,
                                      mp_error, mp_problem, mp_run_opd, mp_saddle, replay_bound_violation,
                                      replay_lyapunov_violation, replay_zero_multiplier, sympy_thm34_constants)
from opdcheck.numerics.saddle import solve_saddle


def test_toy_saddle_at_50_digits_is_certified():
    p = paper_toy(1.0)
    S = mp_saddle(mp_problem(p), solve_saddle(p).lam)
    assert S.certified and S.pg_norm < 1e-40
    assert abs(S.lam[0] - 1) < 1e-15  # lam* = 1 up to the float data (0.3, 0.7 are not exact in binary)


@pytest.mark.parametrize("seed", [0, 1])
def test_dual_closed_forms_match_the_float_ones(seed):
    p = random_instance(3, 4, 2, 0.3, seed=seed)
    P = mp_problem(p)
    lam = np.array([0.4, 0.7])
    assert float(mp_dual_value(P, lam)) == pytest.approx(dual_value(p, lam), rel=1e-13)
    np.testing.assert_allclose([float(v) for v in mp_dual_gradient(P, lam)], dual_gradient(p, lam), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose([[float(v) for v in row] for row in mp_dual_hessian(P, lam)], dual_hessian(p, lam),
                               rtol=1e-12, atol=1e-14)
    S = mp_saddle(P, solve_saddle(p).lam)
    assert S.certified
    np.testing.assert_allclose([float(v) for v in S.lam], solve_saddle(p).lam, atol=1e-10)


@pytest.mark.parametrize("dual_step", ["prox", "gradient"])
def test_replayed_opd_matches_run_opd(dual_step):
    p = random_instance(2, 3, 2, 0.5, seed=4)
    sp = solve_saddle(p)
    e = thm34_step_sizes(p)
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=25, dual_step=dual_step, saddle=sp)
    P = mp_problem(p)
    run = mp_run_opd(P, mp_saddle(P, sp.lam), eta_th=e[0], eta_lam=e[1], T=25, dual_step=dual_step)
    for k in ("kl_star", "lam_err2", "kl_hat_pred", "lam_hat_pred2"):
        np.testing.assert_allclose([float(v) for v in getattr(run, k)], tr.metrics[k], rtol=1e-10, atol=1e-15)


def test_error_metric_is_kl_of_pi_star_to_pi_hat():
    """Thm 3.4's error uses KL(pi* || pi_hat_t); the float kernels and the replay both use that
    direction, and the reverse direction gives a different number (so a swap would be seen)."""
    p = paper_toy(0.2)
    sp = solve_saddle(p)
    e = thm34_step_sizes(p)
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=5, saddle=sp, keep_every=1)
    log_s = np.log(sp.pi)
    for t, pi_hat, _ in tr.iterates:
        fwd = float(p.rho @ kl_rows_log(sp.pi, log_s, np.log(pi_hat)))
        rev = float(p.rho @ kl_rows_log(pi_hat, np.log(pi_hat), log_s))
        assert tr.metrics["kl_star"][t] == pytest.approx(fwd, rel=1e-12, abs=1e-300)
        if t >= 1:
            assert abs(fwd - rev) > 1e-6 * fwd
    P = mp_problem(p)
    S = mp_saddle(P, sp.lam)
    log_hat = [[mpmath.log(mpmath.mpf(float(v))) for v in row] for row in tr.iterates[2][1]]
    lam_hat = [mpmath.mpf(float(v)) for v in tr.iterates[2][2]]
    assert float(mp_error(P, S, log_hat, lam_hat)) == pytest.approx(tr.error[2], rel=1e-9)


@pytest.mark.parametrize("h,beta", [(1, 0.05), (3, 1.7)])
def test_sympy_constants_equal_the_numeric_ones(h, beta):
    """One source per constant: the numeric rho (46), a1..a4, denominators and Phi_1 (47) of
    kernels/potential.py against the sympy expressions of theory/thm34_constants.py."""
    p = random_instance(3, 4, h, beta, seed=2)
    e = thm34_step_sizes(p)
    k = thm34_constants(p, *e)
    s = sympy_thm34_constants(p.h, p.R_max, p.beta)
    assert float(s["rho_eq46"]) == pytest.approx(rho_eq46(p), rel=1e-14)
    assert float(s["rho_general"]) == pytest.approx(k["rho"], rel=1e-14)
    np.testing.assert_allclose([float(v) for v in s["a"]], k["a"], rtol=1e-14)
    for d in ("denom_theorem", "denom_proof_min"):
        assert float(s[d]) == pytest.approx(k[d], rel=1e-14)
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=3)
    ok, detail = crosscheck_constants(p, rho_numeric=rho_eq46(p), a_numeric=k["a"],
                                      denoms_numeric={d: k[d] for d in ("denom_theorem", "denom_proof_min")},
                                      phi1_numeric=phi1_eq47(p, tr.metrics), metrics=tr.metrics)
    assert ok, detail
    # negative control: a rho 10 % smaller is caught
    bad, detail = crosscheck_constants(p, rho_numeric=0.9 * rho_eq46(p), a_numeric=k["a"], denoms_numeric={})
    assert not bad and "rho (46)" in detail


def test_bound_witness_on_the_toy_and_its_negative_controls():
    p = paper_toy(1.0)
    sp = solve_saddle(p)
    e = thm34_step_sizes(p)
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=3, saddle=sp)
    k = thm34_constants(p, *e)
    bound1 = phi1_eq47(p, tr.metrics) / k["denom_theorem"]
    w = replay_bound_violation(p, sp.lam, dual_step="prox", t=1, eta_th=e[0], eta_lam=e[1],
                               code_error=float(tr.error[1]), code_bound=bound1)
    assert w["replayed"] and w["confirms"] and w["agrees"] and w["saddle certified"]
    assert w["ratio (replay)"] == pytest.approx(1.1416891766, rel=1e-9)  # toy, beta = 1: 0.98853 > 0.86585 at t = 1
    # a code value off by 1e-6 relative disagrees with the replay
    w2 = replay_bound_violation(p, sp.lam, dual_step="prox", t=1, eta_th=e[0], eta_lam=e[1],
                                code_error=float(tr.error[1]) * (1 + 1e-6), code_bound=bound1)
    assert not w2["agrees"] and "disagreement" in w2
    # a violation smaller than the judged slack (rtol = 1: error must exceed twice the bound) is not confirmed
    w3 = replay_bound_violation(p, sp.lam, dual_step="prox", t=1, eta_th=e[0], eta_lam=e[1],
                                code_error=float(tr.error[1]), code_bound=bound1, rtol=1.0)
    assert not w3["confirms"]


def test_lyapunov_witness_on_the_toy():
    from opdcheck.paper_checks.checks.thm_3_4_lyapunov import lyapunov_case

    p = paper_toy(1.0)
    c = lyapunov_case(p, T=50)
    assert c["first_t"] is not None
    e = thm34_step_sizes(p)
    w = replay_lyapunov_violation(p, solve_saddle(p).lam, dual_step="prox", t=c["first_t"], eta_th=e[0], eta_lam=e[1],
                                  code_ratio=c["first_ratio"], code_rho=c["rho"])
    assert w["replayed"] and w["confirms"] and w["agrees"]
    w2 = replay_lyapunov_violation(p, solve_saddle(p).lam, dual_step="prox", t=c["first_t"], eta_th=e[0],
                                   eta_lam=e[1], code_ratio=c["first_ratio"], code_rho=0.9 * c["rho"])
    assert not w2["agrees"]


def test_zero_multiplier_witness():
    p = random_instance(4, 5, 3, 0.1, seed=0, inactive=1)
    lam = np.asarray(solve_saddle(p).lam)
    assert lam[2] == 0.0
    w = replay_zero_multiplier(p, lam, 2, lam)
    assert w["confirms"] and w["agrees"] and w["c_j(pi*) (replay, slack)"] > 0.1
    # negative controls: a wrong lam* from the code disagrees; an active component does not confirm
    assert not replay_zero_multiplier(p, lam, 2, lam * 1.001)["agrees"]
    assert not replay_zero_multiplier(p, lam, 0, lam)["confirms"]
    assert math.isfinite(w["saddle projected gradient"])


def test_quadratic_prox_argmin_survives_a_refused_secant(monkeypatch):
    """The full profile's toy replay met brackets where mpmath's regula falsi refused its own tolerance test
    (f(hi) ~ 2e-13, the root next to the bracket's end); the bisection fallback must still land on the root."""
    import mpmath

    from opdcheck.numerics.replay import solve

    def refuse(*args, **kwargs):
        raise ValueError("Could not find root within given tolerance.")

    monkeypatch.setattr(solve.mpmath, "findroot", refuse)
    with mpmath.workdps(50):
        c, l_hat, kappa = -mpmath.mpf(10) / 3 + mpmath.mpf("2.1218e-13"), mpmath.mpf(0), mpmath.mpf(5) / 6
        root = solve.quadratic_prox_argmin(c, l_hat, kappa)
        assert abs(c + 2 * kappa * (root - l_hat)) < mpmath.mpf(10) ** -45
