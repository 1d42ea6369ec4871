r"""Exact linearization of OPD (Algorithm 2) and of GDA at the saddle point, and rate certificates.

Problem and updates (paper §2, Algorithm 1, Algorithm 2 eqs. (4)-(7))
--------------------------------------------------------------------------------
All three methods share the KL-proximal primal step (our derivation of the maximiser of (4)/(6)):

    log pi_new = gamma log pi_hat + (1 - gamma) log pi_ref + b S_lam  - logZ ,
    gamma = eta_th / (eta_th + beta),   b = 1 / (eta_th + beta),

and the projected dual step ``lam_new = [lam_hat - kappa c(pi)]_+`` with ``kappa = 1/(2 eta_lam)``
(``dual_step="prox"``, the exact argmin of eqs. (5)/(7)) or ``kappa = 1/eta_lam``
(``dual_step="gradient"``, eqs. (9)/(11), and Algorithm 1's step ``lam - g/eta_lam``).

* ``"opd"`` (Algorithm 2): state ``(pi_hat_t, lam_hat_t, pi_{t-1}, lam_{t-1})``;
  ``pi_t = P(pi_hat_t, lam_{t-1})``, ``lam_t = [lam_hat_t - kappa c(pi_{t-1})]_+``,
  ``pi_hat_{t+1} = P(pi_hat_t, lam_t)``, ``lam_hat_{t+1} = [lam_hat_t - kappa c(pi_t)]_+``.
* ``"simultaneous-gda"`` (Jacobi; Figure 1's PD): ``pi_{t+1} = P(pi_t, lam_t)``,
  ``lam_{t+1} = [lam_t - kappa c(pi_t)]_+``.
* ``"alternating-gda"`` (Gauss–Seidel; Algorithm 1 with the one-step mirror oracle):
  ``pi_{t+1} = P(pi_t, lam_t)``, ``lam_{t+1} = [lam_t - kappa c(pi_{t+1})]_+``.

Coordinates
-----------
In logits the primal step is *affine*; the only non-linearity is ``c(pi) = E_{rho,pi}[R_H]``
through the softmax. We use reduced logits ``u[x, y] = log pi[x, y] - log pi[x, n-1]``,
``y < n-1`` (``N = X (n-1)`` coordinates; the per-prompt constant is gauge), and the active
multipliers ``A = {j : lam*_j > 0}`` (``m = |A|``). With ``C_x = diag(pi*_x) - pi*_x pi*_x^T``
(the softmax Jacobian at ``pi*``, exact because only the rational ``pi*`` enters it):

    B[(x,y), j] = R_j[x, y] - R_j[x, n-1]                 (N x m; how lam_j moves the logits)
    W = blockdiag_x( rho_x C_x[:n-1, :n-1] )               (N x N, symmetric positive definite)
    J = B^T W = d c_A / d u  at pi*                        (m x N)
    H = J B = sum_x rho_x Cov_{pi*_x}(R_A)                  (m x m; beta * Hessian of D)

and the Jacobians on the stacked state are, with ``I`` identities of matching size,

    simultaneous:  [[gamma I, b B], [-kappa J, I]]
    alternating:   [[gamma I, b B], [-kappa gamma J, I - kappa b H]]
    OPD, state (u_hat, lam_hat, u_prev, lam_prev):
                   [[gamma I,         b B, -kappa b B J, 0          ],
                    [-kappa gamma J,  I,   0,            -kappa b H ],
                    [gamma I,         0,   0,            b B        ],
                    [0,               I,   -kappa J,     0          ]]

Per-mode factorization (cross-check against the per-mode polynomials derived by hand)
-----------------------------------------------------------------------
With ``a = b beta = 1 - gamma`` and ``c_j = kappa b h_j`` (``h_j`` the eigenvalues of ``H``), a Schur
complement gives, exactly over the rationals,

    charpoly = (mu - gamma)^(N-m) * det P(mu, kappa b H)                     (both GDA)
    charpoly = mu^(N-m) (mu - gamma)^(N-m) * det P(mu, kappa b H)            (OPD)

where ``P(mu, c)`` is the per-mode polynomial of :func:`mode_polynomial`:
simultaneous ``mu^2 - (2-a) mu + (1-a+c)``, alternating ``mu^2 - (2-a-c) mu + (1-a)``, OPD
``mu^4 + (a-2) mu^3 + (1-a+4c-2ac) mu^2 + (3ac-4c) mu + c(1-a)``; ``det P(mu, kappa b H)`` is
``prod_j P(mu, c_j)`` and has rational coefficients although the ``h_j`` need not be rational.
(a first derivation writes ``a = eta_pi beta``, ``c = eta_pi eta_lam h_j``: there ``eta_pi = b`` is the primal *step*
``1/(eta_th+beta)`` and ``eta_lam = kappa`` the dual *step*, not the paper's proximal weights.)

Approximations the linearization makes (stated in every report)
----------------------------------------------------------------
1. *Strict complementarity*: every active multiplier has ``lam*_j > 0`` and every inactive
   constraint is strictly slack (``c_j(pi*) > 0``). Then near the saddle point the projection
   ``[.]_+`` is the identity on ``A`` and keeps ``lam_j = 0`` off ``A`` (those coordinates are
   frozen, eigenvalue 0, so they are dropped). A degenerate constraint (``lam*_j = 0`` and
   ``c_j(pi*) = 0``) makes the map non-smooth; it is not covered.
2. *Support of pi*:* with ``beta > 0`` the saddle policy is a softmax of finite logits, so its
   support is full and the reduced logits are valid coordinates. ``beta = 0`` (LP extension) can
   have a vertex ``pi*``; the map is then not differentiable there and nothing here applies.
3. *Linear regime*: the certificate is the spectral radius of the derivative, i.e. the asymptotic
   rate ``lim ||e_t||^(1/t)`` of iterates that converge to (or start close to) the saddle point.
   Transients, the far-from-saddle phase, and the threshold where the nonlinear terms matter are
   not certified.
4. The instances are built by inverse design with rational ``pi*``, ``lam*``, ``G``, ``beta``:
   the float :class:`~opdcheck.problem.Problem` has that saddle point up to float rounding of
   ``pi_ref`` (~1e-16 relative), which moves the spectral radius by a comparable amount.

Everything is exact: sympy ``Rational`` matrices, the characteristic polynomial over ``QQ``
(computed after substituting the fixed point, never with symbolic softmax Jacobians), and the
Schur–Cohn test of :mod:`opdcheck.theory.schur_cohn`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import sympy as sp

from opdcheck.methods import certified_methods
from sympy.polys.matrices import DomainMatrix

from opdcheck.theory.schur_cohn import is_schur_stable, radius_enclosure, radius_enclosure_near

__all__ = ["METHODS", "RationalDesign", "inverse_design_rational", "reduced_blocks", "covariance_matrix",
           "step_constants", "jacobian", "charpoly_coeffs", "mode_polynomial", "predicted_charpoly",
           "RateCertificate", "certify_rate", "MU", "covariance_exact", "ModeCertificate", "certify_modes"]

#: canonical names of the certified methods (the registry, :mod:`opdcheck.methods`; callers canonicalise aliases)
METHODS = certified_methods()
DUAL_STEPS = ("prox", "gradient")
MU = sp.Symbol("mu")


# ------------------------------------------------------------------------------------ rationals
def _q(value: Any, name: str) -> sp.Rational:
    """An exact rational from int / Fraction / sympy Rational / rational string; floats refused."""
    if isinstance(value, bool):
        raise ValueError(f"{name} = {value!r} is a bool; pass a rational number.")
    if isinstance(value, float):
        raise ValueError(f"{name} = {value!r} is a float; exact linearization needs rationals. "
                         f"Pass Fraction('{value!r}') or a string like '1/10'.")
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, (int, str)):
        try:
            r = sp.Rational(value)
        except (TypeError, ValueError, SyntaxError):
            raise ValueError(f"{name} = {value!r} is not a rational literal; pass e.g. '3/7'.") from None
        return r
    if isinstance(value, sp.Basic) and value.is_Rational:
        return sp.Rational(value)
    raise ValueError(f"{name} = {value!r} (type {type(value).__name__}) is not rational; pass int, "
                     "Fraction, sympy Rational or a rational string.")


def _to_fraction(r: Any) -> Fraction:
    r = sp.Rational(r)
    return Fraction(int(r.p), int(r.q))


# ------------------------------------------------------------------------------- inverse design
@dataclass(frozen=True)
class RationalDesign:
    """An instance with an exactly known rational saddle point, plus its float :class:`Problem`.

    ``R_hard[j][x][y] = G[j][x][y] - b_j`` with ``b_j = c_G(pi*)_j`` when ``lam*_j > 0`` (active,
    ``c_j(pi*) = 0``) and ``b_j = c_G(pi*)_j - max|G| / 10`` otherwise (strictly slack), exactly as
    :func:`opdcheck.instances.inverse_design_instance` builds the float instance.
    """

    rho: tuple            # (X,) sympy Rationals
    pi_star: tuple        # (X, n)
    R_hard: tuple         # (h, X, n)
    lam_star: tuple       # (h,)
    beta: sp.Rational
    active: tuple         # indices j with lam*_j > 0
    problem: Any          # opdcheck.problem.Problem (float64)
    name: str = "inverse-design-rational"

    @property
    def X(self) -> int:
        return len(self.pi_star)

    @property
    def n(self) -> int:
        return len(self.pi_star[0])

    @property
    def h(self) -> int:
        return len(self.lam_star)

    def describe(self) -> dict:
        """Flat, JSON-friendly description (rationals as strings)."""
        return {"name": self.name, "X": self.X, "n": self.n, "h": self.h, "beta": str(self.beta),
                "pi_star": [[str(p) for p in row] for row in self.pi_star],
                "lam_star": [str(v) for v in self.lam_star], "active": list(self.active),
                "rho": [str(r) for r in self.rho]}


def inverse_design_rational(pi_star: Sequence[Sequence[Any]], lam_star: Sequence[Any],
                            G: Sequence[Sequence[Sequence[Any]]], beta: Any, *,
                            R_soft: Sequence[Sequence[Sequence[Any]]] | None = None,
                            rho: Sequence[Any] | None = None,
                            name: str = "inverse-design-rational") -> RationalDesign:
    """Build an instance whose saddle point is the given rational ``(pi*, lam*)``.

    Choose rational ``pi*`` (rows on the simplex, all entries > 0), ``lam* >= 0`` (at least one
    > 0), raw hard rewards ``G`` (h, X, n), ``beta > 0`` and optionally ``R_soft`` (K, X, n; default
    one zero table) and ``rho`` (default uniform). Thresholds make the constraints with
    ``lam*_j > 0`` active at ``pi*``, the others strictly slack; ``pi_ref ∝ pi* exp(-S_{lam*}/beta)``
    (float) makes ``pi* = pi_{lam*}`` (eq. (3)). The float instance comes from
    :func:`opdcheck.instances.inverse_design_instance`.
    """
    pis = [[_q(v, f"pi_star[{x}][{y}]") for y, v in enumerate(row)] for x, row in enumerate(pi_star)]
    X = len(pis)
    if X < 1 or any(len(row) != len(pis[0]) for row in pis) or len(pis[0]) < 2:
        raise ValueError(f"pi_star: ragged or too small ({[len(r) for r in pis]}); pass X >= 1 rows of "
                         "equal length n >= 2.")
    n = len(pis[0])
    for x, row in enumerate(pis):
        if any(p <= 0 for p in row):
            raise ValueError(f"pi_star[{x}] = {[str(p) for p in row]}: every entry must be > 0 (with beta > 0 "
                             "the saddle policy has full support).")
        if sum(row) != 1:
            raise ValueError(f"pi_star[{x}] sums to {sum(row)}, not exactly 1; pass exact rationals on the simplex.")
    lams = [_q(v, f"lam_star[{j}]") for j, v in enumerate(lam_star)]
    h = len(lams)
    if h < 1 or any(v < 0 for v in lams) or all(v == 0 for v in lams):
        raise ValueError(f"lam_star = {[str(v) for v in lams]}: pass h >= 1 values >= 0, at least one > 0.")
    beta_q = _q(beta, "beta")
    if beta_q <= 0:
        raise ValueError(f"beta = {beta_q}: the inverse design (and the linearization) need beta > 0.")
    Gq = [[[_q(v, f"G[{j}][{x}][{y}]") for y, v in enumerate(row)] for x, row in enumerate(Gj)]
          for j, Gj in enumerate(G)]
    if len(Gq) != h or any(len(Gj) != X or any(len(r) != n for r in Gj) for Gj in Gq):
        raise ValueError(f"G: expected shape ({h}, {X}, {n}) to match lam_star and pi_star.")
    rhos = [sp.Rational(1, X)] * X if rho is None else [_q(v, f"rho[{x}]") for x, v in enumerate(rho)]
    if len(rhos) != X or any(r <= 0 for r in rhos) or sum(rhos) != 1:
        raise ValueError(f"rho = {[str(r) for r in rhos]}: pass X = {X} positive rationals summing to 1.")
    if R_soft is None:
        R_soft_q = [[[sp.Integer(0)] * n for _ in range(X)]]
    else:
        R_soft_q = [[[_q(v, f"R_soft[{k}][{x}][{y}]") for y, v in enumerate(row)] for x, row in enumerate(Rk)]
                    for k, Rk in enumerate(R_soft)]
    gmax = max(abs(v) for Gj in Gq for row in Gj for v in row)
    if gmax == 0:
        raise ValueError("G: all zero; the constraints would not depend on the policy.")
    R_hard = []
    for j in range(h):
        cG = sum(rhos[x] * pis[x][y] * Gq[j][x][y] for x in range(X) for y in range(n))
        b = cG if lams[j] > 0 else cG - gmax / 10
        R_hard.append(tuple(tuple(Gq[j][x][y] - b for y in range(n)) for x in range(X)))
    active = tuple(j for j in range(h) if lams[j] > 0)

    from opdcheck.instances import inverse_design_instance  # float side; imported lazily (numpy)

    problem = inverse_design_instance(
        pi_star=[[float(p) for p in row] for row in pis], lam_star=[float(v) for v in lams],
        R_soft=[[[float(v) for v in row] for row in Rk] for Rk in R_soft_q],
        G=[[[float(v) for v in row] for row in Gj] for Gj in Gq], beta=float(beta_q),
        rho=[float(r) for r in rhos], name=name)
    return RationalDesign(rho=tuple(rhos), pi_star=tuple(tuple(r) for r in pis), R_hard=tuple(R_hard),
                          lam_star=tuple(lams), beta=beta_q, active=active, problem=problem, name=name)


# ------------------------------------------------------------------------------ linear algebra
def reduced_blocks(design: RationalDesign) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """``(B, W, J)`` of the module docstring, exact, at ``pi*`` (reduced logits, active multipliers)."""
    X, n, A = design.X, design.n, design.active
    N, m = X * (n - 1), len(A)
    B = sp.zeros(N, m)
    W = sp.zeros(N, N)
    for x in range(X):
        p = design.pi_star[x]
        for y in range(n - 1):
            row = x * (n - 1) + y
            for k, j in enumerate(A):
                B[row, k] = design.R_hard[j][x][y] - design.R_hard[j][x][n - 1]
            for y2 in range(n - 1):
                cov = (p[y] if y == y2 else 0) - p[y] * p[y2]
                W[row, x * (n - 1) + y2] = design.rho[x] * cov
    J = B.T * W
    return B, W, J


def covariance_matrix(design: RationalDesign) -> sp.Matrix:
    """``H = sum_x rho_x Cov_{pi*_x}(R_A)`` (m x m): ``beta`` times the Hessian of ``D`` on the active set."""
    B, _, J = reduced_blocks(design)
    return J * B


def step_constants(design: RationalDesign, eta_th: Any, eta_lam: Any, dual_step: str = "prox"
                   ) -> dict[str, sp.Rational]:
    """``gamma = eta/(eta+beta)``, ``b = 1/(eta+beta)``, ``kappa``, ``a = b beta`` as exact rationals."""
    if dual_step not in DUAL_STEPS:
        raise ValueError(f"dual_step = {dual_step!r}; choose one of {DUAL_STEPS}.")
    eta = _q(eta_th, "eta_th")
    el = _q(eta_lam, "eta_lam")
    if eta < 0 or eta + design.beta <= 0:
        raise ValueError(f"eta_th = {eta}: pass eta_th >= 0 (the primal step is 1/(eta_th + beta)).")
    if el <= 0:
        raise ValueError(f"eta_lam = {el}: pass eta_lam > 0.")
    b = 1 / (eta + design.beta)
    kappa = 1 / (2 * el) if dual_step == "prox" else 1 / el
    return {"gamma": eta * b, "b": b, "kappa": kappa, "a": design.beta * b}


def _explicit(rows: list[list[sp.Matrix]]) -> sp.ImmutableMatrix:
    """The block matrix ``rows`` written out: what ``sp.BlockMatrix(rows).as_explicit()`` returns (the same
    entries), by stacking the blocks instead of indexing the block expression entry by entry."""
    return sp.ImmutableMatrix(sp.Matrix.vstack(*[sp.Matrix.hstack(*row) for row in rows]))


def jacobian(design: RationalDesign, method: str, eta_th: Any, eta_lam: Any, dual_step: str = "prox"
             ) -> sp.Matrix:
    """The exact Jacobian of ``method``'s update map at the saddle point (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method = {method!r}; choose one of {METHODS}.")
    k = step_constants(design, eta_th, eta_lam, dual_step)
    g, b, kap = k["gamma"], k["b"], k["kappa"]
    B, _, J = reduced_blocks(design)
    N, m = B.shape
    IN, Im = sp.eye(N), sp.eye(m)
    if method == "simultaneous-gda":
        return _explicit([[g * IN, b * B], [-kap * J, Im]])
    if method == "alternating-gda":
        return _explicit([[g * IN, b * B], [-kap * g * J, Im - kap * b * (J * B)]])
    ZNm, ZmN, Zmm, ZNN = sp.zeros(N, m), sp.zeros(m, N), sp.zeros(m, m), sp.zeros(N, N)
    return _explicit([
        [g * IN, b * B, -kap * b * (B * J), ZNm],
        [-kap * g * J, Im, ZmN, -kap * b * (J * B)],
        [g * IN, ZNm, ZNN, b * B],
        [ZmN, Im, -kap * J, Zmm],
    ])


def charpoly_coeffs(M: sp.Matrix) -> list[Fraction]:
    """Characteristic polynomial ``det(mu I - M)`` over ``QQ``, highest degree first, as Fractions."""
    dm = DomainMatrix.from_Matrix(M).convert_to(sp.QQ)
    return [Fraction(int(c.numerator), int(c.denominator)) for c in dm.charpoly()]


def mode_polynomial(method: str, a: Any, c: Any, mu: sp.Symbol = MU) -> sp.Expr:
    """The per-mode polynomial (rate-certificate), in ``mu``.

    ``a = beta/(eta_th+beta)``, ``c = kappa h_j/(eta_th+beta)``.
    """
    if method == "simultaneous-gda":
        return mu**2 - (2 - a) * mu + (1 - a + c)
    if method == "alternating-gda":
        return mu**2 - (2 - a - c) * mu + (1 - a)
    if method == "opd":
        return mu**4 + (a - 2) * mu**3 + (1 - a + 4 * c - 2 * a * c) * mu**2 + (3 * a * c - 4 * c) * mu + c * (1 - a)
    raise ValueError(f"method = {method!r}; choose one of {METHODS}.")


def predicted_charpoly(design: RationalDesign, method: str, eta_th: Any, eta_lam: Any,
                       dual_step: str = "prox") -> list[Fraction]:
    """The characteristic polynomial assembled from the per-mode polynomials derived by hand (cross-check).

    ``(mu-gamma)^(N-m) [mu^(N-m) for OPD] * det P(mu, kappa b H)``, where the matrix polynomial
    ``P(mu, C)`` substitutes the matrix ``C = kappa b H`` for ``c`` in :func:`mode_polynomial`.
    """
    k = step_constants(design, eta_th, eta_lam, dual_step)
    B, _, J = reduced_blocks(design)
    N, m = B.shape
    Cmat = k["kappa"] * k["b"] * (J * B)
    cc = sp.Symbol("c")
    poly_c = sp.Poly(sp.expand(mode_polynomial(method, k["a"], cc, MU)), cc)
    P = sp.zeros(m, m)
    power = sp.eye(m)
    for deg in range(poly_c.degree() + 1):
        coef = poly_c.coeff_monomial(cc**deg)
        P += coef * power
        power = power * Cmat
    det = sp.expand(P.det(method="berkowitz"))
    extra = (MU - k["gamma"]) ** (N - m) * (MU ** (N - m) if method == "opd" else 1)
    poly = sp.Poly(sp.expand(det * extra), MU, domain=sp.QQ)
    return [_to_fraction(c) for c in poly.all_coeffs()]


# -------------------------------------------------------------------------------- certificates
@dataclass
class RateCertificate:
    """A certified enclosure ``lo <= spectral radius < hi`` of a method's linearized update.

    ``stable`` is True iff the exact Schur–Cohn test proves every eigenvalue strictly inside the
    unit circle; ``unstable`` iff it proves some eigenvalue with modulus ``> 1`` (``lo > 1``);
    both False means the radius is 1 (e.g. a rotation) or within ``tol`` of it.
    """

    method: str
    dual_step: str
    eta_th: Fraction
    eta_lam: Fraction
    dim: int
    charpoly: list[Fraction]
    factors: list[tuple[list[Fraction], int]]
    lo: Fraction
    hi: Fraction
    stable: bool
    unstable: bool
    constants: dict = field(default_factory=dict)
    h_eigs: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mid(self) -> float:
        return float((self.lo + self.hi) / 2)


def _float_radius(coeffs: Sequence[Fraction]) -> float | None:
    """A float estimate of a polynomial's spectral radius (numpy's roots), only to point the exact enclosure at
    the right cell of its bisection grid (the enclosure is the bisection's, whatever this returns)."""
    import numpy as np  # only to seed the exact enclosure with a float estimate

    try:
        return float(np.max(np.abs(np.roots([float(v) for v in coeffs]))))
    except (OverflowError, ValueError, np.linalg.LinAlgError):
        return None


def certify_rate(design: RationalDesign, method: str, eta_th: Any, eta_lam: Any, dual_step: str = "prox",
                 tol: Any = Fraction(1, 10**6)) -> RateCertificate:
    """Certify the spectral radius of ``method``'s Jacobian at the saddle point of ``design``.

    Forms the exact Jacobian (:func:`jacobian`), its characteristic polynomial over ``QQ``,
    factors it over ``QQ`` (so Schur–Cohn runs on small factors), and bisects each distinct
    factor with the exact test (:func:`~opdcheck.theory.schur_cohn.radius_enclosure`). The radius
    of the product is the max over the factors, so ``lo = max lo_i``, ``hi = max hi_i``.
    """
    t0 = time.perf_counter()
    M = jacobian(design, method, eta_th, eta_lam, dual_step)
    cp = charpoly_coeffs(M)
    poly = sp.Poly([sp.Rational(c.numerator, c.denominator) for c in cp], MU, domain=sp.QQ)
    _, flist = sp.factor_list(poly)
    factors = [([_to_fraction(c) for c in f.all_coeffs()], int(e)) for f, e in flist]
    tol_q = _q(tol, "tol")
    lo, hi = Fraction(0), Fraction(0)
    stable = True
    for coeffs, _ in factors:
        if len(coeffs) == 1:
            continue
        flo, fhi = radius_enclosure(coeffs, _to_fraction(tol_q), estimate=_float_radius(coeffs))
        lo, hi = max(lo, flo), max(hi, fhi)
        stable = stable and is_schur_stable(coeffs)
    unstable = lo > 1  # certified: some eigenvalue has modulus >= lo > 1
    k = step_constants(design, eta_th, eta_lam, dual_step)
    H = covariance_matrix(design)
    # H is symmetric positive semi-definite: its eigenvalues are real (numerical values, for reports only)
    h_eigs = sorted(float(sp.re(v)) for v in sp.Poly(H.charpoly(MU).as_expr(), MU).nroots()) if H.shape[0] else []
    return RateCertificate(method=method, dual_step=dual_step, eta_th=_to_fraction(_q(eta_th, "eta_th")),
                           eta_lam=_to_fraction(_q(eta_lam, "eta_lam")), dim=M.shape[0], charpoly=cp,
                           factors=factors, lo=lo, hi=hi, stable=stable, unstable=bool(unstable),
                           constants={kk: str(v) for kk, v in k.items()}, h_eigs=h_eigs,
                           seconds=time.perf_counter() - t0)



# ------------------------------------------------------------------ mode certificates (any size)
def covariance_exact(design: RationalDesign) -> sp.Matrix:
    """``H = sum_x rho_x Cov_{pi*_x}(R_A)`` computed directly (``O(X n m^2)`` rationals, no ``N x N``
    matrix): equal to :func:`covariance_matrix` (tested), usable for thousands of (prompt, response) pairs."""
    A = design.active
    m = len(A)
    H = [[Fraction(0)] * m for _ in range(m)]
    pis = [[_to_fraction(p) for p in row] for row in design.pi_star]
    R = [[[_to_fraction(v) for v in row] for row in design.R_hard[j]] for j in A]
    for x in range(design.X):
        rx = _to_fraction(design.rho[x])
        p = pis[x]
        means = [sum(pi * r for pi, r in zip(p, R[k][x])) for k in range(m)]
        for k in range(m):
            for l in range(k, m):
                cov = sum(pi * r1 * r2 for pi, r1, r2 in zip(p, R[k][x], R[l][x])) - means[k] * means[l]
                H[k][l] += rx * cov
                H[l][k] = H[k][l]
    return sp.Matrix(m, m, lambda i, j: sp.Rational(H[i][j].numerator, H[i][j].denominator))


def _matrix_polynomial_det(poly_c: sp.Poly, Cmat: sp.Matrix) -> sp.Poly:
    """``det sum_k p_k(mu) C^k`` over ``QQ[mu]`` (sympy's polynomial domain: fast with long rationals)."""
    from sympy.polys.matrices import DomainMatrix

    m = Cmat.shape[0]
    R = sp.QQ[MU]
    Cd = DomainMatrix.from_Matrix(Cmat).convert_to(R)
    P = DomainMatrix.zeros((m, m), R)
    power = DomainMatrix.eye(m, R)
    cc = poly_c.gens[0]
    for deg in range(poly_c.degree() + 1):
        P = P + power * R.from_sympy(poly_c.coeff_monomial(cc**deg))
        power = power * Cd
    return sp.Poly(R.to_sympy(P.det()), MU, domain=sp.QQ)


@dataclass
class ModeCertificate:
    """Certified enclosure ``lo <= r < hi`` of the local rate from the mode factorization.

    ``r = max(gamma [if N > m], radius of det P(mu, kappa b H))``: the characteristic polynomial of
    the full Jacobian is ``(mu-gamma)^(N-m) [mu^(N-m)] det P(mu, kappa b H)`` (module docstring;
    verified against :func:`certify_rate` on small instances), so only the ``m x m`` matrix ``H`` is
    needed. ``mode_poly`` is ``det P(mu, kappa b H)`` over ``QQ`` (highest degree first).
    """

    method: str
    dual_step: str
    lo: Fraction
    hi: Fraction
    gamma: Fraction
    extra_primal: bool
    mode_poly: list[Fraction]
    H: list[list[Fraction]]
    constants: dict
    stable: bool
    unstable: bool
    seconds: float = 0.0

    @property
    def mid(self) -> float:
        return float((self.lo + self.hi) / 2)


def certify_modes(design: RationalDesign, method: str, eta_th: Any, eta_lam: Any, dual_step: str = "prox",
                  tol: Any = Fraction(1, 10**6)) -> ModeCertificate:
    """Exact Schur–Cohn enclosure of ``method``'s local rate on ``design`` via the mode factorization."""
    if method not in METHODS:
        raise ValueError(f"method = {method!r}; choose one of {METHODS}.")
    t0 = time.perf_counter()
    k = step_constants(design, eta_th, eta_lam, dual_step)
    m = len(design.active)
    N = design.X * (design.n - 1)
    if m == 0:
        raise ValueError("design has no active constraint (every lam*_j = 0): the dual is frozen at 0 and "
                         "the local rate is gamma = eta_th/(eta_th+beta); nothing to certify.")
    H = covariance_exact(design)
    Cmat = k["kappa"] * k["b"] * H
    cc = sp.Symbol("c")
    poly_c = sp.Poly(sp.expand(mode_polynomial(method, k["a"], cc, MU)), cc)
    det = _matrix_polynomial_det(poly_c, Cmat)
    tol_f = _to_fraction(_q(tol, "tol"))
    coeffs = [_to_fraction(c) for c in det.all_coeffs()]
    import numpy as np  # only to seed the exact enclosure with a float estimate

    # per-mode float estimate (well conditioned: one quartic per eigenvalue) to seed the exact test
    c_num = np.linalg.eigvalsh(np.array([[float(Cmat[i, j]) for j in range(m)] for i in range(m)]))
    a_f = float(k["a"])
    est = max(float(np.max(np.abs(np.roots([float(sp.sympify(v)) for v in sp.Poly(
        mode_polynomial(method, a_f, float(cj), MU), MU).all_coeffs()])))) for cj in c_num)
    lo, hi = radius_enclosure_near(coeffs, est, tol_f)
    stable = is_schur_stable(coeffs)
    gamma = _to_fraction(k["gamma"])
    extra = N > m
    if extra and gamma >= hi:  # the root gamma is exact: the enclosure collapses onto it
        lo, hi = gamma, gamma
    elif extra:
        lo = max(lo, gamma)
    stable = stable and (not extra or gamma < 1)
    return ModeCertificate(method=method, dual_step=dual_step, lo=lo, hi=hi, gamma=gamma, extra_primal=extra,
                           mode_poly=[_to_fraction(c) for c in det.all_coeffs()],
                           H=[[_to_fraction(H[i, j]) for j in range(m)] for i in range(m)],
                           constants={kk: str(v) for kk, v in k.items()}, stable=stable, unstable=lo > 1,
                           seconds=time.perf_counter() - t0)
