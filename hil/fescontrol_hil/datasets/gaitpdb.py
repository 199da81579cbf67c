"""PhysioNet "Gait in Parkinson's Disease" (gaitpdb 1.0.0): 8-cell force insoles, 100 Hz.

One recording per walk and foot, `<ID>_<side>` (e.g. `GaCo01_01_left`): `heel_N` = cell 1
(the heel sensor), `fore_N` = cells 6 + 7 + 8 (the cells at y >= 400), and all eight cells as
`cell1_N` .. `cell8_N` with their PhysioNet positions in the sidecar (right foot mirrored to
+x). Time is sample index / 100 (the file's time column is rounded to 4 decimals).

The set has no annotated events, so the truth is derived with the rule of the data README
(it reproduces the README's 6018 heel strikes and 6031 toe offs over the 35 walks):
- per foot, threshold = p5 + 5 % x (p95 - p5) of the foot's total force; contact = above it;
- contact and no-contact runs shorter than 10 samples are removed, shortest first, each
  merged into its neighbours; the first and last runs are cut by the recording's ends and are
  kept whatever their length (that is what gives the README's counts);
- heel strike = first sample of a contact run, toe off = first sample after it;
- heel off: the same rule on the heel cell; the last falling edge of the heel cell inside a
  stance (after its heel strike, at or before its toe off); none if there is no such edge.
The thresholds used go into the sidecar (`truth_rule`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.recording import write_recording
from fescontrol_hil.datasets._common import require_dir, select

NAME = "gaitpdb"
SUMMARY = "PhysioNet Gait in Parkinson's Disease: 8-cell insoles per foot at 100 Hz, truth from total force"
RATE_HZ = 100.0
THRESHOLD_SHARE = 0.05
MIN_RUN_SAMPLES = 10
FORE_CELLS = (6, 7, 8)
CELL_POSITIONS_LEFT: dict[int, tuple[int, int]] = {
    1: (-500, -800), 2: (-700, -400), 3: (-300, -400), 4: (-700, 0),
    5: (-300, 0), 6: (-700, 400), 7: (-300, 400), 8: (-500, 800),
}
# 0-based columns of the walk file: time, L1..L8, R1..R8, total left, total right
_CELLS = {"left": range(1, 9), "right": range(9, 17)}
_TOTAL = {"left": 17, "right": 18}


def relative_threshold(x: np.ndarray) -> float:
    """p5 + 5 % of (p95 - p5): robust to a sensor that never reads 0 (JuCo03's right foot)."""
    p5, p95 = np.percentile(x, [5.0, 95.0])
    return float(p5 + THRESHOLD_SHARE * (p95 - p5))


def remove_short_runs(mask: np.ndarray, min_len: int = MIN_RUN_SAMPLES) -> np.ndarray:
    """Flip interior runs shorter than `min_len`, shortest (then earliest) first, until none is left."""
    out = np.asarray(mask, dtype=bool).copy()
    while True:
        edges = np.flatnonzero(np.diff(out.astype(np.int8))) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [out.size]))
        lengths = ends[1:-1] - starts[1:-1]  # interior runs only
        if lengths.size == 0 or lengths.min() >= min_len:
            return out
        k = int(np.argmin(lengths)) + 1
        out[starts[k]:ends[k]] = not out[starts[k]]


def derive_truth(total_N: np.ndarray, heel_N: np.ndarray,
                 rate_hz: float = RATE_HZ) -> tuple[list[tuple[float, str, str]], dict[str, float]]:
    """Truth events (t_s, kind, source) of one foot and the thresholds used, by the module's rule."""
    th_total = relative_threshold(total_N)
    th_heel = relative_threshold(heel_N)
    contact = remove_short_runs(total_N > th_total)
    heel = remove_short_runs(heel_N > th_heel)
    d = np.diff(contact.astype(np.int8))
    strikes = np.flatnonzero(d == 1) + 1
    offs = np.flatnonzero(d == -1) + 1
    heel_falls = np.flatnonzero(np.diff(heel.astype(np.int8)) == -1) + 1
    events: list[tuple[float, str, str]] = []
    events += [(i / rate_hz, "heel_strike", "total_force_rule") for i in strikes]
    for i_to in offs:
        before = strikes[strikes < i_to]
        if before.size:
            i_hs = before[-1]
            inside = heel_falls[(heel_falls > i_hs) & (heel_falls <= i_to)]
            if inside.size:
                events.append((inside[-1] / rate_hz, "heel_off", "heel_cell_rule"))
        events.append((i_to / rate_hz, "toe_off", "total_force_rule"))
    order = {"heel_strike": 0, "heel_off": 1, "toe_off": 2}
    events.sort(key=lambda e: (e[0], order[e[1]]))
    return events, {"total_threshold_N": round(th_total, 3), "heel_threshold_N": round(th_heel, 3),
                    "min_run_samples": MIN_RUN_SAMPLES}


def walk_ids(src: Path) -> list[str]:
    return [p.name[: -len(".txt.gz")] for p in require_dir(src, NAME, "*_[0-9][0-9].txt.gz")]


def load_walk(src: Path, walk_id: str) -> np.ndarray:
    """The walk's 19 columns as float64 (time, L1..L8, R1..R8, total left, total right)."""
    path = src / f"{walk_id}.txt.gz"
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read as a gaitpdb walk: {exc}") from exc
    if data.shape[1] != 19 or data.shape[0] < 2:
        raise ConfigError(f"{path}: {data.shape[1]} columns x {data.shape[0]} rows, expected 19 columns")
    return data


def import_set(src: Path, out: Path, only: Sequence[str] | None = None) -> list[Path]:
    """Import the walks (`only`: walk ids such as "GaCo01_01"); two recordings per walk."""
    src, out = Path(src), Path(out)
    written: list[Path] = []
    for walk_id in select(walk_ids(src), only, NAME):
        data = load_walk(src, walk_id)
        t = np.arange(data.shape[0], dtype=np.float64) / RATE_HZ
        subject = walk_id.split("_")[0]
        group = "parkinson" if subject[2:4] == "Pt" else "healthy"
        for side, cols in _CELLS.items():
            cells = {f"cell{k}_N": data[:, c] for k, c in enumerate(cols, start=1)}
            heel = cells["cell1_N"]
            fore = np.sum([cells[f"cell{k}_N"] for k in FORE_CELLS], axis=0)
            events, rule = derive_truth(data[:, _TOTAL[side]], heel)
            mirror = 1 if side == "left" else -1
            sidecar = {
                "side": side, "mount": "foot", "rate_hz": RATE_HZ,
                "source": f"PhysioNet gaitpdb 1.0.0 {walk_id}.txt (ODC-By 1.0)",
                "subject": subject, "group": group, "study": subject[:2], "walk": walk_id,
                "sensor": "insole: 8 force cells (Ultraflex), heel_N = cell1, fore_N = cell6+7+8",
                "cells": {f"cell{k}_N": [mirror * x, y] for k, (x, y) in CELL_POSITIONS_LEFT.items()},
                "truth": "derived, not annotated: heel_strike/toe_off from total force, heel_off from cell1",
                "truth_rule": rule,
            }
            written.append(write_recording(out, f"{walk_id}_{side}", t,
                                           {"heel_N": heel, "fore_N": fore, **cells}, sidecar, events,
                                           time_decimals=4, value_format="%.2f"))
    return written
