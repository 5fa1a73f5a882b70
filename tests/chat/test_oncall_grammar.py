"""The on-call command's grammar: what each form parses to, and the sentence for what it does not take."""

from __future__ import annotations

import pytest

from warroom.chat.grammar import oncall
from warroom.chat.grammar.oncall import OnCallGrammar, after_verb, parse
from warroom.response.commands import (
    OnCallHelp,
    OnCallOverride,
    OnCallOverrides,
    OnCallRemove,
    OnCallWho,
    Rejection,
)
from warroom.settings import Settings

CTX = OnCallGrammar(command="/oncall", schedules=("payments-primary", "Night Shift", "dba"))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", OnCallWho(None)),
        ("   ", OnCallWho(None)),
        ("payments", OnCallWho("payments")),
        ("Network Operations", OnCallWho("Network Operations")),
        ("who payments", OnCallWho("payments")),
        ("now", OnCallWho(None)),
        ("help", OnCallHelp()),
        ("?", OnCallHelp()),
        ("override <@U1|dana> until tomorrow 09:00", OnCallOverride(None, "<@U1|dana> until tomorrow 09:00")),
        ("override payments-primary me for 4h", OnCallOverride("payments-primary", "me for 4h")),
        ("override PAYMENTS-PRIMARY dana@example.com for 1h", OnCallOverride("payments-primary", "dana@example.com for 1h")),
        ("override night  shift @dana from friday 17:00 to monday 09:00",
         OnCallOverride("Night Shift", "@dana from friday 17:00 to monday 09:00")),
        ("override remove 12", OnCallRemove(12)),
        ("override rm #7", OnCallRemove(7)),
        ("remove 3", OnCallRemove(3)),
        ("overrides", OnCallOverrides(None)),
        ("overrides dba", OnCallOverrides("dba")),
        ("overrides remove 4", OnCallRemove(4)),
    ],
)
def test_forms(text: str, parsed: object) -> None:
    assert parse(text, CTX) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("override", "Say who covers and until when. Try `/oncall override payments-primary @dana until tomorrow 09:00`"),
        ("override dba", "Say who covers dba and until when."),
        ("override remove", "Say which override to remove, by its number"),
        ("override remove 1 2", "Remove one override at a time"),
        ("override remove twelve", "'twelve' is not an override number"),
        ("override remove 0", "'0' is not an override number"),
        ("override paymnts @dana until 09:00", "There is no schedule 'paymnts'. Schedules: payments-primary, Night Shift, dba."),
        ("overrides nope", "There is no schedule 'nope'."),
        ("x" * 600, "more text than the on-call command takes"),
    ],
)
def test_rejections_say_how(text: str, says: str) -> None:
    parsed = parse(text, CTX)
    assert isinstance(parsed, Rejection) and says in parsed.message and "`/oncall help`" in parsed.message


def test_echoed_text_is_escaped() -> None:
    parsed = parse("override evil<!channel>&co <@U1> until 9", CTX)
    assert isinstance(parsed, Rejection)
    assert "<!channel>" not in parsed.message and "'evil&lt;!channel&gt;&amp;co'" in parsed.message


def test_teams_finds_the_command_after_its_word() -> None:
    assert after_verb("oncall payments") == "payments"
    assert after_verb("OnCall") == ""
    assert after_verb("on-call override me for 1h") == "override me for 1h"
    assert after_verb("oncall\npayments") == "payments"
    assert after_verb("ack") is None and after_verb("oncallx") is None and after_verb("") is None


def test_the_context_comes_from_the_settings() -> None:
    settings = Settings(
        slack={"oncall_command": "rota"},
        oncall={"schedules": [{"name": "payments-primary", "layers": []}]},
    )
    ctx = OnCallGrammar.from_settings(settings)
    assert ctx == OnCallGrammar(command="/rota", schedules=("payments-primary",))
    assert OnCallGrammar.from_settings(settings, command="@warroom oncall").command == "@warroom oncall"
    helped = ctx.help_text()
    assert helped.startswith("*On call* — `/rota [service|team|schedule]`")
    assert "`/rota override payments-primary @dana until tomorrow 09:00`" in helped
    assert oncall.VERB == "oncall"
