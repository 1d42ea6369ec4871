"""The library API: lazy top-level exports, no process-wide side effect on import, typed results,
logging instead of prints, and every public docstring example runs (doctests)."""
import json
import logging
import os
import subprocess
import sys
from fractions import Fraction

import pytest

import opdcheck

DOCTESTED = ["opdcheck", "opdcheck.api", "opdcheck.intervals", "opdcheck.provenance",
             "opdcheck.paper_checks.richtext", "opdcheck.paper_checks.html_report", "opdcheck.paper_checks.figures",
             "opdcheck.paper_checks.result"]


def test_docstring_examples_run():
    """The public modules have docstring examples, and tests/test_doctests.py runs them (every module's)."""
    from test_doctests import _with_examples

    assert set(DOCTESTED) <= set(_with_examples()), sorted(set(DOCTESTED) - set(_with_examples()))


def test_import_has_no_side_effects():
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "MPLBACKEND")}
    code = ("import os, sys, opdcheck; "
            "print(json.dumps({'numba_dir': 'NUMBA_CACHE_DIR' in os.environ, 'mpl': 'matplotlib' in sys.modules, "
            "'numba': 'numba' in sys.modules, 'scipy': 'scipy' in sys.modules, 'cvxpy': 'cvxpy' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert json.loads(out) == {"numba_dir": False, "mpl": False, "numba": False, "scipy": False, "cvxpy": False}


def test_importing_a_check_does_not_choose_a_plotting_backend():
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND",)}
    code = ("import sys; import opdcheck.paper_checks.checks.fig_1_toy; import opdcheck.paper_checks.figures; "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False"


def test_top_level_exports():
    for name in ("Problem", "instances", "solve_saddle", "run_opd", "run_config", "certify_local_rate", "certify_instance",
                 "run_check", "RateCertificate", "SaddlePoint"):
        obj = getattr(opdcheck, name)
        assert obj is not None and (obj.__doc__ or "").strip(), name
        assert name in opdcheck.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        opdcheck.nope  # noqa: B018


def test_certify_returns_a_typed_result():
    c = opdcheck.certify_local_rate(opdcheck.instances.paper_toy(1.0), measure=False)
    assert isinstance(c, opdcheck.RateCertificate)
    assert isinstance(c.radius[0], Fraction) and c.radius[0] <= c.radius[1]
    assert c.error_rate[0] > Fraction(50, 63) and c.stable and not c.unstable  # beyond rho(46) = 50/63
    assert c.active == (0,) and c.measured_error_rate is None and c.full_jacobian_agrees is True
    assert "error rate r^2 in [0.924435084, 0.924435086]" in str(c)


def test_solve_saddle_returns_a_typed_result():
    sp = opdcheck.solve_saddle(opdcheck.instances.paper_toy(0.05))
    assert isinstance(sp, opdcheck.SaddlePoint) and sp.duality_gap >= -1e-12


def test_run_check_validates_and_logs(caplog):
    with pytest.raises(ValueError, match="profile = 'fast'"):
        opdcheck.run_check("dual-step-scale", profile="fast")
    with pytest.raises(ValueError, match="seed = -1"):
        opdcheck.run_check("dual-step-scale", seed=-1)
    with pytest.raises(ValueError, match="no-such"):
        opdcheck.run_check("no-such")
    with caplog.at_level(logging.INFO, logger="opdcheck"):
        r = opdcheck.run_check("dual-step-scale")
    assert r.verdict.value == "INCONSISTENT"
    assert any("dual-step-scale: INCONSISTENT" in m for m in caplog.messages)
