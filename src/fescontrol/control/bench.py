"""Bench mode: `fescontrol run` from the open ports to ARM, with the operator in the loop.

Order, and why:
1. The ports are open before this starts (`session._ports_and_parts`), so a RehaStim 2's
   periodic Init and the sensor's first samples wait in the port buffers while the kernels
   compile; the handshake then answers an Init that is already there instead of waiting up to
   one Init period (500 ms) for the next one.
2. Handshake, then the device's identity and status where its protocol can read them.
3. The effective stimulation table (what the device will deliver, and the hard caps) is logged
   and shown; ARM waits for the operator's yes. While the operator reads, the link is kept
   alive (a RehaStim 2 drops every mode after 1.2 s without a packet, a ScienceMode4 device
   pauses after 2 s), so the wait is a keep-alive loop that only the session can run; the
   console only shows the table and reads the answer (`Operator`).
4. At ARM, a small sensor backlog is kept: the loop's first read takes it whole, the detector
   learns from it and the output follows its newest sample. A large one is dropped: the port
   buffer may have overflowed (about 4 KB on Linux, 4.5 s of heel frames), and samples read in
   pieces after a gap would look like a sensor running fast (the clock-drift check trips).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import serial

from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.control.policy import quantise_current
from fescontrol.core.warmup import warm_up
from fescontrol.errors import OperatorStop
from fescontrol.safety.limits import limits_from_config
from fescontrol.stimulators.base import StimulatorBackend, check_ack

__all__ = ["ChannelRow", "Operator", "StimulationTable", "format_stimulation_table", "start_up",
           "stimulation_table"]

KEEP_BACKLOG_BYTES = 3584
"""7/8 of Linux's 4 KB tty buffer (4095 bytes usable; what does not fit stays in the driver or is
lost) and below the loop's read (`loop.MAX_READ_BYTES`): a backlog this small cannot have
overflowed, and the loop's first read takes all of it."""

ANSWER_POLL_S = 0.05
"""Longest wait for the operator's answer between two keep-alive checks (keep-alives are >= 20 ms apart)."""

Log = Callable[..., None]


@dataclass(frozen=True)
class ChannelRow:
    number: int
    muscle: str
    plateau_current_ma: int
    """The profile's plateau on the device's current grid (what a full burst delivers)."""
    max_current_ma: int
    """The gate's cap for this channel: the stricter of profile and device."""
    pulse_width_us: int
    frequency_hz: float
    """As the device delivers it (its own period grid), not as the profile asks."""
    phase_charge_nc: int


@dataclass(frozen=True)
class StimulationTable:
    """What ARM would let the device deliver, and the limits around it."""

    device: str
    protocol: str
    identity: dict[str, object]
    channels: tuple[ChannelRow, ...]
    profile_frequency_hz: float
    ramp_up_s: float
    ramp_down_s: float
    max_stim_s: float
    max_rise_ma: int
    """Largest rise of one channel per command (the gate's slew limit)."""
    max_charge_per_phase_nc: int
    device_caps: dict[str, object]

    def as_record(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def stimulation_table(profile: PatientProfile, device: DeviceConfig, delivered_frequency_hz: float,
                      identity: dict[str, object]) -> StimulationTable:
    dev = device.device
    limits = limits_from_config(device, profile)
    rows = []
    for ch in sorted(profile.channels, key=lambda c: c.number):
        plateau = quantise_current(1.0, ch.plateau_current_ma, dev.current_step_ma)
        rows.append(ChannelRow(ch.number, ch.muscle, plateau, limits.channels[ch.number].max_current_ma,
                               ch.pulse_width_us, round(delivered_frequency_hz, 3), plateau * ch.pulse_width_us))
    env = profile.envelope
    return StimulationTable(
        device=dev.model, protocol=dev.protocol, identity=dict(identity), channels=tuple(rows),
        profile_frequency_hz=profile.stimulation.frequency_hz, ramp_up_s=env.ramp_up_s, ramp_down_s=env.ramp_down_s,
        max_stim_s=env.max_stim_s, max_rise_ma=profile.safety.max_ramp_step_ma,
        max_charge_per_phase_nc=profile.stimulation.max_charge_per_phase_nc,
        device_caps={"channels": dev.channels, "max_current_ma": dev.max_current_ma,
                     "current_step_ma": dev.current_step_ma, "min_pulse_width_us": dev.min_pulse_width_us,
                     "max_pulse_width_us": dev.max_pulse_width_us, "max_frequency_hz": dev.max_frequency_hz})


def format_stimulation_table(table: StimulationTable) -> str:
    """The table as the operator reads it before confirming (plain text, fixed columns)."""
    ident = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in table.identity.items() if k != "protocol")
    lines = [f"stimulator: {table.device} ({table.protocol}){': ' + ident if ident else ''}",
             f"{'ch':>2}  {'muscle':<34} {'plateau mA':>10} {'cap mA':>6} {'pulse us':>8} {'freq Hz':>8} "
             f"{'charge nC':>9}"]
    for r in table.channels:
        lines.append(f"{r.number:>2}  {r.muscle[:34]:<34} {r.plateau_current_ma:>10} {r.max_current_ma:>6} "
                     f"{r.pulse_width_us:>8} {r.frequency_hz:>8.2f} {r.phase_charge_nc:>9}")
    caps = table.device_caps
    lines += [
        f"frequency: profile {table.profile_frequency_hz:g} Hz, delivered as in the table (the device's period grid)",
        f"ramp: up {table.ramp_up_s:g} s, down {table.ramp_down_s:g} s, at most +{table.max_rise_ma} mA per command; "
        f"a burst lasts at most {table.max_stim_s:g} s",
        f"hard caps: device {caps['max_current_ma']} mA in {caps['current_step_ma']} mA steps, pulse "
        f"{caps['min_pulse_width_us']}-{caps['max_pulse_width_us']} us, up to {caps['max_frequency_hz']:g} Hz, "
        f"{caps['channels']} channels; profile phase charge <= {table.max_charge_per_phase_nc} nC",
    ]
    return "\n".join(lines)


class Operator(Protocol):
    """The person at the bench, as the console presents them."""

    how: str
    """How the answer is given, for the log (`--yes`, `terminal`)."""

    def show(self, table: StimulationTable) -> None:
        """Present the table and ask."""

    def answer(self, timeout_s: float) -> bool | None:
        """True to arm, False to refuse, None when no answer came within `timeout_s`."""


def start_up(link: StimulatorBackend, sensor: serial.Serial, profile: PatientProfile, device: DeviceConfig,
             operator: Operator | None, log: Log, ports_open_ns: int) -> None:
    """Warm-up, handshake, identity, table and confirmation: everything between opening the
    ports and ARM. Raises OperatorStop when the operator says no (nothing was armed)."""
    t = time.monotonic_ns()
    warm_up()  # compile/load every kernel before anything can be armed (house-style 3b)
    handshake_start = time.monotonic_ns()
    log("warm_up", seconds=round((handshake_start - t) / 1e9, 3))
    link.connect(time.monotonic_ns, time.sleep)
    ready = time.monotonic_ns()
    log("stimulator_ready", handshake_ms=round((ready - handshake_start) / 1e6, 3),
        since_ports_open_ms=round((ready - ports_open_ns) / 1e6, 3))
    if operator is not None:  # simulate (emulators started by the command) has nobody to ask
        _confirm(link, profile, device, operator, log)
    waiting = sensor.in_waiting
    # a network port (socket://) says only whether bytes wait, not how many: its backlog, of any
    # size, cannot be known to fit one read, so it is dropped (a backlog read in parts jumps the
    # sensor's clock ahead)
    unsized = not isinstance(sensor, serial.Serial)
    dropped = waiting > KEEP_BACKLOG_BYTES or (unsized and waiting > 0)
    if dropped:
        sensor.reset_input_buffer()
    log("sensor_backlog", bytes=waiting, since_ports_open_ms=round((time.monotonic_ns() - ports_open_ns) / 1e6, 1),
        dropped=dropped, network_port=unsized)


def _confirm(link: StimulatorBackend, profile: PatientProfile, device: DeviceConfig, operator: Operator,
             log: Log) -> None:
    identity = link.identify(time.monotonic_ns, time.sleep)
    log("stimulator_identity", **identity)
    table = stimulation_table(profile, device, link.delivered_frequency_hz, identity)
    log("stimulation_table", **table.as_record())
    asked = time.monotonic_ns()
    operator.show(table)
    confirmed = _await_answer(link, operator)
    log("operator_confirmation", confirmed=confirmed, by=operator.how,
        wait_s=round((time.monotonic_ns() - asked) / 1e9, 3))
    if not confirmed:
        raise OperatorStop("not confirmed by the operator: stimulation was never armed")


def _await_answer(link: StimulatorBackend, operator: Operator) -> bool:
    """Wait for the operator with the link alive: keep-alives, acks and device faults as in the loop."""
    while True:
        answer = operator.answer(ANSWER_POLL_S)
        now = time.monotonic_ns()
        link.poll(now)
        check_ack(link.liveness, link.rx_decoder, now)
        link.keepalive(now)
        if answer is not None:
            return answer
