"""Loop-device LUNs: sparse image files attached to free loop devices, the shared disks of the testbed.

Every shared disk the tests, the demo and the benchmarks use is one of these: a file on this machine seen by
every node as the same block device, as the article's iSCSI LUNs were.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

MiB = 1024 * 1024


def attach_image(image: str | Path, mib: int | None = None, *, sector_size: int | None = None) -> str:
    """Attach ``image`` to a free loop device and return the device; with ``mib``, first create it sparse at that
    size. Retried a few times: another process may take the same free device at the same instant."""
    if mib is not None:
        with open(image, "wb") as handle:
            handle.truncate(mib * MiB)
    argv = ["losetup", "--find", "--show", *(["--sector-size", str(sector_size)] if sector_size else []), str(image)]
    last = ""
    for _ in range(10):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return done.stdout.strip()
        last = done.stderr.strip()
        time.sleep(0.1)
    raise RuntimeError(f"losetup {image} failed: {last}")


def detach(device: str) -> None:
    """Detach a loop device; one already detached is not an error."""
    subprocess.run(["losetup", "-d", device], capture_output=True, check=False, timeout=60)
