"""Catch-up: a node outside the quorate view that runs an older file fetches the cluster's, and nothing is downgraded.

Theory of operation
-------------------
Membership refuses a node whose configuration version differs from the view's, so a node that was down during a
push, or cut off, must catch up before it can join. Heartbeats say which version (and short digest) each node
runs. A node that is not a member of a quorate view and hears a quorate node run a *newer* version asks that node
for the file (`CfgFetch`), again every `FETCH_RETRY` seconds while it has not caught up (saying so in the log
once per version). A member of a quorate view answers a fetch of exactly the version it runs with its file in
chunks; the fetching node gathers them, checks the SHA-256, and has the shell validate the file as a successor
of its own and activate it (`Adopt`), before membership admits it.

If the shell finds the fetched file unusable here, the node stops asking for it, says why, and stays out until
an administrator fixes it. A node that runs a *newer* version than the quorate cluster is never downgraded:
membership keeps refusing it, naming both versions, until an administrator pushes or replaces the file.
"""

from __future__ import annotations

from quorate.core.config_messages import PURPOSE_FETCH, CfgChunk, CfgFetch
from quorate.core.config_state import Adopt, ConfigState
from quorate.core.config_transfer import chunks, short

FETCH_RETRY = 2.0


class CatchUp:
    """Fetching the cluster's newer file from outside the view, and serving this node's file to others."""

    def __init__(self, state: ConfigState) -> None:
        self._state = state
        self._fetch_after = 0.0
        self._fetching: tuple[int, str] | None = None
        self._unusable: set[tuple[int, str]] = set()

    def heard(self, now: float, sender: int, version: int, digest: str, *, quorate: bool) -> None:
        """A node runs (version, short digest): fetch it if it is quorate, newer, and this node is outside."""
        state = self._state
        wanted = (version, digest)
        if not state.in_quorate_view() and quorate and version > state.version and now >= self._fetch_after:
            if wanted in self._unusable:
                return
            self._fetch_after = now + FETCH_RETRY
            if wanted != self._fetching:
                self._fetching = wanted
                state.log(
                    f"the cluster runs configuration version {version}, this node {state.version}: "
                    f"fetching it from {state.name(sender)}"
                )
            state.send((sender,), CfgFetch(version, digest))

    def accepts_fetched(self, chunk: CfgChunk) -> bool:
        """Gather a fetched chunk only of a version newer than the running one (never a downgrade)."""
        return chunk.version > self._state.version

    def fetched(self, sender: int, chunk: CfgChunk, data: bytes) -> None:
        """The whole fetched file: the shell validates it as a successor of the running one, then activates it."""
        self._state.effects.append(Adopt(chunk.version, chunk.digest, data, sender))

    def refused(self, version: int, digest: str, error: str) -> None:
        """The shell found a fetched file unusable here: stop asking for it, say why, and stay out."""
        self._unusable.add((version, short(digest)))
        self._state.log(
            f"configuration version {version} run by the cluster is not valid on this node: {error}; "
            "this node stays out of the cluster until it is fixed",
            "error",
        )

    def serve(self, sender: int, message: CfgFetch) -> None:
        """A node asks for the file this node runs: sent whole, by a member of a quorate view only."""
        state = self._state
        if message.version == state.version and state.in_quorate_view():
            for chunk in chunks(PURPOSE_FETCH, 0, state.version, state.digest, state.data):
                state.send((sender,), chunk)
