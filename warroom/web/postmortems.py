"""The postmortem's capability links (warroom.response.postmortem_link), each ``?token=…``:

- ``GET /incidents/{id}/postmortem``: the draft as it reads now, Markdown (its timeline with the review's edits);
- ``GET /incidents/{id}/postmortem.html``: the latest published version as a self-contained HTML file (the draft
  until one is published);
- ``GET /incidents/{id}/postmortem/v{n}.md`` and ``…/v{n}.html``: published version ``n``, which never changes.

The token is an HMAC of the incident id under a server secret. The links are posted in the war room, put on the
incident card and added to the ITSM request as an internal note. Any id, version or token is answered with a
sentence (403, 404), never a server error.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp import web

from warroom.response import postmortem_link
from warroom.response.postmortem import Postmortems, to_html

if TYPE_CHECKING:
    from .app import Runtime

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: The HTML export loads nothing from anywhere (its CSS is inline).
_HTML_HEADERS = {**_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                 "frame-ancestors 'none'"}
_VERSION = re.compile(r"v(\d{1,6})\.(md|html)")


def _say(status: int, text: str) -> web.Response:
    return web.Response(
        status=status, text=text + "\n", content_type="text/plain", charset="utf-8", headers=_HEADERS
    )


def _markdown(text: str, filename: str) -> web.Response:
    headers = {**_HEADERS, "Content-Disposition": f'inline; filename="{filename}"'}
    return web.Response(text=text, content_type="text/markdown", charset="utf-8", headers=headers)


def _html(text: str, filename: str) -> web.Response:
    headers = {**_HTML_HEADERS, "Content-Disposition": f'inline; filename="{filename}"'}
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=headers)


def mount(app: web.Application, rt: Runtime) -> None:
    def incident_of(request: web.Request) -> int | web.Response:
        """The incident the link names, once its token checks out; else the answer to give."""
        raw = request.match_info["incident"]
        number = raw.upper().removeprefix("INC-")
        if not number.isdigit() or len(number) > 12 or int(number) == 0:
            return _say(404, f"'{raw[:20]}' is not an incident number: open the link from the incident card.")
        incident_id = int(number)
        if not postmortem_link.token_ok(rt.settings, incident_id, request.query.get("token", "")):
            return _say(
                403,
                "This postmortem link is not valid: open it from the incident card, the war room or "
                "the ITSM request.",
            )
        return incident_id

    def no_draft(incident_id: int) -> web.Response:
        return _say(
            404,
            f"INC-{incident_id} has no postmortem draft yet: it is drafted when the incident "
            f"resolves, or run `/{rt.settings.slack.command} postmortem` in its war room.",
        )

    async def postmortem(request: web.Request) -> web.Response:
        incident_id = incident_of(request)
        if isinstance(incident_id, web.Response):
            return incident_id
        async with rt.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
        if incident is None:
            return _say(404, f"There is no incident INC-{incident_id}.")
        markdown = await Postmortems(rt.settings, rt.store).current(incident_id)
        if markdown is None:
            return no_draft(incident_id)
        return _markdown(markdown, f"INC-{incident_id}-postmortem.md")

    async def exported(request: web.Request) -> web.Response:
        incident_id = incident_of(request)
        if isinstance(incident_id, web.Response):
            return incident_id
        async with rt.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            published = await tx.postmortems.version(incident_id)
        if incident is None:
            return _say(404, f"There is no incident INC-{incident_id}.")
        if published is not None:
            number = int(published["version"])
            page = to_html(str(published["markdown"]), title=f"{incident.ref} postmortem v{number}: {incident.title}",
                           meta=f"Published version {number}, {published['published_at']:%Y-%m-%d %H:%M} UTC")
            return _html(page, f"INC-{incident_id}-postmortem-v{number}.html")
        markdown = await Postmortems(rt.settings, rt.store).current(incident_id)
        if markdown is None:
            return no_draft(incident_id)
        page = to_html(markdown, title=f"{incident.ref} postmortem draft: {incident.title}",
                       meta="Draft — not published yet")
        return _html(page, f"INC-{incident_id}-postmortem-draft.html")

    async def version(request: web.Request) -> web.Response:
        incident_id = incident_of(request)
        if isinstance(incident_id, web.Response):
            return incident_id
        raw = request.match_info["file"]
        m = _VERSION.fullmatch(raw)
        if m is None or int(m.group(1)) == 0:
            return _say(404, f"'{raw[:20]}' is not a published version: the links look like …/postmortem/v1.html.")
        number, ext = int(m.group(1)), m.group(2)
        async with rt.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            published = await tx.postmortems.version(incident_id, number)
        if incident is None:
            return _say(404, f"There is no incident INC-{incident_id}.")
        if published is None:
            return _say(404, f"The postmortem of INC-{incident_id} has no published version {number}.")
        if ext == "md":
            return _markdown(str(published["markdown"]), f"INC-{incident_id}-postmortem-v{number}.md")
        page = to_html(str(published["markdown"]), title=f"{incident.ref} postmortem v{number}: {incident.title}",
                       meta=f"Published version {number}, {published['published_at']:%Y-%m-%d %H:%M} UTC")
        return _html(page, f"INC-{incident_id}-postmortem-v{number}.html")

    app.router.add_get("/incidents/{incident}/postmortem", postmortem)
    app.router.add_get("/incidents/{incident}/postmortem.html", exported)
    app.router.add_get("/incidents/{incident}/postmortem/{file}", version)
