"""`quorate status` and `quorate why` through the quick entry point print what the click command line prints,
and load no click: they are typed in loops while something is wrong."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

import quorate
from quorate.node.status import StatusDoc
from quorate.node.status_text import status_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
from status_samples import status_doc

SRC = str(Path(quorate.__file__).resolve().parent.parent)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    """A control socket answering every status request with the document, and `why` with one sentence."""
    path = str(tmp_path / "quorated.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    status = json.dumps({"ok": True, "status": status_doc()}).encode()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile("rb").readline()
                request = json.loads(line)
                if request["cmd"] == "why":
                    conn.sendall(b"OK\ntest runs on balthasar.localdomain: first of its ordered domain\n")
                elif request["cmd"] == "status_text":  # what the daemon answers (`quorate.node.status_text`)
                    doc = msgspec.convert(status_doc(), StatusDoc)
                    conn.sendall(b"OK\n" + status_text(doc, as_json=request.get("as_json", False)).encode())
                else:
                    conn.sendall(status)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        server.close()
        thread.join(5)


def run(module: str, args: list[str], sock: str) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; sys.argv = ['quorate', *{args!r}]; import {module} as m; "
        "m.run() if hasattr(m, 'run') else m.main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "QUORATE_SOCKET": sock, "PYTHONPATH": SRC},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["why"], ["why", "test"]])
def test_the_quick_path_prints_what_the_command_line_prints(daemon: str, args: list[str]) -> None:
    quick, full = run("quorate.cli.entry", args, daemon), run("quorate.cli.main", args, daemon)
    assert (quick.returncode, quick.stdout, quick.stderr) == (full.returncode, full.stdout, full.stderr)
    assert quick.returncode == 0 and quick.stdout


def test_the_quick_path_says_the_same_when_no_daemon_answers(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "none.sock")
    for args in (["status"], ["why", "test"]):
        quick, full = run("quorate.cli.entry", args, nowhere), run("quorate.cli.main", args, nowhere)
        assert (quick.returncode, quick.stdout, quick.stderr) == (full.returncode, full.stdout, full.stderr)
        assert quick.returncode == 1 and "not running" in quick.stderr


def test_status_and_why_load_no_click(daemon: str) -> None:
    # The quick path ends with os._exit (no atexit hook would run): the interpreter's import log says what it loaded.
    for args in (["status"], ["why", "test"]):
        code = f"import sys; sys.argv = ['quorate', *{args!r}]; from quorate.cli.entry import run; run()"
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            env={**os.environ, "QUORATE_SOCKET": daemon, "PYTHONPATH": SRC},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        log = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
        loaded = {line.rsplit("|", 1)[-1].strip() for line in log}
        assert done.returncode == 0 and done.stdout, done.stderr
        assert "quorate.cli.fastclient" in loaded, "the import log was not read"
        assert not {name for name in loaded if name.split(".")[0] == "click"}, sorted(loaded)
