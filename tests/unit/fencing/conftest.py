"""Fixtures for the fencing I/O tests: real agent scripts on PATH, and the power-switch protocol on loopback.

Agents here are small shell scripts written to ``tmp_path`` and found through PATH, exactly as the executor
finds real agents; the power switch runs the real server code in a thread, bound to 127.0.0.1, with a fake
backend standing in for the testbed, so the agent and protocol tests need no root.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fencing_switch import SECRET, FakeBackend, Switch

from quorate.testbed.power import serve


@pytest.fixture
def agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``agents(name, body, mode=0o755)`` writes ``#!/bin/sh`` + body as an agent on PATH."""
    directory = tmp_path / "agents"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")

    def make(name: str, body: str, mode: int = 0o755) -> Path:
        path = directory / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(mode)
        return path

    return make


@pytest.fixture
def switch() -> Iterator[Switch]:
    """The real switch server on 127.0.0.1 (ephemeral port) over a `FakeBackend`, in a thread."""
    backend = FakeBackend()
    bound: list[int] = []
    ready = threading.Event()
    done = threading.Event()

    def run() -> None:
        asyncio.run(
            serve(
                backend,
                SECRET,
                "127.0.0.1",
                0,
                ready=lambda port: (bound.append(port), ready.set()),
                stop_when=done.is_set,
                poll=0.05,
                signals=False,
            )
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "switch did not start"
    try:
        yield Switch(backend, bound[0])
    finally:
        done.set()
        thread.join(10)
        assert not thread.is_alive()
