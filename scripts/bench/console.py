#!/usr/bin/env python3
"""Console benchmark under `wrangler dev`, in Debian's headless Chromium (Selenium):

- the bytes of the first load of the sign-in page (the page, its script and stylesheet,
  gzipped as they travel), against the 150 KiB budget;
- the time to the first rendered dashboard (usage chart drawn) of a signed-in tenant admin,
  from navigation start, next to the time of the API calls that page makes (refresh,
  /v1/auth/me, /v1/tenant, /v1/settings, /v1/usage, from the browser's Resource Timing):
  what the console itself adds is the difference.

Run it through `scripts/bench.sh console` (it installs Debian's chromium and
chromium-driver if they are missing)."""
import gzip
import pathlib
import re
import statistics
import sys
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
from harness import Gateway  # noqa: E402
from test_auth import token_in  # noqa: E402
from test_console import PASSWORD, browser  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

LOADS = 15


def first_load_bytes(url):
    with urllib.request.urlopen(f"{url}/") as response:
        page = response.read()
    total = len(gzip.compress(page, 9))
    for path in re.findall(r'(?:src|href)="(/[^"]+)"', page.decode()):
        with urllib.request.urlopen(f"{url}{path}") as response:
            total += len(gzip.compress(response.read(), 9))
    return total


def main():
    gateway = Gateway().start()
    driver = None
    try:
        tenant = gateway.create_tenant("bench-console", plan="professional")
        email = "admin@bench-console.example"
        r = gateway.request("POST", "/v1/invitations", {"email": email, "role": "admin"}, token=tenant["owner_api_key"])
        assert r.status == 201, r
        message = gateway.sql(f"SELECT message FROM outbound_messages WHERE recipient = '{email}'")[0]["message"]
        r = gateway.request("POST", "/v1/auth/accept-invitation", {"token": token_in(message, "inv_"), "password": PASSWORD})
        assert r.status == 200, r
        size = first_load_bytes(gateway.url)
        driver = browser()
        driver.get(f"{gateway.url}/#/sign-in")
        form = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, "form#sign-in"))
        form.find_element(By.NAME, "email").send_keys(email)
        form.find_element(By.NAME, "password").send_keys(PASSWORD)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.chart"))
        rendered, api = [], []
        for _ in range(LOADS):
            driver.get(f"{gateway.url}/#/dashboard")
            driver.refresh()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.chart"))
            # The console marks the chart's first drawing (User Timing); the API calls are the
            # page's Resource Timing entries under /v1/.
            timing = driver.execute_script("""
                const chart = performance.getEntriesByName('tenantry:chart')[0].startTime;
                const calls = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/'));
                return {chart, api: calls.reduce((sum, e) => sum + e.duration, 0), count: calls.length};""")
            rendered.append(timing["chart"])
            api.append(timing["api"])
        median_rendered, median_api = statistics.median(rendered), statistics.median(api)
        print("Console under wrangler dev, headless Chromium 156 (Selenium), one signed-in tenant admin")
        print(f"  first load of the sign-in page: {size:,} bytes gzipped ({size / 1024:.1f} KiB; budget 150 KiB)")
        print(f"  time to the first rendered dashboard, median of {LOADS}: {median_rendered:.0f} ms from navigation start")
        print(f"  its API calls (refresh, me, tenant, settings, usage; sequential), median sum: {median_api:.0f} ms")
        print(f"  the console's own share: {median_rendered - median_api:.0f} ms "
              f"({median_api / median_rendered:.0%} of the time is the API)")
    finally:
        if driver:
            driver.quit()
        gateway.stop()


if __name__ == "__main__":
    main()
