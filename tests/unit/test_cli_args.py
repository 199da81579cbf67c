"""Bad arguments exit 2 before any port is opened or anything is created.

`run` is given /dev/zero and /dev/null as its ports: if an argument slipped through, the session
would open them and end with exit status 3 instead of 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fescontrol.cli import main
from fescontrol.control.simulate import SimulateRequest, prepare_out_dir, validate
from fescontrol.errors import ConfigError


def _run(out: Path, *extra: str) -> list[str]:
    return ["run", "--device", "rehastim2", "--sensor-port", "/dev/zero", "--stimulator-port", "/dev/null",
            "--yes", "--out", str(out), *extra]


@pytest.mark.parametrize("rate,words", [
    ("0", "allowed 20 to 1000 Hz"),
    ("-100", "allowed 20 to 1000 Hz"),
    ("1e9", "allowed 20 to 1000 Hz"),
    ("1001", "allowed 20 to 1000 Hz"),
    ("nan", "is not a finite number"),
    ("inf", "is not a finite number"),
    ("-inf", "is not a finite number"),
])
@pytest.mark.parametrize("command", ["run", "simulate"])
def test_bad_rate_exits_2_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              command: str, rate: str, words: str) -> None:
    out = tmp_path / "o"
    argv = _run(out) if command == "run" else ["simulate", "--out", str(out)]
    assert main([*argv, f"--rate={rate}"]) == 2
    err = capsys.readouterr().err
    assert "--rate" in err and words in err, err
    assert not out.exists()


def test_rate_limits_are_inclusive() -> None:
    validate(SimulateRequest(rate_hz=20.0))
    validate(SimulateRequest(rate_hz=1000.0))


@pytest.mark.parametrize("option,value", [("--duration", "nan"), ("--speed", "inf")])
def test_simulate_non_finite_numbers_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            option: str, value: str) -> None:
    assert main(["simulate", option, value, "--out", str(tmp_path / "o")]) == 2
    assert f"{option} {value}: is not a finite number" in capsys.readouterr().err


def test_simulate_negative_seed_exits_2_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Once, a negative seed reached the sensor emulator, which failed: exit 3 'did not report its port'."""
    out = tmp_path / "o"
    assert main(["simulate", "--seed", "-1", "--out", str(out)]) == 2
    assert "--seed -1: allowed an integer >= 0" in capsys.readouterr().err
    assert not out.exists()
    validate(SimulateRequest(seed=0))


@pytest.mark.parametrize("command", ["run", "simulate"])
def test_out_under_a_regular_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "session"
    argv = _run(out) if command == "run" else ["simulate", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(out) in err and str(blocker) in err and "is a file" in err, err
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("out", ["/proc/fescontrol-test", "/sys/fescontrol-test", "/proc"])
@pytest.mark.parametrize("command", ["run", "simulate"])
def test_out_under_proc_or_sys_exits_2(capsys: pytest.CaptureFixture[str], command: str, out: str) -> None:
    argv = _run(Path(out)) if command == "run" else ["simulate", "--out", out]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert out in err and "kernel file system" in err, err


def test_out_through_a_symlink_into_proc_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "link"
    link.symlink_to("/proc")
    assert main(_run(link / "session")) == 2
    assert "kernel file system" in capsys.readouterr().err


def test_out_that_is_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    assert main(_run(out)) == 2
    assert "not a folder" in capsys.readouterr().err


def test_out_on_a_read_only_mount_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, path: str) -> None:
            self.f_flag = real_statvfs(path).f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", ReadOnly)
    with pytest.raises(ConfigError, match="read-only file system"):
        prepare_out_dir(tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_out_that_cannot_be_written_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError, match="not writable"):
        prepare_out_dir(tmp_path / "o")


def test_probe_failure_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ConfigError, match="cannot write in the folder"):
        prepare_out_dir(tmp_path / "o")


def test_good_out_is_created_empty(tmp_path: Path) -> None:
    out = prepare_out_dir(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []
    assert prepare_out_dir(tmp_path / "c", create=False) == tmp_path / "c"
    assert not (tmp_path / "c").exists()


def test_port_that_is_not_a_device_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regular = tmp_path / "port"
    regular.write_text("")
    argv = ["run", "--device", "rehastim2", "--sensor-port", str(regular), "--stimulator-port", "/dev/null",
            "--yes", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--sensor-port" in err and str(regular) in err and "not a device" in err
    assert not (tmp_path / "o").exists()


def test_one_port_for_both_sensor_and_stimulator_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same device under two names too (a symlink, as /dev/serial/by-id/... is): it was opened
    as the sensor and then refused as the stimulator with a message about a second session."""
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        link = tmp_path / "by-id-link"
        link.symlink_to(name)
        for sensor, stim in ((name, name), (str(link), name)):
            argv = ["run", "--device", "rehastim2", "--sensor-port", sensor, "--stimulator-port", stim,
                    "--yes", "--out", str(tmp_path / "o")]
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"--stimulator-port {stim!r}: is the same port as --sensor-port {sensor!r}" in err, err
            assert not (tmp_path / "o").exists()
        url = "socket://localhost:7777"
        assert main(["run", "--device", "rehastim2", "--sensor-port", url, "--stimulator-port", url, "--yes",
                     "--out", str(tmp_path / "o")]) == 2
        assert "is the same port" in capsys.readouterr().err
        # two different devices pass this check and get as far as the output folder (a file here: refused)
        (tmp_path / "a-file").write_text("")
        assert main(["run", "--device", "rehastim2", "--sensor-port", name, "--stimulator-port", "/dev/null",
                     "--yes", "--out", str(tmp_path / "a-file")]) == 2
        err = capsys.readouterr().err
        assert "--out" in err and "is the same port" not in err, err
    finally:
        os.close(master)
        os.close(slave)


def test_bad_profile_in_run_exits_2_before_the_ports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "profile.toml"
    os.mkfifo(fifo)
    assert main([*_run(tmp_path / "o"), "--profile", str(fifo)]) == 2
    assert "FIFO" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
