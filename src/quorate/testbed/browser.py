"""A real browser on the testbed's LAN, driving `quorate web`: Debian's headless Chromium and ChromeDriver in a
client host's network namespace, steered from this process through Selenium.

Theory of operation: the browser lives where an administrator's would, on the LAN: ChromeDriver and Chromium run
in a client namespace (``Testbed.add_client``), and this process reaches ChromeDriver through `NetnsForward`, a
small forwarder whose outgoing connections are made from inside that namespace (``setns`` on its own thread, so
the rest of the process stays where it is). `console_user` makes a real PAM login (``useradd``, ``chpasswd``,
group ``haclient``) and removes it afterwards. The end-to-end test of the console and the benchmark of its live
updates (bench/web.py) both use it. Selenium is imported only when a browser is started.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from quorate.testbed.webdb_drive import wait_until

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
GROUP = "haclient"
PAM_FILE = Path("/etc/pam.d/quorate-web")
PAM_SOURCE = Path(__file__).resolve().parents[3] / "packaging" / "pam.d" / "quorate-web"
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
        wait_until("chromedriver answering in the client namespace", driver_ready, 20)
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


def console_answers(tb: Any, client: str, base: str) -> Callable[[], bool]:
    probe = (
        "import ssl, urllib.request as u, sys\n"
        f"u.urlopen('{base}/login', context=ssl._create_unverified_context(), timeout=2)\n"
    )

    def answers() -> bool:
        return bool(tb.client_exec(client, [sys.executable, "-c", probe], timeout=10).returncode == 0)

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
