"""The web and db cluster's material and the client's HTTP side, without a testbed (no root needed)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorate.testbed import webdb
from quorate.testbed.availability import parse_records
from quorate.testbed.workload import Recorder, http_attempt

RG_TEST = [sys.executable, "-m", "quorate.cli.rg_test"]
QUORATE = [sys.executable, "-m", "quorate.cli.main"]


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.conf"
    path.write_text(webdb.cluster_conf("/dev/loop90", "/dev/loop91", fence_secret="s3cret", token_ms=1000))
    return path


def placements(conf: Path, *events: str) -> list[dict[str, str | None]]:
    """Where `quorate simulate` runs each service after each event (the daemon's own placement code)."""
    done = subprocess.run([*QUORATE, "simulate", "-c", str(conf), "--json", *events], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [{s["name"]: s["runs_on"] for s in step["services"]} for step in json.loads(done.stdout)["steps"]]


def test_the_cluster_conf_is_valid_and_its_domains_keep_the_services_apart(conf: Path) -> None:
    done = subprocess.run([*QUORATE, "config", "validate", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    B, C, M = webdb.B, webdb.C, webdb.M
    enable = [f"enable web {B}", f"enable db {C}"]
    # Disabled until enabled (autostart="0"); a dead owner's service goes to melchior, the other one stays.
    assert placements(conf, *enable, f"kill {B}") == [
        {"web": None, "db": None},
        {"web": B, "db": None},
        {"web": B, "db": C},
        {"web": M, "db": C},
    ]
    assert placements(conf, *enable, f"kill {C}", f"join {C}")[-2:] == [{"web": B, "db": M}, {"web": B, "db": C}]


@pytest.mark.parametrize(
    "service, order",
    [
        ("web", ["fs:web_fs", f"ip:{webdb.WEB_VIP}/24", "apache:web_httpd"]),
        ("db", ["fs:db_fs", f"ip:{webdb.DB_VIP}/24", "mysql:db_mysql"]),
    ],
)
def test_each_application_starts_after_its_disk_and_address_and_stops_first(
    conf: Path, service: str, order: list[str]
) -> None:
    start = subprocess.run([*RG_TEST, "noop", str(conf), "start", "service", service], capture_output=True, text=True)
    stop = subprocess.run([*RG_TEST, "noop", str(conf), "stop", "service", service], capture_output=True, text=True)
    assert [line.split(" ", 1)[1] for line in start.stdout.splitlines() if line.startswith("[start] ")][1:] == order
    stopped = [line.split(" ", 1)[1] for line in stop.stdout.splitlines() if line.startswith("[stop] ")]
    assert stopped[:3] == [order[2], order[1], order[0]]


def test_apache_listens_on_the_floating_address_only_and_names_the_node() -> None:
    text = webdb.httpd_conf()
    assert [line for line in text.splitlines() if line.startswith("Listen")] == [f"Listen {webdb.WEB_VIP}:80"]
    assert 'Header always set X-Node "${NODE_NAME}"' in text
    assert "access-${NODE_NAME}.log" in text
    assert 'NODE_NAME="$(hostname)"' in webdb.ENVVARS
    assert f"datadir = {webdb.DATADIR}" in webdb.my_cnf()


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""
    node: str | None = "balthasar.localdomain"
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        if self.node:
            self.send_header("X-Node", self.node)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.HTTPServer]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    "body, node, status, ok, answer",
    [
        (b"the page\n", "balthasar.localdomain", 200, True, "page"),
        (b"another page\n", "balthasar.localdomain", 200, False, "wrong body (13 bytes): b'another page\\n'"),
        (b"", "balthasar.localdomain", 200, False, "wrong body (0 bytes): b''"),
        (b"the page\n", None, 200, False, "no X-Node header"),
        (b"the page\n", "balthasar.localdomain", 503, False, "status 503"),
    ],
)
def test_http_attempt_counts_only_the_exact_page_with_its_node_as_success(
    server: http.server.HTTPServer, tmp_path: Path, body: bytes, node: str | None, status: int, ok: bool, answer: str
) -> None:
    _Page.body, _Page.node, _Page.status = body, node, status
    out = tmp_path / "records.jsonl"
    with open(out, "w") as handle:
        http_attempt(f"127.0.0.1:{server.server_address[1]}", b"the page\n", Recorder(handle), 7)
    [attempt] = parse_records(out.read_text().splitlines())
    assert (attempt.kind, attempt.seq, attempt.ok, attempt.answer) == ("http", 7, ok, answer)
    assert attempt.node == node and attempt.t0 <= attempt.t1


def test_http_attempt_records_a_refused_connection_as_a_failure_without_an_answer(tmp_path: Path) -> None:
    with http.server.HTTPServer(("127.0.0.1", 0), _Page) as closed:
        port = closed.server_address[1]
    out = tmp_path / "records.jsonl"
    with open(out, "w") as handle:
        http_attempt(f"127.0.0.1:{port}", b"the page\n", Recorder(handle), 1)
    [attempt] = parse_records(out.read_text().splitlines())
    assert not attempt.ok and attempt.answer is None and attempt.err is not None
    assert "ConnectionRefusedError" in attempt.err
