"""What every IMU decoder returns: 6-axis samples with a sample index, in CONTRACT units.

One type for the three IMU wire formats (our frame type 0x02, WitMotion WT901 packets, CSV
lines), so the control loop and the detectors see the same arrays whichever sensor is
plugged in. Axes are the sensor's, as mounted: turning them into a body frame is the
detector's job (its profile says which axis is sagittal, or `auto`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMU_COLUMNS = ("gyr_x_dps", "gyr_y_dps", "gyr_z_dps", "acc_x_g", "acc_y_g", "acc_z_g")
"""The CONTRACT's IMU column names (deg/s, g), in the order of `ImuSamples.values`."""


@dataclass(frozen=True, eq=False)
class ImuSamples:
    """Decoded IMU samples: `seq` the unwrapped sample index (int64, from the sensor's counter,
    or from arrival order where the format has none), `gyr_dps` and `acc_g` float64 arrays of
    shape (n, 3), columns x, y, z of the sensor as mounted."""

    seq: np.ndarray
    gyr_dps: np.ndarray
    acc_g: np.ndarray

    def __len__(self) -> int:
        return int(self.seq.size)

    @property
    def values(self) -> np.ndarray:
        """(n, 6): gyro x, y, z then accel x, y, z (the order of `IMU_COLUMNS`)."""
        return np.hstack((self.gyr_dps, self.acc_g))

    def columns(self) -> dict[str, np.ndarray]:
        """The samples as CONTRACT columns (`gyr_x_dps` ... `acc_z_g`)."""
        v = self.values
        return {name: v[:, k] for k, name in enumerate(IMU_COLUMNS)}


def imu_samples(seq: list[int], rows: list[tuple[float, float, float, float, float, float]]) -> ImuSamples:
    """Build `ImuSamples` from a list of indices and a list of 6-tuples (gyro xyz, accel xyz)."""
    v = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return ImuSamples(seq=np.asarray(seq, dtype=np.int64), gyr_dps=v[:, :3].copy(), acc_g=v[:, 3:].copy())
