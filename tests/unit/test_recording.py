"""Recording reader: strict validation whose errors name file, data row, line and column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fescontrol.cli import main
from fescontrol.errors import ConfigError
from fescontrol.records.recording import (
    KIND_HEEL_SWITCH,
    KIND_IMU,
    KIND_INSOLE,
    read_recording,
    write_recording,
)

IMU_HEADER = "t_s,gyr_x_dps,gyr_y_dps,gyr_z_dps,acc_x_g,acc_y_g,acc_z_g"


def write(tmp_path: Path, text: str, name: str = "rec", sidecar: dict[str, object] | None = None) -> Path:
    p = tmp_path / f"{name}.csv"
    p.write_text(text, encoding="utf-8")
    if sidecar is not None:
        (tmp_path / f"{name}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return p


def heel_csv(n: int = 6, rate: float = 100.0) -> str:
    return "t_s,heel_N\n" + "".join(f"{k / rate:.4f},{100 + k}\n" for k in range(n))


def error_of(path: Path, **kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        read_recording(path, **kw)  # type: ignore[arg-type]
    return str(info.value)


def test_rate_from_time_stamps_is_exact_enough_for_the_kernels(tmp_path: Path) -> None:
    # 1 / a 4-decimal step is not exactly 100; 0.06 s x rate must still be 6 samples
    assert read_recording(write(tmp_path, heel_csv(n=4000), "a")).rate_hz == 100.0
    assert read_recording(write(tmp_path, heel_csv(n=2000, rate=204.8), "b")).rate_hz == pytest.approx(204.8, abs=0.002)


def test_kinds_follow_from_the_columns(tmp_path: Path) -> None:
    rec = read_recording(write(tmp_path, heel_csv(), "heel"))
    assert rec.kind == KIND_HEEL_SWITCH and rec.rate_hz == pytest.approx(100.0)
    assert rec.name == "heel" and list(rec.columns) == ["heel_N"] and rec.truth is None
    insole = "t_s,heel_N,fore_N,cell1_N\n0.00,1,2,1\n0.01,1,2,1\n0.02,1,2,1\n"
    assert read_recording(write(tmp_path, insole, "ins")).kind == KIND_INSOLE
    imu = IMU_HEADER + ",angle_x_deg\n" + "".join(f"{k / 50:.4f},1,-2,3,0.1,0.2,1.0,5\n" for k in range(4))
    rec = read_recording(write(tmp_path, imu, "imu"))
    assert rec.kind == KIND_IMU and rec.rate_hz == pytest.approx(50.0)


@pytest.mark.parametrize("header, missing", [
    ("heel_N,t_s", "t_s"),
    ("t_s,fore_N", "heel_N"),
    ("t_s,heel_N,cell1_N", "fore_N"),
    ("t_s,gyr_x_dps,gyr_y_dps,gyr_z_dps,acc_x_g,acc_y_g", "acc_z_g"),
])
def test_missing_column(tmp_path: Path, header: str, missing: str) -> None:
    ncol = header.count(",") + 1
    p = write(tmp_path, header + "\n" + "".join(f"{k / 100},{','.join(['1'] * (ncol - 1))}\n" for k in range(3)))
    msg = error_of(p)
    assert str(p) in msg and "missing column" in msg and missing in msg


def test_unknown_repeated_and_mixed_columns(tmp_path: Path) -> None:
    assert "'gyr_x_rads'" in error_of(write(tmp_path, "t_s,heel_N,gyr_x_rads\n0,1,1\n0.01,1,1\n", "a"))
    assert "appears twice" in error_of(write(tmp_path, "t_s,heel_N,heel_N\n0,1,1\n0.01,1,1\n", "b"))
    mixed = IMU_HEADER + ",heel_N\n" + "0,1,1,1,1,1,1,1\n0.01,1,1,1,1,1,1,1\n"
    assert "one sensor" in error_of(write(tmp_path, mixed, "c"))


def test_time_not_strictly_increasing(tmp_path: Path) -> None:
    p = write(tmp_path, "t_s,heel_N\n0.00,1\n0.01,1\n0.01,1\n0.03,1\n")
    msg = error_of(p)
    assert str(p) in msg and "data row 3 (line 4)" in msg and "column t_s" in msg and "strictly" in msg
    assert "value 0.01 is not after the previous row's 0.01" in msg  # plain numbers, not numpy reprs


@pytest.mark.parametrize("cell, words", [
    ("nan", "not a finite number"),
    ("", "empty cell"),
    ("abc", "not a number"),
    ("inf", "not a finite number"),
])
def test_bad_cells_are_named(tmp_path: Path, cell: str, words: str) -> None:
    p = write(tmp_path, f"t_s,heel_N,fore_N\n0.00,1,2\n\n0.01,{cell},2\n0.02,1,2\n")
    msg = error_of(p)
    # the blank line is skipped: data row 2 is on line 4
    assert str(p) in msg and "data row 2 (line 4), column heel_N" in msg and words in msg


@pytest.mark.parametrize("header, column, bad, edge", [
    ("t_s,heel_N", "heel_N", "10000.5", "10000"),
    ("t_s,heel_N", "heel_N", "-50.1", "-50"),
    (IMU_HEADER, "gyr_x_dps", "4000.1", "-4000"),
    (IMU_HEADER, "acc_x_g", "-33", "32"),
])
def test_values_outside_the_physical_range(tmp_path: Path, header: str, column: str, bad: str,
                                           edge: str) -> None:
    names = header.split(",")

    def text(value: str) -> str:
        rows = []
        for k in range(4):
            cells = [f"{k / 100:.2f}"] + ["1"] * (len(names) - 1)
            if k == 2:
                cells[names.index(column)] = value
            rows.append(",".join(cells) + "\n")
        return header + "\n" + "".join(rows)

    msg = error_of(write(tmp_path, text(bad)))
    assert f"data row 3 (line 4), column {column}: value {float(bad)!r} is outside" in msg and "physical range" in msg
    read_recording(write(tmp_path, text(edge)))  # the limits themselves are allowed


def test_wrong_field_count(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, "t_s,heel_N\n0.00,1\n0.01,1,7\n"))
    assert "data row 2 (line 3)" in msg and "3 fields" in msg


def test_sampling_gaps_are_kept_and_irregular_steps_refused(tmp_path: Path) -> None:
    rec = read_recording(write(tmp_path, "t_s,heel_N\n0.00,1\n0.01,2\n0.04,3\n0.05,4\n0.06,5\n", "gap"))
    assert rec.gaps == 1 and rec.missing_samples == 2
    assert rec.sample_index().tolist() == [0, 1, 4, 5, 6]
    dense = rec.dense("heel_N")
    assert dense.shape == (7,) and np.isnan(dense[2:4]).all() and dense[4] == 3
    msg = error_of(write(tmp_path, "t_s,heel_N\n0.00,1\n0.01,2\n0.025,3\n0.03,4\n0.04,5\n", "jitter"))
    assert "data row 3 (line 4), column t_s" in msg and "not uniform" in msg


def test_sidecar_rate_and_keys(tmp_path: Path) -> None:
    p = write(tmp_path, heel_csv(rate=200.0), sidecar={"rate_hz": 200, "side": "left", "licence": "x"})
    assert read_recording(p).rate_hz == 200.0 and read_recording(p).sidecar["licence"] == "x"
    p = write(tmp_path, heel_csv(rate=200.0), sidecar={"rate_hz": 100})
    assert "rate_hz" in error_of(p) and "rec.json" in error_of(p)
    p = write(tmp_path, heel_csv(), sidecar={"side": "both"})
    assert "side = 'both'" in error_of(p)
    p = write(tmp_path, heel_csv(), sidecar={"cells": {"cell3_N": [0, 1]}})
    assert "cells.cell3_N" in error_of(p)


def test_events_beside_or_given(tmp_path: Path) -> None:
    p = write(tmp_path, heel_csv())
    (tmp_path / "rec.events.csv").write_text("t_s,event\n0.01,toe_off\n0.04,heel_strike\n", encoding="utf-8")
    rec = read_recording(p)
    assert rec.truth is not None and [e.kind for e in rec.truth] == ["toe_off", "heel_strike"]
    other = tmp_path / "other.csv"
    other.write_text("t_s,event\n0.02,jump\n", encoding="utf-8")
    assert "jump" in error_of(p, events=other)
    assert "events file" in error_of(tmp_path / "rec.events.csv")


def test_write_recording_round_trip(tmp_path: Path) -> None:
    t = np.arange(50) / 100.0
    path = write_recording(tmp_path, "w", t, {"heel_N": np.linspace(0, 500, 50)}, {"rate_hz": 100.0},
                           [(0.2, "heel_strike", "x"), (0.1, "toe_off", "x")])
    rec = read_recording(path)
    assert rec.kind == KIND_HEEL_SWITCH and rec.truth is not None
    assert [e.kind for e in rec.truth] == ["toe_off", "heel_strike"]
    assert np.allclose(rec.columns["heel_N"], np.linspace(0, 500, 50), atol=1e-3)
    with pytest.raises(ConfigError, match="data row 1"):
        write_recording(tmp_path, "bad", t, {"heel_N": np.full(50, 20000.0)})


def test_cli_bad_recording_exits_2_naming_file_row_column(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "t_s,heel_N\n0.00,1\n0.01,\n0.02,3\n")
    assert main(["replay", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "data row 2 (line 3), column heel_N" in err
    assert not (tmp_path / "out").exists()
