"""The shape of an rgmanager resource type: what rgmanager kept from an agent's meta-data.

Theory of operation: rgmanager read each agent's ``meta-data`` (spec R-80) into a rule: the parameters in
declaration order with their flags and declared default or inherit source (C-30, C-31, C-34), the child types
of ``<special tag="rgmanager">`` with start/stop levels or ``forbid`` and ``maxinstances`` (R-70, C-33), and
the action table (R-51). These dataclasses hold the same facts; `quorate.config.rgcatalogue` fills them for
every type, and the small builders below keep that table readable. Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600
# rgmanager walks child levels 1..RESOURCE_MAX_LEVELS (100).
MAX_LEVEL = 100

# Valid on any resource element or reference (spec C-35); they belong to the tree position, not the resource.
SPECIAL_ATTRIBUTES = frozenset(
    {
        "__independent_subtree",
        "__enforce_timeouts",
        "__max_failures",
        "__failure_expire_time",
        "__max_restarts",
        "__restart_expire_time",
    }
)

# Top-level resource groups: what may stand directly under <rm>, and how rgmanager names them (service:NAME).
ROOT_TYPES = ("service", "vm")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One ``<parameter>`` (flags as declared; ``inherit`` is ``attr`` or ``type%attr``); see the module text
    for ``fallback``, ``placement`` and ``hint``."""

    name: str
    primary: bool = False
    unique: bool = False
    required: bool = False
    inherit: str | None = None
    reconfig: bool = False
    default: str | None = None
    fallback: str | None = None
    placement: bool = False
    hint: str | None = None

    @property
    def in_place(self) -> bool:
        """A change of this parameter needs no restart of the resource (R-90)."""
        return self.reconfig or self.placement


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """``<child type start stop forbid>``; levels 0 mean "not leveled" (such a child starts with the untyped)."""

    type: str
    start: int = 0
    stop: int = 0
    forbid: bool = False


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """``<action>``: times in seconds; ``timeout`` 0 means the agent declared none; ``interval`` 0 never runs."""

    name: str
    timeout: int = 0
    interval: int = 0
    depth: int = 0


@dataclass(frozen=True, slots=True)
class TypeSpec:
    name: str
    primary: str
    params: tuple[ParamSpec, ...] = ()
    children: tuple[ChildSpec, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    # None: any number of tree nodes may use one resource (scripts); 1: one use only (spec C-33).
    maxinstances: int | None = None
    known: bool = True
    # rgmanager's agent file (rg_test prints it) and its rule flags (rg_test delta: initialise new groups).
    agent: str = ""
    init_on_add: bool = True
    destroy_on_delete: bool = True
    # quorate's ocf: any further attribute is an agent parameter.
    open_params: bool = False

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def child(self, child_type: str) -> ChildSpec | None:
        return next((c for c in self.children if c.type == child_type), None)

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    @property
    def required(self) -> tuple[ParamSpec, ...]:
        """Parameters a definition must set: the primary and the required ones (rgmanager refused to load a
        resource without them, whatever default the meta-data declares)."""
        return tuple(p for p in self.params if p.primary or p.required)

    @property
    def keys(self) -> tuple[ParamSpec, ...]:
        """Parameters whose values must not repeat within the type (C-31)."""
        return tuple(p for p in self.params if p.primary or p.unique)

    @property
    def root(self) -> bool:
        return self.name in ROOT_TYPES


def param(
    name: str, flags: str = "", inherit: str | None = None, default: str | None = None, **extra: str
) -> ParamSpec:
    """A parameter in a line: ``flags`` is a word list of primary/unique/required/reconfig/placement."""
    words = flags.split()
    return ParamSpec(
        name,
        primary="primary" in words,
        unique="unique" in words,
        required="required" in words,
        inherit=inherit,
        reconfig="reconfig" in words,
        default=default,
        fallback=extra.get("fallback"),
        placement="placement" in words,
        hint=extra.get("hint"),
    )


def names(*names: str) -> tuple[ParamSpec, ...]:
    """Plain parameters: no flags, no default."""
    return tuple(ParamSpec(n) for n in names)


def status(*checks: tuple[int, int, int]) -> tuple[ActionSpec, ...]:
    """Status actions from (depth, interval, timeout) triples."""
    return tuple(ActionSpec("status", timeout=t, interval=i, depth=d) for d, i, t in checks)


def run(start: int, stop: int, *extra: ActionSpec) -> tuple[ActionSpec, ...]:
    return (ActionSpec("start", timeout=start), ActionSpec("stop", timeout=stop), *extra)


def action(name: str, timeout: int) -> ActionSpec:
    return ActionSpec(name, timeout=timeout)
