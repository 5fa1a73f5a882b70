"""The on-call endpoints outside the chats: the acknowledge link of a page email, and Twilio's webhooks.

- ``GET /oncall/ack?t=…`` shows what the link acknowledges and a button; ``POST /oncall/ack`` acknowledges. The
  GET changes nothing: mail scanners (Outlook's Safe Links, Gmail's previews) open links before people do, and a
  single-use link opened by a robot would be spent. The token is signed, expires, and works once.
- ``POST /oncall/twilio/sms`` (the number's inbound-message webhook: "12 ack"), ``POST /oncall/twilio/voice?n=…``
  (the call's TwiML: "press 1 to acknowledge"), ``POST /oncall/twilio/voice/gather?n=…`` (the key pressed) and
  ``POST /oncall/twilio/status?n=…`` (delivery status callbacks). Each is refused (403) unless its
  ``X-Twilio-Signature`` is Twilio's signature of ``server.public_url`` + the path and query and the form
  parameters, under ``twilio.auth_token`` — checked before anything in the request is acted on. An SMS from a
  number no person has is answered with nothing and changes nothing.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web

from warroom.adapters.twilio import valid_signature
from warroom.core.model import Status
from warroom.response.oncall import links, messages
from warroom.response.oncall.ack import PageAcks
from warroom.response.oncall.notify import Notifier

from .body import BodyRefused, read_body

if TYPE_CHECKING:
    from .app import Runtime

log = logging.getLogger("warroom.web.oncall")

_MAX_FORM = 64 * 1024
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}
_FAILED_SMS = {"failed", "undelivered"}
_FAILED_CALL = {"busy", "no-answer", "failed", "canceled"}


def _page(status: int, title: str, body: str) -> web.Response:
    doc = (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
           f"<title>{html.escape(title)}</title><style>body{{font:16px system-ui,sans-serif;max-width:32rem;"
           f"margin:3rem auto;padding:0 1rem;color:#111}}button{{font:inherit;padding:.6rem 1.2rem;background:#b3261e;"
           f"color:#fff;border:0;border-radius:4px;cursor:pointer}}</style></head><body><main><h1>{html.escape(title)}"
           f"</h1>{body}</main></body></html>")
    return web.Response(status=status, text=doc, content_type="text/html", charset="utf-8", headers=_HEADERS)


def _twiml(xml: str) -> web.Response:
    return web.Response(text=xml, content_type="text/xml", charset="utf-8")


def mount(app: web.Application, rt: Runtime) -> None:
    settings = rt.settings
    acks = PageAcks(settings, rt.store)
    notifier = Notifier(settings, rt.store)

    async def ack_form(request: web.Request) -> web.Response:
        async with rt.store.read() as tx:
            now = tx.now
        token = request.query.get("t", "")
        nid, why = links.read_token(settings, token, now)
        if nid is None:
            return _page(403, "Link not valid", f"<p>{html.escape(why)}</p>")
        async with rt.store.read() as tx:
            row = await tx.notifications.get(nid)
            incident = await tx.incidents.get(int(row["incident_id"])) if row else None
        if row is None or incident is None:
            return _page(404, "Page not found", "<p>That page does not exist any more.</p>")
        if row["used_at"] is not None:
            return _page(410, "Link used", "<p>This acknowledge link was used already: it works once.</p>")
        page = notifier.page(row, incident, now)
        state = "" if incident.status is Status.TRIGGERED else f"<p>It is {incident.status.value} already.</p>"
        body = (f"<p>You are paged for <strong>{html.escape(page.headline)}</strong>.</p>{state}"
                f"<form method=post action='/oncall/ack'><input type=hidden name=t value='{html.escape(token, True)}'>"
                f"<button type=submit>Acknowledge {html.escape(incident.ref)}</button></form>")
        return _page(200, f"Acknowledge {incident.ref}", body)

    async def ack_post(request: web.Request) -> web.Response:
        try:
            form = dict(parse_qsl((await read_body(request, _MAX_FORM)).decode("utf-8", "replace")))
        except BodyRefused as exc:
            return _page(exc.status, "Not acknowledged", f"<p>{html.escape(exc.reason)}</p>")
        async with rt.store.read() as tx:
            now = tx.now
        nid, why = links.read_token(settings, form.get("t", ""), now)
        if nid is None:
            return _page(403, "Link not valid", f"<p>{html.escape(why)}</p>")
        done = await acks.by_notification(nid, via="email", single_use=True)
        return _page(200 if done.ok else 409, "Acknowledged" if done.ok else "Not acknowledged",
                     f"<p>{html.escape(done.text)}</p>")

    async def twilio_form(request: web.Request) -> dict[str, str] | web.Response:
        """The form Twilio posted, once its signature is checked; else the 403 to answer."""
        token = settings.twilio.auth_token
        try:
            body = await read_body(request, _MAX_FORM)
        except BodyRefused as exc:
            return exc.response()
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        url = settings.server.public_url.rstrip("/") + request.path_qs
        if token is None or not valid_signature(token.get_secret_value(), url, pairs,
                                                request.headers.get("X-Twilio-Signature")):
            log.warning("refused a Twilio request to %s: bad or missing X-Twilio-Signature", request.path)
            return web.json_response({"error": "The X-Twilio-Signature does not match: check twilio.auth_token "
                                               "and that server.public_url is the address Twilio calls."},
                                     status=403)
        return dict(pairs)

    def _nid(request: web.Request) -> int | None:
        raw = request.query.get("n", "")
        return int(raw) if raw.isdigit() and len(raw) < 19 else None

    async def sms(request: web.Request) -> web.Response:
        form = await twilio_form(request)
        if isinstance(form, web.Response):
            return form
        done = await acks.by_sms(form.get("From", ""), form.get("Body", ""))
        if done is None:
            log.info("ignored an SMS from a number no person has")
        return _twiml(messages.twiml_message(done.text if done is not None else None))

    async def voice(request: web.Request) -> web.Response:
        form = await twilio_form(request)
        if isinstance(form, web.Response):
            return form
        nid = _nid(request)
        async with rt.store.read() as tx:
            row = await tx.notifications.get(nid) if nid is not None else None
            incident = await tx.incidents.get(int(row["incident_id"])) if row else None
            now = tx.now
        if row is None or incident is None:
            return _twiml(messages.twiml_say("This page does not exist any more. Goodbye."))
        if incident.status is not Status.TRIGGERED:
            return _twiml(messages.twiml_say(f"Incident {incident.id} is {incident.status.value} already. Goodbye."))
        gather = f"{settings.server.public_url.rstrip('/')}/oncall/twilio/voice/gather?n={nid}"
        return _twiml(messages.twiml_page(notifier.page(row, incident, now), gather))

    async def gather(request: web.Request) -> web.Response:
        form = await twilio_form(request)
        if isinstance(form, web.Response):
            return form
        nid = _nid(request)
        if nid is None or form.get("Digits", "") != "1":
            return _twiml(messages.twiml_say("Not acknowledged. Goodbye."))
        done = await acks.by_notification(nid, via="voice")
        return _twiml(messages.twiml_say(done.text))

    async def status(request: web.Request) -> web.Response:
        form = await twilio_form(request)
        if isinstance(form, web.Response):
            return form
        nid = _nid(request)
        sms_status, call_status = form.get("MessageStatus", ""), form.get("CallStatus", "")
        changes = sms_status in _FAILED_SMS or call_status in _FAILED_CALL or sms_status == "delivered"
        if nid is not None and changes:  # queued, sent, ringing … change nothing: no write
            async with rt.store.tx() as tx:
                if sms_status in _FAILED_SMS or call_status in _FAILED_CALL:
                    code = form.get("ErrorCode", "")
                    what = sms_status or call_status
                    await notifier.fail(tx, nid, f"Twilio says {what}" + (f" (error {code})" if code else ""))
                elif sms_status == "delivered":
                    # "sending": the report can come before the send's own transaction has said "sent"
                    row = await tx.notifications.get(nid, lock=True)
                    if row is not None and row["state"] in ("sending", "sent"):
                        await tx.notifications.set(nid, state="delivered")
        return web.Response(status=204)

    app.router.add_get("/oncall/ack", ack_form)
    app.router.add_post("/oncall/ack", ack_post)
    app.router.add_post("/oncall/twilio/sms", sms)
    app.router.add_post("/oncall/twilio/voice", voice)
    app.router.add_post("/oncall/twilio/voice/gather", gather)
    app.router.add_post("/oncall/twilio/status", status)
