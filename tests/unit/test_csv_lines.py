"""IMU CSV lines from a microcontroller: the format, header, CRLF, bad lines, partial lines."""

from __future__ import annotations

import numpy as np
import pytest

from fescontrol.errors import ProtocolError
from fescontrol.sensing.csv_lines import HEADER, MAX_LINE_LEN, CsvLineDecoder, encode_header, encode_line


def test_encoder_writes_the_documented_line() -> None:
    assert encode_line(7, (12.5, -350.0, 0.004), (0.25, 0.0, -1.0)) == b"7,12.50,-350.00,0.00,0.2500,0.0000,-1.0000\r\n"
    assert encode_line(65536 + 7, (0, 0, 0), (0, 0, 0)).startswith(b"7,")
    assert encode_header() == b"seq,gyr_x,gyr_y,gyr_z,acc_x,acc_y,acc_z\r\n" == (HEADER + "\r\n").encode()
    with pytest.raises(ProtocolError):
        encode_line(0, (float("nan"), 0, 0), (0, 0, 0))
    with pytest.raises(ProtocolError):
        encode_line(-1, (0, 0, 0), (0, 0, 0))


def test_decode_lf_and_crlf_spaces_and_header() -> None:
    data = b"seq,gyr_x,gyr_y,gyr_z,acc_x,acc_y,acc_z\n0,1.5,-2,3e1,0.1,.5,-1.\r\n1 , 2 , 3 , 4 , 0 , 0 , 1\n"
    dec = CsvLineDecoder()
    out = dec.feed(data)
    assert out.seq.tolist() == [0, 1]
    np.testing.assert_allclose(out.gyr_dps, [[1.5, -2.0, 30.0], [2.0, 3.0, 4.0]])
    np.testing.assert_allclose(out.acc_g, [[0.1, 0.5, -1.0], [0.0, 0.0, 1.0]])
    assert dec.header_lines == 1 and dec.lines_bad == 0 and dec.frames_ok == 2


@pytest.mark.parametrize("line", [
    b"MPU6050 connected.", b"1,2,3,4,5,6", b"1,2,3,4,5,6,7,8", b"1,2,3,4,5,6,nan", b"1,2,3,4,5,6,inf",
    b"70000,0,0,0,0,0,0", b"-1,0,0,0,0,0,0", b"1,4000.1,0,0,0,0,0", b"1,0,0,0,0,0,32.5", b"1,0,0,0,\xff,0,0",
    b"1,0,0,0,0x1,0,0", b"1,0,1_0,0,0,0,0", b"1,0,0\r,0,0,0,0",
])
def test_bad_lines_are_counted_and_skipped(line: bytes) -> None:
    dec = CsvLineDecoder()
    out = dec.feed(encode_line(0, (1, 1, 1), (0, 0, 1)) + line + b"\n" + encode_line(1, (2, 2, 2), (0, 0, 1)))
    assert out.seq.tolist() == [0, 1]
    assert dec.lines_bad == dec.frames_bad == 1
    assert dec.bytes_discarded == len(line) + 1


def test_partial_lines_wait_and_split_anywhere() -> None:
    data = b"".join(encode_line(k, (k, -k, 0.5), (0, 0, -1)) for k in range(6))
    dec = CsvLineDecoder()
    got = [dec.feed(data[k:k + 1]) for k in range(len(data))]
    assert np.concatenate([o.seq for o in got]).tolist() == list(range(6))
    assert dec.bytes_pending == 0 and dec.bytes_discarded == 0
    assert len(dec.feed(b"6,1,2,3,0,0,1")) == 0 and dec.bytes_pending == 13
    assert dec.finish().seq.tolist() == [6]  # a last line without its end, complete


def test_gaps_wrap_and_out_of_order() -> None:
    data = b"".join(encode_line(s, (0, 0, 0), (0, 0, 1)) for s in (65534, 65535, 0, 4, 4, 2, 5))
    dec = CsvLineDecoder()
    assert dec.feed(data).seq.tolist() == [65534, 65535, 65536, 65540, 65541]
    assert dec.samples_dropped == 3 and dec.frames_out_of_order == 2


def test_a_restarted_counter_is_named() -> None:
    data = b"".join(encode_line(s, (0, 0, 0), (0, 0, 1)) for s in (*range(500, 510), *range(5)))
    dec = CsvLineDecoder()
    assert dec.feed(data).seq.tolist() == list(range(500, 510))
    assert dec.sensor_restart == (509, 0)


def test_first_line_of_a_running_stream_can_be_skipped() -> None:
    cut = b"5,1.00,2.00,3.00,0.1000,0.0000,1.0000\r\n"  # the tail of "1235,...": it parses, with a wrong counter
    good = encode_line(1236, (1, 2, 3), (0, 0, 1))
    dec = CsvLineDecoder(skip_first_line=True)
    assert dec.feed(cut + good).seq.tolist() == [1236]
    assert dec.lines_bad == 0 and dec.bytes_discarded == len(cut)
    dec = CsvLineDecoder(skip_first_line=True)  # a header first is the header, and nothing is lost
    assert dec.feed(encode_header() + good).seq.tolist() == [1236]


def test_an_endless_line_is_dropped_once() -> None:
    dec = CsvLineDecoder()
    dec.feed(b"x" * (MAX_LINE_LEN + 1))
    assert dec.bytes_pending == 0 and dec.lines_bad == 1
    dec.feed(b"y" * 50 + b"\n" + encode_line(0, (0, 0, 0), (0, 0, 1)))
    assert dec.lines_bad == 1 and dec.frames_ok == 1


def test_the_last_rejected_line_is_kept_with_why_for_the_operator() -> None:
    """A sketch that prints six numbers and no counter: the fault can quote its line and say
    what a line must hold; a long line is cut, a line of other bytes stays readable."""
    dec = CsvLineDecoder()
    assert dec.last_rejected is None
    dec.feed(b"1.00,2.00,3.00,0.1000,0.2000,0.9800\r\n")
    assert dec.last_rejected == ("'1.00,2.00,3.00,0.1000,0.2000,0.9800': 6 fields, expected 7 "
                                 "(seq,gyr_x,gyr_y,gyr_z,acc_x,acc_y,acc_z)")
    dec.feed(b"1," + b"9" * 60 + b",2,3,4,5,6\n")
    assert dec.last_rejected == "'1," + "9" * 46 + "...': a value is not finite or beyond +-4000 deg/s / +-32 g"
    dec.feed(b"\xff\xfe boot\n")
    assert dec.last_rejected == "'\\\\xff\\\\xfe boot': not ASCII"
    dec.feed(b"x" * 250)
    assert dec.last_rejected == "longer than 200 bytes"
