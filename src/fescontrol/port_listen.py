"""`fescontrol ports --listen`: what each serial port sends by itself, heard for a moment.

A bench has a sensor and a stimulator on look-alike USB adapters, and a sensor may send one of
several wire formats. `fescontrol ports` tells ports apart by their USB ids only; listening
tells what is behind each: a sensor in which format (and about how many samples a second), a
RehaStim 2 (it sends its ScienceMode2 Init unasked, once a second), or nothing (a RehaMove3 or
P24 sends nothing until asked; or nothing is attached). Nothing is ever written to a port, so
listening cannot command a stimulator; the port is opened as `run` opens it (exclusively: a
port a session holds is reported busy, not disturbed).

`classify` is pure (bytes and seconds in, what they are out); `listen` does the I/O.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass

import serial

from fescontrol.control.format_sniff import WHAT_THEY_ARE, FormatSniffer
from fescontrol.control.sensor_input import FORCE_FORMAT
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol import sciencemode4 as sm4

LISTEN_S = 1.5
"""Long enough for a RehaStim 2's Init (one a second) and for a sensor's rate to show."""
READ_BYTES = 4096
SNIFF_RATE_HZ = 100.0
"""The rate a WT901's time packets are placed at while listening (only their order matters here)."""


@dataclass(frozen=True)
class Heard:
    """What one port sent: its bytes, what they are, and the `run` option that reads them."""

    port: str
    bytes_in: int
    what: str
    use: str = ""


def _sensor_use(fmt: str) -> str:
    if fmt == FORCE_FORMAT:
        return "run --sensor-port with a heel-switch or insole profile (the default)"
    return f"run --sensor-port with --sensor-format {fmt}"


def classify(port: str, data: bytes, seconds: float) -> Heard:
    """What `data`, heard on `port` for `seconds`, is. A sensor format needs `MIN_SAMPLES` valid
    samples (noise forms none); a stimulator one checksummed packet of its protocol."""
    if not data:
        return Heard(port, 0, f"nothing in {seconds:g} s: a RehaMove3 or P24 sends nothing until asked; or no "
                              "device is attached, or it is off")
    sniffer = FormatSniffer(None, SNIFF_RATE_HZ)
    sniffer.feed(data)
    fmt = sniffer.found()
    if fmt is not None:
        rate = sniffer.samples[fmt] / seconds
        return Heard(port, len(data), f"{WHAT_THEY_ARE[fmt]}, about {rate:.0f} samples/s", _sensor_use(fmt))
    stim2, stim4 = sm2.Decoder(), sm4.Decoder()
    inits = sum(1 for item in stim2.feed(data) if isinstance(item, sm2.Packet) and item.command == sm2.Cmd.INIT)
    stim4.feed(data)
    if stim2.frames_ok:
        return Heard(port, len(data), f"ScienceMode2 packets ({stim2.frames_ok}, {inits} Init): a RehaStim 2",
                     "run --stimulator-port with --device rehastim2")
    if stim4.frames_ok:
        return Heard(port, len(data), f"ScienceMode4 packets ({stim4.frames_ok}): a RehaMove3 or P24",
                     "run --stimulator-port with --device rehamove3 or p24")
    return Heard(port, len(data), f"{len(data)} bytes in no known format: a sensor at another baud rate (--baud), "
                                  "or another device")


def listen(port: str, seconds: float = LISTEN_S, baud: int = 115200) -> Heard:
    """Open `port` (exclusively, as `run` does), read for `seconds` without writing, close, classify."""
    try:
        handle = serial.serial_for_url(port, baudrate=baud, timeout=0, exclusive=True)  # a path or socket://
    except (serial.SerialException, OSError, ValueError) as exc:
        if getattr(exc, "errno", None) == errno.EAGAIN:
            return Heard(port, 0, "busy: another program holds it (a fescontrol session?); not disturbed")
        return Heard(port, 0, f"cannot open: {exc}")
    data = bytearray()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            chunk = handle.read(READ_BYTES if handle.in_waiting else 1)  # a socket's in_waiting is 0 or 1
            if chunk:
                data += chunk
            else:
                time.sleep(0.01)
    except (serial.SerialException, OSError) as exc:
        return Heard(port, len(data), f"read failed after {len(data)} bytes: {exc}")
    finally:
        handle.close()
    return classify(port, bytes(data), seconds)


def format_heard(heard: list[Heard], seconds: float, baud: int) -> str:
    """The listening results as lines: port, what it sends, and the `run` option for it."""
    lines = [f"listened {seconds:g} s on each port at {baud} bit/s (nothing was sent):"]
    width = max((len(h.port) for h in heard), default=0)
    for h in heard:
        lines.append(f"  {h.port.ljust(width)}  {h.what}" + (f"; {h.use}" if h.use else ""))
    return "\n".join(lines)
