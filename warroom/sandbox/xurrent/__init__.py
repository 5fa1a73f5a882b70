"""A local Xurrent (formerly 4me) ITSM: the OAuth host and the REST API ``/v1`` on one loopback server.

What it is based on (developer.xurrent.com/v1, mirrored as markdown in public repositories; the Ruby SDK
code4me/4me-sdk-ruby for pagination and rate-limit handling):

- OAuth client credentials: ``POST /token`` with client_id, client_secret, grant_type=client_credentials,
  form-encoded (HTTP Basic client auth accepted too); tokens live ``token_lifetime`` seconds (documented: 1 hour).
  Bad credentials answer 401 ``{"error": "invalid_client", "error_description": …}`` (RFC 6749 §5.2).
- Every API call needs ``Authorization: Bearer <token>`` and ``X-Xurrent-Account`` (or the older
  ``X-4me-Account``). Error bodies are ``{"message": "…"}``: 401 ``Unauthorized``, 403, 404 ``Not Found``,
  400 for bad parameters, and 422 ``{"message": "Validation Failed", "errors": [["subject", "Subject can't be
  blank"], …]}`` — tuples of field name and message. What Xurrent answers for a missing or wrong account header is
  not documented; here it is 403 with a message naming the header.
- Requests follow the documented fields: the external key is ``source`` (max 30) and ``sourceID`` (max 128) —
  the REST name is ``sourceID``, not ``source_ID`` — and both are filterable on ``GET /requests``. Unknown body
  fields and unknown query parameters are ignored (so a misspelt filter returns everything: callers must check
  what comes back). ``team`` is required and defaults from the service instance; ``impact`` is required for
  incidents; ``completion_reason`` is required once the status is completed (as Xurrent's forms do).
  Timestamps are ``yyyy-mm-ddThh:mm:ssZ`` (seconds resolution, UTC), taken from ``XurrentEmulator.clock`` (default
  ``time.time``; a test may freeze or move it): two changes to a request within one second share its updated_at.
  Notes are stored, filtered (``/notes/public``, ``/notes/internal``) and shown with their ``internal`` flag.
- Collections: filters ``?f=v``, ``?f=a,b`` (in), ``?f=!a`` (not), ``?f=`` (empty), ``?f=!`` (present),
  ``?f=>=t`` / ``>`` / ``<=`` / ``<`` (ranges; two bounds may be joined, ``>=a<b``); ``per_page`` default 20,
  max 100; ``page``; ``fields`` (id plus the fields named); ``sort`` (``-`` for descending). Headers
  X-Pagination-Per-Page/-Current-Page/-Total-Pages/-Total-Entries and a ``Link`` header with rel
  first/prev/next/last. Requests sort descending by id, notes of a request ascending by id, people by name.
- Rate limits: every API response carries x-ratelimit-limit/-remaining/-reset (epoch seconds) for an hourly
  window (3600); over it, or over the burst limit (20 requests in 2 s, from the Ruby SDK's README), the answer is
  429 ``{"message": "Too Many Requests", "documentation_url": …}`` with ``Retry-After`` seconds. Both limits are
  attributes (``hourly_limit``, ``burst_limit``, ``burst_window``) a test may lower.

Operation names for latency and faults: ``POST /token``, ``POST /requests``, ``GET /requests``,
``GET /requests/open``, ``GET /requests/:id``, ``PATCH /requests/:id`` (PUT too), ``GET /requests/:id/notes``,
``POST /requests/:id/notes``, ``GET /people``, ``GET /people/:id``, ``GET /me``, ``GET /service_instances/:id``,
``GET /teams/:id``.

Read-back for tests, the demo and benches: :attr:`XurrentEmulator.requests`, :meth:`XurrentEmulator.notes`,
:attr:`XurrentEmulator.people`, :attr:`XurrentEmulator.audit` (one :class:`AuditLine` per change, with the webhook
event names it would trigger; :attr:`XurrentEmulator.listeners` are called with each — the place where webhook
delivery will hook in) and ``GET /_sandbox/state``. :meth:`XurrentEmulator.update_request` and
:meth:`XurrentEmulator.add_note` act as a service desk agent would in Xurrent's UI.

Webhook policies, webhooks, the webhook.verify handshake and signed deliveries live in :mod:`.webhooks`
(:attr:`XurrentEmulator.webhooks`, fed by :attr:`XurrentEmulator.listeners`); ``issuer`` is the account URL its JWTs
carry and ``webhook_delivery`` its retry schedule and chaos.
"""

from .api import PEOPLE_COLLECTION_FIELDS, REQUEST_COLLECTION_FIELDS
from .delivery import VERIFY_EVENT, Attempt, Delivery, DeliveryConfig
from .emulator import XurrentEmulator
from .gate import DOCS_RATE_LIMIT
from .paging import DEFAULT_PER_PAGE, MAX_PER_PAGE, Getter
from .records import (
    CATEGORIES,
    COMPLETION_REASONS,
    ENUMS,
    IMPACTS,
    LABELS,
    MAJOR_INCIDENT_STATUSES,
    REFERENCES,
    STATUSES,
    TEXTS,
    TRUTHY,
    AuditLine,
    ValidationFailed,
    parse_time,
    stamp,
)
from .webhook_resources import EVENTS
from .webhooks import WebhookHub

__all__ = [
    "CATEGORIES",
    "COMPLETION_REASONS",
    "DEFAULT_PER_PAGE",
    "DOCS_RATE_LIMIT",
    "ENUMS",
    "EVENTS",
    "IMPACTS",
    "LABELS",
    "MAJOR_INCIDENT_STATUSES",
    "MAX_PER_PAGE",
    "PEOPLE_COLLECTION_FIELDS",
    "REFERENCES",
    "REQUEST_COLLECTION_FIELDS",
    "STATUSES",
    "TEXTS",
    "TRUTHY",
    "VERIFY_EVENT",
    "Attempt",
    "AuditLine",
    "Delivery",
    "DeliveryConfig",
    "Getter",
    "ValidationFailed",
    "WebhookHub",
    "XurrentEmulator",
    "parse_time",
    "stamp",
]
