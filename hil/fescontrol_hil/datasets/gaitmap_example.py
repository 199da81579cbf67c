"""gaitmap 2.6.0 example data: NilsPod IMUs on the lateral side of each shoe, 204.8 Hz.

One recording per foot, `imu_sample_<side>`. The IMU data are already in gaitmap's foot
sensor frame (x to the shoe tip, y left, z up, the same for both feet): `gyr_*` stay deg/s,
`acc_*` m/s^2 (gravity included) become g. Time is sample index / 204.8 s, written with 6
decimals (4 would put a 2 % jitter on every step at this rate).

Truth comes from motion capture (`stride_events_sample.csv`, already on IMU samples): each
stride row holds one swing, `tc` (toe off) -> `ic` (heel strike); `pre_ic` adds the first
heel strike of each foot, which appears only there (59 heel strikes, 57 toe offs). The
reference is written as it is, including left stride 13, whose "swing" spans the 180 deg
turn (1.5 s, the turning steps are not in the reference): the README asks to mask it, and
the CONTRACT has no event for "not scored", so the sidecar lists such swings (longer than
three times the foot's median swing) under `turn_swings_s` for the scorer to mask, rather
than the importer inventing events. Swings before the first listed toe off and after the
last listed heel strike are not in the reference; SCORING.md's scored span leaves them out.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.recording import write_recording
from fescontrol_hil.datasets._common import STANDARD_GRAVITY_M_S2, require_dir, select

NAME = "gaitmap-example"
SUMMARY = "gaitmap 2.6.0 example: lateral shoe IMUs (NilsPod) at 204.8 Hz, mocap toe_off/heel_strike"
RATE_HZ = 204.8
RECORDING_ID = "imu_sample"
AXES = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
LONG_SWING_FACTOR = 3.0


def load_imu(path: Path) -> dict[tuple[str, str], np.ndarray]:
    """(sensor, axis) -> column of `imu_sample.csv` (two header rows, index column first)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        sensors, axes = rows[0], rows[1]
        data = np.array(rows[2:], dtype=np.float64)
    except (OSError, IndexError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read as gaitmap imu_sample.csv: {exc}") from exc
    if sensors[0] != "sensor" or axes[0] != "axis":
        raise ConfigError(f"{path}: the two header rows must start with 'sensor' and 'axis'")
    if np.any(data[:, 0] != np.arange(data.shape[0])):
        raise ConfigError(f"{path}: the index column is not 0, 1, 2, ...: samples are missing")
    return {(s, a): data[:, j] for j, (s, a) in enumerate(zip(sensors, axes, strict=True)) if j > 0}


def load_strides(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    need = {"s_id", "foot", "ic", "tc", "pre_ic"}
    if not rows or not need <= set(rows[0]):
        raise ConfigError(f"{path}: expected the columns {', '.join(sorted(need))}")
    return rows


def foot_events(strides: list[dict[str, str]], foot: str) -> tuple[list[tuple[float, str, str]], list[list[float]]]:
    """(events, long swings [tc_s, ic_s]) of one foot from the stride rows."""
    mine = [r for r in strides if r["foot"] == foot]
    ics = sorted({float(r["ic"]) for r in mine} | {float(r["pre_ic"]) for r in mine})
    events = [(ic / RATE_HZ, "heel_strike", "mocap_ic") for ic in ics]
    events += [(float(r["tc"]) / RATE_HZ, "toe_off", "mocap_tc") for r in mine]
    swings = [(float(r["tc"]), float(r["ic"])) for r in mine]
    median = float(np.median([ic - tc for tc, ic in swings])) if swings else 0.0
    long = [[tc / RATE_HZ, ic / RATE_HZ] for tc, ic in swings if ic - tc > LONG_SWING_FACTOR * median]
    return events, long


def import_set(src: Path, out: Path, only: Sequence[str] | None = None) -> list[Path]:
    """Import the example (`only`: ["imu_sample"], the one recording there is); one file per foot."""
    src, out = Path(src), Path(out)
    require_dir(src, NAME, "imu_sample.csv")
    select([RECORDING_ID], only, NAME)
    imu = load_imu(src / "imu_sample.csv")
    strides = load_strides(src / "stride_events_sample.csv")
    written: list[Path] = []
    for side in ("left", "right"):
        sensor = f"{side}_sensor"
        missing = [a for a in AXES if (sensor, a) not in imu]
        if missing:
            raise ConfigError(f"{src / 'imu_sample.csv'}: no column {sensor} {', '.join(missing)}")
        n = imu[(sensor, "acc_x")].size
        columns = {f"{a}_dps": imu[(sensor, a)] for a in AXES if a.startswith("gyr")}
        columns |= {f"{a}_g": imu[(sensor, a)] / STANDARD_GRAVITY_M_S2 for a in AXES if a.startswith("acc")}
        columns = {k: columns[k] for k in ("gyr_x_dps", "gyr_y_dps", "gyr_z_dps", "acc_x_g", "acc_y_g", "acc_z_g")}
        events, long = foot_events(strides, side)
        sidecar = {
            "side": side, "mount": "foot", "rate_hz": RATE_HZ,
            "source": "gaitmap 2.6.0 example_data (MIT); SensorPositionComparison2019 5047 normal_20",
            "subject": "5047", "group": "healthy",
            "sensor": "NilsPod, lateral side of the shoe; gaitmap foot frame (x tip, y left, z up); "
                      "acc includes gravity",
            "truth": "motion capture (Zeni): toe_off = tc, heel_strike = ic and pre_ic",
            "turn_swings_s": long,
        }
        t = np.arange(n, dtype=np.float64) / RATE_HZ
        written.append(write_recording(out, f"{RECORDING_ID}_{side}", t, columns, sidecar, events,
                                       time_decimals=6, value_format="%.6f"))
    return written
