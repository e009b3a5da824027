"""`scripts/dev.sh` as a newcomer runs it: on ports and a state directory of its own, with
the demo's outbound mail for one domain handed to a scripted MX (`OUTBOUND_TRANSPORT`). It
comes up without warnings, the platform's own mail leaves signed and the demo's domains
sign with RSA, both verifiable against the demo's DNS server."""
import json
import os
import pathlib
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

import dkim
import dns.resolver

from harness import ROOT, free_port, relay_module

remote_mx = relay_module("remote_mx")
wait_for = relay_module("harness").wait_for
OUTSIDE = "newcomer.example"
PASSWORD = "newcomer-demo-password"


class DevScriptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Reachable by the relay's own user when the script runs as root.
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="tenantry-dev-"))
        cls.work.chmod(0o755)
        cls.mx = remote_mx.RemoteMx()
        cls.ports = {name: free_port() for name in ("GATEWAY_PORT", "CRM_PORT", "SMTP_PORT", "ADMIN_PORT", "SUBMISSION_PORT",
                                                     "SUBMISSIONS_PORT", "IMAP_PORT", "IMAPS_PORT", "DNS_PORT",
                                                     "RSPAMD_PORT", "RSPAMD_CONTROLLER_PORT", "RSPAMD_PROXY_PORT")}
        cls.state = cls.work / "dev"
        env = {**os.environ, **{k: str(v) for k, v in cls.ports.items()}, "TENANTRY_DEV_STATE": str(cls.state),
               "TENANTRY_DEV_VARS": str(cls.work / "dev.vars"), "DEMO_PASSWORD": PASSWORD,
               "OUTBOUND_TRANSPORT": f"{OUTSIDE}=127.0.0.1:{cls.mx.port}"}
        cls.output = cls.work / "dev.log"
        with open(cls.output, "wb") as out:
            cls.process = subprocess.Popen([str(ROOT / "scripts" / "dev.sh")], cwd=ROOT, env=env, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 1500
        while b"Tenantry is running" not in cls.output.read_bytes():
            if cls.process.poll() is not None or time.time() > deadline:
                cls.stop()
                raise RuntimeError(f"dev.sh did not come up:\n{cls.output.read_text()[-4000:]}")
            time.sleep(1)
        cls.demo = json.loads((cls.state / "demo.json").read_text())

    @classmethod
    def tearDownClass(cls):
        cls.stop()
        cls.mx.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def stop(cls):
        if cls.process.poll() is None:
            os.killpg(cls.process.pid, signal.SIGINT)
            try:
                cls.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(cls.process.pid, signal.SIGKILL)
                cls.process.wait(10)

    def relay_log(self):
        return (self.state / "relay.log").read_text()

    def api(self, method, path, body, key):
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}{path}", method=method,
                                         data=json.dumps(body).encode(),
                                         headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    def demo_dns(self, name, timeout=5):
        """TXT records as the demo's DNS server publishes them (dkimpy's dnsfunc)."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], self.ports["DNS_PORT"]
        answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
        return b"".join(b"".join(record.strings) for record in answer)

    def received(self, recipient):
        def find():
            with self.mx.lock:
                return next((data for _, rcpts, data in self.mx.messages if recipient in rcpts), None)
        return wait_for(find, timeout=60, what=f"mail to {recipient} at the scripted MX")

    def signatures(self, message):
        headers = message.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ")
        return [line for line in headers.split(b"\r\n") if line.lower().startswith(b"dkim-signature:")]

    def test_1_the_relay_starts_without_warnings(self):
        log = self.relay_log()
        self.assertIn("tenantry-relay ready", log)
        self.assertNotIn("reload_command failed", log, "Dovecot runs before the relay asks it to reload")
        self.assertNotIn("platform_dkim is not set", log)
        self.assertNotIn(" WARN ", log)

    def test_2_the_platform_s_mail_leaves_signed(self):
        invitee = f"invitee@{OUTSIDE}"
        self.assertEqual(self.api("POST", "/v1/invitations", {"email": invitee, "role": "employee"},
                                  self.demo["tenants"]["paris"]["owner_api_key"]), 201)
        message = self.received(invitee)
        signatures = self.signatures(message)
        self.assertEqual(len(signatures), 1, message[:2000])
        self.assertIn(b"d=tenantry.localhost", signatures[0])
        self.assertIn(b"s=platform", signatures[0])
        self.assertIn(b"a=rsa-sha256", signatures[0])
        self.assertTrue(dkim.verify(message, dnsfunc=self.demo_dns), "the signature verifies with the published key")

    def test_3_the_demo_domain_signs_with_rsa(self):
        paris = self.demo["tenants"]["paris"]
        sender, password = paris["app_password"]["mailbox"], paris["app_password"]["password"]
        recipient = f"patient@{OUTSIDE}"
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", self.ports["SUBMISSION_PORT"], timeout=30) as client:
            client.starttls(context=context)
            client.login(sender, password)
            client.sendmail(sender, [recipient], f"From: {sender}\r\nTo: {recipient}\r\nSubject: RSA\r\n\r\nBonjour.\r\n")
        message = self.received(recipient)
        signatures = self.signatures(message)
        self.assertEqual(len(signatures), 1, message[:2000])
        self.assertIn(b"d=hopital-paris.example", signatures[0])
        self.assertIn(b"a=rsa-sha256", signatures[0])
        self.assertTrue(dkim.verify(message, dnsfunc=self.demo_dns))
        self.assertEqual([k["value"].split(";")[1].strip() for k in paris["dkim_keys"]], ["k=ed25519", "k=rsa"],
                         "an Ed25519 key is published beside the signing RSA key")

    def test_4_mail_from_outside_is_authenticated_and_scored_by_rspamd(self):
        recipient = "accueil@hopital-paris.example"
        gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
        with smtplib.SMTP("127.0.0.1", self.ports["SMTP_PORT"], timeout=30) as client:
            client.ehlo("mail.sender.example")
            client.sendmail("ann@sender.example", [recipient], "From: ann@sender.example\r\nSubject: hello from outside\r\n\r\nBonjour.\r\n")
            with self.assertRaises(smtplib.SMTPDataError) as refused:
                client.sendmail("ann@sender.example", [recipient], f"From: ann@sender.example\r\nSubject: gtube\r\n\r\n{gtube}\r\n")
        self.assertEqual(refused.exception.smtp_code, 550)
        new = self.state / "mail" / "hopital-paris.example" / "accueil" / "new"
        stored = next(p.read_bytes() for p in new.iterdir() if b"hello from outside" in p.read_bytes())
        header = stored.split(b"\r\n\r\n", 1)[0]
        self.assertIn(b"Authentication-Results: mx.tenantry.localhost;", header)
        self.assertIn(b"X-Spam-Score: ", header, "Rspamd scored the message")


if __name__ == "__main__":
    unittest.main()
