"""Every rgmanager resource type, as its agent's meta-data describes it: parameters, child levels, actions.

Theory of operation: rgmanager learns the shape of each resource type at start-up by running
``<agent> meta-data`` (spec R-80) and keeps four things from it: which parameter is the primary key (C-30),
which parameters are inherited from an ancestor (C-34) or may change without a restart (``reconfig``, R-90),
which child types start and stop at which level (R-70/R-71), and the action table (timeouts, status depths and
intervals, R-51). quorate writes those facts down once, here, for *every* type an RHCS cluster.conf may contain,
including the many that quorate has no agent for (apache, mysql, oracledb...): ordering, inheritance and
``rg_test`` output must be right for a configuration even when one of its resources cannot run on this machine.

The values are restated from the meta-data blocks of the original agents (ClusterLabs resource-agents,
``rgmanager/src/resources``); nothing else of them is used. Two types are quorate's own: ``ocf`` (any OCF agent
of Debian's resource-agents, named by ``agent="ocf:heartbeat:Dummy"``; its real action table comes from the
agent's meta-data at run time) and ``systemd`` (a unit managed through systemctl). A type missing from the
catalogue is still placed in trees, as an "untyped" child with primary ``name`` and no status checks.

This module is pure data plus lookups: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600
MAX_LEVEL = 99


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One ``<parameter>``: ``inherit`` is ``"attr"`` (nearest ancestor's attr) or ``"type%attr"``."""

    name: str
    primary: bool = False
    unique: bool = False
    required: bool = False
    inherit: str | None = None
    reconfig: bool = False
    default: str | None = None


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """``<child type start stop forbid>``; levels 0 mean "not leveled" (the child is then untyped)."""

    type: str
    start: int = 0
    stop: int = 0
    forbid: bool = False


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """``<action>``: times in seconds; ``timeout`` 0 means the agent declared none; ``interval`` 0 never runs."""

    name: str
    timeout: int = 0
    interval: int = 0
    depth: int = 0


@dataclass(frozen=True, slots=True)
class TypeSpec:
    name: str
    primary: str
    params: tuple[ParamSpec, ...] = ()
    children: tuple[ChildSpec, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    # None: any number of tree nodes may use one resource (scripts); 1: one use only (spec C-33).
    maxinstances: int | None = None
    root: bool = False
    known: bool = True

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def child(self, child_type: str) -> ChildSpec | None:
        return next((c for c in self.children if c.type == child_type), None)

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)


def _p(name: str, flags: str = "", inherit: str | None = None, default: str | None = None) -> ParamSpec:
    """Compact parameter: flags is a word list of primary/unique/required/reconfig."""
    words = flags.split()
    return ParamSpec(
        name,
        primary="primary" in words,
        unique="unique" in words,
        required="required" in words,
        inherit=inherit,
        reconfig="reconfig" in words,
        default=default,
    )


def _status(*checks: tuple[int, int, int]) -> tuple[ActionSpec, ...]:
    """Status actions from (depth, interval, timeout) triples."""
    return tuple(ActionSpec("status", timeout=t, interval=i, depth=d) for d, i, t in checks)


def _run(start: int, stop: int, *extra: ActionSpec) -> tuple[ActionSpec, ...]:
    return (ActionSpec("start", timeout=start), ActionSpec("stop", timeout=stop), *extra)


_SERVICE_NAME = _p("service_name", inherit="service%name")
_NAMED = _p("name", "primary")
_NAMED_UNIQUE = _p("name", "primary unique")
# The "application" agents (apache.sh, mysql.sh, ...): status every minute, a deeper one every 5 minutes.
_APP_STATUS = _status((0, 60, 10), (10, 300, 30))

_TYPES: tuple[TypeSpec, ...] = (
    TypeSpec(
        "service",
        "name",
        params=(
            _p("name", "primary unique required"),
            # Placement-only settings: changing them must not restart resources. rgmanager marks
            # domain/autostart/exclusive/recovery reconfig; quorate adds the other placement knobs deliberately.
            _p("domain", "reconfig"),
            _p("autostart", "reconfig", default="1"),
            _p("exclusive", "reconfig", default="0"),
            _p("recovery", "reconfig", default="restart"),
            _p("depend", "reconfig"),
            _p("depend_mode", "reconfig"),
            _p("max_restarts", "reconfig", default="0"),
            _p("restart_expire_time", "reconfig", default="0"),
            _p("priority", "reconfig"),
            _p("hardrecovery", "reconfig"),
            _p("nfslock", default="0"),
            _p("nfs_client_cache", default="0"),
        ),
        children=(
            ChildSpec("lvm", 1, 9),
            ChildSpec("fs", 2, 8),
            ChildSpec("clusterfs", 3, 7),
            ChildSpec("netfs", 4, 6),
            ChildSpec("nfsexport", 5, 5),
            ChildSpec("nfsclient", 6, 4),
            ChildSpec("ip", 7, 2),
            ChildSpec("smb", 8, 3),
            ChildSpec("script", 9, 1),
        ),
        actions=(*_run(5, 5, ActionSpec("recover", timeout=5)), *_status((0, HOUR, 5))),
        maxinstances=1,
        root=True,
    ),
    TypeSpec(
        "lvm",
        "name",
        params=(
            _NAMED,
            _p("vg_name", "required"),
            _p("lv_name"),
            _p("self_fence", default="0"),
            _p("nfslock", inherit="service%nfslock"),
        ),
        actions=(*_run(5, 5), *_status((0, HOUR, 5))),
        maxinstances=1,
    ),
    TypeSpec(
        "fs",
        "name",
        params=(
            _NAMED,
            _p("mountpoint", "unique required"),
            _p("device", "unique required"),
            _p("fstype"),
            _p("force_unmount", default="0"),
            _p("quick_status"),
            _p("self_fence", default="0"),
            _p("nfslock", inherit="nfslock"),
            _p("nfsrestart"),
            _p("fsid"),
            _p("force_fsck", default="0"),
            _p("options"),
            _p("use_findmnt"),
        ),
        children=(ChildSpec("fs", 1, 3), ChildSpec("clusterfs", 1, 3), ChildSpec("nfsexport", 3, 1)),
        actions=(*_run(900, 30), *_status((0, 60, 10), (10, 30, 30), (20, 60, 30))),
        maxinstances=1,
    ),
    TypeSpec(
        "clusterfs",
        "name",
        params=(
            _NAMED,
            _p("mountpoint", "unique required"),
            _p("device", "unique required"),
            _p("fstype"),
            _p("force_unmount", default="0"),
            _p("self_fence", default="0"),
            _p("options"),
            _p("fsid"),
            _p("nfslock", inherit="service%nfslock"),
            _p("nfsrestart"),
        ),
        children=(ChildSpec("fs", 1, 3), ChildSpec("clusterfs", 1, 3), ChildSpec("nfsexport", 3, 1)),
        actions=(*_run(900, 30), *_status((0, 60, 10), (10, 300, 30), (20, 600, 30))),
    ),
    TypeSpec(
        "netfs",
        "name",
        params=(
            _NAMED,
            _p("mountpoint", "unique required"),
            _p("host", "required"),
            _p("export", "required"),
            _p("fstype"),
            _p("options"),
            _p("no_unmount"),
            _p("force_unmount", default="0"),
            _p("self_fence", default="0"),
        ),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient", forbid=True)),
        actions=(*_run(900, 30), *_status((0, 60, 10), (10, 300, 30), (20, 600, 30))),
    ),
    TypeSpec(
        "nfsexport",
        "name",
        params=(_NAMED, _p("device", inherit="device"), _p("path", inherit="mountpoint"), _p("fsid", inherit="fsid")),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient")),
        actions=(*_run(5, 5, ActionSpec("recover", timeout=5)), *_status((0, HOUR, 5))),
    ),
    TypeSpec(
        "nfsclient",
        "name",
        params=(
            _NAMED_UNIQUE,
            _p("target", "required"),
            _p("path", inherit="path"),
            _p("svcname", inherit="service%name"),
            _p("fsid", inherit="fsid"),
            _p("options"),
            _p("allow_recover"),
            _SERVICE_NAME,
            _p("use_cache", inherit="service%nfs_client_cache"),
        ),
        actions=(*_run(90, 5, ActionSpec("recover", timeout=90)), *_status((0, 60, 5))),
    ),
    TypeSpec(
        "nfsserver",
        "name",
        params=(_NAMED, _p("path", inherit="mountpoint")),
        children=(
            ChildSpec("nfsexport", forbid=True),
            ChildSpec("nfsserver", forbid=True),
            ChildSpec("nfsclient", 1, 2),
            ChildSpec("ip", 2, 1),
        ),
        actions=(*_run(5, 5, ActionSpec("recover", timeout=5)), *_status((0, 30, 5))),
        maxinstances=1,
    ),
    TypeSpec(
        "ip",
        "address",
        params=(
            _p("address", "primary unique"),
            _p("family"),
            _p("monitor_link", default="1"),
            _p("nfslock", inherit="service%nfslock"),
            _p("sleeptime", default="10"),
            _p("disable_rdisc"),
            _p("prefer_interface"),
        ),
        children=(ChildSpec("nfsclient", forbid=True), ChildSpec("nfsexport", forbid=True)),
        actions=(*_run(20, 20), *_status((0, 20, 10), (10, 60, 20))),
        maxinstances=1,
    ),
    TypeSpec(
        "script",
        "name",
        params=(_NAMED_UNIQUE, _p("file", "unique required"), _SERVICE_NAME),
        actions=(*_run(0, 0), *_status((0, 30, 0))),
    ),
    TypeSpec(
        "smb",
        "name",
        params=(_NAMED_UNIQUE, _p("workgroup"), _SERVICE_NAME),
        actions=(*_run(0, 0), *_status((0, 30, 0))),
    ),
    TypeSpec("samba", "name", params=(_NAMED_UNIQUE, _SERVICE_NAME), actions=(*_run(0, 0), *_status((0, 30, 0)))),
    *(
        TypeSpec(app, "name", params=(_NAMED, _SERVICE_NAME), actions=(*_run(start, start), *_APP_STATUS))
        for app, start in (
            ("apache", 0),
            ("mysql", 0),
            ("named", 0),
            ("openldap", 0),
            ("postgres-8", 30),
            ("tomcat-5", 0),
            ("tomcat-6", 0),
        )
    ),
    TypeSpec(
        "oracledb",
        "name",
        params=(_NAMED, _p("user", "required"), _p("home", "required"), _p("listener_name", "unique")),
        actions=(*_run(900, 90, ActionSpec("recover", timeout=990)), *_status((0, 0, 10), (10, 30, 30))),
        maxinstances=1,
    ),
    *(
        TypeSpec(
            ora,
            "name",
            params=(_NAMED, _p("user", "required"), _p("home", "required")),
            actions=(*_run(900, 90), *_status((0, 60, 900))),
        )
        for ora in ("orainstance", "oradg")
    ),
    TypeSpec(
        "oralistener",
        "name",
        params=(_NAMED, _p("user", "required"), _p("home", "required")),
        actions=(*_run(90, 30, ActionSpec("recover", timeout=90)), *_status((0, 300, 90))),
    ),
    TypeSpec(
        "ASEHAagent",
        "name",
        params=(_NAMED_UNIQUE, _p("sybase_home", "required"), _p("server_name", "required")),
        actions=(*_run(300, 300), *_status((0, 30, 100), (10, 120, 100))),
    ),
    TypeSpec(
        "SAPDatabase",
        "SID",
        params=(_p("SID", "primary unique required"), _p("DBTYPE", "required")),
        actions=(*_run(1800, 1800), *_status((0, 120, 60))),
    ),
    TypeSpec(
        "SAPInstance",
        "InstanceName",
        params=(_p("InstanceName", "primary unique required"),),
        actions=(*_run(180, 240), *_status((0, 120, 60))),
    ),
    TypeSpec(
        "vm",
        "name",
        params=(_NAMED, _p("domain", "reconfig"), _p("autostart", "reconfig"), _p("recovery", "reconfig")),
        actions=(*_run(300, 120), *_status((0, 30, 10), (10, 60, 20))),
        maxinstances=1,
    ),
    TypeSpec(
        "drbd",
        "name",
        params=(_NAMED_UNIQUE, _p("resource", "unique required")),
        actions=(*_run(20, 20), *_status((10, 60, 20))),
        maxinstances=1,
    ),
    TypeSpec(
        "bind-mount",
        "name",
        params=(_NAMED_UNIQUE, _p("mountpoint", "unique required"), _p("source", "required")),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient")),
        actions=(*_run(5, 5, ActionSpec("recover", timeout=5)), *_status((0, HOUR, 5))),
    ),
    # quorate's own types.
    TypeSpec(
        "ocf",
        "name",
        params=(_NAMED_UNIQUE, _p("agent", "required")),
        actions=(*_run(20, 20), *_status((0, 60, 20))),
    ),
    TypeSpec(
        "systemd",
        "name",
        params=(_NAMED_UNIQUE, _p("unit", "unique")),
        actions=(*_run(100, 100), *_status((0, 30, 10))),
    ),
)

TYPES: dict[str, TypeSpec] = {t.name: t for t in _TYPES}


def type_spec(name: str) -> TypeSpec:
    """The type's spec; an unknown type gets a neutral one (primary ``name``, no levels, no status checks)."""
    known = TYPES.get(name)
    if known is not None:
        return known
    return TypeSpec(name, "name", params=(_p("name", "primary"),), actions=_run(0, 0), known=False)


def start_level(parent_type: str, child_type: str) -> int:
    child = type_spec(parent_type).child(child_type)
    return child.start if child is not None and not child.forbid else 0


def stop_level(parent_type: str, child_type: str) -> int:
    child = type_spec(parent_type).child(child_type)
    return child.stop if child is not None and not child.forbid else 0
