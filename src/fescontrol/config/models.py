"""Frozen, validated config models: device caps (engineer-owned) and patient profile (therapist-owned).

Every limit carries its unit in its name. Unknown keys are errors, so a typo in a profile
can never silently fall back to a default. Types are strict (pydantic strict mode): a number
written as text ("30") or a boolean where a number belongs is an error, not a silent
conversion, and NaN/inf are refused. A TOML integer is accepted for a float key.

What the firmware of a device model accepts is in :data:`FIRMWARE`; a config that asks for
something the device would refuse (or could not honour) is refused when it is loaded, not at
the first command of a session.
"""

from __future__ import annotations

import math
from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fescontrol.errors import ProtocolError
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.firmware import Firmware, all_firmware

STANDARD_BAUDRATES: tuple[int, ...] = (
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000,
    921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000)
"""Baud rates a serial adapter (FTDI, CDC) can be set to; anything else is a typo."""


FIRMWARE: Mapping[str, Firmware] = all_firmware()
"""Firmware facts of every device model, from the protocol modules' ``DEVICE_FIRMWARE``."""
DEVICE_MODELS: tuple[str, ...] = tuple(FIRMWARE)
PROTOCOLS: tuple[str, ...] = tuple(sorted({fw.protocol for fw in FIRMWARE.values()}))


class Problems(ValueError):
    """One or more problems found by a validator, each with the key (relative to the model) and value.

    The loader reads them back from pydantic's error context, so every message names the
    exact key and value even when a rule spans several keys.
    """

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key} = {value!r}: {why}" for key, value, why in problems))


def _raise_if(problems: list[tuple[str, object, str]]) -> None:
    if problems:
        raise Problems(problems)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class DeviceSection(_Frozen):
    model: str
    """A model some protocol module declares (:data:`DEVICE_MODELS`)."""
    protocol: str
    channels: int = Field(ge=1, le=8)
    max_current_ma: int = Field(ge=0, le=130)
    current_step_ma: int = Field(ge=1, le=10)
    min_pulse_width_us: int = Field(ge=0, le=500)
    max_pulse_width_us: int = Field(ge=1, le=500)
    max_frequency_hz: float = Field(gt=0, le=125)
    min_main_interval_ms: float = Field(ge=8.0, le=1025.0)
    group_interval_ms: float | None = Field(default=None, ge=8.0, le=129.0)
    """ScienceMode2 only (the channel list's group interval); other protocols have none."""

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in FIRMWARE:
            raise ValueError(f"no protocol module declares this model (allowed: {', '.join(DEVICE_MODELS)})")
        return value

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        if value not in PROTOCOLS:
            raise ValueError(f"not a protocol of any device model (allowed: {', '.join(PROTOCOLS)})")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> "DeviceSection":
        """Refuse caps that contradict each other or that the firmware cannot code."""
        problems: list[tuple[str, object, str]] = []
        if self.min_pulse_width_us > self.max_pulse_width_us:
            problems.append(("min_pulse_width_us", self.min_pulse_width_us,
                             f"exceeds max_pulse_width_us ({self.max_pulse_width_us})"))
        fw = FIRMWARE[self.model]  # the field validator refused unknown models
        if self.protocol != fw.protocol:
            problems.append(("protocol", self.protocol, f"{self.model} speaks {fw.protocol} (allowed: {fw.protocol!r})"))
        if not fw.has_group_interval:
            if self.group_interval_ms is not None:
                problems.append(("group_interval_ms", self.group_interval_ms,
                                 f"{fw.protocol} has no group interval (allowed: leave the key out)"))
            _raise_if(problems)
            return self
        if self.group_interval_ms is None:
            problems.append(("group_interval_ms", None, f"{self.model} needs it (allowed: "
                             f"{sm2.group_interval_ms(fw.group_time_code_min)}..{sm2.group_interval_ms(fw.group_time_code_max)} ms)"))
            _raise_if(problems)
        assert self.group_interval_ms is not None
        try:
            code = sm2.group_time_code(self.group_interval_ms)
        except ProtocolError:
            code = None
        if code is None or not fw.group_time_code_min <= code <= fw.group_time_code_max:
            lo = sm2.group_interval_ms(fw.group_time_code_min)
            hi = sm2.group_interval_ms(fw.group_time_code_max)
            problems.append(("group_interval_ms", self.group_interval_ms,
                             f"{self.model} accepts {lo}..{hi} ms in exact 0.5 ms steps "
                             f"(group time code {fw.group_time_code_min}..{fw.group_time_code_max})"))
        # single-pulse channel list: the device refuses a main interval shorter than the group interval
        shortest_main_ms = max(self.min_main_interval_ms, 1000.0 / self.max_frequency_hz)
        if self.group_interval_ms > shortest_main_ms:
            problems.append(("group_interval_ms", self.group_interval_ms,
                             f"longer than the shortest main interval this config allows ({shortest_main_ms:g} ms, "
                             f"from max_frequency_hz and min_main_interval_ms); {self.model} refuses Start "
                             "when the main interval is shorter than the group interval (allowed: "
                             f"{sm2.group_interval_ms(fw.group_time_code_min)}..{shortest_main_ms:g} ms)"))
        _raise_if(problems)
        return self


class LinkSection(_Frozen):
    baudrate: int = Field(json_schema_extra={"allowed": "one of " + ", ".join(map(str, STANDARD_BAUDRATES))})
    parity: Literal["none", "even", "odd"]
    stopbits: int = Field(ge=1, le=2)
    watchdog_timeout_ms: int = Field(ge=100, le=10000)
    keepalive_interval_ms: int = Field(ge=20, le=1000)
    max_response_ms: int = Field(ge=10, le=1000)
    handshake_timeout_ms: int = Field(ge=100, le=60000)
    command_period_ms: int = Field(ge=1, le=1000)
    rtscts: bool = False
    """RTS/CTS hardware flow control (the RehaMove3 and P24 document it; the RehaStim 2 has none)."""

    @field_validator("baudrate")
    @classmethod
    def _standard_baudrate(cls, value: int) -> int:
        """A non-standard rate is a typo (1e9, 46080) that would only show as a silent link."""
        if value not in STANDARD_BAUDRATES:
            raise ValueError(f"not a standard baud rate (allowed: {', '.join(map(str, STANDARD_BAUDRATES))})")
        return value

    @model_validator(mode="after")
    def _timing(self) -> "LinkSection":
        """Keep-alive and ack timing must leave room for one lost packet before the watchdog (trap C-6)."""
        problems: list[tuple[str, object, str]] = []
        if self.keepalive_interval_ms * 2 > self.watchdog_timeout_ms:
            problems.append(("keepalive_interval_ms", self.keepalive_interval_ms,
                             f"must be at most half of watchdog_timeout_ms ({self.watchdog_timeout_ms}), "
                             "so one lost keep-alive does not trip the watchdog (allowed: "
                             f"<= {self.watchdog_timeout_ms // 2})"))
        if self.max_response_ms >= self.keepalive_interval_ms:
            problems.append(("max_response_ms", self.max_response_ms,
                             f"one command at a time, so an ack must be due before the next keep-alive (allowed: "
                             f"< keepalive_interval_ms, {self.keepalive_interval_ms})"))
        worst_gap = self.keepalive_interval_ms + 2 * self.max_response_ms
        if worst_gap > self.watchdog_timeout_ms:
            problems.append(("max_response_ms", self.max_response_ms,
                             f"keepalive_interval_ms + 2 x max_response_ms (the ack timeout) = {worst_gap} ms "
                             f"exceeds watchdog_timeout_ms ({self.watchdog_timeout_ms}): a keep-alive waiting "
                             "behind an unanswered command would come too late (allowed: max_response_ms "
                             f"<= {(self.watchdog_timeout_ms - self.keepalive_interval_ms) // 2})"))
        if self.command_period_ms > self.max_response_ms:
            problems.append(("command_period_ms", self.command_period_ms,
                             f"a normal command cannot take longer than an ack may (allowed: <= max_response_ms, "
                             f"{self.max_response_ms})"))
        _raise_if(problems)
        return self


class DeviceConfig(_Frozen):
    device: DeviceSection
    link: LinkSection

    @model_validator(mode="after")
    def _firmware_can_honour_link(self) -> "DeviceConfig":
        """The link settings must be ones the firmware of this model honours."""
        fw = FIRMWARE[self.device.model]
        link = self.link
        model = self.device.model
        problems: list[tuple[str, object, str]] = []
        for key, want in (("baudrate", fw.baudrate), ("parity", fw.parity), ("stopbits", fw.stopbits),
                          ("rtscts", fw.rtscts)):
            if getattr(link, key) != want:
                problems.append((f"link.{key}", getattr(link, key),
                                 f"{model} talks only {fw.baudrate} baud, parity {fw.parity}, "
                                 f"{fw.stopbits} stop bit, RTS/CTS {'on' if fw.rtscts else 'off'} (allowed: {want!r})"))
        if link.watchdog_timeout_ms > fw.watchdog_ms:
            problems.append(("link.watchdog_timeout_ms", link.watchdog_timeout_ms,
                             f"the {model} watchdog is fixed at {fw.watchdog_ms} ms (allowed: "
                             f"<= {fw.watchdog_ms}); the host must not assume a longer one"))
        if link.max_response_ms < fw.worst_ack_ms:
            problems.append(("link.max_response_ms", link.max_response_ms,
                             f"{model} may take up to {fw.worst_ack_ms} ms to ack (allowed: >= {fw.worst_ack_ms})"))
        if link.command_period_ms <= fw.command_processing_ms:
            problems.append(("link.command_period_ms", link.command_period_ms,
                             f"one command takes longer than the {fw.command_processing_ms} ms {model} needs to "
                             f"process it (allowed: > {fw.command_processing_ms})"))
        if link.handshake_timeout_ms < 2 * fw.init_period_ms:
            problems.append(("link.handshake_timeout_ms", link.handshake_timeout_ms,
                             f"{model} sends Init every {fw.init_period_ms} ms; wait at least two of them "
                             f"(allowed: >= {2 * fw.init_period_ms})"))
        _raise_if(problems)
        return self


class PatientSection(_Frozen):
    id: str = Field(min_length=1, max_length=64)
    side: Literal["left", "right"]
    sensor: Literal["heel_switch", "imu"]


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

    def longest_burst_s(self) -> float:
        """Longest time one burst keeps a channel non-zero: max_stim_s, then extension and ramp-down."""
        return self.max_stim_s + self.extension_s + self.ramp_down_s


DETECTOR_KINDS = ("heel_switch", "adaptive_heel", "insole", "foot_imu", "shank_imu")
"""The detector kinds a profile may name (fescontrol.core.detectors builds them)."""


class DetectorSection(_Frozen):
    """The gait detector (docs/profiles.md, [detector]); every key added after the first release
    has a default, so older profiles load (and then run the default kind, ``adaptive_heel``).

    ``heel_switch`` uses the fixed thresholds ``contact_threshold_n`` / ``release_threshold_n``;
    ``adaptive_heel`` and ``insole`` learn the wearer's levels and use the ``*_share`` keys
    (shares of the wearer's own range) with the absolute floors in newtons. ``debounce_samples``,
    ``min_contact_s`` and ``min_swing_s`` apply to every kind.
    """

    kind: Literal["heel_switch", "adaptive_heel", "insole", "foot_imu", "shank_imu"] = "adaptive_heel"
    contact_threshold_n: float = Field(default=80.0, gt=0, le=3000)
    release_threshold_n: float = Field(default=25.0, gt=0, le=3000)
    debounce_samples: int = Field(ge=1, le=20)
    min_contact_s: float = Field(ge=0.0, le=2.0)
    min_swing_s: float = Field(ge=0.0, le=2.0)
    # adaptive_heel (and the heel cell of insole)
    contact_share: float = Field(default=0.50, gt=0.0, le=1.0)
    weak_contact_share: float = Field(default=0.08, gt=0.0, le=1.0)
    weak_contact_s: float = Field(default=0.15, ge=0.0, le=1.0)
    release_share: float = Field(default=0.05, ge=0.0, lt=1.0)
    min_range_n: float = Field(default=6.0, gt=0.0, le=3000)
    min_contact_delta_n: float = Field(default=3.0, ge=0.0, le=3000)
    min_release_delta_n: float = Field(default=2.0, ge=0.0, le=3000)
    onset_delay: bool = True
    max_onset_delay_s: float = Field(default=0.30, ge=0.0, le=1.0)
    onset_lead_s: float = Field(default=0.16, ge=0.0, le=1.0)
    swing_share: float = Field(default=0.38, ge=0.1, le=0.8)
    swing_timeout_share: float = Field(default=0.0, ge=0.0, le=10.0)
    # insole (forefoot cell)
    fore_contact_share: float = Field(default=0.30, gt=0.0, le=1.0)
    fore_weak_contact_share: float = Field(default=0.08, gt=0.0, le=1.0)
    fore_release_share: float = Field(default=0.05, ge=0.0, lt=1.0)
    fore_onset_share: float = Field(default=0.20, gt=0.0, le=1.0)
    fore_drop_share: float = Field(default=0.15, ge=0.0, le=1.0)
    fore_min_range_n: float = Field(default=6.0, gt=0.0, le=3000)
    abort_s: float = Field(default=0.10, gt=0.0, le=2.0)
    # foot_imu / shank_imu (gyroscope, core/imu_gyro.py); None = the detector's default
    sagittal_axis: Literal["auto", "x", "y", "z", "+x", "+y", "+z", "-x", "-y", "-z"] = "auto"
    imu_onset_share: float | None = Field(default=None, ge=0.0, le=1.0)
    imu_min_onset_dps: float | None = Field(default=None, ge=1.0, le=2000.0)
    imu_swing_share: float | None = Field(default=None, ge=0.0, le=1.0)
    imu_min_swing_dps: float | None = Field(default=None, ge=1.0, le=2000.0)
    imu_strike_share: float | None = Field(default=None, ge=0.0, le=1.0)
    imu_min_strike_dps: float | None = Field(default=None, ge=0.0, le=2000.0)
    imu_min_stance_s: float | None = Field(default=None, ge=0.0, le=2.0)
    imu_guard_share: float | None = Field(default=None, ge=0.0, le=1.0)
    imu_max_pushoff_s: float | None = Field(default=None, ge=0.05, le=5.0)
    imu_swing_wait_s: float | None = Field(default=None, ge=0.01, le=2.0)
    imu_timeout_share: float | None = Field(default=None, ge=1.0, le=10.0)
    imu_min_timeout_s: float | None = Field(default=None, ge=0.1, le=10.0)
    imu_min_swing_s: float | None = Field(default=None, ge=0.0, le=2.0)
    imu_onset_lead_s: float | None = Field(default=None, ge=0.0, le=1.0)
    imu_max_onset_delay_s: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _hysteresis(self) -> "DetectorSection":
        problems: list[tuple[str, object, str]] = []
        if self.contact_threshold_n <= self.release_threshold_n:
            problems.append(("release_threshold_n", self.release_threshold_n,
                             f"must be below contact_threshold_n ({self.contact_threshold_n}) for hysteresis"))
        if self.release_share >= self.weak_contact_share:
            problems.append(("release_share", self.release_share,
                             f"must be below weak_contact_share ({self.weak_contact_share}) for hysteresis"))
        if self.weak_contact_share > self.contact_share:
            problems.append(("weak_contact_share", self.weak_contact_share,
                             f"must be at most contact_share ({self.contact_share})"))
        if self.fore_release_share >= self.fore_weak_contact_share:
            problems.append(("fore_release_share", self.fore_release_share,
                             f"must be below fore_weak_contact_share ({self.fore_weak_contact_share}) "
                             "for hysteresis"))
        if self.fore_weak_contact_share > self.fore_contact_share:
            problems.append(("fore_weak_contact_share", self.fore_weak_contact_share,
                             f"must be at most fore_contact_share ({self.fore_contact_share})"))
        if 0.0 < self.swing_timeout_share < 1.0:
            problems.append(("swing_timeout_share", self.swing_timeout_share,
                             "must be 0 (off) or >= 1: a timeout shorter than the wearer's own swings "
                             "would end every burst"))
        _raise_if(problems)
        return self


ON_TIME_MARGIN_S = 0.1
"""Stuck-on detection must not fire on the longest legitimate burst: it gets this much slack."""


class SafetySection(_Frozen):
    """Runtime monitors. The keys added after the first release have defaults so older profiles load."""

    sensor_stale_ms: int = Field(ge=20, le=2000)
    max_ramp_step_ma: int = Field(ge=1, le=130)
    sensor_lost_ms: int = Field(default=2000, ge=200, le=10000)
    sensor_first_sample_ms: int = Field(default=10000, ge=200, le=60000)
    max_sensor_loss_pct: int = Field(default=20, ge=0, le=90)
    max_clock_drift_ms: int = Field(default=250, ge=50, le=2000)
    max_sensor_rate_error_pct: int = Field(default=3, ge=0, le=10)
    max_busy_retries: int = Field(default=3, ge=0, le=10)
    loop_overrun_ms: int = Field(default=100, ge=20, le=1000)
    loop_overrun_off_ms: int = Field(default=500, ge=20, le=2000)
    max_on_time_s: float = Field(default=3.0, ge=0.5, le=10.0)
    duty_window_s: float = Field(default=10.0, ge=1.0, le=120.0)
    max_duty_pct: int = Field(default=85, ge=1, le=100)
    max_session_stim_s: float = Field(default=3600.0, ge=1.0, le=36000.0)

    @model_validator(mode="after")
    def _ordered_limits(self) -> "SafetySection":
        """Limits that come in pairs keep their order (SAFETY_LIMIT_ORDER); every broken pair is named."""
        problems = []
        for key, floor_key, why in SAFETY_LIMIT_ORDER:
            value, floor = getattr(self, key), getattr(self, floor_key)
            if value < floor:
                field = type(self).model_fields[key]
                low, high = (next(getattr(m, bound) for m in field.metadata if hasattr(m, bound)) for bound in ("ge", "le"))
                problems.append((key, value, f"must be >= {floor_key} ({floor}): {why} (allowed: {max(low, floor)}..{high})"))
        _raise_if(problems)
        return self


SAFETY_LIMIT_ORDER = (
    ("sensor_lost_ms", "sensor_stale_ms", "silence is stale before it is lost"),
    ("sensor_first_sample_ms", "sensor_lost_ms", "the wait for the first sample is never shorter than the silence "
                                                 "allowed later"),
    ("loop_overrun_off_ms", "loop_overrun_ms", "a stall with the output off is never stricter than one with it on"),
)
"""(key, the key it may not be below, why) of the safety section."""


class PatientProfile(_Frozen):
    patient: PatientSection
    stimulation: StimulationSection
    # TOML arrays are lists: the container is lax, every channel inside stays strict
    channels: tuple[ChannelProfile, ...] = Field(min_length=1, max_length=8, strict=False)
    envelope: EnvelopeSection
    detector: DetectorSection
    safety: SafetySection

    @model_validator(mode="after")
    def _unique_channels(self) -> "PatientProfile":
        numbers = [c.number for c in self.channels]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"channel numbers must be unique, got {numbers}")
        return self

    @model_validator(mode="after")
    def _monitors_allow_a_normal_burst(self) -> "PatientProfile":
        """A monitor that trips on the longest legitimate burst would stop every long swing."""
        burst = self.envelope.longest_burst_s()
        s = self.safety
        problems: list[tuple[str, object, str]] = []
        need = round(burst + ON_TIME_MARGIN_S, 6)
        if s.max_on_time_s < need:
            problems.append(("safety.max_on_time_s", s.max_on_time_s,
                             f"must be >= envelope.max_stim_s + extension_s + ramp_down_s + {ON_TIME_MARGIN_S} s "
                             f"= {need:g} s (allowed: {need:g}..10), or the stuck-on check trips on a normal burst"))
        duty_s = s.duty_window_s * s.max_duty_pct / 100.0
        if duty_s < burst:
            problems.append(("safety.max_duty_pct", s.max_duty_pct,
                             f"{s.max_duty_pct} % of duty_window_s ({s.duty_window_s:g} s) = {duty_s:g} s is shorter "
                             f"than the longest burst ({burst:g} s), so one normal burst would trip the duty check "
                             f"(allowed: {math.ceil(burst * 100.0 / s.duty_window_s - 1e-9)}..100)"))
        if s.max_session_stim_s < burst:
            problems.append(("safety.max_session_stim_s", s.max_session_stim_s,
                             f"shorter than the longest burst ({burst:g} s) (allowed: {burst:g}..36000)"))
        _raise_if(problems)
        return self

    def plateau_by_channel(self) -> dict[int, float]:
        return {c.number: float(c.plateau_current_ma) for c in self.channels}
