"""The App. C / App. E checks: the contraction step, the iteration's exponent, requirement (2)'s sign, the Cor 3.10
residual scale and in-class strong duality; each with a positive and a negative control."""
from __future__ import annotations

import sympy as sp

from opdcheck.paper_checks.checks import app_c_proof_steps, app_e_strong_duality, cor_3_10_residual
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import get_check
from opdcheck.paper_checks.result import Verdict
from quick_profile_run import quick_result
import pytest

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


def _ctx(tmp_path):
    return CheckContext(out_dir=tmp_path)


def test_app_c_contraction_fails_where_the_bound_holds():
    res = quick_result("app-C-proof-steps")  # the session's quick run (tests/quick_profile_run.py)
    f = res.findings[0]
    assert f.verdict == Verdict.REFUTED and f.computed["first step violated"] == 21
    assert f.computed["bound (proof's denominator) holds on the run"]
    assert f.witness["confirms"] and f.witness["agrees"] and f.statement == "appC-contraction"
    assert [g.severity for g in res.findings[1:]] == ["typo", "typo"]
    assert all(g.verdict == Verdict.INCONSISTENT for g in res.findings[1:])
    assert all(c.passed for c in res.controls) and not res.downgrades


def test_app_c_negative_control_a_larger_rho_is_not_violated():
    # positive control of the judge: at rho = 1 (no contraction claimed) the toy never violates
    assert app_c_proof_steps.contraction_case(rho_override=1.0)["first"] is None
    # the sign slip: the printed expression exceeds 1/2, the true quantity does not
    ss = app_c_proof_steps.sign_slip()
    assert not ss["printed < 1/2"] and ss["actual < 1/2"]


def test_cor_3_10_residual_under_counted_below_one_only():
    under = cor_3_10_residual.extreme_sequence_check(1, sp.Rational(1, 10), sp.Rational(1, 20))
    assert under["first t violated"] == 2 and abs(under["limit ratio 1/m"] - 20 / 7) < 1e-12
    over = cor_3_10_residual.extreme_sequence_check(1, sp.Integer(1), sp.Rational(1, 20))
    assert over["first t violated"] is None  # positive control: min(a1, a3) >= 1
    # negative control: a too-small gap term is caught even there
    assert cor_3_10_residual.extreme_sequence_check(1, sp.Integer(1), sp.Rational(1, 20),
                                                    gap_scale=sp.Rational(1, 10))["first t violated"] is not None


def test_cor_3_10_residual_check():
    res = quick_result("cor-3.10-residual")
    assert res.verdict == Verdict.INCONSISTENT and all(c.passed for c in res.controls)
    assert res.findings[0].statement == "cor-3.10-residual"


def test_in_class_duality_gap_two_computations():
    res = quick_result("app-E-strong-duality")
    f = res.findings[0]
    assert f.verdict == Verdict.REFUTED and f.witness["agrees"] and f.witness["confirms"]
    assert abs(f.witness["gap (code)"] - f.witness["gap (replay)"]) < 1e-4 and f.witness["gap (replay)"] > 0.3
    assert f.computed["xi"] > 0 and f.computed["p_min"] > 0.09
    assert all(c.passed for c in res.controls)


def test_in_class_duality_positive_control_mixture_class(tmp_path):
    res = app_e_strong_duality.evaluate(_ctx(tmp_path), logits=app_e_strong_duality.mixture_logits)
    assert res.verdict == Verdict.CONFIRMED


def test_new_checks_registered_with_docstrings():
    for cid in ("app-C-proof-steps", "cor-3.10-residual", "app-E-strong-duality"):
        assert "Example" in get_check(cid).doc
