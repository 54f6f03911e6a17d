"""The lvs agent in a throwaway network namespace: a real nftables table balancing real connections.

The namespace has veth0 (192.0.2.1) and veth1 (192.0.2.2), both local, and the virtual address 192.0.2.160 on
veth0. Two TCP servers, one per address, answer with the address they listen on; a client in the same
namespace connects to the virtual address, so the ``output`` nat hook does the scheduling.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from res_helpers import config_of
from test_res_ip import in_netns, ip, netns  # noqa: F401  (the fixture)

from quorate.config.rgtree import Node
from quorate.resources import build_trees
from quorate.resources.agents import AgentContext
from quorate.resources.agents.lvs import Director, LvsAgent, RealServerAgent, enable_forwarding, live_tables

VIP = "192.0.2.160"
PORT = 8081


def lvs_node(rows: tuple[str, ...] = ("192.0.2.1", "192.0.2.2"), find: tuple[str, str] = ("lvs", "web")) -> Node:
    attrs = 'interval="1" timeout="1" rise="1" fall="1"'
    servers = "".join(f'<realserver address="{row}"/>' for row in rows)
    rm = f'<service name="lb"><lvs name="web" address="{VIP}" port="{PORT}" {attrs}>{servers}</lvs></service>'
    node = build_trees(config_of(rm))["lb"].find(*find)
    assert node is not None
    return node


async def serve(address: str) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(address.encode() + b"\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    return await asyncio.start_server(answer, address, PORT)


async def ask() -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(VIP, PORT), 2)
    line = await asyncio.wait_for(reader.readline(), 2)
    writer.close()
    await writer.wait_closed()
    return line.decode().strip()


def table_exists(ns: str) -> bool:
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "ip", "quorate_lvs_web"],
                          capture_output=True, timeout=20)  # fmt: skip
    return done.returncode == 0


def test_balances_drops_a_dead_server_brings_it_back_and_cleans_up(netns: str) -> None:  # noqa: F811
    ip("-n", netns, "addr", "add", f"{VIP}/24", "dev", "veth0")
    ip("-n", netns, "addr", "add", "192.0.2.2/24", "dev", "veth1")
    agents: dict[str, Director] = {}
    agent = LvsAgent(agents)
    node = lvs_node()
    ctx = AgentContext(timeout=20, node_name="balthasar.localdomain")

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        one, two = await serve("192.0.2.1"), await serve("192.0.2.2")
        started = await agent.start(node, ctx)
        seen["start"] = started
        seen["status"] = await agent.status(node, 0, ctx)
        seen["both"] = [await ask() for _ in range(6)]
        two.close()
        await two.wait_closed()
        await asyncio.sleep(2.5)  # interval 1 x fall 1, plus a round in flight
        seen["one"] = [await ask() for _ in range(4)]
        seen["table"] = await agents["web"].table()
        two = await serve("192.0.2.2")
        await asyncio.sleep(2.5)
        seen["back"] = sorted({await ask() for _ in range(4)})
        seen["stop"] = await agent.stop(node, ctx)
        seen["after"] = await agent.status(node, 0, ctx)
        seen["again"] = await agent.stop(node, ctx)
        one.close()
        two.close()
        return seen

    seen = in_netns(netns, lambda: asyncio.run(scenario()))
    start = seen["start"]
    assert start.ok and "over 2 of 2 real servers" in start.message and "plane nftables" in start.message, start
    assert seen["status"].ok
    assert seen["both"] == ["192.0.2.1", "192.0.2.2"] * 3
    assert seen["one"] == ["192.0.2.1"] * 4
    table = seen["table"]
    assert isinstance(table, dict)
    rows = {r["address"]: r for r in table["realservers"]}
    assert rows["192.0.2.2"]["healthy"] is False and rows["192.0.2.2"]["reason"] == "connection refused"
    assert rows["192.0.2.1"]["conns"] == 7 and rows["192.0.2.2"]["conns"] == 3  # 3 + 4, and 3
    assert rows["192.0.2.1"]["in_packets"] > 0 and rows["192.0.2.1"]["out_bytes"] > 0
    assert seen["back"] == ["192.0.2.1", "192.0.2.2"]
    assert seen["stop"].ok and not seen["after"].ok and seen["after"].rc == 7
    assert seen["again"].ok
    assert not table_exists(netns) and agents == {}
    assert asyncio.run(live_tables()) == []


def test_a_reconfiguration_adds_and_removes_real_servers_of_the_running_director(netns: str) -> None:  # noqa: F811
    ip("-n", netns, "addr", "add", f"{VIP}/24", "dev", "veth0")
    ip("-n", netns, "addr", "add", "192.0.2.2/24", "dev", "veth1")
    agents: dict[str, Director] = {}
    lvs, rows = LvsAgent(agents), RealServerAgent(agents)
    first = lvs_node(("192.0.2.1",))
    added = lvs_node(("192.0.2.1", "192.0.2.2"), ("realserver", "192.0.2.2"))
    dropped = lvs_node(("192.0.2.1", "192.0.2.2"), ("realserver", "192.0.2.1"))
    ctx = AgentContext(timeout=20, node_name="balthasar.localdomain")

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        one, two = await serve("192.0.2.1"), await serve("192.0.2.2")
        seen["idle"] = await rows.start(added, ctx)  # no director yet: nothing to do
        assert (await lvs.start(first, ctx)).ok
        seen["alone"] = {await ask() for _ in range(4)}
        seen["add"] = await rows.start(added, ctx)
        seen["both"] = sorted({await ask() for _ in range(4)})
        seen["drop"] = await rows.stop(dropped, ctx)
        seen["left"] = {await ask() for _ in range(4)}
        seen["servers"] = [s.label for s in agents["web"].vs.servers]
        assert (await lvs.stop(first, ctx)).ok
        one.close()
        two.close()
        return seen

    seen = in_netns(netns, lambda: asyncio.run(scenario()))
    assert seen["idle"].ok and "not running here" in seen["idle"].message
    assert seen["alone"] == {"192.0.2.1"}
    assert seen["add"].ok and seen["add"].message == f"realserver 192.0.2.2:{PORT} added to web: in rotation"
    assert seen["both"] == ["192.0.2.1", "192.0.2.2"]
    assert seen["drop"].ok and seen["drop"].message == f"realserver 192.0.2.1:{PORT} removed from web"
    assert seen["left"] == {"192.0.2.2"} and seen["servers"] == [f"192.0.2.2:{PORT}"]


@pytest.mark.parametrize(("family", "said"), [("ip", "IPv4"), ("ip6", "IPv6")])
def test_forwarding_of_the_virtual_address_family_is_turned_on_once(family: str, said: str, tmp_path: Path) -> None:
    switch = tmp_path / "forwarding"
    switch.write_text("0\n")
    assert enable_forwarding(family, str(switch)) == f"{said} forwarding turned on"
    assert switch.read_text() == "1\n"
    assert enable_forwarding(family, str(switch)) == "forwarding on"
    assert enable_forwarding(family, str(tmp_path / "absent" / "x")).startswith(f"could not enable {said} forwarding")
