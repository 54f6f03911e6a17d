"""Votequorum's two policies on top of cman's arithmetic: last man standing and the automatic tie-breaker.

Theory of operation
-------------------
Both policies let a partition with no majority of the configured votes stay quorate, so both must keep the one
guarantee quorum exists for: two disjoint partitions are never quorate at once (rules Q-13 to Q-15).

*The reference.* Each node keeps a reference: a set of nodes whose votes it judges a partition against. It starts
as every configured node. A partition is quorate only if it holds a strict majority of the reference's votes
(or exactly half with the tie-breaker node, see below), on top of cman's usual test against expected votes.

*Last man standing* shrinks the reference. When a quorate view has been unchanged for the window, lost nodes
since the reference was set, and none of them is still waiting to be fenced, each member *prepares* the view as
its new reference and announces the view's votes as its expected votes. The reference binds at once (a view
needs a majority of it); the quorum itself drops only when every member announces the lower value, which is when
the node *commits* it. Each reference is a majority (or a tie-broken half) of the one before it, and every node
of the newer one knows it, so a partition judged against an older reference cannot be disjoint from one judged
against a newer: the two majorities would share a node, and that node would be judging against the newer one.
The lost nodes were fenced, so they restart knowing nothing; `wait_for_all` (required with this policy) keeps
them from forming a quorum of their own with the old, larger reference. A view holding the whole reference and
more (nodes came back) returns to every configured node and the configured expected votes.

*The automatic tie-breaker* settles an exact half. A view holding exactly half of the reference's votes is
quorate when it contains the tie-breaker node of that reference: ``lowest`` or ``highest`` node id of the
reference, or the first of a given list of ids that belongs to it. Both halves of a split share the reference,
so exactly one holds that node. A prepared, not yet committed, reference never breaks a tie: a node still on
the older reference could otherwise be the other half's majority.

This module is pure: no clock (time arrives as ``now``), no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

#: votequorum's default window, in seconds (its man page gives 10000 ms).
DEFAULT_LMS_WINDOW = 10.0


@dataclass(frozen=True, slots=True)
class QuorumPolicies:
    """The `<cman>` attributes of the two policies, in core units."""

    last_man_standing: bool = False
    lms_window: float = DEFAULT_LMS_WINDOW
    auto_tie_breaker: bool = False
    #: "lowest", "highest", or node ids in order of preference.
    tie_breaker: str | tuple[int, ...] = "lowest"

    @property
    def active(self) -> bool:
        return self.last_man_standing or self.auto_tie_breaker

    def flags(self) -> list[str]:
        """The names `cman_tool status` prints on its Flags line."""
        names = []
        if self.last_man_standing:
            names.append("LastManStanding")
        if self.auto_tie_breaker:
            names.append("AutoTieBreaker")
        return names

    def describe_tie_breaker(self) -> str:
        if isinstance(self.tie_breaker, tuple):
            return " ".join(str(n) for n in self.tie_breaker)
        return self.tie_breaker


def tie_breaker_node(policies: QuorumPolicies, reference: frozenset[int]) -> int | None:
    """The node whose half wins an exact split of `reference`, or None when a listed choice names none of it."""
    if not reference:
        return None
    choice = policies.tie_breaker
    if choice == "lowest":
        return min(reference)
    if choice == "highest":
        return max(reference)
    for nodeid in choice:
        if nodeid in reference:
            return nodeid
    return None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the reference says of a view: whether it may be quorate, and why."""

    allowed: bool
    tie_broken: bool
    reason: str


@dataclass(slots=True)
class Reference:
    """A node's reference set and where last man standing stands with it."""

    nodes: frozenset[int]
    votes: dict[int, int]
    committed: bool = True
    #: the view (members) being watched for the window, and since when
    watching: frozenset[int] = frozenset()
    since: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.votes[n] for n in self.nodes)

    def present(self, members: frozenset[int] | set[int]) -> int:
        return sum(self.votes[n] for n in self.nodes if n in members)

    def judge(self, policies: QuorumPolicies, members: frozenset[int] | set[int]) -> Verdict:
        """May a view of `members` be quorate against this reference?"""
        present, total = self.present(members), self.total
        if 2 * present > total:
            return Verdict(True, False, "")
        if policies.auto_tie_breaker and self.committed and 2 * present == total:
            breaker = tie_breaker_node(policies, self.nodes)
            if breaker is not None and breaker in members:
                return Verdict(
                    True, True, f"auto_tie_breaker: exactly half of {total} votes, with tie-breaker node {breaker}"
                )
            return Verdict(
                False,
                False,
                f"auto_tie_breaker: exactly half of {total} votes, but tie-breaker node {breaker} is in the other half",
            )
        if not self.committed:
            pending = " (last man standing: the smaller reference is not yet announced by every member)"
        else:
            pending = ""
        return Verdict(
            False, False, f"{present} of the {total} votes of nodes {sorted(self.nodes)} are present{pending}"
        )

    def lms_due(
        self, policies: QuorumPolicies, now: float, members: frozenset[int], *, quorate: bool, fencing_pending: bool
    ) -> bool:
        """Watch the view; True when last man standing should shrink the reference to `members` now."""
        if members != self.watching:
            self.watching, self.since = members, now
        if not policies.last_man_standing or not quorate or fencing_pending or not members:
            return False
        if not members < self.nodes:
            return False
        return now - self.since >= policies.lms_window
