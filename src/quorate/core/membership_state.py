"""The facts every part of membership shares, and the one outbox their effects go to.

Theory of operation
-------------------
Membership is split by responsibility: hearing (failure detection), agreement (two-phase views), votes (quorum
inputs) and admission (who may be in a view), composed by the `membership.Membership` façade. Each part keeps
its own bookkeeping to itself; a fact lives here only when several parts need it:

* this node's identity and run: configuration, node id, boot epoch, incarnation (bumped by votes when a quorate
  view is lost, by admission when the cluster holds this run as failed, by the façade on join and eviction);
* its protocol state, committed view and members (agreement installs them, everyone reads them), its promise
  and the highest view sequence it has seen (persisted, so that a restart never reuses one);
* the quorum verdict (votes computes it; admission, agreement and the heartbeat read it), the dirty flag and the
  reason `quorate status` shows;
* one `Peer` record per configured node, whose public fields each part writes for its own concern.

Every effect of every part is appended to one list in the order the decisions are taken, so the order of
effects (and of datagrams) is exactly the order of decisions. Nothing here decides anything; `status` is a
snapshot of these facts with what the parts contribute (who is heard, who is refused, when this node joined).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from quorate.core.effects import Effect, Log, PersistGeneration, Send
from quorate.core.membership_types import (
    TRANSITIONS,
    Event,
    MembershipConfig,
    MembershipStatus,
    NodeSpec,
    NodeStatus,
    Peer,
    Refusal,
    State,
)
from quorate.core.messages import NO_VIEW, Message, ViewId
from quorate.core.quorum import QuorumResult


class MembershipState:
    """One node's shared membership facts; the parts read and change them, the façade exposes them."""

    def __init__(
        self,
        config: MembershipConfig,
        local_id: int,
        *,
        boot: int,
        incarnation: int,
        highest_seq: int,
        quorum: QuorumResult,
    ) -> None:
        self.config = config
        self.local_id = local_id
        self.local: NodeSpec = config.spec(local_id)
        self.boot = boot
        self.incarnation = incarnation
        self.state = State.JOINING
        self.view: ViewId = NO_VIEW
        self.members: frozenset[int] = frozenset()
        self.promised: ViewId = NO_VIEW
        self.highest_seq = highest_seq
        self.dirty = False
        self.stopping = False  # stops in progress (FLAG_STOPPING)
        self.quorum = quorum
        self.reason = "starting: no view yet"
        self.peers: dict[int, Peer] = {n.nodeid: Peer(n) for n in config.nodes if n.nodeid != local_id}
        self.effects: list[Effect] = []

    # ------------------------------------------------------------- changes

    def adopt_config(self, config: MembershipConfig) -> None:
        """A new configuration: drop the records of removed nodes, add new ones, keep what is known of the rest."""
        removed = {nodeid for nodeid in self.peers if all(n.nodeid != nodeid for n in config.nodes)}
        self.config = config
        self.local = config.spec(self.local_id)
        for nodeid in removed:
            del self.peers[nodeid]
        for spec in config.nodes:
            if spec.nodeid == self.local_id:
                continue
            peer = self.peers.get(spec.nodeid)
            if peer is None:
                self.peers[spec.nodeid] = Peer(spec)
            else:
                peer.spec = spec

    def drop_view(self) -> None:
        """This node is in no view any more (it left or was evicted)."""
        self.view, self.members = NO_VIEW, frozenset()

    def see_seq(self, seq: int) -> None:
        if seq > self.highest_seq:
            self.highest_seq = seq
            self.effects.append(PersistGeneration(seq))

    def transition(self, event: Event) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise AssertionError(f"membership: no transition from {self.state.name} on {event.value}") from None

    # ------------------------------------------------------------- reading

    def known(self, nodeid: int) -> bool:
        return nodeid == self.local_id or nodeid in self.peers

    def votes_of(self, nodes: Iterable[int]) -> dict[int, int]:
        """Configured votes of each of `nodes`."""
        return {m: self.config.spec(m).votes for m in nodes}

    def names(self, ids: Iterable[int]) -> str:
        names = []
        for nodeid in sorted(ids):
            try:
                names.append(self.config.spec(nodeid).name)
            except KeyError:
                names.append(f"node {nodeid}")
        return "{" + ", ".join(names) + "}"

    def status(
        self,
        now: float,
        *,
        reported: frozenset[int],
        refusal: Callable[[Peer], Refusal | None],
        joined: tuple[int, float | None],
    ) -> MembershipStatus:
        """A snapshot for `cman_tool nodes` and `quorate status`: `reported` are the peers heard, `refusal` says
        why a peer is refused, `joined` is this node's own join (view sequence, time)."""
        nodes: list[NodeStatus] = []
        for spec in self.config.nodes:
            member = spec.nodeid in self.members
            if spec.nodeid == self.local_id:
                nodes.append(
                    NodeStatus(spec.nodeid, spec.name, spec.votes, member, True, self.incarnation, *joined, 0.0, None)
                )
                continue
            peer = self.peers[spec.nodeid]
            talking = peer.last_rx is not None and now - peer.last_rx <= self.config.token
            # Only a node that is talking can be refused ("d" in cman_tool nodes); a silent one is just out.
            refused = refusal(peer) if talking else None
            nodes.append(
                NodeStatus(
                    spec.nodeid,
                    spec.name,
                    spec.votes,
                    member,
                    spec.nodeid in reported,
                    peer.incarnation,
                    peer.joined_seq,
                    peer.joined_at,
                    None if peer.last_rx is None else now - peer.last_rx,
                    None if refused is None else refused.reason,
                )
            )
        return MembershipStatus(
            local_id=self.local_id,
            state=self.state.value,
            view=self.view,
            members=tuple(sorted(self.members)),
            coordinator=self.view.coord,
            quorum=self.quorum,
            nodes=tuple(nodes),
            dirty=self.dirty,
            incarnation=self.incarnation,
            reason=self.reason,
        )

    # ------------------------------------------------------------- effects

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)

    def log(self, text: str, level: str = "info") -> None:
        self.effects.append(Log(text, level))

    def send(self, to: int, message: Message) -> None:
        self.effects.append(Send((to,), message))

    def send_many(self, to: Iterable[int], message: Message) -> None:
        targets = tuple(sorted(to))
        if targets:
            self.effects.append(Send(targets, message))
