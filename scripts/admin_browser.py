#!/usr/bin/env python3
"""Drives the pacsgate admin page in headless Chromium (Debian's chromium + chromium-driver, Selenium from PyPI).

Used by the admin browser test (Tests/PacsgateAdminTests/BrowserTests.swift) and to take the README screenshot:

    python3 scripts/admin_browser.py --url http://127.0.0.1:9443 --user admin --password PW \
        --expect DICOM:DICOM1,DICOM2 --expect HL7:HL71,HL72 --drain DICOM/DICOM1 --screenshot overview.png

Steps: log in through the form, check every expected service and server row is on the overview, optionally click
Drain on one server and wait until the page shows it drained, optionally save a screenshot. Prints one line per
step; exits 0 on success, 1 with the reason on the first failure, 2 when Chromium or Selenium is missing.
"""
import argparse
import shutil
import sys
import time


def fail(message, code=1):
    print(f"FAIL: {message}", flush=True)
    sys.exit(code)


def step(message):
    print(f"ok: {message}", flush=True)


def start_chromium(width, height):
    """Headless Chromium under Selenium; exits 2 when either is missing. Shared with admin_config_browser.py."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        fail("Selenium is not installed: pip install selenium", 2)
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    for path in (browser, driver_path):
        if not shutil.which(path):
            fail(f"{path} not found: apt-get install chromium chromium-driver", 2)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--force-device-scale-factor=1",
                 "--ignore-certificate-errors", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="admin base URL, e.g. http://127.0.0.1:9443")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--expect", action="append", default=[], help="SERVICE:SERVER1,SERVER2 that must be shown")
    parser.add_argument("--expect-text", action="append", default=[], help="text that must appear on the overview")
    parser.add_argument("--drain", help="SERVICE/SERVER to drain by clicking its Drain button")
    parser.add_argument("--screenshot", help="PNG file for a screenshot of the overview")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()

    driver = start_chromium(args.width, args.height)
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    # The overview refreshes itself every few seconds, replacing its rows: an element found just before a refresh
    # goes stale, so waits ignore that and actions are retried.
    wait = WebDriverWait(driver, args.timeout, ignored_exceptions=(StaleElementReferenceException,))

    def retry(action):
        for attempt in range(5):
            try:
                return action()
            except StaleElementReferenceException:
                if attempt == 4:
                    raise
                time.sleep(0.2)
    try:
        driver.get(args.url.rstrip("/") + "/")
        wait.until(lambda d: d.find_elements(By.NAME, "password"))
        step(f"redirected to the login form at {driver.current_url}")
        driver.find_element(By.NAME, "user").send_keys(args.user)
        driver.find_element(By.NAME, "password").send_keys(args.password)
        driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tbody.service") or d.find_elements(By.CSS_SELECTOR, ".login .error"))
        errors = driver.find_elements(By.CSS_SELECTOR, ".login .error")
        if errors:
            fail(f"login refused: {errors[0].text}")
        step(f"logged in as {args.user}")
        cookies = {c["name"]: c for c in driver.get_cookies()}
        session = [c for name, c in cookies.items() if name.endswith("pacsgate-session")]
        if not session or not session[0].get("httpOnly") or session[0].get("sameSite") != "Strict":
            fail(f"session cookie missing or not HttpOnly/SameSite=Strict: {session}")
        step("session cookie is HttpOnly and SameSite=Strict")

        def servers_of(service):
            body = driver.find_elements(By.CSS_SELECTOR, f'tbody.service[data-service="{service}"]')
            if not body:
                return None
            return [row.get_attribute("data-server") for row in body[0].find_elements(By.CSS_SELECTOR, "tr.server-row")]

        for expectation in args.expect:
            service, _, servers = expectation.partition(":")
            shown = retry(lambda: servers_of(service))
            if shown is None:
                fail(f"service {service} is not on the overview")
            for server in filter(None, servers.split(",")):
                if server not in shown:
                    fail(f"server {server} of {service} is not on the overview (shown: {shown})")
            step(f"service {service} with servers {', '.join(shown)}")

        for text in args.expect_text:
            if text not in retry(lambda: driver.find_element(By.ID, "overview").text):
                fail(f"'{text}' is not on the overview")
            step(f"the overview shows '{text}'")

        if args.drain:
            service, _, server = args.drain.partition("/")
            row_selector = f'tbody.service[data-service="{service}"] tr.server-row[data-server="{server}"]'
            def click_drain():
                rows = driver.find_elements(By.CSS_SELECTOR, row_selector)
                if not rows:
                    fail(f"no row for {service}/{server}")
                state = rows[0].get_attribute("data-state")
                rows[0].find_element(By.CSS_SELECTOR, 'button[data-action="drain"]').click()
                return state

            before = retry(click_drain)
            step(f"clicked Drain on {service}/{server} (was {before})")
            # The page refreshes in place; wait for the row to come back drained.
            wait.until(lambda d: any(r.get_attribute("data-state") == "drain" for r in d.find_elements(By.CSS_SELECTOR, row_selector)))
            badge = retry(lambda: driver.find_element(By.CSS_SELECTOR, row_selector + " .state").text)
            step(f"{service}/{server} now shows state '{badge}'")
            notice = retry(lambda: driver.find_element(By.ID, "toast").text)
            if notice:
                step(f"notice: {notice}")

        if args.screenshot:
            # Let the notice fade so it does not cover the page.
            WebDriverWait(driver, 10).until(lambda d: not d.find_element(By.ID, "toast").is_displayed())
            # Capture the whole page, not only the window.
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": args.width, "height": min(height, 4000), "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.5)
            driver.save_screenshot(args.screenshot)
            step(f"screenshot saved to {args.screenshot}")
    finally:
        driver.quit()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
