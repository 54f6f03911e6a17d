"""Wire messages of the membership protocol, as frozen msgspec structs.

Why msgspec: decoding validates types and shapes in one step, so a datagram that passed authentication but
carries a malformed body (a bug in a peer, a version skew) is refused at the boundary with a precise error
instead of surfacing as an exception deep inside a state machine. Structs are `array_like` to keep
heartbeats small; tags are short strings so that a capture stays readable.

The sender's node id is not in the message: it comes from the authenticated datagram header, so a node
cannot speak for another one without the cluster key. The service messages' words (states, actions, outcomes,
requests, answers) are enums: a word outside the vocabulary is refused at decoding like any malformed field.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from quorate.core.config_messages import ConfigMessage
from quorate.core.events import EventRecord
from quorate.core.lock_messages import LockMessage
from quorate.core.service_vocabulary import Action, AdminOp, Answer, Outcome, St

MAX_MESSAGE_BYTES: Final = 8000


class ViewId(msgspec.Struct, frozen=True, array_like=True, order=True):
    """Identifies one proposed or committed view: (sequence, coordinator).

    Two coordinators in two partitions may pick the same sequence number; the coordinator id breaks the tie
    so that a view id names exactly one member set (like a totem ring id). Ordered lexicographically.
    """

    seq: int
    coord: int


NO_VIEW: Final = ViewId(0, 0)

FLAG_DIRTY: Final = 1
FLAG_LEAVING: Final = 2
FLAG_QUORATE: Final = 4
# Stops in progress here (the start-up stops of R-30, or those of a quorum loss): a node outside the view with this
# flag is about to be clean, one with FLAG_DIRTY alone holds what it could not stop (fencing waits only for the
# first, F-14). Older releases never set it and ignore it.
FLAG_STOPPING: Final = 8


class Heartbeat(msgspec.Struct, frozen=True, array_like=True, tag="hb"):
    """Periodic announcement: who I am, whom I hear, which view I run and what I promised."""

    boot: int
    number: int  # grows with every heartbeat of one boot: a reordered older one is ignored
    incarnation: int
    hears: tuple[int, ...]
    view: ViewId
    members: tuple[int, ...]
    promised: ViewId
    expected: int
    config_version: int
    config_digest: str
    flags: int = 0
    stale: tuple[int, ...] = ()  # nodes whose current run this (quorate) node refuses: they must reset
    # Clock offsets (`clock_skew`): the sender's wall-clock send time, and for each peer (id, that peer's last
    # heartbeat's send time, when it arrived here). Trailing and defaulted: an older release ignores them.
    wall: float = 0.0
    echo: tuple[tuple[int, float, float], ...] = ()
    # Optional features the sender implements (`quorate.core.features`); last, so 0.2.0 decoders ignore it.
    features: tuple[str, ...] = ()


class Propose(msgspec.Struct, frozen=True, array_like=True, tag="pr"):
    """A coordinator asks the members to accept a new view."""

    view: ViewId
    members: tuple[int, ...]


class RefusalCode(enum.Enum):
    """Why a member refused a proposed view, or why a node may not be in a view: the code is what the receiver
    decides on; the prose reason next to it is for people.

    Values are short strings so that a capture stays readable; decoding rejects any value not listed here.
    """

    LEFT = "left"  # the member has left the cluster
    PROMISED = "promised"  # it already promised this view or a newer one
    NOT_INCLUDED = "not-included"  # the proposal leaves the member out
    NOT_LOWEST = "not-lowest"  # the proposer is not the lowest node id of the proposed members
    NOT_HEARD = "not-heard"  # the member does not hear some proposed members (`nodes`)
    SPLITS_VIEW = "splits-view"  # an outside proposer drops members of the member's quorate view (`nodes`)
    FENCED = "fenced"  # a proposed node's run was fenced; it must restart first (`nodes`)
    STALE_RUN = "stale-run"  # a proposed node failed and came back with the same incarnation (`nodes`)
    DIRTY_OUTSIDE = "dirty-outside"  # a proposed node claims cluster state while outside the view (`nodes`)
    CONFIG_MISMATCH = "config-mismatch"  # a node outside the view runs another configuration (`nodes`)


class Accept(msgspec.Struct, frozen=True, array_like=True, tag="ac"):
    """A member's answer to a proposal; a refusal (`ok=False`) carries what the member promised, a code, the
    nodes the refusal is about (by id) and a reason in prose for the log. An acceptance carries no code."""

    view: ViewId
    ok: bool
    promised: ViewId
    reason: str = ""
    code: RefusalCode | None = None
    nodes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Raised at construction, and turned into a validation error (a malformed message) by decoding.
        if self.ok and self.code is not None:
            raise ValueError(f"an accepted proposal carries no refusal code, got {self.code.value!r}")
        if not self.ok and self.code is None:
            raise ValueError("a refused proposal must carry a refusal code")


class Commit(msgspec.Struct, frozen=True, array_like=True, tag="co"):
    """The coordinator installs a view every member accepted.

    `left` lists the nodes of the coordinator's previous view that departed cleanly (`cman_tool leave`): they
    are not fencing victims. Every other departure is a failure.
    """

    view: ViewId
    members: tuple[int, ...]
    left: tuple[int, ...] = ()


class Leave(msgspec.Struct, frozen=True, array_like=True, tag="lv"):
    """The sender leaves the cluster cleanly; with `remove`, the others lower expected votes without it."""

    incarnation: int
    remove: bool = False


class SetExpected(msgspec.Struct, frozen=True, array_like=True, tag="ex"):
    """`cman_tool expected -e N` broadcast: every member lowers its expected votes to at most N."""

    expected: int


class Kill(msgspec.Struct, frozen=True, array_like=True, tag="kl"):
    """`cman_tool kill -n NODE`: the receiver must stop at once, as a failure, so that it is fenced (Q-9).

    Addressed to one run of the node, (boot, incarnation) as the sender last heard it, so that a copy that
    arrives late cannot kill the node's next run."""

    boot: int
    incarnation: int


class FenceEntry(msgspec.Struct, frozen=True, array_like=True):
    """One pending victim as the coordinator sees it: which run of the node failed, and where fencing stands."""

    nodeid: int
    boot: int
    incarnation: int
    state: str
    detail: str = ""
    attempts: int = 0


class FenceRecord(msgspec.Struct, frozen=True, array_like=True):
    """A confirmed fence: that run of the node is off (or an administrator said so); `by` is the fencing node."""

    nodeid: int
    boot: int
    incarnation: int
    method: str
    by: int
    detail: str = ""


class FenceStatus(msgspec.Struct, frozen=True, array_like=True, tag="fs"):
    """The coordinator's fence state, replicated to every member so that a new coordinator can carry on."""

    victims: tuple[FenceEntry, ...]
    done: tuple[FenceRecord, ...] = ()


class FenceAck(msgspec.Struct, frozen=True, array_like=True, tag="fa"):
    """`fence_ack_manual NODE` typed on a member, forwarded to the coordinator."""

    nodeid: int


class FenceNotice(msgspec.Struct, frozen=True, array_like=True, tag="fn"):
    """A node fenced a victim outside the coordinator's loop (`fence_node`, or a run that outlived its role)."""

    record: FenceRecord


class SvcRecord(msgspec.Struct, frozen=True, array_like=True):
    """One service's shared state record (rgmanager's rg_state_t, without the padding)."""

    name: str
    state: St
    owner: int
    last_owner: int
    restarts: int
    frozen: bool
    touched: bool
    enabled: bool
    reason: str = ""
    version: int = 0  # view sequence x 100000 + changes in that view: a newer record wins when tables merge


class SvcTable(msgspec.Struct, frozen=True, array_like=True, tag="st"):
    """The coordinator's service records, replicated to every member after each change. A table larger than
    one message travels in parts (records are taken one by one, so any part is useful alone); ``last`` marks
    the final part, which the members answer with their inventory.

    The trailing fields number publications so that a member can tell a delta (only the records that changed
    since the previous publication) from a whole table and notice one it missed (`service_replication`): ``seq``
    counts the coordinator's publications in ``view`` (0: a coordinator that publishes whole tables only, as
    0.3.0 did, whose decoder drops these fields), ``part`` is this part's index in its publication."""

    records: tuple[SvcRecord, ...]
    last: bool = True
    seq: int = 0
    part: int = 0
    delta: bool = False
    view: ViewId = ViewId(0, 0)


class SvcCommand(msgspec.Struct, frozen=True, array_like=True, tag="sc"):
    """Coordinator to owner: start or stop a service on that node; `cmd` ties the report to this command."""

    service: str
    action: Action
    cmd: int


class SvcReport(msgspec.Struct, frozen=True, array_like=True, tag="sr"):
    """Owner to coordinator: what the executor really did, or that a status check failed (cmd 0)."""

    service: str
    cmd: int
    outcome: Outcome
    detail: str = ""


class SvcInventory(msgspec.Struct, frozen=True, array_like=True, tag="si"):
    """A member's executor state (services not stopped there), sent for every view, on every change, and in
    answer to each of the coordinator's tables (so a lost one is replaced). ``seq`` grows with every inventory
    a run of the member sends: the coordinator keeps the newest, whatever order datagrams arrive in."""

    view: ViewId
    running: tuple[tuple[str, St], ...]  # (service, its state in the executor: starting, started, stopping, failed)
    table: tuple[SvcRecord, ...] = ()  # the member's last known records, for a coordinator that starts afresh
    seq: int = 0
    gap: bool = False  # the member missed part of a numbered publication: it asks for the whole table
    # A running list too long for one message goes in consecutive parts (R-35, feature inventory-parts): every
    # part but the last says ``more``, every part but the first names the first one's ``seq`` in ``first``.
    more: bool = False
    first: int = 0


class SvcRequest(msgspec.Struct, frozen=True, array_like=True, tag="sq"):
    """An administrator's request (clusvcadm) typed on a member, forwarded to the coordinator."""

    req: int
    op: AdminOp
    service: str
    target: int = 0


class SvcReply(msgspec.Struct, frozen=True, array_like=True, tag="sy"):
    """The coordinator's final answer to a forwarded request."""

    req: int
    ok: bool
    result: Answer
    owner: int = 0


class TimelineQuery(msgspec.Struct, frozen=True, array_like=True, tag="tq"):
    """`quorate timeline` typed on a member asks every other member for its journal's events in [since, until]
    (wall-clock seconds on the asking node; the receiver widens the window by its own measured offset), matching
    the filters (empty: any). A release without timelines drops the message as undecodable."""

    req: int
    since: float
    until: float
    service: str = ""
    node: str = ""
    kind: str = ""


class TimelineChunk(msgspec.Struct, frozen=True, array_like=True, tag="tc"):
    """One part of a member's answer to a `TimelineQuery`; ``last`` marks the final part (``total``: how many
    events the answer holds, so the asker knows whether a part was lost)."""

    req: int
    part: int
    last: bool
    total: int
    events: tuple[EventRecord, ...] = ()
    truncated: bool = False


TIMELINE_MESSAGES = (TimelineQuery, TimelineChunk)


class RotationId(msgspec.Struct, frozen=True, array_like=True, order=True):
    """Names one key rotation: (sequence, node where it was started); a higher one supersedes a lower one."""

    seq: int
    by: int


class KeyStep(enum.Enum):
    """A step of a key rotation: what a member confirms (staged, sending, installed) or is told (switch,
    finish)."""

    STAGED = "staged"  # the new key is written next to the key file: the member accepts it
    SENDING = "sending"  # the member seals its datagrams with the new key
    INSTALLED = "installed"  # the key file holds the new key; the old one is retired
    SWITCH = "switch"  # driver to members: send with the new key
    FINISH = "finish"  # driver to members: install the new key and retire the old one


class KeyOffer(msgspec.Struct, frozen=True, array_like=True, tag="ko"):
    """The driver of a rotation hands the new key to a member (the datagram is sealed with the current key).
    A member forwards it to a new driver when the old one left; ``sending`` says the forwarder already seals
    with the new key (the rotation may then only go forward)."""

    rotation: RotationId
    key: bytes
    grace: int
    sending: bool = False


class KeyAck(msgspec.Struct, frozen=True, array_like=True, tag="kk"):
    """A member confirms a step of the rotation to its driver, or says why it could not (``ok`` False)."""

    rotation: RotationId
    step: KeyStep
    ok: bool = True
    detail: str = ""


class KeyGo(msgspec.Struct, frozen=True, array_like=True, tag="kg"):
    """The driver tells the members to take the next step (switch or finish)."""

    rotation: RotationId
    step: KeyStep


class KeyAbort(msgspec.Struct, frozen=True, array_like=True, tag="ka"):
    """The driver gives the rotation up before anyone sends with the new key: the staged copies go."""

    rotation: RotationId
    reason: str


class KeyFetch(msgspec.Struct, frozen=True, array_like=True, tag="kq"):
    """A node that missed a rotation asks for the new key, sealed with the key it still has (the old one)."""

    nonce: int


class KeyGrant(msgspec.Struct, frozen=True, array_like=True, tag="kr"):
    """A member's answer to a fetch, sealed with the retired key the asker holds."""

    nonce: int
    rotation: RotationId
    key: bytes


KEY_MESSAGES: Final = (KeyOffer, KeyAck, KeyGo, KeyAbort, KeyFetch, KeyGrant)


Message = (
    Heartbeat
    | Propose
    | Accept
    | Commit
    | Leave
    | SetExpected
    | Kill
    | FenceStatus
    | FenceAck
    | FenceNotice
    | SvcTable
    | SvcCommand
    | SvcReport
    | SvcInventory
    | SvcRequest
    | SvcReply
    | TimelineQuery
    | TimelineChunk
    | LockMessage
    | ConfigMessage
    | KeyOffer
    | KeyAck
    | KeyGo
    | KeyAbort
    | KeyFetch
    | KeyGrant
)

_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Message)


class MalformedMessage(ValueError):
    """An authenticated payload that is not a valid message (counted and dropped by the shell)."""


def encode(message: Message) -> bytes:
    data = _encoder.encode(message)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(data)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte cap")
    return data


def decode(data: bytes) -> Message:
    if len(data) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"payload of {len(data)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte cap")
    try:
        message: Message = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedMessage(str(exc)) from None
    return message
