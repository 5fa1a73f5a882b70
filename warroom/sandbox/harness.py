"""warroom's real server on loopback, wired to a sandbox world: the demo, the end-to-end tests and the
benchmarks all drive it over HTTP, exactly as Alertmanager and Slack would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aiohttp import web

from warroom.chat.slack.fanout import war_room_gaps
from warroom.settings import Settings, check
from warroom.web.alert_sources import labels_fingerprint
from warroom.web.app import RUNTIME, Runtime, create_app

from .base import bound_port
from .slack.driver import SlackDriver, SocketDriver
from .world import INTAKE_TOKEN, SLACK_SIGNING_SECRET, Latencies, World


@dataclass
class Harness:
    world: World
    settings: Settings
    app: web.Application
    runner: web.AppRunner
    base_url: str
    http: httpx.AsyncClient

    @classmethod
    async def start(
        cls,
        database_url: str,
        *,
        latencies: Latencies | None = None,
        rate_limits: bool = True,
        world: World | None = None,
        tweak: Callable[[dict[str, Any]], None] | None = None,
        workers: bool = True,
        webhooks: bool = True,
        slack_mode: str = "http",
    ) -> Harness:
        """``slack_mode``: how Slack reaches warroom — ``http`` (signed requests to /slack/events) or ``socket``
        (Socket Mode: warroom connects to the emulator's WebSocket; :attr:`slack` drives either the same way)."""
        world = world or await World.start(latencies, rate_limits=rate_limits)
        data = world.settings_data(database_url, slack_mode=slack_mode)
        if tweak is not None:
            tweak(data)
        settings = Settings(**data)
        problems = check(settings)
        if problems:
            raise ValueError("sandbox settings are not valid: " + " ".join(problems))
        app = create_app(settings, workers=workers)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = bound_port(site)
        base = f"http://127.0.0.1:{port}"
        settings.server.public_url = base
        world.twilio.sms_webhook_url = f"{base}/oncall/twilio/sms"  # the number's "a message comes in" webhook
        world.oidc.redirect_uris.add(f"{base}/console/callback")  # warroom registered as the console's client
        harness = cls(world, settings, app, runner, base, httpx.AsyncClient(base_url=base, timeout=30))
        if settings.slack.enabled and settings.slack.mode == "socket":
            await world.slack.socket.wait_connected(timeout=30)  # warroom connects in the background once started
        if webhooks and workers:
            await harness.provision_webhooks()
        return harness

    async def provision_webhooks(self, timeout: float = 10.0) -> None:
        """What `warroom itsm provision` does, then wait for Xurrent's verification handshake to complete."""
        from warroom.sync.provision import provision

        async with self.runtime.store.read() as tx:
            if await tx.policies.all():
                return  # provisioned before (a restart on the same database)
        done = await provision(self.settings, self.runtime.store, self.runtime.ports.itsm)  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout
        hub = self.world.xurrent.webhooks
        while not all(hub.webhook(i)["active"] for i in done.webhook_ids):
            if time.monotonic() > deadline:
                raise TimeoutError("Xurrent's webhook verification did not complete")
            await asyncio.sleep(0.01)

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    async def stop(self, *, world: bool = True) -> None:
        await self.http.aclose()
        await self.runner.cleanup()
        if world:
            await self.world.stop()

    # -- driving it ---------------------------------------------------------------------------------
    async def post_alerts(self, payload: dict[str, Any], source: str = "alertmanager", token: str = INTAKE_TOKEN) -> httpx.Response:
        return await self.http.post(f"/alerts/{source}", json=payload, headers={"Authorization": f"Bearer {token}"})

    @property
    def slack(self) -> SlackDriver | SocketDriver:
        """Slack's side: commands, clicks, form submissions, shortcuts and events — signed HTTP requests, or
        envelopes over Socket Mode when warroom runs in that mode."""
        response_url = f"{self.world.slack.base_url}/response"
        if self.settings.slack.mode == "socket":
            return SocketDriver(self.world.slack.socket, self.settings.slack.command, response_url,
                                users=self.world.slack.users)
        return SlackDriver(self.http, SLACK_SIGNING_SECRET, self.settings.slack.command, response_url,
                           users=self.world.slack.users)

    async def slack_command(self, text: str, *, user: str = "U0ANA", channel: str = "C0GENERAL",
                            secret: str | None = None, timestamp: int | None = None) -> httpx.Response:
        """``secret``/``timestamp``: sign the HTTP request differently (Socket Mode has no signature)."""
        return await self.slack.command(text, user=user, channel=channel, secret=secret, timestamp=timestamp)

    async def wait_complete(self, incident_id: int, timeout: float = 30.0) -> list[str]:
        """Wait until the incident's war room is complete; returns what is still missing on timeout ([] if done)."""
        deadline = time.monotonic() + timeout
        gaps = await self.gaps(incident_id)
        while gaps and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            gaps = await self.gaps(incident_id)
        return gaps

    async def gaps(self, incident_id: int) -> list[str]:
        """What the incident's war room (Slack, Teams, request, bridge) still lacks."""
        from warroom.chat.teams.fanout import teams_gaps

        store = self.runtime.store
        return [*await war_room_gaps(store, incident_id, self.settings), *await teams_gaps(store, incident_id, self.settings)]


def alertmanager_payload(
    alerts: list[dict[str, Any]], *, status: str = "firing", receiver: str = "warroom", common: dict[str, str] | None = None
) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) body, as Alertmanager sends it."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    out = []
    for a in alerts:
        labels = a["labels"]
        fp = a.get("fingerprint") or labels_fingerprint(labels)
        out.append(
            {
                "status": a.get("status", status),
                "labels": labels,
                "annotations": a.get("annotations", {}),
                "startsAt": a.get("startsAt", now),
                "endsAt": a.get("endsAt", "0001-01-01T00:00:00Z"),
                "generatorURL": a.get("generatorURL", "http://prometheus.example:9090/graph"),
                "fingerprint": fp,
            }
        )
    common_labels = common or {}
    return {
        "version": "4",
        "groupKey": "{}:{alertname=\"" + alerts[0]["labels"].get("alertname", "") + "\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": alerts[0]["labels"].get("alertname", "")},
        "commonLabels": common_labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": out,
    }
