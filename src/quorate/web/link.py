"""The console's only way into the cluster: quorated's control socket, as clustat and clusvcadm use it.

Theory of operation: `DaemonLink` wraps `quorate.cli.client` (blocking, one short exchange per request) behind
the things the console does: read the status document, run a clusvcadm operation, acknowledge a fence, read
the cluster's timeline.
The web server calls it in worker threads so that a slow daemon never stalls other pages. The service pages
also show what the status document does not carry (failover domains, resource trees, fence methods): those come
from the cluster.conf the daemon says it runs (``config_file``), parsed with `quorate.config` and cached while
the file's modification time stays the same.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Protocol

from quorate.config import ClusterConfig, ConfigError, ConfigReadError, load_config


class Unreachable(Exception):
    """quorated did not answer on its control socket; the message says why."""


class Link(Protocol):
    def status(self) -> dict[str, Any]: ...

    def svc(self, op: str, service: str, target: str | None) -> dict[str, Any]: ...

    def fence_ack(self, node: str) -> dict[str, Any]: ...

    def config(self, path: str | None) -> ClusterConfig | None: ...

    def timeline(self, since: int, service: str | None) -> dict[str, Any]: ...


@dataclass
class Refused(Exception):
    """The daemon refused a request; ``message`` is its own explanation."""

    message: str

    def __str__(self) -> str:
        return self.message


class DaemonLink:
    def __init__(self) -> None:
        self._config: tuple[str, float, ClusterConfig | None] | None = None

    def status(self) -> dict[str, Any]:
        from quorate.cli import client

        try:
            return client.status()
        except client.NotRunning as exc:
            raise Unreachable(f"quorated does not answer on {client.socket_path()}: {exc}") from None
        except client.RequestFailed as exc:
            raise Unreachable(f"quorated refused the status request: {exc}") from None
        except (OSError, ValueError) as exc:
            raise Unreachable(f"talking to quorated on {client.socket_path()} failed: {exc}") from None

    def _request(self, cmd: str, **args: Any) -> dict[str, Any]:
        from quorate.cli import client

        try:
            return client.request(cmd, **args)
        except client.NotRunning as exc:
            raise Unreachable(f"quorated does not answer on {client.socket_path()}: {exc}") from None
        except client.RequestFailed as exc:
            raise Refused(str(exc)) from None
        except (OSError, ValueError) as exc:
            raise Unreachable(f"talking to quorated on {client.socket_path()} failed: {exc}") from None

    def svc(self, op: str, service: str, target: str | None) -> dict[str, Any]:
        return self._request("svc", op=op, service=service, target=target)

    def fence_ack(self, node: str) -> dict[str, Any]:
        return self._request("fence_ack", node=node)

    def timeline(self, since: int, service: str | None) -> dict[str, Any]:
        """`quorate timeline --json` since ``since`` (wall-clock seconds), for one service or all."""
        answer = self._request("timeline", since=since, service=service, json=True)
        doc: dict[str, Any] = json.loads(answer.get("text") or "{}")
        return doc

    def config(self, path: str | None) -> ClusterConfig | None:
        """The parsed cluster.conf at ``path`` (None when unknown or unreadable: pages then show less)."""
        if not path or path.startswith("<"):
            return None
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        if self._config is not None and self._config[:2] == (path, mtime):
            return self._config[2]
        try:
            config: ClusterConfig | None = load_config(path)
        except (ConfigError, ConfigReadError, OSError):
            config = None
        self._config = (path, mtime, config)
        return config
