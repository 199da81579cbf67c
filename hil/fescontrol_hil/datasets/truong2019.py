"""Truong et al., IPOL 2019: healthy, neurological and orthopaedic gait, one IMU per foot, 100 Hz.

One recording per subject and foot, `<subject>-1_<side>`. The CSV already holds CONTRACT
units (the README: acceleration in g with gravity removed, angular rate in deg/s): `LAX..LAZ`
-> `acc_*_g`, `LRX..LRZ` -> `gyr_*_dps` (right foot `RA*`, `RR*`), sensor axes, which may
differ between the TCon and XSens sensors (the sidecar names the sensor). The `V` columns
(a signed, presumably vertical, component) have no CONTRACT column and are left out. No time
column: t = sample index / 100 s.

Truth is **footsteps, not toe off / heel strike**: each `[start, end]` of `LeftFootActivity`
/ `RightFootActivity` is written as `heel_off` (start: the foot starts to move, around heel
off) and `foot_flat` (end: around foot flat), with the source `footstep_start` /
`footstep_end`. The file therefore holds no swing for the scorer; it is for step detection and
counting, as the README says (CC BY-NC-SA: non-commercial).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.recording import write_recording
from fescontrol_hil.datasets._common import read_trial_meta, require_dir, select

NAME = "truong2019"
SUMMARY = "Truong et al. IPOL 2019: foot IMUs of healthy/neuro/ortho walkers at 100 Hz, footstep truth"
RATE_HZ = 100.0
HEADER = ["LAV", "LAX", "LAY", "LAZ", "LRV", "LRX", "LRY", "LRZ",
          "RAV", "RAX", "RAY", "RAZ", "RRV", "RRX", "RRY", "RRZ"]
FEET = {"left": ("L", "LeftFootActivity"), "right": ("R", "RightFootActivity")}


def trial_ids(src: Path) -> list[str]:
    ids = [p.stem for p in require_dir(src, NAME, "*-*.json")]
    return sorted(ids, key=lambda s: tuple(int(x) for x in s.split("-")))


def load_signals(path: Path) -> dict[str, np.ndarray]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header = fh.readline().strip().split(",")
            data = np.loadtxt(fh, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path}: cannot read as a truong2019 signal file: {exc}") from exc
    if header != HEADER:
        raise ConfigError(f"{path}: line 1: columns {header}, expected {HEADER}")
    return {name: data[:, j] for j, name in enumerate(HEADER)}


def footstep_events(steps: list[list[int]], rate: float) -> list[tuple[float, str, str]]:
    events: list[tuple[float, str, str]] = []
    for start, end in steps:
        events.append((start / rate, "heel_off", "footstep_start"))
        events.append((end / rate, "foot_flat", "footstep_end"))
    return events


def import_set(src: Path, out: Path, only: Sequence[str] | None = None) -> list[Path]:
    """Import trials (`only`: ids such as "1-1"); one recording per foot."""
    src, out = Path(src), Path(out)
    written: list[Path] = []
    for trial in select(trial_ids(src), only, NAME):
        meta = read_trial_meta(src, trial)
        sig = load_signals(src / f"{trial}.csv.gz")
        n = next(iter(sig.values())).size
        t = np.arange(n, dtype=np.float64) / RATE_HZ
        for side, (f, key) in FEET.items():
            columns = {f"gyr_{a}_dps": sig[f"{f}R{a.upper()}"] for a in "xyz"}
            columns |= {f"acc_{a}_g": sig[f"{f}A{a.upper()}"] for a in "xyz"}
            sidecar = {
                "side": side, "mount": "foot", "rate_hz": RATE_HZ,
                "source": f"Truong et al. IPOL 2019 (ipol-demos/265), {trial}.csv (CC BY-NC-SA)",
                "subject": str(meta.get("Subject", "")),
                "group": str(meta.get("PathologyGroup", "")).lower(), "trial": trial,
                "sensor": f"{meta.get('Sensor', '?')} IMU on the foot, sensor axes; acc with gravity removed",
                "truth": "footsteps [start, end] as heel_off / foot_flat; no toe_off or heel_strike",
            }
            written.append(write_recording(out, f"{trial}_{side}", t, columns, sidecar,
                                           footstep_events(meta[key], RATE_HZ), time_decimals=4,
                                           value_format="%.6g"))
    return written
