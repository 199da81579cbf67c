"""Fault injection over real ptys: one test per fault, judged at the emulated stimulator.

Every case is a whole `fescontrol run` session against both emulators (fault flags on
either side), sharing the session-time origin t0 with them (`fault_rig`). What is measured
is what the stimulator emulator delivered (`stim.csv`, both channels): the time from the
fault, or from the start of the burst where the requirement is about the burst, to the
instant at which every channel is at zero. Each test asserts that against its requirement,
which is built from the example profile and the device config (`fault_rig.LIMITS`), plus
the exit status, the reason on stderr and a complete `session.jsonl` (a `fault` record,
then `session_end`, then `report`).

The sessions run concurrently in one module-scoped wave (only the cases of the selected
tests). Fault times inside a burst come from the generated walk of the seed, run through
the batch runner (the controller's own kernels), so they do not depend on the machine.

Margins: a requirement that depends on the control loop noticing something every tick
includes one `loop_overrun_ms` (100 ms), the longest tick gap the controller itself
tolerates, and the emulated device's 10 ms processing time; the device watchdog bound is
1200 ms + 50 ms (as in test_stop_paths).

With FES_FAULT_TABLE=path the measurements are written as JSON at the end of the test
session; `tools/fault_table.py path safety/fault-table.md` renders them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fescontrol.config.loading import default_profile_path, load_profile
from fescontrol.records.readers import read_events_csv, read_stim_csv
from fescontrol.records.scoring import score
from fescontrol.sensing.frames import RESTART_RUN

from .fault_rig import LIMITS, RATE_HZ, Case, FaultTable, Result, Running, run_wave, walk

L = LIMITS
SEED, DURATION_S = 3, 10.0
W = walk("healthy", SEED, DURATION_S)
BURST2 = W.bursts[1]                        # (sample time of the first non-zero level, back at zero)
T_RAMP = round(BURST2[0] + 0.04, 3)         # inside the ramp-up of the second burst: commands flow
T_PLATEAU = round(BURST2[0] + 0.15, 3)      # on the plateau of the second burst (mid-swing)
T_STANCE = round(W.times("heel_strike")[1] + 0.30, 2)  # stance after the 2nd heel strike, before heel off
READY_BY_S = W.bursts[0][0] - 1.0           # the controller must see standing before the first burst
TICK_S = L.loop_overrun_s + L.ack_delay_s   # the loop notices within one tick; the device then applies Stop
assert W.times("heel_strike")[1] < T_STANCE < W.times("heel_off")[2] - 0.1
assert len(W.bursts) == 3 and W.bursts[0][1] < BURST2[0]

TMPFS_SIZE = "200k"


def cases(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The wave cases a test reads; the module fixture runs only those of the selected tests."""
    def mark(fn: Callable[..., None]) -> Callable[..., None]:
        fn._fault_cases = names  # type: ignore[attr-defined]
        return fn
    return mark


# ======================================================================= hooks (run during a case)


def _kill_mid_burst(r: Running) -> None:
    t = r.first_burst()
    while r.now_s() < t + 0.08:  # on the plateau
        time.sleep(0.0005)
    assert r.controller is not None
    r.controller.kill()
    r.notes["kill_s"] = r.now_s()


def _fill_disk_mid_burst(r: Running) -> None:
    """Fill the tmpfs under --out while the first burst is on.

    tmpfs accounts whole pages: after a filler file took every free page, each open file may
    still grow to the end of its last page. So the rest of each of the controller's three
    files' last page is padded with blank lines (which every reader skips): from here on the
    controller's next write fails with ENOSPC."""
    t = r.first_burst()
    while r.now_s() < t + 0.10:
        time.sleep(0.0005)
    disk = r.run_dir.parent
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
    for name in ("session.jsonl", "events.csv", "commands.csv"):
        fd = os.open(r.run_dir / name, os.O_WRONLY | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\n" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
    r.notes["full_s"] = r.now_s()


def _mount_error(where: Path) -> str | None:
    """Why a tmpfs cannot be mounted here (None: it can; left unmounted)."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "no mount/umount command"
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"mount -t tmpfs refused: {r.stderr.strip() or r.returncode}"
    subprocess.run(["umount", str(where)], check=True)
    return None


def _tmpfs_out(folder: Path) -> Path:
    disk = folder / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(disk)], check=True)
    return disk / "run"


def _tmpfs_done(folder: Path) -> Path:
    """Keep what the controller wrote, then unmount."""
    kept = folder / "run-from-tmpfs"
    if (folder / "disk" / "run").exists():
        shutil.copytree(folder / "disk" / "run", kept)
    subprocess.run(["umount", str(folder / "disk")], check=False)
    return kept


def _out_under_a_file(folder: Path) -> Path:
    (folder / "a-file").write_text("not a folder\n")
    return folder / "a-file" / "run"


# ======================================================================= the cases

CASES = [
    Case("rate_1000", run_args=("--rate", "1000")),
    Case("rate_50", run_args=("--rate", "50")),
    Case("stuck_unloaded_bad_crc", sensor_args=("--stick", "unloaded", "--stick-from", "swing:2",
                                                "--corrupt", "3/4", "--loss-from", f"{W.swing(2):.2f}")),
    Case("stuck_unloaded_keep_10", sensor_args=("--stick", "unloaded", "--stick-from", "swing:2",
                                                "--keep-every", "10", "--loss-from", f"{W.swing(2):.2f}")),
    Case("busy", stim_args=("--busy-from", f"{T_RAMP}")),
    Case("stim_unplug", stim_args=("--unplug-at", f"{T_PLATEAU}")),
    Case("ack_then_busy", stim_args=("--ack-then-busy-from", f"{T_RAMP}")),
    Case("stim_garbage", stim_args=("--garbage-bytes", "8192", "--garbage-every-ms", "10")),
    Case("sensor_unplug", sensor_args=("--unplug-at", "swing:2")),
    Case("sensor_restart", sensor_args=("--restart-at", "swing:2")),
    Case("sensor_garbage", sensor_args=("--noise-garbage-every", "1")),
    Case("stuck_loaded", sensor_args=("--stick", "loaded", "--stick-from", "swing:2")),
    Case("stuck_unloaded_stance", sensor_args=("--stick", "unloaded", "--stick-from", f"{T_STANCE}")),
    Case("chatter", sensor_args=("--chatter-from", "swing:1")),
    Case("silent", stim_args=("--silent-from", f"{T_RAMP}")),
    Case("electrode_error", stim_args=("--electrode-error-at", f"{T_PLATEAU}")),
    Case("emergency_switch", stim_args=("--emergency-switch-at", f"{T_PLATEAU}")),
    Case("reset", stim_args=("--reset-at", f"{T_PLATEAU}")),
    Case("sigkill", during=_kill_mid_burst),
    Case("disk_full", out=_tmpfs_out, during=_fill_disk_mid_burst, cleanup=_tmpfs_done),
    Case("out_under_file", out=_out_under_a_file),
    Case("out_under_proc", out=lambda folder: Path("/proc/fescontrol-fault-test/run")),
]


@pytest.fixture(scope="session")
def fault_table() -> Iterator[FaultTable]:
    table = FaultTable()
    yield table
    path = os.environ.get("FES_FAULT_TABLE")
    if path:
        table.write(Path(path))


@pytest.fixture(scope="module")
def wave(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    wanted: set[str] = set()
    for item in request.session.items:
        wanted.update(getattr(getattr(item, "function", None), "_fault_cases", ()))
    root = tmp_path_factory.mktemp("faults")
    skipped: dict[str, str] = {}
    selected = [c for c in CASES if c.name in wanted]
    if any(c.name == "disk_full" for c in selected):
        why = _mount_error(root / "mount-probe")
        if why is not None:
            skipped["disk_full"] = why
            selected = [c for c in selected if c.name != "disk_full"]
    try:
        results: dict[str, Any] = run_wave(selected, root) if selected else {}
    finally:
        if (root / "disk_full" / "disk").is_mount():
            subprocess.run(["umount", "-l", str(root / "disk_full" / "disk")], check=False)
    results.update({name: why for name, why in skipped.items()})
    return results


def get(wave: dict[str, Any], name: str) -> Result:
    r = wave[name]
    if isinstance(r, str):
        pytest.skip(r)
    hook_error = r.notes.get("hook_error")
    if hook_error is not None:
        raise hook_error
    return r  # type: ignore[no-any-return]


def _test_id(request: pytest.FixtureRequest) -> str:
    return f"test_fault_injection.py::{request.node.name}"


# ======================================================================= shared checks


def ready(r: Result, by_s: float = READY_BY_S) -> None:
    """The controller was connected (both ports open, device handshake done) in time."""
    assert r.rx("INIT_CHANNEL_LIST_MODE"), r.describe()
    assert r.handshake_s() < by_s, (f"{r.case.name}: the controller finished its handshake at {r.handshake_s():.2f} s "
                                    f"(needed before {by_s:.2f} s): the machine is too loaded for this rig")


def fault_session(r: Result, reason: str) -> dict[str, object]:
    """Exit 3, the reason on stderr, and session.jsonl complete: fault, session_end, report."""
    assert r.returncode == 3, r.describe()
    said = [line for line in r.stderr.splitlines() if line.startswith("fescontrol: safety fault:")]
    assert said and reason in said[-1], r.stderr[-800:]
    log = r.session()
    kinds = [str(rec["kind"]) for rec in log]
    assert "fault" in kinds, kinds
    assert kinds[-2:] == ["session_end", "report"], kinds[-6:]
    assert kinds.index("fault") < kinds.index("session_end")
    end = log[-2]
    assert end["exit_status"] == 3 and reason in str(end["reason"]), end
    report = r.report()
    assert report["exit_status"] == 3 and int(str(report["faults"])) >= 1, report
    text = (r.run_dir / "report.txt").read_text(encoding="utf-8")  # the same, for a person
    assert "exit status     3: ended by a safety fault (Stop was sent first)" in text
    assert f"{r.faults()[0]['reason']}\n" in text.split("\nfaults\n", 1)[1], text
    return end


def clean_end(r: Result) -> None:
    """Exit 0 at the end of the stream: no fault, Stop acknowledged, session complete."""
    assert r.returncode == 0, r.describe()
    kinds = r.kinds()
    assert "fault" not in kinds and kinds[-2:] == ["session_end", "report"], kinds[-6:]
    assert r.rx("STOP_CHANNEL_LIST_MODE"), "no Stop at the end of the session"


def stop_after(r: Result, t_s: float, within_s: float) -> float:
    """The device received a Stop after t_s; its session time."""
    stops = [r.t_s(int(str(x["t_mono_ns"]))) for x in r.rx("STOP_CHANNEL_LIST_MODE")]
    later = [t for t in stops if t >= t_s - 1e-4]
    assert later, f"{r.case.name}: no Stop reached the device after {t_s:.3f} s"
    assert later[0] - t_s <= within_s, (later[0], t_s)
    return later[0]


def zeroed_by_a_stop(r: Result, t_zero: float) -> None:
    """The output went to zero when the device applied one of the host's Stops (its processing
    time after it arrived), not by a watchdog or a fault of its own."""
    applied = [r.t_s(int(str(x["t_mono_ns"]))) + L.ack_delay_s for x in r.rx("STOP_CHANNEL_LIST_MODE")]
    assert any(abs(t - t_zero) <= 0.001 for t in applied), (t_zero, applied)


def injected_at(r: Result, fault: str, effect: str | None = None) -> float:
    rec = [x for x in r.injected(fault) if effect is None or x.get("effect") == effect]
    assert rec, f"{r.case.name}: the emulator did not inject {fault} {effect or ''}"
    return float(str(rec[0]["t_s"]))


def time_to_zero(r: Result, t_s: float) -> float:
    """From t_s until every channel is at zero for good (stim.csv of the emulated device)."""
    zero = r.settled_zero_after(t_s)
    assert zero is not None, f"{r.case.name}: output still on at the end; bursts {r.bursts()}"
    return zero - t_s


# ======================================================================= sensor faults


@cases("stuck_unloaded_bad_crc", "stuck_unloaded_keep_10")
@pytest.mark.parametrize(("name", "what"), [
    ("stuck_unloaded_bad_crc", "heel never loads again mid-swing, 3 of 4 frames with a bad CRC"),
    ("stuck_unloaded_keep_10", "heel never loads again mid-swing, only every 10th frame arrives")],
    ids=["bad_crc", "keep_10"])
def test_heel_never_loads_again_while_frames_are_lost(wave, fault_table, request, name, what) -> None:  # type: ignore[no-untyped-def]
    r = get(wave, name)
    t_stick = W.swing(2)
    with fault_table.row(_test_id(request), what,
                         f"zero <= max_stim_s + extension + ramp_down + max_response ({L.burst_s:.2f} s) "
                         "after the burst began; a fault", L.burst_s) as row:
        ready(r)
        row.exit_status = r.returncode
        assert r.on_at(t_stick), f"not stimulating when the heel stuck: {r.describe()}"
        start, end = r.burst_at(t_stick)
        row.measured_s = end - start
        row.note = f"fault: {r.faults()[0]['reason'] if r.faults() else 'none'}"
        assert end - start <= L.burst_s, r.describe()
        fault_session(r, "sensor")
        assert r.bursts()[-1] == (start, end), "stimulation after the fault"


@cases("rate_1000", "rate_50")
@pytest.mark.parametrize(("name", "rate"), [("rate_1000", 1000.0), ("rate_50", 50.0)], ids=["1000", "50"])
def test_wrong_rate_is_a_fault_within_the_drift_limit(wave, fault_table, request, name, rate) -> None:  # type: ignore[no-untyped-def]
    """`run --rate R` against the 100 Hz sensor: sample time runs R/100 times off wall time, and the
    drift allowed grows by the rate error, so the limit is crossed after max_clock_drift /
    (|1 - 100/R| - max_sensor_rate_error) of wall time."""
    r = get(wave, name)
    crossing_s = L.drift_s / (abs(1.0 - 100.0 / rate) - L.rate_error)
    req = crossing_s + L.loop_overrun_s
    with fault_table.row(_test_id(request), f"`run --rate {rate:g}` against a 100 Hz sensor",
                         f"fault <= max_clock_drift_ms / (|1 - 100/{rate:g}| - max_sensor_rate_error_pct) "
                         f"({crossing_s:.3f} s) + one tick ({L.loop_overrun_s:g} s) after the stream start; no output",
                         req) as row:
        ready(r, by_s=0.0)  # measured from the stream start: the controller must have been there
        row.exit_status = r.returncode
        row.measured_s = r.first_fault_s()
        assert row.measured_s <= req, r.describe()
        assert r.bursts() == [], "stimulated with a wrong rate"
        fault_session(r, "sensor clock")


@cases("sensor_unplug")
def test_sensor_unplugged_mid_swing(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    r = get(wave, "sensor_unplug")
    t_unplug = W.swing(2)
    req = L.stale_s + 0.06
    with fault_table.row(_test_id(request), "sensor unplugged mid-swing (port vanishes)",
                         f"zero <= sensor_stale_ms + 60 ms ({req:.2f} s) after the port vanished", req) as row:
        _off_in_time_after_a_mid_swing_fault(r, row, t_unplug, req, "sensor stream ended")


def _off_in_time_after_a_mid_swing_fault(r: Result, row: Any, t_fault: float, req: float, reason: str) -> None:
    """On just before `t_fault`, every channel at zero within `req` after it, exit 3 with `reason`."""
    ready(r)
    row.exit_status = r.returncode
    assert r.on_at(t_fault - 0.005), r.describe()
    row.measured_s = time_to_zero(r, t_fault)
    assert row.measured_s <= req
    fault_session(r, reason)


@cases("sensor_restart")
def test_sensor_restarting_mid_swing(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """The sensor restarts (a power dip) mid-swing and counts from 0 again: its frames are no
    longer newer than the last one seen. The host names the restart after RESTART_RUN of them
    instead of going stale on the silence they leave."""
    r = get(wave, "sensor_restart")
    t_restart = W.swing(2)
    req = RESTART_RUN / RATE_HZ + 0.06
    with fault_table.row(_test_id(request), "sensor restarts mid-swing (its counter starts again from 0)",
                         f"zero <= {RESTART_RUN} frames + 60 ms ({req:.2f} s) after the restart; the reason names it",
                         req) as row:
        _off_in_time_after_a_mid_swing_fault(r, row, t_restart, req,
                                             "the sensor restarted: its sample counter went back from")


@cases("sensor_garbage")
def test_sensor_garbage_before_every_frame(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """2-6 garbage bytes (half of them a false sync) before every frame: the decoder resyncs, so
    every valid frame is used and stimulation is as without noise."""
    r = get(wave, "sensor_garbage")
    with fault_table.row(_test_id(request), "sensor line noise before every frame (--noise-garbage-every 1)",
                         "no fault, no false or missed burst: coverage >= 0.99, false_bursts 0, standing_stim_s 0; "
                         "bad frames counted", None, expected_exit="0") as row:
        ready(r)
        row.exit_status = r.returncode
        clean_end(r)
        profile, _ = load_profile(default_profile_path())
        s = score(read_stim_csv(r.emu_dir / "stim.csv"), read_events_csv(r.emu_dir / "truth.csv"),
                  profile.plateau_by_channel(), end_s=DURATION_S)
        report = r.report()
        row.note = (f"coverage {s['coverage']:.3f}, false bursts {s['false_bursts']}, "
                    f"bad frames {report['sensor_frames_bad']}, samples dropped {report['sensor_samples_dropped']}")
        assert s["coverage"] >= 0.99 and s["false_bursts"] == 0 and s["standing_stim_s"] == 0, s
        assert int(str(report["sensor_frames_bad"])) > 0 and report["sensor_samples_dropped"] == 0, report


@cases("stuck_loaded")
def test_heel_stuck_loaded_mid_swing_ends_the_burst_and_stimulation(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """Stuck at 600 N from mid-swing: a heel strike, then stance for ever, which the controller
    cannot tell from standing: the burst ends as after a heel strike and nothing follows."""
    r = get(wave, "stuck_loaded")
    t_stick = W.swing(2)
    req = L.debounce_s + L.extension_s + L.ramp_down_s + L.max_response_s
    with fault_table.row(_test_id(request), "heel switch stuck loaded from mid-swing",
                         f"zero <= debounce + extension + ramp_down + max_response ({req:.2f} s) after the "
                         "stick; no stimulation afterwards (stream end: exit 0)", req, expected_exit="0") as row:
        ready(r)
        row.exit_status = r.returncode
        assert r.on_at(t_stick), r.describe()
        row.measured_s = time_to_zero(r, t_stick)
        assert row.measured_s <= req
        assert r.bursts()[-1][0] < t_stick, f"stimulated after the heel stuck: {r.bursts()}"
        clean_end(r)


@cases("stuck_unloaded_stance")
def test_heel_stuck_unloaded_from_stance(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """Stuck at 0 N from stance: looks like a heel off, so a burst starts; no heel strike ever
    comes, so max_stim_s ends it, and no burst follows."""
    r = get(wave, "stuck_unloaded_stance")
    with fault_table.row(_test_id(request), "heel switch stuck unloaded from stance",
                         f"the burst it starts is at zero <= {L.burst_s:.2f} s after it began (max_stim_s "
                         "lock-out); no burst after it", L.burst_s, expected_exit="0") as row:
        ready(r)
        row.exit_status = r.returncode
        assert not r.on_at(T_STANCE), r.describe()
        after = [b for b in r.bursts() if b[0] >= T_STANCE]
        assert len(after) == 1, f"one burst expected after the stick, got {after}"
        row.measured_s = after[0][1] - after[0][0]
        assert row.measured_s <= L.burst_s
        clean_end(r)


@cases("chatter")
def test_chattering_switch_keeps_every_limit(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """600 N / 0 N every 2 samples from mid-swing to the end of the stream."""
    r = get(wave, "chatter")
    duty_limit_s = L.duty_window_s * L.max_duty_pct / 100
    with fault_table.row(_test_id(request), "chattering heel switch (600 N / 0 N every 2 samples)",
                         f"every burst <= {L.burst_s:.2f} s; no channel on > max_on_time_s ({L.max_on_s:g} s) "
                         f"at a stretch or > {L.max_duty_pct} % of any {L.duty_window_s:g} s",
                         L.burst_s, expected_exit="0 or 3") as row:
        ready(r)
        row.exit_status = r.returncode
        bursts = r.bursts()
        assert len(bursts) >= 8, bursts
        row.measured_s = max(b - a for a, b in bursts)
        assert row.measured_s <= L.burst_s, bursts
        worst_duty = 0.0
        for ch in ("1", "2"):
            on = r.channel_on_intervals(ch)
            assert max(b - a for a, b in on) <= L.max_on_s
            for _a, end in on:  # the on-time in the window that ends where an interval ends is a maximum
                total = sum(min(b, end) - max(a, end - L.duty_window_s) for a, b in on
                            if b > end - L.duty_window_s and a < end)
                worst_duty = max(worst_duty, total)
        row.note = f"{len(bursts)} bursts; most on-time in {L.duty_window_s:g} s: {worst_duty:.2f} s"
        assert worst_duty <= duty_limit_s
        if r.returncode == 0:
            clean_end(r)
        else:  # the stream may end in a chattered "swing": that is a fault, Stop at once
            fault_session(r, "sensor")
            assert time_to_zero(r, r.first_fault_s()) <= L.ack_timeout_s + TICK_S


# ======================================================================= stimulator faults


@cases("busy")
def test_device_busy_from_mid_burst(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    r = get(wave, "busy")
    req = L.ack_timeout_s + L.watchdog_bound_s
    with fault_table.row(_test_id(request), "device answers every StartChannelListMode busy from mid-burst",
                         f"fault after max_busy_retries ({L.max_busy_retries}) retries; zero <= ack time-out + "
                         f"device watchdog ({req:.2f} s) after the first busy; session.jsonl < 200 kB", req) as row:
        ready(r)
        row.exit_status = r.returncode
        assert r.on_at(T_RAMP), r.describe()
        refused = [x for x in r.injected("busy") if x.get("effect") == "refused"]
        t_busy = float(str(refused[0]["t_s"]))
        row.measured_s = time_to_zero(r, t_busy)
        size = (r.run_dir / "session.jsonl").stat().st_size
        row.note = f"{len(refused)} busy answers; session.jsonl {size} bytes"
        assert row.measured_s <= req
        assert len(refused) == L.max_busy_retries + 1, refused
        fault_session(r, "busy")
        stop_after(r, t_busy, req)
        assert size < 200_000


@cases("stim_unplug")
def test_stimulator_port_vanishes_mid_burst(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    r = get(wave, "stim_unplug")
    req = L.watchdog_bound_s
    with fault_table.row(_test_id(request), "stimulator port vanishes mid-burst",
                         f"device watchdog: zero <= {req:.2f} s after the unplug (and after the host's last "
                         "packet); exit 3, report.json written", req) as row:
        ready(r)
        row.exit_status = r.returncode
        t_unplug = injected_at(r, "unplug")
        assert r.on_at(t_unplug), r.describe()
        row.measured_s = time_to_zero(r, t_unplug)
        assert row.measured_s <= req
        last_rx = r.last_rx_s()
        assert last_rx <= t_unplug and L.watchdog_s - 0.005 <= r.settled_zero_after(t_unplug) - last_rx <= req  # type: ignore[operator]
        fault_session(r, "stimulator port failed")
        assert (r.run_dir / "report.json").is_file()


@cases("ack_then_busy")
def test_device_acks_then_says_busy(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """Firmware bug: every command is acked 0 but not applied, then acked -8. The host sees the
    second ack for a command no longer in flight: a fault, and Stop. That Stop is acked and not
    applied either, so only the device watchdog ends the output, 1.2 s after the host's last
    packet: that is what the architecture can guarantee against a device that lies."""
    r = get(wave, "ack_then_busy")
    req = L.ack_timeout_s + L.watchdog_bound_s
    with fault_table.row(_test_id(request), "device acks OK, does not apply, then acks busy (firmware bug)",
                         f"fault at the contradicting ack; zero <= {L.watchdog_bound_s:.2f} s after the host's last "
                         f"packet (device watchdog), so <= {req:.2f} s after the first unapplied command", req) as row:
        ready(r)
        row.exit_status = r.returncode
        t_bug = injected_at(r, "ack_then_busy", "acked_not_applied")
        assert r.on_at(t_bug), r.describe()
        row.measured_s = time_to_zero(r, t_bug)
        last_rx = r.last_rx_s()
        row.note = (f"host's last packet {1000 * (last_rx - t_bug):.0f} ms after the first unapplied command; "
                    f"then {1000 * (r.settled_zero_after(t_bug) - last_rx):.0f} ms to zero")  # type: ignore[operator]
        assert last_rx - t_bug <= L.ack_timeout_s
        assert r.settled_zero_after(t_bug) - last_rx <= L.watchdog_bound_s  # type: ignore[operator]
        assert row.measured_s <= req
        fault_session(r, "stimulator sent an ack")


@cases("stim_garbage")
def test_device_sending_garbage_keeps_the_log_bounded(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """8 KiB of line noise every 10 ms for the whole session (> 10 s while connected).

    The noise never holds a frame start (0xF0), so the decoder discards it without a record
    and the session goes on; when the emulator's pty overflows, it drops bytes, which can cost
    an ack: then the ack time-out is a fault (exit 3) with the output at zero."""
    r = get(wave, "stim_garbage")
    with fault_table.row(_test_id(request), "device sends 8 KiB of garbage every 10 ms",
                         "session.jsonl < 1 MB; records over the rate limit counted as `suppressed`; "
                         "session as without noise, or an ack time-out fault with output at zero",
                         None, expected_exit="0 or 3") as row:
        ready(r)
        row.exit_status = r.returncode
        log = r.session()
        size = (r.run_dir / "session.jsonl").stat().st_size
        end = [rec for rec in log if rec["kind"] == "session_end"][0]
        counted = sum(sum(rec["counts"].values()) for rec in log if rec["kind"] == "suppressed")  # type: ignore[union-attr]
        first, last = float(str(r.notes["garbage_first_s"])), float(str(r.notes["garbage_last_s"]))
        connected = min(last, r.t_s(int(str(end["t_mono"])))) - max(first, r.handshake_s())
        faults = r.faults()
        row.note = (f"{r.notes['garbage_bursts']} bursts, {int(str(r.notes['garbage_bursts'])) * 8 / 1024:.0f} MiB "
                    f"over {connected:.1f} s connected; session.jsonl {size} bytes; "
                    f"{end['suppressed_records']} records suppressed"
                    + (f"; fault: {faults[0]['reason']}" if faults else ""))
        assert size < 1_000_000
        assert end["suppressed_records"] == counted
        if r.returncode == 0:
            assert connected >= 10.0, row.note
            clean_end(r)
            assert len(r.bursts()) == len(W.bursts), r.describe()
        else:  # the pty overflowed and an ack was cut: the ack time-out (or the bad frame) is the fault
            fault_session(r, "stimulator" if "stimulator" in str(faults[0]["reason"]) else "ack")
            row.measured_s = time_to_zero(r, r.first_fault_s())
            assert row.measured_s <= L.ack_timeout_s + TICK_S


@cases("silent")
def test_device_falls_silent_mid_burst(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """The device's tx line is cut: commands still arrive and are applied, nothing comes back."""
    r = get(wave, "silent")
    req = L.ack_timeout_s + TICK_S
    with fault_table.row(_test_id(request), "device falls silent mid-burst (tx cut, rx works)",
                         f"ack time-out fault; zero <= ack time-out + one tick + device processing ({req:.2f} s) "
                         "after the first unanswered command (the device still applies Stop)", req) as row:
        ready(r)
        row.exit_status = r.returncode
        assert r.on_at(T_RAMP), r.describe()
        unsent = [x for x in r.device if x.get("dir") == "tx_suppressed"]
        pn = unsent[0]["packet_number"]
        sent = [x for x in r.rx() if x.get("packet_number") == pn and int(str(x["t_mono_ns"])) <= int(str(unsent[0]["t_mono_ns"]))]
        t_cmd = r.t_s(int(str(sent[-1]["t_mono_ns"])))
        row.measured_s = time_to_zero(r, t_cmd)
        assert row.measured_s <= req
        fault_session(r, "no ack")
        stop_after(r, t_cmd, req)
        zeroed_by_a_stop(r, r.settled_zero_after(t_cmd))  # type: ignore[arg-type]


@cases("electrode_error", "emergency_switch", "reset")
@pytest.mark.parametrize(("name", "what", "reason"), [
    ("electrode_error", "electrode error reported by the device mid-burst", "electrode error"),
    ("emergency_switch", "emergency switch pressed mid-burst", "emergency switch"),
    ("reset", "device resets itself mid-burst (sends Init again)", "reset itself")],
    ids=["electrode_error", "emergency_switch", "reset"])
def test_device_side_stop(wave, fault_table, request, name, what, reason) -> None:  # type: ignore[no-untyped-def]
    """The device turns its outputs off itself at the fault; the host must still make it a
    latched fault, send Stop, and exit 3."""
    r = get(wave, name)
    with fault_table.row(_test_id(request), what,
                         "output already off at the device's fault instant; host fault, its Stop at the device "
                         f"within ack time-out + one tick ({L.ack_timeout_s + TICK_S:.2f} s), exit 3", 0.0) as row:
        ready(r)
        row.exit_status = r.returncode
        assert r.on_at(T_PLATEAU - 0.005), r.describe()
        row.measured_s = time_to_zero(r, T_PLATEAU)
        assert row.measured_s <= 1e-6
        assert not [t for t, _ch, ma in r.stim_rows if t >= T_PLATEAU and ma], "output after the fault"
        fault_session(r, reason)
        row.note = f"host's Stop {1000 * (stop_after(r, T_PLATEAU, L.ack_timeout_s + TICK_S) - T_PLATEAU):.0f} ms after"


# ======================================================================= host faults


@cases("sigkill")
def test_controller_sigkill_mid_burst(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """See also tests/hil/test_stop_paths.py::test_sigkill_leaves_it_to_the_device_watchdog."""
    r = get(wave, "sigkill")
    with fault_table.row(_test_id(request), "controller killed (SIGKILL) mid-burst",
                         f"device watchdog: zero <= {L.watchdog_bound_s:.2f} s after the host's last packet",
                         L.watchdog_bound_s, expected_exit="killed") as row:
        ready(r)
        row.exit_status = r.returncode
        last_rx = r.last_rx_s()
        assert r.on_at(last_rx), r.describe()
        row.measured_s = time_to_zero(r, last_rx)
        assert L.watchdog_s - 0.005 <= row.measured_s <= L.watchdog_bound_s
        assert r.returncode == -9


@cases("disk_full")
def test_disk_full_mid_burst(wave, fault_table, request) -> None:  # type: ignore[no-untyped-def]
    """--out on a 200 kB tmpfs that the test fills while the first burst is on."""
    r = get(wave, "disk_full")
    req = L.keepalive_s + L.ack_timeout_s
    with fault_table.row(_test_id(request), "disk full mid-burst (--out on a full tmpfs)",
                         f"fault at the next write (one is due at least every keep-alive period, {L.keepalive_s:g} s); "
                         f"Stop first; zero <= {req:.2f} s after the disk filled; exit 3", req) as row:
        ready(r)
        row.exit_status = r.returncode
        t_full = float(str(r.notes["full_s"]))
        assert r.on_at(t_full), r.describe()
        row.measured_s = time_to_zero(r, t_full)
        assert row.measured_s <= req
        assert r.returncode == 3, r.describe()
        assert "cannot write the session records" in r.stderr and "No space left" in r.stderr, r.stderr[-800:]
        stop_after(r, t_full, req)
        zeroed_by_a_stop(r, r.settled_zero_after(t_full))  # type: ignore[arg-type]


@cases("out_under_file", "out_under_proc")
@pytest.mark.parametrize(("name", "what", "says"), [
    ("out_under_file", "--out under a regular file", "is a file"),
    ("out_under_proc", "--out under /proc", "/proc")], ids=["under_file", "under_proc"])
def test_bad_output_folder_exits_2_before_any_port_is_opened(wave, fault_table, request, name, what, says) -> None:  # type: ignore[no-untyped-def]
    r = get(wave, name)
    with fault_table.row(_test_id(request), what, "exit 2 before any port is opened: the device sees no packet",
                         None, expected_exit="2") as row:
        row.exit_status = r.returncode
        assert r.returncode == 2, r.describe()
        assert "--out" in r.stderr and says in r.stderr, r.stderr
        assert r.rx() == [], "the controller talked to the stimulator"
        assert r.stim_rows == []
        assert not r.run_dir.exists()
        row.note = "no packet at the device"
