"""Footstep scoring: for truth that marks footsteps (heel off -> foot flat), not swings.

Why a second yardstick: truong2019's reference gives each footstep as a window from heel off
to foot flat, with no toe-off or heel strike, so SCORING.md's swing metrics cannot be computed.
The window's middle third lies inside the swing, which a drop-foot stimulator must cover; the
time outside every window is stance or standing, which it must leave alone (issue 13):

``footstep_coverage``
    share of footstep windows whose middle third has intensity >= 0.5 over >= 90 % of its time;
``outside_share``
    stimulated time outside every window / time outside every window (over the recording);
``standing_stim_s``
    stimulated time while the leg stands (:func:`footstep_standing`: SCORING.md's 2 s gap rule).

Intensity is the scorer's own (``records/scoring.py``: max over the channels of current /
plateau), so both yardsticks read ``stim.csv`` the same way. Windows come from the truth's
``heel_off`` events each paired with the next ``foot_flat``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fescontrol.records.readers import Event, StimRow
from fescontrol.records.scoring import (
    COVERED_SHARE,
    EXTENSION_S,
    PRE_SWING_MIN_S,
    STANDING_GAP_S,
    _intensity_sets,
    _intersect,
    _measure,
    _normalize,
    _Set,
    _subtract,
)

__all__ = ["footstep_windows", "footstep_standing", "score_footsteps", "aggregate_footsteps", "truth_outside_masks",
           "FOOTSTEP_SUMS"]

FOOTSTEP_SUMS = ("footsteps", "footsteps_covered", "outside_time_s", "outside_stim_s", "standing_time_s",
                 "standing_stim_s")


def footstep_windows(truth: Sequence[Event]) -> list[tuple[float, float]]:
    """(heel_off, next foot_flat) pairs, in time order; an unpaired heel_off is dropped."""
    events = sorted((e for e in truth if e.kind in ("heel_off", "foot_flat")), key=lambda e: e.t_s)
    out: list[tuple[float, float]] = []
    start: float | None = None
    for e in events:
        if e.kind == "heel_off":
            start = e.t_s
        elif start is not None and e.t_s > start:
            out.append((start, e.t_s))
            start = None
    return out


def score_footsteps(stim: Sequence[StimRow], truth: Sequence[Event], plateau_ma: Mapping[int, float],
                    start_s: float, end_s: float) -> dict[str, Any]:
    """Footstep coverage and outside share of one leg over [start_s, end_s]."""
    windows = footstep_windows(truth)
    stimulated, strong = _intensity_sets(stim, plateau_ma, start_s, end_s)
    strong_set = _Set(strong)
    covered = 0
    uncovered: list[list[float]] = []
    for a, b in windows:
        third = (b - a) / 3.0
        lo, hi = a + third, b - third
        if strong_set.measure_within(lo, hi) >= COVERED_SHARE * (hi - lo):
            covered += 1
        else:
            uncovered.append([a, b])
    outside = _subtract([(start_s, end_s)], _normalize(windows))
    outside_time = _measure(outside)
    outside_stim = _Set(stimulated).measure_within_set(outside)
    standing = footstep_standing(windows, start_s, end_s)
    standing_stimulated = _intersect(standing, stimulated)
    return {"footsteps": len(windows), "footsteps_covered": covered,
            "footstep_coverage": covered / len(windows) if windows else None,
            "outside_time_s": outside_time, "outside_stim_s": outside_stim,
            "outside_share": outside_stim / outside_time if outside_time > 0 else None,
            "standing_time_s": _measure(standing), "standing_stim_s": _measure(standing_stimulated),
            "uncovered_footsteps_s": uncovered,
            "standing_stim_intervals_s": [[a, b] for a, b in standing_stimulated]}


def footstep_standing(windows: Sequence[tuple[float, float]], start_s: float, end_s: float) -> list[tuple[float, float]]:
    """Standing of a leg with footstep truth: SCORING.md's gap rule on its footsteps.

    Any gap of more than 2 s between footsteps is standing, and so are the start and the end of
    the recording when they lie more than 2 s from the nearest footstep (the protocol begins and
    ends standing still; the truth has no standing marks, so the same 2 s rule decides). Kept
    clear of each footstep: SCORING.md's shortest pre-swing window (0.2 s) before it and its
    extension window (0.25 s) after it."""
    edges = [start_s] + [t for w in windows for t in w] + [end_s]
    out: list[tuple[float, float]] = []
    for i in range(0, len(edges), 2):
        a, b = edges[i], edges[i + 1]
        if b - a > STANDING_GAP_S:
            lo = a if i == 0 else a + EXTENSION_S
            hi = b if i + 2 == len(edges) else b - PRE_SWING_MIN_S
            if hi > lo:
                out.append((lo, hi))
    return out


def aggregate_footsteps(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pooled as SCORING.md pools: counts and times summed, ratios recomputed from the sums."""
    sums = {k: sum(float(r.get(k) or 0.0) for r in reports) for k in FOOTSTEP_SUMS}
    n = int(sums["footsteps"])
    return {"footsteps": n, "footsteps_covered": int(sums["footsteps_covered"]),
            "footstep_coverage": sums["footsteps_covered"] / n if n else None,
            "outside_time_s": sums["outside_time_s"], "outside_stim_s": sums["outside_stim_s"],
            "outside_share": sums["outside_stim_s"] / sums["outside_time_s"] if sums["outside_time_s"] > 0 else None,
            "standing_time_s": sums["standing_time_s"], "standing_stim_s": sums["standing_stim_s"]}


MASK_TOLERANCE_S = 1e-3
"""A mask's ends match the truth events they name within this (event files round to 0.1 ms)."""


def truth_outside_masks(truth: Sequence[Event], masks: Sequence[Sequence[float]]) -> list[list[Event]]:
    """The truth cut into pieces around masked spans, each piece to be scored on its own.

    Why: gaitmap-example's reference holds one "swing" through the 180 deg turn (toe off ->
    heel strike, 1.5 s) with the turning steps inside it missing (gait-data README: mask the
    turn). A mask ``(toe_off, heel_strike)`` ends the piece before it at that toe off (the stance
    before it is still scored; a trailing toe off is no swing) and starts the next piece at that
    heel strike. Each piece's scored span stops at its own first and last event (SCORING.md:
    time outside the span counts nowhere), so inside a mask neither coverage nor standing nor
    intrusion is counted. Other event kinds (standing marks) go to the piece they fall in.
    """
    events = sorted(truth, key=lambda e: e.t_s)
    pieces: list[list[Event]] = []
    start = -float("inf")
    for lo, hi in sorted((float(m[0]), float(m[1])) for m in masks):
        pieces.append([e for e in events if start - MASK_TOLERANCE_S <= e.t_s <= lo + MASK_TOLERANCE_S])
        start = hi
    pieces.append([e for e in events if e.t_s >= start - MASK_TOLERANCE_S])
    return [p for p in pieces if p]

