"""The postmortem's link: a capability URL, ``{server.public_url}/incidents/{id}/postmortem?token=…``.

The token is an HMAC-SHA256 of the incident id under a server secret (``server.link_secret``; unset: a key derived
from ``slack.signing_secret``, else from ``teams.app_password``), cut to 128 bits: whoever has the link (the war
room, the card, the ITSM request) can read that incident's draft, and nobody can make a link for another
incident. Changing the secret revokes every link handed out.
"""

from __future__ import annotations

import hashlib
import hmac

from warroom.settings import Settings

_LABEL = b"warroom capability links v1"


def _key(settings: Settings) -> bytes | None:
    if settings.server.link_secret is not None:
        return settings.server.link_secret.get_secret_value().encode()
    for secret in (settings.slack.signing_secret, settings.teams.app_password):
        if secret is not None and secret.get_secret_value():
            return hmac.new(secret.get_secret_value().encode(), _LABEL, hashlib.sha256).digest()
    return None


def token(settings: Settings, incident_id: int) -> str | None:
    """The incident's postmortem token; None when no secret is configured to sign links with."""
    key = _key(settings)
    if key is None:
        return None
    return hmac.new(key, f"postmortem:{int(incident_id)}".encode(), hashlib.sha256).hexdigest()[:32]


def token_ok(settings: Settings, incident_id: int, given: str) -> bool:
    wanted = token(settings, incident_id)
    return wanted is not None and hmac.compare_digest(
        wanted.encode(), given.strip().encode("utf-8", "replace")
    )


def url(settings: Settings, incident_id: int) -> str | None:
    """The postmortem's capability URL; None when links cannot be signed."""
    got = token(settings, incident_id)
    if got is None:
        return None
    return f"{settings.server.public_url.rstrip('/')}/incidents/{int(incident_id)}/postmortem?token={got}"
