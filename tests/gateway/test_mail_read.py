"""Mail is read, end to end with the real gateway: certificates uploaded through the mail
Worker (checked by the core, signatures by WebCrypto, the key sealed), replicated to the
real relay and served by SNI on SMTP STARTTLS and on Dovecot's IMAPS (seen with
`openssl s_client -servername`); bad uploads refused with the field at fault and nothing
stored; another tenant reaches nothing; app passwords made through the API sign in to
Dovecot."""
import datetime
import imaplib
import pathlib
import re
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from harness import RELAY_SEAL_KEY, TwoTenants, relay_module, superadmin_token


relay_harness = relay_module("harness")
wait_for = relay_harness.wait_for
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key, traditional=False):
    form = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption()).decode()


def certificate(subject, issuer_name, issuer_key, public_key, names=None, ca=False,
                not_before=NOW - DAY, not_after=NOW + 30 * DAY):
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """A root, an intermediate, and leaves for a domain (RSA leaves, EC authorities)."""

    def __init__(self, name):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = certificate(f"{name} Root", f"{name} Root", self.root_key, self.root_key.public_key(), ca=True)
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate = certificate(f"{name} Intermediate", f"{name} Root", self.root_key,
                                        self.intermediate_key.public_key(), ca=True)
        self.chain = pem(self.intermediate) + pem(self.root)

    def leaf(self, names, **kwargs):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = certificate(names[0], f"{self.name_of(self.intermediate)}", self.intermediate_key, key.public_key(),
                           names=names, **kwargs)
        return cert, key

    @staticmethod
    def name_of(cert):
        return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def served_serial(port, server_name, starttls=None):
    """The serial of the certificate a server presents for `server_name`, as openssl sees it."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", server_name]
    if starttls:
        args += ["-starttls", starttls]
    out = subprocess.run(args, input=b"", capture_output=True, timeout=20).stdout.decode(errors="replace")
    block = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert block, out[-2000:]
    return x509.load_pem_x509_certificate(block.group(0).encode()).serial_number


class MailReadTest(TwoTenants):
    PLAN = "professional"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.domain = f"{cls.slug_a}.read.example"
        r = cls.gateway.request("POST", "/v1/mail/domains", {"domain": cls.domain, "organization_name": "Read", "organization_type": "clinic",
                                                              "max_mailboxes": 20, "max_storage_mb": 50}, token=cls.key_a)
        assert r.status == 201, r
        cls.gateway.vouch(cls.domain, cls.id_a)
        cls.ann = f"ann@{cls.domain}"
        r = cls.gateway.request("POST", f"/v1/mail/domains/{cls.domain}/mailboxes", {"address": cls.ann, "kind": "personal", "quota_mb": 20}, token=cls.key_a)
        assert r.status == 201, r
        cls.certs = tempfile.mkdtemp(prefix="mail-read-certs-")
        cls.ca = relay_harness.make_certificates(cls.certs, ["default"])
        cls.default_serial = x509.load_pem_x509_certificate((pathlib.Path(cls.certs) / "default" / "cert.pem").read_bytes()).serial_number
        cls.relay_key = cls.gateway.create_relay_key("mail-read")
        key = cls.relay_key["key"]
        cls.relay = relay_harness.RelayProcess(cls.gateway.url, api_key=key, cert_dir=cls.certs, seal_key=RELAY_SEAL_KEY, dovecot=True)
        cls.dovecot = relay_harness.DovecotProcess(cls.relay, cls.certs)
        cls.relay.start()
        cls.dovecot.start()
        cls.pki = Pki("Sector")

    @classmethod
    def tearDownClass(cls):
        cls.dovecot.stop()
        cls.relay.stop()

    def path(self, domain=None):
        return f"/v1/mail/domains/{domain or self.domain}/certificate"

    def wait_synced(self):
        self.relay.wait_for_version(self.gateway.sql("SELECT MAX(version) AS v FROM directory_versions")[0]["v"])

    def upload(self, cert, key, chain=None, token=None, traditional=False):
        body = {"certificate_pem": cert if isinstance(cert, str) else pem(cert),
                "private_key_pem": key if isinstance(key, str) else key_pem(key, traditional)}
        if chain is not None:
            body["chain_pem"] = chain
        return self.req("PUT", self.path(), body, token=token or self.key_a)

    def test_1_bad_uploads_name_the_field_and_store_nothing(self):
        good, good_key = self.pki.leaf([f"mx.{self.domain}", self.domain])
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        expired, expired_key = self.pki.leaf([f"mx.{self.domain}"], not_before=NOW - 40 * DAY, not_after=NOW - DAY)
        future, future_key = self.pki.leaf([f"mx.{self.domain}"], not_before=NOW + DAY, not_after=NOW + 40 * DAY)
        elsewhere, elsewhere_key = self.pki.leaf(["mx.elsewhere.example", "elsewhere.example"])
        forged = Pki("Sector")  # the same names, other keys: its intermediate did not sign `good`
        cases = [
            ("garbage", self.upload("hello", good_key, self.pki.chain), "certificate_pem", "PEM"),
            ("wrong key", self.upload(good, other_key, self.pki.chain), "private_key_pem", "does not match"),
            ("expired", self.upload(expired, expired_key, self.pki.chain), "certificate_pem", "expired"),
            ("not yet valid", self.upload(future, future_key, self.pki.chain), "certificate_pem", "not valid before"),
            ("not covering", self.upload(elsewhere, elsewhere_key, self.pki.chain), "certificate_pem", self.domain),
            ("no chain", self.upload(good, good_key), "chain_pem", "issued by"),
            ("chain out of order", self.upload(good, good_key, pem(self.pki.root) + pem(self.pki.intermediate)), "chain_pem", "issued by"),
            ("forged chain", self.upload(good, good_key, forged.chain), "chain_pem", "does not verify"),
            ("encrypted key", self.upload(good, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", self.pki.chain),
             "private_key_pem", "encrypted"),
        ]
        for name, response, field, words in cases:
            with self.subTest(name):
                body = self.assertProblem(response, 400, "invalid_request")
                self.assertEqual(body.get("field"), field, body)
                self.assertIn(words, body["detail"])
                self.assertNotIn("PRIVATE KEY", body["detail"])
        self.assertProblem(self.req("GET", self.path(), token=self.key_a), 404, "not_found")
        rows = self.gateway.sql(f"SELECT COUNT(*) AS n FROM mail_certificates WHERE domain = '{self.domain}'")
        self.assertEqual(rows[0]["n"], 0)

    def test_2_another_tenant_reaches_nothing(self):
        cert, key = self.pki.leaf([f"mx.{self.domain}"])
        for method, body in (("PUT", {"certificate_pem": pem(cert), "private_key_pem": key_pem(key), "chain_pem": self.pki.chain}),
                             ("GET", None), ("DELETE", None)):
            self.assertProblem(self.req(method, self.path(), body, token=self.key_b), 404, "not_found")
            self.assertProblem(self.req(method, f"/v1/t/{self.slug_a}/mail/domains/{self.domain}/certificate", body, token=self.key_b),
                               403, "tenant_mismatch")
        rows = self.gateway.sql(f"SELECT COUNT(*) AS n FROM mail_certificates WHERE domain = '{self.domain}'")
        self.assertEqual(rows[0]["n"], 0)

    def test_3_an_upload_is_served_by_sni_on_smtp_and_imap_then_deleted(self):
        cert, key = self.pki.leaf([f"mx.{self.domain}", f"mail.{self.domain}", self.domain])
        # A PKCS#1 key, as `openssl genrsa -traditional` writes it.
        r = self.upload(cert, key, self.pki.chain, traditional=True)
        self.assertEqual(r.status, 201, r)
        shown = r.json()
        self.assertEqual(shown["names"], [self.domain, f"mx.{self.domain}", f"mail.{self.domain}"])
        self.assertEqual(int(shown["serial"].replace(":", ""), 16), cert.serial_number)
        self.assertEqual(shown["not_after"], int(cert.not_valid_after_utc.timestamp()))
        self.assertIn("Sector Intermediate", shown["issuer"])
        got = self.req("GET", self.path(), token=self.key_a)
        self.assertEqual(got.status, 200, got)
        self.assertNotIn(b"PRIVATE", got.body)
        sealed = self.gateway.sql(f"SELECT private_key FROM mail_certificates WHERE domain = '{self.domain}'")[0]["private_key"]
        self.assertTrue(sealed.startswith("v1."), "sealed at rest")
        self.wait_synced()
        for name in (f"mx.{self.domain}", f"mail.{self.domain}"):
            wait_for(lambda: served_serial(self.relay.submission_port, name, "smtp") == cert.serial_number, what=f"SMTP SNI {name}")
            wait_for(lambda: served_serial(self.dovecot.imaps_port, name) == cert.serial_number, what=f"IMAPS SNI {name}")
        self.assertEqual(served_serial(self.relay.submission_port, "mx.unknown.example", "smtp"), self.default_serial)
        expiry = [line for line in self.relay.metrics().splitlines()
                  if line.startswith(f'tenantry_relay_certificate_expiry_seconds{{domain="{self.domain}"}}')]
        self.assertEqual(len(expiry), 1, expiry)
        self.assertAlmostEqual(int(expiry[0].split()[1]), shown["not_after"] - time.time(), delta=120)
        # A replacement answers 200 and is served in its turn.
        second, second_key = self.pki.leaf([f"mx.{self.domain}"])
        r = self.upload(second, second_key, self.pki.chain)
        self.assertEqual(r.status, 200, r)
        self.wait_synced()
        wait_for(lambda: served_serial(self.dovecot.imaps_port, f"mx.{self.domain}") == second.serial_number, what="the replacement on IMAPS")
        self.assertEqual(self.req("DELETE", self.path(), token=self.key_a).status, 204)
        self.assertProblem(self.req("GET", self.path(), token=self.key_a), 404, "not_found")
        self.wait_synced()
        wait_for(lambda: served_serial(self.relay.submission_port, f"mx.{self.domain}", "smtp") == self.default_serial, what="SMTP default again")
        wait_for(lambda: served_serial(self.dovecot.imaps_port, f"mx.{self.domain}") == self.default_serial, what="IMAPS default again")

    def test_4_an_api_app_password_reads_mail_in_dovecot_until_revoked(self):
        # Spelled as browsers and HTTP libraries encode a path segment: `@` as %40.
        encoded = urllib.parse.quote(self.ann, safe="")
        made = self.req("POST", f"/v1/mail/domains/{self.domain}/mailboxes/{encoded}/passwords", {"label": "imap"}, token=self.key_a).json()
        self.wait_synced()
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False

        def login():
            client = imaplib.IMAP4_SSL("127.0.0.1", self.dovecot.imaps_port, ssl_context=context, timeout=20)
            try:
                client.login(self.ann, made["password"])
                return client
            except imaplib.IMAP4.error:
                return None

        client = wait_for(login, what="an IMAP login with the API's app password")
        status, data = client.getquotaroot("INBOX")
        self.assertIn(b"20480", b" ".join(i for part in data for i in part if i))
        client.logout()
        self.assertEqual(self.req("DELETE", f"/v1/mail/domains/{self.domain}/mailboxes/{self.ann}/passwords/{made['id']}", token=self.key_a).status, 204)
        self.wait_synced()
        wait_for(lambda: login() is None, what="the revoked password refused")

    def test_5_the_operator_script_uploads_and_deletes(self):
        script = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "install-domain-cert.sh"
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="install-cert-"))
        cert, key = self.pki.leaf([f"mail.{self.domain}"])
        (workdir / "fullchain.pem").write_text(pem(cert) + self.pki.chain)
        (workdir / "key.pem").write_text(key_pem(key, traditional=True))
        (workdir / "other.pem").write_text(key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        env = {**__import__("os").environ, "TENANTRY_API_URL": self.gateway.url, "TENANTRY_TOKEN": self.key_a}
        run = lambda *args: subprocess.run([str(script), *map(str, args)], capture_output=True, text=True, env=env, timeout=60)
        refused = run(self.domain, workdir / "fullchain.pem", workdir / "other.pem")
        self.assertEqual(refused.returncode, 1, refused)
        self.assertIn("does not match", refused.stderr)
        uploaded = run(self.domain, workdir / "fullchain.pem", workdir / "key.pem")
        self.assertEqual(uploaded.returncode, 0, uploaded)
        self.assertIn(f"mail.{self.domain}", uploaded.stdout)
        shown = self.req("GET", self.path(), token=self.key_a).json()
        self.assertEqual(int(shown["serial"].replace(":", ""), 16), cert.serial_number)
        removed = run("--delete", self.domain)
        self.assertEqual(removed.returncode, 0, removed)
        self.assertProblem(self.req("GET", self.path(), token=self.key_a), 404, "not_found")
        env.pop("TENANTRY_TOKEN")
        self.assertEqual(run(self.domain, workdir / "fullchain.pem", workdir / "key.pem").returncode, 2)

    def test_6_a_mailbox_is_named_in_a_path_with_or_without_percent_encoding(self):
        bob = f"bob@{self.domain}"
        r = self.req("POST", f"/v1/mail/domains/{self.domain}/mailboxes", {"address": bob, "kind": "personal", "quota_mb": 5}, token=self.key_a)
        self.assertEqual(r.status, 201, r)
        for spelled in (bob, bob.replace("@", "%40"), bob.replace("@", "%40").replace(".", "%2E")):
            r = self.req("GET", f"/v1/mail/domains/{self.domain}/mailboxes/{spelled}/passwords", token=self.key_a)
            self.assertEqual(r.status, 200, (spelled, r))
        # Decoded once, not twice: %2540 is the text "%40", which is no address.
        r = self.req("GET", f"/v1/mail/domains/{self.domain}/mailboxes/{bob.replace('@', '%2540')}/passwords", token=self.key_a)
        self.assertProblem(r, 400, "invalid_request")
        # Another tenant's key, spelled either way, reaches nothing.
        self.assertProblem(self.req("DELETE", f"/v1/mail/domains/{self.domain}/mailboxes/{bob.replace('@', '%40')}", token=self.key_b), 404, "not_found")
        self.assertEqual(self.req("DELETE", f"/v1/mail/domains/{self.domain}/mailboxes/{bob.replace('@', '%40')}", token=self.key_a).status, 204)
        listed = self.req("GET", f"/v1/mail/domains/{self.domain}/mailboxes", token=self.key_a).json()
        self.assertNotIn(bob, [m["address"] for m in listed["mailboxes"]])

    def test_7_the_relay_reports_its_health_to_the_operator(self):
        cert, key = self.pki.leaf([f"mail.{self.domain}"])
        self.assertIn(self.upload(cert, key, chain=self.pki.chain).status, (200, 201))

        def reported():
            relays = self.req("GET", "/v1/admin/relays", token=superadmin_token()).json()["relays"]
            mine = [r for r in relays if r["id"] == self.relay_key["id"]]
            served = mine and [c["domain"] for c in mine[0]["certificates"]]
            return mine[0] if served and self.domain in served else None

        shown = wait_for(reported, what="the relay's health report")
        self.assertEqual(shown["name"], "mail-read")
        self.assertTrue(shown["hostname"])
        self.assertIsInstance(shown["queue_depth"], int)
        self.assertGreater(shown["synced_at"], 0)
        self.assertGreater(shown["directory_version"], 0)
        served = {c["domain"]: c["not_after"] for c in shown["certificates"]}
        self.assertTrue(served, shown)
        self.assertEqual(sorted(served.values()), [c["not_after"] for c in shown["certificates"]], "soonest first")
        # Only superadmins read it; only relay keys write it, and a bad report names its field.
        self.assertProblem(self.req("GET", "/v1/admin/relays", token=self.key_a), 403, "forbidden")
        report = {"hostname": "mx.other.example", "synced_at": None, "directory_version": 1, "queue_depth": 0,
                  "oldest_queued_at": None, "certificates": []}
        self.assertProblem(self.req("POST", "/v1/relay/health", report, token=self.key_a), 403, "forbidden")
        bad = self.assertProblem(self.req("POST", "/v1/relay/health", {**report, "hostname": "not a host"}, token=self.relay_key["key"]), 400, "invalid_request")
        self.assertEqual(bad["field"], "hostname")
        rows = self.gateway.sql(f"SELECT COUNT(*) AS n FROM relay_health WHERE relay_key_id = '{self.relay_key['id']}'")[0]["n"]
        self.assertEqual(rows, 1, "a refused report writes nothing")


if __name__ == "__main__":
    unittest.main()
