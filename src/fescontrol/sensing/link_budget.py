"""Whether a sensor's samples fit its serial link, checked before a port is opened.

Why: a sensor that must send more bits per second than its baud rate carries falls behind, and
the controller would see it only as stale or lost samples mid-session. A WitMotion WT901 left at
its factory 9600 baud (open boards; enclosed USB ones ship at 115200) carries accel + gyro
packets (22 bytes, 10 bits each on the wire) at no more than 43 samples per second
(gait-detection.md, WT901 link capacity). So the rate the session expects and the baud rate it
opens the port at are checked together, and a WT901 only sends at its output rates.

A CSV sensor's line length is its own (a microcontroller's print format), so only its baud rate
is checked.
"""

from __future__ import annotations

from fescontrol.errors import ConfigError
from fescontrol.sensing.frames import IMU6_FRAME_LEN, INSOLE_FRAME_LEN
from fescontrol.sensing.wt901 import BAUDS, PACKET_LEN, RATES_HZ

__all__ = ["SENSOR_BAUDS", "DEFAULT_SENSOR_BAUD", "UART_BITS_PER_BYTE", "BYTES_PER_SAMPLE", "check_sensor_link"]

SENSOR_BAUDS = BAUDS
"""Standard UART baud rates (a WT901's BAUD register offers these too)."""
DEFAULT_SENSOR_BAUD = 115200
UART_BITS_PER_BYTE = 10
"""8N1: a start bit, eight data bits and a stop bit."""
BYTES_PER_SAMPLE = {
    "force": INSOLE_FRAME_LEN,   # heel (9 bytes) or insole (11) frames: the larger counts
    "imu6": IMU6_FRAME_LEN,
    "wt901": 2 * PACKET_LEN,     # an acceleration and an angular-velocity packet
    "wt901-time": 3 * PACKET_LEN,  # ... and the time packet (a WT901 set to send it; the emulator's --wt901-time)
}
"""Bytes on the wire per sample of each wire format (`control.sensor_input`); csv: not known."""


def check_sensor_link(fmt: str, rate_hz: float, baud: int, rate_option: str = "--rate",
                      baud_option: str = "--sensor-baud") -> None:
    """Raise ConfigError (naming the options, values and what is allowed) when the format's
    samples at ``rate_hz`` cannot arrive over ``baud``."""
    if isinstance(baud, bool) or baud not in SENSOR_BAUDS:
        raise ConfigError(f"{baud_option} {baud}: allowed {', '.join(map(str, SENSOR_BAUDS))} baud")
    if fmt.startswith("wt901") and not any(abs(rate_hz - r) < 1e-6 for r in RATES_HZ):
        raise ConfigError(f"{rate_option} {rate_hz:g}: a WT901 sends at {', '.join(f'{r:g}' for r in RATES_HZ)} Hz")
    size = BYTES_PER_SAMPLE.get(fmt)
    if size is None:
        return
    need = rate_hz * size * UART_BITS_PER_BYTE
    if need > baud:
        raise ConfigError(f"{baud_option} {baud}: {rate_hz:g} Hz of {fmt} samples ({size} bytes each) need "
                          f"{need:g} bit/s; use a faster baud rate (set the sensor to it too) or a lower {rate_option}")
