"""Untrusted input is bounded: no DTD, no entities, no network, no huge or deep documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from quorate.config import MAX_BYTES, ConfigError, ConfigReadError, load_config, parse_config

VALID_TAIL = (
    b'<cluster name="a" config_version="1"><clusternodes><clusternode name="n" nodeid="1"/></clusternodes></cluster>'
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE cluster [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<cluster name="&lol9;" config_version="1"><clusternodes><clusternode name="n" nodeid="1"/></clusternodes></cluster>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE cluster [<!ENTITY secret SYSTEM "file:///etc/shadow">]>
<cluster name="&secret;" config_version="1"><clusternodes><clusternode name="n" nodeid="1"/></clusternodes></cluster>
"""

EXTERNAL_DTD = (
    b"""<?xml version="1.0"?>
<!DOCTYPE cluster SYSTEM "http://127.0.0.1:9/cluster.dtd">
"""
    + VALID_TAIL
)


def _refused(data: bytes) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return "\n".join(str(p) for p in info.value.problems)


def test_the_valid_tail_is_valid() -> None:
    assert parse_config(VALID_TAIL).nodes[0].name == "n"


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["bomb", "xxe", "dtd"])
def test_doctype_is_refused_before_parsing(data: bytes) -> None:
    text = _refused(data)
    assert "<!DOCTYPE ...> is not allowed" in text
    assert ":2: /:" in text  # the line of the declaration


def test_doctype_in_another_encoding_is_refused_after_parsing() -> None:
    utf16 = EXTERNAL_ENTITY.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    text = _refused(utf16)
    assert "DOCTYPE" in text or "not well-formed" in text
    assert "shadow" not in text and "root:" not in text


def test_bomb_in_utf16_is_not_expanded() -> None:
    utf16 = BILLION_LAUGHS.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    _refused(utf16)


def test_undefined_entity_is_a_located_syntax_error() -> None:
    text = _refused(b'<cluster name="&nbsp;" config_version="1">\n<clusternodes/></cluster>')
    assert "<string>:1: /: not well-formed XML" in text and "nbsp" in text


def test_oversize_is_refused() -> None:
    padding = b"<!--" + b"x" * MAX_BYTES + b"-->"
    text = _refused(VALID_TAIL.replace(b"<clusternodes>", padding + b"<clusternodes>"))
    assert "1 MiB" in text


def test_oversize_file_is_not_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "cluster.conf"
    big.write_bytes(b"<!--" + b"x" * (4 * MAX_BYTES) + b"-->" + VALID_TAIL)
    with pytest.raises(ConfigError) as info:
        load_config(big)
    assert not isinstance(info.value, ConfigReadError)
    assert "1 MiB" in str(info.value)


def test_deep_nesting_is_refused() -> None:
    deep = b'<cluster name="a" config_version="1"><clusternodes/><rm><service name="s">'
    deep += b"<fs>" * 5000 + b"</fs>" * 5000 + b"</service></rm></cluster>"
    assert "depth" in _refused(deep).lower()


def test_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigReadError) as info:
        load_config(tmp_path / "absent.conf")
    (problem,) = info.value.problems
    assert problem.file == str(tmp_path / "absent.conf") and "cannot read" in problem.message


def test_directory_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigReadError):
        load_config(tmp_path)


@pytest.mark.parametrize("data", [b"", b"   ", b"\x00\x01\x02", b"\xff\xfe\xfd", b"<cluster", b"<?xml?>"])
def test_garbage_is_a_config_error(data: bytes) -> None:
    _refused(data)
