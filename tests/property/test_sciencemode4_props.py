"""Property tests: whatever is encoded decodes back, whatever the splits and line noise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.protocol.sciencemode4 import BadFrame, Decoder, MlChannel, MlUpdate, Packet, Point

packets = st.builds(
    Packet,
    packet_number=st.integers(0, sm4.MAX_PACKET_NUMBER),
    command=st.integers(0, sm4.MAX_COMMAND),
    # 593 data bytes fit a 1200-byte frame even if every byte (prefix included) is escaped
    data=st.one_of(st.binary(max_size=40), st.binary(max_size=593)),
)
special_heavy = st.lists(st.sampled_from([0xF0, 0x0F, 0x81, 0x55, 0x00]), max_size=60).map(bytes)
garbage = st.binary(max_size=40).map(lambda b: b.replace(b"\xf0", b""))
noise = st.one_of(st.binary(max_size=40), special_heavy)

points = st.builds(Point, time_us=st.integers(0, sm4.MAX_POINT_TIME_US),
                   current_ma=st.integers(-260, 260).map(lambda half: half / 2))


@st.composite
def ml_channels(draw: st.DrawFn) -> tuple[MlChannel, ...]:
    indices = draw(st.lists(st.integers(0, sm4.MAX_CHANNELS - 1), min_size=1, max_size=8, unique=True))
    channels = []
    for index in sorted(indices):
        fine = draw(st.booleans())
        code = draw(st.integers(1, 0x7FFF if fine else 2 * int(sm4.MAX_PERIOD_MS)))
        channels.append(MlChannel(index, code / (4 if fine else 2),
                                  tuple(draw(st.lists(points, min_size=1, max_size=sm4.MAX_POINTS))),
                                  draw(st.integers(0, sm4.MAX_RAMP)), fine))
    return tuple(channels)


def _feed_in_pieces(decoder: Decoder, stream: bytes, cuts: list[int]) -> list[Packet | BadFrame]:
    out: list[Packet | BadFrame] = []
    last = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts):
        out += decoder.feed(stream[last:cut])
        last = cut
    out += decoder.feed(stream[last:])
    return out


@settings(max_examples=300, deadline=None)
@given(packet=packets, prefix=garbage, cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_round_trip_with_splits_and_garbage_prefix(packet: Packet, prefix: bytes, cuts: list[int]) -> None:
    frame = sm4.encode(packet)
    assert len(frame) <= sm4.MAX_FRAME_LEN
    assert (frame[2] ^ 0x55) << 8 | (frame[4] ^ 0x55) == len(frame)
    d = Decoder()
    assert _feed_in_pieces(d, prefix + frame, cuts) == [packet]
    assert (d.frames_ok, d.frames_bad, d.bytes_discarded, d.pending) == (1, 0, len(prefix), 0)


@settings(max_examples=150, deadline=None)
@given(items=st.lists(st.tuples(garbage, packets), min_size=1, max_size=5),
       cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_stream_of_frames_with_garbage_between(items: list[tuple[bytes, Packet]], cuts: list[int]) -> None:
    stream = b"".join(g + sm4.encode(p) for g, p in items)
    d = Decoder()
    assert _feed_in_pieces(d, stream, cuts) == [p for _g, p in items]
    assert d.bytes_discarded == sum(len(g) for g, _p in items) and d.frames_bad == 0


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(noise, packets), min_size=1, max_size=4), tail=noise,
       cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_interleaved_noise_with_start_bytes_never_costs_a_frame(
        items: list[tuple[bytes, Packet]], tail: bytes, cuts: list[int]) -> None:
    """Noise may hold F0, 81 and 0F: it can become bad frames, but every real frame survives."""
    stream = b"".join(n + sm4.encode(p) for n, p in items) + tail
    d = Decoder()
    got = _feed_in_pieces(d, stream, cuts)
    assert [item for item in got if isinstance(item, Packet)] == [p for _n, p in items]
    assert d.frames_ok == len(items) and d.frames_bad == len(got) - len(items)
    assert d.pending <= sm4.MAX_FRAME_LEN


@settings(max_examples=200, deadline=None)
@given(packet=packets)
def test_stuffed_body_has_no_delimiters_and_unstuffs(packet: Packet) -> None:
    frame = sm4.encode(packet)
    body = frame[9:-1]
    assert sm4.START not in body.replace(b"\x81\xa5", b"")
    assert sm4.STOP not in body.replace(b"\x81\x5a", b"")
    prefix = (packet.packet_number << 10 | packet.command).to_bytes(2, "big")
    assert sm4.unstuff(body) == prefix + packet.data
    assert sm4.decode_frame(frame) == packet


@settings(max_examples=150, deadline=None)
@given(pn=st.integers(0, sm4.MAX_PACKET_NUMBER), channels=ml_channels(),
       cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_ml_update_round_trip(pn: int, channels: tuple[MlChannel, ...], cuts: list[int]) -> None:
    if not sm4.pulse_load(channels) < 1000:
        return  # the builder refuses it; covered by the unit tests
    frame = sm4.ml_update(pn, list(reversed(channels)))
    (packet,) = _feed_in_pieces(Decoder(), frame, cuts)
    assert isinstance(packet, Packet)
    assert sm4.parse(packet) == MlUpdate(pn, channels)


@settings(max_examples=200, deadline=None)
@given(noise_bytes=st.binary(max_size=1500), packet=packets)
def test_decoder_survives_arbitrary_noise_and_then_decodes(noise_bytes: bytes, packet: Packet) -> None:
    d = Decoder()
    d.feed(noise_bytes)
    assert d.pending <= sm4.MAX_FRAME_LEN
    got = d.feed(sm4.encode(packet))
    assert got[-1] == packet


@settings(max_examples=100, deadline=None)
@given(pn=st.integers(0, sm4.MAX_PACKET_NUMBER), result=st.integers(0, 255),
       selection=st.sampled_from(sorted(sm4.STATUS_LEN)), data=st.data())
def test_current_data_ack_round_trip(pn: int, result: int, selection: int, data: st.DataObject) -> None:
    if selection == sm4.DataSelection.CHANNELS:
        status = sm4.channel_status(data.draw(st.integers(0, 255)), data.draw(st.lists(st.integers(0, 3),
                                                                                       min_size=8, max_size=8)))
    else:
        eight = selection == sm4.DataSelection.STIMULATION_EIGHT_CHANNELS
        status = sm4.stimulation_status(data.draw(st.booleans()), data.draw(st.integers(0, 0xFF if eight else 0x0F)),
                                        eight_channels=eight)
    msg = sm4.parse(sm4.decode_frame(sm4.ml_get_current_data_ack(pn, result, selection, status)))
    assert msg == sm4.CurrentDataAck(pn, result, selection, status)
    assert len(msg.channel_states) == (4 if selection == sm4.DataSelection.STIMULATION else 8)
