"""ScienceMode4 mid-level codec against every byte example of stimulators.md Part B.

B-1..B-20 plus the two further S9 vectors quoted in B.6 (Ll_init pn 0, Ll_stop pn 2), and the
field examples of B.3 (points, period words). Each frame vector is built, encoded, decoded in
every split and parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from fescontrol.errors import ProtocolError
from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.protocol.sciencemode4 import (
    Ack,
    BadFrame,
    BatteryStatusAck,
    ChannelState,
    Cmd,
    CurrentDataAck,
    Decoder,
    DeviceIdAck,
    ExtendedVersionAck,
    MainStatusAck,
    MlChannel,
    MlGetCurrentData,
    MlInit,
    MlStop,
    MlUpdate,
    Packet,
    Point,
    Request,
    Result,
    StimStatusAck,
    VersionAck,
)

P = Point

B2_CHANNELS = (
    MlChannel(0, 20.0, (P(200, 20.0), P(100, 0.0), P(200, -20.0)), ramp=3),
    MlChannel(1, 10.0, (P(100, 10.0), P(100, 0.0), P(100, -10.0)), ramp=3),
)
B7_CHANNELS = (
    MlChannel(0, 25.0, (P(300, 30.0), P(100, 0.0), P(300, -30.0))),
    MlChannel(1, 25.0, (P(250, 15.0), P(100, 0.0), P(250, -15.0))),
)


@dataclass(frozen=True)
class Vector:
    name: str
    frame: bytes
    pn: int
    command: int
    prefix: bytes
    data: bytes
    length: int
    crc: int
    build: Callable[[], bytes]
    message: object  # None: a low-level packet, framed but not parsed by this codec


def _v(name: str, frame: str, pn: int, command: int, prefix: str, data: str, length: int, crc: int,
       build: Callable[[], bytes], message: object) -> Vector:
    return Vector(name, bytes.fromhex(frame), pn, command, bytes.fromhex(prefix), bytes.fromhex(data),
                  length, crc, build, message)


VECTORS = [
    _v("B-1", "F0 81 55 81 58 81 75 81 29 00 1E 00 0F", 0, Cmd.ML_INIT, "00 1E", "00", 13, 0x207C,
       lambda: sm4.ml_init(0), MlInit(0, False)),
    _v("B-2", "F0 81 55 81 7E 81 5D 81 42 04 20 03 23 00 50 0C 85 50 00 06 44 B0 00 0C 84 10 00 23 00 28 "
              "06 45 00 00 06 44 B0 00 06 44 60 00 0F", 1, Cmd.ML_UPDATE, "04 20",
       "03 23 00 50 0C 85 50 00 06 44 B0 00 0C 84 10 00 23 00 28 06 45 00 00 06 44 B0 00 06 44 60 00",
       43, 0x0817, lambda: sm4.ml_update(1, B2_CHANNELS, channel_count=sm4.REHAMOVE3_CHANNELS),
       MlUpdate(1, B2_CHANNELS)),
    _v("B-3", "F0 81 55 81 58 81 16 81 94 08 24 02 0F", 2, Cmd.ML_GET_CURRENT_DATA, "08 24", "02", 13, 0x43C1,
       lambda: sm4.ml_get_current_data(2, sm4.REHAMOVE3_SELECTION), MlGetCurrentData(2, 2)),
    _v("B-4", "F0 81 55 81 59 81 14 81 18 0C 22 0F", 3, Cmd.ML_STOP, "0C 22", "", 12, 0x414D,
       lambda: sm4.ml_stop(3), MlStop(3)),
    _v("B-5", "F0 81 55 81 4E 81 D3 81 AF 04 02 82 81 5A A5 50 00 06 44 B0 00 81 5A A4 10 00 0F",
       1, Cmd.LL_CHANNEL_CONFIG, "04 02", "82 0F A5 50 00 06 44 B0 00 0F A4 10 00", 27, 0x86FA,
       lambda: sm4.encode_packet(1, Cmd.LL_CHANNEL_CONFIG, bytes.fromhex("82 0F A5 50 00 06 44 B0 00 0F A4 10 00")),
       None),
    _v("B-6", "F0 81 55 81 58 81 46 81 18 00 1F 00 0F", 0, Cmd.ML_INIT_ACK, "00 1F", "00", 13, 0x134D,
       lambda: sm4.ack(0, Cmd.ML_INIT_ACK, Result.SUCCESSFUL), Ack(0, Cmd.ML_INIT_ACK, 0)),
    _v("B-7", "F0 81 55 81 78 81 9F 81 02 14 20 03 20 00 64 12 C5 A0 00 06 44 B0 00 12 C3 C0 00 20 00 64 "
              "81 5A A5 28 00 06 44 B0 00 81 5A A4 38 00 0F", 5, Cmd.ML_UPDATE, "14 20",
       "03 20 00 64 12 C5 A0 00 06 44 B0 00 12 C3 C0 00 20 00 64 0F A5 28 00 06 44 B0 00 0F A4 38 00",
       45, 0xCA57, lambda: sm4.ml_update(5, B7_CHANNELS), MlUpdate(5, B7_CHANNELS)),
    _v("B-8", "F0 81 55 81 58 81 DF 81 63 14 21 02 0F", 5, Cmd.ML_UPDATE_ACK, "14 21", "02", 13, 0x8A36,
       lambda: sm4.ack(5, Cmd.ML_UPDATE_ACK, Result.PARAMETER_ERROR), Ack(5, Cmd.ML_UPDATE_ACK, 2)),
    _v("B-9", "F0 81 55 81 58 81 35 81 31 18 24 04 0F", 6, Cmd.ML_GET_CURRENT_DATA, "18 24", "04", 13, 0x6064,
       lambda: sm4.ml_get_current_data(6, sm4.P24_SELECTION), MlGetCurrentData(6, 4)),
    _v("B-10", "F0 81 55 81 46 81 AB 81 D5 18 25 00 04 01 10 00 00 00 0F", 6, Cmd.ML_GET_CURRENT_DATA_ACK,
       "18 25", "00 04 01 10 00 00 00", 19, 0xFE80,
       lambda: sm4.ml_get_current_data_ack(6, 0, 4, sm4.channel_status(0x01, [0, 1, 0, 0, 0, 0, 0, 0])),
       CurrentDataAck(6, 0, 4, bytes.fromhex("01 10 00 00 00"))),
    _v("B-11", "F0 81 55 81 5A 81 88 81 62 08 25 00 02 12 0F", 2, Cmd.ML_GET_CURRENT_DATA_ACK, "08 25",
       "00 02 12", 15, 0xDD37,
       lambda: sm4.ml_get_current_data_ack(2, 0, 2, sm4.stimulation_status(True, 0b0010)),
       CurrentDataAck(2, 0, 2, b"\x12")),
    _v("B-12", "F0 81 55 81 5B 81 42 81 D5 81 A5 24 02 0F", 60, Cmd.ML_GET_CURRENT_DATA, "F0 24", "02",
       14, 0x1780, lambda: sm4.ml_get_current_data(60, 2), MlGetCurrentData(60, 2)),
    _v("B-13", "F0 81 55 81 58 81 0F 81 F1 3C 24 02 0F", 15, Cmd.ML_GET_CURRENT_DATA, "3C 24", "02",
       13, 0x5AA4, lambda: sm4.ml_get_current_data(15, 2), MlGetCurrentData(15, 2)),
    _v("B-14", "F0 81 55 81 59 81 17 81 6B 1C 22 0F", 7, Cmd.ML_STOP, "1C 22", "", 12, 0x423E,
       lambda: sm4.ml_stop(7), MlStop(7)),
    _v("B-15", "F0 81 55 81 58 81 30 81 E2 1C 23 00 0F", 7, Cmd.ML_STOP_ACK, "1C 23", "00", 13, 0x65B7,
       lambda: sm4.ack(7, Cmd.ML_STOP_ACK, 0), Ack(7, Cmd.ML_STOP_ACK, 0)),
    _v("B-16", "F0 81 55 81 59 81 84 81 2E 20 3E 0F", 8, Cmd.GET_STIM_STATUS, "20 3E", "", 12, 0xD17B,
       lambda: sm4.get_stim_status(8), Request(8, Cmd.GET_STIM_STATUS)),
    _v("B-17", "F0 81 55 81 5A 81 90 81 73 20 3F 00 03 06 0F", 8, Cmd.GET_STIM_STATUS_ACK, "20 3F",
       "00 03 06", 15, 0xC526,
       lambda: sm4.stim_status_ack(8, 0, sm4.StimStatus.MID_LEVEL_RUNNING, sm4.HighVoltage.V150),
       StimStatusAck(8, 0, 3, 6)),
    _v("B-18", "F0 81 55 81 44 81 33 81 6B 2C 37 00 57 81 5A AC 0F", 11, Cmd.GET_BATTERY_STATUS_ACK, "2C 37",
       "00 57 0F AC", 17, 0x663E, lambda: sm4.battery_status_ack(11, 0, 87, 4012),
       BatteryStatusAck(11, 0, 87, 4012)),
    _v("B-19", "F0 81 55 81 59 81 89 81 66 24 32 0F", 9, Cmd.GET_VERSION_MAIN, "24 32", "", 12, 0xDC33,
       lambda: sm4.get_version_main(9), Request(9, Cmd.GET_VERSION_MAIN)),
    _v("B-20", "F0 81 55 81 59 81 AC 81 CD 28 34 0F", 10, Cmd.GET_DEVICE_ID, "28 34", "", 12, 0xF998,
       lambda: sm4.get_device_id(10), Request(10, Cmd.GET_DEVICE_ID)),
    # the two further S9 vectors quoted in the B.6 preamble
    _v("S9-Ll_init", "F0 81 55 81 58 81 55 81 55 00 00 00 0F", 0, Cmd.LL_INIT, "00 00", "00", 13, 0x0000,
       lambda: sm4.encode_packet(0, Cmd.LL_INIT, b"\x00"), None),
    _v("S9-Ll_stop", "F0 81 55 81 59 81 9C 81 78 08 04 0F", 2, Cmd.LL_STOP, "08 04", "", 12, 0xC92D,
       lambda: sm4.encode_packet(2, Cmd.LL_STOP), None),
]

IDS = [v.name for v in VECTORS]


def _frames(*names: str) -> list[Vector]:
    return [VECTORS[IDS.index(n)] for n in names]


def test_all_22_frame_vectors_present() -> None:
    assert IDS == [f"B-{i}" for i in range(1, 21)] + ["S9-Ll_init", "S9-Ll_stop"]


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_builder_gives_exact_frame(v: Vector) -> None:
    assert v.build() == v.frame
    assert sm4.encode_packet(v.pn, v.command, v.data) == v.frame
    assert sm4.encode(Packet(v.pn, v.command, v.data)) == v.frame


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_header_fields_match_reference(v: Vector) -> None:
    f = v.frame
    assert f[0] == 0xF0 and f[-1] == 0x0F
    assert (f[1], f[3], f[5], f[7]) == (0x81,) * 4
    length = (f[2] ^ 0x55) << 8 | (f[4] ^ 0x55)
    crc = (f[6] ^ 0x55) << 8 | (f[8] ^ 0x55)
    assert (length, crc) == (v.length, v.crc)
    assert length == len(f)  # the whole frame, start and stop included (trap C-10)
    assert crc == sm4.crc16(f[9:-1])  # over the stuffed bytes
    assert (v.pn << 10 | v.command).to_bytes(2, "big") == v.prefix
    assert sm4.unstuff(f[9:-1]) == v.prefix + v.data


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
    packet = sm4.decode_frame(v.frame)
    if v.message is None:
        with pytest.raises(ProtocolError, match="low-level"):
            sm4.parse(packet)
    else:
        assert sm4.parse(packet) == v.message


def test_parsed_properties_of_vectors() -> None:
    b10 = sm4.parse(sm4.decode_frame(_frames("B-10")[0].frame))
    assert isinstance(b10, CurrentDataAck)
    assert b10.active_channels == 0x01 and b10.stimulating is True
    assert b10.channel_states == (ChannelState.OK, ChannelState.ELECTRODE_ERROR) + (ChannelState.OK,) * 6
    assert b10.electrode_errors == 0b10
    b11 = sm4.parse(sm4.decode_frame(_frames("B-11")[0].frame))
    assert isinstance(b11, CurrentDataAck)
    assert b11.stimulating is True and b11.active_channels is None
    assert b11.channel_states == (ChannelState.OK, ChannelState.ELECTRODE_ERROR, ChannelState.OK, ChannelState.OK)
    b7 = sm4.parse(sm4.decode_frame(_frames("B-7")[0].frame))
    assert isinstance(b7, MlUpdate) and b7.enable_mask == 0x03
    assert [ch.frequency_hz for ch in b7.channels] == [40.0, 40.0]
    b2 = sm4.parse(sm4.decode_frame(_frames("B-2")[0].frame))
    assert isinstance(b2, MlUpdate) and [ch.period_ms for ch in b2.channels] == [20.0, 10.0]


# ----------------------------------------------------------------- field examples of B.3


@pytest.mark.parametrize("point, wire", [
    (P(300, 30.0), "12 C5 A0 00"),
    (P(100, 0.0), "06 44 B0 00"),
    (P(300, -30.0), "12 C3 C0 00"),
])
def test_point_examples(point: Point, wire: str) -> None:
    assert sm4.point_bytes(point) == bytes.fromhex(wire)


def test_point_current_code_examples() -> None:
    assert sm4.current_code(30) == 360 == 0x168
    assert sm4.current_code(-130) == 40 and sm4.current_code(130) == 560
    assert sm4.current_ma_of_code(0) == -150.0 and sm4.current_ma_of_code(600) == 150.0


@pytest.mark.parametrize("ms, wire", [(25.0, "00 64"), (20.0, "00 50"), (10.0, "00 28"), (33.0, "00 84")])
def test_period_word_examples(ms: float, wire: str) -> None:
    word = sm4.period_word(ms)
    assert word.to_bytes(2, "big") == bytes.fromhex(wire)  # flag 0, code = 2 * ms, big-endian
    assert sm4.period_ms_of_word(word) == (ms, False)


def test_period_flag_is_opt_in() -> None:
    assert sm4.period_word(33.25, fine=True) == 133 << 1 | 1
    assert sm4.period_ms_of_word(133 << 1 | 1) == (33.25, True)
    with pytest.raises(ProtocolError, match="grid"):
        sm4.period_word(33.25)
    with pytest.raises(ProtocolError, match="grid"):
        sm4.period_word(100 / 3)  # 30 Hz has no exact code; S12 silently truncates to 33.0 ms
    frame = sm4.ml_update(0, [MlChannel(0, 33.25, (P(100, 10.0),), fine_period=True)])
    msg = sm4.parse(sm4.decode_frame(frame))
    assert isinstance(msg, MlUpdate) and msg.channels[0].period_ms == 33.25 and msg.channels[0].fine_period


# ----------------------------------------------------------------- CRC and stuffing


def _crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def test_crc_is_xmodem_over_stuffed_bytes() -> None:
    assert sm4.crc16(b"123456789") == 0x31C3
    assert sm4.crc16(b"") == 0
    b5 = _frames("B-5")[0]
    stuffed = b5.frame[9:-1]
    assert sm4.crc16(stuffed) == 0x86FA
    assert _crc16_ccitt_false(stuffed) == 0x4116  # the "CRC-CCITT" misreading (trap C-9)
    assert sm4.crc16(b5.prefix + b5.data) == 0xDC2B  # CRC over unstuffed bytes: wrong


def test_stuffing_of_b5_and_b12() -> None:
    b5, b12 = _frames("B-5", "B-12")
    assert sm4.stuff(b5.prefix + b5.data) == bytes.fromhex("04 02 82 81 5A A5 50 00 06 44 B0 00 81 5A A4 10 00")
    assert sm4.stuff(b12.prefix + b12.data) == bytes.fromhex("81 A5 24 02")  # pn 60 -> P0 = F0 (trap C-19)


def test_decoder_accepts_overescaped_bytes() -> None:
    body = bytes.fromhex("00 1F 81 00")  # Ml_init_ack with result 0x55 escaped needlessly (trap C-2)
    length = 9 + len(body) + 1
    frame = bytes((0xF0, 0x81, (length >> 8) ^ 0x55, 0x81, (length & 0xFF) ^ 0x55)) \
        + bytes((0x81, (sm4.crc16(body) >> 8) ^ 0x55, 0x81, (sm4.crc16(body) & 0xFF) ^ 0x55)) + body + b"\x0f"
    assert Decoder().feed(frame) == [Packet(0, Cmd.ML_INIT_ACK, b"\x55")]


def test_unescaped_prefix_f0_is_not_a_frame() -> None:
    """A host that copies P0 = F0 verbatim (trap C-19) produces a frame that must not decode."""
    body = bytes.fromhex("F0 24 02")
    length = 9 + len(body) + 1
    frame = bytes((0xF0, 0x81, (length >> 8) ^ 0x55, 0x81, (length & 0xFF) ^ 0x55,
                   0x81, (sm4.crc16(body) >> 8) ^ 0x55, 0x81, (sm4.crc16(body) & 0xFF) ^ 0x55)) + body + b"\x0f"
    d = Decoder()
    got = d.feed(frame)
    assert all(isinstance(item, BadFrame) for item in got)
    assert d.frames_ok == 0


# ----------------------------------------------------------------- decoder resync


def test_escaped_header_byte_0f_is_not_the_stop_byte() -> None:
    b13 = _frames("B-13")[0]
    assert b13.frame[6] == 0x0F  # trap C-5
    d = Decoder()
    assert d.feed(b13.frame[:7]) == []
    assert d.feed(b13.frame[7:]) == [Packet(15, Cmd.ML_GET_CURRENT_DATA, b"\x02")]


def test_garbage_before_and_between_frames() -> None:
    b1, b12, b13, b18 = _frames("B-1", "B-12", "B-13", "B-18")
    garbage1 = bytes.fromhex("00 0F 81 55 12")
    garbage2 = bytes.fromhex("0F 0F 81")
    garbage3 = bytes.fromhex("F0 00 F0")  # start bytes not followed by 81: noise
    stream = garbage1 + b1.frame + garbage2 + b12.frame + b13.frame + garbage3 + b18.frame
    d = Decoder()
    got = d.feed(stream)
    assert got == [Packet(a.pn, a.command, a.data) for a in (b1, b12, b13, b18)]
    assert d.frames_ok == 4 and d.frames_bad == 0
    assert d.bytes_discarded == len(garbage1) + len(garbage2) + len(garbage3)
    d2 = Decoder()
    got2 = [p for b in stream for p in d2.feed(bytes((b,)))]
    assert got2 == got and d2.bytes_discarded == d.bytes_discarded


def test_trailing_start_byte_waits_for_the_next_byte() -> None:
    d = Decoder()
    assert d.feed(b"\x00\xf0") == [] and d.pending == 1
    b4 = _frames("B-4")[0]
    assert d.feed(b4.frame[1:]) == [Packet(3, Cmd.ML_STOP, b"")]
    assert (d.bytes_discarded, d.pending) == (1, 0)


def test_truncated_frame_then_good_frame_resyncs() -> None:
    b7, b8 = _frames("B-7", "B-8")
    truncated = b7.frame[:20]
    d = Decoder()
    got = d.feed(truncated + b8.frame)
    assert len(got) == 2
    assert isinstance(got[0], BadFrame) and got[0].raw == truncated
    assert got[0].command is None and "truncated" in got[0].reason
    assert got[1] == Packet(5, Cmd.ML_UPDATE_ACK, b"\x02")
    assert (d.frames_ok, d.frames_bad, d.bytes_discarded) == (1, 1, 0)


@pytest.mark.parametrize("cut", [2, 4, 6, 8, 10])
def test_truncated_after_escape_byte_does_not_swallow_next_frame(cut: int) -> None:
    b12, b6 = _frames("B-12", "B-6")
    truncated = b12.frame[:cut]  # ends with 0x81: the next F0 looks escaped
    assert truncated[-1] == 0x81
    d = Decoder()
    got = d.feed(truncated + b6.frame)
    assert got[-1] == Packet(0, Cmd.ML_INIT_ACK, b"\x00")
    assert isinstance(got[0], BadFrame) and got[0].command is None
    assert (d.frames_ok, d.frames_bad) == (1, 1)


def test_bad_crc_gives_badframe_with_command() -> None:
    frame = bytearray(_frames("B-7")[0].frame)
    frame[8] ^= 0x01
    d = Decoder()
    got = d.feed(bytes(frame) + _frames("B-4")[0].frame)
    assert isinstance(got[0], BadFrame) and "checksum" in got[0].reason
    assert (got[0].packet_number, got[0].command) == (5, Cmd.ML_UPDATE)
    assert got[0].raw == bytes(frame)
    assert got[1] == Packet(3, Cmd.ML_STOP, b"")
    assert (d.frames_ok, d.frames_bad) == (1, 1)


def test_bad_crc_recovers_escaped_prefix() -> None:
    frame = bytearray(_frames("B-12")[0].frame)
    frame[12] = 0x03  # corrupt the data byte
    (bad,) = Decoder().feed(bytes(frame))
    assert isinstance(bad, BadFrame) and "checksum" in bad.reason
    assert (bad.packet_number, bad.command) == (60, Cmd.ML_GET_CURRENT_DATA)


def test_bad_length_gives_badframe_with_command() -> None:
    frame = bytearray(_frames("B-3")[0].frame)
    frame[4] = 14 ^ 0x55
    (bad,) = Decoder().feed(bytes(frame))
    assert isinstance(bad, BadFrame) and "length field says 14" in bad.reason
    assert (bad.packet_number, bad.command) == (2, Cmd.ML_GET_CURRENT_DATA)


@pytest.mark.parametrize("where", [1, 3, 5, 7])
def test_missing_escape_in_header_gives_badframe_without_command(where: int) -> None:
    frame = bytearray(_frames("B-1")[0].frame)
    frame[where] = 0x80
    d = Decoder()
    got = d.feed(bytes(frame))
    if where == 1:  # F0 not followed by 81 is noise, and the rest has no start byte
        assert got == [] and d.bytes_discarded == len(frame)
    else:
        assert len(got) == 1 and isinstance(got[0], BadFrame) and got[0].command is None
        assert f"byte {where}" in got[0].reason


def test_short_span_and_prefixless_body() -> None:
    d = Decoder()
    (bad,) = d.feed(bytes.fromhex("F0 81 55 0F"))
    assert isinstance(bad, BadFrame) and "shorter than a header" in bad.reason
    body = b"\x01"
    crc = sm4.crc16(body)
    frame = bytes((0xF0, 0x81, 0x55, 0x81, 11 ^ 0x55, 0x81, (crc >> 8) ^ 0x55, 0x81, (crc & 0xFF) ^ 0x55)) \
        + body + b"\x0f"
    (bad,) = d.feed(frame)
    assert isinstance(bad, BadFrame) and "needs the 2-byte" in bad.reason


def test_overlong_span_is_dropped_and_buffer_bounded() -> None:
    d = Decoder()
    got = d.feed(b"\xf0\x81" + b"\x11" * 1500)
    assert len(got) == 1 and isinstance(got[0], BadFrame) and got[0].command is None
    assert len(got[0].raw) == sm4.MAX_FRAME_LEN
    assert d.pending == 0 and d.bytes_discarded == 1502 - sm4.MAX_FRAME_LEN
    b1 = _frames("B-1")[0]
    assert d.feed(b1.frame) == [Packet(0, Cmd.ML_INIT, b"\x00")]
    d2 = Decoder()
    d2.feed(b"\xf0")
    for _ in range(1000):
        d2.feed(b"\x11\x81")
        assert d2.pending <= sm4.MAX_FRAME_LEN


def test_longest_legal_frame_decodes_bytewise() -> None:
    data = b"\x0f" * 593
    frame = sm4.encode_packet(60, 15, data)  # prefix F0 0F: every byte escaped
    assert len(frame) == sm4.MAX_FRAME_LEN
    d = Decoder()
    got = [p for i in range(len(frame)) for p in d.feed(frame[i:i + 1])]
    assert got == [Packet(60, 15, data)]
    with pytest.raises(ProtocolError, match="1202 bytes"):
        sm4.encode_packet(60, 15, data + b"\x0f")


def test_decode_frame_rejects_anything_but_one_frame() -> None:
    b1, b6 = _frames("B-1", "B-6")
    with pytest.raises(ProtocolError):
        sm4.decode_frame(b1.frame + b6.frame)
    with pytest.raises(ProtocolError):
        sm4.decode_frame(b1.frame[:-1])
    with pytest.raises(ProtocolError, match="checksum"):
        sm4.decode_frame(b1.frame[:6] + b"\x00" + b1.frame[7:])


def test_feed_with_raw_returns_wire_bytes() -> None:
    b4, b15 = _frames("B-4", "B-15")
    items = Decoder().feed_with_raw(b"\x00" + b4.frame + b15.frame)
    assert [raw for raw, _item in items] == [b4.frame, b15.frame]


# ----------------------------------------------------------------- builder validation


def _ch(**kw: object) -> MlChannel:
    base: dict[str, object] = dict(channel=0, period_ms=25.0, points=(P(200, 20.0), P(100, 0.0), P(200, -20.0)))
    base.update(kw)
    return MlChannel(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("call, words", [
    (lambda: sm4.ml_stop(64), ["packet_number", "64", "0..63"]),
    (lambda: sm4.ml_stop(-1), ["packet_number", "-1", "0..63"]),
    (lambda: sm4.ml_stop(True), ["packet_number", "True"]),
    (lambda: sm4.encode_packet(0, 1024), ["command", "1024", "0..1023"]),
    (lambda: sm4.ml_init(0, 1), ["stop_all_channels_on_error", "1"]),  # type: ignore[arg-type]
    (lambda: sm4.ml_get_current_data(0, 1), ["selection", "1", "2..4"]),
    (lambda: sm4.ml_get_current_data(0, 5), ["selection", "5", "2..4"]),
    (lambda: sm4.ml_update(0, []), ["number of channels", "0", "1..8"]),
    (lambda: sm4.ml_update(0, [_ch(channel=4)], channel_count=4), ["channels[0].channel", "4", "0..3"]),
    (lambda: sm4.ml_update(0, [_ch(channel=8)]), ["channels[0].channel", "8", "0..7"]),
    (lambda: sm4.ml_update(0, [_ch(), _ch()]), ["channels[1].channel", "0", "twice"]),
    (lambda: sm4.ml_update(0, [_ch(ramp=16)]), ["channels[0].ramp", "16", "0..15"]),
    (lambda: sm4.ml_update(0, [_ch(period_ms=0)]), ["channels[0].period_ms", "0", "0.5..16383"]),
    (lambda: sm4.ml_update(0, [_ch(period_ms=16383.5)]), ["channels[0].period_ms", "16383.5", "0.5..16383"]),
    (lambda: sm4.ml_update(0, [_ch(period_ms=25.2)]), ["channels[0].period_ms", "25.2", "0.5 ms grid"]),
    (lambda: sm4.ml_update(0, [_ch(period_ms=float("nan"))]), ["channels[0].period_ms", "nan"]),
    (lambda: sm4.ml_update(0, [_ch(period_ms=8192.0, fine_period=True)]),
     ["channels[0].period_ms", "8192", "0.25..8191.75"]),
    (lambda: sm4.ml_update(0, [_ch(fine_period=1)]), ["channels[0].fine_period", "1"]),
    (lambda: sm4.ml_update(0, [_ch(points=())]), ["channels[0].number of points", "0", "1..16"]),
    (lambda: sm4.ml_update(0, [_ch(points=(P(10, 1.0),) * 17)]), ["channels[0].number of points", "17", "1..16"]),
    (lambda: sm4.ml_update(0, [_ch(points=(P(4096, 1.0),))]), ["channels[0].points[0].time_us", "4096", "0..4095"]),
    (lambda: sm4.ml_update(0, [_ch(), _ch(channel=1, points=(P(100, 0.0), P(100, 130.5)))]),
     ["channels[1].points[1].current_ma", "130.5", "-130..130"]),
    (lambda: sm4.ml_update(0, [_ch(points=(P(100, 10.3),))]), ["channels[0].points[0].current_ma", "10.3", "0.5 mA"]),
    (lambda: sm4.ml_update(0, [_ch(period_ms=0.5, points=(P(500, 10.0),))]), ["pulse load", "1120", "1000"]),
    (lambda: sm4.ml_update(0, ["x"]), ["channels[0]", "MlChannel"]),  # type: ignore[list-item]
    (lambda: sm4.ml_update(0, [_ch()], channel_count=9), ["channel_count", "9", "1..8"]),
    (lambda: sm4.ack(0, Cmd.ML_INIT_ACK, 256), ["result", "256", "0..255"]),
    (lambda: sm4.ack(0, Cmd.GET_DEVICE_ID_ACK, 0), ["ack_command", "53"]),
    (lambda: sm4.version_ack(0, 0, (1, 2), (1, 2, 3)), ["firmware length", "2", "3..3"]),
    (lambda: sm4.version_ack(0, 0, (1, 2, 3), (1, 2, 256)), ["smpt[2]", "256", "0..255"]),
    (lambda: sm4.version_ack(0, 0, (1, 2, 3), (1, 2, 3), ack_command=Cmd.ML_INIT_ACK), ["ack_command", "31"]),
    (lambda: sm4.device_id_ack(0, 0, "short"), ["device_id", "short", "10 ASCII"]),
    (lambda: sm4.device_id_ack(0, 0, "caf\u00e9345678"), ["device_id", "10 ASCII"]),
    (lambda: sm4.battery_status_ack(0, 0, 101, 4000), ["level_percent", "101", "0..100"]),
    (lambda: sm4.battery_status_ack(0, 0, 50, 65536), ["voltage_mv", "65536", "0..65535"]),
    (lambda: sm4.stim_status_ack(0, 0, 4, 1), ["stim_status", "4", "0..3"]),
    (lambda: sm4.stim_status_ack(0, 0, 0, 0), ["high_voltage", "0", "1..6"]),
    (lambda: sm4.main_status_ack(0, 0, 300), ["main_status", "300", "0..255"]),
    (lambda: sm4.extended_version_ack(0, 0, (1, 0, 0), (4, 0, 0), 2**32, 1, True), ["firmware_hash", "4294967296"]),
    (lambda: sm4.extended_version_ack(0, 0, (1, 0, 0), (4, 0, 0), 1, 4, True), ["hash_type", "4", "1..3"]),
    (lambda: sm4.stimulation_status(True, 0x10), ["electrode_errors", "16", "0..15"]),
    (lambda: sm4.stimulation_status(True, 0x100, eight_channels=True), ["electrode_errors", "256", "0..255"]),
    (lambda: sm4.channel_status(0, [0] * 7), ["number of states", "7", "8..8"]),
    (lambda: sm4.channel_status(0, [0] * 7 + [4]), ["states[7]", "4", "0..3"]),
    (lambda: sm4.ml_get_current_data_ack(0, 0, 4, b"\x00"), ["status", "1 bytes", "selection 4 needs 5"]),
    (lambda: sm4.next_packet_number(64), ["packet_number", "64", "0..63"]),
])
def test_builders_validate_and_name_field_value_and_range(call: Callable[[], object], words: list[str]) -> None:
    with pytest.raises(ProtocolError) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_ml_update_sorts_blocks_and_skips_disabled_channels() -> None:
    """Only enabled channels get a block, in ascending order (trap C-12)."""
    swapped = sm4.ml_update(5, [B7_CHANNELS[1], B7_CHANNELS[0]])
    assert swapped == _frames("B-7")[0].frame
    frame = sm4.ml_update(0, [_ch(channel=7), _ch(channel=2)])
    msg = sm4.parse(sm4.decode_frame(frame))
    assert isinstance(msg, MlUpdate) and msg.enable_mask == 0b1000_0100
    assert [ch.channel for ch in msg.channels] == [2, 7]


def test_pulse_load_matches_s12_rule() -> None:
    assert sm4.pulse_load(B2_CHANNELS) == pytest.approx((560 / 20) + (360 / 10))
    sm4.ml_update(0, [_ch(period_ms=1.0, points=(P(939, 1.0),))])  # 999 < 1000
    with pytest.raises(ProtocolError, match="pulse load"):
        sm4.ml_update(0, [_ch(period_ms=1.0, points=(P(940, 1.0),))])


def test_next_packet_number_wraps_at_64() -> None:
    assert sm4.next_packet_number(0) == 1
    assert sm4.next_packet_number(63) == 0


# ----------------------------------------------------------------- device packets round trip


@pytest.mark.parametrize("frame, message", [
    (lambda: sm4.version_ack(3, 0, (3, 2, 4), (4, 0, 1)), VersionAck(3, Cmd.GET_VERSION_MAIN_ACK, 0, (3, 2, 4), (4, 0, 1))),
    (lambda: sm4.version_ack(3, 0, (1, 0, 0), (4, 0, 1), ack_command=Cmd.GET_VERSION_STIM_ACK),
     VersionAck(3, Cmd.GET_VERSION_STIM_ACK, 0, (1, 0, 0), (4, 0, 1))),
    (lambda: sm4.device_id_ack(4, 0, "2301P24007"), DeviceIdAck(4, 0, "2301P24007")),
    (lambda: sm4.main_status_ack(5, 0, 0x0F), MainStatusAck(5, 0, 0x0F)),
    (lambda: sm4.extended_version_ack(6, 0, (1, 2, 3), (4, 0, 0), 0xDEADBEEF, sm4.HashType.GIT, True),
     ExtendedVersionAck(6, 0, (1, 2, 3), (4, 0, 0), 0xDEADBEEF, 1, True)),
    (lambda: sm4.ack(7, Cmd.RESET_ACK, 0), Ack(7, Cmd.RESET_ACK, 0)),
    (lambda: sm4.ack(8, Cmd.GENERAL_ERROR, Result.TRANSFER_ERROR), Ack(8, Cmd.GENERAL_ERROR, 1)),
    (lambda: sm4.unknown_cmd(9), Ack(9, Cmd.UNKNOWN_CMD, 11)),
    (lambda: sm4.ml_init(10, True), MlInit(10, True)),
    (lambda: sm4.get_version_stim(11), Request(11, Cmd.GET_VERSION_STIM)),
    (lambda: sm4.get_extended_version(12), Request(12, Cmd.GET_EXTENDED_VERSION)),
    (lambda: sm4.get_battery_status(13), Request(13, Cmd.GET_BATTERY_STATUS)),
    (lambda: sm4.get_main_status(14), Request(14, Cmd.GET_MAIN_STATUS)),
    (lambda: sm4.reset(15), Request(15, Cmd.RESET)),
    (lambda: sm4.ml_get_current_data(16, 3), MlGetCurrentData(16, 3)),
    (lambda: sm4.ml_get_current_data_ack(17, 0, 3, sm4.stimulation_status(False, 0x90, eight_channels=True)),
     CurrentDataAck(17, 0, 3, b"\x00\x09")),
    (lambda: sm4.ml_get_current_data_ack(18, Result.NOT_INITIALIZED_ERROR, 9, b""), CurrentDataAck(18, 7, 9, b"")),
])
def test_device_and_host_packets_round_trip(frame: Callable[[], bytes], message: object) -> None:
    assert sm4.parse(sm4.decode_frame(frame())) == message


def test_selection_3_status_and_unknown_selection() -> None:
    msg = sm4.parse(sm4.decode_frame(sm4.ml_get_current_data_ack(
        0, 0, 3, sm4.stimulation_status(True, 0b1001_0001, eight_channels=True))))
    assert isinstance(msg, CurrentDataAck)
    assert msg.stimulating is True and msg.electrode_errors == 0b1001_0001 and len(msg.channel_states) == 8
    other = CurrentDataAck(0, 0, 9, b"")
    assert other.stimulating is None and other.active_channels is None and other.channel_states == ()


def test_sel4_channel_states_every_kind() -> None:
    status = sm4.channel_status(0b0000_0101, [0, 1, 2, 3, 0, 0, 0, 3])
    assert status == bytes.fromhex("05 10 32 00 30")
    msg = sm4.parse(sm4.decode_frame(sm4.ml_get_current_data_ack(1, 0, 4, status)))
    assert isinstance(msg, CurrentDataAck)
    assert msg.channel_states == (ChannelState.OK, ChannelState.ELECTRODE_ERROR, ChannelState.PULSE_TIMEOUT_ERROR,
                                  ChannelState.PULSE_LOW_CURRENT_ERROR, ChannelState.OK, ChannelState.OK,
                                  ChannelState.OK, ChannelState.PULSE_LOW_CURRENT_ERROR)
    assert msg.active_channels == 0b101 and msg.electrode_errors == 0b10


@pytest.mark.parametrize("command", [Cmd.GET_VERSION_MAIN_ACK, Cmd.GET_DEVICE_ID_ACK, Cmd.GET_BATTERY_STATUS_ACK,
                                     Cmd.GET_STIM_STATUS_ACK, Cmd.GET_MAIN_STATUS_ACK, Cmd.GET_EXTENDED_VERSION_ACK,
                                     Cmd.GET_VERSION_STIM_ACK, Cmd.ML_GET_CURRENT_DATA_ACK])
def test_failing_data_ack_may_carry_only_the_result(command: Cmd) -> None:
    assert sm4.parse(Packet(1, command, b"\x07")) == Ack(1, command, 7)
    with pytest.raises(ProtocolError):
        sm4.parse(Packet(1, command, b"\x00"))  # success needs the full layout


# ----------------------------------------------------------------- parse errors


@pytest.mark.parametrize("packet, words", [
    (Packet(0, Cmd.ML_STOP, b"\x00"), ["ML_STOP", "0", "1"]),
    (Packet(0, Cmd.GET_DEVICE_ID, b"\x00"), ["GET_DEVICE_ID", "0", "1"]),
    (Packet(0, Cmd.ML_INIT, b""), ["ML_INIT", "1", "0"]),
    (Packet(0, Cmd.ML_INIT, b"\x02"), ["ML_INIT", "0x02", "reserved"]),
    (Packet(0, Cmd.ML_GET_CURRENT_DATA, b""), ["ML_GET_CURRENT_DATA", "1", "0"]),
    (Packet(0, Cmd.ML_UPDATE, b""), ["ML_UPDATE", "enable mask"]),
    (Packet(0, Cmd.ML_UPDATE, b"\x01\x00"), ["ML_UPDATE", "block of channel 0"]),
    (Packet(0, Cmd.ML_UPDATE, bytes.fromhex("01 10 00 32 06 44 B0 00")), ["ML_UPDATE", "2 points of channel 0"]),
    (Packet(0, Cmd.ML_UPDATE, bytes.fromhex("01 00 00 32 06 44 B0 00 00")), ["ML_UPDATE", "1 data bytes after"]),
    (Packet(0, Cmd.ML_UPDATE, bytes.fromhex("01 00 00 32 06 44 B0 01")), ["ML_UPDATE", "reserved bits"]),
    (Packet(0, Cmd.ML_UPDATE, bytes.fromhex("01 00 00 32 06 49 64 00")), ["ML_UPDATE", "601", "0..600"]),
    (Packet(0, Cmd.ML_INIT_ACK, b""), ["ML_INIT_ACK", "result byte"]),
    (Packet(0, Cmd.ML_INIT_ACK, b"\x00\x00"), ["ML_INIT_ACK", "1", "2"]),
    (Packet(0, Cmd.ML_GET_CURRENT_DATA_ACK, b"\x00"), ["ML_GET_CURRENT_DATA_ACK", "selection"]),
    (Packet(0, Cmd.ML_GET_CURRENT_DATA_ACK, b"\x00\x02"), ["selection 2", "3", "2"]),
    (Packet(0, Cmd.ML_GET_CURRENT_DATA_ACK, bytes.fromhex("00 04 00 40 00 00 00")), ["S0", "0x40", "0..3"]),
    (Packet(0, Cmd.GET_STIM_STATUS_ACK, b"\x00\x03"), ["GET_STIM_STATUS_ACK", "3", "2"]),
    (Packet(0, Cmd.GET_DEVICE_ID_ACK, b"\x00" + b"\xff" * 10), ["not ASCII"]),
    (Packet(0, Cmd.GET_EXTENDED_VERSION_ACK, bytes(12) + b"\x02"), ["hash valid", "2"]),
    (Packet(0, Cmd.LL_INIT, b"\x00"), ["LL_INIT", "low-level"]),
    (Packet(0, 99, b""), ["unknown", "99"]),
])
def test_parse_rejects_malformed(packet: Packet, words: list[str]) -> None:
    with pytest.raises(ProtocolError) as info:
        sm4.parse(packet)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_parse_keeps_out_of_device_range_values_for_the_device_model() -> None:
    """Parsing checks structure only; a device model decides on 140 mA or period 0 (Result 2)."""
    data = bytes.fromhex("01 00 00 00") + ((100 << 20) | (580 << 10)).to_bytes(4, "big")
    msg = sm4.parse(Packet(0, Cmd.ML_UPDATE, data))
    assert isinstance(msg, MlUpdate)
    assert msg.channels[0].period_ms == 0.0 and msg.channels[0].points[0].current_ma == 140.0
    assert msg.channels[0].frequency_hz == 0.0
    assert sm4.parse(Packet(0, Cmd.ML_UPDATE, b"\x00")) == MlUpdate(0, ())  # mask 0: UNVERIFIED "pause"
    assert sm4.parse(Packet(0, Cmd.ML_GET_CURRENT_DATA, b"\x07")) == MlGetCurrentData(0, 7)


# ----------------------------------------------------------------- tables and constants


REFERENCE_RESULTS = {
    0: "SUCCESSFUL", 1: "TRANSFER_ERROR", 2: "PARAMETER_ERROR", 3: "PROTOCOL_ERROR", 4: "UC_STIM_TIMEOUT_ERROR",
    5: "EMG_TIMEOUT_ERROR", 6: "EMG_REGISTER_ERROR", 7: "NOT_INITIALIZED_ERROR", 8: "HV_ERROR",
    9: "DEMUX_TIMEOUT_ERROR", 10: "ELECTRODE_ERROR", 11: "INVALID_CMD_ERROR", 12: "DEMUX_PARAMETER_ERROR",
    13: "DEMUX_NOT_INITIALIZED_ERROR", 14: "DEMUX_TRANSFER_ERROR", 15: "DEMUX_UNKNOWN_ACK_ERROR",
    16: "PULSE_TIMEOUT_ERROR", 17: "FUEL_GAUGE_ERROR", 18: "LIVE_SIGNAL_ERROR", 19: "FILE_TRANSMISSION_TIMEOUT",
    20: "FILE_NOT_FOUND", 21: "BUSY", 22: "FILE_ERROR", 23: "FLASH_ERASE_ERROR", 24: "FLASH_WRITE_ERROR",
    25: "UNKNOWN_CONTROLLER_ERROR", 26: "FIRMWARE_TOO_LARGE_ERROR", 27: "FUEL_GAUGE_NOT_PROGRAMMED",
    28: "PULSE_LOW_CURRENT_ERROR",
}


def test_every_result_code_of_b4() -> None:
    assert {int(r): r.name for r in Result} == REFERENCE_RESULTS


@pytest.mark.parametrize("code", sorted(REFERENCE_RESULTS) + [29, 255])
def test_every_result_code_travels_and_is_named(code: int) -> None:
    frame = sm4.ack(1, Cmd.ML_UPDATE_ACK, code)
    assert sm4.parse(sm4.decode_frame(frame)) == Ack(1, Cmd.ML_UPDATE_ACK, code)
    described = sm4.describe(sm4.decode_frame(frame))
    assert described["result"] == code
    assert described["result_name"] == REFERENCE_RESULTS.get(code)


def test_command_ids_and_acks() -> None:
    assert all(ack == cmd + 1 for cmd, ack in sm4.ACK_OF.items())
    assert (Cmd.ML_GET_CURRENT_DATA, Cmd.ML_GET_CURRENT_DATA_ACK) == (36, 37)  # not S11's 037/038
    assert (Cmd.GENERAL_ERROR, Cmd.UNKNOWN_CMD) == (66, 67)
    assert Cmd.RESET in sm4.ACK_MAY_NOT_COME
    assert sm4.UNSOLICITED == {Cmd.GENERAL_ERROR, Cmd.UNKNOWN_CMD}


def test_watchdog_constants() -> None:
    assert sm4.WATCHDOG_TIMEOUT_S == 2.0
    assert sm4.KEEPALIVE_INTERVAL_S < sm4.WATCHDOG_TIMEOUT_S
    assert (sm4.REHAMOVE3_SELECTION, sm4.P24_SELECTION) == (2, 4)


# ----------------------------------------------------------------- describe


def test_describe_packets_and_bad_frames() -> None:
    d = sm4.describe(sm4.decode_frame(_frames("B-8")[0].frame))
    assert d["command"] == "ML_UPDATE_ACK" and d["result"] == 2 and d["result_name"] == "PARAMETER_ERROR"
    assert d["packet_number"] == 5 and d["command_id"] == 33
    d = sm4.describe(sm4.decode_frame(_frames("B-7")[0].frame))
    assert d["fields"]["enable_mask"] == 3
    ch1 = d["fields"]["channels"][1]
    assert ch1["channel"] == 1 and ch1["period_ms"] == 25.0 and ch1["frequency_hz"] == 40.0
    assert ch1["points"][0] == {"time_us": 250, "current_ma": 15.0}
    d = sm4.describe(sm4.decode_frame(_frames("B-10")[0].frame))
    assert d["fields"]["status"] == "01 10 00 00 00" and d["fields"]["stimulating"] is True
    assert d["fields"]["channel_states"][:2] == ["OK", "ELECTRODE_ERROR"] and d["fields"]["active_channels"] == 1
    d = sm4.describe(sm4.decode_frame(_frames("B-17")[0].frame))
    assert d["fields"] == {"stim_status": 3, "high_voltage": 6}
    d = sm4.describe(sm4.decode_frame(sm4.version_ack(0, 0, (1, 2, 3), (4, 5, 6))))
    assert d["fields"] == {"firmware": [1, 2, 3], "smpt": [4, 5, 6]}
    d = sm4.describe(sm4.decode_frame(_frames("B-5")[0].frame))
    assert d["command"] == "LL_CHANNEL_CONFIG" and "low-level" in d["error"] and d["data"].startswith("82 0f")
    d = sm4.describe(Packet(1, 999, b"\x01"))
    assert d["command"] is None and "error" in d
    d = sm4.describe(BadFrame("checksum", b"\xf0", 1, 32))
    assert d == {"bad": "checksum", "packet_number": 1, "command_id": 32, "command": "ML_UPDATE"}
    d = sm4.describe(BadFrame("truncated", b"\xf0", None, None))
    assert d["command"] is None
