"""Capability links: URLs whose signature is what grants access, for readers that send no credentials of their own
(a browser opening the postmortem, a calendar app subscribing to an on-call feed).

A signature is an HMAC-SHA256 of what the link names (its *subject*: ``postmortem:12``,
``oncall-calendar:schedule:payments-primary``) under a server secret — ``server.link_secret``; unset, a key derived
from ``slack.signing_secret``, else from ``teams.app_password`` — cut to 128 bits. Whoever has a link can read what
it names and nothing else, and nobody can make a link for another subject. Changing the secret revokes every link
handed out. :mod:`warroom.response.postmortem_link` and the on-call calendar feeds sign with it.
"""

from __future__ import annotations

import hashlib
import hmac

from warroom.settings import Settings

_LABEL = b"warroom capability links v1"
#: Hex digits kept of the HMAC: 128 bits.
LENGTH = 32


def key(settings: Settings) -> bytes | None:
    """The key links are signed with; None when no secret is configured to derive one from."""
    if settings.server.link_secret is not None:
        return settings.server.link_secret.get_secret_value().encode()
    for secret in (settings.slack.signing_secret, settings.teams.app_password):
        if secret is not None and secret.get_secret_value():
            return hmac.new(secret.get_secret_value().encode(), _LABEL, hashlib.sha256).digest()
    return None


def sign(settings: Settings, subject: str) -> str | None:
    """The signature of ``subject`` (hex, :data:`LENGTH` digits); None when links cannot be signed."""
    secret = key(settings)
    if secret is None:
        return None
    return hmac.new(secret, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:LENGTH]


def verify(settings: Settings, subject: str, given: str) -> bool:
    """Whether ``given`` is ``subject``'s signature (compared in constant time)."""
    wanted = sign(settings, subject)
    return wanted is not None and hmac.compare_digest(wanted.encode(), given.strip().encode("utf-8", "replace"))
