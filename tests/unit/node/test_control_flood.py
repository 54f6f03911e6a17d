"""A flood of control clients is bounded: beyond the limits a client is refused at once with the reason, every
other gets its own answer, and the daemon's event loop (which also sends heartbeats) stays on time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from control_client import ask, connect, serving

from quorate.node import control, protocol


def test_requests_beyond_the_queue_are_refused_as_busy_and_the_rest_answered(tmp_path: Path) -> None:
    path = tmp_path / "ctl.sock"
    release = asyncio.Event()

    async def handler(request: protocol.Request) -> protocol.Answer:
        await release.wait()  # the node core is slow: requests pile up
        return protocol.Answer(True, text="answered")

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        async with serving(path, handler) as server:
            asks = [asyncio.create_task(ask(path, b'{"cmd":"status"}\n')) for _ in range(control.MAX_QUEUED + 10)]
            while server.queued + server.busy_refusals < len(asks):
                await asyncio.sleep(0.01)
            release.set()
            answers = await asyncio.gather(*asks)
        return answers, server.open

    answers, still_open = asyncio.run(scenario())
    ok = [a for a in answers if a.get("ok")]
    busy = [a for a in answers if not a.get("ok")]
    assert len(ok) == control.MAX_QUEUED and len(busy) == 10
    assert all(a == {"ok": True, "text": "answered"} for a in ok)
    assert all(
        a["error"] == f"busy: {control.MAX_QUEUED} requests are waiting for an answer (at most {control.MAX_QUEUED});"
        " try again shortly"
        for a in busy
    )
    assert still_open == 0


def test_connections_beyond_the_limit_are_refused_as_busy(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(control, "MAX_CONNECTIONS", 5)
    path = tmp_path / "ctl.sock"

    async def handler(request: protocol.Request) -> protocol.Answer:
        return protocol.Answer(True, text="answered")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with serving(path, handler) as server:
            # clients that connect and say nothing (yet) hold their connection
            silent = [await connect(path) for _ in range(5)]
            while server.open < 5:
                await asyncio.sleep(0.01)
            refused = await ask(path, b'{"cmd":"status"}\n')
            for _reader, writer in silent:
                writer.close()
            while server.open:
                await asyncio.sleep(0.01)
            after = await ask(path, b'{"cmd":"status"}\n')
        return refused, after

    refused, after = asyncio.run(scenario())
    assert refused == {"ok": False, "error": "busy: 5 control connections are open (at most 5); try again shortly"}
    assert after == {"ok": True, "text": "answered"}


def test_a_flood_of_2000_requests_from_50_connections_gets_each_its_own_answer_and_keeps_timers_on_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ctl.sock"

    async def handler(request: protocol.Request) -> protocol.Answer:
        await asyncio.sleep(0)
        assert isinstance(request, protocol.Why)
        return protocol.Answer(True, text=str(request.name))

    async def client(index: int) -> list[bool]:
        got = []
        for i in range(40):  # 50 connections at a time, under the queue's bound: every request is answered
            name = f"c{index}-{i}"
            answer = await ask(path, json.dumps({"cmd": "why", "name": name}).encode() + b"\n")
            got.append(answer == {"ok": True, "text": name})
        return got

    async def heartbeat(lateness: list[float], stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            lateness.append(loop.time() - due)

    async def scenario() -> tuple[list[list[bool]], list[float]]:
        lateness: list[float] = []
        stop = asyncio.Event()
        async with serving(path, handler):
            beat = asyncio.create_task(heartbeat(lateness, stop))
            try:
                results = await asyncio.gather(*(client(i) for i in range(50)))
            finally:
                stop.set()
                await beat
        return results, lateness

    results, lateness = asyncio.run(scenario())
    assert sum(len(r) for r in results) == 2000 and all(all(r) for r in results)  # no answer crossed
    assert max(lateness) < 0.5  # one event loop shared with the flood: the timer is never held for long

