"""Fuzz tests (hypothesis, derandomized) of the command line's solve and certify and of the Python API's
entry points: whatever the input, a valid answer or one error line naming the problem (exit 3), a
ValueError/SolverError from the API, never a traceback, a NaN answer or a hang."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opdcheck.cli import EXIT_INPUT, EXIT_OK, main
from opdcheck.numerics.types import SolverError

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

finite = st.floats(-1e3, 1e3, allow_nan=False)
wild = st.one_of(finite, st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e300, 1e-16, 5e-324]),
                 st.floats(allow_nan=True, allow_infinity=True))
betas = st.one_of(st.sampled_from([0.0, 1e-300, 1e-16, 1e-9, 0.05, 1.0, 1e7, 1e300, -1.0]), st.floats(0, 10))


@st.composite
def instance_dicts(draw):
    X, n, h, K = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([1.0, 1e-200, 1e200, 1e-8, 1e8]))
    pi = rng.dirichlet(np.ones(n), size=X)
    d = {"rho": rng.dirichlet(np.ones(X)).tolist(), "pi_ref": pi.tolist(),
         "R_soft": (scale * rng.uniform(-1, 1, size=(K, X, n))).tolist(), "w": rng.dirichlet(np.ones(K)).tolist(),
         "R_hard": (scale * rng.uniform(-1, 1, size=(h, X, n))).tolist(), "beta": draw(betas),
         "name": draw(st.text(max_size=30))}
    mutation = draw(st.sampled_from(["none", "none", "value", "drop", "ragged", "type", "dup"]))
    key = draw(st.sampled_from(["rho", "pi_ref", "R_soft", "w", "R_hard", "beta"]))
    if mutation == "value":
        d[key] = draw(wild) if key == "beta" else np.full(np.shape(d[key]), draw(wild)).tolist()
    elif mutation == "drop":
        del d[key]
    elif mutation == "ragged" and key != "beta" and isinstance(d[key], list) and d[key]:
        d[key] = [d[key][0], [d[key][0]]]
    elif mutation == "type":
        d[key] = draw(st.sampled_from(["x", None, True, {"a": 1}, []]))
    elif mutation == "dup":
        d["R_hard"] = d["R_hard"] * 3
    return d


def _write(tmp_path, d, suffix):
    if suffix == ".json":
        f = tmp_path / "inst.json"
        f.write_text(json.dumps(d, allow_nan=True))
        return f
    f = tmp_path / "inst.npz"
    arrays = {}
    for k, v in d.items():
        try:
            arrays[k] = np.asarray(v) if k != "name" else np.str_(v)
        except ValueError:
            arrays[k] = np.asarray(json.dumps(v))
        if arrays[k].dtype == object:
            arrays[k] = np.asarray(json.dumps(v))
    np.savez(f, **arrays)
    return f


def _one_line_or_ok(rc, capsys):
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Traceback" not in cap.out
    assert rc in (EXIT_OK, EXIT_INPUT), (rc, cap.err)
    if rc == EXIT_INPUT:
        lines = [ln for ln in cap.err.splitlines() if ln.strip() and "Warning" not in ln and "return " not in ln]
        assert len(lines) == 1 and lines[0].startswith("opdcheck: error:"), cap.err
    else:
        assert "nan" not in cap.out.split("lam* =")[-1].split("\n")[0].lower()
    return cap


@SETTINGS
@given(d=instance_dicts(), suffix=st.sampled_from([".json", ".npz"]))
def test_fuzz_solve(tmp_path, capsys, d, suffix):
    f = _write(tmp_path, d, suffix)
    cap = _one_line_or_ok(main(["solve", str(f)]), capsys)
    if "status: converged" in cap.out:  # a converged answer satisfies its own certificate
        from opdcheck.instances import load_problem
        from opdcheck.numerics.kkt import scaled_residuals
        from opdcheck.numerics.saddle import solve_saddle

        p = load_problem(f)
        sp = solve_saddle(p)
        assert max(scaled_residuals(p, sp.pi, sp.lam).values()) <= 1e-6


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(d=instance_dicts(), method=st.sampled_from(["opd", "simultaneous-gda"]))
def test_fuzz_certify(tmp_path, capsys, d, method):
    f = _write(tmp_path, d, ".json")
    _one_line_or_ok(main(["certify", str(f), "--T", "0", "--method", method]), capsys)


@SETTINGS
@given(rows=st.integers(0, 4), cols=st.integers(0, 4), fill=wild, step=wild,
       kind=st.sampled_from(["f8", "f4", "i8", "c16", "b1", "U3", "random"]))
def test_fuzz_certify_bilinear(tmp_path, capsys, rows, cols, fill, step, kind):
    rng = np.random.default_rng(rows * 7 + cols)
    A = rng.normal(size=(rows, cols)) if kind == "random" else np.full((rows, cols), fill)
    if kind not in ("random",):
        try:
            A = A.astype(kind)
        except (ValueError, OverflowError):
            pass
    f = tmp_path / "A.npy"
    np.save(f, A)
    _one_line_or_ok(main(["certify", "--bilinear", str(f), "--step", repr(step)]), capsys)


API_ERRORS = (ValueError, SolverError)


@SETTINGS
@given(X=st.one_of(st.integers(-2, 4), st.booleans(), st.floats(0, 3), st.none(), st.text(max_size=2)),
       n=st.one_of(st.integers(-1, 5), st.booleans()), h=st.one_of(st.integers(-1, 3), st.booleans()),
       beta=st.one_of(wild, st.text(max_size=2), st.none()), seed=st.one_of(st.integers(-3, 50), st.booleans()))
def test_fuzz_random_instance_and_solve(X, n, h, beta, seed):
    from opdcheck.instances import random_instance
    from opdcheck.numerics.saddle import solve_saddle

    try:
        p = random_instance(X, n, h, beta, seed)
    except API_ERRORS:
        return
    try:
        sp = solve_saddle(p)
    except API_ERRORS:
        return
    assert np.all(np.isfinite(sp.lam)) and np.all(np.isfinite(sp.pi))


@SETTINGS
@given(problem=st.sampled_from(["toy", None, 3, "text"]),
       eta=st.one_of(wild, st.none(), st.text(max_size=2)),
       T=st.one_of(st.integers(-2, 50), st.just(10**12), st.booleans(), st.floats(0, 10), st.none()),
       dual_step=st.sampled_from(["prox", "gradient", "other", None]))
def test_fuzz_run_opd(problem, eta, T, dual_step):
    from opdcheck.instances import paper_toy
    from opdcheck.kernels.opd import run_opd

    p = paper_toy() if problem == "toy" else problem
    try:
        tr = run_opd(p, eta_th=eta, eta_lam=eta, T=T, dual_step=dual_step)
    except API_ERRORS:
        return
    assert len(tr.error) == T + 1


@SETTINGS
@given(A=st.one_of(st.none(), st.text(max_size=3), st.lists(wild, max_size=4),
                   st.lists(st.lists(wild, min_size=1, max_size=3), min_size=1, max_size=3)),
       step=st.one_of(wild, st.none(), st.text(max_size=2)))
def test_fuzz_certify_bilinear_api(A, step):
    from opdcheck.numerics.local_rate import certify_bilinear

    try:
        r = certify_bilinear(A, step, T=200)
    except API_ERRORS:
        return
    assert 0 <= float(r["radius_lo"]) <= float(r["radius_hi"]) < 1


@SETTINGS
@given(path=st.one_of(st.none(), st.integers(), st.text(max_size=20), st.sampled_from(["", ".", "/", "x.npz", "y.json"])))
def test_fuzz_load_problem_paths(path):
    from opdcheck.instances import load_problem

    with pytest.raises(ValueError):
        load_problem(path)


@SETTINGS
@given(name=st.text(max_size=40), seed=st.integers(0, 10), notes=st.lists(st.text(max_size=20), max_size=3))
def test_fuzz_write_report_api(tmp_path, name, seed, notes):
    from opdcheck.paper_checks.report import write_report

    md, js = write_report([], tmp_path / "r", profile="quick", seed=seed, instance=name, notes=notes)
    payload = json.loads(js.read_text())
    assert payload["seed"] == seed and payload["instance"] == name
    assert "<script" not in md.read_text().lower().replace("`", "")
