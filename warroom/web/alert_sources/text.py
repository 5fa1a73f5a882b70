"""Untrusted text from alert bodies: removing control characters, bidirectional overrides and unpaired surrogates,
shortening visibly at a word boundary, and quoting values and naming kinds and key paths in reason sentences.
"""

from __future__ import annotations

import json
import re

_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_DROP_ALL: dict[int, None] = {
    cp: None for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000), *_BIDI]
}
_DROP_KEEP_LINES: dict[int, None] = {cp: None for cp in _DROP_ALL if cp not in (0x09, 0x0A)}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _clean(text: str, *, multiline: bool = False) -> str:
    """Remove control characters, bidirectional overrides and unpaired surrogates."""
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.translate(_DROP_KEEP_LINES)
    return text.translate(_DROP_ALL)


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _quote(text: str, limit: int = 40) -> str:
    """An untrusted string made safe and short for a reason sentence."""
    short = text if len(text) <= limit else text[:limit] + "…"
    return json.dumps(short, ensure_ascii=True)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - json.loads makes nothing else


def _key_path(base: str, key: str) -> str:
    """``labels.team``, or ``labels["odd key"]`` (escaped, shortened) for keys that are not short identifiers."""
    return f"{base}.{key}" if len(key) <= 40 and _IDENT.fullmatch(key) else f"{base}[{_quote(key)}]"
