"""``<nfsserver>``, ``<nfsexport>``, ``<nfsclient>`` → Debian's nfsserver and exportfs: one exportfs instance
per client, its path and fsid inherited from the export and file system above it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app_helpers import agent, ctx, plan, res, reskeys, tree_of

from quorate.config.rgtree import Node
from quorate.resources import ResourceRunner
from quorate.resources.agents import NfsExportAgent, app_nfs

CLIENT, SERVER = app_nfs.MAPPINGS


def export_tree(fs_fsid: str | None = "42", **client: str) -> list[Node]:
    fs_attrs = {"name": "data", "mountpoint": "/srv/nfs", "device": "/dev/vg0/data"}
    if fs_fsid is not None:
        fs_attrs["fsid"] = fs_fsid
    tree = tree_of(
        res(
            "fs",
            res(
                "nfsexport",
                res("nfsclient", name="lan", target="10.0.0.0/24", options="rw,sync", **client),
                res("nfsclient", name="admin", target="admin.example.com", options="rw,no_root_squash,fsid=7"),
                name="exports",
            ),
            **fs_attrs,
        ),
        name="nfs",
    )
    return [n for n in tree.nodes() if n.type == "nfsclient"]


def test_each_client_is_one_exportfs_instance_with_the_inherited_path_and_fsid() -> None:
    lan, admin = export_tree()
    assert {"path", "fsid"} <= lan.inherited
    call = plan(agent(CLIENT), lan)
    assert call.program.path.endswith("/resource.d/heartbeat/exportfs")
    params = reskeys(call)
    assert (params["directory"], params["clientspec"], params["fsid"]) == ("/srv/nfs", "10.0.0.0/24", "42")
    assert params["options"] == "rw,sync"
    assert (params["service_name"], params["svcname"]) == ("nfs", "nfs")
    assert call.env["OCF_RESOURCE_INSTANCE"] == "lan"
    # fsid= among the options wins over the inherited one, as in rgmanager.
    assert reskeys(plan(agent(CLIENT), admin))["fsid"] == "7"


def test_an_export_without_fsid_is_refused_and_the_service_rolls_back(tmp_path: Path) -> None:
    lan, _admin = export_tree(fs_fsid=None)
    started = asyncio.run(agent(CLIENT).start(lan, ctx()))
    assert (started.ok, started.rc) == (False, 6)
    assert started.message.startswith("nfsclient:lan: the export of /srv/nfs has no fsid: set fsid on the <fs>")
    runner = ResourceRunner(node_name="balthasar.localdomain", rsctmp=str(tmp_path / "rsctmp"))
    tree = tree_of(res("nfsexport", res("nfsclient", name="lan", target="*", path="/srv/x"), name="e"), name="nfs")
    outcome = asyncio.run(runner.start_service(tree))
    assert not outcome.ok and outcome.failed is not None and outcome.failed.label == "nfsclient:lan"
    assert "has no fsid" in outcome.message and not outcome.resources_left
    assert [str(s).split(":")[0] for s in outcome.rollback] == [
        "[stop] nfsclient",
        "[stop] nfsexport",
        "[stop] service",
    ]


def test_a_client_outside_an_export_has_no_path() -> None:
    lone = tree_of(res("nfsclient", name="lan", target="*", fsid="3")).root.children[0]
    started = asyncio.run(agent(CLIENT).start(lone, ctx()))
    assert (started.rc, started.message) == (
        6,
        "nfsclient:lan: no path to export: put the nfsclient in an <nfsexport> under an <fs>, or set path",
    )


def test_nfsserver_keeps_its_state_on_the_file_system_and_announces_its_addresses() -> None:
    tree = tree_of(
        res(
            "fs",
            res("nfsserver", res("ip", address="10.0.0.50/24"), res("ip", address="10.0.0.51"), name="nfsd"),
            name="data",
            mountpoint="/srv/nfs",
            device="/dev/vg0/data",
        ),
        name="nfs",
    )
    server = tree.find("nfsserver", "nfsd")
    assert server is not None
    call = plan(agent(SERVER), server)
    assert call.program.path.endswith("/resource.d/heartbeat/nfsserver")
    params = reskeys(call)
    assert params["nfs_shared_infodir"] == "/srv/nfs/.clumanager/nfs"
    assert params["nfs_ip"] == "10.0.0.50,10.0.0.51"


def test_nfsexport_runs_nothing_itself() -> None:
    export = tree_of(res("nfsexport", name="e", path="/srv/x"), name="nfs").root.children[0]
    for outcome in (
        asyncio.run(NfsExportAgent().start(export, ctx())),
        asyncio.run(NfsExportAgent().status(export, 0, ctx())),
        asyncio.run(NfsExportAgent().stop(export, ctx())),
    ):
        assert (outcome.ok, outcome.message) == (True, "nfsexport e: its nfsclient resources do the exporting")
