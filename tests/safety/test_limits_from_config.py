"""limits_from_config: every gate limit from the real configs, and from varied ones (the stricter side wins)."""

from __future__ import annotations

import math

import pytest

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.limits import NS_PER_MS, NS_PER_S, ChannelLimits, GateLimits, limits_from_config


@pytest.fixture(scope="module")
def real() -> tuple[DeviceConfig, PatientProfile]:
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path())
    return device, profile


def vary(device: DeviceConfig, profile: PatientProfile, *, dev: dict[str, object] | None = None,
         stim: dict[str, object] | None = None, safety: dict[str, object] | None = None,
         channels: list[dict[str, object]] | None = None) -> tuple[DeviceConfig, PatientProfile]:
    """Copies with some fields replaced (model_copy: no validation, so a test may go anywhere)."""
    d = device.model_copy(update={"device": device.device.model_copy(update=dev or {})})
    chs = profile.channels
    if channels is not None:
        chs = tuple(chs[0].model_copy(update=c) for c in channels)
    p = profile.model_copy(update={
        "stimulation": profile.stimulation.model_copy(update=stim or {}),
        "safety": profile.safety.model_copy(update=safety or {}),
        "channels": chs})
    return d, p


def test_constants() -> None:
    assert NS_PER_S == 1_000_000_000
    assert NS_PER_MS == 1_000_000


def test_real_configs_give_the_stricter_of_device_and_profile(real: tuple[DeviceConfig, PatientProfile]) -> None:
    """Computed here from the raw config values, independently of the implementation's formulas."""
    device, profile = real
    dev, saf = device.device, profile.safety
    lim = limits_from_config(device, profile)
    assert set(lim.channels) == {c.number for c in profile.channels}
    for c in profile.channels:
        assert lim.channels[c.number] == ChannelLimits(
            max_current_ma=c.max_current_ma if c.max_current_ma < dev.max_current_ma else dev.max_current_ma,
            max_pulse_width_us=c.pulse_width_us if c.pulse_width_us < dev.max_pulse_width_us
            else dev.max_pulse_width_us)
    assert lim.min_pulse_width_us == dev.min_pulse_width_us
    assert lim.current_step_ma == dev.current_step_ma
    assert lim.max_charge_per_phase_nc == profile.stimulation.max_charge_per_phase_nc
    # the frequency cap: the slowest of device minimum interval, device top rate and the profile's rate
    slowest_ms = max(dev.min_main_interval_ms, 1000.0 / dev.max_frequency_hz, 1000.0 / profile.stimulation.frequency_hz)
    assert sm2.main_interval_ms(lim.min_main_time_code) == pytest.approx(slowest_ms, abs=0.5)
    assert sm2.main_interval_ms(lim.min_main_time_code) >= slowest_ms - 0.25
    assert sm2.group_interval_ms(lim.min_group_time_code) == dev.group_interval_ms
    assert lim.max_ramp_step_ma == saf.max_ramp_step_ma
    assert lim.max_on_ns == round(saf.max_on_time_s * 1e9)
    assert lim.duty_window_ns == round(saf.duty_window_s * 1e9)
    assert lim.max_duty_on_ns == round(saf.duty_window_s * 1e9) * saf.max_duty_pct // 100
    assert lim.max_session_on_ns == round(saf.max_session_stim_s * 1e9)
    assert lim.max_sample_age_ns == saf.sensor_stale_ms * 1_000_000


def test_exact_values_of_a_fully_specified_config(real: tuple[DeviceConfig, PatientProfile]) -> None:
    d, p = vary(*real,
                dev={"max_current_ma": 126, "max_pulse_width_us": 500, "min_pulse_width_us": 20,
                     "current_step_ma": 2, "max_frequency_hz": 50.0, "min_main_interval_ms": 8.0,
                     "group_interval_ms": 8.0},
                stim={"frequency_hz": 40.0, "max_charge_per_phase_nc": 15000},
                safety={"max_ramp_step_ma": 30, "max_on_time_s": 3.0, "duty_window_s": 10.0,
                        "max_duty_pct": 70, "max_session_stim_s": 3600.0, "sensor_stale_ms": 150},
                channels=[{"number": 1, "max_current_ma": 40, "pulse_width_us": 300},
                          {"number": 2, "max_current_ma": 30, "pulse_width_us": 250}])
    assert limits_from_config(d, p) == GateLimits(
        channels={1: ChannelLimits(40, 300), 2: ChannelLimits(30, 250)},
        min_pulse_width_us=20, current_step_ma=2, max_charge_per_phase_nc=15000,
        min_main_time_code=48, min_group_time_code=13, max_ramp_step_ma=30,
        max_on_ns=3_000_000_000, duty_window_ns=10_000_000_000, max_duty_on_ns=7_000_000_000,
        max_session_on_ns=3_600_000_000_000, max_sample_age_ns=150_000_000)


@pytest.mark.parametrize("dev_ma,prof_ma,want", [(20, 40, 20), (40, 20, 20), (30, 30, 30), (126, 1, 1), (0, 5, 0)])
def test_current_cap_is_the_smaller(real: tuple[DeviceConfig, PatientProfile], dev_ma: int, prof_ma: int,
                                    want: int) -> None:
    d, p = vary(*real, dev={"max_current_ma": dev_ma},
                channels=[{"number": 1, "max_current_ma": prof_ma, "pulse_width_us": 300}])
    lim = limits_from_config(d, p)
    assert lim.channels == {1: ChannelLimits(want, min(300, d.device.max_pulse_width_us))}
    assert type(lim.channels[1].max_current_ma) is int


@pytest.mark.parametrize("dev_us,prof_us,want", [(200, 300, 200), (300, 200, 200), (250, 250, 250), (500, 20, 20)])
def test_pulse_width_cap_is_the_smaller(real: tuple[DeviceConfig, PatientProfile], dev_us: int, prof_us: int,
                                        want: int) -> None:
    d, p = vary(*real, dev={"max_pulse_width_us": dev_us},
                channels=[{"number": 3, "max_current_ma": 10, "pulse_width_us": prof_us}])
    lim = limits_from_config(d, p)
    assert lim.channels == {3: ChannelLimits(min(10, d.device.max_current_ma), want)}
    assert lim.allowed_mask() == 0b100


def test_each_channel_gets_its_own_caps(real: tuple[DeviceConfig, PatientProfile]) -> None:
    d, p = vary(*real, dev={"max_current_ma": 50, "max_pulse_width_us": 400},
                channels=[{"number": 1, "max_current_ma": 60, "pulse_width_us": 100},
                          {"number": 4, "max_current_ma": 12, "pulse_width_us": 450},
                          {"number": 8, "max_current_ma": 50, "pulse_width_us": 400}])
    lim = limits_from_config(d, p)
    assert lim.channels == {1: ChannelLimits(50, 100), 4: ChannelLimits(12, 400), 8: ChannelLimits(50, 400)}
    assert lim.allowed_mask() == 0b1000_1001


@pytest.mark.parametrize("dev_hz,dev_min_ms,prof_hz,want", [
    (50.0, 8.0, 40.0, 48),     # the profile's 25 ms is the slowest
    (50.0, 8.0, 100.0, 38),    # the device's 50 Hz (20 ms) is slower than the profile's 100 Hz
    (125.0, 8.0, 100.0, 18),   # the profile's 10 ms
    (125.0, 8.0, 125.0, 14),   # the device's 8 ms minimum interval and 125 Hz agree
    (125.0, 30.0, 40.0, 58),   # the device's 30 ms minimum interval wins over 40 Hz
    (125.0, 30.5, 100.0, 59),  # 30.5 ms: a half-millisecond code
    (30.0, 8.0, 100.0, 65),    # 33.33 ms is not on the grid: round up (slower), never down
    (40.0, 8.0, 100.0, 48),    # exactly 25 ms from the device rate: no rounding up by float noise
    (20.0, 8.0, 100.0, 98),    # exactly 50 ms
])
def test_frequency_cap(real: tuple[DeviceConfig, PatientProfile], dev_hz: float, dev_min_ms: float,
                       prof_hz: float, want: int) -> None:
    d, p = vary(*real, dev={"max_frequency_hz": dev_hz, "min_main_interval_ms": dev_min_ms},
                stim={"frequency_hz": prof_hz})
    assert limits_from_config(d, p).min_main_time_code == want


def test_frequency_code_is_not_pushed_up_by_float_noise(real: tuple[DeviceConfig, PatientProfile]) -> None:
    # 1000 / (1000 / 30.5) - 1 gives 59.00000000000001 half-ms in floats: the tolerance keeps the code at 59
    hz = 1000.0 / 30.5
    assert 2 * (1000.0 / hz - 1.0) > 59.0
    d, p = vary(*real, dev={"max_frequency_hz": hz, "min_main_interval_ms": 8.0}, stim={"frequency_hz": 100.0})
    assert limits_from_config(d, p).min_main_time_code == 59
    # and a real excess of a microsecond still rounds up (slower)
    d, p = vary(*real, dev={"max_frequency_hz": 1000.0 / 30.501, "min_main_interval_ms": 8.0},
                stim={"frequency_hz": 100.0})
    assert limits_from_config(d, p).min_main_time_code == 60


@pytest.mark.parametrize("group_ms,want", [(8.0, 13), (8.5, 14), (10.0, 17), (129.0, 255), (1.5, 0)])
def test_group_time_code(real: tuple[DeviceConfig, PatientProfile], group_ms: float, want: int) -> None:
    d, p = vary(*real, dev={"group_interval_ms": group_ms})
    assert limits_from_config(d, p).min_group_time_code == want


def test_group_time_code_tolerates_float_noise_and_rounds_up(real: tuple[DeviceConfig, PatientProfile]) -> None:
    d, p = vary(*real, dev={"group_interval_ms": 8.0 + 1e-9})
    assert limits_from_config(d, p).min_group_time_code == 13
    d, p = vary(*real, dev={"group_interval_ms": 8.01})
    assert limits_from_config(d, p).min_group_time_code == 14


@pytest.mark.parametrize("nc", [1, 6000, 15000, 15001, 63000])
def test_charge_ceiling_is_exactly_the_profile_value(real: tuple[DeviceConfig, PatientProfile], nc: int) -> None:
    d, p = vary(*real, stim={"max_charge_per_phase_nc": nc})
    assert limits_from_config(d, p).max_charge_per_phase_nc == nc


@pytest.mark.parametrize("step", [1, 2, 30, 31, 130])
def test_ramp_step_is_the_profile_value(real: tuple[DeviceConfig, PatientProfile], step: int) -> None:
    d, p = vary(*real, safety={"max_ramp_step_ma": step})
    assert limits_from_config(d, p).max_ramp_step_ma == step


@pytest.mark.parametrize("min_us,step_ma", [(0, 1), (20, 2), (37, 5)])
def test_device_minimum_pulse_width_and_current_step(real: tuple[DeviceConfig, PatientProfile], min_us: int,
                                                      step_ma: int) -> None:
    d, p = vary(*real, dev={"min_pulse_width_us": min_us, "current_step_ma": step_ma})
    lim = limits_from_config(d, p)
    assert (lim.min_pulse_width_us, lim.current_step_ma) == (min_us, step_ma)


@pytest.mark.parametrize("on_s,window_s,pct,session_s,stale_ms,want", [
    (3.0, 10.0, 70, 3600.0, 150, (3 * 10**9, 10 * 10**9, 7 * 10**9, 3600 * 10**9, 150 * 10**6)),
    (2.5, 1.5, 33, 1.0, 20, (2_500_000_000, 1_500_000_000, 495_000_000, 1_000_000_000, 20_000_000)),
    # round, not truncate: 0.3 s and 1.1 s are not exact in binary
    (0.3, 1.1, 100, 36000.0, 2000, (300_000_000, 1_100_000_000, 1_100_000_000, 36_000 * 10**9, 2 * 10**9)),
    # the duty budget rounds down to whole nanoseconds: 1_000_000_001 * 33 // 100
    (10.0, 1.000000001, 33, 7.5, 1, (10 * 10**9, 1_000_000_001, 330_000_000, 7_500_000_000, 1_000_000)),
    (0.5, 120.0, 1, 2.000000001, 999, (500_000_000, 120 * 10**9, 1_200_000_000, 2_000_000_001, 999_000_000)),
])
def test_wall_time_limits(real: tuple[DeviceConfig, PatientProfile], on_s: float, window_s: float, pct: int,
                          session_s: float, stale_ms: int, want: tuple[int, ...]) -> None:
    d, p = vary(*real, safety={"max_on_time_s": on_s, "duty_window_s": window_s, "max_duty_pct": pct,
                               "max_session_stim_s": session_s, "sensor_stale_ms": stale_ms})
    lim = limits_from_config(d, p)
    got = (lim.max_on_ns, lim.duty_window_ns, lim.max_duty_on_ns, lim.max_session_on_ns, lim.max_sample_age_ns)
    assert got == want
    assert all(type(v) is int for v in got)


def test_allowed_mask() -> None:
    def mask(*numbers: int) -> int:
        return GateLimits(channels={n: ChannelLimits(1, 1) for n in numbers}, min_pulse_width_us=0,
                          current_step_ma=1, max_charge_per_phase_nc=1, min_main_time_code=0,
                          min_group_time_code=0, max_ramp_step_ma=1, max_on_ns=1, duty_window_ns=1,
                          max_duty_on_ns=1, max_session_on_ns=1, max_sample_age_ns=1).allowed_mask()

    assert mask() == 0
    assert mask(1) == 0b1
    assert mask(2) == 0b10
    assert mask(1, 2) == 0b11
    assert mask(8) == 0x80
    assert mask(1, 3, 8) == 0b1000_0101
    assert mask(*range(1, 9)) == 0xFF


def test_every_field_is_an_int_and_nothing_is_left_out(real: tuple[DeviceConfig, PatientProfile]) -> None:
    lim = limits_from_config(*real)
    for f in lim.__dataclass_fields__:
        if f != "channels":
            assert type(getattr(lim, f)) is int, f
    assert not math.isnan(float(lim.max_on_ns))
