"""The arguments of a Slack Web API call: typed getters, JSON-valued arguments, opaque cursors and pages, and the
checks on ``blocks`` and ``metadata``. A bad argument raises :class:`_ApiError` with Slack's error code, which the
emulator answers as HTTP 200 ``{"ok": false, "error": "<code>"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

MAX_BLOCKS = 50

Params = dict[str, Any]
Result = dict[str, Any]


class _ApiError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


# -- argument helpers -------------------------------------------------------------------------------------
def _str(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _bool(params: Params, key: str, default: bool = False) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def _int(params: Params, key: str, default: int, *, low: int, high: int) -> int:
    value = params.get(key)
    try:
        number = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise _ApiError("invalid_arguments") from None
    if number <= 0:
        number = default
    return max(low, min(high, number))


def _json_value(params: Params, key: str, error: str) -> Any:
    """A JSON argument: already decoded (JSON body) or a JSON-encoded string (form or query)."""
    value = params.get(key)
    if isinstance(value, str):
        if value.strip() == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _ApiError(error) from None
    return value


def _ts(params: Params, key: str, default: float) -> float:
    value = _str(params, key)
    try:
        return default if value is None else float(value)
    except ValueError:
        raise _ApiError(f"invalid_ts_{key}") from None


def _encode_cursor(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def _decode_cursor(params: Params, kind: str) -> int:
    cursor = _str(params, "cursor")
    if cursor is None:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        return max(0, int(number))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _ApiError("invalid_cursor") from None


def _page(items: list[Any], params: Params, kind: str, *, default: int, high: int) -> tuple[list[Any], str]:
    start = _decode_cursor(params, kind)
    limit = _int(params, "limit", default, low=1, high=high)
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, _encode_cursor(kind, start + limit) if more else ""


def _validate_blocks(blocks: Any) -> list[dict[str, Any]] | None:
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise _ApiError("invalid_blocks_format")
    if len(blocks) > MAX_BLOCKS or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
        raise _ApiError("invalid_blocks")
    return blocks


def _validate_metadata(metadata: Any) -> dict[str, Any] | None:
    if metadata is None:
        return None
    if metadata == {}:
        return {}
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not metadata["event_type"]
        or not isinstance(metadata.get("event_payload", {}), dict)
    ):
        raise _ApiError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata.get("event_payload", {})}
