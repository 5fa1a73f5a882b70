"""``GET /incidents/{id}/postmortem?token=…``: the incident's postmortem draft as Markdown.

The link is a capability URL (warroom.response.postmortem_link): its token is an HMAC of the incident id under a
server secret. It is posted in the war room, put on the incident card and added to the ITSM request as a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from warroom.response import postmortem_link

if TYPE_CHECKING:
    from .app import Runtime

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _say(status: int, text: str) -> web.Response:
    return web.Response(
        status=status, text=text + "\n", content_type="text/plain", charset="utf-8", headers=_HEADERS
    )


def mount(app: web.Application, rt: Runtime) -> None:
    async def postmortem(request: web.Request) -> web.Response:
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
        async with rt.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            draft = await tx.records.postmortem(incident_id)
        if incident is None:
            return _say(404, f"There is no incident INC-{incident_id}.")
        if draft is None:
            return _say(
                404,
                f"INC-{incident_id} has no postmortem draft yet: it is drafted when the incident "
                f"resolves, or run `/{rt.settings.slack.command} postmortem` in its war room.",
            )
        headers = {**_HEADERS, "Content-Disposition": f'inline; filename="INC-{incident_id}-postmortem.md"'}
        return web.Response(
            text=str(draft["markdown"]), content_type="text/markdown", charset="utf-8", headers=headers
        )

    app.router.add_get("/incidents/{incident}/postmortem", postmortem)
