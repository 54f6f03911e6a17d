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

quorate's own types (extensions, not RHCS): ``ocf`` runs any OCF resource agent (``agent="ocf:heartbeat:Dummy"``,
every other attribute an agent parameter) and ``systemd`` a systemd unit (``unit``, default ``NAME.service``).
Both are "untyped" children of a service (no start level: they start after the leveled types, in document
order, which is where applications belong). They are accepted wherever ``script`` is, because they play the
same role (an application on top of its storage and address). A ``systemd`` unit, like a script, has no
resources of its own, so it takes no children; an ``ocf`` agent may manage storage or an address
(``ocf:heartbeat:Filesystem``, ``IPaddr2``), so it accepts what ``ip`` accepts plus ocf and systemd. As in
`quorate.resources.catalogue`, ``name`` is primary and unique for both, and a ``systemd`` unit is unique too.
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


# quorate's extension types (module docstring): they go wherever an application script may go.
APPLICATIONS = ("ocf", "systemd")

RESOURCE_TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "fs",
            primary="name",
            required=("name", "device", "mountpoint"),
            unique=("device", "mountpoint"),
            maxinstances=1,
            children=frozenset({"fs", "clusterfs", "nfsexport", "netfs", "ip", "script", *APPLICATIONS}),
            describe=(("device", "the block device, LABEL= or UUID= to mount"), ("mountpoint", "where to mount it")),
        ),
        ResourceType(
            "clusterfs",
            primary="name",
            required=("name", "device", "mountpoint"),
            children=frozenset({"fs", "clusterfs", "nfsexport", "netfs", "ip", "script", *APPLICATIONS}),
            describe=(("device", "the shared block device"), ("mountpoint", "where to mount it")),
        ),
        ResourceType(
            "netfs",
            primary="name",
            required=("name", "mountpoint", "host", "export"),
            children=frozenset({"fs", "netfs", "nfsexport", "ip", "script", *APPLICATIONS}),
            describe=(("host", "the file server"), ("export", "the exported path")),
        ),
        ResourceType(
            "lvm",
            primary="name",
            required=("name", "vg_name"),
            maxinstances=1,
            children=frozenset({"fs", "clusterfs", "netfs", "ip", "script", "nfsexport", "nfsclient", *APPLICATIONS}),
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
            children=frozenset({"fs", "clusterfs", "netfs", "script", *APPLICATIONS}),
            describe=(("address", "a.b.c.d/prefix"),),
        ),
        ResourceType(
            "nfsexport",
            primary="name",
            required=("name",),
            children=frozenset({"nfsclient", "ip", "script", *APPLICATIONS}),
        ),
        ResourceType(
            "nfsclient",
            primary="name",
            required=("name", "target"),
            children=frozenset({"script", *APPLICATIONS}),
            describe=(("target", "the hosts allowed to mount"),),
        ),
        ResourceType(
            "ocf",
            primary="name",
            required=("name", "agent"),
            unique=("name",),
            children=frozenset({"fs", "clusterfs", "netfs", "script", *APPLICATIONS}),
            describe=(("agent", "the OCF agent as ocf:provider:type, e.g. ocf:heartbeat:Dummy"),),
        ),
        ResourceType(
            "systemd",
            primary="name",
            required=("name",),
            unique=("name", "unit"),
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
