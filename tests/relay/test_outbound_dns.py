"""Remote delivery found through DNS: dnsmasq on a loopback port serves the MX, A and TXT
records of tests/relay/dns/zones.conf, the relay's hickory resolver asks it, and Debian
Postfix's smtp-sink receives as the remote MX. dkimpy verifies the platform's signature
with the TXT record looked up in the same DNS server."""
import base64
import pathlib
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import API_KEY, RelayProcess, free_port, make_certificates, wait_for
from standin_gateway import StandinGateway

ZONES = pathlib.Path(__file__).resolve().parent / "dns" / "zones.conf"
PARIS = "hopital-paris.example"
PROOF = "tenantry-verification=" + "ab" * 16
ANN, PW_ANN = f"ann@{PARIS}", "abcd-efgh-ijkm-npqr-stuv-wxyz"


@unittest.skipUnless(shutil.which("dnsmasq") and shutil.which("smtp-sink"),
                     "needs dnsmasq and Postfix's smtp-sink (scripts/setup.sh installs them)")
class DnsDeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="relay-dns-"))
        key = generate_private_key(public_exponent=65537, key_size=2048)
        cls.key_file = cls.work / "platform-dkim.pem"
        cls.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        zones = cls.work / "zones.conf"
        zones.write_text(ZONES.read_text() +
                         f'txt-record=platform._domainkey.tenantry.example,"v=DKIM1; k=rsa; p={base64.b64encode(spki).decode()}"\n'
                         f'txt-record=_tenantry-challenge.proven.example,"{PROOF}"\n'
                         'txt-record=_tenantry-challenge.proven.example,"v=other; unrelated"\n')
        cls.dns_port = free_port()
        cls.dns = subprocess.Popen(["dnsmasq", "--keep-in-foreground", f"--conf-file={zones}", f"--port={cls.dns_port}",
                                    "--pid-file=", "--log-facility=-"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.work.chmod(0o755)  # smtp-sink writes as `nobody`
        cls.dump = cls.work / "sink"
        cls.dump.mkdir()
        cls.dump.chmod(0o777)
        cls.sink_port = free_port()
        # -u: smtp-sink drops root for this user; -d: one file per transaction.
        cls.sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "-d", f"{cls.dump}/%H%M%S.", f"127.0.0.1:{cls.sink_port}", "64"])
        cls.gateway = StandinGateway(API_KEY)
        cls.gateway.put_domain("t_paris", PARIS)
        cls.gateway.put_mailbox("t_paris", ANN)
        cls.gateway.put_credential("t_paris", "ap_ann", ANN, PW_ANN)
        cls.certs = cls.work / "certs"
        cls.ca = make_certificates(cls.certs, ["default"])
        cls.relay = RelayProcess(cls.gateway.url, workdir=cls.work / "relay", cert_dir=cls.certs, proof_interval_secs=1, outbound={
            "dns_servers": [f"127.0.0.1:{cls.dns_port}"], "mx_port": cls.sink_port,
            "retry": {"first_retry_secs": 1, "max_retry_secs": 1, "give_up_after_secs": 3600},
            "platform_dkim": {"domain": "tenantry.example", "selector": "platform", "private_key_file": str(cls.key_file)},
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.gateway.stop()
        for process in (cls.sink, cls.dns):
            process.terminate()
            process.wait(5)

    def sent(self, rcpt):
        """What smtp-sink received for `rcpt`: the dumped transactions."""
        return [p.read_bytes() for p in self.dump.iterdir() if f"X-Rcpt-Args: <{rcpt}>".encode() in p.read_bytes()]

    def submit(self, rcpts, subject):
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20) as client:
            client.starttls(context=context)
            client.login(ANN, PW_ANN)
            client.sendmail(ANN, rcpts, f"From: {ANN}\r\nSubject: {subject}\r\n\r\nBonjour.\r\n".encode())

    def test_a_relay_with_a_platform_key_does_not_warn_of_unsigned_mail(self):
        self.assertNotIn("outbound.platform_dkim is not set", self.relay.log())

    def test_mx_by_preference_then_the_next_host(self):
        self.submit(["dr.lee@mx.example"], "via mx")
        dump = wait_for(lambda: self.sent("dr.lee@mx.example"), what="delivery to the second MX")[0]
        self.assertIn(b"Subject: via mx", dump)
        self.assertIn(b"X-Mail-Args: <" + ANN.encode() + b">", dump)

    def test_a_domain_without_mx_gets_mail_at_its_address(self):
        self.submit(["x@no-mx.example"], "implicit mx")
        wait_for(lambda: self.sent("x@no-mx.example"), what="delivery to the implicit MX")

    def test_null_mx_and_unknown_domains_bounce(self):
        self.submit(["x@null-mx.example", "y@nowhere.example"], "undeliverable")
        dsn = wait_for(lambda: [m for m in self.relay.messages(ANN) if b"Subject: undeliverable" in m], what="a bounce")[0]
        self.assertIn(b"Final-Recipient: rfc822; x@null-mx.example\r\nAction: failed\r\nStatus: 5.1.10", dsn)
        self.assertIn(b"Final-Recipient: rfc822; y@nowhere.example\r\nAction: failed\r\nStatus: 5.1.2", dsn)

    def test_challenge_records_are_looked_up_and_reported_as_dns_has_them(self):
        """The relay looks up the names the gateway says are due with its own resolver and
        reports every TXT value there, or that there is none; the gateway's core decides."""
        checks = [{"domain": d, "name": f"_tenantry-challenge.{d}"} for d in ("proven.example", "absent.example")]
        with self.gateway.lock:
            self.gateway.proof_checks[:] = checks
        seen = wait_for(lambda: {r["domain"]: r for r in self.gateway.proof_results} if
                        len({r["domain"] for r in self.gateway.proof_results}) == 2 else None,
                        what="both lookups reported")
        with self.gateway.lock:
            self.gateway.proof_checks.clear()
        self.assertEqual(seen["proven.example"]["outcome"], "records")
        self.assertEqual(sorted(seen["proven.example"]["values"]), sorted([PROOF, "v=other; unrelated"]))
        self.assertEqual((seen["absent.example"]["outcome"], seen["absent.example"]["values"]), ("none", []))

    def test_platform_mail_is_signed_and_verifies_against_dns(self):
        import dkim
        import dns.resolver
        with self.gateway.lock:
            self.gateway.outbox.append({"id": "obx_dns", "recipient": "new@mx.example",
                                        "message": "From: <no-reply@tenantry.example>\r\nTo: <new@mx.example>\r\n"
                                                   "Subject: Welcome\r\nDate: Tue, 24 Nov 2026 05:00:00 +0000\r\n\r\nHello.\r\n"})
        dump = wait_for(lambda: self.sent("new@mx.example"), what="the platform notice")[0]
        message = dump[dump.index(b"Received:"):]
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], self.dns_port

        def lookup(name, timeout=5):
            answer = resolver.resolve(name.decode(), "TXT")
            return b"".join(b"".join(r.strings) for r in answer)

        self.assertTrue(dkim.verify(message, dnsfunc=lookup), message[:800])


if __name__ == "__main__":
    unittest.main()
