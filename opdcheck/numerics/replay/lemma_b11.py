"""The proof steps of Lemma B.11 and Cor. B.12 evaluated on the counterexample's two-arm class at 50 digits
(mpmath) or exactly (Fractions), from the class's definition ``p_theta(y0) = 1/5 + theta^2/10``.

There is no float64 computation under suspicion here: the replay *is* the computation, so each step's
Witness records the replayed sides and no code values (``agrees`` holds trivially; the report says so).
"""
from __future__ import annotations

from fractions import Fraction

import mpmath as mp

from opdcheck.numerics.replay.witness import _issue
from opdcheck.tolerances import LEMMA_B11_ATOL

__all__ = ["b11_steps", "exceeds"]


def exceeds(lhs, rhs) -> bool:
    """An inequality ``lhs <= rhs`` fails: ``lhs`` exceeds ``rhs`` by more than LEMMA_B11_ATOL (the rounding of
    float64 sums of <= 50 terms; lemmas-B.9-B.12 judges its float draws with this same function)."""
    return bool(lhs > rhs + LEMMA_B11_ATOL)


def _mp_kl(a, b):
    return a * mp.log(a / b) + (1 - a) * mp.log((1 - a) / (1 - b))


def b11_steps(eta_small: float = 0.1) -> list[dict]:
    """The proof steps of Lemma B.11 on the counterexample class, each with an mpmath/Fraction witness."""
    out = []
    with mp.workdps(50):
        beta = mp.mpf(1) / 20
        p_ref = mp.mpf(1) / 5
        # (a) in-class maximiser on the boundary of the class image [1/5, 3/10] (small eta, g = (1, 0), old = ref)
        eta = mp.mpf(eta_small)
        dfdq = lambda q: 1 - (eta + beta) * (mp.log(q / p_ref) - mp.log((1 - q) / (1 - p_ref)))  # noqa: E731
        q_new = mp.mpf(3) / 10 if dfdq(mp.mpf(3) / 10) > 0 else mp.findroot(dfdq, (p_ref, mp.mpf(3) / 10), solver="bisect")
        grad_diff = dfdq(q_new)  # d f / d q = (grad f)_0 - (grad f)_1 on the simplex
        qp = mp.mpf(1) - mp.mpf(1) / 10 ** 3  # pi' in Pi_eff (full support), far outside the class image
        val_a = grad_diff * (q_new - qp)
        out.append({"step": "(a) optimality over Pi_Theta used for pi' in Pi_eff",
                    "claim": "<grad f(pi_new), pi_new - pi'> >= 0 for pi' in Pi_eff",
                    "lhs": val_a, "rhs": mp.mpf(0), "fails": exceeds(0, val_a),
                    "plot": {"q_new": float(q_new), "grad_diff": float(grad_diff), "q_prime": float(qp)},
                    "witness": f"eta = {eta_small:g}, g = (1, 0), pi_old = pi_ref = (0.2, 0.8): pi_new(y0) = {mp.nstr(q_new, 8)} "
                               f"(the class maximiser, on the boundary), pi'(y0) = {mp.nstr(qp, 6)}: value {mp.nstr(val_a, 8)} < 0"})
        # (b) |<log(pi_new/pi_theta), pi_theta - pi'>| <= (1 + 1/p_min) KL(pi_theta || pi_new), near-equal pair
        q_th, dl, q_pr = mp.mpf(3) / 10, mp.mpf(1) / 10 ** 3, mp.mpf(1) / 5
        q_nw = q_th + dl
        lhs = abs(mp.log(q_nw / q_th) * (q_th - q_pr) + mp.log((1 - q_nw) / (1 - q_th)) * ((1 - q_th) - (1 - q_pr)))
        rhs = (1 + 1 / p_ref) * _mp_kl(q_th, q_nw)
        out.append({"step": "(b) eq. (27): |<log(pi_new/pi_theta), pi_theta - pi'>| <= (1 + 1/p_min) KL(pi_theta||pi_new)",
                    "claim": "a first-order quantity bounded by a KL", "lhs": lhs, "rhs": rhs, "fails": exceeds(lhs, rhs),
                    "witness": f"pi_theta(y0) = 0.3, pi_new(y0) = 0.301, pi'(y0) = 0.2, p_min = 0.2: {mp.nstr(lhs, 8)} > {mp.nstr(rhs, 8)} "
                               "(the left side is O(delta), the KL is O(delta^2))"})
        # (c) pi_new vs the theta* of Assumption 3.9 at theta_old = 0 (eta = 3, lam = 0)
        eta3 = mp.mpf(3)
        d3 = lambda q: 1 - eta3 * (mp.log(q / p_ref) - mp.log((1 - q) / (1 - p_ref))) - beta * (  # noqa: E731
            mp.log(q / p_ref) - mp.log((1 - q) / (1 - p_ref)))
        q3 = mp.findroot(d3, (p_ref, mp.mpf(3) / 10), solver="bisect")
        th3 = mp.sqrt((q3 - p_ref) * 10)
        out.append({"step": "(c) pi_new corresponds to the theta* of Assumption 3.9",
                    "claim": "the KL-proximal maximiser over the class is the exact NPG step (8)/(10)",
                    "lhs": th3, "rhs": mp.mpf(0), "fails": exceeds(th3, 0),
                    "witness": f"at theta_old = 0 the exact NPG step is theta* = 0 (score and F vanish) but the class maximiser is "
                               f"theta = ±{mp.nstr(th3, 8)} (pi_new(y0) = {mp.nstr(q3, 8)}): ||theta_new - theta*||_1 = {mp.nstr(th3, 8)} with eps_approx = 0"})
        # (d) Assumption 3.8 is a mean over y; the proof's step (d) uses it for the sum over y
        t1, t2 = mp.mpf(1), mp.mpf(1) / 2
        p1, p2 = p_ref + t1 ** 2 / 10, p_ref + t2 ** 2 / 10
        diffs = [abs(mp.log(p1) - mp.log(p2)), abs(mp.log(1 - p1) - mp.log(1 - p2))]
        mean_d, sum_d = (diffs[0] + diffs[1]) / 2, diffs[0] + diffs[1]
        out.append({"step": "(d) ||log(pi_theta_new/pi_new)||_1 <= C ||theta_new - theta*||_1 with C of Assumption 3.8",
                    "claim": "Assumption 3.8 (mean over y ~ Y(x)) bounds the sum over y", "lhs": sum_d, "rhs": mean_d,
                    "fails": exceeds(sum_d, mean_d),
                    "witness": f"theta = 1 vs 1/2: sum over y {mp.nstr(sum_d, 8)} = n x mean {mp.nstr(mean_d, 8)}: the tightest C of "
                               "Assumption 3.8 is too small by the factor n = 2 (a constant, repairable)"})
        # (e) the conclusion of B.11 at the exact step theta_new = theta_old = 0, eps = 0 (gap = 0), pi' = pi*_Theta
        g0, g1 = Fraction(1), Fraction(0)
        q0, qp_ = Fraction(1, 5), Fraction(3, 10)
        val_e = (g0 - g1) * (q0 - qp_)  # the KL-gradient terms are constants at pi_theta_new = pi_old = pi_ref
        out.append({"step": "(e) conclusion of Lemma B.11 at the exact step (eps_approx = 0, gap = 0)",
                    "claim": "E<g - eta grad KL(.||pi_old) - beta grad KL(.||pi_ref), pi_theta_new - pi'> >= -gap(0) = 0",
                    "lhs": mp.mpf(val_e.numerator) / val_e.denominator, "rhs": mp.mpf(0), "fails": val_e < 0,
                    "witness": f"exact Fractions: g = (1, 0), pi_theta_new = pi_old = pi_ref = (1/5, 4/5), pi' = (3/10, 7/10) in Pi_Theta: "
                               f"value = {val_e} < 0"})
        # Cor B.12 at the same point
        kl_p = _mp_kl(mp.mpf(3) / 10, p_ref)
        lhs12 = (mp.mpf(1) / 5 - mp.mpf(3) / 10) - beta * (0 - kl_p)
        rhs12 = eta3 * (-kl_p + kl_p + 0) + beta * kl_p
        out.append({"step": "Cor B.12 at the exact step (eps_approx = 0)", "claim": "Cor. B.12's bound with gap(0) = 0",
                    "lhs": lhs12, "rhs": rhs12, "fails": exceeds(rhs12, lhs12),
                    "witness": f"pi_theta_new = pi_old = pi_ref = (0.2, 0.8), pi' = (0.3, 0.7), eta = 3: LHS {mp.nstr(lhs12, 10)} < RHS {mp.nstr(rhs12, 10)}"})
    for s in out:
        s["replay"] = _issue(f"Lemma B.11 {s['step']}", "mpmath 50 digits / exact Fractions, from the class's definition",
                             confirms=bool(s["fails"]), agrees=True,
                             replay_values={"lhs": mp.nstr(s["lhs"], 20), "rhs": mp.nstr(s["rhs"], 20)},
                             details={"witness": s["witness"], "code": "none: the 50-digit evaluation is the computation"})
    return out
