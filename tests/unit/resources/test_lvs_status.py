"""`quorate lvs`: the control request answered from the director's live table, and the ipvsadm-like listing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from res_helpers import cluster_text

from quorate.cli import client, lvs_cmd
from quorate.node import protocol
from quorate.node.control import ControlServer
from quorate.resources.agents import lvs as lvs_agent
from quorate.resources.agents.lvs_checks import Hysteresis
from quorate.resources.agents.lvs_rules import RealServer, VirtualService

A, B = RealServer("192.168.0.201", 80, 2), RealServer("192.168.0.202", 80, 1)
WEB = VirtualService("web", "192.168.0.160", 80, (A, B), scheduler="wrr", check="http")


def table(**changes: Any) -> dict[str, Any]:
    rows = [
        {"address": A.address, "port": 80, "weight": 2, "healthy": True, "reason": "", "conns": 200,
         "in_packets": 1400, "out_packets": 1200, "in_bytes": 123456, "out_bytes": 98765432},
        {"address": B.address, "port": 80, "weight": 1, "healthy": False, "reason": "connection refused",
         "conns": 100, "in_packets": 700, "out_packets": 600, "in_bytes": 61000, "out_bytes": 4000},
    ]  # fmt: skip
    found = {"name": "web", "protocol": "tcp", "address": WEB.address, "port": 80, "scheduler": "wrr",
             "persistence": 0, "check": "http", "plane": "nftables (no IPVS in this kernel)", "since": 0.0,
             "checking": True, "error": "", "realservers": rows}  # fmt: skip
    found.update(changes)
    return found


def test_the_listing_follows_ipvsadm_stats_layout_with_weight_and_health() -> None:
    lines = lvs_cmd.render("casper.localdomain", [table()]).splitlines()
    assert lines[0] == "quorate load balancer on casper.localdomain"
    assert lines[1] == "data plane: nftables (no IPVS in this kernel)"
    assert lines[2].split() == ["Prot", "LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]
    assert lines[3].split() == ["->", "RemoteAddress:Port", "Weight", "Health"]
    assert lines[4].split()[:8] == ["TCP", "192.168.0.160:80", "wrr", "300", "2100", "1800", "184K", "98769K"]
    assert lines[5].split() == ["->", "192.168.0.201:80", "200", "1400", "1200", "123K", "98765K", "2", "up"]
    assert lines[6].split()[-4:] == ["1", "DOWN", "(connection", "refused)"]
    # Columns line up under the header, as in ipvsadm.
    assert lines[4].index("300") + 3 == lines[2].index("Conns") + 5


def test_short_numbers_as_ipvsadm_prints_them() -> None:
    shown = [lvs_cmd.large(n) for n in (0, 99999, 100000, 2110000000, 10**15)]
    assert shown == ["0", "99999", "100K", "2110M", "1000T"]


def test_the_control_socket_answers_with_the_directors_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    director = lvs_agent.Director(WEB, Hysteresis(WEB, {A: None, B: "connection refused"}), "nftables (test)")
    monkeypatch.setitem(lvs_agent.DIRECTORS, "web", director)

    async def refuse(request: protocol.Request) -> Any:
        return protocol.Answer(False, error="not this one")

    async def ask() -> dict[str, Any]:
        server = ControlServer(tmp_path / "q.sock", refuse)
        await server.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "q.sock"))
            writer.write(protocol.request_line(protocol.make_request("lvs")))
            answer: dict[str, Any] = json.loads(await reader.readline())
            writer.close()
            await writer.wait_closed()
            return answer
        finally:
            await server.close()

    answer = asyncio.run(ask())
    assert answer["ok"] is True and [t["name"] for t in answer["directors"]] == ["web"]
    got = answer["directors"][0]
    assert (got["plane"], got["scheduler"], got["check"], got["checking"]) == ("nftables (test)", "wrr", "http", False)
    assert [(r["address"], r["weight"], r["healthy"], r["reason"]) for r in got["realservers"]] == [
        ("192.168.0.201", 2, True, ""),
        ("192.168.0.202", 1, False, "connection refused"),
    ]


def test_a_member_that_directs_nothing_names_the_director(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text(
        cluster_text(
            '<service name="lb"><ip address="192.168.0.160/24"/><lvs name="web" address="192.168.0.160" port="80">'
            '<realserver address="192.168.0.201"/></lvs></service>'
            '<service name="lb2"><lvs name="dns" address="192.168.0.161" port="53" protocol="udp" check="script" '
            'script="/bin/true">'
            '<realserver address="192.168.0.202"/></lvs></service>'
        )
    )
    status = {
        "node_name": "balthasar.localdomain",
        "config_file": str(conf),
        "services": [
            {"name": "lb", "state": "started", "owner": "casper.localdomain"},
            {"name": "lb2", "state": "stopped", "owner": "none"},
        ],
    }
    monkeypatch.setattr(client, "request", lambda cmd, **args: {"ok": True, "directors": []})
    monkeypatch.setattr(client, "status", lambda: status)
    out = CliRunner().invoke(lvs_cmd.lvs, []).output.splitlines()
    assert out == [
        "balthasar.localdomain directs no virtual service",
        "web (192.168.0.160:80, service lb): directed by casper.localdomain; run quorate lvs there",
        "dns (192.168.0.161:53, service lb2): no director, the service is stopped",
    ]
    doc = json.loads(CliRunner().invoke(lvs_cmd.lvs, ["--json"]).output)
    assert doc["directors"] == [] and doc["elsewhere"][0]["director"] == "casper.localdomain"


def test_an_unreadable_configuration_is_said_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status = {"node_name": "casper.localdomain", "config_file": str(tmp_path / "gone.conf"), "services": []}
    monkeypatch.setattr(client, "request", lambda cmd, **args: {"ok": True, "directors": []})
    monkeypatch.setattr(client, "status", lambda: status)
    result = CliRunner().invoke(lvs_cmd.lvs, [])
    assert result.exit_code == 1
    assert "casper.localdomain directs no virtual service, and the configuration cannot be read" in result.output
    assert "gone.conf" in result.output
