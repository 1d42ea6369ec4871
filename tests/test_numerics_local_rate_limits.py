"""certify and certify --bilinear: wrong certificates, hangs and tracebacks of the reliability issue."""
from fractions import Fraction

import numpy as np
import pytest

from opdcheck.cli import EXIT_INPUT, EXIT_OK, main
from opdcheck.instances import random_instance, save_problem
from opdcheck.numerics import local_rate
from opdcheck.numerics.local_rate import (
    _positive_definite,
    _shifted,
    certify_bilinear,
    certify_instance,
)
from opdcheck.problem import Problem


@pytest.mark.parametrize("shape", [(2, 1), (1, 2), (3, 2), (5, 3), (2, 4)])
def test_a_non_square_A_has_a_neutral_mode_and_is_not_certified(shape):
    # negative control: a 2x1 A used to be certified r < 1 while OGDA's own run had rate 1.000000000000
    A = np.random.default_rng(0).normal(size=shape)
    with pytest.raises(ValueError, match="continuum of equilibria"):
        certify_bilinear(A / np.linalg.norm(A, 2), 0.25)


def test_the_neutral_mode_is_real():
    # the reason: OGDA on a tall A keeps the component of x in the nullspace of A^T forever
    from opdcheck.kernels.bilinear import run_optimistic

    A = np.array([[1.0], [1.0]]) / np.sqrt(2)
    z = run_optimistic(A, np.array([1.0, -1.0]), np.array([0.0]), 0.25, 2000)
    assert z[-1] == pytest.approx(z[0], rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_a_square_nonsingular_A_is_certified_below_one(k):
    # positive control: r < 1, and the radius formula sqrt((1 + sqrt(1 - 4c))/2) at c = eta^2 sigma_min^2
    A = np.eye(k) if k == 1 else np.random.default_rng(k).normal(size=(k, k))
    r = certify_bilinear(A, 0.25 / max(1.0, np.linalg.norm(A, 2)), T=2000)
    c = (r["step"] * r["sigma_min"]) ** 2
    exact = np.sqrt((1 + np.sqrt(1 - 4 * c)) / 2)
    assert float(r["radius_lo"]) <= exact + 1e-9 and exact - 1e-9 <= float(r["radius_hi"]) < 1


def test_scaling_A_and_the_step_together_changes_nothing():
    A = np.random.default_rng(3).normal(size=(3, 3))
    a = certify_bilinear(A, 0.1, T=1000)
    b = certify_bilinear(A * 1e40, 0.1e-40, T=1000)
    assert abs(float(a["radius_hi"]) - float(b["radius_hi"])) < 1e-10


@pytest.mark.parametrize("A,step,match", [
    (np.eye(2) + 0j, 0.125, "complex"),
    (np.eye(2) * 1e300, 0.125, "outside"),
    (np.eye(2), 4e-13, "below 1e-6"),
    (np.eye(2), 0.0, "step"),
    (np.eye(2), float("nan"), "step"),
    (np.zeros((2, 2)), 0.125, "zero"),
    (np.array([[1.0, 1.0], [1.0, 1.0]]), 0.125, "singular"),
    (np.eye(2), 1.0, "sigma_max"),
    (np.array([1.0, 2.0]), 0.125, "2-d"),
])
def test_bad_bilinear_input_is_one_valueerror(A, step, match):
    with pytest.raises(ValueError, match=match):
        certify_bilinear(A, step)


def test_a_large_A_is_refused_before_any_work_and_the_limit_can_be_raised():
    A = np.eye(200)
    with pytest.raises(ValueError, match="--max-dim"):  # refused from the shape (the former code ran > 300 s)
        certify_bilinear(A, 0.25)
    r = certify_bilinear(np.eye(3) * 0.5, 0.25, max_dim=3, T=500)
    assert float(r["radius_hi"]) < 1


def test_the_integer_elimination_agrees_with_exact_rationals():
    rng = np.random.default_rng(5)
    for _ in range(20):
        B = rng.integers(-5, 6, size=(4, 4))
        G = (B.T @ B).tolist()
        ev = np.linalg.eigvalsh(np.array(G, dtype=float))
        for s in (Fraction(0), Fraction(int(ev[0] * 1000) - 1, 1000), Fraction(int(ev[0] * 1000) + 1, 1000)):
            expected = all(np.linalg.eigvalsh(np.array(G, float) - float(s) * np.eye(4)) > 1e-9)
            if abs(float(s) - ev[0]) > 1e-6:
                assert _positive_definite(_shifted(G, 1, s)) == expected


def test_bilinear_cli_gives_one_line(tmp_path, capsys):
    for name, A in (("tall", np.ones((2, 1))), ("cplx", np.eye(2) + 1j), ("big", np.eye(200)), ("huge", np.eye(2) * 1e300)):
        f = tmp_path / f"{name}.npy"
        np.save(f, A)
        assert main(["certify", "--bilinear", str(f)]) == EXIT_INPUT, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("opdcheck: error:"), (name, err)
    f = tmp_path / "step.npy"
    np.save(f, np.eye(2))
    assert main(["certify", "--bilinear", str(f), "--step", "4e-13"]) == EXIT_INPUT
    assert main(["certify", "--bilinear", str(f), "--memory-limit", "1K"]) == EXIT_INPUT
    assert "memory limit" in capsys.readouterr().err
    assert main(["certify", "--bilinear", str(f)]) == EXIT_OK


def _duplicated(copies: int) -> Problem:
    p = random_instance(2, 4, 1, 0.1, 0)
    return Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft, w=p.w, R_hard=np.repeat(p.R_hard, copies, axis=0),
                   beta=p.beta, name=f"dup{copies}")


@pytest.mark.parametrize("copies", [2, 40])
def test_duplicated_constraints_are_refused_before_exact_arithmetic(copies, monkeypatch):
    def no_exact(*a, **k):
        raise AssertionError("exact determinant reached")

    monkeypatch.setattr(local_rate, "certify_modes", no_exact)
    with pytest.raises(ValueError, match="not unique"):
        certify_instance(_duplicated(copies), measure=False)


def test_certify_takes_a_memory_limit_and_catches_solver_errors(tmp_path, capsys):
    f = save_problem(random_instance(1, 2000, 1, 0.1, 0), tmp_path / "wide.npz")
    assert main(["certify", str(f), "--T", "0", "--memory-limit", "1M"]) == EXIT_INPUT
    assert "over the memory limit" in capsys.readouterr().err
    p = random_instance(1, 2, 1, 0.1, 0)
    g = save_problem(Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft, w=p.w, R_hard=p.R_hard, beta=1e-300,
                             name="tiny-beta"), tmp_path / "tiny.npz")
    assert main(["certify", str(g), "--T", "0"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_certify_a_random_instance_still_works():
    r = certify_instance(random_instance(2, 3, 1, 0.2, 1), measure=False)
    assert r["stable"] and float(r["radius_hi"]) < 1
