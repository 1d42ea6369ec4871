"""opdcheck certify: certified local rates on files, clear errors where the linearization does not apply."""
import math

import numpy as np
import pytest

from opdcheck import certify
from opdcheck.cli import main
from opdcheck.instances import paper_toy, random_instance, save_problem
from opdcheck.problem import Problem


def test_toy_at_beta_1_matches_the_known_rate():
    r = certify.certify_instance(paper_toy(1.0), T=2000)
    assert 0.9244350 <= float(r["error_rate_lo"]) <= float(r["error_rate_hi"]) <= 0.9244351  # 0.92443 > 50/63 (issue)
    assert r["rho46"] == pytest.approx(50 / 63)
    assert r["full_jacobian"]["agrees"]
    assert r["corrected"]["radius"] == pytest.approx(float(r["radius_hi"]), abs=1e-9)
    assert abs(r["measured"]["error_rate"] - float(r["error_rate_hi"])) < 1e-4  # tol: tail fit on ~200 steps
    # the printed radius is the radius (not the error rate), and agrees with the certificate
    assert abs(r["measured"]["radius"] - float(r["radius_hi"])) < 1e-4 and r["measured"]["radius_agrees"]
    assert "inside the certified enclosure" in certify.format_instance_report(r)


def test_unstable_instance_reports_radius_above_one():
    # simultaneous GDA with c > a (c = 0.1, a = 0.048): certified unstable (issue's negative control)
    r = certify.certify_instance(paper_toy(0.05), method="simultaneous-gda", eta_th=1.0, eta_lam=1.0, T=300)
    assert r["unstable"] and float(r["radius_lo"]) > 1
    assert "UNSTABLE" in certify.format_instance_report(r)


def test_fifty_pairs_and_multiple_constraints():
    p = random_instance(5, 10, 2, 0.5, 3)
    r = certify.certify_instance(p, measure=False)
    assert r["pairs"] == 50 and r["stable"]
    assert abs(r["corrected"]["radius"] - r["radius_lo"]) < 1e-8


def test_beta_zero_is_a_clear_error():
    with pytest.raises(ValueError, match="beta > 0"):
        certify.certify_instance(paper_toy(0.05).with_beta(0.0))


def test_degenerate_active_set_is_a_clear_error():
    # unconstrained optimum pi_ref has c(pi_ref) = 0 exactly: lam* = 0 and c* = 0
    p = Problem(rho=[1.0], pi_ref=[[0.3, 0.7]], R_soft=[[[0.0, 0.0]]], w=[1.0], R_hard=[[[-0.7, 0.3]]], beta=0.5)
    with pytest.raises(ValueError, match="degenerate"):
        certify.certify_instance(p)


def test_non_unique_multiplier_is_a_clear_error():
    t = paper_toy(0.5)
    p = Problem(rho=t.rho, pi_ref=t.pi_ref, R_soft=t.R_soft, w=t.w, R_hard=np.concatenate([t.R_hard, t.R_hard]),
                beta=t.beta)
    with pytest.raises(ValueError, match="not unique|degenerate"):
        certify.certify_instance(p)


def test_bad_method_and_steps():
    with pytest.raises(ValueError, match="--method"):
        certify.certify_instance(paper_toy(1.0), method="adam")
    with pytest.raises(ValueError, match="--eta-th"):
        certify.certify_instance(paper_toy(1.0), eta_th=-1.0)


def test_bilinear_small_matches_closed_form():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(6, 6))
    A /= np.linalg.norm(A, 2)
    r = certify.certify_bilinear(A, 0.125, T=2000)
    c = (0.125 * np.linalg.svd(A, compute_uv=False)[-1]) ** 2
    closed = math.sqrt((1 + math.sqrt(1 - 4 * c)) / 2)
    assert float(r["radius_lo"]) - 1e-9 <= closed <= float(r["radius_hi"]) + 1e-9  # float SVD vs exact rounding
    with pytest.raises(ValueError, match="step"):
        certify.certify_bilinear(A, 5.0)
    with pytest.raises(ValueError, match="singular"):
        certify.certify_bilinear(np.zeros((3, 3)) + np.eye(3) * [1, 1, 0], 0.125)


@pytest.mark.slow
def test_bilinear_wei_32x32_within_1e5_of_one():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(32, 32))
    A /= np.linalg.norm(A, 2)
    r = certify.certify_bilinear(A, 0.125)
    assert 0 < 1 - float(r["radius_hi"]) and 1 - float(r["radius_lo"]) < 1e-5


def test_cli(tmp_path, capsys):
    f = tmp_path / "toy.npz"
    save_problem(paper_toy(1.0), f)
    assert main(["certify", str(f), "--T", "0"]) == 0
    out = capsys.readouterr().out
    assert "certified spectral radius" in out and "rho of eq. (46)" in out
    f0 = tmp_path / "b0.npz"
    save_problem(paper_toy(0.05).with_beta(0.0), f0)
    assert main(["certify", str(f0)]) == 3
    assert "beta > 0" in capsys.readouterr().err
    a = tmp_path / "A.npy"
    rng = np.random.default_rng(2)
    A = rng.normal(size=(4, 4))
    np.save(a, A / np.linalg.norm(A, 2))
    assert main(["certify", "--bilinear", str(a), "--step", "0.125"]) == 0
    assert "certified radius" in capsys.readouterr().out
    assert main(["certify"]) == 3
