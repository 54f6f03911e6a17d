"""``<mysql>`` → Debian's ocf:heartbeat:mysql (MariaDB): the environment each action would get."""

from __future__ import annotations

import asyncio

from app_helpers import agent, ctx, fake_host, node_of, plan, reskeys

from quorate.resources.agents import app_mysql
from quorate.resources.agents.app_mysql import read_options

MARIADB = ["/usr/bin/mariadbd-safe", "/usr/bin/mysqld_safe", "/usr/bin/mariadb", "/usr/bin/mysql"]
DEBIAN_FILES = {
    "/etc/mysql/my.cnf": "[client-server]\nsocket = /run/mysqld/mysqld.sock\n!includedir /etc/mysql/mariadb.conf.d/\n",
    "/etc/mysql/mariadb.conf.d/50-server.cnf": (
        "[server]\n\n[mysqld]\npid-file                = /run/mysqld/mysqld.pid\nbasedir = /usr\n"
        "bind-address            = 127.0.0.1\n#datadir = /var/lib/mysql\n[embedded]\n[mariadb-10.11]\n"
    ),
    "/etc/mysql/mariadb.conf.d/50-client.cnf": "[client]\nsocket = /tmp/not-the-server.sock\n",
}


def test_debians_layout_with_no_attributes_but_the_name() -> None:
    call = plan(agent(app_mysql.MAPPING, fake_host(DEBIAN_FILES, MARIADB)), node_of("mysql", service="db", name="sql"))
    assert call.program.path.endswith("/resource.d/heartbeat/mysql")
    assert reskeys(call) == {
        "name": "sql",
        "service_name": "db",
        "config": "/etc/mysql/my.cnf",
        "datadir": "/var/lib/mysql",
        "pid": "/run/mysqld/mysqld.pid",
        "socket": "/run/mysqld/mysqld.sock",
        "log": "/var/log/mysql/error.log",
        "additional_parameters": "",
        "user": "mysql",
        "binary": "/usr/bin/mariadbd-safe",
        "client_binary": "/usr/bin/mariadb",
    }


def test_files_come_from_the_configuration_because_the_agents_command_line_would_beat_it() -> None:
    files = {
        "/srv/db/my.cnf": (
            '# instance two\n[mysqld]\ndatadir = /srv/db/data\npid_file = mysqld.pid\nsocket="/srv/db/sock"\n'
            "log-error = /srv/db/error.log  # inline comment\nuser = dbowner\n!include /srv/db/extra.cnf\n"
        ),
        "/srv/db/extra.cnf": "[mariadb]\nsocket = /srv/db/mysqld.sock\n[mysqldump]\ndatadir = /wrong\n",
    }
    node = node_of("mysql", name="sql", config_file="/srv/db/my.cnf")
    params = reskeys(plan(agent(app_mysql.MAPPING, fake_host(files, ["/usr/bin/mysqld_safe"])), node))
    assert params["config"] == "/srv/db/my.cnf"
    assert params["datadir"] == "/srv/db/data"
    assert params["pid"] == "/srv/db/data/mysqld.pid"  # relative to the data directory, as for the server
    assert params["socket"] == "/srv/db/mysqld.sock"  # the later file wins
    assert params["log"] == "/srv/db/error.log"
    assert params["user"] == "dbowner"
    assert (params["binary"], params["client_binary"]) == ("/usr/bin/mysqld_safe", "mysql")


def test_listen_address_and_options_become_additional_parameters() -> None:
    node = node_of(
        "mysql",
        name="sql",
        listen_address="10.0.0.60",
        mysqld_options="--user=dba --max-connections=500",
        startup_wait="90",
        shutdown_wait="40",
    )
    sql = agent(app_mysql.MAPPING, fake_host(DEBIAN_FILES, MARIADB))
    params = reskeys(plan(sql, node))
    assert params["additional_parameters"] == "--bind-address=10.0.0.60 --user=dba --max-connections=500"
    assert params["user"] == "dba"  # rgmanager took the user from the options too
    table = {a.name: a.timeout for a in asyncio.run(sql.actions(node)) if a.name != "status"}
    assert table == {"start": 90, "stop": 50}
    assert plan(sql, node, "stop").env["OCF_RESKEY_CRM_meta_timeout"] == "50000"


def test_an_ocf_parameter_on_the_element_beats_the_derived_value() -> None:
    node = node_of("mysql", name="sql", datadir="/data/mysql", test_passwd="secret")
    params = reskeys(plan(agent(app_mysql.MAPPING, fake_host(DEBIAN_FILES, MARIADB)), node))
    assert (params["datadir"], params["test_passwd"]) == ("/data/mysql", "secret")


def test_depth_10_runs_the_agents_query_check() -> None:
    sql = agent(app_mysql.MAPPING, fake_host(DEBIAN_FILES, MARIADB))
    node = node_of("mysql", name="sql")
    assert plan(sql, node, "monitor", depth=0).env["OCF_CHECK_LEVEL"] == "0"
    deep = plan(sql, node, "monitor", depth=10)
    assert (deep.env["OCF_CHECK_LEVEL"], deep.env["OCF_RESKEY_CRM_meta_interval"]) == ("10", "300000")


def test_bad_values_are_refused_at_start() -> None:
    sql = agent(app_mysql.MAPPING, fake_host(DEBIAN_FILES, MARIADB))
    quoted = asyncio.run(sql.start(node_of("mysql", name="sql", mysqld_options="--init-file='/x"), ctx()))
    assert (quoted.rc, quoted.message) == (6, "mysql:sql: mysqld_options cannot be read as words: No closing quotation")
    wait = asyncio.run(sql.start(node_of("mysql", name="sql", startup_wait="1m"), ctx()))
    assert (wait.rc, wait.message) == (6, "mysql:sql: startup_wait='1m' is not a whole number of seconds")


def test_option_files_include_loops_and_missing_files_add_nothing() -> None:
    looping = {
        "/a.cnf": "[mysqld]\ndatadir=/one\n!include /b.cnf\n",
        "/b.cnf": "[server]\nport=3307\n!include /a.cnf\n",
    }
    assert read_options(fake_host(looping), "/a.cnf") == {"datadir": "/one", "port": "3307"}
    assert read_options(fake_host({}), "/missing.cnf") == {}
