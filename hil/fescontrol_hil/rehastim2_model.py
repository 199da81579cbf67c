"""RehaStim 2 device behaviour, sans-I/O: bytes and times in, frames and output changes out.

The emulator process (``stimulator.py``) only moves bytes and reads the clock; every rule of
the device lives here so it can be tested with a fake clock. Behaviour follows
stimulators.md A.2 (error table), A.4 and A.5. Where the reference marks firmware
behaviour UNVERIFIED, this model picks one reading and says so:

- Commands are processed one at a time. A command is answered ``ack_delay_ns`` after it
  arrived, and its effect (mode change, outputs) happens at that moment. A second command
  arriving meanwhile gets an immediate ack with -8 and is otherwise ignored.
- Replies that need no processing go out at once and do not make the device busy: -8,
  -1 for a frame with a bad length/checksum whose command could be recovered, and
  ``UnknownCommand``. Truncated or headerless spans are dropped silently.
- Before the handshake every command with an ack is answered -3 (wrong mode), including
  GetStimulationMode; Watchdog is ignored. Valid packets feed the watchdog only while
  the link is up; InitAck is accepted for the last two Init packet numbers sent.
- ``Watchdog`` and ``InitAck`` get no ack and are never busy-checked.
- InitChannelListMode: -2 unless 1..8 channels active, low-frequency factor 0..7, group
  code >= 13, main code 0 (one-shot) or 14..2048, execution 0; -3 unless in start mode.
- StartChannelListMode: -3 unless initialised or started; -2 for a block count that does
  not match the mask, mode > 2, pulse width not 0 or 20..500 us, current > 126 mA, or
  t1 < n * t2 for the largest group mode n in use (S1 Table 2).
- StopChannelListMode is accepted in every mode after the handshake. SinglePulse only in
  start mode (else -3), channel 0..7 and the same pw/current ranges (else -2).
- Outputs: frequency = 1000 / t1, divided by (factor + 1) on low-frequency channels.
  A channel that is off is (0 mA, 0 us, 0 Hz). A single pulse, or a list run in one-shot
  mode, is recorded as the pulse at frequency 0 followed at the same instant by "off".
  Values are recorded as commanded: a channel sent 0 mA at 300 us is (0, 300, f), not off.
- Watchdog expiry: outputs off at the expiry instant, modes reset, link lost, a command
  still being processed is dropped unanswered, Init resumes at once and every 500 ms.
- Device-originated packets (Init, StimulationError) share one 8-bit counter.

Fault injection (``FaultPlan``, all off by default; each fault is logged once as a warning
and recorded as a ``FaultRecord``, also per affected command where it says so):

- ``busy_from_ns``: from then on every StartChannelListMode is answered -8 at once and
  not applied (it still feeds the watchdog); other commands, Stop included, work.
- ``ack_then_busy_from_ns``: from then on every command with an ack is acked 0 at once
  (GetStimulationMode with the current mode) and not applied, and ``ack_delay_ns`` later
  acked again, same packet number and command, with -8. Stop is not applied either: the
  output holds until the watchdog (still fed) or a stimulation error stops it.
- ``silent_from_ns``: the tx line is cut; the device receives, applies and runs its
  watchdog as before; frames it would have sent are recorded with direction
  ``tx_suppressed``.
- ``emergency_switch_at_ns`` / ``electrode_error_at_ns`` / ``module_error_at_ns``: outputs
  off at that instant, StimulationError -1 / -2 / -3, back to start mode (the link stays up).
- ``reset_at_ns``: outputs off, modes, link and the device's packet counter reset, a
  command in processing and queued second acks dropped; Init at once (pn 0) and every
  500 ms until answered, as after power-up.

Published hosts (``lenient``, off by default; stimulators.md C.2): a strict model is the
device as documented. A lenient one also accepts the quirks of pysciencemode 1.1.5 named in
``sciencemode2.QUIRKS``: the command byte XORed without escape, an InitAck whose packet
number is pysciencemode's garbled echo of a recent Init's, gaps between valid packets up to
``lenient_watchdog_ns`` (2 s) instead of 1.2 s, and an inter-pulse interval code below 13
(clamped to 13, as the S7 driver does). Over-escaped data bytes are accepted in both modes
(the receiver procedure unstuffs any byte after 81). Every quirk seen is a ``QuirkRecord``:
``accepted`` True when taken, False when the strict model refused it (a hint that
``--lenient`` would take it); the first of each name is also a log warning.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from fescontrol.errors import ProtocolError
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.sciencemode2 import BadFrame, Cmd, Packet, Result, StimMode

log = logging.getLogger(__name__)

CHANNELS = tuple(range(1, sm2.MAX_CHANNELS + 1))
OFF: tuple[int, int, float] = (0, 0, 0.0)
MIN_GROUP_CODE = 13  # 8 ms firmware minimum
MIN_MAIN_CODE = 14   # 8 ms firmware minimum
MAX_CURRENT_MA = 126
PW_RANGE_US = (20, 500)

ANSWERED = frozenset(k for k in sm2.ACK_OF if k is not Cmd.INIT)
"""Host commands the device answers with an ack."""


@dataclass(frozen=True)
class OutputChange:
    """A channel's delivered output changed at ``t_ns`` (device clock)."""

    t_ns: int
    channel: int
    current_ma: int
    pulse_width_us: int
    frequency_hz: float


@dataclass(frozen=True)
class PacketRecord:
    """One frame in (``rx``) or out (``tx``) with its exact bytes, for the device log."""

    t_ns: int
    direction: str
    raw: bytes
    item: Packet | BadFrame


@dataclass(frozen=True)
class FaultRecord:
    """An injected fault took effect at ``t_ns`` (device clock), for the device log."""

    t_ns: int
    fault: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuirkRecord:
    """A published host's quirk (``sciencemode2.QUIRKS``) seen at ``t_ns``: taken or refused."""

    t_ns: int
    quirk: str
    accepted: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultPlan:
    """When (device clock, ns) each injectable device fault starts; ``None`` = never."""

    busy_from_ns: int | None = None
    ack_then_busy_from_ns: int | None = None
    silent_from_ns: int | None = None
    emergency_switch_at_ns: int | None = None
    electrode_error_at_ns: int | None = None
    reset_at_ns: int | None = None
    module_error_at_ns: int | None = None

    def schedule(self) -> list[tuple[int, str]]:
        """(time, fault name) in time order; equal times keep the field order above."""
        named = (("busy", self.busy_from_ns), ("ack_then_busy", self.ack_then_busy_from_ns),
                 ("silent", self.silent_from_ns), ("emergency_switch", self.emergency_switch_at_ns),
                 ("electrode_error", self.electrode_error_at_ns), ("reset", self.reset_at_ns),
                 ("module_error", self.module_error_at_ns))
        return sorted(((t, name) for name, t in named if t is not None), key=lambda e: e[0])


Record = PacketRecord | FaultRecord | QuirkRecord


class RehaStim2Model:
    """A RehaStim 2 in ScienceMode2, driven by explicit times (ns, any monotonic origin)."""

    def __init__(self, ack_delay_ns: int = 10_000_000, watchdog_ns: int = 1_200_000_000,
                 init_period_ns: int = 500_000_000, faults: FaultPlan | None = None, *,
                 lenient: bool = False, lenient_watchdog_ns: int = 2_000_000_000,
                 first_packet_number: int = 0) -> None:
        if not 0 <= first_packet_number <= 255:
            raise ValueError(f"first_packet_number = {first_packet_number} is outside 0..255")
        self.ack_delay_ns = ack_delay_ns
        self.watchdog_ns = watchdog_ns
        self.init_period_ns = init_period_ns
        self.lenient = lenient
        self.lenient_watchdog_ns = max(lenient_watchdog_ns, watchdog_ns)
        self.decoder = sm2.Decoder(lenient=lenient)
        self._outbox: list[bytes] = []
        self._changes: list[OutputChange] = []
        self._records: list[Record] = []
        self._quirks_logged: set[tuple[str, bool]] = set()
        self._own_pn = first_packet_number
        self._recent_init_pns: deque[int] = deque(maxlen=2)
        self._powered = False
        self._now_ns: int | None = None
        self._linked = False
        self._mode = StimMode.START
        self._config: sm2.InitChannelListMode | None = None
        self._next_init_ns: int | None = None
        self._last_valid_ns: int | None = None
        self._pending: tuple[int, Packet] | None = None
        self._outputs: dict[int, tuple[int, int, float]] = {ch: OFF for ch in CHANNELS}
        self._fault_schedule: deque[tuple[int, str]] = deque((faults or FaultPlan()).schedule())
        self._busy_fault = False
        self._ack_then_busy = False
        self._tx_cut = False
        self._second_acks: deque[tuple[int, bytes]] = deque()
        self._handlers: dict[int, Callable[[Packet, int], int]] = {
            Cmd.GET_STIMULATION_MODE: self._do_get_mode,
            Cmd.INIT_CHANNEL_LIST_MODE: self._do_init_list,
            Cmd.START_CHANNEL_LIST_MODE: self._do_start_list,
            Cmd.STOP_CHANNEL_LIST_MODE: self._do_stop_list,
            Cmd.SINGLE_PULSE: self._do_single_pulse,
        }

    # ------------------------------------------------------------------ public API

    @property
    def linked(self) -> bool:
        """True between an accepted InitAck and the next watchdog expiry."""
        return self._linked

    @property
    def mode(self) -> StimMode:
        return self._mode

    @property
    def tx_cut(self) -> bool:
        """True once the device's tx line is cut (``silent`` or ``cut_tx``): nothing is sent."""
        return self._tx_cut

    @property
    def outputs(self) -> dict[int, tuple[int, int, float]]:
        """Current (mA, us, Hz) per channel 1..8."""
        return dict(self._outputs)

    def receive(self, data: bytes, now_ns: int) -> None:
        """Bytes from the host arrived at ``now_ns``."""
        self._advance(now_ns)
        for raw, item in self.decoder.feed_with_raw(data):
            self._records.append(PacketRecord(now_ns, "rx", raw, item))
            if isinstance(item, Packet):
                for name in item.quirks:
                    self._quirk(now_ns, name, True, packet_number=item.packet_number, command=item.command)
            if isinstance(item, BadFrame):
                self._on_bad_frame(item, now_ns)
            else:
                self._on_packet(item, now_ns)

    def poll(self, now_ns: int) -> list[bytes]:
        """Run everything due up to ``now_ns``; return the frames to send now, in order."""
        self._advance(now_ns)
        out, self._outbox = self._outbox, []
        return out

    def next_deadline_ns(self) -> int | None:
        """When ``poll`` next has something to do; ``None`` before the first call."""
        times = [t for t in self._due_times() if t is not None]
        if self._outbox and self._now_ns is not None:
            times.append(self._now_ns)  # immediate replies wait for the next poll
        return min(times) if times else None

    def pop_output_changes(self) -> list[OutputChange]:
        out, self._changes = self._changes, []
        return out

    def pop_records(self) -> list[Record]:
        """Packets in and out and injected faults, in the order they happened."""
        out, self._records = self._records, []
        return out

    def pop_packet_records(self) -> list[PacketRecord]:
        """Like ``pop_records`` without the fault and quirk records (which are discarded)."""
        return [r for r in self.pop_records() if isinstance(r, PacketRecord)]

    def inject_stimulation_error(self, now_ns: int, error: int = -2) -> None:
        """Fault injection: the device reports ``error`` (-1 e-stop, -2 electrode, -3 module).

        Stimulation stops and the device returns to start mode (the host must re-init).
        """
        self._advance(now_ns)
        self._stimulation_error(now_ns, error)

    def record_fault(self, now_ns: int, fault: str, *, warn: bool = True, **detail: Any) -> None:
        """Record a fault the emulator process injects (line noise, unplug) in the device log."""
        self._advance(now_ns)
        self._fault(now_ns, fault, warn=warn, **detail)

    def cut_tx(self, now_ns: int) -> None:
        """From ``now_ns`` on nothing is sent (frames are recorded as ``tx_suppressed``)."""
        self._advance(now_ns)
        self._tx_cut = True

    def power_off(self, now_ns: int) -> None:
        """Emulator shutdown: every output to 0 (recorded), nothing more is sent."""
        self._advance(now_ns)
        self._all_off(now_ns)

    # ------------------------------------------------------------------ timing

    def _pending_due(self) -> int | None:
        return self._pending[0] if self._pending is not None else None

    def _watchdog_due(self) -> int | None:
        if self._linked and self._last_valid_ns is not None:
            return self._last_valid_ns + (self.lenient_watchdog_ns if self.lenient else self.watchdog_ns)
        return None

    def _init_due(self) -> int | None:
        return None if self._linked else self._next_init_ns

    def _fault_due(self) -> int | None:
        return self._fault_schedule[0][0] if self._fault_schedule else None

    def _second_ack_due(self) -> int | None:
        return self._second_acks[0][0] if self._second_acks else None

    def _due_times(self) -> tuple[int | None, ...]:
        """Timed events by rank: equal times run in this order."""
        return (self._pending_due(), self._watchdog_due(), self._init_due(), self._fault_due(),
                self._second_ack_due())

    def _advance(self, now_ns: int) -> None:
        """Handle every timed event due at or before ``now_ns``, oldest first, at its own time."""
        self._now_ns = now_ns
        if not self._powered:
            self._powered = True
            self._next_init_ns = now_ns
        while True:
            events = [(t, rank) for rank, t in enumerate(self._due_times()) if t is not None]
            if not events:
                return
            t, rank = min(events)
            if t > now_ns:
                return
            if rank == 0:
                self._process_pending(t)
            elif rank == 1:
                self._expire_watchdog(t)
            elif rank == 2:
                self._send_init(t)
            elif rank == 3:
                self._start_fault(t, self._fault_schedule.popleft()[1])
            else:
                self._send(t, self._second_acks.popleft()[1])

    def _send_init(self, t_ns: int) -> None:
        self._recent_init_pns.append(self._own_pn)
        self._send_own(t_ns, sm2.init)
        self._next_init_ns = t_ns + self.init_period_ns

    def _expire_watchdog(self, t_ns: int) -> None:
        log.warning("no valid packet for %d ms: stimulation stopped, link lost",
                    self.watchdog_ns // 1_000_000)
        self._restart(t_ns)

    def _restart(self, t_ns: int) -> None:
        """Outputs off, modes reset, link lost, work in progress dropped, Init at once."""
        self._linked = False
        self._pending = None
        self._second_acks.clear()
        self._all_off(t_ns)
        self._mode = StimMode.START
        self._config = None
        self._recent_init_pns.clear()
        self._next_init_ns = t_ns

    # ------------------------------------------------------------------ injected faults

    def _start_fault(self, t_ns: int, name: str) -> None:
        if name == "busy":
            self._busy_fault = True
            self._fault(t_ns, name, effect="active")
        elif name == "ack_then_busy":
            self._ack_then_busy = True
            self._fault(t_ns, name, effect="active")
        elif name == "silent":
            self._fault(t_ns, name, effect="active")
            self._tx_cut = True
        elif name == "emergency_switch":
            self._stimulation_error(t_ns, -1)
        elif name == "electrode_error":
            self._stimulation_error(t_ns, -2)
        elif name == "module_error":
            self._stimulation_error(t_ns, -3)
        elif name == "reset":
            self._fault(t_ns, name, effect="outputs_off")
            self._restart(t_ns)
            self._own_pn = 0
        else:  # pragma: no cover - FaultPlan.schedule only yields the names above
            raise AssertionError(name)

    def _stimulation_error(self, t_ns: int, error: int) -> None:
        name = {-1: "emergency_switch", -2: "electrode_error", -3: "module_error"}.get(error, "stimulation_error")
        self._fault(t_ns, name, effect="outputs_off", error=error)
        self._send_own(t_ns, lambda pn: sm2.stimulation_error(pn, error))
        self._all_off(t_ns)
        if self._linked:
            self._mode = StimMode.START
            self._config = None

    def _fault(self, t_ns: int, name: str, *, warn: bool = True, **detail: Any) -> None:
        """Record a fault (and warn: once per fault, not once per command it affects)."""
        if warn:
            log.warning("fault injected: %s %s", name, " ".join(f"{k}={v}" for k, v in detail.items()))
        self._records.append(FaultRecord(t_ns, name, detail))

    def _quirk(self, t_ns: int, name: str, accepted: bool, **detail: Any) -> None:
        """Record a host quirk; warn on the first of each name and outcome."""
        if (name, accepted) not in self._quirks_logged:
            self._quirks_logged.add((name, accepted))
            if accepted:
                log.warning("accepted pysciencemode quirk %s: %s", name, sm2.QUIRKS[name])
            else:
                log.warning("refused host quirk %s (--lenient accepts it): %s", name, sm2.QUIRKS[name])
        self._records.append(QuirkRecord(t_ns, name, accepted, detail))

    # ------------------------------------------------------------------ receiving

    def _on_bad_frame(self, bad: BadFrame, now_ns: int) -> None:
        if bad.command in ANSWERED and bad.packet_number is not None:
            self._send(now_ns, sm2.ack(bad.packet_number, sm2.ACK_OF[Cmd(bad.command)],
                                       Result.TRANSFER_ERROR))
        else:
            log.info("dropped bad frame: %s", bad.reason)

    def _on_packet(self, packet: Packet, now_ns: int) -> None:
        if self._linked:
            if self._last_valid_ns is not None and now_ns - self._last_valid_ns > self.watchdog_ns:
                self._quirk(now_ns, sm2.QUIRK_KEEPALIVE_GAP, True, gap_ms=round((now_ns - self._last_valid_ns) / 1e6, 3))
            self._last_valid_ns = now_ns
        cmd = packet.command
        if cmd == Cmd.WATCHDOG:
            return
        if cmd == Cmd.INIT_ACK:
            self._on_init_ack(packet, now_ns)
            return
        if cmd not in ANSWERED:
            if cmd in sm2.PYSCIENCEMODE_XORED_COMMANDS:
                self._quirk(now_ns, sm2.QUIRK_XOR_COMMAND, False, packet_number=packet.packet_number, command=cmd,
                            meant=Cmd(sm2.PYSCIENCEMODE_XORED_COMMANDS[cmd]).name)
            self._send(now_ns, sm2.unknown_command(packet.packet_number, cmd))
            return
        pn = packet.packet_number
        if self._busy_fault and cmd == Cmd.START_CHANNEL_LIST_MODE:
            self._fault(now_ns, "busy", warn=False, effect="refused", packet_number=pn, command=Cmd(cmd).name)
            self._send(now_ns, sm2.ack(pn, Cmd.START_CHANNEL_LIST_MODE_ACK, Result.BUSY))
            return
        if self._ack_then_busy:
            self._fault(now_ns, "ack_then_busy", warn=False, effect="acked_not_applied", packet_number=pn,
                        command=Cmd(cmd).name)
            if cmd == Cmd.GET_STIMULATION_MODE:
                self._send(now_ns, sm2.get_stimulation_mode_ack(pn, Result.OK, self._mode))
            else:
                self._send(now_ns, sm2.ack(pn, sm2.ACK_OF[Cmd(cmd)], Result.OK))
            self._second_acks.append((now_ns + self.ack_delay_ns, sm2.ack(pn, sm2.ACK_OF[Cmd(cmd)], Result.BUSY)))
            return
        if self._pending is not None:
            self._send(now_ns, sm2.ack(packet.packet_number, sm2.ACK_OF[Cmd(cmd)], Result.BUSY))
            return
        self._pending = (now_ns + self.ack_delay_ns, packet)

    def _on_init_ack(self, packet: Packet, now_ns: int) -> None:
        try:
            message = sm2.parse(packet)
        except ProtocolError as exc:
            log.info("ignored InitAck: %s", exc)
            return
        assert isinstance(message, sm2.InitAck)
        if self._linked:
            return
        pn = message.packet_number
        if message.result == Result.OK and pn not in self._recent_init_pns:
            garbled = [p for p in self._recent_init_pns if sm2.pysciencemode_init_ack_pn(p) == pn]
            if garbled:
                self._quirk(now_ns, sm2.QUIRK_XOR_PACKET_NUMBER, self.lenient, packet_number=pn, init_packet_number=garbled[-1])
                if self.lenient:
                    pn = garbled[-1]
        if message.result != Result.OK or pn not in self._recent_init_pns:
            log.info("InitAck pn %d result %d not accepted", message.packet_number, message.result)
            return
        self._linked = True
        self._last_valid_ns = now_ns
        self._mode = StimMode.START
        self._config = None
        self._recent_init_pns.clear()

    # ------------------------------------------------------------------ processing
    # (each handler checks the mode first: a wrong mode answers -3 before a bad parameter -2)

    def _process_pending(self, t_ns: int) -> None:
        assert self._pending is not None
        _due, packet = self._pending
        self._pending = None
        cmd = Cmd(packet.command)
        result = self._handlers[cmd](packet, t_ns) if self._linked else Result.WRONG_MODE
        if cmd is Cmd.GET_STIMULATION_MODE and result == Result.OK:
            frame = sm2.get_stimulation_mode_ack(packet.packet_number, 0, self._mode)
        else:
            frame = sm2.ack(packet.packet_number, sm2.ACK_OF[cmd], result)
        self._send(t_ns, frame)

    def _do_get_mode(self, packet: Packet, t_ns: int) -> int:
        if _parsed(packet) is None:
            return Result.PARAMETER_ERROR
        return Result.OK

    def _do_init_list(self, packet: Packet, t_ns: int) -> int:
        if self._mode is not StimMode.START:
            return Result.WRONG_MODE
        msg = _parsed(packet)
        if msg is None:
            return Result.PARAMETER_ERROR
        assert isinstance(msg, sm2.InitChannelListMode)
        if msg.group_time_code < MIN_GROUP_CODE:
            self._quirk(t_ns, sm2.QUIRK_SHORT_GROUP_TIME, self.lenient, packet_number=msg.packet_number,
                        group_time_code=msg.group_time_code, group_interval_ms=msg.group_interval_ms)
            if self.lenient:
                msg = dataclasses.replace(msg, group_time_code=MIN_GROUP_CODE)
        ok = (msg.active_channels != 0 and msg.low_frequency_factor <= 7
              and msg.group_time_code >= MIN_GROUP_CODE
              and (msg.main_time_code == 0 or MIN_MAIN_CODE <= msg.main_time_code <= sm2.MAIN_TIME_CODE_MAX)
              and msg.channel_execution == 0)
        if not ok:
            return Result.PARAMETER_ERROR
        self._config = msg
        self._mode = StimMode.INITIALISED
        return Result.OK

    def _do_start_list(self, packet: Packet, t_ns: int) -> int:
        if self._mode not in (StimMode.INITIALISED, StimMode.STARTED) or self._config is None:
            return Result.WRONG_MODE
        config = self._config
        msg = _parsed(packet, config.active_channels)
        if msg is None:
            return Result.PARAMETER_ERROR
        assert isinstance(msg, sm2.StartChannelListMode)
        if not all(s.mode <= 2 and _pulse_ok(s.pulse_width_us, s.current_ma) for s in msg.settings):
            return Result.PARAMETER_ERROR
        group_pulses = max(s.mode for s in msg.settings) + 1
        if config.main_time_code and config.main_interval_ms < group_pulses * config.group_interval_ms:
            return Result.PARAMETER_ERROR
        self._mode = StimMode.STARTED
        low = set(config.low_frequency_channel_numbers)
        one_shot = config.main_time_code == 0
        for channel, s in zip(config.channel_numbers, msg.settings):
            hz = config.frequency_hz
            if channel in low:
                hz /= config.low_frequency_factor + 1
            self._set_output(t_ns, channel, (s.current_ma, s.pulse_width_us, round(hz, 4)))
        if one_shot:
            self._all_off(t_ns)
        return Result.OK

    def _do_stop_list(self, packet: Packet, t_ns: int) -> int:
        if _parsed(packet) is None:
            return Result.PARAMETER_ERROR
        self._all_off(t_ns)
        self._mode = StimMode.START
        self._config = None
        return Result.OK

    def _do_single_pulse(self, packet: Packet, t_ns: int) -> int:
        if self._mode is not StimMode.START:
            return Result.WRONG_MODE
        msg = _parsed(packet)
        if msg is None:
            return Result.PARAMETER_ERROR
        assert isinstance(msg, sm2.SinglePulse)
        if msg.channel_index >= sm2.MAX_CHANNELS or not _pulse_ok(msg.pulse_width_us, msg.current_ma):
            return Result.PARAMETER_ERROR
        channel = msg.channel_index + 1
        self._set_output(t_ns, channel, (msg.current_ma, msg.pulse_width_us, 0.0))
        self._set_output(t_ns, channel, OFF)
        return Result.OK

    # ------------------------------------------------------------------ outputs and sending

    def _set_output(self, t_ns: int, channel: int, value: tuple[int, int, float]) -> None:
        if self._outputs[channel] != value:
            self._outputs[channel] = value
            self._changes.append(OutputChange(t_ns, channel, *value))

    def _all_off(self, t_ns: int) -> None:
        for channel in CHANNELS:
            self._set_output(t_ns, channel, OFF)

    def _send(self, t_ns: int, frame: bytes) -> None:
        if self._tx_cut:
            self._records.append(PacketRecord(t_ns, "tx_suppressed", frame, sm2.decode_frame(frame)))
            return
        self._outbox.append(frame)
        self._records.append(PacketRecord(t_ns, "tx", frame, sm2.decode_frame(frame)))

    def _send_own(self, t_ns: int, build: Callable[[int], bytes]) -> None:
        """Send a device-originated packet under the device's own packet counter."""
        self._send(t_ns, build(self._own_pn))
        self._own_pn = (self._own_pn + 1) % 256


def _pulse_ok(pulse_width_us: int, current_ma: int) -> bool:
    lo, hi = PW_RANGE_US
    return (pulse_width_us == 0 or lo <= pulse_width_us <= hi) and 0 <= current_ma <= MAX_CURRENT_MA


def _parsed(packet: Packet, active_channels: int | None = None) -> sm2.Message | None:
    """The typed message, or None when its parameters are malformed (the device answers -2)."""
    try:
        return sm2.parse(packet, active_channels)
    except ProtocolError:
        return None
