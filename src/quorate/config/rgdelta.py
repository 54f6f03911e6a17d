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
start order.

`rg_delta` is the other half: rgmanager's own bookkeeping as its ``rg_test delta`` showed it, replayed exactly
for that command. rgmanager kept one list of resources (the definitions of ``<rm><resources>``, type by type
in alphabetical order, then every resource defined inline, in the order the trees were built) and flagged them
by comparing the lists (``resource_delta``): a resource whose stored parameters differ is NEEDSTOP in the old
list and NEEDSTART in the new one, RECONFIG too when only ``reconfig`` parameters differ. It then matched tree
nodes sibling by sibling (``resource_tree_delta``) and walked the old trees conditionally stopping what is
flagged, the new ones conditionally starting it (``res_condstop``/``res_condstart``, whose visiting order
differs from the plain walks, `quorate.config.rgtree.child_sequence`). Quorate's daemon acts on `delta`; this
replay only reproduces the original's printed trace. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from quorate.config.model import ClusterConfig
from quorate.config.rgcatalogue import SPECIAL_ATTRIBUTES, type_spec
from quorate.config.rgtree import Node, ServiceTree, build_forest, build_trees, child_sequence, stored_attributes

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


# ------------------------------------------------------------------------------------------------------------
# rgmanager's bookkeeping, replayed for rg_test delta.

NEEDSTOP = "NEEDSTOP"
NEEDSTART = "NEEDSTART"
RECONFIG = "RECONFIG"


@dataclass(eq=False)
class Listed:
    """One entry of rgmanager's resource list. ``stored`` holds what rgmanager kept for it (name -> value, and
    whether the value is an inherit source), ``refs`` the tree nodes that use it, ``flags`` the delta's marks."""

    type: str
    primary: str
    stored: dict[str, tuple[str, bool]]
    inline: bool
    refs: int = 0
    flags: set[str] = field(default_factory=set)


def resource_list(config: ClusterConfig, forest: tuple[ServiceTree, ...]) -> tuple[list[Listed], dict[Node, Listed]]:
    """rgmanager's resource list for a configuration, and the entry each tree node uses."""
    listed: list[Listed] = []
    by_key: dict[tuple[str, str], Listed] = {}
    for res in sorted(config.rm.resources, key=lambda r: r.type.lower()):
        own = {k: v for k, v in res.attrs if k not in SPECIAL_ATTRIBUTES}
        entry = Listed(res.type, res.primary or "", stored_attributes(type_spec(res.type), own), inline=False)
        listed.append(entry)
        by_key.setdefault((res.type, entry.primary), entry)
    uses: dict[Node, Listed] = {}
    for tree in forest:
        for node in tree.nodes():
            if node.ref is None:
                own = {k: v for k, v in node.attrs.items() if k not in node.inherited}
                entry = Listed(node.type, node.primary, stored_attributes(node.spec, own), inline=True)
                listed.append(entry)
            else:
                entry = by_key[node.key]
            entry.refs += 1
            uses[node] = entry
    return listed, uses


def find_listed(listed: list[Listed], rtype: str, ref: str) -> Listed | None:
    """rgmanager's ``find_resource_by_ref``: the primary value first, else a unique and required parameter's."""
    fallback = None
    for entry in listed:
        if entry.type != rtype:
            continue
        if entry.primary == ref:
            return entry
        spec = type_spec(rtype)
        keys = [p.name for p in spec.params if p.unique and p.required]
        if fallback is None and any(entry.stored.get(k, ("", True)) == (ref, False) for k in keys):
            fallback = entry
    return fallback


def rescmp(left: Listed, right: Listed) -> int:
    """-1: other types; 0: same parameters; 1: different; 2: different only in ``reconfig`` parameters."""
    if left.type != right.type:
        return -1
    result = 0
    spec = type_spec(left.type)
    for name, (value, is_source) in left.stored.items():
        other = right.stored.get(name)
        if other is None or other[1] != is_source:
            return 1
        if other[0] != value:
            param = spec.param(name)
            if param is None or not param.reconfig:
                return 1
            result = 2
    return 1 if len(left.stored) != len(right.stored) else result


@dataclass
class RgDelta:
    """Both configurations' lists and forests with rgmanager's marks, and the printed operations."""

    old_list: list[Listed]
    new_list: list[Listed]
    old_forest: tuple[ServiceTree, ...]
    new_forest: tuple[ServiceTree, ...]
    node_flags: dict[Node, set[str]]
    down: str
    up: str


class _Replay:
    def __init__(self, old: dict[Node, Listed], new: dict[Node, Listed]) -> None:
        self.res = {**old, **new}
        self.flags: dict[Node, set[str]] = {}
        self.out: list[str] = []

    def mark(self, node: Node, *flags: str) -> None:
        self.flags.setdefault(node, set()).update(flags)

    def trees(self, left: tuple[Node, ...], right: tuple[Node, ...]) -> None:
        common: set[Node] = set()
        for ln in left:
            if NEEDSTOP in self.res[ln].flags:
                self.mark(ln, NEEDSTOP)
                continue
            for rn in right:
                rc = rescmp(self.res[ln], self.res[rn])
                if rc < 0:
                    continue
                if NEEDSTART in self.res[rn].flags:
                    self.mark(rn, NEEDSTART)
                    if RECONFIG not in self.res[rn].flags:
                        continue
                if rc in (0, 2):
                    if rc == 2:
                        self.mark(rn, NEEDSTART, RECONFIG)
                    common.update((ln, rn))
                    self.trees(ln.children, rn.children)
            if ln not in common:
                self.mark(ln, NEEDSTOP)
        for rn in right:
            if rn not in common:
                self.mark(rn, NEEDSTART)

    def execute(self, node: Node, action: str) -> None:
        """``[action] type:primary`` as the dry run printed it; an action the type does not declare is skipped."""
        if any(a.name == action and a.depth == 0 for a in node.actions):
            self.out.append(f"[{action}] {node.label}\n")

    def stop(self, node: Node, op: str) -> None:
        if op == "condstop" and NEEDSTOP in self.flags.get(node, ()):
            self.out.append(f"Node {node.label} - CONDSTOP\n")
            op = "stop"
        for child in child_sequence(node, op):
            self.stop(child, op)
        if op == "stop":
            self.execute(node, "stop")

    def start(self, node: Node, op: str) -> None:
        reached = op
        if op == "condstart" and NEEDSTART in self.flags.get(node, ()):
            self.out.append(f"Node {node.label} - CONDSTART\n")
            op = "start"
        if op == "start":
            if RECONFIG in self.flags.get(node, ()) and reached == "condstart":
                self.execute(node, "reconfig")
                op = reached
            else:
                self.execute(node, "start")
        for child in child_sequence(node, op):
            self.start(child, op)

    def take(self) -> str:
        text, self.out = "".join(self.out), []
        return text


def _migratory(tree: ServiceTree) -> bool:
    """rg_test's test for a group it would leave alone: its agent can migrate and it has no children."""
    return tree.root.spec.action("migrate") is not None and not tree.root.children


def rg_delta(old_config: ClusterConfig, new_config: ClusterConfig) -> RgDelta:
    """rgmanager's marks and dry-run operations for a change from ``old_config`` to ``new_config``."""
    old_forest, new_forest = build_forest(old_config), build_forest(new_config)
    old_list, old_uses = resource_list(old_config, old_forest)
    new_list, new_uses = resource_list(new_config, new_forest)
    common: set[int] = set()
    for left in old_list:
        right = find_listed(new_list, left.type, left.primary)
        if right is None:
            left.flags.add(NEEDSTOP)
            continue
        rc = rescmp(left, right)
        common.add(id(right))
        if rc == 2:
            right.flags.update((NEEDSTART, RECONFIG))
        elif rc != 0:
            left.flags.add(NEEDSTOP)
            right.flags.add(NEEDSTART)
    for right in new_list:
        if id(right) not in common:
            right.flags.add(NEEDSTART)
    replay = _Replay(old_uses, new_uses)
    replay.trees(tuple(t.root for t in old_forest), tuple(t.root for t in new_forest))
    for tree in old_forest:
        kill = NEEDSTOP in replay.flags.get(tree.root, ())
        if kill:
            replay.out.append("[kill] ")
        if kill and not tree.root.spec.destroy_on_delete and _migratory(tree):
            replay.out.append(f"[no-op] {tree.rg_name} was removed from the config, but I am not stopping it.\n")
            continue
        replay.stop(tree.root, "condstop")
    down = replay.take()
    for tree in new_forest:
        flags = new_uses[tree.root].flags
        init = NEEDSTART in flags and RECONFIG not in flags
        if init:
            replay.out.append("[init] ")
        if init and not tree.root.spec.init_on_add and _migratory(tree):
            replay.out.append(f"[noop] {tree.rg_name} was added, but I am not initializing it\n")
            continue
        if init:
            replay.stop(tree.root, "stop")
        else:
            replay.start(tree.root, "condstart")
    return RgDelta(old_list, new_list, old_forest, new_forest, replay.flags, down, replay.take())
