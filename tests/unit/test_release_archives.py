"""The release archives the compatibility tests load: an old module is the release's own and stays apart from
this release's, and an archive that is not the one recorded is refused before anything in it runs."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import release_archives

import quorate.core.messages


def test_an_old_module_is_the_releases_own_and_leaves_this_releases_in_place(tmp_path: Path) -> None:
    old = release_archives.release_module("v0.2.0", "quorate.core.messages", tmp_path)
    assert Path(old.__file__ or "").is_relative_to(tmp_path / "quorate-0.2.0" / "src")
    assert "features" not in old.Heartbeat.__struct_fields__  # 0.2.0's heartbeat, not this release's
    assert "features" in quorate.core.messages.Heartbeat.__struct_fields__
    assert sys.modules["quorate.core.messages"] is quorate.core.messages
    assert not any(Path(getattr(m, "__file__", None) or "/").is_relative_to(tmp_path) for m in sys.modules.values())
    assert str(tmp_path / "quorate-0.2.0" / "src") not in sys.path


def test_an_archive_whose_checksum_is_not_the_recorded_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    releases = tmp_path / "releases"
    (releases / "quorate-9.9.9" / "src").mkdir(parents=True)
    archive = releases / "quorate-9.9.9-src.tar.gz"
    subprocess.run(["tar", "-c", "-z", "-f", str(archive), "-C", str(releases), "quorate-9.9.9"], check=True)
    (releases / "SHA256SUMS").write_text(f"{hashlib.sha256(b'another archive').hexdigest()}  {archive.name}\n")
    monkeypatch.setattr(release_archives, "RELEASES", releases)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    refusal = r"quorate-9\.9\.9-src\.tar\.gz: checksum \w+ is not the one in SHA256SUMS"
    with pytest.raises(AssertionError, match=refusal):
        release_archives.release_source("v9.9.9", unpacked)
    assert list(unpacked.iterdir()) == []
