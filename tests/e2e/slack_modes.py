"""Running the Slack end-to-end tests over both of Slack's transports: HTTP (signed requests to /slack/events) and
Socket Mode (envelopes on the WebSocket warroom opens). ``h.slack`` drives either the same way."""

from __future__ import annotations

from typing import Any

from warroom.sandbox.harness import Harness

SLACK_MODES = ("http", "socket")


async def start_in_mode(database_url: str, mode: str, **kwargs: Any) -> Harness:
    return await Harness.start(database_url, slack_mode=mode, **kwargs)


def unacked(h: Harness) -> list[str]:
    """Envelopes Slack sent that warroom never acked (always [] over HTTP)."""
    return [f"{e.type} {e.envelope_id} (attempt {e.retry_attempt})" for e in h.world.slack.socket.unacked()]


async def stop_in_mode(h: Harness) -> None:
    """Stop the harness; in Socket Mode, first check that every envelope was acked."""
    try:
        assert unacked(h) == [], "envelopes left un-acked"
    finally:
        await h.stop()
