"""Loop devices for quorum-disk tests: real block devices, O_DIRECT, always detached afterwards.

These tests need root (losetup); without it they fail with the reason, they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quorate.testbed import luns

MiB = 1024 * 1024


def attach(path: Path, sector_size: int | None = None) -> str:
    return luns.attach_image(path, sector_size=sector_size)


detach = luns.detach


@pytest.fixture
def loopdev(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``loopdev(size=10 MiB, sector_size=None, backing=None) -> /dev/loopN``; all detached at teardown."""
    if os.geteuid() != 0:
        pytest.fail("quorum disk tests need root to attach loop devices (losetup)", pytrace=False)
    made: list[str] = []

    def make(size: int = 10 * MiB, sector_size: int | None = None, backing: Path | None = None) -> str:
        if backing is None:
            backing = tmp_path / f"qdisk-{len(made)}.img"
            with open(backing, "wb") as fh:
                fh.truncate(size)
        dev = attach(backing, sector_size)
        made.append(dev)
        return dev

    try:
        yield make
    finally:
        for dev in made:
            detach(dev)


@pytest.fixture
def label() -> str:
    """A label no other test (or concurrent test run) uses."""
    return f"qt_{uuid.uuid4().hex[:10]}"
