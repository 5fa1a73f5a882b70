"""The web console: people sign in with the organisation's identity provider (OpenID Connect) and read the incident
record — the list of incidents, each incident's timeline, roles, links (war room, ITSM request, bridge, status
pages, postmortem, tasks) — and private status pages without a signed link.

- :mod:`.auth`: sign-in (OIDC authorization code flow with PKCE), the session cookie, sign-out, who is signed in;
- :mod:`.pages`: the console's pages, server-rendered HTML (no script), each behind a signed-in person.
"""
