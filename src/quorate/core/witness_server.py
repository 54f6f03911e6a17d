"""The quorum witness's arbiter, pure: requests in, answers out, at most one partition per cluster holding the vote.

Theory of operation
-------------------
For each cluster it serves (a name and an id; the shell has already checked the cluster's key) the arbiter keeps
what each node last said (`_Report`: its view and members, when) and the grants it gave (`_Grant`: per node, the
view and member set it was given for and when it expires). A grant is a lease: it is given for ``lease``
seconds from the moment the request arrived, renewed by each later request of that node, and ended early only
by the node itself, whose next request says it no longer counts the vote (``holding`` false) or names a view
the grant does not cover (a node drops the vote locally before it asks with such a view).

Safety (rule W-1): any two unexpired grants of a cluster name member sets that share a node, and a node counts
a grant only while its own view contains every member the grant names (`witness_client`). Two nodes that count
the vote at one instant therefore sit in views that share a node: two disjoint partitions never both count it.
A request is granted when

| unexpired grants of the cluster     | request granted when                                                      |
|-------------------------------------|---------------------------------------------------------------------------|
| none, the arbiter still learning    | never (the first lease after a start: what did the last run grant?)      |
| none                                | its partition has been reported for ``settle`` seconds and is the one the |
|                                     | algorithm chooses among the partitions heard within a lease (`choose`)    |
| some                                | its members contain every member of theirs (renewal, or nodes joined)     |
| some                                | its members share a node with each grant and hold a strict majority of    |
|                                     | the grants' members, or exactly half with their tie-breaker node (the     |
|                                     | part of the holder that keeps the vote after it split)                    |
| none, this request acknowledges     | the same test against the grant it acknowledges, so that the winning half |
| its own grant                       | of a split never waits for the ``settle`` interval                        |

The ``settle`` wait (one asking interval) gives every side of a fresh split the time to report before the
algorithm compares them, so that a tie is broken by the rule and not by who noticed first. A report is
ignored when one of the members it names has since reported another view (the node that sent it has not
noticed yet, or is dead). A vote moves to a disjoint partition only after every grant of the holder was
acknowledged or expired. After a restart the arbiter has no state: it refuses everything for one full lease
(``max_lease``), by which time every grant its previous run gave has expired.

Requests older than the last one processed from the same node are ignored (a reordered datagram must not
undo an acknowledgement); the carrier's replay protection already drops exact duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quorate.core.messages import ViewId
from quorate.core.witness_protocol import Algorithm, Partition, WitnessAnswer, WitnessAsk, choose

REFUSE_UNKNOWN = "unknown cluster"


@dataclass(slots=True)
class _Grant:
    view: ViewId
    members: frozenset[int]
    expires: float


@dataclass(slots=True)
class _Report:
    view: ViewId
    members: frozenset[int]
    heard: float
    since: float  # first heard with this view
    lease: float


@dataclass
class ClusterArbiter:
    """The witness's state for one cluster."""

    name: str
    cluster_id: int
    started: float
    max_lease: float
    grants: dict[int, _Grant] = field(default_factory=dict)
    reports: dict[int, _Report] = field(default_factory=dict)
    last_seq: dict[int, tuple[int, int]] = field(default_factory=dict)  # (boot, seq)
    algorithm: Algorithm = Algorithm.FFSPLIT
    tie_breaker: str = "lowest"
    answered: int = 0
    granted: int = 0
    stale: int = 0
    last_reason: str = ""

    learn: float = 0.0  # refuse everything for this long after the start (0: one max_lease)
    _acknowledged: _Grant | None = None  # the grant the request being decided acknowledged

    @property
    def learning_until(self) -> float:
        return self.started + max(self.max_lease, self.learn)

    def ask(self, req: WitnessAsk, now: float) -> WitnessAnswer | None:
        """The answer to one authenticated request, or None for a request older than one already processed."""
        if (req.boot, req.seq) <= self.last_seq.get(req.node, (0, 0)):
            self.stale += 1
            return None
        self.last_seq[req.node] = (req.boot, req.seq)
        self.algorithm, self.tie_breaker = req.algorithm, req.tie_breaker
        members = frozenset(req.members)
        lease = min(req.lease, self.max_lease)
        before = self.reports.get(req.node)
        since = before.since if before is not None and before.view == req.view else now
        self.reports[req.node] = _Report(req.view, members, now, since, lease)
        self._expire(now)
        own = self.grants.get(req.node)
        self._acknowledged = None
        if own is not None and (not req.holding or not members >= own.members):
            del self.grants[req.node]  # acknowledged: this node stopped counting it before it asked
            self._acknowledged = own
        granted, reason = self._decide(req, members, now)
        if granted:
            self.grants[req.node] = _Grant(req.view, members, now + lease)
            self.granted += 1
        self.answered += 1
        self.last_reason = reason
        return WitnessAnswer(
            self.name, self.cluster_id, req.node, req.seq, req.view, granted, lease if granted else 0.0, reason
        )

    def _decide(self, req: WitnessAsk, members: frozenset[int], now: float) -> tuple[bool, str]:
        if req.node not in members:
            return False, f"node {req.node} is not a member of the view it names"
        if now < self.learning_until:
            return False, f"witness started {now - self.started:.1f} s ago: learning partitions for one lease"
        running = list(self.grants.values())
        if running and members >= frozenset().union(*(g.members for g in running)):
            return True, "your partition holds the vote"
        acknowledged = self._acknowledged  # the grant this very request acknowledged, if it did
        basis = running + ([acknowledged] if acknowledged is not None else [])
        if basis:
            # The holder just split (this request may be the acknowledgement of its own grant): its larger part,
            # or the half holding the tie-breaker, keeps the vote at once. Sharing a node with every running
            # grant is what keeps W-1; the other half, disjoint from this grant, is refused from now on.
            holder = frozenset().union(*(g.members for g in basis))
            shares = all(members & g.members for g in running)
            keeps = self._keeps(req, members, holder)
            if shares and keeps:
                return True, keeps
            if running:
                return False, f"the vote is held by the partition of nodes {sorted(holder)}"
        settle = req.lease / 5
        if now - self.reports[req.node].since < settle:
            return False, "waiting one interval for every partition to report"
        winner, why = choose(self.partitions(now), req.algorithm, req.tie_breaker, req.node_count)
        if winner is not None and winner.view == req.view:
            return True, why
        if winner is None:
            return False, why
        return False, f"{why}: the vote goes to the partition of nodes {sorted(winner.members)}"

    @staticmethod
    def _keeps(req: WitnessAsk, members: frozenset[int], holder: frozenset[int]) -> str:
        """Why `members` keep the vote of the partition `holder` that split, or "" when they do not: a strict
        majority of it, or exactly half with its tie-breaker node (ffsplit: and half of all nodes)."""
        part = members & holder
        if 2 * len(part) > len(holder):
            return f"a majority of the nodes {sorted(holder)} that held the vote"
        if 2 * len(part) < len(holder):
            return ""
        if req.algorithm is Algorithm.FFSPLIT and 2 * len(members) < req.node_count:
            return ""
        if req.tie_breaker == "lowest":
            node = min(holder)
        elif req.tie_breaker == "highest":
            node = max(holder)
        else:
            node = int(req.tie_breaker)
        if node in part:
            return f"half of the nodes {sorted(holder)} that held the vote, with tie-breaker node {node}"
        return ""

    def partitions(self, now: float) -> list[Partition]:
        """The partitions heard from within a lease, one per view, without the reports a member contradicted."""
        fresh = {n: r for n, r in self.reports.items() if now - r.heard <= r.lease}
        seen: dict[ViewId, Partition] = {}
        for node, report in fresh.items():
            contradicted = any(
                other.view != report.view and other.since > report.since
                for peer, other in fresh.items()
                if peer != node and peer in report.members
            )
            if not contradicted:
                seen.setdefault(report.view, Partition(report.view, report.members))
        return sorted(seen.values(), key=lambda p: (p.view.seq, p.view.coord))

    def holder(self, now: float) -> frozenset[int]:
        """The nodes whose grant runs now."""
        return frozenset(n for n, g in self.grants.items() if g.expires > now)

    def _expire(self, now: float) -> None:
        for node in [n for n, g in self.grants.items() if g.expires <= now]:
            del self.grants[node]
        for node in [n for n, r in self.reports.items() if now - r.heard > 2 * r.lease]:
            del self.reports[node]

    def status(self, now: float) -> dict[str, object]:
        self._expire(now)
        return {
            "cluster": self.name,
            "cluster_id": self.cluster_id,
            "algorithm": self.algorithm.value,
            "tie_breaker": self.tie_breaker,
            "learning": now < self.learning_until,
            "holders": sorted(self.holder(now)),
            "partitions": [sorted(p.members) for p in self.partitions(now)],
            "answered": self.answered,
            "granted": self.granted,
            "stale": self.stale,
            "last_reason": self.last_reason,
        }


class WitnessServer:
    """Every cluster this witness serves, by (name, id); a request for any other is refused and counted."""

    def __init__(self, *, now: float, max_lease: float, learn: float | None = None) -> None:
        """``learn``: how long to refuse everything after this start, at least ``max_lease`` (longer when the
        previous run granted longer leases)."""
        self.started = now
        self.max_lease = max_lease
        self.learn = max(max_lease, learn or 0.0)
        self.clusters: dict[tuple[str, int], ClusterArbiter] = {}
        self.refused: dict[str, int] = {}

    def add_cluster(self, name: str, cluster_id: int, now: float) -> None:
        """Serve a cluster; one added while running learns for a lease like the whole witness after a start."""
        key = (name, cluster_id)
        if key not in self.clusters:
            arbiter = ClusterArbiter(name, cluster_id, started=now, max_lease=self.max_lease)
            arbiter.learn = self.learn
            self.clusters[key] = arbiter

    def ask(self, req: WitnessAsk, now: float) -> WitnessAnswer | None:
        arbiter = self.clusters.get((req.cluster, req.cluster_id))
        if arbiter is None:
            self.refuse(REFUSE_UNKNOWN)
            return None
        return arbiter.ask(req, now)

    def refuse(self, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + 1

    def status(self, now: float) -> dict[str, object]:
        return {
            "uptime": round(now - self.started, 3),
            "max_lease": self.max_lease,
            "clusters": [a.status(now) for _key, a in sorted(self.clusters.items())],
            "refused": dict(sorted(self.refused.items())),
        }
