"""JSON from outside, decoded with bounds: UTF-8 only, nesting at most ``MAX_DEPTH`` deep (checked on the raw bytes
before the parser recurses), no NaN or Infinity. Every failure is a :class:`JsonRefused` whose reason is a sentence
that says what to send instead. Pure code, no I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any payload Slack, Teams, Xurrent, Alertmanager or Grafana send (they stay under 12).
MAX_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class JsonRefused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``limit`` (strings skipped, so brackets in text do not
    count). Linear in the body's size; a malformed body may be judged either way — the parser refuses it then."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group(0) in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _constant(name: str) -> Any:
    raise ValueError(name)


def loads(raw: bytes | str, what: str) -> Any:
    """The document in ``raw``; ``what`` names what the sender should send ("an Alertmanager webhook as JSON")."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"The body is not UTF-8 (bad byte at offset {exc.start}): send {what} as UTF-8.") from None
    else:
        text = raw
    if not text.strip():
        raise JsonRefused(f"The body is empty: send {what}.")
    if too_deep(text.encode("utf-8", "surrogatepass")):
        raise JsonRefused(f"The body nests too deep (more than {MAX_DEPTH} levels): send {what}.")
    try:
        return json.loads(text, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise JsonRefused(
            f"The body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): send {what}."
        ) from None
    except (ValueError, RecursionError):
        # NaN/Infinity, or an integer too long to convert
        raise JsonRefused(f"The body is JSON that warroom cannot take (NaN, Infinity or a huge number): send {what}.") from None
