"""The format sniffer: every other wire format tried on a sensor's bytes names what it sends.

Streams are made with the project's real encoders (the same the sensor emulator sends), so a
format named here is one a real sensor of that kind sends."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from fescontrol.control.format_sniff import (
    MIN_SAMPLES,
    SNIFF_FORMATS,
    SNIFF_LIMIT_BYTES,
    FormatSniffer,
    remedy,
)
from fescontrol.control.sensor_input import FORCE_FORMAT
from fescontrol.sensing import csv_lines, frames, wt901

RATE_HZ = 100.0


def _imu(k: int) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    phase = 2 * math.pi * k / 100
    return (100 * math.sin(phase), -50.0, 3.0), (0.1, 0.0, 1.0)


ENCODERS: dict[str, Callable[[int], bytes]] = {
    FORCE_FORMAT: lambda k: frames.encode_heel_frame(k, 300.0 + 10 * (k % 7)),
    "imu6": lambda k: frames.encode_imu_frame(k, *_imu(k)),
    "wt901": lambda k: wt901.encode_sample(*_imu(k)),
    "csv": lambda k: (csv_lines.encode_header() if k == 0 else b"") + csv_lines.encode_line(k, *_imu(k)),
}


def _stream(fmt: str, n: int) -> bytes:
    return b"".join(ENCODERS[fmt](k) for k in range(n))


def _pairs() -> list[tuple[str, str]]:
    return [(session, sent) for session in SNIFF_FORMATS for sent in SNIFF_FORMATS if session != sent]


@pytest.mark.parametrize("session,sent", _pairs())
def test_each_other_format_is_named_after_min_samples_and_not_before(session: str, sent: str) -> None:
    sniffer = FormatSniffer(session, RATE_HZ)
    stream = _stream(sent, MIN_SAMPLES)
    cut = len(_stream(sent, MIN_SAMPLES - 1))  # everything but the last sample
    sniffer.feed(stream[:cut])
    assert sniffer.found() is None, sniffer.samples
    sniffer.feed(stream[cut:])
    assert sniffer.found() == sent, sniffer.samples
    assert sniffer.samples[sent] == MIN_SAMPLES
    assert session not in sniffer.samples  # the session's own decoder is the loop's, not tried twice


@pytest.mark.parametrize("sent", ["imu6", "wt901", "csv"])
def test_a_stream_fed_a_byte_at_a_time_is_named_alike(sent: str) -> None:
    sniffer = FormatSniffer(FORCE_FORMAT, RATE_HZ)
    for byte in _stream(sent, 40):
        sniffer.feed(bytes((byte,)))
    assert sniffer.found() == sent


def test_insole_frames_are_a_force_sensor() -> None:
    sniffer = FormatSniffer("wt901", RATE_HZ)
    sniffer.feed(b"".join(frames.encode_insole_frame(k, 200.0, 400.0) for k in range(30)))
    assert sniffer.found() == FORCE_FORMAT


def test_noise_and_a_wrong_baud_rate_name_nothing() -> None:
    """Random bytes (what a wrong baud rate gives) form no frame of any format."""
    noise = np.random.default_rng(7).integers(0, 256, SNIFF_LIMIT_BYTES, dtype=np.uint8).tobytes()
    for session in SNIFF_FORMATS:
        sniffer = FormatSniffer(session, RATE_HZ)
        sniffer.feed(noise)
        assert sniffer.found() is None, (session, sniffer.samples)
        with pytest.raises(ValueError, match="no other format"):
            sniffer.reason()


def test_it_stops_trying_after_its_byte_limit() -> None:
    sniffer = FormatSniffer("imu6", RATE_HZ)
    sniffer.feed(bytes(SNIFF_LIMIT_BYTES))
    sniffer.feed(_stream("wt901", 100))
    assert sniffer.bytes_tried == SNIFF_LIMIT_BYTES and sniffer.found() is None


def test_the_reason_names_what_came_and_the_option_that_reads_it() -> None:
    sniffer = FormatSniffer("imu6", RATE_HZ)
    data = _stream("wt901", MIN_SAMPLES)
    sniffer.feed(data)
    assert sniffer.reason() == (
        "the sensor sends WitMotion WT901 packets (wt901), not the 6-axis IMU frames (type 0x02, imu6) this session "
        f"reads: its first {len(data)} bytes formed {MIN_SAMPLES} wt901 samples and none the session reads; "
        "run with --sensor-format wt901")


@pytest.mark.parametrize("found,session,expected", [
    (FORCE_FORMAT, "imu6", "a force profile reads them: run without --sensor-format"),
    ("csv", FORCE_FORMAT, "an IMU profile reads them: run with --sensor-format csv"),
    ("imu6", "wt901", "run with --sensor-format imu6"),
])
def test_the_remedy_fits_the_profile_the_session_has(found: str, session: str, expected: str) -> None:
    assert remedy(found, session).startswith(expected)
