"""The control loop driven sample by sample with a fake clock, against the RehaStim 2 model.

Every fault test checks four things: the exact reason, that Stop reached the device at the
tick where the fault happened (machine in FAULT, gate latched, the `fault` record written
then), and how long after the fault the *device's* output was zero, against its limit.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import serial
from fescontrol_hil.gait import generate

from fescontrol.config.loading import default_device_path, default_imu_profile_path, load_device, load_profile
from fescontrol.config.models import PatientProfile
from fescontrol.control import loop as loop_mod
from fescontrol.control.format_sniff import MIN_SAMPLES
from fescontrol.control.loop import MAX_READ_BYTES, ControlLoop, Progress, blank_gaps, hold_through_gaps
from fescontrol.control.machine import Phase
from fescontrol.control.sensor_input import sensor_format_for
from fescontrol.control.virtual_port import VirtualPort
from fescontrol.core import events as ev
from fescontrol.errors import AckTimeout, ConfigError, DeviceIOError, SafetyTrip, SensorFormatMismatch, SensorLost
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.replay import run_profile_detector
from fescontrol.safety.gate import GateState
from fescontrol.sensing import csv_lines, wt901
from fescontrol.sensing.frames import encode_heel_frame, encode_imu_frame
from fescontrol.sensing.imu_samples import IMU_COLUMNS
from tests.unit.loop_rig import MS, STANDING_N, START_NS, SWING_N, TICK_NS, Fault, LoopRig, S, SensorFeeder

STOP = sm2.Cmd.STOP_CHANNEL_LIST_MODE
START = sm2.Cmd.START_CHANNEL_LIST_MODE
RESPONSE_NS = 100 * MS
"""link.max_response_ms of the RehaStim 2 config: Stop must have taken effect within one response."""


# -- helpers ---------------------------------------------------------------------------------------
def standing(rig: LoopRig, duration_ns: int = S) -> None:
    """Connect and stand (heel loaded) long enough for the first contact: phase STANCE."""
    rig.connect()
    rig.run(duration_ns)
    assert rig.machine.phase is Phase.STANCE
    assert not rig.output_on()


def start_swing(rig: LoopRig) -> int:
    """Stand, then lift the heel for good; returns when the device delivers (the burst's start)."""
    standing(rig)
    rig.feeder.stick(SWING_N)
    rig.run_until(rig.output_on, S)
    assert rig.machine.phase is Phase.SWING
    return rig.bursts(1)[-1][0]


def assert_fault_handled(rig: LoopRig, fault: Fault, *, stop_applies: bool = True) -> int:
    """Stop, FAULT and the record at the fault's own tick; returns the device's zero time after tear-down."""
    assert fault.t_ns in rig.received(STOP), "Stop did not reach the device at the fault tick"
    assert rig.machine.phase is Phase.FAULT
    assert rig.gate.state is GateState.LATCHED_FAULT
    (record,) = rig.fault_records()
    assert record["reason"] == fault.text
    assert record["t_mono"] == fault.t_ns
    if stop_applies:
        rig.teardown()
        zero = rig.zero_since()
        assert zero - fault.t_ns <= RESPONSE_NS
        return zero
    # the device acks Stop but does not apply it: the teardown hears the contradiction and says so
    with pytest.raises(DeviceIOError, match="acknowledged Stop and then answered it with result -8"):
        rig.teardown()
    return -1


# -- hold_through_gaps ---------------------------------------------------------------------------
def test_hold_through_gaps_passes_a_contiguous_chunk_through_unchanged() -> None:
    seq = np.array([4, 5, 6])
    values = np.array([1.0, 2.0, 3.0])
    out_seq, out_values = hold_through_gaps(seq, values, 4, 9.0)
    assert out_seq is seq and out_values is values
    first_seq, _ = hold_through_gaps(seq, values, None, 0.0)  # the first chunk starts where it starts
    assert first_seq is seq


def test_hold_through_gaps_holds_the_value_before_each_gap() -> None:
    seq = np.array([10, 13, 14, 16])
    values = np.array([1.0, 2.0, 3.0, 4.0])
    out_seq, out_values = hold_through_gaps(seq, values, None, 99.0)
    assert out_seq.tolist() == [10, 11, 12, 13, 14, 15, 16]
    assert out_values.tolist() == [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0]


def test_hold_through_gaps_fills_a_gap_before_the_chunk_with_the_last_value() -> None:
    out_seq, out_values = hold_through_gaps(np.array([7, 8]), np.array([5.0, 6.0]), 5, 42.0)
    assert out_seq.tolist() == [5, 6, 7, 8]
    assert out_values.tolist() == [42.0, 42.0, 5.0, 6.0]


# -- walking ---------------------------------------------------------------------------------------
def test_walking_bursts_start_at_heel_off_end_after_heel_strike_and_stay_within_plateau(tmp_path: Path) -> None:
    gait = generate("healthy", 1, 10.0)
    heel = gait.heel_N
    rig = LoopRig(tmp_path, force=lambda k: float(heel[k]) if k < len(heel) else STANDING_N)
    rig.connect()
    t0 = rig.t  # sample k is due at t0 + k / 100 Hz: sample time = wall time - t0
    rig.run(10 * S)
    events = [line.split(",") for line in (tmp_path / "events.csv").read_text().splitlines()[1:]]
    offs = [round(float(t) * S) + t0 for t, name, _ in events if name == "heel_off"]
    strikes = [round(float(t) * S) + t0 for t, name, _ in events if name == "heel_strike"]
    bursts = rig.bursts(1)
    assert len(bursts) == len(offs) == len(strikes) == rig.loop.counts.bursts == rig.loop.counts.steps == 3
    env = rig.profile.envelope
    for (on, off), heel_off, strike in zip(bursts, offs, strikes, strict=True):
        assert off is not None
        # on: after the (backdated) heel off, within the debounce, a tick and the device's processing
        assert heel_off <= on <= heel_off + 50 * MS
        # off: after heel strike + extension; done within the ramp down, a tick and one round trip
        assert strike + round(env.extension_s * S) <= off
        assert off <= strike + round((env.extension_s + env.ramp_down_s) * S) + 30 * MS
    for channel, plateau in ((1, 30), (2, 20)):
        currents = [c.current_ma for c in rig.changes if c.channel == channel]
        assert max(currents) == plateau  # reached, never exceeded
        rises = np.diff([0, *currents])
        assert rises.max() <= rig.profile.safety.max_ramp_step_ma
    # the gate passed everything: nothing was blocked, no fault
    assert rig.gate.counters.blocked == 0 and rig.gate.state is GateState.ARMED
    # the device heard from the host at least once per keep-alive period all along
    heard = sorted(r.t_ns for r in rig.device_log if r.direction == "rx")
    assert max(np.diff(heard)) <= 250 * MS
    assert rig.model.linked



def _walk_outputs(tmp_path: Path, stall_every: int) -> tuple[list[tuple[int, int]], LoopRig]:
    """(channel, current) of every output change the device made over a generated walk; every
    `stall_every`-th tick the loop stalls 20 ms, so three frames arrive in one chunk."""
    heel = generate("healthy", 1, 10.0).heel_N
    rig = LoopRig(tmp_path, force=lambda k: float(heel[k]) if k < len(heel) else STANDING_N, ack_delay_ns=2 * MS)
    rig.connect()
    end = rig.t + 10 * S
    while rig.t < end:
        rig.step(25 * MS if stall_every and rig.ticks % stall_every == stall_every - 1 else None)
    assert rig.fault is None
    return [(c.channel, c.current_ma) for c in rig.changes], rig


def test_frames_that_arrive_together_after_a_stall_still_get_one_command_each(tmp_path: Path) -> None:
    """Batch replay takes one command per sample; a loop that stalls and then reads three frames
    at once must still deliver every ramp level, in order (the CONTRACT's "batch and live
    write the same stim.csv" under a busy machine), not only the newest level of the chunk."""
    steady, rig = _walk_outputs(tmp_path / "steady", 0)
    stalled, stalled_rig = _walk_outputs(tmp_path / "stalled", 7)
    assert stalled_rig.ticks < rig.ticks  # the stalls happened: fewer ticks for the same walk
    assert len(rig.bursts(1)) == 3 and len({cur for _, cur in steady}) > 4  # a real ramp to compare
    assert stalled == steady


def test_idle_sends_only_a_keepalive_every_250_ms(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    first = len(rig.device_log)
    rig.run(3 * S)
    received = [r for r in rig.device_log[first:] if r.direction == "rx"]
    assert {r.item.command for r in received if isinstance(r.item, sm2.Packet)} == {sm2.Cmd.WATCHDOG}
    times = [r.t_ns for r in received]
    assert len(times) == 12
    assert set(np.diff(times).tolist()) == {250 * MS}
    assert rig.model.linked and rig.changes == []


# -- lost frames -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("lost", "reason"), [
    (lambda k: k % 4 != 0, "sensor losing frames: 21 % of the last 100 samples missing (limit 20 %)"),
    (lambda k: k % 10 != 0, "sensor losing frames: 24 % of the last 100 samples missing (limit 20 %)"),
], ids=["3-of-4-corrupted", "every-10th-only"])
def test_lost_frames_mid_swing_fault_and_end_the_output_within_the_burst_limit(
        tmp_path: Path, lost: Callable[[int], bool], reason: str) -> None:
    rig = LoopRig(tmp_path)
    burst_on = start_swing(rig)
    rig.feeder.corrupt = lost  # the heel stays unloaded: no heel strike will come
    fault = rig.run_to_fault(2 * S)
    assert fault.cause == reason
    zero = assert_fault_handled(rig, fault)
    assert zero - burst_on <= rig.liveness_limits.max_burst_ns
    assert rig.loop.counts.sensor_frames_bad > 0


def test_slow_sensor_mid_swing_is_ended_by_the_wall_time_burst_limit(tmp_path: Path) -> None:
    """Sample time runs at half speed (the drift limit set wide): the envelope's own limit
    would come at 1.5 s of sample time = 3 s of wall time; the wall-time limit ends it first."""
    rig = LoopRig(tmp_path, safety={"max_clock_drift_ms": 2000})
    burst_on = start_swing(rig)
    rig.feeder.set_rate(50.0, rig.t)
    fault = rig.run_to_fault(3 * S)
    limit_ms = rig.liveness_limits.max_burst_ns // MS
    assert fault.cause.startswith("stimulation on for ")
    assert fault.cause.endswith(f" ms of wall time in one step (limit {limit_ms} ms)")
    assert fault.t_ns - burst_on <= rig.liveness_limits.max_burst_ns + 2 * TICK_NS
    zero = assert_fault_handled(rig, fault)
    assert zero - burst_on <= rig.liveness_limits.max_burst_ns + RESPONSE_NS


# -- sensor rate and liveness ------------------------------------------------------------------------
@pytest.mark.parametrize(("configured", "true", "direction"), [
    (1000.0, 100.0, "behind"),
    (50.0, 100.0, "ahead of"),
])
def test_sensor_at_another_rate_than_configured_is_a_clock_drift_fault(
        tmp_path: Path, configured: float, true: float, direction: str) -> None:
    rig = LoopRig(tmp_path, rate_hz=configured, sensor_rate_hz=true)
    rig.connect()
    first_sample = rig.t
    fault = rig.run_to_fault(2 * S)
    limit_ns, share = rig.liveness_limits.max_drift_ns, rig.liveness_limits.max_rate_error_pct / 100
    assert share == 0.03  # the profile's rate error allowed
    # drift grows by |1 - true/configured| ns per ns, the allowance by `share`: they cross here
    crossing = first_sample + limit_ns / (abs(1 - true / configured) - share)
    assert crossing <= fault.t_ns <= crossing + TICK_NS + S / true
    drift_ms = int(fault.cause.split()[2])
    allowed_ms = 250 + share * (fault.t_ns - first_sample) / MS
    assert allowed_ms < drift_ms <= allowed_ms + 1000 / true  # drift moves one sample period at a time
    said = re.fullmatch(rf"sensor clock {drift_ms} ms {direction} wall time \(limit 250 ms \+ 3 % of the [\d.]+ s "
                        rf"since its first sample\): the sensor's real "
                        rf"rate is not {configured:g} Hz; its samples came at about (\d+) Hz: run with --rate \1, "
                        rf"or set the sensor to {configured:g} Hz", fault.cause)
    assert said is not None, fault.cause
    assert abs(int(said.group(1)) - true) <= 0.03 * true  # the first sample's tick and arrival jitter
    assert_fault_handled(rig, fault)


def test_stale_sensor_while_stimulating_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.run(50 * MS)
    rig.feeder.silence()
    last_sample = rig.t  # frames fall due on this tick's grid: the last one arrived now
    fault = rig.run_to_fault(S)
    assert fault.cause == "sensor stale: no sample for 155 ms while stimulating (limit 150 ms)"
    assert fault.t_ns == last_sample + 155 * MS
    assert_fault_handled(rig, fault)


def test_a_sensor_that_restarts_mid_swing_is_named_at_once(tmp_path: Path) -> None:
    """A restarted sensor counts again from 0: every later frame is "not newer" than the last one
    seen, so the host would only see silence. Five frames in a row counting on from 0 name the
    cause, and the fault comes 40 ms after the restart instead of at the stale limit (150 ms)."""
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.run(50 * MS)
    last = rig.feeder.next_seq - 1
    restart_at = rig.t
    rig.feeder.restart_counter()
    fault = rig.run_to_fault(S)
    assert fault.cause == (f"the sensor restarted: its sample counter went back from {last} to 0 "
                           "(a power dip or a reset?); its samples no longer follow the session's")
    assert fault.t_ns <= restart_at + 50 * MS
    assert_fault_handled(rig, fault)


def test_lost_sensor_at_zero_output_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.feeder.silence()
    last_sample = rig.t
    fault = rig.run_to_fault(3 * S)
    assert fault.cause == ("sensor lost: no sample for 2005 ms (limit 2000 ms); nothing arrived since the last "
                           "sample: the sensor stopped sending (its power, cable or radio link?)")
    assert fault.t_ns == last_sample + 2005 * MS
    assert rig.changes == []  # nothing was ever delivered
    assert_fault_handled(rig, fault)


def test_a_sensor_that_sends_only_noise_after_its_samples_is_lost_and_the_fault_counts_it(tmp_path: Path) -> None:
    """Bytes go on arriving but no frame (noise on the line, or the sensor switched its format or
    baud rate): lost as silence is, and the reason counts the bytes since the last sample."""
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.feeder.silence()
    noise = bytes(range(0x10, 0x30))  # no 0xA5 0x5A sync among them
    sent = 0
    while rig.fault is None:
        rig.dev_sensor.write(noise)
        sent += len(noise)
        try:
            rig.step()
        except SafetyTrip:
            pass
    assert rig.fault.cause == (f"sensor lost: no sample for 2005 ms (limit 2000 ms); {sent} bytes arrived since the "
                               "last sample and none formed a valid heel-switch or insole frame (type 0x01 / 0x03) "
                               "(noise on the line, or the sensor changed its output format or baud rate?)")
    assert_fault_handled(rig, rig.fault)


def test_a_sensor_that_never_sends_anything_is_lost_and_the_fault_says_so(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    rig.connect()
    rig.feeder.silence()
    first_tick = rig.t + TICK_NS
    fault = rig.run_to_fault(11 * S)
    assert fault.cause == ("sensor lost: no valid sample in the first 10005 ms of the session (limit 10000 ms); "
                           "nothing arrived on the sensor port: is it the sensor's port, and is the sensor on and "
                           "sending?")
    assert fault.t_ns == first_tick + 10005 * MS
    assert rig.machine.phase is Phase.FAULT and rig.changes == []
    assert_fault_handled(rig, fault)


def test_a_sensor_in_another_format_is_named_at_once(tmp_path: Path) -> None:
    """WT901 packets on a port read as our heel frames (a wrong --sensor-format or profile): the
    session ends as soon as the packets are known for what they are, not after the first-sample
    wait, and the fault says what the sensor sends and what reads it. Nothing was delivered."""
    rig = LoopRig(tmp_path)
    rig.connect()
    rig.feeder.silence()
    sent = ticks = 0
    while rig.fault is None:
        rig.dev_sensor.write(wt901.encode_sample((0.0, 1.0, 2.0), (0.0, 0.0, 1.0)))
        sent += 2 * wt901.PACKET_LEN
        ticks += 1
        try:
            rig.step()
        except SensorFormatMismatch:
            pass
    assert ticks == MIN_SAMPLES  # the twentieth cycle names it
    assert rig.fault.cause == (
        "the sensor sends WitMotion WT901 packets (wt901), not the heel-switch or insole frames (type 0x01 / 0x03) "
        f"this session reads: its first {sent} bytes formed {MIN_SAMPLES} wt901 samples and none the session reads; "
        "an IMU profile reads them: run with --sensor-format wt901 (without --profile it takes the embedded IMU "
        "profile; or --profile configs/patients/imu-default.toml)")
    assert rig.loop.counts.samples == 0 and rig.changes == []
    assert_fault_handled(rig, rig.fault)


def test_bytes_of_no_known_format_wait_out_the_first_sample_limit_and_are_counted(tmp_path: Path) -> None:
    """Noise, or a sensor at another baud rate (random bytes to every decoder): nothing to name,
    so the first-sample limit ends it, and the reason counts the bytes."""
    rig = LoopRig(tmp_path)
    rig.connect()
    rig.feeder.silence()
    rng = np.random.default_rng(3)
    sent = 0
    for _ in range(11 * S // TICK_NS):
        rig.dev_sensor.write(rng.integers(0, 256, 22, dtype=np.uint8).tobytes())
        sent += 22
        try:
            rig.step()
        except SensorLost:  # a SensorFormatMismatch (a format named in noise) would fail the test
            break
    assert rig.fault is not None
    assert re.fullmatch(r"sensor lost: no valid sample in the first 10005 ms of the session \(limit 10000 ms\); "
                        rf"{sent} bytes arrived and none formed a valid heel-switch or insole frame \(type 0x01 "
                        r"/ 0x03\) \(the last one rejected: bad (length \d+ for type 0x[0-9A-F]{2}|CRC 0x[0-9A-F]{2}, "
                        r"expected 0x[0-9A-F]{2})\): does the sensor send that format \(--sensor-format and the "
                        r"profile choose it\), at the port's baud rate \(--sensor-baud\)\?", rig.fault.cause), rig.fault
    assert rig.loop.counts.samples == 0 and rig.changes == []
    assert_fault_handled(rig, rig.fault)


def test_a_wt901_with_its_gyro_output_off_is_told_so(tmp_path: Path) -> None:
    """A WT901 session whose sensor sends accel and angle packets only: valid packets, no sample
    in the first-sample wait, and the fault names the setting to change (not "no valid packet")."""
    data, _ = imu_walk()
    rig = imu_rig(tmp_path, "wt901", data)
    rig.feeder.silence()
    cycle = wt901.encode_accel((0.0, 0.0, 1.0)) + wt901.encode_angle((1.0, 2.0, 3.0))
    sent = 0
    for _ in range(11 * S // TICK_NS):
        rig.dev_sensor.write(cycle)
        sent += len(cycle)
        try:
            rig.step()
        except SensorLost:
            break
    assert rig.fault is not None
    assert rig.fault.cause.endswith(f"; {sent} bytes arrived and formed no sample: {sent // wt901.PACKET_LEN} WT901 "
                                    "packets and none of them a gyroscope packet (type 0x52): turn the sensor's gyro "
                                    "output on (RSW bit 0x04, in WitMotion's software)"), rig.fault.cause
    assert rig.changes == []


def test_a_firmware_with_a_wrong_crc_is_told_so(tmp_path: Path) -> None:
    """Heel frames whose CRC byte is wrong (a firmware's own CRC-8 that is not CRC-8/SMBUS): every
    frame is rejected; the fault quotes the last rejection, the CRC it had and the one expected."""
    rig = LoopRig(tmp_path)
    rig.connect()
    rig.feeder.silence()
    frame = bytearray(encode_heel_frame(7, 300.0))
    good = frame[-1]
    frame[-1] ^= 0xFF
    for _ in range(11 * S // TICK_NS):
        rig.dev_sensor.write(bytes(frame))
        try:
            rig.step()
        except SensorLost:
            break
    assert rig.fault is not None
    assert f"(the last one rejected: bad CRC 0x{frame[-1]:02X}, expected 0x{good:02X}): does the sensor" in \
        rig.fault.cause, rig.fault.cause


def test_a_rejection_before_the_last_sample_is_not_blamed_for_a_later_silence(tmp_path: Path) -> None:
    """A bad frame, then good samples, then noise without a sync byte: the reason for the loss
    names no rejection (the old one says nothing about what the sensor sends now)."""
    rig = LoopRig(tmp_path)
    rig.dev_sensor.write(b"\xa5\x5a\x01\x09")  # a frame header with a bad length: rejected
    standing(rig)
    assert rig.loop.decoder.frames_bad >= 1 and rig.loop.decoder.last_rejected == "bad length 9 for type 0x01"
    rig.feeder.silence()
    while rig.fault is None:
        rig.dev_sensor.write(bytes(range(0x10, 0x30)))
        try:
            rig.step()
        except SafetyTrip:
            pass
    assert "rejected" not in rig.fault.cause and "none formed a valid heel-switch" in rig.fault.cause


def test_a_gap_longer_than_max_gap_samples_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    assert rig.settings.max_gap_samples == 15  # 150 ms at 100 Hz
    gap_from = rig.feeder.next_seq
    rig.feeder.drop = lambda k: gap_from <= k < gap_from + 16
    fault = rig.run_to_fault(S)
    assert fault.cause == "sensor lost 16 samples in one gap (limit 15)"
    assert_fault_handled(rig, fault)


def test_a_gap_of_max_gap_samples_is_held_through(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    gap_from = rig.feeder.next_seq
    rig.feeder.drop = lambda k: gap_from <= k < gap_from + 15
    samples_before = rig.loop.counts.samples
    rig.run(S)
    # every sequence number counted (the lost ones held), so sample time is sequence time
    assert rig.loop.counts.samples - samples_before == rig.feeder.next_seq - gap_from
    assert rig.loop.counts.sensor_samples_dropped == 15
    assert rig.machine.phase is Phase.STANCE and rig.fault is None


# -- the device's answers ----------------------------------------------------------------------------
def test_busy_answers_are_retried_at_most_max_busy_retries_times(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    burst_on = start_swing(rig)
    busy_from = rig.t
    rig.model._fault_schedule.append((busy_from, "busy"))  # the device is busy from now on
    fault = rig.run_to_fault(S)
    assert fault.cause == "stimulator answered StartChannelListMode busy 4 times in a row (limit 3 retries)"
    starts_refused = [t for t in rig.received(START) if t > busy_from]
    assert len(starts_refused) == 4  # the first try and 3 retries
    assert rig.link.busy_retries == 3  # the 4th busy answer is the fault, not a retry
    zero = assert_fault_handled(rig, fault)
    # the device held its last output for the retries only (one tick each) and one Stop round trip
    assert zero - busy_from <= 4 * TICK_NS + RESPONSE_NS
    assert zero - burst_on <= rig.liveness_limits.max_burst_ns


def test_ack_then_busy_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.model._fault_schedule.append((rig.t, "ack_then_busy"))
    fault = rig.run_to_fault(S)
    assert fault.cause.startswith("stimulator sent an ack for StartChannelListModeAck #")
    assert "(result -8) while waiting for " in fault.cause
    # the device acks Stop but does not apply it (that is its fault): the output holds until its
    # watchdog, which the host no longer feeds once the session is torn down
    assert_fault_handled(rig, fault, stop_applies=False)
    last_tx = max(r.t_ns for r in rig.device_log if r.direction == "rx")
    rig.quiet(1300 * MS)
    assert rig.zero_since() <= last_tx + rig.model.watchdog_ns


def test_ack_with_nothing_in_flight_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    assert rig.link.in_flight is None
    rig.inject(sm2.ack(77, sm2.Cmd.START_CHANNEL_LIST_MODE_ACK, sm2.Result.OK))
    fault = rig.run_to_fault(TICK_NS)
    assert fault.cause == ("stimulator sent an ack for StartChannelListModeAck #77 (result 0) "
                           "while waiting for nothing")
    assert_fault_handled(rig, fault)


def test_ack_for_another_command_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.run_until(lambda: rig.link.in_flight is not None, S)
    flight = rig.link.in_flight
    assert flight is not None and flight.command == START
    pn = flight.packet_number
    rig.inject(sm2.ack(pn, sm2.Cmd.INIT_CHANNEL_LIST_MODE_ACK, sm2.Result.OK))
    fault = rig.run_to_fault(TICK_NS)
    assert fault.cause == (f"stimulator sent an ack for InitChannelListModeAck #{pn} (result 0) "
                           f"while waiting for StartChannelListMode #{pn}")
    assert_fault_handled(rig, fault)


def test_noise_instead_of_an_ack_is_counted_in_the_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.model._fault_schedule.append((rig.t, "silent"))
    rig.run_until(lambda: rig.link.in_flight is not None, S)
    rig.inject(b"\x01\x02\xf0\x03")  # noise, and a start byte with no frame behind it
    with pytest.raises(AckTimeout) as info:
        for _ in range(100):
            rig.step()
    assert info.value.cause == ("no ack for StartChannelListMode within 200 ms; 4 bytes arrived from the stimulator "
                                "since its last packet and none formed one (noise on the line?)")


def test_no_ack_within_the_timeout_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.model._fault_schedule.append((rig.t, "silent"))  # the device's tx line is cut
    rig.run_until(lambda: rig.link.in_flight is not None, S)
    sent = rig.t
    fault = rig.run_to_fault(S)
    assert fault.cause == ("no ack for StartChannelListMode within 200 ms; nothing arrived from the stimulator since "
                           "its last packet: is it still on, and its cable or adapter in?")
    assert fault.t_ns == sent + 205 * MS
    # the device still hears: it takes the Stop (its ack is lost) and the tear-down gives up
    assert fault.t_ns in rig.received(STOP)
    assert rig.machine.phase is Phase.FAULT
    with pytest.raises(DeviceIOError) as stop:
        rig.teardown()
    assert str(stop.value) == ("no ack for StopChannelListMode within 500 ms (1 try); nothing arrived from the "
                               "stimulator since its last packet: is it still on, and its cable or adapter in?")
    assert rig.zero_since() - fault.t_ns <= RESPONSE_NS


def test_device_reinit_mid_session_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    reset_at = rig.t + 1
    rig.model._fault_schedule.append((reset_at, "reset"))
    fault = rig.run_to_fault(S)
    assert fault.cause == "stimulator reset itself (it sent Init mid-session; its output is off)"
    assert fault.t_ns == reset_at - 1 + TICK_NS
    assert rig.link.link_losses == 1
    assert_fault_handled(rig, fault)  # the reset device answers Stop 'wrong mode': its output is off
    assert rig.zero_since() == reset_at


def test_a_device_stimulation_error_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.model._fault_schedule.append((rig.t + 1, "electrode_error"))
    fault = rig.run_to_fault(S)
    assert fault.cause == "stimulator reported electrode error"
    assert_fault_handled(rig, fault)


# -- the loop itself -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("walking", "gap_ms", "cause"), [
    (True, 101, "control loop overrun: 101 ms between ticks (limit 100 ms)"),  # output on: loop_overrun_ms
    (False, 501, "control loop overrun: 501 ms between ticks with the output off (limit 500 ms)"),
], ids=["output-on", "output-off"])
def test_loop_overrun_is_a_fault(tmp_path: Path, walking: bool, gap_ms: int, cause: str) -> None:
    rig = LoopRig(tmp_path)
    if walking:
        start_swing(rig)
    else:
        standing(rig)
    with pytest.raises(SafetyTrip):
        rig.step(advance_ns=gap_ms * MS)
    assert rig.fault is not None
    assert rig.fault.cause == cause
    assert rig.liveness.max_tick_gap_ns == gap_ms * MS
    assert rig.loop.counts.loop_overruns_output_off == 0
    assert_fault_handled(rig, rig.fault)


def test_a_tick_gap_at_the_overrun_limit_is_not_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.step(advance_ns=100 * MS)
    assert rig.fault is None and rig.machine.phase is Phase.STANCE


def test_a_stall_with_the_output_off_is_recorded_and_the_session_goes_on(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.step(advance_ns=300 * MS)
    rig.feeder.stick(SWING_N)  # the heel lifts during the next stall: the tick after it turns the output on
    rig.step(advance_ns=200 * MS)
    assert rig.fault is None and rig.machine.phase is Phase.SWING
    rig.run_until(rig.output_on, 100 * MS)
    assert rig.loop.counts.loop_overruns_output_off == 2
    stalls = [r for r in rig.session_log() if r["kind"] == "loop_overrun"]
    assert [(r["gap_ms"], r["output"], r["limit_on_ms"], r["limit_off_ms"]) for r in stalls] == [
        (300, "off", 100, 500), (200, "off", 100, 500)]
    with pytest.raises(SafetyTrip):  # on now: the strict limit holds again
        rig.step(advance_ns=101 * MS)
    assert rig.fault is not None and rig.fault.cause == "control loop overrun: 101 ms between ticks (limit 100 ms)"


@pytest.mark.parametrize(("gate", "reason"), [
    ({"max_on_ns": 300 * MS}, "channel 1: on for 300 ms without a break (stuck-on limit 300 ms)"),
    ({"duty_window_ns": 2 * S, "max_duty_on_ns": 250 * MS},
     "channel 1: on for 250 ms in the last 2000 ms (duty limit 250 ms)"),
    ({"max_session_on_ns": 200 * MS}, "stimulated for 200 ms this session (session limit 200 ms)"),
], ids=["stuck-on", "duty", "session-total"])
def test_the_gates_wall_time_checks_end_the_output_through_the_loop(
        tmp_path: Path, gate: dict[str, int], reason: str) -> None:
    rig = LoopRig(tmp_path, gate=gate)
    burst_on = start_swing(rig)
    fault = rig.run_to_fault(S)
    assert fault.cause == f"safety gate: {reason}"
    assert rig.gate.fault_cause == reason
    zero = assert_fault_handled(rig, fault)
    limit = min(gate.get("max_on_ns", S), gate.get("max_duty_on_ns", S), gate.get("max_session_on_ns", S))
    assert zero - burst_on <= limit + TICK_NS + RESPONSE_NS


def test_sensor_port_closing_at_zero_output_ends_the_session_normally(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.feeder.close()
    assert rig.step() is True
    assert rig.loop.counts.end_reason.startswith("sensor stream ended")
    assert rig.machine.phase is Phase.STANCE and rig.gate.state is GateState.ARMED
    assert rig.fault_records() == []


def test_sensor_port_closing_while_stimulating_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.feeder.close()
    fault = rig.run_to_fault(TICK_NS)
    assert fault.cause == "sensor stream ended while stimulating: the sensor was lost mid-step"
    assert rig.loop.counts.end_reason == ""
    assert_fault_handled(rig, fault)


def test_sensor_port_closing_after_heel_off_before_the_device_acks_is_a_fault(tmp_path: Path) -> None:
    """The swing has begun (level > 0, a Start on its way) though the device delivers nothing yet."""
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.feeder.stick(SWING_N)
    rig.run_until(lambda: rig.loop.level > 0.0, S)
    assert rig.link.acked_currents == (0, 0) and rig.link.in_flight is not None
    rig.feeder.close()
    fault = rig.run_to_fault(TICK_NS)
    assert fault.cause == "sensor stream ended while stimulating: the sensor was lost mid-step"
    assert_fault_handled(rig, fault)


def test_the_burst_timer_runs_whenever_the_device_delivers_or_a_current_was_requested(tmp_path: Path) -> None:
    """The burst (liveness's wall-time limit) spans request, delivery and the last zero's ack."""
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.feeder.stick(SWING_N)
    rig.run(300 * MS)
    rig.feeder.stick(STANDING_N)  # heel strike: extension, ramp down, then a zero Start
    seen_on = seen_off = 0
    for _ in range(100):
        rig.step()
        running = rig.liveness._burst_start_ns is not None
        requested = rig.gate.last_currents([1, 2]) != (0, 0)
        if rig.output_on() or requested:
            assert running, f"device delivers {rig.model.outputs[1]} but no burst is timed"
            seen_on += 1
        elif not rig.link.in_flight:
            assert not running
            seen_off += 1
    assert seen_on and seen_off and not rig.output_on()


def test_stale_sensor_with_a_start_unanswered_is_a_stale_fault(tmp_path: Path) -> None:
    """A Start has gone out (the device may be delivering) and nothing came back: the burst counts
    from the request, so the stale-sensor limit (150 ms) ends it before the ack time-out (200 ms)."""
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.feeder.stick(SWING_N)
    rig.run_until(lambda: rig.link.in_flight is not None and rig.link.in_flight.command == START, S)
    rig.model._fault_schedule.append((rig.t, "silent"))  # no answers from now on
    rig.feeder.silence()
    fault = rig.run_to_fault(S)
    assert fault.cause.startswith("sensor stale: no sample for ")
    assert fault.t_ns in rig.received(STOP)


def test_sensor_port_read_error_names_the_os_error(tmp_path: Path) -> None:
    class BrokenPort:
        in_waiting = 9

        def read(self, size: int = 1) -> bytes:
            raise OSError(errno.EIO, "Input/output error")

    rig = LoopRig(tmp_path)
    standing(rig)
    rig.loop.sensor = BrokenPort()
    assert rig.loop.tick(rig.t + TICK_NS, True) is True
    assert rig.loop.counts.end_reason == ("sensor stream ended (the sensor closed its port or was unplugged: "
                                          "Input/output error)")
    rig = LoopRig(tmp_path / "emulated")  # simulate, live replay: the emulator's normal end, no error shown
    standing(rig)
    rig.loop.settings = dataclasses.replace(rig.loop.settings, port_closed_means=loop_mod.EMULATOR_PORT_CLOSED)
    rig.loop.sensor = BrokenPort()
    assert rig.loop.tick(rig.t + TICK_NS, True) is True
    assert rig.loop.counts.end_reason == ("sensor stream ended: the sensor emulator's walk is over (it closed its "
                                          "port; hil-sensor.log says if it failed)")
    rig = LoopRig(tmp_path / "other")
    standing(rig)

    class DeniedPort(BrokenPort):
        def read(self, size: int = 1) -> bytes:
            raise OSError(errno.EACCES, "Permission denied")

    rig.loop.sensor = DeniedPort()
    assert rig.loop.tick(rig.t + TICK_NS, True) is True
    assert rig.loop.counts.end_reason == "sensor stream ended (Permission denied)"


def test_a_flood_is_read_in_bounded_chunks(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    rig.feeder.port.write(bytes(3 * MAX_READ_BYTES))  # garbage: no sync anywhere
    rig.feeder.port.write(encode_heel_frame(rig.feeder.next_seq, STANDING_N))
    rig.feeder.next_seq += 1
    ticks = 0
    while rig.host_sensor.in_waiting:
        before = rig.host_sensor.in_waiting
        rig.step()
        assert before - rig.host_sensor.in_waiting <= MAX_READ_BYTES
        ticks += 1
    assert ticks == 4 and rig.fault is None
    assert rig.loop.decoder.bytes_discarded >= 3 * MAX_READ_BYTES


def test_bytes_without_a_complete_frame_change_nothing(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    samples, next_index = rig.loop.counts.samples, rig.loop.next_index
    rig.feeder.port.write(encode_heel_frame(rig.feeder.next_seq, STANDING_N)[:5])
    assert rig.loop.tick(rig.t + 1, True) is False
    assert (rig.loop.counts.samples, rig.loop.next_index) == (samples, next_index)


def test_broken_session_records_are_a_fault(tmp_path: Path) -> None:
    class FullDisk:
        closed = False

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    rig = LoopRig(tmp_path)
    start_swing(rig)
    for log in (rig.records.session, rig.records.events):
        log._file.close()
        log._file = FullDisk()  # type: ignore[assignment]
    fault = rig.run_to_fault(S)
    assert fault.cause == "cannot write the session records: OSError: [Errno 28] No space left on device"
    assert fault.t_ns in rig.received(STOP)
    assert rig.machine.phase is Phase.FAULT and rig.gate.state is GateState.LATCHED_FAULT
    rig.teardown()
    assert rig.zero_since() - fault.t_ns <= RESPONSE_NS


def test_enter_fault_stops_the_device_at_once_and_records_why(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.run_until(lambda: rig.link.in_flight is None, S)  # no Start pending at the device
    assert rig.output_on()
    now = rig.t
    rig.loop.enter_fault("operator pressed the red button", now)
    rig.pump()
    assert rig.received(STOP) == [now]
    assert rig.machine.phase is Phase.FAULT and rig.gate.fault_cause == "operator pressed the red button"
    (record,) = rig.fault_records()
    assert record["reason"] == "operator pressed the red button" and record["t_mono"] == now
    rig.quiet(10 * MS)
    assert rig.zero_since() == now + rig.model.ack_delay_ns  # the device's processing time, no more


def test_a_fault_while_the_device_processes_a_start_still_stops_it(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path, ack_delay_ns=24 * MS)  # the documented worst command latency
    start_swing(rig)
    rig.run_until(lambda: rig.link.in_flight is not None and rig.link.in_flight.sent_ns == rig.t, S)
    rig.inject(sm2.stimulation_error(9, -3))  # any fault while that Start is still being processed
    fault = rig.run_to_fault(TICK_NS)
    assert fault.cause == "stimulator reported stimulation module error"
    assert rig.fault is not None
    rig.teardown()
    assert rig.zero_since() - rig.fault.t_ns <= RESPONSE_NS


def test_enter_fault_still_latches_and_records_when_stop_cannot_be_written(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    rig.dev_stim.close()  # the stimulator's port is gone
    with pytest.raises(serial.SerialException):
        rig.loop.enter_fault("port gone", rig.t)
    assert rig.machine.phase is Phase.FAULT
    assert rig.gate.state is GateState.LATCHED_FAULT
    assert [r["reason"] for r in rig.fault_records()] == ["port gone"]


def test_run_ticks_until_the_stream_ends_and_reports_progress(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    seen: list[Progress] = []
    stop_at = rig.t + 2 * S

    def wait(timeout_s: float) -> set[str]:
        rig.t += TICK_NS
        if rig.t >= stop_at:
            rig.feeder.close()
        rig.feeder.feed(rig.t)
        rig.pump()
        return {"sensor"} if rig.sensor_ready() else set()

    rig.loop.run(rig.clock, wait, seen.append, progress_period_s=0.5)
    assert rig.t == stop_at and rig.loop.counts.end_reason.startswith("sensor stream ended")
    assert len(seen) == 4  # at 0, 0.5, 1.0 and 1.5 s
    assert [p.elapsed_s for p in seen] == pytest.approx([0.005, 0.505, 1.005, 1.505])
    assert all(p.phase == "stance" and p.faults == 0 for p in seen)
    rig.loop.run(rig.clock, wait)  # no progress callback: ends the same way
    assert rig.loop.counts.end_reason.startswith("sensor stream ended")


def test_run_raises_the_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)

    def wait(timeout_s: float) -> set[str]:
        rig.t += 600 * MS  # every wait overruns the loop, beyond even the limit with the output off
        return set()

    with pytest.raises(SafetyTrip, match="control loop overrun: 600 ms between ticks with the output off"):
        rig.loop.run(rig.clock, wait)
    assert rig.machine.phase is Phase.FAULT


# -- the detector seam: every event the detectors emit, and what they say of the signal --------------
def test_toe_off_is_logged_and_an_abort_ends_the_swing_without_a_step(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    start_swing(rig)
    steps = rig.loop.counts.steps
    rig.loop._on_event(ev.EV_TOE_OFF, 12.34)
    assert rig.machine.phase is Phase.SWING
    rig.loop._on_event(ev.EV_STIM_ABORT, 12.5)
    assert rig.machine.phase is Phase.STANCE and rig.loop.counts.steps == steps
    rows = (tmp_path / "events.csv").read_text(encoding="utf-8").splitlines()
    assert f"12.3400,toe_off,{rig.loop.detector.kind}" in rows
    aborts = [r for r in rig.session_log() if r["kind"] == "stim_abort"]
    assert [(r["detector"], r["t_event_s"]) for r in aborts] == [(rig.loop.detector.kind, 12.5)]
    rig.loop._on_event(ev.EV_STIM_ABORT, 12.6)  # outside a swing an abort changes nothing
    assert rig.machine.phase is Phase.STANCE


def test_a_stuck_signal_is_reported_within_seconds_repeated_sparingly_and_cleared(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig, 25 * S)  # a heel loaded at one value all along: a stuck sensor
    reports = [r for r in rig.session_log() if r["kind"] == "signal_health"]
    assert reports and all("stuck" in str(r["problem"]) for r in reports)
    first = reports[0]["t_mono"] - START_NS
    assert first <= 20 * S, first
    gaps = [b["t_mono"] - a["t_mono"] for a, b in zip(reports, reports[1:])]
    assert all(g >= loop_mod.SIGNAL_REPEAT_NS for g in gaps)  # a growing duration is not logged every tick
    rig.feeder.stick(SWING_N)  # the foot moves again: the problem clears and says so
    rig.run(2 * S)
    cleared = [r for r in rig.session_log() if r["kind"] == "signal_health" and r["problem"] is None]
    assert cleared


def test_a_recording_that_ends_mid_step_stops_normally_in_live_replay(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    rig.loop.settings = dataclasses.replace(rig.settings, stream_end_mid_step_is_fault=False)
    start_swing(rig)
    rig.feeder.close()
    assert rig.step() is True
    assert rig.loop.counts.end_reason == ("sensor stream ended mid-step (the recording ends there); stopped")
    assert rig.fault_records() == []
    rig.teardown()
    assert not rig.output_on()


def test_garbage_on_either_link_leaves_a_trace_once_a_second(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    standing(rig)
    before = [r for r in rig.session_log() if r["kind"] == "link_health"]
    rig.dev_sensor.write(b"\x00\x11\x22" * 10)  # bytes that never form a sensor frame
    rig.inject(b"\x33\x44" * 8)  # and the same on the stimulator's side (no 0xF0: no frame at all)
    rig.run(2 * S)
    after = [r for r in rig.session_log() if r["kind"] == "link_health"]
    assert len(after) == len(before) + 1  # logged once, and not again while nothing changes
    last = after[-1]
    assert last["sensor_bytes_discarded"] >= 30 and last["stimulator_bytes_discarded"] == 16
    assert last["sensor_frames_bad"] == 0 and last["stimulator_frames_bad"] == 0


# -- an IMU as the sensor ----------------------------------------------------------------------------
IMU_WALK_S = 14.0


def _encode_imu6(k: int, row: list[float]) -> bytes:
    return encode_imu_frame(k, row[:3], row[3:])


def _encode_wt901(k: int, row: list[float]) -> bytes:
    return wt901.encode_sample(row[:3], row[3:])


def _encode_csv(k: int, row: list[float]) -> bytes:
    return csv_lines.encode_line(k, row[:3], row[3:])


IMU_ENCODERS: dict[str, Callable[[int, list[float]], bytes]] = {
    "imu6": _encode_imu6, "wt901": _encode_wt901, "csv": _encode_csv}


class ImuFeeder(SensorFeeder):
    """Writes one IMU sample of `data` (n, 6) per period in the wire format's encoding; a NaN row
    (a generated dropout) sends nothing, as a sensor that lost the sample."""

    def __init__(self, port: VirtualPort, rate_hz: float, data: np.ndarray, start_ns: int,
                 encode: Callable[[int, list[float]], bytes]) -> None:
        super().__init__(port, rate_hz, lambda k: 0.0, start_ns)
        self.rows = data.tolist()
        self.encode = encode

    def feed(self, now_ns: int) -> None:
        if self.port.closed:
            return
        end = min(self.due(now_ns), len(self.rows))
        while self.next_seq < end:
            k = self.next_seq
            self.next_seq += 1
            row = self.rows[k]
            if self.drop(k) or not all(np.isfinite(row)):
                continue
            self.sent.append(k)
            self.port.write(self.encode(k, row))


@functools.cache
def imu_profile() -> PatientProfile:
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_imu_profile_path(), device)
    return profile


@functools.cache
def imu_walk(dropouts_per_min: float = 0.0) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """A generated healthy walk's foot IMU (n, 6), and the events the batch runner detects in it."""
    data = generate("healthy", 4, IMU_WALK_S, 100.0, imu_dropouts_per_min=dropouts_per_min).imu("foot")
    columns = {name: np.ascontiguousarray(data[:, i]) for i, name in enumerate(IMU_COLUMNS)}
    result, _, _ = run_profile_detector(columns, 100.0, imu_profile())
    return data, sorted(result.event_times(100.0))


def imu_rig(tmp_path: Path, fmt: str, data: np.ndarray) -> LoopRig:
    """The loop rig with the IMU profile's detector reading `fmt`, fed `data` from the connect on."""
    rig = LoopRig(tmp_path)
    rig.settings = dataclasses.replace(rig.settings, detector=imu_profile().detector,
                                       sensor_format=sensor_format_for(imu_profile().detector.kind, fmt))
    rig.loop = ControlLoop(rig.settings, rig.host_sensor, rig.link, rig.machine, rig.liveness, rig.records)
    rig.connect()
    rig.feeder = ImuFeeder(rig.dev_sensor, 100.0, data, rig.t, IMU_ENCODERS[fmt])
    return rig


def detected_events(rig: LoopRig) -> list[tuple[float, str]]:
    rows = (rig.out_dir / "events.csv").read_text(encoding="utf-8").splitlines()[1:]
    return sorted((float(r.split(",")[0]), r.split(",")[1]) for r in rows)


def test_blank_gaps_gives_nan_for_each_lost_sample_and_passes_a_contiguous_chunk() -> None:
    seq = np.array([4, 5, 6])
    values = np.array([1.0, 2.0, 3.0])
    out_seq, out_values = blank_gaps(seq, values, 4)
    assert out_seq is seq and out_values is values
    out_seq, out_values = blank_gaps(np.array([3, 5, 6]), values, 1)
    assert out_seq.tolist() == [1, 2, 3, 4, 5, 6]
    assert np.array_equal(out_values, [np.nan, np.nan, 1.0, np.nan, 2.0, 3.0], equal_nan=True)


@pytest.mark.parametrize("fmt", ["imu6", "wt901", "csv"])
def test_an_imu_walk_is_detected_live_as_the_batch_runner_detects_it(tmp_path: Path, fmt: str) -> None:
    """Each wire format, sample by sample through the loop: the same gait events as the batch
    runner over the walk (to a sample: the wire rounds the gyro), a burst for every swing."""
    data, batch = imu_walk()
    rig = imu_rig(tmp_path, fmt, data)
    rig.run(int(IMU_WALK_S * S) + 50 * MS)
    assert rig.fault is None
    live = detected_events(rig)
    assert [k for _, k in live] == [k for _, k in batch]
    assert max(abs(a - b) for (a, _), (b, _) in zip(live, batch)) <= 0.0101
    swings = sum(1 for _, k in batch if k == "heel_strike")
    assert swings >= 5 and len(rig.bursts(1)) == rig.loop.counts.bursts == swings
    assert rig.loop.detector.kind == "foot_imu"


def test_lost_imu_samples_are_no_evidence_and_live_still_matches_batch(tmp_path: Path) -> None:
    """Generated dropouts (runs of lost samples): the loop fills them with NaN, as batch replay
    does for a gap, so both detect the same events; every sequence number is counted."""
    data, batch = imu_walk(dropouts_per_min=12.0)
    lost = int(np.count_nonzero(~np.isfinite(data[:, 0])))
    assert lost > 0
    rig = imu_rig(tmp_path, "imu6", data)
    rig.run(int(IMU_WALK_S * S) + 50 * MS)
    assert rig.fault is None
    assert rig.loop.counts.sensor_samples_dropped == lost
    assert rig.loop.counts.samples == len(data)
    live = detected_events(rig)
    assert [k for _, k in live] == [k for _, k in batch]
    assert max(abs(a - b) for (a, _), (b, _) in zip(live, batch)) <= 0.0101


def test_corrupted_wt901_packets_leave_every_later_sample_in_its_place(tmp_path: Path) -> None:
    """A noisy WT901 link (no counter on the wire): one cycle in 37 loses its accel packet, one in 53
    its gyro packet (bad checksums). A lost accel leaves the sample (accel NaN); a lost gyro is a gap
    of one, filled with NaN and counted. So live detection matches batch replay of the walk with
    those gyro samples blank, to a sample, and no later sample moves in time (numbering in arrival
    order would have put each one period early per lost packet)."""
    data, _ = imu_walk()
    gyro_lost = [k for k in range(len(data)) if k % 53 == 26]
    accel_lost = [k for k in range(len(data)) if k % 37 == 5 and k not in gyro_lost]  # never a whole cycle

    def encode(k: int, row: list[float]) -> bytes:
        acc, gyr = bytearray(wt901.encode_accel(row[3:])), bytearray(wt901.encode_gyro(row[:3]))
        if k in accel_lost:
            acc[10] ^= 0xFF
        if k in gyro_lost:
            gyr[10] ^= 0xFF
        return bytes(acc + gyr)

    blank = data.copy()
    blank[gyro_lost, :3] = np.nan
    result, _, _ = run_profile_detector({name: np.ascontiguousarray(blank[:, i]) for i, name in enumerate(IMU_COLUMNS)},
                                        100.0, imu_profile())
    batch = sorted(result.event_times(100.0))
    rig = imu_rig(tmp_path, "wt901", data)
    rig.feeder = ImuFeeder(rig.dev_sensor, 100.0, data, rig.t, encode)
    rig.run(int(IMU_WALK_S * S) + 50 * MS)
    assert rig.fault is None
    assert rig.loop.counts.sensor_samples_dropped == len(gyro_lost) > 0
    assert rig.loop.counts.samples == len(data)
    live = detected_events(rig)
    assert [k for _, k in live] == [k for _, k in batch] and len(batch) >= 10
    assert max(abs(a - b) for (a, _), (b, _) in zip(live, batch)) <= 0.0101


def test_wt901_time_packets_keep_whole_lost_cycles_in_their_place(tmp_path: Path) -> None:
    """A WT901 with its time output on, over a link that loses one whole cycle in 50 (time, accel
    and gyro packets): each later sample is placed by its time packet, so the loss is counted and
    live detection matches batch replay of the walk with those samples blank, to a sample, as for a
    counted frame. Without the time packets the same link is numbered in arrival order: no loss is
    seen and every later sample comes a period early per lost cycle, 2 % of the time: within the
    profile's 3 % rate error the session runs on; with no rate error allowed, after 26 lost cycles
    it ends on clock drift (sample time 260 ms behind wall time)."""
    data, _ = imu_walk()
    blank = data.copy()
    blank[25::50] = np.nan  # a NaN row is not sent: the whole cycle is lost
    lost = int(np.count_nonzero(~np.isfinite(blank[:, 0])))
    result, _, _ = run_profile_detector({name: np.ascontiguousarray(blank[:, i]) for i, name in enumerate(IMU_COLUMNS)},
                                        100.0, imu_profile())
    batch = sorted(result.event_times(100.0))

    def timed(k: int, row: list[float]) -> bytes:
        return wt901.encode_sample(row[:3], row[3:], 1_000_000 + 10 * k)

    rig = imu_rig(tmp_path / "timed", "wt901", blank)
    rig.feeder = ImuFeeder(rig.dev_sensor, 100.0, blank, rig.t, timed)
    rig.run(int(IMU_WALK_S * S) + 50 * MS)
    assert rig.fault is None
    assert rig.loop.counts.sensor_samples_dropped == lost == 28
    assert rig.loop.counts.samples == len(data)
    live = detected_events(rig)
    assert [k for _, k in live] == [k for _, k in batch] and len(batch) >= 10
    assert max(abs(a - b) for (a, _), (b, _) in zip(live, batch)) <= 0.0101

    untimed = imu_rig(tmp_path / "untimed", "wt901", blank)
    untimed.run(int(IMU_WALK_S * S) + 50 * MS)
    assert untimed.fault is None
    assert untimed.loop.counts.sensor_samples_dropped == 0 and untimed.loop.counts.samples == len(data) - lost
    strict = imu_rig(tmp_path / "strict", "wt901", blank)
    strict.loop.liveness.limits = dataclasses.replace(strict.loop.liveness.limits, max_rate_error_pct=0)
    fault = strict.run_to_fault(int(IMU_WALK_S * S))
    assert re.fullmatch(r"sensor clock 2[5-6]\d ms behind wall time \(limit 250 ms\): .*", fault.cause), fault
    assert strict.loop.counts.sensor_samples_dropped == 0


def test_an_imu_that_goes_silent_mid_swing_is_a_stale_fault(tmp_path: Path) -> None:
    data, _ = imu_walk()
    rig = imu_rig(tmp_path, "imu6", data)
    rig.run_until(rig.output_on, 8 * S)
    assert rig.machine.phase is Phase.SWING
    rig.feeder.silence()
    last_sample = rig.t
    fault = rig.run_to_fault(S)
    assert fault.cause == "sensor stale: no sample for 155 ms while stimulating (limit 150 ms)"
    assert fault.t_ns == last_sample + 155 * MS
    assert_fault_handled(rig, fault)


@pytest.mark.parametrize(("kind", "requested", "expected"), [
    ("foot_imu", None, "imu6"), ("shank_imu", "wt901", "wt901"), ("foot_imu", "csv", "csv"),
    ("adaptive_heel", None, "force"), ("insole", "force", "force")])
def test_the_sensor_format_follows_the_detector(kind: str, requested: str | None, expected: str) -> None:
    assert sensor_format_for(kind, requested) == expected


@pytest.mark.parametrize(("kind", "requested", "message"), [
    ("adaptive_heel", "imu6", "--sensor-format 'imu6': the profile's detector is kind = 'adaptive_heel', a force"),
    ("foot_imu", "force", "--sensor-format 'force': the profile's detector is kind = 'foot_imu' (an IMU); "
                          "allowed: imu6, wt901, csv")])
def test_a_sensor_format_the_detector_cannot_read_is_bad_input(kind: str, requested: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        sensor_format_for(kind, requested)
    assert str(err.value).startswith(message)
