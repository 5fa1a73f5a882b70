"""The senders of page notifications by email (SMTP) and by SMS and phone call (Twilio); chat pages are sent by
each chat front end (given by the composition root), and by :class:`EveryChat` over them when several chats are
on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from warroom.adapters.errors import Permanent, Transient
from warroom.adapters.smtp import Mailer
from warroom.response.oncall import messages
from warroom.response.oncall.messages import Page

if TYPE_CHECKING:
    from warroom.response.oncall.notify import Sender

log = logging.getLogger("warroom.oncall")


class TwilioApi(Protocol):
    async def send_sms(self, *, to: str, body: str, status_callback: str | None = None) -> str: ...
    async def find_sms(self, *, to: str, body_contains: str, sent_after: datetime) -> str | None: ...
    async def call(self, *, to: str, twiml_url: str, status_callback: str | None = None) -> str: ...
    async def find_call(self, *, to: str, sent_after: datetime) -> Sequence[str]: ...


class EmailSender:
    def __init__(self, mailer: Mailer, public_url: str) -> None:
        self.mailer = mailer
        self.host = urlsplit(public_url).hostname or "warroom.invalid"

    async def send(self, page: Page) -> str | None:
        message_id = f"<page-{page.id}@{self.host}>"
        await self.mailer.send(to=page.address, subject=messages.email_subject(page), text=messages.email_text(page),
                               html=messages.email_html(page), message_id=message_id)
        return message_id

    async def find(self, page: Page, since: datetime) -> str | None:
        return None  # SMTP keeps no record to ask: a page cut off mid-send may go twice (same Message-ID)


class SmsSender:
    def __init__(self, twilio: TwilioApi) -> None:
        self.twilio = twilio

    async def send(self, page: Page) -> str | None:
        return await self.twilio.send_sms(to=page.address, body=messages.sms_text(page),
                                          status_callback=page.status_url)

    async def find(self, page: Page, since: datetime) -> str | None:
        return await self.twilio.find_sms(to=page.address, body_contains=page.marker, sent_after=since)


class VoiceSender:
    def __init__(self, twilio: TwilioApi) -> None:
        self.twilio = twilio

    async def send(self, page: Page) -> str | None:
        assert page.voice_url is not None
        return await self.twilio.call(to=page.address, twiml_url=page.voice_url, status_callback=page.status_url)

    async def find(self, page: Page, since: datetime) -> str | None:
        # a call carries nothing of ours to find it by: any call to the number since the page was planned counts
        calls = await self.twilio.find_call(to=page.address, sent_after=since)
        return calls[0] if calls else None


class EveryChat:
    """The ``chat`` method when several chats are on (Slack and Teams): the page goes to each chat at once
    (``senders``: chat name → that chat's sender), and reaches the person in every one where they are found.

    - A chat that cannot reach the person (``Permanent``: not in that chat) is left out; ``Permanent`` only when
      no chat can — the person's next method goes then.
    - Once one chat has the page, a failure in another (transient or not) is logged, not raised: the outbox's
      retry would send the page again in the chat that had it (a chat message cannot be looked up), and the
      person is reached. Only when no chat has it does a transient failure make the whole send try again.
    - The provider id names each chat's message: ``slack:<ts> teams:<activity id>``.
    """

    def __init__(self, senders: Mapping[str, Sender]) -> None:
        self.senders = dict(senders)

    async def send(self, page: Page) -> str | None:
        names = list(self.senders)
        results = await asyncio.gather(*(self.senders[n].send(page) for n in names), return_exceptions=True)
        sent: list[str] = []
        refused: list[str] = []
        retry: BaseException | None = None
        other: BaseException | None = None
        for name, result in zip(names, results, strict=True):
            if isinstance(result, Permanent):
                refused.append(f"{name}: {result.reason}")
            elif isinstance(result, Transient):
                retry = retry or result
            elif isinstance(result, BaseException):
                other = other or result
            else:
                sent.append(f"{name}:{result or ''}")
        if sent:
            for name, result in zip(names, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, Permanent):
                    log.warning("page %d reached %s by chat but not in %s: %s", page.id, page.email, name,
                                result)
            return " ".join(sent)
        if retry is not None:
            raise retry
        if other is not None:
            raise other
        raise Permanent("chat", "; ".join(refused) or "no chat is configured")

    async def find(self, page: Page, since: datetime) -> str | None:
        found = [f"{name}:{pid}" for name, sender in self.senders.items()
                 if (pid := await sender.find(page, since)) is not None]
        return " ".join(found) or None
