"""ScienceMode3/4 mid-level (HASOMED RehaMove3 and P24) wire codec, sans-I/O.

Pure functions plus a byte-fed decoder: no serial port, no clock, stdlib only, so a safety
gate can decode every frame it forwards and a device emulator can share the exact format
with the host. Wire format, result codes and byte examples: shared/reference/stimulators.md
Part B (traps in Part C.2).

Frame: ``F0 | 81 LH^55 81 LL^55 | 81 CH^55 81 CL^55 | stuffed(P0, P1, data) | 0F`` where
``P0 P1`` is the big-endian word ``packet_number << 10 | command`` (6-bit packet number,
10-bit command). The length is the whole frame on the wire, start and stop bytes included;
the checksum is CRC-16/XMODEM (poly 0x1021, init 0 -- *not* CCITT-FALSE) over the stuffed
``P0 P1 data``. Every multi-byte field is big-endian although the RehaMove3 document says
little endian. Results are unsigned (``Smpt_Result`` 0..28). The escaping is the same as in
ScienceMode2, so :func:`stuff`, :func:`unstuff` and the frame scanner come from :mod:`.framing`.

Scope: the general commands and the mid level. Low-level command ids are known (for logs and
framing tests) but their payloads are not parsed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Sequence, Union

from fescontrol.errors import ProtocolError
from fescontrol.protocol.firmware import Firmware
from fescontrol.protocol.framing import ESC, KEY, START, STOP, FrameDecoder, decode_exactly_one, stuff, unstuff, unstuff_lenient
from fescontrol.protocol.framing import SPECIAL_BYTES as SPECIAL_BYTES  # re-exported: same escaping as ScienceMode2
from fescontrol.protocol.sciencemode2 import MAIN_TIME_CODE_MAX

HEADER_LEN = 9
"""Start byte plus the escaped length (2 x 2 bytes) and checksum (2 x 2 bytes)."""

MIN_FRAME_LEN = HEADER_LEN + 2 + 1
"""12: a command without data (header, P0, P1, stop byte)."""

MAX_FRAME_LEN = 1200
"""Largest frame on the wire, stuffing included (S9 section 2.2, S12 Smpt_Length_Max_Packet_Size)."""

MAX_PACKET_NUMBER = 63
MAX_COMMAND = 1023

WATCHDOG_TIMEOUT_S = 2.0
"""Mid-level keep-alive: without ``Ml_get_current_data`` or ``Ml_update`` for 2 s the device
pauses stimulation while the host may still believe it runs (B.5, trap C-13)."""

KEEPALIVE_INTERVAL_S = 1.0
"""Recommended keep-alive period, half the timeout (the reference drop-foot session; S14).
Poll faster when electrode-error feedback is wanted within one gait phase."""

MAX_CHANNELS = 8
"""P24 channels 0..7 (yellow cable 0-3, green cable 4-7: inferred, UNVERIFIED on the wire)."""

REHAMOVE3_CHANNELS = 4
"""RehaMove3 channels 0..3 = red, blue, black, white."""

MAX_POINTS = 16
MAX_RAMP = 15
MAX_POINT_TIME_US = 4095
MAX_CURRENT_MA = 130.0
"""Device limit (S9 section 1.2, S12 validity); the coding itself reaches +-150 mA."""

CODING_CURRENT_MA = 150.0
MAX_PERIOD_MS = 16383.0
"""Host-side limit of S12 (0 < period <= 16383 ms)."""

PULSE_OVERHEAD_US = 60
"""Per-pulse overhead in the S12 duty check: sum((sum(point times) + 60 us) / period_ms) < 1000."""

DEVICE_ID_LEN = 10


class Cmd(IntEnum):
    """Command ids (S9, S11, S12). Ml_get_current_data is 36/37 (S11's 037/038 is a typo)."""

    LL_INIT = 0
    LL_INIT_ACK = 1
    LL_CHANNEL_CONFIG = 2
    LL_CHANNEL_CONFIG_ACK = 3
    LL_STOP = 4
    LL_STOP_ACK = 5
    ML_INIT = 30
    ML_INIT_ACK = 31
    ML_UPDATE = 32
    ML_UPDATE_ACK = 33
    ML_STOP = 34
    ML_STOP_ACK = 35
    ML_GET_CURRENT_DATA = 36
    ML_GET_CURRENT_DATA_ACK = 37
    GET_VERSION_MAIN = 50
    GET_VERSION_MAIN_ACK = 51
    GET_DEVICE_ID = 52
    GET_DEVICE_ID_ACK = 53
    GET_BATTERY_STATUS = 54
    GET_BATTERY_STATUS_ACK = 55
    RESET = 58
    RESET_ACK = 59
    GET_VERSION_STIM = 60
    GET_VERSION_STIM_ACK = 61
    GET_STIM_STATUS = 62
    GET_STIM_STATUS_ACK = 63
    GET_MAIN_STATUS = 64
    GET_MAIN_STATUS_ACK = 65
    GENERAL_ERROR = 66
    UNKNOWN_CMD = 67
    GET_EXTENDED_VERSION = 68
    GET_EXTENDED_VERSION_ACK = 69


class Result(IntEnum):
    """``Smpt_Result``: the unsigned first data byte of every ack (B.4)."""

    SUCCESSFUL = 0
    TRANSFER_ERROR = 1
    PARAMETER_ERROR = 2
    PROTOCOL_ERROR = 3
    UC_STIM_TIMEOUT_ERROR = 4
    EMG_TIMEOUT_ERROR = 5
    EMG_REGISTER_ERROR = 6
    NOT_INITIALIZED_ERROR = 7
    HV_ERROR = 8
    DEMUX_TIMEOUT_ERROR = 9
    ELECTRODE_ERROR = 10
    INVALID_CMD_ERROR = 11
    DEMUX_PARAMETER_ERROR = 12
    DEMUX_NOT_INITIALIZED_ERROR = 13
    DEMUX_TRANSFER_ERROR = 14
    DEMUX_UNKNOWN_ACK_ERROR = 15
    PULSE_TIMEOUT_ERROR = 16
    FUEL_GAUGE_ERROR = 17
    LIVE_SIGNAL_ERROR = 18
    FILE_TRANSMISSION_TIMEOUT = 19
    FILE_NOT_FOUND = 20
    BUSY = 21
    FILE_ERROR = 22
    FLASH_ERASE_ERROR = 23
    FLASH_WRITE_ERROR = 24
    UNKNOWN_CONTROLLER_ERROR = 25
    FIRMWARE_TOO_LARGE_ERROR = 26
    FUEL_GAUGE_NOT_PROGRAMMED = 27
    PULSE_LOW_CURRENT_ERROR = 28


class StimStatus(IntEnum):
    """First field of ``Get_stim_status_ack``."""

    NONE = 0
    LOW_LEVEL_INITIALIZED = 1
    MID_LEVEL_INITIALIZED = 2
    MID_LEVEL_RUNNING = 3


class HighVoltage(IntEnum):
    """High-voltage level in ``Get_stim_status_ack`` (S11 lists only OFF and 150 V)."""

    OFF = 1
    V30 = 2
    V60 = 3
    V90 = 4
    V120 = 5
    V150 = 6


class DataSelection(IntEnum):
    """``Ml_get_current_data`` selection; choose per device (trap C-14)."""

    STIMULATION = 2
    """RehaMove3 (S9): 1 status byte, channels 0-3."""
    STIMULATION_EIGHT_CHANNELS = 3
    """S12 only: 2 status bytes, channels 0-7."""
    CHANNELS = 4
    """P24 (S11): active mask + 4 bytes of per-channel state."""


REHAMOVE3_SELECTION = DataSelection.STIMULATION
P24_SELECTION = DataSelection.CHANNELS
"""Whether RehaMove3 firmware answers selection 3/4 is UNVERIFIED (trap C-14)."""

STATUS_LEN: dict[int, int] = {DataSelection.STIMULATION: 1, DataSelection.STIMULATION_EIGHT_CHANNELS: 2,
                              DataSelection.CHANNELS: 5}
"""Bytes after ``result, selection`` in ``Ml_get_current_data_ack``; other selections carry none (S12)."""


class ChannelState(IntEnum):
    """Per-channel state of ``Ml_get_current_data_ack`` (selection 4; selections 2/3 know 0 and 1)."""

    OK = 0
    ELECTRODE_ERROR = 1
    PULSE_TIMEOUT_ERROR = 2
    PULSE_LOW_CURRENT_ERROR = 3


class HashType(IntEnum):
    """Kind of firmware hash in ``Get_extended_version_ack``."""

    GIT = 1
    ELF_MD5 = 2
    ELF_SHA256 = 3


ACK_OF: dict[Cmd, Cmd] = {
    Cmd.LL_INIT: Cmd.LL_INIT_ACK,
    Cmd.LL_CHANNEL_CONFIG: Cmd.LL_CHANNEL_CONFIG_ACK,
    Cmd.LL_STOP: Cmd.LL_STOP_ACK,
    Cmd.ML_INIT: Cmd.ML_INIT_ACK,
    Cmd.ML_UPDATE: Cmd.ML_UPDATE_ACK,
    Cmd.ML_STOP: Cmd.ML_STOP_ACK,
    Cmd.ML_GET_CURRENT_DATA: Cmd.ML_GET_CURRENT_DATA_ACK,
    Cmd.GET_VERSION_MAIN: Cmd.GET_VERSION_MAIN_ACK,
    Cmd.GET_DEVICE_ID: Cmd.GET_DEVICE_ID_ACK,
    Cmd.GET_BATTERY_STATUS: Cmd.GET_BATTERY_STATUS_ACK,
    Cmd.RESET: Cmd.RESET_ACK,
    Cmd.GET_VERSION_STIM: Cmd.GET_VERSION_STIM_ACK,
    Cmd.GET_STIM_STATUS: Cmd.GET_STIM_STATUS_ACK,
    Cmd.GET_MAIN_STATUS: Cmd.GET_MAIN_STATUS_ACK,
    Cmd.GET_EXTENDED_VERSION: Cmd.GET_EXTENDED_VERSION_ACK,
}
"""Request -> its ack (always request + 1). Match acks by (ack id, packet number), not by order."""

ACK_MAY_NOT_COME = frozenset({Cmd.RESET})
"""RehaMove3 does not send ``Reset_ack`` (S9); a reset takes about 10-15 s (S15)."""

UNSOLICITED = frozenset({Cmd.GENERAL_ERROR, Cmd.UNKNOWN_CMD})
"""Device packets that answer no particular request (B.5)."""

LOW_LEVEL = frozenset({Cmd.LL_INIT, Cmd.LL_INIT_ACK, Cmd.LL_CHANNEL_CONFIG, Cmd.LL_CHANNEL_CONFIG_ACK,
                       Cmd.LL_STOP, Cmd.LL_STOP_ACK})
"""Framed like every command, payloads not parsed by this mid-level codec."""

_RESULT_VALUES = frozenset(int(r) for r in Result)


# --------------------------------------------------------------------------- checks


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    """Reject anything that would not survive the trip to the wire unchanged."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError(f"{name} = {value!r} is outside {lo}..{hi}")
    return int(value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(f"{name} = {value!r} is not a bool")
    return value


def _check_number(name: str, value: object, lo: float, hi: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise ProtocolError(f"{name} = {value!r} {unit} is outside {lo:g}..{hi:g} {unit}")
    return float(value)


def _on_grid(name: str, value: float, steps_per_unit: int, unit: str) -> int:
    """Exact code of a value on the device grid; off-grid values are refused, never rounded (trap C-18)."""
    scaled = value * steps_per_unit
    code = round(scaled)
    if abs(scaled - code) > 1e-9:
        raise ProtocolError(f"{name} = {value!r} {unit} is not on the {1 / steps_per_unit:g} {unit} grid")
    return code


# --------------------------------------------------------------------------- CRC


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0, no reflection): check value 0x31C3 (trap C-9).

    The vendor documents call it "CRC-CCITT", but init 0xFFFF gives other values; it runs over
    the *stuffed* prefix and data.
    """
    crc = 0
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


# --------------------------------------------------------------------------- packets and frames


@dataclass(frozen=True)
class Packet:
    """One unstuffed packet: 6-bit packet number, 10-bit command id, command data."""

    packet_number: int
    command: int
    data: bytes


def _escaped16(value: int) -> bytes:
    """A 16-bit header field: big-endian, each byte always sent as ``81, b^55``."""
    return bytes((ESC, (value >> 8) ^ KEY, ESC, (value & 0xFF) ^ KEY))


def encode(packet: Packet) -> bytes:
    """Build the full wire frame of ``packet``."""
    pn = _check_int("packet_number", packet.packet_number, 0, MAX_PACKET_NUMBER)
    cmd = _check_int("command", packet.command, 0, MAX_COMMAND)
    prefix = (pn << 10 | cmd).to_bytes(2, "big")
    body = stuff(prefix + bytes(packet.data))
    length = HEADER_LEN + len(body) + 1
    if length > MAX_FRAME_LEN:
        raise ProtocolError(f"frame of command {cmd} would be {length} bytes with stuffing, "
                            f"at most {MAX_FRAME_LEN} allowed")
    return bytes((START,)) + _escaped16(length) + _escaped16(crc16(body)) + body + bytes((STOP,))


def encode_packet(packet_number: int, command: int, data: bytes = b"") -> bytes:
    """Shorthand for ``encode(Packet(...))``."""
    return encode(Packet(packet_number, command, bytes(data)))


def next_packet_number(packet_number: int) -> int:
    """The host's counter: 0, 1, ..., 63, 0, ... (S12); the device echoes it in the ack."""
    return (_check_int("packet_number", packet_number, 0, MAX_PACKET_NUMBER) + 1) % (MAX_PACKET_NUMBER + 1)


@dataclass(frozen=True)
class BadFrame:
    """A start..stop span that is not a valid frame.

    ``packet_number`` and ``command`` are recovered from the body when the header was well
    formed and the frame failed on length or checksum, so a device model can answer with a
    transfer error; truncated, headerless or over-long spans carry ``None``.
    """

    reason: str
    raw: bytes
    packet_number: int | None
    command: int | None


def _check_frame(raw: bytes) -> Packet | BadFrame:
    """Validate one span from F0 to 0F (receiver steps 3-7 of B.2)."""
    if len(raw) < HEADER_LEN + 1:
        return BadFrame(f"frame of {len(raw)} bytes is shorter than a header", raw, None, None)
    for where in (1, 3, 5, 7):
        if raw[where] != ESC:
            return BadFrame(f"byte {where} is 0x{raw[where]:02X}, expected escape 0x81", raw, None, None)
    body = raw[HEADER_LEN:-1]
    recovered = unstuff_lenient(body)
    pn = recovered[0] >> 2 if len(recovered) >= 1 else None
    cmd = ((recovered[0] & 0x03) << 8 | recovered[1]) if len(recovered) >= 2 else None
    length = (raw[2] ^ KEY) << 8 | (raw[4] ^ KEY)
    if length != len(raw):
        return BadFrame(f"length field says {length} bytes, frame has {len(raw)}", raw, pn, cmd)
    crc = (raw[6] ^ KEY) << 8 | (raw[8] ^ KEY)
    actual = crc16(body)
    if crc != actual:
        return BadFrame(f"checksum field 0x{crc:04X}, computed 0x{actual:04X}", raw, pn, cmd)
    try:
        plain = unstuff(body)
    except ProtocolError as exc:
        return BadFrame(str(exc), raw, pn, cmd)
    if len(plain) < 2:
        return BadFrame(f"body has {len(plain)} bytes, needs the 2-byte packet number and command", raw, pn, cmd)
    word = plain[0] << 8 | plain[1]
    return Packet(word >> 10, word & MAX_COMMAND, plain[2:])


class Decoder(FrameDecoder[Packet, BadFrame]):
    """Incremental frame decoder: feed bytes in any split, get packets and bad frames back.

    Follows the receiver procedure of B.2: hunt ``F0`` followed by ``81`` (any other byte
    after ``F0`` is discarded as noise); take the first ``0F`` that is not the byte after an
    ``81`` (an escaped length or checksum may be a raw ``0F``/``F0``/``81``, B-13); restart at
    a raw ``F0`` seen before the stop byte; check ``81`` at offsets 1, 3, 5 and 7, the length
    against the span and the CRC. As in the ScienceMode2 decoder, a failed span whose hidden
    ``F0`` (behind an ``81``) starts a valid frame yields a truncated head plus that frame.
    The scan resumes where it stopped, so byte-wise feeding stays linear; the buffer never
    holds more than one partial frame of at most ``MAX_FRAME_LEN`` bytes. The scanning is
    :class:`~fescontrol.protocol.framing.FrameDecoder`'s; this class adds the header check.

    Counters: ``frames_ok`` valid frames; ``frames_bad`` bad frames returned (their bytes
    are in ``BadFrame.raw``); ``bytes_discarded`` bytes outside any start..stop span.
    """

    max_frame_len = MAX_FRAME_LEN
    start_needs_escape = True
    _packet_type = Packet

    _check_frame = staticmethod(_check_frame)

    def _bad_span(self, reason: str, raw: bytes) -> BadFrame:
        return BadFrame(reason, raw, None, None)


def decode_frame(frame: bytes) -> Packet:
    """Decode exactly one complete frame (e.g. a frame a gate is about to forward)."""
    return decode_exactly_one(Decoder(), frame, "ScienceMode4")


# --------------------------------------------------------------------------- mid-level coding


@dataclass(frozen=True)
class Point:
    """One point of a pulse shape: hold ``current_ma`` for ``time_us``.

    A biphasic pulse is normally three points: +I for t, 0 for the interphase, -I for t.
    """

    time_us: int
    current_ma: float


@dataclass(frozen=True)
class MlChannel:
    """Settings of one enabled channel in ``Ml_update``.

    ``channel`` is the 0-based index (RehaMove3 0-3 = red, blue, black, white; P24 0-7).
    ``period_ms`` is the pulse repetition period (1/frequency) on the 0.5 ms grid.
    ``fine_period`` sets the flag bit of the period word (0.25 ms grid, S11/S12 only; S9 calls
    the bit reserved): leave it False unless the firmware is known to support it (trap C-17).
    ``ramp`` is the number of pulses with rising current when the channel becomes enabled.
    """

    channel: int
    period_ms: float
    points: tuple[Point, ...]
    ramp: int = 0
    fine_period: bool = False

    @property
    def frequency_hz(self) -> float:
        return 1000.0 / self.period_ms if self.period_ms > 0 else 0.0


def current_code(current_ma: float, *, name: str = "current_ma") -> int:
    """Point current code ``2*I + 300`` within the device limit of +-130 mA.

    Only the 0.5 mA grid is accepted: S12 truncates and S13 rounds, so off-grid values would
    mean different pulses on different hosts (trap C-18).
    """
    value = _check_number(name, current_ma, -MAX_CURRENT_MA, MAX_CURRENT_MA, "mA")
    return _on_grid(name, value, 2, "mA") + 300


def current_ma_of_code(code: int) -> float:
    """Inverse of :func:`current_code` over the coding range 0..600 (-150..+150 mA)."""
    return (_check_int("current code", code, 0, 600) - 300) / 2


def point_bytes(point: Point, *, name: str = "point") -> bytes:
    """4 bytes, big-endian word ``time << 20 | code << 10``; the low 10 bits stay 0."""
    time_us = _check_int(f"{name}.time_us", point.time_us, 0, MAX_POINT_TIME_US)
    code = current_code(point.current_ma, name=f"{name}.current_ma")
    return (time_us << 20 | code << 10).to_bytes(4, "big")


def period_word(period_ms: float, fine: bool = False, *, name: str = "period_ms") -> int:
    """16-bit period word ``code << 1 | flag``: code = 2*ms (flag 0) or 4*ms (flag 1).

    25 ms (40 Hz) -> ``00 64``. Flag 1 is S11/S12 only; send flag 0 unless verified (trap C-17).
    """
    hi = MAX_PERIOD_MS if not fine else 0x7FFF / 4
    value = _check_number(name, period_ms, 0.25 if fine else 0.5, hi, "ms")
    code = _on_grid(name, value, 4 if fine else 2, "ms")
    return code << 1 | int(fine)


def period_ms_of_word(word: int) -> tuple[float, bool]:
    """Period in ms and the fine flag of a period word."""
    word = _check_int("period word", word, 0, 0xFFFF)
    fine = bool(word & 1)
    return (word >> 1) / (4 if fine else 2), fine


def _channel_bytes(index: int, ch: MlChannel, channel_count: int) -> bytes:
    name = f"channels[{index}]"
    if not isinstance(ch, MlChannel):
        raise ProtocolError(f"{name} = {ch!r} is not an MlChannel")
    _check_int(f"{name}.channel", ch.channel, 0, channel_count - 1)
    ramp = _check_int(f"{name}.ramp", ch.ramp, 0, MAX_RAMP)
    fine = _check_bool(f"{name}.fine_period", ch.fine_period)
    word = period_word(ch.period_ms, fine, name=f"{name}.period_ms")
    points = tuple(ch.points)
    _check_int(f"{name}.number of points", len(points), 1, MAX_POINTS)
    body = b"".join(point_bytes(p, name=f"{name}.points[{k}]") for k, p in enumerate(points))
    return bytes(((len(points) - 1) << 4 | ramp,)) + word.to_bytes(2, "big") + body


def pulse_load(channels: Sequence[MlChannel]) -> float:
    """S12's duty check: sum over channels of (sum of point times + 60 us) / period_ms; must stay < 1000."""
    return sum((sum(p.time_us for p in ch.points) + PULSE_OVERHEAD_US) / ch.period_ms for ch in channels)


# --------------------------------------------------------------------------- host builders


def get_version_main(pn: int) -> bytes:
    """Firmware and protocol version of the main controller (RehaMove3; not listed for P24)."""
    return encode_packet(pn, Cmd.GET_VERSION_MAIN)


def get_version_stim(pn: int) -> bytes:
    """Version of the stimulation controller (S12 only; used on RehaMove3 by S15)."""
    return encode_packet(pn, Cmd.GET_VERSION_STIM)


def get_extended_version(pn: int) -> bytes:
    """Versions plus firmware hash (P24)."""
    return encode_packet(pn, Cmd.GET_EXTENDED_VERSION)


def get_device_id(pn: int) -> bytes:
    """10-character device id, for the session log."""
    return encode_packet(pn, Cmd.GET_DEVICE_ID)


def get_battery_status(pn: int) -> bytes:
    """Battery level and voltage (RehaMove3 only: the P24 has no battery)."""
    return encode_packet(pn, Cmd.GET_BATTERY_STATUS)


def get_stim_status(pn: int) -> bytes:
    """Which level is initialised or running; check it before ``Ml_init`` (a level may be left over)."""
    return encode_packet(pn, Cmd.GET_STIM_STATUS)


def get_main_status(pn: int) -> bytes:
    """Main controller status (S12 only)."""
    return encode_packet(pn, Cmd.GET_MAIN_STATUS)


def reset(pn: int) -> bytes:
    """Reset the device; RehaMove3 sends no ack (``ACK_MAY_NOT_COME``) and needs 10-15 s."""
    return encode_packet(pn, Cmd.RESET)


def ml_init(pn: int, stop_all_channels_on_error: bool = False) -> bytes:
    """Initialise the mid level and switch the high voltage on.

    Bit 0 stops every channel on an error on one (S11, S12); S9 calls the byte reserved, so
    keep False on RehaMove3 unless verified.
    """
    flag = _check_bool("stop_all_channels_on_error", stop_all_channels_on_error)
    return encode_packet(pn, Cmd.ML_INIT, bytes((int(flag),)))


def ml_update(pn: int, channels: Sequence[MlChannel], *, channel_count: int = MAX_CHANNELS) -> bytes:
    """Start or update stimulation: enable mask, then one block per enabled channel, ascending.

    Blocks are sorted by channel here, since disabled or out-of-order blocks were a real host
    bug (trap C-12). An empty update (mask 0) is refused: whether the device takes it as a
    pause is UNVERIFIED; send zero currents or ``Ml_stop`` instead. Use ``channel_count=4``
    for a RehaMove3.
    """
    count = _check_int("channel_count", channel_count, 1, MAX_CHANNELS)
    _check_int("number of channels", len(channels), 1, count)
    blocks = [_channel_bytes(i, ch, count) for i, ch in enumerate(channels)]
    order = sorted(range(len(channels)), key=lambda i: channels[i].channel)
    mask = 0
    for i in order:
        bit = 1 << channels[i].channel
        if mask & bit:
            raise ProtocolError(f"channels[{i}].channel = {channels[i].channel} appears twice")
        mask |= bit
    load = pulse_load(channels)
    if not load < 1000:
        raise ProtocolError(f"channels: pulse load = {load:g} (sum of (pulse time + 60 us) / period_ms) "
                            f"is outside 0..<1000: total pulse time per second must stay below 1 s")
    return encode_packet(pn, Cmd.ML_UPDATE, bytes((mask,)) + b"".join(blocks[i] for i in order))


def ml_stop(pn: int) -> bytes:
    """Stop stimulation and switch the high voltage off (a new ``Ml_init`` is needed afterwards)."""
    return encode_packet(pn, Cmd.ML_STOP)


def ml_get_current_data(pn: int, selection: int) -> bytes:
    """Keep-alive and electrode status; selection 2 for RehaMove3, 4 for P24 (trap C-14)."""
    sel = _check_int("selection", selection, min(STATUS_LEN), max(STATUS_LEN))
    return encode_packet(pn, Cmd.ML_GET_CURRENT_DATA, bytes((sel,)))


# --------------------------------------------------------------------------- device builders


def _result_byte(result: int) -> bytes:
    return bytes((_check_int("result", result, 0, 255),))


def ack(pn: int, ack_command: int, result: int) -> bytes:
    """A result-only ack (Ml_init/update/stop, Reset) or ``General_error``."""
    allowed = {Cmd.ML_INIT_ACK, Cmd.ML_UPDATE_ACK, Cmd.ML_STOP_ACK, Cmd.RESET_ACK, Cmd.GENERAL_ERROR}
    if ack_command not in allowed:
        raise ProtocolError(f"ack_command = {ack_command!r} is not a result-only ack; "
                            f"allowed {sorted(int(c) for c in allowed)}")
    return encode_packet(pn, ack_command, _result_byte(result))


def unknown_cmd(pn: int) -> bytes:
    """Answer to a command id the device does not know: result 11 (Invalid_Cmd_Error)."""
    return encode_packet(pn, Cmd.UNKNOWN_CMD, bytes((Result.INVALID_CMD_ERROR,)))


def _version(name: str, version: Sequence[int]) -> bytes:
    _check_int(f"{name} length", len(version), 3, 3)
    return bytes(_check_int(f"{name}[{i}]", v, 0, 255) for i, v in enumerate(version))


def version_ack(pn: int, result: int, firmware: Sequence[int], smpt: Sequence[int], *,
                ack_command: int = Cmd.GET_VERSION_MAIN_ACK) -> bytes:
    """``Get_version_main_ack`` or ``Get_version_stim_ack``: (major, minor, revision) twice."""
    if ack_command not in (Cmd.GET_VERSION_MAIN_ACK, Cmd.GET_VERSION_STIM_ACK):
        raise ProtocolError(f"ack_command = {ack_command!r} is not a version ack (51 or 61)")
    return encode_packet(pn, ack_command, _result_byte(result) + _version("firmware", firmware)
                         + _version("smpt", smpt))


def device_id_ack(pn: int, result: int, device_id: str) -> bytes:
    """10 ASCII characters."""
    if not isinstance(device_id, str) or not device_id.isascii() or len(device_id) != DEVICE_ID_LEN:
        raise ProtocolError(f"device_id = {device_id!r} is not {DEVICE_ID_LEN} ASCII characters")
    return encode_packet(pn, Cmd.GET_DEVICE_ID_ACK, _result_byte(result) + device_id.encode("ascii"))


def battery_status_ack(pn: int, result: int, level_percent: int, voltage_mv: int) -> bytes:
    """Level 0-100 % and voltage in mV (uint16 big-endian)."""
    data = _result_byte(result) + bytes((_check_int("level_percent", level_percent, 0, 100),)) \
        + _check_int("voltage_mv", voltage_mv, 0, 0xFFFF).to_bytes(2, "big")
    return encode_packet(pn, Cmd.GET_BATTERY_STATUS_ACK, data)


def stim_status_ack(pn: int, result: int, stim_status: int, high_voltage: int) -> bytes:
    """Stim status 0-3 (:class:`StimStatus`) and high-voltage level 1-6 (:class:`HighVoltage`)."""
    data = _result_byte(result) + bytes((_check_int("stim_status", stim_status, 0, 3),
                                         _check_int("high_voltage", high_voltage, 1, 6)))
    return encode_packet(pn, Cmd.GET_STIM_STATUS_ACK, data)


def main_status_ack(pn: int, result: int, main_status: int) -> bytes:
    """One status byte (S12 only; its values are not documented)."""
    return encode_packet(pn, Cmd.GET_MAIN_STATUS_ACK,
                         _result_byte(result) + bytes((_check_int("main_status", main_status, 0, 255),)))


def extended_version_ack(pn: int, result: int, firmware: Sequence[int], smpt: Sequence[int],
                         firmware_hash: int, hash_type: int, hash_valid: bool) -> bytes:
    """Versions, 32-bit firmware hash (big-endian), hash type 1-3, hash valid flag."""
    data = _result_byte(result) + _version("firmware", firmware) + _version("smpt", smpt) \
        + _check_int("firmware_hash", firmware_hash, 0, 0xFFFFFFFF).to_bytes(4, "big") \
        + bytes((_check_int("hash_type", hash_type, 1, 3),
                 int(_check_bool("hash_valid", hash_valid))))
    return encode_packet(pn, Cmd.GET_EXTENDED_VERSION_ACK, data)


def stimulation_status(running: bool, electrode_errors: int, *, eight_channels: bool = False) -> bytes:
    """Status bytes of selection 2 (1 byte, channels 0-3) or 3 (2 bytes, channels 0-7).

    Each byte: bit 4 = stimulation running, bits 3-0 = electrode error of 4 channels.
    """
    flag = _check_bool("running", running) << 4
    mask = _check_int("electrode_errors", electrode_errors, 0, 0xFF if eight_channels else 0x0F)
    if eight_channels:
        return bytes((flag | mask & 0x0F, flag | mask >> 4))
    return bytes((flag | mask,))


def channel_status(active_channels: int, states: Sequence[int]) -> bytes:
    """Status bytes of selection 4: active mask, then 8 channel states packed low nibble first."""
    active = _check_int("active_channels", active_channels, 0, 0xFF)
    _check_int("number of states", len(states), MAX_CHANNELS, MAX_CHANNELS)
    nib = [_check_int(f"states[{i}]", s, 0, 3) for i, s in enumerate(states)]
    return bytes((active,)) + bytes(nib[k] | nib[k + 1] << 4 for k in range(0, MAX_CHANNELS, 2))


def ml_get_current_data_ack(pn: int, result: int, selection: int, status: bytes) -> bytes:
    """``result, selection, status``; build ``status`` with :func:`stimulation_status` or :func:`channel_status`."""
    sel = _check_int("selection", selection, 0, 255)
    expected = STATUS_LEN.get(sel, 0)
    if len(status) != expected:
        raise ProtocolError(f"status has {len(status)} bytes, selection {sel} needs {expected}")
    return encode_packet(pn, Cmd.ML_GET_CURRENT_DATA_ACK, _result_byte(result) + bytes((sel,)) + bytes(status))


# --------------------------------------------------------------------------- typed messages


@dataclass(frozen=True)
class Request:
    """A general request without data (version, device id, battery, status, reset)."""

    packet_number: int
    command: Cmd


@dataclass(frozen=True)
class MlInit:
    packet_number: int
    stop_all_channels_on_error: bool


@dataclass(frozen=True)
class MlUpdate:
    """Enabled channels in ascending order; the enable mask follows from them."""

    packet_number: int
    channels: tuple[MlChannel, ...]

    @property
    def enable_mask(self) -> int:
        mask = 0
        for ch in self.channels:
            mask |= 1 << ch.channel
        return mask


@dataclass(frozen=True)
class MlStop:
    packet_number: int


@dataclass(frozen=True)
class MlGetCurrentData:
    packet_number: int
    selection: int


@dataclass(frozen=True)
class Ack:
    """A result-only device packet: Ml/Reset/low-level acks, ``General_error``, ``Unknown_cmd``,
    and any data ack that carries only a failing result (layout on failure is UNVERIFIED)."""

    packet_number: int
    command: Cmd
    result: int


@dataclass(frozen=True)
class VersionAck:
    packet_number: int
    command: Cmd
    result: int
    firmware: tuple[int, int, int]
    smpt: tuple[int, int, int]


@dataclass(frozen=True)
class DeviceIdAck:
    packet_number: int
    result: int
    device_id: str


@dataclass(frozen=True)
class BatteryStatusAck:
    packet_number: int
    result: int
    level_percent: int
    voltage_mv: int


@dataclass(frozen=True)
class StimStatusAck:
    packet_number: int
    result: int
    stim_status: int
    high_voltage: int


@dataclass(frozen=True)
class MainStatusAck:
    packet_number: int
    result: int
    main_status: int


@dataclass(frozen=True)
class ExtendedVersionAck:
    packet_number: int
    result: int
    firmware: tuple[int, int, int]
    smpt: tuple[int, int, int]
    firmware_hash: int
    hash_type: int
    hash_valid: bool


@dataclass(frozen=True)
class CurrentDataAck:
    """``Ml_get_current_data_ack``; ``status`` is kept as sent, the properties interpret it."""

    packet_number: int
    result: int
    selection: int
    status: bytes

    @property
    def stimulating(self) -> bool | None:
        """Selections 2/3: the running bit; selection 4: any channel active; else None."""
        if self.selection in (DataSelection.STIMULATION, DataSelection.STIMULATION_EIGHT_CHANNELS):
            return any(b & 0x10 for b in self.status)
        if self.selection == DataSelection.CHANNELS:
            return self.status[0] != 0
        return None

    @property
    def active_channels(self) -> int | None:
        """Selection 4 only: bit i = channel i currently stimulating."""
        return self.status[0] if self.selection == DataSelection.CHANNELS else None

    @property
    def channel_states(self) -> tuple[ChannelState, ...]:
        """One state per reported channel (4 for selection 2, 8 for 3 and 4)."""
        if self.selection == DataSelection.CHANNELS:
            return tuple(ChannelState(b >> shift & 0x0F) for b in self.status[1:] for shift in (0, 4))
        return tuple(ChannelState.ELECTRODE_ERROR if b >> i & 1 else ChannelState.OK
                     for b in self.status for i in range(4))

    @property
    def electrode_errors(self) -> int:
        """Bit i = electrode error on channel i."""
        mask = 0
        for i, state in enumerate(self.channel_states):
            if state is ChannelState.ELECTRODE_ERROR:
                mask |= 1 << i
        return mask


Message = Union[Request, MlInit, MlUpdate, MlStop, MlGetCurrentData, Ack, VersionAck, DeviceIdAck,
                BatteryStatusAck, StimStatusAck, MainStatusAck, ExtendedVersionAck, CurrentDataAck]

_REQUESTS = frozenset({Cmd.GET_VERSION_MAIN, Cmd.GET_VERSION_STIM, Cmd.GET_DEVICE_ID, Cmd.GET_BATTERY_STATUS,
                       Cmd.GET_STIM_STATUS, Cmd.GET_MAIN_STATUS, Cmd.GET_EXTENDED_VERSION, Cmd.RESET})
_RESULT_ONLY = frozenset({Cmd.ML_INIT_ACK, Cmd.ML_UPDATE_ACK, Cmd.ML_STOP_ACK, Cmd.RESET_ACK,
                          Cmd.GENERAL_ERROR, Cmd.UNKNOWN_CMD})
_DATA_ACK_LEN = {
    Cmd.GET_VERSION_MAIN_ACK: 7, Cmd.GET_VERSION_STIM_ACK: 7, Cmd.GET_DEVICE_ID_ACK: 1 + DEVICE_ID_LEN,
    Cmd.GET_BATTERY_STATUS_ACK: 4, Cmd.GET_STIM_STATUS_ACK: 3, Cmd.GET_MAIN_STATUS_ACK: 2,
    Cmd.GET_EXTENDED_VERSION_ACK: 13,
}
"""Data bytes (result included) of the acks with a payload, as S12 always builds them."""


def _need(name: str, data: bytes, expected: int) -> bytes:
    if len(data) != expected:
        raise ProtocolError(f"{name} needs {expected} data bytes, got {len(data)}")
    return data


def parse(packet: Packet) -> Message:
    """Turn a packet into its typed message; checks lengths and structure, not device limits.

    A data ack whose result is not 0 may carry the result byte alone (the layout on failure is
    UNVERIFIED; S12 always sends the full layout): it is returned as a plain :class:`Ack`.
    """
    pn, cmd, data = packet.packet_number, packet.command, bytes(packet.data)
    try:
        command = Cmd(cmd)
    except ValueError:
        raise ProtocolError(f"unknown ScienceMode4 command {cmd}") from None
    name = command.name
    if command in LOW_LEVEL:
        raise ProtocolError(f"{name} is a low-level command; this codec parses the mid level only")
    if command in _REQUESTS:
        _need(name, data, 0)
        return Request(pn, command)
    if command is Cmd.ML_INIT:
        flags = _need(name, data, 1)[0]
        if flags & 0xFE:
            raise ProtocolError(f"{name} flags = 0x{flags:02X}: bits 1-7 are reserved and must be 0")
        return MlInit(pn, bool(flags & 1))
    if command is Cmd.ML_UPDATE:
        return MlUpdate(pn, _parse_update(data))
    if command is Cmd.ML_STOP:
        _need(name, data, 0)
        return MlStop(pn)
    if command is Cmd.ML_GET_CURRENT_DATA:
        return MlGetCurrentData(pn, _need(name, data, 1)[0])
    # every remaining id is a device packet that starts with a result byte
    if not data:
        raise ProtocolError(f"{name} needs a result byte, got 0 data bytes")
    result = data[0]
    if command in _RESULT_ONLY:
        _need(name, data, 1)
        return Ack(pn, command, result)
    if command is Cmd.ML_GET_CURRENT_DATA_ACK:
        if len(data) == 1 and result != 0:
            return Ack(pn, command, result)
        if len(data) < 2:
            raise ProtocolError(f"{name} needs result and selection, got {len(data)} data bytes")
        _need(f"{name} with selection {data[1]}", data, 2 + STATUS_LEN.get(data[1], 0))
        if data[1] == DataSelection.CHANNELS:
            for k, byte in enumerate(data[3:]):
                if byte & 0x0C or byte & 0xC0:
                    raise ProtocolError(f"{name} state byte S{k} = 0x{byte:02X}: channel states are 0..3")
        return CurrentDataAck(pn, result, data[1], data[2:])
    if len(data) == 1 and result != 0:
        return Ack(pn, command, result)
    d = _need(name, data, _DATA_ACK_LEN[command])
    if command in (Cmd.GET_VERSION_MAIN_ACK, Cmd.GET_VERSION_STIM_ACK):
        return VersionAck(pn, command, result, (d[1], d[2], d[3]), (d[4], d[5], d[6]))
    if command is Cmd.GET_DEVICE_ID_ACK:
        try:
            text = d[1:].decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError(f"{name} device id {d[1:].hex(' ')} is not ASCII") from None
        return DeviceIdAck(pn, result, text)
    if command is Cmd.GET_BATTERY_STATUS_ACK:
        return BatteryStatusAck(pn, result, d[1], int.from_bytes(d[2:4], "big"))
    if command is Cmd.GET_STIM_STATUS_ACK:
        return StimStatusAck(pn, result, d[1], d[2])
    if command is Cmd.GET_MAIN_STATUS_ACK:
        return MainStatusAck(pn, result, d[1])
    if d[12] > 1:
        raise ProtocolError(f"{name} hash valid = {d[12]} is not 0 or 1")
    return ExtendedVersionAck(pn, result, (d[1], d[2], d[3]), (d[4], d[5], d[6]),
                              int.from_bytes(d[7:11], "big"), d[11], bool(d[12]))


def _parse_update(data: bytes) -> tuple[MlChannel, ...]:
    """Enable mask, then per enabled channel (ascending): points/ramp, period word, points."""
    name = Cmd.ML_UPDATE.name
    if not data:
        raise ProtocolError(f"{name} needs the enable mask, got 0 data bytes")
    mask = data[0]
    pos = 1
    channels = []
    for channel in range(MAX_CHANNELS):
        if not mask >> channel & 1:
            continue
        if pos + 3 > len(data):
            raise ProtocolError(f"{name} ends inside the block of channel {channel} "
                                f"(enable mask 0x{mask:02X}, {len(data)} data bytes)")
        n_points = (data[pos] >> 4) + 1
        ramp = data[pos] & 0x0F
        period_ms, fine = period_ms_of_word(int.from_bytes(data[pos + 1:pos + 3], "big"))
        pos += 3
        if pos + 4 * n_points > len(data):
            raise ProtocolError(f"{name} ends inside the {n_points} points of channel {channel} "
                                f"(enable mask 0x{mask:02X}, {len(data)} data bytes)")
        points = []
        for k in range(n_points):
            word = int.from_bytes(data[pos:pos + 4], "big")
            pos += 4
            if word & 0x3FF:
                raise ProtocolError(f"{name} channel {channel} point {k}: reserved bits 0x{word & 0x3FF:03X} "
                                    f"must be 0")
            code = word >> 10 & 0x3FF
            if code > 600:
                raise ProtocolError(f"{name} channel {channel} point {k}: current code {code} is outside 0..600")
            points.append(Point(word >> 20, (code - 300) / 2))
        channels.append(MlChannel(channel, period_ms, tuple(points), ramp, fine))
    if pos != len(data):
        raise ProtocolError(f"{name} has {len(data) - pos} data bytes after the blocks of enable mask 0x{mask:02X}")
    return tuple(channels)


# --------------------------------------------------------------------------- logging aid


def describe(item: Packet | BadFrame) -> dict[str, Any]:
    """A JSON-ready decoding of a packet or bad frame, for device and session logs."""
    if isinstance(item, BadFrame):
        return {"bad": item.reason, "packet_number": item.packet_number,
                "command_id": item.command, "command": _command_name(item.command)}
    out: dict[str, Any] = {"packet_number": item.packet_number, "command_id": item.command,
                           "command": _command_name(item.command)}
    try:
        message = parse(item)
    except ProtocolError as exc:
        out["error"] = str(exc)
        out["data"] = bytes(item.data).hex(" ")
        return out
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        if f.name in ("packet_number", "command"):
            continue
        if f.name == "result":
            out["result"] = value
            out["result_name"] = Result(value).name if value in _RESULT_VALUES else None
        elif f.name == "channels":
            fields["channels"] = [dict(dataclasses.asdict(ch), frequency_hz=round(ch.frequency_hz, 4))
                                  for ch in value]
        elif isinstance(value, bytes):
            fields[f.name] = value.hex(" ")
        elif isinstance(value, tuple):
            fields[f.name] = list(value)
        else:
            fields[f.name] = value
    if isinstance(message, MlUpdate):
        fields["enable_mask"] = message.enable_mask
    if isinstance(message, CurrentDataAck) and message.selection in STATUS_LEN:
        fields["stimulating"] = message.stimulating
        fields["channel_states"] = [s.name for s in message.channel_states]
        if message.active_channels is not None:
            fields["active_channels"] = message.active_channels
    out["fields"] = fields
    return out


def _command_name(command: int | None) -> str | None:
    if command is None:
        return None
    try:
        return Cmd(command).name
    except ValueError:
        return None



DEVICE_FIRMWARE: dict[str, Firmware] = {
    # Mid level (stimulators.md Part B). The time codes are the period range read as ScienceMode2
    # main time codes (period = 1 ms + code x 0.5 ms), the gate's one integer form of the rate:
    # RehaMove3 2..1000 ms (C.1); P24 1.5..1025 ms (its own range, 0.5..16383 ms, is wider than
    # that form; irrelevant below the 100 Hz cap). 3 Mbaud 8N2 RTS/CTS (B.1). Watchdog 2 s (B.5).
    # No device Init (init_period_ms 0) and no group interval (0..0). worst_ack_ms and the 10 ms
    # processing time are the emulator's readings, UNVERIFIED on firmware (S15 waits 500 ms for
    # init/stop acks).
    "rehamove3": Firmware(protocol="sciencemode4", main_time_code_min=2, main_time_code_max=1998,
                          group_time_code_min=0, group_time_code_max=0, watchdog_ms=2000, worst_ack_ms=100,
                          command_processing_ms=10, init_period_ms=0, baudrate=3000000, parity="none",
                          stopbits=2, rtscts=True),
    "p24": Firmware(protocol="sciencemode4", main_time_code_min=1, main_time_code_max=MAIN_TIME_CODE_MAX,
                    group_time_code_min=0, group_time_code_max=0, watchdog_ms=2000, worst_ack_ms=100,
                    command_processing_ms=10, init_period_ms=0, baudrate=3000000, parity="none",
                    stopbits=2, rtscts=True),
}
"""The models this protocol serves, checked by the config loader (``fescontrol.protocol.firmware``)."""
