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
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import QUORATE, wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)

from quorate.testbed import article
from quorate.testbed.article import Timings, write_service_files
from quorate.testbed.browser import (
    ROW,
    WEB_PORT,
    attribute,
    browser_on_client,
    browser_problems,
    console_answers,
    console_user,
    log_in,
    mark_page,
    post_without_session,
    same_page,
    screenshot,
    until,
)
from quorate.testbed.power import start_power_switch

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
SECRET = "quorate-e2e-web"
def cluster_conf(tmp_path: Path, device: str) -> Path:
    init = write_service_files(tmp_path, period=2)
    text = article.testbed_conf(device, init, fence_secret=SECRET, qdisk=False, timings=Timings(token_ms=5000))
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    return conf


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
