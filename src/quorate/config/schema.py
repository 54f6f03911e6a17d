"""Structural validation of cluster.conf, driven by the RelaxNG schema shipped in ``quorate/data/cluster.rng``.

Theory of operation: libxml2's RelaxNG validator knows the grammar but explains itself poorly ("Element
clusternodes has extra content: clusternode") and stops at the first failure inside a subtree. quorate wants
every problem at once, each located and phrased as advice. So the schema is read twice:

1. ``Vocabulary`` compiles the grammar into a per-context table (for each element pattern: its attributes with
   their types and whether they are required, its allowed children with cardinalities, whether text is
   allowed), and ``check_structure`` walks the document along that table, reporting unknown or misplaced
   elements with "did you mean" suggestions, bad values with the expected form, missing attributes and
   children. The ``q:`` annotations in the schema mark tolerated names (reported as "ignored", with why and,
   from ``q:hint``, what to do instead) and give the human descriptions of value types. A second copy of an
   element that may appear only once is reported, and its content is checked all the same, so that fixing
   the duplicate does not reveal a new round of problems.
2. ``relaxng_backstop`` then runs the real RelaxNG validator, but only when the walk found nothing: the walk
   is a simplification (it ignores ordering, which the schema never constrains, and treats choices as
   optional), and anything it misses still surfaces, located by libxml2's line and path.

The grammar subset the compiler understands is the one the schema is written in: element/attribute with a
``name`` (or ``anyName`` with ``except``), optional/zeroOrMore/oneOrMore/choice/group/interleave, ref/define,
data with pattern/length/range params, value choices, text and empty.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from quorate.config.derive import XML_SPACE
from quorate.config.problems import Problems, is_element, line_of

RNG = "{http://relaxng.org/ns/structure/1.0}"
Q = "{urn:quorate:schema:annotations}"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INTEGER_TYPES = {"integer", "positiveInteger", "nonNegativeInteger"}


@dataclass(frozen=True, slots=True)
class ValueType:
    """What an attribute value may be: free text, one of ``values``, or an XSD ``datatype`` with facets."""

    datatype: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    values: tuple[str, ...] = ()
    expect: str | None = None

    def accepts(self, text: str) -> bool:
        if self.values:
            return " ".join(t for t in re.split(r"[ \t\r\n]+", text) if t) in self.values
        if self.datatype is None:
            return True
        params = dict(self.params)
        if self.datatype in _INTEGER_TYPES:
            stripped = text.strip(XML_SPACE)
            if not _INTEGER.fullmatch(stripped):
                return False
            number = int(stripped)
            low = {"positiveInteger": 1, "nonNegativeInteger": 0}.get(self.datatype)
            if "minInclusive" in params:
                low = max(low if low is not None else -(10**30), int(params["minInclusive"]))
            if low is not None and number < low:
                return False
            return not ("maxInclusive" in params and number > int(params["maxInclusive"]))
        if "pattern" in params and not re.fullmatch(params["pattern"], text):
            return False
        if "minLength" in params and len(text) < int(params["minLength"]):
            return False
        return not ("maxLength" in params and len(text) > int(params["maxLength"]))

    def describe(self) -> str:
        if self.values:
            return "one of " + ", ".join(repr(v) for v in self.values)
        return self.expect or f"a valid {self.datatype}"


@dataclass(slots=True)
class AttrSpec:
    name: str | None
    required: bool
    type: ValueType
    ignored: str | None = None
    hint: str | None = None
    excluded: frozenset[str] = frozenset()


@dataclass(slots=True)
class ChildSpec:
    name: str
    key: str
    minimum: int
    maximum: int | None


@dataclass(slots=True)
class ElementSpec:
    name: str | None
    ignored: str | None = None
    hint: str | None = None
    attrs: dict[str, AttrSpec] = field(default_factory=dict)
    any_attr: AttrSpec | None = None
    children: dict[str, ChildSpec] = field(default_factory=dict)
    any_child: bool = False
    text: bool = False


class Vocabulary:
    """The compiled grammar: one ElementSpec per ``<element>`` pattern, keyed by its path in the schema."""

    def __init__(self, rng: etree._ElementTree) -> None:
        self._tree = rng
        root = rng.getroot()
        self._defines = {d.get("name", ""): d for d in root.iter(f"{RNG}define")}
        self.specs: dict[str, ElementSpec] = {}
        self.parents: dict[str, set[str]] = {}
        start = root.find(f"{RNG}start")
        assert start is not None, "schema has no <start>"
        self.start = ElementSpec(name=None)
        self._collect(start, self.start, optional=False, repeat=False, seen=frozenset())
        pending = [c.key for c in self.start.children.values()]
        while pending:
            key = pending.pop()
            if key in self.specs:
                continue
            spec = self._compile(key)
            for child in spec.children.values():
                self.parents.setdefault(child.name, set()).add(spec.name or "*")
                pending.append(child.key)

    def spec(self, key: str) -> ElementSpec:
        return self.specs[key]

    def _node(self, key: str) -> etree._Element:
        found = self._tree.xpath(key)
        assert isinstance(found, list) and found, key
        node = found[0]
        assert isinstance(node, etree._Element)
        return node

    def _compile(self, key: str) -> ElementSpec:
        node = self._node(key)
        spec = ElementSpec(name=node.get("name"), ignored=node.get(f"{Q}ignored"), hint=node.get(f"{Q}hint"))
        self.specs[key] = spec
        self._collect(node, spec, optional=False, repeat=False, seen=frozenset())
        return spec

    def _collect(
        self, pattern: etree._Element, spec: ElementSpec, *, optional: bool, repeat: bool, seen: frozenset[str]
    ) -> None:
        for node in pattern:
            tag = str(node.tag)
            if not is_element(node) or not tag.startswith(RNG):
                continue
            kind = tag[len(RNG) :]
            if kind == "element":
                self._add_child(node, spec, optional=optional, repeat=repeat)
            elif kind == "attribute":
                self._add_attribute(node, spec, optional=optional)
            elif kind == "ref":
                name = node.get("name", "")
                if name not in seen:
                    self._collect(self._defines[name], spec, optional=optional, repeat=repeat, seen=seen | {name})
            elif kind in ("optional", "choice"):
                self._collect(node, spec, optional=True, repeat=repeat, seen=seen)
            elif kind == "zeroOrMore":
                self._collect(node, spec, optional=True, repeat=True, seen=seen)
            elif kind == "oneOrMore":
                self._collect(node, spec, optional=optional, repeat=True, seen=seen)
            elif kind in ("group", "interleave"):
                self._collect(node, spec, optional=optional, repeat=repeat, seen=seen)
            elif kind == "mixed":
                spec.text = True
                self._collect(node, spec, optional=optional, repeat=repeat, seen=seen)
            elif kind in ("text", "data", "value", "list"):
                spec.text = True

    def _add_child(self, node: etree._Element, spec: ElementSpec, *, optional: bool, repeat: bool) -> None:
        name = node.get("name")
        if name is None:
            spec.any_child = True
            return
        new = ChildSpec(name, self._tree.getpath(node), 0 if optional else 1, None if repeat else 1)
        old = spec.children.get(name)
        if old is not None:
            new.minimum = min(old.minimum, new.minimum)
            new.maximum = None if old.maximum is None or new.maximum is None else max(old.maximum, new.maximum)
            new.key = old.key
        spec.children[name] = new

    def _add_attribute(self, node: etree._Element, spec: ElementSpec, *, optional: bool) -> None:
        attr = AttrSpec(
            name=node.get("name"),
            required=not optional,
            type=self._value_type(node, frozenset()),
            ignored=node.get(f"{Q}ignored"),
            hint=node.get(f"{Q}hint"),
        )
        if attr.name is not None:
            spec.attrs[attr.name] = attr
            return
        any_name = node.find(f"{RNG}anyName")
        if any_name is not None:
            attr.excluded = frozenset(n.text or "" for n in any_name.iter(f"{RNG}name"))
        spec.any_attr = attr

    def _value_type(self, node: etree._Element, seen: frozenset[str]) -> ValueType:
        for child in node:
            if child.tag == f"{RNG}ref":
                name = child.get("name", "")
                if name not in seen:
                    return self._value_type(self._defines[name], seen | {name})
            elif child.tag == f"{RNG}data":
                params = tuple((p.get("name", ""), (p.text or "").strip()) for p in child.iter(f"{RNG}param"))
                return ValueType(datatype=child.get("type"), params=params, expect=child.get(f"{Q}expect"))
            elif child.tag == f"{RNG}choice":
                values = tuple((v.text or "").strip() for v in child.iter(f"{RNG}value"))
                if values:
                    return ValueType(values=values)
            elif child.tag == f"{RNG}value":
                return ValueType(values=((child.text or "").strip(),))
        return ValueType()


@functools.cache
def schema_tree() -> etree._ElementTree:
    text = importlib.resources.files("quorate").joinpath("data/cluster.rng").read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.ElementTree(etree.fromstring(text, parser))


@functools.cache
def vocabulary() -> Vocabulary:
    return Vocabulary(schema_tree())


@functools.cache
def relaxng() -> etree.RelaxNG:
    return etree.RelaxNG(schema_tree())


def _show(tag: str) -> str:
    return f"<{etree.QName(tag).localname}>" if tag.startswith("{") else f"<{tag}>"


def _suggest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def check_structure(root: etree._Element, problems: Problems) -> None:
    """Report every structural problem of the document; the caller decides what to do with errors."""
    vocab = vocabulary()
    top = vocab.start.children.get(str(root.tag))
    if top is None and etree.QName(root).localname in vocab.start.children:
        problems.error(
            root,
            f"cluster.conf elements take no XML namespace, but this one is in {etree.QName(root).namespace!r}",
            hint="remove the xmlns= attribute",
        )
        return
    if top is None:
        problems.error(
            root,
            f"the root element must be <cluster>, not {_show(str(root.tag))}",
            hint="cluster.conf starts with <cluster name=... config_version=...>",
        )
        return
    _walk(root, vocab.spec(top.key), vocab, problems)


def _walk(element: etree._Element, spec: ElementSpec, vocab: Vocabulary, problems: Problems) -> None:
    tag = str(element.tag)
    _check_attributes(element, spec, problems)
    _check_text(element, spec, problems)
    counts: dict[str, int] = {}
    for child in element:
        if not is_element(child):
            continue  # comments and processing instructions
        name = str(child.tag)
        child_spec = spec.children.get(name)
        if child_spec is None:
            if not spec.any_child:
                _misplaced(child, element, spec, vocab, problems)
            continue
        counts[name] = counts.get(name, 0) + 1
        target = vocab.spec(child_spec.key)
        if child_spec.maximum is not None and counts[name] > child_spec.maximum:
            first = next(c for c in element if c.tag == child.tag)
            problems.error(
                child,
                f"<{tag}> may contain only one <{name}>; this is another one (the first is at line {line_of(first)})",
                hint=f"merge it into the <{name}> above",
            )
            if target.ignored is None:
                _walk(child, target, vocab, problems)
            continue
        if target.ignored is not None:
            problems.ignored(child, f"<{name}> is accepted but not used by quorate: {target.ignored}", hint=target.hint)
            continue
        _walk(child, target, vocab, problems)
    for name, child_spec in spec.children.items():
        if child_spec.minimum > 0 and counts.get(name, 0) == 0:
            problems.error(element, f"<{tag}> needs a <{name}> element", hint=f"add <{name}> inside <{tag}>")


def _check_attributes(element: etree._Element, spec: ElementSpec, problems: Problems) -> None:
    tag = str(element.tag)
    for name, value in element.attrib.items():
        name = str(name)
        attr = spec.attrs.get(name)
        if attr is None and spec.any_attr is not None and name not in spec.any_attr.excluded:
            attr = spec.any_attr
            if not name.startswith("{") and attr.ignored is None:
                continue  # pass-through parameters (fence agents)
        if attr is None:
            known = sorted(spec.attrs)
            guess = _suggest(name, known)
            hint = f"did you mean {guess!r}?" if guess else None
            listed = ", ".join(known) if known else "none"
            problems.error(
                element,
                f"unknown attribute {name!r} on <{tag}>; valid attributes are: {listed}",
                attribute=name,
                hint=hint,
            )
            continue
        if attr.ignored is not None:
            problems.ignored(
                element, f"accepted but not used by quorate: {attr.ignored}", attribute=name, hint=attr.hint
            )
            continue
        if not attr.type.accepts(str(value)):
            problems.error(
                element,
                f"{name} must be {attr.type.describe()}, not {str(value)!r}",
                attribute=name,
                hint=attr.hint,
            )
    for name, attr in spec.attrs.items():
        if attr.required and name not in element.attrib:
            problems.error(element, f"<{tag}> needs a {name!r} attribute", attribute=name, hint=attr.hint)


def _text_line(element: etree._Element, index: int, text: str) -> int:
    """libxml2 keeps no line for text, so count it from the nearest neighbour that has one: the node after
    the text when there is one, else the node before it (serialised, to count the lines it spans)."""
    offset = len(text) - len(text.lstrip(XML_SPACE))
    kids = list(element)
    after = kids[index] if index < len(kids) else None
    if after is not None:
        return line_of(after) - text[offset:].count("\n")
    if index == 0:
        return line_of(element) + text[:offset].count("\n")
    before = kids[index - 1]
    span = etree.tostring(before, with_tail=False).count(b"\n")
    return line_of(before) + span + text[:offset].count("\n")


def _check_text(element: etree._Element, spec: ElementSpec, problems: Problems) -> None:
    """Every run of stray text is reported on its own line: pasted fragments rarely come alone."""
    if spec.text:
        return
    pieces = [element.text] + [child.tail for child in element]
    for index, text in enumerate(pieces):
        if text and text.strip(XML_SPACE):
            sample = " ".join(text.split())
            sample = sample if len(sample) <= 40 else sample[:37] + "..."
            problems.add(
                "error",
                element,
                f"unexpected text {sample!r} inside <{element.tag}>",
                hint="only elements and comments belong here; was a '<' or a quote lost?",
                line=_text_line(element, index, text),
            )


def _misplaced(
    child: etree._Element, parent: etree._Element, spec: ElementSpec, vocab: Vocabulary, problems: Problems
) -> None:
    name = str(child.tag)
    allowed = sorted(spec.children)
    listed = ", ".join(f"<{a}>" for a in allowed) if allowed else "nothing"
    homes = sorted(vocab.parents.get(name, set()))
    if homes and not name.startswith("{"):
        shown = [f"<{h}>" for h in homes if vocab.parents.get(h) != vocab.parents.get("fs") or h == "service"]
        if len(shown) < len(homes):
            shown.append("a resource")  # resources nest inside each other: naming every type is noise
        where = " or ".join(shown)
        problems.error(
            child,
            f"<{name}> is not allowed inside <{parent.tag}>; it belongs inside {where}",
            hint=f"allowed inside <{parent.tag}>: {listed}",
        )
        return
    guess = _suggest(name, allowed)
    problems.error(
        child,
        f"unknown element {_show(name)} inside <{parent.tag}>; allowed here: {listed}",
        hint=f"did you mean <{guess}>?" if guess else None,
    )


def relaxng_backstop(tree: etree._ElementTree, problems: Problems) -> None:
    """Run libxml2's RelaxNG validator; report what it finds, located as well as its log allows."""
    validator = relaxng()
    if validator.validate(tree):
        return
    entries: Iterable[etree._LogEntry] = validator.error_log
    for entry in entries:
        element: etree._Element | None = None
        if entry.path:
            try:
                found = tree.xpath(entry.path)
            except etree.XPathError:
                found = None
            if isinstance(found, list) and found and isinstance(found[0], etree._Element):
                element = found[0]
        problems.add(
            "error",
            element,
            f"does not match the schema: {entry.message}",
            line=entry.line if entry.line > 0 else None,
            path=None if element is not None else (entry.path or "/cluster"),
        )


__all__ = ["Vocabulary", "check_structure", "relaxng_backstop", "vocabulary"]
