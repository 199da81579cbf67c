"""Stop paths with looser wall-clock bounds than test_stop_paths.py's 50 ms: SIGHUP, and a
controller frozen and resumed. They too run `alone` (tests/conftest.py): each test starts
three processes (in the one run with this module paired, a simulate session beside it ended on a
164 ms loop overrun).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import read_csv, read_jsonl, wait_for
from .stop_rig import Rig, first_burst_row, signal_mid_swing_is_a_clean_stop, start_rig, zero_rows_after

STOP_BOUND_S = 0.2
"""Signal to output zero: the same path as SIGTERM's, which is judged at 50 ms; this only shows the
signal is handled."""
WATCHDOG_S = {"rehastim2": 1.2, "rehamove3": 2.0}
"""The devices' watchdog time-outs (configs/devices)."""
WATCHDOG_MARGIN_S = 0.3
"""Scheduling: the emulator's loop, the test's own clock reading."""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The RehaStim 2 (ScienceMode2) emulator."""
    yield from start_rig(tmp_path, "rehastim2")


@pytest.fixture(params=["rehastim2", "rehamove3"])
def any_device_rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """The RehaStim 2 and the RehaMove3 (ScienceMode4: its watchdog pauses the output, and a later
    Ml_update would start it again) emulators."""
    yield from start_rig(tmp_path, request.param)


def test_sighup_mid_swing_is_a_clean_stop(rig: Rig, tmp_path: Path) -> None:
    """SIGHUP: the terminal or SSH link `run` was started from went away. By default it would end
    the process with the output on; it takes SIGTERM's path (judged at 50 ms alone in
    test_stop_paths.py), here within STOP_BOUND_S. SIGQUIT and Ctrl-Z (SIGTSTP) take the same
    handler: tests/unit/test_operator_signals.py sends each to a process that holds it."""
    signal_mid_swing_is_a_clean_stop(rig, tmp_path / "run", signal.SIGHUP, STOP_BOUND_S)


def test_a_controller_frozen_mid_burst_and_resumed_never_turns_the_output_on_again(any_device_rig: Rig) -> None:
    """SIGSTOP the controller mid-burst for 3 s (a debugger, a swapped-out laptop, an uncatchable
    stop), then SIGCONT. The device's watchdog ends the output (1.2 s after the last packet on the
    RehaStim 2, 2 s on the RehaMove3); when the controller resumes, with 3 s of old sensor samples
    waiting, it must not act on them: it faults (its loop was late far beyond loop_overrun_ms, or
    the device re-initialised) and Stops. The output never comes on again after the freeze."""
    rig = any_device_rig
    t0, controller, emu_dir = rig.t0, rig.controller, rig.emu_dir
    rig.wait_into_first_burst(0.08)
    freeze_ns = time.monotonic_ns()
    controller.send_signal(signal.SIGSTOP)
    time.sleep(3.0)
    controller.send_signal(signal.SIGCONT)
    _, stderr = controller.communicate(timeout=10)
    assert controller.returncode == 3, stderr
    t_freeze = (freeze_ns - t0) / 1e9
    rows = read_csv(emu_dir / "stim.csv")
    zeros = zero_rows_after(emu_dir / "stim.csv", t_freeze)
    assert set(zeros) == {"1", "2"}
    bound = WATCHDOG_S[rig.device] + WATCHDOG_MARGIN_S  # the device's watchdog, from the last packet before the freeze
    assert all(t_zero - t_freeze <= bound for t_zero in zeros.values()), zeros
    on_after = [r for r in rows if float(r["t_s"]) > max(zeros.values()) and float(r["current_mA"]) > 0]
    assert not on_after, on_after
    print(f"controller frozen 3 s -> {stderr.strip().splitlines()[-1]}")


FREEZE_WHILE_OFF_S = 0.25
"""Longer than loop_overrun_ms (100 ms), shorter than loop_overrun_off_ms (500 ms), with room for the
machine's own stalls either way."""


def test_a_controller_frozen_while_the_output_is_off_rides_it_out(rig: Rig, tmp_path: Path) -> None:
    """SIGSTOP the controller for 0.25 s while the wearer still stands (the scenario walks from 2.7 s):
    nothing is on, so the stall is recorded and the session goes on; its first burst comes when the
    wearer walks, then SIGTERM ends it as usual. (Frozen mid-burst, it faults: the test above.)"""
    run_dir = tmp_path / "run"
    wait_for(lambda: time.monotonic_ns() >= rig.t0 + 1_000_000_000, 10, "the wearer standing")
    assert rig.controller.poll() is None and first_burst_row(rig.emu_dir / "stim.csv") is None
    rig.controller.send_signal(signal.SIGSTOP)
    time.sleep(FREEZE_WHILE_OFF_S)
    rig.controller.send_signal(signal.SIGCONT)
    rig.wait_into_first_burst(0.0)
    rig.controller.send_signal(signal.SIGTERM)
    _, stderr = rig.controller.communicate(timeout=10)
    assert rig.controller.returncode == 130, stderr
    records = read_jsonl(run_dir / "session.jsonl")
    stalls = [r for r in records if r["kind"] == "loop_overrun"]
    assert all(r["output"] == "off" for r in stalls), stalls
    # the freeze (the machine's own stalls over 100 ms, if any, are recorded too)
    frozen = [r for r in stalls if int(r["gap_ms"]) >= FREEZE_WHILE_OFF_S * 1000 - 20]  # type: ignore[call-overload]
    assert len(frozen) == 1 and int(frozen[0]["gap_ms"]) < 500, stalls  # type: ignore[call-overload]
    assert not [r for r in records if r["kind"] == "fault"]
    report = [r for r in records if r["kind"] == "report"][0]["report"]
    assert report["loop_overruns_output_off"] == len(stalls)  # type: ignore[index]
