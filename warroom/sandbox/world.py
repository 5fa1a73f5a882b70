"""A whole sandbox world: every emulator started on loopback, seeded with the same people and services, and the
settings that point warroom at them. Used by ``warroom demo``, the end-to-end tests and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import EmulatorConfig
from .llm import LlmEmulator
from .oidc import CLIENT_ID as OIDC_CLIENT_ID
from .oidc import OidcEmulator
from .slack import SlackEmulator
from .smtp import SmtpEmulator
from .statuspage import StatuspageEmulator
from .teams.world import TeamsWorld
from .twilio import TwilioEmulator
from .webex import WebexEmulator
from .xurrent import XurrentEmulator
from .xurrent.delivery import DeliveryConfig
from .zoom import ZoomEmulator

SLACK_TOKEN = "xoxb-sandbox-token"
SLACK_SIGNING_SECRET = "sandbox-signing-secret"
XURRENT_SECRET = "sandbox-secret"
ZOOM_SECRET = "zoom-secret"
WEBEX_TOKEN = "webex-sandbox-token"
INTAKE_TOKEN = "sandbox-intake-token"
LLM_KEY = "sk-sandbox-key"
LLM_MODEL = "sandbox-model"
LINK_SECRET = "sandbox-link-secret"
STATUSPAGE_KEY = "statuspage-sandbox-key"
OIDC_SECRET = "oidc-sandbox-secret"
#: The sandbox's Statuspage pace: a request every 20 ms (Statuspage's 1 request/s would make the tests crawl); the
#: emulator's limit is raised to match, so a client that keeps this pace never meets it.
STATUSPAGE_PACE = 0.02
#: The components of the sandbox's Statuspage page (its page is made at start: World.statuspage_page).
STATUSPAGE_COMPONENTS = ("Checkout", "Payments", "Search")
#: Socket Mode in the sandbox: pings every 5 s (Slack's client default is 10 s). The client gives up on a connection
#: whose pong is 2.5 s late: a test that needs a connection lost without a close frame noticed sooner sets less.
SOCKET_PING_SECONDS = 5.0

#: The demo organisation: name → email. Everyone is in Slack; all but the last are people in Xurrent.
PEOPLE = {
    "Ana Ops": "ana@example.com",
    "Ben Backend": "ben@example.com",
    "Chen DBA": "chen@example.com",
    "Dana Director": "dana@example.com",
    "Eli Network": "eli@example.com",
    "Fay Contractor": "fay@contractor.example",
}
NOT_IN_XURRENT = {"fay@contractor.example"}


@dataclass
class Latencies:
    slack: float = 0.0
    xurrent: float = 0.0
    zoom: float = 0.0
    webex: float = 0.0
    #: Microsoft Graph and the Bot Connector.
    teams: float = 0.0


@dataclass
class World:
    slack: SlackEmulator
    xurrent: XurrentEmulator
    zoom: ZoomEmulator
    webex: WebexEmulator
    service_instances: dict[str, int] = field(default_factory=dict)
    #: email → Xurrent person id, for acting as someone on the service desk.
    xurrent_people: dict[str, int] = field(default_factory=dict)
    #: Microsoft Teams: the tenant, Graph and the Bot Connector (Teams is off in settings_data unless enabled).
    teams: TeamsWorld = field(default_factory=TeamsWorld.new)
    #: An OpenAI-compatible model endpoint (the AI responder uses it when ai.enabled is set).
    llm: LlmEmulator = field(default_factory=lambda: LlmEmulator(api_keys=(LLM_KEY,), models=(LLM_MODEL,)))
    #: The mail relay page emails go through, and Twilio (SMS and calls); warroom uses them when on-call is set up.
    smtp: SmtpEmulator = field(default_factory=SmtpEmulator)
    twilio: TwilioEmulator = field(default_factory=TwilioEmulator)
    #: Atlassian Statuspage, with a page (:attr:`statuspage_page`) whose components are :data:`STATUSPAGE_COMPONENTS`
    #: (name → id: :attr:`statuspage_components`); warroom mirrors a page there when a test or the demo maps it.
    statuspage: StatuspageEmulator = field(default_factory=lambda: StatuspageEmulator(api_key=STATUSPAGE_KEY))
    statuspage_page: str = ""
    statuspage_components: dict[str, str] = field(default_factory=dict)
    #: The organisation's OpenID Connect identity provider (the web console signs in with it), knowing :data:`PEOPLE`.
    oidc: OidcEmulator = field(default_factory=lambda: OidcEmulator(client_secret=OIDC_SECRET))

    @classmethod
    async def start(cls, latencies: Latencies | None = None, *, rate_limits: bool = True) -> World:
        lat = latencies or Latencies()

        def cfg(seconds: float) -> EmulatorConfig:
            return EmulatorConfig(latency={"*": seconds} if seconds else {}, rate_limits=rate_limits)

        world = cls(
            slack=SlackEmulator(cfg(lat.slack), bot_token=SLACK_TOKEN),
            # Xurrent's retry schedule (10 s, 30 s, 60 s, …) at a hundredth: a refused delivery is retried three
            # times within a second instead of keeping the sandbox busy for an hour
            xurrent=XurrentEmulator(cfg(lat.xurrent), client_secret=XURRENT_SECRET,
                                    webhook_delivery=DeliveryConfig(retry_scale=0.01, max_attempts=4)),
            zoom=ZoomEmulator(cfg(lat.zoom), client_secret=ZOOM_SECRET),
            webex=WebexEmulator(cfg(lat.webex), token=WEBEX_TOKEN),
            teams=TeamsWorld.new(cfg(lat.teams), cfg(lat.teams)),
            statuspage=StatuspageEmulator(cfg(0.0), api_key=STATUSPAGE_KEY),
        )
        for emulator in (world.slack, world.xurrent, world.zoom, world.webex):
            await emulator.start()
        for name, email in PEOPLE.items():
            world.slack.add_user(email, name)
            if email not in NOT_IN_XURRENT:
                world.xurrent_people[email] = world.xurrent.add_person(email, name)
        team = world.xurrent.add_team("Operations")
        for service in ("checkout-api", "payments"):
            world.service_instances[service] = world.xurrent.add_service_instance(f"{service} (production)", team_id=team)
        await world.teams.start(PEOPLE, ("checkout-api", "payments"))
        await world.llm.start()
        await world.smtp.start()
        await world.twilio.start()
        await world.statuspage.start()
        await world.oidc.start()
        for name, email in PEOPLE.items():
            world.oidc.add_person(email, name)
        world.statuspage.limit = round(world.statuspage.window / STATUSPAGE_PACE)
        world.statuspage_page = world.statuspage.add_page("Sandbox Status")
        world.statuspage_components = {
            name: world.statuspage.add_component(world.statuspage_page, name) for name in STATUSPAGE_COMPONENTS
        }
        return world

    async def stop(self) -> None:
        for emulator in (self.slack, self.xurrent, self.zoom, self.webex):
            await emulator.stop()
        await self.teams.stop()
        await self.smtp.stop()
        await self.twilio.stop()
        await self.llm.stop()
        await self.statuspage.stop()
        await self.oidc.stop()

    def settings_data(self, database_url: str, *, port: int = 0, slack_mode: str = "http") -> dict[str, Any]:
        """Configuration (as the YAML file would hold it, secrets included for the sandbox) for this world.

        ``slack_mode="socket"``: Slack reaches warroom over Socket Mode (the emulator's app-level token; no signing
        secret, so the postmortem links get a secret of their own)."""
        data = self._settings_data(database_url, port=port)
        if slack_mode == "socket":
            slack = data["slack"]
            del slack["signing_secret"]
            slack.update(mode="socket", app_token=self.slack.socket.app_token, socket_ping_seconds=SOCKET_PING_SECONDS)
            data["server"]["link_secret"] = LINK_SECRET
        elif slack_mode != "http":
            raise ValueError(f"slack_mode is 'http' or 'socket', not {slack_mode!r}")
        return data

    def _settings_data(self, database_url: str, *, port: int) -> dict[str, Any]:
        return {
            "server": {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
            "database": {"url": database_url},
            "worker": {"poll_interval": 0.2, "backoff_base": 0.05, "backoff_max": 2.0, "lease_seconds": 30},
            "slack": {
                "api_url": f"{self.slack.base_url}/api/",
                "team_url": f"{self.slack.base_url}/",
                "bot_token": SLACK_TOKEN,
                "signing_secret": SLACK_SIGNING_SECRET,
            },
            "xurrent": {
                "account": self.xurrent.account,
                "api_url": f"{self.xurrent.base_url}/v1",
                "oauth_url": self.xurrent.base_url,
                "web_url": f"{self.xurrent.base_url}/web",
                "client_id": self.xurrent.client_id,
                "client_secret": XURRENT_SECRET,
            },
            "zoom": {
                "api_url": f"{self.zoom.base_url}/v2",
                "oauth_url": f"{self.zoom.base_url}/oauth/token",
                "account_id": self.zoom.account_id,
                "client_id": self.zoom.client_id,
                "client_secret": ZOOM_SECRET,
            },
            "webex": {"api_url": f"{self.webex.base_url}/v1", "token": WEBEX_TOKEN},
            "smtp": self.smtp.settings(),
            "twilio": self.twilio.settings(),
            "statuspage": {"api_url": f"{self.statuspage.base_url}/v1", "api_key": STATUSPAGE_KEY,
                           "pace_seconds": STATUSPAGE_PACE},
            "teams": self.teams.settings(),
            # the web console signs in with the sandbox's identity provider (warroom's redirect URI is registered
            # there once the server's port is known: Harness.start)
            "console": {"oidc_issuer": self.oidc.issuer, "client_id": OIDC_CLIENT_ID, "client_secret": OIDC_SECRET,
                        "allow_any_account": True},
            "intake": {"digest_seconds": 0.05, "alertmanager_token": INTAKE_TOKEN, "grafana_token": INTAKE_TOKEN, "generic_token": INTAKE_TOKEN,
                       "changes_token": INTAKE_TOKEN},
            # the model is off (the deterministic engine answers) unless a test or the demo sets ai.enabled; the AI
            # responder speaks only when asked (tests count the war room's lines and the request's notes) unless a
            # test or the demo turns its automatic status updates and postmortems on (ai_demo.automatic)
            "ai": {"base_url": f"{self.llm.base_url}/v1", "model": LLM_MODEL, "api_key": LLM_KEY, "timeout": 5.0,
                   "max_retries": 0, "auto_summaries": False, "auto_rca": False,
                   "postmortem_on_resolve": False},
            "services": [
                {
                    "name": "checkout-api",
                    "description": "The checkout API behind the web shop",
                    "responders": ["ana@example.com", "ben@example.com"],
                    "smes": ["chen@example.com", "fay@contractor.example"],
                    "leadership": ["dana@example.com"],
                    "declare_threshold": "P2",
                    "slack": {"bookmarks": {"Runbook": "https://runbooks.example.com/checkout-api"}},
                    "itsm": {
                        "service_instance_id": self.service_instances["checkout-api"],
                        "direction": "bidirectional",
                        "severity_threshold": "P2",
                    },
                    "bridge": "zoom",
                    "teams": {"team_id": self.teams.team_ids["checkout-api"]},
                },
                {
                    "name": "payments",
                    "responders": ["eli@example.com", "ana@example.com"],
                    "leadership": ["dana@example.com"],
                    "itsm": {
                        "service_instance_id": self.service_instances["payments"],
                        "impact_mapping": {"P1": "top", "P2": "top", "P3": "high", "P4": "medium", "P5": "low"},
                        "default_impact": "medium",
                    },
                    "bridge": "webex",
                    "teams": {"team_id": self.teams.team_ids["payments"]},
                },
            ],
        }
