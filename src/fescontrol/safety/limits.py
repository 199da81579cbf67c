"""Integer limits the gate enforces, derived once from the device caps and the patient profile.

Standard library only: the gate package must stay small, reviewable and free of numerics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelLimits:
    max_current_ma: int
    max_pulse_width_us: int


@dataclass(frozen=True)
class GateLimits:
    """Everything the gate checks, in integer device units (mA, us, 0.5 ms codes, nC)."""

    channels: dict[int, ChannelLimits]
    min_pulse_width_us: int
    current_step_ma: int
    max_charge_per_phase_nc: int
    min_main_time_code: int
    min_group_time_code: int
    max_ramp_step_ma: int

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
    channels = {
        ch.number: ChannelLimits(
            max_current_ma=min(int(ch.max_current_ma), int(dev.max_current_ma)),
            max_pulse_width_us=min(int(ch.pulse_width_us), int(dev.max_pulse_width_us)),
        )
        for ch in profile.channels  # type: ignore[attr-defined]
    }
    min_interval_ms = max(float(dev.min_main_interval_ms), 1000.0 / float(dev.max_frequency_hz))
    return GateLimits(
        channels=channels,
        min_pulse_width_us=int(dev.min_pulse_width_us),
        current_step_ma=int(dev.current_step_ma),
        max_charge_per_phase_nc=int(profile.stimulation.max_charge_per_phase_nc),  # type: ignore[attr-defined]
        min_main_time_code=math.ceil(2 * (min_interval_ms - 1.0)),
        min_group_time_code=math.ceil(2 * (float(dev.group_interval_ms) - 1.5)),
        max_ramp_step_ma=int(profile.safety.max_ramp_step_ma),  # type: ignore[attr-defined]
    )
