"""What activating one cluster.conf instead of another changes: the answer's shape (frozen dataclasses).

`quorate.config.change_diff` computes it (`plan_change`), `quorate.config.change_text` words it for people
(`describe`), and `ConfigChange.to_dict` gives it to JSON. Fields compare effective values, so "changed" means
"changes what quorate does".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

Value = str | int | bool | None


@dataclass(frozen=True, slots=True)
class Field:
    """One effective setting whose value differs."""

    name: str
    before: Value
    after: Value

    def __str__(self) -> str:
        return f"{self.name} {show(self.before)} -> {show(self.after)}"


@dataclass(frozen=True, slots=True)
class NodeChange:
    """A cluster node, matched by node id: ``kind`` is ``added``, ``removed`` or ``changed``. A node whose name
    changed under the same id is a changed address (the name is what resolves to the node's address)."""

    nodeid: int
    name: str
    kind: str
    votes_before: int | None
    votes_after: int | None
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True, slots=True)
class VotesChange:
    """Vote arithmetic before and after, with every configured node up and the quorum disk counted (Q-3)."""

    expected_before: int
    expected_after: int
    expected_explicit_before: bool
    expected_explicit_after: bool
    node_votes_before: int
    node_votes_after: int
    qdisk_votes_before: int
    qdisk_votes_after: int
    quorum_before: int
    quorum_after: int

    @property
    def changed(self) -> bool:
        return (self.expected_before, self.node_votes_before, self.qdisk_votes_before, self.quorum_before) != (
            self.expected_after,
            self.node_votes_after,
            self.qdisk_votes_after,
            self.quorum_after,
        )


@dataclass(frozen=True, slots=True)
class FenceDeviceChange:
    """A ``<fencedevice>`` added, removed or changed; ``used_by`` names the nodes whose methods use it (after
    the change, or before it for a removed device)."""

    name: str
    kind: str
    fields: tuple[Field, ...] = ()
    used_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuorumdChange:
    """The quorum disk added, removed or changed. ``restart_fields`` are the settings qdiskd reads only when it
    starts (C-45: everything except the dynamic ones); the others take effect at once."""

    kind: str
    fields: tuple[Field, ...] = ()
    restart_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WitnessChange:
    """The quorum witness added, removed or changed. Every kind is applied live: each node restarts its witness
    link with the new settings, giving the witness's vote back and asking for it again (W-2). ``two_node_flips``:
    with ``two_node="1"`` a witness added or removed switches the quorum rule between "the witness breaks ties"
    and two_node's quorum of 1 (W-5)."""

    kind: str
    fields: tuple[Field, ...] = ()
    two_node_flips: bool = False


@dataclass(frozen=True, slots=True)
class DomainChange:
    """A failover domain added, removed or changed; ``services`` are those it places (re-evaluated)."""

    name: str
    kind: str
    fields: tuple[Field, ...] = ()
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceChange:
    """What activation does to one service.

    ``action`` is one of: ``add`` (initialised stopped; it stays stopped until ``clusvcadm -e``, rule R-92),
    ``remove`` (stopped, then forgotten), ``restart`` (``whole`` True: the service goes down and up; False:
    only ``stop``/``start`` resources restart, the rest keeps running), ``reconfigure`` (agents take the new
    values in place, nothing stops) or ``placement`` (only placement settings changed: nothing stops, the
    placement rules are re-evaluated). Resources are ``type:primary`` labels, stop and start in execution
    order. ``causes`` say why, e.g. ``fs:test_fs changed: options``.
    """

    name: str
    action: str
    whole: bool = False
    stop: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    reconfigure: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    placement: tuple[Field, ...] = ()
    stays_stopped: bool = False


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """Everything that activating ``version_after`` instead of ``version_before`` changes."""

    version_before: int
    version_after: int
    digest_before: str
    digest_after: str
    nodes: tuple[NodeChange, ...]
    votes: VotesChange
    cluster: tuple[Field, ...]
    totem: tuple[Field, ...]
    fence_devices: tuple[FenceDeviceChange, ...]
    fence_daemon: tuple[Field, ...]
    quorumd: QuorumdChange | None
    domains: tuple[DomainChange, ...]
    services: tuple[ServiceChange, ...]
    rm: tuple[Field, ...] = ()
    witness: WitnessChange | None = None

    @property
    def empty(self) -> bool:
        """True when activation would change nothing quorate does (only the version, or nothing at all)."""
        return not (
            self.nodes
            or self.votes.changed
            or self.cluster
            or self.totem
            or self.fence_devices
            or self.fence_daemon
            or self.quorumd
            or self.witness
            or self.domains
            or self.services
            or self.rm
        )

    def service(self, name: str) -> ServiceChange | None:
        return next((s for s in self.services if s.name == name), None)

    def node(self, name: str) -> NodeChange | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dataclass fields as keys, tuples as lists, plus ``empty``."""
        data: dict[str, Any] = dataclasses.asdict(self)
        data["empty"] = self.empty
        data["votes"]["changed"] = self.votes.changed
        return data


def show(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
