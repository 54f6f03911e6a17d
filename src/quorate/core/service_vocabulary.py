"""The words the resource manager speaks: service states, commands, outcomes, requests and answers.

Theory of operation
-------------------
Every one of these words crosses a boundary: the wire between coordinator and members, the executor that
reports what an agent did, the control socket that carries clusvcadm's requests, the logs and `clustat`.
Each is a `StrEnum`, so its value is the very string those boundaries always carried (msgspec encodes an
enum by its value, and `decode` refuses a value the enum does not know, as it refuses any malformed datagram),
while a member still compares equal to its string: a caller that passes "started" keeps working. What the enums
add is that a misspelt word fails where it enters (`Outcome("stoped")` raises) instead of silently matching
no branch of a decision.

`Answer` holds rgmanager's result strings exactly as clusvcadm printed them, since scripts parse them.
"""

from __future__ import annotations

import enum
from typing import Final


class St(enum.StrEnum):
    """A service's state in the shared record, as `clustat` shows it (rgmanager's states, R-1).

    quorate produces stopped, starting, started, stopping, failed and disabled; `recovering` and
    `uninitialized` are understood when a peer's record carries them, but no decision here leads to them.
    """

    STOPPED = "stopped"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    FAILED = "failed"
    DISABLED = "disabled"
    RECOVERING = "recovering"
    UNINITIALIZED = "uninitialized"


RUNNING: Final = frozenset({St.STARTING, St.STARTED, St.STOPPING})
"""States in which the owner's executor may hold the service's resources."""


class FollowUp(enum.StrEnum):
    """What the coordinator does once the stop it commanded is reported done.

    A stop is never the end of a decision by itself: it is the first half of a relocation, a restart, a
    recovery from a failed start, or an administrator's disable/stop. The follow-up is recorded with the
    command, because the report that triggers it may come much later, from another node.
    """

    NONE = ""  # a start command: its report ends the operation
    STOPPED = "stopped"  # `clusvcadm -s`: stay stopped until the next membership change
    DISABLED = "disabled"  # `clusvcadm -d`, or recovery policy `disable`
    RELOCATE = "relocate"  # start elsewhere (the requested node, else the best other one)
    RESTART = "restart"  # start again on the node that just stopped it
    RECOVER = "recover"  # a start failed (that node is excluded, the next best one is tried), or it did not run


class Action(enum.StrEnum):
    """What the coordinator commands an executor to do with one service."""

    START = "start"
    STOP = "stop"


class Outcome(enum.StrEnum):
    """What an executor reports: the end of a commanded start or stop, or a failed periodic status check."""

    STARTED = "started"
    START_FAILED = "start_failed"
    STOPPED = "stopped"
    STOP_FAILED = "stop_failed"
    STATUS_FAILED = "status_failed"  # not tied to a command (cmd 0): the running service broke


class AdminOp(enum.StrEnum):
    """The administrator's requests (clusvcadm's -e, -d, -s, -r, -R, -Z, -U)."""

    ENABLE = "enable"
    DISABLE = "disable"
    STOP = "stop"
    RELOCATE = "relocate"
    RESTART = "restart"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"


class Answer(enum.StrEnum):
    """rgmanager's result strings, which clusvcadm prints after its "...": kept to the letter."""

    SUCCESS = "Success"
    FAILURE = "Failure"
    NO_SUCH_SERVICE = "Service does not exist"
    NEEDS_QUORUM = "Operation requires quorum"
    TRY_AGAIN = "Temporary failure; try again"
    INVALID = "Invalid operation for resource"
    ALREADY_RUNNING = "Service is already running"
    FROZEN = "Failure: Service is frozen"
    ABORTED = "Aborted; service failed"
    NODE_DEAD = "Target node dead / nonexistent"
    FENCE_PENDING = "Fencing operation pending; try again later"
    NOT_RUNNABLE = "Service not runnable"
    EXCLUSIVE = "Service not runnable: cannot run exclusive"


#: rgmanager's return code for each answer; clusvcadm exits with it truncated to 8 bits (-1 is 255), as the
#: original did, so scripts that tested `$? -eq 243` for a pending fence keep working. "Already running" exits 0.
RETURN_CODES: dict[Answer, int] = {
    Answer.SUCCESS: 0,
    Answer.ALREADY_RUNNING: 0,
    Answer.FAILURE: -1,
    Answer.ABORTED: -2,
    Answer.NO_SUCH_SERVICE: -4,
    Answer.TRY_AGAIN: -6,
    Answer.INVALID: -8,
    Answer.NEEDS_QUORUM: -9,
    Answer.FROZEN: -11,
    Answer.NODE_DEAD: -12,
    Answer.FENCE_PENDING: -13,
    Answer.NOT_RUNNABLE: -15,
    Answer.EXCLUSIVE: -16,
}


def exit_status(result: str) -> int:
    """clusvcadm's exit status for a result string; one it does not know (a newer coordinator's) is a failure."""
    try:
        return RETURN_CODES[Answer(result)] & 0xFF
    except ValueError:
        return 1
