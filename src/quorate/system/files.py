"""Crash-safe file replacement: one helper for every file quorate writes (cluster.conf and its staged copy, the
node's state, the cluster key, qdiskd's status file, the testbed's state).

Theory of operation: the new content goes to a temporary file in the same directory (same file system, so the
rename is atomic), is flushed and fsynced with its final mode, then renamed over the target (or, ``exclusive``,
hard-linked to it so that an existing file is never replaced), and the directory is fsynced so that the rename
itself survives a power cut. A crash at any point leaves either the old file or the new one, whole, and a failed
write leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make renames in ``directory`` durable: without this a power cut may bring the old entry back."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o644,
    exclusive: bool = False,
    before_replace: Callable[[], object] | None = None,
) -> str:
    """Replace ``path`` by ``data`` durably; returns the real path written.

    ``exclusive``: fail with `FileExistsError` instead of replacing an existing file (two writers racing for a
    file that must be written once, such as a cluster key). ``before_replace`` runs after the new content is on
    disk and before it takes the name (keeping the old version aside, say). Raises `OSError` on failure, the
    target untouched.
    """
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        if exclusive:
            _link_no_clobber(temporary, target)
        else:
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(directory)
    return target


def _link_no_clobber(temporary: str, target: str) -> None:
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: a plain rename, after checking once
        if os.path.exists(target):
            raise FileExistsError(target) from None
        os.replace(temporary, target)
        return
    os.unlink(temporary)
