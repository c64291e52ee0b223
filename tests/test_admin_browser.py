"""The mesh admin's page in a real headless Chromium, driven by Selenium (issue 12).

A mesh of two host processes with two procs each and an actor on every proc; the page is
opened at the URL the admin gives (the token in the fragment), waits for the tree, a proc is
clicked and its details checked, then the proc is killed and both the tree and the detail
pane show it Failed after a refresh. A screenshot is saved under the directory the test
prints (``MESHTRIO_TEST_ARTIFACTS``, default ``test-artifacts/`` in the repository; ignored
by git).

Needs the OS packages ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) and the ``selenium`` package: without them the test is skipped,
saying which is missing. Selenium is blocking, so its calls run in a worker thread while the
admin serves from this Trio run; waits are Selenium's waits on the page's own state
(``data-*`` attributes the page sets), bounded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

import meshtrio
from meshtrio import Actor, endpoint, open_host_mesh_processes
from meshtrio.testing import no_leaked_processes

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LIMIT = 90
"""Seconds the test may take at most (real clock; Chromium starts in a few seconds)."""
WAIT = 20
"""Seconds Selenium waits for one page state."""

ARTIFACTS = Path(
    os.environ.get(
        "MESHTRIO_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"
    )
)


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not os.path.exists(CHROMEDRIVER):
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "the selenium package is missing (pip install 'meshtrio[tests]')"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.skipif(_missing() is not None, reason=f"browser test: {_missing()}"),
]


class Pid(Actor):
    @endpoint
    def pid(self) -> int:
        return os.getpid()


def open_chromium(profile: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page replaces the tree on every refresh: an element found a moment ago may be gone.
    wait = WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, message=f"page never showed {what}")


def node(driver: Any, ref: str) -> Any:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'.node[data-ref="{ref}"]')
    return found[0] if found else None


def detail_status(driver: Any, ref: str) -> str | None:
    from selenium.webdriver.common.by import By

    refs = driver.find_elements(By.ID, "detail-ref")
    if not refs or refs[0].text != ref:
        return None
    status = driver.find_elements(By.ID, "detail-status")
    return status[0].get_attribute("data-status") if status else None


async def test_page_shows_the_tree_details_and_a_killed_proc() -> None:
    """The page shows the tree, a clicked proc's details, and the proc Failed once killed."""
    await trio.to_thread.run_sync(lambda: ARTIFACTS.mkdir(parents=True, exist_ok=True))
    print(f"browser test artifacts: {ARTIFACTS}")
    with (
        no_leaked_processes(),
        trio.fail_after(LIMIT),
        tempfile.TemporaryDirectory(prefix="meshtrio-chromium-") as profile,
    ):
        async with open_host_mesh_processes(2) as hosts:
            procs = await hosts.spawn("workers", {"gpus": 2}, on_failure="log", logs=None)
            actors = await procs.spawn("pids", Pid)
            victim = procs.procs[1]
            ref = f"proc:{victim.proc_id}"
            pid = list((await actors.pid.call()).values())[1]
            async with meshtrio.serve_admin(hosts) as admin:
                driver = await trio.to_thread.run_sync(open_chromium, profile)
                try:
                    await trio.to_thread.run_sync(
                        _look_click_check, driver, admin.page_url, admin.token, ref, pid
                    )
                    os.kill(pid, signal.SIGKILL)
                    await trio.to_thread.run_sync(_see_failed, driver, ref)
                finally:
                    with contextlib.suppress(Exception):
                        shot = ARTIFACTS / "admin-page.png"
                        await trio.to_thread.run_sync(driver.save_screenshot, str(shot))
                        print(f"screenshot: {shot}")
                    await trio.to_thread.run_sync(driver.quit)


def _look_click_check(driver: Any, url: str, token: str, ref: str, pid: int) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_for(
        driver,
        lambda d: d.find_element(By.ID, "tree").get_attribute("data-loaded") == "true",
        "the tree",
    )
    assert token not in driver.current_url, "the token is taken out of the address bar"
    procs = driver.find_elements(By.CSS_SELECTOR, '.node[data-kind="proc"]')
    assert len(procs) == 4, f"4 procs in the tree, saw {len(procs)}"
    actors = driver.find_elements(By.CSS_SELECTOR, '.node[data-kind="actor"]')
    assert len(actors) == 4, "an actor under every proc"
    hosts = driver.find_elements(By.CSS_SELECTOR, '.node[data-kind="host"]')
    assert [h.get_attribute("data-status") for h in hosts] == ["ok", "ok"]
    assert node(driver, ref).get_attribute("data-status") == "Running"
    wait_for(driver, lambda d: node(d, ref).click() or True, "the proc, clickable")
    wait_for(driver, lambda d: detail_status(d, ref) == "Running", "the proc's details")
    pid_cell = driver.find_element(By.CSS_SELECTOR, '#detail td[data-field="pid"]')
    assert pid_cell.text == str(pid), "the detail pane shows the proc's pid"


def _see_failed(driver: Any, ref: str) -> None:
    wait_for(
        driver,
        lambda d: (detail_status(d, ref) or "").startswith("Failed"),
        "the killed proc as Failed in the detail pane",
    )
    wait_for(
        driver,
        lambda d: (
            (node(d, ref) is not None)
            and node(d, ref).get_attribute("data-status").startswith("Failed")
        ),
        "the killed proc as Failed in the tree",
    )
