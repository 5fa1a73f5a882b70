"""On-call at run time: schedules with the overrides people asked for in chat, escalations of incidents on durable
timers, the notifications they send and the acknowledgements that stop them. The calendar maths and the policy
model are :mod:`warroom.oncall` (pure); this package holds the state, in the store."""
