"""The commands administrators type in loops (clusvcadm, clustat, cman_tool) start fast: what they import is
checked in a fresh interpreter, because each heavy package costs every invocation 0.1-0.2 s on a loaded node
(a relocation timed as a whole command went from about 0.3 s to 0.7 s when the request schema pulled in the
node core)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("quorate.core.node_core", "quorate.config.model", "lxml", "click", "quorate.resources")


@pytest.mark.parametrize(
    "modules",
    [
        ("quorate.cli.clusvcadm", "quorate.node.protocol"),
        ("quorate.cli.clustat",),
        ("quorate.cli.cman_tool",),
    ],
)
def test_a_command_and_its_request_schema_import_nothing_heavy(modules: tuple[str, ...]) -> None:
    code = f"import sys, json\nfor m in {list(modules)!r}: __import__(m)\nprint(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True, timeout=60).stdout))  # fmt: skip
    assert not [m for m in HEAVY if m in loaded], f"{modules} import {[m for m in HEAVY if m in loaded]}"


LEAVE = "import sys; from quorate.cli.fastclient import leave; sys.stdout.write('x' * 1_000_000); leave({code})"


@pytest.mark.parametrize(("code", "status"), [("0", 0), ("3", 3), ("None", 0)])
def test_a_status_command_that_leaves_early_still_writes_all_it_printed_and_its_status(code: str, status: int) -> None:
    """`leave` skips the interpreter's teardown: the answer must still be written whole, with its exit status."""
    done = subprocess.run([sys.executable, "-c", LEAVE.format(code=code)], capture_output=True, timeout=60)
    assert (done.returncode, len(done.stdout), done.stderr) == (status, 1_000_000, b"")


def test_a_reader_that_left_early_ends_the_command_quietly_with_status_120() -> None:
    """`clustat | head -1`: as Python's own exit on a closed pipe, status 120, but no traceback on the terminal.
    The answer is still in the command's buffer when the reader goes: the command waits for stdin to close."""
    code = "import os; from quorate.cli.fastclient import leave; print('x' * 1000); os.read(0, 1); leave(0)"
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=buffered)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stdin.close()
    status = proc.wait(timeout=60)
    with proc.stderr:
        assert (status, proc.stderr.read()) == (120, b"")
