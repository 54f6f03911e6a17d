"""A real Apache and a real MariaDB started, checked and stopped through ``<apache>`` and ``<mysql>`` elements.

The services come from a small cluster.conf and run exactly as the daemon runs them: `build_trees` on the
parsed file, then a `ResourceRunner` for start, status and stop, which call Debian's OCF agents
(resource-agents) through the application mappings. No network namespace is needed: each server listens on
127.0.0.1 on a free port, with everything it writes (configuration, data, pid file, socket, logs) in a
temporary directory, so the machine's own Apache and MariaDB (disabled by scripts/setup.sh) are untouched.

Prerequisites (root, resource-agents, apache2, mariadb-server, curl or wget for the agent's health check)
are checked first; a missing one fails the test with what to install, never skips it. Whatever happens, the
teardown stops what the test started (through the agent, then by pid for any process still running from
the temporary directory) and removes the directory.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import wait_for

from quorate.config import load_config
from quorate.resources import ResourceRunner, ServiceOutcome, ServiceTree, build_trees

OCF = "/usr/lib/ocf/resource.d/heartbeat"
NODES = """
  <clusternodes>
    <clusternode name="balthasar.localdomain" votes="1" nodeid="1"/>
  </clusternodes>
"""


def missing_prerequisites() -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the servers drop to their own users)")
    for agent in ("apache", "mysql"):
        if not os.access(f"{OCF}/{agent}", os.X_OK):
            missing.append(f"{OCF}/{agent} (Debian package resource-agents)")
    if not os.access("/usr/sbin/apache2", os.X_OK):
        missing.append("/usr/sbin/apache2 (Debian package apache2)")
    if not any(os.access(p, os.X_OK) for p in ("/usr/bin/mariadbd-safe", "/usr/bin/mysqld_safe")):
        missing.append("mariadbd-safe (Debian package mariadb-server)")
    for program in ("mariadb-install-db", "mariadb"):
        if shutil.which(program) is None:
            missing.append(f"{program} (Debian package mariadb-server)")
    if shutil.which("curl") is None and shutil.which("wget") is None:
        missing.append("curl or wget (the apache agent's health check)")
    for user in ("www-data", "mysql"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            missing.append(f"the user {user} (created by the server packages)")
    return missing


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A fresh directory the servers' users can traverse (pytest's own tmp_path is private to root)."""
    missing = missing_prerequisites()
    if missing:
        pytest.fail("missing: " + "; ".join(missing) + " (bash scripts/setup.sh installs them)", pytrace=False)
    path = Path(tempfile.mkdtemp(prefix="quorate-app-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        leftovers = kill_processes_under(path)
        shutil.rmtree(path, ignore_errors=True)
        if leftovers:
            pytest.fail(f"processes were still running from {path}: {leftovers}", pytrace=False)


def processes_under(path: Path) -> list[int]:
    """Processes whose command line names ``path`` (only this test's servers do)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(int(entry))
    return found


def kill_processes_under(path: Path) -> list[int]:
    """Kill, by pid, whatever still runs from ``path``; returns the pids found."""
    pids = processes_under(path)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_cluster_conf(where: Path, service: str) -> Path:
    conf = where / "cluster.conf"
    conf.write_text(
        f'<?xml version="1.0"?>\n<cluster name="magi" config_version="1">{NODES}<rm>{service}</rm></cluster>\n'
    )
    return conf


def service_tree(conf: Path, name: str) -> ServiceTree:
    """The service's tree as the daemon builds it from the file."""
    tree = build_trees(load_config(conf))[name]
    assert not tree.errors, [str(p) for p in tree.errors]
    return tree


def run(operation: Coroutine[Any, Any, ServiceOutcome]) -> ServiceOutcome:
    return asyncio.run(operation)


def explain(outcome: ServiceOutcome) -> str:
    return outcome.message + "".join(f"\n  {step}\n{step.outcome.output}" for step in outcome.steps)


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


HTTPD_CONF = """\
ServerRoot "{root}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root}/run/httpd.pid
ErrorLog {root}/logs/error.log
LogLevel warn
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
User www-data
Group www-data
DocumentRoot "{root}/htdocs"
DirectoryIndex index.html
<Directory "{root}/htdocs">
    Require all granted
</Directory>
"""


def test_apache_serves_a_page_between_start_and_stop(workdir: Path) -> None:
    port = free_port()
    token = f"quorate-{os.getpid()}-{port}"
    for sub in ("htdocs", "run", "logs"):
        (workdir / sub).mkdir()
    (workdir / "htdocs" / "index.html").write_text(f"<html><body><p>{token}</p></body></html>\n")
    (workdir / "httpd.conf").write_text(HTTPD_CONF.format(root=workdir, port=port))
    conf = write_cluster_conf(
        workdir,
        f'<service name="web"><apache name="web" server_root="{workdir}" config_file="httpd.conf" '
        f'shutdown_wait="10"/></service>',
    )
    tree = service_tree(conf, "web")
    runner = ResourceRunner(node_name="balthasar.localdomain", rsctmp=str(workdir / "rsctmp"))
    try:
        started = run(runner.start_service(tree))
        assert started.ok, explain(started)
        page = fetch(f"http://127.0.0.1:{port}/")
        assert page is not None and token in page
        now = time.monotonic()
        shallow = run(runner.status_service(tree, now + 61))  # depth 0 due (every minute)
        assert shallow.ok, explain(shallow)
        assert [s.depth for s in shallow.steps if s.node.type == "apache"] == [0]
        deep = run(runner.status_service(tree, now + 400))  # depth 10 due too (every five minutes)
        assert deep.ok, explain(deep)
        assert [s.depth for s in deep.steps if s.node.type == "apache"] == [10]
        stopped = run(runner.stop_service(tree))
        assert stopped.ok, explain(stopped)
        assert fetch(f"http://127.0.0.1:{port}/") is None
        assert processes_under(workdir) == []
        print(f"apache: start {started.duration:.2f} s, stop {stopped.duration:.2f} s")
    finally:
        if processes_under(workdir):
            asyncio.run(runner.stop_service(tree))


MY_CNF = """\
[mysqld]
datadir = {root}/data
socket = {root}/run/mysqld.sock
pid-file = mysqld.pid
log-error = {root}/log/error.log
port = {port}
bind-address = 192.0.2.1
skip-name-resolve
"""


def sql(sock: Path, statement: str) -> str:
    done = subprocess.run(
        ["mariadb", "--no-defaults", "-S", str(sock), "-u", "root", "--batch", "--skip-column-names", "-e", statement],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_mariadb_keeps_a_row_between_start_and_stop(workdir: Path) -> None:
    port = free_port()
    for sub in ("data", "run", "log"):
        (workdir / sub).mkdir()
        shutil.chown(workdir / sub, "mysql", "mysql")
    init = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            "--user=mysql",
            f"--datadir={workdir / 'data'}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    # The file's bind-address is an address this machine does not have: listen_address must win over it.
    (workdir / "my.cnf").write_text(MY_CNF.format(root=workdir, port=port))
    conf = write_cluster_conf(
        workdir,
        f'<service name="db"><mysql name="db" config_file="{workdir}/my.cnf" listen_address="127.0.0.1" '
        f'shutdown_wait="30"/></service>',
    )
    tree = service_tree(conf, "db")
    runner = ResourceRunner(node_name="balthasar.localdomain", rsctmp=str(workdir / "rsctmp"))
    sock = workdir / "run" / "mysqld.sock"
    try:
        started = run(runner.start_service(tree))
        assert started.ok, explain(started)
        assert (workdir / "data" / "mysqld.pid").exists()  # the file's relative pid-file, in the data directory
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        sql(sock, "CREATE DATABASE quorate; CREATE TABLE quorate.kept (v VARCHAR(40))")
        sql(sock, "INSERT INTO quorate.kept VALUES ('written through the cluster')")
        assert sql(sock, "SELECT v FROM quorate.kept").strip() == "written through the cluster"
        now = time.monotonic()
        deep = run(runner.status_service(tree, now + 400))  # depth 10: the agent's query check
        assert deep.ok, explain(deep)
        assert [s.depth for s in deep.steps if s.node.type == "mysql"] == [10]
        stopped = run(runner.stop_service(tree))
        assert stopped.ok, explain(stopped)
        wait_for("the server's processes to end", lambda: processes_under(workdir) == [] or None, timeout=10)
        assert not sock.exists()
        print(f"mariadb: start {started.duration:.2f} s, stop {stopped.duration:.2f} s")
    finally:
        if processes_under(workdir):
            asyncio.run(runner.stop_service(tree))
