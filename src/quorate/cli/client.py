"""Talk to the local quorated over its control socket, in the JSON form of the protocol.

The connection itself is `fastclient.exchange` (one request line out, the whole answer back). The socket path is
/run/quorate/quorated.sock unless QUORATE_SOCKET says otherwise (tests, several daemons on one machine).
"""

from __future__ import annotations

import json
import os
from typing import Any

from quorate.cli import fastclient
from quorate.cli.fastclient import DEFAULT_SOCKET

NotRunning = fastclient.NotRunning  # no daemon answers on the control socket


class Unreachable(NotRunning):
    """The socket is there but cannot be used (permission denied, no answer in time): a `NotRunning` for the
    commands that only know that one, whose message says why for those that print it."""


def _exchange(line: bytes) -> bytes:
    try:
        reply: bytes = fastclient.exchange(line)
    except fastclient.Unreachable as exc:
        raise Unreachable(str(exc)) from None
    return reply


class RequestFailed(Exception):
    """The daemon answered with a refusal; the message says why."""


def socket_path() -> str:
    return os.environ.get("QUORATE_SOCKET", DEFAULT_SOCKET)


def request(cmd: str, **args: Any) -> dict[str, Any]:
    """Send ``cmd`` (checked against the control protocol's schema) and return the daemon's answer."""
    from quorate.node import protocol

    try:
        line = protocol.request_line(protocol.make_request(cmd, **args))
    except protocol.BadRequest as exc:
        raise RequestFailed(str(exc)) from None
    reply = _exchange(line)
    if not reply:
        raise RequestFailed("the daemon closed the connection without answering")
    answer: dict[str, Any] = json.loads(reply)
    if not answer.get("ok"):
        raise RequestFailed(str(answer.get("error", "refused")))
    return answer


def status() -> dict[str, Any]:
    """The status document (`quorate.node.status.StatusDoc`), checked against its schema, as plain data."""
    import msgspec

    from quorate.node import protocol

    reply = _exchange(protocol.request_line(protocol.Status()))
    if not reply:
        raise RequestFailed("the daemon closed the connection without answering")
    if not json.loads(reply).get("ok"):
        raise RequestFailed(str(json.loads(reply).get("error", "refused")))
    result: dict[str, Any] = msgspec.to_builtins(protocol.decode_status(reply))
    return result
