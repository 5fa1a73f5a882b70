"""Scheduled maintenance told to a status page's subscribers, end to end: an email subscriber confirmed through the
page's form and a webhook added with the real command line (a real aiohttp receiver on loopback) hear of a window
the command line adds — scheduled, then the reminder, the start and the end as the server's durable timers fire —
and of one cancelled (with no reminder after it), each once, mailed through the sandbox SMTP relay with the window
in UTC, escaped HTML and one-click unsubscribe headers, and POSTed signed as the update webhooks are. A scoped
subscriber whose group does not see the window's components hears nothing of it. Timers are made due by moving
their fire time to now, never by sleeping."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from warroom.response import statuspages as sp
from warroom.sandbox.harness import Harness
from warroom.sandbox.smtp import Received

from .test_status_maintenance import at, fire, replay, timer
from .test_status_subscribers import SAME_SITE, Receiver, cli, link_in, mails_to, start, subscribe, verify
from .test_status_subscribers import receiver as receiver  # the loopback receiver (a fixture)

TITLE = 'DB <script>alert(1)</script> @here upgrade\r\nBcc: evil@example.com'
SAID = "DB <script>alert(1)</script> @here upgrade Bcc: evil@example.com"  # one line: the title as it is kept
BODY = 'Checkout is <b>read-only</b> & "slow".\n@here expect retries.'


async def confirmed(h: Harness, address: str, path: str = "/status/shop/subscribe") -> None:
    assert (await subscribe(h, address, path)).status_code == 200
    [mail] = await mails_to(h, address, 1)
    assert (await h.http.post(link_in(mail, "confirm"), headers=SAME_SITE)).status_code == 200


async def posts(h: Harness, receiver: Receiver, count: int) -> list[tuple[dict[str, str], bytes, int]]:
    """The receiver's deliveries once all jobs ran: exactly ``count``."""
    await h.runtime.worker.run_until_idle()
    got = receiver.got.get("/ok", [])
    assert len(got) == count, [json.loads(body)["maintenance"]["notice"] for _, body, _ in got]
    return got


def window_line(row: dict[str, Any]) -> str:
    start, end = row["starts_at"].astimezone(UTC), row["ends_at"].astimezone(UTC)
    return f"{start:%Y-%m-%d %H:%M} – {end:%H:%M} UTC" if start.date() == end.date() else (
        f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC")


def check_mail(mail: Received, subject: str, row: dict[str, Any]) -> None:
    assert mail.subject == subject and "\r" not in mail.subject and "\n" not in mail.subject
    assert mail.header("Bcc") is None and "evil@example.com" not in (mail.header("To") or "")
    text, html = (mail.text or "").replace("\r\n", "\n"), mail.html or ""
    assert f"When: {window_line(row)}" in text and "Components: Checkout" in text and BODY in text
    assert "<script" not in html and "<b>" not in html
    assert "DB &lt;script&gt;alert(1)&lt;/script&gt; @here upgrade" in html
    assert "Checkout is &lt;b&gt;read-only&lt;/b&gt; &amp; &#34;slow&#34;." in html
    unsubscribe = link_in(mail, "unsubscribe")
    assert mail.header("List-Unsubscribe") == f"<{unsubscribe}>" and unsubscribe in html
    assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"


async def test_subscribers_hear_of_a_window_scheduled_reminded_started_completed_and_cancelled(
    db_url: str, receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = await start(db_url)
    try:
        run = cli(tmp_path, h, db_url, capsys)
        await confirmed(h, "reader@example.com")
        query = sp.link_query(h.settings, "partners", scope="acquirers")  # sees Card API only
        await confirmed(h, "acquirers@example.com", f"/status/partners/subscribe?{query}")
        code, out, err = await run("subscribe", "shop", "--webhook", f"{receiver.base}/ok", "--owner",
                                   "owner@example.com")
        assert code == 0, err
        secret = out.strip().splitlines()[-1]

        # added: a scheduled mail and a signed webhook delivery
        code, _, err = await run("maintenance", "add", "shop", "--title", TITLE, "--components", "Checkout",
                                 "--start", at(timedelta(hours=3)), "--end", at(timedelta(hours=5)), "--body", BODY)
        assert code == 0, err
        async with h.runtime.store.read() as tx:
            row = await tx.statuspages.maintenance(1)
        assert row is not None and row["title"] == SAID
        [_, scheduled] = await mails_to(h, "reader@example.com", 2)
        check_mail(scheduled, f"[Shop] Scheduled maintenance: {SAID}", row)
        assert "Maintenance is scheduled." in (scheduled.text or "")
        [(headers, body, _)] = await posts(h, receiver, 1)
        assert verify(secret, headers, body) and not verify("whsec_wrong", headers, body)
        payload = json.loads(body)
        assert payload["page"]["name"] == "shop" and "incident" not in payload and "update" not in payload
        assert payload["maintenance"] == {
            "id": 1, "title": SAID, "body": BODY, "status": "scheduled", "notice": "scheduled",
            "starts_at": row["starts_at"].astimezone(UTC).isoformat(),
            "ends_at": row["ends_at"].astimezone(UTC).isoformat(), "components": ["Checkout"]}
        assert {c["name"] for c in payload["components"]} == {"Checkout", "Search"}

        # the reminder, the start and the end: each a notice, once
        reminder = await timer(h, 1, "reminder")
        assert reminder is not None
        assert abs(reminder["fire_at"] - (row["starts_at"] - timedelta(minutes=60))) < timedelta(milliseconds=1)
        await fire(h, 1, "reminder")
        await replay(h, reminder["payload"])  # the reminder's job again: no second reminder
        await fire(h, 1, "start")
        await fire(h, 1, "end")
        mails = await mails_to(h, "reader@example.com", 5)
        assert [m.subject for m in mails[2:]] == [f"[Shop] Maintenance reminder: {SAID}",
                                                  f"[Shop] Maintenance in progress: {SAID}",
                                                  f"[Shop] Maintenance completed: {SAID}"]
        async with h.runtime.store.read() as tx:
            ended = await tx.statuspages.maintenance(1)
        assert ended is not None
        for mail in mails[2:]:
            check_mail(mail, mail.subject, ended)
        got = await posts(h, receiver, 4)
        assert [json.loads(b)["maintenance"]["notice"] for _, b, _ in got] == [
            "scheduled", "reminder", "started", "completed"]
        assert len({headers["Warroom-Delivery"] for headers, _, _ in got}) == 4
        assert all(verify(secret, headers, body) for headers, body, _ in got)
        assert json.loads(got[-1][1])["maintenance"]["status"] == "completed"

        # cancelled before it starts: told so; its reminder is gone, and one that fires late sends nothing
        code, _, err = await run("maintenance", "add", "shop", "--title", "Search reindex", "--components",
                                 "Search,Checkout", "--start", at(timedelta(hours=2)), "--end", at(timedelta(hours=3)))
        assert code == 0, err
        late = await timer(h, 2, "reminder")
        assert late is not None
        code, _, err = await run("maintenance", "cancel", "2")
        assert code == 0, err
        assert await timer(h, 2, "reminder") is None
        await replay(h, late["payload"])
        mails = await mails_to(h, "reader@example.com", 7)
        assert [m.subject for m in mails[5:]] == ["[Shop] Scheduled maintenance: Search reindex",
                                                  "[Shop] Maintenance cancelled: Search reindex"]
        assert "This maintenance was cancelled" in (mails[-1].text or "")
        got = await posts(h, receiver, 6)
        assert [json.loads(b)["maintenance"]["notice"] for _, b, _ in got[4:]] == ["scheduled", "cancelled"]
        assert json.loads(got[-1][1])["maintenance"]["status"] == "cancelled"
        assert len(h.world.smtp.to("reader@example.com")) == 7

        # a scoped subscriber hears only of windows touching its group's components
        code, _, err = await run("maintenance", "add", "partners", "--title", "Settlement batch move",
                                 "--components", "Settlement", "--start", at(timedelta(hours=2)), "--end",
                                 at(timedelta(hours=3)))
        assert code == 0, err
        code, _, err = await run("maintenance", "add", "partners", "--title", "Card API and ledger",
                                 "--components", "Card API,Settlement", "--start", at(timedelta(hours=2)), "--end",
                                 at(timedelta(hours=3)))
        assert code == 0, err
        [_, told] = await mails_to(h, "acquirers@example.com", 2)
        await h.runtime.worker.run_until_idle()
        assert len(h.world.smtp.to("acquirers@example.com")) == 2  # the confirmation, then the Card API window only
        assert told.subject == "[Partners] Scheduled maintenance: Card API and ledger"
        assert "Components: Card API" in (told.text or "") and "Settlement" not in (told.text or "")
        async with h.runtime.store.read() as tx:
            notices = [(d["maintenance_id"], d["notice"], d["state"]) for d in await tx.status_subscribers.deliveries()
                       if d["maintenance_id"] in (3, 4)]
        assert notices == [(4, "scheduled", "sent")]
    finally:
        await h.stop()
