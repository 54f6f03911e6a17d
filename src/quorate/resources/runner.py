"""Drive a service tree through its agents on this node: start, stop and status, in rgmanager's order.

Theory of operation: a `ResourceRunner` is the node's executor for resource trees. It keeps, per tree node,
whether this runner started it, when each status depth last ran and with what result, and recent failures and
restarts; per resource it keeps the set of active tree nodes (the reference count of R-73). Per-service
serialisation (one operation at a time per service, R-3) is the caller's job; different services may run
concurrently on one event loop.

* `start_service` starts nodes in start order (R-70). At the first failure it stops, in stop order, what this
  call started plus the failed node itself (agents are idempotent, and a half-started resource must not be
  left behind), and reports which resource failed and why. If that clean-up stop fails too, the outcome says
  ``resources_left``: the caller must mark the service failed and the node is a fencing candidate (R-54).
* `stop_service` stops every node in stop order, going on after failures (every resource gets its chance),
  and fails if any stop failed (R-70, R-11). A stop answering "not installed" (OCF 5) for a resource this
  runner never started counts as success (R-82), so stop-before-start on a node lacking a program works.
* `status_service` walks parent before children (R-70) and, per node, runs the deepest status check whose
  interval has elapsed since it last ran, or reuses the last result when none is due (R-50). Timers restart
  when a node starts, so the first check comes one interval after the start; a check at depth d also restarts
  the timers of the shallower depths, which it includes. A failure inside an ``__independent_subtree`` is
  reported in ``recoverable`` and the walk continues outside it; any other failure ends the walk and fails the
  service (R-52). The subtree reported is the *outermost* independent one above the failure: in rgmanager each
  independent ancestor took the failure over on its way up the tree, so the outermost one decided. A failure
  counter (``__max_failures`` failures within ``__failure_expire_time``; rgmanager needed both) hides failures
  until that many happened in the window. A non-critical subtree that was stopped is not checked again until
  the service starts anew.
* `recover_subtree` decides like rgmanager's status walk, with the subtree's own restart counter: it exists when
  both ``__max_restarts`` and ``__restart_expire_time`` are set on the independent node (either alone does
  nothing, as in rgmanager); a start of the whole service resets it. A critical subtree restarts in place while
  it has fewer restarts than ``__max_restarts`` in the window (without a counter, always), and beyond that the
  counter is cleared and the service must recover as a whole. A non-critical subtree (``"2"``) restarts the
  same way while its budget lasts; without a counter, or once the budget is spent, it is only stopped and stays
  stopped, and the service goes on without it.

Timeouts (R-83): with ``__enforce_timeouts="1"`` an action is killed when the agent's declared timeout (or the
``<action>`` override) expires, and that counts as a failure, as in rgmanager. Without it rgmanager waited
forever; quorate never does, it applies ``ceiling`` (5 minutes by default, or the declared timeout if longer).
``now`` values are `time.monotonic` seconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from quorate.config.derive import read_time
from quorate.config.rgtree import NON_CRITICAL, Node, ServiceTree
from quorate.resources.agents import Agent, AgentContext, AgentOutcome, agent_for, default_agents
from quorate.resources.agents.base import DEFAULT_RSCTMP, OCF_ERR_INSTALLED, local_node_name
from quorate.resources.catalogue import ActionSpec

DEFAULT_CEILING = 300.0
GUARD = 5.0  # beyond an agent's own budget, in case it ignores it


@dataclass(frozen=True, slots=True)
class StepResult:
    """One agent call (or, for status, a reused earlier result) within a service operation."""

    node: Node
    action: str
    outcome: AgentOutcome
    depth: int = 0
    reused: bool = False

    def __str__(self) -> str:
        verdict = "ok" if self.outcome.ok else "FAILED"
        return f"[{self.action}] {self.node.label}: {verdict}: {self.outcome.message}"


@dataclass(frozen=True)
class ServiceOutcome:
    """What happened to a service. ``failed`` is the resource that failed first (None when ``ok``)."""

    service: str
    action: str
    ok: bool
    message: str
    steps: tuple[StepResult, ...] = ()
    failed: Node | None = None
    rollback: tuple[StepResult, ...] = ()
    self_fence: bool = False
    recoverable: tuple[Node, ...] = ()
    duration: float = 0.0

    @property
    def resources_left(self) -> bool:
        """A stop (or the clean-up after a failed start) failed: something may still hold the resources,
        the service must go to ``failed`` and may not run anywhere else before this node is fenced."""
        return any(s.action == "stop" and not s.outcome.ok for s in (*self.steps, *self.rollback))


@dataclass
class _NodeState:
    started: bool = False
    started_at: float = 0.0
    last_run: dict[int, float] = field(default_factory=dict)
    last_result: AgentOutcome | None = None
    failures: list[float] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)
    # Stopped as a failed non-critical subtree: not checked until the service starts again.
    disabled: bool = False


def _special_time(node: Node, attr: str) -> int:
    value = node.special.get(attr)
    return (read_time(value) or 0) if value else 0


def _special_count(node: Node, attr: str) -> int:
    text = node.special.get(attr, "").strip()
    return int(text) if text.isdigit() else 0


def _counter(node: Node, count: str, expire: str) -> tuple[int, int] | None:
    """(limit, window in seconds) of a failure or restart counter; None unless both settings are positive."""
    limit, window = _special_count(node, count), _special_time(node, expire)
    return (limit, window) if limit > 0 and window > 0 else None


def _within(times: list[float], window: int, now: float) -> list[float]:
    return [t for t in times if now - t < window]


class ResourceRunner:
    """This node's resource executor. ``node_name`` is this node's cluster name (HA-LVM tags);
    ``is_member(name)`` tells whether a cluster node is alive; ``rsctmp`` is this node's OCF state directory;
    ``on_step`` sees every agent call as it finishes (rg_test prints them)."""

    def __init__(
        self,
        *,
        node_name: str | None = None,
        is_member: Callable[[str], bool] | None = None,
        rsctmp: str = DEFAULT_RSCTMP,
        agents: Mapping[str, Agent] | None = None,
        clock: Callable[[], float] = time.monotonic,
        ceiling: float = DEFAULT_CEILING,
        on_step: Callable[[StepResult], None] | None = None,
    ) -> None:
        self.node_name = node_name or local_node_name()
        self.is_member = is_member
        self.rsctmp = rsctmp
        self.agents = dict(default_agents() if agents is None else agents)
        self.clock = clock
        self.ceiling = ceiling
        self.on_step = on_step
        self._states: dict[tuple[str, tuple[int, ...], str, str], _NodeState] = {}
        self._active: dict[tuple[str, str], set[tuple[str, tuple[int, ...], str, str]]] = {}

    # ------------------------------------------------------------------ state
    def _state(self, node: Node) -> _NodeState:
        return self._states.setdefault(node.uid, _NodeState())

    def is_started(self, node: Node) -> bool:
        return self._state(node).started

    def refcount(self, node: Node) -> int:
        """Other active tree nodes using the same resource on this node (R-73)."""
        return len(self._active.get(node.key, set()) - {node.uid})

    def forget(self, service: str) -> None:
        """Drop everything known about a service (removed from the configuration, or stopped for good)."""
        for uid in [u for u in self._states if u[0] == service]:
            del self._states[uid]
        for users in self._active.values():
            users.difference_update({u for u in users if u[0] == service})

    def _mark_started(self, node: Node) -> None:
        state = self._state(node)
        now = self.clock()
        state.started, state.started_at, state.last_result = True, now, None
        state.last_run = {a.depth: now for a in node.status_actions()}
        state.failures.clear()
        self._active.setdefault(node.key, set()).add(node.uid)

    def _mark_stopped(self, node: Node) -> None:
        state = self._state(node)
        state.started, state.last_result = False, None
        state.last_run.clear()
        self._active.get(node.key, set()).discard(node.uid)

    # ---------------------------------------------------------------- actions
    def _timeout(self, node: Node, declared: int) -> float:
        if node.enforce_timeouts and declared > 0:
            return float(declared)
        return max(float(declared), self.ceiling)

    async def _table(self, agent: Agent, node: Node) -> tuple[ActionSpec, ...]:
        """The agent's action table; the static one if the agent cannot tell (a broken meta-data, say)."""
        try:
            return await agent.actions(node)
        except Exception:
            return node.actions

    async def _act(self, node: Node, action: str, depth: int = 0) -> AgentOutcome:
        agent = agent_for(node.type, self.agents)
        table = await self._table(agent, node)
        spec = next((a for a in table if a.name == action and (action != "status" or a.depth == depth)), None)
        timeout = self._timeout(node, spec.timeout if spec else 0)
        ctx = AgentContext(
            timeout=timeout,
            refcnt=self.refcount(node),
            node_name=self.node_name,
            is_member=self.is_member,
            rsctmp=self.rsctmp,
        )
        if action == "start":
            call = agent.start(node, ctx)
        elif action == "stop":
            call = agent.stop(node, ctx)
        else:
            call = agent.status(node, depth, ctx)
        try:
            outcome = await asyncio.wait_for(call, timeout + GUARD)
        except TimeoutError:
            outcome = AgentOutcome(False, None, f"{action} timed out after {timeout:.0f} s", timeout, timed_out=True)
        if action == "stop" and not outcome.ok and outcome.rc == OCF_ERR_INSTALLED and not self.is_started(node):
            outcome = AgentOutcome(True, 0, f"{outcome.message} (it was not running here)", outcome.duration)
        return outcome

    def _record(self, steps: list[StepResult], step: StepResult) -> None:
        steps.append(step)
        if self.on_step is not None:
            self.on_step(step)

    async def _stop_nodes(self, nodes: list[Node], steps: list[StepResult]) -> bool:
        """Stop each node (continuing after failures); True when every stop succeeded."""
        clean = True
        for node in nodes:
            outcome = await self._act(node, "stop")
            self._record(steps, StepResult(node, "stop", outcome))
            if outcome.ok:
                self._mark_stopped(node)
            else:
                clean = False
        return clean

    async def _start_nodes(
        self, tree: ServiceTree, top: Node | None, steps: list[StepResult], rollback: list[StepResult]
    ) -> Node | None:
        """Start the (sub)tree; on failure stop what was started and return the failed node."""
        started: set[Node] = set()
        for node in tree.start_order(top):
            outcome = await self._act(node, "start")
            self._record(steps, StepResult(node, "start", outcome))
            if outcome.ok:
                self._mark_started(node)
                started.add(node)
                continue
            undo = [n for n in tree.stop_order(top) if n in started or n is node]
            await self._stop_nodes(undo, rollback)
            return node
        return None

    # ------------------------------------------------------------- operations
    async def start_service(self, tree: ServiceTree) -> ServiceOutcome:
        began = self.clock()
        for node in tree.nodes():  # a start of the whole service resets restart budgets and stopped subtrees
            state = self._state(node)
            state.restarts.clear()
            state.disabled = False
        if tree.errors:
            problems = "; ".join(str(p) for p in tree.errors)
            return ServiceOutcome(tree.name, "start", False, f"Failed to start {tree.name}: {problems}")
        steps: list[StepResult] = []
        rollback: list[StepResult] = []
        failed = await self._start_nodes(tree, None, steps, rollback)
        duration = self.clock() - began
        if failed is None:
            return ServiceOutcome(
                tree.name, "start", True, f"Start of {tree.name} complete", tuple(steps), duration=duration
            )
        reason = steps[-1].outcome.message
        message = f"Failed to start {tree.name}: {failed.label} failed: {reason}"
        bad = [s for s in rollback if not s.outcome.ok]
        if bad:
            message += f"; stopping it again failed at {bad[0].node.label}: {bad[0].outcome.message}"
        elif rollback:
            message += f"; stopped {len(rollback)} resource(s) again"
        return ServiceOutcome(
            tree.name,
            "start",
            False,
            message,
            tuple(steps),
            failed,
            tuple(rollback),
            self_fence=any(s.outcome.self_fence for s in rollback),
            duration=duration,
        )

    async def stop_service(self, tree: ServiceTree) -> ServiceOutcome:
        began = self.clock()
        steps: list[StepResult] = []
        clean = await self._stop_nodes(tree.stop_order(), steps)
        duration = self.clock() - began
        if clean:
            return ServiceOutcome(
                tree.name, "stop", True, f"Stop of {tree.name} complete", tuple(steps), duration=duration
            )
        bad = [s for s in steps if not s.outcome.ok]
        message = f"Failed to stop {tree.name}: " + "; ".join(f"{s.node.label}: {s.outcome.message}" for s in bad)
        return ServiceOutcome(
            tree.name,
            "stop",
            False,
            message,
            tuple(steps),
            bad[0].node,
            self_fence=any(s.outcome.self_fence for s in bad),
            duration=duration,
        )

    def _tolerated(self, node: Node, now: float) -> tuple[int, int] | None:
        """(failures in window, allowed) when the failure counter hides this failure, else None."""
        counter = _counter(node, "__max_failures", "__failure_expire_time")
        if counter is None:
            return None
        allowed, window = counter
        state = self._state(node)
        state.failures[:] = _within(state.failures, window, now)
        if len(state.failures) >= allowed:
            return None
        state.failures.append(now)
        return len(state.failures), allowed

    async def status_service(self, tree: ServiceTree, now: float | None = None) -> ServiceOutcome:
        now = self.clock() if now is None else now
        steps: list[StepResult] = []
        recoverable: list[Node] = []
        skip: set[Node] = set()
        failed: Node | None = None
        for node in tree.status_order():
            if node in skip or self._state(node).disabled:
                continue
            state = self._state(node)
            table = await self._table(agent_for(node.type, self.agents), node)
            due = [
                a
                for a in table
                if a.name == "status" and a.interval > 0 and now - state.last_run.get(a.depth, -math.inf) >= a.interval
            ]
            if not due:
                outcome = state.last_result or AgentOutcome(True, 0, "no check due")
                self._record(steps, StepResult(node, "status", outcome, reused=True))
            else:
                chosen = max(due, key=lambda a: a.depth)
                # A check at depth d includes the shallower ones (agents check cumulatively), so their
                # timers restart too; rgmanager restarted only depth d's and re-ran shallow checks needlessly.
                for action in table:
                    if action.name == "status" and action.depth <= chosen.depth:
                        state.last_run[action.depth] = now
                outcome = await self._act(node, "status", chosen.depth)
                if not outcome.ok:
                    hidden = self._tolerated(node, now)
                    if hidden is not None:
                        note = f"tolerated failure {hidden[0]} of {hidden[1]}: {outcome.message}"
                        outcome = AgentOutcome(True, outcome.rc, note, outcome.duration)
                state.last_result = outcome
                self._record(steps, StepResult(node, "status", outcome, chosen.depth))
            if outcome.ok:
                continue
            root = tree.independent_root(node)
            if root is None:
                failed = node
                break
            recoverable.append(root)
            skip.update(root.walk())
        if failed is not None:
            message = f"Status check of {tree.name} failed: {failed.label}: {steps[-1].outcome.message}"
        elif recoverable:
            message = f"Status check of {tree.name}: independent subtree(s) failed: " + ", ".join(
                n.label for n in recoverable
            )
        else:
            message = f"Status of {tree.name} is good"
        ok = failed is None and not recoverable
        return ServiceOutcome(tree.name, "status", ok, message, tuple(steps), failed, recoverable=tuple(recoverable))

    async def recover_subtree(self, tree: ServiceTree, top: Node) -> ServiceOutcome:
        """Recover an independent subtree after a status failure inside it (module text): restart it in place
        within its restart budget, or stop a non-critical one for good. A failed stop leaves ``resources_left``
        set; an exhausted budget of a critical subtree fails, and the whole service must recover."""
        began = self.clock()
        steps: list[StepResult] = []
        state = self._state(top)
        counter = _counter(top, "__max_restarts", "__restart_expire_time")
        exhausted = False
        if counter is not None:
            limit, window = counter
            state.restarts[:] = _within(state.restarts, window, began)
            exhausted = len(state.restarts) >= limit
        quiesce = top.independent == NON_CRITICAL and (exhausted or counter is None)
        if counter is not None and exhausted and not quiesce:
            state.restarts.clear()
            message = f"{top.label}: restart budget ({counter[0]}) exhausted; the whole service must recover"
            return ServiceOutcome(tree.name, "recover", False, message, failed=top)
        if not await self._stop_nodes(tree.stop_order(top), steps):
            bad = next(s for s in steps if not s.outcome.ok)
            message = f"Failed to stop {bad.node.label}: {bad.outcome.message}"
            fence = any(s.outcome.self_fence for s in steps)
            return ServiceOutcome(tree.name, "recover", False, message, tuple(steps), bad.node, self_fence=fence)
        if quiesce:
            state.restarts.clear()
            for node in top.walk():
                self._state(node).disabled = True
            return ServiceOutcome(tree.name, "recover", True, f"{top.label} stopped (non-critical)", tuple(steps))
        if counter is not None:
            state.restarts.append(began)
        rollback: list[StepResult] = []
        failed = await self._start_nodes(tree, top, steps, rollback)
        duration = self.clock() - began
        if failed is None:
            return ServiceOutcome(tree.name, "recover", True, f"{top.label} restarted", tuple(steps), duration=duration)
        message = f"Failed to restart {top.label}: {failed.label}: {steps[-1].outcome.message}"
        return ServiceOutcome(
            tree.name, "recover", False, message, tuple(steps), failed, tuple(rollback), duration=duration
        )
