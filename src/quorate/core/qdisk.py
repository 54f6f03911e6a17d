"""The quorum-disk state machine (qdiskd's main loop, D-10..D-29), pure: blocks in, effects out.

Theory of operation
-------------------
Each cycle the shell calls `begin` (before any I/O), reads all status blocks, calls `cycle` with them, the
I/O outcome, the heuristic score and the local view, then carries out the effects in the order `stage`
gives: withdrawals, reboots and kill requests at once; the writes (its own block; eviction notices when
master); a grant only after the writes landed, through `release`. Between cycles the shell reports failed
writes (`io_error`), view changes (`membership_changed`) and, from a lease watch, wake-ups (`begin`): all
can only take votes away. Peer liveness is `qdisk_peers`.

My own state (first matching row wins each cycle):

| state      | condition                                              | next   | effect                       |
|------------|--------------------------------------------------------|--------|------------------------------|
| any        | my block holds an EVICT for my incarnation             | halted | Reboot                       |
| INIT       | fewer than ``tko`` cycles with working I/O             | INIT   | watch and write INIT         |
| INIT/NONE  | fit (score >= required)                                | RUN    | bid after ``upgrade_wait``   |
| INIT       | unfit after the INIT cycles                            | NONE   | StopCman if ``stop_cman``    |
| RUN/MASTER | unfit                                                  | NONE   | votes 0; Reboot if ``reboot``|
| MASTER     | my block stood still for tko - 1 intervals             | RUN    | give up the role             |
| MASTER     | another master with a lower id, or one that lost me    | RUN    | abdicate                     |
| RUN        | no master, I bid, every running peer ACKed, waited     | MASTER | grant votes                  |

*Election* (no master on disk): the lowest running id bids once it has watched the disk for more than
``tko`` uninterrupted cycles; others ACK the lowest bidder below them; a node that sees a master NACKs
other bidders; a bidder ACKed by every other running node (INIT included: nobody is elected while a node is
still looking) for ``master_wait`` uninterrupted cycles becomes MASTER, unless a node it does not count
online wrote within tko intervals. Any gap (a late cycle, a failed transfer) withdraws the bid: counting
cycles that did not watch is how two masters get elected.

*Votes* (rule S4, closing the double-quorum window of spec D-23): the master grants the votes to
``online on disk ∩ its cluster view`` (``master_mask``). A node counts them only when its last read and
write worked, it is in a view, it is fit, and it is either the master or named in the single master's
grant **with that master in its own view** and the master's block seen changing recently (within
max(tko/2 + 1, 3) intervals, counted from my read before the change: a change seen after a gap in my own
reads proves nothing recent). Every node counting the votes thus has the master in its view: their views
share the master, and no two disjoint partitions ever count the votes. A stale master's grant expires
before another master can be elected (that takes tko + 1 intervals plus master_wait cycles).
``master_wins``: the master alone counts them.

The master writes an eviction notice into every peer dead on disk until it lands, and asks the cluster
once to kill it (``allow_kill``; only while quorate: an inquorate node decides no fencing). A master
elected later takes over the notices its predecessor never wrote.
"""

from __future__ import annotations

from collections.abc import Mapping

from quorate.core.effects import Log
from quorate.core.qdisk_block import Block, DiskState, Msg
from quorate.core.qdisk_config import required_score
from quorate.core.qdisk_effects import (
    KillNode,
    QdiskEffect,
    QdiskStatus,
    Reboot,
    SetVotes,
    StopCman,
    WriteBlock,
    block_for_stamp,
)
from quorate.core.qdisk_peers import MISSING, Belief, read_peer, transition
from quorate.core.qdisk_state import QdiskState

__all__ = [
    "Block",
    "DiskState",
    "KillNode",
    "Log",
    "Msg",
    "QdiskCore",
    "QdiskEffect",
    "QdiskState",
    "QdiskStatus",
    "Reboot",
    "SetVotes",
    "StopCman",
    "WriteBlock",
    "block_for_stamp",
]


class QdiskCore(QdiskState):
    """One node's quorum-disk logic. Call `cycle` at `next_deadline()` with what the shell read."""

    def cycle(
        self,
        now: float,
        blocks_read: Mapping[int, Block | None],
        io_ok: bool,
        score: int,
        max_score: int,
        cman_members: frozenset[int],
        cman_quorate: bool,
    ) -> list[QdiskEffect]:
        """One read/decide/write cycle (spec D-10..D-17). ``io_ok``: this read and the last write worked."""
        if self.halted:
            return []
        out, self._pending = self._pending, []
        self.now = now
        self.members, self.quorate = frozenset(cman_members), cman_quorate
        self.score, self.score_max = score, max_score
        if self.started_at is None:
            self.started_at = now
        self._check_timing(now, out)
        previous, self.last_cycle = self.last_cycle, now
        if not self._is_halted():
            self._account_io(now, previous, io_ok, out)
        if self._is_halted() or self._check_self(blocks_read.get(self.local_id, MISSING), out):
            return out
        previous_read = self.last_read_at
        self.read_ok = bool(blocks_read)
        if self.read_ok:
            self.last_read_at = now
        for peer in self.peers.values():
            read_peer(now, peer, blocks_read.get(peer.nodeid, MISSING), previous_read)
            known = self._notice_expected(peer.nodeid)
            c = self.config
            out.extend(transition(peer, tko=c.tko, tko_up=c.tko_up, allow_kill=c.allow_kill, master_known=known))
        if self.init_left > 0:  # only cycles that really watched the disk count
            self.init_left -= 1 if io_ok else 0
            if self.init_left == 0:
                self.from_init = True
                self._log(out, f"Initial {self.config.tko} cycles complete; taking part in the quorum disk")
            self._finish(out)
            return out
        self._check_score(out, io_ok)
        if self._is_halted():
            return out
        self._find_master(out)
        if io_ok:  # an election step taken blind could elect a node that sees nobody
            self._elect(out)
        self._master_duties(out)
        self._finish(out)
        return out

    def release(self, later: list[QdiskEffect]) -> list[QdiskEffect]:
        """The deferred part of `stage` once the writes landed, minus what a later input overruled
        (a view change or an I/O error between the cycle and the end of its writes withdrew the votes)."""
        if self.halted:
            return []
        return [e for e in later if not isinstance(e, SetVotes) or e.votes == self.votes]

    def begin(self, now: float) -> list[QdiskEffect]:
        """Call at the start of each cycle before any I/O, and whenever the process may have been frozen
        (the shell's lease watch). The votes are a lease renewed by cycles: after a gap long enough for the
        others to declare this node dead (tko - 1 intervals), stop counting them until a read shows the
        grant still holds."""
        out: list[QdiskEffect] = []
        if self.halted or self.last_cycle is None or self.votes == 0:
            return out
        gap = now - self.last_cycle
        if gap >= self.interval * max(self.config.tko - 1, 1):
            self._set_votes(0, f"no cycle for {gap:.1f} s: the others may have declared this node dead", out)
        return out

    def io_error(self, now: float, what: str) -> list[QdiskEffect]:
        """A write failed or did not return within the cycle: stop counting the disk's votes now."""
        self.io_ok = False
        out: list[QdiskEffect] = [Log(f"Quorum disk I/O failed: {what}", "warning")]
        self._set_votes(0, f"the quorum disk is not usable ({what})", out)
        return out

    def membership_changed(self, now: float, cman_members: frozenset[int], cman_quorate: bool) -> list[QdiskEffect]:
        """The local cluster view changed: withdraw at once if the grant no longer holds (rule S4)."""
        self.now = max(self.now, now)
        self.members, self.quorate = frozenset(cman_members), cman_quorate
        out: list[QdiskEffect] = []
        if self.halted:
            return out
        votes, why = self._desired_votes()
        if votes == 0:
            self._set_votes(0, why, out)
        return out

    def stop(self, now: float) -> list[QdiskEffect]:
        """Clean shutdown: give the votes back and write NONE so that nobody evicts this node."""
        out: list[QdiskEffect] = []
        if self.halted:
            return out
        self._set_votes(0, "qdisk stopped cleanly", out)
        self.state, self.msg, self.bidding = DiskState.NONE, Msg.NONE, 0
        out.append(WriteBlock(self._my_block()))
        self._log(out, "Clean shutdown: writing state NONE (logout)")
        self.halted = "stopped cleanly"
        return out

    # ---------------------------------------------------------------- outputs

    def _check_timing(self, now: float, out: list[QdiskEffect]) -> None:
        if self.last_cycle is None:
            return
        gap = now - self.last_cycle
        limit = self.interval * self.config.tko
        if self.config.paranoid and gap > limit:
            self._reboot(f"a cycle took {gap:.1f} s, more than interval x tko = {limit:.1f} s (paranoid)", out)
        elif gap > 1.5 * self.interval:
            self._log(
                out,
                f"Quorum disk cycle came {gap:.2f} s after the previous one (interval {self.interval:g} s): "
                "the disk or the machine is slow; running the next cycle at once",
                "warning",
            )
            self._stop_watching(out, "the cycle came late")

    def _stop_watching(self, out: list[QdiskEffect], why: str) -> None:
        """Elections rely on uninterrupted watching: a bidder must have watched the disk cycle after cycle
        for more than tko cycles before bidding (any node still alive writes within tko intervals, even
        one whose disk hangs for a while), and master_wait cycles while bidding. A gap (a late cycle, a
        failed read or write) restarts both counts, as after INIT at start-up."""
        self.watched = 0
        if self.bidding:
            self._log(out, f"Withdrawing my bid for master: {why}, so the cycles counted so far did not watch")
            self.bidding = 0
            self._set_msg(Msg.NONE)

    def _account_io(self, now: float, previous: float | None, io_ok: bool, out: list[QdiskEffect]) -> None:
        self.io_ok = io_ok
        if io_ok:
            self.last_io_ok_at, self.error_cycles = now, 0
            self.last_landed = previous if previous is not None else now
            self.watched += 1
        else:
            self._stop_watching(out, "a disk transfer failed")
        self._check_silence(now, out)
        if io_ok:
            return
        self.error_cycles += 1
        since = self.last_io_ok_at if self.last_io_ok_at is not None else self.started_at
        limit = self.interval * self.config.tko
        if self.config.io_timeout and since is not None and now - since >= limit:
            self._reboot(f"no successful disk I/O for {now - since:.1f} s (io_timeout, limit {limit:.1f} s)", out)
        elif not self.config.io_timeout and 0 < self.config.max_error_cycles <= self.error_cycles:
            self._set_votes(0, f"{self.error_cycles} consecutive cycles with I/O errors", out)
            self._log(
                out,
                f"{self.error_cycles} consecutive cycles with I/O errors (max_error_cycles): "
                "stopping quorum disk operations",
                "error",
            )
            if self.config.stop_cman:
                out.append(StopCman("the quorum disk failed (max_error_cycles) and stop_cman is set"))
            self.halted = "too many I/O errors"

    def _check_silence(self, now: float, out: list[QdiskEffect]) -> None:
        """A master whose block stood still for about tko cycles may already be dead in the others' eyes.

        Readers evict after more than tko unchanged reads, which takes at least (tko + 0.5) intervals after
        my last write landed; my next write lands within one interval. So a master silent for tko - 1
        intervals (a pause, a hung write) gives up the role before writing again, instead of acting
        as a second master next to the one the others may have elected meanwhile.
        """
        landed = self.last_landed if self.last_landed is not None else self.started_at
        if landed is None or self.state is not DiskState.MASTER:
            return
        silence = now - landed
        if silence >= self.interval * (self.config.tko - 1):
            self._log(
                out,
                f"My block was not updated for {silence:.1f} s (tko={self.config.tko}): the others may "
                "have declared me dead; giving up the master role",
                "warning",
            )
            self.state, self.upgrade, self.bidding = DiskState.RUN, self.config.upgrade_wait, 0
            self._set_msg(Msg.NONE)

    def _check_self(self, block: Block | None, out: list[QdiskEffect]) -> bool:
        if block is MISSING or block is None or not block.foreign:
            return False
        if block.state is DiskState.EVICT and block.incarnation == self.incarnation:
            self._reboot(f"node {block.updatenode} wrote an eviction notice into my block", out)
            return True
        what = (
            "an eviction notice for an earlier incarnation"
            if block.state is DiskState.EVICT
            else (f"state {block.state.label}")
        )
        self._log_once(
            out,
            f"self-foreign-{block.updatenode}-{block.state}",
            f"My block was written by node {block.updatenode} ({what}); overwriting it",
            "warning",
        )
        return False

    def _check_score(self, out: list[QdiskEffect], io_ok: bool) -> None:
        if self.upgrade > 0 and io_ok:
            self.upgrade -= 1
        required = required_score(self.config, self.score_max)
        detail = f"({self.score}/{self.score_max}; required={required})"
        if self.state is DiskState.INIT:
            self.state = DiskState.NONE
        if not self.fit:
            if self.from_init:
                self._log(out, f"Score insufficient after initialisation {detail}", "warning")
                if self.config.stop_cman:
                    out.append(StopCman(f"score insufficient after initialisation {detail} and stop_cman is set"))
            elif self.state in (DiskState.RUN, DiskState.MASTER):
                self._log(out, f"Score insufficient for master operation {detail}; downgrading", "warning")
                self.state, self.bidding = DiskState.NONE, 0
                self._set_msg(Msg.NONE)
                self._set_votes(0, f"score insufficient {detail}", out)
                if self.config.reboot:
                    self._reboot(f"score dropped below the minimum {detail} and reboot is set", out)
        elif self.state is DiskState.NONE:
            self._log(out, f"Score sufficient for master operation {detail}; upgrading")
            self.state, self.upgrade, self.bidding = DiskState.RUN, self.config.upgrade_wait, 0
            self._set_msg(Msg.NONE)
        self.from_init = False

    def _find_master(self, out: list[QdiskEffect]) -> None:
        mine, theirs = self._sides()
        self.outnumbered_for = self.outnumbered_for + 1 if theirs > mine else 0
        claims = {n: b for n, b in self._up_blocks() if b.state is DiskState.MASTER}
        others = sorted(claims)
        # The lower id keeps the role, unless the other master does not even count me online (it may have
        # evicted me while I was silent): then I yield whatever the ids.
        rival = sorted(n for n, b in claims.items() if n < self.local_id or self.local_id not in b.mask)
        if self.state is DiskState.MASTER and rival:
            self._log(out, f"Master conflict: node {rival[0]} is also master; abdicating", "warning")
            self.state, self.upgrade, self.bidding = DiskState.RUN, self.config.upgrade_wait, 0
            self._set_msg(Msg.NONE)
        elif self.state is DiskState.MASTER and self._outnumbered():
            larger = sorted((self._online() | {self.local_id}) - self.members)
            self._log(
                out,
                f"A larger partition (nodes {larger}) is alive on the disk: giving up the master role to it",
                "warning",
            )
            self.state, self.upgrade, self.bidding = DiskState.RUN, self.config.upgrade_wait, 0
            self._set_msg(Msg.NONE)
        masters = sorted(others + ([self.local_id] if self.state is DiskState.MASTER else []))
        master = masters[0] if masters else None
        if master != self.master:
            text = f"Node {master} is the master" if master is not None else "No master on the quorum disk"
            self._log(out, text + (f" (also claimed by {masters[1:]})" if len(masters) > 1 else ""))
        self.master, self.masters = master, tuple(masters)

    def _elect(self, out: list[QdiskEffect]) -> None:
        me = self.local_id
        bidders = sorted(n for n, b in self._up_blocks() if b.msg is Msg.BID)
        if self.master is not None or self.state is not DiskState.RUN:
            if self.bidding:
                self._log(out, "A master exists now; withdrawing my bid")
                self.bidding = 0
            refuse = [n for n in bidders if n != self.master] if self.master is not None else []
            if self.state is DiskState.RUN and refuse:
                self._vote(Msg.NACK, refuse[0], out, f"Refusing node {refuse[0]}'s bid: node {self.master} is master")
            elif self.msg is not Msg.NONE and self.state is not DiskState.MASTER:
                self._set_msg(Msg.NONE)
            return
        running = [n for n, b in self._up_blocks() if b.state >= DiskState.RUN]
        if self._outnumbered():
            # The smaller side never bids; it votes for the larger side's bidder, whatever the ids.
            theirs = [n for n in bidders if n not in self.members]
            if self.bidding:
                self._log(out, "A larger partition is alive on the disk: withdrawing my bid")
                self.bidding = 0
            if theirs:
                self._vote(Msg.ACK, theirs[0], out, f"Voting for node {theirs[0]} of the larger partition")
            elif self.msg is not Msg.NONE:
                self._set_msg(Msg.NONE)
            return
        if self._outnumbering():
            running = [n for n in running if n in self.members]  # the smaller side does not bid
            bidders = [n for n in bidders if n in self.members]
        low_id = min([me, *running])
        lower = [n for n in bidders if n < me]
        if not self.bidding:
            if low_id == me and self.upgrade == 0 and self.watched > self.config.tko and not self._unsettled(out):
                self.bid_seq = (self.bid_seq + 1) % 65536
                self.msg, self.msg_seq, self.msg_arg, self.bidding = Msg.BID, self.bid_seq, 0, 1
                self._log(out, "No master and I am the lowest running id: bidding for master")
            elif lower:
                self._vote(Msg.ACK, lower[0], out, f"Voting for node {lower[0]} as master")
            elif self.msg is not Msg.NONE:
                self._set_msg(Msg.NONE)
            return
        self.bidding += 1
        if lower:
            self.bidding = 0
            self._vote(Msg.ACK, lower[0], out, f"Node {lower[0]} has a lower id and bids too; voting for it")
            return
        electorate = [p for p in self.peers.values() if p.running_up]
        nack = [p.nodeid for p in electorate if self._answers(p.block, Msg.NACK)]
        if nack:
            self.bidding = 0
            self._set_msg(Msg.NONE)
            self._log(out, f"Bid refused by node {nack[0]} (it sees a master); withdrawing the bid")
            return
        acks = all(self._answers(p.block, Msg.ACK) for p in electorate)
        if acks and self.bidding >= self.config.master_wait and not self._unsettled(out):
            acked = ", ".join(str(p.nodeid) for p in electorate) or "nobody else on the disk"
            self.state, self.bidding, self.master, self.masters = DiskState.MASTER, 0, me, (me,)
            self._set_msg(Msg.NONE)
            self._log(out, f"Assuming master role (acknowledged by: {acked})")

    def _sides(self) -> tuple[int, int]:
        """(nodes writing to the disk in my view, nodes writing to it outside my view), when I am in a view.

        "Writing" means the block changed at my last read: a node that just died still looks online for tko
        intervals, but its block stands still, so the last node standing never mistakes the dead for a larger
        partition."""
        if self.config.master_wins or self.local_id not in self.members:
            return 0, 0
        writing = {self.local_id} | {p.nodeid for p in self.peers.values() if p.running_up and p.misses == 0}
        return len(writing & self.members), len(writing - self.members)

    def _outnumbered(self) -> bool:
        """D-21 and docs/design.md (Quorum disk): a larger partition outranks a smaller one. The partition
        holding the disk's master
        keeps the votes (qdiskd, spec D-21) unless more nodes writing to the disk are outside its view, two
        cycles in a row: then the master yields and the larger side elects its own. Ties keep qdiskd's rule.
        Not with master_wins, whose point is that the master's side wins."""
        return self.outnumbered_for >= 2

    def _outnumbering(self) -> bool:
        mine, theirs = self._sides()
        return 0 < theirs < mine

    def _unsettled(self, out: list[QdiskEffect]) -> bool:
        """Has some node written to the disk within tko intervals that I do not count online (booting,
        back from a freeze or a hung disk, stuck as evicted)? It could be bidding or mastering on its own:
        wait until it is online or dead (tko intervals of silence) rather than be elected without it."""
        recent = self.now - self.interval * self.config.tko
        busy = [
            p.nodeid
            for p in self.peers.values()
            if p.belief is not Belief.UP
            and p.block is not None
            and p.block.state.running
            and p.last_write_at is not None
            and p.last_write_at >= recent
        ]
        if busy:
            self._log_once(
                out,
                f"unsettled-{busy}-{self.bid_seq}",
                f"Not taking the master role yet: node {busy[0]} writes to the disk but is not online in my view",
            )
        return bool(busy)

    def _notice_expected(self, nodeid: int) -> bool:
        """Will a master write an eviction notice for ``nodeid``? Only if a master exists (not that node)
        and does not itself count it online."""
        if self.master is None or self.master == nodeid:
            return False
        if self.master == self.local_id:
            return True
        block = self.peers[self.master].block
        return block is None or nodeid not in block.mask

    def _answers(self, b: Block | None, msg: Msg) -> bool:
        return b is not None and b.msg is msg and b.msg_arg == self.local_id and b.msg_seq == self.bid_seq

    def _vote(self, msg: Msg, target: int, out: list[QdiskEffect], text: str) -> None:
        target_block = self.peers[target].block
        seq = target_block.msg_seq if target_block is not None else 0
        if (self.msg, self.msg_arg, self.msg_seq) != (msg, target, seq):
            self.msg, self.msg_arg, self.msg_seq = msg, target, seq
            self._log(out, text)

    def _set_msg(self, msg: Msg) -> None:
        self.msg, self.msg_arg, self.msg_seq = msg, 0, self.bid_seq

    def _master_duties(self, out: list[QdiskEffect]) -> None:
        if self.state is not DiskState.MASTER:
            self.master_mask = frozenset()
            return
        grant = self._online() & self.members
        if grant != self.master_mask:
            self._log(out, f"Granting the quorum disk's votes to nodes {sorted(grant)} (online on disk and in my view)")
        self.master_mask = grant
        for p in self.peers.values():
            if p.belief is not Belief.EVICTED:
                continue
            if p.notice_pending and (p.block is None or p.block.state is not DiskState.EVICT):
                notice = Block(nodeid=p.nodeid, updatenode=self.local_id, state=DiskState.EVICT, incarnation=p.evil)
                out.append(WriteBlock(notice))
                self._log_once(out, f"notice-{p.nodeid}-{p.evil}", f"Writing eviction notice for node {p.nodeid}")
            if p.kill_pending and self.config.allow_kill:
                if self.quorate and self.read_ok:  # only on a fresh read: this cycle's blind master knows nothing
                    p.kill_pending = False
                    out.append(KillNode(p.nodeid, f"node {p.nodeid} stopped writing to the quorum disk"))
                    self._log(out, f"Asking the cluster to kill node {p.nodeid}", "warning")
                else:
                    self._log_once(
                        out,
                        f"kill-wait-{p.nodeid}-{p.evil}",
                        f"Not asking to kill node {p.nodeid} yet: this node is not quorate",
                    )

    def _finish(self, out: list[QdiskEffect]) -> None:
        self.mask = self._online()
        votes, why = self._desired_votes()
        self._set_votes(votes, why, out)
        if self.read_ok:
            out.append(WriteBlock(self._my_block()))
        else:  # a node that cannot read must not look alive: let the others see it silent and evict it
            self._log_once(out, f"blind-{self.last_read_at}", "Not writing my block while I cannot read the disk")

    # --------------------------------------------------------------- helpers
