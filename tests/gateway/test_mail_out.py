"""Mail goes out, end to end: app passwords and DKIM keys made by the mail Worker (on the
local D1, with WebCrypto), replicated to the real relay, used by smtplib over STARTTLS,
signed by the relay and verified by dkimpy with the TXT record the API answers; plan
sending limits changed by the admin API reach the relay."""
import base64
import pathlib
import smtplib
import ssl
import tempfile
import time
import unittest

from harness import RELAY_SEAL_KEY, TwoTenants, relay_module, superadmin_token


relay_harness, remote_mx = relay_module("harness"), relay_module("remote_mx")
wait_for = relay_harness.wait_for


class MailOutTest(TwoTenants):
    PLAN = "professional"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.domain = f"{cls.slug_a}.out.example"
        r = cls.gateway.request("POST", "/v1/mail/domains", {"domain": cls.domain, "organization_name": "Out", "organization_type": "clinic",
                                                              "max_mailboxes": 20, "max_storage_mb": 50}, token=cls.key_a)
        assert r.status == 201, r
        cls.gateway.vouch(cls.domain, cls.id_a)
        cls.ann, cls.bob = f"ann@{cls.domain}", f"bob@{cls.domain}"
        for address in (cls.ann, cls.bob):
            r = cls.gateway.request("POST", f"/v1/mail/domains/{cls.domain}/mailboxes", {"address": address, "kind": "personal"}, token=cls.key_a)
            assert r.status == 201, r
        cls.remote = remote_mx.RemoteMx()
        cls.certs = tempfile.mkdtemp(prefix="mail-out-certs-")
        cls.ca = relay_harness.make_certificates(cls.certs, ["default"])
        key = cls.gateway.create_relay_key("mail-out")["key"]
        cls.relay = relay_harness.RelayProcess(cls.gateway.url, api_key=key, cert_dir=cls.certs, seal_key=RELAY_SEAL_KEY,
                                               outbound={"transport": {"remote.test": f"127.0.0.1:{cls.remote.port}"}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.remote.stop()

    def passwords(self, address=None, token=None):
        return f"/v1/mail/domains/{self.domain}/mailboxes/{address or self.ann}/passwords"

    def new_password(self, label="laptop", address=None):
        r = self.req("POST", self.passwords(address), {"label": label}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def wait_synced(self):
        """Until the relay holds the directory version the gateway is at now."""
        self.relay.wait_for_version(self.gateway.sql("SELECT MAX(version) AS v FROM directory_versions")[0]["v"])

    def client(self, user, password):
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        client = smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20)
        client.starttls(context=context)
        client.login(user, password)
        return client

    def test_app_passwords_are_shown_once_and_listed_without_secret(self):
        made = self.new_password("phone")
        self.assertRegex(made["password"], r"^[a-z2-9]{4}(-[a-z2-9]{4}){5}$")
        listed = self.req("GET", self.passwords(), token=self.key_a)
        self.assertEqual(listed.status, 200, listed)
        self.assertNotIn(made["password"].encode(), listed.body)
        self.assertNotIn(b"argon2", listed.body)
        entry = [p for p in listed.json()["passwords"] if p["id"] == made["id"]][0]
        self.assertEqual((entry["label"], entry["last_used_at"]), ("phone", None))
        self.assertProblem(self.req("POST", self.passwords(), {}, token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("POST", self.passwords(), {"label": ""}, token=self.key_a), 400, "invalid_request")
        self.assertProblem(self.req("POST", self.passwords(f"nobody@{self.domain}"), {"label": "x"}, token=self.key_a), 404, "not_found")
        self.assertProblem(self.req("DELETE", self.passwords() + "/ap_nope", token=self.key_a), 400, "invalid_request")

    def test_another_tenant_reaches_nothing(self):
        made = self.new_password("isolated")
        for method, path, body in (("GET", self.passwords(), None), ("POST", self.passwords(), {"label": "x"}),
                                   ("DELETE", self.passwords() + "/" + made["id"], None),
                                   ("GET", f"/v1/mail/domains/{self.domain}/dkim", None),
                                   ("POST", f"/v1/mail/domains/{self.domain}/dkim", {"algorithm": "ed25519"})):
            r = self.req(method, path, body, token=self.key_b)
            self.assertProblem(r, 404, "not_found")
            # Naming tenant A while holding B's key is refused before any Worker runs.
            r = self.req(method, f"/v1/t/{self.slug_a}{path[len('/v1'):]}", body, token=self.key_b)
            self.assertProblem(r, 403, "tenant_mismatch")
        listed = self.req("GET", self.passwords(), token=self.key_a).json()["passwords"]
        self.assertIn(made["id"], [p["id"] for p in listed], "B's DELETE removed nothing")

    def test_submission_delivers_signed_mail_verified_by_dkimpy(self):
        import dkim
        r = self.req("POST", f"/v1/mail/domains/{self.domain}/dkim", {"algorithm": "rsa"}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        record = r.json()["dns"]
        self.assertEqual((record["type"], record["name"]), ("TXT", f"{r.json()['selector']}._domainkey.{self.domain}"))
        self.assertTrue(record["value"].startswith("v=DKIM1; k=rsa; p="))
        self.assertNotIn(b"PRIVATE", r.body)
        made = self.new_password("mail client")
        self.wait_synced()
        with self.client(self.ann, made["password"]) as client:
            message = (f"From: Ann <{self.ann}>\r\nTo: x@remote.test, {self.bob}\r\nSubject: signed\r\n"
                       f"Date: Tue, 24 Nov 2026 05:00:00 +0000\r\nMessage-ID: <s1@{self.domain}>\r\n\r\nBonjour.\r\n").encode()
            self.assertEqual(client.sendmail(self.ann, ["x@remote.test", self.bob], message), {})
        got = wait_for(lambda: [m for m in self.remote.received_by("x@remote.test") if b"Subject: signed" in m[2]], what="the remote copy")
        data = got[0][2]
        self.assertIn(f"d={self.domain}".encode(), data)
        dns = lambda name, timeout=5: record["value"].encode() if name.decode().rstrip(".") == record["name"] else None
        self.assertTrue(dkim.verify(data, dnsfunc=dns), data[:800])
        self.assertFalse(dkim.verify(data.replace(b"Bonjour.", b"Bonsoir."), dnsfunc=dns))
        wait_for(lambda: self.relay.messages(self.bob), what="the local copy")
        # The relay reports the use; the API shows it.
        wait_for(lambda: [p for p in self.req("GET", self.passwords(), token=self.key_a).json()["passwords"]
                          if p["id"] == made["id"] and p["last_used_at"]], what="last_used_at")

    def test_a_revoked_password_stops_working_after_a_sync(self):
        made = self.new_password("old phone")
        self.wait_synced()
        self.client(self.ann, made["password"]).quit()
        r = self.req("DELETE", self.passwords() + "/" + made["id"], token=self.key_a)
        self.assertEqual(r.status, 204, r)
        self.wait_synced()
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            self.client(self.ann, made["password"])
        self.assertEqual(e.exception.smtp_code, 535)

    def test_a_mailbox_made_again_does_not_inherit_app_passwords(self):
        address = f"cleo@{self.domain}"
        boxes = f"/v1/mail/domains/{self.domain}/mailboxes"
        self.assertEqual(self.req("POST", boxes, {"address": address, "kind": "personal"}, token=self.key_a).status, 201)
        old = self.new_password("former owner", address=address)
        self.assertEqual(self.req("DELETE", f"{boxes}/{address}", token=self.key_a).status, 204)
        self.assertEqual(self.req("POST", boxes, {"address": address, "kind": "personal"}, token=self.key_a).status, 201)
        self.assertEqual(self.req("GET", self.passwords(address), token=self.key_a).json()["passwords"], [])
        self.wait_synced()
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            self.client(address, old["password"])

    def test_dkim_rotation_keeps_two_selectors(self):
        domain = f"{self.slug_a}.rotate.example"
        r = self.req("POST", "/v1/mail/domains", {"domain": domain, "organization_name": "R", "organization_type": "clinic",
                                                   "max_mailboxes": 2, "max_storage_mb": 5}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        made = [self.req("POST", f"/v1/mail/domains/{domain}/dkim", {"algorithm": "ed25519"}, token=self.key_a).json() for _ in range(3)]
        listed = self.req("GET", f"/v1/mail/domains/{domain}/dkim", token=self.key_a).json()["keys"]
        self.assertEqual([(k["id"], k["state"]) for k in listed], [(made[2]["id"], "active"), (made[1]["id"], "previous")])
        self.assertTrue(listed[0]["dns"]["value"].startswith("v=DKIM1; k=ed25519; p="))
        self.assertProblem(self.req("POST", f"/v1/mail/domains/{domain}/dkim", {"algorithm": "dsa"}, token=self.key_a), 400, "invalid_request")
        sealed = self.gateway.sql(f"SELECT private_key FROM mail_dkim_keys WHERE id = '{made[0]['id']}'")[0]["private_key"]
        self.assertEqual(sealed, "", "a retired key's private half is erased")

    def test_plan_overrides_reach_the_relay(self):
        made = self.new_password("quota")
        r = self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"limits": {"mail_messages_per_day": 0}}, token=superadmin_token())
        self.assertEqual(r.status, 200, r)
        try:
            self.wait_synced()
            with self.client(self.ann, made["password"]) as client:
                code, text = client.mail(self.ann)
                self.assertEqual((code, text[:5]), (451, b"4.7.1"), text)
        finally:
            self.req("PATCH", f"/v1/admin/tenants/{self.id_a}", {"limits": {"mail_messages_per_day": None}}, token=superadmin_token())


if __name__ == "__main__":
    unittest.main()
