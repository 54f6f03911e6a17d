"""What activating one cluster.conf instead of another does, computed without I/O (`plan_change`).

Theory of operation: both files are effective configurations (`ClusterConfig`), so re-indenting the file or
spelling a default out changes nothing, and a changed default-derived value (consensus after a node was added,
expected_votes as the sum of votes) is reported although no attribute in the file changed. The answer covers
nodes and votes with the quorum they yield with every node up, totem timings, fencing, the quorum disk (which
settings qdiskd re-reads in place and which need its restart), failover domains, and per service whether it is
added (and stays stopped, rule R-92), removed (stopped first), restarted (whole, or only the resources that
changed, as rgmanager's tree diff decides, R-90, computed by `quorate.config.rgdelta`), reconfigured in place, or
only re-placed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from quorate.config.change_model import (
    ConfigChange,
    DomainChange,
    FenceDeviceChange,
    Field,
    NodeChange,
    QuorumdChange,
    ServiceChange,
    Value,
    VotesChange,
    WitnessChange,
)
from quorate.config.model import ClusterConfig, ClusterNode, FenceDeviceRef, FenceMethod, Quorumd, Service
from quorate.config.rgdelta import ADDED, REMOVED, ServiceDelta, delta
from quorate.config.rgtree import Node
from quorate.core.quorum import compute_quorum


def _fields(pairs: Iterable[tuple[str, Value, Value]]) -> tuple[Field, ...]:
    return tuple(Field(name, before, after) for name, before, after in pairs if before != after)


def _attrs(attrs: Iterable[tuple[str, str]]) -> str:
    return " ".join(f"{k}={v}" for k, v in attrs)


def _device(ref: FenceDeviceRef) -> str:
    return f"{ref.name}({_attrs(ref.attrs)})" if ref.attrs else ref.name


def _methods(methods: Sequence[FenceMethod]) -> str | None:
    if not methods:
        return None
    return "; ".join(f"{m.name}: {', '.join(_device(d) for d in m.devices) or '-'}" for m in methods)


# --- votes -----------------------------------------------------------------------------------------------


def _qdisk_votes(config: ClusterConfig) -> int:
    """The quorum device's votes: the quorum disk's, or the witness's (W-4)."""
    if config.quorumd is not None:
        return config.quorumd.votes
    return config.witness.votes if config.witness is not None else 0


def _expected(config: ClusterConfig) -> int:
    """Expected votes as the nodes compute them: with a witness, the nodes' votes plus its own (W-5)."""
    if config.witness is None:
        return config.expected_votes
    explicit = 0 if config.two_node else (config.expected_votes_explicit or 0)
    return max(explicit, config.total_node_votes + config.witness.votes)


def quorum_all_up(config: ClusterConfig) -> int:
    """The quorum cman computes when every configured node is up and the quorum device's votes are held:
    1 with two_node (Q-5; not with a witness, W-5), else a strict majority of the larger of expected and total
    votes (Q-3)."""
    if config.two_node and config.witness is None and len(config.nodes) <= 2:
        return 1
    return compute_quorum(_expected(config), config.total_node_votes + _qdisk_votes(config))


def _votes(old: ClusterConfig, new: ClusterConfig) -> VotesChange:
    return VotesChange(
        expected_before=_expected(old),
        expected_after=_expected(new),
        expected_explicit_before=old.expected_votes_explicit is not None,
        expected_explicit_after=new.expected_votes_explicit is not None,
        node_votes_before=old.total_node_votes,
        node_votes_after=new.total_node_votes,
        qdisk_votes_before=_qdisk_votes(old),
        qdisk_votes_after=_qdisk_votes(new),
        quorum_before=quorum_all_up(old),
        quorum_after=quorum_all_up(new),
    )


# --- nodes and fencing -----------------------------------------------------------------------------------


def _altnames(node: ClusterNode) -> str | None:
    shown = [
        a.name + (f":{a.port}" if a.port else "") + (f" mcast {a.mcast}" if a.mcast else "") for a in node.altnames
    ]
    return ", ".join(shown) or None


def _node_fields(old: ClusterNode, new: ClusterNode) -> tuple[Field, ...]:
    return _fields(
        [
            ("name", old.name, new.name),
            ("votes", old.votes, new.votes),
            ("fence", _methods(old.fence), _methods(new.fence)),
            (
                "unfence",
                ", ".join(_device(d) for d in old.unfence) or None,
                ", ".join(_device(d) for d in new.unfence) or None,
            ),
            ("altname", _altnames(old), _altnames(new)),
        ]
    )


def _nodes(old: ClusterConfig, new: ClusterConfig) -> tuple[NodeChange, ...]:
    result: list[NodeChange] = []
    new_ids = {n.nodeid for n in new.nodes}
    for node in old.nodes:
        if node.nodeid not in new_ids:
            result.append(NodeChange(node.nodeid, node.name, "removed", node.votes, None))
    for node in new.nodes:
        before = old.node_by_id(node.nodeid)
        if before is None:
            result.append(NodeChange(node.nodeid, node.name, "added", None, node.votes))
            continue
        fields = _node_fields(before, node)
        if fields:
            result.append(NodeChange(node.nodeid, node.name, "changed", before.votes, node.votes, fields))
    return tuple(sorted(result, key=lambda c: c.nodeid))


def _device_users(config: ClusterConfig, device: str) -> tuple[str, ...]:
    return tuple(n.name for n in config.nodes if any(d.name == device for m in n.fence for d in m.devices))


def _fence_devices(old: ClusterConfig, new: ClusterConfig) -> tuple[FenceDeviceChange, ...]:
    result: list[FenceDeviceChange] = []
    for device in old.fencedevices:
        if new.fencedevice(device.name) is None:
            result.append(FenceDeviceChange(device.name, "removed", used_by=_device_users(old, device.name)))
    for device in new.fencedevices:
        before = old.fencedevice(device.name)
        users = _device_users(new, device.name)
        if before is None:
            result.append(FenceDeviceChange(device.name, "added", used_by=users))
            continue
        names = dict.fromkeys([k for k, _ in before.attrs] + [k for k, _ in device.attrs])
        old_attrs, new_attrs = dict(before.attrs), dict(device.attrs)
        fields = _fields(
            [("agent", before.agent, device.agent), *((k, old_attrs.get(k), new_attrs.get(k)) for k in names)]
        )
        if fields:
            result.append(FenceDeviceChange(device.name, "changed", fields, users))
    return tuple(result)


# --- quorum disk -----------------------------------------------------------------------------------------

# Settings qdiskd re-reads on a configuration change (C-45; docs/rules.md, Quorum disk settings); every other
# one needs a qdiskd restart.
QDISK_DYNAMIC = frozenset({"reboot", "allow_kill", "paranoid", "io_timeout", "stop_cman", "max_error_cycles", "votes"})
QDISK_DYNAMIC |= {"status_file"}


def _qdisk_values(q: Quorumd) -> list[tuple[str, Value]]:
    values: list[tuple[str, Value]] = []
    for f in dataclasses.fields(q):
        value = getattr(q, f.name)
        if f.name == "heuristics":
            value = "; ".join(f"{h.program!r} score {h.score} interval {h.interval} tko {h.tko}" for h in value) or None
        values.append((f.name, value))
    return values


def quorumd_change(old: Quorumd | None, new: Quorumd | None) -> QuorumdChange | None:
    """What changes in the quorum disk's settings; None when nothing does."""
    if old is None and new is None:
        return None
    if old is None or new is None:
        return QuorumdChange("added" if old is None else "removed", restart_fields=("quorumd",))
    before = dict(_qdisk_values(old))
    fields = _fields((name, before[name], value) for name, value in _qdisk_values(new))
    if not fields:
        return None
    restart = tuple(f.name for f in fields if f.name not in QDISK_DYNAMIC)
    return QuorumdChange("changed", fields, restart)


def _policy_fields(old: ClusterConfig, new: ClusterConfig) -> list[tuple[str, Value, Value]]:
    """votequorum's policies (Q-13..Q-15), applied live by `Membership.reconfigure`."""
    p_old, p_new = old.quorum_policies, new.quorum_policies
    return [
        ("last_man_standing", p_old.last_man_standing, p_new.last_man_standing),
        ("last_man_standing_window_ms", round(p_old.lms_window * 1000), round(p_new.lms_window * 1000)),
        ("auto_tie_breaker", p_old.auto_tie_breaker, p_new.auto_tie_breaker),
        ("auto_tie_breaker_node", p_old.describe_tie_breaker(), p_new.describe_tie_breaker()),
    ]


def witness_change(old: ClusterConfig, new: ClusterConfig) -> WitnessChange | None:
    """What changes in the quorum witness's settings; None when nothing does (its line number is no setting)."""
    w_old, w_new = old.witness, new.witness
    if w_old is None and w_new is None:
        return None
    if w_old is None or w_new is None:
        flips = old.two_node and new.two_node
        return WitnessChange("added" if w_old is None else "removed", two_node_flips=flips)
    names = [f.name for f in dataclasses.fields(w_new) if f.name != "line"]
    fields = _fields((name, getattr(w_old, name), getattr(w_new, name)) for name in names)
    return WitnessChange("changed", fields) if fields else None


# --- resource manager ------------------------------------------------------------------------------------


def _domains(old: ClusterConfig, new: ClusterConfig) -> tuple[DomainChange, ...]:
    def services_of(config: ClusterConfig, name: str) -> tuple[str, ...]:
        return tuple(s.name for s in config.rm.services if s.domain and s.domain.lower() == name.lower())

    def members(domain_nodes: Iterable[Any], ordered: bool) -> str:
        return ", ".join(f"{n.name}:{n.priority}" if ordered else n.name for n in domain_nodes) or "(no nodes)"

    result: list[DomainChange] = []
    for domain in old.rm.failoverdomains:
        if new.rm.domain(domain.name) is None:
            result.append(DomainChange(domain.name, "removed", services=services_of(old, domain.name)))
    for domain in new.rm.failoverdomains:
        before = old.rm.domain(domain.name)
        if before is None:
            result.append(DomainChange(domain.name, "added", services=services_of(new, domain.name)))
            continue
        fields = _fields(
            [
                ("ordered", before.ordered, domain.ordered),
                ("restricted", before.restricted, domain.restricted),
                ("nofailback", before.nofailback, domain.nofailback),
                ("nodes", members(before.nodes, before.ordered), members(domain.nodes, domain.ordered)),
            ]
        )
        if fields:
            result.append(DomainChange(domain.name, "changed", fields, services_of(new, domain.name)))
    return tuple(result)


def _placement(old: Service, new: Service) -> tuple[Field, ...]:
    return _fields(
        [
            ("domain", old.domain, new.domain),
            ("recovery", old.recovery, new.recovery),
            ("autostart", old.autostart, new.autostart),
            ("exclusive", old.exclusive, new.exclusive),
            ("depend", old.depend, new.depend),
            ("depend_mode", old.get("depend_mode"), new.get("depend_mode")),
            ("max_restarts", old.max_restarts, new.max_restarts),
            ("restart_expire_time", old.restart_expire_time, new.restart_expire_time),
            ("priority", old.get("priority"), new.get("priority")),
        ]
    )


def _roots(nodes: Sequence[Node]) -> list[Node]:
    """Nodes none of whose ancestors is in ``nodes``: the resources whose own change caused the others'."""
    paths = {n.path for n in nodes}
    return [n for n in nodes if not any(n.path[:i] in paths for i in range(len(n.path)))]


def _causes(item: ServiceDelta) -> tuple[str, ...]:
    old_roots = _roots(item.stop)
    new_roots = _roots(item.start)
    started = {n.key: n for n in new_roots}
    causes: list[str] = []
    for node in old_roots:
        match = started.pop(node.key, None)
        if match is None:
            causes.append(f"{node.label} removed")
            continue
        keys = sorted(set(node.attrs) | set(match.attrs))
        differ = [k for k in keys if node.attrs.get(k) != match.attrs.get(k)]
        moved = node.path[:-1] != match.path[:-1]
        causes.append(f"{node.label} " + (f"changed: {', '.join(differ)}" if differ else "moved"))
        if differ and moved:
            causes[-1] += " (and moved)"
    causes.extend(f"{node.label} added" for node in new_roots if node.key in started)
    return tuple(causes)


def _reconfigured(item: ServiceDelta) -> tuple[str, ...]:
    """Resources reconfigured in place, except the service node itself when only placement changed."""
    shown = []
    for node in item.reconfig:
        if node.path:
            shown.append(node.label)
            continue
        old = item.old.root if item.old is not None else None
        if old is not None and (dict(old.special) != dict(node.special) or old.overrides != node.overrides):
            shown.append(node.label)
    return tuple(shown)


def _services(old: ClusterConfig, new: ClusterConfig) -> tuple[ServiceChange, ...]:
    result: list[ServiceChange] = []
    for item in delta(old, new):
        if item.kind == ADDED:
            result.append(
                ServiceChange(item.service, "add", start=tuple(n.label for n in item.start), stays_stopped=True)
            )
            continue
        if item.kind == REMOVED:
            result.append(ServiceChange(item.service, "remove", whole=True, stop=tuple(n.label for n in item.stop)))
            continue
        before, after = old.rm.service(item.service), new.rm.service(item.service)
        placement = _placement(before, after) if before is not None and after is not None else ()
        reconfigured = _reconfigured(item)
        if item.stop or item.start:
            action = "restart"
        elif reconfigured:
            action = "reconfigure"
        elif placement:
            action = "placement"
        else:
            continue
        result.append(
            ServiceChange(
                item.service,
                action,
                whole=item.restarts_service,
                stop=tuple(n.label for n in item.stop),
                start=tuple(n.label for n in item.start),
                reconfigure=reconfigured,
                causes=_causes(item),
                placement=placement,
            )
        )
    return tuple(result)


# --- the whole -------------------------------------------------------------------------------------------


def _multicast(config: ClusterConfig) -> str | None:
    return config.multicast_address if config.multicast_explicit else None


def plan_change(old: ClusterConfig, new: ClusterConfig) -> ConfigChange:
    """Everything activating ``new`` in place of ``old`` changes (pure; both must be valid configurations)."""
    fd_old, fd_new = old.fence_daemon, new.fence_daemon
    return ConfigChange(
        version_before=old.config_version,
        version_after=new.config_version,
        digest_before=old.digest,
        digest_after=new.digest,
        nodes=_nodes(old, new),
        votes=_votes(old, new),
        cluster=_fields(
            [
                ("name", old.name, new.name),
                ("cluster_id", old.cluster_id, new.cluster_id),
                ("multicast", _multicast(old), _multicast(new)),
                ("port", old.port, new.port),
                ("keyfile", old.keyfile, new.keyfile),
                ("two_node", old.two_node, new.two_node),
                ("wait_for_all", old.wait_for_all, new.wait_for_all),
                *_policy_fields(old, new),
                ("quorum_dev_poll_ms", old.quorum_dev_poll_ms, new.quorum_dev_poll_ms),
            ]
        ),
        totem=_fields(
            [
                ("token_ms", old.token_ms, new.token_ms),
                ("join_ms", old.join_ms, new.join_ms),
                ("consensus_ms", old.consensus_ms, new.consensus_ms),
            ]
        ),
        fence_devices=_fence_devices(old, new),
        fence_daemon=_fields(
            (f.name, getattr(fd_old, f.name), getattr(fd_new, f.name)) for f in dataclasses.fields(fd_new)
        ),
        quorumd=quorumd_change(old.quorumd, new.quorumd),
        witness=witness_change(old, new),
        domains=_domains(old, new),
        services=_services(old, new),
        rm=_fields([("status_poll_interval", old.rm.status_poll_interval, new.rm.status_poll_interval)]),
    )
