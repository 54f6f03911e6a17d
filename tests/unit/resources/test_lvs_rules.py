"""The lvs data plane as text, the rise/fall hysteresis, and the health checks against live sockets (no root)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from res_helpers import config_of

from quorate.resources import build_trees
from quorate.resources.agents.lvs_checks import Hysteresis, check, check_http, check_tcp
from quorate.resources.agents.lvs_rules import (
    LvsConfigError,
    RealServer,
    VirtualService,
    parse_counters,
    removal,
    rotation,
    ruleset,
    table_name,
    virtual_service,
)

A, B, C = RealServer("192.168.0.201", 80, 2), RealServer("192.168.0.202", 8080, 1), RealServer("192.168.0.203", 80, 0)


def vs(**extra: object) -> VirtualService:
    fields: dict[str, object] = {"name": "web", "address": "192.168.0.160", "port": 80, "servers": (A, B, C)}
    fields.update(extra)
    return VirtualService(**fields)  # type: ignore[arg-type]


def test_the_tree_node_becomes_a_virtual_service_with_defaults_and_inherited_ports() -> None:
    rm = (
        '<service name="lb"><lvs name="web" address="192.168.0.160" port="80" scheduler="wrr" check="http" '
        'fall="3"><realserver address="192.168.0.201" weight="2"/><realserver address="192.168.0.202" '
        'port="8080"/></lvs></service>'
    )
    node = build_trees(config_of(rm))["lb"].find("lvs", "web")
    assert node is not None
    made = virtual_service(node)
    assert made.servers == (RealServer("192.168.0.201", 80, 2), RealServer("192.168.0.202", 8080, 1))
    assert (made.scheduler, made.check, made.fall, made.rise) == ("wrr", "http", 3, 2)
    assert (made.interval, made.timeout) == (2, 1)
    assert (made.path, made.expect, made.protocol, made.persistence) == ("/", 200, "tcp", 0)


def test_a_virtual_service_without_real_servers_is_refused_by_the_agent_too() -> None:
    # The configuration loader refuses this first; the agent must not build an empty map if handed one.
    from quorate.config.rgtree import Node

    node = Node("lvs", "web", {"name": "web", "address": "192.168.0.160", "port": "80"}, 1, (0,), "lb")
    with pytest.raises(LvsConfigError, match="no realserver"):
        virtual_service(node)


def test_round_robin_lists_each_live_server_once_and_skips_weight_zero() -> None:
    assert rotation(vs(), [A, B, C]) == [A, B]
    assert rotation(vs(), [B]) == [B]
    assert rotation(vs(), [C]) == []


def test_weighted_round_robin_repeats_by_weight_interleaved() -> None:
    four = RealServer("10.0.0.4", 80, 4)
    six = RealServer("10.0.0.6", 80, 6)
    order = rotation(vs(scheduler="wrr", servers=(four, six)), [four, six])
    assert Counter(order) == {four: 2, six: 3}  # 4:6 reduced to 2:3
    assert order != sorted(order, key=lambda s: s.address)  # not two blocks
    assert rotation(vs(scheduler="wrr"), [A, B]) == [A, B, A]


def test_round_robin_map_and_masquerade_towards_every_real_server() -> None:
    text = ruleset(vs(), [A, B], fresh=True)
    assert text.startswith("table ip quorate_lvs_web\ndelete table ip quorate_lvs_web\n")
    dnat = (
        "ip daddr 192.168.0.160 tcp dport 80 dnat ip addr . port to numgen inc mod 2 "
        "map { 0 : 192.168.0.201 . 80, 1 : 192.168.0.202 . 8080 }"
    )
    assert text.count(dnat) == 2  # prerouting and output
    ours = "ct status dnat meta l4proto tcp ct original ip daddr 192.168.0.160 ct original proto-dst 80"
    for server in (A, B, C):
        assert f"{ours} ip daddr {server.address} tcp dport {server.port} masquerade" in text
    assert f"{ours} jump count_to" in text and f"{ours} jump count_back" in text
    assert 'ct state new ip daddr 192.168.0.202 tcp dport 8080 counter name "rs_192_168_0_202_8080_conns"' in text
    assert 'ip saddr 192.168.0.203 tcp sport 80 counter name "rs_192_168_0_203_80_out"' in text
    assert "counter rs_192_168_0_203_80_out { }" in text


def test_source_hash_and_persistence_use_jhash() -> None:
    assert "jhash ip saddr mod 3" in ruleset(vs(scheduler="sh"), [A, B], fresh=False)
    assert "jhash ip saddr mod 2" in ruleset(vs(persistence=300), [A, B], fresh=False)
    assert "numgen" not in ruleset(vs(scheduler="rr", persistence=300), [A, B], fresh=False)


def test_a_health_change_keeps_the_table_and_its_counters() -> None:
    text = ruleset(vs(protocol="udp"), [B], fresh=False)
    assert "delete table" not in text and "flush table ip quorate_lvs_web" in text
    assert "udp dport 80 dnat ip addr . port to numgen inc mod 1 map { 0 : 192.168.0.202 . 8080 }" in text


def test_no_healthy_server_means_no_dnat_rule() -> None:
    text = ruleset(vs(), [], fresh=False)
    assert "dnat" not in text.replace("ct status dnat", "")


def test_names_and_removal() -> None:
    assert table_name("web-1.a") == "quorate_lvs_web_1_a"
    assert removal(vs()) == "table ip quorate_lvs_web\ndelete table ip quorate_lvs_web\n"


def test_counters_are_read_per_real_server() -> None:
    def counter(name: str, table: str, packets: int, size: int) -> dict[str, object]:
        return {"counter": {"family": "ip", "name": name, "table": table, "packets": packets, "bytes": size}}

    listing = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            counter("rs_192_168_0_202_8080_in", "quorate_lvs_web", 7, 420),
            counter("rs_192_168_0_202_8080_conns", "quorate_lvs_web", 2, 1),
            counter("rs_192_168_0_202_8080_out", "other", 9, 9),
        ]
    }
    seen = parse_counters(vs(), json.dumps(listing))
    assert (seen[B].conns, seen[B].in_packets, seen[B].in_bytes, seen[B].out_packets) == (2, 7, 420, 0)
    assert seen[A].conns == 0 and parse_counters(vs(), "")[A].in_bytes == 0


def test_hysteresis_needs_fall_failures_to_leave_and_rise_passes_to_return() -> None:
    service = vs(rise=2, fall=3)
    health = Hysteresis(service, {A: None, B: "connection refused", C: None})
    assert health.healthy == [A, C]
    assert health.observe(A, "connection refused") is None
    assert health.observe(A, None) is None  # one pass restarts the count
    assert health.observe(A, "timed out") is None and health.observe(A, "timed out") is None
    move = health.observe(A, "connection refused")
    assert move is not None and not move.joins
    assert move.describe(service) == "realserver 192.168.0.201:80 leaves web: 3 failed checks (connection refused)"
    assert health.healthy == [C]
    assert health.observe(B, None) is None
    back = health.observe(B, None)
    assert back is not None and back.describe(service) == "realserver 192.168.0.202:8080 joins web: 2 passed checks"
    assert health.healthy == [B, C]
    # Rows added and removed by a reconfiguration; a removed row's late result is ignored.
    health.add(RealServer("192.168.0.204", 80), "connection refused")
    health.remove(B)
    assert health.healthy == [C]
    assert [s.address[-3:] for s in health.vs.servers] == ["201", "203", "204"]
    assert health.observe(B, "timed out") is None and health.healthy == [C]


class Backend:
    """A TCP server on 127.0.0.1 answering every connection with a fixed first line."""

    def __init__(self, first_line: bytes) -> None:
        self.first_line = first_line
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RealServer:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(self.first_line)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        self.server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return RealServer("127.0.0.1", port)

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_tcp_check_passes_on_a_listener_and_names_a_refusal() -> None:
    async def scenario() -> tuple[str | None, str | None]:
        async with Backend(b"hello\r\n") as server:
            up = await check_tcp(server, 1.0)
        return up, await check_tcp(RealServer("127.0.0.1", free_port()), 1.0)

    up, down = asyncio.run(scenario())
    assert up is None and down == "connection refused"


def test_http_check_compares_the_status_code() -> None:
    async def scenario() -> list[str | None]:
        results = []
        for line in (b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 503 Service Unavailable\r\n", b"SSH-2.0-OpenSSH\r\n"):
            async with Backend(line) as server:
                results.append(await check_http(server, "/", 200, 1.0))
        return results

    assert asyncio.run(scenario()) == [None, "HTTP 503, expected 200", "not an HTTP answer"]


def test_http_check_gives_up_at_the_timeout() -> None:
    async def scenario() -> str | None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the check gives up and closes
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            return await check_http(RealServer("127.0.0.1", port), "/", 200, 0.3)
        finally:
            server.close()

    assert asyncio.run(scenario()) == "no answer within 0.3 s"


def test_script_check_gets_the_server_and_its_exit_status_decides(tmp_path: Path) -> None:
    script = tmp_path / "probe"
    script.write_text('#!/bin/sh\necho "$LVS_NAME $LVS_VIRTUAL $1 $2" > "$0.seen"\n[ "$1" = 192.168.0.201 ] || '
                      '{ echo "port $2 is closed"; exit 3; }\n')  # fmt: skip
    os.chmod(script, 0o755)
    service = vs(check="script", script=str(script))
    assert asyncio.run(check(service, A)) is None
    assert (tmp_path / "probe.seen").read_text() == "web 192.168.0.160:80 192.168.0.201 80\n"
    assert asyncio.run(check(service, B)) == f"{script} exited 3: port 8080 is closed"


def test_an_endless_first_line_is_a_failed_check_not_an_error() -> None:
    async def scenario() -> str | None:
        async with Backend(b"x" * 200_000) as server:
            return await check(vs(check="http", servers=(server,)), server)

    assert asyncio.run(scenario()) == "unusable answer (ValueError)"


V6 = VirtualService(
    name="web6",
    address="fd00:5a::160",
    port=80,
    servers=(RealServer("fd00:5a::201", 80, 2), RealServer("fd00:5a::202", 8080, 1)),
    scheduler="wrr",
)


def test_an_ipv6_virtual_service_gets_an_ip6_table_with_ip6_matches_only() -> None:
    text = ruleset(V6, V6.servers, fresh=True)
    assert "table ip6 quorate_lvs_web6 {" in text and "delete table ip6 quorate_lvs_web6" in text
    assert "ip6 daddr fd00:5a::160 tcp dport 80 dnat ip6 addr . port to numgen inc mod 3 map" in text
    assert "0 : fd00:5a::201 . 80, 1 : fd00:5a::202 . 8080, 2 : fd00:5a::201 . 80" in text
    assert "ct original ip6 daddr fd00:5a::160" in text
    assert 'counter name "rs_fd00_5a__201_80_conns"' in text
    assert " ip daddr" not in text and "table ip " not in text and "jhash ip " not in text
    assert removal(V6) == "table ip6 quorate_lvs_web6\ndelete table ip6 quorate_lvs_web6\n"
    assert V6.label == "[fd00:5a::160]:80" and V6.servers[0].label == "[fd00:5a::201]:80"
    hashed = ruleset(VirtualService("h", "fd00:5a::161", 80, V6.servers, persistence=300), V6.servers, fresh=False)
    assert "jhash ip6 saddr mod 2 seed 0x51" in hashed


@pytest.mark.parametrize("service", [vs(), vs(scheduler="sh"), V6], ids=["ipv4-rr", "ipv4-sh", "ipv6-wrr"])
def test_the_kernel_nftables_accepts_the_rules_as_written(service: VirtualService) -> None:
    # `nft --check` parses and evaluates the whole transaction against this kernel without applying it.
    for text in (ruleset(service, service.servers, fresh=True), ruleset(service, service.servers[:1], fresh=False)):
        done = subprocess.run(["nft", "--check", "-f", "-"], input=text, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"nft refused:\n{done.stderr}\n{text}"


def test_http_check_names_an_ipv6_server_in_brackets_with_its_port() -> None:
    # Apache answers 400 to a Host header holding a bare IPv6 literal: every IPv6 real server would look down.
    async def scenario() -> tuple[str | None, bytes]:
        seen: list[bytes] = []

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "::1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            return await check_http(RealServer("::1", port), "/health", 200, 2.0), seen[0]
        finally:
            server.close()

    failed, request = asyncio.run(scenario())
    assert failed is None
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /health HTTP/1.0"
    assert any(line.startswith("Host: [::1]:") for line in lines), lines
