"""The process plumbing every stimulator emulator shares: session clock, logs, pty link, loop.

An emulator module keeps only its device model wiring and its own options; this module
owns what must behave the same for every device: the session-time mapping, one
``device.jsonl`` record per packet or event and one ``stim.csv`` row per output change,
writing to a non-blocking pty master, SIGTERM/SIGINT handling and the select/read loop.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Callable, Generic, Iterable, Iterator, Mapping, Protocol, TypeVar

from fescontrol.emulator_lines import T0_FROM_STDIN, parse_t0_line, port_line
from fescontrol.records.writers import CsvLog, JsonlLog, format_time_s
from fescontrol_hil.pty_port import open_pty, read_host, write_nonblocking

log = logging.getLogger(__name__)

STIM_HEADER = ("t_s", "channel", "current_mA", "pulse_width_us", "frequency_hz")
MAX_WAIT_S = 0.005
"""Longest select() wait: bounds how late a signal, a deadline or a clock jump is seen."""


T0_WAIT_S = 60.0
"""How long an emulator waits for the ``T0 <ns>`` line before it gives up (exit status 2)."""


def t0_option(text: str) -> int | str:
    """argparse type of --t0-mono-ns: CLOCK_MONOTONIC ns (>= 0), or ``stdin``."""
    if text == T0_FROM_STDIN:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: CLOCK_MONOTONIC ns (an integer >= 0) or {T0_FROM_STDIN!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be >= 0")
    return value


def resolve_t0(value: int | str | None, timeout_s: float = T0_WAIT_S) -> int | None:
    """The session origin: the option's number, or with ``stdin`` the line ``T0 <ns>`` read now.

    Why: a host that fixes t0 before it starts the emulators must guess how long they take to
    report their ports; on a busy machine they can report after t0, the sensor's first samples
    are sent before the host opens its port and are lost (without sequence numbers the session
    clock then starts late). With ``stdin`` the emulator prints ``PORT``, then waits; the host
    sends t0 once it has both ports, so t0 needs only the margin of opening them. A missing or
    malformed line is an error (exit status 2): the emulator never guesses a time origin."""
    if value != T0_FROM_STDIN:
        return None if value is None else int(value)
    ready, _, _ = select.select([sys.stdin], [], [], timeout_s)
    line = sys.stdin.readline() if ready else ""
    t0 = parse_t0_line(line)
    if t0 is None:
        got = repr(line) if ready else f"nothing within {timeout_s:g} s"
        log.error("--t0-mono-ns stdin: expected the line 'T0 <CLOCK_MONOTONIC ns>' on stdin, got %s", got)
        raise SystemExit(2)
    return t0


def add_session_options(p: argparse.ArgumentParser) -> None:
    """--out, --t0-mono-ns and --speed: where the logs go and how device time maps to session time."""
    p.add_argument("--out", default=".", help="folder for stim.csv and device.jsonl (default: .)")
    p.add_argument("--t0-mono-ns", type=t0_option, default=None,
                   help="session time origin on CLOCK_MONOTONIC (time.monotonic_ns()), or 'stdin': read "
                        "the line 'T0 <ns>' from stdin after the PORT line; default: now")
    p.add_argument("--speed", type=float, default=1.0,
                   help="replay speed: t_s = (t_mono - t0) * speed (default 1.0); only the time "
                        "stamps scale, the device's own timing stays real-time")


def setup_logging(name: str) -> None:
    """Warnings to stderr, prefixed with the subcommand, unless the caller has set up logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format=f"{name}: %(levelname)s %(message)s")


@dataclass(frozen=True)
class SessionClock:
    """Session time: t_s = (t_mono - t0) * speed; the device itself runs in real time."""

    start_ns: int
    t0_ns: int
    speed: float

    @classmethod
    def starting_now(cls, t0_mono_ns: int | None, speed: float) -> SessionClock:
        """The process starts now; the origin is --t0-mono-ns, or now if not given."""
        start = time.monotonic_ns()
        return cls(start, start if t0_mono_ns is None else t0_mono_ns, speed)

    @classmethod
    def after_announcing(cls, link: PtyLink, t0_option_value: int | str | None, speed: float) -> SessionClock:
        """Report the port, then take the origin (with ``stdin``, as the host sends it: see resolve_t0)."""
        link.announce()
        return cls.starting_now(resolve_t0(t0_option_value), speed)

    def t_s(self, t_ns: int) -> float:
        return (t_ns - self.t0_ns) / 1e9 * self.speed

    def ns_at(self, s: float) -> int:
        """The monotonic time of session time `s`."""
        return self.t0_ns + round(s * 1e9 / self.speed)

    def at_ns(self, s: float | None) -> int | None:
        """As ns_at, but None stays None (a fault not asked for)."""
        return None if s is None else self.ns_at(s)


class _Timed(Protocol):
    @property
    def t_ns(self) -> int: ...


R = TypeVar("R", bound=_Timed)
C = TypeVar("C", bound=_Timed)


class SessionLog(Generic[R, C]):
    """Writes what a device model did: every record to device.jsonl, every output change to stim.csv.

    The emulator supplies how one record is described and which stim.csv fields an output
    change has; the time columns are the same for every device."""

    def __init__(self, out: Path, clock: SessionClock, *,
                 records: Callable[[], Iterable[R]], describe: Callable[[R], Mapping[str, object]],
                 changes: Callable[[], Iterable[C]], stim_fields: Callable[[C], tuple[object, ...]]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._records = records
        self._describe = describe
        self._changes = changes
        self._stim_fields = stim_fields
        self.stim = CsvLog(out / "stim.csv", STIM_HEADER)
        self.device = JsonlLog(out / "device.jsonl")

    def drain(self) -> None:
        """Write what the model did. `t_mono_ns` is the device-clock time of the packet (when it
        was due); `t_logged_mono_ns` is when this process actually handled it, so a late
        emulator loop shows up in the log instead of hiding behind exact model times."""
        logged_ns = time.monotonic_ns()
        for rec in self._records():
            entry: dict[str, object] = {"t_mono_ns": rec.t_ns, "t_logged_mono_ns": logged_ns,
                                        "t_s": round(self.clock.t_s(rec.t_ns), 6)}
            entry.update(self._describe(rec))
            self.device.write(entry)
        for ch in self._changes():
            self.stim.write((format_time_s(self.clock.t_s(ch.t_ns)), *self._stim_fields(ch)))

    def close(self) -> None:
        self.stim.close()
        self.device.close()


class PtyLink:
    """The device's end of the serial line: a pty whose slave path the host opens.

    Frames are written without blocking; a host that never reads loses bytes (as a UART
    overflows) with one warning per overflow episode, so it cannot fill a stderr pipe
    nobody drains. Closing is what an unplugged cable does: the host's next read fails."""

    def __init__(self) -> None:
        self.master_fd, self.slave_fd, self.path = open_pty()
        self.is_open = True
        self.overflowing = False
        self.bytes_dropped = 0
        self.announced = False

    def announce(self) -> None:
        """The first stdout line, which the host waits for: ``PORT <slave path>`` (once)."""
        if not self.announced:
            sys.stdout.write(port_line(self.path))
            sys.stdout.flush()
            self.announced = True

    def write(self, frames: list[bytes]) -> None:
        for frame in frames:
            dropped = write_nonblocking(self.master_fd, frame)
            self.bytes_dropped += dropped
            if dropped and not self.overflowing:
                log.warning("pty full (host not reading): dropping bytes")
            self.overflowing = dropped > 0

    def close(self) -> None:
        if self.is_open:
            os.close(self.master_fd)
            os.close(self.slave_fd)
            self.is_open = False


class StopFlag:
    """Set by SIGTERM/SIGINT; the loop ends at its next turn (at most MAX_WAIT_S later)."""

    def __init__(self) -> None:
        self.requested = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""Signals that end an emulator cleanly (its records finished, its pty closed); SIGHUP too, so one
started by hand ends so when its terminal closes."""


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """The STOP_SIGNALS set the flag instead of killing the process; the old handlers come back on exit."""
    flag = StopFlag()
    previous = {sig: signal.signal(sig, flag.on_signal) for sig in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class DeviceModel(Protocol):
    """What the loop needs from a device model (the rest is the emulator's business)."""

    def poll(self, now_ns: int) -> list[bytes]: ...

    def next_deadline_ns(self) -> int | None: ...

    def power_off(self, now_ns: int) -> None: ...


class DeviceIO(Protocol):
    """The emulator's own I/O around the shared loop."""

    def after_poll(self, now_ns: int) -> None:
        """Once a turn while the port is open, after the model's frames are written; may close the link."""

    def next_io_ns(self) -> int | None:
        """The next time after_poll has something to do, if any (the select wakes up for it)."""

    def receive(self, data: bytes, t_ns: int) -> None:
        """Bytes the host wrote, read at `t_ns`."""

    def finished(self) -> bool:
        """With the port closed: True once the device has nothing left to do, and the process ends."""


def serve(model: DeviceModel, session: SessionLog[R, C], link: PtyLink, io: DeviceIO) -> None:
    """Announce the port and run the device until SIGTERM/SIGINT (or, once the port is closed,
    until `io.finished()`); then power it off. The logs and the port are closed in every case."""
    with stop_on_signals() as stop:
        try:
            link.announce()
            while not stop.requested:
                now = time.monotonic_ns()
                frames = model.poll(now)
                if link.is_open:
                    link.write(frames)
                    io.after_poll(now)
                session.drain()
                if not link.is_open:  # the cable is out: nothing to read or write, the device runs on
                    if io.finished():
                        break
                    deadline = model.next_deadline_ns()
                    wait_ns = MAX_WAIT_S * 1e9 if deadline is None else min(MAX_WAIT_S * 1e9, max(0, deadline - now))
                    time.sleep(wait_ns / 1e9)
                    continue
                deadlines = [t for t in (model.next_deadline_ns(), io.next_io_ns()) if t is not None]
                wait_s = MAX_WAIT_S
                if deadlines:
                    wait_s = min(MAX_WAIT_S, max(0.0, (min(deadlines) - now) / 1e9))
                readable, _, _ = select.select([link.master_fd], [], [], wait_s)
                if readable:
                    data = read_host(link.master_fd, MAX_WAIT_S)
                    if data:
                        io.receive(data, time.monotonic_ns())
            model.power_off(time.monotonic_ns())
            session.drain()
        finally:
            session.close()
            link.close()
