"""ScienceMode2 codec against the worked examples A-1..A-25 of stimulators.md Part A."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from fescontrol.errors import ProtocolError
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.sciencemode2 import (
    Ack,
    BadFrame,
    ChannelSetting,
    Cmd,
    Decoder,
    GetStimulationMode,
    Init,
    InitAck,
    InitChannelListMode,
    Packet,
    SinglePulse,
    StartChannelListMode,
    StimMode,
    StimulationError,
    StopChannelListMode,
    UnknownCommand,
    Watchdog,
)


@dataclass(frozen=True)
class Vector:
    name: str
    frame: bytes
    pn: int
    command: int
    data: bytes
    build: Callable[[], bytes]
    message: object


def _v(name: str, frame: str, pn: int, command: int, data: str,
       build: Callable[[], bytes], message: object) -> Vector:
    return Vector(name, bytes.fromhex(frame), pn, command, bytes.fromhex(data), build, message)


VECTORS = [
    _v("A-1", "F0 81 47 81 56 00 01 01 0F", 0x00, Cmd.INIT, "01",
       lambda: sm2.init(0), Init(0, 1)),
    _v("A-2", "F0 81 7F 81 56 00 02 00 0F", 0x00, Cmd.INIT_ACK, "00",
       lambda: sm2.init_ack(0), InitAck(0, 0)),
    _v("A-3", "F0 81 76 81 57 01 0A 0F", 0x01, Cmd.GET_STIMULATION_MODE, "",
       lambda: sm2.get_stimulation_mode(1), GetStimulationMode(1)),
    _v("A-4", "F0 81 17 81 5C 02 1E 00 01 00 00 00 40 01 0F", 0x02, Cmd.INIT_CHANNEL_LIST_MODE,
       "00 01 00 00 00 40 01",
       lambda: sm2.init_channel_list_mode(2, active_channels=0x01, low_frequency_channels=0,
                                          low_frequency_factor=0, group_time_code=0,
                                          main_time_code=0x40, channel_execution=1),
       InitChannelListMode(2, 0, 0x01, 0x00, 0, 0x40, 1)),
    _v("A-5", "F0 81 E0 81 53 03 20 00 01 5E 05 0F", 0x03, Cmd.START_CHANNEL_LIST_MODE,
       "00 01 5E 05",
       lambda: sm2.start_channel_list_mode(3, [ChannelSetting(0, 350, 5)]),
       StartChannelListMode(3, (ChannelSetting(0, 350, 5),))),
    _v("A-6", "F0 81 1D 81 57 04 04 0F", 0x04, Cmd.WATCHDOG, "",
       lambda: sm2.watchdog(4), Watchdog(4)),
    _v("A-7", "F0 81 EC 81 5C 00 1E 00 03 00 0D 00 30 00 0F", 0x00, Cmd.INIT_CHANNEL_LIST_MODE,
       "00 03 00 0D 00 30 00",
       lambda: sm2.init_channel_list_mode(0, active_channels=0x03, group_time_code=13,
                                          main_time_code=48),
       InitChannelListMode(0, 0, 0x03, 0x00, 13, 48, 0)),
    _v("A-8", "F0 81 C1 81 56 00 1F 00 0F", 0x00, Cmd.INIT_CHANNEL_LIST_MODE_ACK, "00",
       lambda: sm2.ack(0, Cmd.INIT_CHANNEL_LIST_MODE_ACK, 0),
       Ack(0, Cmd.INIT_CHANNEL_LIST_MODE_ACK, 0, b"")),
    _v("A-9", "F0 81 35 81 56 00 1F FE 0F", 0x00, Cmd.INIT_CHANNEL_LIST_MODE_ACK, "FE",
       lambda: sm2.ack(0, Cmd.INIT_CHANNEL_LIST_MODE_ACK, -2),
       Ack(0, Cmd.INIT_CHANNEL_LIST_MODE_ACK, -2, b"")),
    _v("A-10", "F0 81 A5 81 5F 01 20 00 01 2C 1E 00 00 FA 14 0F", 0x01,
       Cmd.START_CHANNEL_LIST_MODE, "00 01 2C 1E 00 00 FA 14",
       lambda: sm2.start_channel_list_mode(1, [ChannelSetting(0, 300, 30), ChannelSetting(0, 250, 20)]),
       StartChannelListMode(1, (ChannelSetting(0, 300, 30), ChannelSetting(0, 250, 20)))),
    _v("A-11", "F0 81 85 81 56 01 21 00 0F", 0x01, Cmd.START_CHANNEL_LIST_MODE_ACK, "00",
       lambda: sm2.ack(1, Cmd.START_CHANNEL_LIST_MODE_ACK, 0),
       Ack(1, Cmd.START_CHANNEL_LIST_MODE_ACK, 0, b"")),
    _v("A-12", "F0 81 63 81 56 01 21 F8 0F", 0x01, Cmd.START_CHANNEL_LIST_MODE_ACK, "F8",
       lambda: sm2.ack(1, Cmd.START_CHANNEL_LIST_MODE_ACK, sm2.Result.BUSY),
       Ack(1, Cmd.START_CHANNEL_LIST_MODE_ACK, -8, b"")),
    _v("A-13", "F0 81 78 81 56 01 21 FD 0F", 0x01, Cmd.START_CHANNEL_LIST_MODE_ACK, "FD",
       lambda: sm2.ack(1, Cmd.START_CHANNEL_LIST_MODE_ACK, sm2.Result.WRONG_MODE),
       Ack(1, Cmd.START_CHANNEL_LIST_MODE_ACK, -3, b"")),
    _v("A-14", "F0 81 63 81 57 02 04 0F", 0x02, Cmd.WATCHDOG, "",
       lambda: sm2.watchdog(2), Watchdog(2)),
    _v("A-15", "F0 81 84 81 57 03 22 0F", 0x03, Cmd.STOP_CHANNEL_LIST_MODE, "",
       lambda: sm2.stop_channel_list_mode(3), StopChannelListMode(3)),
    _v("A-16", "F0 81 79 81 56 03 23 00 0F", 0x03, Cmd.STOP_CHANNEL_LIST_MODE_ACK, "00",
       lambda: sm2.ack(3, Cmd.STOP_CHANNEL_LIST_MODE_ACK, 0),
       Ack(3, Cmd.STOP_CHANNEL_LIST_MODE_ACK, 0, b"")),
    _v("A-17", "F0 81 33 81 53 04 24 00 00 C8 14 0F", 0x04, Cmd.SINGLE_PULSE, "00 00 C8 14",
       lambda: sm2.single_pulse(4, 0, 200, 20), SinglePulse(4, 0, 200, 20)),
    _v("A-18", "F0 81 11 81 56 04 25 00 0F", 0x04, Cmd.SINGLE_PULSE_ACK, "00",
       lambda: sm2.ack(4, Cmd.SINGLE_PULSE_ACK, 0), Ack(4, Cmd.SINGLE_PULSE_ACK, 0, b"")),
    _v("A-19", "F0 81 22 81 57 05 0A 0F", 0x05, Cmd.GET_STIMULATION_MODE, "",
       lambda: sm2.get_stimulation_mode(5), GetStimulationMode(5)),
    _v("A-20", "F0 81 F7 81 51 05 0B 00 00 0F", 0x05, Cmd.GET_STIMULATION_MODE_ACK, "00 00",
       lambda: sm2.get_stimulation_mode_ack(5, 0, StimMode.START),
       Ack(5, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")),
    _v("A-21", "F0 81 E4 81 56 05 0B F8 0F", 0x05, Cmd.GET_STIMULATION_MODE_ACK, "F8",
       lambda: sm2.get_stimulation_mode_ack(5, -8),
       Ack(5, Cmd.GET_STIMULATION_MODE_ACK, -8, b"")),
    _v("A-22", "F0 81 1A 81 56 01 26 FE 0F", 0x01, Cmd.STIMULATION_ERROR, "FE",
       lambda: sm2.stimulation_error(1, -2), StimulationError(1, -2)),
    _v("A-23", "F0 81 39 81 56 06 03 63 0F", 0x06, Cmd.UNKNOWN_COMMAND, "63",
       lambda: sm2.unknown_command(6, 0x63), UnknownCommand(6, 0x63)),
    _v("A-24", "F0 81 61 81 5C 81 5A 20 00 00 81 A5 81 5A 0F", 0x0F, Cmd.START_CHANNEL_LIST_MODE,
       "00 00 F0 0F",
       lambda: sm2.start_channel_list_mode(15, [ChannelSetting(0, 240, 15)]),
       StartChannelListMode(15, (ChannelSetting(0, 240, 15),))),
    _v("A-25", "F0 81 0F 81 57 DC 04 0F", 0xDC, Cmd.WATCHDOG, "",
       lambda: sm2.watchdog(0xDC), Watchdog(0xDC)),
]

IDS = [v.name for v in VECTORS]


def test_all_25_vectors_present() -> None:
    assert IDS == [f"A-{i}" for i in range(1, 26)]


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_builder_gives_exact_frame(v: Vector) -> None:
    assert v.build() == v.frame
    assert sm2.encode_packet(v.pn, v.command, v.data) == v.frame
    assert sm2.encode(Packet(v.pn, v.command, v.data)) == v.frame


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_decode_whole_split_and_bytewise(v: Vector) -> None:
    expected = Packet(v.pn, v.command, v.data)
    assert Decoder().feed(v.frame) == [expected]
    for cut in range(len(v.frame) + 1):
        d = Decoder()
        got = d.feed(v.frame[:cut]) + d.feed(v.frame[cut:])
        assert got == [expected], cut
        assert (d.frames_ok, d.frames_bad, d.bytes_discarded, d.pending) == (1, 0, 0, 0)
    d = Decoder()
    got = []
    for byte in v.frame:
        got += d.feed(bytes((byte,)))
    assert got == [expected]


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_parse_gives_fields(v: Vector) -> None:
    assert sm2.parse(sm2.decode_frame(v.frame)) == v.message


def test_parsed_properties_of_vectors() -> None:
    a7 = sm2.parse(sm2.decode_frame(VECTORS[6].frame))
    assert isinstance(a7, InitChannelListMode)
    assert a7.channel_numbers == [1, 2]
    assert a7.main_interval_ms == 25.0
    assert a7.frequency_hz == 40.0
    assert a7.group_interval_ms == 8.0
    a4 = sm2.parse(sm2.decode_frame(VECTORS[3].frame))
    assert isinstance(a4, InitChannelListMode)
    assert a4.main_interval_ms == 33.0 and a4.channel_numbers == [1]
    a20 = sm2.parse(sm2.decode_frame(VECTORS[19].frame))
    assert isinstance(a20, Ack) and a20.mode is StimMode.START
    assert sm2.parse(Packet(0, 30, bytes.fromhex("03 83 05 0D 00 26 00"))).low_frequency_channel_numbers == [1]


def test_crc_check_value() -> None:
    assert sm2.crc8(b"123456789") == 0xF4
    assert sm2.crc8(b"") == 0


def test_stuffing_of_a24() -> None:
    body = bytes.fromhex("0F 20 00 00 F0 0F")
    stuffed = bytes.fromhex("81 5A 20 00 00 81 A5 81 5A")
    assert sm2.stuff(body) == stuffed
    assert sm2.unstuff(stuffed) == body
    assert sm2.crc8(stuffed) == 0x34
    assert sm2.stuff(b"\x81\x55\x0a") == b"\x81\xd4\x55\x0a"  # 55 and 0A are not escaped


def test_unstuff_accepts_overescaping_and_rejects_dangling_escape() -> None:
    assert sm2.unstuff(b"\x81\x00\x81\x5f") == b"\x55\x0a"
    with pytest.raises(ProtocolError, match="dangling"):
        sm2.unstuff(b"\x01\x81")


def test_decoder_accepts_frame_from_overescaping_host() -> None:
    body = b"\x81\x00\x04"  # pn 0x55 escaped needlessly, as pyScienceMode does
    frame = bytes((0xF0, 0x81, sm2.crc8(body) ^ 0x55, 0x81, len(body) ^ 0x55)) + body + b"\x0f"
    assert Decoder().feed(frame) == [Packet(0x55, 4, b"")]


def _frames(*names: str) -> list[Vector]:
    return [VECTORS[IDS.index(n)] for n in names]


def test_garbage_before_and_between_frames() -> None:
    a1, a24, a25 = _frames("A-1", "A-24", "A-25")
    garbage1 = bytes.fromhex("00 0F 81 55 12")
    garbage2 = bytes.fromhex("0F 0F 81")
    stream = garbage1 + a1.frame + garbage2 + a24.frame + a25.frame
    d = Decoder()
    got = d.feed(stream)
    assert got == [Packet(a.pn, a.command, a.data) for a in (a1, a24, a25)]
    assert d.frames_ok == 3 and d.frames_bad == 0
    assert d.bytes_discarded == len(garbage1) + len(garbage2)
    d2 = Decoder()
    got2 = [p for b in stream for p in d2.feed(bytes((b,)))]
    assert got2 == got and d2.bytes_discarded == d.bytes_discarded


def test_bytes_in_and_bytes_since_the_last_packet_are_counted_across_feeds() -> None:
    """What a link reports when an answer is missing: how much came after the last valid packet."""
    init = sm2.init(1)
    d = sm2.Decoder()
    assert (d.bytes_in, d.bytes_since_packet) == (0, 0)
    d.feed(b"\x01\x02\x03")
    assert (d.bytes_in, d.bytes_since_packet) == (3, 3)  # before any packet: all of it
    d.feed(init + b"\x04\x05")  # a packet, then two bytes after it in the same chunk
    assert (d.bytes_in, d.bytes_since_packet, d.frames_ok) == (3 + len(init) + 2, 2, 1)
    d.feed(init[:4])  # the start of the next packet: counted while it is incomplete
    assert d.bytes_since_packet == 6
    d.feed(init[4:])  # it completes: nothing after it
    assert (d.bytes_since_packet, d.frames_ok) == (0, 2)
    d.feed(b"\xf0\x00\x0f")  # a bad frame is no packet
    assert (d.bytes_since_packet, d.frames_bad) == (3, 1)
    d.feed(init + init[:2])
    assert d.bytes_since_packet == 2 and d.bytes_in == 3 + 2 * len(init) + 2 + 3 + len(init) + 2


def test_truncated_frame_then_good_frame_resyncs() -> None:
    a10, a11 = _frames("A-10", "A-11")
    truncated = a10.frame[:9]
    d = Decoder()
    got = d.feed(truncated + a11.frame)
    assert len(got) == 2
    assert isinstance(got[0], BadFrame) and got[0].raw == truncated
    assert got[0].command is None and "truncated" in got[0].reason
    assert got[1] == Packet(1, Cmd.START_CHANNEL_LIST_MODE_ACK, b"\x00")
    assert (d.frames_ok, d.frames_bad, d.bytes_discarded) == (1, 1, 0)


@pytest.mark.parametrize("cut", [2, 4, 6])
def test_truncated_after_escape_byte_does_not_swallow_next_frame(cut: int) -> None:
    a24, a2 = _frames("A-24", "A-2")
    truncated = a24.frame[:cut]  # ends with 0x81: the next F0 looks escaped
    assert truncated[-1] == 0x81
    d = Decoder()
    got = d.feed(truncated + a2.frame)
    assert got[-1] == Packet(0, Cmd.INIT_ACK, b"\x00")
    assert isinstance(got[0], BadFrame) and got[0].command is None
    assert (d.frames_ok, d.frames_bad) == (1, 1)


def test_bad_crc_gives_badframe_with_command() -> None:
    frame = bytearray(_frames("A-10")[0].frame)
    frame[2] ^= 0x01
    d = Decoder()
    got = d.feed(bytes(frame) + _frames("A-6")[0].frame)
    assert isinstance(got[0], BadFrame)
    assert "checksum" in got[0].reason
    assert (got[0].packet_number, got[0].command) == (1, Cmd.START_CHANNEL_LIST_MODE)
    assert got[0].raw == bytes(frame)
    assert got[1] == Packet(4, Cmd.WATCHDOG, b"")
    assert (d.frames_ok, d.frames_bad) == (1, 1)


def test_bad_crc_recovers_escaped_packet_number() -> None:
    frame = bytearray(_frames("A-24")[0].frame)
    frame[9] = 0x01  # corrupt a data byte
    (bad,) = Decoder().feed(bytes(frame))
    assert isinstance(bad, BadFrame)
    assert (bad.packet_number, bad.command) == (0x0F, Cmd.START_CHANNEL_LIST_MODE)


def test_bad_length_gives_badframe_with_command() -> None:
    frame = bytearray(_frames("A-7")[0].frame)
    frame[4] = 9 ^ 0x55 ^ 0x01  # claims 8 bytes, body has 9
    (bad,) = Decoder().feed(bytes(frame))
    assert isinstance(bad, BadFrame) and "length" in bad.reason
    assert (bad.packet_number, bad.command) == (0, Cmd.INIT_CHANNEL_LIST_MODE)


def test_missing_escape_in_header_gives_badframe_without_command() -> None:
    (bad,) = Decoder().feed(bytes.fromhex("F0 80 47 81 56 00 01 01 0F"))
    assert isinstance(bad, BadFrame) and "byte 1" in bad.reason and bad.command is None
    (bad,) = Decoder().feed(bytes.fromhex("F0 81 47 80 56 00 01 01 0F"))
    assert isinstance(bad, BadFrame) and "byte 3" in bad.reason


def test_overlong_span_is_dropped_and_buffer_bounded() -> None:
    d = Decoder()
    got = d.feed(b"\xf0" + b"\x11" * 500)
    assert len(got) == 1 and isinstance(got[0], BadFrame) and got[0].command is None
    assert len(got[0].raw) == sm2.MAX_FRAME_LEN
    assert d.pending == 0
    assert d.bytes_discarded == 501 - sm2.MAX_FRAME_LEN
    a1 = _frames("A-1")[0]
    assert d.feed(a1.frame) == [Packet(0, 1, b"\x01")]
    d2 = Decoder()
    for _ in range(1000):
        d2.feed(b"\x11\x81")
        assert d2.pending <= sm2.MAX_FRAME_LEN


def test_longest_legal_frame_decodes() -> None:
    data = b"\xf0" * sm2.MAX_DATA_LEN
    frame = sm2.encode_packet(0x81, 0x0F, data)
    assert len(frame) == sm2.MAX_FRAME_LEN
    assert Decoder().feed(frame) == [Packet(0x81, 0x0F, data)]


def test_decode_frame_rejects_anything_but_one_frame() -> None:
    a1, a2 = _frames("A-1", "A-2")
    with pytest.raises(ProtocolError):
        sm2.decode_frame(a1.frame + a2.frame)
    with pytest.raises(ProtocolError):
        sm2.decode_frame(a1.frame[:-1])
    with pytest.raises(ProtocolError, match="checksum"):
        sm2.decode_frame(a1.frame[:2] + b"\x00" + a1.frame[3:])


# ----------------------------------------------------------------- coding helpers


def test_time_coding_examples() -> None:
    assert sm2.frequency_code_for_hz(50) == 38
    assert sm2.frequency_code_for_hz(40) == 48
    assert sm2.frequency_code_for_hz(20) == 98
    assert sm2.main_time_code(8) == 14
    assert sm2.main_time_code(20.0) == 38
    assert sm2.main_time_code(33.0) == 64
    assert sm2.main_interval_ms(48) == 25.0
    assert sm2.frequency_hz(38) == 50.0
    assert sm2.frequency_hz(0) == 0.0
    assert sm2.group_time_code(8) == 13
    assert sm2.group_interval_ms(13) == 8.0
    assert sm2.group_interval_ms(0) == 1.5
    assert sm2.main_interval_ms(2048) == 1025.0
    assert sm2.frequency_code_for_hz(30) == 65  # 29.85 Hz is nearer than 30.30 Hz
    assert sm2.frequency_code_for_hz(1e6) == 1  # never the one-shot code 0
    assert sm2.frequency_code_for_hz(0.01) == 2048


@pytest.mark.parametrize("call", [
    lambda: sm2.main_time_code(8.2),
    lambda: sm2.main_time_code(0.5),
    lambda: sm2.main_time_code(1026),
    lambda: sm2.main_time_code(float("nan")),
    lambda: sm2.group_time_code(1.0),
    lambda: sm2.group_time_code(129.5),
    lambda: sm2.main_interval_ms(2049),
    lambda: sm2.frequency_code_for_hz(0),
    lambda: sm2.frequency_code_for_hz(-5),
])
def test_time_coding_rejects(call: Callable[[], object]) -> None:
    with pytest.raises(ProtocolError):
        call()


# ----------------------------------------------------------------- builder validation


@pytest.mark.parametrize("call, field", [
    (lambda: sm2.watchdog(256), "packet_number"),
    (lambda: sm2.watchdog(-1), "packet_number"),
    (lambda: sm2.single_pulse(0, 8, 200, 20), "channel_index"),
    (lambda: sm2.single_pulse(0, 0, 65536, 20), "pulse_width_us"),
    (lambda: sm2.single_pulse(0, 0, 200, 256), "current_ma"),
    (lambda: sm2.start_channel_list_mode(0, [ChannelSetting(3, 200, 20)]), "settings[0].mode"),
    (lambda: sm2.start_channel_list_mode(0, [ChannelSetting(0, 200, 20), ChannelSetting(0, -1, 20)]),
     "settings[1].pulse_width_us"),
    (lambda: sm2.start_channel_list_mode(0, [ChannelSetting(0, 200, 300)]), "settings[0].current_ma"),
    (lambda: sm2.start_channel_list_mode(0, []), "number of channel settings"),
    (lambda: sm2.start_channel_list_mode(0, [ChannelSetting(0, 200, 20)] * 9), "number of channel settings"),
    (lambda: sm2.init_channel_list_mode(0, active_channels=256, group_time_code=13, main_time_code=48),
     "active_channels"),
    (lambda: sm2.init_channel_list_mode(0, active_channels=1, group_time_code=13, main_time_code=2049),
     "main_time_code"),
    (lambda: sm2.init_channel_list_mode(0, active_channels=1, group_time_code=256, main_time_code=48),
     "group_time_code"),
    (lambda: sm2.init_channel_list_mode(0, active_channels=1, low_frequency_factor=8,
                                        group_time_code=13, main_time_code=48), "low_frequency_factor"),
    (lambda: sm2.init_channel_list_mode(0, active_channels=1, group_time_code=13, main_time_code=48,
                                        channel_execution=2), "channel_execution"),
    (lambda: sm2.init_ack(0, 128), "result"),
    (lambda: sm2.stimulation_error(0, -129), "error"),
    (lambda: sm2.get_stimulation_mode_ack(0, 0), "mode"),
    (lambda: sm2.get_stimulation_mode_ack(0, -8, 1), "mode"),
    (lambda: sm2.ack(0, Cmd.WATCHDOG, 0), "ack_command"),
    (lambda: sm2.encode_packet(0, 300), "command"),
    (lambda: sm2.encode_packet(0, 4, bytes(61)), "61 bytes"),
    (lambda: sm2.single_pulse(True, 0, 200, 20), "packet_number"),
])
def test_builders_validate_and_name_the_field(call: Callable[[], bytes], field: str) -> None:
    with pytest.raises(ProtocolError, match=field.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        call()


# ----------------------------------------------------------------- parse errors


@pytest.mark.parametrize("packet, words", [
    (Packet(0, Cmd.WATCHDOG, b"\x00"), ["WATCHDOG", "0", "1"]),
    (Packet(0, Cmd.INIT_CHANNEL_LIST_MODE, bytes(6)), ["INIT_CHANNEL_LIST_MODE", "7", "6"]),
    (Packet(0, Cmd.SINGLE_PULSE, bytes(5)), ["SINGLE_PULSE", "4", "5"]),
    (Packet(0, Cmd.START_CHANNEL_LIST_MODE, bytes(6)), ["START_CHANNEL_LIST_MODE", "6"]),
    (Packet(0, Cmd.START_CHANNEL_LIST_MODE, b""), ["START_CHANNEL_LIST_MODE", "0"]),
    (Packet(0, Cmd.GET_STIMULATION_MODE_ACK, b"\x00"), ["GET_STIMULATION_MODE_ACK", "2", "1"]),
    (Packet(0, Cmd.GET_STIMULATION_MODE_ACK, b"\xf8\x00"), ["GET_STIMULATION_MODE_ACK", "1", "2"]),
    (Packet(0, Cmd.START_CHANNEL_LIST_MODE_ACK, b""), ["START_CHANNEL_LIST_MODE_ACK"]),
    (Packet(0, Cmd.INIT, b""), ["INIT", "1", "0"]),
    (Packet(0, 99, b""), ["unknown", "99"]),
])
def test_parse_rejects_wrong_lengths(packet: Packet, words: list[str]) -> None:
    with pytest.raises(ProtocolError) as info:
        sm2.parse(packet)
    for word in words:
        assert word in str(info.value)


def test_parse_start_checks_block_count_against_mask() -> None:
    packet = sm2.decode_frame(_frames("A-10")[0].frame)
    assert len(sm2.parse(packet, active_channels=0b11).settings) == 2  # type: ignore[union-attr]
    assert len(sm2.parse(packet, active_channels=0b10000001).settings) == 2  # type: ignore[union-attr]
    with pytest.raises(ProtocolError, match="2 channel blocks"):
        sm2.parse(packet, active_channels=0b111)


def test_ack_of_covers_every_command_with_an_ack() -> None:
    assert sm2.ACK_OF[Cmd.START_CHANNEL_LIST_MODE] is Cmd.START_CHANNEL_LIST_MODE_ACK
    assert Cmd.WATCHDOG not in sm2.ACK_OF
    assert all(ack == cmd + 1 for cmd, ack in sm2.ACK_OF.items())


def test_describe_packets_and_bad_frames() -> None:
    d = sm2.describe(sm2.decode_frame(_frames("A-12")[0].frame))
    assert d["command"] == "START_CHANNEL_LIST_MODE_ACK" and d["result"] == -8
    assert d["result_name"] == "BUSY"
    d = sm2.describe(sm2.decode_frame(_frames("A-10")[0].frame))
    assert d["fields"]["settings"][1] == {"mode": 0, "pulse_width_us": 250, "current_ma": 20}
    d = sm2.describe(sm2.decode_frame(_frames("A-20")[0].frame))
    assert d["fields"] == {"mode": 0} and d["result"] == 0
    d = sm2.describe(sm2.decode_frame(_frames("A-7")[0].frame))
    assert d["fields"]["channel_numbers"] == [1, 2] and d["fields"]["frequency_hz"] == 40.0
    d = sm2.describe(Packet(1, 99, b"\x01"))
    assert d["command"] is None and "error" in d
    d = sm2.describe(BadFrame("checksum", b"\xf0", 1, 32))
    assert d == {"bad": "checksum", "packet_number": 1, "command_id": 32,
                 "command": "START_CHANNEL_LIST_MODE"}


# --------------------------------------------------------------------------- published hosts' quirks


PSM_GET_MODE = bytes.fromhex("F0 81 DA 81 57 01 5F 0F")
"""pysciencemode 1.1.5's GetStimulationMode at pn 1 (stimulators.md C-2 trap 1), instead of A-3."""


def test_strict_decoder_keeps_the_xored_command_and_lenient_maps_it_back() -> None:
    assert sm2.decode_frame(PSM_GET_MODE) == sm2.Packet(1, 0x5F, b"")  # decode_frame (the gate's) is strict
    d = sm2.Decoder(lenient=True)
    (p,) = d.feed(PSM_GET_MODE)
    assert p == sm2.Packet(1, sm2.Cmd.GET_STIMULATION_MODE, b"") and p.quirks == (sm2.QUIRK_XOR_COMMAND,)
    assert d.quirks == {sm2.QUIRK_XOR_COMMAND: 1}
    assert sm2.describe(p)["quirks"] == [sm2.QUIRK_XOR_COMMAND]
    assert "quirks" not in sm2.describe(sm2.decode_frame(sm2.get_stimulation_mode(1)))
    assert sm2.PYSCIENCEMODE_XORED_COMMANDS == {0x5F: sm2.Cmd.GET_STIMULATION_MODE}


def test_every_quirk_has_a_description() -> None:
    names = {sm2.QUIRK_OVER_ESCAPED, sm2.QUIRK_XOR_COMMAND, sm2.QUIRK_XOR_PACKET_NUMBER,
             sm2.QUIRK_KEEPALIVE_GAP, sm2.QUIRK_SHORT_GROUP_TIME}
    assert set(sm2.QUIRKS) == names and all(sm2.QUIRKS.values())


@pytest.mark.parametrize(("init_pn", "answered"), [(10, 0x5F), (15, 0xD4), (85, 0x00), (129, 0xD4), (240, 0xD4),
                                                    (0, 0), (14, 14), (0x5A, 0x5A), (255, 255)])
def test_pysciencemode_init_ack_packet_number(init_pn: int, answered: int) -> None:
    assert sm2.pysciencemode_init_ack_pn(init_pn) == answered


def test_over_escaped_counts_only_needless_escapes() -> None:
    assert sm2.over_escaped(bytes.fromhex("01 20 81 00 81 5F 81 A5 81 5A 81 D4")) == 2
    assert sm2.over_escaped(sm2.stuff(bytes(range(256)))) == 0
    assert sm2.over_escaped(b"\x81") == 0  # a dangling escape is the frame check's business


def test_quirks_do_not_change_packet_equality() -> None:
    assert sm2.Packet(1, 10, b"", (sm2.QUIRK_XOR_COMMAND,)) == sm2.Packet(1, 10, b"")
