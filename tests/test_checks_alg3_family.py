"""The five Algorithm 3 checks: verdicts, witnesses, controls (negative controls as tests)."""
import pytest

from opdcheck.paper_checks.checks import alg_3_npg, cor_3_10_counterexample, lemmas_b9_b12, remark_3_5
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import Verdict
from opdcheck.kernels.alg3 import NaturalGradientStep, StaleAnchorStep
from quick_profile_run import quick_result

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


@pytest.fixture
def ctx(tmp_path):
    return CheckContext(out_dir=tmp_path)


def test_counterexample_refuted_with_replayed_witness():
    r = quick_result("cor-3.10-counterexample")  # the session's quick run (tests/quick_profile_run.py)
    assert r.verdict == Verdict.REFUTED and not r.downgrades
    bound = [f for f in r.findings if f.name == "bound along the run"][0]
    w = bound.witness
    assert w["replayed"] and w["confirms"] and w["agrees"]
    assert abs(r.computed["error_T"] - 0.0281675575952835) <= 1e-12 and r.computed["theta_T"] == 0.0
    assert r.computed["eps_approx"] == 0.0
    assert all(f.verdict == Verdict.CONFIRMED for f in r.findings if f.name.startswith("hypothesis"))
    assert all(c.passed for c in r.controls)


def test_negative_control_counterexample_from_theta_one_not_refuted(ctx):
    r = cor_3_10_counterexample.evaluate(ctx, theta0=1.0, T=50)
    assert r.verdict != Verdict.REFUTED
    assert r.computed["error_T"] <= 1e-20


def test_remark_35_inconsistent_as_printed_confirmed_aligned():
    r = quick_result("remark-3.5")
    assert r.verdict == Verdict.INCONSISTENT
    assert r.findings[0].verdict == Verdict.CONFIRMED and r.computed["aligned"] <= 1e-10
    assert all(c.passed for c in r.controls)


def test_negative_control_unweighted_fisher_breaks_remark_35(ctx):
    r = remark_3_5.evaluate(ctx, fisher="unweighted")
    assert r.findings[0].verdict in (Verdict.REFUTED, Verdict.INCONCLUSIVE)
    assert r.computed["aligned"] > 1e-3


def test_fisher_projection_fixed_point_is_kkt_and_euclidean_is_not():
    """The two readings of Proj_Theta on the active box: the Fisher-metric run ends at a KKT point, the Euclidean run
    (negative control of the reading) does not. Both runs are alg-3-npg's own (``convergence_case`` on the box), read
    from the session's quick run (tests/quick_profile_run.py)."""
    box = {e["projection"]: e for e in quick_result("alg-3-npg").evidence if e.get("label") == "active box [-1, 1]"}
    fi, eu = box["fisher"], box["euclidean"]
    assert fi["limit_kkt"] <= 1e-9 and eu["limit_kkt"] > 1e-6


def test_negative_control_stale_anchor_caught_by_alg3_npg():
    assert alg_3_npg.anchoring_test(NaturalGradientStep, T=30)["ok"]
    assert not alg_3_npg.anchoring_test(StaleAnchorStep, T=30)["ok"]


def test_lemmas_b9_b12():
    r = quick_result("lemmas-B.9-B.12")
    assert r.verdict == Verdict.REFUTED and not r.downgrades
    names = {f.name: f.verdict for f in r.findings}
    assert names["Lemma B.9 (Euclidean prox three-point)"] == Verdict.CONFIRMED
    assert names["Lemma B.10 (KL three-point)"] == Verdict.CONFIRMED
    assert names["Lemma B.9 with the KL Bregman divergence"] == Verdict.CONFIRMED
    assert sum(v == Verdict.REFUTED for v in names.values()) == 4
    by = {f.name: f for f in r.findings}
    c = [f for n, f in by.items() if n.startswith("Lemma B.11 (c)")][0]
    assert c.verdict == Verdict.INCONSISTENT and c.statement == "lemma-B.11-c"
    a = [f for n, f in by.items() if n.startswith("Lemma B.11 (a)")][0]
    assert a.severity == "misstatement" and "not used there" in a.sentence
    assert by["Lemma B.11's update omits Proj_Theta"].verdict == Verdict.INCONSISTENT
    assert by["Pi_Theta called convex"].verdict == Verdict.INCONSISTENT
    assert all(ctl.passed for ctl in r.controls)


def test_negative_control_b9_false_slack_caught(ctx):
    r = lemmas_b9_b12.evaluate(ctx, b9_slack=-1.0)
    assert r.findings[0].verdict != Verdict.CONFIRMED


def test_alg3_npg_full_check():
    r = quick_result("alg-3-npg")
    v = {f.name: f.verdict for f in r.findings}
    assert v["converges: inactive projection (l2 ball r = 40)"] == Verdict.CONFIRMED
    # literal reading (Euclidean Proj_Theta): a fixed point that is not a saddle point, replayed
    assert v["converges: active l2 ball r = 2"] == Verdict.REFUTED
    assert v["converges: active box [-1, 1]"] == Verdict.REFUTED
    # charitable reading (Proj_Theta in the metric of F): the same runs end at KKT points, and decide the verdict
    assert v["converges: active l2 ball r = 2, Proj_Theta in the metric of F"] == Verdict.CONFIRMED
    assert v["converges: active box [-1, 1], Proj_Theta in the metric of F"] == Verdict.CONFIRMED
    lit = [f for f in r.findings if f.reading.startswith("literal (Euclidean")]
    assert lit and all(f.statement == "sec321-projection" for f in lit)
    assert r.verdict == Verdict.CONFIRMED and not r.downgrades and r.summary.startswith("Proj_Theta is taken as Euclidean")


def test_cor_310_sweep():
    r = quick_result("cor-3.10")
    assert r.verdict == Verdict.CONFIRMED
    assert 1.8 <= r.computed["exponents"]["l1-perturbation"] <= 2.2
    assert r.computed["eps_vs_N"] < 0
    # negative control: a far too small gap is violated
    assert all(c.passed for c in r.controls)
