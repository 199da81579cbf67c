"""Integer limits the gate enforces, derived once from the device caps and the patient profile.

Standard library (and the codec) only: the gate package must stay small, reviewable and free
of numerics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fescontrol.protocol import sciencemode2 as sm2

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class ChannelLimits:
    max_current_ma: int
    max_pulse_width_us: int


@dataclass(frozen=True)
class GateLimits:
    """Everything the gate checks, in integer device units (mA, us, 0.5 ms codes, nC, ns)."""

    channels: dict[int, ChannelLimits]
    min_pulse_width_us: int
    current_step_ma: int
    max_charge_per_phase_nc: int
    min_main_time_code: int
    min_group_time_code: int
    max_ramp_step_ma: int
    max_on_ns: int
    """Stuck-on timer: longest time one channel may stay non-zero without a break."""
    duty_window_ns: int
    max_duty_on_ns: int
    """Longest on-time of one channel within any sliding window of `duty_window_ns`."""
    max_session_on_ns: int
    """Longest total time any channel may be on in one session."""
    max_sample_age_ns: int
    """Non-zero output needs a sensor sample younger than this (reported with `sensor_sample`)."""

    @property
    def min_period_us(self) -> int:
        """The shortest pulse period, in us: `min_main_time_code` read as a period (1 ms + code x 0.5 ms).

        The ScienceMode2 main time code is the one integer form of the frequency cap; other
        protocols' hooks compare their own period field against this.
        """
        return 1000 + 500 * self.min_main_time_code

    def allowed_mask(self) -> int:
        mask = 0
        for number in self.channels:
            mask |= 1 << (number - 1)
        return mask


def limits_from_config(device: object, profile: object) -> GateLimits:
    """Take the stricter of device cap and profile limit for every channel.

    `device` is a DeviceConfig and `profile` a PatientProfile; typed loosely so this module
    does not import pydantic.
    """
    dev = device.device  # type: ignore[attr-defined]
    safety = profile.safety  # type: ignore[attr-defined]
    channels = {
        ch.number: ChannelLimits(
            max_current_ma=min(int(ch.max_current_ma), int(dev.max_current_ma)),
            max_pulse_width_us=min(int(ch.pulse_width_us), int(dev.max_pulse_width_us)),
        )
        for ch in profile.channels  # type: ignore[attr-defined]
    }
    min_interval_ms = max(float(dev.min_main_interval_ms), 1000.0 / float(dev.max_frequency_hz))
    # the profile's frequency is a cap too: the device may go faster, this patient may not
    profile_code = sm2.frequency_code_for_hz(float(profile.stimulation.frequency_hz))  # type: ignore[attr-defined]
    window_ns = round(float(safety.duty_window_s) * NS_PER_S)
    return GateLimits(
        channels=channels,
        min_pulse_width_us=int(dev.min_pulse_width_us),
        current_step_ma=int(dev.current_step_ma),
        max_charge_per_phase_nc=int(profile.stimulation.max_charge_per_phase_nc),  # type: ignore[attr-defined]
        # codes are half milliseconds above 1 ms; a tiny tolerance absorbs float noise of 1000/f
        min_main_time_code=max(math.ceil(2 * (min_interval_ms - 1.0) - 1e-6), profile_code),
        # ScienceMode2 only: other protocols have no group interval (no lower bound to keep)
        min_group_time_code=0 if dev.group_interval_ms is None else math.ceil(2 * (float(dev.group_interval_ms) - 1.5) - 1e-6),
        max_ramp_step_ma=int(safety.max_ramp_step_ma),
        max_on_ns=round(float(safety.max_on_time_s) * NS_PER_S),
        duty_window_ns=window_ns,
        max_duty_on_ns=window_ns * int(safety.max_duty_pct) // 100,
        max_session_on_ns=round(float(safety.max_session_stim_s) * NS_PER_S),
        max_sample_age_ns=int(safety.sensor_stale_ms) * NS_PER_MS,
    )
