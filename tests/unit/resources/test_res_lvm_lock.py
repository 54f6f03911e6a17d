"""The lvm resource claims a VG under the VG's cluster lock, and refuses to claim it without that lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from test_res_lvm import ME, FakeLvm, ctx, lvm_node

from quorate.resources.agents import LvmAgent
from quorate.resources.agents.vg_lock import VgLockError, claim_lock


def test_the_claim_happens_while_the_vg_lock_is_held() -> None:
    fake = FakeLvm()
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def claim(vg: str, timeout: float) -> AsyncIterator[None]:
        events.append(f"lock {vg}")
        calls = len(fake.calls)
        yield
        events.append(f"unlock {vg} after {len(fake.calls) - calls} lvm commands")

    agent = LvmAgent(lvm=fake, dm_available=lambda: True, claim=claim)
    outcome = asyncio.run(agent.start(lvm_node("magi_vg"), ctx([ME])))
    assert outcome.ok, outcome.message
    assert events == ["lock magi_vg", f"unlock magi_vg after {len(fake.calls)} lvm commands"]
    assert ME in fake.tags


def test_no_lock_no_claim() -> None:
    fake = FakeLvm()

    @contextlib.asynccontextmanager
    async def claim(vg: str, timeout: float) -> AsyncIterator[None]:
        raise VgLockError(f"cannot take the cluster lock on volume group {vg}: timed out waiting for the lock")
        yield

    outcome = asyncio.run(LvmAgent(lvm=fake, dm_available=lambda: True, claim=claim).start(lvm_node("magi_vg"), ctx()))
    assert not outcome.ok
    assert "cannot take the cluster lock on volume group magi_vg: timed out" in outcome.message
    assert fake.calls == [] and fake.tags == []


def test_without_a_daemon_the_claim_goes_on_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("QUORATE_SOCKET", str(tmp_path / "none.sock"))
    ran = []

    async def body() -> None:
        async with claim_lock("magi_vg", 5):
            ran.append(True)

    logger = logging.getLogger("quorated")
    monkeypatch.setattr(logger, "propagate", True)
    with caplog.at_level(logging.INFO, logger="quorated"):
        asyncio.run(body())
    assert ran == [True]
    assert "no cluster lock for volume group magi_vg (quorated is not running on this node" in caplog.text
