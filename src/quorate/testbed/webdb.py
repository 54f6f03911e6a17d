"""Apache and MariaDB as rgmanager services on the testbed: the cluster.conf, the shared disks, the checks' inputs.

Theory of operation: the article ends with Apache and MySQL being ready-made rgmanager resources; this module
builds that cluster for the end-to-end test and the benchmark. Two services on the three nodes of the
article, each ``<ip>`` + ``<fs>`` + its application, with rgmanager's element names:

* ``web``: 192.168.0.150/24, ext3 on its own loop-device LUN mounted on ``/mnt/magi/www``, and ``<apache>``
  (Debian's apache2 through ``ocf:heartbeat:apache``) listening on the floating address only;
* ``db``: 192.168.0.151/24, ext3 on a second LUN mounted on ``/mnt/magi/mysql`` holding the MariaDB data
  directory, and ``<mysql>`` (Debian's mariadb-server through ``ocf:heartbeat:mysql``) bound to its address.

Failover domains (ordered, failback allowed) make ``web`` prefer balthasar then melchior, ``db`` casper then
melchior, so the two services start apart and a failed owner's service goes to melchior. Nodes are fenced by
``fence_netns`` through the testbed's power switch.

The services have ``autostart="0"`` for the failover scenario: `enable_services` starts them with
``clusvcadm -e`` once every node is in the view and clean (``quorate status``: not dirty), as an administrator
brings up a new cluster's services, so that the scenario begins from one known placement rather than from
whichever two nodes formed the first view. ``cluster_conf(..., autostart=True)`` gives the cold-start test
its cluster: each node stops both services before joining while the first view may already give it a start,
which its executor holds until that stop has ended (one operation per service at a time).

Everything each application needs lives on its LUN, next to its data: Apache's configuration, its
``envvars``, the document root and the logs; MariaDB's ``my.cnf``, data directory and error log. An
administrator keeps one copy that moves with the service instead of a file per node to keep identical, and
the node that runs the service is, by construction, the one whose disk it reads. What must differ per node
is computed at start: Apache's ``envvars`` (which Debian's agent sources before it starts Apache) exports
the node's host name, which names the per-node access log and the ``X-Node`` header of every answer.
Apache's pid file and run-time files stay in ``/var/run/apache2-web`` (each node's own ``/run``, gone when it
loses power; the agent creates a missing pid directory only under ``/var/run``).
Apache's ``Listen`` names the floating address: quorate runs the file as written, and the ``<ip>``
starts before the untyped ``<apache>``. MariaDB's address comes from ``listen_address`` on ``<mysql>``.

The LUNs are prepared before the testbed starts, each mounted in a private mount namespace (``unshare``)
so that no node and no other testbed on the machine inherits the mount.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quorate.testbed import netns
from quorate.testbed.availability import Sample
from quorate.testbed.testbed import Testbed

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
NODES = (B, C, M)
WEB_VIP = "192.168.0.150"
DB_VIP = "192.168.0.151"
VIPS = {"web": WEB_VIP, "db": DB_VIP}
WEB_MOUNT = "/mnt/magi/www"
DB_MOUNT = "/mnt/magi/mysql"
WEB_PREFERENCE = (B, M, C)
DB_PREFERENCE = (C, M, B)
HTTPD_ROOT = f"{WEB_MOUNT}/apache"
DOCROOT = f"{WEB_MOUNT}/htdocs"
WEB_LOGS = f"{WEB_MOUNT}/logs"
PAGE = f"{DOCROOT}/index.html"
MY_CNF = f"{DB_MOUNT}/my.cnf"
DATADIR = f"{DB_MOUNT}/data"
DB_SOCKET = "/run/mysqld/mysqld.sock"
DB_PORT = 3306
DB_NAME = "quorate"
DB_USER = "quorate"
TABLE = "writes"
#: Debian's apache2 modules this configuration loads.
APACHE_MODULES = ("mpm_event", "authz_core", "dir", "headers")
APACHE_MODULE_DIR = "/usr/lib/apache2/modules"
LUN_MIB = 256
QUORATE = [sys.executable, "-m", "quorate.cli.main"]
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]


def cluster_conf(
    web_device: str,
    db_device: str,
    *,
    fence_secret: str,
    token_ms: int,
    post_fail_delay: int = 0,
    client_address: str = "192.168.0.100",
    autostart: bool = False,
) -> str:
    """The cluster.conf of the two services (``client_address`` only appears in a comment: who uses them).

    ``autostart`` lets the cluster start both services itself, as soon as a view is quorate (the cold-start
    test); by default they wait for `enable_services`."""
    nodes = "\n".join(
        f'    <clusternode name="{name}" votes="1" nodeid="{nodeid}">\n'
        '      <fence><method name="power"><device name="switch"/></method></fence>\n'
        "    </clusternode>"
        for nodeid, name in enumerate(NODES, start=1)
    )

    def domain(name: str, order: Sequence[str]) -> str:
        members = "\n".join(
            f'        <failoverdomainnode name="{node}" priority="{rank}"/>' for rank, node in enumerate(order, 1)
        )
        return (
            f'      <failoverdomain name="{name}" ordered="1" restricted="1" nofailback="0">\n'
            f"{members}\n      </failoverdomain>"
        )

    return f"""<?xml version="1.0"?>
<cluster name="magi" config_version="1">
  <totem token="{token_ms}"/>
  <clusternodes>
{nodes}
  </clusternodes>
  <fencedevices>
    <fencedevice name="switch" agent="fence_netns" action="off" passwd="{fence_secret}"/>
  </fencedevices>
  <fence_daemon clean_start="0" post_fail_delay="{post_fail_delay}" post_join_delay="3"/>
  <rm>
    <failoverdomains>
{domain("web_first", WEB_PREFERENCE)}
{domain("db_first", DB_PREFERENCE)}
    </failoverdomains>
    <!-- clients such as {client_address} reach web on {WEB_VIP}:80 and db on {DB_VIP}:{DB_PORT} -->
    <service name="web" domain="web_first" autostart="{int(autostart)}" recovery="relocate">
      <ip address="{WEB_VIP}/24" monitor_link="1" sleeptime="0"/>
      <fs name="web_fs" device="{web_device}" mountpoint="{WEB_MOUNT}" fstype="ext3" options=""
          force_unmount="1" force_fsck="0" self_fence="0"/>
      <apache name="web_httpd" server_root="{HTTPD_ROOT}" config_file="httpd.conf" shutdown_wait="10"/>
    </service>
    <service name="db" domain="db_first" autostart="{int(autostart)}" recovery="relocate">
      <ip address="{DB_VIP}/24" monitor_link="1" sleeptime="0"/>
      <fs name="db_fs" device="{db_device}" mountpoint="{DB_MOUNT}" fstype="ext3" options=""
          force_unmount="1" force_fsck="0" self_fence="0"/>
      <mysql name="db_mysql" config_file="{MY_CNF}" listen_address="{DB_VIP}" shutdown_wait="20"/>
    </service>
  </rm>
</cluster>
"""


def httpd_conf() -> str:
    """Apache's configuration on the web LUN: the floating address only, per-node logs, ``X-Node``."""
    modules = "\n".join(f"LoadModule {m}_module {APACHE_MODULE_DIR}/mod_{m}.so" for m in APACHE_MODULES)
    return f"""# The web service's Apache, on the service's own disk: the same file wherever the service runs.
# NODE_NAME comes from envvars (next to this file), which the cluster's apache agent sources first.
ServerRoot "{HTTPD_ROOT}"
ServerName {WEB_VIP}
Listen {WEB_VIP}:80
PidFile /var/run/apache2-web/httpd.pid
DefaultRuntimeDir /var/run/apache2-web
{modules}
User www-data
Group www-data
KeepAlive Off
ErrorLog {WEB_LOGS}/error-${{NODE_NAME}}.log
LogLevel warn
LogFormat "%{{sec}}t.%{{usec_frac}}t %a %>s %U" stamped
CustomLog {WEB_LOGS}/access-${{NODE_NAME}}.log stamped
DocumentRoot "{DOCROOT}"
DirectoryIndex index.html
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{DOCROOT}">
    Require all granted
</Directory>
Header always set X-Node "${{NODE_NAME}}"
"""


ENVVARS = """# Sourced by the cluster's apache agent before Apache starts: what differs from node to node.
export NODE_NAME="$(hostname)"
export LANG=C
"""


def my_cnf() -> str:
    """MariaDB's option file on the db LUN (the address comes from ``listen_address`` in cluster.conf)."""
    return f"""# The db service's MariaDB, on the service's own disk.
[mysqld]
datadir = {DATADIR}
socket = {DB_SOCKET}
pid-file = /run/mysqld/mysqld.pid
log-error = {DB_MOUNT}/error.log
port = {DB_PORT}
skip-name-resolve
performance_schema = OFF
innodb_buffer_pool_size = 32M
innodb_log_file_size = 16M
innodb_flush_log_at_trx_commit = 1
"""


def page(token: str) -> str:
    """The document root's page: its content is unique to one run (``token``)."""
    return f"<html><body><h1>magi web</h1><p>{token}</p></body></html>\n"


# ------------------------------------------------------------------------------------------------ the LUNs


def _in_private_mount(device: str, mountpoint: str, script: str, timeout: float = 600) -> None:
    """Run ``script`` (sh) with ``device`` mounted on ``mountpoint`` in a mount namespace of its own."""
    wrapped = f'set -e\nmount -t ext3 "{device}" "{mountpoint}"\ntrap \'cd /; umount "{mountpoint}"\' EXIT\n{script}\n'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapped],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"preparing {device} failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}")


def _mkfs(device: str, label: str) -> None:
    subprocess.run(["mkfs.ext3", "-q", "-F", "-L", label, device], check=True, capture_output=True, timeout=300)


def prepare_web_lun(device: str, page_text: str) -> None:
    """ext3 with Apache's files, the page, and an empty log directory."""
    _mkfs(device, "magi_www")
    staging = Path(tempfile.mkdtemp(prefix="quorate-www-"))
    try:
        (staging / "apache").mkdir()
        (staging / "apache" / "httpd.conf").write_text(httpd_conf())
        (staging / "apache" / "envvars").write_text(ENVVARS)
        (staging / "htdocs").mkdir()
        (staging / "htdocs" / "index.html").write_text(page_text)
        (staging / "logs").mkdir()
        for path in [staging, *staging.rglob("*")]:  # the staging root's mode becomes the file system's root's
            path.chmod(0o755 if path.is_dir() else 0o644)
        _in_private_mount(device, WEB_MOUNT, f'cp -a "{staging}/." "{WEB_MOUNT}/"')
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare_db_lun(device: str) -> None:
    """ext3 with ``my.cnf`` and a data directory made by ``mariadb-install-db`` from that file."""
    _mkfs(device, "magi_mysql")
    staging = Path(tempfile.mkdtemp(prefix="quorate-mysql-"))
    try:
        (staging / "my.cnf").write_text(my_cnf())
        (staging / "my.cnf").chmod(0o644)
        script = (
            f'cp "{staging}/my.cnf" "{MY_CNF}"\n'
            f'mkdir -p "{DATADIR}"\nchown mysql:mysql "{DATADIR}"\n'
            f'touch "{DB_MOUNT}/error.log"\nchown mysql:mysql "{DB_MOUNT}/error.log"\n'
            f'mariadb-install-db --defaults-file="{MY_CNF}" --user=mysql --auth-root-authentication-method=socket '
            f'--skip-test-db || {{ tail -n 40 "{DB_MOUNT}/error.log" >&2; exit 1; }}\n'
        )
        _in_private_mount(device, DB_MOUNT, script)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def bootstrap_sql(client_address: str, password: str) -> str:
    """The database, the client's account (from its address only) and the table of numbered writes."""
    return (
        f"CREATE DATABASE {DB_NAME}; "
        f"CREATE TABLE {DB_NAME}.{TABLE} (n INT PRIMARY KEY, node VARCHAR(64) NOT NULL) ENGINE=InnoDB; "
        f"CREATE USER '{DB_USER}'@'{client_address}' IDENTIFIED BY '{password}'; "
        f"GRANT SELECT, INSERT ON {DB_NAME}.* TO '{DB_USER}'@'{client_address}';"
    )


def sql_as_root(tb: Testbed, node: str, statement: str, timeout: float = 60) -> str:
    """Run SQL on ``node``'s MariaDB as the system's root over the local socket; its tab-separated output."""
    argv = ["mariadb", "--no-defaults", "-S", DB_SOCKET, "-u", "root", "--batch", "--skip-column-names"]
    done = tb.exec(node, [*argv, "-e", statement], timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"SQL on {node} failed: {done.stderr.strip()}")
    return done.stdout


def table_rows(tb: Testbed, node: str) -> dict[int, str]:
    """Every row of the writes table, number → the node whose server committed it."""
    rows = {}
    for line in sql_as_root(tb, node, f"SELECT n, node FROM {DB_NAME}.{TABLE}").splitlines():
        number, server = line.split("\t")
        rows[int(number)] = server
    return rows


ACCESS = re.compile(r"^(\d+\.\d+) (\S+) (\d{3}) (\S+)$")


def access_logs(tb: Testbed, node: str) -> dict[str, list[tuple[float, str, int]]]:
    """Per node: (time, client address, status) of every request in its access log, read on ``node`` (which
    must have the web disk mounted)."""
    lister = (
        "import glob, json, os\n"
        f"print(json.dumps({{os.path.basename(p): open(p).read() for p in glob.glob('{WEB_LOGS}/access-*.log')}}))"
    )
    done = tb.exec(node, [sys.executable, "-c", lister], timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"reading the access logs on {node} failed: {done.stderr.strip()}")
    logs: dict[str, list[tuple[float, str, int]]] = {}
    for name, text in json.loads(done.stdout).items():
        server = name[len("access-") : -len(".log")]
        entries = logs.setdefault(server, [])
        for line in text.splitlines():
            found = ACCESS.match(line.strip())
            if not found:
                raise RuntimeError(f"{name}: unexpected access log line {line!r}")
            entries.append((float(found[1]), found[2], int(found[3])))
    return logs


# ------------------------------------------------------------------------------------------ sampling


@dataclass
class Sampler:
    """Samples the floating addresses every ``period`` s in a thread: ``ip -o addr`` on every node (through
    ``ip -n``, so also on a powered-off node, whose namespace remains) and the client's neighbour table."""

    tb: Testbed
    client: str
    period: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        # Names resolved here, once: the thread then only runs ``ip -n``, never touching the Testbed object
        # (whose state the test's own thread re-reads and writes).
        self._namespaces = {node: self.tb.netns(node) for node in self.tb.nodes}
        self._client_ns = self.tb.client_netns(self.client)
        self._thread = threading.Thread(target=self._run, name="vip-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def node_macs(self) -> dict[str, str]:
        """Each node's eth0 MAC (stable: the namespace and its veth outlive power cycles)."""
        macs = {}
        for node, ns in self._namespaces.items():
            out = netns.run(["ip", "-n", ns, "-j", "link", "show", "dev", netns.NODE_IF])
            macs[node] = str(json.loads(out)[0]["address"])
        return macs

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.sample())
            except Exception as exc:  # a failed look is recorded, never fatal for the test's thread
                self.errors.append(f"{time.time():.3f}: {exc}")
            self._stop.wait(self.period)

    def sample(self) -> Sample:
        at = time.time()
        holders: dict[str, list[str]] = {vip: [] for vip in VIPS.values()}
        for node, ns in self._namespaces.items():
            held = {entry.split("/")[0] for entry in netns.addresses(ns)}
            for vip in holders:
                if vip in held:
                    holders[vip].append(node)
        macs: dict[str, list[str]] = {vip: [] for vip in VIPS.values()}
        for address, mac, _state in netns.neighbours(self._client_ns):
            if address in macs and mac:
                macs[address].append(mac)
        return Sample(at=at, holders=holders, client_macs=macs)


def status(tb: Testbed, node: str) -> dict[str, Any] | None:
    """The node's ``quorate status --json``, None while its daemon does not answer."""
    done = tb.exec(node, [*QUORATE, "status", "--json"], timeout=30)
    if done.returncode != 0:
        return None
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def everyone_clean(tb: Testbed) -> bool:
    """Every node in one quorate view of all of them, none of them holding anything (stop-before-start done)."""
    docs = [status(tb, node) for node in tb.nodes]
    return all(
        doc is not None and doc["quorate"] and len(doc["members"]) == len(tb.nodes) and not doc["dirty"] for doc in docs
    )


def services(tb: Testbed, observers: Sequence[str]) -> dict[str, tuple[str, str]] | None:
    """{service: (state, owner)} as the first observer that answers sees it."""
    for node in observers:
        doc = status(tb, node) if tb.is_powered(node) else None
        if doc is not None:
            return {s["name"]: (str(s["state"]), str(s.get("owner") or "")) for s in doc.get("services", [])}
    return None


def enable_services(tb: Testbed, timeout: float = 240.0) -> None:
    """Once every node is in the view and clean, enable web on its first node and db on its own."""
    deadline = time.monotonic() + timeout
    while not everyone_clean(tb):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the three nodes were not in one clean quorate view within {timeout:.0f} s")
        time.sleep(0.5)
    for service, node in (("web", WEB_PREFERENCE[0]), ("db", DB_PREFERENCE[0])):
        done = tb.exec(node, [*CLUSVCADM, "-e", service, "-m", node], timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"clusvcadm -e {service} -m {node}: {(done.stdout + done.stderr).strip()}")
