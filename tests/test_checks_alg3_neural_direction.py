"""alg-3-neural's control of the natural-gradient direction (Sec. 3.2.1's display along the step's own solve,
judged by the KL of the policies: no Fisher code shared with the step)."""
from __future__ import annotations

import pytest

pytest.importorskip("jax", reason="the neural policies need JAX (pip install jax jaxlib)")


def test_the_direction_control_passes_and_catches_a_fisher_product_off_by_a_factor(monkeypatch):
    from opdcheck.kernels.neural import natural_gradient as ng
    from opdcheck.paper_checks.checks.alg_3_neural import direction_curvature_control

    assert direction_curvature_control(2).passed  # positive control: the step as shipped
    real = ng.make_npg_step

    def off_by_two(cfg, npg):  # a Fisher-vector product half its size (e.g. rho = 1/2 applied twice)
        step = real(cfg, npg)
        return lambda *a: (2.0 * step(*a)[0], step(*a)[1])

    monkeypatch.setattr(ng, "make_npg_step", off_by_two)
    bad = direction_curvature_control(2)
    assert not bad.passed and "relative error" in bad.detail
