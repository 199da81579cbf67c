"""Our 6-axis IMU frame (type 0x02): worked bytes, saturation, resync, and the two decoders
each skipping the other's frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fescontrol.errors import ConfigError, ProtocolError
from fescontrol.records.recording import IMU_COLUMNS as RECORDING_IMU_COLUMNS
from fescontrol.sensing.csv_lines import HEADER, encode_line
from fescontrol.sensing.frames import (
    IMU6_FRAME_LEN,
    SENSOR_FRAME_DOC,
    FrameDecoder,
    ImuFrameDecoder,
    encode_heel_frame,
    encode_imu_frame,
)
from fescontrol.sensing.imu_decoders import IMU_DECODERS, make_imu_decoder
from fescontrol.sensing.imu_samples import IMU_COLUMNS
from fescontrol.sensing.wt901 import encode_accel
from tests.unit.test_frames import bitwise_crc8

# sample 1, gyro (12.5, 350.0, -3.2) deg/s, accel (0.25, 0.0, -1.0) g, written out from the spec:
# 125 = 0x007D, 3500 = 0x0DAC, -32 = 0xFFE0 (two's complement), 250 = 0x00FA, 0, -1000 = 0xFC18
WORKED = bytes([0xA5, 0x5A, 0x02, 0x0C, 0x01, 0x00,
                0x7D, 0x00, 0xAC, 0x0D, 0xE0, 0xFF,
                0xFA, 0x00, 0x00, 0x00, 0x18, 0xFC])
WORKED += bytes([bitwise_crc8(WORKED[2:])])


def imu(seqs: list[int], gyr: list[tuple[float, float, float]], acc: list[tuple[float, float, float]]) -> bytes:
    return b"".join(encode_imu_frame(s, g, a) for s, g, a in zip(seqs, gyr, acc))


def test_worked_example_bytes_and_decode() -> None:
    assert WORKED[-1] == 0x4B and len(WORKED) == IMU6_FRAME_LEN
    assert encode_imu_frame(1, (12.5, 350.0, -3.2), (0.25, 0.0, -1.0)) == WORKED
    dec = ImuFrameDecoder()
    out = dec.feed(WORKED)
    assert out.seq.tolist() == [1]
    np.testing.assert_allclose(out.gyr_dps, [[12.5, 350.0, -3.2]], atol=1e-9)
    np.testing.assert_allclose(out.acc_g, [[0.25, 0.0, -1.0]], atol=1e-12)
    assert dec.frames_ok == 1 and dec.frames_bad == dec.bytes_discarded == 0
    assert f"`{WORKED.hex(' ').upper()}`" in SENSOR_FRAME_DOC


def test_columns_are_the_contracts() -> None:
    assert IMU_COLUMNS == RECORDING_IMU_COLUMNS
    out = ImuFrameDecoder().feed(WORKED)
    cols = out.columns()
    assert list(cols) == list(IMU_COLUMNS)
    assert cols["gyr_y_dps"].tolist() == pytest.approx([350.0]) and cols["acc_z_g"].tolist() == pytest.approx([-1.0])


def test_sensor_ranges_fit_and_the_wire_saturates() -> None:
    out = ImuFrameDecoder().feed(imu([0, 1, 2], [(2000.0, -2000.0, 0.04), (5000.0, -5000.0, -0.05), (0.05, 0, 0)],
                                     [(16.0, -16.0, 0.0005), (40.0, -40.0, -0.0005), (0, 0, 0)]))
    np.testing.assert_allclose(out.gyr_dps, [[2000.0, -2000.0, 0.0], [3276.7, -3276.8, 0.0], [0.1, 0, 0]], atol=1e-9)
    np.testing.assert_allclose(out.acc_g, [[16.0, -16.0, 0.001], [32.767, -32.768, 0.0], [0, 0, 0]], atol=1e-12)


def test_encoder_rejects_bad_input() -> None:
    with pytest.raises(ProtocolError, match="gyro y"):
        encode_imu_frame(0, (0.0, float("nan"), 0.0), (0.0, 0.0, 1.0))
    with pytest.raises(ProtocolError, match="negative"):
        encode_imu_frame(-1, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    with pytest.raises(ProtocolError, match="3 gyro"):
        encode_imu_frame(0, (0.0, 0.0), (0.0, 0.0, 1.0))
    assert encode_imu_frame(65536 + 3, (1, 2, 3), (0, 0, 1)) == encode_imu_frame(3, (1, 2, 3), (0, 0, 1))


def test_byte_by_byte_garbage_gaps_and_wrap() -> None:
    seqs = [65534, 65535, 0, 3]
    data = b"\x00\xa5\x13" + imu(seqs, [(float(k), 0, 0) for k in range(4)], [(0, 0, -1)] * 4)
    dec = ImuFrameDecoder()
    got = [dec.feed(data[k:k + 1]) for k in range(len(data))]
    assert np.concatenate([g.seq for g in got]).tolist() == [65534, 65535, 65536, 65539]
    assert np.concatenate([g.gyr_dps for g in got])[:, 0].tolist() == pytest.approx([0, 1, 2, 3])
    assert dec.samples_dropped == 2 and dec.bytes_discarded == 3 and dec.bytes_pending == 0


def test_corrupted_frame_and_wrong_length() -> None:
    data = bytearray(imu(list(range(4)), [(1, 2, 3)] * 4, [(0, 0, -1)] * 4))
    data[IMU6_FRAME_LEN + 9] ^= 0x10  # gyro of frame 1
    dec = ImuFrameDecoder()
    assert dec.feed(bytes(data)).seq.tolist() == [0, 2, 3]
    assert dec.frames_bad == 1 and dec.samples_dropped == 1 and dec.bytes_discarded == IMU6_FRAME_LEN
    assert len(dec.feed(bytes([0xA5, 0x5A, 0x02, 0x04]))) == 0  # IMU frames have length 12
    assert dec.frames_bad == 2 and dec.bytes_pending == 0


def test_each_decoder_skips_the_others_frames() -> None:
    mixed = encode_heel_frame(0, 100.0) + encode_imu_frame(7, (1, 2, 3), (0, 0, -1)) + encode_heel_frame(1, 200.0)
    force, motion = FrameDecoder(), ImuFrameDecoder()
    assert force.feed(mixed).seq.tolist() == [0, 1] and force.frames_skipped == 1 and force.frames_bad == 0
    assert motion.feed(mixed).seq.tolist() == [7] and motion.frames_skipped == 2 and motion.frames_bad == 0


def test_duplicate_is_dropped_and_finish_releases_the_tail() -> None:
    dec = ImuFrameDecoder()
    out = dec.feed(imu([5, 5, 6], [(1, 0, 0), (2, 0, 0), (3, 0, 0)], [(0, 0, 0)] * 3) + b"\xa5\x5a\x02\x0c\x07")
    assert out.seq.tolist() == [5, 6] and dec.frames_out_of_order == 1
    assert len(dec.finish()) == 0 and dec.bytes_pending == 0 and dec.frames_bad == 1


def test_a_restarted_counter_is_named() -> None:
    seqs = [*range(300, 305), *range(5)]
    dec = ImuFrameDecoder()
    out = dec.feed(imu(seqs, [(1, 0, 0)] * len(seqs), [(0, 0, 1)] * len(seqs)))
    assert out.seq.tolist() == list(range(300, 305)) and dec.sensor_restart == (304, 0)


def test_registry_names_every_imu_decoder() -> None:
    assert set(IMU_DECODERS) == {"imu6", "wt901", "csv"}
    assert isinstance(make_imu_decoder("imu6"), ImuFrameDecoder)
    with pytest.raises(ConfigError, match="'mpu'.*imu6, wt901, csv"):
        make_imu_decoder("mpu")


def test_readme_examples_are_what_the_encoders_write() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"`{encode_imu_frame(1, (12.5, 350.0, -3.2), (0.25, 0.0, -1.0)).hex(' ').upper()}`" in readme
    assert f"`{encode_accel((0.0, 0.0, 1.0)).hex(' ').upper()}`" in readme
    assert f"`{encode_line(7, (12.5, -350.0, 0.0), (0.25, 0.0, -1.0)).decode().strip()}`" in readme
    assert f"`{HEADER}`" in readme
