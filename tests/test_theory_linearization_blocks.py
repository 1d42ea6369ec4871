"""theory/linearization.jacobian writes the block Jacobian out by stacking its blocks: the same exact matrix as
sympy's BlockMatrix(...).as_explicit() (what it computed before), for every method, convention and a best response."""
from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp

from opdcheck.paper_checks.studies.alg1_designs import rational_design
from opdcheck.theory import linearization as L


def _block_form(design, method, eta_th, eta_lam, dual_step):
    k = L.step_constants(design, eta_th, eta_lam, dual_step)
    g, b, kap = k["gamma"], k["b"], k["kappa"]
    B, _, J = L.reduced_blocks(design)
    N, m = B.shape
    IN, Im = sp.eye(N), sp.eye(m)
    if method == "simultaneous-gda":
        rows = [[g * IN, b * B], [-kap * J, Im]]
    elif method == "alternating-gda":
        rows = [[g * IN, b * B], [-kap * g * J, Im - kap * b * (J * B)]]
    else:
        ZNm, ZmN, Zmm, ZNN = sp.zeros(N, m), sp.zeros(m, N), sp.zeros(m, m), sp.zeros(N, N)
        rows = [[g * IN, b * B, -kap * b * (B * J), ZNm], [-kap * g * J, Im, ZmN, -kap * b * (J * B)],
                [g * IN, ZNm, ZNN, b * B], [ZmN, Im, -kap * J, Zmm]]
    return sp.BlockMatrix(rows).as_explicit()


@pytest.mark.parametrize("method", ["simultaneous-gda", "alternating-gda", "opd"])
@pytest.mark.parametrize("dual_step", ["prox", "gradient"])
def test_jacobian_is_the_block_matrix_written_out(method, dual_step):
    for design in (rational_design(2), rational_design(3, X=3, n=4, h=1)):
        for eta_th, eta_lam in ((Fraction(3), Fraction(3)), (0, Fraction(5, 2))):
            M = L.jacobian(design, method, eta_th, eta_lam, dual_step)
            ref = _block_form(design, method, eta_th, eta_lam, dual_step)
            assert M.shape == ref.shape and M == ref and isinstance(M, sp.ImmutableMatrix)
