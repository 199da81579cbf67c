"""SCORING.md targets on the gait generator's scenarios, default profile, no tuning.

Each scenario of ``fescontrol_hil.gait`` over three seeds x 60 s at 100 Hz, replayed in batch
through :func:`fescontrol.replay.replay_in_memory` (detector, envelope, stimulation policy,
scorer: what ``fescontrol replay`` computes), scored per scenario with the seeds pooled
(``aggregate``: counts and times summed, ratios recomputed).

Targets (SCORING.md "Targets"):
- healthy-type walking (healthy, hemiparetic, light, heavy, preload, mid-stride): coverage
  >= 0.99, intrusion <= 0.03, standing 0 s, false bursts 0;
- pathological (shuffling, stop-and-go, pivot-turns): coverage >= 0.97, intrusion <= 0.05,
  standing 0 s, false bursts <= 1 per 100 swings;
- the heel cell alone (``adaptive_heel``) may stimulate standing for 0.1 % of the scored time
  (SCORING.md: a heel switch cannot tell a pivot on the forefoot from a step); the insole
  (``insole``) may not.
The heel-cell results must also hold with the force halved, doubled and with a constant
+30 N preload.

Targets not met are ``xfail(strict=True)`` with the measured value in the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fescontrol_hil.gait import SCENARIOS, generate

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.records.readers import Event
from fescontrol.records.scoring import aggregate
from fescontrol.replay import replay_in_memory

SEEDS = (1, 2, 3)
DURATION_S = 60.0
RATE_HZ = 100.0
PATHOLOGICAL = ("shuffling", "stop-and-go", "pivot-turns")
VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as generated": lambda x: x,
    "force halved": lambda x: x * 0.5,
    "force doubled": lambda x: x * 2.0,
    "preload +30 N": lambda x: x + 30.0,
}
CASES = tuple(("adaptive_heel", s, v) for s in SCENARIOS for v in VARIANTS) + tuple(
    ("insole", s, "as generated") for s in SCENARIOS)
METRICS = ("coverage", "stance_intrusion", "standing", "false_bursts")

_PIVOT_HEEL = ("heel cell alone: a pivot on the forefoot unloads the heel like a step (SCORING.md); "
               "measured over 3 seeds: stance intrusion 0.066, standing 10.3 s (5.7 % of the scored time), "
               "16 false bursts in 140 swings (11.4 per 100)")
KNOWN_MISSES: dict[tuple[str, str, str, str], str] = {
    **{("adaptive_heel", "pivot-turns", v, m): _PIVOT_HEEL
       for v in VARIANTS for m in ("stance_intrusion", "standing", "false_bursts")},
}


def _targets(kind: str, scenario: str) -> dict[str, tuple[str, float]]:
    pathological = scenario in PATHOLOGICAL
    return {
        "coverage": (">=", 0.97 if pathological else 0.99),
        "stance_intrusion": ("<=", 0.05 if pathological else 0.03),
        # heel cell alone: share of the scored time, in %; insole: seconds
        "standing": ("<=", 0.1) if kind == "adaptive_heel" else ("==", 0.0),
        # per 100 swings
        "false_bursts": ("<=", 1.0) if pathological else ("==", 0.0),
    }


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path(), device)
    out: dict[str, Any] = {"device": device}
    for kind in ("adaptive_heel", "insole"):
        out[kind] = profile.model_copy(update={"detector": profile.detector.model_copy(update={"kind": kind})})
    return out


_RECORDINGS: dict[tuple[str, int], Any] = {}
_RESULTS: dict[tuple[str, str, str], dict[str, Any]] = {}


def result(settings: dict[str, Any], kind: str, scenario: str, variant: str) -> dict[str, Any]:
    key = (kind, scenario, variant)
    if key not in _RESULTS:
        change = VARIANTS[variant]
        reports = []
        for seed in SEEDS:
            if (scenario, seed) not in _RECORDINGS:
                _RECORDINGS[(scenario, seed)] = generate(scenario, seed, DURATION_S, RATE_HZ)
            rec = _RECORDINGS[(scenario, seed)]
            assert rec.fore_N is not None
            columns = {"heel_N": change(np.asarray(rec.heel_N, dtype=np.float64)),
                       "fore_N": change(np.asarray(rec.fore_N, dtype=np.float64))}
            truth = [Event(t, k) for t, k in rec.events]
            reports.append(replay_in_memory(columns, rec.rate_hz, truth, settings[kind], settings["device"]))
        total = aggregate(reports)
        total["standing"] = (100.0 * total["standing_stim_s"] / total["scored_span_s"]
                             if kind == "adaptive_heel" else total["standing_stim_s"])
        total["false_bursts_per_100"] = 100.0 * total["false_bursts"] / total["swings"]
        total["health"] = sorted({m for r in reports for _, m in r["signal_health"] if m})
        _RESULTS[key] = total
    return _RESULTS[key]


def _params() -> list[Any]:
    out = []
    for kind, scenario, variant in CASES:
        for metric in METRICS:
            key = (kind, scenario, variant, metric)
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[key])] if key in KNOWN_MISSES else []
            out.append(pytest.param(*key, marks=marks, id="-".join(key).replace(" ", "_")))
    return out


@pytest.mark.parametrize("kind,scenario,variant,metric", _params())
def test_target(settings: dict[str, Any], kind: str, scenario: str, variant: str, metric: str) -> None:
    r = result(settings, kind, scenario, variant)
    op, bound = _targets(kind, scenario)[metric]
    value = r["false_bursts_per_100"] if metric == "false_bursts" else r[metric]
    assert value is not None, f"{kind}, {scenario}, {variant}: no {metric}"
    where = f"{kind}, {scenario}, {variant}: {metric} = {value:.4g} (target {op} {bound:g}; {r['swings']} swings)"
    if op == ">=":
        assert value >= bound, where
    elif op == "<=":
        assert value <= bound, where
    else:
        assert value == bound, where


@pytest.mark.parametrize("kind,scenario,variant", CASES)
def test_no_signal_problem_reported(settings: dict[str, Any], kind: str, scenario: str, variant: str) -> None:
    """Every generated signal is usable: the detector must not report a problem."""
    r = result(settings, kind, scenario, variant)
    assert r["swings"] > 0
    assert r["health"] == []
