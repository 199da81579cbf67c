"""The IMU decoders by name: the seam a profile or a command line picks a wire format through.

Every IMU decoder has the same shape (`ImuDecoder`): `feed(bytes) -> ImuSamples`,
`finish() -> ImuSamples`, and the counters `frames_ok`, `frames_bad`, `samples_dropped`,
`bytes_discarded`, `bytes_pending`. Adding a format is one module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fescontrol.errors import ConfigError
from fescontrol.sensing.csv_lines import CsvLineDecoder
from fescontrol.sensing.frames import ImuFrameDecoder
from fescontrol.sensing.imu_samples import ImuSamples
from fescontrol.sensing.wt901 import Wt901Decoder


class ImuDecoder(Protocol):
    frames_ok: int
    bytes_discarded: int
    last_rejected: str | None

    @property
    def frames_bad(self) -> int: ...

    @property
    def samples_dropped(self) -> int: ...

    @property
    def bytes_pending(self) -> int: ...

    @property
    def sensor_restart(self) -> tuple[int, int] | None: ...

    def feed(self, data: bytes | bytearray | memoryview) -> ImuSamples: ...

    def finish(self) -> ImuSamples: ...


IMU_DECODERS: dict[str, Callable[[float | None], ImuDecoder]] = {
    "imu6": lambda rate_hz: ImuFrameDecoder(),              # our frame type 0x02
    "wt901": lambda rate_hz: Wt901Decoder(rate_hz=rate_hz),  # WitMotion WT901 / JY901 packets (time packets need the rate)
    "csv": lambda rate_hz: CsvLineDecoder(),                # text lines from a microcontroller sketch
}
"""Each format's decoder, given the sensor's rate (None: not known); only a counter-less format uses it."""


def make_imu_decoder(name: str, rate_hz: float | None = None) -> ImuDecoder:
    """A fresh decoder for the wire format `name` (one of `IMU_DECODERS`) of a sensor at `rate_hz`."""
    try:
        return IMU_DECODERS[name](rate_hz)
    except KeyError:
        raise ConfigError(f"IMU wire format {name!r} is unknown; allowed: {', '.join(IMU_DECODERS)}") from None
