"""One node's side of the quorum witness, pure: when to ask, when a grant counts, when to stop counting it.

Theory of operation
-------------------
The node asks the witness every ``interval`` seconds, and at once when its view changes (`view_changed`). An
answer counts only if it answers the latest request sent, for the view the node is still in; anything older
is ignored (an acknowledgement may have been sent since, and the witness may have given the vote away after
it). A grant makes the node count the witness's votes until

    the send time of the request it answers + the granted lease - ``margin``

so that a slow answer only shortens the lease, and the node stops counting before the witness, whose lease runs
from the later moment the request arrived, could give the vote to anyone else. ``margin`` covers the two
clocks' drift and a late timer.

The node stops counting at once (and says so in its next request, which is what lets the witness move the
vote early) when

* its view changes to one that does not contain every member of the view the grant was for (a partition of
  the holder must never keep the vote on both sides; a view that only grew keeps it, as the witness would
  grant it again: see `witness_server`);
* the witness refuses the latest request;
* the local lease runs out.

Everything is in ``now`` seconds of the node's monotonic clock; the driver turns the decisions into effects.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorate.core.messages import NO_VIEW, ViewId
from quorate.core.witness_protocol import WitnessAnswer, WitnessAsk, WitnessSettings

SENT_KEPT = 8  # send times remembered for answers


@dataclass(frozen=True, slots=True)
class Change:
    """The votes this node counts changed: ``votes`` now, and why."""

    votes: int
    reason: str


class WitnessClient:
    def __init__(
        self,
        settings: WitnessSettings,
        *,
        cluster: str,
        cluster_id: int,
        local_id: int,
        node_count: int,
        now: float,
        boot: int = 1,
    ) -> None:
        self.settings = settings
        self.boot = boot
        self.cluster = cluster
        self.cluster_id = cluster_id
        self.local_id = local_id
        self.node_count = node_count
        self.seq = 0
        self.view: ViewId = NO_VIEW
        self.members: frozenset[int] = frozenset()
        self.until: float | None = None  # while holding: when this node stops counting the grant
        self.granted_members: frozenset[int] = frozenset()
        self.next_ask = now
        self.last_reason = "not asked yet"
        self.last_answer_at: float | None = None
        self._sent: dict[int, tuple[float, ViewId]] = {}

    @property
    def votes(self) -> int:
        return self.settings.votes_for(self.node_count) if self.until is not None else 0

    @property
    def holding(self) -> bool:
        return self.until is not None

    # ------------------------------------------------------------------------------------- inputs

    def view_changed(self, now: float, view: ViewId, members: frozenset[int]) -> Change | None:
        """A new view (or none: empty members). Drops the vote unless the view still holds the grant's members."""
        self.view, self.members = view, members
        self.next_ask = now  # tell the witness at once: a dropped vote is acknowledged, a new partition asks
        if self.until is not None and not members >= self.granted_members:
            return self.drop(f"view {view.seq} does not contain every node the witness granted its vote to")
        return None

    def tick(self, now: float) -> tuple[Change | None, WitnessAsk | None]:
        """Time passed: the local lease may have run out, a request may be due."""
        change = None
        if self.until is not None and now >= self.until:
            change = self.drop("the witness's lease ran out without a renewal")
        ask = None
        if now >= self.next_ask and self.members:
            self.next_ask = now + self.settings.interval
            self.seq += 1
            self._sent[self.seq] = (now, self.view)
            self._sent.pop(self.seq - SENT_KEPT, None)
            s = self.settings
            ask = WitnessAsk(
                self.cluster,
                self.cluster_id,
                self.local_id,
                self.boot,
                self.seq,
                self.view,
                tuple(sorted(self.members)),
                self.node_count,
                self.holding,
                s.lease,
                s.algorithm,
                s.tie_breaker,
            )
        return change, ask

    def answer(self, now: float, ans: WitnessAnswer) -> Change | None:
        """The witness answered. Only an answer to the latest request, for the current view, counts."""
        sent = self._sent.get(ans.seq)
        if ans.node != self.local_id or ans.seq != self.seq or sent is None or sent[1] != self.view:
            return None
        if ans.view != self.view:
            return None
        self.last_answer_at = now
        self.last_reason = ans.reason
        if not ans.granted:
            if self.until is not None:
                return self.drop(f"the witness refused: {ans.reason}")
            return None
        sent_at = sent[0]
        lease = min(ans.lease, self.settings.lease)
        until = sent_at + lease - self.settings.margin
        if until <= now:
            return None  # the answer came too late to count for anything
        was = self.until
        self.until = until if was is None else max(was, until)
        self.granted_members = self.members if was is None else self.granted_members | self.members
        if was is None:
            return Change(self.votes, f"the witness gives its vote to this partition: {ans.reason}")
        return None

    def next_deadline(self) -> float | None:
        times = [t for t in (self.until, self.next_ask if self.members else None) if t is not None]
        return min(times) if times else None

    def status(self, now: float) -> dict[str, object]:
        s = self.settings
        return {
            "host": s.host,
            "port": s.port,
            "algorithm": s.algorithm.value,
            "tie_breaker": s.tie_breaker,
            "lease": s.lease,
            "votes": self.votes,
            "state": "holding" if self.until is not None else "not holding",
            "lease_left": round(self.until - now, 3) if self.until is not None else None,
            "last_answer_ago": round(now - self.last_answer_at, 3) if self.last_answer_at is not None else None,
            "last_reason": self.last_reason,
        }

    # ---------------------------------------------------------------------------------- internals

    def drop(self, reason: str) -> Change:
        self.until = None
        self.granted_members = frozenset()
        return Change(0, reason)
