"""Live replay: stream a recording through the sensor emulator, over a pty, into the real loop.

The same processes as `simulate` (sensor and stimulator emulators on ptys, the controller's
`run_session` with its gate and liveness), with the sensor streaming a CONTRACT recording
instead of the generator. Faster than real time when asked: the sensor sends at `speed`
times its rate, and the stimulator's processing time is kept within half a sample period,
so the device takes one command per sample; its watchdog stays in wall time. A recording
may end mid-step: that ends the session with Stop, not with a fault.

Times in the output folder are session time: seconds since the recording's first sample
(the emulator shifts the recording's truth by the same origin).

An IMU recording streams as our 6-axis frames (type 0x02) of its mount, and the profile's IMU
detector follows that mount as in batch replay (`replay.detector_section_for`); its gaps
send nothing, so the loop sees lost samples and gives the detector NaN there, as batch
replay does. The frames carry the gyro to 0.1 deg/s: the live detector sees the recording
rounded to that, the batch one the recording as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from fescontrol.control.session import Progress, SessionOutcome
from fescontrol.control.simulate import Configs, run_against_emulators, with_detector_kind
from fescontrol.errors import ConfigError
from fescontrol.records.recording import KIND_IMU, KIND_INSOLE
from fescontrol.records.report import finish_records
from fescontrol.replay import detector_section_for, load_for_replay

DEVICE_ACK_DELAY_MS = 10.0
"""The RehaStim 2 emulator's processing time at real rate (its default)."""
MAX_SPEED = 10.0


def device_ack_delay_ms(rate_hz: float, speed: float) -> float:
    """The emulated device's processing time: its real 10 ms, but at most half a sample period
    of the replay, so that one command per sample fits and no ramp level is skipped (what makes
    live and batch replay write the same stim.csv)."""
    return min(DEVICE_ACK_DELAY_MS, 0.5 * 1000.0 / (rate_hz * speed))


def replay_live(recording: Path, out_dir: Path, configs: Configs, *, speed: float = 1.0,
                progress: Callable[[Progress], None] | None = None) -> tuple[SessionOutcome, dict[str, object]]:
    """Replay one heel-switch, insole or IMU recording live into `out_dir` (prepared: new or empty).

    A recording the profile's detector cannot read (an IMU recording with a force profile, a
    force recording with an IMU profile) is refused before anything starts."""
    if not 0.1 <= speed <= MAX_SPEED:
        raise ConfigError(f"--speed {speed}: allowed 0.1 to {MAX_SPEED:g}")
    rec = load_for_replay(recording, profile=configs.profile)
    sensor_format = None
    if rec.kind == KIND_IMU:
        detector_kind = detector_section_for(configs.profile, rec).kind
        configs = with_detector_kind(configs, detector_kind)
        kind, sensor_format = f"{detector_kind.removesuffix('_imu')}-imu", "imu6"
    else:
        kind = "insole" if rec.kind == KIND_INSOLE else "heel"
    outcome = run_against_emulators(
        out_dir, configs, ["--from-recording", str(recording), "--kind", kind],
        rate_hz=rec.rate_hz, speed=speed, progress=progress, sensor_format=sensor_format,
        stimulator_args=["--ack-delay-ms", repr(device_ack_delay_ms(rec.rate_hz, speed))],
        recording_ends_mid_step=True,
        metadata={"command": "replay", "mode": "live", "recording": str(recording),
                  "sensor_kind": rec.kind, "detector_kind": configs.profile.detector.kind})
    return outcome, finish_records(out_dir, configs.profile, configs.profile_sha256, outcome)
