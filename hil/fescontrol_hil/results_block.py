"""Write a generated block between its own markers in a results file (benchmarks/RESULTS.md).

Why: several tools (`tools/results/*.py`) write into one file, each its own part; a tool
replaces only what lies between its markers, so the others' tables and the hand-written text
around them stay as they are.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["update_results"]


def update_results(path: Path, text: str, begin: str, end: str) -> None:
    """Put ``text`` between ``begin`` and ``end`` in ``path`` (append the marked block if missing)."""
    block = f"{begin}\n{text}{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in old and end in old and old.index(begin) < old.index(end):
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):].lstrip("\n")
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block
    path.write_text(new, encoding="utf-8")
