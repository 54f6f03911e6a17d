"""Citations stay honest: every rule number the project cites is defined in docs/, once, and nothing cites notes
that are not in the repository.

Why: code, tests and the README explain themselves by citing rules (``R-92``, ``S4``...). A citation helps a reader
only if the repository defines it: docs/rules.md defines the C-, Q-, D-, F-, R-, L-, V-, T-, W- and E- rules and
docs/design.md the safety rules S1..S6. A reference to notes kept elsewhere (their file names, their section
numbers, issue numbers) sends the reader nowhere, so it fails too, wherever it appears, naming the file and line.

docs/citations-to-fix.txt lists the references of that kind that existed when this test was written, each with
its replacement, one per line: ``path:line: fragment -> replacement``. A listed fragment passes, wherever it
moved in its file; the line number is only a hint. The list may only shrink: an entry whose fragment no longer
occurs in its file fails as stale, so fixing a reference means deleting its line.

Scanned: src, tests, bench, scripts, packaging, bin, docs and README.md, as text. Not scanned: this file (it
spells the patterns out) and tests/fixtures and tests/golden, which hold third-party text verbatim.

The same two documents also say where each rule is enforced and tested; those references must lead somewhere: a
module under src/, a function or class that module defines, a test file that exists (see doc_references.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from doc_references import Quoted, bad_references, blocks, region_words

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src", "tests", "bench", "scripts", "packaging", "bin", "docs", "README.md")
SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
SKIPPED_PATHS = {"tests/fixtures", "tests/golden", "tests/unit/test_docs_rules.py", "docs/citations-to-fix.txt"}
DEFINING = ("docs/rules.md", "docs/design.md")
ALLOW_LIST = "docs/citations-to-fix.txt"

RULE = re.compile(r"\b[CQDFRLVTWE]-[0-9]+\b|\bS[1-6]\b")
# "F-24..F-27", "Q-2 to Q-6", "S1..S6": every number in between is cited too.
RANGE = re.compile(r"\b(?P<p>[CQDFRLVTWE]-|S)(?P<a>[0-9]+)\s*(?:\.\.|to)\s*(?:(?P=p))?(?P<b>[0-9]+)\b")
# A definition: a bold label at the start of a line (optionally a list item), or a heading.
DEFINITION = re.compile(
    r"^(?:(?:[0-9]+\.|[-*])\s+)?\*\*(?P<bold>[CQDFRLVTWE]-[0-9]+|S[1-6])\*\*"
    r"|^#{1,6}\s+(?P<head>[CQDFRLVTWE]-[0-9]+|S[1-6])\b"
)
ELSEWHERE = "notes that are not in the repository"
EXTERNAL = (
    (
        re.compile(r"rhcs\.md|DESIGN\.md|interfaces-and-style|\.\./shared/|\bshared/spec/"),
        f"names a file of {ELSEWHERE}",
    ),
    (re.compile(r"\bDESIGN section\b"), f"cites a section of {ELSEWHERE}"),
    (re.compile(r"\b[Ss]pec(?: table| section)? [0-9]+\.[0-9]+"), f"cites a section of {ELSEWHERE}"),
    (re.compile(r"\btable [0-9]+\.[0-9]+"), f"cites a table of {ELSEWHERE}"),
    (re.compile(r"\binterfaces [0-9]+[a-z]\b"), f"cites a section of {ELSEWHERE}"),
    (re.compile(r"\bsection 0\b"), f"cites a section of {ELSEWHERE} (the article notes are in docs/rules.md)"),
    (re.compile(r"\b[Ii]ssue (?:item )?[0-9]+"), "cites an issue number"),
    (re.compile(r"\b[Tt]he spec\b"), f"cites {ELSEWHERE}"),
)
ENTRY = re.compile(r"^(?P<path>[^:\s]+):(?P<line>[0-9]+): (?P<fragment>.+?) -> (?P<replacement>.+)$")
ADVICE = "cite a rule of docs/rules.md or a section of docs/design.md instead"


@dataclass(frozen=True)
class Line:
    path: str
    number: int
    text: str


@dataclass
class Entry:
    path: str
    line: int
    fragment: str
    replacement: str
    used: bool = False


def text_files(root: Path = ROOT) -> Iterator[tuple[str, str]]:
    """(repository-relative path, text) of every scanned text file."""
    for top in SCANNED:
        base = root / top
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in paths:
            rel = path.relative_to(root).as_posix()
            parts = set(path.relative_to(root).parts)
            if parts & SKIPPED_DIRS or any(part.endswith(".egg-info") for part in parts):
                continue
            if any(rel == skip or rel.startswith(skip + "/") for skip in SKIPPED_PATHS):
                continue
            data = path.read_bytes()
            if b"\0" in data:
                continue
            try:
                yield rel, data.decode("utf-8")
            except UnicodeDecodeError:
                continue


def lines(files: Iterable[tuple[str, str]]) -> Iterator[Line]:
    for path, text in files:
        for number, line in enumerate(text.splitlines(), 1):
            yield Line(path, number, line)


@functools.cache
def scanned_lines() -> tuple[Line, ...]:
    """Every line of the scanned files, read once per test session."""
    return tuple(lines(text_files()))


def cited(text: str) -> set[str]:
    """Rule numbers a line cites, ranges expanded."""
    found = set(RULE.findall(text))
    for match in RANGE.finditer(text):
        low, high = int(match["a"]), int(match["b"])
        if low < high <= low + 30:
            found |= {f"{match['p']}{n}" for n in range(low, high + 1)}
    return found


def definitions(root: Path = ROOT) -> dict[str, list[str]]:
    """Rule number -> every place ("path:line") that defines it."""
    found: dict[str, list[str]] = {}
    for rel in DEFINING:
        for number, text in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), 1):
            match = DEFINITION.match(text)
            if match:
                found.setdefault(match["bold"] or match["head"], []).append(f"{rel}:{number}")
    return found


def external_references(text: str) -> list[tuple[int, int, str]]:
    """(start, end, why) of every reference to notes outside the repository in one line."""
    return [(m.start(), m.end(), why) for pattern, why in EXTERNAL for m in pattern.finditer(text)]


def read_allow_list(text: str) -> tuple[list[Entry], list[str]]:
    """The entries of docs/citations-to-fix.txt, and a sentence for every line that is not one."""
    entries: list[Entry] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = ENTRY.match(line)
        if match is None:
            problems.append(f"{ALLOW_LIST}:{number}: not 'path:line: fragment -> replacement': {line!r}")
            continue
        entries.append(Entry(match["path"], int(match["line"]), match["fragment"], match["replacement"]))
    return entries, problems


def unlisted_references(all_lines: Iterable[Line], entries: list[Entry]) -> list[str]:
    """Every reference no entry covers; marks the entries that cover one as used (each covers one line)."""
    by_path: dict[str, list[Entry]] = {}
    for entry in entries:
        by_path.setdefault(entry.path, []).append(entry)
    failures = []
    for line in all_lines:
        pending = sorted(external_references(line.text))
        while pending:
            start, end, why = pending[0]
            best: tuple[int, Entry, int] | None = None
            for entry in by_path.get(line.path, []):
                if entry.used:
                    continue
                for occurrence in re.finditer(re.escape(entry.fragment), line.text):
                    if occurrence.start() <= start and end <= occurrence.end():
                        distance = abs(entry.line - line.number)
                        if best is None or distance < best[0]:
                            best = (distance, entry, occurrence.start())
            if best is None:
                failures.append(f"{line.path}:{line.number}: {line.text[start:end]!r} {why}; {ADVICE}")
                pending = [p for p in pending[1:] if p[0] >= end]  # one report per place ("spec table 1.5")
                continue
            _, entry, at = best
            entry.used = True
            covered_to = at + len(entry.fragment)
            pending = [p for p in pending if not (at <= p[0] and p[1] <= covered_to)]
    return failures


# ------------------------------------------------------------------------------------------------- the checks


def test_every_cited_rule_is_defined() -> None:
    defined = definitions()
    missing = [
        f"{line.path}:{line.number}: {rule} is cited but neither docs/rules.md nor docs/design.md defines it"
        for line in scanned_lines()
        for rule in sorted(cited(line.text))
        if rule not in defined
    ]
    assert not missing, "\n".join(missing)


def test_no_rule_is_defined_twice() -> None:
    twice = [
        f"{places[1]}: {rule} is defined again (first at {places[0]})"
        for rule, places in sorted(definitions().items())
        if len(places) > 1
    ]
    assert not twice, "\n".join(twice)


def test_the_design_defines_the_six_safety_rules_and_the_rules_page_the_rest() -> None:
    defined = definitions()
    in_design = {rule for rule, places in defined.items() if any(p.startswith("docs/design.md:") for p in places)}
    assert in_design == {f"S{n}" for n in range(1, 7)}
    assert {rule[0] for rule in set(defined) - in_design} == set("CQDFRLVTWE")


def test_nothing_new_cites_notes_outside_the_repository() -> None:
    entries, _ = read_allow_list((ROOT / ALLOW_LIST).read_text(encoding="utf-8"))
    failures = unlisted_references(scanned_lines(), entries)
    assert not failures, "\n".join(failures)


def test_the_list_of_references_to_fix_only_shrinks() -> None:
    entries, problems = read_allow_list((ROOT / ALLOW_LIST).read_text(encoding="utf-8"))
    unlisted_references(scanned_lines(), entries)
    stale = [
        f"{ALLOW_LIST}: {entry.path}:{entry.line}: {entry.fragment!r} no longer occurs there: delete this entry"
        for entry in entries
        if not entry.used
    ]
    assert not problems + stale, "\n".join(problems + stale)


def test_the_suggested_replacements_cite_only_defined_rules_and_nothing_outside() -> None:
    entries, _ = read_allow_list((ROOT / ALLOW_LIST).read_text(encoding="utf-8"))
    defined = definitions()
    wrong = [
        f"{ALLOW_LIST}: {entry.path}:{entry.line}: the replacement {entry.replacement!r} cites {rule}, not defined"
        for entry in entries
        for rule in sorted(cited(entry.replacement))
        if rule not in defined
    ]
    wrong += [
        f"{ALLOW_LIST}: {entry.path}:{entry.line}: the replacement {entry.replacement!r} {why}"
        for entry in entries
        for _, _, why in external_references(entry.replacement)
    ]
    assert not wrong, "\n".join(wrong)


def test_every_enforced_and_tested_reference_leads_somewhere() -> None:
    bad = [reason for rel in DEFINING for reason in bad_references((ROOT / rel).read_text(encoding="utf-8"), rel)]
    assert not bad, f"{len(bad)} references point nowhere:\n" + "\n".join(bad)


# ------------------------------------------------------------------------------ the checks catch what they must


def test_a_bogus_rule_and_ranges_are_seen() -> None:
    assert cited("restarts in place (R-53), see F-24..F-27, Q-2 to Q-4 and S4; not T-") == {
        "R-53",
        "F-24",
        "F-25",
        "F-26",
        "F-27",
        "Q-2",
        "Q-3",
        "Q-4",
        "S4",
    }
    assert cited("S1..S3") == {"S1", "S2", "S3"}
    assert "R-999" in cited("the R-999 rule") and "R-999" not in definitions()


def test_outside_references_are_seen_and_a_listed_one_passes_once() -> None:
    text = "a docstring (see spec 9.9) and (interfaces 1z)"
    found = sorted(text[start:end] for start, end, _ in external_references(text))
    assert found == ["interfaces 1z", "spec 9.9"]
    listed = Entry("src/x.py", 3, "(see spec 9.9)", "(R-92)")
    two_lines = iter([Line("src/x.py", 3, text), Line("src/x.py", 9, "another spec 9.9 here")])
    failures = unlisted_references(two_lines, [listed])
    assert listed.used
    assert [f.split(":")[:2] for f in failures] == [["src/x.py", "3"], ["src/x.py", "9"]]
    assert "'interfaces 1z'" in failures[0] and "'spec 9.9'" in failures[1]


def test_a_malformed_list_line_is_reported_with_its_number() -> None:
    entries, problems = read_allow_list("# comment\n\nsrc/a.py:1: (spec x) -> (R-1)\nsrc/b.py: no arrow here\n")
    assert [e.fragment for e in entries] == ["(spec x)"]
    assert problems and problems[0].startswith(f"{ALLOW_LIST}:4:")


SAMPLE = """\
**X-1** Prose with `quorate.core.nowhere` before any label is not a reference. Enforced:
`quorate.core.quorum` (`compute_quorum`, `QuorumTracker.evaluate`, `no_such_function`: prose after it),
`quorate.core.vanished` (`anything`), `quorate.core.fencing` (the `Fencing` class), `quorate.core.quorum`,
then (`not_a_reference`). Tested: `tests/unit/core/test_quorum.py`, `tests/unit/core/test_gone.py`; the rest
not by a dedicated test.

- An item: Code: `quorate.node.no_shell`.
- Another item without a label mentions `quorate.node.no_shell`.
"""


def test_bad_modules_names_and_test_files_are_reported_with_their_lines() -> None:
    assert bad_references(SAMPLE, "docs/x.md") == [
        "docs/x.md:2: `no_such_function` is not defined in quorate.core.quorum",
        "docs/x.md:3: module `quorate.core.vanished` does not exist under src/",
        "docs/x.md:4: `tests/unit/core/test_gone.py` does not exist",
        "docs/x.md:7: module `quorate.node.no_shell` does not exist under src/",
    ]


def test_names_count_only_inside_the_parentheses_right_after_a_module() -> None:
    words = [w for block in blocks(SAMPLE) for w in region_words("docs/x.md", block)]
    qualified = {w.word: w.in_parentheses_of for w in words}
    assert qualified["compute_quorum"] == "quorate.core.quorum"
    assert qualified["QuorumTracker.evaluate"] == "quorate.core.quorum"
    assert qualified["Fencing"] == "quorate.core.fencing"
    assert qualified["not_a_reference"] is None
    assert "quorate.core.nowhere" not in qualified
    assert Quoted("docs/x.md", 4, "tests/unit/core/test_quorum.py", None) in words


def test_a_name_a_module_only_imports_does_not_count() -> None:
    # quorate.config.changes is a façade: it imports check_successor from the module that defines it.
    text = "Enforced: `quorate.config.changes` (`check_successor`), `quorate.config.change_rules` (`check_successor`)."
    assert bad_references(text, "docs/x.md") == [
        "docs/x.md:1: `check_successor` is not defined in quorate.config.changes"
    ]
