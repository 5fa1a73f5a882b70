"""The postmortem's review: its state (draft → in review → published), the reviewers and their approvals, the
comments, the published versions (immutable: a row is written once and never changed), and the review's edits of
the incident's timeline (an entry hidden, a time corrected, a fact added)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .repos import upsert_insert
from .schema import postmortem_comments, postmortem_reviewers, postmortem_versions, postmortems, timeline

#: The postmortem's states.
DRAFT, IN_REVIEW, PUBLISHED = "draft", "in_review", "published"


class PostmortemRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    # -- state ---------------------------------------------------------------------------------------
    async def state(self, incident_id: int) -> str | None:
        """The draft's state; None when the incident has no postmortem."""
        found = (await self.conn.execute(
            select(postmortems.c.state).where(postmortems.c.incident_id == incident_id)
        )).scalar()
        return str(found) if found is not None else None

    async def set_state(self, incident_id: int, state: str) -> None:
        await self.conn.execute(
            update(postmortems).where(postmortems.c.incident_id == incident_id).values(state=state, updated_at=self.now)
        )

    # -- reviewers -----------------------------------------------------------------------------------
    async def add_reviewer(self, incident_id: int, reviewer: str, display: str, *, by: str | None) -> bool:
        """Ask ``reviewer`` (an email or a chat key) to review; True when newly asked. Asking again clears an
        earlier approval: the text may have changed since."""
        stmt = upsert_insert(self.dialect, postmortem_reviewers).values(
            incident_id=incident_id, reviewer=reviewer[:320], display=display[:255], requested_by=by,
            requested_at=self.now, approved_at=None,
        )
        existed = (await self.conn.execute(select(postmortem_reviewers.c.id).where(
            postmortem_reviewers.c.incident_id == incident_id, postmortem_reviewers.c.reviewer == reviewer[:320]
        ))).first()
        await self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["incident_id", "reviewer"],
            set_={"display": display[:255], "requested_by": by, "requested_at": self.now, "approved_at": None},
        ))
        return existed is None

    async def reviewers(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(postmortem_reviewers).where(postmortem_reviewers.c.incident_id == incident_id)
            .order_by(postmortem_reviewers.c.id)
        )
        return [dict(r) for r in rows.mappings()]

    async def approve(self, incident_id: int, reviewers: list[str]) -> list[dict[str, Any]]:
        """Approve as the first of ``reviewers`` (the actor's keys: email, chat key) who is asked; returns the rows
        approved (none: the actor is not a reviewer)."""
        rows = (await self.conn.execute(
            update(postmortem_reviewers)
            .where(postmortem_reviewers.c.incident_id == incident_id, postmortem_reviewers.c.reviewer.in_(reviewers))
            .values(approved_at=self.now)
            .returning(*postmortem_reviewers.c)
        )).mappings().all()
        return [dict(r) for r in rows]

    async def clear_approvals(self, incident_id: int) -> None:
        await self.conn.execute(
            update(postmortem_reviewers).where(postmortem_reviewers.c.incident_id == incident_id)
            .values(approved_at=None)
        )

    # -- comments ------------------------------------------------------------------------------------
    async def comment(self, incident_id: int, author: str, text: str) -> None:
        await self.conn.execute(insert(postmortem_comments).values(
            incident_id=incident_id, author=author[:320], text=text, created_at=self.now
        ))

    async def comments(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(postmortem_comments).where(postmortem_comments.c.incident_id == incident_id)
            .order_by(postmortem_comments.c.id)
        )
        return [dict(r) for r in rows.mappings()]

    # -- published versions -------------------------------------------------------------------------
    async def publish(self, incident_id: int, markdown: str, *, by: str | None) -> int:
        """Write the next version (1, 2, …); returns its number. Versions are never updated."""
        last = (await self.conn.execute(
            select(func.max(postmortem_versions.c.version)).where(postmortem_versions.c.incident_id == incident_id)
        )).scalar()
        number = int(last or 0) + 1
        await self.conn.execute(insert(postmortem_versions).values(
            incident_id=incident_id, version=number, markdown=markdown, published_by=by, published_at=self.now
        ))
        return number

    async def version(self, incident_id: int, number: int | None = None) -> dict[str, Any] | None:
        """One published version, or the latest (``number`` None); None when there is none."""
        query = select(postmortem_versions).where(postmortem_versions.c.incident_id == incident_id)
        if number is not None:
            query = query.where(postmortem_versions.c.version == number)
        row = (await self.conn.execute(query.order_by(postmortem_versions.c.version.desc()).limit(1))).mappings().first()
        return dict(row) if row else None

    # -- the timeline's edits ------------------------------------------------------------------------
    async def entry(self, incident_id: int, entry_id: int) -> dict[str, Any] | None:
        row = (await self.conn.execute(
            select(timeline).where(timeline.c.incident_id == incident_id, timeline.c.id == entry_id)
        )).mappings().first()
        return dict(row) if row else None

    async def hide(self, entry_id: int) -> None:
        await self.conn.execute(update(timeline).where(timeline.c.id == entry_id).values(hidden=1))

    async def correct_time(self, entry_id: int, at: datetime) -> None:
        await self.conn.execute(update(timeline).where(timeline.c.id == entry_id).values(corrected_at=at))

    async def add_fact(self, incident_id: int, text: str, *, at: datetime | None, actor: str | None) -> None:
        """A fact for the postmortem's timeline: an entry of kind ``fact`` recorded now, its time ``at`` (the
        corrected time) when given."""
        await self.conn.execute(insert(timeline).values(
            incident_id=incident_id, at=self.now, kind="fact", actor=actor, text=text, data={"origin": "review"},
            corrected_at=at,
        ))

    async def edits(self, incident_id: int) -> tuple[set[int], dict[int, datetime]]:
        """(hidden entry ids, entry id → corrected time) of the incident's timeline."""
        rows = await self.conn.execute(
            select(timeline.c.id, timeline.c.hidden, timeline.c.corrected_at).where(
                timeline.c.incident_id == incident_id,
                (timeline.c.hidden != 0) | timeline.c.corrected_at.is_not(None),
            )
        )
        hidden: set[int] = set()
        corrected: dict[int, datetime] = {}
        for entry_id, is_hidden, at in rows:
            if is_hidden:
                hidden.add(int(entry_id))
            if at is not None:
                corrected[int(entry_id)] = at
        return hidden, corrected
