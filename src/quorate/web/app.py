"""The console's HTTP application: routes, the login gate, CSRF checks and the audit log.

Theory of operation: one guard runs before every handler. /login and /static are open; everything else needs a
live session (cookie token looked up in `sessions`): a GET without one is sent to the login page (and back
afterwards), a POST without one is refused with 403 and does nothing, and every POST must carry the session's
CSRF token (403 otherwise, also doing nothing). The login form has its own CSRF token, a double-submit cookie,
since there is no session yet. Password checks run in a worker thread (PAM may sleep on a failure) behind the
per-address `auth.Throttle`.

Actions (clusvcadm operations, fence acknowledgement) check their target against a fresh status document first:
an unknown service or node is a 404 with a message naming it, a node that is not waiting for a fence is refused
before the daemon is asked. Then the daemon's own answer is shown, word for word, and one audit line goes to the
``quorate.web`` logger (stderr, hence the journal under systemd) with the user, the client address, the action,
its target and the result. Forms work without JavaScript; `static/console.js` submits them in the background
(``Accept: application/json``) so that the page stays put and its live sections show the change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from quorate.web import views
from quorate.web.auth import GroupCheck, PasswordCheck, Throttle
from quorate.web.link import Link, Refused, Unreachable
from quorate.web.live import Poller
from quorate.web.sessions import COOKIE, Session, SessionStore

STATIC = Path(__file__).parent / "static"
LOGIN_COOKIE = "quorate_login"
LOGIN_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
KEEPALIVE = 15.0
CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
NO_SESSION = "Not logged in, or the session expired: nothing was done. Log in again."
BAD_CSRF = "This form is forged or stale (CSRF token missing or wrong): nothing was done."
log = logging.getLogger("quorate.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Settings:
    password_check: PasswordCheck
    group_check: GroupCheck
    group: str = "haclient"
    secure_cookies: bool = True  # False only for unit tests, whose in-process test server speaks plain HTTP
    poll_period: float = 0.5
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time  # the timeline's window (`timeline_page`)
    sessions: SessionStore = field(default_factory=SessionStore)
    throttle: Throttle = field(default_factory=Throttle)


SETTINGS = web.AppKey("settings", Settings)
LINK = web.AppKey("link", Link)
POLLER = web.AppKey("poller", Poller)
SESSION = web.RequestKey("session", Session)


def audit(request: web.Request, user: str, action: str, target: str, result: str) -> None:
    log.info("user=%s from=%s action=%s target=%s result=%s", user, request.remote, action, target, json.dumps(result))


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _session(request: web.Request) -> Session | None:
    return request.get(SESSION)


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def refuse(request: web.Request, status: int, title: str, message: str) -> web.Response:
    """An error answer, as JSON for the page's script and as a page for a plain form."""
    session = _session(request)
    if _wants_json(request):
        return web.json_response({"ok": False, "result": message}, status=status)
    user, csrf = (session.user, session.csrf) if session else (None, "")
    return html(views.message_page(title, message, user=user, csrf=csrf), status)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if request.path in ("/login", "/favicon.ico") or request.path.startswith("/static/"):
        return await handler(request)
    now = settings.clock()
    session = settings.sessions.find(request.cookies.get(COOKIE), now, touch=request.path != "/events")
    if session is None:
        if request.path == "/events":
            return await _expired_stream(request)
        if request.method == "GET":
            back = quote(request.path_qs, safe="/")
            raise web.HTTPSeeOther(f"/login?next={back}" if request.path != "/" else "/login")
        log.warning("from=%s action=%s target=%s result=refused: no session", request.remote, request.method,
                    request.path)  # fmt: skip
        return refuse(request, 403, "Not logged in", NO_SESSION)
    request[SESSION] = session
    if request.method == "POST":
        form = await request.post()
        offered = form.get("csrf")
        if not session.csrf_matches(offered if isinstance(offered, str) else None):
            audit(request, session.user, "post", request.path, "refused: CSRF token missing or wrong")
            return refuse(request, 403, "Refused", BAD_CSRF)
    return await handler(request)


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    if request.app[SETTINGS].secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _cookie(response: web.StreamResponse, settings: Settings, name: str, value: str, path: str = "/") -> None:
    response.set_cookie(name, value, path=path, secure=settings.secure_cookies, httponly=True, samesite="Strict")


async def no_icon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


async def login_form(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if settings.sessions.find(request.cookies.get(COOKIE), settings.clock(), touch=False):
        raise web.HTTPSeeOther("/")
    return _login_page(request, "", 200)


def _login_page(request: web.Request, error: str, status: int, next_path: str | None = None) -> web.Response:
    # One token per browser until it logs in: a second login page (another tab, a redirected favicon request)
    # must not invalidate the form already shown.
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not LOGIN_TOKEN.fullmatch(token):
        token = secrets.token_urlsafe(24)
    page = views.login_page(error=error, login_token=token, next_path=next_path or request.query.get("next", "/"))
    response = html(page, status)
    _cookie(response, request.app[SETTINGS], LOGIN_COOKIE, token, "/login")
    return response


def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


async def login(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    form = await request.post()
    user, password = str(form.get("user", "")).strip(), str(form.get("password", ""))
    next_path = _safe_next(str(form.get("next", "/")))
    address = request.remote or "?"
    cookie_token = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie_token or not secrets.compare_digest(cookie_token, str(form.get("login_token", ""))):
        log.warning("user=%s from=%s action=login result=refused: login form token missing or wrong", user, address)
        return _login_page(request, "The login form was stale or forged; try again.", 403, next_path)
    wait = settings.throttle.wait(address, settings.clock())
    if wait > 0:
        log.warning("user=%s from=%s action=login result=refused: throttled for %.0f s", user, address, wait)
        message = f"Too many failed logins from {address}: try again in {wait:.0f} s."
        return _login_page(request, message, 429, next_path)
    ok = bool(user) and await asyncio.to_thread(settings.password_check, user, password)
    member = ok and await asyncio.to_thread(settings.group_check, user, settings.group)
    if not member:
        delay = settings.throttle.failed(address, settings.clock())
        why = "wrong user name or password" if not ok else f"not a member of group {settings.group}"
        log.warning("user=%s from=%s action=login result=refused: %s", user, address, why)
        message = f"Login refused: wrong user name or password, or not a member of group {settings.group}."
        if delay:
            message += f" Further attempts from {address} wait {delay:.0f} s."
        return _login_page(request, message, 401, next_path)
    settings.throttle.succeeded(address)
    session = settings.sessions.open(user, settings.clock())
    log.info("user=%s from=%s action=login result=ok", user, address)
    response = web.HTTPSeeOther(next_path)
    _cookie(response, settings, COOKIE, session.token)
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    session = _session(request)
    if session is not None:
        settings.sessions.close(session.token)
        audit(request, session.user, "logout", "-", "ok")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def _current(request: web.Request) -> dict[str, Any] | None:
    poller = request.app[POLLER]
    await poller.refresh()
    return poller.status


async def overview(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    assert session is not None
    status = await _current(request)
    poller = request.app[POLLER]
    config = request.app[LINK].config(status.get("config_file")) if status else None
    return html(views.overview_page(status, config, poller.current, user=session.user, csrf=session.csrf))


async def _expired_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    await response.write(b"event: expired\ndata: {}\n\n")
    return response


async def events(request: web.Request) -> web.StreamResponse:
    settings, poller = request.app[SETTINGS], request.app[POLLER]
    session = _session(request)
    assert session is not None
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    sub = poller.subscribe()
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            changed = await sub.next(KEEPALIVE)
            if settings.sessions.find(session.token, settings.clock(), touch=False) is None:
                await response.write(b"event: expired\ndata: {}\n\n")
                break
            if changed:
                await response.write(b"event: sections\ndata: " + json.dumps(changed).encode() + b"\n\n")
            else:
                await response.write(b": keep-alive\n\n")
    except ConnectionResetError:
        pass  # the page was closed or navigated away
    finally:
        poller.unsubscribe(sub)
    return response


def _service(status: dict[str, Any], name: str) -> dict[str, Any]:
    for svc in status.get("services") or []:
        if svc["name"] == name:
            return dict(svc)
    known = ", ".join(s["name"] for s in status.get("services") or []) or "none"
    raise LookupError(f"There is no service {name!r} in cluster {status['cluster_name']} (services: {known}).")


async def _status_or_refusal(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        return await asyncio.to_thread(request.app[LINK].status)
    except Unreachable as exc:
        return refuse(request, 503, "quorated is not answering", str(exc))


async def service_page(request: web.Request, answer: str = "", answer_ok: bool = True) -> web.StreamResponse:
    session = _session(request)
    assert session is not None
    status = await _status_or_refusal(request)
    if isinstance(status, web.Response):
        return status
    name = request.match_info["name"]
    try:
        svc = _service(status, name)
    except LookupError as exc:
        return refuse(request, 404, "No such service", str(exc))
    config = request.app[LINK].config(status.get("config_file"))
    page = views.service_page(svc, status, config, user=session.user, csrf=session.csrf, answer=answer,
                              answer_ok=answer_ok)  # fmt: skip
    return html(page)


async def service_action(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    assert session is not None
    form = await request.post()
    name, op = request.match_info["name"], str(form.get("op", ""))
    target = str(form.get("target", "")).strip() or None
    status = await _status_or_refusal(request)
    if isinstance(status, web.Response):
        return status
    try:
        _service(status, name)
    except LookupError as exc:
        return refuse(request, 404, "No such service", str(exc))
    if op not in views.SERVICE_OPS:
        return refuse(request, 400, "Unknown action", f"Unknown action {op!r}: one of {', '.join(views.SERVICE_OPS)}.")
    nodes = [n["name"] for n in status["nodes"]]
    if target is not None and target not in nodes:
        return refuse(request, 404, "No such node", f"There is no node {target!r} in cluster {status['cluster_name']} "
                      f"(nodes: {', '.join(nodes)}).")  # fmt: skip
    if op == "enable" and target is None:
        target = status["node_name"]  # as clusvcadm -e: on the local machine
    if op not in ("enable", "relocate"):
        target = None
    what = f"service:{name}" + (f" -> {target}" if target else "")
    try:
        answer = await asyncio.to_thread(request.app[LINK].svc, op, name, target)
        result, ok = str(answer.get("result", "")), bool(answer.get("done"))
        if ok and answer.get("owner") and op in ("enable", "relocate", "restart"):
            result += f"; service:{name} is now running on {answer['owner']}"
    except Refused as exc:
        result, ok = str(exc), False
    except Unreachable as exc:
        result, ok = str(exc), False
    audit(request, session.user, op, what, result)
    await request.app[POLLER].refresh()
    if _wants_json(request):
        return web.json_response({"ok": ok, "result": result})
    return await service_page(request, result, ok)


def _victim(status: dict[str, Any], node: str) -> dict[str, Any]:
    """The fence record of ``node``; LookupError (not a node) or ValueError (not waiting) with the message."""
    names = [n["name"] for n in status["nodes"]]
    if node not in names:
        raise LookupError(f"There is no node {node!r} in cluster {status['cluster_name']} (nodes: {', '.join(names)}).")
    for victim in (status.get("fencing") or {}).get("victims") or []:
        if victim["name"] == node:
            return dict(victim)
    raise ValueError(f"{node} is not waiting for a fence: there is nothing to acknowledge.")


async def _fence_target(request: web.Request) -> tuple[dict[str, Any], dict[str, Any]] | web.Response:
    status = await _status_or_refusal(request)
    if isinstance(status, web.Response):
        return status
    try:
        return status, _victim(status, request.match_info["node"])
    except LookupError as exc:
        return refuse(request, 404, "No such node", str(exc))
    except ValueError as exc:
        return refuse(request, 409, "Nothing to acknowledge", str(exc))


async def timeline_page(request: web.Request) -> web.StreamResponse:
    """Every member's decisions of the last hours (``?hours=N``, 1 to 168; ``?service=NAME``), as the daemon
    merges them for `quorate timeline`."""
    session = _session(request)
    assert session is not None
    service = request.query.get("service") or None
    try:
        hours = int(request.query.get("hours", "1"))
    except ValueError:
        hours = 0
    if not 1 <= hours <= 168:
        return refuse(request, 400, "Bad window", "hours must be a whole number from 1 to 168.")
    since = int(request.app[SETTINGS].wall() - hours * 3600)
    try:
        doc = await asyncio.to_thread(request.app[LINK].timeline, since, service)
    except Unreachable as exc:
        return refuse(request, 503, "quorated is not answering", str(exc))
    except Refused as exc:
        return refuse(request, 404, "No such timeline", str(exc))
    return html(views.timeline_page(doc, service=service, hours=hours, user=session.user, csrf=session.csrf))


async def fence_confirm(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    assert session is not None
    found = await _fence_target(request)
    if isinstance(found, web.Response):
        return found
    status, victim = found
    config = request.app[LINK].config(status.get("config_file"))
    return html(views.fence_confirm_page(victim, config, user=session.user, csrf=session.csrf))


async def fence_ack(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    assert session is not None
    node = request.match_info["node"]
    found = await _fence_target(request)
    if isinstance(found, web.Response):
        audit(request, session.user, "fence_ack", node, f"refused: {found.status}")
        return found
    try:
        answer = await asyncio.to_thread(request.app[LINK].fence_ack, node)
        said = str(answer.get("text") or "").strip()
        result, ok = f"The fence of {node} is acknowledged" + (f" (quorated: {said})" if said else "") + ".", True
    except (Refused, Unreachable) as exc:
        result, ok = str(exc), False
    audit(request, session.user, "fence_ack", node, result)
    await request.app[POLLER].refresh()
    if _wants_json(request):
        return web.json_response({"ok": ok, "result": result})
    return html(views.message_page("Fence acknowledgement", result, user=session.user, csrf=session.csrf),
                200 if ok else 409)  # fmt: skip


def build_app(link: Link, settings: Settings) -> web.Application:
    app = web.Application(middlewares=[headers, guard], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[LINK] = link
    app[POLLER] = Poller(link, settings.poll_period)

    async def lifecycle(app: web.Application) -> Any:
        app[POLLER].start()
        yield
        await app[POLLER].stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", overview)
    app.router.add_get("/events", events)
    app.router.add_get("/service/{name}", service_page)
    app.router.add_post("/service/{name}", service_action)
    app.router.add_get("/timeline", timeline_page)
    app.router.add_get("/fence/{node}", fence_confirm)
    app.router.add_post("/fence/{node}", fence_ack)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app
