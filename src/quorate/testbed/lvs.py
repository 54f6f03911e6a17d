"""A load-balanced web farm on the testbed: the three nodes are Apache real servers, one of them directs.

Theory of operation: the end-to-end test and the benchmark of ``<lvs>`` build the same cluster. Each node runs its
own Apache (Debian's apache2 in the foreground, started here through ``Testbed.popen``, outside the cluster's
control, as a farm's web servers are) listening on the node's own address and serving a page that names the
node. The cluster has one service, ``lvs``: the virtual address `VIP` (an ``<ip>``) and two virtual services on
it, ``web`` (port 80, round robin, HTTP checks) and ``weighted`` (port 8080, weighted round robin 2:1:1, TCP
checks), both over the three nodes' port 80. Whichever node runs the service is the director; fencing goes
through ``fence_netns`` and the testbed's power switch like the other end-to-end clusters.

With ``ipv6=True`` the same farm runs over IPv6 (hosts start with IPv6 off: `enable_ipv6` turns it on and gives
each node `node_address6`): one virtual service ``web6`` on `VIP6` port 80, round robin with HTTP checks, over the
nodes' IPv6 addresses, each Apache listening on both of its node's addresses.

The client side runs in a client host's namespace as ``python -m quorate.testbed.lvs``: ``burst`` sends N
sequential GETs and prints one JSON list of outcomes; ``rate`` counts the GETs answered per second by a few
threads; ``probe`` sends one GET every ``period`` seconds until
killed, appending a JSON line per attempt (``t``, ``ok``, ``node`` or ``error``) to a file the test reads as it
grows. Every request opens a new connection (Apache has KeepAlive off), so every request is scheduled.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quorate.testbed import netns
from quorate.testbed.testbed import Testbed

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
NODES = (B, C, M)
VIP = "192.168.0.160"
VIP6 = "fd00:5a::160"
WEB_PORT = 80
WEIGHTED_PORT = 8080
WEIGHTS = {B: 2, C: 1, M: 1}
INTERVAL, TIMEOUT, RISE, FALL = 2, 1, 2, 2
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = ("mpm_event", "authz_core", "dir")
PYTHON = sys.executable


def node_address(nodeid: int) -> str:
    return f"192.168.0.{200 + nodeid}"


def node_address6(nodeid: int) -> str:
    return f"fd00:5a::{200 + nodeid}"


def enable_ipv6(tb: Testbed) -> None:
    """IPv6 on every node, each with its `node_address6`."""
    for nodeid, node in enumerate(NODES, start=1):
        netns.enable_ipv6(tb.netns(node), node_address6(nodeid))


def _virtual_services(ipv6: bool, check: str) -> str:
    if ipv6:
        rows = "\n".join(f'        <realserver address="{node_address6(i)}" port="80"/>' for i in (1, 2, 3))
        return f"""      <ip address="{VIP6}/64" monitor_link="1" sleeptime="0"/>
      <lvs name="web6" address="{VIP6}" port="{WEB_PORT}" scheduler="rr" check="http" path="/" expect="200" {check}>
{rows}
      </lvs>"""
    web = "\n".join(f'        <realserver address="{node_address(i)}" port="80"/>' for i in (1, 2, 3))
    weighted = "\n".join(
        f'        <realserver address="{node_address(i)}" port="80" weight="{WEIGHTS[n]}"/>'
        for i, n in enumerate(NODES, start=1)
    )
    return f"""      <ip address="{VIP}/24" monitor_link="1" sleeptime="0"/>
      <lvs name="web" address="{VIP}" port="{WEB_PORT}" scheduler="rr" check="http" path="/" expect="200" {check}>
{web}
      </lvs>
      <lvs name="weighted" address="{VIP}" port="{WEIGHTED_PORT}" scheduler="wrr" check="tcp" {check}>
{weighted}
      </lvs>"""


def cluster_conf(*, fence_secret: str, token_ms: int, ipv6: bool = False) -> str:
    nodes = "\n".join(
        f'    <clusternode name="{name}" votes="1" nodeid="{nodeid}">\n'
        '      <fence><method name="power"><device name="switch"/></method></fence>\n'
        "    </clusternode>"
        for nodeid, name in enumerate(NODES, start=1)
    )
    check = f'interval="{INTERVAL}" timeout="{TIMEOUT}" rise="{RISE}" fall="{FALL}"'
    return f"""<?xml version="1.0"?>
<cluster name="magi" config_version="1">
  <totem token="{token_ms}"/>
  <clusternodes>
{nodes}
  </clusternodes>
  <fencedevices>
    <fencedevice name="switch" agent="fence_netns" action="off" passwd="{fence_secret}"/>
  </fencedevices>
  <fence_daemon clean_start="0" post_fail_delay="0" post_join_delay="3"/>
  <rm>
    <service name="lvs" autostart="1" recovery="relocate">
{_virtual_services(ipv6, check)}
    </service>
  </rm>
</cluster>
"""


def short(node: str) -> str:
    return node.split(".")[0]


def httpd_conf(root: Path, address: str, address6: str | None = None) -> str:
    modules = "\n".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in APACHE_MODULES)
    return f"""# A real server of the testbed's load-balanced farm: this node's own address only.
ServerRoot "{root}"
ServerName {address}
Listen {address}:80
{f"Listen [{address6}]:80" if address6 else ""}
PidFile {root}/httpd.pid
DefaultRuntimeDir {root}
Mutex file:{root} default
{modules}
User www-data
Group www-data
KeepAlive Off
ErrorLog {root}/error.log
LogLevel warn
DocumentRoot "{root}/htdocs"
DirectoryIndex index.html
<Directory />
    Require all denied
</Directory>
<Directory "{root}/htdocs">
    Require all granted
</Directory>
"""


@dataclass
class Farm:
    """The nodes' Apache servers: one directory each (readable by www-data), one process each while running."""

    tb: Testbed
    ipv6: bool = False
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="quorate-lvs-")))
    running: dict[str, subprocess.Popen[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base.chmod(0o755)
        for nodeid, node in enumerate(NODES, start=1):
            root = self.base / short(node)
            (root / "htdocs").mkdir(parents=True)
            (root / "htdocs" / "index.html").write_text(short(node) + "\n")
            six = node_address6(nodeid) if self.ipv6 else None
            (root / "httpd.conf").write_text(httpd_conf(root, node_address(nodeid), six))
            for path in (root, root / "htdocs", root / "htdocs" / "index.html", root / "httpd.conf"):
                path.chmod(0o755 if path.is_dir() else 0o644)

    def start(self, node: str, timeout: float = 15.0) -> None:
        conf = self.base / short(node) / "httpd.conf"
        self.running[node] = self.tb.popen(
            node, [APACHE, "-f", str(conf), "-DFOREGROUND"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        address = node_address(NODES.index(node) + 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.tb.exec(node, [PYTHON, "-m", "quorate.testbed.lvs", "burst", address, "80", "1"], timeout=10)
            if done.returncode == 0 and json.loads(done.stdout)[0]["ok"]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"Apache did not answer on {node} ({address}) within {timeout:.0f} s")

    def stop(self, node: str) -> None:
        proc = self.running.pop(node, None)
        if proc is not None:
            self.tb.end_popen(proc)

    def close(self) -> None:
        for node in list(self.running):
            self.stop(node)
        shutil.rmtree(self.base, ignore_errors=True)


def holders(tb: Testbed, vip: str = VIP) -> list[str]:
    """The powered nodes carrying the virtual address now."""
    return [node for node in tb.nodes if carries(tb.netns(node), vip)]


def carries(ns: str, vip: str) -> bool:
    """Whether the host in namespace ``ns`` carries ``vip`` on its interface, among the addresses of vip's family."""
    return any(entry.split("/")[0] == vip for entry in netns.addresses(ns, version=6 if ":" in vip else 4))


def burst(
    tb: Testbed, client: str, port: int, count: int, timeout: float = 120.0, vip: str = VIP
) -> list[dict[str, Any]]:
    """``count`` sequential GETs from ``client`` to the virtual address and ``port``."""
    argv = [PYTHON, "-m", "quorate.testbed.lvs", "burst", vip, str(port), str(count)]
    done = tb.client_exec(client, argv, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"burst from {client} failed: {done.stderr.strip()}")
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def read_probe(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


# ------------------------------------------------------------------------------------- the client program


def get(address: str, port: int, timeout: float) -> dict[str, Any]:
    began = time.time()
    try:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
        try:
            conn.request("GET", "/")
            answer = conn.getresponse()
            body = answer.read().decode(errors="replace").strip()
        finally:
            conn.close()
    except OSError as exc:
        return {"t": began, "ok": False, "error": str(exc) or type(exc).__name__}
    if answer.status != 200:
        return {"t": began, "ok": False, "error": f"HTTP {answer.status}"}
    return {"t": began, "ok": True, "node": body}


def measure_rate(address: str, port: int, seconds: float, threads: int) -> dict[str, Any]:
    """Requests per second from ``threads`` clients each sending one GET after the other for ``seconds``."""
    import threading

    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            ok = get(address, port, 2.0)["ok"]
            with lock:
                counts["ok" if ok else "failed"] += 1

    began = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    took = time.monotonic() - began
    return {**counts, "seconds": took, "per_second": counts["ok"] / took}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quorate.testbed.lvs")
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("burst", help="N sequential GETs; prints a JSON list")
    one.add_argument("address")
    one.add_argument("port", type=int)
    one.add_argument("count", type=int)
    rate = sub.add_parser("rate", help="GETs from THREADS threads for SECONDS; prints a JSON summary")
    rate.add_argument("address")
    rate.add_argument("port", type=int)
    rate.add_argument("seconds", type=float)
    rate.add_argument("--threads", type=int, default=4)
    many = sub.add_parser("probe", help="one GET every PERIOD seconds until killed; JSON lines to OUT")
    many.add_argument("address")
    many.add_argument("port", type=int)
    many.add_argument("out")
    many.add_argument("--period", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.what == "burst":
        print(json.dumps([get(args.address, args.port, 2.0) for _ in range(args.count)]))
        return 0
    if args.what == "rate":
        print(json.dumps(measure_rate(args.address, args.port, args.seconds, args.threads)))
        return 0
    with open(args.out, "a") as out:
        while True:
            began = time.monotonic()
            out.write(json.dumps(get(args.address, args.port, 1.0)) + "\n")
            out.flush()
            time.sleep(max(0.0, args.period - (time.monotonic() - began)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
