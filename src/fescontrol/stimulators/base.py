"""What every stimulator backend offers the control loop and the session (python-can style).

The loop and the session only use what is listed in `StimulatorBackend`; the protocol's own
commands, result codes and ack matching stay inside its backend module. Each backend module
also offers the module-level functions of `BackendModule`: how to build its link, which
gate decoder hook checks its frames, and which emulator stands in for its devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from fescontrol.config.models import DeviceConfig
from fescontrol.errors import AckTimeout
from fescontrol.safety.gate import GateState, SafetyGate, Verdict
from fescontrol.safety.hook import DecoderHook
from fescontrol.safety.limits import GateLimits
from fescontrol.safety.liveness import Liveness

Record = Callable[[dict[str, object]], None]


@dataclass(frozen=True)
class LinkTiming:
    keepalive_ns: int
    handshake_timeout_ns: int


@dataclass
class InFlight:
    packet_number: int
    command: int
    sent_ns: int
    frame_currents: tuple[int, ...] | None = None


class GateStopping:
    """Stop and trip through the gate, shared by the backends: the device's own stop frame comes
    from the gate's hook, so only the stop command's number differs per protocol."""

    STOP_COMMAND: int
    """The protocol's stop command (awaited as the command in flight after a stop)."""
    gate: SafetyGate
    last_tx_ns: int
    in_flight: InFlight | None

    def send_stop(self, now_ns: int) -> None:
        """Stop now through the gate (bypasses the one-in-flight rule: Stop never waits)."""
        pn = self.gate.send_stop(now_ns)
        self.last_tx_ns = now_ns
        self.in_flight = InFlight(pn, self.STOP_COMMAND, now_ns)

    def trip(self, cause: str, now_ns: int) -> None:
        """A fault: the gate sends the stop frame and latches; that stop is the command now in flight.

        If the gate has just tripped on its own (its wall-time checks), its stop is already on
        the wire: that one is awaited instead of sending a second one.
        """
        stop_pn = self.gate.last_stop_packet_number
        if self.gate.state is GateState.LATCHED_FAULT and stop_pn is not None and self.gate.last_stop_ns == now_ns:
            pn = stop_pn
        else:
            pn = self.gate.trip(cause, now_ns)
        self.last_tx_ns = now_ns
        self.in_flight = InFlight(pn, self.STOP_COMMAND, now_ns)


class RxCounters(Protocol):
    """The receive decoder's counters (bad frames, bytes outside any frame), for the link health log."""

    bytes_in: int
    bytes_since_packet: int
    frames_ok: int
    frames_bad: int
    bytes_discarded: int


class RxDecoder(RxCounters, Protocol):
    """A receive decoder: bytes in, packets and bad frames out, counted."""

    def feed(self, data: bytes) -> list[Any]: ...


class ForeignPackets:
    """Until the link is up, the other ScienceMode protocol's decoder on the same bytes: a device
    of the other protocol is then named, and the `--device` that drives it (a RehaStim 2 driven
    as a P24 sends ScienceMode2 Inits, which the ScienceMode4 decoder sees only as bad frames).
    Counts checksummed packets only; stops after `LIMIT_BYTES`."""

    LIMIT_BYTES = 16384

    def __init__(self, decoder: RxDecoder, protocol: str, devices: str) -> None:
        self._decoder = decoder
        self.protocol = protocol
        self.devices = devices

    def feed(self, data: bytes) -> None:
        if self._decoder.bytes_in < self.LIMIT_BYTES:
            self._decoder.feed(data)

    @property
    def packets(self) -> int:
        return self._decoder.frames_ok

    def said(self) -> str:
        """What the bytes were, if they formed the other protocol's packets ('' if not)."""
        if not self.packets:
            return ""
        packets = f"{self.packets} packet{'s' if self.packets > 1 else ''}"
        return f"they are {self.protocol} ({packets}): the device speaks {self.protocol}, run with --device {self.devices}"


def what_came(rx: RxCounters, protocol: str, foreign: ForeignPackets | None = None) -> str:
    """For a handshake that failed: what did arrive on the stimulator port, and what to check
    (a wrong port, a device that is off, a device of another protocol than `--device` says)."""
    if not rx.bytes_in:
        return (f"nothing arrived on the stimulator port: is it the stimulator's port, is the device on, and does it "
                f"speak {protocol} (--device)?")
    if not rx.frames_ok:
        if foreign is not None and foreign.packets:
            return f"{rx.bytes_in} bytes arrived and none formed a {protocol} packet; {foreign.said()}"
        return (f"{rx.bytes_in} bytes arrived and none formed a {protocol} packet: is it the stimulator's port (not "
                f"the sensor's), and does the device speak {protocol} (--device)?")
    return f"{rx.frames_ok} {protocol} packets arrived, not the one awaited"


def what_came_since_packet(rx: RxCounters, foreign: ForeignPackets | None = None) -> str:
    """For an answer that did not come: what arrived from the device since its last packet."""
    if not rx.bytes_since_packet:
        return "nothing arrived from the stimulator since its last packet: is it still on, and its cable or adapter in?"
    if foreign is not None and foreign.packets:
        return (f"{rx.bytes_since_packet} bytes arrived from the stimulator and none formed a packet of the protocol "
                f"--device speaks; {foreign.said()}")
    return (f"{rx.bytes_since_packet} bytes arrived from the stimulator since its last packet and none formed one "
            "(noise on the line?)")


def check_ack(liveness: Liveness, rx: RxCounters, now_ns: int, foreign: ForeignPackets | None = None) -> None:
    """The ack time-out of the command in flight, with what came instead in the fault's reason."""
    try:
        liveness.check_ack(now_ns)
    except AckTimeout as exc:
        raise AckTimeout(f"{exc.cause}; {what_came_since_packet(rx, foreign)}", t_s=exc.t_s) from exc


class StimulatorBackend(Protocol):
    """The host side of one stimulator: everything the loop and the session may call."""

    STOP_COMMAND: int
    """Command id of the stop frame (the teardown waits for its ack)."""
    STOP_ACK: int
    """Command id of the stop frame's ack."""
    STOP_NAME: str
    RESULT_OK: int
    RETRY_RESULTS: frozenset[int]
    """Results after which the command was not applied and may be sent again (busy, transfer error)."""

    gate: SafetyGate
    liveness: Liveness
    linked: bool
    in_flight: InFlight | None
    acked_currents: tuple[int, ...]
    last_ack_result: int | None
    closing: bool
    late_answers: list[tuple[int, int, int]]

    @property
    def rx_decoder(self) -> RxCounters:
        """The decoder of what the device sends."""

    def poll(self, now_ns: int) -> None:
        """Read and act on what the device sent; raise SafetyTrip for the first device fault."""

    def ready(self) -> bool:
        """Linked, and no command in flight."""

    def set_currents(self, currents: tuple[int, ...], now_ns: int) -> Verdict:
        """Send the currents of every channel (profile order) through the gate."""

    def keepalive(self, now_ns: int) -> bool:
        """Send the keep-alive if nothing went out for a keep-alive period; True if it did."""

    def send_stop(self, now_ns: int) -> None:
        """Stop now through the gate (Stop never waits for the command in flight)."""

    def trip(self, cause: str, now_ns: int) -> None:
        """A fault: the gate sends Stop and latches; that Stop is the command now in flight."""

    def connect(self, clock: Callable[[], int], sleep: Callable[[float], None]) -> None:
        """Handshake and set up the channels, or raise DeviceInitError."""

    @property
    def delivered_frequency_hz(self) -> float:
        """The pulse frequency the device delivers for the profile's frequency (its own time grid)."""

    def identify(self, clock: Callable[[], int], sleep: Callable[[float], None]) -> dict[str, object]:
        """After `connect`: the device's identity and status where the protocol can read them
        (read-only queries, one at a time); a query the device refuses is reported, not a fault."""


@dataclass(frozen=True)
class ChannelPlan:
    """The profile's channels as a backend needs them (ascending channel number)."""

    numbers: tuple[int, ...]
    pulse_widths_us: dict[int, int]
    frequency_hz: float


class BackendModule(Protocol):
    """The module-level functions of a backend module."""

    def gate_hook(self, limits: GateLimits) -> DecoderHook:
        """The gate's decoder hook for this protocol."""

    def build(self, gate: SafetyGate, liveness: Liveness, timing: LinkTiming, device: DeviceConfig,
              channels: ChannelPlan, on_record: Record) -> StimulatorBackend:
        """The link to one device with these caps."""

    def emulator_args(self, device: DeviceConfig) -> list[str]:
        """`fescontrol-hil` arguments that start an emulator of this device (simulate)."""

    def delivered_frequency_hz(self, frequency_hz: float) -> float:
        """The pulse frequency the device delivers for the profile's `frequency_hz` (its own grid)."""
