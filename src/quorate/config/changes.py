"""What activating one cluster.conf instead of another changes, and whether it may replace it at run time.

Theory of operation. Distribution (``quorate config push``, ``ccs_tool update``) and the administrator's
``quorate config diff`` need the same answers about a candidate file, computed without any I/O, in three parts:

* `check_successor` (`quorate.config.change_rules`): may the candidate replace the running configuration *while
  the cluster runs* (C-40, C-45, S5)? Located `Problem` values; an empty list (or warnings only) means yes.
* `plan_change` (`quorate.config.change_diff`): what activation does, as a `ConfigChange`
  (`quorate.config.change_model`), with `ConfigChange.to_dict` for JSON;
* `describe` (`quorate.config.change_text`): the same, one line per change, for people.
"""

from quorate.config.change_diff import QDISK_DYNAMIC, plan_change, quorum_all_up, quorumd_change
from quorate.config.change_model import (
    ConfigChange,
    DomainChange,
    FenceDeviceChange,
    Field,
    NodeChange,
    QuorumdChange,
    ServiceChange,
    VotesChange,
)
from quorate.config.change_rules import check_successor
from quorate.config.change_text import describe

__all__ = [
    "QDISK_DYNAMIC",
    "ConfigChange",
    "DomainChange",
    "FenceDeviceChange",
    "Field",
    "NodeChange",
    "QuorumdChange",
    "ServiceChange",
    "VotesChange",
    "check_successor",
    "describe",
    "plan_change",
    "quorum_all_up",
    "quorumd_change",
]
