"""Running warroom: ``serve``, ``migrate``, ``demo``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from warroom.cli.common import load


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from warroom.web.app import create_app

    settings = load(args)
    web.run_app(create_app(settings), host=settings.server.host, port=settings.server.port, access_log=None)
    return 0


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
    sub.add_parser("serve", help="run the server: chat endpoints, alert intake, workers and timers").set_defaults(func=cmd_serve)
    demo = sub.add_parser("demo", help="run a whole major incident against the sandbox emulators")
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.add_argument("--chat", choices=["slack", "teams"], default="slack", help="run the war room in Slack or Teams")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
