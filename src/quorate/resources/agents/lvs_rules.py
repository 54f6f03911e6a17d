"""The load balancer's data plane as text: one nftables table per virtual service, built from its configuration
and the set of real servers that are healthy right now.

Theory of operation: this machine's kernels may lack ``ip_vs``, and every kernel quorate runs on has nftables,
so the director balances with netfilter NAT. ``table ip quorate_lvs_<name>`` (``ip6`` for an IPv6 virtual address:
its real servers are of the same family, as NAT does not translate between the two) holds:

* ``prerouting`` (nat): a packet for the virtual address and port opening a connection is DNATed to one real
  server chosen by ``numgen inc mod N`` (round robin) or ``jhash ip saddr mod N`` (source hash: scheduler
  ``sh``, or any scheduler with ``persistence`` > 0, so that one client keeps its server while the healthy set
  does not change; the persistence time itself is not honoured). The map lists each healthy real server once
  for ``rr`` and ``weight`` times (divided by the weights' common divisor, interleaved smoothly) for ``wrr``
  and ``sh``. Conntrack carries the rest of the connection, so only the first packet is scheduled. ``output``
  (nat) does the same for connections opened on the director itself.
* ``postrouting`` (nat): ``masquerade`` towards the real servers. They are plain hosts on the director's
  network: each answers from its own address, and a client on the same segment would get a reply from an
  address it never spoke to and drop it. Rewriting the source to the director's address makes replies come
  back through the director, which undoes both translations. Direct return (as IPVS's DR mode) would need the
  virtual address on every real server's loopback with ARP suppressed: configuration outside the cluster.
* ``count_to`` and ``count_back``, jumped to for connections this virtual service translated (matched on the
  connection's original destination, as two virtual services may share real servers) from the filter hooks (``forward``
  both, ``input`` the first, ``output`` the second, so that each packet counts once even when the real server
  is the director itself): named counters per real server (``rs_<address>_<port>_conns``, ``_in``, ``_out``) for
  connections, packets and bytes each way, shown by ``quorate lvs``.

A change of the healthy set is one ``nft -f`` transaction that flushes the table's rules and adds the new ones
(counters survive, so statistics are not reset by a health change); a start deletes and creates the whole table,
a stop deletes it. With no healthy real server the table has no DNAT rule: connections to the virtual address
are refused by the director rather than sent to a dead host. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from quorate.config.rgtree import Node
from quorate.config.validate_lvs import CHECKS, SCHEDULERS


class LvsConfigError(ValueError):
    """A value the agent cannot use (configuration loading refuses these first)."""


@dataclass(frozen=True, slots=True)
class RealServer:
    address: str
    port: int
    weight: int = 1

    @property
    def label(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class VirtualService:
    name: str
    address: str
    port: int
    servers: tuple[RealServer, ...]
    protocol: str = "tcp"
    scheduler: str = "rr"
    persistence: int = 0
    check: str = "tcp"
    path: str = "/"
    expect: int = 200
    script: str = ""
    interval: float = 2.0
    timeout: float = 1.0
    rise: int = 2
    fall: int = 2

    @property
    def table(self) -> str:
        return table_name(self.name)

    @property
    def family(self) -> str:
        """The nftables family of the table and of the address matches: ``ip`` or ``ip6``."""
        return "ip6" if ":" in self.address else "ip"

    @property
    def label(self) -> str:
        return f"[{self.address}]:{self.port}" if self.family == "ip6" else f"{self.address}:{self.port}"

    @property
    def hashed(self) -> bool:
        """Source hash instead of round robin: the ``sh`` scheduler, or persistence asked for."""
        return self.scheduler == "sh" or self.persistence > 0


def table_name(name: str) -> str:
    """nftables names allow letters, digits and underscore; anything else in the resource name becomes ``_``."""
    return "quorate_lvs_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _whole(res: Node, attr: str, lowest: int) -> int:
    text = (res.get(attr) or "").strip()
    if not text.isdigit() or int(text) < lowest:
        raise LvsConfigError(f"lvs {res.primary}: {attr} {text!r} is not a whole number of at least {lowest}")
    return int(text)


def real_server(res: Node, virtual_port: int) -> RealServer:
    """A ``realserver`` tree node; its port defaults to the virtual one."""
    own = (res.get("port") or "").strip()
    return RealServer(
        address=(res.get("address") or "").strip(),
        port=int(own) if own.isdigit() else virtual_port,
        weight=_whole(res, "weight", 0),
    )


def virtual_service(res: Node) -> VirtualService:
    """The virtual service an ``lvs`` tree node describes, its ``realserver`` children in order."""
    port = _whole(res, "port", 1)
    servers = [real_server(child, port) for child in res.children if child.type == "realserver"]
    scheduler = (res.get("scheduler") or "rr").strip()
    check = (res.get("check") or "tcp").strip()
    if scheduler not in SCHEDULERS:
        raise LvsConfigError(f"lvs {res.primary}: unknown scheduler {scheduler!r} (rr, wrr or sh)")
    if check not in CHECKS:
        raise LvsConfigError(f"lvs {res.primary}: unknown check {check!r} (http, tcp or script)")
    if not servers:
        raise LvsConfigError(f"lvs {res.primary}: no realserver")
    return VirtualService(
        name=res.primary,
        address=(res.get("address") or "").strip(),
        port=port,
        servers=tuple(servers),
        protocol=(res.get("protocol") or "tcp").strip(),
        scheduler=scheduler,
        persistence=_whole(res, "persistence", 0),
        check=check,
        path=res.get("path") or "/",
        expect=_whole(res, "expect", 100),
        script=(res.get("script") or "").strip(),
        interval=float(_whole(res, "interval", 1)),
        timeout=float(_whole(res, "timeout", 1)),
        rise=_whole(res, "rise", 1),
        fall=_whole(res, "fall", 1),
    )


def rotation(vs: VirtualService, healthy: Iterable[RealServer]) -> list[RealServer]:
    """The map's members in order: each healthy server with weight > 0, repeated by weight unless ``rr`` (which
    ignores weights, persistence or not).

    Repeats are interleaved the way a smooth weighted round robin visits servers (2:1 gives a, b, a rather than
    a, a, b), so that short bursts are already shared in proportion."""
    alive = [s for s in healthy if s.weight > 0]
    if not alive:
        return []
    if vs.scheduler == "rr":
        return alive
    divisor = 0
    for server in alive:
        divisor = math.gcd(divisor, server.weight)
    weights = [s.weight // divisor for s in alive]
    current = [0] * len(alive)
    order: list[RealServer] = []
    for _ in range(sum(weights)):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        best = max(range(len(alive)), key=lambda i: (current[i], -i))
        current[best] -= sum(weights)
        order.append(alive[best])
    return order


def counter_prefix(server: RealServer) -> str:
    """Counters are named after the real server, so that adding or removing another one renames nothing."""
    return f"rs_{server.address.replace('.', '_').replace(':', '_')}_{server.port}"


def _declarations(vs: VirtualService) -> list[str]:
    lines = [f"table {vs.family} {vs.table} {{"]
    for server in vs.servers:
        prefix = counter_prefix(server)
        lines += [f"\tcounter {prefix}_{kind} {{ }}" for kind in ("conns", "in", "out")]
    lines += [
        "\tchain prerouting { type nat hook prerouting priority dstnat; policy accept; }",
        "\tchain output_nat { type nat hook output priority -100; policy accept; }",
        "\tchain postrouting { type nat hook postrouting priority srcnat; policy accept; }",
        "\tchain count_to { }",
        "\tchain count_back { }",
        "\tchain forward { type filter hook forward priority filter; policy accept; }",
        "\tchain input { type filter hook input priority filter; policy accept; }",
        "\tchain output { type filter hook output priority filter; policy accept; }",
        "}",
    ]
    return lines


def _dnat(vs: VirtualService, members: list[RealServer]) -> str:
    entries = ", ".join(f"{i} : {s.address} . {s.port}" for i, s in enumerate(members))
    ip = vs.family
    chooser = f"jhash {ip} saddr mod {len(members)} seed 0x51" if vs.hashed else f"numgen inc mod {len(members)}"
    match = f"{ip} daddr {vs.address} {vs.protocol} dport {vs.port}"
    return f"{match} dnat {ip} addr . port to {chooser} map {{ {entries} }}"


def ruleset(vs: VirtualService, healthy: Iterable[RealServer], *, fresh: bool) -> str:
    """The ``nft -f`` input installing ``vs`` with ``healthy`` in rotation: ``fresh`` replaces the whole table
    (a start), otherwise only its rules are replaced and the counters kept (a health change)."""
    members = rotation(vs, healthy)
    ip, table = vs.family, f"{vs.family} {vs.table}"
    lines = [f"table {table}", f"delete table {table}"] if fresh else []
    lines += _declarations(vs)
    lines.append(f"flush table {table}")
    lines.append(f"table {table} {{")
    if members:
        dnat = _dnat(vs, members)
        lines += ["\tchain prerouting {", f"\t\t{dnat}", "\t}", "\tchain output_nat {", f"\t\t{dnat}", "\t}"]
    # Connections this virtual service translated (another one may balance over the same real servers).
    ours = (
        f"ct status dnat meta l4proto {vs.protocol} ct original {ip} daddr {vs.address} ct original proto-dst {vs.port}"
    )
    lines.append("\tchain postrouting {")
    for server in vs.servers:
        lines.append(f"\t\t{ours} {ip} daddr {server.address} {vs.protocol} dport {server.port} masquerade")
    lines.append("\t}")
    lines.append("\tchain count_to {")
    for server in vs.servers:
        prefix = counter_prefix(server)
        to = f"{ip} daddr {server.address} {vs.protocol} dport {server.port}"
        lines.append(f'\t\tct state new {to} counter name "{prefix}_conns"')
        lines.append(f'\t\t{to} counter name "{prefix}_in"')
    lines += ["\t}", "\tchain count_back {"]
    for server in vs.servers:
        back = f"{ip} saddr {server.address} {vs.protocol} sport {server.port}"
        lines.append(f'\t\t{back} counter name "{counter_prefix(server)}_out"')
    lines.append("\t}")
    # Each packet is counted once: towards a real server in forward or input, back from it in forward or output.
    hooks = {"forward": ("count_to", "count_back"), "input": ("count_to",), "output": ("count_back",)}
    for hook, targets in hooks.items():
        lines += [f"\tchain {hook} {{", *(f"\t\t{ours} jump {t}" for t in targets), "\t}"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def removal(vs: VirtualService) -> str:
    """``nft -f`` input deleting the table, whether or not it exists."""
    return f"table {vs.family} {vs.table}\ndelete table {vs.family} {vs.table}\n"


@dataclass(frozen=True, slots=True)
class Traffic:
    conns: int = 0
    in_packets: int = 0
    out_packets: int = 0
    in_bytes: int = 0
    out_bytes: int = 0


def parse_counters(vs: VirtualService, text: str) -> dict[RealServer, Traffic]:
    """``nft -j list counters table ip|ip6 <table>`` output → traffic per real server (zeros when absent)."""
    data: dict[str, Any] = json.loads(text or "{}")
    values: dict[str, tuple[int, int]] = {}
    for item in data.get("nftables", []):
        counter = item.get("counter") if isinstance(item, dict) else None
        if isinstance(counter, dict) and counter.get("table") == vs.table:
            values[str(counter.get("name"))] = (int(counter.get("packets", 0)), int(counter.get("bytes", 0)))
    found = {}
    for server in vs.servers:
        prefix = counter_prefix(server)
        conns = values.get(f"{prefix}_conns", (0, 0))[0]
        in_packets, in_bytes = values.get(f"{prefix}_in", (0, 0))
        out_packets, out_bytes = values.get(f"{prefix}_out", (0, 0))
        found[server] = Traffic(conns, in_packets, out_packets, in_bytes, out_bytes)
    return found
