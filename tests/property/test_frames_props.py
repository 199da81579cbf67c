"""Property tests of the sensor codecs (force frames; IMU frames, WT901 packets, CSV lines): any split,
any garbage, counters add up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fescontrol.sensing.csv_lines import CsvLineDecoder, encode_header, encode_line
from fescontrol.sensing.frames import (
    HEEL_FRAME_LEN,
    INSOLE_FRAME_LEN,
    FrameDecoder,
    ImuFrameDecoder,
    encode_heel_frame,
    encode_imu_frame,
    encode_insole_frame,
)
from fescontrol.sensing.imu_samples import ImuSamples
from fescontrol.sensing.wt901 import Wt901Decoder, encode_sample

forces = st.floats(min_value=0.0, max_value=6553.5, allow_nan=False)
samples = st.lists(forces, min_size=0, max_size=60)
no_false_sync = st.integers(0, 65535).filter(lambda u: 0xA5 not in (u & 0xFF, u >> 8)).map(
    lambda u: u / 10)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def feed_all(dec: FrameDecoder, chunks: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    outs = [dec.feed(c) for c in chunks]
    seq = np.concatenate([o.seq for o in outs]) if outs else np.zeros(0, np.int64)
    heel = np.concatenate([o.heel_N for o in outs]) if outs else np.zeros(0)
    return seq, heel


@settings(max_examples=200, deadline=None)
@given(samples, st.integers(0, 65535), st.lists(st.integers(0, 10_000), max_size=20))
def test_round_trip_any_split(values: list[float], seq0: int, cuts: list[int]) -> None:
    data = b"".join(encode_heel_frame(seq0 + k, v) for k, v in enumerate(values))
    dec = FrameDecoder()
    seq, heel = feed_all(dec, split(data, cuts))
    assert seq.tolist() == [seq0 + k for k in range(len(values))]  # unwrapped across 65535
    np.testing.assert_allclose(heel, values, atol=0.05 + 1e-9)
    assert dec.frames_ok == len(values)
    assert dec.frames_bad == dec.bytes_discarded == dec.samples_dropped == dec.bytes_pending == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(forces, st.binary(max_size=12)), min_size=1, max_size=40),
    st.lists(st.integers(0, 10_000), max_size=20),
)
def test_garbage_between_frames_never_loses_a_clean_frame(
        items: list[tuple[float, bytes]], cuts: list[int]) -> None:
    # garbage without a sync byte pair cannot start a false frame: every sample survives
    items = [(v, g.replace(b"\xa5", b"\x00")) for v, g in items]
    data = b"".join(g + encode_heel_frame(k, v) for k, (v, g) in enumerate(items))
    dec = FrameDecoder()
    seq, heel = feed_all(dec, split(data, cuts))
    assert seq.tolist() == list(range(len(items)))
    np.testing.assert_allclose(heel, [v for v, _ in items], atol=0.05 + 1e-9)
    assert dec.bytes_discarded == sum(len(g) for _, g in items)
    assert dec.frames_bad == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(forces, min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=12)), max_size=6),
    st.lists(st.integers(0, 10_000), max_size=20),
)
def test_arbitrary_garbage_invariants(values: list[float], inserts: list[tuple[int, bytes]],
                                      cuts: list[int]) -> None:
    # junk anywhere, even inside frames: sample time only moves forward and every byte is
    # accounted for. (Which samples survive is not asserted: a CRC-8 lets 1 in 256 corrupted
    # frames through, a limit of the format, not of the decoder.)
    data = bytearray(b"".join(encode_heel_frame(k, v) for k, v in enumerate(values)))
    for pos, junk in inserts:
        p = pos % (len(data) + 1)
        data[p:p] = junk
    dec = FrameDecoder()
    seq, heel = feed_all(dec, split(bytes(data), cuts))
    assert np.all(np.diff(seq) > 0)
    assert dec.frames_ok == seq.size == heel.size
    assert np.all((heel >= 0.0) & (heel <= 6553.5))
    if dec.frames_skipped == 0:  # skipped frames of other types have their own lengths
        assert (HEEL_FRAME_LEN * dec.frames_heel + INSOLE_FRAME_LEN * dec.frames_insole + dec.bytes_discarded
                + dec.bytes_pending == len(data))
    if not inserts:
        assert seq.tolist() == list(range(len(values)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=50), st.integers(0, 65535))
def test_gaps_counted_and_unwrapped(steps: list[int], seq0: int) -> None:
    absolute = [seq0]
    for s in steps:
        absolute.append(absolute[-1] + s)
    data = b"".join(encode_heel_frame(a & 0xFFFF, 1.0) for a in absolute)
    dec = FrameDecoder()
    seq, _ = feed_all(dec, [data])
    assert seq.tolist() == absolute
    assert dec.samples_dropped == sum(s - 1 for s in steps)


@settings(max_examples=100, deadline=None)
@given(st.lists(no_false_sync, min_size=3, max_size=30), st.data())
def test_single_corrupted_byte_costs_exactly_one_frame(values: list[float], data: st.DataObject) -> None:
    # forces whose bytes hold no 0xA5, so resync cannot meet a false sync inside a payload
    raw = bytearray(b"".join(encode_heel_frame(k, v) for k, v in enumerate(values)))
    frame = data.draw(st.integers(0, len(values) - 1))
    offset = data.draw(st.integers(2, HEEL_FRAME_LEN - 1))  # type .. CRC: CRC-8 catches any 1-byte error
    flip = data.draw(st.integers(1, 255))
    raw[frame * HEEL_FRAME_LEN + offset] ^= flip
    dec = FrameDecoder()
    seq, _ = feed_all(dec, [bytes(raw)])
    assert seq.tolist() == [k for k in range(len(values)) if k != frame]
    assert dec.frames_bad >= 1
    assert dec.samples_dropped == (1 if 0 < frame < len(values) - 1 else 0)


# -- insole frames (type 0x03) ---------------------------------------------------------------------
pairs = st.lists(st.tuples(forces, forces), min_size=0, max_size=60)


def feed_insole(dec: FrameDecoder, chunks: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    outs = [dec.feed(c) for c in chunks] + [dec.finish()]
    return (np.concatenate([o.seq for o in outs]), np.concatenate([o.heel_N for o in outs]),
            np.concatenate([o.fore_N for o in outs]))


@settings(max_examples=200, deadline=None)
@given(pairs, st.integers(0, 65535), st.lists(st.integers(0, 10_000), max_size=20))
def test_insole_round_trip_any_split(values: list[tuple[float, float]], seq0: int, cuts: list[int]) -> None:
    data = b"".join(encode_insole_frame(seq0 + k, h, f) for k, (h, f) in enumerate(values))
    dec = FrameDecoder()
    seq, heel, fore = feed_insole(dec, split(data, cuts))
    assert seq.tolist() == [seq0 + k for k in range(len(values))]
    np.testing.assert_allclose(heel, [h for h, _ in values], atol=0.05 + 1e-9)
    np.testing.assert_allclose(fore, [f for _, f in values], atol=0.05 + 1e-9)
    assert dec.frames_ok == dec.frames_insole == len(values) and dec.frames_heel == 0
    assert dec.frames_bad == dec.bytes_discarded == dec.samples_dropped == dec.bytes_pending == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), forces, forces, st.binary(max_size=8)), min_size=1, max_size=40),
       st.lists(st.integers(0, 10_000), max_size=20))
def test_mixed_kinds_with_clean_garbage_any_split(items: list[tuple[bool, float, float, bytes]],
                                                  cuts: list[int]) -> None:
    # heel and insole frames on one counter, garbage without 0xA5 between them: nothing lost
    items = [(i, h, f, g.replace(b"\xa5", b"\x00")) for i, h, f, g in items]
    data = b"".join(g + (encode_insole_frame(k, h, f) if i else encode_heel_frame(k, h))
                    for k, (i, h, f, g) in enumerate(items))
    dec = FrameDecoder()
    seq, heel, fore = feed_insole(dec, split(data, cuts))
    assert seq.tolist() == list(range(len(items)))
    np.testing.assert_allclose(heel, [h for _, h, _, _ in items], atol=0.05 + 1e-9)
    want = [f if i else np.nan for i, _, f, _ in items]
    np.testing.assert_allclose(fore, want, atol=0.05 + 1e-9)  # NaN where heel-only, in place
    assert dec.frames_insole == sum(i for i, _, _, _ in items)
    assert dec.frames_heel == len(items) - dec.frames_insole
    assert dec.bytes_discarded == sum(len(g) for *_, g in items) and dec.frames_bad == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(no_false_sync, no_false_sync), min_size=3, max_size=30), st.data())
def test_insole_single_corrupted_byte_costs_exactly_one_frame(values: list[tuple[float, float]],
                                                              data: st.DataObject) -> None:
    raw = bytearray(b"".join(encode_insole_frame(k, h, f) for k, (h, f) in enumerate(values)))
    frame = data.draw(st.integers(0, len(values) - 1))
    offset = data.draw(st.integers(2, INSOLE_FRAME_LEN - 1))
    raw[frame * INSOLE_FRAME_LEN + offset] ^= data.draw(st.integers(1, 255))
    dec = FrameDecoder()
    seq, _, _ = feed_insole(dec, [bytes(raw)])
    assert seq.tolist() == [k for k in range(len(values)) if k != frame]
    assert dec.frames_bad >= 1


# -- IMU wire formats: our type 0x02, WitMotion WT901, CSV lines ----------------------------------
gyro = st.floats(min_value=-2000.0, max_value=2000.0, allow_nan=False)
accel = st.floats(min_value=-16.0, max_value=16.0, allow_nan=False)
six = st.tuples(gyro, gyro, gyro, accel, accel, accel)
# (encoder of sample k, decoder, tolerance of gyro and accel: each format's resolution)
IMU_FORMATS = {
    "imu6": (lambda k, v: encode_imu_frame(k, v[:3], v[3:]), ImuFrameDecoder, 0.05 + 1e-9, 0.0005 + 1e-12),
    "wt901": (lambda k, v: encode_sample(v[:3], v[3:]), Wt901Decoder, 2000 / 32768, 16 / 32768),
    "csv": (lambda k, v: encode_line(k, v[:3], v[3:]), CsvLineDecoder, 0.005 + 1e-9, 0.00005 + 1e-12),
}
HEADER_BYTE = {"imu6": 0xA5, "wt901": 0x55, "csv": 0x0A}  # what garbage must not hold to stay harmless


def feed_imu(dec: Any, chunks: list[bytes]) -> ImuSamples:
    outs = [dec.feed(c) for c in chunks] + [dec.finish()]
    return ImuSamples(seq=np.concatenate([o.seq for o in outs]), gyr_dps=np.vstack([o.gyr_dps for o in outs]),
                      acc_g=np.vstack([o.acc_g for o in outs]))


def check_values(out: ImuSamples, values: list[tuple[float, ...]], fmt: str) -> None:
    _, _, tol_g, tol_a = IMU_FORMATS[fmt]
    want = np.asarray(values, dtype=np.float64).reshape(-1, 6)
    np.testing.assert_allclose(out.gyr_dps, want[:, :3], atol=tol_g)
    np.testing.assert_allclose(out.acc_g, want[:, 3:], atol=tol_a)


@pytest.mark.parametrize("fmt", sorted(IMU_FORMATS))
@settings(max_examples=80, deadline=None)
@given(values=st.lists(six, max_size=30), seq0=st.integers(0, 65535), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_imu_round_trip_any_split(fmt: str, values: list[tuple[float, ...]], seq0: int, cuts: list[int]) -> None:
    enc, make, _, _ = IMU_FORMATS[fmt]
    data = b"".join(enc(seq0 + k, v) for k, v in enumerate(values))
    dec = make()
    out = feed_imu(dec, split(data, cuts))
    first = 0 if fmt == "wt901" else seq0  # WT901 has no counter: the index is the arrival order
    assert out.seq.tolist() == [first + k for k in range(len(values))]
    check_values(out, values, fmt)
    assert dec.frames_bad == dec.bytes_discarded == dec.samples_dropped == dec.bytes_pending == 0


@pytest.mark.parametrize("fmt", sorted(IMU_FORMATS))
@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.tuples(six, st.binary(max_size=10)), min_size=1, max_size=25),
       cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_imu_garbage_between_frames_loses_nothing(fmt: str, items: list[tuple[tuple[float, ...], bytes]],
                                                  cuts: list[int]) -> None:
    # garbage without the format's start byte cannot start a false frame (for CSV lines: garbage
    # is a line of its own, ended before the next sample's line starts)
    enc, make, _, _ = IMU_FORMATS[fmt]
    junk = [g.replace(bytes([HEADER_BYTE[fmt]]), b"") for _, g in items]
    if fmt == "csv":
        junk = [g + b"\n" if g else g for g in junk]
    data = b"".join(j + enc(k, v) for k, ((v, _), j) in enumerate(zip(items, junk)))
    dec = make()
    out = feed_imu(dec, split(data, cuts))
    assert out.seq.tolist() == list(range(len(items)))
    check_values(out, [v for v, _ in items], fmt)
    assert dec.bytes_discarded == sum(len(j) for j in junk)


@pytest.mark.parametrize("fmt", sorted(IMU_FORMATS))
@settings(max_examples=25, deadline=None)
@given(values=st.lists(six, min_size=1, max_size=4))
def test_imu_split_at_every_byte_boundary(fmt: str, values: list[tuple[float, ...]]) -> None:
    enc, make, _, _ = IMU_FORMATS[fmt]
    data = (encode_header() if fmt == "csv" else b"") + b"".join(enc(k, v) for k, v in enumerate(values))
    for cut in range(len(data) + 1):
        dec = make()
        out = feed_imu(dec, [data[:cut], data[cut:]])
        assert out.seq.tolist() == list(range(len(values)))
        check_values(out, values, fmt)


@pytest.mark.parametrize("fmt", sorted(IMU_FORMATS))
@settings(max_examples=60, deadline=None)
@given(values=st.lists(six, min_size=1, max_size=20),
       inserts=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=12)), max_size=5),
       cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_imu_arbitrary_garbage_invariants(fmt: str, values: list[tuple[float, ...]],
                                          inserts: list[tuple[int, bytes]], cuts: list[int]) -> None:
    # junk anywhere, even inside frames: indices only go forward, values stay in the formats' range
    enc, make, _, _ = IMU_FORMATS[fmt]
    data = bytearray(b"".join(enc(k, v) for k, v in enumerate(values)))
    for pos, junk in inserts:
        p = pos % (len(data) + 1)
        data[p:p] = junk
    dec = make()
    out = feed_imu(dec, split(bytes(data), cuts))
    assert np.all(np.diff(out.seq) > 0)
    assert np.all(np.abs(out.gyr_dps) <= 4000.0)  # finite: the detector's evidence is never made up
    # a WT901 sample whose accel packet was lost has accel NaN (sensing.wt901); otherwise in range
    acc_lost = np.isnan(out.acc_g).all(axis=1) if fmt == "wt901" else np.zeros(len(out.seq), dtype=bool)
    assert np.all(np.abs(out.acc_g[~acc_lost]) <= 32.768)
    assert dec.bytes_pending == 0
    if not inserts:
        assert out.seq.size == len(values)
