"""The status pages' email subscribers on the web (warroom.response.statuspages.subscribers decides; this module
answers browsers and mail programs):

- ``POST /status/{page}/subscribe`` (form field ``email``): the form at the foot of each page. Mails a link to
  confirm; the answer is the same whether the address was new, waiting for its confirmation or subscribed already.
  A private or scoped page takes it only with the page's signed link (``?expires=…[&scope=…]&token=…``, which the
  page's form carries), and the subscriber gets what that link shows.
- ``GET /status/{page}/confirm?token=…`` shows a button; ``POST`` to the same address confirms. The GET changes
  nothing: mail scanners open links before people do.
- ``GET /status/{page}/unsubscribe?token=…`` shows a button; ``POST`` unsubscribes — what mail programs send for
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), so it needs no more than the link's token.

Forms a person sends (subscribe, confirm) are refused when another site sent them: the browser's ``Sec-Fetch-Site``
says so, or (a browser too old to send it) ``Origin`` names another site. Pages are HTML from Jinja2 with
autoescape, nothing loaded from anywhere, under the status pages' Content-Security-Policy.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from jinja2 import Environment
from sqlalchemy.exc import IntegrityError

from warroom.response import statuspages as sp
from warroom.response.statuspages import subscribers
from warroom.settings import Settings
from warroom.settings.model import StatusPageSettings

from .body import BodyRefused, read_body
from .statuspages import _CSP

if TYPE_CHECKING:
    from .app import Runtime

log = logging.getLogger("warroom.web.status_subscribers")

#: A form with an email address (or nothing, for one-click unsubscribing) stays far below this.
MAX_FORM = 8 * 1024
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
            "Content-Security-Policy": _CSP}

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ heading }} · {{ title }} status</title>
<style>
:root{color-scheme:light}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff;margin:0}
header,main{max-width:40rem;margin:0 auto;padding:1rem 1.25rem}
header{border-bottom:1px solid #d0d0d0}
h1{font-size:1.5rem;margin:.25rem 0}
.site{color:#4a4a4a;margin:0}
a{color:#0645ad}
a:focus,a:hover,button:focus,input:focus{outline:3px solid #0645ad;outline-offset:2px}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{font:inherit;padding:.5rem;border:1px solid #595959;border-radius:.3rem;width:100%;max-width:24rem;box-sizing:border-box}
button{font:inherit;font-weight:600;padding:.55rem 1.2rem;margin-top:.75rem;color:#fff;background:#0645ad;border:0;border-radius:.3rem;cursor:pointer}
.error{border-left:4px solid #a4161a;padding:.25rem 0 .25rem 1rem}
</style>
</head>
<body>
<header><p class="site">{{ title }} status</p><h1>{{ heading }}</h1></header>
<main>
{% for line in lines %}<p{% if error %} class="error" role="alert"{% endif %}>{{ line }}</p>
{% endfor %}
{% if form %}
<form method="post" action="{{ form.action }}">
{% if form.email is not none %}
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="{{ form.email }}"
{%- if error %} aria-invalid="true"{% endif %}>
{% endif %}
<button type="submit">{{ form.button }}</button>
</form>
{% endif %}
{% if back %}<p><a href="{{ back }}">Back to the status page</a></p>{% endif %}
</main>
</body>
</html>
"""

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_page = _env.from_string(_TEMPLATE)


def _html(status: int, title: str, heading: str, *lines: str, form: dict[str, object] | None = None,
          back: str = "", error: bool = False) -> web.Response:
    text = _page.render(title=title, heading=heading, lines=lines, form=form, back=back, error=error)
    return web.Response(status=status, text=text, content_type="text/html", charset="utf-8", headers=_HEADERS)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(request: web.Request, settings: Settings) -> bool:
    """Whether a browser sent this form from another site. ``Sec-Fetch-Site`` (sent by every current browser, and
    not settable by a page's scripts) decides when present; else ``Origin`` must be this server's, as
    ``server.public_url`` or the request itself names it. A request with neither is no browser's cross-site form."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin.strip().lower() not in {_origin(settings.server.public_url), f"{request.scheme}://{request.host}".lower()}


async def _form(request: web.Request) -> dict[str, str]:
    """The posted form's fields (the last of each name); :class:`BodyRefused` for a body too large or not UTF-8."""
    body = await read_body(request, MAX_FORM)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused(400, "The form is not UTF-8: send it as a browser does.") from None
    return dict(parse_qsl(text, keep_blank_values=True))


class SubscribeLimit:
    """How many subscribe requests one client address, and all clients together, may send in a sliding window (in
    this process): the form sends email to any address typed into it, so it must not become a way to flood
    mailboxes or the relay. Remembers at most ``max_clients`` addresses (the least recently seen are forgotten)."""

    def __init__(self, per_client: int, overall: int, window: float, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_client, self.overall, self.window = per_client, overall, window
        self.max_clients, self.clock = max_clients, clock
        self._all: deque[float] = deque()
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, client: str) -> float:
        """0 when ``client`` may send one now (and it is counted); else the seconds until it may."""
        now = self.clock()
        since = now - self.window
        while self._all and self._all[0] <= since:
            self._all.popleft()
        mine = self._clients.pop(client, None) or deque()
        while mine and mine[0] <= since:
            mine.popleft()
        self._clients[client] = mine  # now the most recently seen
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        if len(mine) >= self.per_client:
            return mine[0] + self.window - now
        if len(self._all) >= self.overall:
            return self._all[0] + self.window - now
        mine.append(now)
        self._all.append(now)
        return 0.0


def mount(app: web.Application, rt: Runtime) -> None:
    settings = rt.settings
    limit = SubscribeLimit(settings.status_subscribers.subscribe_per_client,
                           settings.status_subscribers.subscribe_overall,
                           settings.status_subscribers.subscribe_window_seconds)

    def unknown(name: str) -> web.Response:
        return _html(404, "warroom", "No such status page", f"There is no status page called '{name[:63]}'.")

    def title_of(page: StatusPageSettings) -> str:
        return page.title or page.name

    def refused_cross_site(page: StatusPageSettings) -> web.Response:
        return _html(403, title_of(page), "Sent from another site",
                     "This form was sent from another website, so nothing was done. To subscribe, use the form on "
                     "the status page itself.", back=f"/status/{page.name}", error=True)

    async def subscribe(request: web.Request) -> web.Response:
        page = settings.status_page(request.match_info["page"])
        if page is None:
            return unknown(request.match_info["page"])
        title, back = title_of(page), f"/status/{page.name}"
        scope = ""
        if page.visibility != "public":
            expires, token = request.query.get("expires", ""), request.query.get("token", "")
            scope = request.query.get("scope", "") if page.visibility == "scoped" else ""
            if (page.visibility == "scoped" and scope not in page.scopes) or not sp.link_ok(
                    settings, page.name, expires, token, scope=scope):
                return _html(403, title, "This status page is not public",
                             "Subscribe from the page opened with the link you were given; links expire — ask for a "
                             "new one.", error=True)
            back += "?" + request.query_string
        if cross_site(request, settings):
            return refused_cross_site(page)
        try:
            form = await _form(request)
        except BodyRefused as exc:
            return _html(exc.status, title, "The form could not be read", exc.reason, back=back, error=True)
        if not settings.smtp.host:
            return _html(404, title, "No email updates", "This status page does not send email: follow it with its "
                         "Atom or RSS feed instead.", back=back, error=True)
        wait = limit.wait(request.remote or "-")
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            refused = _html(429, title, "Too many requests",
                            f"Too many subscription requests have come in just now. Try again in {minutes} minute"
                            f"{'s' if minutes != 1 else ''}.", back=back, error=True)
            refused.headers["Retry-After"] = str(math.ceil(wait))
            return refused
        address = form.get("email", "")
        try:
            async with rt.store.tx() as tx:
                await subscribers.subscribe_email(tx, page, scope, address)
        except subscribers.SubscribeRefused as exc:
            return _html(400, title, "Check the email address", str(exc), error=True, back=back,
                         form={"action": request.path_qs, "email": address[:254], "button": "Subscribe"})
        except IntegrityError:
            pass  # the same address asked twice at once: the other request mails it
        return _html(200, title, "Check your inbox",
                     f"If {address.strip()[:254]} can get updates of {title}, we have sent it a link to confirm the "
                     "subscription. Nothing is sent until it is confirmed.",
                     "No email? Check your spam folder, or ask again in an hour.", back=back)

    async def confirm_form(request: web.Request) -> web.Response:
        page = settings.status_page(request.match_info["page"])
        if page is None:
            return unknown(request.match_info["page"])
        token = request.query.get("token", "")
        async with rt.store.read() as tx:
            found = await subscribers.pending_token(tx, page.name, token)
        if found is None or found["disabled_at"] is not None:
            return _expired(page)
        if found["confirmed_at"] is not None:
            return _confirmed(page)
        return _html(200, title_of(page), "Confirm your subscription",
                     f"Get an email about each update of {title_of(page)}?",
                     form={"action": request.path_qs, "email": None, "button": "Confirm subscription"})

    def _expired(page: StatusPageSettings) -> web.Response:
        return _html(404, title_of(page), "This link does not work",
                     "It has expired, or the subscription was removed. Subscribe again on the status page.",
                     back=f"/status/{page.name}" if page.visibility == "public" else "", error=True)

    def _confirmed(page: StatusPageSettings) -> web.Response:
        return _html(200, title_of(page), "You are subscribed",
                     f"You will get an email about each update of {title_of(page)}. Each one has a link to "
                     "unsubscribe.", back=f"/status/{page.name}" if page.visibility == "public" else "")

    async def confirm(request: web.Request) -> web.Response:
        page = settings.status_page(request.match_info["page"])
        if page is None:
            return unknown(request.match_info["page"])
        if cross_site(request, settings):
            return refused_cross_site(page)
        try:
            await _form(request)
        except BodyRefused as exc:
            return _html(exc.status, title_of(page), "The form could not be read", exc.reason, error=True)
        async with rt.store.tx() as tx:
            done = await subscribers.confirm(tx, page.name, request.query.get("token", ""))
        return _confirmed(page) if done else _expired(page)

    async def unsubscribe_form(request: web.Request) -> web.Response:
        page = settings.status_page(request.match_info["page"])
        if page is None:
            return unknown(request.match_info["page"])
        async with rt.store.read() as tx:
            found = await subscribers.pending_token(tx, page.name, request.query.get("token", ""))
        if found is None:
            return _unsubscribed(page)
        return _html(200, title_of(page), "Unsubscribe",
                     f"Stop getting emails about the updates of {title_of(page)}?",
                     form={"action": request.path_qs, "email": None, "button": "Unsubscribe"})

    def _unsubscribed(page: StatusPageSettings) -> web.Response:
        return _html(200, title_of(page), "You are unsubscribed",
                     f"You will get no more emails about {title_of(page)}. You can subscribe again on the status "
                     "page at any time.", back=f"/status/{page.name}" if page.visibility == "public" else "")

    async def unsubscribe(request: web.Request) -> web.Response:
        # RFC 8058: the mail program's POST carries the link's token and "List-Unsubscribe=One-Click", from no site
        page = settings.status_page(request.match_info["page"])
        if page is None:
            return unknown(request.match_info["page"])
        try:
            await _form(request)
        except BodyRefused as exc:
            return _html(exc.status, title_of(page), "The form could not be read", exc.reason, error=True)
        async with rt.store.tx() as tx:
            await subscribers.unsubscribe(tx, page.name, request.query.get("token", ""))
        return _unsubscribed(page)

    app.router.add_post("/status/{page}/subscribe", subscribe)
    app.router.add_get("/status/{page}/confirm", confirm_form)
    app.router.add_post("/status/{page}/confirm", confirm)
    app.router.add_get("/status/{page}/unsubscribe", unsubscribe_form)
    app.router.add_post("/status/{page}/unsubscribe", unsubscribe)
