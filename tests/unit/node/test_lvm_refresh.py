"""What a member answers to "read this VG again" (`quorate lvm`'s refresh), with a real `vgs` program on PATH.

The `vgs` here is a shell script standing in for lvm2's (the test machine has no shared VG to read): it
answers as lvm2 2.03 does for a VG it finds, one it does not, and one whose disk hangs."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest

from quorate.node import lvm_refresh

VGS = """#!/bin/sh
# Arguments as quorate passes them: ... -- VG
for last; do :; done
echo "$LVM_SUPPRESS_FD_WARNINGS" > "$(dirname "$0")/env-seen"
case "$last" in
  magi_vg) echo "  magi_vg|4|2|1||" ;;
  foreign_vg) echo "  foreign_vg|9|1|1|balthasar|" ;;
  hung_vg) sleep 30 ;;
  *) echo "  Volume group \\"$last\\" not found" >&2; echo "  Cannot process volume group $last" >&2; exit 5 ;;
esac
"""


@pytest.fixture
def lvm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    vgs = bin_dir / "vgs"
    vgs.write_text(VGS)
    vgs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(lvm_refresh, "RUN_DIR", tmp_path / "run-lvm")
    return tmp_path


def test_a_vg_read_again_is_reported_with_what_this_node_now_sees(lvm: Path) -> None:
    ok, detail = asyncio.run(lvm_refresh.refresh("magi_vg", timeout=10))
    assert (ok, detail) == (True, "magi_vg seqno 4, 2 PV, 1 LV")
    assert (lvm / "run-lvm" / "newhints").exists(), "the device hints must be invalidated first"
    assert (lvm / "bin" / "env-seen").read_text().strip() == "1", "vgs runs with LVM_SUPPRESS_FD_WARNINGS"


def test_a_foreign_vg_names_its_system_id(lvm: Path) -> None:
    assert asyncio.run(lvm_refresh.refresh("foreign_vg", timeout=10)) == (
        True,
        "foreign_vg seqno 9, 1 PV, 1 LV, system ID balthasar",
    )


def test_a_vg_this_node_does_not_see_is_said_so_without_failing(lvm: Path) -> None:
    assert asyncio.run(lvm_refresh.refresh("gone_vg", timeout=10)) == (True, "gone_vg not found")


def test_a_hung_vgs_is_killed_at_the_timeout_and_the_loop_goes_on_meanwhile(lvm: Path) -> None:
    ticks: list[float] = []

    async def scenario() -> tuple[bool, str]:
        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.05)

        beat = asyncio.create_task(ticker())
        try:
            return await lvm_refresh.refresh("hung_vg", timeout=1.0)
        finally:
            beat.cancel()

    started = time.monotonic()
    ok, detail = asyncio.run(scenario())
    assert not ok and detail == "vgs did not answer within 1 s"
    assert time.monotonic() - started < 10, "the hung vgs was waited for past its timeout"
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= 10 and max(gaps) < 0.5, f"the event loop stood still while vgs ran: {max(gaps):.2f} s"


def test_without_vgs_the_refresh_fails_with_the_reason(lvm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(lvm / "empty"))
    ok, detail = asyncio.run(lvm_refresh.refresh("magi_vg", timeout=5))
    assert not ok and detail == "cannot run vgs: vgs: not found"


def test_no_vg_only_invalidates_the_hints(lvm: Path) -> None:
    assert asyncio.run(lvm_refresh.refresh("", timeout=5)) == (True, "device hints invalidated")
    assert (lvm / "run-lvm" / "newhints").exists()
