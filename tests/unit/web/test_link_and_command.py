"""The console's edges: the daemon link when quorated is absent, the cluster.conf it reads, and its options."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from console_fakes import ARTICLE, FakeLink

from quorate.web.command import web
from quorate.web.link import DaemonLink, Unreachable
from quorate.web.live import Poller


def test_a_missing_daemon_is_unreachable_with_the_socket_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    socket_path = tmp_path / "quorated.sock"
    monkeypatch.setenv("QUORATE_SOCKET", str(socket_path))
    link = DaemonLink()
    with pytest.raises(Unreachable, match=str(socket_path)):
        link.status()
    with pytest.raises(Unreachable, match=str(socket_path)):
        link.svc("disable", "test", None)


def test_the_config_is_read_from_the_daemons_file_and_absent_when_unreadable(tmp_path: Path) -> None:
    link = DaemonLink()
    config = link.config(str(ARTICLE))
    assert config is not None and [s.name for s in config.rm.services] == ["test"]
    assert link.config(str(ARTICLE)) is config  # unchanged file: parsed once
    broken = tmp_path / "cluster.conf"
    broken.write_text("<cluster")
    assert link.config(str(broken)) is None and link.config(str(tmp_path / "none.conf")) is None
    assert link.config(None) is None and link.config("<string>") is None


def test_the_poller_says_when_the_daemon_goes_and_empties_sections_that_vanish() -> None:
    async def scenario() -> None:
        link = FakeLink()
        poller = Poller(link)
        first = await poller.refresh()
        assert "service-test" in first and await poller.refresh() == {}
        sub = poller.subscribe()
        link.down = True
        changed = await poller.refresh()
        assert changed["daemon"].startswith('<div class="banner bad" data-state="unreachable">')
        assert changed["service-test"] == "" and changed["nodes"] == ""
        assert await sub.next(0.1) == {**first, **changed}  # the subscriber's first event: all, merged

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "localhost"], "give [ADDRESS:]PORT"),
        (["--listen", "0.0.0.0:70000"], "give [ADDRESS:]PORT"),
        (["--cert", "/etc/ssl/node.pem"], "give both --cert and --key"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(args: list[str], message: str) -> None:
    result = CliRunner().invoke(web, args)
    assert result.exit_code == 2 and message in result.output


def test_an_unusable_certificate_is_refused_naming_it(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    result = CliRunner().invoke(web, ["--cert", str(cert), "--key", str(key)])
    assert result.exit_code == 1 and f"cannot use certificate {cert} with key {key}" in result.output
