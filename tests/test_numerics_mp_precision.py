"""The 50-digit replays must not change mpmath's global precision: a check's numbers may not depend on which checks
ran before it in the same process (the serial and the parallel runner must write the same report)."""
import mpmath
import numpy as np

from opdcheck.instances import random_instance
from opdcheck.numerics.certificates import mp_replay_first_order, mp_replay_value_gap


def test_certificate_replays_restore_the_callers_precision():
    p = random_instance(2, 3, 1, 0.5, seed=0)
    pi = np.asarray(p.pi_ref, dtype=float)
    lam = np.zeros(p.h)
    before = mpmath.mp.dps
    first_order = mp_replay_first_order(p, lam, pi, 0)
    gap = mp_replay_value_gap(p, lam, pi, pi)
    assert mpmath.mp.dps == before
    assert np.isfinite(first_order) and gap == 0.0


def test_certificate_replays_run_at_replay_digits_whatever_the_callers_precision():
    p = random_instance(2, 3, 1, 0.5, seed=0)
    pi = np.asarray(p.pi_ref, dtype=float)
    lam = np.ones(p.h)
    with mpmath.workdps(15):
        low = mp_replay_first_order(p, lam, pi, 1)
    with mpmath.workdps(80):
        high = mp_replay_first_order(p, lam, pi, 1)
    assert low == high
