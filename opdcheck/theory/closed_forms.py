"""Closed forms of the OPD updates of Algorithm 2 (eqs. (4)-(7)), derived in sympy, and the paper's.

Problem (per prompt x; the objective of eqs. (4)/(6) separates over prompts)::

    max_{pi in simplex}  sum_y pi_y S_y - beta KL(pi || pi_ref) - eta KL(pi || pi_hat)

Update (derived here from the stationarity conditions on the simplex)::

    pi_y ∝ pi_hat_y^(eta/(eta+beta)) pi_ref_y^(beta/(eta+beta)) exp(S_y / (eta+beta))

Claim checked: the paper prints ``exp(S_y)`` instead of ``exp(S_y/(eta+beta))`` (proof of Thm 3.4,
after eq. (47), the two displays giving pi_t and pi_hat_{t+1}); its own proof of Remark 3.5 (App. D,
eq. (49) and the display after it) has the ``1/(eta+beta)``.

Dual problem of eqs. (5)/(7) (one coordinate; it separates over constraints)::

    min_{lam >= 0}  lam c + eta_lam (lam - lam_hat)^2   =>   lam = [lam_hat - c/(2 eta_lam)]_+

versus eqs. (9)/(11) of Algorithm 3 (and line 6 of Algorithm 1): ``[lam_hat - c/eta_lam]_+``.

Everything here is sympy; the judging functions take the expression under test as a parameter so
that a mutated closed form can be passed in a test (negative control).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import sympy as sp

__all__ = [
    "ETA", "BETA", "ETA_LAM", "S_y", "LOGHAT_y", "LOGREF_y", "PIHAT_y", "PIREF_y",
    "LAM", "LAM_HAT", "C_VAL",
    "prox_stationarity", "derive_prox_log_weight", "derived_prox_weight", "printed_prox_weight",
    "log_weight", "stationarity_residual", "concrete_kkt_residuals", "compare", "judge_closed_form",
    "printed_agreement_condition",
    "derive_dual_prox", "printed_dual_step", "dual_step_coefficient", "compare_dual", "judge_dual_step",
    "alg3_eta_matching_alg2", "plain",
]

# ------------------------------------------------------------------------------------------ symbols
ETA = sp.Symbol("eta_theta", positive=True)
BETA = sp.Symbol("beta", positive=True)
ETA_LAM = sp.Symbol("eta_lambda", positive=True)

# generic coordinate y (the structure does not depend on n: the normaliser cancels in every
# stationarity difference), and a second coordinate k to form those differences.
S_y, S_k = sp.symbols("S_y S_k", real=True)
LOGHAT_y = sp.Symbol(r"\log\hat{\pi}_y", real=True)      # log pi_hat
LOGHAT_k = sp.Symbol(r"\log\hat{\pi}_k", real=True)
LOGREF_y = sp.Symbol(r"\log\pi_{\mathrm{ref},y}", real=True)   # log pi_ref
LOGREF_k = sp.Symbol(r"\log\pi_{\mathrm{ref},k}", real=True)
PIHAT_y = sp.Symbol(r"\hat{\pi}_y", positive=True)
PIREF_y = sp.Symbol(r"\pi_{\mathrm{ref},y}", positive=True)
_NU = sp.Symbol("nu", real=True)          # multiplier of sum_y pi_y = 1
_LOGPI = sp.Symbol(r"\log\pi_y", real=True)    # log pi_y

LAM = sp.Symbol("lambda", nonnegative=True)
LAM_HAT = sp.Symbol(r"\hat{\lambda}", nonnegative=True)
C_VAL = sp.Symbol("c", real=True)          # the constraint value c_j(pi) = dL/dlam_j


# ------------------------------------------------------------------------- primal: eqs. (4)/(6)
def prox_stationarity(logpi: sp.Expr = _LOGPI, S: sp.Expr = S_y, loghat: sp.Expr = LOGHAT_y,
                      logref: sp.Expr = LOGREF_y, eta: sp.Expr = ETA, beta: sp.Expr = BETA) -> sp.Expr:
    """d/dpi_y of ``sum pi S - beta KL(pi||pi_ref) - eta KL(pi||pi_hat)``, without the multiplier.

    ``S_y - beta (log pi_y - log pi_ref_y + 1) - eta (log pi_y - log pi_hat_y + 1)``. On the relative
    interior of the simplex the KKT conditions say this equals ``-nu`` for every y.
    """
    return S - beta * (logpi - logref + 1) - eta * (logpi - loghat + 1)


@lru_cache(maxsize=None)
def derive_prox_log_weight() -> sp.Expr:
    """Solve the stationarity condition of eqs. (4)/(6) for ``log pi_y`` (sympy.solve).

    ``prox_stationarity + nu = 0`` gives ``log pi_y = (S_y + beta l_ref + eta l_hat + nu - beta - eta)/(eta+beta)``;
    the y-independent part is fixed by normalisation, so the unnormalised log-weight is
    ``(S_y + beta log pi_ref_y + eta log pi_hat_y) / (eta + beta)``. The objective is strictly concave
    (``eta + beta > 0`` times the negative entropy), so this interior stationary point is the maximiser.
    """
    sols = sp.solve(sp.Eq(prox_stationarity() + _NU, 0), _LOGPI)
    if len(sols) != 1:
        raise RuntimeError(f"derive_prox_log_weight: expected one solution for log pi_y, got {sols}")
    sol = sp.expand(sols[0])
    const = sol.subs({S_y: 0, LOGHAT_y: 0, LOGREF_y: 0})   # the y-independent part (nu, -beta, -eta)
    return sp.simplify(sol - const)


def derived_prox_weight() -> sp.Expr:
    """``pi_hat^(eta/(eta+beta)) pi_ref^(beta/(eta+beta)) exp(S/(eta+beta))`` (unnormalised)."""
    lw = derive_prox_log_weight().subs({LOGHAT_y: sp.log(PIHAT_y), LOGREF_y: sp.log(PIREF_y)})
    w = sp.powsimp(sp.exp(sp.expand(lw)), combine="exp")
    # write it in the paper's product form and make sure it is the same expression
    product = PIHAT_y ** (ETA / (ETA + BETA)) * PIREF_y ** (BETA / (ETA + BETA)) * sp.exp(S_y / (ETA + BETA))
    if sp.simplify(sp.expand_log(sp.log(product), force=True) - sp.expand_log(sp.log(w), force=True)) != 0:
        raise RuntimeError("derived_prox_weight: product form disagrees with the solved log-weight")
    return product


def printed_prox_weight() -> sp.Expr:
    """The paper's printed form (proof of Thm 3.4, displays for pi_t and pi_hat_{t+1}): ``exp(S)``."""
    return PIHAT_y ** (ETA / (ETA + BETA)) * PIREF_y ** (BETA / (ETA + BETA)) * sp.exp(S_y)


def log_weight(weight: sp.Expr) -> sp.Expr:
    """``log w_y`` written in the log-symbols ``S_y, ell_hat_y, ell_ref_y``."""
    lw = sp.expand_log(sp.log(weight), force=True)
    return sp.expand(lw.subs({sp.log(PIHAT_y): LOGHAT_y, sp.log(PIREF_y): LOGREF_y}))


def _at_k(expr: sp.Expr) -> sp.Expr:
    return expr.subs({S_y: S_k, LOGHAT_y: LOGHAT_k, LOGREF_y: LOGREF_k}, simultaneous=True)


def stationarity_residual(weight: sp.Expr) -> sp.Expr:
    """``g_y - g_k`` at ``pi ∝ weight`` for two generic coordinates (any n: the normaliser cancels).

    Zero identically iff the candidate satisfies the KKT conditions of eqs. (4)/(6) on the relative
    interior of the simplex, i.e. iff it is the maximiser.
    """
    lw = log_weight(weight)
    g_y = prox_stationarity(logpi=lw)
    g_k = prox_stationarity(logpi=_at_k(lw), S=S_k, loghat=LOGHAT_k, logref=LOGREF_k)
    return sp.factor(sp.simplify(g_y - g_k))


def concrete_kkt_residuals(weight: sp.Expr, n: int) -> list[sp.Expr]:
    """Full check for a concrete n (2 or 3): normalise, differentiate the objective, compare coordinates.

    Returns ``[g_i - g_0 for i = 1..n-1] + [sum_i pi_i - 1]``, each simplified; all zero iff the
    normalised candidate is stationary on the simplex.
    """
    if not isinstance(n, int) or n < 2 or n > 4:
        raise ValueError(f"concrete_kkt_residuals: n = {n!r}; pass an integer 2 <= n <= 4 (sympy cost grows fast).")
    S = sp.symbols(f"S_0:{n}", real=True)
    hat = sp.symbols(f"hatpi_0:{n}", positive=True)
    ref = sp.symbols(f"refpi_0:{n}", positive=True)
    ws = [weight.subs({S_y: S[i], PIHAT_y: hat[i], PIREF_y: ref[i]}, simultaneous=True) for i in range(n)]
    Z = sp.Add(*ws)
    x = sp.symbols(f"p_0:{n}", positive=True)
    f = sum(x[i] * S[i] - BETA * x[i] * sp.log(x[i] / ref[i]) - ETA * x[i] * sp.log(x[i] / hat[i]) for i in range(n))
    grads = [sp.diff(f, x[i]).subs({x[j]: ws[j] / Z for j in range(n)}, simultaneous=True) for i in range(n)]
    out = [sp.simplify(sp.expand_log(grads[i] - grads[0], force=True)) for i in range(1, n)]
    out.append(sp.simplify(sum(w / Z for w in ws) - 1))
    return out


def compare(candidate: sp.Expr, reference: sp.Expr | None = None) -> dict[str, Any]:
    """Compare two unnormalised closed forms of eqs. (4)/(6).

    Two weights define the same policy iff their log-odds ``log w_y - log w_k`` agree identically.
    Returns ``{"same_policy", "log_odds_difference", "candidate_stationary", "candidate_residual"}``.
    """
    reference = derived_prox_weight() if reference is None else reference
    lc, lr = log_weight(candidate), log_weight(reference)
    diff = sp.factor(sp.simplify((lc - _at_k(lc)) - (lr - _at_k(lr))))
    res = stationarity_residual(candidate)
    return {"same_policy": diff == 0, "log_odds_difference": diff,
            "candidate_stationary": res == 0, "candidate_residual": res}


def judge_closed_form(printed: sp.Expr | None = None, derived: sp.Expr | None = None) -> tuple[str, dict]:
    """Verdict for ``opd-closed-form`` from the symbolic side alone.

    * the derived form must satisfy the stationarity conditions (else ``INCONCLUSIVE``: the
      derivation itself failed);
    * ``CONFIRMED`` if the printed form is stationary too (same policy), ``INCONSISTENT`` otherwise.
    """
    printed = printed_prox_weight() if printed is None else printed
    derived = derived_prox_weight() if derived is None else derived
    d_res = stationarity_residual(derived)
    info = {"derived_residual": d_res, "derived_stationary": d_res == 0}
    info.update(compare(printed, derived))
    if d_res != 0:
        return "INCONCLUSIVE", info
    return ("CONFIRMED" if info["candidate_stationary"] else "INCONSISTENT"), info


def printed_agreement_condition() -> sp.Expr:
    """When does the printed form coincide with the maximiser? The residual factors as
    ``(1 - eta - beta)(S_y - S_k)``: only when ``eta + beta = 1`` (or the score is flat in y)."""
    res = stationarity_residual(printed_prox_weight())
    return sp.factor(res)


# ----------------------------------------------------------------------------- dual: eqs. (5)/(7)
def derive_dual_prox(eta_lam: sp.Expr = ETA_LAM) -> tuple[sp.Expr, dict]:
    """Minimiser of ``lam c + eta_lam (lam - lam_hat)^2`` over ``lam >= 0`` (eqs. (5)/(7), one coordinate).

    The objective is strictly convex in lam; its unconstrained minimiser solves ``q'(lam) = 0``;
    if that point is negative, KKT puts lam at the boundary 0 (``q'(0) >= 0`` there). Hence the
    projection ``max(0, lam_hat - c/(2 eta_lam))``. Returns the expression and the KKT facts used.
    """
    q = LAM * C_VAL + eta_lam * (LAM - LAM_HAT) ** 2
    dq = sp.diff(q, LAM)
    interior = sp.solve(sp.Eq(dq, 0), LAM)
    if len(interior) != 1:
        raise RuntimeError(f"derive_dual_prox: expected one stationary point, got {interior}")
    lam_int = sp.expand(interior[0])
    # at lam = 0, q'(0) = c - 2 eta lam_hat = -2 eta (lam_int): boundary optimal exactly when lam_int <= 0
    boundary_slope = sp.simplify(dq.subs(LAM, 0) + 2 * eta_lam * lam_int)
    facts = {"q": q, "q_second_derivative": sp.diff(q, LAM, 2), "unconstrained_minimiser": lam_int,
             "boundary_slope_identity_residual": boundary_slope}
    if boundary_slope != 0 or sp.simplify(facts["q_second_derivative"] - 2 * eta_lam) != 0:
        raise RuntimeError("derive_dual_prox: KKT verification failed")
    return sp.Max(0, lam_int), facts


def printed_dual_step(eta_lam: sp.Expr = ETA_LAM) -> sp.Expr:
    """Eqs. (9)/(11) of Algorithm 3 (and line 6 of Algorithm 1): ``[lam_hat - c/eta_lam]_+``."""
    return sp.Max(0, LAM_HAT - C_VAL / eta_lam)


def dual_step_coefficient(step: sp.Expr) -> sp.Expr:
    """The factor multiplying ``-c`` inside ``[lam_hat - s c]_+`` (the effective step size ``s``)."""
    args = [a for a in (step.args if isinstance(step, sp.Max) else (step,)) if a.has(C_VAL)]
    if len(args) != 1:
        raise ValueError(f"dual_step_coefficient: cannot find the branch containing c in {step!r}; "
                         "pass an expression of the form Max(0, lam_hat - s*c).")
    return sp.simplify(-sp.diff(args[0], C_VAL))


def compare_dual(candidate: sp.Expr, reference: sp.Expr | None = None) -> dict[str, Any]:
    """Compare two projected dual steps by their step factors; ratio 1 iff the same update."""
    reference = derive_dual_prox()[0] if reference is None else reference
    sc, sr = dual_step_coefficient(candidate), dual_step_coefficient(reference)
    ratio = sp.simplify(sc / sr)
    same = sp.simplify(candidate - reference) == 0 or ratio == 1
    return {"candidate_step": sc, "reference_step": sr, "ratio": ratio, "same_update": bool(same)}


def judge_dual_step(printed: sp.Expr | None = None, derived: sp.Expr | None = None) -> tuple[str, dict]:
    """``CONFIRMED`` if Algorithm 3's printed dual step equals the minimiser of eqs. (5)/(7), else ``INCONSISTENT``."""
    printed = printed_dual_step() if printed is None else printed
    derived = derive_dual_prox()[0] if derived is None else derived
    info = compare_dual(printed, derived)
    return ("CONFIRMED" if info["same_update"] else "INCONSISTENT"), info


def alg3_eta_matching_alg2() -> sp.Expr:
    """The eta_lam of Algorithm 3 that reproduces Algorithm 2's step: solve ``1/eta3 = 1/(2 eta_lam)``."""
    eta3 = sp.Symbol("eta_lambda^{(3)}", positive=True)
    sol = sp.solve(sp.Eq(dual_step_coefficient(printed_dual_step(eta3)), dual_step_coefficient(derive_dual_prox()[0])),
                   eta3)
    return sol[0]


def plain(expr: sp.Expr) -> str:
    """A plain-text rendering (``sympy.sstr`` with ASCII symbol names) for CheckResult.stated/computed."""
    names = {PIHAT_y: sp.Symbol("pi_hat"), PIREF_y: sp.Symbol("pi_ref"), S_y: sp.Symbol("S"), ETA: sp.Symbol("eta"),
             LAM_HAT: sp.Symbol("lam_hat"), ETA_LAM: sp.Symbol("eta_lam")}
    return sp.sstr(expr.xreplace(names))
