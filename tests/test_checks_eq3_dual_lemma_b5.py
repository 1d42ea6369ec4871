"""The three numerics checks in the quick profile, and their negative controls."""
import numpy as np

from opdcheck.instances import load_problem, paper_toy, random_instance
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import get_check
from opdcheck.paper_checks.result import Verdict
from quick_profile_run import quick_result, quick_results
import pytest

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


def test_registered():
    for cid, order in (("eq3-best-response", 10), ("dual-function", 11), ("lemma-B.5", 40)):
        c = get_check(cid)
        assert c.order == order and c.accepts_instance


def test_eq3_best_response_quick():
    r = quick_result("eq3-best-response")  # the session's quick run (tests/quick_profile_run.py)
    assert r.verdict == Verdict.CONFIRMED, r.summary
    assert r.computed["min_value_gap"] >= -1e-10 and r.computed["max_foc_residual"] < 1e-9
    assert r.stated is not None and r.evidence


def test_eq3_negative_control():
    from opdcheck.paper_checks.checks.eq3_best_response import broken_formula_no_beta, judge_best_response

    p = random_instance(3, 4, 2, 0.1, seed=0)
    bad = judge_best_response(p, np.array([0.5, 0.5]), formula=broken_formula_no_beta)
    assert not bad["ok"] and bad["value_gap"] < -1e-3  # the wrong formula is not the maximiser
    good = judge_best_response(p, np.array([0.5, 0.5]))
    assert good["ok"]


def test_dual_function_quick():
    from opdcheck.tolerances import SADDLE_AGREEMENT_ATOL

    r = quick_result("dual-function")  # the session's quick run
    # every finding decided by a certificate; the multipliers agree with the KKT-polished cvxpy point
    # (measured <= 1e-12) where it certifies itself, which it does on every quick instance
    assert r.verdict == Verdict.CONFIRMED, r.summary
    assert r.judged == 4 and all(f.judged == 4 for f in r.findings)
    assert all(c.passed for c in r.controls) and {c.kind for c in r.controls} == {"positive", "negative"}
    assert r.computed["max_grad_fd_rel_err"] < 1e-5 and r.computed["max_hess_fd_rel_err"] < 1e-5
    assert r.computed["max_lam_diff_vs_cvxpy"] <= SADDLE_AGREEMENT_ATOL
    assert r.computed["max_raw_lam_diff_vs_clarabel"] > 0  # raw accuracy stays visible
    assert all(e["multipliers"] == "agree" and "Newton steps" in e["cvxpy_polish"] for e in r.evidence)


def test_dual_function_sign_error_is_never_confirmed():
    # reading cvxpy's duals with the wrong sign: the polish refuses them (not dual-feasible), so the
    # reference certifies nothing: the multiplier finding is undecided (INCONCLUSIVE), never CONFIRMED,
    # and the KKT certificate of lam* itself still holds
    from opdcheck.paper_checks.checks.dual_function import evaluate

    probs = [paper_toy(), random_instance(3, 4, 2, 0.1, seed=0)]
    v_good, _, _, _ = evaluate(probs, np.random.default_rng(0))
    assert v_good == Verdict.CONFIRMED
    v_bad, rows, _, findings = evaluate(probs, np.random.default_rng(0), dual_sign=-1.0)
    assert v_bad == Verdict.INCONCLUSIVE
    assert all(r["multipliers"] == "reference-uncertified" and "polish refused" in r["cvxpy_why"] for r in rows)
    assert all(r["cvxpy_raw_dual_feasibility"] > 0.1 for r in rows)  # the read duals are -lam*
    assert [f.verdict for f in findings][:3] == [Verdict.CONFIRMED] * 3


def test_dual_function_wrong_hessian_refuted_with_witness(tmp_path):
    # negative control: the Hessian without 1/beta is caught by the difference quotients and replayed at
    # 50 digits (mpmath second differences of D from the raw arrays)
    from opdcheck.paper_checks.checks.dual_function import broken_hessian_no_beta, judge

    r = judge(CheckContext(out_dir=tmp_path), [random_instance(3, 4, 2, 0.1, seed=0)], derivatives=broken_hessian_no_beta)
    assert r.verdict == Verdict.REFUTED, r.summary
    w = r.findings[0].witness
    assert w["replayed"] and w["confirms"] and w["agrees"] and w["formula_rel_err_vs_mpmath"] > 0.5
    assert r.counterexample and (tmp_path / r.counterexample).exists()


def test_lemma_b5_quick(tmp_path):
    out, _ = quick_results()
    r = quick_result("lemma-B.5")  # the session's quick run
    # measured: the bound holds everywhere (largest ratio ~0.14) but "lam* > 0" fails on the instance
    # with an inactive constraint -> REFUTED as stated, counterexample saved and reloadable; the proofs use
    # only lam* >= 0, so the register reads it as a misstatement and the check is INCONSISTENT (result.py)
    assert r.computed["bound_holds_everywhere"]
    assert r.computed["max_ratio"] < 1
    pos = next(f for f in r.findings if f.name == "lam* > 0 (Lemma B.5)")
    assert pos.verdict == Verdict.REFUTED and (pos.statement, pos.severity) == ("lemma-B.5-positivity", "misstatement")
    assert r.verdict == Verdict.INCONSISTENT
    assert r.counterexample and (out / r.counterexample).exists()
    inst = load_problem(out / r.counterexample)
    rr = get_check("lemma-B.5").run(CheckContext(out_dir=tmp_path / "again", instance=inst))
    assert rr.verdict == Verdict.INCONSISTENT and rr.computed["instances_with_zero_multiplier"]


def test_lemma_b5_confirmed_on_all_active_instance(tmp_path):
    r = get_check("lemma-B.5").run(CheckContext(out_dir=tmp_path, instance=paper_toy()))
    assert r.verdict == Verdict.CONFIRMED and not r.summary.startswith("Weight")


def test_lemma_b5_negative_control_false_bound():
    from opdcheck.paper_checks.checks.lemma_b5 import false_bound, judge_lemma_b5

    for p in (paper_toy(), random_instance(3, 4, 2, 0.1, seed=0)):
        assert judge_lemma_b5(p)["bound_holds"]
        assert not judge_lemma_b5(p, bound=false_bound)["bound_holds"]
