"""FLAG_STOPPING: a node says in its heartbeats that stops are in progress there, so that the coordinator's
start-up fencing waits for a node about to be clean and not for one that holds what it could not stop (F-14)."""

from __future__ import annotations

from membership_rig import Rig

from quorate.core.effects import Send
from quorate.core.local_services import LocalServices
from quorate.core.messages import FLAG_DIRTY, FLAG_STOPPING, Heartbeat
from quorate.core.node_io import Action, ExecOutcome, ServiceDone, StopWhy


def last_flags(rig: Rig) -> int:
    beats = [e.message for e in rig.effects if isinstance(e, Send) and isinstance(e.message, Heartbeat)]
    return beats[-1].flags


def test_heartbeats_say_stopping_while_stops_are_in_progress_and_only_then() -> None:
    rig = Rig()
    rig.core.set_dirty(0.1, True, stopping=True)
    rig.at(0.1)
    assert last_flags(rig) & FLAG_DIRTY and last_flags(rig) & FLAG_STOPPING
    rig.core.set_dirty(0.2, True, stopping=False)  # a stop failed: still holds state, no longer stopping
    rig.at(0.2)
    assert last_flags(rig) & FLAG_DIRTY and not last_flags(rig) & FLAG_STOPPING
    rig.core.set_dirty(0.3, False)
    rig.at(0.3)
    assert not last_flags(rig) & (FLAG_DIRTY | FLAG_STOPPING)


def test_local_services_are_stopping_until_the_start_up_stops_end() -> None:
    local = LocalServices(["web", "db"])
    assert local.stopping and local.dirty
    local.done(ServiceDone("web", 0, Action.STOP, ExecOutcome.STOPPED, "", StopWhy.INITIAL), ["web", "db"])
    assert local.stopping
    local.done(ServiceDone("db", 0, Action.STOP, ExecOutcome.STOP_FAILED, "umount failed", StopWhy.INITIAL),
               ["web", "db"])  # fmt: skip
    local.update({"db": "failed"})
    assert not local.stopping and local.dirty  # holds what it could not stop: fenced as before
    local.update({"web": "stopping"})
    assert local.stopping
