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

quorate's own types: ``ocf`` (any OCF agent, ``agent="ocf:heartbeat:Dummy"``, every other attribute an agent
parameter; its real action table comes from the agent's meta-data at run time), ``systemd`` (a unit), and
``lvs`` with its ``realserver`` children (a load-balanced virtual service, `quorate.resources.agents.lvs`).
A type missing from the catalogue gets a neutral spec (primary ``name``, no levels, no status checks).

Pure data and lookups; no I/O.
"""

from __future__ import annotations

from quorate.config.rgtypes import (
    HOUR,
    MAX_LEVEL,
    ROOT_TYPES,
    SPECIAL_ATTRIBUTES,
    ActionSpec,
    ChildSpec,
    ParamSpec,
    TypeSpec,
    action,
    names,
    param,
    run,
    status,
)

__all__ = [
    "HOUR",
    "MAX_LEVEL",
    "ROOT_TYPES",
    "SPECIAL_ATTRIBUTES",
    "TYPES",
    "ActionSpec",
    "ChildSpec",
    "ParamSpec",
    "TypeSpec",
    "primary_of",
    "rg_name",
    "start_level",
    "stop_level",
    "type_spec",
]

_NAME = param("name", "primary")
_NAME_UNIQUE = param("name", "primary unique")
_SERVICE_NAME = param("service_name", inherit="service%name")
_USER_HOME = (param("user", "required", hint="the Oracle user"), param("home", "required", hint="the Oracle home"))
# Application agents (apache.sh, mysql.sh...): a status every minute, a deeper one every 5 minutes.
_APP_STATUS = status((0, 60, 10), (10, 300, 30))
_FS_CHILDREN = (ChildSpec("fs", 1, 3), ChildSpec("clusterfs", 1, 3), ChildSpec("nfsexport", 3, 1))
_MOUNT = param("mountpoint", "unique required", hint="where to mount it")
_DEVICE = param("device", "unique required", hint="the block device, LABEL= or UUID= to mount")


def _app(name: str, *params: ParamSpec, start: int = 0, unique_name: bool = False) -> TypeSpec:
    return TypeSpec(
        name,
        "name",
        params=(_NAME_UNIQUE if unique_name else _NAME, *params, _SERVICE_NAME),
        actions=(*run(start, start), *_APP_STATUS),
        agent=f"{name}.sh",
    )


def _group_params(kind: str) -> tuple[ParamSpec, ...]:
    """The parameters services and virtual machines share, in the order their meta-data declares them."""
    common = (
        param("domain", "reconfig", hint="the name of a failoverdomain"),
        param("autostart", "reconfig", default="1"),
        param("exclusive", "reconfig", default="0"),
    )
    if kind == "service":
        return (
            param("name", "primary unique required"),
            *common,
            param("nfslock", default="0"),
            param("nfs_client_cache", default="0"),
            param("recovery", "reconfig", default="restart"),
            param("depend", "placement"),
            param("depend_mode", "placement", default="hard"),
            param("max_restarts", "placement", default="0"),
            param("restart_expire_time", "placement", default="0"),
            param("priority", "placement", default="0"),
        )
    return (
        _NAME,
        *common,
        param("recovery", "reconfig"),
        param("migration_mapping", "reconfig"),
        *names("use_virsh", "xmlfile"),
        param("migrate", default="live"),
        *names("migrate_options", "tunnelled", "path", "snapshot"),
        param("depend", "placement"),
        param("depend_mode", "placement", default="hard"),
        param("max_restarts", "reconfig", default="0"),
        param("restart_expire_time", "reconfig", default="0"),
        param("status_program", "reconfig"),
        param("hypervisor", default="auto"),
        param("hypervisor_uri", default="auto"),
        param("migration_uri", default="auto"),
        param("no_kill", default="false"),
    )


_SAP_EXITS = names("PRE_START_USEREXIT", "POST_START_USEREXIT", "PRE_STOP_USEREXIT", "POST_STOP_USEREXIT")

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
        actions=(*run(5, 5, action("reconfig", 5), action("recover", 5)), *status((0, HOUR, 5))),
        maxinstances=1,
        agent="service.sh",
    ),
    TypeSpec(
        "vm",
        "name",
        params=_group_params("vm"),
        actions=(*run(300, 120), *status((0, 30, 10), (10, 60, 20)), action("reconfig", 10), action("migrate", 600)),
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
            param("vg_name", "required", hint="the volume group to activate"),
            *names("lv_name", "self_fence"),
            param("nfslock", inherit="service%nfslock"),
        ),
        actions=(*run(5, 5), *status((0, HOUR, 5))),
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
            *names("fstype", "force_unmount", "quick_status", "self_fence"),
            param("nfslock", inherit="nfslock"),
            *names("nfsrestart", "fsid", "force_fsck", "options", "use_findmnt"),
        ),
        children=_FS_CHILDREN,
        actions=(*run(900, 30), *status((0, 60, 10), (10, 30, 30), (20, 60, 30))),
        maxinstances=1,
        agent="fs.sh",
    ),
    TypeSpec(
        "clusterfs",
        "name",
        params=(
            _NAME,
            _MOUNT,
            param("device", "unique required", hint="the shared block device"),
            *names("fstype", "force_unmount", "self_fence", "fsid"),
            param("nfslock", inherit="service%nfslock"),
            *names("nfsrestart", "options", "use_findmnt"),
        ),
        children=_FS_CHILDREN,
        actions=(*run(900, 30), *status((0, 60, 10), (10, 300, 30), (20, 600, 30))),
        agent="clusterfs.sh",
    ),
    TypeSpec(
        "netfs",
        "name",
        params=(
            _NAME,
            _MOUNT,
            param("host", "required", hint="the file server"),
            param("export", "required", hint="the exported path"),
            param("fstype", default="nfs"),
            *names("no_unmount", "force_unmount", "self_fence", "options", "use_findmnt"),
        ),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient", forbid=True)),
        actions=(*run(900, 30), *status((0, 60, 10), (10, 300, 30), (20, 600, 30))),
        agent="netfs.sh",
    ),
    TypeSpec(
        "nfsexport",
        "name",
        params=(
            _NAME,
            param("device", inherit="device"),
            param("path", inherit="mountpoint"),
            param("fsid", inherit="fsid"),
        ),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient")),
        actions=(*run(5, 5, action("recover", 5)), *status((0, HOUR, 5))),
        agent="nfsexport.sh",
    ),
    TypeSpec(
        "nfsclient",
        "name",
        params=(
            _NAME_UNIQUE,
            param("target", "required", hint="the hosts allowed to mount"),
            param("path", inherit="path"),
            param("svcname", inherit="service%name"),
            param("fsid", inherit="fsid"),
            *names("options", "allow_recover"),
            _SERVICE_NAME,
            param("use_cache", inherit="service%nfs_client_cache"),
        ),
        actions=(*run(90, 5, action("recover", 90)), *status((0, 60, 5))),
        agent="nfsclient.sh",
    ),
    TypeSpec(
        "nfsserver",
        "name",
        params=(
            _NAME,
            param("path", inherit="mountpoint"),
            param("nfspath", default=".clumanager/nfs"),
            *names("statdport", "krbhost"),
        ),
        children=(
            ChildSpec("nfsexport", forbid=True),
            ChildSpec("nfsserver", forbid=True),
            ChildSpec("nfsclient", 1, 2),
            ChildSpec("ip", 2, 1),
        ),
        actions=(*run(5, 5, action("recover", 5)), *status((0, 30, 5))),
        maxinstances=1,
        agent="nfsserver.sh",
    ),
    TypeSpec(
        "ip",
        "address",
        params=(
            param("address", "primary unique", hint="a.b.c.d/prefix"),
            param("family"),
            param("monitor_link", default="1"),
            param("nfslock", inherit="service%nfslock"),
            param("sleeptime", fallback="10"),
            *names("disable_rdisc", "prefer_interface"),
        ),
        children=(ChildSpec("nfsclient", forbid=True), ChildSpec("nfsexport", forbid=True)),
        actions=(*run(20, 20), *status((0, 20, 10), (10, 60, 20))),
        maxinstances=1,
        agent="ip.sh",
    ),
    TypeSpec(
        "script",
        "name",
        params=(_NAME_UNIQUE, param("file", "unique required", hint="the path of the LSB init script"), _SERVICE_NAME),
        actions=(*run(0, 0), *status((0, 30, 0))),
        agent="script.sh",
    ),
    TypeSpec(
        "smb",
        "name",
        params=(_NAME_UNIQUE, param("workgroup", default="LINUXCLUSTER"), _SERVICE_NAME),
        actions=(*run(0, 0), *status((0, 30, 0))),
        agent="smb.sh",
    ),
    TypeSpec(
        "samba",
        "name",
        params=(
            _NAME_UNIQUE,
            param("config_file", default="/etc/samba/smb.conf"),
            *names("smbd_options", "nmbd_options", "shutdown_wait"),
            _SERVICE_NAME,
        ),
        actions=(*run(0, 0), *status((0, 30, 0))),
        agent="samba.sh",
    ),
    _app(
        "apache",
        *names("httpd"),
        param("server_root", default="/etc/httpd"),
        param("config_file", default="conf/httpd.conf"),
        *names("httpd_options", "shutdown_wait"),
    ),
    _app(
        "mysql",
        param("config_file", default="/etc/my.cnf"),
        *names("listen_address", "mysqld_options"),
        param("startup_wait", default="30"),
        *names("shutdown_wait"),
    ),
    _app(
        "named",
        param("config_file", default="/etc/named.conf"),
        param("named_sdb", default="0"),
        param("named_working_dir", default="/var/named"),
        *names("named_options", "update_source"),
        param("shutdown_wait", default="5"),
    ),
    _app(
        "openldap",
        param("config_file", default="/etc/openldap/slapd.conf"),
        param("url_list", default="ldap:///"),
        *names("slapd_options", "shutdown_wait"),
    ),
    _app(
        "postgres-8",
        param("config_file", default="/var/lib/pgsql/data/postgresql.conf"),
        param("postmaster_user", default="postgres"),
        param("postmaster_options", default="-D /var/lib/pgsql/data"),
        param("startup_wait", default="10"),
        start=30,
    ),
    _app(
        "tomcat-5",
        param("config_file", default="/etc/tomcat5/tomcat5.conf"),
        param("tomcat_user", default="tomcat"),
        *names("catalina_options"),
        param("catalina_base", default="/usr/share/tomcat5"),
        param("shutdown_wait", default="30"),
    ),
    _app("tomcat-6", param("config_file", default="/etc/tomcat6/tomcat6.conf"), param("shutdown_wait", default="30")),
    TypeSpec(
        "oracledb",
        "name",
        params=(
            _NAME,
            param("listener_name", "unique"),
            *_USER_HOME,
            param("type"),
            param("vhost", "unique"),
            param("tns_admin", "unique"),
        ),
        actions=(*run(900, 90, action("recover", 990)), *status((0, 0, 10), (10, 30, 30))),
        maxinstances=1,
        agent="oracledb.sh",
    ),
    TypeSpec(
        "orainstance",
        "name",
        params=(_NAME, *_USER_HOME, *names("listeners", "lockfile"), param("tns_admin", "unique")),
        actions=(*run(900, 90), *status((0, 60, 900))),
        agent="orainstance.sh",
    ),
    TypeSpec(
        "oradg",
        "name",
        params=(_NAME, *_USER_HOME, *names("listeners", "vhost", "lockfile"), param("tns_admin", "unique")),
        actions=(*run(900, 90), *status((0, 60, 900))),
        agent="oradg.sh",
    ),
    TypeSpec(
        "oralistener",
        "name",
        params=(_NAME, *_USER_HOME, param("tns_admin", "unique")),
        actions=(*run(90, 30), *status((0, 300, 90))),
        agent="oralistener.sh",
    ),
    TypeSpec(
        "ASEHAagent",
        "name",
        params=(
            _NAME_UNIQUE,
            param("sybase_home", "required"),
            param("sybase_ase", "required", default="ASE-15_0"),
            param("sybase_ocs", "required", default="OCS-15_0"),
            *(param(n, "required") for n in ("server_name", "login_file", "interfaces_file")),
            param("sybase_user", "required", default="sybase"),
            *(param(n, "required", default="0") for n in ("shutdown_timeout", "start_timeout", "deep_probe_timeout")),
        ),
        actions=(*run(300, 300), *status((0, 30, 100), (10, 120, 100))),
        agent="ASEHAagent.sh",
    ),
    TypeSpec(
        "SAPDatabase",
        "SID",
        params=(
            param("SID", "primary unique required"),
            *names("DIR_EXECUTABLE"),
            param("DBTYPE", "required", hint="the database type: ORA, DB6 or ADA"),
            *names("NETSERVICENAME"),
            param("DBJ2EE_ONLY", default="false"),
            *names("JAVA_HOME"),
            param("STRICT_MONITORING", default="false"),
            param("AUTOMATIC_RECOVER", default="false"),
            *names("DIR_BOOTSTRAP", "DIR_SECSTORE", "DB_JARS"),
            *_SAP_EXITS,
        ),
        actions=(*run(1800, 1800), *status((0, 120, 60))),
        agent="SAPDatabase",
    ),
    TypeSpec(
        "SAPInstance",
        "InstanceName",
        params=(
            param("InstanceName", "primary unique required"),
            *names("DIR_EXECUTABLE", "DIR_PROFILE", "START_PROFILE"),
            param("START_WAITTIME", default="3600"),
            param("AUTOMATIC_RECOVER", default="false"),
            *_SAP_EXITS,
        ),
        actions=(*run(180, 240), *status((0, 120, 60))),
        agent="SAPInstance",
    ),
    TypeSpec(
        "drbd",
        "name",
        params=(_NAME_UNIQUE, param("resource", "unique required", hint="the DRBD resource")),
        actions=(*run(20, 20), *status((10, 60, 20))),
        maxinstances=1,
        agent="drbd.sh",
    ),
    TypeSpec(
        "bind-mount",
        "name",
        params=(
            _NAME_UNIQUE,
            param("mountpoint", "unique required", hint="where to mount it"),
            param("source", "required", hint="the directory to bind"),
            *names("force_unmount"),
        ),
        children=(ChildSpec("nfsexport", forbid=True), ChildSpec("nfsclient")),
        actions=(*run(5, 5, action("recover", 5)), *status((0, HOUR, 5))),
        agent="bind-mount.sh",
    ),
    # quorate's own types.
    TypeSpec(
        "ocf",
        "name",
        params=(
            _NAME_UNIQUE,
            param("agent", "required", hint="the OCF agent as ocf:provider:type, e.g. ocf:heartbeat:Dummy"),
        ),
        actions=(*run(20, 20), *status((0, 60, 20))),
        agent="ocf",
        open_params=True,
    ),
    TypeSpec(
        "systemd",
        "name",
        params=(_NAME_UNIQUE, param("unit", "unique")),
        actions=(*run(100, 100), *status((0, 30, 10))),
        agent="systemd",
    ),
    TypeSpec(
        "lvs",
        "name",
        params=(
            _NAME_UNIQUE,
            param("address", "required", hint="the virtual IP address clients connect to (the service's <ip>)"),
            param("port", "required", hint="the virtual TCP or UDP port, 1-65535"),
            param("protocol", default="tcp"),
            param("scheduler", default="rr"),
            param("persistence", default="0"),
            param("check", default="tcp"),
            param("path", default="/"),
            param("expect", default="200"),
            param("script"),
            param("interval", default="2"),
            param("timeout", default="1"),
            param("rise", default="2"),
            param("fall", default="2"),
        ),
        children=(ChildSpec("realserver"),),
        actions=(*run(20, 20), *status((0, 10, 10))),
        agent="lvs",
    ),
    # A real server is a row of its <lvs>: its address is its name but not a key (one host may serve several
    # virtual services; validate_lvs checks repeats per lvs). It inherits the lvs's name, so that a row added to
    # or removed from a running virtual service by a reconfiguration reaches that service's director.
    TypeSpec(
        "realserver",
        "address",
        params=(
            param("address", "required", hint="the real server's IP address"),
            param("port", hint="its port, 1-65535; default the virtual port"),
            param("weight", default="1"),
            param("lvs_name", inherit="lvs%name"),
        ),
        actions=run(0, 0),
        agent="lvs",
    ),
)

TYPES: dict[str, TypeSpec] = {t.name: t for t in _TYPES}


def type_spec(name: str) -> TypeSpec:
    """The type's spec; an unknown type gets a neutral one (primary ``name``, no levels, no status checks)."""
    known = TYPES.get(name)
    if known is not None:
        return known
    return TypeSpec(name, "name", params=(_NAME,), actions=run(0, 0), known=False)


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
