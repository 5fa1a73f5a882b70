"""Who may do what to an incident: the configured rules (settings.response.permissions) as a pure function."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .model import Incident, RoleHolder

COMMANDER = "commander"


@dataclass(frozen=True, slots=True)
class Asker:
    """The person running a command: their email (if the chat knows it) and chat identity ("slack:U1")."""

    email: str | None
    chat_user: str


def refusal(
    verb: str,
    asker: Asker,
    incident: Incident,
    roles: Mapping[str, RoleHolder],
    rules: Mapping[str, Sequence[str]],
    groups: Mapping[str, Sequence[str]],
    *,
    command: str = "/incident",
) -> str | None:
    """None when ``asker`` may run ``verb`` on the incident; else the sentence that says why not and what to do.

    A verb without a rule is open to anyone in the war room. "commander" admits the Incident Commander — and
    anyone while nobody holds the role, so that a fresh incident is never stuck.
    """
    allowed = rules.get(verb)
    if not allowed or "anyone" in allowed:
        return None
    email = (asker.email or "").lower()
    commander = roles.get(COMMANDER)
    for who in allowed:
        if who == COMMANDER:
            if commander is None:
                return None
            if (email and commander.email == email) or commander.chat_user == asker.chat_user:
                return None
        elif who == "assignee":
            if email and incident.assignee == email:
                return None
        elif who.startswith("group:"):
            if email and email in groups.get(who.removeprefix("group:"), ()):
                return None
    named = []
    for who in allowed:
        if who == COMMANDER and commander is not None:
            named.append(f"the Incident Commander ({commander.display})")
        elif who == "assignee":
            named.append(f"the assignee ({incident.assignee})" if incident.assignee else "the assignee")
        elif who.startswith("group:"):
            named.append(f"the {who.removeprefix('group:')} group")
    who_may = " or ".join(named) if named else "the people the configuration names"
    hint = f" Ask them, or ask to be handed the role: `{command} role commander @you`." if commander else ""
    return f"Only {who_may} may {verb} {incident.ref}.{hint}"
