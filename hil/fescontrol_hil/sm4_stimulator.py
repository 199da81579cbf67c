"""RehaMove3 / P24 emulator process (ScienceMode4 mid level) on a pty.

Prints ``PORT <slave path>`` as its first stdout line, then serves the device model
(``sciencemode4_model``) on the master side until SIGTERM/SIGINT. Writes ``stim.csv`` (one
row per change of a channel's output, in session time; channel = protocol index + 1) and
``device.jsonl`` (every frame in and out with its hex and ``sciencemode4.describe``
decoding, device events, injected faults). Stdlib plus fescontrol codecs only, so the
process is up in a fraction of a second.

Line settings: the RehaMove3 is an FTDI UART at 3 Mbaud 8N2 with RTS/CTS (B.1). The host's
settings are read from the pty on every read: a wrong rate, data size or parity garbles
what the device receives, so those bytes are dropped; a missing second stop bit or RTS/CTS
is only a warning (a UART still reads the frames); the dropped bytes are logged as
``rx_garbled`` device events with their hex. The P24 is a USB CDC port and accepts any line
settings (B.1, inferred).
"""

from __future__ import annotations

import argparse
import logging
import math
import termios
import textwrap
from pathlib import Path
from typing import Sequence

from fescontrol.protocol import sciencemode4 as sm4
from fescontrol_hil.emulator_process import PtyLink, SessionClock, SessionLog, add_session_options, serve, setup_logging
from fescontrol_hil.sciencemode4_model import DEVICES, FAULTS, EventRecord, FaultPlan, OutputChange, Record, ScienceMode4Model

log = logging.getLogger(__name__)

REHAMOVE3_BAUD = 3_000_000
_BAUD_OF = {getattr(termios, n): int(n[1:]) for n in dir(termios) if n.startswith("B") and n[1:].isdigit()}

FAULT_HELP = {
    "no-ack": "from S on nothing is sent; commands are still applied and feed the watchdog; "
              "the unsent answers are logged as tx_suppressed",
    "late-ack": "from S on commands take effect on time but every answer leaves --late-ack-ms later",
    "busy": "from S on every Ml_update is answered 21 (Busy) and not applied (output holds); "
            "it still feeds the watchdog; other commands work",
    "transfer-error": "from S on every frame is taken as failing its checksum: answered 1 "
                      "(Transfer_Error), not applied, no keep-alive, so a running output stops "
                      "2 s after the last good Ml_update/Ml_get_current_data",
    "electrode-error": "at S the electrode of --fault-channel (default: the lowest channel "
                       "stimulating) fails: that channel stops (all if Ml_init set stop-all-on-error), "
                       "Ml_get_current_data reports it until the next Ml_init/Ml_stop, an Ml_update "
                       "enabling it is answered 10; no effect if the channel is not stimulating",
    "emergency-switch": "at S outputs and high voltage off, mid level uninitialised, no packet sent: "
                        "Ml_update/Ml_get_current_data then answer 7 (Not_Initialized) until Ml_init",
    "device-reset": "at S the device resets by itself: outputs off, level none, deaf for "
                    "--reset-duration-s, then back silently (SM4 has no device Init)",
    "disconnect": "at S the pty is closed (the host's next read/write fails). RehaMove3 (battery) "
                  "keeps stimulating until its 2 s watchdog; P24 (USB-powered) loses power and "
                  "stops at once; the process exits 0 once every output is off",
}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    faults = "\n".join(textwrap.fill(text, 100, initial_indent=f"  {name:<17} ", subsequent_indent=" " * 20,
                                     break_on_hyphens=False)
                       for name, text in FAULT_HELP.items())
    p = argparse.ArgumentParser(
        prog="fescontrol-hil sm4-stimulator", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Emulate a HASOMED RehaMove3 or P24 (ScienceMode4 mid level) on a pty.\n"
                    "Prints 'PORT <path>' first; writes stim.csv and device.jsonl to --out.",
        epilog="faults (--fault NAME --fault-at S; S is session time in seconds, t_mono = t0 + S / speed):\n"
               + faults + "\n\n" + textwrap.fill(
                   "Each injected fault is a stderr warning and a record with \"kind\": \"fault_injected\" in "
                   "device.jsonl; outputs turned off are rows in stim.csv. RehaMove3 expects the host at 3000000 "
                   "baud 8N2 RTS/CTS (wrong rate, size or parity: bytes dropped); P24 accepts any line settings.", 100))
    p.add_argument("--device", required=True, choices=sorted(DEVICES),
                   help="rehamove3: 4 channels, Ml_get_current_data selection 2, no Reset_ack; "
                        "p24: 8 channels, selection 4, USB-powered")
    add_session_options(p)
    p.add_argument("--ack-delay-ms", type=float, default=10.0,
                   help="time the device takes to handle one command (default 10)")
    p.add_argument("--reset-duration-s", type=float, default=10.0,
                   help="time a reset takes, during which nothing is answered (default 10; S15: 10-15 s)")
    p.add_argument("--device-id", default=None,
                   help="10 ASCII characters answered to Get_device_id (default RM3-EMU-01 / P24-EMU-01)")
    f = p.add_argument_group("fault injection")
    f.add_argument("--fault", choices=FAULTS, default=None, metavar="NAME",
                   help="inject one fault: " + ", ".join(FAULTS) + " (see below)")
    f.add_argument("--fault-at", type=float, default=None, metavar="S",
                   help="session time of the fault in seconds (default 0)")
    f.add_argument("--fault-channel", type=int, default=None, metavar="N",
                   help="electrode-error: channel number N (1-based, as in stim.csv)")
    f.add_argument("--late-ack-ms", type=float, default=600.0, metavar="MS",
                   help="late-ack: how late each answer leaves (default 600)")
    args = p.parse_args(argv)
    if not args.speed > 0 or not math.isfinite(args.speed):
        p.error(f"--speed must be > 0, got {args.speed}")
    for name in ("ack_delay_ms", "reset_duration_s", "late_ack_ms"):
        value = getattr(args, name)
        if not (value >= 0 and math.isfinite(value)):
            p.error(f"--{name.replace('_', '-')} must be >= 0, got {value}")
    if args.fault is None and (args.fault_at is not None or args.fault_channel is not None):
        p.error("--fault-at and --fault-channel need --fault NAME")
    if args.fault_at is not None and not math.isfinite(args.fault_at):
        p.error(f"--fault-at must be a finite number of seconds, got {args.fault_at}")
    if args.fault_channel is not None:
        if args.fault != "electrode-error":
            p.error("--fault-channel only applies to --fault electrode-error")
        count = DEVICES[args.device].channels
        if not 1 <= args.fault_channel <= count:
            p.error(f"--fault-channel must be 1..{count} for {args.device}, got {args.fault_channel}")
    if args.device_id is not None and not (args.device_id.isascii() and len(args.device_id) == sm4.DEVICE_ID_LEN):
        p.error(f"--device-id must be {sm4.DEVICE_ID_LEN} ASCII characters, got {args.device_id!r}")
    return args


def _describe(rec: Record) -> dict[str, object]:
    """device.jsonl fields of one record: an injected fault, a device event, or a frame in or out."""
    if isinstance(rec, EventRecord):
        if rec.injected:
            return {"kind": "fault_injected", "fault": rec.event, **rec.detail}
        return {"kind": "device_event", "event": rec.event, **rec.detail}
    entry: dict[str, object] = {"dir": rec.direction, "hex": rec.raw.hex(" "), **sm4.describe(rec.item)}
    if rec.note is not None:
        entry["note"] = rec.note
    return entry


def _stim_fields(ch: OutputChange) -> tuple[object, ...]:
    return ch.number, f"{ch.current_ma:g}", ch.pulse_width_us, ch.frequency_hz


class _LineCheck:
    """RehaMove3 only: compare the host's pty settings with 3 Mbaud 8N2 RTS/CTS."""

    def __init__(self, slave_fd: int, strict: bool) -> None:
        self.slave_fd = slave_fd
        self.strict = strict
        self.last: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self.dropped = 0

    def problems(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(settings that garble the bytes, settings that only deserve a warning)."""
        if not self.strict:
            return (), ()
        try:
            _i, _o, cflag, _l, ispeed, ospeed, _cc = termios.tcgetattr(self.slave_fd)
        except termios.error:
            return (), ()
        fatal = []
        for what, speed in (("input", ispeed), ("output", ospeed)):
            if speed != termios.B3000000:
                fatal.append(f"{what} rate {_BAUD_OF.get(speed, 'non-standard')} baud, device runs at {REHAMOVE3_BAUD}")
        if cflag & termios.CSIZE != termios.CS8:
            fatal.append("data size is not 8 bits")
        if cflag & termios.PARENB:
            fatal.append("parity enabled, device uses none")
        warn = []
        if not cflag & termios.CSTOPB:
            warn.append("1 stop bit, device sends 2")
        if not cflag & termios.CRTSCTS:
            warn.append("no RTS/CTS flow control, device uses it")
        return tuple(fatal), tuple(warn)

    def accept(self, model: ScienceMode4Model, now_ns: int, nbytes: int) -> bool:
        """Record a change of the settings; True if the bytes reach the device intact."""
        current = self.problems()
        if current != self.last:
            fatal, warn = current
            if fatal or warn:
                log.warning("host line settings: %s", "; ".join(fatal + warn))
                model.record_event(now_ns, "line_settings_mismatch", garbling=list(fatal), warnings=list(warn),
                                   effect="bytes dropped" if fatal else "warning only")
            else:
                model.record_event(now_ns, "line_settings_ok", bytes_dropped_before=self.dropped)
            self.last = current
        if current[0]:
            self.dropped += nbytes
            return False
        return True


def run(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or a disconnect fault has run its course); exit status 0."""
    args = _parse_args(argv)
    setup_logging("sm4-stimulator")
    link = PtyLink()  # the port first: with --t0-mono-ns stdin the host sends t0 once it has it
    clock = SessionClock.after_announcing(link, args.t0_mono_ns, args.speed)
    faults = None
    if args.fault is not None:
        at_s = args.fault_at if args.fault_at is not None else 0.0
        channel = None if args.fault_channel is None else args.fault_channel - 1
        faults = FaultPlan.single(args.fault, clock.ns_at(at_s), channel)
    model = ScienceMode4Model(args.device, ack_delay_ns=round(args.ack_delay_ms * 1e6),
                              late_ack_ns=round(args.late_ack_ms * 1e6), reset_ns=round(args.reset_duration_s * 1e9),
                              device_id=args.device_id, faults=faults)
    model.record_event(clock.start_ns, "power_on", device=model.spec.name, channels=model.spec.channels,
                       device_id=model.device_id, fault=args.fault, fault_at_s=args.fault_at)
    session = SessionLog(Path(args.out), clock, records=model.pop_records, describe=_describe,
                         changes=model.pop_output_changes, stim_fields=_stim_fields)
    line = _LineCheck(link.slave_fd, strict=args.device == "rehamove3")
    serve(model, session, link, _Line(model, link, line))
    log.info("stopped; decoder: %d ok, %d bad, %d stray bytes; %d bytes dropped on write, %d garbled on read",
             model.decoder.frames_ok, model.decoder.frames_bad, model.decoder.bytes_discarded,
             link.bytes_dropped, line.dropped)
    return 0


class _Line:
    """This emulator's I/O: the host's line settings on every read, and the disconnect fault."""

    def __init__(self, model: ScienceMode4Model, link: PtyLink, check: _LineCheck) -> None:
        self.model = model
        self.link = link
        self.check = check

    def after_poll(self, now_ns: int) -> None:
        if self.model.disconnected:
            self.model.record_event(now_ns, "port_closed")
            self.link.close()

    def next_io_ns(self) -> int | None:
        return None

    def receive(self, data: bytes, t_ns: int) -> None:
        if self.check.accept(self.model, t_ns, len(data)):
            self.model.receive(data, t_ns)
        else:  # garbled by wrong line settings: no frame reaches the device, but log the bytes
            self.model.record_event(t_ns, "rx_garbled", nbytes=len(data), hex=data.hex(" "))

    def finished(self) -> bool:
        """Disconnected: done once every output is off (at once on a P24, after the watchdog on a RehaMove3)."""
        return not self.model.stimulating
