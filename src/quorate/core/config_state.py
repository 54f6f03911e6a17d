"""What every part of configuration distribution shares: the running file, the view, the staged file, one outbox.

Theory of operation
-------------------
Configuration distribution is split by role, composed by the `quorate.core.config_dist.ConfigDistribution`
façade: the requester of a push typed here (`config_request`), the coordinator's transaction
(`config_transaction`), the member side (`config_member`) and the catch-up of a node outside the view
(`config_catchup`), over the chunks of `config_transfer`. A fact lives here only when several roles need it:

* the file this node runs (version, bytes, SHA-256): the shell says when it changes (`now_running`);
* the view as this node sees it (members, coordinator, quorate);
* the staged file: validated and written aside, waiting for its commit. The coordinator stages its own copy
  when it starts a transaction; a member stages what the coordinator sends; a commit, an abort, a fellow member
  running it, or its expiry ends it. There is at most one: a new stage replaces the old one.

The pure core never writes files: it asks the shell to (`Stage`, `Activate`, `Adopt`, `Discard`) and hears the
outcome back through the façade. Every effect of every role goes to one list in the order the decisions are
taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from quorate.core.config_messages import ConfigMessage
from quorate.core.config_transfer import digest_of
from quorate.core.effects import Log, Send

RESEND = 0.5  # seconds between repeats of an unanswered message
NOT_QUORATE = "Unable to honor update request. Cluster is not quorate."


def not_greater(current: int, proposed: int) -> str:
    """ccs_tool's refusal of a version that is not higher (spec C-41), both versions named."""
    return (
        "Proposed updated config file does not have greater version number.\n"
        f"  Current config_version :: {current}\n  Proposed config_version:: {proposed}"
    )


# Effects ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """Validate ``data`` against the running configuration, write it aside, answer with `staged`."""

    tx: int
    version: int
    digest: str
    data: bytes


@dataclass(frozen=True)
class Activate:
    """Make the staged (or fetched and validated) file the running one, then call `activated`."""

    version: int
    digest: str
    data: bytes
    why: str


@dataclass(frozen=True)
class Adopt:
    """A fetched file: validate it as a successor of the running one; if valid, activate it."""

    version: int
    digest: str
    data: bytes
    source: int


@dataclass(frozen=True)
class Discard:
    """Drop the staged file of ``tx`` (aborted or expired)."""

    tx: int
    why: str


@dataclass(frozen=True)
class PushDone:
    """The final answer to the local request ``req`` (a `ccs_tool update` or `quorate config push` waiting)."""

    req: int
    ok: bool
    text: str


ConfigEffect = Send | Log | Stage | Activate | Adopt | Discard | PushDone


@dataclass(frozen=True)
class StagedFile:
    """A file validated and written aside, waiting for its commit."""

    tx: int
    version: int
    digest: str
    data: bytes
    since: float

    def of(self, tx: int, digest: str) -> bool:
        """Is this the file of push ``tx`` with that SHA-256 (numbers alone may repeat after a restart)?"""
        return (self.tx, self.digest) == (tx, digest)


class ConfigState:
    """One node's configuration facts that the roles share, and the outbox of their effects."""

    def __init__(self, local_id: int, version: int, data: bytes, *, names: dict[int, str], timeout: float) -> None:
        self.local_id = local_id
        self.names = dict(names)
        self.timeout = timeout
        self.version = version
        self.data = data
        self.digest = digest_of(data)
        self.members: frozenset[int] = frozenset()
        self.coordinator = 0
        self.quorate = False
        self.staged: StagedFile | None = None
        self.effects: list[ConfigEffect] = []

    def in_quorate_view(self) -> bool:
        """This node is a member of a quorate view."""
        return self.quorate and self.local_id in self.members

    def now_running(self, version: int, data: bytes) -> None:
        """The shell runs ``data`` now: a staged file of that version or older has nothing left to wait for."""
        self.version, self.data, self.digest = version, data, digest_of(data)
        if self.staged is not None and self.staged.version <= version:
            self.staged = None

    def activate_staged(self, why: str) -> None:
        staged, self.staged = self.staged, None
        assert staged is not None
        self.effects.append(Activate(staged.version, staged.digest, staged.data, why))

    def send(self, to: tuple[int, ...], message: ConfigMessage) -> None:
        self.effects.append(Send(to, message))

    def log(self, text: str, level: str = "info") -> None:
        self.effects.append(Log(text, level))

    def name(self, nodeid: int) -> str:
        return self.names.get(nodeid, f"node {nodeid}")

    def names_of(self, ids: Iterable[int]) -> str:
        return ", ".join(self.name(i) for i in ids) or "nobody"
