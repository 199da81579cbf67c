"""RehaStim 2 emulator process: a pty that answers like the device, and logs what it delivered.

Prints ``PORT <slave path>`` as its first stdout line, then serves the device model
(``rehastim2_model``) on the master side until SIGTERM/SIGINT. Writes ``stim.csv`` (one
row per change of a channel's output, in session time) and ``device.jsonl`` (every frame
in and out, with its decoding). Stdlib plus fescontrol codecs only: no numpy/numba, so the
process is up in a fraction of a second.

Fault injection: device faults (busy, ack-then-busy, silent, emergency switch, electrode
error, reset) live in the model (``FaultPlan``); line noise (``--garbage-bytes``) and
``--unplug-at`` are I/O and live here. Every injected fault is a stderr warning and a
``"kind": "fault_injected"`` record in ``device.jsonl``.

``--lenient`` accepts the known quirks of published hosts (pysciencemode 1.1.5; see
``sciencemode2.QUIRKS``); strict is the default. Every quirk seen, taken or refused, is a
``"kind": "quirk"`` record in ``device.jsonl`` and, the first time, a stderr warning.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import select
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Sequence

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.records.writers import CsvLog, JsonlLog, format_time_s
from fescontrol_hil.pty_port import open_pty, read_host, write_nonblocking
from fescontrol_hil.rehastim2_model import FaultPlan, FaultRecord, QuirkRecord, RehaStim2Model

log = logging.getLogger(__name__)

STIM_HEADER = ("t_s", "channel", "current_mA", "pulse_width_us", "frequency_hz")
MAX_WAIT_S = 0.005
"""Longest select() wait: bounds how late a signal, a deadline or a clock jump is seen."""


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="fescontrol-hil stimulator",
        description="Emulate a HASOMED RehaStim 2 (ScienceMode2) on a pty.",
        epilog="Fault injection: times S are session time in seconds (t_mono = t0 + S / speed). "
               "Each injected fault is a stderr warning and a record with \"kind\": \"fault_injected\" "
               "in device.jsonl; outputs turned off by a fault are rows in stim.csv.")
    p.add_argument("--out", default=".", help="folder for stim.csv and device.jsonl (default: .)")
    p.add_argument("--t0-mono-ns", type=int, default=None,
                   help="session time origin on CLOCK_MONOTONIC (time.monotonic_ns()); default: now")
    p.add_argument("--speed", type=float, default=1.0,
                   help="replay speed: t_s = (t_mono - t0) * speed (default 1.0); only the "
                        "time stamps scale, the device's own timing stays real-time")
    p.add_argument("--ack-delay-ms", type=float, default=10.0,
                   help="time the device takes to process a command (default 10)")
    p.add_argument("--lenient", action="store_true",
                   help="also accept the quirks of published hosts (pysciencemode 1.1.5): command byte "
                        "XORed without escape, garbled InitAck packet number, keep-alive gaps up to 2 s "
                        "(not 1.2 s), inter-pulse interval below 8 ms (clamped to 8 ms); each quirk is "
                        "logged. Default: strict, the device as documented")
    p.add_argument("--init-packet-number", type=int, default=0, metavar="N",
                   help="the device's own packet counter (Init, StimulationError) starts at N, 0..255 "
                        "(default 0); e.g. 15 sends an Init whose packet number must be escaped")
    f = p.add_argument_group("fault injection")
    f.add_argument("--electrode-error-at", type=float, default=None, metavar="S",
                   help="at S: every output off (a stim.csv row) and StimulationError -2 "
                        "(electrode error); back to start mode, the host must re-initialise")
    f.add_argument("--emergency-switch-at", type=float, default=None, metavar="S",
                   help="at S: every output off and StimulationError -1 (emergency switch); "
                        "back to start mode")
    f.add_argument("--module-error-at", type=float, default=None, metavar="S",
                   help="at S: every output off and StimulationError -3 (stimulation module error); "
                        "back to start mode")
    f.add_argument("--busy-from", type=float, default=None, metavar="S",
                   help="from S on every StartChannelListMode is answered -8 (busy) at once and "
                        "not applied (output unchanged); other commands, Stop included, work")
    f.add_argument("--ack-then-busy-from", type=float, default=None, metavar="S",
                   help="from S on every command with an ack (Stop included) is acked 0 at once but "
                        "NOT applied, and --ack-delay-ms later acked again (same packet number and "
                        "command) with -8; the old output goes on until the watchdog stops it")
    f.add_argument("--silent-from", type=float, default=None, metavar="S",
                   help="from S on nothing is sent (tx line cut); commands are still received and "
                        "applied and the watchdog runs; unsent frames are logged as tx_suppressed")
    f.add_argument("--reset-at", type=float, default=None, metavar="S",
                   help="at S the device resets: outputs off, modes and link reset, then Init "
                        "(packet number from 0) at once and every 500 ms until answered")
    f.add_argument("--unplug-at", type=float, default=None, metavar="S",
                   help="at S the pty is closed (the host's next read/write fails) and nothing more "
                        "is read; the model runs on until its 1200 ms watchdog turns the output off "
                        "(written to stim.csv), then the process exits 0")
    f.add_argument("--garbage-bytes", type=int, default=0, metavar="N",
                   help="write N random bytes (never 0xF0, so never a frame start) between frames "
                        "every --garbage-every-ms (default 0 = off)")
    f.add_argument("--garbage-every-ms", type=float, default=None, metavar="M",
                   help="period of --garbage-bytes, device time in ms, on a grid from t0")
    f.add_argument("--garbage-seed", type=int, default=1, metavar="SEED",
                   help="seed of the garbage bytes (default 1)")
    args = p.parse_args(argv)
    if not args.speed > 0:
        p.error(f"--speed must be > 0, got {args.speed}")
    if args.ack_delay_ms < 0:
        p.error(f"--ack-delay-ms must be >= 0, got {args.ack_delay_ms}")
    if not 0 <= args.init_packet_number <= 255:
        p.error(f"--init-packet-number must be 0..255, got {args.init_packet_number}")
    for name in ("electrode_error_at", "emergency_switch_at", "module_error_at", "busy_from", "ack_then_busy_from",
                 "silent_from", "reset_at", "unplug_at"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            p.error(f"--{name.replace('_', '-')} must be a finite number of seconds, got {value}")
    if args.garbage_bytes < 0:
        p.error(f"--garbage-bytes must be >= 0, got {args.garbage_bytes}")
    if args.garbage_bytes and args.garbage_every_ms is None:
        p.error("--garbage-bytes needs --garbage-every-ms")
    if args.garbage_every_ms is not None and not (args.garbage_every_ms > 0 and math.isfinite(args.garbage_every_ms)):
        p.error(f"--garbage-every-ms must be > 0, got {args.garbage_every_ms}")
    if args.garbage_every_ms is not None and not args.garbage_bytes:
        p.error("--garbage-every-ms needs --garbage-bytes N (N >= 1)")
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
        for rec in model.pop_records():
            entry: dict[str, object] = {"t_mono_ns": rec.t_ns, "t_logged_mono_ns": logged_ns,
                                        "t_s": round(self.t_s(rec.t_ns), 6)}
            if isinstance(rec, FaultRecord):
                entry.update({"kind": "fault_injected", "fault": rec.fault})
                entry.update(rec.detail)
            elif isinstance(rec, QuirkRecord):
                entry.update({"kind": "quirk", "quirk": rec.quirk, "accepted": rec.accepted})
                entry.update(rec.detail)
            else:
                entry.update({"dir": rec.direction, "hex": rec.raw.hex(" ")})
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

    def at_ns(s: float | None) -> int | None:
        return None if s is None else t0_ns + round(s * 1e9 / args.speed)

    faults = FaultPlan(busy_from_ns=at_ns(args.busy_from), ack_then_busy_from_ns=at_ns(args.ack_then_busy_from),
                       silent_from_ns=at_ns(args.silent_from), emergency_switch_at_ns=at_ns(args.emergency_switch_at),
                       electrode_error_at_ns=at_ns(args.electrode_error_at), reset_at_ns=at_ns(args.reset_at),
                       module_error_at_ns=at_ns(args.module_error_at))
    model = RehaStim2Model(ack_delay_ns=round(args.ack_delay_ms * 1e6), faults=faults, lenient=args.lenient,
                           first_packet_number=args.init_packet_number)
    unplug_at_ns = at_ns(args.unplug_at)
    garbage = _Garbage(args.garbage_bytes, args.garbage_every_ms, args.garbage_seed, t0_ns, t_start) \
        if args.garbage_bytes else None

    stopping = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    master_fd, slave_fd, slave_path = open_pty()
    writer = _Writer(master_fd)
    unplugged = False
    try:
        sys.stdout.write(f"PORT {slave_path}\n")
        sys.stdout.flush()
        while not stopping:
            now = time.monotonic_ns()
            if unplugged:
                model.poll(now)  # the tx line is cut: nothing to write
                session.drain(model)
                if not model.linked:  # the watchdog has turned the output off
                    break
                deadline = model.next_deadline_ns()
                wait_ns = MAX_WAIT_S * 1e9 if deadline is None else min(MAX_WAIT_S * 1e9, max(0, deadline - now))
                time.sleep(wait_ns / 1e9)
                continue
            writer.write(model.poll(now))
            if garbage is not None and now >= garbage.next_ns:
                junk = garbage.take(now)
                if not model.tx_cut:
                    model.record_fault(now, "garbage", warn=garbage.count == 1, effect="bytes", hex=junk.hex(" "))
                    writer.write([junk])
            if unplug_at_ns is not None and now >= unplug_at_ns:
                model.record_fault(now, "unplug", effect="port_closed")
                model.cut_tx(now)
                session.drain(model)
                os.close(master_fd)
                os.close(slave_fd)
                unplugged = True
                continue
            session.drain(model)
            deadlines = [t for t in (model.next_deadline_ns(), unplug_at_ns,
                                     garbage.next_ns if garbage is not None else None) if t is not None]
            wait_s = MAX_WAIT_S
            if deadlines:
                wait_s = min(MAX_WAIT_S, max(0.0, (min(deadlines) - now) / 1e9))
            readable, _, _ = select.select([master_fd], [], [], wait_s)
            if readable:
                data = read_host(master_fd, MAX_WAIT_S)
                if data:
                    model.receive(data, time.monotonic_ns())
        model.power_off(time.monotonic_ns())
        session.drain(model)
    finally:
        session.close()
        if not unplugged:
            os.close(master_fd)
            os.close(slave_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped; decoder: %d ok, %d bad, %d stray bytes, quirks %s; %d bytes dropped on write",
             model.decoder.frames_ok, model.decoder.frames_bad, model.decoder.bytes_discarded,
             dict(model.decoder.quirks), writer.bytes_dropped)
    return 0


class _Garbage:
    """Line noise: N seeded random bytes every M ms on a grid anchored at t0. 0xF0 (the frame
    start) is never drawn, so the bytes can never make a frame; they go between frames."""

    BYTES = bytes(b for b in range(256) if b != sm2.START)

    def __init__(self, n: int, every_ms: float, seed: int, t0_ns: int, start_ns: int) -> None:
        self.n = n
        self.period_ns = max(1, round(every_ms * 1e6))
        self.rng = random.Random(seed)
        self.next_ns = t0_ns + math.ceil((start_ns - t0_ns) / self.period_ns) * self.period_ns
        self.count = 0

    def take(self, now_ns: int) -> bytes:
        """The next burst; missed grid points (a late loop) are skipped, not bunched up."""
        self.count += 1
        while self.next_ns <= now_ns:
            self.next_ns += self.period_ns
        return bytes(self.rng.choice(self.BYTES) for _ in range(self.n))


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
