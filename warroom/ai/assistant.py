"""The assistant: four capabilities, each answered by the model when one is configured and answers well, else by
the deterministic engine. The same steps every time:

1. redact the incident's text (secrets, configured patterns, emails if configured);
2. compute the deterministic answer (it is also the model's starting material and the fallback);
3. with a client: build a prompt that fences every untrusted text, call the model, validate the answer (its
   shape, then its content: text not garbage, at least one cited record that exists); any failure → the
   deterministic answer, marked with why (``fallback``, and ``fallback_reason`` in a word);
4. neutralise every text for chat (no broadcast, no mention or link that did not come from the incident's data).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from pydantic import BaseModel

from ..settings import AiSettings
from . import postmortem as pm
from . import querier, rca, summarizer
from .client import LlmClient, ModelUnavailable
from .context import IncidentContext
from .metrics import AiMetrics
from .records import Record, build_records
from .results import (
    Answer,
    Cause,
    Citation,
    FollowUp,
    Postmortem,
    RcaResult,
    Rejection,
    Summary,
    text_problem,
)
from .safety import Allowed, Redactor, allowed_from, defang, neutralise, new_nonce
from .text import one_line

T = TypeVar("T", bound=BaseModel)
T_Result = TypeVar("T_Result", Summary, Answer, RcaResult, Postmortem)


class Safe(Protocol):
    """Neutralise text for chat (optionally cut to ``limit`` characters)."""

    def __call__(self, text: str | None, limit: int | None = None) -> str: ...


class Assistant:
    """Build once in the composition root: ``Assistant(settings.ai, client)`` with ``client=None`` for the
    deterministic engine only (no model configured)."""

    def __init__(
        self,
        settings: AiSettings | None = None,
        client: LlmClient | None = None,
        *,
        metrics: AiMetrics | None = None,
    ) -> None:
        self.settings = settings or AiSettings()
        self.client = client
        self.metrics = metrics if metrics is not None else (client.metrics if client is not None else None)
        self.redactor = Redactor.create(
            emails=self.settings.redact_emails, extra=self.settings.redact_patterns
        )

    # -- public API ---------------------------------------------------------------------------------
    def cadence(self, priority: str | None) -> timedelta:
        """Time between automatic status updates for this priority (30 min when the priority has none set)."""
        minutes = self.settings.summary_cadence_minutes.get(priority or "", 30)
        return timedelta(minutes=minutes)

    async def summarize(
        self, ctx: IncidentContext, now: datetime | None = None, *, cadence: timedelta | None = None
    ) -> Summary:
        """A status update; the next update is due ``cadence`` (default: the priority's) after ``now``."""
        now = now or datetime.now(UTC)
        red, allowed = self._prepare(ctx)
        causes = rca.rank_causes(red)
        base = summarizer.draft(red, now, cadence or self.cadence(ctx.priority), causes)
        safe = self._safe(allowed)
        fallback: Rejection | None = None
        if self.client is not None:
            system, user = summarizer.prompt(red, causes, *self._budget())
            got = await self._call(summarizer.ModelSummary, "summary", ctx.ref, system, user)
            if isinstance(got, Rejection):
                fallback = got
            elif (problem := summarizer.check(got, red.record_refs())) is not None:
                fallback = problem
            else:
                cited = self._valid_refs(got.cited, red)
                result = Summary(
                    incident=ctx.ref,
                    engine="model",
                    state=safe(base.state),
                    impact=safe(got.impact, 700),
                    actions=safe(got.actions, 700),
                    hypothesis=safe(got.hypothesis, 400) or None,
                    next_update=base.next_update,
                    citations=self._cite(cited, red, ctx, allowed),
                    model=self.client.model,
                )
                return self._done("summary", result)
        return self._done(
            "summary",
            Summary(
                incident=ctx.ref,
                engine="deterministic",
                state=safe(base.state),
                impact=safe(base.impact),
                actions=safe(base.actions),
                hypothesis=safe(base.hypothesis) if base.hypothesis else None,
                next_update=base.next_update,
                citations=self._cite(base.cited, red, ctx, allowed),
                fallback=fallback.detail if fallback else None,
                fallback_reason=fallback.reason if fallback else None,
            ),
        )

    async def ask(self, ctx: IncidentContext, question: str) -> Answer:
        """Answer a question from the incident's records, citing them."""
        problem = querier.check_question(question)
        red, allowed = self._prepare(ctx)
        safe = self._safe(allowed)
        shown_q = safe(one_line(self.redactor.redact(question), 200))
        if problem is not None:
            return Answer(incident=ctx.ref, question=shown_q, engine="deterministic", text=problem)
        red_q = self.redactor.redact(question)
        text, cited = querier.draft(red, red_q)
        fallback: Rejection | None = None
        if self.client is not None:
            nonce, budget = self._budget()
            system, user, used = querier.prompt(red, red_q, nonce, budget)
            got = await self._call(querier.ModelAnswer, "ask", ctx.ref, system, user)
            used_refs = {r.ref for r in used}
            if isinstance(got, Rejection):
                fallback = got
            elif (rejected := querier.check(got, used_refs)) is not None:
                fallback = rejected
            else:
                refs = [
                    r
                    for r in self._valid_refs(got.cited, red, extra={f"incident:{red.ref}"})
                    if r in used_refs
                ]
                return self._done(
                    "ask",
                    Answer(
                        incident=ctx.ref,
                        question=shown_q,
                        engine="model",
                        text=safe(got.answer, 1500),
                        citations=self._cite(refs, red, ctx, allowed),
                        model=self.client.model,
                    ),
                )
        return self._done(
            "ask",
            Answer(
                incident=ctx.ref,
                question=shown_q,
                engine="deterministic",
                text=safe(text),
                citations=self._cite(cited, red, ctx, allowed),
                fallback=fallback.detail if fallback else None,
                fallback_reason=fallback.reason if fallback else None,
            ),
        )

    async def rca(self, ctx: IncidentContext) -> RcaResult:
        """Probable causes, most likely first, each with evidence that exists in the incident."""
        red, allowed = self._prepare(ctx)
        causes = rca.rank_causes(red)
        fallback: Rejection | None = None
        if self.client is not None:
            system, user = rca.prompt(red, causes, *self._budget())
            got = await self._call(rca.ModelRca, "rca", ctx.ref, system, user)
            if isinstance(got, Rejection):
                fallback = got
            else:
                backed = rca.from_model(got, red, causes)
                chosen = [c for c in backed if self._cause_problem(c) is None]
                if not backed:
                    fallback = Rejection("uncited", "the model named no cause backed by records that exist")
                elif not chosen:
                    fallback = self._cause_problem(backed[0])
                else:
                    keys = {c.key for c in chosen}
                    rest = [
                        c for c in causes if c.key not in keys
                    ]  # the model's omissions follow, in ranked order
                    return self._done(
                        "rca",
                        RcaResult(
                            incident=ctx.ref,
                            engine="model",
                            causes=self._safe_causes([*chosen, *rest], ctx, allowed),
                            model=self.client.model,
                        ),
                    )
        return self._done(
            "rca",
            RcaResult(
                incident=ctx.ref,
                engine="deterministic",
                causes=self._safe_causes(causes, ctx, allowed),
                fallback=fallback.detail if fallback else None,
                fallback_reason=fallback.reason if fallback else None,
            ),
        )

    async def postmortem(self, ctx: IncidentContext) -> Postmortem:
        """The postmortem draft (Markdown) and its recommended follow-up actions."""
        red, allowed = self._prepare(ctx)
        safe = self._safe(allowed)
        causes = self._safe_causes(rca.rank_causes(red), ctx, allowed)
        title, sections, actions = pm.draft(red, causes)
        fallback: Rejection | None = None
        if self.client is not None:
            system, user = pm.prompt(red, causes, *self._budget())
            got = await self._call(pm.ModelPostmortem, "postmortem", ctx.ref, system, user)
            if isinstance(got, Rejection):
                fallback = got
            elif (problem := self._postmortem_problem(got)) is not None:
                fallback = problem
            else:
                t = pm.timing(red)
                model_actions = self._model_follow_ups(got.follow_ups, red, safe) or actions
                model_sections = {
                    "Summary": one_line(got.summary, 2000),
                    "Impact and duration": pm.impact_section(red, t, one_line(got.impact, 1500) or None),
                    "Timeline": sections["Timeline"],
                    "Root cause analysis": pm.rca_section(
                        causes, one_line(got.root_cause, 2000) or None, build_records(red, facts=False)
                    ),
                    "Contributing factors": self._list(
                        got.contributing_factors, sections["Contributing factors"]
                    ),
                    "What went well": self._list(got.went_well, sections["What went well"]),
                    "What went badly": self._list(got.went_badly, sections["What went badly"]),
                    "Follow-up actions": pm.render_follow_ups(model_actions),
                }
                return self._done(
                    "postmortem",
                    Postmortem(
                        incident=ctx.ref,
                        engine="model",
                        title=safe(title),
                        sections={k: safe(v) for k, v in model_sections.items()},
                        follow_ups=model_actions,
                        model=self.client.model,
                    ),
                )
        return self._done(
            "postmortem",
            Postmortem(
                incident=ctx.ref,
                engine="deterministic",
                title=safe(title),
                sections={k: safe(v) for k, v in sections.items()},
                follow_ups=[self._safe_follow_up(a, safe) for a in actions],
                fallback=fallback.detail if fallback else None,
                fallback_reason=fallback.reason if fallback else None,
            ),
        )

    # -- steps --------------------------------------------------------------------------------------
    def _prepare(self, ctx: IncidentContext) -> tuple[IncidentContext, Allowed]:
        red = self.redactor.redact_context(ctx)
        return red, allowed_from(ctx, red)

    def _budget(self) -> tuple[str, int]:
        return new_nonce(), self.settings.context_tokens

    @staticmethod
    def _safe(allowed: Allowed) -> Safe:
        def safe(text: str | None, limit: int | None = None) -> str:
            return neutralise(text or "", allowed, max_chars=limit).strip()

        return safe

    async def _call(
        self, schema: type[T], capability: str, incident: str, system: str, user: str
    ) -> T | Rejection:
        """The model's answer of the right shape, or why there is none."""
        assert self.client is not None
        try:
            done = await self.client.structured(
                schema,
                incident=incident,
                capability=capability,
                system=system,
                user=user,
                name=f"warroom_{capability}",
            )
        except ModelUnavailable as exc:
            return Rejection(exc.reason, exc.detail)
        return done.value

    @staticmethod
    def _cause_problem(cause: Cause) -> Rejection | None:
        return text_problem("cause", cause.title) or text_problem(
            "explanation", cause.explanation, required=False
        )

    @staticmethod
    def _postmortem_problem(answer: pm.ModelPostmortem) -> Rejection | None:
        """The postmortem's narrative must be a summary of a sentence or more, and its impact and root cause
        (when given) words."""
        return (
            text_problem("postmortem summary", answer.summary, sentence=True)
            or text_problem("impact", answer.impact, required=False)
            or text_problem("root cause", answer.root_cause, required=False)
        )

    def _done(self, capability: str, result: T_Result) -> T_Result:
        if self.metrics is not None:
            self.metrics.answer(capability, result.engine)
        return result

    @staticmethod
    def _valid_refs(refs: Iterable[str], ctx: IncidentContext, extra: set[str] | None = None) -> list[str]:
        known = ctx.record_refs() | (extra or set())
        return list(dict.fromkeys(r.strip() for r in refs if r.strip() in known))

    @staticmethod
    def _cite(
        refs: list[str], red: IncidentContext, original: IncidentContext, allowed: Allowed
    ) -> list[Citation]:
        records: dict[str, Record] = {r.ref: r for r in build_records(red)}
        urls = original.record_urls()
        out = []
        for ref in dict.fromkeys(refs):
            record = records.get(ref)
            if record is None:
                continue
            url = urls.get(ref) or record.url
            if url is not None and not allowed.url_ok(url):
                url = defang(url)
            out.append(Citation(ref, neutralise(one_line(record.label, 160), allowed), url))
        return out

    def _safe_causes(self, causes: list[Cause], original: IncidentContext, allowed: Allowed) -> list[Cause]:
        safe = self._safe(allowed)
        urls = original.record_urls()
        out = []
        for c in causes:
            evidence = []
            for e in c.evidence:
                url = urls.get(e.ref) or e.url
                if url is not None and not allowed.url_ok(url):
                    url = defang(url)
                evidence.append(Citation(e.ref, safe(e.label), url))
            out.append(
                Cause(
                    key=c.key,
                    title=safe(c.title),
                    explanation=safe(c.explanation),
                    evidence=evidence,
                    score=c.score,
                    also=c.also,
                )
            )
        return out

    @staticmethod
    def _list(items: list[str], fallback: str) -> str:
        clean = [one_line(i, 400) for i in items if i.strip()]
        return "\n".join(f"- {i}" for i in clean[:10]) if clean else fallback

    def _model_follow_ups(
        self, items: list[pm.ModelFollowUp], red: IncidentContext, safe: Safe
    ) -> list[FollowUp]:
        out = []
        for item in items[:10]:
            if not item.title.strip():
                continue
            kind = item.kind.strip().lower()
            out.append(
                FollowUp(
                    title=safe(one_line(item.title, 120)),
                    description=safe(one_line(item.description, 600)),
                    kind=kind if kind in pm.FOLLOW_UP_KINDS else "prevent",
                    evidence=self._valid_refs(item.evidence, red),
                )
            )
        return out

    @staticmethod
    def _safe_follow_up(a: FollowUp, safe: Safe) -> FollowUp:
        return FollowUp(
            title=safe(a.title),
            description=safe(a.description),
            kind=a.kind,
            owner=a.owner,
            evidence=a.evidence,
        )
