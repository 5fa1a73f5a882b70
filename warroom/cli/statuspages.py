"""Status pages from the command line: ``statuspage url PAGE [--scope GROUP] [--hours N]`` prints a page's address —
for a private page a signed link that opens it until it expires (24 hours unless told), for a scoped page one per
stakeholder group. Mistakes are said as sentences
on stderr, with exit status 1."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from warroom.cli.apps import load_unchecked
from warroom.cli.incidents import plain


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


def register(sub: Any) -> None:
    group = sub.add_parser("statuspage", help="the built-in status pages: their addresses and signed links")
    actions = group.add_subparsers(dest="action", required=True)
    url = actions.add_parser("url", help="a page's address; for a private or scoped page, a signed link that expires")
    url.add_argument("page", help="the page's name (status_pages[].name)")
    url.add_argument("--hours", type=float, default=24.0, help="how long a signed link works (default 24)")
    url.add_argument("--scope", help="for a scoped page: the stakeholder group the link is for (status_pages[].scopes)")
    url.set_defaults(func=cmd_url)
