"""`quorate web` in a real browser: Debian's headless Chromium on a client host of the testbed, against the console
running on balthasar next to its quorated, over HTTPS with the console's self-signed certificate.

The browser lives where an administrator's would, on the LAN: ChromeDriver and Chromium run in a client
namespace (``Testbed.add_client``), and this process drives ChromeDriver through a small forwarder whose
outgoing connections are made from inside that namespace (`NetnsForward`). The login is real PAM with a user
made for the test (``useradd``, ``chpasswd``, group ``haclient``) and removed afterwards. The cluster is the
article's, with service ``test`` on a shared ext3 LUN and fence_netns through the power switch (as in
test_e2e_services.py), at a 5 s token.

Scenarios: a POST without a session and a wrong password are refused; the user logs in and sees three nodes and
the service; relocates it from the service page and sees the new owner appear without the page reloading; a node
that is not waiting for a fence cannot be acknowledged; the owner's daemon is killed and the overview shows the
fence and the takeover, again without a reload. With QUORATE_WEB_SCREENSHOTS=DIR the main pages are saved as
DIR/web-*.png (the README's pictures: ``QUORATE_WEB_SCREENSHOTS=docs .venv/bin/pytest
tests/e2e/test_e2e_web_console.py``). Without chromium and chromium-driver (scripts/setup.sh installs them)
the test fails, saying so.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import QUORATE, wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)

from quorate.testbed import article
from quorate.testbed.article import Timings, write_service_files
from quorate.testbed.power import start_power_switch

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
SECRET = "quorate-e2e-web"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
GROUP = "haclient"
PAM_FILE = Path("/etc/pam.d/quorate-web")
PAM_SOURCE = Path(__file__).resolve().parents[2] / "packaging" / "pam.d" / "quorate-web"
WEB_PORT = 8443
DRIVER_PORT = 9515
CLONE_NEWNET = 0x40000000
ROW = '#services tr[data-service="test"]'
# Root in a container-like namespace: no sandbox; the console's certificate is self-signed.
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--ignore-certificate-errors",
                 "--window-size=1280,1000", "--no-first-run", "--disable-gpu")  # fmt: skip


def browser_problems() -> list[str]:
    problems = [f"{path} is missing (apt-get install {pkg}; scripts/setup.sh installs it)"
                for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver"))
                if not os.access(path, os.X_OK)]  # fmt: skip
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append("the selenium Python package is missing (pip install -e '.[dev]')")
    return problems


class NetnsForward:
    """Listens on this host's loopback and connects, from inside network namespace ``netns``, to ``port`` there."""

    def __init__(self, netns: str, port: int) -> None:
        self.netns, self.port = netns, port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.address = self.listener.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"forward-{netns}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        # setns changes only this thread's network namespace: sockets it creates from now on live in ``netns``.
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {self.netns} failed")
        finally:
            os.close(fd)
        while not self._stop.is_set():
            try:
                inbound, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                outbound = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                inbound.close()
                continue
            threading.Thread(target=self._pump, args=(inbound, outbound), daemon=True).start()

    @staticmethod
    def _pump(inbound: socket.socket, outbound: socket.socket) -> None:
        """Copies both ways until both sides have finished, then closes both."""
        peer = {inbound: outbound, outbound: inbound}
        open_sides = {inbound, outbound}
        try:
            while open_sides:
                readable, _, _ = select.select(list(open_sides), [], [], 1.0)
                for side in readable:
                    data = side.recv(65536)
                    if data:
                        peer[side].sendall(data)
                    else:
                        open_sides.discard(side)
                        with contextlib.suppress(OSError):
                            peer[side].shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            inbound.close()
            outbound.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.listener.close()


@contextlib.contextmanager
def browser_on_client(tb: Any, client: str, profile: Path) -> Iterator[Any]:
    """A Selenium driver for headless Chromium running on testbed client ``client``."""
    from selenium import webdriver

    netns = tb.add_client(client)
    log = open(profile.parent / "chromedriver.log", "w")  # noqa: SIM115
    driver_proc = tb.client_popen(client, [CHROMEDRIVER, f"--port={DRIVER_PORT}"], stdout=log, stderr=log)
    forward = NetnsForward(netns, DRIVER_PORT)
    url = f"http://{forward.address[0]}:{forward.address[1]}"

    def driver_ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/status", timeout=2) as answer:
                return b'"ready":true' in answer.read().replace(b" ", b"")
        except OSError:
            return False

    driver = None
    try:
        wait_for("chromedriver answering in the client namespace", driver_ready, timeout=20)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
            options.add_argument(arg)
        driver = webdriver.Remote(command_executor=url, options=options)
        yield driver
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        forward.close()
        driver_proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            driver_proc.wait(timeout=5)
        log.close()


@contextlib.contextmanager
def console_user(name: str, password: str) -> Iterator[None]:
    """A system user in group haclient and the console's PAM service, both removed afterwards."""
    made_group = subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0
    if made_group:
        subprocess.run(["groupadd", "--system", GROUP], check=True)
    made_pam = not PAM_FILE.exists()
    if made_pam:
        shutil.copyfile(PAM_SOURCE, PAM_FILE)
    try:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", GROUP, name],
                       check=True)  # fmt: skip
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        yield
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        if made_pam:
            PAM_FILE.unlink(missing_ok=True)
        if made_group:
            subprocess.run(["groupdel", GROUP], capture_output=True)


def cluster_conf(tmp_path: Path, device: str) -> Path:
    init = write_service_files(tmp_path, period=2)
    text = article.testbed_conf(device, init, fence_secret=SECRET, qdisk=False, timings=Timings(token_ms=5000))
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    return conf


def console_answers(tb: Any, client: str, base: str) -> Callable[[], bool]:
    probe = (
        "import ssl, urllib.request as u, sys\n"
        f"u.urlopen('{base}/login', context=ssl._create_unverified_context(), timeout=2)\n"
    )

    def answers() -> bool:
        return tb.client_exec(client, [sys.executable, "-c", probe], timeout=10).returncode == 0

    return answers


def attribute(driver: Any, css: str, name: str) -> str | None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        value: str | None = driver.find_element("css selector", css).get_attribute(name)
        return value
    except (NoSuchElementException, StaleElementReferenceException):
        return None


def until(driver: Any, what: str, check: Callable[[Any], Any], timeout: float) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.wait import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(check)
    except TimeoutException:
        raise AssertionError(f"the browser did not show {what} within {timeout:.0f} s; it shows:\n"
                             + driver.find_element("tag name", "body").text) from None  # fmt: skip


def post_without_session(driver: Any, path: str) -> list[Any]:
    script = (
        "const done = arguments[arguments.length - 1];"
        f"fetch('{path}', {{method: 'POST', body: new URLSearchParams({{op: 'disable', csrf: 'guess'}})}})"
        ".then(r => r.text().then(t => done([r.status, t]))).catch(e => done([0, String(e)]));"
    )
    result: list[Any] = driver.execute_async_script(script)
    return result


def screenshot(driver: Any, name: str) -> None:
    directory = os.environ.get("QUORATE_WEB_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        size = driver.get_window_size()
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(size["width"], max(size["height"], int(height) + 140))  # the whole page
        driver.save_screenshot(str(Path(directory) / f"web-{name}.png"))
        driver.set_window_size(size["width"], size["height"])


def log_in(driver: Any, base: str, user: str, password: str) -> None:
    driver.get(f"{base}/login")
    driver.find_element("id", "user").send_keys(user)
    driver.find_element("id", "password").send_keys(password)
    driver.find_element("id", "login").click()


def mark_page(driver: Any) -> None:
    """A value that lives as long as the page: a reload or a navigation would lose it."""
    driver.execute_script("window.quorateSamePage = 'yes';")


def same_page(driver: Any) -> bool:
    return bool(driver.execute_script("return window.quorateSamePage === 'yes';"))


@dataclass
class Console:
    driver: Any
    base: str
    user: str
    password: str
    log: Path


@contextlib.contextmanager
def web_console(tb: Any, node: str, tmp_path: Path) -> Iterator[Console]:
    """``quorate web`` on ``node``, a user allowed in, and a browser on client host ``admin`` at the login page."""
    problems = browser_problems()
    if problems:
        pytest.fail("the browser test needs: " + "; ".join(problems), pytrace=False)
    user, password = f"qweb{os.getpid() % 100000}", secrets.token_urlsafe(12)
    web_log = tmp_path / "web.log"
    base = f"https://{tb.address(node)}:{WEB_PORT}"
    argv = [*QUORATE, "web", "--listen", f"0.0.0.0:{WEB_PORT}", "--cert-dir", str(tmp_path / "web")]
    with console_user(user, password), open(web_log, "w") as log:
        console = tb.popen(node, argv, stdout=log, stderr=log)
        try:
            with browser_on_client(tb, "admin", tmp_path / "chromium") as driver:
                wait_for("the console answering over HTTPS", console_answers(tb, "admin", base), timeout=30)
                driver.get(f"{base}/")
                yield Console(driver, base, user, password, web_log)
        finally:
            tb.end_popen(console)


def service_is(owner: str, state: str) -> Callable[[Any], bool]:
    def check(driver: Any) -> bool:
        return (attribute(driver, ROW, "data-owner"), attribute(driver, ROW, "data-state")) == (owner, state)

    return check


@pytest.mark.timeout(300)
def test_console_in_a_browser_logs_in_relocates_and_shows_a_failover_live(testbed, lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    began = time.monotonic()
    tb = testbed(cluster_conf(tmp_path, lun))
    start_power_switch(tb, secret=SECRET)
    with web_console(tb, B, tmp_path) as web:
        driver, base = web.driver, web.base
        assert driver.current_url == f"{base}/login"
        status, text = post_without_session(driver, "/service/test")
        assert status == 403 and "Not logged in" in text, (status, text)

        log_in(driver, base, web.user, "not-" + web.password)
        refused = until(driver, "the login refusal", lambda d: d.find_element("id", "login-error"), 20)
        assert refused.text.startswith("Login refused: wrong user name or password")
        screenshot(driver, "login")

        log_in(driver, base, web.user, web.password)
        until(driver, "the overview", lambda d: d.current_url == f"{base}/", 20)
        for name in (B, C, M):
            node_row = f'#nodes tr[data-node="{name}"]'
            until(driver, f"{name} online", lambda d, r=node_row: attribute(d, r, "data-state") == "online", 60)
        until(driver, "service:test started on balthasar", service_is(B, "started"), 60)
        assert driver.find_element("id", "quorum-value").text == "2"
        screenshot(driver, "overview")

        driver.find_element("link text", "service:test").click()
        until(driver, "the service page", lambda d: d.find_elements("id", "op-relocate"), 10)
        assert "ring01" in driver.find_element("id", "domain").text
        assert "test_svc" in driver.find_element("id", "resources").text
        mark_page(driver)
        from selenium.webdriver.support.select import Select

        Select(driver.find_element("id", "target")).select_by_value(C)
        driver.find_element("id", "op-relocate").click()
        state = "#service-test dl.service"
        until(driver, "casper as the owner", lambda d: attribute(d, state, "data-owner") == C, 60)
        until(driver, "clusvcadm's answer", lambda d: "Success" in d.find_element("id", "answer").text, 60)
        assert driver.find_element("id", "answer").text == f"Success; service:test is now running on {C}"
        assert same_page(driver), "the page reloaded"
        screenshot(driver, "service")

        driver.get(f"{base}/fence/{M}")
        assert f"{M} is not waiting for a fence" in driver.find_element("id", "message").text

        driver.get(f"{base}/")
        until(driver, "casper as the owner on the overview", lambda d: attribute(d, ROW, "data-owner") == C, 20)
        mark_page(driver)
        tb.kill(C, signal.SIGKILL)
        fenced = f'#fencing li[data-fenced="{C}"][data-ok="yes"]'
        until(driver, "casper's fence confirmed", lambda d: d.find_elements("css selector", fenced), 60)
        until(driver, "service:test taken over by balthasar", service_is(B, "started"), 60)
        assert attribute(driver, f'#nodes tr[data-node="{C}"]', "data-state") == "offline"
        assert same_page(driver), "the overview reloaded"
        screenshot(driver, "failover")

        driver.find_element("id", "timeline-link").click()
        until(driver, "the timeline page", lambda d: d.find_elements("id", "timeline"), 20)
        driver.get(f"{base}/timeline?service=test")
        rows = [r.text for r in driver.find_elements("css selector", "#timeline tbody tr")]
        kinds = [(r.get_attribute("data-kind"), r.get_attribute("data-outcome"))
                 for r in driver.find_elements("css selector", "#timeline tbody tr")]  # fmt: skip
        relocated = kinds.index(("service", "relocated"))
        confirmed = kinds.index(("fence", "confirmed"), relocated)
        assert ("service", "placed") in kinds[confirmed:], rows
        assert any("R-32" in row for row in rows[confirmed:]), rows
        screenshot(driver, "timeline")
    audit = web.log.read_text()
    assert f"user={web.user} from=192.168.0.100 action=login result=refused: wrong user name or password" in audit
    assert f'user={web.user} from=192.168.0.100 action=relocate target=service:test -> {C} result="Success' in audit
    assert "action=POST target=/service/test result=refused: no session" in audit
    print(f"browser test: {time.monotonic() - began:.0f} s")


@pytest.mark.timeout(300)
def test_a_manual_fence_is_acknowledged_from_the_console_after_confirming(testbed, lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    began = time.monotonic()
    conf = cluster_conf(tmp_path, lun)
    netns_device = f'agent="fence_netns" action="off" passwd="{SECRET}"'
    conf.write_text(conf.read_text().replace(netns_device, 'agent="fence_manual"'))
    tb = testbed(conf)
    with web_console(tb, C, tmp_path) as web:
        driver, base = web.driver, web.base
        log_in(driver, base, web.user, web.password)
        until(driver, "service:test started on balthasar", service_is(B, "started"), 60)
        mark_page(driver)
        tb.kill(B, signal.SIGKILL)
        tb.power_off(B)  # what the administrator does by hand before acknowledging
        pending = f'#fencing tr[data-victim="{B}"][data-state="waiting for manual acknowledgement"]'
        until(driver, "balthasar awaiting its manual fence", lambda d: d.find_elements("css selector", pending), 60)
        assert "single: switch (fence_manual)" in driver.find_element("css selector", pending).text
        assert attribute(driver, ROW, "data-owner") == B, "the service moved before the fence"
        assert same_page(driver), "the overview reloaded"
        screenshot(driver, "fence-pending")

        driver.find_element("css selector", f"{pending} a.button").click()
        node = until(driver, "the confirmation page", lambda d: d.find_element("id", "fence-node"), 10)
        assert node.text == B
        screenshot(driver, "fence-confirm")
        driver.find_element("id", "confirm-fence").click()
        message = until(driver, "the acknowledgement's answer", lambda d: d.find_element("id", "message"), 20)
        assert message.text.startswith(f"The fence of {B} is acknowledged")

        driver.get(f"{base}/")
        until(driver, "service:test taken over by casper", service_is(C, "started"), 60)
        confirmed = f'#fencing li[data-fenced="{B}"][data-ok="yes"]'
        assert "manual acknowledgement" in driver.find_element("css selector", confirmed).text
        driver.get(f"{base}/fence/{B}")
        assert f"{B} is not waiting for a fence" in driver.find_element("id", "message").text
    assert f"user={web.user} from=192.168.0.100 action=fence_ack target={B} result=" in web.log.read_text()
    print(f"browser test: {time.monotonic() - began:.0f} s")
