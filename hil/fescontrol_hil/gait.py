"""Synthetic heel-FSR gait for one leg, with exact truth events, so detectors can be scored.

The model is "physics-ish": it reproduces the timing (shares of the gait cycle, stride
frequency drifting slowly, stride-to-stride jitter) and the force shape a heel FSR shows
(sharp loading at heel strike, falling load through stance, fast unloading before heel off,
nothing in swing), plus the quiet standing with weight shifting that must NOT look like a
step. It is not a biomechanical simulation; numbers come from
`reference/gait-detection.md` section 1 and are listed in the constants below.

Standing at the start and the end is marked by `standing_end` / `standing_start` truth
events. Walking starts with this leg's heel off and toe off from standing and ends with a
heel strike into standing; `standing_start` is put where the other foot has landed beside
it (half a stride after the last heel strike) and the heel load has settled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.records.writers import CsvLog, format_time_s

SCENARIOS = ("healthy", "hemiparetic")
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
    peak_bw: tuple[float, float]          # heel peak, body weights
    low_peak_p: float                     # probability of a low heel peak (hemiparetic)
    low_peak_bw: tuple[float, float]
    midstance_frac: tuple[float, float]   # heel load just before unloading, fraction of the peak


_PROFILES: dict[str, _Profile] = {
    "healthy": _Profile(
        f_start=(0.92, 1.05), f_band=(0.88, 1.12), f_walk_sd=0.012, f_jitter_cv=0.015,
        heel_off_share=(0.40, 0.45), stance_share=(0.60, 0.62),
        rise_s=(0.030, 0.050), unload_s=(0.060, 0.100),
        peak_bw=(1.00, 1.20), low_peak_p=0.0, low_peak_bw=(1.0, 1.0),
        midstance_frac=(0.50, 0.70),
    ),
    "hemiparetic": _Profile(
        f_start=(0.66, 0.80), f_band=(0.60, 0.85), f_walk_sd=0.015, f_jitter_cv=0.040,
        heel_off_share=(0.46, 0.54), stance_share=(0.65, 0.71),
        rise_s=(0.040, 0.060), unload_s=(0.070, 0.100),
        peak_bw=(0.95, 1.15), low_peak_p=0.3, low_peak_bw=(0.60, 0.90),
        midstance_frac=(0.50, 0.75),
    ),
}

BODY_WEIGHT_N = (600.0, 850.0)
STANDING_S = (2.5, 3.5)           # quiet standing at the start and (target) at the end
STANDING_LOAD_BW = (0.35, 0.60)   # heel share of body weight while standing (hard bounds)
INITIATION_S = (0.25, 0.40)       # standing_end -> first heel off (weight shift off this heel)
SETTLE_STRIDES = 0.5              # last heel strike -> standing_start, in strides
NOISE_SD_N = (1.0, 2.5)
DRIFT_MAX_N = (1.0, 3.0)


@dataclass(frozen=True)
class GaitRecording:
    """One leg's heel force and its truth events; t_s[k] = k / rate_hz exactly."""

    rate_hz: float
    t_s: np.ndarray
    heel_N: np.ndarray
    events: tuple[tuple[float, str], ...]
    scenario: str
    seed: int


def generate(scenario: str, seed: int, duration_s: float, rate_hz: float = 100.0) -> GaitRecording:
    """Build a seeded recording: standing, walking, standing (deterministic for a seed)."""
    if scenario not in _PROFILES:
        raise ConfigError(f"gait scenario {scenario!r} is unknown; allowed: {', '.join(SCENARIOS)}")
    if not (math.isfinite(duration_s) and duration_s >= MIN_DURATION_S):
        raise ConfigError(
            f"gait duration_s={duration_s!r} is too short: at least {MIN_DURATION_S} s "
            "(standing at both ends plus a few strides)")
    if not (math.isfinite(rate_hz) and 10.0 <= rate_hz <= 10_000.0):
        raise ConfigError(f"gait rate_hz={rate_hz!r} must be within 10 .. 10000 Hz")

    prof = _PROFILES[scenario]
    rng = np.random.default_rng(seed)
    bw = float(rng.uniform(*BODY_WEIGHT_N))
    n = int(math.floor(duration_s * rate_hz + 1e-6))  # samples 0 .. n-1, t < duration_s
    t = np.arange(n, dtype=np.float64) / rate_hz

    events, strides = _timeline(prof, rng, duration_s)
    standing = _standing_load(rng, t, bw)
    clean = _force(prof, rng, t, bw, events, strides, standing)

    noise_sd = float(rng.uniform(*NOISE_SD_N))
    drift = _drift(rng, n, float(rng.uniform(*DRIFT_MAX_N)))
    heel = np.clip(clean + drift + rng.normal(0.0, noise_sd, n), 0.0, None).astype(np.float32)
    return GaitRecording(rate_hz=float(rate_hz), t_s=t, heel_N=heel, events=tuple(events),
                         scenario=scenario, seed=seed)


def _timeline(prof: _Profile, rng: np.random.Generator,
              duration_s: float) -> tuple[list[tuple[float, str]], list[tuple[float, float, float]]]:
    """Truth events, and strides as (heel_strike, heel_off, toe_off) per full stride; the
    final heel strike closes the list as (heel_strike, nan, standing_start)."""
    t_walk = float(rng.uniform(*STANDING_S))
    end_standing = float(rng.uniform(*STANDING_S))
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

    events: list[tuple[float, str]] = [(t_walk, "standing_end")]
    # gait initiation: this heel unloads, the toe leaves, one swing to the first heel strike
    period, h, s = next_period()
    ho = t_walk + float(rng.uniform(*INITIATION_S))
    to = ho + (s - h) * period
    hs = to + (1.0 - s) * period
    events += [(ho, "heel_off"), (to, "toe_off")]

    strides: list[tuple[float, float, float]] = []
    limit = duration_s - end_standing
    while True:
        period, h, s = next_period()
        nxt = hs + period
        if nxt + SETTLE_STRIDES * period > limit and strides:  # keep at least one full stride
            break
        strides.append((hs, hs + h * period, hs + s * period))
        events += [(hs, "heel_strike"), (hs + h * period, "heel_off"), (hs + s * period, "toe_off")]
        hs = nxt
    standing_start = hs + SETTLE_STRIDES * (hs - strides[-1][0])
    if standing_start > duration_s - 2.0:  # guaranteed by MIN_DURATION_S; kept as a guard
        raise ConfigError(f"gait duration_s={duration_s!r} leaves no standing at the end")
    strides.append((hs, math.nan, standing_start))  # final heel strike: loads into standing
    events += [(hs, "heel_strike"), (standing_start, "standing_start")]
    return events, strides


def _smooth_noise(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Zero-mean noise low-passed by a moving average of k samples, scaled to max |x| = 1."""
    x = np.cumsum(rng.normal(0.0, 1.0, n + k))
    x = (x[k:] - x[:-k]) / k
    x -= x.mean()
    peak = float(np.max(np.abs(x))) or 1.0
    return x / peak


def _standing_load(rng: np.random.Generator, t: np.ndarray, bw: float) -> np.ndarray:
    """Quiet-standing heel load: a level, postural sway and slow weight shifts, in N."""
    rate = 1.0 / (t[1] - t[0])
    level = float(rng.uniform(0.44, 0.52))
    sway = float(rng.uniform(0.02, 0.04)) * np.sin(
        2 * np.pi * float(rng.uniform(0.15, 0.35)) * t + float(rng.uniform(0, 2 * np.pi)))
    shift = float(rng.uniform(0.04, 0.07)) * _smooth_noise(rng, t.size, max(2, int(2.0 * rate)))
    return bw * np.clip(level + sway + shift, *STANDING_LOAD_BW)


def _drift(rng: np.random.Generator, n: int, max_n: float) -> np.ndarray:
    """Slow FSR offset drift (creep, temperature) of at most max_n newtons."""
    return max_n * _smooth_noise(rng, n, max(2, n // 20))


def _raised_cos(u: np.ndarray) -> np.ndarray:
    """0 -> 1 on u in [0, 1] with zero slope at both ends."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def _force(prof: _Profile, rng: np.random.Generator, t: np.ndarray, bw: float,
           events: list[tuple[float, str]], strides: list[tuple[float, float, float]],
           standing: np.ndarray) -> np.ndarray:
    """Noise-free heel force: standing load outside walking, the stride shape inside."""
    force = np.zeros_like(t)
    t_walk, first_ho = events[0][0], events[1][0]
    i_walk, i_ho = np.searchsorted(t, [t_walk, first_ho])
    force[:i_walk] = standing[:i_walk]
    # initiation: the weight moves to the other leg; this heel unloads smoothly to zero
    seg = slice(i_walk, i_ho)
    force[seg] = standing[seg] * (1.0 - _raised_cos((t[seg] - t_walk) / (first_ho - t_walk)))

    for hs, ho, to in strides:
        rise = float(rng.uniform(*prof.rise_s))
        peak = float(rng.uniform(*prof.peak_bw))
        if rng.random() < prof.low_peak_p:
            peak = float(rng.uniform(*prof.low_peak_bw))
        peak *= bw
        i_hs, i_pk = np.searchsorted(t, [hs, hs + rise])
        force[i_hs:i_pk] = peak * _raised_cos((t[i_hs:i_pk] - hs) / rise)
        if math.isnan(ho):  # final heel strike: the load settles onto the standing level
            stand_start = to
            i_st = np.searchsorted(t, stand_start)
            seg = slice(i_pk, i_st)
            w = _raised_cos((t[seg] - hs - rise) / (stand_start - hs - rise))
            force[seg] = peak * (1.0 - w) + standing[seg] * w
            force[i_st:] = standing[i_st:]
            continue
        unload = float(rng.uniform(*prof.unload_s))
        mid = float(rng.uniform(*prof.midstance_frac)) * peak
        t_un = ho - unload
        i_un, i_ho = np.searchsorted(t, [t_un, ho])
        seg = slice(i_pk, i_un)
        u = np.clip((t[seg] - hs - rise) / (t_un - hs - rise), 0.0, 1.0)
        force[seg] = mid + (peak - mid) * (1.0 - u) ** 2  # fast fall after loading, then plateau
        seg = slice(i_un, i_ho)
        force[seg] = mid * (1.0 - _raised_cos((t[seg] - t_un) / unload))
        # heel off .. next heel strike: heel unloaded (toe still down until toe off)
    return force


def write_truth_csv(recording: GaitRecording, path: str | PathLike[str]) -> None:
    """Write the truth events as `t_s,event` (4 decimals); an existing file is replaced."""
    p = Path(path)
    p.unlink(missing_ok=True)  # CsvLog appends; a stale truth file must not be extended
    with CsvLog(p, ("t_s", "event")) as log:
        for t_ev, kind in recording.events:
            log.write((format_time_s(t_ev), kind))


def write_recording_csv(recording: GaitRecording, path: str | PathLike[str]) -> None:
    """Write the force as a CONTRACT recording, `t_s,heel_N`; an existing file is replaced."""
    p = Path(path)
    p.unlink(missing_ok=True)
    p.parent.mkdir(parents=True, exist_ok=True)
    # one bulk write: row-by-row flushing is for logs that must survive a crash, not for this
    with open(p, "w", encoding="utf-8", newline="") as fh:
        fh.write("t_s,heel_N\n")
        fh.writelines(f"{format_time_s(ti)},{fi:.2f}\n"
                      for ti, fi in zip(recording.t_s.tolist(), recording.heel_N.tolist()))


def stats(recording: GaitRecording) -> dict[str, Any]:
    """Stride statistics from the truth events of full strides (heel strike to heel strike)."""
    ev = recording.events
    hs = [t for t, k in ev if k == "heel_strike"]
    rows = []
    for a, b in zip(hs, hs[1:]):
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
