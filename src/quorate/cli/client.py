"""Talk to the local quorated over its control socket. Standard library only: status commands stay fast.

The socket path is /run/quorate/quorated.sock unless QUORATE_SOCKET says otherwise (tests, several daemons
on one machine).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

DEFAULT_SOCKET = "/run/quorate/quorated.sock"
TIMEOUT = 10.0


class NotRunning(Exception):
    """No daemon answers on the control socket."""


class RequestFailed(Exception):
    """The daemon answered with a refusal; the message says why."""


def socket_path() -> str:
    return os.environ.get("QUORATE_SOCKET", DEFAULT_SOCKET)


def request(cmd: str, **args: Any) -> dict[str, Any]:
    path = socket_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NotRunning(path) from exc
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    if not chunks:
        raise RequestFailed("the daemon closed the connection without answering")
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    if not answer.get("ok"):
        raise RequestFailed(str(answer.get("error", "refused")))
    return answer


def status() -> dict[str, Any]:
    result: dict[str, Any] = request("status")["status"]
    return result
