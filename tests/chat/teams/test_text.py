"""Teams message text at the edge: HTML entities decoded once, the bot's mention dropped, people's mentions turned
into the grammar's person markup."""

from __future__ import annotations

from typing import Any

from warroom.chat import grammar as cmd
from warroom.chat.teams.activity import read_text

BOT = "28:bot-app-id"


def mention(user_id: str, name: str) -> dict[str, Any]:
    return {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": user_id, "name": name}}


def test_the_bots_mention_is_dropped_and_entities_decoded_once() -> None:
    said = read_text(
        "<at>warroom</at> title Checkout &lt;b&gt;down&lt;/b&gt; &amp;amp; payments\n",
        [mention(BOT, "warroom"), {"type": "clientInfo"}],
        BOT,
    )
    assert said.to_bot
    assert said.command == "title Checkout <b>down</b> &amp; payments"  # what was typed, "&amp;" included
    parsed = cmd.parse(said.command, cmd.GrammarContext())
    assert parsed == cmd.Title("Checkout <b>down</b> &amp; payments")


def test_people_become_person_markup_for_the_grammar_and_names_for_the_timeline() -> None:
    text = "<at>warroom</at> assign <at>Ben Backend</at>"
    said = read_text(text, [mention(BOT, "warroom"), mention("29:1ben", "Ben Backend")], BOT)
    assert said.command == "assign <@29:1ben|Ben Backend>"
    assert cmd.parse(said.command, cmd.GrammarContext()) == cmd.Assign(
        cmd.Target(cmd.TargetKind.USER, "29:1ben", "Ben Backend")
    )
    chat = read_text(
        "ping <at>Ben Backend</at> &amp; <at>Chen</at>",
        [mention("29:1ben", "Ben Backend"), mention("29:1c", "Chen")],
        BOT,
    )
    assert not chat.to_bot
    assert chat.shown == "ping @Ben Backend & @Chen"


def test_a_typed_at_tag_is_not_a_mention_and_markup_in_names_is_defused() -> None:
    # a user who types "<at>warroom</at>" sends it encoded: it is text, not a mention
    said = read_text("&lt;at&gt;warroom&lt;/at&gt; ack", [], BOT)
    assert not said.to_bot and said.command == "<at>warroom</at> ack"
    odd = read_text(
        "<at>warroom</at> assign <at>Eve|&gt;x</at>",
        [mention(BOT, "warroom"), mention("29:1e", "Eve|>x")],
        BOT,
    )
    assert odd.command == "assign <@29:1e|Evex>"


def test_a_mention_without_its_entity_is_its_name_and_nbsp_is_a_space() -> None:
    said = read_text("<at>warroom</at>&nbsp;note <at>Somebody</at> said hi", [mention(BOT, "warroom")], BOT)
    assert said.to_bot and said.command == "note Somebody said hi"
    assert read_text(None, None, BOT).command == ""
