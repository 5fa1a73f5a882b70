"""``warroom serve | demo | check-config | migrate | outbox``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from importlib import metadata

from .settings import ConfigError, Settings, load_settings


def version() -> str:
    """The installed distribution's version (pyproject's ``version``), as ``pip`` sees it."""
    try:
        return metadata.version("warroom")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _load(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = _load(args)
    except ConfigError as exc:
        print(f"The configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"The configuration is valid: {len(settings.services)} service(s), database {settings.database.url.split(':')[0]}.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .web.app import create_app

    settings = _load(args)
    web.run_app(create_app(settings), host=settings.server.host, port=settings.server.port, access_log=None)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .store.db import Store, null_pool_engine

    settings = _load(args)

    async def run() -> None:
        store = Store(null_pool_engine(settings.database.url))
        try:
            await store.migrate()
        finally:
            await store.dispose()

    asyncio.run(run())
    print("The database schema is up to date.")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from .store.db import Store, null_pool_engine

    settings = _load(args)

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
    from .adapters.xurrent import XurrentClient
    from .store.db import Store, null_pool_engine
    from .sync.provision import provision

    settings = _load(args)

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


def cmd_teams(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .chat.teams.package import MANIFEST_DIR, PackageError, package

    settings = _load(args)
    out = Path(args.out)
    try:
        manifest = package(settings, out, manifest_dir=Path(args.manifest) if args.manifest else MANIFEST_DIR,
                           app_id=args.app_id)
    except PackageError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Wrote {out}: Teams app {manifest['id']} with bot {manifest['bots'][0]['botId']}. Upload it in Teams "
          "(Apps → Manage your apps → Upload an app) or in the Teams admin center.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .sandbox.demo.slack import run_demo

    return asyncio.run(run_demo(verbose=args.verbose, chat=args.chat))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warroom", description="Chat-ops for major incidents.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--config", help="YAML configuration file (default: $WARROOM_CONFIG)")
    parser.add_argument("--log-level", default="WARNING")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the server: chat endpoints, alert intake, workers and timers").set_defaults(func=cmd_serve)
    demo = sub.add_parser("demo", help="run a whole major incident against the sandbox emulators")
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.add_argument("--chat", choices=["slack", "teams"], default="slack", help="run the war room in Slack or Teams")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("check-config", help="report every problem in the configuration").set_defaults(func=cmd_check_config)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
    itsm = sub.add_parser("itsm", help="set up the Xurrent link")
    itsm.add_argument("action", choices=["provision"])
    itsm.set_defaults(func=cmd_itsm)
    sync = sub.add_parser("sync", help="the ITSM sync of one incident")
    sync.add_argument("action", choices=["retry"])
    sync.add_argument("incident", type=int)
    sync.set_defaults(func=cmd_outbox)
    teams = sub.add_parser("teams", help="the Microsoft Teams app")
    teams.add_argument("action", choices=["package"])
    teams.add_argument("--out", default="warroom-teams.zip", help="where to write the app package (a zip)")
    teams.add_argument("--manifest", help="folder with manifest.json and the icons (default: the one warroom ships)")
    teams.add_argument("--app-id", help="the Teams app id (a GUID); default: derived from teams.app_id")
    teams.set_defaults(func=cmd_teams)
    outbox = sub.add_parser("outbox", help="inspect or retry outside effects of an incident")
    outbox.add_argument("action", choices=["list", "retry"])
    outbox.add_argument("incident", type=int, nargs="?")
    outbox.set_defaults(func=cmd_outbox)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "action", None) == "retry" and args.incident is None:
        parser.error("outbox retry needs the incident number, e.g. `warroom outbox retry 12`")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print("The configuration is not usable; run `warroom check-config` for details:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
