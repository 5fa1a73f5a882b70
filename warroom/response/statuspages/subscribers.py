"""A status page's subscribers (being built: see issue 15)."""

from __future__ import annotations

from warroom.settings.model import StatusPageSettings
from warroom.store.db import Tx


async def update_published(tx: Tx, page: StatusPageSettings, incident_id: int, update_id: int) -> None:
    """An update was published on ``page`` (in the transaction that published it)."""
