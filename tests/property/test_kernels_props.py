"""Property tests of the heel-switch detector and the envelope kernels (hypothesis).

Inputs are arbitrary: force traces built from runs of values around and between the
thresholds (plus NaN and infinities), event sequences that need not alternate, and arbitrary
chunk splits (cycled chunk sizes 0..13, so boundaries fall inside debounce runs, ramps and
holds; size 0 is an empty chunk).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fescontrol.core.envelope import (
    ENV_LOCKOUT,
    ENV_SLOT_PHASE,
    new_envelope_state,
    shape_envelope,
)
from fescontrol.core.heelswitch import (
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EV_NONE,
    SAMPLE_EPS,
    ceil_samples,
    detect_heel_switch,
    floor_samples,
    new_detector_state,
)

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
CONTACT, RELEASE = 80.0, 40.0

force_value = st.one_of(
    st.sampled_from([0.0, 10.0, 39.999, 40.0, 40.001, 60.0, 79.999, 80.0, 80.001, 150.0, 400.0]),
    st.floats(-50.0, 500.0),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)


@st.composite
def force_traces(draw, max_runs=25):
    """Runs of constant-ish force (so real transitions happen), with single-sample noise."""
    runs = draw(st.lists(st.tuples(force_value, st.integers(1, 40)), max_size=max_runs))
    if not runs:
        return np.zeros(0)
    return np.concatenate([np.full(n, v, dtype=np.float64) for v, n in runs])


@st.composite
def detector_params(draw):
    return (CONTACT, RELEASE, draw(st.integers(0, 5)), draw(st.integers(0, 30)),
            draw(st.integers(0, 30)))


@st.composite
def event_traces(draw, max_len=400):
    n = draw(st.integers(0, max_len))
    density = draw(st.sampled_from([0.005, 0.02, 0.1]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p = [1.0 - density, density / 2, density / 2]
    return rng.choice([EV_NONE, EV_HEEL_OFF, EV_HEEL_STRIKE], size=n, p=p).astype(np.int8)


@st.composite
def envelope_params(draw):
    rate = draw(st.sampled_from([50.0, 100.0, 200.0, 1000.0 / 3.0]))
    ramp_up = draw(st.sampled_from([0.0, 0.004, 0.03, 0.06, 0.1]) | st.floats(0.0, 0.2))
    ext = draw(st.sampled_from([0.0, 0.05, 0.07]) | st.floats(0.0, 0.2))
    ramp_down = draw(st.sampled_from([0.0, 0.004, 0.08]) | st.floats(0.0, 0.2))
    max_stim = draw(st.sampled_from([0.001, 0.1, 0.5, 1.5]) | st.floats(0.001, 2.0))
    return rate, ramp_up, ext, ramp_down, max_stim


def split(n, sizes):
    """Chunk boundaries covering n samples, cycling through chunk sizes (0 = an empty chunk)."""
    bounds, pos, k = [], 0, 0
    if not any(sizes):
        sizes = [1]
    while pos < n:
        size = sizes[k % len(sizes)]
        bounds.append((pos, min(pos + size, n)))
        pos = min(pos + size, n)
        k += 1
    return bounds or [(0, 0)]


chunk_sizes = st.lists(st.integers(0, 13), min_size=1, max_size=8)


def run_detector(force, params, chunks):
    state = new_detector_state()
    ev = np.zeros(force.shape[0], np.int8)
    back = np.zeros(force.shape[0], np.int32)
    total = 0
    for a, b in chunks:
        e = np.zeros(b - a, np.int8)
        o = np.zeros(b - a, np.int32)
        total += detect_heel_switch(np.ascontiguousarray(force[a:b]), state, *params, e, o)
        ev[a:b] = e
        back[a:b] = o
    return ev, back, total, state


def run_envelope(events, params, chunks, record_phase=False):
    rate, up, ext, down, max_stim = params
    state = new_envelope_state()
    level = np.zeros(events.shape[0])
    phases = []
    for a, b in chunks:
        out = np.zeros(b - a)
        shape_envelope(np.ascontiguousarray(events[a:b]), state, rate, up, ext, down, max_stim,
                       out)
        level[a:b] = out
        if record_phase:
            phases.append(int(state[ENV_SLOT_PHASE]))
    return level, state, phases


def ramp_down_steps(params):
    rate, _, _, down, _ = params
    return max(int(math.ceil(down * rate - SAMPLE_EPS)), 1)


# ---------------------------------------------------------------------------------------
# chunk invariance


@SETTINGS
@given(force=force_traces(), params=detector_params(), sizes=chunk_sizes)
def test_detector_chunk_invariance(force, params, sizes):
    n = force.shape[0]
    whole = run_detector(force, params, [(0, n)])
    chunked = run_detector(force, params, split(n, sizes))
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])
    assert whole[2] == chunked[2] == int(np.count_nonzero(whole[0]))
    np.testing.assert_array_equal(whole[3], chunked[3])


@SETTINGS
@given(events=event_traces(), params=envelope_params(), sizes=chunk_sizes)
def test_envelope_chunk_invariance(events, params, sizes):
    n = events.shape[0]
    whole = run_envelope(events, params, [(0, n)])
    chunked = run_envelope(events, params, split(n, sizes))
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])


# ---------------------------------------------------------------------------------------
# detector invariants


@SETTINGS
@given(force=force_traces(), params=detector_params())
def test_detector_events_alternate_and_respect_minimums(force, params):
    _, _, debounce, min_contact, min_swing = params
    ev, back, _, _ = run_detector(force, params, [(0, force.shape[0])])
    idx = np.flatnonzero(ev)
    kinds = ev[idx]
    # the first event is always a heel off (the first contact is not a heel strike)
    expected = np.where(np.arange(idx.shape[0]) % 2 == 0, EV_HEEL_OFF, EV_HEEL_STRIKE)
    np.testing.assert_array_equal(kinds, expected)
    assert np.all(back[idx] >= max(debounce, 1) - 1)
    assert not back[ev == EV_NONE].any()
    onsets = idx - back[idx]
    # every crossing run really was beyond its threshold
    for i, k, o in zip(idx, kinds, onsets):
        seg = force[o:i + 1]
        if k == EV_HEEL_OFF:
            assert np.all(seg < RELEASE)
        else:
            assert np.all(seg > CONTACT)
    # a phase is accepted as ended no earlier than its minimum after its backdated onset
    for j in range(1, idx.shape[0]):
        minimum = min_contact if kinds[j] == EV_HEEL_OFF else min_swing
        assert idx[j] - onsets[j - 1] >= minimum
        assert onsets[j] > idx[j - 1]  # a new crossing starts after the previous decision


# ---------------------------------------------------------------------------------------
# envelope invariants


@SETTINGS
@given(events=event_traces(), params=envelope_params())
def test_level_always_in_unit_interval(events, params):
    level, _, _ = run_envelope(events, params, [(0, events.shape[0])])
    assert np.all(level >= 0.0) and np.all(level <= 1.0)
    assert np.all(np.isfinite(level))


@SETTINGS
@given(events=event_traces(), params=envelope_params())
def test_no_level_without_a_heel_off_since_the_last_lockout_reset(events, params):
    """Level > 0 needs a heel off since the last lockout reset (a heel strike in LOCKOUT);
    the only exception is the ramp down that a lockout starts, which may finish after the
    reset but never rises. Heel offs during LOCKOUT count for nothing."""
    n = events.shape[0]
    level, _, phases = run_envelope(events, params, [(i, i + 1) for i in range(n)],
                                    record_phase=True)
    heel_off_seen = False  # a heel off accepted since the last lockout began or was reset
    ramp_tail = False  # level still falling from the ramp down a lockout started
    prev_phase, prev_level = 0, 0.0
    for i in range(n):
        if phases[i] != ENV_LOCKOUT and prev_phase == ENV_LOCKOUT:
            assert events[i] == EV_HEEL_STRIKE, i  # only a heel strike resets the lockout
            heel_off_seen = False
        if phases[i] == ENV_LOCKOUT and prev_phase != ENV_LOCKOUT:
            heel_off_seen = False
            ramp_tail = True
        if events[i] == EV_HEEL_OFF and phases[i] != ENV_LOCKOUT:
            heel_off_seen = True
        if phases[i] == ENV_LOCKOUT:
            assert level[i] <= prev_level, i
        if ramp_tail and (level[i] > prev_level or level[i] == 0.0):
            ramp_tail = False
        if level[i] > 0.0:
            assert heel_off_seen or ramp_tail, i
        prev_phase, prev_level = phases[i], level[i]


@SETTINGS
@given(events=event_traces(), params=envelope_params())
def test_stimulation_without_heel_strike_is_bounded(events, params):
    """A stimulated run containing no heel strike lasts at most max_stim + the ramp down."""
    rate, _, _, _, max_stim = params
    level, _, _ = run_envelope(events, params, [(0, events.shape[0])])
    bound = floor_samples(max_stim, rate) + ramp_down_steps(params)
    on = np.concatenate([[0], (level > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(on))
    for a, b in zip(edges[::2], edges[1::2]):
        if not np.any(events[a:b] == EV_HEEL_STRIKE):
            assert b - a <= bound, (a, b, bound)


@SETTINGS
@given(events=event_traces(), params=envelope_params())
def test_level_returns_to_zero_after_heel_strike(events, params):
    """Without a new heel off, the level is 0 from extension + ramp down after a heel strike."""
    rate, _, ext, _, _ = params
    level, _, _ = run_envelope(events, params, [(0, events.shape[0])])
    n = events.shape[0]
    reach = ceil_samples(ext, rate) + ramp_down_steps(params) - 1
    offs = np.flatnonzero(events == EV_HEEL_OFF)
    for k in np.flatnonzero(events == EV_HEEL_STRIKE):
        later = offs[offs > k]
        next_off = int(later[0]) if later.shape[0] else n
        if k + reach < next_off:
            assert not level[k + reach:next_off].any(), (k, reach, next_off)


@SETTINGS
@given(events=event_traces(), params=envelope_params())
def test_nothing_before_the_first_heel_off(events, params):
    level, _, _ = run_envelope(events, params, [(0, events.shape[0])])
    offs = np.flatnonzero(events == EV_HEEL_OFF)
    first = int(offs[0]) if offs.shape[0] else events.shape[0]
    assert not level[:first].any()


# ---------------------------------------------------------------------------------------
# compiled == pure-Python twin on arbitrary inputs


@settings(max_examples=60, deadline=None)
@given(force=force_traces(max_runs=10), params=detector_params())
def test_detector_twin_on_arbitrary_input(force, params):
    outs = []
    for fn in (detect_heel_switch, detect_heel_switch.py_func):
        st_ = new_detector_state()
        ev = np.zeros(force.shape[0], np.int8)
        back = np.zeros(force.shape[0], np.int32)
        outs.append((fn(force, st_, *params, ev, back), ev, back, st_))
    assert outs[0][0] == outs[1][0]
    for a, b in zip(outs[0][1:], outs[1][1:]):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(events=event_traces(max_len=200), params=envelope_params())
def test_envelope_twin_on_arbitrary_input(events, params):
    outs = []
    for fn in (shape_envelope, shape_envelope.py_func):
        st_ = new_envelope_state()
        level = np.zeros(events.shape[0])
        fn(events, st_, *params, level)
        outs.append((level, st_))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
