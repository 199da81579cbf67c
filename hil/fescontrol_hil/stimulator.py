"""RehaStim 2 emulator process: a pty that answers like the device, and logs what it delivered.

Prints ``PORT <slave path>`` as its first stdout line, then serves the device model
(``rehastim2_model``) on the master side until SIGTERM/SIGINT. Writes ``stim.csv`` (one
row per change of a channel's output, in session time) and ``device.jsonl`` (every frame
in and out, with its decoding). Stdlib plus fescontrol codecs only: no numpy/numba, so the
process is up in a fraction of a second.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import select
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Sequence

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.records.writers import CsvLog, JsonlLog, format_time_s
from fescontrol_hil.pty_port import open_pty, write_nonblocking
from fescontrol_hil.rehastim2_model import RehaStim2Model

log = logging.getLogger(__name__)

STIM_HEADER = ("t_s", "channel", "current_mA", "pulse_width_us", "frequency_hz")
MAX_WAIT_S = 0.005
"""Longest select() wait: bounds how late a signal, a deadline or a clock jump is seen."""


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fescontrol-hil stimulator",
                                description="Emulate a HASOMED RehaStim 2 (ScienceMode2) on a pty.")
    p.add_argument("--out", default=".", help="folder for stim.csv and device.jsonl (default: .)")
    p.add_argument("--t0-mono-ns", type=int, default=None,
                   help="session time origin on CLOCK_MONOTONIC (time.monotonic_ns()); default: now")
    p.add_argument("--speed", type=float, default=1.0,
                   help="replay speed: t_s = (t_mono - t0) * speed (default 1.0); only the "
                        "time stamps scale, the device's own timing stays real-time")
    p.add_argument("--ack-delay-ms", type=float, default=10.0,
                   help="time the device takes to process a command (default 10)")
    p.add_argument("--electrode-error-at", type=float, default=None, metavar="S",
                   help="session time at which to report an electrode error (-2)")
    args = p.parse_args(argv)
    if not args.speed > 0:
        p.error(f"--speed must be > 0, got {args.speed}")
    if args.ack_delay_ms < 0:
        p.error(f"--ack-delay-ms must be >= 0, got {args.ack_delay_ms}")
    return args


class _Session:
    """Maps the model's monotonic times onto session time and writes both logs."""

    def __init__(self, out: Path, t0_ns: int, speed: float) -> None:
        self.t0_ns = t0_ns
        self.speed = speed
        self.stim = CsvLog(out / "stim.csv", STIM_HEADER)
        self.device = JsonlLog(out / "device.jsonl")

    def t_s(self, t_ns: int) -> float:
        return (t_ns - self.t0_ns) / 1e9 * self.speed

    def drain(self, model: RehaStim2Model) -> None:
        """Write what the model did. `t_mono_ns` is the device-clock time of the packet (when it
        was due); `t_logged_mono_ns` is when this process actually handled it, so a late
        emulator loop shows up in the log instead of hiding behind exact model times."""
        logged_ns = time.monotonic_ns()
        for rec in model.pop_packet_records():
            entry = {"t_mono_ns": rec.t_ns, "t_logged_mono_ns": logged_ns, "t_s": round(self.t_s(rec.t_ns), 6),
                     "dir": rec.direction, "hex": rec.raw.hex(" ")}
            entry.update(sm2.describe(rec.item))
            self.device.write(entry)
        for ch in model.pop_output_changes():
            self.stim.write((format_time_s(self.t_s(ch.t_ns)), ch.channel, ch.current_ma,
                             ch.pulse_width_us, ch.frequency_hz))

    def close(self) -> None:
        self.stim.close()
        self.device.close()


def run(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; then outputs to 0, logs closed, exit status 0."""
    args = _parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="stimulator: %(levelname)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic_ns()
    t0_ns = args.t0_mono_ns if args.t0_mono_ns is not None else t_start
    session = _Session(out, t0_ns, args.speed)
    model = RehaStim2Model(ack_delay_ns=round(args.ack_delay_ms * 1e6))
    error_at_ns = None
    if args.electrode_error_at is not None:
        error_at_ns = t0_ns + round(args.electrode_error_at * 1e9 / args.speed)

    stopping = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    master_fd, slave_fd, slave_path = open_pty()
    writer = _Writer(master_fd)
    try:
        sys.stdout.write(f"PORT {slave_path}\n")
        sys.stdout.flush()
        while not stopping:
            now = time.monotonic_ns()
            if error_at_ns is not None and now >= error_at_ns:
                model.inject_stimulation_error(now, -2)
                error_at_ns = None
            writer.write(model.poll(now))
            session.drain(model)
            deadlines = [t for t in (model.next_deadline_ns(), error_at_ns) if t is not None]
            wait_s = MAX_WAIT_S
            if deadlines:
                wait_s = min(MAX_WAIT_S, max(0.0, (min(deadlines) - now) / 1e9))
            readable, _, _ = select.select([master_fd], [], [], wait_s)
            if readable:
                data = _read(master_fd)
                if data:
                    model.receive(data, time.monotonic_ns())
        model.power_off(time.monotonic_ns())
        session.drain(model)
    finally:
        session.close()
        os.close(master_fd)
        os.close(slave_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped; decoder: %d ok, %d bad, %d stray bytes; %d bytes dropped on write",
             model.decoder.frames_ok, model.decoder.frames_bad, model.decoder.bytes_discarded,
             writer.bytes_dropped)
    return 0


def _read(master_fd: int) -> bytes:
    """Read what the host wrote; a hung-up or closed host is not a reason to stop."""
    try:
        data = os.read(master_fd, 4096)
    except BlockingIOError:
        return b""
    except OSError as exc:
        if exc.errno != errno.EIO:
            raise
        data = b""
    if not data:
        time.sleep(MAX_WAIT_S)  # EIO/EOF keeps the fd readable: do not spin
    return data


class _Writer:
    """Writes frames to the master; warns once per overflow episode, not once per frame,
    so a host that never reads cannot fill a stderr pipe nobody drains."""

    def __init__(self, master_fd: int) -> None:
        self.master_fd = master_fd
        self.overflowing = False
        self.bytes_dropped = 0

    def write(self, frames: list[bytes]) -> None:
        for frame in frames:
            dropped = write_nonblocking(self.master_fd, frame)
            self.bytes_dropped += dropped
            if dropped and not self.overflowing:
                log.warning("pty full (host not reading): dropping bytes")
            self.overflowing = dropped > 0
