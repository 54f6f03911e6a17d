"""The quorum witness's vocabulary: its settings, the two datagrams, and the choice between partitions.

Theory of operation
-------------------
A witness is a third machine that lends its votes to one partition of a cluster at a time, over the network,
where a quorum disk would need storage every node sees. Each node asks it every ``interval`` seconds with a
`WitnessAsk` naming itself, its view (id and members) and whether it currently counts the vote; the witness
answers with a `WitnessAnswer` that grants the vote for a lease or refuses it with a reason.

The datagrams are small msgspec structs (array-like, like the cluster's messages); authentication and replay
protection are the carrier's, exactly as for the cluster transport. The sequence number ``seq`` is the
client's request counter: the witness ignores a request older than one it already processed from that node, and
the answer echoes it so that the node can tell which request (and so which send time) a grant belongs to.
``boot`` is the node's run (its epoch, which grows at every start): a restarted node counts from 1 again.

Choosing a partition (`choose`), as corosync-qnetd's two algorithms define it:

* ``ffsplit`` (fifty-fifty split): only a partition holding at least half of the configured nodes may get the
  vote (one vote cannot make a smaller one quorate anyway); among them the one with more members wins, and on a
  tie the one holding the tie-breaker node (``lowest`` id, ``highest`` id, or a given node id).
* ``lms`` (last man standing): every partition may get the vote, which is worth one less than the number of
  nodes so that a single survivor with it is still quorate; the larger partition wins, ties as above.

Partitions are compared on the member sets their nodes report, so two nodes of one partition always name the
same partition (a view id names exactly one member set).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import msgspec

from quorate.core.messages import ViewId

MAX_WITNESS_BYTES: Final = 2000
DEFAULT_PORT: Final = 5406
DEFAULT_LEASE: Final = 10.0


class Algorithm(enum.StrEnum):
    FFSPLIT = "ffsplit"
    LMS = "lms"


@dataclass(frozen=True, slots=True)
class WitnessSettings:
    """One cluster's ``<witness>`` element, in the core's terms.

    ``votes`` 0 means the algorithm's default (1 for ffsplit, nodes - 1 for lms). ``tie_breaker`` is
    ``lowest``, ``highest`` or a node id written as a number. ``interval`` is how often a node asks;
    ``margin``: how much earlier than the witness a node stops counting a grant (clock drift, scheduling).
    """

    host: str
    port: int = DEFAULT_PORT
    votes: int = 0
    algorithm: Algorithm = Algorithm.FFSPLIT
    tie_breaker: str = "lowest"
    lease: float = DEFAULT_LEASE

    @property
    def interval(self) -> float:
        return self.lease / 5

    @property
    def margin(self) -> float:
        return self.lease / 4

    def votes_for(self, node_count: int) -> int:
        if self.votes > 0:
            return self.votes
        return max(node_count - 1, 1) if self.algorithm is Algorithm.LMS else 1


class WitnessAsk(msgspec.Struct, frozen=True, array_like=True, tag="wa"):
    """A node's request: give (or renew) the vote to my partition. ``holding``: I count it right now."""

    cluster: str
    cluster_id: int
    node: int
    boot: int
    seq: int
    view: ViewId
    members: tuple[int, ...]
    node_count: int
    holding: bool
    lease: float
    algorithm: Algorithm
    tie_breaker: str


class WitnessAnswer(msgspec.Struct, frozen=True, array_like=True, tag="wr"):
    """The witness's answer to request ``seq`` of ``node``: granted for ``lease`` seconds, or refused."""

    cluster: str
    cluster_id: int
    node: int
    seq: int
    view: ViewId
    granted: bool
    lease: float
    reason: str


WitnessDatagram = WitnessAsk | WitnessAnswer


class MalformedWitnessDatagram(ValueError):
    """A datagram that authenticated but does not decode as a witness request or answer."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(WitnessDatagram)


def encode(datagram: WitnessDatagram) -> bytes:
    data = _encoder.encode(datagram)
    if len(data) > MAX_WITNESS_BYTES:
        raise ValueError(f"witness datagram of {len(data)} bytes exceeds the {MAX_WITNESS_BYTES}-byte cap")
    return data


def decode(data: bytes) -> WitnessDatagram:
    if len(data) > MAX_WITNESS_BYTES:
        raise MalformedWitnessDatagram(f"payload of {len(data)} bytes exceeds the {MAX_WITNESS_BYTES}-byte cap")
    try:
        datagram: WitnessDatagram = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedWitnessDatagram(str(exc)) from None
    return datagram


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition as the witness sees it: its view and member set."""

    view: ViewId
    members: frozenset[int]


def choose(
    partitions: Iterable[Partition], algorithm: Algorithm, tie_breaker: str, node_count: int
) -> tuple[Partition | None, str]:
    """The partition that gets the vote, or None, with the reason in a sentence."""
    candidates = list(partitions)
    if algorithm is Algorithm.FFSPLIT:
        eligible = [p for p in candidates if 2 * len(p.members) >= node_count]
        if not eligible:
            return None, f"ffsplit: no partition holds half of the {node_count} nodes"
    else:
        eligible = candidates
    if not eligible:
        return None, "no partition asked"
    largest = max(len(p.members) for p in eligible)
    top = [p for p in eligible if len(p.members) == largest]
    if len(top) == 1:
        return top[0], f"{algorithm.value}: the largest partition ({largest} of {node_count} nodes)"
    everyone = frozenset().union(*(p.members for p in top))
    if tie_breaker == "lowest":
        node = min(everyone)
    elif tie_breaker == "highest":
        node = max(everyone)
    else:
        node = int(tie_breaker)
    for p in top:
        if node in p.members:
            return p, f"{algorithm.value}: a tie of {largest}-node partitions, broken by node {node} ({tie_breaker})"
    return None, f"{algorithm.value}: a tie of {largest}-node partitions and tie-breaker node {node} is in none"
