"""On-call schedules from the command line: ``oncall who``, ``oncall calendar-url``, ``oncall import-ical``.

- ``who [SCHEDULE|TEAM|SERVICE] [--at TIME]``: who is on call then and who is next, as ``/oncall`` says it — the
  YAML schedules with the overrides asked for in chat (read from the configured database, read-only).
- ``calendar-url SCHEDULE`` / ``calendar-url --person EMAIL``: the signed address of a schedule's or a person's
  calendar feed (``{server.public_url}/oncall/calendars/…``), to subscribe to from a calendar app.
- ``import-ical FILE --layer NAME [--time-zone ZONE]``: a rotation exported as iCalendar (one event per shift,
  naming its person) turned into the YAML of a layer of explicit shifts, to paste under a schedule's ``layers``.

Mistakes are said as sentences on stderr, with exit status 1. Text from outside is printed terminal-safe.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from warroom.cli.apps import load_unchecked
from warroom.cli.incidents import Unreadable, _reading, plain


def _moment(text: str) -> datetime:
    """``--at``: ``now``, or an ISO 8601 date-time (``2026-12-24T09:00``, ``2026-12-24 09:00+01:00``); without an
    offset it is UTC."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a date and time: write e.g. 2026-12-24T09:00 (UTC) or 2026-12-24T09:00+01:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------- who


def cmd_who(args: argparse.Namespace) -> int:
    from warroom.response.oncall.runner import when, who_line
    from warroom.response.oncall.schedules import Selection, effective_many, everything, select

    settings = load_unchecked(args)
    at: datetime = args.at or datetime.now(UTC)
    at = at.replace(microsecond=0)
    if not settings.oncall.schedules:
        print("No on-call schedules are configured (oncall.schedules; see docs/oncall.md).", file=sys.stderr)
        return 1
    selection: Selection | str = select(settings, args.name, escape=plain) if args.name else everything(settings)
    if isinstance(selection, str):
        print(selection, file=sys.stderr)
        return 1
    chosen = selection

    async def read(tx: Any) -> list[Any]:
        return await effective_many(tx, settings, chosen.schedules, since=at)

    try:
        in_effect = asyncio.run(_reading(settings, read))
    except Unreadable as exc:
        print(f"{exc} (The chat overrides are kept there.)", file=sys.stderr)
        return 1
    print(f"On call for {chosen.what}, at {when(at, ZoneInfo('UTC'))}:")
    for schedule in in_effect:
        print("  " + who_line(settings, schedule, at, escape=plain, bold=False))
    return 0


# ---------------------------------------------------------------------------------------------- calendar-url


def cmd_calendar_url(args: argparse.Namespace) -> int:
    from warroom.oncall.model import EMAIL_RE
    from warroom.response.oncall import feeds

    settings = load_unchecked(args)
    if (args.schedule is None) == (args.person is None):
        print("Name one schedule (`warroom oncall calendar-url payments-primary`) or one person (`--person "
              "dana@example.com`).", file=sys.stderr)
        return 1
    if args.person is not None:
        email = args.person.strip().lower()
        if not EMAIL_RE.match(email):
            print(f"'{plain(args.person, 80)}' is not an email address: name the person by theirs, e.g. "
                  "--person dana@example.com.", file=sys.stderr)
            return 1
        address = feeds.url(settings, "person", email)
    else:
        schedule = settings.oncall.schedule(args.schedule)
        if schedule is None:
            wanted = args.schedule.strip().casefold()
            schedule = next((s for s in settings.oncall.schedules if s.name.casefold() == wanted), None)
        if schedule is None:
            names = ", ".join(plain(s.name) for s in settings.oncall.schedules) or "none are configured"
            print(f"There is no schedule '{plain(args.schedule, 80)}' in oncall.schedules. Schedules: {names}.",
                  file=sys.stderr)
            return 1
        address = feeds.url(settings, "schedule", schedule.name)
    if address is None:
        print("There is no secret to sign calendar links with: set WARROOM_SERVER__LINK_SECRET (any long random "
              "string), or give warroom its Slack signing secret or Teams app password.", file=sys.stderr)
        return 1
    print(address)
    if settings.server.public_url.startswith(("http://127.", "http://localhost")):
        print(f"server.public_url is {settings.server.public_url}: calendar apps elsewhere cannot reach it; set it "
              "to the address people reach warroom at.", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- import-ical


def _iso(moment: datetime, zone: Any) -> str:
    return moment.astimezone(zone).isoformat()


def cmd_import_ical(args: argparse.Namespace) -> int:
    import yaml

    from warroom.oncall import IcalError, import_layer
    from warroom.oncall.ical import MAX_ICAL_BYTES
    from warroom.oncall.model import zone

    source = "standard input" if args.file == "-" else args.file
    try:
        tz = zone(args.time_zone)
    except ValueError as exc:
        print(f"--time-zone: {exc}", file=sys.stderr)
        return 1
    try:
        data = sys.stdin.buffer.read(MAX_ICAL_BYTES + 1) if args.file == "-" else _read_file(Path(args.file))
    except OSError as exc:
        print(f"{plain(source)} could not be read: {plain(exc.strerror or str(exc))}.", file=sys.stderr)
        return 1
    people: dict[str, str] = {}
    if args.config or os.environ.get("WARROOM_CONFIG"):
        settings = load_unchecked(args)
        people = {p.name: p.email for p in settings.oncall.people if p.name}
    try:
        layer = import_layer(data, name=args.layer, time_zone=args.time_zone, people=people)
    except IcalError as exc:
        print(f"{plain(source)}: {exc}", file=sys.stderr)
        return 1
    entry = {
        "name": layer.name,
        "time_zone": layer.time_zone,
        "shifts": [{"user": s.user, "start": _iso(s.start, tz), "end": _iso(s.end, tz)} for s in layer.shifts],
    }
    first, last = layer.shifts[0].start.astimezone(tz), layer.shifts[-1].end.astimezone(tz)
    count = len(layer.shifts)
    print(f"# Layer {layer.name!r} imported from {plain(Path(source).name if args.file != '-' else source)}: "
          f"{count} shift{'s' if count != 1 else ''}, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} "
          f"{tz.key}.")
    print("# Paste it under a schedule's `layers:` (layers are listed bottom to top: the last one listed wins).")
    sys.stdout.write(yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, default_flow_style=None, width=120))
    return 0


def _read_file(path: Path) -> bytes:
    from warroom.oncall.ical import MAX_ICAL_BYTES

    with path.open("rb") as handle:
        return handle.read(MAX_ICAL_BYTES + 1)  # more than the bound: import_layer says it is too long



def register(sub: Any) -> None:
    oncall = sub.add_parser("oncall", help="on-call schedules: who is on call, calendar feed links, iCal import")
    actions = oncall.add_subparsers(dest="action", required=True)
    who = actions.add_parser("who", help="who is on call now (or --at) and who is next, chat overrides included")
    who.add_argument("name", nargs="?", help="a service (its escalation policy's schedules), a team or a schedule; "
                                             "default: every schedule")
    who.add_argument("--at", type=_moment, help="another moment: 2026-12-24T09:00 (UTC) or with an offset")
    who.set_defaults(func=cmd_who)
    url = actions.add_parser("calendar-url", help="the signed address of a schedule's (or a person's) calendar "
                                                  "feed, to subscribe to from a calendar app")
    url.add_argument("schedule", nargs="?", help="the schedule's name")
    url.add_argument("--person", help="a person's email: their shifts in every schedule")
    url.set_defaults(func=cmd_calendar_url)
    ical = actions.add_parser("import-ical", help="print the YAML of a layer of explicit shifts made from an "
                                                  "iCalendar file (one event per shift, naming its person)")
    ical.add_argument("file", help="the .ics file (- reads standard input)")
    ical.add_argument("--layer", required=True, help="the layer's name")
    ical.add_argument("--time-zone", default="UTC",
                      help="the layer's time zone, and that of the file's floating times and all-day events "
                           "(IANA, e.g. Europe/London; default UTC)")
    ical.set_defaults(func=cmd_import_ical)
