"""Domains proven, end to end, against the real components: the gateway under wrangler dev,
the real relay (which looks challenge records up with its DNS client), dnsmasq serving the
zone of tests/dns/proofs.conf with the records each test publishes, and a remote MX.

Each hole the issue "Domains proven" names has its test here: the platform's names cannot
be claimed (the five-request superadmin takeover stops at its first request), a pending
domain receives nothing and another tenant's mail to it leaves for the real MX, a contest is
won by proof, a lapsed domain defers and comes back, a superadmin's vouch is audited."""
import pathlib
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import RELAY_SEAL_KEY, TwoTenants, relay_module, superadmin_token

ZONE = pathlib.Path(__file__).resolve().parents[1] / "dns" / "proofs.conf"


relay_harness, remote_mx = relay_module("harness"), relay_module("remote_mx")
wait_for = relay_harness.wait_for


class Dns:
    """dnsmasq on a loopback port: the zone file plus the records published so far."""

    def __init__(self, work):
        self.work, self.port, self.process = work, relay_harness.free_port(), None
        self.records = {}

    def publish(self, name, value):
        self.records[name] = value
        self.reload()

    def withdraw(self, name):
        self.records.pop(name, None)
        self.reload()

    def mx(self, domain):
        self.records[f"mx:{domain}"] = None
        self.reload()

    def reload(self):
        lines = [ZONE.read_text()]
        for name, value in self.records.items():
            if name.startswith("mx:"):
                lines.append(f"mx-host={name[3:]},mx.partner-mail.example,10\n")
            else:
                lines.append(f'txt-record={name},"{value}"\n')
        conf = self.work / "zone.conf"
        conf.write_text("".join(lines))
        self.stop()
        self.process = subprocess.Popen(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", f"--port={self.port}",
                                         "--pid-file=", "--log-facility=-"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(5)
            self.process = None


@unittest.skipUnless(shutil.which("dnsmasq"), "needs dnsmasq (scripts/setup.sh installs it)")
class DomainProofTest(TwoTenants):
    PLAN = "professional"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="domain-proof-"))
        cls.dns = Dns(cls.work)
        cls.dns.reload()
        cls.remote = remote_mx.RemoteMx()
        cls.certs = cls.work / "certs"
        cls.ca = relay_harness.make_certificates(cls.certs, ["default"])
        # A's own, vouched-for domain, from which A's people send.
        cls.home = f"{cls.slug_a}.home.example"
        cls.domain(cls.key_a, cls.home)
        cls.gateway.vouch(cls.home, cls.id_a)
        cls.ann = f"ann@{cls.home}"
        cls.mailbox(cls.key_a, cls.home, cls.ann)
        r = cls.gateway.request("POST", f"/v1/mail/domains/{cls.home}/mailboxes/{cls.ann}/passwords", {"label": "proof"}, token=cls.key_a)
        assert r.status == 201, r
        cls.ann_password = r.json()["password"]
        # The MX of every tenant, which also carries the platform's own mail.
        key = cls.gateway.create_relay_key("proofs")["key"]
        cls.relay = relay_harness.RelayProcess(
            cls.gateway.url, api_key=key, cert_dir=cls.certs, seal_key=RELAY_SEAL_KEY, proof_interval_secs=1,
            outbound={"dns_servers": [f"127.0.0.1:{cls.dns.port}"], "mx_port": cls.remote.port,
                      "retry": {"first_retry_secs": 1, "max_retry_secs": 1, "give_up_after_secs": 3600}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.remote.stop()
        cls.dns.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def domain(cls, key, domain, expect=201):
        r = cls.gateway.request("POST", "/v1/mail/domains", {"domain": domain, "organization_name": "Proof", "organization_type": "clinic",
                                                              "max_mailboxes": 10, "max_storage_mb": 50}, token=key)
        assert r.status == expect, r
        return r.json()

    @classmethod
    def mailbox(cls, key, domain, address):
        r = cls.gateway.request("POST", f"/v1/mail/domains/{domain}/mailboxes", {"address": address, "kind": "personal"}, token=key)
        assert r.status == 201, r

    def status_of(self, key, domain):
        listed = self.req("GET", "/v1/mail/domains", token=key).json()["domains"]
        return next((d for d in listed if d["domain"] == domain), None)

    def wait_synced(self):
        self.relay.wait_for_version(self.gateway.sql("SELECT MAX(version) AS v FROM directory_versions")[0]["v"])

    def rcpt(self, address):
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=20) as client:
            client.ehlo("sender.example")
            client.mail("someone@sender.example")
            code, text = client.rcpt(address)
            return code, text[:5]

    def submit(self, rcpt, subject):
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20) as client:
            client.starttls(context=context)
            client.login(self.ann, self.ann_password)
            client.sendmail(self.ann, [rcpt], f"From: {self.ann}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nBonjour.\r\n".encode())

    def audit_actions(self, key, domain):
        entries = self.req("GET", f"/v1/audit?resource=mail&limit=200", token=key).json()["entries"]
        return [e["action"] for e in entries if e.get("resource_id") == domain]

    def test_the_platform_s_names_are_refused_naming_the_field(self):
        """The five-request takeover (claim the platform's mail domain, make its operator's
        mailbox, ask for a reset, read it, sign in) stops at its first request."""
        for name in ("tenantry.test", "Mail.TENANTRY.test", "app.example", "paris.app.example", "relay2.ops-tenantry.test",
                     "mx.relay2.ops-tenantry.test", "reserved-provider.example", "eu.reserved-provider.example"):
            for token in (self.key_a, superadmin_token()):
                with self.subTest(name=name, superadmin=token != self.key_a):
                    headers = {"X-Tenant-ID": self.id_a} if token != self.key_a else None
                    r = self.req("POST", "/v1/mail/domains", {"domain": name, "organization_name": "Squat", "organization_type": "clinic",
                                                              "max_mailboxes": 1, "max_storage_mb": 1}, token=token, headers=headers)
                    body = self.assertProblem(r, 400, "invalid_request")
                    self.assertEqual(body["field"], "domain")
                    self.assertIn("no tenant may claim it", body["detail"])
        self.assertEqual(self.gateway.sql("SELECT COUNT(*) AS n FROM mail_domains WHERE domain LIKE '%tenantry.test' "
                                          "OR domain LIKE '%app.example' OR domain LIKE '%reserved-provider.example'")[0]["n"], 0)
        # The same rule for custom web hostnames.
        for name in ("tenantry.test", "relay2.ops-tenantry.test", "portal.reserved-provider.example"):
            r = self.req("POST", f"/v1/admin/tenants/{self.id_a}/hostnames", {"hostname": name}, token=superadmin_token())
            self.assertEqual(self.assertProblem(r, 400, "invalid_request")["field"], "hostname")
        # The platform's own mail (an operator's reset) never lands in a tenant's Maildir.
        now = int(time.time())
        self.gateway.sql(f"INSERT INTO users (id, email, platform_role, email_verified, created_at) "
                         f"VALUES ('u_{now:024x}', 'operator-{now}@tenantry.test', 'superadmin', 1, {now})")
        self.assertEqual(self.req("POST", "/v1/auth/forgot-password", {"email": f"operator-{now}@tenantry.test"}).status, 202)
        wait_for(lambda: self.gateway.sql(f"SELECT 1 AS x FROM outbound_messages WHERE recipient = 'operator-{now}@tenantry.test' "
                                          "AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)"), what="the reset handed to the relay")
        self.assertFalse((self.relay.mail_root / "tenantry.test").exists(), "the platform's mail reached a Maildir")

    def test_a_pending_domain_receives_nothing_and_others_mail_to_it_leaves_for_its_mx(self):
        partner = f"{self.slug_b}.partner.example"
        claim = self.domain(self.key_b, partner)
        self.assertEqual(claim["status"], "pending")
        self.assertEqual(claim["verification"]["name"], f"_tenantry-challenge.{partner}")
        self.assertTrue(claim["verification"]["value"].startswith("tenantry-verification="))
        self.assertEqual(claim["verification"]["record"],
                         f'_tenantry-challenge.{partner}. 3600 IN TXT "{claim["verification"]["value"]}"')
        # Mailboxes, app passwords and keys may be prepared while pending.
        squat = f"dr.lee@{partner}"
        self.mailbox(self.key_b, partner, squat)
        made = self.req("POST", f"/v1/mail/domains/{partner}/mailboxes/{squat}/passwords", {"label": "x"}, token=self.key_b)
        self.assertEqual(made.status, 201, made)
        self.assertEqual(self.req("POST", f"/v1/mail/domains/{partner}/dkim", {"algorithm": "ed25519"}, token=self.key_b).status, 201)
        self.dns.mx(partner)
        self.wait_synced()
        # No MX acceptance, no sign-in.
        self.assertEqual(self.rcpt(squat), (550, b"5.7.1"))
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20) as client:
            client.starttls(context=context)
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                client.login(squat, made.json()["password"])
        # Another tenant's mail to it goes out to the domain's real MX, not to the squatter.
        self.submit(squat, "to the partner")
        got = wait_for(lambda: self.remote.received_by(squat), what="the partner's MX receiving")
        self.assertIn(b"Subject: to the partner", got[0][2])
        self.assertEqual(self.relay.messages(squat), [])
        self.assertFalse((self.relay.mail_root / partner).exists())
        # Nothing of it is in the relay's replica.
        directory = self.req("GET", "/v1/relay/directory?since=0", token=self.gateway.create_relay_key("peek")["key"]).json()
        self.assertNotIn(partner, [d["domain"] for d in directory["domains"]])
        self.assertNotIn(squat, [m["address"] for m in directory["mailboxes"]])

    def test_a_contest_is_won_by_proof_and_the_other_claim_is_released_and_told(self):
        contested = f"{self.slug_a}.contest.example"
        a_claim = self.domain(self.key_a, contested)
        b_claim = self.domain(self.key_b, contested)
        self.assertNotEqual(a_claim["verification"]["value"], b_claim["verification"]["value"])
        self.mailbox(self.key_a, contested, f"accueil@{contested}")
        self.mailbox(self.key_b, contested, f"accueil@{contested}")  # the same address: no leak, no block
        # B controls the zone and publishes B's record (A's squatting token is not there).
        self.dns.publish(b_claim["verification"]["name"], b_claim["verification"]["value"])
        self.assertEqual(self.req("POST", f"/v1/mail/domains/{contested}/verify", token=self.key_b).status, 202)
        wait_for(lambda: (self.status_of(self.key_b, contested) or {}).get("status") == "active", what="B's proof")
        won = self.status_of(self.key_b, contested)
        self.assertEqual(won["proof"]["method"], "dns")
        self.assertIsNotNone(won["proof"]["proven_at"])
        self.assertIsNone(self.status_of(self.key_a, contested), "A's claim is released")
        self.assertProblem(self.req("GET", f"/v1/mail/domains/{contested}/mailboxes", token=self.key_a), 404, "not_found")
        self.assertIn("mail_domain.released", self.audit_actions(self.key_a, contested))
        self.assertIn("mail_domain.proven", self.audit_actions(self.key_b, contested))
        told = self.gateway.sql(f"SELECT template FROM outbound_messages WHERE tenant_id = '{self.id_a}' AND template = 'domain_released'")
        self.assertTrue(told, "A's owner is told by mail")
        # A proven domain cannot be taken by a later claim.
        r = self.req("POST", "/v1/mail/domains", {"domain": contested, "organization_name": "Again", "organization_type": "clinic",
                                                  "max_mailboxes": 1, "max_storage_mb": 1}, token=self.key_a)
        self.assertProblem(r, 409, "conflict")
        # B's mailbox receives now.
        self.wait_synced()
        self.assertEqual(self.rcpt(f"accueil@{contested}"), (250, b"2.1.5"))

    def test_a_lapsed_domain_defers_its_mail_and_comes_back_with_its_record(self):
        lapsing = f"{self.slug_a}.lapse.example"
        claim = self.domain(self.key_a, lapsing)
        self.mailbox(self.key_a, lapsing, f"kept@{lapsing}")
        self.dns.publish(claim["verification"]["name"], claim["verification"]["value"])
        wait_for(lambda: (self.status_of(self.key_a, lapsing) or {}).get("status") == "active", what="the proof")
        self.wait_synced()
        self.assertEqual(self.rcpt(f"kept@{lapsing}"), (250, b"2.1.5"))
        self.dns.withdraw(claim["verification"]["name"])
        warned = wait_for(lambda: (self.status_of(self.key_a, lapsing) or {}).get("proof", {}).get("missing_since") and
                          self.status_of(self.key_a, lapsing), what="the missing record noticed")
        self.assertEqual(warned["proof"]["lapses_at"], warned["proof"]["missing_since"] + 4)
        self.assertIn("mail_domain.proof_missing", self.audit_actions(self.key_a, lapsing))
        wait_for(lambda: self.status_of(self.key_a, lapsing)["status"] == "lapsed", what="the lapse after the grace period")
        self.assertIn("mail_domain.lapsed", self.audit_actions(self.key_a, lapsing))
        self.wait_synced()
        self.assertEqual(self.rcpt(f"kept@{lapsing}"), (451, b"4.7.0"), "deferred, never refused or delivered elsewhere")
        self.dns.publish(claim["verification"]["name"], claim["verification"]["value"])
        wait_for(lambda: self.status_of(self.key_a, lapsing)["status"] == "active", what="the record back")
        self.wait_synced()
        self.assertEqual(self.rcpt(f"kept@{lapsing}"), (250, b"2.1.5"))

    def test_a_superadmin_vouches_without_dns_in_the_platform_audit(self):
        vouched = f"{self.slug_b}.vouched.example"
        r = self.req("POST", "/v1/mail/domains", {"domain": vouched, "organization_name": "Etab", "organization_type": "hospital",
                                                  "max_mailboxes": 1, "max_storage_mb": 1}, token=superadmin_token(),
                     headers={"X-Tenant-ID": self.id_b})
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json()["status"], r.json()["proof"]["method"]), ("active", "vouched"))
        pending = f"{self.slug_b}.later.example"
        self.domain(self.key_b, pending)
        # Only the platform vouches: a tenant cannot activate its own claim.
        self.assertProblem(self.req("PATCH", f"/v1/mail/domains/{pending}", {"status": "active"}, token=self.key_b), 403, "forbidden")
        self.assertProblem(self.req("PATCH", f"/v1/mail/domains/{pending}", {"status": "suspended"}, token=superadmin_token(),
                                    headers={"X-Tenant-ID": self.id_b}), 409, "conflict")
        self.assertEqual(self.gateway.vouch(pending, self.id_b)["proof"]["method"], "vouched")
        audited = self.gateway.sql("SELECT resource_id FROM platform_audit WHERE action = 'mail_domain.vouch' "
                                   f"AND resource_id IN ('{vouched}', '{pending}')")
        self.assertEqual(sorted(a["resource_id"] for a in audited), sorted([vouched, pending]))
        # Another tenant's credentials get nothing of the new route.
        self.assertProblem(self.req("POST", f"/v1/mail/domains/{pending}/verify", token=self.key_a), 404, "not_found")


if __name__ == "__main__":
    unittest.main()
