"""Gait event and detector phase codes shared by every detector, the envelope and the loop.

One module, so that a new detector (heel switch, adaptive heel, insole, IMU ...) adds no codes
of its own that the envelope or the loop would have to learn (ARCHITECTURE.md, "Seams").

Event codes (``int8``, one per sample, at the sample where the event is *decided*; a kernel's
``onset_back`` int32 output says how many samples earlier the event physically happened, so
its time is ``(index - onset_back) / rate_hz``):

``EV_HEEL_STRIKE``  contact after a swing: the envelope's OFF trigger (extension, ramp down).
``EV_HEEL_OFF``     the swing-onset trigger: the envelope starts a burst *at this sample*. Its
                    physical time (``index - onset_back``) is when the heel left the ground,
                    which may be earlier than the sample the burst starts at: a detector that
                    delays the burst (learned onset delay, forefoot unloading of an insole)
                    emits it at the delayed sample and reaches back with ``onset_back``.
``EV_TOE_OFF``      the forefoot left the ground (insole). Informational: the envelope ignores
                    it; ``events.csv`` records it as ``toe_off``.
``EV_STIM_ABORT``   end the burst under way: it belongs to no step (see below).

The envelope (``envelope.py``) reacts to ``EV_HEEL_OFF`` and ``EV_HEEL_STRIKE`` only and ignores
every other code, so informational codes can be added here without touching it. An abort must
end the burst like a heel strike does, but it is no heel strike (no step, not logged as one):
:func:`envelope_events` maps a detector's event array onto the envelope's codes, and every
caller of the envelope (batch runner, live loop) passes the detector's events through it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EV_NONE",
    "EV_HEEL_STRIKE",
    "EV_HEEL_OFF",
    "EV_TOE_OFF",
    "EV_STIM_ABORT",
    "EVENT_NAMES",
    "envelope_events",
    "PH_UNKNOWN",
    "PH_CONTACT",
    "PH_SWING",
    "PHASE_NAMES",
]

# --- event codes (out_event, int8) ----------------------------------------------------------
EV_NONE = 0
"""No event decided at this sample."""
EV_HEEL_STRIKE = 1
"""Contact onset after a swing: the classic OFF trigger (extension may follow)."""
EV_HEEL_OFF = 2
"""Heel unloaded after a contact: the ON trigger (the burst starts at the deciding sample)."""
EV_TOE_OFF = 3
"""Forefoot unloaded after a contact (insole): informational, the envelope ignores it."""

EV_STIM_ABORT = 4
"""The burst under way belongs to no step after all (the forefoot stayed loaded, or the heel
stayed off far longer than the wearer's swings: turning, standing on the toes): end it now.
Not a gait event (not written to ``events.csv``); the envelope must treat it as an OFF
trigger: see :func:`envelope_events`."""

EVENT_NAMES: dict[int, str] = {EV_HEEL_STRIKE: "heel_strike", EV_HEEL_OFF: "heel_off",
                               EV_TOE_OFF: "toe_off"}
"""Event code -> name used in ``events.csv`` (ARCHITECTURE.md, CONTRACT)."""

# --- detector phases ------------------------------------------------------------------------
PH_UNKNOWN = 0
"""No contact seen yet since start (or since the state was created): never triggers."""
PH_CONTACT = 1
"""Foot loaded (stance or standing)."""
PH_SWING = 2
"""Foot unloaded after a contact."""

PHASE_NAMES: dict[int, str] = {PH_UNKNOWN: "unknown", PH_CONTACT: "contact", PH_SWING: "swing"}


def envelope_events(event: np.ndarray) -> np.ndarray:
    """The detector's events as the envelope takes them: ``EV_STIM_ABORT`` -> ``EV_HEEL_STRIKE``.

    Returns ``event`` itself (no copy) when there is nothing to map, else a new int8 array.
    """
    if event.size and np.any(event == EV_STIM_ABORT):
        return np.where(event == EV_STIM_ABORT, np.int8(EV_HEEL_STRIKE), event).astype(np.int8)
    return event
