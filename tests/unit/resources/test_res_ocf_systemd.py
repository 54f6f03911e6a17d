"""OCF agents of Debian's resource-agents (Dummy), a home-made OCF agent, systemd, and types without an agent."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from res_helpers import config_of

from quorate.config import ClusterConfig, Resource, Service
from quorate.config.rgtree import Node, ServiceTree
from quorate.resources import ResourceRunner, build_trees
from quorate.resources.agents import AgentContext, MissingAgent, OcfAgent, SystemdAgent
from quorate.resources.agents.ocf import parse_agent, parse_metadata


def hand_tree(*children: Resource, name: str = "s") -> ServiceTree:
    base = config_of("")
    rm = type(base.rm)(services=(Service(name, attrs=(("name", name),), children=children),))
    config = ClusterConfig(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "rm": rm})
    return build_trees(config)[name]


def ocf_node(agent: str, name: str = "d1", **params: str) -> Node:
    tree = hand_tree(Resource("ocf", (("name", name), ("agent", agent), *params.items())))
    return tree.root.children[0]


def ctx(tmp_path: Path, timeout: float = 20) -> AgentContext:
    return AgentContext(timeout=timeout, node_name="balthasar.localdomain", rsctmp=str(tmp_path / "rsctmp"))


def test_heartbeat_dummy_lifecycle(tmp_path: Path) -> None:
    agent = OcfAgent()
    node = ocf_node("ocf:heartbeat:Dummy", fake="abc")
    probe = asyncio.run(agent.status(node, 0, ctx(tmp_path)))
    assert (probe.ok, probe.rc) == (False, 7) and probe.message == "heartbeat:Dummy monitor: not running"
    assert asyncio.run(agent.start(node, ctx(tmp_path))).ok
    state = tmp_path / "rsctmp" / "Dummy-d1.state"  # HA_RSCTMP created, instance name = resource name
    assert state.exists()
    assert asyncio.run(agent.status(node, 0, ctx(tmp_path))).ok
    assert asyncio.run(agent.start(node, ctx(tmp_path))).ok
    assert asyncio.run(agent.stop(node, ctx(tmp_path))).ok
    assert not state.exists()
    assert asyncio.run(agent.status(node, 0, ctx(tmp_path))).rc == 7
    assert asyncio.run(agent.stop(node, ctx(tmp_path))).ok


def test_actions_come_from_the_agents_meta_data(tmp_path: Path) -> None:
    actions = asyncio.run(OcfAgent().actions(ocf_node("heartbeat:Dummy")))
    table = {(a.name, a.depth): (a.timeout, a.interval) for a in actions}
    assert table == {("start", 0): (20, 0), ("stop", 0): (20, 0), ("status", 0): (20, 10)}
    xml = (
        '<resource-agent><actions><action name="monitor" depth="10" timeout="1m" interval="500ms"/>'
        "</actions></resource-agent>"
    )
    assert [(a.name, a.depth, a.timeout, a.interval) for a in parse_metadata(xml)] == [("status", 10, 60, 1)]
    assert parse_agent("ocf:heartbeat:IPaddr2") == ("heartbeat", "IPaddr2")
    assert parse_agent("pacemaker:Stateful") == ("pacemaker", "Stateful")
    assert parse_agent("Dummy") == ("heartbeat", "Dummy")
    assert parse_agent("a:b:c:d") is None


FAILING = """#!/bin/sh
case "$1" in
meta-data)
    echo '<resource-agent name="Broken"><actions><action name="start" timeout="7s"/></actions></resource-agent>'
    exit 0 ;;
start)
    echo "ocf-exit-reason:disk on fire ($OCF_RESKEY_colour, $OCF_RESOURCE_INSTANCE, $OCF_RESKEY_CRM_meta_timeout)" >&2
    exit 6 ;;
monitor) exit 1 ;;
stop) exit 0 ;;
esac
exit 3
"""


def test_exit_reason_and_codes_of_a_home_made_agent(tmp_path: Path) -> None:
    root = tmp_path / "ocf"
    program = root / "resource.d" / "acme" / "Broken"
    program.parent.mkdir(parents=True)
    program.write_text(FAILING)
    program.chmod(0o755)
    agent = OcfAgent(ocf_root=str(root))
    node = ocf_node("ocf:acme:Broken", name="b", colour="red")
    started = asyncio.run(agent.start(node, ctx(tmp_path, timeout=7)))
    assert (started.ok, started.rc) == (False, 6)
    assert started.message == "acme:Broken start returned 6 (program not configured): disk on fire (red, b, 7000)"
    status = asyncio.run(agent.status(node, 0, ctx(tmp_path)))
    assert (status.ok, status.rc) == (False, 1) and "generic error" in status.message
    assert [(a.name, a.timeout) for a in asyncio.run(agent.actions(node))] == [("start", 7)]


def test_missing_or_malformed_ocf_agent(tmp_path: Path) -> None:
    agent = OcfAgent()
    missing = asyncio.run(agent.start(ocf_node("ocf:heartbeat:NoSuchAgent"), ctx(tmp_path)))
    assert (missing.ok, missing.rc) == (False, 5) and "is not installed" in missing.message
    malformed = asyncio.run(agent.start(ocf_node("x:y:z:w"), ctx(tmp_path)))
    assert (malformed.ok, malformed.rc) == (False, 2)
    # Stop of a missing agent on a resource never started here: success (stop-before-start on a bare node).
    runner = ResourceRunner(node_name="balthasar.localdomain", rsctmp=str(tmp_path / "r"))
    tree = hand_tree(Resource("ocf", (("name", "x"), ("agent", "heartbeat:NoSuchAgent"))))
    assert asyncio.run(runner.stop_service(tree)).ok


def systemd_node(unit: str | None = "nginx") -> Node:
    attrs = (("name", "web"),) + ((("unit", unit),) if unit else ())
    return hand_tree(Resource("systemd", attrs)).root.children[0]


def test_systemd_not_pid_1_is_said_clearly(tmp_path: Path) -> None:
    agent = SystemdAgent()  # this machine's PID 1 is not systemd
    started = asyncio.run(agent.start(systemd_node(), ctx(tmp_path)))
    assert (started.ok, started.rc) == (False, 5)
    assert started.message.startswith("systemd is not running as PID 1 on this node (PID 1 is ")
    assert started.message.endswith("): cannot start nginx.service")
    assert asyncio.run(agent.stop(systemd_node(), ctx(tmp_path))).ok
    assert not asyncio.run(agent.status(systemd_node(None), 0, ctx(tmp_path))).ok


def test_systemd_with_a_fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls"
    (bindir / "systemctl").write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n[ "$1" = is-active ] && {{ echo inactive; exit 3; }}\nexit 0\n'
    )
    (bindir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    agent = SystemdAgent(booted=lambda: True)
    assert asyncio.run(agent.start(systemd_node("web.socket"), ctx(tmp_path))).ok
    status = asyncio.run(agent.status(systemd_node(), 0, ctx(tmp_path)))
    assert (status.ok, status.rc, status.message) == (False, 7, "nginx.service is inactive")
    assert asyncio.run(agent.stop(systemd_node(), ctx(tmp_path))).ok
    assert log.read_text().splitlines() == ["start web.socket", "is-active nginx.service", "stop nginx.service"]


def test_a_type_without_agent_fails_to_start_and_the_service_is_rolled_back(tmp_path: Path) -> None:
    assert asyncio.run(MissingAgent("apache").start(systemd_node(), ctx(tmp_path))).message == (
        "no agent for resource type apache"
    )
    runner = ResourceRunner(node_name="balthasar.localdomain", rsctmp=str(tmp_path / "r"))
    tree = hand_tree(
        Resource("ocf", (("name", "d"), ("agent", "ocf:heartbeat:Dummy"))),
        Resource("webfarm", (("name", "httpd"),)),  # a type quorate has no agent for (apache has one)
        name="web",
    )
    outcome = asyncio.run(runner.start_service(tree))
    assert not outcome.ok and outcome.failed is not None and outcome.failed.label == "webfarm:httpd"
    assert outcome.message.startswith("Failed to start web: webfarm:httpd failed: no agent for resource type webfarm")
    assert [str(s).split(":")[0] for s in outcome.rollback] == ["[stop] webfarm", "[stop] ocf", "[stop] service"]
    assert not (tmp_path / "r" / "Dummy-d.state").exists()
    assert asyncio.run(runner.stop_service(tree)).ok  # stop of a type without agent: nothing can run


def test_an_agents_error_lines_come_before_its_generic_exit_reason() -> None:
    from quorate.resources.agents.base import summary

    said = (
        "apache(web)[812]: INFO: checking\n"
        "apache(web)[812]: ERROR: cannot create /run/apache2-web (does not start with /var/run)\n"
        "ocf-exit-reason:environment is invalid, resource considered stopped\n"
    )
    assert summary(said) == (
        "cannot create /run/apache2-web (does not start with /var/run) / "
        "environment is invalid, resource considered stopped"
    )
    # ocf_exit_reason also logs its text as an ERROR line: said once
    assert summary("ocf-exit-reason:disk on fire\nDummy[3]: ERROR: disk on fire\n") == "disk on fire"
    assert summary("one\ntwo\nthree\n") == "two / three"
