"""The "Enforced:" and "Tested:" references of docs/rules.md and docs/design.md, and which of them point nowhere.

Why: each rule tells a reader where to look: the module (and, in parentheses, the functions or classes) that
enforces it, and the tests that exercise it. Code moves; a reference to a module, function or test file that no
longer exists sends the reader nowhere while looking authoritative. These helpers find every such reference so a
test can list them all at once, each with its document line.

How a reference is read. The documents are cut into blocks (paragraphs, and each list item on its own); inside a
block, everything after a label (``Enforced:``, ``Tested:``, ``Checked:``, ``Code:``, ``enforced by``, ``tested
by``) up to the block's end is a reference region. In a region, among the back-quoted words:

- ``quorate.x.y`` is a module and must be ``src/quorate/x/y.py`` or a package ``src/quorate/x/y/``;
- back-quoted identifiers inside the parentheses that directly follow a module (``Class``, ``function``,
  ``Class.method``, a bare method name) must be defined in that module: a top-level ``def``, ``class`` or
  assignment, or a method or class-level assignment of one of its classes. Prose in those parentheses is fine,
  but a back-quoted word there must be a real name: a name the module only imports does not count, since the
  reference must lead to the code that does the work;
- a path under ``tests/``, ``src/``, ``packaging/``, ``scripts/`` or ``docs/`` must exist.

Anything else ("Tested: not by a dedicated test", other back-quoted words) is prose and passes. The modules are
read with ``ast``, never imported.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("docs/rules.md", "docs/design.md")

LABEL = re.compile(r"\b(?:Enforced|Tested|Checked|Code):|\b(?:[Ee]nforced|[Tt]ested) by\b")
LIST_ITEM = re.compile(r"^\s*(?:[0-9]+\.|[-*])\s")
QUOTED = re.compile(r"`([^`]+)`")
MODULE = re.compile(r"quorate(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
PATH = re.compile(r"(?:tests|src|packaging|scripts|docs)/\S+")


@dataclass(frozen=True)
class Quoted:
    """One back-quoted word of a reference region, with where it sits."""

    path: str
    line: int
    word: str
    in_parentheses_of: str | None  # the module whose parentheses hold this word, if any


def blocks(text: str) -> Iterator[list[tuple[int, str]]]:
    """Paragraphs and list items, as lists of (line number, line)."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or LIST_ITEM.match(line):
            if block:
                yield block
            block = [(number, line)] if line.strip() else []
        else:
            block.append((number, line))
    if block:
        yield block


def region_words(path: str, block: list[tuple[int, str]]) -> Iterator[Quoted]:
    """The back-quoted words after the first label of a block, each tagged with the module it qualifies."""
    text = "\n".join(line for _, line in block)
    label = LABEL.search(text)
    if label is None:
        return
    starts = [0]
    for _, line in block:
        starts.append(starts[-1] + len(line) + 1)

    def line_of(offset: int) -> int:
        index = max(i for i, start in enumerate(starts[:-1]) if start <= offset)
        return block[index][0]

    module: str | None = None  # the last module seen, while its parentheses may still open or are open
    depth = 0
    position = label.end()
    for match in QUOTED.finditer(text, label.end()):
        between = text[position : match.start()]
        for char in between:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth <= 0:
                    module, depth = None, 0
            elif depth == 0 and not char.isspace():
                module = None  # anything but blanks between a module and "(" detaches the parentheses
        word = match[1]
        yield Quoted(path, line_of(match.start()), word, module if depth > 0 else None)
        if depth == 0:
            module = word if MODULE.fullmatch(word) else None
        position = match.end()


def module_file(module: str, root: Path = ROOT) -> Path | None:
    base = root / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _targets(node: ast.stmt) -> Iterator[str]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
        yield node.target.id


@functools.cache
def defined_names(source: Path) -> frozenset[str]:
    """Top-level names a module defines, ``Class.member`` for its classes' members, and bare member names."""
    names: set[str] = set()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        names.update(_targets(node))
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    found = [member.name]
                else:
                    found = list(_targets(member))
                names.update(found)
                names.update(f"{node.name}.{name}" for name in found)
    return frozenset(names)


def problem(quoted: Quoted, root: Path = ROOT) -> str | None:
    """Why a back-quoted word of a reference region points nowhere, or None when it is fine or prose."""
    where = f"{quoted.path}:{quoted.line}"
    word = quoted.word
    if quoted.in_parentheses_of is not None and NAME.fullmatch(word) and not MODULE.fullmatch(word):
        source = module_file(quoted.in_parentheses_of, root)
        if source is not None and word not in defined_names(source):
            return f"{where}: `{word}` is not defined in {quoted.in_parentheses_of}"
        return None
    if MODULE.fullmatch(word) and module_file(word, root) is None:
        return f"{where}: module `{word}` does not exist under src/"
    if PATH.fullmatch(word) and not (root / word).exists():
        return f"{where}: `{word}` does not exist"
    return None


def bad_references(text: str, path: str, root: Path = ROOT) -> list[str]:
    """Every reference of one document that points nowhere, in document order."""
    found = []
    for block in blocks(text):
        for quoted in region_words(path, block):
            why = problem(quoted, root)
            if why is not None:
                found.append(why)
    return found
