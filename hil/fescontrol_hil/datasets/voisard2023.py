"""Voisard et al., IPOL 2023: healthy gait, XSens MTw Awinda IMUs on the dorsum of each foot.

One recording per trial and foot, `<subject>-<trial>_<side>` (e.g. `1-1_left`). Conversions:
`Gyr_*` rad/s -> `gyr_*_dps`, `Acc_*` m/s^2 (gravity included) -> `acc_*_g`, sensor axes as
mounted (the README: the sensor sits tilted on the instep; `gyr_y` is the sagittal axis on
both feet). Magnetometer columns have no CONTRACT column and are left out.

Time is `PacketCounter / rate`: the README shows that the reference events sit on the
packet-counter grid, not on the row grid. Missing packets stay missing (a gap in `t_s`, never
interpolated: that would invent sensor data), and the sidecar counts them.

Truth: `LeftFootEvents` / `RightFootEvents` are `[toe_off, heel_strike]` pairs in samples of
that grid, one per swing (algorithm plus manual check, not force plate). The protocol starts
and ends standing still, so `TrialBoundaries` (walking start / end) become `standing_end` /
`standing_start`, but only where they bound all the events of both feet: in 7 foot files (5
trials) the events run past the boundary, and a standing mark there would declare real steps
standing. The other foot of such a trial gets no mark either: the wearer is still walking (in
4-1, 7-1 and 7-2 one foot's reference steps go on for 5-10 s past the boundary, and the other
foot steps with it, unmarked).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.recording import write_recording
from fescontrol_hil.datasets._common import (
    DEG_PER_RAD,
    STANDARD_GRAVITY_M_S2,
    read_trial_meta,
    require_dir,
    select,
)

NAME = "voisard2023"
SUMMARY = "Voisard et al. IPOL 2023: healthy foot IMUs (XSens) at 100 Hz, reference [toe_off, heel_strike] pairs"
HEADER = ["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z", "Mag_X", "Mag_Y", "Mag_Z"]
FEET = {"left": ("lf", "LeftFootEvents"), "right": ("rf", "RightFootEvents")}


def trial_ids(src: Path) -> list[str]:
    ids = [p.stem for p in require_dir(src, NAME, "*-*.json")]
    return sorted(ids, key=lambda s: tuple(int(x) for x in s.split("-")))


def load_foot(path: Path) -> tuple[float, np.ndarray]:
    """(rate_hz, rows of HEADER) of one foot file; the packet counter is checked, not trusted."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            first = fh.readline()
            header = fh.readline().split()
            data = np.loadtxt(fh, dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path}: cannot read as a voisard2023 IMU file: {exc}") from exc
    m = re.match(r"Acquisition frequency:\s*([0-9.]+)\s*Hz", first)
    if m is None:
        raise ConfigError(f"{path}: line 1 {first.strip()!r}: expected 'Acquisition frequency: N Hz'")
    if header != HEADER:
        raise ConfigError(f"{path}: line 2: columns {header}, expected {HEADER}")
    pc = data[:, 0]
    if data.shape[0] < 2 or np.any(pc != np.rint(pc)) or np.any(np.diff(pc) <= 0):
        raise ConfigError(f"{path}: PacketCounter is not a strictly increasing whole number")
    return float(m.group(1)), data


def foot_events(meta: dict[str, Any], key: str, rate: float) -> list[tuple[float, str, str]]:
    """Swings as toe_off / heel_strike, plus standing marks where the trial bounds enclose the
    events of both feet (walking goes on while either foot steps)."""
    pairs = meta[key]
    events: list[tuple[float, str, str]] = []
    for to, hs in pairs:
        events.append((to / rate, "toe_off", "reference"))
        events.append((hs / rate, "heel_strike", "reference"))
    samples = [s for _, foot_key in FEET.values() for pair in meta[foot_key] for s in pair]
    start, end = meta["TrialBoundaries"]
    if samples and start <= min(samples):
        events.insert(0, (start / rate, "standing_end", "TrialBoundaries"))
    if samples and end >= max(samples):
        events.append((end / rate, "standing_start", "TrialBoundaries"))
    return events


def import_set(src: Path, out: Path, only: Sequence[str] | None = None) -> list[Path]:
    """Import trials (`only`: ids such as "1-1"); one recording per foot."""
    src, out = Path(src), Path(out)
    written: list[Path] = []
    for trial in select(trial_ids(src), only, NAME):
        meta = read_trial_meta(src, trial)
        for side, (suffix, key) in FEET.items():
            rate, data = load_foot(src / f"{trial}_{suffix}.txt.gz")
            pc = data[:, 0]
            columns = {
                "gyr_x_dps": data[:, 4] * DEG_PER_RAD, "gyr_y_dps": data[:, 5] * DEG_PER_RAD,
                "gyr_z_dps": data[:, 6] * DEG_PER_RAD,
                "acc_x_g": data[:, 1] / STANDARD_GRAVITY_M_S2, "acc_y_g": data[:, 2] / STANDARD_GRAVITY_M_S2,
                "acc_z_g": data[:, 3] / STANDARD_GRAVITY_M_S2,
            }
            missing = int(pc[-1] - pc[0] + 1 - pc.size)
            sidecar = {
                "side": side, "mount": "foot", "rate_hz": rate,
                "source": f"Voisard et al. IPOL 2023, {trial}_{suffix}.txt (AGPL-3.0)",
                "subject": str(meta.get("Subject", "")), "group": "healthy", "trial": trial,
                "sensor": "XSens MTw Awinda, dorsum of the foot, sensor axes; acc includes gravity",
                "missing_packets": missing,
                "uturn_s": [b / rate for b in meta["UTurnBoundaries"]],
                "trial_boundaries_s": [b / rate for b in meta["TrialBoundaries"]],
                "truth": "reference swings [toe_off, heel_strike] (Barrois 2017 / MP-DTW, checked by hand)",
            }
            written.append(write_recording(out, f"{trial}_{side}", pc / rate, columns, sidecar,
                                           foot_events(meta, key, rate), time_decimals=4,
                                           value_format="%.6f"))
    return written
