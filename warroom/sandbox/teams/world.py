"""The Teams part of the sandbox world: one tenant served by the Graph and Bot Connector emulators, seeded with
the world's people (everyone but the contractor has a Teams account), a team per service with the bot installed,
and a user who organises the Teams meetings used as bridges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base import EmulatorConfig
from .connector import ConnectorEmulator
from .graph import GraphEmulator
from .tenant import TeamsTenant

TEAMS_SECRET = "teams-sandbox-secret"
#: Fixed ids, so that a demo's settings and the emulated Teams client can name the same tenant and bot.
TENANT_ID = "72f988bf-0000-4000-8000-00000000cafe"
BOT_APP_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
#: The service account whose Teams meetings serve as bridges (granted an application access policy).
ORGANIZER = ("Warroom Bridges", "bridges@example.com")
NOT_IN_TEAMS = {"fay@contractor.example"}


@dataclass
class TeamsWorld:
    tenant: TeamsTenant
    graph: GraphEmulator
    connector: ConnectorEmulator
    #: service name → its team's id.
    team_ids: dict[str, str] = field(default_factory=dict)
    #: email → Entra object id.
    user_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, graph: EmulatorConfig | None = None, connector: EmulatorConfig | None = None) -> TeamsWorld:
        tenant = TeamsTenant(tenant_id=TENANT_ID, app_id=BOT_APP_ID, app_secret=TEAMS_SECRET)
        return cls(tenant, GraphEmulator(tenant, graph), ConnectorEmulator(tenant, connector))

    async def start(self, people: Mapping[str, str], services: Iterable[str]) -> None:
        """Start both emulators; ``people`` maps names to emails."""
        await self.graph.start()
        await self.connector.start()
        for name, email in people.items():
            if email not in NOT_IN_TEAMS:
                self.user_ids[email] = self.tenant.add_user(email, name)
        organizer = self.tenant.add_user(ORGANIZER[1], ORGANIZER[0])
        self.user_ids[ORGANIZER[1]] = organizer
        self.tenant.policy_users.add(organizer)
        members = [u for e, u in self.user_ids.items() if e != ORGANIZER[1]]
        for service in services:
            self.team_ids[service] = self.tenant.add_team(f"{service} incidents", members)

    async def stop(self) -> None:
        await self.graph.stop()
        await self.connector.stop()

    def settings(self, *, enabled: bool = False) -> dict[str, Any]:
        """The ``teams`` section pointing warroom at this tenant (secrets included, for the sandbox)."""
        return {
            "enabled": enabled,
            "app_id": self.tenant.app_id,
            "app_password": TEAMS_SECRET,
            "tenant_id": self.tenant.tenant_id,
            "graph_url": f"{self.graph.base_url}/v1.0",
            "login_url": f"{self.graph.base_url}/{{tenant}}/oauth2/v2.0/token",
            "service_url": self.connector.service_url,
            "meeting_organizer": ORGANIZER[1],
            "catalog_app_id": self.tenant.catalog_app_id,
        }
