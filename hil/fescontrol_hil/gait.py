"""Synthetic foot forces for one leg (heel cell and forefoot), with exact truth events.

The model is "physics-ish": it reproduces the timing (shares of the gait cycle, stride
frequency drifting slowly, stride-to-stride jitter) and the force shapes real in-shoe cells
show, plus the quiet standing with weight shifting that must NOT look like a step. It is not
a biomechanical simulation. Timing comes from `reference/gait-detection.md` section 1; the
force levels from the heel (L1/R1) and forefoot (L6-L8/R6-R8) cells of PhysioNet gaitpdb
(`../shared/gait-data/gaitpdb`): a heel cell peaks at 100-600 N depending on the wearer (its
placement under the calcaneus, shoe, weight), about 30-110 N for light wearers, and varies
from step to step; the forefoot sum peaks at 350-950 N just before toe off.

Per stride, `heel_N`: sharp loading at heel strike, falling load through stance, unloading
that ends at heel off, nothing in swing. `fore_N` (the sum of the forefoot cells): nothing
at heel strike, loading from foot flat, loaded from mid-stance, its peak at push-off, zero
at toe off. Standing: both loaded, with postural sway and slow weight shifts between heel
and forefoot.

Scenarios (`SCENARIOS`, chosen by name):

- `healthy`, `hemiparetic`: level walking between standing at both ends (hemiparetic: slower,
  longer stance, more variable, a third of the heel peaks low).
- `light`: heel peaks 30-110 N (a light wearer or a cell that takes little load).
- `heavy`: heel peaks about 500-800 N, slower cadence.
- `preload`: healthy walking on a sensor with a constant offset of 30-60 N (an insole pressed
  by the shoe): neither cell ever reads zero.
- `shuffling`: Parkinsonian gait: slower, low heel peaks (60-250 N), the heel unloads 300-450 ms
  before toe off (the forefoot carries the late stance).
- `pivot-turns`: walking with turns on this foot: the heel unloads for 0.5-1.5 s while the
  forefoot stays loaded and the foot does not swing; then the heel reloads and the stride
  goes on. A turn is no gait event: no `heel_off` or `toe_off` inside it (`GaitRecording.pivots`
  lists the intervals, heel fully unloaded from start to end).
- `stop-and-go`: walking with standing pauses of 2-4 s, each marked `standing_start` /
  `standing_end` in the truth like the standing at both ends.
- `mid-stride`: the recording starts and ends while walking, so the truth has no standing
  marks at all and may begin or end with any gait event.
- `stairs`: step-over-step stair walking: slower, longer stance, the whole foot lands on the
  step (the heel loads more slowly and less), a larger shank swing and lift (IMU).

Every recording also carries a foot and a shank IMU (`foot_imu`, `shank_imu`: gyro deg/s and
accel g, the sensor frame as mounted; `fescontrol_hil.gait_imu` describes the shapes), drawn
from a separate seeded stream so the forces of a seed do not depend on it.

Standing is marked by `standing_end` / `standing_start` truth events. Walking starts with this
leg's heel off and toe off from standing and ends with a heel strike into standing;
`standing_start` is put where the other foot has landed beside it (half a stride after the
last heel strike) and the heel load has settled.

Every random number comes from the seed: the same (scenario, seed, duration, rate) gives the
same recording. Turns and pauses are placed where they fit before the standing at the end:
from 20 s of recording on there is at least one of each in their scenario.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.writers import CsvLog, format_time_s
from fescontrol.sensing.imu_samples import IMU_COLUMNS
from fescontrol_hil.gait_imu import GYRO_RANGE_DPS, imu_signals

SCENARIOS = ("healthy", "hemiparetic", "light", "heavy", "preload", "shuffling", "pivot-turns",
             "stop-and-go", "mid-stride", "stairs")
IMU_MOUNTS = ("foot", "shank")
MIN_DURATION_S = 10.0


@dataclass(frozen=True)
class _Profile:
    """Per-scenario parameters (ranges are drawn uniformly per stride unless noted)."""

    f_start: tuple[float, float]     # stride frequency at gait start, Hz
    f_band: tuple[float, float]      # the random walk of stride frequency stays inside, Hz
    f_walk_sd: float                 # random-walk step per stride, Hz
    f_jitter_cv: float               # stride-to-stride jitter of the period (relative sd)
    heel_off_share: tuple[float, float]   # heel off, fraction of the gait cycle
    stance_share: tuple[float, float]     # toe off, fraction of the gait cycle
    rise_s: tuple[float, float]           # heel-strike loading time
    unload_s: tuple[float, float]         # heel unloading time ending at heel off
    # heel cell (N): the wearer's mean peak (drawn once), then per step
    heel_peak_N: tuple[float, float]
    peak_cv: float                        # step-to-step variation of the heel peak (relative sd)
    peak_clip_N: tuple[float, float]      # every step's heel peak lies inside
    midstance_frac: tuple[float, float]   # heel load just before unloading, fraction of the peak
    low_peak_p: float = 0.0               # probability of a low heel peak (hemiparetic)
    low_peak_frac: tuple[float, float] = (1.0, 1.0)
    heel_off_lead_s: tuple[float, float] | None = None  # heel off this long before toe off (overrides heel_off_share)
    standing_frac: tuple[float, float] = (0.50, 0.62)   # standing heel level, fraction of the wearer's peak
    # forefoot (N, sum of the forefoot cells): the wearer's mean push-off peak
    fore_peak_N: tuple[float, float] = (450.0, 850.0)
    # sensor
    noise_sd_N: tuple[float, float] = (1.0, 2.5)
    drift_max_N: tuple[float, float] = (1.0, 3.0)
    preload_N: tuple[float, float] | None = None      # constant offset of each cell, drawn per cell
    # the walk
    edge_standing: bool = True            # standing at both ends (False: cut mid-walk)
    pauses: bool = False                  # standing pauses mid-walk
    turns: bool = False                   # pivot turns on this foot


_HEALTHY = _Profile(
    f_start=(0.92, 1.05), f_band=(0.88, 1.12), f_walk_sd=0.012, f_jitter_cv=0.015,
    heel_off_share=(0.40, 0.45), stance_share=(0.60, 0.62),
    rise_s=(0.030, 0.050), unload_s=(0.060, 0.100),
    heel_peak_N=(250.0, 550.0), peak_cv=0.08, peak_clip_N=(100.0, 600.0),
    midstance_frac=(0.50, 0.70),
)

_PROFILES: dict[str, _Profile] = {
    "healthy": _HEALTHY,
    "hemiparetic": _Profile(
        f_start=(0.66, 0.80), f_band=(0.60, 0.85), f_walk_sd=0.015, f_jitter_cv=0.040,
        heel_off_share=(0.46, 0.54), stance_share=(0.65, 0.71),
        rise_s=(0.040, 0.060), unload_s=(0.070, 0.100),
        heel_peak_N=(220.0, 480.0), peak_cv=0.12, peak_clip_N=(100.0, 600.0),
        low_peak_p=0.3, low_peak_frac=(0.60, 0.90), midstance_frac=(0.50, 0.75),
        fore_peak_N=(350.0, 700.0),
    ),
    "light": replace(_HEALTHY, heel_peak_N=(45.0, 85.0), peak_cv=0.15, peak_clip_N=(30.0, 110.0),
                     fore_peak_N=(150.0, 350.0), noise_sd_N=(0.5, 1.2), drift_max_N=(0.5, 1.5)),
    "heavy": replace(_HEALTHY, f_start=(0.85, 0.98), f_band=(0.80, 1.05), heel_off_share=(0.41, 0.46),
                     stance_share=(0.61, 0.64), heel_peak_N=(480.0, 700.0), peak_clip_N=(300.0, 900.0),
                     fore_peak_N=(750.0, 1100.0)),
    "preload": replace(_HEALTHY, preload_N=(30.0, 60.0)),
    "shuffling": _Profile(
        f_start=(0.80, 0.92), f_band=(0.75, 0.98), f_walk_sd=0.012, f_jitter_cv=0.030,
        heel_off_share=(0.0, 0.0), stance_share=(0.63, 0.68), heel_off_lead_s=(0.30, 0.45),
        rise_s=(0.050, 0.080), unload_s=(0.080, 0.140),
        heel_peak_N=(90.0, 180.0), peak_cv=0.12, peak_clip_N=(60.0, 250.0),
        midstance_frac=(0.50, 0.75), standing_frac=(0.55, 0.70), fore_peak_N=(350.0, 700.0),
    ),
    "pivot-turns": replace(_HEALTHY, turns=True),
    "stop-and-go": replace(_HEALTHY, pauses=True),
    "mid-stride": replace(_HEALTHY, edge_standing=False),
    # step over step on stairs: slower, longer stance, the whole foot lands on the step (the heel
    # loads more slowly and less, the forefoot more)
    "stairs": replace(_HEALTHY, f_start=(0.78, 0.88), f_band=(0.72, 0.92), heel_off_share=(0.44, 0.50),
                      stance_share=(0.63, 0.67), rise_s=(0.045, 0.065), heel_peak_N=(180.0, 420.0),
                      peak_clip_N=(100.0, 500.0), fore_peak_N=(550.0, 900.0)),
}
assert tuple(_PROFILES) == SCENARIOS

BODY_WEIGHT_N = (600.0, 850.0)    # drawn first (kept so the timing of a seed stays as before)
STANDING_S = (2.5, 3.5)           # quiet standing at the start and (target) at the end
STANDING_FRAC_BOUNDS = (0.42, 0.72)   # standing heel load, fraction of the wearer's peak (hard bounds)
FORE_STANDING_FRAC = (0.15, 0.35)     # standing forefoot load, fraction of the wearer's fore peak
FORE_STANDING_BOUNDS = (0.08, 0.50)
INITIATION_S = (0.25, 0.40)       # standing_end -> first heel off (weight shift off this heel)
SETTLE_STRIDES = 0.5              # last heel strike -> standing_start, in strides
FOOT_FLAT_S = (0.05, 0.10)        # heel strike -> the forefoot starts loading
FORE_MID_FRAC = (0.35, 0.55)      # forefoot load at mid-stance, fraction of the step's fore peak
PUSH_S = (0.10, 0.16)             # forefoot peak -> toe off
PIVOT_S = (0.5, 1.5)              # a turn: the heel stays unloaded this long
PIVOT_ONSET_S = (0.30, 0.45)      # heel strike -> heel unloaded for the turn
PIVOT_UNLOAD_S = (0.08, 0.15)
PIVOT_RELOAD_S = (0.08, 0.12)
PIVOT_TO_HEEL_OFF_S = (0.30, 0.45)    # end of the turn -> heel off of that stride
PIVOT_FORE_FRAC = (0.80, 1.00)    # forefoot load in a turn, fraction of the fore peak
FIRST_TURN_S = (1.0, 2.5)         # first heel strike of the walk -> the first turn
TURN_EVERY_S = (5.0, 9.0)         # walking between turns
FIRST_PAUSE_S = (2.5, 4.5)        # first heel strike of the walk -> the first pause
PAUSE_S = (2.0, 4.0)              # a standing pause of stop-and-go
PAUSE_EVERY_S = (4.0, 8.0)        # walking between pauses
MIN_BOUT_S = 3.5                  # room a walking bout needs after a pause (start, a stride, settle)
EDGE_STANDING_STOP_AND_GO_S = (1.5, 2.5)  # shorter standing at the ends: room for pauses


@dataclass(frozen=True)
class GaitRecording:
    """One leg's foot forces and its truth events; t_s[k] = k / rate_hz exactly.

    `heel_N`: the heel cell; `fore_N`: the forefoot (sum of the forefoot cells), both float32
    newtons as the sensor reads them (noise, drift, any preload). `pivots`: the turns of
    `pivot-turns`, (start, end) in s, the heel unloaded throughout while the forefoot stays
    loaded. `heel_preload_N` / `fore_preload_N`: the constant sensor offset (`preload`).
    `foot_imu` / `shank_imu`: (n, 6) float32, gyro x, y, z (deg/s) then accel x, y, z (g), the
    sensor frame as mounted (x forward, y right, z down); NaN rows are dropouts.
    """

    rate_hz: float
    t_s: np.ndarray
    heel_N: np.ndarray
    events: tuple[tuple[float, str], ...]
    scenario: str
    seed: int
    fore_N: np.ndarray | None = None
    pivots: tuple[tuple[float, float], ...] = ()
    heel_preload_N: float = 0.0
    fore_preload_N: float = 0.0
    foot_imu: np.ndarray | None = None
    shank_imu: np.ndarray | None = None

    def imu(self, mount: str) -> np.ndarray:
        """The (n, 6) IMU of `mount` (foot or shank): gyro x, y, z (deg/s), accel x, y, z (g);
        NaN rows are dropouts."""
        data = {"foot": self.foot_imu, "shank": self.shank_imu}.get(mount)
        if data is None:
            raise ConfigError(f"IMU mount {mount!r}: this recording has {', '.join(self.imu_mounts()) or 'no IMU'}")
        return data

    def imu_mounts(self) -> tuple[str, ...]:
        return tuple(m for m, d in (("foot", self.foot_imu), ("shank", self.shank_imu)) if d is not None)


@dataclass
class _Stride:
    """One stance from heel strike: heel off and toe off (NaN for the last heel strike of a
    bout, which settles into standing at `settle`), and a turn (p0, p1) if any."""

    hs: float
    ho: float
    to: float
    settle: float = math.nan
    pivot: tuple[float, float] | None = None


@dataclass
class _Walk:
    events: list[tuple[float, str]] = field(default_factory=list)
    strides: list[_Stride] = field(default_factory=list)
    starts: list[tuple[float, float, float]] = field(default_factory=list)  # (standing_end, heel off, toe off)
    standing: list[tuple[float, float]] = field(default_factory=list)


def min_duration_s(scenario: str) -> float:
    """Shortest recording `generate` accepts for the scenario (the same for all)."""
    _profile(scenario)
    return MIN_DURATION_S


def _profile(scenario: str) -> _Profile:
    if scenario not in _PROFILES:
        raise ConfigError(f"gait scenario {scenario!r} is unknown; allowed: {', '.join(SCENARIOS)}")
    return _PROFILES[scenario]


def generate(scenario: str, seed: int, duration_s: float, rate_hz: float = 100.0, *,
             gyro_range_dps: float = GYRO_RANGE_DPS, imu_dropouts_per_min: float = 0.0) -> GaitRecording:
    """Build a seeded recording of the scenario (deterministic for a seed).

    The IMUs saturate at `gyro_range_dps` (and +-16 g) and lose runs of samples (NaN) at
    `imu_dropouts_per_min` on average; neither changes the forces or the truth."""
    prof = _profile(scenario)
    if not (math.isfinite(duration_s) and duration_s >= MIN_DURATION_S):
        raise ConfigError(
            f"gait duration_s={duration_s!r} is too short: at least {MIN_DURATION_S} s "
            "(standing at both ends plus a few strides)")
    if not (math.isfinite(rate_hz) and 10.0 <= rate_hz <= 10_000.0):
        raise ConfigError(f"gait rate_hz={rate_hz!r} must be within 10 .. 10000 Hz")
    if not (math.isfinite(gyro_range_dps) and 100.0 <= gyro_range_dps <= 4000.0):
        raise ConfigError(f"gait gyro_range_dps={gyro_range_dps!r} must be within 100 .. 4000 deg/s")
    if not (math.isfinite(imu_dropouts_per_min) and 0.0 <= imu_dropouts_per_min <= 600.0):
        raise ConfigError(f"gait imu_dropouts_per_min={imu_dropouts_per_min!r} must be within 0 .. 600")

    rng = np.random.default_rng(seed)
    rx = np.random.default_rng([seed, 0x5CE7])  # scenario extras: the base timing of a seed is unchanged
    rng.uniform(*BODY_WEIGHT_N)
    n = int(math.floor(duration_s * rate_hz + 1e-6))  # samples 0 .. n-1, t < duration_s
    t = np.arange(n, dtype=np.float64) / rate_hz

    walk = _timeline(prof, rng, rx, duration_s)
    heel_ref = float(rng.uniform(*prof.heel_peak_N))
    fore_ref = float(rng.uniform(*prof.fore_peak_N))
    stand_heel, stand_fore = _standing_load(rng, prof, t, heel_ref, fore_ref)
    heel, fore = _forces(prof, rng, t, walk, heel_ref, fore_ref, stand_heel, stand_fore)

    pre_heel = pre_fore = 0.0
    if prof.preload_N is not None:
        pre_heel, pre_fore = (float(x) for x in rx.uniform(*prof.preload_N, 2))
    heel_out = _sensor(rng, prof, heel, pre_heel)
    fore_out = _sensor(rng, prof, fore, pre_fore)
    events = tuple((te, kind) for te, kind in walk.events if 0.0 <= te < duration_s)
    pivots = tuple(s.pivot for s in walk.strides if s.pivot is not None and s.pivot[1] < duration_s)
    foot, shank = imu_signals(scenario, seed, t, walk.events,
                              [s.pivot for s in walk.strides if s.pivot is not None], walk.standing,
                              gyro_range_dps=gyro_range_dps, dropouts_per_min=imu_dropouts_per_min)
    return GaitRecording(rate_hz=float(rate_hz), t_s=t, heel_N=heel_out, events=events,
                         scenario=scenario, seed=seed, fore_N=fore_out, pivots=pivots,
                         heel_preload_N=pre_heel, fore_preload_N=pre_fore, foot_imu=foot, shank_imu=shank)


def _sensor(rng: np.random.Generator, prof: _Profile, clean: np.ndarray, preload: float) -> np.ndarray:
    """What a cell reads: the load plus slow drift, white noise and a constant preload."""
    n = clean.size
    noise_sd = float(rng.uniform(*prof.noise_sd_N))
    drift = _drift(rng, n, float(rng.uniform(*prof.drift_max_N)))
    return np.clip(clean + preload + drift + rng.normal(0.0, noise_sd, n), 0.0, None).astype(np.float32)


def _timeline(prof: _Profile, rng: np.random.Generator, rx: np.random.Generator,
              duration_s: float) -> _Walk:
    """Truth events and the strides, starts and standing periods that make the forces.

    `rng` draws the base timing (the same sequence as ever for healthy and hemiparetic);
    `rx` draws what only some scenarios have (turns, pauses, heel-off lead, the start phase).
    """
    t_walk = float(rng.uniform(*STANDING_S))
    end_standing = float(rng.uniform(*STANDING_S))
    if prof.pauses:
        t_walk = float(rx.uniform(*EDGE_STANDING_STOP_AND_GO_S))
        end_standing = float(rx.uniform(*EDGE_STANDING_STOP_AND_GO_S))
    lo, hi = prof.f_band
    f = float(rng.uniform(*prof.f_start))

    def next_period() -> tuple[float, float, float]:
        nonlocal f
        # mean-reverting random walk, clipped to the band: slow changes of speed,
        # then a per-stride jitter around it (the stride-to-stride variability)
        f += 0.05 * (0.5 * (lo + hi) - f) + float(rng.normal(0.0, prof.f_walk_sd))
        f = min(max(f, lo), hi)
        fk = f / (1.0 + float(rng.normal(0.0, prof.f_jitter_cv)))
        fk = min(max(fk, lo), hi)
        return 1.0 / fk, float(rng.uniform(*prof.heel_off_share)), float(rng.uniform(*prof.stance_share))

    def lead(period: float, h: float, s: float) -> float:
        """Heel off -> toe off of one stride."""
        if prof.heel_off_lead_s is None:
            return (s - h) * period
        a, b = prof.heel_off_lead_s
        return float(rx.uniform(a, min(b, s * period - 0.25)))

    walk = _Walk()
    ev = walk.events

    def start_from_standing(t_end: float) -> float:
        """Gait initiation: this heel unloads, the toe leaves, one swing; the next heel strike."""
        period, h, s = next_period()
        ho = t_end + float(rng.uniform(*INITIATION_S))
        to = ho + lead(period, h, s)
        ev.extend([(t_end, "standing_end"), (ho, "heel_off"), (to, "toe_off")])
        walk.starts.append((t_end, ho, to))
        return to + (1.0 - s) * period

    if prof.edge_standing:
        walk.standing.append((-math.inf, t_walk))
        hs = start_from_standing(t_walk)
        limit = duration_s - end_standing
    else:
        hs = -float(rx.uniform(0.0, 1.2))  # the recording begins at a random phase of a stride
        limit = math.inf
    bout_strides = 0
    last_period = math.nan  # the period of the last full stride (its heel strikes' distance for a turn)

    def settle_after(hs_now: float) -> float:
        """standing_start: half a stride after the last heel strike."""
        last = walk.strides[-1]
        step = last_period if last.pivot is not None else hs_now - last.hs
        return hs_now + SETTLE_STRIDES * step
    next_turn = hs + float(rx.uniform(*FIRST_TURN_S)) if prof.turns else math.inf
    next_pause = hs + float(rx.uniform(*FIRST_PAUSE_S)) if prof.pauses else math.inf
    while True:
        period, h, s = next_period()
        if not prof.edge_standing and hs >= duration_s:
            return walk
        nxt = hs + period
        if nxt + SETTLE_STRIDES * period > limit and bout_strides:  # keep at least one full stride
            break
        if hs >= next_pause and bout_strides >= 2:
            settle = settle_after(hs)
            t_end = settle + float(rx.uniform(*PAUSE_S))
            if t_end + MIN_BOUT_S <= limit:
                walk.strides.append(_Stride(hs, math.nan, math.nan, settle=settle))
                ev.extend([(hs, "heel_strike"), (settle, "standing_start")])
                walk.standing.append((settle, t_end))
                hs = start_from_standing(t_end)
                bout_strides = 0
                next_pause = hs + float(rx.uniform(*PAUSE_EVERY_S))
                continue
            next_pause = math.inf
        if hs >= next_turn:
            p0 = hs + float(rx.uniform(*PIVOT_ONSET_S))
            p1 = p0 + float(rx.uniform(*PIVOT_S))
            ho = p1 + float(rx.uniform(*PIVOT_TO_HEEL_OFF_S))
            to = ho + lead(period, h, s)
            after = to + (1.0 - s) * period
            if after + SETTLE_STRIDES * period <= limit:
                walk.strides.append(_Stride(hs, ho, to, pivot=(p0, p1)))
                ev.extend([(hs, "heel_strike"), (ho, "heel_off"), (to, "toe_off")])
                hs, last_period, bout_strides = after, period, bout_strides + 1
                next_turn = hs + float(rx.uniform(*TURN_EVERY_S))
                continue
            next_turn = math.inf
        to = hs + s * period
        ho = hs + h * period if prof.heel_off_lead_s is None else to - lead(period, h, s)
        walk.strides.append(_Stride(hs, ho, to))
        ev.extend([(hs, "heel_strike"), (ho, "heel_off"), (to, "toe_off")])
        hs, last_period, bout_strides = nxt, period, bout_strides + 1
    standing_start = settle_after(hs)
    if standing_start > duration_s - 1.0:  # guaranteed by MIN_DURATION_S; kept as a guard
        raise ConfigError(f"gait duration_s={duration_s!r} leaves no standing at the end")
    walk.strides.append(_Stride(hs, math.nan, math.nan, settle=standing_start))
    walk.standing.append((standing_start, math.inf))
    ev.extend([(hs, "heel_strike"), (standing_start, "standing_start")])
    return walk


def _smooth_noise(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Zero-mean noise low-passed by a moving average of k samples, scaled to max |x| = 1."""
    x = np.cumsum(rng.normal(0.0, 1.0, n + k))
    x = (x[k:] - x[:-k]) / k
    x -= x.mean()
    peak = float(np.max(np.abs(x))) or 1.0
    return x / peak


def _standing_load(rng: np.random.Generator, prof: _Profile, t: np.ndarray, heel_ref: float,
                   fore_ref: float) -> tuple[np.ndarray, np.ndarray]:
    """Quiet-standing heel and forefoot load, in N: a level, postural sway and slow weight
    shifts between heel and forefoot (one goes up when the other goes down)."""
    rate = 1.0 / (t[1] - t[0])
    level = float(rng.uniform(*prof.standing_frac))
    phase = 2 * np.pi * float(rng.uniform(0.15, 0.35)) * t + float(rng.uniform(0, 2 * np.pi))
    sway = float(rng.uniform(0.02, 0.04)) * np.sin(phase)
    shift_unit = _smooth_noise(rng, t.size, max(2, int(2.0 * rate)))
    shift = float(rng.uniform(0.04, 0.07)) * shift_unit
    heel = heel_ref * np.clip(level + sway + shift, *STANDING_FRAC_BOUNDS)
    f_level = float(rng.uniform(*FORE_STANDING_FRAC))
    fore = fore_ref * np.clip(f_level - 0.5 * sway - 0.8 * shift, *FORE_STANDING_BOUNDS)
    return heel, fore


def _drift(rng: np.random.Generator, n: int, max_n: float) -> np.ndarray:
    """Slow FSR offset drift (creep, temperature) of at most max_n newtons."""
    return max_n * _smooth_noise(rng, n, max(2, n // 20))


def _raised_cos(u: np.ndarray) -> np.ndarray:
    """0 -> 1 on u in [0, 1] with zero slope at both ends."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


class _Canvas:
    """Writes piecewise shapes onto one force array over time intervals."""

    def __init__(self, t: np.ndarray) -> None:
        self.t = t
        self.f = np.zeros_like(t)

    def span(self, a: float, b: float) -> slice:
        i, j = np.searchsorted(self.t, [a, b])
        return slice(int(i), int(j))

    def ramp(self, a: float, b: float, v0: float | np.ndarray, v1: float | np.ndarray) -> None:
        """v0 -> v1 over [a, b) with a raised cosine (values may be arrays over all of t)."""
        seg = self.span(a, b)
        w = _raised_cos((self.t[seg] - a) / (b - a))
        x0 = v0[seg] if isinstance(v0, np.ndarray) else v0
        x1 = v1[seg] if isinstance(v1, np.ndarray) else v1
        self.f[seg] = x0 * (1.0 - w) + x1 * w

    def copy(self, a: float, b: float, src: np.ndarray) -> None:
        seg = self.span(a, b)
        self.f[seg] = src[seg]


def _forces(prof: _Profile, rng: np.random.Generator, t: np.ndarray, walk: _Walk, heel_ref: float,
            fore_ref: float, stand_heel: np.ndarray, stand_fore: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free heel and forefoot force: standing load where standing, the stride shapes
    while walking, nothing in swing."""
    heel, fore = _Canvas(t), _Canvas(t)
    for a, b in walk.standing:
        heel.copy(a, b, stand_heel)
        fore.copy(a, b, stand_fore)
    for t_end, ho, to in walk.starts:
        # initiation: the weight moves to the other leg; this heel unloads smoothly to zero,
        # the forefoot pushes off and leaves the ground at toe off
        heel.ramp(t_end, ho, stand_heel, 0.0)
        push = float(rng.uniform(*PUSH_S))
        push_peak = fore_ref * float(rng.uniform(0.6, 0.9))
        fore.ramp(t_end, to - push, stand_fore, push_peak)
        fore.ramp(to - push, to, push_peak, 0.0)

    for st in walk.strides:
        rise = float(rng.uniform(*prof.rise_s))
        peak = heel_ref * (1.0 + prof.peak_cv * float(rng.normal()))
        if rng.random() < prof.low_peak_p:
            peak *= float(rng.uniform(*prof.low_peak_frac))
        peak = min(max(peak, prof.peak_clip_N[0]), prof.peak_clip_N[1])
        unload = float(rng.uniform(*prof.unload_s))
        mid = float(rng.uniform(*prof.midstance_frac)) * peak
        fpk = fore_ref * (1.0 + 0.08 * float(rng.normal()))
        fmid = float(rng.uniform(*FORE_MID_FRAC)) * fpk
        ff = st.hs + float(rng.uniform(*FOOT_FLAT_S))
        push = float(rng.uniform(*PUSH_S))
        heel.ramp(st.hs, st.hs + rise, 0.0, peak)
        t_pk = st.hs + rise

        if math.isnan(st.ho):  # last heel strike of a bout: the load settles onto standing
            seg = heel.span(t_pk, st.settle)
            w = _raised_cos((t[seg] - t_pk) / (st.settle - t_pk))
            heel.f[seg] = peak * (1.0 - w) + stand_heel[seg] * w
            seg = fore.span(ff, st.settle)
            u = t[seg] - ff
            loading = fmid * _raised_cos(u / 0.15)
            w = _raised_cos(u / (st.settle - ff))
            fore.f[seg] = loading * (1.0 - w) + stand_fore[seg] * w
            continue

        def decline(a: float, b: float, top: float, bottom: float) -> None:
            """Fast fall after loading, then a plateau: top -> bottom over [a, b)."""
            seg = heel.span(a, b)
            u = np.clip((t[seg] - a) / (b - a), 0.0, 1.0)
            heel.f[seg] = bottom + (top - bottom) * (1.0 - u) ** 2

        t_un = st.ho - unload
        if st.pivot is None:
            decline(t_pk, t_un, peak, mid)
            heel.ramp(t_un, st.ho, mid, 0.0)
            t_mid = st.hs + 0.45 * (st.to - st.hs)
            fore.ramp(ff, t_mid, 0.0, fmid)
            fore.ramp(t_mid, st.to - push, fmid, fpk)
            fore.ramp(st.to - push, st.to, fpk, 0.0)
            continue
        # a pivot turn on the forefoot: the heel unloads, the foot turns on the ball, the heel
        # comes down again, and the stride goes on to its heel off and toe off
        p0, p1 = st.pivot
        p_un = float(rng.uniform(*PIVOT_UNLOAD_S))
        p_re = float(rng.uniform(*PIVOT_RELOAD_S))
        back = mid * float(rng.uniform(0.7, 1.0))
        pv = fpk * float(rng.uniform(*PIVOT_FORE_FRAC))
        decline(t_pk, p0 - p_un, peak, mid)
        heel.ramp(p0 - p_un, p0, mid, 0.0)
        heel.ramp(p1, p1 + p_re, 0.0, back)
        decline(p1 + p_re, t_un, back, 0.9 * back)
        heel.ramp(t_un, st.ho, 0.9 * back, 0.0)
        fore.ramp(ff, p0 - p_un, 0.0, fmid)
        fore.ramp(p0 - p_un, p0, fmid, pv)
        seg = fore.span(p0, p1)
        wobble = np.sin(2 * np.pi * float(rng.uniform(0.8, 1.5)) * (t[seg] - p0))
        fore.f[seg] = pv * (1.0 + 0.08 * wobble)
        fore.ramp(p1, p1 + p_re, pv, fmid)
        fore.ramp(p1 + p_re, st.to - push, fmid, fpk)
        fore.ramp(st.to - push, st.to, fpk, 0.0)
    return heel.f, fore.f


def write_truth_csv(recording: GaitRecording, path: str | PathLike[str]) -> None:
    """Write the truth events as `t_s,event` (4 decimals); an existing file is replaced."""
    p = Path(path)
    p.unlink(missing_ok=True)  # CsvLog appends; a stale truth file must not be extended
    with CsvLog(p, ("t_s", "event")) as log:
        for t_ev, kind in recording.events:
            log.write((format_time_s(t_ev), kind))


def write_recording_csv(recording: GaitRecording, path: str | PathLike[str], *, insole: bool = False,
                        imu: str | None = None) -> None:
    """Write the force as a CONTRACT recording, `t_s,heel_N` (with `insole`: `t_s,heel_N,fore_N`);
    samples whose heel force is NaN (gaps) are left out; an existing file is replaced.

    With `imu` = foot or shank, that IMU instead: `t_s` and the six CONTRACT IMU columns
    (dropouts left out, as gaps), and a `NAME.json` sidecar beside it with the mount and rate."""
    p = Path(path)
    p.unlink(missing_ok=True)
    p.parent.mkdir(parents=True, exist_ok=True)
    if imu is not None:
        _write_imu_csv(recording, p, imu)
        return
    keep = np.isfinite(recording.heel_N)  # a streamed recording's gaps are NaN: left out, as a gap
    t = recording.t_s[keep].tolist()
    heel = recording.heel_N[keep].tolist()
    # one bulk write: row-by-row flushing is for logs that must survive a crash, not for this
    with open(p, "w", encoding="utf-8", newline="") as fh:
        if insole:
            if recording.fore_N is None:
                raise ConfigError(f"{p}: this recording has no forefoot force to write")
            fh.write("t_s,heel_N,fore_N\n")
            fh.writelines(f"{format_time_s(ti)},{hi:.2f},{fi:.2f}\n"
                          for ti, hi, fi in zip(t, heel, recording.fore_N[keep].tolist()))
        else:
            fh.write("t_s,heel_N\n")
            fh.writelines(f"{format_time_s(ti)},{fi:.2f}\n" for ti, fi in zip(t, heel))


def _write_imu_csv(recording: GaitRecording, p: Path, mount: str) -> None:
    data = recording.imu(mount)
    keep = np.all(np.isfinite(data), axis=1)
    t = recording.t_s[keep].tolist()
    with open(p, "w", encoding="utf-8", newline="") as fh:
        fh.write("t_s," + ",".join(IMU_COLUMNS) + "\n")
        fh.writelines(f"{format_time_s(ti)},{r[0]:.2f},{r[1]:.2f},{r[2]:.2f},{r[3]:.4f},{r[4]:.4f},{r[5]:.4f}\n"
                      for ti, r in zip(t, data[keep].tolist()))
    sidecar = {"mount": mount, "rate_hz": recording.rate_hz, "source": "fescontrol_hil.gait",
               "subject": f"{recording.scenario} seed {recording.seed}"}
    stem = p.name[:-len(".csv")] if p.name.endswith(".csv") else p.stem
    p.with_name(stem + ".json").write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")


def stats(recording: GaitRecording) -> dict[str, Any]:
    """Stride statistics from the truth events of full strides (heel strike to heel strike,
    with no standing in between)."""
    ev = recording.events
    hs = [t for t, k in ev if k == "heel_strike"]
    rows = []
    for a, b in zip(hs, hs[1:]):
        if any(a < t < b for t, k in ev if k in ("standing_start", "standing_end")):
            continue
        ho = [t for t, k in ev if k == "heel_off" and a < t < b]
        to = [t for t, k in ev if k == "toe_off" and a < t < b]
        rows.append((b - a, ho[0] - a, to[0] - a))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    period, ho_rel, to_rel = arr[:, 0], arr[:, 1], arr[:, 2]
    swing = period - to_rel
    stride_hz = 1.0 / period
    return {
        "strides": int(arr.shape[0]),
        "stride_hz": stride_hz.tolist(),
        "stride_hz_mean": float(stride_hz.mean()),
        "stride_hz_min": float(stride_hz.min()),
        "stride_hz_max": float(stride_hz.max()),
        "stride_time_cv": float(period.std() / period.mean()),
        "heel_off_share_mean": float((ho_rel / period).mean()),
        "stance_share_mean": float((to_rel / period).mean()),
        "swing_share_mean": float((swing / period).mean()),
        "swing_ms_mean": float(1000.0 * swing.mean()),
        "swing_cv": float(swing.std() / swing.mean()),
    }
