"""Runtime controls of a certificate gate at its own scale: a point perturbed just beyond the gate must
fail it, a point perturbed to well inside must pass. A gate made looser (or tighter) by more than
GATE_CONTROL_FACTOR fails one of the two, so a broken tolerance cannot leave a verdict standing unnoticed."""
from __future__ import annotations

import numpy as np

from opdcheck.numerics.certificates import first_order_certificate
from opdcheck.paper_checks.result import Control
from opdcheck.problem import Problem
from opdcheck.tolerances import FOC_GATE_MAX_ROUNDINGS, GATE_CONTROL_FACTOR

__all__ = ["first_order_gate_controls", "kkt_gate_controls", "sec4_rule_controls", "value_gate_controls"]


def _tilt(pi: np.ndarray, row: int, d: float) -> np.ndarray:
    """``pi`` with ``log pi[row, 0]`` raised by ``d`` and the row renormalised: the first-order residual
    ``max_y g - min_y g`` (``g = S - beta log(pi/pi_ref)``) moves by ``beta |d|``; the row sums stay 1."""
    out = np.array(pi, dtype=np.float64)
    out[row, 0] *= np.exp(d)
    out[row] /= out[row].sum()
    return out


def _foc_rounding_scale(problem: Problem, lam, pi: np.ndarray) -> float:
    """eps x (max|S| + beta max|log pi| + beta max|log pi_ref|): the size a first-order residual is rounded
    at, recomputed here apart from ``first_order_certificate``."""
    S = problem.scores(np.asarray(lam, dtype=np.float64))
    beta = float(problem.beta)
    size = float(np.max(np.abs(S))) + beta * float(np.max(np.abs(np.log(pi)))) + beta * float(np.max(-problem.log_pi_ref))
    return float(np.finfo(np.float64).eps) * size


def first_order_gate_controls(problem: Problem, lam, pi: np.ndarray) -> list[Control]:
    """The first-order gate of eq. (3) (``first_order_certificate``) at its own scale, around ``pi`` (a
    certified maximiser, full support). The gate's scale is recomputed here (``CERT_FOC_ROUNDING_FACTOR`` x
    eps x size); the reported gate must be that (a few roundings: at most FOC_GATE_MAX_ROUNDINGS x eps x size);
    ``pi`` tilted GATE_CONTROL_FACTOR x beyond it must fail the certificate, tilted to 1/GATE_CONTROL_FACTOR of
    it must pass. A gate loosened or tightened by more than GATE_CONTROL_FACTOR fails one of them."""
    from opdcheck.tolerances import CERT_FOC_ROUNDING_FACTOR

    unit = _foc_rounding_scale(problem, lam, pi)
    gate = CERT_FOC_ROUNDING_FACTOR * unit
    beta = float(problem.beta)
    base = first_order_certificate(problem, lam, pi)
    c_out = first_order_certificate(problem, lam, _tilt(pi, 0, GATE_CONTROL_FACTOR * gate / beta))
    c_in = first_order_certificate(problem, lam, _tilt(pi, 0, gate / (GATE_CONTROL_FACTOR * beta)))
    scale_ok = base["gate"] <= FOC_GATE_MAX_ROUNDINGS * unit and gate <= FOC_GATE_MAX_ROUNDINGS * unit
    return [
        Control(f"first-order gate rejects a point {GATE_CONTROL_FACTOR:g}x beyond it", "negative",
                passed=(not c_out["ok"]) and scale_ok,
                detail=(f"residual {c_out['residual']:.2e} vs reported gate {c_out['gate']:.2e} (rounding scale "
                        f"eps x size = {unit:.2e}; gate <= {FOC_GATE_MAX_ROUNDINGS:g} x that: {scale_ok}): "
                        f"rejected {not c_out['ok']}")),
        Control(f"first-order gate accepts a point 1/{GATE_CONTROL_FACTOR:g} of it away", "positive",
                passed=bool(base["ok"] and c_in["ok"]),
                detail=f"residual {c_in['residual']:.2e} vs gate {c_in['gate']:.2e} (unperturbed {base['residual']:.1e})"),
    ]


def _lagrangian_rounding_ceiling(problem: Problem, lam, slack: float = 0.0) -> float:
    """A few roundings of a float64 L(pi, lam), recomputed apart from ``numerics.certificates``:
    FOC_GATE_MAX_ROUNDINGS x eps x (max|S| + beta (max|log pi_ref| + log n + slack)) x (1 + log2(X n));
    ``slack = 1`` adds the simplex slack of normalised rows (a row's value bound m_x has beta (... + 1))."""
    S = problem.scores(np.asarray(lam, dtype=np.float64))
    beta = float(problem.beta)
    size = float(np.max(np.abs(S))) + beta * (float(np.max(-problem.log_pi_ref)) + float(np.log(problem.n)) + slack)
    return FOC_GATE_MAX_ROUNDINGS * float(np.finfo(np.float64).eps) * size * (1.0 + float(np.log2(problem.X * problem.n)))


def _tilt_to_value_gap(problem: Problem, lam, pi: np.ndarray, target: float) -> tuple[np.ndarray, float]:
    """``pi`` (the maximiser of L(., lam)) tilted on row 0 until ``L(pi) - L(tilted)`` is ``target`` to a few
    percent: L is concave with its maximum at ``pi``, so the loss grows like d^2 (secant steps in log d)."""
    top = problem.lagrangian(pi, lam)
    d = 1e-6
    for _ in range(60):
        q = _tilt(pi, 0, d)
        loss = float(top - problem.lagrangian(q, lam))
        if loss > 0 and abs(loss / target - 1.0) < 0.05:
            return q, loss
        d *= float(np.sqrt(target / loss)) if loss > 0 else 10.0
    q = _tilt(pi, 0, d)
    return q, float(top - problem.lagrangian(q, lam))


def value_gate_controls(problem: Problem, lam, pi: np.ndarray, certify) -> list[Control]:
    """The value-gap gate of eq. (3) (``certify(problem, lam, pi_candidate, pi_reference)``, the check's own
    comparison: ``numerics.certificates.value_certificate``) at its own scale, around ``pi`` (the maximiser):
    a candidate whose value is GATE_CONTROL_FACTOR x the gate below the maximiser's must be rejected, one
    1/GATE_CONTROL_FACTOR of the gate below accepted; and the gate must lie below its ceiling recomputed here
    (FOC_GATE_MAX_ROUNDINGS x eps x (max|S| + beta (max|log pi_ref| + log n + 1)) x (1 + log2(X n)): the
    rounding of L and the simplex slack of normalised rows are a few roundings of that size)."""
    gate = float(certify(problem, lam, pi, pi)["gate"])
    ceiling = _lagrangian_rounding_ceiling(problem, lam, slack=1.0)
    f = GATE_CONTROL_FACTOR
    q_out, loss_out = _tilt_to_value_gap(problem, lam, pi, f * gate)
    q_in, loss_in = _tilt_to_value_gap(problem, lam, pi, gate / f)
    c_out, c_in = certify(problem, lam, q_out, pi), certify(problem, lam, q_in, pi)
    scale_ok = gate <= ceiling
    return [
        Control(f"value-gap gate rejects a candidate {f:g}x the gate below the maximiser", "negative",
                passed=(not c_out["ok"]) and scale_ok,
                detail=(f"gap {c_out['value_gap']:.2e} vs gate {gate:.2e} (ceiling {ceiling:.2e}, below it: {scale_ok}): "
                        f"rejected {not c_out['ok']}")),
        Control(f"value-gap gate accepts a candidate 1/{f:g} of the gate below", "positive", passed=bool(c_in["ok"]),
                detail=f"gap {c_in['value_gap']:.2e} vs gate {c_in['gate']:.2e}: accepted {c_in['ok']}"),
    ]


def _kkt_gate_ceilings(problem: Problem, lam_unit: np.ndarray) -> tuple[float, float]:
    """Ceilings of the KKT gates of dual-function, recomputed apart from the check: the constraint gate is
    twice the dual Newton gradient gate, max(DUAL_NEWTON_GTOL, a few roundings of c(pi_lam)); the gap gate the
    rounding of L plus sum_j lam_j times that. "A few roundings" is at most FOC_GATE_MAX_ROUNDINGS x eps x
    size, with size = max|logit| + log2(X n) + 1 (c) and max|S| + beta (max|log pi_ref| + log n) times
    (1 + log2(X n)) (L), in the units of ``nondimensional_problem``."""
    from opdcheck.numerics.dual import nondimensional_problem
    from opdcheck.tolerances import DUAL_NEWTON_GTOL

    unit, _, _ = nondimensional_problem(problem)
    eps = float(np.finfo(np.float64).eps)
    S = unit.scores(np.asarray(lam_unit, dtype=np.float64))
    beta = float(unit.beta)
    log_xn = float(np.log2(unit.X * unit.n))
    z_size = float(np.max(np.abs(S))) / beta + float(np.max(-unit.log_pi_ref)) + log_xn + 1.0
    gate = 2.0 * max(DUAL_NEWTON_GTOL, FOC_GATE_MAX_ROUNDINGS * eps * z_size)
    gap_gate = _lagrangian_rounding_ceiling(unit, lam_unit) + float(np.sum(lam_unit)) * gate
    return gate, gap_gate


def kkt_gate_controls(problem: Problem, certificate: dict, accept) -> list[Control]:
    """dual-function's KKT gates (``accept(feasibility, complementarity, gap, gate, gap_gate, lam)``, the
    check's own comparison) at their own scale, from ``certificate`` (``multiplier_certificate`` on a problem
    whose lam* certifies). Each of infeasibility, complementarity and duality gap set to GATE_CONTROL_FACTOR x
    its gate must be rejected, all three at 1/GATE_CONTROL_FACTOR of their gates accepted, a negative lam
    rejected; and the gates themselves must lie below their ceilings recomputed here (``_kkt_gate_ceilings``),
    so that a gate loosened by more than the ceiling's margin fails the negative control."""
    gate, gap_gate, lam = certificate["gate_unit"], certificate["gap_gate_unit"], certificate["lam"]
    ceil_gate, ceil_gap = _kkt_gate_ceilings(problem, certificate["lam_unit"])
    scale_ok = gate <= ceil_gate and gap_gate <= ceil_gap
    f = GATE_CONTROL_FACTOR
    beyond = {"infeasibility": accept(f * gate, 0.0, 0.0, gate, gap_gate, lam),
              "complementarity": accept(0.0, f * gate, 0.0, gate, gap_gate, lam),
              "duality gap": accept(0.0, 0.0, f * gap_gate, gate, gap_gate, lam),
              "negative lam": accept(0.0, 0.0, 0.0, gate, gap_gate, -np.abs(lam) - 1.0)}
    inside = accept(gate / f, gate / f, gap_gate / f, gate, gap_gate, lam)
    return [
        Control(f"KKT gates reject a point {f:g}x beyond each gate", "negative",
                passed=(not any(beyond.values())) and scale_ok,
                detail=(f"gates {gate:.2e} (ceiling {ceil_gate:.2e}) and gap {gap_gate:.2e} (ceiling {ceil_gap:.2e}); "
                        "accepted beyond the gate: " + (", ".join(k for k, v in beyond.items() if v) or "none"))),
        Control(f"KKT gates accept a point 1/{f:g} of each gate away", "positive", passed=bool(inside and certificate["ok"]),
                detail=f"accepted {inside}; the certified point itself: {certificate['ok']}"),
    ]


def sec4_rule_controls(methods: dict, opd: str = "sec4-opd", pd: str = "sec4-pd",
                       safe: str = "safe-rlhf") -> list[Control]:
    """§4's two multiplier rules, as the check builds them from ``methods`` (name -> config with ``dual_rule``,
    ``dual_params``), fed the same changing gradients g_t: the OPD rule must follow the paper's update
    ``log lam_{t+1} = log lam_t - 0.5 (2 g_t - g_{t-1})`` (``g_{-1} = g_0``, recomputed here), and its
    multiplier path must differ from plain PD's (a rule that dropped the correction would match it); the
    Safe-RLHF rule must follow its source (``log lam -= 0.1 lam g``, clamped at ``log 5``)."""
    from opdcheck.kernels.dual_rules import make_dual_rule

    gs = [np.array([g]) for g in (-0.4, 0.3, -0.2, 0.5, 0.1)]

    # Safe-RLHF's clamp at lambda_max = 5 binds only after large violations: three more steps drive log lam
    # past log 5 twice (g = -30: +3 and +15 before the clamp) and then back below it
    gs_safe = gs + [np.array([-30.0]), np.array([-30.0]), np.array([0.2])]

    def path(name: str, grads: list = gs) -> list[float]:
        cfg = methods[name]
        rule = make_dual_rule(cfg.dual_rule, **cfg.dual_params)
        lam, state, out = np.array([1.0]), rule.init(np.array([1.0])), []
        for g in grads:
            lam, state = rule.update(state, lam, g)
            out.append(float(lam[0]))
        return out

    try:
        p_opd, p_pd = path(opd), path(pd)
    except Exception as exc:
        return [Control("§4 rules follow the paper's update and differ", "positive", False, f"{exc!r}")]
    ref, loglam, prev = [], 0.0, None
    for g in gs:
        g_t = float(g[0])
        loglam -= 0.5 * (2.0 * g_t - (g_t if prev is None else prev))
        prev = g_t
        ref.append(float(np.exp(loglam)))
    err = max(abs(a - b) / b for a, b in zip(p_opd, ref))
    gap = max(abs(a - b) for a, b in zip(p_opd, p_pd))
    out = []
    if safe in methods:  # the third rule the check compares: Safe-RLHF's (SGD on log lambda, lr 0.1, clamp at log 5)
        try:
            p_safe = path(safe, gs_safe)
        except Exception as exc:
            p_safe, exc_s = None, exc
        ref_s, log_lam = [], 0.0
        for g in gs_safe:
            log_lam = min(log_lam - 0.1 * float(np.exp(log_lam)) * float(g[0]), float(np.log(5.0)))
            ref_s.append(float(np.exp(log_lam)))
        err_s = float("inf") if p_safe is None else max(abs(a - b) / b for a, b in zip(p_safe, ref_s))
        out.append(Control("Safe-RLHF rule equals its source's update on 8 steps (clamp binding)", "positive", err_s <= 1e-12,
                           f"max relative difference {err_s:.1e} from log lam -= 0.1 lam g, clamp log 5"
                           if p_safe is not None else f"{exc_s!r}"))
    return out + [
        Control("OPD rule equals the paper's 2 g_t - g_{t-1} update on 5 steps", "positive", err <= 1e-12,
                f"max relative difference {err:.1e} from log lam -= 0.5 (2 g_t - g_(t-1))"),
        Control("OPD rule's multiplier path differs from plain PD's", "negative", gap > 1e-3,
                f"max |lam_OPD - lam_PD| over 5 steps with changing g_t: {gap:.3g}"),
    ]
