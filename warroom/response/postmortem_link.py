"""The postmortem's link: a capability URL, ``{server.public_url}/incidents/{id}/postmortem?token=…`` (the draft,
as Markdown); ``…/postmortem.html`` is the HTML export, ``…/postmortem/v{n}.md`` and ``…/v{n}.html`` a published
version. All carry the same token.

The token is the signature (:mod:`warroom.response.signed_links`) of ``postmortem:{id}``: whoever has the link (the
war room, the card, the ITSM request) can read that incident's draft, and nobody can make a link for another
incident. Changing the secret revokes every link handed out.
"""

from __future__ import annotations

from warroom.response import signed_links
from warroom.settings import Settings

#: The key links are signed with (kept under its old name; see signed_links.key).
_key = signed_links.key


def token(settings: Settings, incident_id: int) -> str | None:
    """The incident's postmortem token; None when no secret is configured to sign links with."""
    return signed_links.sign(settings, f"postmortem:{int(incident_id)}")


def token_ok(settings: Settings, incident_id: int, given: str) -> bool:
    return signed_links.verify(settings, f"postmortem:{int(incident_id)}", given)


def version_url(settings: Settings, incident_id: int, version: int, ext: str) -> str | None:
    """A published version's capability URL (``ext``: ``md`` or ``html``), signed as the draft's link is."""
    got = token(settings, incident_id)
    if got is None:
        return None
    base = settings.server.public_url.rstrip("/")
    return f"{base}/incidents/{int(incident_id)}/postmortem/v{int(version)}.{ext}?token={got}"


def html_url(settings: Settings, incident_id: int) -> str | None:
    """The HTML export's capability URL: the latest published version (the draft before there is one)."""
    got = token(settings, incident_id)
    if got is None:
        return None
    return f"{settings.server.public_url.rstrip('/')}/incidents/{int(incident_id)}/postmortem.html?token={got}"


def url(settings: Settings, incident_id: int) -> str | None:
    """The postmortem's capability URL; None when links cannot be signed."""
    got = token(settings, incident_id)
    if got is None:
        return None
    return f"{settings.server.public_url.rstrip('/')}/incidents/{int(incident_id)}/postmortem?token={got}"
