"""End-to-end tests of the gateway Worker under real `wrangler dev` (workerd + local D1):
tenant resolution, auth, RBAC, quotas, rate limits, clients, API keys, mail and the relay
API, with an isolation test for every tenant-scoped route and bad input that writes
nothing."""
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import unittest

from harness import JWT_SECRET, ROOT, TwoTenants, mint_jwt, shared_gateway, superadmin_token

GATEWAY = None


def setUpModule():
    global GATEWAY
    GATEWAY = shared_gateway()


Base = TwoTenants


class ResolutionTest(Base):
    def test_every_source_resolves(self):
        cases = [
            ({}, "/v1/tenant", "token"),
            ({"host": f"{self.slug_a}.app.example"}, "/v1/tenant", "subdomain"),
            ({}, f"/v1/t/{self.slug_a}/tenant", "path"),
            ({"x-tenant": self.slug_a}, "/v1/tenant", "header"),
            ({"x-tenant-id": self.id_a}, "/v1/tenant", "header"),
            ({}, f"/v1/tenant?tenant={self.slug_a}", "query"),
        ]
        for headers, path, source in cases:
            r = self.req("GET", path, token=self.key_a, headers=headers)
            self.assertEqual(r.status, 200, (source, r))
            self.assertEqual((r.json()["id"], r.json()["resolved_by"]), (self.id_a, source))
            self.assertIn("ratelimit", r.headers)
            self.assertIn("ratelimit-policy", r.headers)

    def test_custom_hostname(self):
        r = self.req("POST", f"/v1/admin/tenants/{self.id_a}/hostnames", {"hostname": f"crm.{self.slug_a}.example"}, token=superadmin_token())
        self.assertEqual(r.status, 201, r)
        r = self.req("GET", "/v1/tenant", token=self.key_a, headers={"host": f"crm.{self.slug_a}.example"})
        self.assertEqual(r.json()["resolved_by"], "hostname")
        # Another tenant's key on A's hostname gets nothing.
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_b, headers={"host": f"crm.{self.slug_a}.example"}), 403, "tenant_mismatch")

    def test_ambiguous_mismatch_unknown(self):
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_a, headers={"host": f"{self.slug_a}.app.example", "x-tenant": self.slug_b}), 400, "ambiguous_tenant")
        for headers in ({"x-tenant": self.slug_b}, {"host": f"{self.slug_b}.app.example"}, {"x-tenant-id": self.id_b}):
            self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_a, headers=headers), 403, "tenant_mismatch")
        self.assertProblem(self.req("GET", f"/v1/t/{self.slug_b}/tenant", token=self.key_a), 403, "tenant_mismatch")
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_a, headers={"x-tenant": "no-such-tenant"}), 404, "tenant_not_found")
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_a, headers={"x-tenant-id": "bad id!"}), 400, "invalid_request")

    def test_superadmin_may_act_on_any_tenant(self):
        r = self.req("GET", "/v1/tenant", token=superadmin_token(), headers={"x-tenant": self.slug_b})
        self.assertEqual((r.status, r.json()["id"]), (200, self.id_b))

    def test_authentication_errors(self):
        self.assertProblem(self.req("GET", "/v1/tenant"), 401, "unauthenticated")
        self.assertProblem(self.req("GET", "/v1/tenant", token="tk_" + "A" * 43), 401, "unauthenticated")
        self.assertProblem(self.req("GET", "/v1/tenant", token="not.a.jwt"), 401, "unauthenticated")
        expired = mint_jwt({"sub": "u1", "tenant_id": self.id_a, "tenant_role": "owner"}, lifetime=-3600)
        self.assertProblem(self.req("GET", "/v1/tenant", token=expired), 401, "token_expired")
        forged = mint_jwt({"sub": "u1", "tenant_id": self.id_a, "tenant_role": "owner"}, secret="another-secret-another-secret-another")
        self.assertProblem(self.req("GET", "/v1/tenant", token=forged), 401, "unauthenticated")
        self.assertProblem(self.req("GET", "/v1/admin/tenants", token=self.key_a), 403, "forbidden")

    def test_jwt_with_memberships(self):
        token = mint_jwt({"sub": "u_multi", "tenant_id": self.id_a, "tenant_role": "viewer",
                          "tenants": [{"id": self.id_a, "slug": self.slug_a, "role": "viewer"}]})
        r = self.req("GET", "/v1/tenant", token=token)
        self.assertEqual(r.json()["id"], self.id_a)
        self.assertProblem(self.req("POST", "/v1/clients", {"name": "x"}, token=token), 403, "forbidden")


class LifecycleTest(Base):
    def test_suspend_activate_delete(self):
        admin = superadmin_token()
        self.assertEqual(self.req("POST", f"/v1/admin/tenants/{self.id_b}/suspend", token=admin).status, 200)
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_b), 403, "tenant_suspended")
        self.assertEqual(self.req("POST", f"/v1/admin/tenants/{self.id_b}/activate", token=admin).status, 200)
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_b).status, 200)
        self.assertEqual(self.req("DELETE", f"/v1/admin/tenants/{self.id_b}", token=admin).status, 200)
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_b), 404, "tenant_not_found")
        listed = self.req("GET", "/v1/admin/tenants", token=admin).json()["tenants"]
        self.assertEqual([t["status"] for t in listed if t["id"] == self.id_b], ["deleted"])

    def test_admin_bad_input(self):
        admin = superadmin_token()
        before = len(self.req("GET", "/v1/admin/tenants", token=admin).json()["tenants"])
        bad = [
            ({"slug": "Bad Slug", "name": "x", "plan": "free", "billing_email": "a@b.example", "owner_email": "a@b.example"}, "invalid_request"),
            ({"slug": "okslug", "name": "x", "plan": "gold", "billing_email": "a@b.example", "owner_email": "a@b.example"}, "invalid_request"),
            ({"slug": "okslug", "name": "x", "plan": "free", "billing_email": "a@b.example", "owner_email": "a@b.example", "extra": 1}, "invalid_request"),
            ({"slug": self.slug_a, "name": "x", "plan": "free", "billing_email": "a@b.example", "owner_email": "a@b.example"}, "conflict"),
        ]
        for body, code in bad:
            r = self.req("POST", "/v1/admin/tenants", body, token=admin)
            self.assertEqual(r.json()["code"], code, (body, r))
        self.assertProblem(self.req("POST", "/v1/admin/tenants", raw=b"{not json", token=admin), 400, "invalid_request")
        self.assertProblem(self.req("POST", "/v1/admin/tenants", raw=b"slug=x", token=admin, content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type")
        self.assertProblem(self.req("POST", "/v1/admin/tenants", raw=b"{" + b" " * 70000 + b"}", token=admin), 413, "payload_too_large")
        self.assertProblem(self.req("GET", "/v1/admin/tenants/nope", token=admin), 400, "invalid_request")
        self.assertEqual(len(self.req("GET", "/v1/admin/tenants", token=admin).json()["tenants"]), before, "nothing was written")


class ClientsTest(Base):
    def test_crud_audit_and_isolation(self):
        r = self.req("POST", "/v1/clients", {"name": "Alice", "email": "alice@example.org"}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        client_id = r.json()["id"]
        self.assertEqual(self.req("PATCH", f"/v1/clients/{client_id}", {"phone": "+33 1 23"}, token=self.key_a).json()["phone"], "+33 1 23")
        # Tenant B's credentials, headers and ids get nothing of A and change nothing.
        self.assertProblem(self.req("GET", f"/v1/clients/{client_id}", token=self.key_b), 404, "not_found")
        self.assertProblem(self.req("PATCH", f"/v1/clients/{client_id}", {"name": "Mallory"}, token=self.key_b), 404, "not_found")
        self.assertProblem(self.req("DELETE", f"/v1/clients/{client_id}", token=self.key_b), 404, "not_found")
        self.assertProblem(self.req("GET", f"/v1/clients/{client_id}", token=self.key_b, headers={"x-tenant": self.slug_a}), 403, "tenant_mismatch")
        self.assertEqual(self.req("GET", "/v1/clients", token=self.key_b).json()["clients"], [])
        self.assertEqual(self.req("GET", f"/v1/clients/{client_id}", token=self.key_a).json()["name"], "Alice")
        audit = self.req("GET", "/v1/audit?resource=clients", token=self.key_a).json()["entries"]
        self.assertEqual({e["action"] for e in audit if e["resource_id"] == client_id}, {"client.create", "client.update"})
        self.assertEqual(self.req("GET", "/v1/audit?resource=clients", token=self.key_b).json()["entries"], [])
        self.assertEqual(self.req("DELETE", f"/v1/clients/{client_id}", token=self.key_a).status, 204)
        self.assertProblem(self.req("GET", f"/v1/clients/{client_id}", token=self.key_a), 404, "not_found")

    def test_a_client_is_deleted_with_its_appointments(self):
        client_id = self.req("POST", "/v1/clients", {"name": "Bea"}, token=self.key_a).json()["id"]
        r = self.req("POST", "/v1/appointments", {"client_id": client_id, "starts_at": 1900000000, "ends_at": 1900003600},
                     token=self.key_a)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.req("DELETE", f"/v1/clients/{client_id}", token=self.key_a).status, 204)
        left = self.req("GET", "/v1/appointments", token=self.key_a).json()["appointments"]
        self.assertNotIn(client_id, [a["client_id"] for a in left])

    def test_bad_input_writes_nothing(self):
        before = self.req("GET", "/v1/clients", token=self.key_a).json()["clients"]
        for body in ({}, {"name": ""}, {"name": "x", "email": "not-an-address"}, {"name": "x", "unknown": 1}, {"name": 5}, {"name": "x", "phone": "call me"}):
            self.assertProblem(self.req("POST", "/v1/clients", body, token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("POST", "/v1/clients", raw=b"[1,", token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("POST", "/v1/clients", raw=b"name=x", token=self.key_a, content_type="text/plain"), 415, "unsupported_media_type")
        self.assertProblem(self.req("GET", "/v1/clients/1%20OR%201", token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("PUT", "/v1/clients", {"name": "x"}, token=self.key_a), 405, "method_not_allowed")
        self.assertEqual(self.req("GET", "/v1/clients", token=self.key_a).json()["clients"], before)

    def test_quota_on_the_free_plan(self):
        free = GATEWAY.create_tenant("quota-free", plan="free")
        key = free["owner_api_key"]
        # The free plan's 20 requests per minute would stop us first: an operator override
        # lifts it for this tenant (and shows that overrides apply).
        GATEWAY.sql(f"INSERT INTO limit_overrides (tenant_id, quota, value) VALUES ('{free['tenant']['id']}', 'requests_per_minute', 1000)")
        statuses = [self.req("POST", "/v1/clients", {"name": f"c{i}"}, token=key).status for i in range(50)]
        self.assertEqual(statuses.count(201), 50)
        r = self.req("POST", "/v1/clients", {"name": "one too many"}, token=key)
        body = self.assertProblem(r, 403, "quota_exceeded")
        self.assertEqual((body["current"], body["limit"], body["requested"]), (50, 50, 1))
        rows = GATEWAY.sql(f"SELECT COUNT(*) AS n FROM clients WHERE tenant_id = '{free['tenant']['id']}'")
        self.assertEqual(rows[0]["n"], 50, "the refused create wrote nothing")


class ApiKeyTest(Base):
    def test_create_use_revoke_and_isolation(self):
        r = self.req("POST", "/v1/api-keys", {"name": "viewer key", "role": "viewer"}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        key, key_id = r.json()["key"], r.json()["id"]
        listed = self.req("GET", "/v1/api-keys", token=self.key_a).json()["api_keys"]
        self.assertTrue(all("key" not in k and "key_hash" not in k for k in listed), "secrets are shown once")
        self.assertNotIn(key, json.dumps(listed))
        self.assertEqual(self.req("GET", "/v1/clients", token=key).status, 200)
        self.assertProblem(self.req("POST", "/v1/clients", {"name": "x"}, token=key), 403, "forbidden")
        self.assertProblem(self.req("DELETE", f"/v1/api-keys/{key_id}", token=self.key_b), 404, "not_found")
        self.assertEqual(self.req("GET", "/v1/clients", token=key).status, 200, "B could not revoke A's key")
        self.assertEqual(self.req("DELETE", f"/v1/api-keys/{key_id}", token=self.key_a).status, 200)
        self.assertProblem(self.req("GET", "/v1/clients", token=key), 401, "unauthenticated")
        self.assertProblem(self.req("POST", "/v1/api-keys", {"name": "x", "role": "god"}, token=self.key_a), 400, "invalid_request")


class RateLimitTest(Base):
    def test_exactly_the_limit_passes_under_concurrency(self):
        free = GATEWAY.create_tenant("burst-free", plan="free")
        key = free["owner_api_key"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
            responses = list(pool.map(lambda _: self.req("GET", "/v1/tenant", token=key), range(60)))
        statuses = [r.status for r in responses]
        self.assertEqual(statuses.count(200), 20, statuses)
        self.assertEqual(statuses.count(429), 40, statuses)
        limited = next(r for r in responses if r.status == 429)
        self.assertEqual(limited.json()["code"], "rate_limited")
        self.assertGreaterEqual(int(limited.headers["retry-after"]), 1)
        self.assertIn('q=20', limited.headers["ratelimit-policy"])
        # Another tenant is not affected.
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_a).status, 200)

    def test_monthly_api_calls_quota_exact_under_concurrency_and_flushed_to_d1(self):
        admin = superadmin_token()
        month = time.strftime("%Y-%m", time.gmtime())
        r = self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"limits": {"api_calls_per_month": 8}}, token=admin)
        self.assertEqual((r.status, r.json()["limit_overrides"]), (200, {"api_calls_per_month": 8}), r)
        used = self.req("GET", "/v1/usage", token=self.key_a).json()["usage"]["api_calls_per_month"]
        self.assertLessEqual(used, 8)
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            responses = list(pool.map(lambda _: self.req("GET", "/v1/tenant", token=self.key_a), range(12)))
        statuses = [r.status for r in responses]
        self.assertEqual(statuses.count(200), 8 - used, statuses)
        refused = next(r for r in responses if r.status == 403)
        body = self.assertProblem(refused, 403, "quota_exceeded")
        self.assertEqual((body["quota"], body["current"], body["limit"], body["requested"]),
                         ("api_calls_per_month", 8, 8, 1))
        # Another tenant is not affected.
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_b).status, 200)
        # The Durable Object flushes the month's count to D1 (USAGE_FLUSH_SECS is 1 in tests).
        query = (f"SELECT value FROM usage_counters WHERE tenant_id = '{self.id_a}' "
                 f"AND metric = 'api_calls' AND period = '{month}'")
        deadline = time.time() + 20
        while time.time() < deadline and GATEWAY.sql(query) != [{"value": 8}]:
            time.sleep(0.5)
        self.assertEqual(GATEWAY.sql(query), [{"value": 8}])
        # Refused calls are not counted, and raising the limit applies to the next request.
        self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"limits": {"api_calls_per_month": 9}}, token=admin)
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_a).status, 200)
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_a), 403, "quota_exceeded")
        r = self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"limits": {"api_calls_per_month": None}}, token=admin)
        self.assertEqual(r.json()["limit_overrides"], {})
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_a).status, 200)

    def test_limit_overrides_bad_input_writes_nothing(self):
        admin = superadmin_token()
        for limits in ({"gold_bars": 3}, {"clients": -2}, {"clients": "many"}, {"clients": 1.5}):
            self.assertProblem(self.req("PATCH", f"/v1/admin/tenants/{self.id_b}", {"limits": limits}, token=admin),
                               400, "invalid_request")
        self.assertEqual(GATEWAY.sql(f"SELECT quota FROM limit_overrides WHERE tenant_id = '{self.id_b}'"), [])
        self.assertProblem(self.req("PATCH", f"/v1/admin/tenants/{self.id_b}", {"limits": {"clients": 1}},
                                    token=self.key_b), 403, "forbidden")


class OperatorScriptsTest(Base):
    """scripts/create-tenant.py and scripts/export-tenant.py against the real gateway."""

    def script(self, name, *args):
        env = {**os.environ, "JWT_SECRET": JWT_SECRET}
        return subprocess.run([sys.executable, str(ROOT / "scripts" / name), "--url", GATEWAY.url, *args],
                              capture_output=True, text=True, env=env, timeout=120)

    def test_create_then_export_one_tenant(self):
        made = self.script("create-tenant.py", "--slug", "ops-nantes", "--name", "CHU de Nantes", "--plan", "starter",
                           "--billing-email", "billing@chu-nantes.example",
                           "--owner-email", "direction@chu-nantes.example", "--hostname", "portail.chu-nantes.example")
        self.assertEqual(made.returncode, 0, made.stderr)
        created = json.loads(made.stdout)
        key, tenant_id = created["owner_api_key"], created["tenant"]["id"]
        r = self.req("GET", "/v1/tenant", token=key, headers={"host": "portail.chu-nantes.example"})
        self.assertEqual((r.status, r.json()["id"], r.json()["resolved_by"]), (200, tenant_id, "hostname"))
        self.assertEqual(self.req("POST", "/v1/clients", {"name": "Nantes Patient"}, token=key).status, 201)
        self.assertEqual(self.req("POST", "/v1/clients", {"name": "Other Patient"}, token=self.key_a).status, 201)
        with tempfile.TemporaryDirectory() as directory:
            out = pathlib.Path(directory) / "nantes.json"
            exported = self.script("export-tenant.py", "--tenant", "ops-nantes", "--out", str(out))
            self.assertEqual(exported.returncode, 0, exported.stderr)
            self.assertIn("clients: 1", exported.stderr)
            self.assertEqual(out.stat().st_mode & 0o777, 0o600)
            document = json.loads(out.read_text())
            self.assertEqual(document["tenant"]["id"], tenant_id)
            self.assertEqual([c["name"] for c in document["clients"]], ["Nantes Patient"])
            self.assertNotIn(key, out.read_text(), "the owner key is never exported")
            by_id = self.script("export-tenant.py", "--tenant", tenant_id, "--out", str(out))
            self.assertEqual((by_id.returncode, json.loads(out.read_text())["tenant"]["slug"]), (0, "ops-nantes"))
        duplicate = self.script("create-tenant.py", "--slug", "ops-nantes", "--name", "Again",
                                "--billing-email", "b@x.example", "--owner-email", "o@x.example")
        self.assertNotEqual(duplicate.returncode, 0)
        self.assertIn("409 conflict", duplicate.stderr)
        missing = self.script("export-tenant.py", "--tenant", "no-such-tenant", "--out", "/dev/null")
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("404", missing.stderr)


class MailTest(Base):
    def test_domains_mailboxes_directory_and_usage(self):
        domain = f"{self.slug_a}.hopital.example"
        r = self.req("POST", "/v1/mail/domains", {"domain": domain, "organization_name": "Hôpital", "organization_type": "hospital",
                                                  "max_mailboxes": 2, "max_storage_mb": 100}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        add = lambda address, token=self.key_a: self.req("POST", f"/v1/mail/domains/{domain}/mailboxes", {"address": address, "kind": "personal"}, token=token)
        self.assertEqual(add(f"dr.house@{domain}").status, 201)
        self.assertProblem(add("dr.house@elsewhere.example"), 400, "invalid_request")
        self.assertProblem(add(f"dr.house@{domain}"), 409, "conflict")
        self.assertEqual(add(f"accueil@{domain}").status, 201)
        body = self.assertProblem(add(f"third@{domain}"), 403, "quota_exceeded")
        self.assertEqual((body["current"], body["limit"]), (2, 2))
        # Isolation: B sees nothing of A's domain and cannot add to it.
        self.assertProblem(add(f"intruder@{domain}", token=self.key_b), 404, "not_found")
        self.assertProblem(self.req("GET", f"/v1/mail/domains/{domain}/mailboxes", token=self.key_b), 404, "not_found")
        self.assertEqual(self.req("GET", "/v1/mail/domains", token=self.key_b).json()["domains"], [])
        # Status is the platform's to set.
        self.assertProblem(self.req("PATCH", f"/v1/mail/domains/{domain}", {"status": "suspended"}, token=self.key_a), 403, "forbidden")
        # What the MX does with DMARC failures is the tenant's: one of four names, its own domain only.
        self.assertEqual(self.req("GET", "/v1/mail/domains", token=self.key_a).json()["domains"][0]["dmarc_handling"], "policy")
        body = self.assertProblem(self.req("PATCH", f"/v1/mail/domains/{domain}", {"dmarc_handling": "Reject"}, token=self.key_a),
                                  400, "invalid_request")
        self.assertIn("dmarc_handling", str(body))
        self.assertProblem(self.req("PATCH", f"/v1/mail/domains/{domain}", {"dmarc_handling": "tag"}, token=self.key_b), 404, "not_found")
        r = self.req("PATCH", f"/v1/mail/domains/{domain}", {"dmarc_handling": "quarantine"}, token=self.key_a)
        self.assertEqual((r.status, r.json()["dmarc_handling"]), (200, "quarantine"), r)
        # The records to publish: MX and MTA-STS name the relays, the policy enforces them.
        published = self.req("GET", f"/v1/mail/domains/{domain}/records", token=self.key_a).json()
        by_purpose = {}
        for record in published["records"]:
            by_purpose.setdefault(record["purpose"], []).append(record)
        self.assertEqual([r["value"] for r in by_purpose["mx"]], ["10 mx.tenantry.test.", "10 relay2.ops-tenantry.test."])
        self.assertEqual(by_purpose["dmarc"][0]["name"], f"_dmarc.{domain}")
        self.assertRegex(by_purpose["mta-sts"][0]["value"], r"^v=STSv1; id=[0-9a-f]{20}$")
        self.assertEqual(published["mta_sts"]["url"], f"https://mta-sts.{domain}/.well-known/mta-sts.txt")
        self.assertEqual(published["mta_sts"]["policy"],
                         "version: STSv1\nmode: enforce\nmx: mx.tenantry.test\nmx: relay2.ops-tenantry.test\nmax_age: 604800\n")
        self.assertProblem(self.req("GET", f"/v1/mail/domains/{domain}/records", token=self.key_b), 404, "not_found")
        # The relay's view: nothing of a pending domain, everything once it is held.
        relay_key = GATEWAY.create_relay_key()["key"]
        self.assertProblem(self.req("GET", "/v1/relay/directory?since=0", token=self.key_a), 403, "forbidden")
        pending = self.req("GET", "/v1/relay/directory?since=0", token=relay_key).json()
        self.assertNotIn(domain, [d["domain"] for d in pending["domains"]])
        self.assertNotIn(f"dr.house@{domain}", [m["address"] for m in pending["mailboxes"]])
        GATEWAY.vouch(domain, self.id_a)
        full = self.req("GET", "/v1/relay/directory?since=0", token=relay_key).json()
        self.assertIn(domain, [d["domain"] for d in full["domains"]])
        entry = next(d for d in full["domains"] if d["domain"] == domain)
        self.assertEqual((entry["dmarc_handling"], entry["spam"]), ("quarantine", {"junk_at": 6.0, "reject_at": 15.0}))
        self.assertTrue(full["full"])
        # The spam thresholds are the tenant's settings: checked, then on every domain the relays pull.
        body = self.assertProblem(self.req("PATCH", "/v1/settings", {"spam_reject_score": "high"}, token=self.key_a), 400, "invalid_request")
        self.assertEqual(body["field"], "spam_reject_score")
        self.assertProblem(self.req("PATCH", "/v1/settings", {"spam_junk_score": 1001}, token=self.key_a), 400, "invalid_request")
        before = self.req("GET", f"/v1/relay/directory?since={full['version']}", token=relay_key).json()
        self.assertNotIn(domain, [d["domain"] for d in before["domains"]], "a refused setting changes nothing")
        self.assertEqual(self.req("PATCH", "/v1/settings", {"spam_junk_score": 4, "spam_reject_score": 100.5}, token=self.key_a).status, 200)
        after = self.req("GET", f"/v1/relay/directory?since={full['version']}", token=relay_key).json()
        self.assertEqual([d["spam"] for d in after["domains"] if d["domain"] == domain], [{"junk_at": 4.0, "reject_at": 100.5}])
        self.assertEqual(self.req("PATCH", "/v1/settings", {"spam_junk_score": None, "spam_reject_score": None}, token=self.key_a).status, 200)
        full = self.req("GET", "/v1/relay/directory?since=0", token=relay_key).json()
        self.assertIn(f"dr.house@{domain}", [m["address"] for m in full["mailboxes"]])
        version = full["version"]
        self.assertEqual(self.req("DELETE", f"/v1/mail/domains/{domain}/mailboxes/dr.house@{domain}", token=self.key_a).status, 204)
        delta = self.req("GET", f"/v1/relay/directory?since={version}", token=relay_key).json()
        self.assertFalse(delta["full"])
        self.assertEqual([(m["address"], m["deleted"]) for m in delta["mailboxes"]], [(f"dr.house@{domain}", True)])
        self.assertProblem(self.req("GET", "/v1/relay/directory?since=-1", token=relay_key), 400, "invalid_request")
        batch = {"batch_id": os.urandom(16).hex(), "items": [{"domain": domain, "day": "2026-11-23", "messages": 3, "bytes": 300, "storage_bytes": 900}]}
        self.assertTrue(self.req("POST", "/v1/relay/usage", batch, token=relay_key).json()["applied"])
        self.assertFalse(self.req("POST", "/v1/relay/usage", batch, token=relay_key).json()["applied"], "a batch applies once")
        days = self.req("GET", f"/v1/mail/domains/{domain}/usage", token=self.key_a).json()["days"]
        self.assertEqual(days, [{"day": "2026-11-23", "messages": 3, "bytes": 300, "storage_bytes": 900}])
        self.assertProblem(self.req("GET", f"/v1/mail/domains/{domain}/usage", token=self.key_b), 404, "not_found")
        self.assertProblem(self.req("POST", "/v1/relay/usage", {"batch_id": "x", "items": [{"domain": domain, "day": "23/11", "messages": 1, "bytes": 1, "storage_bytes": 1}]}, token=relay_key), 400, "invalid_request")


if __name__ == "__main__":
    unittest.main()


class RelayWithGatewayTest(Base):
    """The real relay against the real gateway: what the API creates, the relay accepts
    after one sync, and what the relay delivers shows in the domain's usage."""

    def test_domain_and_mailbox_from_the_api_reach_the_relay_and_usage_comes_back(self):
        import importlib.util
        import pathlib
        import smtplib
        import time
        spec = importlib.util.spec_from_file_location("relay_harness", pathlib.Path(__file__).resolve().parents[1] / "relay" / "harness.py")
        relay_harness = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(relay_harness)
        RelayProcess = relay_harness.RelayProcess

        domain = f"{self.slug_a}.clinique.example"
        self.assertEqual(self.req("POST", "/v1/mail/domains", {"domain": domain, "organization_name": "Clinique", "organization_type": "clinic",
                                                               "max_mailboxes": 10, "max_storage_mb": 50}, token=self.key_a).status, 201)
        GATEWAY.vouch(domain, self.id_a)
        self.assertEqual(self.req("POST", f"/v1/mail/domains/{domain}/mailboxes", {"address": f"accueil@{domain}", "kind": "organizational"}, token=self.key_a).status, 201)
        relay_key = GATEWAY.create_relay_key("relay-e2e", tenants=[self.id_a])["key"]
        # A sender that publishes DMARC p=none: delivered under the domain's default handling.
        dns = relay_harness.LoopbackDns(['txt-record=_dmarc.monitor.example,"v=DMARC1; p=none"'])
        relay = RelayProcess(GATEWAY.url, api_key=relay_key, outbound={"dns_servers": [dns.server]}).start()
        try:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("e2e.test")
                self.assertEqual(client.sendmail("s@example.org", [f"accueil@{domain}"], b"Subject: e2e\r\n\r\nhello\r\n"), {})
                client.mail("s@example.org")
                self.assertEqual(client.rcpt(f"nobody@{domain}")[0], 550)
                self.assertEqual(client.rcpt(f"someone@{self.slug_b}.example")[0], 550)
            self.assertEqual(len(relay.messages(f"accueil@{domain}")), 1)
            self.assertEqual(self.req("POST", f"/v1/mail/domains/{domain}/mailboxes", {"address": f"labo@{domain}", "kind": "organizational"}, token=self.key_a).status, 201)
            deadline = time.time() + 15
            accepted = False
            while time.time() < deadline and not accepted:
                with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                    client.ehlo("e2e.test")
                    client.mail("s@example.org")
                    accepted = client.rcpt(f"labo@{domain}")[0] == 250
                time.sleep(0.5)
            self.assertTrue(accepted, "a mailbox created through the API reaches the relay")
            deadline = time.time() + 15
            days = []
            while time.time() < deadline and not days:
                days = self.req("GET", f"/v1/mail/domains/{domain}/usage", token=self.key_a).json()["days"]
                time.sleep(0.5)
            self.assertEqual(days[0]["messages"], 1)
            self.assertGreater(days[0]["bytes"], 20)
            self.assertGreater(days[0]["storage_bytes"], 20)
            self.assertProblem(self.req("GET", f"/v1/mail/domains/{domain}/usage", token=self.key_b), 404, "not_found")
            # The tenant's DMARC handling reaches the relay: `reject` refuses even what p=none lets through.
            monitored = b"From: news@monitor.example\r\nSubject: monitored\r\n\r\nhello\r\n"
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                self.assertEqual(client.sendmail("news@monitor.example", [f"accueil@{domain}"], monitored), {})
            self.assertEqual(self.req("PATCH", f"/v1/mail/domains/{domain}", {"dmarc_handling": "reject"}, token=self.key_a).status, 200)
            deadline, refused = time.time() + 15, None
            while time.time() < deadline and refused is None:
                with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                    try:
                        client.sendmail("news@monitor.example", [f"accueil@{domain}"], monitored)
                        time.sleep(0.5)
                    except smtplib.SMTPDataError as error:
                        refused = error
            self.assertIsNotNone(refused, "the domain's reject handling reached the relay")
            self.assertEqual(refused.smtp_code, 550)
            self.assertIn(b"DMARC", refused.smtp_error)
        finally:
            relay.stop()
            dns.stop()


class PeopleTest(Base):
    def employee(self, user_id, tenant_id=None, slug=None):
        tenant_id = tenant_id or self.id_a
        return mint_jwt({"sub": user_id, "tenant_id": tenant_id, "tenant_role": "employee",
                         "tenants": [{"id": tenant_id, "slug": slug or self.slug_a, "role": "employee"}]})

    def test_an_employee_updates_only_its_own_appointments(self):
        client_id = self.req("POST", "/v1/clients", {"name": "Patient"}, token=self.key_a).json()["id"]
        alice, bob = self.employee("u_" + "a" * 24), self.employee("u_" + "b" * 24)
        mine = self.req("POST", "/v1/appointments", {"client_id": client_id, "starts_at": 2_000_000_000, "ends_at": 2_000_003_600}, token=alice)
        self.assertEqual(mine.status, 201, mine)
        appointment = mine.json()["id"]
        self.assertEqual(mine.json()["employee_id"], "u_" + "a" * 24)
        r = self.req("PATCH", f"/v1/appointments/{appointment}", {"status": "confirmed"}, token=alice)
        self.assertEqual((r.status, r.json()["status"]), (200, "confirmed"))
        body = self.assertProblem(self.req("PATCH", f"/v1/appointments/{appointment}", {"status": "cancelled"}, token=bob), 403, "forbidden")
        self.assertIn("appointments:update", body["detail"])
        self.assertEqual(self.req("GET", "/v1/appointments", token=self.key_a).json()["appointments"][0]["status"], "confirmed")
        # Tenant B's employee and owner get nothing of A's appointment.
        other = self.employee("u_" + "c" * 24, self.id_b, self.slug_b)
        self.assertProblem(self.req("PATCH", f"/v1/appointments/{appointment}", {"status": "cancelled"}, token=other), 404, "not_found")
        self.assertEqual(self.req("GET", "/v1/appointments", token=self.key_b).json()["appointments"], [])
        self.assertProblem(self.req("POST", "/v1/appointments", {"client_id": client_id, "starts_at": 1, "ends_at": 2}, token=self.key_b), 400, "invalid_request")
        self.assertProblem(self.req("POST", "/v1/appointments", {"client_id": client_id, "starts_at": 5, "ends_at": 2}, token=alice), 400, "invalid_request")

    def test_members_roles_settings(self):
        r = self.req("POST", "/v1/roles", {"name": "receptionist", "permissions": ["appointments:*", "clients:read"]}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        self.assertProblem(self.req("POST", "/v1/roles", {"name": "owner", "permissions": ["*"]}, token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("POST", "/v1/roles", {"name": "bad", "permissions": ["clients"]}, token=self.key_a), 400, "invalid_request")
        self.assertNotIn("receptionist", [x["name"] for x in self.req("GET", "/v1/roles", token=self.key_b).json()["roles"]])
        member = self.req("POST", "/v1/members", {"email": "reception@a.example", "role": "receptionist"}, token=self.key_a)
        self.assertEqual(member.status, 201, member)
        user_id = member.json()["user_id"]
        self.assertProblem(self.req("POST", "/v1/members", {"email": "x@b.example", "role": "receptionist"}, token=self.key_b), 400, "invalid_request")
        self.assertProblem(self.req("PATCH", f"/v1/members/{user_id}", {"role": "admin"}, token=self.key_b), 404, "not_found")
        self.assertProblem(self.req("DELETE", f"/v1/members/{user_id}", token=self.key_b), 404, "not_found")
        self.assertEqual(self.req("PATCH", f"/v1/members/{user_id}", {"role": "viewer"}, token=self.key_a).json()["role"], "viewer")
        emails = [m["email"] for m in self.req("GET", "/v1/members", token=self.key_a).json()["members"]]
        self.assertIn("reception@a.example", emails)
        self.assertNotIn("reception@a.example", [m["email"] for m in self.req("GET", "/v1/members", token=self.key_b).json()["members"]])
        s = self.req("PATCH", "/v1/settings", {"booking.slot_minutes": 30}, token=self.key_a)
        self.assertEqual(s.json()["booking.slot_minutes"], 30)
        self.assertNotIn("booking.slot_minutes", self.req("GET", "/v1/settings", token=self.key_b).json())
        self.assertProblem(self.req("PATCH", "/v1/settings", {"Bad Key": 1}, token=self.key_a), 400, "invalid_request")
        self.assertEqual(self.req("DELETE", f"/v1/members/{user_id}", token=self.key_a).status, 204)


class IntegrationsAndExportTest(Base):
    def test_secrets_are_sealed_masked_and_isolated(self):
        crm = {"base_url": "https://crm.a.example/api/v1", "api_key": "espo-secret-key-123456", "admin_username": "admin", "admin_password": "hunter2-very-secret"}
        r = self.req("PUT", "/v1/integrations/crm", crm, token=self.key_a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["api_key"], "••••3456")
        self.assertNotIn(b"espo-secret-key-123456", r.body)
        self.assertNotIn(b"hunter2-very-secret", r.body)
        wa = {"phone_number_id": "106540352242922", "verify_token": "verify-me-please", "app_secret": "app-secret-value-xyz", "access_token": "EAAG-token-value-0000"}
        self.assertEqual(self.req("PUT", "/v1/integrations/whatsapp", wa, token=self.key_a).status, 200)
        stored = GATEWAY.sql(f"SELECT kind, sealed FROM integrations WHERE tenant_id = '{self.id_a}'")
        self.assertEqual(len(stored), 2)
        for row in stored:
            for secret in ("espo-secret-key-123456", "hunter2-very-secret", "app-secret-value-xyz", "EAAG-token-value-0000", "verify-me-please"):
                self.assertNotIn(secret, row["sealed"])
            self.assertTrue(all(v.startswith("v1.k2.") for v in json.loads(row["sealed"]).values()))
        self.assertEqual(self.req("GET", "/v1/integrations", token=self.key_b).json()["integrations"], [])
        audit = json.dumps(self.req("GET", "/v1/audit?resource=integrations", token=self.key_a).json())
        self.assertNotIn("espo-secret-key-123456", audit)
        self.assertProblem(self.req("PUT", "/v1/integrations/crm", {**crm, "base_url": "ftp://x"}, token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("PUT", "/v1/integrations/whatsapp", {**wa, "phone_number_id": "abc"}, token=self.key_a), 400, "invalid_request")
        # Export: everything A owns, nothing of B, no secret.
        self.req("POST", "/v1/clients", {"name": "Only In B"}, token=self.key_b)
        export = self.req("GET", "/v1/export", token=self.key_a)
        self.assertEqual(export.status, 200, export)
        document = export.json()
        self.assertEqual(document["tenant"]["id"], self.id_a)
        self.assertNotIn(b"Only In B", export.body)
        for secret in (b"espo-secret-key-123456", b"hunter2-very-secret", b"app-secret-value-xyz", b"v1.k2."):
            self.assertNotIn(secret, export.body)
        self.assertEqual(len(document["integrations"]), 2)
        admin_key = self.req("POST", "/v1/api-keys", {"name": "admin", "role": "admin"}, token=self.key_a).json()["key"]
        self.assertProblem(self.req("GET", "/v1/export", token=admin_key), 403, "forbidden")


class PlatformTest(Base):
    def test_plan_change_applies_at_once_and_stats(self):
        admin = superadmin_token()
        before = self.req("GET", "/v1/tenant", token=self.key_a)
        self.assertIn("q=100;", before.headers["ratelimit-policy"], "starter: 100 per minute")
        r = self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"plan": "enterprise"}, token=admin)
        self.assertEqual((r.status, r.json()["plan"]), (200, "enterprise"))
        after = self.req("GET", "/v1/tenant", token=self.key_a)
        self.assertIn("q=2000;", after.headers["ratelimit-policy"], "the new plan's limit applies to the next request")
        self.assertProblem(self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"plan": "gold"}, token=admin), 400, "invalid_request")
        self.assertProblem(self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"plan": "free"}, token=self.key_a), 403, "forbidden")
        stats = self.req("GET", "/v1/admin/stats", token=admin).json()
        self.assertGreaterEqual(stats["totals"]["tenants"], 2)
        self.assertIn(self.id_a, [t["id"] for t in stats["tenants"]])
        self.assertProblem(self.req("GET", "/v1/admin/stats", token=self.key_a), 403, "forbidden")

    def test_conversations_are_per_tenant(self):
        self.assertEqual(self.req("GET", "/v1/conversations", token=self.key_a).json()["conversations"], [])
        self.assertProblem(self.req("GET", "/v1/conversations/conv_" + "0" * 24 + "/messages", token=self.key_a), 404, "not_found")
        self.assertProblem(self.req("GET", "/v1/conversations/nope/messages", token=self.key_a), 400, "invalid_request")
