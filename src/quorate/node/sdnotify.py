"""systemd's readiness protocol (sd_notify), spoken directly: one datagram of KEY=VALUE lines.

Why not a library: the protocol is a few lines, and the available packages are either unmaintained or need
libsystemd headers to build. Outside systemd (no NOTIFY_SOCKET) every call is a no-op. The variable is
removed from the environment at start so that agents spawned later cannot speak for the daemon.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self) -> None:
        address = os.environ.pop("NOTIFY_SOCKET", None)
        if address and address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address
        self.last_status: str | None = None

    def notify(self, **fields: str) -> None:
        if not self.address:
            return
        payload = "\n".join(f"{key.upper()}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, self.address)
        except OSError:
            pass  # systemd went away; readiness reporting must never take the daemon down

    def ready(self, status: str) -> None:
        self.notify(ready="1", status=status)
        self.last_status = status

    def status(self, status: str) -> None:
        if status != self.last_status:
            self.notify(status=status)
            self.last_status = status

    def stopping(self) -> None:
        self.notify(stopping="1")
