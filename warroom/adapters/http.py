"""The one choke point for JSON-over-HTTP adapters (Xurrent, Zoom, Webex, Graph, the Bot Connector): retries with
backoff and jitter, Retry-After honoured, errors translated into :mod:`warroom.adapters.errors`, logging without
secrets, and each attempt's outcome told to the adapter's observer (:mod:`warroom.adapters.observe`)."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from .errors import AdapterError, NotFound, Permanent, RateLimited, Transient
from .observe import CallObserver, Outcome, ignore, outcome_of_error, outcome_of_status

log = logging.getLogger("warroom.adapters.http")

#: Statuses worth retrying.
RETRY_STATUSES = frozenset({408, 409, 412, 425, 500, 502, 503, 504})


def retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    """Parse Retry-After: seconds, an HTTP date, or an ISO 8601 time (Zoom's daily limit sends one)."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when: datetime | None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def error_reason(response: httpx.Response) -> str:
    """A short sentence from an error body: the service's own message where it gives one."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "errors"):
            if body.get(key):
                value = body[key]
                if isinstance(value, list):
                    value = "; ".join(str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in value)
                return f"HTTP {response.status_code}: {str(value)[:300]}"
    return f"HTTP {response.status_code}"


def loopback_host(host: str) -> bool:
    """Whether ``host`` (a URL's hostname) is this machine's loopback: ``localhost``, 127.0.0.0/8, ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def backoff(attempt: int, base: float = 0.25, cap: float = 4.0) -> float:
    """Exponential backoff with jitter: a random wait in the upper half of min(cap, base·2^(attempt-1))."""
    top = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(top / 2, top)


T = TypeVar("T")


async def create_or_adopt(
    create: Callable[[], Awaitable[T]],
    find: Callable[[], Awaitable[T | None]],
    *,
    max_retries: int,
    max_inline_wait: float,
) -> T:
    """Create a record that has no idempotency key of its own, never twice.

    A rate limit means nothing was created: waited out when short. Any other transient failure may have
    created it: look it up (``find``) before sending the create again.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await create()
        except RateLimited as exc:
            if exc.retry_after > max_inline_wait or attempt > max_retries:
                raise
            await asyncio.sleep(exc.retry_after)
        except Transient:
            found = await find()
            if found is not None:
                return found
            if attempt > max_retries:
                raise
            await asyncio.sleep(backoff(attempt))


class JsonApi:
    """An httpx client with warroom's retry and error rules.

    ``auth`` is an async callable returning headers to add (token refresh lives in the adapter), and
    ``on_unauthorized`` is called once on a 401 before one more try. ``observe`` hears the outcome of every
    attempt (retries and the try after a 401 included) under ``label`` (by default the system's name in lower
    case, spaces as underscores).
    """

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        max_retries: int = 4,
        backoff_base: float = 0.25,
        backoff_max: float = 4.0,
        max_inline_wait: float = 5.0,
        auth: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
        on_unauthorized: Callable[[], Awaitable[None]] | None = None,
        throttle_statuses: Collection[int] = (),
        retry_after_jitter: float = 0.0,
        observe: CallObserver = ignore,
        label: str = "",
    ) -> None:
        self.system = system
        self.label = label or system.lower().replace(" ", "_")
        self._observe = observe
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._own_client = client is None
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_inline_wait = max_inline_wait
        self._auth = auth
        self._on_unauthorized = on_unauthorized
        #: Statuses that, when they carry Retry-After, mean "throttled, nothing was done" like a 429 (Microsoft
        #: Graph's 503): waited out and sent again, even when the request is not idempotent.
        self.throttle_statuses = frozenset(throttle_statuses)
        #: Add up to this fraction of a Retry-After wait at random, so that throttled callers do not all return
        #: in the same instant.
        self.retry_after_jitter = retry_after_jitter
        #: Calls made, for benchmarks and tests: (method, path, status).
        self.calls = 0

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Callable[[httpx.Response], bool] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send with retries; return the 2xx response or raise an AdapterError.

        A request that is not idempotent (POST and PATCH unless said otherwise) is never repeated here after it
        may have reached the service (a 5xx, a timeout, a dropped connection): its effect may have happened, so
        the failure goes back to the outbox, whose retry looks the record up before creating it again. Refused
        connections and 429s are retried either way — the service did nothing.
        """
        url = self.url(path)
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
        attempt = 0
        reauthed = False
        while True:
            attempt += 1
            hdrs: dict[str, str] = dict(headers or {})
            if self._auth is not None:
                hdrs.update(await self._auth())
            self.calls += 1
            try:
                response = await self._client.request(method, url, json=json, params=params, data=data, headers=hdrs)
            except AdapterError as exc:  # the adapter's response hook translated the answer
                self._observe(self.label, outcome_of_error(exc))
                raise
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self._observe(self.label, "unreachable")
                error: AdapterError = Transient(self.system, f"{method} {path} could not connect ({type(exc).__name__})")
            except httpx.TimeoutException:
                self._observe(self.label, "unreachable")
                error = Transient(self.system, f"{method} {path} timed out")
                if not idempotent:
                    raise error from None
            except httpx.TransportError as exc:
                self._observe(self.label, "unreachable")
                error = Transient(self.system, f"{method} {path} failed ({type(exc).__name__})")
                if not idempotent:
                    raise error from None
            else:
                log.debug("%s %s %s -> %s", self.system, method, path, response.status_code)
                accepted = response.is_success and (ok is None or ok(response))
                self._observe(self.label, "ok" if accepted else self._failed(response))
                if accepted:
                    return response
                status = response.status_code
                if status == 401 and self._on_unauthorized is not None and not reauthed:
                    reauthed = True
                    await self._on_unauthorized()
                    continue
                if status == 429:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    if wait > self.max_inline_wait or attempt > self.max_retries:
                        raise RateLimited(self.system, f"rate limited on {method} {path}", wait)
                    await asyncio.sleep(wait + random.uniform(0, wait * self.retry_after_jitter))
                    continue
                if status in self.throttle_statuses and response.headers.get("Retry-After"):
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    if wait > self.max_inline_wait or attempt > self.max_retries:
                        raise RateLimited(self.system, f"{method} {path} was throttled (HTTP {status})", wait)
                    await asyncio.sleep(wait + random.uniform(0, wait * self.retry_after_jitter))
                    continue
                if status in RETRY_STATUSES:
                    error = Transient(self.system, f"{method} {path}: {error_reason(response)}")
                    if not idempotent:
                        raise error
                elif status == 404:
                    raise NotFound(self.system, f"{method} {path}: {error_reason(response)}")
                else:
                    raise Permanent(self.system, f"{method} {path}: {error_reason(response)}")
            if attempt > self.max_retries:
                raise error
            await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self.backoff_base, self.backoff_max)

    def _failed(self, response: httpx.Response) -> Outcome:
        """What :meth:`request` makes of an answer it does not accept, as an outcome to observe."""
        status = response.status_code
        if status < 400:
            return "refused"  # a 2xx whose body the caller's ``ok`` turned down, or a redirect not followed
        throttled = status in self.throttle_statuses and bool(response.headers.get("Retry-After"))
        if status in RETRY_STATUSES and not throttled:
            return "transient"
        return outcome_of_status(status, throttled=throttled)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise Permanent(self.system, f"{method} {path} answered with a body that is not JSON") from None


def hook(client: httpx.AsyncClient, event: str, handler: Callable[..., Awaitable[Any]]) -> None:
    """Install an httpx event hook ("request" or "response") on a client an adapter may share with others."""
    client.event_hooks.setdefault(event, []).append(handler)


def unhook(client: httpx.AsyncClient, event: str, handler: Callable[..., Awaitable[Any]]) -> None:
    """Take an adapter's hook off a client again (on close), leaving the hooks of others."""
    hooks = client.event_hooks.get(event, [])
    if handler in hooks:
        hooks.remove(handler)


class TokenCache:
    """An access token fetched when first needed and reused until shortly before it expires (10 % of its life, at
    most a minute); :meth:`forget` drops it (after a 401). One fetch at a time; a rate limit or a transient failure
    of the token endpoint is retried like an API call.

    ``fetch`` returns ``(token, lifetime in seconds)`` and raises :mod:`warroom.adapters.errors` only.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[tuple[str, float]]],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_retries: int = 4,
        max_inline_wait: float = 5.0,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        #: Tokens fetched so far (for tests and benchmarks).
        self.fetches = 0

    def forget(self) -> None:
        self._token = None

    async def get(self) -> str:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is not None and self._clock() < self._expires_at:
                return self._token
            attempt = 0
            while True:
                attempt += 1
                try:
                    self.fetches += 1
                    token, lifetime = await self._fetch()
                    break
                except RateLimited as exc:
                    if exc.retry_after > self.max_inline_wait or attempt > self.max_retries:
                        raise
                    await asyncio.sleep(exc.retry_after)
                except Permanent:
                    raise
                except Transient:
                    if attempt > self.max_retries:
                        raise
                    await asyncio.sleep(backoff(attempt))
            self._token = token
            self._expires_at = self._clock() + lifetime - min(60.0, lifetime * 0.1)
            return token
