"""The adaptive heel detector kernel: learned levels, guards, onset delay, signal health.

Traces come from :func:`gait_trace`, a small deterministic model of heel and forefoot force
with known event samples (also used by test_detectors.py). The kernel is compared with its
plain-Python twin (``.py_func``) and checked for chunk invariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from fescontrol.core import adaptive_heel as ah
from fescontrol.core.detectors import AdaptiveHeelParams
from fescontrol.core.events import (
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EV_NONE,
    EV_STIM_ABORT,
    PH_CONTACT,
    PH_SWING,
    PH_UNKNOWN,
)

RATE = 100.0


@dataclass
class Trace:
    heel: np.ndarray
    fore: np.ndarray
    hs: list[int]
    """Heel strike (contact onset) samples."""
    ho: list[int]
    """Heel-off samples (heel fully unloaded)."""
    to: list[int]
    """Toe-off samples."""


def gait_trace(n_strides: int = 20, *, heel_peak: float = 300.0, fore_peak: float = 600.0,
               stride_s: float = 1.1, stance_share: float = 0.62, heel_off_share: float = 0.42,
               rate: float = RATE, stand_s: float = 1.0, gain: float = 1.0, preload: float = 0.0,
               seed: int = 0, pivots: tuple[int, ...] = ()) -> Trace:
    """Standing, then walking strides, then standing; heel and forefoot in newtons.

    Per stride (from heel strike): the heel rises within 30 ms to its peak, sinks to 30 % of it
    by mid-stance and reaches 0 at heel-off (``heel_off_share`` of the stride); the forefoot
    loads from 10 % of the stride, peaks 60 ms before toe-off and is 0 from toe-off
    (``stance_share``) to the next heel strike. Peaks vary +-10 % (seeded). In a stride listed
    in ``pivots`` the foot does not swing: the heel unloads for 0.3 s in mid-stance while the
    forefoot stays loaded, then the stride goes on.
    """
    rng = np.random.default_rng(seed)
    stride = int(round(stride_s * rate))
    stance = int(round(stance_share * stride))
    ho_at = int(round(heel_off_share * stride))
    stand = int(round(stand_s * rate))
    n = 2 * stand + n_strides * stride
    heel = np.zeros(n)
    fore = np.zeros(n)
    heel[:stand] = 0.5 * heel_peak
    fore[:stand] = 0.5 * fore_peak
    hs, ho, to = [], [], []
    rise = max(2, int(round(0.03 * rate)))
    for k in range(n_strides):
        s0 = stand + k * stride
        hp = heel_peak * rng.uniform(0.9, 1.1)
        fp = fore_peak * rng.uniform(0.9, 1.1)
        t = np.arange(stride)
        h = np.zeros(stride)
        h[:rise] = np.linspace(hp / rise, hp, rise)
        mid = max(rise + 2, min(stance // 2, ho_at - 5))
        h[rise:mid] = np.linspace(hp, 0.3 * hp, mid - rise)
        h[mid:ho_at] = np.linspace(0.3 * hp, 0.0, ho_at - mid)
        f = np.zeros(stride)
        f0 = int(0.1 * stride)
        fpk = stance - max(1, int(round(0.06 * rate)))
        f[f0:fpk] = np.linspace(0.0, fp, fpk - f0)
        f[fpk:stance] = np.linspace(fp, 0.0, stance - fpk + 1)[:-1]
        if k in pivots:
            p0 = ho_at - int(0.3 * rate) - 20
            h[p0:p0 + int(0.3 * rate)] = 0.0
        heel[s0:s0 + stride] = h
        fore[s0:s0 + stride] = f
        hs.append(s0)
        ho.append(s0 + ho_at)
        to.append(s0 + stance)
        del t
    # the walk ends with a heel strike into standing
    heel[stand + n_strides * stride:] = 0.5 * heel_peak
    fore[stand + n_strides * stride:] = 0.5 * fore_peak
    return Trace(heel * gain + preload, fore * gain + preload, hs, ho, to)


def params(**kw: object) -> np.ndarray:
    return AdaptiveHeelParams(**kw).kernel_params(RATE)  # type: ignore[arg-type]


def run(force: np.ndarray, p: np.ndarray | None = None, state: np.ndarray | None = None,
        fn=ah.detect_adaptive_heel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    force = np.ascontiguousarray(force, dtype=np.float64)
    state = ah.new_adaptive_heel_state() if state is None else state
    ev = np.zeros(force.shape[0], dtype=np.int8)
    back = np.zeros(force.shape[0], dtype=np.int32)
    fn(force, state, params() if p is None else p, ev, back)
    return ev, back, state


def events(ev: np.ndarray, back: np.ndarray, code: int) -> list[tuple[int, int]]:
    """(deciding sample, physical sample) of every event with ``code``."""
    return [(int(i), int(i) - int(back[i])) for i in np.flatnonzero(ev == code)]


# ------------------------------------------------------------------ twin, chunks, shapes

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kw", [{}, {"onset_delay": False}, {"swing_timeout_share": 1.5},
                                {"release_share": 0.1, "contact_share": 0.3}])
def test_kernel_matches_python_twin(seed: int, kw: dict[str, object]) -> None:
    tr = gait_trace(25, seed=seed, heel_peak=[300.0, 40.0, 800.0, 120.0][seed],
                    preload=[0.0, 0.0, 30.0, 5.0][seed], pivots=(8, 15))
    force = tr.heel + np.random.default_rng(seed).normal(0.0, 0.5, tr.heel.shape[0])
    force[300:305] = np.nan
    p = params(**kw)
    a = run(force, p)
    b = run(force, p, fn=ah.detect_adaptive_heel.py_func)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    assert np.count_nonzero(a[0] == EV_HEEL_STRIKE) >= 20


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_chunked_equals_one_call(chunk: int) -> None:
    tr = gait_trace(15, seed=3, pivots=(5,))
    whole = run(tr.heel)
    state = ah.new_adaptive_heel_state()
    parts = [run(tr.heel[i:i + chunk], state=state)[:2] for i in range(0, tr.heel.shape[0], chunk)]
    np.testing.assert_array_equal(whole[0], np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(whole[1], np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(whole[2], state)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="out arrays"):
        ah.detect_adaptive_heel(np.zeros(3), ah.new_adaptive_heel_state(), params(),
                                np.zeros(2, np.int8), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="state"):
        ah.detect_adaptive_heel(np.zeros(3), np.zeros(3), params(), np.zeros(3, np.int8),
                                np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="params"):
        ah.detect_adaptive_heel(np.zeros(3), ah.new_adaptive_heel_state(), np.zeros(3),
                                np.zeros(3, np.int8), np.zeros(3, np.int32))


# ------------------------------------------------------------------ learned levels

def strikes_and_offs(force: np.ndarray, **kw: object) -> tuple[list[int], list[int]]:
    ev, back, _ = run(force, params(**kw))
    return ([t for _, t in events(ev, back, EV_HEEL_STRIKE)],
            [t for _, t in events(ev, back, EV_HEEL_OFF)])


@pytest.mark.parametrize("heel_peak", [25.0, 60.0, 300.0, 900.0])
def test_every_step_is_found_for_any_body_weight(heel_peak: float) -> None:
    tr = gait_trace(20, heel_peak=heel_peak)
    hs, ho = strikes_and_offs(tr.heel, onset_delay=False)
    # every heel strike after a swing (the first stride starts from standing), and the one
    # into standing at the end, within 20 ms
    want = tr.hs[1:] + [tr.hs[-1] + tr.hs[1] - tr.hs[0]]
    assert len(hs) == 20
    assert all(abs(a - b) <= 2 for a, b in zip(hs, want, strict=True))
    # heel-offs: one per stride (the first from standing included), before the heel is off
    assert len(ho) == 20
    assert all(0 <= t - h <= 15 for h, t in zip(ho, tr.ho, strict=True))


@pytest.mark.parametrize("gain,preload", [(0.5, 0.0), (2.0, 0.0), (1.0, 30.0), (1.0, 60.0)])
def test_gain_and_preload_change_nothing_after_the_first_stride(gain: float, preload: float) -> None:
    base = gait_trace(20, heel_peak=200.0)
    other = gait_trace(20, heel_peak=200.0, gain=gain, preload=preload)
    hs0, ho0 = strikes_and_offs(base.heel, onset_delay=False)
    hs1, ho1 = strikes_and_offs(other.heel, onset_delay=False)
    assert hs1[1:] == hs0[1:]
    assert len(ho1) >= 19
    assert ho1[-18:] == pytest.approx(ho0[-18:], abs=1)


def test_first_step_from_standing_is_stimulated() -> None:
    tr = gait_trace(3)
    ev, back, _ = run(tr.heel)
    offs = events(ev, back, EV_HEEL_OFF)
    assert offs and offs[0][1] <= tr.ho[0] and offs[0][1] >= tr.hs[0]


def test_a_preload_found_at_the_first_swing() -> None:
    tr = gait_trace(6, heel_peak=100.0, preload=30.0)
    ev, back, state = run(tr.heel)
    assert state[ah.S_LO] == pytest.approx(30.0, abs=0.5)
    assert state[ah.S_LO_GUESSED] == 0.0
    assert len(events(ev, back, EV_HEEL_OFF)) >= 5


def test_a_preload_on_a_light_heel_found_in_the_first_swing() -> None:
    """A walk cut just after a heel strike, light heel (40 N) on a 30 N preload: the floor at
    30 N is 43 % of the highest force seen, so it is found (FLOOR_DEPTH) during the first
    swing, and that swing is stimulated."""
    tr = gait_trace(6, heel_peak=40.0, preload=30.0)
    cut = tr.hs[0] + 5
    ev, back, state = run(tr.heel[cut:])
    offs = [t + cut for _, t in events(ev, back, EV_HEEL_OFF)]
    assert state[ah.S_LO] == pytest.approx(30.0, abs=0.5)
    assert offs and offs[0] < tr.to[0]
    assert len(offs) == 6


def test_a_walk_starting_on_a_barely_loaded_heel_over_a_preload_keeps_its_first_swing() -> None:
    """A walk cut at the end of a stance (gaitpdb JuPt02 left with +30 N): the heel reads 44 N,
    falls to a flat 30 N (the preload: the foot is in swing) and only then strikes. 30 N is
    68 % of the highest force seen so far, so the floor is found (FLOOR_DEPTH) within that first
    swing, which is stimulated."""
    tr = gait_trace(6, heel_peak=150.0, preload=30.0)
    start = tr.ho[0] - 4  # heel at about 45 N, falling
    heel = tr.heel[start:]
    assert 38.0 <= heel[0] <= 50.0
    ev, back, state = run(heel)
    offs = [t + start for _, t in events(ev, back, EV_HEEL_OFF)]
    assert state[ah.S_LO] == pytest.approx(30.0, abs=0.5)
    assert offs and offs[0] < tr.hs[1]
    assert len(offs) == 6


def test_levels_follow_the_wearer() -> None:
    tr = gait_trace(20, heel_peak=150.0)
    _, _, state = run(tr.heel)
    assert state[ah.S_LO] == pytest.approx(0.0, abs=1e-9)
    assert 130.0 <= state[ah.S_HI] <= 170.0
    assert state[ah.S_N_HIST] == ah.HISTORY
    assert ah.ring_median(state, ah.S_HIST_T, ah.HISTORY) == pytest.approx(110.0, abs=1.0)


def test_a_signal_without_range_never_triggers() -> None:
    rng = np.random.default_rng(1)
    force = 200.0 + rng.normal(0.0, 1.0, 3000)
    ev, _, state = run(force)
    # taken as standing on a tared sensor (a contact), but it never releases
    assert not ev.any() and int(state[ah.S_PHASE]) == PH_CONTACT
    ev, _, state = run(rng.uniform(0.0, 4.0, 3000))  # noise around 0 N: nothing at all
    assert not ev.any() and int(state[ah.S_PHASE]) == PH_UNKNOWN


def test_nan_is_no_evidence() -> None:
    tr = gait_trace(10)
    force = tr.heel.copy()
    ho = tr.ho[5]
    force[ho - 5:ho + 30] = np.nan  # the heel-off happens in a gap
    ev, back, _ = run(force)
    offs = [t for _, t in events(ev, back, EV_HEEL_OFF)]
    assert not any(ho - 5 <= t < ho + 30 for t in offs)
    # decided after the gap, from the first samples seen below the threshold
    assert any(ho + 30 <= t <= ho + 32 for t in offs)


# ------------------------------------------------------------------ guards and weak contacts

def test_a_graze_is_not_a_contact_but_a_weak_sustained_load_is() -> None:
    tr = gait_trace(10, heel_peak=100.0)
    force = tr.heel.copy()
    k = 7
    graze = tr.to[k] + 15
    force[graze:graze + 8] = 12.0  # 12 % of the range for 80 ms: a graze
    hs, _ = strikes_and_offs(force, onset_delay=False)
    assert not any(graze <= t < graze + 8 for t in hs)
    assert any(abs(t - tr.hs[k + 1]) <= 2 for t in hs)
    # a weak contact (15 N for a whole stance) still ends the swing
    force = tr.heel.copy()
    s0, s1 = tr.hs[k], tr.ho[k]
    force[s0:s1] = np.minimum(force[s0:s1], 15.0)
    hs, _ = strikes_and_offs(force, onset_delay=False)
    assert any(abs(t - s0) <= 1 for t in hs)


def test_minimum_contact_grows_with_the_wearer() -> None:
    tr = gait_trace(12, stride_s=2.0)
    force = tr.heel.copy()
    k = 9
    dip = tr.hs[k] + 12  # a 60 ms dip to 0 only 0.12 s into a 0.84 s contact
    force[dip:dip + 6] = 0.0
    # with the profile floor at 0, 0.3 x the running median contact (0.25 s) still rejects it
    _, ho = strikes_and_offs(force, onset_delay=False, min_contact_s=0.0)
    assert not any(dip <= t < dip + 6 for t in ho), "a dip early in stance is no heel-off"
    _, ho = strikes_and_offs(force, onset_delay=False, min_contact_s=0.0, guard_share=0.0)
    assert any(dip <= t < dip + 6 for t in ho)


# ------------------------------------------------------------------ onset delay

def test_onset_delay_is_learned_and_backdated_to_the_heel_off() -> None:
    # shuffling: the heel leaves at 25 % of the stride, toe-off at 65 %
    tr = gait_trace(20, stride_s=1.3, stance_share=0.65, heel_off_share=0.25)
    ev0, back0, _ = run(tr.heel, params(onset_delay=False))
    ev1, back1, state = run(tr.heel, params())
    off0 = events(ev0, back0, EV_HEEL_OFF)
    off1 = events(ev1, back1, EV_HEEL_OFF)
    assert len(off0) == len(off1) == 20
    # same physical heel-off times (events.csv), bursts decided later once strides are known
    assert [t for _, t in off0] == [t for _, t in off1]
    delays = [d1 - d0 for (d0, _), (d1, _) in zip(off0, off1, strict=True)]
    assert delays[:ah.MIN_HISTORY] == [0] * ah.MIN_HISTORY
    # expected: U - 0.38 T - 0.16 s = (1.3 - 0.325) - 0.494 - 0.16 = 0.32 -> capped at 0.30 s
    assert all(25 <= d <= 31 for d in delays[-10:])
    # the burst still starts before toe-off
    tos = tr.to[-10:]
    assert all(d < t for (d, _), t in zip(off1[-10:], tos, strict=True))


def test_a_heel_back_within_the_delay_starts_no_burst() -> None:
    tr = gait_trace(20, stride_s=1.3, stance_share=0.65, heel_off_share=0.25)
    force = tr.heel.copy()
    k = 15
    # a stride where the heel comes back 0.1 s after leaving: a weight shift, not a step
    force[tr.ho[k] + 10:tr.to[k]] = 60.0
    force[tr.to[k]:tr.hs[k + 1]] = 60.0
    ev, back, _ = run(force)
    offs = [t for _, t in events(ev, back, EV_HEEL_OFF)]
    assert tr.ho[k] not in offs and not any(tr.ho[k] - 2 <= t <= tr.ho[k] + 2 for t in offs)


def test_the_first_heel_off_after_standing_keeps_the_learned_delay() -> None:
    """After a standing pause (a contact longer than max_stride_s) the heel-off that starts
    walking again is a real one: the full learned delay, not the irregular-contact share."""
    tr = gait_trace(20, stride_s=1.3, stance_share=0.65, heel_off_share=0.25, stand_s=2.0)
    force = np.r_[tr.heel, tr.heel]
    ev, back, _ = run(force)
    offs = events(ev, back, EV_HEEL_OFF)
    assert len(offs) == 40
    first_again = offs[20]
    assert abs(first_again[1] - (tr.ho[0] + tr.heel.shape[0])) <= 2
    assert first_again[0] - first_again[1] >= 25  # the learned delay (0.30 s cap), not 30 % of it


def test_onset_delay_is_bounded_by_the_profile() -> None:
    tr = gait_trace(20, stride_s=1.6, stance_share=0.7, heel_off_share=0.2)
    ev, back, _ = run(tr.heel, params(max_onset_delay_s=0.1))
    delays = [d - t for d, t in events(ev, back, EV_HEEL_OFF)]
    assert max(delays) <= 10 + 2  # 0.1 s, plus the debounce already inside back


def test_swing_timeout_aborts_a_burst_on_a_forefoot_stand() -> None:
    tr = gait_trace(14)
    k = 10
    extra = 300  # the heel stays off 3 s longer in stride k (standing on the forefoot)
    force = np.concatenate([tr.heel[:tr.hs[k + 1]], np.zeros(extra), tr.heel[tr.hs[k + 1]:]])
    ev, _, _ = run(force, params(swing_timeout_share=2.0))
    aborts = np.flatnonzero(ev == EV_STIM_ABORT)
    assert aborts.size == 1
    assert tr.ho[k] + 80 <= aborts[0] <= tr.ho[k] + 160
    ev, _, _ = run(force, params())
    assert not np.any(ev == EV_STIM_ABORT)


# ------------------------------------------------------------------ signal problems

def problem(force: np.ndarray, **kw: object) -> str | None:
    _, _, state = run(force, params(**kw))
    return ah.signal_problem(state, RATE, AdaptiveHeelParams(**kw).min_range_N)  # type: ignore[arg-type]


def test_signal_problems_are_named() -> None:
    assert problem(gait_trace(10).heel) is None
    assert "stuck at 250.0 N" in str(problem(np.full(1200, 250.0)))
    rng = np.random.default_rng(0)
    assert "never crosses" in str(problem(rng.uniform(0.0, 3.0, 1000)))
    quiet = str(problem(300.0 + rng.uniform(0.0, 3.0, 1100)))
    assert "flat at 301 N" in quiet and "preloaded" in quiet
    # steps of less than min_range_n on top of a big preload: not usable, and said so
    assert "preload" in str(problem(np.tile(np.r_[np.full(40, 300.0), np.full(60, 303.0)], 12)))
    # a learned range that has shrunk below min_range_n on a preload
    state = ah.new_adaptive_heel_state()
    state[ah.S_PHASE], state[ah.S_LO], state[ah.S_HI], state[ah.S_N_VALID] = PH_CONTACT, 300.0, 303.0, 1000
    assert "preload too high: never below 300.0 N" in str(ah.signal_problem(state, RATE, 6.0))
    sat = np.minimum(gait_trace(10, heel_peak=400.0).heel, 250.0)
    assert "saturated" in str(problem(sat))
    assert problem(rng.uniform(0.0, 3.0, 300)) is None  # not before 5 s of signal


def test_phases() -> None:
    tr = gait_trace(3)
    _, _, state = run(tr.heel[:tr.hs[1] + 10])
    assert int(state[ah.S_PHASE]) == PH_CONTACT
    _, _, state = run(tr.heel[:tr.to[1] + 10])
    assert int(state[ah.S_PHASE]) == PH_SWING
    assert EV_NONE == 0


def test_a_walk_cut_mid_stance_keeps_its_first_swing() -> None:
    """The recording starts 10 samples before heel-off (heel loaded, falling; gaitpdb GaPt05
    right, SiPt04 left): the contact present from the first sample has no heel strike to
    debounce, so the minimum contact (0.25 s) does not hold its heel-off back and the burst
    starts before toe-off."""
    tr = gait_trace(6)
    start = tr.ho[0] - 10
    assert tr.heel[start] > 50.0
    ev, back, _ = run(tr.heel[start:])
    offs = events(ev, back, EV_HEEL_OFF)
    assert offs and offs[0][0] + start <= tr.ho[0] + 2
    assert offs[0][0] < AdaptiveHeelParams().min_contact_s * RATE
    assert len(offs) == 6
