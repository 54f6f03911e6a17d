"""The console's HTTP behaviour as a browser and an administrator see it, on a fake daemon and a fake PAM."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from console_fakes import B, C, Console, csrf_of, log_in, login_token

from quorate.web.sessions import COOKIE


def run(console: Console, scenario: Callable[[Any], Awaitable[None]]) -> None:
    async def main() -> None:
        client = await console.client()
        try:
            await scenario(client)
        finally:
            await client.close()

    asyncio.run(main())


def test_a_member_of_the_group_logs_in_and_sees_nodes_quorum_and_the_service_with_its_reason(console: Console) -> None:
    async def scenario(client: Any) -> None:
        first = await client.get("/", allow_redirects=False)
        assert first.status == 303 and first.headers["Location"] == "/login"
        answer = await log_in(client)
        assert answer.status == 303 and answer.headers["Location"] == "/"
        cookie = answer.headers.getall("Set-Cookie")
        assert any(c.startswith(f"{COOKIE}=") and "HttpOnly" in c and "SameSite=Strict" in c for c in cookie)
        page = await (await client.get("/")).text()
        for name in (B, C, "melchior.localdomain"):
            assert f'data-node="{name}" data-state="online"' in page
        assert '<dt>Expected votes</dt><dd>5</dd>' in page and '<dd id="quorum-value">3</dd>' in page
        assert 'data-service="test" data-state="started" data-owner="balthasar.localdomain"' in page
        assert "started on its domain&#x27;s first member" in page
        assert "Quorum disk <b>/dev/loop7</b>: online" in page

    run(console, scenario)


def test_secure_cookies_are_marked_secure(console: Console) -> None:
    console.settings.secure_cookies = True

    async def scenario(client: Any) -> None:
        form = await client.get("/login")
        assert "Secure" in form.headers["Set-Cookie"] and "HttpOnly" in form.headers["Set-Cookie"]
        assert form.headers["Strict-Transport-Security"].startswith("max-age=")

    run(console, scenario)


def test_a_wrong_password_is_refused_and_a_user_outside_the_group_too(console: Console, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="quorate.web")

    async def scenario(client: Any) -> None:
        wrong = await log_in(client, password="wrong")
        assert wrong.status == 401 and "Login refused" in await wrong.text()
        assert COOKIE not in wrong.cookies
        outsider = await log_in(client, user="mallory")
        assert outsider.status == 401
        assert (await client.get("/", allow_redirects=False)).status == 303

    run(console, scenario)
    assert "user=mallory from=127.0.0.1 action=login result=refused: not a member of group haclient" in caplog.text
    assert "user=alice from=127.0.0.1 action=login result=refused: wrong user name or password" in caplog.text


def test_repeated_failures_slow_the_address_down_without_asking_pam(console: Console) -> None:
    asked: list[str] = []
    check = console.settings.password_check

    def counting(user: str, password: str) -> bool:
        asked.append(password)
        return check(user, password)

    console.settings.password_check = counting

    async def scenario(client: Any) -> None:
        for _ in range(3):
            assert (await log_in(client, password="guess")).status == 401
        fourth = await log_in(client, password="guess")
        assert fourth.status == 401 and "Further attempts from 127.0.0.1 wait 2 s" in await fourth.text()
        blocked = await log_in(client)  # even the right password waits
        assert blocked.status == 429
        assert "Too many failed logins from 127.0.0.1: try again in 2 s" in await blocked.text()
        assert len(asked) == 4
        console.clock.now += 2.5
        assert (await log_in(client)).status == 303

    run(console, scenario)


def test_login_without_its_form_token_is_refused(console: Console) -> None:
    async def scenario(client: Any) -> None:
        answer = await client.post("/login", data={"user": "alice", "password": "right horse"}, allow_redirects=False)
        assert answer.status == 403 and "stale or forged" in await answer.text()

    run(console, scenario)


def test_login_returns_to_the_page_asked_for_but_never_off_site(console: Console) -> None:
    async def scenario(client: Any) -> None:
        bounced = await client.get("/service/test?a=1&b=2", allow_redirects=False)
        form = await (await client.get(bounced.headers["Location"])).text()
        assert '<input type="hidden" name="next" value="/service/test?a=1&amp;b=2">' in form
        assert (await log_in(client, next_path="/service/test")).headers["Location"] == "/service/test"
        client.session.cookie_jar.clear()
        assert (await log_in(client, next_path="//evil.example/")).headers["Location"] == "/"

    run(console, scenario)


def test_relocation_from_the_service_page_is_done_logged_and_answered(console: Console, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="quorate.web")

    async def scenario(client: Any) -> None:
        await log_in(client)
        page = await (await client.get("/service/test")).text()
        assert '<dd id="domain"><b>ring01</b> ordered, restricted:' in page
        assert "casper.localdomain (priority 20)" in page
        assert '<span class="rtype">script</span> <b>test_svc</b>' in page
        assert f'<option value="{C}">' in page
        answer = await client.post(
            "/service/test", data={"op": "relocate", "target": C, "csrf": csrf_of(page)},
            headers={"Accept": "application/json"},
        )  # fmt: skip
        assert await answer.json() == {"ok": True, "result": f"Success; service:test is now running on {C}"}
        plain = await client.post("/service/test", data={"op": "freeze", "csrf": csrf_of(page)})
        assert plain.status == 200 and '<p id="answer" class="answer good">Success</p>' in await plain.text()

    run(console, scenario)
    assert console.link.requests == [("svc", "relocate", "test", C), ("svc", "freeze", "test", None)]
    assert f'user=alice from=127.0.0.1 action=relocate target=service:test -> {C} result="Success;' in caplog.text


def test_enable_without_a_member_means_this_node_and_a_refusal_is_shown_word_for_word(console: Console) -> None:
    console.link.refusal = "Fencing operation pending; try again later"

    async def scenario(client: Any) -> None:
        await log_in(client)
        csrf = csrf_of(await (await client.get("/service/test")).text())
        answer = await client.post("/service/test", data={"op": "enable", "csrf": csrf},
                                   headers={"Accept": "application/json"})  # fmt: skip
        assert await answer.json() == {"ok": False, "result": "Fencing operation pending; try again later"}

    run(console, scenario)
    assert console.link.requests == [("svc", "enable", "test", B)]


def test_forged_csrf_is_refused_and_nothing_is_done(console: Console, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="quorate.web")

    async def scenario(client: Any) -> None:
        await log_in(client)
        for data in ({"op": "disable"}, {"op": "disable", "csrf": "forged"}):
            answer = await client.post("/service/test", data=data)
            assert answer.status == 403 and "CSRF token missing or wrong" in await answer.text()

    run(console, scenario)
    assert console.link.requests == []
    assert "action=post target=/service/test result=\"refused: CSRF token missing or wrong\"" in caplog.text


def test_a_post_without_a_session_is_refused_and_nothing_is_done(console: Console) -> None:
    async def scenario(client: Any) -> None:
        for path in ("/service/test", f"/fence/{C}"):
            answer = await client.post(path, data={"op": "disable", "csrf": "x"}, allow_redirects=False)
            assert answer.status == 403 and "Not logged in" in await answer.text()

    run(console, scenario)
    assert console.link.requests == []


def test_an_expired_session_goes_back_to_login_and_its_stream_says_so(console: Console) -> None:
    async def scenario(client: Any) -> None:
        await log_in(client)
        csrf = csrf_of(await (await client.get("/")).text())
        console.clock.now += console.settings.sessions.idle + 1
        answer = await client.get("/service/test", allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == "/login?next=/service/test"
        refused = await client.post("/service/test", data={"op": "disable", "csrf": csrf})
        assert refused.status == 403
        stream = await client.get("/events")
        assert (await stream.content.readline()).decode() == "event: expired\n"

    run(console, scenario)
    assert console.link.requests == []


def test_unknown_service_or_node_is_404_with_a_message_that_names_it(console: Console) -> None:
    async def scenario(client: Any) -> None:
        await log_in(client)
        page = await (await client.get("/")).text()
        missing = await client.get("/service/nope")
        assert missing.status == 404
        assert "There is no service &#x27;nope&#x27; in cluster magi (services: test)." in await missing.text()
        post = await client.post("/service/nope", data={"op": "disable", "csrf": csrf_of(page)})
        assert post.status == 404
        node = await client.post("/service/test", data={"op": "relocate", "target": "gaspar", "csrf": csrf_of(page)})
        assert node.status == 404 and "There is no node &#x27;gaspar&#x27; in cluster magi" in await node.text()
        fence = await client.get("/fence/gaspar")
        assert fence.status == 404

    run(console, scenario)
    assert console.link.requests == []


def test_fence_acknowledgement_names_the_node_and_is_refused_for_a_node_not_waiting(console: Console) -> None:
    async def scenario(client: Any) -> None:
        await log_in(client)
        idle = await client.get(f"/fence/{C}")
        assert idle.status == 409 and f"{C} is not waiting for a fence" in await idle.text()
        console.link.doc["fencing"]["victims"] = [{
            "nodeid": 2, "name": C, "state": "waiting for manual acknowledgement", "detail": "fence_manual",
            "attempts": 1, "reason": "left the view", "startup": False, "due_in": 0.0,
        }]  # fmt: skip
        overview = await (await client.get("/")).text()
        assert f'data-victim="{C}" data-state="waiting for manual acknowledgement"' in overview
        assert "single: manual (fence_manual)" in overview
        confirm = await (await client.get(f"/fence/{C}")).text()
        assert f'<b id="fence-node">{C}</b> is <b>off</b>' in confirm
        done = await client.post(f"/fence/{C}", data={"csrf": csrf_of(confirm)})
        assert done.status == 200 and f"The fence of {C} is acknowledged (quorated: done)." in await done.text()

    run(console, scenario)
    assert console.link.requests == [("fence_ack", C)]


def test_the_daemon_down_is_said_on_every_page(console: Console) -> None:
    async def scenario(client: Any) -> None:
        await log_in(client)
        console.link.down = True
        page = await (await client.get("/")).text()
        assert 'data-state="unreachable">quorated is not answering' in page
        service = await client.get("/service/test")
        assert service.status == 503

    run(console, scenario)


def test_the_event_stream_pushes_the_new_owner_without_a_reload(console: Console) -> None:
    async def scenario(client: Any) -> None:
        await log_in(client)
        stream = await client.get("/events")
        assert (await stream.content.readline()) == b"retry: 2000\n"
        events: list[dict[str, str]] = []
        console.link.doc["services"][0]["owner"] = C
        while not any(f'data-owner="{C}"' in html for e in events for html in e.values()):
            line = (await asyncio.wait_for(stream.content.readline(), 5)).decode()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
        assert len(events) == 2 and "nodes" in events[0]  # everything first, then only what changed
        assert sorted(events[1]) == ["service-test", "services"]
        stream.close()

    run(console, scenario)


@pytest.mark.parametrize("path", ["/", "/service/test"])
def test_pages_forbid_framing_and_foreign_scripts(console: Console, path: str) -> None:
    async def scenario(client: Any) -> None:
        await log_in(client)
        answer = await client.get(path)
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert not re.search(r"<script>", await answer.text())

    run(console, scenario)


def test_each_browser_gets_its_own_login_form_token_and_keeps_it_across_login_pages(console: Console) -> None:
    async def scenario(client: Any) -> None:
        one = login_token(await (await client.get("/login")).text())
        assert (await client.get("/favicon.ico", allow_redirects=False)).status == 204
        assert (await client.get("/service/test", allow_redirects=False)).status == 303
        assert login_token(await (await client.get("/login")).text()) == one  # the first form still works
        client.session.cookie_jar.clear()
        assert login_token(await (await client.get("/login")).text()) != one

    run(console, scenario)


def test_values_from_the_cluster_are_escaped(console: Console) -> None:
    console.link.doc["services"][0]["reason"] = '<script>alert("x")</script> & more'

    async def scenario(client: Any) -> None:
        await log_in(client)
        page = await (await client.get("/")).text()
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
        assert "<script>alert" not in page

    run(console, scenario)


def test_the_timeline_page_shows_every_members_decisions_escaped_and_names_the_missing(console: Console) -> None:
    console.settings.wall = lambda: 1_800_000_000.0
    console.link.timeline_doc = {
        "events": [
            {"at": 1.0, "time": "2027-01-15 07:59:00.100", "nodes": [B], "view": 4, "kind": "service",
             "subject": "test", "outcome": "relocated", "reason": "R-56: stopping it on <balthasar>"},
            {"at": 2.0, "time": "2027-01-15 07:59:05.300", "nodes": [B, C], "view": 5, "kind": "view",
             "subject": "view 5", "outcome": "installed", "reason": "Q-1: view 5 installed"},
        ],
        "missing": ["melchior.localdomain"],
        "offsets": {},
    }  # fmt: skip

    async def scenario(client: Any) -> None:
        await log_in(client)
        assert '<a href="/timeline" id="timeline-link">' in await (await client.get("/")).text()
        service = await (await client.get("/service/test")).text()
        assert '<a href="/timeline?service=test" id="service-timeline">' in service
        page = await (await client.get("/timeline?service=test&hours=2")).text()
        assert "<h1>Timeline of service test, last 2 h</h1>" in page
        assert ('<tr data-kind="service" data-outcome="relocated"><td>2027-01-15 07:59:00.100</td><td>balthasar</td>'
                "<td>service</td><td>test</td><td>relocated</td><td>R-56: stopping it on &lt;balthasar&gt;</td></tr>"
                ) in page  # fmt: skip
        assert "<td>balthasar, casper</td><td>view</td>" in page
        assert "melchior.localdomain did not answer in time" in page
        bad = await client.get("/timeline?hours=0")
        assert bad.status == 400 and "hours must be a whole number from 1 to 168" in await bad.text()
        console.link.refusal = "unknown service 'nosuch' (services: test)"
        refused = await client.get("/timeline?service=nosuch")
        assert refused.status == 404 and "unknown service &#x27;nosuch&#x27; (services: test)" in await refused.text()

    run(console, scenario)
    assert console.link.requests[:2] == [("timeline", 1_800_000_000 - 7200, "test"), ("timeline", 1_800_000_000 - 3600,
                                                                                       "nosuch")]  # fmt: skip
