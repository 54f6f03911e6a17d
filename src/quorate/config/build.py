"""Turn a checked cluster.conf tree into the effective `ClusterConfig`.

Theory of operation: by the time `build_config` runs, the schema walk and the semantic checks have passed, so
this module only applies defaults and derivations; it does not report anything. Its readers are nevertheless
lenient (a missing or malformed value yields the default, never an exception) because the semantic checks
reuse them on documents that may still contain errors, e.g. to compute the effective qdisk timings for the
timing warning. One reader per concept keeps "what value does quorate use" defined in exactly one place.

The resource manager is read the way rgmanager read it: `Definitions` says what every ``ref=`` names (the
validator uses the same lookup, so the two never disagree), `position` what one tree position runs, and
`resource_manager` assembles services, virtual machines and the ``<rm disabled>`` flag.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from lxml import etree

from quorate.config import derive
from quorate.config.model import (
    Action,
    AltName,
    Attrs,
    ClusterConfig,
    ClusterNode,
    DomainNode,
    FailoverDomain,
    FenceDaemon,
    FenceDevice,
    FenceDeviceRef,
    FenceMethod,
    Heuristic,
    Quorumd,
    Resource,
    ResourceManager,
    Service,
    Witness,
)
from quorate.config.problems import Problem, line_of
from quorate.config.rgcatalogue import ROOT_TYPES, SPECIAL_ATTRIBUTES, TYPES, primary_of, type_spec
from quorate.core.quorum_policies import DEFAULT_LMS_WINDOW, QuorumPolicies

_INT = re.compile(r"[ \t\r\n]*([+-]?[0-9]+)[ \t\r\n]*")  # XML whitespace only, as the schema reads it
DEFAULT_PORT = 5405
DEFAULT_TOKEN_MS = 10000
DEFAULT_JOIN_MS = 60


def child(element: etree._Element | None, tag: str) -> etree._Element | None:
    if element is None:
        return None
    return next((c for c in element if c.tag == tag), None)


def children(element: etree._Element | None, tag: str) -> list[etree._Element]:
    if element is None:
        return []
    return [c for c in element if c.tag == tag]


def get_int(element: etree._Element | None, attr: str) -> int | None:
    """The attribute as an integer, or None when absent or not a whole number (the schema reports that)."""
    if element is None:
        return None
    value = element.get(attr)
    if value is None:
        return None
    match = _INT.fullmatch(value)
    return int(match.group(1)) if match else None


def get_bool(element: etree._Element | None, attr: str, default: bool, *, words: bool = False) -> bool:
    if element is None:
        return default
    value = element.get(attr)
    if value is None:
        return default
    return derive.read_bool(value, words=words)[0]


def get_time(element: etree._Element | None, attr: str, default: int) -> int:
    if element is None:
        return default
    value = element.get(attr)
    parsed = derive.read_time(value) if value is not None else None
    return default if parsed is None else parsed


def attrs_of(element: etree._Element, *skip: str) -> Attrs:
    return tuple((str(k), str(v)) for k, v in element.attrib.items() if k not in skip)


def node_votes(root: etree._Element) -> list[int]:
    votes = []
    for node in children(child(root, "clusternodes"), "clusternode"):
        value = get_int(node, "votes")
        votes.append(1 if value is None else value)
    return votes


def node_ids(root: etree._Element) -> list[int]:
    """Each ``<clusternode>``'s effective id, in file order: the ``nodeid`` written in the file, or for a node
    without one the id `quorate.config.derive.assign_node_ids` gives it (0 for a value that is not a number,
    which the schema reports)."""
    given: list[int | None] = []
    for node in children(child(root, "clusternodes"), "clusternode"):
        given.append(None if node.get("nodeid") is None else (get_int(node, "nodeid") or 0))
    return derive.assign_node_ids(given)


def token_ms(root: etree._Element) -> int:
    value = get_int(child(root, "totem"), "token")
    return value if value is not None and value > 0 else DEFAULT_TOKEN_MS


def cluster_id(root: etree._Element) -> int:
    explicit = get_int(child(root, "cman"), "cluster_id")
    if explicit is not None and 0 <= explicit <= 0xFFFF:
        return explicit
    return derive.cluster_id_from_name(root.get("name", ""))


def multicast(root: etree._Element) -> tuple[str, bool]:
    element = child(child(root, "cman"), "multicast")
    addr = element.get("addr") if element is not None else None
    if addr:
        return addr.strip(derive.XML_SPACE), True
    first = next(iter(children(child(root, "clusternodes"), "clusternode")), None)
    ipv6 = False
    if first is not None:
        try:
            ipv6 = ipaddress.ip_address(first.get("name", "")).version == 6
        except ValueError:
            ipv6 = False
    return derive.derived_multicast(cluster_id(root), ipv6=ipv6), False


def quorumd(element: etree._Element, token: int, votes_of_nodes: list[int]) -> Quorumd:
    """Effective qdiskd settings (docs/rules.md, Quorum disk settings), with the floors and forced values qdiskd
    applies."""
    interval = max(get_int(element, "interval") or 1, 1)
    tko_given = get_int(element, "tko")
    tko = tko_given if tko_given is not None and tko_given > 0 else derive.qdisk_tko_default(token, interval)
    tko_up = derive.qdisk_tko_up(tko, get_int(element, "tko_up"))
    upgrade_given = get_int(element, "upgrade_wait")
    upgrade_wait = 2 if upgrade_given is None else max(upgrade_given, 1)
    master_wait = derive.qdisk_master_wait(tko, tko_up, get_int(element, "master_wait"))
    heuristics = tuple(heuristic(h) for h in children(element, "heuristic")[:10])
    explicit_votes = get_int(element, "votes")
    automatic = derive.qdisk_votes_default(votes_of_nodes)
    votes = max(explicit_votes, 0) if explicit_votes is not None else (automatic or 0)
    master_wins_default = len(votes_of_nodes) == 2 and not heuristics and explicit_votes is None and automatic == 1
    master_wins = get_bool(element, "master_wins", master_wins_default) and not heuristics
    return Quorumd(
        interval=interval,
        tko=tko,
        tko_up=tko_up,
        upgrade_wait=upgrade_wait,
        master_wait=master_wait,
        votes=votes,
        label=element.get("label") or None,
        device=element.get("device") or None,
        min_score=derive.qdisk_min_score(get_int(element, "min_score") or 0, [h.score for h in heuristics]),
        reboot=get_bool(element, "reboot", True),
        allow_kill=get_bool(element, "allow_kill", True),
        master_wins=master_wins,
        paranoid=get_bool(element, "paranoid", False),
        io_timeout=get_bool(element, "io_timeout", False),
        max_error_cycles=max(get_int(element, "max_error_cycles") or 0, 0),
        stop_cman=get_bool(element, "stop_cman", False),
        status_file=element.get("status_file") or None,
        heuristics=heuristics,
    )


def heuristic(element: etree._Element) -> Heuristic:
    def positive(attr: str, default: int) -> int:
        value = get_int(element, attr)
        return value if value is not None and value > 0 else default

    return Heuristic(
        program=element.get("program", ""),
        score=positive("score", 1),
        interval=positive("interval", 2),
        tko=positive("tko", 1),
    )


def fence_ref(element: etree._Element) -> FenceDeviceRef:
    return FenceDeviceRef(name=element.get("name", ""), attrs=attrs_of(element, "name"))


def clusternode(element: etree._Element, nodeid: int) -> ClusterNode:
    methods = tuple(
        FenceMethod(name=m.get("name", ""), devices=tuple(fence_ref(d) for d in children(m, "device")))
        for m in children(child(element, "fence"), "method")
    )
    altnames = tuple(
        AltName(name=a.get("name", ""), port=get_int(a, "port"), mcast=a.get("mcast") or None)
        for a in children(element, "altname")
    )
    return ClusterNode(
        name=element.get("name", ""),
        nodeid=nodeid,
        nodeid_given=element.get("nodeid") is not None,
        votes=get_int(element, "votes") or 1,
        fence=methods,
        unfence=tuple(fence_ref(d) for d in children(child(element, "unfence"), "device")),
        line=line_of(element),
        altnames=altnames,
    )


def fence_daemon(element: etree._Element | None) -> FenceDaemon:
    base = FenceDaemon()
    if element is None:
        return base
    post_join = get_int(element, "post_join_delay")
    post_fail = get_int(element, "post_fail_delay")
    override_time = get_int(element, "override_time")
    return FenceDaemon(
        post_join_delay=base.post_join_delay if post_join is None else post_join,
        post_fail_delay=base.post_fail_delay if post_fail is None else post_fail,
        clean_start=get_bool(element, "clean_start", False),
        skip_undefined=get_bool(element, "skip_undefined", False),
        override_path=element.get("override_path") or base.override_path,
        override_time=base.override_time if override_time is None else override_time,
    )


def actions(element: etree._Element) -> tuple[Action, ...]:
    result = []
    for a in children(element, "action"):
        interval = a.get("interval")
        timeout = a.get("timeout")
        result.append(
            Action(
                name=a.get("name", ""),
                depth=a.get("depth"),
                interval=derive.read_time(interval) if interval is not None else None,
                timeout=derive.read_time(timeout) if timeout is not None else None,
            )
        )
    return tuple(result)


class Definitions:
    """Where every resource of ``<rm>`` is defined, and what a ``ref=`` names, the way rgmanager looks it up.

    A reference names a definition in ``<rm><resources>`` of the same type by its primary value; failing that,
    rgmanager accepted the value of a parameter that is both unique and required (``<script ref="/etc/init.d/app">``
    finds the script whose ``file`` it is), so quorate does too. Inline definitions (resources written inside a
    tree) are recorded so that a reference to one can be told apart from a reference to nothing. The validator
    and the model builder share this one lookup, so they always agree on what a reference means.
    """

    def __init__(self, rm: etree._Element | None) -> None:
        self.globals: dict[str, list[etree._Element]] = {}
        self.inline: dict[tuple[str, str], etree._Element] = {}
        resources = child(rm, "resources")
        for element in resources if resources is not None else ():
            if is_resource(element):
                self.globals.setdefault(str(element.tag), []).append(element)
        for group in groups_of(rm):
            for element in group.iter(*TYPES):
                if element.get("ref") is None:
                    primary = element.get(primary_of(str(element.tag)))
                    if primary:
                        self.inline.setdefault((str(element.tag), primary), element)

    def lookup(self, rtype: str, ref: str) -> etree._Element | None:
        """The definition in ``<rm><resources>`` that ``<rtype ref=ref>`` names, or None."""
        candidates = self.globals.get(rtype, [])
        primary = primary_of(rtype)
        for element in candidates:
            if element.get(primary) == ref:
                return element
        keys = [p.name for p in type_spec(rtype).params if p.unique and p.required and not p.primary]
        return next((e for e in candidates if any(e.get(k) == ref for k in keys)), None)

    def other_types(self, ref: str) -> list[str]:
        """Types of the global definitions whose primary value is ``ref`` (for "that is a script" messages)."""
        return [t for t, elements in self.globals.items() if any(e.get(primary_of(t)) == ref for e in elements)]


def is_resource(element: etree._Element) -> bool:
    return isinstance(element.tag, str) and element.tag in TYPES


def groups_of(rm: etree._Element | None) -> list[etree._Element]:
    """The resource groups (services, virtual machines) under ``<rm>``, in document order."""
    if rm is None:
        return []
    return [g for g in rm if isinstance(g.tag, str) and g.tag in ROOT_TYPES]


def position(element: etree._Element, defs: Definitions) -> tuple[etree._Element | None, Attrs]:
    """(the element holding the parameters, the parameters) of one tree position: for a reference, the
    definition (None when it does not resolve) and its parameters, plus the position's own ``__…`` settings;
    otherwise the element itself and its attributes. Parameters next to ``ref=`` and ``__…`` settings on a
    definition in ``<resources>`` are not applied, as in rgmanager (the validator warns about both)."""
    ref = element.get("ref")
    if ref is None:
        return element, attrs_of(element)
    target = defs.lookup(str(element.tag), ref)
    base = attrs_of(target) if target is not None else ()
    own = tuple((k, v) for k, v in base if k not in SPECIAL_ATTRIBUTES)
    return target, own + tuple((k, v) for k, v in attrs_of(element) if k in SPECIAL_ATTRIBUTES)


def _tree(element: etree._Element, defs: Definitions) -> Resource:
    target, attrs = position(element, defs)
    if element.get("ref") is not None and target is not None:
        own_actions = actions(target) + actions(element)
    else:
        own_actions = actions(element)
    return Resource(
        type=str(element.tag),
        attrs=attrs,
        children=tuple(_tree(c, defs) for c in element if is_resource(c) and c.tag not in ROOT_TYPES),
        ref=element.get("ref"),
        line=line_of(element),
        actions=own_actions,
        defined_at=line_of(target) if target is not None else line_of(element),
    )


def service_depend(value: str | None) -> str | None:
    """``depend="service:db"`` names service db; the bare name is accepted too."""
    if not value or not value.strip(derive.XML_SPACE):
        return None
    value = value.strip(derive.XML_SPACE)
    return value.split(":", 1)[1] if value.startswith("service:") else value


def _attr_bool(attrs: Attrs, name: str, default: bool) -> bool:
    for key, value in attrs:
        if key == name:
            return derive.read_bool(value, words=True)[0]
    return default


def _attr_int(attrs: Attrs, name: str) -> int:
    for key, value in attrs:
        if key == name:
            match = _INT.fullmatch(value)
            return int(match.group(1)) if match else 0
    return 0


def group(element: etree._Element, defs: Definitions) -> Service:
    """A service or virtual machine, its own or its definition's parameters applied."""
    resolved = _tree(element, defs)
    attrs = resolved.attrs
    recovery = (resolved.get("recovery") or "restart").strip(derive.XML_SPACE) or "restart"
    expire = resolved.get("restart_expire_time")
    return Service(
        name=resolved.get("name") or "",
        autostart=_attr_bool(attrs, "autostart", True),
        domain=resolved.get("domain") or None,
        recovery=recovery,
        exclusive=_attr_bool(attrs, "exclusive", False),
        max_restarts=_attr_int(attrs, "max_restarts"),
        restart_expire_time=(derive.read_time(expire) or 0) if expire is not None else 0,
        depend=service_depend(resolved.get("depend")),
        attrs=attrs,
        children=resolved.children,
        line=resolved.line,
        actions=resolved.actions,
        kind=str(element.tag),
        ref=resolved.ref,
    )


def resource_manager(element: etree._Element | None) -> ResourceManager:
    if element is None:
        return ResourceManager()
    domains = tuple(
        FailoverDomain(
            name=d.get("name", ""),
            ordered=get_bool(d, "ordered", False, words=True),
            restricted=get_bool(d, "restricted", False, words=True),
            nofailback=get_bool(d, "nofailback", False, words=True),
            nodes=tuple(
                DomainNode(
                    name=n.get("name", ""),
                    priority=(get_int(n, "priority") or 0) if get_bool(d, "ordered", False, words=True) else 0,
                )
                for n in children(d, "failoverdomainnode")
            ),
        )
        for d in children(child(element, "failoverdomains"), "failoverdomain")
    )
    defs = Definitions(element)
    resources = child(element, "resources")
    definitions = [r for r in resources if is_resource(r)] if resources is not None else []
    groups = [group(g, defs) for g in groups_of(element)]
    poll = get_int(element, "status_poll_interval")
    return ResourceManager(
        status_poll_interval=poll if poll is not None and poll > 0 else 10,
        failoverdomains=domains,
        resources=tuple(
            Resource(str(r.tag), attrs_of(r), (), None, line_of(r), actions(r), line_of(r)) for r in definitions
        ),
        services=tuple(g for g in groups if g.kind == "service"),
        vms=tuple(g for g in groups if g.kind == "vm"),
        disabled=get_bool(element, "disabled", False, words=True),
    )


WITNESS_ALGORITHMS = ("ffsplit", "lms")
DEFAULT_WITNESS_LEASE = 10.0
DEFAULT_WITNESS_PORT = 5406


def lease_of(element: etree._Element) -> float | None:
    text = element.get("lease")
    if text is None:
        return DEFAULT_WITNESS_LEASE
    try:
        return float(text)
    except ValueError:
        return None


def witness(element: etree._Element, node_count: int) -> Witness:
    """The effective settings of a ``<witness>`` (lenient: values the checks refuse fall back to defaults)."""
    algorithm = element.get("algorithm", "ffsplit")
    if algorithm not in WITNESS_ALGORITHMS:
        algorithm = "ffsplit"
    votes = get_int(element, "votes")
    if votes is None or votes <= 0:
        votes = max(node_count - 1, 1) if algorithm == "lms" else 1
    return Witness(
        host=element.get("host", ""),
        port=get_int(element, "port") or DEFAULT_WITNESS_PORT,
        votes=votes,
        algorithm=algorithm,
        tie_breaker=element.get("tie_breaker", "lowest"),
        lease=lease_of(element) or DEFAULT_WITNESS_LEASE,
        line=line_of(element),
    )


def quorum_policies(cman: etree._Element | None) -> QuorumPolicies:
    """`<cman>`'s votequorum policies (checked by `validate_policies`)."""
    window = get_int(cman, "last_man_standing_window")
    words = (cman.get("auto_tie_breaker_node", "lowest") if cman is not None else "lowest").split()
    tie: str | tuple[int, ...] = words[0] if words in (["lowest"], ["highest"]) else tuple(int(w) for w in words)
    return QuorumPolicies(
        last_man_standing=get_bool(cman, "last_man_standing", False),
        lms_window=window / 1000.0 if window else DEFAULT_LMS_WINDOW,
        auto_tie_breaker=get_bool(cman, "auto_tie_breaker", False),
        tie_breaker=tie or "lowest",
    )


def build_config(root: etree._Element, *, data: bytes, source: str, warnings: tuple[Problem, ...]) -> ClusterConfig:
    cman = child(root, "cman")
    totem = child(root, "totem")
    elements = children(child(root, "clusternodes"), "clusternode")
    nodes = tuple(
        sorted((clusternode(n, i) for n, i in zip(elements, node_ids(root), strict=True)), key=lambda n: n.nodeid)
    )
    token = token_ms(root)
    consensus = get_int(totem, "consensus")
    join = get_int(totem, "join")
    expected_explicit = get_int(cman, "expected_votes")
    address, explicit = multicast(root)
    qdisk_element = child(root, "quorumd")
    witness_element = child(root, "witness")
    poll = get_int(cman, "quorum_dev_poll")
    return ClusterConfig(
        name=root.get("name", ""),
        config_version=get_int(root, "config_version") or 0,
        cluster_id=cluster_id(root),
        port=get_int(cman, "port") or DEFAULT_PORT,
        multicast_address=address,
        multicast_explicit=explicit,
        expected_votes=expected_explicit or sum(n.votes for n in nodes),
        expected_votes_explicit=expected_explicit,
        two_node=get_bool(cman, "two_node", False),
        wait_for_all=get_bool(cman, "wait_for_all", False),
        quorum_policies=quorum_policies(cman),
        keyfile=(cman.get("keyfile") or None) if cman is not None else None,
        token_ms=token,
        join_ms=join or DEFAULT_JOIN_MS,
        consensus_ms=consensus or derive.default_consensus_ms(token, len(nodes)),
        nodes=nodes,
        fencedevices=tuple(
            FenceDevice(name=d.get("name", ""), agent=d.get("agent", ""), attrs=attrs_of(d, "name", "agent"))
            for d in children(child(root, "fencedevices"), "fencedevice")
        ),
        fence_daemon=fence_daemon(child(root, "fence_daemon")),
        quorumd=quorumd(qdisk_element, token, node_votes(root)) if qdisk_element is not None else None,
        witness=witness(witness_element, len(nodes)) if witness_element is not None else None,
        rm=resource_manager(child(root, "rm")),
        digest=hashlib.sha256(data).hexdigest(),
        source=source,
        warnings=warnings,
        quorum_dev_poll_ms=poll or token,
        line=line_of(root),
    )
