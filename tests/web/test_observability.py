"""Observability: the ``logging`` settings (text or JSON lines, the access log, the start-up summary), refused
Slack signatures told at most once a minute, job lines naming their incident, no secret ever written; ``/metrics``
behind a bearer token or on a listener of its own, and the counters of webhook deliveries and sync conflicts.

What the server does is driven over HTTP: the sandbox harness (the server in this process), and ``warroom serve``
itself in a child process for what only ``serve`` sets up (logging from the settings, the access log)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.e2e.helpers import critical_alert, open_room, settle
from tests.e2e.sync_helpers import open_incident, person, sync_all
from warroom.adapters.errors import Transient
from warroom.adapters.observe import OUTCOMES
from warroom.core.model import Origin, Urgency
from warroom.sandbox import world as sandbox
from warroom.sandbox.harness import Harness
from warroom.settings import ConfigError, Settings, check, load_settings
from warroom.store.db import Store
from warroom.store.outbox import Job, OutboxWorker
from warroom.sync.provision import EVENTS
from warroom.web import logs
from warroom.web.metrics import METRICS_LISTENER, build_version

#: Every secret the sandbox world configures (what the demo runs with).
SANDBOX_SECRETS = {
    "slack.bot_token": sandbox.SLACK_TOKEN,
    "slack.signing_secret": sandbox.SLACK_SIGNING_SECRET,
    "xurrent.client_secret": sandbox.XURRENT_SECRET,
    "zoom.client_secret": sandbox.ZOOM_SECRET,
    "webex.token": sandbox.WEBEX_TOKEN,
    "intake tokens": sandbox.INTAKE_TOKEN,
    "server.link_secret": sandbox.LINK_SECRET,
    "ai.api_key": sandbox.LLM_KEY,
}


def sandbox_secret_settings() -> Settings:
    """Settings holding the sandbox's secrets, as ``serve`` would load them (the rest does not matter here)."""
    return Settings(
        server={"link_secret": sandbox.LINK_SECRET},
        slack={"bot_token": sandbox.SLACK_TOKEN, "signing_secret": sandbox.SLACK_SIGNING_SECRET},
        xurrent={"client_secret": sandbox.XURRENT_SECRET},
        zoom={"client_secret": sandbox.ZOOM_SECRET},
        webex={"token": sandbox.WEBEX_TOKEN},
        intake={"alertmanager_token": sandbox.INTAKE_TOKEN},
        ai={"api_key": sandbox.LLM_KEY},
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """:func:`logs.configure` changes the process's logging: put it back as it was (pytest's handlers included)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = (*logs.QUIET, "aiohttp.access")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as one JSON object (fails on a line that is not one)."""
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus exposition, or None when it is not there."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        if not sample.startswith(name + "{") and sample != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if found == labels:
            return float(value)
    return None


# -- the settings ---------------------------------------------------------------------------------------------------
def test_logging_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_LOGGING__LEVEL", "debug")
    monkeypatch.setenv("WARROOM_LOGGING__FORMAT", "json")
    monkeypatch.setenv("WARROOM_LOGGING__ACCESS_LOG", "true")
    config = Settings().logging
    assert (config.level, config.format, config.access_log) == ("DEBUG", "json", True)
    monkeypatch.setenv("WARROOM_LOGGING__FORMAT", "xml")
    with pytest.raises(ValidationError, match=r"logging\.format"):
        Settings()


def test_defaults_are_text_at_info_without_an_access_log() -> None:
    config = Settings().logging
    assert (config.level, config.format, config.access_log) == ("INFO", "text", False)


def test_the_metrics_token_is_a_secret_and_its_port_is_its_own(tmp_path: Path) -> None:
    path = tmp_path / "warroom.yaml"
    path.write_text("server:\n  metrics_token: written-in-the-file\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert any("server.metrics_token is a secret" in p and "WARROOM_SERVER__METRICS_TOKEN" in p
               for p in refused.value.problems)
    same = Settings(server={"port": 9000, "metrics_port": 9000})
    assert any("server.metrics_port is 9000, the same as server.port" in p for p in check(same))
    assert not any("metrics_port" in p for p in check(Settings(server={"port": 9000, "metrics_port": 9100})))


# -- formats, redaction ---------------------------------------------------------------------------------------------
def test_json_lines_have_time_level_logger_message_and_the_job_fields(restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure(Settings(logging={"format": "json", "level": "INFO"}), stream=out)
    logging.getLogger("warroom.test").warning(
        "job %s of INC-12 failed", 7, extra={"incident": 12, "job": 7, "job_kind": "slack.say", "outcome": "retry"}
    )
    logging.getLogger("warroom.test").debug("below the level")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("warroom.test").exception("with a traceback")
    first, second = json_lines(out.getvalue())
    assert first["level"] == "WARNING" and first["logger"] == "warroom.test"
    assert first["message"] == "job 7 of INC-12 failed"
    assert (first["incident"], first["job"], first["job_kind"], first["outcome"]) == ("INC-12", 7, "slack.say", "retry")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exception"]
    assert "incident" not in second


def test_every_line_is_scrubbed_of_secrets_and_tokens(restore_logging: None) -> None:
    out = io.StringIO()
    settings = sandbox_secret_settings()
    settings.database.url = "postgresql+asyncpg://warroom:db-pass-word@db.example/warroom"
    logs.configure(settings, stream=out)
    log = logging.getLogger("warroom.test")
    for secret in [*SANDBOX_SECRETS.values(), "db-pass-word"]:
        log.warning("the value is %s, see", secret)
    log.warning("open https://warroom.example/incidents/3/postmortem?token=0123456789abcdef&x=1 now")
    log.warning("sent Authorization: Bearer abcdefghijklmnop and xoxb-1234-5678-abcdefgh")
    text = out.getvalue()
    for secret in [*SANDBOX_SECRETS.values(), "db-pass-word", "0123456789abcdef", "abcdefghijklmnop",
                   "xoxb-1234-5678-abcdefgh"]:
        assert secret not in text
    assert "postmortem?token=[redacted]&x=1" in text and "Bearer [redacted]" in text
    assert text.count("the value is [redacted], see") == len(SANDBOX_SECRETS) + 1


def test_the_access_log_target_keeps_the_path_and_drops_every_query_value() -> None:
    assert logs.redacted_target("/incidents/12/postmortem?token=abc&x=1") == \
        "/incidents/12/postmortem?token=[redacted]&x=[redacted]"
    assert logs.redacted_target("/healthz") == "/healthz"


def test_the_start_up_summary_names_what_runs_and_no_secret() -> None:
    data = {
        "server": {"link_secret": "summary-link-secret", "metrics_token": "summary-metrics-token", "metrics_port": 9100},
        "database": {"url": "postgresql+asyncpg://warroom:summary-db-password@db.example/warroom"},
        "slack": {"bot_token": "xoxb-summary-bot", "signing_secret": "summary-signing-secret"},
        "teams": {"enabled": True, "app_id": "a", "tenant_id": "t", "app_password": "summary-teams-password"},
        "xurrent": {"account": "acme", "client_id": "c", "client_secret": "summary-xurrent-secret"},
        "intake": {"alertmanager_token": "summary-am-token", "changes_token": "summary-changes-token"},
        "ai": {"enabled": True, "model": "gpt-4o-mini", "api_key": "summary-ai-key"},
        "services": [{"name": "checkout-api", "bridge": "zoom", "itsm": {"service_instance_id": 1}},
                     {"name": "payments", "chat": "both", "bridge": "none", "itsm": {"enabled": False}}],
    }
    summary = logs.startup_summary(Settings(**data), database="postgresql", itsm_webhooks=True)
    for part in ("database: postgresql", "Slack (HTTP events)", "Microsoft Teams", "alerts from alertmanager",
                 "change events", "Xurrent webhooks", "checkout-api (slack, zoom bridge, Xurrent bidirectional)",
                 "payments (both)", "AI responder: on (model gpt-4o-mini)", "/metrics on port 9100 only, behind a bearer token",
                 build_version()):
        assert part in summary, part
    assert "summary-" not in summary and "db.example" not in summary


def test_refused_signatures_are_told_at_most_once_a_minute_with_the_count() -> None:
    now = [1000.0]
    seen: list[logging.LogRecord] = []
    logger = logging.getLogger("warroom.test.refusals")
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        refusals = logs.SignatureRefusals(logger, "Slack request", "check it.", clock=lambda: now[0])
        refusals.refused("10.0.0.1")
        for _ in range(4):
            now[0] += 10
            refusals.refused("10.0.0.2")
        assert len(seen) == 1 and seen[0].refused == 1  # type: ignore[attr-defined]
        now[0] += 30  # 70 s after the first line
        refusals.refused("10.0.0.3")
        assert len(seen) == 2 and seen[1].levelno == logging.WARNING
        assert seen[1].refused == 5  # type: ignore[attr-defined]
        assert "Refused 5 Slack requests" in seen[1].getMessage() and "10.0.0.3" in seen[1].getMessage()
    finally:
        logger.removeHandler(handler)


# -- job lines name the incident ------------------------------------------------------------------------------------
async def test_job_lines_name_the_incident_with_kind_and_outcome(sqlite_url: str, restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure(Settings(logging={"format": "json", "level": "INFO"}), stream=out)
    store = Store.from_url(sqlite_url)
    await store.migrate()
    try:
        async with store.tx() as tx:
            incident = await tx.incidents.create(title="t", service="s", priority="P1", urgency=Urgency.HIGH,
                                                 details="", assignee=None, origin=Origin.CHAT)
            await tx.outbox.enqueue("slack.say", {"text": "hello"}, incident_id=incident.id)

        async def unreachable(job: Job) -> None:
            raise Transient("slack", "Slack did not answer")

        worker = OutboxWorker(store, {"slack.say": unreachable}, poll_interval=0.01, max_attempts=2,
                              backoff_base=0.01, backoff_max=0.02)
        worker.start()
        try:
            await worker.run_until_idle(timeout=20)
        finally:
            await worker.stop()
    finally:
        await store.dispose()
    lines = [line for line in json_lines(out.getvalue()) if line["logger"] == "warroom.outbox"]
    assert [(line["level"], line["outcome"]) for line in lines] == [("WARNING", "retry"), ("ERROR", "dead")]
    for line in lines:
        assert f"INC-{incident.id}" in line["message"] and "slack.say" in line["message"]
        assert (line["incident"], line["job_kind"]) == (f"INC-{incident.id}", "slack.say")


# -- the server over HTTP (the sandbox harness) ---------------------------------------------------------------------
@pytest.fixture
async def server(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    """The server with a metrics token, its start-up logged (INFO, captured)."""
    caplog.set_level(logging.INFO, logger="warroom.web")

    def tweak(data: dict[str, Any]) -> None:
        data["server"]["metrics_token"] = "harness-metrics-token"

    h = await Harness.start(sqlite_url, tweak=tweak)
    h.world.xurrent.config.rate_limits = False
    h.world.slack.config.rate_limits = False
    yield h
    await h.stop()


async def scrape(h: Harness, token: str = "harness-metrics-token") -> str:
    response = await h.http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


async def test_metrics_need_the_bearer_token(server: Harness) -> None:
    h = server
    bare = await h.http.get("/metrics")
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer")
    assert "warroom_" not in bare.text
    assert (await h.http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await h.http.get("/metrics", headers={"Authorization": "harness-metrics-token"})).status_code == 401
    text = await scrape(h)
    assert metric(text, "warroom_build_info", version=build_version()) == 1.0
    # the metrics there were before are all still there, under the same names
    for name in ("warroom_alerts_total", "warroom_intake_rejected_total", "warroom_incidents_declared_total",
                 "warroom_outbox_jobs_total", "warroom_outbox_job_seconds", "warroom_outbox_backlog"):
        assert f"# TYPE {name} " in text, name


async def test_webhook_deliveries_are_counted_by_source_and_outcome(server: Harness) -> None:
    h = server
    assert (await h.post_alerts(critical_alert())).status_code == 202
    assert (await h.post_alerts(critical_alert(), token="wrong")).status_code == 401
    assert (await h.post_alerts(critical_alert(), source="grafana", token="wrong")).status_code == 401
    assert (await h.http.post("/alerts/alertmanager", content=b"{", headers={
        "Authorization": f"Bearer {sandbox.INTAKE_TOKEN}", "Content-Type": "application/json"})).status_code == 400
    assert (await h.slack_command("help")).status_code == 200
    text = await scrape(h)
    assert metric(text, "warroom_webhook_deliveries_total", source="alertmanager", outcome="accepted") == 1
    assert metric(text, "warroom_webhook_deliveries_total", source="alertmanager", outcome="unauthorized") == 1
    assert metric(text, "warroom_webhook_deliveries_total", source="alertmanager", outcome="malformed") == 1
    assert metric(text, "warroom_webhook_deliveries_total", source="grafana", outcome="unauthorized") == 1
    assert metric(text, "warroom_webhook_deliveries_total", source="slack", outcome="accepted") == 1
    # provisioning at start: Xurrent verified each webhook with a webhook.verify delivery
    assert metric(text, "warroom_webhook_deliveries_total", source="xurrent", outcome="verify") == len(EVENTS)
    # an unknown path is no source (nobody adds labels by guessing URLs)
    assert (await h.http.post("/alerts/nagios", json={})).status_code in (404, 405)
    assert 'source="nagios"' not in await scrape(h)


async def test_xurrent_deliveries_are_counted_with_what_became_of_them(server: Harness) -> None:
    h = server
    pair = await open_incident(h, priority="P1")
    h.world.xurrent.update_request(pair.request, {"impact": "low"}, person_id=person(h, "dana@example.com"))
    await sync_all(h)
    text = await scrape(h)
    # the desk's change was taken in; warroom's own writes came back as echoes, read no further
    assert (metric(text, "warroom_webhook_deliveries_total", source="xurrent", outcome="accepted") or 0) >= 1
    assert (metric(text, "warroom_webhook_deliveries_total", source="xurrent", outcome="own_change") or 0) >= 1


async def test_a_conflict_is_counted_by_field(server: Harness) -> None:
    h = server
    pair = await open_incident(h, priority="P1")
    assert metric(await scrape(h), "warroom_sync_conflicts_total", field="priority") is None
    await h.runtime.worker.stop()  # both sides change the priority before warroom syncs either change
    h.world.xurrent.update_request(pair.request, {"impact": "low"}, person_id=person(h, "dana@example.com"))
    await h.world.xurrent.webhooks.settle()
    await h.runtime.incidents.change(pair.incident, actor="ana", priority="P3")
    h.runtime.worker.start()
    await sync_all(h)
    async with h.runtime.store.read() as tx:
        conflicts = [e for e in await tx.timeline.for_incident(pair.incident) if e.kind == "sync_conflict"]
    assert len(conflicts) == 1
    assert metric(await scrape(h), "warroom_sync_conflicts_total", field="priority") == 1


async def test_outbound_calls_are_counted_per_attempt_by_system_and_outcome(server: Harness) -> None:
    h = server
    # on the way to a war room: a 503 that Slack's client retries, a 429 that the Zoom bridge waits out
    h.world.slack.inject("conversations.setTopic", status=503)
    h.world.zoom.inject("POST /users/{userId}/meetings", kind="ratelimit", retry_after=1)
    await open_room(h)
    await h.runtime.worker.run_until_idle()
    text = await scrape(h)

    def counted(system: str, outcome: str) -> float:
        return metric(text, "warroom_outbound_calls_total", system=system, outcome=outcome) or 0

    assert counted("slack", "transient") == 1 and counted("zoom", "rate_limited") == 1
    for system in ("slack", "xurrent", "zoom"):
        assert counted(system, "ok") >= 1, system
    # every attempt counted once, the retries too: as many as the emulators answered
    for system, emulator in (("slack", h.world.slack), ("zoom", h.world.zoom)):
        assert sum(counted(system, o) for o in OUTCOMES) == len(emulator.calls), system
    assert len(h.world.slack.calls_to("conversations.setTopic")) == 2
    # the labels are the systems' names and the outcomes, never a URL or a token
    samples = [line for line in text.splitlines() if line.startswith("warroom_outbound_calls_total{")]
    assert samples and all(re.fullmatch(r'warroom_outbound_calls_total\{outcome="\w+",system="\w+"\} [0-9.e+]+', line)
                           for line in samples), samples


async def test_model_calls_are_counted_each_attempt(sqlite_url: str) -> None:
    def tweak(data: dict[str, Any]) -> None:
        data["ai"].update(enabled=True, max_retries=1)

    h = await Harness.start(sqlite_url, tweak=tweak, webhooks=False)
    try:
        h.world.slack.config.rate_limits = False
        _incident, channel, _request = await open_room(h)
        h.world.llm.inject("POST /chat/completions", status=503)  # the model client's own retry answers
        reply = await h.slack.command("summary", channel=channel, user="U0ANA")
        assert reply.status_code == 200, reply.text
        await settle(h)
        text = (await h.http.get("/metrics")).text
        assert metric(text, "warroom_outbound_calls_total", system="ai", outcome="transient") == 1
        assert metric(text, "warroom_outbound_calls_total", system="ai", outcome="ok") == 1
        assert len(h.world.llm.calls_to("POST /chat/completions")) == 2
    finally:
        await h.stop()


async def test_microsoft_calls_are_counted_as_graph_bot_connector_and_entra(sqlite_url: str) -> None:
    def tweak(data: dict[str, Any]) -> None:
        data["teams"]["enabled"] = True
        data["services"][0].update({"chat": "teams", "bridge": "teams"})

    h = await Harness.start(sqlite_url, tweak=tweak, webhooks=False)
    try:
        # Graph throttles the channel's creation once: waited out, then created
        h.world.teams.graph.inject("POST /teams/{team-id}/channels", kind="ratelimit", retry_after=1)
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        await h.runtime.worker.run_until_idle()
        text = (await h.http.get("/metrics")).text

        def counted(system: str, outcome: str) -> float:
            return metric(text, "warroom_outbound_calls_total", system=system, outcome=outcome) or 0

        assert counted("graph", "rate_limited") == 1
        assert len(h.world.teams.graph.calls_to("POST /teams/{team-id}/channels")) == 2
        for system in ("graph", "bot_connector", "entra"):  # Entra: a token for Graph and one for the bot
            assert counted(system, "ok") >= 1, system
        assert counted("entra", "ok") == len(h.world.teams.graph.calls_to("POST /{tenant}/oauth2/v2.0/token"))
    finally:
        await h.stop()


async def test_an_outside_system_out_of_reach_is_counted_unreachable(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, webhooks=False)
    try:
        zoom = h.runtime.ports.bridges["zoom"]
        await h.world.zoom.stop()  # nothing listens on its port any more
        with pytest.raises(Transient):
            await zoom.check_credentials()  # type: ignore[attr-defined]
        text = (await h.http.get("/metrics")).text
        assert (metric(text, "warroom_outbound_calls_total", system="zoom", outcome="unreachable") or 0) >= 1
        assert metric(text, "warroom_outbound_calls_total", system="zoom", outcome="ok") is None
    finally:
        await h.stop()


async def test_the_start_up_summary_is_logged_at_info_without_secrets(server: Harness,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    started = caplog.get_records("setup")  # the server started in the fixture
    (summary,) = [r.getMessage() for r in started if r.name == "warroom.web" and "starting on" in r.getMessage()]
    assert summary.startswith(f"warroom {build_version()} starting on ")
    for part in ("database: sqlite", "Slack (HTTP events)", "alerts from alertmanager", "Xurrent webhooks",
                 "checkout-api (slack, zoom bridge, Xurrent bidirectional)", "behind a bearer token"):
        assert part in summary, part
    for secret in [*SANDBOX_SECRETS.values(), "harness-metrics-token"]:
        assert secret not in summary


async def test_refused_slack_signatures_are_one_warning_a_minute_without_the_body(
    server: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = server
    now = [5000.0]
    h.app[logs.SLACK_REFUSALS].clock = lambda: now[0]
    caplog.set_level(logging.WARNING, logger="warroom.web")
    for _ in range(3):
        response = await h.slack_command("declare body-marker-4711 for checkout-api", secret="not-the-secret")
        assert response.status_code == 401

    def warnings() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "warroom.web" and "signature" in r.getMessage()]

    assert len(warnings()) == 1 and warnings()[0].levelno == logging.WARNING
    now[0] += 61
    assert (await h.slack_command("help", secret="not-the-secret")).status_code == 401
    assert len(warnings()) == 2
    assert "Refused 3 Slack requests" in warnings()[1].getMessage()
    assert all("body-marker-4711" not in r.getMessage() and sandbox.SLACK_SIGNING_SECRET not in r.getMessage()
               for r in caplog.records)
    assert metric(await scrape(h), "warroom_webhook_deliveries_total", source="slack", outcome="unauthorized") == 4


async def test_metrics_on_a_port_of_their_own(sqlite_url: str) -> None:
    def tweak(data: dict[str, Any]) -> None:
        data["server"]["metrics_port"] = 0  # whichever is free

    h = await Harness.start(sqlite_url, tweak=tweak, webhooks=False)
    try:
        assert (await h.http.get("/metrics")).status_code == 404  # not beside everything else
        address = h.app[METRICS_LISTENER].address
        assert address is not None
        host, port = address
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as listener:
            response = await listener.get("/metrics")
            assert response.status_code == 200 and "warroom_build_info" in response.text
            assert (await listener.get("/healthz")).status_code == 404  # only /metrics there
            assert (await listener.post("/alerts/alertmanager", json={})).status_code == 404
    finally:
        await h.stop()
    with pytest.raises(httpx.ConnectError):  # closed with the server
        async with httpx.AsyncClient() as client:
            await client.get(f"http://{host}:{port}/metrics")


# -- never a secret: the demo with JSON logs at DEBUG ---------------------------------------------------------------
async def test_the_demo_with_json_logs_at_debug_writes_no_secret(restore_logging: None,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from warroom.sandbox.demo.slack import run_demo

    out = io.StringIO()
    logs.configure(sandbox_secret_settings().model_copy(update={"logging": Settings(
        logging={"format": "json"}).logging}), level="DEBUG", stream=out)
    # what warroom's own code passes to the log, before any scrubbing: it must hold no secret either
    raw: list[str] = []
    own = logging.Handler()
    own.emit = lambda record: raw.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("warroom").addHandler(own)
    try:
        assert await run_demo() == 0
    finally:
        logging.getLogger("warroom").removeHandler(own)
    capsys.readouterr()
    text = out.getvalue()
    lines = json_lines(text)
    assert len(lines) > 100 and raw
    for name, secret in SANDBOX_SECRETS.items():
        assert secret not in text, f"{name} is in the log"
        assert not any(secret in message for message in raw), f"warroom logged {name}"
    assert not re.search(r"token=(?!\[redacted\])", text)  # the postmortem capability link's token
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    # every job line says how the run went; those of the incident's jobs name it as people do
    about_jobs = [line for line in lines if line["logger"] == "warroom.outbox" and line.get("job_kind")]
    assert about_jobs and all(line.get("outcome") for line in about_jobs)
    of_incident = [line for line in about_jobs if "incident" in line]
    # the demo's incidents: INC-1 (the war room), INC-2 (the on-call page)
    assert of_incident and all(line["incident"] in ("INC-1", "INC-2") and f"of {line['incident']}" in line["message"]
                               for line in of_incident)


# -- `warroom serve` itself -----------------------------------------------------------------------------------------
def free_ports(n: int) -> list[int]:
    """``n`` different ports free a moment ago (another process may take one before the server binds it: the
    caller starts again with new ones then)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


SERVE_SECRETS = {
    "WARROOM_INTAKE__GENERIC_TOKEN": "serve-generic-token-value",
    "WARROOM_SERVER__LINK_SECRET": "serve-link-secret-value",
    "WARROOM_SERVER__METRICS_TOKEN": "serve-metrics-token-value",
}


class PortTaken(Exception):
    pass


class Served:
    """``warroom serve`` in a child process, answering on loopback."""

    def __init__(self, tmp_path: Path, *cli: str, logging_yaml: str) -> None:
        for _ in range(5):
            try:
                self._start(tmp_path, cli, logging_yaml)
                return
            except PortTaken:
                continue
        raise AssertionError("no free ports for warroom serve in 5 tries")

    def _start(self, tmp_path: Path, cli: tuple[str, ...], logging_yaml: str) -> None:
        self.port, self.metrics_port = free_ports(2)
        config = tmp_path / "warroom.yaml"
        config.write_text(
            f"server:\n  port: {self.port}\n  public_url: http://127.0.0.1:{self.port}\n"
            f"  metrics_port: {self.metrics_port}\n"
            f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'serve.db'}\n"
            "slack:\n  enabled: false\nxurrent:\n  enabled: false\n"
            f"logging:\n{logging_yaml}"
            "services:\n  - name: checkout-api\n    bridge: none\n    itsm:\n      enabled: false\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("WARROOM_")}
        env.update(SERVE_SECRETS)
        self.stderr_path = tmp_path / "stderr.log"
        self.stdout_path = tmp_path / "stdout.log"
        with self.stderr_path.open("wb") as err, self.stdout_path.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "warroom.cli", "--config", str(config), *cli, "serve"],
                env=env, stdout=out, stderr=err, cwd=tmp_path,
            )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                if "address already in use" in self.stderr_path.read_text():
                    raise PortTaken
                raise AssertionError(f"warroom serve exited: {self.stderr_path.read_text()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"warroom serve did not answer: {self.stderr_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> tuple[str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.stdout_path.read_text(), self.stderr_path.read_text()


def test_serve_logs_json_lines_an_access_log_without_query_values_and_no_secret(tmp_path: Path) -> None:
    served = Served(tmp_path, logging_yaml="  format: json\n  access_log: true\n")
    try:
        link = f"{served.base}/incidents/1/postmortem?token=capability-token-4242"
        assert httpx.get(link).status_code == 403
        assert httpx.get(f"{served.base}/metrics").status_code == 404  # on its own port only
        scrape_url = f"http://127.0.0.1:{served.metrics_port}/metrics"
        assert httpx.get(scrape_url).status_code == 401
        token = SERVE_SECRETS["WARROOM_SERVER__METRICS_TOKEN"]
        alert = {"alerts": [{"title": "Checkout down", "service": "checkout-api", "severity": "critical"}]}
        generic = SERVE_SECRETS["WARROOM_INTAKE__GENERIC_TOKEN"]
        assert httpx.post(f"{served.base}/alerts/generic", json=alert,
                          headers={"Authorization": f"Bearer {generic}"}).status_code == 202
        scraped = httpx.get(scrape_url, headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200
        assert metric(scraped.text, "warroom_webhook_deliveries_total", source="generic", outcome="accepted") == 1
    finally:
        stdout, stderr = served.stop()
    assert served.process.returncode == 0
    lines = json_lines(stderr)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    (summary,) = [line for line in lines if "starting on" in line["message"]]
    assert summary["level"] == "INFO" and "database: sqlite" in summary["message"]
    assert "services: checkout-api" in summary["message"] and "alerts from generic" in summary["message"]
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    assert {"/healthz", "/incidents/1/postmortem?token=[redacted]", "/alerts/generic"} <= {a["path"] for a in access}
    assert any(a["status"] == 403 for a in access)
    everything = stdout + stderr
    for secret in [*SERVE_SECRETS.values(), "capability-token-4242"]:
        assert secret not in everything
    # the alert's job lines, if any were logged, name the incident
    assert all(line["incident"].startswith("INC-") for line in lines if line["logger"] == "warroom.outbox")


def test_serve_log_level_on_the_command_line_overrides_the_settings(tmp_path: Path) -> None:
    served = Served(tmp_path, "--log-level", "error", logging_yaml="  level: debug\n  format: text\n")
    try:
        assert httpx.get(f"{served.base}/healthz").status_code == 200
    finally:
        _stdout, stderr = served.stop()
    assert served.process.returncode == 0
    assert "starting on" not in stderr and " DEBUG " not in stderr and " INFO " not in stderr
