"""The node's quorum-disk service across configuration changes: which driver runs, and what a new file does to it.

Theory of operation: a `QdiskDriver` is one start of qdiskd (one incarnation). A new cluster.conf changes it in one
of three ways, decided here from the configuration layer's classification of the change:

| change                                     | partition's quorum rests on the disk | otherwise                    |
|--------------------------------------------|--------------------------------------|------------------------------|
| only settings qdiskd re-reads (votes...)   | applied in place                     | applied in place             |
| any other setting, or the disk added       | deferred to the next start (logged)  | restart: new driver          |
| the disk removed                           | deferred to the next start (logged)  | stop; the quorum drops (Q-3) |

A restart stops the old driver cleanly first (votes given back, block written NONE), which is what the other
nodes already handle when a node's disk service restarts. The first grant at a new ``votes`` value is flagged
*resized* (Q-3 recomputes with decrease allowed), so fewer disk votes lower the quorum they once raised.
Everything here is about one node; the node core routes the driver's effects.
"""

from __future__ import annotations

from quorate.core.effects import Log
from quorate.core.node_io import ConfigActivated, DiskOpened, DiskRead, DiskWritten, HeuristicDone
from quorate.core.node_settings import NodeSettings
from quorate.core.qdisk_driver import DriverEffect, QdiskDriver

DiskReport = DiskOpened | DiskRead | DiskWritten | HeuristicDone


class NodeDisk:
    def __init__(self, settings: NodeSettings) -> None:
        self.driver: QdiskDriver | None = None
        self.deferred: str | None = None  # a change that waits for the next start, said in the status
        self._resized_to: int | None = None
        self._leftover: list[DriverEffect] = []  # a stopped driver's last effects (its NONE block, the close)
        if settings.qdisk is not None:
            self._start(settings)

    def _start(self, settings: NodeSettings) -> None:
        assert settings.qdisk is not None
        ids = [n.nodeid for n in settings.membership.nodes]
        self.driver = QdiskDriver(settings.qdisk, settings.local_id, ids, settings.token_ms)

    def report(self, now: float, event: DiskReport, members: frozenset[int], quorate: bool) -> None:
        disk = self.driver
        if disk is None:
            return
        if isinstance(event, DiskOpened):
            disk.opened(now, event)
            disk.tick(now, members, quorate)
        elif isinstance(event, DiskRead):
            disk.read_done(now, event, members, quorate)
        elif isinstance(event, DiskWritten):
            disk.write_done(now, event)
        else:
            disk.heuristic_done(now, event.index, event.ok, event.detail)

    def take_effects(self) -> list[DriverEffect]:
        leftover, self._leftover = self._leftover, []
        return leftover + (self.driver.take_effects() if self.driver is not None else [])

    def resized(self, votes: int) -> bool:
        """Whether a grant of ``votes`` is the first at a new ``<quorumd votes>`` (then Q-3 may lower the quorum)."""
        if votes > 0 and votes == self._resized_to:
            self._resized_to = None
            return True
        return False

    def reconfigure(
        self, now: float, old: NodeSettings, event: ConfigActivated, *, holds_quorum: bool
    ) -> tuple[list[Log], bool]:
        """Bring the disk service in line with a new configuration: (what to log, whether the disk is gone, in which
        case the caller withdraws its votes from the quorum, resized: the quorum may drop)."""
        new = event.settings.qdisk
        if not event.qdisk_change:
            return [], False
        names = ", ".join(event.qdisk_fields)
        if event.qdisk_change == "dynamic" and self.driver is not None and new is not None:
            self.driver.update_settings(new)
            if old.qdisk is not None and new.votes != old.qdisk.votes:
                self._resized_to = new.votes
            return [Log(f"quorum disk settings changed ({names}): applied to the running disk service")], False
        if old.qdisk is None or new is None:
            what = f"quorum disk {'added' if old.qdisk is None else 'removed'} in the configuration"
        else:
            what = f"quorum disk settings changed ({names})"
        if holds_quorum:
            self.deferred = what
            waits = (
                f"{what}: they take effect when quorated restarts; restarting the disk service now would cost "
                "this partition its quorum (its nodes' votes alone are below quorum)"
            )
            return [Log(waits, "warning")], False
        logs = [Log(f"{what}: restarting the quorum disk service")]
        if self.driver is not None:
            self.driver.stop(now)
            self._leftover.extend(self.driver.take_effects())
        self.driver = None
        if new is None:
            return logs, True
        self._resized_to = new.votes if old.qdisk is None or new.votes != old.qdisk.votes else None
        self._start(event.settings)
        return logs, False
