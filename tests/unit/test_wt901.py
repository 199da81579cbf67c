"""WitMotion WT901 packets: the reference's worked packets, scales, pairing, resync, time packets."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from fescontrol.errors import ProtocolError
from fescontrol.sensing.wt901 import (
    PACKET_LEN,
    Wt901Decoder,
    decode_time,
    encode_accel,
    encode_angle,
    encode_gyro,
    encode_packet,
    encode_sample,
    encode_time,
)

# worked packets of reference/gait-detection.md section 5.1 (written out by hand there)
ACC_1G = bytes.fromhex("55 51 00 00 00 00 00 08 C4 09 7B")        # az = +1 g, T = 25.00 degC
GYRO_350 = bytes.fromhex("55 52 00 00 00 00 66 16 C4 09 F0")      # wz = 5734 raw = 349.98 deg/s
ANGLE = bytes.fromhex("55 53 E4 F8 00 20 00 40 00 00 E4")         # roll -10, pitch 45, yaw 90
GYRO_NEG = bytes.fromhex("55 52 9A E9 00 00 00 00 00 00 2A")      # wx = -5734 raw, T = 0


def test_reference_packets_are_what_the_encoders_write() -> None:
    for packet in (ACC_1G, GYRO_350, ANGLE, GYRO_NEG):
        assert sum(packet[:10]) & 0xFF == packet[10]
    assert encode_accel((0.0, 0.0, 1.0)) == ACC_1G
    assert encode_gyro((0.0, 0.0, 350.0)) == GYRO_350
    assert encode_angle((-10.0, 45.0, 90.0)) == ANGLE
    assert encode_gyro((-5734 * 2000 / 32768, 0.0, 0.0), temperature_c=0.0) == GYRO_NEG


def test_decode_scales_pair_and_angle() -> None:
    dec = Wt901Decoder()
    out = dec.feed(ACC_1G + GYRO_350 + ANGLE)
    assert out.seq.tolist() == [0]
    np.testing.assert_allclose(out.acc_g, [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(out.gyr_dps, [[0.0, 0.0, 5734 / 32768 * 2000]])
    assert dec.last_angle_deg == pytest.approx((-1820 / 32768 * 180, 45.0, 90.0))
    assert dec.last_temperature_c == pytest.approx(25.0)
    assert dec.frames_ok == 3 and dec.frames_bad == dec.bytes_discarded == dec.pairs_broken == 0


def test_full_scale_saturates() -> None:
    out = Wt901Decoder().feed(encode_sample((2000.0, -2000.0, 3000.0), (16.0, -16.0, -20.0)))
    np.testing.assert_allclose(out.gyr_dps, [[32767 / 32768 * 2000, -2000.0, 32767 / 32768 * 2000]])
    np.testing.assert_allclose(out.acc_g, [[32767 / 32768 * 16, -16.0, -16.0]])


def test_other_ranges_follow_the_configured_scale() -> None:
    out = Wt901Decoder(acc_range_g=2.0, gyro_range_dps=250.0).feed(
        encode_accel((1.0, 0, 0), range_g=2.0) + encode_gyro((125.0, 0, 0), range_dps=250.0))
    assert out.acc_g[0, 0] == pytest.approx(1.0) and out.gyr_dps[0, 0] == pytest.approx(125.0)
    with pytest.raises(ProtocolError):
        Wt901Decoder(acc_range_g=0.0)


def test_index_is_arrival_order_and_broken_pairs_are_counted() -> None:
    a, g = encode_accel((0, 0, 1.0)), encode_gyro((10.0, 0, 0))
    other = encode_packet(0x54, [1, 2, 3, 4])  # magnetometer: valid, skipped
    dec = Wt901Decoder()
    out = dec.feed(a + g + other + a + other + g)  # a packet of another type between the pair does not break it
    assert out.seq.tolist() == [0, 1] and dec.frames_skipped == 2 and dec.pairs_broken == 0
    # cycle 1 lost its gyro (a gap of one in the index), cycle 3 lost its accel (a sample with NaN accel)
    dec = Wt901Decoder()
    out = dec.feed(a + g + a + a + g + g + a + g)
    assert out.seq.tolist() == [0, 2, 3, 4]  # each sample keeps its cycle's place in time
    assert dec.pairs_broken == 2 and dec.samples_dropped == 1
    assert np.isnan(out.acc_g[2]).all() and not np.isnan(out.acc_g[[0, 1, 3]]).any()
    np.testing.assert_allclose(out.gyr_dps[:, 0], 10.0, atol=0.07)
    dec.feed(a)
    dec.finish()
    assert dec.pairs_broken == 3 and dec.samples_dropped == 1  # a cycle cut by the end is no gap


def test_lost_packets_do_not_shift_later_samples_in_time() -> None:
    """One corrupted packet in every 7 cycles, accel or gyro by turns: the later samples keep their index."""
    wire = bytearray()
    for k in range(70):
        acc, gyr = bytearray(encode_accel((0, 0, 1.0))), bytearray(encode_gyro((float(k), 0, 0)))
        if k % 7 == 3:
            (acc if k % 14 == 3 else gyr)[10] ^= 0xFF  # a bad checksum: the packet is lost
        wire += acc + gyr
    dec = Wt901Decoder()
    out = dec.feed(bytes(wire))
    gyro_lost = [k for k in range(70) if k % 14 == 10]
    assert out.seq.tolist() == [k for k in range(70) if k not in gyro_lost]
    np.testing.assert_allclose(out.gyr_dps[:, 0], out.seq, atol=0.07)  # sample k carries cycle k's gyro
    assert dec.samples_dropped == len(gyro_lost) and dec.pairs_broken == 10 and dec.frames_bad == 10


def test_a_gyro_only_stream_gives_samples_with_nan_accel() -> None:
    """RSW = 0x04 (gyro only), and a port opened mid-cycle: no pair is broken, nothing is dropped."""
    dec = Wt901Decoder()
    out = dec.feed(b"".join(encode_gyro((float(k), -1.0, 2.0)) for k in range(5)))
    assert out.seq.tolist() == [0, 1, 2, 3, 4] and np.isnan(out.acc_g).all()
    np.testing.assert_allclose(out.gyr_dps, [[k, -1.0, 2.0] for k in range(5)], atol=0.07)
    assert dec.pairs_broken == 0 and dec.samples_dropped == 0
    dec = Wt901Decoder()
    out = dec.feed(encode_gyro((1.0, 0, 0)) + encode_sample((2.0, 0, 0), (0, 0, 1.0)))  # the first accel came before
    assert out.seq.tolist() == [0, 1] and np.isnan(out.acc_g[0]).all() and out.acc_g[1, 2] == pytest.approx(1.0)
    assert dec.pairs_broken == 0


def test_an_accel_only_stream_gives_no_samples() -> None:
    """No gyro packet ever (output set without it): nothing for the detector, every accel a broken pair."""
    dec = Wt901Decoder()
    out = dec.feed(b"".join(encode_accel((0, 0, 1.0)) for _ in range(4)))
    assert out.seq.size == 0 and dec.pairs_broken == 3 and dec.samples_dropped == 0


def test_garbage_bad_checksum_and_resync_by_one_byte() -> None:
    good = encode_sample((1.0, 2.0, 3.0), (0.1, 0.2, 0.3))
    bad = bytearray(encode_sample((9.0, 9.0, 9.0), (0.9, 0.9, 0.9)))
    bad[4] ^= 0x01  # the accel packet's checksum fails: its gyro is then a broken pair, with NaN accel
    junk = b"\x55\x55\x00\x55\x99"  # false headers, one with a type that is no WT901 type
    dec = Wt901Decoder()
    out = dec.feed(junk + good + bytes(bad) + good)
    assert out.seq.tolist() == [0, 1, 2]
    np.testing.assert_allclose(out.gyr_dps, [[1.0, 2.0, 3.0], [9.0, 9.0, 9.0], [1.0, 2.0, 3.0]], atol=0.07)
    assert np.isnan(out.acc_g[1]).all()
    assert dec.frames_bad >= 1 and dec.pairs_broken == 1
    assert dec.frames_ok == 5
    assert dec.bytes_discarded == len(junk) + PACKET_LEN and dec.bytes_pending == 0


def test_split_anywhere_and_truncated_tail() -> None:
    data = b"".join(encode_sample((float(k), 0, 0), (0, 0, 1.0)) for k in range(5))
    dec = Wt901Decoder()
    got = [dec.feed(data[k:k + 1]) for k in range(len(data))]
    assert np.concatenate([o.seq for o in got]).tolist() == list(range(5))
    assert dec.feed(data[:7]).seq.size == 0 and dec.bytes_pending == 7
    assert dec.finish().seq.size == 0 and dec.bytes_pending == 0 and dec.frames_bad == 1


def test_encoder_rejects_bad_input() -> None:
    with pytest.raises(ProtocolError):
        encode_gyro((float("inf"), 0, 0))
    with pytest.raises(ProtocolError):
        encode_packet(0x51, [40000, 0, 0, 0])
    with pytest.raises(ProtocolError):
        encode_packet(0x51, [0, 0, 0])


# -- the time packet (0x50): samples placed by the sensor's own clock ---------------------------------
# 2026-12-02 15:30:45.123, written out by hand: YY=0x1A MM=0x0C DD=0x02 hh=0x0F mm=0x1E ss=0x2D,
# ms 123 = 0x007B little-endian; sum 0x55+0x50+0x1A+0x0C+0x02+0x0F+0x1E+0x2D+0x7B = 418 -> 0xA2
TIME_PACKET = bytes.fromhex("55 50 1A 0C 02 0F 1E 2D 7B 00 A2")
TIME_MS = ((9832 * 24 + 15) * 60 + 30) * 60_000 + 45_123  # 9832 days from 2000-01-01 to 2026-12-02


def test_time_packets_round_trip_through_the_calendar() -> None:
    assert encode_time(TIME_MS) == TIME_PACKET
    assert decode_time(TIME_PACKET[2:10]) == TIME_MS
    assert encode_time(0) == bytes.fromhex("55 50 00 01 01 00 00 00 00 00") + bytes((0xA7,))
    for t in (0, 999, 86_399_999, 86_400_000, 31 * 86_400_000 - 1, 59 * 86_400_000 + 5, 60 * 86_400_000,  # Feb 29 2000
              TIME_MS, (datetime_days(2255, 12, 31) + 1) * 86_400_000 - 1):
        assert decode_time(encode_time(t)[2:10]) == t, t
    for bad in (-1, (datetime_days(2256, 1, 1)) * 86_400_000):
        with pytest.raises(ProtocolError, match="years 2000-2255"):
            encode_time(bad)


def datetime_days(year: int, month: int, day: int) -> int:
    return (datetime.date(year, month, day) - datetime.date(2000, 1, 1)).days


@pytest.mark.parametrize("payload", [
    "1A 0D 02 0F 1E 2D 7B 00",  # month 13
    "1A 00 02 0F 1E 2D 7B 00",  # month 0
    "19 02 1D 0F 1E 2D 7B 00",  # 29 February 2025
    "1A 0C 00 0F 1E 2D 7B 00",  # day 0
    "1A 0C 02 18 00 00 00 00",  # hour 24
    "1A 0C 02 0F 3C 00 00 00",  # minute 60
    "1A 0C 02 0F 1E 3C 00 00",  # second 60
    "1A 0C 02 0F 1E 2D E8 03",  # 1000 ms
], ids=["month13", "month0", "feb29-2025", "day0", "hour24", "minute60", "second60", "ms1000"])
def test_a_time_that_cannot_be_is_no_time(payload: str) -> None:
    assert decode_time(bytes.fromhex(payload)) is None
    assert decode_time(bytes.fromhex("18 02 1D 17 3B 3B E7 03")) is not None  # 2024-02-29 23:59:59.999 can be


def _timed_stream(rate_hz: float, cycles: range, lose: set[int], time_lost: frozenset[int] = frozenset(),
                  t0_ms: int = TIME_MS) -> bytes:
    """Cycles of time + accel + gyro packets (gyro x = the cycle number); `lose` whole, `time_lost`
    without their time packet."""
    period_ms = round(1000 / rate_hz)
    wire = b""
    for k in cycles:
        if k in lose:
            continue
        cycle = encode_sample((float(k), 0, 0), (0, 0, 1.0), None if k in time_lost else t0_ms + k * period_ms)
        wire += cycle
    return wire


@pytest.mark.parametrize("rate_hz", [10.0, 50.0, 100.0, 200.0])
def test_time_packets_place_samples_across_whole_lost_cycles(rate_hz: float) -> None:
    lost = {3, 4, 17, 40}
    dec = Wt901Decoder(rate_hz=rate_hz)
    out = dec.feed(_timed_stream(rate_hz, range(50), lost))
    kept = [k for k in range(50) if k not in lost]
    assert out.seq.tolist() == kept
    np.testing.assert_allclose(out.gyr_dps[:, 0], kept, atol=0.07)
    assert dec.samples_dropped == 4 and dec.pairs_broken == 0 and dec.frames_bad == 0
    assert dec.frames_ok == 3 * len(kept) and dec.last_time_ms == TIME_MS + 49 * round(1000 / rate_hz)
    # without the rate the time is read but the index stays the arrival order (the old behaviour)
    dec = Wt901Decoder()
    assert dec.feed(_timed_stream(rate_hz, range(50), lost)).seq.tolist() == list(range(len(kept)))
    assert dec.samples_dropped == 0 and dec.last_time_ms == TIME_MS + 49 * round(1000 / rate_hz)


def test_a_cycle_without_its_time_packet_is_placed_in_arrival_order() -> None:
    # cycle 5 lost its time packet and cycle 6 is lost whole: 5 takes the next place, 7 is placed by
    # its time counted from 4, the last sample with a time
    dec = Wt901Decoder(rate_hz=100.0)
    out = dec.feed(_timed_stream(100.0, range(10), {6}, frozenset({5})))
    assert out.seq.tolist() == [0, 1, 2, 3, 4, 5, 7, 8, 9] and dec.samples_dropped == 1
    # the first cycle without a time: arrival order until the first time packet
    dec = Wt901Decoder(rate_hz=100.0)
    out = dec.feed(_timed_stream(100.0, range(6), {2}, frozenset({0, 1})))
    assert out.seq.tolist() == [0, 1, 2, 3, 4] and dec.samples_dropped == 0  # 3 is the first reference


def test_a_lost_gyro_packet_with_time_packets_is_one_gap_counted_once() -> None:
    wire = bytearray(_timed_stream(100.0, range(8), set()))
    cycle = 3 * PACKET_LEN
    del wire[3 * cycle + 2 * PACKET_LEN:4 * cycle]  # cycle 3's gyro packet
    dec = Wt901Decoder(rate_hz=100.0)
    out = dec.feed(bytes(wire))
    assert out.seq.tolist() == [0, 1, 2, 4, 5, 6, 7]
    assert dec.samples_dropped == 1 and dec.pairs_broken == 1


def test_a_clock_set_back_or_a_repeated_time_never_moves_the_index_back() -> None:
    wire = _timed_stream(100.0, range(5), set()) + _timed_stream(100.0, range(5, 10), set(), t0_ms=TIME_MS - 60_000)
    dec = Wt901Decoder(rate_hz=100.0)
    out = dec.feed(wire)
    assert out.seq.tolist() == list(range(10)) and dec.samples_dropped == 0
    # the new clock is the reference: a cycle lost after the jump is a gap again
    wire += encode_sample((11.0, 0, 0), (0, 0, 1.0), TIME_MS - 60_000 + 11 * 10)
    dec = Wt901Decoder(rate_hz=100.0)
    assert dec.feed(wire).seq.tolist() == [*range(10), 11] and dec.samples_dropped == 1
    same = encode_sample((0.0, 0, 0), (0, 0, 1.0), TIME_MS)
    dec = Wt901Decoder(rate_hz=100.0)
    assert dec.feed(same + same + same).seq.tolist() == [0, 1, 2]


def test_an_impossible_time_packet_is_bad_and_the_sample_keeps_arrival_order() -> None:
    wire = bytearray(_timed_stream(100.0, range(4), {2}))
    bad_time = encode_packet(0x50, [0x0D1A, 0x0F02, 0x2D1E, 0x007B])  # month 13, checksum valid
    wire[2 * 3 * PACKET_LEN:2 * 3 * PACKET_LEN + PACKET_LEN] = bad_time  # cycle 3 (the third sent)
    dec = Wt901Decoder(rate_hz=100.0)
    out = dec.feed(bytes(wire))
    assert out.seq.tolist() == [0, 1, 2] and dec.frames_bad == 1 and dec.samples_dropped == 0
    assert dec.last_time_ms == TIME_MS + 10


def test_time_placement_splits_anywhere() -> None:
    wire = _timed_stream(200.0, range(30), {7, 8, 9, 21})
    whole = Wt901Decoder(rate_hz=200.0).feed(wire).seq.tolist()
    dec = Wt901Decoder(rate_hz=200.0)
    parts = [dec.feed(wire[k:k + 5]).seq for k in range(0, len(wire), 5)]
    assert np.concatenate(parts).tolist() == whole == [k for k in range(30) if k not in {7, 8, 9, 21}]


def test_the_rate_must_be_positive() -> None:
    for bad in (0.0, -100.0, float("nan"), float("inf")):
        with pytest.raises(ProtocolError, match="output rate"):
            Wt901Decoder(rate_hz=bad)


def test_a_wt901_with_its_gyro_output_off_says_why_it_makes_no_sample() -> None:
    """Accel and angle packets only (RSW without 0x04): valid packets, no sample, and the reason."""
    dec = Wt901Decoder(rate_hz=100.0)
    assert dec.no_sample_because is None  # nothing yet
    for _ in range(5):
        assert len(dec.feed(encode_accel((0.0, 0.0, 1.0)) + encode_angle((1.0, 2.0, 3.0))).seq) == 0
    assert dec.no_sample_because == ("10 WT901 packets and none of them a gyroscope packet (type 0x52): turn the "
                                     "sensor's gyro output on (RSW bit 0x04, in WitMotion's software)")
    assert len(dec.feed(encode_sample((1.0, 2.0, 3.0), (0.0, 0.0, 1.0))).seq) == 1
    assert dec.no_sample_because is None  # a gyro packet came
