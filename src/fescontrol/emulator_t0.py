"""The time-origin line a host sends an emulator process (`--t0-mono-ns stdin`), sans I/O.

Why one module: the line is written by `simulate` (and by tests that start emulators themselves)
and read by every emulator in `fescontrol_hil`; its format lives here once, so the two sides
cannot drift. An emulator started with `--t0-mono-ns stdin` prints its `PORT` line, then waits for
``T0 <CLOCK_MONOTONIC ns>`` and sends nothing before it.
"""

from __future__ import annotations

T0_FROM_STDIN = "stdin"
"""The value of `--t0-mono-ns` that makes an emulator read its time origin from stdin."""


def t0_line(t0_ns: int) -> str:
    """The line that gives an emulator its time origin (CLOCK_MONOTONIC ns, >= 0)."""
    if t0_ns < 0:
        raise ValueError(f"t0 {t0_ns!r}: must be >= 0 (CLOCK_MONOTONIC ns)")
    return f"T0 {t0_ns}\n"


def parse_t0_line(line: str) -> int | None:
    """The time origin of a ``T0 <ns>`` line, or None if the line is anything else."""
    word, _, number = line.strip().partition(" ")
    if word != "T0" or not number.isdigit():
        return None
    return int(number)
