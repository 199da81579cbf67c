"""The scorer on hand-made timelines whose answers are worked out by hand (SCORING.md, "Tests of the scorer").

The regular gait used by most tests (``_gait()``): heel strikes at 1, 2, ..., 11 s, heel-off
0.375 s and toe-off 0.625 s after each of the first ten. So 10 swings [k+0.625, k+1]
(0.375 s each, 3.75 s in all), 10 stances [k, k+0.625] (6.25 s), pre-swing windows
[k+0.375, k+0.625] (L = max(0.2, 0.35*0.625, heel-off 0.25) = 0.25 s), extension windows
[k+1, k+1.25]. The walk starts from and ends in marked standing (``standing_end`` at 1 s,
``standing_start`` at 11 s, as ``simulate`` writes it); the session ends at 12 s, so standing
is [0, 1) and [11.25, 12] (1.75 s; the last extension window is never standing).
``_gait(marked=False)`` is the same walk cut mid-walk at both ends (SCORING.md "Scored span").
Times are chosen to be exact binary fractions where it matters.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fescontrol.errors import ConfigError
from fescontrol.records.readers import Event, StimRow, read_events_csv, read_stim_csv
from fescontrol.records.scoring import aggregate, format_report_table, score

TOL = 1e-9
PLATEAU = {1: 40.0}


def approx(x: float) -> object:
    return pytest.approx(x, abs=TOL, rel=0)


def _gait(n: int = 10, t0: float = 1.0, period: float = 1.0, stance: float = 0.625,
          heel_off: float | None = 0.375, marked: bool = True) -> list[Event]:
    """Regular walking; ``marked``: it starts from and ends in marked standing (``standing_end``
    at the first heel strike, ``standing_start`` at the last), as ``simulate`` writes it; else
    the recording is cut mid-walk at both ends (as many public recordings are)."""
    events: list[Event] = [Event(t0, "standing_end")] if marked else []
    for k in range(n + 1):
        hs = t0 + k * period
        events.append(Event(hs, "heel_strike"))
        if k < n:
            if heel_off is not None:
                events.append(Event(hs + heel_off, "heel_off"))
            events.append(Event(hs + stance, "toe_off"))
    if marked:
        events.append(Event(t0 + n * period, "standing_start"))
    return events


def _swings(truth: list[Event]) -> list[tuple[float, float]]:
    gait = [e for e in truth if e.kind in ("heel_strike", "toe_off")]
    return [(a.t_s, b.t_s) for a, b in zip(gait, gait[1:])
            if a.kind == "toe_off" and b.kind == "heel_strike"]


def _bursts(spans: list[tuple[float, float]], current: float = 40.0, channel: int = 1) -> list[StimRow]:
    rows: list[StimRow] = []
    for a, b in spans:
        rows.append(StimRow(a, channel, current, 300, 40.0))
        rows.append(StimRow(b, channel, 0.0, 300, 40.0))
    return rows


def _perfect(truth: list[Event], lead: float = 0.1, lag: float = 0.1) -> list[tuple[float, float]]:
    return [(to - lead, hs + lag) for to, hs in _swings(truth)]


# ------------------------------------------------------------------ the required cases

def test_perfect_stimulator() -> None:
    truth = _gait()
    r = score(_bursts(_perfect(truth)), truth, PLATEAU, end_s=12.0)
    assert r["swings"] == 10
    assert r["covered_swings"] == 10
    assert r["coverage"] == approx(1.0)
    assert r["swing_stimulated_fraction"] == approx(1.0)
    assert r["missed_swings"] == 0
    assert r["stance_intrusion"] == approx(0.0)
    assert r["stance_intrusion_time_s"] == approx(0.0)
    assert r["standing_stim_s"] == approx(0.0)
    assert r["bursts"] == 10
    assert r["false_bursts"] == 0
    for key in ("onset_lead_ms", "offset_lag_ms"):
        assert r[key]["n"] == 10
        for stat in ("median", "p10", "p90"):
            assert r[key][stat] == approx(100.0)
    assert r["swing_time_s"] == approx(3.75)
    assert r["stance_time_s"] == approx(6.25)
    assert r["standing_time_s"] == approx(1.75)
    assert r["steps"] == 10
    assert r["walking_time_s"] == approx(10.0)
    assert r["cadence_spm"] == approx(60.0)
    assert r["event_f1"] == {} and r["event_mae_ms"] == {}
    json.dumps(r)  # JSON-ready


def test_never_stimulates() -> None:
    truth = _gait()
    for stim in ([], [StimRow(0.0, 1, 0.0, 300, 40.0)]):
        r = score(stim, truth, PLATEAU, end_s=12.0)
        assert r["coverage"] == approx(0.0)
        assert r["missed_swings"] == r["swings"] == 10
        assert r["swing_stimulated_fraction"] == approx(0.0)
        assert r["bursts"] == 0 and r["false_bursts"] == 0
        assert r["stance_intrusion"] == approx(0.0)
        assert r["onset_lead_ms"] == {"median": None, "p10": None, "p90": None, "n": 0}
        assert r["offset_lag_ms"]["n"] == 0


def test_always_stimulates() -> None:
    truth = _gait()
    r = score([StimRow(0.0, 1, 40.0, 300, 40.0)], truth, PLATEAU, end_s=12.0)
    # Stance outside windows, by hand: the first stance [1, 1.625] has no extension window
    # (no swing before it): [1, 1.375] = 0.375 s; the nine others [k, k+0.625] lose
    # [k, k+0.25] and [k+0.375, k+0.625]: 0.125 s each.
    outside = 0.375 + 9 * 0.125
    assert r["stance_intrusion_time_s"] == approx(outside)
    assert r["stance_intrusion"] == approx(outside / 6.25)  # 0.24
    assert r["standing_stim_s"] == approx(1.0 + 0.75)  # [0, 1) and [11.25, 12]
    assert r["coverage"] == approx(1.0)
    assert r["missed_swings"] == 0
    assert r["bursts"] == 1 and r["false_bursts"] == 0
    # one burst [0, 12] covers every swing: onset = toe_off - 0, offset = 12 - heel_strike
    assert r["onset_lead_ms_values"] == [approx(1625.0 + 1000.0 * k) for k in range(10)]
    assert r["offset_lag_ms_values"] == [approx(10000.0 - 1000.0 * k) for k in range(10)]
    assert r["onset_lead_ms"]["median"] == approx(6125.0)
    assert r["onset_lead_ms"]["p10"] == approx(2525.0)  # linear: 1625 + 0.9 * 1000
    assert r["onset_lead_ms"]["p90"] == approx(9725.0)  # 9625 + 0.1 * 1000


def test_burst_at_the_edge_of_the_pre_swing_window() -> None:
    truth = _gait()
    hs = 4.0  # swing [3.625, 4.0]; pre-swing window [3.375, 3.625] (L = heel-off 0.25 s)
    edge = score(_bursts([(3.375, hs)]), truth, PLATEAU, end_s=12.0)
    assert edge["stance_intrusion_time_s"] == approx(0.0)
    assert edge["onset_lead_ms"]["median"] == approx(250.0)
    early = score(_bursts([(3.365, hs)]), truth, PLATEAU, end_s=12.0)
    assert early["stance_intrusion_time_s"] == approx(0.01)
    assert early["stance_intrusion"] == approx(0.01 / 6.25)
    assert early["standing_stim_s"] == approx(0.0)
    # and the extension window ends at heel strike + 0.25 s
    late = score(_bursts([(3.5, hs + 0.25)]), truth, PLATEAU, end_s=12.0)
    assert late["stance_intrusion_time_s"] == approx(0.0)
    later = score(_bursts([(3.5, hs + 0.26)]), truth, PLATEAU, end_s=12.0)
    assert later["stance_intrusion_time_s"] == approx(0.01)


@pytest.mark.parametrize("stance, length", [(1.0, 0.35), (0.5, 0.2)])
def test_pre_swing_window_without_heel_off(stance: float, length: float) -> None:
    """L = max(0.20 s, 0.35 x stance) when the truth has no heel_off."""
    truth = _gait(n=4, period=stance + 0.5, stance=stance, heel_off=None)
    to, hs = _swings(truth)[1]
    at_edge = score(_bursts([(to - length, hs)]), truth, PLATEAU)
    assert at_edge["stance_intrusion_time_s"] == approx(0.0)
    before = score(_bursts([(to - length - 0.01, hs)]), truth, PLATEAU)
    assert before["stance_intrusion_time_s"] == approx(0.01)


def test_one_swing_missed_in_ten() -> None:
    truth = _gait()
    spans = _perfect(truth)
    del spans[4]
    r = score(_bursts(spans), truth, PLATEAU, end_s=12.0)
    assert r["coverage"] == approx(0.9)
    assert r["covered_swings"] == 9
    assert r["missed_swings"] == 1
    assert r["swing_stimulated_fraction"] == approx(0.9)
    assert r["swing_stimulated_time_s"] == approx(9 * 0.375)
    assert r["bursts"] == 9 and r["false_bursts"] == 0
    assert r["onset_lead_ms"]["n"] == 9
    assert r["uncovered_swings_s"] == [list(_swings(truth)[4])]
    assert r["standing_stim_intervals_s"] == []


def test_stimulation_after_walking_is_standing() -> None:
    truth = _gait()
    spans = _perfect(truth) + [(11.5, 11.75)]  # after the extension window [11, 11.25]
    r = score(_bursts(spans), truth, PLATEAU, end_s=12.0)
    assert r["standing_stim_s"] == approx(0.25)
    assert r["standing_stim_intervals_s"] == [[approx(11.5), approx(11.75)]]
    assert r["uncovered_swings_s"] == []
    assert r["false_bursts"] == 1 and r["bursts"] == 11
    assert r["coverage"] == approx(1.0)
    assert r["stance_intrusion_time_s"] == approx(0.0)


def test_output_holds_until_end_of_session() -> None:
    truth = _gait()
    stim = _bursts(_perfect(truth)) + [StimRow(11.5, 1, 40.0, 300, 40.0)]  # never switched off
    r = score(stim, truth, PLATEAU, end_s=12.0)
    assert r["standing_stim_s"] == approx(0.5)
    assert score(stim, truth, PLATEAU, end_s=13.0)["standing_stim_s"] == approx(1.5)
    # default end: the later of the last stim row (11.5) and the last truth event (11.0)
    assert score(stim, truth, PLATEAU)["standing_stim_s"] == approx(0.0)


def test_explicit_standing_with_a_turning_step() -> None:
    """A step taken inside standing_start..standing_end is no swing; stimulating it is a fault.

    The walk starts from and ends in marked standing (standing_end at 1 s, standing_start at
    6.75 s): before SCORING.md's "Scored span" rule the open ends were standing without the
    markers; now they must be marked to count."""
    ev = Event
    truth = [
        ev(1.0, "standing_end"),
        ev(1.0, "heel_strike"), ev(1.375, "heel_off"), ev(1.625, "toe_off"),
        ev(2.0, "heel_strike"), ev(2.375, "heel_off"), ev(2.625, "toe_off"),
        ev(3.0, "heel_strike"), ev(3.5, "standing_start"),
        ev(4.0, "toe_off"), ev(4.25, "heel_strike"),  # turning on the spot
        ev(5.0, "standing_end"), ev(5.125, "heel_off"), ev(5.375, "toe_off"),
        ev(5.75, "heel_strike"), ev(6.125, "heel_off"), ev(6.375, "toe_off"),
        ev(6.75, "heel_strike"), ev(6.75, "standing_start"),
    ]
    spans = [(1.525, 2.1), (2.525, 3.1), (4.0, 4.25), (5.275, 5.85), (6.275, 6.85)]
    r = score(_bursts(spans), truth, PLATEAU, end_s=8.0)
    assert r["swings"] == 4
    assert r["coverage"] == approx(1.0)
    assert r["standing_stim_s"] == approx(0.25)
    assert r["bursts"] == 5 and r["false_bursts"] == 1
    assert r["stance_intrusion_time_s"] == approx(0.0)
    # stances cut at standing: 0.625 + 0.625 + [3, 3.5] + [5, 5.375] + 0.625
    assert r["stance_time_s"] == approx(2.75)
    assert r["swing_time_s"] == approx(1.5)
    assert r["standing_time_s"] == approx(1.0 + 1.5 + 1.0)  # [0,1), [3.5,5], [7,8]
    # strides touching standing do not count
    assert r["steps"] == 3 and r["walking_time_s"] == approx(3.0)
    # stimulating the stance just before standing starts is intrusion, not standing
    r2 = score(_bursts(spans + [(3.25, 3.5)]), truth, PLATEAU, end_s=8.0)
    assert r2["stance_intrusion_time_s"] == approx(0.25)
    assert r2["standing_stim_s"] == approx(0.25)


def test_unpaired_standing_markers() -> None:
    """standing_start without an end runs to the session end; a leading standing_end from the start."""
    truth = _gait(n=2) + [Event(3.5, "standing_start")]  # last heel strike 3.0
    r = score(_bursts([(3.5, 3.75)]), sorted(truth, key=lambda e: e.t_s), PLATEAU, end_s=5.0)
    assert r["standing_stim_s"] == approx(0.25)
    truth = [Event(0.5, "standing_end")] + _gait(n=2)
    r = score(_bursts([(0.25, 0.5)]), truth, PLATEAU, end_s=5.0)
    assert r["standing_stim_s"] == approx(0.25)
    # standing is [0, 0.5) (before the first truth event, standing_end) and [3.25, 5] (after
    # the last heel strike's extension window); [0.5, 1.0) is walking that began with no toe_off
    assert r["standing_time_s"] == approx(0.5 + (5.0 - 3.25))


def test_first_stance_after_standing_end_is_stance_not_standing() -> None:
    """Stimulation between standing_end and the first toe-off, before its window, is intrusion."""
    ev = Event
    truth = [ev(1.0, "standing_end"), ev(1.5, "toe_off"), ev(2.0, "heel_strike"), ev(2.6, "toe_off"),
             ev(3.0, "heel_strike"), ev(3.5, "standing_start")]
    # window before the first toe-off: L = max(0.2, 0.35 * 0.5) = 0.2 -> [1.3, 1.5]
    r = score(_bursts([(1.2, 1.9)]), truth, PLATEAU, end_s=5.0)
    assert r["standing_stim_s"] == approx(0.0)
    assert r["stance_intrusion_time_s"] == approx(0.1)
    assert r["stance_time_s"] == approx(0.5 + 0.6 + 0.5)


def test_gap_longer_than_two_seconds_is_standing() -> None:
    """A gap > 2 s inside the span is standing. The ends are not marked (cut mid-walk), so
    [0, 1) and [6.875, 8] count nowhere (they counted as standing before the "Scored span"
    rule of SCORING.md)."""
    ev = Event
    truth = [
        ev(1.0, "heel_strike"), ev(1.625, "toe_off"), ev(2.0, "heel_strike"),
        # 3.5 s without heel strike or toe-off: standing, except the windows
        ev(5.5, "toe_off"), ev(5.875, "heel_strike"), ev(6.5, "toe_off"), ev(6.875, "heel_strike"),
    ]
    # Windows: ext [2, 2.25]; first pre-swing after the pause: stance walking part 0 ->
    # L = 0.2 -> [5.3, 5.5]; the others L = 0.35 * 0.625 = 0.21875.
    spans = [(1.525, 2.1), (3.0, 3.5), (5.3, 5.975), (6.4, 6.975)]
    r = score(_bursts(spans), truth, PLATEAU, end_s=8.0)
    assert r["swings"] == 3
    assert r["coverage"] == approx(1.0)
    assert r["stance_intrusion_time_s"] == approx(0.0)
    assert r["standing_stim_s"] == approx(0.5)
    assert r["bursts"] == 4 and r["false_bursts"] == 1
    assert r["onset_lead_ms_values"] == [approx(100.0), approx(200.0), approx(100.0)]
    assert r["stance_time_s"] == approx(0.625 + 0.25 + 0.2 + 0.625)
    assert r["standing_time_s"] == approx(5.3 - 2.25)
    assert r["scored_span_s"] == approx(6.875 - 1.0)
    assert r["steps"] == 2 and r["cadence_spm"] == approx(60.0)
    # starting 10 ms before that window is standing stimulation (the pause), not intrusion
    r2 = score(_bursts([(1.525, 2.1), (5.29, 5.975), (6.4, 6.975)]), truth, PLATEAU, end_s=8.0)
    assert r2["standing_stim_s"] == approx(0.01)
    assert r2["stance_intrusion_time_s"] == approx(0.0)
    assert r2["false_bursts"] == 0


# ------------------------------------------------------------------ scored span (SCORING.md)

def test_cut_mid_walk_outside_the_span_counts_nowhere() -> None:
    """Unmarked time before the first and after the last heel strike / toe-off counts nowhere."""
    truth = _gait(marked=False)  # span [1, 11]
    spans = _perfect(truth) + [(0.2, 0.6), (11.5, 11.9)]
    r = score(_bursts(spans), truth, PLATEAU, end_s=12.0)
    assert r["standing_stim_s"] == approx(0.0)
    assert r["standing_time_s"] == approx(0.0)
    assert r["stance_intrusion_time_s"] == approx(0.0)
    assert r["bursts"] == 10 and r["false_bursts"] == 0  # the two outside are not judged
    assert r["coverage"] == approx(1.0)
    assert r["scored_span_s"] == approx(10.0)
    assert r["stance_time_s"] == approx(6.25)


def test_cut_mid_walk_bursts_reaching_outside_the_span() -> None:
    """The swing before the first heel strike and after the last toe-off were walked, only not
    recorded: their bursts reach into the span through allowed windows and are not false."""
    truth = [e for e in _gait(marked=False) if e.t_s < 10.7]  # ends with the toe-off at 10.625
    # a burst from outside ending in the first extension window [1, 1.25]; one starting in the
    # last pre-swing window [10.375, 10.625] and running past the span
    spans = [(0.6, 1.2)] + _perfect(truth) + [(10.5, 11.2)]
    r = score(_bursts(spans), truth, PLATEAU, end_s=12.0)
    assert r["swings"] == 9 and r["coverage"] == approx(1.0)
    assert r["stance_intrusion_time_s"] == approx(0.0)
    assert r["standing_stim_s"] == approx(0.0)
    assert r["bursts"] == 11 and r["false_bursts"] == 0
    # stimulation inside the span outside the windows is still intrusion
    late = score(_bursts([(0.6, 1.3)]), truth, PLATEAU, end_s=12.0)
    assert late["stance_intrusion_time_s"] == approx(0.05)
    assert late["false_bursts"] == 0
    # a burst wholly inside the span touching no swing is false
    inside = score(_bursts([(1.1, 1.2)]), truth, PLATEAU, end_s=12.0)
    assert inside["false_bursts"] == 1 and inside["stance_intrusion_time_s"] == approx(0.0)


def test_marked_standing_at_the_ends_counts() -> None:
    """standing_end before the span and standing_start after it: that time is standing."""
    truth = _gait()  # standing_end at 1, standing_start at 11
    spans = _perfect(truth) + [(0.2, 0.6), (11.5, 11.9)]
    r = score(_bursts(spans), truth, PLATEAU, end_s=12.0)
    assert r["standing_stim_s"] == approx(0.8)
    assert r["bursts"] == 12 and r["false_bursts"] == 2
    assert r["scored_span_s"] == approx(12.0)
    # marked at the start only: the end is cut mid-walk
    start_only = [e for e in truth if e.kind != "standing_start"]
    r2 = score(_bursts(spans), start_only, PLATEAU, end_s=12.0)
    assert r2["standing_stim_s"] == approx(0.4)
    assert r2["false_bursts"] == 1
    assert r2["scored_span_s"] == approx(11.0)


def test_gap_inside_the_span_without_markers_is_standing() -> None:
    """A gap > 2 s between two heel strikes / toe-offs is standing, even in a cut recording."""
    ev = Event
    truth = [ev(1.0, "heel_strike"), ev(1.6, "toe_off"), ev(2.0, "heel_strike"),
             ev(5.0, "toe_off"), ev(5.4, "heel_strike")]
    r = score(_bursts([(3.0, 3.5)]), truth, PLATEAU, end_s=6.0)
    assert r["standing_stim_s"] == approx(0.5)
    assert r["false_bursts"] == 1
    # the gap [2, 5] less the extension window [2, 2.25] and the pre-swing window [4.8, 5]
    assert r["standing_time_s"] == approx(3.0 - 0.25 - 0.2)
    # a gap of exactly 2 s is not standing
    truth2 = [ev(1.0, "heel_strike"), ev(1.6, "toe_off"), ev(2.0, "heel_strike"),
              ev(4.0, "toe_off"), ev(4.4, "heel_strike")]
    assert score(_bursts([(3.0, 3.5)]), truth2, PLATEAU, end_s=6.0)["standing_stim_s"] == approx(0.0)


def test_allowed_windows_are_never_standing() -> None:
    """The first pre-swing window after standing and the last extension before it are allowed,
    even where they overlap marked standing."""
    ev = Event
    truth = [ev(1.0, "standing_end"), ev(1.1, "toe_off"), ev(1.5, "heel_strike"), ev(2.1, "toe_off"),
             ev(2.5, "heel_strike"), ev(2.5, "standing_start")]
    # pre-swing window of the first swing [0.9, 1.1] (L = 0.2) overlaps standing [0, 1];
    # extension window [2.5, 2.75] after the last heel strike overlaps standing [2.5, 4]
    r = score(_bursts([(0.9, 1.6), (1.9, 2.75)]), truth, PLATEAU, end_s=4.0)
    assert r["standing_stim_s"] == approx(0.0)
    assert r["stance_intrusion_time_s"] == approx(0.0)
    assert r["false_bursts"] == 0 and r["coverage"] == approx(1.0)
    assert r["standing_time_s"] == approx(0.9 + 1.25)
    over = score(_bursts([(0.8, 1.6), (1.9, 2.8)]), truth, PLATEAU, end_s=4.0)
    assert over["standing_stim_s"] == approx(0.15)


def test_intensity_below_half_is_stimulated_but_not_covering() -> None:
    truth = _gait()
    r = score(_bursts(_perfect(truth), current=16.0), truth, PLATEAU, end_s=12.0)  # 0.4
    assert r["coverage"] == approx(0.0)
    assert r["missed_swings"] == 0
    assert r["swing_stimulated_fraction"] == approx(0.0)
    assert r["bursts"] == 10 and r["false_bursts"] == 0
    assert r["onset_lead_ms"]["n"] == 0
    half = score(_bursts(_perfect(truth), current=20.0), truth, PLATEAU, end_s=12.0)  # 0.5
    assert half["coverage"] == approx(1.0)


def test_ninety_percent_of_the_swing() -> None:
    truth = _gait()  # first swing [1.625, 2.0], 0.375 s; 90 % = 0.3375 s
    r = score(_bursts([(2.0 - 0.3375, 2.1)]), truth, PLATEAU, end_s=12.0)
    assert r["covered_swings"] == 1
    r = score(_bursts([(1.7, 2.1)]), truth, PLATEAU, end_s=12.0)  # 0.3 s = 80 %
    assert r["covered_swings"] == 0 and r["missed_swings"] == 9
    assert r["swing_stimulated_time_s"] == approx(0.3)


def test_two_channels_with_different_plateaus() -> None:
    truth = _gait(n=3)  # swings [1.625,2], [2.625,3], [3.625,4]
    plateau = {1: 40.0, 2: 20.0}
    stim = (
        _bursts([(1.525, 2.1)], current=10.0, channel=1)    # 0.25
        + _bursts([(1.525, 2.1)], current=12.0, channel=2)  # 0.6 -> covered
        + _bursts([(2.525, 3.1)], current=30.0, channel=1)  # 0.75 -> covered
        + _bursts([(3.525, 4.1)], current=10.0, channel=1)  # 0.25
        + _bursts([(3.525, 4.1)], current=8.0, channel=2)   # 0.4 -> not covered
        + _bursts([(1.0, 1.3)], current=50.0, channel=3)    # not in the profile: ignored
    )
    r = score(stim, truth, plateau, end_s=5.0)
    assert r["covered_swings"] == 2 and r["coverage"] == approx(2 / 3)
    assert r["missed_swings"] == 0
    assert r["bursts"] == 3
    assert r["stance_intrusion_time_s"] == approx(0.0)
    assert r["swing_stimulated_time_s"] == approx(0.75)


def test_zero_pulse_width_delivers_nothing() -> None:
    truth = _gait(n=1)
    stim = [StimRow(1.525, 1, 40.0, 0, 40.0), StimRow(2.1, 1, 0.0, 0, 40.0)]
    assert score(stim, truth, PLATEAU)["missed_swings"] == 1


def test_bad_plateau_is_rejected() -> None:
    with pytest.raises(ConfigError, match="channel 1"):
        score([], _gait(n=1), {1: 0.0})


# ------------------------------------------------------------------ event matching

def test_event_matching_one_to_one_within_tolerance() -> None:
    truth = _gait(n=2)  # heel strikes 1, 2, 3; toe-offs 1.625, 2.625
    detected = [
        Event(1.05, "heel_strike"), Event(1.10, "heel_strike"),  # both near 1.0: one match
        Event(2.2, "heel_strike"),                               # 200 ms off: no match
        Event(2.9, "heel_strike"),
        Event(1.625 + 0.15, "toe_off"), Event(2.625, "toe_off"),  # at the tolerance: match
    ]
    r = score([], truth, PLATEAU, detected=detected)
    assert r["event_f1"]["heel_strike"] == approx(2 * 2 / (4 + 3))
    assert r["event_mae_ms"]["heel_strike"] == approx((50.0 + 100.0) / 2)
    assert r["event_f1"]["toe_off"] == approx(1.0)
    assert r["event_mae_ms"]["toe_off"] == approx(75.0)
    assert "heel_off" not in r["event_f1"]  # not reported by the detector
    assert r["event_counts"]["heel_strike"] == {
        "matched": 2, "detected": 4, "truth": 3, "abs_error_sum_ms": approx(150.0)}


def test_event_matching_truth_events_closer_than_tolerance() -> None:
    """Greedy by smallest error: 1.12<->1.10 (20 ms) first, then 1.06<->1.00 (60 ms)."""
    truth = [Event(1.0, "heel_strike"), Event(1.1, "heel_strike")]
    detected = [Event(1.06, "heel_strike"), Event(1.12, "heel_strike")]
    r = score([], truth, PLATEAU, detected=detected)
    assert r["event_f1"]["heel_strike"] == approx(1.0)
    assert r["event_mae_ms"]["heel_strike"] == approx(40.0)


def test_event_kind_missing_from_truth_is_not_judged() -> None:
    truth = _gait(n=2, heel_off=None)
    r = score([], truth, PLATEAU, detected=[Event(1.4, "heel_off")])
    assert r["event_f1"] == {"heel_off": None}
    assert r["event_mae_ms"] == {"heel_off": None}


# ------------------------------------------------------------------ aggregate and table

def test_aggregate_recomputes_ratios_from_sums() -> None:
    long_walk = _gait()
    spans = _perfect(long_walk)
    del spans[4]
    a = score(_bursts(spans), long_walk, PLATEAU, end_s=12.0)  # 9/10, intrusion 0 of 6.25 s
    short_walk = _gait(n=2)
    b = score([StimRow(0.0, 1, 40.0, 300, 40.0)], short_walk, PLATEAU, end_s=4.0)
    # b by hand: stances [1,1.625] (no extension window: [1,1.375] intrudes) and [2,2.625]
    # ([2.25,2.375] intrudes): 0.5 s of 1.25 s
    assert b["stance_intrusion"] == approx(0.4)
    total = aggregate([a, b])
    assert total["swings"] == 12 and total["covered_swings"] == 11
    assert total["coverage"] == approx(11 / 12)  # not (0.9 + 1.0) / 2
    assert total["stance_intrusion"] == approx(0.5 / 7.5)  # not (0 + 0.4) / 2
    assert total["stance_intrusion_time_s"] == approx(0.5)
    assert total["swing_stimulated_fraction"] == approx((9 + 2) * 0.375 / (12 * 0.375))
    assert total["standing_stim_s"] == approx(a["standing_stim_s"] + b["standing_stim_s"])
    assert total["missed_swings"] == 1
    assert total["bursts"] == 10 and total["false_bursts"] == 0
    assert total["steps"] == 12 and total["cadence_spm"] == approx(60.0)
    pooled = a["onset_lead_ms_values"] + b["onset_lead_ms_values"]
    assert total["onset_lead_ms"]["n"] == 11
    assert total["onset_lead_ms_values"] == pooled
    assert total["onset_lead_ms"]["median"] == approx(100.0)  # 9 x 100, 1625, 2625
    assert total["onset_lead_ms"]["p90"] == approx(1625.0)
    json.dumps(total)


def test_aggregate_pools_event_counts() -> None:
    truth = _gait(n=2)
    a = score([], truth, PLATEAU, detected=[Event(1.05, "heel_strike")])
    b = score([], truth, PLATEAU, detected=[Event(1.0, "heel_strike"), Event(2.0, "heel_strike"),
                                           Event(3.0, "heel_strike")])
    total = aggregate([a, b])
    assert total["event_f1"]["heel_strike"] == approx(2 * 4 / (4 + 6))
    assert total["event_mae_ms"]["heel_strike"] == approx(50.0 / 4)


def test_aggregate_of_nothing() -> None:
    total = aggregate([])
    assert total["swings"] == 0 and total["coverage"] is None
    assert total["onset_lead_ms"]["median"] is None


def test_report_table_marks_targets() -> None:
    truth = _gait()
    good = format_report_table(score(_bursts(_perfect(truth)), truth, PLATEAU, end_s=12.0))
    assert "FAIL" not in good
    assert good.count("PASS") == 4
    bad = format_report_table(score([StimRow(0.0, 1, 40.0, 300, 40.0)], truth, PLATEAU, end_s=12.0))
    lines = {line.split()[0]: line for line in bad.splitlines()}
    assert lines["stance_intrusion"].endswith("FAIL")
    assert lines["standing_stim_s"].endswith("FAIL")
    assert lines["coverage"].endswith("PASS")
    idle = format_report_table(score([], [], PLATEAU, end_s=5.0))
    assert {line.split()[0]: line for line in idle.splitlines()}["coverage"].endswith("n/a")


def test_no_truth_scores_nothing_unless_marked_standing() -> None:
    """No heel strike or toe-off: the span is empty, so only marked standing is scored.

    (Before SCORING.md's "Scored span" rule an empty truth was all standing; now unmarked time
    outside the span counts nowhere, and a session standing all along must say so.)"""
    r = score(_bursts([(1.0, 2.0)]), [], PLATEAU, end_s=5.0)
    assert r["swings"] == 0 and r["coverage"] is None
    assert r["standing_stim_s"] == approx(0.0)
    assert r["bursts"] == 0 and r["false_bursts"] == 0
    assert r["scored_span_s"] == approx(0.0)
    marked = score(_bursts([(1.0, 2.0)]), [Event(0.0, "standing_start")], PLATEAU, end_s=5.0)
    assert marked["standing_stim_s"] == approx(1.0)
    assert marked["bursts"] == 1 and marked["false_bursts"] == 1
    assert marked["scored_span_s"] == approx(5.0)


# ------------------------------------------------------------------ readers

def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_read_stim_good_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "stim.csv",
               "t_s,channel,current_mA,pulse_width_us,frequency_hz\n"
               "0.0000,1,0,300,40\n"
               "1.5250,1,40.0,300,40\n"
               "1.5250,2,12.5,250.0,35\n"
               "\n"
               "2.1000,1,0,300,40\n")
    rows = read_stim_csv(p)
    assert rows == [StimRow(0.0, 1, 0.0, 300, 40.0), StimRow(1.525, 1, 40.0, 300, 40.0),
                    StimRow(1.525, 2, 12.5, 250, 35.0), StimRow(2.1, 1, 0.0, 300, 40.0)]
    assert isinstance(rows[2].pulse_width_us, int)


def test_read_events_good_files(tmp_path: Path) -> None:
    p = _write(tmp_path, "truth.csv", "t_s,event\n1.0000,heel_strike\n1.6250,toe_off\n")
    assert read_events_csv(p) == [Event(1.0, "heel_strike"), Event(1.625, "toe_off")]
    q = _write(tmp_path, "events.csv",
               "t_s,event,source\n1.0000,heel_strike,imu\n1.0000,standing_end,\n")
    assert read_events_csv(q) == [Event(1.0, "heel_strike", "imu"), Event(1.0, "standing_end", "")]


@pytest.mark.parametrize("reader, text, needles", [
    (read_stim_csv, "t_s,channel,current_ma,pulse_width_us,frequency_hz\n0,1,0,300,40\n",
     ["line 1", "current_ma"]),
    (read_stim_csv, "", ["empty file"]),
    (read_events_csv, "time,event\n1.0,heel_strike\n", ["line 1", "time,event"]),
    (read_stim_csv, "t_s,channel,current_mA,pulse_width_us,frequency_hz\n"
                    "1.0,1,40,300,40\n0.9,1,0,300,40\n", ["line 3", "t_s", "'0.9'"]),
    (read_events_csv, "t_s,event\n1.0,heel_strike\n2.0,toe_off\n1.5,heel_strike\n",
     ["line 4", "t_s", "'1.5'"]),
    (read_events_csv, "t_s,event\n1.0,heel_strike\n1.0,heel_strike\n", ["line 3", "heel_strike"]),
    (read_events_csv, "t_s,event\n1.0,heel_strike\n1.5,toe_of\n", ["line 3", "event", "'toe_of'"]),
    (read_stim_csv, "t_s,channel,current_mA,pulse_width_us,frequency_hz\n1.0,1,abc,300,40\n",
     ["line 2", "current_mA", "'abc'"]),
    (read_stim_csv, "t_s,channel,current_mA,pulse_width_us,frequency_hz\n1.0,1,-5,300,40\n",
     ["line 2", "current_mA", "'-5'"]),
    (read_stim_csv, "t_s,channel,current_mA,pulse_width_us,frequency_hz\n1.0,1,5,300.5,40\n",
     ["line 2", "pulse_width_us", "'300.5'"]),
    (read_stim_csv, "t_s,channel,current_mA,pulse_width_us,frequency_hz\n1.0,1,5,300\n",
     ["line 2", "4 fields"]),
    (read_events_csv, "t_s,event\nnan,heel_strike\n", ["line 2", "t_s", "'nan'"]),
])
def test_readers_reject_bad_files(tmp_path: Path, reader, text: str, needles: list[str]) -> None:
    p = _write(tmp_path, "bad.csv", text)
    with pytest.raises(ConfigError) as info:
        reader(p)
    message = str(info.value)
    assert str(p) in message
    for needle in needles:
        assert needle in message


def test_reader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open"):
        read_stim_csv(tmp_path / "nope.csv")


def test_files_round_trip_into_the_scorer(tmp_path: Path) -> None:
    truth = _gait()
    stim = _bursts(_perfect(truth))
    sp = tmp_path / "stim.csv"
    sp.write_text("t_s,channel,current_mA,pulse_width_us,frequency_hz\n" + "".join(
        f"{r.t_s:.4f},{r.channel},{r.current_ma},{r.pulse_width_us},{r.frequency_hz}\n"
        for r in sorted(stim, key=lambda r: r.t_s)), encoding="utf-8")
    tp = tmp_path / "truth.csv"
    tp.write_text("t_s,event\n" + "".join(f"{e.t_s:.4f},{e.kind}\n" for e in truth), encoding="utf-8")
    r = score(read_stim_csv(sp), read_events_csv(tp), PLATEAU, end_s=12.0)
    assert r["coverage"] == approx(1.0) and r["stance_intrusion"] == approx(0.0)
