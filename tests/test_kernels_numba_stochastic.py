"""The compiled PPO-clip epochs of the sampled bandit primal reproduce the numpy reference bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from opdcheck.instances import random_instance  # noqa: E402
from opdcheck.kernels.numba_stochastic import MAX_ROW, ppo_epochs  # noqa: E402
from opdcheck.kernels.stochastic import SampledPrimal, sample_responses  # noqa: E402
from opdcheck.logspace import log_softmax_rows  # noqa: E402


@pytest.mark.parametrize("X,n,N,epochs,clip", [(8, 6, 16, 4, 0.2), (3, 9, 1, 1, 0.2), (2, 2, 40, 3, 0.05),
                                               (5, 7, 128, 2, 0.5)])  # N = 128: the longest compiled row
def test_ppo_epochs_same_bits_as_numpy(X, n, N, epochs, clip):
    p = random_instance(X, n, 1, 0.05, 7)
    prim = SampledPrimal(p, lr=10.0, N=N, seed=3, clip=clip, epochs=epochs)
    rng = np.random.default_rng([X, n, N])
    for trial in range(20):
        theta = 3.0 * rng.standard_normal((X, n))
        log_old = log_softmax_rows(theta + 0.3 * rng.standard_normal((X, n)))   # ratios away from 1: clips bind
        batch = sample_responses(log_old, N, rng)
        A = rng.standard_normal((X, N)) * 10.0 ** rng.uniform(-3, 2)
        ref = prim._ppo_epochs_numpy(theta, log_old, batch, A)
        got = ppo_epochs(theta, log_old, batch, A, p.rho, prim.lr, prim.clip, prim.epochs)
        np.testing.assert_array_equal(got, ref)
        assert not np.array_equal(got, theta)                       # the step moved


def test_ppo_epochs_negative_control_a_changed_rule_is_seen():
    """The bit-for-bit comparison can fail: the same kernel with the clip switched off differs."""
    p = random_instance(8, 6, 1, 0.05, 3)
    prim = SampledPrimal(p, lr=10.0, N=16, seed=0)
    rng = np.random.default_rng(0)
    theta = 3.0 * rng.standard_normal((8, 6))
    log_old = log_softmax_rows(theta + 0.5 * rng.standard_normal((8, 6)))
    batch = sample_responses(log_old, 16, rng)
    A = rng.standard_normal((8, 16))
    ref = prim._ppo_epochs_numpy(theta, log_old, batch, A)
    assert not np.array_equal(ppo_epochs(theta, log_old, batch, A, p.rho, prim.lr, 0.999, prim.epochs), ref)


def test_long_rows_take_the_numpy_path():
    """More samples than numpy's pairwise block: the step runs (numpy path) and stays a valid policy."""
    p = random_instance(2, 3, 1, 0.05, 0)
    prim = SampledPrimal(p, lr=1.0, N=MAX_ROW + 1, seed=0)
    s = prim.step(prim.init_state(p), np.array([1.0]))
    assert np.all(np.isfinite(s[0])) and s[1].shape == (2, MAX_ROW + 1)
