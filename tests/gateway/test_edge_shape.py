"""The edge's shape under real `wrangler dev`: one routing table answering 404 and 405
(with `Allow`) before any credential is looked at, and the tenant's hot state held by
its Durable Object, so that a tenant request reads no D1 and every change to that state
applies to the very next request."""
import concurrent.futures
import glob
import json
import sqlite3
import unittest
import urllib.error
import urllib.request

import yaml
from harness import ROOT, TwoTenants, mint_jwt, shared_gateway, superadmin_token

GATEWAY = None
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def setUpModule():
    global GATEWAY
    GATEWAY = shared_gateway()


def openapi_operations():
    """{concrete path: set of methods} for every path of openapi.yaml."""
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    operations = {}
    for template, item in spec["paths"].items():
        path = (template.replace("{id}", "x_1").replace("{user_id}", "u_1").replace("{kind}", "crm")
                .replace("{domain}", "a.example").replace("{address}", "x@a.example")
                .replace("{tenant_id}", "t_1").replace("{path}", "api/v1/Contact"))
        operations[path] = {m.upper() for m in item if m.upper() in METHODS}
    return operations


class RoutingTableTest(TwoTenants):
    def test_every_documented_path_refuses_other_methods_with_405_and_allow(self):
        operations = openapi_operations()
        self.assertGreater(len(operations), 30)
        for path, allowed in operations.items():
            for method in (m for m in METHODS + ("HEAD", "OPTIONS") if m not in allowed):
                r = self.req(method, path, token=self.key_a)
                self.assertEqual(r.status, 405, f"{method} {path}: {r}")
                self.assertEqual(set(r.headers["allow"].split(", ")), allowed, f"{method} {path}")
                if method != "HEAD":
                    self.assertEqual(r.json()["code"], "method_not_allowed")

    def test_unknown_paths_are_404_before_any_credential_is_checked(self):
        for path in ["/v1", "/v1/", "/v1/nope", "/v1/clients/c/x", "/v1/crm", "/v1/admin", "/v1/admin/nope",
                     "/v1/relay/nope", "/webhook/nope", "/v1/t/paris/nope", "/healthz/x"]:
            # No credential, a malformed one and a forged JWT: the table answers first.
            for headers in ({}, {"authorization": "Bearer tk_nope"}, {"authorization": "Bearer " + "x" * 50}):
                r = self.req("GET", path, headers=headers)
                self.assertProblem(r, 404, "not_found")

    def test_any_other_path_is_the_console_page(self):
        for path in ("/", "/members", "/not/an/api/path"):
            r = self.req("GET", path)
            self.assertEqual(r.status, 200, (path, r))
            self.assertTrue(r.headers["content-type"].startswith("text/html"), r.headers)
            self.assertIn("script-src 'self'", r.headers["content-security-policy"])

    def test_a_documented_route_without_a_credential_is_401_not_404(self):
        for path, allowed in openapi_operations().items():
            if path.startswith("/v1/") and "GET" in allowed:
                self.assertProblem(self.req("GET", path), 401, "unauthenticated")

    def test_requests_refused_before_their_body_is_read_leave_the_edge_usable(self):
        """A refusal that never reads the body (unknown route, wrong method, no credential,
        another tenant, a permission) is answered after the body is drained: every next
        request is served, none gets the 503 an unread body causes under wrangler dev."""
        body = json.dumps({"name": "x" * 40_000}).encode()
        employee = mint_jwt({"sub": "u_emp", "tenant_id": self.id_a, "tenant_role": "viewer",
                             "tenants": [{"id": self.id_a, "slug": self.slug_a, "role": "viewer"}]})
        refusals = [("POST", "/v1/nope", None, 404), ("PUT", "/v1/clients", self.key_a, 405),
                    ("POST", "/v1/clients", None, 401), ("POST", "/v1/clients", "tk_forged", 401),
                    ("POST", "/v1/admin/tenants", self.key_a, 403), ("POST", "/v1/clients", employee, 403),
                    ("POST", f"/v1/t/{self.slug_b}/clients", self.key_a, 403)]
        for _ in range(5):
            for method, path, token, status in refusals:
                r = self.req(method, path, raw=body, token=token)
                self.assertEqual(r.status, status, (method, path, r))
                self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_a).status, 200)

    def test_a_405_writes_nothing(self):
        before = GATEWAY.sql(f"SELECT COUNT(*) AS n FROM clients WHERE tenant_id = '{self.id_a}'")[0]["n"]
        r = self.req("PUT", "/v1/clients", {"name": "x"}, token=self.key_a)
        self.assertProblem(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "GET, POST")
        after = GATEWAY.sql(f"SELECT COUNT(*) AS n FROM clients WHERE tenant_id = '{self.id_a}'")[0]["n"]
        self.assertEqual(before, after)


class HotStateTest(TwoTenants):
    def jwt(self, tenant_id, slug, role="owner"):
        return mint_jwt({"sub": f"u_{slug}", "tenant_id": tenant_id, "tenant_role": role,
                         "tenants": [{"id": tenant_id, "slug": slug, "role": role}]})

    def test_suspension_and_plan_changes_apply_to_the_very_next_request(self):
        token = self.jwt(self.id_a, self.slug_a)
        admin = superadmin_token()
        self.assertEqual(self.req("GET", "/v1/tenant", token=token).status, 200)  # the object holds A now
        for _ in range(3):
            self.assertEqual(self.req("POST", f"/v1/admin/tenants/{self.id_a}/suspend", token=admin).status, 200)
            self.assertProblem(self.req("GET", "/v1/tenant", token=token), 403, "tenant_suspended")
            self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_a), 403, "tenant_suspended")
            self.assertEqual(self.req("POST", f"/v1/admin/tenants/{self.id_a}/activate", token=admin).status, 200)
            self.assertEqual(self.req("GET", "/v1/tenant", token=token).status, 200)
        r = self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"plan": "professional"}, token=admin)
        self.assertEqual(r.status, 200, r)
        r = self.req("GET", "/v1/tenant", token=token)
        self.assertEqual((r.json()["plan"], "q=500;" in r.headers["ratelimit-policy"]), ("professional", True), r)
        r = self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"limits": {"requests_per_minute": 7}}, token=admin)
        self.assertEqual(r.status, 200, r)
        self.assertIn('q=7;', self.req("GET", "/v1/tenant", token=token).headers["ratelimit-policy"])
        r = self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"limits": {"requests_per_minute": None}}, token=admin)
        self.assertIn('q=500;', self.req("GET", "/v1/tenant", token=token).headers["ratelimit-policy"])
        # Another tenant's object never saw any of it.
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_b).json()["plan"], "starter")

    def test_the_operator_s_tenant_list_counts_in_integers(self):
        r = self.req("GET", f"/v1/admin/tenants?q={self.slug_a}", token=superadmin_token())
        self.assertEqual(r.status, 200, r)
        self.assertNotRegex(r.body.decode(), r'"(members|clients|mailboxes)":\s*\d+\.', "counts are integers, not 1.0")
        tenant = next(t for t in r.json()["tenants"] if t["id"] == self.id_a)
        for count in ("members", "clients", "mailboxes"):
            self.assertIs(type(tenant[count]), int, tenant)

    def test_a_deleted_tenant_is_gone_on_the_next_request(self):
        tenant = GATEWAY.create_tenant("hot-deleted")
        key, slug = tenant["owner_api_key"], tenant["tenant"]["slug"]
        self.assertEqual(self.req("GET", "/v1/tenant", token=superadmin_token(), headers={"x-tenant": slug}).status, 200)
        self.assertEqual(self.req("GET", "/v1/tenant", token=key).status, 200)
        self.assertEqual(self.req("DELETE", f"/v1/admin/tenants/{tenant['tenant']['id']}", token=superadmin_token()).status, 200)
        self.assertProblem(self.req("GET", "/v1/tenant", token=superadmin_token(), headers={"x-tenant": slug}), 404,
                           "tenant_not_found")

    def test_a_new_custom_role_is_usable_at_once(self):
        r = self.req("POST", "/v1/roles", {"name": "auditor", "permissions": ["audit:read"]}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", "/v1/api-keys", {"name": "audit", "role": "auditor"}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        auditor = r.json()["key"]
        self.assertEqual(self.req("GET", "/v1/audit", token=auditor).status, 200)
        self.assertProblem(self.req("GET", "/v1/clients", token=auditor), 403, "forbidden")
        # B has no such role.
        self.assertProblem(self.req("POST", "/v1/api-keys", {"name": "x", "role": "auditor"}, token=self.key_b),
                           400, "invalid_request")

    def test_a_moved_hostname_names_its_new_tenant_on_the_next_request(self):
        admin = superadmin_token()
        host = "portal.hot-move.example"
        by_host = {"host": host}
        self.assertEqual(self.req("POST", f"/v1/admin/tenants/{self.id_a}/hostnames", {"hostname": host},
                                  token=admin).status, 201)
        r = self.req("GET", "/v1/tenant", token=admin, headers=by_host)
        self.assertEqual((r.json()["id"], r.json()["resolved_by"]), (self.id_a, "hostname"), r)
        self.assertEqual(self.req("DELETE", f"/v1/admin/tenants/{self.id_a}/hostnames/{host}", token=admin).status, 204)
        self.assertProblem(self.req("DELETE", f"/v1/admin/tenants/{self.id_a}/hostnames/{host}", token=admin), 404,
                           "not_found")
        self.assertEqual(self.req("POST", f"/v1/admin/tenants/{self.id_b}/hostnames", {"hostname": host},
                                  token=admin).status, 201)
        r = self.req("GET", "/v1/tenant", token=admin, headers=by_host)
        self.assertEqual((r.json()["id"], r.json()["resolved_by"]), (self.id_b, "hostname"), r)
        # A's own key now meets B's hostname: the request names two tenants.
        self.assertProblem(self.req("GET", "/v1/tenant", token=self.key_a, headers=by_host), 403, "tenant_mismatch")
        self.assertEqual(self.req("DELETE", f"/v1/admin/tenants/{self.id_b}/hostnames/{host}", token=admin).status, 204)
        # Unregistered again: the hostname names nothing and the key's own tenant answers.
        r = self.req("GET", "/v1/tenant", token=self.key_a, headers=by_host)
        self.assertEqual((r.json()["id"], r.json()["resolved_by"]), (self.id_a, "token"), r)

    def test_the_tenant_path_prefix_reaches_every_worker(self):
        for path in ("/clients", "/members", "/mail/domains", "/usage", "/appointments", "/audit"):
            r = self.req("GET", f"/v1/t/{self.slug_a}{path}", token=self.key_a)
            self.assertEqual(r.status, 200, (path, r))
            self.assertProblem(self.req("GET", f"/v1/t/{self.slug_a}{path}", token=self.key_b), 403, "tenant_mismatch")
        r = self.req("POST", f"/v1/t/{self.slug_a}/clients", {"name": "By path"}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(GATEWAY.sql(f"SELECT tenant_id FROM clients WHERE id = '{r.json()['id']}'")[0]["tenant_id"],
                         self.id_a)

    def test_a_hostname_registered_behind_the_apis_back_is_honoured_on_the_next_request(self):
        """An operator's SQL does not invalidate the tenant's object; a name D1 gives the
        gateway but the object's state lacks makes the object reload once."""
        token = self.jwt(self.id_a, self.slug_a)
        self.assertEqual(self.req("GET", "/v1/tenant", token=token).status, 200)  # state cached
        host = "sql.hot-state.example"
        GATEWAY.sql(f"INSERT INTO tenant_hostnames (hostname, tenant_id, created_at) VALUES ('{host}', '{self.id_a}', 0)")
        r = self.req("GET", "/v1/tenant", token=token, headers={"host": host})
        self.assertEqual((r.status, r.json().get("resolved_by")), (200, "hostname"), r)

    def test_a_tenant_has_at_most_100_hostnames(self):
        tenant = GATEWAY.create_tenant("hot-hostnames")
        tenant_id = tenant["tenant"]["id"]
        GATEWAY.sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
                    f"INSERT INTO tenant_hostnames (hostname, tenant_id, created_at) "
                    f"SELECT 'h' || i || '.many.example', '{tenant_id}', 0 FROM n")
        r = self.req("POST", f"/v1/admin/tenants/{tenant_id}/hostnames", {"hostname": "one-more.example"},
                     token=superadmin_token())
        self.assertProblem(r, 409, "conflict")
        self.assertEqual(GATEWAY.sql(f"SELECT COUNT(*) AS n FROM tenant_hostnames WHERE tenant_id = '{tenant_id}'")[0]["n"], 100)

    def test_a_tenant_request_reads_no_d1(self):
        """Holds an exclusive lock on the local D1 database: a request that reads D1 cannot
        complete until it is released (the API key lookup shows the lock bites), while
        JWT requests, by token and by a known slug, are answered from the Durable Object."""
        token = self.jwt(self.id_a, self.slug_a)
        for headers in ({}, {"x-tenant": self.slug_a}):
            self.assertEqual(self.req("GET", "/v1/tenant", token=token, headers=headers).status, 200)
        files = [f for f in glob.glob(str(GATEWAY.state / "v3" / "d1" / "**" / "*.sqlite"), recursive=True)
                 if not f.endswith("metadata.sqlite")]
        self.assertEqual(len(files), 1, files)
        lock = sqlite3.connect(files[0], timeout=30, isolation_level=None)
        pool = concurrent.futures.ThreadPoolExecutor(1)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            keyed = pool.submit(self.timed_request, self.key_a)
            for headers in ({}, {"x-tenant": self.slug_a}):
                r = self.req("GET", "/v1/tenant", token=token, headers=headers)
                self.assertEqual((r.status, r.json()["id"]), (200, self.id_a), r)
                self.assertIn("ratelimit", r.headers)
            status = keyed.result()
            self.assertNotEqual(status, 200, "the API-key request read D1 under the lock: the lock does not bite")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
            pool.shutdown()
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_a).status, 200)

    def timed_request(self, key):
        request = urllib.request.Request(GATEWAY.url + "/v1/tenant", headers={"authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(request, timeout=4) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return "timed out"


if __name__ == "__main__":
    unittest.main()
