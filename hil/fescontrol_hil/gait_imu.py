"""Synthetic foot and shank IMU signals for a generated walk, placed on its truth events.

Like the forces, "physics-ish": the shapes and their timing, not a biomechanical model.
Both sensors use one frame as mounted, FRD: x forward (toe direction), y to the wearer's right,
z down (along the shank for the shank sensor). Positive rotation about y is toe up (foot) or
the ankle swinging forward (shank); standing still the accelerometer reads about (0, 0, -1) g.

Foot, sagittal gyro (y) per stride, as foot-mounted gyros show it (reference/gait-detection.md
section 3; Mannini & Sabatini): near zero in foot flat; from heel off the foot pitches toe down
to the negative push-off peak near toe off; it swings toe up through the positive mid-swing
peak; at heel strike the foot slaps flat: a short negative spike. The areas are tied together:
the angle at toe off (push-off), the toe-up angle at heel strike (drawn) and the slap back to
flat, so the foot's pitch returns to zero every foot flat and the accelerometer's gravity
follows the pitch. Shank (y): slowly negative through stance (the knee passes over the foot),
a negative minimum near toe off, the positive mid-swing peak, a negative dip at heel strike;
its angle (ankle ahead of the knee at heel strike, behind it at toe off) closes every stride.

Accelerometer: gravity seen at the pitch, plus the swing's forward acceleration and
deceleration, the lift and lowering of the foot, and the impact at heel strike (stronger on
the foot than on the shank). Pivot turns: mostly rotation about the vertical axis (z), with
the heel lifting and lowering slowly (small sagittal lobes, sized on real turns on the spot: see
PIVOT_LIFT_DEG) and a little roll; no swing.
Standing and weight shifting: a few deg/s of sway, gravity on the accelerometer.

Sensor: a small mounting misalignment (a few degrees about each axis, per seed), white noise,
a constant bias and a slow bias drift per axis, saturation at the gyro's range (+-2000 deg/s
by default) and at +-16 g, and optional dropouts (runs of NaN samples). Everything is drawn
from its own seeded generator, so the forces of a seed are the same with or without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GYRO_RANGE_DPS = 2000.0
ACC_RANGE_G = 16.0
MISALIGN_DEG = 4.0          # mounting misalignment about each axis, at most
DROPOUT_S = (0.01, 0.12)    # length of one dropout
SWING_IF_UNKNOWN_S = 0.40   # a toe off with no heel strike after it in the recording (mid-stride end)

# A pivot turn (turning on the spot on the ball of the foot, no swing), sized on real turns:
# voisard2023 (shared gait data, 20 trials, foot-dorsum XSens IMU, 100 Hz), foot movements inside
# the U-turn windows that turn the foot about the vertical (> 20 deg, yaw rate > 60 deg/s) while
# the reference marks no swing [toe off, heel strike]. The 9 isolated pivots (heel up, turn, heel
# down, no step right after; 7 feet): heel-lift lobe up to 26 deg (median 10) over up to 0.44 s
# (median 0.21), its peak -8 to -104 deg/s (50 ms mean; raw 100 Hz -12 to -155); heel lowering up
# to 19 deg (median 7; the rest comes back below 10 deg/s), its peak +11 to +106 deg/s (raw +15 to
# +115); each turns 36-155 deg at a yaw-rate peak of 216-613 deg/s in 0.2-0.6 s; yaw peak / sagittal
# peak 1.9-21 (median 4.4). All 22 such unmarked turns (with those leading into a step): raw
# sagittal peaks median -78 / +47 deg/s (p10-p90 -185..-19 / 0..115), turned median 72 deg
# (27-155), yaw peak median 328 deg/s (136-678); one of them (-267 / +263 deg/s, 40 m/s^2 impacts)
# is a step the reference missed. Straight walking in the same files: push-off -591 deg/s, swing
# lobe +359 (medians, 570 swings). gaitmap-example's 180 deg turn has no pivot: its two turning
# movements are small lifted steps (about -100..-320 / +100..+111 deg/s).
PIVOT_LIFT_DEG = (5.0, 20.0)        # heel lift (toe-down pitch), lowered back by as much
PIVOT_PITCH_DPS = (40.0, 110.0)     # peak pitch rate of the lift and of the lowering
PIVOT_LOBE_S = (0.13, 0.45)         # duration of each of them
PIVOT_LIFT_LEAD_S = 0.08            # the lift begins this long before the heel is fully unloaded
PIVOT_LOWER_LAG_S = 0.03            # the lowering ends this long after the heel touches again
PIVOT_TURN_DEG = (50.0, 150.0)      # one pivot turns the foot this far (the shank 0.9 of it)
PIVOT_YAW_DPS = (250.0, 650.0)      # at this peak yaw rate
PIVOT_TURN_S = (0.15, 0.70)         # in one burst this long


@dataclass(frozen=True)
class ImuProfile:
    """Per-scenario IMU parameters (ranges drawn per stride)."""

    push_off_dps: tuple[float, float]     # foot: the push-off negative peak (magnitude)
    push_off_deg: tuple[float, float]     # foot: toe-down angle at the end of push-off
    hs_pitch_deg: tuple[float, float]     # foot: toe-up angle at heel strike (< 0: forefoot first)
    foot_flat_s: tuple[float, float]      # heel strike -> foot flat (the slap)
    shank_hs_deg: tuple[float, float]     # shank: ankle ahead of the knee at heel strike
    shank_to_deg: tuple[float, float]     # shank: at toe off (negative: ankle behind the knee)
    swing_acc_g: tuple[float, float]      # foot: forward acceleration in swing (peak)
    lift_g: tuple[float, float]           # foot: vertical acceleration of the lift (peak)
    impact_g: tuple[float, float]         # foot: vertical impact at heel strike (peak)
    turn_deg: tuple[float, float] = PIVOT_TURN_DEG  # a pivot turn, about the vertical axis


_HEALTHY = ImuProfile(push_off_dps=(400.0, 650.0), push_off_deg=(40.0, 55.0), hs_pitch_deg=(10.0, 20.0),
                      foot_flat_s=(0.06, 0.10),
                      shank_hs_deg=(18.0, 28.0), shank_to_deg=(-40.0, -30.0), swing_acc_g=(1.8, 2.8),
                      lift_g=(0.3, 0.6), impact_g=(2.5, 5.0))
IMU_PROFILES: dict[str, ImuProfile] = {
    "hemiparetic": ImuProfile(push_off_dps=(150.0, 300.0), push_off_deg=(20.0, 35.0), hs_pitch_deg=(0.0, 8.0),
                              foot_flat_s=(0.06, 0.10),
                              shank_hs_deg=(8.0, 18.0), shank_to_deg=(-30.0, -20.0), swing_acc_g=(0.8, 1.6),
                              lift_g=(0.2, 0.4), impact_g=(1.0, 2.5)),
    "shuffling": ImuProfile(push_off_dps=(60.0, 130.0), push_off_deg=(10.0, 20.0), hs_pitch_deg=(0.0, 5.0),
                            foot_flat_s=(0.05, 0.08),
                            shank_hs_deg=(5.0, 12.0), shank_to_deg=(-20.0, -12.0), swing_acc_g=(0.5, 1.0),
                            lift_g=(0.1, 0.25), impact_g=(0.5, 1.5)),
    "stairs": ImuProfile(push_off_dps=(250.0, 400.0), push_off_deg=(25.0, 40.0), hs_pitch_deg=(-5.0, 3.0),
                         foot_flat_s=(0.06, 0.10),
                         shank_hs_deg=(25.0, 40.0), shank_to_deg=(-30.0, -20.0), swing_acc_g=(1.0, 1.8),
                         lift_g=(0.8, 1.2), impact_g=(1.0, 2.0)),
}


def imu_profile(scenario: str) -> ImuProfile:
    """The scenario's IMU parameters (healthy walking unless the scenario has its own)."""
    return IMU_PROFILES.get(scenario, _HEALTHY)


class _Track:
    """Sagittal, yaw and roll rates (deg/s) and forward / vertical accelerations (g) of one
    segment, built by adding smooth bumps over time intervals."""

    def __init__(self, t: np.ndarray) -> None:
        self.t = t
        self.pitch = np.zeros_like(t)
        self.yaw = np.zeros_like(t)
        self.roll = np.zeros_like(t)
        self.fwd = np.zeros_like(t)
        self.up = np.zeros_like(t)

    def bump(self, x: np.ndarray, a: float, p: float, b: float, peak: float) -> None:
        """Add 0 -> peak at p -> 0 over [a, b) (sin^2 halves; area peak * (b - a) / 2)."""
        if not (a < p < b) or peak == 0.0:
            return
        i, m, j = np.searchsorted(self.t, [a, p, b])
        x[i:m] += peak * np.sin(0.5 * np.pi * (self.t[i:m] - a) / (p - a)) ** 2
        x[m:j] += peak * np.cos(0.5 * np.pi * (self.t[m:j] - p) / (b - p)) ** 2

    def area_bump(self, x: np.ndarray, a: float, p: float, b: float, area: float) -> None:
        """A bump whose integral is `area` (deg for a rate in deg/s)."""
        if b > a:
            self.bump(x, a, p, b, 2.0 * area / (b - a))

    def wave(self, x: np.ndarray, a: float, b: float, peak: float) -> None:
        """One sine period over [a, b): up, then down, zero net (accelerate, then brake)."""
        i, j = np.searchsorted(self.t, [a, b])
        x[i:j] += peak * np.sin(2.0 * np.pi * (self.t[i:j] - a) / (b - a))


@dataclass
class _Anchors:
    """Times where a segment's true pitch is known (deg): the integrated rate is pinned there."""

    t: list[float]
    deg: list[float]


def imu_signals(scenario: str, seed: int, t: np.ndarray, events: list[tuple[float, str]],
                pivots: list[tuple[float, float]], standing: list[tuple[float, float]], *,
                gyro_range_dps: float = GYRO_RANGE_DPS, dropouts_per_min: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Foot and shank IMU, each (n, 6) float32: gyro x, y, z (deg/s), accel x, y, z (g).

    `events` are the walk's truth events in time order (those outside the recording too),
    `pivots` the turns, `standing` the standing intervals (may reach +-inf).
    """
    prof = imu_profile(scenario)
    rng = np.random.default_rng([seed, 0x1A0])
    foot, shank = _Track(t), _Track(t)
    fa, sa = _Anchors([], []), _Anchors([], [])
    for a, b in standing:
        mid = 0.5 * (max(a, t[0] - 1.0) + min(b, t[-1] + 1.0))
        fa.t.append(mid)
        fa.deg.append(0.0)
        sa.t.append(mid)
        sa.deg.append(0.0)
    _strides(prof, rng, foot, shank, fa, sa, events, pivots)
    rate = 1.0 / (t[1] - t[0])
    out = []
    for k, (track, anchors, scale) in enumerate(((foot, fa, 1.0), (shank, sa, 0.5))):
        sway = _sway(rng, t, rate, 1.0 + 2.0 * k)
        track.pitch += sway[0]
        track.roll += sway[1]
        track.yaw += 0.5 * sway[2]
        angle = _pitch_angle(track.pitch, rate, t, anchors)
        out.append(_sensor(rng, track, angle, scale, rate, gyro_range_dps, dropouts_per_min))
    return out[0], out[1]


def _strides(prof: ImuProfile, rng: np.random.Generator, foot: _Track, shank: _Track, fa: _Anchors,
             sa: _Anchors, events: list[tuple[float, str]], pivots: list[tuple[float, float]]) -> None:
    """Place every phase's shapes on the two tracks, walking the events in order.

    The angles that tie the phases together are carried from event to event: the foot's
    pitch and the shank's angle at the coming heel strike (drawn where the swing before it is
    placed) and at the last toe off."""
    foot_hs = float(rng.uniform(*prof.hs_pitch_deg))
    shank_hs = float(rng.uniform(*prof.shank_hs_deg))
    foot_to = 0.0
    shank_to: float | None = None
    for i, (te, kind) in enumerate(events):
        nxt = events[i + 1:i + 3]
        if kind == "heel_off" and nxt and nxt[0][1] == "toe_off":
            to = nxt[0][0]
            z = float(rng.uniform(0.04, 0.07))              # toe off -> the foot's zero crossing
            pk = to + float(rng.uniform(-0.03, 0.0))        # push-off peak, near toe off
            # the toe-down rotation gathers speed towards toe off: a bump of the drawn angle and
            # peak rate, starting no earlier than heel off (then its peak gives way to the angle)
            foot_to = -float(rng.uniform(*prof.push_off_deg))
            start = max(te, min(pk - 0.02, to + z + 2.0 * foot_to / float(rng.uniform(*prof.push_off_dps))))
            foot.area_bump(foot.pitch, start, pk, to + z, foot_to)
            if i > 0 and events[i - 1][1] == "standing_end":  # gait initiation, from standing upright
                t_end = events[i - 1][0]
                shank_to = float(rng.uniform(*prof.shank_to_deg))
                shank.area_bump(shank.pitch, t_end, to - 0.01, to + 0.06, shank_to)
        elif kind == "toe_off":
            hs = nxt[0][0] if nxt and nxt[0][1] == "heel_strike" else te + SWING_IF_UNKNOWN_S
            if shank_to is None:  # the recording began in this stance (mid-stride)
                shank_to = float(rng.uniform(*prof.shank_to_deg))
            foot_hs = float(rng.uniform(*prof.hs_pitch_deg))
            shank_hs = float(rng.uniform(*prof.shank_hs_deg))
            _swing(prof, rng, foot, shank, te, hs, foot_hs - foot_to, shank_hs - shank_to)
        elif kind == "heel_strike":
            _slap(prof, rng, foot, shank, fa, te, foot_hs, nxt)
            sa.t.append(te)
            sa.deg.append(shank_hs)
            if nxt and nxt[0][1] == "standing_start":  # the last step: the shank comes upright
                shank.area_bump(shank.pitch, te + 0.05, te + 0.2, nxt[0][0], -shank_hs)
            elif len(nxt) == 2 and nxt[1][1] == "toe_off":
                shank_to = float(rng.uniform(*prof.shank_to_deg))
                _stance(prof, rng, foot, shank, te, nxt[0][0], nxt[1][0], shank_hs, shank_to, pivots)
            else:
                shank_to = None


def _swing(prof: ImuProfile, rng: np.random.Generator, foot: _Track, shank: _Track, to: float, hs: float,
           foot_turn: float, shank_turn: float) -> None:
    """Toe off -> heel strike: the foot pitches up by `foot_turn` deg (from its push-off angle to
    its heel-strike angle), the shank swings forward by `shank_turn` deg; the foot is carried
    forward (accelerated, then braked) and lifted, then lowered."""
    s0 = to + float(rng.uniform(0.04, 0.07))
    s1 = hs - float(rng.uniform(0.02, 0.05))
    if s1 - s0 < 0.1:
        s0, s1 = to + 0.3 * (hs - to), hs
    foot.area_bump(foot.pitch, s0, s0 + float(rng.uniform(0.40, 0.50)) * (s1 - s0), s1, max(foot_turn, 5.0))
    a0, a1 = to + 0.03, hs - 0.01
    if a1 - a0 > 0.1:
        shank.area_bump(shank.pitch, a0, a0 + float(rng.uniform(0.40, 0.55)) * (a1 - a0), a1, max(shank_turn, 5.0))
    acc = float(rng.uniform(*prof.swing_acc_g))
    lift = float(rng.uniform(*prof.lift_g))
    for track, k in ((foot, 1.0), (shank, 0.45)):
        track.wave(track.fwd, to, hs, k * acc)
        track.wave(track.up, to, hs, k * lift)


def _slap(prof: ImuProfile, rng: np.random.Generator, foot: _Track, shank: _Track, fa: _Anchors, hs: float,
          pitch_deg: float, nxt: list[tuple[float, str]]) -> None:
    """Heel strike: the foot rotates flat (a short spike, negative after a toe-up landing) and
    both segments take the impact; the foot is flat from then on (its anchor)."""
    d = float(rng.uniform(*prof.foot_flat_s))
    if nxt:
        d = min(d, 0.5 * (nxt[0][0] - hs))
    foot.area_bump(foot.pitch, hs, hs + 0.3 * d, hs + d, -pitch_deg)
    impact = float(rng.uniform(*prof.impact_g))
    for track, k in ((foot, 1.0), (shank, 0.5)):
        track.bump(track.up, hs, hs + 0.012, hs + 0.045, k * impact)
        track.bump(track.fwd, hs, hs + 0.015, hs + 0.05, -0.4 * k * impact)
    fa.t.append(hs + d + 0.01)
    fa.deg.append(0.0)


def _stance(prof: ImuProfile, rng: np.random.Generator, foot: _Track, shank: _Track, hs: float, ho: float,
            to: float, shank_hs: float, shank_to: float, pivots: list[tuple[float, float]]) -> None:
    """Heel strike -> toe off of the shank (a dip at the impact, the slow roll over the foot,
    the pre-swing minimum near toe off), and a pivot turn if one lies in this stance."""
    dip = float(rng.uniform(2.0, 4.0))
    shank.area_bump(shank.pitch, hs, hs + 0.02, hs + 0.08, -dip)
    rest = shank_to - shank_hs + dip
    pre = float(rng.uniform(0.45, 0.60))
    shank.area_bump(shank.pitch, hs + 0.06, hs + 0.06 + 0.7 * (ho - hs - 0.06), ho + 0.05, (1.0 - pre) * rest)
    shank.area_bump(shank.pitch, ho - 0.05, to - 0.01, to + 0.05, pre * rest)
    for p0, p1 in pivots:
        if hs < p0 < ho:
            _pivot(prof, rng, foot, shank, p0, p1)


def _pivot(prof: ImuProfile, rng: np.random.Generator, foot: _Track, shank: _Track, p0: float, p1: float) -> None:
    """A turn on the ball of the foot: the heel lifts as it unloads (just before `p0`), the foot
    and shank turn about the vertical axis (z) in one burst, a little roll wobble, and the heel
    comes down again as it reloads (just after `p1`).

    The sizes are those of real turns on the spot: see PIVOT_LIFT_DEG and the constants after it.
    The heel is lifted slowly (a lobe of 40-110 deg/s), not like a push-off (400-650 deg/s), and
    lowered as slowly, not like a swing lobe; the turn is a burst of 0.15-0.7 s, not spread over
    the whole time the heel is up."""
    room = 0.5 * (p1 - p0 + PIVOT_LIFT_LEAD_S + PIVOT_LOWER_LAG_S)  # lift and lowering may not overlap
    lift = min(float(rng.uniform(*PIVOT_LIFT_DEG)), 0.5 * PIVOT_PITCH_DPS[1] * room)  # a short pivot: less lift
    for sign, start in ((-1.0, p0 - PIVOT_LIFT_LEAD_S), (1.0, p1 + PIVOT_LOWER_LAG_S)):
        peak = float(rng.uniform(*PIVOT_PITCH_DPS))
        d = min(max(2.0 * lift / peak, PIVOT_LOBE_S[0]), PIVOT_LOBE_S[1], room)
        a, b = (start, start + d) if sign < 0.0 else (start - d, start)
        foot.bump(foot.pitch, a, a + float(rng.uniform(0.4, 0.6)) * d, b, sign * 2.0 * lift / d)
    turn = float(rng.uniform(*prof.turn_deg)) * (1.0 if rng.random() < 0.5 else -1.0)
    d = min(max(2.0 * abs(turn) / float(rng.uniform(*PIVOT_YAW_DPS)), PIVOT_TURN_S[0]), PIVOT_TURN_S[1], p1 - p0)
    turn = math.copysign(min(abs(turn), 0.5 * PIVOT_YAW_DPS[1] * d), turn)  # the peak stays in the real range
    y0 = p0 + float(rng.uniform(0.0, 1.0)) * (p1 - p0 - d)
    mid = y0 + float(rng.uniform(0.4, 0.6)) * d
    for track, k in ((foot, 1.0), (shank, 0.9)):
        track.area_bump(track.yaw, y0, mid, y0 + d, k * turn)
        i, j = np.searchsorted(track.t, [p0, p1])
        track.roll[i:j] += k * float(rng.uniform(8.0, 20.0)) * np.sin(
            2.0 * np.pi * float(rng.uniform(1.0, 2.0)) * (track.t[i:j] - p0))


def _sway(rng: np.random.Generator, t: np.ndarray, rate: float, amp_dps: float) -> np.ndarray:
    """Slow body sway on the three gyro axes (deg/s): what standing still and weight shifts show."""
    k = max(2, int(0.5 * rate))
    out = np.empty((3, t.size))
    for a in range(3):
        x = np.cumsum(rng.normal(0.0, 1.0, t.size + k))
        x = (x[k:] - x[:-k]) / k
        x -= x.mean()
        out[a] = amp_dps * x / (float(np.max(np.abs(x))) or 1.0)
    return out


def _pitch_angle(rate_dps: np.ndarray, rate: float, t: np.ndarray, anchors: _Anchors) -> np.ndarray:
    """The segment's pitch (deg): the integrated sagittal rate, pinned to the known angles at
    the anchors (so numerical residue and the sway do not add up over a walk)."""
    angle = np.cumsum(rate_dps) / rate
    if anchors.t:
        order = np.argsort(anchors.t)
        at = np.asarray(anchors.t)[order]
        want = np.asarray(anchors.deg)[order]
        got = np.interp(at, t, angle)
        angle -= np.interp(t, at, got - want)
    return angle


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A small random mounting misalignment."""
    ax, ay, az = np.radians(rng.uniform(-MISALIGN_DEG, MISALIGN_DEG, 3))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    out: np.ndarray = rz @ ry @ rx
    return out


def _sensor(rng: np.random.Generator, track: _Track, pitch_deg: np.ndarray, lateral_g: float, rate: float,
            gyro_range_dps: float, dropouts_per_min: float) -> np.ndarray:
    """What the sensor reads: the FRD rates and specific force, misaligned, biased, drifting,
    noisy, saturated, with dropouts (NaN)."""
    n = track.t.size
    th = np.radians(pitch_deg)
    up = track.up + 1.0  # specific force: gravity reads as 1 g upwards
    acc = np.stack((track.fwd * np.cos(th) + up * np.sin(th),
                    0.05 * lateral_g * np.sin(2 * np.pi * 0.9 * track.t),
                    track.fwd * np.sin(th) - up * np.cos(th)), axis=1)
    gyr = np.stack((track.roll, track.pitch, track.yaw), axis=1)
    r = _rotation(rng)
    gyr, acc = gyr @ r.T, acc @ r.T
    slow = max(2, n // 20)
    for x, noise, bias, drift in ((gyr, (0.3, 1.0), 2.0, (0.5, 2.0)), (acc, (0.004, 0.012), 0.02, (0.002, 0.01))):
        for a in range(3):
            walk = np.cumsum(rng.normal(0.0, 1.0, n + slow))
            walk = (walk[slow:] - walk[:-slow]) / slow
            walk -= walk.mean()
            walk *= float(rng.uniform(*drift)) / (float(np.max(np.abs(walk))) or 1.0)
            x[:, a] += float(rng.uniform(-bias, bias)) + walk + rng.normal(0.0, float(rng.uniform(*noise)), n)
    out = np.hstack((np.clip(gyr, -gyro_range_dps, gyro_range_dps), np.clip(acc, -ACC_RANGE_G, ACC_RANGE_G)))
    if dropouts_per_min > 0.0:
        for _ in range(int(rng.poisson(dropouts_per_min * n / rate / 60.0))):
            k0 = int(rng.integers(0, n))
            out[k0:k0 + max(1, int(round(float(rng.uniform(*DROPOUT_S)) * rate)))] = np.nan
    return out.astype(np.float32)
