"""Item 5 of the symbolic audit: the §3 bilinear example, with negative controls."""
import numpy as np
import pytest
import sympy as sp

from opdcheck.kernels.bilinear import random_full_rank, run_gda, run_optimistic
from opdcheck.paper_checks.checks import bilinear_gda as chk
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import Verdict
from opdcheck.theory import bilinear as bl
from quick_profile_run import quick_result, quick_results

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")

BETA = sp.Symbol("beta", positive=True)
DAMPED = sp.Matrix([[1 - bl.ALPHA * BETA, bl.ALPHA * bl.SIGMA], [-bl.ALPHA * bl.SIGMA, 1 - bl.ALPHA * BETA]])


def test_gda_eigenvalues_match_paper():
    j = bl.judge_gda_claim()
    assert j["verdict"] == "CONFIRMED" and j["match"] and j["all_outside_unit_circle"]
    assert all(sp.simplify(m - (1 + bl.ALPHA ** 2 * bl.SIGMA ** 2)) == 0 for m in j["moduli_squared"])


def test_gda_judge_negative_controls():
    assert bl.judge_gda_claim(DAMPED)["verdict"] == "REFUTED"
    wrong = [1 + sp.I * bl.ALPHA * bl.SIGMA / 2, 1 - sp.I * bl.ALPHA * bl.SIGMA / 2]
    assert not bl.judge_gda_claim(claimed=wrong)["match"]


def test_popov_charpoly_and_condition():
    cp = bl.popov_charpoly()
    assert cp["factorisation_residual"] == 0
    st = bl.popov_stability_condition()
    assert st["stable_s"] == sp.Interval.open(0, 1 / sp.sqrt(3))
    assert st["radius_at_boundary_sq"] == 1
    rad2 = bl.popov_radius_squared()
    assert sp.simplify(rad2.subs(bl.S, sp.Rational(1, 2)) - sp.Rational(1, 2)) == 0


def test_popov_radius_matches_numeric_eigenvalues():
    rad2 = bl.popov_radius_squared()
    # s = 1/2 is a double (defective) root, where numerical eigenvalues are only sqrt(eps) accurate: skip it
    for s in (0.1, 0.4, 0.49, 0.55, 0.7):
        M = np.array(bl.popov_block(sp.Float(s), sp.Integer(1)).evalf(), dtype=float)
        assert abs(np.abs(np.linalg.eigvals(M)).max() - np.sqrt(float(rad2.subs(bl.S, s)))) < 1e-9


def test_simulation_agrees_with_exact_condition():
    rng = np.random.default_rng(3)
    A = random_full_rank(4, rng)
    smax = np.linalg.svd(A, compute_uv=False).max()
    x0, y0 = rng.normal(size=4), rng.normal(size=4)
    assert run_gda(A, x0, y0, 0.3 / smax, 300)[-1] > 10
    assert run_optimistic(A, x0, y0, 0.3 / smax, 300)[-1] < 0.1
    # beyond 1/sqrt(3) the optimistic method diverges too
    assert run_optimistic(A, x0, y0, 0.7 / smax, 300)[-1] > 10


def test_kernel_bad_input():
    A = np.eye(2)
    with pytest.raises(ValueError, match="alpha"):
        run_gda(A, np.ones(2), np.ones(2), -1.0, 3)
    with pytest.raises(ValueError, match="shapes"):
        run_optimistic(A, np.ones(3), np.ones(2), 0.1, 3)


def test_check_confirms_and_flips(tmp_path):
    ctx = CheckContext(out_dir=tmp_path)
    r = quick_result(chk.ID)  # the session's quick run (tests/quick_profile_run.py): the same run with the same context
    assert r.verdict is Verdict.CONFIRMED
    assert (quick_results()[0] / r.figures[0]).exists()  # the figure is in the session run's report folder
    assert chk.evaluate(ctx, block=DAMPED).verdict is Verdict.REFUTED
