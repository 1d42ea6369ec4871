"""The package's source files parsed once per test session (several tests read the package with ``ast``).

Not a test module. The trees are shared: a caller walks them and never modifies them.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def parsed(path: Path) -> ast.Module:
    """The syntax tree of one source file (read as UTF-8)."""
    return ast.parse(Path(path).read_text(encoding="utf-8"))
