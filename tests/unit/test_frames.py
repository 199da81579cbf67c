"""Sensor frames (heel switch 0x01, insole 0x03): worked byte examples, resync, gaps and wraps."""

from __future__ import annotations

import numpy as np
import pytest

from fescontrol.errors import ProtocolError
from fescontrol.sensing.frames import (
    HEEL_FRAME_LEN,
    INSOLE_FRAME_LEN,
    SENSOR_FRAME_DOC,
    FrameDecoder,
    HeelSamples,
    SensorSamples,
    crc8_smbus,
    encode_heel_frame,
    encode_insole_frame,
)


def bitwise_crc8(data: bytes) -> int:
    """CRC-8/SMBUS straight from its definition, independent of the module's table."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


# (seq, force N, frame bytes written out by hand from the spec)
WORKED = [
    # 7000 = 0x1B58 -> 58 1B
    (1, 700.0, bytes([0xA5, 0x5A, 0x01, 0x02, 0x01, 0x00, 0x58, 0x1B, 0x1E])),
    # seq 0x1234 -> 34 12; 12345 = 0x3039 -> 39 30
    (0x1234, 1234.5, bytes([0xA5, 0x5A, 0x01, 0x02, 0x34, 0x12, 0x39, 0x30, 0xBC])),
    # last counter before the wrap, zero force
    (0xFFFF, 0.0, bytes([0xA5, 0x5A, 0x01, 0x02, 0xFF, 0xFF, 0x00, 0x00, 0x17])),
]


def frames(seqs: list[int], forces: list[float]) -> bytes:
    return b"".join(encode_heel_frame(s, f) for s, f in zip(seqs, forces))


def test_crc8_smbus_check_value() -> None:
    assert crc8_smbus(b"123456789") == 0xF4
    assert bitwise_crc8(b"123456789") == 0xF4
    assert crc8_smbus(b"") == 0


@pytest.mark.parametrize("seq,force,expected", WORKED)
def test_worked_examples(seq: int, force: float, expected: bytes) -> None:
    assert bitwise_crc8(expected[2:-1]) == expected[-1]
    assert encode_heel_frame(seq, force) == expected
    assert len(expected) == HEEL_FRAME_LEN
    out = FrameDecoder().feed(expected)
    assert out.seq.tolist() == [seq]
    assert out.heel_N.tolist() == pytest.approx([force])


def test_doc_worked_example_matches_encoder() -> None:
    assert "A5 5A 01 02 01 00 58 1B 1E" in SENSOR_FRAME_DOC
    assert "| offset |" in SENSOR_FRAME_DOC


def test_encode_clamps_and_rounds() -> None:
    dec = FrameDecoder()
    out = dec.feed(frames([0, 1, 2, 3, 4], [-5.0, 7000.0, 12.34, 12.36, 0.05]))
    assert out.heel_N.tolist() == pytest.approx([0.0, 6553.5, 12.3, 12.4, 0.1])
    assert encode_heel_frame(65536 + 5, 1.0) == encode_heel_frame(5, 1.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_encode_rejects_non_finite(bad: float) -> None:
    with pytest.raises(ProtocolError):
        encode_heel_frame(0, bad)


def test_encode_rejects_negative_seq() -> None:
    with pytest.raises(ProtocolError):
        encode_heel_frame(-1, 1.0)


def test_byte_by_byte_split() -> None:
    data = frames(list(range(10)), [float(10 * i) for i in range(10)])
    dec = FrameDecoder()
    got = [dec.feed(data[k:k + 1]) for k in range(len(data))]
    seqs = np.concatenate([g.seq for g in got])
    assert seqs.dtype == np.int64
    assert seqs.tolist() == list(range(10))
    assert dec.frames_ok == 10 and dec.bytes_pending == 0 and dec.bytes_discarded == 0


def test_garbage_prefix_and_between_frames() -> None:
    a = frames([0, 1], [100.0, 200.0])
    b = frames([2, 3], [300.0, 400.0])
    garbage1 = bytes([0x00, 0xA5, 0x11, 0x5A, 0xFF])
    garbage2 = bytes([0x5A, 0x13])
    dec = FrameDecoder()
    out = dec.feed(garbage1 + a + garbage2 + b)
    assert out.seq.tolist() == [0, 1, 2, 3]
    assert out.heel_N.tolist() == pytest.approx([100.0, 200.0, 300.0, 400.0])
    assert dec.frames_bad == 0
    assert dec.bytes_discarded == len(garbage1) + len(garbage2)
    assert dec.samples_dropped == 0


def test_false_sync_in_garbage_is_a_bad_frame_then_resync() -> None:
    # a fake frame start: sync, heel type, right length, then the real frame begins
    fake = bytes([0xA5, 0x5A, 0x01, 0x02, 0x33])
    good = frames([0, 1, 2], [1.0, 2.0, 3.0])
    dec = FrameDecoder()
    out = dec.feed(fake + good)
    assert out.seq.tolist() == [0, 1, 2]
    assert dec.frames_bad == 1
    assert dec.bytes_discarded == len(fake)


def test_corrupted_byte_gives_one_bad_frame() -> None:
    data = bytearray(frames(list(range(5)), [50.0] * 5))
    data[2 * HEEL_FRAME_LEN + 6] ^= 0x40  # payload of frame 2
    dec = FrameDecoder()
    out = dec.feed(bytes(data))
    assert out.seq.tolist() == [0, 1, 3, 4]
    assert dec.frames_bad == 1
    assert dec.samples_dropped == 1
    assert dec.bytes_discarded == HEEL_FRAME_LEN


def test_bad_length_rejected_at_once() -> None:
    bad = bytes([0xA5, 0x5A, 0x01, 0x03])  # heel frames have length 2: no need to wait
    dec = FrameDecoder()
    out = dec.feed(bad)
    assert len(out) == 0 and dec.frames_bad == 1
    out = dec.feed(frames([0], [1.0]))
    assert out.seq.tolist() == [0]
    too_long = bytes([0xA5, 0x5A, 0x02, 0xFF])
    dec.feed(too_long)
    assert dec.frames_bad == 2


def test_unknown_type_with_valid_crc_is_skipped() -> None:
    body = bytes([0x02, 0x04, 0x05, 0x00, 1, 2, 3, 4])
    imu = b"\xA5\x5A" + body + bytes([bitwise_crc8(body)])
    body7 = bytes([0x7F, 0x00, 0x00, 0x00])
    other = b"\xA5\x5A" + body7 + bytes([bitwise_crc8(body7)])
    dec = FrameDecoder()
    out = dec.feed(frames([0], [1.0]) + imu + other + frames([1], [2.0]))
    assert out.seq.tolist() == [0, 1]
    assert dec.frames_skipped == 2 and dec.frames_bad == 0 and dec.bytes_discarded == 0
    # and with a broken CRC it is a bad frame
    broken = imu[:-1] + bytes([imu[-1] ^ 1])
    dec.feed(broken + frames([2], [3.0]))
    assert dec.frames_bad == 1 and dec.frames_ok == 3


def test_sequence_wrap_is_unwrapped() -> None:
    raw = [65533, 65534, 65535, 0, 1, 2]
    dec = FrameDecoder()
    out = dec.feed(frames(raw, [1.0] * len(raw)))
    assert out.seq.tolist() == [65533, 65534, 65535, 65536, 65537, 65538]
    assert dec.samples_dropped == 0
    # several wraps, fed in chunks
    dec = FrameDecoder()
    seqs = list(range(0, 3 * 65536 + 10, 1000))
    got = np.concatenate([dec.feed(frames([s & 0xFFFF], [0.0])).seq for s in seqs])
    assert got.tolist() == seqs
    assert dec.samples_dropped == sum(b - a - 1 for a, b in zip(seqs, seqs[1:]))


def test_dropped_frames_are_counted() -> None:
    seqs = [10, 11, 14, 15, 20]
    dec = FrameDecoder()
    out = dec.feed(frames(seqs, [5.0] * 5))
    assert out.seq.tolist() == seqs  # the first seq seen is the absolute index
    assert dec.samples_dropped == 2 + 4


def test_a_restarted_counter_is_named_after_five_frames_in_a_row() -> None:
    dec = FrameDecoder()
    dec.feed(frames(list(range(1000, 1010)), [1.0] * 10))
    out = dec.feed(frames([0, 1, 2, 3], [1.0] * 4))
    assert out.seq.size == 0 and dec.sensor_restart is None  # four: not yet
    out = dec.feed(frames([4, 5], [1.0] * 2))
    assert out.seq.size == 0 and dec.sensor_restart == (1009, 0)
    assert dec.frames_out_of_order == 6


@pytest.mark.parametrize("seqs", [
    [10, 11, 9, 12, 8, 13, 7, 14, 6, 15],      # late frames, one at a time, between newer ones
    [10, 11, 11, 11, 11, 11, 11, 12],          # a repeated frame
    [10, 11, 3, 4, 5, 6, 12],                  # four older frames in a row: not enough
])
def test_late_or_repeated_frames_are_no_restart(seqs: list[int]) -> None:
    dec = FrameDecoder()
    dec.feed(frames(seqs, [1.0] * len(seqs)))
    assert dec.sensor_restart is None and dec.frames_out_of_order > 0


def test_duplicate_and_older_frames_are_dropped() -> None:
    seqs = [5, 6, 6, 4, 7]
    dec = FrameDecoder()
    out = dec.feed(frames(seqs, [1.0, 2.0, 3.0, 4.0, 5.0]))
    assert out.seq.tolist() == [5, 6, 7]
    assert out.heel_N.tolist() == pytest.approx([1.0, 2.0, 5.0])
    assert dec.frames_out_of_order == 2
    assert dec.samples_dropped == 0


def test_partial_frame_waits_and_trailing_sync_byte_kept() -> None:
    data = frames([0], [1.0])
    dec = FrameDecoder()
    assert len(dec.feed(b"\x00\x01" + data[:1])) == 0
    assert dec.bytes_pending == 1 and dec.bytes_discarded == 2
    assert len(dec.feed(data[1:5])) == 0
    assert dec.feed(data[5:]).seq.tolist() == [0]
    assert dec.bytes_pending == 0


def test_finish_releases_frames_behind_a_false_header() -> None:
    # a false header declaring a 20-byte payload of another type swallows the last frames
    false_header = bytes([0xA5, 0x5A, 0x02, 20])
    dec = FrameDecoder()
    out = dec.feed(frames([0], [1.0]) + false_header + frames([1, 2], [2.0, 3.0]))
    assert out.seq.tolist() == [0]
    assert dec.bytes_pending == len(false_header) + 2 * HEEL_FRAME_LEN
    tail = dec.finish()
    assert tail.seq.tolist() == [1, 2]
    assert dec.frames_bad == 1 and dec.bytes_pending == 0
    assert dec.bytes_discarded == 1 + (len(false_header) - 1)


def test_finish_discards_a_truncated_frame() -> None:
    data = frames([0, 1], [1.0, 2.0])
    dec = FrameDecoder()
    assert dec.feed(data[:-3]).seq.tolist() == [0]
    assert len(dec.finish()) == 0
    assert dec.frames_bad == 1 and dec.bytes_discarded == HEEL_FRAME_LEN - 3 and dec.bytes_pending == 0


# -- insole frames (type 0x03: heel, then forefoot) ------------------------------------------------
# (seq, heel N, forefoot N, frame bytes written out by hand from the spec)
WORKED_INSOLE = [
    # 7000 = 0x1B58 -> 58 1B; 2500 = 0x09C4 -> C4 09
    (1, 700.0, 250.0, bytes([0xA5, 0x5A, 0x03, 0x04, 0x01, 0x00, 0x58, 0x1B, 0xC4, 0x09, 0xED])),
    (0x1234, 1234.5, 0.0, bytes([0xA5, 0x5A, 0x03, 0x04, 0x34, 0x12, 0x39, 0x30, 0x00, 0x00, 0x59])),
    # full scale forefoot at the last counter before the wrap
    (0xFFFF, 0.0, 6553.5, bytes([0xA5, 0x5A, 0x03, 0x04, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF, 0xF2])),
]


def insole(seqs: list[int], heel: list[float], fore: list[float]) -> bytes:
    return b"".join(encode_insole_frame(s, h, f) for s, h, f in zip(seqs, heel, fore))


@pytest.mark.parametrize("seq,heel,fore,expected", WORKED_INSOLE)
def test_insole_worked_examples(seq: int, heel: float, fore: float, expected: bytes) -> None:
    assert bitwise_crc8(expected[2:-1]) == expected[-1]
    assert encode_insole_frame(seq, heel, fore) == expected
    assert len(expected) == INSOLE_FRAME_LEN
    dec = FrameDecoder()
    out = dec.feed(expected)
    assert out.seq.tolist() == [seq]
    assert out.heel_N.tolist() == pytest.approx([heel])
    assert out.fore_N.tolist() == pytest.approx([fore])
    assert dec.frames_ok == dec.frames_insole == 1 and dec.frames_heel == 0


def test_doc_has_the_insole_worked_example() -> None:
    assert f"`{encode_insole_frame(1, 700.0, 250.0).hex(' ').upper()}`" in SENSOR_FRAME_DOC
    assert "`0x03` insole" in SENSOR_FRAME_DOC


def test_heel_frames_have_no_forefoot() -> None:
    out = FrameDecoder().feed(frames([0, 1], [10.0, 20.0]))
    assert isinstance(out, SensorSamples) and HeelSamples is SensorSamples
    assert out.fore_N.dtype == np.float64 and np.isnan(out.fore_N).all() and out.fore_N.size == 2


def test_mixed_stream_shares_the_counter() -> None:
    data = frames([0], [1.0]) + insole([1, 2], [2.0, 3.0], [20.0, 30.0]) + frames([4], [5.0])
    dec = FrameDecoder()
    out = dec.feed(data)
    assert out.seq.tolist() == [0, 1, 2, 4]
    assert out.heel_N.tolist() == pytest.approx([1.0, 2.0, 3.0, 5.0])
    np.testing.assert_array_equal(out.fore_N, [np.nan, 20.0, 30.0, np.nan])
    assert dec.frames_ok == 4 and dec.frames_heel == 2 and dec.frames_insole == 2
    assert dec.samples_dropped == 1 and dec.frames_skipped == 0 and dec.bytes_discarded == 0


def test_insole_encode_clamps_rounds_and_rejects() -> None:
    out = FrameDecoder().feed(insole([0, 1, 2], [-5.0, 7000.0, 12.34], [12.36, -1.0, 9999.0]))
    assert out.heel_N.tolist() == pytest.approx([0.0, 6553.5, 12.3])
    assert out.fore_N.tolist() == pytest.approx([12.4, 0.0, 6553.5])
    assert encode_insole_frame(65536 + 5, 1.0, 2.0) == encode_insole_frame(5, 1.0, 2.0)
    for heel, fore in ((float("nan"), 1.0), (1.0, float("inf"))):
        with pytest.raises(ProtocolError):
            encode_insole_frame(0, heel, fore)
    with pytest.raises(ProtocolError):
        encode_insole_frame(-1, 1.0, 1.0)


def test_insole_bad_length_rejected_at_once() -> None:
    dec = FrameDecoder()
    assert len(dec.feed(bytes([0xA5, 0x5A, 0x03, 0x02]))) == 0  # insole frames have length 4
    assert dec.frames_bad == 1 and dec.bytes_pending == 0
    # a heel frame body relabelled as insole is a bad frame, and the next frame still decodes
    body = bytes([0x03, 0x02, 0x00, 0x00, 0x10, 0x00])
    dec.feed(b"\xA5\x5A" + body + bytes([bitwise_crc8(body)]) + insole([1], [1.0], [2.0]))
    assert dec.frames_bad == 2 and dec.frames_insole == 1


def test_insole_byte_by_byte_and_corruption() -> None:
    data = bytearray(insole(list(range(6)), [float(i) for i in range(6)], [float(10 * i) for i in range(6)]))
    dec = FrameDecoder()
    got = [dec.feed(data[k:k + 1]) for k in range(len(data))]
    assert np.concatenate([g.seq for g in got]).tolist() == list(range(6))
    assert np.concatenate([g.fore_N for g in got]).tolist() == pytest.approx([0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    assert dec.bytes_pending == 0 and dec.bytes_discarded == 0
    data[2 * INSOLE_FRAME_LEN + 8] ^= 0x40  # forefoot of frame 2
    dec = FrameDecoder()
    assert dec.feed(bytes(data)).seq.tolist() == [0, 1, 3, 4, 5]
    assert dec.frames_bad == 1 and dec.bytes_discarded == INSOLE_FRAME_LEN and dec.samples_dropped == 1


def test_insole_duplicate_counts_its_own_length() -> None:
    dec = FrameDecoder()
    out = dec.feed(insole([5, 5, 6], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]))
    assert out.seq.tolist() == [5, 6] and out.fore_N.tolist() == pytest.approx([4.0, 6.0])
    assert dec.frames_out_of_order == 1 and dec.bytes_discarded == INSOLE_FRAME_LEN
