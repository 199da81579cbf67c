"""IMU samples as text lines, the way a microcontroller sketch prints them: encoder and a
sans-I/O decoder.

The format (ours; a sketch prints it with a few `Serial.print` calls):

    seq,gyr_x,gyr_y,gyr_z,acc_x,acc_y,acc_z<CR><LF>

- `seq`: the sample counter, a decimal integer 0 .. 65535, +1 per sample, wrapping
  65535 -> 0 (a uint16, like our binary frames): a gap is a dropped sample. The host unwraps
  it the same way (the first counter seen is the absolute index).
- `gyr_*`: angular velocity in deg/s, `acc_*`: acceleration in g, decimal numbers with a `.`
  point (any number of places; the encoder writes 2 for the gyro, 4 for the accel), sensor
  axes as mounted. Spaces around a field are allowed.
- Line end `LF` or `CR LF` (Arduino's `println`); a lone `CR` inside a line is an error.
- A header line whose first field is `seq` (e.g. `seq,gyr_x,...`) is skipped wherever it
  comes (a sensor that reboots prints it again), counted in `header_lines`.
- Anything else that does not parse (a boot banner, 6 or 8 fields, a number that is not
  finite, a counter out of range, |gyro| > 4000 deg/s or |accel| > 32 g, non-ASCII bytes, a
  line longer than 200 bytes) is a bad line: counted in `lines_bad`, skipped.
- A partial line waits for its end. The first line of a stream the host opened while the
  sensor was already printing may be the tail of a line (its counter cut short but still a
  number): `skip_first_line=True` drops it unless it is the header.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence

from fescontrol.errors import ProtocolError
from fescontrol.sensing.frames import SeqUnwrapper
from fescontrol.sensing.imu_samples import ImuSamples, imu_samples

log = logging.getLogger(__name__)

HEADER = "seq,gyr_x,gyr_y,gyr_z,acc_x,acc_y,acc_z"
FIELDS = 7
MAX_LINE_LEN = 200
LINE_SHOWN = 48
"""Characters of a rejected line kept for the operator."""
GYRO_LIMIT_DPS = 4000.0
ACC_LIMIT_G = 32.0
_COUNTER = re.compile(r"[0-9]{1,5}")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def encode_line(seq: int, gyr_dps: Sequence[float], acc_g: Sequence[float]) -> bytes:
    """One sample as a line (`CR LF` ended): seq modulo 65536, gyro to 0.01 deg/s, accel to 0.0001 g."""
    if seq < 0:
        raise ProtocolError(f"CSV line: sequence {seq} is negative")
    values = [*gyr_dps, *acc_g]
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise ProtocolError(f"CSV line: need 6 finite values, got {values!r}")
    gx, gy, gz, ax, ay, az = values
    return f"{seq & 0xFFFF},{gx:.2f},{gy:.2f},{gz:.2f},{ax:.4f},{ay:.4f},{az:.4f}\r\n".encode("ascii")


def encode_header() -> bytes:
    return (HEADER + "\r\n").encode("ascii")


class CsvLineDecoder:
    """Incremental decoder of IMU CSV lines: bytes in any split, `ImuSamples` out.

    Counters (never reset): `frames_ok` lines decoded; `lines_bad` lines rejected (also as
    `frames_bad`, the name every decoder shares); `header_lines` header lines skipped;
    `frames_out_of_order` lines whose counter did not advance (dropped); `samples_dropped`
    samples missing from counter gaps; `bytes_discarded` bytes of lines not decoded.
    """

    def __init__(self, skip_first_line: bool = False) -> None:
        self._buf = bytearray()
        self._seq = SeqUnwrapper()
        self._skip_first = skip_first_line
        self._overlong = False
        self.frames_ok = 0
        self.lines_bad = 0
        self.header_lines = 0
        self.bytes_discarded = 0
        self.last_rejected: str | None = None
        """The last line rejected and why (a sketch author's missing counter or field shows here)."""

    @property
    def frames_bad(self) -> int:
        return self.lines_bad

    @property
    def frames_out_of_order(self) -> int:
        return self._seq.out_of_order

    @property
    def samples_dropped(self) -> int:
        return self._seq.samples_dropped

    @property
    def sensor_restart(self) -> tuple[int, int] | None:
        """(last counter before, first after) once the counter has started again lower (`SeqUnwrapper`)."""
        return self._seq.restart

    @property
    def bytes_pending(self) -> int:
        """Bytes of a line whose end has not arrived yet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> ImuSamples:
        """Add bytes; return the samples of the lines they completed (possibly none)."""
        self._buf += data
        seqs: list[int] = []
        rows: list[tuple[float, float, float, float, float, float]] = []
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end < 0:
                break
            self._line(bytes(self._buf[start:end]), end + 1 - start, seqs, rows)
            start = end + 1
        del self._buf[:start]
        if len(self._buf) > MAX_LINE_LEN:  # no line end in sight: drop it, count the line once
            self.bytes_discarded += len(self._buf)
            self._buf.clear()
            if not self._overlong:
                self._bad(b"", f"longer than {MAX_LINE_LEN} bytes")
            self._overlong = True
        return imu_samples(seqs, rows)

    def finish(self) -> ImuSamples:
        """End of stream: a last line without its line end is decoded if it is complete."""
        seqs: list[int] = []
        rows: list[tuple[float, float, float, float, float, float]] = []
        if self._buf:
            self._line(bytes(self._buf), len(self._buf), seqs, rows)
            self._buf.clear()
        return imu_samples(seqs, rows)

    def _line(self, raw: bytes, nbytes: int, seqs: list[int],
              rows: list[tuple[float, float, float, float, float, float]]) -> None:
        """Decode one line (without its LF); `nbytes` is what it took of the stream."""
        if self._overlong:  # the tail of a line already counted bad
            self._overlong = False
            self.bytes_discarded += nbytes
            return
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        first, self._skip_first = self._skip_first, False
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            self._bad(raw, "not ASCII", nbytes)
            return
        fields = [f.strip() for f in text.split(",")]
        if fields[0].lower() == "seq":
            self.header_lines += 1
            self.bytes_discarded += nbytes
            return
        if first:
            self.bytes_discarded += nbytes
            log.debug("CSV line %r: first line of the stream, possibly cut, skipped", raw)
            return
        if not raw.strip():
            self.bytes_discarded += nbytes
            return
        if len(fields) != FIELDS:
            self._bad(raw, f"{len(fields)} fields, expected {FIELDS} ({HEADER})", nbytes)
            return
        if not (_COUNTER.fullmatch(fields[0]) and all(_NUMBER.fullmatch(f) for f in fields[1:])):
            self._bad(raw, "a field is not a decimal number", nbytes)
            return
        counter = int(fields[0])
        values = [float(f) for f in fields[1:]]
        if counter > 0xFFFF or "\r" in text:
            self._bad(raw, "counter outside 0 .. 65535 or a stray CR", nbytes)
            return
        if not all(math.isfinite(v) for v in values) or max(abs(v) for v in values[:3]) > GYRO_LIMIT_DPS \
                or max(abs(v) for v in values[3:]) > ACC_LIMIT_G:
            self._bad(raw, f"a value is not finite or beyond +-{GYRO_LIMIT_DPS:g} deg/s / +-{ACC_LIMIT_G:g} g", nbytes)
            return
        absolute = self._seq(counter)
        if absolute is None:
            self.bytes_discarded += nbytes
            return
        seqs.append(absolute)
        gx, gy, gz, ax, ay, az = values
        rows.append((gx, gy, gz, ax, ay, az))
        self.frames_ok += 1

    def _bad(self, raw: bytes, why: str, nbytes: int = 0) -> None:
        self.lines_bad += 1
        self.bytes_discarded += nbytes
        shown = raw[:LINE_SHOWN].decode("ascii", "backslashreplace") + ("..." if len(raw) > LINE_SHOWN else "")
        self.last_rejected = f"{shown!r}: {why}" if raw else why
        log.debug("CSV line %r rejected: %s", raw[:40], why)
