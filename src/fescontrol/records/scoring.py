"""The one yardstick (design/SCORING.md): delivered stimulation scored against gait truth.

Everything is computed on exact piecewise-constant timelines: sets of time are sorted lists
of disjoint intervals, and intensity is constant between `stim.csv` breakpoints. No sampled
grid, so a hand-made timeline gives the hand-computed answer, and a 10 ms intrusion is
10 ms, whatever the sensor rate. Comparisons of times allow `EPS_S` (1 ns) for float
rounding, nothing more.

Definition choices where SCORING.md is silent (the report's numbers depend on them):

Session and intensity
- The session is `[start, end_s]`, start = min(0, first stim row, first truth event) (session
  time counts from sensor sample 0); `end_s` defaults to the latest stim row or truth event.
  Intervals reaching past it are cut at it (a burst still on at the end ends at `end_s`).
- Before a channel's first row its output is 0. Rows of one channel at the same time: the
  later one (file order) holds.
- intensity(t) = max over channels in `plateau_ma` of current / plateau. Channels absent
  from `plateau_ma` are ignored (e.g. a channel the profile does not use); a row with
  `pulse_width_us == 0` or `frequency_hz == 0` delivers no charge and counts as 0.
  Intensity is not clipped above 1. A plateau <= 0 is a ConfigError.

Phases
- Swings and stances come from the heel_strike/toe_off sequence sorted by time (other kinds
  are ignored for phases): a swing is a toe_off *immediately* followed by a heel_strike, a
  stance a heel_strike immediately followed by a toe_off. Time between two toe_offs or two
  heel_strikes in a row (a malformed truth) is neither swing nor stance.
- Scored region (SCORING.md "Scored span"): the span from the first to the last
  heel_strike/toe_off, reaching back to the last standing_end at or before it and on to the
  first standing_start at or after it (the walk starts from / ends in marked standing), plus
  every marked standing period. Outside it (a recording cut mid-walk) stimulation counts
  nowhere: no standing, no intrusion, no burst. `scored_span_s` is its length (the "scored
  time" of the heel-cell standing target). No heel_strike/toe_off at all: only marked
  standing is scored.
- Standing (raw) = [standing_start, standing_end] periods (a standing_start without end runs
  to `end_s`; a standing_end before any standing_start starts at the session start) U every
  gap of more than 2 s between consecutive heel_strike/toe_off events (and from the
  standing_end before the span to the first of them, from the last of them to the
  standing_start after the span).
- Stances are heel_strike -> toe_off, plus standing_end -> the first toe_off and the last
  heel_strike -> standing_start: the foot is on the ground, walking has begun or not ended,
  so stimulation there is judged as stance (intrusion outside the windows), not standing.
- A swing counts when some of it lies outside raw standing (a step taken while marked
  standing, e.g. turning on the spot, is not a swing). Only counted swings get windows.
- Pre-swing window length L_i = max(0.20 s, 0.35 x the non-standing part of the stance
  before it, toe_off_i - the last heel_off after the previous heel_strike/toe_off). Using
  the non-standing part keeps the first pre-swing after a pause short (a 10 s pause must not
  open a 3.5 s window). With no heel_strike before the toe_off the stance term is 0.
- A recording cut mid-walk still walked the swing before its first heel strike and after its
  last toe-off: that heel strike's extension window and that toe-off's pre-swing window are
  allowed (no intrusion).
- Final standing = raw standing minus all windows (the allowed windows are never standing).
  Stances and swings are cut by final standing; window time taken back from standing is
  stance (foot on the ground). An extension window after the session's last heel strike is
  allowed but in no phase.
- Overlap means an intersection longer than 1 ns: a burst ending exactly at toe-off does
  not overlap that swing; a swing is missed when its stimulated time is <= 1 ns.

Bursts and timing
- `bursts` counts the bursts that touch the scored region. A burst that reaches outside it
  (into unmarked time beyond the span) may belong to a swing the truth does not hold: it is
  never a false burst; its stimulation inside the region is judged as any other.
- The burst "that covers" a covered swing is the burst with the largest overlap with it.
  onset_lead = toe_off - burst start, offset_lag = burst end - heel_strike, using the truth
  event times (not the cut swing borders). Percentiles are numpy's linear interpolation.

Events
- Kinds scored: heel_strike, toe_off, heel_off, each only if the detector reported at least
  one of it. Matching is greedy one-to-one by smallest |detected - truth| within +-150 ms
  (inclusive), ties broken by time. F1 = 2 matched / (detected + truth); MAE over matched
  pairs. If the truth holds no event of a kind (heel_off "where known"), its F1 and MAE are
  None: it cannot be judged. Raw counts are in `event_counts` for aggregation.

Steps
- steps = strides: heel_strike -> toe_off -> heel_strike cycles lying wholly inside the
  session and touching no raw standing. walking_time_s = the summed duration of those
  strides, so cadence_spm = 60 x steps / walking_time_s is the true stride rate, free of
  partial cycles at the edges of a pause.

Ratios with a zero denominator are None (e.g. coverage of a session with no swings).
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.readers import EVENT_KINDS, Event, StimRow

__all__ = [
    "Event", "StimRow", "EVENT_KINDS", "score", "aggregate", "format_report_table",
    "SIMULATED_TARGETS",
]

Interval = tuple[float, float]

STANDING_GAP_S = 2.0
PRE_SWING_MIN_S = 0.20
PRE_SWING_STANCE_SHARE = 0.35
EXTENSION_S = 0.25
COVERED_INTENSITY = 0.5
COVERED_SHARE = 0.90
MATCH_TOLERANCE_S = 0.150
MATCHED_KINDS = ("heel_strike", "toe_off", "heel_off")
EPS_S = 1e-9

# (metric, comparison, bound): the simulated-gait targets of SCORING.md used by the CLI table.
SIMULATED_TARGETS: tuple[tuple[str, str, float], ...] = (
    ("coverage", ">=", 0.99),
    ("stance_intrusion", "<=", 0.03),
    ("standing_stim_s", "==", 0.0),
    ("false_bursts", "==", 0.0),
)

_SUMMED_COUNTS = ("swings", "covered_swings", "missed_swings", "bursts", "false_bursts", "steps")
_SUMMED_TIMES = (
    "swing_time_s", "stance_time_s", "swing_stimulated_time_s", "stance_intrusion_time_s",
    "standing_stim_s", "standing_time_s", "walking_time_s", "scored_span_s",
)


# ---------------------------------------------------------------- interval arithmetic

def _normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-empty; touching intervals merge (a set, not a list of pieces)."""
    out: list[Interval] = []
    for a, b in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _intersect(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a = max(xs[i][0], ys[j][0])
        b = min(xs[i][1], ys[j][1])
        if b > a:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def _subtract(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    j = 0
    for a, b in xs:
        while j < len(ys) and ys[j][1] <= a:
            j += 1
        cur = a
        k = j
        while k < len(ys) and ys[k][0] < b and cur < b:
            if ys[k][0] > cur:
                out.append((cur, ys[k][0]))
            cur = max(cur, ys[k][1])
            k += 1
        if cur < b:
            out.append((cur, b))
    return out


def _measure(xs: Iterable[Interval]) -> float:
    return float(sum(b - a for a, b in xs))


class _Set:
    """A normalized interval set with fast 'how much of [a, b] is in me' queries."""

    def __init__(self, intervals: Sequence[Interval]) -> None:
        self.intervals = list(intervals)
        self.starts = [a for a, _ in self.intervals]
        self.ends = [b for _, b in self.intervals]

    def within(self, a: float, b: float) -> list[Interval]:
        i = bisect.bisect_right(self.ends, a)
        j = bisect.bisect_left(self.starts, b)
        return [(max(s, a), min(e, b)) for s, e in self.intervals[i:j] if min(e, b) > max(s, a)]

    def measure_within(self, a: float, b: float) -> float:
        return _measure(self.within(a, b))

    def measure_within_set(self, pieces: Sequence[Interval]) -> float:
        return float(sum(self.measure_within(a, b) for a, b in pieces))


# ---------------------------------------------------------------- timelines

def _intensity_sets(stim: Sequence[StimRow], plateau_ma: Mapping[int, float],
                    start: float, end: float) -> tuple[list[Interval], list[Interval]]:
    """(stimulated = intensity > 0, strong = intensity >= 0.5) as interval sets."""
    for ch, plateau in plateau_ma.items():
        if not (isinstance(plateau, (int, float)) and math.isfinite(plateau) and plateau > 0):
            raise ConfigError(f"plateau_ma: channel {ch}: plateau current {plateau!r} mA is not > 0")
    by_channel: dict[int, list[StimRow]] = {}
    for row in sorted(stim, key=lambda r: r.t_s):  # stable: file order among equal times
        if row.channel in plateau_ma:
            by_channel.setdefault(row.channel, []).append(row)
    times = {start, end}
    times.update(r.t_s for rows in by_channel.values() for r in rows if start < r.t_s < end)
    bps = np.array(sorted(times), dtype=float)
    if len(bps) < 2:
        return [], []
    left = bps[:-1]
    intensity = np.zeros(len(left))
    for ch, rows in by_channel.items():
        t = np.array([r.t_s for r in rows], dtype=float)
        delivering = [r.pulse_width_us > 0 and r.frequency_hz > 0 for r in rows]
        level = np.array([r.current_ma / plateau_ma[ch] if on else 0.0
                          for r, on in zip(rows, delivering)], dtype=float)
        idx = np.searchsorted(t, left, side="right") - 1  # last row at or before: later wins
        intensity = np.maximum(intensity, np.where(idx >= 0, level[np.maximum(idx, 0)], 0.0))
    stimulated = _normalize((float(bps[k]), float(bps[k + 1]))
                            for k in np.flatnonzero(intensity > 0))
    strong = _normalize((float(bps[k]), float(bps[k + 1]))
                        for k in np.flatnonzero(intensity >= COVERED_INTENSITY))
    return stimulated, strong


def _explicit_standing(truth: Sequence[Event], start: float, end: float) -> list[Interval]:
    out: list[Interval] = []
    opened: float | None = None
    seen_marker = False
    for ev in truth:
        if ev.kind == "standing_start":
            if opened is None:
                opened = ev.t_s
            seen_marker = True
        elif ev.kind == "standing_end":
            if opened is not None:
                out.append((opened, ev.t_s))
                opened = None
            elif not seen_marker:
                out.append((start, ev.t_s))
            seen_marker = True
    if opened is not None:
        out.append((opened, end))
    return out


def _summary(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"median": None, "p10": None, "p90": None, "n": 0}
    med, p10, p90 = np.percentile(np.asarray(values, dtype=float), [50, 10, 90])
    return {"median": float(med), "p10": float(p10), "p90": float(p90), "n": len(values)}


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den > 0 else None


def _match_errors_ms(detected: Sequence[float], truth: Sequence[float]) -> list[float]:
    """Absolute errors (ms) of greedy one-to-one matches within the tolerance."""
    truth_sorted = sorted(truth)
    pairs: list[tuple[float, float, int, int]] = []
    for i, d in enumerate(sorted(detected)):
        lo = bisect.bisect_left(truth_sorted, d - MATCH_TOLERANCE_S - EPS_S)
        hi = bisect.bisect_right(truth_sorted, d + MATCH_TOLERANCE_S + EPS_S)
        for j in range(lo, hi):
            err = abs(d - truth_sorted[j])
            if err <= MATCH_TOLERANCE_S + EPS_S:
                pairs.append((err, d, i, j))
    pairs.sort()
    used_d: set[int] = set()
    used_t: set[int] = set()
    errors: list[float] = []
    for err, _, i, j in pairs:
        if i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
            errors.append(err * 1000.0)
    return errors


def _event_scores(detected: Sequence[Event], truth: Sequence[Event]) -> dict[str, dict[str, Any]]:
    counts: dict[str, dict[str, Any]] = {}
    for kind in MATCHED_KINDS:
        det = [e.t_s for e in detected if e.kind == kind]
        if not det:
            continue
        tru = [e.t_s for e in truth if e.kind == kind]
        errors = _match_errors_ms(det, tru)
        counts[kind] = {"matched": len(errors), "detected": len(det), "truth": len(tru),
                        "abs_error_sum_ms": float(sum(errors))}
    return counts


def _event_metrics(counts: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    f1: dict[str, Any] = {}
    mae: dict[str, Any] = {}
    for kind, c in counts.items():
        if c["truth"] == 0:
            f1[kind] = None
            mae[kind] = None
            continue
        f1[kind] = 2.0 * c["matched"] / (c["detected"] + c["truth"])
        mae[kind] = c["abs_error_sum_ms"] / c["matched"] if c["matched"] else None
    return f1, mae


# ---------------------------------------------------------------- public API

def score(stim: Sequence[StimRow], truth: Sequence[Event], plateau_ma: Mapping[int, float],
          detected: Sequence[Event] | None = None, end_s: float | None = None) -> dict[str, Any]:
    """Score one leg's session; returns a JSON-ready dict of the SCORING.md metrics.

    Besides the metrics it holds the raw times and counts that `aggregate` needs to pool
    several sessions exactly: `covered_swings`, `swing_time_s`, `stance_time_s`,
    `swing_stimulated_time_s`, `stance_intrusion_time_s`, `standing_time_s`,
    `walking_time_s` (summed duration of the counted strides), `onset_lead_ms_values`,
    `offset_lag_ms_values` (per covered swing, in order) and `event_counts`.
    """
    truth = sorted(truth, key=lambda e: e.t_s)
    start = min([0.0] + [r.t_s for r in stim] + [e.t_s for e in truth])
    if end_s is None:
        end_s = max([start] + [r.t_s for r in stim] + [e.t_s for e in truth])
    end = float(end_s)
    session = [(start, end)] if end > start else []

    stimulated, strong = _intensity_sets(stim, plateau_ma, start, end)
    stim_set = _Set(stimulated)
    strong_set = _Set(strong)

    gait = [e for e in truth if e.kind in ("heel_strike", "toe_off")]
    heel_offs = sorted(e.t_s for e in truth if e.kind == "heel_off")

    # the scored region: the span from the first to the last heel_strike/toe_off, reaching
    # back to a standing_end before it and on to a standing_start after it (the walk starts
    # from / ends in marked standing), plus every marked standing period. Outside it (a
    # recording cut mid-walk) stimulation counts nowhere.
    explicit = _explicit_standing(truth, start, end)
    cut_at_start = cut_at_end = False
    if gait:
        first, last = gait[0].t_s, gait[-1].t_s
        ends_before = [e.t_s for e in truth if e.kind == "standing_end" and e.t_s <= first]
        starts_after = [e.t_s for e in truth if e.kind == "standing_start" and e.t_s >= last]
        lo_anchor = max(ends_before) if ends_before else first
        hi_anchor = min(starts_after) if starts_after else last
        cut_at_start, cut_at_end = not ends_before, not starts_after
        # gap rule between consecutive heel_strike/toe_off, and from the standing_end before
        # the span / to the standing_start after it (a long wait after standing_end is standing)
        anchors = [lo_anchor] + [g.t_s for g in gait] + [hi_anchor]
        gaps = [(a, b) for a, b in zip(anchors, anchors[1:]) if b - a > STANDING_GAP_S]
        scored = _intersect(_normalize([(lo_anchor, hi_anchor)] + explicit), session)
        raw_standing = _intersect(_normalize(explicit + gaps), session)
    else:
        scored = _intersect(_normalize(explicit), session)
        raw_standing = scored
    raw_set = _Set(raw_standing)

    # stances: heel_strike -> toe_off, and also standing_end -> the first toe_off (the foot was
    # on the ground since standing ended) and the last heel_strike -> standing_start
    marked = sorted((e for e in truth if e.kind in ("heel_strike", "toe_off", "standing_start", "standing_end")),
                    key=lambda e: e.t_s)
    stance_pairs = [(a.t_s, b.t_s) for a, b in zip(marked, marked[1:])
                    if a.kind in ("heel_strike", "standing_end") and b.kind in ("toe_off", "standing_start")
                    and not (a.kind == "standing_end" and b.kind == "standing_start")]
    stance_start_before = {b: a for a, b in stance_pairs}

    # counted swings and their allowed windows
    swings_raw: list[tuple[int, float, float]] = []  # (index in gait, toe_off, heel_strike)
    windows: list[Interval] = []

    def pre_swing_window(k: int, to: float) -> Interval:
        opener = stance_start_before.get(to)
        prev_t = gait[k - 1].t_s if k > 0 else -math.inf
        stance_walking = 0.0
        if opener is not None:
            prev_t = max(prev_t, opener)
            stance = _intersect([(opener, to)], session)
            stance_walking = _measure(_subtract(stance, raw_standing))
        length = max(PRE_SWING_MIN_S, PRE_SWING_STANCE_SHARE * stance_walking)
        j = bisect.bisect_right(heel_offs, to) - 1
        if j >= 0 and heel_offs[j] > prev_t:
            length = max(length, to - heel_offs[j])
        return (to - length, to)

    for k in range(len(gait) - 1):
        if gait[k].kind != "toe_off" or gait[k + 1].kind != "heel_strike":
            continue
        to, hs = gait[k].t_s, gait[k + 1].t_s
        piece = _intersect([(to, hs)], session)
        if _measure(_subtract(piece, raw_standing)) <= EPS_S:
            continue
        swings_raw.append((k, to, hs))
        windows.append(pre_swing_window(k, to))
        windows.append((hs, hs + EXTENSION_S))
    # a recording cut mid-walk: the swing before the first heel strike and the one after the
    # last toe-off lie outside the span, but they were walked: their windows are allowed
    if gait and cut_at_start and gait[0].kind == "heel_strike":
        windows.append((gait[0].t_s, gait[0].t_s + EXTENSION_S))
    if gait and cut_at_end and gait[-1].kind == "toe_off":
        windows.append(pre_swing_window(len(gait) - 1, gait[-1].t_s))
    windows = _intersect(_normalize(windows), session)
    standing = _subtract(raw_standing, windows)

    # phases cut by standing
    swing_pieces = [_subtract(_intersect([(to, hs)], session), standing) for _, to, hs in swings_raw]
    swing_union = _normalize(iv for pieces in swing_pieces for iv in pieces)
    swing_set = _Set(swing_union)
    stances = _normalize(stance_pairs)
    stance = _subtract(_intersect(stances, scored), standing)
    scored_set = _Set(scored)

    # bursts
    bursts = stimulated  # already maximal: touching pieces were merged
    burst_starts = [a for a, _ in bursts]
    burst_ends = [b for _, b in bursts]

    covered = missed = 0
    uncovered: list[list[float]] = []
    swing_time = swing_strong = 0.0
    onset_values: list[float] = []
    offset_values: list[float] = []
    for (_, to, hs), pieces in zip(swings_raw, swing_pieces):
        dur = _measure(pieces)
        strong_t = strong_set.measure_within_set(pieces)
        swing_time += dur
        swing_strong += strong_t
        if stim_set.measure_within_set(pieces) <= EPS_S:
            missed += 1
        if strong_t < COVERED_SHARE * dur - EPS_S:
            uncovered.append([to, hs])
        else:
            covered += 1
            lo = bisect.bisect_right(burst_ends, pieces[0][0])
            hi = bisect.bisect_left(burst_starts, pieces[-1][1])
            if hi > lo:
                best = max(range(lo, hi),
                           key=lambda n: (_measure(_intersect([bursts[n]], pieces)), -n))
                onset_values.append((to - bursts[best][0]) * 1000.0)
                offset_values.append((bursts[best][1] - hs) * 1000.0)

    # bursts judged: those touching the scored region; a burst that reaches outside it (into
    # unmarked time beyond the span) may belong to a swing the truth does not hold: not false
    judged = [(a, b) for a, b in bursts if scored_set.measure_within(a, b) > EPS_S]
    false_bursts = sum(1 for a, b in judged
                       if scored_set.measure_within(a, b) >= (b - a) - EPS_S
                       and swing_set.measure_within(a, b) <= EPS_S)
    stance_time = _measure(stance)
    intrusion_time = _measure(_intersect(_subtract(stance, windows), stimulated))
    standing_stimulated = _intersect(standing, stimulated)
    standing_stim = _measure(standing_stimulated)

    # strides: hs -> to -> hs wholly inside the session and touching no raw standing
    steps = 0
    walking_time = 0.0
    for a, b, c in zip(gait, gait[1:], gait[2:]):
        if (a.kind, b.kind, c.kind) != ("heel_strike", "toe_off", "heel_strike"):
            continue
        if a.t_s < start or c.t_s > end or raw_set.measure_within(a.t_s, c.t_s) > EPS_S:
            continue
        steps += 1
        walking_time += c.t_s - a.t_s

    counts = _event_scores(detected, truth) if detected is not None else {}
    event_f1, event_mae = _event_metrics(counts)

    return {
        "swings": len(swings_raw),
        "covered_swings": covered,
        "coverage": _ratio(covered, len(swings_raw)),
        "swing_stimulated_fraction": _ratio(swing_strong, swing_time),
        "missed_swings": missed,
        "stance_intrusion": _ratio(intrusion_time, stance_time),
        "standing_stim_s": standing_stim,
        "bursts": len(judged),
        "false_bursts": false_bursts,
        "onset_lead_ms": _summary(onset_values),
        "offset_lag_ms": _summary(offset_values),
        "event_f1": event_f1,
        "event_mae_ms": event_mae,
        "steps": steps,
        "cadence_spm": _ratio(60.0 * steps, walking_time),
        "swing_time_s": swing_time,
        "stance_time_s": stance_time,
        "swing_stimulated_time_s": swing_strong,
        "stance_intrusion_time_s": intrusion_time,
        "standing_time_s": _measure(standing),
        "scored_span_s": _measure(scored),
        "walking_time_s": walking_time,
        "onset_lead_ms_values": onset_values,
        "offset_lag_ms_values": offset_values,
        "event_counts": counts,
        # where to look: the swings not covered and the stimulated standing, as [start, end] in s
        "uncovered_swings_s": uncovered,
        "standing_stim_intervals_s": [[a, b] for a, b in standing_stimulated],
    }


def aggregate(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The total row of a replay: counts and times summed, ratios recomputed from the sums.

    Averaging per-recording ratios would weight a 10-swing recording like a 1000-swing one.
    Percentiles are pooled from the per-swing value lists. `faults` and `blocked_commands`
    are summed when the reports carry them.
    """
    total: dict[str, Any] = {}
    for key in _SUMMED_COUNTS:
        total[key] = int(sum(r.get(key, 0) for r in reports))
    for key in _SUMMED_TIMES:
        total[key] = float(sum(r.get(key, 0.0) for r in reports))
    onset = [v for r in reports for v in r.get("onset_lead_ms_values", [])]
    offset = [v for r in reports for v in r.get("offset_lag_ms_values", [])]
    counts: dict[str, dict[str, Any]] = {}
    for r in reports:
        for kind, c in r.get("event_counts", {}).items():
            acc = counts.setdefault(kind, {"matched": 0, "detected": 0, "truth": 0,
                                           "abs_error_sum_ms": 0.0})
            for field in acc:
                acc[field] += c[field]
    event_f1, event_mae = _event_metrics(counts)
    out: dict[str, Any] = {
        "swings": total["swings"],
        "covered_swings": total["covered_swings"],
        "coverage": _ratio(total["covered_swings"], total["swings"]),
        "swing_stimulated_fraction": _ratio(total["swing_stimulated_time_s"], total["swing_time_s"]),
        "missed_swings": total["missed_swings"],
        "stance_intrusion": _ratio(total["stance_intrusion_time_s"], total["stance_time_s"]),
        "standing_stim_s": total["standing_stim_s"],
        "bursts": total["bursts"],
        "false_bursts": total["false_bursts"],
        "onset_lead_ms": _summary(onset),
        "offset_lag_ms": _summary(offset),
        "event_f1": event_f1,
        "event_mae_ms": event_mae,
        "steps": total["steps"],
        "cadence_spm": _ratio(60.0 * total["steps"], total["walking_time_s"]),
        **{key: total[key] for key in _SUMMED_TIMES if key != "standing_stim_s"},
        "onset_lead_ms_values": onset,
        "offset_lag_ms_values": offset,
        "event_counts": counts,
    }
    for key in ("faults", "blocked_commands"):
        if any(key in r for r in reports):
            out[key] = int(sum(r.get(key, 0) for r in reports))
    return out


def _passes(value: float, op: str, bound: float) -> bool:
    if op == ">=":
        return value >= bound
    if op == "<=":
        return value <= bound
    return abs(value - bound) <= EPS_S


def format_report_table(report: Mapping[str, Any]) -> str:
    """A short metric / value / target table for the CLI, with PASS/FAIL per target line.

    Targets are those for simulated gait (SIMULATED_TARGETS); a target whose value is None
    (e.g. coverage with no swings) is marked n/a rather than passed or failed.
    """
    targets = {name: (op, bound) for name, op, bound in SIMULATED_TARGETS}

    def fmt(value: Any) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, bool) or isinstance(value, int):
            return str(value)
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"

    def fmt_summary(s: Mapping[str, Any]) -> str:
        if not s or not s.get("n"):
            return "n/a"
        return f"{s['median']:.1f} (p10 {s['p10']:.1f}, p90 {s['p90']:.1f}, n {s['n']})"

    lines: list[tuple[str, str, str, str]] = []
    for name in ("swings", "coverage", "swing_stimulated_fraction", "missed_swings",
                 "stance_intrusion", "standing_stim_s", "false_bursts", "bursts"):
        value = report.get(name)
        target = mark = ""
        if name in targets:
            op, bound = targets[name]
            target = f"{op} {bound:g}"
            mark = "n/a" if value is None else ("PASS" if _passes(value, op, bound) else "FAIL")
        lines.append((name, fmt(value), target, mark))
    for name in ("onset_lead_ms", "offset_lag_ms"):
        lines.append((name, fmt_summary(report.get(name, {})), "", ""))
    f1_by_kind = report.get("event_f1", {})
    # in EVENT_KINDS order, not the mapping's: report.json stores its keys sorted
    for kind in sorted(f1_by_kind, key=lambda k: EVENT_KINDS.index(k) if k in EVENT_KINDS else len(EVENT_KINDS)):
        f1 = f1_by_kind[kind]
        lines.append((f"event_f1 {kind}", fmt(f1), "", ""))
        lines.append((f"event_mae_ms {kind}", fmt(report.get("event_mae_ms", {}).get(kind)), "", ""))
    lines.append(("steps", fmt(report.get("steps")), "", ""))
    lines.append(("cadence_spm", fmt(report.get("cadence_spm")), "", ""))

    header = ("metric", "value", "target", "")
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(3)]
    out = []
    for row in [header, *lines]:
        out.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                              row[2].ljust(widths[2]), row[3]]).rstrip())
    return "\n".join(out)
