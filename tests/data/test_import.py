"""Data-set importers: CONTRACT columns and units, and truth that matches each set's README facts.

The data are read in place from `../shared/gait-data` beside the repository (never copied);
every test skips, saying so, when that folder is absent.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fescontrol_hil.datasets import (
    IMPORTERS,
    gaitmap_example,
    gaitpdb,
    truong2019,
    voisard2023,
)

from fescontrol.cli import main
from fescontrol.records.recording import (
    KIND_IMU,
    KIND_INSOLE,
    Recording,
    read_recording,
)
from fescontrol.replay_cli import DATA_SETS

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "gait-data"
IMU_COLUMNS = ["t_s", "gyr_x_dps", "gyr_y_dps", "gyr_z_dps", "acc_x_g", "acc_y_g", "acc_z_g"]


def data_dir(name: str) -> Path:
    d = DATA / name
    if not d.is_dir():
        pytest.skip(f"gait data not present: {d.resolve()} (shared/gait-data beside the repository)")
    return d


def counts(rec: Recording) -> Counter[str]:
    assert rec.truth is not None
    return Counter(e.kind for e in rec.truth)


def header(rec: Recording) -> list[str]:
    return ["t_s", *rec.columns]


def test_registry_names_match_the_cli_help() -> None:
    assert ", ".join(IMPORTERS) == DATA_SETS


# ------------------------------------------------------------------ gaitpdb

def test_gaitpdb_columns_cells_and_truth(tmp_path: Path) -> None:
    src = data_dir("gaitpdb")
    paths = gaitpdb.import_set(src, tmp_path, ["GaCo01_01", "JuCo03_01"])
    assert [p.name for p in paths] == ["GaCo01_01_left.csv", "GaCo01_01_right.csv",
                                       "JuCo03_01_left.csv", "JuCo03_01_right.csv"]
    raw = gaitpdb.load_walk(src, "GaCo01_01")
    for p in paths:
        rec = read_recording(p)
        assert rec.kind == KIND_INSOLE and rec.rate_hz == 100.0 and rec.gaps == 0
        assert header(rec) == ["t_s", "heel_N", "fore_N", *(f"cell{k}_N" for k in range(1, 9))]
        c = rec.columns
        assert np.array_equal(c["heel_N"], c["cell1_N"])
        assert np.allclose(c["fore_N"], c["cell6_N"] + c["cell7_N"] + c["cell8_N"], atol=0.011)
        assert rec.t_s[1] == 0.01 and rec.t_s[-1] == pytest.approx((len(rec.t_s) - 1) / 100)
        side = rec.sidecar["side"]
        assert rec.sidecar["cells"]["cell1_N"] == ([-500, -800] if side == "left" else [500, -800])
        assert rec.sidecar["group"] == "healthy" and rec.sidecar["mount"] == "foot"
        n = counts(rec)
        assert abs(n["heel_strike"] - n["toe_off"]) <= 1 and n["heel_strike"] > 30
        assert n["heel_off"] <= n["heel_strike"] and n["heel_off"] >= 0.9 * n["heel_strike"]
        # the README: total-force thresholds of about 31-60 N
        assert 25.0 <= rec.sidecar["truth_rule"]["total_threshold_N"] <= 65.0
        # heel off lies inside its stance, before its toe off
        assert rec.truth is not None
        seq = [e.kind for e in rec.truth]
        for i, kind in enumerate(seq):
            if kind == "heel_off":
                assert seq[i - 1] == "heel_strike" and seq[i + 1] == "toe_off"
    # left cells are columns 2-9 of the walk file (PhysioNet L1..L8)
    left = read_recording(paths[0])
    assert np.allclose(left.columns["cell8_N"], raw[:, 8], atol=0.006)


def test_gaitpdb_rule_reproduces_the_readme_counts() -> None:
    """The README's load check: 6018 heel strikes, 6031 toe offs, median swing 0.33-0.49 s."""
    src = data_dir("gaitpdb")
    total: Counter[str] = Counter()
    ids = gaitpdb.walk_ids(src)
    assert len(ids) == 35
    for walk_id in ids:
        raw = gaitpdb.load_walk(src, walk_id)
        for total_col, heel_col in ((17, 1), (18, 9)):
            events, _ = gaitpdb.derive_truth(raw[:, total_col], raw[:, heel_col])
            total.update(kind for _, kind, _ in events)
            seq = [(t, k) for t, k, _ in events if k != "heel_off"]
            swings = [b[0] - a[0] for a, b in itertools.pairwise(seq)
                      if (a[1], b[1]) == ("toe_off", "heel_strike")]
            assert 0.30 <= float(np.median(swings)) <= 0.52, walk_id
    assert total["heel_strike"] == 6018 and total["toe_off"] == 6031


# ------------------------------------------------------------------ voisard2023

def test_voisard_units_grid_gaps_and_truth(tmp_path: Path) -> None:
    src = data_dir("voisard2023")
    paths = voisard2023.import_set(src, tmp_path, ["1-1", "7-1"])
    assert [p.name for p in paths] == ["1-1_left.csv", "1-1_right.csv", "7-1_left.csv", "7-1_right.csv"]
    positive = swings = 0
    for p in paths:
        rec = read_recording(p)
        assert rec.kind == KIND_IMU and header(rec) == IMU_COLUMNS and rec.rate_hz == 100.0
        # samples sit on the packet-counter grid; missing packets stay missing
        assert np.allclose(rec.t_s * 100, np.rint(rec.t_s * 100), atol=1e-6)
        assert rec.missing_samples == rec.sidecar["missing_packets"] > 0
        # units: rad/s -> deg/s (walking peaks of 6-7 rad/s), m/s^2 -> g (about 1 g at rest)
        peak = float(np.max(np.abs(rec.columns["gyr_y_dps"])))
        assert 250.0 < peak < 1000.0
        rest = np.sqrt(sum(rec.columns[f"acc_{a}_g"][:50] ** 2 for a in "xyz"))
        assert np.allclose(rest, 1.0, atol=0.1)
        meta = json.loads((src / f"{rec.sidecar['trial']}.json").read_text())
        pairs = meta["LeftFootEvents" if rec.sidecar["side"] == "left" else "RightFootEvents"]
        n = counts(rec)
        assert n["toe_off"] == n["heel_strike"] == len(pairs)
        # the README: gyr_y turns positive during the swing (701 of 702), on the packet grid
        gyr = rec.columns["gyr_y_dps"]
        for to, hs in pairs:
            swings += 1
            inside = (rec.t_s >= to / 100 - 1e-9) & (rec.t_s <= hs / 100 + 1e-9)
            positive += bool(np.any(gyr[inside] > 0))
    assert positive >= swings - 1
    # 7-1 left: events run past TrialBoundaries' end, so no standing_start is invented there, nor
    # on 7-1 right, whose foot walks on with the left one (an unmarked step at 38.3 s)
    assert counts(read_recording(paths[2]))["standing_start"] == 0
    assert counts(read_recording(paths[3]))["standing_start"] == 0
    assert counts(read_recording(paths[0]))["standing_start"] == counts(read_recording(paths[1]))["standing_start"] == 1
    assert all(counts(read_recording(p))["standing_end"] == 1 for p in paths)


def test_voisard_truth_totals_match_the_readme() -> None:
    src = data_dir("voisard2023")
    total: Counter[str] = Counter()
    for trial in voisard2023.trial_ids(src):
        meta = json.loads((src / f"{trial}.json").read_text())
        for _, key in voisard2023.FEET.values():
            total.update(kind for _, kind, _ in voisard2023.foot_events(meta, key, 100.0))
    assert total["heel_strike"] == total["toe_off"] == 702


# ------------------------------------------------------------------ gaitmap-example

def test_gaitmap_example(tmp_path: Path) -> None:
    src = data_dir("gaitmap-example")
    left, right = (read_recording(p) for p in gaitmap_example.import_set(src, tmp_path))
    for rec in (left, right):
        assert rec.kind == KIND_IMU and header(rec) == IMU_COLUMNS and rec.rate_hz == 204.8
        assert len(rec.t_s) == 7928 and rec.gaps == 0
        rest = np.sqrt(sum(rec.columns[f"acc_{a}_g"][:100] ** 2 for a in "xyz"))
        assert np.allclose(rest, 1.0, atol=0.1)
    # README: 57 toe offs (28 left, 29 right), 59 heel strikes counting pre_ic
    assert (counts(left)["toe_off"], counts(right)["toe_off"]) == (28, 29)
    assert counts(left)["heel_strike"] + counts(right)["heel_strike"] == 59
    # the one swing spanning the turn: left, TC 3467 -> IC 3774
    assert left.sidecar["turn_swings_s"] == [[pytest.approx(3467 / 204.8), pytest.approx(3774 / 204.8)]]
    assert right.sidecar["turn_swings_s"] == []


# ------------------------------------------------------------------ truong2019

def test_truong_units_and_footsteps(tmp_path: Path) -> None:
    src = data_dir("truong2019")
    paths = truong2019.import_set(src, tmp_path, ["1-1", "3-1"])
    for p in paths:
        rec = read_recording(p)
        assert rec.kind == KIND_IMU and header(rec) == IMU_COLUMNS and rec.rate_hz == 100.0
        # gravity-free acceleration in g: about 0 at rest; angular rate hundreds of deg/s
        assert abs(float(np.median(rec.columns["acc_x_g"]))) < 0.2
        assert 150.0 < float(np.max(np.abs(rec.columns["gyr_y_dps"]))) < 2000.0
        meta = json.loads((src / f"{rec.sidecar['trial']}.json").read_text())
        steps = meta["LeftFootActivity" if rec.sidecar["side"] == "left" else "RightFootActivity"]
        n = counts(rec)
        assert n == Counter({"heel_off": len(steps), "foot_flat": len(steps)})
    assert read_recording(paths[0]).sidecar["group"] == "neurological"
    assert read_recording(paths[2]).sidecar["group"] == "healthy"


def test_truong_footstep_total_matches_the_readme() -> None:
    src = data_dir("truong2019")
    total = 0
    for trial in truong2019.trial_ids(src):
        meta = json.loads((src / f"{trial}.json").read_text())
        total += sum(len(meta[key]) for _, key in truong2019.FEET.values())
    assert total == 877


# ------------------------------------------------------------------ CLI

def test_cli_data_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = data_dir("gaitpdb")
    out = tmp_path / "out"
    assert main(["data", "import", "gaitpdb", str(src), str(out), "--only", "SiCo01_01"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"SiCo01_01_{s}{ext}" for s in ("left", "right") for ext in (".csv", ".json", ".events.csv"))
    assert "2 recordings" in capsys.readouterr().out
    assert main(["data", "import", "gaitpdb", str(src), str(out)]) == 2  # OUT not empty
    assert main(["data", "import", "nosuchset", str(src), str(tmp_path / "x")]) == 2
    assert main(["data", "import", "gaitpdb", str(src), str(tmp_path / "y"), "--only", "XxCo99_01"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "nosuchset" in err and "XxCo99_01" in err
