"""Status page drafts in the Slack war room: the card (Block Kit), its buttons and the Edit modal.

- The card (:func:`draft_card`): which page, the state, the draft's text (from incident data — untrusted, escaped
  for mrkdwn), the components, who drafted it and how much the safety pass removed, and **Publish**, **Edit**,
  **Discard** while it waits; once decided, what became of it ("Published by Ana at 10:02 UTC", "Discarded by …",
  "Replaced by a newer draft") instead of the buttons. Each button's value is ``<draft id>:<version>``, so a click
  on a card showing an older version is refused.
- The ``warroom.statuspage_draft_card`` job (:class:`StatusDraftCards`) posts the card once and edits it in place;
  it carries message metadata (``warroom_statuspage_draft``, key = the draft id), so a retried job finds the card
  its earlier attempt posted instead of posting a second one; the card's place is kept on the draft.
- :func:`register` adds the listeners to the Slack app: Publish and Discard decide at once
  (:func:`warroom.response.statuspages.drafts.decide`); Edit opens a modal (``views.open`` with the click's
  trigger_id) prefilled with the text and a state select, whose submission publishes the edited text. A refusal is
  said only to the clicker (the modal shows it on its text field); a publish is told to the war room by the
  response layer and shown on the card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from warroom.adapters.ports import ChatPort
from warroom.chat.slack.blocks import escape, plain
from warroom.core.jobs import STATUSPAGE_DRAFT_CARD
from warroom.core.model import LinkKind
from warroom.response.statuspages import LABELS, UPDATE_STATES, drafts
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

log = logging.getLogger("warroom.slack")

DRAFT_EVENT = "warroom_statuspage_draft"
PUBLISH, EDIT, DISCARD = "statuspage_publish", "statuspage_edit", "statuspage_discard"
EDIT_VIEW = "statuspage_edit_view"
#: The modal's blocks (block id = action id, as Slack's view state is read).
TEXT_BLOCK, STATE_BLOCK = "statuspage_text", "statuspage_state"
#: Slack's plain_text_input holds at most this many characters (longer updates: `/incident statuspage <text>`).
MODAL_MAX = 3000
_SHOWN = 2900
_MARK = {drafts.PUBLISHED: "✅", drafts.DISCARDED: "🗑️", drafts.SUPERSEDED: "↪️"}


# ---------------------------------------------------------------------------------------------- rendering


def draft_card(card: drafts.DraftCard) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) of a draft's card; all outside text escaped for mrkdwn."""
    title = escape(card.page_title)
    head = f"📣 *Status page draft* for *{title}* — {card.label} · {card.incident_ref}"
    body = escape(card.body)
    if len(body) > _SHOWN:
        body = body[:_SHOWN] + "…"
    facts = [f"*Components*: {escape(', '.join(card.components)) or 'none named'}",
             "drafted by the AI model" if card.source == "model" else "drafted by the deterministic engine"]
    if card.removed:
        facts.append(f"the safety pass removed {escape(', '.join(card.removed))[:300]}")
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head[:_SHOWN]}},
        {"type": "section", "block_id": "statuspage_draft_text", "text": {"type": "mrkdwn", "text": body or " "}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)[:_SHOWN]}]},
    ]
    outcome = card.outcome()
    if outcome is None:
        value = card.values()
        out.append({"type": "actions", "block_id": f"statuspage_draft_{card.id}", "elements": [
            {"type": "button", "action_id": PUBLISH, "text": plain("Publish"), "value": value, "style": "primary"},
            {"type": "button", "action_id": EDIT, "text": plain("Edit"), "value": value},
            {"type": "button", "action_id": DISCARD, "text": plain("Discard"), "value": value, "style": "danger"},
        ]})
    else:
        out.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"{_MARK.get(card.state, '')} {escape(outcome)}".strip()}]})
    fallback = f"📣 Status page draft for {title} ({card.label}), {card.incident_ref}"
    return fallback[:3000], out


def edit_view(card: drafts.DraftCard) -> dict[str, Any]:
    """The Edit modal: the draft's text (prefilled) and its state; ``private_metadata`` is ``<id>:<version>``."""
    options = [{"text": plain(LABELS[s]), "value": s} for s in UPDATE_STATES]
    initial = next((o for o in options if o["value"] == card.status), options[0])
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": card.values(),
        "title": plain("Status page update", 24),
        "submit": plain("Publish"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                f"Publishes on *{escape(card.page_title)}* for {card.incident_ref}: people reading the page see "
                "this text as it is.")[:_SHOWN]}]},
            {"type": "input", "block_id": TEXT_BLOCK, "label": plain("Update"),
             "element": {"type": "plain_text_input", "action_id": TEXT_BLOCK, "multiline": True,
                         "max_length": MODAL_MAX, "initial_value": card.body[:MODAL_MAX]}},
            {"type": "input", "block_id": STATE_BLOCK, "label": plain("State"),
             "element": {"type": "static_select", "action_id": STATE_BLOCK, "options": options,
                         "initial_option": initial}},
        ],
    }


def read_edit(view: dict[str, Any]) -> tuple[str, str | None]:
    """(text, state) from the Edit modal's state."""
    values = (view.get("state") or {}).get("values") or {}
    text = ((values.get(TEXT_BLOCK) or {}).get(TEXT_BLOCK) or {}).get("value") or ""
    selected = ((values.get(STATE_BLOCK) or {}).get(STATE_BLOCK) or {}).get("selected_option") or {}
    state = selected.get("value")
    return str(text), str(state) if state else None


# ---------------------------------------------------------------------------------------------- the card job


@dataclass
class StatusDraftCards:
    settings: Settings
    store: Store
    chat: ChatPort

    def handlers(self) -> dict[str, Handler]:
        return {STATUSPAGE_DRAFT_CARD: self.show}

    async def show(self, job: Job) -> Commit | None:
        draft_id = int(job.payload.get("draft") or 0)
        async with self.store.read() as tx:
            card = await drafts.card_state(tx, self.settings, draft_id)
            if card is None:
                return None
            channel = await tx.links.get(card.incident_id, LinkKind.SLACK_CHANNEL)
        if channel is None:
            raise NotReady("warroom", "the war-room channel does not exist yet")
        if channel.data.get("archived"):
            return None  # an archived room keeps its cards as they were
        text, blocks = draft_card(card)
        posted = card.chat.get("slack") or {}
        if posted.get("ts"):
            await self.chat.update_message(str(posted["channel"]), str(posted["ts"]), text, blocks=blocks)
            return None
        found = None
        if job.is_retry:  # an earlier attempt may have posted it before its result was recorded
            created = card.created_at
            oldest = created.timestamp() - 60 if created.tzinfo is not None else None
            found = await self.chat.find_message(channel.remote_id, DRAFT_EVENT, str(card.id), oldest=oldest)
        if found is not None:
            await self.chat.update_message(channel.remote_id, found.ts, text, blocks=blocks)
            ts = found.ts
        else:
            ref = await self.chat.post_message(channel.remote_id, text, blocks=blocks, metadata={
                "event_type": DRAFT_EVENT, "event_payload": {"key": str(card.id)},
            })
            ts = ref.ts

        async def remember(tx: Tx) -> None:
            await drafts.remember_card(tx, card.id, "slack", {"channel": channel.remote_id, "ts": ts})

        return remember


# ---------------------------------------------------------------------------------------------- the buttons


async def person(client: AsyncWebClient, user_id: str) -> drafts.Person:
    """The clicker as a draft's decision names them: email and name from Slack's directory."""
    email: str | None = None
    try:
        user = (await client.users_info(user=user_id)).get("user") or {}
    except SlackApiError:
        user = {}
    profile = user.get("profile") or {}
    if profile.get("email"):
        email = str(profile["email"]).lower()
    name = str(profile.get("real_name") or user.get("real_name") or profile.get("display_name") or user.get("name")
               or email or "someone")
    return drafts.Person(email, f"slack:{user_id}", " ".join(name.split())[:200], mention=f"<@{user_id}>")


def register(app: AsyncApp, settings: Settings, store: Store, client: AsyncWebClient, command: str) -> None:
    """The draft cards' listeners: Publish, Edit (and its modal's submission), Discard."""

    async def tell(channel_id: str, user_id: str, text: str) -> None:
        if not channel_id:
            return
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
        except SlackApiError as exc:
            log.info("could not answer %s privately: %s", user_id, exc.response.get("error"))

    async def decide(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id") or "")
        channel_id = str((body.get("channel") or {}).get("id") or "")
        value = drafts.read_value(action.get("value"))
        if value is None:
            await tell(channel_id, user_id, "That button belongs to no status page draft.")
            return
        verb = drafts.PUBLISH if action.get("action_id") == PUBLISH else drafts.DISCARD
        done = await drafts.decide(store, settings, value[0], value[1], verb, await person(client, user_id),
                                   command=command)
        if not done.ok:
            await tell(channel_id, user_id, done.text)

    app.action(PUBLISH)(decide)
    app.action(DISCARD)(decide)

    @app.action(EDIT)
    async def edit(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id") or "")
        channel_id = str((body.get("channel") or {}).get("id") or "")
        value = drafts.read_value(action.get("value"))
        async with store.read() as tx:
            card = await drafts.card_state(tx, settings, value[0]) if value is not None else None
        if value is None or card is None:
            await tell(channel_id, user_id, "That button belongs to no status page draft.")
            return
        if card.state != drafts.PENDING or card.version != value[1]:
            await tell(channel_id, user_id, drafts.stale(card))
            return
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=edit_view(card))
        except SlackApiError as exc:
            await tell(channel_id, user_id, f"The edit form could not open ({exc.response.get('error')}): publish "
                       f"your own text with `{command} statuspage <state> <text>`.")

    @app.view(EDIT_VIEW)
    async def edited(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        value = drafts.read_value(view.get("private_metadata"))
        if value is None:
            await ack(response_action="errors", errors={TEXT_BLOCK: "This form belongs to no status page draft."})
            return
        text, state = read_edit(view)
        user_id = str((body.get("user") or {}).get("id") or "")
        done = await drafts.decide(store, settings, value[0], value[1], drafts.PUBLISH, await person(client, user_id),
                                   text=text, state=state, command=command)
        if not done.ok:
            await ack(response_action="errors", errors={TEXT_BLOCK: done.text[:2000]})
            return
        await ack()
