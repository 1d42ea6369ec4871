"""The Fisher-metric projection is the exact minimiser: its KKT conditions hold to rounding."""
from __future__ import annotations

import numpy as np
import pytest

from opdcheck.kernels.policies import Box, L2Ball
from opdcheck.paper_checks.studies.fisher_projection import fisher_projection


def _metric(rng, d, rank_one):
    if rank_one:
        u = rng.standard_normal((d, 1))
        F = u @ u.T
    else:
        B = rng.standard_normal((d, d))
        F = B @ B.T
    return F + 1e-6 * max(1.0, float(np.max(np.abs(F)))) * np.eye(d)


@pytest.mark.parametrize("rank_one", [False, True])
def test_box_projection_meets_kkt(rank_one):
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = int(rng.integers(2, 7))
        M, z = _metric(rng, d, rank_one), 3 * rng.standard_normal(d)
        th = fisher_projection(z, M, Box(-1.0, 1.0))
        g = 2 * M @ (th - z)
        scale = np.linalg.norm(M) * (1 + np.linalg.norm(z)) * 1e-9
        assert np.all(np.abs(th) <= 1.0)
        free = np.abs(th) < 1.0 - 1e-12
        assert np.all(np.abs(g[free]) <= scale)
        assert np.all(g[th <= -1.0 + 1e-12] >= -scale) and np.all(g[th >= 1.0 - 1e-12] <= scale)


@pytest.mark.parametrize("rank_one", [False, True])
def test_ball_projection_meets_kkt(rank_one):
    rng = np.random.default_rng(4)
    for _ in range(20):
        d = int(rng.integers(2, 7))
        M, z = _metric(rng, d, rank_one), 3 * rng.standard_normal(d)
        ball = L2Ball(1.0)
        th = fisher_projection(z, M, ball)
        if ball.contains(z):
            assert np.array_equal(th, z)
            continue
        assert abs(np.linalg.norm(th) - 1.0) <= 1e-12
        g = 2 * M @ (th - z)  # = -2 mu th with mu >= 0
        mu = -float(g @ th) / 2
        assert mu >= 0
        assert np.linalg.norm(g + 2 * mu * th) <= 1e-9 * np.linalg.norm(M) * (1 + np.linalg.norm(z))


def test_inside_point_is_returned_and_bad_set_is_named():
    z = np.array([0.1, -0.2])
    assert np.array_equal(fisher_projection(z, np.eye(2), Box(-1.0, 1.0)), z)

    class Other:
        def contains(self, z):
            return False

        def describe(self):
            return "other set"

    with pytest.raises(ValueError, match="other set"):
        fisher_projection(np.array([5.0, 5.0]), np.eye(2), Other())
