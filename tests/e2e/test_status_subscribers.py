"""Status page subscribers end to end, over real HTTP: the page's subscribe form → a confirmation email through the
sandbox SMTP relay → the confirm link (a GET shows a button, the POST confirms) → each published update by email,
its HTML escaped, with RFC 8058 one-click unsubscribe headers whose POST unsubscribes. Unconfirmed addresses get
nothing; bad addresses and cross-site posts are refused; private and scoped pages take subscribers only through
their signed links, and a scoped subscriber gets only its group's updates. Webhooks are added with the real command
line, delivered to a real aiohttp receiver on loopback, HMAC-signed with the printed secret, retried through
failures and delivered once; a receiver that keeps failing, or answers 410, is disabled and its owner mailed once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web
from sqlalchemy import update as sql_update

from warroom.cli import main
from warroom.response import statuspages as sp
from warroom.response.statuspages import subscribers as subs
from warroom.sandbox.base import bound_port
from warroom.sandbox.harness import Harness
from warroom.sandbox.smtp import Received
from warroom.store.schema import status_subscribers

from .helpers import critical_alert

HOSTILE = '<script>alert("x")</script> Checkout is <b>slow</b> & retrying'
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


def pages(data: dict[str, Any]) -> None:
    """Page ``shop`` (public: checkout-api is Checkout), ``ops`` (private) and ``partners`` (scoped: payments is its
    Settlement, which only the finance group sees); webhooks on loopback over http allowed."""
    data["status_pages"] = [
        {"name": "shop", "title": "Shop", "components": [{"name": "Checkout"}, {"name": "Search"}]},
        {"name": "ops", "title": "Operations", "visibility": "private", "components": [{"name": "Checkout"}]},
        {"name": "partners", "title": "Partners", "visibility": "scoped",
         "components": [{"name": "Card API"}, {"name": "Settlement"}],
         "scopes": {"acquirers": ["Card API"], "finance": ["Card API", "Settlement"]}},
    ]
    services = {s["name"]: s for s in data["services"]}
    services["checkout-api"]["status"] = {"page": "shop", "components": ["Checkout"]}
    services["payments"]["status"] = {"page": "partners", "components": ["Settlement"]}
    data["status_subscribers"] = {"allow_http_loopback": True}


async def start(db_url: str) -> Harness:
    return await Harness.start(db_url, tweak=pages)


async def declare(h: Harness, service: str = "checkout-api") -> int:
    reply = await h.post_alerts(critical_alert(name=f"Down{service.replace('-', '')}", service=service))
    assert reply.status_code == 202, reply.text
    return int(reply.json()["incidents"][0])


async def publish(h: Harness, incident: int, page: str, status: str, body: str) -> int:
    async with h.runtime.store.tx() as tx:
        return await sp.publish_update(tx, incident, page, status, body, "ana@example.com", settings=h.settings)


async def mails_to(h: Harness, address: str, count: int, timeout: float = 15.0) -> list[Received]:
    """Wait until ``address`` has ``count`` emails; return them."""
    deadline = time.monotonic() + timeout
    while len(h.world.smtp.to(address)) < count:
        assert time.monotonic() < deadline, f"{address} has {len(h.world.smtp.to(address))} emails, not {count}"
        await asyncio.sleep(0.02)
    return h.world.smtp.to(address)


async def subscribe(h: Harness, address: str, path: str = "/status/shop/subscribe",
                    headers: dict[str, str] | None = None) -> httpx.Response:
    return await h.http.post(path, data={"email": address}, headers=SAME_SITE if headers is None else headers)


def link_in(mail: Received, action: str) -> str:
    found = re.search(rf"https?://\S+/{action}\?token=[\w-]+", mail.text or "")
    assert found, mail.text
    return found.group(0)


async def subscriber(h: Harness, address: str) -> dict[str, Any] | None:
    async with h.runtime.store.read() as tx:
        return next((r for r in await tx.status_subscribers.of_page() if r["address"] == address), None)


@pytest.mark.one_db(
    "signed links and the email's content; delivery once keeps PostgreSQL in the webhook test",
)
async def test_email_subscribe_confirm_deliver_and_one_click_unsubscribe(db_url: str) -> None:
    h = await start(db_url)
    try:
        page = (await h.http.get("/status/shop")).text
        assert 'action="/status/shop/subscribe"' in page and '<label for="subscribe-email"' in page
        assert "form-action 'self'" in (await h.http.get("/status/shop")).headers["Content-Security-Policy"]
        incident = await declare(h)

        reply = await subscribe(h, " Reader@Example.com ")
        assert reply.status_code == 200 and "Check your inbox" in reply.text, reply.text
        assert "form-action 'self'" in reply.headers["Content-Security-Policy"]
        [confirm_mail] = await mails_to(h, "reader@example.com", 1)
        assert "Confirm" in confirm_mail.subject and "Shop" in confirm_mail.subject

        # unconfirmed: the update is not sent; asking again within the hour mails nothing and answers the same
        await publish(h, incident, "shop", "investigating", "Looking into it.")
        again = await subscribe(h, " Reader@Example.com ")
        assert again.status_code == 200 and again.text == reply.text
        await h.runtime.worker.run_until_idle()
        assert len(h.world.smtp.to("reader@example.com")) == 1

        # the link's GET only shows a button (mail scanners open links); its POST confirms
        confirm = link_in(confirm_mail, "confirm")
        shown = await h.http.get(confirm)
        assert shown.status_code == 200 and "Confirm subscription</button>" in shown.text
        found = await subscriber(h, "reader@example.com")
        assert found is not None and found["confirmed_at"] is None
        done = await h.http.post(confirm, headers=SAME_SITE)
        assert done.status_code == 200 and "You are subscribed" in done.text
        found = await subscriber(h, "reader@example.com")
        assert found is not None and found["confirmed_at"] is not None
        assert (await subscribe(h, " Reader@Example.com ")).text == reply.text  # subscribed already: told nothing new

        await publish(h, incident, "shop", "identified", HOSTILE)
        mails = await mails_to(h, "reader@example.com", 2)
        await h.runtime.worker.run_until_idle()
        assert len(h.world.smtp.to("reader@example.com")) == 2  # the confirmation, then this update only
        update = mails[-1]
        assert update.subject == "[Shop] Identified: Issue affecting Checkout"
        assert HOSTILE in (update.text or "")
        html = update.html or ""
        assert "<script" not in html and "<b>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Checkout is &lt;b&gt;slow&lt;/b&gt; &amp; retrying" in html
        unsubscribe = link_in(update, "unsubscribe")
        assert update.header("List-Unsubscribe") == f"<{unsubscribe}>"
        assert update.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert unsubscribe in html
        async with h.runtime.store.read() as tx:
            deliveries = await tx.status_subscribers.deliveries()
        assert [d["state"] for d in deliveries] == ["sent"]

        # the GET shows a button and changes nothing; the mail program's one-click POST (no Origin) unsubscribes
        shown = await h.http.get(unsubscribe)
        assert shown.status_code == 200 and "Unsubscribe</button>" in shown.text
        assert await subscriber(h, "reader@example.com") is not None
        gone = await h.http.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert gone.status_code == 200 and "You are unsubscribed" in gone.text
        assert await subscriber(h, "reader@example.com") is None
        await publish(h, incident, "shop", "resolved", "Fixed.")
        await h.runtime.worker.run_until_idle()
        assert len(h.world.smtp.to("reader@example.com")) == 2
        assert (await h.http.post(unsubscribe)).status_code == 200  # again: still unsubscribed, no error
    finally:
        await h.stop()


async def test_bad_address_cross_site_post_and_signed_pages(sqlite_url: str) -> None:
    h = await start(sqlite_url)
    try:
        bad = await subscribe(h, "not an address")
        assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
        assert "That is not an email address: enter one address such as name@example.com." in bad.text
        assert 'value="not an address"' in bad.text and 'aria-invalid="true"' in bad.text
        hostile = await subscribe(h, '"><script>x</script>@example.com')
        assert hostile.status_code == 400 and "<script>x" not in hostile.text
        for headers in ({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                        {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "same-site"}):
            refused = await subscribe(h, "victim@example.com", headers=headers)
            assert refused.status_code == 403 and "another website" in refused.text
        assert (await subscribe(h, "fine@example.com", headers={"Origin": h.base_url})).status_code == 200
        [first] = await mails_to(h, "fine@example.com", 1)
        async with h.runtime.store.tx() as tx:  # mailed over an hour ago and still unconfirmed: mailed again
            await tx.conn.execute(sql_update(status_subscribers).values(created_at=tx.now - timedelta(hours=2)))
        assert (await subscribe(h, "fine@example.com")).status_code == 200
        [_, second] = await mails_to(h, "fine@example.com", 2)
        assert link_in(second, "confirm") == link_in(first, "confirm")
        assert (await h.http.post("/status/nope/subscribe", data={"email": "a@example.com"})).status_code == 404
        assert (await h.http.get("/status/shop/confirm?token=nope")).status_code == 404
        assert (await h.http.post("/status/shop/confirm?token=nope", headers=SAME_SITE)).status_code == 404
        await h.runtime.worker.run_until_idle()
        assert h.world.smtp.to("victim@example.com") == [] and await subscriber(h, "victim@example.com") is None

        # a private page: only through its signed link (the page's form carries it)
        assert (await subscribe(h, "ops@example.com", "/status/ops/subscribe")).status_code == 403
        query = sp.link_query(h.settings, "ops")
        page = (await h.http.get(f"/status/ops?{query}")).text
        assert f'action="/status/ops/subscribe?{query.replace("&", "&amp;")}"' in page
        assert (await subscribe(h, "ops@example.com", f"/status/ops/subscribe?{query}")).status_code == 200

        # a scoped page: each group's link subscribes to what that group sees
        for group in ("acquirers", "finance"):
            query = sp.link_query(h.settings, "partners", scope=group)
            assert (await subscribe(h, f"{group}@example.com", f"/status/partners/subscribe?{query}")).status_code == 200
            [mail] = await mails_to(h, f"{group}@example.com", 1)
            assert (await h.http.post(link_in(mail, "confirm"), headers=SAME_SITE)).status_code == 200
        forged = sp.link_query(h.settings, "partners", scope="acquirers").replace("acquirers", "finance")  # type: ignore[union-attr]
        assert (await subscribe(h, "x@example.com", f"/status/partners/subscribe?{forged}")).status_code == 403
        incident = await declare(h, "payments")  # payments is Settlement: finance sees it, acquirers do not
        await publish(h, incident, "partners", "investigating", "Settlement files are late.")
        [_, update] = await mails_to(h, "finance@example.com", 2)
        assert update.subject == "[Partners] Investigating: Issue affecting Settlement"
        await h.runtime.worker.run_until_idle()
        assert len(h.world.smtp.to("acquirers@example.com")) == 1  # the confirmation only
        async with h.runtime.store.read() as tx:
            states = sorted(d["state"] for d in await tx.status_subscribers.deliveries())
        assert states == ["sent", "skipped"]
    finally:
        await h.stop()


# -- webhooks ---------------------------------------------------------------------------------------------------
@dataclass
class Receiver:
    """A webhook receiver on loopback: each path answers its scripted statuses in turn, then its last one."""

    script: dict[str, list[int]]
    got: dict[str, list[tuple[dict[str, str], bytes, int]]] = field(default_factory=dict)
    base: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        body = await request.read()
        seen = self.got.setdefault(path, [])
        statuses = self.script.get(path, [200])
        status = statuses[min(len(seen), len(statuses) - 1)]
        seen.append((dict(request.headers), body, status))
        return web.Response(status=status, text="ok" if status < 300 else "no")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver({"/flaky": [503, 503, 503, 200], "/down": [500], "/gone": [410], "/ok": [200]})
    app = web.Application()
    app.router.add_post("/{tail:.*}", r.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    r.base = f"http://127.0.0.1:{bound_port(site)}"
    yield r
    await runner.cleanup()


def cli(tmp_path: Path, h: Harness, db_url: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    """Run ``warroom …`` with a configuration of the harness's pages and database (in a thread: it runs its own
    event loop); returns (exit status, stdout, stderr)."""
    data: dict[str, Any] = {"services": [{"name": "checkout-api"}, {"name": "payments"}]}
    pages(data)
    data.update(database={"url": db_url, "auto_migrate": False}, slack={"enabled": False},
                server={"public_url": h.base_url})
    config = tmp_path / "cli.yaml"
    config.write_text(yaml.safe_dump(data))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--config", str(config), "statuspage", *args])
        out, err = capsys.readouterr()
        return code, out, err

    async def go(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run, *args)

    return go


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What the README tells receivers to do."""
    parts = dict(p.split("=", 1) for p in headers["Warroom-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


async def test_webhook_signed_retried_and_delivered_once(
    db_url: str, receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = await start(db_url)
    try:
        run = cli(tmp_path, h, db_url, capsys)
        code, out, err = await run("subscribe", "shop", "--webhook", f"{receiver.base}/flaky", "--owner",
                                   "owner@example.com")
        assert code == 0, err
        secret = out.strip().splitlines()[-1]
        assert secret.startswith("whsec_") and len(secret) > 30
        code, out, _ = await run("subscribers", "shop")
        assert code == 0 and f"{receiver.base}/flaky" in out and "owner@example.com" in out and secret not in out
        code, _, err = await run("subscribe", "shop", "--webhook", f"{receiver.base}/flaky", "--owner", "o@example.com")
        assert code == 1 and "subscribed to 'shop' already" in err

        incident = await declare(h)
        update_id = await publish(h, incident, "shop", "investigating", HOSTILE)
        deadline = time.monotonic() + 15
        while len(receiver.got.get("/flaky", [])) < 4:
            assert time.monotonic() < deadline, receiver.got
            await asyncio.sleep(0.02)
        await h.runtime.worker.run_until_idle()
        got = receiver.got["/flaky"]
        assert [status for _, _, status in got] == [503, 503, 503, 200]  # retried, then delivered once
        assert len({headers["Warroom-Delivery"] for headers, _, _ in got}) == 1
        for headers, body, _ in got:
            assert verify(secret, headers, body)
            assert not verify("whsec_wrong", headers, body)
            assert headers["Content-Type"] == "application/json"
        payload = json.loads(got[-1][1])
        assert payload["page"]["name"] == "shop"
        assert payload["incident"]["name"] == "Issue affecting Checkout" and payload["incident"]["status"] == "investigating"
        assert payload["update"]["status"] == "investigating" and payload["update"]["body"] == HOSTILE
        assert {c["name"] for c in payload["components"]} == {"Checkout", "Search"}
        async with h.runtime.store.read() as tx:
            [delivery] = await tx.status_subscribers.deliveries()
        assert delivery["state"] == "sent" and delivery["attempts"] == 4 and delivery["update_id"] == update_id

        code, out, _ = await run("unsubscribe", str(delivery["subscriber_id"]))
        assert code == 0 and "Removed" in out
        await publish(h, incident, "shop", "resolved", "Fixed.")
        await h.runtime.worker.run_until_idle()
        assert len(receiver.got["/flaky"]) == 4
        code, _, err = await run("unsubscribe", str(delivery["subscriber_id"]))
        assert code == 1 and "no subscriber" in err
    finally:
        await h.stop()


async def test_failing_webhooks_are_disabled_and_their_owners_told_once(
    sqlite_url: str, receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = await start(sqlite_url)
    try:
        run = cli(tmp_path, h, sqlite_url, capsys)
        for path, owner in (("/down", "down-owner@example.com"), ("/gone", "gone-owner@example.com")):
            code, _, err = await run("subscribe", "shop", "--webhook", f"{receiver.base}{path}", "--owner", owner)
            assert code == 0, err
        for url, said in (("http://hooks.example.com/x", "https://"), ("https://u:p@hooks.example.com/x", "credentials"),
                          ("ftp://hooks.example.com", "https://"), ("https://", "no host"),
                          # inside a private network, this machine, the cloud's metadata service: never a receiver
                          ("https://10.1.2.3/x", "private network"), ("https://169.254.169.254/latest", "private"),
                          ("https://[::ffff:192.168.0.9]/x", "private network"), ("https://[fd00::1]/x", "private"),
                          ("https://0.0.0.0/x", "private network"), ("https://api.localhost/x", "private")):
            code, _, err = await run("subscribe", "shop", "--webhook", url, "--owner", "o@example.com")
            assert code == 1 and said in err, err
        code, _, err = await run("subscribe", "partners", "--webhook", "https://hooks.example.com/x", "--owner",
                                 "o@example.com")
        assert code == 1 and "--scope" in err

        incident = await declare(h)
        await publish(h, incident, "shop", "investigating", "Looking into it.")
        await mails_to(h, "gone-owner@example.com", 1)
        await mails_to(h, "down-owner@example.com", 1)
        await h.runtime.worker.run_until_idle()
        assert [s for _, _, s in receiver.got["/gone"]] == [410]  # disabled at once
        assert [s for _, _, s in receiver.got["/down"]] == [500] * 6  # failed for good after 6 attempts
        [told] = h.world.smtp.to("down-owner@example.com")
        assert "Webhook disabled" in told.subject and f"{receiver.base}/down" in (told.text or "")

        await publish(h, incident, "shop", "resolved", "Fixed.")  # disabled: nothing more, owners told once
        await h.runtime.worker.run_until_idle()
        assert len(receiver.got["/down"]) == 6 and len(receiver.got["/gone"]) == 1
        assert len(h.world.smtp.to("down-owner@example.com")) == 1 and len(h.world.smtp.to("gone-owner@example.com")) == 1
        code, out, _ = await run("subscribers", "shop")
        assert out.count("disabled") == 2 and "410 Gone" in out
        async with h.runtime.store.read() as tx:
            states = [d["state"] for d in await tx.status_subscribers.deliveries()]
        assert sorted(states) == ["failed", "failed"]  # nothing made for the disabled ones
    finally:
        await h.stop()


def test_webhook_signature_is_over_the_raw_body() -> None:
    assert subs.sign("s", 1700000000, b'{"a":1}') == "t=1700000000,v1=" + hmac.new(
        b"s", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()


async def test_the_subscribe_form_is_rate_limited_per_client_and_sends_nothing_beyond(sqlite_url: str) -> None:
    """A client that sends more subscribe requests than its share in the window gets 429 with Retry-After and a
    sentence; no confirmation is mailed for the refused request."""

    def tight(data: dict[str, Any]) -> None:
        pages(data)
        data["status_subscribers"].update({"subscribe_per_client": 2, "subscribe_window_seconds": 600})

    h = await Harness.start(sqlite_url, tweak=tight)
    try:
        for n in range(2):
            assert (await subscribe(h, f"reader{n}@example.com")).status_code == 200
        refused = await subscribe(h, "reader9@example.com")
        assert refused.status_code == 429, refused.text
        assert "Too many subscription requests" in refused.text and re.search(r"Try again in \d+ minutes?\.",
                                                                              refused.text)
        assert 0 < int(refused.headers["Retry-After"]) <= 600  # when the first of the two leaves the window
        await mails_to(h, "reader1@example.com", 1)
        await h.runtime.worker.run_until_idle()
        assert h.world.smtp.to("reader9@example.com") == [] and await subscriber(h, "reader9@example.com") is None
    finally:
        await h.stop()
