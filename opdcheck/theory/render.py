"""LaTeX rendering helpers for derivations shown in the report (sympy only).

The report writer pastes ``CheckResult.details`` verbatim into Markdown; these helpers produce
display-math blocks (``$$ ... $$``) so a derived expression and the paper's printed one can be read
side by side.
"""
from __future__ import annotations

from typing import Any, Iterable

import sympy as sp

__all__ = ["tex", "latex_block", "side_by_side", "bullet_list", "findings_markdown"]


def tex(expr: Any) -> str:
    """``sympy.latex`` for sympy objects; strings pass through unchanged (already LaTeX)."""
    if isinstance(expr, str):
        return expr
    return sp.latex(expr)


def latex_block(name: str, expr: Any, lhs: str | None = None) -> str:
    """A bold caption followed by a display-math block ``$$ lhs = expr $$``.

    >>> latex_block("derived", sp.Symbol("x") + 1)
    '**derived**\\n\\n$$x + 1$$\\n'
    """
    body = tex(expr)
    if lhs:
        body = f"{lhs} = {body}"
    return f"**{name}**\n\n$${body}$$\n"


def side_by_side(title: str, derived: Any, printed: Any, *, lhs: str | None = None,
                 derived_label: str = "derived (opdcheck)", printed_label: str = "printed (paper)",
                 note: str = "") -> str:
    """Two display blocks, the derived version first, then the paper's, then an optional note."""
    parts = [f"#### {title}", "", latex_block(derived_label, derived, lhs), latex_block(printed_label, printed, lhs)]
    if note:
        parts += [note, ""]
    return "\n".join(parts)


def bullet_list(items: Iterable[str]) -> str:
    return "\n".join(f"- {it}" for it in items) + "\n"


def _cell(x: Any, limit: int = 160) -> str:
    s = str(x).replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= limit else s[: limit - 3] + "..."


def findings_markdown(findings: Iterable[Any], controls: Iterable[Any] = ()) -> str:
    """Markdown tables of a check's findings (name, verdict, computed, stated, cases judged, the independent
    replay of a witness) and of its controls. Duck-typed on the attributes of ``Finding``/``Control`` so
    that theory/ does not import paper_checks/."""
    lines = ["#### Findings", "", "| finding | verdict | computed | stated | judged | independent replay |",
             "|---|---|---|---|---|---|"]
    for f in findings:
        w = getattr(f, "witness", None)
        rep = ("-" if not w else
               f"{w.get('method', '?')}: replayed={w.get('replayed')}, confirms={w.get('confirms')}, agrees={w.get('agrees')}")
        lines.append(f"| {_cell(f.name)} | {f.verdict.value} | {_cell(f.computed)} | {_cell(f.stated)} | {f.judged} | {_cell(rep)} |")
    controls = list(controls)
    if controls:
        lines += ["", "#### Controls", "", "| control | kind | passed | detail |", "|---|---|---|---|"]
        lines += [f"| {_cell(c.name)} | {c.kind} | {c.passed} | {_cell(c.detail, 240)} |" for c in controls]
    return "\n".join(lines) + "\n"
