"""The database schema (SQLAlchemy Core). Migrations in ``migrations/`` create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger primary keys autoincrement on PostgreSQL; SQLite needs INTEGER for ROWID aliasing.
Id = BigInteger().with_variant(Integer(), "sqlite")
TS = UTCDateTime()

incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("title", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("priority", String(20)),
    Column("urgency", String(10), nullable=False),
    Column("service", String(63), nullable=False),
    Column("details", Text, nullable=False, default=""),
    Column("assignee", String(320)),
    Column("origin", String(10), nullable=False),
    # Set to the service name while an alert-declared incident is open, NULL otherwise: the unique index
    # makes "one open alert group per service" a database rule, so concurrent alerts never open two.
    Column("alert_group", String(63), unique=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("acknowledged_at", TS),
    Column("resolved_at", TS),
    Column("version", Integer, nullable=False, default=0),
    # A duplicate folded into another incident (``/incident merge``) points at it.
    Column("merged_into", Id, ForeignKey("incidents.id", ondelete="SET NULL")),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    # The occurrence: startsAt as given, or "" when the source has none. A repeat of the same occurrence is a
    # duplicate; a new startsAt after a resolution is a new occurrence.
    Column("occurrence", String(40), nullable=False),
    Column("status", String(10), nullable=False),
    Column("name", String(255), nullable=False),
    Column("summary", Text, nullable=False),
    Column("service", String(63)),
    Column("severity", String(40)),
    Column("priority", String(20)),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("generator_url", Text),
    Column("starts_at", TS),
    Column("ends_at", TS),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="SET NULL")),
    Column("received_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("repeats", Integer, nullable=False, default=0),
    # The status last said in the war room (NULL: never); the alert digest says what differs.
    Column("announced", String(10)),
    UniqueConstraint("source", "fingerprint", "occurrence", name="uq_alerts_occurrence"),
)
Index("ix_alerts_incident", alerts.c.incident_id)
Index("ix_alerts_service_status", alerts.c.service, alerts.c.status)

timeline = Table(
    "timeline",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", TS, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("actor", String(320)),
    Column("text", Text, nullable=False),
    Column("data", JSON, nullable=False),
    # The outside record an event mirrors (a chat message: "slack:C1:1700000000.0001"), so that its edits and
    # deletions find it; NULL for warroom's own events.
    Column("source_key", String(160)),
    # The postmortem review's edits of the timeline: an entry hidden from it, or its time corrected (``at`` keeps
    # the time it was recorded); facts added are entries of kind "fact".
    Column("hidden", Integer, nullable=False, default=0),
    Column("corrected_at", TS),
)
Index("ix_timeline_incident", timeline.c.incident_id, timeline.c.id)
Index("ix_timeline_source", timeline.c.source_key, unique=True)

links = Table(
    "links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("remote_id", String(255), nullable=False),
    Column("url", Text),
    Column("data", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("incident_id", "kind", name="uq_links_incident_kind"),
)
Index("ix_links_remote", links.c.kind, links.c.remote_id)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE")),
    # Jobs with the same ordering key run one at a time, in id order; jobs without one run freely.
    Column("ordering_key", String(128)),
    # While a job is pending, a second job with the same dedup key is not enqueued (coalescing).
    Column("dedup_key", String(128), unique=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False),  # pending | running | done | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_at", TS, nullable=False),
    Column("locked_until", TS),
    Column("last_error", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)
Index("ix_outbox_claim", outbox.c.status, outbox.c.run_at)
Index("ix_outbox_ordering", outbox.c.ordering_key, outbox.c.id)
Index("ix_outbox_incident", outbox.c.incident_id)
# "which war rooms is this incident getting" (bot/jobs.py war_room_chats) looks for its create jobs by kind
Index("ix_outbox_incident_kind", outbox.c.incident_id, outbox.c.kind)

timers = Table(
    "timers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # One timer per key: scheduling again moves it.
    Column("key", String(128), nullable=False, unique=True),
    Column("kind", String(64), nullable=False),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE")),
    Column("payload", JSON, nullable=False),
    Column("fire_at", TS, nullable=False),
    # Repeat every this many seconds after firing; NULL fires once.
    Column("interval_s", Integer),
    Column("created_at", TS, nullable=False),
)
Index("ix_timers_fire_at", timers.c.fire_at)

# Deliveries already taken in (webhooks can repeat): one row per source and delivery key (a JWT's jti).
inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("key", String(255), nullable=False),
    Column("received_at", TS, nullable=False),
    UniqueConstraint("source", "key", name="uq_inbox_source_key"),
)

# Webhook policies warroom created in Xurrent (``warroom itsm provision``): how their deliveries are verified.
webhook_policies = Table(
    "webhook_policies",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("remote_id", String(64), nullable=False, unique=True),
    Column("algorithm", String(10), nullable=False),
    Column("issuer", String(255), nullable=False),
    Column("audience", String(255), nullable=False),
    # The public key (PEM) of an RS/ES policy — not a secret.
    Column("key", Text, nullable=False),
    Column("created_at", TS, nullable=False),
)

# Who holds which role on an incident (Incident Commander, SMEs, custom roles): one holder per role.
incident_roles = Table(
    "incident_roles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(63), nullable=False),
    Column("email", String(320)),
    # The holder in a chat ("slack:U123"), for mentions; and how cards name them.
    Column("chat_user", String(96)),
    Column("display", String(255), nullable=False),
    Column("assigned_by", String(320)),
    Column("assigned_at", TS, nullable=False),
    UniqueConstraint("incident_id", "role", name="uq_incident_roles_role"),
)

# People and channels kept informed of an incident (status updates go to them too).
stakeholders = Table(
    "stakeholders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # user | channel | email
    Column("ref", String(320), nullable=False),  # "slack:U123", "slack:C123", an email
    Column("display", String(255), nullable=False),
    Column("added_by", String(320)),
    Column("added_at", TS, nullable=False),
    UniqueConstraint("incident_id", "kind", "ref", name="uq_stakeholders_ref"),
)

# People as the chats name them: a chat user's key ("slack:U123", "teams:<aad id>") → the name shown for them, so
# that summaries, answers and postmortems say "Ana Lopez", not a chat id. Learnt from commands and clicks.
people = Table(
    "people",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("updated_at", TS, nullable=False),
)

# Responders paged into an incident: notified again until it is acknowledged.
pages = Table(
    "pages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("display", String(255), nullable=False),
    Column("paged_by", String(320)),
    Column("paged_at", TS, nullable=False),
    Column("notified", Integer, nullable=False, default=0),
    Column("last_notified_at", TS),
    UniqueConstraint("incident_id", "email", name="uq_pages_email"),
)

# Changes near an incident, for root-cause analysis: deployments posted to /events/changes and ITSM changes.
changes = Table(
    "changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),  # deploy | itsm-rfc
    # deploy | config | feature_flag | dns | infrastructure | database | rfc | other
    Column("kind", String(16), nullable=False, server_default="deploy"),
    Column("external_id", String(255), nullable=False),
    Column("service", String(63)),
    Column("title", String(500), nullable=False),
    Column("details", Text, nullable=False, default=""),
    Column("url", Text),
    Column("at", TS, nullable=False),
    Column("received_at", TS, nullable=False),
    UniqueConstraint("source", "external_id", name="uq_changes_source_id"),
)
Index("ix_changes_at", changes.c.at)

# The postmortem draft of an incident (Markdown), regenerated until someone edits it elsewhere.
postmortems = Table(
    "postmortems",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("markdown", Text, nullable=False),
    Column("engine", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # draft | in_review | published (the published text is in postmortem_versions; a new draft may follow)
    Column("state", String(16), nullable=False, default="draft"),
)

# Post-incident tasks (follow-up actions); a later step turns them into RFCs in the ITSM.
tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    # whole, however long (the RFC's subject is cut to Xurrent's 255 characters and the whole title is its first note)
    Column("title", Text, nullable=False),
    Column("details", Text, nullable=False, default=""),
    Column("origin", String(16), nullable=False),  # postmortem | chat
    # proposed (a postmortem's recommendation nobody took yet) | todo | in_progress | done | wont_do
    Column("status", String(16), nullable=False),
    Column("created_by", String(320)),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # who does it (an email), by when, and why it was closed as won't-do
    Column("owner", String(320)),
    Column("due_at", TS),
    Column("closed_reason", Text),
    Column("version", Integer, nullable=False, default=0),
)
Index("ix_tasks_incident", tasks.c.incident_id)
Index("ix_tasks_status_due", tasks.c.status, tasks.c.due_at)

# A task's notes and comments: written in warroom (origin imr) or read from its RFC (origin itsm, remote_id the
# Xurrent note id, once per task).
task_notes = Table(
    "task_notes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("task_id", Id, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("actor", String(320)),
    Column("origin", String(8), nullable=False),
    Column("remote_id", String(64)),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("task_id", "remote_id", name="uq_task_notes_remote"),
)
Index("ix_task_notes_task", task_notes.c.task_id)

# A task's RFC in the ITSM: the request id, its URL and the sync's state (the shadow, the cursor of notes read), as
# an incident's link to its request keeps them.
task_links = Table(
    "task_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("task_id", Id, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("remote_id", String(255), nullable=False, unique=True),
    Column("url", Text),
    Column("data", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# The postmortem's review: who is asked, and what they said.
postmortem_reviewers = Table(
    "postmortem_reviewers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("reviewer", String(320), nullable=False),  # an email, or a chat key (slack:U123) for people without one
    Column("display", String(255), nullable=False),
    Column("requested_by", String(320)),
    Column("requested_at", TS, nullable=False),
    Column("approved_at", TS),
    UniqueConstraint("incident_id", "reviewer", name="uq_postmortem_reviewers_reviewer"),
)
postmortem_comments = Table(
    "postmortem_comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("author", String(320), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", TS, nullable=False),
)
Index("ix_postmortem_comments_incident", postmortem_comments.c.incident_id)

# Published postmortems: immutable, one row per version.
postmortem_versions = Table(
    "postmortem_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("markdown", Text, nullable=False),
    Column("published_by", String(320)),
    Column("published_at", TS, nullable=False),
    UniqueConstraint("incident_id", "version", name="uq_postmortem_versions_version"),
)

# On-call overrides asked for in chat (``/oncall override``): above the YAML schedule's layers and overrides.
oncall_overrides = Table(
    "oncall_overrides",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("schedule", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("starts_at", TS, nullable=False),
    Column("ends_at", TS, nullable=False),
    Column("note", String(500), nullable=False, default=""),
    Column("created_by", String(320)),
    Column("created_at", TS, nullable=False),
    Column("removed_at", TS),
    Column("removed_by", String(320)),
)
Index("ix_oncall_overrides_schedule", oncall_overrides.c.schedule, oncall_overrides.c.ends_at)

# An incident's escalation: its policy as it was when paging started, where it is, and how it ended.
escalations = Table(
    "escalations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("policy", String(200), nullable=False),
    Column("snapshot", JSON, nullable=False),
    Column("urgency", String(8), nullable=False),
    Column("state", String(16), nullable=False),  # active | acknowledged | resolved | exhausted | stopped
    Column("step", Integer, nullable=False, default=0),
    Column("round", Integer, nullable=False, default=0),
    # Rounds count on when a reopened incident pages again (notifications are unique per round): its first.
    Column("first_round", Integer, nullable=False, default=0),
    Column("started_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("ended_at", TS),
    Column("ended_by", String(320)),
    Column("reason", Text),
)

# One notification of one person by one method in one run of one step: the unique key makes a step that runs
# again after a crash add nothing twice; ``provider_id`` and ``state`` make a send that runs again look first.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("escalation_id", Id, ForeignKey("escalations.id", ondelete="CASCADE")),
    Column("round", Integer, nullable=False, default=0),
    Column("step", Integer, nullable=False, default=0),
    Column("email", String(320), nullable=False),
    Column("method", String(8), nullable=False),  # chat | email | sms | voice
    Column("address", String(320)),
    Column("due_at", TS, nullable=False),
    Column("state", String(12), nullable=False),  # pending | sending | sent | delivered | failed | skipped | cancelled
    Column("provider_id", String(128)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("detail", Text),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS),
    # The page's acknowledge link works once.
    Column("used_at", TS),
    UniqueConstraint("escalation_id", "round", "step", "email", "method", name="uq_notifications_once"),
)
Index("ix_notifications_incident", notifications.c.incident_id)
Index("ix_notifications_provider", notifications.c.provider_id)

# Round-robin turns of escalation steps, across incidents: the next person a step notifies.
oncall_turns = Table(
    "oncall_turns",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("turn", Integer, nullable=False, default=0),
)

# Status pages (warroom.response.statuspages): each change of a component's status is a row, open (``ended_at``
# NULL) while it is the component's status; the incident that caused it when one did. The 90-day history bars are
# computed from these rows.
status_component_history = Table(
    "status_component_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("page", String(63), nullable=False),
    Column("component", String(255), nullable=False),
    # operational | degraded_performance | partial_outage | major_outage
    Column("status", String(32), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("ended_at", TS),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="SET NULL")),
)
Index("ix_status_component_history_page", status_component_history.c.page, status_component_history.c.component,
      status_component_history.c.ended_at)

# An incident as a status page shows it: only once an update about it is published there. ``name`` is the public
# name (never the incident's own title unless a person chose it).
status_page_incidents = Table(
    "status_page_incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("page", String(63), nullable=False),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    # investigating | identified | monitoring | resolved (the status of its newest update)
    Column("status", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("resolved_at", TS),
    UniqueConstraint("page", "incident_id", name="uq_status_page_incidents_incident"),
)

# The updates published on a status page incident (written only when published).
status_page_updates = Table(
    "status_page_updates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("page_incident_id", Id, ForeignKey("status_page_incidents.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("published_at", TS, nullable=False),
    Column("published_by", String(320)),
)
Index("ix_status_page_updates_incident", status_page_updates.c.page_incident_id)

# Where a page is mirrored to Atlassian Statuspage: the remote incident of each page incident (found again by its
# metadata key after a crash) and each update's push — ``pending`` until Statuspage has it (``sent``), ``failed`` when
# it refused it for good. Pushes run in update id order per page.
status_page_remote = Table(
    "status_page_remote",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("page_incident_id", Id, ForeignKey("status_page_incidents.id", ondelete="CASCADE"), nullable=False),
    Column("remote_id", String(64)),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("page_incident_id", name="uq_status_page_remote_incident"),
)
status_update_pushes = Table(
    "status_update_pushes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("update_id", Id, ForeignKey("status_page_updates.id", ondelete="CASCADE"), nullable=False),
    Column("page", String(63), nullable=False),
    # pending | sending | sent | failed
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS),
    Column("warned_at", TS),
    UniqueConstraint("update_id", name="uq_status_update_pushes_update"),
)
Index("ix_status_update_pushes_page", status_update_pushes.c.page, status_update_pushes.c.state)

# A drafted status page update waiting in the war room for a person: Publish (as drafted or edited) or Discard.
# ``state`` pending | published | discarded | superseded (a newer draft for the same page and incident replaced it);
# ``version`` grows on each edit, so a click on an outdated card is refused; ``chat`` holds where the card was posted
# (Slack channel and ts, Teams conversation and activity id) so it is edited in place.
status_drafts = Table(
    "status_drafts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("page", String(63), nullable=False),
    Column("status", String(16), nullable=False),  # the update state it would publish: investigating …
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("source", String(32), nullable=False),  # deterministic | model | the engine that drafted it
    Column("reason", String(64), nullable=False),  # what prompted it: declared, status:acknowledged, resolved …
    Column("created_at", TS, nullable=False),
    Column("decided_at", TS),
    Column("decided_by", String(320)),
    Column("update_id", Id, ForeignKey("status_page_updates.id", ondelete="SET NULL")),
    Column("chat", JSON, nullable=False),
)
Index("ix_status_drafts_incident", status_drafts.c.incident_id, status_drafts.c.page, status_drafts.c.state)

# Subscribers of a page: by email (confirmed by a link before anything is sent) or by webhook (HMAC-signed with the
# subscriber's own secret). ``token`` is the unsubscribe (and confirm) capability; a webhook that keeps failing is
# disabled (``disabled_at``, ``disabled_reason``) and its ``owner`` told.
status_subscribers = Table(
    "status_subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("page", String(63), nullable=False),
    Column("scope", String(63), nullable=False, default=""),
    Column("kind", String(16), nullable=False),  # email | webhook
    Column("address", String(2048), nullable=False),  # the email address or the webhook's URL
    Column("secret", String(128)),  # a webhook's signing secret
    Column("owner", String(320)),  # whom to tell when a webhook is disabled
    Column("token", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("confirmed_at", TS),
    Column("failures", Integer, nullable=False, default=0),
    Column("disabled_at", TS),
    Column("disabled_reason", Text),
    UniqueConstraint("token", name="uq_status_subscribers_token"),
    UniqueConstraint("page", "scope", "kind", "address", name="uq_status_subscribers_address"),
)
# One delivery to one subscriber of one published update (``update_id``) or of one maintenance notice
# (``maintenance_id``, ``notice`` scheduled | reminder | started | completed | rescheduled | cancelled, ``revision``:
# which reschedule of the window it follows, 0 before any): exactly once (the unique pair, the unique notice), its
# state pending | sending | sent | failed | skipped.
status_deliveries = Table(
    "status_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("status_subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("update_id", Id, ForeignKey("status_page_updates.id", ondelete="CASCADE")),
    Column("maintenance_id", Id, ForeignKey("status_maintenances.id", ondelete="CASCADE")),
    Column("notice", String(16)),
    Column("revision", Integer, nullable=False, default=0, server_default="0"),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS),
    UniqueConstraint("subscriber_id", "update_id", name="uq_status_deliveries_pair"),
    UniqueConstraint("subscriber_id", "maintenance_id", "notice", "revision", name="uq_status_deliveries_notice"),
)
Index("ix_status_deliveries_maintenance", status_deliveries.c.maintenance_id, status_deliveries.c.notice)

# Scheduled maintenance on a page: its components show ``under_maintenance`` between ``starts_at`` and ``ends_at``
# (incidents still win), announced on the page and its feeds. ``state`` scheduled | in_progress | completed |
# cancelled.
status_maintenances = Table(
    "status_maintenances",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("page", String(63), nullable=False),
    Column("title", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("components", JSON, nullable=False),
    Column("starts_at", TS, nullable=False),
    Column("ends_at", TS, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_by", String(320)),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)
Index("ix_status_maintenances_page", status_maintenances.c.page, status_maintenances.c.ends_at)
