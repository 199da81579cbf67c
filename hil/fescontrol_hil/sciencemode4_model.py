"""RehaMove3 / P24 device behaviour in ScienceMode4 mid level, sans-I/O.

One model, parametrised by device (:data:`DEVICES`): bytes and times (integer ns, any
monotonic origin) in, frames and output changes out. The emulator process
(``sm4_stimulator.py``) only moves bytes and reads the clock. Behaviour follows
stimulators.md Part B (B.3 commands, B.4 results, B.5 watchdog and state) and the traps of
C.2. Device differences taken from the reference:

==================  ==========================  ==================================
                    ``rehamove3``               ``p24``
==================  ==========================  ==================================
channels            4 (0 red, 1 blue, 2 black,  8 (0-3 yellow cable, 4-7 green)
                    3 white)
current             +-130 mA, 0.5 mA grid       same
period              2..1000 ms (1-500 Hz, C.1)  0.5..16383 ms (S12 host limit)
period flag bit 0   refused (S9: reserved 0)    accepted (0.25 ms grid, S11/S12)
current-data sel.   2 only (S9)                 4 only (S11)
general commands    version main/stim, device   version main/stim, device id,
                    id, battery, stim/main      stim/main status, extended version,
                    status, reset (no ack, S9)  reset (acked)
power               battery: a USB disconnect   USB-powered: a disconnect is a
                    leaves it running until     power loss, outputs off at once
                    the 2 s watchdog
==================  ==========================  ==================================

Readings chosen where the reference is silent or says UNVERIFIED (each is one choice, not
a fact about the firmware):

- **One command at a time, no busy answer.** The reference defines no busy result for the
  mid level (21 Busy is the I24 dyscom layer's), so commands queue FIFO: each is handled
  ``ack_delay_ns`` after the later of its arrival and the end of the previous one, and its
  effect happens when it is handled. At most ``queue_limit`` commands wait; more are dropped
  unanswered (an input buffer overflowing). Bad frames whose packet number and command were
  recovered queue like commands and are answered ``Transfer_Error`` (1), result only;
  other bad spans are dropped silently.
- **Watchdog.** It is fed when a valid ``Ml_update`` or ``Ml_get_current_data`` *arrives*,
  whatever its result (B.5: "stays alive while ... arrives"). While any channel is
  stimulating and none arrived for ``watchdog_ns`` (2 s), every output stops at that
  instant; the mid level stays initialised (inferred in B.5) and ``Ml_update`` restarts.
- **Levels.** ``Ml_update`` and ``Ml_get_current_data`` before ``Ml_init`` -> 7
  (Not_Initialized). ``Ml_init`` is accepted in every state; while running it stops every
  output first. ``Ml_stop`` always succeeds (a stop must never be refused), outputs off,
  high voltage off, level none. ``Get_stim_status`` reports 0 (none), 2 (initialised, no
  channel stimulating) or 3 (at least one channel stimulating); high voltage 6 (150 V)
  while initialised, else 1 (off).
- **Ml_update refusals** (all Parameter_Error 2, nothing applied): malformed data, enable
  mask 0 (whether it is a "pause" is UNVERIFIED; the codec refuses to build it), a channel
  beyond the device, period outside the device range, period flag on RehaMove3,
  |current| > 130 mA, or the S12 duty check (sum of (point times + 60 us) / period_ms
  >= 1000) -- S12 checks these on the host; this device checks them too. Electrode_Error
  (10) when it enables a channel with a latched electrode error.
- **Ml_init flag** bit 0 (stop all channels on error) is honoured on both devices (S9 calls
  the byte reserved; S12 sends it for every device); bits 1-7 set -> 2.
- **Ml_get_current_data** answers only the device's selection (else 2); a failing answer
  keeps the full layout (result, selection echo, zero status) as S12 builds it. The result
  stays 0 when a channel has an electrode error: the per-channel state carries it.
- **Reset**: RehaMove3 sends no ``Reset_ack`` (S9); the P24 sends ``Reset_ack`` 0 (not
  documented either way). Then outputs off, level none, queued commands and pending late
  acks dropped, and for ``reset_ns`` (S15: about 10-15 s) every received frame is logged
  and ignored. No packet announces the end of the reset (SM4 has no device ``Init``).
- **Unknown_cmd** (67, result 11) answers command ids the device does not implement:
  unknown ids, device packets sent by the host, the other device's general commands
  (battery on P24, extended version on RehaMove3) and the whole low level (this emulator is
  mid-level only; a real device would run it).
- **Failing data acks** of general commands (request with data) are result only, like
  transfer errors (the layout on failure is UNVERIFIED).
- **Outputs** (``OutputChange``, ``outputs``): per channel (current mA, pulse width us,
  frequency Hz). The pulse's leading phase -- the first point with a non-zero current and
  the following points of the same sign -- gives the pulse width (sum of their times) and
  the current (largest magnitude in it); a pulse of zero currents is (0, first point's time,
  f). Frequency = 1000 / period_ms, rounded to 4 decimals. A stopped channel is
  (0, 0, 0). The ramp is not emulated: the target output is recorded from the update on.
  Indices are the protocol's (0-based); :attr:`OutputChange.number` is index + 1, the
  channel number of the profile and of the P24 cable labels.

Fault injection (:class:`FaultPlan`, all off by default; each is logged once as a warning
and recorded as an :class:`EventRecord` with ``injected=True``; per-command effects are
recorded too, without a warning):

- ``no-ack`` (from): nothing is sent any more; commands are still handled and the watchdog
  fed; the frames not sent are recorded as ``tx_suppressed``.
- ``late-ack`` (from): commands take effect on time but each answer leaves ``late_ack_ns``
  later (in order).
- ``busy`` (from): every ``Ml_update`` is answered 21 (Busy) in its turn and not applied
  (the output holds); it still feeds the watchdog; other commands work.
- ``transfer-error`` (from): every valid frame is treated as failing its checksum: answered
  ``Transfer_Error`` (1), not applied, not feeding the watchdog, so a running output stops
  2 s after the last good keep-alive.
- ``electrode-error`` (at): the electrode of ``electrode_channel`` (default: the lowest
  channel stimulating then) fails. If that channel is stimulating, it stops (every channel
  if ``Ml_init`` set stop-all-on-error); ``Ml_get_current_data`` reports it until the next
  ``Ml_init`` or ``Ml_stop``. If it is not stimulating, nothing happens (an electrode error
  is found by pulsing) and the record says ``no_effect``.
- ``emergency-switch`` (at): outputs and high voltage off at once, level none; no packet is
  sent (SM4 defines no unsolicited stimulation error), so the host learns it from 7
  (Not_Initialized) answers. The switch acts as a momentary press: ``Ml_init`` works again.
- ``device-reset`` (at): an unsolicited reset, as after a ``Reset`` command without an ack.
- ``disconnect`` (at): the link is cut (``disconnected``): nothing is received or sent. A
  RehaMove3 runs on its battery until the watchdog stops the output; a P24 loses power and
  every output stops at once.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from fescontrol.errors import ProtocolError
from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.protocol.sciencemode4 import BadFrame, Cmd, DataSelection, MlChannel, Packet, Result, StimStatus

log = logging.getLogger(__name__)

OFF: tuple[float, int, float] = (0.0, 0, 0.0)
FIRMWARE_VERSION = (1, 0, 0)
"""Placeholder versions reported by the emulator (no real firmware numbers are documented)."""
SMPT_VERSION = (4, 0, 0)
BATTERY = (87, 4012)
"""RehaMove3 battery level % and voltage mV (the values of vector B-18)."""


@dataclass(frozen=True)
class DeviceSpec:
    """What differs between the two ScienceMode4 devices (see the module table)."""

    name: str
    channels: int
    selections: frozenset[int]
    min_period_ms: float
    max_period_ms: float
    fine_period: bool
    reset_acked: bool
    general: frozenset[Cmd]
    usb_powered: bool
    device_id: str


_COMMON_GENERAL = frozenset({Cmd.GET_VERSION_MAIN, Cmd.GET_VERSION_STIM, Cmd.GET_DEVICE_ID, Cmd.RESET,
                             Cmd.GET_STIM_STATUS, Cmd.GET_MAIN_STATUS})

DEVICES: dict[str, DeviceSpec] = {
    "rehamove3": DeviceSpec("rehamove3", sm4.REHAMOVE3_CHANNELS, frozenset({DataSelection.STIMULATION}),
                            2.0, 1000.0, False, False, _COMMON_GENERAL | {Cmd.GET_BATTERY_STATUS}, False,
                            "RM3-EMU-01"),
    "p24": DeviceSpec("p24", sm4.MAX_CHANNELS, frozenset({DataSelection.CHANNELS}),
                      0.5, sm4.MAX_PERIOD_MS, True, True, _COMMON_GENERAL | {Cmd.GET_EXTENDED_VERSION}, True,
                      "P24-EMU-01"),
}

MID_LEVEL = frozenset({Cmd.ML_INIT, Cmd.ML_UPDATE, Cmd.ML_STOP, Cmd.ML_GET_CURRENT_DATA})
KEEP_ALIVE = frozenset({Cmd.ML_UPDATE, Cmd.ML_GET_CURRENT_DATA})

FAULTS: tuple[str, ...] = ("no-ack", "late-ack", "busy", "transfer-error", "electrode-error",
                           "emergency-switch", "device-reset", "disconnect")
"""Fault names, as on the command line."""


@dataclass(frozen=True)
class OutputChange:
    """Channel ``index`` (0-based, protocol) changed its delivered output at ``t_ns``."""

    t_ns: int
    index: int
    current_ma: float
    pulse_width_us: int
    frequency_hz: float

    @property
    def number(self) -> int:
        """1-based channel number (profile numbering, P24 cable labels)."""
        return self.index + 1


@dataclass(frozen=True)
class PacketRecord:
    """One frame in (``rx``) or out (``tx``, ``tx_suppressed``) with its exact bytes."""

    t_ns: int
    direction: str
    raw: bytes
    item: Packet | BadFrame
    note: str | None = None


@dataclass(frozen=True)
class EventRecord:
    """Something the device did by itself (``injected=False``: watchdog, end of reset) or an
    injected fault taking effect (``injected=True``)."""

    t_ns: int
    event: str
    injected: bool
    detail: dict[str, Any] = field(default_factory=dict)


Record = PacketRecord | EventRecord


@dataclass(frozen=True)
class FaultPlan:
    """When (device clock, ns) each fault starts (``*_from_ns``) or happens (``*_at_ns``)."""

    no_ack_from_ns: int | None = None
    late_ack_from_ns: int | None = None
    busy_from_ns: int | None = None
    transfer_error_from_ns: int | None = None
    electrode_error_at_ns: int | None = None
    emergency_switch_at_ns: int | None = None
    device_reset_at_ns: int | None = None
    disconnect_at_ns: int | None = None
    electrode_channel: int | None = None

    @classmethod
    def single(cls, name: str, at_ns: int, electrode_channel: int | None = None) -> FaultPlan:
        """One fault by its command-line name (:data:`FAULTS`)."""
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; choose from {', '.join(FAULTS)}")
        return cls(**{_FIELD[name]: at_ns}, electrode_channel=electrode_channel)

    def schedule(self) -> list[tuple[int, str]]:
        """(time, fault name) in time order; equal times keep the order of :data:`FAULTS`."""
        named = [(getattr(self, _FIELD[name]), name) for name in FAULTS]
        return sorted(((t, name) for t, name in named if t is not None), key=lambda e: e[0])


_FIELD = {"no-ack": "no_ack_from_ns", "late-ack": "late_ack_from_ns", "busy": "busy_from_ns",
          "transfer-error": "transfer_error_from_ns", "electrode-error": "electrode_error_at_ns",
          "emergency-switch": "emergency_switch_at_ns", "device-reset": "device_reset_at_ns",
          "disconnect": "disconnect_at_ns"}


class ScienceMode4Model:
    """A RehaMove3 or P24 in ScienceMode4 mid level, driven by explicit times (ns)."""

    def __init__(self, device: str | DeviceSpec, *, ack_delay_ns: int = 10_000_000,
                 watchdog_ns: int = round(sm4.WATCHDOG_TIMEOUT_S * 1e9), late_ack_ns: int = 600_000_000,
                 reset_ns: int = 10_000_000_000, queue_limit: int = 32, device_id: str | None = None,
                 faults: FaultPlan | None = None) -> None:
        self.spec = device if isinstance(device, DeviceSpec) else DEVICES[device]
        self.ack_delay_ns = ack_delay_ns
        self.watchdog_ns = watchdog_ns
        self.late_ack_ns = late_ack_ns
        self.reset_ns = reset_ns
        self.queue_limit = queue_limit
        self.device_id = device_id if device_id is not None else self.spec.device_id
        sm4.device_id_ack(0, 0, self.device_id)  # refuse a bad id now, not at the first request
        plan = faults or FaultPlan()
        if plan.electrode_channel is not None and not 0 <= plan.electrode_channel < self.spec.channels:
            raise ValueError(f"electrode_channel {plan.electrode_channel} is outside 0..{self.spec.channels - 1}")
        self._electrode_channel = plan.electrode_channel
        self.decoder = sm4.Decoder()
        self._now_ns: int | None = None
        self._outbox: list[bytes] = []
        self._changes: list[OutputChange] = []
        self._records: list[Record] = []
        self._queue: deque[tuple[int, Packet | BadFrame]] = deque()
        self._current_due: int | None = None
        self._late: deque[tuple[int, bytes]] = deque()
        self._faults: deque[tuple[int, str]] = deque(plan.schedule())
        self._initialised = False
        self._stop_all = False
        self._active: dict[int, MlChannel] = {}
        self._electrode_errors: set[int] = set()
        self._last_keepalive_ns: int | None = None
        self._reset_until: int | None = None
        self._outputs: dict[int, tuple[float, int, float]] = {i: OFF for i in range(self.spec.channels)}
        self._tx_cut = False
        self._late_on = False
        self._busy_on = False
        self._transfer_on = False
        self._disconnected = False
        self._handlers: dict[int, Callable[[Packet, int], bytes | None]] = {
            Cmd.ML_INIT: self._do_ml_init,
            Cmd.ML_UPDATE: self._do_ml_update,
            Cmd.ML_STOP: self._do_ml_stop,
            Cmd.ML_GET_CURRENT_DATA: self._do_current_data,
            Cmd.GET_VERSION_MAIN: self._do_version,
            Cmd.GET_VERSION_STIM: self._do_version,
            Cmd.GET_DEVICE_ID: self._do_device_id,
            Cmd.GET_BATTERY_STATUS: self._do_battery,
            Cmd.GET_STIM_STATUS: self._do_stim_status,
            Cmd.GET_MAIN_STATUS: self._do_main_status,
            Cmd.GET_EXTENDED_VERSION: self._do_extended_version,
            Cmd.RESET: self._do_reset,
        }

    # ------------------------------------------------------------------ public API

    @property
    def stim_status(self) -> StimStatus:
        if not self._initialised:
            return StimStatus.NONE
        return StimStatus.MID_LEVEL_RUNNING if self._active else StimStatus.MID_LEVEL_INITIALIZED

    @property
    def outputs(self) -> dict[int, tuple[float, int, float]]:
        """Current (mA, us, Hz) per channel index."""
        return dict(self._outputs)

    @property
    def stimulating(self) -> bool:
        return any(v != OFF for v in self._outputs.values())

    @property
    def resetting(self) -> bool:
        return self._reset_until is not None

    @property
    def disconnected(self) -> bool:
        """True once the ``disconnect`` fault has cut the link (the process closes the port)."""
        return self._disconnected

    @property
    def electrode_errors(self) -> frozenset[int]:
        return frozenset(self._electrode_errors)

    def receive(self, data: bytes, now_ns: int) -> None:
        """Bytes from the host arrived at ``now_ns``."""
        self._advance(now_ns)
        if self._disconnected:
            return
        for raw, item in self.decoder.feed_with_raw(data):
            if self._reset_until is not None:
                self._records.append(PacketRecord(now_ns, "rx", raw, item, "ignored: device resetting"))
                continue
            note = None
            if isinstance(item, Packet) and self._transfer_on:
                note = "corrupted by the transfer-error fault"
                self._fault(now_ns, "transfer-error", warn=False, effect="refused",
                            packet_number=item.packet_number, command=_name(item.command))
                item = BadFrame("transfer-error fault", raw, item.packet_number, item.command)
            if isinstance(item, Packet) and item.command in KEEP_ALIVE:
                self._last_keepalive_ns = now_ns
            answerable = isinstance(item, Packet) or (item.packet_number is not None and item.command is not None)
            if answerable and len(self._queue) >= self.queue_limit:
                note = "dropped: input queue full"
                answerable = False
            elif not answerable:
                note = "dropped: bad frame without packet number and command"
            self._records.append(PacketRecord(now_ns, "rx", raw, item, note))
            if answerable:
                self._queue.append((now_ns, item))
                if self._current_due is None:
                    self._current_due = now_ns + self.ack_delay_ns

    def poll(self, now_ns: int) -> list[bytes]:
        """Run everything due up to ``now_ns``; return the frames to send now, in order."""
        self._advance(now_ns)
        out, self._outbox = self._outbox, []
        return out

    def next_deadline_ns(self) -> int | None:
        """When ``poll`` next has something to do; ``None`` if nothing is scheduled."""
        times = [t for t in self._due_times() if t is not None]
        if self._outbox and self._now_ns is not None:
            times.append(self._now_ns)
        return min(times) if times else None

    def pop_output_changes(self) -> list[OutputChange]:
        out, self._changes = self._changes, []
        return out

    def pop_records(self) -> list[Record]:
        """Packets in and out and device events, in the order they happened."""
        out, self._records = self._records, []
        return out

    def record_event(self, now_ns: int, event: str, *, injected: bool = False, **detail: Any) -> None:
        """Record something the emulator process saw (line settings, port closed) in the device log."""
        self._advance(now_ns)
        self._records.append(EventRecord(now_ns, event, injected, detail))

    def power_off(self, now_ns: int) -> None:
        """Emulator shutdown: every output to 0 (recorded)."""
        self._advance(now_ns)
        self._all_off(now_ns)

    # ------------------------------------------------------------------ timing

    def _watchdog_due(self) -> int | None:
        if self._active and self._last_keepalive_ns is not None:
            return self._last_keepalive_ns + self.watchdog_ns
        return None

    def _due_times(self) -> tuple[int | None, ...]:
        """Timed events by rank: equal times run in this order."""
        return (self._current_due, self._late[0][0] if self._late else None, self._watchdog_due(),
                self._reset_until, self._faults[0][0] if self._faults else None)

    def _advance(self, now_ns: int) -> None:
        """Handle every timed event due at or before ``now_ns``, oldest first, at its own time."""
        self._now_ns = now_ns
        while True:
            events = [(t, rank) for rank, t in enumerate(self._due_times()) if t is not None]
            if not events:
                return
            t, rank = min(events)
            if t > now_ns:
                return
            if rank == 0:
                self._process_next(t)
            elif rank == 1:
                self._transmit(t, self._late.popleft()[1], "late-ack fault")
            elif rank == 2:
                self._expire_watchdog(t)
            elif rank == 3:
                self._reset_until = None
                self._records.append(EventRecord(t, "reset_done", False))
            else:
                self._start_fault(t, self._faults.popleft()[1])

    def _expire_watchdog(self, t_ns: int) -> None:
        log.warning("no Ml_update or Ml_get_current_data for %d ms: stimulation paused", self.watchdog_ns // 1_000_000)
        self._records.append(EventRecord(t_ns, "watchdog_expired", False,
                                         {"channels": sorted(self._active)}))
        self._active.clear()
        self._all_off(t_ns)

    # ------------------------------------------------------------------ faults

    def _start_fault(self, t_ns: int, name: str) -> None:
        if name == "no-ack":
            self._tx_cut = True
            self._fault(t_ns, name, effect="active")
        elif name == "late-ack":
            self._late_on = True
            self._fault(t_ns, name, effect="active", late_ms=self.late_ack_ns / 1e6)
        elif name == "busy":
            self._busy_on = True
            self._fault(t_ns, name, effect="active")
        elif name == "transfer-error":
            self._transfer_on = True
            self._fault(t_ns, name, effect="active")
        elif name == "electrode-error":
            self._electrode_fault(t_ns)
        elif name == "emergency-switch":
            self._fault(t_ns, name, effect="outputs_off")
            self._level_off(t_ns)
        elif name == "device-reset":
            self._fault(t_ns, name, effect="outputs_off")
            self._begin_reset(t_ns)
        elif name == "disconnect":
            self._disconnected = True
            self._tx_cut = True
            if self.spec.usb_powered:
                self._fault(t_ns, name, effect="power_lost")
                self._power_loss(t_ns)
            else:
                self._fault(t_ns, name, effect="link_cut")
        else:  # pragma: no cover - FaultPlan.schedule only yields FAULTS
            raise AssertionError(name)

    def _electrode_fault(self, t_ns: int) -> None:
        channel = self._electrode_channel
        if channel is None:
            channel = min(self._active) if self._active else 0
        if channel not in self._active:
            self._fault(t_ns, "electrode-error", effect="no_effect", channel=channel)
            return
        self._electrode_errors.add(channel)
        stopped = sorted(self._active) if self._stop_all else [channel]
        self._fault(t_ns, "electrode-error", effect="outputs_off", channel=channel, stopped=stopped)
        for c in stopped:
            del self._active[c]
            self._set_output(t_ns, c, OFF)

    def _power_loss(self, t_ns: int) -> None:
        self._level_off(t_ns)
        self._queue.clear()
        self._current_due = None
        self._late.clear()
        self._reset_until = None
        self._faults.clear()

    def _fault(self, t_ns: int, name: str, *, warn: bool = True, **detail: Any) -> None:
        if warn:
            log.warning("fault injected: %s %s", name, " ".join(f"{k}={v}" for k, v in detail.items()))
        self._records.append(EventRecord(t_ns, name, True, detail))

    # ------------------------------------------------------------------ processing

    def _process_next(self, t_ns: int) -> None:
        _arrived, item = self._queue.popleft()
        self._current_due = None
        frame = self._answer(item, t_ns)
        if frame is not None:
            self._send(t_ns, frame)
        if self._queue and self._current_due is None:
            self._current_due = max(t_ns, self._queue[0][0]) + self.ack_delay_ns

    def _answer(self, item: Packet | BadFrame, t_ns: int) -> bytes | None:
        if isinstance(item, BadFrame):
            assert item.packet_number is not None and item.command is not None
            return self._result_only(item.packet_number, item.command, Result.TRANSFER_ERROR)
        cmd = item.command
        handler = self._handlers.get(cmd)
        if handler is None or (cmd not in MID_LEVEL and cmd not in self.spec.general):
            return sm4.unknown_cmd(item.packet_number)
        return handler(item, t_ns)

    def _result_only(self, pn: int, command: int, result: int) -> bytes | None:
        """The command's ack with the result byte alone; None for a command without an answer."""
        try:
            ack_cmd = sm4.ACK_OF[Cmd(command)]
        except (ValueError, KeyError):
            return None
        if ack_cmd is Cmd.RESET_ACK and not self.spec.reset_acked:
            return None
        return sm4.encode_packet(pn, ack_cmd, bytes((result,)))

    def _do_ml_init(self, packet: Packet, t_ns: int) -> bytes:
        msg = _parsed(packet)
        if not isinstance(msg, sm4.MlInit):
            return sm4.ack(packet.packet_number, Cmd.ML_INIT_ACK, Result.PARAMETER_ERROR)
        self._active.clear()
        self._all_off(t_ns)
        self._initialised = True
        self._stop_all = msg.stop_all_channels_on_error
        self._electrode_errors.clear()
        return sm4.ack(packet.packet_number, Cmd.ML_INIT_ACK, Result.SUCCESSFUL)

    def _do_ml_update(self, packet: Packet, t_ns: int) -> bytes:
        pn = packet.packet_number
        if self._busy_on:
            self._fault(t_ns, "busy", warn=False, effect="refused", packet_number=pn)
            return sm4.ack(pn, Cmd.ML_UPDATE_ACK, Result.BUSY)
        if not self._initialised:
            return sm4.ack(pn, Cmd.ML_UPDATE_ACK, Result.NOT_INITIALIZED_ERROR)
        msg = _parsed(packet)
        if not isinstance(msg, sm4.MlUpdate) or not self._update_ok(msg.channels):
            return sm4.ack(pn, Cmd.ML_UPDATE_ACK, Result.PARAMETER_ERROR)
        if any(ch.channel in self._electrode_errors for ch in msg.channels):
            return sm4.ack(pn, Cmd.ML_UPDATE_ACK, Result.ELECTRODE_ERROR)
        self._active = {ch.channel: ch for ch in msg.channels}
        for index in self._outputs:
            ch = self._active.get(index)
            self._set_output(t_ns, index, OFF if ch is None else output_of(ch))
        return sm4.ack(pn, Cmd.ML_UPDATE_ACK, Result.SUCCESSFUL)

    def _update_ok(self, channels: tuple[MlChannel, ...]) -> bool:
        spec = self.spec
        if not channels:
            return False
        for ch in channels:
            if ch.channel >= spec.channels or (ch.fine_period and not spec.fine_period):
                return False
            if not spec.min_period_ms <= ch.period_ms <= spec.max_period_ms:
                return False
            if any(abs(p.current_ma) > sm4.MAX_CURRENT_MA for p in ch.points):
                return False
        return sm4.pulse_load(channels) < 1000

    def _do_ml_stop(self, packet: Packet, t_ns: int) -> bytes:
        if not isinstance(_parsed(packet), sm4.MlStop):
            return sm4.ack(packet.packet_number, Cmd.ML_STOP_ACK, Result.PARAMETER_ERROR)
        self._level_off(t_ns)
        return sm4.ack(packet.packet_number, Cmd.ML_STOP_ACK, Result.SUCCESSFUL)

    def _do_current_data(self, packet: Packet, t_ns: int) -> bytes | None:
        pn = packet.packet_number
        msg = _parsed(packet)
        if not isinstance(msg, sm4.MlGetCurrentData):
            return self._result_only(pn, packet.command, Result.PARAMETER_ERROR)
        sel = msg.selection
        zeros = bytes(sm4.STATUS_LEN.get(sel, 0))
        if not self._initialised:
            return sm4.ml_get_current_data_ack(pn, Result.NOT_INITIALIZED_ERROR, sel, zeros)
        if sel not in self.spec.selections:
            return sm4.ml_get_current_data_ack(pn, Result.PARAMETER_ERROR, sel, zeros)
        errors = sum(1 << c for c in self._electrode_errors)
        if sel == DataSelection.STIMULATION:
            status = sm4.stimulation_status(bool(self._active), errors)
        else:
            active = sum(1 << c for c in self._active)
            states = [sm4.ChannelState.ELECTRODE_ERROR if c in self._electrode_errors else sm4.ChannelState.OK
                      for c in range(sm4.MAX_CHANNELS)]
            status = sm4.channel_status(active, states)
        return sm4.ml_get_current_data_ack(pn, Result.SUCCESSFUL, sel, status)

    def _general_ok(self, packet: Packet) -> bool:
        return isinstance(_parsed(packet), sm4.Request)

    def _do_version(self, packet: Packet, t_ns: int) -> bytes | None:
        if not self._general_ok(packet):
            return self._result_only(packet.packet_number, packet.command, Result.PARAMETER_ERROR)
        return sm4.version_ack(packet.packet_number, Result.SUCCESSFUL, FIRMWARE_VERSION, SMPT_VERSION,
                               ack_command=sm4.ACK_OF[Cmd(packet.command)])

    def _do_device_id(self, packet: Packet, t_ns: int) -> bytes | None:
        if not self._general_ok(packet):
            return self._result_only(packet.packet_number, packet.command, Result.PARAMETER_ERROR)
        return sm4.device_id_ack(packet.packet_number, Result.SUCCESSFUL, self.device_id)

    def _do_battery(self, packet: Packet, t_ns: int) -> bytes | None:
        if not self._general_ok(packet):
            return self._result_only(packet.packet_number, packet.command, Result.PARAMETER_ERROR)
        return sm4.battery_status_ack(packet.packet_number, Result.SUCCESSFUL, *BATTERY)

    def _do_stim_status(self, packet: Packet, t_ns: int) -> bytes | None:
        if not self._general_ok(packet):
            return self._result_only(packet.packet_number, packet.command, Result.PARAMETER_ERROR)
        hv = sm4.HighVoltage.V150 if self._initialised else sm4.HighVoltage.OFF
        return sm4.stim_status_ack(packet.packet_number, Result.SUCCESSFUL, self.stim_status, hv)

    def _do_main_status(self, packet: Packet, t_ns: int) -> bytes | None:
        if not self._general_ok(packet):
            return self._result_only(packet.packet_number, packet.command, Result.PARAMETER_ERROR)
        return sm4.main_status_ack(packet.packet_number, Result.SUCCESSFUL, 0)

    def _do_extended_version(self, packet: Packet, t_ns: int) -> bytes | None:
        if not self._general_ok(packet):
            return self._result_only(packet.packet_number, packet.command, Result.PARAMETER_ERROR)
        return sm4.extended_version_ack(packet.packet_number, Result.SUCCESSFUL, FIRMWARE_VERSION, SMPT_VERSION,
                                        0, sm4.HashType.GIT, False)

    def _do_reset(self, packet: Packet, t_ns: int) -> bytes | None:
        if not self._general_ok(packet):
            return self._result_only(packet.packet_number, packet.command, Result.PARAMETER_ERROR)
        self._begin_reset(t_ns)
        if self.spec.reset_acked:  # the last thing sent before the reboot
            return sm4.ack(packet.packet_number, Cmd.RESET_ACK, Result.SUCCESSFUL)
        return None

    # ------------------------------------------------------------------ state, outputs and sending

    def _begin_reset(self, t_ns: int) -> None:
        self._level_off(t_ns)
        self._queue.clear()
        self._current_due = None
        self._late.clear()
        self._reset_until = t_ns + self.reset_ns
        self._records.append(EventRecord(t_ns, "reset_started", False, {"duration_ms": self.reset_ns / 1e6}))

    def _level_off(self, t_ns: int) -> None:
        """Outputs and high voltage off, level none, electrode errors forgotten."""
        self._active.clear()
        self._all_off(t_ns)
        self._initialised = False
        self._stop_all = False
        self._electrode_errors.clear()

    def _set_output(self, t_ns: int, index: int, value: tuple[float, int, float]) -> None:
        if self._outputs[index] != value:
            self._outputs[index] = value
            self._changes.append(OutputChange(t_ns, index, *value))

    def _all_off(self, t_ns: int) -> None:
        for index in self._outputs:
            self._set_output(t_ns, index, OFF)

    def _send(self, t_ns: int, frame: bytes) -> None:
        if self._tx_cut:
            self._records.append(PacketRecord(t_ns, "tx_suppressed", frame, sm4.decode_frame(frame)))
        elif self._late_on:
            self._late.append((t_ns + self.late_ack_ns, frame))
        else:
            self._transmit(t_ns, frame)

    def _transmit(self, t_ns: int, frame: bytes, note: str | None = None) -> None:
        if self._tx_cut:
            self._records.append(PacketRecord(t_ns, "tx_suppressed", frame, sm4.decode_frame(frame), note))
            return
        self._outbox.append(frame)
        self._records.append(PacketRecord(t_ns, "tx", frame, sm4.decode_frame(frame), note))


def output_of(ch: MlChannel) -> tuple[float, int, float]:
    """(current mA, pulse width us, frequency Hz) of a channel's pulse; see the module docstring."""
    points = ch.points
    first = next((k for k, p in enumerate(points) if p.current_ma != 0), None)
    hz = round(ch.frequency_hz, 4)
    if first is None:
        return (0.0, points[0].time_us, hz)
    positive = points[first].current_ma > 0
    phase = []
    for p in points[first:]:
        if p.current_ma == 0 or (p.current_ma > 0) != positive:
            break
        phase.append(p)
    return (max(abs(p.current_ma) for p in phase), sum(p.time_us for p in phase), hz)


def _parsed(packet: Packet) -> sm4.Message | None:
    """The typed message, or None when its data are malformed (the device answers 2)."""
    try:
        return sm4.parse(packet)
    except ProtocolError:
        return None


def _name(command: int) -> str:
    try:
        return Cmd(command).name
    except ValueError:
        return str(command)
