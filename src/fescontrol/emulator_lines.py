"""The two lines a host and an emulator process exchange at start-up, sans I/O.

Why one module: each line is written on one side and read on the other (`simulate`, the tests'
rigs, every emulator in `fescontrol_hil`); its format lives here once, so the sides cannot drift.

* ``PORT <slave path>``: the emulator's first stdout line, once its pseudo-terminal is open.
* ``T0 <CLOCK_MONOTONIC ns>``: the time origin the host sends on stdin to an emulator started
  with ``--t0-mono-ns stdin``; the emulator sends nothing before it.
"""

from __future__ import annotations

T0_FROM_STDIN = "stdin"
"""The value of `--t0-mono-ns` that makes an emulator read its time origin from stdin."""


def port_line(path: str) -> str:
    """The line an emulator prints first: the path of the port the host should open."""
    if not path or path != path.strip() or "\n" in path:
        raise ValueError(f"port path {path!r}: must be a non-empty path without surrounding blanks")
    return f"PORT {path}\n"


def parse_port_line(line: str) -> str | None:
    """The port path of a ``PORT <path>`` line, or None if the line is anything else."""
    word, _, path = line.strip().partition(" ")
    path = path.strip()
    if word != "PORT" or not path:
        return None
    return path


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
