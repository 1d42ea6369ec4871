"""``opdcheck certify``: formatting of the certified local rates computed in
:mod:`opdcheck.numerics.local_rate` (the library half: :func:`certify_instance`, :func:`certify_bilinear`)."""
from __future__ import annotations

from opdcheck.intervals import format_enclosure
from opdcheck.numerics.local_rate import (certify_bilinear, certify_instance, linearization_data,  # noqa: F401
                                          load_matrix, rational, rational_design)

__all__ = ["certify_instance", "certify_bilinear", "format_instance_report", "format_bilinear_report", "load_matrix"]

def format_instance_report(r: dict) -> str:
    """The human-readable answer of ``opdcheck certify FILE``."""
    lines = [f"instance: {r['instance']}  (X = {r['X']}, n = {r['n']}, h = {r['h']}, beta = {r['beta']:g}; "
             f"active constraints {r['active']})",
             f"method: {r['method']}, dual step {r['dual_step']}, eta_th = {r['eta_th']:.6g}, eta_lam = {r['eta_lam']:.6g}",
             f"rational rounding: common denominator {r['rounding']['max_denominator']:.0e}; |pi* - rounded| <= "
             f"{r['rounding']['pi*']:.1e}, |R_H - rounded| <= {r['rounding']['R_hard']:.1e}; steps "
             f"{r['eta_th_q']}, {r['eta_lam_q']}",
             f"dual curvature eigenvalues h_j of sum_x rho_x Cov_pi*(R_A): {', '.join(f'{v:.6g}' for v in r['h_eigs'])}"
             f"  (a = {r['a']:.6g}, c_j = {', '.join(f'{v:.6g}' for v in r['c'])})",
             f"certified spectral radius r in {format_enclosure(r['radius_lo'], r['radius_hi'], 9)} "
             f"(exact Schur-Cohn; {'stable' if r['stable'] else 'UNSTABLE: radius > 1' if r['unstable'] else 'radius ~ 1'})",
             f"  error rate r^2 in {format_enclosure(r['error_rate_lo'], r['error_rate_hi'], 9)}"]
    if r["full_jacobian"]:
        f = r["full_jacobian"]
        lines.append(f"  full exact Jacobian ({f['dim']} x {f['dim']}): r in {format_enclosure(f['lo'], f['hi'], 9)}"
                     f" ({'agrees' if f['agrees'] else 'DISAGREES'} with the mode factorization)")
    lines.append(f"corrected statement (mode formula): r = {r['corrected']['radius']:.9f} ({r['corrected']['dominant']})")
    lines.append(f"rho of eq. (46) (a rate of the squared error): {r['rho46']:.9f}")
    m = r["measured"]
    if m is not None:
        lines.append(f"measured tail rate from (pi_ref, 0), T = {m['T']}: error rate {m['error_rate']:.9f} "
                     f"(r = {m['radius']:.9f}, "
                     + ("inside the certified enclosure up to the fit's slack" if m.get("radius_agrees") else
                        "OUTSIDE the certified enclosure: the finite window's fit, not the exact certificate")
                     + f"), window {m['window']}, spread {m['spread']:.1e}"
                     + (" (diverged)" if m["diverged"] else ""))
    lines.append(f"certificate time: {r['certify_seconds']:.2f} s")
    return "\n".join(lines)

def format_bilinear_report(r: dict) -> str:
    return "\n".join([
        f"bilinear game min_x max_y x^T A y, A {r['shape'][0]}x{r['shape'][1]} (sigma_max = {r['sigma_max']:.6g}, "
        f"sigma_min = {r['sigma_min']:.6g}; entries rounded to the common denominator {r['max_denominator']:.3g})",
        f"OGDA step {r['step']:g}: per singular value the mode polynomial (mu^2-mu)^2 + (eta sigma)^2 (2mu-1)^2",
        f"certified radius r in {format_enclosure(r['radius_lo'], r['radius_hi'], 12)}  "
        f"(1 - r in [{r['one_minus_radius'][0]:.4e}, {r['one_minus_radius'][1]:.4e}])",
        f"tail-window fit of ||z_t|| over t in [{r['T'] // 2}, {r['T']}]: " + _bilinear_fit_sentence(r),
        f"certificate time: {r['certify_seconds']:.2f} s"])


def _bilinear_fit_sentence(r: dict) -> str:
    """What the tail fit says, from its value: no fit (the iterates reached 0 or overflowed in the window),
    agreement with the certified enclosure, or a rate too close to 1 for a finite window to resolve."""
    import math

    fit, lo, hi = r["measured"], r["radius_lo"], r["radius_hi"]
    if not math.isfinite(fit):
        return ("no fit (the iterates reached 0 or left float64's range within the window: the rate is far from 1); "
                "the certificate stands on its own")
    if float(lo) - 1e-9 <= fit <= float(hi) + 1e-9:
        return f"{fit:.12f}, inside the certified enclosure"
    return (f"{fit:.12f} (1 - fit = {1 - fit:.4e}), outside the enclosure: a finite window cannot resolve a rate this "
            "close to 1 (or the transient has not died out); the certificate is exact, the fit is not")
