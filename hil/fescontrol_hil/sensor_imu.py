"""The IMU side of the sensor emulator: which IMU to stream, its axes as mounted, its frames.

Kinds: `foot-imu` and `shank-imu` send our 6-axis frame (type 0x02), `wt901` sends the foot
IMU as WitMotion WT901 packets (an accel packet 0x51 then a gyro packet 0x52 per sample, as
the sensor does with its output set to accel + gyro; with `--wt901-time` its time packet 0x50
first, as with the time output on too), which carry no counter, and `csv-imu`
prints the foot IMU as text lines (`fescontrol.sensing.csv_lines`: counter, gyro, accel), as a
microcontroller sketch would, its header line first. `--axes` maps
the generator's (or the recording's) axes onto the sensor's as mounted.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.recording import Recording
from fescontrol.sensing.csv_lines import encode_header, encode_line
from fescontrol.sensing.frames import encode_imu_frame
from fescontrol.sensing.imu_samples import IMU_COLUMNS
from fescontrol.sensing.link_budget import check_sensor_link
from fescontrol.sensing.wt901 import MS_PER_DAY, TIME_EPOCH, encode_sample

IMU_KINDS = ("foot-imu", "shank-imu", "wt901", "csv-imu")
KIND_MOUNT = {"foot-imu": "foot", "shank-imu": "shank", "wt901": "foot", "csv-imu": "foot"}
ANY_MOUNT_KINDS = ("wt901", "csv-imu")
"""Kinds that stream a recording's IMU whatever its mount (the others are one mount's frame)."""
_AXIS = re.compile(r"([+-]?)([xyz])")


def parse_axes(text: str) -> np.ndarray:
    """`--axes` as a 3x3 signed permutation M: sensor axis i reads M[i] . (x, y, z) of the source.

    `-y,x,z`: the sensor's x reads the source's -y, its y the source's x, its z the source's z.
    """
    items = [s.strip() for s in text.split(",")]
    matches = [_AXIS.fullmatch(s) for s in items]
    names = [m.group(2) for m in matches if m]
    if len(items) != 3 or not all(matches) or sorted(names) != ["x", "y", "z"]:
        raise ConfigError(f"--axes {text!r}: expected three of x, y, z, each once, each optionally signed "
                          "(e.g. --axes=-y,x,z)")
    out = np.zeros((3, 3))
    for i, m in enumerate(matches):
        assert m is not None
        out[i, "xyz".index(m.group(2))] = -1.0 if m.group(1) == "-" else 1.0
    return out


def mount_axes(data: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(n, 6) gyro + accel in the source frame -> in the sensor's frame as mounted."""
    return np.hstack((data[:, :3] @ axes.T, data[:, 3:] @ axes.T))


def recording_imu(path: str, src: Recording, kind: str) -> tuple[str, np.ndarray]:
    """The mount and the (n, 6) dense IMU of an IMU recording (NaN rows in its gaps); a
    recording whose sidecar names the other mount is refused for foot-imu / shank-imu."""
    mount = str(src.sidecar.get("mount", KIND_MOUNT[kind]))
    if kind not in ANY_MOUNT_KINDS and mount != KIND_MOUNT[kind]:
        raise ConfigError(f"--from-recording {path}: its sidecar says mount = {mount!r}; --kind {kind} streams "
                          f"a {KIND_MOUNT[kind]} IMU (use --kind {mount}-imu)")
    if mount not in ("foot", "shank"):
        raise ConfigError(f"--from-recording {path}: mount = {mount!r}; an IMU recording is of a foot or a shank")
    missing = [c for c in IMU_COLUMNS if c not in src.columns]
    if missing:
        raise ConfigError(f"--from-recording {path}: an IMU recording needs the columns {', '.join(IMU_COLUMNS)}; "
                          f"missing {', '.join(missing)}")
    return mount, np.stack([src.dense(c) for c in IMU_COLUMNS], axis=1)


WT901_CLOCK_START_MS = (datetime.date(2026, 1, 1) - TIME_EPOCH).days * MS_PER_DAY
"""The emulated WT901's clock at sample 0 (its time packets): 2026-01-01 00:00:00.000."""


def check_wt901(rate_hz: float, baud: int, time_packets: bool = False) -> None:
    """A WT901 streams at one of its output rates, and its packets must fit its baud rate."""
    check_sensor_link("wt901-time" if time_packets else "wt901", rate_hz, baud, rate_option="--rate",
                      baud_option="--baud")


def imu_encoder(kind: str, data: np.ndarray, rate_hz: float, wt901_time: bool = False) -> Callable[[int, int], bytes]:
    """Sample k of `data` with counter `seq` (k, or less after a restart) as the kind's bytes: our
    frame, two WT901 packets (no counter; with `wt901_time` its time packet first, sample k at
    k / rate_hz on the sensor's clock), or a text line (the header first, as a sketch prints it
    when it starts, also again after a restart)."""
    rows = data.tolist()
    if kind == "wt901" and wt901_time:
        period_ms = 1000.0 / rate_hz
        return lambda k, seq: encode_sample(rows[k][:3], rows[k][3:], WT901_CLOCK_START_MS + round(k * period_ms))
    if kind == "wt901":
        return lambda k, seq: encode_sample(rows[k][:3], rows[k][3:])
    if kind == "csv-imu":
        return lambda k, seq: (encode_header() if seq == 0 else b"") + encode_line(seq, rows[k][:3], rows[k][3:])
    return lambda k, seq: encode_imu_frame(seq, rows[k][:3], rows[k][3:])
