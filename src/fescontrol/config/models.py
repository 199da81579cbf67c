"""Frozen, validated config models: device caps (engineer-owned) and patient profile (therapist-owned).

Every limit carries its unit in its name. Unknown keys are errors, so a typo in a profile
can never silently fall back to a default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeviceSection(_Frozen):
    model: Literal["rehastim2"]
    protocol: Literal["sciencemode2"]
    channels: int = Field(ge=1, le=8)
    max_current_ma: int = Field(ge=0, le=130)
    current_step_ma: int = Field(ge=1, le=10)
    min_pulse_width_us: int = Field(ge=0, le=500)
    max_pulse_width_us: int = Field(ge=1, le=500)
    max_frequency_hz: float = Field(gt=0, le=125)
    min_main_interval_ms: float = Field(ge=8.0, le=1025.0)
    group_interval_ms: float = Field(ge=8.0, le=129.0)

    @model_validator(mode="after")
    def _ranges(self) -> "DeviceSection":
        if self.min_pulse_width_us > self.max_pulse_width_us:
            raise ValueError(
                f"min_pulse_width_us ({self.min_pulse_width_us}) exceeds max_pulse_width_us "
                f"({self.max_pulse_width_us})")
        return self


class LinkSection(_Frozen):
    baudrate: int = Field(gt=0)
    parity: Literal["none", "even", "odd"]
    stopbits: Literal[1, 2]
    watchdog_timeout_ms: int = Field(ge=100, le=10000)
    keepalive_interval_ms: int = Field(ge=20, le=1000)
    max_response_ms: int = Field(ge=10, le=1000)
    handshake_timeout_ms: int = Field(ge=100, le=60000)

    @model_validator(mode="after")
    def _keepalive_below_watchdog(self) -> "LinkSection":
        # A keep-alive at half the watchdog leaves room for one lost packet (trap C-6).
        if self.keepalive_interval_ms * 2 > self.watchdog_timeout_ms:
            raise ValueError(
                f"keepalive_interval_ms ({self.keepalive_interval_ms}) must be at most half of "
                f"watchdog_timeout_ms ({self.watchdog_timeout_ms})")
        return self


class DeviceConfig(_Frozen):
    device: DeviceSection
    link: LinkSection


class PatientSection(_Frozen):
    id: str = Field(min_length=1, max_length=64)
    side: Literal["left", "right"]
    sensor: Literal["heel_switch"]


class StimulationSection(_Frozen):
    frequency_hz: float = Field(gt=0, le=100)
    max_charge_per_phase_nc: int = Field(gt=0, le=63000)


class ChannelProfile(_Frozen):
    number: int = Field(ge=1, le=8)
    muscle: str = Field(min_length=1)
    plateau_current_ma: int = Field(gt=0, le=130)
    max_current_ma: int = Field(gt=0, le=130)
    pulse_width_us: int = Field(ge=20, le=500)

    @model_validator(mode="after")
    def _plateau_within_max(self) -> "ChannelProfile":
        if self.plateau_current_ma > self.max_current_ma:
            raise ValueError(
                f"plateau_current_ma ({self.plateau_current_ma}) exceeds max_current_ma "
                f"({self.max_current_ma}) of channel {self.number}")
        return self


class EnvelopeSection(_Frozen):
    ramp_up_s: float = Field(ge=0.0, le=1.0)
    extension_s: float = Field(ge=0.0, le=0.5)
    ramp_down_s: float = Field(ge=0.0, le=1.0)
    max_stim_s: float = Field(gt=0.2, le=5.0)


class DetectorSection(_Frozen):
    contact_threshold_n: float = Field(gt=0, le=3000)
    release_threshold_n: float = Field(gt=0, le=3000)
    debounce_samples: int = Field(ge=1, le=20)
    min_contact_s: float = Field(ge=0.0, le=2.0)
    min_swing_s: float = Field(ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _hysteresis(self) -> "DetectorSection":
        if self.contact_threshold_n <= self.release_threshold_n:
            raise ValueError(
                f"contact_threshold_n ({self.contact_threshold_n}) must be above "
                f"release_threshold_n ({self.release_threshold_n}) for hysteresis")
        return self


class SafetySection(_Frozen):
    sensor_stale_ms: int = Field(ge=20, le=2000)
    max_ramp_step_ma: int = Field(ge=1, le=130)


class PatientProfile(_Frozen):
    patient: PatientSection
    stimulation: StimulationSection
    channels: tuple[ChannelProfile, ...] = Field(min_length=1, max_length=8)
    envelope: EnvelopeSection
    detector: DetectorSection
    safety: SafetySection

    @model_validator(mode="after")
    def _unique_channels(self) -> "PatientProfile":
        numbers = [c.number for c in self.channels]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"channel numbers must be unique, got {numbers}")
        return self

    def plateau_by_channel(self) -> dict[int, float]:
        return {c.number: float(c.plateau_current_ma) for c in self.channels}
