"""rate-certificate: exact linearization (theory/linearization.py) and the check
(paper_checks/rate_certificate.py), with negative controls."""
from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
import sympy as sp

from opdcheck.kernels.rules import dual_step, primal_mirror_step
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.checks.rate_certificate import run
from opdcheck.paper_checks.studies.rate_cases import (classify, judge_rate, make_case, measure_tail_rate,
                                                    quick_cases, run_case)
from opdcheck.paper_checks.result import Verdict
from opdcheck.theory.linearization import (METHODS, MU, certify_rate, charpoly_coeffs, inverse_design_rational,
                                           jacobian, mode_polynomial, predicted_charpoly, step_constants)
from opdcheck.theory.schur_cohn import is_schur_stable, radius_below

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")

T_MAX = 6000


@pytest.fixture(scope="module")
def cases():
    return {c.name: c for c in quick_cases()}


# ------------------------------------------------------------------ per-mode polynomials (SPEC)
def _scalar_mode_charpoly(method: str) -> sp.Expr:
    """Independent derivation: the Jacobian with N = m = 1 (scalars J, B, with kappa b J B = c)."""
    g, b, k, J, B, a, c = sp.symbols("gamma b kappa J B a c")
    if method == "simultaneous-gda":
        M = sp.Matrix([[g, b * B], [-k * J, 1]])
    elif method == "alternating-gda":
        M = sp.Matrix([[g, b * B], [-k * g * J, 1 - k * b * J * B]])
    else:
        M = sp.Matrix([[g, b * B, -k * b * B * J, 0], [-k * g * J, 1, 0, -k * b * J * B],
                       [g, 0, 0, b * B], [0, 1, -k * J, 0]])
    p = sp.expand(M.charpoly(MU).as_expr().subs(g, 1 - a))
    return sp.expand(sp.simplify(p.subs(k, c / (b * J * B))))


@pytest.mark.parametrize("method", METHODS)
def test_spec_per_mode_polynomials(method):
    a, c = sp.symbols("a c")
    assert sp.expand(_scalar_mode_charpoly(method) - mode_polynomial(method, a, c)) == 0


@pytest.mark.parametrize("name", ["X1-n3-h2(beta=1/10)", "X2-n3-h2-one-inactive(beta=1/5)"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ds", ["prox", "gradient"])
def test_charpoly_factorizes_into_spec_modes(cases, name, method, ds):
    case = cases[name]
    d = case.design()
    M = jacobian(d, method, case.eta_th, case.eta_lam, ds)
    assert charpoly_coeffs(M) == predicted_charpoly(d, method, case.eta_th, case.eta_lam, ds)


def test_spec_stability_thresholds():
    a, c = sp.Rational(1, 10), sp.Symbol("c")
    # simultaneous GDA: stable iff c < a
    for cc, stable in ((a - sp.Rational(1, 1000), True), (a + sp.Rational(1, 1000), False)):
        p = sp.Poly(mode_polynomial("simultaneous-gda", a, cc), MU).all_coeffs()
        assert is_schur_stable(p) == stable
    # alternating GDA at beta = 0 (a = 0): modulus exactly 1 (it cycles), never strictly stable
    p = sp.Poly(mode_polynomial("alternating-gda", 0, sp.Rational(1, 5)), MU).all_coeffs()
    assert not is_schur_stable(p) and radius_below(p, F(1001, 1000))
    # OPD at beta = 0: stable iff c < 1/3
    for cc, stable in ((sp.Rational(1, 3) - sp.Rational(1, 1000), True),
                       (sp.Rational(1, 3) + sp.Rational(1, 1000), False)):
        p = sp.Poly(mode_polynomial("opd", 0, cc), MU).all_coeffs()
        assert is_schur_stable(p) == stable
    del c


# ------------------------------------------------- the Jacobian against the kernels' update rules
def _reduce(logp):
    return (logp[:, :-1] - logp[:, -1:]).ravel()


def _expand(u, X, n):
    z = np.concatenate([u.reshape(X, n - 1), np.zeros((X, 1))], axis=1)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _map(problem, method, eta, eta_lam, ds, state, active):
    X, n, h = problem.X, problem.n, problem.h
    N, m = X * (n - 1), len(active)

    def full(v):
        lam = np.zeros(h)
        lam[list(active)] = v
        return lam

    P = lambda lg, lam: primal_mirror_step(problem, lg, lam, eta)  # noqa: E731
    D = lambda lh, lg: dual_step(lh, problem.constraint_values(np.exp(lg)), eta_lam, convention=ds)  # noqa: E731
    u, lam = state[:N], full(state[N:N + m])
    lg = _expand(u, X, n)
    if method == "simultaneous-gda":
        new = [_reduce(P(lg, lam)), D(lam, lg)[list(active)]]
    elif method == "alternating-gda":
        lg_new = P(lg, lam)
        new = [_reduce(lg_new), D(lam, lg_new)[list(active)]]
    else:
        lg_prev, lam_prev = _expand(state[N + m:2 * N + m], X, n), full(state[2 * N + m:])
        lg_pred, lam_pred = P(lg, lam_prev), D(lam, lg_prev)
        new = [_reduce(P(lg, lam_pred)), D(lam, lg_pred)[list(active)], _reduce(lg_pred), lam_pred[list(active)]]
    return np.concatenate(new)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ds", ["prox", "gradient"])
def test_exact_jacobian_matches_finite_differences_of_kernel_rules(cases, method, ds):
    case = cases["X2-n3-h2-one-inactive(beta=1/5)"]
    d = case.design()
    pi = np.array([[float(p) for p in row] for row in d.pi_star])
    lam = np.array([float(d.lam_star[j]) for j in d.active])
    base = [_reduce(np.log(pi)), lam]
    if method == "opd":
        base += [_reduce(np.log(pi)), lam]
    s0 = np.concatenate(base)
    f = lambda s: _map(d.problem, method, float(case.eta_th), float(case.eta_lam), ds, s, d.active)  # noqa: E731
    assert np.allclose(f(s0), s0, atol=1e-12)  # the saddle point is a fixed point
    h = 1e-6
    Jfd = np.column_stack([(f(s0 + h * e) - f(s0 - h * e)) / (2 * h) for e in np.eye(s0.size)])
    Jex = np.array(jacobian(d, method, case.eta_th, case.eta_lam, ds).evalf(), dtype=float)
    assert np.allclose(Jfd, Jex, atol=1e-8)


# ----------------------------------------------------------------- measurement and judging
def test_measure_tail_rate_on_exact_sequences():
    t = np.arange(400)
    e = 1e-8 * 0.9 ** (2 * t) * (1.5 + np.cos(0.7 * t))  # complex-pair-like oscillation
    fit = measure_tail_rate(e, growing=False)
    assert fit["ok"] and abs(fit["rate"] / 0.9 - 1) < 1e-3
    g = 1e-24 * 1.05 ** (2 * t)
    fit = measure_tail_rate(g, growing=True)
    assert fit["ok"] and abs(fit["rate"] / 1.05 - 1) < 1e-9
    fit = measure_tail_rate(np.full(50, 1e-3), growing=False)
    assert not fit["ok"]


def test_judge_rate():
    assert judge_rate(0.9, 0.89, 0.91) == (True, 0.0)
    ok, rel = judge_rate(0.92, 0.9, 0.91, rtol=1e-3)
    assert not ok and rel == pytest.approx(0.01 / 0.91)
    assert not judge_rate(float("nan"), 0.9, 0.91)[0]


def test_gda_unstable_opd_stable_instance(cases):
    toy = cases["toy(beta=1/20)"]
    for ds in ("prox", "gradient"):
        gda = run_case(toy, "simultaneous-gda", ds, T_max=T_MAX)
        assert gda["certified"] == "unstable" and gda["lo"] > 1 and gda["behaviour"] == "grows" and gda["agree"]
        opd = run_case(toy, "opd", ds, T_max=T_MAX)
        assert opd["certified"] == "stable" and opd["hi"] < 1 and opd["behaviour"] == "converges" and opd["agree"]
        assert opd["final_error"] < 1e-25 < gda["final_error"]


# --------------------------------------------------------------------------- negative controls
def test_negative_control_wrong_dual_convention_in_certificate_is_refuted(cases):
    toy = cases["toy(beta=1/20)"]

    def swapped(design, method, eta_th, eta_lam, ds, tol):
        return certify_rate(design, method, eta_th, eta_lam, "gradient" if ds == "prox" else "prox", tol)

    row = run_case(toy, "opd", "prox", T_max=T_MAX, certifier=swapped)
    assert not row["agree"] and row["rel_err"] > 0.05
    assert classify([row])[0] is Verdict.REFUTED


def test_negative_control_iteration_without_optimism_is_refuted(cases):
    # OPD's certificate, but the iteration is simultaneous GDA: it grows where OPD converges
    case = cases["X1-n3-h2(beta=1/10)"]
    from opdcheck.kernels.baselines import run_simultaneous_pd
    from opdcheck.paper_checks.studies.rate_cases import RUNNERS

    broken = dict(RUNNERS, opd=run_simultaneous_pd)
    row = run_case(case, "opd", "prox", T_max=T_MAX, runners=broken)
    assert not row["agree"] and row["behaviour"] == "grows"
    assert classify([row])[0] is Verdict.REFUTED


def test_near_tie_is_inconclusive_not_refuted(cases):
    # far-start instance at steps (2, 1), gradient convention: OPD's two largest moduli nearly tie
    # (rho_2/rho ~ 0.997), the finite window sees a mixture and the fit misses by ~3e-3
    far = cases["X2-n2-h1-far-start(beta=1/2)"]
    case = make_case(far.name, far.pi_star, far.lam_star, far.G, far.beta, 2, 1, R_soft=far.R_soft,
                     start="reference")
    row = run_case(case, "opd", "gradient", T_max=T_MAX)
    assert row["rho2/rho"] > 0.99 and not row["agree"]
    assert classify([row])[0] is Verdict.INCONCLUSIVE
    # the same miss with well-separated moduli and a tight fit would be a refutation
    assert classify([dict(row, **{"rho2/rho": 0.5, "fit_se_rel": 1e-5})])[0] is Verdict.REFUTED


def test_design_input_errors():
    G = [[["-7/10", "3/10"]]]
    with pytest.raises(ValueError, match="float"):
        inverse_design_rational([[0.3, 0.7]], ["1"], G, "1/20")
    with pytest.raises(ValueError, match="sums to"):
        inverse_design_rational([["3/10", "3/5"]], ["1"], G, "1/20")
    with pytest.raises(ValueError, match="beta"):
        inverse_design_rational([["3/10", "7/10"]], ["1"], G, "0")
    with pytest.raises(ValueError, match="lam_star"):
        inverse_design_rational([["3/10", "7/10"]], ["0"], G, "1/20")
    d = inverse_design_rational([["3/10", "7/10"]], ["1"], G, "1/20")
    with pytest.raises(ValueError, match="dual_step"):
        step_constants(d, 1, 1, "adam")
    assert step_constants(d, 1, 1, "prox")["kappa"] == sp.Rational(1, 2)
    assert d.problem.constraint_values(np.array([[0.3, 0.7]]))[0] == pytest.approx(0, abs=1e-15)


# ------------------------------------------------------------------------------ the check itself
@pytest.mark.slow  # the same quick run of rate-certificate is compared finding by finding with baseline.json by default
def test_check_quick_profile_confirmed(tmp_path):
    res = run(CheckContext(profile="quick", seed=0, out_dir=tmp_path))
    assert res.verdict is Verdict.CONFIRMED, res.summary
    assert res.computed["spec_per_mode_polynomials_match"]
    assert res.computed["gda_unstable_opd_stable"]["gda_lo"] > 1 > res.computed["gda_unstable_opd_stable"]["opd_hi"]
    assert all(r["agree"] for r in res.evidence) and len(res.evidence) == 24
    assert res.figures and (tmp_path / res.figures[0]).exists()
    res.to_dict()  # JSON-able


def test_inverse_designs_have_the_rational_saddle_point(cases):
    # the float instances' saddle point (dual Newton, numerics/) is the chosen rational (pi*, lam*)
    from opdcheck.numerics.dual import solve_dual_newton

    for case in cases.values():
        for scale in ((None,) if case.start == "reference" else (None, 1e-4, 1e-12)):
            d = case.design(scale)
            sp_ = solve_dual_newton(d.problem)
            pi = np.array([[float(p) for p in row] for row in d.pi_star])
            lam = np.array([float(v) for v in d.lam_star])
            assert np.allclose(sp_.pi, pi, atol=1e-10) and np.allclose(sp_.lam, lam, atol=1e-9), case.name
            if case.start == "near-saddle" and scale is not None:
                # pi_ref is pi* tilted by `scale`: the kernels' start is that close to the saddle policy
                assert 0 < np.abs(np.log(d.problem.pi_ref) - np.log(pi)).max() < 10 * scale
