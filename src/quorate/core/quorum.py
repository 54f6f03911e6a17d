"""Vote quorum, exactly as cman computes it (rules Q-2 to Q-6).

Theory of operation:

* ``T`` (total votes) is the sum of the votes of the current view's members plus the quorum disk's votes
  when *this* node currently holds them. The disk's contribution is a local fact, not an agreed one; the
  quorum-disk protocol is what keeps two partitions from both holding it.
* ``E`` (expected votes) is the highest expected value announced by any member, unless an administrator
  lowered it with ``cman_tool expected -e N``.
* ``quorum = max(E // 2 + 1, T // 2 + 1)``, and quorum never decreases on ordinary events (a node dying does
  not lower the bar for the survivors); only an administrative change, a ``leave remove`` or a
  reconfiguration recompute with decrease allowed.
* ``two_node``: with at most two members, quorum is 1 (both halves of a split are quorate; fencing decides).
* ``wait_for_all`` (a votequorum idea, optional): a node is not quorate until it has once been in a view
  with every configured node, so a cold-started half cannot form a quorate cluster on its own.
* votequorum's ``last_man_standing`` and ``auto_tie_breaker`` (`quorum_policies`): the caller passes the node's
  reference set; a view must also hold a majority of it, and an exact half of it with the tie-breaker node is
  quorate even below the quorum.

This module does not know about views or messages; `membership` feeds it numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorate.core.quorum_policies import QuorumPolicies, Reference


@dataclass(frozen=True, slots=True)
class QuorumResult:
    """One evaluation: the numbers `cman_tool status` prints and the verdict with its reason."""

    expected_votes: int
    total_votes: int
    quorum: int
    quorate: bool
    reason: str
    #: what a quorum policy (last man standing, auto_tie_breaker) decided, when one did
    policy: str = ""


def compute_quorum(expected: int, total: int) -> int:
    """cman's formula without history (Q-3): a strict majority of the larger of E and T."""
    return max(expected // 2 + 1, total // 2 + 1)


class QuorumTracker:
    """Keeps the history the arithmetic needs: the quorum floor and whether wait_for_all was satisfied.

    Expected votes are not stored here: each node announces its own value (lowered by `cman_tool expected`)
    and E is the maximum over the view's members, so a joining node with a higher value raises it again.
    """

    def __init__(
        self,
        *,
        two_node: bool,
        wait_for_all: bool,
        all_node_ids: frozenset[int],
        policies: QuorumPolicies | None = None,
    ) -> None:
        self.policies = policies or QuorumPolicies()
        self.two_node = two_node
        self.wait_for_all = wait_for_all
        self.all_node_ids = all_node_ids
        self._floor = 0
        self._seen_all = not wait_for_all

    def evaluate(
        self,
        *,
        member_votes: dict[int, int],
        expected: int,
        qdisk_votes: int,
        allow_decrease: bool = False,
        reference: Reference | None = None,
        device: str = "the quorum disk",
    ) -> QuorumResult:
        """Compute T, quorum and the verdict for the current view, updating the quorum floor.

        `reference`: the node's reference set when a policy is on (`quorum_policies`); `device`: what lends the
        extra votes, for the reason."""
        if not member_votes:
            return QuorumResult(expected, 0, self._floor, False, "not quorate: not a member of any view")
        total = sum(member_votes.values()) + qdisk_votes
        if not self._seen_all and set(member_votes) >= self.all_node_ids:
            self._seen_all = True
        if self.two_node and len(member_votes) <= 2:
            quorum = 1
        else:
            computed = compute_quorum(expected, total)
            quorum = computed if allow_decrease or self._floor == 0 else max(self._floor, computed)
        self._floor = quorum
        disk = f" (including {qdisk_votes} from {device})" if qdisk_votes else ""
        verdict = None
        if self.policies.active and reference is not None:
            verdict = reference.judge(self.policies, set(member_votes))
        if not self._seen_all:
            return QuorumResult(
                expected,
                total,
                quorum,
                False,
                "not quorate: wait_for_all is set and not every node has been seen together yet",
            )
        if verdict is not None and verdict.tie_broken and reference is not None and expected <= reference.total:
            reason = f"quorate by {verdict.reason}: {total} votes"
            return QuorumResult(expected, total, quorum, True, reason, verdict.reason)
        if total >= quorum and verdict is not None and not verdict.allowed:
            reason = f"not quorate: {verdict.reason}"
            return QuorumResult(expected, total, quorum, False, reason, "last man standing: " + verdict.reason)
        if total >= quorum:
            lms = ""
            if self.policies.last_man_standing and reference is not None and reference.nodes != self.all_node_ids:
                lms = f"last man standing: expected votes lowered to the {reference.total} of nodes "
                lms += f"{sorted(reference.nodes)}"
            reason = f"quorate: {total} votes{disk}, quorum {quorum}" + (f" ({lms})" if lms else "")
            return QuorumResult(expected, total, quorum, True, reason, lms)
        tie = verdict.reason if verdict is not None and "auto_tie_breaker" in verdict.reason else ""
        reason = f"not quorate: {total} votes{disk}, quorum needs {quorum}" + (f"; {tie}" if tie else "")
        return QuorumResult(expected, total, quorum, False, reason, tie)

    @staticmethod
    def check_expected(new_expected: int, total: int) -> str | None:
        """Validate `cman_tool expected -e N` (Q-6); returns an error sentence or None."""
        if new_expected < 1:
            return f"expected votes must be a positive integer, got {new_expected}"
        quorum = compute_quorum(new_expected, total)
        if quorum > total:
            return (
                f"expected votes {new_expected} would make the quorum {quorum} but only "
                f"{total} votes are present, so the cluster would lose quorum"
            )
        return None

    def reset_floor(self) -> None:
        """Forget the quorum floor (leave with remove, expected lowered, reconfiguration)."""
        self._floor = 0
