"""The chat method over several chats: the page goes to each chat that has the person; it fails for good only when
none has them, and a chat's failure after another took the page is not retried (that would page twice)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warroom.adapters.errors import Permanent, Transient
from warroom.core.model import Incident, Origin, Status, Urgency
from warroom.response.oncall.messages import Page
from warroom.response.oncall.senders import EveryChat

NOW = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
PAGE = Page(id=7, incident=Incident(id=4, title="DB down", status=Status.TRIGGERED, priority="P1",
                                    urgency=Urgency.HIGH, service="db", details="", assignee=None,
                                    origin=Origin.ALERT, created_at=NOW, updated_at=NOW),
            email="ana@example.com", name="Ana", method="chat", address="ana@example.com")


class Fake:
    def __init__(self, answer: str | Exception, found: str | None = None) -> None:
        self.answer, self.found, self.sent = answer, found, 0

    async def send(self, page: Page) -> str | None:
        self.sent += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def find(self, page: Page, since: datetime) -> str | None:
        return self.found


async def test_the_page_reaches_every_chat_that_has_the_person() -> None:
    slack, teams = Fake("1700.1"), Fake("1699")
    assert await EveryChat({"slack": slack, "teams": teams}).send(PAGE) == "slack:1700.1 teams:1699"
    assert slack.sent == teams.sent == 1


async def test_a_chat_without_the_person_is_left_out_and_none_is_a_permanent_failure() -> None:
    both = EveryChat({"slack": Fake("1.2"), "teams": Fake(Permanent("Teams", "nobody in Teams has ana"))})
    assert await both.send(PAGE) == "slack:1.2"
    neither = EveryChat({"slack": Fake(Permanent("slack", "nobody in Slack")),
                         "teams": Fake(Permanent("Teams", "nobody in Teams"))})
    with pytest.raises(Permanent) as failed:
        await neither.send(PAGE)
    assert failed.value.reason == "slack: nobody in Slack; teams: nobody in Teams"


async def test_a_transient_failure_retries_only_when_no_chat_took_the_page() -> None:
    partly = EveryChat({"slack": Fake("1.2"), "teams": Fake(Transient("Teams", "503"))})
    assert await partly.send(PAGE) == "slack:1.2"  # a retry would DM ana twice in Slack
    nowhere = EveryChat({"slack": Fake(Permanent("slack", "nobody")), "teams": Fake(Transient("Teams", "503"))})
    with pytest.raises(Transient):
        await nowhere.send(PAGE)


async def test_find_asks_each_chat() -> None:
    chats = EveryChat({"slack": Fake("x", found=None), "teams": Fake("y", found="1699")})
    assert await chats.find(PAGE, NOW) == "teams:1699"
    assert await EveryChat({"slack": Fake("x")}).find(PAGE, NOW) is None
