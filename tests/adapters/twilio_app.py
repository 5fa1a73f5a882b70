"""A small application on loopback that Twilio (the emulator) calls: status callbacks, the page call's TwiML and
its <Gather> action, and inbound SMS — each request's X-Twilio-Signature checked with the adapter's
valid_signature, and kept for the tests to read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from aiohttp import web

from warroom.adapters.twilio import valid_signature
from warroom.sandbox.base import bound_port

PAGE = "Warroom page for INC-42, checkout error rate above 12 percent. Press 1 to acknowledge."


@dataclass
class Received:
    path: str
    url: str
    params: dict[str, str]
    valid: bool


@dataclass
class TwilioApp:
    auth_token: str
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def statuses(self, sid: str, key: str) -> list[str]:
        return [r.params[key] for r in self.on("/status") if sid in (r.params.get("MessageSid"), r.params.get("CallSid"))]

    async def _verified(self, request: web.Request) -> Received:
        form = await request.post()
        params = [(k, str(v)) for k, v in form.items()]
        url = str(request.url)
        valid = valid_signature(self.auth_token, url, params, request.headers.get("X-Twilio-Signature"))
        got = Received(path=request.path, url=url, params=dict(params), valid=valid)
        self.received.append(got)
        return got

    async def status(self, request: web.Request) -> web.Response:
        got = await self._verified(request)
        return web.Response(status=204 if got.valid else 403)

    async def voice(self, request: web.Request) -> web.Response:
        got = await self._verified(request)
        if not got.valid:
            return web.Response(status=403)
        return twiml(
            f'<Gather numDigits="1" action="/gather?page=42" method="POST" timeout="10"><Say>{escape(PAGE)}</Say>'
            "</Gather><Say>We did not hear from you. Goodbye.</Say><Hangup/>"
        )

    async def gather(self, request: web.Request) -> web.Response:
        got = await self._verified(request)
        if not got.valid:
            return web.Response(status=403)
        if got.params.get("Digits") == "1":
            self.acknowledged.append(got.params["CallSid"])
            return twiml("<Say>Acknowledged. Thank you.</Say><Hangup/>")
        return twiml("<Say>Sorry, that was not 1.</Say><Redirect>/voice</Redirect>")

    async def sms(self, request: web.Request) -> web.Response:
        got = await self._verified(request)
        if not got.valid:
            return web.Response(status=403, text="forged")
        words = got.params.get("Body", "").lower().split()
        if "ack" in words:
            self.acknowledged.append(got.params["MessageSid"])
            return twiml("<Message>Acknowledged INC-42. Thank you.</Message>")
        return twiml("")


def twiml(inner: str) -> web.Response:
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', content_type="text/xml"
    )


@asynccontextmanager
async def twilio_app(auth_token: str) -> AsyncIterator[TwilioApp]:
    app = TwilioApp(auth_token=auth_token)
    web_app = web.Application()
    web_app.router.add_post("/status", app.status)
    web_app.router.add_post("/voice", app.voice)
    web_app.router.add_post("/gather", app.gather)
    web_app.router.add_post("/sms", app.sms)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    app.base_url = f"http://127.0.0.1:{bound_port(site)}"
    try:
        yield app
    finally:
        await runner.cleanup()
