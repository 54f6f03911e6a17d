"""rgmanager's resource side: service trees, resource agents and the runner that drives them on this node.

Theory of operation: the trees are configuration (`quorate.config.rgtree`, pure: the configuration into ordered
service trees; `quorate.config.rgdelta`, pure: what a reconfiguration stops and starts) and are re-exported
here for convenience; `agents` run real commands for one resource at a time; `runner` walks
a tree in rgmanager's order through the agents, with timeouts, rollback and status scheduling. The daemon uses
these pieces; ``rg_test`` uses the same ones from the command line::

    trees = build_trees(config)                       # {service name: ServiceTree}; build_forest: vms too
    runner = ResourceRunner(node_name=me, is_member=lambda name: name in view, rsctmp="/run/resource-agents")
    outcome = await runner.start_service(trees["test"])   # ServiceOutcome: ok, message, failed, resources_left
    outcome = await runner.status_service(trees["test"], time.monotonic())  # failed / recoverable subtrees
    outcome = await runner.stop_service(trees["test"])    # not ok -> service "failed", fence candidate
    changes = delta(old_config, new_config)               # per service: stop / start / reconfig nodes
"""

from typing import TYPE_CHECKING, Any

from quorate.config.rgdelta import ServiceDelta, TreeDelta, delta
from quorate.config.rgtree import Node, ServiceTree, TreeProblem, build_forest, build_tree, build_trees

if TYPE_CHECKING:
    from quorate.resources.runner import ResourceRunner, ServiceOutcome, StepResult

# The runner is loaded on first use: the dry tools (rg_test noop, quorate simulate) need the trees, not the
# runner and the agents, whose imports (asyncio, subprocess) cost more than the rest of such a command.
_RUNNER = frozenset({"ResourceRunner", "ServiceOutcome", "StepResult"})


def __getattr__(name: str) -> Any:
    if name not in _RUNNER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from quorate.resources import runner

    return getattr(runner, name)


__all__ = [
    "Node",
    "ResourceRunner",
    "ServiceDelta",
    "ServiceOutcome",
    "ServiceTree",
    "StepResult",
    "TreeDelta",
    "TreeProblem",
    "build_forest",
    "build_tree",
    "build_trees",
    "delta",
]
