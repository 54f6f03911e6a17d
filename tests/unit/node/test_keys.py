"""Key file creation and the refusals of load_key, on real files in tmp_path."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from quorate.node.keys import KEY_BYTES, KeyFileError, generate_key, load_key


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_generate_then_load_round_trip(tmp_path: Path) -> None:
    path = generate_key(tmp_path / "etc" / "cluster" / "quorate.key")
    assert path == tmp_path / "etc" / "cluster" / "quorate.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_key(path)
    assert len(key) == KEY_BYTES
    assert key == path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["quorate.key"]  # no temporary file left behind


def test_generate_creates_missing_parent_readable(tmp_path: Path) -> None:
    path = generate_key(tmp_path / "new" / "quorate.key")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_overwrite_refused_without_force(tmp_path: Path) -> None:
    path = generate_key(tmp_path / "quorate.key")
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match=r"already exists.*--force"):
        generate_key(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["quorate.key"]


def test_force_replaces_key(tmp_path: Path) -> None:
    path = generate_key(tmp_path / "quorate.key")
    before = path.read_bytes()
    assert generate_key(path, force=True) == path
    after = load_key(path)
    assert after != before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"not found: create it with 'quorate keygen' and copy it to every node"):
        load_key(tmp_path / "absent.key")


def test_not_a_regular_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir.key"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(directory)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(fifo)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o610])
def test_group_or_other_access_refused_with_exact_mode(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "quorate.key", os.urandom(64), mode)
    with pytest.raises(KeyFileError) as info:
        load_key(path)
    assert str(info.value) == (
        f"key file {path} is accessible by group or others (mode {mode:04o}): run 'chmod 600 {path}'"
    )


def test_mode_0400_accepted(tmp_path: Path) -> None:
    data = os.urandom(64)
    assert load_key(_write(tmp_path / "quorate.key", data, 0o400)) == data


def test_foreign_owner_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "quorate.key", os.urandom(64))
    os.chown(path, 4242, -1)
    with pytest.raises(KeyFileError, match=r"owned by uid 4242, not by the current user \(uid 0\)"):
        load_key(path)


@pytest.mark.parametrize(("size", "accepted"), [(0, False), (31, False), (32, True), (4096, True), (4097, False)])
def test_length_limits(tmp_path: Path, size: int, accepted: bool) -> None:
    data = os.urandom(size)
    path = _write(tmp_path / "quorate.key", data)
    if accepted:
        assert load_key(path) == data
    else:
        with pytest.raises(KeyFileError, match="too short" if size < 32 else "too long"):
            load_key(path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 000 does not stop root, so simulate the kernel's refusal instead.
    path = _write(tmp_path / "quorate.key", os.urandom(64))

    def refuse(*_args: object, **_kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(KeyFileError, match="not readable by this user"):
        load_key(path)
