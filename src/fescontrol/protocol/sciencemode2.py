"""ScienceMode2 (HASOMED RehaStim 2) wire codec, sans-I/O.

Pure functions plus a byte-fed decoder: no serial port, no clock, stdlib only. The safety
gate imports this module to decode every frame it forwards, and the gate must stay
stdlib-only; the device emulator uses the same code, so host and device cannot disagree
about the format. Wire format and byte examples: shared/reference/stimulators.md Part A.

Frame: ``F0 | 81 crc^55 | 81 len^55 | stuffed(pn, command, data) | 0F``. The CRC-8
(poly 0x07, init 0) and the length both cover the *stuffed* body. Multi-byte fields are
big-endian (the vendor document says little endian; its own tables and every host disagree).
Results and errors are signed bytes.

Lenient decoding (``Decoder(lenient=True)``) is for emulators that must talk to published
hosts with known bugs (stimulators.md C.2 traps 1, 2, 6, 8): every quirk it accepts has a
name in :data:`QUIRKS` and is counted. The controller and its safety gate decode only what
the controller itself sent, so they always use the strict default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Sequence, Union

from fescontrol.crc import crc8_smbus
from fescontrol.errors import ProtocolError
from fescontrol.protocol.firmware import Firmware
from fescontrol.protocol.framing import (
    ESC,
    KEY,
    SPECIAL_BYTES,
    START,
    STOP,
    FrameDecoder,
    decode_exactly_one,
    stuff,
    unstuff,
    unstuff_lenient,
)

PROTOCOL_VERSION = 1
"""Version byte of ``Init``: inferred from host libraries, no captured device frame (A.3)."""

MAX_DATA_LEN = 60
"""Command data is shorter than 61 bytes (S1 Table 5)."""

MAX_FRAME_LEN = 5 + 2 * (2 + MAX_DATA_LEN) + 1
"""130: header, a body with every byte escaped, stop byte. Longer means garbage."""

MAX_CHANNELS = 8
MAIN_TIME_CODE_MAX = 2048
"""t1 = 1 ms + 0.5 ms * x for x in 0..2048 (x = 0 selects one-shot channel-list mode)."""

QUIRK_OVER_ESCAPED = "over_escaped_data"
QUIRK_XOR_COMMAND = "xor_command_without_escape"
QUIRK_XOR_PACKET_NUMBER = "xor_packet_number_without_escape"
QUIRK_KEEPALIVE_GAP = "keepalive_gap_over_watchdog"
QUIRK_SHORT_GROUP_TIME = "group_time_below_8ms"

QUIRKS: dict[str, str] = {
    QUIRK_OVER_ESCAPED: "a data byte other than F0/0F/81 sent escaped (pysciencemode escapes 55 and 0A); "
                        "the receiver procedure unstuffs any byte after 81, so strict decoding accepts it too",
    QUIRK_XOR_COMMAND: "command byte XORed with 55 but no 81 escape before it (pysciencemode sends "
                       "GetStimulationMode 0A as 5F); strict: an unknown command",
    QUIRK_XOR_PACKET_NUMBER: "InitAck packet number read from the Init frame's raw offset 5 and XORed with 55 "
                             "without an 81 escape (pysciencemode, Init pn 10, 15, 85, 129, 240); strict: not "
                             "the pn of a recent Init, so the handshake fails",
    QUIRK_KEEPALIVE_GAP: "more than 1200 ms between valid packets, at most 2000 ms (pysciencemode's keep-alive "
                         "thread leaves ~1.6 s); strict: the watchdog expires",
    QUIRK_SHORT_GROUP_TIME: "InitChannelListMode inter-pulse interval code < 13 (below the firmware's 8 ms; "
                            "pysciencemode's default 2 ms is code 1): clamped to 13 as S7 does; strict: -2",
}
"""Quirks of published hosts that a lenient receiver accepts, by name (stimulators.md C.2)."""

PYSCIENCEMODE_XOR_BYTES = frozenset({START, STOP, ESC, KEY, 0x0A})
"""Bytes pysciencemode 1.1.5 "stuffs" (its STUFFED_BYTES): in data with an 81, in pn/command without."""


class Cmd(IntEnum):
    """Command ids (S1 section 3); MOTOmed commands are left out on purpose."""

    INIT = 1
    INIT_ACK = 2
    UNKNOWN_COMMAND = 3
    WATCHDOG = 4
    GET_STIMULATION_MODE = 10
    GET_STIMULATION_MODE_ACK = 11
    INIT_CHANNEL_LIST_MODE = 30
    INIT_CHANNEL_LIST_MODE_ACK = 31
    START_CHANNEL_LIST_MODE = 32
    START_CHANNEL_LIST_MODE_ACK = 33
    STOP_CHANNEL_LIST_MODE = 34
    STOP_CHANNEL_LIST_MODE_ACK = 35
    SINGLE_PULSE = 36
    SINGLE_PULSE_ACK = 37
    STIMULATION_ERROR = 38


class Result(IntEnum):
    """Signed result codes carried in acks (A.4)."""

    OK = 0
    TRANSFER_ERROR = -1
    PARAMETER_ERROR = -2
    WRONG_MODE = -3
    MOTOMED_CONNECTION = -4
    INCOMPATIBLE_VERSION = -5
    INVALID_TRAINER = -6
    MOTOMED_BUSY = -7
    BUSY = -8


class StimMode(IntEnum):
    """Stimulation mode reported by ``GetStimulationModeAck``."""

    START = 0
    INITIALISED = 1
    STARTED = 2


ACK_OF: dict[Cmd, Cmd] = {
    Cmd.INIT: Cmd.INIT_ACK,
    Cmd.GET_STIMULATION_MODE: Cmd.GET_STIMULATION_MODE_ACK,
    Cmd.INIT_CHANNEL_LIST_MODE: Cmd.INIT_CHANNEL_LIST_MODE_ACK,
    Cmd.START_CHANNEL_LIST_MODE: Cmd.START_CHANNEL_LIST_MODE_ACK,
    Cmd.STOP_CHANNEL_LIST_MODE: Cmd.STOP_CHANNEL_LIST_MODE_ACK,
    Cmd.SINGLE_PULSE: Cmd.SINGLE_PULSE_ACK,
}
"""Command -> the ack that answers it. ``Watchdog`` has no ack."""

_RESULT_VALUES = frozenset(int(r) for r in Result)
_MODE_VALUES = frozenset(int(m) for m in StimMode)

DEVICE_ACKS = frozenset(v for k, v in ACK_OF.items() if k is not Cmd.INIT)
"""Acks the device sends; parsed as :class:`Ack`."""


# --------------------------------------------------------------------------- checks


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    """Reject anything that would not survive the trip to the wire unchanged."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError(f"{name} = {value!r} is outside {lo}..{hi}")
    return int(value)


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


# --------------------------------------------------------------------------- CRC, stuffing


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS over the stuffed body; the wire carries crc^0x55 (do not apply 0x55 twice)."""
    return crc8_smbus(data)


def over_escaped(stuffed: bytes) -> int:
    """How many escapes in a stuffed body hide a byte that needs none (C-2: 55 and 0A)."""
    count = 0
    i = stuffed.find(ESC)
    while 0 <= i < len(stuffed) - 1:
        count += stuffed[i + 1] not in _ESCAPED_SPECIALS
        i = stuffed.find(ESC, i + 2)
    return count


_ESCAPED_SPECIALS = frozenset(b ^ KEY for b in SPECIAL_BYTES)


def pysciencemode_xor(byte: int) -> int:
    """What pysciencemode 1.1.5 puts on the wire for a packet number or command byte (C-1)."""
    return byte ^ KEY if byte in PYSCIENCEMODE_XOR_BYTES else byte


def pysciencemode_init_ack_pn(init_pn: int) -> int:
    """The packet number pysciencemode 1.1.5 sends in its InitAck to an Init with ``init_pn``.

    It takes the raw byte at frame offset 5 (the 81 escape when the pn is F0/0F/81, C-4) and
    then "stuffs" it by XOR without an escape (C-1): Init pn 15, 129 and 240 give D4, 85 gives
    00 and 10 gives 5F; every other pn comes back unchanged.
    """
    raw = ESC if init_pn in SPECIAL_BYTES else init_pn
    return pysciencemode_xor(raw)


PYSCIENCEMODE_XORED_COMMANDS: dict[int, int] = {
    pysciencemode_xor(c): int(c) for c in Cmd
    if pysciencemode_xor(c) != c and pysciencemode_xor(c) not in set(Cmd)}
"""Wire byte -> command, for the commands pysciencemode garbles (only GetStimulationMode: 5F -> 0A)."""


# --------------------------------------------------------------------------- packets and frames


@dataclass(frozen=True)
class Packet:
    """One unstuffed packet: the device's or the host's packet number, command id and data."""

    packet_number: int
    command: int
    data: bytes
    quirks: tuple[str, ...] = field(default=(), compare=False)
    """Names (:data:`QUIRKS`) of the host quirks the decoder accepted in this frame."""


def encode(packet: Packet) -> bytes:
    """Build the full wire frame of ``packet``."""
    pn = _check_int("packet_number", packet.packet_number, 0, 255)
    cmd = _check_int("command", packet.command, 0, 255)
    data = bytes(packet.data)
    if len(data) > MAX_DATA_LEN:
        raise ProtocolError(f"data of command {cmd} has {len(data)} bytes, at most {MAX_DATA_LEN} allowed")
    body = stuff(bytes((pn, cmd)) + data)
    return bytes((START, ESC, crc8(body) ^ KEY, ESC, len(body) ^ KEY)) + body + bytes((STOP,))


def encode_packet(packet_number: int, command: int, data: bytes = b"") -> bytes:
    """Shorthand for ``encode(Packet(...))``."""
    return encode(Packet(packet_number, command, bytes(data)))


@dataclass(frozen=True)
class BadFrame:
    """A start..stop span that is not a valid frame.

    ``packet_number`` and ``command`` are recovered from the body only when the header was
    well formed and the frame failed on length or checksum, which is the case where the
    device answers that command's ack with -1. Truncated, headerless or over-long spans
    carry ``None``: the device silently drops them (A.2 error table).
    """

    reason: str
    raw: bytes
    packet_number: int | None
    command: int | None


def _check_frame(raw: bytes) -> Packet | BadFrame:
    """Validate one span that starts with F0 and ends with 0F (receiver steps 3-6 of A.2)."""
    if len(raw) < 6:
        return BadFrame(f"frame of {len(raw)} bytes is shorter than a header", raw, None, None)
    if raw[1] != ESC or raw[3] != ESC:
        where = 1 if raw[1] != ESC else 3
        return BadFrame(f"byte {where} is 0x{raw[where]:02X}, expected escape 0x81", raw, None, None)
    body = raw[5:-1]
    recovered = unstuff_lenient(body)
    pn = recovered[0] if len(recovered) >= 1 else None
    cmd = recovered[1] if len(recovered) >= 2 else None
    length = raw[4] ^ KEY
    if length != len(body):
        return BadFrame(f"length field says {length} bytes, body has {len(body)}", raw, pn, cmd)
    crc = raw[2] ^ KEY
    actual = crc8(body)
    if crc != actual:
        return BadFrame(f"checksum field 0x{crc:02X}, computed 0x{actual:02X}", raw, pn, cmd)
    try:
        plain = unstuff(body)
    except ProtocolError as exc:
        return BadFrame(str(exc), raw, pn, cmd)
    if len(plain) < 2:
        return BadFrame(f"body has {len(plain)} bytes, needs packet number and command", raw, pn, cmd)
    return Packet(plain[0], plain[1], plain[2:])


class Decoder(FrameDecoder[Packet, BadFrame]):
    """Incremental frame decoder: feed bytes in any split, get packets and bad frames back.

    Follows the receiver procedure of A.2: hunt F0; scan for 0F skipping the byte after every
    81 (an escaped checksum or length may be a raw 0F/F0/81, A-25); restart at a second F0
    seen before the stop byte; check 81 at offsets 1 and 3, the length and the CRC.
    One extension: if a frame fails and a raw F0 inside it (hidden behind an 81) starts a
    valid frame, the head is reported as truncated and the inner frame is kept, so a frame
    cut off right after an escape byte does not also cost the next frame.
    The buffer never holds more than one partial frame of at most ``MAX_FRAME_LEN`` bytes.
    The scanning is :class:`~fescontrol.protocol.framing.FrameDecoder`'s, shared with
    ScienceMode4; this class adds the header check and the quirks.

    Counters: ``frames_ok`` valid frames; ``frames_bad`` bad frames returned (their bytes
    are in ``BadFrame.raw``); ``bytes_discarded`` bytes outside any start..stop span;
    ``quirks`` accepted host quirks by name (:data:`QUIRKS`), also listed in ``Packet.quirks``.

    Strict (the default) accepts over-escaped data bytes, as the vendor's receiver procedure
    does, and counts them. ``lenient=True`` also maps a command byte XORed with 55 without
    an escape (pysciencemode's GetStimulationMode 5F) back to the command. Quirks that need
    context (an InitAck's packet number, timing, parameter ranges) are the device model's.
    """

    max_frame_len = MAX_FRAME_LEN
    _packet_type = Packet

    def __init__(self, lenient: bool = False) -> None:
        super().__init__()
        self.lenient = lenient
        self.quirks: dict[str, int] = {}

    _check_frame = staticmethod(_check_frame)

    def _bad_span(self, reason: str, raw: bytes) -> BadFrame:
        return BadFrame(reason, raw, None, None)

    def _accept(self, raw: bytes, packet: Packet) -> Packet:
        """Look for quirks only where one can be: an escape in the body, or lenient mode."""
        if self.lenient or raw.find(ESC, 5, -1) >= 0:
            return self._quirks(raw, packet)
        return packet

    def _quirks(self, raw: bytes, packet: Packet) -> Packet:
        """Name (and in lenient mode repair) what a published host got wrong in a valid frame."""
        found: list[str] = []
        if over_escaped(raw[5:-1]):
            found.append(QUIRK_OVER_ESCAPED)
        command = packet.command
        if self.lenient and command in PYSCIENCEMODE_XORED_COMMANDS:
            found.append(QUIRK_XOR_COMMAND)
            command = PYSCIENCEMODE_XORED_COMMANDS[command]
        if not found:
            return packet
        for name in found:
            self.quirks[name] = self.quirks.get(name, 0) + 1
        return Packet(packet.packet_number, command, packet.data, tuple(found))


def decode_frame(frame: bytes) -> Packet:
    """Decode exactly one complete frame (e.g. a frame the gate is about to forward)."""
    return decode_exactly_one(Decoder(), frame, "ScienceMode2")


# --------------------------------------------------------------------------- time coding


def _exact_code(name: str, ms: float, offset_ms: float, hi: int) -> int:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not math.isfinite(ms):
        raise ProtocolError(f"{name} = {ms!r} ms is not a finite number")
    twice = 2.0 * (ms - offset_ms)
    code = round(twice)
    if abs(twice - code) > 1e-6:
        raise ProtocolError(f"{name} = {ms} ms is not on the 0.5 ms grid of the device")
    if not 0 <= code <= hi:
        raise ProtocolError(f"{name} = {ms} ms is outside {offset_ms}..{offset_ms + hi / 2} ms")
    return code


def main_time_code(interval_ms: float) -> int:
    """Code of a main stimulation interval t1: x = 2*(t1 - 1 ms). Code 0 means one-shot mode."""
    return _exact_code("main interval", interval_ms, 1.0, MAIN_TIME_CODE_MAX)


def main_interval_ms(code: int) -> float:
    """Main interval t1 of a code (1 ms for code 0, which the device treats as one-shot)."""
    return 1.0 + 0.5 * _check_int("main_time_code", code, 0, MAIN_TIME_CODE_MAX)


def group_time_code(interval_ms: float) -> int:
    """Code of the inter-pulse (doublet/triplet) interval t2: x = 2*(t2 - 1.5 ms)."""
    return _exact_code("group interval", interval_ms, 1.5, 255)


def group_interval_ms(code: int) -> float:
    """Inter-pulse interval t2 of a code."""
    return 1.5 + 0.5 * _check_int("group_time_code", code, 0, 255)


def frequency_hz(main_code: int) -> float:
    """Pulse frequency of a main-time code; 0.0 for code 0 (one-shot: no repetition)."""
    if _check_int("main_time_code", main_code, 0, MAIN_TIME_CODE_MAX) == 0:
        return 0.0
    return 1000.0 / main_interval_ms(main_code)


def frequency_code_for_hz(hz: float) -> int:
    """Main-time code whose frequency is nearest to ``hz`` (never 0, the one-shot code)."""
    if isinstance(hz, bool) or not isinstance(hz, (int, float)) or not math.isfinite(hz) or hz <= 0:
        raise ProtocolError(f"frequency = {hz!r} Hz is not a positive finite number")
    exact = 2.0 * (1000.0 / hz - 1.0)
    candidates = {min(max(c, 1), MAIN_TIME_CODE_MAX) for c in (math.floor(exact), math.ceil(exact))}
    return min(sorted(candidates), key=lambda c: abs(frequency_hz(c) - hz))


# --------------------------------------------------------------------------- host builders


@dataclass(frozen=True)
class ChannelSetting:
    """One channel block of ``StartChannelListMode``: mode 0 single, 1 doublet, 2 triplet."""

    mode: int
    pulse_width_us: int
    current_ma: int


def init_ack(pn: int, result: int = 0) -> bytes:
    """Host answer to the device's ``Init``; echo that Init's packet number."""
    return encode_packet(pn, Cmd.INIT_ACK, bytes((_check_int("result", result, -128, 127) & 0xFF,)))


def watchdog(pn: int) -> bytes:
    """Keep-alive; the device sends no ack."""
    return encode_packet(pn, Cmd.WATCHDOG)


def get_stimulation_mode(pn: int) -> bytes:
    """Ask for the current stimulation mode."""
    return encode_packet(pn, Cmd.GET_STIMULATION_MODE)


def init_channel_list_mode(pn: int, *, active_channels: int, low_frequency_channels: int = 0,
                           low_frequency_factor: int = 0, group_time_code: int,
                           main_time_code: int, channel_execution: int = 0) -> bytes:
    """Configure the channel list (masks: bit 0 = channel 1). Codec ranges only, no physiology."""
    data = bytes((
        _check_int("low_frequency_factor", low_frequency_factor, 0, 7),
        _check_int("active_channels", active_channels, 0, 255),
        _check_int("low_frequency_channels", low_frequency_channels, 0, 255),
        _check_int("group_time_code", group_time_code, 0, 255),
    )) + _check_int("main_time_code", main_time_code, 0, MAIN_TIME_CODE_MAX).to_bytes(2, "big") \
        + bytes((_check_int("channel_execution", channel_execution, 0, 1),))
    return encode_packet(pn, Cmd.INIT_CHANNEL_LIST_MODE, data)


def _setting_bytes(index: int, setting: ChannelSetting) -> bytes:
    name = f"settings[{index}]"
    mode = _check_int(f"{name}.mode", setting.mode, 0, 2)
    pulse_width = _check_int(f"{name}.pulse_width_us", setting.pulse_width_us, 0, 0xFFFF)
    current = _check_int(f"{name}.current_ma", setting.current_ma, 0, 255)
    return bytes((mode,)) + pulse_width.to_bytes(2, "big") + bytes((current,))


def start_channel_list_mode(pn: int, settings: Sequence[ChannelSetting]) -> bytes:
    """Start or update stimulation: one block per active channel, in ascending channel order."""
    _check_int("number of channel settings", len(settings), 1, MAX_CHANNELS)
    data = b"".join(_setting_bytes(i, s) for i, s in enumerate(settings))
    return encode_packet(pn, Cmd.START_CHANNEL_LIST_MODE, data)


def stop_channel_list_mode(pn: int) -> bytes:
    """Stop stimulation; the device returns to start mode."""
    return encode_packet(pn, Cmd.STOP_CHANNEL_LIST_MODE)


def single_pulse(pn: int, channel_index: int, pulse_width_us: int, current_ma: int) -> bytes:
    """One pulse now; ``channel_index`` is 0-based here (0 = channel 1), unlike the masks."""
    data = bytes((_check_int("channel_index", channel_index, 0, MAX_CHANNELS - 1),)) \
        + _check_int("pulse_width_us", pulse_width_us, 0, 0xFFFF).to_bytes(2, "big") \
        + bytes((_check_int("current_ma", current_ma, 0, 255),))
    return encode_packet(pn, Cmd.SINGLE_PULSE, data)


# --------------------------------------------------------------------------- device builders


def init(pn: int, version: int = PROTOCOL_VERSION) -> bytes:
    """Device ``Init`` (device's own packet counter), repeated until the host acks."""
    return encode_packet(pn, Cmd.INIT, bytes((_check_int("version", version, 0, 255),)))


def ack(pn: int, ack_command: int, result: int, extra: bytes = b"") -> bytes:
    """Any ``*_ACK`` packet: echoed packet number, signed result, optional trailing data."""
    if ack_command not in set(ACK_OF.values()):
        raise ProtocolError(f"ack_command = {ack_command!r} is not an ack command")
    data = bytes((_check_int("result", result, -128, 127) & 0xFF,)) + bytes(extra)
    return encode_packet(pn, ack_command, data)


def get_stimulation_mode_ack(pn: int, result: int, mode: int | None = None) -> bytes:
    """The mode byte is present only when the result is 0 (A.3)."""
    if (result == 0) != (mode is not None):
        raise ProtocolError(f"mode = {mode!r} with result {result}: mode is required iff result is 0")
    extra = b"" if mode is None else bytes((_check_int("mode", mode, 0, 2),))
    return ack(pn, Cmd.GET_STIMULATION_MODE_ACK, result, extra)


def stimulation_error(pn: int, error: int) -> bytes:
    """Unsolicited: -1 emergency switch, -2 electrode, -3 stimulation module."""
    return encode_packet(pn, Cmd.STIMULATION_ERROR, bytes((_check_int("error", error, -128, 127) & 0xFF,)))


def unknown_command(pn: int, received_command: int) -> bytes:
    """Answer to a command id the device does not know; echoes pn and the id."""
    return encode_packet(pn, Cmd.UNKNOWN_COMMAND,
                         bytes((_check_int("received_command", received_command, 0, 255),)))


# --------------------------------------------------------------------------- typed messages


@dataclass(frozen=True)
class Init:
    packet_number: int
    version: int


@dataclass(frozen=True)
class InitAck:
    packet_number: int
    result: int


@dataclass(frozen=True)
class Watchdog:
    packet_number: int


@dataclass(frozen=True)
class GetStimulationMode:
    packet_number: int


@dataclass(frozen=True)
class InitChannelListMode:
    """Fields in wire order; codes as sent (see the coding helpers for milliseconds)."""

    packet_number: int
    low_frequency_factor: int
    active_channels: int
    low_frequency_channels: int
    group_time_code: int
    main_time_code: int
    channel_execution: int

    @property
    def main_interval_ms(self) -> float:
        return main_interval_ms(self.main_time_code)

    @property
    def group_interval_ms(self) -> float:
        return group_interval_ms(self.group_time_code)

    @property
    def frequency_hz(self) -> float:
        return frequency_hz(self.main_time_code)

    @property
    def channel_numbers(self) -> list[int]:
        """Active channels, 1-based, ascending: the order of the StartChannelListMode blocks."""
        return _mask_channels(self.active_channels)

    @property
    def low_frequency_channel_numbers(self) -> list[int]:
        """Low-frequency channels that are also active (the device ignores the others)."""
        return _mask_channels(self.low_frequency_channels & self.active_channels)


@dataclass(frozen=True)
class StartChannelListMode:
    packet_number: int
    settings: tuple[ChannelSetting, ...]


@dataclass(frozen=True)
class StopChannelListMode:
    packet_number: int


@dataclass(frozen=True)
class SinglePulse:
    packet_number: int
    channel_index: int
    pulse_width_us: int
    current_ma: int


@dataclass(frozen=True)
class Ack:
    """Any device ack; ``extra`` holds the mode byte of a successful GetStimulationModeAck."""

    packet_number: int
    command: Cmd
    result: int
    extra: bytes

    @property
    def mode(self) -> StimMode | None:
        if self.command is Cmd.GET_STIMULATION_MODE_ACK and self.extra:
            return StimMode(self.extra[0]) if self.extra[0] in _MODE_VALUES else None
        return None


@dataclass(frozen=True)
class StimulationError:
    packet_number: int
    error: int


@dataclass(frozen=True)
class UnknownCommand:
    packet_number: int
    received_command: int


Message = Union[Init, InitAck, Watchdog, GetStimulationMode, InitChannelListMode,
                StartChannelListMode, StopChannelListMode, SinglePulse, Ack,
                StimulationError, UnknownCommand]


def _mask_channels(mask: int) -> list[int]:
    return [bit + 1 for bit in range(MAX_CHANNELS) if mask >> bit & 1]


def _need(packet: Packet, name: str, expected: int) -> bytes:
    if len(packet.data) != expected:
        raise ProtocolError(f"{name} needs {expected} data bytes, got {len(packet.data)}")
    return packet.data


def parse(packet: Packet, active_channels: int | None = None) -> Message:
    """Turn a packet into its typed message; checks lengths and structure, not physiology.

    ``active_channels`` (the mask of the InitChannelListMode in force) makes a
    StartChannelListMode with the wrong number of blocks an error, as on the device.
    """
    pn, cmd, data = packet.packet_number, packet.command, packet.data
    try:
        command = Cmd(cmd)
    except ValueError:
        raise ProtocolError(f"unknown ScienceMode2 command {cmd}") from None
    name = command.name
    if command is Cmd.INIT:
        return Init(pn, _need(packet, name, 1)[0])
    if command is Cmd.INIT_ACK:
        return InitAck(pn, _signed(_need(packet, name, 1)[0]))
    if command is Cmd.WATCHDOG:
        _need(packet, name, 0)
        return Watchdog(pn)
    if command is Cmd.GET_STIMULATION_MODE:
        _need(packet, name, 0)
        return GetStimulationMode(pn)
    if command is Cmd.INIT_CHANNEL_LIST_MODE:
        d = _need(packet, name, 7)
        return InitChannelListMode(pn, d[0], d[1], d[2], d[3], int.from_bytes(d[4:6], "big"), d[6])
    if command is Cmd.START_CHANNEL_LIST_MODE:
        return _parse_start(packet, active_channels)
    if command is Cmd.STOP_CHANNEL_LIST_MODE:
        _need(packet, name, 0)
        return StopChannelListMode(pn)
    if command is Cmd.SINGLE_PULSE:
        d = _need(packet, name, 4)
        return SinglePulse(pn, d[0], int.from_bytes(d[1:3], "big"), d[3])
    if command is Cmd.STIMULATION_ERROR:
        return StimulationError(pn, _signed(_need(packet, name, 1)[0]))
    if command is Cmd.UNKNOWN_COMMAND:
        return UnknownCommand(pn, _need(packet, name, 1)[0])
    # every remaining id is a device ack
    if not data:
        raise ProtocolError(f"{name} needs a result byte, got 0 data bytes")
    result = _signed(data[0])
    expected = 2 if command is Cmd.GET_STIMULATION_MODE_ACK and result == 0 else 1
    _need(packet, name, expected)
    return Ack(pn, command, result, bytes(data[1:]))


def _parse_start(packet: Packet, active_channels: int | None) -> StartChannelListMode:
    data = packet.data
    if len(data) % 4 or not 1 <= len(data) // 4 <= MAX_CHANNELS:
        raise ProtocolError(f"START_CHANNEL_LIST_MODE needs 1..8 blocks of 4 data bytes, "
                            f"got {len(data)} bytes")
    blocks = len(data) // 4
    if active_channels is not None:
        expected = bin(active_channels & 0xFF).count("1")
        if blocks != expected:
            raise ProtocolError(f"START_CHANNEL_LIST_MODE has {blocks} channel blocks, "
                                f"the active-channel mask 0x{active_channels:02X} needs {expected}")
    settings = tuple(
        ChannelSetting(data[i], int.from_bytes(data[i + 1:i + 3], "big"), data[i + 3])
        for i in range(0, len(data), 4))
    return StartChannelListMode(packet.packet_number, settings)


# --------------------------------------------------------------------------- logging aid


def describe(item: Packet | BadFrame) -> dict[str, Any]:
    """A JSON-ready decoding of a packet or bad frame, for device and session logs."""
    if isinstance(item, BadFrame):
        return {"bad": item.reason, "packet_number": item.packet_number,
                "command_id": item.command, "command": _command_name(item.command)}
    out: dict[str, Any] = {"packet_number": item.packet_number, "command_id": item.command,
                           "command": _command_name(item.command)}
    if item.quirks:
        out["quirks"] = list(item.quirks)
    try:
        message = parse(item)
    except ProtocolError as exc:
        out["error"] = str(exc)
        out["data"] = item.data.hex(" ")
        return out
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        if f.name in ("packet_number", "command"):
            continue
        if f.name == "result":
            out["result"] = value
            out["result_name"] = Result(value).name if value in _RESULT_VALUES else None
        elif f.name == "settings":
            fields["settings"] = [dataclasses.asdict(s) for s in value]
        elif isinstance(value, bytes):
            if value:
                fields[f.name] = value.hex(" ")
        else:
            fields[f.name] = value
    if isinstance(message, Ack) and message.mode is not None:
        del fields["extra"]
        fields["mode"] = int(message.mode)
    if isinstance(message, InitChannelListMode):
        fields["channel_numbers"] = message.channel_numbers
        fields["frequency_hz"] = round(message.frequency_hz, 4)
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
    # S1 section 4.3 (t1, t2 >= 8 ms), Table 7 (ack <= 100 ms), A.1 (460800 8E1), watchdog
    # 1200 ms, Init every 500 ms, 10 ms command processing (shared/reference/stimulators.md).
    "rehastim2": Firmware(protocol="sciencemode2", main_time_code_min=14, main_time_code_max=MAIN_TIME_CODE_MAX,
                          group_time_code_min=13, group_time_code_max=255, watchdog_ms=1200,
                          worst_ack_ms=100, command_processing_ms=10, init_period_ms=500,
                          baudrate=460800, parity="even", stopbits=1),
}
"""The models this protocol serves, checked by the config loader (``fescontrol.protocol.firmware``)."""
