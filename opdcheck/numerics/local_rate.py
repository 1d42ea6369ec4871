r"""The certified local last-iterate rate of a method on the user's instance.

For an instance file (``.npz``/``.json``, :func:`opdcheck.instances.load_problem`):

1. the exact saddle point (dual Newton, :func:`opdcheck.numerics.saddle.solve_saddle`);
2. the hypotheses of the linearization, each a clear ``ValueError`` when it fails: ``beta > 0``;
   strict complementarity (no constraint with ``lam*_j ~ 0`` *and* ``c_j(pi*) ~ 0``); a unique
   ``lam*`` (the dual curvature ``H = sum_x rho_x Cov_{pi*_x}(R_A)`` nonsingular on the active set);
3. a rational rounding of ``(pi*, R_H, rho, beta, steps)`` (denominators <= ``CERTIFY_MAX_DENOMINATOR``,
   stated in the output), then an exact Schur–Cohn enclosure of the spectral radius of the method's
   update linearized there (:func:`opdcheck.theory.linearization.certify_modes`, the mode
   factorization; for small instances also the full exact Jacobian, :func:`certify_rate`, must agree);
4. beside it: the measured tail rate of the kernels' iteration from the paper's start ``(pi_ref, 0)``,
   rho of eq. (46), and the rate of the corrected statement (:mod:`opdcheck.theory.rate_formulas`).

The error ``E KL + ||lam - lam*||^2`` is a squared distance: its rate is ``r^2``; both are printed.

For the unconstrained bilinear game ``min_x max_y x^T A y`` (``--bilinear A.npy --step eta``), OGDA
``z_{t+1} = z_t - 2 eta F(z_t) + eta F(z_{t-1})`` acts on each singular value ``sigma`` through
``(mu^2 - mu)^2 + (eta sigma)^2 (2 mu - 1)^2`` (OPD's mode polynomial at ``a = 0``, ``c = eta^2 sigma^2``),
whose radius ``sqrt((1 + sqrt(1 - 4c))/2)`` decreases in ``c`` on ``c <= 1/4``; so once
``eta^2 sigma_max^2 < 1/4`` is certified the rate is set by ``sigma_min``; both are certified by the
inertia of ``A^T A - s I`` (exact LDL^T pivots over ``QQ`` of the rounded ``A``), and the two end values of
``c = eta^2 s`` are enclosed by Schur–Cohn on the quartic.

The command ``opdcheck certify`` only formats these results (``opdcheck/certify.py``).
"""
from __future__ import annotations

import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import sympy as sp

from opdcheck.methods import get_method
from opdcheck.problem import Problem
from opdcheck.theory.linearization import (METHODS, RationalDesign, certify_modes, certify_rate, step_constants)
from opdcheck.theory.rate_formulas import spectral_rate
from opdcheck.theory.schur_cohn import radius_enclosure
from opdcheck.tolerances import (CERTIFY_BILINEAR_MAX_DIM, CERTIFY_ENCLOSURE_WIDTH, CERTIFY_FULL_JACOBIAN_MAX_DIM, CERTIFY_MAX_DENOMINATOR,
                                 CERTIFY_STRICT_COMPLEMENTARITY_ATOL, LAMBDA_UNIQUE_EIG_RTOL)

__all__ = ["lam_star_not_unique", "rational", "linearization_data", "rational_design", "certify_instance", "certify_bilinear",
           "load_matrix"]


def rational(v: float, max_den: int = CERTIFY_MAX_DENOMINATOR) -> Fraction:
    """The closest rational with denominator <= ``max_den`` (the stated rounding of a float)."""
    if not math.isfinite(v):
        raise ValueError(f"value {v!r} is not finite; the instance must be finite.")
    return Fraction(float(v)).limit_denominator(max_den)


def degenerate_constraints(lam, cvals, tol: float = CERTIFY_STRICT_COMPLEMENTARITY_ATOL) -> list[int]:
    """Constraints where strict complementarity fails at the problem's scale: ``lam*_j <= tol`` and
    ``|c_j(pi*)| <= tol`` (CERTIFY_STRICT_COMPLEMENTARITY_ATOL) -- the projection ``[.]_+`` is then not
    differentiable at lam* and the linearization does not apply."""
    return [j for j in range(len(lam)) if lam[j] <= tol and abs(cvals[j]) <= tol]


def linearization_data(problem: Problem, saddle) -> dict:
    """Active set and hypotheses of the linearization at ``saddle``; raises ``ValueError`` where it
    does not apply (beta = 0, a degenerate constraint, a non-unique lam*)."""
    if problem.beta <= 0:
        raise ValueError(f"beta = {problem.beta:g}: the linearization needs beta > 0 (at beta = 0 the saddle "
                         "policy can be a vertex and the update is not differentiable there). Use an instance "
                         "with beta > 0, or `opdcheck solve FILE` for the LP's saddle point.")
    lam = np.asarray(saddle.lam, dtype=np.float64)
    cvals = problem.constraint_values(saddle.pi)
    tol = CERTIFY_STRICT_COMPLEMENTARITY_ATOL
    degenerate = degenerate_constraints(lam, cvals)
    if degenerate:
        raise ValueError(f"constraint(s) {degenerate}: lam*_j = {[float(lam[j]) for j in degenerate]} and "
                         f"c_j(pi*) = {[float(cvals[j]) for j in degenerate]} are both within {tol:g} of 0 "
                         "(a degenerate active set: strict complementarity fails and the projection [.]_+ is not "
                         "differentiable at lam*). Shift that constraint's threshold so it is clearly active or slack.")
    active = tuple(j for j in range(problem.h) if lam[j] > tol)
    if not active:
        raise ValueError("no active constraint (every lam*_j = 0): the multipliers stay at 0 near the saddle "
                         "point and the rate is eta_th/(eta_th+beta); nothing to certify.")
    return {"active": active, "lam": lam, "c": cvals}


def rational_design(problem: Problem, saddle, active: tuple, max_den: int = CERTIFY_MAX_DENOMINATOR) -> tuple[RationalDesign, dict]:
    """The rational rounding of ``(rho, pi*, R_H, lam*, beta)``; rows of ``pi*`` and ``rho`` are rounded
    and their last entry set so each sums to exactly 1. Returns the design and the rounding sizes."""
    pi = np.asarray(saddle.pi, dtype=np.float64)
    # one common denominator for every entry (not the closest rational per entry): sums of products of
    # entries then keep denominators <= max_den^4 instead of the lcm of thousands of denominators

    def fixed(v: float, den: int = max_den) -> Fraction:
        if not math.isfinite(v):
            raise ValueError(f"value {v!r} is not finite; the instance must be finite.")
        return Fraction(round(float(v) * den), den)

    # tiny probabilities get a finer grid (8 significant digits below the smallest entry)
    pmin = float(min(pi.min(), np.min(problem.rho)))
    if not pmin > 0:
        raise ValueError(f"pi* has an entry {pmin:g} <= 0; the linearization needs full support (beta > 0).")
    den_pi = max(max_den, 10 ** (int(math.ceil(-math.log10(pmin))) + 8))

    def simplex(row):
        # the largest entry absorbs the rounding (the float row sums to 1 only to ~1e-16, which would swamp
        # a tiny last entry)
        big = int(np.argmax(row))
        q = [fixed(v, den_pi) for v in row]
        q[big] = 1 - (sum(q) - q[big])
        if any(v <= 0 for v in q):
            raise ValueError("pi* (or rho) has an entry that rounds to <= 0; the linearization needs full support.")
        return q

    pis = [simplex(row) for row in pi]
    rho = simplex(np.asarray(problem.rho, dtype=np.float64))
    R = [[[fixed(v) for v in row] for row in Rj] for Rj in np.asarray(problem.R_hard)]
    lam = [rational(saddle.lam[j], max_den) if j in active else Fraction(0) for j in range(problem.h)]
    beta = rational(problem.beta, max_den)

    def S(v):
        return sp.Rational(v.numerator, v.denominator)

    design = RationalDesign(rho=tuple(S(v) for v in rho), pi_star=tuple(tuple(S(v) for v in r) for r in pis),
                            R_hard=tuple(tuple(tuple(S(v) for v in row) for row in Rj) for Rj in R),
                            lam_star=tuple(S(v) for v in lam), beta=S(beta), active=tuple(active), problem=problem,
                            name=problem.name)
    err = {"pi*": float(np.max(np.abs(np.array([[float(v) for v in r] for r in pis]) - pi))),
           "R_hard": float(np.max(np.abs(np.array([[[float(v) for v in row] for row in Rj] for Rj in R])
                                         - np.asarray(problem.R_hard)))),
           "max_denominator": max_den, "pi_denominator": den_pi, "common_denominator": True}
    return design, err


def _measure(problem: Problem, method: str, eta_th: float, eta_lam: float, dual_step: str, saddle, T: int) -> dict:
    from opdcheck.kernels.baselines import run_method
    from opdcheck.kernels.trajectory import fit_tail_rate
    from opdcheck.tolerances import RUN_STOP_RTOL

    tr = run_method(method, problem, eta_th=eta_th, eta_lam=eta_lam, T=T, dual_step=dual_step, saddle=saddle,
                stop_below=RUN_STOP_RTOL)
    fit = fit_tail_rate(tr.error)
    rate = fit["rate"]
    return {"error_rate": rate, "radius": math.sqrt(rate) if np.isfinite(rate) and rate > 0 else float("nan"),
            "spread": fit["spread"], "window": (fit["t0"], fit["t1"]), "T": T, "diverged": bool(tr.diverged),
            "final_error": float(tr.error[-1])}


def measured_radius_agrees(radius: float, lo, hi, spread: float = 0.0) -> bool:
    """The measured radius (the square root of the tail fit's error rate) lies in the certified ``[lo, hi]`` up to
    the fit's slack: ``max(CORRECTED_MEASURED_ATOL, spread)`` on the error rate ``r^2``, i.e. that over ``2 hi`` on
    ``r`` (a finite window's fit carries sub-dominant-mode bias; the certificate is exact). What ``opdcheck
    certify`` prints beside the measured ``r``.

    >>> measured_radius_agrees(0.9858, 0.98589, 0.98590), measured_radius_agrees(0.9720, 0.98589, 0.98590)
    (True, False)
    """
    from opdcheck.tolerances import CORRECTED_MEASURED_ATOL

    if not np.isfinite(radius):
        return False
    slack = max(CORRECTED_MEASURED_ATOL, spread if np.isfinite(spread) else 0.0) / (2.0 * max(float(hi), 1e-300))
    return bool(float(lo) - slack <= radius <= float(hi) + slack)


def _float_curvature(problem: Problem, pi: np.ndarray, active: tuple) -> np.ndarray:
    """``sum_x rho_x Cov_{pi_x}(R_A)`` in float64 (m x m, O(m^2 X n) time, O(m X n) memory)."""
    R = np.asarray(problem.R_hard)[list(active)]
    mean = np.einsum("xn,jxn->jx", pi, R)
    Rc = R - mean[:, :, None]
    return np.einsum("x,xn,jxn,kxn->jk", problem.rho, pi, Rc, Rc, optimize=True)


def lam_star_not_unique(ev_min: float, ev_max: float) -> bool:
    """The dual curvature on the active set is singular (lam* need not be unique): its smallest eigenvalue is at
    most LAMBDA_UNIQUE_EIG_RTOL x max(1, largest). The thm-3.4 family and the tightness search use this one test."""
    return bool(ev_min <= LAMBDA_UNIQUE_EIG_RTOL * max(1.0, float(ev_max)))


def _require_unique(ev: np.ndarray, info: dict) -> None:
    if lam_star_not_unique(float(ev[0]), float(ev[-1])):
        shown = ev.tolist() if ev.size <= 8 else [float(ev[0]), "...", float(ev[-1])]
        act = list(info["active"])
        act_s = str(act) if len(act) <= 8 else f"[{act[0]}, ..., {act[-1]}] ({len(act)} constraints)"
        raise ValueError(f"the dual curvature on the active set {act_s} is singular (eigenvalues "
                         f"{shown}): lam* is not unique, so the iterates need not converge to one point and the "
                         "linearization does not apply. Remove a redundant constraint or change its rewards.")


def certify_instance(problem: Problem, *, method: str = "opd", eta_th: float | None = None,
                     eta_lam: float | None = None, dual_step: str | None = None, T: int = 3000, measure: bool = True,
                     saddle=None, full_jacobian: bool = True) -> dict:
    """Certified enclosure of ``method``'s local rate on ``problem`` with the measured, eq. (46) and
    corrected rates beside it (module docstring). Default steps: Thm 3.4's ``3 sqrt(h) R_max``.
    ``measure=False``: no run (``"measured"`` is None); ``full_jacobian=False``: no full-Jacobian cross-check
    (``"full_jacobian"`` is None), for callers that read neither."""
    try:
        registered = get_method(method)  # any registered name
    except ValueError:
        raise ValueError(f"--method {method!r}: not a known method; choose one of {', '.join(METHODS)} "
                         "(or an alias, `opdcheck list-methods`).") from None
    method = registered.name
    dual_step = dual_step or registered.dual_step
    if method not in METHODS:
        raise ValueError(f"--method {method!r}: its local rate is not certified; choose one of {', '.join(METHODS)} "
                         "(or an alias, `opdcheck list-methods`).")
    if dual_step not in ("prox", "gradient"):
        raise ValueError(f"--dual-step {dual_step!r}; choose 'prox' or 'gradient'.")
    for name, v in (("--eta-th", eta_th), ("--eta-lam", eta_lam)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} = {v!r}; pass a finite step weight > 0.")
    if problem.beta <= 0:
        linearization_data(problem, None)  # raises the beta = 0 message
    t0 = time.perf_counter()
    if saddle is None:
        from opdcheck.numerics.saddle import solve_saddle

        saddle = solve_saddle(problem)
    info = linearization_data(problem, saddle)
    from opdcheck.kernels.opd import thm34_step_sizes
    from opdcheck.kernels.potential import rho_eq46

    d_th, d_lam = thm34_step_sizes(problem)
    eta_th = d_th if eta_th is None else float(eta_th)
    eta_lam = d_lam if eta_lam is None else float(eta_lam)
    # lam* unique? decided in float64 *before* any exact arithmetic (the exact determinant of an m x m
    # polynomial matrix is what hung on 40 duplicated constraints)
    ev = np.linalg.eigvalsh(_float_curvature(problem, saddle.pi, info["active"]))
    _require_unique(ev, info)
    design, rounding = rational_design(problem, saddle, info["active"])
    q_th, q_lam = rational(eta_th), rational(eta_lam)
    cert = certify_modes(design, method, q_th, q_lam, dual_step, Fraction(str(CERTIFY_ENCLOSURE_WIDTH)))
    H = np.array([[float(v) for v in row] for row in cert.H])
    ev = np.linalg.eigvalsh(H)
    _require_unique(ev, info)
    full = None
    dim = (4 if method == "opd" else 2) * (design.X * (design.n - 1) + len(design.active))
    if full_jacobian and dim <= CERTIFY_FULL_JACOBIAN_MAX_DIM:  # small: the full exact Jacobian as a cross-check
        fc = certify_rate(design, method, q_th, q_lam, dual_step, Fraction(str(CERTIFY_ENCLOSURE_WIDTH)))
        full = {"lo": fc.lo, "hi": fc.hi, "agrees": bool(fc.lo <= cert.hi and cert.lo <= fc.hi), "dim": fc.dim}
    # the step constants from the one source the exact certificate uses (theory.linearization.step_constants), at
    # the rounded design the certificate is computed for: a second transcription here could drift from it
    k = step_constants(design, q_th, q_lam, dual_step)
    b, kappa, a = float(k["b"]), float(k["kappa"]), float(k["a"])
    corr = spectral_rate(method, a, [kappa * b * float(v) for v in ev], cert.extra_primal)
    cert_s = time.perf_counter() - t0
    meas = _measure(problem, method, eta_th, eta_lam, dual_step, saddle, T) if measure else None
    if meas is not None:
        meas["radius_agrees"] = measured_radius_agrees(meas["radius"], cert.lo, cert.hi, meas["spread"])
    return {"instance": problem.name, "method": method, "dual_step": dual_step, "eta_th": eta_th, "eta_lam": eta_lam,
            "eta_th_q": q_th, "eta_lam_q": q_lam, "beta": problem.beta, "X": problem.X, "n": problem.n, "h": problem.h,
            "active": list(info["active"]), "pairs": problem.X * problem.n, "h_eigs": ev.tolist(), "a": a,
            "kappa": kappa, "c": [kappa * b * float(v) for v in ev], "radius_lo": cert.lo, "radius_hi": cert.hi,
            "error_rate_lo": cert.lo**2, "error_rate_hi": cert.hi**2, "stable": cert.stable, "unstable": cert.unstable,
            "gamma": cert.gamma, "extra_primal": cert.extra_primal, "full_jacobian": full, "rounding": rounding,
            "rho46": rho_eq46(problem), "corrected": corr, "measured": meas, "certify_seconds": cert_s}



# ------------------------------------------------------------------------------------- bilinear
def _ogda_mode(c: Fraction) -> list[Fraction]:
    """``(mu^2 - mu)^2 + c (2mu - 1)^2`` (highest degree first)."""
    return [Fraction(1), Fraction(-2), 1 + 4 * c, -4 * c, c]


def _positive_definite(M: list[list[int]]) -> bool:
    """Exact: every leading principal minor of the symmetric integer matrix ``M`` is > 0 (Sylvester),
    by fraction-free (Bareiss) elimination: integer arithmetic, each division exact."""
    a = [row[:] for row in M]
    n = len(a)
    prev = 1
    for p in range(n):
        piv = a[p][p]
        if piv <= 0:
            return False
        for i in range(p + 1, n):
            aip = a[i][p]
            row_i, row_p = a[i], a[p]
            for j in range(p + 1, n):
                row_i[j] = (row_i[j] * piv - aip * row_p[j]) // prev
        prev = piv
    return True


def _shifted(G: list[list[int]], den: int, s: Fraction) -> list[list[int]]:
    """Integer matrix with the sign pattern of ``G / den - s I`` (scaled by ``den * s.denominator > 0``)."""
    q, p = s.denominator, s.numerator * den
    return [[G[i][j] * q - (p if i == j else 0) for j in range(len(G))] for i in range(len(G))]


def _check_bilinear_input(A, step: float, max_dim: int) -> np.ndarray:
    """``A`` as a float64 square matrix within the certificate's range, or a ValueError naming the fix."""
    A = np.asarray(A)
    if A.dtype.kind == "c":
        raise ValueError(f"--bilinear: A has complex dtype {A.dtype}; the game min_x max_y x^T A y is real. "
                         "Pass a real matrix (save A.real explicitly if that is what you mean).")
    if A.ndim != 2 or A.size == 0 or A.dtype.kind not in "biuf":
        raise ValueError(f"--bilinear: A has shape {A.shape} and dtype {A.dtype}; pass a 2-d real array (.npy).")
    m, k = A.shape
    if m != k:
        side, null = ("x", m - k) if m > k else ("y", k - m)
        raise ValueError(f"--bilinear: A is {m}x{k}; a non-square A has a {null}-dimensional nullspace on the {side} "
                         f"side ({'A^T x = 0' if m > k else 'A y = 0'}), so the game has a continuum of equilibria and "
                         "OGDA has a neutral mode there (rate exactly 1): there is no linear rate to certify. "
                         "Pass a square, nonsingular A.")
    if k > max_dim:
        raise ValueError(f"--bilinear: A is {k}x{k}, above the exact certificate's size limit {max_dim} (exact "
                         "integer elimination grows like k^4 in time: ~0.2 s at k = 20, ~1 min at k = 64, hours at "
                         "k = 200); raise it with --max-dim K if you mean to wait.")
    A = A.astype(np.float64)
    if not np.isfinite(A).all():
        raise ValueError("--bilinear: A has non-finite entries; pass a finite matrix.")
    amax = float(np.max(np.abs(A)))
    if amax == 0:
        raise ValueError("--bilinear: A is zero: every point is an equilibrium and OGDA does not move (rate 1); "
                         "pass a nonsingular A.")
    if not (1e-100 <= amax <= 1e100):
        raise ValueError(f"--bilinear: max|A| = {amax:.3g} is outside [1e-100, 1e100], where the certificate's "
                         "products stay finite; the rate depends on step*A only, so rescale A and divide --step "
                         "by the same factor.")
    if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
        raise ValueError(f"--step = {step!r}; pass a finite step > 0.")
    eta_sigma = float(step) * float(np.linalg.norm(A, 2))
    if not eta_sigma >= 1e-6:
        raise ValueError(f"--step {step}: step * sigma_max(A) = {eta_sigma:.3g} is below 1e-6, where OGDA's rate is "
                         "within 1e-12 of 1 and beyond the certificate's resolution; pass a larger step "
                         "(the rate depends on step*A only).")
    return A


def certify_bilinear(A: np.ndarray, step: float, *, T: int = 20000, seed: int = 0,
                     max_den: int = 2**30, max_dim: int = CERTIFY_BILINEAR_MAX_DIM) -> dict:
    """Certified OGDA rate on ``min_x max_y x^T A y`` (module docstring), beside a tail-window fit.

    Refused up front (ValueError): complex or non-square ``A`` (a nullspace: a continuum of equilibria,
    rate exactly 1), ``A`` larger than ``max_dim`` (the exact elimination's cost), entries or a step
    outside the range the certificate resolves."""
    A = _check_bilinear_input(A, step, max_dim)
    t0 = time.perf_counter()
    # the rate depends on eta*A only: certify eta*A / scale with step*scale, scale a power of 2 (exact)
    scale = 2.0 ** math.floor(math.log2(float(np.max(np.abs(A)))))
    A, step = A / scale, float(step) * scale
    # one common denominator D: G = (D A)^T (D A) is an integer matrix and M = A^T A = G / D^2 exactly;
    # its extreme eigenvalues are certified by the inertia of M - s I (exact fraction-free pivots: all
    # leading minors > 0 iff s < lambda_min), not by its charpoly
    D = max_den
    Aint = [[int(round(float(A[i, j]) * D)) for j in range(A.shape[1])] for i in range(A.shape[0])]
    k = A.shape[1]
    G = [[sum(Aint[r][i] * Aint[r][j] for r in range(A.shape[0])) for j in range(k)] for i in range(k)]
    den = D * D
    eta = rational(step, 10**12)
    if eta == 0 or abs(float(eta) - step) > 1e-6 * step:
        raise ValueError(f"--step {step / scale!r}: rounds to {eta} at denominators <= 1e12; pass a larger step.")
    sv = np.linalg.svd(A, compute_uv=False)
    if not _positive_definite(_shifted([[-g for g in row] for row in G], den, -Fraction(1) / (4 * eta * eta))):
        raise ValueError(f"--step {step / scale}: eta^2 sigma_max^2 >= 1/4 for this A; the certificate's monotone "
                         f"regime needs eta < 1/(2 sigma_max) = {1 / (2 * float(sv[0]) * scale):.6g}.")
    s_est = float(sv[-1]) ** 2
    if s_est <= 0 or not _positive_definite(G):
        raise ValueError("--bilinear: A is singular: a zero singular value gives a neutral mode (rate exactly 1) and "
                         "a continuum of equilibria; OGDA has no linear rate on this game. Pass a nonsingular A.")
    delta = Fraction(s_est * 1e-9).limit_denominator(10**15) + Fraction(1, 10**30)
    for _ in range(20):
        s_lo = max(Fraction(s_est).limit_denominator(10**18) - delta, Fraction(0))
        s_hi = Fraction(s_est).limit_denominator(10**18) + delta
        below = s_lo == 0 or _positive_definite(_shifted(G, den, s_lo))
        above = not _positive_definite(_shifted(G, den, s_hi))
        if below and above:  # s_lo < s_min <= s_hi
            break
        delta *= 16
    else:  # pragma: no cover - the float estimate cannot be this far off
        raise ValueError("could not bracket sigma_min^2 of the rounded A exactly; the matrix is too ill-conditioned.")
    tol = Fraction(1, 10**12)
    # radius decreasing in c on c <= 1/4: r(s_hi) <= r(s_min) <= r(s_lo)
    r_lo = radius_enclosure(_ogda_mode(eta * eta * s_hi), tol)[0]
    r_hi = radius_enclosure(_ogda_mode(eta * eta * s_lo), tol)[1]
    cert_s = time.perf_counter() - t0
    # measured: the optimistic (Popov = OGDA) kernel from a seeded start; fit the log-norm's tail slope
    from opdcheck.kernels.bilinear import run_optimistic

    rng = np.random.default_rng(seed)
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        z = run_optimistic(A, rng.normal(size=A.shape[0]), rng.normal(size=A.shape[1]), float(step), T)
        t = np.arange(T // 2, T + 1)
        ok = np.isfinite(np.log(z[t])).all()
        slope = np.polyfit(t, np.log(z[t]), 1)[0] if ok else float("nan")
    return {"shape": A.shape, "step": float(step) / scale, "sigma_max": float(sv[0]) * scale,
            "sigma_min": float(sv[-1]) * scale, "scale": scale,
            "radius_lo": r_lo, "radius_hi": r_hi, "one_minus_radius": (float(1 - r_hi), float(1 - r_lo)),
            "s_min": (float(s_lo) * scale**2, float(s_hi) * scale**2), "measured": float(np.exp(slope)), "T": T,
            "certify_seconds": cert_s, "max_denominator": max_den}



def load_matrix(path: str, memory_limit: int | None = None) -> np.ndarray:
    """Read ``A`` from a ``.npy`` file (no pickles) with a clear error; its header (dtype, shape) is checked
    against ``memory_limit`` bytes before the data is read."""
    p = Path(path)
    shown = path if len(str(path)) <= 80 else str(path)[:77] + "..."
    try:
        exists = p.exists()
    except OSError as exc:
        raise ValueError(f"--bilinear {shown!r}: cannot be read ({exc.strerror or exc}); pass a .npy file.") from None
    if not exists:
        raise ValueError(f"--bilinear {shown!r}: file does not exist; pass a .npy file with a 2-d array.")
    if not p.is_file():
        raise ValueError(f"--bilinear {path!r}: not a file; pass a .npy file with a 2-d array.")
    try:
        with open(p, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                               else np.lib.format.read_array_header_2_0(fh))
    except Exception as exc:
        raise ValueError(f"--bilinear {path!r}: not a .npy file ({exc}); save A with numpy.save.") from None
    if dtype.hasobject:
        raise ValueError(f"--bilinear {path!r}: dtype {dtype} holds Python objects (read only via pickle, which "
                         "opdcheck never uses); save a plain numeric array.")
    need = int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 8) * 2
    if memory_limit is not None and need > memory_limit:
        raise ValueError(f"--bilinear {path!r}: A of shape {shape} needs about {need} bytes to load, over the "
                         f"memory limit {memory_limit}; raise it with --memory-limit SIZE.")
    try:
        return np.load(p, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"--bilinear {path!r}: cannot read it as .npy ({exc}).") from None
