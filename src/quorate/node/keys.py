"""The cluster key file: the one secret every node shares, from which all wire subkeys are derived.

Format: raw random bytes, nothing else (no header, no encoding), so that ``dd if=/dev/urandom`` or a copy
from another cluster manager's key works as well. generate_key() writes 64 bytes; load_key() accepts 32 to
4096 bytes. The key is only as secret as the file: load_key() refuses a file that group or others can
access, or that belongs to another user, rather than silently running a cluster whose traffic anybody
on the host could forge. Every refusal is one sentence that says what to do.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from quorate.system.files import write_atomically

DEFAULT_KEY_PATH: Final = Path("/etc/cluster/quorate.key")
KEY_BYTES: Final = 64
MIN_KEY_BYTES: Final = 32
MAX_KEY_BYTES: Final = 4096


class KeyFileError(Exception):
    """The key file cannot be created or used; the message is meant for the operator as is."""


def generate_key(path: str | os.PathLike[str] = DEFAULT_KEY_PATH, *, force: bool = False) -> Path:
    """Write a fresh random key to ``path`` (mode 0600) and return the path.

    Crash-safe: the key is written to a temporary file in the same directory, fsynced and renamed, and the
    directory is fsynced, so ``path`` holds either the old key or the complete new one. An existing key is
    kept unless ``force``: replacing it on one node cuts that node off from the rest of the cluster.
    """
    target = Path(path)
    if not force and target.exists():
        raise KeyFileError(
            f"key file {target} already exists: refusing to overwrite it (every node must share the same key); "
            "use 'quorate keygen --force' to replace it"
        )
    parent = target.parent
    if not parent.is_dir():
        parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        write_atomically(target, os.urandom(KEY_BYTES), mode=0o600, exclusive=not force)
    except FileExistsError:  # another keygen won the race
        raise KeyFileError(
            f"key file {target} already exists: refusing to overwrite it; use 'quorate keygen --force' to replace it"
        ) from None
    return target


def load_key(path: str | os.PathLike[str] = DEFAULT_KEY_PATH) -> bytes:
    """Read and check the key file; raise KeyFileError with an actionable sentence if it is unusable.

    The checks run on the opened descriptor (fstat), not on the path, so the file that is checked is the
    file that is read. O_NONBLOCK keeps a FIFO planted at the path from hanging the daemon.
    """
    target = Path(path)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {target} not found: create it with 'quorate keygen' and copy it to every node"
        ) from None
    except PermissionError:
        raise KeyFileError(f"key file {target} is not readable by this user: run the daemon as root") from None
    except OSError as exc:
        raise KeyFileError(f"key file {target} cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"key file {target} is not a regular file: point the configuration at the key file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {target} is accessible by group or others (mode {mode:04o}): run 'chmod 600 {target}'"
            )
        uid = os.geteuid()
        if st.st_uid != uid:
            raise KeyFileError(
                f"key file {target} is owned by uid {st.st_uid}, not by the current user (uid {uid}): "
                f"run 'chown {uid} {target}'"
            )
        try:
            data = _read_at_most(fd, MAX_KEY_BYTES + 1)
        except OSError as exc:
            raise KeyFileError(f"key file {target} cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) < MIN_KEY_BYTES:
        raise KeyFileError(
            f"key file {target} is too short ({len(data)} bytes, at least {MIN_KEY_BYTES} needed): "
            "generate a new one with 'quorate keygen --force' and copy it to every node"
        )
    if len(data) > MAX_KEY_BYTES:
        raise KeyFileError(f"key file {target} is too long (more than {MAX_KEY_BYTES} bytes): is it really a key file?")
    return data


def _read_at_most(fd: int, limit: int) -> bytes:
    """Read until EOF or ``limit`` bytes, so that a huge file named by mistake is not slurped."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def staged_path(path: str | os.PathLike[str]) -> Path:
    """Where a rotation stages the new key: next to the key file, so that installing it is one rename."""
    target = Path(path)
    return target.with_name(target.name + ".new")


def stage_key(path: str | os.PathLike[str], key: bytes) -> Path:
    """Write a rotation's new key next to the key file (atomically, mode 0600); the key file is untouched."""
    staged = staged_path(path)
    write_atomically(staged, key, mode=0o600)
    return staged


def install_key(path: str | os.PathLike[str], key: bytes) -> None:
    """Replace the key file with ``key`` atomically (the file holds the old key or the new one, never a mix),
    then remove the staged copy."""
    write_atomically(Path(path), key, mode=0o600)
    discard_staged(path)


def discard_staged(path: str | os.PathLike[str]) -> None:
    try:
        staged_path(path).unlink()
    except FileNotFoundError:
        pass


def choose_key_path(explicit: str | None, keyfile: str | None) -> tuple[Path, str]:
    """The key file the daemon reads, and why: ``--key`` when given, else ``<cman keyfile>``, else the default."""
    if explicit:
        return Path(explicit), "--key"
    if keyfile:
        return Path(keyfile), "<cman keyfile> in cluster.conf"
    return DEFAULT_KEY_PATH, "the default"
