"""The testbed: a real multi-node cluster on one machine, hosts made of namespaces.

Theory of operation: each cluster node becomes a network namespace cabled to a
bridge in a "switch" namespace, plus a holder process that owns the node's
private mount, UTS, IPC and PID namespaces (its files, hostname and process
tree).  End-to-end tests and the demo drive it through ``Testbed``; the CLI
(``quorate testbed ...``) drives the same state from a shell.  See ``testbed.py``
for the life cycle, ``faults.py`` for the network faults and ``holder.py`` for
what a host is.
"""

from quorate.testbed.conf import TestbedError, UnknownNodeError
from quorate.testbed.testbed import Testbed, missing_prerequisites

__all__ = ["Testbed", "TestbedError", "UnknownNodeError", "missing_prerequisites"]
