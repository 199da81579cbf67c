"""The live loop's sensor input: which decoder reads the sensor port, and how a lost sample is filled.

The profile's detector kind says what the sensor is: a force kind (`heel_switch`,
`adaptive_heel`, `insole`) reads our heel / insole frames (types 0x01 / 0x03); an IMU kind
(`foot_imu`, `shank_imu`) reads an IMU in one of the wire formats of
`fescontrol.sensing.imu_decoders` (`imu6`: our frame type 0x02, the default; `wt901`;
`csv`), chosen with `run --sensor-format` (`simulate --sensor` picks it from the emulated
sensor). Every input hands the loop the unwrapped sample index and the CONTRACT columns
(`heel_N`, `fore_N`; or `gyr_*_dps`, `acc_*_g`).

Sample time is the sensor's own counter. A WT901 has none: its samples are numbered in
arrival order (a cycle that lost only its gyro packet still takes its number, as a gap: see
`sensing.wt901`), so a whole lost WT901 cycle is invisible to the loss and gap checks; only
the clock-drift check (sample time against wall time) sees a sensor that sends fewer samples
than its rate says, by more than the rate error allowed (`safety.max_sensor_rate_error_pct`).
A WT901 that also sends its time packet (0x50) has its samples placed by that time and the
session's rate: then lost cycles are gaps like any lost frame.

A lost sample (a gap in the counter, up to the profile's stale limit) is filled before the
detector sees it: a force sensor holds the last value (a heel that was loaded stays loaded,
an unloaded one stays unloaded: the interlocks cannot be outrun by a gap), an IMU gives NaN.
NaN is "no evidence" to the gyro detector: it neither starts nor ends a swing on it and its
timers and time-outs run on, whereas a held angular velocity would repeat a real value and
could stretch a swing lobe that never happened. It is also what batch replay feeds for a gap
in a recording, so live and batch replay of one IMU recording decide alike.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fescontrol.core.detectors import IMU_KINDS
from fescontrol.errors import ConfigError
from fescontrol.sensing.csv_lines import CsvLineDecoder
from fescontrol.sensing.frames import FrameDecoder
from fescontrol.sensing.imu_decoders import IMU_DECODERS, ImuDecoder, make_imu_decoder

FORCE_FORMAT = "force"
"""Our heel-switch / insole frames: the only wire format of the force kinds."""
DEFAULT_IMU_FORMAT = "imu6"
IMU_FORMATS: tuple[str, ...] = tuple(IMU_DECODERS)


def sensor_format_for(detector_kind: str, requested: str | None) -> str:
    """The wire format the session decodes: `force` for a force detector, the requested IMU
    format (default `imu6`) for an IMU detector. A format that does not fit the detector is
    bad input: the message names the option, the value and what is allowed."""
    if detector_kind in IMU_KINDS:
        fmt = requested or DEFAULT_IMU_FORMAT
        if fmt not in IMU_FORMATS:
            raise ConfigError(f"--sensor-format {fmt!r}: the profile's detector is kind = {detector_kind!r} (an IMU); "
                              f"allowed: {', '.join(IMU_FORMATS)}")
        return fmt
    if requested not in (None, FORCE_FORMAT):
        raise ConfigError(f"--sensor-format {requested!r}: the profile's detector is kind = {detector_kind!r}, a "
                          "force sensor (heel / insole frames); an IMU format needs an IMU profile "
                          "(kind = \"foot_imu\" or \"shank_imu\", e.g. configs/patients/imu-default.toml)")
    return FORCE_FORMAT


class SensorInput(Protocol):
    """What the loop reads the sensor through."""

    holds_lost: bool
    """True: a lost sample holds the last value (force); False: it is NaN (IMU)."""

    @property
    def frames_bad(self) -> int: ...

    @property
    def bytes_discarded(self) -> int: ...

    @property
    def samples_dropped(self) -> int: ...

    @property
    def sensor_restart(self) -> tuple[int, int] | None:
        """(last counter before, first after) once the sensor's counter started again lower."""
        ...

    @property
    def last_rejected(self) -> str | None:
        """Why the last bad frame or line was rejected (None: none was)."""
        ...

    @property
    def no_sample_because(self) -> str | None:
        """Why valid frames made no sample, where a format can tell (a WT901 with its gyro off)."""
        ...

    def feed(self, data: bytes) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Bytes in; the sample indices (int64) and the CONTRACT columns of the samples completed."""
        ...


class _DecoderCounts:
    """The link-health counters of the wrapped decoder, as the loop logs them."""

    decoder: FrameDecoder | ImuDecoder

    @property
    def frames_bad(self) -> int:
        return self.decoder.frames_bad

    @property
    def bytes_discarded(self) -> int:
        return self.decoder.bytes_discarded

    @property
    def samples_dropped(self) -> int:
        return self.decoder.samples_dropped

    @property
    def sensor_restart(self) -> tuple[int, int] | None:
        return self.decoder.sensor_restart

    @property
    def last_rejected(self) -> str | None:
        return self.decoder.last_rejected

    @property
    def no_sample_because(self) -> str | None:
        why = getattr(self.decoder, "no_sample_because", None)  # only some formats can tell
        return why if isinstance(why, str) else None


class ForceInput(_DecoderCounts):
    """Heel-switch and insole frames (`FrameDecoder`): columns `heel_N`, `fore_N`."""

    decoder: FrameDecoder

    holds_lost = True

    def __init__(self) -> None:
        self.decoder = FrameDecoder()

    def feed(self, data: bytes) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        s = self.decoder.feed(data)
        return s.seq, {"heel_N": s.heel_N, "fore_N": s.fore_N}


class ImuInput(_DecoderCounts):
    """An IMU in one of the formats of `sensing.imu_decoders`: the six CONTRACT IMU columns."""

    holds_lost = False

    def __init__(self, fmt: str, rate_hz: float) -> None:
        # a host opens a CSV sensor mid-line: the first line may be a tail, so it is dropped
        self.decoder: ImuDecoder = (CsvLineDecoder(skip_first_line=True) if fmt == "csv"
                                    else make_imu_decoder(fmt, rate_hz))

    def feed(self, data: bytes) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        s = self.decoder.feed(data)
        return s.seq, s.columns()


def make_sensor_input(fmt: str, rate_hz: float) -> SensorInput:
    """The input for a format `sensor_format_for` returned, from a sensor at `rate_hz`."""
    return ForceInput() if fmt == FORCE_FORMAT else ImuInput(fmt, rate_hz)
