"""Item 4 of the symbolic audit: Lemmas B.2, B.4, B.8, with negative controls."""
import json

import numpy as np
import sympy as sp

from opdcheck.paper_checks.checks import lemmas_b2_b4_b8 as chk
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import Verdict
from opdcheck.theory import lemmas as lm
from quick_profile_run import quick_result, quick_results
import pytest

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")

R34 = sp.Rational(3, 4)


def test_b8_identity_and_mutation():
    assert lm.three_point_identity_residual() == 0
    assert lm.kl_three_point_residual_simplex(3) == 0
    # KL without the linear terms is not a Bregman divergence off the simplex: the identity breaks
    plain = lambda u, v: u * sp.log(u / v)  # noqa: E731
    assert not lm.judge_identity(lm.three_point_identity_residual(plain))


def test_b4_minors_and_region():
    m = lm.b4_principal_minors()
    assert sp.simplify(m["M12"] - lm.THETA * (lm.DELTA - 1)) == 0
    assert sp.simplify(m["M13"] - (lm.DELTA - 1) / lm.THETA) == 0
    assert m["M123"] == 0
    reg = lm.b4_validity_condition()
    assert reg["necessary_region_delta"] == sp.Interval(1, sp.oo)
    assert all(reg["sufficient_for_delta_ge_1"].values())


def test_b4_false_at_proof_values_true_for_delta_ge_1():
    assert not lm.b4_holds_at(R34, R34)
    w = lm.b4_witness(R34, R34)
    assert (w["a"], w["b"], w["c"]) == (1, 0, -1) and w["lhs"] == 0 and w["rhs"] == sp.Rational(13, 36)
    assert lm.b4_holds_at(sp.Integer(2), sp.Rational(1, 2)) and lm.b4_holds_at(sp.Integer(1), sp.Integer(3))
    assert lm.b4_witness(sp.Integer(2), sp.Rational(1, 3)) is None
    # every delta < 1 fails, whatever theta (both witnesses together)
    for d in (sp.Rational(1, 10), sp.Rational(1, 2), sp.Rational(99, 100)):
        for t in (sp.Rational(1, 100), sp.Integer(1), sp.Integer(50)):
            assert not lm.b4_holds_at(d, t)


def test_b4_young_identity():
    assert lm.b4_young_identity_residual() == 0


def test_b4_judge_negative_control():
    assert not lm.judge_three_vector_inequality()["holds"]
    grid = [(sp.Rational(a, 8), sp.Rational(b, 4)) for a in range(1, 9) for b in range(1, 9)]
    assert lm.judge_three_vector_inequality(lm.b4_corrected_coefficients, grid)["holds"]


def test_pinsker_symbolic_n2():
    d = lm.pinsker_derivative_n2()
    p, q = sp.symbols("p q", positive=True)
    assert sp.simplify(d - 2 * (q - p) * (2 * q - 1) ** 2 / (q * (1 - q))) == 0
    assert lm.pinsker_n2_factorisation_residual() == 0


def test_pinsker_draws_and_wrong_constant():
    ok = chk.pinsker_draws(np.random.default_rng(0), 2000, 2.0)
    assert ok["holds"] and ok["max ||p-q||_1^2/(2 KL)"] <= 1 + 1e-9
    bad = chk.pinsker_draws(np.random.default_rng(0), 2000, 1.0)   # ||p-q||_1 <= sqrt(KL): false
    assert not bad["holds"]
    again = chk.pinsker_draws(np.random.default_rng(0), 2000, 2.0)
    assert again == ok   # deterministic


def test_check_refutes_b4_and_flips(tmp_path):
    ctx = CheckContext(out_dir=tmp_path)
    out, _ = quick_results()
    r = quick_result(chk.ID)  # the session's quick run (tests/quick_profile_run.py): the same run with the same context
    assert r.verdict is Verdict.REFUTED and r.counterexample
    payload = json.loads((out / r.counterexample).read_text())
    assert payload["lemma_B4_failures"][0]["delta"] == "3/4"
    # B.4 restricted to its valid region (delta shifted by 1): CONFIRMED
    shifted = lambda d, t: lm.b4_coefficients(d + 1, t)  # noqa: E731
    assert chk.evaluate(ctx, b4_coeffs=shifted).verdict is Verdict.CONFIRMED
    # ... and a wrong Pinsker constant is REFUTED by the draws even then
    assert chk.evaluate(ctx, b4_coeffs=shifted, pinsker_const=1.0).verdict is Verdict.REFUTED
