"""A console on a fake daemon and a fake PAM: the status document is the real schema, the config the article's.

A module of its own name (not conftest): several test directories have a conftest, and `from conftest import`
would find whichever came first on the path."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from status_samples import ARTICLE, B, C, M, status_doc  # noqa: F401  (the tests import them from here)

from quorate.config import ClusterConfig, load_config
from quorate.web.app import Settings, build_app
from quorate.web.link import Refused, Unreachable

PASSWORDS = {"alice": "right horse", "mallory": "in no group"}
GROUPS = {"haclient": {"alice"}}


class FakeLink:
    """quorated's control socket as the console uses it: records every state-changing request."""

    def __init__(self) -> None:
        self.doc = status_doc()
        self.requests: list[tuple[Any, ...]] = []
        self.down = False
        self.refusal: str | None = None
        self._config = load_config(ARTICLE)
        self.timeline_doc: dict[str, Any] = {"events": [], "missing": [], "offsets": {}}

    def status(self) -> dict[str, Any]:
        if self.down:
            raise Unreachable("quorated does not answer on /run/quorate/quorated.sock")
        return copy.deepcopy(self.doc)

    def svc(self, op: str, service: str, target: str | None) -> dict[str, Any]:
        self.requests.append(("svc", op, service, target))
        if self.refusal:
            raise Refused(self.refusal)
        if op == "relocate" and target:
            self.doc["services"][0]["owner"] = target
            return {"ok": True, "done": True, "result": "Success", "owner": target}
        return {"ok": True, "done": True, "result": "Success", "owner": self.doc["services"][0]["owner"]}

    def fence_ack(self, node: str) -> dict[str, Any]:
        self.requests.append(("fence_ack", node))
        self.doc["fencing"]["victims"] = []
        return {"ok": True, "text": "done\n"}

    def config(self, path: str | None) -> ClusterConfig | None:
        return self._config if path else None

    def timeline(self, since: int, service: str | None) -> dict[str, Any]:
        self.requests.append(("timeline", since, service))
        if self.refusal:
            raise Refused(self.refusal)
        return copy.deepcopy(self.timeline_doc)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Console:
    """A running console app plus the fakes behind it."""

    def __init__(self, link: FakeLink, clock: Clock, settings: Settings) -> None:
        self.link, self.clock, self.settings = link, clock, settings
        self.app = build_app(link, settings)

    async def client(self) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(self.app))
        await client.start_server()
        return client


def fake_password(user: str, password: str) -> bool:
    return PASSWORDS.get(user) == password


def fake_group(user: str, group: str) -> bool:
    return user in GROUPS.get(group, set())


@pytest.fixture
def console() -> Iterator[Console]:
    clock = Clock()
    settings = Settings(password_check=fake_password, group_check=fake_group, secure_cookies=False, clock=clock,
                        poll_period=0.05)  # fmt: skip
    yield Console(FakeLink(), clock, settings)


def login_token(page: str) -> str:
    found = re.search(r'name="login_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def log_in(client: TestClient[web.Request, web.Application], user: str = "alice",
                 password: str | None = None, next_path: str = "/") -> Any:  # fmt: skip
    form = await client.get("/login")
    token = login_token(await form.text())
    secret = PASSWORDS.get(user, "") if password is None else password
    data = {"user": user, "password": secret, "login_token": token, "next": next_path}
    return await client.post("/login", data=data, allow_redirects=False)
