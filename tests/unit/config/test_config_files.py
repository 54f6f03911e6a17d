"""cluster.conf on disk: atomic replacement with numbered previous versions, and reads that refuse a moving file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from config_samples import BASE

from quorate.config import ConfigReadError, load_config
from quorate.config import files as files_module
from quorate.config.files import (
    KEEP_PREVIOUS,
    previous_versions,
    read_config_bytes,
    version_in,
    write_config_atomically,
)


def version(n: int) -> bytes:
    return BASE.replace('config_version="7"', f'config_version="{n}"').encode()


def test_write_keeps_the_previous_version_under_its_number(tmp_path: Path) -> None:
    live = tmp_path / "cluster.conf"
    live.write_bytes(version(7))
    result = write_config_atomically(live, version(8))
    assert live.read_bytes() == version(8)
    assert (tmp_path / "cluster.conf.7").read_bytes() == version(7)
    assert result.previous == str(tmp_path / "cluster.conf.7")
    assert stat.S_IMODE(live.stat().st_mode) == 0o644
    assert load_config(live).config_version == 8
    # No temporary file is left in the directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.conf", "cluster.conf.7"]


def test_first_write_and_write_without_keeping(tmp_path: Path) -> None:
    live = tmp_path / "cluster.conf"
    assert write_config_atomically(live, version(1)).previous is None
    write_config_atomically(live, version(2), keep_previous=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.conf"]


def test_unreadable_version_is_kept_as_bak(tmp_path: Path) -> None:
    live = tmp_path / "cluster.conf"
    live.write_bytes(b"<cluster name='x'>broken")
    write_config_atomically(live, version(3))
    assert (tmp_path / "cluster.conf.bak").read_bytes() == b"<cluster name='x'>broken"


def test_only_the_newest_copies_are_kept(tmp_path: Path) -> None:
    live = tmp_path / "cluster.conf"
    live.write_bytes(version(1))
    for n in range(2, KEEP_PREVIOUS + 5):
        write_config_atomically(live, version(n))
    kept = [v for v, _ in previous_versions(str(live))]
    last = KEEP_PREVIOUS + 4
    assert kept == list(range(last - KEEP_PREVIOUS, last))
    assert live.read_bytes() == version(last)


def test_symlinked_live_file_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.conf"
    real.write_bytes(version(4))
    link = tmp_path / "cluster.conf"
    link.symlink_to(real)
    write_config_atomically(link, version(5))
    assert link.is_symlink() and real.read_bytes() == version(5)
    assert (tmp_path / "real.conf.4").read_bytes() == version(4)


def test_failed_write_leaves_the_live_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "cluster.conf"
    live.write_bytes(version(7))

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_config_atomically(live, version(8))
    assert live.read_bytes() == version(7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.conf"]


def test_version_is_read_without_parsing() -> None:
    assert version_in(version(42)) == 42
    assert version_in(b"<cluster config_version='3' name='a'/>") == 3
    assert version_in(b"<cluster name='a'/>") is None


def test_read_refuses_a_file_that_grows_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "cluster.conf"
    live.write_bytes(version(7))
    real_read = os.read
    calls = []

    def read_while_someone_appends(fd: int, n: int) -> bytes:
        if not calls:
            with open(live, "ab") as other:
                other.write(b"<!-- a writer is still busy -->\n")
        calls.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(files_module.os, "read", read_while_someone_appends)
    with pytest.raises(ConfigReadError) as info:
        load_config(live)
    (problem,) = info.value.problems
    assert problem.file == str(live)
    assert problem.message.startswith("the file changed while it was read")


def test_read_refuses_a_file_replaced_by_rename_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "cluster.conf"
    live.write_bytes(version(7))
    real_read = os.read
    replaced = []

    def read_while_an_editor_saves(fd: int, n: int) -> bytes:
        if not replaced:
            (tmp_path / "new").write_bytes(version(8))
            os.replace(tmp_path / "new", live)
            replaced.append(True)
        return real_read(fd, n)

    monkeypatch.setattr(files_module.os, "read", read_while_an_editor_saves)
    with pytest.raises(ConfigReadError, match="changed while it was read"):
        read_config_bytes(live)


def test_read_of_a_stable_file_and_of_a_pipe(tmp_path: Path) -> None:
    live = tmp_path / "cluster.conf"
    live.write_bytes(version(7))
    assert read_config_bytes(live) == version(7)
    fifo_read, fifo_write = os.pipe()
    os.write(fifo_write, version(9))
    os.close(fifo_write)
    try:
        assert read_config_bytes(f"/proc/self/fd/{fifo_read}") == version(9)
    finally:
        os.close(fifo_read)


def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    """Opening a FIFO without a writer waits for ever: `config validate` must say what it is and exit 2."""
    fifo = tmp_path / "cluster.conf"
    os.mkfifo(fifo)
    with pytest.raises(ConfigReadError, match=r"it is a FIFO \(named pipe\), not a regular file"):
        load_config(fifo)
    run = subprocess.run(
        [sys.executable, "-c", "from quorate.cli.main import main; main()", "config", "validate", str(fifo)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert f"{fifo}:0: /: cannot read the file: it is a FIFO (named pipe), not a regular file" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_device_is_refused_as_a_configuration() -> None:
    with pytest.raises(ConfigReadError, match="it is a device, not a regular file"):
        load_config("/dev/zero")
