"""Unit tests of the heel-switch detector, the envelope and the batch runner (known answers).

Sample-index conventions used below: a force trace that changes at sample k with debounce d
decides the event at sample k + d - 1 with onset_back d - 1; levels are the value holding
from a sample to the next (see fescontrol.core.envelope).
"""

from __future__ import annotations

import numpy as np
import pytest

from fescontrol.core.batch import BatchResult, run_batch, run_heel_switch_batch
from fescontrol.core.envelope import (
    ENV_LOCKOUT,
    ENV_OFF,
    ENV_PLATEAU,
    ENV_SLOT_PHASE,
    ENVELOPE_STATE_SIZE,
    EnvelopeParams,
    new_envelope_state,
    shape_envelope,
)
from fescontrol.core.heelswitch import (
    DET_AGE,
    DET_PHASE,
    DET_RUN,
    DET_SEEN,
    DETECTOR_STATE_SIZE,
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EV_NONE,
    PH_CONTACT,
    PH_SWING,
    PH_UNKNOWN,
    HeelSwitchParams,
    ceil_samples,
    detect_heel_switch,
    floor_samples,
    new_detector_state,
)

RATE = 100.0
HI = 200.0  # clearly loaded
LO = 0.0  # clearly unloaded
CONTACT = 80.0
RELEASE = 40.0
# Kernel defaults for the tests: debounce 2, min contact 25, min swing 20 samples (100 Hz).
DET = dict(contact=CONTACT, release=RELEASE, debounce=2, min_contact=25, min_swing=20)
# Envelope defaults: ramp up 6 samples, extension 5, ramp down 8, max stim 150 (at 100 Hz).
ENV = dict(ramp_up_s=0.06, extension_s=0.05, ramp_down_s=0.08, max_stim_s=1.5)


def detect(force, state=None, *, contact=CONTACT, release=RELEASE, debounce=2, min_contact=25,
           min_swing=20):
    force = np.ascontiguousarray(force, dtype=np.float64)
    state = new_detector_state() if state is None else state
    ev = np.zeros(force.shape[0], dtype=np.int8)
    back = np.zeros(force.shape[0], dtype=np.int32)
    n = detect_heel_switch(force, state, float(contact), float(release), int(debounce),
                           int(min_contact), int(min_swing), ev, back)
    return ev, back, n, state


def envelope(events, state=None, *, rate_hz=RATE, ramp_up_s=0.06, extension_s=0.05,
             ramp_down_s=0.08, max_stim_s=1.5):
    events = np.ascontiguousarray(events, dtype=np.int8)
    state = new_envelope_state() if state is None else state
    level = np.zeros(events.shape[0], dtype=np.float64)
    shape_envelope(events, state, float(rate_hz), float(ramp_up_s), float(extension_s),
                   float(ramp_down_s), float(max_stim_s), level)
    return level, state


def trace(*segments):
    """Concatenate (value, n_samples) segments."""
    return np.concatenate([np.full(n, v, dtype=np.float64) for v, n in segments])


def events_at(n, **at):
    ev = np.zeros(n, dtype=np.int8)
    for code, idxs in at.items():
        for i in np.atleast_1d(idxs):
            ev[i] = {"off": EV_HEEL_OFF, "strike": EV_HEEL_STRIKE}[code]
    return ev


def nonzero_events(ev, back):
    idx = np.flatnonzero(ev)
    return [(int(i), int(ev[i]), int(back[i])) for i in idx]


def gait_force(rng, n_steps=40, rate_hz=RATE, noise_N=8.0):
    """Synthetic heel force: stance/swing of varying length, noisy edges and a standing pause."""
    parts = [np.full(int(0.5 * rate_hz), 300.0)]  # start standing, loaded
    for k in range(n_steps):
        stance = int(rng.uniform(0.4, 1.0) * rate_hz)
        swing = int(rng.uniform(0.25, 0.6) * rate_hz)
        edge = rng.uniform(20, 120, size=3)  # some values between the thresholds
        parts += [np.full(stance, rng.uniform(250, 600)), edge, np.full(swing, 5.0), edge[::-1]]
        if k == n_steps // 2:
            parts.append(np.full(int(3 * rate_hz), 300.0))  # standing pause
            parts.append(np.full(int(2.5 * rate_hz), 0.0))  # long unload: watchdog case
    f = np.concatenate(parts)
    return f + rng.normal(0, noise_N, size=f.shape[0])


# ---------------------------------------------------------------------------------------
# detector


def test_fresh_detector_state_layout():
    s = new_detector_state()
    assert s.dtype == np.float64 and s.shape == (DETECTOR_STATE_SIZE,)
    assert s[DET_PHASE] == PH_UNKNOWN and s[DET_RUN] == 0 and s[DET_AGE] == -1 and s[DET_SEEN] == 0


def test_clean_step_down_then_up_gives_heel_off_then_heel_strike():
    # loaded 0..39 (first contact, no event), unloaded 40..69, loaded again from 70
    f = trace((HI, 40), (LO, 30), (HI, 30))
    ev, back, n, state = detect(f)
    assert nonzero_events(ev, back) == [(41, EV_HEEL_OFF, 1), (71, EV_HEEL_STRIKE, 1)]
    assert n == 2
    assert state[DET_PHASE] == PH_CONTACT
    assert state[DET_AGE] == 99 - 70  # contact began at sample 70
    assert state[DET_SEEN] == 100


@pytest.mark.parametrize("debounce", [1, 2, 3, 5])
def test_onset_back_is_debounce_minus_one(debounce):
    f = trace((HI, 40), (LO, 30), (HI, 30))
    ev, back, _, _ = detect(f, debounce=debounce)
    assert nonzero_events(ev, back) == [
        (40 + debounce - 1, EV_HEEL_OFF, debounce - 1),
        (70 + debounce - 1, EV_HEEL_STRIKE, debounce - 1),
    ]


def test_debounce_below_one_acts_as_one():
    f = trace((HI, 40), (LO, 30))
    ev, back, _, _ = detect(f, debounce=0)
    assert nonzero_events(ev, back) == [(40, EV_HEEL_OFF, 0)]


def test_chatter_between_thresholds_changes_nothing():
    between = np.tile([45.0, 79.0, 41.0, 60.0, 80.0, 40.0], 20)  # never < 40, never > 80
    f = np.concatenate([trace((HI, 30)), between, trace((HI, 5))])
    ev, back, n, state = detect(f)
    assert n == 0 and not ev.any()
    assert state[DET_PHASE] == PH_CONTACT
    # and in swing: values between the thresholds never make a heel strike
    f2 = np.concatenate([trace((HI, 30), (LO, 30)), between])
    ev2, back2, _, state2 = detect(f2)
    assert nonzero_events(ev2, back2) == [(31, EV_HEEL_OFF, 1)]
    assert state2[DET_PHASE] == PH_SWING


def test_alternating_across_threshold_faster_than_debounce_is_ignored():
    f = np.concatenate([trace((HI, 30)), np.tile([30.0, 50.0], 40)])
    ev, _, n, _ = detect(f, debounce=2)
    assert n == 0 and not ev.any()


def test_dip_shorter_than_debounce_does_nothing():
    f = trace((HI, 40), (LO, 2), (HI, 40))
    ev, _, n, state = detect(f, debounce=3)
    assert n == 0 and not ev.any()
    assert state[DET_PHASE] == PH_CONTACT
    # the same dip one sample longer is a heel off
    f = trace((HI, 40), (LO, 3), (HI, 40))
    ev, back, _, _ = detect(f, debounce=3)
    assert nonzero_events(ev, back)[0] == (42, EV_HEEL_OFF, 2)


def test_nan_breaks_a_run_and_is_no_evidence():
    f = trace((HI, 40), (LO, 1))
    f = np.concatenate([f, [np.nan], trace((LO, 1), (HI, 20))])
    ev, _, n, _ = detect(f, debounce=2)
    assert n == 0 and not ev.any()


def test_min_contact_rejects_a_short_unloading():
    # heel strike at 70 (decided 71); contact unloads at 70+10 for 5 samples -> too early
    f = trace((HI, 40), (LO, 30), (HI, 10), (LO, 5), (HI, 40))
    ev, back, _, _ = detect(f, min_contact=25)
    assert nonzero_events(ev, back) == [(41, EV_HEEL_OFF, 1), (71, EV_HEEL_STRIKE, 1)]


def test_min_contact_delays_a_held_unloading_until_the_minimum():
    # contact from 70; unloads at 80 and stays unloaded: accepted when age reaches 25 (sample 95),
    # backdated to the first unloaded sample (onset_back = 95 - 80)
    f = trace((HI, 40), (LO, 30), (HI, 10), (LO, 40))
    ev, back, _, _ = detect(f, min_contact=25)
    assert nonzero_events(ev, back) == [(41, EV_HEEL_OFF, 1), (71, EV_HEEL_STRIKE, 1),
                                        (95, EV_HEEL_OFF, 15)]


def test_min_contact_boundary_is_inclusive():
    # contact onset 70; unload at 94 -> decided at 95 with age 25 == min_contact
    f = trace((HI, 40), (LO, 30), (HI, 24), (LO, 10))
    ev, back, _, _ = detect(f, min_contact=25)
    assert nonzero_events(ev, back)[-1] == (95, EV_HEEL_OFF, 1)
    ev, back, _, _ = detect(f, min_contact=26)
    assert nonzero_events(ev, back)[-1] == (96, EV_HEEL_OFF, 2)


def test_min_swing_rejects_a_short_bump():
    # heel off onset 40; a 4-sample bump at 50 (age 10 < 20), then the real strike at 75
    f = trace((HI, 40), (LO, 10), (HI, 4), (LO, 21), (HI, 30))
    ev, back, _, _ = detect(f, min_swing=20)
    assert nonzero_events(ev, back) == [(41, EV_HEEL_OFF, 1), (76, EV_HEEL_STRIKE, 1)]


def test_min_swing_delays_a_held_contact_until_the_minimum():
    # heel off onset 40; contact from 50 and held: accepted at age 20 (sample 60), onset 50
    f = trace((HI, 40), (LO, 10), (HI, 30))
    ev, back, _, _ = detect(f, min_swing=20)
    assert nonzero_events(ev, back) == [(41, EV_HEEL_OFF, 1), (60, EV_HEEL_STRIKE, 10)]


def test_starting_unloaded_emits_nothing_until_a_contact_is_seen():
    f = np.concatenate([trace((LO, 50)), np.tile([30.0, 70.0, 10.0], 10), trace((LO, 20))])
    ev, _, n, state = detect(f)
    assert n == 0 and not ev.any()
    assert state[DET_PHASE] == PH_UNKNOWN
    # then a contact (no event), then unloading: the first event is a heel off
    f2 = trace((HI, 30), (LO, 10))
    ev2, back2, _, state = detect(f2, state)
    assert nonzero_events(ev2, back2) == [(31, EV_HEEL_OFF, 1)]
    assert state[DET_PHASE] == PH_SWING


def test_first_contact_is_not_a_heel_strike():
    f = trace((LO, 30), (HI, 30))
    ev, _, n, state = detect(f, min_swing=0)
    assert n == 0 and not ev.any()
    assert state[DET_PHASE] == PH_CONTACT
    assert state[DET_AGE] == 59 - 30  # contact began at sample 30, backdated
    # a first contact is not subject to min_swing either: it is accepted at once
    ev, _, _, state = detect(trace((LO, 1), (HI, 2)), min_swing=1000)
    assert state[DET_PHASE] == PH_CONTACT


def test_detector_rejects_mismatched_outputs_and_bad_state():
    f = np.zeros(5)
    with pytest.raises(ValueError):
        detect_heel_switch(f, new_detector_state(), 80.0, 40.0, 2, 1, 1,
                           np.zeros(4, np.int8), np.zeros(5, np.int32))
    with pytest.raises(ValueError):
        detect_heel_switch(f, np.zeros(DETECTOR_STATE_SIZE + 1), 80.0, 40.0, 2, 1, 1,
                           np.zeros(5, np.int8), np.zeros(5, np.int32))


def test_empty_chunk_is_a_no_op():
    state = new_detector_state()
    ev, _, n, state2 = detect(np.zeros(0), state)
    assert n == 0 and ev.shape == (0,)
    np.testing.assert_array_equal(state2, new_detector_state())


# ---------------------------------------------------------------------------------------
# params


def test_heel_switch_params_samples_round_up():
    p = HeelSwitchParams(80.0, 40.0, 2, 0.25, 0.20)
    assert p.samples(100.0) == (2, 25, 20)
    assert p.samples(100.0).min_contact_samples == 25
    q = HeelSwitchParams(80.0, 40.0, 3, 0.07, 0.205)  # 0.07*100 = 7.000000000000001 in floats
    assert q.samples(100.0) == (3, 7, 21)
    assert q.samples(1000.0) == (3, 70, 205)
    assert all(type(x) is int for x in q.samples(100.0))
    assert p.kernel_args(100.0) == (80.0, 40.0, 2, 25, 20)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(contact_threshold_N=40.0, release_threshold_N=40.0), "release_threshold_N"),
        (dict(contact_threshold_N=30.0, release_threshold_N=40.0), "release_threshold_N"),
        (dict(contact_threshold_N=-1.0), "contact_threshold_N"),
        (dict(release_threshold_N=0.0), "release_threshold_N"),
        (dict(contact_threshold_N=float("nan")), "contact_threshold_N"),
        (dict(debounce_samples=0), "debounce_samples"),
        (dict(debounce_samples=2.0), "debounce_samples"),
        (dict(debounce_samples=True), "debounce_samples"),
        (dict(min_contact_s=-0.1), "min_contact_s"),
        (dict(min_swing_s=float("inf")), "min_swing_s"),
        (dict(min_swing_s="0.2"), "min_swing_s"),
    ],
)
def test_heel_switch_params_validation_names_the_field(kwargs, field):
    base = dict(contact_threshold_N=80.0, release_threshold_N=40.0, debounce_samples=2,
                min_contact_s=0.25, min_swing_s=0.2)
    base.update(kwargs)
    with pytest.raises(ValueError, match=field):
        HeelSwitchParams(**base)


def test_heel_switch_params_rejects_bad_rate():
    p = HeelSwitchParams(80.0, 40.0, 2, 0.25, 0.20)
    for bad in (0.0, -100.0, float("nan")):
        with pytest.raises(ValueError, match="rate_hz"):
            p.samples(bad)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(ramp_up_s=-0.01), "ramp_up_s"),
        (dict(extension_s=float("nan")), "extension_s"),
        (dict(ramp_down_s=-1.0), "ramp_down_s"),
        (dict(max_stim_s=0.0), "max_stim_s"),
        (dict(max_stim_s=None), "max_stim_s"),
    ],
)
def test_envelope_params_validation_names_the_field(kwargs, field):
    base = dict(ENV)
    base.update(kwargs)
    with pytest.raises(ValueError, match=field):
        EnvelopeParams(**base)


def test_envelope_params_zero_ramps_allowed():
    p = EnvelopeParams(0.0, 0.0, 0.0, 1.5)
    assert p.kernel_args() == (0.0, 0.0, 0.0, 1.5)


def test_sample_rounding_helpers():
    assert ceil_samples(0.07, 100.0) == 7
    assert ceil_samples(0.071, 100.0) == 8
    assert ceil_samples(0.0, 100.0) == 0
    assert floor_samples(0.29, 100.0) == 29  # 28.999999999999996 in floats
    assert floor_samples(0.299, 100.0) == 29
    assert floor_samples(1.5, 100.0) == 150


# ---------------------------------------------------------------------------------------
# envelope


def test_fresh_envelope_state_layout():
    s = new_envelope_state()
    assert s.dtype == np.float64 and s.shape == (ENVELOPE_STATE_SIZE,)
    assert s[ENV_SLOT_PHASE] == ENV_OFF and not s.any()


def test_ramp_up_plateau_extension_ramp_down_exact():
    ev = events_at(80, off=10, strike=40)
    level, state = envelope(ev)
    assert not level[:10].any()
    # ramp up over 6 samples, starting at the heel-off sample itself
    np.testing.assert_allclose(level[10:16], np.arange(1, 7) / 6.0, rtol=0, atol=1e-12)
    assert level[15] == 1.0
    # plateau until the heel strike, extension holds it for 5 samples (40..44)
    assert np.all(level[15:45] == 1.0)
    # ramp down over 8 samples from 45: 7/8 ... 0 at 52
    np.testing.assert_allclose(level[45:53], 1.0 - np.arange(1, 9) / 8.0, rtol=0, atol=1e-12)
    assert level[52] == 0.0
    assert not level[52:].any()
    assert state[ENV_SLOT_PHASE] == ENV_OFF


@pytest.mark.parametrize("ext_s, held", [(0.0, 0), (0.01, 1), (0.05, 5), (0.07, 7), (0.071, 8)])
def test_extension_length_in_samples(ext_s, held):
    ev = events_at(100, off=0, strike=30)
    level, _ = envelope(ev, extension_s=ext_s, ramp_down_s=0.0)
    assert np.all(level[30:30 + held] == 1.0)
    assert level[30 + held] == 0.0  # ramp_down 0: a step right after the hold


def test_zero_ramps_are_steps():
    ev = events_at(50, off=5, strike=20)
    level, _ = envelope(ev, ramp_up_s=0.0, extension_s=0.0, ramp_down_s=0.0)
    expected = np.zeros(50)
    expected[5:20] = 1.0
    np.testing.assert_array_equal(level, expected)


def test_heel_strike_during_ramp_up_holds_the_partial_level():
    ev = events_at(40, off=0, strike=3)  # level 1/6, 2/6, 3/6 at 0..2
    level, _ = envelope(ev)
    np.testing.assert_allclose(level[3:8], 0.5, atol=1e-12)  # extension holds 0.5
    # then ramps down at 1/8 per sample: 0.375, 0.25, 0.125, 0 at 8..11
    np.testing.assert_allclose(level[8:12], [0.375, 0.25, 0.125, 0.0], atol=1e-12)
    assert not level[11:].any()


def test_heel_off_during_ramp_down_restarts_ramp_up_from_current_level():
    ev = events_at(80, off=[0, 14], strike=10)
    level, _ = envelope(ev, extension_s=0.0)
    # strike at 10 (plateau): ramp down 7/8, 6/8, 5/8, 4/8 at 10..13
    np.testing.assert_allclose(level[10:14], [0.875, 0.75, 0.625, 0.5], atol=1e-12)
    # heel off at 14: up again from 0.5 at 1/6 per sample, reaching 1 at 16
    np.testing.assert_allclose(level[14:17], [0.5 + 1 / 6, 0.5 + 2 / 6, 1.0], atol=1e-12)
    assert level[16] == 1.0
    assert np.all(level[16:] == 1.0)


def test_heel_off_during_extension_restarts_ramp_up_from_held_level():
    ev = events_at(30, off=[0, 5], strike=3)
    level, _ = envelope(ev)
    np.testing.assert_allclose(level[3:5], 0.5, atol=1e-12)
    np.testing.assert_allclose(level[5:8], [0.5 + 1 / 6, 0.5 + 2 / 6, 1.0], atol=1e-12)


def test_ignored_events():
    # heel strike while OFF: nothing; second heel off during plateau: nothing new
    ev = events_at(60, strike=2, off=[10, 30])
    level, state = envelope(ev)
    assert not level[:10].any()
    assert np.all(level[15:] == 1.0)
    assert state[ENV_SLOT_PHASE] == ENV_PLATEAU


def test_max_stim_lockout_then_recovery_after_heel_strike():
    # heel off at 10, no heel strike: full level for 50 samples (max 0.5 s), ramp down from 60
    ev = events_at(200, off=[10, 100, 140], strike=120)
    level, state = envelope(ev, max_stim_s=0.5)
    assert level[59] == 1.0
    np.testing.assert_allclose(level[60:68], 1.0 - np.arange(1, 9) / 8.0, atol=1e-12)
    assert not level[67:140].any()  # the heel off at 100 is ignored
    # heel strike at 120 clears the lockout; the heel off at 140 starts a normal burst
    np.testing.assert_allclose(level[140:146], np.arange(1, 7) / 6.0, atol=1e-12)
    assert np.all(level[145:190] == 1.0)
    # and that burst is limited again: 140 + 50 = 190
    assert level[190] == pytest.approx(0.875)
    assert state[ENV_SLOT_PHASE] == ENV_LOCKOUT


def test_lockout_persists_across_chunks_and_phase_is_visible():
    state = new_envelope_state()
    level, state = envelope(events_at(70, off=0), state, max_stim_s=0.5)
    assert state[ENV_SLOT_PHASE] == ENV_LOCKOUT and level[-1] == 0.0
    level, state = envelope(events_at(20, off=5), state, max_stim_s=0.5)
    assert not level.any()
    level, state = envelope(events_at(20, strike=0, off=5), state, max_stim_s=0.5)
    assert level[5] > 0 and state[ENV_SLOT_PHASE] != ENV_LOCKOUT


def test_heel_strike_during_lockout_ramp_continues_the_ramp_down():
    ev = events_at(80, off=[0, 53], strike=52)
    level, _ = envelope(ev, max_stim_s=0.5)
    # lockout at 50: 0.875, 0.75 at 50, 51; strike at 52 keeps ramping: 0.625
    np.testing.assert_allclose(level[50:53], [0.875, 0.75, 0.625], atol=1e-12)
    # the heel off at 53 (lockout already cleared) ramps up from 0.625
    assert level[53] == pytest.approx(0.625 + 1 / 6)


def test_watchdog_does_not_act_during_extension_and_ramp_down():
    # a 1.45 s swing: burst clock passes 1.5 s during the ramp down; the next step still works
    ev = events_at(400, off=[0, 200], strike=145)
    level, state = envelope(ev)
    assert level[149] == 1.0 and level[150] == 0.875  # normal ramp down
    assert not level[157:200].any()
    assert level[200] == pytest.approx(1 / 6)
    # that second step has no heel strike in the trace: its own watchdog fires at 200 + 150
    assert np.all(level[205:350] == 1.0) and level[350] == 0.875
    assert state[ENV_SLOT_PHASE] == ENV_LOCKOUT


def test_restart_during_ramp_down_restarts_the_watchdog_clock():
    # a heel strike was seen at 140, so the heel off at 142 is a new step: lockout at 142 + 150
    ev = events_at(400, off=[0, 142], strike=140)
    level, _ = envelope(ev, extension_s=0.0)
    assert level[141] == 0.75 and level[142] == pytest.approx(0.75 + 1 / 6)
    assert np.all(level[144:292] == 1.0)
    assert level[292] == 0.875


def test_max_stim_below_one_sample_locks_out_at_once():
    level, state = envelope(events_at(20, off=3), max_stim_s=0.001)
    assert not level.any()
    assert state[ENV_SLOT_PHASE] == ENV_LOCKOUT


def test_envelope_rejects_mismatched_output():
    with pytest.raises(ValueError):
        shape_envelope(np.zeros(5, np.int8), new_envelope_state(), 100.0, 0.06, 0.05, 0.08, 1.5,
                       np.zeros(6))
    with pytest.raises(ValueError):
        shape_envelope(np.zeros(5, np.int8), np.zeros(3), 100.0, 0.06, 0.05, 0.08, 1.5,
                       np.zeros(5))


def test_level_convention_on_a_fractional_ramp():
    # ramp_up 0.045 s at 100 Hz = 4.5 samples: 1/4.5, 2/4.5, 3/4.5, 4/4.5, then 1
    level, _ = envelope(events_at(10, off=0), ramp_up_s=0.045)
    np.testing.assert_allclose(level[:5], [1 / 4.5, 2 / 4.5, 3 / 4.5, 4 / 4.5, 1.0], atol=1e-12)


# ---------------------------------------------------------------------------------------
# compiled kernel == its pure-Python twin


@pytest.mark.parametrize("seed", range(5))
def test_detector_matches_python_twin(seed):
    rng = np.random.default_rng(seed)
    f = gait_force(rng, n_steps=6)
    f[rng.integers(0, f.shape[0], 5)] = np.nan
    args = (80.0, 40.0, int(rng.integers(1, 4)), int(rng.integers(0, 40)), int(rng.integers(0, 30)))
    outs = []
    for fn in (detect_heel_switch, detect_heel_switch.py_func):
        st = new_detector_state()
        ev = np.zeros(f.shape[0], np.int8)
        back = np.zeros(f.shape[0], np.int32)
        n = fn(f, st, *args, ev, back)
        outs.append((n, ev, back, st))
    assert outs[0][0] == outs[1][0] > 0
    for a, b in zip(outs[0][1:], outs[1][1:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(5))
def test_envelope_matches_python_twin(seed):
    rng = np.random.default_rng(100 + seed)
    n = 3000
    ev = rng.choice([EV_NONE, EV_HEEL_OFF, EV_HEEL_STRIKE], size=n, p=[0.97, 0.015, 0.015])
    ev = ev.astype(np.int8)
    args = (float(rng.choice([50.0, 100.0, 200.0])), float(rng.uniform(0, 0.1)),
            float(rng.uniform(0, 0.1)), float(rng.uniform(0, 0.1)), float(rng.uniform(0.1, 1.0)))
    outs = []
    for fn in (shape_envelope, shape_envelope.py_func):
        st = new_envelope_state()
        level = np.zeros(n)
        fn(ev, st, *args, level)
        outs.append((level, st))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    assert outs[0][0].max() == 1.0


def test_batch_matches_python_twin():
    f = gait_force(np.random.default_rng(7), n_steps=8)
    args = (100.0, 80.0, 40.0, 2, 25, 20, 0.06, 0.05, 0.08, 1.5)
    a = run_heel_switch_batch(f, *args)
    b = run_heel_switch_batch.py_func(f, *args)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------
# batch == live chunked loop


def live_loop(force, chunk, det_args, env_args, rate_hz=RATE):
    """What the control loop does: fresh states once, then both kernels per arriving chunk."""
    det_state = new_detector_state()
    env_state = new_envelope_state()
    events, backs, levels = [], [], []
    for start in range(0, force.shape[0], chunk):
        f = np.ascontiguousarray(force[start:start + chunk])
        ev = np.zeros(f.shape[0], np.int8)
        back = np.zeros(f.shape[0], np.int32)
        level = np.zeros(f.shape[0], np.float64)
        detect_heel_switch(f, det_state, *det_args, ev, back)
        shape_envelope(ev, env_state, rate_hz, *env_args, level)
        events.append(ev)
        backs.append(back)
        levels.append(level)
    return np.concatenate(events), np.concatenate(backs), np.concatenate(levels)


@pytest.mark.parametrize("chunk", [1, 3, 7, 100])
def test_batch_equals_live_chunked_loop(chunk):
    f = gait_force(np.random.default_rng(11), n_steps=30)
    det = HeelSwitchParams(80.0, 40.0, 2, 0.25, 0.20)
    env = EnvelopeParams(0.06, 0.05, 0.08, 1.5)
    batch = run_batch(f, RATE, det, env)
    live = live_loop(f, chunk, det.kernel_args(RATE), env.kernel_args())
    np.testing.assert_array_equal(batch.event, live[0])
    np.testing.assert_array_equal(batch.onset_back, live[1])
    np.testing.assert_array_equal(batch.level, live[2])
    # the trace exercises every path: events of both kinds and a watchdog lockout
    kinds = [k for _, k in batch.event_times(RATE)]
    assert kinds.count("heel_off") >= 29 and kinds.count("heel_strike") >= 29
    assert batch.level.max() == 1.0
    on = np.concatenate([[0], (batch.level > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(on))
    longest = int(np.max(edges[1::2] - edges[::2]))
    assert 150 <= longest <= 150 + 8  # the 2.5 s unloading ends by the watchdog


def test_run_batch_result_and_event_times():
    f = trace((HI, 40), (LO, 30), (HI, 30))
    res = run_batch(f, 100.0, HeelSwitchParams(80.0, 40.0, 2, 0.25, 0.2),
                    EnvelopeParams(0.06, 0.05, 0.08, 1.5))
    assert isinstance(res, BatchResult)
    assert res.event.dtype == np.int8 and res.onset_back.dtype == np.int32
    assert res.level.dtype == np.float64
    assert res.event_times(100.0) == [(0.40, "heel_off"), (0.70, "heel_strike")]
    assert res.event_times(200.0) == [(0.20, "heel_off"), (0.35, "heel_strike")]
    with pytest.raises(ValueError):
        res.level[0] = 1.0  # read-only
    with pytest.raises(ValueError, match="rate_hz"):
        res.event_times(0.0)


def test_run_batch_accepts_lists_and_rejects_2d():
    det = HeelSwitchParams(80.0, 40.0, 2, 0.25, 0.2)
    env = EnvelopeParams(0.06, 0.05, 0.08, 1.5)
    res = run_batch([200, 200, 200, 0, 0, 0], 100, det, env)
    assert res.level.shape == (6,)
    with pytest.raises(ValueError, match="1-D"):
        run_batch(np.zeros((3, 2)), 100.0, det, env)
    with pytest.raises(ValueError, match="rate_hz"):
        run_batch(np.zeros(3), 0.0, det, env)


# ---------------------------------------------------------------------------------------
# warm-up


WARM_UP_CHECK = """
import numpy as np
from fescontrol.core import batch, envelope, heelswitch
from fescontrol.core.warmup import warm_up

kernels = (heelswitch.detect_heel_switch, envelope.shape_envelope, batch.run_heel_switch_batch,
           heelswitch.new_detector_state, envelope.new_envelope_state,
           heelswitch.ceil_samples, heelswitch.floor_samples)
assert not any(k.signatures for k in kernels), "compiled before warm_up"
warm_up()
before = [list(k.signatures) for k in kernels]
assert all(before), before
det = heelswitch.HeelSwitchParams(80.0, 40.0, 2, 0.25, 0.20)
env = envelope.EnvelopeParams(0.06, 0.05, 0.08, 1.5)
rate = 100.0
force = np.abs(np.sin(np.arange(2000) / 30.0)) * 400.0
ds, es = heelswitch.new_detector_state(), envelope.new_envelope_state()
for start in range(0, force.shape[0], 10):   # the live loop
    f = np.ascontiguousarray(force[start:start + 10])
    ev = np.zeros(f.shape[0], np.int8)
    back = np.zeros(f.shape[0], np.int32)
    level = np.zeros(f.shape[0], np.float64)
    heelswitch.detect_heel_switch(f, ds, *det.kernel_args(rate), ev, back)
    envelope.shape_envelope(ev, es, rate, *env.kernel_args(), level)
batch.run_batch(force, rate, det, env)       # the batch runner
batch.run_batch(list(force), 100, det, env)
after = [list(k.signatures) for k in kernels]
assert after == before, (before, after)
print("OK")
"""


def test_warm_up_compiles_every_live_signature():
    """In a fresh interpreter: after warm_up(), the live loop and run_batch compile nothing new."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", WARM_UP_CHECK], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OK"
