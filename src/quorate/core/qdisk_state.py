"""The quorum-disk core's state, and everything derived from it: votes, my block, status.

Split from `quorate.core.qdisk` (the cycle's decisions) to keep both readable; `QdiskCore` extends
`QdiskState`. Nothing here reads a clock or a device.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quorate.core.effects import Log
from quorate.core.qdisk_block import MAX_NODES, Block, DiskState, Msg
from quorate.core.qdisk_config import QdiskSettings, required_score, timing_warnings
from quorate.core.qdisk_effects import QdiskEffect, QdiskStatus, Reboot, SetVotes
from quorate.core.qdisk_peers import Peer


class QdiskState:
    """Fields of one node's quorum-disk state machine and the queries on them."""

    def __init__(
        self,
        config: QdiskSettings,
        local_id: int,
        node_ids: Iterable[int],
        *,
        incarnation: int,
        token_ms: int | None = None,
    ) -> None:
        ids = set(node_ids) | {local_id}
        if not all(1 <= n <= MAX_NODES for n in ids):
            raise ValueError(f"quorum disk node ids must be 1..{MAX_NODES}, got {sorted(ids)}")
        self.config = config
        self.local_id = local_id
        self.incarnation = incarnation or 1
        self.interval = float(config.interval)
        self.peers = {n: Peer(n) for n in sorted(ids - {local_id})}
        self.state = DiskState.INIT
        self.init_left = max(config.tko, 1)
        self.from_init = False
        self.msg, self.msg_seq, self.msg_arg = Msg.NONE, 0, 0
        self.bid_seq = 0
        self.bidding = 0  # cycles spent bidding; 0 = not bidding
        self.watched = 0  # consecutive on-time cycles whose read and write worked
        self.upgrade = 0
        self.write_seq = 0
        self.mask: frozenset[int] = frozenset()
        self.master_mask: frozenset[int] = frozenset()
        self.outnumbered_for = 0  # consecutive cycles in which a larger partition was seen writing to the disk
        self.master: int | None = None
        self.masters: tuple[int, ...] = ()
        self.votes = 0
        self.reason = "starting: watching the disk before taking part (INIT)"
        self.members: frozenset[int] = frozenset()
        self.quorate = False
        self.score, self.score_max = 0, 0
        self.halted: str | None = None
        self.last_cycle: float | None = None
        self.last_io_ok_at: float | None = None
        self.last_read_at: float | None = None
        self.last_landed: float | None = None  # cycle time of my last write known to have reached the disk
        self.io_ok = False
        self.read_ok = False
        self.error_cycles = 0
        self.started_at: float | None = None
        self.now = 0.0  # the latest time given by the shell
        self._logged: set[str] = set()
        self._pending: list[QdiskEffect] = [Log(w, "warning") for w in timing_warnings(config, token_ms)]

    # ---------------------------------------------------------------- outputs

    def next_deadline(self) -> float | None:
        if self.halted:
            return None
        return 0.0 if self.last_cycle is None else self.last_cycle + self.interval

    def status(self, now: float) -> QdiskStatus:
        required = required_score(self.config, self.score_max)
        nodes: list[dict[str, Any]] = [
            {
                "nodeid": self.local_id,
                "local": True,
                "state": self.state.label,
                "belief": "self",
                "score": self.score,
                "score_max": self.score_max,
                "last_write_age": None if self.last_cycle is None else round(now - self.last_cycle, 3),
                "in_master_mask": self._granted_by_master(),
            }
        ]
        for p in self.peers.values():
            b = p.block
            nodes.append(
                {
                    "nodeid": p.nodeid,
                    "local": False,
                    "state": b.state.label if b else "unknown",
                    "belief": p.belief.value,
                    "score": b.score if b else None,
                    "score_max": b.score_max if b else None,
                    "last_write_age": None if p.last_write_at is None else round(now - p.last_write_at, 3),
                    "misses": p.misses,
                    "seen": p.seen,
                    "in_master_mask": p.nodeid in self._current_grant(),
                }
            )
        return QdiskStatus(
            nodeid=self.local_id,
            state=(self.halted and f"halted ({self.halted})") or self.state.label,
            incarnation=f"{self.incarnation:016x}",
            master=self.master,
            votes=self.votes,
            reason=self.reason,
            score=self.score,
            score_max=self.score_max,
            score_required=required,
            bidding=self.bidding > 0,
            master_mask=tuple(sorted(self._current_grant())),
            nodes=tuple(nodes),
        )

    @property
    def fit(self) -> bool:
        return not self.config.heuristics or self.score >= required_score(self.config, self.score_max)

    # -------------------------------------------------------- cycle internals

    # --------------------------------------------------------------- helpers

    def _is_halted(self) -> bool:
        return self.halted is not None

    def _up_blocks(self) -> list[tuple[int, Block]]:
        """(id, block) of the peers believed online whose block says running."""
        return [(p.nodeid, p.block) for p in self.peers.values() if p.running_up and p.block is not None]

    def _online(self) -> frozenset[int]:
        mine = {self.local_id} if self.state in (DiskState.RUN, DiskState.MASTER) else set()
        return frozenset(mine | {p.nodeid for p in self.peers.values() if p.running_up})

    def _current_grant(self) -> frozenset[int]:
        if self.state is DiskState.MASTER:
            return self.master_mask
        if self.master is not None and self.master in self.peers:
            b = self.peers[self.master].block
            return b.master_mask if b is not None else frozenset()
        return frozenset()

    def _granted_by_master(self) -> bool:
        return self.local_id in self._current_grant()

    def _desired_votes(self) -> tuple[int, str]:
        v, m = self.config.votes, self.master
        checks: list[tuple[bool, str]] = [
            (self.halted is not None, f"quorum disk operations stopped ({self.halted})"),
            (not self.io_ok, "the last disk read or write failed"),
            (self.state is DiskState.INIT, "initialising: watching the disk before taking part"),
            (self.local_id not in self.members, "not in a cluster view"),
            (self.state is DiskState.NONE, "score insufficient: not fit to count the disk's votes"),
        ]
        for failed, why in checks:
            if failed:
                return 0, why
        if self.state is DiskState.MASTER:
            return v, "I am the quorum disk master"
        if self.config.master_wins:
            return 0, "master_wins: only the master counts the disk's votes"
        if m is None:
            return 0, "no master on the quorum disk yet"
        if len(self.masters) > 1:
            return 0, f"several nodes claim to be master ({list(self.masters)})"
        if m not in self.members:
            return 0, f"the master (node {m}) is not in my cluster view"
        # A stale master's grant must expire before another master can exist: that takes the old master
        # tko + 1 silent intervals to be declared dead plus master_wait bidding cycles. One or two missed
        # reads (phase jitter) must not make the votes flap.
        seen = self.peers[m].written_after
        limit = self.interval * max(self.config.tko // 2 + 1, 3)
        if seen is None or self.now - seen > limit:
            return 0, f"the master's block (node {m}) has not changed for more than {limit:g} s"
        if not self._granted_by_master():
            return 0, f"the master (node {m}) does not count me online"
        return v, f"granted by the master (node {m})"

    def _set_votes(self, votes: int, why: str, out: list[QdiskEffect]) -> None:
        self.reason = why
        if votes != self.votes:
            self.votes = votes
            out.append(SetVotes(votes, why))
            verb = f"Counting the quorum disk's {votes} votes" if votes else "Not counting the quorum disk's votes"
            self._log(out, f"{verb}: {why}", "info" if votes else "warning")

    def _my_block(self) -> Block:
        self.write_seq = (self.write_seq + 1) % (1 << 64)
        return Block(
            nodeid=self.local_id,
            updatenode=self.local_id,
            state=self.state,
            incarnation=self.incarnation,
            seq=self.write_seq,
            score=min(self.score, 65535),
            score_max=min(self.score_max, 65535),
            msg=self.msg,
            msg_seq=self.msg_seq,
            msg_arg=self.msg_arg,
            mask=self.mask,
            master_mask=self.master_mask if self.state is DiskState.MASTER else frozenset(),
        )

    def _reboot(self, why: str, out: list[QdiskEffect]) -> None:
        self._set_votes(0, why, out)
        out.append(Reboot(why))
        self._log(out, f"Rebooting: {why}", "critical")
        self.halted = f"reboot: {why}"

    def _log(self, out: list[QdiskEffect], text: str, level: str = "info") -> None:
        out.append(Log(text, level))

    def _log_once(self, out: list[QdiskEffect], key: str, text: str, level: str = "info") -> None:
        if key not in self._logged:
            self._logged.add(key)
            self._log(out, text, level)
