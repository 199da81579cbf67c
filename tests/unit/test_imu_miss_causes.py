"""The miss-cause rules of tools/results/imu_tables.py on hand-made timelines and signals.

They sort what the IMU targets miss (issue 13's closing tables) into causes; each rule is
checked on both sides of its border so a wrong comparison would show.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from fescontrol.records.readers import Event

TOOL = Path(__file__).resolve().parents[2] / "tools" / "results" / "imu_tables.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("imu_tables", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("imu_tables", module)
    spec.loader.exec_module(sys.modules["imu_tables"])
    return sys.modules["imu_tables"]


# walk: standing until 1.0, swings (to, hs) at (1.5, 1.9), (2.6, 3.0), (3.7, 4.1); standing from 4.5;
# a U-turn marked at 2.5..3.1
SWINGS = [(1.5, 1.9), (2.6, 3.0), (3.7, 4.1)]
TRUTH = [Event(1.0, "standing_end"), *(Event(t, k) for to, hs in SWINGS
                                         for t, k in ((to, "toe_off"), (hs, "heel_strike"))),
         Event(4.5, "standing_start")]


def test_swing_causes(tool: ModuleType) -> None:
    assert tool.swing_miss_cause(1.5, 1.9, TRUTH, []) == "first step"
    assert tool.swing_miss_cause(3.7, 4.1, TRUTH, []) == "last step"
    assert tool.swing_miss_cause(2.6, 3.0, TRUTH, []) == "straight walking"
    assert tool.swing_miss_cause(2.6, 3.0, TRUTH, [2.5, 3.1]) == "U-turn"
    assert tool.swing_miss_cause(2.6, 3.0, TRUTH, [3.2, 4.0]) == "straight walking"  # turn begins later
    # a gap of more than 2 s after the heel strike also ends a walk
    gap = [Event(1.5, "toe_off"), Event(1.9, "heel_strike"), Event(4.0, "toe_off"), Event(4.4, "heel_strike")]
    assert tool.swing_miss_cause(4.0, 4.4, gap, []) == "last step"
    assert tool.swing_miss_cause(1.5, 1.9, gap, []) == "first step"


def test_standing_causes(tool: ModuleType) -> None:
    rate = 100.0
    still = np.zeros(600)
    moving = still.copy()
    moving[480:500] = 150.0  # the foot turns at 4.8-5.0 s
    # a burst that goes on past the heel strike's extension window (4.1 + 0.25)
    assert tool.standing_cause(4.35, 4.45, TRUTH, still, rate) == "burst runs on after a swing"
    # a burst that begins in the standing before the first swing, less than 0.5 s before toe-off
    assert tool.standing_cause(1.05, 1.2, TRUTH, still, rate) == "burst starts early before a swing"
    assert tool.standing_cause(4.7, 5.1, TRUTH, moving, rate) == "foot moved, no swing marked"
    assert tool.standing_cause(5.2, 5.5, TRUTH, moving, rate) == "foot still"


def test_footstep_causes(tool: ModuleType) -> None:
    rate = 100.0
    t = np.arange(300) / rate
    swing = np.where((t >= 1.0) & (t < 1.6), 300.0 * np.sin(np.pi * (t - 1.0) / 0.6), 0.0)
    norm = np.abs(swing)
    assert tool.footstep_miss_cause(0.9, 1.7, swing, norm, rate) == "detector"
    assert tool.footstep_miss_cause(0.9, 1.7, 0.1 * swing, norm, rate) == "turn on the spot"
    # a window that runs 1.2 s past the motion: its middle third is mostly still
    assert tool.footstep_miss_cause(0.9, 2.9, swing, norm, rate) == "window outlasts the motion"
