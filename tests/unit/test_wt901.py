"""WitMotion WT901 packets: the reference's worked packets, scales, pairing, resync."""

from __future__ import annotations

import numpy as np
import pytest

from fescontrol.errors import ProtocolError
from fescontrol.sensing.wt901 import (
    PACKET_LEN,
    Wt901Decoder,
    encode_accel,
    encode_angle,
    encode_gyro,
    encode_packet,
    encode_sample,
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
