"""``<nfsserver>``, ``<nfsexport>`` and ``<nfsclient>``: Debian's ``nfsserver`` and ``exportfs`` OCF agents.

rgmanager modelled an export as a tree: ``<fs mountpoint fsid>`` holds an ``<nfsexport>``, which holds one
``<nfsclient>`` per client (``target``) with its export options. The ``path`` and ``fsid`` of a client are
inherited from the export above it, whose ``path`` is the file system's ``mountpoint``. Debian's ``exportfs``
agent exports one directory to one client specification, so each ``<nfsclient>`` is one ``exportfs``
instance, and ``<nfsexport>`` itself runs nothing: its clients do the exporting.

``<nfsclient>`` → ``ocf:heartbeat:exportfs``:

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    path                 directory (inherited: the nfsexport's path, the fs's mountpoint; required)
    target               clientspec (required)
    options              options (none: exportfs's ro; the same)
    fsid                 fsid: an fsid= inside options wins, as in rgmanager, else the attribute
                         (inherited from the fs; required here, optional in rgmanager)
    allow_recover, use_cache, svcname, service_name: no equivalent; passed as is, unused

An export must have an ``fsid``: clients identify files by it, and without a fixed one their handles go
stale when the service moves. rgmanager let the kernel pick one; Debian's agent refuses, and so does the
start here, with a message saying to set ``fsid`` on the ``<fs>``.

``<nfsserver>`` → ``ocf:heartbeat:nfsserver``:

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    path, nfspath        nfs_shared_infodir: <path>/<nfspath>, the NFS state kept on the shared file system
                         (path inherited from the fs's mountpoint; nfspath .clumanager/nfs, the same)
    its <ip> children    nfs_ip: their addresses, comma-separated, without prefix length (for the reboot
                         notifications)
    statdport, krbhost   no equivalent (/etc/default/nfs-common sets statd's port)

``<nfsexport>``: start, stop and status succeed without running anything. rgmanager's nfsexport also started
the host's NFS daemons when they were down; here use an ``<nfsserver>`` in the service, or keep Debian's
``nfs-kernel-server`` running on every node.
"""

from __future__ import annotations

import os

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host, MappingProblem, no_words, value
from quorate.resources.agents.base import Agent, AgentContext, AgentOutcome, success

DEFAULT_NFSPATH = ".clumanager/nfs"


def option_fsid(options: str) -> str | None:
    """The ``fsid=`` among export options, if any."""
    for option in options.split(","):
        key, _, setting = option.strip().partition("=")
        if key == "fsid" and setting:
            return setting
    return None


def client_parameters(res: Node, host: Host) -> dict[str, str]:
    directory = value(res, "path")
    if directory is None:
        raise MappingProblem("no path to export: put the nfsclient in an <nfsexport> under an <fs>, or set path")
    target = value(res, "target")
    if target is None:
        raise MappingProblem("no target: say which clients may mount the export (host, network, @netgroup, *)")
    options = value(res, "options") or ""
    fsid = option_fsid(options) or value(res, "fsid")
    if fsid is None:
        raise MappingProblem(
            f"the export of {directory} has no fsid: set fsid on the <fs> (or on the nfsexport or nfsclient), "
            "the same on every node, so that clients keep their file handles when the service moves"
        )
    params = {"directory": no_words(res, "path", directory), "clientspec": target, "fsid": fsid}
    if options:
        params["options"] = options
    return params


def server_parameters(res: Node, host: Host) -> dict[str, str]:
    path = value(res, "path")
    if path is None:
        raise MappingProblem("no path for the NFS state: put the nfsserver under an <fs>, or set path")
    infodir = os.path.join(path, value(res, "nfspath") or DEFAULT_NFSPATH)
    params = {"nfs_shared_infodir": no_words(res, "path", infodir)}
    addresses = [child.primary.split("/", 1)[0] for child in res.children if child.type == "ip" and child.primary]
    if addresses:
        params["nfs_ip"] = ",".join(addresses)
    return params


class NfsExportAgent(Agent):
    """``<nfsexport>``: a container; its ``<nfsclient>`` children export (each runs ``exportfs``)."""

    type = "nfsexport"

    def _said(self, res: Node) -> AgentOutcome:
        return success(f"nfsexport {res.primary}: its nfsclient resources do the exporting")

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return self._said(res)

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return self._said(res)

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return self._said(res)


MAPPINGS = (
    AppMapping("nfsclient", "exportfs", client_parameters, reads=frozenset({"path", "target", "options", "fsid"})),
    AppMapping("nfsserver", "nfsserver", server_parameters, reads=frozenset({"path", "nfspath"})),
)
