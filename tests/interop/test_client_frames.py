"""The published clients' own frame builders and parsers against the project's codecs (no pty).

Exhaustive over packet numbers and byte values where that is cheap: each client quirk is
pinned to the exact inputs that trigger it, so a fixed client release makes these fail.
"""

from __future__ import annotations

import pytest

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol import sciencemode4 as sm4

psm_utils = pytest.importorskip("pysciencemode.utils")
psm = pytest.importorskip("pysciencemode")
sm4_client = pytest.importorskip("science_mode_4")

QUIRKY_PN = {10, 15, 85, 129, 240}  # F0, 0F, 81 (special) and 55, 0A (pysciencemode's extra "special" bytes)
INIT_DATA = [0, 0b11, 0, 13, 0, 48, 0]


def decode_one(frame: bytes, lenient: bool = False) -> sm2.Packet:
    decoder = sm2.Decoder(lenient=lenient)
    (item,) = decoder.feed(frame)
    assert isinstance(item, sm2.Packet), item
    assert decoder.pending == 0 and decoder.bytes_discarded == 0
    return item


@pytest.mark.parametrize("name,data", [("Watchdog", None), ("StopChannelListMode", None),
                                       ("InitChannelListMode", INIT_DATA), ("StartChannelListMode", [0, 1, 44, 30])])
def test_pysciencemode_frames_equal_ours_except_at_the_xored_packet_numbers(name: str, data: list[int] | None) -> None:
    command = psm.Rehastim2Commands[name].value
    differing = set()
    for pn in range(256):
        theirs = psm_utils.packet_construction(pn, name, list(data) if data else None)
        ours = sm2.encode_packet(pn, command, bytes(data or []))
        packet = decode_one(theirs)  # always a valid frame: CRC and length cover what it sent
        assert (packet.command, packet.data) == (command, bytes(data or []))
        if theirs != ours:
            differing.add(pn)
            assert packet.packet_number == sm2.pysciencemode_xor(pn) != pn  # the device reads another pn
            assert len(theirs) == len(ours) - (pn in sm2.SPECIAL_BYTES)  # no 81 escape byte
    assert differing == QUIRKY_PN


def test_pysciencemode_get_stimulation_mode_is_command_5f_which_only_lenient_maps_back() -> None:
    for pn in range(256):
        frame = psm_utils.packet_construction(pn, "GetStimulationMode")
        strict = decode_one(frame)
        assert strict.command == 0x5F and strict.quirks == ()
        with pytest.raises(sm2.ProtocolError, match="unknown ScienceMode2 command 95"):
            sm2.parse(strict)
        lenient = decode_one(frame, lenient=True)
        assert lenient.command == sm2.Cmd.GET_STIMULATION_MODE
        assert lenient.quirks == (sm2.QUIRK_XOR_COMMAND,)
        assert sm2.parse(lenient) == sm2.GetStimulationMode(sm2.pysciencemode_xor(pn))
    assert psm_utils.packet_construction(1, "GetStimulationMode") == bytes.fromhex("f0 81 da 81 57 01 5f 0f")


def test_pysciencemode_over_escapes_55_and_0a_and_both_modes_read_the_right_value() -> None:
    for current in range(256):
        frame = psm_utils.packet_construction(3, "StartChannelListMode", [0, 1, 44, current])
        for lenient in (False, True):
            packet = decode_one(frame, lenient)
            assert packet.data == bytes([0, 1, 44, current])
            assert packet.quirks == ((sm2.QUIRK_OVER_ESCAPED,) if current in (0x55, 0x0A) else ())
    assert psm_utils.packet_construction(3, "StartChannelListMode", [0, 1, 0x55, 0x0A]).endswith(
        bytes.fromhex("20 00 01 81 00 81 5f 0f"))


def test_pysciencemode_init_ack_packet_number_for_every_init() -> None:
    wrong = set()
    for pn in range(256):
        init = sm2.init(pn)
        answer = psm.RehastimGeneric._init_ack(init[5])  # what Rehastim2.__init__ sends: raw offset 5
        packet = decode_one(answer)
        assert packet.command == sm2.Cmd.INIT_ACK and packet.data == b"\x00"
        assert packet.packet_number == sm2.pysciencemode_init_ack_pn(pn)
        if packet.packet_number != pn:
            wrong.add(pn)
    assert wrong == QUIRKY_PN


class _Bytes(sm4_client.Connection):
    """The client's own Connection interface, fed with fixed bytes (what a serial port returned)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self) -> None: ...

    def close(self) -> None: ...

    def is_open(self) -> bool:
        return True

    def clear_buffer(self) -> None: ...

    def _read_intern(self) -> bytes:
        out, self.data = self.data, b""
        return out


def test_science_mode_4_loses_the_next_frame_after_leading_garbage() -> None:
    first = sm4.ack(1, sm4.Cmd.ML_INIT_ACK, 0)  # two acks as the device sends them
    second = sm4.ack(2, sm4.Cmd.ML_STOP_ACK, 0)
    wire = b"\x00\x00" + first + second
    ours = sm4.Decoder().feed(wire)
    assert [(p.packet_number, p.command) for p in ours if isinstance(p, sm4.Packet)] == [
        (1, sm4.Cmd.ML_INIT_ACK), (2, sm4.Cmd.ML_STOP_ACK)]
    # the client slices its buffer at start + stop + 1 with an absolute stop (C-2 trap 20)
    buffer = sm4_client.PacketBuffer(_Bytes(wire), sm4_client.PacketFactory())
    got = buffer.get_packet_from_buffer()
    assert (got.command, got.number) == (sm4.Cmd.ML_INIT_ACK, 1)
    assert buffer.get_packet_from_buffer() is None  # the second frame is gone
    assert buffer.buffer == second[2:]
    clean = sm4_client.PacketBuffer(_Bytes(first + second), sm4_client.PacketFactory())
    assert [clean.get_packet_from_buffer().number for _ in range(2)] == [1, 2]  # without garbage both arrive
