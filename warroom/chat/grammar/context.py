"""What the command grammar knows of the configuration: :class:`GrammarContext`.

The configured priorities, services and roles (the role catalogue is the response layer's:
warroom.response.commands.configured_roles) and how people invoke the commands ("/incident"). The front ends
build it from settings and hand it to the parser and to the command runner, which reads it as a
warroom.response.commands.CommandContext (its command name, role labels and help). Pure code: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warroom.chat.grammar import help as _help
from warroom.response.commands import DEFAULT_ROLES, RoleSpec, configured_roles, role_slug

if TYPE_CHECKING:
    from warroom.settings import Settings

DEFAULT_PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4", "P5")


@dataclass(frozen=True, slots=True)
class GrammarContext:
    """What the grammar needs to know of the configuration. ``command`` is how people invoke it ("/incident")."""

    priorities: tuple[str, ...] = DEFAULT_PRIORITIES
    services: tuple[str, ...] = ()
    roles: tuple[RoleSpec, ...] = DEFAULT_ROLES
    command: str = "/incident"

    @classmethod
    def from_settings(cls, settings: Settings, custom_roles: Iterable[str | RoleSpec] = ()) -> GrammarContext:
        return cls(
            priorities=tuple(settings.priorities),
            services=tuple(s.name for s in settings.services),
            roles=configured_roles(settings, custom_roles),
            command=f"/{settings.slack.command}",
        )

    @property
    def role_labels(self) -> dict[str, str]:
        """Role key → the label cards show, in the configured order."""
        return {r.key: r.label for r in self.roles}

    def priority(self, word: str) -> str | None:
        """The configured spelling of a priority, matched case-insensitively (p1 → P1)."""
        folded = word.casefold()
        return next((p for p in self.priorities if p.casefold() == folded), None)

    def service(self, word: str) -> str | None:
        folded = word.casefold()
        return next((s for s in self.services if s.casefold() == folded), None)

    def role(self, words: str) -> RoleSpec | None:
        slug = role_slug(words)
        return next((r for r in self.roles if slug in r.names()), None)

    def help_text(self, topic: str | None = None) -> str:
        """The help for this context's commands (see :func:`warroom.chat.grammar.help.help_text`)."""
        return _help.help_text(self, topic)
