"""An override asked for in chat, as text → an :class:`~warroom.oncall.model.Override`, or a sentence saying why not.

Forms (after the person: an email, ``@handle``, a Slack mention ``<@U123|dana>``, ``<mailto:…|…>``, or ``me``)::

    until tomorrow 09:00                      from now
    from 2026-12-07 18:00 to 2026-12-08 09:00
    from friday 17:00 until monday 09:00
    for 4h  /  from 18:00 for 2 days

Dates and times are read by ``python-dateutil``'s parser (ISO dates, ``Dec 7``, ``9am``, weekday names) in the
given time zone unless they carry an offset (``Z``, ``+01:00``); ``today``, ``tomorrow``, ``noon``, ``midnight``
and ``now`` are understood too. A time alone that has passed today means tomorrow; a weekday that has passed
this week means next week's. Pure code: the caller passes the time zone, the current time and who is who.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta

from warroom.oncall.model import EMAIL_RE, Override, to_utc, zone

USAGE = (
    "Write who and when, e.g. `@dana until tomorrow 09:00`, "
    "`dana@example.com from 2026-12-07 18:00 to 2026-12-08 09:00` or `me for 4h`."
)
MAX_TEXT = 300
MAX_LENGTH = timedelta(days=90)

_PERSON = re.compile(r"^\s*(<[^>]+>|\S+)\s*(.*)$", re.S)
_RANGE = re.compile(
    r"^(?:(?:from\s+)?(?P<start>.+?)\s+)?(?:(?:until|till|til|to|through|thru|-|–|—)\s+(?P<end>.+)|for\s+(?P<length>.+))$",
    re.I,
)
_DAY_WORD = re.compile(r"^(?P<day>today|tomorrow)\b(?:\s+at)?\s*(?P<rest>.*)$", re.I)
_TIME_ONLY = re.compile(r"^(?:at\s+)?\d{1,2}(?::\d{2}|(?::\d{2})?\s*(?:am|pm))$", re.I)
_WEEKDAY_TIME = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*(?:\s+(?:at\s+)?(?P<time>.+))?$", re.I)
_BARE_NUMBER = re.compile(r"^(?:at\s+)?\d{1,4}$", re.I)
_LENGTH_PART = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m)(?![a-z])", re.I
)


_WORDS = {"noon": "12:00", "midday": "12:00"}


class OverrideTextError(ValueError):
    """Text that does not say an override; the message is a sentence saying what to write."""


def parse_override(
    text: str,
    *,
    time_zone: str,
    now: datetime,
    people: Mapping[str, str] | None = None,
    me: str | None = None,
    max_length: timedelta = MAX_LENGTH,
) -> Override:
    """The override ``text`` asks for.

    ``time_zone`` is the asker's (or the schedule's) IANA zone; ``now`` the current time (aware); ``people``
    maps chat handles and user ids to emails (``{"dana": "dana@example.com", "U123": …}``); ``me`` is the
    asker's email, for ``me``. Raises :class:`OverrideTextError` with a sentence for anything else.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware date-time (with a time zone), e.g. datetime.now(UTC).")
    try:
        tz = zone(time_zone)
    except ValueError as exc:
        raise OverrideTextError(str(exc)) from None
    text = " ".join(text.split())
    if not text:
        raise OverrideTextError(f"Say who covers and until when. {USAGE}")
    if len(text) > MAX_TEXT:
        raise OverrideTextError(f"That is longer than an override needs ({MAX_TEXT} characters at most). {USAGE}")
    match = _PERSON.match(text)
    assert match is not None
    user = _person(match.group(1), people or {}, me)
    rest = match.group(2).strip().rstrip(".")
    if not rest:
        raise OverrideTextError(f"Say until when {user} covers. {USAGE}")
    span = _RANGE.match(rest)
    if span is None:
        raise OverrideTextError(f"I could not tell when the override starts and ends in {rest!r}. {USAGE}")
    moment = now.astimezone(UTC)
    start = _when(span["start"], tz, moment) if span["start"] else moment
    if span["length"] is not None:
        end = _plus(start, span["length"], tz)
    else:
        end = _when(span["end"], tz, moment)
    where = f"(times are in {time_zone} unless you give an offset)"
    if end <= start:
        raise OverrideTextError(
            f"The override would end at {_show(end, tz)}, not after it starts at {_show(start, tz)} {where}. {USAGE}"
        )
    if end <= moment:
        raise OverrideTextError(f"The override would end at {_show(end, tz)}, which has passed {where}. {USAGE}")
    if end - start > max_length:
        raise OverrideTextError(
            f"An override of {(end - start).days} days ({_show(start, tz)} to {_show(end, tz)}) is longer than "
            f"{max_length.days} days; check the dates, or change the schedule's layers for lasting changes."
        )
    return Override(user=user, start=start, end=end)


def _person(token: str, people: Mapping[str, str], me: str | None) -> str:
    directory = {key.strip().lower().lstrip("@"): value for key, value in people.items()}
    candidates: list[str] = []
    inner = token[1:-1] if token.startswith("<") and token.endswith(">") else None
    if inner is not None:
        if inner.lower().startswith("mailto:"):
            candidates.append(inner[7:].split("|", 1)[0])
        elif inner.startswith("@"):
            candidates.extend(part for part in inner[1:].split("|", 1))
    elif token.lower() == "me":
        if me is None:
            raise OverrideTextError(f"I do not know your email, so `me` cannot be used here: name the person. {USAGE}")
        candidates.append(me)
    else:
        candidates.append(token.lstrip("@"))
    for candidate in candidates:
        candidate = candidate.strip()
        if EMAIL_RE.match(candidate):
            return candidate.lower()
        if candidate.lower() in directory:
            return directory[candidate.lower()].strip().lower()
    shown = token if inner is None else (candidates[-1] if candidates else token)
    raise OverrideTextError(
        f"I do not know who {shown!r} is: name them by their email (dana@example.com) or mention them. {USAGE}"
    )


def _when(expr: str, tz: ZoneInfo, now: datetime) -> datetime:
    """An instant from a date/time expression, in ``tz`` unless it has an offset."""
    expr = _WORDS.get(expr.strip().lower(), expr.strip())
    local_now = now.astimezone(tz)
    today = local_now.date()
    if expr.lower() in ("now", "right now"):
        return now
    if expr.lower() == "midnight":
        return to_utc(datetime.combine(today + timedelta(days=1), time(0)), tz)
    day_word = _DAY_WORD.match(expr)
    if day_word:
        day = today + timedelta(days=1 if day_word["day"].lower() == "tomorrow" else 0)
        rest = day_word["rest"].strip()
        if not rest:
            raise OverrideTextError(f"Say what time {day_word['day']}, e.g. `{day_word['day']} 09:00`. {USAGE}")
        return _parse(rest, tz, day, expr)
    if _BARE_NUMBER.match(expr):
        raise OverrideTextError(f"{expr!r} could be a day or an hour: write the time as `09:00` or `9am`. {USAGE}")
    moment = _parse(expr, tz, today, expr)
    weekday = _WEEKDAY_TIME.match(expr)
    if moment <= now and _TIME_ONLY.match(expr):  # a time that has passed today: tomorrow's
        moment = _parse(expr, tz, today + timedelta(days=1), expr)
    elif moment <= now and weekday and (weekday["time"] is None or _TIME_ONLY.match(weekday["time"])):
        moment = _parse(expr, tz, today + timedelta(days=1), expr)  # the weekday's next occurrence after today
    return moment


def _parse(expr: str, tz: ZoneInfo, day: date, shown: str) -> datetime:
    with warnings.catch_warnings():
        warnings.simplefilter("error", dateparser.UnknownTimezoneWarning)
        try:
            parsed = dateparser.parse(expr, default=datetime.combine(day, time(0)), yearfirst=True)
        except dateparser.UnknownTimezoneWarning:
            raise OverrideTextError(
                f"I cannot tell which time zone {shown!r} means: give an offset (+01:00, Z) or leave it out "
                f"to use {tz.key}."
            ) from None
        except (ValueError, OverflowError):
            raise OverrideTextError(
                f"I could not read {shown!r} as a date and time: write e.g. `tomorrow 09:00`, `friday 17:00` or "
                "`2026-12-07 18:00`."
            ) from None
    return to_utc(parsed, tz)


def _plus(start: datetime, length: str, tz: ZoneInfo) -> datetime:
    """``start`` + a length such as ``4h``, ``2 days``, ``1h30m``: days and weeks on ``tz``'s wall clock (a day
    is a calendar day), hours and minutes in elapsed time."""
    parts = list(_LENGTH_PART.finditer(length))
    leftover = re.sub(r"\band\b|,", "", _LENGTH_PART.sub("", length), flags=re.I).strip()
    if not parts or leftover:
        raise OverrideTextError(f"I could not read {length!r} as a length: write e.g. `for 4h`, `for 2 days` or `for 1h30m`.")
    weeks = days = hours = minutes = 0.0
    for part in parts:
        n, unit = float(part["n"]), part["unit"].lower()
        if unit.startswith("w"):
            weeks += n
        elif unit.startswith("d"):
            days += n
        elif unit.startswith("h"):
            hours += n
        else:
            minutes += n
    if weeks + days > 3660 or hours + minutes / 60 > 87_840:
        raise OverrideTextError(f"{length!r} is too long for an override.")
    wall = start.astimezone(tz).replace(tzinfo=None) + relativedelta(weeks=+weeks, days=+days)
    return to_utc(wall, tz) + timedelta(hours=hours, minutes=minutes)


def _show(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M")
