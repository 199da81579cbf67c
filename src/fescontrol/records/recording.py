"""CONTRACT recordings (`NAME.csv` + optional `NAME.json` sidecar + optional `NAME.events.csv`).

A recording is what `replay` scores a detector on, so a silently wrong one (a column in the
wrong unit, a row out of order, a blank cell read as 0) would give a wrong score that looks
right. The reader therefore validates strictly and every `ConfigError` names the file, the
data row (1-based, header excluded) with its line number, the column and the value.

Decisions where the CONTRACT is silent:
- `t_s` must be the first column; column names must be unique and known (`heel_N`, `fore_N`,
  `cellK_N`, `gyr_{x,y,z}_dps`, `acc_{x,y,z}_g`, `angle_{x,y,z}_deg`): an unknown column is
  more likely a unit mistake (`gyr_x_rads`) than something to ignore.
- The sensor kind follows from the columns: `heel_N` alone is a heel switch, `heel_N` with
  `fore_N` an insole (cells optional), the six IMU columns an IMU. Force and IMU columns in
  one file are refused: one recording is one leg and one sensor.
- Physical ranges: force -50 .. 10000 N (a little negative for an offset FSR amplifier),
  gyroscope within +-4000 deg/s, accelerometer within +-32 g, angles within +-360 deg.
  Beyond these the unit is wrong (rad/s vs deg/s is a factor 57; m/s^2 vs g a factor 9.8).
- Sampling: the rate is the sidecar's `rate_hz`, else the number of sample periods over the
  time span (periods counted with the median `t_s` step), rounded to 1 mHz. Every step
  must be a whole number k >= 1 of sample periods within 20 % of a period (4-decimal times at
  204.8 Hz are off by 2 %); k > 1 is a gap (dropped packets), kept as a gap and counted, since
  inventing samples would invent sensor data. A sidecar rate that disagrees with the steps is
  an error, not a choice between the two.
- Sidecar keys of the CONTRACT are checked (`side`, `mount`, `rate_hz`, `cells`, and the
  strings `source`, `subject`, `group`); other keys are kept as metadata (importers add
  licence and provenance notes there).
- Blank lines are skipped (they do not count as data rows); fields are not stripped of
  spaces before the number check, but Python's float() accepts surrounding spaces.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.readers import EVENT_KINDS, Event, read_events_csv

__all__ = [
    "ACC_LIMIT_G",
    "ANGLE_LIMIT_DEG",
    "FORCE_RANGE_N",
    "GYRO_LIMIT_DPS",
    "KIND_HEEL_SWITCH",
    "KIND_IMU",
    "KIND_INSOLE",
    "STEP_TOLERANCE",
    "Recording",
    "events_path_for",
    "read_recording",
    "sidecar_path_for",
    "write_recording",
]

KIND_HEEL_SWITCH = "heel_switch"
KIND_INSOLE = "insole"
KIND_IMU = "imu"

FORCE_RANGE_N = (-50.0, 10000.0)
GYRO_LIMIT_DPS = 4000.0
ACC_LIMIT_G = 32.0
ANGLE_LIMIT_DEG = 360.0
STEP_TOLERANCE = 0.20
"""Allowed deviation of a `t_s` step from a whole number of periods, as a share of a period."""

IMU_COLUMNS = ("gyr_x_dps", "gyr_y_dps", "gyr_z_dps", "acc_x_g", "acc_y_g", "acc_z_g")
_CELL = re.compile(r"^cell([1-9][0-9]*)_N$")
_ANGLE = re.compile(r"^angle_[xyz]_deg$")
SIDES = ("left", "right")
MOUNTS = ("foot", "shank", "heel")


@dataclass(frozen=True)
class Recording:
    """One validated recording of one leg and one sensor (arrays are read-only)."""

    path: Path
    kind: str
    rate_hz: float
    t_s: np.ndarray
    columns: Mapping[str, np.ndarray]
    sidecar: Mapping[str, Any] = field(default_factory=dict)
    truth: tuple[Event, ...] | None = None
    truth_path: Path | None = None
    gaps: int = 0
    """Number of steps longer than one period (dropped samples)."""
    missing_samples: int = 0
    """Samples missing inside those gaps."""

    @property
    def name(self) -> str:
        return self.path.name[: -len(".csv")] if self.path.name.endswith(".csv") else self.path.stem

    @property
    def group(self) -> str:
        return str(self.sidecar.get("group", ""))

    def sample_index(self) -> np.ndarray:
        """Whole sample number of each row, counted from the first row (gaps skip numbers)."""
        idx: np.ndarray = np.rint((self.t_s - self.t_s[0]) * self.rate_hz).astype(np.int64)
        return idx

    def dense(self, column: str) -> np.ndarray:
        """`column` on the full sample grid from the first row, NaN in the gaps.

        NaN is what the kernels take as "no evidence": a gap breaks a debounce run but never
        makes a crossing, which is what a dropped sample does to the live loop.
        """
        idx = self.sample_index()
        out = np.full(int(idx[-1]) + 1, np.nan, dtype=np.float64)
        out[idx] = self.columns[column]
        return out


def sidecar_path_for(csv_path: Path) -> Path:
    return csv_path.with_name(_stem(csv_path) + ".json")


def events_path_for(csv_path: Path) -> Path:
    return csv_path.with_name(_stem(csv_path) + ".events.csv")


def _stem(p: Path) -> str:
    return p.name[: -len(".csv")] if p.name.endswith(".csv") else p.stem


# ---------------------------------------------------------------- reading

def read_recording(path: str | os.PathLike[str], events: str | os.PathLike[str] | None = None) -> Recording:
    """Read and validate a recording; `events` overrides the `NAME.events.csv` beside it."""
    p = Path(path)
    if p.name.endswith(".events.csv"):
        raise ConfigError(f"{p}: this is an events file; give the recording NAME.csv beside it")
    header, lines, rows = _read_rows(p)
    kind = _check_header(p, header)
    data = _to_array(p, header, lines, rows)
    _check_values(p, header, lines, data)
    sidecar = _read_sidecar(sidecar_path_for(p), header)
    rate, gaps, missing = _check_sampling(p, sidecar_path_for(p), lines, data[:, 0], sidecar.get("rate_hz"))
    truth_path: Path | None = Path(events) if events is not None else events_path_for(p)
    if events is None and truth_path is not None and not truth_path.exists():
        truth_path = None
    truth = tuple(read_events_csv(truth_path)) if truth_path is not None else None
    arrays = {}
    for j, name in enumerate(header):
        col = np.ascontiguousarray(data[:, j])
        col.setflags(write=False)
        arrays[name] = col
    return Recording(path=p, kind=kind, rate_hz=rate, t_s=arrays["t_s"],
                     columns={k: v for k, v in arrays.items() if k != "t_s"}, sidecar=sidecar,
                     truth=truth, truth_path=truth_path, gaps=gaps, missing_samples=missing)


def _read_rows(p: Path) -> tuple[list[str], list[int], list[list[str]]]:
    """Header and data rows with their line numbers; every row has as many fields as the header."""
    lines: list[int] = []
    rows: list[list[str]] = []
    try:
        f = p.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot open: {exc.strerror or exc}") from exc
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            while header is not None and not any(h.strip() for h in header):
                header = next(reader, None)
            if header is None:
                raise ConfigError(f"{p}: empty file, expected a header starting with t_s")
            header = [h.strip() for h in header]
            width = len(header)
            for fields in reader:
                if not any(x.strip() for x in fields):
                    continue
                if len(fields) != width:
                    raise ConfigError(
                        f"{p}: data row {len(rows) + 1} (line {reader.line_num}): {len(fields)} fields, "
                        f"expected {width} as in the header ({','.join(header)})")
                lines.append(reader.line_num)
                rows.append(fields)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except csv.Error as exc:
            raise ConfigError(f"{p}: line {reader.line_num}: malformed CSV: {exc}") from exc
    if len(rows) < 2:
        raise ConfigError(f"{p}: {len(rows)} data row(s); a recording needs at least 2 to have a rate")
    return header, lines, rows


def _check_header(p: Path, header: list[str]) -> str:
    """The sensor kind the columns describe; a missing, unknown or repeated column is an error."""
    if not header or header[0] != "t_s":
        raise ConfigError(f"{p}: line 1: missing column t_s: the first column must be t_s, got {header[0]!r}")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise ConfigError(f"{p}: line 1, column {name}: appears twice")
        seen.add(name)
        if name not in ("t_s", "heel_N", "fore_N", *IMU_COLUMNS) and not _CELL.match(name) \
                and not _ANGLE.match(name):
            raise ConfigError(
                f"{p}: line 1, column {name!r}: unknown; allowed t_s, heel_N, fore_N, cell1_N.., "
                f"{', '.join(IMU_COLUMNS)}, angle_x_deg/angle_y_deg/angle_z_deg (units in the name)")
    force = {n for n in seen if n in ("heel_N", "fore_N") or _CELL.match(n)}
    imu = {n for n in seen if n in IMU_COLUMNS or _ANGLE.match(n)}
    if force and imu:
        raise ConfigError(f"{p}: line 1: force columns ({', '.join(sorted(force))}) and IMU columns "
                          f"({', '.join(sorted(imu))}) in one file; a recording is one sensor")
    if imu:
        missing = [c for c in IMU_COLUMNS if c not in seen]
        if missing:
            raise ConfigError(f"{p}: line 1: missing column {', '.join(missing)} (an IMU recording needs "
                              f"{', '.join(IMU_COLUMNS)})")
        return KIND_IMU
    if "heel_N" not in seen:
        raise ConfigError(f"{p}: line 1: missing column heel_N (a force recording needs heel_N; an IMU "
                          f"recording needs {', '.join(IMU_COLUMNS)})")
    if "fore_N" in seen:
        return KIND_INSOLE
    if force - {"heel_N"}:
        raise ConfigError(f"{p}: line 1: missing column fore_N (cell columns make an insole, which needs "
                          "heel_N and fore_N)")
    return KIND_HEEL_SWITCH


def _to_array(p: Path, header: list[str], lines: list[int], rows: list[list[str]]) -> np.ndarray:
    """All cells as float64; on failure find the first bad cell and name it."""
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        pass
    for r, fields in enumerate(rows):
        for j, text in enumerate(fields):
            if not text.strip():
                raise ConfigError(f"{p}: data row {r + 1} (line {lines[r]}), column {header[j]}: empty cell")
            try:
                float(text)
            except ValueError:
                raise ConfigError(f"{p}: data row {r + 1} (line {lines[r]}), column {header[j]}: "
                                  f"value {text!r} is not a number") from None
    raise ConfigError(f"{p}: cannot read the numbers (no single cell is at fault)")  # pragma: no cover


def _where(p: Path, header: list[str], lines: list[int], r: int, j: int) -> str:
    return f"{p}: data row {r + 1} (line {lines[r]}), column {header[j]}"


def _check_values(p: Path, header: list[str], lines: list[int], data: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(data))
    if bad.size:
        r, j = (int(x) for x in bad[0])
        raise ConfigError(f"{_where(p, header, lines, r, j)}: value {float(data[r, j])!r} is not a finite number "
                          "(NaN and empty cells are not allowed; leave dropped samples out as a gap)")
    steps = np.diff(data[:, 0])
    back = np.flatnonzero(steps <= 0)
    if back.size:
        r = int(back[0]) + 1
        raise ConfigError(f"{_where(p, header, lines, r, 0)}: value {float(data[r, 0])!r} is not after the previous "
                          f"row's {float(data[r - 1, 0])!r}; t_s must be strictly increasing")
    for j, name in enumerate(header[1:], start=1):
        lo, hi = _range_of(name)
        out = np.flatnonzero((data[:, j] < lo) | (data[:, j] > hi))
        if out.size:
            r = int(out[0])
            raise ConfigError(f"{_where(p, header, lines, r, j)}: value {float(data[r, j])!r} is outside the physical "
                              f"range {lo:g} .. {hi:g} (wrong unit?)")


def _range_of(name: str) -> tuple[float, float]:
    if name.startswith("gyr_"):
        return -GYRO_LIMIT_DPS, GYRO_LIMIT_DPS
    if name.startswith("acc_"):
        return -ACC_LIMIT_G, ACC_LIMIT_G
    if name.startswith("angle_"):
        return -ANGLE_LIMIT_DEG, ANGLE_LIMIT_DEG
    return FORCE_RANGE_N


def _read_sidecar(path: Path, header: list[str]) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON sidecar: {exc}") from exc
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: the sidecar must be a JSON object, got {type(obj).__name__}")
    if "side" in obj and obj["side"] not in SIDES:
        raise ConfigError(f"{path}: key side = {obj['side']!r}: allowed {', '.join(SIDES)}")
    if "mount" in obj and obj["mount"] not in MOUNTS:
        raise ConfigError(f"{path}: key mount = {obj['mount']!r}: allowed {', '.join(MOUNTS)}")
    if "rate_hz" in obj:
        rate = obj["rate_hz"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) \
                or not 1.0 <= rate <= 10000.0:
            raise ConfigError(f"{path}: key rate_hz = {rate!r}: allowed a number 1 .. 10000 (Hz)")
    for key in ("source", "subject", "group"):
        if key in obj and not isinstance(obj[key], str):
            raise ConfigError(f"{path}: key {key} = {obj[key]!r}: must be a string")
    if "cells" in obj:
        cells = obj["cells"]
        if not isinstance(cells, dict):
            raise ConfigError(f"{path}: key cells must map cellK_N -> [x, y], got {cells!r}")
        for name, pos in cells.items():
            if name not in header or not _CELL.match(name):
                raise ConfigError(f"{path}: key cells.{name}: no such cell column in the recording")
            if not (isinstance(pos, list) and len(pos) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)):
                raise ConfigError(f"{path}: key cells.{name} = {pos!r}: must be [x, y]")
    return obj


def _check_sampling(p: Path, sidecar: Path, lines: list[int], t: np.ndarray,
                    sidecar_rate: Any) -> tuple[float, int, int]:
    """(rate_hz, gaps, missing samples) after checking every step is a whole number of periods."""
    steps = np.diff(t)
    median = float(np.median(steps))
    if sidecar_rate is not None:
        rate = float(sidecar_rate)
    else:
        # over the whole span, not one step, and to 1 mHz: 1 / 0.0100000000000000002 is not
        # 100, and the kernels turn seconds into samples with this rate (0.06 s must stay 6)
        whole_steps = float(np.sum(np.maximum(np.rint(steps / median), 1.0)))
        rate = round(whole_steps / float(t[-1] - t[0]), 3)
    period = 1.0 / rate
    if sidecar_rate is not None and abs(median - period) > STEP_TOLERANCE * period:
        raise ConfigError(f"{sidecar}: key rate_hz = {sidecar_rate!r} does not match the recording {p}: "
                          f"its median t_s step is {median:.6g} s ({1.0 / median:.4g} Hz)")
    k = steps / period
    whole = np.rint(k)
    off = np.flatnonzero((whole < 1) | (np.abs(k - whole) > STEP_TOLERANCE))
    if off.size:
        r = int(off[0]) + 1
        raise ConfigError(f"{p}: data row {r + 1} (line {lines[r]}), column t_s: step {steps[r - 1]:.6g} s from "
                          f"the previous row is not a whole number of sample periods ({period:.6g} s at "
                          f"{rate:g} Hz): sampling is not uniform")
    gap = whole > 1
    return rate, int(np.count_nonzero(gap)), int(np.sum(whole[gap] - 1))


# ---------------------------------------------------------------- writing

def write_recording(out_dir: str | os.PathLike[str], name: str, t_s: np.ndarray,
                    columns: Mapping[str, np.ndarray], sidecar: Mapping[str, Any] | None = None,
                    events: Sequence[tuple[float, str, str]] | None = None,
                    time_decimals: int = 4, value_format: str = "%.6g") -> Path:
    """Write `NAME.csv` (+ `NAME.json`, + `NAME.events.csv`) and read it back through the reader.

    Reading back is the point: an importer must never leave a file that `replay` would refuse,
    so a bad conversion fails here, at import, naming the row. Events are (t_s, kind, source)
    and are written sorted by time. Existing files of that name are replaced.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or name.endswith(".events"):
        raise ConfigError(f"recording name {name!r}: use letters, digits, '_', '-', '.'")
    csv_path = out / f"{name}.csv"
    names = ["t_s", *columns]
    data = np.column_stack([np.asarray(t_s, dtype=np.float64),
                            *(np.asarray(v, dtype=np.float64) for v in columns.values())])
    fmt = [f"%.{time_decimals}f"] + [value_format] * len(columns)
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        np.savetxt(fh, data, fmt=fmt, delimiter=",", header=",".join(names), comments="")
    side = sidecar_path_for(csv_path)
    if sidecar is not None:
        side.write_text(json.dumps(dict(sidecar), indent=2) + "\n", encoding="utf-8")
    else:
        side.unlink(missing_ok=True)
    ev_path = events_path_for(csv_path)
    if events is not None:
        for _, kind, _ in events:
            if kind not in EVENT_KINDS:
                raise ValueError(f"write_recording: event kind {kind!r} is not one of {EVENT_KINDS}")
        with open(ev_path, "w", encoding="utf-8", newline="") as fh:
            fh.write("t_s,event,source\n")
            fh.writelines(f"{t:.{time_decimals}f},{kind},{src}\n"
                          for t, kind, src in sorted(events, key=lambda e: e[0]))
    else:
        ev_path.unlink(missing_ok=True)
    read_recording(csv_path)
    return csv_path
