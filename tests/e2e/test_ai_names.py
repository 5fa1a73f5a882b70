"""Names, not ids: a person who only talks in the war room (no command run), and one who writes a note by command, are
named in the AI responder's status summary by the name Slack shows for them (users.info, asked once and remembered)
— never as ``slack:U…``, by their handle, nor as "someone in Slack"."""

from __future__ import annotations

from typing import Any

from warroom.sandbox.harness import Harness

from .helpers import open_room, settle


async def test_a_speaker_is_named_in_the_summary_by_their_slack_name(start: Any) -> None:
    h: Harness = await start()
    _, channel, _ = await open_room(h)
    gus = h.world.slack.add_user("gus@example.com", "Gus Grayson")
    await h.slack.event({"type": "message", "channel": channel, "user": gus, "ts": "1700000200.000100",
                         "text": "Rolling back the checkout deploy now, error rate should drop"})
    await h.slack.event({"type": "message", "channel": channel, "user": gus, "ts": "1700000201.000100",
                         "text": "Rollback done"})
    hana = h.world.slack.add_user("hana@example.com", "Hana Hughes")
    await h.slack.command("note Customers in EU see 500s on checkout", channel=channel, user=hana)
    await settle(h)
    lookups = [c for c in h.world.slack.calls if c.op == "users.info"]
    await h.slack.command("summary", channel=channel)
    await settle(h)
    summary = next(str(m["text"]) for m in reversed(h.world.slack.messages(channel))
                   if str(m.get("text", "")).startswith("🤖 Status"))
    assert "Gus Grayson" in summary, summary
    assert "Hana Hughes" in summary  # a command's author too, not by the handle the command carries
    assert gus not in summary and "someone in Slack" not in summary
    # asked once for the person, not once per message
    assert len([c for c in lookups if gus in (c.body or "") + (c.path or "")]) == 1


async def test_a_second_command_does_not_put_the_handle_back_in_place_of_the_name(start: Any) -> None:
    """A slash command carries the person's handle (``user_name``): it stands in for a name only until Slack has
    said the person's name, and never replaces it — on their second command or after a restart."""
    h: Harness = await start()
    _, channel, _ = await open_room(h)
    hana = h.world.slack.add_user("hana@example.com", "Hana Hughes")
    await h.slack.command("note Customers in EU see 500s on checkout", channel=channel, user=hana)
    await settle(h)
    await h.slack.command("note Rolled back the checkout deploy, error rate falling", channel=channel, user=hana)
    await settle(h)
    async with h.runtime.store.read() as tx:
        assert (await tx.people.names([f"slack:{hana}"])) == {f"slack:{hana}": "Hana Hughes"}
    await h.slack.command("summary", channel=channel)
    await settle(h)
    summary = next(str(m["text"]) for m in reversed(h.world.slack.messages(channel))
                   if str(m.get("text", "")).startswith("🤖 Status"))
    assert "Hana Hughes" in summary, summary
