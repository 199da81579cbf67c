"""`fescontrol ports`: which serial port is which device, from its USB vendor and product ids.

A bench has several USB-serial adapters; the operator needs to know which `/dev/tty*` to pass
to `run --sensor-port` / `--stimulator-port`. Ports come from pyserial's `list_ports`; what a
port looks like comes only from the table `KNOWN_IDS` (ids published by the chip makers and
the device references in `../shared/reference/`), never from guessing at product strings. An id
that several devices share (every FTDI adapter, every STM32 CDC board) says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, Protocol

import serial.tools.list_ports


class PortInfo(Protocol):
    """What this module reads of pyserial's `ListPortInfo` (so tests can pass real ones built by hand)."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None
    product: str | None
    description: str


@dataclass(frozen=True)
class KnownId:
    chip: str
    looks_like: str
    devices: tuple[str, ...] = ()  # `run --device` names this id may be


FTDI_VID = 0x0403
_FTDI_STIM = ("rehastim2", "rehamove3")
_FTDI_TEXT = "RehaStim 2 or RehaMove3 (both have an FTDI inside), or any FTDI adapter"
_WIT_TEXT = "a WitMotion WT901 USB adapter, or any {} adapter"

# (vid, pid) -> what it is; (vid, None) matches any product of that vendor
KNOWN_IDS: dict[tuple[int, int | None], KnownId] = {
    (FTDI_VID, 0x6001): KnownId("FTDI FT232R", _FTDI_TEXT, _FTDI_STIM),
    (FTDI_VID, 0x6010): KnownId("FTDI FT2232", _FTDI_TEXT, _FTDI_STIM),
    (FTDI_VID, 0x6011): KnownId("FTDI FT4232H", _FTDI_TEXT, _FTDI_STIM),
    (FTDI_VID, 0x6014): KnownId("FTDI FT232H", _FTDI_TEXT, _FTDI_STIM),
    (FTDI_VID, 0x6015): KnownId("FTDI FT-X", _FTDI_TEXT, _FTDI_STIM),
    (FTDI_VID, None): KnownId("FTDI", _FTDI_TEXT, _FTDI_STIM),
    # the P24 keeps the STM32 default ids of a USB CDC virtual COM port (stimulators.md B.1)
    (0x0483, 0x5740): KnownId("STM32 USB CDC", "P24, or any STM32 virtual COM port", ("p24",)),
    (0x1A86, 0x7523): KnownId("WCH CH340", _WIT_TEXT.format("CH340")),
    (0x10C4, 0xEA60): KnownId("Silicon Labs CP210x", _WIT_TEXT.format("CP210x")),
}


@dataclass(frozen=True)
class PortRow:
    """One line of `fescontrol ports`; `vid_pid` is `"0403:6001"` or `""` when the port is not USB."""

    device: str
    vid_pid: str
    serial_number: str
    manufacturer: str
    product: str
    description: str
    chip: str
    looks_like: str
    devices: tuple[str, ...]


def lookup(vid: int | None, pid: int | None) -> KnownId | None:
    """The table entry for these ids: exact (vid, pid) first, then the vendor's catch-all."""
    if vid is None:
        return None
    return KNOWN_IDS.get((vid, pid)) or KNOWN_IDS.get((vid, None))


def describe(port: PortInfo) -> PortRow:
    """One port-info record as a row: pure, so it is tested without hardware."""
    known = lookup(port.vid, port.pid)
    usb = port.vid is not None
    return PortRow(
        device=port.device,
        vid_pid=f"{port.vid:04x}:{port.pid or 0:04x}" if usb else "",
        serial_number=port.serial_number or "",
        manufacturer=port.manufacturer or "",
        product=port.product or "",
        description="" if port.description in (None, "n/a") else port.description,
        chip=known.chip if known else "",
        looks_like=known.looks_like if known else "unknown",
        devices=known.devices if known else (),
    )


def describe_all(ports: Iterable[PortInfo]) -> list[PortRow]:
    """Rows sorted by device path (pyserial's order differs between platforms)."""
    return sorted((describe(p) for p in ports), key=lambda r: r.device)


def list_serial_ports() -> list[PortRow]:
    """The ports of this machine (pyserial lists real ports only: ptys of emulators are not shown)."""
    return describe_all(serial.tools.list_ports.comports())


_COLUMNS = (("device", "device"), ("vid_pid", "usb id"), ("chip", "chip"), ("serial_number", "serial"),
            ("manufacturer", "manufacturer"), ("product", "product"), ("looks_like", "looks like"))


def format_table(rows: list[PortRow]) -> str:
    """The rows as an aligned text table, or a sentence when there are none."""
    if not rows:
        return "no serial ports found"
    cells = [[title for _, title in _COLUMNS]]
    cells += [[getattr(row, key) or "-" for key, _ in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def to_json(rows: list[PortRow]) -> str:
    """The rows as a JSON list of objects, for scripts (`fescontrol ports --json`)."""
    return json.dumps([{**asdict(row), "devices": list(row.devices)} for row in rows], indent=2)
