"""What a sensor sends when it sends nothing the session can read: every other known wire
format tried on the same bytes, so the fault names the option to change instead of a guess.

A sensor read in the wrong format (a WT901 read as `--sensor-format imu6`, an IMU on a force
profile, a force sensor read as `csv`) sends bytes and never one valid sample. Before, the
session waited `safety.sensor_first_sample_ms` (10 s) and then could only say "N bytes arrived
and none formed a valid sample". Until the first valid sample of its own format, the loop also
feeds every byte it reads to a `FormatSniffer`, which runs a fresh decoder of each other format
over them; once one of them has decoded `MIN_SAMPLES` samples (checksummed frames or well-formed
lines: noise and a wrong baud rate form none), the loop ends the session at once with a fault
that says what the sensor sends and which option reads it. Nothing was stimulated: without a
sample the gate allows no output. Sans-I/O: bytes in, counts out.
"""

from __future__ import annotations

from fescontrol.control.sensor_input import FORCE_FORMAT, IMU_FORMATS, SensorInput, make_sensor_input

SNIFF_FORMATS: tuple[str, ...] = (FORCE_FORMAT, *IMU_FORMATS)
MIN_SAMPLES = 20
"""Samples of one other format that name it (0.2 s at 100 Hz). A checksummed frame or a line of
seven numbers is not formed by chance, but a few might be; twenty in a row are not."""
SNIFF_LIMIT_BYTES = 65536
"""Bytes tried at most (at 115200 bit/s, 5.7 s of a stream): a bound on work and memory."""

WHAT_THEY_ARE = {
    FORCE_FORMAT: "heel-switch or insole frames (type 0x01 / 0x03)",
    "imu6": "6-axis IMU frames (type 0x02, imu6)",
    "wt901": "WitMotion WT901 packets (wt901)",
    "csv": "IMU text lines (csv)",
}
"""Each wire format as an operator knows it (`force` is no `--sensor-format` value)."""
ONE_OF_THEM = {
    FORCE_FORMAT: "heel-switch or insole frame (type 0x01 / 0x03)",
    "imu6": "6-axis IMU frame (type 0x02, imu6)",
    "wt901": "WitMotion WT901 packet (wt901)",
    "csv": "IMU text line (csv)",
}


def one_of(fmt: str) -> str:
    """One sample's unit of a wire format, named for the operator."""
    return ONE_OF_THEM.get(fmt, fmt)


def remedy(found: str, session_format: str) -> str:
    """What to change so that the session reads what the sensor sends."""
    if found == FORCE_FORMAT:
        return ("a force profile reads them: run without --sensor-format, with a heel-switch or insole "
                "profile (the embedded default, or --profile configs/patients/example.toml)")
    if session_format == FORCE_FORMAT:
        return (f"an IMU profile reads them: run with --sensor-format {found} (without --profile it takes the "
                "embedded IMU profile; or --profile configs/patients/imu-default.toml)")
    return f"run with --sensor-format {found}"


class FormatSniffer:
    """Decoders of every format but the session's, fed the same bytes; counts their samples."""

    def __init__(self, session_format: str | None, rate_hz: float) -> None:
        """`session_format` None: every format is tried (`fescontrol ports --listen`)."""
        self.session_format = session_format
        self._inputs: dict[str, SensorInput] = {
            fmt: make_sensor_input(fmt, rate_hz) for fmt in SNIFF_FORMATS if fmt != session_format}
        self.samples: dict[str, int] = dict.fromkeys(self._inputs, 0)
        self.bytes_tried = 0

    def feed(self, data: bytes) -> None:
        """Bytes the session's own decoder read and made no sample of (up to `SNIFF_LIMIT_BYTES`)."""
        if self.bytes_tried >= SNIFF_LIMIT_BYTES:
            return
        self.bytes_tried += len(data)
        for fmt, sensor_input in self._inputs.items():
            seq, _ = sensor_input.feed(data)
            self.samples[fmt] += len(seq)

    def found(self) -> str | None:
        """The format these bytes are, once one has formed `MIN_SAMPLES` samples (the most, if several)."""
        best = max(self.samples, key=lambda fmt: self.samples[fmt], default=None)
        return best if best is not None and self.samples[best] >= MIN_SAMPLES else None

    def reason(self) -> str:
        """The fault's reason once `found` names a format."""
        found = self.found()
        if found is None or self.session_format is None:
            raise ValueError("no other format found yet, or no session format")
        return (f"the sensor sends {WHAT_THEY_ARE[found]}, not the {WHAT_THEY_ARE[self.session_format]} this "
                f"session reads: its first {self.bytes_tried} bytes formed {self.samples[found]} {found} samples and none the "
                f"session reads; {remedy(found, self.session_format)}")
