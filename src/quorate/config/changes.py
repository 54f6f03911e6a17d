"""What activating one cluster.conf instead of another changes, and whether it may replace it at run time.

Theory of operation. Distribution (``quorate config push``, ``ccs_tool update``) and the administrator's
``quorate config diff`` need the same two answers about a candidate file, computed without any I/O:

* `check_successor` says whether the candidate may replace the running configuration *while the cluster runs*
  (spec C-40, C-45, S5). It returns located `Problem` values; an empty list (or warnings only) means yes.
* `plan_change` says what activation does: nodes and votes, the quorum they yield with every node up, totem
  timings, fencing, the quorum disk, failover domains, and per service whether it is added (and stays
  stopped, rule R-92), removed (stopped first), restarted (whole, or only the resources that changed, as
  rgmanager's tree diff decides, R-90, computed by `quorate.config.rgdelta`), reconfigured in place, or only
  re-placed (domain, recovery, autostart, exclusive...). The result is a tree of frozen dataclasses with a
  `ConfigChange.to_dict` for JSON and a `ConfigChange.describe` for people.

Both functions take effective configurations (`ClusterConfig`), so "changed" means "changes what quorate
does": re-indenting the file or spelling a default out changes nothing, and a changed default-derived value
(consensus after a node was added, expected_votes as the sum of votes) is reported although no attribute in
the file changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from quorate.config.model import ClusterConfig, ClusterNode, FenceDeviceRef, FenceMethod, Quorumd, Service
from quorate.config.problems import Problem, Severity
from quorate.config.rgdelta import ADDED, REMOVED, ServiceDelta, delta
from quorate.config.rgtree import Node
from quorate.core.quorum import compute_quorum

Value = str | int | bool | None


@dataclass(frozen=True, slots=True)
class Field:
    """One effective setting whose value differs."""

    name: str
    before: Value
    after: Value

    def __str__(self) -> str:
        return f"{self.name} {_show(self.before)} -> {_show(self.after)}"


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

    def describe(self) -> list[str]:
        """One line per change, for administrators (``quorate config diff``, pushes, ``ccs_tool --dry-run``)."""
        return list(_describe(self))


def _show(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


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
    return config.quorumd.votes if config.quorumd is not None else 0


def quorum_all_up(config: ClusterConfig) -> int:
    """The quorum cman computes when every configured node is up and the quorum disk's votes are held:
    1 with two_node (Q-5), else a strict majority of the larger of expected and total votes (Q-3)."""
    if config.two_node and len(config.nodes) <= 2:
        return 1
    return compute_quorum(config.expected_votes, config.total_node_votes + _qdisk_votes(config))


def _votes(old: ClusterConfig, new: ClusterConfig) -> VotesChange:
    return VotesChange(
        expected_before=old.expected_votes,
        expected_after=new.expected_votes,
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
        domains=_domains(old, new),
        services=_services(old, new),
        rm=_fields([("status_poll_interval", old.rm.status_poll_interval, new.rm.status_poll_interval)]),
    )


# --- successor rules -------------------------------------------------------------------------------------


def check_successor(
    running: ClusterConfig,
    candidate: ClusterConfig,
    *,
    members: Iterable[str] = (),
) -> list[Problem]:
    """Whether ``candidate`` may replace ``running`` while the cluster runs; problems are about the candidate.

    Refused (errors), and why:

    * another cluster name: the file belongs to another cluster (members reject such nodes, C-44);
    * a ``config_version`` that is not strictly higher (C-40): versions are how nodes tell which file is
      current, so an equal version with other content would leave two "current" files in the cluster;
    * a changed cluster id, explicit multicast address, port or key file: these decide who can talk to whom.
      Members activate a new file one after the other, never at the same instant, so during the switch the
      cluster would be cut in two groups that cannot hear each other, and each would evict (and fence) the
      other. cman also needs a full restart for these (C-45). Change them by stopping the whole cluster;
    * a changed ``two_node``: it changes the quorum rule itself (Q-5), and the original requires a full
      restart to cross the two-node boundary (C-45);
    * removing a node that is a member now (``members``: the names of the current view, given by the
      caller): the file would describe a cluster without a node that is running in it, and that node could
      neither activate it (it does not find itself) nor be fenced by it. Stop the node first
      (``cman_tool leave remove``), then push the file without it.

    Warnings: quorum disk settings that qdiskd reads only at start (C-45) restart the disk service inside
    each quorated (at its next start instead where the partition's quorum rests on the disk's votes). Totem
    timings are *not* refused: quorate applies a new token at once (C-45), where cman needed a restart.
    """
    problems: list[Problem] = []

    def add(
        severity: Severity, message: str, hint: str | None, *, attribute: str | None = None, path: str = "/cluster"
    ) -> None:
        problems.append(Problem(severity, candidate.source, candidate.line, path, attribute, message, hint))

    if candidate.name != running.name:
        add(
            "error",
            f"the file is for cluster {candidate.name!r}, but this node runs cluster {running.name!r}",
            "a cluster's name cannot change; is this the right file?",
            attribute="name",
        )
    if candidate.config_version <= running.config_version:
        add(
            "error",
            f"config_version {candidate.config_version} is not higher than the running version "
            f"{running.config_version}",
            f"set config_version to {running.config_version + 1} or more",
            attribute="config_version",
        )
    restart_only = [
        ("cluster_id", "the cluster id", running.cluster_id, candidate.cluster_id, "/cluster/cman"),
        ("addr", "the multicast address", _multicast(running), _multicast(candidate), "/cluster/cman/multicast"),
        ("port", "the cluster port", running.port, candidate.port, "/cluster/cman"),
        ("keyfile", "the key file", running.keyfile, candidate.keyfile, "/cluster/cman"),
        ("two_node", "two_node", running.two_node, candidate.two_node, "/cluster/cman"),
    ]
    if candidate.name == running.name:
        for attribute, what, before, after, path in restart_only:
            if before != after:
                add(
                    "error",
                    f"{what} cannot change while the cluster runs ({_show(before)} -> {_show(after)})",
                    "stop the whole cluster, install the file on every node, then start it again",
                    attribute=attribute,
                    path=path,
                )
    candidate_names = {n.name for n in candidate.nodes}
    for name in dict.fromkeys(members):
        if name not in candidate_names:
            add(
                "error",
                f"node {name} is a member of the cluster now but is not in the file",
                f"stop it first (cman_tool leave remove on {name}), then push the file without it",
                path="/cluster/clusternodes",
            )
    change = quorumd_change(running.quorumd, candidate.quorumd)
    if change is not None and change.restart_fields:
        add(
            "warning",
            f"quorum disk {change.kind}: {', '.join(change.restart_fields)} restart the quorum disk service on "
            "every node (its votes are given back and granted again)",
            "where the nodes' own votes are below quorum, this waits for the next quorated start instead",
            path="/cluster/quorumd",
        )
    return problems


# --- description -----------------------------------------------------------------------------------------


def _joined(fields: Iterable[Field]) -> str:
    return ", ".join(str(f) for f in fields)


def _describe(change: ConfigChange) -> Iterable[str]:
    yield f"config_version {change.version_before} -> {change.version_after}"
    v = change.votes
    for node in change.nodes:
        if node.kind == "added":
            yield f"node {node.name}: added (nodeid {node.nodeid}, votes {node.votes_after})"
        elif node.kind == "removed":
            yield f"node {node.name}: removed (nodeid {node.nodeid}, votes {node.votes_before})"
        else:
            yield f"node {node.name} (nodeid {node.nodeid}): {_joined(node.fields)}"
    if v.changed or change.nodes:
        explicit = " (explicit)" if v.expected_explicit_after else " (sum of node votes)"
        disk = f", quorum disk votes {v.qdisk_votes_before} -> {v.qdisk_votes_after}" if v.qdisk_votes_after else ""
        yield (
            f"votes: expected {v.expected_before} -> {v.expected_after}{explicit}, node votes {v.node_votes_before} -> "
            f"{v.node_votes_after}{disk}; quorum with every node up {v.quorum_before} -> {v.quorum_after}"
        )
    for item in change.cluster:
        yield f"cluster: {item}"
    for item in change.totem:
        yield f"totem: {item}"
    for device in change.fence_devices:
        users = f" (used by {', '.join(device.used_by)})" if device.used_by else ""
        details = f": {_joined(device.fields)}" if device.fields else ""
        yield f"fence device {device.name}: {device.kind}{details}{users}"
    for item in change.fence_daemon:
        yield f"fence_daemon: {item}"
    if change.quorumd is not None:
        q = change.quorumd
        details = f": {_joined(q.fields)}" if q.fields else ""
        restart = f" (restarts the disk service: {', '.join(q.restart_fields)})" if q.restart_fields else ""
        yield f"quorum disk: {q.kind}{details}{restart}"
    for domain in change.domains:
        details = f": {_joined(domain.fields)}" if domain.fields else ""
        services = f" (places {', '.join(domain.services)})" if domain.services else ""
        yield f"failover domain {domain.name}: {domain.kind}{details}{services}"
    for item in change.rm:
        yield f"rm: {item}"
    for service in change.services:
        yield _describe_service(service)


def _describe_service(service: ServiceChange) -> str:
    head = f"service {service.name}: "
    placement = f"; placement: {_joined(service.placement)}" if service.placement else ""
    if service.action == "add":
        return head + f"added, stays stopped until `clusvcadm -e {service.name}`"
    if service.action == "remove":
        return head + "removed, stopped first" + (f" ({', '.join(service.stop)})" if service.stop else "")
    if service.action == "restart":
        why = f" ({'; '.join(service.causes)})" if service.causes else ""
        if service.whole:
            return head + f"restart{why}" + placement
        parts = []
        if service.stop:
            parts.append(f"stops {', '.join(service.stop)}")
        if service.start:
            parts.append(f"starts {', '.join(service.start)}")
        return head + f"restart{why}: {', then '.join(parts)}; the rest of the service keeps running" + placement
    if service.action == "reconfigure":
        return head + f"reconfigured in place ({', '.join(service.reconfigure)}), nothing stops" + placement
    return head + f"placement: {_joined(service.placement)}, nothing stops"


__all__ = [
    "ConfigChange",
    "DomainChange",
    "FenceDeviceChange",
    "Field",
    "NodeChange",
    "QuorumdChange",
    "ServiceChange",
    "VotesChange",
    "check_successor",
    "plan_change",
    "quorum_all_up",
]
