"""`quorate why` on the command line: the sentence, the facts with --json, and status 1 for refusals and for a
daemon that does not answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from quorate.cli import fastclient
from quorate.cli.why_cmd import why

ANSWER = {"ok": True, "kind": "service", "subject": "test", "sentence": "test runs on casper: first of ring01",
          "facts": {"owner": "casper"}}  # fmt: skip


def answering(monkeypatch: pytest.MonkeyPatch, answer: dict[str, object]) -> list[dict[str, object]]:
    sent: list[dict[str, object]] = []

    def exchange(line: bytes, timeout: float = 10.0) -> bytes:
        sent.append(json.loads(line))
        return json.dumps(answer).encode()

    monkeypatch.setattr(fastclient, "exchange", exchange)
    return sent


def test_prints_the_sentence_for_the_name_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = answering(monkeypatch, ANSWER)
    done = CliRunner().invoke(why, ["test"])
    assert done.exit_code == 0 and done.output == "test runs on casper: first of ring01\n"
    assert sent == [{"cmd": "why", "raw": False, "name": "test"}]


def test_json_gives_the_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, ANSWER)
    done = CliRunner().invoke(why, ["test", "--json"])
    assert json.loads(done.output) == {"kind": "service", "subject": "test",
                                       "sentence": "test runs on casper: first of ring01",
                                       "facts": {"owner": "casper"}}  # fmt: skip


def test_an_unknown_name_exits_1_with_the_daemons_list(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, {"ok": False, "error": "unknown service or node 'x' (services: test; nodes: a, b)"})
    done = CliRunner().invoke(why, ["x"])
    assert done.exit_code == 1
    assert "unknown service or node 'x' (services: test; nodes: a, b)" in done.output


def test_no_daemon_is_the_usual_could_not_connect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUORATE_SOCKET", str(tmp_path / "nothing.sock"))
    done = CliRunner().invoke(why, [])
    assert done.exit_code == 1 and "Could not connect to CMAN: quorated is not running" in done.output
