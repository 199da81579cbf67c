"""Footstep scoring (records/footstep_scoring.py) on hand-made timelines with known answers."""

from __future__ import annotations

import pytest

from fescontrol.records.footstep_scoring import aggregate_footsteps, footstep_standing, footstep_windows, score_footsteps
from fescontrol.records.readers import Event, StimRow

PLATEAU = {1: 30.0}
STEPS = [(1.0, 1.9), (3.0, 3.9), (5.0, 5.9)]
TRUTH = [Event(t, k) for a, b in STEPS for t, k in ((a, "heel_off"), (b, "foot_flat"))]


def bursts(intervals: list[tuple[float, float]], current: float = 30.0) -> list[StimRow]:
    rows = []
    for a, b in intervals:
        rows += [StimRow(a, 1, current, 300, 40.0), StimRow(b, 1, 0.0, 0, 0.0)]
    return rows


def test_windows_pair_each_heel_off_with_the_next_foot_flat() -> None:
    truth = [Event(0.5, "foot_flat"), *TRUTH, Event(7.0, "heel_off")]
    assert footstep_windows(truth) == STEPS


def test_perfect_none_and_always() -> None:
    perfect = score_footsteps(bursts(STEPS), TRUTH, PLATEAU, 0.0, 7.0)
    assert perfect["footstep_coverage"] == 1.0 and perfect["outside_share"] == 0.0
    none = score_footsteps([], TRUTH, PLATEAU, 0.0, 7.0)
    assert none["footstep_coverage"] == 0.0 and none["outside_share"] == 0.0
    always = score_footsteps(bursts([(0.0, 7.0)]), TRUTH, PLATEAU, 0.0, 7.0)
    assert always["footstep_coverage"] == 1.0 and always["outside_share"] == 1.0
    assert always["outside_time_s"] == pytest.approx(7.0 - 3 * 0.9)


def test_middle_third_and_ninety_percent() -> None:
    # step 1: middle third 1.3..1.6 covered from 1.32 (93 %); step 2: from 3.35 (83 % < 90 %)
    # step 3: half intensity only (below 0.5 is not covered)
    stim = bursts([(1.32, 1.7), (3.35, 3.7)]) + bursts([(5.0, 5.9)], current=14.0)
    r = score_footsteps(stim, TRUTH, PLATEAU, 0.0, 7.0)
    assert (r["footsteps"], r["footsteps_covered"]) == (3, 1)
    assert r["uncovered_footsteps_s"] == [[3.0, 3.9], [5.0, 5.9]]


def test_outside_share_counts_only_time_outside_every_window() -> None:
    r = score_footsteps(bursts([(0.5, 1.2), (6.0, 6.5)]), TRUTH, PLATEAU, 0.0, 7.0)
    assert r["outside_stim_s"] == pytest.approx(0.5 + 0.5)
    assert r["outside_share"] == pytest.approx(1.0 / (7.0 - 2.7))


def test_pooling_sums_then_divides() -> None:
    a = score_footsteps(bursts(STEPS), TRUTH, PLATEAU, 0.0, 7.0)
    b = score_footsteps(bursts([(0.0, 7.0)]), TRUTH, PLATEAU, 0.0, 7.0)
    pooled = aggregate_footsteps([a, b])
    assert pooled["footsteps"] == 6 and pooled["footstep_coverage"] == 1.0
    assert pooled["outside_share"] == pytest.approx(b["outside_time_s"] / (a["outside_time_s"] + b["outside_time_s"]))


def test_standing_is_the_two_second_gap_rule_clear_of_each_footstep() -> None:
    # footsteps at 1.0-1.9, 3.0-3.9, 5.0-5.9 (gaps of 1.1 s: walking); standing only before 1.0 if
    # longer than 2 s, and after 5.9 when the recording runs on for more than 2 s
    assert footstep_standing(STEPS, 0.0, 7.0) == []
    assert footstep_standing(STEPS, -1.5, 9.0) == [(-1.5, 0.8), (6.15, 9.0)]
    far = [(1.0, 1.9), (4.0, 4.9)]  # a 2.1 s gap: standing, 0.25 s after the first, 0.2 s before the next
    assert footstep_standing(far, 0.0, 5.0) == [(pytest.approx(2.15), pytest.approx(3.8))]


def test_stimulation_while_standing_is_counted_and_located() -> None:
    r = score_footsteps(bursts([*STEPS, (7.5, 8.0)]), TRUTH, PLATEAU, 0.0, 10.0)
    assert r["standing_time_s"] == pytest.approx(10.0 - 6.15)
    assert r["standing_stim_s"] == pytest.approx(0.5)
    assert r["standing_stim_intervals_s"] == [[pytest.approx(7.5), pytest.approx(8.0)]]
    pooled = aggregate_footsteps([r, r])
    assert pooled["standing_stim_s"] == pytest.approx(1.0)
