"""The scenarios of `quorate chaos` as plans: seed in, a fixed list of steps out.

Theory of operation: every random choice of a round (which node, how long a fault lasts, when a link flaps)
is made here, up front, from ``random.Random`` seeded by the run's seed, the scenario and the round number,
so the same command replays the same faults on the same nodes at the same offsets. A plan is plain data
(`Step`: an action name, its arguments, then a pause); the engine (`chaos.py`) carries it out on the
testbed. Nodes are named by their index in the testbed's node list, which is the article's failover domain
order, so a plan does not depend on host names.

Actions: ``power_off``/``power_on`` a node; ``kill`` its daemon (SIGKILL); ``pause``/``resume`` its daemon
(SIGSTOP/SIGCONT); ``freeze``/``thaw`` every process of the node; ``partition`` into groups; ``one_way``
loss from a node to another; ``heal`` the network; ``fail_start``/``fail_stop`` make the service's script
fail on a node; ``relocate`` the service to a node; ``restart`` a node's daemon; ``push_config`` a higher
configuration version from a node. The actions of the later scenarios (random loss, fence agents that fail or
hang, a hanging status check, a relocation in the background, a faked wall clock, a full state directory,
a second daemon, a wrong key) and their ``expect_*`` evidence steps are carried out by `chaos_faults`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from quorate.node.fence_runner import FENCE_AGENT_TIMEOUT


@dataclass(frozen=True)
class Step:
    """Do ``action`` with ``args`` (node indexes, group lists), then wait ``pause`` seconds."""

    action: str
    args: tuple[object, ...] = ()
    pause: float = 0.0


@dataclass(frozen=True)
class Plan:
    scenario: str
    seed: int
    round: int
    steps: list[Step] = field(default_factory=list)
    #: node indexes outside the quorate side while the fault lasts (they must stop writing)
    cut_off: tuple[int, ...] = ()


LOSS_PERCENT = 30
FIRST_FAILED = "fence {node}: method first, device chaos-first (fence_chaos): failed"
FENCE_RETRY_WAIT = 30.0  # seconds for a fence to be confirmed once the agent works again (it retries every 3 s)

Builder = Callable[[random.Random, int], tuple[list[Step], tuple[int, ...]]]


def _hold(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


def _power_off(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    victim = rng.randrange(n)
    return [Step("power_off", (victim,), _hold(rng, 6, 10)), Step("power_on", (victim,))], ()


def _kill_daemon(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    return [Step("kill", (rng.randrange(n),), _hold(rng, 6, 10))], ()


def _pause_daemon(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    victim = rng.randrange(n)
    return [Step("pause", (victim,), _hold(rng, 3, 6)), Step("resume", (victim,), 3)], ()


def _pause_node(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    victim = rng.randrange(n)
    return [Step("freeze", (victim,), _hold(rng, 3, 6)), Step("thaw", (victim,), 3)], ()


def _partition_2_1(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    alone = rng.randrange(n)
    rest = [i for i in range(n) if i != alone]
    return [Step("partition", ((alone,), tuple(rest)), _hold(rng, 10, 14)), Step("heal")], (alone,)


def _partition_each(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    groups = tuple((i,) for i in range(n))
    return [Step("partition", groups, _hold(rng, 8, 12)), Step("heal")], tuple(range(n))


def _one_way(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    src, dst = rng.sample(range(n), 2)
    return [Step("one_way", (src, dst), _hold(rng, 8, 12)), Step("heal")], ()


def _flapping_link(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    victim = rng.randrange(n)
    others = tuple(i for i in range(n) if i != victim)
    steps: list[Step] = []
    elapsed = 0.0
    while elapsed < 10:
        down, up = _hold(rng, 0.5, 2), _hold(rng, 0.5, 2)
        steps += [Step("partition", ((victim,), others), down), Step("heal", (), up)]
        elapsed += down + up
    return steps, ()


def _start_fails(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    target = rng.randrange(1, n)  # not the best node, where the service already runs
    return [Step("fail_start", (target,)), Step("relocate", (target,), 4)], ()


def _stop_fails(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    holder = rng.randrange(1, n)
    away = rng.choice([i for i in range(n) if i != holder])
    return [Step("relocate", (holder,), 3), Step("fail_stop", (holder,)), Step("relocate", (away,), 6)], ()


def _rolling_restart(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    order = list(range(n))
    rng.shuffle(order)
    return [Step("restart", (i,), _hold(rng, 4, 6)) for i in order], ()


def _push_in_partition(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    alone = rng.randrange(n)
    rest = tuple(i for i in range(n) if i != alone)
    return [
        Step("partition", ((alone,), rest), 6),
        Step("push_config", (rng.choice(rest),), _hold(rng, 2, 4)),
        Step("heal"),
    ], (alone,)


def _loss(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    return [Step("loss", (rng.randrange(n), LOSS_PERCENT), _hold(rng, 18, 22)), Step("heal")], ()


def _fence_trouble(mode: str, hold: tuple[float, float], trouble: str, wait: float) -> Builder:
    """The service's owner (the first node) fails and its fence runs into ``mode``: ``trouble`` must be logged
    (within ``wait`` seconds) before fencing is let work again, and then the fence must be confirmed."""

    def build(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
        return [
            Step("fence_mode", (mode,)),
            Step("kill", (0,), _hold(rng, *hold)),
            Step("expect_log", (trouble, 0, wait)),
            Step("fence_mode", ("",)),
            Step("expect_log", ("fence of {node} confirmed", 0, FENCE_RETRY_WAIT)),
        ], ()

    return build


def _status_hangs(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    # rgmanager fails back only when a better node joins: once the script works again the operator moves the
    # service home, which is what the recovery check waits for.
    return [
        Step("hang_status", (0,)),
        Step("expect_log", ("service:test: status check failed on {node}", 0, 15)),
        Step("expect_log", ("service:test started on", None, 15), _hold(rng, 2, 5)),
        Step("clear_status", (0,)),
        Step("relocate", (0,)),
    ], ()


def _push_during_restart(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    restarted = rng.randrange(n)
    pusher = rng.choice([i for i in range(n) if i != restarted])
    return [
        Step("stop_daemon", (restarted,), _hold(rng, 0.2, 1.5)),
        Step("push_config", (pusher,), _hold(rng, 0.2, 1.5)),
        Step("start_daemon", (restarted,), 4),
    ], ()


def _coordinator_off(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    return [
        Step("relocate_async", (rng.randrange(1, n),), _hold(rng, 0.1, 1.5)),
        Step("power_off_coordinator", (), _hold(rng, 8, 12)),
    ], ()


def _clock_jump(seconds: int) -> Builder:
    def build(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
        victim = rng.randrange(1, n)  # not the service's owner: its program would stamp the shared disk falsely
        return [
            Step("clock_daemon", (victim,), 6),
            Step("clock_jump", (victim, seconds), _hold(rng, 12, 16)),
            Step("clock_jump", (victim, 0), 4),
            Step("expect_no_fence"),
        ], ()

    return build


def _state_dir_full(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    victim = rng.randrange(n)
    return [
        Step("disk_full", (victim,)),
        Step("restart_other", (victim,), 4),
        Step("expect_full_said", (victim,)),
        Step("disk_free", (victim,)),
        Step("restart_other", (victim,), 4),
        Step("expect_persisted", (victim,)),
        Step("expect_no_fence"),
    ], ()


def _started_twice(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    return [Step("second_daemon", (rng.randrange(n),), 2), Step("expect_no_fence")], ()


def _wrong_key(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
    victim = rng.randrange(n)
    return [Step("wrong_key", (victim,), _hold(rng, 8, 12)), Step("expect_wrong_key", (victim,)),
            Step("expect_no_fence")], ()  # fmt: skip


def _qdisk_fault(action: str, everyone: bool = False) -> Builder:
    """One node's path to the quorum disk breaks: the master must see it dead on disk and have it fenced. When
    every node loses the disk nobody can be declared dead on it: no fence, the nodes' own votes keep quorum."""

    def build(rng: random.Random, n: int) -> tuple[list[Step], tuple[int, ...]]:
        if everyone:
            return [
                Step("qdisk_lost", (-1,)),
                Step("expect_log", ("the last disk read or write failed", None, 10), _hold(rng, 8, 12)),
                Step("expect_no_fence"),
            ], ()
        victim = rng.randrange(n)
        return [
            Step(action, (victim,)),
            Step("expect_log", ("{node} will be fenced: node", victim, 30)),
            Step("expect_log", ("fence of {node} confirmed", victim, 30), 2),
        ], ()

    return build


SCENARIOS: dict[str, tuple[str, Builder]] = {
    "power-off": ("a node loses power, comes back", _power_off),
    "kill-daemon": ("the daemon is SIGKILLed, the node stays up", _kill_daemon),
    "pause-daemon": ("the daemon is SIGSTOPped past the token, then continued", _pause_daemon),
    "pause-node": ("every process of a node is SIGSTOPped, then continued", _pause_node),
    "partition-2-1": ("one node is cut off from the other two", _partition_2_1),
    "partition-1-1-1": ("every node is cut off from every other", _partition_each),
    "one-way": ("a node stops hearing another, which still hears it", _one_way),
    "flapping-link": ("a node's link goes down and up every 0.5-2 s for about 10 s", _flapping_link),
    "start-fails": ("the service is relocated to a node where its script cannot start", _start_fails),
    "stop-fails": ("the service's script cannot stop on its owner: the owner must be fenced", _stop_fails),
    "rolling-restart": ("every node's daemon restarted in turn, the service kept", _rolling_restart),
    "push-in-partition": ("a new configuration pushed by the majority while a node is cut off", _push_in_partition),
    "loss-30": ("a node drops 30 % of what it receives, at random, for about 20 s", _loss),
    "fence-fails": (
        "the owner fails and every fence method fails for a while: nothing is taken over until one succeeds",
        _fence_trouble("fail", (12, 16), "fence of {node} failed", 10),
    ),
    "fence-hangs": (
        "the owner fails and its first fence agent hangs past its deadline: the second method fences",
        _fence_trouble("first-hangs", (1, 3), FIRST_FAILED, FENCE_AGENT_TIMEOUT + 30),
    ),
    "fence-second-method": (
        "the owner fails and only its second fence method works",
        _fence_trouble("first-fails", (1, 3), "fence {node}: method second, device chaos-second (fence_chaos): ok", 30),
    ),
    "status-hangs": ("the service's status check blocks on its owner: a failure, the service recovers", _status_hangs),
    "push-during-restart": ("a new configuration pushed while a node's daemon restarts", _push_during_restart),
    "coordinator-off": ("the coordinator loses power while the service is being relocated", _coordinator_off),
    "clock-forward": ("a node's wall clock jumps 1 h forward: nobody is evicted or fenced", _clock_jump(3600)),
    "clock-backward": ("a node's wall clock jumps 1 h back: nobody is evicted or fenced", _clock_jump(-3600)),
    "state-dir-full": ("a node's state directory fills up, then is freed: it runs on, persists again", _state_dir_full),
    "started-twice": ("a second quorated started on a node: refused, the first runs on", _started_twice),
    "wrong-key": ("a node restarted with the wrong key: dropped by the others, alone and not quorate", _wrong_key),
    "qdisk-lost-one": ("one node loses its path to the quorum disk", _qdisk_fault("qdisk_lost")),
    "qdisk-lost-all": ("every node loses the quorum disk", _qdisk_fault("qdisk_lost", everyone=True)),
    "qdisk-read-only": ("one node's path to the quorum disk turns read-only", _qdisk_fault("qdisk_readonly")),
    "qdisk-frozen": ("one node's transfers to the quorum disk stall for seconds each", _qdisk_fault("qdisk_frozen")),
}
#: the scenarios run on a cluster with a quorum disk (a second testbed, so the others keep their arithmetic)
QDISK_SCENARIOS = ("qdisk-lost-one", "qdisk-lost-all", "qdisk-read-only", "qdisk-frozen")


def plan(scenario: str, seed: int, round_number: int, nodes: int) -> Plan:
    """The steps of round ``round_number`` of ``scenario`` for a cluster of ``nodes`` nodes."""
    if scenario not in SCENARIOS:
        raise KeyError(f"unknown chaos scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if nodes < 3:
        raise ValueError(f"chaos scenarios need at least 3 nodes, not {nodes}")
    rng = random.Random(f"{seed}:{scenario}:{round_number}")
    steps, cut_off = SCENARIOS[scenario][1](rng, nodes)
    return Plan(scenario, seed, round_number, steps, cut_off)
