"""The command grammar: every verb and alias, every rejection with its sentence, help, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warroom.chat.grammar import (
    ARGS_MAX_CHARS,
    DEFAULT_ROLES,
    ME,
    NOTE_MAX_BYTES,
    TITLE_MAX_CHARS,
    VERBS,
    Ack,
    Assign,
    Command,
    Declare,
    Escalate,
    GrammarContext,
    Help,
    ListIncidents,
    Merge,
    Note,
    Page,
    Priority,
    Rejection,
    Reopen,
    Resolve,
    Role,
    Roles,
    RoleSpec,
    StakeholderAdd,
    Status,
    Target,
    TargetKind,
    Title,
    help_text,
    parse,
)
from warroom.settings import ServiceSettings, Settings

CTX = GrammarContext(
    services=("checkout-api", "payments", "network-core"),
    roles=(*DEFAULT_ROLES, RoleSpec.custom("Communications Lead")),
)
DANA = Target(TargetKind.USER, "U123", "dana")
ROLES = "Roles: commander, app-sme, network-sme, communications-lead."
PRIOS = "Priorities: P1, P2, P3, P4, P5 (P1 is the highest)."
SERVICES = "Services: checkout-api, payments, network-core."
VERB_LIST = "declare, escalate, ack, resolve, reopen, status, list, priority, title, assign, role, roles, note, page, stakeholder, merge, summary, ask, rca, postmortem, task, tasks, statuspage, help"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   \n\t ", Help()),
        # declare, in either order, with and without parts
        ("declare", Declare()),
        ("new", Declare()),
        ("declare P1", Declare(priority="P1")),
        ("declare checkout-api", Declare(service="checkout-api")),
        ("declare p1 checkout-api", Declare("checkout-api", "P1")),
        ("declare P1 checkout-api Checkout is down", Declare("checkout-api", "P1", "Checkout is down")),
        ("declare checkout-api P1 Checkout is down", Declare("checkout-api", "P1", "Checkout is down")),
        ("DECLARE Checkout-API p2  Checkout is down", Declare("checkout-api", "P2", "Checkout is down")),
        ("declare P1 Checkout is down", Declare(None, "P1", "Checkout is down")),
        # a plain word that is a service may begin the title: the form asks, with that service and the whole text
        ("declare payments Card payments fail", Declare("payments", None, None, draft="payments Card payments fail")),
        ("declare Payments are failing", Declare("payments", None, None, draft="Payments are failing")),
        ("declare service:payments Card payments fail", Declare("payments", None, "Card payments fail")),
        ("declare P2 svc=payments Card payments fail", Declare("payments", "P2", "Card payments fail")),
        ("declare payments P2 Card payments fail", Declare("payments", "P2", "Card payments fail")),
        ("declare Checkout is down", Declare(None, None, "Checkout is down")),
        ("declare P1 P2 is a title", Declare(None, "P1", "P2 is a title")),
        ("declare P1 checkout-api payments in the title", Declare("checkout-api", "P1", "payments in the title")),
        # escalate
        ("escalate 70001", Escalate(70001)),
        ("escalate #70001", Escalate(70001)),
        ("escalate https://acme.xurrent.com/requests/70001", Escalate(70001)),
        ("escalate <https://acme.xurrent.com/requests/70001>", Escalate(70001)),
        ("escalate <https://acme.xurrent.com/requests/70001|the request>", Escalate(70001)),
        ("escalate <https://acme.xurrent.com/self-service/requests/70001?tab=notes>", Escalate(70001)),
        # state changes
        ("ack", Ack()),
        ("ACK", Ack()),
        ("acknowledge", Ack()),
        ("Acknowledge", Ack()),
        ("resolve", Resolve()),
        ("close", Resolve()),
        ("resolved", Resolve()),
        ("resolve Rolled back release 42", Resolve("Rolled back release 42")),
        ("close   Fixed by <@U123|dana>  ", Resolve("Fixed by <@U123|dana>")),
        ("reopen", Reopen()),
        ("re-open", Reopen()),
        ("status", Status()),
        ("info", Status()),
        ("list", ListIncidents()),
        ("LIST", ListIncidents()),
        ("incidents", ListIncidents()),
        # fields
        ("priority P2", Priority("P2")),
        ("priority p2", Priority("P2")),
        ("prio p5", Priority("P5")),
        ("title New title", Title("New title")),
        ("rename  *Checkout* <https://x.example|down> :fire:", Title("*Checkout* <https://x.example|down> :fire:")),
        ("assign me", Assign(ME)),
        ("assign ME", Assign(ME)),
        ("assign <@U123|dana>", Assign(DANA)),
        ("assign <@U123>", Assign(Target(TargetKind.USER, "U123"))),
        ("assign <@U123|Dana Smith>", Assign(Target(TargetKind.USER, "U123", "Dana Smith"))),
        ("assign dana@example.com", Assign(Target(TargetKind.EMAIL, "dana@example.com"))),
        ("assign <mailto:Dana@Example.com|Dana@Example.com>", Assign(Target(TargetKind.EMAIL, "dana@example.com"))),
        # roles
        ("role commander <@U123|dana>", Role("commander", DANA)),
        ("role IC me", Role("commander", ME)),
        ("ROLE Incident-Commander me", Role("commander", ME)),
        ("role <@U123|dana> commander", Role("commander", DANA)),
        ("role app-sme me", Role("app-sme", ME)),
        ("role application-sme me", Role("app-sme", ME)),
        ("role network-sme me", Role("network-sme", ME)),
        ("role networking-sme me", Role("network-sme", ME)),
        ("role net-sme me", Role("network-sme", ME)),
        ("role communications-lead me", Role("communications-lead", ME)),
        ("role Communications Lead <@U123|dana>", Role("communications-lead", DANA)),
        ("roles", Roles()),
        # notes
        ("note Restarted the pods", Note("Restarted the pods")),
        ("NOTE x", Note("x")),
        ("comment  hello  world ", Note("hello  world")),
        ("note\nline one\n\n  line two", Note("line one\n\n  line two")),
        # paging and stakeholders
        ("page <@U123|dana>", Page(DANA)),
        ("page me", Page(ME)),
        ("page checkout-api", Page(Target(TargetKind.SERVICE, "checkout-api"))),
        ("page Checkout-API", Page(Target(TargetKind.SERVICE, "checkout-api"))),
        ("page dba-team", Page(Target(TargetKind.TEAM, "dba-team"))),
        ("page Network Operations", Page(Target(TargetKind.TEAM, "Network Operations"))),
        ("page <!subteam^S1|@oncall>", Page(Target(TargetKind.USERGROUP, "S1", "oncall"))),
        ("page <!subteam^S1>", Page(Target(TargetKind.USERGROUP, "S1"))),
        ("stakeholder add <#C1|exec-updates>", StakeholderAdd(Target(TargetKind.CHANNEL, "C1", "exec-updates"))),
        ("stakeholder add <#C1|>", StakeholderAdd(Target(TargetKind.CHANNEL, "C1"))),
        ("Stakeholders ADD <@U123|dana>", StakeholderAdd(DANA)),
        ("stakeholder <@U123|dana>", StakeholderAdd(DANA)),
        ("stakeholder add me", StakeholderAdd(ME)),
        ("stakeholder add <!subteam^S1|@execs>", StakeholderAdd(Target(TargetKind.USERGROUP, "S1", "execs"))),
        # merge
        ("merge 42", Merge(42)),
        ("merge #42", Merge(42)),
        ("merge INC-42", Merge(42)),
        ("merge inc42", Merge(42)),
        # help
        ("help", Help()),
        ("?", Help()),
        ("commands", Help()),
        ("help role", Help("role")),
        ("help acknowledge", Help("ack")),
        ("help close", Help("resolve")),
        ("help stakeholder add", Help("stakeholder")),
    ],
)
def test_commands_and_aliases(text: str, expected: Command) -> None:
    assert parse(text, CTX) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # unknown verbs
        ("ackk", "Unknown command 'ackk'; did you mean `ack`? Try `/incident ack`, or `/incident help` for every command."),
        ("nte hi", "Unknown command 'nte'; did you mean `note`? Try `/incident note Restarted the pods; error rate falling`, "
                   "or `/incident help` for every command."),
        ("frobnicate", f"Unknown command 'frobnicate'. Commands: {VERB_LIST}. Try `/incident help` for what each does."),
        ("P1 checkout down", "Unknown command 'P1'. To declare an incident, try `/incident declare P1 <title>`; "
                             "to change this incident's priority, `/incident priority P1`."),
        ("checkout-api is down", "Unknown command 'checkout-api'. To declare an incident for checkout-api, "
                                 "try `/incident declare checkout-api <title>`."),
        # declare
        ("declare chekout-api P1 Checkout is down",
         f"Unknown service 'chekout-api'; did you mean 'checkout-api'? {SERVICES} Try `/incident declare P1 checkout-api <title>`."),
        ("declare P2 chekout-api Checkout is down",
         f"Unknown service 'chekout-api'; did you mean 'checkout-api'? {SERVICES} Try `/incident declare P2 checkout-api <title>`."),
        ("declare database P1 down",
         f"Unknown service 'database'. {SERVICES} Try `/incident declare P1 service:checkout-api Checkout is down`."),
        ("declare P1 " + "x" * 256,
         "The title is 256 characters long, more than the 255 allowed; shorten it and put the rest in a note. "
         "Try `/incident declare P1 service:checkout-api Checkout is down`."),
        # escalate
        ("escalate", "Say which Xurrent request to escalate, by its number or its link. Try `/incident escalate 70001`."),
        ("escalate 1 2", "Give one Xurrent request to escalate, by its number or its link. Try `/incident escalate 70001`."),
        ("escalate REQ-x", "'REQ-x' is not a Xurrent request number or link. Try `/incident escalate 70001`."),
        ("escalate https://acme.xurrent.com/problems/5",
         "'https://acme.xurrent.com/problems/5' is not a Xurrent request number or link. Try `/incident escalate 70001`."),
        # bare verbs
        ("ack on it", "`ack` takes nothing after it; to add a note, use `note <text>`. Try `/incident ack`."),
        ("reopen now", "`reopen` takes nothing after it. Try `/incident reopen`."),
        ("status P1", "`status` takes nothing after it. Try `/incident status`."),
        ("roles all", "`roles` takes nothing after it. Try `/incident roles`."),
        ("list open", "`list` takes nothing after it. Try `/incident list`."),
        ("lst", "Unknown command 'lst'; did you mean `list`? Try `/incident list`, or `/incident help` for every command."),
        # priority
        ("priority", f"Say which priority. {PRIOS} Try `/incident priority P2`."),
        ("priority P7", f"Unknown priority 'P7'. {PRIOS} Try `/incident priority P2`."),
        ("priority PP1", f"Unknown priority 'PP1'. {PRIOS} Try `/incident priority P1`."),
        ("priority P1 customers affected", f"Give the priority alone; put the reason in a note. {PRIOS} Try `/incident priority P1`."),
        # title
        ("title", "Write the new title after `title`. Try `/incident title Checkout fails for card payments`."),
        ("title " + "é" * 300, "The title is 300 characters long, more than the 255 allowed; shorten it and put the rest in a note. "
                               "Try `/incident title Checkout fails for card payments`."),
        # assign (the echo of what was typed is escaped: it goes back into Slack as mrkdwn, so <!here> is shown, never notifies)
        ("assign", "Say who to assign the incident to: mention them with @ or write `me`. Try `/incident assign @dana`."),
        ("assign <@U1> <@U2>", "Assign one person: mention them with @ or write `me`. Try `/incident assign @dana`."),
        ("assign dana", "'dana' is not a person: mention them with @ or write `me`. Try `/incident assign @dana`."),
        ("assign <#C1|ops>", "'&lt;#C1|ops&gt;' is not a person: mention them with @ or write `me`. Try `/incident assign @dana`."),
        ("assign @dana", "'@dana' is not a mention the chat recognised: pick the person from the @ list as you type. "
                         "Try `/incident assign @dana`."),
        # role
        ("role comander <@U123|dana>", f"Unknown role 'comander'. {ROLES} Try `/incident role commander @dana`."),
        ("role netwrk-sme me", f"Unknown role 'netwrk-sme'. {ROLES} Try `/incident role network-sme me`."),
        ("role janitor me", f"Unknown role 'janitor'. {ROLES} Try `/incident role commander me`."),
        ("role", f"Say which role and who takes it. {ROLES} Try `/incident role commander @dana`."),
        ("role commander", "Say who takes the Incident Commander role: mention them or write `me`. Try `/incident role commander me`."),
        ("role <@U123|dana>", f"Say which role to give. {ROLES} Try `/incident role commander @dana`."),
        ("role commander dana", "'dana' is not a person: mention them with @ or write `me`. Try `/incident role commander @dana`."),
        ("role commander <#C1|ops>",
         "'&lt;#C1|ops&gt;' is not a person: mention them with @ or write `me`. Try `/incident role commander @dana`."),
        # note
        ("note", "Write the note after `note`. Try `/incident note Restarted the pods; error rate falling`."),
        ("note " + "x" * (NOTE_MAX_BYTES + 1),
         "The note is 64 KB, more than the 64 KB the ITSM accepts; shorten it or split it into several notes. "
         "Try `/incident note Restarted the pods; error rate falling`."),
        ("resolve " + "€" * 30_000,
         "The closing note is 87 KB, more than the 64 KB the ITSM accepts; shorten it or split it into several notes. "
         "Try `/incident resolve Rolled back release 42`."),
        # page
        ("page", "Say who to page: a person, a user group, a team or a service. Try `/incident page @dana`."),
        ("page <@U1> <@U2>", "Page one person, group, team or service at a time. Try `/incident page @dana`."),
        ("page chekout-api", "There is no service 'chekout-api' (did you mean 'checkout-api'?). Try `/incident page @dana`."),
        ("page <!here>", "'&lt;!here&gt;' notifies everyone in a channel; name people, a group or a team instead. Try `/incident page @dana`."),
        ("page <#C1|ops>", "A channel cannot be paged; page people, a user group, a team or a service. Try `/incident page @dana`."),
        ("page <https://x.example>", "'&lt;https://x.example&gt;' is not a person, a channel or a team. Try `/incident page @dana`."),
        ("page #ops", "'#ops' is not a channel the chat recognised: pick the channel from the # list as you type. "
                      "Try `/incident page @dana`."),
        ("page " + "a " * ARGS_MAX_CHARS,
         "That is too much text for `page`, which takes `page <@person|@group|team|service>`. Try `/incident page @dana`."),
        # stakeholder
        ("stakeholder", "Say who to keep informed: a person (@) or a channel (#). Try `/incident stakeholder add #exec-updates`."),
        ("stakeholder add", "Say who to keep informed: a person (@) or a channel (#). Try `/incident stakeholder add #exec-updates`."),
        ("stakeholder add <@U1> <#C1>",
         "Add one stakeholder at a time: a person (@) or a channel (#). Try `/incident stakeholder add #exec-updates`."),
        ("stakeholder remove <@U1>",
         "Stakeholders can only be added from chat, not removed. Try `/incident stakeholder add #exec-updates`."),
        ("stakeholder ad <@U1>",
         "Unknown stakeholder action 'ad' (did you mean `add`?). Try `/incident stakeholder add #exec-updates`."),
        ("stakeholder invite <@U1>", "Unknown stakeholder action 'invite'. Try `/incident stakeholder add #exec-updates`."),
        ("stakeholder add execs",
         "'execs' is not a person or a channel: mention them with @ or #. Try `/incident stakeholder add #exec-updates`."),
        ("stakeholder add <!channel>", "'&lt;!channel&gt;' notifies everyone in a channel; name people, a group or a team instead. "
                                       "Try `/incident stakeholder add #exec-updates`."),
        # merge
        ("merge", "Say which incident to merge into this one, by its number. Try `/incident merge INC-42`."),
        ("merge 1 2", "Merge one incident at a time, by its number. Try `/incident merge INC-42`."),
        ("merge INC-0", "'INC-0' is not an incident number. Try `/incident merge INC-42`."),
        ("merge the-other-one", "'the-other-one' is not an incident number. Try `/incident merge INC-42`."),
        # help
        ("help ak", f"There is no command 'ak'; did you mean `ack`? Commands: {VERB_LIST}. Try `/incident help` for the list."),
        ("help zzz", f"There is no command 'zzz'. Commands: {VERB_LIST}. Try `/incident help` for the list."),
    ],
)
def test_rejections_say_what_was_wrong_and_the_form(text: str, message: str) -> None:
    result = parse(text, CTX)
    assert isinstance(result, Rejection)
    assert result.message == message


def test_the_design_documents_sentence_for_an_unknown_role() -> None:
    result = parse("role comander <@U9|dana>", GrammarContext())
    assert result == Rejection(
        "Unknown role 'comander'. Roles: commander, app-sme, network-sme. Try `/incident role commander @dana`.", "role"
    )


def test_rejections_name_the_verb_they_are_about() -> None:
    for text, verb in [("note", "note"), ("acknowledge now", "ack"), ("close " + "x" * 70_000, "resolve"), ("zzz", None)]:
        result = parse(text, CTX)
        assert isinstance(result, Rejection) and result.verb == verb
    assert parse("comment x", CTX).verb == "note"  # commands carry their canonical verb too


def test_echoed_input_is_cut_short_and_cannot_break_the_sentence() -> None:
    result = parse("role `x`\x00\n" + "y" * 100 + " me", CTX)
    assert isinstance(result, Rejection)
    assert "\n" not in result.message and "\x00" not in result.message and "`x`" not in result.message
    assert "…'" in result.message


def test_declare_without_services_configured() -> None:
    ctx = GrammarContext(command="/inc")
    assert parse("declare P1 Checkout is down", ctx) == Declare(None, "P1", "Checkout is down")
    assert parse("declare checkout P1 down", ctx) == Rejection(
        "Unknown service 'checkout': no services are configured, so leave it out. Try `/inc declare P1 <title>`.",
        "declare",
    )


def test_a_title_may_start_with_a_word_like_a_service() -> None:
    # "Checkout" is close to "checkout-api" but is a plain word, so it stays in the title.
    assert parse("declare P1 Checkout is down", CTX) == Declare(None, "P1", "Checkout is down")


def test_limits_are_inclusive() -> None:
    title = "t" * TITLE_MAX_CHARS
    assert parse(f"title {title}", CTX) == Title(title)
    assert parse(f"declare {title}", CTX) == Declare(None, None, title)
    note = "n" * (NOTE_MAX_BYTES - 2) + "é"  # exactly 64 KB in UTF-8
    assert parse(f"note {note}", CTX) == Note(note)
    assert isinstance(parse(f"note {note}x", CTX), Rejection)


def test_custom_priorities_and_command_name() -> None:
    ctx = GrammarContext(priorities=("Critical", "High", "Low"), command="/major")
    assert parse("priority critical", ctx) == Priority("Critical")
    assert parse("declare high Slow pages", ctx) == Declare(None, "High", "Slow pages")
    assert parse("priority P1", ctx) == Rejection(
        "Unknown priority 'P1'. Priorities: Critical, High, Low (Critical is the highest). Try `/major priority High`.",
        "priority",
    )


def test_context_from_settings() -> None:
    settings = Settings(
        priorities=["P1", "P2", "P3", "P4"],
        services=[ServiceSettings(name="checkout-api"), ServiceSettings(name="db")],
        slack={"command": "warroom"},
    )
    ctx = GrammarContext.from_settings(settings, ["Communications Lead", "IC", RoleSpec("scribe", "Scribe", ("notes",))])
    assert ctx.priorities == ("P1", "P2", "P3", "P4")
    assert ctx.services == ("checkout-api", "db")
    assert ctx.command == "/warroom"
    assert [r.key for r in ctx.roles] == ["commander", "app-sme", "network-sme", "communications-lead", "scribe"]
    assert parse("role notes me", ctx) == Role("scribe", ME)
    assert parse("declare db P1 Disk full", ctx) == Declare("db", "P1", "Disk full")


def test_target_display() -> None:
    assert DANA.display() == "@dana"
    assert Target(TargetKind.USER, "U1").display() == "<@U1>"
    assert Target(TargetKind.CHANNEL, "C1", "ops").display() == "#ops"
    assert Target(TargetKind.CHANNEL, "C1").display() == "<#C1>"
    assert ME.display() == "me"
    assert Target(TargetKind.SERVICE, "db").display() == "db"


def test_a_teams_mention_rewritten_to_the_common_form_parses_the_same() -> None:
    aad = "29:1a2b3c-4d5e"
    assert parse(f"role ic <@{aad}|Dana Smith>", CTX) == Role("commander", Target(TargetKind.USER, aad, "Dana Smith"))


def test_help_lists_every_command_with_a_description() -> None:
    text = help_text(CTX)
    for verb in VERBS:
        assert f"• `{verb}" in text
    assert "`/incident declare P1 service:checkout-api Checkout is down`" in text
    assert SERVICES.rstrip(".") in text and "communications-lead" in text
    assert "`/incident help <command>`" in text


@pytest.mark.parametrize("verb", VERBS)
def test_help_for_each_verb_gives_its_form(verb: str) -> None:
    text = help_text(CTX, verb)
    assert text.startswith(f"`/incident {verb}")
    assert "Example: `/incident " + verb in text
    example = text.split("Example: `/incident ", 1)[1].split("`", 1)[0]
    result = parse(example.replace("@dana", "<@U1|dana>").replace("#exec-updates", "<#C1|exec-updates>"), CTX)
    assert not isinstance(result, Rejection), (verb, result)


def test_help_tells_of_list_which_works_anywhere() -> None:
    assert "• `list` — list the open incidents with their priority, service and war room (works in any channel)" in (
        help_text(CTX)
    )
    assert help_text(CTX, "incidents").startswith("`/incident list` — list the open incidents")


def test_help_for_an_alias_unknown_topic_and_details() -> None:
    assert help_text(CTX, "Acknowledge") == help_text(CTX, "ack")
    assert "Also written: `acknowledge`." in help_text(CTX, "ack")
    assert "Roles: commander (Incident Commander), app-sme (Application SME)" in help_text(CTX, "role")
    assert PRIOS in help_text(CTX, "priority")
    assert help_text(CTX, "bogus").startswith("There is no command 'bogus'. These are the commands:")


# ---------------------------------------------------------------------------------------------- fuzzing

ANY_CHAR = st.characters(codec=None, exclude_categories=())  # every code point, surrogates and controls included
FRAGMENTS = st.sampled_from(
    [
        *VERBS, "acknowledge", "close", "prio", "NOTE", "stakeholder add", "new", "P1", "p2", "checkout-api",
        "chekout-api", "commander", "ic", "me", "<@U123|dana>", "<@U1>", "<#C1|ops>", "<#C1|>", "<!here>",
        "<!subteam^S1|@x>", "<https://acme.xurrent.com/requests/70001|req>", "<mailto:a@b.co|a@b.co>", "<", ">",
        "<@", "|", "#", "@", "INC-4", "70001", "*bold*", "`code`", ":fire:", "\u200b", "\x00", "\u2028", "\ud800",
        "\x1c", "\xa0", "é", "🔥", "&amp;", " ", "\n", "\t",
    ]
)
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=300),
    st.lists(FRAGMENTS | st.text(ANY_CHAR, max_size=8), max_size=12).map(" ".join),
    st.lists(FRAGMENTS, max_size=12).map("".join),
    st.builds(lambda s, n: s * n, st.text(ANY_CHAR, min_size=1, max_size=4), st.integers(0, 40_000)),
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_sentence(result: Command | Rejection) -> None:
    if isinstance(result, Rejection):
        msg = result.message
        assert msg and msg == msg.strip()
        assert msg[0].isupper() or msg[0] in "'`", msg
        assert msg.endswith((".", "?")), msg
        assert "\n" not in msg and len(msg) < 2000


@FUZZ
@given(TEXTS, st.sampled_from([CTX, GrammarContext(), GrammarContext(priorities=(), roles=())]))
def test_parse_never_raises_and_rejections_are_sentences(text: str, ctx: GrammarContext) -> None:
    assert_sentence(parse(text, ctx))


@FUZZ
@given(st.sampled_from(VERBS), TEXTS)
def test_every_verb_with_any_arguments(verb: str, args: str) -> None:
    assert_sentence(parse(f"{verb} {args}", CTX))
    assert_sentence(parse(f"{verb}{args}", CTX))


@pytest.mark.parametrize("size", [1_000_000, 10_000_000])
@pytest.mark.parametrize("verb", [*VERBS, "zzz"])
def test_huge_input(verb: str, size: int) -> None:
    for filler in ("x", "a ", "<@", "< "):
        assert_sentence(parse(f"{verb} {filler * (size // len(filler))}", CTX))


def bounded_text(max_bytes: int, max_chars: int | None = None) -> st.SearchStrategy[str]:
    return st.text(ANY_CHAR, min_size=1, max_size=max_chars or 2000).filter(
        lambda x: x == x.strip() and len(x.encode("utf-8", "surrogatepass")) <= max_bytes
    )


@FUZZ
@given(bounded_text(NOTE_MAX_BYTES), st.sampled_from(["note", "NOTE", "comment", "Note"]), st.sampled_from([" ", "\n", "  \t"]))
def test_notes_round_trip_unchanged(x: str, verb: str, gap: str) -> None:
    assert parse(f"{verb}{gap}{x}", CTX) == Note(x)
    assert parse(f"  resolve{gap}{x} \n", CTX) == Resolve(x)


@FUZZ
@given(bounded_text(NOTE_MAX_BYTES, TITLE_MAX_CHARS))
def test_titles_round_trip_unchanged(x: str) -> None:
    assert parse(f"title {x}", CTX) == Title(x)
    assert parse(f"declare P1 checkout-api {x}", CTX) == Declare("checkout-api", "P1", x)
    assert parse(f"declare checkout-api p1 {x}", CTX) == Declare("checkout-api", "P1", x)


def test_markup_in_a_note_survives_exactly() -> None:
    note = (
        "Rolled back by <@U123|dana> — see <https://grafana.example/d/abc?from=now-1h&to=now|the dashboard> "
        "and <#C42|inc-7-db>.\n```\nkubectl rollout undo deploy/checkout\n```\n*bold* _it_ ~strike~ :fire: 🔥 &amp; &lt;"
    )
    assert parse(f"note {note}", CTX) == Note(note)


def test_declare_names_a_service_by_its_marker_and_says_when_it_is_unknown() -> None:
    rejected = parse("declare service:paymnts Card payments fail", CTX)
    assert isinstance(rejected, Rejection) and "Unknown service 'paymnts'; did you mean 'payments'?" in rejected.message
    assert "service:payments <title>" in rejected.message
    # the marker wins over a title that begins with a service's name
    assert parse("declare service:checkout-api payments are slow", CTX) == Declare("checkout-api", None, "payments are slow")
