"""The sandbox Xurrent server: :class:`XurrentEmulator` puts the model, the OAuth host, the gated ``/v1`` API and
the webhooks on one loopback server (the package docstring says what it emulates and on what it is based).
"""

from __future__ import annotations

from aiohttp import web

from ..base import EmulatorConfig, Handler, SlidingWindow
from .api import XurrentApi
from .delivery import DeliveryConfig
from .oauth import XurrentOAuth
from .webhooks import WebhookHub


class XurrentEmulator(XurrentApi, XurrentOAuth):
    name = "xurrent"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        account: str = "wdc",
        client_id: str = "warroom-sandbox",
        client_secret: str = "sandbox-secret",
        token_lifetime: int = 3600,
        hourly_limit: int = 3600,
        burst_limit: int = 20,
        burst_window: float = 2.0,
        issuer: str | None = None,
        webhook_delivery: DeliveryConfig | None = None,
    ) -> None:
        super().__init__(config, account=account)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.hourly_limit = hourly_limit
        self.burst_limit = burst_limit
        self.burst_window = burst_window
        self._tokens: dict[str, tuple[str, float]] = {}  # token → (client_id, expires_at epoch)
        self._hour: dict[str, tuple[float, int]] = {}  # rate key → (window start epoch, count)
        self._burst = SlidingWindow(burst_limit, burst_window)
        #: Webhook policies, webhooks and their signed deliveries (settle(), deliveries, create_webhook(), …).
        self.webhooks: WebhookHub = WebhookHub(self, issuer=issuer, config=webhook_delivery)
        self.listeners.append(self.webhooks.on_audit)
        self._routes()

    async def stop(self) -> None:
        await self.webhooks.close()
        await super().stop()

    # -- HTTP: routes -------------------------------------------------------------------------------
    def _routes(self) -> None:
        self.route("POST", "/token", "POST /token", self._token)
        api: list[tuple[str, str, str, Handler]] = [
            ("GET", "/v1/requests", "GET /requests", self._list_requests),
            ("GET", "/v1/requests/open", "GET /requests/open", self._list_open_requests),
            ("POST", "/v1/requests", "POST /requests", self._post_request),
            ("GET", "/v1/requests/{id:\\d+}", "GET /requests/:id", self._get_request),
            ("PATCH", "/v1/requests/{id:\\d+}", "PATCH /requests/:id", self._patch_request),
            ("PUT", "/v1/requests/{id:\\d+}", "PATCH /requests/:id", self._patch_request),
            ("GET", "/v1/requests/{id:\\d+}/notes", "GET /requests/:id/notes", self._list_notes),
            ("GET", "/v1/requests/{id:\\d+}/notes/{which:public|internal}", "GET /requests/:id/notes", self._list_notes),
            ("POST", "/v1/requests/{id:\\d+}/notes", "POST /requests/:id/notes", self._post_note),
            ("GET", "/v1/people", "GET /people", self._list_people),
            ("GET", "/v1/people/{id:\\d+}", "GET /people/:id", self._get_person),
            ("GET", "/v1/me", "GET /me", self._get_me),
            ("GET", "/v1/service_instances/{id:\\d+}", "GET /service_instances/:id", self._get_service_instance),
            ("GET", "/v1/teams/{id:\\d+}", "GET /teams/:id", self._get_team),
        ]
        for method, path, op, handler in api:
            self.route(method, path, op, self._api(handler))
        self.webhooks.mount()
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)
        self.app.router.add_route("*", "/v1/{tail:.*}", self._api(self._not_found))

    async def _state_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())
