"""The command line as a user meets it: bad input exits 2 and changes nothing; faults exit 3."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from fescontrol.config.loading import default_profile_path

from .conftest import read_csv, read_jsonl, start_hil, stop_process, wait_for


def fescontrol(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fescontrol", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_unknown_scenario_exits_2_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = fescontrol("simulate", "--scenario", "marathon", "--out", str(out))
    assert r.returncode == 2
    assert "--scenario 'marathon'" in r.stderr and "healthy" in r.stderr
    assert not out.exists()


def test_too_short_duration_exits_2(tmp_path: Path) -> None:
    r = fescontrol("simulate", "--duration", "3", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "--duration 3.0" in r.stderr and "10 to 3600" in r.stderr


def test_bad_profile_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(default_profile_path().read_text().replace("plateau_current_ma = 30", "plateau_current_ma = 90"))
    out = tmp_path / "out"
    r = fescontrol("simulate", "--profile", str(bad), "--out", str(out))
    assert r.returncode == 2
    assert str(bad) in r.stderr and "plateau_current_ma" in r.stderr and "90" in r.stderr
    assert not out.exists()


def test_non_empty_output_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("earlier session")
    r = fescontrol("simulate", "--out", str(tmp_path))
    assert r.returncode == 2 and "not empty" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_run_without_yes_when_not_interactive_exits_2(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "fescontrol", "run", "--device", "rehastim2", "--sensor-port", "/dev/zero",
                        "--stimulator-port", "/dev/null", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert not (tmp_path / "o").exists()


def test_missing_port_exits_2_naming_it(tmp_path: Path) -> None:
    r = fescontrol("run", "--device", "rehastim2", "--sensor-port", str(tmp_path / "no-such-port"),
                   "--stimulator-port", "/dev/null", "--yes", "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "--sensor-port" in r.stderr and "no-such-port" in r.stderr
    assert not (tmp_path / "o").exists()


def test_a_port_that_is_not_a_serial_device_is_a_fault_after_a_clean_stop(tmp_path: Path) -> None:
    r = fescontrol("run", "--device", "rehastim2", "--sensor-port", "/dev/zero",
                   "--stimulator-port", "/dev/null", "--yes", "--out", str(tmp_path / "o"))
    assert r.returncode == 3
    assert "/dev/zero" in r.stderr or "/dev/null" in r.stderr
    log = read_jsonl(tmp_path / "o" / "session.jsonl")
    kinds = [rec["kind"] for rec in log]
    # the session's own records end with the fault and session_end; the report is appended after
    assert kinds[-3:] == ["fault", "session_end", "report"], kinds
    assert log[-2]["exit_status"] == 3 and log[-1]["report"]["exit_status"] == 3


def test_electrode_error_stops_and_exits_3(tmp_path: Path) -> None:
    """A device-reported electrode error is a latched fault: Stop first, exit 3, reason logged."""
    t0 = time.monotonic_ns() + 2_500_000_000
    emu = tmp_path / "emulator"
    emu.mkdir()
    stim, stim_port = start_hil("stimulator", "--out", str(emu), "--t0-mono-ns", str(t0),
                                "--electrode-error-at", "6.0")
    sensor, sensor_port = start_hil("sensor", "--seed", "5", "--duration", "20", "--t0-mono-ns", str(t0))
    try:
        r = fescontrol("run", "--device", "rehastim2", "--sensor-port", sensor_port, "--stimulator-port",
                       stim_port, "--yes", "--out", str(tmp_path / "run"), timeout=60)
        assert r.returncode == 3, r.stderr
        assert "electrode error" in r.stderr
        log = read_jsonl(tmp_path / "run" / "session.jsonl")
        faults = [rec for rec in log if rec["kind"] == "fault"]
        assert faults and "electrode error" in str(faults[0]["reason"])
        states = [(rec["source"], rec["dest"]) for rec in log if rec["kind"] == "state"]
        assert states[-1][1] == "fault"
        # after the error the device output is zero and stays zero
        rows = read_csv(emu / "stim.csv")
        after = [row for row in rows if float(row["t_s"]) >= 6.0]
        assert after and all(float(row["current_mA"]) == 0 for row in after)
        # and the controller's Stop reached the device (it is in device.jsonl as received)
        rx = [rec for rec in read_jsonl(emu / "device.jsonl") if rec.get("dir") == "rx"]
        assert rx[-1]["command"] == "STOP_CHANNEL_LIST_MODE"
    finally:
        stop_process(sensor)
        stop_process(stim)


def _run_on_a_rehastim2(tmp_path: Path, device: str, *, swapped: bool) -> subprocess.CompletedProcess[str]:
    """`run --device DEVICE` against a RehaStim 2 emulator and a heel sensor (their ports swapped
    if `swapped`); the emulator's records are in tmp_path/emulator, the session's in tmp_path/run."""
    emu = tmp_path / "emulator"
    emu.mkdir()
    stim, stim_port = start_hil("stimulator", "--out", str(emu))
    sensor, sensor_port = start_hil("sensor", "--seed", "5", "--duration", "20")
    if swapped:
        sensor_port, stim_port = stim_port, sensor_port
    try:
        return fescontrol("run", "--device", device, "--sensor-port", sensor_port, "--stimulator-port", stim_port,
                          "--yes", "--out", str(tmp_path / "run"), timeout=60)
    finally:
        stop_process(sensor)
        stop_process(stim)


def test_swapped_ports_fail_the_handshake_with_what_came(tmp_path: Path) -> None:
    """The sensor's port given as the stimulator's and the other way round: the handshake fails
    (exit 3) naming what arrived on the "stimulator" port (heel frames, no ScienceMode2 packet),
    and the real stimulator received no command."""
    r = _run_on_a_rehastim2(tmp_path, "rehastim2", swapped=True)
    assert r.returncode == 3, r.stderr
    assert re.search(r"stimulator handshake failed after 3\.0 s: no Init from the device; \d+ bytes arrived and none "
                     r"formed a ScienceMode2 packet: is it the stimulator's port \(not the sensor's\)", r.stderr), r.stderr
    assert "bytes arrived and none formed a ScienceMode2 packet" in (tmp_path / "run" / "report.txt").read_text()
    assert not [rec for rec in read_jsonl(tmp_path / "emulator" / "device.jsonl") if rec.get("dir") == "rx"]


def test_a_rehastim2_driven_as_a_p24_is_named_and_the_fault_says_which_device_to_give(tmp_path: Path) -> None:
    """`--device p24` on a RehaStim 2: its Inits are ScienceMode2, so the fault names the
    protocol and `--device rehastim2`; the tear-down's unanswered Stop is a warning, not an
    error, as the session never armed (nothing was commanded)."""
    r = _run_on_a_rehastim2(tmp_path, "p24", swapped=False)
    assert r.returncode == 3, r.stderr
    assert re.search(r"they are ScienceMode2 \(\d+ packets?\): the device speaks ScienceMode2, run with --device "
                     r"rehastim2", r.stderr), r.stderr
    assert "ERROR" not in r.stderr and "never armed" in r.stderr
    stop_failed = [rec for rec in read_jsonl(tmp_path / "run" / "session.jsonl") if rec["kind"] == "stop_failed"]
    assert [rec["never_armed"] for rec in stop_failed] == [True]
    assert all(int(row["current_mA"]) == 0 for row in read_csv(tmp_path / "emulator" / "stim.csv"))


def test_a_screen_that_goes_away_does_not_change_the_exit_status(tmp_path: Path) -> None:
    """stdout piped into a reader that quits after the first line (`| head -1`, a monitor that
    died): the session runs to its end, its records are whole, and the exit status is the
    session's (it used to be 1, from a BrokenPipeError while printing the report table)."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fescontrol", "simulate", "--duration", "10", "--speed", "5",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("fescontrol simulate:")
    proc.stdout.close()  # the reader is gone
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "the screen is gone" in err and "Traceback" not in err
    end = [r for r in read_jsonl(out / "session.jsonl") if r["kind"] == "session_end"]
    assert end and end[0]["exit_status"] == 0
    assert (out / "report.json").exists()


def test_a_terminal_that_hangs_up_mid_session_is_a_clean_stop_with_status_130(tmp_path: Path) -> None:
    """The terminal (or SSH link) `simulate` writes to goes away mid-session: the kernel sends
    SIGHUP and every later write to the terminal fails (EIO). The session stops through its Stop
    path, its records are whole, and the exit status is 130, not 1 from a write that failed."""
    out = tmp_path / "out"
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "fescontrol", "simulate", "--duration", "20", "--out", str(out)],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    wait_for(lambda: (out / "session.jsonl").exists(), 30, "the session log", period=0.05)
    time.sleep(1.0)  # into the session: the progress line is being written to the terminal
    os.close(master)  # the terminal is gone
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(30) == 130
    log = read_jsonl(out / "session.jsonl")
    end = [r for r in log if r["kind"] == "session_end"]
    assert end and end[0]["exit_status"] == 130 and "SIGHUP" in str(end[0]["reason"])
    assert log[-1]["kind"] == "report" and (out / "report.json").exists()
    assert "exit status     130: stopped by the operator after a clean Stop" in (out / "report.txt").read_text()


def test_a_second_session_on_the_same_ports_is_refused_and_the_first_runs_on(tmp_path: Path) -> None:
    """Each session holds its ports exclusively: a second `run` started on the ports of one under
    way (a second terminal) is refused when it opens them, exit 3 naming the cause, and sends
    nothing; the first session's device sees one Init handshake and its session ends normally."""
    t0 = time.monotonic_ns() + 2_500_000_000
    emu = tmp_path / "emulator"
    emu.mkdir()
    stim, stim_port = start_hil("stimulator", "--out", str(emu), "--t0-mono-ns", str(t0))
    sensor, sensor_port = start_hil("sensor", "--seed", "5", "--duration", "10", "--t0-mono-ns", str(t0))
    args = ["run", "--device", "rehastim2", "--sensor-port", sensor_port, "--stimulator-port", stim_port, "--yes"]
    first = subprocess.Popen([sys.executable, "-m", "fescontrol", *args, "--out", str(tmp_path / "first")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (tmp_path / "first" / "session.jsonl").exists()
                 and "serial_tuning" in (tmp_path / "first" / "session.jsonl").read_text(), 30, "the first session's ports")
        second = fescontrol(*args, "--out", str(tmp_path / "second"), timeout=60)
        assert second.returncode == 3, second.stderr
        assert "another program holds it" in second.stderr
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        rx = [rec["command"] for rec in read_jsonl(emu / "device.jsonl") if rec.get("dir") == "rx"]
        assert rx.count("INIT_CHANNEL_LIST_MODE") == 1 and rx[-1] == "STOP_CHANNEL_LIST_MODE", rx[:5]
        report = read_jsonl(tmp_path / "first" / "session.jsonl")[-1]["report"]
        assert report["faults"] == 0 and report["controller_bursts"] >= 3
    finally:
        for p in (first, sensor, stim):
            stop_process(p)
