"""A console on a fake daemon and a fake PAM: the status document is the real schema, the config the article's."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from quorate.config import ClusterConfig, load_config
from quorate.node.status import StatusDoc
from quorate.web.app import Settings, build_app
from quorate.web.link import Refused, Unreachable

ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "article" / "cluster-2.conf"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
PASSWORDS = {"alice": "right horse", "mallory": "in no group"}
GROUPS = {"haclient": {"alice"}}


def node(nodeid: int, name: str, member: bool = True, local: bool = False) -> dict[str, Any]:
    return {
        "nodeid": nodeid, "name": name, "votes": 1, "member": member, "heard": member, "local": local,
        "incarnation": 1, "joined_generation": 1, "joined": 0.0, "last_heard_age": 0.2, "refused": None,
        "address": f"192.168.0.{200 + nodeid}",
    }  # fmt: skip


def status_doc() -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "0.2.0", "protocol_version": "6.2.0", "cluster_name": "magi", "cluster_id": 1, "config_version": 3,
        "config_digest": "ab", "config_mismatch": [], "config_distribution": {}, "config_file": str(ARTICLE),
        "member": True, "state": "Cluster-Member", "generation": 4, "coordinator": 1, "members": [1, 2, 3],
        "node_count": 3, "expected_votes": 5, "total_votes": 5, "quorum": 3, "quorate": True,
        "quorum_reason": "5 votes of 5 expected, 3 needed", "qdisk_votes": 2,
        "qdisk": {"registered": True, "online": True, "name": "/dev/loop7", "master": 1, "score": 1},
        "node_votes": 1, "active_subsystems": 3, "subsystems": [], "flags": [], "ports_bound": [],
        "node_name": B, "node_id": 1, "multicast_addresses": [], "multicast_in_use": None, "node_addresses": [],
        "incarnation": 1, "dirty": False, "reason": "", "nodes": [node(1, B, local=True), node(2, C), node(3, M)],
        "token_ms": 10000,
        "transport": {"accepted": 1, "sent": 1, "dropped": {}, "undecodable": 0, "send_errors": {}},
        "fencing": {"coordinator": 1, "fencing_here": True, "victims": [], "history": []},
        "rgmanager": True,
        "services": [{"name": "test", "state": "started", "owner": B, "last_owner": "", "restarts": 0,
                      "frozen": False, "reason": "started on its domain's first member"}],
        "local_services": {}, "started": 0.0, "log": [],
    }  # fmt: skip
    msgspec.convert(doc, StatusDoc)  # the fake daemon speaks the real schema
    return doc


class FakeLink:
    """quorated's control socket as the console uses it: records every state-changing request."""

    def __init__(self) -> None:
        self.doc = status_doc()
        self.requests: list[tuple[Any, ...]] = []
        self.down = False
        self.refusal: str | None = None
        self._config = load_config(ARTICLE)

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
