"""Semantic checks of ``<rm>``: failover domains, resources, services and their resource trees.

Theory of operation: rgmanager, faced with a bad entry, logs a numbered message and *drops* the entry (a
domain, a resource, a branch of a tree), then runs with what is left (spec C-20, C-22, C-30, C-32). quorate
instead refuses the file with a located error, because a service that silently starts without its file system
is worse than a service that does not start. Checks run in three passes: failover domains, then every resource
*definition* (global in ``<resources>`` and inline in service trees, so references can be told apart from
definitions whatever the document order), then every service tree with its references, child types
(`quorate.config.rgtypes`), reference limits and dependencies.
"""

from __future__ import annotations

import difflib
import ipaddress
import re

from lxml import etree

from quorate.config import build
from quorate.config.derive import XML_SPACE
from quorate.config.problems import Problems, element_path, is_element
from quorate.config.rgtypes import RESOURCE_TYPES, SPECIAL_ATTRIBUTES, allowed_children

Key = tuple[str, str]
RECOVERY_POLICIES = ("restart", "relocate", "disable", "restart-disable")
_AGENT_PART = re.compile(r"[A-Za-z0-9_.+-]+")
_UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]+")


def _where(element: etree._Element) -> str:
    return f"{element_path(element)} (line {element.sourceline})"


def _suggest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


def _listing(values: list[str], none: str) -> str:
    return ", ".join(repr(v) for v in values) if values else none


def check_rm(root: etree._Element, problems: Problems) -> None:
    rm = build.child(root, "rm")
    if rm is None:
        return
    node_names = [n.get("name", "") for n in build.children(build.child(root, "clusternodes"), "clusternode")]
    domains = _check_domains(rm, node_names, problems)
    checker = _Resources(problems)
    resources = build.child(rm, "resources")
    if resources is not None:
        for element in resources:
            if is_element(element) and element.tag in RESOURCE_TYPES:
                checker.define(element, global_=True)
    services = build.children(rm, "service")
    for service in services:
        for element in service.iter(*RESOURCE_TYPES):
            if element is not service and element.get("ref") is None:
                checker.define(element, global_=False)
    for service in services:
        checker.walk(service, "service", [], service.get("name", ""))
    checker.check_instances()
    _check_services(services, domains, problems)


def _check_domains(rm: etree._Element, node_names: list[str], problems: Problems) -> dict[str, etree._Element]:
    domains: dict[str, etree._Element] = {}
    for domain in build.children(build.child(rm, "failoverdomains"), "failoverdomain"):
        name = domain.get("name")
        if name is None:
            continue
        if name.lower() in domains:
            problems.error(
                domain,
                f"failover domain {name!r} is already defined at {_where(domains[name.lower()])}",
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
            if member_name not in node_names:
                short = member_name.split(".", 1)[0]
                same_short = [n for n in node_names if n.split(".", 1)[0] == short]
                hint = f"did you mean {same_short[0]!r}?" if len(same_short) == 1 else _suggest(member_name, node_names)
                problems.error(
                    member,
                    f"{member_name!r} is not a clusternode; nodes are: {_listing(node_names, 'none defined')}",
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

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.globals: dict[Key, etree._Element] = {}
        self.inline: dict[Key, etree._Element] = {}
        self.values: dict[tuple[str, str, str], etree._Element] = {}
        self.uses: dict[Key, list[tuple[etree._Element, str]]] = {}

    def define(self, element: etree._Element, *, global_: bool) -> None:
        rtype = str(element.tag)
        spec = RESOURCE_TYPES[rtype]
        described = dict(spec.describe)
        for attr in spec.required:
            if not (element.get(attr) or "").strip(XML_SPACE):
                what = f" ({described[attr]})" if attr in described else ""
                state = "is empty" if element.get(attr) is not None else "is missing"
                self.problems.error(
                    element,
                    f"<{rtype}> needs {attr!r}{what}, and it {state}",
                    attribute=attr,
                    hint=None if global_ else f"or refer to a resource of <rm><resources> with <{rtype} ref=.../>",
                )
        self._check_values(element)
        primary = element.get(spec.primary)
        if primary:
            (self.globals if global_ else self.inline).setdefault((rtype, primary), element)
        for attr in dict.fromkeys((spec.primary, *spec.unique)):
            value = _unique_value(element, attr)
            if not value:
                continue
            key = (rtype, attr, _normalise(rtype, attr, value))
            first = self.values.get(key)
            if first is None:
                self.values[key] = element
                continue
            hint = (
                f'to use the same resource again, write <{rtype} ref="{primary}"/>'
                if attr == spec.primary and global_ is False and (rtype, primary) in self.globals
                else f"each {rtype} resource needs its own {attr}"
            )
            self.problems.error(
                element,
                f"{rtype} {attr} {value!r} is already used by {_where(first)}",
                attribute=attr,
                hint=hint,
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
        if rtype in ("fs", "clusterfs", "netfs") and mountpoint and not mountpoint.startswith("/"):
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

    def walk(self, element: etree._Element, parent_type: str, ancestors: list[Key], service: str) -> None:
        allowed = allowed_children(parent_type)
        for node in element:
            if not is_element(node) or node.tag not in RESOURCE_TYPES:
                continue
            rtype = str(node.tag)
            if rtype not in allowed:
                inside = ", ".join(f"<{t}>" for t in sorted(allowed)) or "no resources"
                self.problems.error(
                    node,
                    f"a <{parent_type}> resource cannot contain <{rtype}>",
                    hint=f"<{parent_type}> accepts {inside}; move <{rtype}> up to the service or a suitable parent",
                )
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
                # A second inline definition with the same name is a collision, reported by define().
                if node.get("ref") is not None or self.inline.get(key) is node:
                    self.uses.setdefault(key, []).append((node, service))
            self.walk(node, rtype, [*ancestors, key] if key is not None else ancestors, service)

    def _resolve(self, node: etree._Element, rtype: str) -> Key | None:
        ref = node.get("ref")
        if ref is None:
            primary = node.get(RESOURCE_TYPES[rtype].primary)
            return (rtype, primary) if primary else None
        key = (rtype, ref)
        if key not in self.globals:
            inline = self.inline.get(key)
            if inline is not None:
                self.problems.error(
                    node,
                    f"{rtype} {ref!r} is defined inside a service at {_where(inline)}, so it cannot be referenced",
                    attribute="ref",
                    hint="move its definition to <rm><resources> to share it",
                )
            else:
                known = sorted(p for t, p in self.globals if t == rtype)
                self.problems.error(
                    node,
                    f"no {rtype} resource {ref!r} in <rm><resources>; defined {rtype} resources: "
                    f"{_listing(known, 'none')}",
                    attribute="ref",
                    hint=_suggest(ref, known) or f"define <{rtype}> in <rm><resources> first",
                )
            return None
        extra = [str(a) for a in node.attrib if a != "ref" and a not in SPECIAL_ATTRIBUTES]
        if extra:
            self.problems.warning(
                node,
                f"attributes next to ref= are not applied: {', '.join(extra)}",
                attribute=extra[0],
                hint=f"set them on the {rtype} {ref!r} in <rm><resources>",
            )
        return key

    def check_instances(self) -> None:
        for (rtype, name), uses in self.uses.items():
            limit = RESOURCE_TYPES[rtype].maxinstances
            if limit is None or len(uses) <= limit:
                continue
            first, first_service = uses[0]
            for node, _service in uses[limit:]:
                self.problems.error(
                    node,
                    f"{rtype} {name!r} is already used by service {first_service!r} at {_where(first)}; "
                    f"{_article(rtype)} {rtype} resource can be used only once",
                    attribute="ref" if node.get("ref") is not None else None,
                    hint="it cannot be active on two nodes at once; use one service or separate resources",
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
    return "an" if rtype in ("fs", "lvm", "ip", "nfsexport", "nfsclient", "netfs") else "a"


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


def _check_services(services: list[etree._Element], domains: dict[str, etree._Element], problems: Problems) -> None:
    by_name: dict[str, etree._Element] = {}
    for service in services:
        name = service.get("name")
        if name is None:
            continue
        if not name.strip(XML_SPACE):
            problems.error(service, "the service name is empty", attribute="name")
        elif name in by_name:
            problems.error(
                service,
                f"service {name!r} is already defined at {_where(by_name[name])}",
                attribute="name",
                hint="service names must be unique",
            )
        else:
            by_name[name] = service
    names = sorted(by_name)
    domain_names = sorted(d.get("name", "") for d in domains.values())
    depends: dict[str, str] = {}
    for service in services:
        name = service.get("name", "")
        domain = service.get("domain")
        if domain and domain.lower() not in domains:
            problems.error(
                service,
                f"no failover domain {domain!r}; domains: {_listing(domain_names, 'none defined')}",
                attribute="domain",
                hint=_suggest(domain, domain_names) or "define it under <rm><failoverdomains>",
            )
        recovery = service.get("recovery")
        if recovery is not None and recovery.strip(XML_SPACE) not in RECOVERY_POLICIES:
            problems.warning(
                service,
                f"recovery {recovery!r} is not a known policy and behaves like 'restart'",
                attribute="recovery",
                hint="use one of " + ", ".join(RECOVERY_POLICIES),
            )
        raw = service.get("depend")
        target = build.service_depend(raw)
        if raw is None or target is None:
            continue
        if not raw.strip(XML_SPACE).startswith("service:"):
            problems.warning(service, f"depend={raw!r} should name a service as 'service:{target}'", attribute="depend")
        if target == name:
            problems.error(service, "the service depends on itself", attribute="depend", hint="remove depend")
        elif target not in by_name:
            problems.error(
                service,
                f"depend names service {target!r}, which is not defined; services: {_listing(names, 'none')}",
                attribute="depend",
                hint=_suggest(target, names),
            )
        else:
            depends[name] = target
    _check_cycles(depends, by_name, problems)


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
