"""The commands administrators type in loops (clusvcadm, clustat, cman_tool) start fast: what they import is
checked in a fresh interpreter, because each heavy package costs every invocation 0.1-0.2 s on a loaded node
(a relocation timed as a whole command went from about 0.3 s to 0.7 s when the request schema pulled in the
node core)."""

from __future__ import annotations

import json
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
