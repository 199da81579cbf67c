"""Our own sensor wire format (heel switch / FSR, insole, 6-axis IMU), encoders and the sans-I/O decoders.

The format is small enough for any microcontroller: two sync bytes, a type, a length, a
16-bit sequence counter (so a lost frame is seen, not guessed) and a CRC-8 a table-less
MCU can compute bit by bit. The decoder does no I/O and reads no clock; sample time is
the unwrapped sequence counter over the sensor's rate.
"""

from __future__ import annotations

import logging
import math
import struct
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fescontrol.crc import crc8_smbus
from fescontrol.errors import ProtocolError
from fescontrol.sensing.imu_samples import ImuSamples

log = logging.getLogger(__name__)

SYNC1 = 0xA5
SYNC2 = 0x5A
SYNC = bytes((SYNC1, SYNC2))
TYPE_HEEL = 0x01
TYPE_IMU6 = 0x02  # 6-axis IMU: decoded by ImuFrameDecoder, skipped by the force decoder
TYPE_INSOLE = 0x03  # heel cell and forefoot (sum of the forefoot cells)
HEEL_PAYLOAD_LEN = 2
HEEL_FRAME_LEN = 9
INSOLE_PAYLOAD_LEN = 4
INSOLE_FRAME_LEN = 11
# the payload length each decoded type must declare (a wrong one is a bad frame at once)
PAYLOAD_LEN = {TYPE_HEEL: HEEL_PAYLOAD_LEN, TYPE_INSOLE: INSOLE_PAYLOAD_LEN}
HEADER_LEN = 6          # sync1, sync2, type, length, seq lo, seq hi
MAX_PAYLOAD_LEN = 32    # longer declared lengths are corrupt: bounds how long a bad header stalls
HEEL_UNIT_N = 0.1
HEEL_MAX_N = 6553.5
IMU6_PAYLOAD_LEN = 12
IMU6_FRAME_LEN = 19
GYRO_UNIT_DPS = 0.1     # int16: +-3276.7 deg/s, room for a +-2000 deg/s gyro
ACC_UNIT_G = 0.001      # int16: +-32.767 g, room for a +-16 g accelerometer

SENSOR_FRAME_DOC = """\
One frame per sample, little-endian. A heel-switch / FSR frame is 9 bytes, an insole frame
(heel and forefoot force) 11 bytes, a 6-axis IMU frame 19 bytes.

| offset | size | field | value |
|---|---|---|---|
| 0 | 1 | sync 1 | `0xA5` |
| 1 | 1 | sync 2 | `0x5A` |
| 2 | 1 | type | `0x01` heel switch / FSR; `0x02` 6-axis IMU; `0x03` insole (heel + forefoot) |
| 3 | 1 | payload length `n` | `0x02` for type `0x01`, `0x0C` for type `0x02`, `0x04` for type `0x03`; at most 32 for any type |
| 4 | 2 | sequence counter | uint16 LE, +1 per sample, wraps 65535 -> 0 |
| 6 | n | payload | type `0x01`: heel force, uint16 LE, unit 0.1 N (0 .. 6553.5 N) |
| | | | type `0x02`: gyro x, y, z (bytes 6-11), each int16 LE, unit 0.1 deg/s (+-3276.7 deg/s); |
| | | | then accel x, y, z (bytes 12-17), each int16 LE, unit 0.001 g (+-32.767 g); sensor axes as mounted |
| | | | type `0x03`: heel force (bytes 6-7), then forefoot force (bytes 8-9: the sum of the forefoot cells), each uint16 LE, unit 0.1 N |
| 6+n | 1 | CRC-8 | CRC-8/SMBUS (poly `0x07`, init `0x00`, no reflection, no final XOR) over bytes 2 .. 5+n |

Worked example: sample 1 at 700.0 N -> `A5 5A 01 02 01 00 58 1B 1E`
(7000 = `0x1B58`; CRC-8 over `01 02 01 00 58 1B` = `0x1E`).
Insole: sample 1, heel 700.0 N, forefoot 250.0 N -> `A5 5A 03 04 01 00 58 1B C4 09 ED`
(2500 = `0x09C4`; CRC-8 over `03 04 01 00 58 1B C4 09` = `0xED`).
IMU: sample 1, gyro (12.5, 350.0, -3.2) deg/s, accel (0.25, 0.0, -1.0) g ->
`A5 5A 02 0C 01 00 7D 00 AC 0D E0 FF FA 00 00 00 18 FC 4B`
(125 = `0x007D`, 3500 = `0x0DAC`, -32 = `0xFFE0`, 250 = `0x00FA`, -1000 = `0xFC18`;
CRC-8 over bytes 2 .. 17 = `0x4B`).

The receiver resynchronises on the next `A5 5A` after any bad frame (bad CRC, bad length),
searching from the byte after the failed sync. Frames of other types with a valid CRC are
skipped, so a sensor may add frame types without breaking older hosts. A gap in the
sequence counter is a dropped sample; the host unwraps the counter and takes the first
counter it sees as the absolute sample index (it opens the stream before the first wrap).
Heel and insole frames share one counter; the decoder gives every sample `heel_N` and
`fore_N` (NaN for a heel-only frame). IMU frames are read by their own decoder (the force
decoder skips them, and the IMU decoder skips force frames). The IMU units leave room for a
+-2000 deg/s gyro and a +-16 g accelerometer; the encoder saturates at the int16 range.
"""


def _force_units(what: str, force_N: float) -> int:
    """A force as wire units: clamped to 0..6553.5 N, rounded to 0.1 N (halves up)."""
    if not math.isfinite(force_N):
        raise ProtocolError(f"{what}: force {force_N!r} N is not a finite number")
    return min(int(math.floor(min(max(force_N, 0.0), HEEL_MAX_N) * 10.0 + 0.5)), 0xFFFF)


def _frame(ftype: int, seq: int, payload: bytes) -> bytes:
    s = seq & 0xFFFF
    body = bytes((ftype, len(payload), s & 0xFF, s >> 8)) + payload
    return SYNC + body + bytes((crc8_smbus(body),))


def encode_heel_frame(seq: int, heel_N: float) -> bytes:
    """Encode one heel sample; seq is taken modulo 65536, force clamped to 0..6553.5 N.

    The force is rounded to the nearest 0.1 N (halves up), the resolution of the wire.
    """
    if seq < 0:
        raise ProtocolError(f"heel frame: sequence {seq} is negative")
    units = _force_units("heel frame", heel_N)
    return _frame(TYPE_HEEL, seq, bytes((units & 0xFF, units >> 8)))


def encode_insole_frame(seq: int, heel_N: float, fore_N: float) -> bytes:
    """Encode one insole sample (type 0x03): heel force, then forefoot force (the sum of the
    forefoot cells); same clamping and rounding as `encode_heel_frame`."""
    if seq < 0:
        raise ProtocolError(f"insole frame: sequence {seq} is negative")
    heel = _force_units("insole frame heel", heel_N)
    fore = _force_units("insole frame forefoot", fore_N)
    return _frame(TYPE_INSOLE, seq, bytes((heel & 0xFF, heel >> 8, fore & 0xFF, fore >> 8)))


@dataclass(frozen=True, eq=False)
class SensorSamples:
    """Decoded force samples: unwrapped sequence numbers (int64), heel force and forefoot
    force in N (float64). `fore_N` is NaN for samples from heel-only frames (type 0x01), so
    a consumer that needs the forefoot sees at once that the sensor does not send it."""

    seq: np.ndarray
    heel_N: np.ndarray
    fore_N: np.ndarray

    def __len__(self) -> int:
        return int(self.seq.size)


HeelSamples = SensorSamples
"""The former name (heel-only decoding); the same class."""


RESTART_RUN = 5
"""Frames in a row whose counters run on from a lower value (k, k+1, ...) that make a restarted sensor."""


class SeqUnwrapper:
    """A 16-bit sample counter mapped to the absolute sample index.

    The first counter seen is the absolute index (the stream is opened within the first
    wrap); a counter that does not advance, or jumps by half the range (32768) or more, is
    "not newer" (a duplicate, an older frame, a restarted sensor) and gets None. Shared by
    our binary frames and the CSV-line decoder, which carry the same uint16 counter.

    A sensor that restarted (a brown-out, a watchdog reset) counts again from a low value:
    every later frame is "not newer", and the host would see only silence. RESTART_RUN such
    frames in a row, counting on from each other, set `restart` to (the last counter before,
    the first after) once, so the host can name the cause at once instead of waiting for its
    sensor-lost limit; a lone late or repeated frame does not.
    """

    def __init__(self) -> None:
        self._last_raw: int | None = None
        self._last_abs = -1
        self._stale_next: int | None = None
        self._stale_first = 0
        self._stale_run = 0
        self.samples_dropped = 0
        self.out_of_order = 0
        self.restart: tuple[int, int] | None = None

    def __call__(self, raw: int) -> int | None:
        if self._last_raw is None:
            self._last_raw = raw
            self._last_abs = raw
            return raw
        delta = (raw - self._last_raw) & 0xFFFF
        if delta == 0 or delta >= 0x8000:
            self.out_of_order += 1
            log.debug("sensor sample seq %d does not advance on %d; dropped", raw, self._last_raw)
            self._note_stale(raw, self._last_raw)
            return None
        self._stale_run = 0
        self._stale_next = None
        self.samples_dropped += delta - 1
        self._last_raw = raw
        self._last_abs += delta
        return self._last_abs

    def _note_stale(self, raw: int, last_raw: int) -> None:
        if raw == self._stale_next:
            self._stale_run += 1
        else:
            self._stale_run = 1
            self._stale_first = raw
        self._stale_next = (raw + 1) & 0xFFFF
        if self._stale_run >= RESTART_RUN and self.restart is None:
            self.restart = (last_raw, self._stale_first)


class _FrameStream(ABC):
    """The framing all our frame types share: hunt `A5 5A`, check the length and CRC-8,
    unwrap the counter. Subclasses name the types they decode (with their payload length)
    and turn one accepted frame into a row; frames of other types with a valid CRC are
    skipped (a sensor may add types without breaking older hosts)."""

    decoded: dict[int, int] = {}   # frame type -> its payload length

    def __init__(self) -> None:
        self._buf = bytearray()
        self._seq = SeqUnwrapper()
        self.frames_ok = 0
        self.frames_bad = 0
        self.frames_skipped = 0
        self.frames_out_of_order = 0
        self.bytes_discarded = 0
        self.last_rejected: str | None = None
        """Why the last bad frame was rejected (a firmware's wrong CRC or length shows here)."""

    @property
    def samples_dropped(self) -> int:
        """Samples missing from sequence gaps."""
        return self._seq.samples_dropped

    @property
    def sensor_restart(self) -> tuple[int, int] | None:
        """(last counter before, first after) once the counter has started again lower (`SeqUnwrapper`)."""
        return self._seq.restart

    @property
    def bytes_pending(self) -> int:
        """Bytes held back as the possible start of a frame that has not fully arrived."""
        return len(self._buf)

    def _push(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def _parse(self, final: bool) -> list[int]:
        """Consume the buffer; call `_row(ftype, frame)` for each accepted frame and return
        the absolute sample indices of those rows."""
        buf = self._buf
        seqs: list[int] = []
        i = 0
        n = len(buf)
        while True:
            j = buf.find(SYNC, i)
            if j < 0:
                # keep a trailing 0xA5: it may be the first sync byte of the next frame
                keep = 1 if n > i and buf[n - 1] == SYNC1 else 0
                self.bytes_discarded += n - i - keep
                i = n - keep
                break
            self.bytes_discarded += j - i
            i = j
            if n - i < 4:
                if final:
                    self._reject(i, "truncated at end of stream")
                    i += 1
                    continue
                break
            ftype = buf[i + 2]
            plen = buf[i + 3]
            if plen > MAX_PAYLOAD_LEN or self.decoded.get(ftype, plen) != plen:
                self._reject(i, f"bad length {plen} for type 0x{ftype:02X}")
                i += 1
                continue
            end = i + HEADER_LEN + plen + 1
            if n < end:
                if final:
                    self._reject(i, "truncated at end of stream")
                    i += 1
                    continue
                break
            crc = crc8_smbus(memoryview(buf)[i + 2:end - 1])
            if crc != buf[end - 1]:
                self._reject(i, f"bad CRC 0x{buf[end - 1]:02X}, expected 0x{crc:02X}")
                i += 1
                continue
            if ftype not in self.decoded:
                self.frames_skipped += 1
                i = end
                continue
            absolute = self._seq(buf[i + 4] | (buf[i + 5] << 8))
            if absolute is None:
                self.frames_out_of_order += 1
                self.bytes_discarded += end - i  # a well-formed frame, but not used
            else:
                seqs.append(absolute)
                self._row(ftype, buf, i)
                self.frames_ok += 1
            i = end
        del buf[:i]
        return seqs

    @abstractmethod
    def _row(self, ftype: int, buf: bytearray, i: int) -> None:
        """Take the payload of the accepted frame that starts at buf[i]."""

    def _finish(self) -> list[int]:
        seqs = self._parse(final=True)
        self.bytes_discarded += len(self._buf)
        self._buf.clear()
        return seqs

    def _reject(self, pos: int, why: str) -> None:
        """Count a bad frame; its first byte is discarded, the rest is searched again."""
        self.frames_bad += 1
        self.bytes_discarded += 1
        self.last_rejected = why
        log.debug("sensor frame at buffer offset %d rejected: %s", pos, why)


class FrameDecoder(_FrameStream):
    """Incremental decoder: feed it bytes in any split, get the complete force samples.

    Heel frames (type 0x01) and insole frames (type 0x03) are decoded; every sample has
    `heel_N` and `fore_N` (NaN for a heel frame). Both types share the sequence counter.

    Counters (never reset; a caller diffs them per tick):
    `frames_ok` force frames decoded (`frames_heel` + `frames_insole`, by type: the live
    loop checks that the sensor sends the kind its profile names); `frames_bad` frames
    rejected for a bad CRC or a bad length (a type 0x01 frame whose length is not 2, a type
    0x03 frame whose length is not 4, or any length above 32), whatever the type;
    `frames_skipped` well-formed frames of another type (valid CRC; IMU frames, type 0x02,
    included: `ImuFrameDecoder` reads those);
    `frames_out_of_order` force frames whose counter did not advance (a duplicate or an
    older frame; dropped, so sample time never goes back); `samples_dropped` samples
    missing from sequence gaps; `bytes_discarded` bytes not part of an accepted frame
    (garbage, and every byte of a bad frame that is not the start of a later good one).

    Sequence unwrapping assumes the first counter seen is the absolute sample index (the
    stream is opened within the first wrap) and that no gap reaches half the counter range
    (32768 samples, 5.5 min at 100 Hz): a jump of 32768 or more reads as "older frame".
    A sensor that restarts its counter therefore yields out-of-order frames until the
    counter passes the old one; the caller's stale-sensor check must treat that as a loss.

    A false header (an `A5 5A` inside garbage) with a plausible length holds the bytes
    behind it until the declared frame is complete: at most 38 bytes, about 4 heel frames,
    after which its CRC fails and those frames are decoded. At end of stream, call
    `finish()` so a last false header does not hold back the final samples.
    """

    decoded = PAYLOAD_LEN

    def __init__(self) -> None:
        super().__init__()
        self.frames_heel = 0
        self.frames_insole = 0
        self._heels: list[int] = []
        self._fores: list[int] = []  # -1: no forefoot in this frame

    def feed(self, data: bytes | bytearray | memoryview) -> SensorSamples:
        """Add bytes; return the samples completed by them (possibly none)."""
        self._push(data)
        return self._samples(self._parse(final=False))

    def finish(self) -> SensorSamples:
        """End of stream: an unfinished frame can never complete, so count it bad and
        decode any frames behind it (a false header must not swallow the last samples)."""
        return self._samples(self._finish())

    def _row(self, ftype: int, buf: bytearray, i: int) -> None:
        self._heels.append(buf[i + 6] | (buf[i + 7] << 8))
        if ftype == TYPE_INSOLE:
            self._fores.append(buf[i + 8] | (buf[i + 9] << 8))
            self.frames_insole += 1
        else:
            self._fores.append(-1)
            self.frames_heel += 1

    def _samples(self, seqs: list[int]) -> SensorSamples:
        fore = np.asarray(self._fores, dtype=np.float64)
        fore = np.where(fore < 0, np.nan, fore * HEEL_UNIT_N)
        out = SensorSamples(seq=np.asarray(seqs, dtype=np.int64),
                            heel_N=np.asarray(self._heels, dtype=np.float64) * HEEL_UNIT_N,
                            fore_N=fore)
        self._heels.clear()
        self._fores.clear()
        return out


# -- 6-axis IMU frames (type 0x02) -------------------------------------------------------------------

def _int16_units(what: str, value: float, per_unit: float) -> int:
    """A value as int16 wire units: rounded (halves up), saturated at -32768 .. 32767."""
    if not math.isfinite(value):
        raise ProtocolError(f"{what}: {value!r} is not a finite number")
    return min(max(int(math.floor(value * per_unit + 0.5)), -0x8000), 0x7FFF)


def encode_imu_frame(seq: int, gyr_dps: Sequence[float], acc_g: Sequence[float]) -> bytes:
    """Encode one 6-axis sample (type 0x02): gyro x, y, z in deg/s, accel x, y, z in g.

    Rounded to the wire's 0.1 deg/s and 0.001 g (halves up) and saturated at the int16 range
    (+-3276.7 deg/s, +-32.767 g), as a sensor's own range would saturate; seq modulo 65536.
    """
    if seq < 0:
        raise ProtocolError(f"IMU frame: sequence {seq} is negative")
    if len(gyr_dps) != 3 or len(acc_g) != 3:
        raise ProtocolError(f"IMU frame: need 3 gyro and 3 accel values, got {len(gyr_dps)} and {len(acc_g)}")
    units = [_int16_units(f"IMU frame gyro {a}", v, 1.0 / GYRO_UNIT_DPS) for a, v in zip("xyz", gyr_dps)]
    units += [_int16_units(f"IMU frame accel {a}", v, 1.0 / ACC_UNIT_G) for a, v in zip("xyz", acc_g)]
    return _frame(TYPE_IMU6, seq, struct.pack("<6h", *units))


class ImuFrameDecoder(_FrameStream):
    """Incremental decoder of our 6-axis IMU frames (type 0x02), the twin of `FrameDecoder`:
    bytes in any split, `ImuSamples` out, the same resync, unwrapping and counters
    (`frames_ok`, `frames_bad`, `frames_skipped` (force frames and other types with a valid
    CRC), `frames_out_of_order`, `samples_dropped`, `bytes_discarded`, `bytes_pending`).
    A type 0x02 frame whose length is not 12 is a bad frame at once."""

    decoded = {TYPE_IMU6: IMU6_PAYLOAD_LEN}

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[tuple[int, ...]] = []

    def feed(self, data: bytes | bytearray | memoryview) -> ImuSamples:
        """Add bytes; return the samples completed by them (possibly none)."""
        self._push(data)
        return self._samples(self._parse(final=False))

    def finish(self) -> ImuSamples:
        """End of stream: count an unfinished frame bad, decode what is behind it."""
        return self._samples(self._finish())

    def _row(self, ftype: int, buf: bytearray, i: int) -> None:
        self._rows.append(struct.unpack_from("<6h", buf, i + HEADER_LEN))

    def _samples(self, seqs: list[int]) -> ImuSamples:
        raw = np.asarray(self._rows, dtype=np.float64).reshape(-1, 6)
        self._rows.clear()
        return ImuSamples(seq=np.asarray(seqs, dtype=np.int64), gyr_dps=raw[:, :3] * GYRO_UNIT_DPS,
                          acc_g=raw[:, 3:] * ACC_UNIT_G)
