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
import random
from pathlib import Path
from typing import Sequence

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol_hil.emulator_process import PtyLink, SessionClock, SessionLog, add_session_options, serve, setup_logging
from fescontrol_hil.rehastim2_model import FaultPlan, FaultRecord, OutputChange, QuirkRecord, Record, RehaStim2Model

log = logging.getLogger(__name__)

FAULT_TIMES = {
    "--electrode-error-at": "at S: every output off (a stim.csv row) and StimulationError -2 "
                            "(electrode error); back to start mode, the host must re-initialise",
    "--emergency-switch-at": "at S: every output off and StimulationError -1 (emergency switch); "
                             "back to start mode",
    "--module-error-at": "at S: every output off and StimulationError -3 (stimulation module error); "
                         "back to start mode",
    "--busy-from": "from S on every StartChannelListMode is answered -8 (busy) at once and "
                   "not applied (output unchanged); other commands, Stop included, work",
    "--ack-then-busy-from": "from S on every command with an ack (Stop included) is acked 0 at once but "
                            "NOT applied, and --ack-delay-ms later acked again (same packet number and "
                            "command) with -8; the old output goes on until the watchdog stops it",
    "--silent-from": "from S on nothing is sent (tx line cut); commands are still received and "
                     "applied and the watchdog runs; unsent frames are logged as tx_suppressed",
    "--reset-at": "at S the device resets: outputs off, modes and link reset, then Init "
                  "(packet number from 0) at once and every 500 ms until answered",
    "--unplug-at": "at S the pty is closed (the host's next read/write fails) and nothing more "
                   "is read; the model runs on until its 1200 ms watchdog turns the output off "
                   "(written to stim.csv), then the process exits 0",
}
"""The fault options that take a session time S, in --help order."""


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="fescontrol-hil stimulator",
        description="Emulate a HASOMED RehaStim 2 (ScienceMode2) on a pty.",
        epilog="Fault injection: times S are session time in seconds (t_mono = t0 + S / speed). "
               "Each injected fault is a stderr warning and a record with \"kind\": \"fault_injected\" "
               "in device.jsonl; outputs turned off by a fault are rows in stim.csv.")
    add_session_options(p)
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
    for flag, text in FAULT_TIMES.items():
        f.add_argument(flag, type=float, default=None, metavar="S", help=text)
    f.add_argument("--garbage-bytes", type=int, default=0, metavar="N",
                   help="write N random bytes (never 0xF0, so never a frame start) between frames "
                        "every --garbage-every-ms (default 0 = off)")
    f.add_argument("--garbage-every-ms", type=float, default=None, metavar="M",
                   help="period of --garbage-bytes, device time in ms, on a grid from t0")
    f.add_argument("--garbage-seed", type=int, default=1, metavar="SEED",
                   help="seed of the garbage bytes (default 1)")
    args = p.parse_args(argv)
    if not args.speed > 0 or not math.isfinite(args.speed):
        p.error(f"--speed must be a finite number > 0, got {args.speed}")
    if args.ack_delay_ms < 0:
        p.error(f"--ack-delay-ms must be >= 0, got {args.ack_delay_ms}")
    if not 0 <= args.init_packet_number <= 255:
        p.error(f"--init-packet-number must be 0..255, got {args.init_packet_number}")
    for flag in FAULT_TIMES:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None and not math.isfinite(value):
            p.error(f"{flag} must be a finite number of seconds, got {value}")
    if args.garbage_bytes < 0:
        p.error(f"--garbage-bytes must be >= 0, got {args.garbage_bytes}")
    if args.garbage_bytes and args.garbage_every_ms is None:
        p.error("--garbage-bytes needs --garbage-every-ms")
    if args.garbage_every_ms is not None and not (args.garbage_every_ms > 0 and math.isfinite(args.garbage_every_ms)):
        p.error(f"--garbage-every-ms must be > 0, got {args.garbage_every_ms}")
    if args.garbage_every_ms is not None and not args.garbage_bytes:
        p.error("--garbage-every-ms needs --garbage-bytes N (N >= 1)")
    return args


def _describe(rec: Record) -> dict[str, object]:
    """device.jsonl fields of one record: an injected fault, a host quirk, or a frame in or out."""
    if isinstance(rec, FaultRecord):
        return {"kind": "fault_injected", "fault": rec.fault, **rec.detail}
    if isinstance(rec, QuirkRecord):
        return {"kind": "quirk", "quirk": rec.quirk, "accepted": rec.accepted, **rec.detail}
    return {"dir": rec.direction, "hex": rec.raw.hex(" "), **sm2.describe(rec.item)}


def _stim_fields(ch: OutputChange) -> tuple[object, ...]:
    return ch.channel, ch.current_ma, ch.pulse_width_us, ch.frequency_hz


def run(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; then outputs to 0, logs closed, exit status 0."""
    args = _parse_args(argv)
    setup_logging("stimulator")
    link = PtyLink()  # the port first: with --t0-mono-ns stdin the host sends t0 once it has it
    clock = SessionClock.after_announcing(link, args.t0_mono_ns, args.speed)
    at_ns = clock.at_ns
    faults = FaultPlan(busy_from_ns=at_ns(args.busy_from), ack_then_busy_from_ns=at_ns(args.ack_then_busy_from),
                       silent_from_ns=at_ns(args.silent_from), emergency_switch_at_ns=at_ns(args.emergency_switch_at),
                       electrode_error_at_ns=at_ns(args.electrode_error_at), reset_at_ns=at_ns(args.reset_at),
                       module_error_at_ns=at_ns(args.module_error_at))
    model = RehaStim2Model(ack_delay_ns=round(args.ack_delay_ms * 1e6), faults=faults, lenient=args.lenient,
                           first_packet_number=args.init_packet_number)
    session = SessionLog(Path(args.out), clock, records=model.pop_records, describe=_describe,
                         changes=model.pop_output_changes, stim_fields=_stim_fields)
    garbage = _Garbage(args.garbage_bytes, args.garbage_every_ms, args.garbage_seed, clock.t0_ns, clock.start_ns) \
        if args.garbage_bytes else None
    serve(model, session, link, _LineFaults(model, link, garbage, at_ns(args.unplug_at)))
    log.info("stopped; decoder: %d ok, %d bad, %d stray bytes, quirks %s; %d bytes dropped on write",
             model.decoder.frames_ok, model.decoder.frames_bad, model.decoder.bytes_discarded,
             dict(model.decoder.quirks), link.bytes_dropped)
    return 0


class _LineFaults:
    """The I/O faults of this emulator (the device faults live in the model): line noise and unplugging."""

    def __init__(self, model: RehaStim2Model, link: PtyLink, garbage: _Garbage | None, unplug_at_ns: int | None) -> None:
        self.model = model
        self.link = link
        self.garbage = garbage
        self.unplug_at_ns = unplug_at_ns

    def after_poll(self, now_ns: int) -> None:
        if self.garbage is not None and now_ns >= self.garbage.next_ns:
            junk = self.garbage.take(now_ns)
            if not self.model.tx_cut:
                self.model.record_fault(now_ns, "garbage", warn=self.garbage.count == 1, effect="bytes", hex=junk.hex(" "))
                self.link.write([junk])
        if self.unplug_at_ns is not None and now_ns >= self.unplug_at_ns:
            self.model.record_fault(now_ns, "unplug", effect="port_closed")
            self.model.cut_tx(now_ns)
            self.link.close()

    def next_io_ns(self) -> int | None:
        times = [t for t in (self.unplug_at_ns, self.garbage.next_ns if self.garbage is not None else None) if t is not None]
        return min(times, default=None)

    def receive(self, data: bytes, t_ns: int) -> None:
        self.model.receive(data, t_ns)

    def finished(self) -> bool:
        """Unplugged: done once the watchdog has turned the output off."""
        return not self.model.linked


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
