"""Operating incidents' outside effects: ``outbox``, ``sync retry``, ``itsm provision``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from warroom.cli.common import load

if TYPE_CHECKING:
    from warroom.settings import Settings

log = logging.getLogger("warroom.cli")


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
    """``warroom itsm provision``: every failure is one sentence on stderr and exit 1, never a traceback (that goes
    to the log at DEBUG: ``warroom --log-level debug itsm provision``)."""
    from warroom.adapters.errors import AdapterError, Permanent
    from warroom.adapters.xurrent import XurrentClient
    from warroom.store.db import Store, null_pool_engine
    from warroom.sync.provision import provision

    settings = load(args)
    blocker = provision_blocker(settings)
    if blocker is not None:
        return _failed(blocker)

    async def run() -> int:
        store = Store(null_pool_engine(settings.database.url))
        client = XurrentClient.from_settings(settings.xurrent)
        try:
            try:
                await store.migrate()
            except Exception as exc:
                await _driver_threads_done()
                raise _DatabaseError(type(exc).__name__) from exc

            async def say(line: str) -> None:
                print(line)

            done = await provision(settings, store, client, say=say)
            print(f"Provisioned: {len(done.webhook_ids)} webhooks deliver to {done.uri}; Xurrent verifies each with warroom.")
            return 0
        finally:
            await client.aclose()
            await store.dispose()

    try:
        return asyncio.run(run())
    except _DatabaseError as exc:
        log.debug("the database failed", exc_info=True)
        return _failed(f"The database could not be opened or brought up to date ({exc}): check database.url and "
                       "that the database is running, then run `warroom itsm provision` again.")
    except Permanent as exc:
        log.debug("Xurrent refused", exc_info=True)
        return _failed(f"Xurrent refused the provisioning ({_clause(exc.reason)}): check xurrent.account, "
                       "xurrent.client_id, the client secret and that the OAuth application may manage webhooks and "
                       "webhook policies, then run `warroom itsm provision` again.")
    except AdapterError as exc:
        log.debug("Xurrent did not answer", exc_info=True)
        return _failed(f"Xurrent could not be reached or did not answer ({_clause(exc.reason)}): check "
                       "xurrent.region and xurrent.environment (or xurrent.api_url and xurrent.oauth_url) and the "
                       "network, then run `warroom itsm provision` again.")
    except ValueError as exc:  # provision's own sentences (an answer without the policy's key)
        log.debug("provisioning failed", exc_info=True)
        return _failed(str(exc))
    except Exception as exc:
        log.debug("provisioning failed", exc_info=True)
        return _failed(f"Provisioning stopped on an unexpected {type(exc).__name__}: run "
                       "`warroom --log-level debug itsm provision` to see where, and report it.")


class _DatabaseError(Exception):
    """The store could not be opened or migrated (the cause's type name as the message; never the URL)."""


async def _driver_threads_done(tries: int = 500) -> None:
    """Let the SQLite driver's worker threads end while the loop still runs (at most ``tries`` × 10 ms):
    aiosqlite stops a connection that failed to open with a callback into the loop, which — were the loop closed by
    then — would print a thread's traceback after the command's sentence."""
    for _ in range(tries):
        if not any("_connection_worker_thread" in t.name and t.is_alive() for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)


def provision_blocker(settings: Settings) -> str | None:
    """Why ``itsm provision`` cannot run with these settings (one sentence), or None."""
    x = settings.xurrent
    if not x.enabled:
        return ("xurrent.enabled is false: set it to true, with the account and its OAuth application, before "
                "provisioning Xurrent's webhooks.")
    missing = [key for key, given in (("xurrent.account", x.account), ("xurrent.client_id", x.client_id),
                                      ("xurrent.client_secret", x.client_secret is not None)) if not given]
    if missing:
        names = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        verb = "is" if len(missing) == 1 else "are"
        return (f"{names} {verb} not set: give the Xurrent account id and an OAuth application's client id and "
                "secret (WARROOM_XURRENT__CLIENT_SECRET or xurrent.client_secret_file) before provisioning.")
    public = urlsplit(settings.server.public_url)
    api = urlsplit(x.hosts()[0])
    if _loopback(public.hostname) and not _loopback(api.hostname):
        return (f"server.public_url is {settings.server.public_url}, which Xurrent cannot reach: set it to the "
                "address Xurrent can post webhooks to (https://warroom.example.com) before provisioning.")
    return None


def _loopback(host: str | None) -> bool:
    return host in (None, "", "localhost") or (host or "").startswith("127.") or host == "::1"


def _clause(reason: str) -> str:
    """An adapter's reason as a clause inside a sentence (no closing full stop, one line)."""
    return " ".join(reason.split()).rstrip(".")


def _failed(sentence: str) -> int:
    print(f"warroom itsm provision: {sentence}", file=sys.stderr)
    return 1


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
