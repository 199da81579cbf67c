"""The controller state machine: one table, no implicit transitions, invalid triggers raise."""

from __future__ import annotations

import pytest
from transitions import MachineError

from fescontrol.control.machine import TRANSITIONS, ControllerMachine, Phase


def test_walk_cycle_and_log_of_changes() -> None:
    seen: list[tuple[str, str, str]] = []
    m = ControllerMachine(lambda a, b, t: seen.append((a, b, t)))
    for trig in ("link_up", "contact", "heel_off", "heel_strike", "heel_off"):
        getattr(m, trig)()
    assert m.phase is Phase.SWING and m.stimulation_allowed()
    assert seen[0] == ("idle", "armed", "link_up")
    assert seen[-1] == ("stance", "swing", "heel_off")


def test_no_auto_transitions_and_invalid_triggers_raise() -> None:
    m = ControllerMachine()
    assert not hasattr(m, "to_swing")
    with pytest.raises(MachineError):
        m.heel_off()  # idle: no link, no gait
    m.link_up()
    with pytest.raises(MachineError):
        m.heel_off()  # armed: no contact seen yet, so no swing can start


def test_fault_is_latched_until_acknowledged() -> None:
    m = ControllerMachine()
    m.link_up()
    m.contact()
    m.heel_off()
    m.trip()
    assert m.phase is Phase.FAULT and not m.stimulation_allowed()
    for trig in ("link_up", "contact", "heel_off", "heel_strike", "finish", "trip"):
        with pytest.raises(MachineError):
            getattr(m, trig)()
    m.acknowledge()
    assert m.phase is Phase.IDLE


def test_every_state_is_reachable_from_the_table() -> None:
    dests = {row["dest"] for row in TRANSITIONS}
    assert set(Phase) - {Phase.IDLE} <= dests
