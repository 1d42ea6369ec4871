"""Thm 3.4 under its readings: the proof's denominator leads, the t = 1 typo second, the existential reading on
the small-curvature family, and the printed closed form; with negative and positive controls."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from opdcheck.instances import paper_toy
from opdcheck.kernels.opd import run_opd, thm34_step_sizes
from opdcheck.numerics.lp import slater_margin
from opdcheck.numerics.replay.readings import replay_printed_bound_violation
from opdcheck.paper_checks.result import Verdict
from opdcheck.paper_checks.studies import thm34_readings as rd
from opdcheck.paper_checks.studies.curvature_family import family_design, mode_polynomial_root_one, rho46

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


def test_family_is_in_the_theorems_class():
    for p in (Fraction(1, 10), Fraction(1, 100)):
        d = family_design(p)
        pr = d.problem
        assert pr.h == 1 and pr.R_max == pytest.approx(1.0) and pr.beta == 1.0
        np.testing.assert_allclose(pr.pi_ref[0], [float(p), 1 - float(p)], rtol=1e-14)
        assert slater_margin(pr) == pytest.approx(float(p), rel=1e-6)
    assert rho46() == Fraction(50, 63)
    assert mode_polynomial_root_one()["root_one"]
    with pytest.raises(ValueError, match="p = "):
        family_design(Fraction(3, 4))


def test_existential_reading_refuted_with_replay():
    f = rd.existential_finding()
    assert f.verdict == Verdict.REFUTED and f.witness["confirms"] and f.witness["agrees"]
    assert f.computed["toy (beta = 1) at the witness step: r^2"] < 50 / 63  # positive control: the toy alone is rescued
    assert f.witness["certified r^2"][0] > 0.96


def test_existential_reading_negative_control():
    """Where the curvature does not shrink (p = 1/10 only) the rescuing step keeps r^2 < rho(46): no refutation."""
    f = rd.existential_finding(ps=(Fraction(1, 10),), steps=((Fraction(1), Fraction(3, 10)),))
    assert f.verdict != Verdict.REFUTED


def test_printed_closed_form_reading_and_its_replay():
    f = rd.printed_closed_form_finding(betas=(0.05,), T=10)
    assert f.verdict == Verdict.REFUTED and f.witness["agrees"] and f.witness["confirms"] and f.witness["t"] == 2
    # negative control of the replay: the derived algorithm's error is not the printed algorithm's
    p = paper_toy(beta=0.05)
    e = thm34_step_sizes(p)
    tr = run_opd(p, eta_th=e[0], eta_lam=e[1], T=2, dual_step="prox")
    w = replay_printed_bound_violation(p, [1.0], dual_step="prox", t=2, eta_th=e[0], eta_lam=e[1],
                                       code_error=float(tr.error[2]), code_bound=f.witness["bound (code)"])
    assert not w["agrees"]


def test_first_iterates_table_checks_t1_by_hand():
    md = rd.first_iterates_markdown(1.0, T=2)
    assert "| 1 | 0.3549621438 |" in md and "rho(46) = 0.7936507937" in md


def test_thm34_check_leads_with_the_substantive_failure():
    from quick_profile_run import quick_result, quick_results

    res = quick_result("thm-3.4")  # the session's quick run (tests/quick_profile_run.py)
    tmp_path = quick_results()[0]
    assert res.verdict == Verdict.REFUTED and not res.downgrades
    assert res.summary.startswith("[bound fails with the proof's own denominator: REFUTED")  # then its reading tag
    w = res.witness
    assert w["instance"] == "paper-toy (beta = 1)" and w["t"] == 2 and w["denominator"] == "denom_proof_min"
    assert w["confirms"] and w["agrees"] and abs(w["certified r^2"][0] - 0.92443) < 1e-4
    typo = res.findings[1]
    assert typo.severity == "typo" and typo.witness["t"] == 1 and typo.witness["agrees"]
    assert all(f.statement == "thm-3.4" for f in res.findings)
    assert res.figures[0].endswith("thm-3.4-counterexample.png") and (tmp_path / res.figures[0]).exists()
    assert "by hand" in res.details
