"""Who sees what in the console: the least that works.

An incident is **private** when its only war room is private — its service opens war rooms in Teams alone
(``services[].chat: teams``) as a private channel or a group chat (``services[].teams.war_room: private | chat``),
as ``/incident list`` in chat decides. A private incident is shown in full only to the people who took part in it:
its assignee, its role holders, the people paged into it, its stakeholders named by email, and the actors of its
timeline entries (by email, as the identity provider vouched for the signed-in person's). To anyone else the list
shows it as "a private incident" with its status and priority alone, it matches no title or service filter, and its
page is the same 404 as an unknown incident's. Every other incident is shown to everyone signed in.
"""

from __future__ import annotations

from collections.abc import Collection

from warroom.settings import Settings


def private_services(settings: Settings) -> list[str]:
    """The services whose incidents are private (their only war room is private)."""
    return [s.name for s in settings.services if s.chat == "teams" and s.teams.war_room != "standard"]


def is_private(settings: Settings, service: str) -> bool:
    svc = settings.service(service)
    return svc is not None and svc.chat == "teams" and svc.teams.war_room != "standard"


def may_see(settings: Settings, service: str, email: str, took_part: Collection[str]) -> bool:
    """Whether the person signed in as ``email`` sees an incident of ``service`` in full; ``took_part``: the
    lower-cased emails of the people who took part in it (:func:`warroom.store.console.participants`)."""
    return not is_private(settings, service) or (bool(email) and email.strip().lower() in took_part)
