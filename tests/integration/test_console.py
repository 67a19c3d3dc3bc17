"""The web console in a real headless Chromium (Debian's): toggle a fault from the page and see
the state change in the control API. Leaves screenshots under test-output/console/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from faultline.faults.catalogue import CATALOGUE
from labkit.api import running_api
from labkit.servers import Redis
from tests.support.browser import headless_chromium

pytestmark = pytest.mark.slow
TOKEN = "console-test-token"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "console"


@pytest.fixture(scope="module")
def control_url(redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "REDIS_URL": redis_server.url,
        "FAULTLINE_ADMIN_TOKEN": TOKEN,
        "OTEL_SDK_DISABLED": "true",
    }
    with running_api(env, tmp_path_factory.mktemp("console") / "control.log", "control") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with headless_chromium() as chrome:
        yield chrome


def fault_state(control_url: str, name: str) -> dict[str, object]:
    faults = httpx.get(f"{control_url}/api/faults").json()["faults"]
    return dict(next(f for f in faults if f["name"] == name))


def wait_for_api(
    control_url: str, name: str, active: bool, timeout: float = 5
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while (state := fault_state(control_url, name))["active"] is not active:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never became active={active}")
        time.sleep(0.1)
    return state


def test_console_page_has_security_headers_and_no_external_resources(control_url: str) -> None:
    page = httpx.get(control_url)
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    # Nothing is loaded from elsewhere: no external src/href, imports or fetches (the SVG
    # namespace URI is an identifier, not a resource).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)
    assert not re.search(r"""(@import|url\(|fetch\()\s*["']?(https?:)?//""", page.text)


def test_toggle_a_fault_from_the_page(control_url: str, browser: webdriver.Chrome) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 10)
    browser.get(control_url)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.fault")) == len(CATALOGUE))

    token = browser.find_element(By.ID, "token")
    token.send_keys(TOKEN, Keys.TAB)
    card = browser.find_element(By.CSS_SELECTOR, 'section[data-fault="latency"]')
    delay = card.find_element(By.ID, "latency-delay_ms")
    delay.clear()
    delay.send_keys("123")
    card.find_element(By.CSS_SELECTOR, 'button[data-action="on"]').click()

    state = wait_for_api(control_url, "latency", active=True)
    assert state["params"]["delay_ms"] == 123  # type: ignore[index]
    # Where it acts: every replica unless one is chosen (no Prometheus here: no replica to offer).
    assert state["params"]["replica"] is None  # type: ignore[index]
    replica = browser.find_element(By.ID, "latency-replica")
    assert replica.tag_name == "select" and replica.get_attribute("value") == ""
    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.CSS_SELECTOR, 'section[data-fault="latency"] .state'), "ON"
        )
    )
    browser.save_screenshot(str(OUTPUT / "latency-on.png"))

    browser.find_element(
        By.CSS_SELECTOR, 'section[data-fault="latency"] button[data-action="off"]'
    ).click()
    wait_for_api(control_url, "latency", active=False)
    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.CSS_SELECTOR, 'section[data-fault="latency"] .state'), "off"
        )
    )


def test_a_wrong_token_is_refused_and_said_so(control_url: str, browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 10)
    browser.get(control_url)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'section[data-fault="errors"]'))
    token = browser.find_element(By.ID, "token")
    token.clear()
    token.send_keys("not-the-token", Keys.TAB)
    browser.find_element(
        By.CSS_SELECTOR, 'section[data-fault="errors"] button[data-action="on"]'
    ).click()
    wait.until(
        expected_conditions.text_to_be_present_in_element((By.ID, "message"), "bearer token")
    )
    browser.save_screenshot(str(OUTPUT / "wrong-token.png"))
    assert fault_state(control_url, "errors")["active"] is False
