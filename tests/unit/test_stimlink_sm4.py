"""The ScienceMode4 backend (RehaMove3, P24) against the emulator's device model, on a fake clock.

The link talks through the real gate (ScienceMode4 hook) over an in-process virtual port; the
device side is `fescontrol_hil.sciencemode4_model`, the same model the emulator process serves.
"""

from __future__ import annotations

import pytest
from fescontrol_hil.sciencemode4_model import FaultPlan, ScienceMode4Model

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.control.virtual_port import virtual_pair
from fescontrol.errors import ConfigError, DeviceInitError, SafetyTrip
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.safety.gate import SafetyGate
from fescontrol.safety.limits import limits_from_config
from fescontrol.safety.liveness import Liveness
from fescontrol.safety.liveness import limits_from_config as liveness_limits
from fescontrol.stimulators import backend_module
from fescontrol.stimulators import sciencemode4 as backend
from fescontrol.stimulators.base import ChannelPlan, LinkTiming

MS = 1_000_000
START_NS = 10**12


class Rig:
    """Host link, gate and device model on one fake clock; `run` moves time and bytes both ways."""

    def __init__(self, model: str = "p24", faults: FaultPlan | None = None, handshake_ms: int = 3000,
                 device_model: str | None = None) -> None:
        self.now = START_NS
        self.host, self.dev = virtual_pair("host", "device")
        self.device = ScienceMode4Model(device_model or model, faults=faults)  # `--device model` on this device
        cfg, _ = load_device(default_device_path(model))
        profile, _ = load_profile(default_profile_path(), cfg)
        limits = limits_from_config(cfg, profile)
        self.records: list[dict[str, object]] = []
        self.gate = SafetyGate(self.host, limits, self.records.append, hook=backend.gate_hook(limits))
        self.liveness = Liveness(liveness_limits(profile, cfg, 100.0))
        channels = sorted(profile.channels, key=lambda c: c.number)
        self.link = backend.build(
            self.gate, self.liveness, LinkTiming(keepalive_ns=250 * MS, handshake_timeout_ns=handshake_ms * MS), cfg,
            ChannelPlan(tuple(c.number for c in channels), {c.number: c.pulse_width_us for c in channels},
                        profile.stimulation.frequency_hz),
            self.records.append)

    def clock(self) -> int:
        return self.now

    def run(self, ns: int) -> None:
        """Advance the clock in 1 ms steps, delivering bytes to the device and its answers back."""
        end = self.now + ns
        while self.now < end:
            self.now += MS
            if self.dev.in_waiting:
                self.device.receive(self.dev.read(self.dev.in_waiting), self.now)
            for frame in self.device.poll(self.now):
                self.dev.write(frame)

    def sleep(self, seconds: float) -> None:
        self.run(max(MS, int(seconds * 1e9)))

    def connect(self) -> None:
        self.link.connect(self.clock, self.sleep)
        self.gate.sensor_sample(self.now)
        assert self.gate.arm(self.now)

    def settle(self, ns: int = 20 * MS) -> None:
        self.run(ns)
        self.link.poll(self.now)

    def kinds(self) -> list[str]:
        return [str(r["kind"]) for r in self.records]


def test_connect_is_ml_init_and_its_ack() -> None:
    rig = Rig()
    rig.connect()
    assert rig.link.linked and rig.link.ready()
    assert rig.device.stim_status is sm4.StimStatus.MID_LEVEL_INITIALIZED
    assert "stim_link_up" in rig.kinds()


@pytest.mark.parametrize("model", ["rehamove3", "p24"])
def test_set_currents_delivers_the_biphasic_pulse_of_the_profile(model: str) -> None:
    rig = Rig(model)
    rig.connect()
    rig.link.set_currents((30, 20), rig.now)
    assert not rig.link.ready()
    rig.settle()
    assert rig.link.acked_currents == (30, 20) and rig.link.ready()
    assert rig.device.outputs[0] == (30.0, 300, 40.0) and rig.device.outputs[1] == (20.0, 250, 40.0)


def test_keepalive_feeds_the_watchdog_and_reads_the_electrodes() -> None:
    rig = Rig()
    rig.connect()
    rig.link.set_currents((10, 10), rig.now)
    rig.settle()
    sent = 0
    for _ in range(100):  # 2.5 s, longer than the 2 s device watchdog
        rig.gate.sensor_sample(rig.now)
        sent += rig.link.keepalive(rig.now)
        rig.settle(25 * MS)
    assert 9 <= sent <= 10 and rig.device.stimulating  # one per 250 ms plus its answer
    rig.run(250 * MS)
    assert rig.link.keepalive(rig.now)
    rig.settle()
    assert rig.link.keepalive(rig.now) is False  # answered, and not due again yet


def test_an_electrode_error_is_a_fault_at_the_next_keepalive() -> None:
    rig = Rig("rehamove3", FaultPlan(electrode_error_at_ns=START_NS + 500 * MS))
    rig.connect()
    rig.link.set_currents((10, 10), rig.now)
    rig.settle()
    rig.run(600 * MS)
    assert rig.link.keepalive(rig.now)
    with pytest.raises(SafetyTrip, match="electrode error on channel 1"):
        rig.settle()


def test_an_update_the_device_refuses_is_a_fault_with_the_result_name() -> None:
    rig = Rig("p24", FaultPlan(electrode_error_at_ns=START_NS + 500 * MS, electrode_channel=1))
    rig.connect()
    rig.link.set_currents((10, 10), rig.now)
    rig.settle()
    rig.run(600 * MS)
    rig.gate.sensor_sample(rig.now)
    rig.link.set_currents((12, 12), rig.now)
    with pytest.raises(SafetyTrip, match=r"refused MlUpdate with result 10 \(ELECTRODE_ERROR\)"):
        rig.settle()


def test_emergency_switch_shows_as_not_initialised() -> None:
    rig = Rig("p24", FaultPlan(emergency_switch_at_ns=START_NS + 100 * MS))
    rig.connect()
    rig.run(300 * MS)
    assert rig.link.keepalive(rig.now)
    with pytest.raises(SafetyTrip, match=r"refused MlGetCurrentData with result 7 \(NOT_INITIALIZED_ERROR\): "
                                         r"the device's mid level is off \(emergency switch pressed"):
        rig.settle()


def test_busy_is_retried_then_bounded() -> None:
    rig = Rig("p24", FaultPlan(busy_from_ns=START_NS + 100 * MS))
    rig.connect()
    rig.run(200 * MS)
    for _ in range(rig.liveness.limits.max_busy_retries):
        rig.gate.sensor_sample(rig.now)
        rig.link.set_currents((2, 2), rig.now)
        rig.settle()
        assert rig.link.acked_currents == (0, 0) and rig.link.last_ack_result == sm4.Result.BUSY
    rig.gate.sensor_sample(rig.now)
    rig.link.set_currents((2, 2), rig.now)
    with pytest.raises(SafetyTrip, match="busy 4 times in a row"):
        rig.settle()
    assert rig.link.busy_retries == 3  # the fourth busy answer trips before it is counted


def test_a_device_that_stopped_on_its_own_is_a_fault() -> None:
    rig = Rig("p24")
    rig.connect()
    rig.link.set_currents((10, 10), rig.now)
    rig.settle()
    rig.run(2100 * MS)  # nothing sent: the device watchdog pauses the output
    assert not rig.device.stimulating
    rig.link.keepalive(rig.now)
    with pytest.raises(SafetyTrip, match="stopped stimulating on its own"):
        rig.settle()


def test_trip_sends_ml_stop_and_its_ack_ends_the_link() -> None:
    rig = Rig("rehamove3")
    rig.connect()
    rig.link.set_currents((10, 10), rig.now)
    rig.settle()
    rig.link.trip("test", rig.now)
    assert rig.link.in_flight is not None and rig.link.in_flight.command == sm4.Cmd.ML_STOP
    rig.link.trip("again", rig.now)  # the gate's own stop of this instant is awaited, not a second one
    rig.settle()
    assert not rig.link.linked and rig.link.acked_currents == (0, 0) and rig.link.last_ack_result == 0
    assert not rig.device.stimulating and rig.kinds().count("gate_stop") == 1


def test_answers_that_match_nothing_are_faults_unless_closing() -> None:
    rig = Rig()
    rig.connect()
    rig.dev.write(sm4.ack(5, sm4.Cmd.ML_UPDATE_ACK, 0))
    with pytest.raises(SafetyTrip, match=r"MlUpdateAck #5 \(result 0 \(SUCCESSFUL\)\) while waiting for nothing"):
        rig.link.poll(rig.now)
    rig.link.closing = True
    rig.dev.write(sm4.ack(6, sm4.Cmd.ML_STOP_ACK, 99))
    rig.link.poll(rig.now)
    assert rig.link.late_answers == [(sm4.Cmd.ML_STOP_ACK, 6, 99)]


@pytest.mark.parametrize("frame,match", [
    (sm4.ack(0, sm4.Cmd.GENERAL_ERROR, 3), r"sent GeneralError with result 3 \(PROTOCOL_ERROR\)"),
    (sm4.unknown_cmd(1), r"sent UnknownCmd with result 11"),
    (sm4.ml_stop(2), "sent a host command"),
    (sm4.encode_packet(3, sm4.Cmd.ML_INIT_ACK, b""), "malformed packet"),
])
def test_device_packets_that_are_faults(frame: bytes, match: str) -> None:
    rig = Rig()
    rig.connect()
    rig.dev.write(frame)
    with pytest.raises(SafetyTrip, match=match):
        rig.link.poll(rig.now)


def test_a_bad_frame_is_recorded_not_raised() -> None:
    rig = Rig()
    rig.connect()
    frame = bytearray(sm4.ack(0, sm4.Cmd.ML_UPDATE_ACK, 0))
    frame[-2] ^= 0x01
    rig.dev.write(bytes(frame))
    rig.link.poll(rig.now)
    assert "stim_rx_bad_frame" in rig.kinds() and rig.link.rx_decoder.frames_bad == 1


def test_no_answer_to_ml_init_fails_the_handshake() -> None:
    rig = Rig("p24", FaultPlan(no_ack_from_ns=START_NS))
    with pytest.raises(SafetyTrip, match="no ack for MlInit"):
        rig.link.connect(rig.clock, rig.sleep)
    rig = Rig("p24", FaultPlan(no_ack_from_ns=START_NS), handshake_ms=100)
    with pytest.raises(DeviceInitError, match=r"no Ml_init ack; nothing arrived on the stimulator port: .* does it "
                                              r"speak ScienceMode4 \(--device\)\?$"):
        rig.link.connect(rig.clock, rig.sleep)


def test_a_rehastim2_on_a_sciencemode4_link_is_named_in_the_handshake_failure() -> None:
    """`--device p24` with a RehaStim 2 on the port: its ScienceMode2 Inits are no ScienceMode4
    packet, and the failure says what they are and which --device drives that device."""
    rig = Rig("p24", FaultPlan(no_ack_from_ns=START_NS), handshake_ms=100)
    inits = sm2.init(1) + sm2.init(2)
    rig.dev.write(inits)
    with pytest.raises(DeviceInitError) as info:
        rig.link.connect(rig.clock, rig.sleep)
    assert str(info.value).endswith(
        f"no Ml_init ack; {len(inits)} bytes arrived and none formed a ScienceMode4 packet; they are ScienceMode2 "
        "(2 packets): the device speaks ScienceMode2, run with --device rehastim2")


def test_a_rehastim2_that_sends_its_init_while_ml_init_waits_is_named_in_the_ack_time_out() -> None:
    """The same with the ack time-out first (200 ms, before the 3 s handshake limit), as a real
    RehaStim 2 gives it: one Init a second, no answer to Ml_init."""
    rig = Rig("p24", FaultPlan(no_ack_from_ns=START_NS))
    init = sm2.init(1)
    rig.dev.write(init)
    with pytest.raises(SafetyTrip) as info:
        rig.link.connect(rig.clock, rig.sleep)
    assert info.value.cause == (f"no ack for MlInit within 200 ms; {len(init)} bytes arrived from the stimulator and "
                                "none formed a packet of the protocol --device speaks; they are ScienceMode2 (1 "
                                "packet): the device speaks ScienceMode2, run with --device rehastim2")


def test_noise_is_not_taken_for_the_other_protocol() -> None:
    rig = Rig("p24", FaultPlan(no_ack_from_ns=START_NS), handshake_ms=100)
    rig.dev.write(bytes(range(256)) * 4)
    with pytest.raises(DeviceInitError, match="none formed a ScienceMode4 packet: is it the stimulator's port"):
        rig.link.connect(rig.clock, rig.sleep)
    assert rig.link.foreign.packets == 0


@pytest.mark.parametrize("asked,device,selection,other", [("p24", "rehamove3", 4, "a rehamove3 documents 2"),
                                                          ("rehamove3", "p24", 2, "a p24 documents 4")])
def test_a_current_data_selection_the_device_refuses_asks_whether_device_is_right(
        asked: str, device: str, selection: int, other: str) -> None:
    """Each model documents one Ml_get_current_data selection (trap C-14); the emulated model
    refuses the other's, as the wrong `--device` would be refused."""
    rig = Rig(asked, device_model=device)
    rig.connect()
    rig.run(250 * MS)  # a keep-alive period
    assert rig.link.keepalive(rig.now)
    with pytest.raises(SafetyTrip) as info:
        rig.settle()
    assert info.value.cause == (f"stimulator refused MlGetCurrentData with result 2 (PARAMETER_ERROR): the device does "
                                f"not take data selection {selection}, the one --device {asked} asks for ({other}): is "
                                "--device right?")


def test_backend_module_is_found_by_the_protocol_name() -> None:
    assert backend_module("sciencemode4") is backend
    cfg, _ = load_device(default_device_path("rehamove3"))
    assert backend.emulator_args(cfg) == ["sm4-stimulator", "--device", "rehamove3"]
    assert backend.period_ms(40.0) == 25.0 and backend.period_ms(30.0) == 33.5
    with pytest.raises(ConfigError, match="no stimulator backend"):
        backend_module("sciencemode9")
    with pytest.raises(ConfigError, match="not a protocol name"):
        backend_module("../x")


def test_transfer_errors_are_retried_like_busy_then_bounded() -> None:
    rig = Rig("rehamove3", FaultPlan(transfer_error_from_ns=START_NS + 100 * MS))
    rig.connect()
    rig.run(200 * MS)
    for _ in range(rig.liveness.limits.max_busy_retries):
        rig.run(250 * MS)
        assert rig.link.keepalive(rig.now)
        rig.settle()
        assert rig.link.last_ack_result == sm4.Result.TRANSFER_ERROR and rig.link.linked
    rig.run(250 * MS)
    assert rig.link.keepalive(rig.now)
    # the fault names what the device answered: not "busy", which it never said
    with pytest.raises(SafetyTrip, match=r"answered MlGetCurrentData transfer error \(1\) 4 times in a row \(limit 3"):
        rig.settle()


def _answer_busy(rig: Rig) -> None:
    """Answer the frame the host just sent with Busy (21) in the device's place (the model never
    says busy for a while and then stops saying it)."""
    packets = [p for p in sm4.Decoder().feed(rig.dev.read(rig.dev.in_waiting)) if isinstance(p, sm4.Packet)]
    assert [p.command for p in packets] == [sm4.Cmd.ML_UPDATE]
    rig.dev.write(sm4.ack(packets[0].packet_number, sm4.Cmd.ML_UPDATE_ACK, sm4.Result.BUSY))
    rig.now += 15 * MS  # past the command period, without the device seeing anything
    rig.link.poll(rig.now)


def test_busy_that_clears_within_the_retry_limit_is_not_a_fault() -> None:
    rig = Rig("p24")
    rig.connect()
    limit = rig.liveness.limits.max_busy_retries
    for _burst in range(2):  # a run of busy answers that ends is forgotten: the next run may be as long
        for _ in range(limit):
            rig.gate.sensor_sample(rig.now)
            rig.link.set_currents((4, 4), rig.now)
            _answer_busy(rig)
            assert rig.link.last_ack_result == sm4.Result.BUSY and rig.link.ready()
        assert rig.link.retry_results == (sm4.Result.BUSY,) * limit
        rig.gate.sensor_sample(rig.now)
        rig.link.set_currents((4, 4), rig.now)
        rig.settle()  # the device takes this one
        assert rig.link.last_ack_result == 0 and rig.link.acked_currents == (4, 4) and rig.link.retry_results == ()
    assert rig.device.stimulating and "gate_fault" not in rig.kinds()


def test_unknown_cmd_for_an_identity_query_is_reported_not_a_fault() -> None:
    """A device without one of the read-only queries answers Unknown_cmd with that query's packet
    number: `identify` reports the refusal; the same answer to anything else stays a fault."""
    from fescontrol.stimulators.base import InFlight

    rig = Rig()
    rig.connect()
    pn = rig.gate.next_packet_number()
    rig.link._send(sm4.encode_packet(pn, sm4.Cmd.GET_VERSION_MAIN), rig.now, InFlight(pn, sm4.Cmd.GET_VERSION_MAIN, rig.now))
    rig.dev.read(rig.dev.in_waiting)  # the device model does not see it: it answers below as a device without the query
    rig.dev.write(sm4.unknown_cmd(pn))
    rig.link.poll(rig.now)
    answer = rig.link.last_answer
    assert rig.link.in_flight is None and answer is not None and int(getattr(answer, "result", -1)) == 11
    assert rig.kinds()[-1] == "stim_query_unknown"
    rig.dev.write(sm4.unknown_cmd((pn + 1) % 64))
    with pytest.raises(SafetyTrip, match="sent UnknownCmd"):
        rig.link.poll(rig.now)
