"""A control request nested thousands deep is refused like any bad request, and the daemon keeps serving."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from control_client import ask, connect, serving

from quorate.node import protocol
from quorate.node.lock_sessions import LockSessions

DEEP = 100_000


@pytest.mark.parametrize(
    "line",
    [
        b'{"x":' + b"[" * DEEP + b"]" * DEEP + b',"cmd":"status"}\n',
        b'{"raw":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b',"cmd":"status"}\n',
    ],
)
def test_deep_nesting_is_a_bad_request(line: bytes) -> None:
    with pytest.raises(protocol.BadRequest, match="bad request: nested too deeply"):
        protocol.decode_request(line)


def test_the_control_socket_refuses_deep_nesting_and_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "ctl.sock"

    async def handler(request: protocol.Request) -> protocol.Answer:
        return protocol.Answer(True, text=type(request).__name__)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with serving(path, handler):
            deep = await ask(path, b'{"x":' + b"[" * DEEP + b"]" * DEEP + b',"cmd":"status"}\n')
            after = await ask(path, b'{"cmd":"status"}\n')
        return deep, after

    deep, after = asyncio.run(scenario())
    assert deep == {"ok": False, "error": "bad request: nested too deeply"}
    assert after == {"ok": True, "text": "Status"}


def test_a_lock_session_refuses_deep_nesting_and_stays_open(tmp_path: Path) -> None:
    path = tmp_path / "ctl.sock"

    async def handler(request: protocol.Request) -> protocol.Answer:
        return protocol.Answer(False, error="unused")

    async def scenario() -> list[dict[str, Any]]:
        def never(request: object) -> Any:
            raise AssertionError("no operation may reach the node core")

        locks = LockSessions("a", never, never, never)
        async with serving(path, handler, sessions=locks.handlers()):
            reader, writer = await connect(path)
            writer.write(protocol.request_line(protocol.LockSession(client="test")))
            writer.write(b"[" * DEEP + b"]" * DEEP + b"\n")
            writer.write(b"[1]\n")
            await writer.drain()
            answers = [json.loads(await reader.readline()) for _ in range(3)]
            writer.close()
            await writer.wait_closed()
        return answers

    hello, deep, flat = asyncio.run(scenario())
    assert hello["ok"] is True
    assert deep == {"id": 0, "ok": False, "code": "invalid", "error": "bad request: nested too deeply"}
    assert flat["ok"] is False and "an operation is a JSON object" in flat["error"]
