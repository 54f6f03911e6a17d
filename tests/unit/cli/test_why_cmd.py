"""`quorate why` on the command line: the sentence (raw form), the facts with --json, and status 1 for refusals
and for a daemon that does not answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from quorate.cli import fastclient
from quorate.cli.why_cmd import why
from quorate.node import protocol

ANSWER = {"ok": True, "kind": "service", "subject": "test", "sentence": "test runs on casper: first of ring01",
          "facts": {"owner": "casper"}}  # fmt: skip


def answering(monkeypatch: pytest.MonkeyPatch, answer: dict[str, object]) -> list[dict[str, object]]:
    sent: list[dict[str, object]] = []

    def exchange(line: bytes, timeout: float = 10.0) -> bytes:
        request = json.loads(line)
        sent.append(request)
        protocol.decode_request(line)  # every line the command sends follows the schema
        if not request["raw"]:
            return json.dumps(answer).encode()
        if answer["ok"]:
            return f"OK\n{answer['sentence']}\n".encode()
        return f"ERR\n{answer['error']}\n".encode()

    monkeypatch.setattr(fastclient, "exchange", exchange)
    return sent


def test_prints_the_sentence_for_the_name_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = answering(monkeypatch, ANSWER)
    done = CliRunner().invoke(why, ["test"])
    assert done.exit_code == 0 and done.output == "test runs on casper: first of ring01\n"
    assert sent == [{"cmd": "why", "raw": True, "name": "test"}]


def test_no_name_asks_about_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = answering(monkeypatch, ANSWER | {"sentence": "quorate: 3 votes of 3 expected, quorum 2"})
    done = CliRunner().invoke(why, [])
    assert done.exit_code == 0 and done.output == "quorate: 3 votes of 3 expected, quorum 2\n"
    assert sent == [{"cmd": "why", "raw": True}]


def test_json_gives_the_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, ANSWER)
    done = CliRunner().invoke(why, ["test", "--json"])
    assert json.loads(done.output) == {"kind": "service", "subject": "test",
                                       "sentence": "test runs on casper: first of ring01",
                                       "facts": {"owner": "casper"}}  # fmt: skip


@pytest.mark.parametrize("options", [[], ["--json"]])
def test_an_unknown_name_exits_1_with_the_daemons_list(monkeypatch: pytest.MonkeyPatch, options: list[str]) -> None:
    answering(monkeypatch, {"ok": False, "error": "unknown service or node 'x' (services: test; nodes: a, b)"})
    done = CliRunner().invoke(why, ["x", *options])
    assert done.exit_code == 1
    assert "quorate why: unknown service or node 'x' (services: test; nodes: a, b)" in done.output


@pytest.mark.parametrize("options", [[], ["--json"]])
def test_no_daemon_is_the_usual_could_not_connect(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: list[str]
) -> None:
    monkeypatch.setenv("QUORATE_SOCKET", str(tmp_path / "nothing.sock"))
    done = CliRunner().invoke(why, options)
    assert done.exit_code == 1 and "Could not connect to CMAN: quorated is not running" in done.output
