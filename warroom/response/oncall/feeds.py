"""On-call calendar feeds to subscribe to from a calendar app: a schedule's final schedule, or one person's shifts
across every schedule — chat overrides included — over a window from a week back to two months ahead.

Calendar apps send no credentials of their own, so a feed's URL is a capability link
(:mod:`warroom.response.signed_links`): ``{server.public_url}/oncall/calendars/schedule/{name}.ics?sig=…`` and
``…/oncall/calendars/person/{email}.ics?sig=…``, the signature made over what the feed names. Served by
warroom.web.oncall_calendars; ``warroom oncall calendar-url`` prints one, and ``/oncall`` answers carry the
schedule's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from warroom.oncall import person_calendar, schedule_calendar
from warroom.response import signed_links
from warroom.response.oncall.schedules import effective_many
from warroom.settings import Settings
from warroom.store.db import Tx

Kind = Literal["schedule", "person"]
#: The window a feed covers, around the time it is fetched.
BACK = timedelta(days=7)
AHEAD = timedelta(days=60)
#: Where the feeds are served (warroom.web.oncall_calendars).
PATH = "/oncall/calendars"


def _key(kind: Kind, key: str) -> str:
    return key.strip().lower() if kind == "person" else key


def _subject(kind: Kind, key: str) -> str:
    return f"oncall-calendar:{kind}:{_key(kind, key)}"


def path(kind: Kind, key: str) -> str:
    """The feed's path, without its signature."""
    return f"{PATH}/{kind}/{quote(_key(kind, key), safe='@')}.ics"


def url(settings: Settings, kind: Kind, key: str) -> str | None:
    """The feed's subscription URL (signed); None when no secret is configured to sign links with."""
    sig = signed_links.sign(settings, _subject(kind, key))
    if sig is None:
        return None
    return f"{settings.server.public_url.rstrip('/')}{path(kind, key)}?sig={sig}"


def signature_ok(settings: Settings, kind: Kind, key: str, given: str) -> bool:
    return signed_links.verify(settings, _subject(kind, key), given)


def window(now: datetime) -> tuple[datetime, datetime]:
    return now - BACK, now + AHEAD


async def schedule_feed(tx: Tx, settings: Settings, name: str, now: datetime) -> bytes | None:
    """The schedule's feed (iCalendar), or None when there is no schedule called ``name``."""
    schedule = settings.oncall.schedule(name)
    if schedule is None:
        return None
    start, end = window(now)
    (in_effect,) = await effective_many(tx, settings, [schedule], since=start)
    return schedule_calendar(in_effect, start, end, stamp=now)


async def person_feed(tx: Tx, settings: Settings, email: str, now: datetime) -> bytes:
    """The person's shifts in every schedule (an empty calendar for someone on none)."""
    start, end = window(now)
    in_effect = await effective_many(tx, settings, settings.oncall.schedules, since=start)
    return person_calendar(in_effect, _key("person", email), start, end, stamp=now)
