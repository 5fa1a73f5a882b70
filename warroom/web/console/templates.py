"""The console's pages as Jinja2 templates (autoescaped; inline CSS, no script, nothing loaded from anywhere): a
layout with the signed-in person's name and a Sign out button, the incident list, an incident's record, who is on
call, and a page with one sentence (an error, a 404)."""

from __future__ import annotations

from jinja2 import DictLoader, Environment

_BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }} · warroom</title>
<style>
:root{color-scheme:light}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff;margin:0}
.bar{background:#1f2933;color:#fff}
.bar .in{max-width:72rem;margin:0 auto;padding:.5rem 1.25rem;display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;
align-items:center}
.bar a{color:#fff;font-weight:600}
.bar a:focus,.bar a:hover,.bar button:focus,.bar button:hover{outline:3px solid #ffd23f;outline-offset:2px}
.bar nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}
.bar .me{margin-left:auto;display:flex;gap:.75rem;align-items:center;flex-wrap:wrap}
.bar button{font:inherit;padding:.3rem .8rem;color:#1f2933;background:#fff;border:0;border-radius:.3rem;cursor:pointer}
main{max-width:72rem;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin:1.75rem 0 .5rem}
h3{font-size:1.05rem;margin:1rem 0 .25rem}
a{color:#0645ad}
a:focus,a:hover,button:focus,input:focus,select:focus,summary:focus{outline:3px solid #0645ad;outline-offset:2px}
.meta{font-size:.9rem;color:#4a4a4a}
.error{border-left:4px solid #a4161a;background:#fdf0f0;padding:.5rem .9rem}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;vertical-align:top;padding:.45rem .5rem;border-bottom:1px solid #d0d0d0}
td{overflow-wrap:break-word}
th{font-size:.9rem;color:#333;background:#f3f4f6}
td.title{overflow-wrap:anywhere;max-width:28rem}
.status{font-weight:600}
.status.triggered{color:#a4161a}.status.acknowledged{color:#7a5200}.status.resolved{color:#1e6b34}
.private{font-style:italic;color:#4a4a4a}
ul.counts{list-style:none;display:flex;flex-wrap:wrap;gap:.5rem;padding:0;margin:0 0 1rem}
ul.counts li{border:1px solid #d0d0d0;border-radius:.4rem;padding:.35rem .8rem}
ul.counts strong{font-size:1.2rem}
form.filters{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end;margin:0 0 1rem}
form.filters label{display:block;font-weight:600;font-size:.9rem}
input,select{font:inherit;padding:.35rem;border:1px solid #595959;border-radius:.3rem;max-width:100%;background:#fff}
form.filters button{font:inherit;font-weight:600;padding:.4rem 1rem;color:#fff;background:#0645ad;border:0;
border-radius:.3rem;cursor:pointer}
nav.pager ul{list-style:none;display:flex;gap:1rem;padding:0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.1rem 0}
ol.timeline{list-style:none;padding:0;margin:0}
ol.timeline>li{border-left:3px solid #d0d0d0;padding:.3rem 0 .3rem .8rem;margin:.4rem 0}
ol.timeline .kind{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;color:#333}
details summary{cursor:pointer;color:#0645ad}
.summary{border:1px solid #d0d0d0;border-radius:.4rem;padding:.5rem .9rem}
@media (max-width:44rem){
table.list thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.list,table.list caption,table.list tbody,table.list tr,table.list td{display:block;width:100%}
table.list tr{border:1px solid #d0d0d0;border-radius:.4rem;margin:.5rem 0;padding:.25rem .5rem}
table.list td{border:0;padding:.15rem 0}
table.list td::before{content:attr(data-label) ": ";font-weight:600}
dl.facts{grid-template-columns:1fr}
dl.facts dd{margin-bottom:.4rem}
}
</style>
</head>
<body>
<header class="bar"><div class="in">
<a href="/console">warroom</a>
<nav aria-label="Console"><ul><li><a href="/console">Incidents</a></li><li><a href="/console/oncall">On call</a></li></ul></nav>
{% if user %}<div class="me"><span>Signed in as {{ user.name or user.email }}</span>
<form method="post" action="/console/signout"><button type="submit">Sign out</button></form></div>{% endif %}
</div></header>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
"""

_MESSAGE = """{% extends "base.html" %}
{% block main %}
<h1>{{ title }}</h1>
<p>{{ text }}</p>
<p><a href="/console">All incidents</a></p>
{% endblock %}
"""

_LIST = """{% extends "base.html" %}
{% block main %}
<h1>Incidents</h1>
<section aria-labelledby="open-heading">
<h2 id="open-heading" class="meta">Open incidents by priority</h2>
<ul class="counts">
{% for c in counts %}<li>{{ c.priority }}: <strong>{{ c.count }}</strong> open</li>{% else %}<li>No incident is open.</li>{% endfor %}
</ul>
</section>
<form class="filters" method="get" action="/console" role="search" aria-label="Filter the incidents">
<div><label for="f-status">Status</label>
<select id="f-status" name="status">
{% for value, label in [("all", "All"), ("open", "Open"), ("resolved", "Resolved")] %}
<option value="{{ value }}"{% if filters.status == value %} selected{% endif %}>{{ label }}</option>
{% endfor %}
</select></div>
<div><label for="f-service">Service</label>
<select id="f-service" name="service">
<option value="">Any</option>
{% for s in services %}<option{% if filters.service == s %} selected{% endif %}>{{ s }}</option>{% endfor %}
</select></div>
<div><label for="f-priority">Priority</label>
<select id="f-priority" name="priority">
<option value="">Any</option>
{% for p in priorities %}<option{% if filters.priority == p %} selected{% endif %}>{{ p }}</option>{% endfor %}
</select></div>
<div><label for="f-q">Title contains</label>
<input id="f-q" name="q" type="search" maxlength="200" value="{{ filters.text }}"></div>
<div><button type="submit">Show</button></div>
</form>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if not error %}
<p class="meta" role="status">{{ summary }}</p>
{% if rows %}
<table class="list">
<caption>Incidents, the open ones first (highest priority, then newest), then the resolved ones (newest first)</caption>
<thead><tr><th scope="col">Incident</th><th scope="col">Status</th><th scope="col">Priority</th>
<th scope="col">Title</th><th scope="col">Service</th><th scope="col">Commander</th><th scope="col">Declared</th>
<th scope="col">Time to acknowledge</th></tr></thead>
<tbody>
{% for r in rows %}
{% if r.hidden %}
<tr class="private"><td data-label="Incident">A private incident</td>
<td data-label="Status"><span class="status {{ r.status }}">{{ r.status_label }}</span></td>
<td data-label="Priority">{{ r.priority }}</td>
<td data-label="Title" colspan="5">Its record is for the people who took part in it.</td></tr>
{% else %}
<tr><td data-label="Incident"><a href="/console/incidents/{{ r.id }}">{{ r.ref }}</a></td>
<td data-label="Status"><span class="status {{ r.status }}">{{ r.status_label }}</span></td>
<td data-label="Priority">{{ r.priority }}</td>
<td data-label="Title" class="title">{{ r.title }}</td>
<td data-label="Service">{{ r.service }}</td>
<td data-label="Commander">{{ r.commander }}</td>
<td data-label="Declared"><time datetime="{{ r.declared_iso }}" title="{{ r.declared }} UTC">{{ r.declared_ago }}</time></td>
<td data-label="Time to acknowledge">{{ r.tta }}</td></tr>
{% endif %}
{% endfor %}
</tbody>
</table>
{% endif %}
{% if pager %}
<nav class="pager" aria-label="Pages"><ul>
{% if pager.previous %}<li><a href="{{ pager.previous }}" rel="prev">Previous page</a></li>{% endif %}
<li>Page {{ pager.page }} of {{ pager.pages }}</li>
{% if pager.next %}<li><a href="{{ pager.next }}" rel="next">Next page</a></li>{% endif %}
</ul></nav>
{% endif %}
{% endif %}
{% endblock %}
"""

_INCIDENT = """{% extends "base.html" %}
{% macro text(value) %}{% if value|length > fold or value.count("\\n") > 6 %}<details><summary>{{ value[:120] }}…</summary>
<p class="text">{{ value }}</p></details>{% else %}<p class="text">{{ value }}</p>{% endif %}{% endmacro %}
{% block main %}
<p class="meta"><a href="/console">All incidents</a></p>
<h1>{{ inc.ref }}: {{ inc.title }}</h1>
<section aria-labelledby="facts-heading">
<h2 id="facts-heading">Record</h2>
<dl class="facts">
<dt>Status</dt><dd><span class="status {{ inc.status }}">{{ inc.status_label }}</span>{% if inc.merged_into %} (merged into
<a href="/console/incidents/{{ inc.merged_into }}">INC-{{ inc.merged_into }}</a>){% endif %}</dd>
<dt>Priority</dt><dd>{{ inc.priority }} (urgency {{ inc.urgency }})</dd>
<dt>Service</dt><dd>{{ inc.service }}</dd>
<dt>Declared</dt><dd>{{ inc.declared }} UTC, {{ inc.declared_ago }}, from {{ inc.origin }}</dd>
<dt>Acknowledged</dt><dd>{% if inc.acknowledged %}{{ inc.acknowledged }} UTC, {{ inc.acknowledged_ago }}{% else %}not yet{% endif %}</dd>
<dt>Resolved</dt><dd>{% if inc.resolved %}{{ inc.resolved }} UTC, {{ inc.resolved_ago }}{% else %}not yet{% endif %}</dd>
<dt>Time to acknowledge</dt><dd>{{ inc.tta }}</dd>
<dt>Time to resolve</dt><dd>{{ inc.ttr }}</dd>
<dt>Assignee</dt><dd>{{ inc.assignee }}</dd>
</dl>
{% if inc.details %}<h3>Impact and details</h3>{{ text(inc.details) }}{% endif %}
</section>
<section aria-labelledby="roles-heading">
<h2 id="roles-heading">Roles</h2>
<dl class="facts">
{% for r in roles %}<dt>{{ r.label }}</dt><dd>{{ r.who }}</dd>{% endfor %}
</dl>
</section>
<section aria-labelledby="links-heading">
<h2 id="links-heading">Links</h2>
{% if links %}<ul>{% for label, url in links %}<li><a href="{{ url }}" rel="noopener noreferrer">{{ label }}</a></li>{% endfor %}</ul>
{% else %}<p>No war room, request, bridge or postmortem is linked yet.</p>{% endif %}
{% if status_entries %}
<h3>Status pages</h3>
{% for e in status_entries %}
<article aria-label="On the status page {{ e.page }}">
<p><a href="{{ e.url }}" rel="noopener noreferrer">{{ e.title }}</a>: “{{ e.name }}”, {{ e.label }}</p>
{% if e.updates %}<ol>
{% for u in e.updates %}<li><strong>{{ u.label }}</strong> <time datetime="{{ u.iso }}">{{ u.at }} UTC</time>{% if u.by %} by {{ u.by }}{% endif %}{{ text(u.body) }}</li>{% endfor %}
</ol>{% else %}<p class="meta">Nothing published there yet.</p>{% endif %}
</article>
{% endfor %}
{% endif %}
{% if tasks %}
<h3>Post-incident tasks</h3>
<ul>
{% for t in tasks %}<li><span class="text">{{ t.title }}</span> — {{ t.status }}{% if t.owner %}, {{ t.owner }}{% endif %}{% if t.due %}, due {{ t.due }}{% endif %}
{% if t.rfc_url %} · <a href="{{ t.rfc_url }}" rel="noopener noreferrer">RFC #{{ t.rfc }}</a>{% elif t.rfc %} · RFC #{{ t.rfc }}{% endif %}{% if t.rfc_status %} ({{ t.rfc_status }}){% endif %}</li>{% endfor %}
</ul>
{% endif %}
</section>
{% if ai %}
<section aria-labelledby="ai-heading">
<h2 id="ai-heading">Latest AI status summary</h2>
<div class="summary"><p class="meta"><time datetime="{{ ai.iso }}">{{ ai.at }} UTC</time>, {{ ai.ago }}</p>{{ text(ai.text) }}</div>
</section>
{% endif %}
<section aria-labelledby="timeline-heading">
<h2 id="timeline-heading">Timeline</h2>
{% if timeline %}
<ol class="timeline">
{% for e in timeline %}<li><p class="meta"><time datetime="{{ e.iso }}">{{ e.at }} UTC</time> · <span class="kind">{{ e.kind }}</span>{% if e.who %} · {{ e.who }}{% endif %}</p>{{ text(e.text) }}</li>
{% endfor %}
</ol>
{% else %}<p>Nothing on the timeline yet.</p>{% endif %}
</section>
{% endblock %}
"""

_ONCALL = """{% extends "base.html" %}
{% block main %}
<h1>On call</h1>
<p class="meta">As of <time datetime="{{ now_iso }}">{{ now }} UTC</time>.</p>
<section aria-labelledby="schedules-heading">
<h2 id="schedules-heading">Schedules</h2>
{% if schedules %}
<table class="list">
<caption>Who is on call now in each schedule, and the next handover</caption>
<thead><tr><th scope="col">Schedule</th><th scope="col">On call now</th><th scope="col">Next handover</th></tr></thead>
<tbody>
{% for s in schedules %}<tr><td data-label="Schedule">{{ s.name }}{% if s.team %} (team {{ s.team }}){% endif %}</td>
<td data-label="On call now">{{ s.now }}</td><td data-label="Next handover">{{ s.next }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p>No on-call schedules are configured (oncall.schedules; see docs/oncall.md).</p>{% endif %}
</section>
<section aria-labelledby="policies-heading">
<h2 id="policies-heading">Escalation policies</h2>
{% for p in policies %}
<h3>{{ p.name }}</h3>
<ol>
{% for step in p.steps %}<li>{{ step.who }}{% if not loop.last %}; then after {{ step.wait }}{% endif %}</li>{% endfor %}
</ol>
{% if p.repeat %}<p class="meta">Runs {{ p.repeat }} more time{{ "s" if p.repeat > 1 }} when nobody acknowledges.</p>{% endif %}
{% else %}<p>No escalation policies are configured (oncall.escalation_policies).</p>{% endfor %}
</section>
{% endblock %}
"""

env = Environment(
    loader=DictLoader({"base.html": _BASE, "message.html": _MESSAGE, "list.html": _LIST, "incident.html": _INCIDENT,
                       "oncall.html": _ONCALL}),
    autoescape=True, trim_blocks=True, lstrip_blocks=True,
)
