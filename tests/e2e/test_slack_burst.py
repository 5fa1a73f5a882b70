"""Many responders acting at once in one war room: Slack's per-channel posting limit is kept (its 429s are
honoured, every line still arrives once), and the card is edited once for a burst of changes, not once each."""

from __future__ import annotations

import asyncio

from warroom.chat.slack import blocks
from warroom.sandbox.harness import Harness

from .helpers import open_room, settle, war_room


async def test_a_burst_of_responders_is_posted_within_the_channel_limit(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    incident, channel, _ = await open_room(h)
    slack = h.world.slack
    slack.post_per_second, slack.post_burst = 5.0, 3  # Slack's 1/s, sped up so the test takes seconds
    people = [slack.add_user(f"responder{i}@example.com", f"Responder{i}") for i in range(10)]
    mark = len(slack.calls)
    clicks = await asyncio.gather(*(h.slack.click(blocks.TAKE_COMMANDER, str(incident), user=u, channel=channel)
                                    for u in people))
    assert all(c.status_code == 200 for c in clicks)
    await h.runtime.worker.run_until_idle(timeout=60)

    posts = [c for c in slack.calls[mark:] if c.op == "chat.postMessage"]
    assert any(c.status == 429 for c in posts)  # the burst went over the limit …
    lines = [m["text"] for m in slack.messages(channel)]
    for u in people:  # … and still every line arrived, once
        assert sum(f"Incident Commander: responder{people.index(u)}@example.com" in line for line in lines) == 1
    async with h.runtime.store.read() as tx:
        assert not [j for j in await tx.outbox.jobs(incident) if j["status"] == "dead"]
    # and the last one to take command holds it, on the card too
    async with h.runtime.store.read() as tx:
        holder = (await tx.roles.all(incident))["commander"]
    assert f"*Incident Commander*: <@{holder.chat_user.removeprefix('slack:')}>" in war_room(h, incident).card_text


async def test_a_burst_of_changes_is_one_card_edit(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.world.slack.config.rate_limits = False
    incident, channel, _ = await open_room(h)
    await settle(h)
    await h.runtime.worker.stop()  # the changes arrive faster than Slack calls complete
    for text in ("priority P2", "title Checkout slow", "assign me", "priority P3", "title Checkout slow in EU"):
        assert (await h.slack.command(text, channel=channel)).status_code == 200
    mark = len(h.world.slack.calls)
    h.runtime.worker.start()
    await settle(h)
    edits = [c for c in h.world.slack.calls[mark:] if c.op == "chat.update"]
    assert len(edits) == 1
    card = war_room(h, incident).card_text
    assert "Checkout slow in EU" in card and "P3" in card
