"""Status pages from the command line: ``statuspage url PAGE [--scope GROUP] [--hours N]`` prints a page's address —
for a private page a signed link that opens it until it expires (24 hours unless told), for a scoped page one per
stakeholder group. ``statuspage maintenance add|list|extend|cancel`` schedules maintenance windows (the running
server's timers start and end them). ``statuspage subscribe|subscribers|unsubscribe`` manage a page's
webhook (and list its email) subscribers. Mistakes are said as sentences
on stderr, with exit status 1."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from warroom.cli.apps import load_unchecked
from warroom.cli.incidents import plain
from warroom.settings import Settings


def cmd_url(args: argparse.Namespace) -> int:
    from warroom.response import statuspages

    settings = load_unchecked(args)
    page = settings.status_page(args.page)
    if page is None:
        names = ", ".join(plain(p.name) for p in settings.status_pages) or "none are configured"
        print(f"There is no status page '{plain(args.page, 80)}' in status_pages. Pages: {names}.", file=sys.stderr)
        return 1
    address = f"{settings.server.public_url.rstrip('/')}/status/{page.name}"
    if page.visibility == "public":
        print(address)
        return 0
    if not 0 < args.hours <= 24 * 366:
        print("--hours is how long the link works: more than 0, at most a year (8784).", file=sys.stderr)
        return 1
    scope = args.scope or ""
    if page.visibility == "scoped" and scope not in page.scopes:
        scopes = ", ".join(plain(s) for s in page.scopes) or "none are configured"
        print(f"'{page.name}' is scoped: name the stakeholder group the link is for with --scope ({scopes}).",
              file=sys.stderr)
        return 1
    if page.visibility == "private" and scope:
        print(f"'{page.name}' is private: it has no scopes; leave out --scope.", file=sys.stderr)
        return 1
    query = statuspages.link_query(settings, page.name, scope=scope, hours=args.hours)
    if query is None:
        print("There is no secret to sign status page links with: set WARROOM_SERVER__LINK_SECRET (any long random "
              "string), or give warroom its Slack signing secret or Teams app password.", file=sys.stderr)
        return 1
    print(f"{address}?{query}")
    return 0


# ---------------------------------------------------------------------------------------------- maintenance


class _Refused(Exception):
    """A maintenance command that changed nothing; the message says why."""


async def _in_transaction(settings: Settings, work: Any) -> Any:
    """Run ``work(tx)`` in one write transaction of the configured database: all of it or nothing. A refusal
    (MaintenanceRefused) and an unreachable database become :class:`_Refused`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from warroom.response.statuspages.maintenance import MaintenanceRefused
    from warroom.store.db import Store, null_pool_engine

    url = make_url(settings.database.url)
    store = Store(null_pool_engine(settings.database.url))
    try:
        async with store.tx() as tx:
            return await work(tx)
    except MaintenanceRefused as exc:
        raise _Refused(plain(str(exc))) from None  # it may quote what was typed: made safe for the terminal
    except (DBAPIError, OSError) as exc:
        said = str(getattr(exc, "orig", None) or exc).strip()
        reason = said.splitlines()[0] if said else type(exc).__name__
        raise _Refused(f"The database {url.render_as_string(hide_password=True)} could not be used "
                       f"({plain(reason, 200)}): is it reachable, and is its schema warroom's (`warroom migrate`)?"
                       ) from None
    finally:
        await store.dispose()


def _missing_database(settings: Settings) -> str | None:
    """A SQLite file that is not there, said (instead of creating an empty one by opening it)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(str(url.database)).exists():
            return (f"There is no database at {url.database} (database.url): warroom has not run with this "
                    "configuration yet, or --config names another one.")
    return None


def _who() -> str:
    """Who scheduled a window from the command line: ``cli:<login>`` (``cli`` when the login has no name)."""
    try:
        return f"cli:{getpass.getuser()}"[:320]
    except (KeyError, OSError):
        return "cli"


def _window(row: dict[str, Any]) -> str:
    from warroom.response.statuspages.maintenance import shown

    start, end = shown(row["starts_at"]), shown(row["ends_at"])
    if start[:10] == end[:10]:
        end = end[11:]
    return f"{start[:-4]} – {end}"


def _said(row: dict[str, Any]) -> str:
    components = ", ".join(plain(str(c)) for c in row["components"])
    return (f"{row['id']}  {str(row['state']).replace('_', ' '):<11}  {_window(row)}  {plain(str(row['page']))}: "
            f"{plain(str(row['title']), 80)} ({components})")


def cmd_maintenance(args: argparse.Namespace) -> int:
    """``statuspage maintenance add|list|cancel|extend``: scheduled maintenance windows, in the configured database
    (the running server's timers start and end them)."""
    import asyncio

    from warroom.response.statuspages import maintenance as mnt

    settings = load_unchecked(args)

    async def work(tx: Any) -> Any:
        tz = mnt.zone(getattr(args, "tz", None))
        if args.maintenance_action == "add":
            return await mnt.add(
                tx, settings, args.page, title=args.title, components=args.components.split(","),
                starts_at=mnt.read_when(args.start, tz), ends_at=mnt.read_when(args.end, tz, what="end"),
                body=args.body or "", by=_who(), allow_past=args.now)
        if args.maintenance_action == "list":
            return await mnt.listed(tx, settings, args.page, every=args.all)
        if args.maintenance_action == "cancel":
            return await mnt.cancel(tx, settings, args.maintenance)
        starts_at = mnt.read_when(args.start, tz) if args.start else None
        ends_at = mnt.read_when(args.end, tz, what="end") if args.end else None
        return await mnt.extend(tx, settings, args.maintenance, starts_at=starts_at, ends_at=ends_at,
                                title=args.title, body=args.body)

    try:
        missing = _missing_database(settings)
        if missing is not None:
            raise _Refused(missing)
        result = asyncio.run(_in_transaction(settings, work))
    except _Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.maintenance_action == "list":
        if not result:
            print(f"There is no maintenance scheduled or in progress on {plain(args.page)}"
                  + ("." if args.all else " (--all lists past and cancelled ones too)."))
        for row in result:
            print(_said(row))
        return 0
    done = {"add": "Scheduled", "cancel": "Cancelled" if result["state"] == "cancelled" else "Ended",
            "extend": "Changed"}[args.maintenance_action]
    print(f"{done} maintenance {_said(result)}")
    return 0


def _register_maintenance(actions: Any) -> None:
    group = actions.add_parser("maintenance", help="scheduled maintenance windows: add, list, extend, cancel")
    verbs = group.add_subparsers(dest="maintenance_action", required=True)
    when = "a time such as \"2026-12-10 02:00\", in --tz (default UTC)"
    add = verbs.add_parser("add", help="announce a window: its components show under maintenance while it runs")
    add.add_argument("page", help="the page's name (status_pages[].name)")
    add.add_argument("--title", required=True, help="what the maintenance is, as the page shows it")
    add.add_argument("--components", required=True, help="the page's components it affects, comma-separated")
    add.add_argument("--start", required=True, help=f"when it starts: {when}")
    add.add_argument("--end", required=True, help=f"when it ends: {when}")
    add.add_argument("--body", help="more text for the page (what happens, what people notice)")
    add.add_argument("--tz", help="the time zone of --start and --end, e.g. Europe/Berlin (default UTC)")
    add.add_argument("--now", action="store_true", help="allow a start in the past: the maintenance starts at once")
    listing = verbs.add_parser("list", help="a page's windows scheduled or in progress, the latest first")
    listing.add_argument("page", help="the page's name (status_pages[].name)")
    listing.add_argument("--all", action="store_true", help="completed and cancelled windows too")
    cancel = verbs.add_parser("cancel", help="cancel a window (one in progress ends now)")
    cancel.add_argument("maintenance", type=int, help="the window's number (see list)")
    extend = verbs.add_parser("extend", help="a window's new end, start (before it starts), title or text")
    extend.add_argument("maintenance", type=int, help="the window's number (see list)")
    extend.add_argument("--end", help=f"its new end: {when}")
    extend.add_argument("--start", help=f"its new start, before it started: {when}")
    extend.add_argument("--title", help="its new title")
    extend.add_argument("--body", help="its new text")
    extend.add_argument("--tz", help="the time zone of --start and --end (default UTC)")
    for parser in (add, listing, cancel, extend):
        parser.set_defaults(func=cmd_maintenance)


# ---------------------------------------------------------------------------------------------- subscribers


async def _subscribers_tx(settings: Any, work: Any) -> Any:
    """Run ``work(tx)`` in one write transaction of the configured database; a refusal (SubscribeRefused) and a
    database that cannot be used become :class:`_Refused`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from warroom.response.statuspages.subscribers import SubscribeRefused
    from warroom.store.db import Store, null_pool_engine

    store = Store(null_pool_engine(settings.database.url))
    try:
        async with store.tx() as tx:
            return await work(tx)
    except SubscribeRefused as exc:
        raise _Refused(str(exc)) from None
    except (DBAPIError, OSError) as exc:
        said = str(getattr(exc, "orig", None) or exc).strip()
        reason = said.splitlines()[0] if said else type(exc).__name__
        shown = make_url(settings.database.url).render_as_string(hide_password=True)
        raise _Refused(f"The database {shown} could not be used ({plain(reason, 200)}): is it reachable, and is its "
                       "schema warroom's (`warroom migrate`)?") from None
    finally:
        await store.dispose()


def _subscriber_line(row: dict[str, Any]) -> str:
    if row["disabled_at"] is not None:
        state = f"disabled {row['disabled_at']:%Y-%m-%d %H:%M} UTC: {plain(str(row['disabled_reason'] or ''), 160)}"
    elif row["confirmed_at"] is None:
        state = "waiting for confirmation"
    else:
        state = "active" + (f", {row['failures']} failed in a row" if row["failures"] else "")
    scope = f" scope={plain(str(row['scope']))}" if row["scope"] else ""
    owner = f" owner={plain(str(row['owner']))}" if row["owner"] else ""
    return f"{row['id']:>6}  {row['kind']:<7}  {plain(str(row['address']), 100)}{scope}{owner}  ({state})"


def cmd_subscribers(args: argparse.Namespace) -> int:
    """``statuspage subscribe PAGE --webhook URL --owner EMAIL [--scope G]`` (prints the signing secret, once),
    ``statuspage subscribers PAGE`` (no secrets), ``statuspage unsubscribe ID``."""
    import asyncio

    from warroom.response.statuspages import subscribers as subs

    settings = load_unchecked(args)
    page = settings.status_page(args.page) if args.action != "unsubscribe" else None
    if args.action != "unsubscribe" and page is None:
        names = ", ".join(plain(p.name) for p in settings.status_pages) or "none are configured"
        print(f"There is no status page '{plain(args.page, 80)}' in status_pages. Pages: {names}.", file=sys.stderr)
        return 1

    async def work(tx: Any) -> Any:
        if args.action == "subscribe":
            assert page is not None
            return await subs.add_webhook(tx, settings, page, args.webhook, args.owner, args.scope or "")
        if args.action == "subscribers":
            assert page is not None
            return await tx.status_subscribers.of_page(page.name)
        return await tx.status_subscribers.remove(args.subscriber)

    try:
        missing = _missing_database(settings)
        if missing is not None:
            raise _Refused(missing)
        result = asyncio.run(_subscribers_tx(settings, work))
    except _Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.action == "subscribe":
        subscriber_id, secret = result
        print(f"Subscribed webhook {subscriber_id} to {page.name if page else ''}. Its signing secret, shown this once "
              "(keep it with the receiver, which checks the Warroom-Signature header with it):")
        print(secret)
        return 0
    if args.action == "subscribers":
        if not result:
            print(f"{plain(args.page)} has no subscribers.")
        for row in result:
            print(_subscriber_line(row))
        return 0
    if not result:
        print(f"There is no subscriber {args.subscriber}: `warroom statuspage subscribers PAGE` lists them.",
              file=sys.stderr)
        return 1
    print(f"Removed subscriber {args.subscriber}: it gets nothing more.")
    return 0


def _register_subscribers(actions: Any) -> None:
    subscribe = actions.add_parser("subscribe", help="subscribe a webhook to a page's updates (prints its secret)")
    subscribe.add_argument("page", help="the page's name (status_pages[].name)")
    subscribe.add_argument("--webhook", required=True, help="the receiver's https:// URL")
    subscribe.add_argument("--owner", required=True, help="who is told by email when the webhook is disabled")
    subscribe.add_argument("--scope", help="for a scoped page: the stakeholder group whose components it follows")
    listing = actions.add_parser("subscribers", help="a page's email and webhook subscribers (no secrets)")
    listing.add_argument("page", help="the page's name (status_pages[].name)")
    remove = actions.add_parser("unsubscribe", help="remove a subscriber (email or webhook)")
    remove.add_argument("subscriber", type=int, help="the subscriber's number (see subscribers)")
    for parser in (subscribe, listing, remove):
        parser.set_defaults(func=cmd_subscribers)


def register(sub: Any) -> None:
    group = sub.add_parser("statuspage", help="the built-in status pages: their addresses and signed links")
    actions = group.add_subparsers(dest="action", required=True)
    url = actions.add_parser("url", help="a page's address; for a private or scoped page, a signed link that expires")
    url.add_argument("page", help="the page's name (status_pages[].name)")
    url.add_argument("--hours", type=float, default=24.0, help="how long a signed link works (default 24)")
    url.add_argument("--scope", help="for a scoped page: the stakeholder group the link is for (status_pages[].scopes)")
    url.set_defaults(func=cmd_url)
    _register_maintenance(actions)
    _register_subscribers(actions)
