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
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from quorate.testbed.conf import TestbedError
from quorate.testbed.power import serve

SECRET = "s3cret-switch"


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


@dataclass
class FakeBackend:
    """Three nodes with power flags; records every OFF/ON; ``fail`` makes power operations raise."""

    power: dict[str, bool] = field(
        default_factory=lambda: {
            "balthasar.localdomain": True,
            "casper.localdomain": True,
            "melchior.localdomain": True,
        }
    )
    calls: list[str] = field(default_factory=list)
    fail: bool = False

    def nodes(self) -> list[str]:
        return list(self.power)

    def resolve(self, name: str) -> str:
        for node in self.power:
            if name in (node, node.split(".", 1)[0]):
                return node
        raise TestbedError(f"unknown node {name!r}")

    def is_on(self, node: str) -> bool:
        return self.power[node]

    def _set(self, node: str, on: bool) -> None:
        self.calls.append(f"{'ON' if on else 'OFF'} {node}")
        if self.fail:
            raise RuntimeError("relay stuck")
        self.power[node] = on

    def off(self, node: str) -> None:
        self._set(node, False)

    def on(self, node: str) -> None:
        self._set(node, True)


@dataclass
class Switch:
    backend: FakeBackend
    port: int
    secret: str = SECRET

    def stdin(self, **options: str) -> str:
        """Agent input reaching this switch, plus ``options``."""
        base = {"ipaddr": "127.0.0.1", "ipport": str(self.port), "passwd": self.secret}
        base.update(options)
        return "".join(f"{name}={value}\n" for name, value in base.items())


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
