"""On-call schedules as plain data: what a team's YAML says, validated by pydantic.

The vocabulary is the field's (PagerDuty, Grafana OnCall, Opsgenie):

- A **schedule** belongs to a team and holds ordered **layers** and **overrides**.
- A **layer** is a rotation of **users** (emails) in its own time zone: turns begin at ``rotation_start``
  and hand off every ``handoff`` (daily, weekly, or every N hours/days/weeks — always at the same local
  time, so a 09:00 handoff stays at 09:00 across daylight-saving changes). A turn's on-call part is the
  whole turn, or its first ``shift_length``. **Restrictions** (time-of-day windows on chosen weekdays,
  e.g. business hours Mon–Fri 09:00–17:00 local) keep a layer to those windows and leave the rest to the
  layers below. A layer may instead hold explicit ``shifts`` (what an iCal import gives).
- Layers are listed bottom to top: the **last** layer is the highest (PagerDuty's "Layer 2 over Layer 1",
  Grafana OnCall's higher level). The **final schedule** at an instant is the highest layer with someone on
  call; **overrides** (a person covers a range) sit above every layer, the later-listed above the earlier.

Date-times may be written with an offset (``2026-12-07T09:00:00+00:00``) or without one, in which case they
are wall-clock times in the layer's time zone (for a layer's fields) or the schedule's (for overrides).
Nothing here does I/O; the calendar maths is in :mod:`warroom.oncall.timeline`.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

EMAIL_RE = re.compile(r"^[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+$")

#: Weekday names as written in YAML, in ISO order (Monday is 0, as ``datetime.weekday()`` counts).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: i for i, name in enumerate(WEEKDAYS)} | {
    full: i
    for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}


def _email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL_RE.match(value):
        raise ValueError(f"{value!r} is not an email address: name people by their email, e.g. dana@example.com.")
    return value


def _zone_name(value: str) -> str:
    zone(value)
    return value


def _whole_seconds(value: datetime) -> datetime:
    return value.replace(microsecond=0)


Email = Annotated[str, AfterValidator(_email)]
ZoneName = Annotated[str, AfterValidator(_zone_name)]
#: A date-time to the second, as calendars (RFC 5545) keep them: fractions of a second are dropped.
Moment = Annotated[datetime, AfterValidator(_whole_seconds)]
Length = Annotated[timedelta, AfterValidator(lambda value: value - timedelta(microseconds=value.microseconds))]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``, or a ValueError whose message says what to write."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/London, America/New_York or UTC."
        ) from None


def to_utc(moment: datetime, tz: ZoneInfo) -> datetime:
    """An instant in UTC. A naive ``moment`` is a wall-clock time in ``tz`` read as RFC 5545 reads one:
    a time skipped by a spring-forward change uses the offset from before the change (01:30 on the night
    London springs forward is 02:30 BST), and a time that happens twice is its first occurrence."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz, fold=0)
    return moment.astimezone(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Unit(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class Handoff(_Model):
    """How often a layer's turn passes to the next user: ``daily``, ``weekly``, or ``{every: N, unit: …}``.

    The handoff's local time (and, for weeks, its weekday) is the layer's ``rotation_start``'s.
    """

    every: int = Field(1, ge=1, le=10_000)
    unit: Unit

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        shorthands = {"hourly": Unit.HOURS, "daily": Unit.DAYS, "weekly": Unit.WEEKS}
        if isinstance(data, str):
            if data.strip().lower() not in shorthands:
                raise ValueError(
                    f"Unknown handoff {data!r}: write daily, weekly, hourly, or e.g. {{every: 12, unit: hours}}."
                )
            return {"every": 1, "unit": shorthands[data.strip().lower()]}
        return data

    @property
    def turn(self) -> timedelta:
        """A turn's length on the wall clock (a day is a calendar day, 23 or 25 hours at a DST change)."""
        if self.unit is Unit.HOURS:
            return timedelta(hours=self.every)
        if self.unit is Unit.DAYS:
            return timedelta(days=self.every)
        return timedelta(weeks=self.every)


def _days(value: Any) -> Any:
    """``[mon, tue]``, ``"mon-fri"``, ``"sat,sun"`` or full day names → a sorted list of weekday numbers."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    if not isinstance(value, list | tuple):
        return value
    days: set[int] = set()
    for item in value:
        if isinstance(item, int):
            days.add(item)
            continue
        text = str(item).strip().lower()
        first, _, last = text.partition("-")
        if first not in _DAY_NAMES or (last and last not in _DAY_NAMES):
            raise ValueError(f"Unknown weekday {item!r}: write mon, tue, wed, thu, fri, sat, sun or a range like mon-fri.")
        a, b = _DAY_NAMES[first], _DAY_NAMES[last or first]
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return sorted(days)


class Restriction(_Model):
    """A window in the layer's local time on each of ``days`` (the days it opens): the layer is on call only
    inside its restrictions. ``end`` at or before ``start`` runs into the next day (17:00–09:00 is a night);
    ``end`` equal to ``start`` is the whole day. Several restrictions add up."""

    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=lambda: list(range(7)), min_length=1)
    start: time
    end: time

    @field_validator("days", mode="before")
    @classmethod
    def _parse_days(cls, value: Any) -> Any:
        return _days(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _not_sexagesimal(cls, value: Any) -> Any:
        if isinstance(value, int):
            raise ValueError(
                "Quote times in YAML (start: '17:00'): unquoted, YAML reads 17:00 as the number 1020."
            )
        return value

    @field_validator("start", "end")
    @classmethod
    def _naive_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("A restriction's times are local to the layer's time zone: leave the offset out.")
        return value

    @property
    def length(self) -> timedelta:
        """The window's length on the wall clock."""
        start = datetime.combine(datetime.min.date(), self.start)
        end = datetime.combine(datetime.min.date(), self.end)
        length = (end - start) % timedelta(days=1)
        return length or timedelta(days=1)


class LayerShift(_Model):
    """One explicit shift of a layer (imported from a calendar): ``user`` is on call from ``start`` to ``end``."""

    user: Email
    start: Moment
    end: Moment

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range(self.start, self.end, f"{self.user}'s shift")
        return self


class Layer(_Model):
    """A rotation (``users``, ``rotation_start``, ``handoff``) or a list of explicit ``shifts``."""

    name: str = Field(min_length=1, max_length=200)
    #: IANA name; the schedule's when left out.
    time_zone: ZoneName | None = None
    users: list[Email] = Field(default_factory=list)
    #: When the first user's first turn begins; fixes the handoff's local time (and weekday, for weeks).
    rotation_start: Moment | None = None
    handoff: Handoff | None = None
    #: The on-call part of each turn, from its start; the whole turn when left out.
    shift_length: Length | None = None
    shifts: list[LayerShift] = Field(default_factory=list)
    restrictions: list[Restriction] = Field(default_factory=list)
    #: The layer is in effect from ``start`` (default: its rotation's start) until ``end`` (default: forever).
    start: Moment | None = None
    end: Moment | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        rotation = bool(self.users) or self.rotation_start is not None or self.handoff is not None
        if rotation and self.shifts:
            raise ValueError(
                f"Layer {self.name!r} has both a rotation (users, rotation_start, handoff) and explicit shifts: "
                "give one or the other."
            )
        if not self.shifts:
            missing = [
                field
                for field, value in (("users", self.users), ("rotation_start", self.rotation_start), ("handoff", self.handoff))
                if not value
            ]
            if missing:
                raise ValueError(
                    f"Layer {self.name!r} needs {', '.join(missing)}: e.g. users: [ana@example.com, bo@example.com], "
                    "rotation_start: 2026-12-07T09:00, handoff: weekly (or explicit shifts)."
                )
        elif self.shift_length is not None:
            raise ValueError(f"Layer {self.name!r} has explicit shifts: shift_length applies to rotations only.")
        if self.shift_length is not None:
            assert self.handoff is not None
            if self.shift_length <= timedelta(0) or self.shift_length > self.handoff.turn:
                raise ValueError(
                    f"Layer {self.name!r}: shift_length must be more than zero and at most a turn "
                    f"({self.handoff.every} {self.handoff.unit.value})."
                )
        if self.start is not None and self.end is not None:
            _check_range(self.start, self.end, f"Layer {self.name!r}")
        return self

    @property
    def is_rotation(self) -> bool:
        return not self.shifts


class Override(_Model):
    """``user`` covers ``start``–``end``, above every layer."""

    user: Email
    start: Moment
    end: Moment
    #: Why, or for whom (shown beside the override; no effect on the maths).
    note: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range(self.start, self.end, f"The override for {self.user}")
        return self


class Schedule(_Model):
    """A team's on-call schedule: layers bottom to top, then overrides above them all."""

    #: The team (or schedule) name: shown in calendars and chat, and part of exported events' identity.
    name: str = Field(min_length=1, max_length=200)
    #: The team the schedule belongs to (``/oncall <team>`` finds it by this name).
    team: str = Field("", max_length=200)
    time_zone: ZoneName = "UTC"
    layers: list[Layer] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [layer.name for layer in self.layers]
        doubles = sorted({name for name in names if names.count(name) > 1})
        if doubles:
            raise ValueError(f"Schedule {self.name!r} has more than one layer called {doubles[0]!r}: name each layer once.")
        for layer in self.layers:
            tz = self.zone_of(layer)
            if layer.start is not None and layer.end is not None and to_utc(layer.start, tz) >= to_utc(layer.end, tz):
                raise ValueError(f"Layer {layer.name!r} ends before it starts: its end must be after its start.")
            ordered = sorted((to_utc(s.start, tz), to_utc(s.end, tz), s.user) for s in layer.shifts)
            for (_, end, user), (start, _, other) in itertools.pairwise(ordered):
                if start < end:
                    raise ValueError(
                        f"Layer {layer.name!r}: the shifts of {user} and {other} overlap at "
                        f"{start.isoformat()}; a layer has one person on call at a time (use overrides to stack)."
                    )
        tz = zone(self.time_zone)
        for override in self.overrides:
            if to_utc(override.start, tz) >= to_utc(override.end, tz):
                raise ValueError(f"The override for {override.user} ends before it starts: its end must be after its start.")
        return self

    def zone_of(self, layer: Layer) -> ZoneInfo:
        """The time zone ``layer``'s wall-clock times are in."""
        return zone(layer.time_zone or self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)


def _check_range(start: datetime, end: datetime, what: str) -> None:
    """Where both ends can be compared as written (both naive or both with an offset), ``start < end``."""
    if (start.tzinfo is None) == (end.tzinfo is None) and start >= end:
        raise ValueError(f"{what} ends before it starts: its end must be after its start.")
