"""What each rgmanager resource type requires, keeps unique, and accepts as children.

Theory of operation: rgmanager learns these rules at run time from each agent's meta-data (spec R-80); quorate
ships its own agents, so it states the rules once, here, for the validator (uniqueness C-31, reference limits
C-33, required attributes C-30) and for the resource-tree engine (start/stop levels R-71).

Child rules. The spec gives rgmanager's declared child types: the service type lists every type with start
and stop levels (R-71), ``fs`` declares fs, clusterfs and nfsexport, ``ip`` forbids nfsexport and nfsclient,
``lvm`` and ``script`` declare none. rgmanager accepts other ("untyped") children almost anywhere; quorate is
stricter where nesting has no meaning, so a misplaced resource is reported instead of started in a surprising
order:

* under a ``service``: every type;
* under ``lvm``: what lives on a volume or uses it: fs, clusterfs, netfs, ip, script, nfsexport, nfsclient;
* under ``fs``/``clusterfs``: fs, clusterfs, nfsexport (declared) and netfs, ip, script (untyped);
* under ``netfs``: fs, netfs, nfsexport, ip, script;
* under ``nfsexport``: nfsclient, ip, script; under ``nfsclient``: script;
* under ``ip``: fs, clusterfs, netfs, script (not nfsexport/nfsclient, which the ip agent forbids);
* under ``script``: nothing, because a script has no resources of its own to order children against.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str
    primary: str
    required: tuple[str, ...]
    unique: tuple[str, ...] = ()
    # None = any number of tree nodes may use one resource; 1 = it can appear only once (spec C-33).
    maxinstances: int | None = None
    children: frozenset[str] = frozenset()
    # What the required attributes mean, for messages.
    describe: tuple[tuple[str, str], ...] = ()


RESOURCE_TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "fs",
            primary="name",
            required=("name", "device", "mountpoint"),
            unique=("device", "mountpoint"),
            maxinstances=1,
            children=frozenset({"fs", "clusterfs", "nfsexport", "netfs", "ip", "script"}),
            describe=(("device", "the block device, LABEL= or UUID= to mount"), ("mountpoint", "where to mount it")),
        ),
        ResourceType(
            "clusterfs",
            primary="name",
            required=("name", "device", "mountpoint"),
            children=frozenset({"fs", "clusterfs", "nfsexport", "netfs", "ip", "script"}),
            describe=(("device", "the shared block device"), ("mountpoint", "where to mount it")),
        ),
        ResourceType(
            "netfs",
            primary="name",
            required=("name", "mountpoint", "host", "export"),
            children=frozenset({"fs", "netfs", "nfsexport", "ip", "script"}),
            describe=(("host", "the file server"), ("export", "the exported path")),
        ),
        ResourceType(
            "lvm",
            primary="name",
            required=("name", "vg_name"),
            maxinstances=1,
            children=frozenset({"fs", "clusterfs", "netfs", "ip", "script", "nfsexport", "nfsclient"}),
            describe=(("vg_name", "the volume group to activate"),),
        ),
        ResourceType(
            "script",
            primary="name",
            required=("name", "file"),
            unique=("name", "file"),
            describe=(("file", "the path of the LSB init script"),),
        ),
        ResourceType(
            "ip",
            primary="address",
            required=("address",),
            unique=("address",),
            maxinstances=1,
            children=frozenset({"fs", "clusterfs", "netfs", "script"}),
            describe=(("address", "a.b.c.d/prefix"),),
        ),
        ResourceType(
            "nfsexport",
            primary="name",
            required=("name",),
            children=frozenset({"nfsclient", "ip", "script"}),
        ),
        ResourceType(
            "nfsclient",
            primary="name",
            required=("name", "target"),
            children=frozenset({"script"}),
            describe=(("target", "the hosts allowed to mount"),),
        ),
    )
}

# The service type itself (spec R-71): every resource type is a valid child; levels give start/stop order.
SERVICE_CHILD_LEVELS: dict[str, tuple[int, int]] = {
    "lvm": (1, 9),
    "fs": (2, 8),
    "clusterfs": (3, 7),
    "netfs": (4, 6),
    "nfsexport": (5, 5),
    "nfsclient": (6, 4),
    "ip": (7, 2),
    "smb": (8, 3),
    "script": (9, 1),
}

# Attributes valid on any resource element or reference (spec C-35); only these apply per reference.
SPECIAL_ATTRIBUTES = frozenset(
    {
        "__independent_subtree",
        "__enforce_timeouts",
        "__max_failures",
        "__failure_expire_time",
        "__max_restarts",
        "__restart_expire_time",
    }
)


def allowed_children(parent_type: str) -> frozenset[str]:
    if parent_type == "service":
        return frozenset(RESOURCE_TYPES)
    known = RESOURCE_TYPES.get(parent_type)
    return known.children if known else frozenset()
