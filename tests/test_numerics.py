"""Exact saddle-point routes: dual Newton, cvxpy/Clarabel, LP (beta = 0); Slater; signs; errors."""
import sys

import numpy as np
import pytest

from opdcheck.instances import paper_toy, random_instance
from opdcheck.numerics import (
    SolverError,
    best_response,
    cross_check,
    dual_gradient,
    dual_hessian,
    dual_value,
    kkt_residuals,
    kl_rows,
    require_slater,
    slater_margin,
    solve_dual_newton,
    solve_lp,
    solve_primal_cvxpy,
    solve_saddle,
)
from opdcheck.problem import Problem
from opdcheck.tolerances import CVXPY_DUAL_FLOOR, SADDLE_AGREEMENT_ATOL


def test_import_does_not_load_cvxpy():
    import subprocess

    code = "import sys, opdcheck.numerics, opdcheck.numerics.dual; print('cvxpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("method", ["dual", "cvxpy"])
def test_toy_saddle(method):
    sp = solve_saddle(paper_toy(), method)
    assert sp.lam[0] == pytest.approx(1.0, abs=SADDLE_AGREEMENT_ATOL)
    np.testing.assert_allclose(sp.pi, [[0.3, 0.7]], atol=SADDLE_AGREEMENT_ATOL)
    assert abs(sp.duality_gap) < 1e-9
    assert max(sp.kkt.values()) < 1e-7


def test_toy_lp_beta0():
    sp = solve_saddle(paper_toy().with_beta(0.0))
    assert sp.method == "lp-highs"
    assert sp.lam[0] == pytest.approx(1.0, abs=1e-9)  # the LP's dual sign: lam* >= 0
    np.testing.assert_allclose(sp.pi, [[0.3, 0.7]], atol=1e-9)
    assert sp.info["ties"] == [0]  # S_{lam*} = (0.3, 0.3): a tie, pi* held only by the constraint
    assert "does not apply" in sp.info["note"]
    assert abs(sp.duality_gap) < 1e-9


def test_lp_no_ties_and_beta0_errors():
    p = random_instance(6, 4, 2, 0.0, seed=3)
    sp = solve_lp(p)
    assert max(sp.kkt.values()) < 1e-8
    assert dual_value(p, sp.lam) == pytest.approx(sp.primal_value, abs=1e-8)
    with pytest.raises(ValueError, match="solve_lp"):
        best_response(p, sp.lam)
    with pytest.raises(ValueError, match="beta = 0"):
        solve_dual_newton(p)
    with pytest.raises(ValueError, match="needs beta > 0"):
        solve_saddle(p, "cvxpy")


# 20 seeded instances: (X, n, h, beta, seed), h <= X (n - 1) so that lam* is unique. The grid was fixed
# before running it. Measured: 15 of 20 agree to SADDLE_AGREEMENT_ATOL = 1e-7; the 5 marked below do not,
# because Clarabel's exponential-cone solution has a precision floor of ~1e-7..2e-5 in pi (its KKT solves
# hit double-precision noise; amplified by 1/beta in pi and 1/lambda_min(hess D) in lam) -- the dual
# Newton side has KKT residuals ~1e-12 on the same instances. They are xfail (not strict), and must still
# agree to CVXPY_DUAL_FLOOR; one 1e4-variable instance ends "almost solved" and is refused by design.
_FLOOR = "Clarabel precision floor (measured diff {}): above 1e-7, below CVXPY_DUAL_FLOOR"
_KNOWN = {(3, 4, 2, 0.1, 1): "1.8e-7", (4, 3, 2, 0.3, 6): "1.7e-5", (2, 6, 6, 0.3, 9): "1.1e-7",
          (13, 2, 3, 0.05, 11): "5.4e-7"}
AGREEMENT_CASES = [
    (1, 2, 1, 0.05, 0), (3, 4, 2, 0.1, 1), (5, 5, 3, 0.2, 2), (10, 10, 8, 0.05, 3), (20, 5, 4, 1.0, 4),
    (8, 6, 8, 0.5, 5), (4, 3, 2, 0.3, 6), (50, 20, 8, 0.05, 7), (12, 7, 5, 0.1, 8), (2, 6, 6, 0.3, 9),
    (6, 2, 1, 0.5, 10), (13, 2, 3, 0.05, 11), (9, 9, 7, 0.1, 12), (17, 6, 7, 0.2, 13), (11, 5, 8, 0.06, 14),
    (8, 7, 4, 0.05, 15), (19, 3, 8, 1.0, 16), (7, 4, 1, 2.0, 17), (14, 5, 6, 0.4, 18), (100, 100, 4, 0.1, 8),
]


@pytest.mark.parametrize("X,n,h,beta,seed", [
    pytest.param(*c, marks=pytest.mark.xfail(reason=_FLOOR.format(_KNOWN[c]), strict=False)) if c in _KNOWN
    else c for c in AGREEMENT_CASES])
def test_cvxpy_agrees_with_dual_newton(X, n, h, beta, seed):
    p = random_instance(X, n, h, beta, seed)
    r = cross_check(p)
    assert max(r["pi_diff"], r["lam_diff"]) <= CVXPY_DUAL_FLOOR, r  # never more than the solver floor
    assert r["agree"], r  # the 1e-7


def test_large_instance_almost_solved_is_refused():
    # measured: Clarabel's gap stalls at ~7.6e-8 on this 1e4-variable instance at every setting tried;
    # the "optimal_inaccurate" answer must not be used as a reference
    # (if a future Clarabel solves it to "optimal", the answer must then agree with dual Newton)
    p = random_instance(100, 100, 4, 0.1, 19)
    try:
        sp = solve_primal_cvxpy(p)
    except SolverError as exc:
        assert "optimal_inaccurate" in str(exc) and p.name in str(exc)
    else:
        assert np.max(np.abs(sp.lam - solve_dual_newton(p).lam)) <= CVXPY_DUAL_FLOOR


def test_dual_sign_error_is_caught():
    p = random_instance(3, 4, 2, 0.1, seed=1)
    good = solve_primal_cvxpy(p)
    bad = solve_primal_cvxpy(p, dual_sign=-1.0)
    ref = solve_dual_newton(p)
    assert np.max(np.abs(good.lam - ref.lam)) <= SADDLE_AGREEMENT_ATOL
    assert np.max(np.abs(bad.lam - ref.lam)) > 0.1
    assert np.all(bad.lam <= 0) and bad.kkt["dual_feasibility"] > 0


@pytest.mark.parametrize("beta", [1e-3, 1e-2, 0.1, 1.0, 10.0])
@pytest.mark.parametrize("h", [1, 3, 8])
def test_dual_newton_robust(beta, h):
    p = random_instance(15, 6, h, beta, seed=h)
    sp = solve_dual_newton(p)
    assert sp.info["status"] in ("converged", "converged-at-rounding")
    assert sp.kkt["stationarity"] == 0.0  # pi is pi_{lam} by construction
    assert sp.kkt["primal_feasibility"] < 1e-10 and sp.kkt["complementarity"] < 1e-10
    assert np.all(sp.lam >= 0)
    assert abs(sp.duality_gap) < 1e-9


def test_exact_zero_multiplier_for_inactive_constraint():
    p = random_instance(5, 4, 3, 0.05, seed=2, inactive=1)
    lam = solve_dual_newton(p).lam
    assert lam[-1] == 0.0 and np.any(lam > 0)


def test_dual_derivatives_match_finite_differences():
    p = random_instance(4, 5, 3, 0.2, seed=0)
    lam = np.array([0.3, 0.1, 0.5])
    g, H = dual_gradient(p, lam), dual_hessian(p, lam)
    np.testing.assert_allclose(g, p.constraint_values(best_response(p, lam)), atol=1e-14)
    s = 1e-6
    for j in range(3):
        e = np.eye(3)[j] * s
        assert (dual_value(p, lam + e) - dual_value(p, lam - e)) / (2 * s) == pytest.approx(g[j], abs=1e-8)
        np.testing.assert_allclose((dual_gradient(p, lam + e) - dual_gradient(p, lam - e)) / (2 * s), H[:, j],
                                   atol=1e-6)
    assert np.all(np.linalg.eigvalsh(H) >= -1e-12)


def test_best_response_extreme_beta_is_finite():
    p = random_instance(3, 4, 2, 1e-3, seed=0)
    pi = best_response(p, [50.0, 50.0])  # S/beta ~ 1e5: log-sum-exp must not overflow
    assert np.all(np.isfinite(pi)) and np.allclose(pi.sum(axis=1), 1.0)


def _infeasible():
    # one prompt: the hard reward is negative on every response, so c(pi) < 0 for every policy
    return Problem(rho=[1.0], pi_ref=[[0.5, 0.5]], R_soft=[[[1.0, 0.0]]], w=[1.0], R_hard=[[[-0.5, -0.2]]],
                   beta=0.1, name="infeasible")


def test_slater_margin_and_error():
    assert slater_margin(paper_toy()) == pytest.approx(0.3, abs=1e-9)
    p = _infeasible()
    assert slater_margin(p) == pytest.approx(-0.2, abs=1e-9)
    with pytest.raises(ValueError, match=r"Slater's condition fails: xi = .*-0\.2.*loosen the thresholds"):
        require_slater(p)
    with pytest.raises(ValueError, match="Slater's condition fails"):
        solve_dual_newton(p)  # the dual is unbounded below: reported as Slater failing, with xi
    # xi = 0 exactly (feasible only on the boundary) also fails
    q = Problem(rho=[1.0], pi_ref=[[0.5, 0.5]], R_soft=[[[1.0, 0.0]]], w=[1.0], R_hard=[[[-0.5, 0.0]]],
                beta=0.1, name="boundary")
    with pytest.raises(ValueError, match="Slater"):
        require_slater(q)


def test_solver_error_on_non_optimal_status():
    with pytest.raises(SolverError, match=r"status 'infeasible'.*infeasible"):
        solve_primal_cvxpy(_infeasible())
    with pytest.raises(SolverError, match="HiGHS status"):
        solve_lp(_infeasible().with_beta(0.0))


def test_solver_error_on_inaccurate(monkeypatch):
    import cvxpy as cp

    def fake_solve(self, *a, **k):
        self._status = cp.OPTIMAL_INACCURATE  # what Clarabel's "AlmostSolved" maps to
        return 0.0

    monkeypatch.setattr(cp.Problem, "solve", fake_solve)
    monkeypatch.setattr(cp.Problem, "status", property(lambda self: self._status))
    with pytest.raises(SolverError, match="paper-toy.*optimal_inaccurate"):
        solve_primal_cvxpy(paper_toy())


def test_kkt_residuals_detect_wrong_points():
    p = paper_toy()
    k = kkt_residuals(p, np.array([[0.5, 0.5]]), [1.0])
    assert k["primal_feasibility"] == pytest.approx(0.2)  # c = -0.35 + 0.15
    assert kkt_residuals(p, np.array([[0.3, 0.7]]), [-1.0])["dual_feasibility"] == 1.0


def test_kl_helper_support_mismatch():
    with pytest.raises(ValueError, match="support"):
        kl_rows(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))
    assert kl_rows(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]))[0] == pytest.approx(np.log(2))


def test_cache_per_problem_object():
    p = paper_toy()
    assert solve_saddle(p) is solve_saddle(p)
    assert solve_saddle(paper_toy()) is not solve_saddle(p)
    with pytest.raises(ValueError):
        solve_saddle(p).lam[0] = 2.0  # shared result is read-only
    with pytest.raises(ValueError, match="method"):
        solve_saddle(p, "newton")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(40))
def test_agreement_sweep_slow(seed):
    # a wider random sweep: the exact dual route must have KKT residuals ~1e-10, and cvxpy must agree with
    # it within its precision floor (CVXPY_DUAL_FLOOR); the strict 1e-7 is *measured* here, not assumed
    # (see AGREEMENT_CASES: about 1 instance in 5 misses it by Clarabel's floor)
    rng = np.random.default_rng(seed)
    X, n = int(rng.integers(1, 40)), int(rng.integers(2, 20))
    h = min(int(rng.integers(1, 9)), X * (n - 1))
    beta = float(10 ** rng.uniform(-2, 1))
    p = random_instance(X, n, h, beta, seed=1000 + seed)
    sp = solve_dual_newton(p)
    assert max(sp.kkt.values()) < 1e-10
    try:
        r = cross_check(p)
    except SolverError as exc:
        pytest.skip(f"cvxpy reference not optimal: {exc}")
    assert max(r["pi_diff"], r["lam_diff"]) <= CVXPY_DUAL_FLOOR, r
