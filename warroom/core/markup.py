"""The war-room line format: how the response layer writes a line that every chat front end then renders.

A line is text in the small, safe subset of Slack's mrkdwn that both front ends understand: untrusted text escaped
(``&``, ``<``, ``>`` — which also defuses ``<!channel>``, ``<@U…>``, ``<!subteam^…>`` and ``<url|label>``), the
markup warroom itself writes (a mention of the person who acted, a link to the incident's own records) kept. The
Slack front end posts it as it is; the Teams front end turns it into Teams text (warroom.chat.teams.cards). Pure
code, no I/O.
"""

from __future__ import annotations

import re

_URL = re.compile(r"\bhttps?://(?:(?!&gt;|&lt;)[^\s<>\"'`|])+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def escape(text: str) -> str:
    """Untrusted text made inert: ``&``, ``<``, ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(match: re.Match[str]) -> str:
    url = match.group(0)
    kept = url.rstrip(_TRAILING)
    return f"<{kept}>{url[len(kept) :]}"


def with_links(text: str) -> str:
    """Neutralised plain text (the AI responder's, warroom.ai.safety) as a line: escaped, its surviving http(s)
    links — the incident's own — written as links so that they stay readable and clickable."""
    return _URL.sub(_link, escape(text))
