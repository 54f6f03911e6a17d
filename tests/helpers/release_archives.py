"""Earlier releases' source, for the tests that hold this release to an older one: the upgrade end-to-end test
runs an old release's daemon, and the compatibility unit tests decode and encode with an old release's own
message codec, so what they check cannot drift from what that release really sends.

A clone made for CI may have neither the tags nor the history behind them, so each release's source is kept as an
archive in ``releases/`` (``scripts/release-archive.sh``), checked against ``releases/SHA256SUMS`` before use.

An old module is imported with its release's own package around it, never this one's: while it loads, only the
release's ``quorate`` can be imported; afterwards this release's modules are back and the old ones are reachable
only through the module handed out. So ``import quorate...`` in a test always gives the current code, and the old
code never sees the new. (msgspec resolves a codec's types when the codec is built, at import, while the old
release's modules are the importable ones: the old decoder keeps the old types.)
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
RELEASES = REPO / "releases"


def release_source(tag: str, where: Path) -> Path:
    """The ``src`` directory of release ``tag`` (``v0.2.0``), unpacked below ``where`` from its checked archive."""
    version = tag.removeprefix("v")
    archive = RELEASES / f"quorate-{version}-src.tar.gz"
    if not archive.exists():
        pytest.fail(f"no {archive.relative_to(REPO)}: run scripts/release-archive.sh {tag}", pytrace=False)
    lines = (RELEASES / "SHA256SUMS").read_text().splitlines()
    sums = {name: recorded for recorded, name in (line.split() for line in lines if line)}
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sums.get(archive.name) == digest, f"{archive.name}: checksum {digest} is not the one in SHA256SUMS"
    subprocess.run(["tar", "-x", "-z", "-f", str(archive), "-C", str(where)], check=True, timeout=60)
    return where / f"quorate-{version}" / "src"


def release_module(tag: str, name: str, where: Path) -> ModuleType:
    """Module ``name`` (``quorate.core.messages``) as release ``tag`` has it, unpacked below ``where``; it and
    the release's modules it imports stay out of ``sys.modules``."""
    src = release_source(tag, where)
    ours = _take_quorate_modules()
    sys.path.insert(0, str(src))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(src))
        _take_quorate_modules()  # the release's: reachable from here on through `module` alone
        sys.modules.update(ours)
    assert module.__file__ is not None and Path(module.__file__).is_relative_to(src), (
        f"{name} was imported from {module.__file__}, not from release {tag}'s {src}"
    )
    return module


def _take_quorate_modules() -> dict[str, ModuleType]:
    """Remove every ``quorate`` module from ``sys.modules`` and return them."""
    taken = {name: module for name, module in sys.modules.items() if name == "quorate" or name.startswith("quorate.")}
    for name in taken:
        del sys.modules[name]
    return taken
