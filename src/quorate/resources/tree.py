"""Service resource trees: references resolved, attributes inherited, and rgmanager's exact start/stop order.

Theory of operation: `build_trees` turns each ``<service>`` of a `ClusterConfig` into a `ServiceTree` of
immutable `Node` objects. The configuration layer has already replaced every ``ref=`` by the referenced global
resource's attributes (plus the reference's own ``__…`` attributes, C-32), so a node here is "what this tree
position runs": its type, its primary value, its *effective* attributes (its own, then values inherited from
ancestors for parameters the type declares ``inherit="…"``, C-34), its special ``__…`` attributes (C-35) and its
action table (the type's meta-data actions with the node's ``<action>`` overrides applied, C-36).

Order (R-70/R-71) is computed from the parent's declared child levels, never stored:

* start: the node itself, then its children level by level (1…99, declared type order within a level,
  document order within a type), then the untyped children in document order; recursively;
* stop: the mirror image: untyped children in *reverse* document order, then leveled children by ascending
  *stop* level (reverse document order within a type), then the node itself.

So the article's ``service > lvm > fs > script`` starts lvm, fs, script and stops script, fs, lvm, because lvm is
a leveled child of service while fs under lvm and script under fs are untyped.

Problems found while building (a missing primary or required attribute, a forbidden child, a resource used more
often than its type allows, an unknown type) are collected per tree rather than raised: ``rg_test test`` prints
them all, and the daemon refuses to start a tree that has errors. Reconfiguration deltas live in
`quorate.resources.delta` and are re-exported here. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from quorate.config.model import Action, ClusterConfig, Resource, Service
from quorate.config.rgtypes import SPECIAL_ATTRIBUTES
from quorate.resources.catalogue import MAX_LEVEL, ActionSpec, TypeSpec, start_level, stop_level, type_spec

INDEPENDENT = "restart"
NON_CRITICAL = "non-critical"


@dataclass(frozen=True, slots=True)
class TreeProblem:
    """Something wrong with one tree position; ``severity`` is ``error`` (tree unusable) or ``warning``."""

    service: str
    where: str
    message: str
    line: int = 0
    severity: str = "error"

    def __str__(self) -> str:
        at = f" (line {self.line})" if self.line else ""
        return f"{self.severity}: service {self.service}: {self.where}{at}: {self.message}"


@dataclass(frozen=True, eq=False)
class Node:
    """One position of a service tree. Identity matters (two trees never share nodes), so equality is identity.

    ``attrs`` are the effective parameter values passed to the agent (own, then inherited; defaults are added
    only when the agent is called, like rgmanager); ``inherited`` names the ones that came from an ancestor.
    ``path`` is the position (child indices from the root), unique within the service.
    """

    type: str
    primary: str
    attrs: Mapping[str, str]
    depth: int
    path: tuple[int, ...]
    service: str
    children: tuple[Node, ...] = ()
    inherited: frozenset[str] = frozenset()
    special: Mapping[str, str] = field(default_factory=dict)
    actions: tuple[ActionSpec, ...] = ()
    overrides: tuple[Action, ...] = ()
    ref: str | None = None
    line: int = 0

    @property
    def spec(self) -> TypeSpec:
        return type_spec(self.type)

    @property
    def key(self) -> tuple[str, str]:
        """The resource this node runs: nodes of different trees with one key share one resource (R-73)."""
        return (self.type, self.primary)

    @property
    def uid(self) -> tuple[str, tuple[int, ...], str, str]:
        """Stable across rebuilds of an unchanged tree, distinct when a position now holds another resource."""
        return (self.service, self.path, self.type, self.primary)

    @property
    def label(self) -> str:
        """``type:primary``, as rgmanager names resources (OCF_RESOURCE_INSTANCE, rg_test)."""
        return f"{self.type}:{self.primary}"

    def get(self, attr: str, default: str | None = None) -> str | None:
        """Effective value, falling back to the type's declared default, then to ``default``."""
        if attr in self.attrs:
            return self.attrs[attr]
        param = self.spec.param(attr)
        if param is not None and param.default is not None:
            return param.default
        return default

    def flag(self, attr: str, default: bool = False) -> bool:
        """A boolean attribute the rgmanager way: 1/yes/on/true are true."""
        value = self.get(attr)
        if value is None or not value.strip():
            return default
        return value.strip().lower() in ("1", "yes", "on", "true", "y")

    @property
    def independent(self) -> str | None:
        """``restart`` for ``__independent_subtree="1|yes"``, ``non-critical`` for ``"2|non-critical"``."""
        value = (self.special.get("__independent_subtree") or "").strip().lower()
        if value in ("2", "non-critical"):
            return NON_CRITICAL
        if value == "yes" or (value.isdigit() and int(value) > 0):
            return INDEPENDENT
        return None

    @property
    def enforce_timeouts(self) -> bool:
        return (self.special.get("__enforce_timeouts") or "").strip().lower() in ("1", "yes")

    def status_actions(self) -> tuple[ActionSpec, ...]:
        return tuple(a for a in self.actions if a.name == "status")

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    def walk(self) -> Iterator[Node]:
        """Document order, parent first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def __repr__(self) -> str:
        return f"Node({self.label} service={self.service} path={self.path})"


def _start(node: Node) -> Iterator[Node]:
    yield node
    leveled = {c.type for c in node.spec.children if start_level(node.type, c.type)}
    for level in range(1, MAX_LEVEL + 1):
        for declared in node.spec.children:
            if start_level(node.type, declared.type) != level:
                continue
            for child in node.children:
                if child.type == declared.type:
                    yield from _start(child)
    for child in node.children:
        if child.type not in leveled:
            yield from _start(child)


def _stop(node: Node) -> Iterator[Node]:
    leveled = {c.type for c in node.spec.children if stop_level(node.type, c.type)}
    for child in reversed(node.children):
        if child.type not in leveled:
            yield from _stop(child)
    for level in range(1, MAX_LEVEL + 1):
        for declared in node.spec.children:
            if stop_level(node.type, declared.type) != level:
                continue
            for child in reversed(node.children):
                if child.type == declared.type:
                    yield from _stop(child)
    yield node


@dataclass(frozen=True, eq=False)
class ServiceTree:
    """A service's resource tree; ``root`` is the ``service`` node itself (depth 0)."""

    name: str
    root: Node
    service: Service | None = None
    problems: tuple[TreeProblem, ...] = ()

    @property
    def errors(self) -> tuple[TreeProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def nodes(self) -> list[Node]:
        """Every node in document order, root first."""
        return list(self.root.walk())

    def start_order(self, top: Node | None = None) -> list[Node]:
        """Nodes in rgmanager's start order (R-70): the whole tree, or the subtree under ``top``."""
        return list(_start(top or self.root))

    def stop_order(self, top: Node | None = None) -> list[Node]:
        return list(_stop(top or self.root))

    def status_order(self, top: Node | None = None) -> list[Node]:
        """Status walks like start: parent before children."""
        return self.start_order(top)

    def parent(self, node: Node) -> Node | None:
        if not node.path:
            return None
        current = self.root
        for index in node.path[:-1]:
            current = current.children[index]
        return current

    def ancestors(self, node: Node) -> list[Node]:
        """Nearest first."""
        result = []
        current = self.parent(node)
        while current is not None:
            result.append(current)
            current = self.parent(current)
        return result

    def subtree(self, top: Node) -> set[Node]:
        return set(top.walk())

    def independent_root(self, node: Node) -> Node | None:
        """The nearest node at or above ``node`` marked ``__independent_subtree`` (R-52), if any."""
        for candidate in [node, *self.ancestors(node)]:
            if candidate is self.root:
                return None
            if candidate.independent is not None:
                return candidate
        return None

    def find(self, rtype: str, primary: str) -> Node | None:
        return next((n for n in self.root.walk() if n.type == rtype and n.primary == primary), None)


def apply_overrides(actions: tuple[ActionSpec, ...], overrides: tuple[Action, ...]) -> tuple[ActionSpec, ...]:
    """``<action name depth interval timeout>`` children replace the agent's values (C-36); ``*`` = every depth."""
    result = list(actions)
    for override in overrides:
        depth_text = (override.depth or "").strip()
        wanted: int | None
        if override.name == "status" and depth_text == "*":
            wanted = None
        elif depth_text.isdigit():
            wanted = int(depth_text)
        else:
            wanted = 0
        matched = False
        for i, action in enumerate(result):
            if action.name != override.name or (wanted is not None and action.depth != wanted):
                continue
            matched = True
            result[i] = ActionSpec(
                action.name,
                timeout=action.timeout if override.timeout is None else override.timeout,
                interval=action.interval if override.interval is None else override.interval,
                depth=action.depth,
            )
        if not matched and wanted is not None:
            result.append(ActionSpec(override.name, override.timeout or 0, override.interval or 0, wanted))
    return tuple(result)


class _Builder:
    """Builds one service's nodes, recording problems and resource uses (for maxinstances)."""

    def __init__(self, service: str, uses: dict[tuple[str, str], list[tuple[str, int]]]) -> None:
        self.service = service
        self.uses = uses
        self.problems: list[TreeProblem] = []

    def problem(self, where: str, message: str, line: int, severity: str = "error") -> None:
        self.problems.append(TreeProblem(self.service, where, message, line, severity))

    def node(
        self,
        rtype: str,
        raw: tuple[tuple[str, str], ...],
        kids: tuple[Resource, ...],
        overrides: tuple[Action, ...],
        ancestors: list[Node],
        path: tuple[int, ...],
        ref: str | None,
        line: int,
    ) -> Node:
        spec = type_spec(rtype)
        own = {k: v for k, v in raw if k not in SPECIAL_ATTRIBUTES}
        special = {k: v for k, v in raw if k in SPECIAL_ATTRIBUTES}
        attrs = dict(own)
        inherited = set()
        for param in spec.params:
            if param.inherit is None or param.name in own:
                continue
            value = _inherit(param.inherit, ancestors)
            if value is not None:
                attrs[param.name] = value
                inherited.add(param.name)
        primary = own.get(spec.primary, "")
        where = f"{rtype}:{primary}" if primary else f"<{rtype}>"
        if not spec.known:
            self.problem(where, f"unknown resource type {rtype!r}: it starts after its typed siblings", line, "warning")
        if not primary.strip():
            self.problem(where, f"the primary attribute {spec.primary!r} is missing", line)
        for param in spec.params:
            if param.required and not param.primary and not (attrs.get(param.name) or "").strip():
                self.problem(where, f"required attribute {param.name!r} is missing", line)
        if ancestors:
            parent = ancestors[-1]
            declared = parent.spec.child(rtype)
            if declared is not None and declared.forbid:
                self.problem(where, f"a {parent.type} resource cannot contain a {rtype} resource", line)
            self.uses.setdefault((rtype, primary), []).append((self.service, line))
        partial = Node(
            type=rtype,
            primary=primary,
            attrs=attrs,
            depth=len(ancestors),
            path=path,
            service=self.service,
            inherited=frozenset(inherited),
            special=special,
            actions=apply_overrides(spec.actions, overrides),
            overrides=overrides,
            ref=ref,
            line=line,
        )
        children = tuple(
            self.node(c.type, c.attrs, c.children, c.actions, [*ancestors, partial], (*path, i), c.ref, c.line)
            for i, c in enumerate(kids)
        )
        return Node(
            type=partial.type,
            primary=partial.primary,
            attrs=partial.attrs,
            depth=partial.depth,
            path=partial.path,
            service=partial.service,
            children=children,
            inherited=partial.inherited,
            special=partial.special,
            actions=partial.actions,
            overrides=partial.overrides,
            ref=partial.ref,
            line=partial.line,
        )


def _inherit(source: str, ancestors: list[Node]) -> str | None:
    """``type%attr``: the nearest ancestor of that type; ``attr``: the nearest ancestor that has a value."""
    if "%" in source:
        rtype, attr = source.split("%", 1)
        for ancestor in reversed(ancestors):
            if ancestor.type == rtype:
                return ancestor.attrs.get(attr)
        return None
    for ancestor in reversed(ancestors):
        if source in ancestor.attrs:
            return ancestor.attrs[source]
    return None


def build_tree(service: Service, uses: dict[tuple[str, str], list[tuple[str, int]]] | None = None) -> ServiceTree:
    """One service's tree (``uses`` collects resource uses across services for the maxinstances check)."""
    builder = _Builder(service.name, {} if uses is None else uses)
    root = builder.node("service", service.attrs, service.children, service.actions, [], (), None, service.line)
    return ServiceTree(service.name, root, service, tuple(builder.problems))


def build_trees(config: ClusterConfig) -> dict[str, ServiceTree]:
    """Every service's tree, in document order; a resource used beyond its type's ``maxinstances`` (C-33) is an
    error on each extra use, attached to the tree that holds it."""
    uses: dict[tuple[str, str], list[tuple[str, int]]] = {}
    trees = {s.name: build_tree(s, uses) for s in config.rm.services}
    extra: dict[str, list[TreeProblem]] = {}
    for (rtype, primary), places in uses.items():
        limit = type_spec(rtype).maxinstances
        if limit is None or len(places) <= limit:
            continue
        first_service, first_line = places[0]
        for service, line in places[limit:]:
            extra.setdefault(service, []).append(
                TreeProblem(
                    service,
                    f"{rtype}:{primary}",
                    f"already used by service {first_service} (line {first_line}); a {rtype} can be used only once",
                    line,
                )
            )
    for name, problems in extra.items():
        tree = trees[name]
        trees[name] = ServiceTree(tree.name, tree.root, tree.service, (*tree.problems, *problems))
    return trees


from quorate.resources.delta import ServiceDelta, TreeDelta, delta  # noqa: E402  (re-export; delta imports us)

__all__ = [
    "INDEPENDENT",
    "NON_CRITICAL",
    "Node",
    "ServiceDelta",
    "ServiceTree",
    "TreeDelta",
    "TreeProblem",
    "apply_overrides",
    "build_tree",
    "build_trees",
    "delta",
]
