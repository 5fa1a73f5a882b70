"""Outside text never broadcasts: hostile titles, notes, alert text and desk notes through every path to chat.

An alert's name and summary, a responder's `/incident declare`, `title`, `note` and `resolve` text, a stakeholder
update, a page, a desk agent's note in Xurrent, the AI's status update and postmortem — each carries
``<!channel>``, ``<!here>``, ``<!everyone>``, a user-group mention and a link whose label shows another address.
The war room is in Slack and in Teams at once. Every call warroom makes to Slack and to the Bot Connector is read
back as sent (the emulators keep each request's body) and none may carry a broadcast or user-group token, nor a
link whose label hides its target.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl

import pytest

from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import World

from .helpers import critical_alert, settle
from .teams_bot_helpers import TeamsSide

HOSTILE = (
    "<!channel> <!here|here> <!everyone> <!subteam^S0EVIL|@oncall> @channel <at>everyone</at> "
    "<https://evil.example/login|https://grafana.example/d/1> [https://grafana.example/d/2](https://evil.example/x)"
)

#: Slack's broadcast and user-group mentions; in Teams, a mention tag (which notifies with an entity)
SLACK_BROADCAST = re.compile(r"<!(?:channel|here|everyone)\b|<!subteam\^", re.IGNORECASE)
TEAMS_MENTION = re.compile(r"<at>everyone</at>", re.IGNORECASE)
SLACK_LINK = re.compile(r"<(https?://[^|<>\s]+)\|([^<>]*)>")
MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\((https?://[^)\s]+)\)")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            inner = json.loads(value)
        except ValueError:
            return [value]
        return [value, *_strings(inner)] if isinstance(inner, dict | list) else [value]
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "plain_text_input"):
            # Block Kit shows plain_text, and an input's value, as typed: they never mention nor link
            return []
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _sent(body: str | None) -> list[str]:
    """Every string in a request body as the service receives it (JSON, or a form with JSON fields)."""
    if not body:
        return []
    try:
        return _strings(json.loads(body))
    except ValueError:
        return [s for _, v in parse_qsl(body, keep_blank_values=True) for s in _strings(v)]


def _host(url: str) -> str:
    return re.sub(r"^https?://", "", url).split("/")[0].lower()


def _hidden_link(text: str, *, teams: bool) -> str | None:
    """A link whose label hides its target: Slack's <url|label> in Slack, Markdown's [label](url) in Teams."""
    for url, label in [] if teams else SLACK_LINK.findall(text):
        if "evil.example" in url or ("." in label and "://" in label and _host(label) != _host(url)):
            return f"<{url}|{label}>"
    for label, url in MARKDOWN_LINK.findall(text) if teams else []:
        if "evil.example" in url or ("://" in label and _host(label) != _host(url)):
            return f"[{label}]({url})"
    return None


@pytest.mark.one_db(
    "what the outbound chat calls contain (escaping): no concurrency, no dialect-specific SQL",
)
async def test_no_outbound_chat_call_broadcasts_or_hides_a_link(db_url: str) -> None:
    world = await World.start()
    teams = await TeamsSide.start(world)

    def both(data: dict[str, Any]) -> None:
        data["teams"].update(enabled=True, auth_enabled=True, openid_metadata_url=teams.client.openid_metadata_url)
        for service in data["services"]:
            service["chat"] = "both"
        data.setdefault("response", {}).update(page_repeat_minutes=1 / 60, page_max_notifications=2)
        data.setdefault("ai", {}).update(change_summary_seconds=0)

    h = await Harness.start(db_url, world=world, tweak=both)
    try:
        slack = h.world.slack
        ana = next(u["id"] for u in slack.users.values() if u["profile"]["email"].startswith("ana@"))
        eli = next(u["id"] for u in slack.users.values() if u["profile"]["email"].startswith("eli@"))
        news = slack.add_channel("exec-news", creator=ana, members=[ana])

        # an alert whose name, summary, description and labels are hostile
        alert = critical_alert()
        alert["alerts"][0]["labels"]["alertname"] = f"Checkout {HOSTILE}"[:200]
        alert["alerts"][0]["annotations"] = {"summary": HOSTILE, "description": f"desc {HOSTILE}"}
        alert["commonLabels"] = {}
        reply = await h.post_alerts(alert)
        incident = int(reply.json()["incidents"][0])
        assert await h.wait_complete(incident) == []
        async with h.runtime.store.read() as tx:
            links = await tx.links.all(incident)
        channel = links[LinkKind.SLACK_CHANNEL].remote_id

        # a responder's hostile text through every command that echoes it (the answers go to Slack too)
        replies: list[str] = []
        for text in (f"title Checkout {HOSTILE}", f"note {HOSTILE}", f"page <@{eli}>", f"role commander <@{ana}>",
                     "priority P2", "status", "summary"):
            replies.append((await h.slack.command(text, user=ana, channel=channel)).text)
        replies.append((await h.slack.command(f"stakeholder add <#{news}|exec-news>", user=ana, channel=channel)).text)
        replies.append((await h.slack.command(f"stakeholder add <@{eli}|eli>", user=ana, channel=channel)).text)
        # a desk agent's note in Xurrent, pulled into the war room
        request_id = int(links[LinkKind.XURRENT_REQUEST].remote_id)
        h.world.xurrent.add_note(request_id, f"Desk: {HOSTILE}")
        await settle(h)
        await asyncio.sleep(1.1)
        await h.runtime.timers.tick()
        replies.append((await h.slack.command(f"resolve {HOSTILE}", user=ana, channel=channel)).text)
        await settle(h)
        # a declaration from chat with a hostile title (and the form, which a title without a service opens)
        replies.append((await h.slack.command(f"declare service:checkout-api {HOSTILE}", user=ana,
                                              channel="C0GENERAL")).text)
        replies.append((await h.slack.command(f"declare {HOSTILE}", user=ana, channel="C0GENERAL")).text)
        await settle(h)

        slack_calls = [c for c in slack.calls if c.body]
        connector_calls = [c for c in teams.connector.calls if c.body]
        assert len(slack_calls) > 15 and len(connector_calls) > 5  # the scenario did reach both chats
        assert any("evil.example" in s for c in slack_calls for s in _sent(c.body))  # the text got there, inert
        problems = []
        sent = [(f"Slack {c.op}", c.body) for c in slack_calls] + [(f"Teams {c.op}", c.body) for c in connector_calls]
        sent += [("Slack command answer", r) for r in replies]
        for op, body in sent:
            for s in _sent(body):
                if (TEAMS_MENTION if op.startswith("Teams") else SLACK_BROADCAST).search(s):
                    problems.append(f"{op}: broadcast in {s[:160]!r}")
                hidden = _hidden_link(s, teams=op.startswith("Teams"))
                if hidden:
                    problems.append(f"{op}: hidden link {hidden} in {s[:160]!r}")
        assert not problems, "\n".join(problems[:20])
    finally:
        await h.stop()
        await teams.stop()
