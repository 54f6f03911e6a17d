"""What a reconfiguration would stop and start, resource by resource, the way rgmanager decides it (R-90).

Theory of operation: rgmanager compares the old and the new trees of each service node by node. Siblings are
matched by resource identity (type and primary value). A matched pair whose parameters differ is *changed*: the
old node and everything below it must stop, the new node and everything below it must start (children of a
restarted resource restart with it, whatever changed in them). A pair that differs only in parameters the
type declares ``reconfig="1"`` (the service's placement settings), in special ``__…`` attributes or in
``<action>`` overrides is *reconfigured* in place, and the comparison continues below it. An old node without a
match is stopped (with its subtree), a new one is started (with its subtree): moving a resource to another
parent or another service therefore restarts it, as in rgmanager.

Inherited values are compared too (they are part of the agent's environment), so renaming an ancestor
attribute that a child inherits restarts that child. Removed services are stopped entirely; added services
list everything they would start (whether they start at once is the placement layer's decision, R-91).

The result is ordered for use: ``stop`` nodes in the old tree's stop order, ``start`` nodes in the new tree's
start order. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from quorate.config.model import ClusterConfig
from quorate.resources.tree import Node, ServiceTree, build_trees

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
UNCHANGED = "unchanged"


@dataclass(frozen=True, eq=False)
class ServiceDelta:
    """One service's part of a reconfiguration; ``old``/``new`` are None for an added/removed service."""

    service: str
    kind: str
    old: ServiceTree | None
    new: ServiceTree | None
    stop: tuple[Node, ...] = ()
    start: tuple[Node, ...] = ()
    reconfig: tuple[Node, ...] = ()

    @property
    def restarts_service(self) -> bool:
        """True when the service node itself stops: the whole service goes down and comes back."""
        return any(not n.path for n in self.stop)


@dataclass(frozen=True, eq=False)
class TreeDelta:
    services: tuple[ServiceDelta, ...]

    def __getitem__(self, name: str) -> ServiceDelta:
        for item in self.services:
            if item.service == name:
                return item
        raise KeyError(name)

    def __iter__(self) -> Iterator[ServiceDelta]:
        return iter(self.services)

    def _named(self, kind: str) -> list[str]:
        return [s.service for s in self.services if s.kind == kind]

    @property
    def added(self) -> list[str]:
        return self._named(ADDED)

    @property
    def removed(self) -> list[str]:
        return self._named(REMOVED)

    @property
    def changed(self) -> list[str]:
        return self._named(CHANGED)

    @property
    def empty(self) -> bool:
        return all(s.kind == UNCHANGED for s in self.services)


def _split(node: Node) -> tuple[dict[str, str], dict[str, str]]:
    """(attributes whose change needs a restart, attributes the agent can take in place)."""
    restart: dict[str, str] = {}
    inplace: dict[str, str] = {}
    for key, value in node.attrs.items():
        param = node.spec.param(key)
        (inplace if param is not None and param.in_place else restart)[key] = value
    return restart, inplace


class _Compare:
    def __init__(self) -> None:
        self.stop: set[Node] = set()
        self.start: set[Node] = set()
        self.reconfig: set[Node] = set()

    def pair(self, old: Node, new: Node) -> None:
        old_restart, old_inplace = _split(old)
        new_restart, new_inplace = _split(new)
        if old_restart != new_restart:
            self.stop.update(old.walk())
            self.start.update(new.walk())
            return
        if old_inplace != new_inplace or dict(old.special) != dict(new.special) or old.overrides != new.overrides:
            self.reconfig.add(new)
        self.children(old, new)

    def children(self, old: Node, new: Node) -> None:
        unmatched = list(new.children)
        for child in old.children:
            match = next((c for c in unmatched if c.key == child.key), None)
            if match is None:
                self.stop.update(child.walk())
                continue
            unmatched.remove(match)
            self.pair(child, match)
        for child in unmatched:
            self.start.update(child.walk())


def service_delta(name: str, old: ServiceTree | None, new: ServiceTree | None) -> ServiceDelta:
    if old is None and new is None:
        raise ValueError(f"service {name} is in neither configuration")
    if old is None:
        assert new is not None
        return ServiceDelta(name, ADDED, None, new, start=tuple(new.start_order()))
    if new is None:
        return ServiceDelta(name, REMOVED, old, None, stop=tuple(old.stop_order()))
    compare = _Compare()
    compare.pair(old.root, new.root)
    stop = tuple(n for n in old.stop_order() if n in compare.stop)
    start = tuple(n for n in new.start_order() if n in compare.start)
    reconfig = tuple(n for n in new.start_order() if n in compare.reconfig)
    kind = CHANGED if stop or start or reconfig else UNCHANGED
    return ServiceDelta(name, kind, old, new, stop, start, reconfig)


def delta_trees(old: dict[str, ServiceTree], new: dict[str, ServiceTree]) -> TreeDelta:
    names = list(old) + [n for n in new if n not in old]
    return TreeDelta(tuple(service_delta(n, old.get(n), new.get(n)) for n in names))


def delta(old_config: ClusterConfig, new_config: ClusterConfig) -> TreeDelta:
    """Which resources of which services the change from ``old_config`` to ``new_config`` stops and starts."""
    return delta_trees(build_trees(old_config), build_trees(new_config))
