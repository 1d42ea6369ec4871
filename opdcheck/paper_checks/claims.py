"""The claims register: every checkable statement of arXiv 2602.22146, where it is, how it reads, what judges it.

Each :class:`Statement` has a stable id, the paper's own location (Thm 3.4, eq. (46), Lemma B.11 step (b),
§2.3, Fig. 1, App. E), a short quote, the readings the text allows and the findings that judge it (a check id
and a ``Finding.name`` of that check, with the reading the finding judges), or the reason none can.

Readings. ``"literal"`` is always present: the statement as printed. ``"charitable"`` is present when the
text supports a weaker reading than the literal one (an "e.g." step choice, a symbol the proof uses
differently, "lam* > 0" where the proofs use lam* >= 0); when it is absent the literal reading *is* the most
charitable one the text supports (:meth:`Statement.has_weaker_reading` is False). Any other key names a
reading worth recording that the text does not make the paper's claim (e.g. "PD = Algorithm 1's sequential
update" for Fig. 1, "runs" for a statement about guarantees): findings judging such a reading are caveats.

How readings decide verdicts is :mod:`opdcheck.paper_checks.result`'s business (one rule for every check):
a finding with an empty ``statement`` takes its statement, reading and severity from the judge entry here
that names its check and finding (:func:`judge_for`).

Status. ``"fully"``: the findings listed decide the statement as the register reads it; ``"partly"``: they
decide part of it (one reading, one case, a synthetic analogue); ``"not"``: nothing in opdcheck can (a
literature claim, a qualitative remark, a definition, the LLM experiment), and ``reason`` says why.
A judge with ``planned=True`` names a finding another part of opdcheck is adding; it is listed so the
statement is not silently absent, and it counts for coverage only once a run produces it.

Example::

    >>> from opdcheck.paper_checks.claims import get_statement
    >>> s = get_statement("lemma-B.5-positivity")
    >>> s.location, s.has_weaker_reading
    ('Lemma B.5', True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

__all__ = ["Judge", "Statement", "REGISTER", "STATUSES", "KINDS", "SEVERITIES", "get_statement", "judge_for",
           "has_weaker_reading", "label_conflicts", "validate_register", "coverage", "coverage_markdown", "register_payload"]

STATUSES = ("fully", "partly", "not")
SEVERITIES = ("substantive", "misstatement", "typo")
KINDS = ("theorem", "corollary", "lemma", "proof step", "assumption", "equation", "algorithm", "remark",
         "prose", "experiment", "definition")


@dataclass(frozen=True)
class Judge:
    """A finding that judges a statement: ``check`` id, ``finding`` name ("" = the check's verdict as a
    whole, for checks without findings), the ``reading`` it judges and the ``severity`` of its failure."""

    check: str
    finding: str = ""
    reading: str = "literal"
    severity: str = "substantive"
    planned: bool = False


@dataclass(frozen=True)
class Statement:
    id: str
    location: str
    kind: str
    quote: str
    readings: Mapping[str, str]
    judges: tuple[Judge, ...] = ()
    status: str = "not"
    reason: str = ""

    @property
    def has_weaker_reading(self) -> bool:
        """True when the text supports a reading weaker than the literal one (a ``charitable`` entry)."""
        return "charitable" in self.readings

    @property
    def most_charitable(self) -> str:
        return "charitable" if self.has_weaker_reading else "literal"


def _S(id: str, location: str, kind: str, quote: str, readings: Mapping[str, str] | str,
       judges: Iterable[Judge] = (), status: str = "not", reason: str = "") -> Statement:
    if isinstance(readings, str):
        readings = {"literal": readings}
    return Statement(id, location, kind, quote, dict(readings), tuple(judges), status, reason)


J = Judge
LIT = "literal"
CH = "charitable"
#: named readings the lemmas-B.9-B.12 check judges (the check writes the same strings)
A39 = "Assumption 3.9 as defined (theta* = the exact NPG step)"
A39_VS_PROOF = "theta* of Assumption 3.9 (exact NPG step) vs the proof's class maximiser"

#: Every checkable statement of the paper, in the paper's order.
REGISTER: tuple[Statement, ...] = (
    # ---------------------------------------------------------------- abstract and introduction
    _S("abs-pd-distributional-only", "Abstract", "prose",
       "standard primal-dual methods only guarantee the convergence with a distributional policy where the "
       "saddle-point problem is in the convex-concave form",
       "a survey of what existing analyses prove", status="not",
       reason="literature claim about existing guarantees; no computation decides it"),
    _S("abs-pd-instability", "Abstract", "prose",
       "standard primal-dual methods may exhibit instability or divergence in the last iterations under policy "
       "parameterization in practical applications",
       {LIT: "PD diverges or oscillates in practical (LLM) runs",
        "synthetic": "PD is unstable on a synthetic bandit at the experiment's aggressive dual step"},
       [J("sec-4-stability", "premise: plain PD unstable at dual step 0.5", "synthetic")], "partly",
       "only a synthetic analogue can be run; the practical (LLM) statement needs the paper's experiment"),
    _S("abs-unifies", "Abstract; §1; §5", "prose",
       "a universal primal-dual framework for safe RLHF that unifies ... safe-RLHF, one-shot, and multi-shot "
       "based methods",
       {LIT: "each named method is an instance of Algorithm 1"},
       [J("alg-1-unification", "configurations of one driver"),
        J("alg-1-unification", "one-shot and exact multi-shot reach the saddle point")], "partly",
       "judged on exact-expectation configurations; the LLM implementations themselves are not run"),
    _S("abs-guarantees", "Abstract; §1 contributions", "prose",
       "We establish last-iterate convergence guarantees ... exact policy optimization in the distributional "
       "space and convergence to the neighborhood of the optimal solution ... with parameterized policies",
       {LIT: "Thm 3.4 and Cor 3.10 as printed hold", CH: "the two results hold under their most charitable readings"},
       [J("thm-3.4", "", LIT), J("thm-3.4", "bound fails with the proof's own denominator", CH),
        J("thm-3.4", "t = 1 with the printed denominator (typo)", LIT, "typo"),
        J("cor-3.10-counterexample", "bound along the run", LIT)], "fully",
       "decided through Thm 3.4 and Cor 3.10"),
    _S("abs-optimism-crucial", "Abstract; §1", "prose",
       "optimism plays a crucial role in mitigating the oscillations inherent to constrained alignment objectives",
       {LIT: "without optimism the last iterate oscillates; with it, it converges",
        CH: "optimism enlarges the set of steps at which the last iterate converges"},
       [J("step-size-map", "optimism needed at beta = 0", CH),
        J("step-size-map", "a tuned baseline as good as OPD", LIT),
        J("bilinear-gda", "optimistic stability condition", CH)], "partly",
       "decided on the step-size maps of exact instances; 'crucial' for LLM training is not decidable"),
    _S("intro-bilinear-simultaneous", "§1", "prose",
       "Even in simple bilinear saddle-point problems, simultaneous primal-dual updates fail to converge in the "
       "last iterate and guarantee only average convergence",
       "simultaneous GDA on x^T A y does not converge in the last iterate",
       [J("bilinear-gda", "GDA last iterate spirals out"), J("bilinear-gda", "measured GDA growth vs exact")],
       "partly", "the last-iterate part is decided; 'guarantee only average convergence' is a literature claim"),
    _S("intro-last-iterate-deployed", "§1; §3.1", "prose",
       "This is often insufficient in safe RLHF, where the deployed model corresponds to the last iterate",
       "practice deploys the last iterate", status="not", reason="a statement about practice, not mathematics"),
    _S("intro-multishot-cost", "§1", "prose",
       "Multi-shot methods can be computationally expensive, as they require repeatedly solving the primal "
       "policy optimization problem", "multi-shot costs an inner solve per dual step", status="not",
       reason="qualitative cost statement; no claim a run can refute"),
    _S("intro-oneshot-unrealistic", "§1", "prose",
       "one-shot dualization ... does not accurately reflect practical alignment settings, where policies are "
       "parameterized by large neural networks", "the closed form is not attainable by a network",
       status="not", reason="qualitative statement about practice"),
    _S("intro-opd-known-stable", "§1", "prose",
       "Optimistic primal-dual methods are known to stabilize saddle-point dynamics and admit last-iterate "
       "convergence guarantees Ding et al. (2023)",
       {LIT: "literature: OPD admits last-iterate guarantees (Ding et al.)",
        "bilinear": "optimism contracts on the bilinear example for small steps"},
       [J("bilinear-gda", "optimistic stability condition", "bilinear")], "partly",
       "a literature claim; opdcheck checks the bilinear case only"),
    _S("intro-open-question", "§1; App. A", "prose",
       "Is it possible to design an iterative alignment algorithm ... provably stable in the last iterate ...? "
       "it is still an open question", "the question is open in the literature", status="not",
       reason="literature claim"),
    # ---------------------------------------------------------------- §2
    _S("sec2-reward-model", "§2.1, Bradley-Terry model and its MLE", "definition",
       "P(y^w > y^l | x) = sigma(R*(y^w) - R*(y^l)); R_k = argmax sum log sigma(...)",
       "reward models are fitted by maximum likelihood", status="not",
       reason="a modelling definition; opdcheck takes the rewards as given"),
    _S("sec2-problem", "§2.1, constrained problem; §2.2 eqs. (1), (2)", "definition",
       "max_pi E[sum_k w_k R_k - beta KL(pi||pi_ref)] s.t. E[R_j] >= 0, beta > 0; S_lam, L(pi, lam), "
       "min_lam max_pi L", "the problem and its Lagrangian", status="not",
       reason="definitions used by every check; beta = 0 is opdcheck's own extension, labelled as such"),
    _S("sec2-convex-concave", "§2.2", "prose",
       "over the space of all stochastic policies, the objective is concave in pi and linear in lambda, and the "
       "problem admits a convex-concave structure", "L is concave in pi and linear in lam",
       [J("dual-function", "convexity")], "partly",
       "the dual function's convexity is checked; concavity in pi follows from the closed form (eq. (3))"),
    _S("eq-3", "eq. (3); Lemma B.7", "equation",
       "pi*(y|x) = pi_ref(y|x) exp(S_lam(x,y)/beta)/Z(x)", "the closed form maximises L(., lam)",
       [J("eq3-best-response", "first-order condition"),
        J("eq3-best-response", "value vs an independent feasible point"),
        J("eq3-best-response", "agreement with the independent solve")], "fully"),
    _S("sec2-parameterized-nonconcave", "§2.2", "prose",
       "the policy is restricted to a parameterized family ... the optimization becomes non-concave in theta",
       "non-concave in general", status="not", reason="a general remark; true of nonlinear classes"),
    _S("sec2-dual-gradient", "§2.2, gradient of L in lam_j", "equation",
       "grad_{lam_j} L(pi, lam) = E_{x, y ~ pi}[R_j(x, y)]", "the dual gradient is the constraint value",
       [J("dual-function", "gradient and Hessian")], "fully"),
    _S("sec2-projected-dual", "§2.2", "prose",
       "standard constrained RLHF methods update the dual variables by projected gradient descent",
       "a description of existing methods", status="not", reason="literature description"),
    # ---------------------------------------------------------------- §2.3
    _S("alg-1", "§2.3, Algorithm 1", "algorithm",
       "pi_{theta_{t+1}} <- PrimalOracle(pi_{theta_t}, lam_t, ...); g_t <- GradEst(theta_{t+1}, ...); "
       "lam_{t+1} <- [lam_t - g_t/eta_lam]_+",
       "the dual step uses the new policy (a sequential update)",
       [J("alg-1-unification", "configurations of one driver")], "fully"),
    _S("sec23-finite-step-instance", "§2.3, finite-step primal-dual", "prose",
       "When the primal oracle performs a finite number of stochastic gradient steps, the algorithm reduces to "
       "the class of coupled primal-dual methods used in safe RLHF and constrained DPO",
       "Safe-RLHF-type methods are Algorithm 1 with a finite-step oracle",
       [J("alg-1-unification", "configurations of one driver")], "partly",
       "the configuration is built; the cited methods' own code is not run"),
    _S("sec23-lack-guarantees", "§2.3, finite-step primal-dual", "prose",
       "These methods lack last-iterate convergence guarantees, even when the underlying Lagrangian is "
       "convex-concave in the distribution space",
       {LIT: "no proof of last-iterate convergence exists for them (a statement about guarantees)",
        "runs": "their runs fail to converge in the last iterate (not what the text says)"},
       [J("alg-1-unification", "guarantees lacking (not judged by runs)", LIT)], "not",
       "a statement about guarantees: no run can refute it; the finding reports the runs and decides nothing"),
    _S("sec23-multishot", "§2.3, approximate multi-shot", "prose",
       "the inner-loop problem remains non-convex in the parameter space and is only solved approximately, "
       "which prevents these methods from being interpreted as exact primal oracles",
       "exact multi-shot is an exact oracle; approximate multi-shot is not",
       [J("alg-1-unification", "one-shot and exact multi-shot reach the saddle point")], "partly",
       "the exact case is run; the parameter-space non-convexity is qualitative"),
    _S("sec23-oneshot", "§2.3, exact dualization and one-shot", "prose",
       "one-shot methods ... yield an explicit, closed-form, and convex dual objective ... each iteration "
       "reduces to a pure dual update step",
       "one-shot = projected gradient on the convex dual",
       [J("dual-function", "convexity"), J("alg-1-unification", "one-shot and exact multi-shot reach the saddle point")],
       "fully"),
    # ---------------------------------------------------------------- §3
    _S("sec3-no-guarantee", "§3, first paragraph", "prose",
       "Standard primal-dual methods do not guarantee last-iterate convergence in constrained RLHF",
       {LIT: "no unconditional last-iterate guarantee holds for standard PD",
        "runs": "standard PD runs never converge (not what the text says)"},
       [J("alg-1-unification", "standard PD may fail in the last iterate"),
        J("alg-1-unification", "guarantees lacking (not judged by runs)", LIT)], "partly",
       "one failing case shows no unconditional guarantee can hold; 'guarantee' in the literature is not judged"),
    _S("sec3-not-scsc", "§3, first paragraph", "prose",
       "the KL regularization induces strong concavity in the primal variable. However, the Lagrangian remains "
       "linear in the dual multipliers, and hence the resulting saddle-point problem is generally not "
       "strongly-convex-strongly-concave", "L is strongly concave in pi, linear in lam",
       [J("dual-function", "gradient and Hessian")], "partly",
       "the curvature of the dual function is computed; the structural remark itself is elementary"),
    _S("sec3-gda-scsc-only", "§3, first paragraph (cited as §2.3 in the findings)", "prose",
       "The gradient descent-ascent methods converge linearly to the unique saddle point only under smooth "
       "strongly-convex-strongly-concave conditions with appropriate step sizes Zamani et al. (2024)",
       {LIT: "GDA converges linearly only if the problem is SC-SC",
        CH: "SC-SC is the condition under which the cited analysis proves linear convergence"},
       [J("step-size-map", "simultaneous GDA needs h/(2 eta_lam) < beta", LIT),
        J("alg-1-unification", "GDA converges linearly only under SC-SC", CH)], "fully",
       "simultaneous GDA converges linearly without SC-SC when h/(2 eta_lam) < beta"),
    _S("sec3-fail-unique-saddle", "§3, first paragraph", "prose",
       "last-iterate convergence may fail even when a unique saddle point exists",
       "a method with a unique saddle point whose last iterate does not converge",
       [J("bilinear-gda", "GDA last iterate spirals out"),
        J("alg-1-unification", "standard PD may fail in the last iterate")], "fully"),
    _S("sec3-bilinear-update", "§3 example, update and z_{t+1} = (I - alpha J) z_t", "equation",
       "x_{t+1} = x_t + alpha A y_t, y_{t+1} = y_t - alpha A^T x_t; z_{t+1} = (I - alpha J) z_t",
       "simultaneous GDA is the linear map I - alpha J (this defines the paper's 'standard primal-dual')",
       [J("bilinear-gda", "GDA eigenvalues (symbolic)")], "fully"),
    _S("sec3-bilinear-eigenvalues", "§3 example", "equation",
       "J has imaginary eigenvalues ± i sigma_i. Hence (I - alpha J) has eigenvalues 1 ± i alpha sigma_i whose "
       "magnitudes are larger than 1", "|1 ± i alpha sigma_i| > 1: the last iterate spirals out",
       [J("bilinear-gda", "GDA eigenvalues (symbolic)"), J("bilinear-gda", "GDA last iterate spirals out"),
        J("bilinear-gda", "measured GDA growth vs exact")], "fully"),
    _S("sec3-only-average", "§3, after the example", "prose",
       "even in constrained RLHF problems where the primal objective is strongly concave ..., standard primal-dual "
       "methods generally admit only average convergence guarantees and may fail to converge in the last iterate",
       {LIT: "existing guarantees are ergodic; the last iterate may fail",
        "runs": "standard PD runs fail to converge (not what the text says)"},
       [J("alg-1-unification", "standard PD may fail in the last iterate"),
        J("alg-1-unification", "guarantees lacking (not judged by runs)", LIT)], "partly",
       "'may fail' is decided; 'only average guarantees' is about proofs"),
    _S("sec3-parameterized-harder", "§3, after the example", "prose",
       "The situation becomes even more challenging in practical RLHF settings with parameterized policies",
       "qualitative", status="not", reason="qualitative remark"),
    _S("sec3-optimism-suppresses", "§3, before §3.1", "prose",
       "OPD ... corrects each update using a prediction of the next-step gradient and is known to suppress the "
       "rotational dynamics", "optimism contracts the bilinear rotation",
       [J("bilinear-gda", "optimistic stability condition")], "partly", "decided on the bilinear example"),
    _S("sec3-same-guarantees-param", "§3, before §3.1", "prose",
       "We then extend the analysis to parameterized policies, showing that the same guarantees hold up to "
       "approximation errors", "Cor 3.10", [J("cor-3.10-counterexample", "bound along the run")], "partly",
       "decided through Cor 3.10"),
    # ---------------------------------------------------------------- §3.1
    _S("alg-2", "§3.1, Algorithm 2, eqs. (4)-(7)", "algorithm",
       "pi_t = argmax L(pi, lam_{t-1}) - eta_th KL(pi||pi_hat_t); lam_t = argmin lam E_{pi_{t-1}}[R] + "
       "eta_lam (lam - lam_hat_t)^2; ...",
       {LIT: "as printed; pi_{-1}, lam_{-1} at t = 0 are not defined",
        CH: "pi_{-1} = pi_hat_0, lam_{-1} = lam_hat_0 (opdcheck's stated convention)"},
       [J("opd-closed-form", "cvxpy agreement", CH)], "partly",
       "the update is implemented under a stated t = 0 convention; the gap in the text is reported, not judged"),
    _S("eq-5-7-dual-step", "eqs. (5), (7) vs (9), (11)", "equation",
       "lam_t = argmin_{lam >= 0} lam E[R] + eta_lam (lam - lam_hat_t)^2 (Alg. 2) vs "
       "lam_t = [lam_hat_t - E[R]/eta_lam]_+ (Alg. 3)",
       {LIT: "the two algorithms take the same dual step", CH: "they agree up to the scale of eta_lam"},
       [J("dual-step-scale", "dual step coefficient", LIT, "misstatement")], "fully"),
    _S("sec31-slater-duality", "§3.1, before Assumption 3.1", "prose",
       "Assumption 3.1 corresponds to Slater's condition, which ... guarantees strong duality, i.e., the existence "
       "of the optimal saddle point", "a saddle point exists and lam* is a KKT multiplier",
       [J("dual-function", "lam* is a KKT multiplier of (1)"), J("dual-function", "agrees with cvxpy's constraint duals")],
       "fully"),
    _S("asm-3.1", "Assumption 3.1", "assumption",
       "There exists a policy pi_bar and xi > 0 such that E[R_j] >= xi for all j",
       "Slater margin xi > 0 (computed by LP on every instance)",
       [J("lemma-B.5", "bound (Remark B.6)")], "fully", "xi is computed, not assumed, wherever it is used"),
    _S("asm-3.2", "Assumption 3.2", "assumption", "|R_k(x, y)| <= R_max",
       "bounded rewards", [J("cor-3.10-counterexample", "hypothesis: Assumption 3.2 (bounded rewards)")], "fully"),
    _S("asm-3.3", "Assumption 3.3", "assumption", "pi_ref(y|x) >= p_min > 0",
       "full support", [J("cor-3.10-counterexample", "hypothesis: Assumption 3.3 (full support of pi_ref)")], "fully"),
    _S("sec31-support-preserved", "§3.1 after Assumption 3.3; App. C", "prose",
       "the support of pi_hat_t(.|x) remains contained within that of the reference policy for all t ... any "
       "optimal policy pi* ... is covered", "supports never shrink", status="not",
       reason="immediate from the closed forms (every factor is positive); no finding isolates it"),
    _S("thm-3.4", "Thm 3.4, eqs. (46), (47)", "theorem",
       "under suitably chosen hyper-parameters eta_th and eta_lam (e.g., eta_th = eta_lam = 3 sqrt(|H|) R_max) ... "
       "E KL(pi*||pi_hat_t) + ||lam* - lam_hat_t||^2 <= rho^(t-1) Phi_1 / min(eta_th + beta, 7/4 eta_lam - 3/4 "
       "sqrt(|H|) R_max)",
       {LIT: "at eta = 3 sqrt(h) R_max the bound holds for all t",
        CH: "for step sizes chosen from the class constants (h, R_max, beta, p_min, xi) the bound with rho of "
            "eq. (46) holds on every instance of the class",
        "printed closed form": "the algorithm that iterates the printed closed form exp(S_lam)"},
       [J("thm-3.4", "", LIT), J("thm-3.4", "bound fails with the proof's own denominator", CH),
        J("thm-3.4", "t = 1 with the printed denominator (typo)", LIT, "typo"),
        J("theorem-tightness", "error vs Thm 3.4 bound (t <= T)", LIT)], "fully"),
    _S("thm-3.4-denominator", "Thm 3.4 (denominator) vs App. C", "equation",
       "min(eta_th + beta, 7/4 eta_lam - 3/4 sqrt(|H|) R_max)",
       {LIT: "the printed 7/4, 3/4", CH: "the proof's 5/4 eta_lam - 1/4 sqrt(h) R_max (delta = 3/4)"},
       [J("thm-3.4-constants", "theorem's denominator", LIT, "typo")], "fully"),
    _S("thm-3.4-rho-lt-1", "Thm 3.4; eq. (46)", "equation",
       "where 0 < rho < 1 is defined in eq. 46", "rho(46) < 1",
       [J("thm-3.4-constants", "eq. (46) reproduces")], "fully"),
    _S("sec31-linear-rate", "§3.1, after Thm 3.4", "prose",
       "The final iterates converge linearly toward the optimal saddle point at rate rho < 1",
       {LIT: "at the rate rho of eq. (46)", CH: "linearly, at some rate < 1"},
       [J("thm-3.4-rate", "", LIT), J("rate-certificate", "", CH)], "fully"),
    _S("sec31-ergodic-contrast", "§3.1, after Thm 3.4", "prose",
       "In contrast to standard primal-dual methods that typically only ensure ergodic convergence",
       "literature contrast", status="not", reason="literature claim"),
    _S("sec31-no-dual-sc", "§3.1, after Thm 3.4", "prose",
       "the result holds under a linear dual objective and without strong convexity in the dual variable",
       {LIT: "the rate rho(46) holds whatever the dual curvature",
        CH: "OPD converges without dual strong convexity (its rate may depend on the curvature)"},
       [J("theorem-tightness", "certified rate vs rho(46)", LIT),
        J("thm-3.4-corrected", "certified <= stated", CH), J("thm-3.4-corrected", "measured <= stated^2", CH),
        J("alg-1-unification", "without strong convexity in the dual", CH)],
       "fully",
       "the certified rate depends on the dual curvature; rho(46) does not"),
    # ---------------------------------------------------------------- §3.2
    _S("eq-72-taylor", "§3.2.1, KL ≈ 1/2 (theta_t - theta_hat_t)^T F (theta_t - theta_hat_t)", "equation",
       "E KL(pi_{theta_t}||pi_{theta_hat_t}) ≈ 1/2 (theta_t - theta_hat_t)^T F(theta_hat_t)(theta_t - theta_hat_t)",
       "second-order Taylor expansion", [J("alg-3-npg", "KL ≈ 1/2 dtheta^T F dtheta (Sec. 3.2.1)")], "fully"),
    _S("eq-fisher", "§3.2.1, Fisher information", "definition",
       "F(theta) = E[grad log pi grad log pi^T]", "the Fisher matrix",
       [J("remark-3.5", "kernel tabular Fisher vs formula")], "partly", "checked for the tabular class"),
    _S("sec321-npg-reduction", "§3.2.1", "prose",
       "Under this local approximation, the distributional OPD updates reduce to natural policy gradient (NPG) "
       "steps in the parameter space", "F^+ grad L is the NPG direction",
       [J("alg-3-npg", "F^+ grad L = least-squares advantage fit")], "fully"),
    _S("sec321-projection", "§3.2.1; eqs. (8), (10)", "prose",
       "we project the updated parameters back onto the parameter space Theta after each primal update",
       {LIT: "Proj_Theta, metric unspecified (opdcheck: Euclidean)",
        CH: "a projection in the metric of F(theta_hat_t), the geometry of the NPG step"},
       [J("alg-3-npg", "converges: active box [-1, 1]", LIT),
        J("alg-3-npg", "converges: active l2 ball r = 2", LIT),
        J("alg-3-npg", "converges: active box [-1, 1], Proj_Theta in the metric of F", CH),
        J("alg-3-npg", "converges: active l2 ball r = 2, Proj_Theta in the metric of F", CH),
        J("alg-3-npg", "converges: inactive projection (l2 ball r = 40)", CH)], "fully"),
    _S("alg-3", "§3.2.1, Algorithm 3, eqs. (8)-(11)", "algorithm",
       "theta_t = Proj_Theta(theta_hat_t + F^+ grad L(pi_{theta_hat_t}, lam_{t-1})/(eta_th + beta)); "
       "lam_t = [lam_hat_t - E[R]/eta_lam]_+ ...", "the NPG form of OPD",
       [J("alg-3-npg", "converges: inactive projection (l2 ball r = 40)"),
        J("alg-3-neural", "Alg. 3 last iterate settles on a neural class")], "partly",
       "converges where the projection is inactive; see sec321-projection for the active case; on small neural "
       "classes measured, not certified (alg-3-neural)"),
    _S("sec321-asymmetric", "§3.2.1", "prose",
       "the predicted policy iterate pi_{theta_t} is only used to form the dual updates ... whereas the actual "
       "policy is used for the primal updates", "gradients only at theta_hat_t",
       [J("alg-3-npg", "gradients only at theta_hat_t")], "fully"),
    _S("sec321-extragradient-cost", "§3.2.1", "prose",
       "symmetric extragradient methods ... require evaluating both primal and dual operators at the predictor "
       "iterate, resulting in higher computational cost and variance", "qualitative cost", status="not",
       reason="qualitative comparison with a cited method"),
    _S("remark-3.5", "Remark 3.5; App. D", "remark",
       "Under tabular softmax parameterization ... the induced policies satisfy pi_{theta_t} = pi_t and "
       "pi_{theta_hat_{t+1}} = pi_hat_{t+1}",
       {LIT: "with the dual steps as printed (factor 2 apart)", CH: "with the dual steps made equal"},
       [J("remark-3.5", "policies equal (dual steps aligned)", CH),
        J("remark-3.5", "as printed (factor-2 dual step)", LIT, "misstatement"),
        J("dual-step-scale", "Remark 3.5 as printed (toy)", LIT, "misstatement")], "fully"),
    _S("remark-3.5-mirror", "Remark 3.5 (proof sketch)", "remark",
       "KL-regularized optimization in the distribution space is exactly equivalent to mirror descent under the "
       "KL geometry, which corresponds to NPG updates", "tabular NPG = KL mirror step",
       [J("remark-3.5", "w = A + c(x) (sympy, n = 3)")], "fully"),
    _S("remark-3.6", "Remark 3.6", "remark",
       "NPG controls policy updates by explicitly constraining the KL ... PPO ... clipping ... both can be "
       "interpreted as mechanisms for bounding policy updates", "qualitative", status="not",
       reason="qualitative relation to PPO"),
    _S("fig-1-setup", "§3.2.2", "prose",
       "It is easy to verify that the optimal policy coincides with the reference policy",
       "on the toy (R_s = (1, 0), R_h = (-0.7, 0.3), pi_ref(y0) = 0.3, beta = 0.05) pi* = pi_ref, lam* = 1",
       [J("fig-1-toy", "OPD converges [prox]")], "partly",
       "the saddle point is computed and OPD's limit compared with it; no finding states pi* = pi_ref alone"),
    _S("fig-1-opd", "Fig. 1; §3.2.2", "experiment",
       "OPD (red) converges to the optimal solution in the last iterate ... with the distance to the optimum "
       "decreasing linearly", "OPD at the figure's steps converges linearly",
       [J("fig-1-toy", "OPD converges [gradient]"), J("fig-1-toy", "OPD converges [prox]")], "fully"),
    _S("fig-1-pd", "Fig. 1; §3.2.2", "experiment",
       "PD (blue) exhibits persistent oscillations and fails to converge ... the standard PD updates fail to "
       "converge and exhibit divergent behavior in this simple setting",
       {LIT: "PD = the method the paper defines as standard primal-dual (simultaneous, §3 example)",
        "sequential PD": "PD = Algorithm 1's sequential update (a caveat about the paper's motivation)"},
       [J("fig-1-toy", "PD fails to converge: simultaneous-pd [gradient]"),
        J("fig-1-toy", "PD fails to converge: simultaneous-pd [prox]"),
        J("fig-1-toy", "caveat: sequential PD converges [gradient]", "sequential PD"),
        J("fig-1-toy", "caveat: sequential PD converges [prox]", "sequential PD")], "fully"),
    _S("fig-1-consistent", "§3.2.2", "prose",
       "consistent with the theoretical guarantees in theorem 3.4",
       {LIT: "the figure illustrates Thm 3.4", "step 2.0": "OPD at a step opdcheck chose, not the figure's"},
       [J("fig-1-toy", "OPD at step 2.0 (opdcheck)", "step 2.0")], "partly",
       "the figure's step (eta_th ≈ 1.617) is not the theorem's; opdcheck reports OPD at a larger step beside it"),
    # ---------------------------------------------------------------- §3.2.3
    _S("sec323-class", "§3.2.3; App. E", "assumption",
       "Pi_Theta ... full support ... pi_theta(y|x) >= p_min ... Theta closed and convex",
       "the parameterized class", [J("cor-3.10-counterexample", "hypothesis: Theta closed convex, class full support")],
       "fully"),
    _S("asm-3.7", "Assumption 3.7", "assumption",
       "There exists theta_bar in Theta and xi > 0 such that E_{pi_theta_bar}[R_j] >= xi",
       "Slater in the class", [J("cor-3.10-counterexample", "hypothesis: Assumption 3.7 (Slater in the class)")], "fully"),
    _S("asm-3.8", "Assumption 3.8", "assumption",
       "E|log pi_theta1 - log pi_theta2| <= C ||theta1 - theta2||_1", "log-policy Lipschitz",
       [J("cor-3.10-counterexample", "hypothesis: Assumption 3.8 (log-policy Lipschitz)")], "fully"),
    _S("asm-3.9", "Assumption 3.9", "assumption",
       "theta_t^*, theta_hat_{t+1}^* denote the exact primal updates defined by eqs. 8 and 10 ... "
       "E||theta_t - theta_t^*||_1 <= eps_approx",
       {LIT: "theta^* is the exact NPG step of eqs. (8)/(10)",
        "proof's theta*": "theta^* is the in-class maximiser (what Lemma B.11's proof uses)"},
       [J("cor-3.10-counterexample", "hypothesis: Assumption 3.9 (inexactness)")], "fully"),
    _S("sec323-eps-zero-tabular", "§3.2.3, after Assumption 3.9", "prose",
       "In the tabular setting with exact expectations, this approximation error vanishes, i.e., eps_approx = 0",
       "tabular exact NPG = the exact step", [J("remark-3.5", "policies equal (dual steps aligned)")], "partly",
       "holds by definition of theta^*; checked through Remark 3.5's equivalence"),
    _S("sec323-eps-batches", "§3.2.3, after Assumption 3.9", "prose",
       "eps_approx ... can be made arbitrarily small with sufficiently large batch sizes",
       "eps_approx -> 0 as the batch grows", [J("cor-3.10", "eps_approx -> 0 with large batches")], "fully"),
    _S("cor-3.10", "Cor 3.10, eq. (28)", "corollary",
       "... satisfies E KL(pi_{theta*}||pi_hat_t) + ||lam* - lam_hat_t||^2 <= rho^(t-1) Phi_1/min(...) + "
       "2(1 - rho^t)/(1 - rho) gap(eps_approx, p_min)",
       {LIT: "with Assumption 3.9 as defined (theta^* the exact NPG step), on any class satisfying the hypotheses",
        "proof's theta*": "eps_approx measured against the in-class maximiser (the proof's reading)"},
       [J("cor-3.10-counterexample", "bound along the run", LIT),
        J("cor-3.10-counterexample", "surviving reading (eps against the in-class maximiser)", "proof's theta*"),
        J("cor-3.10", "bound holds along the sweep (favourable p_min)", LIT),
        J("cor-3.10-counterexample", "hypothesis: step sizes eta_th = eta_lam = 3 sqrt(h) R_max", LIT)], "fully"),
    _S("cor-3.10-scope", "App. E ('linear parameterized space'); §3.2.3", "prose",
       "As we consider the NPG update in the linear parameterized space",
       {LIT: "the proof covers log-linear (softmax-linear) classes",
        "any class": "Cor 3.10 holds for any class satisfying its assumptions"},
       [J("alg-3-npg", "converges: active box [-1, 1]", LIT)], "partly",
       "the log-linear box class answers the scope defence; the link to Cor 3.10 is not yet a finding"),
    _S("sec323-neighbourhood-shrinks", "§3.2.3, after Cor 3.10", "prose",
       "As the approximation error vanishes, the neighborhood shrinks accordingly", "radius -> 0 with eps",
       [J("cor-3.10", "fitted exponent of the floor in eps (measured)")], "partly",
       "measured on favourable classes; the counterexample shows it fails when the class misses pi*"),
    _S("sec323-optimism-preserved", "§3.2.3, after Cor 3.10", "prose",
       "function approximation does not destroy the stabilizing effect of optimism, but only introduces a "
       "controlled residual error", "Alg. 3 converges to a neighbourhood",
       [J("alg-3-npg", "converges: inactive projection (l2 ball r = 40)"),
        J("cor-3.10-counterexample", "bound along the run")], "partly"),
    _S("cor-3.10-residual", "App. E, final bound", "proof step",
       "Phi_{t+1} <= rho Phi_t + 2 gap ... E KL + ||lam* - lam_hat_t||^2 <= rho^t Phi_1/(rho min(...)) + "
       "2(1 - rho^t) gap/(1 - rho)",
       {LIT: "the residual is 2(1 - rho^t) gap/(1 - rho)",
        CH: "the residual divided by the same minimum coefficient as the Phi term"},
       [J("cor-3.10-residual", "residual term not divided by min(a1, a3)", LIT)], "partly",
       "the literal display is judged on every sequence the recursion allows; the divided reading is not a "
       "separate finding"),
    # ---------------------------------------------------------------- §4 and §5
    _S("sec4-setup", "§4, datasets and reward models", "experiment",
       "Alpaca-7b-reproduced ... beaver-7b-v1.0-reward and -cost ... PKU-SafeRLHF-30K",
       "the LLM experiment", status="not", reason="needs the LLM experiment"),
    _S("sec4-ppo-npg", "§4, OPD implementation", "prose",
       "the policy update is implemented via a clipped policy gradient objective, which can be viewed as a "
       "practical approximation of NPG", "PPO approximates NPG", status="not", reason="qualitative"),
    _S("sec4-dual-rule", "§4, OPD implementation", "equation",
       "g_t^OPD = 2 g_t - g_{t-1} ... applied directly to the log-dual variable log lambda",
       {LIT: "the practical OPD dual rule in the LLM experiment", "synthetic": "the same rule on a synthetic analogue (a bandit; a small transformer LM)"},
       [J("sec-4-stability", "multiplier stability", "synthetic"),
        J("sec-4-stability", "multiplier settles faster, exact expectations", "synthetic")],
       "partly", "a synthetic analogue only"),
    _S("sec4-aggressive", "§4", "experiment",
       "These relatively aggressive stepsizes intentionally place PD-based methods in an unstable regime",
       {LIT: "PD is unstable at dual step 0.5 in the LLM experiment", "synthetic": "on a synthetic analogue (a bandit; a small transformer LM)"},
       [J("sec-4-stability", "premise: plain PD unstable at dual step 0.5", "synthetic")],
       "partly", "a synthetic analogue only; the LLM runs are not reproduced"),
    _S("fig-2", "Fig. 2; §4", "experiment",
       "the OPD method converges to policies that satisfy the safety constraints while maintaining competitive "
       "rewards, whereas PD-based methods exhibit degraded safety performance",
       {LIT: "on the LLM experiment", "synthetic": "on a synthetic analogue (a bandit; a small transformer LM)"},
       [J("sec-4-stability", "multiplier stability", "synthetic"),
        J("sec-4-stability", "OPD rule vs sec4-pd", "synthetic"),
        J("sec-4-stability", "OPD rule vs safe-rlhf", "synthetic")], "partly",
       "needs the LLM experiment; a synthetic analogue is run"),
    _S("fig-3", "Fig. 3; §4", "experiment",
       "The evaluation results show that the OPD-based method achieves higher rewards and constraints than "
       "PD-based methods", "model-based evaluation", status="not", reason="needs the LLM experiment"),
    _S("concl-distributional", "§5", "prose",
       "In the distributional setting, the iterates converge to the exact saddle point",
       {LIT: "at the stated rate", CH: "the last iterate converges (some rate)"},
       [J("rate-certificate", "", CH), J("thm-3.4-corrected", "stable at Thm 3.4's steps", CH)], "partly",
       "local convergence on every instance tried; no global proof is attempted"),
    _S("concl-parameterized", "§5", "prose",
       "in the parameterized setting, they converge to a neighborhood of the optimum",
       "Cor 3.10's conclusion", [J("cor-3.10-counterexample", "bound along the run")], "fully"),
    _S("concl-stability", "§5", "experiment",
       "With more aggressive step sizes, OPD exhibits improved training stability relative to PD, and this "
       "stability translates into better performance in evaluations",
       {LIT: "on the LLM experiment", "synthetic": "on a synthetic analogue"},
       [J("sec-4-stability", "multiplier stability", "synthetic")], "partly", "needs the LLM experiment"),
    # ---------------------------------------------------------------- App. B
    _S("lemma-B.1", "Lemma B.1 (Hölder)", "lemma", "||fq||_1 <= ||f||_p ||g||_q for 1/p + 1/q = 1",
       "Hölder's inequality (the 'fq' is a typo for fg)", status="not",
       reason="a textbook inequality; its typo does not affect any use"),
    _S("lemma-B.2", "Lemma B.2 (Pinsker)", "lemma", "||p - q||_1 <= sqrt(2 KL(p||q))", "Pinsker",
       [J("lemmas-B.2-B.4-B.8", "B.2 Pinsker")], "fully"),
    _S("lemma-B.3", "Lemma B.3 (Young)", "lemma", "|<u, v>| <= delta/2 ||u||^2 + 1/(2 delta) ||v||^2",
       "Young's inequality", status="not", reason="a textbook inequality"),
    _S("lemma-B.4", "Lemma B.4", "lemma",
       "For any delta, theta > 0, ||a+b+c||^2 >= (1-delta)||a||^2 + (1-1/delta)(1-theta)||b||^2 + "
       "(1-1/delta)(1-1/theta)||c||^2",
       "as printed, at the proof's delta = theta = 3/4 (no weaker reading: the proof needs exactly this)",
       [J("lemmas-B.2-B.4-B.8", "B.4 at the proof's delta")], "fully"),
    _S("lemma-B.5-positivity", "Lemma B.5", "lemma", "Let Assumption 3.1 hold, then lambda* > 0",
       {LIT: "every component of lam* is positive", CH: "lam* >= 0 (what every proof uses)"},
       [J("lemma-B.5", "lam* > 0 (Lemma B.5)", LIT, "misstatement"),
        J("lemma-B.5", "lam* >= 0 (the form the proofs use)", CH)], "fully"),
    _S("lemma-B.5-bound", "Lemma B.5, intermediate bound", "equation",
       "||lam*||_1 <= (1/xi) E[(E_{pi*}[r] - beta KL(pi*||pi_ref)) - (E_{pi_bar}[r] - beta KL(pi*||pi_ref))]",
       "the intermediate bound as printed (KL of pi* in both terms)",
       [J("lemma-B.5", "intermediate bound of Lemma B.5 as printed", LIT, "misstatement")], "fully"),
    _S("remark-B.6", "Remark B.6", "remark",
       "||lam*||_1 <= (2/xi)(R_max + beta log(1/p_min))", "the bound on lam*",
       [J("lemma-B.5", "bound (Remark B.6)")], "fully"),
    _S("remark-B.6-projection", "Remark B.6", "remark",
       "If we set Lambda = {lambda | ||lambda||_1 <= ||lambda||_{1,max}}, then the optimality of lambda* is not "
       "affected by projection", "lam* lies in Lambda", [J("lemma-B.5", "bound (Remark B.6)")], "partly",
       "lam* in Lambda is checked; OPD with the Lambda-projection is not a separate finding"),
    _S("lemma-B.7", "Lemma B.7, eqs. (12)-(16)", "lemma",
       "The solution can be written as pi*(y|x) = pi_ref(y|x) exp(S(x,y)/beta)/Z(x)", "the KL-regularised argmax",
       [J("eq3-best-response", "first-order condition")], "fully"),
    _S("lemma-B.8", "Lemma B.8, eq. (17)", "lemma",
       "D_f(x,z) - D_f(x,y) - D_f(y,z) = <grad_y D_f(y,z), x - y>", "the three-point identity",
       [J("lemmas-B.2-B.4-B.8", "B.8 identity")], "fully"),
    _S("lemma-B.9", "Lemma B.9, eqs. (18)-(20)", "lemma",
       "<g, x_new - x'> >= eta(-D_h(x', x_old) + D_h(x', x_new) + D_h(x_new, x_old))",
       {LIT: "for every Bregman divergence D_h on a closed convex set",
        CH: "for D_h = ||x - y||^2 on R_+^h (the only case App. C and App. E use)"},
       [J("lemmas-B.9-B.12", "Lemma B.9 (Euclidean prox three-point)", CH),
        J("lemmas-B.9-B.12", "Lemma B.9 with the KL Bregman divergence", LIT)], "fully"),
    _S("lemma-B.10", "Lemma B.10, eq. (22)", "lemma",
       "<g, pi_new - pi'> - beta(KL(pi_new||pi_ref) - KL(pi'||pi_ref)) >= eta(...) + beta KL(pi'||pi_new)",
       "the KL three-point inequality", [J("lemmas-B.9-B.12", "Lemma B.10 (KL three-point)")], "fully"),
    _S("lemma-B.11-a", "Lemma B.11 step (a) (optimality over Pi_Theta used for pi' in Pi_eff)", "proof step",
       "By pi_new = argmax_{pi in Pi_Theta} f(pi) and Pi_Theta is the convex set, for any pi' in Pi_Theta ... >= 0",
       {LIT: "the lemma's conclusion for every pi' in Pi_eff",
        CH: "for pi' in Pi_Theta (the comparators App. E uses: pi* and pi_hat_{t+1})"},
       [J("lemmas-B.9-B.12", "Lemma B.11 (a) optimality over Pi_Theta used for pi' in Pi_eff",
          LIT, "misstatement")], "fully"),
    _S("lemma-B.11-b", "Lemma B.11 step (b), eq. (27)", "proof step",
       "|<log(pi_new/pi_theta), pi_theta - pi'>| <= (1 + 1/p_min) KL(pi_theta||pi_new)",
       "as printed (no weaker reading: the bound is what the proof needs)",
       [J("lemmas-B.9-B.12",
          "Lemma B.11 (b) eq. (27): |<log(pi_new/pi_theta), pi_theta - pi'>| <= (1 + 1/p_min) KL(pi_theta||pi_new)")],
       "fully"),
    _S("lemma-B.11-c", "Lemma B.11 step (c)", "proof step",
       "As pi_new(y|x) corresponds to parameter theta*, under Assumption 3.8 and Assumption 3.9",
       {LIT: "theta* is the exact NPG step of Assumption 3.9",
        CH: "theta* is the in-class maximiser (the proof's own object); the two readings conflict",
        A39_VS_PROOF: "whether the two objects the proof names theta* coincide"},
       [J("lemmas-B.9-B.12", "Lemma B.11 (c) pi_new corresponds to the theta* of Assumption 3.9", A39_VS_PROOF)],
       "fully"),
    _S("lemma-B.11-d", "Lemma B.11 step (d)", "proof step",
       "||log(pi_theta_new/pi_new)||_1 <= C ||theta_new - theta*||_1",
       "Assumption 3.8 applied to pi_new (which may not be in the class)",
       [J("lemmas-B.9-B.12",
          "Lemma B.11 (d) ||log(pi_theta_new/pi_new)||_1 <= C ||theta_new - theta*||_1 with C of Assumption 3.8",
          LIT, "misstatement")],
       "fully"),
    _S("lemma-B.11", "Lemma B.11 (conclusion), eq. (28)", "lemma",
       "E<g - eta grad KL(pi_theta_new||pi_old) - beta grad KL(pi_theta_new||pi_ref), pi_theta_new - pi'> >= "
       "-gap(eps_approx, p_min)",
       {LIT: "as printed, at the exact step (eps_approx = 0, gap = 0)",
        A39: "theta* read as Assumption 3.9 defines it, not as the proof uses it (step (c))"},
       [J("lemmas-B.9-B.12", "Lemma B.11 (e) conclusion of Lemma B.11 at the exact step (eps_approx = 0, gap = 0)",
          A39)],
       "partly", "judged with theta* as Assumption 3.9 defines it; the proof's own theta* (step (c)) differs"),
    _S("lemma-B.11-projection", "Lemma B.11 (statement vs eqs. (8), (10))", "proof step",
       "Let theta_new = theta_old + w/(eta + beta) ... Pi_Theta is the convex set",
       {LIT: "the lemma's update has no Proj_Theta and calls Pi_Theta convex",
        CH: "the update of eqs. (8)/(10) with Proj_Theta, Theta (not Pi_Theta) convex"},
       [J("lemmas-B.9-B.12", "Lemma B.11's update omits Proj_Theta", LIT),
        J("lemmas-B.9-B.12", "Pi_Theta called convex", LIT)], "fully"),
    _S("cor-B.12", "Corollary B.12", "corollary",
       "E[<g, pi_theta_new - pi'> - beta(KL(pi_theta_new||pi_ref) - KL(pi'||pi_ref))] >= E[eta(...) + "
       "beta KL(pi'||pi_theta_new)] - gap",
       {LIT: "as printed, at the exact step",
        A39: "theta* read as Assumption 3.9 defines it, not as the proof uses it (Lemma B.11 step (c))"},
       [J("lemmas-B.9-B.12", "Cor B.12 at the exact step (eps_approx = 0)", A39)],
       "partly", "judged with theta* as Assumption 3.9 defines it; the proof's own theta* (Lemma B.11 step (c)) differs"),
    # ---------------------------------------------------------------- App. C (proof of Thm 3.4)
    _S("appC-duality", "App. C, first paragraph", "proof step",
       "Note that Pi is a finite policy set, hence the primal maximization attains an optimum ... Under "
       "Assumption 3.1, the strong duality holds and optimal saddle-point (pi*, lam*) exists",
       {LIT: "'Pi is a finite set'", CH: "Pi is compact (a product of simplices), so the maximum is attained"},
       [J("dual-function", "lam* is a KKT multiplier of (1)", CH)], "partly",
       "existence of the saddle point is checked; 'finite policy set' is a slip for compact"),
    _S("eq-30", "App. C, eq. (30)", "equation",
       "L(pi*, lam) - L(pi, lam*) >= 0", "the saddle-point inequality",
       [J("dual-function", "lam* is a KKT multiplier of (1)")], "partly", "follows from the KKT check"),
    _S("appC-three-point-uses", "App. C, eqs. (33), (34), (39), (40)", "proof step",
       "Using lemma B.10 ... letting eta = eta_th, g = S_lam_t, pi_old = pi_hat_t ...",
       "Lemma B.10 and B.9 applied to the OPD steps", [J("lemmas-B.9-B.12", "Lemma B.10 (KL three-point)"),
                                                        J("lemmas-B.9-B.12", "Lemma B.9 (Euclidean prox three-point)")],
       "partly", "the lemmas are checked; their instantiation along trajectories is judged via the potential"),
    _S("eq-35", "App. C, eq. (35) (coupling term)", "proof step",
       "<pi_hat_{t+1} - pi_t, S_lam_t - S_lam_{t-1}> <= C KL(pi_hat_{t+1}||pi_t) + h R^2/C (||lam_t - lam_hat_t||^2 "
       "+ ||lam_hat_t - lam_{t-1}||^2)", "the Hölder-Pinsker-AM-GM chain",
       [J("thm-3.4-lyapunov", "", LIT)], "partly", "judged only through the potential's one-step inequality"),
    _S("eq-44", "App. C, eq. (44)", "proof step",
       "||lam_t - lam_hat_t||^2 >= (1-delta)||...||^2 + (1-1/delta)(1-theta)||...||^2 + (1-1/delta)(1-1/theta)||...||^2 "
       "(by lemma B.4)", "Lemma B.4 at delta = theta = 3/4",
       [J("thm-3.4-constants", "Lemma B.4's use at delta = theta = 3/4")], "fully"),
    _S("appC-requirements", "App. C, requirements after eq. (45)", "proof step",
       "Multipliers of all terms of LHS (RHS) of eq. 45 are positive: eta_th + beta > 0, ...",
       {LIT: "as printed (with its sign slips)", CH: "the requirements with the signs the derivation gives"},
       [J("thm-3.4-constants", "positivity requirements on (1/2,1)^2", CH),
        J("app-C-proof-steps", "requirement (2): the sign of beta", LIT, "typo")], "fully"),
    _S("appC-rho", "App. C, definition of rho and 'then rho < 1'", "equation",
       "rho := max(eta_th/(eta_th + beta), C_2/(eta_th + beta - C), ...) ... then rho < 1",
       "the general rho", [J("thm-3.4-constants", "eq. (46) reproduces")], "fully"),
    _S("appC-contraction", "App. C, Phi_{t+1} <= rho Phi_t", "proof step",
       "Phi_{t+1} <= rho Phi_t - (eta_th - C_1) E KL(pi_t||pi_hat_t) <= rho Phi_t",
       "the potential contracts at every step along OPD's trajectory",
       [J("thm-3.4-lyapunov", "", LIT), J("app-C-proof-steps", "one-step contraction where the bound holds (beta = 0.05)", LIT)],
       "fully"),
    _S("appC-off-by-one", "App. C, 'we have Phi_t <= rho^t Phi_1'", "proof step",
       "Iteratively apply the recursion, we have Phi_t <= rho^t Phi_1",
       {LIT: "Phi_t <= rho^t Phi_1", CH: "Phi_t <= rho^(t-1) Phi_1 (what the recursion gives)"},
       [J("app-C-proof-steps", "iterating the recursion: rho^t vs rho^(t-1)", LIT, "typo")], "fully"),
    _S("appC-phi1-bounded", "App. C, after eq. (47)", "proof step",
       "it follows by induction that supp(pi_t) = supp(pi_hat_t) = supp(pi_ref). Therefore, Phi_1 is bounded",
       "Phi_1 < infinity", status="not", reason="immediate from full support; no finding isolates it"),
    _S("appC-closed-form", "App. C, closed forms of eqs. (4), (6)", "equation",
       "pi_t(y|x) ∝ pi_hat_t^(eta/(eta+beta)) pi_ref^(beta/(eta+beta)) exp(S_{lam_{t-1}}(x, y))",
       {LIT: "exp(S_lam) as printed", CH: "exp(S_lam/(eta + beta)), as App. D's derivation has"},
       [J("opd-closed-form", "printed vs derived closed form (KKT)", LIT, "typo"),
        J("opd-closed-form", "cvxpy agreement", LIT, "typo")], "fully"),
    _S("appC-final-division", "App. C, final bound", "proof step",
       "<= rho^t Phi_1 / (rho max(eta_th + beta, eta_lam + (eta_lam - h R^2/C)(1 - delta)))",
       {LIT: "divide by the max", CH: "divide by the min (what a valid bound needs; App. E has min)"},
       [J("thm-3.4-constants", "max vs min in the final division", LIT, "typo")], "fully"),
    _S("appC-step-choice", "App. C, hyperparameters and constants selection", "proof step",
       "Let eta_th = eta_lam = 3 sqrt(h) R, C_1 = C_2 = C = sqrt(h) R, 1/2 < delta, theta < 1. We will verify that "
       "this set of parameters satisfies the requirements",
       "at these steps the requirements hold and rho of eq. (46) is a valid contraction rate (no weaker reading: "
       "the proof fixes the steps)",
       [J("thm-3.4-constants", "positivity requirements on (1/2,1)^2"),
        J("theorem-tightness", "certified rate vs rho(46)"), J("thm-3.4-rate", "")], "fully"),
    _S("eq-46", "eq. (46)", "equation",
       "rho = max(3 sqrt(H) R/(3 sqrt(H) R + beta), sqrt(H) R/(2 sqrt(H) R + beta), 50/63)",
       "the general rho at delta = theta = 3/4", [J("thm-3.4-constants", "eq. (46) reproduces")], "fully"),
    _S("eq-47", "eq. (47)", "equation",
       "Phi_1 = (3 sqrt(H) R + beta) E KL(pi*||pi_hat_1) + ... + 7/2 sqrt(H) R ||lam* - lam_hat_1||^2 + 11/6 ...",
       "the general Phi_1 at delta = theta = 3/4", [J("thm-3.4-constants", "eq. (47) reproduces")], "fully"),
    # ---------------------------------------------------------------- App. D and App. E
    _S("eq-52", "App. D, eq. (52)", "equation",
       "grad_theta L(pi_theta, lam) = E[A_lam(x, y) grad log pi_theta(y|x)]", "policy gradient as advantage",
       [J("alg-3-npg", "F^+ grad L = least-squares advantage fit")], "partly", "checked through the NPG direction"),
    _S("appD-fisher", "App. D, Fisher of the tabular softmax", "equation",
       "F(theta) = E_x[diag(pi_theta,x) - pi_theta,x pi_theta,x^T]",
       {LIT: "as printed", "uncentred": "E_x[diag(pi_x)] (a reading recorded for comparison)"},
       [J("remark-3.5", "F = E_x[diag(pi_x) - pi_x pi_x^T] (sympy, n = 3)"),
        J("remark-3.5", "uncentred Fisher E_x[diag(pi_x)] (measured, not a control)", "uncentred")], "fully"),
    _S("appD-w", "App. D", "equation", "w_{x,y} = A_lam(x, y) + c(x)", "the natural-gradient direction",
       [J("remark-3.5", "w = A + c(x) (sympy, n = 3)")], "fully"),
    _S("appD-equivalence", "App. D, eqs. (48)-(49) and conclusion", "proof step",
       "pi_{theta+}(y|x) ∝ pi_theta(y|x) exp(A(x, y)/(eta_th + beta)) = pi_+", "one tabular NPG step = one KL prox step",
       [J("remark-3.5", "policies equal (dual steps aligned)")], "fully"),
    _S("appE-in-class-duality", "App. E, first paragraph", "proof step",
       "Under Slater's condition in the parameterized policy space ... strong duality holds and hence an optimal "
       "saddle point (pi_theta*, lam*) exists in the parameterized policy space",
       {LIT: "Slater in the class implies an in-class saddle point, for every class the section allows",
        CH: "the same for the log-linear classes App. E works with (Theta closed convex, full support)"},
       [J("remark-3.5", "in-class saddle point = distributional saddle point (tabular class)"),
        J("app-E-strong-duality", "in-class strong duality under Assumption 3.7", CH)], "fully"),
    _S("appE-linear-scope", "App. E, E.1", "proof step",
       "As we consider the NPG update in the linear parameterized space, ... Using corollary B.12",
       "the proof applies Cor B.12 to log-linear classes",
       [J("lemmas-B.9-B.12", "Cor B.12 at the exact step (eps_approx = 0)")], "partly"),
    _S("appE-eta-lam", "App. E, 'We set eta_lam > |H| R^2/C' and its verification", "proof step",
       "eta_lam = 3 sqrt(h) R >= sqrt(h) R = h R^2/(sqrt(h) R)", "the extra requirement holds at the chosen steps",
       [J("thm-3.4-constants", "positivity requirements on (1/2,1)^2")], "partly"),
    _S("appE-recursion", "App. E, 'Iteratively apply the recursion'", "proof step",
       "Phi_{t+1} <= rho Phi_t + 2 gap ... Iteratively apply the recursion, we have Phi_t <= rho^t Phi_1",
       {LIT: "Phi_t <= rho^t Phi_1 (the gap dropped)", CH: "Phi_t <= rho^(t-1) Phi_1 + 2 gap (1 - rho^(t-1))/(1 - rho)"},
       [J("cor-3.10-residual", "residual term not divided by min(a1, a3)", CH)], "partly",
       "the gap term and its scale are judged by the residual finding; the off-by-one exponent is judged in App. C"),
    _S("eq-69-70", "eqs. (69), (70)", "equation", "the same rho and Phi_1 as eqs. (46), (47)",
       "App. E reuses the constants of App. C", [J("thm-3.4-constants", "eq. (46) reproduces"),
                                                 J("thm-3.4-constants", "eq. (47) reproduces")], "fully"),
    _S("appE-full-support", "App. E, after eq. (70)", "proof step",
       "Since we use a softmax parameterization over a finite action space, all policies have full support",
       "every policy of the class has full support",
       [J("cor-3.10-counterexample", "hypothesis: Theta closed convex, class full support")], "fully"),
)

_BY_ID: dict[str, Statement] = {s.id: s for s in REGISTER}

#: A finding that judges several statements labels itself with its *home* statement (the one it was built to
#: decide); the others cite it. Findings judging a single statement need no entry.
PRIMARY: dict[tuple[str, str], str] = {
    ("alg-1-unification", "configurations of one driver"): "alg-1",
    ("alg-1-unification", "one-shot and exact multi-shot reach the saddle point"): "sec23-oneshot",
    ("alg-1-unification", "standard PD may fail in the last iterate"): "sec3-fail-unique-saddle",
    ("alg-1-unification", "guarantees lacking (not judged by runs)"): "sec23-lack-guarantees",
    ("thm-3.4", "bound fails with the proof's own denominator"): "thm-3.4",
    ("thm-3.4", "t = 1 with the printed denominator (typo)"): "thm-3.4",
    ("cor-3.10-counterexample", "bound along the run"): "cor-3.10",
    ("cor-3.10-counterexample", "hypothesis: Theta closed convex, class full support"): "sec323-class",
    ("bilinear-gda", "optimistic stability condition"): "sec3-optimism-suppresses",
    ("bilinear-gda", "GDA last iterate spirals out"): "sec3-bilinear-eigenvalues",
    ("bilinear-gda", "measured GDA growth vs exact"): "sec3-bilinear-eigenvalues",
    ("bilinear-gda", "GDA eigenvalues (symbolic)"): "sec3-bilinear-eigenvalues",
    ("dual-function", "convexity"): "sec2-convex-concave",
    ("dual-function", "gradient and Hessian"): "sec2-dual-gradient",
    ("dual-function", "lam* is a KKT multiplier of (1)"): "sec31-slater-duality",
    ("lemma-B.5", "bound (Remark B.6)"): "remark-B.6",
    ("remark-3.5", "policies equal (dual steps aligned)"): "remark-3.5",
    ("remark-3.5", "w = A + c(x) (sympy, n = 3)"): "appD-w",
    ("fig-1-toy", "OPD converges [prox]"): "fig-1-opd",
    ("theorem-tightness", "certified rate vs rho(46)"): "appC-step-choice",
    ("alg-3-npg", "converges: active box [-1, 1]"): "sec321-projection",
    ("alg-3-npg", "converges: inactive projection (l2 ball r = 40)"): "alg-3",
    ("alg-3-npg", "F^+ grad L = least-squares advantage fit"): "sec321-npg-reduction",
    ("lemmas-B.9-B.12", "Lemma B.10 (KL three-point)"): "lemma-B.10",
    ("lemmas-B.9-B.12", "Lemma B.9 (Euclidean prox three-point)"): "lemma-B.9",
    ("lemmas-B.9-B.12", "Cor B.12 at the exact step (eps_approx = 0)"): "cor-B.12",
    ("thm-3.4-constants", "eq. (46) reproduces"): "eq-46",
    ("thm-3.4-constants", "eq. (47) reproduces"): "eq-47",
    ("thm-3.4-constants", "positivity requirements on (1/2,1)^2"): "appC-requirements",
    ("eq3-best-response", "first-order condition"): "eq-3",
    ("sec-4-stability", "premise: plain PD unstable at dual step 0.5"): "sec4-aggressive",
    ("sec-4-stability", "multiplier stability"): "fig-2",
    ("opd-closed-form", "cvxpy agreement"): "appC-closed-form",
    ("cor-3.10-residual", "residual term not divided by min(a1, a3)"): "cor-3.10-residual",
}


def get_statement(statement_id: str) -> Statement:
    """The register entry ``statement_id``; ``KeyError`` naming the id and how to list them otherwise."""
    try:
        return _BY_ID[statement_id]
    except KeyError:
        raise KeyError(f"statement {statement_id!r} is not in the claims register; `opdcheck claims` lists the "
                       "ids") from None


def has_weaker_reading(statement_id: str) -> bool | None:
    """Whether the register gives ``statement_id`` a reading weaker than the literal one; None if unregistered."""
    s = _BY_ID.get(statement_id)
    return None if s is None else s.has_weaker_reading


def judge_for(check_id: str, finding_name: str) -> tuple[Statement, Judge] | None:
    """The (statement, judge) that labels this check's finding: its home statement (:data:`PRIMARY`) if it has
    one, else the first entry naming it (non-planned judges first); None if the register does not name it."""
    home = PRIMARY.get((check_id, finding_name))
    hits = [(s, j) for s in REGISTER for j in s.judges if j.check == check_id and j.finding == finding_name]
    hits.sort(key=lambda sj: (sj[0].id != home, sj[1].planned))
    return hits[0] if hits else None


def _reading_head(reading: str, statement: Statement) -> str:
    """The register's name for a reading a check wrote: an annotated reading ("charitable (the proof's
    denominator)", "step 2.0 (not Fig. 1's step)") by the register reading it starts with, and "charitable"
    as "literal" where the statement declares no weaker reading (the literal one *is* the most charitable)."""
    head = reading if reading in statement.readings else next(
        (r for r in sorted(statement.readings, key=len, reverse=True) if reading.startswith(r + " ")), reading)
    if head == "charitable" and "charitable" not in statement.readings:
        head = "literal"
    return head


def label_conflicts(check_id: str, findings: Iterable[Any]) -> list[str]:
    """Findings of ``check_id`` that label themselves (a non-empty ``statement``) differently from the register.

    A check may set a finding's statement, reading and severity itself; the register names the same judge
    (check id, finding name) under a statement, with a reading and a severity of its own. When the register
    lists that judge and no entry carries the finding's (statement, reading, severity), one of the two labels
    is wrong, and what it feeds (a typo vs a substantive failure, the paper's claim vs a caveat, coverage)
    cannot be trusted: the result layer makes the check INCONCLUSIVE. Returns one sentence per conflict."""
    out = []
    for f in findings:
        get = f.get if isinstance(f, dict) else (lambda key, _f=f: getattr(_f, key))
        name, statement, reading, severity = get("name"), get("statement"), get("reading"), get("severity")
        if not statement:
            continue
        entries = [(s, j) for s in REGISTER for j in s.judges if j.check == check_id and j.finding == name]
        same = [j for s, j in entries if s.id == statement and severity == j.severity
                and _reading_head(reading, s) == _reading_head(j.reading, s)]
        if entries and not same:
            listed = ", ".join(f"{s.id}: {j.reading}/{j.severity}" for s, j in entries)
            out.append(f"finding {name!r} labels itself {statement}: {reading}/{severity}, "
                       f"the claims register says {listed}")
    return out


def validate_register(register: Iterable[Statement] = REGISTER) -> list[str]:
    """Structural problems of the register (empty list if none): duplicate ids, unknown kinds, statuses,
    severities, a judge whose reading is not one of its statement's readings, a ``not`` entry without a reason
    or a judged entry without judges. Which checks and findings exist is tested against the code
    (``tests/test_claims.py``)."""
    problems, seen = [], set()
    for s in register:
        where = f"statement {s.id!r}"
        if s.id in seen:
            problems.append(f"{where}: duplicate id; give it a new stable id")
        seen.add(s.id)
        if s.kind not in KINDS:
            problems.append(f"{where}: kind {s.kind!r}; choose one of {', '.join(KINDS)}")
        if s.status not in STATUSES:
            problems.append(f"{where}: status {s.status!r}; choose one of {', '.join(STATUSES)}")
        if "literal" not in s.readings:
            problems.append(f"{where}: readings lack 'literal'; every statement has its literal reading")
        if s.status == "not" and not s.reason:
            problems.append(f"{where}: status 'not' without a reason; say why nothing can judge it")
        if s.status != "not" and not s.judges:
            problems.append(f"{where}: status {s.status!r} but no judges; list the findings or set status 'not'")
        if not s.location or not s.quote:
            problems.append(f"{where}: empty location or quote; give the paper's own location and a short quote")
        for j in s.judges:
            if j.reading not in s.readings:
                problems.append(f"{where}: judge {j.check}/{j.finding!r} reads {j.reading!r}, not one of "
                                f"{', '.join(s.readings)}; add the reading or fix the judge")
            if j.severity not in SEVERITIES:
                problems.append(f"{where}: judge {j.check}/{j.finding!r} severity {j.severity!r}; choose one of "
                                f"{', '.join(SEVERITIES)}")
    for (check, finding), sid in PRIMARY.items():
        st = _BY_ID.get(sid)
        if st is None or not any(j.check == check and j.finding == finding for j in st.judges):
            problems.append(f"PRIMARY[{check!r}, {finding!r}] = {sid!r}: that statement does not list this judge; "
                            "fix the home statement")
    return problems


# ------------------------------------------------------------------ coverage
def _as_dict(r: Any) -> dict:
    return r if isinstance(r, dict) else r.to_dict()


def coverage(results: Iterable[Any] | None = None) -> dict:
    """Coverage of the register by a run: per statement, its declared status and which of its judges this run
    decided (a judge is *decided* when its finding — or, for a whole-check judge, its check — ran with a verdict
    other than INCONCLUSIVE). ``results``: ``CheckResult`` objects or their ``to_dict()``; None -> the register
    alone (no run). Counts: ``fully`` / ``partly`` / ``not`` as declared; ``decided_in_run``: statements with a
    decided non-planned judge whose reading is the statement's most charitable or literal one."""
    ran: dict[str, dict] = {}
    for r in results or ():
        d = _as_dict(r)
        ran[d["id"]] = d
    entries, declared = [], {k: 0 for k in STATUSES}
    categories: dict[str, int] = {}
    reasons: dict[str, int] = {}
    decided_count = 0
    for s in REGISTER:
        declared[s.status] += 1
        if s.status != "fully" and s.reason:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
            cat = reason_category(s)
            categories[cat] = categories.get(cat, 0) + 1
        judges = []
        decided_here = False
        for j in s.judges:
            res = ran.get(j.check)
            verdict = None
            if res is not None:
                if not j.finding:
                    verdict = res.get("verdict")
                else:
                    verdict = next((f.get("verdict") for f in res.get("findings", []) if f.get("name") == j.finding),
                                   None)
            judges.append({"check": j.check, "finding": j.finding, "reading": j.reading, "severity": j.severity,
                           "planned": j.planned, "verdict": verdict})
            if verdict not in (None, "INCONCLUSIVE") and j.reading in ("literal", "charitable"):
                decided_here = True
        decided_count += decided_here
        entries.append({"id": s.id, "location": s.location, "kind": s.kind, "quote": s.quote,
                        "readings": dict(s.readings), "most_charitable": s.most_charitable,
                        "status": s.status, "reason": s.reason, "judges": judges,
                        "decided_in_run": decided_here if results is not None else None})
    return {"statements": len(REGISTER), "declared": declared,
            "decided_in_run": decided_count if results is not None else None,
            "checks_in_run": sorted(ran), "reasons_not_fully": reasons, "reason_categories": categories,
            "entries": entries}


#: how a reason is grouped in the coverage counts (first keyword found, in this order)
_CATEGORIES = (("LLM", "needs the LLM experiment (only a synthetic analogue, if any, is run)"),
               ("literature", "a literature claim"), ("guarantees", "a statement about guarantees, not runs"),
               ("definition", "a definition or modelling choice"), ("textbook", "a textbook inequality"),
               ("qualitative", "qualitative"), ("practice", "qualitative"),
               ("planned", "waiting for a finding being added"), ("lands", "waiting for a finding being added"),
               ("not yet", "waiting for a finding being added"))


def reason_category(s: Statement) -> str:
    """The group of a statement's reason in the coverage counts."""
    for key, label in _CATEGORIES:
        if key.lower() in s.reason.lower():
            return label
    return "judged on part of the statement (a case, a reading, one instance family)" if s.status == "partly" \
        else "no finding isolates it"


def register_payload() -> dict:
    """The register alone (``opdcheck claims --json``)."""
    return coverage(None)


def coverage_markdown(cov: dict, *, with_entries: bool = True) -> str:
    """The coverage section of ``report.md`` (and the text of ``opdcheck claims``), built from ``coverage()``."""
    d = cov["declared"]
    lines = [f"The claims register lists {cov['statements']} checkable statements of the paper: "
             f"{d['fully']} judged fully, {d['partly']} partly, {d['not']} not judged."]
    if cov.get("decided_in_run") is not None:
        lines[0] += (f" In this run {cov['decided_in_run']} of them were decided by a finding under their literal "
                     f"or most charitable reading ({len(cov['checks_in_run'])} checks ran).")
    lines.append("")
    if cov["reason_categories"]:
        lines += ["Why a statement is judged only partly, or not at all (each entry's own reason is in its row):", ""]
        lines += [f"- {label}: {n}" for label, n in sorted(cov["reason_categories"].items(), key=lambda kv: (-kv[1], kv[0]))]
        lines.append("")
    if with_entries:
        lines += ["| paper | statement | status | readings | judged by |", "|---|---|---|---|---|"]
        for e in cov["entries"]:
            judges = "; ".join(
                f"{j['check']}" + (f" / {j['finding']}" if j["finding"] else "") + f" [{j['reading']}"
                + (f", {j['severity']}" if j["severity"] != "substantive" else "")
                + (", planned" if j["planned"] else "") + (f": {j['verdict']}" if j["verdict"] else "") + "]"
                for j in e["judges"]) or ("— " + e["reason"])
            readings = ", ".join(e["readings"])
            cell = lambda t: str(t).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            why = f" — {e['reason']}" if e["reason"] and e["judges"] else ""
            lines.append(f"| {cell(e['location'])} | `{e['id']}` | {e['status']} | {cell(readings)} | "
                         f"{cell(judges + why)} |")
    return "\n".join(lines)
