"""The Teams declare dialog: the Adaptive Card button that opens it, the form (a task module), and reading the
submitted form back. Pure code: no I/O.

Teams opens a dialog only from something the user pressed, so ``@warroom declare`` with no title answers with a
card whose button sends ``task/fetch``; the fetch answers with the form; its submit (``task/submit``) declares.
Cards are Adaptive Cards 1.5, the highest version Teams renders in every client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warroom.chat.grammar import NOTE_MAX_BYTES, TITLE_MAX_CHARS
from warroom.settings import Settings

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
#: ``data.warroom`` of the button that opens the dialog, and of the dialog's submit.
OPEN_DECLARE = "declare_form"
DECLARE = "declare"


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": ADAPTIVE_CARD, "content": card}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
        "actions": actions,
    }


def declare_button(prefill: Mapping[str, str | None], text: str) -> dict[str, Any]:
    """A card with ``text`` and one button that opens the declare dialog, prefilled with what was typed."""
    data: dict[str, Any] = {"msteams": {"type": "task/fetch"}, "warroom": OPEN_DECLARE}
    data.update({k: v for k, v in prefill.items() if v})
    return _card(
        [{"type": "TextBlock", "text": text, "wrap": True}],
        [{"type": "Action.Submit", "title": "Declare a major incident…", "data": data}],
    )


def declare_form(
    settings: Settings, values: Mapping[str, Any] | None = None, problem: str | None = None
) -> dict[str, Any]:
    """The form: service (from the catalog), priority (configured, the default preselected), title, details."""
    values = values or {}
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": "Declare a major incident",
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
    ]
    if problem:
        body.append({"type": "TextBlock", "text": problem, "color": "Attention", "wrap": True})
    services = [
        {"title": f"{s.name} — {s.description}" if s.description else s.name, "value": s.name}
        for s in settings.services
    ]
    service = _text(values.get("service"))
    priority = _text(values.get("priority")) or settings.intake.default_priority or ""
    body.append(
        {
            "type": "Input.ChoiceSet",
            "id": "service",
            "label": "Service",
            "style": "compact",
            "isRequired": True,
            "errorMessage": "Pick the affected service.",
            "choices": services,
            **({"value": service} if settings.service(service or "") else {}),
        }
    )
    body.append(
        {
            "type": "Input.ChoiceSet",
            "id": "priority",
            "label": f"Priority ({settings.priorities[0]} is the highest)",
            "style": "compact",
            "isRequired": True,
            "errorMessage": "Pick a priority.",
            "choices": [{"title": p, "value": p} for p in settings.priorities],
            **({"value": priority} if priority in settings.priorities else {}),
        }
    )
    body.append(
        {
            "type": "Input.Text",
            "id": "title",
            "label": "Title",
            "placeholder": "What is broken, as users see it",
            "isRequired": True,
            "maxLength": TITLE_MAX_CHARS,
            "errorMessage": f"Say what is wrong, in at most {TITLE_MAX_CHARS} characters.",
            **({"value": _text(values.get("title"))} if _text(values.get("title")) else {}),
        }
    )
    body.append(
        {
            "type": "Input.Text",
            "id": "details",
            "label": "Details",
            "placeholder": "What you know so far: symptoms, since when, who is affected",
            "isMultiline": True,
            **({"value": _text(values.get("details"))} if _text(values.get("details")) else {}),
        }
    )
    return _card(body, [{"type": "Action.Submit", "title": "Declare", "data": {"warroom": DECLARE}}])


def dialog(card: dict[str, Any]) -> dict[str, Any]:
    """The ``task/fetch`` (or ``task/submit``) answer that shows ``card`` in a dialog."""
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": "Declare a major incident",
                "height": "medium",
                "width": "medium",
                "card": attachment(card),
            },
        }
    }


def dialog_message(text: str) -> dict[str, Any]:
    """The ``task/submit`` answer that closes the dialog with a message."""
    return {"task": {"type": "message", "value": text}}


@dataclass(frozen=True, slots=True)
class DeclareForm:
    service: str
    priority: str
    title: str
    details: str


def read_declare_form(data: Any, settings: Settings) -> DeclareForm | str:
    """A submitted form → its values, or the sentence that says what to fix."""
    if not isinstance(data, Mapping):
        return "The form came back empty; fill it in and press Declare."
    typed_service = (_text(data.get("service")) or "").strip().casefold()
    service = next((s for s in settings.services if s.name.casefold() == typed_service), None)
    if service is None:
        known = ", ".join(s.name for s in settings.services) or "none configured"
        return f"Pick the affected service from the list ({known})."
    typed_priority = (_text(data.get("priority")) or "").casefold()
    priority = next((p for p in settings.priorities if p.casefold() == typed_priority), None)
    if priority is None:
        return f"Pick a priority: {', '.join(settings.priorities)}."
    title = (_text(data.get("title")) or "").replace("\x00", "").strip()
    if not title:
        return "Write a title: what is broken, as users see it."
    if len(title) > TITLE_MAX_CHARS:
        return f"The title is {len(title)} characters long, more than the {TITLE_MAX_CHARS} allowed; shorten it and put the rest in the details."
    details = (_text(data.get("details")) or "").replace("\x00", "").strip()
    if len(details.encode("utf-8", "surrogatepass")) > NOTE_MAX_BYTES:
        return f"The details are longer than the {NOTE_MAX_BYTES // 1024} KB the ITSM accepts; shorten them."
    return DeclareForm(service.name, priority, title, details)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
