"""Numba one-pass kernel of Algorithm 3's log-linear step (kernels/numba_alg3.py) vs the numpy reference.

Agreement to NUMBA_ALG3_AGREEMENT_RTOL (1e-12 relative, max-norm) of grad L, F, w = F^+ grad L and the
projected step on seeded instances (small, X n = 2e4, rank-deficient F, active projection, every Fisher
variant); same bits run to run and for 1 vs 2 threads; no global RNG; clear errors; a negative control.
"""
import numba
import numpy as np
import pytest

from opdcheck.kernels.alg3 import NaturalGradientStep, lagrangian_gradient, natural_direction, run_alg3
from opdcheck.kernels.numba_alg3 import loglinear_grad_fisher
from opdcheck.kernels.policies import L2Ball, LogLinear, TabularSoftmax
from opdcheck.problem import Problem
from opdcheck.tolerances import NUMBA_ALG3_AGREEMENT_RTOL as RTOL


def _rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def _problem(X, n, h, seed, beta=0.3):
    rng = np.random.default_rng(seed)
    pi_ref = 0.9 * rng.dirichlet(np.ones(n), size=X) + 0.1 / n
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    return Problem(rho=rng.dirichlet(np.ones(X)), pi_ref=pi_ref, R_soft=rng.uniform(-1, 1, (1, X, n)), w=[1.0],
                   R_hard=rng.uniform(-1, 1, (h, X, n)), beta=beta, name=f"seed{seed}"), rng


def _case(name):
    if name == "small":
        P, rng = _problem(7, 9, 2, 1)
        cls = LogLinear(rng.normal(size=(7, 9, 5)))
    elif name == "large-ish":  # X n = 2e4, d = 16, n not a multiple of 4 (the rank-4 remainder)
        P, rng = _problem(50, 401, 1, 2)
        cls = LogLinear(rng.normal(size=(50, 401, 16)) / 4.0)
    elif name == "rank-deficient":  # duplicated column: rank F = d - 1
        P, rng = _problem(6, 8, 2, 3)
        phi = rng.normal(size=(6, 8, 4))
        cls = LogLinear(np.concatenate([phi, phi[..., :1]], axis=2))
    elif name == "one-prompt":  # X = 1, n = 1e4: a single block
        P, rng = _problem(1, 10_000, 1, 4, beta=1e-3)
        cls = LogLinear(rng.normal(size=(1, 10_000, 6)))
    elif name == "extreme":  # beta = 1e-3, R_max = 100, p_min = 1e-12, a peaked policy (min pi ~ 1e-11)
        P, rng = _extreme_problem()
        cls = LogLinear(rng.normal(size=(3, 50, 6)))
        return P, cls, rng.normal(size=6) * 3.0, np.array([0.3, 2.0])
    else:
        raise AssertionError(name)
    return P, cls, rng.normal(size=cls.d) * 0.5, rng.uniform(0.1, 1.5, size=P.h)


CASES = ["small", "large-ish", "rank-deficient", "one-prompt", "extreme"]


def _extreme_problem():
    rng = np.random.default_rng(6)
    pi_ref = rng.dirichlet(np.ones(50), size=3)
    pi_ref[:, :5] = 1e-12
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    P = Problem(rho=np.array([0.2, 0.3, 0.5]), pi_ref=pi_ref, R_soft=100 * rng.uniform(-1, 1, (1, 3, 50)), w=[1.0],
                R_hard=100 * rng.uniform(-1, 1, (2, 3, 50)), beta=1e-3, name="extreme")
    return P, rng


@pytest.mark.parametrize("name", CASES)
def test_gradient_fisher_direction_agree_with_numpy(name):
    P, cls, th, lam = _case(name)
    g, F = loglinear_grad_fisher(P, cls, th, lam)
    assert _rel(g, lagrangian_gradient(P, cls, th, lam)) <= RTOL
    F0 = cls.fisher(th, P.rho)
    assert _rel(F, F0) <= RTOL and np.array_equal(F, F.T)
    if name == "rank-deficient":
        assert np.linalg.matrix_rank(F0) == cls.d - 1
    w = natural_direction(P, cls, th, lam, backend="numba")
    assert _rel(w, natural_direction(P, cls, th, lam)) <= RTOL


@pytest.mark.parametrize("fisher", ["uncentred", "unweighted"])
def test_fisher_variants_agree(fisher):
    P, cls, th, lam = _case("small")
    w0 = natural_direction(P, cls, th, lam, fisher=fisher)
    assert _rel(natural_direction(P, cls, th, lam, fisher=fisher, backend="numba"), w0) <= RTOL


def test_negative_control_wrong_variant_is_caught():
    """The comparison can fail: the uncentred Fisher (a known bug class) is far outside the tolerance."""
    P, cls, th, lam = _case("small")
    w_bad = natural_direction(P, cls, th, lam, fisher="uncentred", backend="numba")
    assert _rel(w_bad, natural_direction(P, cls, th, lam)) > 1e3 * RTOL


def test_active_projection_step_and_trajectory_agree():
    P, rng = _problem(5, 6, 2, 5)
    cls = LogLinear(rng.normal(size=(5, 6, 3)), L2Ball(0.05))
    lam = np.array([0.7, 0.2])
    steps = {b: NaturalGradientStep(P, cls, 0.5, np.zeros(3), backend=b) for b in ("numpy", "numba")}
    th = steps["numpy"].step(np.zeros(3), lam)
    assert np.linalg.norm(th) == pytest.approx(0.05, rel=1e-12)  # the projection is active
    assert _rel(steps["numba"].step(np.zeros(3), lam), th) <= RTOL
    sad = type("S", (), {"pi": np.exp(cls.log_probs(np.zeros(3))), "lam": np.zeros(2)})()
    tr = {b: run_alg3(P, cls, eta_th=0.5, eta_lam=3.0, T=20, primal=steps[b], saddle=sad) for b in steps}
    assert _rel(tr["numba"].final_log_pi_hat, tr["numpy"].final_log_pi_hat) <= RTOL


def test_same_bits_run_to_run_and_for_one_or_two_threads():
    P, cls, th, lam = _case("large-ish")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        g1, F1 = loglinear_grad_fisher(P, cls, th, lam)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        g2, F2 = loglinear_grad_fisher(P, cls, th, lam)
        g3, F3 = loglinear_grad_fisher(P, cls, th, lam)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(g1, g2) and np.array_equal(F1, F2) and np.array_equal(g2, g3) and np.array_equal(F2, F3)
    # the block count (not the thread count) fixes the summation order: another one agrees to rounding
    g4, F4 = loglinear_grad_fisher(P, cls, th, lam, n_blocks=3)
    assert _rel(g4, g1) <= RTOL and _rel(F4, F1) <= RTOL


def test_no_global_rng():
    P, cls, th, lam = _case("small")
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    loglinear_grad_fisher(P, cls, th, lam)
    assert np.array_equal(np.random.get_state()[1], state)


def test_clear_errors():
    P, cls, th, lam = _case("small")
    with pytest.raises(ValueError, match="backend"):
        natural_direction(P, cls, th, lam, backend="cuda")
    with pytest.raises(ValueError, match="LogLinear"):
        natural_direction(P, TabularSoftmax(P.X, P.n), np.zeros(P.X * P.n), lam, backend="numba")
    with pytest.raises(ValueError, match="direction"):
        NaturalGradientStep(P, cls, 1.0, backend="numba", direction="lstsq")
    with pytest.raises(ValueError, match="lam"):
        loglinear_grad_fisher(P, cls, th, [np.nan, 1.0])
    with pytest.raises(ValueError, match="theta"):
        loglinear_grad_fisher(P, cls, th[:-1], lam)
    with pytest.raises(ValueError, match="n_blocks"):
        loglinear_grad_fisher(P, cls, th, lam, n_blocks=0)


def test_auto_backend_is_numpy_for_small_classes_and_numba_for_large():
    from opdcheck.kernels.alg3 import NUMBA_AUTO_MIN_WORK, resolve_backend

    P, cls, th, lam = _case("small")
    assert NaturalGradientStep(P, cls, 1.0).backend == "numpy"
    assert NaturalGradientStep(P, cls, 1.0, backend="numba").backend == "numba"
    big = type("Big", (LogLinear,), {})
    b = big.__new__(big)
    b.X, b.n, b.d = 1000, 1000, NUMBA_AUTO_MIN_WORK // 1_000_000 + 1
    assert resolve_backend("auto", b, "pinv") == "numba"
    assert resolve_backend("auto", b, "lstsq") == "numpy"
    assert resolve_backend("auto", TabularSoftmax(2000, 5000), "pinv") == "numpy"


_CACHE_RUN = r"""
import json
import numpy as np
from opdcheck.kernels import numba_alg3 as na
from opdcheck.kernels.policies import LogLinear
from opdcheck.problem import Problem
rng = np.random.default_rng(0)
P = Problem(rho=np.full(2, 0.5), pi_ref=np.full((2, 3), 1 / 3), R_soft=rng.uniform(-1, 1, (1, 2, 3)), w=[1.0],
            R_hard=rng.uniform(-1, 1, (1, 2, 3)), beta=0.1)
na.loglinear_grad_fisher(P, LogLinear(rng.normal(size=(2, 3, 2))), np.zeros(2), np.array([0.5]))
st = na.loglinear_grad_fisher_kernel.stats
print(json.dumps({"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values())}))
"""


@pytest.mark.slow  # a second Python process importing numba; the cache keying itself is tested by default (test_kernels_numba_cache)
def test_second_process_loads_the_kernel_from_the_disk_cache(tmp_path):
    """Judged by numba's dispatcher statistics, not wall time. OPDCHECK_NUMBA_CACHE=1 with NUMBA_CACHE_DIR
    puts the cache (kernels/numba_cache.py: a subfolder keyed on the kernel sources) in a given folder."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPDCHECK_NUMBA_CACHE": "1", "NUMBA_CACHE_DIR": str(tmp_path)}

    def run():
        res = subprocess.run([sys.executable, "-c", _CACHE_RUN], capture_output=True, text=True, env=env, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert first["misses"] >= 1 and first["hits"] == 0  # the first process compiled: the check can fail
    assert second["misses"] == 0 and second["hits"] >= 1


def test_fisher_against_a_50_digit_replay_on_the_extreme_instance():
    """The kernel accumulates F from the centred score (no cancellation): against an mpmath replay at 50
    digits its error is at rounding level, and never worse than the reference's raw-moment formula."""
    import mpmath as mp

    P, cls, th, lam = _case("extreme")
    X, n, d = cls.phi.shape
    with mp.workdps(50):
        F = mp.zeros(d, d)
        for x in range(X):
            ph = [[mp.mpf(float(v)) for v in row] for row in cls.phi[x]]
            z = [mp.fsum(ph[y][k] * mp.mpf(float(th[k])) for k in range(d)) for y in range(n)]
            m = max(z)
            e = [mp.exp(v - m) for v in z]
            s = mp.fsum(e)
            p = [v / s for v in e]
            mb = [mp.fsum(p[y] * ph[y][k] for y in range(n)) for k in range(d)]
            for i in range(d):
                for j in range(i, d):
                    F[i, j] += mp.mpf(float(P.rho[x])) * mp.fsum(p[y] * (ph[y][i] - mb[i]) * (ph[y][j] - mb[j]) for y in range(n))
        F_mp = np.array([[float(F[min(i, j), max(i, j)]) for j in range(d)] for i in range(d)])
    _, F_nb = loglinear_grad_fisher(P, cls, th, lam)
    err_nb, err_np = _rel(F_nb, F_mp), _rel(cls.fisher(th, P.rho), F_mp)
    assert err_nb <= 1e-14 and err_nb <= max(err_np, 1e-15)


def test_one_compiled_signature_for_every_variant_and_input_kind():
    """Read-only (Problem) and writable arrays, lists and every Fisher variant share one specialisation
    (a second one would cost another compilation in the quick profile)."""
    from opdcheck.kernels.numba_alg3 import loglinear_grad_fisher_kernel

    P, cls, th, lam = _case("small")
    for f in ("centred", "uncentred", "unweighted"):
        loglinear_grad_fisher(P, cls, th, lam, fisher=f)
    loglinear_grad_fisher(P, cls, list(th), lam.tolist())
    assert len(loglinear_grad_fisher_kernel.signatures) == 1
