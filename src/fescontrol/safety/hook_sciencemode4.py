"""The gate's decoder hook for the RehaMove3 and the P24 (ScienceMode4 mid level).

Decodes an outgoing frame with the project's ScienceMode4 codec and hands the gate core
neutral values (`safety.hook`): an ``Ml_update`` becomes one setting per configured channel
(a channel the update does not enable is off, so it is a zero setting), so the core's caps,
slew, charge, duty and stuck-on checks apply unchanged. ``Ml_init`` is the set-up (it
prepares every configured channel), ``Ml_stop`` the stop, ``Ml_get_current_data`` (the
keep-alive) and the general status reads change no output.

Refused besides what the codec cannot parse (default deny): any command not on the
allow-list (the low level, ``Reset``), a channel outside the profile, a current off the
whole-mA grid, a pulse that is not charge balanced, a device ramp (the gate measures every
rise itself and a ramp would be the device's), the fine-period flag (UNVERIFIED on RehaMove3,
trap C-17), and a period shorter than the profile and the device allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from fescontrol.errors import ProtocolError
from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.safety.hook import ChannelSetting, Decoded, Kind, Refused
from fescontrol.safety.limits import GateLimits

_KIND = {
    sm4.Cmd.ML_INIT: Kind.SETUP,
    sm4.Cmd.ML_UPDATE: Kind.SETTINGS,
    sm4.Cmd.ML_STOP: Kind.STOP,
    sm4.Cmd.ML_GET_CURRENT_DATA: Kind.OTHER,
    sm4.Cmd.GET_VERSION_MAIN: Kind.OTHER,
    sm4.Cmd.GET_VERSION_STIM: Kind.OTHER,
    sm4.Cmd.GET_EXTENDED_VERSION: Kind.OTHER,
    sm4.Cmd.GET_DEVICE_ID: Kind.OTHER,
    sm4.Cmd.GET_BATTERY_STATUS: Kind.OTHER,
    sm4.Cmd.GET_STIM_STATUS: Kind.OTHER,
    sm4.Cmd.GET_MAIN_STATUS: Kind.OTHER,
}
"""The allow-list: what the host may send, and what each does to the output."""


@dataclass(frozen=True)
class ScienceMode4Hook:
    """Outgoing ScienceMode4 mid-level frames -> neutral settings (keeps no state)."""

    stop_name = "MlStop"
    packet_numbers = sm4.MAX_PACKET_NUMBER + 1

    min_period_us: int
    """Shortest pulse period allowed (`GateLimits.min_period_us`: the profile's frequency and the device cap)."""

    def decode(self, frame: bytes, setup: frozenset[int] | None) -> Decoded | Refused:
        try:
            packet = sm4.decode_frame(frame)
        except ProtocolError:
            return Refused("unknown", "frame does not decode to exactly one valid packet")
        if sm4.encode(packet) != bytes(frame):
            return Refused("unknown", "frame does not round-trip through the codec")
        try:
            cmd = sm4.Cmd(packet.command)
        except ValueError:
            return Refused(f"cmd{packet.command}", "command not in the allow-list")
        name = "".join(part.capitalize() for part in cmd.name.split("_"))
        kind = _KIND.get(cmd)
        if kind is None:
            return Refused(name, "command not in the allow-list")
        try:
            msg = sm4.parse(packet)
        except ProtocolError as exc:
            return Refused(name, f"malformed: {exc}")
        if isinstance(msg, sm4.MlUpdate) and setup is not None:
            return self._settings(msg, name, setup)
        return Decoded(kind, name)

    def _settings(self, msg: sm4.MlUpdate, name: str, setup: frozenset[int]) -> Decoded | Refused:
        by_number: dict[int, ChannelSetting] = {}
        for ch in msg.channels:
            number = ch.channel + 1
            where = f"channel {number}"
            if number not in setup:
                return Refused(name, f"channel mask 0x{msg.enable_mask:02X} outside configured channels")
            if ch.ramp:
                return Refused(name, f"{where}: device ramp {ch.ramp} (the gate judges every rise; ramp must be 0)")
            if ch.fine_period:
                return Refused(name, f"{where}: fine period flag set (unverified on this firmware)")
            period_us = round(ch.period_ms * 1000)
            if period_us < self.min_period_us:
                return Refused(name, f"{where}: period {period_us} us shorter than {self.min_period_us} us")
            setting = _pulse(number, ch.points)
            if isinstance(setting, str):
                return Refused(name, f"{where}: {setting}")
            by_number[number] = setting
        settings = tuple(by_number.get(n, ChannelSetting(n, 0, 0, 0)) for n in sorted(setup))
        return Decoded(Kind.SETTINGS, name, settings)

    def check_setup(self, decoded: Decoded, limits: GateLimits) -> frozenset[int] | str:
        return frozenset(limits.channels)

    def stop_frame(self, packet_number: int) -> bytes:
        return sm4.ml_stop(packet_number)


def _pulse(number: int, points: tuple[sm4.Point, ...]) -> ChannelSetting | str:
    """Largest current, longest phase and largest phase charge of a pulse; or why it is refused.

    A phase is a run of points of one sign; a zero point ends it (the interphase gap).
    """
    net = 0
    peak = 0
    runs: list[tuple[int, int, int]] = []  # (sign, width us, charge nC) of each run of one sign, zero runs too
    for point in points:
        if point.current_ma != int(point.current_ma):
            return f"current {point.current_ma} mA is not a whole mA"
        current = int(point.current_ma)
        net += current * point.time_us
        peak = max(peak, abs(current))
        sign = (current > 0) - (current < 0)
        if runs and runs[-1][0] == sign:
            _, width, charge = runs.pop()
            runs.append((sign, width + point.time_us, charge + abs(current) * point.time_us))
        else:
            runs.append((sign, point.time_us, abs(current) * point.time_us))
    if net:
        return f"pulse is not charge balanced (net {net} nC)"
    phases = [(width, charge) for sign, width, charge in runs if sign]
    return ChannelSetting(number, peak, max((w for w, _ in phases), default=0), max((c for _, c in phases), default=0))
