"""Slack modals (Block Kit views) and what comes back from them, translated into warroom's own types:
the declare form (``/incident declare`` with nothing after it) and the incident picker of the "Add to incident"
message shortcut outside a war room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warroom.chat import grammar as cmd
from warroom.chat.slack.blocks import plain
from warroom.core.model import Incident
from warroom.settings import Settings

DECLARE_VIEW = "declare_incident"
PICK_INCIDENT_VIEW = "add_to_incident"
#: callback_id of the message shortcut in the manifest.
ADD_TO_INCIDENT = "add_to_incident"
PICK_BLOCK = "incident"

_SERVICE, _PRIORITY, _TITLE, _DETAILS = "service", "priority", "title", "details"
MAX_NOTE = 3000


def _option(value: str, label: str | None = None) -> dict[str, Any]:
    return {"text": plain(label or value, 75), "value": value}


def declare_view(
    settings: Settings, service: str | None = None, priority: str | None = None, *, title: str | None = None
) -> dict[str, Any]:
    """The declare form: service, priority, title, details (prefilled with what the command already said)."""
    services = [_option(s.name, s.name) for s in settings.services[:100]]
    service_select: dict[str, Any] = {"type": "static_select", "action_id": _SERVICE, "options": services,
                                      "placeholder": plain("Which service is affected?")}
    if service is not None and settings.service(service) is not None:
        service_select["initial_option"] = _option(service)
    priorities = [_option(p) for p in settings.priorities]
    initial = priority or settings.intake.default_priority
    prio_select: dict[str, Any] = {"type": "static_select", "action_id": _PRIORITY, "options": priorities}
    if initial in settings.priorities:
        prio_select["initial_option"] = _option(initial)
    return {
        "type": "modal",
        "callback_id": DECLARE_VIEW,
        "title": plain("Declare an incident", 24),
        "submit": plain("Declare"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": _SERVICE, "label": plain("Service"),
             "element": service_select},
            {"type": "input", "block_id": _PRIORITY, "label": plain("Priority"), "element": prio_select},
            {"type": "input", "block_id": _TITLE, "label": plain("Title"),
             "element": {"type": "plain_text_input", "action_id": _TITLE, "max_length": 200,
                         "placeholder": plain("What is wrong, in a few words"),
                         **({"initial_value": title[:200]} if title else {})}},
            {"type": "input", "block_id": _DETAILS, "label": plain("Details"), "optional": True,
             "element": {"type": "plain_text_input", "action_id": _DETAILS, "multiline": True, "max_length": 3000}},
        ],
    }


def _value(view: dict[str, Any], block: str) -> str | None:
    element = ((view.get("state") or {}).get("values") or {}).get(block, {}).get(block) or {}
    if "selected_option" in element:
        return str((element.get("selected_option") or {}).get("value") or "") or None
    value = element.get("value")
    return str(value).strip() if value else None


def read_declare(view: dict[str, Any], settings: Settings) -> cmd.Declare | dict[str, str]:
    """The submitted form as a Declare command, or the errors to show next to its fields."""
    errors: dict[str, str] = {}
    service = _value(view, _SERVICE)
    if service is None or settings.service(service) is None:
        errors[_SERVICE] = "Pick the affected service."
    priority = _value(view, _PRIORITY)
    if priority not in settings.priorities:
        errors[_PRIORITY] = f"Pick a priority: {', '.join(settings.priorities)}."
    title = (_value(view, _TITLE) or "").replace("\x00", "")
    if not title:
        errors[_TITLE] = "Say what is wrong."
    if errors:
        return errors
    return cmd.Declare(priority=priority, service=service, title=title, details=_value(view, _DETAILS) or "")


def quoted_note(message: dict[str, Any], channel_id: str) -> str:
    """A message added to an incident by the shortcut: its text, who wrote it and where (Slack's text as is,
    mentions and links included — the war room shows it as Slack would)."""
    text = str(message.get("text") or "").strip() or "(a message without text)"
    author = message.get("user")
    source = f"<@{author}>" if author else "a bot"
    where = f" in <#{channel_id}>" if channel_id else ""
    note = f"{text}\n— {source}{where}"
    return note if len(note) <= MAX_NOTE else note[: MAX_NOTE - 1] + "…"


def pick_incident_view(incidents: Sequence[Incident], note: str) -> dict[str, Any]:
    options = [_option(str(i.id), f"{i.ref} {i.priority or ''} {i.title}") for i in incidents[:100]]
    return {
        "type": "modal",
        "callback_id": PICK_INCIDENT_VIEW,
        "private_metadata": note[:3000],
        "title": plain("Add to incident", 24),
        "submit": plain("Add note"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": PICK_BLOCK, "label": plain("Incident"),
             "element": {"type": "static_select", "action_id": PICK_BLOCK, "options": options}},
            {"type": "context", "elements": [{"type": "plain_text", "text": note[:2000]}]},
        ],
    }


def read_pick(view: dict[str, Any]) -> tuple[int, str] | None:
    value = _value(view, PICK_BLOCK)
    note = str(view.get("private_metadata") or "").strip()
    if not value or not value.isdigit() or not note:
        return None
    return int(value), note
