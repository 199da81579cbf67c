"""Write a generated block between its own markers in a results file (benchmarks/RESULTS.md).

Why: several tools (`tools/results/*.py`) write into one file, each its own part; a tool
replaces only what lies between its markers, so the others' tables and the hand-written text
around them stay as they are.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

__all__ = ["publish", "update_results"]


def update_results(path: Path, text: str, begin: str, end: str) -> None:
    """Put ``text`` between ``begin`` and ``end`` in ``path`` (append the marked block if missing)."""
    block = f"{begin}\n{text}{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in old and end in old and old.index(begin) < old.index(end):
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):].lstrip("\n")
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block
    path.write_text(new, encoding="utf-8")


def publish(text: str, out: TextIO, started: float, results: Path | None, begin: str, end: str) -> None:
    """What every results tool ends with: the tables and their run time to ``out``, then (with
    ``results``) the tables into that file between the tool's markers."""
    out.write(text)
    out.write(f"({time.monotonic() - started:.1f} s)\n")
    if results is not None:
        update_results(results, text, begin, end)
        out.write(f"updated {results}\n")
