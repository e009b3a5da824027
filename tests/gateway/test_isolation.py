"""The holes of the issue "Isolation first", each proven closed against the real gateway
under `wrangler dev`: relay keys are platform credentials with a tenant scope, no
principal grants more than it holds, secrets fail closed and are resealed after a key
rotation, every list is paged, and bodies are cut at the cap while they arrive."""
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import sqlite3
import unittest

from harness import ROOT, SEAL_RETIRED_KEYS, TwoTenants, seal, shared_gateway, superadmin_token

GATEWAY = None


def setUpModule():
    global GATEWAY
    GATEWAY = shared_gateway()


class Base(TwoTenants):
    PLAN = "enterprise"

    def count(self, sql):
        return GATEWAY.sql(sql)[0]["n"]

    def add_domain(self, token, domain, tenant_id):
        """A domain of the tenant, vouched for by a superadmin (hosted), with a mailbox."""
        r = self.req("POST", "/v1/mail/domains", {"domain": domain, "organization_name": "Org", "organization_type": "clinic",
                                                  "max_mailboxes": 10, "max_storage_mb": 100}, token=token)
        self.assertEqual(r.status, 201, r)
        GATEWAY.vouch(domain, tenant_id)
        r = self.req("POST", f"/v1/mail/domains/{domain}/mailboxes", {"address": f"contact@{domain}", "kind": "organizational"}, token=token)
        self.assertEqual(r.status, 201, r)


class RelayKeyTest(Base):
    def test_a_tenant_cannot_mint_a_relay_credential(self):
        r = self.req("POST", "/v1/api-keys", {"name": "relay", "role": "mail-relay"}, token=self.key_a)
        self.assertEqual(self.assertProblem(r, 400, "invalid_request")["field"], "role")
        self.assertProblem(self.req("POST", "/v1/roles", {"name": "mail-relay", "permissions": ["relay:read"]}, token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("POST", "/v1/admin/relay-keys", {"name": "mine"}, token=self.key_a), 403, "forbidden")
        self.assertProblem(self.req("GET", "/v1/admin/relay-keys", token=self.key_a), 403, "forbidden")
        self.assertEqual(self.count("SELECT COUNT(*) AS n FROM api_keys WHERE role = 'mail-relay'"), 0)
        # A tenant's owner key is no relay credential.
        self.assertProblem(self.req("GET", "/v1/relay/directory?since=0", token=self.key_a), 403, "forbidden")
        self.assertProblem(self.req("POST", "/v1/relay/usage", {"batch_id": "x", "items": []}, token=self.key_a), 403, "forbidden")

    def test_a_scoped_relay_key_reads_and_writes_only_its_tenants(self):
        domain_a, domain_b = f"{self.slug_a}.mail.example", f"{self.slug_b}.mail.example"
        self.add_domain(self.key_a, domain_a, self.id_a)
        self.add_domain(self.key_b, domain_b, self.id_b)
        everything = GATEWAY.create_relay_key("mx-all")
        dedicated = GATEWAY.create_relay_key("mx-a", tenants=[self.id_a])
        self.assertEqual(dedicated["tenants"], [self.id_a])
        self.assertTrue(dedicated["key"].startswith("rk_"))
        directory = lambda key: self.req("GET", "/v1/relay/directory?since=0", token=key).json()
        seen_all = {d["domain"] for d in directory(everything["key"])["domains"]}
        self.assertTrue({domain_a, domain_b} <= seen_all)
        scoped = directory(dedicated["key"])
        self.assertEqual({d["tenant_id"] for d in scoped["domains"]}, {self.id_a})
        self.assertEqual({m["tenant_id"] for m in scoped["mailboxes"]}, {self.id_a})
        self.assertIn(f"contact@{domain_a}", [m["address"] for m in scoped["mailboxes"]])
        # Usage: B's domain and an unknown one are refused and written nowhere; A's applies.
        usage_b = lambda: self.count(f"SELECT COUNT(*) AS n FROM mail_usage WHERE tenant_id = '{self.id_b}'")
        before_b = usage_b()
        batch = {"batch_id": os.urandom(16).hex(), "items": [
            {"domain": domain_a, "day": "2026-11-23", "messages": 2, "bytes": 20, "storage_bytes": 40},
            {"domain": domain_b, "day": "2026-11-23", "messages": 9, "bytes": 90, "storage_bytes": 90},
            {"domain": "nowhere.example", "day": "2026-11-23", "messages": 1, "bytes": 1, "storage_bytes": 1}]}
        answer = self.req("POST", "/v1/relay/usage", batch, token=dedicated["key"]).json()
        self.assertTrue(answer["applied"])
        self.assertEqual(sorted(r["domain"] for r in answer["refused"]), sorted([domain_b, "nowhere.example"]))
        self.assertEqual(usage_b(), before_b, "nothing of B was written by A's relay")
        days = self.req("GET", f"/v1/mail/domains/{domain_a}/usage", token=self.key_a).json()["days"]
        self.assertEqual(days[0]["messages"], 2)
        # The relay key is nobody in any tenant.
        self.assertProblem(self.req("GET", "/v1/tenant", token=everything["key"], headers={"x-tenant": self.slug_a}), 403, "tenant_mismatch")
        self.assertProblem(self.req("GET", "/v1/admin/tenants", token=everything["key"]), 403, "forbidden")
        # Listed without the secret; revoked at once.
        listed = self.req("GET", "/v1/admin/relay-keys?limit=200", token=superadmin_token())
        self.assertEqual(listed.status, 200, listed)
        self.assertNotIn(dedicated["key"].encode(), listed.body)
        self.assertIn(dedicated["id"], [k["id"] for k in listed.json()["relay_keys"]])
        self.assertEqual(self.req("DELETE", f"/v1/admin/relay-keys/{dedicated['id']}", token=superadmin_token()).status, 200)
        self.assertProblem(self.req("GET", "/v1/relay/directory?since=0", token=dedicated["key"]), 401, "unauthenticated")
        self.assertProblem(self.req("DELETE", f"/v1/admin/relay-keys/{dedicated['id']}", token=superadmin_token()), 404, "not_found")
        self.assertProblem(self.req("POST", "/v1/admin/relay-keys", {"name": "x", "tenants": ["t_" + "0" * 24]}, token=superadmin_token()), 400, "invalid_request")

    def test_usage_for_a_deleted_tenant_is_refused(self):
        gone = GATEWAY.create_tenant("relaydel-gone")
        domain = "gone.mail.example"
        self.add_domain(gone["owner_api_key"], domain, gone["tenant"]["id"])
        key = GATEWAY.create_relay_key("mx-del")["key"]
        self.assertEqual(self.req("DELETE", f"/v1/admin/tenants/{gone['tenant']['id']}", token=superadmin_token()).status, 200)
        batch = {"batch_id": os.urandom(16).hex(), "items": [{"domain": domain, "day": "2026-11-23", "messages": 1, "bytes": 1, "storage_bytes": 1}]}
        answer = self.req("POST", "/v1/relay/usage", batch, token=key).json()
        self.assertEqual([r["domain"] for r in answer["refused"]], [domain])
        self.assertEqual(self.count(f"SELECT COUNT(*) AS n FROM mail_usage WHERE domain = '{domain}'"), 0)

    def test_keys_of_the_old_tenant_role_stop_working(self):
        # The migration itself, on a real SQLite file: a live `mail-relay` key is revoked.
        path = pathlib.Path(GATEWAY.state) / "migration-check.sqlite"
        db = sqlite3.connect(path)
        db.executescript((ROOT / "migrations" / "0001_init.sql").read_text())
        db.execute("INSERT INTO tenants (id, slug, name, billing_email, created_at, updated_at) VALUES ('t1', 'ops', 'Ops', 'b@x.example', 0, 0)")
        db.execute("INSERT INTO api_keys (tenant_id, id, name, role, key_hash, display_prefix, created_at) VALUES ('t1', 'k1', 'relay', 'mail-relay', 'h1', 'tk_', 0)")
        db.execute("INSERT INTO api_keys (tenant_id, id, name, role, key_hash, display_prefix, created_at) VALUES ('t1', 'k2', 'app', 'viewer', 'h2', 'tk_', 0)")
        db.executescript((ROOT / "migrations" / "0002_relay_keys.sql").read_text())
        revoked = dict(db.execute("SELECT id, revoked_at IS NOT NULL FROM api_keys").fetchall())
        self.assertEqual(revoked, {"k1": 1, "k2": 0})
        db.close()
        # And a `mail-relay` key row that somehow survived gets nothing from the gateway.
        plaintext = "tk_" + "M" * 43
        digest = hashlib.sha256(plaintext.encode()).hexdigest()
        GATEWAY.sql(f"INSERT INTO api_keys (tenant_id, id, name, role, key_hash, display_prefix, created_at) "
                    f"VALUES ('{self.id_a}', 'key_{'ab' * 12}', 'old relay', 'mail-relay', '{digest}', 'tk_MMMMMMMM', 0)")
        self.assertProblem(self.req("GET", "/v1/relay/directory?since=0", token=plaintext), 403, "forbidden")
        self.assertProblem(self.req("GET", "/v1/clients", token=plaintext), 403, "forbidden")

    def test_no_domain_made_before_proofs_stays_hosted(self):
        """Migration 0006 on a real SQLite file holding mail made under 0001-0005: every
        domain becomes a pending claim with its own fresh token and a new version (relays
        receive its tombstone), and its mailboxes, keys and certificates are kept."""
        path = pathlib.Path(GATEWAY.state) / "migration-proofs.sqlite"
        db = sqlite3.connect(path)
        for name in ("0001_init.sql", "0002_relay_keys.sql", "0003_accounts.sql", "0004_mail_sending.sql", "0005_mail_certificates.sql"):
            db.executescript((ROOT / "migrations" / name).read_text())
        db.execute("INSERT INTO tenants (id, slug, name, billing_email, created_at, updated_at) VALUES ('t1', 'ops', 'Ops', 'b@x.example', 0, 0)")
        db.execute("INSERT INTO directory_versions (created_at) VALUES (0)")
        for domain in ("a.example", "b.example"):
            db.execute("INSERT INTO mail_domains (tenant_id, domain, organization_name, organization_type, status, max_mailboxes, "
                       f"max_storage_mb, version, created_at) VALUES ('t1', '{domain}', 'O', 'clinic', 'active', 5, 5, 1, 0)")
        db.execute("INSERT INTO mailboxes (tenant_id, address, domain, kind, version, created_at) VALUES ('t1', 'x@a.example', 'a.example', 'personal', 1, 0)")
        db.commit()
        db.executescript((ROOT / "migrations" / "0006_domains_proven.sql").read_text())
        rows = db.execute("SELECT domain, status, proof_token, version, proven_at FROM mail_domains ORDER BY domain").fetchall()
        self.assertEqual([(r[0], r[1], r[4]) for r in rows], [("a.example", "pending", None), ("b.example", "pending", None)])
        self.assertTrue(all(len(r[2]) == 32 and int(r[2], 16) >= 0 for r in rows))
        self.assertNotEqual(rows[0][2], rows[1][2], "a token per domain")
        newest = db.execute("SELECT MAX(version) FROM directory_versions").fetchone()[0]
        self.assertTrue(newest > 1 and all(r[3] == newest for r in rows), "a new version, so relays hear of it")
        self.assertEqual(db.execute("SELECT address FROM mailboxes").fetchall(), [("x@a.example",)])
        # Two tenants may now prepare the same address on a name they both claim; one holds it.
        db.execute("INSERT INTO tenants (id, slug, name, billing_email, created_at, updated_at) VALUES ('t2', 'two', 'Two', 'b@y.example', 0, 0)")
        db.execute("INSERT INTO mail_domains (tenant_id, domain, organization_name, organization_type, max_mailboxes, max_storage_mb, "
                   "version, created_at, proof_token) VALUES ('t2', 'a.example', 'O', 'clinic', 5, 5, 3, 0, 'x')")
        db.execute("INSERT INTO mailboxes (tenant_id, address, domain, kind, version, created_at) VALUES ('t2', 'x@a.example', 'a.example', 'personal', 3, 0)")
        db.execute("UPDATE mail_domains SET status = 'active' WHERE tenant_id = 't1'")
        with self.assertRaises(sqlite3.IntegrityError):
            db.execute("UPDATE mail_domains SET status = 'active' WHERE tenant_id = 't2'")
        db.close()


class GrantTest(Base):
    """Every granting role × every role it might grant × every grant endpoint, against the
    rule of tenantry-core's rbac (written out here, not computed by it)."""

    TARGETS = ["owner", "admin", "manager", "employee", "viewer", "reader", "everything"]
    # y: may grant, n: may not; the granters without api-keys/members/roles permissions
    # are refused before the rule (403 as well).
    EXPECTED = {
        "owner":     "yyyyyyy",
        "admin":     "nyyyyyn",
        "keymaster": "nnnnnyn",
        "manager":   "nnnnnnn",
        "employee":  "nnnnnnn",
        "viewer":    "nnnnnnn",
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        owner = cls.key_a
        for name, permissions in [("reader", ["clients:read"]), ("everything", ["*"]),
                                  ("keymaster", ["api-keys:*", "members:*", "roles:*", "clients:read"])]:
            r = GATEWAY.request("POST", "/v1/roles", {"name": name, "permissions": permissions}, token=owner)
            assert r.status == 201, r
        cls.keys = {"owner": owner}
        for role in ["admin", "keymaster", "manager", "employee", "viewer"]:
            r = GATEWAY.request("POST", "/v1/api-keys", {"name": role, "role": role}, token=owner)
            assert r.status == 201, r
            cls.keys[role] = r.json()["key"]
        roles = GATEWAY.request("GET", "/v1/roles", token=owner).json()["roles"]
        cls.permissions = {r["name"]: r["permissions"] for r in roles}
        cls.serial = 0

    def next_name(self):
        GrantTest.serial += 1
        return f"g{GrantTest.serial}"

    def rows(self):
        """The tenant's keys, members and roles, read back through the owner's API."""
        def listing(path, member):
            r = self.req("GET", path, token=self.key_a)
            self.assertEqual(r.status, 200, r)
            return sorted(json.dumps(x, sort_keys=True) for x in r.json()[member])
        return (listing("/v1/api-keys?limit=200", "api_keys"), listing("/v1/members?limit=200", "members"),
                listing("/v1/roles", "roles"))

    def member_with_role(self, role):
        r = self.req("POST", "/v1/members", {"email": f"{self.next_name()}@people.example", "role": role}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        return r.json()["user_id"]

    def test_every_role_grants_only_what_it_holds(self):
        for granter, expected in self.EXPECTED.items():
            token = self.keys[granter]
            for target, allowed in zip(self.TARGETS, expected):
                allowed = allowed == "y"
                subject = self.member_with_role("reader")
                attempts = {
                    "api key": lambda: self.req("POST", "/v1/api-keys", {"name": "k", "role": target}, token=token),
                    "new member": lambda: self.req("POST", "/v1/members", {"email": f"{self.next_name()}@people.example", "role": target}, token=token),
                    "member role": lambda: self.req("PATCH", f"/v1/members/{subject}", {"role": target}, token=token),
                    "custom role": lambda: self.req("POST", "/v1/roles", {"name": self.next_name(), "permissions": self.permissions[target]}, token=token),
                }
                for endpoint, attempt in attempts.items():
                    before = self.rows()
                    r = attempt()
                    with self.subTest(granter=granter, target=target, endpoint=endpoint):
                        if allowed:
                            self.assertIn(r.status, (200, 201), r)
                        else:
                            self.assertProblem(r, 403, "forbidden")
                            self.assertEqual(self.rows(), before, "a refused grant writes nothing")

    def test_an_admin_cannot_raise_itself_or_unseat_an_owner(self):
        admin = self.keys["admin"]
        self.assertEqual(self.assertProblem(self.req("POST", "/v1/api-keys", {"name": "up", "role": "owner"}, token=admin), 403, "forbidden")["permission"], "members:owner")
        self.assertEqual(self.assertProblem(self.req("POST", "/v1/roles", {"name": "root", "permissions": ["*"]}, token=admin), 403, "forbidden")["permission"], "*")
        self.assertProblem(self.req("POST", "/v1/roles", {"name": "exporter", "permissions": ["tenant:export"]}, token=admin), 403, "forbidden")
        owner_id = self.a["owner"]["user_id"]
        self.assertProblem(self.req("PATCH", f"/v1/members/{owner_id}", {"role": "viewer"}, token=admin), 403, "forbidden")
        self.assertProblem(self.req("DELETE", f"/v1/members/{owner_id}", token=admin), 403, "forbidden")
        self.assertProblem(self.req("GET", "/v1/export", token=admin), 403, "forbidden")
        owner_keys = [k for k in self.req("GET", "/v1/api-keys?limit=200", token=self.key_a).json()["api_keys"]
                      if k["role"] == "owner" and k["revoked_at"] is None]
        self.assertTrue(owner_keys)
        self.assertProblem(self.req("DELETE", f"/v1/api-keys/{owner_keys[0]['id']}", token=admin), 403, "forbidden")
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_a).status, 200, "the owner's key still works")
        # A superadmin grants anything.
        r = self.req("POST", "/v1/api-keys", {"name": "by-platform", "role": "owner"}, token=superadmin_token(), headers={"x-tenant": self.slug_a})
        self.assertEqual(r.status, 201, r)


class SecretsFailClosedTest(Base):
    WHATSAPP = {"phone_number_id": "106540352242999", "verify_token": "verify-token-1", "app_secret": "app-secret-1",
                "access_token": "access-token-1"}

    def sealed(self, tenant_id):
        row = GATEWAY.sql(f"SELECT sealed FROM integrations WHERE tenant_id = '{tenant_id}' AND kind = 'whatsapp'")[0]
        return json.loads(row["sealed"])

    def set_sealed(self, tenant_id, sealed):
        GATEWAY.sql(f"UPDATE integrations SET sealed = '{json.dumps(sealed)}' WHERE tenant_id = '{tenant_id}' AND kind = 'whatsapp'")

    def post_webhook(self, tenant_id, secret):
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": self.WHATSAPP["phone_number_id"]},
            "messages": [{"from": "33600000000", "id": "wamid." + os.urandom(8).hex(), "timestamp": "1700000000", "type": "text",
                          "text": {"body": "forged"}}]}}]}]}).encode()
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        return self.req("POST", f"/webhook/whatsapp/{tenant_id}", raw=body, headers={"x-hub-signature-256": signature})

    def test_an_unopenable_app_secret_refuses_every_webhook(self):
        self.assertEqual(self.req("PUT", "/v1/integrations/whatsapp", self.WHATSAPP, token=self.key_a).status, 200)
        self.assertEqual(self.post_webhook(self.id_a, b"app-secret-1").status, 200)
        # A master-key rotation that forgot SEAL_RETIRED_KEYS: sealed under a key nobody has.
        sealed = self.sealed(self.id_a)
        sealed["app_secret"] = seal(self.id_a, "whatsapp.app_secret", "app-secret-1", "k0", "99" * 32)
        self.set_sealed(self.id_a, sealed)
        stored = lambda: self.count(f"SELECT COUNT(*) AS n FROM messages WHERE tenant_id = '{self.id_a}'")
        before = stored()
        for key in (b"", b"app-secret-1", b"anything"):
            body = self.assertProblem(self.post_webhook(self.id_a, key), 500, "misconfigured")
            self.assertNotIn("app-secret-1", json.dumps(body))
        self.assertEqual(stored(), before, "nothing forged was stored")
        self.assertIn(f"tenant {self.id_a} integration whatsapp field app_secret", GATEWAY.log())
        self.assertNotIn("app-secret-1", GATEWAY.log())

    def test_reseal_moves_retired_values_to_the_current_key_once(self):
        self.assertEqual(self.req("PUT", "/v1/integrations/whatsapp", {**self.WHATSAPP, "phone_number_id": "106540352242998"}, token=self.key_b).status, 200)
        (retired_id, retired_hex), = SEAL_RETIRED_KEYS.items()
        old = {field: seal(self.id_b, f"whatsapp.{field}", self.WHATSAPP[field], retired_id, retired_hex)
               for field in ("verify_token", "app_secret", "access_token")}
        self.set_sealed(self.id_b, old)
        self.assertEqual(self.post_webhook(self.id_b, b"app-secret-1").status, 200, "the retired key still opens")
        self.assertProblem(self.req("POST", "/v1/admin/reseal", token=self.key_b), 403, "forbidden")
        first = self.req("POST", "/v1/admin/reseal", token=superadmin_token())
        self.assertEqual(first.status, 200, first)
        report = first.json()
        self.assertGreaterEqual(report["resealed"], 3)
        self.assertTrue(all(v.startswith("v1.k2.") for v in self.sealed(self.id_b).values()))
        self.assertNotIn(b"app-secret-1", first.body)
        self.assertEqual(self.post_webhook(self.id_b, b"app-secret-1").status, 200, "resealed values open")
        second = self.req("POST", "/v1/admin/reseal", token=superadmin_token()).json()
        self.assertEqual(second["resealed"], 0, "idempotent")
        self.assertEqual(second["scanned"], second["current"] + second["unopenable"])


class PagingTest(Base):
    def test_every_list_pages_with_a_cursor(self):
        for i in range(5):
            self.assertEqual(self.req("POST", "/v1/clients", {"name": f"Client {i}"}, token=self.key_a).status, 201)
        seen, cursor = [], None
        while True:
            r = self.req("GET", "/v1/clients?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=self.key_a).json()
            self.assertLessEqual(len(r["clients"]), 2)
            seen += [c["id"] for c in r["clients"]]
            cursor = r["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(len(seen), 5)
        self.assertEqual(len(set(seen)), 5)
        # A cursor names a position, never a tenant: B's list with A's cursor is B's.
        first = self.req("GET", "/v1/clients?limit=1", token=self.key_a).json()
        self.assertEqual(self.req("GET", f"/v1/clients?cursor={first['next_cursor']}", token=self.key_b).json()["clients"], [])
        for query, field in [("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("cursor=nope", "cursor")]:
            self.assertEqual(self.assertProblem(self.req("GET", f"/v1/clients?{query}", token=self.key_a), 400, "invalid_request")["field"], field)
        for path, member in [("/v1/members", "members"), ("/v1/api-keys", "api_keys"), ("/v1/audit", "entries"),
                             ("/v1/conversations", "conversations"), ("/v1/appointments", "appointments"),
                             ("/v1/mail/domains", "domains")]:
            r = self.req("GET", f"{path}?limit=1", token=self.key_a)
            self.assertEqual(r.status, 200, (path, r))
            self.assertLessEqual(len(r.json()[member]), 1, path)
            self.assertIn("next_cursor", r.json(), path)
        r = self.req("GET", "/v1/admin/tenants?limit=1", token=superadmin_token()).json()
        self.assertEqual(len(r["tenants"]), 1)
        self.assertIsNotNone(r["next_cursor"])

    def test_large_tenants_export_and_sync_in_pages(self):
        domain = f"{self.slug_b}.bulk.example"
        r = self.req("POST", "/v1/mail/domains", {"domain": domain, "organization_name": "Bulk", "organization_type": "clinic",
                                                  "max_mailboxes": 10, "max_storage_mb": 100}, token=self.key_b)
        self.assertEqual(r.status, 201, r)
        GATEWAY.vouch(domain, self.id_b)
        # 2,500 mailboxes and 1,200 clients, written straight into D1 as a big tenant's would be.
        GATEWAY.sql(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) "
                    f"INSERT INTO mailboxes (tenant_id, address, domain, kind, quota_mb, status, version, deleted, created_at) "
                    f"SELECT '{self.id_b}', 'box' || i || '@{domain}', '{domain}', 'personal', -1, 'active', "
                    f"(SELECT MAX(version) FROM directory_versions), 0, 0 FROM n")
        GATEWAY.sql(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) "
                    f"INSERT INTO clients (tenant_id, id, name, created_at, updated_at) "
                    f"SELECT '{self.id_b}', printf('cli_%024x', i), 'Bulk ' || i, 0, 0 FROM n")
        key = GATEWAY.create_relay_key("bulk", tenants=[self.id_b])["key"]
        pages, addresses, cursor = 0, [], None
        while True:
            page = self.req("GET", "/v1/relay/directory?since=0" + (f"&cursor={cursor}" if cursor else ""), token=key).json()
            pages += 1
            self.assertLessEqual(len(page["mailboxes"]), 1000)
            addresses += [m["address"] for m in page["mailboxes"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(len(addresses), len(set(addresses)))
        self.assertEqual(len([a for a in addresses if a.startswith("box")]), 2500)
        export = self.req("GET", "/v1/export", token=self.key_b)
        self.assertEqual(export.status, 200, export)
        document = export.json()
        self.assertTrue(document["complete"])
        self.assertEqual(len([c for c in document["clients"] if c["name"].startswith("Bulk ")]), 1200)
        self.assertEqual(len([m for m in document["mailboxes"] if m["address"].startswith("box")]), 2500)
        self.assertEqual(document["tenant"]["id"], self.id_b)

    def test_a_chunked_body_is_cut_at_the_cap(self):
        before = self.count(f"SELECT COUNT(*) AS n FROM clients WHERE tenant_id = '{self.id_a}'")
        connection = http.client.HTTPConnection("127.0.0.1", GATEWAY.port, timeout=30)
        chunks = (b'{"name": "' + b"x" * 8192 for _ in range(16))
        connection.request("POST", "/v1/clients", body=chunks, encode_chunked=True,
                           headers={"content-type": "application/json", "authorization": f"Bearer {self.key_a}"})
        response = connection.getresponse()
        body = json.loads(response.read())
        self.assertEqual((response.status, body["code"]), (413, "payload_too_large"))
        connection.close()
        self.assertEqual(self.count(f"SELECT COUNT(*) AS n FROM clients WHERE tenant_id = '{self.id_a}'"), before)

    def test_integers_d1_cannot_hold_are_refused(self):
        # Found by Schemathesis: a quota of 2^60 was stored as a double and every later
        # read of the domain answered 500.
        r = self.req("POST", "/v1/mail/domains", {"domain": f"{self.slug_a}.huge.example", "organization_name": "H",
                                                  "organization_type": "clinic", "max_mailboxes": 2 ** 60,
                                                  "max_storage_mb": 10}, token=self.key_a)
        self.assertEqual(self.assertProblem(r, 400, "invalid_request")["field"], "max_mailboxes")
        self.assertProblem(self.req("GET", f"/v1/mail/domains/{self.slug_a}.huge.example/mailboxes", token=self.key_a), 404, "not_found")
        r = self.req("POST", "/v1/api-keys", {"name": "k", "role": "viewer", "expires_at": 2 ** 62}, token=self.key_a)
        self.assertEqual(self.assertProblem(r, 400, "invalid_request")["field"], "expires_at")

    def test_healthz_authenticates_nobody(self):
        self.assertEqual(self.req("GET", "/healthz", token="tk_" + "Z" * 43).status, 200)
        self.assertEqual(self.req("GET", "/healthz", token="not-a-token").status, 200)


if __name__ == "__main__":
    unittest.main()
