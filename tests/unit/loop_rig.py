"""A test rig for the control loop: fake clock, virtual ports, the RehaStim 2 model on the far side.

Everything runs in one thread with one integer clock (`rig.t`, ns). Each `step()` advances
the clock by one loop period, lets the sensor feeder write the frames that are due, moves
bytes between the host's stimulator port and the sans-I/O device model, runs one
`ControlLoop.tick`, and moves the device's answers back. What the device *delivered* is read
from the model's output changes, so a test judges the stimulation itself, not what the host
believed it asked for.

The sensor feeder sends heel-switch frames at its own (true) rate, whatever rate the loop is
configured for, with hooks to drop or corrupt frames, stick the force, change the rate, go
silent and close the port. `teardown()` runs the session's real `_stop_with_retry` against
the model on the same fake clock.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from unittest import mock

from fescontrol_hil.rehastim2_model import FaultPlan, OutputChange, PacketRecord, RehaStim2Model

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.control import session as session_mod
from fescontrol.control.loop import ControlLoop
from fescontrol.control.machine import ControllerMachine
from fescontrol.control.session import SessionSetup, loop_settings
from fescontrol.control.session_records import SessionRecords
from fescontrol.control.virtual_port import VirtualPort, virtual_pair
from fescontrol.errors import SafetyTrip
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import SafetyGate
from fescontrol.safety.limits import limits_from_config as gate_limits_from_config
from fescontrol.safety.liveness import Liveness
from fescontrol.safety.liveness import limits_from_config as liveness_limits_from_config
from fescontrol.sensing.frames import encode_heel_frame
from fescontrol.stimulators.sciencemode2 import LinkTiming, StimulatorLink

MS = 1_000_000
S = 1_000_000_000
TICK_NS = 5 * MS
"""The loop's longest wait (LOOP_WAIT_S) is 5 ms: one tick per 5 ms of fake time."""
START_NS = 10 * S
STANDING_N = 400.0
"""A loaded heel (well above the 80 N contact threshold)."""
SWING_N = 0.0


@functools.cache
def base_configs() -> tuple[DeviceConfig, PatientProfile]:
    """The embedded RehaStim 2 device and the example profile (the `simulate` defaults)."""
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path(), device)
    return device, profile


def configs(safety: dict[str, Any] | None = None,
            envelope: dict[str, Any] | None = None) -> tuple[DeviceConfig, PatientProfile]:
    """The defaults with some profile keys replaced (the duty limit raised for long walks)."""
    device, profile = base_configs()
    safety_update = {"max_duty_pct": 90, **(safety or {})}
    profile = profile.model_copy(update={
        "safety": profile.safety.model_copy(update=safety_update),
        "envelope": profile.envelope.model_copy(update=envelope or {}),
    })
    return device, profile


@dataclass(frozen=True)
class Fault:
    """A SafetyTrip seen by the rig: when (fake clock), its cause and its full text."""

    t_ns: int
    cause: str
    text: str


class SensorFeeder:
    """Writes heel frames at the sensor's true rate; frame k is due at start + k / rate."""

    def __init__(self, port: VirtualPort, rate_hz: float, force: Callable[[int], float],
                 start_ns: int) -> None:
        self.port = port
        self.force = force
        self.rate_hz = rate_hz
        self.next_seq = 0
        self._base_ns = start_ns
        self._base_seq = 0
        self.counter_offset = 0
        """Subtracted from the sample index to give the counter on the wire (a sensor restart sets it)."""
        self.drop: Callable[[int], bool] = lambda k: False
        self.corrupt: Callable[[int], bool] = lambda k: False
        self.sent: list[int] = []
        """Sequence numbers written intact."""

    def due(self, now_ns: int) -> int:
        """Sequence numbers below this are due at `now_ns`."""
        return self._base_seq + (now_ns - self._base_ns) * round(self.rate_hz * 1000) // (1000 * S) + 1

    def feed(self, now_ns: int) -> None:
        if self.port.closed:
            return
        end = self.due(now_ns)
        while self.next_seq < end:
            k = self.next_seq
            self.next_seq += 1
            if self.drop(k):
                continue
            frame = encode_heel_frame(k - self.counter_offset, self.force(k))
            if self.corrupt(k):
                frame = frame[:-1] + bytes((frame[-1] ^ 0xFF,))  # a bad CRC
            else:
                self.sent.append(k)
            self.port.write(frame)

    def restart_counter(self) -> None:
        """The sensor restarts (a power dip): its counter starts again from 0 with the next frame."""
        self.counter_offset = self.next_seq

    def stick(self, force_n: float) -> None:
        """From now on every frame carries this force."""
        self.force = lambda k: force_n

    def set_rate(self, rate_hz: float, now_ns: int) -> None:
        """The sensor's true rate changes now (its counter runs on from where it is)."""
        self._base_seq, self._base_ns, self.rate_hz = self.next_seq, now_ns, rate_hz

    def silence(self) -> None:
        """The sensor stops sending (port open): every frame from now on is lost."""
        self.drop = lambda k: True

    def close(self) -> None:
        self.port.close()


class LoopRig:
    """One session's parts wired as `run_session` wires them, over virtual ports."""

    def __init__(self, out_dir: Path, *, rate_hz: float = 100.0, sensor_rate_hz: float | None = None,
                 safety: dict[str, Any] | None = None, envelope: dict[str, Any] | None = None,
                 gate: dict[str, Any] | None = None, liveness: dict[str, Any] | None = None,
                 faults: FaultPlan | None = None,
                 force: Callable[[int], float] | None = None, tick_ns: int = TICK_NS,
                 ack_delay_ns: int = 10 * MS) -> None:
        self.device, self.profile = configs(safety, envelope)
        self.t = START_NS
        self.tick_ns = tick_ns
        self.out_dir = out_dir
        setup = SessionSetup(self.device, Path("device.toml"), "d", self.profile, Path("profile.toml"), "p",
                             "sensor", "stimulator", out_dir, sensor_rate_hz=rate_hz)
        self.records = SessionRecords(out_dir, clock=self.clock)
        self.host_sensor, self.dev_sensor = virtual_pair("host-sensor", "sensor")
        self.host_stim, self.dev_stim = virtual_pair("host-stim", "stimulator")
        self.model = RehaStim2Model(ack_delay_ns=ack_delay_ns, faults=faults)
        self.gate_limits = dataclasses.replace(gate_limits_from_config(self.device, self.profile), **(gate or {}))
        self.gate = SafetyGate(self.host_stim, self.gate_limits, self.records.gate_record)
        self.liveness_limits = dataclasses.replace(
            liveness_limits_from_config(self.profile, self.device, rate_hz), **(liveness or {}))
        self.liveness = Liveness(self.liveness_limits)
        link_cfg = self.device.link
        channels = sorted(self.profile.channels, key=lambda c: c.number)
        self.link = StimulatorLink(
            self.gate, self.liveness,
            LinkTiming(keepalive_ns=link_cfg.keepalive_interval_ms * MS,
                       handshake_timeout_ns=link_cfg.handshake_timeout_ms * MS),
            channel_numbers=[c.number for c in channels],
            pulse_widths_us={c.number: c.pulse_width_us for c in channels},
            main_time_code=sm2.frequency_code_for_hz(self.profile.stimulation.frequency_hz),
            group_time_code=sm2.group_time_code(self.device.device.group_interval_ms),
            on_record=lambda rec: self.records.log(str(rec.pop("kind")), **rec))
        self.machine = ControllerMachine(
            lambda old, new, trig: self.records.log("state", source=old, dest=new, trigger=trig))
        self.settings = loop_settings(setup)
        self.loop = ControlLoop(self.settings, self.host_sensor, self.link, self.machine, self.liveness,
                                self.records)
        self.feeder = SensorFeeder(self.dev_sensor, sensor_rate_hz or rate_hz,
                                   force or (lambda k: STANDING_N), self.t)
        self.changes: list[OutputChange] = []
        self.device_log: list[PacketRecord] = []
        self.fault: Fault | None = None
        self.ticks = 0

    # -- clock and devices ----------------------------------------------------------------------
    def clock(self) -> int:
        return self.t

    def pump(self) -> None:
        """Move bytes host -> device, run the device to now, move its frames device -> host."""
        if self.dev_stim.in_waiting:
            self.model.receive(self.dev_stim.read(self.dev_stim.in_waiting), self.t)
        for frame in self.model.poll(self.t):
            self.dev_stim.write(frame)
        self.changes += self.model.pop_output_changes()
        self.device_log += [r for r in self.model.pop_packet_records() if isinstance(r, PacketRecord)]

    def sleep(self, seconds: float) -> None:
        self.t += max(1, int(seconds * S))
        self.pump()

    def inject(self, frame: bytes) -> None:
        """A frame from the 'device' that the model would not send (a forged answer)."""
        self.dev_stim.write(frame)

    def connect(self) -> None:
        """Handshake (on the fake clock), machine linked, gate armed: what run_session does."""
        self.pump()
        self.link.connect(self.clock, self.sleep)
        self.machine.link_up()
        assert self.gate.arm(self.t)
        self.feeder = SensorFeeder(self.dev_sensor, self.feeder.rate_hz, self.feeder.force, self.t)

    # -- running --------------------------------------------------------------------------------
    def sensor_ready(self) -> bool:
        """What the selector would say: bytes waiting, or the far end hung up."""
        return self.host_sensor.in_waiting > 0 or self.dev_sensor.closed

    def step(self, advance_ns: int | None = None) -> bool:
        """One loop period; True when the loop says the stream ended. A fault is kept and re-raised."""
        self.t += self.tick_ns if advance_ns is None else advance_ns
        self.feeder.feed(self.t)
        self.pump()
        self.ticks += 1
        try:
            ended = self.loop.tick(self.t, self.sensor_ready())
        except SafetyTrip as exc:
            self.fault = Fault(self.t, exc.cause, str(exc))
            raise
        finally:
            self.pump()
        return ended

    def run(self, duration_ns: int) -> bool:
        """Tick for `duration_ns` of fake time or until the stream ends (returns whether it did)."""
        end = self.t + duration_ns
        while self.t < end:
            if self.step():
                return True
        return False

    def run_until(self, done: Callable[[], bool], limit_ns: int) -> None:
        end = self.t + limit_ns
        while not done():
            assert self.t < end, "condition not reached in time"
            self.step()

    def run_to_fault(self, limit_ns: int) -> Fault:
        """Tick until a SafetyTrip (which must come within `limit_ns`); returns it."""
        end = self.t + limit_ns
        while self.t < end:
            try:
                self.step()
            except SafetyTrip:
                assert self.fault is not None
                return self.fault
        raise AssertionError(f"no fault within {limit_ns / 1e6:.0f} ms")

    def teardown(self) -> None:
        """The session's tear-down Stop (`_stop_with_retry`) on the fake clock."""
        self.link.closing = True
        fake_time = mock.Mock(monotonic_ns=self.clock, sleep=self.sleep)
        with mock.patch.object(session_mod, "time", fake_time):
            session_mod._stop_with_retry(self.link)
        self.pump()

    def quiet(self, duration_ns: int, step_ns: int = MS) -> None:
        """Let the device run alone (the host sends nothing)."""
        end = self.t + duration_ns
        while self.t < end:
            self.t += step_ns
            self.pump()

    # -- what the device did ----------------------------------------------------------------------
    def current_ma(self, channel: int) -> int:
        return self.model.outputs[channel][0]

    def output_on(self) -> bool:
        return any(self.model.outputs[c][0] for c in self.settings.channel_numbers)

    def zero_since(self) -> int:
        """When the device's output last became zero on every channel (it must be zero now)."""
        assert not self.output_on(), f"device still delivers {self.model.outputs}"
        became_zero = [c.t_ns for c in self.changes if c.current_ma == 0]
        return max(became_zero, default=START_NS)

    def bursts(self, channel: int = 1) -> list[tuple[int, int | None]]:
        """(on, off) device times of each burst on a channel; off None while still on."""
        out: list[tuple[int, int | None]] = []
        on: int | None = None
        for c in self.changes:
            if c.channel != channel:
                continue
            if c.current_ma and on is None:
                on = c.t_ns
            elif not c.current_ma and on is not None:
                out.append((on, c.t_ns))
                on = None
        if on is not None:
            out.append((on, None))
        return out

    def max_current(self, channel: int) -> int:
        return max((c.current_ma for c in self.changes if c.channel == channel), default=0)

    def received(self, command: sm2.Cmd) -> list[int]:
        """Device times at which the device received `command` from the host."""
        return [r.t_ns for r in self.device_log
                if r.direction == "rx" and isinstance(r.item, sm2.Packet) and r.item.command == command]

    def session_log(self) -> list[dict[str, Any]]:
        path = self.out_dir / "session.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def fault_records(self) -> list[dict[str, Any]]:
        return [r for r in self.session_log() if r["kind"] == "fault"]
