"""The ip agent inside a throwaway network namespace: add, announce, check, remove, refuse."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from res_helpers import config_of

from quorate.config.rgtree import Node
from quorate.resources import build_trees
from quorate.resources.agents import AgentContext, IpAgent

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
ETH_P_ARP = 0x0806
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(ns: str, work: Callable[[], T]) -> T:
    """Run ``work`` on a thread that has entered network namespace ``ns`` (children it forks are in it too)."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            box["value"] = work()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "work in the namespace did not finish in 60 s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_in(ns: str, coro: Callable[[], Awaitable[T]]) -> T:
    return in_netns(ns, lambda: asyncio.run(coro()))  # type: ignore[arg-type]


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=True).stdout


@pytest.fixture
def netns(require_root: None) -> Iterator[str]:
    """A namespace with veth0 (192.0.2.1/24, 2001:db8::1/64) paired to veth1, and side0 (198.51.100.1/24) paired
    to side1 (taking side1 down takes side0's carrier away; this kernel has no dummy interfaces)."""
    name = f"qtres{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        ip("-n", name, "link", "add", "side0", "type", "veth", "peer", "name", "side1")
        for link in ("veth0", "veth1", "side0", "side1"):
            ip("-n", name, "link", "set", link, "up")
        ip("-n", name, "addr", "add", "192.0.2.1/24", "dev", "veth0")
        ip("-n", name, "addr", "add", "2001:db8::1/64", "dev", "veth0", "nodad")
        ip("-n", name, "addr", "add", "198.51.100.1/24", "dev", "side0")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)


def addresses(ns: str, link: str) -> list[str]:
    data = json.loads(ip("-n", ns, "-j", "addr", "show", "dev", link))
    return [f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"]]


def ip_node(address: str, **extra: str) -> Node:
    attrs = " ".join(f'{k}="{v}"' for k, v in {"sleeptime": "0", **extra}.items())
    tree = build_trees(config_of(f'<service name="s"><ip address="{address}" {attrs}/></service>'))["s"]
    node = tree.find("ip", address)
    assert node is not None
    return node


def ctx() -> AgentContext:
    return AgentContext(timeout=20, node_name="balthasar.localdomain")


def test_add_announce_check_and_remove(netns: str) -> None:
    agent = IpAgent()
    node = ip_node("192.0.2.50")

    def start_and_listen() -> tuple[Any, list[bytes]]:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sniff:
            sniff.bind(("veth1", 0))
            sniff.settimeout(0.5)
            outcome = asyncio.run(agent.start(node, ctx()))
            frames = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(frames) < 2:
                try:
                    frames.append(sniff.recv(128))
                except TimeoutError:
                    pass
        return outcome, frames

    started, frames = in_netns(netns, start_and_listen)
    assert started.ok, started.message
    assert started.message == "192.0.2.50/24 added to veth0; gratuitous ARP sent on veth0"
    assert "192.0.2.50/24" in addresses(netns, "veth0")
    announced = [f for f in frames if f[28:32] == socket.inet_aton("192.0.2.50") and f[38:42] == f[28:32]]
    assert len(announced) == 2 and all(f[:6] == b"\xff" * 6 for f in announced)

    assert run_in(netns, lambda: agent.start(node, ctx())).message == "192.0.2.50 is already configured"
    for depth in (0, 10):
        status = run_in(netns, lambda d=depth: agent.status(node, d, ctx()))  # type: ignore[misc]
        assert status.ok, status.message
    stopped = run_in(netns, lambda: agent.stop(node, ctx()))
    assert stopped.ok and "192.0.2.50/24" not in addresses(netns, "veth0")
    assert run_in(netns, lambda: agent.stop(node, ctx())).message == "192.0.2.50 is not configured"
    gone = run_in(netns, lambda: agent.status(node, 0, ctx()))
    assert (gone.ok, gone.rc) == (False, 7)


def test_explicit_prefix_preferred_interface_and_ipv6(netns: str) -> None:
    agent = IpAgent()
    narrow = ip_node("192.0.2.60/25")
    assert run_in(netns, lambda: agent.start(narrow, ctx())).ok
    assert "192.0.2.60/25" in addresses(netns, "veth0")
    preferred = ip_node("10.9.9.9/16", prefer_interface="side0")
    assert run_in(netns, lambda: agent.start(preferred, ctx())).ok
    assert "10.9.9.9/16" in addresses(netns, "side0")
    six = ip_node("2001:db8::50")
    started = run_in(netns, lambda: agent.start(six, ctx()))
    assert started.ok and started.message.startswith("2001:db8::50/64 added to veth0"), started.message
    assert run_in(netns, lambda: agent.status(six, 10, ctx())).ok
    for node in (narrow, preferred, six):
        assert run_in(netns, lambda n=node: agent.stop(n, ctx())).ok  # type: ignore[misc]
    assert not any(a.startswith(("192.0.2.60", "2001:db8::50")) for a in addresses(netns, "veth0"))


def test_link_monitoring_and_refusals(netns: str) -> None:
    agent = IpAgent()
    node = ip_node("198.51.100.7")
    ip("-n", netns, "link", "set", "side1", "down")  # side0 stays up but loses its carrier
    refused = run_in(netns, lambda: agent.start(node, ctx()))
    assert not refused.ok and refused.message == "no link on side0; not adding 198.51.100.7"
    unmonitored = ip_node("198.51.100.7", monitor_link="0")
    assert run_in(netns, lambda: agent.start(unmonitored, ctx())).ok
    assert run_in(netns, lambda: agent.status(unmonitored, 0, ctx())).ok
    failing = run_in(netns, lambda: agent.status(node, 0, ctx()))  # same address, link monitored
    assert not failing.ok and "no link on side0" in failing.message
    assert run_in(netns, lambda: agent.stop(node, ctx())).ok
    nowhere = run_in(netns, lambda: agent.start(ip_node("203.0.113.9"), ctx()))
    assert not nowhere.ok and nowhere.message == "no interface has a network containing 203.0.113.9"
    bad = run_in(netns, lambda: agent.start(ip_node("10.0.0.1", prefer_interface="eth9"), ctx()))
    assert not bad.ok and bad.message == "interface eth9 does not exist"


def test_sleeptime_pauses_after_removal(netns: str) -> None:
    agent = IpAgent()
    node = ip_node("192.0.2.70", sleeptime="1")
    assert run_in(netns, lambda: agent.start(node, ctx())).ok
    began = time.monotonic()
    assert run_in(netns, lambda: agent.stop(node, ctx())).ok
    assert 1.0 <= time.monotonic() - began < 5


def test_an_ipv6_address_is_announced_by_unsolicited_neighbour_advertisements(netns: str) -> None:
    agent = IpAgent()
    node = ip_node("2001:db8::70")
    mac = json.loads(ip("-n", netns, "-j", "link", "show", "dev", "veth0"))[0]["address"]

    def start_and_listen() -> tuple[Any, list[bytes]]:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DD)) as sniff:
            sniff.bind(("veth1", 0))
            sniff.settimeout(0.5)
            outcome = asyncio.run(agent.start(node, ctx()))
            frames = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(frames) < 2:
                try:
                    frame = sniff.recv(256)
                except TimeoutError:
                    continue
                if frame[20] == 58 and frame[54] == 136:  # ICMPv6, neighbour advertisement
                    frames.append(frame)
        return outcome, frames

    started, frames = in_netns(netns, start_and_listen)
    assert started.message == "2001:db8::70/64 added to veth0; unsolicited neighbour advertisement sent on veth0"
    assert len(frames) == 2, frames
    for frame in frames:
        assert frame[:6] == bytes.fromhex("333300000001")  # all-nodes multicast
        assert frame[21] == 255, "hop limit 255, or receivers must drop it"
        assert frame[58] & 0x20 and not frame[58] & 0xC0, "override set, router and solicited clear"
        assert frame[62:78] == socket.inet_pton(socket.AF_INET6, "2001:db8::70")
        assert frame[78:80] == b"\x02\x01" and frame[80:86] == bytes.fromhex(mac.replace(":", ""))
    assert run_in(netns, lambda: agent.stop(node, ctx())).ok
