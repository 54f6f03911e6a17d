"""``<named>`` → ``ocf:heartbeat:named`` (Debian's BIND 9), with rgmanager's attribute names.

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    config_file          named_config (/etc/bind/named.conf; /etc/named.conf)
    named_options        named_options (none)
    shutdown_wait        the stop timeout: shutdown_wait + 10 s (the agent's own, 60 s; 5 s)
    named_working_dir    no equivalent: the directory option of the file decides (/var/named)
    named_sdb            no equivalent: Debian's named has no SDB back ends (the OCF named parameter
                         selects a binary)
    update_source        no equivalent
    name, service_name   passed as is, unused
    (none)               named_user: bind, the user Debian's package creates

Differences an administrator sees: rgmanager generated a copy of the file whose ``listen-on`` named the
service's ``<ip>`` addresses; here BIND listens where the file says. Status asks the server itself: a
``host`` query for ``localhost`` at ``127.0.0.1`` must answer ``127.0.0.1`` (``monitor_request``,
``monitor_response``, ``monitor_ip`` change it), so keep Debian's localhost zone or set those.
"""

from __future__ import annotations

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host, no_words, seconds, value

DEBIAN_CONFIG = "/etc/bind/named.conf"


def parameters(res: Node, host: Host) -> dict[str, str]:
    seconds(res, "shutdown_wait")
    params = {
        "named_config": no_words(res, "config_file", value(res, "config_file") or DEBIAN_CONFIG),
        "named_user": "bind",
    }
    options = value(res, "named_options")
    if options:
        params["named_options"] = options
    return params


MAPPING = AppMapping(
    "named",
    "named",
    parameters,
    reads=frozenset({"config_file", "named_options", "shutdown_wait"}),
)
