"""The "real walks" targets on all 35 gaitpdb walks, both feet, default profile, no tuning.

Done-when of the issue, per group (all feet pooled, Parkinson's, controls):
- insole (heel_N + fore_N): coverage >= 0.99, stance intrusion <= 0.03, standing 0 s,
  false bursts <= 1 per 100 swings;
- heel cell alone (adaptive_heel): coverage >= 0.99, intrusion <= 0.03, standing <= 0.1 % of
  the scored time, false bursts <= 1 per 100 swings, also with the force halved, doubled and
  with a constant +30 N preload;
- no walk below coverage 0.95.

The walks are read in place from ``../shared/gait-data/gaitpdb`` beside the repository through
the importer's own functions, once per session, and scored with
``fescontrol.replay.replay_in_memory`` (what ``fescontrol replay`` computes) by
``tools/results/gaitpdb_table.py`` (the same code writes the tables into
benchmarks/RESULTS.md). Nothing is copied into the repository.

Targets not met today are marked ``xfail(strict=True)`` with the measured value: they are
reported, not hidden, and the mark must go when the detector (or the scorer) meets them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "gait-data" / "gaitpdb"
TOOL = REPO / "tools" / "results" / "gaitpdb_table.py"
GROUPS = ("pooled", "parkinson", "healthy")

HEEL_VARIANTS = ("as recorded", "force halved", "force doubled", "preload +30 N")
CASES = tuple(("adaptive_heel", v) for v in HEEL_VARIANTS) + (("insole", "as recorded"),)

# metric -> (comparison, bound) per detector kind
TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "insole": {"coverage": (">=", 0.99), "stance_intrusion": ("<=", 0.03),
               "standing_stim_s": ("==", 0.0), "false_bursts_per_100": ("<=", 1.0),
               "min_walk_coverage": (">=", 0.95)},
    "adaptive_heel": {"coverage": (">=", 0.99), "stance_intrusion": ("<=", 0.03),
                      "standing_pct": ("<=", 0.1), "false_bursts_per_100": ("<=", 1.0),
                      "min_walk_coverage": (">=", 0.95)},
}

_STANDING_HEEL = ("heel cell alone: pivots and near-lifts in turns (heel off, forefoot loaded) "
                  "stimulate inside gaps the total-force truth calls standing (15.5 of the 21.2 s in gaps "
                  "where the total force never falls below the truth's threshold); no heel-only cue at "
                  "burst start separates them from real swings (contact length, heel peak, unload slope, "
                  "previous unloaded time: every rule tried cost Parkinson's swings below 0.99); measured "
                  "(as recorded / halved / doubled / +30 N): pooled 0.308 / 0.310 / 0.308 / 0.308 %, "
                  "Parkinson's 0.466 / 0.470 / 0.466 / 0.466 %, controls 0.106 % each")
_INSOLE_STANDING = ("insole: short real lifts in turns (total force below the truth's threshold for 5-9 "
                    "samples, which the truth's 10-sample rule merges into one long contact: 1.46 s) and "
                    "late contacts on a midfoot landing at the start of a standing gap (0.28 s); the burst "
                    "must start by toe-off to cover a swing, before the lift's length is known; measured "
                    "1.92 s pooled, 1.37 s Parkinson's, 0.55 s controls")
KNOWN_MISSES: dict[tuple[str, str, str, str], str] = {
    **{("adaptive_heel", v, g, "standing_pct"): _STANDING_HEEL for v in HEEL_VARIANTS for g in GROUPS},
    **{("insole", "as recorded", g, "standing_stim_s"): _INSOLE_STANDING for g in GROUPS},
}


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gaitpdb_table", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gaitpdb_table", module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["gaitpdb_table"])
    return sys.modules["gaitpdb_table"]


@pytest.fixture(scope="session")
def walks() -> tuple[ModuleType, list[Any]]:
    if not DATA.is_dir():
        pytest.skip(f"gait data not present: {DATA.resolve()} (shared/gait-data/gaitpdb beside the repository)")
    tool = _tool()
    return tool, tool.load_walks(DATA)


_CACHE: dict[tuple[str, str], dict[str, Any]] = {}


def summary(walks: tuple[ModuleType, list[Any]], kind: str, variant: str) -> dict[str, Any]:
    if (kind, variant) not in _CACHE:
        tool, data = walks
        _CACHE[(kind, variant)] = tool.summarize(tool.run_case(data, kind, variant))
    return _CACHE[(kind, variant)]


def _params() -> list[Any]:
    out = []
    for kind, variant in CASES:
        for group in GROUPS:
            for metric in TARGETS[kind]:
                key = (kind, variant, group, metric)
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[key])] if key in KNOWN_MISSES else []
                out.append(pytest.param(*key, marks=marks, id="-".join(key).replace(" ", "_")))
    return out


@pytest.mark.parametrize("kind,variant,group,metric", _params())
def test_target(walks: tuple[ModuleType, list[Any]], kind: str, variant: str, group: str, metric: str) -> None:
    g = summary(walks, kind, variant)[group]
    op, bound = TARGETS[kind][metric]
    value = g[metric]
    where = f"{kind}, {variant}, {group}: {metric} = {value:.4g} (target {op} {bound:g})"
    if metric == "min_walk_coverage":
        where += f", lowest walk {g['min_walk']}"
    if op == ">=":
        assert value >= bound, where
    elif op == "<=":
        assert value <= bound, where
    else:
        assert value == bound, where


def test_every_walk_was_scored(walks: tuple[ModuleType, list[Any]]) -> None:
    s = summary(walks, "adaptive_heel", "as recorded")
    assert s["pooled"]["walks"] == 70 and s["parkinson"]["walks"] == 40 and s["healthy"]["walks"] == 30
    assert s["pooled"]["swings"] > 5900


@pytest.mark.parametrize("kind,variant", CASES)
def test_no_false_alarm_on_usable_signals(walks: tuple[ModuleType, list[Any]], kind: str, variant: str) -> None:
    """Every walk's signal is usable: the detector must not report a problem on any of them."""
    assert summary(walks, kind, variant)["pooled"]["signal_health"] == []


def test_the_heel_cell_results_do_not_depend_on_gain(walks: tuple[ModuleType, list[Any]]) -> None:
    base = summary(walks, "adaptive_heel", "as recorded")["pooled"]
    for variant in ("force halved", "force doubled"):
        other = summary(walks, "adaptive_heel", variant)["pooled"]
        assert other["coverage"] == pytest.approx(base["coverage"], abs=0.002), variant
        assert other["false_bursts"] == pytest.approx(base["false_bursts"], abs=3), variant
