"""Status page drafts in the Teams war room: the Adaptive Card, its buttons and the edit in the card itself.

- The card (:func:`draft_card`): which page, the state, the draft's text (from incident data — untrusted, escaped
  as every card's outside text is: :func:`warroom.chat.teams.cards.escape`), the components, who drafted it, and
  while it waits **Publish** and **Discard** (``Action.Submit``, data ``{"warroom": "statuspage_publish" |
  "statuspage_discard", "draft": id, "version": n}``) and **Edit**: an ``Action.ShowCard`` that opens, inside the
  card, the text (``Input.Text``, multiline, prefilled) and the state (``Input.ChoiceSet``) with its own Publish
  (``"statuspage_edit"``; Teams sends the inputs with the data). No dialog: the card is the form. Once decided, what
  became of it instead of the buttons.
- The ``teams.statuspage_draft_card`` job (:class:`TeamsStatusDraftCards`) posts the card once (a new thread in a
  channel war room, a message in a chat) and edits it in place; the Bot Connector cannot be asked what the bot
  posted, so the card's ids are kept on the draft (a job cut short between posting and recording may post twice;
  the later card is the one edited from then on).
- :func:`click` is the bot's handling of those buttons (:mod:`warroom.chat.teams.bot`): the decision through
  :func:`warroom.response.statuspages.drafts.decide`, the answer a sentence for the clicker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from microsoft_agents.hosting.core import TurnContext

from warroom.adapters.microsoft.connector import BotConnector
from warroom.chat.teams import cards
from warroom.chat.teams.activity import Who
from warroom.chat.teams.edge import email_of
from warroom.core.jobs import TEAMS_STATUSPAGE_DRAFT_CARD
from warroom.core.model import LinkKind
from warroom.response.statuspages import LABELS, MAX_BODY, UPDATE_STATES, drafts
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

SYSTEM = "warroom"
PUBLISH, EDIT, DISCARD = "statuspage_publish", "statuspage_edit", "statuspage_discard"
ACTIONS = (PUBLISH, EDIT, DISCARD)
TEXT_INPUT, STATE_INPUT = "statuspage_text", "statuspage_state"
_MARK = {drafts.PUBLISHED: "✅", drafts.DISCARDED: "🗑️", drafts.SUPERSEDED: "↪️"}


def draft_card(card: drafts.DraftCard) -> dict[str, Any]:
    """A draft's Adaptive Card (schema 1.5); outside text escaped for Teams."""
    headline = f"📣 Status page draft for {card.page_title} — {card.label} · {card.incident_ref}"
    facts = [("Page", cards.escape(card.page_title)), ("State", card.label),
             ("Components", cards.escape(", ".join(card.components)) or "none named"),
             ("Drafted by", "the AI model" if card.source == "model" else "the deterministic engine")]
    if card.removed:
        facts.append(("Safety pass removed", cards.escape(", ".join(card.removed))[:300]))
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": cards.escape(headline), "wrap": True, "weight": "Bolder"},
        {"type": "TextBlock", "text": cards.escape(card.body[:MAX_BODY]), "wrap": True},
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
    ]
    actions: list[dict[str, Any]] = []
    outcome = card.outcome()
    if outcome is None:
        data = {"draft": card.id, "version": card.version}
        edit = {
            "type": "AdaptiveCard",
            "body": [
                {"type": "Input.Text", "id": TEXT_INPUT, "label": "Update", "isMultiline": True,
                 "maxLength": MAX_BODY, "value": card.body[:MAX_BODY], "isRequired": True,
                 "errorMessage": "Write what people reading the status page should know."},
                {"type": "Input.ChoiceSet", "id": STATE_INPUT, "label": "State", "style": "compact",
                 "value": card.status, "choices": [{"title": LABELS[s], "value": s} for s in UPDATE_STATES]},
            ],
            "actions": [{"type": "Action.Submit", "id": EDIT, "title": "Publish this text", "style": "positive",
                         "data": {"warroom": EDIT, **data}}],
        }
        actions = [
            {"type": "Action.Submit", "id": PUBLISH, "title": "Publish", "style": "positive",
             "data": {"warroom": PUBLISH, **data}},
            {"type": "Action.ShowCard", "id": "statuspage_edit_open", "title": "Edit", "card": edit},
            {"type": "Action.Submit", "id": DISCARD, "title": "Discard", "style": "destructive",
             "data": {"warroom": DISCARD, **data}},
        ]
    else:
        body.append({"type": "TextBlock", "text": cards.escape(f"{_MARK.get(card.state, '')} {outcome}".strip()),
                     "wrap": True, "isSubtle": True})
    return {
        "type": "AdaptiveCard",
        "$schema": cards.SCHEMA,
        "version": cards.VERSION,
        "fallbackText": cards.escape(headline[:300]),
        "body": body,
        "actions": actions,
    }


@dataclass
class TeamsStatusDraftCards:
    settings: Settings
    store: Store
    connector: BotConnector

    def handlers(self) -> dict[str, Handler]:
        return {TEAMS_STATUSPAGE_DRAFT_CARD: self.show}

    async def show(self, job: Job) -> Commit | None:
        draft_id = int(job.payload.get("draft") or 0)
        async with self.store.read() as tx:
            card = await drafts.card_state(tx, self.settings, draft_id)
            if card is None:
                return None
            room = await tx.links.get(card.incident_id, LinkKind.TEAMS_CHANNEL)
        if room is None:
            raise NotReady(SYSTEM, "the Teams war room does not exist yet")
        if room.data.get("archived"):
            return None  # an archived room keeps its cards as they were
        activity = cards.card_message(draft_card(card))
        posted = card.chat.get("teams") or {}
        if posted.get("activity"):
            await self.connector.update(str(posted["conversation"]), str(posted["activity"]), activity,
                                        service_url=str(posted.get("service_url") or "") or None)
            return None
        service_url = str(room.data.get("service_url") or "") or None
        if room.data.get("kind") == "channel":
            sent = await self.connector.start_thread(room.remote_id, activity, service_url=service_url)
        else:
            sent = await self.connector.send(room.remote_id, activity, service_url=service_url)

        async def remember(tx: Tx) -> None:
            await drafts.remember_card(tx, card.id, "teams", {"activity": sent.activity_id,
                                                              "conversation": sent.conversation_id,
                                                              "service_url": sent.service_url})

        return remember


def _number(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


async def click(context: TurnContext, data: Mapping[str, Any], settings: Settings, store: Store) -> str:
    """A draft card's Publish, Edit's Publish or Discard: decided once; the answer for the clicker."""
    draft, version = _number(data.get("draft")), _number(data.get("version"))
    if draft is None or version is None:
        return "That button names no status page draft; ask for one with `@warroom statuspage draft`."
    who = Who.of(context.activity)
    email = await email_of(context, who.user_id) if who.user_id else None
    person = drafts.Person(email.lower() if email else None, who.actor.key, " ".join(who.name.split())[:200])
    verb = drafts.DISCARD if data.get("warroom") == DISCARD else drafts.PUBLISH
    text = state = None
    if data.get("warroom") == EDIT:
        text = str(data.get(TEXT_INPUT) or "")
        state = str(data.get(STATE_INPUT) or "") or None
    done = await drafts.decide(store, settings, draft, version, verb, person, text=text, state=state,
                               command="@warroom")
    return done.text
