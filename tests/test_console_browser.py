"""The console in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
Selenium) against gunicorn + an RQ worker + Redis, started as in ``tests/test_service_e2e.py``.

Log in, trigger a report from the form and watch it complete, open the report,
sort and search, open a store page, check the charts are drawn and the incident
rows are :func:`storemon.incidents` of that store. Each page is screenshotted into
``tmp_path``; with ``STOREMON_UPDATE_SCREENSHOTS=1`` the copies under
``docs/screenshots/`` are replaced. Without Chromium the test fails (never skips).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

import storemon
from conftest import TOKENS
from test_service_e2e import Service

pytestmark = [pytest.mark.service, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = "headless Chromium not found: apt-get install -y chromium chromium-driver (see .ci/run)"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WAIT = 30


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            pytest.fail(INSTALL_HINT)
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
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=DriverService(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    )
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def console(tmp_path: Path, redis_url: str) -> Iterator[Service]:
    service = Service(
        tmp_path / "service",
        redis_url,
        STOREMON_DATA_DIR=str(storemon.sample_dir()),
        STOREMON_SECRET_KEY="browser-test-secret-" + "k" * 32,
    )
    service.tmp_path.mkdir(parents=True)
    try:
        service.start_web()
        service.start_worker()
        service.wait_healthy()
        yield service
    finally:
        service.stop()


def shoot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """Screenshot the whole page into ``tmp_path`` (and docs/screenshots/ when asked)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 800), 3000))
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    if os.environ.get("STOREMON_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
    driver.set_window_size(1400, 1000)
    return path


def no_console_errors(driver: WebDriver) -> None:
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe


def drawn(driver: WebDriver, chart_id: str) -> None:
    """The chart's Plotly SVG exists with a non-zero size."""
    svg = WebDriverWait(driver, WAIT).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#{chart_id} svg.main-svg"))
    )
    size = svg.size
    assert size["width"] > 100 and size["height"] > 100, size


def test_console_in_a_real_browser(browser: WebDriver, console: Service, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, WAIT)
    browser.get(console.base + "/")
    assert "/login" in browser.current_url
    browser.find_element(By.ID, "token").send_keys(TOKENS["write"])
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(ec.presence_of_element_located((By.ID, "trigger-form")))

    # Trigger from the form; the page follows the job through /api/get_report with the session cookie.
    browser.find_element(By.CSS_SELECTOR, "#trigger-form button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "progress-status"), "Complete"))
    assert browser.find_element(By.ID, "progress-done").is_displayed()
    report_id = browser.current_url.split("watch=")[1]
    record = json.loads((console.reports_dir / f"{report_id}.json").read_text())
    assert record["status"] == "Complete" and record["rows"] == 50

    # The detail pages read the files the real job wrote (named in its record).
    assert set(record["files"]) >= {"parquet", "timeline", "incidents", "daily", "polls", "stores", "hours", "special"}
    inputs = storemon.load_dir(storemon.sample_dir())
    browser.get(console.base + "/")
    wait.until(ec.text_to_be_present_in_element((By.ID, "fleet-stores"), "50"))
    drawn(browser, "fleet-daily")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#top-downtime tbody tr")) == 20
    no_console_errors(browser)
    shoot(browser, tmp_path, "fleet")

    # The report: sort by week downtime, descending; then search.
    browser.get(f"{console.base}/reports/{report_id}")
    browser.find_element(By.ID, "sort-downtime_last_week").click()
    browser.find_element(By.ID, "sort-downtime_last_week").click()
    assert "order=desc" in browser.current_url
    first = browser.find_element(By.CSS_SELECTOR, "#stores tbody td.store-id a").text
    assert first == record["fleet"]["top_downtime"][0]["store_id"]
    shoot(browser, tmp_path, "report")
    needle = first[:6]
    search = browser.find_element(By.ID, "search")
    search.clear()
    search.send_keys(needle)
    browser.find_element(By.CSS_SELECTOR, "#search-form button").click()
    wait.until(ec.url_contains("q="))
    shown = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#stores tbody td.store-id a")]
    assert shown and all(needle in sid for sid in shown) and first in shown

    # The store page (of the store with the most incidents, found by searching its id and clicking it):
    # charts drawn, incidents exactly as the library computes them.
    now = storemon.parse_instant(record["now"], "now")
    everyone = storemon.incidents(inputs.polls, inputs.hours, inputs.timezones, now, special=inputs.special)
    busiest = everyone.group_by("store_id").len().sort(["len", "store_id"], descending=[True, False])["store_id"][0]
    search = browser.find_element(By.ID, "search")
    search.clear()
    search.send_keys(busiest)
    browser.find_element(By.CSS_SELECTOR, "#search-form button").click()
    # The URL already holds "q=" from the search before: wait for this search's page, not just any.
    wait.until(ec.url_contains(f"q={busiest}"))
    wait.until(ec.element_to_be_clickable((By.LINK_TEXT, busiest))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "store-id"), busiest))
    drawn(browser, "timeline-chart")
    drawn(browser, "daily-chart")
    expected = storemon.incidents(
        inputs.polls, inputs.hours, inputs.timezones, now, stores=[busiest], special=inputs.special
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#incidents tr.incident")
    assert len(rows) == expected.height > 1
    for row, incident in zip(rows, expected.iter_rows(named=True), strict=True):
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        assert cells[2].startswith(incident["start"].strftime("%Y-%m-%d %H:%M:%S"))
        assert cells[3].startswith(incident["end"].strftime("%Y-%m-%d %H:%M:%S"))
        assert cells[4] == f"{incident['minutes']:.2f}"
    no_console_errors(browser)
    shoot(browser, tmp_path, "store")

    # API docs from the locally served Swagger UI.
    browser.get(console.base + "/api/docs")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#swagger-ui .opblock")))
    no_console_errors(browser)

    # Logging out ends the session.
    browser.get(console.base + "/")
    browser.find_element(By.ID, "logout").click()
    wait.until(ec.url_contains("/login"))
    time.sleep(0.1)
    browser.get(f"{console.base}/reports/{report_id}")
    assert "/login" in browser.current_url
