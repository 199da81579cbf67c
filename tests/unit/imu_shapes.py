"""Hand-made gyro shapes for the foot detector's unit tests (deg/s at 100 Hz): half-sine lobes
and still runs, so each test's timeline reads as the gait phases it stands for."""

from __future__ import annotations

import numpy as np

RATE = 100.0


def n_samples(t: float) -> int:
    """Samples in `t` seconds at RATE."""
    return int(round(t * RATE))


def lobe(t: float, peak: float) -> np.ndarray:
    """One half-sine lobe of `t` seconds peaking at `peak` deg/s (negative: a backward lobe)."""
    return peak * np.sin(np.linspace(0.0, np.pi, n_samples(t)))


def still(t: float) -> np.ndarray:
    """`t` seconds of a foot at rest."""
    return np.zeros(n_samples(t))
