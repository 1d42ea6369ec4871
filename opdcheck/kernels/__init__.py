"""Iterations: OPD (Alg. 2, Alg. 3), the Alg. 1 framework and baselines; numpy reference and Numba kernels.

Never imports cvxpy.
"""
