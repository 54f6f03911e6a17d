"""rgmanager's resource side: service trees, resource agents and the runner that drives them on this node.

Theory of operation: `tree` (pure) turns the configuration into ordered service trees and `delta` (pure) says
what a reconfiguration stops and starts; `agents` run real commands for one resource at a time; `runner` walks
a tree in rgmanager's order through the agents, with timeouts, rollback and status scheduling. The daemon uses
`build_trees`, `delta` and a `ResourceRunner`; ``rg_test`` uses the same pieces from the command line.
"""

from quorate.resources.runner import ResourceRunner, ServiceOutcome, StepResult
from quorate.resources.tree import (
    Node,
    ServiceDelta,
    ServiceTree,
    TreeDelta,
    TreeProblem,
    build_tree,
    build_trees,
    delta,
)

__all__ = [
    "Node",
    "ResourceRunner",
    "ServiceDelta",
    "ServiceOutcome",
    "ServiceTree",
    "StepResult",
    "TreeDelta",
    "TreeProblem",
    "build_tree",
    "build_trees",
    "delta",
]
