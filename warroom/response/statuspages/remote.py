"""Pages mirrored to Atlassian Statuspage (being built: see issue 15)."""

from __future__ import annotations

from warroom.settings import Settings
from warroom.settings.model import StatusPageSettings
from warroom.store.db import Tx


async def component_changed(tx: Tx, settings: Settings, page: str, component: str, status: str) -> None:
    """A component of ``page`` took ``status`` (in the transaction that changed it)."""


async def update_published(tx: Tx, page: StatusPageSettings, incident_id: int, update_id: int) -> None:
    """An update was published on ``page`` (in the transaction that published it)."""
