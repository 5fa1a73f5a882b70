"""A local Slack workspace: the Web API methods warroom uses, served at ``{base_url}/api/<method>`` so that
slack_sdk's ``AsyncWebClient(base_url=f"{base_url}/api/")`` (and slack-bolt on top of it) works unchanged.

What it is based on: Slack's method reference (docs.slack.dev / api.slack.com/methods, and its machine-readable
mirror slack-ruby/slack-api-ref) for arguments, response shapes and error codes; Slack's rate-limit page for the
tiers; slack_sdk 3.x for how a real client sends each method (query string, form or JSON body).

- Transport: every method answers on GET and POST; arguments come from the query string, a form body or a JSON
  body (slack_sdk uses all three; JSON values such as ``blocks``, ``metadata`` and ``view`` may also arrive as
  JSON-encoded strings). The token is ``Authorization: Bearer …`` or a ``token`` argument: none → ``not_authed``,
  wrong → ``invalid_auth``. API errors are HTTP 200 ``{"ok": false, "error": "<code>"}``, as Slack does; a body
  that is not JSON → ``invalid_json``; an unknown method → HTTP 404 ``unknown_method``.
- Channels: names are lowercase letters, digits, hyphens and underscores, at most 80 characters
  (``invalid_name_required`` / ``invalid_name_maxlength`` / ``invalid_name_specials`` / ``invalid_name_punctuation``
  when there is no letter or digit), unique among live and archived channels (``name_taken``). The creator is the
  bot and its first member. Private channels the bot is not in are invisible (``channel_not_found``), as in Slack.
  Topic and purpose are at most 250 characters (``too_long``). conversations.archive (``already_archived``,
  ``cant_archive_general``) leaves the channel readable and refuses writes with ``is_archived`` (messages, edits,
  topic, invitations, pins, bookmarks); conversations.unarchive answers ``not_archived`` for a live channel and, as
  Slack does for bot tokens ("Bot tokens cannot currently be used to unarchive conversations"), ``not_in_channel``
  — unless a test sets :attr:`SlackEmulator.bots_can_unarchive`.
- conversations.invite: up to 1,000 comma-separated ids (``too_many_users``, ``no_user``); one unknown id fails the
  whole call with ``user_not_found`` and an ``errors`` list ``[{"user", "ok": false, "error"}]`` and invites
  nobody (Slack: "users who can be successfully invited … will not be invited if any of the user invites fail");
  ``force=true`` invites the valid ones and still answers with the error and the list. Ids already in the channel
  are skipped; when every id is already a member the answer is ``already_in_channel``.
- Messages: ``text`` and/or ``blocks`` (neither → ``no_text``; more than 50 blocks or a block without ``type`` →
  ``invalid_blocks``; blocks that are not a JSON array → ``invalid_blocks_format``; text over 40,000 characters →
  ``msg_too_long``); ``metadata`` {event_type, event_payload} (otherwise ``invalid_metadata_format``) is stored and
  returned by conversations.history only with ``include_all_metadata``. Posting to a public channel does not need
  membership (the ``chat:write.public`` scope is assumed). chat.update keeps the previous blocks/metadata when the
  call leaves them out (an empty list/object clears them), answers ``message_not_found`` and
  ``cant_update_message`` (not the bot's), and records every edit in the message's ``edits`` list.
  Timestamps are unique and increasing. Slack's own system messages (channel_join, topic changes) are not emulated.
- Pagination: ``limit`` and opaque base64 ``cursor``s with ``response_metadata.next_cursor`` ("" on the last page);
  a cursor that does not decode → ``invalid_cursor``. conversations.history is newest first with ``has_more``.
- pins.add (``no_item_specified``, ``message_not_found``, ``already_pinned``), pins.list, bookmarks.add
  (``type=link`` only → ``invalid_bookmark_type``; an http(s) ``link`` → ``invalid_link``; ids ``Bk…``),
  bookmarks.list, users.lookupByEmail (case-insensitive; ``users_not_found``), users.info (``user_not_found``),
  views.open (``invalid_trigger_id`` without a trigger_id) and views.update, auth.test (the fields slack-bolt reads).
- Rate limits (``config.rate_limits``): a token bucket per method per workspace holding one minute's allowance of
  the method's tier plus :attr:`SlackEmulator.burst` (a fraction), refilled at the tier's rate — Tier 1 ≈ 1/min,
  Tier 2 ≈ 20/min, Tier 3 ≈ 50/min, Tier 4 ≈ 100/min (:attr:`SlackEmulator.tier_limits`, per minute, and
  :attr:`SlackEmulator.method_tiers` are plain dicts a test may change). chat.postMessage is Slack's "special" tier:
  per channel, :attr:`SlackEmulator.post_burst` messages back to back, then :attr:`SlackEmulator.post_per_second`.
  Over a limit: HTTP 429, ``Retry-After`` (whole seconds), body ``{"ok": false, "error": "ratelimited"}``.
- Socket Mode (:mod:`.socket`, :attr:`SlackEmulator.socket`): apps.connections.open with the app-level token
  (``xapp-…``; the bot token → ``not_allowed_token_type``, and the app token on any other method too) hands out a
  single-use ``ws://…/link/?ticket=…``; the WebSocket says ``hello``, carries envelopes, takes acks, redelivers what
  is not acked and can ask for a refresh (``disconnect``). The people's side: :class:`.driver.SocketDriver`.

Operation names for latency and faults are the method names (``"chat.postMessage"``). Read-back for tests and the
demo: :attr:`SlackEmulator.channels`, :meth:`SlackEmulator.channel_by_name`, :meth:`SlackEmulator.messages`,
:attr:`SlackEmulator.pins`, :attr:`SlackEmulator.bookmarks`, :attr:`SlackEmulator.users`,
:attr:`SlackEmulator.ephemeral`, :attr:`SlackEmulator.views`, :attr:`SlackEmulator.responses`,
:meth:`SlackEmulator.state` and ``GET /_sandbox/state``. :meth:`SlackEmulator.add_channel` and
:meth:`SlackEmulator.add_message` act as other people in the workspace would.
"""

from .api import MAX_TEXT, MAX_TOPIC, NAME_RE
from .emulator import SCOPES, SlackEmulator
from .limits import METHOD_TIERS, TIER_LIMITS, TokenBucket
from .params import MAX_BLOCKS, Params, Result
from .socket import SocketModeHub

__all__ = [
    "MAX_BLOCKS",
    "MAX_TEXT",
    "MAX_TOPIC",
    "METHOD_TIERS",
    "NAME_RE",
    "SCOPES",
    "TIER_LIMITS",
    "Params",
    "Result",
    "SlackEmulator",
    "SocketModeHub",
    "TokenBucket",
]
