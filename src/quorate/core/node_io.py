"""The node core's vocabulary with the outside world: local requests, reports of carried-out effects, effects.

Theory of operation
-------------------
`quorate.core.node_core.NodeCore` has three kinds of input, each given with ``now``:

* a datagram from a peer (``receive``: authenticated and decrypted by the shell, decoded here);
* the passing of time (``handle_timer`` at or after ``next_deadline()``);
* a local input: an administrator's *request* (`Request`: `cman_tool expected`, `clusvcadm -r`, a lock...) or
  a *report* of an effect the shell carried out (`Report`: an agent finished, a disk read returned, a fence
  device answered). A request gets a request id, and its answer comes back later as a `Reply` effect carrying
  that id, possibly in the same flush.

Its outputs are the effects below, all of them external: datagrams to send, things to run (service agents,
fence agents, heuristics, disk transfers), files to write, answers to give. Effects between the cores
(a view installed, quorum lost, a fence confirmed, quorum-disk votes) never leave the node core.

Every type here is a frozen value: the shell matches on the class, never on a string.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quorate.core.config_dist import Activate, Adopt, Discard, Stage
from quorate.core.effects import Log, PersistGeneration, PersistRejoin, Send
from quorate.core.fencing import CancelFence, RunFence
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockReleased
from quorate.core.node_settings import NodeSettings
from quorate.core.qdisk_block import Block
from quorate.core.qdisk_config import QdiskSettings
from quorate.core.witness_driver import SendToWitness

# ------------------------------------------------------------------------------------------- requests


class Refusal(enum.StrEnum):
    """Why a request was refused, as a code a program can act on; the reply's text is for humans."""

    NONE = ""
    INVALID = "invalid"  # bad argument (unknown node, bad number)
    NOT_MEMBER = "not-member"  # this node is not in a view
    STATE_HELD = "state-held"  # services or locks run here (leave without force)
    REFUSED = "refused"  # the core refused (a membership rule, no quorum...)
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"  # no quorate coordinator / lock master to answer


@dataclass(frozen=True, slots=True)
class SetExpected:
    """`cman_tool expected -e VOTES`."""

    votes: int


@dataclass(frozen=True, slots=True)
class LeaveCluster:
    """`cman_tool leave [remove] [force]` (or SIGTERM: force, after stopping local services)."""

    remove: bool = False
    force: bool = False


@dataclass(frozen=True, slots=True)
class JoinCluster:
    """`cman_tool join` after a leave."""


@dataclass(frozen=True, slots=True)
class KillMember:
    """`cman_tool kill -n NODE`."""

    nodeid: int


@dataclass(frozen=True, slots=True)
class AckFence:
    """`fence_ack_manual NODE`: the administrator says the node is off."""

    nodeid: int


@dataclass(frozen=True, slots=True)
class FenceNow:
    """`fence_node NODE`: one pass of the node's fence methods now, whatever the quorum (F-40)."""

    nodeid: int


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A clusvcadm operation (enable, disable, stop, relocate, restart, freeze, unfreeze)."""

    op: str
    service: str
    target: int = 0


@dataclass(frozen=True, slots=True)
class PushConfig:
    """`ccs_tool update FILE` typed here; the shell has already validated ``data`` against the running file."""

    data: bytes
    version: int


@dataclass(frozen=True, slots=True)
class LockAcquire:
    """A lock session asks for a lock; the reply carries the lock id, grants come as `LockGranted` later."""

    lockspace: str
    name: str
    mode: str | int
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class LockConvert:
    lkid: int
    mode: str | int
    timeout: float | None = None
    lvb: bytes | None = None


@dataclass(frozen=True, slots=True)
class LockRelease:
    lkid: int
    lvb: bytes | None = None


@dataclass(frozen=True, slots=True)
class LockTable:
    """`quorate locks`: this node's locks and the whole table (asked of the lock master when not local)."""


@dataclass(frozen=True, slots=True)
class LvmRefreshAll:
    """`quorate lvm`: ask every other member to read the volume group ``vg`` again; answers when all did."""

    vg: str
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Shutdown:
    """quorated is stopping (SIGTERM): local services stop, lock clients lose their locks, then a clean leave."""


@dataclass(frozen=True, slots=True)
class StopDisk:
    """quorated exits: the quorum disk service gives its votes back and writes its block NONE (a clean logout,
    so nobody evicts this node), then the device closes."""


Request = (
    SetExpected
    | LeaveCluster
    | JoinCluster
    | KillMember
    | AckFence
    | FenceNow
    | ServiceRequest
    | PushConfig
    | LockAcquire
    | LockConvert
    | LockRelease
    | LockTable
    | LvmRefreshAll
    | Shutdown
    | StopDisk
)

# -------------------------------------------------------------------------------------------- reports


class StopWhy(enum.StrEnum):
    """Why this node stops a service on its own (the coordinator's commands are ``COMMAND``)."""

    COMMAND = "command"
    INITIAL = "initial"  # before joining, in case anything still runs from an earlier life
    EMERGENCY = "emergency"  # S2: quorum lost or evicted
    REMOVED = "removed"  # gone from the configuration
    RECONFIG = "reconfig"  # its resources changed: stopped with the old tree, started with the new one
    LEAVING = "leaving"  # a clean leave or quorated stopping


class Action(enum.StrEnum):
    START = "start"
    STOP = "stop"


class ExecOutcome(enum.StrEnum):
    """What the executor says happened to one start or stop."""

    STARTED = "started"
    START_FAILED = "start_failed"
    STOPPED = "stopped"
    STOP_FAILED = "stop_failed"


@dataclass(frozen=True, slots=True)
class ServiceDone:
    """The executor finished a `StartService` / `StopService` (``cmd`` and ``why`` as given in the effect)."""

    service: str
    cmd: int
    action: Action
    outcome: ExecOutcome
    detail: str = ""
    why: StopWhy | None = None


@dataclass(frozen=True, slots=True)
class ServicesRunning:
    """The executor's facts changed: every service in a non-stopped state here (starting, started, stopping,
    failed), as it really is. This is what S1 is checked on, never a core's belief."""

    running: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class StatusChecked:
    """A `CheckService` finished; ``ok`` False means the service's recovery policy applies."""

    service: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FenceDone:
    """One pass of a node's fence methods finished: a `RunFence` (``rid`` 0) or a `FenceOnce` (its ``rid``)."""

    nodeid: int
    ok: bool
    method: str
    detail: str
    duration: float
    rid: int = 0


@dataclass(frozen=True, slots=True)
class FenceManualWaiting:
    """The pass reached a fence_manual device and now waits for `fence_ack_manual`."""

    nodeid: int


@dataclass(frozen=True, slots=True)
class DiskOpened:
    """The answer to `OpenDisk`. ``incarnation`` is chosen by the shell: unique per start of the disk service."""

    ok: bool
    path: str = ""
    label: str = ""
    incarnation: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class DiskRead:
    """The answer to `ReadDisk`: every block, or why the read failed (error, or no answer within its budget)."""

    ok: bool
    blocks: Mapping[int, Block | None] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True, slots=True)
class DiskWritten:
    """The answer to `WriteDisk`: all blocks landed, or the first failure."""

    ok: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class HeuristicDone:
    index: int
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ConfigStaged:
    """The answer to `Stage`: the file was validated here and written aside, or why not."""

    tx: int
    digest: str
    ok: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class AdoptRefused:
    """The answer to `Adopt` when the fetched file does not validate here."""

    version: int
    digest: str
    error: str


@dataclass(frozen=True, slots=True)
class LvmRefreshResult:
    """The answer to `RefreshLvm`: this node read the volume group again (or could not)."""

    origin: int
    req: int
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ConfigActivated:
    """The shell activated a configuration (written it as the live file): every core takes it now.

    ``service_changes``: per service, what the new file means for this node's copy ("add", "remove",
    "restart": its resources changed), as the configuration layer computed it; ``qdisk_change``: "" (no
    change), "dynamic" (settings qdiskd re-reads in place) or "restart" (the disk service must restart),
    with ``qdisk_fields`` naming them for the log."""

    settings: NodeSettings
    data: bytes
    service_changes: Mapping[str, str] = field(default_factory=dict)
    qdisk_change: str = ""
    qdisk_fields: tuple[str, ...] = ()


Report = (
    ServiceDone
    | ServicesRunning
    | StatusChecked
    | FenceDone
    | FenceManualWaiting
    | DiskOpened
    | DiskRead
    | DiskWritten
    | HeuristicDone
    | ConfigStaged
    | AdoptRefused
    | LvmRefreshResult
    | ConfigActivated
)

# -------------------------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class StartService:
    """Start ``service``'s tree here, in rgmanager's order; answer with `ServiceDone`."""

    service: str
    cmd: int


@dataclass(frozen=True, slots=True)
class StopService:
    """Stop ``service``'s tree here; ``previous_tree``: with the tree of the configuration before the last
    activation (the service was removed or its resources changed). Answer with `ServiceDone`."""

    service: str
    cmd: int
    why: StopWhy = StopWhy.COMMAND
    previous_tree: bool = False


@dataclass(frozen=True, slots=True)
class CheckService:
    """Run the status checks that are due in ``service``'s tree; answer with `StatusChecked`."""

    service: str


@dataclass(frozen=True, slots=True)
class OpenDisk:
    """Find (by label or device) and open the quorum disk; answer with `DiskOpened`."""

    settings: QdiskSettings


@dataclass(frozen=True, slots=True)
class ReadDisk:
    """Read every status block, giving up after ``budget`` seconds; answer with `DiskRead`."""

    budget: float


@dataclass(frozen=True, slots=True)
class WriteDisk:
    """Write these blocks in order (the shell stamps wall time and latencies), giving up after ``budget``
    seconds; answer with `DiskWritten`."""

    blocks: tuple[Block, ...]
    budget: float


@dataclass(frozen=True, slots=True)
class CloseDisk:
    """The disk service ended (after its last write): close the device."""


@dataclass(frozen=True, slots=True)
class DiskStatusFile:
    """qdiskd's ``status_file``: write this status there (a failure is logged, never fatal)."""

    path: str
    status: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RunHeuristic:
    """Run ``program`` with ``/bin/sh -c``, killed after ``timeout``; answer with `HeuristicDone`."""

    index: int
    program: str
    timeout: float


@dataclass(frozen=True, slots=True)
class RefreshLvm:
    """Make this node forget its cached LVM hints for ``vg`` and read it again; answer with `LvmRefreshed`."""

    origin: int
    req: int
    vg: str


@dataclass(frozen=True, slots=True)
class FenceOnce:
    """`fence_node`: run one pass of ``name``'s fence methods now; answer with `FenceDone` carrying ``rid``."""

    rid: int
    nodeid: int
    name: str


@dataclass(frozen=True, slots=True)
class SelfFence:
    """This node must not go on: stop every local service, then exit without a clean leave, so that the others
    fence it before they recover anything it ran (quorated never reboots a machine by itself)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to local request ``rid``: ``ok``, a sentence for humans, ``code`` when refused, and the
    request's result (a lock id, the owner of a relocated service, a lock table...)."""

    rid: int
    ok: bool
    text: str = ""
    code: Refusal = Refusal.NONE
    value: Any = None


LockEvent = LockGranted | LockDenied | LockReleased | LockLost

Effect = (
    Send
    | PersistGeneration
    | PersistRejoin
    | Log
    | StartService
    | StopService
    | CheckService
    | RunFence
    | CancelFence
    | FenceOnce
    | OpenDisk
    | ReadDisk
    | WriteDisk
    | CloseDisk
    | DiskStatusFile
    | RunHeuristic
    | Stage
    | Activate
    | Adopt
    | Discard
    | LockGranted
    | LockDenied
    | LockReleased
    | LockLost
    | RefreshLvm
    | SelfFence
    | Reply
    | SendToWitness
)
