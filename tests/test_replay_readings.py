"""The replays of the paper's other readings (``opdcheck.numerics.replay.readings``) return Witnesses built in the
replay layer, with positive and negative controls; and the checks that used to write dict witnesses now carry them."""
from __future__ import annotations

import mpmath
import pytest

from opdcheck.instances import paper_toy
from opdcheck.numerics.replay import Witness
from opdcheck.numerics.replay.core import mp_problem, mp_run_opd, mp_saddle
from opdcheck.numerics.replay.readings import mp_run_opd_printed, replay_in_class_duality
from opdcheck.paper_checks.checks import app_c_proof_steps, app_e_strong_duality as ae, lemmas_b9_b12
from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.result import Verdict

# these tests judge verdicts, findings and controls, not pictures: figures a check writes into the test's tmp_path
# are not rasterised (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("unrendered_figures")


def _curved(t):
    return ae.curved_logits(t, lib=mpmath)


def test_in_class_duality_witness_confirms_and_agrees_with_the_float_brute_force():
    fl = ae.float_duality(ae.curved_logits, n_grid=4001)
    w = replay_in_class_duality(_curved, ae.R_SOFT, ae.R_HARD, ae.PI_REF, ae.BETA, code_gap=fl["gap"],
                                code_primal=fl["primal"], code_dual=fl["dual"], n_grid=201)
    assert isinstance(w, Witness) and w.supports_refutation and w["gap (replay)"] > 0.3


def test_in_class_duality_witness_negative_controls():
    fl = ae.float_duality(ae.curved_logits, n_grid=4001)
    # a code gap off by 1e-2 disagrees with the replay (a failed control, never a refutation)
    w = replay_in_class_duality(_curved, ae.R_SOFT, ae.R_HARD, ae.PI_REF, ae.BETA, code_gap=fl["gap"] + 1e-2,
                                code_primal=fl["primal"], code_dual=fl["dual"], n_grid=201)
    assert w.disagrees and not w.supports_refutation and "gap float" in w.disagreement
    # the mixture class (a segment of the simplex) has no gap: the replay does not confirm one
    fm = ae.float_duality(ae.mixture_logits, n_grid=4001)
    wm = replay_in_class_duality(lambda t: ae.mixture_logits(t, lib=mpmath), ae.R_SOFT, ae.R_HARD, ae.PI_REF, ae.BETA,
                                 code_gap=fm["gap"], code_primal=fm["primal"], code_dual=fm["dual"], n_grid=201)
    assert wm.agrees and not wm.confirms


def test_printed_closed_form_replay_is_the_printed_update_not_the_derived_one():
    """One step of the generic solve (maximiser of (4)/(6) with the score times eta + beta) equals the printed formula
    pi ∝ pi_hat^(eta/(eta+beta)) pi_ref^(beta/(eta+beta)) exp(S) evaluated here by hand, and differs from Algorithm 2."""
    p = paper_toy(beta=0.05)
    P = mp_problem(p)
    S = mp_saddle(P, [1.0])
    run = mp_run_opd_printed(P, S, eta_th=3.0, eta_lam=3.0, T=1)
    derived = mp_run_opd(P, S, eta_th=3.0, eta_lam=3.0, T=1)
    with mpmath.workdps(50):
        # t = 0: pi_hat = pi_ref, lam_{-1} = 0, c(pi_ref) = 0.3 * -0.7 + 0.7 * 0.3 = 0 -> lam_pred = 0, S = r = (1, 0);
        # pi_hat = pi_ref makes the printed update pi ∝ pi_ref exp(r)
        q = [mpmath.mpf("0.3") * mpmath.e, mpmath.mpf("0.7")]
        q = [v / (q[0] + q[1]) for v in q]
        kl = sum(a * mpmath.log(a / b) for a, b in zip([mpmath.mpf("0.3"), mpmath.mpf("0.7")], q))
        # to 1e-12: the instance's data are float64 reads of 0.3, 0.7 and pi* is the 50-digit saddle's, not exactly pi_ref
        assert abs(run.kl_star[1] - kl) < 1e-12
        assert abs(derived.kl_star[1] - kl) > 1e-3


@pytest.mark.parametrize("rho_factor", [None, 0.999])
def test_app_c_contraction_witness_disagrees_when_the_judged_rho_is_not_the_proofs(tmp_path, rho_factor):
    ctx = CheckContext(out_dir=tmp_path)
    if rho_factor is None:
        res = app_c_proof_steps.evaluate(ctx)
        assert res.findings[0].verdict == Verdict.REFUTED and res.findings[0].witness.supports_refutation
    else:  # negative control: a rho that is not the proof's is caught by the replay (sympy's rho), not refuted
        rho = app_c_proof_steps.contraction_case()["rho"]
        res = app_c_proof_steps.evaluate(ctx, rho_override=rho * rho_factor)
        f = res.findings[0]
        assert isinstance(f.witness, Witness) and f.witness.disagrees and f.verdict != Verdict.REFUTED


def test_lemma_b11_findings_carry_replay_layer_witnesses(tmp_path):
    res = lemmas_b9_b12.evaluate(CheckContext(out_dir=tmp_path))
    with_w = [f for f in res.findings if f.witness is not None]
    assert with_w and all(isinstance(f.witness, Witness) and f.witness.confirms for f in with_w)
    assert res.verdict == Verdict.REFUTED
