"""Readers for the CONTRACT's `stim.csv` and events files (truth, detected, `NAME.events.csv`).

They validate strictly, because the scorer's numbers are only as good as its inputs: a wrong
header, a missing column or time running backwards raises `ConfigError` naming the file,
the line (1 = header), the column and the offending value, instead of scoring garbage.

Decisions where the CONTRACT is silent:
- Files are read as UTF-8 with an optional BOM; blank lines are skipped; header names are
  compared after stripping surrounding spaces; fields are stripped before parsing.
- `stim.csv`: `t_s` must not decrease over the file. Equal times are allowed, also for the
  same channel (two changes within the 0.1 ms the writer resolves): the later row is the
  one that held, and the scorer applies them in file order. `channel` is an integer >= 0,
  `current_mA` and `frequency_hz` finite and >= 0, `pulse_width_us` an integer >= 0
  (`"250.0"` is accepted as 250).
- Events: `t_s` must not decrease; two rows of the same kind at the same time are an error
  (a duplicated event would be scored twice). Every row has as many fields as the header
  (`t_s,event` or `t_s,event,source`).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fescontrol.errors import ConfigError

STIM_HEADER: tuple[str, ...] = ("t_s", "channel", "current_mA", "pulse_width_us", "frequency_hz")
EVENTS_HEADERS: tuple[tuple[str, ...], ...] = (("t_s", "event"), ("t_s", "event", "source"))
EVENT_KINDS: tuple[str, ...] = (
    "heel_strike", "foot_flat", "heel_off", "toe_off", "standing_start", "standing_end",
)


@dataclass(frozen=True)
class StimRow:
    """One change of one channel's output; it holds until that channel's next row."""

    t_s: float
    channel: int
    current_ma: float
    pulse_width_us: int
    frequency_hz: float


@dataclass(frozen=True)
class Event:
    """One gait event (truth or detected) in session time."""

    t_s: float
    kind: str
    source: str = ""


def read_stim_csv(path: str | os.PathLike[str]) -> list[StimRow]:
    """Read a `stim.csv` (what the stimulator delivered) in file order."""
    p = Path(path)
    rows: list[StimRow] = []
    last_t = -math.inf
    for line, fields in _rows(p, (STIM_HEADER,)):
        if len(fields) != len(STIM_HEADER):
            raise ConfigError(
                f"{p}: line {line}: {len(fields)} fields {','.join(fields)!r}, "
                f"expected {len(STIM_HEADER)} ({','.join(STIM_HEADER)})")
        t_s = _finite(p, line, "t_s", fields[0])
        if t_s < last_t:
            raise ConfigError(
                f"{p}: line {line}, column t_s: value {fields[0]!r} is earlier than the "
                f"previous row ({last_t!r}); times must not decrease")
        last_t = t_s
        rows.append(StimRow(
            t_s=t_s,
            channel=_non_negative_int(p, line, "channel", fields[1]),
            current_ma=_non_negative(p, line, "current_mA", fields[2]),
            pulse_width_us=_non_negative_int(p, line, "pulse_width_us", fields[3]),
            frequency_hz=_non_negative(p, line, "frequency_hz", fields[4]),
        ))
    return rows


def read_events_csv(path: str | os.PathLike[str]) -> list[Event]:
    """Read an events file (`t_s,event[,source]`) in file order."""
    p = Path(path)
    events: list[Event] = []
    last_t = -math.inf
    kinds_at_last_t: set[str] = set()
    header_len = 0
    for line, fields in _rows(p, EVENTS_HEADERS):
        if line == 0:  # header marker from _rows
            header_len = len(fields)
            continue
        if len(fields) != header_len:
            raise ConfigError(
                f"{p}: line {line}: {len(fields)} fields {','.join(fields)!r}, "
                f"expected {header_len} as in the header")
        t_s = _finite(p, line, "t_s", fields[0])
        kind = fields[1]
        if kind not in EVENT_KINDS:
            raise ConfigError(
                f"{p}: line {line}, column event: value {kind!r} is not one of "
                f"{', '.join(EVENT_KINDS)}")
        if t_s < last_t:
            raise ConfigError(
                f"{p}: line {line}, column t_s: value {fields[0]!r} is earlier than the "
                f"previous row ({last_t!r}); times must not decrease")
        if t_s > last_t:
            kinds_at_last_t = set()
        elif kind in kinds_at_last_t:
            raise ConfigError(
                f"{p}: line {line}, column t_s: value {fields[0]!r}: a second {kind} "
                f"at the same time")
        kinds_at_last_t.add(kind)
        last_t = t_s
        events.append(Event(t_s=t_s, kind=kind, source=fields[2] if header_len == 3 else ""))
    return events


def _rows(p: Path, headers: tuple[tuple[str, ...], ...]) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, stripped fields) of each data row after checking the header.

    For files with more than one allowed header, the header itself is yielded first with
    line number 0 so the caller learns which form the file uses.
    """
    try:
        f = open(p, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot open: {exc.strerror or exc}") from exc
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            while header is not None and not any(h.strip() for h in header):
                header = next(reader, None)
            expected = " or ".join(repr(",".join(h)) for h in headers)
            if header is None:
                raise ConfigError(f"{p}: empty file, expected the header {expected}")
            names = tuple(h.strip() for h in header)
            if names not in headers:
                raise ConfigError(
                    f"{p}: line {reader.line_num}: header {','.join(header)!r} is not {expected}")
            if len(headers) > 1:
                yield 0, list(names)
            for fields in reader:
                if not any(x.strip() for x in fields):
                    continue
                yield reader.line_num, [x.strip() for x in fields]
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except csv.Error as exc:
            raise ConfigError(f"{p}: line {reader.line_num}: malformed CSV: {exc}") from exc


def _finite(p: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{p}: line {line}, column {column}: value {text!r} is not a finite number")
    return value


def _non_negative(p: Path, line: int, column: str, text: str) -> float:
    value = _finite(p, line, column, text)
    if value < 0:
        raise ConfigError(f"{p}: line {line}, column {column}: value {text!r} is negative")
    return value


def _non_negative_int(p: Path, line: int, column: str, text: str) -> int:
    value = _non_negative(p, line, column, text)
    if not value.is_integer():
        raise ConfigError(f"{p}: line {line}, column {column}: value {text!r} is not an integer")
    return int(value)
