"""``fescontrol-hil``: start one stand-in for the world (an emulator) as a process.

Each subcommand is a module with ``run(argv) -> int``; adding one is one line in
``SUBCOMMANDS``. Modules are imported only when chosen, so a missing or slow one does not
affect the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "stimulator": ("fescontrol_hil.stimulator", "emulate a RehaStim 2 (ScienceMode2) on a pty"),
    "sm4-stimulator": ("fescontrol_hil.sm4_stimulator", "emulate a RehaMove3 or P24 (ScienceMode4, --device) on a pty"),
    "sensor": ("fescontrol_hil.sensor", "emulate a gait sensor (heel switch, insole, foot or shank IMU, WT901) on a pty"),
}


def _parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<15} {text}" for name, (_mod, text) in SUBCOMMANDS.items())
    p = argparse.ArgumentParser(
        prog="fescontrol-hil", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Hardware-in-the-loop emulators for fescontrol.",
        epilog=f"subcommands:\n{lines}\n\n'fescontrol-hil SUBCOMMAND -h' shows its options.")
    p.add_argument("subcommand", choices=sorted(SUBCOMMANDS), metavar="SUBCOMMAND")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to ``<module>.run(remaining argv)``; return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    # only the first word is ours: everything after it, -h included, belongs to the subcommand
    chosen = _parser().parse_args(args[:1]).subcommand
    module = importlib.import_module(SUBCOMMANDS[chosen][0])
    return int(module.run(args[1:]))
