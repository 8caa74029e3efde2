#!/usr/bin/env python3
"""Makes one change on the pacsgate admin's Configuration page in headless Chromium (Debian's chromium +
chromium-driver, Selenium from PyPI), the way an operator does: fill the form, review the diff, apply.

Used by the configuration browser test (Tests/PacsgateAdminTests/ConfigurationBrowserTests.swift):

    python3 scripts/admin_config_browser.py --url http://127.0.0.1:9443 --user admin --password PW \\
        --add DICOM:DICOM3:127.0.0.1:4103:100 --expect-diff '- { label: DICOM3'
    ... --weight DICOM/DICOM3:0      ... --remove DICOM/DICOM3      ... --rollback pacsgate-20261207T101500Z.yaml

Steps: log in, open /config, make the change, check the review shows the diff lines asked for (--expect-diff, a
text an added or removed line must contain), click "Apply and reload", check the notice says it was applied, and
print the servers the page then shows as one line `PAGE {"SERVICE": [{"label":…, "address":…, "weight":…,
"backup":…}]}` and the backups as `BACKUPS [names]`. Exits 0 on success, 1 with the reason on the first failure,
2 when Chromium or Selenium is missing.
"""
import argparse
import json

from admin_browser import fail, start_chromium, step


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--add", help="SERVICE:LABEL:HOST:PORT:WEIGHT")
    action.add_argument("--weight", help="SERVICE/SERVER:WEIGHT")
    action.add_argument("--remove", help="SERVICE/SERVER")
    action.add_argument("--rollback", help="a backup's name")
    parser.add_argument("--expect-diff", action="append", default=[], help="text an added or removed line must contain")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()

    driver = start_chromium(1400, 1000)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    wait = WebDriverWait(driver, args.timeout)
    try:
        base = args.url.rstrip("/")
        driver.get(base + "/login")
        wait.until(lambda d: d.find_elements(By.NAME, "password"))
        driver.find_element(By.NAME, "user").send_keys(args.user)
        driver.find_element(By.NAME, "password").send_keys(args.password)
        driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tbody.service") or d.find_elements(By.CSS_SELECTOR, ".login .error"))
        if driver.find_elements(By.CSS_SELECTOR, ".login .error"):
            fail("login refused")
        step(f"logged in as {args.user}")
        # The Configuration page through the navigation, as an operator gets there.
        driver.find_element(By.CSS_SELECTOR, 'nav.sections a[href="/config"]').click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.config-intro"))
        step("opened the Configuration page")

        def section(service):
            found = driver.find_elements(By.CSS_SELECTOR, f'section.config-service[data-service="{service}"]')
            if not found:
                fail(f"service {service} is not on the Configuration page")
            return found[0]

        def row(service, server):
            found = section(service).find_elements(By.CSS_SELECTOR, f'tr.config-server[data-server="{server}"]')
            if not found:
                fail(f"server {service}/{server} is not on the Configuration page")
            return found[0]

        def fill(element, value):
            element.clear()
            element.send_keys(value)

        if args.add:
            service, label, host, port, weight = args.add.split(":")
            new = section(service).find_element(By.CSS_SELECTOR, "tr.config-add-server")
            fill(new.find_element(By.NAME, "label"), label)
            fill(new.find_element(By.NAME, "address"), f"{host}:{port}")
            fill(new.find_element(By.NAME, "weight"), weight)
            new.find_element(By.CSS_SELECTOR, 'button[data-action="add"]').click()
            step(f"asked to add {service}/{label} at {host}:{port} with weight {weight}")
        elif args.weight:
            target, _, weight = args.weight.partition(":")
            service, _, server = target.partition("/")
            line = row(service, server)
            fill(line.find_element(By.NAME, "weight"), weight)
            line.find_element(By.CSS_SELECTOR, 'button[data-action="update"]').click()
            step(f"asked to change the weight of {service}/{server} to {weight}")
        elif args.remove:
            service, _, server = args.remove.partition("/")
            row(service, server).find_element(By.CSS_SELECTOR, 'button[data-action="remove"]').click()
            step(f"asked to remove {service}/{server}")
        elif args.rollback:
            found = driver.find_elements(By.CSS_SELECTOR, f'tr.config-backup[data-backup="{args.rollback}"]')
            if not found:
                fail(f"backup {args.rollback} is not listed")
            found[0].find_element(By.CSS_SELECTOR, 'button[data-action="rollback"]').click()
            step(f"asked to roll back to {args.rollback}")

        if args.add or args.weight or args.remove or args.rollback:
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.config-preview"))
            review = driver.find_element(By.CSS_SELECTOR, "section.config-preview")
            changed = [e.text for e in review.find_elements(By.CSS_SELECTOR, ".diff-added, .diff-removed")]
            for line in changed:
                step(f"diff: {line}")
            for expected in args.expect_diff:
                if not any(expected in line for line in changed):
                    fail(f"the review does not show a changed line with '{expected}': {review.text}")
            apply = review.find_elements(By.CSS_SELECTOR, 'button[data-action="apply"]')
            if not apply:
                fail(f"the change cannot be applied: {review.text}")
            apply[0].click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.config-intro"))
            toast = driver.find_element(By.ID, "toast")
            notice = toast.get_attribute("textContent")
            if "error" in (toast.get_attribute("class") or "") or "applied" not in notice:
                fail(f"the change was not applied: {notice}")
            step(f"notice: {notice}")

        shown = {}
        for block in driver.find_elements(By.CSS_SELECTOR, "section.config-service"):
            shown[block.get_attribute("data-service")] = [
                {"label": r.get_attribute("data-server"), "address": r.get_attribute("data-address"),
                 "weight": r.get_attribute("data-weight"), "backup": r.get_attribute("data-backup") == "true"}
                for r in block.find_elements(By.CSS_SELECTOR, "tr.config-server")]
        print("PAGE " + json.dumps(shown), flush=True)
        backups = [r.get_attribute("data-backup") for r in driver.find_elements(By.CSS_SELECTOR, "tr.config-backup")]
        print("BACKUPS " + json.dumps(backups), flush=True)
    finally:
        driver.quit()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
