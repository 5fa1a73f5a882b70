"""Escalation policies, people's contact methods and their notification rules, as plain data.

The vocabulary is the field's (PagerDuty, Grafana OnCall, Opsgenie):

- An **escalation policy** (per service) is an ordered list of **steps**. A step notifies its **targets** — named
  users, the on-call of schedules at that instant, a Slack user group, a Teams (Entra) group, a ``response.groups``
  group — and then **waits** ``wait_minutes`` before the next step. After the last step the policy starts again,
  ``repeat`` more times. With ``round_robin`` a step notifies one of its people, the next one each time it runs.
- A **person** has contact methods (a phone number for SMS and voice, an email address; chat is found by email) and
  **notification rules** per urgency: which method, how many minutes after they are paged (e.g. high: chat now, SMS
  at 1 min, call at 5 min; low: email). A method that fails moves on to the person's next rule at once.

The running escalation keeps a snapshot of its policy (:meth:`EscalationPolicy.snapshot`), so editing the YAML does
not change an escalation that has started. Nothing here does I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from warroom.oncall.model import Email

Urgency = Literal["high", "low"]
Method = Literal["chat", "email", "sms", "voice"]
METHODS: tuple[Method, ...] = ("chat", "email", "sms", "voice")

E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _e164(value: str) -> str:
    compact = re.sub(r"[\s().-]", "", value)
    if not E164_RE.match(compact):
        raise ValueError(f"{value!r} is not a phone number in E.164 form: write it with the country code, e.g. +447700900123.")
    return compact


Phone = Annotated[str, AfterValidator(_e164)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Model):
    """Notify by ``method`` this many minutes after the person is paged."""

    method: Method
    after_minutes: float = Field(0, ge=0, le=24 * 60)


def _ordered(rules: list[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda rule: rule.after_minutes)


Rules = Annotated[list[Rule], AfterValidator(_ordered)]

#: What a person without rules of their own gets: PagerDuty's defaults, more or less.
DEFAULT_RULES: dict[Urgency, list[Rule]] = {
    "high": [Rule(method="chat"), Rule(method="sms", after_minutes=1), Rule(method="voice", after_minutes=5)],
    "low": [Rule(method="chat"), Rule(method="email")],
}


class Person(_Model):
    """Someone warroom may page: chat finds them by ``email``; ``phone`` is for SMS and calls."""

    email: Email
    name: str = Field("", max_length=200)
    phone: Phone | None = None
    #: Where page emails go when not to ``email`` (e.g. a pager mailbox).
    notify_email: Email | None = None
    #: Per urgency; an urgency left out uses ``oncall.default_rules``.
    rules: dict[Urgency, Rules] = Field(default_factory=dict)

    def address(self, method: Method) -> str | None:
        """Where ``method`` reaches this person, or None when they have no such contact."""
        if method in ("sms", "voice"):
            return self.phone
        if method == "email":
            return self.notify_email or self.email
        return self.email


class Targets(_Model):
    """Who a step notifies; people named in several ways are notified once."""

    users: list[Email] = Field(default_factory=list)
    #: Names of ``oncall.schedules``: whoever is on call in each when the step runs.
    schedules: list[str] = Field(default_factory=list)
    #: Names of ``response.groups``.
    groups: list[str] = Field(default_factory=list)
    #: Slack user groups by id (``S0123``) or handle (``dba-oncall``).
    slack_groups: list[str] = Field(default_factory=list)
    #: Microsoft Entra group ids (a team's members).
    teams_groups: list[str] = Field(default_factory=list)

    def empty(self) -> bool:
        return not (self.users or self.schedules or self.groups or self.slack_groups or self.teams_groups)


class Step(_Model):
    notify: Targets
    #: Minutes to wait for an acknowledgement before the next step.
    wait_minutes: float = Field(5, ge=0, le=24 * 60)
    #: Notify one of the step's people, the next one each time the step runs.
    round_robin: bool = False

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if self.notify.empty():
            raise ValueError("an escalation step must notify someone: give users, schedules, groups, slack_groups "
                             "or teams_groups")
        return self


class EscalationPolicy(_Model):
    name: str = Field(min_length=1, max_length=200)
    steps: list[Step] = Field(min_length=1, max_length=50)
    #: How many more times the whole policy runs when nobody acknowledges.
    repeat: int = Field(0, ge=0, le=10)

    def snapshot(self) -> dict[str, Any]:
        """The policy as JSON-able data, kept on the escalation so that later edits do not change it."""
        return self.model_dump(mode="json")

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> EscalationPolicy:
        return cls.model_validate(data)

    def schedules(self) -> list[str]:
        return list(dict.fromkeys(name for step in self.steps for name in step.notify.schedules))


def rules_for(person: Person | None, urgency: Urgency, defaults: dict[Urgency, list[Rule]]) -> list[Rule]:
    """The person's notification rules for ``urgency``, theirs or the defaults, earliest first."""
    if person is not None and urgency in person.rules:
        return list(person.rules[urgency])
    return _ordered(list(defaults.get(urgency) or DEFAULT_RULES[urgency]))


def round_robin_pick(people: list[str], turn: int) -> list[str]:
    """The one person a round-robin step notifies on its ``turn``-th run (0-based), or nobody."""
    if not people:
        return []
    return [people[turn % len(people)]]


def mask_phone(number: str) -> str:
    """A phone number as logs and chat may show it: the last four digits."""
    return "…" + number[-4:] if len(number) > 4 else "…"
