"""Operating incidents' outside effects: ``outbox``, ``sync retry``, ``itsm provision``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from warroom.cli.common import load


def cmd_outbox(args: argparse.Namespace) -> int:
    from warroom.store.db import Store, null_pool_engine

    settings = load(args)

    async def run() -> int:
        store = Store(null_pool_engine(settings.database.url))
        try:
            async with store.tx() as tx:
                if args.action == "retry":
                    n = await tx.outbox.revive(args.incident)
                    print(f"{n} failed job(s) of incident {args.incident} will be tried again by the running server.")
                    return 0
                for job in await tx.outbox.jobs(args.incident):
                    if job["status"] != "done":
                        print(f"{job['id']:>6} {job['status']:<8} {job['kind']:<24} attempts={job['attempts']} {job['last_error'] or ''}")
                return 0
        finally:
            await store.dispose()

    return asyncio.run(run())


def cmd_itsm(args: argparse.Namespace) -> int:
    from warroom.adapters.xurrent import XurrentClient
    from warroom.store.db import Store, null_pool_engine
    from warroom.sync.provision import provision

    settings = load(args)

    async def run() -> int:
        store = Store(null_pool_engine(settings.database.url))
        client = XurrentClient.from_settings(settings.xurrent)
        try:
            await store.migrate()

            async def say(line: str) -> None:
                print(line)

            done = await provision(settings, store, client, say=say)
            print(f"Provisioned: {len(done.webhook_ids)} webhooks deliver to {done.uri}; Xurrent verifies each with warroom.")
            return 0
        finally:
            await client.aclose()
            await store.dispose()

    return asyncio.run(run())


def register(sub: Any) -> None:
    itsm = sub.add_parser("itsm", help="set up the Xurrent link")
    itsm.add_argument("action", choices=["provision"])
    itsm.set_defaults(func=cmd_itsm)
    sync = sub.add_parser("sync", help="the ITSM sync of one incident")
    sync.add_argument("action", choices=["retry"])
    sync.add_argument("incident", type=int)
    sync.set_defaults(func=cmd_outbox)
    outbox = sub.add_parser("outbox", help="inspect or retry outside effects of an incident")
    outbox.add_argument("action", choices=["list", "retry"])
    outbox.add_argument("incident", type=int, nargs="?")
    outbox.set_defaults(func=cmd_outbox)
