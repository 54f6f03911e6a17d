"""Resource trees: references resolved, attributes inherited, and rgmanager's exact start/stop order.

Theory of operation: `build_forest` turns each resource group of a `ClusterConfig` (services and virtual
machines, in document order) into a `ServiceTree` of immutable `Node` objects; `build_trees` keeps the services,
keyed by name, for the daemon. The configuration layer has already resolved every ``ref=`` (a position's
parameters are its definition's, plus its own ``__…`` settings, C-32), so a node here is "what this tree
position runs": its type, its primary value, its *effective* attributes, its special ``__…`` settings (C-35)
and its action table (the type's meta-data actions with ``<action>`` overrides applied, C-36).

rgmanager's rule (restree.c) is that any resource may contain any resource. The parent's agent declares child
types (`quorate.config.rgcatalogue`); the children are kept the way rgmanager loaded them: first the children of
each declared type, type by type in declaration order and document order within a type, then every other
("untyped") child in document order. Order is computed from that, never stored:

* start: the node itself, then its children of declared types by ascending start level (1…100), then the
  remaining children in the order above (declared types without levels, then untyped); recursively;
* stop: the mirror image: the remaining children in *reverse* order, then the declared types by ascending *stop*
  level (reverse order within a type), then the node itself.

So the article's ``service > lvm > fs > script`` starts lvm, fs, script and stops script, fs, lvm: lvm is a
declared child of service, fs under lvm and script under fs are untyped.

Inheritance (C-34) follows rgmanager's lookup exactly: ``type%attr`` reads ``attr`` of the nearest ancestor of
that type, ``attr`` reads the *parent's* ``attr``; either way the value found may itself be inherited (followed
further up) or a declared default of that ancestor (``service%nfslock`` is the service's ``nfslock``, 0 unless
set). An empty attribute counts as unset, as rgmanager read it. A parameter whose source has no value is
``unresolved`` (``rg_test`` prints it as rgmanager did).

Problems found while building (a missing primary or required attribute, a forbidden child, a resource used more
often than its type allows, an unknown type) are collected per tree rather than raised: ``rg_test`` reports
them, and the runner refuses to start a tree that has errors. Reconfiguration deltas live in
`quorate.config.rgdelta`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from quorate.config.model import Action, ClusterConfig, Resource, Service
from quorate.config.rgcatalogue import (
    SPECIAL_ATTRIBUTES,
    ActionSpec,
    TypeSpec,
    rg_name,
    start_level,
    stop_level,
    type_spec,
)

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

    ``attrs`` are the effective parameter values passed to the agent (own, then inherited; declared defaults are
    read through `get`); ``inherited`` names the ones that came from an ancestor and ``unresolved`` the inherited
    parameters whose source had no value. ``children`` are in rgmanager's order (module text); ``path`` is the
    position (child indices from the root), unique within the service. ``ref`` is the value of ``ref=`` for a
    position that refers to a definition of ``<rm><resources>``, None for an inline definition.
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
    unresolved: frozenset[str] = frozenset()

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
        """Effective value, falling back to the type's declared default, then to the agent's documented one,
        then to ``default``."""
        if attr in self.attrs:
            return self.attrs[attr]
        param = self.spec.param(attr)
        if param is not None and param.default is not None:
            return param.default
        if param is not None and param.fallback is not None:
            return param.fallback
        return default

    def flag(self, attr: str, default: bool = False) -> bool:
        """A boolean attribute the rgmanager way: 1/yes/on/true are true."""
        value = self.get(attr)
        if value is None or not value.strip():
            return default
        return value.strip().lower() in ("1", "yes", "on", "true", "y")

    @property
    def independent(self) -> str | None:
        """``restart`` for ``__independent_subtree="1|yes"``, ``non-critical`` for ``"2|non-critical"`` (as
        rgmanager read it: the number, or the word in any case); None otherwise and on the group itself."""
        if not self.path:
            return None
        value = (self.special.get("__independent_subtree") or "").strip().lower()
        if value in ("2", "non-critical"):
            return NON_CRITICAL
        if value in ("1", "yes"):
            return INDEPENDENT
        return None

    @property
    def enforce_timeouts(self) -> bool:
        value = (self.special.get("__enforce_timeouts") or "").strip().lower()
        return value == "yes" or (value.isdigit() and int(value) > 0)

    def status_actions(self) -> tuple[ActionSpec, ...]:
        return tuple(a for a in self.actions if a.name == "status")

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    def walk(self) -> Iterator[Node]:
        """Parent first, children in rgmanager's order (the order ``rg_test`` prints)."""
        yield self
        for child in self.children:
            yield from child.walk()

    def __repr__(self) -> str:
        return f"Node({self.label} service={self.service} path={self.path})"


def _leveled(node: Node, level_of: Callable[[str, str], int], reverse: bool) -> list[Node]:
    """Children of declared types that have a level: by ascending level, declaration order within a level,
    each type's children in order (or in reverse order)."""
    ranked = sorted(
        ((level_of(node.type, c.type), i, c.type) for i, c in enumerate(node.spec.children)), key=lambda r: r[:2]
    )
    result: list[Node] = []
    for level, _i, ctype in ranked:
        if level > 0:
            of_type = [c for c in node.children if c.type == ctype]
            result += reversed(of_type) if reverse else of_type
    return result


def _is_default(node: Node, child: Node) -> bool:
    """Started and stopped with the untyped children: not a declared type with a start or a stop level."""
    return not (start_level(node.type, child.type) or stop_level(node.type, child.type))


def child_sequence(node: Node, walk: str) -> list[Node]:
    """The order rgmanager visits ``node``'s children in (restree.c ``_res_op_by_level``): ``start`` (also
    status), ``stop``, and the conditional walks of a reconfiguration, ``condstop`` and ``condstart``. Those two
    visit the untyped children in reverse, then the leveled ones by *start* level in forward order; only a node
    flagged for stopping or starting switches its own subtree to the plain walk."""
    default = [c for c in node.children if _is_default(node, c)]
    if walk == "start":
        return [*_leveled(node, start_level, False), *default]
    if walk == "stop":
        return [*reversed(default), *_leveled(node, stop_level, True)]
    if not node.spec.children:
        return list(node.children)  # no declared types: one plain pass, forward
    return [*reversed(default), *_leveled(node, start_level, False)]


def _start(node: Node) -> Iterator[Node]:
    yield node
    for child in child_sequence(node, "start"):
        yield from _start(child)


def _stop(node: Node) -> Iterator[Node]:
    for child in child_sequence(node, "stop"):
        yield from _stop(child)
    yield node


@dataclass(frozen=True, eq=False)
class ServiceTree:
    """A resource group's tree; ``root`` is the ``service`` (or ``vm``) node itself (depth 0)."""

    name: str
    root: Node
    service: Service | None = None
    problems: tuple[TreeProblem, ...] = ()

    @property
    def kind(self) -> str:
        return self.root.type

    @property
    def rg_name(self) -> str:
        """``service:NAME`` or ``vm:NAME``."""
        return rg_name(self.kind, self.name)

    @property
    def errors(self) -> tuple[TreeProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def nodes(self) -> list[Node]:
        """Every node, root first, children in rgmanager's order."""
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
        """The subtree that recovers when ``node`` fails: the *outermost* ``__independent_subtree`` at or above
        it (R-52). rgmanager let each independent ancestor take the failure over in turn on its way up, so the
        outermost one decides; None when no ancestor below the group is independent."""
        chosen = None
        for candidate in [node, *self.ancestors(node)]:
            if candidate is not self.root and candidate.independent is not None:
                chosen = candidate
        return chosen

    def find(self, rtype: str, primary: str) -> Node | None:
        return next((n for n in self.root.walk() if n.type == rtype and n.primary == primary), None)


def apply_overrides(actions: tuple[ActionSpec, ...], overrides: tuple[Action, ...]) -> tuple[ActionSpec, ...]:
    """``<action name depth interval timeout>`` children replace the agent's values (C-36). As in rgmanager, a
    status override without ``depth`` (or with ``*``) applies to every depth; a depth the agent does not declare
    is added."""
    result = list(actions)
    for override in overrides:
        depth_text = (override.depth or "").strip()
        wanted: int | None = None
        if override.name in ("status", "monitor") and depth_text not in ("", "*"):
            wanted = int(depth_text) if depth_text.isdigit() else 0
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


# rgmanager's view of one position's parameters: name -> (value, True when the value is an inherit source).
_RgAttrs = dict[str, tuple[str, bool]]


def stored_attributes(spec: TypeSpec, own: Mapping[str, str]) -> _RgAttrs:
    """What rgmanager stored for a resource, in its order: every declared parameter that is set, else its inherit
    source, else its declared default (an empty value is unset, as rgmanager read the file); then, for quorate's
    ``ocf``, the agent parameters rgmanager never knew."""
    stored: _RgAttrs = {}
    for param in spec.params:
        value = own.get(param.name)
        if value:
            stored[param.name] = (value, False)
        elif param.inherit is not None:
            stored[param.name] = (param.inherit, True)
        elif param.default is not None:
            stored[param.name] = (param.default, False)
    if spec.open_params:
        stored.update((k, (v, False)) for k, v in own.items() if v and k not in stored)
    return stored


def _lookup(chain: list[tuple[str, _RgAttrs]], index: int, name: str, of_type: str | None) -> str | None:
    """rgmanager's ``_attr_value``: ``name`` at ``chain[index]`` (or, with ``of_type``, at the nearest position
    of that type at or above it), following inherit sources upward."""
    while index >= 0:
        rtype, stored = chain[index]
        if of_type is not None and rtype != of_type:
            index -= 1
            continue
        entry = stored.get(name)
        if entry is None:
            return None
        value, is_source = entry
        if not is_source:
            return value
        index -= 1
        if "%" in value:
            of_type, name = value.split("%", 1)
        else:
            of_type, name = None, value
    return None


def _ordered(parent_type: str, kids: tuple[Resource, ...]) -> list[Resource]:
    """rgmanager's load order: declared child types first (declaration order), then the others, document order."""
    spec = type_spec(parent_type)
    declared = [c.type for c in spec.children if not c.forbid]
    first = [k for ctype in declared for k in kids if k.type == ctype]
    return first + [k for k in kids if k.type not in declared]


class _Builder:
    """Builds one group's nodes, recording problems and resource uses (for maxinstances)."""

    def __init__(self, service: str, uses: dict[tuple[str, str], list[tuple[str, int]]]) -> None:
        self.service = service
        self.uses = uses
        self.problems: list[TreeProblem] = []

    def problem(self, where: str, message: str, line: int, severity: str = "error") -> None:
        self.problems.append(TreeProblem(self.service, where, message, line, severity))

    def node(
        self,
        res: Resource,
        chain: list[tuple[str, _RgAttrs]],
        parent: str | None,
        path: tuple[int, ...],
    ) -> Node:
        rtype = res.type
        spec = type_spec(rtype)
        own = {k: v for k, v in res.attrs if k not in SPECIAL_ATTRIBUTES}
        special = {k: v for k, v in res.attrs if k in SPECIAL_ATTRIBUTES}
        stored = stored_attributes(spec, own)
        here = [*chain, (rtype, stored)]
        attrs = dict(own)
        inherited: set[str] = set()
        unresolved: set[str] = set()
        for name, (_source, is_source) in stored.items():
            if not is_source:
                continue
            found = _lookup(here, len(here) - 1, name, None)
            if found is None:
                unresolved.add(name)
            else:
                attrs[name] = found
                inherited.add(name)
        primary = own.get(spec.primary, "")
        where = f"{rtype}:{primary}" if primary else f"<{rtype}>"
        self.check(res, spec, attrs, parent, where, primary)
        children = tuple(self.node(kid, here, rtype, (*path, i)) for i, kid in enumerate(_ordered(rtype, res.children)))
        return Node(
            type=rtype,
            primary=primary,
            attrs=attrs,
            depth=len(chain),
            path=path,
            service=self.service,
            children=children,
            inherited=frozenset(inherited),
            special=special,
            actions=apply_overrides(spec.actions, res.actions),
            overrides=res.actions,
            ref=res.ref,
            line=res.line,
            unresolved=frozenset(unresolved),
        )

    def check(
        self, res: Resource, spec: TypeSpec, attrs: Mapping[str, str], parent: str | None, where: str, primary: str
    ) -> None:
        line = res.line
        if not spec.known:
            message = f"unknown resource type {res.type!r}: it starts after its typed siblings"
            self.problem(where, message, line, "warning")
        if not primary.strip():
            self.problem(where, f"the primary attribute {spec.primary!r} is missing", line)
        for param in spec.params:
            if param.required and not param.primary and not (attrs.get(param.name) or "").strip():
                self.problem(where, f"required attribute {param.name!r} is missing", line)
        if parent is not None:
            declared = type_spec(parent).child(res.type)
            if declared is not None and declared.forbid:
                self.problem(where, f"a {parent} resource cannot contain a {res.type} resource", line)
        self.uses.setdefault((res.type, primary), []).append((self.service, line))


def build_tree(service: Service, uses: dict[tuple[str, str], list[tuple[str, int]]] | None = None) -> ServiceTree:
    """One group's tree (``uses`` collects resource uses across groups for the maxinstances check)."""
    builder = _Builder(service.name, {} if uses is None else uses)
    root = Resource(service.kind, service.attrs, service.children, service.ref, service.line, service.actions)
    return ServiceTree(service.name, builder.node(root, [], None, ()), service, tuple(builder.problems))


def build_forest(config: ClusterConfig) -> tuple[ServiceTree, ...]:
    """Every resource group's tree (services and virtual machines), in document order; a resource used beyond
    its type's ``maxinstances`` (C-33) is an error on each extra use, attached to the tree that holds it."""
    uses: dict[tuple[str, str], list[tuple[str, int]]] = {}
    trees = [build_tree(s, uses) for s in config.rm.groups]
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
    result = []
    for tree in trees:
        problems = (*tree.problems, *extra.pop(tree.name, []))
        result.append(ServiceTree(tree.name, tree.root, tree.service, problems))
    return tuple(result)


def build_trees(config: ClusterConfig) -> dict[str, ServiceTree]:
    """Every service's tree, keyed by name, in document order (virtual machines are left out: quorate does
    not run them; `build_forest` has them)."""
    return {t.name: t for t in build_forest(config) if t.kind == "service"}


__all__ = [
    "INDEPENDENT",
    "NON_CRITICAL",
    "Node",
    "ServiceTree",
    "TreeProblem",
    "apply_overrides",
    "build_forest",
    "build_tree",
    "build_trees",
    "child_sequence",
    "stored_attributes",
]
