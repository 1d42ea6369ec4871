"""The paper's printed formulas, kept as the paper's own LaTeX and parsed mechanically into sympy.

Each :class:`Printed` holds a formula exactly as the paper prints it (copied from the v1 HTML's LaTeX,
``\\displaystyle`` and all), its location, and the *names* of the composite quantities it contains (an
expectation of a KL, a squared norm: each becomes one symbol, because sympy's LaTeX grammar has no
``\\mathbb{E}`` or ``\\|.\\|``). :func:`parse` applies only notational rewrites (the list ``_NOTATION``:
none changes the mathematics) and sympy's LaTeX parser in strict mode, then maps every parsed symbol to
the symbol of the hand transcription in ``theory/`` (an unmapped symbol is an error, so a formula the parser
silently truncated cannot pass).

This is the second, mechanical transcription of the paper: ``tests/test_theory_printed.py`` compares it with
the hand transcriptions (``closed_forms.py``, ``thm34_constants.py``, ``lemmas.py``, ``alg3.py``), and the
checks that judge a printed formula compare the two at run time (a control). A mistyped hand transcription
then fails a test and a control instead of silently changing a verdict.

Example:
    >>> from opdcheck.theory import printed, thm34_constants as k
    >>> import sympy as sp
    >>> sp.simplify(printed.parse("thm34_denominator") - k.theorem_denominator()) == 0
    True
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from opdcheck.theory import alg3, closed_forms as cf, lemmas, thm34_constants as k

__all__ = ["Printed", "FORMULAS", "parse", "normalise", "symbol_map", "PrintedFormulaError", "XI", "PMIN", "RMAX", "GAP", "B4_NORMS",
           "dual_minimiser"]


class PrintedFormulaError(ValueError):
    """A printed formula that cannot be parsed, or whose parse has a symbol with no hand-transcription match."""


#: Lemma B.5 / Remark B.6 symbols (the check evaluates the bound numerically; these name its inputs)
XI, PMIN, RMAX = sp.symbols("xi p_min R_max", positive=True)
#: App. E's gap(eps_approx, p_min) (eq. (28)) as one symbol, as the final display of App. E uses it
GAP = sp.Symbol("gap", positive=True)
#: Lemma B.4's squared norms ||a||^2, ||b||^2, ||c||^2
B4_NORMS = sp.symbols("n_a n_b n_c", nonnegative=True)


@dataclass(frozen=True)
class Printed:
    """One formula as printed: ``latex`` is the paper's text; ``aliases`` maps a composite sub-expression of
    it (exact text) to the plain name it is parsed as; ``where`` is the paper's location."""

    name: str
    where: str
    latex: str
    aliases: dict = field(default_factory=dict)


_E_KL = r"\mathbb{E}_{x\sim\mathcal{D}}\left[\mathrm{KL}"
FORMULAS: dict[str, Printed] = {p.name: p for p in [
    Printed("closed_form_eq4", "proof of Thm 3.4, closed form of eq. (4) ([359])",
            r"\hat{\pi}_{t}(y|x)^{\frac{\eta_{\theta}}{\eta_{\theta}+\beta}}\pi_{\mathrm{ref}}(y|x)^{\frac{\beta}"
            r"{\eta_{\theta}+\beta}}\exp\left(S_{\lambda_{t-1}}(x,y)\right)",
            {r"\hat{\pi}_{t}(y|x)": "PIHAT", r"\pi_{\mathrm{ref}}(y|x)": "PIREF", r"S_{\lambda_{t-1}}(x,y)": "S"}),
    Printed("closed_form_eq6", "proof of Thm 3.4, closed form of eq. (6) ([361])",
            r"\hat{\pi}_{t}(y|x)^{\frac{\eta_{\theta}}{\eta_{\theta}+\beta}}\pi_{\mathrm{ref}}(y|x)^{\frac{\beta}"
            r"{\eta_{\theta}+\beta}}\exp\left(S_{\lambda_{t}}(x,y)\right)",
            {r"\hat{\pi}_{t}(y|x)": "PIHAT", r"\pi_{\mathrm{ref}}(y|x)": "PIREF", r"S_{\lambda_{t}}(x,y)": "S"}),
    Printed("dual_objective_eq5", "Algorithm 2, eq. (5) (the objective minimised over lambda >= 0)",
            r"\lambda\mathbb{E}_{x\sim\mathcal{D},y\sim\pi_{t-1}(\cdot|x)}\left[R(x,y)\right]"
            r"+\eta_{\lambda}(\lambda-\hat{\lambda}_{t})^{2}",
            {r"\mathbb{E}_{x\sim\mathcal{D},y\sim\pi_{t-1}(\cdot|x)}\left[R(x,y)\right]": "CVAL",
             r"\hat{\lambda}_{t}": "LAMHAT"}),
    Printed("dual_objective_eq7", "Algorithm 2, eq. (7) (the objective minimised over lambda >= 0)",
            r"\lambda\mathbb{E}_{x\sim\mathcal{D},y\sim\pi_{t}(\cdot|x)}\left[R(x,y)\right]"
            r"+\eta_{\lambda}(\lambda-\hat{\lambda}_{t})^{2}",
            {r"\mathbb{E}_{x\sim\mathcal{D},y\sim\pi_{t}(\cdot|x)}\left[R(x,y)\right]": "CVAL",
             r"\hat{\lambda}_{t}": "LAMHAT"}),
    Printed("dual_step_eq9", "Algorithm 3, eq. (9) (inside [.]_+)",
            r"\hat{\lambda}_{t}-\frac{1}{\eta_{\lambda}}\mathbb{E}_{x\sim\mathcal{D},\,y\sim\pi_{\theta_{t-1}}"
            r"(\cdot|x)}\left[R(x,y)\right]",
            {r"\mathbb{E}_{x\sim\mathcal{D},\,y\sim\pi_{\theta_{t-1}}(\cdot|x)}\left[R(x,y)\right]": "CVAL",
             r"\hat{\lambda}_{t}": "LAMHAT"}),
    Printed("dual_step_eq11", "Algorithm 3, eq. (11) (inside [.]_+)",
            r"\hat{\lambda}_{t}-\frac{1}{\eta_{\lambda}}\mathbb{E}_{x\sim\mathcal{D},\,y\sim\pi_{\theta_{t}}"
            r"(\cdot|x)}\left[R(x,y)\right]",
            {r"\mathbb{E}_{x\sim\mathcal{D},\,y\sim\pi_{\theta_{t}}(\cdot|x)}\left[R(x,y)\right]": "CVAL",
             r"\hat{\lambda}_{t}": "LAMHAT"}),
    Printed("gap_eq28", "Lemma B.11, eq. (28)",
            r"\displaystyle=\left(g_{\max}+(\eta+\beta)\log\frac{1}{p_{\min}}\right)\sqrt{\frac{2C\epsilon_{\text{approx}}}"
            r"{p_{\min}}}+(\eta+\beta)\left(1+\frac{1}{p_{\min}}\right)\frac{C\epsilon_{\text{approx}}}{p_{\min}}."),
    Printed("rho_eq46", "proof of Thm 3.4, eq. (46)",
            r"\rho=\max\left(\frac{3\sqrt{\mathcal{H}}R_{\max}}{3\sqrt{\mathcal{H}}R_{\max}+\beta},\frac{\sqrt{"
            r"\mathcal{H}}R_{\max}}{2\sqrt{\mathcal{H}}R_{\max}+\beta},\frac{50}{63}\right),"),
    Printed("phi1_eq47", "proof of Thm 3.4, eq. (47)",
            r"\displaystyle(3\sqrt{\mathcal{H}}R_{\max}+\beta)\mathbb{E}_{x\sim\mathcal{D}}\left[\mathrm{KL}(\pi^{\star}"
            r"(\cdot|x)\|\hat{\pi}_{1}(\cdot|x))\right]+(2\sqrt{\mathcal{H}}R_{\max}+\beta)\mathbb{E}_{x\sim\mathcal{D}}"
            r"\left[\mathrm{KL}(\hat{\pi}_{1}(\cdot|x)\|\pi_{0}(\cdot|x))\right]"
            r"\displaystyle+\frac{7}{2}\sqrt{\mathcal{H}}R_{\max}\|\boldsymbol{\lambda}^{\star}-\hat{\boldsymbol{\lambda}}"
            r"_{1}\|_{2}^{2}+\frac{11}{6}\sqrt{\mathcal{H}}R_{\max}\|\hat{\boldsymbol{\lambda}}_{1}-\boldsymbol{\lambda}"
            r"_{0}\|_{2}^{2}.",
            {_E_KL + r"(\pi^{\star}(\cdot|x)\|\hat{\pi}_{1}(\cdot|x))\right]": "KLONE",
             _E_KL + r"(\hat{\pi}_{1}(\cdot|x)\|\pi_{0}(\cdot|x))\right]": "KLTWO",
             r"\|\boldsymbol{\lambda}^{\star}-\hat{\boldsymbol{\lambda}}_{1}\|_{2}^{2}": "LAMONE",
             r"\|\hat{\boldsymbol{\lambda}}_{1}-\boldsymbol{\lambda}_{0}\|_{2}^{2}": "LAMDIFF"}),
    Printed("thm34_denominator", "Thm 3.4 (the bound's denominator)",
            r"\min\left(\eta_{\theta}+\beta,\frac{7}{4}\eta_{\lambda}-\frac{3}{4}\sqrt{|\mathcal{H}|}R_{\max}\right)"),
    Printed("final_division", "proof of Thm 3.4, last display ([366])",
            r"\rho^{t}\frac{\Phi_{1}}{\rho\max\left(\eta_{\theta}+\beta,\eta_{\lambda}+\left(\eta_{\lambda}-\frac{|"
            r"\mathcal{H}|R_{\max}^{2}}{C}\right)(1-\delta)\right)}"),
    Printed("appE_final_display", "App. E, final display (proof of Cor 3.10)",
            r"\rho^{t}\frac{\Phi_{1}}{\rho\min\left(\eta_{\theta}+\beta,\eta_{\lambda}+\left(\eta_{\lambda}-\frac{|"
            r"\mathcal{H}|R_{\max}^{2}}{C}\right)(1-\delta)\right)}{\color[rgb]{0.75,0,0.25}+\frac{2(1-\rho^{t})"
            r"\mathrm{gap}}{1-\rho}}",
            {r"\mathrm{gap}": "GAP"}),
    Printed("rho_general", "proof of Thm 3.4, the general rho ([352])",
            r"\max\left(\frac{\eta_{\theta}}{\eta_{\theta}+\beta},\frac{C_{2}}{\eta_{\theta}+\beta-C},\frac{\eta_{\lambda}"
            r"-\left(\eta_{\lambda}-\frac{|\mathcal{H}|R_{\max}^{2}}{C}\right)(1-\frac{1}{\delta})(1-\frac{1}{\theta})}"
            r"{\eta_{\lambda}+\left(\eta_{\lambda}-\frac{|\mathcal{H}|R_{\max}^{2}}{C}\right)(1-\delta)},"
            r"\frac{\frac{|\mathcal{H}|R_{\max}^{2}}{C}}{\eta_{\lambda}-|\mathcal{H}|R_{\max}^{2}\left(\frac{1}{2C_{1}}"
            r"+\frac{1}{2C_{2}}\right)+\left(\eta_{\lambda}-\frac{|\mathcal{H}|R_{\max}^{2}}{C}\right)(1-\frac{1}{\delta})"
            r"(1-\theta)}\right)"),
    Printed("lemma_b4_rhs", "Lemma B.4",
            r"(1-\delta)\|\mathbf{a}\|^{2}+(1-\frac{1}{\delta})(1-\theta)\|\mathbf{b}\|^{2}+(1-\frac{1}{\delta})"
            r"(1-\frac{1}{\theta})\|\mathbf{c}\|^{2}.",
            {r"\|\mathbf{a}\|^{2}": "NA", r"\|\mathbf{b}\|^{2}": "NB", r"\|\mathbf{c}\|^{2}": "NC"}),
    Printed("remark_b6_bound", "Remark B.6",
            r"\|\lambda^{*}\|_{1}\leq\frac{2}{\xi}\left(R_{\max}+\beta\log\frac{1}{p_{\min}}\right).",
            {r"\|\lambda^{*}\|_{1}\leq": ""}),
]}

#: notational rewrites applied after the aliases, in order (none changes the mathematics): layout commands and
#: bracket sizing (the parser fails on ``\log(x)`` inside ``\left(...\right)``),
#: the paper's two spellings of |H| (``\sqrt{\mathcal{H}}`` in eqs. (46)/(47) is read as sqrt(|H|)), text
#: subscripts, a leading "lhs =" and a trailing punctuation mark, and an explicit product before a
#: parenthesis that follows a subscripted name (the parser would otherwise read ``\eta_{\lambda}(...)`` as
#: a function call); ``\log\frac{a}{b}`` gets brackets round its argument
#: the parser's name of each aliased quantity (a subscripted letter parses as one symbol)
_TOKENS = {name: f"Z_{{{i + 1}}}" for i, name in enumerate(
    ["PIHAT", "PIREF", "S", "CVAL", "LAMHAT", "KLONE", "KLTWO", "LAMONE", "LAMDIFF", "NA", "NB", "NC", "PMIN", "GMAX",
     "GAP"])}

_NOTATION: list[tuple[str, str]] = [
    (r"\displaystyle", ""), (r"\,", ""), (r"\boldsymbol", ""), (r"\left(", "("), (r"\right)", ")"),
    (r"|\mathcal{H}|", "h"), (r"\mathcal{H}", "h"),
    (r"R_{\max}", "R"), (r"p_{\min}", "Z_{13}"), (r"g_{\max}", "Z_{14}"),
    (r"\epsilon_{\text{approx}}", r"\epsilon"),
]


def normalise(p: Printed) -> str:
    """The LaTeX handed to the parser: aliases replaced by their names, then the notational rewrites."""
    s = p.latex
    for text, name in p.aliases.items():
        if text not in s:
            raise PrintedFormulaError(f"{p.name}: alias text {text!r} not found in the printed LaTeX; fix the alias")
        s = s.replace(text, f" {_TOKENS[name]} " if name else "")
    for a, b in _NOTATION:
        s = s.replace(a, b)
    s = s.strip().rstrip(".,")
    # a coloured group (the paper highlights App. E's added gap term) is its content: colour is not mathematics
    s = re.sub(r"\{\\color\[rgb\]\{[^{}]*\}(.*)\}$", r"\1", s)
    s = re.sub(r"^\s*\\rho\s*=", "", s)
    s = re.sub(r"^\s*=", "", s)
    s = re.sub(r"(_\{[^{}]*\})\(", r"\1\\cdot(", s)
    # the argument of an unbracketed log is the fraction that follows it (the parser would let it run on)
    arg = r"\{((?:[^{}]|\{[^{}]*\})*)\}"  # a brace group, one level of nesting
    s = re.sub(r"\\log\\frac" + arg + arg, r"\\log(\\frac{\1}{\2})", s)
    return s


def symbol_map() -> dict[str, sp.Symbol]:
    """Parsed symbol name -> the hand transcription's symbol (the only names a parse may contain)."""
    names = {
        "beta": k.BETA, "eta_{theta}": k.ETA_TH, "eta_{lambda}": k.ETA_LAM, "h": k.H, "R": k.R,
        "C": k.C, "C_{1}": k.C1, "C_{2}": k.C2, "delta": k.DELTA, "theta": k.THETA, "t": k.T,
        "rho": sp.Symbol("rho", positive=True), "Phi_{1}": sp.Symbol(r"\Phi_1", positive=True),
        "lambda": cf.LAM, "epsilon": alg3.EPS, "eta": alg3.ETA, "xi": XI,
    }
    by_alias = {"KLONE": k.KL1, "KLTWO": k.KL2, "LAMONE": k.LAM1, "LAMDIFF": k.LAMDIFF1,
                "PIHAT": cf.PIHAT_y, "PIREF": cf.PIREF_y, "S": cf.S_y, "CVAL": cf.C_VAL, "LAMHAT": cf.LAM_HAT,
                "GMAX": alg3.GMAX, "PMIN": alg3.PMIN, "GAP": GAP,
                "NA": B4_NORMS[0], "NB": B4_NORMS[1], "NC": B4_NORMS[2]}
    names.update({_TOKENS[a]: v for a, v in by_alias.items()})
    return names


_ALG3_NAMES = {"C": alg3.CLIP, "beta": alg3.BETA}  # eq. (28) lives in alg3's symbols (its C is Assumption 3.8's)
_B6_NAMES = {"R": RMAX, "Z_{13}": PMIN}


@lru_cache(maxsize=None)
def parse(name: str, latex: str | None = None) -> sp.Expr:
    """The sympy expression of printed formula ``name`` (or of ``latex``, a replacement text for it: how a
    test plants a typo), in the hand transcription's symbols. Raises :class:`PrintedFormulaError` (one line)
    when the parser rejects it or a parsed name has no counterpart."""
    from sympy.parsing.latex import parse_latex

    if name not in FORMULAS:
        raise PrintedFormulaError(f"printed formula {name!r} unknown; choose one of {sorted(FORMULAS)}")
    p = FORMULAS[name]
    if latex is not None:
        p = Printed(p.name, p.where, latex, p.aliases)
    text = normalise(p)
    try:
        expr = parse_latex(text, strict=True)
    except Exception as exc:  # the parser's own error type depends on the backend
        raise PrintedFormulaError(f"{name} ({p.where}): sympy cannot parse {text!r}: {exc}") from None
    names = symbol_map()
    if name == "gap_eq28":
        names = names | _ALG3_NAMES
    if name == "remark_b6_bound":
        names = names | _B6_NAMES
    sub = {}
    for s in expr.free_symbols:
        if s.name not in names:
            raise PrintedFormulaError(f"{name} ({p.where}): parsed symbol {s.name!r} has no hand-transcription "
                                      f"counterpart (a truncated parse?); parsed: {expr}")
        sub[s] = names[s.name]
    expr = expr.xreplace(sub)
    # the parser's spellings: log(x, E) is the natural logarithm; \max, \min are undefined functions max, min
    expr = expr.replace(lambda e: isinstance(e, sp.log) and len(e.args) == 2 and e.args[1] == sp.E,
                        lambda e: sp.log(e.args[0]))
    for fname, real in (("max", sp.Max), ("min", sp.Min)):
        expr = expr.replace(lambda e, f=fname: isinstance(e, sp.Function) and type(e).__name__ == f,
                            lambda e, r=real: r(*e.args))
    return expr


def dual_minimiser(name: str = "dual_objective_eq5") -> sp.Expr:
    """The unconstrained minimiser in lambda of a printed dual objective (eq. (5) or (7)): the projection
    onto lambda >= 0 is applied to it (the objective is a convex quadratic)."""
    obj = parse(name)
    lam = sp.Symbol("lam_free", real=True)
    sol = sp.solve(sp.diff(obj.subs(cf.LAM, lam), lam), lam)
    if len(sol) != 1:
        raise PrintedFormulaError(f"{name}: expected one stationary point, got {sol}")
    return sp.simplify(sol[0])


# ------------------------------------------------------------------------------------------ comparison
def same(a: sp.Expr, b: sp.Expr, points: int = 6, seed: int = 0) -> bool:
    """``a == b`` as functions: a max/min term by term; otherwise sympy's simplification proves it, or
    they agree to 30 digits at ``points`` seeded random points with every symbol in (1/10, 10)
    (and delta, theta in (1/2, 1)), a probabilistic identity test for these algebraic expressions."""
    import random

    # a max or min is compared term by term (a random point sees only the largest term)
    if isinstance(a, (sp.Max, sp.Min)) or isinstance(b, (sp.Max, sp.Min)):
        if type(a) is not type(b) or len(a.args) != len(b.args):
            return False
        left = list(b.args)
        for x in a.args:
            match = next((y for y in left if same(x, y, points, seed)), None)
            if match is None:
                return False
            left.remove(match)
        return True
    try:
        if sp.simplify(a - b) == 0:
            return True
    except Exception:  # pragma: no cover - simplify may fail on Max/Min differences
        pass
    syms = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    rng = random.Random(seed)
    for _ in range(points):
        sub = {}
        for s in syms:
            lo, hi = (1, 2) if s.name in ("delta", "theta") else (1, 100)
            sub[s] = sp.Rational(rng.randint(10 * lo + 1, 10 * hi - 1), 20 if s.name in ("delta", "theta") else 10)
        va, vb = sp.N(a.subs(sub), 40), sp.N(b.subs(sub), 40)
        if not (va.is_number and vb.is_number) or abs(va - vb) > sp.Float("1e-25") * max(1, abs(va)):
            return False
    return True


def hand_transcriptions(names=None) -> dict[str, sp.Expr]:
    """The hand transcription in ``theory/`` of each printed formula (as the same kind of object that
    :func:`comparable` makes of the parse); with ``names``, of those formulas only (each transcription is
    derived on demand, looked up at call time, so a replaced derivation is the one used)."""
    def b4_rhs():
        a, b, c = B4_NORMS
        coeffs = lemmas.b4_coefficients()
        return coeffs[0] * a + coeffs[1] * b + coeffs[2] * c

    build = {
        "closed_form_eq4": lambda: cf.printed_prox_weight(),
        "closed_form_eq6": lambda: cf.printed_prox_weight(),
        "dual_objective_eq5": lambda: cf.derive_dual_prox()[0],
        "dual_objective_eq7": lambda: cf.derive_dual_prox()[0],
        "dual_step_eq9": lambda: cf.printed_dual_step(),
        "dual_step_eq11": lambda: cf.printed_dual_step(),
        "gap_eq28": lambda: alg3.gap_eq28(),
        "rho_eq46": lambda: k.paper_rho_eq46(),
        "phi1_eq47": lambda: k.paper_phi1_eq47(),
        "thm34_denominator": lambda: k.theorem_denominator(),
        "final_division": lambda: k.paper_final_division(),
        "rho_general": lambda: k.general_rho(),
        "lemma_b4_rhs": b4_rhs,
    }
    unknown = [n for n in (names or ()) if n not in build]
    if unknown:
        raise PrintedFormulaError(f"no hand transcription for {unknown}; choose among {sorted(build)}")
    return {n: build[n]() for n in (names or build)}


def comparable(name: str) -> sp.Expr:
    """The parse of ``name`` in the form its hand transcription takes: the dual objectives (5)/(7) by their
    projected minimiser, the dual steps (9)/(11) with their projection ``[.]_+``."""
    if name.startswith("dual_objective"):
        return sp.Max(0, dual_minimiser(name))
    if name.startswith("dual_step"):
        return sp.Max(0, parse(name))
    return parse(name)


def agreement(names=None) -> dict[str, bool]:
    """``{formula: parsed LaTeX == hand transcription}`` for every formula with a symbolic hand transcription
    (Remark B.6's bound is evaluated numerically by its check and compared there)."""
    hand = hand_transcriptions(names)
    return {n: same(comparable(n), hand[n]) for n in hand}
