"""The console in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver, against the gateway under `wrangler dev` (which serves the console
as static assets). A tenant admin signs in, creates a client, invites a member whose
invitation (read from the outbox) is accepted in a second browser, creates a mail domain
and a mailbox, sees the usage chart move; an employee's console offers no admin page and a
forced admin call is 403; tenant B's session never shows A's data; a superadmin creates
and suspends a tenant. Screenshots of each page go to $CONSOLE_ARTIFACTS (default
/tmp/tenantry-console-artifacts), never into the repository."""
import gzip
import json
import os
import pathlib
import re
import subprocess
import time
import unittest
import urllib.request

from harness import ROOT, TwoTenants
from test_auth import token_in

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select, WebDriverWait

PASSWORD = "correct horse battery staple"
ARTIFACTS = pathlib.Path(os.environ.get("CONSOLE_ARTIFACTS", "/tmp/tenantry-console-artifacts"))


def browser(width=1280, height=900):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--lang=en-US"):
        options.add_argument(argument)
    # The driver is Debian's: Selenium must not look for (or download) another one.
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    return driver


class ConsoleTest(TwoTenants):
    PLAN = "professional"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        cls.admin_a = f"admin@{cls.slug_a}.console.example"
        cls.admin_b = f"admin@{cls.slug_b}.console.example"
        cls.accept_by_api(cls.admin_a, "admin", cls.key_a)
        cls.accept_by_api(cls.admin_b, "admin", cls.key_b)
        cls.operator = f"operator@{cls.slug_a}.console.example"
        subprocess.run([str(ROOT / "scripts" / "create-superadmin.py"), cls.operator, "--local", str(cls.gateway.state)],
                       env={**os.environ, **cls.gateway.env(), "TENANTRY_PASSWORD": PASSWORD}, check=True, capture_output=True,
                       cwd=ROOT, timeout=120)
        cls.drivers = []

    @classmethod
    def tearDownClass(cls):
        for driver in cls.drivers:
            driver.quit()

    @classmethod
    def accept_by_api(cls, email, role, key):
        r = cls.gateway.request("POST", "/v1/invitations", {"email": email, "role": role}, token=key)
        assert r.status == 201, r
        token = cls.invitation_token(email)
        r = cls.gateway.request("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD})
        assert r.status == 200, r

    @classmethod
    def invitation_token(cls, email):
        rows = cls.gateway.sql(f"SELECT message FROM outbound_messages WHERE recipient = '{email}' ORDER BY created_at DESC, rowid DESC LIMIT 1")
        assert rows, f"no invitation to {email}"
        return token_in(rows[0]["message"], "inv_")

    # --- browser helpers ---------------------------------------------------------------

    def new_browser(self, **size):
        driver = browser(**size)
        self.drivers.append(driver)
        return driver

    def wait(self, driver, condition, timeout=20, what="the page"):
        try:
            # A list drawn again meanwhile (a search typed, a filter applied) is looked at again.
            return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition(d))
        except Exception as error:
            self.shot(driver, "failure")
            raise AssertionError(f"timed out waiting for {what}: {driver.current_url}\n{driver.find_element(By.TAG_NAME, 'body').text[:1500]}") from error

    def text(self, driver):
        return driver.find_element(By.TAG_NAME, "body").text

    def shot(self, driver, name):
        driver.save_screenshot(str(ARTIFACTS / f"{self._testMethodName}-{name}.png"))

    def go(self, driver, route):
        driver.get(f"{self.gateway.url}/#{route}")

    def sign_in(self, email, password=PASSWORD, driver=None):
        driver = driver or self.new_browser()
        self.go(driver, "/sign-in")
        form = self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "form#sign-in"), what="the sign-in form")[0]
        self.fill(form, {"email": email, "password": password})
        self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "nav.side"), what="the console after sign-in")
        return driver

    def fill(self, form, values, submit=True):
        for name, value in values.items():
            field = form.find_element(By.NAME, name)
            if field.tag_name == "select":
                Select(field).select_by_value(value)
            else:
                field.clear()
                field.send_keys(value)
        if submit:
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def form(self, driver, form_id):
        return self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"form#{form_id}"), what=f"form {form_id}")[0]

    def nav_links(self, driver):
        return [a.get_attribute("href").split("#", 1)[1] for a in driver.find_elements(By.CSS_SELECTOR, "nav.side a")]

    def api_from_page(self, driver, method, path):
        """A call made by the page's own origin with its session (the refresh cookie): what a
        person could force from the browser's console."""
        return driver.execute_async_script("""
            const [method, path, done] = arguments;
            fetch('/v1/auth/refresh', {method: 'POST', credentials: 'same-origin'})
              .then((r) => r.json())
              .then((s) => fetch(path, {method, headers: {authorization: 'Bearer ' + s.access_token}}))
              .then(async (r) => done({status: r.status, body: await r.text()}))
              .catch((e) => done({status: 0, body: String(e)}));
        """, method, path)

    # --- tests -------------------------------------------------------------------------

    def test_1_the_console_is_served_with_a_strict_policy_inside_its_budget(self):
        def get(path):
            with urllib.request.urlopen(f"{self.gateway.url}{path}", timeout=20) as response:
                return response.headers, response.read()
        headers, page = get("/")
        policy = headers["content-security-policy"]
        for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
            self.assertIn(directive, policy)
        self.assertNotIn("unsafe-inline", policy)
        self.assertNotRegex(page.decode(), r"<script(?![^>]*\bsrc=)", "no inline script")
        total = 0
        for path in ("/", *re.findall(r'(?:src|href)="(/[^"]+)"', page.decode())):
            headers, body = get(path)
            self.assertIn("content-security-policy", {k.lower() for k in headers.keys()}, path)
            total += len(gzip.compress(body, 9))
        self.assertLess(total, 150 * 1024, f"first load {total} bytes gzipped")
        (ARTIFACTS / "first-load-bytes.txt").write_text(f"{total}\n")
        # The API still reaches the Worker; any other path is the console's page.
        r = self.req("GET", "/v1/tenant")
        self.assertProblem(r, 401, "unauthenticated")
        _, other = get("/some/deep/link")
        self.assertEqual(other, page)

    def test_2_an_admin_signs_in_and_creates_a_client(self):
        driver = self.sign_in(self.admin_a)
        self.wait(driver, lambda d: "Usage against" in self.text(d), what="the dashboard")
        self.shot(driver, "dashboard")
        links = self.nav_links(driver)
        for route in ("/dashboard", "/clients", "/members", "/api-keys", "/audit", "/settings", "/mail"):
            self.assertIn(route, links)
        self.assertNotIn("/admin/tenants", links, "no platform page for a tenant admin")
        self.go(driver, "/clients")
        self.fill(self.form(driver, "new-client"), {"name": "Claire Browser", "email": "claire@patients.example"})
        self.wait(driver, lambda d: "Claire Browser" in self.text(d), what="the new client in the table")
        self.shot(driver, "clients")
        names = [c["name"] for c in self.req("GET", "/v1/clients", token=self.key_a).json()["clients"]]
        self.assertIn("Claire Browser", names)

    def test_3_a_refused_form_keeps_what_was_typed_and_names_the_field(self):
        driver = self.sign_in(self.admin_a)
        self.go(driver, "/settings")
        form = self.form(driver, "branding")
        self.fill(form, {"primary_color": "red", "display_name": "Clinique Test"})
        error = self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#branding .field.invalid .field-error"), what="the field error")
        field = error[0].find_element(By.XPATH, "..").find_element(By.TAG_NAME, "input")
        self.assertEqual(field.get_attribute("name"), "primary_color")
        self.assertIn("#rrggbb", error[0].text)
        self.assertEqual(form.find_element(By.NAME, "display_name").get_attribute("value"), "Clinique Test", "kept")
        self.assertEqual(field.get_attribute("value"), "red", "kept")
        self.shot(driver, "settings-refused")
        self.assertNotIn("display_name", self.req("GET", "/v1/settings", token=self.key_a).json(), "nothing written")
        # A valid colour is applied to this tenant's console.
        self.fill(form, {"primary_color": "#0a7d45"})
        self.wait(driver, lambda d: d.execute_script(
            "return getComputedStyle(document.documentElement).getPropertyValue('--brand').trim()") == "#0a7d45",
            what="the tenant's colour")
        self.wait(driver, lambda d: "Clinique Test" in d.find_element(By.CSS_SELECTOR, "[data-testid=brand]").text, what="the display name")
        self.shot(driver, "settings-branded")

    def test_4_an_invitation_is_accepted_in_a_second_browser(self):
        admin = self.sign_in(self.admin_a)
        invitee = f"nurse@{self.slug_a}.console.example"
        self.go(admin, "/members")
        self.fill(self.form(admin, "invite"), {"email": invitee, "role": "employee"})
        self.wait(admin, lambda d: invitee in self.text(d), what="the pending invitation")
        self.shot(admin, "members")
        token = self.invitation_token(invitee)
        second = self.new_browser()
        self.go(second, f"/accept-invitation?token={token}")
        self.fill(self.form(second, "accept-invitation"), {"password": PASSWORD})
        self.wait(second, lambda d: d.find_elements(By.CSS_SELECTOR, "nav.side"), what="the invitee's console")
        self.shot(second, "invitee")
        members = self.req("GET", "/v1/members", token=self.key_a).json()["members"]
        self.assertIn((invitee, "employee"), [(m["email"], m["role"]) for m in members])
        admin.refresh()
        self.wait(admin, lambda d: invitee in self.text(d) and "employee" in self.text(d), what="the new member")

    def test_5_an_employee_sees_no_admin_page_and_a_forced_call_is_refused(self):
        employee = f"employee@{self.slug_a}.console.example"
        self.accept_by_api(employee, "employee", self.key_a)
        driver = self.sign_in(employee)
        links = self.nav_links(driver)
        self.assertIn("/clients", links)
        for route in ("/members", "/api-keys", "/audit", "/settings", "/roles", "/integrations", "/admin/tenants"):
            self.assertNotIn(route, links)
        self.go(driver, "/api-keys")
        self.wait(driver, lambda d: "#/api-keys" not in d.current_url, what="the redirect away from an admin page")
        self.shot(driver, "employee")
        forced = self.api_from_page(driver, "GET", "/v1/api-keys")
        self.assertEqual(forced["status"], 403, forced)
        self.assertEqual(json.loads(forced["body"])["code"], "forbidden")

    def test_6_mail_domain_and_mailbox(self):
        driver = self.sign_in(self.admin_a)
        domain = f"{self.slug_a}.console-mail.example"
        self.go(driver, "/mail")
        self.fill(self.form(driver, "new-domain"), {"domain": domain, "organization_name": "Clinique du Parc"})
        # A claimed domain is pending until its DNS record is seen: the list says so, and the
        # card above its mailboxes gives the record to publish, the very one the API answers.
        row = self.wait(driver, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#domain-list tbody tr")
                                           if r.find_element(By.TAG_NAME, "a").text == domain], what="the new domain in the list")[0]
        badge = row.find_element(By.CSS_SELECTOR, ".badge")
        self.assertEqual((badge.get_attribute("data-status"), badge.text), ("pending", "Pending"))
        card = self.wait(driver, lambda d: d.find_elements(By.ID, "domain-verification"), what="the verification card")[0]
        self.assertIn("until it is seen, the domain receives no mail", card.text)
        listed = [d for d in self.req("GET", "/v1/mail/domains", token=self.key_a).json()["domains"] if d["domain"] == domain]
        self.assertEqual(len(listed), 1, listed)
        self.assertEqual(listed[0]["status"], "pending")
        name = driver.find_element(By.ID, "verification-name").text
        value = driver.find_element(By.ID, "verification-value").text
        self.assertEqual(name, f"_tenantry-challenge.{domain}")
        self.assertTrue(value.startswith("tenantry-verification="), value)
        self.assertEqual((name, value), (listed[0]["verification"]["name"], listed[0]["verification"]["value"]))
        self.assertEqual(driver.find_element(By.ID, "verification-type").text, "TXT")
        self.assertEqual(driver.find_element(By.ID, "verification-record").text, listed[0]["verification"]["record"])
        self.shot(driver, "mail-pending")
        # "Check now" asks for a lookup and draws the list again; nothing publishes the record
        # here, so the domain stays pending.
        loads = int(driver.find_element(By.ID, "domain-list").get_attribute("data-loads"))
        check = driver.find_element(By.ID, "verification-check")
        self.assertEqual(check.get_attribute("aria-label"), f"Check now: {domain}")
        check.click()
        self.wait(driver, lambda d: int(d.find_element(By.ID, "domain-list").get_attribute("data-loads")) > loads,
                  what="the domain list drawn again")
        self.wait(driver, lambda d: d.find_elements(By.ID, "verification-asked"), what="the check asked for")
        row = [r for r in driver.find_elements(By.CSS_SELECTOR, "#domain-list tbody tr") if r.find_element(By.TAG_NAME, "a").text == domain][0]
        self.assertEqual(row.find_element(By.CSS_SELECTOR, ".badge").get_attribute("data-status"), "pending")
        self.assertTrue(driver.find_elements(By.ID, "domain-verification"), "still to prove")
        # Mailboxes can be prepared while the domain is pending.
        self.fill(self.form(driver, "new-mailbox"), {"address": f"accueil@{domain}"})
        self.wait(driver, lambda d: f"accueil@{domain}" in self.text(d), what="the new mailbox")
        self.shot(driver, "mail")
        mailboxes = self.req("GET", f"/v1/mail/domains/{domain}/mailboxes", token=self.key_a).json()["mailboxes"]
        self.assertEqual([m["address"] for m in mailboxes], [f"accueil@{domain}"])

    def test_7_the_usage_chart_moves_after_a_request(self):
        driver = self.sign_in(self.admin_a)
        selector = "ul.chart li:nth-child(3) .chart-value"

        def calls():
            self.go(driver, "/dashboard")
            driver.refresh()
            value = self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, selector), what="the API calls bar")[0]
            return int(value.get_attribute("data-used"))

        before = calls()
        for _ in range(3):
            self.req("GET", "/v1/tenant", token=self.key_a)
        deadline = time.time() + 60
        while calls() <= before + 2 and time.time() < deadline:
            time.sleep(2)
        self.assertGreater(calls(), before + 2)
        self.shot(driver, "usage-moved")

    def test_8_tenant_b_never_sees_a(self):
        self.req("POST", "/v1/clients", {"name": "Alpha Only Patient"}, token=self.key_a)
        driver = self.sign_in(self.admin_b)
        switcher = Select(driver.find_element(By.CSS_SELECTOR, "[data-testid=tenant-switcher]"))
        self.assertEqual([o.get_attribute("value") for o in switcher.options], [self.slug_b])
        for route in ("/dashboard", "/clients", "/members", "/audit", "/mail"):
            self.go(driver, route)
            driver.refresh()
            self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"), what=route)
            time.sleep(0.5)
            body = self.text(driver)
            for marker in ("Alpha Only Patient", self.admin_a, self.slug_a):
                self.assertNotIn(marker, body, route)
        forced = self.api_from_page(driver, "GET", f"/v1/t/{self.slug_a}/clients")
        self.assertEqual(forced["status"], 403, forced)

    def test_9_a_superadmin_creates_and_suspends_a_tenant(self):
        driver = self.sign_in(self.operator)
        self.go(driver, "/admin/tenants")
        slug = f"{self.slug_a[:20]}-made"
        self.fill(self.form(driver, "new-tenant"), {"slug": slug, "name": "Made In Browser", "billing_email": "billing@made.example",
                                                     "owner_email": "owner@made.example", "plan": "professional"})
        secret = self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".secret-value"), what="the owner key")[0].text
        self.assertTrue(secret.startswith("tk_"))
        self.assertEqual(self.req("GET", "/v1/tenant", token=secret).json()["slug"], slug)
        search = driver.find_element(By.ID, "tenant-search")
        search.send_keys(slug)
        # The server's search leaves exactly this tenant.
        self.wait(driver, lambda d: [r.text.split()[0] for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")] == [slug], what="the tenant row")
        self.shot(driver, "tenants")
        driver.find_element(By.XPATH, "//tbody/tr//button[normalize-space()='Suspend']").click()
        driver.switch_to.alert.accept()
        self.wait(driver, lambda d: any(slug in r.text and "suspended" in r.text for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")),
                  what="the suspended status")
        self.assertProblem(self.req("GET", "/v1/tenant", token=secret), 403, "tenant_suspended")
        self.go(driver, "/admin/stats")
        self.wait(driver, lambda d: slug in self.text(d), what="the statistics")
        self.shot(driver, "stats")

    def test_10_french_small_screens_and_labelled_controls(self):
        driver = self.sign_in(self.admin_a, driver=self.new_browser(width=375, height=800))
        Select(driver.find_element(By.CSS_SELECTOR, "select[aria-label=Language]")).select_by_value("fr")
        self.wait(driver, lambda d: "Tableau de bord" in self.text(d), what="French")
        for route in ("/dashboard", "/members", "/mail", "/settings"):
            self.go(driver, route)
            self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"), what=route)
            unlabelled = driver.execute_script("""
                return [...document.querySelectorAll('input, select, textarea')].filter((el) =>
                  !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map((el) => el.name || el.id);""")
            self.assertEqual(unlabelled, [], route)
            overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            self.assertLessEqual(overflow, 0, f"{route} scrolls sideways at 375 px")
        self.shot(driver, "mobile-fr")
        # Keyboard: on a fresh page the first Tab reaches the skip link, which moves the focus to
        # the content; Tab then reaches the page's first control.
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        driver.refresh()
        self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"), what="the page again")
        ActionChains(driver).send_keys(Keys.TAB).perform()
        self.assertIn("skip", driver.switch_to.active_element.get_attribute("class"))
        ActionChains(driver).send_keys(Keys.ENTER).perform()
        self.assertEqual(driver.switch_to.active_element.get_attribute("id"), "main")

    def test_11_a_password_reset_from_the_mailed_link(self):
        person = f"forgetful@{self.slug_a}.console.example"
        self.accept_by_api(person, "viewer", self.key_a)
        driver = self.new_browser()
        self.go(driver, "/sign-in")
        driver.find_element(By.LINK_TEXT, "Forgot your password?").click()
        self.fill(self.form(driver, "forgot-password"), {"email": person})
        self.wait(driver, lambda d: "on its way" in self.text(d), what="the confirmation")
        rows = self.gateway.sql(f"SELECT message FROM outbound_messages WHERE recipient = '{person}' AND template = 'password_reset'")
        self.assertEqual(len(rows), 1)
        self.go(driver, f"/reset-password?token={token_in(rows[0]['message'], 'pr_')}")
        self.fill(self.form(driver, "reset-password"), {"password": "short"})
        error = self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#reset-password .field-error"), what="the password rule")
        self.assertIn("12", error[0].text)
        self.fill(self.form(driver, "reset-password"), {"password": "a brand new passphrase"})
        self.wait(driver, lambda d: "password is changed" in self.text(d), what="the change")
        self.sign_in(person, "a brand new passphrase", driver=driver)

    def test_12_sessions_are_listed_and_another_one_is_ended(self):
        first = self.sign_in(self.admin_b)
        second = self.sign_in(self.admin_b)
        self.go(first, "/account")
        rows = self.wait(first, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "tbody tr") if "End" in r.text], what="the sessions")
        self.assertGreaterEqual(len(rows), 2)
        other = [r for r in rows if "this session" not in r.text][0]
        other.find_element(By.XPATH, ".//button[normalize-space()='End']").click()
        self.shot(first, "sessions")
        # The other browser's session is over: its next load finds no session.
        deadline = time.time() + 20
        while time.time() < deadline:
            second.refresh()
            time.sleep(1)
            if second.find_elements(By.CSS_SELECTOR, "form#sign-in"):
                break
        self.assertTrue(second.find_elements(By.CSS_SELECTOR, "form#sign-in"), "the ended session signs in again")

    def test_13_audit_filters_and_api_keys_shown_once(self):
        driver = self.sign_in(self.admin_a)
        self.go(driver, "/api-keys")
        self.fill(self.form(driver, "new-key"), {"name": "integration robot", "role": "viewer"})
        secret = self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".secret-value"), what="the new key")[0].text
        self.assertTrue(secret.startswith("tk_"))
        self.assertEqual(self.req("GET", "/v1/tenant", token=secret).status, 200)
        self.shot(driver, "api-keys")
        driver.refresh()
        self.wait(driver, lambda d: "integration robot" in self.text(d), what="the key listed")
        self.assertNotIn(secret, driver.page_source, "shown once")
        self.go(driver, "/audit")
        self.fill(self.form(driver, "audit-filters"), {"action": "api_key.create"})
        def only_key_creations(d):
            try:
                return {r.find_elements(By.TAG_NAME, "td")[2].text for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")} == {"api_key.create"}
            except StaleElementReferenceException:
                return False  # the table was drawn again meanwhile
        self.wait(driver, only_key_creations, what="only api_key.create entries")
        self.shot(driver, "audit")
    def test_14_sign_up_then_verify_from_the_mailed_link(self):
        email = f"founder@{self.slug_a}-signup.example"
        slug = f"{self.slug_a[:20]}-signup"
        driver = self.new_browser()
        self.go(driver, "/sign-up")
        self.fill(self.form(driver, "sign-up"), {"email": email, "password": "short", "tenant.name": "Cabinet Neuf", "tenant.slug": slug})
        error = self.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#sign-up .field.invalid .field-error"), what="the password rule")
        self.assertEqual(error[0].find_element(By.XPATH, "..").find_element(By.TAG_NAME, "input").get_attribute("name"), "password")
        self.assertEqual(driver.find_element(By.NAME, "tenant.slug").get_attribute("value"), slug, "kept")
        self.fill(self.form(driver, "sign-up"), {"password": PASSWORD})
        self.wait(driver, lambda d: "Almost there" in self.text(d), what="the confirmation")
        rows = self.gateway.sql(f"SELECT message FROM outbound_messages WHERE recipient = '{email}' AND template = 'verification'")
        self.go(driver, f"/verify-email?token={token_in(rows[0]['message'], 'ev_')}")
        self.wait(driver, lambda d: "confirmed" in self.text(d), what="the verification")
        self.sign_in(email, driver=driver)
        self.wait(driver, lambda d: "Cabinet Neuf" in self.text(d), what="the new tenant's console")

    def test_15_the_switcher_lists_every_membership_and_switches(self):
        member = f"both-{self.slug_b}@switch.example"  # nothing of A's names in it (test_8 looks for them)
        self.accept_by_api(member, "viewer", self.key_a)
        r = self.req("POST", "/v1/invitations", {"email": member, "role": "manager"}, token=self.key_b)
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", "/v1/auth/accept-invitation", {"token": self.invitation_token(member), "password": PASSWORD})
        self.assertEqual(r.status, 200, r)
        driver = self.sign_in(member)
        switcher = Select(driver.find_element(By.CSS_SELECTOR, "[data-testid=tenant-switcher]"))
        self.assertEqual(sorted(o.get_attribute("value") for o in switcher.options), sorted([self.slug_a, self.slug_b]))
        other = self.slug_b if switcher.first_selected_option.get_attribute("value") == self.slug_a else self.slug_a
        switcher.select_by_value(other)
        name = (self.b if other == self.slug_b else self.a)["tenant"]["name"]
        self.wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=brand]").text == name, what="the other tenant's console")
        # The manager of B sees members; the viewer of A does not.
        links = self.nav_links(driver)
        self.assertEqual("/members" in links, other == self.slug_b, links)

if __name__ == "__main__":
    unittest.main()
