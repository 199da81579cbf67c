"""Results tools write only between their own markers (fescontrol_hil.results_block)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from fescontrol_hil.results_block import publish, update_results


def test_a_block_is_appended_then_replaced_in_place(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    update_results(path, "first\n", "<!-- a:begin -->", "<!-- a:end -->")
    assert path.read_text() == "<!-- a:begin -->\nfirst\n<!-- a:end -->\n"
    path.write_text("# Results\n\nby hand\n\n" + path.read_text() + "\nafter\n")
    update_results(path, "second\n", "<!-- b:begin -->", "<!-- b:end -->")
    update_results(path, "third\n", "<!-- a:begin -->", "<!-- a:end -->")
    assert path.read_text() == ("# Results\n\nby hand\n\n<!-- a:begin -->\nthird\n<!-- a:end -->\nafter\n\n"
                                "<!-- b:begin -->\nsecond\n<!-- b:end -->\n")


def test_markers_out_of_order_are_not_a_block(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("<!-- a:end -->\n<!-- a:begin -->\n")
    update_results(path, "x\n", "<!-- a:begin -->", "<!-- a:end -->")
    assert path.read_text().endswith("<!-- a:begin -->\n\n<!-- a:begin -->\nx\n<!-- a:end -->\n")


def test_publish_prints_the_tables_and_updates_the_file(tmp_path: Path) -> None:
    out = io.StringIO()
    path = tmp_path / "RESULTS.md"
    publish("| a |\n", out, time.monotonic(), path, "<!-- a:begin -->", "<!-- a:end -->")
    assert out.getvalue().startswith("| a |\n(") and out.getvalue().endswith(f"updated {path}\n")
    assert path.read_text() == "<!-- a:begin -->\n| a |\n<!-- a:end -->\n"
    out = io.StringIO()
    publish("| b |\n", out, time.monotonic(), None, "<!-- a:begin -->", "<!-- a:end -->")
    assert "updated" not in out.getvalue() and path.read_text().count("| a |") == 1
