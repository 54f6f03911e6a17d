"""``ip``: a floating IP address that follows the service (spec R-87).

Theory of operation: the agent reads the interfaces of this node's network namespace with ``ip -j addr``.

* **start**: if the address is already configured, success. Otherwise it goes on ``prefer_interface`` if set,
  else on the interface that already has an address whose network contains it; the prefix is the one written
  in ``address`` (``10.0.0.50/24``) or else that network's. With ``monitor_link`` (default on) an interface
  without carrier refuses the address. After ``ip addr add`` the agent announces the new owner: IPv4 gets two
  gratuitous ARP requests (sender = target = the address, to the broadcast MAC) sent on a raw packet socket,
  so switches and peers update their tables at once; IPv6 addresses are added with ``nodad`` (the address is
  already ours: duplicate detection would only delay it) and announced by two unsolicited neighbour
  advertisements (RFC 4861 7.2.6: to all nodes, override flag, the interface's MAC as target link-layer
  address), without which peers keep sending to the previous owner's MAC until their neighbour entry expires
  (tens of seconds).
* **stop**: remove the address if present, then wait ``sleeptime`` seconds (default 10, ip.sh's pause that
  lets NFS lock daemons drain). Stopping an absent address is a success, with no pause.
* **status**: depth 0: present, and the link has carrier if ``monitor_link``; depth 10: it also answers a
  local ping.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import struct
from dataclasses import dataclass
from typing import Any

from quorate.config.rgtree import Node
from quorate.resources.agents.base import (
    OCF_ERR_ARGS,
    OCF_ERR_GENERIC,
    OCF_NOT_RUNNING,
    Agent,
    AgentContext,
    AgentOutcome,
    failure,
    from_result,
    run,
    success,
    summary,
)

Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    mac: str
    flags: tuple[str, ...]
    addresses: tuple[Address, ...]

    @property
    def carrier(self) -> bool:
        return "UP" in self.flags and "LOWER_UP" in self.flags

    @property
    def arp(self) -> bool:
        return "NOARP" not in self.flags and len(self.mac.split(":")) == 6


def parse_links(text: str) -> list[Link]:
    """``ip -j addr show`` output → links with their addresses."""
    links = []
    data: list[dict[str, Any]] = json.loads(text or "[]")
    for item in data:
        addresses = []
        for info in item.get("addr_info", []):
            if info.get("family") in ("inet", "inet6") and "local" in info:
                addresses.append(ipaddress.ip_interface(f"{info['local']}/{info.get('prefixlen', 32)}"))
        links.append(
            Link(
                name=str(item.get("ifname", "")),
                mac=str(item.get("address", "")),
                flags=tuple(item.get("flags", [])),
                addresses=tuple(addresses),
            )
        )
    return links


def gratuitous_arp(link: Link, address: ipaddress.IPv4Address, count: int = 2) -> str:
    """Broadcast ARP requests announcing ``address`` at ``link``'s MAC; returns a note when it could not."""
    if not link.arp:
        return f"no gratuitous ARP on {link.name} (no ARP on this interface)"
    mac = bytes.fromhex(link.mac.replace(":", ""))
    ip = address.packed
    frame = (
        b"\xff" * 6
        + mac
        + struct.pack("!H", 0x0806)
        + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
        + mac
        + ip
        + b"\x00" * 6
        + ip
    )
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((link.name, 0))
            for _ in range(count):
                sock.send(frame)
    except OSError as exc:
        return f"gratuitous ARP on {link.name} failed: {exc.strerror}"
    return f"gratuitous ARP sent on {link.name}"


ALL_NODES = "ff02::1"
NEIGHBOUR_ADVERTISEMENT = 136
OVERRIDE = 0x20000000


def neighbour_advertisement(target: ipaddress.IPv6Address, mac: str) -> bytes:
    """An unsolicited NA for ``target`` at ``mac``; the checksum is left to the kernel (raw ICMPv6 sockets)."""
    option = struct.pack("!BB", 2, 1) + bytes.fromhex(mac.replace(":", ""))  # target link-layer address
    return struct.pack("!BBHI", NEIGHBOUR_ADVERTISEMENT, 0, 0, OVERRIDE) + target.packed + option


def unsolicited_na(link: Link, address: ipaddress.IPv6Address, count: int = 2) -> str:
    """Tell the link's neighbours that ``address`` is now at this interface; returns a note for the log."""
    if not link.arp:
        return f"no neighbour advertisement on {link.name} (no link-layer address)"
    packet = neighbour_advertisement(address, link.mac)
    try:
        index = socket.if_nametoindex(link.name)
        with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # receivers drop NAs with less
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            for _ in range(count):
                sock.sendto(packet, (ALL_NODES, 0, 0, index))
    except OSError as exc:
        return f"neighbour advertisement on {link.name} failed: {exc.strerror}"
    return f"unsolicited neighbour advertisement sent on {link.name}"


class IpAgent(Agent):
    type = "ip"

    async def _links(self, ctx: AgentContext) -> list[Link] | AgentOutcome:
        result = await run(["ip", "-j", "addr", "show"], timeout=ctx.remaining())
        broken = from_result(result, "ip addr show")
        if broken is not None:
            return broken
        if result.returncode != 0:
            return failure(OCF_ERR_GENERIC, f"ip addr show failed: {summary(result.stderr)}")
        return parse_links(result.stdout)

    @staticmethod
    def _address(res: Node) -> Address | AgentOutcome:
        text = (res.get("address") or "").strip()
        try:
            return ipaddress.ip_interface(text)
        except ValueError:
            return failure(OCF_ERR_ARGS, f"{text!r} is not an IP address")

    @staticmethod
    def _holder(links: list[Link], address: Address) -> tuple[Link, Address] | None:
        for link in links:
            for configured in link.addresses:
                if configured.ip == address.ip:
                    return link, configured
        return None

    @staticmethod
    def _target(res: Node, links: list[Link], address: Address) -> tuple[Link, int] | str:
        """(interface, prefix length) for a new address, or why there is none."""
        explicit = "/" in (res.get("address") or "")
        preferred = (res.get("prefer_interface") or "").strip()
        for link in links:
            if preferred and link.name != preferred:
                continue
            for configured in link.addresses:
                if configured.version == address.version and address.ip in configured.network:
                    return link, address.network.prefixlen if explicit else configured.network.prefixlen
            if preferred:
                if explicit:
                    return link, address.network.prefixlen
                return f"interface {preferred} has no network containing {address.ip}; write the prefix"
        if preferred:
            return f"interface {preferred} does not exist"
        return f"no interface has a network containing {address.ip}"

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        address = self._address(res)
        if isinstance(address, AgentOutcome):
            return address
        links = await self._links(ctx)
        if isinstance(links, AgentOutcome):
            return links
        if self._holder(links, address) is not None:
            return success(f"{address.ip} is already configured")
        target = self._target(res, links, address)
        if isinstance(target, str):
            return failure(OCF_ERR_GENERIC, target)
        link, prefix = target
        if res.flag("monitor_link", True) and not link.carrier:
            return failure(OCF_ERR_GENERIC, f"no link on {link.name}; not adding {address.ip}")
        argv = ["ip", "addr", "add", f"{address.ip}/{prefix}", "dev", link.name]
        if address.version == 6:
            argv.append("nodad")
        result = await run(argv, timeout=ctx.remaining())
        broken = from_result(result, "ip addr add")
        if broken is not None:
            return broken
        if result.returncode != 0:
            return failure(
                OCF_ERR_GENERIC, f"adding {address.ip}/{prefix} to {link.name} failed: {summary(result.stderr)}"
            )
        ip = address.ip
        note = gratuitous_arp(link, ip) if isinstance(ip, ipaddress.IPv4Address) else unsolicited_na(link, ip)
        return success(f"{address.ip}/{prefix} added to {link.name}; {note}")

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        address = self._address(res)
        if isinstance(address, AgentOutcome):
            return address
        links = await self._links(ctx)
        if isinstance(links, AgentOutcome):
            return links
        held = self._holder(links, address)
        if held is None:
            return success(f"{address.ip} is not configured")
        link, configured = held
        result = await run(["ip", "addr", "del", str(configured), "dev", link.name], timeout=ctx.remaining())
        broken = from_result(result, "ip addr del")
        if broken is not None:
            return broken
        after = await self._links(ctx)
        if isinstance(after, AgentOutcome):
            return after
        if self._holder(after, address) is not None:
            return failure(OCF_ERR_GENERIC, f"failed to remove {address.ip} from {link.name}: {summary(result.stderr)}")
        pause = _seconds(res.get("sleeptime"), 10.0)
        if pause > 0:
            await asyncio.sleep(min(pause, max(0.0, ctx.remaining(0.0) - 1.0)))
        return success(f"{address.ip} removed from {link.name}")

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        address = self._address(res)
        if isinstance(address, AgentOutcome):
            return address
        links = await self._links(ctx)
        if isinstance(links, AgentOutcome):
            return links
        held = self._holder(links, address)
        if held is None:
            return failure(OCF_NOT_RUNNING, f"{address.ip} is not configured")
        link, _ = held
        if res.flag("monitor_link", True) and not link.carrier:
            return failure(OCF_ERR_GENERIC, f"no link on {link.name}, which carries {address.ip}")
        if depth >= 10:
            result = await run(["ping", "-c", "1", "-W", "2", "-n", str(address.ip)], timeout=ctx.remaining())
            broken = from_result(result, "ping")
            if broken is not None:
                return broken
            if result.returncode != 0:
                return failure(OCF_ERR_GENERIC, f"{address.ip} does not answer a local ping")
        return success(f"{address.ip} is configured on {link.name}")


def _seconds(text: str | None, default: float) -> float:
    try:
        return float(text) if text is not None and text.strip() else default
    except ValueError:
        return default
