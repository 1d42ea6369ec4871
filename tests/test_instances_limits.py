"""Loading instances under a memory limit (decided from the headers, before decompressing), ragged
arrays named by field, generator arguments, the iteration's step budget, the profiles' estimates."""
import io
import json
import zipfile

import numpy as np
import pytest

from opdcheck.cli import EXIT_INPUT, main
from opdcheck.instances import load_problem, paper_toy, random_instance, save_problem
from opdcheck.kernels.opd import run_opd


def _bomb(path, n_zeros: int):
    """A valid-looking .npz whose R_soft member is n_zeros float64 zeros, deflated (~1000x smaller)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for k, a in dict(rho=np.ones(1), pi_ref=np.full((1, 2), 0.5), w=np.ones(1), R_hard=np.zeros((1, 1, 2)),
                         beta=np.array(0.1)).items():
            b = io.BytesIO()
            np.save(b, a)
            zf.writestr(k + ".npy", b.getvalue())
        with zf.open("R_soft.npy", "w", force_zip64=True) as fp:
            hdr = io.BytesIO()
            np.lib.format.write_array_header_1_0(hdr, {"descr": "<f8", "fortran_order": False, "shape": (1, 1, n_zeros)})
            fp.write(hdr.getvalue())
            fp.write(bytes(8 * n_zeros))
    return path


def test_a_deflated_archive_is_refused_from_its_headers_before_inflating(tmp_path, monkeypatch):
    f = _bomb(tmp_path / "bomb.npz", 2_000_000)  # 16 MB inflated, ~16 KB on disk
    assert f.stat().st_size < 100_000
    inflated = []
    real_read = zipfile.ZipExtFile.read

    def spy(self, *a, **k):
        data = real_read(self, *a, **k)
        inflated.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spy)
    with pytest.raises(ValueError, match="memory limit"):
        load_problem(f, memory_limit=1024 ** 2)
    assert sum(inflated) == 0  # nothing was decompressed
    with pytest.raises(ValueError, match="R_soft"):  # positive control: without the limit it is read, then refused by shape
        load_problem(f)


def test_the_cli_passes_its_memory_limit_to_the_loader(tmp_path, capsys):
    f = _bomb(tmp_path / "bomb.npz", 2_000_000)
    for argv in (["solve", str(f)], ["certify", str(f)], ["run", "eq3-best-response", "--instance", str(f),
                                                          "--out", str(tmp_path / "o")]):
        assert main([*argv, "--memory-limit", "1M"]) == EXIT_INPUT
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "before decompressing" in err, argv


def test_a_json_file_is_judged_by_its_size(tmp_path):
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"rho": [1.0], "pad": [0.0] * 200_000}))
    with pytest.raises(ValueError, match="memory limit"):
        load_problem(p, memory_limit=1024 ** 2)


@pytest.mark.parametrize("field,value,match", [
    ("R_hard", [[[-0.6, 0.4], [1.0]]], "ragged"),
    ("pi_ref", [[0.5], [0.5, 0.5]], "ragged"),
    ("R_soft", [[[1.0, "x"]]], "must be a JSON number"),
    ("rho", [[1.0], 2.0], "ragged"),
])
def test_ragged_or_non_numeric_json_arrays_name_the_field(tmp_path, field, value, match):
    d = dict(rho=[1.0], pi_ref=[[0.5, 0.5]], R_soft=[[[1.0, 0.0]]], w=[1.0], R_hard=[[[-0.6, 0.4]]], beta=0.1)
    d[field] = value
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=f"field {field} (has|holds) .*{match}"):
        load_problem(f)


@pytest.mark.parametrize("kw", [dict(X=True), dict(n=True), dict(h=False), dict(seed=True), dict(X=2.0),
                                dict(active_quantile=3), dict(active_quantile=(0.5,)), dict(active_quantile=("a", "b"))])
def test_random_instance_refuses_bools_and_bad_arguments_by_name(kw):
    args = dict(X=2, n=3, h=1, beta=0.1, seed=0)
    args.update(kw)
    with pytest.raises(ValueError, match=next(iter(kw))):
        random_instance(**args)


def test_random_instance_without_an_n_by_n_identity():
    p = random_instance(1, 50_000, 1, 0.0, 0)  # n x n would be 20 GB
    assert p.n == 50_000


@pytest.mark.parametrize("problem,T,match", [
    (None, 10, "not an opdcheck.problem.Problem"),
    ("toy", 10 ** 9, "OPDCHECK_MAX_STEPS"),
    ("toy", True, "T:"),
    ("toy", 0, "T:"),
])
def test_run_opd_refuses_up_front(problem, T, match):
    p = paper_toy() if problem == "toy" else problem
    with pytest.raises(ValueError, match=match):
        run_opd(p, eta_th=3.0, eta_lam=3.0, T=T)


def test_the_step_limit_can_be_raised(monkeypatch):
    monkeypatch.setenv("OPDCHECK_MAX_STEPS", "5")
    with pytest.raises(ValueError, match="above the limit 5"):
        run_opd(paper_toy(), eta_th=3.0, eta_lam=3.0, T=6)
    monkeypatch.setenv("OPDCHECK_MAX_STEPS", "many")
    with pytest.raises(ValueError, match="OPDCHECK_MAX_STEPS"):
        run_opd(paper_toy(), eta_th=3.0, eta_lam=3.0, T=6)
    monkeypatch.delenv("OPDCHECK_MAX_STEPS")
    assert run_opd(paper_toy(), eta_th=3.0, eta_lam=3.0, T=6).error.shape == (7,)


def test_built_in_profiles_are_limited_like_user_instances(tmp_path, capsys):
    from opdcheck.paper_checks.profile_memory import profile_bytes

    assert profile_bytes("thm-3.4", "full") > 2 * 1024 ** 3 > profile_bytes("thm-3.4", "quick")
    assert main(["run", "thm-3.4", "--profile", "full", "--memory-limit", "100M", "--out", str(tmp_path / "o"),
                 "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "built-in instances" in err
    assert not (tmp_path / "o").exists()


def test_beta_below_float64s_resolution_is_one_line_for_run(tmp_path, capsys):
    p = paper_toy()
    from opdcheck.problem import Problem

    f = save_problem(Problem(rho=p.rho, pi_ref=p.pi_ref, R_soft=p.R_soft, w=p.w, R_hard=p.R_hard, beta=1e-300,
                             name="tiny"), tmp_path / "tiny.npz")
    assert main(["run", "dual-function", "--instance", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["solve", "{long}.npz"], ["certify", "{long}.json"],
                                  ["certify", "--bilinear", "{long}.npy"],
                                  ["run", "eq3-best-response", "--instance", "{long}.npz", "--out", "{tmp}/o"]])
def test_an_over_long_file_name_is_one_line(tmp_path, capsys, argv):
    long = str(tmp_path / ("a" * 300))
    assert main([a.format(long=long, tmp=tmp_path) for a in argv]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too long" in err.lower()


def test_a_directory_or_unreadable_instance_is_one_line(tmp_path, capsys):
    d = tmp_path / "dir.npz"
    d.mkdir()
    assert main(["solve", str(d)]) == EXIT_INPUT
    assert capsys.readouterr().err.count("\n") == 1


def test_random_instance_refuses_sizes_beyond_the_memory_limit_up_front():
    """A size no machine holds is refused at once with the estimate and the fix, never a hang in an allocation."""
    from opdcheck.instances import random_instance

    with pytest.raises(ValueError, match=r"X = 1000000000, n = 1000000000.*pass a smaller X or n"):
        random_instance(X=10**9, n=10**9, h=1, beta=0.1, seed=0)
    assert random_instance(X=3, n=4, h=2, beta=0.1, seed=0).X == 3  # positive control
