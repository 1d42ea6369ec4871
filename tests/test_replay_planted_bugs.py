"""Planted bugs in the code under suspicion must not be reported as errors of the paper.

Each test plants a bug in the float code (kernels/, a check's own helper) and runs the check: the
independent replay (``opdcheck.numerics.replay``, which shares no formula with that code) now disagrees
with the code, which is a failed control of the whole check, so the check is INCONCLUSIVE -- even where
another finding is correctly REFUTED. Without the bug (the positive control) each check keeps its verdict.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from opdcheck import mutants as M
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import all_checks, get_check
from opdcheck.paper_checks.result import Verdict
from quick_profile_run import quick_result

# a planted bug is patched into every module bound to the original at that moment: import them all first, so
# that no module first imported while the bug is planted keeps it after the test
import opdcheck.kernels.numba_opd  # noqa: E402,F401  (imports rules.dual_step_size at module level)

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")
all_checks()


def _run(cid: str, tmp_path: Path):
    with M.mutation_profile():
        return get_check(cid).run(CheckContext(profile="quick", seed=0, out_dir=tmp_path / cid))


def _disagreeing(res) -> list[str]:
    ws = [("check", res.witness)] + [(f.name, f.witness) for f in res.findings]
    return [name for name, w in ws if w is not None and w.disagrees]


@pytest.mark.slow
@pytest.mark.parametrize("cid", ["thm-3.4", "thm-3.4-lyapunov"])
def test_prox_dual_step_changed_in_the_kernels_is_not_a_refutation(cid, tmp_path):
    # the kernels' prox dual step doubled (rules.dual_step_size): before, a replay that evaluated the same
    # closed form confirmed the wrong numbers; now it solves argmin_{lam >= 0} of (5) itself and disagrees
    with M._prox_dual_step_doubled():
        res = _run(cid, tmp_path)
    assert res.verdict is Verdict.INCONCLUSIVE, (res.verdict, res.downgrades)
    assert res.witness is not None and res.witness.ran and not res.witness.agrees, res.witness
    assert any("disagrees with the code" in d for d in res.downgrades), res.downgrades


def _uncentred_fisher():
    from opdcheck.kernels.policies import LogLinear

    orig = LogLinear.fisher

    def uncentred(self, theta, rho, *, centred=True, pi=None):
        return orig(self, theta, rho, centred=False, pi=pi)

    return _patch_attr(LogLinear, "fisher", uncentred)


def _damped_inverse():

    def damped(F, g, rcond):  # (F + 1e-2 I)^-1 g instead of the eigen pseudo-inverse
        return np.linalg.solve(0.5 * (F + F.T) + 1e-2 * np.eye(F.shape[0]), g)

    return M.patch_everywhere("opdcheck.kernels.alg3", "_pinv_solve", damped)


class _patch_attr:
    def __init__(self, obj, name, new):
        self.obj, self.name, self.new = obj, name, new

    def __enter__(self):
        self.old = getattr(self.obj, self.name)
        setattr(self.obj, self.name, self.new)

    def __exit__(self, *exc):
        setattr(self.obj, self.name, self.old)


@pytest.mark.slow
@pytest.mark.parametrize("plant", [_uncentred_fisher, _damped_inverse], ids=["uncentred-fisher", "damped-inverse"])
def test_alg3_npg_code_bugs_are_not_paper_errors(plant, tmp_path):
    with plant():
        res = _run("alg-3-npg", tmp_path)
    assert res.verdict is Verdict.INCONCLUSIVE, (res.verdict, [(f.name, f.verdict.value) for f in res.findings])
    assert _disagreeing(res), [(f.name, f.witness) for f in res.findings]
    # the finding the bug broke is not reported as REFUTED (a paper error)
    prefix = "KL" if plant is _uncentred_fisher else "F^+ grad L"
    broken = [f for f in res.findings if f.name.startswith(prefix)]
    assert broken and all(f.verdict is not Verdict.REFUTED for f in broken)


def test_a_broken_pinsker_is_not_masked_by_the_b4_refutation(tmp_path):
    from opdcheck.paper_checks.checks import lemmas_b2_b4_b8 as mod

    orig = mod.kl_rows
    with _patch_attr(mod, "kl_rows", lambda P, Q: 0.5 * orig(P, Q)):  # a KL off by a factor 2
        res = _run("lemmas-B.2-B.4-B.8", tmp_path)
    b2 = next(f for f in res.findings if f.name.startswith("B.2"))
    assert b2.verdict is Verdict.INCONCLUSIVE and b2.witness is not None and b2.witness.disagrees
    b4 = next(f for f in res.findings if f.name.startswith("B.4"))
    # the paper's real error is still what the code finds, but it is held back while the check is in doubt
    assert b4.verdict is Verdict.INCONCLUSIVE and b4.verdict_before_controls is Verdict.REFUTED
    assert "the replay of finding 'B.2 Pinsker' disagrees with the code" in b4.held_back
    assert res.verdict is Verdict.INCONCLUSIVE
    # positive control: unplanted, the check is REFUTED (B.4) with every replay agreeing (the session's quick run
    # of the same check, tests/quick_profile_run.py)
    ok = quick_result("lemmas-B.2-B.4-B.8")
    assert ok.verdict is Verdict.REFUTED and not _disagreeing(ok)


def test_a_slater_margin_in_the_wrong_unit_is_not_masked_by_the_positivity_refutation(tmp_path):
    from opdcheck.paper_checks.checks import lemma_b5 as mod

    orig = mod.slater_point

    def in_units_of_r_max(problem):  # xi left in units of R_max (the nondimensional problem's margin)
        xi, pi_bar = orig(problem)
        return xi * problem.R_max, pi_bar

    with _patch_attr(mod, "slater_point", in_units_of_r_max):
        res = _run("lemma-B.5", tmp_path)
    bound = next(f for f in res.findings if f.name.startswith("bound"))
    assert bound.verdict is Verdict.INCONCLUSIVE and bound.witness.disagrees, bound.witness
    assert "Slater" in bound.witness.subject and "min_j c_j(pi_bar)" in bound.witness.disagreement
    positivity = next(f for f in res.findings if f.name.startswith("lam* > 0"))
    assert positivity.verdict is Verdict.INCONCLUSIVE and positivity.verdict_before_controls is Verdict.REFUTED
    assert res.verdict is Verdict.INCONCLUSIVE
    ok = _run("lemma-B.5", tmp_path / "ok")  # positive control: a misstatement, so INCONSISTENT (the reading rule)
    assert ok.verdict is Verdict.INCONSISTENT and not _disagreeing(ok)
