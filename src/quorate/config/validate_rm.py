"""Semantic checks of ``<rm>``: failover domains, resources, resource groups and their trees.

Theory of operation: the schema walk has already checked which elements stand where (any resource inside any
resource, as in rgmanager) and that every attribute is a parameter of its type's agent
(`quorate.config.rgcatalogue`). What is left is what rgmanager decided while loading, and there quorate differs
on purpose: rgmanager, faced with a bad entry, logged a numbered message and *dropped* it (a domain, a resource,
a branch of a tree) and ran with what was left (spec C-20, C-22, C-30, C-32); quorate refuses the file with a
located error, because a service that silently starts without its file system is worse than a service that
does not start. Errors are what rgmanager dropped or what would make two things claim one resource: a reference
to nothing or to a resource of another type, a resource inside itself, two definitions sharing a primary or
unique value (C-31), a missing primary or required parameter (C-30), more uses than ``maxinstances`` (C-33), a
forbidden child. What rgmanager silently ignored is a warning saying so (parameters next to ``ref=``, children
or ``__…`` settings of a definition in ``<resources>``, a restart budget outside an independent subtree).

Checks run in passes: failover domains; every *definition* (in ``<resources>`` and inline in trees, so
references can be told apart from definitions whatever the document order); every group's tree, resolving
references with the lookup the model builder uses (`quorate.config.build.Definitions`); the use counts; and the
groups themselves (names, domains, recovery, dependencies).
"""

from __future__ import annotations

import difflib
import ipaddress
import re

from lxml import etree

from quorate.config import build
from quorate.config.derive import XML_SPACE
from quorate.config.problems import Problems, is_element
from quorate.config.rgcatalogue import SPECIAL_ATTRIBUTES, TYPES, primary_of, type_spec
from quorate.config.validate_lvs import check_lvs

Key = tuple[str, str]
RECOVERY_POLICIES = ("restart", "relocate", "disable", "restart-disable")
_AGENT_PART = re.compile(r"[A-Za-z0-9_.+-]+")
_UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]+")


# Bounds that keep a file with thousands of entries (and as many mistakes) linear to check and its report
# readable: messages list the first few valid names, and close-match suggestions are looked for only among a
# list small enough that comparing each mistake with every entry stays cheap.
MAX_LISTED = 10
MAX_SUGGEST_CHOICES = 200


def _suggest(word: str, choices: list[str]) -> str | None:
    if len(choices) > MAX_SUGGEST_CHOICES:
        return None
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


def listing(values: list[str], none: str) -> str:
    if not values:
        return none
    shown = ", ".join(repr(v) for v in values[:MAX_LISTED])
    return shown + (f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else "")


#: The most services quorate's coordinator is measured with (`python -m bench placement`: placing a failed
#: node's services stays in tens of milliseconds; the whole-stack simulator sweeps 1000). Larger tables load,
#: with a warning: they are untested, and every change sends the whole table to every member.
SUPPORTED_SERVICES = 2000


def check_rm(root: etree._Element, problems: Problems) -> None:
    rm = build.child(root, "rm")
    if rm is None:
        return
    count = len(build.groups_of(rm))
    if count > SUPPORTED_SERVICES:
        problems.warning(
            rm,
            f"{count} services are defined; quorate is measured with at most {SUPPORTED_SERVICES}: the coordinator "
            "sends the whole service table to every member after each change, so larger tables are untested and "
            "may slow failover down",
            hint=f"split the services over clusters of {SUPPORTED_SERVICES} services or fewer",
        )
    node_names = [n.get("name", "") for n in build.children(build.child(root, "clusternodes"), "clusternode")]
    domains = _check_domains(rm, node_names, problems)
    defs = build.Definitions(rm)
    checker = _Resources(problems, defs)
    resources = build.child(rm, "resources")
    for element in resources if resources is not None else ():
        if build.is_resource(element):
            checker.define(element, global_=True)
    groups = build.groups_of(rm)
    for group in groups:
        for element in group.iter(*TYPES):
            if element.get("ref") is None:
                checker.define(element, global_=False)
    for group in groups:
        checker.walk_group(group)
    checker.check_instances()
    checker.check_unused_groups()
    _check_groups(groups, defs, domains, problems)
    check_lvs(root, problems)


def _check_domains(rm: etree._Element, node_names: list[str], problems: Problems) -> dict[str, etree._Element]:
    domains: dict[str, etree._Element] = {}
    known_nodes = set(node_names)
    by_short: dict[str, list[str]] = {}
    for node_name in node_names:
        by_short.setdefault(node_name.split(".", 1)[0], []).append(node_name)
    for domain in build.children(build.child(rm, "failoverdomains"), "failoverdomain"):
        name = domain.get("name")
        if name is None:
            continue
        if name.lower() in domains:
            problems.error(
                domain,
                f"failover domain {name!r} is already defined at {problems.where(domains[name.lower()])}",
                attribute="name",
                hint="domain names are compared without regard to case; rename or merge them",
            )
        else:
            domains[name.lower()] = domain
        members = build.children(domain, "failoverdomainnode")
        if not members:
            restricted = build.get_bool(domain, "restricted", False, words=True)
            problems.warning(
                domain,
                f"failover domain {name!r} has no nodes",
                hint="a service in this restricted domain can never run" if restricted else "add failoverdomainnode",
            )
        seen: dict[str, etree._Element] = {}
        for member in members:
            member_name = member.get("name")
            if member_name is None:
                continue
            if member_name in seen:
                problems.error(
                    member,
                    f"node {member_name!r} is already listed in this domain at line {seen[member_name].sourceline}",
                    attribute="name",
                    hint="list each node once per domain",
                )
            seen.setdefault(member_name, member)
            if member_name not in known_nodes:
                same_short = by_short.get(member_name.split(".", 1)[0], [])
                hint = f"did you mean {same_short[0]!r}?" if len(same_short) == 1 else _suggest(member_name, node_names)
                problems.error(
                    member,
                    f"{member_name!r} is not a clusternode; nodes are: {listing(node_names, 'none defined')}",
                    attribute="name",
                    hint=hint or "failover domains list clusternode names exactly",
                )
        if build.get_bool(domain, "ordered", False, words=True):
            given = [m.get("priority") is not None for m in members]
            if any(given) and not all(given):
                problems.warning(
                    domain,
                    f"some nodes of ordered domain {name!r} have no priority; they rank before priority 1",
                    hint="give every node of an ordered domain a priority",
                )
    return domains


class _Resources:
    """Definitions, references and uses of resources across the whole ``<rm>``."""

    def __init__(self, problems: Problems, defs: build.Definitions) -> None:
        self.problems = problems
        self.defs = defs
        self.values: dict[tuple[str, str, str], etree._Element] = {}
        self.uses: dict[Key, list[tuple[etree._Element, str]]] = {}
        self.group = "service"
        self.referenced: set[int] = set()

    # -------------------------------------------------------------------------------------------- definitions
    def define(self, element: etree._Element, *, global_: bool) -> None:
        rtype = str(element.tag)
        spec = type_spec(rtype)
        if global_ and element.get("ref") is not None:
            self.problems.error(
                element,
                f"a definition in <rm><resources> cannot itself be a reference (ref={element.get('ref')!r})",
                attribute="ref",
                hint=f"define the {rtype} here with its parameters, and use ref= where it is used",
            )
            return
        for param in spec.required:
            if not (element.get(param.name) or "").strip(XML_SPACE):
                what = f" ({param.hint})" if param.hint else ""
                state = "is empty" if element.get(param.name) is not None else "is missing"
                self.problems.error(
                    element,
                    f"<{rtype}> needs {param.name!r}{what}, and it {state}",
                    attribute=param.name,
                    hint=None if global_ else f"or refer to a resource of <rm><resources> with <{rtype} ref=.../>",
                )
        self._check_values(element)
        if global_:
            self._check_definition_extras(element)
        primary = element.get(spec.primary)
        for param in spec.keys:
            value = _unique_value(element, param.name)
            if not value:
                continue
            key = (rtype, param.name, _normalise(rtype, param.name, value))
            first = self.values.get(key)
            if first is None:
                self.values[key] = element
                continue
            if spec.root and not global_ and first.getparent() is element.getparent():
                continue  # two groups of one name: reported once, by the group checks
            hint = (
                f'to use the same resource again, write <{rtype} ref="{primary}"/>'
                if param.primary and not global_ and self.defs.lookup(rtype, primary or "") is not None
                else f"each {rtype} resource needs its own {param.name}"
            )
            self.problems.error(
                element,
                f"{rtype} {param.name} {value!r} is already used by {self.problems.where(first)}",
                attribute=param.name,
                hint=hint,
            )

    def _check_definition_extras(self, element: etree._Element) -> None:
        """What rgmanager ignored on a definition in ``<resources>``: its children and its ``__…`` settings
        (both belong to the place where the resource is used)."""
        rtype = str(element.tag)
        kids = [c for c in element if build.is_resource(c)]
        if kids:
            self.problems.warning(
                kids[0],
                f"resources inside a definition in <rm><resources> belong to no tree and are not started "
                f"({len(kids)} here)",
                hint=f"write them inside the <{rtype} ref=...> where the {rtype} is used",
            )
        specials = [str(a) for a in element.attrib if a in SPECIAL_ATTRIBUTES]
        if specials:
            self.problems.warning(
                element,
                f"{', '.join(specials)} on a definition in <rm><resources> is not applied",
                attribute=specials[0],
                hint=f"set it on the <{rtype} ref=...> where the {rtype} is used",
            )

    def _check_values(self, element: etree._Element) -> None:
        rtype = str(element.tag)
        address = element.get("address")
        if rtype == "ip" and address:
            try:
                ipaddress.ip_interface(address.strip(XML_SPACE))
            except ValueError:
                self.problems.error(
                    element,
                    f"{address!r} is not an IP address",
                    attribute="address",
                    hint="write a.b.c.d, a.b.c.d/prefix or an IPv6 address",
                )
        mountpoint = element.get("mountpoint")
        if rtype in ("fs", "clusterfs", "netfs", "bind-mount") and mountpoint and not mountpoint.startswith("/"):
            self.problems.error(
                element,
                f"mountpoint {mountpoint!r} is not an absolute path",
                attribute="mountpoint",
                hint="start it with /",
            )
        script = element.get("file")
        if rtype == "script" and script and not script.startswith("/"):
            self.problems.warning(element, f"script file {script!r} is a relative path", attribute="file")
        if rtype == "ocf":
            self._check_ocf(element)
        if rtype == "systemd":
            self._check_systemd(element)

    def _check_ocf(self, element: etree._Element) -> None:
        agent = element.get("agent")
        if agent and ocf_agent(agent) is None:
            self.problems.error(
                element,
                f"agent {agent!r} does not name an OCF resource agent",
                attribute="agent",
                hint="write ocf:provider:type (ocf:heartbeat:Dummy), provider:type or type; names use letters, "
                "digits and . _ + - only",
            )
        for name in element.attrib:
            name = str(name)
            if name.startswith("__") and name not in SPECIAL_ATTRIBUTES:
                self.problems.error(
                    element,
                    f"unknown special attribute {name!r}; special attributes are: "
                    + ", ".join(sorted(SPECIAL_ATTRIBUTES)),
                    attribute=name,
                    hint=_suggest(name, sorted(SPECIAL_ATTRIBUTES)) or "agent parameters do not start with __",
                )

    def _check_systemd(self, element: etree._Element) -> None:
        unit = element.get("unit")
        attr = "unit" if unit is not None else "name"
        value = unit if unit is not None else element.get("name")
        if value is None or not value.strip(XML_SPACE):
            return  # a missing name is reported as a missing required attribute
        text = value.strip(XML_SPACE)
        if not _UNIT.fullmatch(text) or text.startswith("-"):
            self.problems.error(
                element,
                f"{value!r} is not a systemd unit name"
                + ("" if unit is not None else " (the unit defaults to the name)"),
                attribute=attr,
                hint="a unit name such as nginx.service: letters, digits and : _ . @ \\ -, not starting with -",
            )

    # ------------------------------------------------------------------------------------------------- trees
    def walk_group(self, group: etree._Element) -> None:
        key = self._resolve(group, str(group.tag))
        name = key[1] if key is not None else group.get("name", "")
        self.group = str(group.tag)
        if key is not None:
            self._use(group, key, name)
        self._check_specials(group, is_root=True)
        self._walk(group, [key] if key is not None else [], name)

    def _walk(self, element: etree._Element, ancestors: list[Key], group: str) -> None:
        parent_spec = type_spec(str(element.tag))
        for node in element:
            if not is_element(node) or not build.is_resource(node):
                continue
            rtype = str(node.tag)
            declared = parent_spec.child(rtype)
            if declared is not None and declared.forbid:
                self.problems.error(
                    node,
                    f"a <{element.tag}> resource cannot contain <{rtype}> (its agent forbids it)",
                    hint=f"move <{rtype}> up, next to the <{element.tag}>",
                )
            self._check_specials(node, is_root=False)
            key = self._resolve(node, rtype)
            if key is not None:
                if key in ancestors:
                    self.problems.error(
                        node,
                        f"{rtype} {key[1]!r} is used inside itself",
                        attribute="ref",
                        hint="a resource cannot contain a reference to itself or to one of its ancestors",
                    )
                    continue
                self._use(node, key, group)
            self._walk(node, [*ancestors, key] if key is not None else ancestors, group)

    def _use(self, node: etree._Element, key: Key, group: str) -> None:
        # A second inline definition with the same primary is a collision, reported by define().
        if node.get("ref") is not None or self.defs.inline.get(key) is node:
            self.uses.setdefault(key, []).append((node, f"{self.group} {group!r}"))

    def _resolve(self, node: etree._Element, rtype: str) -> Key | None:
        ref = node.get("ref")
        if ref is None:
            primary = node.get(primary_of(rtype))
            return (rtype, primary) if primary else None
        target = self.defs.lookup(rtype, ref)
        if target is None:
            self._unresolved(node, rtype, ref)
            return None
        self.referenced.add(id(target))
        extra = [str(a) for a in node.attrib if a != "ref" and a not in SPECIAL_ATTRIBUTES]
        if extra:
            self.problems.warning(
                node,
                f"attributes next to ref= are not applied: {', '.join(extra)}",
                attribute=extra[0],
                hint=f"set them on the {rtype} {ref!r} in <rm><resources>",
            )
        return (rtype, target.get(primary_of(rtype)) or ref)

    def _unresolved(self, node: etree._Element, rtype: str, ref: str) -> None:
        inline = self.defs.inline.get((rtype, ref))
        if inline is not None:
            self.problems.error(
                node,
                f"{rtype} {ref!r} is defined inside a service at {self.problems.where(inline)}, "
                "so it cannot be referenced",
                attribute="ref",
                hint="move its definition to <rm><resources> to share it",
            )
            return
        known = sorted(e.get(primary_of(rtype), "") for e in self.defs.globals.get(rtype, []))
        others = self.defs.other_types(ref)
        if others:
            kinds = " and ".join(f"<{t}>" for t in others)
            self.problems.error(
                node,
                f"no {rtype} resource {ref!r} in <rm><resources>: {ref!r} is a {kinds} resource; defined {rtype} "
                f"resources: {listing(known, 'none')}",
                attribute="ref",
                hint=f"a reference names a resource of its own type; write <{others[0]} ref={ref!r}/>",
            )
            return
        self.problems.error(
            node,
            f"no {rtype} resource {ref!r} in <rm><resources>; defined {rtype} resources: {listing(known, 'none')}",
            attribute="ref",
            hint=_suggest(ref, known) or f"define <{rtype}> in <rm><resources> first",
        )

    def _check_specials(self, node: etree._Element, *, is_root: bool) -> None:
        """Settings rgmanager read but that cannot act where they are written (they would be silently ignored)."""
        independent = (node.get("__independent_subtree") or "").strip().lower() in ("1", "yes", "2", "non-critical")
        if is_root and node.get("__independent_subtree") is not None:
            self.problems.warning(
                node,
                f"__independent_subtree on a <{node.tag}> itself has no effect",
                attribute="__independent_subtree",
                hint="set it on a resource inside the group",
            )
        for count, expire in (("__max_restarts", "__restart_expire_time"), ("__max_failures", "__failure_expire_time")):
            given = [a for a in (count, expire) if node.get(a) is not None]
            if count == "__max_restarts" and given and not is_root and not independent:
                self.problems.warning(
                    node,
                    f"{given[0]} applies only to an independent subtree",
                    attribute=given[0],
                    hint='add __independent_subtree="1" (or "2" for non-critical), or remove it',
                )
            elif count == "__max_restarts" and given and is_root:
                self.problems.warning(
                    node,
                    f"{given[0]} has no effect on a <{node.tag}> itself",
                    attribute=given[0],
                    hint="use max_restarts and restart_expire_time on the group",
                )
            elif len(given) == 1:
                missing = expire if given[0] == count else count
                self.problems.warning(
                    node,
                    f"{given[0]} has no effect without {missing}",
                    attribute=given[0],
                    hint=f"set both {count} and {expire} (a count and a time window)",
                )

    # -------------------------------------------------------------------------------------------------- uses
    def check_instances(self) -> None:
        for (rtype, name), uses in self.uses.items():
            limit = type_spec(rtype).maxinstances
            if limit is None or len(uses) <= limit:
                continue
            first, first_group = uses[0]
            for node, _group in uses[limit:]:
                self.problems.error(
                    node,
                    f"{rtype} {name!r} is already used by {first_group} at {self.problems.where(first)}; "
                    f"{_article(rtype)} {rtype} resource can be used only once",
                    attribute="ref" if node.get("ref") is not None else None,
                    hint="it cannot be active on two nodes at once; use one service or separate resources",
                )

    def check_unused_groups(self) -> None:
        for kind in ("service", "vm"):
            for element in self.defs.globals.get(kind, []):
                if id(element) not in self.referenced and element.get("name"):
                    self.problems.warning(
                        element,
                        f"{kind} {element.get('name')!r} is defined in <rm><resources> but never used, so it is "
                        f"not a {'service' if kind == 'service' else 'virtual machine'} of the cluster",
                        hint=f'add <{kind} ref="{element.get("name")}"/> under <rm>',
                    )


def ocf_agent(spec: str) -> tuple[str, str] | None:
    """(provider, type) of ``ocf:provider:type`` / ``provider:type`` / ``type`` (provider heartbeat), or None.

    The runner builds the program path ``$OCF_ROOT/resource.d/<provider>/<type>`` from these two names, so they
    are restricted to plain file names: a ``/`` or ``..`` would let a configuration run any program."""
    parts = spec.strip(XML_SPACE).split(":")
    if len(parts) > 1 and parts[0] == "ocf":
        parts = parts[1:]  # as the runner reads it: "ocf:Dummy" is heartbeat's Dummy
    if len(parts) == 1:
        parts = ["heartbeat", *parts]
    if len(parts) != 2 or not all(_AGENT_PART.fullmatch(p) and p not in (".", "..") for p in parts):
        return None
    return parts[0], parts[1]


def systemd_unit(name: str, unit: str | None) -> str:
    """The unit a ``<systemd>`` resource manages: ``unit``, else ``NAME.service``; a bare name gets .service."""
    chosen = (unit or name).strip(XML_SPACE)
    return chosen if "." in chosen else f"{chosen}.service"


def _unique_value(element: etree._Element, attr: str) -> str | None:
    """The value compared for uniqueness: for a systemd unit, the effective unit (two resources that manage
    nginx.service collide whether or not one of them relies on the default)."""
    if element.tag == "systemd" and attr == "unit":
        name = element.get("name")
        return systemd_unit(name or "", element.get("unit")) if (name or element.get("unit")) else None
    return element.get(attr)


def _article(rtype: str) -> str:
    """As the letters are spoken: an fs, an lvm, an ip."""
    return "an" if rtype in ("fs", "lvm", "ip", "nfsexport", "nfsclient", "nfsserver", "netfs") else "a"


def _normalise(rtype: str, attr: str, value: str) -> str:
    value = value.strip(XML_SPACE)
    if rtype == "ip" and attr == "address":
        try:
            return str(ipaddress.ip_interface(value).ip)
        except ValueError:
            return value
    if attr == "mountpoint" and len(value) > 1:
        return value.rstrip("/")
    return value


def _group_attrs(group: etree._Element, defs: build.Definitions) -> etree._Element:
    """The element holding a group's parameters: its definition in ``<resources>`` for a reference."""
    ref = group.get("ref")
    if ref is None:
        return group
    target = defs.lookup(str(group.tag), ref)
    return target if target is not None else group


def _check_groups(
    groups: list[etree._Element], defs: build.Definitions, domains: dict[str, etree._Element], problems: Problems
) -> None:
    by_name: dict[str, etree._Element] = {}
    holders = {id(g): _group_attrs(g, defs) for g in groups}
    for group in groups:
        holder = holders[id(group)]
        name = holder.get("name")
        if name is None:
            continue
        if not name.strip(XML_SPACE):
            problems.error(holder, f"the {group.tag} name is empty", attribute="name")
        elif name in by_name:
            first = by_name[name]
            same = first.tag == group.tag
            problems.error(
                group,
                f"{group.tag} {name!r} is already defined at {problems.where(first)}"
                if same
                else f"{group.tag} {name!r} has the name of the {first.tag} at {problems.where(first)}",
                attribute="name" if group.get("ref") is None else "ref",
                hint="service names must be unique"
                if same
                else "quorate names services and virtual machines in one namespace; rename one of them",
            )
        else:
            by_name[name] = group
    services = sorted(n for n, g in by_name.items() if g.tag == "service")
    domain_names = sorted(d.get("name", "") for d in domains.values())
    depends: dict[str, str] = {}
    for group in groups:
        holder = holders[id(group)]
        name = holder.get("name", "")
        domain = holder.get("domain")
        if domain and domain.lower() not in domains:
            problems.error(
                holder,
                f"no failover domain {domain!r}; domains: {listing(domain_names, 'none defined')}",
                attribute="domain",
                hint=_suggest(domain, domain_names) or "define it under <rm><failoverdomains>",
            )
        recovery = holder.get("recovery")
        if recovery is not None and recovery.strip(XML_SPACE) not in RECOVERY_POLICIES:
            problems.warning(
                holder,
                f"recovery {recovery!r} is not a known policy and behaves like 'restart'",
                attribute="recovery",
                hint="use one of " + ", ".join(RECOVERY_POLICIES),
            )
        raw = holder.get("depend")
        target = build.service_depend(raw)
        if raw is None or target is None:
            continue
        if not raw.strip(XML_SPACE).startswith("service:"):
            problems.warning(holder, f"depend={raw!r} should name a service as 'service:{target}'", attribute="depend")
        if target == name:
            problems.error(holder, f"the {group.tag} depends on itself", attribute="depend", hint="remove depend")
        elif target not in services:
            problems.error(
                holder,
                f"depend names service {target!r}, which is not defined; services: {listing(services, 'none')}",
                attribute="depend",
                hint=_suggest(target, services),
            )
        else:
            depends[name] = target
    _check_cycles(depends, {n: holders[id(g)] for n, g in by_name.items()}, problems)


def _check_cycles(depends: dict[str, str], by_name: dict[str, etree._Element], problems: Problems) -> None:
    reported: set[str] = set()
    for start in depends:
        chain = [start]
        while chain[-1] in depends and depends[chain[-1]] not in chain:
            chain.append(depends[chain[-1]])
        if chain[-1] in depends and depends[chain[-1]] == start and start not in reported:
            reported.update(chain)
            cycle = " -> ".join([*chain, start])
            problems.error(
                by_name[start],
                f"services depend on each other in a cycle: {cycle}",
                attribute="depend",
                hint="none of them could ever start; remove one depend",
            )
