"""clustat and cman_tool run by a user who may not use the control socket: one line, a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import quorate

SRC = str(Path(quorate.__file__).resolve().parent.parent)
# The status commands need only the interpreter's built-in modules, so the system interpreter (which an
# unprivileged user can run, unlike a virtualenv under /root) runs them from the source tree.
SYSTEM_PYTHON = "/usr/bin/python3"
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture
def root_only_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A listening socket only root may connect to (mode 0600), in a directory anyone may enter."""
    directory = tmp_path_factory.mktemp("ctl")
    directory.chmod(0o755)
    path = str(directory / "quorated.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(1)
    try:
        yield path
    finally:
        server.close()


@pytest.mark.parametrize(
    ("module", "args", "prog"),
    [("quorate.cli.clustat", [], "clustat"), ("quorate.cli.cman_tool", ["status"], "cman_tool")],
)
def test_a_user_without_access_gets_one_line_and_a_failure(
    root_only_socket: str, module: str, args: list[str], prog: str
) -> None:
    assert os.access(SYSTEM_PYTHON, os.X_OK), "the test runs the command with the system interpreter"
    code = f"import sys; sys.path.insert(0, {SRC!r}); from {module} import main; sys.exit(main())"
    run = subprocess.run(
        [*AS_NOBODY, SYSTEM_PYTHON, "-c", code, *args],
        env={"PATH": "/usr/bin:/bin", "QUORATE_SOCKET": root_only_socket},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    assert run.stderr == (
        f"{prog}: permission denied on the control socket {root_only_socket}: run this command as root\n"
    )


class FakeSocketModule:
    """Stands in for `_socket` in `fastclient`: every connection fails with the given error."""

    AF_UNIX = socket.AF_UNIX
    SOCK_STREAM = socket.SOCK_STREAM

    def __init__(self, error: OSError) -> None:
        self.error = error

    def socket(self, *args: object) -> FakeSocketModule:
        return self

    def settimeout(self, timeout: float) -> None:
        pass

    def connect(self, path: str) -> None:
        raise self.error

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (PermissionError(13, "Permission denied"), "permission denied on the control socket /x.sock"),
        (TimeoutError("timed out"), "cannot talk to quorated on /x.sock: no answer within 10 s"),
        (ConnectionResetError(104, "Connection reset by peer"), "cannot talk to quorated on /x.sock: Connection reset"),
    ],
)
def test_clustat_json_says_why_the_socket_cannot_be_used(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: OSError, words: str
) -> None:
    from quorate.cli import clustat, fastclient

    monkeypatch.setattr(fastclient, "_socket", FakeSocketModule(error))
    monkeypatch.setenv("QUORATE_SOCKET", "/x.sock")
    assert clustat.main(["--json"]) == 1
    assert clustat.main([]) == 1
    err = capsys.readouterr().err
    assert err.count(f"clustat: {words}") == 2 and "Traceback" not in err


def test_clusvcadm_and_quorate_status_say_why_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from click.testing import CliRunner

    from quorate.cli import clusvcadm, fastclient
    from quorate.cli.main import main as cli

    monkeypatch.setattr(fastclient, "_socket", FakeSocketModule(PermissionError(13, "Permission denied")))
    monkeypatch.setenv("QUORATE_SOCKET", "/x.sock")
    assert clusvcadm.main(["-e", "test"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "Could not connect to resource group manager: permission denied on the control socket /x.sock: "
        "run this command as root\n"
    )
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "permission denied on the control socket /x.sock" in result.output
