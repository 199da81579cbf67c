"""What a protocol decoder hook hands the gate's protocol-neutral core.

The gate core (caps, slew, charge, duty, rate, arm, trip) never parses wire bytes. Each
stimulator protocol has one small hook module (`hook_sciencemode2`, `hook_sciencemode4`)
that decodes an outgoing frame with the protocol's own codec and turns it into one of the
neutral values below, or refuses it (default deny: anything it cannot decode or does not
know is refused). The panda/opendbc model: one safety core, one hook per car brand.
Standard library only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from fescontrol.safety.limits import GateLimits


class Kind(enum.Enum):
    """What an outgoing frame does to the output, as far as the gate core cares."""

    SETUP = enum.auto()
    """Prepares stimulation on a set of channels (SM2 InitChannelListMode, SM4 Ml_init)."""
    SETTINGS = enum.auto()
    """Sets the output of channels (SM2 StartChannelListMode, SM4 Ml_update)."""
    STOP = enum.auto()
    """Ends every output (SM2 StopChannelListMode, SM4 Ml_stop)."""
    OTHER = enum.auto()
    """Changes no output: handshake answers, keep-alives, status reads."""


@dataclass(frozen=True)
class ChannelSetting:
    """One channel's output in integer units; `number` is the profile's channel number (1-based)."""

    number: int
    current_ma: int
    """Largest current magnitude of the pulse."""
    pulse_width_us: int
    """Longest phase of the pulse."""
    phase_charge_nc: int
    """Largest charge of one phase (current x time, summed over the phase's points)."""
    mode: int = 0
    """Pulses per period beyond one (ScienceMode2 doublet/triplet); only 0 is allowed."""


@dataclass(frozen=True)
class Decoded:
    """A frame the hook could decode and knows (it may still fail the core's checks)."""

    kind: Kind
    name: str
    """The command's name, as recorded in commands.csv and the session log."""
    settings: tuple[ChannelSetting, ...] = ()
    """SETTINGS: every channel the frame sets, in wire order; channels not listed keep their state.
    Empty when no SETUP was accepted yet (the core refuses the frame then)."""
    message: object = None
    """The protocol's own message, where the hook's `check_setup` needs it (opaque to the core)."""


@dataclass(frozen=True)
class Refused:
    """A frame the hook will not let through, with the reason the gate trips on."""

    name: str
    reason: str


class DecoderHook(Protocol):
    """The small per-protocol part of the gate."""

    stop_name: str
    """Name of the stop command (records)."""
    packet_numbers: int
    """How many packet numbers the protocol has (they wrap to 0 after the last)."""

    def decode(self, frame: bytes, setup: frozenset[int] | None) -> Decoded | Refused:
        """Decode one outgoing frame; `setup` is the channel set of the last accepted SETUP, if any."""

    def check_setup(self, decoded: Decoded, limits: GateLimits) -> frozenset[int] | str:
        """The channels a SETUP frame prepares, or the reason it must be refused."""

    def stop_frame(self, packet_number: int) -> bytes:
        """The device's own stop frame: what the gate writes on every trip and exit."""
