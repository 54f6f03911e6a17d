"""The effective cluster configuration: frozen values with every default and derivation already applied.

Theory of operation: the rest of quorate (the core, the daemon, the CLIs) never looks at XML. It receives a
`ClusterConfig` in which every number is the one the daemons will use (``expected_votes`` already summed,
``consensus_ms`` already derived, qdisk ``tko_up``/``master_wait`` already computed), and in which every
"was this set explicitly?" question that changes behaviour has its own field (``multicast_explicit``,
``expected_votes_explicit``). Values are immutable and hashable so a configuration can be compared, cached
and handed between threads without copies; sequences are tuples in document order except ``nodes``, which is
sorted by node id because every consumer (quorum, the coordinator rule, `cman_tool nodes`) works by id.

Raw attributes (``attrs``) are kept as ordered ``(name, value)`` pairs for the parts that are passed through
verbatim: fence-agent parameters (spec F-22) and resource-agent parameters (``OCF_RESKEY_*``, R-81).

Resources are modelled the way rgmanager reads them: a tree position either defines its resource inline or
refers (``ref=``) to a definition in ``<rm><resources>``; the model stores the *resolved* position (the
definition's parameters, the position's own ``__…`` settings and children), so consumers never resolve
references. Resource groups are services and virtual machines (``kind``); ``<rm disabled="1">`` keeps them in
the model (rg_test shows them) but tells the daemon to manage none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from quorate.config.problems import Problem
from quorate.config.rgcatalogue import primary_of, rg_name
from quorate.core.quorum_policies import QuorumPolicies

Attrs = tuple[tuple[str, str], ...]


def _get(attrs: Attrs, attr: str, default: str | None) -> str | None:
    for key, value in attrs:
        if key == attr:
            return value
    return default


@dataclass(frozen=True, slots=True)
class FenceDeviceRef:
    """A ``<device>`` inside a fence method: the fencedevice's name plus per-node agent parameters."""

    name: str
    attrs: Attrs = ()


@dataclass(frozen=True, slots=True)
class FenceMethod:
    """Methods are tried in order; every device of a method must succeed (spec F-20)."""

    name: str
    devices: tuple[FenceDeviceRef, ...] = ()


@dataclass(frozen=True, slots=True)
class FenceDevice:
    """A ``<fencedevice>``: ``attrs`` excludes ``name`` and ``agent`` and is passed verbatim to the agent."""

    name: str
    agent: str
    attrs: Attrs = ()


@dataclass(frozen=True, slots=True)
class AltName:
    """A redundant-ring address (``<altname>``); quorate records it, the transport decides whether to use it."""

    name: str
    port: int | None = None
    mcast: str | None = None


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """A ``<clusternode>``. ``nodeid_given`` is False for a node whose file has no ``nodeid`` (RHEL 4 files):
    ``nodeid`` is then the one quorate gave it, the lowest id no other node uses, in file order (RHEL 4's
    cman numbered such nodes as they joined; see `quorate.config.derive.assign_node_ids` for why quorate
    takes the ids cman gave when they joined in file order, and ``ccs_tool addnodeids`` writes them into
    the file)."""

    name: str
    nodeid: int
    votes: int = 1
    fence: tuple[FenceMethod, ...] = ()
    unfence: tuple[FenceDeviceRef, ...] = ()
    line: int = 0
    altnames: tuple[AltName, ...] = ()
    nodeid_given: bool = True

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class FenceDaemon:
    """fenced's settings (F-11..F-13); ``post_join_delay`` -1 means wait forever."""

    post_join_delay: int = 6
    post_fail_delay: int = 0
    clean_start: bool = False
    skip_undefined: bool = False
    override_path: str = "/var/run/cluster/fenced_override"
    override_time: int = 3


@dataclass(frozen=True, slots=True)
class Heuristic:
    """A qdisk heuristic: a shell command whose success adds ``score`` (D-25)."""

    program: str
    score: int = 1
    interval: int = 2
    tko: int = 1


@dataclass(frozen=True, slots=True)
class Quorumd:
    """Effective qdiskd settings. Derived fields hold the computed values (docs/rules.md, Quorum disk
    settings); ``votes`` uses the
    [R6] automatic rule when absent (nodes - 1 with every node at one vote) because the [R5] default of 0
    would make the disk useless for quorum. ``min_score`` 0 means "no heuristics, score not used"."""

    interval: int
    tko: int
    tko_up: int
    upgrade_wait: int
    master_wait: int
    votes: int
    label: str | None = None
    device: str | None = None
    min_score: int = 0
    reboot: bool = True
    allow_kill: bool = True
    master_wins: bool = False
    paranoid: bool = False
    io_timeout: bool = False
    max_error_cycles: int = 0
    stop_cman: bool = False
    status_file: str | None = None
    heuristics: tuple[Heuristic, ...] = ()

    @property
    def timeout_s(self) -> int:
        """Seconds of silence before a node is dead on disk."""
        return self.interval * self.tko


@dataclass(frozen=True, slots=True)
class Action:
    """A per-resource ``<action>`` override (spec C-36); times are seconds, None when not given."""

    name: str
    depth: str | None = None
    interval: int | None = None
    timeout: int | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """One node of a service's resource tree, or a global definition in ``<rm><resources>``.

    For a reference (``<fs ref="data"/>``) ``ref`` holds the value written and ``attrs`` are the definition's
    parameters plus this position's own ``__…`` settings (spec C-32, C-35); ``actions`` are the definition's
    ``<action>`` overrides followed by the position's own; ``children`` are the position's, in document order.
    ``defined_at`` is the line of the definition (of this element itself when it is not a reference).
    """

    type: str
    attrs: Attrs = ()
    children: tuple[Resource, ...] = ()
    ref: str | None = None
    line: int = 0
    actions: tuple[Action, ...] = ()
    defined_at: int = 0

    def get(self, attr: str, default: str | None = None) -> str | None:
        return _get(self.attrs, attr, default)

    @property
    def primary(self) -> str | None:
        return self.get(primary_of(self.type))

    def walk(self) -> Iterator[Resource]:
        """Depth-first, parent before children, in document order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Service:
    """A resource group: a ``<service>``, or a ``<vm>`` (``kind``), defined in place or by ``ref=`` to a
    definition in ``<rm><resources>`` (``ref``; ``attrs`` are then the definition's). ``domain`` is the name as
    written (look it up with `ResourceManager.domain`, which ignores case like rgmanager); ``depend`` is the bare
    name of the service depended on (``service:db`` → ``db``); ``restart_expire_time`` is in seconds.

    quorate runs no virtual machines: a ``vm`` is validated, ordered and shown (``rg_test``, ``rg_name``
    ``vm:NAME``), and the daemon refuses to start it."""

    name: str
    autostart: bool = True
    domain: str | None = None
    recovery: str = "restart"
    exclusive: bool = False
    max_restarts: int = 0
    restart_expire_time: int = 0
    depend: str | None = None
    attrs: Attrs = ()
    children: tuple[Resource, ...] = ()
    line: int = 0
    actions: tuple[Action, ...] = ()
    kind: str = "service"
    ref: str | None = None

    def get(self, attr: str, default: str | None = None) -> str | None:
        return _get(self.attrs, attr, default)

    @property
    def rg_name(self) -> str:
        """rgmanager's name for the group: ``service:web``, ``vm:guest1``."""
        return rg_name(self.kind, self.name)

    def walk(self) -> Iterator[Resource]:
        """Every resource of the tree, parent before children (the service itself is not included)."""
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class DomainNode:
    """``priority`` 0 means "not given": rgmanager then ranks the node *before* priority 1 (spec C-21)."""

    name: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class FailoverDomain:
    name: str
    ordered: bool = False
    restricted: bool = False
    nofailback: bool = False
    nodes: tuple[DomainNode, ...] = ()


@dataclass(frozen=True, slots=True)
class ResourceManager:
    """``<rm>``. ``resources`` are the definitions of ``<rm><resources>`` in document order (service and vm
    definitions included); ``services`` and ``vms`` the resource groups. ``disabled`` (``<rm disabled="1">``, set
    on cman clusters whose services pacemaker runs): the file is valid and its groups are listed, but no service
    may be managed and none is shown as a cluster service."""

    status_poll_interval: int = 10
    failoverdomains: tuple[FailoverDomain, ...] = ()
    resources: tuple[Resource, ...] = ()
    services: tuple[Service, ...] = ()
    vms: tuple[Service, ...] = ()
    disabled: bool = False

    @property
    def groups(self) -> tuple[Service, ...]:
        """Services and virtual machines in document order (rgmanager's forest of resource trees)."""
        return tuple(sorted((*self.services, *self.vms), key=lambda s: s.line))

    @property
    def managed(self) -> tuple[Service, ...]:
        """The services the daemon manages: none when ``<rm disabled="1">``; never a virtual machine."""
        return () if self.disabled else self.services

    def domain(self, name: str) -> FailoverDomain | None:
        """Domain names compare case-insensitively (spec C-20)."""
        wanted = name.lower()
        return next((d for d in self.failoverdomains if d.name.lower() == wanted), None)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


@dataclass(frozen=True, slots=True)
class Witness:
    """The quorum witness (``<witness>``, a quorate extension): a third machine that lends its votes to one
    partition at a time. ``votes`` is the effective number (ffsplit: 1; lms: nodes - 1 unless given)."""

    host: str
    port: int = 5406
    votes: int = 1
    algorithm: str = "ffsplit"
    tie_breaker: str = "lowest"
    lease: float = 10.0
    line: int = 0


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    name: str
    config_version: int
    cluster_id: int
    port: int
    multicast_address: str
    multicast_explicit: bool
    expected_votes: int
    expected_votes_explicit: int | None
    two_node: bool
    wait_for_all: bool
    keyfile: str | None
    token_ms: int
    join_ms: int
    consensus_ms: int
    nodes: tuple[ClusterNode, ...]
    fencedevices: tuple[FenceDevice, ...] = ()
    fence_daemon: FenceDaemon = field(default_factory=FenceDaemon)
    quorumd: Quorumd | None = None
    rm: ResourceManager = field(default_factory=ResourceManager)
    digest: str = ""
    source: str = "<string>"
    # Problems of severity "warning" and "ignored" found while loading, in file order.
    warnings: tuple[Problem, ...] = ()
    # How long cman keeps the quorum disk's votes after its last "alive" ([R6] default: the token).
    quorum_dev_poll_ms: int = 10000
    # Line of the <cluster> element, so that problems about the file as a whole (its version) are located.
    line: int = 0
    # The quorum witness (a quorate extension); never together with quorumd.
    witness: Witness | None = None
    # votequorum's last_man_standing and auto_tie_breaker, from <cman>.
    quorum_policies: QuorumPolicies = field(default_factory=QuorumPolicies)

    @property
    def total_node_votes(self) -> int:
        return sum(node.votes for node in self.nodes)

    def node_by_id(self, nodeid: int) -> ClusterNode | None:
        return next((n for n in self.nodes if n.nodeid == nodeid), None)

    def node_by_name(self, name: str) -> ClusterNode | None:
        """Exact name first, then the short name (before the first dot) on both sides, because a host's
        ``uname -n`` is often the short or a differently qualified name of its cluster.conf entry. An
        ambiguous short name (two nodes ``a.x`` and ``a.y``) matches nothing rather than the wrong node."""
        for node in self.nodes:
            if node.name == name:
                return node
        short = name.split(".", 1)[0]
        matches = [n for n in self.nodes if n.short_name == short]
        return matches[0] if len(matches) == 1 else None

    def fencedevice(self, name: str) -> FenceDevice | None:
        return next((d for d in self.fencedevices if d.name == name), None)
