"""quorate: a high-availability cluster manager in the tradition of the Red Hat Cluster Suite.

Kept import-free on purpose: the status commands (`cman_tool status`, `clustat`) import this package on
every call, and their whole-process time is a benchmarked figure.
"""

__version__ = "0.5.0"
