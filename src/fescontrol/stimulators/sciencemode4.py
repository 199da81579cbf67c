"""Stimulator backend of the RehaMove3 and the P24 (ScienceMode4 mid level).

The host opens the session (there is no device Init): ``Ml_init``, then ``Ml_update`` with
every configured channel at each change of level, ``Ml_get_current_data`` as the keep-alive
(the device pauses its output 2 s after the last update or current-data request) and as the
electrode status, and ``Ml_stop`` to end. Everything goes through the safety gate, whose
ScienceMode4 hook reads each frame back. One command is in flight at a time and every answer
must match it by (ack command, packet number); results map onto the same handling as on the
RehaStim 2: Busy (21) and Transfer_Error (1) mean "not applied, send again" (bounded by the
busy-retry limit), any other failing result, an unsolicited General_error/Unknown_cmd, or a
channel state other than OK in the current data is a fault. The one exception is an
Unknown_cmd carrying the packet number of a read-only identity query at bench start (a device
without that query): it is reported, before anything stimulates.

The pulse is biphasic and charge balanced: +I for the profile's pulse width, an interphase
gap of ``INTERPHASE_US`` at 0 mA, -I for the same width. The period is the profile's
frequency on the protocol's 0.5 ms grid (the config loader checks it is within 1 %).
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Callable

from fescontrol.config.models import DeviceConfig
from fescontrol.errors import DeviceInitError, ProtocolError, SafetyTrip
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.safety.gate import SafetyGate, Verdict
from fescontrol.safety.hook_sciencemode4 import ScienceMode4Hook
from fescontrol.safety.limits import GateLimits
from fescontrol.safety.liveness import Liveness
from fescontrol.stimulators.base import (
    ChannelPlan,
    ForeignPackets,
    GateStopping,
    InFlight,
    LinkTiming,
    Record,
    check_ack,
    what_came,
)

log = logging.getLogger(__name__)

INTERPHASE_US = 100
"""Gap between the two phases of the biphasic pulse."""

SELECTION = {"rehamove3": sm4.REHAMOVE3_SELECTION, "p24": sm4.P24_SELECTION}
"""``Ml_get_current_data`` selection each device documents (trap C-14)."""

_SENT_BY_HOST = (sm4.Request, sm4.MlInit, sm4.MlUpdate, sm4.MlStop, sm4.MlGetCurrentData)

_REFUSAL_MEANING = {int(sm4.Result.NOT_INITIALIZED_ERROR): ": the device's mid level is off (emergency switch pressed, "
                                                           "or the device reset)"}
"""What a refusal means for the operator, where the result name alone does not say it."""

IDENTITY_QUERIES = (sm4.Cmd.GET_VERSION_MAIN, sm4.Cmd.GET_DEVICE_ID, sm4.Cmd.GET_STIM_STATUS)
"""The general commands `identify` sends (read-only; on the gate hook's allow-list)."""


def gate_hook(limits: GateLimits) -> ScienceMode4Hook:
    return ScienceMode4Hook(limits.min_period_us)


def build(gate: SafetyGate, liveness: Liveness, timing: LinkTiming, device: DeviceConfig, channels: ChannelPlan,
          on_record: Record) -> "ScienceMode4Link":
    return ScienceMode4Link(gate, liveness, timing, channels, selection=SELECTION[device.device.model],
                            channel_count=device.device.channels, on_record=on_record)


def emulator_args(device: DeviceConfig) -> list[str]:
    return ["sm4-stimulator", "--device", device.device.model]


def period_ms(frequency_hz: float) -> float:
    """The pulse period nearest to 1 / frequency on the 0.5 ms grid."""
    return round(2000.0 / frequency_hz) / 2


def delivered_frequency_hz(frequency_hz: float) -> float:
    """1000 / the period on the protocol's 0.5 ms grid."""
    return 1000.0 / period_ms(frequency_hz)


class ScienceMode4Link(GateStopping):
    """One RehaMove3 or P24 in mid level: Ml_init, Ml_update, Ml_get_current_data, Ml_stop."""

    STOP_COMMAND = int(sm4.Cmd.ML_STOP)
    STOP_ACK = int(sm4.Cmd.ML_STOP_ACK)
    STOP_NAME = "MlStop"
    RESULT_OK = int(sm4.Result.SUCCESSFUL)
    RETRY_RESULTS = frozenset({int(sm4.Result.BUSY), int(sm4.Result.TRANSFER_ERROR)})

    def __init__(self, gate: SafetyGate, liveness: Liveness, timing: LinkTiming, channels: ChannelPlan, *,
                 selection: int, channel_count: int, on_record: Record | None = None) -> None:
        self.gate = gate
        self.liveness = liveness
        self.timing = timing
        self.channel_numbers = sorted(channels.numbers)
        self.pulse_widths_us = channels.pulse_widths_us
        self.period_ms = period_ms(channels.frequency_hz)
        self.selection = selection
        self.channel_count = channel_count
        self._on_record = on_record or (lambda rec: None)
        self._decoder = sm4.Decoder()
        self.foreign = ForeignPackets(sm2.Decoder(), "ScienceMode2", "rehastim2")
        """Until the link is up: a device of the other protocol is named (`base.ForeignPackets`)."""
        self.linked = False
        """Ml_init was acknowledged: the device takes updates."""
        self.in_flight: InFlight | None = None
        self.last_tx_ns = 0
        self.acked_currents: tuple[int, ...] = tuple(0 for _ in self.channel_numbers)
        self.busy_retries = 0
        self.retry_results: tuple[int, ...] = ()
        """The Busy / Transfer_Error results answered in a row (the liveness limit bounds them)."""
        self.last_ack_result: int | None = None
        self.closing = False
        """Set by the teardown: answers that no longer match are recorded, not raised."""
        self.late_answers: list[tuple[int, int, int]] = []
        """(ack command, packet number, result) of answers that matched nothing while closing."""
        self.last_answer: sm4.Message | None = None
        """The answer to the last read-only query of `identify`."""

    @property
    def delivered_frequency_hz(self) -> float:
        """1000 / the period on the protocol's 0.5 ms grid."""
        return 1000.0 / self.period_ms  # = delivered_frequency_hz(the profile's frequency)

    def _refusal_meaning(self, command: int, result: int) -> str:
        """What a refusal means for the operator, where the result name alone does not say it."""
        if command == sm4.Cmd.ML_GET_CURRENT_DATA and result == sm4.Result.PARAMETER_ERROR:
            # each model documents one data selection (trap C-14): the other model refuses it
            asked = next(model for model, sel in SELECTION.items() if sel == self.selection)
            others = ", ".join(f"a {model} documents {int(sel)}" for model, sel in SELECTION.items() if model != asked)
            return (f": the device does not take data selection {int(self.selection)}, the one --device {asked} "
                    f"asks for ({others}): is --device right?")
        return _REFUSAL_MEANING.get(result, "")

    @property
    def rx_decoder(self) -> sm4.Decoder:
        return self._decoder

    # -- receiving -------------------------------------------------------------------------
    def poll(self, now_ns: int) -> None:
        """Read what the device sent and act on all of it; then raise the first device fault."""
        data = self.gate.read_available()
        first: SafetyTrip | None = None
        if data and not self.linked:
            self.foreign.feed(data)
        for item in self._decoder.feed(data) if data else ():
            try:
                self._handle(item, now_ns)
            except SafetyTrip as exc:
                first = first or exc
        if first is not None:
            raise first

    def _handle(self, item: sm4.Packet | sm4.BadFrame, now_ns: int) -> None:
        if isinstance(item, sm4.BadFrame):
            self._on_record({"kind": "stim_rx_bad_frame", "reason": item.reason, "hex": item.raw.hex(" ")})
            return
        try:
            msg = sm4.parse(item)
        except ProtocolError as exc:
            raise SafetyTrip(f"stimulator sent a malformed packet: {exc}") from exc
        if isinstance(msg, _SENT_BY_HOST):
            raise SafetyTrip(f"stimulator sent a host command ({_name(item.command)})")
        result = int(msg.result)
        flight = self.in_flight
        if item.command == sm4.Cmd.UNKNOWN_CMD and flight is not None and flight.command in IDENTITY_QUERIES \
                and item.packet_number == flight.packet_number:
            # a device without that read-only query (no stimulation yet): `identify` reports it, no fault
            self.in_flight = None
            self.last_answer = msg
            self._on_record({"kind": "stim_query_unknown", "command": _name(flight.command),
                             "packet_number": item.packet_number, "result": result})
            return
        if item.command in sm4.UNSOLICITED:
            raise SafetyTrip(f"stimulator sent {_name(item.command)} with result {_result(result)}")
        self._handle_ack(item, msg, result, now_ns)

    def _handle_ack(self, item: sm4.Packet, msg: sm4.Message, result: int, now_ns: int) -> None:
        flight = self.in_flight
        if flight is None or item.packet_number != flight.packet_number or \
                sm4.ACK_OF.get(sm4.Cmd(flight.command)) != item.command:
            self._on_record({"kind": "stim_unexpected_ack", "command": _name(item.command),
                             "packet_number": item.packet_number, "result": result})
            if self.closing:
                self.late_answers.append((item.command, item.packet_number, result))
                return
            waiting = "nothing" if flight is None else f"{_name(flight.command)} #{flight.packet_number}"
            raise SafetyTrip(f"stimulator sent {_name(item.command)} #{item.packet_number} "
                             f"(result {_result(result)}) while waiting for {waiting}")
        self.in_flight = None
        self.last_ack_result = result
        self._on_record({"kind": "stim_ack", "command": _name(item.command), "result": result,
                         "latency_ms": round((now_ns - flight.sent_ns) / 1e6, 3)})
        if not self.closing:
            self._count_retry(result, flight.command)
        if result in self.RETRY_RESULTS:
            # Nothing was applied; the caller sends again on its next tick (state unchanged).
            self.busy_retries += 1
            return
        if flight.command in IDENTITY_QUERIES:
            self.last_answer = msg  # a read: a refusal changes no output, `identify` reports it
            return
        if result != self.RESULT_OK:
            raise SafetyTrip(f"stimulator refused {_name(flight.command)} with result {_result(result)}"
                             + self._refusal_meaning(flight.command, result))
        if flight.command == sm4.Cmd.ML_INIT:
            self.linked = True
        elif flight.command == sm4.Cmd.ML_UPDATE and flight.frame_currents is not None:
            self.acked_currents = flight.frame_currents
        elif flight.command == sm4.Cmd.ML_STOP:
            self.linked = False
            self.acked_currents = tuple(0 for _ in self.channel_numbers)
        elif isinstance(msg, sm4.CurrentDataAck) and not self.closing:
            self._check_current_data(msg)

    def _count_retry(self, result: int, command: int) -> None:
        """Busy and Transfer_Error in a row are bounded by the liveness limit; the fault says which
        of the two the device answered (the liveness text knows only "busy")."""
        retry = result in self.RETRY_RESULTS
        self.retry_results = (*self.retry_results, result) if retry else ()
        try:
            self.liveness.command_answered(retry)
        except SafetyTrip as exc:
            if int(sm4.Result.TRANSFER_ERROR) not in self.retry_results:
                raise
            what = " or ".join(w for r, w in ((sm4.Result.BUSY, "busy (21)"), (sm4.Result.TRANSFER_ERROR, "transfer error (1)"))
                               if int(r) in self.retry_results)
            raise SafetyTrip(f"stimulator answered {_name(command)} {what} {len(self.retry_results)} times in a row "
                             f"(limit {self.liveness.limits.max_busy_retries} retries)", t_s=exc.t_s) from exc

    def _check_current_data(self, msg: sm4.CurrentDataAck) -> None:
        """Any channel state but OK is a fault; so is a device that stopped while the host stimulates."""
        states = msg.channel_states
        for number in self.channel_numbers:
            state = states[number - 1] if number - 1 < len(states) else sm4.ChannelState.OK
            if state is not sm4.ChannelState.OK:
                raise SafetyTrip(f"stimulator reported {state.name.lower().replace('_', ' ')} on channel {number}")
        if msg.stimulating is False and any(self.acked_currents):
            raise SafetyTrip("stimulator stopped stimulating on its own (its current data says not running)")

    # -- sending ---------------------------------------------------------------------------
    def _send(self, frame: bytes, now_ns: int, awaiting: InFlight) -> Verdict:
        verdict = self.gate.send(frame, now_ns)
        if not verdict.sent:
            raise SafetyTrip(f"gate blocked {verdict.command}: {verdict.reason}")
        self.last_tx_ns = now_ns
        self.in_flight = awaiting
        self.liveness.command_sent(now_ns, _name(awaiting.command))
        return verdict

    def ready(self) -> bool:
        return self.linked and self.in_flight is None

    def initialise_channels(self, now_ns: int) -> None:
        pn = self.gate.next_packet_number()
        self._send(sm4.ml_init(pn), now_ns, InFlight(pn, sm4.Cmd.ML_INIT, now_ns))

    def set_currents(self, currents: tuple[int, ...], now_ns: int) -> Verdict:
        """Send one Ml_update with every configured channel; the caller checks `ready()` first."""
        channels = []
        for n, c in zip(self.channel_numbers, currents):
            pw = self.pulse_widths_us[n]
            channels.append(sm4.MlChannel(n - 1, self.period_ms, (sm4.Point(pw, c), sm4.Point(INTERPHASE_US, 0),
                                                                   sm4.Point(pw, -c))))
        pn = self.gate.next_packet_number()
        frame = sm4.ml_update(pn, channels, channel_count=self.channel_count)
        return self._send(frame, now_ns, InFlight(pn, sm4.Cmd.ML_UPDATE, now_ns, currents))

    def keepalive(self, now_ns: int) -> bool:
        """Ml_get_current_data when nothing else went out for a keep-alive period (it is answered)."""
        if self.linked and self.in_flight is None and now_ns - self.last_tx_ns >= self.timing.keepalive_ns:
            pn = self.gate.next_packet_number()
            self._send(sm4.ml_get_current_data(pn, self.selection), now_ns,
                       InFlight(pn, sm4.Cmd.ML_GET_CURRENT_DATA, now_ns))
            return True
        return False

    def connect(self, clock: Callable[[], int], sleep: Callable[[float], None]) -> None:
        """Ml_init and wait for its ack (the host opens a ScienceMode4 session; the device sends nothing first)."""
        start = clock()
        while True:
            now = clock()
            if now - start > self.timing.handshake_timeout_ns:
                raise DeviceInitError(f"stimulator handshake failed after {self.timing.handshake_timeout_ns / 1e9:.1f} s: "
                                      f"no Ml_init ack; {what_came(self._decoder, 'ScienceMode4', self.foreign)}")
            self.poll(now)
            check_ack(self.liveness, self._decoder, now, self.foreign)
            if not self.linked and self.in_flight is None:
                self.initialise_channels(now)
            if self.linked:
                self._on_record({"kind": "stim_link_up", "protocol": "sciencemode4"})
                return
            sleep(0.002)

    def identify(self, clock: Callable[[], int], sleep: Callable[[float], None]) -> dict[str, object]:
        """Version, device id and stimulation status (general commands), one at a time after Ml_init.

        Busy answers are sent again, bounded by the liveness busy limit like every command; a
        failing result is reported as that query's result."""
        info: dict[str, object] = {"protocol": "sciencemode4"}
        for command in IDENTITY_QUERIES:
            msg = self._query(command, clock, sleep)
            key = _name(command)
            if isinstance(msg, sm4.VersionAck) and msg.result == self.RESULT_OK:
                info["firmware_version"] = ".".join(map(str, msg.firmware))
                info["smpt_version"] = ".".join(map(str, msg.smpt))
            elif isinstance(msg, sm4.DeviceIdAck) and msg.result == self.RESULT_OK:
                info["device_id"] = msg.device_id
            elif isinstance(msg, sm4.StimStatusAck) and msg.result == self.RESULT_OK:
                info["stim_status"] = _enum_name(sm4.StimStatus, msg.stim_status)
                info["high_voltage"] = _enum_name(sm4.HighVoltage, msg.high_voltage)
            else:
                info[f"{key}_result"] = _result(int(getattr(msg, "result", -1)))
        return info

    def _query(self, command: sm4.Cmd, clock: Callable[[], int], sleep: Callable[[float], None]) -> sm4.Message:
        while True:
            self.last_answer = None
            pn = self.gate.next_packet_number()
            now = clock()
            self._send(sm4.encode_packet(pn, command), now, InFlight(pn, command, now))
            while self.in_flight is not None:
                sleep(0.001)
                now = clock()
                self.poll(now)
                check_ack(self.liveness, self._decoder, now)
            if self.last_answer is not None:
                return self.last_answer


def _name(command: int) -> str:
    try:
        return "".join(p.capitalize() for p in sm4.Cmd(command).name.split("_"))
    except ValueError:
        return f"cmd{command}"


def _enum_name(kind: type[IntEnum], value: int) -> str:
    try:
        return kind(value).name.lower()
    except ValueError:
        return f"unknown ({value})"


def _result(result: int) -> str:
    try:
        return f"{result} ({sm4.Result(result).name})"
    except ValueError:
        return str(result)
