"""A status page's subscribers: people by email, systems by webhook — each published update delivered to each of
them once.

- **Email** (double opt-in): a subscribe form on the page (:func:`subscribe_email`) mails a link; nothing else is
  sent until it is confirmed (:func:`confirm`). Asking again for an unconfirmed address mails it again at most once
  an hour; the answer is the same whether the address was new, waiting or subscribed already. Each update mail
  carries an unsubscribe link and the ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers (RFC 8058: mail
  programs unsubscribe with one POST). A private or scoped page takes subscribers only through its signed link —
  the subscriber then gets what that link shows (a scoped link: its group's components only).
- **Webhooks** (``warroom statuspage subscribe``, :func:`add_webhook`): https only (``http://`` to a loopback
  address when ``status_subscribers.allow_http_loopback`` says so), no credentials in the URL, no IP address
  inside a private network (names are not resolved: an operator adds webhooks). Each delivery is a
  JSON POST signed ``Warroom-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``, with the
  delivery's id in ``Warroom-Delivery``. Refused connections, timeouts, 5xx and 429 are retried by the outbox with
  exponential backoff; after ``status_subscribers.max_attempts`` the delivery has failed for good and the webhook
  is disabled; ``disable_after`` deliveries failed for good in a row (4xx answers) disable it too, a 410 Gone at
  once. Its owner is told by email, once; a disabled subscriber gets nothing more.
- **Scheduled maintenance** (:func:`maintenance_notice`, called by :mod:`.maintenance` in the transaction of the
  change): each notice of a window — ``scheduled``, ``reminder``, ``started``, ``completed``, ``rescheduled``,
  ``cancelled`` — is a delivery like an update's, by email (``[<page>] Scheduled maintenance: <title>``, the window
  in UTC, its components and text) and by webhook (a ``"maintenance"`` object instead of ``"incident"`` and
  ``"update"``), signed, retried and unsubscribed from the same way. A scoped subscriber gets only the notices of
  windows touching its group's components, and sees only those of the window's components.
- **Exactly once**: a delivery row per (subscriber, update) pair, made in the transaction that publishes the update
  (:func:`update_published`) — per (subscriber, window, notice, reschedule) for maintenance — with one outbox job
  each. An attempt marks the row ``sending`` first; if the process
  dies before the outcome is recorded, the retry sends again — with the same ``Warroom-Delivery`` id (and the same
  email ``Message-ID``), by which receivers de-duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from jinja2 import Environment

from warroom.adapters.errors import AdapterError, Permanent, RateLimited, Transient
from warroom.adapters.http import JsonApi
from warroom.adapters.http import loopback_host as _loopback
from warroom.adapters.observe import CallObserver, ignore
from warroom.adapters.smtp import CONTROL_RE, Mailer
from warroom.core.jobs import STATUS_DELIVER
from warroom.settings import EMAIL_RE, Settings
from warroom.settings.model import StatusPageSettings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job
from warroom.store.status_subscribers import FAILED, SENT, SKIPPED, older_than

log = logging.getLogger("warroom.statuspages.subscribers")

#: An unconfirmed address is mailed its confirmation at most this often.
REMAIL_SECONDS = 3600.0
#: A confirmation link works this long after it was mailed.
CONFIRM_SECONDS = 7 * 24 * 3600.0
#: The longest webhook URL taken.
MAX_URL = 2048
#: The longest email address (RFC 5321's path limit).
MAX_EMAIL = 254
#: A Retry-After longer than this is waited only this long.
MAX_RETRY_AFTER = 3600.0
SIGNATURE_HEADER = "Warroom-Signature"
DELIVERY_HEADER = "Warroom-Delivery"
SYSTEM = "status webhook"


class SubscribeRefused(ValueError):
    """A subscription that cannot be made; the message says why, and what to do, in a sentence."""


class Gone(Permanent):
    """The webhook's receiver answered 410 Gone: it wants nothing more."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Warroom-Signature`` header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def email_address(raw: str) -> str:
    """A subscriber's email address, as stored (lower case); :class:`SubscribeRefused` when it is not one."""
    address = raw.strip().lower()
    if not address:
        raise SubscribeRefused("Enter your email address to get updates by email.")
    if len(address) > MAX_EMAIL or CONTROL_RE.search(address) or not EMAIL_RE.match(address) or any(
        c in address for c in "<>,;:\"()[]\\"
    ):
        raise SubscribeRefused("That is not an email address: enter one address such as name@example.com.")
    return address


def webhook_url(raw: str, settings: Settings) -> str:
    """A webhook URL that may be subscribed; :class:`SubscribeRefused` saying what is wrong with it otherwise."""
    url = raw.strip()
    if not url or len(url) > MAX_URL or CONTROL_RE.search(url) or " " in url:
        raise SubscribeRefused(f"The webhook URL must be one https:// address of at most {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise SubscribeRefused("The webhook URL does not parse: write it as https://hooks.example.com/status.") from None
    if parts.username is not None or parts.password is not None:
        raise SubscribeRefused("The webhook URL holds credentials (user:password@): leave them out; deliveries are "
                               "signed with the secret warroom prints, which the receiver checks.")
    if parts.fragment:
        raise SubscribeRefused("The webhook URL has a #fragment, which is never sent: leave it out.")
    if not host:
        raise SubscribeRefused("The webhook URL names no host: write it as https://hooks.example.com/status.")
    if parts.scheme == "https":
        if _internal(host) and not (_loopback(host) and settings.status_subscribers.allow_http_loopback):
            raise SubscribeRefused(
                f"The webhook URL names {host}, an address inside a private network or this machine: deliveries "
                "go to receivers on the internet only, so that a subscription cannot reach internal services. Use "
                "the receiver's public https:// name.")
        return url
    if parts.scheme == "http" and _loopback(host):
        if settings.status_subscribers.allow_http_loopback:
            return url
        raise SubscribeRefused("http:// webhooks are taken only for a receiver on this machine, and only when "
                               "status_subscribers.allow_http_loopback is on: use https://.")
    raise SubscribeRefused("The webhook URL must start with https:// (deliveries carry the page's updates; they "
                           "travel encrypted).")


def shown_reason(reason: str, url: str) -> str:
    """An error's reason with the webhook's URL cut to its scheme, host and path: a query may hold a receiver's
    key, and reasons are stored, logged and shown."""
    parts = urlsplit(url)
    return reason.replace(url, f"{parts.scheme}://{parts.hostname or ''}{parts.path}") if parts.query else reason


def _internal(host: str) -> bool:
    """``host`` is an IP address that is not a public one (private, loopback, link-local — cloud metadata at
    169.254.169.254 —, shared, reserved, multicast, unspecified), or ``localhost``. Names are not resolved here."""
    if host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def owner_address(raw: str) -> str:
    try:
        return email_address(raw)
    except SubscribeRefused:
        raise SubscribeRefused("--owner must be the email address of whoever is told when the webhook is disabled, "
                               "such as ops@example.com.") from None


def page_scope(page: StatusPageSettings, scope: str) -> str:
    """The scope a subscriber of ``page`` has: a scoped page's stakeholder group, nothing on other pages."""
    if page.visibility == "scoped":
        if scope not in page.scopes:
            groups = ", ".join(page.scopes) or "none are configured"
            raise SubscribeRefused(f"'{page.name}' is scoped: name the stakeholder group with --scope ({groups}).")
        return scope
    if scope:
        raise SubscribeRefused(f"'{page.name}' has no scopes (it is {page.visibility}): leave out --scope.")
    return ""


# -- in the transactions of the web forms and the command line ------------------------------------------------
async def subscribe_email(tx: Tx, page: StatusPageSettings, scope: str, raw: str) -> None:
    """Ask ``raw`` to confirm a subscription to ``page`` (``scope``: the stakeholder group of a scoped page's
    link): a new address, or one still unconfirmed and last mailed over an hour ago, is mailed a link; nothing is
    mailed to an address subscribed already. Raises :class:`SubscribeRefused` for an address that is not one.
    Callers answer the same in every case: whether an address was subscribed is nobody's business."""
    address = email_address(raw)
    repo = tx.status_subscribers
    found = await repo.find(page.name, scope, "email", address)
    if found is None:
        subscriber_id = await repo.add(page.name, scope, "email", address, new_token())
    elif found["confirmed_at"] is not None and found["disabled_at"] is None:
        return
    elif found["disabled_at"] is not None:  # asked again from the start
        await repo.remove(int(found["id"]))
        subscriber_id = await repo.add(page.name, scope, "email", address, new_token())
    elif not older_than(tx.now, found["created_at"], REMAIL_SECONDS):
        return  # mailed less than an hour ago
    else:  # still unconfirmed: the same link again (the earlier email's works too)
        subscriber_id = int(found["id"])
        await repo.mailed(subscriber_id)
    await tx.outbox.enqueue(STATUS_DELIVER, {"confirm": subscriber_id})


async def add_webhook(
    tx: Tx, settings: Settings, page: StatusPageSettings, url: str, owner: str, scope: str = ""
) -> tuple[int, str]:
    """Subscribe a webhook to ``page`` (confirmed at once: an operator adds it); returns its id and its signing
    secret — shown this once. :class:`SubscribeRefused` for a URL or owner that will not do, or a URL subscribed
    already with that scope."""
    address = webhook_url(url, settings)
    owner = owner_address(owner)
    scope = page_scope(page, scope)
    found = await tx.status_subscribers.find(page.name, scope, "webhook", address)
    if found is not None:
        raise SubscribeRefused(f"That URL is subscribed to '{page.name}' already (subscriber {found['id']}): remove "
                               f"it first with `warroom statuspage unsubscribe {found['id']}` to get a new secret.")
    secret = new_secret()
    subscriber_id = await tx.status_subscribers.add(page.name, scope, "webhook", address, new_token(), secret=secret,
                                                    owner=owner, confirmed=True)
    return subscriber_id, secret


async def confirm(tx: Tx, page: str, token: str) -> bool:
    """Confirm an email subscription by its link's token; False when the link is unknown or has expired."""
    found = await _by_token(tx, page, token)
    if found is None or found["disabled_at"] is not None:
        return False
    if found["confirmed_at"] is not None:
        return True
    if older_than(tx.now, found["created_at"], CONFIRM_SECONDS):
        return False
    await tx.status_subscribers.confirm(int(found["id"]))
    return True


async def unsubscribe(tx: Tx, page: str, token: str) -> None:
    """Unsubscribe the email subscriber a link's token names (the address is forgotten); nothing for a token that
    names none — it was used already, or never was."""
    found = await _by_token(tx, page, token)
    if found is not None:
        await tx.status_subscribers.remove(int(found["id"]))


async def pending_token(tx: Tx, page: str, token: str) -> dict[str, Any] | None:
    """The email subscriber a link's token names (None: none)."""
    return await _by_token(tx, page, token)


async def _by_token(tx: Tx, page: str, token: str) -> dict[str, Any] | None:
    if not token or len(token) > 64:
        return None
    found = await tx.status_subscribers.by_token(token)
    if found is None or found["page"] != page or found["kind"] != "email":
        return None
    return found


# -- in the transaction that publishes an update ----------------------------------------------------------------
async def update_published(tx: Tx, page: StatusPageSettings, incident_id: int, update_id: int) -> None:
    """An update was published on ``page`` (in the transaction that published it): a pending delivery, and its
    outbox job, for every active, confirmed subscriber of the page. A scoped page's subscriber whose group does not
    see the incident's components has its delivery skipped by the job (which knows the services' components)."""
    made = await tx.status_subscribers.fan_out(page.name, update_id, STATUS_DELIVER)
    tx.outbox.enqueued += made  # the workers wake up once this commits


#: A maintenance notice → its email subject's words, and the sentence its email opens with.
NOTICES: dict[str, tuple[str, str]] = {
    "scheduled": ("Scheduled maintenance", "Maintenance is scheduled."),
    "reminder": ("Maintenance reminder", "Reminder: this maintenance starts soon."),
    "started": ("Maintenance in progress", "This maintenance has started."),
    "completed": ("Maintenance completed", "This maintenance is completed."),
    "rescheduled": ("Maintenance rescheduled", "This maintenance has new times."),
    "cancelled": ("Maintenance cancelled", "This maintenance was cancelled: it will not take place."),
}


async def maintenance_notice(
    tx: Tx, page: StatusPageSettings, window: dict[str, Any], notice: str, revision: int = 0
) -> int:
    """Tell ``page``'s subscribers ``notice`` (one of :data:`NOTICES`) about the maintenance ``window`` (a
    ``status_maintenances`` row), in the transaction of the change: a pending delivery and its outbox job for each
    active, confirmed subscriber — of a scoped page, only those whose group sees one of the window's components —
    that has not had this notice of this ``revision`` (the window's reschedules so far) already. Returns how many."""
    assert notice in NOTICES, notice
    touched = set(window["components"])
    scopes = [name for name, shown in page.scopes.items() if touched & set(shown)]
    made = await tx.status_subscribers.fan_out_notice(page.name, int(window["id"]), notice, revision, scopes,
                                                      STATUS_DELIVER)
    tx.outbox.enqueued += made
    return made


# -- the messages ---------------------------------------------------------------------------------------------
_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_UPDATE_HTML = _env.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;max-width:40rem;margin:0 auto;padding:1rem">
<p style="color:#4a4a4a;margin:0">{{ title }} status</p>
<h1 style="font-size:1.3rem;margin:.25rem 0 1rem">{{ name }}</h1>
<p><strong>{{ state }}</strong> — <span style="white-space:pre-wrap">{{ body }}</span></p>
<p style="color:#4a4a4a;font-size:.9rem">{{ published }} UTC{% if components %} · Affected: {{ components }}{% endif %}</p>
{% if page_url %}<p><a href="{{ page_url }}" style="color:#0645ad">See the status page</a></p>{% endif %}
<hr style="border:0;border-top:1px solid #d0d0d0">
<p style="color:#4a4a4a;font-size:.85rem">You get this email because you subscribed to updates of {{ title }}.
<a href="{{ unsubscribe }}" style="color:#0645ad">Unsubscribe</a>.</p>
</body></html>
""")
_NOTICE_HTML = _env.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;max-width:40rem;margin:0 auto;padding:1rem">
<p style="color:#4a4a4a;margin:0">{{ title }} status · {{ label }}</p>
<h1 style="font-size:1.3rem;margin:.25rem 0 1rem">{{ name }}</h1>
<p><strong>{{ lead }}</strong></p>
<p>When: {{ window }}{% if components %}<br>Components: {{ components }}{% endif %}</p>
{% if body %}<p style="white-space:pre-wrap">{{ body }}</p>{% endif %}
{% if page_url %}<p><a href="{{ page_url }}" style="color:#0645ad">See the status page</a></p>{% endif %}
<hr style="border:0;border-top:1px solid #d0d0d0">
<p style="color:#4a4a4a;font-size:.85rem">You get this email because you subscribed to updates of {{ title }}.
<a href="{{ unsubscribe }}" style="color:#0645ad">Unsubscribe</a>.</p>
</body></html>
""")
_CONFIRM_HTML = _env.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;max-width:40rem;margin:0 auto;padding:1rem">
<h1 style="font-size:1.3rem">Confirm your subscription</h1>
<p>Someone — we hope you — asked for updates of {{ title }} by email at this address.</p>
<p><a href="{{ link }}" style="color:#0645ad">Confirm the subscription</a></p>
<p style="color:#4a4a4a;font-size:.9rem">Nothing is sent until it is confirmed. If it was not you, ignore this
email: the link stops working in seven days.</p>
</body></html>
""")


def _host(settings: Settings) -> str:
    return urlsplit(settings.server.public_url).hostname or "warroom.invalid"


def link(settings: Settings, page: str, action: str, token: str) -> str:
    """The address of a subscriber's confirm or unsubscribe link."""
    return f"{settings.server.public_url.rstrip('/')}/status/{page}/{action}?token={token}"


def _label(status: str) -> str:
    from . import LABELS

    return LABELS.get(status, status.replace("_", " ").capitalize())


@dataclass(frozen=True)
class _Update:
    """What one delivery carries."""

    delivery_id: int
    page: StatusPageSettings
    name: str
    incident_id: int
    incident_status: str
    status: str
    body: str
    published_at: datetime
    components: list[dict[str, str]]
    affected: list[str]

    def payload(self, settings: Settings) -> dict[str, Any]:
        return {
            "page": _page_json(settings, self.page),
            "incident": {"id": self.incident_id, "name": self.name, "status": self.incident_status},
            "update": {"status": self.status, "body": self.body,
                       "published_at": self.published_at.astimezone(UTC).isoformat()},
            "components": self.components,
        }


@dataclass(frozen=True)
class _Notice:
    """What one delivery of a maintenance notice carries: the window as it is now (``affected``: its components
    the subscriber sees)."""

    delivery_id: int
    page: StatusPageSettings
    maintenance_id: int
    notice: str
    title: str
    body: str
    status: str
    starts_at: datetime
    ends_at: datetime
    components: list[dict[str, str]]
    affected: list[str]

    def payload(self, settings: Settings) -> dict[str, Any]:
        return {
            "page": _page_json(settings, self.page),
            "maintenance": {"id": self.maintenance_id, "title": self.title, "body": self.body, "status": self.status,
                            "notice": self.notice, "starts_at": self.starts_at.astimezone(UTC).isoformat(),
                            "ends_at": self.ends_at.astimezone(UTC).isoformat(), "components": self.affected},
            "components": self.components,
        }

    def window(self) -> str:
        """``2026-12-10 02:00 – 04:00 UTC`` (the end's date too when it is another day)."""
        start, end = self.starts_at.astimezone(UTC), self.ends_at.astimezone(UTC)
        until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
        return f"{start:%Y-%m-%d %H:%M} – {until} UTC"


def _page_json(settings: Settings, page: StatusPageSettings) -> dict[str, str]:
    return {"name": page.name, "title": page.title or page.name,
            "url": f"{settings.server.public_url.rstrip('/')}/status/{page.name}"}


# -- webhooks through the HTTP choke point ----------------------------------------------------------------------
_SIGNING: ContextVar[str | None] = ContextVar("warroom_webhook_secret", default=None)


class Webhooks:
    """Signed POSTs to subscribers' webhooks, through :class:`warroom.adapters.http.JsonApi` (one try per call:
    the outbox retries). The signature is made by a request hook over the exact bytes sent."""

    def __init__(self, timeout: float, *, observe: CallObserver = ignore,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=transport,
            headers={"User-Agent": "warroom-status-webhooks/1"},
            event_hooks={"request": [self._sign], "response": [self._gone]},
        )
        self.api = JsonApi(SYSTEM, "", client=self._client, max_retries=0, max_inline_wait=0.0, observe=observe,
                           label="status_webhook")

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, payload: dict[str, Any], secret: str, delivery_id: int) -> None:
        """Deliver ``payload``; raises :mod:`warroom.adapters.errors` only (:class:`Gone` for a 410)."""
        token = _SIGNING.set(secret)
        try:
            await self.api.request("POST", url, json=payload, headers={DELIVERY_HEADER: str(delivery_id)})
        finally:
            _SIGNING.reset(token)

    @staticmethod
    async def _sign(request: httpx.Request) -> None:
        secret = _SIGNING.get()
        if secret is None:  # never sent unsigned
            raise Permanent(SYSTEM, "a webhook delivery was about to go unsigned")
        request.headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), request.content)

    @staticmethod
    async def _gone(response: httpx.Response) -> None:
        if response.status_code == 410:
            raise Gone(SYSTEM, "the receiver answered 410 Gone: it wants no more deliveries")


# -- the job ------------------------------------------------------------------------------------------------------
@dataclass
class SubscriberJobs:
    """The ``STATUS_DELIVER`` job: ``{"delivery": id}`` delivers one update or maintenance notice to one subscriber
    (a reminder whose window started or was cancelled meanwhile is skipped), ``{"confirm": id}``
    mails an address its confirmation link, ``{"disabled": id}`` tells a disabled webhook's owner."""

    settings: Settings
    store: Store
    mailer: Mailer | None
    webhooks: Webhooks

    def handlers(self) -> dict[str, Handler]:
        return {STATUS_DELIVER: self.run}

    async def run(self, job: Job) -> Commit | None:
        if "delivery" in job.payload:
            return await self.deliver(job, int(job.payload["delivery"]))
        if "confirm" in job.payload:
            await self._confirmation(int(job.payload["confirm"]))
        elif "disabled" in job.payload:
            await self._tell_owner(int(job.payload["disabled"]))
        return None

    # -- one update to one subscriber --------------------------------------------------------------------------
    async def deliver(self, job: Job, delivery_id: int) -> Commit | None:
        async with self.store.tx(background=True) as tx:
            found = await tx.status_subscribers.delivery(delivery_id)
            subscriber = await tx.status_subscribers.get(int(found["subscriber_id"])) if found else None
            if found is None or subscriber is None:
                return None  # the subscriber (and with it the delivery) was removed
            skip = self._skip_reason(found, subscriber)
            if skip is not None:
                await tx.status_subscribers.finish(delivery_id, SKIPPED, skip)
                return None
            attempt = await tx.status_subscribers.sending(delivery_id)
            if attempt is None:
                return None  # its outcome is recorded already
            message = await (self._notice(tx, found, subscriber) if found["maintenance_id"] is not None
                             else self._update(tx, found, subscriber))
        try:
            if subscriber["kind"] == "webhook":
                try:  # the settings may have changed since it was added (http:// on loopback no longer allowed)
                    url = webhook_url(str(subscriber["address"]), self.settings)
                except SubscribeRefused as exc:
                    raise Permanent(SYSTEM, str(exc)) from None
                await self.webhooks.post(url, message.payload(self.settings), str(subscriber["secret"] or ""),
                                         delivery_id)
            elif isinstance(message, _Notice):
                await self._mail_notice(subscriber, message)
            else:
                await self._mail_update(subscriber, message)
        except AdapterError as exc:
            return await self._failed(job, delivery_id, subscriber, attempt, exc)
        subscriber_id = int(subscriber["id"])

        async def sent(tx: Tx) -> None:
            await tx.status_subscribers.finish(delivery_id, SENT)
            await tx.status_subscribers.succeeded(subscriber_id)

        return sent

    def _skip_reason(self, found: dict[str, Any], subscriber: dict[str, Any]) -> str | None:
        if subscriber["disabled_at"] is not None:
            return "the subscriber was disabled"
        page = self.settings.status_page(str(found["page"]))
        if page is None:
            return "the page is no longer configured"
        notice = found["maintenance_id"] is not None
        if notice and found["notice"] == "reminder" and found["maintenance_state"] != "scheduled":
            return "the maintenance started or was cancelled before its reminder went"
        scope = str(subscriber["scope"] or "")
        if scope:
            if scope not in page.scopes:
                return f"the page has no scope '{scope}' any more"
            touched = list(found["components"]) if notice else self._components_of(page, str(found["service"]))
            if not set(page.scopes[scope]) & set(touched):
                return ("the maintenance is" if notice else "the update is") + (
                    " about components outside the subscriber's scope")
        return None

    def _components_of(self, page: StatusPageSettings, service: str) -> list[str]:
        svc = self.settings.service(service)
        return list(svc.status.components) if svc is not None and svc.status.page == page.name else []

    async def _seen(
        self, tx: Tx, found: dict[str, Any], subscriber: dict[str, Any], touched: list[str]
    ) -> tuple[StatusPageSettings, list[dict[str, str]], list[str]]:
        """The delivery's page, its components' statuses and which of ``touched`` the subscriber sees (a scoped
        one: its group's only)."""
        page = self.settings.status_page(str(found["page"]))
        assert page is not None
        scope = str(subscriber["scope"] or "")
        shown = set(page.scopes[scope]) if scope else None
        current = await tx.statuspages.current(page.name)
        components = [{"name": c.name, "status": current.get(c.name, "operational")}
                      for c in page.components if shown is None or c.name in shown]
        return page, components, [c for c in touched if shown is None or c in shown]

    async def _update(self, tx: Tx, found: dict[str, Any], subscriber: dict[str, Any]) -> _Update:
        page = self.settings.status_page(str(found["page"]))
        assert page is not None
        page, components, affected = await self._seen(tx, found, subscriber,
                                                      self._components_of(page, str(found["service"])))
        return _Update(int(found["id"]), page, str(found["incident_name"]), int(found["page_incident_id"]),
                       str(found["incident_status"]), str(found["update_status"]), str(found["body"]),
                       found["published_at"], components, affected)

    async def _notice(self, tx: Tx, found: dict[str, Any], subscriber: dict[str, Any]) -> _Notice:
        page, components, affected = await self._seen(tx, found, subscriber, list(found["components"]))
        return _Notice(int(found["id"]), page, int(found["maintenance_id"]), str(found["notice"]),
                       str(found["title"]), str(found["body"]), str(found["maintenance_state"]), found["starts_at"],
                       found["ends_at"], components, affected)

    async def _failed(
        self, job: Job, delivery_id: int, subscriber: dict[str, Any], attempt: int, exc: AdapterError
    ) -> Commit | None:
        """A failed attempt: retried (the outbox's backoff) while attempts are left and it is worth it; otherwise
        the delivery has failed for good — and a webhook that failed this way is disabled, its owner told."""
        subscriber_id = int(subscriber["id"])
        webhook = subscriber["kind"] == "webhook"
        reason = shown_reason(exc.reason, str(subscriber["address"])) if webhook else exc.reason
        limit = min(self.settings.status_subscribers.max_attempts, self.settings.worker.max_attempts)
        if isinstance(exc, Transient) and attempt < limit and job.attempts < self.settings.worker.max_attempts:
            async with self.store.tx(background=True) as tx:
                await tx.status_subscribers.note_error(delivery_id, reason)
            if isinstance(exc, RateLimited) and exc.retry_after > MAX_RETRY_AFTER:
                raise RateLimited(exc.system, exc.reason, MAX_RETRY_AFTER) from None
            raise exc
        log.warning("status delivery %d to subscriber %d failed for good: %s", delivery_id, subscriber_id, reason)
        disable_after = self.settings.status_subscribers.disable_after

        async def failed(tx: Tx) -> None:
            if not await tx.status_subscribers.finish(delivery_id, FAILED, reason):
                return
            if not webhook:
                return  # a mailbox's refusals are the relay's business; an email subscriber stays
            if isinstance(exc, Gone):
                why = "its receiver answered 410 Gone"
            elif isinstance(exc, Transient):
                why = f"a delivery failed {attempt} times in a row (the last time: {reason})"
            else:
                failures = await tx.status_subscribers.failed_again(subscriber_id)
                if failures < disable_after:
                    return
                why = f"{failures} deliveries in a row were refused (the last time: {reason})"
            await disable(tx, subscriber_id, why)

        return failed

    # -- emails ----------------------------------------------------------------------------------------------
    def _mailer(self) -> Mailer:
        if self.mailer is None:
            raise Permanent("SMTP", "smtp.host is not set: name the mail relay that sends status page emails.")
        return self.mailer

    async def _mail_update(self, subscriber: dict[str, Any], update: _Update) -> None:
        page = update.page
        title = page.title or page.name
        state = _label(update.status)
        subject = f"[{title}] {state}: {update.name}"
        unsubscribe = link(self.settings, page.name, "unsubscribe", str(subscriber["token"]))
        page_url = self._page_url(page)
        published = f"{update.published_at.astimezone(UTC):%Y-%m-%d %H:%M}"
        affected = ", ".join(update.affected)
        text = "\n".join([
            f"{update.name}", "", f"{state} — {update.body}", "",
            f"{published} UTC" + (f" · Affected: {affected}" if affected else ""),
            *([f"See the status page: {page_url}"] if page_url else []), "", "--",
            f"You get this email because you subscribed to updates of {title}.",
            f"Unsubscribe: {unsubscribe}", "",
        ])
        html = _UPDATE_HTML.render(subject=subject, title=title, name=update.name, state=state, body=update.body,
                                   published=published, components=affected, page_url=page_url,
                                   unsubscribe=unsubscribe)
        await self._send_delivery(subscriber, page, update.delivery_id, subject, text, html, unsubscribe)

    async def _send_delivery(self, subscriber: dict[str, Any], page: StatusPageSettings, delivery_id: int,
                             subject: str, text: str, html: str, unsubscribe: str) -> None:
        """One delivery's email, with its one-click unsubscribe headers (RFC 8058) and a Message-ID of its own
        (the same on every attempt)."""
        title = page.title or page.name
        await self._mailer().send(
            to=str(subscriber["address"]), subject=subject, text=text, html=html,
            message_id=f"<status-delivery-{delivery_id}@{_host(self.settings)}>",
            headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                     "List-Id": f"{title} status <{page.name}.status.{_host(self.settings)}>"},
        )

    def _page_url(self, page: StatusPageSettings) -> str:
        """The page's address for an email (only a public page's: the others need a signed link)."""
        return f"{self.settings.server.public_url.rstrip('/')}/status/{page.name}" if page.visibility == "public" else ""

    async def _mail_notice(self, subscriber: dict[str, Any], notice: _Notice) -> None:
        page = notice.page
        title = page.title or page.name
        label, lead = NOTICES.get(notice.notice, ("Maintenance", "This maintenance changed."))
        subject = f"[{title}] {label}: {notice.title}"
        unsubscribe = link(self.settings, page.name, "unsubscribe", str(subscriber["token"]))
        page_url = self._page_url(page)
        affected = ", ".join(notice.affected)
        text = "\n".join([
            notice.title, "", lead, f"When: {notice.window()}",
            *([f"Components: {affected}"] if affected else []), *(["", notice.body] if notice.body else []), "",
            *([f"See the status page: {page_url}"] if page_url else []), "--",
            f"You get this email because you subscribed to updates of {title}.",
            f"Unsubscribe: {unsubscribe}", "",
        ])
        html = _NOTICE_HTML.render(subject=subject, title=title, label=label, name=notice.title, lead=lead,
                                   window=notice.window(), components=affected, body=notice.body,
                                   page_url=page_url, unsubscribe=unsubscribe)
        await self._send_delivery(subscriber, page, notice.delivery_id, subject, text, html, unsubscribe)

    async def _confirmation(self, subscriber_id: int) -> None:
        async with self.store.read() as tx:
            subscriber = await tx.status_subscribers.get(subscriber_id)
        if subscriber is None or subscriber["confirmed_at"] is not None or subscriber["disabled_at"] is not None:
            return
        page = self.settings.status_page(str(subscriber["page"]))
        if page is None:
            return
        title = page.title or page.name
        subject = f"Confirm your subscription to {title} status updates"
        confirm_link = link(self.settings, page.name, "confirm", str(subscriber["token"]))
        text = (f"Someone — we hope you — asked for updates of {title} by email at this address.\n\n"
                f"Confirm the subscription: {confirm_link}\n\n"
                "Nothing is sent until it is confirmed. If it was not you, ignore this email: the link stops working "
                "in seven days.\n")
        sent_at = int(subscriber["created_at"].timestamp())
        await self._mailer().send(
            to=str(subscriber["address"]), subject=subject, text=text,
            html=_CONFIRM_HTML.render(subject=subject, title=title, link=confirm_link),
            message_id=f"<status-confirm-{subscriber_id}-{sent_at}@{_host(self.settings)}>",
        )

    async def _tell_owner(self, subscriber_id: int) -> None:
        async with self.store.read() as tx:
            subscriber = await tx.status_subscribers.get(subscriber_id)
        if subscriber is None or subscriber["disabled_at"] is None or not subscriber["owner"]:
            return
        if self.mailer is None:
            log.warning("webhook subscriber %d was disabled; its owner cannot be told: smtp.host is not set",
                        subscriber_id)
            return
        page = self.settings.status_page(str(subscriber["page"]))
        title = (page.title or page.name) if page is not None else str(subscriber["page"])
        host = urlsplit(str(subscriber["address"])).hostname or "?"
        text = (f"The webhook {subscriber['address']} that gets the updates of the status page {title} was "
                f"disabled: {subscriber['disabled_reason']}.\n\nIt gets no more deliveries. Fix the receiver, then "
                f"subscribe it again:\n\n  warroom statuspage unsubscribe {subscriber_id}\n"
                f"  warroom statuspage subscribe {subscriber['page']} --webhook <url> --owner {subscriber['owner']}\n")
        await self.mailer.send(
            to=str(subscriber["owner"]), subject=f"[{title}] Webhook disabled: {host}", text=text,
            message_id=f"<status-webhook-disabled-{subscriber_id}@{_host(self.settings)}>",
        )


async def disable(tx: Tx, subscriber_id: int, reason: str) -> None:
    """Disable a subscriber (its deliveries still to go are skipped) and, once, tell a webhook's owner."""
    if await tx.status_subscribers.disable(subscriber_id, reason):
        await tx.outbox.enqueue(STATUS_DELIVER, {"disabled": subscriber_id})
