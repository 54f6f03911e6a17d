"""Feature negotiation: which optional protocol features every member of the current view supports.

Theory of operation
-------------------
Releases that keep the wire protocol may still add behaviour that needs every member's help (key rotation
is the first). A node advertises the features it implements in a trailing field of its heartbeat. Heartbeats
are array-like msgpack structs, and a decoder drops array elements past the fields it knows, so a node of an
older release (0.2.0) reads such a heartbeat as before and simply ignores the list; its own heartbeats carry
no list, which reads here as "no optional feature".

The table keeps, per peer, what its latest heartbeat advertised, tied to the peer's boot: a peer that
restarts with another release replaces its entry with its first heartbeat. A feature is *usable in a view*
only when every member of the view (this node included) advertised it; a node without a heartbeat on
record counts as lacking everything, so nothing new is used on a guess. New behaviour asks `missing` first
and refuses with `refusal`, which names the first node to upgrade; behaviour with an older equivalent (table
deltas: whole tables) falls back to it instead of refusing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from quorate.core.effects import Log

KEY_ROTATION: Final = "key-rotation"
# The coordinator publishes numbered deltas of its service table (`service_replication`): a 0.3.0 member would
# adopt one without noticing a lost predecessor, and answer every one with its whole copy of the table.
TABLE_DELTAS: Final = "table-deltas"
# A member's running list too long for one message goes in consecutive inventory parts (`service_replication`):
# a 0.4.0 coordinator would take each part for the whole list, and the services of the others for stopped.
INVENTORY_PARTS: Final = "inventory-parts"
# What this release implements, advertised in every heartbeat it sends.
SUPPORTED: Final = frozenset({KEY_ROTATION, TABLE_DELTAS, INVENTORY_PARTS})
# How each feature is named in a refusal ("... runs a release without key rotation").
DESCRIPTIONS: Final = {
    KEY_ROTATION: "key rotation",
    TABLE_DELTAS: "service table deltas",
    INVENTORY_PARTS: "service inventories in parts",
}
MAX_ADVERTISED: Final = 32  # a peer's list is bounded: what a heartbeat carries is never kept unbounded


class FeatureTable:
    """What each peer advertised in its latest heartbeat (per boot), and what a set of members shares."""

    def __init__(self, local_id: int, local: frozenset[str] = SUPPORTED) -> None:
        self.local_id = local_id
        self.local = local
        self._peers: dict[int, tuple[int, frozenset[str]]] = {}

    def heard(self, sender: int, boot: int, features: Iterable[str]) -> None:
        """A heartbeat from ``sender``'s run ``boot``; an older run's late heartbeat changes nothing."""
        known = self._peers.get(sender)
        if known is not None and boot < known[0]:
            return
        self._peers[sender] = (boot, frozenset(list(features)[:MAX_ADVERTISED]))

    def of(self, nodeid: int) -> frozenset[str]:
        """What ``nodeid`` supports as far as this node knows (nothing before its first heartbeat)."""
        if nodeid == self.local_id:
            return self.local
        entry = self._peers.get(nodeid)
        return entry[1] if entry is not None else frozenset()

    def common(self, members: Iterable[int]) -> frozenset[str]:
        """The features every one of ``members`` supports."""
        shared = self.local
        for nodeid in members:
            shared = shared & self.of(nodeid)
        return shared

    def missing(self, feature: str, members: Iterable[int]) -> list[int]:
        """The members (by id, ascending) that do not support ``feature``."""
        return sorted(n for n in set(members) if feature not in self.of(n))

    def refusal(self, feature: str, members: Iterable[int], names: Mapping[int, str]) -> str | None:
        """None when every member supports ``feature``; otherwise the sentence an administrator reads."""
        lacking = self.missing(feature, members)
        if not lacking:
            return None
        what = DESCRIPTIONS.get(feature, feature)
        who = ", ".join(names.get(n, f"node {n}") for n in lacking)
        verb = "runs" if len(lacking) == 1 else "run"
        return f"{who} {verb} a release without {what}: upgrade {'it' if len(lacking) == 1 else 'them'} first"

    def table(self, names: Mapping[int, str]) -> dict[str, list[str]]:
        """Every node's advertised features by name, for the status document."""
        out = {names.get(self.local_id, str(self.local_id)): sorted(self.local)}
        for nodeid, (_boot, features) in sorted(self._peers.items()):
            out[names.get(nodeid, str(nodeid))] = sorted(features)
        return out


class Unreadable:
    """Authentic datagrams whose body this release cannot decode, counted by peer and reason.

    A peer of a newer release may send a message kind this one does not know (it only does so once every
    member advertised the feature, but a node may join later); a peer with a bug may send a malformed body.
    Either way the datagram is dropped and the node goes on; the first one of each (peer, reason) is said in
    the log, the rest only counted, so a chatty peer cannot flood the journal.
    """

    def __init__(self, names: Mapping[int, str]) -> None:
        self.names = names
        self.counts: dict[str, int] = {}
        self._said: set[tuple[int, str]] = set()

    @staticmethod
    def reason(error: str) -> str:
        # msgspec names the position of the failure: the tag is the first array element.
        return "unknown-kind" if error.startswith("Invalid value") and error.endswith("`$[0]`") else "malformed"

    def note(self, sender: int, error: str) -> Log | None:
        reason = self.reason(error)
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if (sender, reason) in self._said or len(self._said) >= 256:
            return None
        self._said.add((sender, reason))
        who = self.names.get(sender, f"node {sender}")
        if reason == "unknown-kind":
            text = (f"{who} sends a message kind this release does not know ({error}): dropped; it probably runs a "
                    "newer release (said once; counted as undecodable)")  # fmt: skip
        else:
            text = f"{who} sent a malformed message ({error}): dropped (said once; counted as undecodable)"
        return Log(text, "warning")
