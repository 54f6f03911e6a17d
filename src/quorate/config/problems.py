"""Located configuration problems, and the exception that carries them.

Theory of operation: an administrator fixes a cluster.conf faster when every mistake is reported at once, each
with the file, line and element it is about and a sentence saying what would be valid. Every stage of loading
(XML parsing, the schema walk, the semantic checks) therefore appends `Problem` values to one `Problems`
collector instead of raising; the parser raises a single `ConfigError` at the end if any problem is an error.
Warnings and "ignored" notices never stop a load; they travel with the resulting configuration.

Paths name elements the way an administrator counts them: repeatable elements carry a 1-based position among
their same-named siblings (``/cluster/clusternodes/clusternode[2]/fence/method[1]``), containers that can
appear only once do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lxml import etree

Severity = Literal["error", "warning", "ignored"]

# Elements that appear at most once under their parent: their paths carry no position, because "[1]" on a
# singleton only adds noise. Everything else (nodes, methods, devices, resources…) is numbered.
SINGLETONS = frozenset(
    {
        "cluster",
        "cman",
        "multicast",
        "totem",
        "quorumd",
        "clusternodes",
        "fence",
        "unfence",
        "fencedevices",
        "fence_daemon",
        "rm",
        "failoverdomains",
        "resources",
        "logging",
        "dlm",
        "gfs_controld",
        "group",
        "fence_xvmd",
        "clvmd",
        "events",
    }
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about the file; `str()` gives the ``FILE:LINE: PATH[@ATTR]: message (hint)`` line."""

    severity: Severity
    file: str
    line: int
    path: str
    attribute: str | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.path + (f"[@{self.attribute}]" if self.attribute else "")
        text = f"{self.file}:{self.line}: {where}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(Exception):
    """The file is not a usable cluster.conf; `problems` holds every finding, errors and warnings alike."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        shown = errors or list(self.problems)
        summary = "; ".join(str(p) for p in shown[:3])
        if len(shown) > 3:
            summary += f"; and {len(shown) - 3} more"
        super().__init__(summary or "invalid configuration")

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


class ConfigReadError(ConfigError):
    """The file could not be read at all (missing, unreadable): callers such as the CLI treat this apart."""


def is_element(node: etree._Element) -> bool:
    """lxml yields comments and processing instructions among children; their tag is not a string."""
    tag: object = node.tag
    return isinstance(tag, str)


def line_of(node: etree._Element) -> int:
    line: object = node.sourceline
    return line if isinstance(line, int) else 0


def element_path(element: etree._Element, positions: SiblingPositions | None = None) -> str:
    """Positions count same-named siblings only, so inserting a comment or another kind of element elsewhere
    does not renumber the path an administrator is looking at. Without `positions` each call scans the
    siblings; a run that reports on many elements passes one `SiblingPositions` so the whole run stays linear."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        tag = etree.QName(node).localname if is_element(node) else "?"
        parent = node.getparent()
        if parent is None or tag in SINGLETONS:
            steps.append(tag)
        else:
            position = positions.of(parent, node) if positions is not None else _scan_position(parent, node)
            steps.append(f"{tag}[{position}]")
        node = parent
    return "/" + "/".join(reversed(steps))


def _scan_position(parent: etree._Element, node: etree._Element) -> int:
    position = 1
    for sibling in parent:
        if sibling is node:
            break
        if sibling.tag == node.tag:
            position += 1
    return position


class SiblingPositions:
    """Every child's position among its same-named siblings, numbered once per parent on first use.

    Why: numbering by scanning the siblings for each reported element made a file with thousands of
    siblings (each with a warning) quadratic to check. The table holds the lxml element proxies it was built
    from, which keeps them alive, so the same element always comes back as the same Python object and can be
    looked up by identity. It assumes the tree does not change while one run reports on it; a child it has
    not seen (added since) is still numbered correctly, by a scan.
    """

    def __init__(self) -> None:
        self._tables: dict[etree._Element, dict[etree._Element, int]] = {}

    def of(self, parent: etree._Element, node: etree._Element) -> int:
        table = self._tables.get(parent)
        if table is None:
            table = {}
            counts: dict[object, int] = {}
            for child in parent:
                counts[child.tag] = counts.get(child.tag, 0) + 1
                table[child] = counts[child.tag]
            self._tables[parent] = table
        found = table.get(node)
        return found if found is not None else _scan_position(parent, node)


class Problems:
    """The collector every stage writes into; it knows the file name so stages only pass elements."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []
        self.positions = SiblingPositions()

    def where(self, element: etree._Element) -> str:
        """A short back-reference to another element, for "already used by …" messages."""
        return f"{element_path(element, self.positions)} (line {element.sourceline})"

    def add(
        self,
        severity: Severity,
        element: etree._Element | None,
        message: str,
        *,
        attribute: str | None = None,
        hint: str | None = None,
        line: int | None = None,
        path: str | None = None,
    ) -> None:
        if element is not None:
            line = line_of(element) if line is None else line
            path = element_path(element, self.positions) if path is None else path
        self.items.append(
            Problem(
                severity=severity,
                file=self.file,
                line=line or 0,
                path=path or "/",
                attribute=attribute,
                message=message,
                hint=hint,
            )
        )

    def error(
        self, element: etree._Element | None, message: str, *, attribute: str | None = None, hint: str | None = None
    ) -> None:
        self.add("error", element, message, attribute=attribute, hint=hint)

    def warning(
        self, element: etree._Element | None, message: str, *, attribute: str | None = None, hint: str | None = None
    ) -> None:
        self.add("warning", element, message, attribute=attribute, hint=hint)

    def ignored(
        self, element: etree._Element | None, message: str, *, attribute: str | None = None, hint: str | None = None
    ) -> None:
        self.add("ignored", element, message, attribute=attribute, hint=hint)

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.items)

    def sorted(self) -> tuple[Problem, ...]:
        """Errors first would hide context; file order reads like the file, so sort by line only."""
        return tuple(sorted(self.items, key=lambda p: (p.line, p.path)))
