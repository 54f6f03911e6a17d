"""What the testbed needs to know about a cluster, read straight from cluster.conf.

Theory of operation: the testbed only needs each ``clusternode``'s name and
``nodeid`` to lay out hosts; it deliberately reads the XML itself with lxml so
that it does not depend on (or break with) the full configuration model in
``quorate.config``.  From the nodeid it derives everything deterministic about a
host: its address on the testbed LAN (192.168.0.(200+nodeid)), its short name,
the names of its network namespace and of the switch-side veth.  Client hosts
(not cluster nodes: the source of an application's traffic) are named and
addressed by whoever adds them; ``client_spec`` checks that their names and
addresses cannot be confused with a node's, the power switch's or another
client's.  Everything here is pure, so it is unit-tested without root.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

#: The testbed LAN.  Addresses are 192.168.0.(200 + nodeid), so nodeids 1..54 fit.
SUBNET_PREFIX = "192.168.0."
SUBNET_BITS = 24
ADDRESS_BASE = 200
MAX_NODEID = 254 - ADDRESS_BASE

#: Prefixes are short lower-case alphanumerics without "-": the "-" separates a
#: prefix from a node's short name in netns names, so "qt" never claims the
#: namespaces of "qt2".
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
#: Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
IFNAME_MAX = 15
SWITCH_SUFFIX = "sw"
#: The testbed's power switch listens on this host number of the LAN (quorate.testbed.power).
SWITCH_HOST = 254
#: Client names: lower-case, as short as the namespace and interface names they become need.
CLIENT_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")


class TestbedError(RuntimeError):
    """Anything the testbed cannot do, with a message a person can act on."""

    __test__ = False


class UnknownNodeError(TestbedError):
    """A node name that is not in this testbed's cluster.conf."""


@dataclass(frozen=True)
class NodeSpec:
    """One cluster node as the testbed lays it out."""

    name: str
    nodeid: int

    @property
    def short(self) -> str:
        """The name before the first dot, as the article's /etc/hosts lists it too."""
        return self.name.split(".", 1)[0]

    @property
    def address(self) -> str:
        return f"{SUBNET_PREFIX}{ADDRESS_BASE + self.nodeid}"

    def netns(self, prefix: str) -> str:
        return f"{prefix}-{self.short}"

    def veth(self) -> str:
        """Switch-side veth name: unique by nodeid, readable by short name, within IFNAMSIZ."""
        return f"v{self.nodeid}-{self.short}"[:IFNAME_MAX]


@dataclass(frozen=True)
class ClientSpec:
    """A client host: on the testbed LAN like a node, but no cluster member (it runs no daemon)."""

    name: str
    address: str

    def netns(self, prefix: str) -> str:
        return f"{prefix}-{self.name}"

    def veth(self) -> str:
        """Switch-side veth: ``c<last octet>-<name>``, unique by address, within IFNAMSIZ."""
        return f"c{self.address.rsplit('.', 1)[1]}-{self.name}"[:IFNAME_MAX]


def client_spec(name: str, address: str, nodes: Iterable[NodeSpec], clients: Iterable[ClientSpec]) -> ClientSpec:
    """Check a new client's name and address against the testbed's nodes and clients; raise with the reason."""
    nodes, clients = list(nodes), list(clients)
    if not CLIENT_NAME_RE.match(name):
        raise TestbedError(f"bad client name {name!r}: use 1-12 lower-case letters/digits, starting with a letter")
    if name == SWITCH_SUFFIX or any(name in (spec.short, spec.name) for spec in nodes):
        raise TestbedError(f"client name {name!r} is a node's name or reserved (nodes and clients share exec)")
    if any(client.name == name for client in clients):
        raise TestbedError(f"there is already a client named {name!r}")
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        raise TestbedError(f"client address {address!r} is not an IPv4 address") from None
    lan = ipaddress.IPv4Network(f"{SUBNET_PREFIX}0/{SUBNET_BITS}")
    host = int(parsed) - int(lan.network_address)
    if parsed not in lan or not 1 <= host < SWITCH_HOST:
        raise TestbedError(
            f"client address {address} must be on the testbed LAN, {SUBNET_PREFIX}1..{SUBNET_PREFIX}{SWITCH_HOST - 1}"
        )
    owner = next((spec.name for spec in nodes if spec.address == address), None)
    owner = owner or next((f"client {client.name}" for client in clients if client.address == address), None)
    if owner:
        raise TestbedError(f"client address {address} is already {owner}'s")
    return ClientSpec(name=name, address=str(parsed))


def check_prefix(prefix: str) -> str:
    """Refuse prefixes that could collide with another testbed's namespaces."""
    if not PREFIX_RE.match(prefix):
        raise TestbedError(f"bad testbed prefix {prefix!r}: use 1-12 lower-case letters/digits, starting with a letter")
    return prefix


def switch_netns(prefix: str) -> str:
    return f"{prefix}-{SWITCH_SUFFIX}"


def read_nodes(conf_path: str | Path) -> list[NodeSpec]:
    """Read the clusternodes of a cluster.conf, ordered by nodeid, and check they can be hosts."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        data = Path(conf_path).read_bytes()
        # Configurations copied from web pages carry non-breaking spaces where XML wants spaces;
        # the nodes get the file as it is, this reader only needs the names and ids.
        data = data.replace("\u00a0".encode(), b" ")
        root = etree.fromstring(data, parser)
    except (OSError, etree.XMLSyntaxError) as exc:
        raise TestbedError(f"cannot read cluster configuration {conf_path}: {exc}") from exc
    specs: list[NodeSpec] = []
    for element in root.iter("clusternode"):
        name = (element.get("name") or "").strip()
        raw_id = element.get("nodeid")
        if not name:
            raise TestbedError(f"{conf_path}: a clusternode has no name")
        if raw_id is None or not raw_id.strip().isdigit():
            raise TestbedError(f"{conf_path}: clusternode {name} needs a numeric nodeid for the testbed")
        specs.append(NodeSpec(name=name, nodeid=int(raw_id)))
    if not specs:
        raise TestbedError(f"{conf_path}: no clusternode elements")
    specs.sort(key=lambda spec: spec.nodeid)
    _check_specs(specs, conf_path)
    return specs


def _check_specs(specs: list[NodeSpec], conf_path: str | Path) -> None:
    seen_ids: set[int] = set()
    seen_short: set[str] = set()
    for spec in specs:
        if not 1 <= spec.nodeid <= MAX_NODEID:
            raise TestbedError(f"{conf_path}: nodeid {spec.nodeid} of {spec.name} must be 1..{MAX_NODEID}")
        if spec.nodeid in seen_ids:
            raise TestbedError(f"{conf_path}: nodeid {spec.nodeid} is used twice")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", spec.short):
            raise TestbedError(f"{conf_path}: node name {spec.name!r} is not a usable host name")
        if spec.short in seen_short or spec.short == SWITCH_SUFFIX:
            raise TestbedError(f"{conf_path}: short name {spec.short!r} is used twice or reserved")
        seen_ids.add(spec.nodeid)
        seen_short.add(spec.short)


def hosts_file(specs: list[NodeSpec]) -> str:
    """The /etc/hosts every node gets: loopback plus every node's full and short name."""
    lines = ["127.0.0.1\tlocalhost"]
    lines += [f"{spec.address}\t{spec.name} {spec.short}" for spec in specs]
    return "\n".join(lines) + "\n"


def resolve(specs: list[NodeSpec], node: str) -> NodeSpec:
    """Find a node by full or short name, with an error that lists the known ones."""
    for spec in specs:
        if node in (spec.name, spec.short):
            return spec
    known = ", ".join(spec.name for spec in specs)
    raise UnknownNodeError(f"unknown node {node!r}; this testbed has: {known}")
