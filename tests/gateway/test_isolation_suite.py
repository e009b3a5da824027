"""The isolation suite, driven by openapi.yaml: every operation on a tenant-scoped path is
called as tenant B against tenant A, in every way B could name A (A by header, by path, by
subdomain, by query, by id header; B's JWT naming A; A's resource ids with B's own
credentials), and must return nothing of A and change nothing of A (D1 read back). An
operation added to openapi.yaml without a case here fails the suite."""
import hashlib
import hmac
import json
import os
import unittest

import yaml

from harness import ROOT, mint_jwt, shared_gateway, superadmin_token

GATEWAY = None
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
METHODS = ("get", "post", "put", "patch", "delete")
# Platform paths: not tenant-scoped, each with its own tests (superadmin, relay keys, the
# account's own routes in test_auth.py).
PLATFORM_PREFIXES = ("/v1/admin", "/v1/relay", "/v1/auth")
MARKER = "ALPHA-ONLY-MARKER"


def self_signed_upload(name, organization):
    """A valid certificate upload for `name` (self-signed, so it needs no chain)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    return {"certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "private_key_pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode()}


def tenant_scoped_operations():
    return {(method, template) for template, item in SPEC["paths"].items()
            if template.startswith("/v1/") and not template.startswith(PLATFORM_PREFIXES)
            for method in METHODS if method in item}


def setUpModule():
    global GATEWAY
    GATEWAY = shared_gateway()


class IsolationSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        req = GATEWAY.request
        cls.a = GATEWAY.create_tenant("iso-alpha", plan="enterprise")
        cls.b = GATEWAY.create_tenant("iso-bravo", plan="enterprise")
        key = cls.a["owner_api_key"]
        cls.id_a, cls.slug_a = cls.a["tenant"]["id"], cls.a["tenant"]["slug"]
        cls.id_b, cls.slug_b = cls.b["tenant"]["id"], cls.b["tenant"]["slug"]
        ok = lambda r, status=(200, 201): (r.status in status) or (_ for _ in ()).throw(AssertionError(r))
        client = req("POST", "/v1/clients", {"name": MARKER + " client", "email": "alpha@patients.example"}, token=key)
        ok(client)
        appointment = req("POST", "/v1/appointments", {"client_id": client.json()["id"], "starts_at": 1900000000, "ends_at": 1900003600,
                                                       "notes": MARKER}, token=key)
        ok(appointment)
        api_key = req("POST", "/v1/api-keys", {"name": MARKER, "role": "viewer"}, token=key)
        ok(api_key)
        member = req("POST", "/v1/members", {"email": "alpha.member@people.example", "role": "viewer"}, token=key)
        ok(member)
        ok(req("POST", "/v1/roles", {"name": "alpha-role", "permissions": ["clients:read"]}, token=key))
        ok(req("PATCH", "/v1/settings", {"display_name": MARKER}, token=key))
        domain = "iso-alpha.mail.example"
        ok(req("POST", "/v1/mail/domains", {"domain": domain, "organization_name": MARKER, "organization_type": "clinic",
                                            "max_mailboxes": 5, "max_storage_mb": 10}, token=key))
        ok(req("POST", f"/v1/mail/domains/{domain}/mailboxes", {"address": f"alpha@{domain}", "kind": "personal"}, token=key))
        app_password = req("POST", f"/v1/mail/domains/{domain}/mailboxes/alpha@{domain}/passwords", {"label": MARKER}, token=key)
        ok(app_password)
        ok(req("POST", f"/v1/mail/domains/{domain}/dkim", {"algorithm": "ed25519"}, token=key))
        ok(req("PUT", f"/v1/mail/domains/{domain}/certificate", self_signed_upload(f"mx.{domain}", MARKER), token=key))
        whatsapp = {"phone_number_id": "1234509876", "verify_token": "alpha-verify", "app_secret": "alpha-app-secret",
                    "access_token": "alpha-access"}
        ok(req("PUT", "/v1/integrations/whatsapp", whatsapp, token=key))
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": "1234509876"},
            "contacts": [{"wa_id": "33611111111", "profile": {"name": MARKER}}],
            "messages": [{"from": "33611111111", "id": "wamid.alpha1", "timestamp": "1700000000", "type": "text",
                          "text": {"body": MARKER}}]}}]}]}).encode()
        signature = "sha256=" + hmac.new(b"alpha-app-secret", body, hashlib.sha256).hexdigest()
        ok(req("POST", f"/webhook/whatsapp/{cls.id_a}", raw=body, headers={"x-hub-signature-256": signature}))
        conversation = req("GET", "/v1/conversations", token=key).json()["conversations"][0]["id"]
        invitation = req("POST", "/v1/invitations", {"email": "alpha.invitee@people.example", "role": "viewer"}, token=key)
        ok(invitation)
        # A's ids, as B would guess or steal them.
        cls.ids = {"id": client.json()["id"], "user_id": member.json()["user_id"], "domain": domain,
                   "address": f"alpha@{domain}", "kind": "whatsapp", "path": "api/v1/Account"}
        cls.case_ids = {
            ("delete", "/v1/api-keys/{id}"): {"id": api_key.json()["id"]},
            ("patch", "/v1/appointments/{id}"): {"id": appointment.json()["id"]},
            ("get", "/v1/conversations/{id}/messages"): {"id": conversation},
            ("delete", "/v1/invitations/{id}"): {"id": invitation.json()["id"]},
            ("post", "/v1/invitations/{id}/resend"): {"id": invitation.json()["id"]},
            ("delete", "/v1/mail/domains/{domain}/mailboxes/{address}/passwords/{id}"): {"id": app_password.json()["id"]},
        }
        cls.owner_b = cls.b["owner_api_key"]
        cls.jwt_b = mint_jwt({"sub": cls.b["owner"]["user_id"], "tenant_id": cls.id_b, "tenant_role": "owner",
                              "tenants": [{"id": cls.id_b, "slug": cls.slug_b, "role": "owner"}]})

    # Bodies B sends: valid requests, so that only isolation can refuse them.
    BODIES = {
        ("post", "/v1/api-keys"): {"name": "b", "role": "viewer"},
        ("post", "/v1/members"): {"email": "bravo@people.example", "role": "viewer"},
        ("post", "/v1/invitations"): {"email": "bravo.invitee@people.example", "role": "viewer"},
        ("patch", "/v1/members/{user_id}"): {"role": "manager"},
        ("post", "/v1/roles"): {"name": "bravo-role", "permissions": ["clients:read"]},
        ("patch", "/v1/settings"): {"display_name": "BRAVO WAS HERE"},
        ("post", "/v1/clients"): {"name": "Bravo client"},
        ("patch", "/v1/clients/{id}"): {"name": "BRAVO WAS HERE"},
        ("post", "/v1/appointments"): {"client_id": "cli_" + "0" * 24, "starts_at": 1900000000, "ends_at": 1900003600},
        ("patch", "/v1/appointments/{id}"): {"status": "cancelled"},
        ("put", "/v1/integrations/{kind}"): {"phone_number_id": "999", "verify_token": "b", "app_secret": "b", "access_token": "b"},
        ("post", "/v1/mail/domains"): {"domain": "bravo.mail.example", "organization_name": "B", "organization_type": "clinic",
                                       "max_mailboxes": 1, "max_storage_mb": 1},
        ("patch", "/v1/mail/domains/{domain}"): {"status": "suspended"},
        ("post", "/v1/mail/domains/{domain}/mailboxes"): {"address": "bravo@iso-alpha.mail.example", "kind": "personal"},
        ("post", "/v1/mail/domains/{domain}/mailboxes/{address}/passwords"): {"label": "bravo"},
        ("post", "/v1/mail/domains/{domain}/dkim"): {"algorithm": "ed25519"},
        ("put", "/v1/mail/domains/{domain}/certificate"): self_signed_upload("mx.iso-alpha.mail.example", "BRAVO WAS HERE"),
        ("get", "/v1/crm/{path}"): None, ("post", "/v1/crm/{path}"): {"name": "B"}, ("put", "/v1/crm/{path}"): {"name": "B"},
        ("patch", "/v1/crm/{path}"): {"name": "B"}, ("delete", "/v1/crm/{path}"): None,
    }
    # Operations whose path parameters name nothing of A (B's own integration, B's CRM).
    NOT_AN_ID = {"kind", "path"}
    CASES = {
        ("get", "/v1/tenant"), ("get", "/v1/usage"), ("get", "/v1/api-keys"), ("post", "/v1/api-keys"),
        ("delete", "/v1/api-keys/{id}"), ("get", "/v1/members"), ("post", "/v1/members"),
        ("patch", "/v1/members/{user_id}"), ("delete", "/v1/members/{user_id}"), ("get", "/v1/roles"),
        ("post", "/v1/roles"), ("get", "/v1/settings"), ("patch", "/v1/settings"), ("get", "/v1/audit"),
        ("get", "/v1/clients"), ("post", "/v1/clients"), ("get", "/v1/clients/{id}"), ("patch", "/v1/clients/{id}"),
        ("delete", "/v1/clients/{id}"), ("get", "/v1/appointments"), ("post", "/v1/appointments"),
        ("patch", "/v1/appointments/{id}"), ("get", "/v1/integrations"), ("put", "/v1/integrations/{kind}"),
        ("get", "/v1/conversations"), ("get", "/v1/conversations/{id}/messages"), ("get", "/v1/export"),
        ("get", "/v1/mail/domains"), ("post", "/v1/mail/domains"), ("patch", "/v1/mail/domains/{domain}"),
        ("post", "/v1/mail/domains/{domain}/verify"),
        ("get", "/v1/mail/domains/{domain}/mailboxes"), ("post", "/v1/mail/domains/{domain}/mailboxes"),
        ("delete", "/v1/mail/domains/{domain}/mailboxes/{address}"), ("get", "/v1/mail/domains/{domain}/usage"),
        ("get", "/v1/crm/{path}"), ("post", "/v1/crm/{path}"), ("put", "/v1/crm/{path}"), ("patch", "/v1/crm/{path}"),
        ("delete", "/v1/crm/{path}"), ("get", "/v1/invitations"), ("post", "/v1/invitations"),
        ("delete", "/v1/invitations/{id}"), ("post", "/v1/invitations/{id}/resend"),
        ("get", "/v1/mail/domains/{domain}/mailboxes/{address}/passwords"),
        ("post", "/v1/mail/domains/{domain}/mailboxes/{address}/passwords"),
        ("delete", "/v1/mail/domains/{domain}/mailboxes/{address}/passwords/{id}"),
        ("get", "/v1/mail/domains/{domain}/dkim"), ("post", "/v1/mail/domains/{domain}/dkim"),
        ("get", "/v1/mail/domains/{domain}/records"),
        ("get", "/v1/mail/domains/{domain}/certificate"), ("put", "/v1/mail/domains/{domain}/certificate"),
        ("delete", "/v1/mail/domains/{domain}/certificate"),
    }

    def snapshot(self):
        """Everything A owns, read straight from D1."""
        tables = {"clients": "id, name, email, phone, updated_at", "appointments": "id, status, notes, updated_at",
                  "api_keys": "id, role, revoked_at", "memberships": "user_id, role", "custom_roles": "name, permissions",
                  "settings": "key, value", "integrations": "kind, sealed, updated_at", "conversations": "id, contact_name",
                  "messages": "message_id, body", "mail_domains": "domain, status, version, deleted, proof_token, proof_checked_at, vouched_by",
                  "mailboxes": "address, status, version, deleted", "audit_log": "id", "mail_usage": "domain, day, messages",
                  "invitations": "id, email, role, token_hash, expires_at, revoked_at", "outbound_messages": "id, recipient",
                  "mail_app_passwords": "id, label, hash, deleted", "mail_dkim_keys": "id, state, private_key",
                  "mail_certificates": "domain, id, subject, serial, private_key, deleted"}
        # One SELECT of scalar subqueries (D1 limits compound SELECTs).
        sql = "SELECT " + ", ".join(
            f"(SELECT COUNT(*) || ':' || IFNULL(group_concat({' || '.join(f'quote({c.strip()})' for c in columns.split(','))}), '') "
            f"FROM (SELECT * FROM {table} WHERE tenant_id = '{self.id_a}' ORDER BY 1, 2)) AS {table}"
            for table, columns in tables.items())
        return GATEWAY.sql(sql)

    def path_for(self, method, template, ids):
        path = template
        for name, value in {**self.ids, **ids}.items():
            path = path.replace("{" + name + "}", value)
        return path

    def test_every_tenant_scoped_operation_has_cases(self):
        documented = tenant_scoped_operations()
        self.assertEqual(sorted(documented - self.CASES), [], "operations of openapi.yaml without isolation cases")
        self.assertEqual(sorted(self.CASES - documented), [], "cases for operations openapi.yaml no longer has")

    def test_tenant_b_gets_nothing_of_tenant_a(self):
        before = self.snapshot()
        for method, template in sorted(self.CASES):
            path = self.path_for(method, template, self.case_ids.get((method, template), {}))
            body = self.BODIES.get((method, template))
            # Every way B can name A; resolution refuses before any handler runs.
            attempts = [
                ("B's key, A by X-Tenant", path, self.owner_b, {"x-tenant": self.slug_a}),
                ("B's key, A by X-Tenant-ID", path, self.owner_b, {"x-tenant-id": self.id_a}),
                ("B's key, A by path", path.replace("/v1/", f"/v1/t/{self.slug_a}/", 1), self.owner_b, {}),
                ("B's key, A by subdomain", path, self.owner_b, {"host": f"{self.slug_a}.app.example"}),
                ("B's key, A by query", path + ("&" if "?" in path else "?") + f"tenant={self.slug_a}", self.owner_b, {}),
                ("B's JWT, A by X-Tenant", path, self.jwt_b, {"x-tenant": self.slug_a}),
            ]
            for label, attempt_path, token, headers in attempts:
                r = GATEWAY.request(method.upper(), attempt_path, body, token=token, headers=headers)
                with self.subTest(operation=f"{method} {template}", attack=label):
                    self.assertEqual(r.status, 403, r)
                    self.assertEqual(r.json()["code"], "tenant_mismatch", r)
                    self.assertNotIn(MARKER.encode(), r.body)
            # A's ids with B's own credentials (B's tenant resolves): nothing of A.
            names = {n.strip("{}") for n in template.split("/") if n.startswith("{")}
            r = GATEWAY.request(method.upper(), path, body, token=self.owner_b)
            with self.subTest(operation=f"{method} {template}", attack="A's ids, B's credentials"):
                self.assertNotIn(MARKER.encode(), r.body)
                self.assertNotIn(self.id_a.encode(), r.body)
                if names - self.NOT_AN_ID:
                    self.assertIn(r.status, (403, 404), r)
        self.assertEqual(self.snapshot(), before, "B changed nothing of A")


if __name__ == "__main__":
    unittest.main()
