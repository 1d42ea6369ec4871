"""Problem validation: every error names its field; immutability; derived quantities."""
import dataclasses

import numpy as np
import pytest

from opdcheck.problem import Problem


def _base(**over):
    kw = dict(rho=[0.4, 0.6], pi_ref=[[0.3, 0.7], [0.5, 0.5]], R_soft=[[[1.0, 0.0], [0.5, -0.5]]], w=[1.0],
              R_hard=[[[-0.7, 0.3], [0.2, -0.1]]], beta=0.05, name="t")
    kw.update(over)
    return kw


def test_valid_and_derived():
    p = Problem(**_base())
    assert (p.X, p.n, p.h) == (2, 2, 1)
    assert p.R_max == 1.0
    assert p.p_min == 0.3
    np.testing.assert_allclose(p.r, [[1.0, 0.0], [0.5, -0.5]])
    np.testing.assert_allclose(p.log_pi_ref, np.log(p.pi_ref))
    # R_max covers hard rewards too
    assert Problem(**_base(R_hard=[[[-3.0, 0.3], [0.2, -0.1]]])).R_max == 3.0
    # 2-D reward tables are read as a stack of one
    q = Problem(**_base(R_soft=[[1.0, 0.0], [0.5, -0.5]], R_hard=[[-0.7, 0.3], [0.2, -0.1]]))
    assert q.R_soft.shape == (1, 2, 2) and q.h == 1


@pytest.mark.parametrize("field,value", [
    ("rho", [[0.4, 0.6]]),                      # wrong ndim
    ("rho", [0.2, 0.3, 0.5]),                   # X mismatch
    ("pi_ref", [0.3, 0.7]),                     # wrong ndim
    ("pi_ref", [[1.0], [1.0]]),                 # n < 2
    ("R_soft", np.ones((1, 3, 2))),             # X mismatch
    ("R_soft", np.ones((1, 2, 2, 2))),          # wrong ndim
    ("R_hard", np.ones((1, 2, 3))),             # n mismatch
    ("R_hard", np.ones((0, 2, 2))),             # h = 0
    ("w", [0.5, 0.5]),                          # K mismatch
    ("w", [[1.0]]),                             # wrong ndim
])
def test_shape_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"Problem.{field}"):
        Problem(**_base(**{field: value}))


@pytest.mark.parametrize("field,value", [
    ("rho", [np.nan, 0.6]),
    ("pi_ref", [[0.3, np.inf], [0.5, 0.5]]),
    ("R_soft", [[[1.0, np.nan], [0.5, -0.5]]]),
    ("R_hard", [[[-np.inf, 0.3], [0.2, -0.1]]]),
    ("w", [np.nan]),
])
def test_non_finite_errors(field, value):
    with pytest.raises(ValueError, match=rf"Problem\.{field}: non-finite"):
        Problem(**_base(**{field: value}))


def test_not_numeric():
    with pytest.raises(ValueError, match="Problem.rho: cannot be read"):
        Problem(**_base(rho=["a", "b"]))


def test_pi_ref_rows_and_support():
    with pytest.raises(ValueError, match=r"Problem\.pi_ref: row 1 sums to"):
        Problem(**_base(pi_ref=[[0.3, 0.7], [0.5, 0.6]]))
    with pytest.raises(ValueError, match=r"Problem\.pi_ref: entry \(0, 0\).*full\s+support"):
        Problem(**_base(pi_ref=[[0.0, 1.0], [0.5, 0.5]]))


def test_simplex_weights():
    with pytest.raises(ValueError, match=r"Problem\.rho: entry \(0,\) is -0\.4"):
        Problem(**_base(rho=[-0.4, 1.4]))
    with pytest.raises(ValueError, match=r"Problem\.rho: entries sum to"):
        Problem(**_base(rho=[0.4, 0.7]))
    with pytest.raises(ValueError, match=r"Problem\.rho: entry \(0,\) is 0\.0"):
        Problem(**_base(rho=[0.0, 1.0]))  # rho must be > 0
    with pytest.raises(ValueError, match=r"Problem\.w: entry"):
        Problem(**_base(R_soft=np.ones((2, 2, 2)), w=[-0.5, 1.5]))
    with pytest.raises(ValueError, match=r"Problem\.w: entries sum to"):
        Problem(**_base(R_soft=np.ones((2, 2, 2)), w=[0.5, 0.6]))
    Problem(**_base(R_soft=np.ones((2, 2, 2)), w=[0.0, 1.0]))  # w may have zeros


@pytest.mark.parametrize("beta", [-0.1, float("nan"), float("inf"), "abc"])
def test_beta_errors(beta):
    with pytest.raises(ValueError, match="Problem.beta"):
        Problem(**_base(beta=beta))


def test_beta_zero_allowed():
    assert Problem(**_base(beta=0.0)).beta == 0.0


def test_name_must_be_string():
    with pytest.raises(ValueError, match="Problem.name"):
        Problem(**_base(name=3))


def test_immutability():
    p = Problem(**_base())
    for f in ("rho", "pi_ref", "R_soft", "w", "R_hard", "r", "log_pi_ref"):
        arr = getattr(p, f)
        assert not arr.flags.writeable, f
        with pytest.raises(ValueError):
            arr[(0,) * arr.ndim] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.beta = 1.0  # type: ignore[misc]
    # the caller's array is copied: mutating it does not change the problem
    rho = np.array([0.4, 0.6])
    q = Problem(**_base(rho=rho))
    rho[0] = 0.9
    assert q.rho[0] == 0.4


def test_functions_and_hash_by_identity():
    p = Problem(**_base())
    pi = np.array(p.pi_ref)
    assert p.constraint_values(pi).shape == (1,)
    assert p.lagrangian(pi, [0.0]) == pytest.approx(float(np.einsum("x,xn,xn->", p.rho, pi, p.r)))
    np.testing.assert_allclose(p.scores([2.0]), p.r + 2.0 * p.R_hard[0])
    q = p.with_beta(0.5)
    assert q.beta == 0.5 and q is not p
    assert hash(p) != hash(Problem(**_base())) or p is not Problem(**_base())
    assert p != Problem(**_base())  # eq=False: identity semantics


def test_policy_and_multiplier_shapes_are_checked_not_broadcast():
    from opdcheck.instances import paper_toy

    p = paper_toy()
    with pytest.raises(ValueError, match=r"pi: shape \(2, 2\)"):
        p.constraint_values(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"lam: shape \(2,\)"):
        p.scores([1.0, 2.0])
