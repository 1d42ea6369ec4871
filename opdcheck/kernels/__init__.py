"""Iterations: OPD (Alg. 2, Alg. 3), the Alg. 1 framework and baselines; numpy reference and Numba kernels.

Never imports cvxpy.

* ``opd.run_primal_dual`` / ``opd.run_opd``: the numpy reference (one driver, any ``PrimalStep``).
* ``numba_opd.run_opd_numba``: the materialising Numba kernel (pi_t, pi_hat_{t+1} written as
  (X, n) arrays every step); the default runner of the thm-3.4 checks.
* ``numba_fused.run_opd_fused``: the fused coefficient-space pass (``log pi = a log pi_ref + b r +
  sum_j c_j R_j - logZ``, proved in ``theory/coefficients.py``): one read-only pass per step, metrics
  only at the steps asked for; OPD, simultaneous and sequential PD, both dual conventions. The kernel
  for large instances (e.g. (X, n, h) = (1e4, 1e3, 4)).
* ``fastexp``: the vectorised exp the Numba kernels use (the numba wheels have no SVML).

Numba kernels are cached on disk by default in a folder keyed on every kernel source
(``OPDCHECK_NUMBA_CACHE``, see ``kernels/numba_cache.py``).
"""
