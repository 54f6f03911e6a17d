"""The control protocol's schema: what each command line sends decodes to the request the daemon expects, and bad
requests are refused with a message that says where."""

from __future__ import annotations

import json
from typing import Any

import pytest

from quorate.cli import fastclient
from quorate.node import protocol


def hand_built(monkeypatch: pytest.MonkeyPatch, cmd: str, **args: Any) -> bytes:
    """The line `fastclient.request_text` sends (it builds it by hand, on built-in modules only)."""
    sent: list[bytes] = []

    def capture(line: bytes, timeout: float = 10.0) -> bytes:
        sent.append(line)
        return b"OK\n"

    monkeypatch.setattr(fastclient, "exchange", capture)
    fastclient.request_text(cmd, **args)
    return sent[0]


@pytest.mark.parametrize(
    ("cmd", "args", "expected"),
    [
        ("cman_status", {}, protocol.CmanStatus(raw=True)),
        ("status_text", {"as_json": False}, protocol.StatusText(raw=True)),
        ("status_text", {"as_json": True}, protocol.StatusText(raw=True, as_json=True)),
        ("cman_nodes", {"addresses": True, "only": None}, protocol.CmanNodes(raw=True, addresses=True)),
        ("cman_nodes", {"addresses": False, "only": "casper"}, protocol.CmanNodes(raw=True, only="casper")),
        ("cman_version", {}, protocol.CmanVersion(raw=True)),
        ("cman_services", {}, protocol.CmanServices(raw=True)),
        ("clustat", {"member": "casper", "quiet": True}, protocol.Clustat(raw=True, member="casper", quiet=True)),
        ("clustat", {"service": 'te"st', "xml": True}, protocol.Clustat(raw=True, service='te"st', xml=True)),
        ("expected", {"votes": 2}, protocol.Expected(raw=True, votes=2)),
        ("leave", {"remove": True, "force": False}, protocol.Leave(raw=True, remove=True)),
        ("join", {}, protocol.Join(raw=True)),
        ("kill", {"node": "melchior"}, protocol.Kill(raw=True, node="melchior")),
        ("fence_ack", {"node": "casper"}, protocol.FenceAck(raw=True, node="casper")),
        ("fence_node", {"node": "casper"}, protocol.FenceNode(raw=True, node="casper")),
        ("fence_ls", {}, protocol.FenceLs(raw=True)),
    ],
)
def test_the_status_commands_hand_built_lines_follow_the_schema(
    monkeypatch: pytest.MonkeyPatch, cmd: str, args: dict[str, Any], expected: protocol.Request
) -> None:
    assert protocol.decode_request(hand_built(monkeypatch, cmd, **args)) == expected


def test_python_clients_build_checked_requests() -> None:
    svc = protocol.make_request("svc", op="relocate", service="test", target="casper")
    assert svc == protocol.Svc(op="relocate", service="test", target="casper")
    assert json.loads(protocol.request_line(svc)) == {
        "cmd": "svc",
        "raw": False,
        "op": "relocate",
        "service": "test",
        "target": "casper",
    }
    with pytest.raises(protocol.BadRequest, match=r"Expected `int`, got `str` - at `\$.votes`"):
        protocol.make_request("expected", votes="three")
    with pytest.raises(protocol.BadRequest, match="unknown command 'explode'"):
        protocol.make_request("explode")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json\n", "not a JSON object"),
        (b'{"cmd": "explode"}\n', "Invalid value 'explode' - at `$.cmd`"),
        (b'{"votes": 2}\n', "missing required field `cmd`"),
        (b'{"cmd": "expected"}\n', "missing required field `votes`"),
        (b'{"cmd": "kill", "node": 7}\n', "Expected `str`, got `int` - at `$.node`"),
        (b'{"cmd": "status", "verbose": true}\n', "unknown field `verbose`"),
    ],
)
def test_a_bad_request_is_refused_saying_where(line: bytes, message: str) -> None:
    with pytest.raises(protocol.BadRequest) as caught:
        protocol.decode_request(line)
    assert message in str(caught.value)


def test_answers_encode_without_empty_fields() -> None:
    assert json.loads(protocol.encode(protocol.Answer(True, text="done\n"))) == {"ok": True, "text": "done\n"}
    refusal = protocol.Answer(False, error="not a member of a view", code="refused")
    assert json.loads(protocol.encode(refusal)) == {"ok": False, "error": "not a member of a view", "code": "refused"}
