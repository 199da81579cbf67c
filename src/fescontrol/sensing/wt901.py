"""WitMotion WT901 / JY901 "standard protocol" packets: encoders and a sans-I/O decoder.

Every packet is 11 bytes: `0x55`, a type byte, four int16 little-endian values, and a
checksum that is the low byte of the sum of the first 10 bytes. Types read here:
`0x51` accel x, y, z (v / 32768 * 16 g) and temperature (v / 100 degC); `0x52` gyro x, y, z
(v / 32768 * 2000 deg/s) and temperature or voltage; `0x53` roll, pitch, yaw
(v / 32768 * 180 deg) and a version; `0x50` the sensor's date and time (YY MM DD hh mm ss as
bytes, then milliseconds as uint16 little-endian). Other packet types (0x54 .. 0x5A, 0x5F) with
a valid checksum are skipped. The scales follow the ranges the sensor is set to (its
GYRORANGE / ACCRANGE registers), given to the decoder; the defaults are the sensor's
+-16 g and +-2000 deg/s.

One sample is one output cycle: its gyro packet (what the detector needs), with the accel
packet sent before it in the same cycle (the sensor sends 0x51, 0x52, 0x53 ... in that order each
cycle). WT901 packets carry no counter: the sample index is the arrival order, so a lost packet
must not shift it, or every later sample would be placed one period early (and the session's
clock-drift check would end it after a few dozen lost packets). So:

* a gyro packet with no accel before it is still a sample, with NaN accel: the accel packet was
  lost (counted in `pairs_broken` once the stream has shown accel packets), or the sensor sends
  none (output set to gyro only, RSW = 0x04: a lean setting for 200 Hz on a slow link);
* two accel packets in a row, in a stream that carries gyro packets, mean the first cycle's
  gyro packet was lost: that cycle is a gap of one in the sample index (`samples_dropped`,
  `pairs_broken`), which the host fills and counts as it does a lost counted frame. An accel-only
  stream (no gyro packet ever) gives no samples.

A whole lost cycle cannot be seen in the packets above: only the session's clock-drift check
sees it, as sample time running behind wall time, beyond the rate error a session allows a
sensor's clock (`safety.max_sensor_rate_error_pct`, 3 %: fewer lost cycles go unseen). A WT901 set to send its time packet too (0x50,
RSW bit 0x01; it comes first in each cycle) places every sample by the sensor's own clock: a
decoder told the output rate numbers a gyro packet from the time of its cycle, counted from the
last sample that had one, so lost cycles become gaps in the index (`samples_dropped`), as a lost
frame of a counted sensor does. A cycle whose time packet was lost, or whose time does not lie
ahead of the last sample's (the clock was set back), is numbered in arrival order and is the
new reference. The time packet's date and time are the sensor's own (it need not be set).

The 8-bit sum is weak: about 1 in 256 corrupted packets passes it.
"""

from __future__ import annotations

import datetime
import logging
import math
import struct
from collections.abc import Sequence

import numpy as np

from fescontrol.errors import ProtocolError
from fescontrol.sensing.imu_samples import ImuSamples

log = logging.getLogger(__name__)

HEADER = 0x55
PACKET_LEN = 11
TYPE_TIME = 0x50
TYPE_ACC = 0x51
TYPE_GYRO = 0x52
TYPE_ANGLE = 0x53
TYPE_READBACK = 0x5F
KNOWN_TYPES = frozenset(range(0x50, 0x5B)) | {TYPE_READBACK}
ACC_RANGE_G = 16.0
GYRO_RANGE_DPS = 2000.0
ANGLE_RANGE_DEG = 180.0
FULL_SCALE = 32768.0
RATES_HZ = (10.0, 20.0, 50.0, 100.0, 200.0)
"""Output rates the WT901 offers (RRATE 0x06 .. 0x0B; 125 Hz is the WT931's only)."""
BAUDS = (4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
"""Baud rates of the BAUD register (codes 1 .. 9)."""
DEFAULT_BAUD = 115200


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The WT901 checksum: the low byte of the sum of the bytes."""
    return sum(data) & 0xFF


def encode_packet(ptype: int, values: Sequence[int]) -> bytes:
    """One packet of `ptype` with four raw int16 values (each within -32768 .. 32767)."""
    if not 0 <= ptype <= 0xFF or len(values) != 4:
        raise ProtocolError(f"WT901 packet: type 0x{ptype:X} with {len(values)} values (need a byte and 4 values)")
    for v in values:
        if not -0x8000 <= v <= 0x7FFF:
            raise ProtocolError(f"WT901 packet type 0x{ptype:02X}: raw value {v} outside int16")
    body = bytes((HEADER, ptype)) + struct.pack("<4h", *values)
    return body + bytes((checksum(body),))


def _raw(what: str, value: float, full_scale: float) -> int:
    """A value as the sensor's raw int16: v / full_scale * 32768, rounded, saturated."""
    if not math.isfinite(value):
        raise ProtocolError(f"WT901 {what}: {value!r} is not a finite number")
    return min(max(round(value / full_scale * FULL_SCALE), -0x8000), 0x7FFF)


def encode_accel(acc_g: Sequence[float], temperature_c: float = 25.0, range_g: float = ACC_RANGE_G) -> bytes:
    """An accel packet (0x51): x, y, z in g (saturated at the range) and the temperature."""
    raw = [_raw(f"accel {a}", v, range_g) for a, v in zip("xyz", acc_g)]
    return encode_packet(TYPE_ACC, [*raw, _raw("temperature", temperature_c, 327.68)])


def encode_gyro(gyr_dps: Sequence[float], temperature_c: float = 25.0, range_dps: float = GYRO_RANGE_DPS) -> bytes:
    """A gyro packet (0x52): x, y, z in deg/s (saturated at the range) and the temperature."""
    raw = [_raw(f"gyro {a}", v, range_dps) for a, v in zip("xyz", gyr_dps)]
    return encode_packet(TYPE_GYRO, [*raw, _raw("temperature", temperature_c, 327.68)])


def encode_angle(angle_deg: Sequence[float], version: int = 0) -> bytes:
    """An angle packet (0x53): roll, pitch, yaw in deg (+-180) and the firmware version."""
    raw = [_raw(f"angle {a}", v, ANGLE_RANGE_DEG) for a, v in zip(("roll", "pitch", "yaw"), angle_deg)]
    return encode_packet(TYPE_ANGLE, [*raw, version])


MS_PER_DAY = 86_400_000
TIME_EPOCH = datetime.date(2000, 1, 1)
"""The time packet counts years from 2000; times here are milliseconds since its first day."""


def encode_time(t_ms: int) -> bytes:
    """A time packet (0x50) for `t_ms` milliseconds since 2000-01-01 00:00:00 (years 2000-2255):
    YY MM DD hh mm ss as bytes, then the milliseconds as a little-endian uint16."""
    if not 0 <= t_ms < (datetime.date(2256, 1, 1) - TIME_EPOCH).days * MS_PER_DAY:
        raise ProtocolError(f"WT901 time packet: {t_ms} ms is outside the years 2000-2255 it can carry")
    day, ms_of_day = divmod(t_ms, MS_PER_DAY)
    date = TIME_EPOCH + datetime.timedelta(days=day)
    seconds, ms = divmod(ms_of_day, 1000)
    body = bytes((HEADER, TYPE_TIME, date.year - 2000, date.month, date.day, seconds // 3600, seconds // 60 % 60,
                  seconds % 60)) + struct.pack("<H", ms)
    return body + bytes((checksum(body),))


def decode_time(payload: bytes | bytearray | memoryview) -> int | None:
    """Milliseconds since 2000-01-01 of a time packet's 8 payload bytes; None for a date or time
    that cannot be (month 13, hour 24, ms 1000, ...)."""
    yy, mo, dd, hh, mi, ss = payload[:6]
    ms = payload[6] | payload[7] << 8
    if hh > 23 or mi > 59 or ss > 59 or ms > 999:
        return None
    try:
        day = (datetime.date(2000 + yy, mo, dd) - TIME_EPOCH).days
    except ValueError:
        return None
    return ((day * 24 + hh) * 60 + mi) * 60_000 + ss * 1000 + ms


def encode_sample(gyr_dps: Sequence[float], acc_g: Sequence[float], time_ms: int | None = None) -> bytes:
    """One output cycle as the sensor sends it with accel and gyro enabled: 0x51 then 0x52; with
    the time enabled too (`time_ms`), its 0x50 packet first."""
    head = b"" if time_ms is None else encode_time(time_ms)
    return head + encode_accel(acc_g) + encode_gyro(gyr_dps)


class Wt901Decoder:
    """Incremental WT901 decoder: bytes in any split, `ImuSamples` out (index = arrival order,
    or by the sensor's time packets).

    Hunts `0x55`; with 11 bytes buffered, a bad checksum or a type byte that is no WT901
    type drops ONE byte and hunts again (as the vendor SDK does), so a packet right behind
    garbage is never lost. Counters (never reset): `frames_ok` accel, gyro, angle and time
    packets decoded; `frames_bad` rejected packets (and time packets whose date cannot be);
    `frames_skipped` other valid packet types; `pairs_broken` cycles that lost their accel or their gyro packet (see the module
    docstring); `samples_dropped` cycles that lost their gyro packet, or (placed by time
    packets) whole cycles, each a gap in the index; `bytes_discarded` bytes that were no
    accepted packet. `last_angle_deg` (roll, pitch, yaw), `last_temperature_c` and
    `last_time_ms` hold the latest values.

    `rate_hz` is the sensor's output rate: with it, time packets place the samples; without it
    (None) they are only read.
    """

    def __init__(self, acc_range_g: float = ACC_RANGE_G, gyro_range_dps: float = GYRO_RANGE_DPS,
                 rate_hz: float | None = None) -> None:
        if not (math.isfinite(acc_range_g) and acc_range_g > 0 and math.isfinite(gyro_range_dps) and gyro_range_dps > 0):
            raise ProtocolError(f"WT901 ranges must be positive: accel {acc_range_g!r} g, gyro {gyro_range_dps!r} deg/s")
        if rate_hz is not None and not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ProtocolError(f"WT901 output rate must be positive: {rate_hz!r} Hz")
        self._acc_scale = acc_range_g / FULL_SCALE
        self._gyro_scale = gyro_range_dps / FULL_SCALE
        self._period_ms = None if rate_hz is None else 1000.0 / rate_hz
        self._cycle_time_ms: int | None = None
        """The time packet of the cycle under way (since the last gyro packet)."""
        self._time_ref: tuple[int, int] | None = None
        """(time, index) of the last sample placed with a time packet."""
        self._buf = bytearray()
        self._acc: tuple[int, int, int] | None = None
        self._acc_seen = False
        self._gyro_seen = False
        self._next_seq = 0
        self.frames_ok = 0
        self.frames_bad = 0
        self.last_rejected: str | None = None
        """Why the last bad packet was rejected."""
        self.frames_skipped = 0
        self.pairs_broken = 0
        self.bytes_discarded = 0
        self.samples_dropped = 0
        self.last_angle_deg: tuple[float, float, float] | None = None
        self.last_temperature_c: float | None = None
        self.last_time_ms: int | None = None

    @property
    def sensor_restart(self) -> None:
        """Always None: WT901 packets carry no counter that could start again."""
        return None

    @property
    def bytes_pending(self) -> int:
        """Bytes held back as the possible start of a packet that has not fully arrived."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> ImuSamples:
        """Add bytes; return the samples completed by them (possibly none)."""
        self._buf += data
        return self._parse(final=False)

    def finish(self) -> ImuSamples:
        """End of stream: an unfinished packet is bad; a half pair is broken."""
        out = self._parse(final=True)
        self.bytes_discarded += len(self._buf)
        self._buf.clear()
        self.pairs_broken += self._acc is not None
        self._acc = None
        return out

    def _parse(self, final: bool) -> ImuSamples:
        buf = self._buf
        seqs: list[int] = []
        rows: list[tuple[float, ...]] = []
        i = 0
        n = len(buf)
        while True:
            j = buf.find(HEADER, i)
            if j < 0:
                self.bytes_discarded += n - i
                i = n
                break
            self.bytes_discarded += j - i
            i = j
            if n - i < PACKET_LEN:
                if final and n > i:
                    self._reject(i, "truncated at end of stream")
                    i += 1
                    continue
                break
            ptype = buf[i + 1]
            if ptype not in KNOWN_TYPES:
                self._reject(i, f"type 0x{ptype:02X} is no WT901 packet")
                i += 1
                continue
            if checksum(memoryview(buf)[i:i + 10]) != buf[i + 10]:
                self._reject(i, f"bad checksum 0x{buf[i + 10]:02X}")
                i += 1
                continue
            values = struct.unpack_from("<4h", buf, i + 2)
            i += PACKET_LEN
            if ptype == TYPE_ACC:
                self.frames_ok += 1
                self._acc_seen = True
                self.last_temperature_c = values[3] / 100.0
                if self._acc is not None:  # the last cycle's gyro packet was lost
                    self._broken("accel packet without its gyro packet")
                    if self._gyro_seen:
                        self.samples_dropped += 1
                        self._next_seq += 1
                self._acc = (values[0], values[1], values[2])
            elif ptype == TYPE_GYRO:
                self.frames_ok += 1
                self._gyro_seen = True
                if self._acc is None and self._acc_seen:  # the cycle's accel (sent first) was lost
                    self._broken("gyro packet without its accel packet: accel NaN")
                seq = self._place_by_time()
                seqs.append(seq)
                self._next_seq = seq + 1
                acc = (math.nan,) * 3 if self._acc is None else tuple(v * self._acc_scale for v in self._acc)
                rows.append(tuple(v * self._gyro_scale for v in values[:3]) + acc)
                self._acc = None
            elif ptype == TYPE_TIME:
                t_ms = decode_time(memoryview(buf)[i - PACKET_LEN + 2:i - 1])
                if t_ms is None:
                    self.frames_bad += 1
                    log.debug("WT901 time packet with an impossible date or time: ignored")
                else:
                    self.frames_ok += 1
                    self.last_time_ms = self._cycle_time_ms = t_ms
            elif ptype == TYPE_ANGLE:
                self.frames_ok += 1
                self.last_angle_deg = (values[0] * ANGLE_RANGE_DEG / FULL_SCALE,
                                       values[1] * ANGLE_RANGE_DEG / FULL_SCALE,
                                       values[2] * ANGLE_RANGE_DEG / FULL_SCALE)
            else:
                self.frames_skipped += 1
        del buf[:i]
        values6 = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return ImuSamples(seq=np.asarray(seqs, dtype=np.int64), gyr_dps=values6[:, :3].copy(),
                          acc_g=values6[:, 3:].copy())

    @property
    def no_sample_because(self) -> str | None:
        """Why valid packets made no sample: a WT901 whose gyroscope output is off sends accel and
        angle packets only (None once a gyro packet has come, or before any packet)."""
        if self.frames_ok and not self._gyro_seen:
            return (f"{self.frames_ok} WT901 packets and none of them a gyroscope packet (type 0x52): turn the "
                    "sensor's gyro output on (RSW bit 0x04, in WitMotion's software)")
        return None

    def _place_by_time(self) -> int:
        """The index of this cycle's gyro packet: by its time packet when there is one and the
        rate is known, counted from the last sample placed so; else the next in arrival order.
        Cycles lost whole between the two are counted as dropped."""
        expected = self._next_seq
        t_ms, self._cycle_time_ms = self._cycle_time_ms, None
        if t_ms is None or self._period_ms is None:
            return expected
        seq = expected
        if self._time_ref is not None:
            ref_ms, ref_seq = self._time_ref
            placed = ref_seq + round((t_ms - ref_ms) / self._period_ms)
            if placed > expected:
                self.samples_dropped += placed - expected
                seq = placed
        self._time_ref = (t_ms, seq)
        return seq

    def _broken(self, why: str) -> None:
        self.pairs_broken += 1
        log.debug("WT901 %s: dropped", why)

    def _reject(self, pos: int, why: str) -> None:
        self.frames_bad += 1
        self.bytes_discarded += 1
        self.last_rejected = why
        log.debug("WT901 packet at buffer offset %d rejected: %s", pos, why)
