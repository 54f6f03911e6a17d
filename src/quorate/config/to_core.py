"""cluster.conf in the node core's terms: the one place where the parsed configuration becomes core settings.

Theory of operation: the core may not import this package (layers: config above core), so everything the
cores need is converted here, once, into `quorate.core.node_settings.NodeSettings`: membership (nodes, votes,
expected votes, token), fencing (delays, clean start, two-node rule), services (failover domains resolved to
node ids and priorities), the quorum disk (the parsed `<quorumd>` satisfies the core's settings protocol as it
is) and the file's bytes. The daemon, the simulators that read cluster.conf and `quorate simulate` all call
`node_settings`; `activation` says what a new file changes for a running node.
"""

from __future__ import annotations

from quorate.config.changes import plan_change
from quorate.config.model import ClusterConfig
from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.node_io import ConfigActivated
from quorate.core.node_settings import NodeSettings
from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.core.witness_protocol import Algorithm, WitnessSettings


def expected_votes(cfg: ClusterConfig) -> int:
    """With a witness its votes count in the expected votes (W-5), or expected_votes when larger."""
    if cfg.witness is None:
        return cfg.expected_votes
    explicit = 0 if cfg.two_node else (cfg.expected_votes_explicit or 0)
    return max(explicit, cfg.total_node_votes + cfg.witness.votes)


def two_node(cfg: ClusterConfig) -> bool:
    """two_node's quorum of 1 and fence delay, unless a witness breaks the ties (W-5)."""
    return cfg.two_node and cfg.witness is None


def witness_settings(cfg: ClusterConfig) -> WitnessSettings | None:
    w = cfg.witness
    if w is None:
        return None
    return WitnessSettings(w.host, w.port, w.votes, Algorithm(w.algorithm), w.tie_breaker, w.lease)


def membership_config(cfg: ClusterConfig) -> MembershipConfig:
    return MembershipConfig(
        nodes=tuple(NodeSpec(n.nodeid, n.name, n.votes) for n in cfg.nodes),
        expected_votes=expected_votes(cfg),
        token=cfg.token_ms / 1000.0,
        join=cfg.join_ms / 1000.0,
        two_node=two_node(cfg),
        wait_for_all=cfg.wait_for_all,
        config_version=cfg.config_version,
        config_digest=cfg.digest[:16],
        policies=cfg.quorum_policies,
    )


def fencing_config(cfg: ClusterConfig) -> FencingConfig:
    fd = cfg.fence_daemon
    return FencingConfig(
        node_names={n.nodeid: n.name for n in cfg.nodes},
        post_join_delay=float(fd.post_join_delay),
        post_fail_delay=float(fd.post_fail_delay),
        clean_start=bool(fd.clean_start),
        override_time=float(fd.override_time),
        two_node=two_node(cfg),
    )


def service_specs(cfg: ClusterConfig) -> dict[str, ServiceSpec]:
    """Each `<service>` as the placement rules see it; a domain that does not exist means no domain (C-22)."""
    ids = {n.name: n.nodeid for n in cfg.nodes}
    specs: dict[str, ServiceSpec] = {}
    for svc in cfg.rm.managed:  # none when <rm disabled="1">; never a <vm>
        domain = None
        if svc.domain:
            d = cfg.rm.domain(svc.domain)
            if d is not None:
                priorities = {ids[m.name]: (m.priority if d.ordered else 0) for m in d.nodes if m.name in ids}
                domain = DomainSpec(d.name, d.ordered, d.restricted, d.nofailback, priorities)
        specs[svc.name] = ServiceSpec(
            name=svc.name,
            autostart=svc.autostart,
            domain=domain,
            recovery=svc.recovery,
            exclusive=svc.exclusive,
            max_restarts=svc.max_restarts,
            restart_expire_time=float(svc.restart_expire_time),
            depend=svc.depend,
            status_interval=float(cfg.rm.status_poll_interval),
        )
    return specs


def node_settings(cfg: ClusterConfig, local_id: int, data: bytes = b"") -> NodeSettings:
    """Node ``local_id``'s settings from ``cfg``; ``data``: the file's bytes (what distribution hands out)."""
    return NodeSettings(
        local_id=local_id,
        membership=membership_config(cfg),
        fencing=fencing_config(cfg),
        services=service_specs(cfg),
        qdisk=cfg.quorumd,
        status_interval=float(cfg.rm.status_poll_interval),
        config_data=data,
        rm_configured=cfg.rm is not None,
        witness=witness_settings(cfg),
        cluster_name=cfg.name,
        cluster_id=cfg.cluster_id,
    )


def activation(old: ClusterConfig, new: ClusterConfig, local_id: int, data: bytes) -> ConfigActivated:
    """What activating ``new`` in place of ``old`` means for node ``local_id``, for `NodeCore.report`."""
    change = plan_change(old, new)
    services: dict[str, str] = {}
    for item in change.services:
        if item.action in ("add", "remove"):
            services[item.name] = item.action
        elif item.action == "restart":
            services[item.name] = "restart:" + ("; ".join(item.causes) or "its resources changed")
    qdisk_change, fields = "", tuple[str, ...]()
    if change.quorumd is not None:
        q = change.quorumd
        if q.kind == "changed" and not q.restart_fields:
            qdisk_change, fields = "dynamic", tuple(str(f) for f in q.fields)
        else:
            qdisk_change, fields = "restart", tuple(q.restart_fields)
    return ConfigActivated(node_settings(new, local_id, data), data, services, qdisk_change, fields)
