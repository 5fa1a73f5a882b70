"""The demo's on-call part: an alert for ``payments`` pages its on-call (Ana, by the schedule) by Slack DM, email,
SMS and a phone call at once; Ana answers the SMS with "N ack", and the escalation stops before its next step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warroom.sandbox.harness import Harness, alertmanager_payload

Say = Callable[[str], None]
ANA_PHONE = "+447700900101"


def configure(data: dict[str, Any]) -> None:
    """The payments service pages the policy ``payments``: the schedule's on-call now, then Ben after 5 minutes."""
    data["oncall"] = {
        "schedules": [{"name": "payments-primary", "team": "payments", "time_zone": "Europe/London",
                       "layers": [{"name": "weekly", "users": ["ana@example.com"],
                                   "rotation_start": "2026-01-05T09:00", "handoff": "weekly"}]}],
        "escalation_policies": [{"name": "payments", "steps": [
            {"notify": {"schedules": ["payments-primary"]}, "wait_minutes": 5},
            {"notify": {"users": ["ben@example.com"]}, "wait_minutes": 5}]}],
        "people": [{"email": "ana@example.com", "name": "Ana Ops", "phone": ANA_PHONE, "rules": {
            "high": [{"method": "chat"}, {"method": "email"}, {"method": "sms"}, {"method": "voice"}]}}],
    }
    for svc in data["services"]:
        if svc["name"] == "payments":
            svc["escalation_policy"] = "payments"


async def _settle(h: Harness) -> None:
    for _ in range(3):
        await h.runtime.worker.run_until_idle(timeout=15)
        await h.world.twilio.settled()


async def oncall_story(h: Harness, say: Say) -> bool:
    say("8. On-call: an alert for payments pages its escalation policy (Ana is on call in payments-primary):")
    payload = alertmanager_payload([{"labels": {"alertname": "PaymentsDeclines", "service": "payments",
                                                "severity": "critical"},
                                     "annotations": {"summary": "card declines above 30%"}}])
    incident_id = (await h.post_alerts(payload)).json()["incidents"][0]
    await _settle(h)
    slack = h.world.slack
    ana = next(u["id"] for u in slack.users.values() if u["profile"]["email"] == "ana@example.com")
    dms = slack.dms(ana)
    mails = [m for m in h.world.smtp.messages if "ana@example.com" in m.rcpt_tos]
    texts = h.world.twilio.sms_to(ANA_PHONE)
    calls = h.world.twilio.phone_calls_to(ANA_PHONE)
    say(f"   Slack DM      {dms[-1]['text'] if dms else '(none)'}")
    say(f"   email         {mails[-1].subject if mails else '(none)'}")
    say(f"   SMS           {texts[-1]['body'] if texts else '(none)'}")
    say(f"   phone call    {' / '.join(calls[-1].said) if calls else '(none)'}")
    if not (dms and mails and texts and calls):
        say("FAILED: the page did not go out by every method")
        return False
    reply = await h.world.twilio.inbound_sms(ANA_PHONE, h.world.twilio.numbers[0], f"{incident_id} ack")
    say(f"   Ana texts back \"{incident_id} ack\" → {' '.join(reply.messages)}")
    await _settle(h)
    async with h.runtime.store.read() as tx:
        incident = await tx.incidents.get(incident_id)
        esc = await tx.escalations.get(incident_id)
    ok = incident is not None and incident.status.value == "acknowledged" and esc is not None \
        and esc["state"] == "acknowledged"
    if incident is not None and incident.acknowledged_at is not None:
        mtta = (incident.acknowledged_at - incident.created_at).total_seconds()
        say(f"   INC-{incident_id} {incident.status.value} by {incident.assignee}; escalation "
            f"{esc['state'] if esc else '?'} before step 2 (Ben is not paged); MTTA {mtta:.1f} s")
    if not ok:
        say("FAILED: the SMS reply did not acknowledge the incident")
    return ok
