"""Types nothing on this machine runs, and application agents whose OCF program is missing: the start fails
at once with what to install or use; nothing is left to stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app_helpers import agent, ctx, node_of, res, tree_of

from quorate.resources import ResourceRunner
from quorate.resources.agents import RUNNABLE, MissingAgent, UnavailableAgent, agent_for, app_apache, app_mysql


def test_types_without_an_agent_say_what_to_use_instead() -> None:
    oracle = node_of("oracledb", name="ora", user="oracle", home="/u01/app/oracle")
    started = asyncio.run(agent_for("oracledb").start(oracle, ctx()))
    assert (started.ok, started.rc) == (False, 5)
    assert started.message == (
        "resource type oracledb: no agent on this machine: install Oracle's agent or use <ocf agent=\"ocf:heartbeat:"
        'oracle" sid=...> with <ocf agent="ocf:heartbeat:oralsnr"> for its listener'
    )
    netfs = node_of("netfs", name="home", host="filer", export="/vol/home", mountpoint="/home", fstype="nfs4")
    assert asyncio.run(agent_for("netfs").start(netfs, ctx())).message == (
        'resource type netfs: no agent on this machine: use <ocf agent="ocf:heartbeat:Filesystem" '
        'device="filer:/vol/home" directory="/home" fstype="nfs4">'
    )
    for rtype in ("orainstance", "oralistener", "ASEHAagent", "drbd", "bind-mount", "clusterfs", "vm"):
        assert isinstance(agent_for(rtype), UnavailableAgent) and rtype not in RUNNABLE
    assert type(agent_for("no-such-type")) is MissingAgent


def test_the_service_of_an_unavailable_type_fails_to_start_and_rolls_back(tmp_path: Path) -> None:
    runner = ResourceRunner(node_name="balthasar.localdomain", rsctmp=str(tmp_path / "rsctmp"))
    tree = tree_of(res("drbd", name="r0", resource="r0"), name="replica")
    outcome = asyncio.run(runner.start_service(tree))
    assert not outcome.ok and not outcome.resources_left
    assert outcome.message.startswith(
        "Failed to start replica: drbd:r0 failed: resource type drbd: no agent on this machine: install the Debian "
        'package drbd-utils and use <ocf agent="ocf:linbit:drbd">'
    )
    assert asyncio.run(runner.stop_service(tree)).ok


def test_a_missing_ocf_program_asks_for_resource_agents(tmp_path: Path) -> None:
    empty_root = str(tmp_path / "ocf")
    apache = agent(app_apache.MAPPING, ocf_root=empty_root)
    started = asyncio.run(apache.start(node_of("apache", name="web"), ctx()))
    assert (started.ok, started.rc) == (False, 5)
    assert started.message == (
        f"OCF agent heartbeat:apache is not installed ({empty_root}/resource.d/heartbeat/apache): "
        "install the Debian package resource-agents"
    )
    status = asyncio.run(agent(app_mysql.MAPPING, ocf_root=empty_root).status(node_of("mysql", name="db"), 0, ctx()))
    assert (status.rc, status.message.endswith("install the Debian package resource-agents")) == (5, True)
    # The runner: start fails, and the stop of what never started here is done: no fencing.
    runner = ResourceRunner(
        node_name="balthasar.localdomain",
        rsctmp=str(tmp_path / "rsctmp"),
        agents={"apache": apache, "service": agent_for("service")},
    )
    outcome = asyncio.run(runner.start_service(tree_of(res("apache", name="web"))))
    assert not outcome.ok and not outcome.resources_left
    assert outcome.message.startswith("Failed to start web: apache:web failed: OCF agent heartbeat:apache is not")
