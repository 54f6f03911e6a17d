"""Configuration distribution, all or nothing (safety rule S5; what `ccs_tool update` and ccsd did, spec C-40..C-43).

Theory of operation
-------------------
A push starts on any member (``push``): the file has already been validated there by the shell. It is sent in
chunks to the coordinator of the quorate view, the one authority, so two pushes never interleave. The
coordinator stages it on every member of its view and commits only when every member staged it; a refusal, a
silent member or a change of view aborts it everywhere, and nothing changes. A member that missed the commit
activates the staged file when it hears a fellow member run it, so after any fault every member ends on the old
version or the new one, never a mix. A node outside the quorate view that hears the cluster run a newer version
fetches the file before membership admits it; a node with a newer version than the cluster is never downgraded.

`ConfigDistribution` is a façade over parts that share one `config_state.ConfigState` (the running file, the
view, the staged file, the outbox of effects), one part per role:

* `config_request`: a push typed on this node, until the coordinator answers it;
* `config_transaction`: the coordinator's two-phase transaction (stage everywhere, then commit or abort);
* `config_member`: staging what the coordinator sends, commit, abort, activation on hearing a fellow member,
  expiry of a staged file nobody activates;
* `config_catchup`: a node outside the view fetching a newer file, and members serving theirs;
* `config_transfer`: chunks, and their reassembly checked against the SHA-256.

The façade routes each input to its part (chunks by purpose, after the checks of the part they are for), carries
out what touches several parts (a new view, a push typed on the coordinator itself, the shell's answer to a
`Stage`), and after every message, view and tick lets the timers run (`_pump`).

Pure: time comes in as ``now``, bytes and SHA-256 are computed here, files are written by the shell on the
`Stage`/`Activate`/`Adopt` effects, which answers through `staged_result`/`activated`/`adopt_refused`.
"""

from __future__ import annotations

from quorate.core.config_catchup import FETCH_RETRY, CatchUp
from quorate.core.config_member import STAGED_TTL, Member
from quorate.core.config_messages import (
    PURPOSE_FETCH,
    PURPOSE_PUSH,
    PURPOSE_STAGE,
    CfgAbort,
    CfgChunk,
    CfgCommit,
    CfgFetch,
    CfgResult,
    CfgStaged,
    ConfigMessage,
)
from quorate.core.config_request import PushRequest, Requests
from quorate.core.config_state import (
    NOT_QUORATE,
    RESEND,
    Activate,
    Adopt,
    ConfigEffect,
    ConfigState,
    Discard,
    PushDone,
    Stage,
    StagedFile,
    not_greater,
)
from quorate.core.config_transaction import Coordinator, Transaction
from quorate.core.config_transfer import (
    ASSEMBLY_TTL,
    MAX_FILE_BYTES,
    Assembly,
    Reassembly,
    chunks,
    digest_of,
    plausible,
    short,
)
from quorate.core.messages import FLAG_QUORATE, Heartbeat

__all__ = [
    "ASSEMBLY_TTL",
    "FETCH_RETRY",
    "MAX_FILE_BYTES",
    "NOT_QUORATE",
    "RESEND",
    "STAGED_TTL",
    "Activate",
    "Adopt",
    "ConfigDistribution",
    "ConfigEffect",
    "Discard",
    "PushDone",
    "Stage",
    "chunks",
    "digest_of",
    "not_greater",
    "short",
]


class ConfigDistribution:
    """One node's part in configuration distribution. Feed inputs, then drain `take_effects()`."""

    def __init__(
        self, local_id: int, version: int, data: bytes, *, names: dict[int, str], timeout: float, first_tx: int = 0
    ) -> None:
        """``first_tx``: where this run's transaction numbers start (the shell passes its boot epoch), so that a
        restarted coordinator does not reuse the numbers of pushes it left unfinished; answers and commits are
        matched on (number, SHA-256) anyway."""
        self._state = state = ConfigState(local_id, version, data, names=names, timeout=timeout)
        self._requests = Requests(state)
        self._coordinator = Coordinator(state, self._requests, first_tx=first_tx)
        self._member = Member(state)
        self._catchup = CatchUp(state)
        self._reassembly = Reassembly()

    # --------------------------------------------------------------------------- what others read

    @property
    def local_id(self) -> int:
        return self._state.local_id

    @property
    def names(self) -> dict[int, str]:
        return self._state.names

    @property
    def timeout(self) -> float:
        return self._state.timeout

    @property
    def version(self) -> int:
        """The version of the file this node runs."""
        return self._state.version

    @property
    def data(self) -> bytes:
        return self._state.data

    @property
    def digest(self) -> str:
        return self._state.digest

    @property
    def members(self) -> frozenset[int]:
        return self._state.members

    @property
    def coordinator(self) -> int:
        return self._state.coordinator

    @property
    def quorate(self) -> bool:
        return self._state.quorate

    @property
    def staged(self) -> StagedFile | None:
        """The file validated and written aside, waiting for its commit."""
        return self._state.staged

    @property
    def tx(self) -> Transaction | None:
        """The push this node coordinates now."""
        return self._coordinator.tx

    @property
    def requests(self) -> dict[int, PushRequest]:
        """The pushes typed here that wait for their answer, by request number."""
        return self._requests.requests

    @property
    def assemblies(self) -> dict[tuple[int, str, int], Assembly]:
        return self._reassembly.assemblies

    # ------------------------------------------------------------------------------------ inputs

    def on_view(self, now: float, members: frozenset[int], coordinator: int, quorate: bool) -> None:
        """A new view, or quorum changed: a push whose participants changed cannot commit."""
        state = self._state
        changed = members != state.members or coordinator != state.coordinator
        state.members, state.coordinator, state.quorate = members, coordinator, quorate
        self._coordinator.view_changed(now)
        if changed:
            self._requests.view_changed()
        self._pump(now)

    def on_heartbeat(self, now: float, sender: int, version: int, digest: str, *, member: bool, quorate: bool) -> None:
        """What a peer runs, as its heartbeat says: a fellow member runs the staged file, or the cluster runs a
        newer one than this node outside it."""
        state = self._state
        if (version, digest) == (state.version, short(state.digest)) or version == 0:
            return
        if self._member.activate_on_hearing(sender, version, digest, member=member):
            return
        self._catchup.heard(now, sender, version, digest, quorate=quorate)

    def quiet_for(self, version: int, digest: str) -> bool:
        """Whether a heartbeat naming this configuration is nothing to `on_heartbeat` (the same file, or none)."""
        state = self._state
        return version == 0 or (version, digest) == (state.version, short(state.digest))

    def heard(self, now: float, sender: int, heartbeat: Heartbeat, members: frozenset[int]) -> None:
        """`on_heartbeat` from a decoded heartbeat and this node's current view."""
        self.on_heartbeat(
            now,
            sender,
            heartbeat.config_version,
            heartbeat.config_digest,
            member=sender in members,
            quorate=bool(heartbeat.flags & FLAG_QUORATE),
        )

    def push(self, now: float, req: int, data: bytes, version: int) -> None:
        """An administrator's push typed on this node (already validated here by the shell)."""
        request = self._requests.push(now, req, data, version)
        if request is None:
            return
        if request.received:  # this node coordinates: no need to send the file anywhere
            self._coordinator.begin(now, self._state.local_id, req, version, request.digest, data)
        self._pump(now)

    def staged_result(self, now: float, tx: int, digest: str, ok: bool, error: str) -> None:
        """The shell validated and wrote (or refused) the file of a `Stage` effect."""
        state = self._state
        answer = self._member.staged_result(tx, digest, ok, error)
        current = self._coordinator.tx
        if current is not None and current.tx == tx:
            self._coordinator.on_staged(now, state.local_id, answer)
        elif state.coordinator and state.coordinator != state.local_id:
            state.send((state.coordinator,), answer)

    def adopt_refused(self, version: int, digest: str, error: str) -> None:
        """The shell found a fetched file unusable here: stop asking for it, say why, and stay out."""
        self._catchup.refused(version, digest, error)

    def activated(self, version: int, data: bytes) -> None:
        """The shell now runs ``data`` (after `Activate`, or a reload it did on its own)."""
        self._state.now_running(version, data)

    def receive(self, now: float, sender: int, message: ConfigMessage) -> None:
        if isinstance(message, CfgChunk):
            self._on_chunk(now, sender, message)
        elif isinstance(message, CfgStaged):
            self._coordinator.on_staged(now, sender, message)
        elif isinstance(message, CfgCommit):
            self._member.on_commit(sender, message)
        elif isinstance(message, CfgAbort):
            self._member.on_abort(sender, message)
        elif isinstance(message, CfgResult):
            self._requests.on_result(sender, message)
        elif isinstance(message, CfgFetch):
            self._catchup.serve(sender, message)
        self._pump(now)

    def tick(self, now: float) -> None:
        self._pump(now)

    # ----------------------------------------------------------------------------------- outputs

    def next_deadline(self) -> float | None:
        times = (
            self._coordinator.deadlines()
            + self._requests.deadlines()
            + self._member.deadlines()
            + self._reassembly.deadlines()
        )
        return min(times) if times else None

    def take_effects(self) -> list[ConfigEffect]:
        effects, self._state.effects = self._state.effects, []
        return effects

    def status(self) -> dict[str, object]:
        state = self._state
        staged, tx = state.staged, self._coordinator.tx
        return {
            "version": state.version,
            "digest": state.digest,
            "staged": None if staged is None else {"version": staged.version, "digest": staged.digest},
            "push": None
            if tx is None
            else {"version": tx.version, "waiting_for": state.names_of(sorted(tx.members - tx.staged))},
        }

    # --------------------------------------------------------------------------------- internals

    def _on_chunk(self, now: float, sender: int, chunk: CfgChunk) -> None:
        """A chunk goes to the part it is for; a whole file to the step that waited for it."""
        if not plausible(chunk):
            return
        if chunk.purpose == PURPOSE_STAGE:
            if not self._member.accepts_stage(sender, chunk):
                return
        elif chunk.purpose == PURPOSE_PUSH:
            if not self._coordinator.accepts_push(sender, chunk):
                return
        elif chunk.purpose == PURPOSE_FETCH:
            if not self._catchup.accepts_fetched(chunk):
                return
        else:
            return
        data = self._reassembly.add(now, sender, chunk)
        if data is None:
            return
        if not data:
            self._state.log(
                f"configuration from {self._state.name(sender)} does not match its SHA-256: dropped", "warning"
            )
            return
        if chunk.purpose == PURPOSE_STAGE:
            self._member.stage(now, chunk, data)
        elif chunk.purpose == PURPOSE_PUSH:
            self._coordinator.begin(now, sender, chunk.tx, chunk.version, chunk.digest, data)
        else:
            self._catchup.fetched(sender, chunk, data)

    def _pump(self, now: float) -> None:
        """The timers, in order: the coordinator's push, the requests typed here, the staged file, half files."""
        self._coordinator.pump(now)
        self._requests.pump(now)
        current = self._coordinator.tx
        self._member.expire(now, None if current is None else current.tx)
        self._reassembly.expire(now)
