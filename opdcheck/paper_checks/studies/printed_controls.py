"""The control every check that judges a printed formula runs: the paper's LaTeX, parsed by sympy
(``theory/printed.py``), equals the hand transcription the check judges. A mistyped transcription then fails a
control (the check goes INCONCLUSIVE) instead of silently changing its verdict."""
from __future__ import annotations

from typing import Sequence

from opdcheck.paper_checks.result import Control

__all__ = ["printed_formula_control", "printed_b6_control", "prox_step_derivation_control"]


def printed_formula_control(names: Sequence[str], label: str) -> Control:
    """A positive control: each formula of ``names`` parsed from the paper's LaTeX equals its hand transcription."""
    from opdcheck.theory import printed

    try:
        agree = printed.agreement(list(names))
    except Exception as exc:  # a parse error is a failed control, reported with its one-line reason
        return Control(f"printed LaTeX of {label} equals the transcription judged", "positive", False, f"{exc}")
    bad = [n for n, ok in agree.items() if not ok]
    return Control(f"printed LaTeX of {label} equals the transcription judged", "positive", not bad,
                   f"parsed from the paper's LaTeX and compared symbolically: {len(agree) - len(bad)} of {len(agree)} "
                   f"agree" + (f" (differ: {', '.join(bad)})" if bad else ""))


def printed_b6_control(bound_fn, problem, xi: float) -> Control:
    """A positive control: the stated side ``bound_fn(problem, xi)`` the check uses equals Remark B.6's bound
    evaluated from the paper's parsed LaTeX (relative 1e-12: two float evaluations of the same expression)."""
    from opdcheck.theory import printed, thm34_constants as k

    try:
        expr = printed.parse("remark_b6_bound")
        ref = float(expr.subs({printed.XI: xi, printed.RMAX: problem.R_max, k.BETA: problem.beta,
                               printed.PMIN: problem.p_min}))
        got = float(bound_fn(problem, xi))
    except Exception as exc:
        return Control("Remark B.6's bound as parsed from the paper's LaTeX", "positive", False, f"{exc}")
    ok = abs(got - ref) <= 1e-12 * max(1.0, abs(ref))
    return Control("Remark B.6's bound as parsed from the paper's LaTeX", "positive", ok,
                   f"the check's bound {got:.15g} vs the parsed LaTeX {ref:.15g} (paper toy, xi = {xi:g})")


def prox_step_derivation_control(eta_lam: float = 1.7) -> Control:
    """The dual step the kernels take (``kernels.rules.dual_step``, prox convention) against the minimiser
    sympy derives from the defining problem (5)/(7) (``theory.closed_forms.derive_dual_prox``), at a point
    where the projection does not bind and at one where it does. The 50-digit replays solve (5)/(7)
    themselves, so a misreading shared by the kernel and a replay would agree with itself; this
    derivation is the third, symbolic reading that breaks the tie."""
    import numpy as np

    from opdcheck.kernels.rules import dual_step
    from opdcheck.theory import closed_forms as cf
    from opdcheck.tolerances import DUAL_STEP_POLICY_ATOL

    derived, _ = cf.derive_dual_prox()
    rows = []
    for lam_hat, c in ((2.0, 0.5), (0.1, 3.0)):
        k = float(dual_step(np.array([lam_hat]), np.array([c]), eta_lam, convention="prox")[0])
        d = float(derived.subs({cf.LAM_HAT: lam_hat, cf.C_VAL: c, cf.ETA_LAM: eta_lam}))
        rows.append((lam_hat, c, k, d))
    ok = all(abs(k - d) <= DUAL_STEP_POLICY_ATOL * max(1.0, abs(d)) for _, _, k, d in rows)
    return Control("kernel prox dual step = sympy's minimiser of (5)/(7)", "positive", ok,
                   "; ".join(f"lam_hat = {a:g}, c = {c:g}, eta_lam = {eta_lam:g}: {k:.6g} (kernel) vs {d:.6g} (sympy)"
                             for a, c, k, d in rows))
