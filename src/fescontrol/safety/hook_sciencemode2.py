"""The gate's decoder hook for the RehaStim 2 (ScienceMode2).

Decodes an outgoing frame with the project's ScienceMode2 codec and hands the gate core
neutral values (`safety.hook`). Refused: anything that is not exactly one valid packet, that
does not round-trip through the codec (a second encoding of the same bytes could be read
differently by the device), that is not on the allow-list, or that the codec cannot parse.
The checks only this protocol has (channel list timing, low-frequency channels, channel
execution) live here; caps, slew, charge and the wall-time accounts are the core's.
"""

from __future__ import annotations

from dataclasses import dataclass

from fescontrol.errors import ProtocolError
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.hook import ChannelSetting, Decoded, Kind, Refused
from fescontrol.safety.limits import GateLimits

# Commands the host may send at all (default deny). SinglePulse is not used by the controller.
_KIND = {
    sm2.Cmd.INIT_ACK: Kind.OTHER,
    sm2.Cmd.WATCHDOG: Kind.OTHER,
    sm2.Cmd.GET_STIMULATION_MODE: Kind.OTHER,
    sm2.Cmd.INIT_CHANNEL_LIST_MODE: Kind.SETUP,
    sm2.Cmd.START_CHANNEL_LIST_MODE: Kind.SETTINGS,
    sm2.Cmd.STOP_CHANNEL_LIST_MODE: Kind.STOP,
}


@dataclass(frozen=True)
class ScienceMode2Hook:
    """Outgoing ScienceMode2 frames -> neutral settings (keeps no state, so two are equal)."""

    stop_name = "StopChannelListMode"
    packet_numbers = 256

    def decode(self, frame: bytes, setup: frozenset[int] | None) -> Decoded | Refused:
        items = sm2.Decoder().feed(frame)
        if len(items) != 1 or not isinstance(items[0], sm2.Packet):
            return Refused("unknown", "frame does not decode to exactly one valid packet")
        packet = items[0]
        if sm2.encode(packet) != bytes(frame):
            return Refused("unknown", "frame does not round-trip through the codec")
        try:
            cmd = sm2.Cmd(packet.command)
        except ValueError:
            return Refused(f"cmd{packet.command}", "command not in the allow-list")
        name = "".join(part.capitalize() for part in cmd.name.split("_"))
        kind = _KIND.get(cmd)
        if kind is None:
            return Refused(name, "command not in the allow-list")
        mask = None if setup is None else channel_mask(setup)
        try:
            msg = sm2.parse(packet, mask)
        except ProtocolError as exc:
            return Refused(name, f"malformed: {exc}")
        if isinstance(msg, sm2.StartChannelListMode) and setup is not None:
            settings = tuple(ChannelSetting(number, s.current_ma, s.pulse_width_us, s.current_ma * s.pulse_width_us,
                                            s.mode)
                             for number, s in zip(sorted(setup), msg.settings))
            return Decoded(kind, name, settings)
        return Decoded(kind, name, message=msg)

    def check_setup(self, decoded: Decoded, limits: GateLimits) -> frozenset[int] | str:
        msg = decoded.message
        assert isinstance(msg, sm2.InitChannelListMode)  # the only SETUP command of this protocol
        if msg.active_channels == 0 or msg.active_channels & ~limits.allowed_mask():
            return f"channel mask 0x{msg.active_channels:02X} outside configured channels"
        if msg.low_frequency_channels or msg.low_frequency_factor:
            return "low-frequency channels are not used"
        if msg.main_time_code < limits.min_main_time_code:
            return f"main time code {msg.main_time_code} below {limits.min_main_time_code}"
        if msg.group_time_code < limits.min_group_time_code:
            return f"group time code {msg.group_time_code} below {limits.min_group_time_code}"
        if msg.channel_execution != 0:
            return "channel execution must be 0"
        # the mask is within the configured channels (checked above)
        return frozenset(n for n in limits.channels if msg.active_channels >> (n - 1) & 1)

    def stop_frame(self, packet_number: int) -> bytes:
        return sm2.stop_channel_list_mode(packet_number)


def channel_mask(numbers: frozenset[int]) -> int:
    """The ScienceMode2 channel mask of channel numbers 1-8 (bit n-1 = channel n)."""
    mask = 0
    for n in numbers:
        mask |= 1 << (n - 1)
    return mask
