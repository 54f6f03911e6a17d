"""quorated's writes of state.json at view changes: off the event loop while the reserve on disk covers the new
generation, before going on only when it does not (see quorate.node.store)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from quorate.core.effects import PersistGeneration
from quorate.node import store as store_module
from quorate.node.daemon import Daemon
from quorate.node.store import GENERATIONS_AHEAD, StateStore


def bare_daemon(tmp_path: Path, lines: list[str]) -> Daemon:
    """Only what `_persist` uses: the store, the writer slot and the log."""
    daemon = Daemon.__new__(Daemon)
    daemon.store = StateStore(tmp_path)
    daemon.store.load()
    daemon.store.new_boot()
    daemon._state_writer = None
    daemon.log_line = lambda text, level="info": lines.append(f"{level}: {text}")  # type: ignore[method-assign]
    return daemon


def on_slow_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: float) -> tuple[Daemon, list[str]]:
    """A daemon whose every write of state.json takes ``seconds`` (an fsync behind a busy disk), and its log."""
    lines: list[str] = []
    daemon = bare_daemon(tmp_path, lines)
    real = store_module.write_atomically

    def slow(*args: object, **kwargs: object) -> str:
        time.sleep(seconds)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "write_atomically", slow)
    return daemon, lines


def on_disk(tmp_path: Path) -> int:
    return StateStore(tmp_path).load().highest_seq


def test_a_view_change_within_the_reserve_does_not_wait_for_a_slow_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, lines = on_slow_disk(tmp_path, monkeypatch, 0.5)

    async def scenario() -> tuple[float, int]:
        began = time.monotonic()
        for seq in range(1, GENERATIONS_AHEAD):  # crosses the half-reserve mark: one write, in a worker
            daemon._persist(PersistGeneration(seq))
        spent = time.monotonic() - began
        assert daemon._state_writer is not None
        await daemon._state_writer
        return spent, on_disk(tmp_path)

    spent, bound = asyncio.run(scenario())
    assert spent < 0.25, f"the loop waited {spent:.2f} s for the disk"
    assert bound >= GENERATIONS_AHEAD - 1 + GENERATIONS_AHEAD // 2
    assert lines == []


def test_a_generation_beyond_the_bound_on_disk_is_written_before_going_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, _ = on_slow_disk(tmp_path, monkeypatch, 0.2)

    async def scenario() -> int:
        daemon._persist(PersistGeneration(10 * GENERATIONS_AHEAD))  # back after many view changes elsewhere
        return on_disk(tmp_path)  # read before the loop runs anything else

    assert asyncio.run(scenario()) >= 10 * GENERATIONS_AHEAD


def test_a_full_disk_is_said_once_and_its_end_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    lines: list[str] = []
    daemon = bare_daemon(tmp_path, lines)
    real = store_module.write_atomically

    def full(*args: object, **kwargs: object) -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    async def scenario() -> None:
        monkeypatch.setattr(store_module, "write_atomically", full)
        for seq in range(GENERATIONS_AHEAD // 2 + 1, GENERATIONS_AHEAD // 2 + 5):  # each retries, off the loop
            daemon._persist(PersistGeneration(seq))
            if daemon._state_writer is not None:
                await daemon._state_writer
        monkeypatch.setattr(store_module, "write_atomically", real)
        daemon._persist(PersistGeneration(GENERATIONS_AHEAD // 2 + 6))
        assert daemon._state_writer is not None
        await daemon._state_writer

    asyncio.run(scenario())
    path = tmp_path / "state.json"
    assert lines == [
        f"warning: cannot write {path}: No space left on device; running on with the state in memory, writing it "
        "again at the next view change",
        f"info: state written again to {path}",
    ]
    assert on_disk(tmp_path) >= GENERATIONS_AHEAD // 2 + 6
