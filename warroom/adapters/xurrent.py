"""Xurrent (formerly 4me) ITSM over its REST API: the :class:`~warroom.adapters.ports.ItsmPort` of the link engine.

Based on developer.xurrent.com/v1: client-credentials tokens from ``POST {oauth}/token`` (1 hour), every call with
``Authorization: Bearer`` and ``X-Xurrent-Account``; collections paginated by the ``Link`` header; errors as
``{"message": …}`` and validation errors as 422 ``{"message": "Validation Failed", "errors": [[field, message]…]}``.

- Tokens come from authlib's ``AsyncOAuth2Client`` (form-encoded ``client_secret_post``, as existing clients send),
  are cached and fetched again a little before they expire (10 % of their life, at most a minute) and once on a
  401 (JsonApi's ``on_unauthorized``).
- Every API call goes through :class:`~warroom.adapters.http.JsonApi`: 429 + Retry-After waited inline when short,
  else :class:`~warroom.adapters.errors.RateLimited`; 5xx retried with backoff, then
  :class:`~warroom.adapters.errors.Transient`; a 422 becomes :class:`~warroom.adapters.errors.Permanent` whose
  reason lists Xurrent's validation messages.
- Browser links (:meth:`XurrentClient.request_url`, the cards' "Open ITSM request") start at ``web_url``; from
  settings that is :meth:`XurrentSettings.web_base`: the account's host in its region and environment
  (``https://<account>.uk.xurrent.com``), the host the webhook issuer is on, whatever ``api_url`` points at.
- The REST field for the external key is ``sourceID``. Callers (and the sync mapping) may write ``source_ID``; it
  is sent as ``sourceID``.
- :meth:`XurrentClient.find_request_by_source` uses the server-side filter ``GET /requests?source=…&sourceID=…``
  (both fields are documented as filterable), checks each answer really carries that source and sourceID (an
  unknown filter would be ignored by Xurrent and return everything), and reads the full record of the match —
  two calls.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from warroom.settings import XurrentSettings

from .errors import AdapterError, NotFound, Permanent, RateLimited, Transient
from .http import JsonApi, TokenCache, error_reason, hook, retry_after_seconds, unhook
from .oauth import AsyncOAuth2Client, OAuthError
from .observe import CallObserver, Outcome, ignore, outcome_of_error
from .ports import Person

SYSTEM = "Xurrent"
#: Page size asked for when walking collections (Xurrent's maximum).
PER_PAGE = 100


class XurrentClient:
    """Xurrent's REST API for the link engine. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    def __init__(
        self,
        *,
        api_url: str,
        oauth_url: str,
        account: str,
        client_id: str,
        client_secret: str,
        web_url: str,
        source: str = "warroom",
        timeout: float = 15.0,
        max_retries: int = 4,
        max_inline_wait: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        observe: CallObserver = ignore,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._observe = observe
        self.token_url = f"{oauth_url.rstrip('/')}/token"
        self.account = account
        self.source = source
        self.web_url = web_url.rstrip("/")
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        self._clock = clock
        http = client or httpx.AsyncClient(timeout=timeout)
        hook(http, "response", self._refuse_invalid)
        self.api = JsonApi(
            SYSTEM,
            self.api_url,
            client=http,
            timeout=timeout,
            max_retries=max_retries,
            max_inline_wait=max_inline_wait,
            auth=self._auth_headers,
            on_unauthorized=self._forget_token,
            observe=observe,
        )
        self._own_http = client is None
        self._http = http
        self._oauth = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_post",
            timeout=timeout,
        )
        self._oauth.register_compliance_hook("access_token_response", self._check_token_response)
        self._tokens = TokenCache(self._fetch_token, clock=clock, max_retries=max_retries,
                                  max_inline_wait=max_inline_wait)
        self._api_person_id: int | None = None

    @classmethod
    def from_settings(cls, settings: XurrentSettings, *, observe: CallObserver = ignore) -> XurrentClient:
        api_url, oauth_url = settings.hosts()
        secret = settings.client_secret.get_secret_value() if settings.client_secret is not None else ""
        return cls(
            api_url=api_url,
            oauth_url=oauth_url,
            account=settings.account,
            client_id=settings.client_id,
            client_secret=secret,
            web_url=settings.web_base(),
            source=settings.source,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            observe=observe,
        )

    @property
    def calls(self) -> int:
        """API calls made (each retry counts), not counting token requests."""
        return self.api.calls

    async def aclose(self) -> None:
        unhook(self._http, "response", self._refuse_invalid)
        await self.api.aclose()
        await self._oauth.aclose()

    # -- tokens -------------------------------------------------------------------------------------
    async def _auth_headers(self) -> Mapping[str, str]:
        token = await self._tokens.get()
        return {"Authorization": f"Bearer {token}", "X-Xurrent-Account": self.account, "Accept": "application/json"}

    async def _forget_token(self) -> None:
        self._tokens.forget()

    @property
    def token_fetches(self) -> int:
        """Access tokens fetched so far (for tests and benchmarks)."""
        return self._tokens.fetches

    async def _fetch_token(self) -> tuple[str, float]:
        outcome: Outcome = "ok"
        try:
            token = await self._oauth.fetch_token(self.token_url, grant_type="client_credentials")
        except AdapterError as exc:  # the token endpoint's refusal, translated by the compliance hook
            outcome = outcome_of_error(exc)
            raise
        except httpx.TimeoutException:
            outcome = "unreachable"
            raise Transient(SYSTEM, "the token request timed out") from None
        except httpx.TransportError as exc:
            outcome = "unreachable"
            raise Transient(SYSTEM, f"the token request failed to connect ({type(exc).__name__})") from None
        except (OAuthError, ValueError, httpx.HTTPError) as exc:
            outcome = "refused"
            raise Permanent(SYSTEM, f"the token endpoint gave an unusable answer ({type(exc).__name__})") from None
        finally:
            self._observe(self.api.label, outcome)
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise Permanent(SYSTEM, "the token endpoint answered without an access_token")
        return access, float(token.get("expires_in") or 3600)

    def _check_token_response(self, response: httpx.Response) -> httpx.Response:
        """Translate a failed token response into warroom's errors (authlib would otherwise take any JSON)."""
        status = response.status_code
        if response.is_success:
            return response
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise RateLimited(SYSTEM, "rate limited on the token request", wait)
        if status >= 500 or status == 408:
            raise Transient(SYSTEM, f"the token request failed: {error_reason(response)}")
        if status in (400, 401):
            raise Permanent(
                SYSTEM,
                f"Xurrent refused the client credentials ({_oauth_reason(response)}): check xurrent.client_id and "
                "the client secret (WARROOM_XURRENT__CLIENT_SECRET), and that the OAuth application uses the "
                "Client Credentials grant.",
            )
        raise Permanent(SYSTEM, f"the token request failed: {error_reason(response)}")

    async def _refuse_invalid(self, response: httpx.Response) -> None:
        """httpx response hook: a 422 from the API becomes Permanent with Xurrent's validation messages."""
        if response.status_code != 422 or not str(response.request.url).startswith(self.api_url):
            return
        await response.aread()
        try:
            body = response.json()
        except ValueError:
            body = None
        messages: list[str] = []
        if isinstance(body, dict):
            for item in body.get("errors") or []:
                if isinstance(item, list) and item:
                    messages.append(str(item[-1]))
                elif item:
                    messages.append(str(item))
            headline = str(body.get("message") or "Validation Failed")
        else:
            headline = "Validation Failed"
        path = response.request.url.path.removeprefix(urlsplit(self.api_url).path)
        detail = "; ".join(messages) if messages else headline
        raise Permanent(SYSTEM, f"{response.request.method} {path} was refused ({headline}): {detail}.")

    # -- collections --------------------------------------------------------------------------------
    async def paginate(
        self, path: str, params: Mapping[str, str] | None = None, *, per_page: int = PER_PAGE
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a collection, following the ``Link`` header's ``rel="next"`` page by page."""
        url: str | None = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": per_page}
        origin = urlsplit(self.api_url).netloc
        while url is not None:
            response = await self.api.request("GET", url, params=query)
            try:
                page = response.json()
            except ValueError:
                raise Permanent(SYSTEM, f"GET {path} answered with a body that is not JSON") from None
            if not isinstance(page, list):
                raise Permanent(SYSTEM, f"GET {path} did not answer with a list")
            for item in page:
                if isinstance(item, dict):
                    yield item
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the whole query
            if url is not None and urlsplit(url).netloc != origin:
                raise Permanent(SYSTEM, f"GET {path}: the next page is on another host ({urlsplit(url).netloc}); not following it")

    # -- ItsmPort -----------------------------------------------------------------------------------
    async def find_person(self, email: str) -> Person | None:
        params = {"primary_email": email, "fields": "name,primary_email"}
        async for person in self.paginate("people", params, per_page=10):
            if str(person.get("primary_email", "")).lower() == email.lower():
                return Person(id=int(person["id"]), name=str(person.get("name") or email), email=email)
        return None

    async def get_person(self, person_id: int) -> Person | None:
        try:
            person = await self._record("GET", f"people/{int(person_id)}")
        except NotFound:
            return None
        email = str(person.get("primary_email") or "")
        return Person(id=int(person["id"]), name=str(person.get("name") or email), email=email.lower())

    async def create_request(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        body = _outbound(fields)
        body.setdefault("source", self.source)
        return await self._record("POST", "requests", json=body)

    async def find_request_by_source(self, source: str, source_id: str) -> dict[str, Any] | None:
        params = {"source": source, "sourceID": source_id, "fields": "source,sourceID"}
        found = [
            int(r["id"])
            async for r in self.paginate("requests", params)
            if r.get("source") == source and r.get("sourceID") == source_id
        ]
        if not found:
            return None
        return await self.get_request(min(found))

    async def get_request(self, request_id: int) -> dict[str, Any]:
        return await self._record("GET", f"requests/{int(request_id)}")

    async def update_request(self, request_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        return await self._record("PATCH", f"requests/{int(request_id)}", json=_outbound(fields))

    async def add_note(self, request_id: int, text: str, *, internal: bool = False) -> int:
        note = await self._record("POST", f"requests/{int(request_id)}/notes", json={"text": text, "internal": internal})
        return int(note["id"])

    async def list_notes(self, request_id: int) -> list[dict[str, Any]]:
        return [note async for note in self.paginate(f"requests/{int(request_id)}/notes")]

    def request_url(self, request_id: int) -> str:
        return f"{self.web_url}/requests/{int(request_id)}"

    # -- more reads (reconciliation, checks) --------------------------------------------------------
    def requests(self, filters: Mapping[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Requests matching Xurrent filters, e.g. ``{"updated_at": ">=2026-01-15T23:00:00Z"}``."""
        return self.paginate("requests", filters)

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new record to a collection (webhook policies, webhooks)."""
        return await self._record("POST", path, json=dict(body))

    async def confirm_webhook(self, callback_url: str) -> None:
        api, target = urlsplit(self.api_url), urlsplit(callback_url)
        if target.scheme not in ("https", "http") or target.netloc.split(":")[0].split(".", 1)[-1] != api.netloc.split(":")[0].split(".", 1)[-1]:
            raise Permanent(SYSTEM, f"the webhook.verify callback is not on Xurrent's host ({target.netloc}); not calling it")
        await self.api.request("GET", callback_url)

    async def api_person_id(self) -> int:
        if self._api_person_id is None:
            self._api_person_id = int((await self.me())["id"])
        return self._api_person_id

    async def me(self) -> dict[str, Any]:
        """The person the OAuth application acts as (a cheap check that credentials and account work)."""
        return await self._record("GET", "me")

    async def check_credentials(self) -> None:
        """Fetch an access token now: the token endpoint and the client credentials, without an API call."""
        self._tokens.forget()
        await self._tokens.get()

    async def service_instance(self, service_instance_id: int) -> dict[str, Any]:
        """A service instance (:class:`NotFound` when the account has none with that id)."""
        return await self._record("GET", f"service_instances/{int(service_instance_id)}")

    async def _record(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await self.api.json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise Permanent(SYSTEM, f"{method} /{path} did not answer with a record")
        return body


def _oauth_reason(response: httpx.Response) -> str:
    """``invalid_client: Client authentication failed.`` from an RFC 6749 error body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        description = body.get("error_description")
        return f"{body['error']}: {description}" if description else str(body["error"])
    return error_reason(response)


def _outbound(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A request body in Xurrent's REST names (``source_ID`` → ``sourceID``)."""
    body = dict(fields)
    if "source_ID" in body:
        source_id = body.pop("source_ID")
        body.setdefault("sourceID", source_id)
    return body
