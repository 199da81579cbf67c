"""The sensor link budget (sensing/link_budget.py): a format's samples must fit its baud rate."""

from __future__ import annotations

import pytest

from fescontrol.errors import ConfigError
from fescontrol.sensing.link_budget import BYTES_PER_SAMPLE, check_sensor_link


@pytest.mark.parametrize(("fmt", "rate", "baud"), [
    ("wt901", 20.0, 9600),      # 20 x 22 bytes x 10 bits = 4400 bit/s
    ("wt901", 200.0, 115200),   # 44000 bit/s
    ("imu6", 500.0, 115200),    # 500 x 19 x 10 = 95000 bit/s
    ("force", 1000.0, 115200),  # 1000 x 11 x 10 = 110000 bit/s
    ("csv", 1000.0, 9600),      # a CSV line's length is the sensor's own: only the baud is checked
])
def test_links_that_carry_their_samples(fmt: str, rate: float, baud: int) -> None:
    check_sensor_link(fmt, rate, baud)


@pytest.mark.parametrize(("fmt", "rate", "baud", "says"), [
    ("wt901", 50.0, 9600, "--sensor-baud 9600: 50 Hz of wt901 samples (22 bytes each) need 11000 bit/s"),
    ("imu6", 1000.0, 115200, "--sensor-baud 115200: 1000 Hz of imu6 samples (19 bytes each) need 190000 bit/s"),
    ("force", 100.0, 1200, "--sensor-baud 1200: allowed 4800, 9600, 19200"),
    ("wt901", 30.0, 115200, "--rate 30: a WT901 sends at 10, 20, 50, 100, 200 Hz"),
])
def test_links_that_cannot(fmt: str, rate: float, baud: int, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        check_sensor_link(fmt, rate, baud)


def test_the_border_is_inclusive() -> None:
    size = BYTES_PER_SAMPLE["imu6"]
    check_sensor_link("imu6", 115200 / (size * 10), 115200)
    with pytest.raises(ConfigError):
        check_sensor_link("imu6", 115200 / (size * 10) + 0.01, 115200)


def test_options_are_named_as_the_caller_names_them() -> None:
    with pytest.raises(ConfigError, match="^--baud 9600: 100 Hz"):
        check_sensor_link("wt901", 100.0, 9600, baud_option="--baud")
