"""On-call calendar feeds: ``GET /oncall/calendars/schedule/{name}.ics?sig=…`` (a schedule's final schedule) and
``GET /oncall/calendars/person/{email}.ics?sig=…`` (one person's shifts in every schedule), as iCalendar, chat
overrides included, from a week back to two months ahead (warroom.response.oncall.feeds).

Calendar apps subscribe with no headers of their own, so each URL carries its signature (a capability link signed
with ``server.link_secret``); ``warroom oncall calendar-url`` prints one and ``/oncall`` answers link the
schedule's. A missing or wrong signature is a 403, an unknown schedule a 404, each with a sentence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from warroom.response.oncall import feeds

if TYPE_CHECKING:
    from .app import Runtime

_HEADERS = {
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_MAX_KEY = 320


def _say(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain", charset="utf-8",
                        headers={**_HEADERS, "Cache-Control": "no-store"})


def _calendar(body: bytes, filename: str) -> web.Response:
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.@") else "_" for ch in filename)[:100]
    headers = {**_HEADERS, "Content-Disposition": f'inline; filename="{safe}.ics"'}
    return web.Response(body=body, content_type="text/calendar", charset="utf-8", headers=headers)


def mount(app: web.Application, rt: Runtime) -> None:
    settings = rt.settings

    def refused(request: web.Request, kind: feeds.Kind, key: str) -> web.Response | None:
        if len(key) > _MAX_KEY or not key.strip():
            return _say(404, "There is no such calendar: copy the feed's address from `/oncall` or "
                             "`warroom oncall calendar-url`.")
        if not feeds.signature_ok(settings, kind, key, request.query.get("sig", "")):
            return _say(403, "This calendar link is not valid (its signature is missing or wrong, or the server's "
                             "link secret changed): copy the feed's address again from `/oncall` or "
                             "`warroom oncall calendar-url`.")
        return None

    async def schedule(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if (refusal := refused(request, "schedule", name)) is not None:
            return refusal
        async with rt.store.read() as tx:
            body = await feeds.schedule_feed(tx, settings, name, datetime.now(UTC))
        if body is None:
            return _say(404, "There is no such on-call schedule any more: it was renamed or removed from "
                             "oncall.schedules.")
        return _calendar(body, f"{name}-oncall")

    async def person(request: web.Request) -> web.Response:
        email = request.match_info["email"]
        if (refusal := refused(request, "person", email)) is not None:
            return refusal
        async with rt.store.read() as tx:
            body = await feeds.person_feed(tx, settings, email, datetime.now(UTC))
        return _calendar(body, f"{email.lower()}-oncall")

    app.router.add_get(f"{feeds.PATH}/schedule/{{name}}.ics", schedule)
    app.router.add_get(f"{feeds.PATH}/person/{{email}}.ics", person)
