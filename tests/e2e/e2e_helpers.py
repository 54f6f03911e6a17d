"""Small helpers for end-to-end tests: run the real commands on a node and wait for what a user would see."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from quorate.testbed import Testbed

T = TypeVar("T")

CMAN_TOOL = [sys.executable, "-m", "quorate.cli.cman_tool"]
QUORATE = [sys.executable, "-m", "quorate.cli.main"]


def status(tb: Testbed, node: str) -> dict[str, Any] | None:
    """The node's `quorate status --json`, or None while its daemon does not answer."""
    result = tb.exec(node, [*QUORATE, "status", "--json"], timeout=20)
    if result.returncode != 0:
        return None
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.25) -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    logs = ""
    bed = getattr(probe, "testbed", None)
    if bed is not None:
        logs = "".join(f"\n--- {node} daemon log (tail) ---\n{bed.daemon_log(node)[-1500:]}" for node in bed.nodes)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last seen: {last!r}){logs}")


def members(tb: Testbed, node: str) -> tuple[list[str], bool] | None:
    s = status(tb, node)
    if s is None:
        return None
    names = {n["nodeid"]: n["name"] for n in s["nodes"]}
    return sorted(names[m] for m in s["members"]), bool(s["quorate"])


def view_is(tb: Testbed, node: str, expected: list[str], quorate: bool) -> Callable[[], bool]:
    def probe() -> bool:
        got = members(tb, node)
        return got is not None and got == (sorted(expected), quorate)

    probe.testbed = tb  # type: ignore[attr-defined]  # lets wait_for show the daemons' logs on a timeout
    return probe


@contextlib.contextmanager
def mount_points_removed_after(*paths: str) -> Iterator[None]:
    """The machine's directories a test mounts on outside the testbed nodes (rg_test run on the machine, a LUN
    prepared before the testbed starts; a node has its own /mnt): those that did not exist before are removed
    afterwards, innermost first, when empty."""
    made = [p for p in paths if not os.path.exists(p)]
    try:
        yield
    finally:
        for path in reversed(made):
            try:
                os.rmdir(path)
            except OSError:
                pass
