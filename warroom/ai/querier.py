"""Questions about the incident: retrieval ranks the records (BM25, :func:`warroom.ai.records.rank`) and picks
what fits the prompt's token budget; the deterministic answer quotes the best-matching records; every answer
cites the records it used (refs and links)."""

from __future__ import annotations

from pydantic import BaseModel

from . import evidence_scope
from .context import IncidentContext
from .prompts import data_blocks, incident_header, system
from .records import Record, build_records, fit_budget, rank
from .results import Rejection, citation_problem, text_problem
from .safety import fence
from .text import one_line, tokens

MAX_QUESTION = 500
EXAMPLE = "Try e.g. `ask which deploys went out before the first alert?`"


def check_question(question: str) -> str | None:
    """A sentence saying what is wrong with the question, or None when it can be answered."""
    if not question.strip():
        return f"Ask a question about this incident. {EXAMPLE}"
    if len(question) > MAX_QUESTION:
        return f"That question is {len(question)} characters long; ask in at most {MAX_QUESTION}."
    return None


def retrieve(ctx: IncidentContext, question: str) -> tuple[list[Record], list[tuple[Record, float]]]:
    """All records, and those matching the question ranked best first — of the logs and metrics, only those of the
    sources and the time the question names (``what do the audit logs say since 10:02?``)."""
    records = build_records(evidence_scope.narrow(ctx, question))
    return records, rank(records, question)


def _fact_lines(record: Record, question: str) -> list[str]:
    wanted = set(tokens(question))
    lines = [line for line in record.text.splitlines() if wanted & set(tokens(line))]
    return lines or record.text.splitlines()[:5]


def draft(ctx: IncidentContext, question: str) -> tuple[str, list[str]]:
    """The deterministic answer: the best-matching records quoted; and the refs it cites."""
    _, ranked = retrieve(ctx, question)
    if not ranked:
        return (
            f"No record of {ctx.ref} matches that question. Try words from the alert names, services, people or "
            "changes (e.g. 'deploy', 'certificate', 'who is commander').",
            [],
        )
    best = ranked[0][1]
    chosen = [r for r, s in ranked if s >= 0.4 * best][:4]
    lines = ["Best-matching records:"]
    for r in chosen:
        if r.kind == "incident":
            lines.append(f"• [{r.ref}] " + "; ".join(_fact_lines(r, question)))
        else:
            lines.append(f"• [{r.ref}] {r.label}: {r.quote(300)}")
    if note := evidence_scope.unavailable_note(ctx, question):
        lines.append(note)
    return "\n".join(lines), [r.ref for r in chosen]


class ModelAnswer(BaseModel):
    answer: str
    cited: list[str]


def check(answer: ModelAnswer, known: set[str]) -> Rejection | None:
    """Why the model's answer is not to be posted, or None: it must be a sentence and cite at least one record
    that was put in its prompt."""
    return text_problem("answer", answer.answer, sentence=True) or citation_problem(answer.cited, known)


TASK = (
    "Answer the responder's question from the records. Be brief (at most five sentences) and specific (names, "
    "times, numbers). If the records do not answer it, say so and say what is known. cited: refs of the records "
    "the answer rests on."
)


def prompt(
    ctx: IncidentContext, question: str, nonce: str, budget_tokens: int
) -> tuple[str, str, list[Record]]:
    """System and user text, and the records put into the prompt."""
    records, ranked = retrieve(ctx, question)
    ordered = [r for r, _ in ranked]
    if len(ordered) < 8:  # little matched: add the newest records so that the model sees the current picture
        rest = sorted(
            (r for r in records if r not in ordered),
            key=lambda r: r.at.timestamp() if r.at else 0.0,
            reverse=True,
        )
        ordered += rest[: 8 - len(ordered)]
    facts = records[0]
    chosen = fit_budget([facts, *[r for r in ordered if r is not facts]], budget_tokens)
    blocks, _ = data_blocks(chosen, nonce, budget_tokens)
    user = "\n\n".join(
        [
            incident_header(ctx, nonce),
            "Records, most relevant first:\n" + blocks,
            "The responder's question (untrusted text):\n" + _fenced_question(question, nonce),
        ]
    )
    return system(TASK, nonce), user, chosen


def _fenced_question(question: str, nonce: str) -> str:
    return fence("question", one_line(question, MAX_QUESTION), nonce)
