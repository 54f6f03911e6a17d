"""Which key file quorated reads (--key, else <cman keyfile>, else the default) and how it refuses a bad one."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorate.node import daemon
from quorate.node.keys import DEFAULT_KEY_PATH, choose_key_path

ARTICLE = Path(__file__).parents[2] / "fixtures" / "article" / "cluster-1.conf"


@pytest.fixture(autouse=True)
def _daemon_log_handlers() -> Iterator[None]:
    """main() logs to the stderr of its moment: drop the handlers it added, whose stream the test closes."""
    logger = logging.getLogger("quorated")
    before = list(logger.handlers)
    yield
    logger.handlers = before


def test_the_explicit_option_wins_then_the_configuration_then_the_default() -> None:
    assert choose_key_path("/root/k", "/etc/cluster/conf.key") == (Path("/root/k"), "--key")
    assert choose_key_path(None, "/etc/cluster/conf.key") == (
        Path("/etc/cluster/conf.key"),
        "<cman keyfile> in cluster.conf",
    )
    assert choose_key_path(None, None) == (DEFAULT_KEY_PATH, "the default")


def start(tmp_path: Path, key: Path, *extra: str) -> int:
    text = ARTICLE.read_text().replace("<cman\xa0", f'<cman keyfile="{key}" ', 1)  # the article: U+00A0
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    argv = ["-c", str(conf), "-n", "balthasar.localdomain", "--state-dir", str(tmp_path / "state"),
            "--socket", str(tmp_path / "sock"), *extra]  # fmt: skip
    return daemon.main(argv)


def write_key(path: Path, data: bytes, mode: int) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize(
    ("data", "mode", "reason"),
    [
        (None, 0o600, "not found"),
        (b"k" * 8, 0o600, "is too short (8 bytes, at least 32 needed)"),
        (b"k" * 64, 0o644, "is accessible by group or others (mode 0644)"),
    ],
)
def test_a_bad_key_file_named_by_the_configuration_is_refused_naming_it_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes | None, mode: int, reason: str
) -> None:
    key = tmp_path / "conf.key"
    if data is not None:
        write_key(key, data, mode)
    assert start(tmp_path, key) == daemon.EXIT_FATAL_CONFIG
    err = capsys.readouterr().err
    assert f"key file {key} {reason}" in err
    assert "(key file chosen by <cman keyfile> in cluster.conf)" in err


def test_an_explicit_key_option_overrides_the_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_key(tmp_path / "conf.key", b"k" * 64, 0o600)
    missing = tmp_path / "explicit.key"
    assert start(tmp_path, good, "--key", str(missing)) == daemon.EXIT_FATAL_CONFIG
    err = capsys.readouterr().err
    assert f"key file {missing} not found" in err and "(key file chosen by --key)" in err
