"""Instances: file round trips and errors; random_instance properties (checked by LP / dual Newton)."""
import json
import re

import numpy as np
import pytest

from opdcheck.instances import (
    cor310_counterexample,
    load_problem,
    paper_toy,
    random_instance,
    save_problem,
)
from opdcheck.numerics import slater_margin, solve_saddle


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_round_trip(tmp_path, suffix):
    p = random_instance(4, 3, 2, 0.1, seed=7)
    path = save_problem(p, tmp_path / f"inst{suffix}")
    q = load_problem(path)
    for f in ("rho", "pi_ref", "R_soft", "w", "R_hard"):
        np.testing.assert_array_equal(getattr(p, f), getattr(q, f))
    assert q.beta == p.beta and q.name == p.name


def test_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_problem(tmp_path / "nope.npz")
    bad = tmp_path / "x.txt"
    bad.write_text("hi")
    with pytest.raises(ValueError, match="suffix"):
        load_problem(bad)
    with pytest.raises(ValueError, match="suffix"):
        save_problem(paper_toy(), tmp_path / "x.csv")
    # missing key
    p = paper_toy()
    d = {k: np.asarray(getattr(p, k)).tolist() for k in ("rho", "pi_ref", "R_soft", "w", "R_hard")}
    (tmp_path / "m.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"missing field\(s\) \['beta'\]"):
        load_problem(tmp_path / "m.json")
    np.savez(tmp_path / "m.npz", **{k: np.asarray(v) for k, v in d.items() if k != "rho"}, beta=0.1)
    with pytest.raises(ValueError, match="rho"):
        load_problem(tmp_path / "m.npz")
    # pickle-only content is refused (object array)
    np.savez(tmp_path / "pk.npz", rho=np.array([{"a": 1}], dtype=object), pi_ref=p.pi_ref, R_soft=p.R_soft,
             w=p.w, R_hard=p.R_hard, beta=0.1)
    with pytest.raises(ValueError, match="pickle"):
        load_problem(tmp_path / "pk.npz")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_problem(tmp_path / "bad.json")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    # numpy reads non-zip bytes as a pickle stream, so junk is reported as "cannot be read without pickle"
    with pytest.raises(ValueError, match="junk.npz: (not a valid .npz|cannot be read without pickle)"):
        load_problem(tmp_path / "junk.npz")
    # a field error inside a file names the field
    d2 = dict(d, beta=0.1, rho=[0.5])
    (tmp_path / "f.json").write_text(json.dumps(d2))
    with pytest.raises(ValueError, match="Problem.rho"):
        load_problem(tmp_path / "f.json")


def test_named_instances():
    t = paper_toy()
    assert (t.X, t.n, t.h, t.beta) == (1, 2, 1, 0.05)
    c = cor310_counterexample()
    assert c.pi_ref[0, 0] == 0.2 and c.meta["eta"] == 3.0


def test_random_instance_seeded_determinism():
    a = random_instance(5, 4, 3, 0.1, seed=11)
    b = random_instance(5, 4, 3, 0.1, seed=11)
    c = random_instance(5, 4, 3, 0.1, seed=12)
    for f in ("rho", "pi_ref", "R_soft", "w", "R_hard"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.R_hard, c.R_hard)


@pytest.mark.parametrize("X,n,h,beta,seed", [(1, 2, 1, 0.05, 0), (4, 5, 3, 0.1, 1), (10, 6, 8, 0.01, 2),
                                             (20, 3, 2, 1.0, 3), (3, 8, 4, 0.001, 4)])
def test_random_instance_slater_and_active(X, n, h, beta, seed):
    p = random_instance(X, n, h, beta, seed)
    assert slater_margin(p) > 0
    assert np.any(solve_saddle(p).lam > 0)


@pytest.mark.parametrize("seed", range(6))
def test_inactive_constraint_has_zero_multiplier(seed):
    # regression: before the fix the "inactive" threshold was only below c(pi_0) and c(pi_s), so the
    # constraint could still bind at pi* (e.g. X=4, n=11, h=6); now it is below min_pi c_j(pi)
    p = random_instance(4, 6, 3, 0.05, seed, inactive=1)
    lam = solve_saddle(p).lam
    assert lam[-1] == 0.0  # exactly zero, not 1e-12
    assert np.any(lam > 0)
    q = random_instance(4, 11, 6, 0.0015243809568676774, seed, inactive=2)
    assert np.all(solve_saddle(q).lam[-2:] == 0.0)


def test_random_instance_argument_errors():
    with pytest.raises(ValueError, match="n = 1"):
        random_instance(2, 1, 1, 0.1, 0)
    with pytest.raises(ValueError, match="inactive"):
        random_instance(2, 3, 2, 0.1, 0, inactive=2)


@pytest.mark.parametrize("kwargs, field", [
    (dict(X=0), "X"), (dict(n=1), "n"), (dict(h=0), "h"), (dict(seed=-1), "seed"), (dict(beta=-1.0), "beta"),
    (dict(beta=float("nan")), "beta"), (dict(h=1, inactive=1), "inactive"),
])
def test_random_instance_rejects_bad_arguments_by_name(kwargs, field):
    args = dict(X=2, n=3, h=2, beta=0.1, seed=0) | kwargs
    with pytest.raises(ValueError, match=field):
        random_instance(**args)


@pytest.mark.parametrize("field,value,shown", [
    ("beta", "0.05", '"0.05"'), ("beta", True, "true"), ("rho", [True], "true"),
    ("w", [None, 1.0], "null"), ("R_hard", [[["-0.7", 0.3]]], '"-0.7"'), ("beta", {"a": 1}, "an object"),
])
def test_json_entries_must_be_numbers(tmp_path, field, value, shown):
    """A string, boolean, null or object where a number belongs is refused by field name, never converted
    (numpy would read "0.05" as 0.05 and true as 1.0)."""
    import json

    from opdcheck.instances import load_problem, paper_toy, save_problem
    path = tmp_path / "toy.json"
    save_problem(paper_toy(), path)
    raw = json.loads(path.read_text())
    raw[field] = value
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=rf"field {field} holds {re.escape(shown)}"):
        load_problem(path)
