"""Coefficient space of the distributional KL-proximal step (Alg. 2, eqs. (4)-(7)), proved with sympy.

Claim (used by ``opdcheck.kernels.numba_fused``): if ``log pi_hat[x, y] = a log pi_ref[x, y] + b r[x, y]
+ sum_j c_j R_j[x, y] - Z[x]`` (any row constants ``Z``), then the maximiser of eqs. (4)/(6),
``P(pi_hat, lam) = log_softmax((eta log pi_hat + beta log pi_ref + S_lam) / (eta + beta))`` with
``S_lam = r + sum_j lam_j R_j`` (derived closed form; the printed one adds ``S_lam`` unscaled), is of
the same form with::

    derived: a' = (eta a + beta)/(eta + beta),  b' = (eta b + 1)/(eta + beta),  c'_j = (eta c_j + lam_j)/(eta + beta)
    printed: a' = (eta a + beta)/(eta + beta),  b' = eta b/(eta + beta) + 1,    c'_j = eta c_j/(eta + beta) + lam_j

and a new row constant ``Z'[x] = logsumexp_y(a' log pi_ref + b' r + c' R)[x]``. Proof: the argument of
the log-softmax minus ``a' log pi_ref + b' r + c' R`` is ``-eta Z[x]/(eta + beta)``, a row constant,
and log-softmax is invariant under adding a row constant. Both dual steps (eqs. (5)/(7), prox or
gradient) and the three prediction rules only choose which ``lam`` enters ``P`` and which policy's
constraint values enter the dual step, so every iterate of OPD, simultaneous PD and sequential PD
started at ``pi_hat_0 = pi_ref`` (``(a, b, c) = (1, 0, 0)``, ``Z = 0``) stays in this family.

Public API::

    coefficient_map(h, closed_form) -> (symbols, a', b', [c'_j])        # the sympy map
    prove_coefficient_recursion(h, closed_form="derived") -> dict       # {"holds": bool, "residual": expr, ...}
"""
from __future__ import annotations

import sympy as sp

__all__ = ["coefficient_map", "prove_coefficient_recursion"]


def coefficient_map(h: int, closed_form: str = "derived"):
    """The coefficient update of eqs. (4)/(6) as sympy expressions.

    Returns ``(syms, a_new, b_new, c_new)`` with ``syms = dict(a, b, c (list), lam (list), eta, beta)``.
    """
    if closed_form not in ("derived", "printed"):
        raise ValueError(f"coefficient_map: closed_form = {closed_form!r}; choose 'derived' or 'printed'.")
    if not isinstance(h, int) or h < 1:
        raise ValueError(f"coefficient_map: h = {h!r}; pass an integer number of constraints >= 1.")
    a, b = sp.symbols("a b", real=True)
    eta, beta = sp.symbols("eta beta", positive=True)
    c = list(sp.symbols(f"c1:{h + 1}", real=True))
    lam = list(sp.symbols(f"lam1:{h + 1}", nonnegative=True))
    d = eta + beta
    a_new = (eta * a + beta) / d
    if closed_form == "derived":
        b_new = (eta * b + 1) / d
        c_new = [(eta * cj + lj) / d for cj, lj in zip(c, lam)]
    else:
        b_new = eta * b / d + 1
        c_new = [eta * cj / d + lj for cj, lj in zip(c, lam)]
    return dict(a=a, b=b, c=c, lam=lam, eta=eta, beta=beta), a_new, b_new, c_new


def prove_coefficient_recursion(h: int = 2, closed_form: str = "derived") -> dict:
    """Prove (symbolically, for one generic entry ``(x, y)``) that the step maps the family to itself.

    With symbols ``L = log pi_ref[x, y]``, ``r = r[x, y]``, ``R_j = R_j[x, y]`` and the row constant ``Z``:
    ``residual = z - (a' L + b' r + sum c'_j R_j)`` where ``z`` is the argument of the log-softmax in
    eq. (4)/(6) (``opdcheck.kernels.rules.primal_mirror_step``). The recursion holds iff the residual
    does not depend on ``y``, i.e. on ``L, r, R_j`` (it is ``-eta Z/(eta + beta)``).
    """
    syms, a_new, b_new, c_new = coefficient_map(h, closed_form)
    a, b, c, lam, eta, beta = (syms[k] for k in ("a", "b", "c", "lam", "eta", "beta"))
    L, r, Z = sp.symbols("L r Z", real=True)
    R = list(sp.symbols(f"R1:{h + 1}", real=True))
    log_hat = a * L + b * r + sum(cj * Rj for cj, Rj in zip(c, R)) - Z
    S = r + sum(lj * Rj for lj, Rj in zip(lam, R))
    mix = (eta * log_hat + beta * L) / (eta + beta)
    z = mix + (S / (eta + beta) if closed_form == "derived" else S)
    residual = sp.simplify(z - (a_new * L + b_new * r + sum(cj * Rj for cj, Rj in zip(c_new, R))))
    entry_syms = {L, r, *R}
    holds = not (residual.free_symbols & entry_syms)
    expected = sp.simplify(residual + eta * Z / (eta + beta))
    return {"holds": bool(holds), "residual": residual, "row_constant_is_eta_Z_over_eta_plus_beta": expected == 0,
            "closed_form": closed_form, "h": h,
            "statement": "log pi = a log pi_ref + b r + sum_j c_j R_j - logZ is preserved by eqs. (4)/(6)"}
