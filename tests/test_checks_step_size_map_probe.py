"""step-size-map's local probe as its own function: the controls call it without the described run and its replay."""
from __future__ import annotations

from fractions import Fraction

from opdcheck.paper_checks.checks import step_size_map


def _control_spec(T: int = 100) -> dict:
    b, et, el = step_size_map.CONTROL_CELL
    d = step_size_map.rational_design(step_size_map.DESIGN_SEED, X=2, n=3, h=1, beta=b)
    H = step_size_map.covariance_matrix(d)
    lo, hi = step_size_map.certified_radius("finite-step-pd", b, Fraction(int(H[0, 0].p), int(H[0, 0].q)), et, el)
    return {"beta": str(b), "method": "finite-step-pd", "eta_th": str(et), "eta_lam": str(el), "T": T,
            "lo": str(lo), "hi": str(hi)}


def test_local_probe_is_the_probe_part_of_probe_cell():
    spec = _control_spec()
    probe = step_size_map.local_probe(spec, 3)
    full = step_size_map.probe_cell(spec, 3)
    assert probe == {k: full[k] for k in probe}  # the same numbers, seed for seed
    assert "replay_agrees" in full and "replay_agrees" not in probe


def test_local_probe_controls_keep_their_direction():
    """Positive: sequential GDA's own certificate is confirmed; negative: handed to simultaneous GDA (certified
    unstable at this cell) or a wrong rate, it is rejected."""
    spec = _control_spec()
    assert step_size_map.local_probe(spec, 0)["agrees_locally"]
    assert not step_size_map.local_probe({**spec, "method": "simultaneous-pd"}, 0)["agrees_locally"]
    assert not step_size_map.local_probe({**spec, "lo": "1/2", "hi": "1/2"}, 0)["agrees_locally"]
    pos, neg = step_size_map.probe_controls(0, 100)
    assert pos["agrees_locally"] and not neg["agrees_locally"]
    assert set(pos) == set(step_size_map.local_probe(spec, 0))  # the controls read only the probe's fields
