"""Small, formatting-preserving edits of cluster.conf (the engine behind ``ccs_tool``).

Theory of operation. An administrator's cluster.conf carries comments, an indentation style and an attribute
order that mean something to them; a tool that rewrites the whole file in its own style makes every later
``diff`` unreadable. So edits work on the lxml tree of the file itself (parsed with the same hardened parser
and the same non-breaking-space tolerance as `quorate.config.parser`): everything not touched is written back
as it was read, a new element takes the indentation of its siblings (or its parent's plus the file's
indentation unit), and a removed element takes its line with it. The XML declaration is kept byte for byte.

This module only changes trees; it does not decide whether the result is acceptable. The caller re-parses the
bytes with `quorate.config.parse_config` and refuses anything invalid, so the validator stays the single
judge of what a valid file is. `under_construction` names the only errors a file being built step by step
(``ccs_tool create`` then ``addfence``, ``addnode``...) may carry: it has no node yet, or fewer than the two
nodes its ``two_node`` setting announces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

from quorate.config.derive import assign_node_ids
from quorate.config.parser import normalise_markup, xml_parser
from quorate.config.problems import Problem

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_INT = re.compile(r"[ \t\r\n]*([0-9]+)[ \t\r\n]*")


class EditError(Exception):
    """The edit cannot be made (the message says why, in the words of the original ccs_tool where it had some)."""


@dataclass
class Document:
    """A parsed cluster.conf being edited, with the bytes that precede the root kept as they were."""

    root: etree._Element
    declaration: bytes

    @classmethod
    def parse(cls, data: bytes) -> Document:
        text = normalise_markup(data)
        try:
            root = etree.fromstring(text, xml_parser())
        except etree.XMLSyntaxError as exc:
            raise EditError(f"unable to parse the configuration file: {exc}") from None
        if root.tag != "cluster":
            raise EditError(f"the root element is <{root.tag}>, not <cluster>")
        match = _DECLARATION.match(text)
        return cls(root, match.group(0).strip() if match else b"")

    def to_bytes(self) -> bytes:
        body = etree.tostring(self.root.getroottree(), encoding="UTF-8", xml_declaration=False)
        return (self.declaration + b"\n" if self.declaration else b"") + body + b"\n"

    # --- lookups -----------------------------------------------------------------------------------------

    def section(self, tag: str, *, create: bool = False) -> etree._Element | None:
        found = next((c for c in self.root if c.tag == tag), None)
        if found is None and create:
            found = etree.Element(tag)
            append(self.root, found)
        return found

    def nodes(self) -> list[etree._Element]:
        container = self.section("clusternodes")
        return [] if container is None else [c for c in container if c.tag == "clusternode"]

    def node(self, name: str) -> etree._Element | None:
        return next((n for n in self.nodes() if n.get("name") == name), None)

    def fencedevice(self, name: str) -> etree._Element | None:
        container = self.section("fencedevices")
        if container is None:
            return None
        return next((d for d in container if d.tag == "fencedevice" and d.get("name") == name), None)

    def version(self) -> int:
        match = _INT.fullmatch(self.root.get("config_version") or "")
        if match is None:
            raise EditError('can\'t find a numeric "config_version" in the config file')
        return int(match.group(1))

    # --- edits -------------------------------------------------------------------------------------------

    def bump_version(self) -> tuple[int, int]:
        """config_version + 1; returns (old, new)."""
        old = self.version()
        self.root.set("config_version", str(old + 1))
        return old, old + 1

    def add_node(
        self,
        name: str,
        *,
        nodeid: int | None,
        votes: int,
        altname: str | None = None,
        fence_device: str | None = None,
        fence_args: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Append a ``<clusternode>`` (with a method "single" using ``fence_device``); returns its node id."""
        if self.node(name) is not None:
            raise EditError(f"node {name} already exists")
        # Nodes without a nodeid (RHEL 4 files) count with the id the validator gives them: a new node must not
        # take it, or their ids would move.
        used = set(self.effective_ids())
        if nodeid is None:
            nodeid = next(i for i in range(1, len(used) + 2) if i not in used)
        elif nodeid in used:
            holder = next(n for n, i in zip(self.nodes(), self.effective_ids(), strict=True) if i == nodeid)
            if holder.get("nodeid") is None:
                raise EditError(
                    f"nodeid {nodeid} already in use by {holder.get('name')}, which has no nodeid in the file "
                    "and gets this one (run ccs_tool addnodeids first)"
                )
            raise EditError(f"nodeid {nodeid} already in use")
        if fence_device is not None and self.fencedevice(fence_device) is None:
            raise EditError(f"fence type '{fence_device}' not known")
        if fence_args and fence_device is None:
            raise EditError("fence options were given without -f <fencedevice>")
        node = etree.Element("clusternode")
        node.set("name", name)
        node.set("votes", str(votes))
        node.set("nodeid", str(nodeid))
        clusternodes = self.section("clusternodes", create=True)
        assert clusternodes is not None
        append(clusternodes, node)
        if altname is not None:
            append(node, _element("altname", [("name", altname)]))
        if fence_device is not None:
            fence = append(node, etree.Element("fence"))
            method = append(fence, _element("method", [("name", "single")]))
            append(method, _element("device", [("name", fence_device), *fence_args]))
        return nodeid

    def effective_ids(self) -> list[int]:
        """Each node's id in file order: the one written in the file, or for a node without a usable one the id
        the validator gives it (`quorate.config.derive.assign_node_ids`)."""
        return assign_node_ids([_id(n) or None for n in self.nodes()])

    def add_node_ids(self) -> list[tuple[str, int]]:
        """Give every ``<clusternode>`` without a usable ``nodeid`` the lowest free one, in file order.

        Files from clusters older than RHCS 5 had no node ids; the membership and the quorum disk need them.
        These are the ids quorate already uses for such nodes, so writing them changes nothing in a running
        cluster. Returns (node name, id given) for each node changed; ids already present are kept as they are.
        """
        given: list[tuple[str, int]] = []
        for node, nodeid in zip(self.nodes(), self.effective_ids(), strict=True):
            if _id(node) > 0:
                continue
            node.set("nodeid", str(nodeid))
            given.append((node.get("name") or "(no name)", nodeid))
        return given

    def set_node_votes(self, name: str, votes: int) -> int:
        """Set ``<clusternode name=... votes=...>``; returns the previous value (1 when the file had none)."""
        node = self.node(name)
        if node is None:
            raise EditError(f"node {name} does not exist")
        match = _INT.fullmatch(node.get("votes") or "")
        node.set("votes", str(votes))
        return int(match.group(1)) if match else 1

    def delete_node(self, name: str) -> None:
        """Remove a node; refused when a node without a nodeid would get another id from the validator (its id
        is the lowest free one in file order, so removing a node before it can change it), because a running
        member whose id changes is another node to the rest of the cluster."""
        node = self.node(name)
        if node is None:
            raise EditError(f"node {name} does not exist")
        before = {n.get("name"): i for n, i in zip(self.nodes(), self.effective_ids(), strict=True) if n is not node}
        remove(node)
        moved = [
            f"{n.get('name')}: {before[n.get('name')]} -> {i}"
            for n, i in zip(self.nodes(), self.effective_ids(), strict=True)
            if before.get(n.get("name")) != i
        ]
        if moved:
            raise EditError(
                f"removing {name} would change the ids of nodes without a nodeid ({', '.join(moved)}); "
                "run ccs_tool addnodeids first"
            )

    def add_fence(self, name: str, agent: str, args: Sequence[tuple[str, str]] = ()) -> None:
        if self.fencedevice(name) is not None:
            raise EditError(f"fence type {name} already exists")
        container = self.section("fencedevices", create=True)
        assert container is not None
        append(container, _element("fencedevice", [("name", name), ("agent", agent), *args]))

    def delete_fence(self, name: str) -> None:
        device = self.fencedevice(name)
        if device is None:
            raise EditError(f"fence type {name} does not exist")
        remove(device)


def _id(node: etree._Element) -> int:
    match = _INT.fullmatch(node.get("nodeid") or "")
    return int(match.group(1)) if match else 0


def _element(tag: str, attrs: Iterable[tuple[str, str]]) -> etree._Element:
    element = etree.Element(tag)
    for key, value in attrs:
        try:
            element.set(key, value)
        except ValueError:
            raise EditError(f"{key!r} is not a valid attribute name") from None
    return element


def parse_assignments(args: Iterable[str]) -> list[tuple[str, str]]:
    """``key=value`` command-line words; ``name`` is refused because it names the device itself."""
    pairs = []
    for arg in args:
        key, equals, value = arg.partition("=")
        if not equals or not key:
            raise EditError(f"option '{arg}' is not opt=value pair")
        if key == "name":
            raise EditError('can\'t use "name" as a fence argument name')
        pairs.append((key, value))
    return pairs


# --- whitespace-preserving tree surgery ----------------------------------------------------------------------


def _line_indent(whitespace: str | None) -> str | None:
    """The indentation a text node gives to what follows it, if the text is only a newline and blanks."""
    if whitespace is None or "\n" not in whitespace or whitespace.strip(" \t\r\n"):
        return None
    return whitespace.rsplit("\n", 1)[1]


def _indent_of(element: etree._Element) -> str:
    parent = element.getparent()
    if parent is None:
        return ""
    previous = element.getprevious()
    before = previous.tail if previous is not None else parent.text
    found = _line_indent(before)
    return found if found is not None else _indent_of(parent) + _unit(element)


def _unit(element: etree._Element) -> str:
    """The file's indentation step, read from the root's first child (two spaces if the file has none)."""
    root = element.getroottree().getroot()
    found = _line_indent(root.text)
    return found if found else "  "


def append(parent: etree._Element, element: etree._Element) -> etree._Element:
    """Append ``element`` as the last child of ``parent``, on its own line, indented like its siblings."""
    children = [c for c in parent]
    if children:
        last = children[-1]
        previous = last.getprevious()
        sibling_ws = previous.tail if previous is not None else parent.text
        element.tail = last.tail
        last.tail = sibling_ws if _line_indent(sibling_ws) is not None else "\n" + _indent_of(last)
    else:
        own = _indent_of(parent)
        parent.text = "\n" + own + _unit(parent)
        element.tail = "\n" + own
    parent.append(element)
    return element


def remove(element: etree._Element) -> None:
    """Remove ``element`` with its line: the whitespace before it now leads to what followed it."""
    parent = element.getparent()
    assert parent is not None
    previous = element.getprevious()
    if element.getnext() is None:
        # The last child's tail is the indentation of the parent's closing tag: hand it to what comes before.
        if previous is not None:
            previous.tail = element.tail
        else:
            parent.text = element.tail
    parent.remove(element)


# --- files under construction ----------------------------------------------------------------------------


def under_construction(problems: Iterable[Problem], node_count: int) -> tuple[list[Problem], list[Problem]]:
    """Split errors into (blocking, tolerated): a file being built may lack its nodes for now."""
    blocking: list[Problem] = []
    tolerated: list[Problem] = []
    for problem in problems:
        if problem.severity != "error":
            continue
        missing_nodes = problem.path == "/cluster/clusternodes" and problem.message == "no <clusternode> is defined"
        two_node_short = (
            problem.attribute == "two_node" and problem.message.startswith("two_node is set but") and node_count < 2
        )
        (tolerated if missing_nodes or two_node_short else blocking).append(problem)
    return blocking, tolerated


def skeleton(name: str, *, two_node: bool) -> bytes:
    """A new file as ``ccs_tool create`` makes it: version 1, empty sections (plus cman two_node with -2)."""
    root = etree.Element("cluster")
    root.set("name", name)
    root.set("config_version", "1")
    document = Document(root, b'<?xml version="1.0"?>')
    if two_node:
        append(root, _element("cman", [("two_node", "1"), ("expected_votes", "1")]))
    append(root, etree.Element("clusternodes"))
    append(root, etree.Element("fencedevices"))
    rm = append(root, etree.Element("rm"))
    append(rm, etree.Element("failoverdomains"))
    append(rm, etree.Element("resources"))
    return document.to_bytes()


__all__ = [
    "Document",
    "EditError",
    "append",
    "parse_assignments",
    "remove",
    "skeleton",
    "under_construction",
]
