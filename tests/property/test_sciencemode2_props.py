"""Property tests: whatever is encoded decodes back, whatever the splits and line noise."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.sciencemode2 import Decoder, Packet

packets = st.builds(
    Packet,
    packet_number=st.integers(0, 255),
    command=st.integers(0, 255),
    data=st.binary(max_size=sm2.MAX_DATA_LEN),
)
garbage = st.binary(max_size=40).map(lambda b: b.replace(b"\xf0", b""))


def _feed_in_pieces(decoder: Decoder, stream: bytes, cuts: list[int]) -> list[object]:
    out: list[object] = []
    last = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts):
        out += decoder.feed(stream[last:cut])
        last = cut
    out += decoder.feed(stream[last:])
    return out


@settings(max_examples=300, deadline=None)
@given(packet=packets, prefix=garbage, cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_round_trip_with_splits_and_garbage_prefix(packet: Packet, prefix: bytes, cuts: list[int]) -> None:
    frame = sm2.encode(packet)
    assert len(frame) <= sm2.MAX_FRAME_LEN
    d = Decoder()
    assert _feed_in_pieces(d, prefix + frame, cuts) == [packet]
    assert (d.frames_ok, d.frames_bad, d.bytes_discarded, d.pending) == (1, 0, len(prefix), 0)


@settings(max_examples=150, deadline=None)
@given(items=st.lists(st.tuples(garbage, packets), min_size=1, max_size=5),
       cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_stream_of_frames_with_noise_between(items: list[tuple[bytes, Packet]], cuts: list[int]) -> None:
    stream = b"".join(noise + sm2.encode(p) for noise, p in items)
    d = Decoder()
    assert _feed_in_pieces(d, stream, cuts) == [p for _noise, p in items]
    assert d.bytes_discarded == sum(len(noise) for noise, _p in items)


@settings(max_examples=200, deadline=None)
@given(packet=packets)
def test_stuffed_body_has_no_delimiters_and_unstuffs(packet: Packet) -> None:
    body = bytes((packet.packet_number, packet.command)) + packet.data
    stuffed = sm2.stuff(body)
    assert sm2.START not in stuffed.replace(b"\x81\xa5", b"")
    assert sm2.unstuff(stuffed) == body
    assert sm2.decode_frame(sm2.encode(packet)) == packet


@settings(max_examples=200, deadline=None)
@given(noise=st.binary(max_size=300), packet=packets)
def test_decoder_survives_arbitrary_noise_and_then_decodes(noise: bytes, packet: Packet) -> None:
    d = Decoder()
    d.feed(noise)
    assert d.pending <= sm2.MAX_FRAME_LEN
    # an F0 always ends any half-read span, so a fresh frame is never lost after noise
    got = d.feed(sm2.encode(packet))
    assert got[-1] == packet


@settings(max_examples=200, deadline=None)
@given(packet=packets)
def test_lenient_reads_our_own_frames_as_strict_does(packet: Packet) -> None:
    frame = sm2.encode(packet)
    strict, lenient = Decoder(), Decoder(lenient=True)
    (s,) = strict.feed(frame)
    (le,) = lenient.feed(frame)
    assert s == packet and isinstance(s, Packet) and s.quirks == () and not strict.quirks
    assert isinstance(le, Packet)
    if packet.command in sm2.PYSCIENCEMODE_XORED_COMMANDS:  # 5F: no command of ours, pysciencemode's GetStimulationMode
        assert le.command == sm2.PYSCIENCEMODE_XORED_COMMANDS[packet.command] == sm2.Cmd.GET_STIMULATION_MODE
        assert le.quirks == (sm2.QUIRK_XOR_COMMAND,) and lenient.quirks == {sm2.QUIRK_XOR_COMMAND: 1}
    else:
        assert le == packet and le.quirks == () and not lenient.quirks


@settings(max_examples=200, deadline=None)
@given(packet=packets, escape=st.lists(st.booleans(), min_size=sm2.MAX_DATA_LEN, max_size=sm2.MAX_DATA_LEN))
@example(packet=Packet(0, 0x5F, b""), escape=[False] * sm2.MAX_DATA_LEN)  # the lenient command quirk alone
def test_over_escaped_data_decodes_to_the_same_bytes_and_is_counted(packet: Packet, escape: list[bool]) -> None:
    head = sm2.stuff(bytes((packet.packet_number, packet.command)))
    body = head + b"".join(bytes((sm2.ESC, b ^ sm2.KEY)) if (esc or b in sm2.SPECIAL_BYTES) else bytes((b,))
                           for b, esc in zip(packet.data, escape))
    frame = bytes((sm2.START, sm2.ESC, sm2.crc8(body) ^ sm2.KEY, sm2.ESC, len(body) ^ sm2.KEY)) + body + bytes((sm2.STOP,))
    extra = sum(1 for b, esc in zip(packet.data, escape) if esc and b not in sm2.SPECIAL_BYTES)
    assert sm2.over_escaped(body) == extra
    for lenient in (False, True):
        d = Decoder(lenient=lenient)
        (got,) = d.feed(frame)
        assert isinstance(got, Packet) and got.data == packet.data
        # (in lenient mode a command 5F is a quirk of its own too: pysciencemode's unescaped 0A)
        assert (sm2.QUIRK_OVER_ESCAPED in got.quirks) == bool(extra)
        assert d.quirks.get(sm2.QUIRK_OVER_ESCAPED, 0) == (1 if extra else 0)
