"""The daemon's state as one typed document: what `cman_tool status/nodes`, clustat, `quorate status --json` and
the metrics exporter all read.

Theory of operation: `StatusDoc` is the schema (msgspec structs, so both the daemon that builds it and the
clients that decode it check every field); `build_status` fills it from the node core and the shell. Monotonic
times from the core are turned into wall-clock times here, at the edge, because administrators read dates; the
core never sees a wall clock. The sections that are a core's own account (fencing, the quorum disk,
configuration distribution) stay free-form mappings: their cores define them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from quorate import __version__

if TYPE_CHECKING:  # annotations only: the schema is imported by every command that checks a request, and
    # importing the node core and the configuration model would cost them 0.1-0.2 s of start-up
    from quorate.config.model import ClusterConfig, ClusterNode
    from quorate.core.node_core import NodeCore

CMAN_PROTOCOL_VERSION = "6.2.0"


class Counters(Protocol):
    sent: int
    send_errors: Counter[str]


class Codec(Protocol):
    accepted: int
    drops: Counter[str]


class Disk(Protocol):
    def status(self) -> dict[str, Any]: ...


class Daemon(Protocol):
    """What the status document is read from: the daemon's node core and shell (structurally, so this module does
    not import the daemon that serves it)."""

    core: NodeCore
    config: ClusterConfig
    local: ClusterNode
    addresses: dict[int, str]
    multicast: str | None
    started_at: float
    recent_log: Iterable[str]
    codec: Codec
    transport: Counters | None
    disk: Disk

    @property
    def undecodable(self) -> int: ...


class NodeEntry(msgspec.Struct):
    nodeid: int
    name: str
    votes: int
    member: bool
    heard: bool
    local: bool
    incarnation: int
    joined_generation: int
    joined: float | None
    last_heard_age: float | None
    refused: str | None
    address: str | None


class ServiceEntry(msgspec.Struct):
    name: str
    state: str
    owner: str
    last_owner: str
    restarts: int
    frozen: bool
    reason: str


class TransportDoc(msgspec.Struct):
    accepted: int
    sent: int
    dropped: dict[str, int]
    undecodable: int
    send_errors: dict[str, int]
    late_timers: int = 0  # timers run more than two heartbeat intervals late (the loop was held)


class ConfigMismatch(msgspec.Struct):
    name: str
    config_version: int
    config_digest: str


class ClockOffsetEntry(msgspec.Struct):
    """A peer's wall clock minus this node's, from heartbeat round trips (`quorate.core.clock_skew`)."""

    nodeid: int
    name: str
    offset: float
    delay: float
    samples: int


class EventEntry(msgspec.Struct):
    """One recent decision event of this node (wall-clock ``at``)."""

    at: float
    view: int
    kind: str
    subject: str
    outcome: str
    reason: str


class StatusDoc(msgspec.Struct):
    """Everything a status command shows, for this node and as this node sees the cluster."""

    version: str
    protocol_version: str
    cluster_name: str
    cluster_id: int
    config_version: int
    config_digest: str
    config_mismatch: list[ConfigMismatch]
    config_distribution: dict[str, Any]
    config_file: str | None
    member: bool
    state: str
    generation: int
    coordinator: int
    members: list[int]
    node_count: int
    expected_votes: int
    total_votes: int
    quorum: int
    quorate: bool
    quorum_reason: str
    qdisk_votes: int
    qdisk: dict[str, Any] | None
    node_votes: int
    active_subsystems: int
    subsystems: list[str]
    flags: list[str]
    ports_bound: list[int]
    node_name: str
    node_id: int
    multicast_addresses: list[str]
    multicast_in_use: str | None
    node_addresses: list[str]
    incarnation: int
    dirty: bool
    reason: str
    nodes: list[NodeEntry]
    token_ms: int
    transport: TransportDoc
    fencing: dict[str, Any]
    rgmanager: bool
    services: list[ServiceEntry]
    local_services: dict[str, str]
    started: float | None
    log: list[str]
    witness: dict[str, Any] | None = None
    clock_offsets: list[ClockOffsetEntry] = []
    clock_warn_above: float = 1.0
    events: list[EventEntry] = []
    event_counts: dict[str, int] = {}  # "kind/outcome": decisions since the daemon started
    journal: dict[str, Any] | None = None
    quorum_policies: dict[str, Any] | None = None


def build_status(daemon: Daemon, now: float) -> dict[str, Any]:
    """The status document as plain data (what the text formatters read)."""
    return msgspec.to_builtins(status_doc(daemon, now))  # type: ignore[no-any-return]


def status_doc(daemon: Daemon, now: float) -> StatusDoc:
    node = daemon.core
    core = node.membership
    st = core.status(now)
    cfg = daemon.config
    wall_offset = time.time() - now

    def wall(t: float | None) -> float | None:
        return None if t is None else t + wall_offset

    member = st.state == "Cluster-Member"
    flags = []
    if cfg.two_node:
        flags.append("2node")
    flags.extend(cfg.quorum_policies.flags())
    subsystems = node.subsystems
    in_fence_domain = member and "fenced" in subsystems and st.quorum.quorate
    if st.dirty or in_fence_domain:  # cman's Q-11: any subsystem holding state, the fence domain included
        flags.append("Dirty")
    nodes: list[NodeEntry] = []
    for n in st.nodes:
        nodes.append(
            NodeEntry(
                nodeid=n.nodeid,
                name=n.name,
                votes=n.votes,
                member=n.member,
                heard=n.heard,
                local=n.nodeid == daemon.local.nodeid,
                incarnation=n.incarnation,
                joined_generation=n.joined_seq,
                joined=wall(n.joined_at) if n.member else None,
                last_heard_age=n.last_heard_age,
                refused=n.refused,
                address=daemon.addresses.get(n.nodeid),
            )
        )
    codec = daemon.codec
    names = {n.nodeid: n.name for n in cfg.nodes}
    decisions = getattr(daemon, "decisions", None)  # the daemon's `journal_events.DecisionLog`
    return StatusDoc(
        version=__version__,
        protocol_version=CMAN_PROTOCOL_VERSION,
        cluster_name=cfg.name,
        cluster_id=cfg.cluster_id,
        config_version=cfg.config_version,
        config_digest=node.config_dist.digest,
        config_mismatch=[
            ConfigMismatch(peer.spec.name, peer.config_version, peer.config_digest)
            for peer in core.peers.values()
            if peer.config_version
            and (peer.config_version, peer.config_digest) != (cfg.config_version, cfg.digest[:16])
        ],
        config_distribution=node.config_dist.status(),
        config_file=cfg.source,
        member=member,
        state=st.state,
        generation=st.view.seq,
        coordinator=st.coordinator,
        members=list(st.members),
        node_count=len(st.members),
        expected_votes=st.quorum.expected_votes,
        total_votes=st.quorum.total_votes,
        quorum=st.quorum.quorum,
        quorate=st.quorum.quorate,
        quorum_reason=st.quorum.reason,
        qdisk_votes=core.qdisk_votes,
        qdisk=_qdisk(daemon, now),
        node_votes=daemon.local.votes,
        active_subsystems=len(subsystems),
        subsystems=sorted(subsystems),
        flags=flags,
        ports_bound=[],
        node_name=daemon.local.name,
        node_id=daemon.local.nodeid,
        multicast_addresses=[cfg.multicast_address],
        multicast_in_use=daemon.multicast,
        node_addresses=[daemon.addresses.get(daemon.local.nodeid, "")],
        incarnation=st.incarnation,
        dirty=st.dirty,
        reason=st.reason,
        nodes=nodes,
        token_ms=cfg.token_ms,
        transport=TransportDoc(
            accepted=codec.accepted,
            sent=daemon.transport.sent if daemon.transport else 0,
            dropped=dict(codec.drops),
            undecodable=daemon.undecodable,
            send_errors=dict(daemon.transport.send_errors) if daemon.transport else {},
            late_timers=daemon.late_timers,
        ),
        fencing=node.fencing.status(now),
        rgmanager=bool(node.services.specs) or node.settings.rm_configured,
        services=[
            ServiceEntry(
                name=r.name,
                state=r.state,
                owner=names.get(r.owner, ""),
                last_owner=names.get(r.last_owner, ""),
                restarts=r.restarts,
                frozen=r.frozen,
                reason=r.reason,
            )
            for r in node.services.table()
        ],
        local_services=dict(node.local.running),
        started=wall(daemon.started_at),
        log=list(daemon.recent_log),
        witness=_witness(daemon, now),
        clock_offsets=[
            ClockOffsetEntry(
                peer, names.get(peer, f"node {peer}"), round(est.offset, 6), round(est.delay, 6), est.samples
            )
            for peer, est in node.clock.offsets().items()
        ],
        clock_warn_above=node.clock.warn_above,
        events=list(decisions.recent) if decisions is not None else [],
        event_counts={f"{k}/{o}": n for (k, o), n in sorted(decisions.counts.items())} if decisions else {},
        journal=_journal(daemon),
        quorum_policies=_policies(daemon),
    )


def _journal(daemon: Daemon) -> dict[str, Any] | None:
    """The decision journal's file and counters (written, dropped, errors), if the daemon keeps one."""
    decisions = getattr(daemon, "decisions", None)
    if decisions is None:
        return None
    journal = decisions.journal
    counters = journal.counters
    return {"path": str(journal.path), "written": counters.written, "dropped": counters.dropped,
            "errors": counters.errors, "moved_aside": counters.moved_aside}  # fmt: skip


def _policies(daemon: Daemon) -> dict[str, Any] | None:
    """votequorum's policies when one is on: the settings and the reference the node judges views against."""
    policies = daemon.config.quorum_policies
    if not policies.active:
        return None
    reference = daemon.core.membership.reference
    return {
        "last_man_standing": policies.last_man_standing,
        "last_man_standing_window_ms": round(policies.lms_window * 1000),
        "auto_tie_breaker": policies.auto_tie_breaker,
        "auto_tie_breaker_node": policies.describe_tie_breaker(),
        "reference_nodes": sorted(reference.nodes),
        "reference_votes": reference.total,
        "reference_committed": reference.committed,
        "decided_by": daemon.core.membership.quorum.policy or None,
    }


def _witness(daemon: Daemon, now: float) -> dict[str, Any] | None:
    """The quorum witness as `quorate status --json` shows it: state, algorithm, lease, and the link's figures."""
    driver = getattr(daemon.core, "witness", None)
    if driver is None:
        return None
    out = dict(driver.status(now))
    link = getattr(daemon, "witness_link", None)
    out["link"] = link.status() if link is not None else None
    return out


def _qdisk(daemon: Daemon, now: float) -> dict[str, Any] | None:
    """The quorum disk as `quorate status` and clustat show it: the core's view plus the I/O figures."""
    node = daemon.core
    if node.qdisk is None:
        if daemon.config.quorumd is None:
            return None
        return {"registered": False, "online": False, "name": "", "error": node.qdisk_deferred}
    out = dict(node.qdisk.status(now))
    out["io"] = daemon.disk.status()
    out["registered"] = node.qdisk.core is not None
    out["online"] = node.membership.qdisk_votes > 0
    out["name"] = out.get("device") or ""
    if node.qdisk.error:
        out["error"] = node.qdisk.error
    return out
