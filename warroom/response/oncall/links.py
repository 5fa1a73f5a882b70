"""The acknowledge link in a page email: ``{server.public_url}/oncall/ack?t=<notification>.<expires>.<signature>``.

Signed as every capability link is (:mod:`warroom.response.signed_links`: an HMAC under the server's link key) over
the notification id and the expiry: a link names one page, expires after ``oncall.ack_link_minutes``, and works
once (the notification's ``used_at``, set by the acknowledgement).
"""

from __future__ import annotations

from datetime import datetime

from warroom.response import signed_links
from warroom.settings import Settings

INVALID = "This acknowledge link is not valid."


def _subject(notification_id: int, expires: int) -> str:
    return f"oncall-ack:{int(notification_id)}:{int(expires)}"


def ack_url(settings: Settings, notification_id: int, now: datetime) -> str | None:
    """The page's acknowledge link; None when no secret is configured to sign links with."""
    expires = int(now.timestamp()) + settings.oncall.ack_link_minutes * 60
    signature = signed_links.sign(settings, _subject(notification_id, expires))
    if signature is None:
        return None
    return f"{settings.server.public_url.rstrip('/')}/oncall/ack?t={int(notification_id)}.{expires}.{signature}"


def read_token(settings: Settings, token: str, now: datetime) -> tuple[int | None, str]:
    """(notification id, "") for a good token; (None, why not) for a forged, malformed or expired one."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 18 or len(parts[1]) > 12:
        return None, INVALID
    nid, expires = int(parts[0]), int(parts[1])
    if not signed_links.verify(settings, _subject(nid, expires), parts[2]):
        return None, INVALID
    if now.timestamp() > expires:
        return None, "This acknowledge link has expired: acknowledge in the war room instead."
    return nid, ""
