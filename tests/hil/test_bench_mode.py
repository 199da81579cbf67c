"""Bench mode of `fescontrol run` over real ptys: the three stimulators, the table, the confirmation.

`run --device rehastim2|rehamove3|p24` opens both ports before its start-up work, handshakes,
reads the device's identity and status, shows the effective stimulation table and arms only
after the operator's yes (`--yes` in advance, or a line on the terminal). Judged by what the
emulated devices received (`device.jsonl`) and delivered (`stim.csv`), and by `session.jsonl`.
Sessions are 10 s of the seeded walk in real time, run concurrently.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.control.session import SessionSetup, _ports_and_parts
from fescontrol.control.session_records import SessionRecords
from fescontrol.core.warmup import warm_up
from fescontrol.protocol import sciencemode2 as sm2

from .conftest import read_csv, read_jsonl, start_hil, stop_process

LEAD_S = 8.0
"""t0 (the sensor's sample 0) is this long after the emulators start: time for `run` to come up (about
1 s; five at once on a busy 2-core machine took up to 7 s), as in `fault_rig`."""
DURATION_S = 10
INIT_PERIOD_S = 0.5
"""The RehaStim 2 repeats Init every 500 ms until answered (the emulator does the same)."""
ANSWER_AFTER_S = 1.5
"""The terminal answer comes later than the RehaStim 2 watchdog (1.2 s): the link must be kept alive meanwhile."""
LATE_ANSWER_S = 5.0
"""With the sensor streaming from the start, an operator slow enough for the stream to overflow the
port buffer (4 KB, 4.5 s of heel frames) before ARM, whatever the start-up took."""
PROMPT = "Type 'yes' to arm"
STIMULATION_COMMANDS = {"START_CHANNEL_LIST_MODE", "SINGLE_PULSE", "ML_UPDATE"}


def _emulator(device: str) -> tuple[str, ...]:
    return ("stimulator",) if device == "rehastim2" else ("sm4-stimulator", "--device", device)


@dataclass
class Bench:
    """One `run` against both emulators; `answer` is typed on a pty stdin, None means `--yes`."""

    device: str
    folder: Path
    answer: str | None = None
    answer_after_s: float = ANSWER_AFTER_S
    duration_s: int = DURATION_S
    lead_s: float = LEAD_S
    returncode: int = -1
    stdout: str = ""
    stderr: str = ""

    @property
    def emu(self) -> Path:
        return self.folder / "emulator"

    @property
    def run_dir(self) -> Path:
        return self.folder / "run"

    def session(self) -> list[dict[str, object]]:
        return read_jsonl(self.run_dir / "session.jsonl")

    def device_log(self) -> list[dict[str, object]]:
        return read_jsonl(self.emu / "device.jsonl")

    def received(self) -> list[str]:
        return [str(r["command"]) for r in self.device_log() if r.get("dir") == "rx"]


def _run(bench: Bench) -> Bench:
    bench.emu.mkdir(parents=True)
    t0 = time.monotonic_ns() + int(bench.lead_s * 1e9)
    stim, stim_port = start_hil(*_emulator(bench.device), "--out", str(bench.emu), "--t0-mono-ns", str(t0))
    sensor, sensor_port = start_hil("sensor", "--seed", "1", "--duration", str(bench.duration_s), "--t0-mono-ns", str(t0),
                                    "--truth", str(bench.emu / "truth.csv"))
    args = [sys.executable, "-m", "fescontrol", "run", "--device", bench.device, "--sensor-port", sensor_port,
            "--stimulator-port", stim_port, "--out", str(bench.run_dir), "--score-with", str(bench.emu)]
    try:
        if bench.answer is None:
            done = subprocess.run([*args, "--yes"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=120)
            bench.returncode, bench.stdout, bench.stderr = done.returncode, done.stdout, done.stderr
        else:
            _run_on_a_terminal(bench, args)
    finally:
        stop_process(sensor)
        stop_process(stim)
    return bench


def _run_on_a_terminal(bench: Bench, args: list[str]) -> None:
    """stdin is a pty (the operator's terminal): a 'yes' typed ahead at once (it must not count),
    then wait for the question, wait longer than the RehaStim 2 watchdog, and type the answer."""
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(slave)
    os.write(master, b"yes\n")
    assert proc.stdout is not None and proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 90
    try:
        while PROMPT.encode() not in seen:
            assert time.monotonic() < deadline, f"no question on stdout: {seen!r}"
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, f"run ended before asking: {seen!r} {proc.stderr.read()!r}"
                seen += chunk
        time.sleep(bench.answer_after_s)
        os.write(master, f"{bench.answer}\n".encode())
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    bench.returncode, bench.stdout, bench.stderr = proc.returncode, (seen + out).decode(), err.decode()


@pytest.fixture(scope="module")
def benches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Bench]:
    root = tmp_path_factory.mktemp("bench")
    warm_up()  # as after `make simulate`: the numba cache is written, so each `run` starts in about a second
    plan = [Bench(d, root / d) for d in ("rehastim2", "rehamove3", "p24")]
    plan.append(Bench("rehamove3", root / "rehamove3-terminal", answer="yes", answer_after_s=LATE_ANSWER_S,
                      duration_s=20, lead_s=0.0))
    plan.append(Bench("rehastim2", root / "rehastim2-declined", answer="n"))
    with ThreadPoolExecutor(len(plan)) as pool:
        done = [pool.submit(_run, b) for b in plan]
        return {b.folder.name: f.result() for b, f in zip(plan, done)}


@pytest.mark.parametrize("name", ["rehastim2", "rehamove3", "p24"])
def test_run_shows_identity_and_table_then_arms_and_is_scored(benches: dict[str, Bench], name: str) -> None:
    b = benches[name]
    _check_bench_start(b)
    report = json.loads((b.run_dir / "report.json").read_text())
    assert report["scored"] is True and report["exit_status"] == 0 and report["faults"] == 0, report
    assert report["coverage"] >= 0.99 and report["false_bursts"] == 0 and report["standing_stim_s"] == 0, report


def test_a_yes_typed_late_on_the_terminal_arms_on_fresh_samples_only(benches: dict[str, Bench]) -> None:
    """The operator types yes 5 s after the question, the sensor streaming all along: the link stayed
    up, and the backlog, which overflowed the port buffer, is dropped at ARM (read in pieces after
    the gap it would look like a sensor running fast: the clock-drift check would trip)."""
    b = benches["rehamove3-terminal"]
    _check_bench_start(b)
    assert PROMPT in b.stdout
    log = b.session()
    (backlog,) = [r for r in log if r["kind"] == "sensor_backlog"]
    assert backlog["dropped"] is True and int(str(backlog["bytes"])) > 3584, backlog
    assert not [r for r in log if r["kind"] == "fault"]
    arm = next(i for i, r in enumerate(log) if r["kind"] == "gate_arm")
    assert [r for r in log[arm:] if r["kind"] == "state" and r["dest"] == "stance"], "no sample after ARM"
    report = json.loads((b.run_dir / "report.json").read_text())
    assert report["scored"] is True and report["exit_status"] == 0, report
    assert report["false_bursts"] == 0 and report["standing_stim_s"] == 0, report


def _check_bench_start(b: Bench) -> None:
    assert b.returncode == 0, b.stderr
    profile = load_profile(default_profile_path(), load_device(default_device_path(b.device))[0])[0]
    # the table: every channel with its muscle, plateau, pulse width, the delivered 40 Hz; then the caps
    for ch in profile.channels:
        row = next(line for line in b.stdout.splitlines() if ch.muscle in line)
        assert f" {ch.plateau_current_ma} " in row and f" {ch.pulse_width_us} " in row and " 40.00 " in row, row
    assert "hard caps: device" in b.stdout
    identity = "stimulation mode initialised" if b.device == "rehastim2" else "stim status mid_level_initialized"
    assert identity in b.stdout
    if b.device != "rehastim2":
        assert "device id" in b.stdout and "firmware version" in b.stdout
    log = b.session()
    kinds = [str(r["kind"]) for r in log]
    order = ["serial_tuning", "warm_up", "stim_link_up", "stimulator_identity", "stimulation_table",
             "operator_confirmation", "gate_arm"]
    assert [k for k in kinds if k in order and k != "serial_tuning"] == order[1:]
    assert kinds.index("serial_tuning") < kinds.index("warm_up")
    tuning = {r["role"]: r["result"] for r in log if r["kind"] == "serial_tuning"}
    assert set(tuning) == {"sensor", "stimulator"} and all("not applicable" in str(v) for v in tuning.values())
    (confirmation,) = [r for r in log if r["kind"] == "operator_confirmation"]
    assert confirmation["confirmed"] is True
    assert confirmation["by"] == ("terminal" if b.answer else "--yes")
    (table,) = [r for r in log if r["kind"] == "stimulation_table"]
    assert [c["frequency_hz"] for c in table["channels"]] == [40.0, 40.0]  # type: ignore[index, union-attr]
    # nothing that stimulates reached the device before the confirmation
    first_stim = next(r for r in b.device_log() if r.get("dir") == "rx" and r["command"] in STIMULATION_COMMANDS)
    assert int(str(first_stim["t_mono_ns"])) > int(str(confirmation["t_mono"]))


def test_the_terminal_wait_keeps_the_link_alive(benches: dict[str, Bench]) -> None:
    """The operator answered 1.5 s after the question, longer than the RehaStim 2 watchdog: keep-alives went out."""
    b = benches["rehastim2-declined"]
    (confirmation,) = [r for r in b.session() if r["kind"] == "operator_confirmation"]
    assert float(str(confirmation["wait_s"])) >= ANSWER_AFTER_S
    device = b.device_log()
    acked = next(i for i, r in enumerate(device) if r.get("dir") == "rx" and r["command"] == "INIT_ACK")
    assert not [r for r in device[acked:] if r.get("dir") == "tx" and r["command"] == "INIT"], "the device re-initialised"
    # keep-alives went out while the question waited (every 250 ms when the machine is not too busy)
    watchdogs = [r for r in device if r.get("dir") == "rx" and r["command"] == "WATCHDOG"]
    assert len(watchdogs) >= 3, len(watchdogs)


def test_a_no_on_the_terminal_sends_nothing_and_ends_after_a_clean_stop(benches: dict[str, Bench]) -> None:
    """The 'yes' typed before the table was shown is discarded; the 'n' typed after it refuses."""
    b = benches["rehastim2-declined"]
    assert b.returncode == 130, b.stderr
    assert PROMPT in b.stdout and "not confirmed" in b.stdout and "tibialis anterior" in b.stdout
    received = b.received()
    assert not STIMULATION_COMMANDS & set(received), received
    assert received[-1] == "STOP_CHANNEL_LIST_MODE"
    assert all(float(row["current_mA"]) == 0 for row in read_csv(b.emu / "stim.csv"))
    log = b.session()
    (confirmation,) = [r for r in log if r["kind"] == "operator_confirmation"]
    assert confirmation["confirmed"] is False and confirmation["by"] == "terminal"
    assert "gate_arm" not in [r["kind"] for r in log]
    end = next(r for r in log if r["kind"] == "session_end")
    assert end["exit_status"] == 130 and "not confirmed" in str(end["reason"])


def test_the_first_init_after_the_port_opened_is_answered(benches: dict[str, Bench]) -> None:
    """The stimulator port opens before the warm-up: the Init the device sends next (or, when the
    warm-up outlasts an Init period, the newest of those buffered meanwhile) is answered; no Init
    that arrived after the handshake began is let go by, so no Init period is waited for in vain."""
    b = benches["rehastim2"]
    log = b.session()
    opened = next(int(str(r["t_mono"])) for r in log if r["kind"] == "serial_tuning" and r["role"] == "stimulator")
    handshake = next(int(str(r["t_mono"])) for r in log if r["kind"] == "warm_up")
    link_up = next(r for r in log if r["kind"] == "stim_link_up")
    device = b.device_log()
    inits = [(int(str(r["t_mono_ns"])), int(str(r["packet_number"]))) for r in device
             if r.get("dir") == "tx" and r["command"] == "INIT"]
    sent_at = dict((pn, t) for t, pn in inits)
    answered = int(str(link_up["device_packet_number"]))
    t_answered = sent_at[answered]
    assert t_answered >= opened, "the answered Init was sent before the port opened"
    # no Init was sent between the handshake start and the one answered, other than that one
    assert not [pn for t, pn in inits if max(opened, handshake) < t < t_answered]
    assert link_up["init_buffered"] is (t_answered <= handshake)
    assert link_up["inits_skipped"] == max(0, len([t for t, _ in inits if opened <= t <= handshake]) - 1)
    # the measured wait: port open (or warm-up end) to link up, within one Init period (and some scheduling)
    wait_s = (int(str(link_up["t_mono"])) - max(opened, handshake)) / 1e9
    assert wait_s < INIT_PERIOD_S + 0.25, wait_s


@pytest.mark.parametrize("device", ["rehastim2", "p24"])
def test_run_without_yes_when_not_interactive_refuses_and_sends_nothing(tmp_path: Path, device: str) -> None:
    emu = tmp_path / "emulator"
    emu.mkdir()
    stim, stim_port = start_hil(*_emulator(device), "--out", str(emu))
    try:
        r = subprocess.run([sys.executable, "-m", "fescontrol", "run", "--device", device, "--sensor-port", "/dev/null",
                            "--stimulator-port", stim_port, "--out", str(tmp_path / "run")],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    finally:
        stop_process(stim)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert not (tmp_path / "run").exists()
    assert [rec for rec in read_jsonl(emu / "device.jsonl") if rec.get("dir") == "rx"] == []


def test_a_device_config_of_another_model_is_refused(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "fescontrol", "run", "--device", "p24", "--device-config",
                        str(default_device_path("rehastim2")), "--sensor-port", "/dev/zero", "--stimulator-port",
                        "/dev/null", "--yes", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 2 and "--device-config" in r.stderr and "rehastim2" in r.stderr and "p24" in r.stderr
    assert not (tmp_path / "run").exists()


def test_the_handshake_answers_the_newest_of_several_buffered_inits(tmp_path: Path) -> None:
    """A start-up longer than an Init period leaves several Inits in the buffer: only the newest is
    answered (the device takes an InitAck for its latest Inits only), without waiting, and the
    device accepts it."""
    emu = tmp_path / "emulator"
    emu.mkdir()
    stim, stim_port = start_hil("stimulator", "--out", str(emu))
    device_path = default_device_path("rehastim2")
    device, device_sha = load_device(device_path)
    sensor_master, sensor_slave = os.openpty()  # a sensor port that stays silent (not used here)
    profile, profile_sha = load_profile(default_profile_path(), device)
    setup = SessionSetup(device=device, device_path=device_path, device_sha256=device_sha, profile=profile,
                         profile_path=default_profile_path(), profile_sha256=profile_sha, sensor_port=os.ttyname(sensor_slave),
                         stimulator_port=stim_port, out_dir=tmp_path / "run")
    records = SessionRecords(setup.out_dir)
    opened: list = []  # type: ignore[type-arg]
    try:
        _, _, link, _ = _ports_and_parts(setup, records, opened)
        time.sleep(3 * INIT_PERIOD_S + 0.1)  # the slow start-up: three or four Inits arrive meanwhile
        link.connect(time.monotonic_ns, time.sleep)
        link.send_stop(time.monotonic_ns())
        time.sleep(0.05)
    finally:
        for port in opened:
            port.close()
        records.close()
        os.close(sensor_master)
        os.close(sensor_slave)
        stop_process(stim)
    (up,) = [r for r in read_jsonl(setup.out_dir / "session.jsonl") if r["kind"] == "stim_link_up"]
    assert up["init_buffered"] is True and int(str(up["inits_skipped"])) >= 2
    device_log = read_jsonl(emu / "device.jsonl")
    init_ack = next(r for r in device_log if r.get("dir") == "rx" and r["command"] == "INIT_ACK")
    before = [r for r in device_log if r.get("dir") == "tx" and r["command"] == "INIT"
              and int(str(r["t_mono_ns"])) < int(str(init_ack["t_mono_ns"]))]
    assert init_ack["packet_number"] == before[-1]["packet_number"] == up["device_packet_number"]
    acks = [(r["command"], r.get("result")) for r in device_log if r.get("dir") == "tx" and r["command"] != "INIT"]
    assert acks[:1] == [("INIT_CHANNEL_LIST_MODE_ACK", 0)]


def test_a_refused_status_query_is_reported_not_a_fault(tmp_path: Path) -> None:
    """A RehaStim 2 (played by the test on a real pty) that answers GetStimulationMode with -3
    (wrong mode): `identify` reports the result and no mode; the link stays up, nothing trips."""
    device_fd, host_fd = os.openpty()
    sensor_master, sensor_slave = os.openpty()
    device_path = default_device_path("rehastim2")
    device, device_sha = load_device(device_path)
    profile, profile_sha = load_profile(default_profile_path(), device)
    setup = SessionSetup(device=device, device_path=device_path, device_sha256=device_sha, profile=profile,
                         profile_path=default_profile_path(), profile_sha256=profile_sha,
                         sensor_port=os.ttyname(sensor_slave), stimulator_port=os.ttyname(host_fd),
                         out_dir=tmp_path / "run")
    records = SessionRecords(setup.out_dir)
    opened: list = []  # type: ignore[type-arg]
    received: list[str] = []
    done = threading.Event()

    def play_device() -> None:
        decoder = sm2.Decoder()
        os.write(device_fd, sm2.init(7))
        answers = {sm2.Cmd.INIT_CHANNEL_LIST_MODE: sm2.Result.OK, sm2.Cmd.GET_STIMULATION_MODE: sm2.Result.WRONG_MODE,
                   sm2.Cmd.STOP_CHANNEL_LIST_MODE: sm2.Result.OK}
        while not done.is_set():
            if not select.select([device_fd], [], [], 0.05)[0]:
                continue
            for item in decoder.feed(os.read(device_fd, 4096)):
                assert isinstance(item, sm2.Packet)
                command = sm2.Cmd(item.command)
                received.append(command.name)
                if command in answers:
                    os.write(device_fd, sm2.ack(item.packet_number, sm2.ACK_OF[command], answers[command]))

    player = threading.Thread(target=play_device, daemon=True)
    try:
        _, gate, link, _ = _ports_and_parts(setup, records, opened)
        player.start()
        link.connect(time.monotonic_ns, time.sleep)
        info = link.identify(time.monotonic_ns, time.sleep)
        link.poll(time.monotonic_ns())
        assert link.linked and gate.fault_cause is None
    finally:
        done.set()
        player.join(2)
        for port in opened:
            port.close()
        records.close()
        for fd in (device_fd, host_fd, sensor_master, sensor_slave):
            os.close(fd)
    assert info == {"protocol": "sciencemode2", "stimulation_mode": None, "result": int(sm2.Result.WRONG_MODE)}
    assert received[:3] == ["INIT_ACK", "INIT_CHANNEL_LIST_MODE", "GET_STIMULATION_MODE"]
