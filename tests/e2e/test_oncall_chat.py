"""`/oncall` from chat, end to end: Slack's second slash command (signed requests, and Socket Mode envelopes) and
Teams' `@warroom oncall …` (activities with real Bot Framework JWTs) against the real server on SQLite and
PostgreSQL — who is on call now and next for a service, a team, a schedule and a channel; overrides stored from
chat change the answer and the calendar feed; who may override; hostile text answered inert."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from warroom.sandbox.harness import Harness
from warroom.sandbox.slack.driver import SlackDriver, SocketDriver
from warroom.sandbox.world import SLACK_SIGNING_SECRET, World

from .helpers import open_room
from .slack_modes import stop_in_mode
from .teams_bot_helpers import TeamsSide

#: The moment the schedules are drawn around (a whole minute, so the answers' clock times are exact).
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")

SLACK_BROADCAST = re.compile(r"<!(?:channel|here|everyone)\b|<!subteam\^", re.IGNORECASE)
SLACK_LINK = re.compile(r"<(https?://[^|<>\s]+)\|([^<>]*)>")


def iso(moment: datetime) -> str:
    return moment.isoformat()


def utc_words(moment: datetime) -> str:
    """How answers show an instant in UTC: ``Mon 14 Dec 09:00 UTC``."""
    at = moment.astimezone(UTC)
    return f"{at:%a} {at.day} {at:%b %H:%M} UTC"


def shift(user: str, start: timedelta, end: timedelta) -> dict[str, str]:
    return {"user": user, "start": iso(NOW + start), "end": iso(NOW + end)}


H = timedelta(hours=1)


def oncall_config(admins: list[str] | None = None) -> Callable[[dict[str, Any]], None]:
    """Three schedules drawn around NOW (explicit shifts, so each answer is known), a policy for payments, a
    declare channel for it; ``admins``: the oncall-admins group."""

    def apply(data: dict[str, Any]) -> None:
        data["oncall"] = {
            "schedules": [
                {"name": "payments-primary", "team": "payments", "time_zone": "Europe/London", "layers": [
                    {"name": "cover", "shifts": [shift("eli@example.com", -H, 2 * H),
                                                 shift("ana@example.com", 2 * H, 6 * H)]}]},
                {"name": "checkout-primary", "team": "checkout", "time_zone": "America/New_York", "layers": [
                    {"name": "weekly", "shifts": [shift("ben@example.com", -H, 3 * H),
                                                  shift("chen@example.com", 4 * H, 9 * H)]}]},
                {"name": "dba", "team": "databases", "layers": [
                    {"name": "all day", "shifts": [shift("chen@example.com", -2 * H, 10 * H)]}]},
            ],
            "escalation_policies": [{"name": "payments", "steps": [{"notify": {"schedules": ["payments-primary"]}}]}],
            "people": [{"email": "eli@example.com", "name": "Eli Network"}],
        }
        for service in data["services"]:
            if service["name"] == "payments":
                service["escalation_policy"] = "payments"
                service["declare_channels"] = ["C0PAYOPS"]
        if admins is not None:
            data.setdefault("response", {})["groups"] = {"oncall-admins": admins}

    return apply


def oncall_driver(h: Harness) -> SlackDriver | SocketDriver:
    """Slack's side typing `/oncall` (the configured slack.oncall_command) rather than `/incident`."""
    command = h.settings.slack.oncall_command
    response_url = f"{h.world.slack.base_url}/response"
    if h.settings.slack.mode == "socket":
        return SocketDriver(h.world.slack.socket, command, response_url, users=h.world.slack.users)
    return SlackDriver(h.http, SLACK_SIGNING_SECRET, command, response_url, users=h.world.slack.users)


async def oncall(h: Harness, text: str, *, user: str = "U0ANA", channel: str = "C0GENERAL") -> str:
    response = await oncall_driver(h).command(text, user=user, channel=channel)
    assert response.status_code == 200, response.text
    if not response.content:
        return ""
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        assert body.get("response_type") == "ephemeral", body  # answered to the asker alone
        return str(body["text"])
    return response.text


def feed_path(answer: str) -> str:
    """The calendar feed's address an answer links, as a path with its signature."""
    (url,) = [u for u, label in SLACK_LINK.findall(answer) if label == "calendar feed"][:1]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def events(body: bytes) -> list[tuple[str, datetime, datetime]]:
    cal = Calendar.from_ical(body)
    return sorted((str(e["summary"]), e.start, e.end) for e in cal.events)


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    h = await Harness.start(db_url, tweak=oncall_config())
    yield h
    await h.stop()


@pytest.fixture(params=["http", "socket"])
async def any_mode(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[Harness]:
    h = await Harness.start(sqlite_url, slack_mode=request.param, tweak=oncall_config(admins=["dana@example.com"]))
    yield h
    await stop_in_mode(h)


# ---------------------------------------------------------------------------------------------- now and next


@pytest.mark.one_db(
    "read-only schedule maths and replies; on-call writes keep PostgreSQL in the override test",
)
async def test_who_is_on_call_for_a_service_a_team_a_schedule_and_a_channel(harness: Harness) -> None:
    h = harness
    service = await oncall(h, "payments")
    assert service.startswith("On call for service payments (escalation policy payments)")
    assert "*payments-primary* (team payments): Eli Network (eli@example.com) is on call until " in service
    assert f"until {utc_words(NOW + 2 * H)} (" in service and "Europe/London" in service
    assert "; next: ana@example.com" in service
    assert "checkout-primary" not in service and "dba" not in service  # only what the policy pages

    team = await oncall(h, "Checkout")
    assert team.startswith("On call for team checkout")
    # a gap between ben and chen: said, with when chen takes over, in UTC and New York time
    line = next(x for x in team.splitlines() if "checkout-primary" in x)
    assert f"ben@example.com is on call until {utc_words(NOW + 3 * H)}" in line and "then nobody until" in line
    assert f"{utc_words(NOW + 4 * H)} (" in line and "America/New_York" in line and "next: chen@example.com" in line

    schedule = await oncall(h, "dba")
    assert "*dba* (team databases): chen@example.com is on call until " + utc_words(NOW + 10 * H) in schedule
    assert f"until {utc_words(NOW + 10 * H)}, in " in schedule  # a UTC schedule: one clock, not two

    everything = await oncall(h, "")
    assert everything.startswith("On call for every schedule")
    assert all(f"*{name}*" in everything for name in ("payments-primary", "checkout-primary", "dba"))
    declare_channel = await oncall(h, "", channel="C0PAYOPS")
    assert declare_channel.startswith("On call for service payments") and "dba" not in declare_channel

    # a war room of a service that pages no schedule: said, then every schedule
    _, room, _ = await open_room(h)
    in_room = await oncall(h, "", channel=room)
    assert in_room.startswith("checkout-api pages no on-call schedule") and "*dba*" in in_room

    unknown = await oncall(h, "paymnts")
    assert "There is no service, team or schedule called 'paymnts'. Did you mean payments?" in unknown
    assert "Schedules: payments-primary, checkout-primary, dba." in unknown and "Teams: checkout, databases, payments." in unknown


@pytest.mark.one_db("help text and refusals: no writes")
async def test_help_and_mistakes(harness: Harness) -> None:
    h = harness
    helped = await oncall(h, "help")
    assert "`/oncall override [schedule] @person|me until <when>`" in helped and "oncall-admins" in helped
    assert "Schedules: payments-primary, checkout-primary, dba." in helped
    assert "Say who covers and until when." in await oncall(h, "override", user="U0ELI")
    assert "is not an override number" in await oncall(h, "override remove twelve")
    assert "There is no schedule 'paymnts'" in await oncall(h, "override paymnts @dana until 09:00")
    vague = await oncall(h, "override payments-primary me sometime", user="U0ELI")
    assert "I could not tell when the override starts and ends in 'sometime'" in vague
    # with several schedules and nothing to choose by, the person is asked which
    assert "Say which schedule" in await oncall(h, "override me for 1h", user="U0DANA")


# ---------------------------------------------------------------------------------------------- overrides


async def test_an_override_from_chat_changes_the_answer_and_the_feed(harness: Harness) -> None:
    h = harness
    before = await oncall(h, "payments-primary")
    path = feed_path(before)
    assert path.startswith("/oncall/calendars/schedule/payments-primary.ics?sig=")
    feed = await h.http.get(path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert [summary for summary, _, _ in events(feed.content)] == ["ana@example.com on call", "eli@example.com on call"]

    # eli is on the schedule: dana covers the next hour (the schedule's zone: Europe/London)
    answer = await oncall(h, "override payments-primary <@U0DANA|dana> for 1h", user="U0ELI")
    assert answer.startswith("Override #1 on *payments-primary*: dana@example.com is on call from ")
    assert "Europe/London" in answer
    assert "Now: *payments-primary* (team payments): dana@example.com is on call until" in answer
    assert "next: Eli Network (eli@example.com)" in answer
    assert "`/oncall override remove 1`" in answer
    async with h.runtime.store.read() as tx:
        (row,) = await tx.overrides.current("payments-primary")
    assert (row.email, row.created_by) == ("dana@example.com", "slack:U0ELI")
    assert row.ends_at - row.starts_at == timedelta(hours=1)

    after = await oncall(h, "payments")
    assert "dana@example.com is on call until" in after and "next: Eli Network" in after
    summaries = [summary for summary, _, _ in events((await h.http.get(path)).content)]
    assert "dana@example.com on call (override)" in summaries

    # an overlapping override: allowed, the later wins
    second = await oncall(h, "override payments-primary me for 30m", user="U0ANA")
    assert second.startswith("Override #2") and "It overlaps #1 (dana@example.com)" in second
    assert "ana@example.com is on call until" in second.split("Now:", 1)[1]
    listed = await oncall(h, "overrides")
    assert "#1 *payments-primary*: dana@example.com from" in listed and "asked by eli" in listed
    assert "#2 *payments-primary*: ana@example.com" in listed
    assert "Override #2 on *payments-primary* (ana@example.com from" in await oncall(h, "override remove 2", user="U0ANA")
    assert "dana@example.com is on call until" in await oncall(h, "payments-primary")
    assert "#2" not in await oncall(h, "overrides payments-primary")
    assert "There is no current override #2" in await oncall(h, "override remove 2", user="U0ANA")


async def test_who_may_override_is_said_plainly(any_mode: Harness) -> None:
    h = any_mode
    refused = await oncall(h, "override payments-primary me for 1h", user="U0FAY")
    assert refused == (
        "Only the people on payments-primary (eli@example.com, ana@example.com) or the oncall-admins group may "
        "override payments-primary; you (fay@contractor.example) are not on it. Ask one of them."
    )
    async with h.runtime.store.read() as tx:
        assert await tx.overrides.current() == []
    # dana is in oncall-admins: she may, on any schedule, and take back what others asked for
    made = await oncall(h, "override checkout-primary <@U0FAY|fay> for 2h", user="U0DANA")
    assert made.startswith("Override #1 on *checkout-primary*: fay@contractor.example is on call from")
    assert "America/New_York" in made
    assert "Only the people on checkout-primary" in await oncall(h, "override remove 1", user="U0ELI")
    assert "taken back" in await oncall(h, "override remove 1", user="U0BEN")  # ben is on checkout-primary


# ---------------------------------------------------------------------------------------------- hostile text


@pytest.mark.one_db("escaping of replies: no concurrency, no dialect-specific SQL")
async def test_hostile_text_is_answered_inert(harness: Harness) -> None:
    h = harness
    hostile = "<!channel> <https://evil.example/login|https://grafana.example/d/1> <!subteam^S0EVIL|@oncall>"
    answers = [
        await oncall(h, hostile),
        await oncall(h, f"override {hostile} until tomorrow 09:00", user="U0ELI"),
        await oncall(h, f"override payments-primary me until {hostile}", user="U0ELI"),
        await oncall(h, f"override payments-primary {hostile}", user="U0ELI"),
        await oncall(h, f"overrides {hostile}"),
        await oncall(h, f"help {hostile}"),
    ]
    for answer in answers:
        assert answer and not SLACK_BROADCAST.search(answer), answer
        for url, label in SLACK_LINK.findall(answer):
            assert url.startswith(h.settings.server.public_url) and label == "calendar feed", answer
    async with h.runtime.store.read() as tx:
        assert await tx.overrides.current() == []


# ---------------------------------------------------------------------------------------------- the feeds


@pytest.mark.one_db("signed links and iCalendar rendering: read-only")
async def test_calendar_feeds_are_signed(harness: Harness) -> None:
    h = harness
    path = feed_path(await oncall(h, "payments-primary"))
    good = path.split("sig=", 1)[1]
    base = path.split("?", 1)[0]
    for refused in (base, f"{base}?sig=", f"{base}?sig={good[:-1]}{'0' if good[-1] != '0' else '1'}",
                    f"/oncall/calendars/schedule/dba.ics?sig={good}"):
        response = await h.http.get(refused)
        assert response.status_code == 403, refused
        assert "This calendar link is not valid" in response.text
    from warroom.response.oncall import feeds

    gone = feeds.url(h.settings, "schedule", "retired-rota")
    assert gone is not None
    response = await h.http.get(gone)
    assert response.status_code == 404 and "There is no such on-call schedule" in response.text

    person = feeds.url(h.settings, "person", "Chen@Example.com")
    assert person is not None and "/person/chen@example.com.ics?sig=" in person
    response = await h.http.get(person)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    found = events(response.content)
    assert [summary for summary, _, _ in found] == ["On call: checkout-primary", "On call: dba"]
    assert (await h.http.get(person.replace("chen@", "chan@"))).status_code == 403


# ---------------------------------------------------------------------------------------------- Teams


@pytest.mark.one_db(
    "the Teams front end of the same commands; on-call writes keep PostgreSQL in the override test",
)
async def test_oncall_from_teams(db_url: str) -> None:
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False
    tweak = teams.tweak()

    def both(data: dict[str, Any]) -> None:
        tweak(data)
        oncall_config()(data)

    h = await Harness.start(db_url, world=world, tweak=both)
    teams.client.bot_url = f"{h.base_url}/api/messages"
    try:
        eli, chen = teams.person("eli@example.com"), teams.person("chen@example.com")
        c = teams.client
        chat = teams.personal(eli)
        sent = await c.say(chat, eli, "oncall payments", to_bot=False)
        assert sent.status in (200, 202)
        (answer,) = teams.replies_to(chat, sent)
        assert answer.startswith("On call for service payments")
        assert "Eli Network (eli@example.com) is on call until" in answer and "[calendar feed](http" in answer

        ops = teams.channel("ops")
        made = await c.say(ops, eli, "oncall override payments-primary ", c.mention(chen), " for 2h")
        (answer,) = teams.replies_to(ops, made)
        assert answer.startswith("Override #1 on *payments-primary*: chen@example.com is on call from"), answer
        async with h.runtime.store.read() as tx:
            (row,) = await tx.overrides.current("payments-primary")
        assert row.email == "chen@example.com" and row.created_by == f"teams:{eli.id}"
        now = await c.say(ops, chen, "oncall payments-primary")
        assert "chen@example.com is on call until" in teams.replies_to(ops, now)[0]

        refused = await c.say(ops, chen, "oncall override payments-primary me for 1h")
        assert teams.replies_to(ops, refused)[0].startswith("Only the people on payments-primary")
        hostile = await c.say(ops, chen, "oncall <at>everyone</at> [x](https://evil.example/)")
        assert "There is no service, team or schedule called" in teams.replies_to(ops, hostile)[0]
        raw = str(teams.bot_messages(ops)[-1].activity["text"])  # as sent: the word joiners keep tags and links apart
        assert "<at>" not in raw and "](https://evil" not in raw and "everyone" in raw
        helped = await c.say(ops, chen, "oncall help")
        assert "`@warroom oncall override [schedule] @person|me until <when>`" in teams.replies_to(ops, helped)[0]
    finally:
        await teams.stop()
        await h.stop()



async def test_every_schedule_is_capped_with_how_many_more(sqlite_url: str) -> None:
    def many(data: dict[str, Any]) -> None:
        data["oncall"] = {"schedules": [
            {"name": f"rota-{n:02d}", "layers": [{"name": "all", "shifts": [shift("ana@example.com", -H, H)]}]}
            for n in range(13)
        ]}

    h = await Harness.start(sqlite_url, tweak=many)
    try:
        answer = await oncall(h, "")
        assert answer.count("\n• ") == 10 and "*rota-09*" in answer and "rota-10" not in answer
        assert answer.endswith("…and 3 more: `/oncall <schedule>` shows one, `/oncall <team>` a team's.")
        assert "*rota-12*: ana@example.com is on call until" in await oncall(h, "ROTA-12")
    finally:
        await h.stop()
