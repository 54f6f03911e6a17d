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


class RequestFailed(Exception):
    """The daemon answered with a refusal; the message says why."""


def socket_path() -> str:
    return os.environ.get("QUORATE_SOCKET", DEFAULT_SOCKET)


def request(cmd: str, **args: Any) -> dict[str, Any]:
    reply = fastclient.exchange(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
    if not reply:
        raise RequestFailed("the daemon closed the connection without answering")
    answer: dict[str, Any] = json.loads(reply)
    if not answer.get("ok"):
        raise RequestFailed(str(answer.get("error", "refused")))
    return answer


def status() -> dict[str, Any]:
    result: dict[str, Any] = request("status")["status"]
    return result
