"""A saddle point is returned only when it satisfies its own certificate (numerics/kkt.py,
``require_own_certificate``, applied by ``solve_saddle`` to every route)."""
import numpy as np
import pytest

from opdcheck.cli import EXIT_INPUT, EXIT_OK, main
from opdcheck.instances import paper_toy, random_instance, save_problem
from opdcheck.numerics.kkt import require_own_certificate, scaled_residuals
from opdcheck.numerics.saddle import solve_saddle
from opdcheck.numerics.types import SolverError
from opdcheck.problem import Problem


def _toy(beta=None, scale=1.0, name="toy-variant"):
    p = paper_toy()
    return Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft * scale, w=p.w, R_hard=p.R_hard * scale,
                   beta=p.beta if beta is None else beta, name=name)


@pytest.mark.parametrize("beta,scale", [(1e-16, 1.0), (1e-15, 1.0), (1e-300, 1.0), (0.05, 1e200), (0.05, 1e180)])
def test_a_point_that_fails_its_own_certificate_is_not_converged(beta, scale):
    # negative control: the old answer (lam* = 0, constraint value -0.7) was reported as "converged"
    with pytest.raises(SolverError, match="fails its own certificate"):
        solve_saddle(_toy(beta, scale))


@pytest.mark.parametrize("beta,scale", [(0.05, 1.0), (1e-6, 1.0), (0.05, 1e100), (0.05, 1e-100), (50.0, 1.0)])
def test_a_true_saddle_point_passes_it(beta, scale):
    # positive control: lam* = 1 on the toy at every scale (beta scaled with the rewards where needed)
    sp = solve_saddle(_toy(beta * scale if scale != 1.0 else beta, scale))
    assert sp.info["own_certificate"]["primal_feasibility"] <= 1e-6
    if beta == 0.05:
        assert sp.lam[0] == pytest.approx(1.0, rel=1e-8)


def test_the_residuals_catch_a_planted_infeasible_point():
    p = paper_toy()
    assert scaled_residuals(p, [[0.3, 0.7]], [1.0])["primal_feasibility"] == pytest.approx(0, abs=1e-15)
    with pytest.raises(SolverError, match="primal_feasibility"):
        require_own_certificate(p, [[1.0, 0.0]], [0.0], "planted")
    with pytest.raises(SolverError, match="complementarity"):
        require_own_certificate(p, [[0.0, 1.0]], [5.0], "planted")  # feasible but slack with lam > 0


def test_lp_route_at_beta_zero_still_certified():
    sp = solve_saddle(random_instance(3, 4, 2, 0.0, seed=1))
    assert sp.info["own_certificate"]["primal_feasibility"] <= 1e-6


@pytest.mark.parametrize("beta,scale", [(1e-16, 1.0), (0.05, 1e200)])
def test_solve_command_says_what_precision_was_reached(tmp_path, capsys, beta, scale):
    f = save_problem(_toy(beta, scale), tmp_path / "t.npz")
    assert main(["solve", str(f)]) == EXIT_INPUT
    cap = capsys.readouterr()
    assert "status: converged" not in cap.out
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "fails its own certificate" in err[0] and "Traceback" not in cap.err
    assert main(["solve", str(f), "--method", "lp"]) == EXIT_OK  # the fix the message names works
    assert np.all(np.isfinite(paper_toy().R_hard))


def test_an_undecided_eq3_finding_reads_no_missing_numbers():
    # eq3-best-response on a large instance where every reference solve failed: the cases hold no value_gap
    from opdcheck.paper_checks.checks.eq3_best_response import _finding
    from opdcheck.paper_checks.result import Verdict

    cases = [{"instance": "big", "lam": "0", "foc_ok": True, "value_ok": None, "distance_ok": None}]
    f = _finding("value vs an independent feasible point", "claim", cases, "value_ok", "gap >= 0",
                 lambda cs: f"min {min(c['value_gap'] for c in cs):.1e}" if cs else "-")
    assert f.verdict == Verdict.INCONCLUSIVE and "no case could be decided" in f.sentence


def test_complementarity_is_the_size_of_lam_c_whatever_its_sign():
    """On the toy (R_hard = (-7/10, 3/10), lam* = 1): an infeasible point with lam > 0 has lam c < 0, and the
    complementarity residual is |lam c| in both residual sets (a residual without the absolute value reads 0)."""
    from opdcheck.numerics.kkt import kkt_residuals

    p = paper_toy()
    pi, lam = [[1.0, 0.0]], [2.0]  # c = -0.7: infeasible, lam c = -1.4
    assert kkt_residuals(p, pi, lam)["complementarity"] == pytest.approx(1.4, rel=1e-12)
    assert scaled_residuals(p, pi, lam)["complementarity"] == pytest.approx(1.4 / float(p.R_max), rel=1e-12)
