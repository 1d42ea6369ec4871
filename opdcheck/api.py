"""The library's entry points with typed results: run one check, certify a rate.

``opdcheck`` re-exports these lazily (``from opdcheck import run_check, certify_local_rate``); importing them
costs nothing until they are called.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

__all__ = ["run_check", "certify_local_rate", "RateCertificate"]

log = logging.getLogger("opdcheck")


def run_check(check_id: str, *, profile: str = "quick", seed: int = 0, out_dir: str | Path | None = None,
              instance=None):
    """Run one check of the paper and return its :class:`~opdcheck.paper_checks.result.CheckResult`.

    Problem: the claim registered under ``check_id`` (``opdcheck list`` shows the ids).
    ``out_dir`` receives the check's figures and counterexamples (default: a temporary folder, removed
    afterwards); ``instance``: a :class:`~opdcheck.problem.Problem` for checks that accept one.

    Example:
        >>> r = run_check("dual-step-scale")
        >>> r.verdict.value, r.id
        ('INCONSISTENT', 'dual-step-scale')
        >>> r.headline.startswith("dual step coefficient")
        True
    """
    import tempfile

    from opdcheck.paper_checks.context import CheckContext, Progress
    from opdcheck.paper_checks.registry import get_check

    if profile not in ("quick", "full"):
        raise ValueError(f"profile = {profile!r}; choose 'quick' or 'full'.")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed = {seed!r}; pass a non-negative integer.")
    try:
        check = get_check(check_id)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    if instance is not None and not check.accepts_instance:
        raise ValueError(f"instance: check {check_id} runs on its own instances; pass instance=None.")

    def run(folder: Path):
        ctx = CheckContext(profile=profile, seed=seed, out_dir=folder, instance=instance,
                           progress=Progress(enabled=False))
        log.info("running %s (%s profile, seed %d)", check_id, profile, seed)
        res = check.run(ctx)
        log.info("%s: %s in %.1f s", check_id, res.verdict.value, res.wall_time)
        return res

    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return run(folder)
    with tempfile.TemporaryDirectory(prefix="opdcheck-") as tmp:
        return run(Path(tmp))


@dataclass(frozen=True)
class RateCertificate:
    """The certified local last-iterate rate of a method on an instance (:func:`certify_local_rate`).

    ``radius``: exact rational enclosure ``(lo, hi)`` of the spectral radius ``r`` of the method's update
    linearized at the saddle point; ``error_rate``: the same for ``r^2``, the rate of the squared error
    ``E KL + ||lam - lam*||^2``; ``rho46``: the rate of eq. (46) of the paper; ``corrected_radius``: the
    corrected statement's formula; ``measured_error_rate``: the tail rate of a run (None if not measured).
    ``details`` keeps everything the certificate computed (rounding, eigenvalues, the full Jacobian).
    """

    instance: str
    method: str
    dual_step: str
    eta_th: float
    eta_lam: float
    beta: float
    active: tuple[int, ...]
    radius: tuple[Fraction, Fraction]
    error_rate: tuple[Fraction, Fraction]
    stable: bool
    unstable: bool
    rho46: float
    corrected_radius: float
    measured_error_rate: float | None
    full_jacobian_agrees: bool | None
    seconds: float
    details: dict = field(repr=False, compare=False, default_factory=dict)

    def __str__(self) -> str:
        from opdcheck.certify import format_instance_report

        return format_instance_report(self.details)


def certify_local_rate(problem, *, method: str = "opd", eta_th: float | None = None, eta_lam: float | None = None,
            dual_step: str = "prox", T: int = 3000, measure: bool = True) -> RateCertificate:
    """Certify, in exact arithmetic, the local last-iterate rate of ``method`` on ``problem``.

    Problem: a :class:`~opdcheck.problem.Problem` with ``beta > 0`` and strictly complementary constraints.
    Update: OPD (Algorithm 2), simultaneous or alternating GDA, at steps ``eta_th``, ``eta_lam``
    (default Thm 3.4's ``3 sqrt(h) R_max``). Claim compared: the rate ``rho`` of eq. (46) of Thm 3.4.

    Example (the paper's toy at beta = 1: the certified rate exceeds rho(46) = 50/63):
        >>> from opdcheck.instances import paper_toy
        >>> from opdcheck.intervals import format_enclosure
        >>> c = certify_local_rate(paper_toy(1.0), measure=False)
        >>> format_enclosure(*c.error_rate, 6), round(c.rho46, 6)
        ('[0.924435, 0.924436]', 0.793651)
        >>> c.error_rate[0] > Fraction(50, 63)
        True
    """
    from opdcheck.numerics.local_rate import certify_instance

    r = certify_instance(problem, method=method, eta_th=eta_th, eta_lam=eta_lam, dual_step=dual_step,
                         T=max(int(T), 1), measure=measure)
    full = r.get("full_jacobian")
    meas = r.get("measured")
    return RateCertificate(
        instance=r["instance"], method=r["method"], dual_step=r["dual_step"], eta_th=float(r["eta_th"]),
        eta_lam=float(r["eta_lam"]), beta=float(r["beta"]), active=tuple(r["active"]),
        radius=(Fraction(r["radius_lo"]), Fraction(r["radius_hi"])),
        error_rate=(Fraction(r["error_rate_lo"]), Fraction(r["error_rate_hi"])),
        stable=bool(r["stable"]), unstable=bool(r["unstable"]), rho46=float(r["rho46"]),
        corrected_radius=float(r["corrected"]["radius"]),
        measured_error_rate=None if meas is None else float(meas["error_rate"]),
        full_jacobian_agrees=None if not full else bool(full["agrees"]), seconds=float(r["certify_seconds"]),
        details=r)


