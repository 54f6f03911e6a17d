"""Reading and replacing cluster.conf on disk: never a torn file, never a half-read one.

Theory of operation. A node that crashes (or loses power) while cluster.conf is being replaced must come back
with either the old file or the new one, never a mix or an empty file, because the file *is* the cluster's
configuration (spec S5). `write_config_atomically` therefore never writes into the live file:

1. the new bytes go to a temporary file in the same directory (same file system, so the final rename is
   atomic), which is flushed to disk with fsync and given mode 0644;
2. the current file is kept as ``cluster.conf.<its config_version>`` (a hard link, so keeping it costs no copy
   and the live name never disappears), or as ``cluster.conf.bak`` when its version cannot be read (a damaged
   file is kept too: it is the evidence of what went wrong);
3. the temporary file is renamed over the live name, then the directory itself is fsynced so the rename
   survives a crash;
4. numbered copies beyond the newest `KEEP_PREVIOUS` are removed, oldest version first.

Numbered copies were chosen over a single ``.bak`` because distribution is versioned: an administrator asking
"what did version 41 contain?" finds ``cluster.conf.41``, and rolling back is ``cp cluster.conf.41 new.conf``,
bump the version, push. The bound keeps a long-lived cluster from filling /etc.

A symbolic link at the live path (configuration management often installs one) is followed: the file it points
to is replaced and the link stays.

`read_config_bytes` is the reading side: it refuses a file that changed while it was read (size, modification
time or inode differ before and after, or the name now points at another file), so a file caught half-written
by an editor or a copy is reported as such instead of being validated as a truncated document. The read is
bounded (`MAX_BYTES` + 1 bytes, so the parser can still say "too large"). Neither function parses XML, so both
can be used on files that are not valid yet.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass

from quorate.config.problems import ConfigReadError, Problem
from quorate.system.files import write_atomically

MAX_BYTES = 1 << 20
MODE = 0o644
KEEP_PREVIOUS = 10
BACKUP_SUFFIX = ".bak"
_CHUNK = 1 << 16
_VERSION = re.compile(rb"<cluster\b[^>]*?\bconfig_version\s*=\s*[\"']\s*([0-9]{1,10})\s*[\"']", re.DOTALL)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What `write_config_atomically` did: the file written and where the previous content was kept."""

    path: str
    previous: str | None
    removed: tuple[str, ...] = ()


def version_in(data: bytes) -> int | None:
    """``config_version`` of the root ``<cluster>`` tag, read without parsing (the file may be invalid)."""
    match = _VERSION.search(data[:65536])
    return int(match.group(1)) if match else None


def previous_versions(path: str) -> list[tuple[int, str]]:
    """The numbered copies ``<path>.<version>`` next to ``path``, oldest version first."""
    directory, base = os.path.split(os.path.abspath(path))
    found: list[tuple[int, str]] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    prefix = base + "."
    for name in names:
        suffix = name[len(prefix) :]
        if name.startswith(prefix) and suffix.isdigit():
            found.append((int(suffix), os.path.join(directory, name)))
    return sorted(found)


def _keep(live: str, directory: str) -> str | None:
    """Keep the current file under its versioned name (hard link, copy when links are impossible)."""
    try:
        with open(live, "rb") as handle:
            old = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    version = version_in(old)
    target = f"{live}.{version}" if version is not None else live + BACKUP_SUFFIX
    # Link (or copy) to a temporary name first, then rename: an existing copy of the same version is replaced
    # atomically, never left half-written.
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".keep.", suffix=".tmp")
    os.close(fd)
    try:
        os.unlink(temporary)
        try:
            os.link(live, temporary)
        except OSError:
            with open(temporary, "wb") as handle:
                handle.write(old)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, MODE)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target


def _prune(live: str, keep: int) -> tuple[str, ...]:
    copies = previous_versions(live)
    removed = []
    for _version, name in copies[: max(len(copies) - keep, 0)]:
        with contextlib.suppress(OSError):
            os.unlink(name)
            removed.append(name)
    return tuple(removed)


def write_config_atomically(
    path: str | os.PathLike[str], data: bytes, *, keep_previous: bool = True, keep: int = KEEP_PREVIOUS
) -> WriteResult:
    """Replace ``path`` with ``data`` so that a crash at any point leaves the old or the new file, whole.

    With ``keep_previous`` the current content is kept as ``<path>.<config_version>`` (``<path>.bak`` when the
    version cannot be read) and at most ``keep`` numbered copies are left. Raises `OSError` on failure, in which
    case the live file is untouched and no temporary file is left behind.
    """
    live = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(live)
    kept: list[str | None] = [None]

    def keep_old() -> None:
        kept[0] = _keep(live, directory)

    write_atomically(live, data, mode=MODE, before_replace=keep_old if keep_previous else None)
    removed = _prune(live, keep) if keep_previous else ()
    return WriteResult(path=live, previous=kept[0], removed=removed)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _refuse(name: str, message: str, hint: str | None = None) -> ConfigReadError:
    return ConfigReadError([Problem("error", name, 0, "/", None, message, hint)])


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _not_regular(name: str, mode: int) -> ConfigReadError:
    return _refuse(
        name,
        f"cannot read the file: it is {_kind(mode)}, not a regular file",
        "a configuration is read from a regular file; a FIFO or device could block the reader for ever",
    )


def read_config_bytes(
    path: str | os.PathLike[str], *, limit: int = MAX_BYTES, regular_only: bool = False
) -> bytes:
    """The file's bytes (at most ``limit`` + 1), or `ConfigReadError` if it cannot be read or changed meanwhile.

    For a regular file the device, inode, size and modification time are compared before and after the read,
    both on the open file and on the name (an editor that saves by rename swaps the inode behind the name).
    Pipes and other special files (``/dev/stdin``) cannot be checked that way and are read as they come,
    unless ``regular_only`` (what `quorate.config.load_config` asks): then anything but a regular file is
    refused before it is opened, since opening a FIFO without a writer waits for ever. The open itself is
    non-blocking in that case, so a FIFO swapped in after the check cannot hang the reader either.
    """
    name = os.fspath(path)
    if regular_only:
        try:
            mode = os.stat(name).st_mode
        except OSError as exc:
            raise _refuse(name, f"cannot read the file: {exc.strerror or exc}") from exc
        if stat.S_ISDIR(mode):
            raise _refuse(name, "cannot read the file: Is a directory")
        if not stat.S_ISREG(mode):
            raise _not_regular(name, mode)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | (os.O_NONBLOCK if regular_only else 0))
    except OSError as exc:
        raise _refuse(name, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        before = os.fstat(fd)
        if stat.S_ISDIR(before.st_mode):
            raise _refuse(name, "cannot read the file: Is a directory")
        if regular_only and not stat.S_ISREG(before.st_mode):
            raise _not_regular(name, before.st_mode)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        after = os.fstat(fd)
    except OSError as exc:
        raise _refuse(name, f"cannot read the file: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not stat.S_ISREG(before.st_mode):
        return data
    try:
        named = os.stat(name)
    except OSError:
        named = None
    changed = _identity(before) != _identity(after) or named is None or _identity(named) != _identity(before)
    complete = size > limit or size == before.st_size
    if changed or not complete:
        raise _refuse(
            name,
            "the file changed while it was read (size, modification time or inode differ before and after)",
            "another program is writing it; read it again once the writer has finished",
        )
    return data


__all__ = [
    "BACKUP_SUFFIX",
    "KEEP_PREVIOUS",
    "MAX_BYTES",
    "MODE",
    "WriteResult",
    "previous_versions",
    "read_config_bytes",
    "version_in",
    "write_config_atomically",
]
