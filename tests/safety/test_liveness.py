"""Liveness interlocks with injected wall time: every limit at its threshold, with the exact message."""

from __future__ import annotations

import dataclasses

import pytest

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.errors import AckTimeout, SafetyTrip, SensorLost
from fescontrol.safety import liveness as lv
from fescontrol.safety.liveness import Liveness, LivenessLimits, limits_from_config

MS = 1_000_000
S = 1_000_000_000

LIM = LivenessLimits(rate_hz=100.0, speed=1.0, stale_ns=150 * MS, lost_ns=2 * S, first_sample_ns=10 * S, max_loss_pct=20,
                     max_drift_ns=250 * MS, max_burst_ns=1730 * MS, ack_timeout_ns=200 * MS, max_busy_retries=3,
                     loop_overrun_ns=100 * MS, loop_overrun_off_ns=500 * MS)


def test_constants_and_derived_limits() -> None:
    assert (lv.NS_PER_S, lv.NS_PER_MS) == (1_000_000_000, 1_000_000)
    assert LIM.loss_window_samples == 100
    assert dataclasses.replace(LIM, rate_hz=9.4).loss_window_samples == 10
    assert dataclasses.replace(LIM, rate_hz=10.6).loss_window_samples == 11
    assert dataclasses.replace(LIM, rate_hz=250.4).loss_window_samples == 250
    assert LIM.max_burst_samples == 173
    assert dataclasses.replace(LIM, max_burst_ns=1739 * MS).max_burst_samples == 173
    assert dataclasses.replace(LIM, max_burst_ns=1740 * MS).max_burst_samples == 174
    assert dataclasses.replace(LIM, rate_hz=50.0, max_burst_ns=1730 * MS).max_burst_samples == 86


def test_limits_from_config() -> None:
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path())
    profile = profile.model_copy(update={
        "safety": profile.safety.model_copy(update={
            "sensor_stale_ms": 150, "sensor_lost_ms": 2000, "sensor_first_sample_ms": 10000, "max_sensor_loss_pct": 20,
            "max_clock_drift_ms": 250, "max_sensor_rate_error_pct": 3,
            "max_busy_retries": 3, "loop_overrun_ms": 100, "loop_overrun_off_ms": 500}),
        "envelope": profile.envelope.model_copy(update={"max_stim_s": 1.5, "extension_s": 0.05,
                                                        "ramp_down_s": 0.08})})
    device = device.model_copy(update={"link": device.link.model_copy(update={"max_response_ms": 100})})
    assert limits_from_config(profile, device, 100) == LivenessLimits(
        rate_hz=100.0, speed=1.0, stale_ns=150 * MS, lost_ns=2000 * MS, first_sample_ns=10 * S, max_loss_pct=20, max_drift_ns=250 * MS,
        max_burst_ns=1730 * MS, ack_timeout_ns=200 * MS, max_busy_retries=3, loop_overrun_ns=100 * MS, loop_overrun_off_ns=500 * MS,
        max_rate_error_pct=3)
    other = limits_from_config(
        profile.model_copy(update={
            "safety": profile.safety.model_copy(update={
                "sensor_stale_ms": 40, "sensor_lost_ms": 900, "sensor_first_sample_ms": 5000, "max_sensor_loss_pct": 7,
                "max_clock_drift_ms": 60, "max_sensor_rate_error_pct": 7,
                "max_busy_retries": 0, "loop_overrun_ms": 33, "loop_overrun_off_ms": 900}),
            "envelope": profile.envelope.model_copy(update={"max_stim_s": 0.3, "extension_s": 0.0,
                                                            "ramp_down_s": 0.1})}),
        device.model_copy(update={"link": device.link.model_copy(update={"max_response_ms": 120})}), 50, 4.0)
    assert other == LivenessLimits(rate_hz=50.0, speed=4.0, stale_ns=40 * MS, lost_ns=900 * MS, first_sample_ns=5 * S, max_loss_pct=7,
                                   max_drift_ns=60 * MS, max_burst_ns=520 * MS, ack_timeout_ns=240 * MS,
                                   max_busy_retries=0, loop_overrun_ns=33 * MS, loop_overrun_off_ns=900 * MS,
                                   max_rate_error_pct=7)
    assert type(other.rate_hz) is float and type(other.speed) is float
    assert all(type(getattr(other, f)) is int for f in other.__dataclass_fields__ if f not in ("rate_hz", "speed"))


def trip(call: object, *args: object, **kw: object) -> SafetyTrip:
    with pytest.raises(SafetyTrip) as info:
        call(*args, **kw)  # type: ignore[operator]
    return info.value


# -- loop overrun --------------------------------------------------------------------------------------------

def test_loop_overrun_at_the_threshold() -> None:
    live = Liveness(LIM)
    live.output(0, True)
    live.tick(0)
    assert live.max_tick_gap_ns == 0
    live.tick(100 * MS)
    live.tick(150 * MS)
    assert live.max_tick_gap_ns == 100 * MS
    assert (live.overruns_off, live.overrun_off_ns) == (0, 0)
    exc = trip(live.tick, 250 * MS + 1)
    assert str(exc) == "control loop overrun: 100 ms between ticks (limit 100 ms)"
    assert exc.t_s is None
    assert live.max_tick_gap_ns == 100 * MS + 1


def test_overrun_message_has_the_sample_time() -> None:
    live = Liveness(LIM)
    live.samples(0, [250])
    live.output(0, True)
    live.tick(0)
    exc = trip(live.tick, 345 * MS)
    assert exc.cause == "control loop overrun: 345 ms between ticks (limit 100 ms)"
    assert exc.t_s == 2.5


def test_a_stall_with_the_output_off_is_counted_up_to_its_own_limit_then_trips() -> None:
    live = Liveness(LIM)
    live.samples(0, [300])
    live.tick(0)
    live.tick(100 * MS)  # at the on-limit: not an overrun at all
    assert (live.overruns_off, live.overrun_off_ns) == (0, 0)
    live.tick(200 * MS + 1)
    assert (live.overruns_off, live.overrun_off_ns) == (1, 100 * MS + 1)
    live.tick(210 * MS)  # the next tick in time clears the last gap, keeps the count
    assert (live.overruns_off, live.overrun_off_ns) == (1, 0)
    live.tick(710 * MS)  # at the off-limit
    assert (live.overruns_off, live.overrun_off_ns) == (2, 500 * MS)
    exc = trip(live.tick, 1210 * MS + 1)
    assert exc.cause == "control loop overrun: 500 ms between ticks with the output off (limit 500 ms)"
    assert exc.t_s == 3.0
    assert live.max_tick_gap_ns == 500 * MS + 1


def test_the_output_at_the_tick_before_the_gap_decides_which_limit_holds() -> None:
    # on before the gap: the strict limit, even if it is off now (the device was on through the stall)
    live = Liveness(LIM)
    live.output(0, True)
    live.tick(0)
    live.output(150 * MS, False)
    assert trip(live.tick, 150 * MS).cause == "control loop overrun: 150 ms between ticks (limit 100 ms)"
    # off before the gap: the off limit, even if this tick turns it on (the decision is on fresh samples)
    live = Liveness(LIM)
    live.tick(0)
    live.output(150 * MS, True)
    live.tick(150 * MS)
    assert live.overruns_off == 1
    # ... and from then on it is on: the strict limit again
    assert trip(live.tick, 251 * MS).cause == "control loop overrun: 101 ms between ticks (limit 100 ms)"
    # off again at a tick: the next gap is judged off
    live = Liveness(LIM)
    live.output(0, True)
    live.tick(0)
    live.output(50 * MS, False)
    live.tick(50 * MS)
    live.tick(450 * MS)
    assert live.overruns_off == 1


# -- stale and lost sensor -----------------------------------------------------------------------------------

def ticking(live: Liveness, until: int, start: int = 0) -> None:
    for t in range(start, until + 1, 50 * MS):
        live.tick(t)


@pytest.mark.parametrize("dt,ok", [(-1, True), (0, True), (1, False)])
def test_stale_while_stimulating(dt: int, ok: bool) -> None:
    live = Liveness(LIM)
    live.samples(0, [0])
    live.output(0, True)
    ticking(live, 100 * MS)
    t = LIM.stale_ns + dt
    assert live.sample_fresh(t) is ok
    if ok:
        live.tick(t)
    else:
        exc = trip(live.tick, t)
        assert exc.cause == "sensor stale: no sample for 150 ms while stimulating (limit 150 ms)"
        assert exc.t_s == 0.0


def test_stale_with_output_off_is_not_a_fault_until_lost() -> None:
    live = Liveness(LIM)
    live.samples(0, [7])
    live.output(0, True)
    live.output(10 * MS, False)
    ticking(live, 2 * S)
    assert not live.sample_fresh(2 * S)
    exc = trip(live.tick, 2 * S + 1)
    assert exc.cause == "sensor lost: no sample for 2000 ms (limit 2000 ms)"
    assert exc.t_s == 0.07


def test_no_sample_yet_is_not_fresh_and_lost_after_the_first_sample_limit_from_the_first_tick() -> None:
    """A sensor that never sends a valid sample (off, a wrong port, format or baud rate) is lost
    too: after `first_sample_ns` from the first tick (longer than the silence allowed later)."""
    live = Liveness(LIM)
    live.output(0, True)
    live.output(0, False)
    ticking(live, 10 * S + 500 * MS, start=500 * MS)  # up to the limit: neither stale nor lost
    assert not live.sample_fresh(10 * S + 500 * MS)
    exc = trip(live.tick, 10 * S + 500 * MS + 1)
    assert type(exc) is SensorLost
    assert str(exc) == "sensor lost: no valid sample in the first 10000 ms of the session (limit 10000 ms)"
    assert exc.t_s is None
    live = Liveness(dataclasses.replace(LIM, first_sample_ns=3 * S))  # its own limit, not lost_ns
    ticking(live, 3 * S)
    assert trip(live.tick, 3 * S + 1).cause.endswith("(limit 3000 ms)")
    # once a sample has come, the silence after it is what counts, as before
    live = Liveness(LIM)
    ticking(live, 1 * S)
    live.samples(1 * S, [0])
    ticking(live, 3 * S, start=1 * S + 50 * MS)
    exc = trip(live.tick, 3 * S + 1)
    assert type(exc) is SensorLost and exc.cause == "sensor lost: no sample for 2000 ms (limit 2000 ms)"


def test_empty_sample_list_changes_nothing() -> None:
    live = Liveness(LIM)
    live.samples(0, [0])
    live.samples(1 * S, [])
    assert not live.sample_fresh(1 * S)
    assert live.sample_fresh(150 * MS)


# -- drift ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("speed", [1.0, 4.0])
@pytest.mark.parametrize("dt,ok", [(-1, True), (0, True), (1, False)])
@pytest.mark.parametrize("sign", [1, -1])
def test_clock_drift_at_the_threshold(speed: float, dt: int, ok: bool, sign: int) -> None:
    live = Liveness(dataclasses.replace(LIM, speed=speed, lost_ns=100 * S))
    t0 = 5 * S
    live.samples(t0, [0])
    seq = 100  # one second of sample time, 1/speed s of wall time
    t = t0 + round(S / speed) + sign * (LIM.max_drift_ns + dt)
    if ok:
        live.samples(t, [seq])
    else:
        exc = trip(live.samples, t, [seq])
        direction = "behind" if sign > 0 else "ahead of"
        assert exc.cause == (f"sensor clock 250 ms {direction} wall time (limit 250 ms): "
                             "the sensor's real rate is not 100 Hz")
        assert exc.t_s == 1.0


def test_drift_is_measured_from_the_first_batch() -> None:
    live = Liveness(dataclasses.replace(LIM, lost_ns=100 * S))
    live.samples(10 * S, [1000])  # whatever the first offset, it is the reference
    live.samples(11 * S + 200 * MS, [1100])
    live.samples(12 * S - 200 * MS, [1200])
    exc = trip(live.samples, 13 * S + 260 * MS, [1300])
    assert exc.cause.startswith("sensor clock 260 ms behind wall time")


def test_drift_uses_the_last_sequence_number_of_a_batch() -> None:
    live = Liveness(dataclasses.replace(LIM, lost_ns=100 * S))
    live.samples(0, [0])
    live.samples(1 * S, list(range(1, 101)))  # 100 at 1 s: on time
    exc = trip(live.samples, 1 * S, [101, 102, 103, 130])  # 130 at 1 s: 300 ms ahead
    assert exc.cause.startswith("sensor clock 300 ms ahead of wall time")


# -- frame loss ----------------------------------------------------------------------------------------------

def feed(live: Liveness, seqs: list[int]) -> None:
    for s in seqs:
        live.samples(s * 10 * MS, [s])


def test_loss_at_the_threshold() -> None:
    # 100 samples a second, 20 % allowed: 80 of the last 100 present passes, 79 does not
    live = Liveness(LIM)
    feed(live, list(range(80)) + [100])  # window 1..100 holds 80
    live = Liveness(LIM)
    feed(live, list(range(79)))
    exc = trip(live.samples, 1 * S, [100])  # window 1..100 holds 79
    assert exc.cause == "sensor losing frames: 21 % of the last 100 samples missing (limit 20 %)"
    assert exc.t_s == 1.0


def test_old_complete_samples_do_not_dilute_new_losses() -> None:
    live = Liveness(LIM)
    feed(live, list(range(100)) + list(range(100, 179)))
    live.samples(1990 * MS, [199])  # window 100..199 holds 80: 20 %
    live = Liveness(LIM)
    feed(live, list(range(100)) + list(range(100, 178)))
    exc = trip(live.samples, 1990 * MS, [199])  # 79 of 100: the first second no longer counts
    assert exc.cause == "sensor losing frames: 21 % of the last 100 samples missing (limit 20 %)"


def test_loss_is_judged_only_over_a_quarter_window_or_more() -> None:
    live = Liveness(LIM)
    live.samples(0, [0])
    live.samples(230 * MS, [23])  # span 24 < 25: two samples of 24 is no verdict yet
    live = Liveness(LIM)
    live.samples(0, [0])
    exc = trip(live.samples, 240 * MS, [24])  # span 25: 92 % missing
    assert exc.cause == "sensor losing frames: 92 % of the last 25 samples missing (limit 20 %)"


def test_loss_zero_percent_allowed() -> None:
    live = Liveness(dataclasses.replace(LIM, max_loss_pct=0))
    feed(live, list(range(100)))
    exc = trip(live.samples, 1010 * MS, [101])  # window 2..101 holds 99
    assert exc.cause == "sensor losing frames: 1 % of the last 100 samples missing (limit 0 %)"


def test_loss_window_edge() -> None:
    # horizon is last - 100: a sample exactly 100 before the last one leaves the window
    live = Liveness(dataclasses.replace(LIM, max_loss_pct=0))
    feed(live, list(range(0, 100)))
    live.samples(1000 * MS, [100])  # window 1..100: complete
    live = Liveness(dataclasses.replace(LIM, max_loss_pct=0))
    feed(live, list(range(0, 100)))
    # 0..99, then 100 and 101 missing, 102: the window is 3..102 (98 of 100), not 2..102
    exc = trip(live.samples, 1020 * MS, [102])
    assert exc.cause == "sensor losing frames: 2 % of the last 100 samples missing (limit 0 %)"


# -- burst length --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt,ok", [(-1, True), (0, True), (1, False)])
def test_burst_wall_time_at_the_threshold(dt: int, ok: bool) -> None:
    lim = dataclasses.replace(LIM, stale_ns=10 * S, lost_ns=10 * S, loop_overrun_ns=10 * S, loop_overrun_off_ns=10 * S)
    live = Liveness(lim)
    live.output(1 * S, True)
    live.output(1500 * MS, True)  # still the same burst
    t = 1 * S + lim.max_burst_ns + dt
    if ok:
        live.tick(t)
    else:
        exc = trip(live.tick, t)
        assert exc.cause == "stimulation on for 1730 ms of wall time in one step (limit 1730 ms)"


def test_a_burst_ends_when_output_is_off() -> None:
    lim = dataclasses.replace(LIM, stale_ns=10 * S, lost_ns=10 * S, loop_overrun_ns=10 * S, loop_overrun_off_ns=10 * S)
    live = Liveness(lim)
    live.output(0, True)
    live.output(1 * S, False)
    live.output(1 * S, True)
    live.tick(2730 * MS)
    trip(live.tick, 2730 * MS + 1)


@pytest.mark.parametrize("extra,ok", [(173, True), (174, False)])
def test_burst_sample_time_at_the_threshold(extra: int, ok: bool) -> None:
    lim = dataclasses.replace(LIM, stale_ns=10 * S, lost_ns=10 * S, loop_overrun_ns=10 * S, loop_overrun_off_ns=10 * S, max_drift_ns=10 * S,
                              max_loss_pct=100)
    live = Liveness(lim)
    live.samples(0, [1000])
    live.output(0, True)
    live.samples(10 * MS, [1000 + extra])  # sample time runs ahead of wall time (lost samples count too)
    if ok:
        live.tick(10 * MS)
    else:
        exc = trip(live.tick, 10 * MS)
        assert exc.cause == "stimulation on for 174 samples of sensor time in one step (limit 173 samples)"
        assert exc.t_s == 11.74


def test_burst_in_sample_time_needs_a_sample_before_and_after() -> None:
    lim = dataclasses.replace(LIM, stale_ns=10 * S, lost_ns=10 * S, loop_overrun_ns=10 * S, loop_overrun_off_ns=10 * S, max_drift_ns=10 * S,
                              max_loss_pct=100)
    live = Liveness(lim)
    live.output(0, True)  # no sample yet: the burst has no start in sample time
    live.samples(10 * MS, [5000])
    live.tick(10 * MS)
    live.output(20 * MS, False)
    live.output(20 * MS, True)  # a new burst starts at sequence 5000
    live.samples(30 * MS, [5173])
    live.tick(30 * MS)
    live.samples(40 * MS, [5174])
    trip(live.tick, 40 * MS)


# -- acks and busy -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt,ok", [(-1, True), (0, True), (1, False)])
def test_ack_timeout_at_the_threshold(dt: int, ok: bool) -> None:
    live = Liveness(LIM)
    live.command_sent(1 * S, "StartChannelListMode")
    t = 1 * S + LIM.ack_timeout_ns + dt
    if ok:
        live.check_ack(t)
        live.tick(t)
    else:
        exc = trip(live.check_ack, t)
        assert type(exc) is AckTimeout and exc.cause == "no ack for StartChannelListMode within 200 ms"
        assert trip(live.tick, t).cause == exc.cause


def test_an_answer_clears_the_command_in_flight() -> None:
    live = Liveness(LIM)
    live.command_sent(0, "Watchdog")
    live.command_answered(busy=False)
    live.check_ack(10 * S)
    live.command_sent(0, "A")
    live.command_sent(1 * S, "B")  # the newest command in flight counts
    live.check_ack(1 * S + 200 * MS)


def test_busy_answers_in_a_row_are_bounded() -> None:
    live = Liveness(LIM)
    for _ in range(3):
        live.command_sent(0, "StartChannelListMode")
        live.command_answered(busy=True)
    live.command_sent(0, "StartChannelListMode")
    exc = trip(live.command_answered, busy=True)
    assert exc.cause == "stimulator answered StartChannelListMode busy 4 times in a row (limit 3 retries)"
    assert live._in_flight is None


def test_a_good_answer_resets_the_busy_count() -> None:
    live = Liveness(LIM)
    for _ in range(3):
        for _ in range(3):
            live.command_answered(busy=True)
        live.command_answered(busy=False)
    live.command_answered(busy=True)
    live.command_answered(busy=True)
    live.command_answered(busy=True)
    exc = trip(live.command_answered, busy=True)
    assert exc.cause == "stimulator answered command busy 4 times in a row (limit 3 retries)"


def test_zero_busy_retries() -> None:
    live = Liveness(dataclasses.replace(LIM, max_busy_retries=0))
    live.command_answered(busy=False)
    assert trip(live.command_answered, busy=True).cause.endswith("busy 1 times in a row (limit 0 retries)")


def test_fresh_liveness_state() -> None:
    live = Liveness(LIM)
    assert live.limits is LIM
    assert (live.max_tick_gap_ns, live.overruns_off, live.overrun_off_ns) == (0, 0, 0)
    assert (live._last_tick, live._last_sample_ns, live._last_seq, live._origin, live._burst_start_ns,
            live._burst_start_seq, live._in_flight, live._busy_in_a_row) == (None,) * 7 + (0,)
    assert list(live._window) == []


@pytest.mark.parametrize("late_ns,direction", [(1, "behind"), (-1, "ahead of")])
def test_zero_drift_tolerance_names_the_direction_of_one_nanosecond(late_ns: int, direction: str) -> None:
    live = Liveness(dataclasses.replace(LIM, max_drift_ns=0))
    live.samples(0, [0])
    live.samples(10 * MS, [1])
    exc = trip(live.samples, 20 * MS + late_ns, [2])
    assert exc.cause == f"sensor clock 0 ms {direction} wall time (limit 0 ms): the sensor's real rate is not 100 Hz"


def test_loss_verdict_starts_at_a_quarter_window_rounded_down() -> None:
    # 13 Hz: a window of 13 samples, a verdict from a span of 13 // 4 = 3 on
    lim = dataclasses.replace(LIM, rate_hz=13.0, max_drift_ns=10 * S)
    live = Liveness(lim)
    live.samples(0, [0])
    exc = trip(live.samples, 2 * S // 13, [2])
    assert exc.cause == "sensor losing frames: 33 % of the last 3 samples missing (limit 20 %)"


def test_loss_percent_rounds_down() -> None:
    # 101 Hz: one sample missing of a span of 101 is 0.99 %: 0 % by integer division, within a 0 % limit
    lim = dataclasses.replace(LIM, rate_hz=101.0, max_loss_pct=0, max_drift_ns=10 * S)
    live = Liveness(lim)
    for s in range(100):
        live.samples(s * S // 101, [s])
    live.samples(101 * S // 101, [101])


def test_trips_carry_the_sample_time() -> None:
    live = Liveness(dataclasses.replace(LIM, stale_ns=10 * S, lost_ns=10 * S, loop_overrun_ns=10 * S, loop_overrun_off_ns=10 * S))
    live.samples(0, [300])
    for _ in range(3):
        live.command_sent(0, "Watchdog")
        live.command_answered(busy=True)
    assert trip(live.command_answered, busy=True).t_s == 3.0
    live.command_sent(0, "Watchdog")
    assert trip(live.check_ack, 200 * MS + 1).t_s == 3.0
    live = Liveness(dataclasses.replace(LIM, stale_ns=10 * S, lost_ns=10 * S, loop_overrun_ns=10 * S, loop_overrun_off_ns=10 * S))
    live.samples(0, [450])
    live.output(0, True)
    assert trip(live.tick, 1730 * MS + 1).t_s == 4.5


# -- the rate a drift fault names -------------------------------------------------------------------
NO_RATE = "the sensor's real rate is not 100 Hz"


RATE_T0 = 7 * S  # the first sample's wall time: the rate is measured from it, not from 0


def _rate_said(limits: LivenessLimits, samples: list[tuple[int, int]]) -> str:
    """Feed (wall ns after the first sample, sequence) samples one by one until the drift
    trips; the cause's tail. The loss check is off (a few hand-placed samples are no stream)."""
    live = Liveness(dataclasses.replace(limits, max_loss_pct=100))
    for t, seq in samples:
        try:
            live.samples(RATE_T0 + t, [seq])
        except SafetyTrip as exc:
            return exc.cause.split("): ", 1)[1]
    raise AssertionError("no drift fault")


def _steady(true_hz: float, first_seq: int = 0, speed: float = 1.0) -> list[tuple[int, int]]:
    return [(round(k * S / (true_hz * speed)), first_seq + k) for k in range(100_000)]


@pytest.mark.parametrize("true_hz,first_seq,speed,shown", [
    (200.0, 0, 1.0, "200"), (50.0, 0, 1.0, "50"), (120.0, 0, 1.0, "120"), (90.0, 0, 1.0, "90"), (94.0, 0, 1.0, "94"),
    (300.0, 0, 1.0, "300"), (333.3, 0, 1.0, "333"), (200.0, 61_000, 1.0, "200"), (150.0, 7, 2.0, "150"),
    (50.0, 3, 4.0, "50"),
])
def test_a_drift_that_grows_steadily_names_the_rate_the_samples_came_at(
        true_hz: float, first_seq: int, speed: float, shown: str) -> None:
    """A sensor set to another rate (its counter starting anywhere; in a replay at `speed`, the
    rate in the sensor's own time): the fault says which, and the two ways to mend it."""
    said = _rate_said(dataclasses.replace(LIM, speed=speed), _steady(true_hz, first_seq, speed))
    assert said == f"{NO_RATE}; its samples came at about {shown} Hz: run with --rate {shown}, or set the sensor to 100 Hz"


@pytest.mark.parametrize("late_from", [5, 50, 500])
def test_a_drift_from_one_stall_names_no_rate(late_from: int) -> None:
    """Samples on time, then 300 ms late at once (a stalled USB adapter): the clock jumped, no
    other rate was seen, so none is named."""
    samples = [(k * 10 * MS, k) for k in range(late_from)] + [(late_from * 10 * MS + 300 * MS, late_from)]
    assert _rate_said(LIM, samples) == NO_RATE


def test_a_rate_within_one_percent_or_measured_under_100_ms_is_not_named() -> None:
    """99.5 Hz (0.5 % off, with no rate error allowed) drifts 250 ms after 50 s: its rate is not
    named ("about 100 Hz: run with --rate 100" would mend nothing); nor is one measured over
    less than 0.1 s. 98 Hz is named."""
    assert _rate_said(LIM, _steady(99.5)) == NO_RATE
    assert _rate_said(LIM, _steady(98.0)).endswith("its samples came at about 98 Hz: run with --rate 98, or set the "
                                                   "sensor to 100 Hz")
    assert _rate_said(dataclasses.replace(LIM, max_drift_ns=40 * MS), _steady(400.0)) == NO_RATE  # trips at 14 ms


@pytest.mark.parametrize("end_ns,named", [(100 * MS, True), (100 * MS - 1, False)])
def test_the_rate_needs_100_ms_of_samples(end_ns: int, named: bool) -> None:
    """200 Hz read as 100 Hz: half the limit passed at the middle, the limit at 100 ms (or 1 ns sooner)."""
    said = _rate_said(dataclasses.replace(LIM, max_drift_ns=60 * MS), [(0, 0), (50 * MS, 10), (end_ns, 20)])
    assert said == (f"{NO_RATE}; its samples came at about 200 Hz: run with --rate 200, or set the sensor to 100 Hz"
                    if named else NO_RATE)


@pytest.mark.parametrize("limit_ms,half_ns,seq,end_seq,named", [
    # 200 Hz read as 100 Hz, limit 150 ms: half of it passed at a quarter of the 0.4 s (or just before)
    (150, 100 * MS, 20, 80, "200"), (150, 100 * MS - 1, 20, 80, None),
    # 140 Hz, limit 120 ms: half of it passed at three quarters (or just after)
    (120, 300 * MS, 42, 56, "140"), (120, 300 * MS + 1, 42, 56, None),
])
def test_the_drift_must_pass_half_its_limit_in_the_middle_half_of_the_time(
        limit_ms: int, half_ns: int, seq: int, end_seq: int, named: str | None) -> None:
    """Steady growth passes half the limit in the middle; a jump passes it at the end (a stall)
    and a jump at the start (late first samples) at once. The rate is measured from the half-way
    sample to the trip."""
    said = _rate_said(dataclasses.replace(LIM, max_drift_ns=limit_ms * MS), [(0, 0), (half_ns, seq), (400 * MS, end_seq)])
    assert said == (f"{NO_RATE}; its samples came at about {named} Hz: run with --rate {named}, or set the sensor to "
                    "100 Hz" if named else NO_RATE)


@pytest.mark.parametrize("half_at,named", [((75 * MS, 15), False), ((80 * MS, 16), True)])
def test_half_the_limit_is_passed_only_beyond_it(half_at: tuple[int, int], named: bool) -> None:
    """200 Hz read as 100 Hz, limit 150 ms: sample 15 at 75 ms is exactly 75 ms ahead, half the
    limit, not past it, so the trip at 0.3 s finds half passed only at its own sample (a jump: no
    rate). Sample 16 at 80 ms is 80 ms ahead: half passed in the middle, a steady 200 Hz."""
    samples = [(0, 0), half_at, (300 * MS, 60)]
    said = _rate_said(dataclasses.replace(LIM, max_drift_ns=150 * MS), samples)
    assert said == (f"{NO_RATE}; its samples came at about 200 Hz: run with --rate 200, or set the sensor to 100 Hz"
                    if named else NO_RATE)


@pytest.mark.parametrize("per_s,shown", [(99, "99"), (101, "101")])
def test_a_rate_one_percent_off_is_named(per_s: int, shown: str) -> None:
    """Exactly 99 (or 101) samples a second, limit 15 ms: 10 ms off at 1 s (half the limit passed,
    in the middle), 20 ms at 2 s (the trip); measured from 1 s to 2 s, the rate is 99.0 exactly,
    1 % off: named."""
    samples = [(0, 0), (S, per_s), (2 * S, 2 * per_s)]
    said = _rate_said(dataclasses.replace(LIM, max_drift_ns=15 * MS), samples)
    assert said == f"{NO_RATE}; its samples came at about {shown} Hz: run with --rate {shown}, or set the sensor to 100 Hz"



# -- the rate error allowed -------------------------------------------------------------------------
TOLERANT = dataclasses.replace(LIM, max_rate_error_pct=3)


@pytest.mark.parametrize("true_hz", [97.5, 98.0, 102.0, 102.9])
def test_a_sensor_within_the_rate_error_runs_for_ten_minutes(true_hz: float) -> None:
    """A microcontroller's loop or resonator: 98 Hz for 100 drifts 2 ms a second, 1.2 s in ten
    minutes; within 3 % that is no fault (the stale and lost limits stay on wall time)."""
    live = Liveness(TOLERANT)
    for k in range(round(600 * true_hz)):
        live.samples(RATE_T0 + round(k * S / true_hz), [k])


@pytest.mark.parametrize("true_hz,direction,shown", [(96.0, "behind", "96"), (104.0, "ahead of", "104")])
def test_a_sensor_past_the_rate_error_trips_when_its_excess_passes_the_limit(
        true_hz: float, direction: str, shown: str) -> None:
    """4 % off with 3 % allowed: the excess grows 10 ms a second and passes 250 ms after 25 s
    (the drift is then 1 s); the rate is named, the drift having grown steadily."""
    live = Liveness(dataclasses.replace(TOLERANT, max_loss_pct=100))
    with pytest.raises(SafetyTrip) as exc:
        for k in range(100_000):
            live.samples(RATE_T0 + round(k * S / true_hz), [k])
    cause = exc.value.cause
    seconds = float(cause.split("3 % of the ")[1].split(" s")[0])
    assert 25.0 <= seconds <= 25.1, cause
    assert cause.startswith("sensor clock 10") and f" ms {direction} wall time (limit 250 ms + 3 % of the " in cause
    assert cause.endswith(f"; its samples came at about {shown} Hz: run with --rate {shown}, or set the sensor to "
                          "100 Hz"), cause


@pytest.mark.parametrize("late_ns,trips", [(0, False), (1, True)])
def test_the_excess_over_the_rate_error_at_its_threshold(late_ns: int, trips: bool) -> None:
    """10 s after the first sample, sample 945 (9.45 s of sample time) is 550 ms behind: 300 ms
    of it allowed (3 % of 10 s), the 250 ms limit reached but not passed; 1 ns later it trips."""
    live = Liveness(dataclasses.replace(TOLERANT, max_loss_pct=100))
    live.samples(RATE_T0, [0])
    if not trips:
        live.samples(RATE_T0 + 10 * S + late_ns, [945])
        return
    exc = trip(live.samples, RATE_T0 + 10 * S + late_ns, [945])
    assert exc.cause.startswith("sensor clock 550 ms behind wall time (limit 250 ms + 3 % of the 10.0 s since its "
                                "first sample): the sensor's real rate is not 100 Hz")
