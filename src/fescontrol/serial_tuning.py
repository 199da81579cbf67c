"""Best-effort low-latency serial: an FTDI adapter's latency timer down from 16 ms to 1 ms.

An FTDI chip holds received bytes until its latency timer runs out (16 ms by default) unless
its buffer fills, so every ack of a RehaStim 2 or RehaMove3 would arrive up to 16 ms late; the
vendor documents asking for 1 ms (stimulators.md A.1, B.1). On Linux the `ftdi_sio` driver
exposes the timer in sysfs (`/sys/bus/usb-serial/devices/ttyUSBn/latency_timer`) and sets it to
1 ms when the port's ASYNC_LOW_LATENCY flag is set (TIOCSSERIAL, which the owner of the open
port may do without root; pyserial's `set_low_latency_mode`). Writing sysfs needs root or a udev
rule, so it is the fallback.

Never raises: a pty, a CDC-ACM device (P24), another adapter, another platform or a missing
permission only change the text returned, which the caller logs in `session.jsonl`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import serial

log = logging.getLogger(__name__)

SYSFS = Path("/sys")
TARGET_MS = 1


def latency_timer_path(tty_name: str, sysfs_root: Path = SYSFS) -> Path:
    """Where a usb-serial driver with a latency timer (ftdi_sio) exposes it for this tty."""
    return sysfs_root / "bus" / "usb-serial" / "devices" / tty_name / "latency_timer"


def _read_ms(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _set_flag(port: serial.Serial) -> str:
    """ASYNC_LOW_LATENCY on the open port; '' when it worked, else why not."""
    try:
        port.set_low_latency_mode(True)
    except Exception as exc:  # pty (ENOTTY), other platform, closed port, URL: all mean 'not set'
        return str(exc) or type(exc).__name__
    return ""


def lower_latency_timer(tty_name: str, port: serial.Serial | None, sysfs_root: Path = SYSFS,
                        label: str | None = None) -> str:
    """Bring this tty's FTDI latency timer to 1 ms: the flag on the open port first, then sysfs."""
    who = label or tty_name
    path = latency_timer_path(tty_name, sysfs_root)
    before = _read_ms(path)
    if before is None:
        return f"not applicable: {who} has no FTDI latency timer (not an FTDI usb-serial port)"
    if before <= TARGET_MS:
        return f"FTDI latency timer of {who} already {before} ms"
    flag_error = _set_flag(port) if port is not None else "no open port"
    after = _read_ms(path)
    if after is not None and after <= TARGET_MS:
        return f"FTDI latency timer of {who}: {before} -> {after} ms (ASYNC_LOW_LATENCY)"
    try:
        path.write_text(f"{TARGET_MS}\n", encoding="ascii")
    except OSError as exc:
        return (f"FTDI latency timer of {who} stays {before} ms: low-latency flag: {flag_error or 'ignored'}; "
                f"writing {path}: {exc.strerror or exc} (a udev rule can set it)")
    after = _read_ms(path)
    return f"FTDI latency timer of {who}: {before} -> {after} ms (sysfs)"


def request_low_latency(port: serial.Serial, sysfs_root: Path = SYSFS) -> str:
    """Ask for 1 ms latency on an open port, best effort; returns (and logs) what happened."""
    try:
        text = _request(port, sysfs_root)
    except Exception as exc:  # tuning must never stop a session
        text = f"not changed: {type(exc).__name__}: {exc}"
    log.info("low-latency serial %s: %s", getattr(port, "port", "?"), text)
    return text


def _request(port: serial.Serial, sysfs_root: Path) -> str:
    if not sys.platform.startswith("linux"):
        return f"not applicable on {sys.platform} (set the FTDI latency timer in the driver's settings)"
    path = port.port
    if not isinstance(path, str) or "://" in path:
        return f"not applicable: {path!r} is not a local serial device"
    real = os.path.realpath(path)
    return lower_latency_timer(os.path.basename(real), port, sysfs_root, label=real)
