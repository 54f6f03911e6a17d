"""Three quorum-disk services on one real loop device, in one asyncio loop (D-10..D-29, rule S4).

Each service gets its own loop device attached to the same backing file: they share the data (the loop
driver goes through the backing file's page cache) while each node's path to it can fail on its own, which
is how one node loses its disk while the others keep it. Faults are real kernel behaviour:

- ``blockdev --setro`` on one node's loop device: its writes fail with EPERM, its reads still work;
- ``fsfreeze`` of the filesystem holding the backing file: every transfer hangs until the thaw.

These tests need root (losetup, mount, fsfreeze): without it they fail, never skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from qdisk_service import QdiskService

from quorate.cli.mkqdisk import main as mkqdisk
from quorate.core.qdisk import KillNode, QdiskEffect, Reboot, SetVotes
from quorate.core.qdisk_config import QdiskParams

PARAMS = QdiskParams.derived(interval=0.2, tko=5, votes=2)  # tko_up 2, master_wait 3, upgrade_wait 2
IDS = (1, 2, 3)


def sh(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@dataclass
class Disk:
    backing: Path
    loops: list[str] = field(default_factory=list)
    mountpoint: Path | None = None

    def attach(self) -> str:
        for _ in range(10):
            try:
                dev = sh("losetup", "-f", "--show", str(self.backing))
                self.loops.append(dev)
                return dev
            except RuntimeError:
                time.sleep(0.1)
        raise RuntimeError("no free loop device")


@pytest.fixture
def shared_disk(tmp_path: Path) -> Iterator[Callable[..., Disk]]:
    """``shared_disk(freezable=False)``: a 10 MiB quorum disk, labelled, with one loop device per node.
    With ``freezable`` the backing file lives on its own ext4 filesystem so that it can be frozen."""
    missing = [tool for tool in ("losetup", "blockdev", "fsfreeze", "mkfs.ext4", "mount") if not shutil.which(tool)]
    if os.geteuid() != 0 or missing:
        pytest.fail(f"qdisk e2e tests need root and {missing or 'losetup'}", pytrace=False)
    made: list[Disk] = []

    def make(freezable: bool = False) -> Disk:
        folder = tmp_path
        mountpoint = None
        if freezable:
            image = tmp_path / "fs.img"
            with open(image, "wb") as fh:
                fh.truncate(64 * 1024 * 1024)
            sh("mkfs.ext4", "-q", "-F", str(image))
            mountpoint = tmp_path / "mnt"
            mountpoint.mkdir()
            sh("mount", "-o", "loop", str(image), str(mountpoint))
            folder = mountpoint
        backing = folder / "qdisk.img"
        with open(backing, "wb") as fh:
            fh.truncate(10 * 1024 * 1024)
        disk = Disk(backing, mountpoint=mountpoint)
        made.append(disk)
        for _ in IDS:
            disk.attach()
        assert mkqdisk(["-c", disk.loops[0], "-l", f"e2e_{uuid.uuid4().hex[:8]}", "-y"]) == 0
        return disk

    try:
        yield make
    finally:
        for disk in made:
            if disk.mountpoint is not None:
                subprocess.run(["fsfreeze", "-u", str(disk.mountpoint)], capture_output=True)
            for dev in disk.loops:
                subprocess.run(["blockdev", "--setrw", dev], capture_output=True)
                subprocess.run(["losetup", "-d", dev], capture_output=True)
            if disk.mountpoint is not None:
                subprocess.run(["umount", str(disk.mountpoint)], capture_output=True)


class Cluster:
    """Three services and what they told their daemons; membership is scripted per node."""

    def __init__(self, disk: Disk) -> None:
        self.effects: dict[int, list[tuple[float, QdiskEffect]]] = {n: [] for n in IDS}
        self.votes = dict.fromkeys(IDS, 0)
        self.members = {n: frozenset(IDS) for n in IDS}
        self.services = {
            n: QdiskService(
                PARAMS,
                n,
                IDS,
                disk.loops[n - 1],
                on_effects=self._sink(n),
                get_membership=lambda n=n: (self.members[n], True),
            )
            for n in IDS
        }

    def _sink(self, n: int) -> Callable[[list[QdiskEffect]], None]:
        def sink(effects: list[QdiskEffect]) -> None:
            for e in effects:
                self.effects[n].append((time.monotonic(), e))
                if isinstance(e, SetVotes):
                    self.votes[n] = e.votes

        return sink

    async def start(self) -> None:
        await asyncio.gather(*(s.start() for s in self.services.values()))

    async def stop(self, *ids: int) -> None:
        await asyncio.gather(*(self.services[n].stop() for n in ids or IDS))

    async def until(self, what: Callable[[], bool], timeout: float, why: str) -> float:
        start = time.monotonic()
        while not what():
            if time.monotonic() - start > timeout:
                logs = {n: [getattr(e, "text", e) for _, e in self.effects[n]][-8:] for n in IDS}
                raise AssertionError(f"{why} not reached within {timeout} s; last effects: {logs}")
            await asyncio.sleep(0.05)
        return time.monotonic() - start

    def of(self, n: int, kind: type) -> list:
        return [e for _, e in self.effects[n] if isinstance(e, kind)]


async def formed(disk: Disk) -> Cluster:
    cluster = Cluster(disk)
    await cluster.start()
    await cluster.until(lambda: all(v == 2 for v in cluster.votes.values()), 8.0, "all three counting the votes")
    return cluster


def test_three_nodes_elect_a_master_and_all_count_the_votes(shared_disk: Callable[..., Disk]) -> None:
    disk = shared_disk()

    async def scenario() -> None:
        cluster = await formed(disk)
        try:
            statuses = {n: s.status() for n, s in cluster.services.items()}
            assert {st["master"] for st in statuses.values()} == {1}
            assert statuses[1]["state"] == "Master" and statuses[2]["state"] == "Running"
            assert statuses[2]["reason"] == "granted by the master (node 1)"
            assert statuses[1]["master_mask"] == (1, 2, 3)
            assert all(n["belief"] in ("self", "online") for n in statuses[3]["nodes"])
        finally:
            await cluster.stop()
        assert all(v == 0 for v in cluster.votes.values())  # a clean stop gives the votes back

    asyncio.run(scenario())
    from quorate.core.qdisk_block import DiskState
    from quorate.qdisk.device import QdiskDevice

    with QdiskDevice.open(disk.loops[0], write=False) as dev:
        blocks = dev.read_blocks()
    assert [blocks[n].state for n in IDS] == [DiskState.NONE] * 3  # type: ignore[union-attr]


def test_survivor_keeps_the_votes_when_two_nodes_stop(shared_disk: Callable[..., Disk]) -> None:
    disk = shared_disk()

    async def scenario() -> None:
        cluster = await formed(disk)
        try:
            await cluster.stop(2, 3)
            cluster.members[1] = frozenset({1})
            cluster.services[1].membership_changed(frozenset({1}), True)
            await asyncio.sleep(2.0)  # ten cycles
            assert cluster.votes[1] == 2
            assert not [e for e in cluster.of(1, SetVotes) if e.votes == 0]
            assert not cluster.of(1, KillNode)  # they left cleanly (state NONE), nobody to fence
        finally:
            await cluster.stop(1)

    asyncio.run(scenario())


def test_when_the_master_stops_the_last_node_becomes_master(shared_disk: Callable[..., Disk]) -> None:
    disk = shared_disk()

    async def scenario() -> None:
        cluster = await formed(disk)
        try:
            await cluster.stop(1, 2)
            cluster.members[3] = frozenset({3})
            cluster.services[3].membership_changed(frozenset({3}), True)
            assert cluster.votes[3] == 0  # the master left its view: withdrawn at once (S4)
            took = await cluster.until(lambda: cluster.votes[3] == 2, 10.0, "node 3 master with the votes")
            assert cluster.services[3].status()["state"] == "Master"
            assert took < 5.0  # 25 cycles of 0.2 s: generous for a loaded machine, far below a stuck election
        finally:
            await cluster.stop(3)

    asyncio.run(scenario())


def test_node_whose_writes_fail_loses_the_votes_is_evicted_and_reboots(shared_disk: Callable[..., Disk]) -> None:
    disk = shared_disk()

    async def scenario() -> None:
        cluster = await formed(disk)
        try:
            sh("blockdev", "--setro", disk.loops[2])  # node 3: reads work, writes fail (EPERM)
            await cluster.until(lambda: cluster.votes[3] == 0, 1.0, "node 3 withdrawing")
            assert cluster.votes[1] == cluster.votes[2] == 2
            await cluster.until(lambda: bool(cluster.of(1, KillNode)), 4.0, "the master asking to kill node 3")
            assert cluster.of(1, KillNode)[0].nodeid == 3
            await cluster.until(lambda: bool(cluster.of(3, Reboot)), 2.0, "node 3 reading its eviction notice")
            assert "eviction notice" in cluster.of(3, Reboot)[0].reason
            assert cluster.votes[1] == cluster.votes[2] == 2
        finally:
            await cluster.stop()

    asyncio.run(scenario())


def test_hung_disk_never_blocks_the_event_loop(shared_disk: Callable[..., Disk]) -> None:
    disk = shared_disk(freezable=True)
    assert disk.mountpoint is not None

    async def scenario() -> None:
        cluster = await formed(disk)
        gaps: list[float] = []
        stop = asyncio.Event()

        async def heartbeat() -> None:  # what membership heartbeats look like on the same loop
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        try:
            sh("fsfreeze", "-f", str(disk.mountpoint))  # every transfer now hangs in the kernel
            await cluster.until(lambda: all(v == 0 for v in cluster.votes.values()), 1.5, "all withdrawing")
            await asyncio.sleep(1.5)  # well past tko cycles of hung transfers
            status = cluster.services[2].status()
            assert status["io"]["pending_for"] is not None and status["io"]["pending_for"] > 1.0
            assert "hung" in (status["io"]["last_error"] or "") or "no answer" in (status["io"]["last_error"] or "")
            assert max(gaps) < 0.15, f"the event loop stalled for {max(gaps):.3f} s"
        finally:
            sh("fsfreeze", "-u", str(disk.mountpoint))
        try:
            took = await cluster.until(lambda: all(v == 2 for v in cluster.votes.values()), 10.0, "recovery")
            assert took < 10.0
            masters = {s.status()["master"] for s in cluster.services.values()}
            assert len(masters) == 1
        finally:
            stop.set()
            await beat
            await cluster.stop()

    asyncio.run(scenario())
