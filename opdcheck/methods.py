"""The one registry of named methods: canonical name, aliases, paper source and defaults.

Every entry point that takes a method name reads this module: the driver's configurations
(:func:`opdcheck.kernels.framework.run_config`), the baselines (:mod:`opdcheck.kernels.baselines`),
the exact rate certificates (:mod:`opdcheck.theory.linearization`, ``opdcheck certify --method``),
``opdcheck list-methods`` and the checks. A method is a configuration of the one driver
(:func:`opdcheck.kernels.opd.run_primal_dual`): an *ordering* of the two players' steps, a *primal
oracle* and a *dual rule*; a new method is a new entry here, not a new loop.

Plain data, no numerical imports: ``theory/`` (sympy only) reads it as well as ``kernels/``.

Default dual-step convention, one per method (an entry point called without ``dual_step`` uses it):

* ``"prox"``: ``lam <- [lam_hat - c/(2 eta_lam)]_+``, the minimiser of eqs. (5)/(7) (Algorithm 2, the
  proof of Thm 3.4). Default of ``opd``.
* ``"gradient"``: ``lam <- [lam - c/eta_lam]_+``, Algorithm 1 as printed, eqs. (9)/(11) of Algorithm 3,
  and Fig. 1's ``1/eta_lam = 0.6``. Default of every other projected-step method.

Stateful practitioners' rules carry their own step sizes (``dual_params``); ``dual_step`` does not apply.

Example
-------
>>> get_method("finite-step-pd").name
'alternating-gda'
>>> get_method("opd").dual_step, get_method("simultaneous-pd").dual_step
('prox', 'gradient')
>>> canonical_name("sequential")
'alternating-gda'
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Method", "METHODS", "ORDERINGS", "DUAL_STEPS", "get_method", "canonical_name", "all_methods",
           "method_names", "certified_methods", "describe_methods"]

#: how the two players' steps are ordered (the driver's ``prediction`` argument)
ORDERINGS = {"sequential": "alternating", "simultaneous": "none", "optimistic": "optimistic"}
#: the two conventions of the projected dual step (module docstring)
DUAL_STEPS = ("prox", "gradient")


@dataclass(frozen=True)
class Method:
    """One named method: a configuration of the one driver, with its source and defaults.

    ``ordering``: a key of :data:`ORDERINGS`; ``oracle``: ``"mirror"`` (``K`` KL-mirror steps at
    ``eta_th``), ``"best-response"`` (the closed form (3)) or ``"inner-loop"`` (mirror steps until the
    iterate stops moving); ``dual_rule``: ``"projected-gradient"`` or a rule of
    :mod:`opdcheck.kernels.dual_rules`; ``dual_step``: the default convention of the projected step;
    ``certified``: the exact linearization of :mod:`opdcheck.theory.linearization` covers it.
    """

    name: str
    ordering: str
    oracle: str
    K: int = 1
    dual_rule: str = "projected-gradient"
    dual_params: dict = field(default_factory=dict)
    lam_init: float | None = None  # the source's initial multiplier (None: 0)
    dual_step: str = "gradient"
    aliases: tuple[str, ...] = ()
    source: str = ""
    summary: str = ""
    certified: bool = False
    label: str = ""  # how reports and figures name it
    #: the certified method whose exact linearization this one's update is ("" if none); one-shot is
    #: alternating GDA at eta_th = 0
    linearized_as: str = ""

    def __post_init__(self) -> None:
        if self.certified and not self.linearized_as:
            object.__setattr__(self, "linearized_as", self.name)

    def describe(self) -> dict:
        return {"name": self.name, "aliases": list(self.aliases), "ordering": self.ordering, "oracle": self.oracle,
                "K": self.K, "dual_rule": self.dual_rule, "dual_params": dict(self.dual_params),
                "lam_init": self.lam_init, "dual_step": self.dual_step, "source": self.source,
                "summary": self.summary, "certified": self.certified, "label": self.label or self.name, "linearized_as": self.linearized_as}


#: multi-shot's inner mirror steps (the paper fixes none; K > 1, else it is finite-step PD). One source for the
#: value, its label and its summary
_MULTI_SHOT_K = 10

_ALL = (
    Method("opd", "optimistic", "mirror", dual_step="prox", certified=True,
           aliases=("optimistic-pd", "alg2", "algorithm-2", "ogda"), label="OPD",
           source="paper Algorithm 2, eqs. (4)-(7)",
           summary="optimistic predictions (4)-(5), then the actual steps (6)-(7)"),
    Method("simultaneous-gda", "simultaneous", "mirror", certified=True,
           aliases=("simultaneous-pd", "simultaneous", "pd", "jacobi-gda", "gda"), label="simultaneous GDA",
           source="paper §3 bilinear example and Fig. 1 ('the standard primal-dual gradient method'); Jacobi GDA",
           summary="one mirror step and one projected dual step from the same state"),
    Method("alternating-gda", "sequential", "mirror", K=1, certified=True,
           aliases=("finite-step-pd", "sequential-gda", "sequential-pd", "alternating", "sequential",
                    "finite-step", "gauss-seidel-gda"), label="sequential GDA",
           source="paper §2.3, Algorithm 1 with a one-step oracle (finite-step PD: Safe-RLHF, constrained DPO)",
           summary="one mirror step, then the dual step on the new policy (Gauss-Seidel)"),
    Method("multi-shot", "sequential", "mirror", K=_MULTI_SHOT_K, label=f"multi-shot (K = {_MULTI_SHOT_K})",
           source="paper §2.3, Algorithm 1 ('multi-shot')",
           summary=f"K = {_MULTI_SHOT_K} inner mirror steps on L(., lam_t), then the dual step"),
    Method("exact-multi-shot", "sequential", "inner-loop",
           source="paper §2.3, Algorithm 1 ('multi-shot', inner loop run to convergence)",
           summary="inner mirror loop until the iterate stops moving (1e-12), then the dual step"),
    Method("one-shot", "sequential", "best-response", aliases=("dual-gradient", "best-response"),
           linearized_as="alternating-gda",
           source="paper §2.3, eq. (3); Huang et al. 2024",
           summary="closed-form best response (3): projected gradient descent on the dual function"),
    Method("safe-rlhf", "simultaneous", "mirror", dual_rule="safe-rlhf", lam_init=1.0,
           source="Safe-RLHF (Dai et al. 2024) ppo_lag: log-lambda SGD, lr 0.1, lambda_init 1, lambda_max 5",
           summary="one mirror step; log lam += lr lam (J_c - d), clamped at lam_max"),
    Method("adam-clamp", "simultaneous", "mirror", dual_rule="adam-clamp", lam_init=0.001,
           aliases=("omnisafe-ppolag",),
           source="OmniSafe PPOLag: Adam lr 0.035 on lambda, init 0.001, clamp at 0",
           summary="one mirror step; Adam on lam with gradient c, then clamp"),
    Method("pid-lagrangian", "simultaneous", "mirror", dual_rule="pid-lagrangian", lam_init=0.001,
           aliases=("cppo-pid",),
           source="OmniSafe CPPOPID (Stooke et al. 2020): kp 0.1, ki 0.01, kd 0.01, delay 10, EMA 0.95",
           summary="one mirror step; the multiplier is a PID controller's output"),
    Method("sec4-opd", "simultaneous", "mirror", dual_rule="sec4-optimistic-log-lambda", lam_init=1.0,
           source="paper §4: log-lambda step 0.5 with g = 2 g_t - g_{t-1}",
           summary="one mirror step; the extrapolated log-lambda step"),
    Method("sec4-pd", "simultaneous", "mirror", dual_rule="sec4-plain-log-lambda", lam_init=1.0,
           source="paper §4's PD baseline: log-lambda step 0.5, no correction",
           summary="one mirror step; the plain log-lambda step"),
)

#: canonical name -> Method
METHODS: dict[str, Method] = {m.name: m for m in _ALL}
_BY_NAME: dict[str, Method] = {}
for _m in _ALL:
    for _k in (_m.name, *_m.aliases):
        if _k in _BY_NAME:  # pragma: no cover - a registry error, caught by the tests at import
            raise RuntimeError(f"method name {_k!r} is used twice ({_BY_NAME[_k].name}, {_m.name})")
        _BY_NAME[_k] = _m


def get_method(name: "str | Method") -> Method:
    """The method registered under ``name`` (canonical or alias; case and ``_`` vs ``-`` ignored)."""
    if isinstance(name, Method):
        return name
    if not isinstance(name, str):
        raise ValueError(f"method: {name!r} ({type(name).__name__}); pass a method name, one of {method_names()}.")
    key = name.strip().lower().replace("_", "-")
    if key not in _BY_NAME:
        raise ValueError(f"method: {name!r} is not a known method; choose one of {method_names()} "
                         "(or an alias: `opdcheck list-methods`).")
    return _BY_NAME[key]


def canonical_name(name: "str | Method") -> str:
    """The canonical name of a method given by any of its names."""
    return get_method(name).name


def all_methods() -> list[Method]:
    """Every registered method, in registry order."""
    return list(_ALL)


def method_names() -> list[str]:
    """The canonical names, in registry order."""
    return [m.name for m in _ALL]


def certified_methods() -> tuple[str, ...]:
    """Canonical names of the methods whose local rate the exact linearization certifies."""
    return tuple(m.name for m in _ALL if m.certified)


def describe_methods() -> str:
    """A plain-text table of every method (``opdcheck list-methods``)."""
    oracle_text = {"mirror": "{K} KL-mirror step(s) at eta_th", "best-response": "exact best response (3)",
                   "inner-loop": "inner mirror loop to tolerance"}
    lines = ["Methods (canonical name, aliases); each is a configuration of the one driver "
             "(opdcheck.kernels.framework.run_config(name, problem, ...)):", ""]
    for m in _ALL:
        if m.dual_rule == "projected-gradient":
            dual = (f"projected step, default convention '{m.dual_step}' "
                    + ("[lam - c/(2 eta_lam)]_+" if m.dual_step == "prox" else "[lam - c/eta_lam]_+"))
        else:
            dual = f"{m.dual_rule} (its own step sizes)"
        lines.append(f"{m.name}" + (f"  (aliases: {', '.join(m.aliases)})" if m.aliases else ""))
        lines.append(f"    ordering {m.ordering}; primal: {oracle_text[m.oracle].format(K=m.K)}; dual: {dual}; "
                     f"initial multiplier {m.lam_init if m.lam_init is not None else 0}"
                     + ("; rate certified by `opdcheck certify --method`" if m.certified else ""))
        lines.append(f"    source: {m.source}")
        lines.append(f"    {m.summary}")
    return "\n".join(lines)
