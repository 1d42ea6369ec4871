

def test_kkt_gate_controls_catch_a_loosened_or_dropped_gate():
    """dual-function's KKT gates: the controls pass on the real comparison, and fail when one condition is
    dropped from it, or when a gate is made 1e6 times looser than its recomputed ceiling."""
    from opdcheck.instances import paper_toy
    from opdcheck.paper_checks.checks.dual_function import kkt_gates_accept, multiplier_certificate
    from opdcheck.paper_checks.studies.gate_controls import kkt_gate_controls

    toy = paper_toy(0.5)
    cert = multiplier_certificate(toy)
    assert all(c.passed for c in kkt_gate_controls(toy, cert, kkt_gates_accept))

    def no_gap_gate(feas, comp, gap, gate, gap_gate, lam):
        return kkt_gates_accept(feas, comp, 0.0, gate, gap_gate, lam)

    neg = [c for c in kkt_gate_controls(toy, cert, no_gap_gate) if c.kind == "negative"]
    assert not neg[0].passed and "duality gap" in neg[0].detail
    loose = {**cert, "gate_unit": cert["gate_unit"] * 1e6}
    assert not [c for c in kkt_gate_controls(toy, loose, kkt_gates_accept) if c.kind == "negative"][0].passed


def test_safe_rlhf_source_control_reaches_the_clamp():
    """The Safe-RLHF source control drives log lam past log 5: the rule without its clamp (a planted bug
    the bandit never reaches) fails it, the real rule passes."""
    from opdcheck.kernels.framework import FRAMEWORK_METHODS
    from opdcheck.mutants import _rule_safe_rlhf_no_clamp
    from opdcheck.paper_checks.studies.gate_controls import sec4_rule_controls

    def safe_control():
        return next(c for c in sec4_rule_controls(FRAMEWORK_METHODS) if c.name.startswith("Safe-RLHF rule"))

    assert safe_control().passed
    with _rule_safe_rlhf_no_clamp():
        assert not safe_control().passed


def test_value_gate_controls_catch_a_loosened_gate():
    """eq. (3)'s value-gap gate: the controls pass on value_certificate, and the negative one fails when the
    gate is made 1000 times looser (above its recomputed ceiling)."""
    import numpy as np

    from opdcheck.instances import paper_toy
    from opdcheck.numerics.certificates import value_certificate
    from opdcheck.paper_checks.checks.eq3_best_response import best_response
    from opdcheck.paper_checks.studies.gate_controls import value_gate_controls

    toy, lam = paper_toy(), np.array([0.5])
    pi = best_response(toy, lam)
    assert all(c.passed for c in value_gate_controls(toy, lam, pi, value_certificate))

    def loose(problem, lam, cand, ref):
        r = value_certificate(problem, lam, cand, ref)
        return {**r, "gate": 1000 * r["gate"], "ok": r["value_gap"] >= -1000 * r["gate"]}

    neg = [c for c in value_gate_controls(toy, lam, pi, loose) if c.kind == "negative"][0]
    assert not neg.passed


def test_pinsker_controls_catch_a_broken_derivation_or_replay(monkeypatch):
    """Lemma B.2's evidence paths run every time: a mistyped n = 2 gap (2(p-q)^2 for 4(p-q)^2) fails the
    argument's control; a replay that drops the square of ||p-q||_1 fails the replay's control."""
    import sympy as sp

    from opdcheck.numerics.replay import exact
    from opdcheck.paper_checks.checks import lemmas_b2_b4_b8 as chk
    from opdcheck.theory import lemmas as lm

    assert all(c.passed for c in chk.pinsker_controls())

    def gap_typo(const=2):
        p, q = lm._P2, lm._Q2
        return const * (p * sp.log(p / q) + (1 - p) * sp.log((1 - p) / (1 - q))) - 2 * (p - q) ** 2

    with monkeypatch.context() as m:
        m.setattr(lm, "pinsker_gap_n2", gap_typo)
        assert not chk.pinsker_controls()[0].passed
    orig = exact.replay_pinsker_pair

    def no_square(p, q, const, reported_gap, atol):  # the replay computes ||p-q||_1 - const KL
        return orig(p, q, const, reported_gap + 0.2 - 0.04, atol)

    monkeypatch.setattr(chk.ew, "replay_pinsker_pair", no_square)
    assert not chk.pinsker_controls()[1].passed


def test_prox_step_derivation_control_breaks_a_shared_misreading(monkeypatch):
    """A prox dual step misread the same way in the kernel and a replay agrees with itself; the sympy
    derivation of (5)/(7) does not: the control fails on the kernel's 1/eta for 1/(2 eta)."""
    from opdcheck.kernels import rules
    from opdcheck.paper_checks.studies.printed_controls import prox_step_derivation_control

    assert prox_step_derivation_control().passed
    orig = rules.dual_step_size
    monkeypatch.setattr(rules, "dual_step_size", lambda eta, convention="prox": orig(eta, "gradient"))
    assert not prox_step_derivation_control().passed
