"""The Teams declare dialog: its cards are valid Adaptive Cards 1.5, and a submitted form is read back or refused
with a sentence that says what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from warroom.chat.teams import forms
from warroom.settings import Settings

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "adaptive-card-1.5.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        services=[{"name": "checkout-api", "description": "The checkout API"}, {"name": "payments"}],
        intake={"default_priority": "P3"},
    )


def errors(card: dict[str, Any]) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(card)]


def test_the_button_and_the_form_are_valid_adaptive_cards(settings: Settings) -> None:
    button = forms.declare_button(
        {"service": "payments", "priority": None, "title": "Card payments fail"}, "Fill it in"
    )
    assert errors(button) == []
    (action,) = button["actions"]
    assert action["data"] == {
        "msteams": {"type": "task/fetch"},
        "warroom": "declare_form",
        "service": "payments",
        "title": "Card payments fail",
    }
    form = forms.declare_form(settings, action["data"])
    assert errors(form) == [] and form["version"] == "1.5"
    inputs = {i["id"]: i for i in form["body"] if i["type"].startswith("Input.")}
    assert [c["title"] for c in inputs["service"]["choices"]] == [
        "checkout-api — The checkout API",
        "payments",
    ]
    assert inputs["service"]["value"] == "payments" and inputs["priority"]["value"] == "P3"
    assert inputs["title"]["value"] == "Card payments fail" and inputs["title"]["maxLength"] == 255
    assert form["actions"][0]["data"] == {"warroom": "declare"}
    again = forms.declare_form(settings, {"service": "nope", "title": "x" * 300}, "Write a title.")
    assert errors(again) == [] and again["body"][1]["text"] == "Write a title."
    assert "value" not in {i["id"]: i for i in again["body"] if i["type"] == "Input.ChoiceSet"}["service"]
    shown = forms.dialog(form)
    assert shown["task"]["type"] == "continue" and shown["task"]["value"]["card"]["content"] is form


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (None, "The form came back empty"),
        ({"service": "billing", "priority": "P1", "title": "x"}, "Pick the affected service from the list"),
        ({"service": "payments", "priority": "P9", "title": "x"}, "Pick a priority: P1, P2, P3, P4, P5"),
        ({"service": "payments", "priority": "P1", "title": "  "}, "Write a title"),
        ({"service": "payments", "priority": "P1", "title": "t" * 256}, "256 characters long"),
        (
            {"service": "payments", "priority": "p1", "title": "ok", "details": "é" * 40000},
            "longer than the 64 KB",
        ),
    ],
)
def test_a_bad_form_says_what_to_fix(settings: Settings, data: Any, says: str) -> None:
    problem = forms.read_declare_form(data, settings)
    assert isinstance(problem, str) and says in problem


def test_a_good_form_is_read_back(settings: Settings) -> None:
    form = forms.read_declare_form(
        {
            "service": "Payments",
            "priority": "p2",
            "title": " Card payments fail\x00 ",
            "details": "since 06:00",
        },
        settings,
    )
    assert form == forms.DeclareForm("payments", "P2", "Card payments fail", "since 06:00")
