"""Liveness interlocks with injected wall time: every limit at the boundary and one past it."""

from __future__ import annotations

import dataclasses

import pytest

from fescontrol.errors import AckTimeout, SafetyTrip, SensorLost
from fescontrol.safety.liveness import Liveness, LivenessLimits, limits_from_config
from tests.unit.loop_rig import base_configs

MS = 1_000_000
S = 1_000_000_000
LIMITS = LivenessLimits(
    rate_hz=100.0, speed=1.0, stale_ns=150 * MS, lost_ns=2000 * MS, first_sample_ns=10 * S, max_loss_pct=20,
    max_drift_ns=250 * MS, max_burst_ns=1730 * MS, ack_timeout_ns=200 * MS, max_busy_retries=3,
    loop_overrun_ns=100 * MS, loop_overrun_off_ns=500 * MS)
T0 = 1_000 * S


def at(seq: int, rate_hz: float = 100.0) -> int:
    """Wall time of sample `seq` for a sensor exactly at `rate_hz` (sample 0 at T0)."""
    return T0 + round(seq * S / rate_hz)


def fed(limits: LivenessLimits = LIMITS, upto: int = 0) -> Liveness:
    """A Liveness that has had samples 0..upto on time, one by one."""
    live = Liveness(limits)
    for k in range(upto + 1):
        live.samples(at(k, limits.rate_hz * limits.speed), [k])
    return live


# -- limits ------------------------------------------------------------------------------------------
def test_limits_from_config_converts_the_profile_and_device() -> None:
    device, profile = base_configs()
    lim = limits_from_config(profile, device, 100.0, speed=2.0)
    assert lim == LivenessLimits(
        rate_hz=100.0, speed=2.0, stale_ns=150 * MS, lost_ns=2000 * MS, first_sample_ns=10 * S, max_loss_pct=20,
        max_drift_ns=250 * MS,
        # max_stim 1.5 s + extension 0.05 s + ramp down 0.08 s + one response of 100 ms
        max_burst_ns=1730 * MS, ack_timeout_ns=200 * MS, max_busy_retries=3, loop_overrun_ns=100 * MS, loop_overrun_off_ns=500 * MS,
        max_rate_error_pct=3)
    assert limits_from_config(profile, device, 50.0).speed == 1.0


@pytest.mark.parametrize(("rate", "window", "burst_samples"), [(5.0, 10, 8), (100.0, 100, 173), (1000.0, 1000, 1730)])
def test_loss_window_is_one_second_but_at_least_ten_samples(rate: float, window: int, burst_samples: int) -> None:
    lim = dataclasses.replace(LIMITS, rate_hz=rate)
    assert lim.loss_window_samples == window
    assert lim.max_burst_samples == burst_samples


# -- samples: freshness, drift, loss ---------------------------------------------------------------
def test_no_samples_is_never_fresh_and_an_empty_batch_changes_nothing() -> None:
    live = Liveness(LIMITS)
    live.samples(T0, [])
    assert not live.sample_fresh(T0)
    for t in range(T0 + 10 * S, T0 + 20 * S + 1, 100 * MS):  # the first tick starts the clock, not the call
        live.tick(t)
    assert live._t_s() is None
    with pytest.raises(SensorLost, match=r"no valid sample in the first 10000 ms of the session \(limit 10000 ms\)"):
        live.tick(T0 + 20 * S + 1)


def test_a_sample_is_fresh_up_to_the_stale_limit() -> None:
    live = fed()
    assert live.sample_fresh(T0 + 150 * MS)
    assert not live.sample_fresh(T0 + 150 * MS + 1)


def test_clock_drift_at_the_limit_passes_and_beyond_it_trips_behind() -> None:
    live = fed(upto=10)
    live.samples(at(11) + 250 * MS, [11])  # 250 ms late: at the limit
    with pytest.raises(SafetyTrip) as exc:
        live.samples(at(12) + 250 * MS + 1, [12])
    assert exc.value.cause == ("sensor clock 250 ms behind wall time (limit 250 ms): "
                               "the sensor's real rate is not 100 Hz")
    assert exc.value.t_s == 0.12


def test_clock_drift_ahead_of_wall_time_trips() -> None:
    live = fed(upto=100)
    with pytest.raises(SafetyTrip) as exc:
        live.samples(at(126) - 260 * MS, [126])
    assert exc.value.cause.startswith("sensor clock 260 ms ahead of wall time")


def test_replay_speed_scales_sample_time() -> None:
    """400 samples a second of wall time are on time at speed 4 and far ahead at speed 1."""
    fast, slow = Liveness(dataclasses.replace(LIMITS, speed=4.0)), Liveness(LIMITS)
    for k in range(401):
        fast.samples(at(k, 400.0), [k])
    with pytest.raises(SafetyTrip, match="ahead of wall time"):
        for k in range(401):
            slow.samples(at(k, 400.0), [k])


def test_frame_loss_is_judged_only_once_a_quarter_window_has_been_seen() -> None:
    live = Liveness(LIMITS)
    # 24 sequence numbers spanned, 12 missing (50 %): too few to judge
    for k in range(0, 24, 2):
        live.samples(at(k), [k])
    with pytest.raises(SafetyTrip) as exc:
        live.samples(at(24), [24])  # span 25: judged now
    assert exc.value.cause == "sensor losing frames: 48 % of the last 25 samples missing (limit 20 %)"


def test_frame_loss_at_the_limit_passes_and_one_more_trips() -> None:
    live = fed(upto=99)  # a full window of 100
    for k in [*range(100, 140), *range(160, 200)]:  # 140..159 lost: 20 % of the last 100
        live.samples(at(k), [k])
    assert list(live._window)[0] == 100  # the window holds one second: older samples dropped
    with pytest.raises(SafetyTrip) as exc:
        live.samples(at(201), [201])  # 200 lost too: 21 of the last 100
    assert exc.value.cause == "sensor losing frames: 21 % of the last 100 samples missing (limit 20 %)"


# -- the tick ------------------------------------------------------------------------------------------
def test_loop_overrun_at_the_limit_passes_and_beyond_trips() -> None:
    live = Liveness(LIMITS)
    live.output(T0, True)
    live.tick(T0)
    live.tick(T0 + 100 * MS)
    live.tick(T0 + 130 * MS)
    assert live.max_tick_gap_ns == 100 * MS
    with pytest.raises(SafetyTrip) as exc:
        live.tick(T0 + 230 * MS + 1)
    assert exc.value.cause == "control loop overrun: 100 ms between ticks (limit 100 ms)"
    assert live.max_tick_gap_ns == 100 * MS + 1


def test_stale_sensor_trips_only_while_output_is_on() -> None:
    live = fed()
    live.tick(T0 + 150 * MS)
    live.output(T0 + 150 * MS, True)
    live.tick(T0 + 150 * MS)  # at the limit: not stale yet
    live.output(T0 + 160 * MS, False)
    live.tick(T0 + 160 * MS)  # stale, but nothing is on
    live.output(T0 + 170 * MS, True)
    with pytest.raises(SafetyTrip) as exc:
        live.tick(T0 + 170 * MS)
    assert exc.value.cause == "sensor stale: no sample for 170 ms while stimulating (limit 150 ms)"
    assert exc.value.t_s == 0.0


def test_lost_sensor_trips_at_zero_output() -> None:
    live = fed()
    for t in range(0, 2000 * MS + 1, 50 * MS):
        live.tick(T0 + t)
    with pytest.raises(SafetyTrip) as exc:
        live.tick(T0 + 2000 * MS + 1)
    assert exc.value.cause == "sensor lost: no sample for 2000 ms (limit 2000 ms)"


def test_burst_wall_time_at_the_limit_passes_and_beyond_trips() -> None:
    live = fed()
    live.output(T0, True)
    live.output(T0 + 500 * MS, True)  # still the same burst: it started at T0
    for t in range(0, 1730 * MS + 1, 10 * MS):
        live.samples(T0 + t, [t // (10 * MS)])
        live.tick(T0 + t)
    with pytest.raises(SafetyTrip) as exc:
        live.tick(T0 + 1730 * MS + 1)
    assert exc.value.cause == "stimulation on for 1730 ms of wall time in one step (limit 1730 ms)"


def test_a_new_burst_is_measured_from_its_own_start() -> None:
    live = Liveness(LIMITS)
    for k in range(271):  # 2.7 s: longer than the limit in wall and in sample time
        t = at(k)
        live.samples(t, [k])
        if k == 0:
            live.output(t, True)
        if k == 100:  # the first burst ends; the next starts 1 ns later
            live.output(t, False)
            live.output(t + 1, True)
        live.tick(t + 1)
    assert live._burst_start_ns == at(100) + 1 and live._burst_start_seq == 100
    live.output(at(270), True)  # still on: the same burst
    live.samples(at(273), [273])
    live.tick(at(273))  # 1730 ms - 1 ns and 173 samples since the second burst began
    with pytest.raises(SafetyTrip) as exc:
        live.tick(at(273) + 2)
    assert exc.value.cause == "stimulation on for 1730 ms of wall time in one step (limit 1730 ms)"


def test_burst_sample_time_beyond_the_limit_trips_even_when_wall_time_does_not() -> None:
    """A sensor twice as fast as configured (drift limit wide): sample time outruns wall time."""
    lim = dataclasses.replace(LIMITS, max_drift_ns=10 * S)
    live = fed(lim)
    live.output(T0, True)
    for k in range(1, 174):
        live.samples(at(k, 200.0), [k])
        live.tick(at(k, 200.0))
    with pytest.raises(SafetyTrip) as exc:
        live.samples(at(174, 200.0), [174])
        live.tick(at(174, 200.0))
    assert exc.value.cause == "stimulation on for 174 samples of sensor time in one step (limit 173 samples)"


def test_burst_started_before_any_sample_is_judged_in_wall_time_only() -> None:
    """Sequence time cannot be measured from an unknown start: 346 samples (at 200 Hz) pass."""
    live = Liveness(dataclasses.replace(LIMITS, max_drift_ns=10 * S))
    live.output(T0, True)
    assert live._burst_start_seq is None
    for k in range(347):
        live.samples(at(k, 200.0), [k])
        live.tick(at(k, 200.0))
    assert live._last_seq == 346 > LIMITS.max_burst_samples
    with pytest.raises(SafetyTrip, match="of wall time in one step"):
        live.tick(T0 + 1730 * MS + 1)


# -- acks and busy answers ---------------------------------------------------------------------------
def test_ack_timeout_at_the_limit_passes_and_beyond_trips() -> None:
    live = Liveness(LIMITS)
    live.check_ack(T0)  # nothing in flight
    live.command_sent(T0, "StartChannelListMode")
    live.check_ack(T0 + 200 * MS)
    with pytest.raises(AckTimeout) as exc:
        live.check_ack(T0 + 200 * MS + 1)
    assert exc.value.cause == "no ack for StartChannelListMode within 200 ms"
    assert exc.value.t_s is None


def test_an_answer_clears_the_command_in_flight() -> None:
    live = Liveness(LIMITS)
    live.command_sent(T0, "StopChannelListMode")
    live.command_answered(busy=False)
    live.check_ack(T0 + 10 * S)


def test_busy_answers_in_a_row_are_bounded_and_a_good_answer_resets_the_count() -> None:
    live = Liveness(LIMITS)
    for _ in range(3):
        live.command_sent(T0, "StartChannelListMode")
        live.command_answered(busy=True)
    live.command_sent(T0, "StartChannelListMode")
    live.command_answered(busy=False)
    assert live._busy_in_a_row == 0
    for _ in range(3):
        live.command_sent(T0, "StartChannelListMode")
        live.command_answered(busy=True)
    live.command_sent(T0, "StartChannelListMode")
    with pytest.raises(SafetyTrip) as exc:
        live.command_answered(busy=True)
    assert exc.value.cause == "stimulator answered StartChannelListMode busy 4 times in a row (limit 3 retries)"


def test_a_busy_answer_with_nothing_in_flight_is_counted_as_a_command() -> None:
    live = Liveness(dataclasses.replace(LIMITS, max_busy_retries=0))
    with pytest.raises(SafetyTrip) as exc:
        live.command_answered(busy=True)
    assert exc.value.cause == "stimulator answered command busy 1 times in a row (limit 0 retries)"
