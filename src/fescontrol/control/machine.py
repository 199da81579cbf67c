"""The controller's state machine: every state and every transition in one table.

`transitions.Machine` with `auto_transitions=False`, so no state can be reached except by a
row of TRANSITIONS; an invalid trigger raises. The machine says what phase the controller
believes the leg is in and whether output is allowed; the safety gate still checks every
frame on its own.
"""

from __future__ import annotations

import enum
from typing import Callable

from transitions import Machine


class Phase(str, enum.Enum):
    IDLE = "idle"          # no device link
    ARMED = "armed"        # linked, waiting for gait (no contact seen yet)
    STANCE = "stance"      # heel loaded
    SWING = "swing"        # heel unloaded after a contact: the stimulation phase
    FAULT = "fault"        # latched; leaving it needs an operator acknowledgement


_WALKING = [Phase.ARMED, Phase.STANCE, Phase.SWING]

# trigger, source(s), destination
TRANSITIONS: list[dict[str, object]] = [
    {"trigger": "link_up", "source": Phase.IDLE, "dest": Phase.ARMED},
    {"trigger": "contact", "source": Phase.ARMED, "dest": Phase.STANCE},
    {"trigger": "heel_off", "source": Phase.STANCE, "dest": Phase.SWING},
    {"trigger": "heel_strike", "source": Phase.SWING, "dest": Phase.STANCE},
    {"trigger": "abort", "source": Phase.SWING, "dest": Phase.STANCE},
    {"trigger": "link_lost", "source": _WALKING, "dest": Phase.IDLE},
    {"trigger": "finish", "source": [Phase.IDLE, *_WALKING], "dest": Phase.IDLE},
    {"trigger": "trip", "source": [Phase.IDLE, *_WALKING], "dest": Phase.FAULT},
    {"trigger": "acknowledge", "source": Phase.FAULT, "dest": Phase.IDLE},
]

STIMULATION_ALLOWED = frozenset({Phase.STANCE, Phase.SWING})


class ControllerMachine:
    """Model object for `transitions`; `on_change(old, new, trigger)` is called on every transition."""

    state: Phase
    # trigger methods bound by transitions.Machine (annotations only, so binding is not skipped)
    link_up: Callable[[], bool]
    contact: Callable[[], bool]
    heel_off: Callable[[], bool]
    heel_strike: Callable[[], bool]
    abort: Callable[[], bool]
    link_lost: Callable[[], bool]
    finish: Callable[[], bool]
    trip: Callable[[], bool]
    acknowledge: Callable[[], bool]

    def __init__(self, on_change: Callable[[str, str, str], None] | None = None) -> None:
        self._on_change = on_change
        self.machine = Machine(
            model=self,
            states=Phase,
            transitions=TRANSITIONS,
            initial=Phase.IDLE,
            auto_transitions=False,
            queued=True,
            after_state_change=self._changed,
            send_event=True,
        )

    def _changed(self, event: object) -> None:
        if self._on_change is not None:
            transition = event.transition  # type: ignore[attr-defined]
            self._on_change(Phase[transition.source].value, Phase[transition.dest].value,
                            event.event.name)  # type: ignore[attr-defined]

    @property
    def phase(self) -> Phase:
        return Phase(self.state)

    def stimulation_allowed(self) -> bool:
        return self.phase in STIMULATION_ALLOWED

    # -- the loop's decisions, in one place: detector events in, transitions out --------------
    def on_contact(self) -> None:
        """The detector sees the heel loaded: a first contact arms the gait phases."""
        if self.phase is Phase.ARMED:
            self.contact()

    def on_heel_off(self) -> None:
        """Heel off starts a swing; in ARMED it also proves the contact before it."""
        self.on_contact()
        if self.phase is Phase.STANCE:
            self.heel_off()

    def on_heel_strike(self) -> None:
        """Heel strike ends a swing; elsewhere it changes nothing."""
        if self.phase is Phase.SWING:
            self.heel_strike()

    def on_abort(self) -> None:
        """The detector ends a swing that was not one (the forefoot stayed down: a pivot, a shift)."""
        if self.phase is Phase.SWING:
            self.abort()

    def output_allowed(self, sensor_fresh: bool) -> bool:
        """Non-zero output needs a gait phase that allows it and a fresh sensor sample."""
        return sensor_fresh and self.stimulation_allowed()

    def on_fault(self) -> None:
        """Enter FAULT now (idempotent): the moment a fault happens, not at teardown."""
        if self.phase is not Phase.FAULT:
            self.trip()
