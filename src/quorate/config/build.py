"""Turn a checked cluster.conf tree into the effective `ClusterConfig`.

Theory of operation: by the time `build_config` runs, the schema walk and the semantic checks have passed, so
this module only applies defaults and derivations; it does not report anything. Its readers are nevertheless
lenient (a missing or malformed value yields the default, never an exception) because the semantic checks
reuse them on documents that may still contain errors, e.g. to compute the effective qdisk timings for the
timing warning. One reader per concept keeps "what value does quorate use" defined in exactly one place.
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
)
from quorate.config.problems import Problem, line_of
from quorate.config.rgtypes import RESOURCE_TYPES, SPECIAL_ATTRIBUTES

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
    """Effective qdiskd settings (spec table 1.5), with the floors and forced values qdiskd applies."""
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


def resource_key(element: etree._Element) -> tuple[str, str | None]:
    """(type, primary value) of a definition or of the resource a ref= points at."""
    rtype = str(element.tag)
    known = RESOURCE_TYPES.get(rtype)
    primary = known.primary if known else "name"
    return rtype, element.get("ref") if element.get("ref") is not None else element.get(primary)


def _tree(element: etree._Element, globals_: dict[tuple[str, str | None], etree._Element]) -> Resource:
    rtype, key = resource_key(element)
    ref = element.get("ref")
    if ref is not None:
        target = globals_.get((rtype, key))
        base = attrs_of(target) if target is not None else ()
        specials = tuple((k, v) for k, v in attrs_of(element) if k in SPECIAL_ATTRIBUTES)
        overridden = {k for k, _ in specials}
        attrs = tuple((k, v) for k, v in base if k not in overridden) + specials
        own_actions = actions(element) or (actions(target) if target is not None else ())
    else:
        attrs = attrs_of(element)
        own_actions = actions(element)
    kids = tuple(_tree(c, globals_) for c in element if c.tag in RESOURCE_TYPES)
    return Resource(type=rtype, attrs=attrs, children=kids, ref=ref, line=line_of(element), actions=own_actions)


def service_depend(value: str | None) -> str | None:
    """``depend="service:db"`` names service db; the bare name is accepted too."""
    if not value or not value.strip(derive.XML_SPACE):
        return None
    value = value.strip(derive.XML_SPACE)
    return value.split(":", 1)[1] if value.startswith("service:") else value


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
    resources = child(element, "resources")
    global_elements = [r for r in resources if r.tag in RESOURCE_TYPES] if resources is not None else []
    globals_ = {resource_key(r): r for r in global_elements}
    services = tuple(
        Service(
            name=s.get("name", ""),
            autostart=get_bool(s, "autostart", True, words=True),
            domain=s.get("domain") or None,
            recovery=(s.get("recovery") or "restart").strip(derive.XML_SPACE),
            exclusive=get_bool(s, "exclusive", False, words=True),
            max_restarts=get_int(s, "max_restarts") or 0,
            restart_expire_time=get_time(s, "restart_expire_time", 0),
            depend=service_depend(s.get("depend")),
            attrs=attrs_of(s),
            children=tuple(_tree(c, globals_) for c in s if c.tag in RESOURCE_TYPES),
            line=line_of(s),
            actions=actions(s),
        )
        for s in children(element, "service")
    )
    poll = get_int(element, "status_poll_interval")
    return ResourceManager(
        status_poll_interval=poll if poll is not None and poll > 0 else 10,
        failoverdomains=domains,
        resources=tuple(_tree(r, {}) for r in global_elements),
        services=services,
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
        rm=resource_manager(child(root, "rm")),
        digest=hashlib.sha256(data).hexdigest(),
        source=source,
        warnings=warnings,
        quorum_dev_poll_ms=poll or token,
        line=line_of(root),
    )
