"""On-call schedules: the model (pydantic, loadable from YAML), the final layer merge, iCal in and out, and
overrides asked for in chat text. Pure code over plain data: no database, no chat, no clock.

Escalation policies, notification rules and their timers will live beside these modules.
"""

from warroom.oncall.ical import (
    IcalError,
    event_uid,
    import_layer,
    import_overrides,
    person_calendar,
    schedule_calendar,
)
from warroom.oncall.model import Handoff, Layer, LayerShift, Override, Restriction, Schedule, Unit
from warroom.oncall.override_text import OverrideTextError, parse_override
from warroom.oncall.timeline import NextChange, Shift, next_change, on_call_at, shifts

__all__ = [
    "Handoff",
    "IcalError",
    "Layer",
    "LayerShift",
    "NextChange",
    "Override",
    "OverrideTextError",
    "Restriction",
    "Schedule",
    "Shift",
    "Unit",
    "event_uid",
    "import_layer",
    "import_overrides",
    "next_change",
    "on_call_at",
    "parse_override",
    "person_calendar",
    "schedule_calendar",
    "shifts",
]
