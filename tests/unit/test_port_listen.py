"""`fescontrol ports --listen`: what a port's bytes are (pure classification), from the
project's real encoders, the stimulator's real packets, silence and noise."""

from __future__ import annotations

import numpy as np
import pytest

from fescontrol.control.sensor_input import FORCE_FORMAT
from fescontrol.port_listen import classify, format_heard
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol import sciencemode4 as sm4
from tests.unit.test_format_sniff import ENCODERS


def _stream(fmt: str, n: int) -> bytes:
    return b"".join(ENCODERS[fmt](k) for k in range(n))


@pytest.mark.parametrize("fmt,what,use", [
    (FORCE_FORMAT, "heel-switch or insole frames (type 0x01 / 0x03), about 100 samples/s",
     "run --sensor-port with a heel-switch or insole profile (the default)"),
    ("imu6", "6-axis IMU frames (type 0x02, imu6), about 100 samples/s", "run --sensor-port with --sensor-format imu6"),
    ("wt901", "WitMotion WT901 packets (wt901), about 100 samples/s", "run --sensor-port with --sensor-format wt901"),
    ("csv", "IMU text lines (csv), about 100 samples/s", "run --sensor-port with --sensor-format csv"),
])
def test_a_sensor_is_named_with_its_format_rate_and_option(fmt: str, what: str, use: str) -> None:
    data = _stream(fmt, 150)
    heard = classify("/dev/ttyUSB0", data, 1.5)
    assert (heard.port, heard.bytes_in, heard.what, heard.use) == ("/dev/ttyUSB0", len(data), what, use)


def test_a_rehastim2_is_named_by_its_inits() -> None:
    data = sm2.init(1) + sm2.init(2)
    heard = classify("p", data, 1.5)
    assert heard.what == "ScienceMode2 packets (2, 2 Init): a RehaStim 2"
    assert heard.use == "run --stimulator-port with --device rehastim2"


def test_sciencemode4_packets_are_a_rehamove3_or_p24() -> None:
    heard = classify("p", sm4.ack(3, sm4.Cmd.ML_INIT_ACK, sm4.Result.SUCCESSFUL), 1.5)
    assert heard.what == "ScienceMode4 packets (1): a RehaMove3 or P24"
    assert heard.use == "run --stimulator-port with --device rehamove3 or p24"


def test_silence_and_noise_are_said_as_such() -> None:
    assert classify("p", b"", 1.5).what.startswith("nothing in 1.5 s: a RehaMove3 or P24 sends nothing until asked")
    noise = np.random.default_rng(11).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    heard = classify("p", noise, 1.5)
    assert heard.what == "5000 bytes in no known format: a sensor at another baud rate (--baud), or another device"
    assert heard.use == ""


def test_a_few_sensor_samples_are_not_enough_to_name_a_format() -> None:
    assert "no known format" in classify("p", _stream("imu6", 5), 1.5).what


def test_the_listening_lines_align_the_ports() -> None:
    text = format_heard([classify("/dev/a", b"", 1.0), classify("/dev/long", _stream("wt901", 40), 1.0)], 1.0, 9600)
    assert text.splitlines() == [
        "listened 1 s on each port at 9600 bit/s (nothing was sent):",
        "  /dev/a     nothing in 1 s: a RehaMove3 or P24 sends nothing until asked; or no device is attached, or it is off",
        "  /dev/long  WitMotion WT901 packets (wt901), about 40 samples/s; run --sensor-port with --sensor-format wt901"]
