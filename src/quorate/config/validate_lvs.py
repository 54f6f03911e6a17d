"""Load-time checks of ``<lvs>`` virtual services and their ``<realserver>`` rows.

Theory of operation: an ``lvs`` resource balances one virtual address and port over real servers; the node that
runs its service is the director and carries the address (an ``<ip>`` next to it). Mistakes here only show when
traffic flows, long after the configuration was pushed, so everything that can be known from the file alone is
refused at load time, located at the element and attribute: addresses that are neither IPv4 nor IPv6, a real
server whose family differs from its virtual address's (NAT does not translate between IPv4 and IPv6), ports
outside 1-65535, a scheduler or check quorate does not implement, a script check without an absolute script, a
TCP or HTTP check on a UDP service (it would always fail), counts that are not whole numbers, a virtual service
with no real server or whose weights are all 0 (it could send nothing anywhere), one real server listed twice,
two virtual services on the same address, port and protocol, a ``realserver`` outside an ``lvs``, and a virtual
address that is one of the nodes' own literal addresses (a clusternode or altname written as an address): the
director would rewrite the cluster's own traffic. Names are not resolved (validation does no I/O).

The vocabularies (`SCHEDULERS`, `CHECKS`, `PROTOCOLS`) live here so the agent and the checks agree. Pure.
"""

from __future__ import annotations

import ipaddress

from lxml import etree

from quorate.config import build
from quorate.config.derive import XML_SPACE
from quorate.config.problems import Problems, element_path, is_element, line_of

SCHEDULERS = {
    "rr": "round robin, weights ignored",
    "wrr": "weighted round robin",
    "sh": "source hash: one client address always goes to one real server",
}
CHECKS = ("http", "tcp", "script")
PROTOCOLS = ("tcp", "udp")
WHOLE = ("interval", "timeout", "rise", "fall", "persistence")


def check_lvs(root: etree._Element, problems: Problems) -> None:
    """Every ``lvs`` and ``realserver`` under ``<rm>``."""
    rm = build.child(root, "rm")
    if rm is None:
        return
    own = _node_addresses(root)
    services: dict[tuple[str, int, str], etree._Element] = {}
    for element in rm.iter("lvs"):
        if element.get("ref") is None:
            _check_virtual(element, own, services, problems)
        if element.get("ref") is not None or not _in_resources(element):
            _check_rows(element, _quiet_address(_definition(rm, element)), problems)
    for row in rm.iter("realserver"):
        parent = row.getparent()
        if parent is None or parent.tag != "lvs":
            problems.error(row, "a <realserver> belongs inside an <lvs>", hint="move it into the virtual service")
        if row.get("ref") is None:
            _address(row, problems)
            _port(row, problems)


def _definition(rm: etree._Element, element: etree._Element) -> etree._Element | None:
    """Where the virtual service's own attributes are: the element, or the ``<resources>`` entry it refers to."""
    ref = element.get("ref")
    if ref is None:
        return element
    for defined in build.children(build.child(rm, "resources"), "lvs"):
        if defined.get("name") == ref:
            return defined
    return None


def _in_resources(element: etree._Element) -> bool:
    parent = element.getparent()
    return parent is not None and parent.tag == "resources"


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _node_addresses(root: etree._Element) -> dict[Address, str]:
    """The nodes' names and altnames that are written as addresses."""
    found: dict[Address, str] = {}
    for node in build.children(build.child(root, "clusternodes"), "clusternode"):
        name = node.get("name", "")
        for text in [name, *(a.get("name", "") for a in build.children(node, "altname"))]:
            try:
                found[ipaddress.ip_address(text.strip(XML_SPACE))] = name
            except ValueError:
                continue
    return found


def _address(element: etree._Element, problems: Problems) -> Address | None:
    value = element.get("address")
    if value is None or not value.strip(XML_SPACE):
        return None  # reported as a missing required attribute
    try:
        return ipaddress.ip_address(value.strip(XML_SPACE))
    except ValueError:
        problems.error(
            element,
            f"{value!r} is not an IP address",
            attribute="address",
            hint="write an IPv4 (a.b.c.d) or IPv6 (2001:db8::10) address without a prefix",
        )
        return None


def _quiet_address(element: etree._Element | None) -> Address | None:
    """The element's address when it is one (errors are reported where the element itself is checked)."""
    try:
        return ipaddress.ip_address((element.get("address") or "").strip(XML_SPACE)) if element is not None else None
    except ValueError:
        return None


def _label(address: str, port: str) -> str:
    if not port:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _port(element: etree._Element, problems: Problems) -> int | None:
    value = element.get("port")
    if value is None or not value.strip(XML_SPACE):
        return None
    text = value.strip(XML_SPACE)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        problems.error(element, f"port {value!r} is not a port number", attribute="port", hint="1 to 65535")
        return None
    return int(text)


def _check_virtual(
    element: etree._Element,
    own: dict[Address, str],
    services: dict[tuple[str, int, str], etree._Element],
    problems: Problems,
) -> None:
    address = _address(element, problems)
    port = _port(element, problems)
    if address is not None and address in own:
        problems.error(
            element,
            f"the virtual address {address} belongs to node {own[address]!r}",
            attribute="address",
            hint="give the virtual service an address of its own, carried by an <ip> in the same service",
        )
    protocol = element.get("protocol", "tcp").strip(XML_SPACE)
    if protocol not in PROTOCOLS:
        problems.error(element, f"unknown protocol {protocol!r}", attribute="protocol", hint="tcp or udp")
    scheduler = element.get("scheduler", "rr").strip(XML_SPACE)
    if scheduler not in SCHEDULERS:
        problems.error(
            element,
            f"unknown scheduler {scheduler!r}",
            attribute="scheduler",
            hint="; ".join(f"{k}: {v}" for k, v in SCHEDULERS.items()),
        )
    for attr in WHOLE:
        value = element.get(attr)
        if value is not None and not value.strip(XML_SPACE).isdigit():
            problems.error(element, f"{attr} {value!r} is not a whole number", attribute=attr, hint="0, 1, 2...")
    check = element.get("check", "tcp").strip(XML_SPACE)
    script = element.get("script")
    if check not in CHECKS:
        problems.error(element, f"unknown check {check!r}", attribute="check", hint="http, tcp or script")
    elif check == "script" and not (script or "").strip(XML_SPACE).startswith("/"):
        problems.error(
            element,
            "check='script' needs script= with an absolute path"
            + (f", not {script!r}" if script else ""),
            attribute="script",
            hint="the script gets the real server's address and port as arguments; exit 0 means healthy",
        )
    if protocol == "udp" and check in ("http", "tcp"):
        problems.error(
            element,
            f"check={check!r} opens TCP connections and cannot tell whether a UDP service answers",
            attribute="check",
            hint="use check='script' with a program that queries the service",
        )
    expect = element.get("expect")
    if expect is not None and not (expect.strip().isdigit() and len(expect.strip()) == 3):
        problems.error(element, f"expect {expect!r} is not an HTTP status", attribute="expect", hint="e.g. 200")
    path = element.get("path")
    if path is not None and not path.startswith("/"):
        problems.error(element, f"path {path!r} does not start with /", attribute="path", hint="e.g. / or /health")
    if address is not None and port is not None and protocol in PROTOCOLS:
        key = (str(address), port, protocol)
        first = services.get(key)
        if first is not None:
            problems.error(
                element,
                f"{protocol} {address}:{port} is already balanced by {element_path(first)} (line {line_of(first)})",
                attribute="address",
                hint="one virtual service per address, port and protocol",
            )
        else:
            services[key] = element


def _check_rows(element: etree._Element, virtual: Address | None, problems: Problems) -> None:
    """The real servers of one place where a virtual service is used (``virtual``: its address, when valid)."""
    rows = [c for c in element if is_element(c) and c.tag == "realserver"]
    if not rows:
        problems.error(element, "the virtual service has no <realserver>", hint='add <realserver address="..."/>')
        return
    weights = []
    seen: dict[tuple[str, str], etree._Element] = {}
    for row in rows:
        weight = (row.get("weight") or "1").strip(XML_SPACE)
        weights.append(int(weight) if weight.isdigit() else 1)
        address = _quiet_address(row)
        if virtual is not None and address is not None and address.version != virtual.version:
            problems.error(
                row,
                f"real server {address} is IPv{address.version} and the virtual address {virtual} IPv{virtual.version}",
                attribute="address",
                hint="NAT does not translate between IPv4 and IPv6: use real servers of the virtual address's family",
            )
        text = str(address) if address is not None else (row.get("address") or "").strip(XML_SPACE)
        key = (text, (row.get("port") or "").strip(XML_SPACE))
        if key in seen:
            problems.error(
                row,
                f"real server {_label(*key)} is already listed at line {line_of(seen[key])}",
                attribute="address",
                hint="list each real server once; use weight to send it more",
            )
        seen.setdefault(key, row)
    if not any(weights):
        problems.error(
            element,
            "every real server has weight 0: the virtual service could send nothing anywhere",
            hint="give at least one real server a weight of 1 or more",
        )
