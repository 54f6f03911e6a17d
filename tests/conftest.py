"""Makes the helpers that tests in more than one directory share (``tests/helpers``) importable by name.

A helper used by one directory's tests lives in that directory, as a module of its own name; one used across
directories (the unit tests and the end-to-end tests alike) lives in ``tests/helpers``, which this puts on the
path for every test run below ``tests``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELPERS = Path(__file__).resolve().parent / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))
