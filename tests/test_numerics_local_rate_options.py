"""certify_instance's opt-outs: without the run or the full-Jacobian cross-check the certificate is unchanged."""
from __future__ import annotations

from opdcheck.instances import paper_toy
from opdcheck.numerics.local_rate import certify_instance


def test_full_jacobian_and_measure_opt_outs_leave_the_certificate():
    p = paper_toy(beta=1.0)
    full = certify_instance(p, T=300)
    lean = certify_instance(p, T=300, measure=False, full_jacobian=False)
    assert full["full_jacobian"] is not None and full["full_jacobian"]["agrees"]  # the toy is small: cross-checked
    assert lean["full_jacobian"] is None and lean["measured"] is None
    for k in ("radius_lo", "radius_hi", "stable", "h_eigs", "a", "kappa", "c", "rho46", "eta_th", "eta_lam"):
        assert lean[k] == full[k], k
    assert lean["corrected"]["radius"] == full["corrected"]["radius"]
