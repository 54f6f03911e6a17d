"""``quorate testbed`` commands, run as separate processes the way a person uses them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from quorate.cli import testbed_cmd
from quorate.testbed import Testbed
from quorate.testbed.netns import list_netns
from quorate.testbed.support import unique_prefix

CLI = "from quorate.cli.testbed_cmd import testbed; testbed(prog_name='quorate testbed')"


def cli(*args: str, prefix: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUORATE_TESTBED_PREFIX": prefix}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=30, env=env)


def test_refuses_politely_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(testbed_cmd.testbed, ["status", "--prefix", "qtnone"])
    assert result.exit_code == 1
    assert "needs root" in result.output


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_cli_drives_a_testbed(require_root: None, magi_conf: Path) -> None:
    prefix = unique_prefix()
    try:
        up = cli("up", str(magi_conf), "--no-daemons", prefix=prefix)
        assert up.returncode == 0, up.stderr
        assert "casper.localdomain\t192.168.0.202" in up.stdout

        status = cli("status", prefix=prefix)
        assert status.stdout.count("power on") == 3 and "no daemon" in status.stdout

        hostname = cli("exec", "casper", "--", "hostname", prefix=prefix)
        assert hostname.stdout == "casper.localdomain\n"
        assert cli("exec", "casper", "--", "sh", "-c", "exit 3", prefix=prefix).returncode == 3
        unknown = cli("exec", "gaspar", "--", "true", prefix=prefix)
        assert unknown.returncode == 1 and "unknown node 'gaspar'" in unknown.stderr
        assert "no daemon is running" in cli("kill", "casper", prefix=prefix).stderr

        assert cli("partition", "balthasar,casper", "melchior", prefix=prefix).returncode == 0
        assert cli("one-way", "casper", "balthasar", prefix=prefix).returncode == 0
        assert cli("loss", "melchior", "100", prefix=prefix).returncode == 0
        faults = Testbed.attach(prefix).faults()
        assert [next(iter(f)) for f in faults] == ["partition", "one_way", "loss"]
        assert cli("exec", "casper", "--", "ping", "-c1", "-W1", "melchior", prefix=prefix).returncode != 0
        assert cli("heal", prefix=prefix).returncode == 0
        assert cli("exec", "casper", "--", "ping", "-c1", "-W1", "melchior", prefix=prefix).returncode == 0

        assert cli("power-off", "melchior", prefix=prefix).returncode == 0
        assert "power off" in cli("status", prefix=prefix).stdout
        assert "powered off" in cli("exec", "melchior", "--", "true", prefix=prefix).stderr
        assert cli("power-on", "melchior", prefix=prefix).returncode == 0
        assert cli("status", prefix=prefix).stdout.count("power on") == 3

        started = cli("start", "balthasar", prefix=prefix)
        assert started.returncode == 0 and started.stdout.strip().isdigit()
        assert cli("log", "balthasar", prefix=prefix).returncode == 0
        cli("stop", "balthasar", prefix=prefix)

        assert cli("down", prefix=prefix).returncode == 0
        assert not [name for name in list_netns() if name.startswith(f"{prefix}-")]
        assert "no testbed" in cli("status", prefix=prefix).stderr
    finally:
        Testbed.down_prefix(prefix)
