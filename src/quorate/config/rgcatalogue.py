"""Every rgmanager resource type, as its agent's meta-data describes it: the one table the validator, the schema
check, the tree engine and ``rg_test`` all read.

Theory of operation: rgmanager learned the shape of each resource type at start-up by running
``<agent> meta-data`` (spec R-80) and kept, per type: its parameters in declaration order with their flags
(``primary``, ``unique``, ``required``, ``reconfig``), the default declared in ``<content default=...>`` and the
``inherit`` source (``attr`` = the parent's attribute, ``type%attr`` = the nearest ancestor of that type, C-34);
in ``<special tag="rgmanager">`` the child types with their start/stop levels or ``forbid``, and
``maxinstances`` (C-33); and the action table (timeouts, status depths and intervals, R-51). quorate ships no
copy of those agents, so the facts are restated here as data, for every type an RHCS cluster.conf may contain,
including the many quorate cannot run (apache, mysql, oracledb...): validation, ordering, inheritance and
``rg_test`` output must be right for a configuration even when one of its resources cannot run on this machine.

The values follow the last rgmanager agents (ClusterLabs resource-agents, ``rgmanager/src/resources``); only
facts are taken from them. Three deliberate additions, each its own field so that what rgmanager declared stays
visible (``rg_test`` prints the declared flags):

* ``fallback``: the value an agent uses when a parameter is unset, where its meta-data documents it but declares
  no default (ip ``sleeptime`` 10 s). It is not passed to agents and not printed, only read by `Node.get`.
* ``placement``: service and vm settings that only change where the group runs (``depend``, ``priority``...).
  rgmanager restarted a service when they changed; quorate re-places it instead (R-90).
* ``hint``: what a required parameter means, for error messages and the schema.

Two types are quorate's own: ``ocf`` (any OCF agent, ``agent="ocf:heartbeat:Dummy"``, every other attribute an
agent parameter; its real action table comes from the agent's meta-data at run time) and ``systemd`` (a unit).
A type missing from the catalogue gets a neutral spec (primary ``name``, no levels, no status checks).

Pure data and lookups; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600
# rgmanager walks child levels 1..RESOURCE_MAX_LEVELS (100).
MAX_LEVEL = 100

# Valid on any resource element or reference (spec C-35); they belong to the tree position, not the resource.
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

# Top-level resource groups: what may stand directly under <rm>, and how rgmanager names them (service:NAME).
ROOT_TYPES = ("service", "vm")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One ``<parameter>`` (flags as declared; ``inherit`` is ``attr`` or ``type%attr``); see the module text
    for ``fallback``, ``placement`` and ``hint``."""

    name: str
    primary: bool = False
    unique: bool = False
    required: bool = False
    inherit: str | None = None
    reconfig: bool = False
    default: str | None = None
    fallback: str | None = None
    placement: bool = False
    hint: str | None = None

    @property
    def in_place(self) -> bool:
        """A change of this parameter needs no restart of the resource (R-90)."""
        return self.reconfig or self.placement


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """``<child type start stop forbid>``; levels 0 mean "not leveled" (such a child starts with the untyped)."""

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
    known: bool = True
    # rgmanager's agent file (rg_test prints it) and its rule flags (rg_test delta: initialise new groups).
    agent: str = ""
    init_on_add: bool = True
    destroy_on_delete: bool = True
    # quorate's ocf: any further attribute is an agent parameter.
    open_params: bool = False

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def child(self, child_type: str) -> ChildSpec | None:
        return next((c for c in self.children if c.type == child_type), None)

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    @property
    def required(self) -> tuple[ParamSpec, ...]:
        """Parameters a definition must set: the primary and the required ones (rgmanager refused to load a
        resource without them, whatever default the meta-data declares)."""
        return tuple(p for p in self.params if p.primary or p.required)

    @property
    def keys(self) -> tuple[ParamSpec, ...]:
        """Parameters whose values must not repeat within the type (C-31)."""
        return tuple(p for p in self.params if p.primary or p.unique)

    @property
    def root(self) -> bool:
        return self.name in ROOT_TYPES


def _p(name: str, flags: str = "", inherit: str | None = None, default: str | None = None, **extra: str) -> ParamSpec:
    """Compact parameter: ``flags`` is a word list of primary/unique/required/reconfig/placement."""
    words = flags.split()
    return ParamSpec(
        name,
        primary="primary" in words,
        unique="unique" in words,
        required="required" in words,
        inherit=inherit,
        reconfig="reconfig" in words,
        default=default,
        fallback=extra.get("fallback"),
        placement="placement" in words,
        hint=extra.get("hint"),
    )


def _names(*names: str) -> tuple[ParamSpec, ...]:
    """Plain parameters: no flags, no default."""
    return tuple(ParamSpec(n) for n in names)


def _status(*checks: tuple[int, int, int]) -> tuple[ActionSpec, ...]:
    """Status actions from (depth, interval, timeout) triples."""
    return tuple(ActionSpec("status", timeout=t, interval=i, depth=d) for d, i, t in checks)


def _run(start: int, stop: int, *extra: ActionSpec) -> tuple[ActionSpec, ...]:
    return (ActionSpec("start", timeout=start), ActionSpec("stop", timeout=stop), *extra)


def _a(name: str, timeout: int) -> ActionSpec:
    return ActionSpec(name, timeout=timeout)


_NAME = _p("name", "primary")
_NAME_UNIQUE = _p("name", "primary unique")
_SERVICE_NAME = _p("service_name", inherit="service%name")
_USER_HOME = (_p("user", "required", hint="the Oracle user"), _p("home", "required", hint="the Oracle home"))
# Application agents (apache.sh, mysql.sh...): a status every minute, a deeper one every 5 minutes.
_APP_STATUS = _status((0, 60, 10), (10, 300, 30))
_FS_CHILDREN = (ChildSpec("fs", 1, 3), ChildSpec("clusterfs", 1, 3), ChildSpec("nfsexport", 3, 1))
_MOUNT = _p("mountpoint", "unique required", hint="where to mount it")
_DEVICE = _p("device", "unique required", hint="the block device, LABEL= or UUID= to mount")


def _app(name: str, *params: ParamSpec, start: int = 0, unique_name: bool = False) -> TypeSpec:
    return TypeSpec(
        name,
        "name",
        params=(_NAME_UNIQUE if unique_name else _NAME, *params, _SERVICE_NAME),
        actions=(*_run(start, start), *_APP_STATUS),
        agent=f"{name}.sh",
    )


def _group_params(kind: str) -> tuple[ParamSpec, ...]:
    """The parameters services and virtual machines share, in the order their meta-data declares them."""
    common = (
        _p("domain", "reconfig", hint="the name of a failoverdomain"),
        _p("autostart", "reconfig", default="1"),
        _p("exclusive", "reconfig", default="0"),
    )
    if kind == "service":
        return (
            _p("name", "primary unique required"),
            *common,
            _p("nfslock", default="0"),
            _p("nfs_client_cache", default="0"),
            _p("recovery", "reconfig", default="restart"),
            _p("depend", "placement"),
            _p("depend_mode", "placement", default="hard"),
            _p("max_restarts", "placement", default="0"),
            _p("restart_expire_time", "placement", default="0"),
            _p("priority", "placement", default="0"),
        )
    return (
        _NAME,
        *common,
        _p("recovery", "reconfig"),
        _p("migration_mapping", "reconfig"),
        *_names("use_virsh", "xmlfile"),
        _p("migrate", default="live"),
        *_names("migrate_options", "tunnelled", "path", "snapshot"),
        _p("depend", "placement"),
        _p("depend_mode", "placement", default="hard"),
        _p("max_restarts", "reconfig", default="0"),
        _p("restart_expire_time", "reconfig", default="0"),
        _p("status_program", "reconfig"),
        _p("hypervisor", default="auto"),
        _p("hypervisor_uri", default="auto"),
        _p("migration_uri", default="auto"),
        _p("no_kill", default="false"),
    )


_SAP_EXITS = _names("PRE_START_USEREXIT", "POST_START_USEREXIT", "PRE_STOP_USEREXIT", "POST_STOP_USEREXIT")

_TYPES: tuple[TypeSpec, ...] = (
    TypeSpec(
        "service",
        "name",
        params=_group_params("service"),
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
        # service.sh declares no status (its hourly no-op check is commented out); quorate's runner keeps that
        # hourly check of the group node, which its service agent answers at once.
        actions=(*_run(5, 5, _a("reconfig", 5), _a("recover", 5)), *_status((0, HOUR, 5))),
        maxinstances=1,
        agent="service.sh",
    ),
    TypeSpec(
        "vm",
        "name",
        params=_group_params("vm"),
        actions=(*_run(300, 120), *_status((0, 30, 10), (10, 60, 20)), _a("reconfig", 10), _a("migrate", 600)),
        maxinstances=1,
        agent="vm.sh",
        init_on_add=False,
        destroy_on_delete=False,
    ),
    TypeSpec(
        "lvm",
        "name",
        params=(
            _NAME,
            _p("vg_name", "required", hint="the volume group to activate"),
            *_names("lv_name", "self_fence"),
            _p("nfslock", inherit="service%nfslock"),
        ),
        actions=(*_run(5, 5), *_status((0, HOUR, 5))),
        maxinstances=1,
        agent="lvm.sh",
    ),
    TypeSpec(
        "fs",
        "name",
        params=(
            _NAME,
            _MOUNT,
            _DEVICE,
            *_names("fstype", "force_unmount", "quick_status", "self_fence"),
            _p("nfslock", inherit="nfslock"),
            *_names("nfsrestart", "fsid", "force_fsck", "options", "use_findmnt"),
        ),
        children=_FS_CHILDREN,
        actions=(*_run(900, 30), *_status((0, 60, 10), (10, 30, 30), (20, 60, 30))),
        maxinstances=1,
        agent="fs.sh",
    ),
    TypeSpec(
        "clusterfs",
        "name",
        params=(
            _NAME,
            _MOUNT,
            _p("device", "unique required", hint="the shared block device"),
            *_names("fstype", "force_unmount", "self_fence", "fsid"),
            _p("nfslock", inherit="service%nfslock"),
            *_names("nfsrestart", "options", "use_findmnt"),
        ),
        children=_FS_CHILDREN,
        actions=(*_run(900, 30), *_status((0, 60, 10), (10, 300, 30), (20, 600, 30))),
        agent="clusterfs.sh",
    ),
    TypeSpec(
        "netfs",
        "name",
        params=(
            _NAME,
            _MOUNT,
            _p("host", "required", hint="the file server"),
            _p("export", "required", hint="the exported path"),
            _p("fstype", default="nfs"),
            *_names("no_unmount", "force_unmount", "self_fence", "options", "use_findmnt"),
        ),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient", forbid=True)),
        actions=(*_run(900, 30), *_status((0, 60, 10), (10, 300, 30), (20, 600, 30))),
        agent="netfs.sh",
    ),
    TypeSpec(
        "nfsexport",
        "name",
        params=(
            _NAME,
            _p("device", inherit="device"),
            _p("path", inherit="mountpoint"),
            _p("fsid", inherit="fsid"),
        ),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient")),
        actions=(*_run(5, 5, _a("recover", 5)), *_status((0, HOUR, 5))),
        agent="nfsexport.sh",
    ),
    TypeSpec(
        "nfsclient",
        "name",
        params=(
            _NAME_UNIQUE,
            _p("target", "required", hint="the hosts allowed to mount"),
            _p("path", inherit="path"),
            _p("svcname", inherit="service%name"),
            _p("fsid", inherit="fsid"),
            *_names("options", "allow_recover"),
            _SERVICE_NAME,
            _p("use_cache", inherit="service%nfs_client_cache"),
        ),
        actions=(*_run(90, 5, _a("recover", 90)), *_status((0, 60, 5))),
        agent="nfsclient.sh",
    ),
    TypeSpec(
        "nfsserver",
        "name",
        params=(
            _NAME,
            _p("path", inherit="mountpoint"),
            _p("nfspath", default=".clumanager/nfs"),
            *_names("statdport", "krbhost"),
        ),
        children=(
            ChildSpec("nfsexport", forbid=True),
            ChildSpec("nfsserver", forbid=True),
            ChildSpec("nfsclient", 1, 2),
            ChildSpec("ip", 2, 1),
        ),
        actions=(*_run(5, 5, _a("recover", 5)), *_status((0, 30, 5))),
        maxinstances=1,
        agent="nfsserver.sh",
    ),
    TypeSpec(
        "ip",
        "address",
        params=(
            _p("address", "primary unique", hint="a.b.c.d/prefix"),
            _p("family"),
            _p("monitor_link", default="1"),
            _p("nfslock", inherit="service%nfslock"),
            _p("sleeptime", fallback="10"),
            *_names("disable_rdisc", "prefer_interface"),
        ),
        children=(ChildSpec("nfsclient", forbid=True), ChildSpec("nfsexport", forbid=True)),
        actions=(*_run(20, 20), *_status((0, 20, 10), (10, 60, 20))),
        maxinstances=1,
        agent="ip.sh",
    ),
    TypeSpec(
        "script",
        "name",
        params=(_NAME_UNIQUE, _p("file", "unique required", hint="the path of the LSB init script"), _SERVICE_NAME),
        actions=(*_run(0, 0), *_status((0, 30, 0))),
        agent="script.sh",
    ),
    TypeSpec(
        "smb",
        "name",
        params=(_NAME_UNIQUE, _p("workgroup", default="LINUXCLUSTER"), _SERVICE_NAME),
        actions=(*_run(0, 0), *_status((0, 30, 0))),
        agent="smb.sh",
    ),
    TypeSpec(
        "samba",
        "name",
        params=(
            _NAME_UNIQUE,
            _p("config_file", default="/etc/samba/smb.conf"),
            *_names("smbd_options", "nmbd_options", "shutdown_wait"),
            _SERVICE_NAME,
        ),
        actions=(*_run(0, 0), *_status((0, 30, 0))),
        agent="samba.sh",
    ),
    _app(
        "apache",
        *_names("httpd"),
        _p("server_root", default="/etc/httpd"),
        _p("config_file", default="conf/httpd.conf"),
        *_names("httpd_options", "shutdown_wait"),
    ),
    _app(
        "mysql",
        _p("config_file", default="/etc/my.cnf"),
        *_names("listen_address", "mysqld_options"),
        _p("startup_wait", default="30"),
        *_names("shutdown_wait"),
    ),
    _app(
        "named",
        _p("config_file", default="/etc/named.conf"),
        _p("named_sdb", default="0"),
        _p("named_working_dir", default="/var/named"),
        *_names("named_options", "update_source"),
        _p("shutdown_wait", default="5"),
    ),
    _app(
        "openldap",
        _p("config_file", default="/etc/openldap/slapd.conf"),
        _p("url_list", default="ldap:///"),
        *_names("slapd_options", "shutdown_wait"),
    ),
    _app(
        "postgres-8",
        _p("config_file", default="/var/lib/pgsql/data/postgresql.conf"),
        _p("postmaster_user", default="postgres"),
        _p("postmaster_options", default="-D /var/lib/pgsql/data"),
        _p("startup_wait", default="10"),
        start=30,
    ),
    _app(
        "tomcat-5",
        _p("config_file", default="/etc/tomcat5/tomcat5.conf"),
        _p("tomcat_user", default="tomcat"),
        *_names("catalina_options"),
        _p("catalina_base", default="/usr/share/tomcat5"),
        _p("shutdown_wait", default="30"),
    ),
    _app("tomcat-6", _p("config_file", default="/etc/tomcat6/tomcat6.conf"), _p("shutdown_wait", default="30")),
    TypeSpec(
        "oracledb",
        "name",
        params=(
            _NAME,
            _p("listener_name", "unique"),
            *_USER_HOME,
            _p("type"),
            _p("vhost", "unique"),
            _p("tns_admin", "unique"),
        ),
        actions=(*_run(900, 90, _a("recover", 990)), *_status((0, 0, 10), (10, 30, 30))),
        maxinstances=1,
        agent="oracledb.sh",
    ),
    TypeSpec(
        "orainstance",
        "name",
        params=(_NAME, *_USER_HOME, *_names("listeners", "lockfile"), _p("tns_admin", "unique")),
        actions=(*_run(900, 90), *_status((0, 60, 900))),
        agent="orainstance.sh",
    ),
    TypeSpec(
        "oradg",
        "name",
        params=(_NAME, *_USER_HOME, *_names("listeners", "vhost", "lockfile"), _p("tns_admin", "unique")),
        actions=(*_run(900, 90), *_status((0, 60, 900))),
        agent="oradg.sh",
    ),
    TypeSpec(
        "oralistener",
        "name",
        params=(_NAME, *_USER_HOME, _p("tns_admin", "unique")),
        actions=(*_run(90, 30), *_status((0, 300, 90))),
        agent="oralistener.sh",
    ),
    TypeSpec(
        "ASEHAagent",
        "name",
        params=(
            _NAME_UNIQUE,
            _p("sybase_home", "required"),
            _p("sybase_ase", "required", default="ASE-15_0"),
            _p("sybase_ocs", "required", default="OCS-15_0"),
            *(_p(n, "required") for n in ("server_name", "login_file", "interfaces_file")),
            _p("sybase_user", "required", default="sybase"),
            *(_p(n, "required", default="0") for n in ("shutdown_timeout", "start_timeout", "deep_probe_timeout")),
        ),
        actions=(*_run(300, 300), *_status((0, 30, 100), (10, 120, 100))),
        agent="ASEHAagent.sh",
    ),
    TypeSpec(
        "SAPDatabase",
        "SID",
        params=(
            _p("SID", "primary unique required"),
            *_names("DIR_EXECUTABLE"),
            _p("DBTYPE", "required", hint="the database type: ORA, DB6 or ADA"),
            *_names("NETSERVICENAME"),
            _p("DBJ2EE_ONLY", default="false"),
            *_names("JAVA_HOME"),
            _p("STRICT_MONITORING", default="false"),
            _p("AUTOMATIC_RECOVER", default="false"),
            *_names("DIR_BOOTSTRAP", "DIR_SECSTORE", "DB_JARS"),
            *_SAP_EXITS,
        ),
        actions=(*_run(1800, 1800), *_status((0, 120, 60))),
        agent="SAPDatabase",
    ),
    TypeSpec(
        "SAPInstance",
        "InstanceName",
        params=(
            _p("InstanceName", "primary unique required"),
            *_names("DIR_EXECUTABLE", "DIR_PROFILE", "START_PROFILE"),
            _p("START_WAITTIME", default="3600"),
            _p("AUTOMATIC_RECOVER", default="false"),
            *_SAP_EXITS,
        ),
        actions=(*_run(180, 240), *_status((0, 120, 60))),
        agent="SAPInstance",
    ),
    TypeSpec(
        "drbd",
        "name",
        params=(_NAME_UNIQUE, _p("resource", "unique required", hint="the DRBD resource")),
        actions=(*_run(20, 20), *_status((10, 60, 20))),
        maxinstances=1,
        agent="drbd.sh",
    ),
    TypeSpec(
        "bind-mount",
        "name",
        params=(
            _NAME_UNIQUE,
            _p("mountpoint", "unique required", hint="where to mount it"),
            _p("source", "required", hint="the directory to bind"),
            *_names("force_unmount"),
        ),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient")),
        actions=(*_run(5, 5, _a("recover", 5)), *_status((0, HOUR, 5))),
        agent="bind-mount.sh",
    ),
    # quorate's own types.
    TypeSpec(
        "ocf",
        "name",
        params=(
            _NAME_UNIQUE,
            _p("agent", "required", hint="the OCF agent as ocf:provider:type, e.g. ocf:heartbeat:Dummy"),
        ),
        actions=(*_run(20, 20), *_status((0, 60, 20))),
        agent="ocf",
        open_params=True,
    ),
    TypeSpec(
        "systemd",
        "name",
        params=(_NAME_UNIQUE, _p("unit", "unique")),
        actions=(*_run(100, 100), *_status((0, 30, 10))),
        agent="systemd",
    ),
)

TYPES: dict[str, TypeSpec] = {t.name: t for t in _TYPES}


def type_spec(name: str) -> TypeSpec:
    """The type's spec; an unknown type gets a neutral one (primary ``name``, no levels, no status checks)."""
    known = TYPES.get(name)
    if known is not None:
        return known
    return TypeSpec(name, "name", params=(_NAME,), actions=_run(0, 0), known=False)


def start_level(parent_type: str, child_type: str) -> int:
    child = type_spec(parent_type).child(child_type)
    return child.start if child is not None and not child.forbid else 0


def stop_level(parent_type: str, child_type: str) -> int:
    child = type_spec(parent_type).child(child_type)
    return child.stop if child is not None and not child.forbid else 0


def primary_of(rtype: str) -> str:
    return type_spec(rtype).primary


def rg_name(kind: str, name: str) -> str:
    """rgmanager's name for a resource group: ``service:web``, ``vm:guest1``."""
    return f"{kind}:{name}"
