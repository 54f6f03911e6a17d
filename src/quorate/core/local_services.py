"""This node's own service decisions: what its executor runs, and the stops it makes without the coordinator.

Theory of operation
-------------------
The coordinator decides where services run (`quorate.core.services`); each node's executor starts and stops
what it is told. But a node also stops things on its own, always for safety and never to place anything:

| when                                          | what                                   | why                         |
|-----------------------------------------------|----------------------------------------|-----------------------------|
| the node core starts                          | stop every configured service          | R-30: nothing from an       |
|                                               |                                        | earlier life may run here   |
| quorum lost, evicted, killed, self-fence      | stop every service it runs (at once)   | S2: outside a quorate view, |
|                                               |                                        | nothing runs                |
| a new configuration removes a service         | stop it with the old tree              | R-90                        |
| a new configuration changes its resources     | stop it (old tree), start it (new tree)| R-90                        |
|                                               | reported as held until the start ends  | S1: see `reported`          |
| a new configuration adds a service            | stop it (in case it runs)              | R-90 "Initializing"         |
| a clean leave, or quorated stopping           | stop everything first                  | R-34: a clean leave is      |
|                                               |                                        | never fenced                |

The executor's facts come in as `ServicesRunning` (its ground truth: starting, started, stopping, failed)
and `ServiceDone`. While anything runs here, or the initial stops are not all done, the node is *dirty*: it
holds cluster state, and membership refuses a dirty node outside the view.

Pure; the node core routes the inputs and carries the effects out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from quorate.core.effects import Log
from quorate.core.node_io import Action, ExecOutcome, ServiceDone, StartService, StopService, StopWhy

FAILED = "failed"
STOPPING = "stopping"


class LocalServices:
    """The executor's facts and this node's own stops. Effects accumulate in `effects` for the node core."""

    def __init__(self, names: Iterable[str]) -> None:
        self.running: dict[str, str] = {}
        self.initial: set[str] = set()
        # Restarting for a new configuration, from its stop until its start ends (see `reported`).
        self.reconfig_restart: set[str] = set()
        # Set when a restart ends with nothing running here: the inventory must be told again (`reported`
        # changed without a new list from the executor). The node core clears it.
        self.reported_changed = False
        self.leave_stops: set[str] = set()
        # Stopping for good (a clean leave, or quorated stopping): a start commanded now is refused, or the
        # coordinator, seeing the service stopped here, would give it straight back to this node (still a member
        # until it leaves) and it would stop again a moment later. Cleared by a join.
        self.leaving = False
        self.effects: list[StartService | StopService | Log] = []
        names = sorted(names)
        if names:
            self.effects.append(Log(f"stopping {len(names)} configured service(s) locally before joining (R-30)"))
        for name in names:
            self.initial.add(name)
            self.effects.append(StopService(name, 0, StopWhy.INITIAL))

    @property
    def dirty(self) -> bool:
        return bool(self.running) or bool(self.initial) or bool(self.reconfig_restart)

    @property
    def stopping(self) -> bool:
        """Stops in progress here: the start-up stops not all done, or the executor stopping something."""
        return bool(self.initial) or any(state == STOPPING for state in self.running.values())

    def update(self, running: Mapping[str, str]) -> None:
        self.running = dict(running)

    def reported(self) -> dict[str, str]:
        """What this node tells the coordinator it holds: the executor's facts, plus each service restarting
        for a new configuration as "starting" while the executor holds nothing of it.

        Why: the restart is a stop then a start that no coordinator commanded, and between the two the
        executor's list lacks the service. The coordinator takes a service its owner stopped on its own and no
        longer holds as free (absence is a fact), so it would place it, on another node too, while this node
        starts it again: two copies (S1). Held from the stop to the end of the start, it stays this node's; a
        restart that ends with nothing running here is reported then (`reported_changed`)."""
        if not self.reconfig_restart:
            return dict(self.running)
        held = dict(self.running)
        for name in self.reconfig_restart:
            held.setdefault(name, "starting")
        return held

    def active(self) -> list[str]:
        """Services this node would stop in an emergency: everything but those whose stop already failed."""
        return sorted(name for name, state in self.running.items() if state != FAILED)

    def stop_everything(self, why: StopWhy, reason: str) -> list[str]:
        if why is StopWhy.LEAVING:
            self.leaving = True
        # A restart for a new configuration ends with its stop: nothing may start again here now.
        self._end_restarts(self.reconfig_restart)
        names = self.active()
        if names:
            listed = ", ".join("service:" + n for n in names)
            level = "info" if why is StopWhy.LEAVING else "warning"
            self.effects.append(Log(f"{'stopping' if why is StopWhy.LEAVING else 'emergency stop of'} {listed}: "
                                    f"{reason}", level))
        for name in names:
            self.effects.append(StopService(name, 0, why))
            if why is StopWhy.LEAVING:
                self.leave_stops.add(name)
        return names

    def reconfigure(self, changes: Mapping[str, str]) -> None:
        """A new configuration is active: R-90's stops and restarts for this node's copies."""
        for name, change in sorted(changes.items()):
            if change == "add":
                self.effects.append(Log(f"Initializing service:{name}"))
                self.effects.append(StopService(name, 0, StopWhy.INITIAL))
        for name, change in sorted(changes.items()):
            state = self.running.get(name)
            if change == "remove" and state is not None:
                self.effects.append(Log(f"service:{name} removed from the configuration: stopping it here"))
                self.effects.append(StopService(name, 0, StopWhy.REMOVED, previous_tree=True))
            elif change.startswith("restart") and state == "started":
                why = change.partition(":")[2] or "its resources changed"
                self.effects.append(Log(f"service:{name} restarts here for the new configuration: {why}"))
                self.reconfig_restart.add(name)
                self.effects.append(StopService(name, 0, StopWhy.RECONFIG, previous_tree=True))

    def done(self, report: ServiceDone, known: Iterable[str]) -> ServiceDone | None:
        """A start or stop finished. Returns the report the services core must hear (the coordinator's
        commands, and a failed restart for a new configuration as a status failure), or None."""
        name = report.service
        if report.action is Action.STOP:
            self.leave_stops.discard(name)
            if report.why is StopWhy.INITIAL and name in self.initial:
                self.initial.discard(name)
                if report.outcome is not ExecOutcome.STOPPED:
                    self.effects.append(Log(f"initial stop of service:{name} failed: {report.detail}", "warning"))
            if report.outcome is ExecOutcome.STOP_FAILED:
                self.effects.append(
                    Log(f"#12: service:{name} failed to stop; intervention required: {report.detail}", "warning")
                )
            if report.why is StopWhy.RECONFIG and name in self.reconfig_restart:
                if report.outcome is ExecOutcome.STOPPED and name in set(known) and not self.leaving:
                    self.effects.append(StartService(name, 0))  # still restarting until this start ends
                else:
                    self._end_restarts([name])
                return None
        else:
            if not report.cmd:
                self._end_restarts([name])
            if report.outcome is ExecOutcome.STARTED:
                self.effects.append(Log(f"service:{name} started" if report.cmd else f"service:{name} restarted"))
            else:
                self.effects.append(Log(f"#68: Failed to start service:{name}: {report.detail}"))
                if not report.cmd:  # the restart for a new configuration failed: the recovery policy applies
                    return ServiceDone(name, 0, Action.START, ExecOutcome.START_FAILED, report.detail)
        return report if report.cmd else None

    def _end_restarts(self, names: Iterable[str]) -> None:
        for name in list(names):
            self.reconfig_restart.discard(name)
            if name not in self.running:
                self.reported_changed = True

    def take(self) -> list[StartService | StopService | Log]:
        effects, self.effects = self.effects, []
        return effects
