"""The one command grammar: chat text → a typed command, or a rejection that says how to write it.

Slack's ``/incident`` and the Teams bot both call :func:`parse` with the text after the command name and a
:class:`GrammarContext`. The package holds the context (:mod:`.context`: the configured priorities, services and
roles, and the command's name), the parser (:mod:`.parsers`) and the command table with the help built from it
(:mod:`.help`). The commands themselves, their targets, roles and limits are the response layer's
(:mod:`warroom.response.commands`, run by :mod:`warroom.response.actions`) and are re-exported here, so front
ends keep writing ``from warroom.chat import grammar as cmd`` and ``cmd.Note(...)``. Pure code: no I/O.
"""

from __future__ import annotations

from warroom.chat.grammar.context import DEFAULT_PRIORITIES, GrammarContext
from warroom.chat.grammar.help import VERBS, help_text
from warroom.chat.grammar.parsers import ARGS_MAX_CHARS, Result, parse
from warroom.response.commands import (
    DEFAULT_ROLES,
    ME,
    NOTE_MAX_BYTES,
    PERSON_KINDS,
    QUESTION_MAX_CHARS,
    TITLE_MAX_CHARS,
    Ack,
    Ask,
    Assign,
    Command,
    Declare,
    Escalate,
    Help,
    ListIncidents,
    Merge,
    Note,
    Page,
    Postmortem,
    Priority,
    Rca,
    Rejection,
    Reopen,
    Resolve,
    Role,
    Roles,
    RoleSpec,
    StakeholderAdd,
    Status,
    Summary,
    Target,
    TargetKind,
    Title,
)

__all__ = [
    "ARGS_MAX_CHARS",
    "DEFAULT_PRIORITIES",
    "DEFAULT_ROLES",
    "ME",
    "NOTE_MAX_BYTES",
    "PERSON_KINDS",
    "QUESTION_MAX_CHARS",
    "TITLE_MAX_CHARS",
    "VERBS",
    "Ack",
    "Ask",
    "Assign",
    "Command",
    "Declare",
    "Escalate",
    "GrammarContext",
    "Help",
    "ListIncidents",
    "Merge",
    "Note",
    "Page",
    "Postmortem",
    "Priority",
    "Rca",
    "Rejection",
    "Reopen",
    "Resolve",
    "Result",
    "Role",
    "RoleSpec",
    "Roles",
    "StakeholderAdd",
    "Status",
    "Summary",
    "Target",
    "TargetKind",
    "Title",
    "help_text",
    "parse",
]
