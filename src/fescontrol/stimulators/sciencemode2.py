"""Stimulator backend of the RehaStim 2 (ScienceMode2): handshake, one command in flight, keep-alive.

Everything written goes through the safety gate; this class only decides *what* to send
and *when*, and reads the device's answers. Time is passed in as monotonic nanoseconds.
Time-outs and retry limits are judged by `safety.liveness`, which the link tells what it sent
and what came back. Every answer must match the one command in flight: an ack nobody
waits for, a second ack for the same command, or an ack for another command is a fault,
because the host could no longer know what the device delivers.
"""

from __future__ import annotations

import logging
from typing import Callable

from fescontrol.config.models import DeviceConfig
from fescontrol.errors import DeviceInitError, ProtocolError, SafetyTrip
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.safety.gate import SafetyGate, Verdict
from fescontrol.safety.hook_sciencemode2 import ScienceMode2Hook
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

__all__ = ["InFlight", "LinkTiming", "MAX_INIT_CROSSINGS", "StimulatorLink", "build", "emulator_args", "gate_hook"]

MAX_INIT_CROSSINGS = 2
"""Inits answered again between the first InitAck and the channel list's ack: one crossing is
the race of the handshake; more than this many means the device keeps resetting (a fault)."""


def gate_hook(limits: GateLimits) -> ScienceMode2Hook:
    return ScienceMode2Hook()


def build(gate: SafetyGate, liveness: Liveness, timing: LinkTiming, device: DeviceConfig, channels: ChannelPlan,
          on_record: Record) -> "StimulatorLink":
    group_ms = device.device.group_interval_ms
    assert group_ms is not None  # the config model demands it for ScienceMode2
    return StimulatorLink(gate, liveness, timing, channel_numbers=list(channels.numbers),
                          pulse_widths_us=channels.pulse_widths_us,
                          main_time_code=sm2.frequency_code_for_hz(channels.frequency_hz),
                          group_time_code=sm2.group_time_code(group_ms), on_record=on_record)


def emulator_args(device: DeviceConfig) -> list[str]:
    return ["stimulator"]


def delivered_frequency_hz(frequency_hz: float) -> float:
    """1000 / main interval: the device's 0.5 ms grid of `frequency_hz`."""
    return sm2.frequency_hz(sm2.frequency_code_for_hz(frequency_hz))


class StimulatorLink(GateStopping):
    """One RehaStim 2: Init/InitAck, InitChannelListMode, updates, Stop; acks matched by (pn, cmd)."""

    STOP_COMMAND = int(sm2.Cmd.STOP_CHANNEL_LIST_MODE)
    STOP_ACK = int(sm2.Cmd.STOP_CHANNEL_LIST_MODE_ACK)
    STOP_NAME = "StopChannelListMode"
    RESULT_OK = int(sm2.Result.OK)
    RETRY_RESULTS = frozenset({int(sm2.Result.BUSY)})

    def __init__(self, gate: SafetyGate, liveness: Liveness, timing: LinkTiming,
                 channel_numbers: list[int], pulse_widths_us: dict[int, int],
                 main_time_code: int, group_time_code: int,
                 on_record: Callable[[dict[str, object]], None] | None = None) -> None:
        self.gate = gate
        self.liveness = liveness
        self.timing = timing
        self.channel_numbers = sorted(channel_numbers)
        self.pulse_widths_us = pulse_widths_us
        self.main_time_code = main_time_code
        self.group_time_code = group_time_code
        self._on_record = on_record or (lambda rec: None)
        self._decoder = sm2.Decoder()
        self.foreign = ForeignPackets(sm4.Decoder(), "ScienceMode4", "rehamove3 or p24")
        """Until the link is up: a device of the other protocol is named (`base.ForeignPackets`)."""
        self.linked = False
        self.initialised = False
        self.in_flight: InFlight | None = None
        self.last_tx_ns = 0
        self.acked_currents: tuple[int, ...] = tuple(0 for _ in self.channel_numbers)
        self.link_losses = 0
        self.busy_retries = 0
        self.last_ack_result: int | None = None
        self.closing = False
        """Set by the teardown: answers that no longer match are recorded, not raised."""
        self.late_answers: list[tuple[int, int, int]] = []
        """(ack command, packet number, result) of answers that matched nothing while closing."""
        self.last_answer: sm2.Ack | None = None
        """The ack of the last read-only query (GetStimulationMode), for `identify`."""
        self._connect_polls = 0
        """Polls made by `connect` so far: an Init found by the first one was waiting in the buffer."""
        self.init_crossings = 0
        """Inits answered after the link was up but before the channel list was (InitAck crossings)."""

    @property
    def delivered_frequency_hz(self) -> float:
        """1000 / main interval: the device's 0.5 ms grid of the profile's frequency."""
        return sm2.frequency_hz(self.main_time_code)

    @property
    def rx_decoder(self) -> sm2.Decoder:
        """The decoder of what the device sends (its counters of bad frames and discarded bytes)."""
        return self._decoder

    @property
    def active_mask(self) -> int:
        mask = 0
        for n in self.channel_numbers:
            mask |= 1 << (n - 1)
        return mask

    # -- receiving -------------------------------------------------------------------------
    def poll(self, now_ns: int) -> None:
        """Read what the device sent and act on all of it; then raise the first device fault."""
        data = self.gate.read_available()
        first: SafetyTrip | None = None
        items = self._decoder.feed(data) if data else []
        if data and not self.linked:
            self.foreign.feed(data)
        skipped = 0
        if not self.linked and not self.closing:
            # Inits buffered while the host was busy (the port opens before the start-up work):
            # answer only the newest; the device takes an InitAck for its latest Inits only
            inits = [i for i, item in enumerate(items) if isinstance(item, sm2.Packet) and item.command == sm2.Cmd.INIT]
            skipped = max(0, len(inits) - 1)
            items = [item for i, item in enumerate(items) if i not in inits[:-1]]
        for item in items:
            try:
                self._handle(item, now_ns, skipped)
            except SafetyTrip as exc:
                first = first or exc
        if first is not None:
            raise first

    def _handle(self, item: sm2.Packet | sm2.BadFrame, now_ns: int, inits_skipped: int = 0) -> None:
        if isinstance(item, sm2.BadFrame):
            self._on_record({"kind": "stim_rx_bad_frame", "reason": item.reason, "hex": item.raw.hex(" ")})
            return
        try:
            msg = sm2.parse(item)
        except ProtocolError as exc:
            # a packet with a valid checksum that is not what the device may send: the host can
            # no longer tell what the device is doing
            raise SafetyTrip(f"stimulator sent a malformed packet: {exc}") from exc
        if isinstance(msg, sm2.Init):
            if self.linked and not self.initialised and self.init_crossings < MAX_INIT_CROSSINGS:
                # Our InitAck and the device's next Init crossed on the wire (it repeats Init every
                # 500 ms until an InitAck reaches it): nothing is set up yet and nothing stimulates,
                # so this Init is answered too, and the command in flight stays awaited. A device
                # that keeps sending Init is still a fault (the bound).
                self.init_crossings += 1
                self._send(sm2.init_ack(msg.packet_number, 0), now_ns)
                self._on_record({"kind": "stim_init_crossed", "device_packet_number": msg.packet_number})
                return
            self.initialised = False
            self.in_flight = None
            self.gate.forget_device_state(now_ns)
            if self.linked:
                # The device dropped every mode (watchdog expiry or reset): output is off, and
                # the host can no longer vouch for the session: a fault, never a silent re-init.
                self.linked = False
                self.link_losses += 1
                self._on_record({"kind": "stim_link_lost", "reason": "device sent Init again"})
                raise SafetyTrip("stimulator reset itself (it sent Init mid-session; its output is off)")
            if self.closing:
                return
            self._send(sm2.init_ack(msg.packet_number, 0), now_ns)
            self.linked = True
            self._on_record({"kind": "stim_link_up", "device_packet_number": msg.packet_number,
                             "init_buffered": self._connect_polls == 1, "inits_skipped": inits_skipped})
            return
        if isinstance(msg, sm2.StimulationError):
            reasons = {-1: "emergency switch activated or not connected", -2: "electrode error",
                       -3: "stimulation module error"}
            raise SafetyTrip(f"stimulator reported {reasons.get(msg.error, f'error {msg.error}')}")
        if isinstance(msg, sm2.UnknownCommand):
            raise SafetyTrip(f"stimulator did not know command {msg.received_command}")
        if isinstance(msg, sm2.Ack):
            self._handle_ack(msg, now_ns)

    def _handle_ack(self, ack: "sm2.Ack", now_ns: int) -> None:
        flight = self.in_flight
        if flight is None or ack.packet_number != flight.packet_number or \
                sm2.ACK_OF.get(sm2.Cmd(flight.command)) != sm2.Cmd(ack.command):
            self._on_record({"kind": "stim_unexpected_ack", "command": _name(ack.command),
                             "packet_number": ack.packet_number, "result": ack.result})
            if self.closing:
                self.late_answers.append((ack.command, ack.packet_number, ack.result))
                return
            waiting = "nothing" if flight is None else f"{_name(flight.command)} #{flight.packet_number}"
            raise SafetyTrip(f"stimulator sent an ack for {_name(ack.command)} #{ack.packet_number} "
                             f"(result {ack.result}) while waiting for {waiting}")
        self.in_flight = None
        self.last_ack_result = ack.result
        self._on_record({"kind": "stim_ack", "command": _name(ack.command), "result": ack.result,
                         "latency_ms": round((now_ns - flight.sent_ns) / 1e6, 3)})
        if not self.closing:
            self.liveness.command_answered(ack.result == sm2.Result.BUSY)
        if ack.result == sm2.Result.BUSY:
            # Nothing was done; the caller sends again on its next tick (state unchanged).
            self.busy_retries += 1
            return
        if flight.command == sm2.Cmd.GET_STIMULATION_MODE:
            self.last_answer = ack  # a read: a refusal changes no output, `identify` reports it
            return
        if ack.result != sm2.Result.OK:
            raise SafetyTrip(f"stimulator refused {_name(flight.command)} with result {ack.result}")
        if flight.command == sm2.Cmd.INIT_CHANNEL_LIST_MODE:
            self.initialised = True
        elif flight.command == sm2.Cmd.START_CHANNEL_LIST_MODE and flight.frame_currents is not None:
            self.acked_currents = flight.frame_currents
        elif flight.command == sm2.Cmd.STOP_CHANNEL_LIST_MODE:
            self.initialised = False
            self.acked_currents = tuple(0 for _ in self.channel_numbers)

    # -- sending ---------------------------------------------------------------------------
    def _send(self, frame: bytes, now_ns: int, *, awaiting: InFlight | None = None) -> Verdict:
        """Send through the gate; `awaiting` (packet number and command of `frame`) marks it in flight."""
        verdict = self.gate.send(frame, now_ns)
        if not verdict.sent:
            raise SafetyTrip(f"gate blocked {verdict.command}: {verdict.reason}")
        self.last_tx_ns = now_ns
        if awaiting is not None:
            self.in_flight = awaiting
            self.liveness.command_sent(now_ns, _name(awaiting.command))
        return verdict

    def ready(self) -> bool:
        return self.linked and self.in_flight is None

    def initialise_channels(self, now_ns: int) -> None:
        pn = self.gate.next_packet_number()
        frame = sm2.init_channel_list_mode(
            pn, active_channels=self.active_mask, group_time_code=self.group_time_code,
            main_time_code=self.main_time_code)
        self._send(frame, now_ns, awaiting=InFlight(pn, sm2.Cmd.INIT_CHANNEL_LIST_MODE, now_ns))

    def set_currents(self, currents: tuple[int, ...], now_ns: int) -> Verdict:
        """Send one StartChannelListMode (start or update); the caller checks `ready()` first."""
        settings = [sm2.ChannelSetting(0, self.pulse_widths_us[n], c)
                    for n, c in zip(self.channel_numbers, currents)]
        pn = self.gate.next_packet_number()
        frame = sm2.start_channel_list_mode(pn, settings)
        return self._send(frame, now_ns,
                          awaiting=InFlight(pn, sm2.Cmd.START_CHANNEL_LIST_MODE, now_ns, currents))

    def keepalive(self, now_ns: int) -> bool:
        """Send Watchdog when nothing else went out for a keep-alive period (no ack is defined)."""
        if self.linked and self.in_flight is None and now_ns - self.last_tx_ns >= self.timing.keepalive_ns:
            self._send(sm2.watchdog(self.gate.next_packet_number()), now_ns)
            return True
        return False

    def connect(self, clock: Callable[[], int], sleep: Callable[[float], None]) -> None:
        """Wait for the device's Init, answer it, and set up the channel list."""
        start = clock()
        self._connect_polls = 0
        while True:
            now = clock()
            if now - start > self.timing.handshake_timeout_ns:
                state = "no Init from the device" if not self.linked else "no InitChannelListMode ack"
                raise DeviceInitError(
                    f"stimulator handshake failed after {self.timing.handshake_timeout_ns / 1e9:.1f} s: {state}; "
                    f"{what_came(self._decoder, 'ScienceMode2', self.foreign)}")
            self._connect_polls += 1
            self.poll(now)
            check_ack(self.liveness, self._decoder, now, self.foreign)
            if self.linked and not self.initialised and self.in_flight is None:
                self.initialise_channels(now)
            if self.initialised:
                return
            sleep(0.002)

    def identify(self, clock: Callable[[], int], sleep: Callable[[float], None]) -> dict[str, object]:
        """GetStimulationMode (ScienceMode2 has no version or id query): 'initialised' after `connect`.

        Busy answers are sent again, bounded by the liveness busy limit like every command."""
        while True:
            self.last_answer = None
            pn = self.gate.next_packet_number()
            now = clock()
            self._send(sm2.get_stimulation_mode(pn), now, awaiting=InFlight(pn, sm2.Cmd.GET_STIMULATION_MODE, now))
            while self.in_flight is not None:
                sleep(0.001)
                now = clock()
                self.poll(now)
                check_ack(self.liveness, self._decoder, now)
            answer = self.last_answer
            if answer is not None:
                mode = answer.mode
                return {"protocol": "sciencemode2",
                        "stimulation_mode": mode.name.lower() if mode is not None else None, "result": answer.result}


def _name(command: int) -> str:
    try:
        return "".join(p.capitalize() for p in sm2.Cmd(command).name.split("_"))
    except ValueError:
        return f"cmd{command}"
