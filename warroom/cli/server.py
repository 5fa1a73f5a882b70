"""Running warroom: ``serve``, ``migrate``, ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from warroom.cli.common import load


#: The global --log-level's default (warroom.cli.main): given that, the settings' logging.level decides.
def log_level_override(args: argparse.Namespace) -> str | None:
    """The level the command line asks for, overriding logging.level: ``serve --log-level`` or the global
    ``--log-level`` (None when neither is given)."""
    own = getattr(args, "serve_log_level", None) or getattr(args, "log_level", None)
    return str(own).upper() if own else None


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from warroom.chat.slack.socket import SocketModeRefused
    from warroom.web import logs
    from warroom.web.app import create_app

    settings = load(args)
    logs.configure(settings, level=log_level_override(args))
    try:
        web.run_app(
            create_app(settings, preflight=True), host=settings.server.host, port=settings.server.port, print=None,
            **logs.access_log_options(settings),
        )
    except SocketModeRefused as exc:
        print(f"warroom did not start: {exc}", file=sys.stderr)
        return 1
    return 0


def _level(value: str) -> str:
    if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise argparse.ArgumentTypeError(f"'{value}' is not a level: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value.upper()


def cmd_migrate(args: argparse.Namespace) -> int:
    from warroom.store.db import Store, null_pool_engine

    settings = load(args)

    async def run() -> None:
        store = Store(null_pool_engine(settings.database.url))
        try:
            await store.migrate()
        finally:
            await store.dispose()

    asyncio.run(run())
    print("The database schema is up to date.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from warroom.sandbox.demo.slack import run_demo

    return asyncio.run(run_demo(verbose=args.verbose, chat=args.chat))


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the server: chat endpoints, alert intake, workers and timers")
    serve.add_argument("--log-level", dest="serve_log_level", type=_level, default=None,
                       help="override logging.level for this run (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    serve.set_defaults(func=cmd_serve)
    demo = sub.add_parser("demo", help="run a whole major incident against the sandbox emulators")
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.add_argument("--chat", choices=["slack", "teams"], default="slack", help="run the war room in Slack or Teams")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
