"""Read cluster.conf safely and turn it into a `ClusterConfig`, or into a `ConfigError` listing every problem.

Theory of operation, in the order a file goes through it:

1. **Bounds before parsing.** The file is capped at 1 MiB and any ``<!DOCTYPE``/``<!ENTITY`` is refused before
   libxml2 sees it: cluster.conf never needs a DTD, and refusing it closes the entity-expansion ("billion
   laughs") and external-entity doors outright. The parser itself is hardened too (no entity resolution, no
   network, no DTD loading, no huge trees), and a DOCTYPE that slipped past the byte scan (another encoding)
   is refused after parsing.
2. **Non-breaking spaces.** Configurations copied from web pages (the article quorate is tested against is
   one) carry U+00A0 where spaces belong, which XML does not accept as whitespace. In a UTF-8 document,
   U+00A0 *between* attributes and in text between elements is read as a space, with a warning; inside
   attribute values it is kept (the semantic checks warn about it) because there it changes a name. Then the
   XML is parsed; a file that is not well-formed is refused with every error libxml2 reports, each with its
   line and column (an editor jumps to the line; the column finds the quote or bracket on it).
3. **Schema walk** (`quorate.config.schema`) and **semantic checks** (`quorate.config.validate`) both run and
   append to one problem list; then, only if neither found an error, libxml2's RelaxNG validator as a backstop.
4. Errors raise `ConfigError` with every problem, warnings included; otherwise the model is built
   (`quorate.config.build`) and returned with the warnings attached.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from lxml import etree

from quorate.config.build import build_config
from quorate.config.files import MAX_BYTES, read_config_bytes
from quorate.config.model import ClusterConfig
from quorate.config.problems import ConfigError, Problem, Problems
from quorate.config.schema import check_structure, relaxng_backstop
from quorate.config.validate import check_semantics

DEFAULT_PATH = "/etc/cluster/cluster.conf"
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_NBSP = "\u00a0"


def xml_parser() -> etree.XMLParser:
    """The hardened parser (public for tools that edit the tree, such as ccs_tool)."""
    return _parser()


def normalise_markup(data: bytes) -> bytes:
    """``data`` with U+00A0 outside attribute values read as spaces (step 2 above), so that a file copied from
    a web page can be parsed by lxml for editing exactly as `parse_config` reads it."""
    return _normalise(data, Problems("<edit>"))


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers keep state and are not safe to share between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_blank_text=False,
    )


def _refuse(problems: Problems, line: int, message: str, hint: str | None = None) -> ConfigError:
    problems.add("error", None, message, line=line, path="/", hint=hint)
    return ConfigError(problems.sorted())


def _replace_nbsp(text: str) -> tuple[str, int, int]:
    """Replace U+00A0 outside attribute values, comments and CDATA. Returns (text, count, first line)."""
    out: list[str] = []
    count = 0
    first = 0
    i = 0
    n = len(text)
    in_tag = False
    quote = ""
    while i < n:
        ch = text[i]
        if not in_tag and ch == "<":
            for opener, closer in (("<!--", "-->"), ("<![CDATA[", "]]>")):
                if text.startswith(opener, i):
                    end = text.find(closer, i + len(opener))
                    end = n if end < 0 else end + len(closer)
                    out.append(text[i:end])
                    i = end
                    break
            else:
                in_tag = True
                out.append(ch)
                i += 1
            continue
        if in_tag:
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == ">":
                in_tag = False
        if ch == _NBSP and not quote:
            count += 1
            if not first:
                first = text.count("\n", 0, i) + 1
            ch = " "
        out.append(ch)
        i += 1
    return "".join(out), count, first


def _normalise(data: bytes, problems: Problems) -> bytes:
    declared = _DECLARED_ENCODING.match(data)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # libxml2 reports the bad byte with its line
    if _NBSP not in text:
        return data
    fixed, count, line = _replace_nbsp(text)
    if count:
        problems.add(
            "warning",
            None,
            f"{count} non-breaking space{'s' if count > 1 else ''} (U+00A0) in the markup, first on this line, "
            "read as ordinary spaces",
            line=line,
            path="/",
            hint="the file was probably copied from a web page; replace them with ordinary spaces",
        )
    return fixed.encode("utf-8")


def _parse_xml(data: bytes, problems: Problems) -> etree._ElementTree:
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # The parser's own log: the exception's log can also hold entries of earlier parses in this thread.
        log: Iterable[etree._LogEntry] = parser.error_log
        entries: list[etree._LogEntry | None] = [e for e in log if e.level >= etree.ErrorLevels.ERROR]
        entries = entries or [None]
        for entry in entries:
            line = entry.line if entry is not None else (exc.lineno or 0)
            message = entry.message if entry is not None else str(exc.msg)
            column = entry.column if entry is not None else (exc.offset or 0)
            problems.add(
                "error",
                None,
                f"not well-formed XML at column {column}: {message}"
                if column > 0
                else f"not well-formed XML: {message}",
                line=line,
                path="/",
                hint="check quotes, angle brackets and that every element is closed",
            )
        raise ConfigError(problems.sorted()) from None
    tree = root.getroottree()
    doctype: object = getattr(tree.docinfo, "doctype", "")
    if doctype or tree.docinfo.internalDTD is not None:
        raise _refuse(problems, 1, "a DOCTYPE is not allowed in cluster.conf", "remove the <!DOCTYPE ...> declaration")
    return tree


def parse_config(data: bytes | str, source: str = "<string>") -> ClusterConfig:
    """Parse and check a whole cluster.conf; raise `ConfigError` carrying every problem if it is not valid.

    Text is accepted for convenience (tests, generated configurations) and read as UTF-8; the digest is then
    that of its UTF-8 encoding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    problems = Problems(source)
    if len(data) > MAX_BYTES:
        raise _refuse(
            problems,
            0,
            f"the file has more than {MAX_BYTES} bytes (1 MiB), the limit for cluster.conf",
            "a real cluster.conf is a few kilobytes; is this the right file?",
        )
    dtd = _DTD.search(data)
    if dtd is not None:
        line = data.count(b"\n", 0, dtd.start()) + 1
        raise _refuse(
            problems,
            line,
            f"<!{dtd.group(1).decode().upper()} ...> is not allowed in cluster.conf",
            "cluster.conf needs no DTD or entities; remove the declaration",
        )
    tree = _parse_xml(_normalise(data, problems), problems)
    root = tree.getroot()
    try:
        check_structure(root, problems)
        check_semantics(root, problems)
        if not problems.has_errors:
            relaxng_backstop(tree, problems)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        problems.add("error", None, f"internal error while checking the file: {exc!r}", line=0, path="/")
    if problems.has_errors:
        raise ConfigError(problems.sorted())
    warnings: tuple[Problem, ...] = problems.sorted()
    return build_config(root, data=data, source=source, warnings=warnings)


def load_config(path: str | os.PathLike[str] = DEFAULT_PATH) -> ClusterConfig:
    """Read and parse a regular file. A missing or unreadable file, a FIFO, socket or device, or a file that
    changed while it was read, raises `ConfigReadError` (a `ConfigError`); see
    `quorate.config.files.read_config_bytes`."""
    name = os.fspath(path)
    return parse_config(read_config_bytes(name, limit=MAX_BYTES, regular_only=True), source=name)
