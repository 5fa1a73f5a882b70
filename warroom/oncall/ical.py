"""iCalendar (RFC 5545) in and out, through the ``icalendar`` library.

Out: a team's final schedule over a window (:func:`schedule_calendar`), or one person's shifts across the
schedules they are in (:func:`person_calendar`), to subscribe to from a calendar app. Each event's UID is
derived from what the shift is — feed, schedule, layer or override, person and start — so a calendar that
fetches the feed again updates the events it has instead of adding copies. Shifts are exported whole even
where they cross the window's edges, so moving the window does not change them.

In: a calendar's events as a layer of explicit shifts (:func:`import_layer`) or as overrides
(:func:`import_overrides`). Each event names one person: an email in its title, else its one attendee, else
its title looked up in ``people``. What cannot be imported is said in sentences (:class:`IcalError`).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from warroom.oncall.model import EMAIL_RE, Layer, LayerShift, Override, Schedule, zone
from warroom.oncall.timeline import Shift, shifts

PRODID = "-//warroom//on-call schedules//EN"
#: How often subscribed calendars are asked to fetch the feed again.
REFRESH = timedelta(hours=1)
#: Bounds on what an import reads.
MAX_ICAL_BYTES = 4 * 1024 * 1024
MAX_EVENTS = 5000
#: How many problems an import error lists before "and N more".
_SHOWN = 5

_EMAIL_IN_TEXT = re.compile(r"[^@\s<>|:;,()\[\]\"']+@[^@\s<>|:;,()\[\]\"']+\.[A-Za-z]{2,}")


class IcalError(ValueError):
    """A calendar that cannot be imported; the message says what is wrong and what to do."""


def schedule_calendar(
    schedule: Schedule, start: datetime, end: datetime, *, stamp: datetime, refresh: timedelta = REFRESH
) -> bytes:
    """The final schedule's shifts meeting ``start``–``end`` as an iCalendar feed.

    ``stamp`` is the export's time (each event's DTSTAMP): pass the current time; nothing here reads a clock.
    """
    cal = _calendar(f"{schedule.name} on call", refresh)
    for shift in _seconds(shifts(schedule, start, end, clip=False)):
        where = "override" if shift.is_override else f"layer {shift.layer}"
        summary = f"{shift.user} on call" + (" (override)" if shift.is_override else "")
        cal.add_component(
            _event("team", schedule, shift, stamp, summary=summary, description=f"{schedule.name} on call · {where}")
        )
    return _finish(cal)


def person_calendar(
    schedules: Iterable[Schedule],
    user: str,
    start: datetime,
    end: datetime,
    *,
    stamp: datetime,
    refresh: timedelta = REFRESH,
) -> bytes:
    """``user``'s shifts (final schedule only: where an override or a higher layer covers them, they are not
    on call) in each of ``schedules``, meeting ``start``–``end``, as an iCalendar feed."""
    person = user.strip().lower()
    cal = _calendar(f"{person} on call", refresh)
    for schedule in schedules:
        for shift in _seconds(shifts(schedule, start, end, clip=False)):
            if shift.user != person:
                continue
            where = "override" if shift.is_override else f"layer {shift.layer}"
            cal.add_component(
                _event(
                    "person",
                    schedule,
                    shift,
                    stamp,
                    summary=f"On call: {schedule.name}",
                    description=f"{person} on call for {schedule.name} · {where}",
                )
            )
    return _finish(cal)


def event_uid(feed: str, schedule: Schedule, shift: Shift) -> str:
    """The stable UID of ``shift``'s event in a ``feed`` ("team" or "person")."""
    what = "\x1f".join(
        [feed, schedule.name, "override" if shift.layer is None else f"layer:{shift.layer}", shift.user, shift.start.isoformat()]
    )
    return f"{hashlib.sha256(what.encode()).hexdigest()[:32]}@warroom-oncall"


def import_layer(
    text: str | bytes, *, name: str, time_zone: str = "UTC", people: Mapping[str, str] | None = None
) -> Layer:
    """A layer of explicit shifts, one per event. Events must not overlap (a layer has one person at a time).

    ``time_zone`` is the layer's, and the zone of the calendar's floating times and all-day events.
    """
    events = _read(text, time_zone, people)
    events.sort(key=lambda e: (e.start, e.end))
    problems = [
        f"{a.label} and {b.label} overlap; a layer has one person at a time — import overlapping events as overrides."
        for a, b in itertools.pairwise(events)
        if b.start < a.end
    ]
    _raise(problems)
    try:
        return Layer(
            name=name,
            time_zone=time_zone,
            shifts=[LayerShift(user=e.user, start=e.start, end=e.end) for e in events],
        )
    except ValueError as exc:
        raise IcalError(str(exc)) from None


def import_overrides(
    text: str | bytes, *, time_zone: str = "UTC", people: Mapping[str, str] | None = None
) -> list[Override]:
    """One override per event, in the calendar's order (so a later event wins where two overlap)."""
    events = _read(text, time_zone, people)
    try:
        return [Override(user=e.user, start=e.start, end=e.end, note=e.summary[:500]) for e in events]
    except ValueError as exc:
        raise IcalError(str(exc)) from None


# -- export ------------------------------------------------------------------------------------------


def _calendar(name: str, refresh: timedelta) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", name)  # RFC 7986
    cal.add("x-wr-calname", name)  # what most calendar apps read
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})  # RFC 7986
    cal.add("x-published-ttl", refresh)
    return cal


def _seconds(found: Iterable[Shift]) -> list[Shift]:
    """Shifts to the second, as iCalendar keeps times; any that would be empty then are left out."""
    out = []
    for shift in found:
        start, end = shift.start.replace(microsecond=0), shift.end.replace(microsecond=0)
        if start < end:
            out.append(Shift(shift.user, start, end, shift.layer))
    return out


def _event(feed: str, schedule: Schedule, shift: Shift, stamp: datetime, *, summary: str, description: str) -> Event:
    if stamp.tzinfo is None:
        raise ValueError("stamp must be an aware date-time (with a time zone), e.g. datetime.now(UTC).")
    event = Event()
    event.add("uid", event_uid(feed, schedule, shift))
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("summary", summary)
    event.add("description", description)
    event.add("categories", ["On call"])
    event.add("transp", "TRANSPARENT")  # being on call is not being busy
    return event


def _finish(cal: Calendar) -> bytes:
    return bytes(cal.to_ical())


# -- import ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Read:
    user: str
    start: datetime
    end: datetime
    summary: str
    label: str


def _raise(problems: Sequence[str]) -> None:
    if not problems:
        return
    shown = list(problems[:_SHOWN])
    if len(problems) > _SHOWN:
        shown.append(f"and {len(problems) - _SHOWN} more.")
    raise IcalError("This calendar cannot be imported: " + " ".join(shown))


def _read(text: str | bytes, time_zone: str, people: Mapping[str, str] | None) -> list[_Read]:
    try:
        tz = zone(time_zone)
    except ValueError as exc:
        raise IcalError(str(exc)) from None
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_ICAL_BYTES:
        raise IcalError(
            f"This calendar is {size:,} bytes; at most {MAX_ICAL_BYTES:,} are read. Export a shorter date range."
        )
    try:
        cal = Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise IcalError(
            f"This is not an iCalendar (RFC 5545) file: {_reason(exc)}. Export the calendar as .ics and try again."
        ) from None
    if not isinstance(cal, Calendar) or cal.name != "VCALENDAR":
        raise IcalError("This is not an iCalendar (RFC 5545) file: it must begin with BEGIN:VCALENDAR.")
    events = list(cal.events)
    if len(events) > MAX_EVENTS:
        raise IcalError(f"This calendar has {len(events)} events; at most {MAX_EVENTS} are read. Export a shorter date range.")
    directory = {key.strip().lower(): value.strip().lower() for key, value in (people or {}).items()}
    out: list[_Read] = []
    problems: list[str] = []
    for event in events:
        try:
            read = _read_event(event, tz, directory)
        except IcalError as exc:
            problems.append(str(exc))
            continue
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # what icalendar could not make sense of
            problems.append(f"{_label(event)} could not be read: {_reason(exc)}.")
            continue
        if read is not None:
            out.append(read)
    _raise(problems)
    if not out:
        raise IcalError("This calendar has no events to import: each shift should be one event naming its person.")
    return out


def _reason(exc: BaseException) -> str:
    """An exception's message as part of a sentence: its first line, without a closing full stop, bounded."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:200].rstrip(".")


def _label(event: Event) -> str:
    summary = str(event.get("summary", "")).strip()[:80]
    try:
        when = f" on {event.get('dtstart').dt.isoformat()}"
    except (ValueError, TypeError, AttributeError, KeyError):
        when = ""
    return f"Event {summary or '(untitled)'!r}{when}"


def _read_event(event: Event, tz: ZoneInfo, directory: Mapping[str, str]) -> _Read | None:
    summary = str(event.get("summary", "")).strip()
    label = _label(event)
    if str(event.get("status", "")).upper() == "CANCELLED":
        return None
    for once in ("dtstart", "dtend", "duration", "summary"):
        if isinstance(event.get(once), list):
            raise IcalError(f"{label} has more than one {once.upper()}; an event has one.")
    start_prop = event.get("dtstart")
    for repeat in ("rrule", "rdate", "recurrence-id"):
        if event.get(repeat) is not None:
            raise IcalError(
                f"{label} repeats ({repeat.upper()}); import reads one event per shift. Export the calendar with "
                "repeats expanded, or describe the rotation as a layer with users, rotation_start and handoff."
            )
    if start_prop is None:
        raise IcalError(f"{label} has no start (DTSTART).")
    for prop in ("dtstart", "dtend"):
        value = event.get(prop)
        if value is not None and "TZID" in value.params and isinstance(value.dt, datetime) and value.dt.tzinfo is None:
            raise IcalError(f"{label} uses an unknown time zone {value.params['TZID']!r}: use an IANA name such as Europe/London.")
    try:
        start, end = event.start, event.end
    except (ValueError, KeyError, TypeError) as exc:
        raise IcalError(f"{label} has unreadable times: {_reason(exc)}.") from None
    begin, finish = _instant(start, tz), _instant(end, tz)
    if finish <= begin:
        raise IcalError(f"{label} has no length: give it an end (DTEND) or a duration after its start.")
    return _Read(user=_person(event, summary, label, directory), start=begin, end=finish, summary=summary, label=label)


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    """An iCalendar start or end as an instant: all-day dates and floating times are in ``tz``."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz, fold=0)
    return value.astimezone(UTC)


def _person(event: Event, summary: str, label: str, directory: Mapping[str, str]) -> str:
    in_title = sorted({str(m).lower() for m in _EMAIL_IN_TEXT.findall(summary)})
    if len(in_title) == 1:
        return in_title[0]
    if len(in_title) > 1:
        raise IcalError(f"{label} names {len(in_title)} people in its title ({', '.join(in_title)}); a shift has one.")
    attendees = event.get("attendee")
    if attendees is not None and not isinstance(attendees, list):
        attendees = [attendees]
    emails = sorted(
        {
            str(a).split(":", 1)[1].strip().lower()
            for a in attendees or []
            if str(a).lower().startswith("mailto:") and EMAIL_RE.match(str(a).split(":", 1)[1].strip())
        }
    )
    if len(emails) == 1:
        return emails[0]
    if len(emails) > 1:
        raise IcalError(
            f"{label} has {len(emails)} attendees ({', '.join(emails)}); a shift has one person: "
            "put that person's email in the event's title."
        )
    key = summary.lower()
    if key in directory:
        return directory[key]
    raise IcalError(f"{label} names nobody warroom knows: put the person's email in its title or make them its one attendee.")
