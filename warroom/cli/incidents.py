"""Reading incidents from the configured database: ``incidents list``, ``incidents show``.

Read-only: one read transaction, no migration, nothing enqueued; the running server need not be reachable, and
of the configuration only the database, the services and the roles are used (so the credentials of the chats
and the ITSM need not be at hand: the settings are read without check-config's checks). Text
that came from outside (titles, notes, people's names) is made safe for a terminal: control characters (escape
sequences among them) and invisible formatting characters are shown as U+FFFD, line breaks as spaces.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from warroom.cli.apps import load_unchecked
from warroom.settings import Settings

#: ``show`` prints this many of the newest timeline entries.
TIMELINE_SHOWN = 10
#: Titles are cut to this many characters in ``list`` (``show`` prints them whole).
TITLE_SHOWN = 60
#: A timeline entry's text is cut to this many characters.
ENTRY_SHOWN = 200

_NUMBER = re.compile(r"(?:#|inc-?)?0*(\d{1,12})", re.IGNORECASE)


class Unreadable(Exception):
    """The database cannot be read; the message says why and what to do."""


def incident_number(text: str) -> int:
    """``12``, ``#12``, ``INC-12`` → 12 (argparse's type for ``show``)."""
    m = _NUMBER.fullmatch(text.strip())
    if m is None or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not an incident number (e.g. 12 or INC-12)")
    return int(m.group(1))


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return value


def plain(text: str, limit: int | None = None) -> str:
    """Outside text made safe to print on a terminal, on one line, cut to ``limit`` characters."""
    cut = text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
    return "".join(" " if ch.isspace() else ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in cut)


def age(delta: timedelta) -> str:
    """How long ago, shortly: ``45s``, ``12m``, ``3h 05m``, ``2d 4h``."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite gives back naive UTC


def _when(at: datetime) -> str:
    return _aware(at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---------------------------------------------------------------------------------------------- the database


def _check_database(settings: Settings) -> None:
    """A SQLite file that is not there is said so (instead of creating an empty one by reading it)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
        if not path.exists():
            raise Unreadable(f"There is no database at {path} (database.url): warroom has not run with this "
                             "configuration yet, or --config names another one.")


async def _reading(settings: Settings, read: Any) -> Any:
    """Run ``read(tx)`` in one read transaction of the configured database; failures become :class:`Unreadable`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from warroom.store.db import Store, null_pool_engine

    _check_database(settings)
    store = Store(null_pool_engine(settings.database.url))
    try:
        async with store.read() as tx:
            return await read(tx)
    except (DBAPIError, OSError) as exc:
        shown = make_url(settings.database.url).render_as_string(hide_password=True)
        said = str(getattr(exc, "orig", None) or exc).strip()
        reason = said.splitlines()[0] if said else type(exc).__name__
        raise Unreadable(f"The database {shown} could not be read ({plain(reason, 200)}): is it reachable, and is "
                         "its schema warroom's (`warroom migrate`)?") from None
    finally:
        await store.dispose()


def _configured_service(settings: Settings, name: str) -> str | None:
    return next((s.name for s in settings.services if s.name.casefold() == name.strip().casefold()), None)


# ---------------------------------------------------------------------------------------------- list


def _rooms(links: Mapping[Any, Any]) -> str:
    from warroom.response.actions import WAR_ROOMS, status_links

    return " ".join(url for _, url in status_links(links, WAR_ROOMS)) or "(no war room)"


def cmd_list(args: argparse.Namespace) -> int:
    settings = load_unchecked(args)
    service = None
    if args.service is not None:
        service = _configured_service(settings, args.service) or args.service.strip()

    async def read(tx: Any) -> list[tuple[Any, Any]]:
        found = await tx.incidents.list(limit=args.limit + 1, open_only=args.open, service=service)
        return [(incident, await tx.links.all(incident.id)) for incident in found]

    try:
        listed = asyncio.run(_reading(settings, read))
    except Unreadable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if not listed:
        which = "open incidents" if args.open else "incidents"
        where = f" of service {plain(service)}" if service else ""
        known = ""
        if service and _configured_service(settings, service) is None:
            names = ", ".join(s.name for s in settings.services) or "none"
            known = f" ({plain(service)} is not a configured service; configured: {names})"
        print(f"There are no {which}{where}{known}.")
        return 0
    more = len(listed) > args.limit
    listed = listed[: args.limit]
    now = datetime.now(UTC)
    rows = [
        [incident.ref, incident.status.value, plain(incident.priority or "-"), plain(incident.service),
         plain(incident.title, TITLE_SHOWN), age(now - _aware(incident.created_at)), _rooms(links)]
        for incident, links in listed
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip())
    if more:
        print(f"(the newest {args.limit} are shown; --limit shows more)", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- show


def cmd_show(args: argparse.Namespace) -> int:
    from warroom.response.actions import status_links, status_sentence
    from warroom.response.commands import configured_roles

    settings = load_unchecked(args)
    number: int = args.incident

    async def read(tx: Any) -> dict[str, Any] | None:
        incident = await tx.incidents.get(number)
        if incident is None:
            return None
        timeline = await tx.timeline.for_incident(number)
        actors = {e.actor for e in timeline[-TIMELINE_SHOWN:] if e.actor}
        return {"incident": incident, "roles": await tx.roles.all(number), "links": await tx.links.all(number),
                "timeline": timeline, "names": await tx.people.names(sorted(actors))}

    try:
        found = asyncio.run(_reading(settings, read))
    except Unreadable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if found is None:
        print(f"There is no incident INC-{number}.", file=sys.stderr)
        return 1
    incident, roles, links, timeline, names = (found[k] for k in ("incident", "roles", "links", "timeline", "names"))
    labels = {r.key: r.label for r in configured_roles(settings)}
    print(status_sentence(incident, {}, labels, escape=plain))
    print(f"Service {plain(incident.service)}, declared {age(datetime.now(UTC) - _aware(incident.created_at))} ago "
          f"({_when(incident.created_at)}) from {incident.origin.value}"
          + (f"; resolved {_when(incident.resolved_at)}" if incident.resolved_at else "") + ".")
    if incident.acknowledged_at is not None:
        # MTTA: from the incident's creation to its (first) acknowledgement
        print(f"Acknowledged {_when(incident.acknowledged_at)}: time to acknowledge (MTTA) "
              f"{age(_aware(incident.acknowledged_at) - _aware(incident.created_at))}.")
    for label, url in status_links(links):
        print(f"{label}: {plain(url)}")
    print("Roles:")
    for key in [*labels, *(k for k in roles if k not in labels)]:
        holder = roles.get(key)
        who = "nobody"
        if holder is not None:
            who = plain(holder.display) + (f" ({plain(holder.email)})" if holder.email and holder.email != holder.display else "")
        print(f"  {labels.get(key, key)}: {who}")
    shown = timeline[-TIMELINE_SHOWN:]
    if not shown:
        print("Timeline: empty.")
        return 0
    print(f"Timeline (the last {len(shown)} of {len(timeline)} entries):" if len(timeline) > len(shown)
          else f"Timeline ({len(timeline)} {'entry' if len(timeline) == 1 else 'entries'}):")
    width = max(len(plain(event.kind)) for event in shown)
    for event in shown:
        who = f"{plain(names.get(event.actor) or event.actor)}: " if event.actor else ""
        print(f"  {_when(event.at)}  {plain(event.kind).ljust(width)}  {who}{plain(event.text, ENTRY_SHOWN)}")
    return 0


def register(sub: Any) -> None:
    incidents = sub.add_parser("incidents", help="list the incidents, or show one, from the configured database")
    actions = incidents.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="one line per incident, the newest first: number, status, priority, "
                                              "service, title, age, war room")
    listing.add_argument("--open", action="store_true", help="only the incidents not resolved")
    listing.add_argument("--service", help="only the incidents of this service")
    listing.add_argument("--limit", type=positive, default=100, help="at most this many (default: 100)")
    listing.set_defaults(func=cmd_list)
    show = actions.add_parser("show", help="an incident's state, roles, links and the last 10 timeline entries")
    show.add_argument("incident", type=incident_number, help="the incident's number: 12 or INC-12")
    show.set_defaults(func=cmd_show)
