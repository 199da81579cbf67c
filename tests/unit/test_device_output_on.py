"""`simulate` ends the stimulator emulator only once its output is off; it reads that from stim.csv."""

from __future__ import annotations

from pathlib import Path

from fescontrol.control.emulated_device_end import device_output_on

HEADER = "t_s,channel,current_mA,pulse_width_us,frequency_hz\n"


def test_output_is_on_while_the_last_row_of_a_channel_is_not_zero(tmp_path: Path) -> None:
    stim = tmp_path / "stim.csv"
    stim.write_text(HEADER + "1.0,1,30,300,40\n1.0,2,20,250,40\n1.5,1,0,300,40\n")
    assert device_output_on(stim)  # channel 2 still at 20 mA
    with open(stim, "a") as f:
        f.write("1.5,2,0,250,40\n")
    assert not device_output_on(stim)


def test_a_line_still_being_written_does_not_count(tmp_path: Path) -> None:
    stim = tmp_path / "stim.csv"
    stim.write_text(HEADER + "1.0,1,30,300,40\n1.5,1,0")  # the emulator is writing "1.5,1,0,300,40\n"
    assert device_output_on(stim)
    stim.write_text(HEADER + "1.0,1,0,300,40\n1.5,1,3")
    assert not device_output_on(stim)


def test_no_file_or_only_a_header_is_off(tmp_path: Path) -> None:
    assert not device_output_on(tmp_path / "stim.csv")
    (tmp_path / "stim.csv").write_text(HEADER)
    assert not device_output_on(tmp_path / "stim.csv")


def test_a_row_that_is_not_a_number_is_no_output_and_no_crash(tmp_path: Path) -> None:
    stim = tmp_path / "stim.csv"
    stim.write_text(HEADER + "1.0,1,30,300,40\n1.5,1,abc,300,40\n")
    assert device_output_on(stim)  # the last readable row of channel 1 holds


def test_a_watch_reads_on_from_where_it_stopped(tmp_path: Path) -> None:
    """Watching to the end of a session reads only what was appended since the last look; a line
    still being written is taken once its end arrives."""
    from fescontrol.control.emulated_device_end import OutputWatch

    stim = tmp_path / "stim.csv"
    stim.write_text(HEADER + "1.0,1,30,300,40\n1.5,1,0")
    watch = OutputWatch(stim)
    assert watch.on()
    with open(stim, "a") as f:
        f.write(",300,40\n")  # the row completed: channel 1 is off
    assert not watch.on()
    with open(stim, "a") as f:
        f.write("2.0,2,20,250,40\n")
    assert watch.on()
