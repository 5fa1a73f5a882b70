"""Names of the outbox job kinds, shared by the parts that enqueue them and the parts that run them."""

CREATE_CHANNEL = "warroom.create_channel"
INVITE = "warroom.invite"
TOPIC = "warroom.topic"
POST_CARD = "warroom.post_card"
PIN = "warroom.pin"
REFRESH_CARD = "warroom.refresh_card"
BOOKMARK = "warroom.bookmark"
SAY = "warroom.say"
#: A line in the Slack incidents channel (slack.announce_channel); in Teams, TEAMS_ANNOUNCE.
ANNOUNCE = "warroom.announce"
#: The Slack war room archived some hours after the incident is resolved (a durable timer fires it) …
ARCHIVE = "warroom.archive"
#: … and opened again when the incident is reopened.
UNARCHIVE = "warroom.unarchive"
CREATE_BRIDGE = "bridge.create"
CREATE_REQUEST = "itsm.create_request"
ALERT_DIGEST = "warroom.alert_digest"
PUSH_REQUEST = "itsm.push"
PULL_REQUEST = "itsm.pull"
CONFIRM_WEBHOOK = "itsm.confirm_webhook"
CONSIDER_REQUEST = "itsm.consider"
RECONCILE = "itsm.reconcile"
TEAMS_CREATE_ROOM = "teams.create_room"
TEAMS_ADD_MEMBERS = "teams.add_members"
TEAMS_POST_CARD = "teams.post_card"
TEAMS_REFRESH_CARD = "teams.refresh_card"
TEAMS_SAY = "teams.say"
TEAMS_ALERT_DIGEST = "teams.alert_digest"
TEAMS_ARCHIVE = "teams.archive"
TEAMS_ANNOUNCE = "teams.announce"
PAGE_NOTIFY = "response.page"
PAGE_REMIND = "response.page_remind"
STAKEHOLDER_NOTIFY = "response.stakeholder"
AI_ANSWER = "ai.answer"
AI_CHANGED = "ai.changed"
AI_SUMMARY = "ai.summary"
AI_POST = "ai.post"
AI_NOTIFY = "ai.notify"
ONCALL_STEP = "oncall.step"
ONCALL_NOTIFY = "oncall.notify"
#: Create or update a post-incident task's RFC in the ITSM (payload {"task": id}); coalesced per task.
TASK_RFC_PUSH = "itsm.task_push"
#: Read a task's RFC after a webhook or reconciliation said it changed (payload {"task": id}).
TASK_RFC_PULL = "itsm.task_pull"
#: Remind a task's owner of its due date (a durable timer fires it; payload {"task", "when", "due"}).
TASK_REMIND = "response.task_remind"
#: The weekly digest of open post-incident tasks per service (a periodic durable timer).
TASK_DIGEST = "response.task_digest"
#: Post or update a post-incident task's card in the Slack war room (payload {"task": id}); coalesced per task.
TASK_CARD = "warroom.task_card"
#: Post or update a post-incident task's card in the Teams war room (payload {"task": id}); coalesced per task.
TEAMS_TASK_CARD = "teams.task_card"
#: A status page's follow-up that waited (a durable timer fires it): a component back to operational after the
#: service's ``status.monitoring_minutes`` (payload {"page", "component"}), or an auto-published incident resolved
#: after monitoring (payload {"page", "incident"}).
STATUSPAGE_RECOVER = "statuspage.recover"
#: Draft a status page update for an incident (payload {"page", "reason"}): the AI responder writes it and a card
#: with Publish / Edit / Discard is posted in the war room.
STATUSPAGE_DRAFT = "statuspage.draft"
#: Post or update a status page draft's card in the Slack war room (payload {"draft": id}).
STATUSPAGE_DRAFT_CARD = "warroom.statuspage_draft_card"
#: Post or update a status page draft's card in the Teams war room (payload {"draft": id}).
TEAMS_STATUSPAGE_DRAFT_CARD = "teams.statuspage_draft_card"
#: Bring a page mirrored to Atlassian Statuspage up to date (payload {"page"}): component statuses, then the pending
#: updates in id order.
STATUSPAGE_PUSH = "statuspage.push"
#: The war room told that an update has not reached Statuspage within five minutes (a timer; payload {"push": id}).
STATUSPAGE_PUSH_LATE = "statuspage.push_late"
#: Deliver one published update to one subscriber (payload {"delivery": id}): an email or a signed webhook.
STATUS_DELIVER = "statuspage.deliver"
#: After a declaration commits: its neighbours' open incidents looked at again — on PostgreSQL, one declared at the
#: same moment in another transaction was not visible to the declaring one (warroom.response.related).
RELATED_CHECK = "response.related_check"
#: A scheduled maintenance starts or ends (a timer; payload {"maintenance": id, "edge": "start" | "end"}).
STATUS_MAINTENANCE = "statuspage.maintenance"
