"""LaTeX rendering helpers for derivations shown in the report (sympy only).

The report writer pastes ``CheckResult.details`` verbatim into Markdown; these helpers produce
display-math blocks (``$$ ... $$``) so a derived expression and the paper's printed one can be read
side by side.
"""
from __future__ import annotations

from typing import Any, Iterable

import sympy as sp

__all__ = ["tex", "latex_block", "side_by_side", "bullet_list"]


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
