"""Start/stop framing shared by the ScienceMode2 and ScienceMode3/4 codecs, sans-I/O.

Both protocols put a byte-stuffed body between a start byte F0 and a stop byte 0F and
escape F0, 0F and 81 as ``81, b^55`` (stimulators.md A.2, B.2). Only the header fields, the
length and checksum check and what a valid frame becomes differ; those stay in each codec.
This module holds the part that is the same, so one fix reaches both: the stuffing, and an
incremental scanner that cuts a byte stream into start..stop spans, resyncs after garbage
and counts what it drops. Stdlib only: the safety gate decodes every frame through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, Protocol, TypeVar, cast

from fescontrol.errors import ProtocolError

START = 0xF0
STOP = 0x0F
ESC = 0x81
KEY = 0x55
SPECIAL_BYTES = frozenset({START, STOP, ESC})

TRUNCATED = "truncated: start byte before stop byte"


def stuff(body: bytes) -> bytes:
    """Escape F0, 0F and 81 as ``81, b^55`` so the body never holds a delimiter."""
    out = bytearray()
    for byte in body:
        if byte in SPECIAL_BYTES:
            out += bytes((ESC, byte ^ KEY))
        else:
            out.append(byte)
    return bytes(out)


def unstuff(stuffed: bytes) -> bytes:
    """Undo :func:`stuff`; any byte after 81 is un-XORed, since some hosts over-escape (C-2)."""
    out = bytearray()
    it = iter(stuffed)
    for byte in it:
        if byte == ESC:
            nxt = next(it, None)
            if nxt is None:
                raise ProtocolError("stuffed body ends with a dangling escape byte 0x81")
            out.append(nxt ^ KEY)
        else:
            out.append(byte)
    return bytes(out)


def unstuff_lenient(stuffed: bytes) -> bytes:
    """Best-effort unstuffing of a damaged body, only to recover packet number and command."""
    try:
        return unstuff(stuffed)
    except ProtocolError:
        return unstuff(stuffed[:-1])


def _scan(buf: bytearray, pos: int, i: int, max_len: int) -> tuple[str, int]:
    """From the F0 at ``pos``, continuing at ``i``: find the stop byte, a restarting F0, or ask for more.

    A module function, not a method: it runs on every feed, and a byte-wise feeder calls it per byte.
    """
    limit = min(len(buf), pos + max_len)
    while i < limit:
        byte = buf[i]
        if byte == ESC:
            i += 2
        elif byte == START:
            return "restart", i
        elif byte == STOP:
            return "stop", i
        else:
            i += 1
    if len(buf) - pos >= max_len:
        return "overlong", -1
    return "more", i


class _Bad(Protocol):
    """What :func:`decode_exactly_one` reads of a codec's bad frame."""

    @property
    def reason(self) -> str: ...


PacketT = TypeVar("PacketT")
BadT = TypeVar("BadT", bound=_Bad)


class FrameDecoder(ABC, Generic[PacketT, BadT]):
    """Incremental start..stop scanner: feed bytes in any split, get packets and bad frames back.

    Hunt F0 (with ``start_needs_escape``, an F0 not followed by 81 is noise); take the first 0F
    that is not the byte after an 81 (an escaped header field may be a raw 0F/F0/81); restart
    at a raw F0 seen before the stop byte; give up on a span after ``max_frame_len`` bytes.
    A failed span whose hidden F0 (behind an 81) starts a valid frame yields a truncated head
    plus that frame, so a frame cut off right after an escape byte does not also cost the next
    one. The scan resumes where it stopped, so byte-wise feeding stays linear; the buffer
    never holds more than one partial frame.

    A codec subclasses this with its limits, ``_packet_type``, ``_check_frame`` (one span from
    F0 to 0F -> packet or bad frame) and ``_bad_span``; ``_accept`` may rewrite a valid packet.
    Counters: ``bytes_in`` bytes fed; ``bytes_since_packet`` bytes fed after the last valid
    frame (all of them before the first); ``frames_ok`` valid frames; ``frames_bad`` bad frames
    returned (their bytes are in ``raw``); ``bytes_discarded`` bytes outside any start..stop span.
    """

    max_frame_len: int
    start_needs_escape = False
    _packet_type: type[PacketT]

    def __init__(self) -> None:
        self._buf = bytearray()
        self._resume = 0
        self.bytes_in = 0
        self.bytes_since_packet = 0
        self.frames_ok = 0
        self.frames_bad = 0
        self.bytes_discarded = 0

    @property
    def pending(self) -> int:
        """Bytes held back as the start of a frame not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[PacketT | BadT]:
        """Add received bytes; return every frame they complete, in order."""
        return [item for _raw, item in self.feed_with_raw(data)]

    def feed_with_raw(self, data: bytes) -> list[tuple[bytes, PacketT | BadT]]:
        """Like :meth:`feed`, with each item's exact wire bytes (for logs)."""
        buf = self._buf
        buf += data
        self.bytes_in += len(data)
        self.bytes_since_packet += len(data)
        ok_before = self.frames_ok
        out: list[tuple[bytes, PacketT | BadT]] = []
        max_len = self.max_frame_len
        needs_escape = self.start_needs_escape
        pos = 0
        n = len(buf)
        while pos < n:
            start = buf.find(START, pos)
            if start < 0:
                self.bytes_discarded += n - pos
                pos = n
                break
            if start != pos:
                self.bytes_discarded += start - pos
                pos = start
                self._resume = 0
            if needs_escape:
                if pos + 1 >= n:
                    break
                if buf[pos + 1] != ESC:
                    self.bytes_discarded += 1
                    pos += 1
                    self._resume = 0
                    continue
            kind, idx = _scan(buf, pos, pos + max(1, self._resume), max_len)
            if kind == "more":
                self._resume = idx - pos
                break
            self._resume = 0
            if kind == "overlong":
                # drop up to the next F0, even one behind an 81: it may start a real frame
                nxt = buf.find(START, pos + 1, pos + max_len)
                end = nxt if nxt > 0 else pos + max_len
                raw = bytes(buf[pos:end])
                out.append((raw, self._bad(self._bad_span(f"no stop byte within {max_len} bytes", raw))))
                pos = end
            elif kind == "restart":
                raw = bytes(buf[pos:idx])
                out.append((raw, self._bad(self._bad_span(TRUNCATED, raw))))
                pos = idx
            else:
                raw = bytes(buf[pos:idx + 1])
                out.extend(self._judge(raw))
                pos = idx + 1
                if self.frames_ok != ok_before:  # a valid frame ends here: count from its end
                    ok_before = self.frames_ok
                    self.bytes_since_packet = n - pos
        del buf[:pos]
        return out

    def _judge(self, raw: bytes) -> list[tuple[bytes, PacketT | BadT]]:
        result = self._check_frame(raw)
        if isinstance(result, self._packet_type):
            self.frames_ok += 1
            return [(raw, self._accept(raw, result))]
        for k in range(1, len(raw) - 1):
            if raw[k] == START:
                tail = raw[k:]
                inner = self._check_frame(tail)
                if isinstance(inner, self._packet_type):
                    head = raw[:k]
                    self.frames_ok += 1
                    return [(head, self._bad(self._bad_span(TRUNCATED, head))), (tail, self._accept(tail, inner))]
        return [(raw, self._bad(cast(BadT, result)))]  # not a packet, so the codec's bad frame

    def _bad(self, bad: BadT) -> BadT:
        self.frames_bad += 1
        return bad

    @abstractmethod
    def _check_frame(self, raw: bytes) -> PacketT | BadT:
        """Validate one span from F0 to 0F: the codec's header, length and checksum."""

    @abstractmethod
    def _bad_span(self, reason: str, raw: bytes) -> BadT:
        """A bad frame for a span the scanner rejected before any header check."""

    def _accept(self, raw: bytes, packet: PacketT) -> PacketT:
        """Hook for a valid frame (a codec may name host quirks here); unchanged by default."""
        return packet


def decode_exactly_one(decoder: FrameDecoder[PacketT, BadT], frame: bytes, protocol: str) -> PacketT:
    """The packet of ``frame`` fed to a fresh ``decoder``, if it is one valid frame and nothing else.

    What a gate needs before it forwards a frame: any bad span, stray byte, partial tail or
    second frame raises :class:`ProtocolError` naming it.
    """
    items = decoder.feed(frame)
    if len(items) == 1 and isinstance(items[0], decoder._packet_type) and not decoder.pending \
            and not decoder.bytes_discarded:
        return items[0]
    reasons = [cast(_Bad, item).reason for item in items if not isinstance(item, decoder._packet_type)]
    detail = "; ".join(reasons) or f"{len(items)} frames, {decoder.pending} bytes incomplete, " \
                                    f"{decoder.bytes_discarded} stray bytes"
    raise ProtocolError(f"not exactly one valid {protocol} frame: {detail}")
