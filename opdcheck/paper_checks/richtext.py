r"""The checks' Markdown (with ``$...$`` LaTeX) as HTML that reads offline: no MathJax, no network.

Formulas become plain Unicode and HTML (``\lambda`` -> λ, ``x_{t}`` -> x<sub>t</sub>,
``\tfrac74`` -> 7⁄4, ``\hat\pi`` -> π̂); the Markdown subset the checks write (paragraphs, ``**bold**``,
``*italic*``, ```code```, ``-`` lists, ``#`` headings, pipe tables) becomes the matching tags. Every
character of the input is HTML-escaped before any tag is added, so a string from outside (an
instance name, a file name) cannot inject markup.

Example:
    >>> str(latex_to_html(r"\lambda^\star_{t+1} \le \tfrac74\eta"))
    'λ<sup>⋆</sup><sub>t+1</sub> ≤ 7⁄4η'
    >>> str(markdown_to_html("**Why.** $\\rho < 1$"))
    '<p><strong>Why.</strong> <span class="math">ρ &lt; 1</span></p>'
"""
from __future__ import annotations

import html
import re

from markupsafe import Markup

__all__ = ["latex_to_html", "markdown_to_html", "inline_to_html"]

_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ",
    "Psi": "Ψ", "Omega": "Ω", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "neq": "≠", "ne": "≠",
    "approx": "≈", "sim": "∼", "propto": "∝", "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆",
    "infty": "∞", "cdot": "·", "times": "×", "otimes": "⊗", "pm": "±", "to": "→", "rightarrow": "→",
    "Rightarrow": "⇒", "mapsto": "↦", "nabla": "∇", "partial": "∂", "sum": "∑", "prod": "∏", "int": "∫",
    "star": "⋆", "ast": "∗", "top": "⊤", "dots": "…", "ldots": "…", "cdots": "⋯", "langle": "⟨",
    "rangle": "⟩", "|": "‖", "{": "{", "}": "}", "lbrace": "{", "rbrace": "}", "forall": "∀", "exists": "∃",
    "emptyset": "∅", "setminus": "∖", "circ": "∘", "prime": "′", "ell": "ℓ", "Vert": "‖", "vert": "|",
    "mid": "|", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "quad": " ", "qquad": "  ",
    ",": " ", ";": " ", ":": " ", "!": "", " ": " ", "%": "%", "_": "_", "#": "#", "&": "&amp;",
    "equiv": "≡", "ll": "≪", "gg": "≫", "min": "min", "max": "max", "log": "log", "exp": "exp",
    "det": "det", "arg": "arg", "lim": "lim", "sup": "sup", "inf": "inf", "sin": "sin", "cos": "cos",
    "Re": "Re", "Im": "Im", "tr": "tr", "operatorname": "", "displaystyle": "", "textstyle": "",
    "left": "", "right": "", "big": "", "Big": "", "bigl": "", "bigr": "", "Bigl": "", "Bigr": "",
}
_BLACKBOARD = {"E": "𝔼", "R": "ℝ", "N": "ℕ", "Q": "ℚ", "Z": "ℤ", "P": "ℙ", "C": "ℂ"}
_CALLIGRAPHIC = {"L": "ℒ", "H": "ℋ", "S": "𝒮", "D": "𝒟", "O": "𝒪", "N": "𝒩", "A": "𝒜", "F": "ℱ",
                 "P": "𝒫", "X": "𝒳", "Y": "𝒴", "K": "𝒦"}
_ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0305", "tilde": "\u0303",
            "widetilde": "\u0303", "dot": "\u0307", "vec": "\u20d7"}
_TEXT = ("mathrm", "text", "textrm", "mathit", "mathbf", "boldsymbol", "mathsf", "texttt", "operatorname")


def _group(s: str, i: int) -> tuple[str, int]:
    """The argument starting at ``s[i]``: a ``{...}`` group, a ``\\macro`` or one character."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return "", i
    if s[i] == "{":
        depth, j = 0, i
        while j < len(s):
            if s[j] == "\\":
                j += 2
                continue
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    return s[i + 1:j], j + 1
            j += 1
        return s[i + 1:], len(s)
    if s[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", s[i:])
        return m.group(0), i + len(m.group(0))
    return s[i], i + 1


def _convert(s: str) -> str:
    """LaTeX (already HTML-escaped) to HTML, recursively on groups."""
    out: list[str] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", s[i:])
            name = m.group(1)
            i += len(m.group(0))
            if name in ("frac", "tfrac", "dfrac"):
                num, i = _group(s, i)
                den, i = _group(s, i)
                n, d = _convert(num), _convert(den)
                simple = re.fullmatch(r"[\w.⋆]+", num.strip()) and re.fullmatch(r"[\w.⋆]+", den.strip())
                out.append(f"{n}⁄{d}" if simple else f"({n})/({d})")
            elif name == "sqrt":
                arg, i = _group(s, i)
                a = _convert(arg)
                out.append(f"√{a}" if len(arg.strip()) <= 1 or arg.startswith("\\") else f"√({a})")
            elif name in _ACCENTS:
                arg, i = _group(s, i)
                a = _convert(arg)
                out.append(a + _ACCENTS[name] if len(html.unescape(re.sub("<[^>]+>", "", a))) == 1 else
                           f"{a}<sup>{'^' if name in ('hat', 'widehat') else '‾' if name in ('bar', 'overline') else '~'}</sup>")
            elif name == "mathbb":
                arg, i = _group(s, i)
                out.append("".join(_BLACKBOARD.get(c, c) for c in arg))
            elif name == "mathcal":
                arg, i = _group(s, i)
                out.append("".join(_CALLIGRAPHIC.get(c, c) for c in arg))
            elif name in _TEXT:
                arg, i = _group(s, i)
                conv = _convert(arg)
                out.append(f"<b>{conv}</b>" if name in ("mathbf", "boldsymbol") else
                           f'<span class="up">{conv}</span>')
            elif name in ("begin", "end"):
                _, i = _group(s, i)
            elif name == "\\":
                out.append("; ")
            elif name in _SYMBOLS:
                out.append(_SYMBOLS[name])
            else:
                out.append(name)
        elif ch in "_^":
            arg, i = _group(s, i + 1)
            tag = "sub" if ch == "_" else "sup"
            out.append(f"<{tag}>{_convert(arg)}</{tag}>")
        elif ch == "{" or ch == "}":
            arg, i = _group(s, i) if ch == "{" else ("", i + 1)
            out.append(_convert(arg))
        elif ch == "&":  # the input is escaped: '&amp;' is an alignment tab, any other entity is kept
            m = re.match(r"&\w+;|&#\d+;", s[i:])
            ent = m.group(0) if m else "&amp;"
            out.append(" " if ent == "&amp;" else ent)
            i += len(m.group(0)) if m else 1
        elif ch == "~":
            out.append(" ")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def latex_to_html(tex: str) -> Markup:
    """A LaTeX formula as Unicode + ``<sub>``/``<sup>`` HTML (escaped first)."""
    return Markup(_convert(html.escape(str(tex), quote=False)).strip())


_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


def inline_to_html(text: str) -> Markup:
    """One line or paragraph of Markdown: math, ``**bold**``, ``*italic*``, ```code```; escaped first."""
    parts: list[str] = []
    pos = 0
    for m in _MATH.finditer(str(text)):
        parts.append(_plain(text[pos:m.start()]))
        if m.group(1) is not None:
            parts.append(f'<span class="math display">{latex_to_html(m.group(1))}</span>')
        else:
            parts.append(f'<span class="math">{latex_to_html(m.group(2))}</span>')
        pos = m.end()
    parts.append(_plain(text[pos:]))
    return Markup("".join(parts))


def _plain(text: str) -> str:
    codes: list[str] = []

    def keep(m: re.Match) -> str:
        codes.append(f"<code>{html.escape(m.group(1), quote=False)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    t = re.sub(r"`([^`]+)`", keep, text)
    t = html.escape(t, quote=False)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", t)
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], t)


def _table(lines: list[str]) -> str:
    def cells(line: str) -> list[str]:
        return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]

    head = cells(lines[0])
    body = [cells(x) for x in lines[2:]]
    h = "".join(f"<th>{inline_to_html(c.replace(chr(92) + '|', '|'))}</th>" for c in head)
    rows = "".join("<tr>" + "".join(f"<td>{inline_to_html(c.replace(chr(92) + '|', '|'))}</td>" for c in r) + "</tr>"
                   for r in body)
    return f'<table class="data"><thead><tr>{h}</tr></thead><tbody>{rows}</tbody></table>'


def markdown_to_html(md: str) -> Markup:
    """The Markdown subset the checks write, as HTML (paragraphs, lists, headings, tables, code blocks)."""
    lines = str(md).replace("\r\n", "\n").split("\n")
    blocks: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(f"<p>{inline_to_html(' '.join(para))}</p>")
            para.clear()
        if items:
            blocks.append("<ul>" + "".join(f"<li>{inline_to_html(x)}</li>" for x in items) + "</ul>")
            items.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("```"):
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            blocks.append("<pre>" + html.escape("\n".join(lines[i + 1:j]), quote=False) + "</pre>")
            i = j + 1
            continue
        if s.startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1]):
            flush()
            j = i + 2
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            blocks.append(_table(lines[i:j]))
            i = j
            continue
        if not s:
            flush()
        elif m := re.match(r"^(#{1,6})\s+(.*)", s):
            flush()
            level = min(6, len(m.group(1)) + 3)  # inside a check's section: below its own heading
            blocks.append(f"<h{level}>{inline_to_html(m.group(2))}</h{level}>")
        elif m := re.match(r"^[-*]\s+(.*)", s):
            if para:
                flush()
            items.append(m.group(1))
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + s
        else:
            if items:
                flush()
            para.append(s)
        i += 1
    flush()
    return Markup("\n".join(blocks))
